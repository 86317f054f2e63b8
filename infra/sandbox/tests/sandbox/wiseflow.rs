//! The WISEflow API: key and bearer auth, flows derived from FS found by SIS
//! code, paged participants, idempotent reassessments and explanation
//! requests, explanation states, visibility, faults.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use flyt_sandbox::{Faults, FsAppeal, Sandbox, SandboxOptions};
use serde_json::{json, Value};

const API_KEY: &str = "local-wiseflow-key";
/// The institution the default FS serves on WISEflow.
const INSTITUTION: &str = "194";

/// A sandbox with small Bokbasen reports and the default FS seed.
async fn wiseflow_sandbox() -> Sandbox {
    Sandbox::start(SandboxOptions {
        objects: 5,
        descriptions: 5,
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts")
}

fn api(sandbox: &Sandbox, path: &str) -> String {
    format!("{}/v1{path}", sandbox.wiseflow_url)
}

/// Status and body (JSON, or `Null` when empty) of a request sent with the API key.
async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request
        .header("x-api-key", API_KEY)
        .send()
        .await
        .expect("wiseflow request");
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).expect("json body")
    };
    (status, json)
}

/// The SIS code of the first seeded appeal of the WISEflow institution.
fn a_sis_code(sandbox: &Sandbox) -> String {
    sandbox.fs.appeals(INSTITUTION)[0].sis_code.clone()
}

/// Every distinct `kandidatnr` FS lists for an exam of the WISEflow institution.
fn candidates_of(sandbox: &Sandbox, sis_code: &str) -> BTreeSet<String> {
    let appeals = sandbox.fs.appeals(INSTITUTION);
    let requests = sandbox.fs.explanation_requests(INSTITUTION);
    appeals
        .iter()
        .filter(|a| a.sis_code == sis_code)
        .map(|a| a.candidate_number.clone())
        .chain(
            requests
                .iter()
                .filter(|r| r.sis_code == sis_code)
                .map(|r| r.candidate_number.clone()),
        )
        .collect()
}

/// The sources `POST /sources/search` finds for `source_code` (one page of 100).
async fn search(client: &reqwest::Client, sandbox: &Sandbox, source_code: &str) -> (u16, Value) {
    send(
        client
            .post(api(sandbox, "/sources/search"))
            .json(&json!({ "sourceCode": source_code })),
    )
    .await
}

/// The flow id WISEflow gives an exam, found through the API.
async fn flow_id(client: &reqwest::Client, sandbox: &Sandbox, sis_code: &str) -> u64 {
    let (status, found) = search(client, sandbox, sis_code).await;
    assert_eq!(status, 200, "{found}");
    let sources = found["data"].as_array().expect("data");
    assert_eq!(sources.len(), 1, "{found}");
    assert_eq!(sources[0]["code"], sis_code);
    sources[0]["flow"]["flowid"].as_u64().expect("flowid")
}

/// Every participant of a flow, read `limit` at a time.
async fn all_participants(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    flow: u64,
    limit: usize,
) -> Vec<Value> {
    let mut participants = Vec::new();
    loop {
        let url = api(sandbox, &format!("/flows/{flow}/participants"));
        let offset = participants.len().to_string();
        let (status, page) = send(
            client
                .get(url)
                .query(&[("offset", offset.as_str()), ("limit", &limit.to_string())]),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["success"], true);
        let data = page["data"].as_array().expect("data").clone();
        assert!(data.len() <= limit);
        let total = page["pagination"]["total"].as_u64().expect("total") as usize;
        participants.extend(data);
        if participants.len() >= total {
            return participants;
        }
    }
}

#[tokio::test]
async fn routes_need_the_api_key_or_a_bearer_token() {
    let sandbox = wiseflow_sandbox().await;
    let client = reqwest::Client::new();
    let url = api(
        &sandbox,
        &format!("/flow/{}", sandbox.wiseflow.flows()[0].id),
    );

    let missing = client.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.text().await.unwrap(), "\"Unauthorized\"");
    let wrong = client
        .get(&url)
        .header("x-api-key", "local-wiseflow-kez")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(send(client.get(&url)).await.0, 200);

    let token_url = api(&sandbox, "/oauth2/token");
    let refused = client
        .post(&token_url)
        .form(&[
            ("client_id", "flyt-local"),
            ("client_secret", "wrong"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_client");
    let no_grant = client
        .post(&token_url)
        .form(&[
            ("client_id", "flyt-local"),
            ("client_secret", "local-wiseflow-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(no_grant.status(), 400);
    crate::expect_violations(&sandbox, &["\"grant_type\" is a required property"]);

    let issued: Value = client
        .post(&token_url)
        .form(&[
            ("client_id", "flyt-local"),
            ("client_secret", "local-wiseflow-secret"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(issued["expires_in"], 3600);
    assert_eq!(issued["token_type"], "Bearer");
    assert_eq!(issued["scope"], "");
    let token = issued["access_token"].as_str().expect("access_token");
    let with_token = client.get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(with_token.status(), 200);
    let with_other = client
        .get(&url)
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(with_other.status(), 401);
}

#[tokio::test]
async fn flows_are_found_by_a_source_search_on_fs_sis_codes() {
    let sandbox = wiseflow_sandbox().await;
    let client = reqwest::Client::new();
    let sis_code = a_sis_code(&sandbox);

    let (status, found) = search(&client, &sandbox, &sis_code).await;
    assert_eq!(status, 200);
    assert_eq!(found["success"], true);
    assert_eq!(found["pagination"]["total"], 1);
    let source = &found["data"][0];
    assert_eq!(source["code"], sis_code.as_str());
    assert_eq!(source["flow"]["state"], "CONCLUDED");
    let id = source["flow"]["flowid"].as_u64().unwrap();
    assert!(id >= 1001);
    let known = sandbox.wiseflow.flows();
    let same = known.iter().find(|f| f.id == id).expect("inspectable");
    assert_eq!(same.sis_code, sis_code);
    assert_eq!(
        same.assessment_id,
        sandbox.fs.appeals(INSTITUTION)[0].assessment_id
    );
    assert_eq!(known.len(), 10, "one flow per seeded course");

    let course_code = sis_code.split("||").nth(1).unwrap();
    let (_, wildcard) = search(&client, &sandbox, &format!("*||{course_code}||*||*")).await;
    assert_eq!(wildcard["data"][0]["flow"]["flowid"], id);

    let (status, none) = search(&client, &sandbox, "Nothing||NONE100||VÅR||1999").await;
    assert_eq!((status, &none["data"]), (200, &json!([])));
    let (status, body) = search(&client, &sandbox, "*||ab||*").await;
    assert_eq!(
        (status, &body["success"]),
        (400, &json!(false)),
        "no part of 3 characters"
    );

    let (status, basic) = send(client.get(api(&sandbox, &format!("/flow/{id}")))).await;
    assert_eq!(status, 200);
    assert_eq!(basic["id"], id);
    assert_eq!(basic["name"], sis_code.split("||").next().unwrap());
    assert_eq!(basic["sisInformation"], json!([{ "code": sis_code }]));
    assert_eq!(
        (basic["variant"].clone(), basic["purpose"].clone()),
        (json!(0), json!(0))
    );
    let (status, body) = send(client.get(api(&sandbox, "/flow/999999"))).await;
    assert_eq!((status, body), (404, Value::Null));
}

#[tokio::test]
async fn participants_are_paged_and_are_fs_candidates() {
    let sandbox = wiseflow_sandbox().await;
    let client = reqwest::Client::new();
    let sis_code = a_sis_code(&sandbox);
    let flow = flow_id(&client, &sandbox, &sis_code).await;
    let expected = candidates_of(&sandbox, &sis_code);
    assert!(expected.len() > 7, "enough for several pages");

    let participants = all_participants(&client, &sandbox, flow, 7).await;
    let candidates: BTreeSet<String> = participants
        .iter()
        .map(|p| p["uniqueExamId"].as_str().expect("uniqueExamId").to_owned())
        .collect();
    assert_eq!(
        candidates, expected,
        "the SIS sets uniqueExamId: FS's kandidatnr"
    );
    let numbers: Vec<u64> = participants
        .iter()
        .map(|p| p["number"].as_u64().expect("number"))
        .collect();
    assert_eq!(
        numbers,
        (1..=participants.len() as u64).collect::<Vec<_>>(),
        "number is WISEflow's own sequence in the flow"
    );
    let ids: BTreeSet<u64> = participants
        .iter()
        .map(|p| p["participantId"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), participants.len());
    assert!(ids.iter().all(|id| *id >= 50001));
    let first = &participants[0];
    assert_eq!(first["submissionId"], Value::Null);
    assert!(first["user"]["firstName"].is_string() && first["user"]["phone"].is_string());
    assert_eq!(
        all_participants(&client, &sandbox, flow, 100).await,
        participants,
        "ids are stable"
    );

    let url = api(&sandbox, &format!("/flows/{flow}/participants"));
    let (status, page) = send(client.get(&url)).await;
    assert_eq!(status, 200);
    assert_eq!(
        page["pagination"],
        json!({ "limit": 100, "offset": 0, "total": expected.len() })
    );
    let (status, page) = send(client.get(&url).query(&[("limit", "101")])).await;
    assert_eq!(status, 400);
    assert_eq!(page["success"], false);
    assert!(page["error"]["message"].as_str().unwrap().contains("limit"));
    crate::expect_violations(
        &sandbox,
        &["'limit': at '': 101 is greater than the maximum of 100"],
    );
    let (status, page) = send(client.get(api(&sandbox, "/flows/999999/participants"))).await;
    assert_eq!(status, 404);
    assert_eq!(page["success"], false);
}

#[tokio::test]
async fn a_reassessment_is_created_once_and_needs_the_module() {
    let sandbox = wiseflow_sandbox().await;
    let client = reqwest::Client::new();
    let flows = sandbox.wiseflow.flows();
    let (first, second) = (flows[0].id, flows[1].id);
    let url = |flow: u64| api(&sandbox, &format!("/flow/{flow}/reassessment"));

    let (status, created) = send(client.post(url(first))).await;
    assert_eq!(status, 201);
    assert_eq!(created["queuedForSynchronization"], false);
    let reassessment = created["reassessmentFlowId"].as_u64().unwrap();
    let (status, again) = send(
        client
            .post(url(first))
            .json(&json!({ "synchronize": false })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(again["reassessmentFlowId"], reassessment);
    let recorded = &sandbox.wiseflow.reassessments()[&first];
    assert_eq!(
        (
            recorded.reassessment_flow_id,
            recorded.creations,
            recorded.repeats
        ),
        (reassessment, 1, 1)
    );
    assert_eq!(send(client.post(url(999_999))).await, (404, Value::Null));

    sandbox.wiseflow.set_reassessment_module(false);
    assert_eq!(send(client.post(url(second))).await, (403, Value::Null));
    let admin = client
        .put(format!(
            "{}/_sandbox/reassessment-module",
            sandbox.wiseflow_url
        ))
        .json(&json!({ "enabled": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
    assert_eq!(send(client.post(url(second))).await.0, 201);
    assert_eq!(sandbox.wiseflow.reassessments().len(), 2);
}

#[tokio::test]
async fn explanation_requests_are_idempotent_advance_and_change_visibility() {
    let sandbox = wiseflow_sandbox().await;
    let client = reqwest::Client::new();
    let flows = sandbox.wiseflow.flows();
    let flow = flows[0].id;
    let participants = all_participants(&client, &sandbox, flow, 100).await;
    let participant = participants[0]["participantId"].as_u64().unwrap();
    let other_flow = flows[1].id;
    let stranger = all_participants(&client, &sandbox, other_flow, 100).await[0]["participantId"]
        .as_u64()
        .unwrap();
    let url = api(&sandbox, &format!("/flow/{flow}/explanation/request"));

    let body = json!({ "participantId": participant, "showJustification": false });
    let (status, created) = send(client.post(&url).json(&body)).await;
    assert_eq!(status, 201);
    assert_eq!(created["showJustification"], false);
    let id = created["explanationRequestId"].as_u64().unwrap();
    let (status, again) = send(client.post(&url).json(&body)).await;
    assert_eq!((status, &again["explanationRequestId"]), (200, &json!(id)));
    assert_eq!(sandbox.wiseflow.repeated_explanation_posts(), 1);

    let missing = json!({ "participantId": participant });
    assert_eq!(
        send(client.post(&url).json(&missing)).await,
        (400, Value::Null)
    );
    crate::expect_violations(&sandbox, &["\"showJustification\" is a required property"]);
    let foreign = json!({ "participantId": stranger, "showJustification": true });
    assert_eq!(
        send(client.post(&url).json(&foreign)).await,
        (400, Value::Null)
    );
    let nowhere = api(&sandbox, "/flow/999999/explanation/request");
    assert_eq!(
        send(client.post(&nowhere).json(&body)).await,
        (404, Value::Null)
    );
    assert_eq!(send(client.get(&nowhere)).await, (404, Value::Null));

    let (status, listed) = send(client.get(&url)).await;
    assert_eq!(status, 200);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["explanationId"], id);
    assert_eq!(listed[0]["state"], 0);
    assert!(listed[0].get("acceptDate").is_none(), "not accepted yet");
    let requested = listed[0]["requestDate"].as_i64().unwrap();
    assert!(
        (1_000_000_000..10_000_000_000).contains(&requested),
        "unix seconds"
    );
    assert_eq!(listed[0]["participant"]["participantId"], participant);
    assert_eq!(
        listed[0]["participant"]["ssoUrl"],
        format!("https://europe.wiseflow.net/sso/explanation/{id}")
    );

    let advanced: Value = client
        .post(format!(
            "{}/_sandbox/explanations/advance",
            sandbox.wiseflow_url
        ))
        .json(&json!({ "state": 3 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(advanced["moved"], 1);
    let (status, one) = send(client.get(format!("{url}/{id}"))).await;
    assert_eq!(status, 200);
    assert_eq!(one["state"], 3);
    assert!(one["acceptDate"].as_i64().unwrap() >= one["requestDate"].as_i64().unwrap());
    assert_eq!(sandbox.wiseflow.advance_explanations(3), 0);
    assert_eq!(
        send(client.get(format!("{url}/999999"))).await,
        (404, Value::Null)
    );

    for _ in 0..2 {
        let (status, patched) = send(
            client
                .patch(format!("{url}/{id}"))
                .json(&json!({ "showJustification": true })),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            patched,
            json!({ "success": true, "data": [{ "explanationRequestId": id, "showJustification": true }] })
        );
    }
    assert_eq!(sandbox.wiseflow.justification_shown_count(), 1);
    let (status, patched) = send(
        client
            .patch(format!("{url}/999999"))
            .json(&json!({ "showJustification": true })),
    )
    .await;
    assert_eq!((status, &patched["success"]), (404, &json!(false)));
    let requests = sandbox.wiseflow.explanation_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].posts, 2);
    assert_eq!(
        requests[0].visibility_patches, 2,
        "every accepted PATCH counted"
    );
    assert_eq!(sandbox.wiseflow.failed_patches(), 1, "the 404 PATCH");
    assert!(requests[0].show_justification);
    assert_eq!(
        requests[0].candidate_number,
        participants[0]["uniqueExamId"].as_str().unwrap()
    );
}

#[tokio::test]
async fn faults_answer_503_and_are_counted() {
    let sandbox = wiseflow_sandbox().await;
    let client = reqwest::Client::new();
    let url = api(&sandbox, "/flow/1001");
    let before = sandbox.wiseflow.request_count();
    let admin = client
        .put(format!("{}/_sandbox/faults", sandbox.wiseflow_url))
        .json(&json!({ "error_rate": 1.0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
    assert_eq!(sandbox.wiseflow.faults().error_rate, 1.0);
    let (status, body) = send(client.get(&url)).await;
    assert_eq!(status, 503);
    assert_eq!(body["success"], false);
    sandbox.wiseflow.set_faults(Faults::default());
    assert_eq!(send(client.get(&url)).await.0, 200);
    assert_eq!(sandbox.wiseflow.request_count(), before + 2);
    let state: Value = client
        .get(format!("{}/_sandbox/state", sandbox.wiseflow_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["request_count"], before + 2);
    assert_eq!(state["flows"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn appeals_appended_to_fs_show_up_in_wiseflow() {
    let sandbox = wiseflow_sandbox().await;
    let client = reqwest::Client::new();
    let seeded = sandbox.fs.appeals(INSTITUTION)[0].clone();
    let flow = flow_id(&client, &sandbox, &seeded.sis_code).await;
    let before = all_participants(&client, &sandbox, flow, 100).await;

    sandbox.fs.append_appeal(FsAppeal {
        candidate_number: "1000001".to_owned(),
        changed_at: String::new(),
        ..seeded.clone()
    });
    let after = all_participants(&client, &sandbox, flow, 100).await;
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after[..before.len()], before[..], "earlier ids stay");
    assert_eq!(after.last().unwrap()["uniqueExamId"], "1000001");

    let new_exam = format!(
        "{}||NEW100||VÅR||2031",
        seeded.sis_code.split("||").next().unwrap()
    );
    sandbox.fs.append_appeal(FsAppeal {
        candidate_number: "1000002".to_owned(),
        sis_code: new_exam.clone(),
        changed_at: String::new(),
        ..seeded
    });
    let new_flow = flow_id(&client, &sandbox, &new_exam).await;
    assert!(new_flow > flow);
    let participants = all_participants(&client, &sandbox, new_flow, 100).await;
    assert_eq!(participants.len(), 1);
    assert_eq!(participants[0]["uniqueExamId"], "1000002");
}

#[tokio::test]
async fn the_binary_serves_wiseflow_on_the_given_port() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flyt-sandbox"))
        .args([
            "--wiseflow-port",
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
    let wiseflow_url = urls["wiseflow_url"].as_str().expect("wiseflow_url");
    let state: Value = reqwest::get(format!("{wiseflow_url}/_sandbox/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["reassessment_module"], true);
    child.kill().expect("kill");
    child.wait().expect("wait");
}
