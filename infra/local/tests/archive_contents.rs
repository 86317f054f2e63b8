//! What a thesis is archived as: every thesis of both exam systems through the real metadata
//! mapping, its manifest field by field against the source and every stored object checked
//! (one version, encryption, retention, access tag, S3's checksum); never more open than the
//! source; a missing or quarantined file failing only its thesis.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_s3::types::ChecksumMode;
use base64::Engine;
use chrono::Datelike;
use common::archive::{
    access_tag, all_versions, archiver, bucket, composite, inspera, platform, s3_checksum,
    stored_bytes, thesis_at, to_archive, versions, wiseflow,
};
use flyt::archive::Deadlines;
use flyt::archive::{Access, Manifest, ThesisKey, MANIFEST_SCHEMA};
use flyt::archiver::{Archived, ThesisToArchive};
use flyt::institution::ExamSystem;
use flyt::thesis_store::{PendingThesis, ThesisSource};
use flyt_local::platform::{exam_instance, org_id};
use flyt_local::Local;
use flyt_sandbox::{SandboxOptions, SandboxThesis, ThesisAccess, ThesisCase};
use sha2::{Digest, Sha256};
use thesis_archive::source;

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

const DEADLINES: Deadlines = Deadlines {
    appeal: chrono::Duration::days(21),
    explanation: chrono::Duration::days(7),
    margin: chrono::Duration::hours(24),
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
