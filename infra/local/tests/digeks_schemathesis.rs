//! Schemathesis (pinned in `infra/requirements.txt`, installed in `.venv` by setup) generates
//! requests from the served OpenAPI document — valid ones and ones the document forbids — and
//! sends them through the local gateway, authorizer and proxy to the sandbox's FS. It must find no
//! 5xx, no status, header, media type or body the document does not describe, and no request the
//! document forbids answered as a success.

mod common;

use std::process::Command;

use common::digeks::{client, digeks_platform};
use flyt::institution::ExamSystem;
use flyt_local::emulator::project_root;
use flyt_sandbox::Side;

/// The checks run: every one about the API keeping its document.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance,negative_data_rejection";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let st = project_root().join(".venv/bin/st");
    assert!(
        st.exists(),
        "{} is missing: run bash infra/scripts/setup.sh",
        st.display()
    );
    let local = digeks_platform().await;
    let key = local
        .digeks_client(&client(
            "inspera",
            ExamSystem::Inspera,
            &["185", "1120"],
            1_000_000,
        ))
        .await
        .unwrap();
    let report = std::env::temp_dir().join(format!("flyt-schemathesis-{}.xml", std::process::id()));
    let document = format!("{}/v1/openapi.json", local.gateway.url);
    let output = tokio::task::spawn_blocking({
        let report = report.clone();
        move || {
            // One worker: CPython 3.11's AST validator is not thread-safe, and Hypothesis parses
            // sources while describing strategies ("AST constructor recursion depth mismatch").
            Command::new(st)
                .arg("run")
                .arg(&document)
                .args(["--checks", CHECKS])
                .args(["--header", &format!("Authorization: Bearer {key}")])
                .args([
                    "--max-examples",
                    "30",
                    "--seed",
                    "20261123",
                    "--workers",
                    "1",
                ])
                .args(["--request-timeout", "30", "--no-color"])
                .args(["--generation-database", "none"])
                .args(["--report", "junit", "--report-junit-path"])
                .arg(&report)
                .output()
                .expect("schemathesis runs")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found problems ({}):\n{stdout}\n{stderr}",
        output.status
    );
    eprintln!("{stdout}");
    let junit = std::fs::read_to_string(&report).expect("the JUnit report");
    let tests = junit.matches("<testcase").count();
    assert!(
        tests >= 13,
        "every operation was tested: {tests} test cases\n{stdout}"
    );
    assert!(local.sandbox.fs.request_count() > 0, "requests reached FS");
    // The proxy checks what authorisation and grade safety need and passes a body's other
    // fields to FS unchanged (it mirrors FS), so a generated body with a wrongly typed field
    // reaches FS, which refuses it. FS's contract sees each as a registration body FS does not
    // take, and nothing else: no invented route, no query or answer outside it.
    for violation in local.sandbox.take_contract_violations() {
        assert!(
            violation.system == "fs"
                && violation.side == Side::Request
                && violation.request.starts_with("POST /eksamen/")
                && violation.detail.starts_with("at '"),
            "only forwarded registration bodies may depart from FS's contract: {violation}"
        );
    }
}
