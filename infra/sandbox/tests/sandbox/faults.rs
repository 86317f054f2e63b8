//! Injected faults: failures apply nothing, delays apply after the delay.

use std::time::Duration;

use flyt_sandbox::{Faults, Report};
use serde_json::{json, Value};

use super::{days_ago, small_sandbox, token};

/// What an object PUT stores, as `contracts/alma.yaml` has it.
fn object() -> Value {
    json!({ "reference": "https://sr.example.org/cover.jpg", "owner_code": "GYLD" })
}

#[tokio::test]
async fn a_full_error_rate_answers_503_and_applies_nothing() {
    let sandbox = small_sandbox().await;
    let client = reqwest::Client::new();
    let isbn = sandbox.bokbasen.items(Report::Objects)[0].isbn13.clone();
    let url = format!("{}/v1/books/{isbn}/objects/ol", sandbox.alma_url);
    let body =
        json!({ "isbn": isbn, "kind": "objects", "type": "ol", "version": 1, "content": object() });
    let faults = Faults {
        error_rate: 1.0,
        ..Faults::default()
    };
    sandbox.alma.set_faults(faults.clone());
    assert_eq!(sandbox.alma.faults(), faults);
    for _ in 0..5 {
        let response = client
            .put(&url)
            .header("authorization", "apikey local-alma-key")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["errorsExist"], true);
    }
    assert_eq!(sandbox.alma.request_count(), 5);
    assert!(sandbox.alma.records().is_empty());
    assert_eq!(sandbox.alma.effects_total(), 0);

    let token = token(&client, &sandbox).await;
    sandbox.bokbasen.set_faults(faults);
    let after = days_ago(1);
    let export = client
        .get(format!(
            "{}/metadata/export/object/v1",
            sandbox.bokbasen_url
        ))
        .bearer_auth(&token)
        .query(&[("after", after.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 503);
    assert!(export.text().await.unwrap().contains("<code>503</code>"));

    sandbox.alma.set_faults(Faults::default());
    let response = client
        .put(&url)
        .header("authorization", "apikey local-alma-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(sandbox.alma.effects_total(), 1);
}

#[tokio::test]
async fn throttle_and_down_faults() {
    let sandbox = small_sandbox().await;
    let client = reqwest::Client::new();
    sandbox.bokbasen.set_faults(Faults {
        throttle_rate: 1.0,
        retry_after_secs: 7,
        ..Faults::default()
    });
    let url = format!("{}/oauth/token", sandbox.bokbasen_url);
    let throttled = client.post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(throttled.status(), 429);
    assert_eq!(throttled.headers()["retry-after"], "7");
    sandbox.bokbasen.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let down = client.post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(down.status(), 503);
    assert_eq!(sandbox.bokbasen.token_requests(), 2);
}

#[tokio::test]
async fn a_late_answer_still_means_the_write_took_effect() {
    let sandbox = small_sandbox().await;
    let client = reqwest::Client::new();
    let isbn = sandbox.bokbasen.items(Report::Objects)[0].isbn13.clone();
    sandbox.alma.set_faults(Faults {
        timeout_rate: 1.0,
        timeout_delay_ms: 4000,
        ..Faults::default()
    });
    // The client waits long enough for its request to reach the server on a busy machine, and
    // gives up long before the answer.
    let result = client
        .put(format!("{}/v1/books/{isbn}/objects/ol", sandbox.alma_url))
        .header("authorization", "apikey local-alma-key")
        .timeout(Duration::from_millis(1000))
        .json(
            &json!({ "isbn": isbn, "kind": "objects", "type": "ol", "version": 4, "content": object() }),
        )
        .send()
        .await;
    assert!(result.expect_err("client times out").is_timeout());
    // The work was done at once; only the answer was late (as when a response is lost).
    assert_eq!(sandbox.alma.records()[0].writes, vec![4]);
}

#[tokio::test]
async fn admin_routes_switch_faults_and_report_state() {
    let sandbox = small_sandbox().await;
    let client = reqwest::Client::new();
    let set = client
        .put(format!("{}/_sandbox/faults", sandbox.alma_url))
        .json(&json!({ "down": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    assert!(sandbox.alma.faults().down);
    let state: Value = client
        .get(format!("{}/_sandbox/state", sandbox.alma_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["request_count"], 0);
    assert_eq!(state["effects_total"], 0);

    let appended: Value = client
        .post(format!("{}/_sandbox/append", sandbox.bokbasen_url))
        .json(&json!({ "report": "objects", "isbn13": "9788205000001", "type": "ol" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reference = appended["reference"].as_str().unwrap();
    assert!(reference.starts_with(&sandbox.bokbasen_url) && reference.ends_with(".jpg"));
    assert!(sandbox.alma.knows_book("9788205000001"));
    let state: Value = client
        .get(format!("{}/_sandbox/state", sandbox.bokbasen_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["changes"]["objects"], 51);
    assert_eq!(state["changes"]["descriptions"], 40);
    assert_eq!(state["request_count"], 0);
}
