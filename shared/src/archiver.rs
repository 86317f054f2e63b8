//! Writes one thesis into the archive bucket: every file under its stable key, then the manifest.
//!
//! Idempotent and crash-safe by construction. The bucket is versioned, so a second write of a file
//! would be a second version: a file already stored counts only when the checksum S3 itself reports
//! for it (`ChecksumSHA256`) is that of the expected bytes — the source's SHA-256, or, where the
//! source gives none, the SHA-256 of the bytes just streamed, compared before the write is
//! completed. The manifest is written last and only if absent, so a thesis with a manifest is
//! complete and a thesis without one is completed — never duplicated — by the next attempt.
//! Every file's SHA-256 is computed while it streams from the exam system and compared with the
//! source's; each request carries the SHA-256 of its bytes, which S3 verifies on receipt; and the
//! checksum S3 reports for the stored version (the SHA-256, or for an object written in parts the
//! SHA-256 of the parts' SHA-256s and the part count) must be the one computed from the stream.
//! Large files go up in parts. Encryption (KMS), Object Lock retention and the access
//! classification (an object tag) travel with every object.

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ObjectLockMode, ServerSideEncryption, Tag, Tagging,
};
use base64::Engine;

use crate::archive::{Access, Manifest, ManifestFile, ThesisKey, MANIFEST_SCHEMA};
use crate::error::{aws_error, Error, Result};
use crate::institution::ExamSystem;

mod checksums;
mod upload;

use checksums::{same_checksum, Checksums};
use upload::Upload;

/// The size of an upload part (S3's minimum is 5 MiB, except the last); a file of at least one
/// part goes up in parts, a smaller one in a single request.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// One file of a thesis as the exam system lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// The file name.
    pub name: String,
    /// Its content type.
    pub content_type: String,
    /// Its size, if the source says.
    pub size: Option<u64>,
    /// Lowercase hex SHA-256, if the source says.
    pub sha256: Option<String>,
    /// Where to download it.
    pub url: Option<String>,
    /// Whether the exam system has it in quarantine (e.g. a virus scan hit).
    pub quarantined: bool,
}

/// A thesis ready to be archived: where, what, and who may read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThesisToArchive {
    /// Where it goes.
    pub key: ThesisKey,
    /// Where it comes from.
    pub exam_system: ExamSystem,
    /// The exam system's ids, for the manifest.
    pub source_ids: Vec<(String, String)>,
    /// The title.
    pub title: String,
    /// The language, if given.
    pub language: Option<String>,
    /// When the grade was announced (RFC 3339).
    pub graded_at: String,
    /// The access classification (see [`Access::from_source`]).
    pub access: Access,
    /// Why access was read strictly, if it was.
    pub access_note: Option<String>,
    /// The files.
    pub files: Vec<SourceFile>,
}

/// What archiving a thesis did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Archived {
    /// Archived now (files written or found, manifest written).
    Completed(Box<Manifest>),
    /// It had a manifest already: nothing written.
    AlreadyComplete,
}

/// How long archived objects are locked: set on every object Flyt writes, so retention never
/// depends on a bucket default being applied (the bucket has the same default as a second line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    /// COMPLIANCE (nobody can shorten it) or GOVERNANCE.
    pub mode: ObjectLockMode,
    /// Years from the write.
    pub years: u32,
}

impl Retention {
    /// The retain-until time of an object written now.
    fn until(&self) -> DateTime {
        let days = i64::from(self.years) * 366;
        DateTime::from_secs(crate::time::now_ms() / 1000 + days * 86_400)
    }
}

/// Writes theses into one bucket.
#[derive(Clone, Debug)]
pub struct Archiver {
    s3: aws_sdk_s3::Client,
    http: reqwest::Client,
    bucket: String,
    retention: Retention,
}

impl Archiver {
    /// An archiver for `bucket`, downloading with `http`, locking every object for `retention`.
    pub fn new(
        s3: aws_sdk_s3::Client,
        http: reqwest::Client,
        bucket: impl Into<String>,
        retention: Retention,
    ) -> Self {
        Archiver {
            s3,
            http,
            bucket: bucket.into(),
            retention,
        }
    }

    /// Archives a thesis: every file, then the manifest. A file counts as stored already only when
    /// S3's own checksum of the stored object confirms the expected bytes (the source's SHA-256,
    /// or where the source gives none, the bytes just streamed); otherwise it is written (again).
    /// A quarantined, missing or mismatching file fails this thesis (Mapping, naming the file)
    /// and writes no manifest.
    pub async fn archive(&self, thesis: &ThesisToArchive) -> Result<Archived> {
        let manifest_key = thesis.key.manifest_key();
        if self.stored(&manifest_key).await?.is_some() {
            return Ok(Archived::AlreadyComplete);
        }
        if thesis.files.is_empty() {
            return Err(Error::mapping(format!(
                "thesis {}: the exam system lists no files",
                thesis.key.prefix()
            )));
        }
        let mut files = Vec::new();
        for (file, key) in thesis.files.iter().zip(thesis.file_keys()) {
            files.push(self.store(thesis, file, key).await?);
        }
        let manifest = Manifest {
            schema: MANIFEST_SCHEMA.to_owned(),
            key: thesis.key.clone(),
            exam_system: thesis.exam_system,
            source_ids: thesis.source_ids.clone(),
            title: thesis.title.clone(),
            language: thesis.language.clone(),
            graded_at: thesis.graded_at.clone(),
            access: thesis.access.clone(),
            access_note: thesis.access_note.clone(),
            files,
            archived_at: crate::time::rfc3339(crate::time::now_ms()),
        };
        let body = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
        let written = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&manifest_key)
            .if_none_match("*")
            .content_type("application/json")
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .tagging(format!("access={}", thesis.access.tag()))
            .object_lock_mode(self.retention.mode.clone())
            .object_lock_retain_until_date(self.retention.until())
            .body(ByteStream::from(body))
            .send()
            .await;
        match written {
            Ok(_) => Ok(Archived::Completed(Box::new(manifest))),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {
                Ok(Archived::AlreadyComplete)
            }
            Err(e) => Err(aws_error("S3", "PutObject", e)
                .context(format_args!("writing the manifest {manifest_key}"))),
        }
    }

    /// Whether the archive holds the thesis already (its manifest, written last, is there): what a
    /// shadow run reports beside the archiving it would do.
    pub async fn holds(&self, thesis: &ThesisToArchive) -> Result<bool> {
        Ok(self.stored(&thesis.key.manifest_key()).await?.is_some())
    }

    /// Stores the file at `index` in the thesis's list unless it is there already (see
    /// [`Archiver::archive`]); returns its manifest entry. Public so that a test can stop after one
    /// file, as a killed process would.
    pub async fn store_file(&self, thesis: &ThesisToArchive, index: usize) -> Result<ManifestFile> {
        let (Some(file), Some(key)) = (
            thesis.files.get(index),
            thesis.file_keys().into_iter().nth(index),
        ) else {
            return Err(Error::technical(format!(
                "thesis {}: there is no file {index} of {}",
                thesis.key.prefix(),
                thesis.files.len()
            )));
        };
        self.store(thesis, file, key).await
    }

    /// Stores one file under `key` unless S3 confirms it is there already.
    async fn store(
        &self,
        thesis: &ThesisToArchive,
        file: &SourceFile,
        key: String,
    ) -> Result<ManifestFile> {
        let label = format!("thesis {} file {:?}", thesis.key.prefix(), file.name);
        if file.quarantined {
            return Err(Error::mapping(format!(
                "{label} is in quarantine in the exam system: it is not archived; have it cleared or removed, then run again"
            )));
        }
        let stored = self.stored(&key).await?;
        if let (Some(expected), Some(stored)) = (&file.sha256, &stored) {
            let expected = expected.to_ascii_lowercase();
            if self.confirms(&key, stored, &expected, &label).await? {
                return self.keep(thesis, file, key, stored, expected, &label).await;
            }
        }
        let url = file.url.as_deref().ok_or_else(|| {
            Error::mapping(format!("{label}: the exam system gives no download link"))
        })?;
        let system = match thesis.exam_system {
            ExamSystem::Inspera => "Inspera",
            ExamSystem::Wiseflow => "WISEflow",
        };
        let mut response = crate::http::download(&self.http, system, &label, url).await?;
        let mut upload = Upload::new(self, &key, file, thesis.access.tag());
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    upload.abort().await;
                    return Err(crate::http::transport_error(system, &label, e));
                }
            };
            if let Err(e) = upload.push(&chunk).await {
                upload.abort().await;
                return Err(e.context(&label));
            }
        }
        let streamed = upload.seal();
        if let Some(expected) = &file.sha256 {
            if !expected.eq_ignore_ascii_case(&streamed.sha256) {
                upload.abort().await;
                return Err(Error::mapping(format!(
                    "{label}: the downloaded bytes have SHA-256 {}, the exam system says {expected}: not archived",
                    streamed.sha256
                )));
            }
        }
        // Where the source gives no SHA-256, a stored object is known to hold these bytes only now:
        // if S3's checksum is the one they would get, the write is abandoned before it completes.
        if let Some(stored) = stored.filter(|s| {
            s.checksum
                .as_deref()
                .is_some_and(|reported| same_checksum(reported, &streamed.s3))
        }) {
            upload.abort().await;
            return self
                .keep(thesis, file, key, &stored, streamed.sha256, &label)
                .await;
        }
        let version_id = upload
            .finish(&streamed)
            .await
            .map_err(|e| e.context(&label))?;
        self.verify(&key, version_id.as_deref(), &streamed.s3, &label)
            .await?;
        Ok(ManifestFile {
            name: file.name.clone(),
            key,
            size: streamed.size,
            sha256: streamed.sha256,
            content_type: file.content_type.clone(),
            version_id,
        })
    }

    /// Whether S3's own checksum of a stored object is that of bytes with SHA-256 `expected`. For
    /// an object written in one request S3 reports that SHA-256 itself; for one written in parts
    /// (one of at least [`PART_SIZE`]), a composite that only the bytes can be checked against,
    /// so they are read back: their SHA-256 must be `expected` and their parts' composite S3's.
    async fn confirms(
        &self,
        key: &str,
        stored: &Stored,
        expected: &str,
        label: &str,
    ) -> Result<bool> {
        let Some(reported) = &stored.checksum else {
            return Ok(false);
        };
        let whole = hex::decode(expected)
            .map(|digest| base64::engine::general_purpose::STANDARD.encode(digest))
            .unwrap_or_default();
        if same_checksum(reported, &whole) {
            return Ok(true);
        }
        if stored.size < PART_SIZE as u64 {
            // Written in one request: S3's checksum would be the SHA-256 of the bytes, and it is not.
            return Ok(false);
        }
        let mut object = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                aws_error("S3", "GetObject", e).context(format_args!("{label}: reading back {key}"))
            })?;
        if object.version_id() != stored.version_id.as_deref() {
            // Another version was written meanwhile: what S3 said is not of these bytes.
            return Ok(false);
        }
        let mut checksums = Checksums::default();
        while let Some(bytes) = object
            .body
            .try_next()
            .await
            .map_err(|e| Error::external(format!("{label}: reading back {key} failed: {e}")))?
        {
            checksums.update(&bytes);
        }
        let read = checksums.finish();
        Ok(read.sha256 == expected && same_checksum(reported, &read.s3))
    }

    /// The manifest entry of a file S3 confirmed is stored already. Its access tag is set to the
    /// thesis's (no new version), so a classification corrected since the file was written is
    /// what the object carries.
    async fn keep(
        &self,
        thesis: &ThesisToArchive,
        file: &SourceFile,
        key: String,
        stored: &Stored,
        sha256: String,
        label: &str,
    ) -> Result<ManifestFile> {
        self.s3
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(&key)
            .tagging(
                Tagging::builder()
                    .tag_set(
                        Tag::builder()
                            .key("access")
                            .value(thesis.access.tag())
                            .build()
                            .expect("a tag has a key and a value"),
                    )
                    .build()
                    .expect("a tagging has a tag set"),
            )
            .send()
            .await
            .map_err(|e| {
                aws_error("S3", "PutObjectTagging", e)
                    .context(format_args!("{label}: tagging {key}"))
            })?;
        Ok(ManifestFile {
            name: file.name.clone(),
            key,
            size: stored.size,
            sha256,
            content_type: file.content_type.clone(),
            version_id: stored.version_id.clone(),
        })
    }

    /// Checks the version just written: the checksum S3 reports for it must be `expected`, the
    /// one computed from the streamed bytes. Otherwise the next attempt writes it again, since a
    /// stored object counts only with S3's confirmation. (The latest version is asked for and
    /// compared by id: asking for a version by id would need `s3:GetObjectVersion`.)
    async fn verify(
        &self,
        key: &str,
        version_id: Option<&str>,
        expected: &str,
        label: &str,
    ) -> Result<()> {
        let latest = self.stored(key).await?;
        if let Some(latest) = latest
            .as_ref()
            .filter(|l| l.version_id.as_deref() != version_id)
        {
            return Err(Error::external(format!(
                "{label}: the latest version of {key} is {:?}, not the one just written ({version_id:?}): will be written again",
                latest.version_id
            )));
        }
        match latest.and_then(|stored| stored.checksum) {
            Some(reported) if same_checksum(&reported, expected) => Ok(()),
            Some(reported) => Err(Error::external(format!(
                "{label}: S3 reports SHA-256 {reported} (base64) for {key}, expected {expected}: will be written again"
            ))),
            None => Err(Error::external(format!(
                "{label}: S3 reports no SHA-256 for {key}, expected {expected}: will be written again"
            ))),
        }
    }

    /// What S3 says of an object's latest version, or `None` if absent.
    async fn stored(&self, key: &str) -> Result<Option<Stored>> {
        match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
        {
            Ok(head) => Ok(Some(Stored {
                checksum: head.checksum_sha256().map(str::to_owned),
                size: head.content_length().unwrap_or(0).max(0) as u64,
                version_id: head.version_id().map(str::to_owned),
            })),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
            Err(e) => {
                Err(aws_error("S3", "HeadObject", e).context(format_args!("looking for {key}")))
            }
        }
    }
}

impl ThesisToArchive {
    /// The object keys of the files, in their order (see [`ThesisKey::file_keys`]).
    pub fn file_keys(&self) -> Vec<String> {
        let names: Vec<&str> = self.files.iter().map(|f| f.name.as_str()).collect();
        self.key.file_keys(&names)
    }
}

/// What HeadObject (checksum mode on) says of a stored object.
struct Stored {
    /// `ChecksumSHA256` as S3 reports it: base64, with `-<parts>` for an object written in parts.
    checksum: Option<String>,
    size: u64,
    version_id: Option<String>,
}
