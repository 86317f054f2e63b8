//! One object on its way into the archive bucket: a file smaller than a part in one request, a
//! larger one in parts, each request carrying its SHA-256 for S3 to verify, with encryption,
//! Object Lock retention and the access tag.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ServerSideEncryption,
};

use super::checksums::{Checksums, Streamed};
use super::{Archiver, SourceFile, PART_SIZE};
use crate::error::{aws_error, Result};

/// One object being written: held in memory up to one part, then in parts.
pub(super) struct Upload<'a> {
    archiver: &'a Archiver,
    key: &'a str,
    file: &'a SourceFile,
    tagging: String,
    buffer: Vec<u8>,
    checksums: Checksums,
    multipart: Option<(String, Vec<CompletedPart>)>,
}

impl<'a> Upload<'a> {
    pub(super) fn new(
        archiver: &'a Archiver,
        key: &'a str,
        file: &'a SourceFile,
        access: &str,
    ) -> Self {
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
    pub(super) async fn push(&mut self, bytes: &[u8]) -> Result<()> {
        self.checksums.update(bytes);
        self.buffer.extend_from_slice(bytes);
        while self.buffer.len() >= PART_SIZE {
            let part: Vec<u8> = self.buffer.drain(..PART_SIZE).collect();
            self.upload_part(part).await?;
        }
        Ok(())
    }

    /// Ends the stream: the checksums of everything pushed, before anything more is sent.
    pub(super) fn seal(&mut self) -> Streamed {
        self.checksums.finish()
    }

    /// Completes the object after [`Upload::seal`] (`streamed` is what it returned); returns its
    /// version.
    pub(super) async fn finish(mut self, streamed: &Streamed) -> Result<Option<String>> {
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
    pub(super) async fn abort(&mut self) {
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
