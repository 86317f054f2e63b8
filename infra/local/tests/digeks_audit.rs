//! Every DigEks proxy call is audited — client, institution, operation, status, success, latency —
//! and no personal data reaches a log line or an execution line, although the proxy passes
//! candidates' names and numbers between FS and the exam systems. Its own test binary: it
//! installs the process's log subscriber.

mod common;

use common::digeks::{bearer, call, client, digeks_platform_shaped, every_operation, send};
use common::privacy::{assert_no_personal_data, Captured};
use flyt::execution::ExecutionStore;
use flyt::institution::ExamSystem;
use flyt_sandbox::Faults;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_call_is_audited_without_personal_data() {
    let captured = Captured::default();
    let writer = captured.clone();
    flyt::observability::init_logging_with(move || writer.clone(), "info");
    // The day's execution is written in batches, as deployed (locally it is written per call).
    let flush = std::time::Duration::from_secs(3);
    let local = digeks_platform_shaped(&[], |options| {
        options
            .function_env
            .entry("digeks-proxy".to_owned())
            .or_default()
            .insert("TALLY_FLUSH_MS".to_owned(), flush.as_millis().to_string());
    })
    .await;
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

    // A write is on record before FS answers it: while FS holds back its answer (the grade is
    // already registered there), the call's forwarding line is written and its outcome line is
    // not. A call Lambda killed at that moment would still be audited.
    let write = every_operation(&local, "185", "INSPERA")
        .into_iter()
        .find(|r| r.operation == "registerGrades")
        .expect("a registration among the operations");
    local.sandbox.fs.set_faults(Faults {
        timeout_rate: 1.0,
        // Under the local HTTP_TIMEOUT_MS (1.5 s): the answer is late, not lost.
        timeout_delay_ms: 800,
        ..Faults::default()
    });
    let forwarding_before = audit_lines(&captured, "digeks write forwarded to FS").len();
    let pending = {
        let local = &local;
        let authorization = bearer(&key);
        async move { send(local, &write, &authorization).await }
    };
    tokio::pin!(pending);
    let held = tokio::select! {
        answer = &mut pending => panic!("answered before FS did: {}", answer.status),
        held = async {
            loop {
                let forwarding = audit_lines(&captured, "digeks write forwarded to FS");
                if forwarding.len() > forwarding_before {
                    break forwarding.last().cloned().unwrap();
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        } => held,
    };
    assert_eq!(
        (held["operation"].as_str(), held["institution"].as_str()),
        (Some("registerGrades"), Some("185")),
        "{held}"
    );
    assert!(
        !audit_lines(&captured, "digeks call")
            .iter()
            .any(|l| l["request_id"] == held["request_id"]),
        "no outcome yet while FS holds the answer"
    );
    assert_eq!(pending.await.status, 200);
    local.sandbox.fs.set_faults(Faults::default());
    calls += 1;
    let outcome = audit_lines(&captured, "digeks call")
        .into_iter()
        .find(|l| l["request_id"] == held["request_id"])
        .expect("the held call's outcome line");
    assert_eq!(outcome["status"], 200);

    // The batch still pending is written with the first call after the interval.
    tokio::time::sleep(flush).await;
    assert_eq!(
        call(
            &local,
            "GET",
            "/v1/eksamen/liste?institusjonsnr=y",
            Some(&bearer(&key)),
            None
        )
        .await
        .status,
        400
    );
    calls += 1;

    let logs = captured.text();
    let audit = audit_lines(&captured, "digeks call");
    assert_eq!(audit.len(), calls, "one audit line per call");
    // Every write FS accepted was audited before it left, and every forwarding line has its
    // outcome (nothing here was killed).
    const WRITES: [&str; 5] = [
        "registerGrades",
        "registerAttendance",
        "registerExplanation",
        "registerDecision",
        "registerGroupIds",
    ];
    let forwarded: Vec<Value> = audit_lines(&captured, "digeks write forwarded to FS")
        .into_iter()
        .map(|l| l["request_id"].clone())
        .collect();
    let accepted_writes: Vec<&Value> = audit
        .iter()
        .filter(|l| {
            WRITES.contains(&l["operation"].as_str().unwrap_or_default()) && l["status"] == 200
        })
        .collect();
    assert!(accepted_writes.len() >= 2, "{accepted_writes:?}");
    for write in &accepted_writes {
        assert!(
            forwarded.contains(&write["request_id"]),
            "write without a forwarding line: {write}"
        );
    }
    for id in &forwarded {
        assert!(audit.iter().any(|l| &l["request_id"] == id), "{id}");
    }
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

/// The JSON log lines captured so far whose message is `message`.
fn audit_lines(captured: &Captured, message: &str) -> Vec<Value> {
    captured
        .text()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == message)
        .collect()
}
