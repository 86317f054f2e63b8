//! Master theses in both exam systems. WISEflow lists submissions in windows of at most 30
//! days and describes each submission and its files. Files download from unauthenticated links
//! whose bytes hash to the listed SHA-256, and the 12 MiB one streams whole. The missing file
//! answers 404 and the quarantined one says so. Inspera announces each thesis with a signed
//! `thesis_submitted` webhook, then describes it and serves its files.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use chrono::Utc;
use flyt_sandbox::{
    Faults, InsperaDeliveryOutcome, Sandbox, SandboxOptions, SandboxThesis, ThesisAccess,
    ThesisCase, THESIS_EMBARGO_UNTIL, THESIS_LARGE_FILE_BYTES,
};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

const WISEFLOW_KEY: &str = "local-wiseflow-key";
const WEBHOOK_SECRET: &str = "thesis-webhook-secret";
const DAY_S: i64 = 24 * 60 * 60;

/// A sandbox with small Bokbasen reports, the default FS (185 on Inspera, 194 on WISEflow) and
/// 14 theses per institution.
async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxOptions {
        objects: 5,
        descriptions: 5,
        inspera_webhook_retry_delay_ms: 20,
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts")
}

/// Status and JSON body (`Null` when empty or not JSON) of a request.
async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// `GET` a WISEflow API path with the API key.
async fn wiseflow_get(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    path: &str,
    query: &[(&str, String)],
) -> (u16, Value) {
    send(
        client
            .get(format!("{}/v1{path}", sandbox.wiseflow_url))
            .query(query)
            .header("x-api-key", WISEFLOW_KEY),
    )
    .await
}

/// `GET /v1/license/submissions` for `[start, end]` (unix seconds), assessed or not; returns the
/// bare array's items.
async fn submissions_between(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    start: i64,
    end: i64,
    assessed: bool,
) -> Vec<Value> {
    let query = [
        ("start", start.to_string()),
        ("end", end.to_string()),
        ("purpose", "3".to_owned()),
        ("assessed", assessed.to_string()),
    ];
    let (status, body) = wiseflow_get(client, sandbox, "/license/submissions", &query).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().expect("a bare array").clone()
}

/// The SHA-256 of `bytes`, lowercase hex.
fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The one thesis of `case` in the first institution of `theses`.
fn thesis_with(theses: &[SandboxThesis], case: ThesisCase) -> SandboxThesis {
    theses
        .iter()
        .find(|t| t.case == case && t.institution == theses[0].institution)
        .cloned()
        .expect("a thesis of that case")
}

/// Downloads a URL, streaming it chunk by chunk; returns the status, `Content-Length` and bytes.
async fn download(client: &reqwest::Client, url: &str) -> (u16, Option<u64>, Vec<u8>) {
    let mut response = client.get(url).send().await.expect("download");
    let status = response.status().as_u16();
    let length = response.content_length();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        bytes.extend_from_slice(&chunk);
    }
    (status, length, bytes)
}

#[tokio::test]
async fn wiseflow_lists_master_submissions_in_windows_of_at_most_30_days() {
    let sandbox = sandbox().await;
    let client = reqwest::Client::new();
    let theses = sandbox.wiseflow.theses();
    assert_eq!(theses.len(), 14, "institution 194 alone is on WISEflow");
    assert!(theses.iter().all(|t| t.institution == "194"));

    let now = Utc::now().timestamp();
    let too_wide = [
        ("start", (now - 31 * DAY_S).to_string()),
        ("end", now.to_string()),
        ("purpose", "3".to_owned()),
    ];
    let (status, body) = wiseflow_get(&client, &sandbox, "/license/submissions", &too_wide).await;
    assert_eq!(
        (status, body),
        (400, Value::Null),
        "more than 30 days: 400, no body"
    );
    let empty_window = [
        ("start", now.to_string()),
        ("end", now.to_string()),
        ("purpose", "3".to_owned()),
    ];
    let (status, _) = wiseflow_get(&client, &sandbox, "/license/submissions", &empty_window).await;
    assert_eq!(status, 400, "end must be greater than start");
    for missing in ["start", "end", "purpose"] {
        let query: Vec<(&str, String)> = [("start", now - DAY_S), ("end", now), ("purpose", 3)]
            .into_iter()
            .filter(|(name, _)| *name != missing)
            .map(|(name, value)| (name, value.to_string()))
            .collect();
        let (status, body) = wiseflow_get(&client, &sandbox, "/license/submissions", &query).await;
        assert_eq!((status, body), (400, Value::Null), "without {missing}");
        crate::expect_violations(
            &sandbox,
            &[&format!("required query parameter '{missing}' is missing")],
        );
    }

    let mut listed = BTreeSet::new();
    let mut unassessed = 0;
    for (start, end) in [
        (now - 30 * DAY_S, now),
        (now - 60 * DAY_S, now - 30 * DAY_S - 1),
    ] {
        for assessed in [true, false] {
            for item in submissions_between(&client, &sandbox, start, end, assessed).await {
                let submission_id = item["id"].as_u64().expect("id");
                assert!(listed.insert(submission_id), "{submission_id} listed twice");
                let thesis = theses
                    .iter()
                    .find(|t| t.submission_id == Some(submission_id))
                    .expect("a known submission");
                assert_eq!(item["flowId"].as_u64(), thesis.flow_id);
                assert_eq!(item["handedInBlank"], false);
                let handed_in = item["handedInDate"].as_i64().expect("handedInDate");
                assert_eq!(handed_in, thesis.handed_in_ms / 1000, "unix seconds");
                assert!((start..=end).contains(&handed_in));
                assert_eq!(thesis.graded_at.is_some(), assessed);
                unassessed += usize::from(!assessed);
            }
        }
    }
    let expected: BTreeSet<u64> = theses.iter().filter_map(|t| t.submission_id).collect();
    assert_eq!(
        listed, expected,
        "two 30-day windows, assessed and not, find every thesis"
    );
    assert!(
        unassessed > 0,
        "an ungraded thesis is listed only as not assessed"
    );

    let examinations = [
        ("start", (now - 30 * DAY_S).to_string()),
        ("end", now.to_string()),
        ("purpose", "0".to_owned()),
    ];
    let (status, body) =
        wiseflow_get(&client, &sandbox, "/license/submissions", &examinations).await;
    assert_eq!((status, body), (200, serde_json::json!([])));
}

#[tokio::test]
async fn wiseflow_describes_submissions_and_serves_their_files() {
    let sandbox = sandbox().await;
    let client = reqwest::Client::new();
    let theses = sandbox.wiseflow.theses();

    for thesis in &theses {
        let flow_id = thesis.flow_id.expect("flow");
        let submission_id = thesis.submission_id.expect("submission");
        let path = format!("/flows/{flow_id}/submissions/{submission_id}");
        let (status, body) = wiseflow_get(&client, &sandbox, &path, &[]).await;
        assert_eq!(status, 200, "{body}");
        let data = &body["data"];
        assert_eq!(data["submissionId"], submission_id);
        assert_eq!(data["flowId"], flow_id);
        assert_eq!(data["participantNumber"], thesis.candidate_number.as_str());
        assert_eq!(data["handedIn"], true);
        assert_eq!(data["title"], thesis.title.as_str());
        assert_eq!(data["gradedAt"].as_str(), thesis.graded_at.as_deref());
        assert_eq!(data["accessLevel"], thesis.access_level.as_str());
        assert_eq!(data["language"], thesis.language.as_str());

        let (status, body) = wiseflow_get(&client, &sandbox, &format!("{path}/files"), &[]).await;
        assert_eq!(status, 200, "{body}");
        let files = body["data"].as_array().expect("files");
        assert_eq!(files.len(), thesis.files.len());
        for (listed, file) in files.iter().zip(&thesis.files) {
            assert_eq!(listed["id"], file.id);
            assert_eq!(listed["type"], "DOCUMENT");
            assert_eq!(listed["filename"], file.filename.as_str());
            assert_eq!(listed["size"], file.size);
            assert!(
                listed.get("checksumSha256").is_none(),
                "WISEflow publishes no checksum"
            );
            // Present only on a quarantined file, as published; never null.
            assert_eq!(listed.get("quarantine").is_some(), file.quarantined);
            assert_eq!(listed["quarantine"].is_object(), file.quarantined);
            assert!(listed["link"]
                .as_str()
                .expect("link")
                .starts_with(&sandbox.wiseflow_url));
        }

        let (status, flow) =
            wiseflow_get(&client, &sandbox, &format!("/flow/{flow_id}"), &[]).await;
        assert_eq!(status, 200);
        assert_eq!(flow["purpose"], 3);
        assert_eq!(flow["sisInformation"][0]["code"], thesis.sis_code.as_str());
        let (status, found) = send(
            client
                .post(format!("{}/v1/sources/search", sandbox.wiseflow_url))
                .header("x-api-key", WISEFLOW_KEY)
                .json(&serde_json::json!({ "sourceCode": thesis.sis_code })),
        )
        .await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["data"][0]["flow"]["flowid"], flow_id);
    }

    let restricted = thesis_with(&theses, ThesisCase::Restricted);
    assert_eq!(restricted.access_level, ThesisAccess::Restricted);
    let embargoed = thesis_with(&theses, ThesisCase::Embargoed);
    let path = format!(
        "/flows/{}/submissions/{}",
        embargoed.flow_id.unwrap(),
        embargoed.submission_id.unwrap()
    );
    let (_, body) = wiseflow_get(&client, &sandbox, &path, &[]).await;
    assert_eq!(body["data"]["accessLevel"], "EMBARGOED");
    assert_eq!(body["data"]["embargoUntil"], THESIS_EMBARGO_UNTIL);

    let other_flow = theses
        .iter()
        .filter_map(|t| t.flow_id)
        .find(|id| Some(*id) != embargoed.flow_id);
    if let Some(other_flow) = other_flow {
        let path = format!(
            "/flows/{other_flow}/submissions/{}",
            embargoed.submission_id.unwrap()
        );
        let (status, body) = wiseflow_get(&client, &sandbox, &path, &[]).await;
        assert_eq!(status, 403, "{body}");
    }
    let (status, _) = wiseflow_get(&client, &sandbox, "/flows/999999/submissions/1", &[]).await;
    assert_eq!(status, 404);

    let quarantined = thesis_with(&theses, ThesisCase::QuarantinedFile);
    let path = format!(
        "/flows/{}/submissions/{}/files",
        quarantined.flow_id.unwrap(),
        quarantined.submission_id.unwrap()
    );
    let (_, body) = wiseflow_get(&client, &sandbox, &path, &[]).await;
    let held: Vec<&Value> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["quarantine"].is_object())
        .collect();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["quarantine"]["reason"], "virus-scan");
    assert_eq!(
        held[0]["quarantine"]["by"], "WISEFLOW",
        "one of the published sources"
    );
    assert!(held[0]["quarantine"]["createdAt"].is_string());
}

/// The `link` WISEflow lists for a file of a thesis.
async fn wiseflow_link(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    thesis: &SandboxThesis,
    file_id: u64,
) -> String {
    let path = format!(
        "/flows/{}/submissions/{}/files",
        thesis.flow_id.unwrap(),
        thesis.submission_id.unwrap()
    );
    let (_, body) = wiseflow_get(client, sandbox, &path, &[]).await;
    body["data"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["id"] == file_id)
        .and_then(|f| f["link"].as_str())
        .expect("a link")
        .to_owned()
}

#[tokio::test]
async fn wiseflow_links_stream_bytes_that_hash_to_the_listed_sha256() {
    let sandbox = sandbox().await;
    let client = reqwest::Client::new();
    let theses = sandbox.wiseflow.theses();

    let large = thesis_with(&theses, ThesisCase::LargeFile);
    let main = &large.files[0];
    assert_eq!(main.size, THESIS_LARGE_FILE_BYTES);
    let link = wiseflow_link(&client, &sandbox, &large, main.id).await;
    let (status, length, bytes) = download(&client, &link).await;
    assert_eq!(status, 200);
    assert_eq!(length, Some(THESIS_LARGE_FILE_BYTES));
    assert_eq!(bytes.len() as u64, THESIS_LARGE_FILE_BYTES, "streams whole");
    assert_eq!(sha256_hex(&bytes), main.sha256);
    assert_eq!(bytes, sandbox.wiseflow.file_bytes(main.id));
    assert_eq!(sandbox.wiseflow.downloads(main.id), 1);

    for thesis in theses.iter().filter(|t| t.position >= 5) {
        for file in &thesis.files {
            let link = wiseflow_link(&client, &sandbox, thesis, file.id).await;
            let (status, length, bytes) = download(&client, &link).await;
            assert_eq!(status, 200);
            assert_eq!(length, Some(file.size));
            assert_eq!(sha256_hex(&bytes), file.sha256, "{}", file.filename);
        }
    }

    let missing_thesis = thesis_with(&theses, ThesisCase::MissingFile);
    let missing = missing_thesis
        .files
        .iter()
        .find(|f| f.missing)
        .expect("a missing file");
    let link = wiseflow_link(&client, &sandbox, &missing_thesis, missing.id).await;
    let (status, _, body) = download(&client, &link).await;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("NoSuchKey"));
    assert_eq!(sandbox.wiseflow.downloads(missing.id), 1);

    let unsigned = link.split('?').next().expect("path").to_owned();
    let (status, _, _) = download(&client, &unsigned).await;
    assert_eq!(status, 403, "a link without its signature is refused");

    sandbox.wiseflow.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let (status, _, _) = download(&client, &link).await;
    assert_eq!(status, 503, "faults apply to downloads");
    sandbox.wiseflow.set_faults(Faults::default());
}

/// The body and signature of each webhook call received.
type Received = Arc<Mutex<Vec<(Vec<u8>, Option<String>)>>>;

async fn receive(State(received): State<Received>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers
        .get("x-inspera-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    received
        .lock()
        .expect("receiver lock")
        .push((body.to_vec(), signature));
    StatusCode::OK
}

/// A webhook receiver answering 200; its URL, what it received and its server task.
async fn receiver() -> (String, Received, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let received: Received = Arc::default();
    let router = Router::new()
        .route("/hook", post(receive))
        .with_state(received.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .await
            .expect("receiver serves");
    });
    (url, received, server)
}

/// A fresh Inspera access token.
async fn inspera_token(client: &reqwest::Client, sandbox: &Sandbox) -> String {
    let (status, body) = send(
        client
            .post(format!("{}/api/authenticate/token/", sandbox.inspera_url))
            .query(&[("grant_type", "authorization_code"), ("client_id", "uio")])
            .header("code", "local-inspera-key")
            .body(""),
    )
    .await;
    assert_eq!(status, 200);
    body["access_token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn inspera_announces_theses_with_signed_webhooks_and_serves_them() {
    let sandbox = sandbox().await;
    let client = reqwest::Client::new();
    let theses = sandbox.inspera.theses();
    assert_eq!(theses.len(), 14, "institution 185 alone is on Inspera");
    assert!(theses.iter().all(|t| t.test_id.is_some()));

    let (url, received, server) = receiver().await;
    sandbox.inspera.set_webhook(url, WEBHOOK_SECRET);
    assert_eq!(sandbox.inspera.submit_theses(), theses.len());
    assert!(
        sandbox
            .inspera
            .wait_for_webhooks(Duration::from_secs(20))
            .await
    );
    let deliveries = sandbox.inspera.webhook_deliveries();
    assert_eq!(deliveries.len(), theses.len());
    assert!(deliveries
        .iter()
        .all(|d| d.event == "thesis_submitted" && d.outcome == InsperaDeliveryOutcome::Delivered));
    let calls = received.lock().expect("receiver lock").clone();
    server.abort();
    assert_eq!(calls.len(), theses.len());
    let mut announced = BTreeSet::new();
    for (body, signature) in &calls {
        let mut mac = Hmac::<Sha1>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("key");
        mac.update(body);
        let signature = hex::decode(signature.as_deref().expect("signed")).expect("hex");
        assert!(mac.verify_slice(&signature).is_ok(), "signature verifies");
        let event: Value = serde_json::from_slice(body).expect("json");
        assert_eq!(event["event"], "thesis_submitted");
        assert_eq!(event["associatedObjectType"], "CANDIDATE");
        assert!(event["triggeringUserName"].is_string());
        let candidate = event["associatedObjectId"].as_str().expect("a string id");
        let test_id = event["contextObjectId"].as_u64().expect("test id");
        announced.insert((test_id, candidate.to_owned()));
    }
    let expected: BTreeSet<(u64, String)> = theses
        .iter()
        .map(|t| (t.test_id.unwrap(), t.candidate_number.clone()))
        .collect();
    assert_eq!(announced, expected);

    let token = inspera_token(&client, &sandbox).await;
    let submission_url = |thesis: &SandboxThesis| {
        format!(
            "{}/api/v1/test/{}/candidates/{}/submission",
            sandbox.inspera_url,
            thesis.test_id.unwrap(),
            thesis.candidate_number
        )
    };
    for thesis in &theses {
        let (status, body) = send(client.get(submission_url(thesis)).bearer_auth(&token)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["testId"], thesis.test_id.unwrap());
        assert_eq!(body["externalTestId"], thesis.assessment_id.as_str());
        assert_eq!(body["candidateId"], thesis.candidate_number.as_str());
        assert_eq!(body["submittedAt"], thesis.handed_in_at.as_str());
        assert_eq!(body["title"], thesis.title.as_str());
        assert_eq!(body["gradedAt"].as_str(), thesis.graded_at.as_deref());
        assert_eq!(body["accessLevel"], thesis.access_level.as_str());
        assert_eq!(
            body["embargoUntil"].as_str(),
            thesis.embargo_until.as_deref()
        );
        assert_eq!(body["language"], thesis.language.as_str());
        let files = body["files"].as_array().expect("files");
        assert_eq!(files.len(), thesis.files.len());
        for (listed, file) in files.iter().zip(&thesis.files) {
            assert_eq!(listed["fileId"], file.id);
            assert_eq!(listed["sha256"], file.sha256.as_str());
            assert_eq!(listed["quarantined"], file.quarantined);
            let url = listed["downloadUrl"].as_str().expect("downloadUrl");
            assert!(url.starts_with(&sandbox.inspera_url));
            if file.size < THESIS_LARGE_FILE_BYTES {
                let (status, _, bytes) = download(&client, url).await;
                if file.missing {
                    assert_eq!(status, 404);
                } else {
                    assert_eq!(status, 200);
                    assert_eq!(sha256_hex(&bytes), file.sha256);
                }
            }
        }
        let (status, test) = send(
            client
                .get(format!(
                    "{}/api/v1/test/{}",
                    sandbox.inspera_url,
                    thesis.test_id.unwrap()
                ))
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(test["externalTestId"], thesis.assessment_id.as_str());
    }

    let large = thesis_with(&theses, ThesisCase::LargeFile);
    let main = &large.files[0];
    let (status, length, bytes) = download(
        &client,
        &format!("{}/files/{}", sandbox.inspera_url, main.id),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(length, Some(THESIS_LARGE_FILE_BYTES));
    assert_eq!(bytes.len() as u64, THESIS_LARGE_FILE_BYTES);
    assert_eq!(sha256_hex(&bytes), main.sha256);
    assert_eq!(sandbox.inspera.downloads(main.id), 1);

    let quarantined = thesis_with(&theses, ThesisCase::QuarantinedFile);
    assert_eq!(
        quarantined.files.iter().filter(|f| f.quarantined).count(),
        1
    );
    let missing = thesis_with(&theses, ThesisCase::MissingFile);
    let gone = missing.files.iter().find(|f| f.missing).expect("missing");
    assert_eq!(sandbox.inspera.downloads(gone.id), 1);

    let stranger = SandboxThesis {
        candidate_number: "000000".to_owned(),
        ..large.clone()
    };
    let (status, body) = send(client.get(submission_url(&stranger)).bearer_auth(&token)).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = send(client.get(submission_url(&large))).await;
    assert_eq!(status, 401, "the submission needs a token");
}

#[tokio::test]
async fn an_ungraded_thesis_is_served_without_a_grade_until_it_is_graded() {
    let grading = flyt_sandbox::ThesisGrading::default();
    let sandbox = Sandbox::start(SandboxOptions {
        objects: 5,
        descriptions: 5,
        thesis_grading: grading.clone(),
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts");
    let client = reqwest::Client::new();
    let theses = sandbox.wiseflow.theses();
    let ungraded = thesis_with(&theses, ThesisCase::Ungraded);
    assert_eq!(
        theses.iter().filter(|t| t.graded_at.is_none()).count(),
        1,
        "one ungraded WISEflow thesis"
    );
    let path = format!(
        "/flows/{}/submissions/{}",
        ungraded.flow_id.unwrap(),
        ungraded.submission_id.unwrap()
    );
    let (status, body) = wiseflow_get(&client, &sandbox, &path, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["gradedAt"], Value::Null);
    let inspera_ungraded = sandbox
        .inspera
        .theses()
        .into_iter()
        .filter(|t| t.graded_at.is_none())
        .collect::<Vec<_>>();
    assert_eq!(inspera_ungraded.len(), 1, "one ungraded Inspera thesis");
    assert_eq!(inspera_ungraded[0].case, ThesisCase::Ungraded);

    let when = Utc::now() - chrono::Duration::days(40);
    grading.grade(&ungraded.candidate_number, when);
    let (_, body) = wiseflow_get(&client, &sandbox, &path, &[]).await;
    let served = body["data"]["gradedAt"].as_str().expect("graded now");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(served)
            .unwrap()
            .timestamp(),
        when.timestamp()
    );
    assert_eq!(
        sandbox
            .inspera
            .theses()
            .iter()
            .filter(|t| t.graded_at.is_none())
            .count(),
        1,
        "grading a WISEflow candidate leaves Inspera's thesis ungraded"
    );
}

#[tokio::test]
async fn wiseflow_gives_a_reassessment_grade_on_the_remarking_flow_once_graded() {
    let sandbox = sandbox().await;
    let client = reqwest::Client::new();
    let thesis = thesis_with(&sandbox.wiseflow.theses(), ThesisCase::Ordinary);
    let flow_id = thesis.flow_id.unwrap();
    let remarking = format!("/flows/{flow_id}/remarking");
    let (status, body) = wiseflow_get(&client, &sandbox, &remarking, &[]).await;
    assert_eq!(
        (status, &body["data"]),
        (200, &Value::Null),
        "no remarking flow yet"
    );
    let (status, body) = wiseflow_get(&client, &sandbox, "/flows/999999/remarking", &[]).await;
    assert_eq!((status, body), (404, Value::Null));

    let (status, _) = send(
        client
            .post(format!(
                "{}/v1/flow/{flow_id}/reassessment",
                sandbox.wiseflow_url
            ))
            .header("x-api-key", WISEFLOW_KEY)
            .json(&serde_json::json!({ "synchronize": false })),
    )
    .await;
    assert_eq!(status, 201);
    let (_, body) = wiseflow_get(&client, &sandbox, &remarking, &[]).await;
    let remarking_flow = body["data"]["flowId"].as_u64().expect("the remarking flow");
    let reassessment = sandbox.wiseflow.reassessments()[&flow_id].reassessment_flow_id;
    assert_eq!(
        remarking_flow, reassessment,
        "the flow the reassessment call made"
    );

    let (status, page) = wiseflow_get(
        &client,
        &sandbox,
        &format!("/flows/{remarking_flow}/participants"),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let participant = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["uniqueExamId"] == thesis.candidate_number.as_str())
        .expect("the candidate is on the remarking flow")["participantId"]
        .as_u64()
        .unwrap();
    let assessment = format!("/flow/{remarking_flow}/assessments/{participant}");
    let (status, body) = wiseflow_get(&client, &sandbox, &assessment, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["id"], Value::Null, "not graded yet");
    assert!(body["data"].get("grade").is_none());

    let when = Utc::now();
    sandbox
        .wiseflow
        .thesis_grading()
        .grade_reassessment(&thesis.candidate_number, when);
    let (_, body) = wiseflow_get(&client, &sandbox, &assessment, &[]).await;
    assert_eq!(body["data"]["grade"], "B");
    assert_eq!(body["data"]["date"], when.timestamp(), "unix seconds");
    let (status, body) = wiseflow_get(
        &client,
        &sandbox,
        &format!("/flow/{remarking_flow}/assessments/1"),
        &[],
    )
    .await;
    assert_eq!((status, &body["success"]), (404, &serde_json::json!(false)));
}
