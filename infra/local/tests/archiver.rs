//! Theses written into the archive bucket the template creates, from the sandbox's WISEflow and
//! Inspera through the real clients: once, with checksums that match the stored objects and that
//! S3 itself confirms, a 12 MiB file in parts, completed without duplicates after a process died
//! half-way (also where the source gives no checksum, or where a stored object is not what it
//! claims), never more open than the source, file names that clean alike kept apart, every thesis
//! of both exam systems archived through the real metadata mapping with its source metadata, and a
//! missing or quarantined file failing only its thesis.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, ObjectLockMode,
};
use base64::Engine;
use chrono::Datelike;
use flyt::archive::{Access, Manifest, ThesisKey, MANIFEST_SCHEMA};
use flyt::archiver::{Archived, Archiver, Retention, SourceFile, ThesisToArchive, PART_SIZE};
use flyt::clients::inspera::{InsperaClient, InsperaCredentials};
use flyt::clients::wiseflow::{WiseflowClient, WiseflowCredentials};
use flyt::institution::ExamSystem;
use flyt::thesis_store::{PendingThesis, ThesisSource};
use flyt_local::platform::{exam_instance, org_id};
use flyt_local::{Emulator, Local, LocalOptions};
use flyt_sandbox::{SandboxOptions, SandboxThesis, ThesisAccess, ThesisCase};
use sha2::{Digest, Sha256};
use thesis_archive::source::{self, Deadlines};

async fn platform() -> Local {
    let mut options = LocalOptions::default();
    options.sandbox.objects = 0;
    options.sandbox.descriptions = 0;
    Local::start(Emulator::shared(), options)
        .await
        .expect("the local platform starts")
}

fn archiver(local: &Local) -> Archiver {
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

fn wiseflow(local: &Local) -> WiseflowClient {
    WiseflowClient::new(
        flyt::http::client(std::time::Duration::from_secs(30)),
        format!("{}/v1", local.sandbox.wiseflow_url),
        WiseflowCredentials {
            api_key: flyt_sandbox::SandboxOptions::default().wiseflow_api_key,
        },
        flyt::retry::RetryPolicy::default(),
    )
}

fn thesis_at(local: &Local, case: ThesisCase) -> SandboxThesis {
    local
        .sandbox
        .wiseflow
        .theses()
        .into_iter()
        .find(|t| t.case == case)
        .unwrap_or_else(|| panic!("the sandbox has a {case:?} thesis"))
}

/// What the archive step gets from WISEflow for one thesis, read through the client.
async fn to_archive(local: &Local, thesis: &SandboxThesis) -> ThesisToArchive {
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
                sha256: f.sha256,
                url: f.link,
                quarantined: f.quarantined,
            })
            .collect(),
    }
}

/// Every version of every object under a prefix: key → number of versions.
async fn versions(local: &Local, prefix: &str) -> BTreeMap<String, usize> {
    let listed = local
        .aws
        .s3
        .list_object_versions()
        .bucket(&local.stack.buckets["ArchiveBucket"])
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    let mut counts = BTreeMap::new();
    for version in listed.versions() {
        *counts.entry(version.key().unwrap().to_owned()).or_default() += 1;
    }
    counts
}

async fn stored_sha256(local: &Local, key: &str) -> String {
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

async fn access_tag(local: &Local, key: &str) -> String {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn theses_are_archived_once_with_checksums_that_match_the_stored_objects() {
    let local = platform().await;
    let archiver = archiver(&local);
    for case in [ThesisCase::LargeFile, ThesisCase::Ordinary] {
        let source = thesis_at(&local, case);
        let thesis = to_archive(&local, &source).await;
        let Archived::Completed(manifest) = archiver.archive(&thesis).await.unwrap() else {
            panic!("{case:?}: a new thesis is archived");
        };
        assert_eq!(manifest.files.len(), source.files.len());
        for (file, expected) in manifest.files.iter().zip(&source.files) {
            assert_eq!(
                file.sha256, expected.sha256,
                "{case:?}: the source's checksum"
            );
            assert_eq!(
                stored_sha256(&local, &file.key).await,
                file.sha256,
                "S3 holds those bytes"
            );
            assert_eq!(file.size, expected.size);
            assert_eq!(access_tag(&local, &file.key).await, "open");
        }
        let prefix = thesis.key.prefix();
        let before = versions(&local, &prefix).await;
        assert_eq!(
            before.len(),
            source.files.len() + 1,
            "files and the manifest"
        );
        assert!(
            before.values().all(|v| *v == 1),
            "one version each: {before:?}"
        );
        let downloads: Vec<u64> = source
            .files
            .iter()
            .map(|f| local.sandbox.wiseflow.downloads(f.id))
            .collect();

        assert_eq!(
            archiver.archive(&thesis).await.unwrap(),
            Archived::AlreadyComplete
        );
        assert_eq!(
            versions(&local, &prefix).await,
            before,
            "nothing written again"
        );
        let again: Vec<u64> = source
            .files
            .iter()
            .map(|f| local.sandbox.wiseflow.downloads(f.id))
            .collect();
        assert_eq!(again, downloads, "nothing downloaded again");
    }
    let large = to_archive(&local, &thesis_at(&local, ThesisCase::LargeFile)).await;
    assert!(large.files[0].size.unwrap() >= 12 * 1024 * 1024);
    let head = local
        .aws
        .s3
        .head_object()
        .bucket(&local.stack.buckets["ArchiveBucket"])
        .key(large.key.file_key(&large.files[0].name))
        .send()
        .await
        .unwrap();
    assert!(
        head.e_tag().unwrap().trim_matches('"').ends_with("-2"),
        "the 12 MiB file went up in two parts: ETag {:?}",
        head.e_tag()
    );
    assert_eq!(
        head.server_side_encryption().map(|e| e.as_str()),
        Some("aws:kms")
    );
    // moto drops the lock headers of a multipart upload (AWS applies them, and the bucket's
    // default retention besides); the lock is checked on what was written in one request.
    let manifest = local
        .aws
        .s3
        .head_object()
        .bucket(&local.stack.buckets["ArchiveBucket"])
        .key(large.key.manifest_key())
        .send()
        .await
        .unwrap();
    assert_eq!(
        manifest.object_lock_mode().map(|m| m.as_str()),
        Some("COMPLIANCE")
    );
    let retained = manifest.object_lock_retain_until_date().unwrap().secs();
    assert!(
        retained > flyt::time::now_ms() / 1000 + 9 * 365 * 86_400,
        "retained for the configured 10 years"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thesis_half_archived_by_a_killed_process_is_completed_without_duplicates() {
    let local = platform().await;
    let archiver = archiver(&local);
    let source = local
        .sandbox
        .wiseflow
        .theses()
        .into_iter()
        .find(|t| t.case == ThesisCase::Ordinary && t.files.len() >= 2)
        .expect("an ordinary thesis with two files");
    let thesis = to_archive(&local, &source).await;
    // The process stored the first file and died: no manifest.
    archiver.store_file(&thesis, 0).await.unwrap();
    let prefix = thesis.key.prefix();
    assert_eq!(versions(&local, &prefix).await.len(), 1);

    let Archived::Completed(manifest) = archiver.archive(&thesis).await.unwrap() else {
        panic!("the next attempt completes it");
    };
    let after = versions(&local, &prefix).await;
    assert_eq!(after.len(), thesis.files.len() + 1);
    assert!(
        after.values().all(|v| *v == 1),
        "no duplicate objects: {after:?}"
    );
    assert_eq!(
        local.sandbox.wiseflow.downloads(source.files[0].id),
        1,
        "the stored file was not fetched again"
    );
    assert_eq!(manifest.files[0].sha256, source.files[0].sha256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restricted_and_embargoed_theses_are_never_more_open_than_the_source() {
    let local = platform().await;
    let archiver = archiver(&local);
    for (case, tag) in [
        (ThesisCase::Restricted, "restricted"),
        (ThesisCase::Embargoed, "embargoed"),
    ] {
        let thesis = to_archive(&local, &thesis_at(&local, case)).await;
        let Archived::Completed(manifest) = archiver.archive(&thesis).await.unwrap() else {
            panic!("{case:?} archived");
        };
        assert_ne!(manifest.access, Access::Open, "{case:?}");
        if case == ThesisCase::Embargoed {
            assert_eq!(
                manifest.access,
                Access::Embargoed {
                    until: chrono::NaiveDate::from_ymd_opt(2031, 6, 30).unwrap()
                }
            );
        }
        for file in &manifest.files {
            assert_eq!(
                access_tag(&local, &file.key).await,
                tag,
                "{case:?} {}",
                file.key
            );
        }
        assert_eq!(access_tag(&local, &thesis.key.manifest_key()).await, tag);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_quarantined_file_fails_that_thesis_only() {
    let local = platform().await;
    let archiver = archiver(&local);
    for (case, expected) in [
        (ThesisCase::MissingFile, "is missing (404)"),
        (ThesisCase::QuarantinedFile, "in quarantine"),
    ] {
        let thesis = to_archive(&local, &thesis_at(&local, case)).await;
        let error = archiver.archive(&thesis).await.unwrap_err();
        assert_eq!(
            error.category(),
            flyt::Category::Mapping,
            "{case:?}: {error}"
        );
        assert!(error.message().contains(expected), "{case:?}: {error}");
        assert!(
            error.message().contains(&thesis.key.prefix()),
            "names the thesis: {error}"
        );
        let stored = versions(&local, &thesis.key.prefix()).await;
        assert!(
            !stored.contains_key(&thesis.key.manifest_key()),
            "{case:?}: no manifest, so the thesis is not taken for complete"
        );
    }
    let ordinary = to_archive(&local, &thesis_at(&local, ThesisCase::Ordinary)).await;
    assert!(matches!(
        archiver.archive(&ordinary).await.unwrap(),
        Archived::Completed(_)
    ));
}

fn bucket(local: &Local) -> String {
    local.stack.buckets["ArchiveBucket"].clone()
}

fn inspera(local: &Local) -> InsperaClient {
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

const DEADLINES: Deadlines = Deadlines {
    appeal: chrono::Duration::days(21),
    explanation: chrono::Duration::days(7),
};

/// A sandbox thesis as the thesis-archive function maps it: registered from what its exam system
/// says (as the sweep and the webhook do), then read for archiving through
/// `source::wiseflow_thesis` or `source::inspera_thesis`.
async fn through_mapping(local: &Local, thesis: &SandboxThesis) -> ThesisToArchive {
    let org = org_id(&thesis.institution);
    let mapped = match thesis.exam_system.as_str() {
        "WISEFLOW" => {
            let client = wiseflow(local);
            let (flow, submission) = (thesis.flow_id.unwrap(), thesis.submission_id.unwrap());
            let info = client.submission(flow, submission).await.unwrap();
            let pending = source::pending(
                &org,
                ThesisSource::Wiseflow {
                    flow_id: flow,
                    submission_id: submission,
                },
                info.participant_number.as_deref(),
                info.graded_at.as_deref(),
                DEADLINES,
            )
            .unwrap();
            source::wiseflow_thesis(&client, &pending, flow, submission).await
        }
        "INSPERA" => {
            let client = inspera(local);
            let test_id = thesis.test_id.unwrap();
            let submission = source::inspera_submission(&client, test_id, &thesis.candidate_number)
                .await
                .unwrap();
            let pending: PendingThesis = source::pending(
                &org,
                ThesisSource::Inspera {
                    instance: exam_instance(&thesis.institution, "INSPERA"),
                    test_id,
                    candidate_id: thesis.candidate_number.clone(),
                },
                Some(&submission.candidate_id),
                submission.graded_at.as_deref(),
                DEADLINES,
            )
            .unwrap();
            source::inspera_thesis(&client, &pending, test_id, &thesis.candidate_number).await
        }
        other => panic!("the sandbox has no exam system {other}"),
    };
    mapped.unwrap_or_else(|e| {
        panic!(
            "{} thesis at position {}: {e}",
            thesis.exam_system, thesis.position
        )
    })
}

/// The manifest's metadata, field by field, against the sandbox's source data and the README's
/// mapping table.
fn assert_source_metadata(manifest: &Manifest, source: &SandboxThesis) {
    let which = format!(
        "{} thesis at position {} of {}",
        source.exam_system, source.position, source.institution
    );
    let graded =
        chrono::DateTime::parse_from_rfc3339(source.graded_at.as_deref().unwrap()).unwrap();
    let (exam_system, exam, source_ids) = match source.exam_system.as_str() {
        "WISEFLOW" => (
            ExamSystem::Wiseflow,
            format!("flow-{}", source.flow_id.unwrap()),
            vec![
                ("flowId".to_owned(), source.flow_id.unwrap().to_string()),
                (
                    "submissionId".to_owned(),
                    source.submission_id.unwrap().to_string(),
                ),
            ],
        ),
        _ => (
            ExamSystem::Inspera,
            source.assessment_id.clone(),
            vec![
                ("testId".to_owned(), source.test_id.unwrap().to_string()),
                ("externalTestId".to_owned(), source.assessment_id.clone()),
                ("candidateId".to_owned(), source.candidate_number.clone()),
            ],
        ),
    };
    assert_eq!(manifest.schema, MANIFEST_SCHEMA, "{which}");
    assert_eq!(
        manifest.key,
        ThesisKey {
            institution: org_id(&source.institution),
            year: graded.year(),
            exam,
            kandidatnr: source.candidate_number.clone(),
        },
        "{which}: key (institution, year, exam, kandidatnr)"
    );
    assert_eq!(manifest.exam_system, exam_system, "{which}");
    assert_eq!(manifest.source_ids, source_ids, "{which}: source ids");
    assert_eq!(manifest.title, source.title, "{which}: title");
    assert_eq!(
        manifest.language.as_deref(),
        Some(source.language.as_str()),
        "{which}: language"
    );
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(&manifest.graded_at).unwrap(),
        graded,
        "{which}: grading date"
    );
    let access = match source.access_level {
        ThesisAccess::Open => Access::Open,
        ThesisAccess::Restricted => Access::Restricted,
        ThesisAccess::Embargoed => Access::Embargoed {
            until: chrono::NaiveDate::parse_from_str(
                source.embargo_until.as_deref().unwrap(),
                "%Y-%m-%d",
            )
            .unwrap(),
        },
    };
    assert_eq!(manifest.access, access, "{which}: access");
    assert_eq!(
        manifest.access_note, None,
        "{which}: read as the source says"
    );
    assert_eq!(manifest.files.len(), source.files.len(), "{which}: files");
    for (file, expected) in manifest.files.iter().zip(&source.files) {
        assert_eq!(file.name, expected.filename, "{which}");
        assert_eq!(file.content_type, expected.content_type, "{which}");
        assert_eq!(file.size, expected.size, "{which}: {}", file.name);
        assert_eq!(file.sha256, expected.sha256, "{which}: {}", file.name);
        assert_eq!(
            file.key,
            manifest.key.file_key(&expected.filename),
            "{which}"
        );
        assert!(file.version_id.is_some(), "{which}: {}", file.name);
    }
}

/// Every version of every object in the bucket: key → (versions, latest version id).
async fn all_versions(local: &Local) -> BTreeMap<String, (usize, String)> {
    let mut found: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = local
            .aws
            .s3
            .list_object_versions()
            .bucket(bucket(local))
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

async fn stored_bytes(local: &Local, key: &str) -> Vec<u8> {
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

fn base64_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// The `ChecksumSHA256` S3 gives `bytes` written in parts of [`PART_SIZE`]: the SHA-256 of the
/// parts' SHA-256s, and the part count.
fn composite(bytes: &[u8]) -> String {
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
async fn s3_checksum(local: &Local, key: &str) -> Option<String> {
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

/// What an object in the bucket must be: the SHA-256 of its bytes (hex; `None` for a manifest,
/// whose bytes are its own), its access tag, and the version a manifest names.
struct Expected {
    sha256: Option<String>,
    tag: &'static str,
    version_id: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_thesis_of_both_exam_systems_is_archived_with_its_source_metadata_and_every_object_checked(
) {
    let local = platform().await;
    let archiver = archiver(&local);
    // The ungraded theses get their grade, so that every thesis can be archived.
    let grading = local.sandbox.wiseflow.thesis_grading();
    let graded_at = chrono::Utc::now() - chrono::Duration::days(45);
    let ungraded: Vec<SandboxThesis> = local
        .sandbox
        .wiseflow
        .theses()
        .into_iter()
        .chain(local.sandbox.inspera.theses())
        .filter(|t| t.graded_at.is_none())
        .collect();
    for thesis in &ungraded {
        grading.grade(&thesis.candidate_number, graded_at);
    }
    let wiseflow_theses = local.sandbox.wiseflow.theses();
    let inspera_theses = local.sandbox.inspera.theses();
    let per_system = SandboxOptions::default().theses_per_institution;
    assert_eq!(
        (wiseflow_theses.len(), inspera_theses.len()),
        (per_system, per_system),
        "one institution per exam system"
    );
    assert!(
        wiseflow_theses
            .iter()
            .chain(&inspera_theses)
            .all(|t| t.graded_at.is_some()),
        "every thesis graded"
    );

    // (a) and (c): every thesis through the real mapping; the two bad ones per system fail alone.
    let mut expected: BTreeMap<String, Expected> = BTreeMap::new();
    let mut archived: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failed: BTreeMap<&str, usize> = BTreeMap::new();
    for source in wiseflow_theses.iter().chain(&inspera_theses) {
        let thesis = through_mapping(&local, source).await;
        let prefix = thesis.key.prefix();
        let tag = thesis.access.tag();
        let bad = match source.case {
            ThesisCase::MissingFile => source.files.iter().position(|f| f.missing),
            ThesisCase::QuarantinedFile => source.files.iter().position(|f| f.quarantined),
            _ => None,
        };
        if let Some(bad) = bad {
            let error = archiver.archive(&thesis).await.unwrap_err();
            let which = format!("{} {:?}: {error}", source.exam_system, source.case);
            assert_eq!(error.category(), flyt::Category::Mapping, "{which}");
            assert!(
                error.message().contains(&prefix),
                "names the thesis: {which}"
            );
            assert!(
                error
                    .message()
                    .contains(&format!("{:?}", source.files[bad].filename)),
                "names the file: {which}"
            );
            let reason = if source.case == ThesisCase::MissingFile {
                "is missing (404)"
            } else {
                "in quarantine"
            };
            assert!(error.message().contains(reason), "{which}");
            // What was stored before the bad file stays, without a manifest.
            for file in &source.files[..bad] {
                expected.insert(
                    thesis.key.file_key(&file.filename),
                    Expected {
                        sha256: Some(file.sha256.clone()),
                        tag,
                        version_id: None,
                    },
                );
            }
            *failed.entry(source.exam_system.as_str()).or_default() += 1;
            continue;
        }
        let Archived::Completed(manifest) = archiver.archive(&thesis).await.unwrap() else {
            panic!(
                "{} {:?}: a new thesis is archived",
                source.exam_system, source.case
            );
        };
        assert_source_metadata(&manifest, source);
        let stored: Manifest =
            serde_json::from_slice(&stored_bytes(&local, &thesis.key.manifest_key()).await)
                .unwrap();
        assert_eq!(stored, *manifest, "the stored manifest is the one returned");
        for file in &manifest.files {
            expected.insert(
                file.key.clone(),
                Expected {
                    sha256: Some(file.sha256.clone()),
                    tag,
                    version_id: file.version_id.clone(),
                },
            );
        }
        expected.insert(
            thesis.key.manifest_key(),
            Expected {
                sha256: None,
                tag,
                version_id: None,
            },
        );
        *archived.entry(source.exam_system.as_str()).or_default() += 1;
    }
    assert_eq!(
        archived,
        BTreeMap::from([("INSPERA", per_system - 2), ("WISEFLOW", per_system - 2)]),
        "every thesis but the missing-file and quarantined-file ones"
    );
    assert_eq!(failed, BTreeMap::from([("INSPERA", 2), ("WISEFLOW", 2)]));

    // (b): every object in the bucket, one by one.
    let stored = all_versions(&local).await;
    assert_eq!(
        stored.keys().collect::<BTreeSet<_>>(),
        expected.keys().collect::<BTreeSet<_>>(),
        "exactly the archived files and manifests, and what the failed theses stored"
    );
    let now = flyt::time::now_ms() / 1000;
    let (mut in_one_request, mut in_parts) = (0, 0);
    for (key, (versions, latest)) in &stored {
        let want = &expected[key];
        assert_eq!(*versions, 1, "{key}: exactly one version");
        if let Some(version_id) = &want.version_id {
            assert_eq!(latest, version_id, "{key}: the version the manifest names");
        }
        let head = local
            .aws
            .s3
            .head_object()
            .bucket(bucket(&local))
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.server_side_encryption().map(|e| e.as_str()),
            Some("aws:kms"),
            "{key}"
        );
        assert_eq!(access_tag(&local, key).await, want.tag, "{key}");
        let bytes = stored_bytes(&local, key).await;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        assert_eq!(
            Some(&sha256),
            want.sha256.as_ref().or(Some(&sha256)),
            "{key}"
        );
        let reported = s3_checksum(&local, key)
            .await
            .unwrap_or_else(|| panic!("{key}: S3 reports a SHA-256"));
        if head.e_tag().unwrap().trim_matches('"').contains('-') {
            // Written in parts: S3's checksum is the composite of the parts of these bytes.
            in_parts += 1;
            assert_eq!(
                reported,
                composite(&bytes),
                "{key}: S3's composite of these bytes"
            );
            // moto drops the Object Lock headers of a multipart upload and applies no default
            // to it; AWS applies the request's retention (and the bucket default besides), so
            // what the emulator can show is the bucket's default, checked below.
        } else {
            in_one_request += 1;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(&reported)
                .unwrap();
            assert_eq!(hex::encode(decoded), sha256, "{key}: S3's own SHA-256");
            assert_eq!(
                head.object_lock_mode().map(|m| m.as_str()),
                Some("COMPLIANCE"),
                "{key}"
            );
            let until = head.object_lock_retain_until_date().unwrap().secs();
            assert!(
                (now + 3650 * 86_400..=now + 3661 * 86_400).contains(&until),
                "{key}: retained for the configured 10 years, until {until}"
            );
        }
    }
    assert_eq!(in_parts, 2, "the two 12 MiB files, one per exam system");
    assert_eq!(in_one_request, stored.len() - 2);
    let lock = local
        .aws
        .s3
        .get_object_lock_configuration()
        .bucket(bucket(&local))
        .send()
        .await
        .unwrap()
        .object_lock_configuration
        .unwrap();
    let default = lock.rule().unwrap().default_retention().unwrap();
    assert_eq!(
        (default.mode().map(|m| m.as_str()), default.years()),
        (Some("COMPLIANCE"), Some(10)),
        "what locks the objects written in parts where moto shows nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_file_counts_only_when_s3s_own_checksum_confirms_it() {
    let local = platform().await;
    let archiver = archiver(&local);
    let s3 = &local.aws.s3;

    // Bogus objects where the files go, each claiming the source's SHA-256 in its metadata (what
    // the archiver once trusted): one written in one request, one written in parts.
    let ordinary_source = thesis_at(&local, ThesisCase::Ordinary);
    let ordinary = to_archive(&local, &ordinary_source).await;
    let small_key = ordinary.file_keys()[0].clone();
    let bogus_small = s3
        .put_object()
        .bucket(bucket(&local))
        .key(&small_key)
        .metadata("sha256", &ordinary_source.files[0].sha256)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from_static(b"not the thesis"))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    let large_source = thesis_at(&local, ThesisCase::LargeFile);
    let large = to_archive(&local, &large_source).await;
    let large_key = large.file_keys()[0].clone();
    let upload_id = s3
        .create_multipart_upload()
        .bucket(bucket(&local))
        .key(&large_key)
        .metadata("sha256", &large_source.files[0].sha256)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let part = b"not the thesis either";
    let uploaded = s3
        .upload_part()
        .bucket(bucket(&local))
        .key(&large_key)
        .upload_id(&upload_id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(base64_sha256(part))
        .body(ByteStream::from_static(part))
        .send()
        .await
        .unwrap();
    let bogus_large = s3
        .complete_multipart_upload()
        .bucket(bucket(&local))
        .key(&large_key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .set_e_tag(uploaded.e_tag().map(str::to_owned))
                        .checksum_sha256(base64_sha256(part))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    assert!(s3_checksum(&local, &large_key)
        .await
        .unwrap()
        .ends_with("-1"));

    // A process stores the large file (written again: S3 does not confirm the bogus one) and dies;
    // the next attempt finds it confirmed by S3's composite checksum and does not fetch it again.
    let first = archiver.store_file(&large, 0).await.unwrap();
    assert_ne!(first.version_id.as_deref(), Some(bogus_large.as_str()));
    for (thesis, source, key, bogus) in [
        (&ordinary, &ordinary_source, &small_key, &bogus_small),
        (&large, &large_source, &large_key, &bogus_large),
    ] {
        let Archived::Completed(manifest) = archiver.archive(thesis).await.unwrap() else {
            panic!("{:?}: archived", source.case);
        };
        let versions = versions(&local, &thesis.key.prefix()).await;
        assert_eq!(versions.len(), thesis.files.len() + 1, "{versions:?}");
        for (stored, count) in &versions {
            let wanted = if stored == key { 2 } else { 1 };
            assert_eq!(
                *count, wanted,
                "{stored}: the bogus object and the file, once"
            );
        }
        let entry = &manifest.files[0];
        assert_eq!(&entry.key, key);
        assert_ne!(entry.version_id.as_deref(), Some(bogus.as_str()));
        let latest = s3
            .head_object()
            .bucket(bucket(&local))
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(latest.version_id(), entry.version_id.as_deref());
        let bytes = stored_bytes(&local, key).await;
        assert_eq!(hex::encode(Sha256::digest(&bytes)), source.files[0].sha256);
        assert_eq!(entry.sha256, source.files[0].sha256);
        let expected = if bytes.len() >= PART_SIZE {
            composite(&bytes)
        } else {
            base64_sha256(&bytes)
        };
        assert_eq!(s3_checksum(&local, key).await, Some(expected));
        assert_eq!(
            local.sandbox.wiseflow.downloads(source.files[0].id),
            1,
            "{:?}: fetched once, to be written",
            source.case
        );
    }
    assert_eq!(
        manifest_version(&local, &large).await,
        first.version_id,
        "the large file's manifest entry is the version the first attempt wrote"
    );
}

/// The version a stored manifest names for a thesis's first file.
async fn manifest_version(local: &Local, thesis: &ThesisToArchive) -> Option<String> {
    let manifest: Manifest =
        serde_json::from_slice(&stored_bytes(local, &thesis.key.manifest_key()).await).unwrap();
    manifest.files[0].version_id.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_the_source_gives_no_checksum_for_is_not_written_twice() {
    let local = platform().await;
    let archiver = archiver(&local);
    for case in [ThesisCase::LargeFile, ThesisCase::Ordinary] {
        let source = thesis_at(&local, case);
        let mut thesis = to_archive(&local, &source).await;
        for file in &mut thesis.files {
            file.sha256 = None;
        }
        // The first attempt stores every file and dies before the manifest.
        let mut first = Vec::new();
        for index in 0..thesis.files.len() {
            first.push(archiver.store_file(&thesis, index).await.unwrap());
        }
        let prefix = thesis.key.prefix();
        assert_eq!(versions(&local, &prefix).await.len(), thesis.files.len());

        let Archived::Completed(manifest) = archiver.archive(&thesis).await.unwrap() else {
            panic!("{case:?}: the next attempt completes it");
        };
        let after = versions(&local, &prefix).await;
        assert_eq!(after.len(), thesis.files.len() + 1, "{case:?}");
        assert!(
            after.values().all(|v| *v == 1),
            "{case:?}: nothing written twice: {after:?}"
        );
        assert_eq!(
            manifest.files, first,
            "{case:?}: the versions first written"
        );
        for (file, expected) in manifest.files.iter().zip(&source.files) {
            assert_eq!(file.sha256, expected.sha256, "{case:?}");
            assert_eq!(
                local.sandbox.wiseflow.downloads(expected.id),
                2,
                "{case:?}: streamed again to be compared, not stored"
            );
        }
    }
    let uploads = local
        .aws
        .s3
        .list_multipart_uploads()
        .bucket(bucket(&local))
        .send()
        .await
        .unwrap();
    assert!(
        uploads.uploads().is_empty(),
        "the abandoned upload in parts was aborted: {:?}",
        uploads.uploads()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_whose_names_clean_alike_are_stored_apart_once_each() {
    let local = platform().await;
    let archiver = archiver(&local);
    let source = local
        .sandbox
        .wiseflow
        .theses()
        .into_iter()
        .find(|t| t.case == ThesisCase::Ordinary && t.files.len() >= 2)
        .expect("an ordinary thesis with two files");
    let mut thesis = to_archive(&local, &source).await;
    thesis.files[0].name = String::new();
    thesis.files[1].name = "?".to_owned();
    let prefix = thesis.key.prefix();
    let keys = thesis.file_keys();
    assert_eq!(
        keys[..2],
        [format!("{prefix}files/_(1)"), format!("{prefix}files/_(2)")]
    );
    // A process stores the second file and dies; the next attempt completes the thesis.
    archiver.store_file(&thesis, 1).await.unwrap();
    let Archived::Completed(manifest) = archiver.archive(&thesis).await.unwrap() else {
        panic!("archived");
    };
    let after = versions(&local, &prefix).await;
    assert_eq!(after.len(), thesis.files.len() + 1, "{after:?}");
    assert!(
        after.values().all(|v| *v == 1),
        "one version each: {after:?}"
    );
    for ((file, key), expected) in manifest.files.iter().zip(&keys).zip(&source.files) {
        assert_eq!(&file.key, key);
        assert_eq!(file.sha256, expected.sha256);
        assert_eq!(stored_sha256(&local, key).await, expected.sha256);
        assert_eq!(local.sandbox.wiseflow.downloads(expected.id), 1, "{key}");
    }
    assert_eq!(manifest.files[0].name, "");
    assert_eq!(manifest.files[1].name, "?");
}
