//! What the DigEks proxy tests share: a platform whose FS serves two institutions per exam system,
//! clients with keys, a caller over real HTTP, and a valid request for every operation.

use std::collections::BTreeSet;

use flyt::api_clients::ApiClient;
use flyt::institution::ExamSystem;
use flyt_local::{Emulator, Local, LocalOptions};
use flyt_sandbox::{FsInstitution, SandboxOptions};
use serde_json::{json, Value};

/// Institutions of the DigEks tests: two on Inspera, two on WISEflow.
pub const INSTITUTIONS: [(&str, &str); 4] = [
    ("185", "INSPERA"),
    ("1120", "INSPERA"),
    ("194", "WISEFLOW"),
    ("186", "WISEFLOW"),
];

/// A platform whose FS serves [`INSTITUTIONS`], with a few appeals and requests each.
pub async fn digeks_platform() -> Local {
    digeks_platform_with(&[]).await
}

/// The same, with environment values that differ for every function.
pub async fn digeks_platform_with(env: &[(&str, &str)]) -> Local {
    digeks_platform_shaped(env, |_| {}).await
}

/// The same, with the options changed further by `shape` (e.g. a function's timeout).
pub async fn digeks_platform_shaped(
    env: &[(&str, &str)],
    shape: impl FnOnce(&mut LocalOptions),
) -> Local {
    let mut options = LocalOptions {
        sandbox: SandboxOptions {
            institutions: INSTITUTIONS
                .iter()
                .map(|(nr, system)| FsInstitution::new(nr, system))
                .collect(),
            appeals_per_institution: 12,
            explanations_per_institution: 12,
            seed: fastrand::u64(..),
            ..SandboxOptions::default()
        },
        ..LocalOptions::default()
    };
    for (name, value) in env {
        options.env.insert((*name).to_owned(), (*value).to_owned());
    }
    shape(&mut options);
    Local::start(Emulator::shared(), options)
        .await
        .expect("the local platform starts")
}

/// A client granted `institutions`, with `limit` requests per minute.
pub fn client(id: &str, system: ExamSystem, institutions: &[&str], limit: u32) -> ApiClient {
    ApiClient {
        client_id: id.to_owned(),
        exam_system: system,
        institutions: institutions
            .iter()
            .map(|i| (*i).to_owned())
            .collect::<BTreeSet<_>>(),
        rate_limit_per_minute: limit,
        password_hash: None,
        active: true,
    }
}

/// An HTTP answer: status, JSON body (Null if none), headers.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

/// Calls the proxy. `authorization` is the whole header value.
pub async fn call(
    local: &Local,
    method: &str,
    path_and_query: &str,
    authorization: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let url = format!("{}{path_and_query}", local.gateway.url);
    let mut request = reqwest::Client::new().request(method.parse().unwrap(), url);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
    }
}

/// `Bearer <key>`.
pub fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// One request: operation id, method, path and query, body.
#[derive(Clone, Debug)]
pub struct Request {
    pub operation: &'static str,
    pub method: &'static str,
    pub path: String,
    pub body: Option<Value>,
}

/// A valid request of every operation (but the OpenAPI document) for institution `nr`'s data,
/// with `system` in the path.
pub fn every_operation(local: &Local, nr: &str, system: &str) -> Vec<Request> {
    let fs = &local.sandbox.fs;
    let exams = fs.exams(nr);
    let exam = &exams[0];
    let scale = &exam.grade_scale.grades;
    let candidates: Vec<&str> = exam
        .candidates
        .iter()
        .take(3)
        .map(|c| c.candidate_number.as_str())
        .collect();
    let appeal = fs.appeals(nr)[0].clone();
    let asked = fs.explanation_requests(nr)[0].clone();
    let id = &exam.assessment_id;
    let aid = &exam.aids[0];
    let request = |operation, method, path: String, body: Option<Value>| Request {
        operation,
        method,
        path,
        body,
    };
    vec![
        request(
            "listExams",
            "GET",
            format!("/v1/eksamen/liste?institusjonsnr={nr}"),
            None,
        ),
        request(
            "listExamsByAid",
            "GET",
            format!("/v1/eksamen/hjelpemiddel?institusjonsnr={nr}&hjelpemiddel={aid}"),
            None,
        ),
        request("getExam", "GET", format!("/v1/eksamen/{system}/{id}"), None),
        request(
            "registerGrades",
            "POST",
            format!("/v1/eksamen/sensur/{system}/registrer"),
            Some(
                json!({"vurdId": id, "karakterer": candidates.iter().map(|c| json!({"kandidatnr": c, "karakter": scale[0]})).collect::<Vec<_>>()}),
            ),
        ),
        request(
            "validateGrades",
            "POST",
            format!("/v1/eksamen/sensur/{system}/valider"),
            Some(
                json!({"vurdId": id, "karakterer": [{"kandidatnr": candidates[0], "karakter": scale[1]}]}),
            ),
        ),
        request(
            "registerAttendance",
            "POST",
            format!("/v1/eksamen/oppmote/{system}/registrer"),
            Some(
                json!({"vurdId": id, "oppmote": [{"kandidatnr": candidates[0], "status": "MOTT"}]}),
            ),
        ),
        request(
            "listExplanations",
            "GET",
            format!("/v1/eksamen/begrunnelser/{system}/{id}"),
            None,
        ),
        request(
            "registerExplanation",
            "POST",
            format!("/v1/eksamen/begrunnelser/{system}"),
            Some(
                json!({"vurdId": asked.assessment_id, "kandidatnr": asked.candidate_number,
                "urlBegrunnelse": "https://exam.example/explanations/1",
                "datoBegrunnelseBedtOm": asked.requested_at, "datoBegrunnelseGitt": "2026-11-23T10:00:00"}),
            ),
        ),
        request(
            "listAppealsOfExam",
            "GET",
            format!("/v1/eksamen/klager/{system}/{id}"),
            None,
        ),
        request(
            "registerDecision",
            "POST",
            format!("/v1/eksamen/vedtak/{system}"),
            Some(
                json!({"vurdId": appeal.assessment_id, "kandidatnr": appeal.candidate_number,
                "vedtak": "OPPRETTHOLDT", "dato": "2026-11-23"}),
            ),
        ),
        request(
            "registerGroupIds",
            "POST",
            format!("/v1/eksamen/gruppeid/{system}/registrer"),
            Some(
                json!({"vurdId": id, "grupper": [{"kandidatnr": candidates[0], "gruppeid": "G-1"}]}),
            ),
        ),
        request(
            "listAppealsChangedSince",
            "GET",
            format!("/v1/eksamen/klager/{system}?institusjonsnr={nr}&siden=2020-01-01"),
            None,
        ),
        request(
            "listExplanationRequestsChangedSince",
            "GET",
            format!("/v1/eksamen/begrunnelse/{system}?institusjonsnr={nr}&siden=2020-01-01"),
            None,
        ),
    ]
}

/// Sends a request.
pub async fn send(local: &Local, request: &Request, authorization: &str) -> Answer {
    call(
        local,
        request.method,
        &request.path,
        Some(authorization),
        request.body.as_ref(),
    )
    .await
}

/// Everything FS registered, as counts: grades, attendance, group ids, explanations, decisions.
pub fn registrations(local: &Local) -> [usize; 5] {
    let fs = &local.sandbox.fs;
    [
        fs.registered_grades().len(),
        fs.attendance().len(),
        fs.group_ids().len(),
        fs.registered_explanations().len(),
        fs.registered_decisions().len(),
    ]
}
