//! The built `flyt` binary against the local emulator: `flyt dlq` lists a stack's dead-letter
//! queues, peeks at parked messages without taking them, and redrives them — through an SQS
//! message move task (the emulator's patched StartMessageMoveTask) and through Flyt's own move —
//! back to their source queue, every message with its body and attributes intact.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName;
use common::{local, text, Flyt};
use flyt::batch::{ATTR_ERROR_CATEGORY, ATTR_ERROR_REASON, ATTR_EXECUTION_ID, ATTR_SOURCE_QUEUE};
use flyt::redrive::queue_depth;
use flyt::retry::RetryPolicy;
use flyt::sender::{OutgoingMessage, Sender};
use flyt_local::Local;

/// Body and string attributes of each message, by body (bodies are unique here).
type Messages = BTreeMap<String, BTreeMap<String, String>>;

fn name(url: &str) -> &str {
    flyt::sender::queue_name(url)
}

/// Parks `n` messages in `dlq` the way Flyt's batch processing does: ids-only bodies, the error's
/// category and reason, and the queue they came from.
async fn park(local: &Local, dlq: &str, source: &str, tag: &str, n: usize) -> Messages {
    let messages: Vec<OutgoingMessage> = (0..n)
        .map(|i| {
            OutgoingMessage::new(format!(
                r#"{{"report":"objects","isbn":"97882{tag}{i:05}","version":{}}}"#,
                100_000 + i
            ))
            .attribute(ATTR_ERROR_CATEGORY, "Mapping")
            .attribute(
                ATTR_ERROR_REASON,
                format!("item 97882{tag}{i:05}: the EAN is not the ISBN13"),
            )
            .attribute(ATTR_SOURCE_QUEUE, source)
            .attribute(ATTR_EXECUTION_ID, format!("bokbasen-objects-{tag}"))
        })
        .collect();
    let parked = messages
        .iter()
        .map(|m| (m.body.clone(), m.attributes.clone()))
        .collect();
    let sender = Sender::new(local.aws.sqs.clone(), RetryPolicy::default(), 2);
    assert_eq!(sender.send_all(dlq, messages).await.unwrap(), n);
    parked
}

/// Takes every message out of a queue.
async fn take_all(sqs: &aws_sdk_sqs::Client, url: &str) -> Messages {
    let mut taken = Messages::new();
    loop {
        let output = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            return taken;
        }
        for message in messages {
            let attributes = message
                .message_attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.string_value().unwrap_or_default().to_owned()))
                .collect();
            let body = message.body().unwrap_or_default().to_owned();
            assert!(
                taken.insert(body.clone(), attributes).is_none(),
                "{body} arrived twice"
            );
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .unwrap();
        }
    }
}

/// Messages available (visible) in a queue.
async fn visible(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The message move tasks of a DLQ, most recent first: (status, moved, to move).
async fn move_tasks(sqs: &aws_sdk_sqs::Client, dlq_arn: &str) -> Vec<(String, i64, i64)> {
    sqs.list_message_move_tasks()
        .source_arn(dlq_arn)
        .max_results(10)
        .send()
        .await
        .unwrap()
        .results()
        .iter()
        .map(|t| {
            (
                t.status().unwrap_or_default().to_owned(),
                t.approximate_number_of_messages_moved(),
                t.approximate_number_of_messages_to_move().unwrap_or(-1),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_messages_are_listed_peeked_at_and_redriven_back_by_both_paths() {
    let local = local().await;
    let flyt = Flyt::new(&local.emulator_url);
    let sqs = &local.aws.sqs;
    let dlq = local.stack.queue("AlmaDlq").clone();
    let source = local.stack.queue("AlmaQueue").clone();
    let (dlq_name, source_name) = (name(&dlq.url), name(&source.url));
    const N: usize = 7;
    let parked = park(&local, &dlq.url, &source.url, "1", N).await;
    assert_eq!(queue_depth(sqs, &dlq.url).await.unwrap(), N as u64);

    // list: every DLQ of the stack, the one holding messages first, each with its source queue.
    let pairs: Vec<String> = local
        .stack
        .queues
        .values()
        .filter_map(|q| {
            let dlq_url = q.dead_letter_queue_url.as_deref()?;
            Some(format!("{}:{}", name(dlq_url), name(&q.url)))
        })
        .collect();
    assert!(pairs.len() >= 5, "the template's DLQs: {pairs:?}");
    let (listed, _) = flyt.ok(&["dlq", "list", "--prefix", &local.stack.name]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), pairs.len() + 2, "{listed}");
    assert!(lines[0].starts_with("dead-letter queue"), "{listed}");
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(first, [dlq_name, "7", "0", source_name], "{listed}");
    let rows: Vec<String> = lines[1..=pairs.len()]
        .iter()
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            format!("{}:{}", cells[0], cells[3])
        })
        .collect();
    for pair in &pairs {
        assert!(rows.contains(pair), "{pair} not in\n{listed}");
    }
    assert_eq!(
        lines[pairs.len() + 1],
        format!(
            "{} dead-letter queues, 1 holding messages (7 in all)",
            pairs.len()
        )
    );

    // peek: category, reason, source queue and body excerpt, and every message stays available.
    let (peeked, _) = flyt.ok(&["dlq", "peek", dlq_name, "--count", "3"]);
    assert!(
        peeked.starts_with(&format!(
            "{dlq_name}: 7 messages (0 in flight), showing 3; each is back in the queue\n"
        )),
        "{peeked}"
    );
    assert_eq!(
        peeked.matches("\ncategory       Mapping\n").count(),
        3,
        "{peeked}"
    );
    assert_eq!(
        peeked
            .matches(&format!("\nsource queue   {source_name}\n"))
            .count(),
        3,
        "{peeked}"
    );
    assert_eq!(
        peeked
            .matches("\nreceive count  1 (this look included)\n")
            .count(),
        3,
        "{peeked}"
    );
    for line in peeked.lines().filter(|l| l.starts_with("reason ")) {
        assert!(line.ends_with(": the EAN is not the ISBN13"), "{line}");
    }
    let bodies: Vec<&str> = peeked
        .lines()
        .filter_map(|l| l.strip_prefix("body           "))
        .collect();
    assert_eq!(bodies.len(), 3, "{peeked}");
    assert!(bodies.iter().all(|b| parked.contains_key(*b)), "{bodies:?}");
    assert_eq!(visible(sqs, &dlq.url).await, N as u64);
    assert_eq!(queue_depth(sqs, &dlq.url).await.unwrap(), N as u64);
    let (all, _) = flyt.ok(&["dlq", "peek", &dlq.url]);
    assert!(all.contains("showing 7;"), "{all}");
    assert_eq!(visible(sqs, &dlq.url).await, N as u64);

    // redrive, path A: an SQS message move task moves all 7 back to the source queue.
    let (stdout, stderr) = flyt.ok(&["dlq", "redrive", dlq_name]);
    assert!(
        stdout.starts_with(&format!(
            "moving the messages of {dlq_name} to {source_name} (SQS message move task)\n\
             moved 0 of 7 messages (0%)\n"
        )),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(&format!(
            "moved 7 of 7 messages (100%)\n\
             moved 7 messages from {dlq_name} to {source_name}; {dlq_name} now holds 0 messages\n"
        )),
        "{stdout}"
    );
    assert!(!stderr.contains("itself"), "no fallback: {stderr}");
    assert_eq!(
        move_tasks(sqs, &dlq.arn).await,
        [("COMPLETED".to_owned(), 7, 7)]
    );
    assert_eq!(queue_depth(sqs, &dlq.url).await.unwrap(), 0);
    let back = take_all(sqs, &source.url).await;
    assert_eq!(back.len(), N);
    assert_eq!(back, parked, "bodies and attributes intact");

    // redrive, path B: parked again, Flyt's own move does the same; no move task is started.
    let parked = park(&local, &dlq.url, &source.url, "2", 5).await;
    let (stdout, stderr) = flyt.ok(&["dlq", "redrive", dlq_name, "--own-move"]);
    assert!(
        stdout.starts_with(&format!(
            "moving the messages of {dlq_name} to their source queue (Flyt's own move)\n\
             moved 0 of 5 messages (0%)\n"
        )),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(&format!(
            "moved 5 of 5 messages (100%)\n\
             moved 5 messages from {dlq_name} (5 to {source_name}); {dlq_name} now holds 0 \
             messages\n"
        )),
        "{stdout}"
    );
    assert_eq!(stderr, "");
    assert_eq!(move_tasks(sqs, &dlq.arn).await.len(), 1);
    assert_eq!(queue_depth(sqs, &dlq.url).await.unwrap(), 0);
    let back = take_all(sqs, &source.url).await;
    assert_eq!(back.len(), 5);
    assert_eq!(back, parked, "bodies and attributes intact");

    // A second message move task on the same DLQ is followed, not the finished first one.
    let parked = park(&local, &dlq.url, &source.url, "7", 2).await;
    let (stdout, _) = flyt.ok(&["dlq", "redrive", &dlq.url]);
    assert!(
        stdout.ends_with(&format!(
            "moved 2 of 2 messages (100%)\n\
             moved 2 messages from {dlq_name} to {source_name}; {dlq_name} now holds 0 messages\n"
        )),
        "{stdout}"
    );
    assert_eq!(
        move_tasks(sqs, &dlq.arn).await,
        [
            ("COMPLETED".to_owned(), 2, 2),
            ("COMPLETED".to_owned(), 7, 7)
        ]
    );
    assert_eq!(take_all(sqs, &source.url).await, parked);

    // Nothing left: said so; an unknown queue is an error naming it.
    let (empty, _) = flyt.ok(&["dlq", "redrive", dlq_name]);
    assert_eq!(
        empty,
        format!("{dlq_name} holds no messages: nothing to move\n")
    );
    let (listed, _) = flyt.ok(&["dlq", "list", "--prefix", &local.stack.name]);
    assert!(
        listed.ends_with(&format!(
            "{} dead-letter queues, 0 holding messages (0 in all)\n",
            pairs.len()
        )),
        "{listed}"
    );
    for args in [
        &["dlq", "peek", "no-such-dlq"][..],
        &["dlq", "redrive", "no-such-dlq"],
        &["dlq", "redrive", dlq_name, "--to", "no-such-queue"],
    ] {
        let output = flyt.run(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(": no such queue"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_to_another_queue_and_the_emulators_move_tasks_behave_like_sqs() {
    let local = local().await;
    let flyt = Flyt::new(&local.emulator_url);
    let sqs = &local.aws.sqs;

    // --to: every message goes to the queue named, whatever its source.
    let dispatch_dlq = local.stack.queue("DispatchDlq").clone();
    let dispatch = local.stack.queue("DispatchQueue").clone();
    let elsewhere = local.stack.queue("ReturnQueue").clone();
    let parked = park(&local, &dispatch_dlq.url, &dispatch.url, "3", 4).await;
    let (stdout, _) = flyt.ok(&[
        "dlq",
        "redrive",
        &dispatch_dlq.arn,
        "--to",
        name(&elsewhere.url),
    ]);
    assert!(
        stdout.contains(&format!(
            "moved 4 messages from {} to {}",
            name(&dispatch_dlq.url),
            name(&elsewhere.url)
        )),
        "{stdout}"
    );
    assert_eq!(take_all(sqs, &elsewhere.url).await, parked);
    assert_eq!(queue_depth(sqs, &dispatch.url).await.unwrap(), 0);

    // Without a DestinationArn the task returns the messages to the DLQ's source queue.
    let return_dlq = local.stack.queue("ReturnDlq").clone();
    let parked = park(&local, &return_dlq.url, &elsewhere.url, "4", 3).await;
    sqs.start_message_move_task()
        .source_arn(&return_dlq.arn)
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    while move_tasks(sqs, &return_dlq.arn).await[0].0 == "RUNNING" {
        assert!(started.elapsed() < Duration::from_secs(30), "still running");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        move_tasks(sqs, &return_dlq.arn).await,
        [("COMPLETED".to_owned(), 3, 3)]
    );
    assert_eq!(take_all(sqs, &elsewhere.url).await, parked);

    // One task at a time; a running task can be cancelled and keeps what it moved.
    let parked = park(&local, &return_dlq.url, &elsewhere.url, "5", 6).await;
    let handle = sqs
        .start_message_move_task()
        .source_arn(&return_dlq.arn)
        .max_number_of_messages_per_second(2)
        .send()
        .await
        .unwrap()
        .task_handle
        .unwrap();
    let second = sqs
        .start_message_move_task()
        .source_arn(&return_dlq.arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(second.code(), Some("InvalidParameterValue"));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let cancelled = sqs
        .cancel_message_move_task()
        .task_handle(&handle)
        .send()
        .await
        .unwrap();
    let moved = cancelled.approximate_number_of_messages_moved();
    assert!((1..6).contains(&moved), "moved {moved}");
    let started = Instant::now();
    while move_tasks(sqs, &return_dlq.arn).await[0].0 == "CANCELLING" {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still cancelling"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, moved, to_move) = move_tasks(sqs, &return_dlq.arn).await[0].clone();
    assert_eq!((status.as_str(), to_move), ("CANCELLED", 6));
    let arrived = take_all(sqs, &elsewhere.url).await;
    let left = take_all(sqs, &return_dlq.url).await;
    assert_eq!(arrived.len() as i64, moved);
    assert_eq!(arrived.len() + left.len(), 6, "none lost, none doubled");
    assert_eq!(
        arrived.into_iter().chain(left).collect::<Messages>(),
        parked
    );

    // AWS's refusals: a queue that is no DLQ, a missing destination, a finished task.
    let refused = sqs
        .start_message_move_task()
        .source_arn(&elsewhere.arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("InvalidParameterValue"));
    let refused = sqs
        .start_message_move_task()
        .source_arn(&return_dlq.arn)
        .destination_arn(format!("{}-gone", elsewhere.arn))
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("ResourceNotFoundException"));
    let refused = sqs
        .cancel_message_move_task()
        .task_handle(&handle)
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("ResourceNotFoundException"));
}

/// An SQS endpoint without message move tasks: forwards every request to the emulator but answers
/// StartMessageMoveTask as SQS answers an operation it does not support (code only, in the JSON
/// body and in the query-compatible header). Returns its URL.
async fn endpoint_without_move_tasks(emulator: &str) -> String {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::{IntoResponse, Response};

    let emulator = emulator.to_owned();
    let http = reqwest::Client::new();
    let forward = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let (emulator, http) = (emulator.clone(), http.clone());
        async move {
            let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
            if target == Some("AmazonSQS.StartMessageMoveTask") {
                let mut response = (
                    StatusCode::BAD_REQUEST,
                    r#"{"__type":"com.amazonaws.sqs#UnsupportedOperation","message":"not here"}"#,
                )
                    .into_response();
                let headers = response.headers_mut();
                headers.insert(
                    "content-type",
                    "application/x-amz-json-1.0".parse().unwrap(),
                );
                headers.insert(
                    "x-amzn-query-error",
                    "AWS.SimpleQueueService.UnsupportedOperation;Sender"
                        .parse()
                        .unwrap(),
                );
                return response;
            }
            let mut request = http.request(method, format!("{emulator}{uri}")).body(body);
            for (name, value) in &headers {
                if name != "host" && name != "content-length" {
                    request = request.header(name, value);
                }
            }
            let answer = request.send().await.expect("the emulator answers");
            let mut response = Response::builder().status(answer.status().as_u16());
            for (name, value) in answer.headers() {
                if name != "content-length" && name != "transfer-encoding" {
                    response = response.header(name.as_str(), value.as_bytes());
                }
            }
            response
                .body(axum::body::Body::from(answer.bytes().await.unwrap()))
                .unwrap()
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(forward);
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_without_move_tasks_falls_back_to_the_own_move_by_error_code() {
    let local = local().await;
    let flyt = Flyt::new(&endpoint_without_move_tasks(&local.emulator_url).await);
    let sqs = &local.aws.sqs;
    let dlq = local.stack.queue("BokbasenDrainDlq").clone();
    let source = local.stack.queue("BokbasenDrainQueue").clone();
    let parked = park(&local, &dlq.url, &source.url, "6", 4).await;

    let (stdout, stderr) = flyt.ok(&["dlq", "redrive", name(&dlq.url)]);
    assert_eq!(
        stderr,
        "The SQS endpoint has no message move tasks (StartMessageMoveTask answered \
         AWS.SimpleQueueService.UnsupportedOperation): Flyt moves the messages itself.\n"
    );
    assert!(stdout.contains("(Flyt's own move)\n"), "{stdout}");
    assert!(
        stdout.contains("moved 4 of 4 messages (100%)\n"),
        "{stdout}"
    );
    assert!(
        move_tasks(sqs, &dlq.arn).await.is_empty(),
        "no task was started"
    );
    assert_eq!(queue_depth(sqs, &dlq.url).await.unwrap(), 0);
    assert_eq!(take_all(sqs, &source.url).await, parked);
}

/// Arguments are checked before anything is read, so no emulator is needed.
#[test]
fn invalid_dlq_arguments_are_rejected_naming_the_flag() {
    let flyt = Flyt::new("http://127.0.0.1:9");
    for (args, needle) in [
        (&["dlq", "peek", "some-dlq", "--count", "0"][..], "--count"),
        (&["dlq", "peek", "some-dlq", "--count", "101"], "--count"),
        (&["dlq", "peek"], "<DLQ>"),
        (&["dlq", "redrive"], "<DLQ>"),
        (&["dlq", "redrive", "some-dlq", "--to"], "--to"),
    ] {
        let output = flyt.run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(needle),
            "{args:?}: {needle} not in {stderr}"
        );
    }
    let (help, _) = flyt.ok(&["dlq", "redrive", "--help"]);
    for needle in [
        "StartMessageMoveTask",
        "several source queues",
        "--own-move",
    ] {
        assert!(help.contains(needle), "{needle} not in {help}");
    }
    let (help, _) = flyt.ok(&["dlq", "peek", "--help"]);
    assert!(help.contains("Flyt never parks personal data"), "{help}");
}
