//! Every DigEks proxy call is audited — client, institution, operation, status, success, latency —
//! and no personal data reaches a log line or an execution line, although the proxy passes
//! candidates' names and numbers between FS and the exam systems. Its own test binary: it
//! installs the process's log subscriber.

mod common;

use common::digeks::{bearer, call, client, digeks_platform, every_operation, send};
use common::privacy::{assert_no_personal_data, Captured};
use flyt::execution::ExecutionStore;
use flyt::institution::ExamSystem;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_call_is_audited_without_personal_data() {
    let captured = Captured::default();
    let writer = captured.clone();
    flyt::observability::init_logging_with(move || writer.clone(), "info");
    let local = digeks_platform().await;
    let key = local
        .digeks_client(&client("inspera", ExamSystem::Inspera, &["185"], 10_000))
        .await
        .unwrap();
    let mut calls = 0;
    let mut answers_with_personal_data = String::new();
    for request in every_operation(&local, "185", "INSPERA") {
        let answer = send(&local, &request, &bearer(&key)).await;
        assert!(
            (200..300).contains(&answer.status),
            "{}: {}",
            request.operation,
            answer.body
        );
        answers_with_personal_data.push_str(&answer.body.to_string());
        calls += 1;
    }
    for request in every_operation(&local, "1120", "INSPERA").iter().take(4) {
        assert_eq!(send(&local, request, &bearer(&key)).await.status, 403);
        calls += 1;
    }
    assert_eq!(
        call(
            &local,
            "GET",
            "/v1/eksamen/liste?institusjonsnr=185",
            Some("Bearer flyt_0123456789ab_nope"),
            None
        )
        .await
        .status,
        401
    );
    assert_eq!(
        call(
            &local,
            "GET",
            "/v1/eksamen/liste?institusjonsnr=x",
            Some(&bearer(&key)),
            None
        )
        .await
        .status,
        400
    );
    calls += 2;

    let logs = captured.text();
    let audit: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "digeks call")
        .collect();
    assert_eq!(audit.len(), calls, "one audit line per call");
    for line in &audit {
        for field in [
            "client_id",
            "operation",
            "method",
            "institution",
            "status",
            "success",
            "latency_ms",
            "request_id",
        ] {
            assert!(
                line.get(field).is_some(),
                "audit line without {field}: {line}"
            );
        }
    }
    let forbidden: Vec<&Value> = audit.iter().filter(|l| l["status"] == 403).collect();
    assert_eq!(forbidden.len(), 4);
    assert!(forbidden.iter().all(|l| l["institution"] == "1120"
        && l["client_id"] == "inspera"
        && l["success"] == false));
    assert!(audit
        .iter()
        .any(|l| l["status"] == 401 && l["client_id"] == ""));
    let registered = audit
        .iter()
        .find(|l| l["operation"] == "registerGrades")
        .unwrap();
    assert_eq!(
        (
            registered["institution"].as_str(),
            registered["success"].as_bool()
        ),
        (Some("185"), Some(true))
    );

    // The day's execution counts the calls; a forbidden attempt is a line an operator sees.
    let executions =
        ExecutionStore::new(local.aws.dynamodb.clone(), local.table("ExecutionsTable"));
    let day = &executions.list(digeks_proxy::INTERFACE, 5).await.unwrap()[0];
    let unauthenticated = audit.iter().filter(|l| l["status"] == 401).count();
    assert!(unauthenticated > 0, "a call without credentials was made");
    assert_eq!(
        day.count("calls") as usize,
        calls - unauthenticated,
        "calls without valid credentials are audited and counted in metrics, never written"
    );
    assert_eq!(day.count("unauthenticated"), 0);
    assert_eq!(day.count("forbidden"), 4);
    let lines = executions.lines(&day.id).await.unwrap();
    assert!(
        lines.iter().any(|l| l.message.contains("institution 1120")),
        "{lines:?}"
    );

    let mut seen = logs;
    for line in &lines {
        seen.push_str(&line.message);
        seen.push('\n');
    }
    let personal = local.sandbox.fs.personal_data();
    let in_answers = personal
        .iter()
        .filter(|p| answers_with_personal_data.contains(p.as_str()))
        .count();
    assert!(
        in_answers > 20,
        "the proxy did pass personal data to the client ({in_answers} values)"
    );
    assert_no_personal_data(&seen, &personal);
}
