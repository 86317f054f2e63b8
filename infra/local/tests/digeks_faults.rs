//! The DigEks proxy when FS misbehaves: 5xx, lost answers (the work done, the answer held back past
//! the client's timeout) and 429s are retried, and every grade is registered exactly once with
//! the value sent; FS down is a 502 and FS hanging a 504 within the proxy's budget, both with the
//! documented error body — never a hang and never a 5xx without one.

mod common;

use std::time::{Duration, Instant};

use common::digeks::{bearer, call, client, digeks_platform_shaped, digeks_platform_with};
use flyt::institution::ExamSystem;
use flyt_sandbox::Faults;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_fs_faults_every_grade_is_registered_exactly_once() {
    let local = digeks_platform_with(&[("FS_BUDGET_MS", "6000")]).await;
    let key = local
        .digeks_client(&client("wiseflow", ExamSystem::Wiseflow, &["194"], 100_000))
        .await
        .unwrap();
    let auth = bearer(&key);
    let exam = local.sandbox.fs.exams("194")[0].clone();
    let candidates: Vec<String> = exam
        .candidates
        .iter()
        .map(|c| c.candidate_number.clone())
        .collect();
    assert!(candidates.len() >= 20);
    let grade_of = |i: usize| exam.grade_scale.grades[i % exam.grade_scale.grades.len()].clone();
    local.sandbox.fs.set_faults(Faults {
        error_rate: 0.15,
        throttle_rate: 0.15,
        retry_after_secs: 1,
        timeout_rate: 0.15,
        timeout_delay_ms: 2_000,
        down: false,
        error_message: None,
    });
    let requests_before = local.sandbox.fs.request_count();
    // One registration per candidate; a call that still fails (502/504) is retried by the exam
    // system, as the error body tells it to.
    let mut retried_by_client = 0;
    for (i, candidate) in candidates.iter().enumerate() {
        let body = json!({"vurdId": exam.assessment_id, "karakterer": [{"kandidatnr": candidate, "karakter": grade_of(i)}]});
        let mut attempts = 0;
        loop {
            attempts += 1;
            let answer = call(
                &local,
                "POST",
                "/v1/eksamen/sensur/WISEFLOW/registrer",
                Some(&auth),
                Some(&body),
            )
            .await;
            match answer.status {
                200 => break,
                502 | 504 => {
                    assert_eq!(answer.body["category"], "fs_unavailable", "{}", answer.body);
                    retried_by_client += 1;
                    assert!(attempts < 10, "candidate {candidate}: FS never got through");
                }
                other => panic!("candidate {candidate}: unexpected {other}: {}", answer.body),
            }
        }
    }
    local.sandbox.fs.set_faults(Faults::default());
    let grades = local.sandbox.fs.registered_grades();
    let requests = local.sandbox.fs.request_count() - requests_before;
    assert!(
        requests > candidates.len() as u64 + 5,
        "faults were hit and retried: {requests} FS requests for {} registrations",
        candidates.len()
    );
    assert_eq!(grades.len(), candidates.len(), "one grade per candidate");
    for (i, candidate) in candidates.iter().enumerate() {
        let grade = grades
            .iter()
            .find(|g| &g.candidate_number == candidate)
            .unwrap();
        assert_eq!(grade.grade, grade_of(i), "candidate {candidate}");
        assert_eq!(
            grade.changes, 0,
            "candidate {candidate}: never registered with another value"
        );
    }
    eprintln!("{retried_by_client} calls answered 502/504 and retried by the client");

    // FS down: 502 at once (after the proxy's retries), with the error body.
    local.sandbox.fs.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let answer = call(
        &local,
        "GET",
        "/v1/eksamen/liste?institusjonsnr=194",
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert_eq!(answer.body["category"], "fs_unavailable");

    // FS hanging: 504 within the budget, not a hang.
    local.sandbox.fs.set_faults(Faults {
        timeout_rate: 1.0,
        timeout_delay_ms: 20_000,
        ..Faults::default()
    });
    let started = Instant::now();
    let answer = call(
        &local,
        "GET",
        "/v1/eksamen/liste?institusjonsnr=194",
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(answer.status, 504, "{}", answer.body);
    assert_eq!(answer.body["category"], "fs_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "answered after {:?}",
        started.elapsed()
    );
    local.sandbox.fs.set_faults(Faults::default());
    assert_eq!(local.sandbox.fs.registered_grades().len(), candidates.len());
}

/// All of a call's FS work shares one deadline inside Lambda's: with a budget longer than the
/// function's timeout and FS hanging, the proxy still answers its own 504 with the error body
/// before Lambda would kill it (the local gateway kills at the function's timeout and answers a
/// bodiless 500, as API Gateway does).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_answers_inside_the_lambda_timeout_whatever_the_fs_budget() {
    let timeout = Duration::from_secs(6);
    let local = digeks_platform_shaped(
        &[("FS_BUDGET_MS", "60000"), ("HTTP_TIMEOUT_MS", "2000")],
        |options| {
            options.timeouts.insert("digeks-proxy".to_owned(), timeout);
        },
    )
    .await;
    let key = local
        .digeks_client(&client("wiseflow", ExamSystem::Wiseflow, &["194"], 100_000))
        .await
        .unwrap();
    let exam = local.sandbox.fs.exams("194")[0].clone();
    local.sandbox.fs.set_faults(Faults {
        timeout_rate: 1.0,
        timeout_delay_ms: 20_000,
        ..Faults::default()
    });
    // A registration: the exam lookup and the write, each with its retries, under one deadline.
    let candidate = exam.candidates[0].candidate_number.clone();
    let grade = exam.grade_scale.grades[0].clone();
    let body = json!({"vurdId": exam.assessment_id, "karakterer": [{"kandidatnr": candidate, "karakter": grade}]});
    let answer = call(
        &local,
        "POST",
        "/v1/eksamen/sensur/WISEFLOW/registrer",
        Some(&bearer(&key)),
        Some(&body),
    )
    .await;
    assert_eq!(answer.status, 504, "{}", answer.body);
    assert_eq!(answer.body["category"], "fs_unavailable", "{}", answer.body);
    assert!(
        local.sandbox.fs.request_count() >= 2,
        "FS was asked (and retried) before the deadline"
    );
    local.sandbox.fs.set_faults(Faults::default());
    assert!(local.sandbox.fs.registered_grades().is_empty());
}
