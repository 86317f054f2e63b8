//! `ops-watch` on the local platform: anomalies and failures found in the real tables and queues,
//! each notified to the sandbox's Slack exactly once, through the blacklist, without personal data.

mod common;

use std::collections::HashSet;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::MessageAttributeValue;
use flyt::dynamo::{n, s};
use flyt::execution::{daily_id, ExecutionStore, Level, Status};
use flyt::time::now_ms;
use flyt::Error;
use flyt_local::{Local, LocalOptions};
use flyt_sandbox::{Faults, SlackMessage};
use serde_json::Value;

const HOUR_MS: i64 = 3_600_000;

/// Fires the watch's schedule once and returns its summary.
async fn watch(local: &Local) -> Value {
    let answers = local
        .fire_schedule("OpsWatchFunction")
        .await
        .expect("ops-watch runs");
    let (_, summary) = answers
        .into_iter()
        .find(|(schedule, _)| schedule.ends_with("/Watch"))
        .expect("the watch's schedule");
    eprintln!("ops-watch summary: {summary}");
    summary
}

fn executions(local: &Local) -> ExecutionStore {
    ExecutionStore::new(local.aws.dynamodb.clone(), local.table("ExecutionsTable"))
}

/// Writes an execution head's `started_at` directly, as if it had started `ago_ms` before now.
async fn backdate(local: &Local, execution_id: &str, ago_ms: i64) {
    local
        .aws
        .dynamodb
        .update_item()
        .table_name(local.table("ExecutionsTable"))
        .key("pk", s(format!("EXEC#{execution_id}")))
        .key("sk", s("HEAD"))
        .update_expression("SET started_at = :t")
        .expression_attribute_values(":t", n(now_ms() - ago_ms))
        .send()
        .await
        .expect("started_at rewritten");
}

async fn put_state(local: &Local, item: Vec<(&str, AttributeValue)>) {
    local
        .aws
        .dynamodb
        .put_item()
        .table_name(local.table("StateTable"))
        .set_item(Some(
            item.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        ))
        .send()
        .await
        .expect("state item written");
}

async fn put_config(local: &Local, item: Vec<(&str, AttributeValue)>) {
    local
        .aws
        .dynamodb
        .put_item()
        .table_name(local.table("ConfigTable"))
        .set_item(Some(
            item.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        ))
        .send()
        .await
        .expect("configuration item written");
}

/// The Slack messages whose visible text mentions `needle`.
fn mentioning<'a>(messages: &'a [SlackMessage], needle: &str) -> Vec<&'a SlackMessage> {
    messages
        .iter()
        .filter(|m| m.visible_text().contains(needle))
        .collect()
}

fn count(summary: &Value, field: &str) -> u64 {
    summary[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no {field} in {summary}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anomalies_are_flagged_and_each_notified_once() {
    let local = common::platform(0, 0).await;
    let store = executions(&local);
    let now = now_ms();

    // Executions: one started two hours ago and never finished; a fresh one; a real-time
    // interface's day, running all day by design.
    let stuck = store.start("fs-poll-uio-klage", "schedule").await.unwrap();
    backdate(&local, &stuck, 2 * HOUR_MS).await;
    store.start("fs-poll-uib-klage", "schedule").await.unwrap();
    let day = store.daily("inspera-webhook").await.unwrap();
    backdate(&local, &day, 5 * HOUR_MS).await;

    // A message parked in the Alma dead-letter queue.
    local
        .aws
        .sqs
        .send_message()
        .queue_url(&local.stack.queue("AlmaDlq").url)
        .message_body(r#"{"ISBN13":"9788205000000"}"#)
        .message_attributes(
            "flyt-error-category",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("Mapping")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    // Claims: one lapsed two hours ago and never completed; a live one; a completed item.
    put_state(
        &local,
        vec![
            ("pk", s("item#dispatch#klage#uio#V0001#100001")),
            ("claim_token", s("token-stuck")),
            ("claim_version", n(7)),
            ("claim_expires_at", n(now - 2 * HOUR_MS)),
            ("sent_version", n(7)),
            ("expires_at", n(now / 1000 + 86_400)),
        ],
    )
    .await;
    put_state(
        &local,
        vec![
            ("pk", s("item#objects#9788205000000#ol")),
            ("claim_token", s("token-live")),
            ("claim_expires_at", n(now + 60_000)),
            ("expires_at", n(now / 1000 + 86_400)),
        ],
    )
    .await;
    put_state(
        &local,
        vec![
            ("pk", s("item#descriptions#9788205000000#long")),
            ("applied_version", n(3)),
            ("expires_at", n(now / 1000 + 86_400)),
        ],
    )
    .await;

    // Cursors: FS's may be quiet 30 minutes, Bokbasen's 26 hours. One FS list neither moved nor
    // polled for two hours; another not moved but polled just now; Bokbasen's moved two hours ago.
    put_state(
        &local,
        vec![
            ("pk", s("cursor#fs#uib#klage")),
            ("updated_at", n(now - 2 * HOUR_MS)),
            ("acquired_at", n(now - 2 * HOUR_MS)),
        ],
    )
    .await;
    put_state(
        &local,
        vec![
            ("pk", s("cursor#fs#uib#begrunnelse")),
            ("updated_at", n(now - 2 * HOUR_MS)),
            ("acquired_at", n(now)),
        ],
    )
    .await;
    put_state(
        &local,
        vec![
            ("pk", s("cursor#bokbasen#objects")),
            ("updated_at", n(now - 2 * HOUR_MS)),
        ],
    )
    .await;

    let first = watch(&local).await;
    assert_eq!(
        first["findings"],
        serde_json::json!({"running": 1, "stuck_claim": 1, "dead_letter": 1, "stale_cursor": 1, "failed_execution": 0}),
        "{first}"
    );
    assert_eq!(count(&first, "new"), 4, "{first}");
    assert_eq!(count(&first, "notified"), 4, "{first}");
    assert_eq!(count(&first, "suppressed"), 0, "{first}");
    assert_eq!(count(&first, "already_notified"), 0, "{first}");
    assert_eq!(count(&first, "notify_failed"), 0, "{first}");
    assert_eq!(count(&first, "check_errors"), 0, "{first}");

    let messages = local.sandbox.slack.messages();
    assert_eq!(messages.len(), 4, "{messages:#?}");
    let running = mentioning(&messages, &stuck);
    assert_eq!(running.len(), 1, "exactly one message for {stuck}");
    let text = running[0].visible_text();
    assert!(text.contains("has run 120 min (limit 60 min)"), "{text}");
    assert!(text.contains("*Institution*\nuio"), "{text}");
    assert!(text.contains(flyt::Category::Technical.action()), "{text}");
    let alma_dlq = flyt::sender::queue_name(&local.stack.queue("AlmaDlq").url).to_owned();
    let dead = mentioning(&messages, &format!("{alma_dlq} holds 1 message"));
    assert_eq!(dead.len(), 1, "{messages:#?}");
    assert!(dead[0].visible_text().contains(&format!("`{alma_dlq}`")));
    let claim = mentioning(&messages, "item dispatch#klage#uio#V0001#100001");
    assert_eq!(claim.len(), 1, "{messages:#?}");
    assert!(claim[0].visible_text().contains("`fs-poll-uio-klage`"));
    let cursor = mentioning(
        &messages,
        "cursor fs#uib#klage has been neither moved nor taken",
    );
    assert_eq!(cursor.len(), 1, "{messages:#?}");
    assert!(cursor[0].visible_text().contains("`fs-poll-uib-klage`"));
    assert!(mentioning(&messages, "fs#uib#begrunnelse").is_empty());
    assert!(mentioning(&messages, "bokbasen#objects").is_empty());
    assert!(mentioning(&messages, "9788205000000").is_empty());

    // The day's execution holds one Technical error line per finding, and the counts.
    let watch_id = daily_id("ops-watch", now_ms());
    assert_eq!(first["execution_id"], watch_id.as_str());
    let execution = store.get(&watch_id).await.unwrap().unwrap();
    assert_eq!(execution.status(), Status::Ko);
    for counter in [
        "running",
        "stuck_claim",
        "dead_letter",
        "stale_cursor",
        "notified",
    ] {
        let expected = if counter == "notified" { 4 } else { 1 };
        assert_eq!(
            execution.count(counter),
            expected,
            "{counter}: {execution:?}"
        );
    }
    let lines = store.lines(&watch_id).await.unwrap();
    let errors: Vec<_> = lines.iter().filter(|l| l.level == Level::Error).collect();
    assert_eq!(errors.len(), 4, "{lines:#?}");
    assert!(errors
        .iter()
        .all(|l| l.category == Some(flyt::Category::Technical)));
    assert!(errors.iter().any(|l| l.message.starts_with(&format!(
        "execution {stuck} of fs-poll-uio-klage has run 120 min (limit 60 min)"
    ))));

    // A second watch sees the same findings and sends nothing new.
    let second = watch(&local).await;
    assert_eq!(second["findings"], first["findings"], "{second}");
    assert_eq!(count(&second, "new"), 0, "{second}");
    assert_eq!(count(&second, "notified"), 0, "{second}");
    assert_eq!(count(&second, "already_notified"), 4, "{second}");
    assert_eq!(local.sandbox.slack.messages().len(), 4);
    assert_eq!(
        store.lines(&watch_id).await.unwrap().len(),
        lines.len(),
        "no line written twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_of_a_blacklisted_interface_are_not_sent_and_slack_outages_are_retried() {
    let local = common::platform(0, 0).await;
    let store = executions(&local);
    let now_s = now_ms() / 1000;
    // Every category of wiseflow-poll-uib; External failures of fs-poll-uib-begrunnelse; an entry
    // for fs-poll-uio-begrunnelse that has run out.
    put_config(
        &local,
        vec![("pk", s("notify-blacklist#wiseflow-poll-uib"))],
    )
    .await;
    put_config(
        &local,
        vec![
            ("pk", s("notify-blacklist#fs-poll-uib-begrunnelse")),
            ("categories", AttributeValue::Ss(vec!["External".into()])),
            ("reason", s("FS maintenance")),
        ],
    )
    .await;
    put_config(
        &local,
        vec![
            ("pk", s("notify-blacklist#fs-poll-uio-begrunnelse")),
            ("until", n(now_s - 60)),
        ],
    )
    .await;
    let fail = |interface: &'static str, error: Error| {
        let store = store.clone();
        async move { store.fail(interface, None, &error).await.unwrap() }
    };
    let blacklisted = fail(
        "wiseflow-poll-uib",
        Error::external("WISEflow answered 503"),
    )
    .await;
    let sent = fail(
        "fs-poll-uio-klage",
        Error::configuration("institution uio: fs_environment is missing"),
    )
    .await;
    let not_external = fail(
        "fs-poll-uib-begrunnelse",
        Error::configuration("institution uib: exam_system_instance is missing"),
    )
    .await;
    let external = fail(
        "fs-poll-uib-begrunnelse",
        Error::external("FS answered 503"),
    )
    .await;
    let ran_out = fail(
        "fs-poll-uio-begrunnelse",
        Error::mapping("vurdId V0001: no such exam"),
    )
    .await;
    assert_eq!(
        store.get(&sent).await.unwrap().unwrap().status(),
        Status::Ko
    );

    let first = watch(&local).await;
    assert_eq!(first["findings"]["failed_execution"], 5, "{first}");
    assert_eq!(count(&first, "notified"), 3, "{first}");
    assert_eq!(count(&first, "suppressed"), 2, "{first}");
    let messages = local.sandbox.slack.messages();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    for id in [&blacklisted, &external] {
        assert!(mentioning(&messages, id).is_empty(), "{id} was sent");
    }
    assert!(mentioning(&messages, "wiseflow-poll-uib").is_empty());
    for id in [&sent, &not_external, &ran_out] {
        assert_eq!(mentioning(&messages, id).len(), 1, "{id}: {messages:#?}");
    }
    let text = mentioning(&messages, &sent)[0].visible_text();
    assert!(text.contains("*Institution*\nuio"), "{text}");
    assert!(text.contains("*Category*\nConfiguration"), "{text}");
    assert!(
        text.contains(flyt::Category::Configuration.action()),
        "{text}"
    );
    assert!(
        text.contains("finished KO with 1 error lines (the first: Configuration)"),
        "{text}"
    );
    assert!(
        !text.contains("fs_environment"),
        "only ids and counts: {text}"
    );
    assert!(mentioning(&messages, &ran_out)[0]
        .visible_text()
        .contains("*Category*\nMapping"));

    // Slack down: a new failure is recorded but not sent; once Slack is back it is sent once.
    local.sandbox.slack.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let later = fail("fs-poll-uib-klage", Error::external("FS answered 503")).await;
    let during = watch(&local).await;
    assert_eq!(count(&during, "new"), 1, "{during}");
    assert_eq!(count(&during, "notify_failed"), 1, "{during}");
    assert_eq!(count(&during, "already_notified"), 5, "{during}");
    assert_eq!(local.sandbox.slack.messages().len(), 3);
    local.sandbox.slack.set_faults(Faults::default());
    let after = watch(&local).await;
    assert_eq!(count(&after, "new"), 0, "{after}");
    assert_eq!(count(&after, "notified"), 1, "{after}");
    assert_eq!(count(&after, "notify_failed"), 0, "{after}");
    let messages = local.sandbox.slack.messages();
    assert_eq!(messages.len(), 4);
    assert_eq!(mentioning(&messages, &later).len(), 1);
    let again = watch(&local).await;
    assert_eq!(count(&again, "notified"), 0, "{again}");
    assert_eq!(count(&again, "already_notified"), 6, "{again}");
    assert_eq!(local.sandbox.slack.messages().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_notification_carries_personal_data() {
    let local = common::appeals::appeals_platform(LocalOptions::default()).await;
    // A case without kandidatnr is parked (Mapping) and turns its poll's execution KO.
    let template = local.sandbox.fs.appeals("185")[0].clone();
    local.sandbox.fs.append_appeal(flyt_sandbox::FsAppeal {
        candidate_number: String::new(),
        changed_at: String::new(),
        ..template
    });
    common::appeals::poll_and_dispatch(&local).await;
    // FS down: every list's next poll fails (External) with FS's answer in its line.
    local.sandbox.fs.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    local
        .fire_schedule("FsPollFunction")
        .await
        .expect("fs-poll runs");
    local.sandbox.fs.set_faults(Faults::default());
    // And one of the polls that went well looks as if it never finished.
    let store = executions(&local);
    let polls = store.list("fs-poll-uib-begrunnelse", 10).await.unwrap();
    let finished = polls
        .iter()
        .find(|e| e.status() == Status::Ok)
        .expect("a successful poll of uib's explanation requests");
    local
        .aws
        .dynamodb
        .update_item()
        .table_name(local.table("ExecutionsTable"))
        .key("pk", s(format!("EXEC#{}", finished.id)))
        .key("sk", s("HEAD"))
        .update_expression("REMOVE finished_at")
        .send()
        .await
        .unwrap();
    backdate(&local, &finished.id, 2 * HOUR_MS).await;

    let summary = watch(&local).await;
    assert!(
        summary["findings"]["dead_letter"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    assert!(
        summary["findings"]["failed_execution"].as_u64().unwrap() >= 4,
        "{summary}"
    );
    assert_eq!(summary["findings"]["running"], 1, "{summary}");
    assert_eq!(count(&summary, "notify_failed"), 0, "{summary}");
    let messages = local.sandbox.slack.messages();
    assert_eq!(messages.len() as u64, count(&summary, "notified"));
    assert!(messages.len() >= 6, "{messages:#?}");
    let ids: HashSet<String> = messages.iter().map(SlackMessage::visible_text).collect();
    assert_eq!(ids.len(), messages.len(), "no message sent twice");

    let personal = local.sandbox.fs.personal_data();
    assert!(personal.len() > 100, "the sandbox's FS holds personal data");
    let seen: String = messages
        .iter()
        .map(SlackMessage::visible_text)
        .collect::<Vec<_>>()
        .join("\n");
    common::privacy::assert_no_personal_data(&seen, &personal);
    let lines = store
        .lines(&daily_id("ops-watch", now_ms()))
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.message)
        .collect::<Vec<_>>()
        .join("\n");
    common::privacy::assert_no_personal_data(&lines, &personal);
    eprintln!(
        "{} Slack messages and the watch's lines checked against {} personal values",
        messages.len(),
        personal.len()
    );
}
