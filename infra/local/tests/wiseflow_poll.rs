//! `wiseflow-poll` against the sandbox's WISEflow: a response the assessor gave but WISEflow has
//! not accepted is counted and left open (nothing reaches FS); a flow WISEflow fails for (503,
//! 404) is its own error line while every other flow's answers go to FS, and its requests stay
//! open and are answered once the fault clears — each explanation registered in FS exactly once.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::appeals::{explanation_cases, poll_and_dispatch};
use common::fault_proxy::{Fault, FaultProxy};
use flyt::error::Category;
use flyt::execution::{ExecutionStore, Level, Status};
use flyt::open_explanations::{OpenExplanation, OpenExplanations};
use flyt_local::{Emulator, Local, LocalOptions};
use flyt_sandbox::{Sandbox, SandboxOptions, EXPLANATION_ACCEPTED};
use serde_json::Value;

/// The flows WISEflow fails for, with the status it answers their explanation listing.
type Failing = Arc<Mutex<BTreeMap<u64, StatusCode>>>;

/// The appeals platform with a fault proxy between Flyt and the sandbox's WISEflow.
async fn platform_behind_proxy(failing: Failing) -> (Local, FaultProxy) {
    let mut options = LocalOptions::default();
    options.sandbox = SandboxOptions {
        objects: 0,
        descriptions: 0,
        seed: fastrand::u64(..),
        inspera_webhook_retry_delay_ms: 100,
        ..options.sandbox
    };
    let mut sandbox = Sandbox::start(options.sandbox.clone())
        .await
        .expect("the sandbox starts");
    let proxy = FaultProxy::start(
        &sandbox.wiseflow_url,
        Arc::new(move |method: &Method, path: &str, _: &[u8], _| {
            let failing = failing.lock().unwrap();
            let listing = |flow: &u64| format!("/v1/flow/{flow}/explanation/request");
            match failing.iter().find(|(flow, _)| listing(flow) == path) {
                Some((_, status)) if method == Method::GET => Fault::Refuse(*status),
                _ => Fault::Pass,
            }
        }),
    )
    .await;
    sandbox.wiseflow_url = proxy.url.clone();
    let local = Local::start_with_sandbox(Emulator::shared(), options, sandbox)
        .await
        .expect("the local platform starts");
    (local, proxy)
}

/// Polls WISEflow once; uib's report.
async fn poll(local: &Local) -> Value {
    let answers = local
        .fire_schedule("WiseflowPollFunction")
        .await
        .expect("wiseflow-poll runs");
    let reports = answers[0].1.as_array().expect("one report per institution");
    assert_eq!(
        reports.len(),
        1,
        "the one WISEflow institution: {reports:?}"
    );
    assert_eq!(reports[0]["org_id"], "uib");
    assert_eq!(
        reports[0]["error"],
        Value::Null,
        "a flow's failure is not the institution's: {reports:?}"
    );
    reports[0].clone()
}

/// WISEflow's explanations registered in FS, by case, with how often each was posted.
fn registered_from_wiseflow(local: &Local) -> BTreeMap<(String, String), u32> {
    local
        .sandbox
        .fs
        .registered_explanations()
        .into_iter()
        .filter(|r| r.exam_system == "WISEFLOW")
        .map(|r| ((r.assessment_id, r.candidate_number), r.count))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_flow_is_reported_alone_and_answered_once_after_the_fault_clears() {
    let failing: Failing = Arc::default();
    let (local, proxy) = platform_behind_proxy(failing.clone()).await;
    poll_and_dispatch(&local).await;
    let open_store = OpenExplanations::new(local.aws.dynamodb.clone(), local.table("StateTable"));
    let executions =
        ExecutionStore::new(local.aws.dynamodb.clone(), local.table("ExecutionsTable"));
    let open = open_store.list("uib").await.unwrap();
    let cases = explanation_cases(&local, "194");
    assert_eq!(open.len(), cases.len(), "every WISEflow request noted open");
    let mut by_flow: BTreeMap<u64, Vec<OpenExplanation>> = BTreeMap::new();
    for request in &open {
        by_flow
            .entry(request.flow_id)
            .or_default()
            .push(request.clone());
    }
    assert!(by_flow.len() >= 3, "requests on several flows: {by_flow:?}");

    // The assessors respond; WISEflow has not accepted anything yet.
    let responded = local.sandbox.wiseflow.advance_explanations(2);
    assert_eq!(responded, open.len());
    let report = poll(&local).await;
    assert_eq!(report["responded"], open.len(), "{report}");
    assert_eq!(report["answered"], 0, "{report}");
    let execution = executions
        .get(
            report["execution_id"]
                .as_str()
                .expect("an execution for the responses"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(execution.count("responded"), open.len() as u64);
    assert_eq!(execution.count("answered"), 0);
    assert_eq!(execution.status(), Status::Ok);
    local.drain(Duration::from_secs(120), |_| {}).await.unwrap();
    assert!(
        registered_from_wiseflow(&local).is_empty(),
        "nothing reaches FS before WISEflow accepts"
    );
    assert_eq!(open_store.list("uib").await.unwrap().len(), open.len());

    // Accepted; WISEflow fails for two flows: one 503 (External), one 404 (Mapping).
    let mut flows = by_flow.keys().copied();
    let (unavailable, missing) = (flows.next().unwrap(), flows.next().unwrap());
    failing.lock().unwrap().extend([
        (unavailable, StatusCode::SERVICE_UNAVAILABLE),
        (missing, StatusCode::NOT_FOUND),
    ]);
    local
        .sandbox
        .wiseflow
        .advance_explanations(EXPLANATION_ACCEPTED);
    let held: BTreeSet<OpenExplanation> = [unavailable, missing]
        .iter()
        .flat_map(|flow| by_flow[flow].clone())
        .collect();
    let report = poll(&local).await;
    assert_eq!(report["failed_flows"], 2, "{report}");
    assert_eq!(report["answered"], open.len() - held.len(), "{report}");
    let id = report["execution_id"].as_str().unwrap().to_owned();
    let execution = executions.get(&id).await.unwrap().unwrap();
    assert_eq!(execution.status(), Status::Ko);
    assert_eq!(execution.count("flows_failed"), 2);
    assert_eq!(
        execution.count("answered"),
        (open.len() - held.len()) as u64
    );
    let errors: Vec<_> = executions
        .lines(&id)
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.level == Level::Error)
        .collect();
    assert_eq!(
        errors.len(),
        2,
        "one error line per failed flow: {errors:?}"
    );
    for (flow, category) in [
        (unavailable, Category::External),
        (missing, Category::Mapping),
    ] {
        let line = errors
            .iter()
            .find(|l| l.message.starts_with(&format!("WISEflow flow {flow}: ")))
            .unwrap_or_else(|| panic!("no line for flow {flow}: {errors:?}"));
        assert_eq!(line.category, Some(category), "{line:?}");
        assert!(
            line.message.contains(&format!(
                "its {} open explanation requests stay open",
                by_flow[&flow].len()
            )),
            "{line:?}"
        );
        assert!(line.message.contains(category.action()), "{line:?}");
    }
    assert!(
        proxy.requests_to(&format!("/v1/flow/{unavailable}/explanation/request")) > 1,
        "the 503 was retried in-process before the flow was given up"
    );
    local.drain(Duration::from_secs(300), |_| {}).await.unwrap();
    let registered = registered_from_wiseflow(&local);
    assert_eq!(registered.len(), open.len() - held.len());
    assert!(
        held.iter()
            .all(|r| !registered.contains_key(&(r.vurd_id.clone(), r.kandidatnr.clone()))),
        "nothing of the failed flows registered"
    );
    assert_eq!(
        open_store
            .list("uib")
            .await
            .unwrap()
            .into_iter()
            .collect::<BTreeSet<_>>(),
        held,
        "exactly the failed flows' requests stay open"
    );

    // The fault clears: the next poll answers the rest.
    failing.lock().unwrap().clear();
    let report = poll(&local).await;
    assert_eq!(report["failed_flows"], 0, "{report}");
    assert_eq!(report["answered"], held.len(), "{report}");
    let execution = executions
        .get(report["execution_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(execution.status(), Status::Ok);
    local.drain(Duration::from_secs(300), |_| {}).await.unwrap();
    let registered = registered_from_wiseflow(&local);
    assert_eq!(
        registered.keys().cloned().collect::<BTreeSet<_>>(),
        cases,
        "every WISEflow explanation in FS"
    );
    assert!(
        registered.values().all(|&count| count == 1),
        "each posted to FS once: {registered:?}"
    );
    assert!(open_store.list("uib").await.unwrap().is_empty());

    // Nothing is left: a further poll reads nothing and starts no execution.
    let report = poll(&local).await;
    assert_eq!(report["open"], 0, "{report}");
    assert_eq!(report["execution_id"], Value::Null, "{report}");
    assert_eq!(
        local
            .dead_letter_depths()
            .await
            .unwrap()
            .values()
            .sum::<u64>(),
        0,
        "nothing parked"
    );
}
