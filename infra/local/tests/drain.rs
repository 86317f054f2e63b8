//! The Bokbasen → Alma flow end to end against the emulator and the sandbox, proven by count.

mod common;

use std::collections::BTreeSet;

use common::{assert_exactly_once, platform, run_once};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_drain_applies_every_item_exactly_once() {
    let local = platform(1800, 1400).await;
    run_once(&local).await;
    assert_exactly_once(&local, &BTreeSet::new());
    assert_eq!(
        local.sandbox.alma.duplicate_writes(),
        0,
        "no write was repeated"
    );
    let dead = local.dead_letter_depths().await.unwrap();
    assert!(
        dead.values().all(|d| *d == 0),
        "dead-letter queues are empty: {dead:?}"
    );
}
