//! The flow under injected faults: 5xx, timeouts and 429s from both external systems, and Lambda
//! invocations killed mid-batch. Still every item exactly once, nothing in a dead-letter queue.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{assert_exactly_once, dead_letters, platform, set_faults};
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
