//! The shared building blocks against the real SDK and the local emulator: the ordering store's
//! claims, the cursor lease, executions, partial batches with parking and deferral, and redrive.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use flyt::batch::{
    BatchProcessor, Message, Outcome, QueueSettings, ATTR_DEFERRALS, ATTR_ERROR_CATEGORY,
    ATTR_SOURCE_QUEUE,
};
use flyt::cursor::{Acquire, CursorStore};
use flyt::dynamo::s;
use flyt::execution::{ExecutionStore, LogLine, Status};
use flyt::ordering::{Claim, ItemVersion, OrderingStore};
use flyt::retry::RetryPolicy;
use flyt::sender::{OutgoingMessage, Sender};
use flyt::Error;
use flyt_local::{Emulator, Local, LocalOptions};

async fn local() -> Local {
    Local::start(Emulator::shared(), LocalOptions::default())
        .await
        .unwrap()
}

fn item(key: &str, version: u64) -> ItemVersion {
    ItemVersion {
        key: key.to_owned(),
        version,
        force: false,
    }
}

fn token(claim: &Claim) -> String {
    match claim {
        Claim::Claimed { token } => token.clone(),
        other => panic!("expected a claim, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordering_store_applies_each_version_once_and_never_older_over_newer() {
    let local = local().await;
    let store = OrderingStore::new(
        local.aws.dynamodb.clone(),
        local.table("StateTable"),
        Duration::from_secs(30),
        Duration::from_secs(3600),
    );
    let claims = store.claim(&[item("a", 5), item("b", 1)]).await.unwrap();
    let done = vec![
        (item("a", 5), token(&claims[0])),
        (item("b", 1), token(&claims[1])),
    ];
    assert_eq!(store.complete(&done).await.unwrap(), vec![true, true]);

    // The same version again, an older one, and a newer one, plus a live claim elsewhere.
    let _live = store.claim(&[item("c", 1)]).await.unwrap();
    let claims = store
        .claim(&[
            item("a", 5),
            item("b", 0),
            item("c", 2),
            item("d", 1),
            item("a2", 9),
        ])
        .await
        .unwrap();
    assert_eq!(claims[0], Claim::AlreadyApplied { applied_version: 5 });
    assert_eq!(claims[1], Claim::AlreadyApplied { applied_version: 1 });
    assert!(matches!(claims[2], Claim::Busy { .. }), "{:?}", claims[2]);
    assert!(matches!(claims[3], Claim::Claimed { .. }));
    assert!(matches!(claims[4], Claim::Claimed { .. }));
    assert_eq!(store.applied_version("a").await.unwrap(), Some(5));
    assert_eq!(
        store.applied_version("d").await.unwrap(),
        None,
        "a claim is not an application"
    );

    // A newer version is claimable; releasing a claim frees the key at once.
    let newer = store.claim(&[item("a", 6)]).await.unwrap();
    store
        .release(&item("a", 6), &token(&newer[0]))
        .await
        .unwrap();
    assert!(matches!(
        store.claim(&[item("a", 6)]).await.unwrap()[0],
        Claim::Claimed { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_that_outlives_its_invocation_is_taken_over() {
    let local = local().await;
    let store = OrderingStore::new(
        local.aws.dynamodb.clone(),
        local.table("StateTable"),
        Duration::from_millis(600),
        Duration::from_secs(3600),
    );
    let crashed = store.claim(&[item("k", 3)]).await.unwrap();
    assert!(matches!(
        store.claim(&[item("k", 3)]).await.unwrap()[0],
        Claim::Busy { .. }
    ));
    tokio::time::sleep(Duration::from_millis(800)).await;
    let taken = store.claim(&[item("k", 3)]).await.unwrap();
    let taker = token(&taken[0]);
    // The crashed invocation's late completion is refused; the taker's is recorded.
    assert_eq!(
        store
            .complete(&[(item("k", 3), token(&crashed[0]))])
            .await
            .unwrap(),
        vec![false]
    );
    assert_eq!(
        store.complete(&[(item("k", 3), taker)]).await.unwrap(),
        vec![true]
    );
    assert_eq!(store.applied_version("k").await.unwrap(), Some(3));
}

/// A call that failed or crashed may still have reached the target: once a version was claimed, an
/// older one must never be applied after it, whether the claim was released or lapsed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_version_is_superseded_once_a_newer_one_was_sent() {
    let local = local().await;
    let store = OrderingStore::new(
        local.aws.dynamodb.clone(),
        local.table("StateTable"),
        Duration::from_millis(600),
        Duration::from_secs(3600),
    );
    // Released after a failure (a timeout whose request Alma may have applied).
    let failed = store.claim(&[item("r", 8)]).await.unwrap();
    store
        .release(&item("r", 8), &token(&failed[0]))
        .await
        .unwrap();
    // Lapsed: the invocation was killed between the call and the completion.
    let _crashed = store.claim(&[item("l", 8)]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;

    let older = store.claim(&[item("r", 5), item("l", 5)]).await.unwrap();
    assert_eq!(
        older,
        vec![
            Claim::Superseded { sent_version: 8 },
            Claim::Superseded { sent_version: 8 }
        ]
    );
    // The newer version's own retry is claimed, applied and recorded.
    let retried = store.claim(&[item("r", 8), item("l", 8)]).await.unwrap();
    let done = vec![
        (item("r", 8), token(&retried[0])),
        (item("l", 8), token(&retried[1])),
    ];
    assert_eq!(store.complete(&done).await.unwrap(), vec![true, true]);
    assert_eq!(store.applied_version("r").await.unwrap(), Some(8));
    assert_eq!(store.applied_version("l").await.unwrap(), Some(8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_transaction_writes_nothing() {
    let local = local().await;
    let table = local.table("StateTable").to_owned();
    let update = |key: &str, condition: &str| {
        TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&table)
                    .key("pk", s(key))
                    .update_expression("SET v = :v")
                    .condition_expression(condition)
                    .expression_attribute_values(":v", s("x"))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let result = local
        .aws
        .dynamodb
        .transact_write_items()
        .transact_items(update("t1", "attribute_not_exists(pk)"))
        .transact_items(update("t2", "attribute_exists(pk)"))
        .send()
        .await;
    assert!(result.is_err(), "the second condition fails");
    let t1 = local
        .aws
        .dynamodb
        .get_item()
        .table_name(&table)
        .key("pk", s("t1"))
        .send()
        .await
        .unwrap();
    assert!(t1.item.is_none(), "the first update was rolled back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_moves_only_for_its_lease_holder_and_from_where_it_was_read() {
    let local = local().await;
    let cursors = CursorStore::new(local.aws.dynamodb.clone(), local.table("StateTable"));
    let lease = Duration::from_secs(30);
    let Acquire::Acquired(start) = cursors
        .acquire("c", "chain-1", "exec-1", lease)
        .await
        .unwrap()
    else {
        panic!("a fresh cursor is free");
    };
    assert_eq!((start.position.clone(), start.sequence), (None, 0));
    assert!(matches!(
        cursors
            .acquire("c", "chain-2", "exec-2", lease)
            .await
            .unwrap(),
        Acquire::Held(_)
    ));
    let executions =
        ExecutionStore::new(local.aws.dynamodb.clone(), local.table("ExecutionsTable"));
    let execution = executions.start("bokbasen#objects", "test").await.unwrap();
    let page_count = || executions.count_action(&execution, &[("fetched", 5)]);
    let moved = cursors
        .advance(
            &start,
            "chain-1",
            "p1",
            lease,
            page_count().into_iter().collect(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((moved.position.as_deref(), moved.sequence), (Some("p1"), 1));
    assert_eq!(
        cursors.load("c").await.unwrap().as_ref(),
        Some(&moved),
        "the state returned is the state stored"
    );
    // A stale view of the cursor (a duplicate step) cannot move it again, nor count its page again.
    assert!(cursors
        .advance(
            &start,
            "chain-1",
            "p1",
            lease,
            page_count().into_iter().collect()
        )
        .await
        .unwrap()
        .is_none());
    assert!(cursors
        .advance(
            &moved,
            "chain-2",
            "p2",
            lease,
            page_count().into_iter().collect()
        )
        .await
        .unwrap()
        .is_none());
    let counted = executions.get(&execution).await.unwrap().unwrap();
    assert_eq!(
        counted.count("fetched"),
        5,
        "a page is counted in the same write that moves the cursor past it, once"
    );
    assert!(cursors.release("c", "chain-1").await.unwrap());
    assert!(matches!(
        cursors
            .acquire("c", "chain-2", "exec-2", lease)
            .await
            .unwrap(),
        Acquire::Acquired(_)
    ));
    assert_eq!(
        cursors
            .load("c")
            .await
            .unwrap()
            .unwrap()
            .position
            .as_deref(),
        Some("p1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_counts_logs_and_turns_ko_on_an_error_line() {
    let local = local().await;
    let executions =
        ExecutionStore::new(local.aws.dynamodb.clone(), local.table("ExecutionsTable"));
    let id = executions
        .start("test-interface", "schedule")
        .await
        .unwrap();
    assert_eq!(
        executions.get(&id).await.unwrap().unwrap().status(),
        Status::Running
    );
    let lines: Vec<LogLine> = (0..30)
        .map(|i| LogLine::info(format!("page {i}")))
        .collect();
    executions
        .record(&id, &[("fetched", 30), ("applied", 29)], &lines)
        .await
        .unwrap();
    executions.finish(&id).await.unwrap();
    assert_eq!(
        executions.get(&id).await.unwrap().unwrap().status(),
        Status::Ok
    );
    executions
        .record(
            &id,
            &[("parked", 1)],
            &[LogLine::error(&Error::mapping(
                "objects 9788205000003/ol: TYPE \"xx\"",
            ))],
        )
        .await
        .unwrap();
    let execution = executions.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (
            execution.status(),
            execution.count("fetched"),
            execution.count("parked")
        ),
        (Status::Ko, 30, 1)
    );
    let lines = executions.lines(&id).await.unwrap();
    assert_eq!(lines.len(), 31);
    assert_eq!(
        lines.last().unwrap().category,
        Some(flyt::Category::Mapping)
    );
    assert_eq!(
        executions.list("test-interface", 5).await.unwrap()[0].id,
        id
    );
}

fn sqs_record(id: &str, body: &str, receive_count: u32) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = Some(id.to_owned());
    record.body = Some(body.to_owned());
    record.attributes = HashMap::from([(
        "ApproximateReceiveCount".to_owned(),
        receive_count.to_string(),
    )]);
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_batch_parks_defers_retries_and_isolates_the_bad_message() {
    let local = local().await;
    let source = local.stack.queue("AlmaQueue").url.clone();
    let dlq = local.stack.queue("AlmaDlq").url.clone();
    let sender = Sender::new(local.aws.sqs.clone(), RetryPolicy::default(), 2);
    let processor = BatchProcessor::new(
        sender.clone(),
        QueueSettings {
            source_queue_url: source.clone(),
            dead_letter_queue_url: dlq.clone(),
            max_receive_count: 5,
        },
    );
    let mut event = SqsEvent::default();
    event.records = vec![
        sqs_record("ok", "1", 1),
        sqs_record("retry", "2", 1),
        sqs_record("park", "3", 1),
        sqs_record("defer", "4", 1),
        sqs_record("last-receive", "5", 5),
        sqs_record("not-json", "{oops", 1),
    ];
    let (response, counts) = processor
        .run(event, |messages: Vec<Message<u32>>| async move {
            messages
                .into_iter()
                .map(|m| {
                    let outcome = match m.body {
                        1 => Outcome::Done,
                        2 | 5 => Outcome::Retry(Error::external("Alma answered 503")),
                        3 => Outcome::Park(Error::mapping("ISBN13 is empty")),
                        _ => Outcome::Defer(Duration::from_secs(2), Error::external("429")),
                    };
                    (m.id, outcome)
                })
                .collect()
        })
        .await
        .unwrap();
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, vec!["retry"]);
    assert_eq!(
        (counts.done, counts.retried, counts.parked, counts.deferred),
        (1, 1, 3, 1)
    );
    // Parked: the Mapping error, the body that did not parse, and the retry on its last receive.
    let parked = local
        .aws
        .sqs
        .receive_message()
        .queue_url(&dlq)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    let mut categories: Vec<_> = parked
        .iter()
        .map(|m| {
            let attributes = m.message_attributes().unwrap();
            assert_eq!(
                attributes[ATTR_SOURCE_QUEUE].string_value(),
                Some(source.as_str())
            );
            attributes[ATTR_ERROR_CATEGORY]
                .string_value()
                .unwrap()
                .to_owned()
        })
        .collect();
    categories.sort();
    assert_eq!(categories, vec!["External", "Mapping", "Mapping"]);
    // Deferred: back in the source queue, delayed, with its deferral counted.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let deferred = local
        .aws
        .sqs
        .receive_message()
        .queue_url(&source)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(deferred.len(), 1);
    assert_eq!(deferred[0].body(), Some("4"));
    assert_eq!(
        deferred[0].message_attributes().unwrap()[ATTR_DEFERRALS].string_value(),
        Some("1")
    );

    // A batch where everything fails is an error, as Lambda must see it.
    let mut all_bad = SqsEvent::default();
    all_bad.records = vec![sqs_record("r1", "2", 1), sqs_record("r2", "2", 1)];
    let error = processor
        .run(all_bad, |messages: Vec<Message<u32>>| async move {
            messages
                .into_iter()
                .map(|m| (m.id, Outcome::Retry(Error::external("down"))))
                .collect()
        })
        .await
        .unwrap_err();
    assert_eq!(error.category(), flyt::Category::Cascade);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_returns_parked_messages_with_body_and_attributes_intact() {
    let local = local().await;
    let source = local.stack.queue("AlmaQueue").url.clone();
    let dlq = local.stack.queue("AlmaDlq").url.clone();
    let sender = Sender::new(local.aws.sqs.clone(), RetryPolicy::default(), 2);
    let messages: Vec<_> = (0..23)
        .map(|i| {
            OutgoingMessage::new(format!("{{\"n\":{i}}}"))
                .attribute(ATTR_SOURCE_QUEUE, &source)
                .attribute("flyt-execution-id", "exec-7")
        })
        .collect();
    sender.send_all(&dlq, messages).await.unwrap();
    assert_eq!(local.redrive("AlmaDlq").await.unwrap(), 23);
    assert_eq!(
        flyt::redrive::queue_depth(&local.aws.sqs, &dlq)
            .await
            .unwrap(),
        0
    );
    let mut bodies = Vec::new();
    loop {
        let received = local
            .aws
            .sqs
            .receive_message()
            .queue_url(&source)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if received.is_empty() {
            break;
        }
        for message in received {
            assert_eq!(
                message.message_attributes().unwrap()["flyt-execution-id"].string_value(),
                Some("exec-7")
            );
            bodies.push(message.body().unwrap().to_owned());
        }
    }
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), 23, "every message came back once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_institution_is_checked_on_its_own() {
    use flyt::institution::{InstitutionEntry, InstitutionStore};
    let local = local().await;
    let store = InstitutionStore::new(local.aws.dynamodb.clone(), local.table("ConfigTable"));
    let good = InstitutionEntry {
        org_id: "uio".into(),
        org_short_name: Some("uio".into()),
        institusjonsnr: Some("185".into()),
        exam_system: Some("INSPERA".into()),
        exam_system_instance: Some("uio".into()),
        fs_environment: Some("prod".into()),
        active: true,
        klage: true,
        begrunnelse: true,
        show_justification: false,
        wiseflow_candidate_field: None,
        digeks_grades_without_scale: None,
        mode: None,
        feide_realm: None,
        log_overview_contact: None,
    };
    let no_instance = InstitutionEntry {
        org_id: "ntnu".into(),
        institusjonsnr: Some("194".into()),
        exam_system_instance: None,
        ..good.clone()
    };
    let inactive = InstitutionEntry {
        org_id: "uib".into(),
        active: false,
        exam_system: None,
        ..good.clone()
    };
    for entry in [&good, &no_instance, &inactive] {
        store.put(entry).await.unwrap();
    }
    let active = store.active().await.unwrap();
    let orgs: Vec<&str> = active.iter().map(|(org, _)| org.as_str()).collect();
    assert_eq!(orgs, ["ntnu", "uio"], "the inactive entry is skipped");
    assert_eq!(active[1].1.as_ref().unwrap().institusjonsnr, "185");
    let error = active[0].1.as_ref().unwrap_err();
    assert_eq!(error.category(), flyt::Category::Configuration);
    assert!(
        error
            .message()
            .contains("institution ntnu: exam_system_instance is missing"),
        "{error}"
    );
    assert_eq!(store.get("uio").await.unwrap().institusjonsnr, "185");
    for (org, expected) in [
        ("uib", "institution uib: switched off"),
        ("nmbu", "institution nmbu: no configuration entry"),
    ] {
        let error = store.get(org).await.unwrap_err();
        assert_eq!(error.category(), flyt::Category::Configuration);
        assert!(error.message().starts_with(expected), "{error}");
    }
    // A second entry for uio's FS lists: both are errors naming each other, until one is
    // switched off.
    let copy = InstitutionEntry {
        org_id: "uio2".into(),
        exam_system_instance: Some("uio2".into()),
        ..good.clone()
    };
    store.put(&copy).await.unwrap();
    let active = store.active().await.unwrap();
    for (org, other) in [("uio", "uio2"), ("uio2", "uio")] {
        let (_, checked) = active.iter().find(|(o, _)| o == org).unwrap();
        let error = checked.as_ref().unwrap_err();
        assert_eq!(error.category(), flyt::Category::Configuration);
        assert!(
            error.message().starts_with(&format!(
                "institution {org}: institusjonsnr 185 with INSPERA in FS prod is also the entry of {other};"
            )),
            "{error}"
        );
    }
    store
        .put(&InstitutionEntry {
            active: false,
            ..copy
        })
        .await
        .unwrap();
    let active = store.active().await.unwrap();
    let (_, uio) = active.iter().find(|(o, _)| o == "uio").unwrap();
    assert_eq!(uio.as_ref().unwrap().institusjonsnr, "185");
}

/// A minimal item for the apply pipeline.
#[derive(Clone, Debug, serde::Deserialize)]
struct Case {
    key: String,
}

impl flyt::apply::Applicable for Case {
    fn key(&self) -> String {
        self.key.clone()
    }
    fn version(&self) -> u64 {
        1
    }
    fn execution_id(&self) -> &str {
        ""
    }
    fn label(&self) -> String {
        self.key.clone()
    }
    fn validate(&self) -> flyt::Result<()> {
        Ok(())
    }
}

/// The claim pipeline of a test function over the local Alma queue, with `lease`, `reserve` and
/// one item at a time.
fn one_at_a_time(local: &Local, lease: Duration, reserve: Duration) -> flyt::apply::Applier {
    let settings = flyt::apply::ApplierSettings {
        queue: QueueSettings {
            source_queue_url: local.stack.queue("AlmaQueue").url.clone(),
            dead_letter_queue_url: local.stack.queue("AlmaDlq").url.clone(),
            max_receive_count: 5,
        },
        claim_lease: lease,
        finish_reserve: reserve,
        retention: Duration::from_secs(3600),
        concurrency: 1,
        state_table: local.table("StateTable").to_owned(),
        executions_table: local.table("ExecutionsTable").to_owned(),
    };
    flyt::apply::Applier::from_settings(
        "test",
        &settings,
        &local.aws.dynamodb,
        Sender::new(local.aws.sqs.clone(), RetryPolicy::default(), 1),
    )
}

fn case_message(key: &str) -> Message<Case> {
    Message {
        id: key.to_owned(),
        body: Case {
            key: key.to_owned(),
        },
        raw_body: String::new(),
        attributes: Default::default(),
        receive_count: 1,
    }
}

fn retry_text<'a>(outcomes: &'a [(String, Outcome)], id: &str) -> &'a str {
    match outcomes.iter().find(|(i, _)| i == id) {
        Some((_, Outcome::Retry(error))) => error.message(),
        other => panic!("{id}: expected a retry, got {other:?}"),
    }
}

/// The reason of an item that was not started: sent again shortly as a new message, so it does
/// not use up one of its receives.
fn deferred_text<'a>(outcomes: &'a [(String, Outcome)], id: &str) -> &'a str {
    match outcomes.iter().find(|(i, _)| i == id) {
        Some((_, Outcome::Defer(wait, error))) if *wait <= Duration::from_secs(1) => {
            error.message()
        }
        other => panic!("{id}: expected a short deferral, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_item_keeps_its_claim_and_no_item_starts_after_half_the_lease() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let local = local().await;
    let lease = Duration::from_secs(4);
    let applier = one_at_a_time(&local, lease, Duration::from_secs(1));
    let far = flyt::apply::Deadline::after(Duration::from_secs(60));
    let started = AtomicUsize::new(0);
    // One at a time: the first item outlasts the whole lease, so the second's turn comes after
    // half of it.
    let slow = |_case: Case| async {
        started.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(6)).await;
        Ok(flyt::apply::Applied::counted("applied"))
    };
    let quick = |_case: Case| async { Ok(flyt::apply::Applied::counted("applied")) };
    let rival = one_at_a_time(&local, lease, Duration::from_secs(1));
    let (outcomes, rival_outcomes) = tokio::join!(
        applier.apply_batch(vec![case_message("slow"), case_message("late")], far, &slow),
        async {
            // Past the lease of the first claim: only its renewals keep it.
            tokio::time::sleep(Duration::from_secs(5)).await;
            rival
                .apply_batch(vec![case_message("slow")], far, &quick)
                .await
        }
    );
    assert_eq!(
        started.load(Ordering::SeqCst),
        1,
        "the late item was not started"
    );
    assert!(
        outcomes.contains(&("slow".to_owned(), Outcome::Done)),
        "the slow item finished under its renewed claim: {outcomes:?}"
    );
    assert!(
        deferred_text(&outcomes, "late").contains("not started: its turn came after the batch's stop point (half the claim lease (2s) after the batch's claim)"),
        "{outcomes:?}"
    );
    assert!(
        retry_text(&rival_outcomes, "slow").contains("is being applied by another invocation"),
        "the rival found the slow item's claim held, 1 s past its first lease: {rival_outcomes:?}"
    );
    let ordering = flyt::ordering::OrderingStore::new(
        local.aws.dynamodb.clone(),
        local.table("StateTable"),
        lease,
        Duration::from_secs(3600),
    );
    assert_eq!(ordering.applied_version("slow").await.unwrap(), Some(1));
    assert_eq!(ordering.applied_version("late").await.unwrap(), None);
    // The late item was released: a later delivery applies it at once; the slow one is done.
    let outcomes = applier
        .apply_batch(
            vec![case_message("slow"), case_message("late")],
            far,
            &quick,
        )
        .await;
    assert!(
        outcomes.iter().all(|(_, o)| *o == Outcome::Done),
        "{outcomes:?}"
    );
    assert_eq!(ordering.applied_version("late").await.unwrap(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_in_flight_at_the_finish_reserve_is_abandoned_and_the_next_not_started() {
    let local = local().await;
    let applier = one_at_a_time(&local, Duration::from_secs(30), Duration::from_secs(2));
    let slow = |_case: Case| async {
        tokio::time::sleep(Duration::from_secs(8)).await;
        Ok(flyt::apply::Applied::counted("applied"))
    };
    let near = flyt::apply::Deadline::after(Duration::from_secs(4));
    let begun = tokio::time::Instant::now();
    let outcomes = applier
        .apply_batch(
            vec![case_message("in-flight"), case_message("waiting")],
            near,
            &slow,
        )
        .await;
    assert!(
        begun.elapsed() < Duration::from_secs(4),
        "answered before the deadline: {:?}",
        begun.elapsed()
    );
    assert!(
        retry_text(&outcomes, "in-flight")
            .contains("still in flight 2000 ms before the invocation's deadline (the finish reserve); abandoned"),
        "{outcomes:?}"
    );
    assert!(
        deferred_text(&outcomes, "waiting").contains("(2000 ms before the invocation's deadline)"),
        "{outcomes:?}"
    );
    // Both released: a later delivery with time to spare applies both.
    let quick = |_case: Case| async { Ok(flyt::apply::Applied::counted("applied")) };
    let outcomes = applier
        .apply_batch(
            vec![case_message("in-flight"), case_message("waiting")],
            flyt::apply::Deadline::after(Duration::from_secs(60)),
            &quick,
        )
        .await;
    assert!(
        outcomes.iter().all(|(_, o)| *o == Outcome::Done),
        "{outcomes:?}"
    );
}
