//! Master theses end to end on the local platform: Inspera pushes (signed webhooks), WISEflow is
//! polled; every due thesis is archived exactly once with a manifest whose checksums match the
//! stored objects; none before its deadline; an open appeal postpones and its withdrawal releases;
//! a missing or quarantined file fails only its thesis, with the reason; an invocation killed
//! mid-archive leaves nothing duplicated.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::appeals::{appeals_platform, poll_and_dispatch};
use flyt::archive::Manifest;
use flyt::thesis_store::{ThesisStatus, ThesisStore};
use flyt_local::{Local, LocalOptions};
use flyt_sandbox::{AppealStatus, FsAppeal, ThesisCase};
use sha2::{Digest, Sha256};

fn bucket(local: &Local) -> String {
    local.stack.buckets["ArchiveBucket"].clone()
}

/// Every object version in the bucket: key → versions.
async fn versions(local: &Local) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let mut marker = None;
    loop {
        let page = local
            .aws
            .s3
            .list_object_versions()
            .bucket(bucket(local))
            .set_key_marker(marker.clone())
            .send()
            .await
            .unwrap();
        for version in page.versions() {
            *counts.entry(version.key().unwrap().to_owned()).or_default() += 1;
        }
        if page.is_truncated() != Some(true) {
            return counts;
        }
        marker = page.next_key_marker().map(str::to_owned);
    }
}

async fn object(local: &Local, key: &str) -> Vec<u8> {
    let output = local
        .aws
        .s3
        .get_object()
        .bucket(bucket(local))
        .key(key)
        .send()
        .await
        .unwrap();
    output.body.collect().await.unwrap().into_bytes().to_vec()
}

/// Inspera's theses are pushed, then the sweep polls WISEflow and queues what is due.
async fn discover_and_archive(local: &Local) -> serde_json::Value {
    local.sandbox.inspera.submit_theses();
    assert!(
        local
            .sandbox
            .inspera
            .wait_for_webhooks(Duration::from_secs(120))
            .await
    );
    local.drain(Duration::from_secs(300), |_| {}).await.unwrap();
    let sweep = local
        .fire_schedule("ThesisArchiveFunction")
        .await
        .unwrap()
        .remove(0)
        .1;
    local.drain(Duration::from_secs(600), |_| {}).await.unwrap();
    sweep
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_due_thesis_is_archived_exactly_once_and_none_early() {
    let local = appeals_platform(LocalOptions::default()).await;
    let store = ThesisStore::new(local.aws.dynamodb.clone(), local.table("ThesesTable"));

    // An open appeal (dispatched from FS to WISEflow) holds one due WISEflow thesis back.
    let held = local
        .sandbox
        .wiseflow
        .theses()
        .into_iter()
        .find(|t| t.case == ThesisCase::Ordinary)
        .unwrap();
    let appeal = FsAppeal {
        assessment_id: held.assessment_id.clone(),
        candidate_number: held.candidate_number.clone(),
        institution: "194".into(),
        sis_code: held.sis_code.clone(),
        status: AppealStatus::Active,
        ..local.sandbox.fs.appeals("194")[0].clone()
    };
    local.sandbox.fs.append_appeal(FsAppeal {
        changed_at: String::new(),
        ..appeal.clone()
    });
    poll_and_dispatch(&local).await;
    assert_eq!(
        local.dead_letter_depths().await.unwrap()["DispatchDlq"],
        0,
        "the appeal reached WISEflow"
    );

    let sweep = discover_and_archive(&local).await;
    eprintln!("sweep: {sweep}");
    assert_eq!(sweep["postponed"], 1, "the appealed thesis waits: {sweep}");

    let theses = store.all().await.unwrap();
    let by_status = flyt::thesis_store::count_by_status(&theses);
    eprintln!("theses: {by_status:?}");
    let all_sandbox: Vec<_> = local
        .sandbox
        .wiseflow
        .theses()
        .into_iter()
        .chain(local.sandbox.inspera.theses())
        .collect();
    assert_eq!(
        theses.len(),
        all_sandbox.len(),
        "every thesis discovered once"
    );
    let expected_failed = all_sandbox
        .iter()
        .filter(|t| {
            matches!(
                t.case,
                ThesisCase::MissingFile | ThesisCase::QuarantinedFile
            )
        })
        .count();
    let recent = all_sandbox
        .iter()
        .filter(|t| t.case == ThesisCase::RecentlyGraded)
        .count();
    assert_eq!(
        by_status.get("FAILED").copied().unwrap_or(0),
        expected_failed
    );
    assert_eq!(
        by_status.get("PENDING").copied().unwrap_or(0),
        recent + 1,
        "recently graded ones and the held one wait"
    );
    let archived = all_sandbox.len() - expected_failed - recent - 1;
    assert_eq!(by_status.get("ARCHIVED").copied().unwrap_or(0), archived);

    // Failed ones say why, and are parked with the reason.
    for thesis in theses.iter().filter(|t| t.status == ThesisStatus::Failed) {
        let reason = thesis.reason.clone().unwrap_or_default();
        assert!(
            reason.contains("missing (404)") || reason.contains("quarantine"),
            "{}: {reason}",
            thesis.thesis.id
        );
    }
    assert_eq!(
        local.dead_letter_depths().await.unwrap()["ThesisDlq"],
        expected_failed as u64
    );

    // Every manifest's checksums match the stored objects; one version of every object.
    let stored = versions(&local).await;
    assert!(stored.values().all(|v| *v == 1), "no duplicate objects");
    let manifests: Vec<String> = stored
        .keys()
        .filter(|k| k.ends_with("manifest.json"))
        .cloned()
        .collect();
    assert_eq!(
        manifests.len(),
        archived,
        "one manifest per archived thesis"
    );
    let mut listed = std::collections::BTreeSet::new();
    for key in &manifests {
        let manifest: Manifest = serde_json::from_slice(&object(&local, key).await).unwrap();
        for file in &manifest.files {
            let bytes = object(&local, &file.key).await;
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                file.sha256,
                "{}",
                file.key
            );
            listed.insert(file.key.clone());
        }
    }
    // Anything else is a file of a failed thesis, stored before its bad file was met: under a
    // prefix without a manifest, so it is never taken for an archived thesis.
    for key in stored.keys() {
        if key.ends_with("manifest.json") || listed.contains(key) {
            continue;
        }
        let prefix = &key[..key.find("/files/").expect("a file key")];
        assert!(
            !stored.contains_key(&format!("{prefix}/manifest.json")),
            "{key} is not in its thesis's manifest"
        );
    }

    // The appeal is withdrawn: the hold is released and the next sweep archives the thesis.
    local.sandbox.fs.append_appeal(FsAppeal {
        status: AppealStatus::Withdrawn,
        changed_at: String::new(),
        ..appeal
    });
    poll_and_dispatch(&local).await;
    let again = discover_and_archive(&local).await;
    assert_eq!(again["queued"], 1, "only the released thesis: {again}");
    assert_eq!(again["postponed"], 0);
    let after = versions(&local).await;
    assert!(after.values().all(|v| *v == 1), "still no duplicates");
    assert_eq!(
        after
            .keys()
            .filter(|k| k.ends_with("manifest.json"))
            .count(),
        archived + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invocations_killed_mid_archive_leave_nothing_duplicated_or_lost() {
    let local = appeals_platform(LocalOptions::default()).await;
    local.sandbox.inspera.submit_theses();
    assert!(
        local
            .sandbox
            .inspera
            .wait_for_webhooks(Duration::from_secs(120))
            .await
    );
    local.drain(Duration::from_secs(300), |_| {}).await.unwrap();
    let sweep = local
        .fire_schedule("ThesisArchiveFunction")
        .await
        .unwrap()
        .remove(0)
        .1;
    let queued = sweep["queued"].as_u64().unwrap();
    assert!(queued > 10, "{sweep}");
    // Archive invocations die part-way (the 12 MiB theses take longest); nothing they did is
    // acknowledged, so their messages come back and their claims lapse.
    let poller = local.poller("ThesisArchiveFunction");
    let mut killed = 0;
    for _ in 0..40 {
        if poller
            .poll_and_kill(Duration::from_millis(150))
            .await
            .unwrap()
            .killed
        {
            killed += 1;
        }
        if killed >= 3 {
            break;
        }
    }
    assert!(killed >= 2, "archive invocations were killed: {killed}");
    local.drain(Duration::from_secs(600), |_| {}).await.unwrap();

    let store = ThesisStore::new(local.aws.dynamodb.clone(), local.table("ThesesTable"));
    let by_status = flyt::thesis_store::count_by_status(&store.all().await.unwrap());
    let failed = by_status.get("FAILED").copied().unwrap_or(0) as u64;
    assert_eq!(
        by_status.get("ARCHIVED").copied().unwrap_or(0) as u64 + failed,
        queued,
        "every queued thesis archived or failed with a reason: {by_status:?}"
    );
    let stored = versions(&local).await;
    assert!(
        stored.values().all(|v| *v == 1),
        "no object written twice: {:?}",
        stored.iter().filter(|(_, v)| **v > 1).collect::<Vec<_>>()
    );
    assert_eq!(
        stored
            .keys()
            .filter(|k| k.ends_with("manifest.json"))
            .count() as u64,
        queued - failed
    );
}
