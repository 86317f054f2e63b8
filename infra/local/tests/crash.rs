//! A drain step that dies between enqueueing a page and saving the cursor: the page is sent again
//! on the retry, nothing is skipped, and nothing reaches Alma twice. Its own test binary, because
//! fail points are global to a process.

mod common;

use std::collections::BTreeSet;

use common::{assert_exactly_once, platform, run_once};
use flyt::execution::ExecutionStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_between_enqueue_and_cursor_save_resends_the_page_and_skips_nothing() {
    let local = platform(700, 0).await;
    // The third page's items are enqueued, then the process dies before the cursor moves (the fail
    // point is only reached after a page with items, and only the objects report has any).
    fail::cfg("bokbasen-fetch::after-enqueue", "2*off->1*panic->off").unwrap();
    run_once(&local).await;
    fail::remove("bokbasen-fetch::after-enqueue");

    assert_exactly_once(&local, &BTreeSet::new());
    assert_eq!(
        local.sandbox.alma.duplicate_writes(),
        0,
        "the re-sent page reached Alma once"
    );
    let executions =
        ExecutionStore::new(local.aws.dynamodb.clone(), local.table("ExecutionsTable"));
    let drain = executions
        .list("bokbasen-objects", 5)
        .await
        .unwrap()
        .remove(0);
    let duplicates = drain.count("already_applied") + drain.count("superseded");
    assert!(
        duplicates >= 100,
        "the page of 100 was sent twice and recognised: {drain:?}"
    );
    assert_eq!(
        drain.count("fetched"),
        700,
        "the cursor moved over every page once: {drain:?}"
    );
}
