//! Appeals and explanations under injected faults: 5xx, lost answers (the work is done, the answer
//! comes too late) and 429s from FS, WISEflow and Inspera, and dispatch and return invocations
//! killed mid-batch. Still every case reaches its exam system once — no second Inspera
//! explanation request, no second reassessment flow — and every answer reaches FS once.

mod common;

use std::time::Duration;

use common::appeals::{answer, appeals_platform, assert_cases_exactly_once, poll_and_dispatch};
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
    let killed = kill_some(&local, "ExamDispatchFunction", 3).await;
    assert!(
        killed >= 2,
        "dispatch batches killed mid-invocation: {killed}"
    );
    local.drain(Duration::from_secs(900), |_| {}).await.unwrap();
    // Everything queued by now; later polls (as the schedule would make) add nothing new.
    poll_and_dispatch(&local).await;

    answer(&local).await;
    let killed_returns = kill_some(&local, "FsReturnFunction", 2).await;
    eprintln!("killed {killed} dispatch and {killed_returns} return batches");
    set_faults(&local, Faults::default());
    // Whatever a killed batch left comes back after the visibility timeout.
    local.drain(Duration::from_secs(900), |_| {}).await.unwrap();

    assert_cases_exactly_once(&local);
    let dead = local.dead_letter_depths().await.unwrap();
    assert!(dead.values().all(|d| *d == 0), "nothing parked: {dead:?}");
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
