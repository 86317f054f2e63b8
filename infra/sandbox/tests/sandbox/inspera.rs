//! The Inspera API: the token flow, tests derived from FS, appeals,
//! explanations behind a test option (never deduplicated), graders, signed
//! and retried webhooks, faults and the admin routes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::base64::engine::general_purpose::STANDARD;
use ::base64::Engine as _;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use flyt_sandbox::{
    FsAppeal, InsperaAppealStatus, InsperaDeliveryOutcome, InsperaOutcome, Sandbox, SandboxOptions,
    INSPERA_EXPLANATIONS_OPTION,
};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha1::Sha1;
use tokio::net::TcpListener;

const CLIENT_ID: &str = "uio";
const API_KEY: &str = "local-inspera-key";
const WEBHOOK_SECRET: &str = "inspera-webhook-secret";

/// A sandbox with the default FS (institution 185 on Inspera), small
/// Bokbasen reports and quick webhook retries.
async fn inspera_sandbox() -> Sandbox {
    Sandbox::start(SandboxOptions {
        objects: 5,
        descriptions: 5,
        inspera_webhook_retry_delay_ms: 20,
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts")
}

/// The token request as Inspera documents it: query parameters, the key in
/// the `code` header, an empty form body.
fn token_request(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    client_id: &str,
    key: &str,
) -> reqwest::RequestBuilder {
    client
        .post(format!("{}/api/authenticate/token/", sandbox.inspera_url))
        .query(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
        ])
        .header("code", key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
}

/// A fresh access token.
async fn token(client: &reqwest::Client, sandbox: &Sandbox) -> String {
    let response = token_request(client, sandbox, CLIENT_ID, API_KEY)
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("token json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// The URL of an API path under `/api/v1`.
fn api(sandbox: &Sandbox, path: &str) -> String {
    format!("{}/api/v1{path}", sandbox.inspera_url)
}

/// Sends a request; returns its status and JSON body (`null` when empty).
async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("inspera request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("json body")
    };
    (status, body)
}

/// The first seeded appeal of institution 185: its `vurdId` and `kandidatnr`.
fn seeded_appeal(sandbox: &Sandbox) -> (String, String) {
    let appeal = sandbox.fs.appeals("185").remove(0);
    (appeal.assessment_id, appeal.candidate_number)
}

/// The Inspera test id of a `vurdId`, found on the test's own path with `isExternal=true`.
async fn test_id_of(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    token: &str,
    vurd_id: &str,
) -> u64 {
    let (status, found) = send(
        client
            .get(api(sandbox, &format!("/test/{vurd_id}")))
            .bearer_auth(token)
            .query(&[("isExternal", "true")]),
    )
    .await;
    assert_eq!(status, 200);
    found["testId"].as_u64().expect("a numeric testId")
}

#[tokio::test]
async fn tokens_are_issued_for_the_right_key_only_and_guard_the_api() {
    let sandbox = inspera_sandbox().await;
    let client = reqwest::Client::new();
    let search = api(&sandbox, "/test/x?isExternal=true");

    let (status, _) = send(client.get(&search)).await;
    assert_eq!(status, 401, "no token");
    let (status, body) = send(token_request(&client, &sandbox, CLIENT_ID, "wrong-key")).await;
    assert_eq!((status, body), (401, json!({ "error": "invalid_grant" })));
    let (status, _) = send(token_request(&client, &sandbox, "other-tenant", API_KEY)).await;
    assert_eq!(status, 401, "wrong client id");
    let (status, body) = send(
        client
            .post(format!("{}/api/authenticate/token/", sandbox.inspera_url))
            .query(&[("client_id", CLIENT_ID)])
            .header("code", API_KEY),
    )
    .await;
    assert_eq!(status, 400, "no grant_type");
    assert_eq!(body["error"], "unsupported_grant_type");
    crate::expect_violations(
        &sandbox,
        &["required query parameter 'grant_type' is missing"],
    );

    let (status, body) = send(token_request(&client, &sandbox, CLIENT_ID, API_KEY)).await;
    assert_eq!(status, 200);
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().expect("access_token");
    let (status, found) = send(client.get(&search).bearer_auth(token)).await;
    assert_eq!(
        (status, found),
        (404, json!({ "error": "no test with external id x" }))
    );
    let (status, _) = send(client.get(&search).bearer_auth("made-up-token")).await;
    assert_eq!(status, 401);

    sandbox.inspera.revoke_tokens();
    let (status, body) = send(client.get(&search).bearer_auth(token)).await;
    assert_eq!(status, 401, "revoked");
    assert_eq!(body["error"], "the access token is unknown or expired");
    assert_eq!(sandbox.inspera.token_requests(), 4);
    assert_eq!(sandbox.inspera.request_count(), 8);
}

#[tokio::test]
async fn tokens_expire_after_their_lifetime() {
    let sandbox = Sandbox::start(SandboxOptions {
        objects: 5,
        descriptions: 5,
        inspera_token_ttl_secs: 1,
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts");
    let client = reqwest::Client::new();
    let (status, body) = send(token_request(&client, &sandbox, CLIENT_ID, API_KEY)).await;
    assert_eq!((status, body["expires_in"].clone()), (200, json!(1)));
    let token = body["access_token"].as_str().expect("access_token");
    let search = api(&sandbox, "/test/x?isExternal=true");
    assert_eq!(send(client.get(&search).bearer_auth(token)).await.0, 404);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(send(client.get(&search).bearer_auth(token)).await.0, 401);
}

#[tokio::test]
async fn tests_are_derived_from_fs_with_stable_ids() {
    let sandbox = inspera_sandbox().await;
    let client = reqwest::Client::new();
    let token = token(&client, &sandbox).await;
    let (vurd_id, _) = seeded_appeal(&sandbox);

    let (status, found) = send(
        client
            .get(api(&sandbox, &format!("/test/{vurd_id}")))
            .bearer_auth(&token)
            .query(&[("isExternal", "true")]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(found["externalTestId"], vurd_id.as_str());
    let test_id = found["testId"].as_u64().expect("numeric testId");
    assert!(test_id >= 700_001);
    let title = found["title"].as_str().expect("title");
    let appeal = &sandbox.fs.appeals("185")[0];
    assert_eq!(title, format!("{} {}", appeal.course_code, appeal.term));

    let (status, test) = send(
        client
            .get(api(&sandbox, &format!("/test/{test_id}")))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!((status, test), (200, found.clone()));
    let (status, missing) = send(client.get(api(&sandbox, "/test/1")).bearer_auth(&token)).await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"], "no test with id 1");

    let tests = sandbox.inspera.tests();
    let mut vurd_ids: Vec<String> = sandbox
        .fs
        .appeals("185")
        .into_iter()
        .map(|a| a.assessment_id)
        .chain(
            sandbox
                .fs
                .explanation_requests("185")
                .into_iter()
                .map(|r| r.assessment_id),
        )
        .collect();
    vurd_ids.sort();
    vurd_ids.dedup();
    assert_eq!(tests.len(), vurd_ids.len());
    let wiseflow_vurd_id = sandbox.fs.appeals("194")[0].assessment_id.clone();
    assert!(tests.iter().all(|t| t.external_test_id != wiseflow_vurd_id));
    let candidates = &tests
        .iter()
        .find(|t| t.test_id == test_id)
        .expect("test")
        .candidates;
    assert!(candidates.contains(&appeal.candidate_number));

    sandbox.fs.append_appeal(FsAppeal {
        assessment_id: "bmV3LWV4YW0=".to_owned(),
        candidate_number: "123456".to_owned(),
        institution: "185".to_owned(),
        course_code: "NEW100".to_owned(),
        term: "2026 HØST".to_owned(),
        ..FsAppeal::default()
    });
    let new_test = test_id_of(&client, &sandbox, &token, "bmV3LWV4YW0=").await;
    assert_eq!(new_test, 700_001 + vurd_ids.len() as u64);
    assert_eq!(
        test_id_of(&client, &sandbox, &token, &vurd_id).await,
        test_id
    );
    assert_eq!(
        test_id_of(&client, &sandbox, &token, "bmV3LWV4YW0=").await,
        new_test
    );
}

#[tokio::test]
async fn appeals_are_registered_withdrawn_and_decided() {
    let sandbox = inspera_sandbox().await;
    let client = reqwest::Client::new();
    let token = token(&client, &sandbox).await;
    let (vurd_id, candidate) = seeded_appeal(&sandbox);
    let test_id = test_id_of(&client, &sandbox, &token, &vurd_id).await;
    let appeals = api(&sandbox, &format!("/test/{test_id}/appeals"));
    let withdraw = format!("{appeals}/withdraw");
    let post = |url: &str, body: Value| client.post(url).bearer_auth(&token).json(&body);

    let (status, body) = send(post(&withdraw, json!({ "candidateId": candidate }))).await;
    assert_eq!(
        (status, body),
        (404, json!({ "error": "no appeal for this candidate" }))
    );
    let (status, body) = send(post(&appeals, json!({ "candidateId": candidate }))).await;
    assert_eq!(status, 201);
    assert_eq!(
        body,
        json!({ "candidateId": candidate, "status": "ACTIVE", "decision": null })
    );
    let (status, body) = send(post(&appeals, json!({ "candidateId": candidate }))).await;
    assert_eq!((status, body["status"].clone()), (200, json!("ACTIVE")));
    assert_eq!(sandbox.inspera.repeated_appeal_registrations(), 1);

    let (status, body) = send(post(&withdraw, json!({ "candidateId": candidate }))).await;
    assert_eq!((status, body["status"].clone()), (200, json!("WITHDRAWN")));
    let (status, _) = send(post(&withdraw, json!({ "candidateId": candidate }))).await;
    assert_eq!(status, 200);
    assert_eq!(sandbox.inspera.repeated_withdrawals(), 1);
    let (status, body) = send(
        client
            .get(format!("{appeals}/{candidate}"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!((status, body["status"].clone()), (200, json!("WITHDRAWN")));
    let (status, _) = send(post(&appeals, json!({ "candidateId": candidate }))).await;
    assert_eq!(status, 201, "a withdrawn appeal is re-activated");
    let counted: Vec<_> = sandbox
        .inspera
        .appeals()
        .into_iter()
        .filter(|a| a.test_id == test_id && a.candidate_id == candidate)
        .map(|a| {
            (
                a.registrations,
                a.repeated_registrations,
                a.withdrawals,
                a.repeated_withdrawals,
            )
        })
        .collect();
    assert_eq!(counted, [(2, 1, 1, 1)], "counted per appeal");

    let (status, body) = send(post(&appeals, json!({ "candidateId": "999999999" }))).await;
    assert_eq!(
        (status, body["error"].clone()),
        (404, json!("the candidate is not on this test"))
    );
    let (status, _) = send(post(&appeals, json!({}))).await;
    assert_eq!(status, 400);
    crate::expect_violations(&sandbox, &["\"candidateId\" is a required property"]);
    let (status, _) = send(post(
        &api(&sandbox, "/test/1/appeals"),
        json!({ "candidateId": candidate }),
    ))
    .await;
    assert_eq!(status, 404);
    let numeric: u64 = candidate.parse().expect("kandidatnr is digits");
    let (status, _) = send(post(&appeals, json!({ "candidateId": numeric }))).await;
    assert_eq!(status, 200, "a numeric candidateId is the same candidate");
    let (status, _) = send(client.get(format!("{appeals}/11")).bearer_auth(&token)).await;
    assert_eq!(status, 404);

    assert_eq!(sandbox.inspera.decide_appeals(), 1);
    let (status, body) = send(
        client
            .get(format!("{appeals}/{candidate}"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!((status, body["status"].clone()), (200, json!("DECIDED")));
    let decision = &body["decision"];
    match decision["outcome"].as_str() {
        Some("UPHELD") => assert_eq!(decision["newGrade"], Value::Null),
        Some("CHANGED") => assert!(["A", "B", "C", "D", "E", "F"]
            .contains(&decision["newGrade"].as_str().expect("a grade"))),
        other => panic!("unexpected outcome {other:?}"),
    }
    assert!(decision["decidedAt"]
        .as_str()
        .expect("decidedAt")
        .ends_with('Z'));
    let (status, _) = send(post(&withdraw, json!({ "candidateId": candidate }))).await;
    assert_eq!(status, 409, "a decided appeal cannot be withdrawn");
    assert_eq!(
        sandbox.inspera.decide_appeals(),
        0,
        "nothing left to decide"
    );
}

#[tokio::test]
async fn decisions_are_a_seeded_mix_of_upheld_and_changed() {
    let sandbox = inspera_sandbox().await;
    let client = reqwest::Client::new();
    let token = token(&client, &sandbox).await;
    for appeal in sandbox.fs.appeals("185").iter().take(40) {
        let test_id = test_id_of(&client, &sandbox, &token, &appeal.assessment_id).await;
        let (status, _) = send(
            client
                .post(api(&sandbox, &format!("/test/{test_id}/appeals")))
                .bearer_auth(&token)
                .json(&json!({ "candidateId": appeal.candidate_number })),
        )
        .await;
        assert!(status == 201 || status == 200);
    }
    let registered = sandbox.inspera.appeals().len();
    assert_eq!(sandbox.inspera.decide_appeals(), registered);
    let decided = sandbox.inspera.appeals();
    assert!(decided
        .iter()
        .all(|a| a.status == InsperaAppealStatus::Decided));
    let upheld = decided
        .iter()
        .filter(|a| a.decision.as_ref().expect("decision").outcome == InsperaOutcome::Upheld)
        .count();
    assert!(
        upheld > 0 && upheld < registered,
        "{upheld} of {registered} upheld"
    );
}

#[tokio::test]
async fn explanations_need_the_option_and_every_request_creates_one() {
    let sandbox = inspera_sandbox().await;
    let client = reqwest::Client::new();
    let token = token(&client, &sandbox).await;
    let (vurd_id, candidate) = seeded_appeal(&sandbox);
    let test_id = test_id_of(&client, &sandbox, &token, &vurd_id).await;
    let explanations = api(&sandbox, &format!("/test/{test_id}/explanations"));
    let options = api(&sandbox, &format!("/test/{test_id}/options"));
    let request = || {
        client
            .post(&explanations)
            .bearer_auth(&token)
            .json(&json!({ "candidateId": candidate }))
    };

    let (status, body) = send(request()).await;
    assert_eq!(
        (status, body),
        (
            409,
            json!({ "error": "explanations are not enabled on this test" })
        )
    );
    let (status, _) = send(
        client
            .post(&options)
            .bearer_auth(&token)
            .json(&json!({ "testOptions": { "explanationOptions": [{ "option": INSPERA_EXPLANATIONS_OPTION }] } })),
    )
    .await;
    assert_eq!(status, 400, "an option without a value");
    crate::expect_violations(&sandbox, &["\"value\" is a required property"]);
    let (status, _) = send(client.post(&options).bearer_auth(&token).json(
        &json!({ "testOptions": { "explanationOptions": [
                { "option": INSPERA_EXPLANATIONS_OPTION, "value": true },
            ] } }),
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        sandbox.inspera.test_options(test_id)[INSPERA_EXPLANATIONS_OPTION],
        json!(true)
    );

    let (first_status, first) = send(request()).await;
    let (second_status, second) = send(request()).await;
    assert_eq!((first_status, second_status), (201, 201));
    assert_ne!(first["explanationId"], second["explanationId"]);
    assert_eq!(first["status"], "REQUESTED");
    assert_eq!(first["document"], Value::Null);
    assert_eq!(sandbox.inspera.duplicate_explanation_requests(), 1);
    let counts = sandbox.inspera.explanation_request_counts();
    assert_eq!(counts.len(), 1);
    assert_eq!((counts[0].test_id, counts[0].count), (test_id, 2));
    assert_eq!(counts[0].candidate_id, candidate);

    let (status, list) = send(
        client
            .get(&explanations)
            .bearer_auth(&token)
            .query(&[("candidateId", candidate.as_str())]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().expect("an array").len(), 2);
    let (_, others) = send(
        client
            .get(&explanations)
            .bearer_auth(&token)
            .query(&[("candidateId", "11")]),
    )
    .await;
    assert_eq!(others, json!([]));

    assert_eq!(sandbox.inspera.give_explanations(), 2);
    assert_eq!(sandbox.inspera.give_explanations(), 0);
    let id = first["explanationId"].as_u64().expect("numeric id");
    let (status, given) = send(
        client
            .get(format!("{explanations}/{id}"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(given["status"], "GIVEN");
    assert_eq!(given["candidateId"], candidate.as_str());
    assert!(given["givenAt"].as_str().expect("givenAt").ends_with('Z'));
    assert_eq!(given["document"]["contentType"], "application/pdf");
    let document = STANDARD
        .decode(given["document"]["content"].as_str().expect("content"))
        .expect("base64");
    assert!(document.starts_with(b"%PDF"));
    let (status, _) = send(client.get(format!("{explanations}/1")).bearer_auth(&token)).await;
    assert_eq!(status, 404);
}

/// What a webhook receiver got in one request.
#[derive(Clone, Debug)]
struct Received {
    signature: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// A webhook receiver that answers `statuses` in order, then 200.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Clone)]
struct ReceiverState {
    received: Arc<Mutex<Vec<Received>>>,
    statuses: Arc<Vec<u16>>,
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut received = state.received.lock().expect("receiver lock");
    let status = state.statuses.get(received.len()).copied().unwrap_or(200);
    received.push(Received {
        signature: header("x-inspera-signature"),
        content_type: header("content-type"),
        body: body.to_vec(),
    });
    StatusCode::from_u16(status).expect("a status code")
}

async fn receiver(statuses: Vec<u16>) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "http://{}/inspera-hook",
        listener.local_addr().expect("addr")
    );
    let received = Arc::new(Mutex::new(Vec::new()));
    let router = Router::new()
        .route("/inspera-hook", post(receive))
        .with_state(ReceiverState {
            received: received.clone(),
            statuses: Arc::new(statuses),
        });
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .await
            .expect("receiver serves");
    });
    Receiver {
        url,
        received,
        server,
    }
}

fn hmac_sha1_verifies(secret: &str, body: &[u8], signature: &str) -> bool {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(body);
    let Ok(bytes) = hex::decode(signature) else {
        return false;
    };
    mac.verify_slice(&bytes).is_ok()
}

/// Registers the first seeded appeal of 185 and returns (test id, candidate).
async fn register_first_appeal(client: &reqwest::Client, sandbox: &Sandbox) -> (u64, String) {
    let token = token(client, sandbox).await;
    let (vurd_id, candidate) = seeded_appeal(sandbox);
    let test_id = test_id_of(client, sandbox, &token, &vurd_id).await;
    let (status, _) = send(
        client
            .post(api(sandbox, &format!("/test/{test_id}/appeals")))
            .bearer_auth(&token)
            .json(&json!({ "candidateId": candidate })),
    )
    .await;
    assert_eq!(status, 201);
    (test_id, candidate)
}

#[tokio::test]
async fn webhooks_are_signed_and_retried_with_the_same_body_until_200() {
    let sandbox = inspera_sandbox().await;
    let client = reqwest::Client::new();
    let hook = receiver(vec![500, 500]).await;
    sandbox
        .inspera
        .set_webhook(hook.url.clone(), WEBHOOK_SECRET);
    let (test_id, candidate) = register_first_appeal(&client, &sandbox).await;

    assert_eq!(sandbox.inspera.decide_appeals(), 1);
    assert!(
        sandbox
            .inspera
            .wait_for_webhooks(Duration::from_secs(10))
            .await
    );
    assert_eq!(sandbox.inspera.webhooks_pending(), 0);
    let deliveries = sandbox.inspera.webhook_deliveries();
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    assert_eq!(delivery.event, "appeal_decided");
    assert_eq!(delivery.attempts(), 3);
    assert_eq!(delivery.statuses, vec![Some(500), Some(500), Some(200)]);
    assert_eq!(delivery.outcome, InsperaDeliveryOutcome::Delivered);

    let received = hook.received.lock().expect("receiver lock").clone();
    assert_eq!(received.len(), 3);
    for attempt in &received {
        assert_eq!(attempt.body, received[0].body, "same body every attempt");
        assert_eq!(attempt.signature, received[0].signature, "same signature");
        assert_eq!(attempt.content_type.as_deref(), Some("application/json"));
    }
    let signature = received[0].signature.clone().expect("X-Inspera-Signature");
    assert_eq!(signature, delivery.signature);
    assert_eq!(received[0].body, delivery.body.as_bytes());
    assert!(hmac_sha1_verifies(
        WEBHOOK_SECRET,
        &received[0].body,
        &signature
    ));
    assert!(!hmac_sha1_verifies(
        "another-secret",
        &received[0].body,
        &signature
    ));

    let body: Value = serde_json::from_slice(&received[0].body).expect("json body");
    assert_eq!(body["event"], "appeal_decided");
    assert_eq!(body["eventName"], "appeal_decided");
    assert_eq!(body["contextObjectId"], test_id);
    assert_eq!(body["contextObjectType"], "TEST");
    assert_eq!(body["associatedObjectId"], candidate.as_str());
    assert_eq!(body["associatedObjectType"], "CANDIDATE");
    assert!(body["triggeringUserId"].is_u64());
    let grader = body["triggeringUserName"].as_str().expect("a user name");
    assert!(sandbox.inspera.personal_data().contains(&grader.to_owned()));
    let timestamp = body["timestamp"].as_str().expect("timestamp");
    assert!(chrono::DateTime::parse_from_rfc3339(timestamp).is_ok() && timestamp.ends_with('Z'));
}

#[tokio::test]
async fn explanation_webhooks_name_the_explanation_and_failures_stop_after_four_attempts() {
    let sandbox = inspera_sandbox().await;
    let client = reqwest::Client::new();
    let token = token(&client, &sandbox).await;
    let (vurd_id, candidate) = seeded_appeal(&sandbox);
    let test_id = test_id_of(&client, &sandbox, &token, &vurd_id).await;
    let (status, _) = send(
        client
            .post(api(&sandbox, &format!("/test/{test_id}/options")))
            .bearer_auth(&token)
            .json(&json!({ "testOptions": { "explanationOptions": [
                { "option": INSPERA_EXPLANATIONS_OPTION, "value": true },
            ] } })),
    )
    .await;
    assert_eq!(status, 200);
    let request = || {
        client
            .post(api(&sandbox, &format!("/test/{test_id}/explanations")))
            .bearer_auth(&token)
            .json(&json!({ "candidateId": candidate }))
    };
    assert_eq!(send(request()).await.0, 201);
    assert_eq!(sandbox.inspera.give_explanations(), 1);
    assert!(
        sandbox.inspera.webhook_deliveries().is_empty(),
        "no subscription, no webhook"
    );

    let hook = receiver(vec![503; 10]).await;
    sandbox
        .inspera
        .set_webhook(hook.url.clone(), WEBHOOK_SECRET);
    let (status, explanation) = send(request()).await;
    assert_eq!(status, 201);
    assert_eq!(sandbox.inspera.give_explanations(), 1);
    assert!(
        sandbox
            .inspera
            .wait_for_webhooks(Duration::from_secs(10))
            .await
    );
    let delivery = sandbox.inspera.webhook_deliveries().remove(0);
    assert_eq!(delivery.event, "explanation_given");
    assert_eq!(delivery.attempts(), 4, "the first attempt and 3 retries");
    assert_eq!(delivery.outcome, InsperaDeliveryOutcome::Failed);
    assert_eq!(hook.received.lock().expect("receiver lock").len(), 4);
    let body: Value = serde_json::from_str(&delivery.body).expect("json body");
    assert_eq!(body["associatedObjectId"], explanation["explanationId"]);
    assert!(body["associatedObjectId"].is_u64());
    assert_eq!(body["associatedObjectType"], "EXPLANATION");
    assert!(hmac_sha1_verifies(
        WEBHOOK_SECRET,
        delivery.body.as_bytes(),
        &delivery.signature
    ));
}

#[tokio::test]
async fn faults_answer_503_without_effect_and_spare_the_admin_routes() {
    let sandbox = inspera_sandbox().await;
    let client = reqwest::Client::new();
    let token = token(&client, &sandbox).await;
    let (vurd_id, candidate) = seeded_appeal(&sandbox);
    let test_id = test_id_of(&client, &sandbox, &token, &vurd_id).await;
    let before = sandbox.inspera.request_count();

    let response = client
        .put(format!("{}/_sandbox/faults", sandbox.inspera_url))
        .json(&json!({ "error_rate": 1.0 }))
        .send()
        .await
        .expect("faults");
    assert_eq!(response.status(), 200);
    assert_eq!(sandbox.inspera.faults().error_rate, 1.0);
    for _ in 0..3 {
        let (status, body) = send(
            client
                .post(api(&sandbox, &format!("/test/{test_id}/appeals")))
                .bearer_auth(&token)
                .json(&json!({ "candidateId": candidate })),
        )
        .await;
        assert_eq!(status, 503);
        assert!(body["error"].is_string());
    }
    let (status, _) = send(token_request(&client, &sandbox, CLIENT_ID, API_KEY)).await;
    assert_eq!(status, 503);
    assert!(sandbox.inspera.appeals().is_empty());
    assert_eq!(sandbox.inspera.request_count(), before + 4);

    let state: Value = client
        .get(format!("{}/_sandbox/state", sandbox.inspera_url))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("state json");
    assert_eq!(state["faults"]["error_rate"], 1.0);
    assert_eq!(
        sandbox.inspera.request_count(),
        before + 4,
        "admin routes are not counted"
    );
}

#[tokio::test]
async fn admin_routes_steer_graders_and_the_webhook() {
    let sandbox = inspera_sandbox().await;
    let client = reqwest::Client::new();
    let admin = |path: &str| format!("{}/_sandbox{path}", sandbox.inspera_url);
    let hook = receiver(Vec::new()).await;

    let response = client
        .put(admin("/webhook"))
        .json(&json!({ "url": "ftp://nowhere", "secret": "s" }))
        .send()
        .await
        .expect("webhook");
    assert_eq!(response.status(), 400);
    let response = client
        .put(admin("/webhook"))
        .json(&json!({ "url": hook.url, "secret": WEBHOOK_SECRET }))
        .send()
        .await
        .expect("webhook");
    assert_eq!(response.status(), 204);

    register_first_appeal(&client, &sandbox).await;
    let (status, decided) = send(client.post(admin("/appeals/decide"))).await;
    assert_eq!((status, decided), (200, json!({ "decided": 1 })));
    let (status, given) = send(client.post(admin("/explanations/give"))).await;
    assert_eq!((status, given), (200, json!({ "given": 0 })));
    assert!(
        sandbox
            .inspera
            .wait_for_webhooks(Duration::from_secs(10))
            .await
    );

    let (status, state) = send(client.get(admin("/state"))).await;
    assert_eq!(status, 200);
    assert_eq!(state["appeals"]["decided"], 1);
    assert_eq!(state["webhooks"]["delivered"], 1);
    assert_eq!(state["token_requests"], 1);
    assert_eq!(state["duplicate_explanation_requests"], 0);
    assert!(state["tests"].as_u64().expect("tests") > 0);
    let (status, deliveries) = send(client.get(admin("/webhooks"))).await;
    assert_eq!(status, 200);
    assert_eq!(deliveries[0]["event"], "appeal_decided");
    assert_eq!(deliveries[0]["outcome"], "delivered");
    assert_eq!(deliveries[0]["statuses"], json!([200]));
}

#[tokio::test]
async fn the_binary_prints_the_inspera_url() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flyt-sandbox"))
        .args([
            "--inspera-port",
            "0",
            "--objects",
            "5",
            "--descriptions",
            "5",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("one line");
    let urls: Value = serde_json::from_str(&line).expect("json line");
    let inspera_url = urls["inspera_url"].as_str().expect("inspera_url");
    let state: Value = reqwest::get(format!("{inspera_url}/_sandbox/state"))
        .await
        .expect("state")
        .json()
        .await
        .expect("state json");
    assert!(state["tests"].as_u64().expect("tests") > 0);
    child.kill().expect("kill");
    child.wait().expect("wait");
}

#[tokio::test]
async fn a_subscription_is_validated_with_an_unsigned_post_that_must_be_answered_200() {
    let sandbox = inspera_sandbox().await;
    let client = reqwest::Client::new();
    let refusing = receiver(vec![401]).await;
    let refused = sandbox
        .inspera
        .subscribe_webhook(refusing.url.clone(), WEBHOOK_SECRET)
        .await
        .expect_err("a 401 refuses the subscription");
    assert!(
        refused.contains("answered the validation POST with 401"),
        "{refused}"
    );
    register_first_appeal(&client, &sandbox).await;
    assert_eq!(sandbox.inspera.decide_appeals(), 1);
    assert!(
        sandbox.inspera.webhook_deliveries().is_empty(),
        "a refused subscription gets no events"
    );

    let accepting = receiver(Vec::new()).await;
    sandbox
        .inspera
        .subscribe_webhook(accepting.url.clone(), WEBHOOK_SECRET)
        .await
        .expect("a 200 registers the subscription");
    let received = accepting.received.lock().expect("receiver lock").clone();
    assert_eq!(received.len(), 1, "one validation call");
    assert_eq!(received[0].signature, None, "unsigned");
    assert!(received[0].body.is_empty(), "no body");
}
