//! The Inspera webhook receiver behind the local API Gateway: genuine calls are queued once and
//! registered in FS once, however often Inspera retries them — its own retries after an answer
//! that came too late, a failing gateway, or a receiver that died between queueing a call and
//! remembering it; unsigned, forged, tampered, oversized, stale (replayed) and misaddressed calls
//! are refused, nothing is queued or written down, and a call for an unknown instance reads
//! exactly as a forged one.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use common::appeals::{appeals_platform, poll_and_dispatch};
use common::fault_proxy::{AfterHandled, Fault, FaultProxy};
use flyt::dynamo::s;
use flyt::execution::ExecutionStore;
use flyt::signature::inspera_signature;
use flyt_local::platform::{exam_instance, LOCAL_WEBHOOK_SECRET};
use flyt_local::{Local, LocalOptions};
use serde_json::Value;

async fn return_queue_depth(local: &Local) -> u64 {
    flyt::redrive::queue_depth(&local.aws.sqs, &local.stack.queue("ReturnQueue").url)
        .await
        .unwrap()
}

async fn post(url: &str, body: &str, signature: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("X-Inspera-Signature", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn stamp(offset: chrono::Duration) -> String {
    (chrono::Utc::now() + offset).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn genuine_calls_are_queued_once_and_the_rest_rejected() {
    let local = appeals_platform(LocalOptions::default()).await;
    poll_and_dispatch(&local).await;
    let inspera = &local.sandbox.inspera;
    let given = inspera.give_explanations();
    assert!(given > 100, "explanations given: {given}");
    assert!(inspera.wait_for_webhooks(Duration::from_secs(120)).await);
    let deliveries = inspera.webhook_deliveries();
    assert_eq!(deliveries.len(), given);
    // Every genuine call ends answered 200. On an idle machine that is the first attempt; on a
    // busy one the receiver may answer later than Inspera's 10 s, and Inspera calls again: such
    // an attempt is unanswered, never refused. A retry that arrives while its late original is
    // still being handled can be queued a second time (the receiver remembers a call after
    // queueing it); fs-return's claims make that harmless, and FS gets each answer once below.
    let mut retried = 0;
    for delivery in &deliveries {
        let (last, earlier) = delivery.statuses.split_last().expect("attempted");
        assert_eq!(*last, Some(200), "{}", delivery.body);
        assert!(
            earlier.iter().all(Option::is_none),
            "only unanswered (late) attempts are retried: {:?}",
            delivery.statuses
        );
        retried += earlier.len() as u64;
    }
    let depth = return_queue_depth(&local).await;
    assert!(
        (given as u64..=given as u64 + retried).contains(&depth),
        "each queued once, and at most once more per late retry: {depth} queued, {given} given, {retried} retried"
    );

    // Inspera retrying calls it already made (an answer lost on the way back): 200, not queued.
    let url = deliveries[0].url.clone();
    for delivery in &deliveries[..5] {
        let (status, body) = post(&url, &delivery.body, Some(&delivery.signature)).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("already received"), "{body}");
    }

    // Calls that are not genuine.
    let fresh = format!(
        r#"{{"event":"explanation_given","contextObjectId":700001,"associatedObjectId":1,"timestamp":"{}"}}"#,
        stamp(chrono::Duration::zero())
    );
    let secret = LOCAL_WEBHOOK_SECRET.as_bytes();
    let forged = inspera_signature(b"not-the-secret", fresh.as_bytes());
    let tampered_body = fresh.replace("700001", "700002");
    let stale = fresh.replace(
        &stamp(chrono::Duration::zero()),
        &stamp(chrono::Duration::hours(-2)),
    );
    let oversized = format!("{}{}", fresh, " ".repeat(20_000));
    let cases: Vec<(&str, String, Option<String>, u16)> = vec![
        ("unsigned", fresh.clone(), None, 401),
        ("forged", fresh.clone(), Some(forged), 401),
        (
            "tampered",
            tampered_body,
            Some(inspera_signature(secret, fresh.as_bytes())),
            401,
        ),
        (
            "replayed",
            stale.clone(),
            Some(inspera_signature(secret, stale.as_bytes())),
            401,
        ),
        (
            "oversized",
            oversized.clone(),
            Some(inspera_signature(secret, oversized.as_bytes())),
            413,
        ),
    ];
    let mut answers = Vec::new();
    for (name, body, signature, expected) in &cases {
        let (status, answer) = post(&url, body, signature.as_deref()).await;
        assert_eq!(status, *expected, "{name}: {answer}");
        answers.push(answer);
    }
    // An instance without a secret answers exactly as a forged signature does.
    let elsewhere = url.replace("uio-inspera", "nobody");
    let (status, answer) = post(
        &elsewhere,
        &fresh,
        Some(&inspera_signature(secret, fresh.as_bytes())),
    )
    .await;
    assert_eq!(
        (status, &answer),
        (401, &answers[1]),
        "an instance without a secret"
    );
    assert!(
        answers[..4].iter().all(|a| *a == answer),
        "every refusal of a call not known to be Inspera's reads the same: {answers:?}"
    );
    assert_eq!(
        return_queue_depth(&local).await,
        depth,
        "nothing more was queued"
    );

    // Every answer reaches FS once.
    local.drain(Duration::from_secs(600), |_| {}).await.unwrap();
    let registered = local.sandbox.fs.registered_explanations();
    assert_eq!(registered.len(), given);
    assert!(
        registered.iter().all(|r| r.count == 1),
        "each posted to FS once"
    );

    let executions =
        ExecutionStore::new(local.aws.dynamodb.clone(), local.table("ExecutionsTable"));
    let day = executions.daily(inspera_webhook::INTERFACE).await.unwrap();
    let execution = executions.get(&day).await.unwrap().unwrap();
    assert_eq!(execution.count("queued"), depth);
    assert_eq!(
        execution.count("repeated") + (depth - given as u64),
        5 + retried,
        "the five replays, and each late retry either recognised or queued again"
    );
    assert_eq!(
        execution.count("rejected"),
        0,
        "refused calls are not written down"
    );
    assert!(
        executions
            .lines(&day)
            .await
            .unwrap()
            .iter()
            .all(|line| !line.message.contains("rejected")),
        "no line for a refused call"
    );
    assert_eq!(execution.count("explanation_registered"), given as u64);
}

/// How the fault proxy treats the first attempt of an explanation's webhook, by its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum FirstAttempt {
    /// Passed through.
    Answered,
    /// Handled by the receiver (queued and remembered), the answer later than Inspera waits.
    AnsweredTooLate,
    /// Refused by a failing gateway (502); the receiver never saw it.
    GatewayFailed,
    /// Queued by the receiver, which then died before remembering it: 502, not remembered.
    ReceiverDied,
}

impl FirstAttempt {
    fn of(explanation_id: u64) -> FirstAttempt {
        match explanation_id % 10 {
            1 => FirstAttempt::AnsweredTooLate,
            2 => FirstAttempt::GatewayFailed,
            3 => FirstAttempt::ReceiverDied,
            _ => FirstAttempt::Answered,
        }
    }
}

/// How late the late answers come: longer than Inspera waits for one (10 s).
const LATE_BY: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inspera_retries_by_itself_and_each_answer_is_registered_once() {
    let local = appeals_platform(LocalOptions::default()).await;
    poll_and_dispatch(&local).await;
    let inspera = &local.sandbox.inspera;

    // What a receiver that died after queueing leaves behind: the call queued, its signature
    // not remembered (the marker `remember` would have written is taken away again).
    let dynamodb = local.aws.dynamodb.clone();
    let state_table = local.table("StateTable").to_owned();
    let forget: AfterHandled = Arc::new(move |headers, _| {
        let dynamodb = dynamodb.clone();
        let state_table = state_table.clone();
        Box::pin(async move {
            let signature = headers["x-inspera-signature"]
                .to_str()
                .unwrap()
                .trim()
                .to_ascii_lowercase();
            dynamodb
                .delete_item()
                .table_name(state_table)
                .key("pk", s(format!("webhook#inspera#{signature}")))
                .send()
                .await
                .expect("the marker is removed");
        })
    });
    let proxy = FaultProxy::start(
        &local.gateway.url,
        Arc::new(move |_, _, body: &[u8], earlier| {
            let body: Value = serde_json::from_slice(body).unwrap_or_default();
            let id = body["associatedObjectId"].as_u64().unwrap_or_default();
            if earlier > 0 {
                return Fault::Pass;
            }
            match FirstAttempt::of(id) {
                FirstAttempt::Answered => Fault::Pass,
                FirstAttempt::AnsweredTooLate => Fault::Late(LATE_BY),
                FirstAttempt::GatewayFailed => Fault::Refuse(StatusCode::BAD_GATEWAY),
                FirstAttempt::ReceiverDied => {
                    Fault::Lost(StatusCode::BAD_GATEWAY, Some(forget.clone()))
                }
            }
        }),
    )
    .await;
    inspera.set_webhook(
        format!(
            "{}/webhooks/inspera/{}",
            proxy.url,
            exam_instance("185", "INSPERA")
        ),
        LOCAL_WEBHOOK_SECRET,
    );

    let given = inspera.give_explanations();
    assert!(given > 100, "explanations given: {given}");
    assert!(inspera.wait_for_webhooks(Duration::from_secs(120)).await);
    let mut by_kind: BTreeMap<FirstAttempt, usize> = BTreeMap::new();
    let mut late_retries = 0;
    for delivery in inspera.webhook_deliveries() {
        let body: Value = serde_json::from_str(&delivery.body).unwrap();
        let kind = FirstAttempt::of(body["associatedObjectId"].as_u64().unwrap());
        *by_kind.entry(kind).or_default() += 1;
        // The attempts the proxy's fault makes (one when answered, two otherwise), then any
        // that a busy machine answered later than Inspera's 10 s (unanswered, retried); the last
        // is 200.
        let designed = if kind == FirstAttempt::Answered { 1 } else { 2 };
        let (last, earlier) = delivery.statuses.split_last().expect("attempted");
        assert_eq!(*last, Some(200), "{kind:?}: {}", delivery.body);
        assert!(
            delivery.attempts() >= designed,
            "{kind:?}: {:?}",
            delivery.statuses
        );
        match kind {
            FirstAttempt::Answered => {}
            FirstAttempt::AnsweredTooLate => assert_eq!(earlier[0], None, "{}", delivery.body),
            _ => assert_ne!(earlier[0], Some(200), "{kind:?}: {}", delivery.body),
        }
        assert!(
            earlier[designed - 1..].iter().all(Option::is_none),
            "beyond the fault, only late attempts are retried: {:?}",
            delivery.statuses
        );
        late_retries += (delivery.attempts() - designed) as u64;
    }
    for kind in [
        FirstAttempt::AnsweredTooLate,
        FirstAttempt::GatewayFailed,
        FirstAttempt::ReceiverDied,
    ] {
        assert!(by_kind.get(&kind).copied().unwrap_or(0) >= 5, "{by_kind:?}");
    }
    let too_late = by_kind[&FirstAttempt::AnsweredTooLate];
    let died = by_kind[&FirstAttempt::ReceiverDied];
    // Queued once each, and again after each receiver that died before remembering; a retry that
    // arrives while its late original is still being handled (only on a busy machine) may be
    // queued again too, and is otherwise recognised as a repeat.
    let expected = (given + died) as u64;
    let retries = too_late as u64 + late_retries;
    let depth = return_queue_depth(&local).await;
    assert!(
        (expected..=expected + retries).contains(&depth),
        "{depth} queued, {expected} expected, {retries} retries after late answers"
    );

    local.drain(Duration::from_secs(600), |_| {}).await.unwrap();
    let registered = local.sandbox.fs.registered_explanations();
    assert_eq!(registered.len(), given, "every explanation in FS");
    assert!(
        registered.iter().all(|r| r.count == 1),
        "each posted to FS once, the ones queued twice included"
    );
    let executions =
        ExecutionStore::new(local.aws.dynamodb.clone(), local.table("ExecutionsTable"));
    let day = executions.daily(inspera_webhook::INTERFACE).await.unwrap();
    let execution = executions.get(&day).await.unwrap().unwrap();
    assert_eq!(execution.count("queued"), depth);
    assert_eq!(
        execution.count("repeated") + (depth - expected),
        retries,
        "each retry after a late answer recognised, or queued again"
    );
    assert_eq!(execution.count("explanation_registered"), given as u64);
    assert_eq!(
        local
            .dead_letter_depths()
            .await
            .unwrap()
            .values()
            .sum::<u64>(),
        0
    );
}
