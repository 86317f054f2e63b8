//! Integration tests: drive the sandbox over real HTTP, like the clients do.

mod alma;
mod bokbasen;
mod faults;
mod fs;
mod fs_exams;
mod idp;
mod inspera;
mod process;
mod slack;
mod theses;
mod wiseflow;

use chrono::Utc;
use flyt_sandbox::{Sandbox, SandboxOptions};

/// A sandbox with small reports; tests that need more data set their own options.
async fn small_sandbox() -> Sandbox {
    Sandbox::start(SandboxOptions {
        objects: 50,
        descriptions: 40,
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts")
}

/// A fresh Bokbasen access token.
async fn token(client: &reqwest::Client, sandbox: &Sandbox) -> String {
    let response = client
        .post(format!("{}/oauth/token", sandbox.bokbasen_url))
        .json(&serde_json::json!({
            "client_id": "flyt-local",
            "client_secret": "local-secret",
            "audience": "https://api.bokbasen.io/metadata/",
            "grant_type": "client_credentials",
        }))
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("token json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// `yyyyMMddHHmmss`, `days` before now.
fn days_ago(days: i64) -> String {
    (Utc::now() - chrono::Duration::days(days))
        .format("%Y%m%d%H%M%S")
        .to_string()
}

/// Texts of every `<tag>` element in `xml`, in order.
fn elements(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(text, _)| text.to_owned()))
        .collect()
}

/// Takes the sandbox's contract violations and asserts that they are exactly the ones a test made
/// on purpose (one per expected text, in order): the check sees a request the contract forbids.
fn expect_violations(sandbox: &Sandbox, expected: &[&str]) {
    let seen: Vec<String> = sandbox
        .take_contract_violations()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(seen.len(), expected.len(), "{seen:#?}");
    for (seen, expected) in seen.iter().zip(expected) {
        assert!(seen.contains(expected), "{seen} names {expected}");
    }
}
