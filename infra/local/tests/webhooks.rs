//! The Inspera webhook receiver behind the local API Gateway: genuine calls are queued once and
//! registered in FS once, however often Inspera retries them; unsigned, forged, tampered,
//! oversized, stale (replayed) and misaddressed calls are rejected and nothing is queued.

mod common;

use std::time::Duration;

use common::appeals::{appeals_platform, poll_and_dispatch};
use flyt::execution::ExecutionStore;
use flyt::signature::inspera_signature;
use flyt_local::platform::LOCAL_WEBHOOK_SECRET;
use flyt_local::{Local, LocalOptions};

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
    assert!(
        deliveries.iter().all(|d| d.statuses == [Some(200)]),
        "every genuine call answered 200 at once"
    );
    assert_eq!(
        return_queue_depth(&local).await,
        given as u64,
        "each queued once"
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
    for (name, body, signature, expected) in &cases {
        let (status, answer) = post(&url, body, signature.as_deref()).await;
        assert_eq!(status, *expected, "{name}: {answer}");
    }
    let elsewhere = url.replace("uio-inspera", "nobody");
    let (status, _) = post(
        &elsewhere,
        &fresh,
        Some(&inspera_signature(secret, fresh.as_bytes())),
    )
    .await;
    assert_eq!(status, 404, "an instance without a secret");
    assert_eq!(
        return_queue_depth(&local).await,
        given as u64,
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
    assert_eq!(execution.count("queued"), given as u64);
    assert_eq!(execution.count("repeated"), 5);
    assert_eq!(execution.count("rejected"), cases.len() as u64 + 1);
    assert_eq!(execution.count("explanation_registered"), given as u64);
}
