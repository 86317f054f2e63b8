//! The archive bucket and the thesis clients for tests: the platform with the sandbox's theses,
//! the archiver and the exam-system clients as the functions build them, and what S3 holds —
//! versions, bytes, checksums, tags — read back through the real SDK.

use std::collections::BTreeMap;

use aws_sdk_s3::types::{ChecksumMode, ObjectLockMode};
use base64::Engine;
use chrono::Datelike;
use flyt::archive::{Access, ThesisKey};
use flyt::archiver::{Archiver, Retention, SourceFile, ThesisToArchive, PART_SIZE};
use flyt::clients::inspera::{InsperaClient, InsperaCredentials};
use flyt::clients::wiseflow::{WiseflowClient, WiseflowCredentials};
use flyt::institution::ExamSystem;
use flyt_local::{Emulator, Local, LocalOptions};
use flyt_sandbox::{SandboxOptions, SandboxThesis, ThesisCase};
use sha2::{Digest, Sha256};

/// The local platform with the sandbox's theses and no Bokbasen data.
pub async fn platform() -> Local {
    let mut options = LocalOptions::default();
    options.sandbox.objects = 0;
    options.sandbox.descriptions = 0;
    Local::start(Emulator::shared(), options)
        .await
        .expect("the local platform starts")
}

/// The archiver as thesis-archive builds it, on the template's archive bucket.
pub fn archiver(local: &Local) -> Archiver {
    Archiver::new(
        local.aws.s3.clone(),
        flyt::http::client(std::time::Duration::from_secs(30)),
        local.stack.buckets["ArchiveBucket"].clone(),
        Retention {
            mode: ObjectLockMode::Compliance,
            years: 10,
        },
    )
}

/// A WISEflow client on the sandbox.
pub fn wiseflow(local: &Local) -> WiseflowClient {
    WiseflowClient::new(
        flyt::http::client(std::time::Duration::from_secs(30)),
        format!("{}/v1", local.sandbox.wiseflow_url),
        WiseflowCredentials {
            api_key: flyt_sandbox::SandboxOptions::default().wiseflow_api_key,
        },
        flyt::retry::RetryPolicy::default(),
    )
}

/// An Inspera client on the sandbox.
pub fn inspera(local: &Local) -> InsperaClient {
    let options = SandboxOptions::default();
    InsperaClient::new(
        flyt::http::client(std::time::Duration::from_secs(30)),
        format!("{}/api", local.sandbox.inspera_url),
        InsperaCredentials {
            client_id: options.inspera_client_id,
            api_key: options.inspera_api_key,
        },
        flyt::retry::RetryPolicy::default(),
    )
}

/// The sandbox's WISEflow thesis of `case`.
pub fn thesis_at(local: &Local, case: ThesisCase) -> SandboxThesis {
    local
        .sandbox
        .wiseflow
        .theses()
        .into_iter()
        .find(|t| t.case == case)
        .unwrap_or_else(|| panic!("the sandbox has a {case:?} thesis"))
}

/// What the archive step gets from WISEflow for one thesis, read through the client.
pub async fn to_archive(local: &Local, thesis: &SandboxThesis) -> ThesisToArchive {
    let client = wiseflow(local);
    let (flow, submission) = (thesis.flow_id.unwrap(), thesis.submission_id.unwrap());
    let info = client.submission(flow, submission).await.unwrap();
    let files = client.submission_files(flow, submission).await.unwrap();
    let graded_at = info.graded_at.clone().unwrap();
    let year = chrono::DateTime::parse_from_rfc3339(&graded_at)
        .unwrap()
        .year();
    let (access, access_note) =
        Access::from_source(info.access_level.as_deref(), info.embargo_until.as_deref());
    ThesisToArchive {
        key: ThesisKey {
            institution: "uib".into(),
            year,
            exam: thesis.course_code.clone(),
            kandidatnr: info.participant_number.clone().unwrap(),
        },
        exam_system: ExamSystem::Wiseflow,
        source_ids: vec![
            ("flowId".into(), flow.to_string()),
            ("submissionId".into(), submission.to_string()),
        ],
        title: info.title.clone().unwrap(),
        language: info.language.clone(),
        graded_at,
        access,
        access_note,
        files: files
            .into_iter()
            .map(|f| SourceFile {
                name: f.filename,
                content_type: f
                    .content_type
                    .unwrap_or_else(|| "application/octet-stream".into()),
                size: f.size,
                // WISEflow publishes no checksum.
                sha256: None,
                url: f.link,
                quarantined: f.quarantined,
            })
            .collect(),
    }
}

/// The thesis as a source that publishes each file's SHA-256 would give it (WISEflow publishes
/// none): the archiver then confirms a stored file against it without fetching it again.
pub fn with_source_checksums(
    mut thesis: ThesisToArchive,
    source: &SandboxThesis,
) -> ThesisToArchive {
    for (file, truth) in thesis.files.iter_mut().zip(&source.files) {
        file.sha256 = Some(truth.sha256.clone());
    }
    thesis
}

/// The archive bucket's name.
pub fn bucket(local: &Local) -> String {
    local.stack.buckets["ArchiveBucket"].clone()
}

/// Every version of every object under `prefix` (`""` for the whole bucket): key → versions.
pub async fn versions(local: &Local, prefix: &str) -> BTreeMap<String, usize> {
    all_versions_under(local, prefix)
        .await
        .into_iter()
        .map(|(key, (count, _))| (key, count))
        .collect()
}

/// The hex SHA-256 of the latest version of `key`.
pub async fn stored_sha256(local: &Local, key: &str) -> String {
    let object = local
        .aws
        .s3
        .get_object()
        .bucket(&local.stack.buckets["ArchiveBucket"])
        .key(key)
        .send()
        .await
        .unwrap();
    let bytes = object.body.collect().await.unwrap().into_bytes();
    hex::encode(Sha256::digest(&bytes))
}

/// The `access` tag of the latest version of `key`.
pub async fn access_tag(local: &Local, key: &str) -> String {
    let tags = local
        .aws
        .s3
        .get_object_tagging()
        .bucket(&local.stack.buckets["ArchiveBucket"])
        .key(key)
        .send()
        .await
        .unwrap();
    tags.tag_set()
        .iter()
        .find(|t| t.key() == "access")
        .map(|t| t.value().to_owned())
        .unwrap_or_default()
}

/// The bytes of the latest version of `key`.
pub async fn stored_bytes(local: &Local, key: &str) -> Vec<u8> {
    let object = local
        .aws
        .s3
        .get_object()
        .bucket(bucket(local))
        .key(key)
        .send()
        .await
        .unwrap();
    object.body.collect().await.unwrap().into_bytes().to_vec()
}

/// The base64 SHA-256 of `bytes`, as S3 reports a single-request object's checksum.
pub fn base64_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// The `ChecksumSHA256` S3 gives `bytes` written in parts of [`PART_SIZE`]: the SHA-256 of the
/// parts' SHA-256s, and the part count.
pub fn composite(bytes: &[u8]) -> String {
    let digests: Vec<u8> = bytes
        .chunks(PART_SIZE)
        .flat_map(|part| Sha256::digest(part).to_vec())
        .collect();
    format!(
        "{}-{}",
        base64_sha256(&digests),
        bytes.len().div_ceil(PART_SIZE)
    )
}

/// The `ChecksumSHA256` S3 reports for the latest version of `key`, asked with GetObject (moto's
/// HeadObject leaves a composite checksum's part count off).
pub async fn s3_checksum(local: &Local, key: &str) -> Option<String> {
    local
        .aws
        .s3
        .get_object()
        .bucket(bucket(local))
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap()
        .checksum_sha256()
        .map(str::to_owned)
}

/// Every version of every object in the bucket: key → (versions, latest version id).
pub async fn all_versions(local: &Local) -> BTreeMap<String, (usize, String)> {
    all_versions_under(local, "").await
}

async fn all_versions_under(local: &Local, prefix: &str) -> BTreeMap<String, (usize, String)> {
    let mut found: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = local
            .aws
            .s3
            .list_object_versions()
            .bucket(bucket(local))
            .prefix(prefix)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .unwrap();
        for version in page.versions() {
            let entry = found.entry(version.key().unwrap().to_owned()).or_default();
            entry.0 += 1;
            if version.is_latest() == Some(true) {
                entry.1 = version.version_id().unwrap_or_default().to_owned();
            }
        }
        if page.is_truncated() != Some(true) {
            return found;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
}
