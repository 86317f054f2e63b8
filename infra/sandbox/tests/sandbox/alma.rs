//! The Alma-side book API: write accounting, validation and the per-second threshold.

use flyt_sandbox::{Report, Sandbox, SandboxOptions};
use serde_json::{json, Value};

use super::small_sandbox;

async fn put(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let response = client
        .put(format!("{}/v1/books/{path}", sandbox.alma_url))
        .header("authorization", "apikey local-alma-key")
        .json(body)
        .send()
        .await
        .expect("alma request");
    (
        response.status().as_u16(),
        response.json().await.expect("json body"),
    )
}

fn record(isbn: &str, version: u64) -> Value {
    json!({
        "isbn": isbn,
        "kind": "descriptions",
        "type": "long",
        "version": version,
        "content": {
            "language": "nob",
            "text": format!("v{version}"),
            "reference": "https://api.example.org/metadata/description/1",
        },
    })
}

#[tokio::test]
async fn writes_are_accounted_as_updated_unchanged_or_older_over_newer() {
    let sandbox = small_sandbox().await;
    let client = reqwest::Client::new();
    let isbn = sandbox.bokbasen.items(Report::Descriptions)[0]
        .isbn13
        .clone();
    let path = format!("{isbn}/descriptions/long");
    let mut results = Vec::new();
    for version in [1, 1, 3, 2] {
        let (status, body) = put(&client, &sandbox, &path, &record(&isbn, version)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["isbn"], isbn.as_str());
        results.push(body["result"].as_str().unwrap().to_owned());
    }
    assert_eq!(results, ["updated", "unchanged", "updated", "updated"]);
    let records = sandbox.alma.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].version, 2);
    assert_eq!(records[0].effects, 3);
    assert_eq!(records[0].writes, vec![1, 1, 3, 2]);
    assert_eq!(records[0].content, record(&isbn, 2)["content"]);
    assert_eq!(sandbox.alma.effects_total(), 3);
    assert_eq!(sandbox.alma.duplicate_writes(), 1);
    let older = sandbox.alma.older_over_newer();
    assert_eq!(older.len(), 1);
    assert!(older[0].contains(&isbn), "{}", older[0]);

    let fetched: Value = client
        .get(format!("{}/v1/books/{path}", sandbox.alma_url))
        .header("authorization", "apikey local-alma-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["version"], 2);
    assert_eq!(fetched["type"], "long");
}

#[tokio::test]
async fn invalid_writes_are_rejected_without_effect() {
    let sandbox = small_sandbox().await;
    let client = reqwest::Client::new();
    let isbn = sandbox.bokbasen.items(Report::Objects)[0].isbn13.clone();

    let (status, body) = put(
        &client,
        &sandbox,
        &format!("{isbn}/descriptions/short"),
        &record(&isbn, 1),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["errorsExist"], true);
    assert!(body["errorList"]["error"][0]["errorMessage"]
        .as_str()
        .unwrap()
        .contains("type"));

    let (status, _) = put(
        &client,
        &sandbox,
        &format!("{isbn}/covers/long"),
        &record(&isbn, 1),
    )
    .await;
    assert_eq!(status, 400);
    super::expect_violations(&sandbox, &["path parameter 'kind'"]);

    let unknown = "9780306406157";
    let (status, body) = put(
        &client,
        &sandbox,
        &format!("{unknown}/descriptions/long"),
        &record(unknown, 1),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["errorList"]["error"][0]["errorCode"], "BIB_NOT_FOUND");
    sandbox.alma.add_book(unknown);
    let (status, _) = put(
        &client,
        &sandbox,
        &format!("{unknown}/descriptions/long"),
        &record(unknown, 1),
    )
    .await;
    assert_eq!(status, 200);

    let appended = "9788205000001";
    sandbox
        .bokbasen
        .append_change(Report::Descriptions, appended, "long");
    let (status, _) = put(
        &client,
        &sandbox,
        &format!("{appended}/descriptions/long"),
        &record(appended, 1),
    )
    .await;
    assert_eq!(status, 200);

    let unauthorized = client
        .put(format!(
            "{}/v1/books/{isbn}/descriptions/long",
            sandbox.alma_url
        ))
        .header("authorization", "apikey wrong")
        .json(&record(&isbn, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    let remaining: u64 = unauthorized.headers()["x-exl-api-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(remaining, 1_000_000 - sandbox.alma.request_count());
    let body: Value = unauthorized.json().await.unwrap();
    assert_eq!(body["errorList"]["error"][0]["errorCode"], "UNAUTHORIZED");
    assert_eq!(body["result"], Value::Null);
    assert_eq!(sandbox.alma.effects_total(), 2);
}

#[tokio::test]
async fn requests_over_the_per_second_limit_get_429() {
    let sandbox = Sandbox::start(SandboxOptions {
        objects: 5,
        descriptions: 5,
        alma_per_second_limit: 3,
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let isbn = sandbox.bokbasen.items(Report::Objects)[0].isbn13.clone();
    let url = format!("{}/v1/books/{isbn}/objects/ol", sandbox.alma_url);
    let mut throttled = None;
    for _ in 0..20 {
        let response = client
            .get(&url)
            .header("authorization", "apikey local-alma-key")
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            throttled = Some(response);
            break;
        }
        assert_eq!(response.status(), 404);
    }
    let throttled = throttled.expect("a 429 within 20 requests");
    assert_eq!(throttled.headers()["retry-after"], "1");
    let body: Value = throttled.json().await.unwrap();
    assert_eq!(
        body["errorList"]["error"][0]["errorCode"],
        "PER_SECOND_THRESHOLD"
    );
}
