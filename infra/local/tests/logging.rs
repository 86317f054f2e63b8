//! Log lines are JSON, carry the Lambda request id and Flyt's correlation id (the execution), and
//! hold no personal data. Its own test binary: it installs the process's log subscriber.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{platform, run_once};
use serde_json::Value;

/// Collects everything written to it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn log_lines_are_json_with_request_and_correlation_ids() {
    let captured = Captured::default();
    let writer = captured.clone();
    flyt::observability::init_logging_with(move || writer.clone(), "info");
    let local = platform(60, 40).await;
    run_once(&local).await;

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let in_invocation: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["message"] == "batch settled"
                || l["message"].as_str().unwrap_or("").starts_with("page ")
        })
        .collect();
    assert!(!in_invocation.is_empty(), "handlers logged");
    for line in &in_invocation {
        let spans = line["spans"]
            .as_array()
            .unwrap_or_else(|| panic!("no spans: {line}"));
        assert!(
            spans.iter().any(|s| s["requestId"]
                .as_str()
                .is_some_and(|id| id.starts_with("local-"))),
            "no request id: {line}"
        );
    }
    let pages: Vec<&&Value> = in_invocation
        .iter()
        .filter(|l| l["message"].as_str().unwrap().starts_with("page "))
        .collect();
    assert!(!pages.is_empty());
    for line in pages {
        let correlated = line["spans"].as_array().unwrap().iter().any(|s| {
            s["correlation_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("bokbasen-"))
        });
        assert!(correlated, "no correlation id: {line}");
    }
    // The sandbox's Bokbasen and Alma data hold no personal data; what must never appear are the
    // credentials Flyt handles.
    for secret in ["local-secret", "local-alma-key"] {
        assert!(!text.contains(secret), "a credential reached the logs");
    }
}
