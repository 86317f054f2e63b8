//! HTTP routes of the simulated Inspera API. Thesis files are streamed
//! without auth from `/files/{fileId}`, the `downloadUrl` of a submission,
//! like Inspera's pre-signed export URLs.

use std::collections::HashMap;
use std::sync::Arc;

use ::base64::engine::general_purpose::STANDARD;
use ::base64::Engine as _;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{InsperaAppeal, InsperaExplanation, InsperaState, InsperaTest, Refusal};
use crate::contract::ContractCheck;
use crate::theses::Download;

/// The token route as Inspera documents it (with the trailing slash).
const TOKEN_PATH: &str = "/api/authenticate/token/";

type Shared = Arc<InsperaState>;

/// All Inspera routes. Order per request: counting and faults, then the contract check
/// (`contracts/inspera.yaml`), then the bearer token on `/api/v1/*`. `/_sandbox/*` bypasses
/// all of it.
pub(crate) fn router(state: Shared, contract: ContractCheck) -> Router {
    let api = Router::new()
        .route("/api/v1/test/{test_id}", get(test))
        .route("/api/v1/test/{test_id}/appeals", post(register_appeal))
        .route(
            "/api/v1/test/{test_id}/appeals/withdraw",
            post(withdraw_appeal),
        )
        .route("/api/v1/test/{test_id}/appeals/{candidate_id}", get(appeal))
        .route("/api/v1/test/{test_id}/options", post(set_options))
        .route("/api/v1/subscription/events", get(subscription_events))
        .route(
            "/api/v1/test/{test_id}/explanations",
            get(explanations).post(request_explanation),
        )
        .route(
            "/api/v1/test/{test_id}/explanations/{explanation_id}",
            get(explanation),
        )
        .route(
            "/api/v1/test/{test_id}/candidates/{candidate_id}/submission",
            get(thesis_submission),
        )
        .route_layer(from_fn_with_state(state.clone(), require_bearer));
    Router::new()
        .route(TOKEN_PATH, post(token))
        .route(TOKEN_PATH.trim_end_matches('/'), post(token))
        .route("/files/{file_id}", get(download_file))
        .merge(api)
        .layer(from_fn_with_state(contract, crate::contract::enforce))
        .layer(from_fn_with_state(state.clone(), count_and_fault))
        .merge(crate::admin::inspera_routes())
        .with_state(state)
}

/// An error response in the format used here: `{"error": message}`.
pub(crate) fn inspera_error(status: StatusCode, _code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// A refused request: its status and `error` text.
struct ApiError {
    status: StatusCode,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        inspera_error(self.status, "REFUSED", &self.message)
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        ApiError {
            status: refusal.status(),
            message: refusal.message(),
        }
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message: message.into(),
    }
}

type Answer = Result<Response, ApiError>;

async fn count_and_fault(State(state): State<Shared>, req: Request, next: Next) -> Response {
    state.note_request(req.uri().path().starts_with("/api/authenticate/token"));
    state.gate().guard(inspera_error, req, next).await
}

async fn require_bearer(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let message = match token {
        Some(token) if state.token_valid(token) => return next.run(req).await,
        Some(_) => "the access token is unknown or expired",
        None => "missing Authorization: Bearer header",
    };
    let mut response = inspera_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// `POST /api/authenticate/token/?grant_type=authorization_code&client_id=<id>`
/// with the API key in the `code` header; the body is ignored.
async fn token(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if query.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": "unsupported_grant_type",
                "description": "parameter grant_type must be authorization_code",
            })),
        )
            .into_response();
    }
    let client_id = query.get("client_id").map(String::as_str).unwrap_or("");
    let api_key = headers
        .get("code")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    if client_id.is_empty() || api_key.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": "invalid_request",
                "description": "parameter client_id and header code (the API key) are required",
            })),
        )
            .into_response();
    }
    if !state.key_matches(client_id, api_key.trim()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_grant" })),
        )
            .into_response();
    }
    let (access_token, expires_in) = state.issue_token();
    Json(json!({ "access_token": access_token, "expires_in": expires_in })).into_response()
}

/// The test id of a path, or the 404 an unknown one gets.
fn test_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>().map_err(|_| ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!("no test with id {raw}"),
    })
}

/// The `candidateId` of a JSON body, a string or a number.
fn candidate_in_body(body: &[u8]) -> Result<String, ApiError> {
    let body: Value = serde_json::from_slice(body)
        .map_err(|error| bad_request(format!("body must be JSON with candidateId: {error}")))?;
    candidate_text(&body["candidateId"])
        .ok_or_else(|| bad_request("field candidateId is required (a string or a number)"))
}

/// A candidate id written as a JSON string or number, if not blank.
fn candidate_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn test_json(test: &InsperaTest) -> Value {
    json!({
        "testId": test.test_id,
        "externalTestId": test.external_test_id,
        "title": test.title,
    })
}

fn appeal_json(appeal: &InsperaAppeal) -> Value {
    json!({
        "candidateId": appeal.candidate_id,
        "status": appeal.status,
        "decision": appeal.decision,
    })
}

fn explanation_json(explanation: &InsperaExplanation) -> Value {
    let document = explanation.document.as_ref().map(
        |bytes| json!({ "contentType": "application/pdf", "content": STANDARD.encode(bytes) }),
    );
    json!({
        "explanationId": explanation.explanation_id,
        "candidateId": explanation.candidate_id,
        "status": explanation.status,
        "requestedAt": explanation.requested_at,
        "givenAt": explanation.given_at,
        "document": document,
    })
}

/// `GET /api/v1/test/{testId}`: one test. With `isExternal=true` the path's id is the external
/// system's (FS's `vurdId`), as Inspera documents for every test route; 404 when no test has it.
async fn test(
    State(state): State<Shared>,
    Path(raw_test_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Answer {
    let external = query
        .get("isExternal")
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    let test = if external {
        state
            .search(raw_test_id.trim())
            .into_iter()
            .next()
            .ok_or_else(|| ApiError {
                status: StatusCode::NOT_FOUND,
                message: format!("no test with external id {raw_test_id}"),
            })?
    } else {
        state.test(test_id(&raw_test_id)?)?
    };
    Ok(Json(test_json(&test)).into_response())
}

/// `GET /api/v1/subscription/events`: the events a subscription can name; the three the
/// sandbox sends and the two Inspera publishes.
async fn subscription_events(State(state): State<Shared>) -> Json<Value> {
    Json(json!(state.event_names()))
}

async fn register_appeal(
    State(state): State<Shared>,
    Path(raw_test_id): Path<String>,
    body: Bytes,
) -> Answer {
    let test_id = test_id(&raw_test_id)?;
    let candidate_id = candidate_in_body(&body)?;
    let (appeal, changed) = state.register_appeal(test_id, &candidate_id)?;
    let status = if changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(appeal_json(&appeal))).into_response())
}

async fn withdraw_appeal(
    State(state): State<Shared>,
    Path(raw_test_id): Path<String>,
    body: Bytes,
) -> Answer {
    let test_id = test_id(&raw_test_id)?;
    let candidate_id = candidate_in_body(&body)?;
    let appeal = state.withdraw_appeal(test_id, &candidate_id)?;
    Ok(Json(appeal_json(&appeal)).into_response())
}

async fn appeal(
    State(state): State<Shared>,
    Path((raw_test_id, candidate_id)): Path<(String, String)>,
) -> Answer {
    let appeal = state.appeal(test_id(&raw_test_id)?, &candidate_id)?;
    Ok(Json(appeal_json(&appeal)).into_response())
}

/// The `{option, value}` pairs of every list in `testOptions`
/// (`explanationOptions`, `securityOptions`, ...).
fn options_in_body(body: &[u8]) -> Result<Vec<(String, Value)>, ApiError> {
    let body: Value = serde_json::from_slice(body).map_err(|error| {
        bad_request(format!(
            "body must be JSON {{\"testOptions\": {{\"explanationOptions\": [...]}}}}: {error}"
        ))
    })?;
    let groups = body["testOptions"]
        .as_object()
        .ok_or_else(|| bad_request("field testOptions must be an object of option lists"))?;
    let mut options = Vec::new();
    for (group, list) in groups {
        let list = list
            .as_array()
            .ok_or_else(|| bad_request(format!("testOptions.{group} must be a list")))?;
        for entry in list {
            let option = entry["option"].as_str().filter(|name| !name.is_empty());
            let (Some(option), Some(value)) = (option, entry.get("value")) else {
                return Err(bad_request(format!(
                    "every entry of testOptions.{group} needs an option name and a value"
                )));
            };
            options.push((option.to_owned(), value.clone()));
        }
    }
    if options.is_empty() {
        return Err(bad_request("testOptions names no option"));
    }
    Ok(options)
}

async fn set_options(
    State(state): State<Shared>,
    Path(raw_test_id): Path<String>,
    body: Bytes,
) -> Answer {
    let test_id = test_id(&raw_test_id)?;
    let options = options_in_body(&body)?;
    state.set_options(test_id, options)?;
    let body = json!({ "testId": test_id, "testOptions": state.test_options(test_id) });
    Ok(Json(body).into_response())
}

async fn explanations(
    State(state): State<Shared>,
    Path(raw_test_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Answer {
    let candidate_id = query.get("candidateId").map(|c| c.trim());
    let list = state.explanations_of(test_id(&raw_test_id)?, candidate_id)?;
    Ok(Json(list.iter().map(explanation_json).collect::<Vec<_>>()).into_response())
}

async fn request_explanation(
    State(state): State<Shared>,
    Path(raw_test_id): Path<String>,
    body: Bytes,
) -> Answer {
    let test_id = test_id(&raw_test_id)?;
    let candidate_id = candidate_in_body(&body)?;
    let explanation = state.request_explanation(test_id, &candidate_id)?;
    Ok((StatusCode::CREATED, Json(explanation_json(&explanation))).into_response())
}

async fn explanation(
    State(state): State<Shared>,
    Path((raw_test_id, raw_explanation_id)): Path<(String, String)>,
) -> Answer {
    let test_id = test_id(&raw_test_id)?;
    let explanation_id = raw_explanation_id
        .parse::<u64>()
        .map_err(|_| ApiError::from(Refusal::UnknownExplanation))?;
    let explanation = state.explanation(test_id, explanation_id)?;
    Ok(Json(explanation_json(&explanation)).into_response())
}

/// `GET /api/v1/test/{testId}/candidates/{candidateId}/submission`: the master
/// thesis the candidate handed in on the test, with its metadata and files.
/// Each file has a `downloadUrl` on this server. 404 when there is none.
async fn thesis_submission(
    State(state): State<Shared>,
    Path((raw_test_id, candidate_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    let test_id = test_id(&raw_test_id)?;
    let thesis = state
        .thesis_submission(test_id, candidate_id.trim())
        .ok_or_else(|| ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("no submission of candidate {candidate_id} on test {test_id}"),
        })?;
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("127.0.0.1");
    let files: Vec<Value> = thesis
        .files
        .iter()
        .map(|file| {
            json!({
                "fileId": file.id,
                "filename": file.filename,
                "contentType": file.content_type,
                "size": file.size,
                "sha256": file.sha256,
                "quarantined": file.quarantined,
                "downloadUrl": format!("http://{host}/files/{}", file.id),
            })
        })
        .collect();
    Ok(Json(json!({
        "testId": test_id,
        "externalTestId": thesis.assessment_id,
        "candidateId": thesis.candidate_number,
        "submittedAt": thesis.handed_in_at,
        "title": thesis.title,
        "gradedAt": thesis.graded_at,
        "accessLevel": thesis.access_level,
        "embargoUntil": thesis.embargo_until,
        "language": thesis.language,
        "files": files,
    }))
    .into_response())
}

/// `GET /files/{fileId}`: a thesis file, streamed; 404 for the missing one.
async fn download_file(State(state): State<Shared>, Path(raw_id): Path<String>) -> Answer {
    let download = raw_id
        .parse::<u64>()
        .map_or(Download::Unknown, |id| state.download(id));
    match download {
        Download::Found(response) => Ok(response),
        Download::Missing => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("file {raw_id} is no longer available"),
        }),
        Download::Unknown => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("no file with id {raw_id}"),
        }),
    }
}
