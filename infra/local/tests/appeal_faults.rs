//! Appeals and explanations under injected faults: 5xx, lost answers (the work is done, the answer
//! comes too late) and 429s from FS, WISEflow and Inspera, dispatch and return invocations
//! killed mid-batch, and copies of delivered messages sent into both queues again. Still every
//! case reaches its exam system once — no second Inspera explanation request, no second
//! reassessment flow — and every answer is stored in FS once, each repeated post explained by a
//! lost answer or a killed batch. And credentials rotated while the functions run: FS's password
//! and the exam systems' API keys are picked up after a refusal (one read of each secret, none
//! more in a storm of refusals) or after the secrets' TTL (no refusal at all).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::appeals::{
    acknowledged_repeats, answer, appeals_platform, assert_cases_exactly_once,
    assert_inspera_cases_once, assert_wiseflow_cases_once, copy_waiting, poll_and_dispatch,
    send_copies, Repeats,
};
use common::secrets::{
    create_secret, emulator_clients, put_secret, rotate_entries, secret_id, secret_reads,
};
use flyt::appeals::{DispatchItem, RequestKind, ReturnItem};
use flyt::aws::RequestCounter;
use flyt::connections::Connections;
use flyt::execution::ExecutionStore;
use flyt::institution::{ExamSystem, Institution};
use flyt::retry::RetryPolicy;
use flyt::secrets::Refresh;
use flyt_local::platform::{exam_instance, sandbox_institutions};
use flyt_local::{Local, LocalOptions};
use flyt_sandbox::{Faults, Sandbox, SandboxOptions};
use serde_json::{json, Value};

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

/// The appeals platform with fewer cases, for the rotation tests.
async fn small_appeals_platform() -> Local {
    let mut options = LocalOptions::default();
    options.sandbox.appeals_per_institution = 20;
    options.sandbox.explanations_per_institution = 20;
    appeals_platform(options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotated_fs_and_exam_system_credentials_are_read_again_once_per_secret_after_a_refusal() {
    let local = small_appeals_platform().await;
    let reads = secret_reads(&local.handler_requests);
    // The operator rotates every credential: in FS, WISEflow and Inspera, and in both secrets.
    let fs_secret = secret_id(&local, "FsPollFunction", "FS_SECRET_ID");
    let exam_secret = secret_id(&local, "FsPollFunction", "EXAM_SYSTEMS_SECRET_ID");
    rotate_entries(&local, &fs_secret, "password", "rotated-fs-password").await;
    rotate_entries(&local, &exam_secret, "api_key", "rotated-exam-key").await;
    local.sandbox.fs.set_password("rotated-fs-password");
    local.sandbox.wiseflow.set_api_key("rotated-exam-key");
    local.sandbox.inspera.set_api_key("rotated-exam-key");

    // fs-poll reads its four lists concurrently with the old password: FS refuses them, the FS
    // secret is read once, and every list is read with the new password.
    let polled = local.fire_schedule("FsPollFunction").await.unwrap();
    let reports = polled[0].1.as_array().unwrap();
    assert!(
        reports.iter().all(|r| r["status"] == "ok"),
        "every list polled: {reports:?}"
    );
    let queued: u64 = reports.iter().map(|r| r["queued"].as_u64().unwrap()).sum();
    let changes = common::appeals::changes_in_fs(&local, &["185", "194"]);
    assert_eq!(
        queued as usize, changes,
        "every change in FS was queued once"
    );
    assert_eq!(
        secret_reads(&local.handler_requests) - reads,
        1,
        "one read of the FS secret"
    );

    // Right after, FS refuses again (its password changed, the secret did not): within the
    // re-read interval the secret is not read again, and the lists fail as they always did.
    local.sandbox.fs.set_password("changed-in-fs-only");
    let refused = local.fire_schedule("FsPollFunction").await.unwrap();
    for report in refused[0].1.as_array().unwrap() {
        assert_eq!(report["status"], "failed", "{report}");
        let error = report["error"].as_str().unwrap();
        assert!(error.contains("answered 401"), "{error}");
        assert!(!error.contains("changed-in-fs-only") && !error.contains("rotated-fs-password"));
    }
    assert_eq!(
        secret_reads(&local.handler_requests) - reads,
        1,
        "a storm of refusals reads the secret no more than once per interval"
    );

    // exam-dispatch holds the old key of both exam systems: WISEflow refuses its calls and
    // Inspera its token request; one read of the exam-systems secret serves both.
    local
        .drain(Duration::from_secs(600), |_| {})
        .await
        .expect("the dispatch queue drains");
    assert_inspera_cases_once(&local, "185", Repeats::None);
    assert_wiseflow_cases_once(&local, "194", Repeats::None);
    let dead = local.dead_letter_depths().await.unwrap();
    assert!(dead.values().all(|d| *d == 0), "nothing parked: {dead:?}");
    assert_eq!(
        secret_reads(&local.handler_requests) - reads,
        2,
        "one read of the FS secret, one of the exam-systems secret"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotated_fs_wiseflow_and_inspera_credentials_are_used_after_the_ttl_without_a_refusal() {
    // Inspera's tokens live a second, so the client needs a new one after the TTL.
    let options = SandboxOptions {
        objects: 0,
        descriptions: 0,
        appeals_per_institution: 20,
        explanations_per_institution: 20,
        inspera_token_ttl_secs: 1,
        ..SandboxOptions::default()
    };
    let sandbox = Sandbox::start(options.clone())
        .await
        .expect("sandbox starts");
    let counter = RequestCounter::default();
    let (counted, plain) = emulator_clients(&counter).await;
    let fs_secret = create_secret(
        &plain.secrets,
        &fs_entries(&sandbox, &options, &options.fs_password),
    )
    .await;
    let exam_secret = create_secret(
        &plain.secrets,
        &exam_entries(
            &sandbox,
            &options,
            &options.wiseflow_api_key,
            &options.inspera_api_key,
        ),
    )
    .await;
    let ttl = Duration::from_secs(2);
    let connections = Connections::load(
        &counted.secrets,
        Refresh {
            ttl,
            ..Refresh::default()
        },
        Some(&fs_secret),
        Some(&exam_secret),
        &flyt::http::client(Duration::from_secs(5)),
        &RetryPolicy::default(),
    )
    .await
    .expect("the secrets load");
    let institutions: HashMap<String, Institution> = sandbox_institutions(&options)
        .iter()
        .map(|entry| {
            let institution = entry.check().unwrap();
            (institution.institusjonsnr.clone(), institution)
        })
        .collect();
    let (uio, uib) = (&institutions["185"], &institutions["194"]);
    let vurd_id = sandbox.fs.appeals("185")[0].assessment_id.clone();
    let flow_id = sandbox.wiseflow.flows()[0].id;
    let fs = || async {
        let fs = connections.fs(uio).unwrap();
        fs.changes(
            RequestKind::Klage,
            ExamSystem::Inspera,
            "185",
            "2020-01-01T00:00:00",
        )
        .await
        .expect("FS answers");
    };
    let inspera = || async {
        let inspera = connections.inspera(&uio.exam_system_instance).unwrap();
        inspera.find_test(&vurd_id).await.expect("Inspera answers");
    };
    let wiseflow = || async {
        let wiseflow = connections.wiseflow(uib).unwrap();
        let requests = wiseflow.explanation_requests(flow_id).await;
        requests.expect("WISEflow answers");
    };
    fs().await;
    inspera().await;
    wiseflow().await;

    // FS's password and Inspera's key rotated in the secrets and the systems; the clients hold the
    // old values until the TTL has passed, then read each secret once and are refused nothing.
    let password = "rotated-fs-password";
    let inspera_key = "rotated-inspera-key";
    put_secret(
        &plain.secrets,
        &fs_secret,
        &fs_entries(&sandbox, &options, password),
    )
    .await;
    let exam = exam_entries(&sandbox, &options, &options.wiseflow_api_key, inspera_key);
    put_secret(&plain.secrets, &exam_secret, &exam).await;
    sandbox.fs.set_password(password);
    sandbox.inspera.set_api_key(inspera_key);
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    let reads = secret_reads(&counter);
    let before = requests(&sandbox);
    fs().await;
    inspera().await;
    let after = requests(&sandbox);
    assert_eq!(
        delta(before, after),
        (1, 0, 2, 1),
        "one request to FS, a token and a request to Inspera: no refusal, no repeat"
    );
    assert_eq!(secret_reads(&counter) - reads, 2, "each secret read once");

    // Then WISEflow's key, on its own: its client, too, takes the new key after the TTL.
    let wiseflow_key = "rotated-wiseflow-key";
    let exam = exam_entries(&sandbox, &options, wiseflow_key, inspera_key);
    put_secret(&plain.secrets, &exam_secret, &exam).await;
    sandbox.wiseflow.set_api_key(wiseflow_key);
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    let reads = secret_reads(&counter);
    let before = requests(&sandbox);
    wiseflow().await;
    let after = requests(&sandbox);
    assert_eq!(
        delta(before, after),
        (0, 1, 0, 0),
        "one request to WISEflow"
    );
    assert_eq!(
        secret_reads(&counter) - reads,
        1,
        "the exam-systems secret read once"
    );
}

/// Requests each sandbox system received: FS, WISEflow, Inspera (all), Inspera's token route.
fn requests(sandbox: &Sandbox) -> (u64, u64, u64, u64) {
    (
        sandbox.fs.request_count(),
        sandbox.wiseflow.request_count(),
        sandbox.inspera.request_count(),
        sandbox.inspera.token_requests(),
    )
}

fn delta(before: (u64, u64, u64, u64), after: (u64, u64, u64, u64)) -> (u64, u64, u64, u64) {
    (
        after.0 - before.0,
        after.1 - before.1,
        after.2 - before.2,
        after.3 - before.3,
    )
}

/// The FS secret: the sandbox's FS as environment `test`, with `password`.
fn fs_entries(sandbox: &Sandbox, options: &SandboxOptions, password: &str) -> Value {
    json!({"test": {"url": sandbox.fs_url, "username": options.fs_username, "password": password}})
}

/// The exam-systems secret: an entry per sandbox institution, with these keys.
fn exam_entries(
    sandbox: &Sandbox,
    options: &SandboxOptions,
    wiseflow_key: &str,
    inspera_key: &str,
) -> Value {
    let mut entries = serde_json::Map::new();
    for institution in &options.institutions {
        let entry = if institution.exam_system == "INSPERA" {
            json!({"system": "INSPERA", "url": format!("{}/api", sandbox.inspera_url),
                   "client_id": options.inspera_client_id, "api_key": inspera_key})
        } else {
            json!({"system": "WISEFLOW", "url": format!("{}/v1", sandbox.wiseflow_url),
                   "api_key": wiseflow_key})
        };
        entries.insert(
            exam_instance(&institution.institusjonsnr, &institution.exam_system),
            entry,
        );
    }
    Value::Object(entries)
}
