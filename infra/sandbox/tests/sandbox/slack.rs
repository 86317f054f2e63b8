//! The Slack incoming webhook: accepted messages recorded, wrong paths and bad payloads refused
//! as Slack refuses them, faults, and the admin routes.

use flyt_sandbox::{Faults, SLACK_WEBHOOK_PATH};
use serde_json::{json, Value};

use super::small_sandbox;

async fn post(client: &reqwest::Client, url: &str, body: &str) -> (u16, String) {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("slack request");
    (
        response.status().as_u16(),
        response.text().await.expect("text body"),
    )
}

#[tokio::test]
async fn an_accepted_message_is_answered_ok_and_recorded() {
    let sandbox = small_sandbox().await;
    let client = reqwest::Client::new();
    assert!(sandbox.slack_url.ends_with(SLACK_WEBHOOK_PATH));
    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*bold* detail"}}]);
    let body = json!({"text": "fallback text", "blocks": blocks}).to_string();
    assert_eq!(
        post(&client, &sandbox.slack_url, &body).await,
        (200, "ok".to_owned())
    );
    let plain = json!({"text": "second"}).to_string();
    assert_eq!(
        post(&client, &sandbox.slack_url, &plain).await,
        (200, "ok".to_owned())
    );
    let messages = sandbox.slack.messages();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].text, "fallback text");
    assert_eq!(messages[0].blocks, Some(blocks));
    assert!(messages[0].visible_text().contains("*bold* detail"));
    assert_eq!(messages[1].text, "second");
    assert_eq!(messages[1].blocks, None);
    assert_eq!(sandbox.slack.request_count(), 2);
}

#[tokio::test]
async fn wrong_paths_are_no_service_and_bad_payloads_invalid_payload() {
    let sandbox = small_sandbox().await;
    let client = reqwest::Client::new();
    let base = sandbox.slack_url.trim_end_matches(SLACK_WEBHOOK_PATH);
    let good = json!({"text": "hello"}).to_string();
    for path in [
        "/services/TFLYTLOCAL/BFLYTLOCAL/wrongToken",
        "/services/TOTHER/BFLYTLOCAL/flytLocalWebhookToken",
        "/services/TFLYTLOCAL/BFLYTLOCAL",
        "/api/chat.postMessage",
    ] {
        assert_eq!(
            post(&client, &format!("{base}{path}"), &good).await,
            (404, "no_service".to_owned()),
            "{path}"
        );
    }
    for body in [
        "not json",
        r#"{"blocks": []}"#,
        r#"{"text": ""}"#,
        r#"{"text": 5}"#,
        r#"{"text": "x", "blocks": "a string"}"#,
        r#"["text"]"#,
    ] {
        assert_eq!(
            post(&client, &sandbox.slack_url, body).await,
            (400, "invalid_payload".to_owned()),
            "{body}"
        );
    }
    assert!(sandbox.slack.messages().is_empty());
    assert_eq!(sandbox.slack.request_count(), 10);
    super::expect_violations(
        &sandbox,
        &[
            "POST /services/TFLYTLOCAL/BFLYTLOCAL: client request: no such operation",
            "POST /api/chat.postMessage: client request: no such operation",
            "the body is not JSON",
            "at '/text': \"\" is shorter than 1 character",
            "at '/text': 5 is not of type \"string\"",
            "at '/blocks': \"a string\" is not of type \"array\"",
            "at '': [\"text\"] is not of type \"object\"",
        ],
    );
}

#[tokio::test]
async fn faults_refuse_without_recording_and_the_admin_routes_steer_and_show() {
    let sandbox = small_sandbox().await;
    let client = reqwest::Client::new();
    let base = sandbox.slack_url.trim_end_matches(SLACK_WEBHOOK_PATH);
    let body = json!({"text": "during an outage"}).to_string();
    sandbox.slack.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    for _ in 0..3 {
        assert_eq!(post(&client, &sandbox.slack_url, &body).await.0, 503);
    }
    let throttled = client
        .put(format!("{base}/_sandbox/faults"))
        .json(&json!({"throttle_rate": 1.0, "retry_after_secs": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(throttled.status(), 200);
    let response = client
        .post(&sandbox.slack_url)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "2");
    assert!(sandbox.slack.messages().is_empty(), "a fault has no effect");

    sandbox.slack.set_faults(Faults::default());
    assert_eq!(post(&client, &sandbox.slack_url, &body).await.0, 200);
    let state: Value = reqwest::get(format!("{base}/_sandbox/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["request_count"], 5);
    assert_eq!(state["messages"], 1);
    let messages: Value = reqwest::get(format!("{base}/_sandbox/messages"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(messages[0]["text"], "during an outage");
    assert_eq!(
        sandbox.slack.request_count(),
        5,
        "admin routes are not counted"
    );
    sandbox.slack.clear_messages();
    assert!(sandbox.slack.messages().is_empty());
}
