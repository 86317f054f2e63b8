//! The flow under injected faults: 5xx, timeouts and 429s from both external systems, and Lambda
//! invocations killed mid-batch. Still every item exactly once, nothing in a dead-letter queue.
//! And Alma's API key rotated while alma-forward runs: picked up after Alma refuses the old one
//! (one read of the secret), or after the secret's TTL (no refusal at all), without a restart.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::secrets::{put_secret, secret_id, secret_reads};
use common::{assert_exactly_once, dead_letters, platform, platform_with, run_once, set_faults};
use flyt_local::{Local, LocalOptions};
use flyt_sandbox::Faults;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_and_killed_invocations_still_deliver_exactly_once() {
    let local = platform(900, 700).await;
    set_faults(
        &local,
        Faults {
            error_rate: 0.1,
            timeout_rate: 0.1,
            timeout_delay_ms: 2_000,
            throttle_rate: 0.1,
            retry_after_secs: 1,
            down: false,
            error_message: None,
        },
    );
    local.fire_schedule("BokbasenFetchFunction").await.unwrap();

    // One drain step runs to the end, so items wait in the Alma queue.
    let fetch = local.poller("BokbasenFetchFunction");
    while fetch.poll_once().await.unwrap().received == 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Kill Alma batches mid-invocation, then a drain step. Nothing they did is acknowledged: their
    // messages come back after the visibility timeout, their claims lapse and are taken over.
    let forward = local.poller("AlmaForwardFunction");
    let mut killed_batches = 0;
    for _ in 0..40 {
        if forward
            .poll_and_kill(Duration::from_millis(30))
            .await
            .unwrap()
            .killed
        {
            killed_batches += 1;
        }
        if killed_batches >= 3 {
            break;
        }
    }
    assert!(
        killed_batches >= 2,
        "Alma batches were killed mid-invocation ({killed_batches})"
    );
    for _ in 0..20 {
        if fetch
            .poll_and_kill(Duration::from_millis(20))
            .await
            .unwrap()
            .killed
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    local.drain(Duration::from_secs(600), |_| {}).await.unwrap();
    assert_exactly_once(&local, &BTreeSet::new());
    let dead = dead_letters(&local).await;
    assert!(
        dead.values().all(|d| *d == 0),
        "nothing in the dead-letter queues: {dead:?}"
    );
    assert!(
        local.sandbox.alma.request_count() > local.sandbox.alma.records().len() as u64,
        "faults were hit"
    );
}

/// Rotates Alma's API key as an operator does: a new key in the stack's Alma secret, and Alma
/// accepting only that one from now on.
async fn rotate_alma_key(local: &Local, key: &str) {
    let id = secret_id(local, "AlmaForwardFunction", "ALMA_SECRET_ID");
    put_secret(
        &local.aws.secrets,
        &id,
        &serde_json::json!({ "api_key": key }),
    )
    .await;
    local.sandbox.alma.set_api_key(key);
}

/// Everything delivered once, nothing parked.
async fn assert_delivered(local: &Local) {
    assert_exactly_once(local, &BTreeSet::new());
    let dead = dead_letters(local).await;
    assert!(
        dead.values().all(|d| *d == 0),
        "nothing in the dead-letter queues: {dead:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotated_alma_key_is_read_again_once_after_alma_refuses_the_old_one() {
    let local = platform(200, 150).await;
    let reads = secret_reads(&local.handler_requests);
    rotate_alma_key(&local, "rotated-alma-key-after-a-refusal").await;

    // alma-forward still holds the old key (the TTL is 5 minutes): Alma refuses its first
    // requests, the secret is read again once for all of them, and they go through.
    run_once(&local).await;
    assert_delivered(&local).await;
    assert!(
        local.sandbox.alma.refused_requests() >= 1,
        "Alma refused the old key"
    );
    assert_eq!(
        secret_reads(&local.handler_requests) - reads,
        1,
        "one read of the Alma secret for every refused request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotated_alma_key_is_used_after_the_secrets_ttl_without_a_refusal() {
    let mut options = LocalOptions::default();
    options
        .function_env
        .entry("alma-forward".to_owned())
        .or_default()
        .insert("SECRET_TTL_SECONDS".to_owned(), "2".to_owned());
    let local = platform_with(200, 150, options).await;
    let reads = secret_reads(&local.handler_requests);
    rotate_alma_key(&local, "rotated-alma-key-after-the-ttl").await;
    // The key alma-forward read at its cold start grows older than the TTL.
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    run_once(&local).await;
    assert_delivered(&local).await;
    assert_eq!(
        local.sandbox.alma.refused_requests(),
        0,
        "the new key was read before any request, so Alma refused none"
    );
    assert!(
        secret_reads(&local.handler_requests) > reads,
        "the Alma secret was read again after its TTL"
    );
}
