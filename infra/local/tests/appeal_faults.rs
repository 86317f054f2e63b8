//! Appeals and explanations under injected faults: 5xx, lost answers (the work is done, the answer
//! comes too late) and 429s from FS, WISEflow and Inspera, dispatch and return invocations
//! killed mid-batch, and copies of delivered messages sent into both queues again. Still every
//! case reaches its exam system once — no second Inspera explanation request, no second
//! reassessment flow — and every answer is stored in FS once, each repeated post explained by a
//! lost answer or a killed batch.

mod common;

use std::time::Duration;

use common::appeals::{
    acknowledged_repeats, answer, appeals_platform, assert_cases_exactly_once, copy_waiting,
    poll_and_dispatch, send_copies, Repeats,
};
use flyt::appeals::{DispatchItem, ReturnItem};
use flyt::execution::ExecutionStore;
use flyt_local::{Local, LocalOptions};
use flyt_sandbox::Faults;

fn faults() -> Faults {
    Faults {
        error_rate: 0.1,
        timeout_rate: 0.1,
        timeout_delay_ms: 2_000,
        throttle_rate: 0.1,
        retry_after_secs: 1,
        down: false,
        error_message: None,
    }
}

fn set_faults(local: &Local, faults: Faults) {
    local.sandbox.fs.set_faults(faults.clone());
    local.sandbox.wiseflow.set_faults(faults.clone());
    local.sandbox.inspera.set_faults(faults);
}

/// Kills up to `wanted` invocations of a function mid-batch; returns how many were killed.
async fn kill_some(local: &Local, function: &str, wanted: usize) -> usize {
    let poller = local.poller(function);
    let mut killed = 0;
    for _ in 0..60 {
        if poller
            .poll_and_kill(Duration::from_millis(40))
            .await
            .unwrap()
            .killed
        {
            killed += 1;
        }
        if killed >= wanted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    killed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_and_killed_invocations_still_deliver_every_case_exactly_once() {
    let local = appeals_platform(LocalOptions::default()).await;
    set_faults(&local, faults());
    // FS is polled through its faults: a failed list is polled again by the next schedule.
    let mut polls = 0;
    loop {
        polls += 1;
        let reports = local.fire_schedule("FsPollFunction").await.unwrap();
        let failed = reports[0]
            .1
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "failed")
            .count();
        if failed == 0 || polls == 10 {
            break;
        }
    }
    // Copies of queued changes race their originals, as SQS may deliver a message twice.
    let dispatched = copy_waiting(&local, "DispatchQueue").await;
    assert!(!dispatched.is_empty(), "changes were queued");
    send_copies(&local, "DispatchQueue", &dispatched).await;
    let killed = kill_some(&local, "ExamDispatchFunction", 3).await;
    assert!(
        killed >= 2,
        "dispatch batches killed mid-invocation: {killed}"
    );
    local.drain(Duration::from_secs(900), |_| {}).await.unwrap();
    // Everything queued by now; later polls (as the schedule would make) add nothing new.
    poll_and_dispatch(&local).await;
    // A late redelivery of changes already applied: each acknowledged without a call.
    let before = acknowledged_repeats::<DispatchItem>(&local, &dispatched).await;
    send_copies(&local, "DispatchQueue", &dispatched).await;
    local.drain(Duration::from_secs(600), |_| {}).await.unwrap();
    let acknowledged = acknowledged_repeats::<DispatchItem>(&local, &dispatched).await - before;
    assert_eq!(
        acknowledged,
        dispatched.len() as u64,
        "late dispatch copies"
    );

    answer(&local).await;
    let returned = copy_waiting(&local, "ReturnQueue").await;
    assert!(!returned.is_empty(), "answers were queued");
    send_copies(&local, "ReturnQueue", &returned).await;
    // Faults stay on while fs-return drains: FS, WISEflow's PATCH and Inspera's reads all fail
    // now and then, and return batches are killed mid-invocation.
    let killed_returns = kill_some(&local, "FsReturnFunction", 2).await;
    eprintln!("killed {killed} dispatch and {killed_returns} return batches");
    assert!(
        killed_returns >= 1,
        "return batches killed mid-invocation: {killed_returns}"
    );
    // Whatever a killed batch left comes back after the visibility timeout.
    local.drain(Duration::from_secs(900), |_| {}).await.unwrap();
    let before = acknowledged_repeats::<ReturnItem>(&local, &returned).await;
    send_copies(&local, "ReturnQueue", &returned).await;
    local.drain(Duration::from_secs(600), |_| {}).await.unwrap();
    let acknowledged = acknowledged_repeats::<ReturnItem>(&local, &returned).await - before;
    assert_eq!(acknowledged, returned.len() as u64, "late return copies");
    set_faults(&local, Faults::default());

    assert_cases_exactly_once(
        &local,
        Repeats::Faults {
            killed_returns: killed_returns as u64,
        },
    );
    let dead = local.dead_letter_depths().await.unwrap();
    assert!(dead.values().all(|d| *d == 0), "nothing parked: {dead:?}");
    let depths = local.work_queue_depths().await.unwrap();
    assert!(
        depths.values().all(|d| *d == 0),
        "every copy consumed: {depths:?}"
    );
    assert!(
        local.sandbox.inspera.request_count() > 0 && local.sandbox.fs.request_count() > 0,
        "the systems were called"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_inspera_explanation_request_is_made_once_when_its_answers_are_lost() {
    let mut options = LocalOptions::default();
    options.sandbox.appeals_per_institution = 20;
    options.sandbox.explanations_per_institution = 60;
    let local = appeals_platform(options).await;
    // Half of Inspera's answers come too late: the request was made, the client never hears.
    local.sandbox.inspera.set_faults(Faults {
        timeout_rate: 0.5,
        timeout_delay_ms: 2_000,
        ..Faults::default()
    });
    let reports = poll_and_dispatch(&local).await;
    local.sandbox.inspera.set_faults(Faults::default());
    // A case that met lost answers on all five receives is parked, not lost: redriven once
    // Inspera answers again, it is found or requested — still once.
    let parked = local.redrive("DispatchDlq").await.unwrap();
    eprintln!("{parked} cases parked and redriven");
    local.drain(Duration::from_secs(600), |_| {}).await.unwrap();
    assert_eq!(local.sandbox.inspera.duplicate_explanation_requests(), 0);
    let executions =
        ExecutionStore::new(local.aws.dynamodb.clone(), local.table("ExecutionsTable"));
    let mut found_after_a_lost_answer = 0;
    for report in reports.as_array().unwrap() {
        if report["org_id"] == "uio" && report["kind"] == "begrunnelse" {
            let id = report["execution_id"].as_str().unwrap();
            let execution = executions.get(id).await.unwrap().unwrap();
            found_after_a_lost_answer += execution.count("explanation_already_requested");
        }
    }
    assert!(
        found_after_a_lost_answer > 0,
        "some requests were made, their answers lost, and found again instead of repeated"
    );
    let cases = common::appeals::explanation_cases(&local, "185");
    assert_eq!(local.sandbox.inspera.explanations().len(), cases.len());
}
