//! The `flyt-sandbox` binary: one JSON line with every URL, then it serves.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn the_binary_prints_its_urls_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flyt-sandbox"))
        .args([
            "--bokbasen-port",
            "0",
            "--alma-port",
            "0",
            "--fs-port",
            "0",
            "--objects",
            "10",
            "--descriptions",
            "10",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("one line");
    let urls: serde_json::Value = serde_json::from_str(&line).expect("json line");
    let state: serde_json::Value = reqwest::get(format!(
        "{}/_sandbox/state",
        urls["bokbasen_url"].as_str().unwrap()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(state["changes"]["objects"], 10);
    let alma = reqwest::get(format!(
        "{}/_sandbox/state",
        urls["alma_url"].as_str().unwrap()
    ))
    .await
    .unwrap();
    assert_eq!(alma.status(), 200);
    let fs = reqwest::get(format!(
        "{}/_sandbox/state",
        urls["fs_url"].as_str().unwrap()
    ))
    .await
    .unwrap();
    assert_eq!(fs.status(), 200);
    let slack_url = urls["slack_url"].as_str().unwrap();
    assert!(slack_url.ends_with(flyt_sandbox::SLACK_WEBHOOK_PATH));
    let slack = reqwest::Client::new()
        .post(slack_url)
        .header("content-type", "application/json")
        .body(r#"{"text":"from the process test"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(slack.status(), 200);
    let idp_url = urls["idp_url"].as_str().unwrap();
    let discovery: serde_json::Value =
        reqwest::get(format!("{idp_url}/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(discovery["issuer"], idp_url);
    child.kill().expect("kill");
    child.wait().expect("wait");
}
