//! Theses written into the archive bucket the template creates, from the sandbox's WISEflow through
//! the real client: once, with checksums that match the stored objects, a 12 MiB file in parts,
//! completed without duplicates after a process died half-way, never more open than the source,
//! and a missing or quarantined file failing only its thesis.

use std::collections::BTreeMap;

use aws_sdk_s3::types::ObjectLockMode;
use chrono::Datelike;
use flyt::archive::{Access, ThesisKey};
use flyt::archiver::{Archived, Archiver, Retention, SourceFile, ThesisToArchive};
use flyt::clients::wiseflow::{WiseflowClient, WiseflowCredentials};
use flyt::institution::ExamSystem;
use flyt_local::{Emulator, Local, LocalOptions};
use flyt_sandbox::{SandboxThesis, ThesisCase};
use sha2::{Digest, Sha256};

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
    archiver
        .store_file(&thesis, &thesis.files[0])
        .await
        .unwrap();
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
