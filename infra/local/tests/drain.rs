//! The Bokbasen → Alma flow end to end against the emulator and the sandbox, proven by count.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{assert_exactly_once, dead_letters, platform, run_once};
use flyt::batch::ATTR_SOURCE_QUEUE;
use flyt::bokbasen::{ExportItem, ForwardItem, Report};
use flyt::ordering::OrderingStore;
use flyt::sender::{OutgoingMessage, Sender};

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
    assert!(
        dead_letters(&local).await.values().all(|d| *d == 0),
        "dead-letter queues are empty"
    );
    let executions = flyt::execution::ExecutionStore::new(
        local.aws.dynamodb.clone(),
        local.table("ExecutionsTable"),
    );
    let mut pages = 0;
    let mut fetched = 0;
    for report in Report::ALL {
        let drain = executions
            .list(&format!("bokbasen-{report}"), 5)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(drain.status(), flyt::execution::Status::Ok, "{drain:?}");
        pages += drain.count("pages");
        fetched += drain.count("fetched");
    }
    assert_eq!(fetched, 3200, "every seeded change was fetched once");
    // One token per function instance, cached for the whole drain (Bokbasen's OAuth2 tokens last an hour).
    assert_eq!(local.sandbox.bokbasen.token_requests(), 2);
    assert!(pages >= 10, "the drain read {pages} pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_schedule_run_twice_is_harmless() {
    let local = platform(300, 200).await;
    let first = local.fire_schedule("BokbasenFetchFunction").await.unwrap();
    let second = local.fire_schedule("BokbasenFetchFunction").await.unwrap();
    assert!(first[0].1.to_string().contains("\"started\""), "{first:?}");
    assert_eq!(
        second[0].1.to_string().matches("already_running").count(),
        2,
        "{second:?}"
    );
    local.drain(Duration::from_secs(300), |_| {}).await.unwrap();
    assert_exactly_once(&local, &BTreeSet::new());
    let effects = local.sandbox.alma.effects_total();
    // Once the drain is over, another run finds nothing new and changes nothing.
    run_once(&local).await;
    assert_eq!(local.sandbox.alma.effects_total(), effects);
    assert_eq!(local.sandbox.alma.duplicate_writes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_old_version_redriven_after_a_newer_one_does_not_overwrite_it() {
    let local = platform(200, 100).await;
    run_once(&local).await;
    let old: ExportItem = {
        let first = &local.sandbox.bokbasen.items(flyt_sandbox::Report::Objects)[0];
        ExportItem {
            isbn13: first.isbn13.clone(),
            ean: first.ean.clone(),
            type_code: first.type_code.clone(),
            reference: first.reference.clone(),
            owner_code: "OLD".into(),
        }
    };
    let key = format!("objects#{}#{}", old.isbn13, old.type_code);
    let ordering = OrderingStore::new(
        local.aws.dynamodb.clone(),
        local.table("StateTable"),
        Duration::from_secs(10),
        Duration::from_secs(86_400),
    );
    let old_version = ordering
        .applied_version(&key)
        .await
        .unwrap()
        .expect("the item was applied");

    // Bokbasen changes the same item again; the next drain applies the newer version.
    let newer_reference = local.sandbox.bokbasen.append_change(
        flyt_sandbox::Report::Objects,
        &old.isbn13,
        &old.type_code,
    );
    run_once(&local).await;
    let new_version = ordering.applied_version(&key).await.unwrap().unwrap();
    assert!(new_version > old_version);
    let record = local
        .sandbox
        .alma
        .record(&old.isbn13, "objects", &old.type_code)
        .unwrap();
    assert_eq!(record.content["reference"], newer_reference.as_str());
    let writes_before = record.writes.clone();

    // Now the old version arrives late: parked earlier, redriven from the dead-letter queue.
    let stale = ForwardItem {
        report: Report::Objects,
        item: old,
        version: old_version,
        page_cursor: "old".into(),
        execution_id: String::new(),
    };
    let alma_queue = local.stack.queue("AlmaQueue").url.clone();
    let message = OutgoingMessage::new(serde_json::to_string(&stale).unwrap())
        .attribute(ATTR_SOURCE_QUEUE, &alma_queue);
    let sender = Sender::new(
        local.aws.sqs.clone(),
        flyt::retry::RetryPolicy::default(),
        1,
    );
    sender
        .send_all(&local.stack.queue("AlmaDlq").url, vec![message])
        .await
        .unwrap();
    assert_eq!(local.redrive("AlmaDlq").await.unwrap(), 1);
    local.drain(Duration::from_secs(120), |_| {}).await.unwrap();

    let record = local
        .sandbox
        .alma
        .record(&stale.item.isbn13, "objects", &stale.item.type_code)
        .unwrap();
    assert_eq!(
        record.writes, writes_before,
        "the old version was never sent to Alma"
    );
    assert_eq!(record.content["reference"], newer_reference.as_str());
    assert_eq!(
        ordering.applied_version(&key).await.unwrap(),
        Some(new_version)
    );
    assert!(local.sandbox.alma.older_over_newer().is_empty());
    assert!(dead_letters(&local).await.values().all(|d| *d == 0));
}
