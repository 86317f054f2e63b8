//! Master theses end to end on the local platform: Inspera pushes (signed webhooks), WISEflow is
//! polled; every due thesis is archived exactly once with a manifest whose checksums match the
//! stored objects; none before its deadline; an open appeal postpones and its withdrawal releases;
//! an explanation request postpones and its answer releases; an Inspera appeal decision and a
//! graded WISEflow reassessment release their own case only; an ungraded thesis is registered,
//! waits until it is graded, then is archived once; a redelivered message of a held or not yet due
//! thesis archives nothing; a missing or quarantined file fails only its thesis, with the reason;
//! an invocation killed mid-archive leaves nothing duplicated.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::appeals::{answer_and_return, appeals_platform, poll_and_dispatch};
use common::archive::{stored_bytes, versions};
use flyt::archive::{Manifest, ThesisMessage};
use flyt::thesis_store::{HoldKind, Holds, StoredThesis, ThesisStatus, ThesisStore};
use flyt_local::{Local, LocalOptions};
use flyt_sandbox::{
    AppealStatus, FsAppeal, SandboxOptions, SandboxThesis, ThesisCase, ThesisGrading,
};
use sha2::{Digest, Sha256};

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

/// A platform whose theses can be graded later through `grading`.
async fn thesis_platform(grading: &ThesisGrading, mut options: LocalOptions) -> Local {
    options.sandbox = SandboxOptions {
        thesis_grading: grading.clone(),
        ..options.sandbox
    };
    appeals_platform(options).await
}

/// Every thesis of both exam systems in the sandbox.
fn sandbox_theses(local: &Local) -> Vec<SandboxThesis> {
    local
        .sandbox
        .wiseflow
        .theses()
        .into_iter()
        .chain(local.sandbox.inspera.theses())
        .collect()
}

/// The stored thesis of a sandbox thesis (by its candidate number, unique per exam system).
async fn stored_thesis(store: &ThesisStore, thesis: &SandboxThesis) -> StoredThesis {
    let system = if thesis.flow_id.is_some() {
        "#wiseflow#"
    } else {
        "#inspera#"
    };
    let found: Vec<StoredThesis> = store
        .all()
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.thesis.kandidatnr == thesis.candidate_number && t.thesis.id.contains(system))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{} registered once",
        thesis.candidate_number
    );
    found.into_iter().next().unwrap()
}

/// Manifests under the archive prefix of a candidate.
fn manifests_of(versions: &BTreeMap<String, usize>, kandidatnr: &str) -> usize {
    versions
        .keys()
        .filter(|k| k.ends_with(&format!("/{kandidatnr}/manifest.json")))
        .count()
}

/// An open appeal of a thesis, appended to FS.
fn appeal_of(local: &Local, thesis: &SandboxThesis, status: AppealStatus) -> FsAppeal {
    local.sandbox.fs.append_appeal(FsAppeal {
        assessment_id: thesis.assessment_id.clone(),
        candidate_number: thesis.candidate_number.clone(),
        institution: thesis.institution.clone(),
        sis_code: thesis.sis_code.clone(),
        status,
        changed_at: String::new(),
        ..local.sandbox.fs.appeals(&thesis.institution)[0].clone()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_due_thesis_is_archived_exactly_once_and_none_early() {
    let grading = ThesisGrading::default();
    let local = thesis_platform(&grading, LocalOptions::default()).await;
    let store = ThesisStore::new(local.aws.dynamodb.clone(), local.table("ThesesTable"));
    let holds = Holds::new(local.aws.dynamodb.clone(), local.table("StateTable"));

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
    let all_sandbox = sandbox_theses(&local);
    let count = |case: ThesisCase| all_sandbox.iter().filter(|t| t.case == case).count();
    // The explanation request of each ExplanationRequested thesis's candidate was dispatched too.
    let explained = count(ThesisCase::ExplanationRequested);
    let ungraded = count(ThesisCase::Ungraded);
    assert_eq!((explained, ungraded), (2, 2), "one of each per exam system");
    assert_eq!(
        sweep["postponed"],
        1 + explained,
        "the appealed thesis and those with an explanation request wait: {sweep}"
    );
    assert_eq!(sweep["awaiting_grade"], ungraded, "{sweep}");

    let theses = store.all().await.unwrap();
    let by_status = flyt::thesis_store::count_by_status(&theses);
    eprintln!("theses: {by_status:?}");
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
    let recent = count(ThesisCase::RecentlyGraded);
    assert_eq!(
        by_status.get("FAILED").copied().unwrap_or(0),
        expected_failed
    );
    let waiting = recent + ungraded + explained + 1;
    let pending_cases: Vec<(String, ThesisCase)> = theses
        .iter()
        .filter(|t| t.status == ThesisStatus::Pending)
        .map(|t| {
            let case = all_sandbox
                .iter()
                .find(|s| s.candidate_number == t.thesis.kandidatnr)
                .map(|s| s.case)
                .unwrap();
            (t.thesis.id.clone(), case)
        })
        .collect();
    assert_eq!(
        by_status.get("PENDING").copied().unwrap_or(0),
        waiting,
        "recently graded, ungraded and held ones wait: {pending_cases:?}"
    );
    for thesis in all_sandbox
        .iter()
        .filter(|t| t.case == ThesisCase::Ungraded)
    {
        let stored = stored_thesis(&store, thesis).await;
        assert_eq!(stored.status, ThesisStatus::Pending);
        assert_eq!(
            (stored.thesis.graded_at, stored.thesis.due_at_ms),
            (None, None),
            "registered, awaiting grading"
        );
    }
    let archived = all_sandbox.len() - expected_failed - waiting;
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
    let stored = versions(&local, "").await;
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
        let manifest: Manifest = serde_json::from_slice(&stored_bytes(&local, key).await).unwrap();
        for file in &manifest.files {
            let bytes = stored_bytes(&local, &file.key).await;
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
    assert_eq!(
        again["postponed"], explained,
        "the explanation requests are open"
    );
    let after = versions(&local, "").await;
    assert!(after.values().all(|v| *v == 1), "still no duplicates");
    assert_eq!(
        after
            .keys()
            .filter(|k| k.ends_with("manifest.json"))
            .count(),
        archived + 1
    );

    // The ungraded theses are graded (40 days ago, so they are due): the sweep reads the grade
    // from each exam system by id, outside the discovery window, and archives them.
    let graded_at = chrono::Utc::now() - chrono::Duration::days(40);
    for thesis in all_sandbox
        .iter()
        .filter(|t| t.case == ThesisCase::Ungraded)
    {
        grading.grade(&thesis.candidate_number, graded_at);
    }
    let graded = discover_and_archive(&local).await;
    assert_eq!(graded["graded"], ungraded, "{graded}");
    assert_eq!(graded["awaiting_grade"], 0, "{graded}");
    assert_eq!(graded["queued"], ungraded, "only the graded ones: {graded}");

    // The explanation requests are answered (Inspera's by webhook, WISEflow's by its poll) and
    // registered in FS: their holds are released, and the next sweep archives those theses.
    answer_and_return(&local).await;
    let mut still_held = 0;
    for thesis in all_sandbox
        .iter()
        .filter(|t| t.case == ThesisCase::ExplanationRequested)
    {
        let org = stored_thesis(&store, thesis).await.thesis.org_id;
        let open = holds
            .open_for(&org, &thesis.candidate_number)
            .await
            .unwrap();
        assert!(
            open.iter().all(|h| h.kind != HoldKind::Explanation),
            "the answers released every explanation hold: {open:?}"
        );
        // FS may also have an appeal of that candidate whose decision WISEflow never gave.
        still_held += usize::from(!open.is_empty());
    }
    let answered = discover_and_archive(&local).await;
    assert_eq!(answered["queued"], explained - still_held, "{answered}");
    assert_eq!(answered["postponed"], still_held, "{answered}");
    let last = discover_and_archive(&local).await;
    assert_eq!(last["queued"], 0, "nothing is queued twice: {last}");

    let by_status = flyt::thesis_store::count_by_status(&store.all().await.unwrap());
    let total_archived = archived + 1 + ungraded + explained - still_held;
    assert_eq!(
        by_status.get("ARCHIVED").copied().unwrap_or(0),
        total_archived
    );
    assert_eq!(
        by_status.get("PENDING").copied().unwrap_or(0),
        recent + still_held
    );
    let end = versions(&local, "").await;
    assert!(end.values().all(|v| *v == 1), "one version of every object");
    assert_eq!(
        end.keys().filter(|k| k.ends_with("manifest.json")).count(),
        total_archived
    );
    for thesis in all_sandbox
        .iter()
        .filter(|t| t.case == ThesisCase::Ungraded)
    {
        assert_eq!(
            manifests_of(&end, &thesis.candidate_number),
            1,
            "archived once"
        );
        assert_eq!(
            stored_thesis(&store, thesis).await.status,
            ThesisStatus::Archived
        );
    }
}

/// Sends a thesis's archive message to the thesis queue, as a retry or a DLQ redrive would.
async fn redeliver(local: &Local, thesis_id: &str) {
    let body = serde_json::to_string(&ThesisMessage::Archive {
        thesis_id: thesis_id.to_owned(),
        execution_id: String::new(),
        queued_at_ms: chrono::Utc::now().timestamp_millis() as u64,
        shadow: false,
    })
    .unwrap();
    local
        .aws
        .sqs
        .send_message()
        .queue_url(&local.stack.queue("ThesisQueue").url)
        .message_body(body)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn holds_are_per_case_and_released_by_their_own_source_and_none_is_archived_early() {
    // The explanation deadline (30 days) is later than the appeal deadline (21 days).
    let grading = ThesisGrading::default();
    let mut options = LocalOptions::default();
    options
        .env
        .insert("EXPLANATION_WINDOW_DAYS".into(), "30".into());
    let local = thesis_platform(&grading, options).await;
    let store = ThesisStore::new(local.aws.dynamodb.clone(), local.table("ThesesTable"));
    let holds = Holds::new(local.aws.dynamodb.clone(), local.table("StateTable"));
    let all_sandbox = sandbox_theses(&local);
    let first = |system: &str, case: ThesisCase| {
        all_sandbox
            .iter()
            .find(|t| t.exam_system == system && t.case == case)
            .unwrap()
            .clone()
    };
    // Inspera: the candidate of the thesis whose candidate has an explanation request in FS
    // appeals that same exam too (Inspera's sandbox lists a thesis exam appealed in FS twice, so
    // the appeal is of the other exam). WISEflow: a candidate appeals the thesis exam.
    let inspera_appealed = first("INSPERA", ThesisCase::ExplanationRequested);
    let request = local
        .sandbox
        .fs
        .explanation_requests(&inspera_appealed.institution)
        .into_iter()
        .find(|r| r.candidate_number == inspera_appealed.candidate_number)
        .expect("FS's explanation request of the candidate");
    let inspera_case = request.assessment_id.clone();
    appeal_of(
        &local,
        &SandboxThesis {
            assessment_id: request.assessment_id,
            sis_code: request.sis_code,
            ..inspera_appealed.clone()
        },
        AppealStatus::Active,
    );
    let wiseflow_appealed = first("WISEFLOW", ThesisCase::Ordinary);
    let between_deadlines = first("WISEFLOW", ThesisCase::Ungraded);
    appeal_of(&local, &wiseflow_appealed, AppealStatus::Active);
    poll_and_dispatch(&local).await;
    assert_eq!(
        local.dead_letter_depths().await.unwrap()["DispatchDlq"],
        0,
        "both appeals reached their exam systems"
    );
    let sweep = discover_and_archive(&local).await;
    eprintln!("sweep: {sweep}");
    assert_eq!(
        sweep["awaiting_grade"], 2,
        "one ungraded thesis per system: {sweep}"
    );
    // The WISEflow ungraded thesis is graded 25 days ago: past the appeal deadline, before the
    // explanation deadline. The next sweep reads the grade by id.
    grading.grade(
        &between_deadlines.candidate_number,
        chrono::Utc::now() - chrono::Duration::days(25),
    );
    let regraded = discover_and_archive(&local).await;
    assert_eq!(regraded["graded"], 1, "the WISEflow one: {regraded}");
    assert_eq!(
        regraded["awaiting_grade"], 1,
        "Inspera's is still ungraded: {regraded}"
    );

    let inspera_org = stored_thesis(&store, &inspera_appealed).await.thesis.org_id;
    // The candidate also has an appeal of another exam open: deciding the thesis's appeal must
    // not release it.
    holds
        .open(
            &inspera_org,
            &inspera_appealed.candidate_number,
            HoldKind::Appeal,
            "another-exam",
        )
        .await
        .unwrap();
    let between = stored_thesis(&store, &between_deadlines).await;
    assert_eq!(between.status, ThesisStatus::Pending);
    let due = between.thesis.due_at_ms.expect("graded now");
    assert!(
        due > chrono::Utc::now().timestamp_millis(),
        "due after the later (explanation) deadline"
    );
    for thesis in [&inspera_appealed, &wiseflow_appealed] {
        assert_eq!(
            stored_thesis(&store, thesis).await.status,
            ThesisStatus::Pending
        );
    }
    // Redelivered archive messages (a retry, a redrive) of a held and a not yet due thesis: each
    // is settled as postponed (not parked), never archived and never marked failed.
    let parked_before = local.dead_letter_depths().await.unwrap()["ThesisDlq"];
    for thesis in [&wiseflow_appealed, &between_deadlines] {
        let id = stored_thesis(&store, thesis).await.thesis.id;
        redeliver(&local, &id).await;
    }
    local.drain(Duration::from_secs(600), |_| {}).await.unwrap();
    assert_eq!(
        local.dead_letter_depths().await.unwrap()["ThesisDlq"],
        parked_before,
        "a postponed message is settled, not parked"
    );
    let stored_now = versions(&local, "").await;
    for thesis in [&wiseflow_appealed, &between_deadlines] {
        assert_eq!(
            stored_thesis(&store, thesis).await.status,
            ThesisStatus::Pending
        );
        assert!(
            !stored_now
                .keys()
                .any(|k| k.contains(&format!("/{}/", thesis.candidate_number))),
            "nothing of {} is stored",
            thesis.candidate_number
        );
    }

    // Inspera decides the appeals (webhooks → fs-return): that case is released; the explanation
    // request of the same exam and the other exam's appeal still hold the thesis.
    let open_cases = |open: Vec<flyt::thesis_store::Hold>| {
        open.iter()
            .map(ToString::to_string)
            .collect::<std::collections::BTreeSet<_>>()
    };
    let before = open_cases(
        holds
            .open_for(&inspera_org, &inspera_appealed.candidate_number)
            .await
            .unwrap(),
    );
    for case in [
        format!("appeal#{inspera_case}"),
        format!("explanation#{inspera_case}"),
        "appeal#another-exam".to_owned(),
    ] {
        assert!(before.contains(&case), "{case} open: {before:?}");
    }
    assert!(local.sandbox.inspera.decide_appeals() >= 1);
    assert!(
        local
            .sandbox
            .inspera
            .wait_for_webhooks(Duration::from_secs(120))
            .await
    );
    local.drain(Duration::from_secs(300), |_| {}).await.unwrap();
    let after_decision = open_cases(
        holds
            .open_for(&inspera_org, &inspera_appealed.candidate_number)
            .await
            .unwrap(),
    );
    assert!(
        !after_decision.contains(&format!("appeal#{inspera_case}")),
        "the decided appeal was released: {after_decision:?}"
    );
    assert!(after_decision.contains("appeal#another-exam"));
    assert!(after_decision.contains(&format!("explanation#{inspera_case}")));
    let decided = discover_and_archive(&local).await;
    assert_eq!(
        stored_thesis(&store, &inspera_appealed).await.status,
        ThesisStatus::Pending,
        "{decided}"
    );
    // Inspera gives the explanations (webhooks → fs-return registers them in FS): released.
    assert!(local.sandbox.inspera.give_explanations() >= 1);
    assert!(
        local
            .sandbox
            .inspera
            .wait_for_webhooks(Duration::from_secs(120))
            .await
    );
    local.drain(Duration::from_secs(300), |_| {}).await.unwrap();
    let after_answer = open_cases(
        holds
            .open_for(&inspera_org, &inspera_appealed.candidate_number)
            .await
            .unwrap(),
    );
    assert_eq!(
        after_answer,
        ["appeal#another-exam".to_owned()].into(),
        "the answered explanation was released"
    );
    holds
        .release(
            &inspera_org,
            &inspera_appealed.candidate_number,
            HoldKind::Appeal,
            "another-exam",
        )
        .await
        .unwrap();

    // WISEflow grades the candidate's reassessment: the sweep asks, releases the appeal, and the
    // thesis is archived together with the Inspera one.
    grading.grade_reassessment(&wiseflow_appealed.candidate_number, chrono::Utc::now());
    let released = discover_and_archive(&local).await;
    eprintln!("released: {released}");
    assert_eq!(released["released"], 1, "{released}");
    let end = versions(&local, "").await;
    assert!(end.values().all(|v| *v == 1), "one version of every object");
    for thesis in [&inspera_appealed, &wiseflow_appealed] {
        assert_eq!(
            stored_thesis(&store, thesis).await.status,
            ThesisStatus::Archived
        );
        assert_eq!(manifests_of(&end, &thesis.candidate_number), 1);
    }
    assert_eq!(
        stored_thesis(&store, &between_deadlines).await.status,
        ThesisStatus::Pending,
        "still before its explanation deadline"
    );
    assert_eq!(manifests_of(&end, &between_deadlines.candidate_number), 0);
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
    let stored = versions(&local, "").await;
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

/// Cutover of the archive: both institutions in shadow mode. Every due thesis's archiving is
/// recorded once ("shadow: would archive ...", with what the archive holds), and nothing is
/// written to the archive or marked in the thesis store. Switched to live, every due thesis is
/// archived exactly once: the shadow claims do not block the live run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shadow_institutions_archive_nothing_record_each_thesis_once_and_go_live_once() {
    let local = thesis_platform(&ThesisGrading::default(), LocalOptions::default()).await;
    common::set_mode(&local, &["uio", "uib"], "shadow").await;
    let first = discover_and_archive(&local).await;
    // A second sweep queues the same due theses again; their intents are not recorded twice.
    local.fire_schedule("ThesisArchiveFunction").await.unwrap();
    local.drain(Duration::from_secs(600), |_| {}).await.unwrap();

    assert!(
        versions(&local, "").await.is_empty(),
        "nothing written to the archive in shadow"
    );
    let store = ThesisStore::new(local.aws.dynamodb.clone(), local.table("ThesesTable"));
    let theses = store.all().await.unwrap();
    assert!(
        theses.iter().all(|t| t.status == ThesisStatus::Pending),
        "no thesis marked archived or failed in shadow"
    );
    let (intended, lines) =
        common::shadow_intents(&local, &["thesis-archive"], "shadow: would archive ").await;
    let due = first["due"].as_u64().unwrap();
    assert!(due > 0, "{first}");
    assert_eq!(lines.len() as u64, intended, "one line per intent");
    assert_eq!(intended, due, "each due thesis recorded once: {lines:#?}");
    assert!(lines
        .iter()
        .all(|line| line.contains("; the archive holds nothing of it yet")));
    assert!(
        lines
            .iter()
            .any(|line| line.contains("in quarantine, so the live run would fail it")),
        "the quarantined thesis's intent says the live run would fail it: {lines:#?}"
    );
    let ordinary: Vec<SandboxThesis> = sandbox_theses(&local)
        .into_iter()
        .filter(|t| t.case == ThesisCase::Ordinary)
        .collect();
    for thesis in &ordinary {
        let id = stored_thesis(&store, thesis).await.thesis.id;
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("shadow: would archive {id}: "))),
            "no intent for {id}"
        );
    }

    common::set_mode(&local, &["uio", "uib"], "live").await;
    local.fire_schedule("ThesisArchiveFunction").await.unwrap();
    local.drain(Duration::from_secs(600), |_| {}).await.unwrap();
    let archived = versions(&local, "").await;
    for thesis in &ordinary {
        assert_eq!(
            manifests_of(&archived, &thesis.candidate_number),
            1,
            "{} archived once after going live",
            thesis.candidate_number
        );
        assert_eq!(
            stored_thesis(&store, thesis).await.status,
            ThesisStatus::Archived
        );
    }
    assert!(
        archived.values().all(|&count| count == 1),
        "no object written twice: {archived:?}"
    );
}
