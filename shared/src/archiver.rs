//! Writes one thesis into the archive bucket: every file under its stable key, then the manifest.
//!
//! Idempotent and crash-safe by construction. A file already stored with the checksum the source
//! gives is not written again (the bucket is versioned: a second write would be a second
//! version); the manifest is written last and only if absent, so a thesis with a manifest is
//! complete and a thesis without one is completed — never duplicated — by the next attempt.
//! Every file's SHA-256 is computed while it streams from the exam system and compared with the
//! source's; each request carries the SHA-256 of its bytes, which S3 verifies on receipt; and the
//! checksum S3 reports for the stored object (the SHA-256, or for an object written in parts the
//! SHA-256 of the parts' SHA-256s) is compared with what was sent. Where S3 reports none, the
//! stored bytes are read back and hashed.
//! Large files go up in parts. Encryption (KMS), Object Lock retention and the access
//! classification (an object tag) travel with every object.

use std::collections::HashMap;

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, ObjectLockMode,
    ServerSideEncryption,
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

    /// Archives a thesis: every file, then the manifest. A quarantined, missing or mismatching
    /// file fails this thesis (Mapping, naming the file) and writes no manifest.
    pub async fn archive(&self, thesis: &ThesisToArchive) -> Result<Archived> {
        let manifest_key = thesis.key.manifest_key();
        if self.head(&manifest_key).await?.is_some() {
            return Ok(Archived::AlreadyComplete);
        }
        if thesis.files.is_empty() {
            return Err(Error::mapping(format!(
                "thesis {}: the exam system lists no files",
                thesis.key.prefix()
            )));
        }
        let mut files = Vec::new();
        for file in &thesis.files {
            files.push(self.store_file(thesis, file).await?);
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

    /// Stores one file unless it is there already with the source's checksum; returns its
    /// manifest entry. Public so that a test can stop after one file, as a killed process would.
    pub async fn store_file(
        &self,
        thesis: &ThesisToArchive,
        file: &SourceFile,
    ) -> Result<ManifestFile> {
        let key = thesis.key.file_key(&file.name);
        let label = format!("thesis {} file {:?}", thesis.key.prefix(), file.name);
        if file.quarantined {
            return Err(Error::mapping(format!(
                "{label} is in quarantine in the exam system: it is not archived; have it cleared or removed, then run again"
            )));
        }
        if let (Some(expected), Some(stored)) = (&file.sha256, self.head(&key).await?) {
            if stored.sha256.as_deref() == Some(expected.as_str()) {
                return Ok(ManifestFile {
                    name: file.name.clone(),
                    key,
                    size: stored.size,
                    sha256: expected.clone(),
                    content_type: file.content_type.clone(),
                    version_id: stored.version_id,
                });
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
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    upload.abort().await;
                    return Err(crate::http::transport_error(system, &label, e));
                }
            };
            hasher.update(&chunk);
            size += chunk.len() as u64;
            if let Err(e) = upload.push(&chunk).await {
                upload.abort().await;
                return Err(e.context(&label));
            }
        }
        let sha256 = hex::encode(hasher.finalize());
        if let Some(expected) = &file.sha256 {
            if !expected.eq_ignore_ascii_case(&sha256) {
                upload.abort().await;
                return Err(Error::mapping(format!(
                    "{label}: the downloaded bytes have SHA-256 {sha256}, the exam system says {expected}: not archived"
                )));
            }
        }
        let (version_id, composite) = upload.finish().await.map_err(|e| e.context(&label))?;
        self.verify(&key, &sha256, composite.as_deref(), &label)
            .await?;
        Ok(ManifestFile {
            name: file.name.clone(),
            key,
            size,
            sha256,
            content_type: file.content_type.clone(),
            version_id,
        })
    }

    /// Checks the stored object against what was sent: S3's own checksum when it reports one (for
    /// an object written in parts, S3's checksum is the SHA-256 of the parts' SHA-256s, the
    /// `composite`), otherwise the stored bytes read back and hashed against `sha256`.
    async fn verify(
        &self,
        key: &str,
        sha256: &str,
        composite: Option<&str>,
        label: &str,
    ) -> Result<()> {
        let head = self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| {
                aws_error("S3", "HeadObject", e).context(format_args!("verifying {key}"))
            })?;
        let expected_b64 = match composite {
            Some(composite) => composite.to_owned(),
            None => base64::engine::general_purpose::STANDARD
                .encode(hex::decode(sha256).expect("a SHA-256 we computed is hex")),
        };
        if let Some(reported) = head.checksum_sha256() {
            // A composite checksum carries its part count: `<base64>-<parts>`.
            let reported = reported.split('-').next().unwrap_or_default();
            return if reported == expected_b64 {
                Ok(())
            } else {
                Err(Error::external(format!(
                    "{label}: S3 reports SHA-256 {reported} (base64), expected {expected_b64}: will be written again"
                )))
            };
        }
        let mut object = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                aws_error("S3", "GetObject", e).context(format_args!("verifying {key}"))
            })?;
        let mut hasher = Sha256::new();
        while let Some(bytes) = object
            .body
            .try_next()
            .await
            .map_err(|e| Error::external(format!("{label}: reading back {key} failed: {e}")))?
        {
            hasher.update(&bytes);
        }
        let stored = hex::encode(hasher.finalize());
        if stored == sha256 {
            Ok(())
        } else {
            Err(Error::external(format!(
                "{label}: the stored object hashes to {stored}, expected {sha256}: will be written again"
            )))
        }
    }

    async fn head(&self, key: &str) -> Result<Option<Stored>> {
        match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(Stored {
                sha256: head
                    .metadata()
                    .and_then(|m: &HashMap<String, String>| m.get("sha256").cloned()),
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

/// What HeadObject says of a stored file.
struct Stored {
    sha256: Option<String>,
    size: u64,
    version_id: Option<String>,
}

/// One object being written: held in memory up to one part, then in parts.
struct Upload<'a> {
    archiver: &'a Archiver,
    key: &'a str,
    file: &'a SourceFile,
    tagging: String,
    buffer: Vec<u8>,
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
            multipart: None,
        }
    }

    async fn push(&mut self, bytes: &[u8]) -> Result<()> {
        self.buffer.extend_from_slice(bytes);
        while self.buffer.len() >= PART_SIZE {
            let part: Vec<u8> = self.buffer.drain(..PART_SIZE).collect();
            self.upload_part(part).await?;
        }
        Ok(())
    }

    /// Completes the object; returns its version and, when written in parts, the composite
    /// checksum S3 computes for it.
    async fn finish(mut self) -> Result<(Option<String>, Option<String>)> {
        if self.multipart.is_none() {
            let body = std::mem::take(&mut self.buffer);
            let mut put = self
                .archiver
                .s3
                .put_object()
                .bucket(&self.archiver.bucket)
                .key(self.key)
                .content_type(&self.file.content_type)
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .checksum_sha256(sha256_base64(&body))
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .tagging(&self.tagging)
                .object_lock_mode(self.archiver.retention.mode.clone())
                .object_lock_retain_until_date(self.archiver.retention.until())
                .body(ByteStream::from(body));
            if let Some(sha) = &self.file.sha256 {
                put = put.metadata("sha256", sha.to_ascii_lowercase());
            }
            let output = put
                .send()
                .await
                .map_err(|e| aws_error("S3", "PutObject", e))?;
            return Ok((output.version_id().map(str::to_owned), None));
        }
        let rest = std::mem::take(&mut self.buffer);
        if !rest.is_empty() {
            self.upload_part(rest).await?;
        }
        let (upload_id, parts) = self.multipart.take().expect("parts were uploaded");
        let mut digests = Vec::new();
        for part in &parts {
            let digest = part.checksum_sha256().unwrap_or_default();
            digests.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(digest)
                    .expect("a part checksum we computed is base64"),
            );
        }
        let composite = sha256_base64(&digests);
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
        Ok((output.version_id().map(str::to_owned), Some(composite)))
    }

    async fn upload_part(&mut self, part: Vec<u8>) -> Result<()> {
        if self.multipart.is_none() {
            let mut create = self
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
            if let Some(sha) = &self.file.sha256 {
                create = create.metadata("sha256", sha.to_ascii_lowercase());
            }
            let output = create
                .send()
                .await
                .map_err(|e| aws_error("S3", "CreateMultipartUpload", e))?;
            let upload_id = output.upload_id().unwrap_or_default().to_owned();
            self.multipart = Some((upload_id, Vec::new()));
        }
        let (upload_id, parts) = self.multipart.as_mut().expect("started above");
        let number = parts.len() as i32 + 1;
        let checksum = sha256_base64(&part);
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

fn sha256_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}
