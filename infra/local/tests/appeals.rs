//! Appeals and explanation requests, FS ⇄ WISEflow and Inspera, end to end on the local platform:
//! every case reaches its exam system once, every answer reaches FS once, overlapping polls add
//! nothing, a bad case is parked with its reason and the rest go through, a misconfigured
//! institution fails alone, and a call slower than the claim lease is still made once.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::appeals::{
    acknowledged_repeats, answer_and_return, appeal_histories, appeals_platform,
    assert_cases_exactly_once, assert_fs_answers_once, assert_inspera_cases_once,
    assert_justifications_shown_once, assert_wiseflow_cases_once,
    assert_wiseflow_explanations_once, copy_waiting, poll_and_dispatch, send_copies, Repeats,
};
use flyt::appeals::DispatchItem;
use flyt::execution::{ExecutionStore, Status};
use flyt::thesis_store::{Hold, HoldKind, Holds};
use flyt_local::LocalOptions;
use flyt_sandbox::Faults;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_case_reaches_its_exam_system_and_every_answer_fs_exactly_once() {
    let local = appeals_platform(LocalOptions::default()).await;
    let reports = poll_and_dispatch(&local).await;
    eprintln!("fs-poll: {reports:#}");
    let queued: u64 = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["queued"].as_u64().unwrap())
        .sum();
    let changes = common::appeals::changes_in_fs(&local, &["185", "194"]);
    assert_eq!(
        queued as usize, changes,
        "every change in FS was queued once"
    );
    assert!(changes >= 400, "the scenario is large enough: {changes}");

    // A second poll over the same window queues nothing.
    let again = poll_and_dispatch(&local).await;
    assert!(
        again.as_array().unwrap().iter().all(|r| r["queued"] == 0),
        "overlapping poll queued again: {again}"
    );

    answer_and_return(&local).await;
    assert_cases_exactly_once(&local, Repeats::None);
    let dead = local.dead_letter_depths().await.unwrap();
    assert!(dead.values().all(|d| *d == 0), "nothing parked: {dead:?}");

    let executions =
        ExecutionStore::new(local.aws.dynamodb.clone(), local.table("ExecutionsTable"));
    for report in reports.as_array().unwrap() {
        let id = report["execution_id"].as_str().unwrap();
        let execution = executions.get(id).await.unwrap().unwrap();
        assert_eq!(execution.status(), Status::Ok, "{id}: {execution:?}");
        assert_eq!(
            execution.count("queued"),
            report["queued"].as_u64().unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_case_is_parked_with_its_reason_and_the_rest_go_through() {
    let local = appeals_platform(LocalOptions::default()).await;
    let template = local.sandbox.fs.appeals("185")[0].clone();
    local.sandbox.fs.append_appeal(flyt_sandbox::FsAppeal {
        candidate_number: String::new(),
        changed_at: String::new(),
        ..template
    });
    poll_and_dispatch(&local).await;
    let dead = local.dead_letter_depths().await.unwrap();
    assert_eq!(dead["DispatchDlq"], 1, "{dead:?}");
    let parked = local
        .aws
        .sqs
        .receive_message()
        .queue_url(&local.stack.queue("DispatchDlq").url)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    let attributes = parked[0].message_attributes().unwrap();
    assert_eq!(
        attributes["flyt-error-category"].string_value(),
        Some("Mapping")
    );
    let reason = attributes["flyt-error-reason"].string_value().unwrap();
    assert!(reason.contains("no kandidatnr"), "{reason}");
    // Everything else still reached the exam systems.
    let requested = local.sandbox.inspera.explanations().len();
    assert_eq!(
        requested,
        common::appeals::explanation_cases(&local, "185").len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_institution_switched_on_without_an_exam_system_instance_fails_alone() {
    let mut options = LocalOptions::default();
    let mut institutions = flyt_local::platform::sandbox_institutions(&options.sandbox);
    institutions.push(flyt::institution::InstitutionEntry {
        org_id: "ntnu".into(),
        org_short_name: Some("ntnu".into()),
        institusjonsnr: Some("194".into()),
        exam_system_instance: None,
        ..institutions[1].clone()
    });
    options.institutions = Some(institutions);
    let local = appeals_platform(options).await;
    let reports = poll_and_dispatch(&local).await;
    let reports = reports.as_array().unwrap();
    let failed: Vec<_> = reports.iter().filter(|r| r["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{reports:?}");
    assert_eq!(failed[0]["org_id"], "ntnu");
    let executions =
        ExecutionStore::new(local.aws.dynamodb.clone(), local.table("ExecutionsTable"));
    let id = failed[0]["execution_id"].as_str().unwrap();
    assert_eq!(
        executions.get(id).await.unwrap().unwrap().status(),
        Status::Ko
    );
    let lines = executions.lines(id).await.unwrap();
    assert_eq!(lines[0].category, Some(flyt::Category::Configuration));
    assert!(
        lines[0]
            .message
            .contains("institution ntnu: exam_system_instance is missing"),
        "{lines:?}"
    );
    let others: Vec<_> = reports.iter().filter(|r| r["org_id"] != "ntnu").collect();
    assert_eq!(
        others.len(),
        4,
        "both lists of both other institutions: {others:?}"
    );
    assert!(others
        .iter()
        .all(|r| r["status"] == "ok" && r["queued"].as_u64().unwrap() > 0));
    // …and what they queued reached their exam systems, each case once.
    assert_inspera_cases_once(&local, "185", Repeats::None);
    assert_wiseflow_cases_once(&local, "194", Repeats::None);
    let dead = local.dead_letter_depths().await.unwrap();
    assert!(dead.values().all(|d| *d == 0), "nothing parked: {dead:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appeals_to_a_wiseflow_without_the_reassessment_module_are_parked_naming_the_institution() {
    let mut options = LocalOptions::default();
    options.sandbox.appeals_per_institution = 30;
    options.sandbox.explanations_per_institution = 20;
    let local = appeals_platform(options).await;
    // uib (194) is the institution on WISEflow: its licence lacks the module, WISEflow says 403.
    local.sandbox.wiseflow.set_reassessment_module(false);
    poll_and_dispatch(&local).await;

    let dlq = &local.stack.queue("DispatchDlq").url;
    let mut parked: Vec<(String, String)> = Vec::new();
    loop {
        let messages = local
            .aws
            .sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .visibility_timeout(600)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            let attributes = message.message_attributes().unwrap();
            assert_eq!(
                attributes["flyt-error-category"].string_value(),
                Some("Configuration")
            );
            let reason = attributes["flyt-error-reason"].string_value().unwrap();
            assert!(
                reason.contains("institution uib")
                    && reason.contains("licence lacks the reassessment module")
                    && reason.contains("add the reassessment module"),
                "the reason names the institution and what to fix: {reason}"
            );
            let item: DispatchItem = serde_json::from_str(message.body().unwrap()).unwrap();
            assert_eq!(
                (item.org_id.as_str(), item.status.as_str()),
                ("uib", "AKTIV")
            );
            parked.push((item.vurd_id, item.kandidatnr));
        }
    }
    let histories = appeal_histories(&local, "194");
    let standing: BTreeSet<_> = histories
        .iter()
        .filter(|(_, h)| h.last() == Some(&flyt_sandbox::AppealStatus::Active))
        .map(|(case, _)| case.clone())
        .collect();
    let unique: BTreeSet<_> = parked.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        parked.len(),
        "each case parked once: {parked:?}"
    );
    assert!(
        standing.is_subset(&unique),
        "every standing appeal of uib parked: {} of {}",
        standing.intersection(&unique).count(),
        standing.len()
    );
    assert!(
        unique.iter().all(|case| histories.contains_key(case)),
        "only uib's appeals parked"
    );
    assert!(local.sandbox.wiseflow.reassessments().is_empty());
    // A parked appeal still holds the candidate's thesis back: fs-poll opened the hold when it
    // read the appeal, before the exam system refused it.
    let holds = Holds::new(local.aws.dynamodb.clone(), local.table("StateTable"));
    for (case, candidate) in &standing {
        let open = holds.open_for("uib", candidate).await.unwrap();
        let appeal = Hold {
            kind: HoldKind::Appeal,
            case: case.clone(),
        };
        assert!(open.contains(&appeal), "{case} holds: {open:?}");
    }
    // A withdrawn one does not: its withdrawal, applied in order, released what the poll opened.
    let mut withdrawn = 0;
    for (case, candidate) in histories.keys().filter(|key| !standing.contains(*key)) {
        let open = holds.open_for("uib", candidate).await.unwrap();
        assert!(
            open.iter()
                .all(|hold| hold.kind != HoldKind::Appeal || &hold.case != case),
            "{case} withdrawn, released: {open:?}"
        );
        withdrawn += 1;
    }
    assert!(withdrawn > 0, "the scenario withdraws some appeals");
    // Everything else went through, each case once.
    assert_wiseflow_explanations_once(&local, "194", Repeats::None);
    assert_inspera_cases_once(&local, "185", Repeats::None);
    let dead = local.dead_letter_depths().await.unwrap();
    let others: BTreeMap<_, _> = dead.iter().filter(|(q, _)| *q != "DispatchDlq").collect();
    assert!(others.values().all(|d| **d == 0), "{dead:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn justifications_are_shown_in_wiseflow_only_where_the_institution_says_so() {
    let mut options = LocalOptions::default();
    options.sandbox.appeals_per_institution = 15;
    options.sandbox.explanations_per_institution = 20;
    options
        .sandbox
        .institutions
        .push(flyt_sandbox::FsInstitution::new("186", "WISEFLOW"));
    let mut institutions = flyt_local::platform::sandbox_institutions(&options.sandbox);
    for entry in &mut institutions {
        if entry.org_id == "org186" {
            entry.show_justification = false;
        }
    }
    assert!(institutions
        .iter()
        .any(|i| i.org_id == "uib" && i.show_justification));
    options.institutions = Some(institutions);
    let local = appeals_platform(options).await;
    poll_and_dispatch(&local).await;
    answer_and_return(&local).await;

    assert_justifications_shown_once(&local, "194", true, Repeats::None);
    assert_justifications_shown_once(&local, "186", false, Repeats::None);
    assert_eq!(
        local.sandbox.wiseflow.justification_shown_count() as usize,
        common::appeals::explanation_cases(&local, "194").len()
    );
    assert_fs_answers_once(&local, &["185", "194", "186"], Repeats::None);
    let dead = local.dead_letter_depths().await.unwrap();
    assert!(dead.values().all(|d| *d == 0), "nothing parked: {dead:?}");
}

/// Both exam systems answer every call 5 s late (each case takes three to five calls), the claim
/// lease is 6 s, and while the first invocation's calls are in flight, past the lease, a second
/// delivery of every case is polled. The heartbeat keeps
/// the first invocation's claims, so the second finds every case busy and calls nobody; each case
/// reaches its exam system once, its copy is acknowledged as already applied, nothing is parked.
/// (Without the heartbeat the claims lapse at 6 s and the second invocation calls again.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_slower_than_the_claim_lease_is_made_once() {
    let mut options = LocalOptions::default();
    options.sandbox.appeals_per_institution = 0;
    options.sandbox.explanations_per_institution = 4;
    // Deliberately outside the budget: one call outlasts the lease, and the Lambda timeout is long
    // enough for the slow calls. Every item starts at once.
    for (name, value) in [
        ("CLAIM_LEASE_SECONDS", "6"),
        ("HTTP_TIMEOUT_MS", "30000"),
        ("DISPATCH_CONCURRENCY", "10"),
    ] {
        options.env.insert(name.to_owned(), value.to_owned());
    }
    options.function_timeout = Some(60);
    let local = appeals_platform(options).await;
    local
        .fire_schedule("FsPollFunction")
        .await
        .expect("fs-poll runs");
    let cases = copy_waiting(&local, "DispatchQueue").await;
    assert_eq!(cases.len(), 8, "4 explanation requests at each institution");
    let slow = Faults {
        timeout_rate: 1.0,
        timeout_delay_ms: 5_000,
        ..Faults::default()
    };
    local.sandbox.wiseflow.set_faults(slow.clone());
    local.sandbox.inspera.set_faults(slow);

    let poller = local.poller("ExamDispatchFunction");
    let first = tokio::spawn({
        let poller = poller.clone();
        async move { poller.poll_once().await }
    });
    // Past the lease: only renewals keep the first invocation's claims.
    tokio::time::sleep(std::time::Duration::from_millis(7_500)).await;
    send_copies(&local, "DispatchQueue", &cases).await;
    let second = poller.poll_once().await.expect("the second poll runs");
    assert_eq!(
        (second.received, second.failed),
        (8, 8),
        "the copies arrived while the first calls were in flight and found every case busy"
    );
    let first = first.await.unwrap().expect("the first poll runs");
    assert_eq!((first.received, first.failed, first.killed), (8, 0, false));

    local.sandbox.wiseflow.set_faults(Faults::default());
    local.sandbox.inspera.set_faults(Faults::default());
    local
        .drain(std::time::Duration::from_secs(300), |_| {})
        .await
        .expect("the copies come back and drain");
    assert_wiseflow_explanations_once(&local, "194", Repeats::None);
    assert_inspera_cases_once(&local, "185", Repeats::None);
    assert_eq!(
        acknowledged_repeats::<DispatchItem>(&local, &cases).await,
        8,
        "every copy acknowledged without a call"
    );
    let dead = local.dead_letter_depths().await.unwrap();
    assert!(dead.values().all(|d| *d == 0), "nothing parked: {dead:?}");
}
