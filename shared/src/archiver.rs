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
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, ObjectLockMode,
    ServerSideEncryption, Tag, Tagging,
};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::archive::{Access, Manifest, ManifestFile, ThesisKey, MANIFEST_SCHEMA};
use crate::error::{aws_error, Error, Result};
use crate::institution::ExamSystem;

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

/// The checksums of a file's bytes as they stream, each byte hashed once for the whole and once for
/// its part: the SHA-256 of the whole, the SHA-256 of every [`PART_SIZE`] part (which an upload in
/// parts sends with each part), and the `ChecksumSHA256` S3 gives the object this archiver writes
/// of them — the whole's SHA-256 in base64 for a file smaller than a part (one request), otherwise
/// the composite of its parts: `<base64 SHA-256 of the parts' SHA-256s>-<parts>`.
#[derive(Default)]
struct Checksums {
    whole: Sha256,
    part: Sha256,
    in_part: usize,
    parts: Vec<[u8; 32]>,
    size: u64,
}

/// What [`Checksums`] found.
struct Streamed {
    /// Lowercase hex SHA-256.
    sha256: String,
    /// The checksum S3 reports for the object written of these bytes.
    s3: String,
    size: u64,
}

impl Checksums {
    fn update(&mut self, mut bytes: &[u8]) {
        self.whole.update(bytes);
        self.size += bytes.len() as u64;
        while !bytes.is_empty() {
            let take = (PART_SIZE - self.in_part).min(bytes.len());
            self.part.update(&bytes[..take]);
            self.in_part += take;
            bytes = &bytes[take..];
            if self.in_part == PART_SIZE {
                self.close_part();
            }
        }
    }

    fn close_part(&mut self) {
        self.parts
            .push(std::mem::take(&mut self.part).finalize().into());
        self.in_part = 0;
    }

    /// The base64 SHA-256 of part `index` (from 0), once its bytes have all been seen.
    fn part_base64(&self, index: usize) -> Option<String> {
        self.parts
            .get(index)
            .map(|digest| base64::engine::general_purpose::STANDARD.encode(digest))
    }

    /// Ends the stream: closes the last part of a file that goes up in parts.
    fn finish(&mut self) -> Streamed {
        let in_parts = self.size >= PART_SIZE as u64;
        if in_parts && self.in_part > 0 {
            self.close_part();
        }
        let whole = std::mem::take(&mut self.whole).finalize();
        let s3 = if in_parts {
            format!(
                "{}-{}",
                sha256_base64(&self.parts.concat()),
                self.parts.len()
            )
        } else {
            base64::engine::general_purpose::STANDARD.encode(whole)
        };
        Streamed {
            sha256: hex::encode(whole),
            s3,
            size: self.size,
        }
    }
}

/// One object being written: held in memory up to one part, then in parts.
struct Upload<'a> {
    archiver: &'a Archiver,
    key: &'a str,
    file: &'a SourceFile,
    tagging: String,
    buffer: Vec<u8>,
    checksums: Checksums,
    multipart: Option<(String, Vec<CompletedPart>)>,
}

impl<'a> Upload<'a> {
    fn new(archiver: &'a Archiver, key: &'a str, file: &'a SourceFile, access: &str) -> Self {
        Upload {
            archiver,
            key,
            file,
            tagging: format!("access={access}"),
            buffer: Vec::new(),
            checksums: Checksums::default(),
            multipart: None,
        }
    }

    /// Takes the next bytes of the stream: hashes them, and sends every part that is complete.
    async fn push(&mut self, bytes: &[u8]) -> Result<()> {
        self.checksums.update(bytes);
        self.buffer.extend_from_slice(bytes);
        while self.buffer.len() >= PART_SIZE {
            let part: Vec<u8> = self.buffer.drain(..PART_SIZE).collect();
            self.upload_part(part).await?;
        }
        Ok(())
    }

    /// Ends the stream: the checksums of everything pushed, before anything more is sent.
    fn seal(&mut self) -> Streamed {
        self.checksums.finish()
    }

    /// Completes the object after [`Upload::seal`] (`streamed` is what it returned); returns its
    /// version.
    async fn finish(mut self, streamed: &Streamed) -> Result<Option<String>> {
        if self.multipart.is_none() {
            let body = std::mem::take(&mut self.buffer);
            let put = self
                .archiver
                .s3
                .put_object()
                .bucket(&self.archiver.bucket)
                .key(self.key)
                .content_type(&self.file.content_type)
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .checksum_sha256(&streamed.s3)
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .tagging(&self.tagging)
                .object_lock_mode(self.archiver.retention.mode.clone())
                .object_lock_retain_until_date(self.archiver.retention.until())
                .body(ByteStream::from(body));
            let output = put
                .send()
                .await
                .map_err(|e| aws_error("S3", "PutObject", e))?;
            return Ok(output.version_id().map(str::to_owned));
        }
        let rest = std::mem::take(&mut self.buffer);
        if !rest.is_empty() {
            self.upload_part(rest).await?;
        }
        let (upload_id, parts) = self.multipart.take().expect("parts were uploaded");
        let output = self
            .archiver
            .s3
            .complete_multipart_upload()
            .bucket(&self.archiver.bucket)
            .key(self.key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws_error("S3", "CompleteMultipartUpload", e))?;
        Ok(output.version_id().map(str::to_owned))
    }

    async fn upload_part(&mut self, part: Vec<u8>) -> Result<()> {
        if self.multipart.is_none() {
            let create = self
                .archiver
                .s3
                .create_multipart_upload()
                .bucket(&self.archiver.bucket)
                .key(self.key)
                .content_type(&self.file.content_type)
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .tagging(&self.tagging)
                .object_lock_mode(self.archiver.retention.mode.clone())
                .object_lock_retain_until_date(self.archiver.retention.until());
            let output = create
                .send()
                .await
                .map_err(|e| aws_error("S3", "CreateMultipartUpload", e))?;
            let upload_id = output.upload_id().unwrap_or_default().to_owned();
            self.multipart = Some((upload_id, Vec::new()));
        }
        let (upload_id, parts) = self.multipart.as_mut().expect("started above");
        let number = parts.len() as i32 + 1;
        let checksum = self
            .checksums
            .part_base64(parts.len())
            .expect("a part is hashed as its bytes are pushed");
        let output = self
            .archiver
            .s3
            .upload_part()
            .bucket(&self.archiver.bucket)
            .key(self.key)
            .upload_id(upload_id.as_str())
            .part_number(number)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(&checksum)
            .body(ByteStream::from(part))
            .send()
            .await
            .map_err(|e| aws_error("S3", "UploadPart", e))?;
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(output.e_tag().map(str::to_owned))
                .checksum_sha256(checksum)
                .build(),
        );
        Ok(())
    }

    /// Abandons a multipart upload (the bucket's lifecycle rule also cleans up after crashes).
    async fn abort(&mut self) {
        if let Some((upload_id, _)) = self.multipart.take() {
            let aborted = self
                .archiver
                .s3
                .abort_multipart_upload()
                .bucket(&self.archiver.bucket)
                .key(self.key)
                .upload_id(upload_id)
                .send()
                .await;
            if let Err(e) = aborted {
                tracing::warn!(error = %aws_error("S3", "AbortMultipartUpload", e), "an abandoned upload is left to the lifecycle rule");
            }
        }
    }
}

/// Whether a `ChecksumSHA256` S3 reports is `expected` (both base64; a composite checksum carries
/// its part count, `<base64>-<parts>`). S3 may leave the part count off (HeadObject does on some
/// implementations); where both give one, the counts must agree too.
fn same_checksum(reported: &str, expected: &str) -> bool {
    let (reported, reported_parts) = split_parts(reported);
    let (expected, expected_parts) = split_parts(expected);
    !reported.is_empty()
        && reported == expected
        && match (reported_parts, expected_parts) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

fn split_parts(checksum: &str) -> (&str, Option<&str>) {
    match checksum.split_once('-') {
        Some((base, parts)) => (base, Some(parts)),
        None => (checksum, None),
    }
}

fn sha256_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// S3's composite checksum of `bytes` written in parts of [`PART_SIZE`], computed directly.
    fn composite(bytes: &[u8]) -> String {
        let digests: Vec<u8> = bytes
            .chunks(PART_SIZE)
            .flat_map(|part| Sha256::digest(part).to_vec())
            .collect();
        format!(
            "{}-{}",
            sha256_base64(&digests),
            bytes.len().div_ceil(PART_SIZE)
        )
    }

    #[test]
    fn checksums_compare_with_or_without_a_part_count() {
        assert!(same_checksum("abc=", "abc="));
        assert!(same_checksum("abc=-2", "abc=-2"));
        assert!(same_checksum("abc=", "abc=-2"), "a count left off");
        assert!(!same_checksum("abc=-3", "abc=-2"));
        assert!(!same_checksum("abd=", "abc="));
        assert!(!same_checksum("", ""), "no checksum confirms nothing");
    }

    #[test]
    fn checksums_are_those_s3_reports_for_the_objects_written() {
        let bytes: Vec<u8> = (0..PART_SIZE + 1).map(|i| (i % 251) as u8).collect();
        for (size, in_parts) in [
            (0, false),
            (100, false),
            (PART_SIZE, true),
            (PART_SIZE + 1, true),
        ] {
            let bytes = &bytes[..size];
            for feed in [65_537, PART_SIZE + 3] {
                let mut checksums = Checksums::default();
                for chunk in bytes.chunks(feed) {
                    checksums.update(chunk);
                }
                let streamed = checksums.finish();
                assert_eq!(streamed.size, size as u64);
                assert_eq!(streamed.sha256, hex::encode(Sha256::digest(bytes)));
                let expected = if in_parts {
                    composite(bytes)
                } else {
                    sha256_base64(bytes)
                };
                assert_eq!(streamed.s3, expected, "{size} bytes fed {feed} at a time");
            }
        }
    }
}
