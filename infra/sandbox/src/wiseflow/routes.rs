//! HTTP routes of the simulated WISEflow, under `/v1` like the real API.
//!
//! Newer routes (`/v1/flows/...`) answer in WISEflow's envelope
//! `{success, data, error, pagination}`; older ones (`/v1/flow/...`,
//! `/v1/license/...`) answer bare objects or arrays and, mostly, errors with
//! an empty body. Every exchange is checked against `contracts/wiseflow.yaml`.
//!
//! Thesis files are served without auth from `/files/{fileId}?signature=…`,
//! the links `/v1/flows/{flowId}/submissions/{id}/files` hands out, as
//! WISEflow hands out pre-signed S3 URLs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::directory::Participant;
use super::{
    ExplanationOutcome, ExplanationView, ReassessmentOutcome, SubmissionLookup, WiseflowState,
};
use crate::contract::ContractCheck;
use crate::theses::Download;
use crate::SandboxThesis;

type Shared = Arc<WiseflowState>;

const TOKEN_PATH: &str = "/v1/oauth2/token";
/// Participants per page when `limit` is absent, and the most a page may hold.
const MAX_PAGE: usize = 100;
/// `variant` of every flow the sandbox derives from FS: ORDINARY.
const VARIANT_ORDINARY: u8 = 0;
/// Where a participant opens an explanation.
const SSO_BASE: &str = "https://europe.wiseflow.net/sso/explanation";
/// The widest `/license/submissions` window WISEflow accepts: 30 days, in seconds.
const MAX_SUBMISSION_WINDOW_S: i64 = 30 * 24 * 60 * 60;

/// All WISEflow routes. Order per request: counting and faults, then the contract check
/// (`contracts/wiseflow.yaml`), then auth (API key or bearer token; the token route and the
/// file links need neither). `/_sandbox/*` bypasses all of it.
pub(crate) fn router(state: Shared, contract: ContractCheck) -> Router {
    let protected = Router::new()
        .route("/v1/sources/search", post(search_sources))
        .route("/v1/flow/{flow_id}", get(flow))
        .route("/v1/flows/{flow_id}/participants", get(participants))
        .route("/v1/license/submissions", get(license_submissions))
        .route(
            "/v1/flows/{flow_id}/submissions/{submission_id}",
            get(submission),
        )
        .route(
            "/v1/flows/{flow_id}/submissions/{submission_id}/files",
            get(submission_files),
        )
        .route("/v1/flow/{flow_id}/reassessment", post(reassessment))
        .route("/v1/flows/{flow_id}/remarking", get(remarking))
        .route(
            "/v1/flow/{flow_id}/assessments/{participant_id}",
            get(assessment),
        )
        .route(
            "/v1/flow/{flow_id}/explanation/request",
            get(explanation_requests).post(request_explanation),
        )
        .route(
            "/v1/flow/{flow_id}/explanation/request/{explanation_id}",
            get(explanation_request).patch(set_show_justification),
        )
        .route_layer(from_fn_with_state(state.clone(), require_auth));
    Router::new()
        .route(TOKEN_PATH, post(token))
        .route("/files/{file_id}", get(download_file))
        .merge(protected)
        .layer(from_fn_with_state(contract, crate::contract::enforce))
        .layer(from_fn_with_state(state.clone(), count_and_fault))
        .merge(crate::admin::wiseflow_routes())
        .with_state(state)
}

/// A page of a remarking flow's participants (no user: WISEflow has not synchronised them from
/// the SIS), or 404 when no flow has the id.
fn remarking_participants(state: &WiseflowState, id: u64, offset: usize, limit: usize) -> Response {
    let Some(all) = state.remarking_participants(id) else {
        return envelope_error(
            StatusCode::NOT_FOUND,
            "FLOW_NOT_FOUND",
            &format!("flow {id} not found"),
        );
    };
    let data: Vec<Value> = all
        .iter()
        .enumerate()
        .skip(offset)
        .take(limit)
        .map(|(position, (participant_id, candidate))| {
            json!({
                "participantId": participant_id,
                "number": position + 1,
                "uniqueExamId": candidate,
                "submissionId": null,
            })
        })
        .collect();
    enveloped_page(data, limit, offset, all.len())
}

/// An error in WISEflow's envelope: `{success: false, data: null, error}`.
pub(crate) fn envelope_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({
        "success": false,
        "data": null,
        "error": {
            "code": status.as_u16(),
            "message": message,
            "errors": [{ "reason": code, "message": message }],
        },
    });
    (status, Json(body)).into_response()
}

/// A status with an empty body, as WISEflow's older routes answer errors.
fn empty(status: StatusCode) -> Response {
    status.into_response()
}

async fn count_and_fault(State(state): State<Shared>, req: Request, next: Next) -> Response {
    state.note_request();
    if req.method() != Method::PATCH {
        return state.gate().guard(envelope_error, req, next).await;
    }
    let held_back = Duration::from_millis(state.faults().timeout_delay_ms);
    let started = Instant::now();
    let mut watch = PatchWatch {
        state: state.clone(),
        answered: false,
    };
    let response = state.gate().guard(envelope_error, req, next).await;
    watch.answered =
        response.status().is_success() && (held_back.is_zero() || started.elapsed() < held_back);
    response
}

/// Counts a `PATCH` that was refused (5xx, 429, ...), whose answer was held back by a timeout
/// fault, or whose request was dropped before it was answered (the caller went away).
struct PatchWatch {
    state: Shared,
    answered: bool,
}

impl Drop for PatchWatch {
    fn drop(&mut self) {
        if !self.answered {
            self.state.note_failed_patch();
        }
    }
}

/// Lets a request through with the right `x-api-key` or a live bearer
/// token; anything else is 401 with the JSON string `"Unauthorized"`.
async fn require_auth(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let api_key = headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|key| state.api_key_matches(key.trim()));
    let bearer = || {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().strip_prefix("Bearer "))
            .is_some_and(|token| state.token_valid(token.trim()))
    };
    if api_key || bearer() {
        next.run(req).await
    } else {
        (StatusCode::UNAUTHORIZED, Json("Unauthorized")).into_response()
    }
}

/// Form body of `POST /v1/oauth2/token`.
#[derive(Deserialize)]
struct TokenRequest {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    grant_type: String,
}

fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

async fn token(State(state): State<Shared>, req: Request) -> Response {
    let Ok(Form(body)) = Form::<TokenRequest>::from_request(req, &()).await else {
        return oauth_error(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    };
    if body.grant_type != "client_credentials" {
        return oauth_error(
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        );
    }
    match state.issue_token(&body.client_id, &body.client_secret) {
        Some(token) => Json(json!({
            "access_token": token,
            "expires_in": state.token_lifetime_secs(),
            "token_type": "Bearer",
            "scope": "",
        }))
        .into_response(),
        None => oauth_error("invalid_client", "unknown client_id or wrong client_secret"),
    }
}

/// A flow id from the path; anything but a number names no flow.
fn flow_id(raw: &str) -> Option<u64> {
    raw.parse().ok()
}

/// Body of `POST /v1/sources/search`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SourceSearch {
    source_code: String,
    flow_id: Option<u64>,
}

/// `POST /v1/sources/search`: the sources (SIS codes) matching `sourceCode`, `||`-separated parts
/// where `*` is a wildcard and at least one part has 3 or more characters, each with its flow, in
/// the envelope and paged with `offset` and `limit` (at most 100). A body that breaks the rules is
/// 400 in the envelope.
async fn search_sources(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let search = match serde_json::from_slice::<SourceSearch>(&body) {
        Ok(search) => search,
        Err(_) => {
            return envelope_error(
                StatusCode::BAD_REQUEST,
                "INVALID_BODY",
                "the body must be {sourceCode, flowId?}",
            )
        }
    };
    if !search
        .source_code
        .split("||")
        .any(|part| part.trim_matches('*').chars().count() >= 3)
    {
        return envelope_error(
            StatusCode::BAD_REQUEST,
            "INVALID_SOURCE_CODE",
            "at least one part of sourceCode needs 3 or more characters",
        );
    }
    let (offset, limit) = match page_of(&query) {
        Ok(page) => page,
        Err(message) => return envelope_error(StatusCode::BAD_REQUEST, "INVALID_PAGING", &message),
    };
    let sources: Vec<Value> = state
        .flows_matching(&search.source_code)
        .iter()
        .filter(|(flow, _)| search.flow_id.is_none_or(|id| id == flow.id))
        .map(|(flow, _)| {
            json!({
                "sourceId": flow.id,
                "code": flow.sis_code,
                "flow": { "flowid": flow.id, "title": flow.name(), "state": "CONCLUDED" },
            })
        })
        .collect();
    let data: Vec<&Value> = sources.iter().skip(offset).take(limit).collect();
    enveloped_page(data, limit, offset, sources.len())
}

async fn flow(State(state): State<Shared>, Path(raw_id): Path<String>) -> Response {
    let Some((flow, purpose)) = flow_id(&raw_id).and_then(|id| state.any_flow(id)) else {
        return empty(StatusCode::NOT_FOUND);
    };
    Json(json!({
        "id": flow.id,
        "name": flow.name(),
        "subName": flow.sub_name(),
        "variant": VARIANT_ORDINARY,
        "purpose": purpose,
        "sisInformation": [{ "code": flow.sis_code }],
    }))
    .into_response()
}

/// A `basic-user` object for a participant: its names and a made-up phone number, as WISEflow
/// sends them, and no external ids (which a licence configures).
fn user(participant: &Participant) -> Value {
    json!({
        "id": participant.user_id,
        "firstName": participant.first_name,
        "lastName": participant.last_name,
        "phone": format!("+47 4{:07}", participant.user_id % 10_000_000),
        "externalIds": [],
    })
}

/// One page in WISEflow's envelope: `{success, data, pagination: {limit, offset, total}}`.
fn enveloped_page(
    data: impl serde::Serialize,
    limit: usize,
    offset: usize,
    total: usize,
) -> Response {
    Json(json!({
        "success": true,
        "data": data,
        "pagination": { "limit": limit, "offset": offset, "total": total },
    }))
    .into_response()
}

/// The `offset` and `limit` of a paged route (`limit` 1 to 100, default 100), or why they are
/// refused.
fn page_of(query: &HashMap<String, String>) -> Result<(usize, usize), String> {
    paging(query, "offset", 0).and_then(|offset| {
        let limit = paging(query, "limit", MAX_PAGE)?;
        if (1..=MAX_PAGE).contains(&limit) {
            Ok((offset, limit))
        } else {
            Err(format!(
                "limit must be between 1 and {MAX_PAGE}, got {limit}"
            ))
        }
    })
}

/// A paging parameter: absent means `default`; otherwise a whole number.
fn paging(query: &HashMap<String, String>, name: &str, default: usize) -> Result<usize, String> {
    match query.get(name) {
        None => Ok(default),
        Some(raw) => raw
            .parse()
            .map_err(|_| format!("{name} must be a whole number, got {raw:?}")),
    }
}

async fn participants(
    State(state): State<Shared>,
    Path(raw_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (offset, limit) = match page_of(&query) {
        Ok(page) => page,
        Err(message) => return envelope_error(StatusCode::BAD_REQUEST, "INVALID_PAGING", &message),
    };
    let Some(id) = flow_id(&raw_id) else {
        return envelope_error(
            StatusCode::NOT_FOUND,
            "FLOW_NOT_FOUND",
            &format!("flow {raw_id} not found"),
        );
    };
    let Some(all) = state.participants(id) else {
        return remarking_participants(&state, id, offset, limit);
    };
    let data: Vec<Value> = all
        .iter()
        .enumerate()
        .skip(offset)
        .take(limit)
        .map(|(position, participant)| {
            json!({
                "participantId": participant.id,
                "number": position + 1,
                "uniqueExamId": participant.candidate_number,
                "submissionId": null,
                "user": user(participant),
            })
        })
        .collect();
    enveloped_page(data, limit, offset, all.len())
}

/// Optional body of `POST /v1/flow/{flowId}/reassessment`.
#[derive(Deserialize)]
struct ReassessmentBody {
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "accepted as WISEflow does; the sandbox never queues"
    )]
    synchronize: bool,
}

async fn reassessment(
    State(state): State<Shared>,
    Path(raw_id): Path<String>,
    body: Bytes,
) -> Response {
    if !body.iter().all(u8::is_ascii_whitespace)
        && serde_json::from_slice::<ReassessmentBody>(&body).is_err()
    {
        return empty(StatusCode::BAD_REQUEST);
    }
    let outcome =
        flow_id(&raw_id).map_or(ReassessmentOutcome::UnknownFlow, |id| state.reassess(id));
    let (status, id) = match outcome {
        ReassessmentOutcome::Created(id) => (StatusCode::CREATED, id),
        ReassessmentOutcome::Existing(id) => (StatusCode::OK, id),
        ReassessmentOutcome::NoModule => return empty(StatusCode::FORBIDDEN),
        ReassessmentOutcome::UnknownFlow => return empty(StatusCode::NOT_FOUND),
    };
    (
        status,
        Json(json!({ "reassessmentFlowId": id, "queuedForSynchronization": false })),
    )
        .into_response()
}

/// Body of `POST /v1/flow/{flowId}/explanation/request`; the required
/// fields are checked by hand so that a missing one is a 400, not a 422.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExplanationBody {
    participant_id: Option<u64>,
    due_date: Option<i64>,
    show_justification: Option<bool>,
}

async fn request_explanation(
    State(state): State<Shared>,
    Path(raw_id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(flow_id) = flow_id(&raw_id) else {
        return empty(StatusCode::NOT_FOUND);
    };
    let body = serde_json::from_slice::<ExplanationBody>(&body).ok();
    let Some((participant_id, due_date, show)) =
        body.and_then(|b| Some((b.participant_id?, b.due_date, b.show_justification?)))
    else {
        return if state.flow(flow_id).is_some() {
            empty(StatusCode::BAD_REQUEST)
        } else {
            empty(StatusCode::NOT_FOUND)
        };
    };
    let (status, id, show) =
        match state.request_explanation(flow_id, participant_id, due_date, show) {
            ExplanationOutcome::Created(id, show) => (StatusCode::CREATED, id, show),
            ExplanationOutcome::Existing(id, show) => (StatusCode::OK, id, show),
            ExplanationOutcome::NotAParticipant => return empty(StatusCode::BAD_REQUEST),
            ExplanationOutcome::UnknownFlow => return empty(StatusCode::NOT_FOUND),
        };
    (
        status,
        Json(json!({ "explanationRequestId": id, "showJustification": show })),
    )
        .into_response()
}

/// An `explanation-basic` object, its times in unix seconds; `acceptDate` only once the
/// response is accepted.
fn explanation_basic(view: &ExplanationView) -> Value {
    let e = &view.explanation;
    let mut participant = json!({
        "participantId": e.participant_id,
        "ssoUrl": format!("{SSO_BASE}/{}", e.id),
    });
    if let Some(known) = &view.participant {
        participant["user"] = user(known);
    }
    let mut basic = json!({
        "explanationId": e.id,
        "flowId": e.flow_id,
        "title": view.flow.name(),
        "requestDate": e.request_date_ms / 1000,
        "state": e.state,
        "showJustification": e.show_justification,
        "participant": participant,
    });
    if let Some(accepted) = e.accept_date_ms {
        basic["acceptDate"] = json!(accepted / 1000);
    }
    basic
}

async fn explanation_requests(State(state): State<Shared>, Path(raw_id): Path<String>) -> Response {
    match flow_id(&raw_id).and_then(|id| state.explanations_of(id)) {
        Some(views) => {
            Json(views.iter().map(explanation_basic).collect::<Vec<_>>()).into_response()
        }
        None => empty(StatusCode::NOT_FOUND),
    }
}

/// The explanation request `explanation_id` of flow `flow_id`, if both exist.
fn find_explanation(
    state: &WiseflowState,
    flow_id: u64,
    explanation_id: u64,
) -> Option<ExplanationView> {
    state
        .explanations_of(flow_id)?
        .into_iter()
        .find(|view| view.explanation.id == explanation_id)
}

async fn explanation_request(
    State(state): State<Shared>,
    Path((raw_flow, raw_explanation)): Path<(String, String)>,
) -> Response {
    let view = flow_id(&raw_flow)
        .zip(raw_explanation.parse().ok())
        .and_then(|(flow, explanation)| find_explanation(&state, flow, explanation));
    match view {
        Some(view) => Json(explanation_basic(&view)).into_response(),
        None => empty(StatusCode::NOT_FOUND),
    }
}

/// Body of `PATCH /v1/flow/{flowId}/explanation/request/{id}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VisibilityBody {
    show_justification: Option<bool>,
}

async fn set_show_justification(
    State(state): State<Shared>,
    Path((raw_flow, raw_explanation)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Some(show) = serde_json::from_slice::<VisibilityBody>(&body)
        .ok()
        .and_then(|b| b.show_justification)
    else {
        return envelope_error(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            "the body must be {\"showJustification\": true|false}",
        );
    };
    let ids = flow_id(&raw_flow).zip(raw_explanation.parse::<u64>().ok());
    let changed = ids.and_then(|(flow, explanation)| {
        state
            .set_show_justification(flow, explanation, show)
            .map(|()| explanation)
    });
    match changed {
        Some(explanation) => Json(json!({
            "success": true,
            "data": [{ "explanationRequestId": explanation, "showJustification": show }],
        }))
        .into_response(),
        None => envelope_error(
            StatusCode::NOT_FOUND,
            "EXPLANATION_REQUEST_NOT_FOUND",
            &format!("flow {raw_flow} has no explanation request {raw_explanation}"),
        ),
    }
}

/// A required unix-time parameter of `/license/submissions`, in seconds (the unit
/// `contracts/wiseflow.yaml` assumes).
fn unix_time(query: &HashMap<String, String>, name: &str) -> Option<i64> {
    query.get(name)?.trim().parse().ok()
}

/// The window `[start, end]` (unix seconds), the wanted `purpose` and whether assessed
/// submissions are asked for, or `None` when the query breaks WISEflow's rules: `start`, `end` and
/// `purpose` required, `end` greater than `start` and at most 30 days after it, `assessed` a
/// boolean (default true).
fn submission_query(query: &HashMap<String, String>) -> Option<(i64, i64, u8, bool)> {
    let start = unix_time(query, "start")?;
    let end = unix_time(query, "end")?;
    if end <= start || end - start > MAX_SUBMISSION_WINDOW_S {
        return None;
    }
    let purpose = query
        .get("purpose")?
        .trim()
        .parse::<u8>()
        .ok()
        .filter(|purpose| *purpose <= super::PURPOSE_MASTER)?;
    let assessed = match query.get("assessed").map(|raw| raw.trim()) {
        None => true,
        Some(raw) => raw.parse().ok()?,
    };
    Some((start, end, purpose, assessed))
}

/// `GET /v1/license/submissions?start&end&purpose[&assessed]`: a bare array of the submissions
/// handed in within `[start, end]` (unix seconds), oldest first, unpaged, as
/// `submission-list-item`s. `assessed` (default true) picks the graded theses, false the
/// ungraded ones. Only master theses (`purpose` 3) have submissions here. A query that breaks
/// the rules gets 400 with an empty body.
async fn license_submissions(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some((start, end, purpose, assessed)) = submission_query(&query) else {
        return empty(StatusCode::BAD_REQUEST);
    };
    let listed: Vec<Value> = if purpose == super::PURPOSE_MASTER {
        state.theses_handed_in(start * 1000, end * 1000 + 999)
    } else {
        Vec::new()
    }
    .into_iter()
    .filter(|thesis| state.graded(thesis) == assessed)
    .map(|thesis| {
        json!({
            "id": thesis.submission_id,
            "flowId": thesis.flow_id,
            "handedInBlank": false,
            "handedInDate": thesis.handed_in_ms / 1000,
        })
    })
    .collect();
    Json(listed).into_response()
}

/// An error to answer in WISEflow's envelope.
struct EnvelopeError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl IntoResponse for EnvelopeError {
    fn into_response(self) -> Response {
        envelope_error(self.status, self.code, &self.message)
    }
}

/// The thesis handed in as a submission on a flow, or the error: 404 for an
/// unknown flow, 403 for a submission that is not on the flow.
fn find_submission(
    state: &WiseflowState,
    raw_flow: &str,
    raw_submission: &str,
) -> Result<SandboxThesis, EnvelopeError> {
    let unknown_flow = || EnvelopeError {
        status: StatusCode::NOT_FOUND,
        code: "FLOW_NOT_FOUND",
        message: format!("flow {raw_flow} not found"),
    };
    let flow_id = flow_id(raw_flow).ok_or_else(unknown_flow)?;
    let lookup = match raw_submission.parse::<u64>() {
        Ok(submission_id) => state.submission(flow_id, submission_id),
        Err(_) if state.any_flow(flow_id).is_some() => SubmissionLookup::NotOnFlow,
        Err(_) => SubmissionLookup::UnknownFlow,
    };
    match lookup {
        SubmissionLookup::Found(thesis) => Ok(*thesis),
        SubmissionLookup::NotOnFlow => Err(EnvelopeError {
            status: StatusCode::FORBIDDEN,
            code: "SUBMISSION_NOT_ON_FLOW",
            message: format!("submission {raw_submission} is not on flow {flow_id}"),
        }),
        SubmissionLookup::UnknownFlow => Err(unknown_flow()),
    }
}

/// `GET /v1/flows/{flowId}/submissions/{submissionId}`: `flow-submission-info`.
/// `title`, `gradedAt`, `accessLevel`, `embargoUntil` and `language` are
/// this project's assumption [I]: WISEflow's specification does not show
/// where a thesis's metadata lives.
async fn submission(
    State(state): State<Shared>,
    Path((raw_flow, raw_submission)): Path<(String, String)>,
) -> Response {
    let thesis = match find_submission(&state, &raw_flow, &raw_submission) {
        Ok(thesis) => thesis,
        Err(error) => return error.into_response(),
    };
    Json(json!({
        "success": true,
        "data": {
            "submissionId": thesis.submission_id,
            "flowId": thesis.flow_id,
            "participantId": thesis.participant_id,
            "participantNumber": thesis.candidate_number,
            "handedIn": true,
            "handedInDate": thesis.handed_in_ms,
            "title": thesis.title,
            "gradedAt": thesis.graded_at,
            "accessLevel": thesis.access_level,
            "embargoUntil": thesis.embargo_until,
            "language": thesis.language,
        },
    }))
    .into_response()
}

/// `GET /v1/flows/{flowId}/submissions/{submissionId}/files`: the files as
/// WISEflow publishes them, each with a `link` to this server's
/// `/files/{fileId}`; `quarantine` only on a quarantined file, and no checksum
/// (WISEflow publishes none).
async fn submission_files(
    State(state): State<Shared>,
    Path((raw_flow, raw_submission)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let thesis = match find_submission(&state, &raw_flow, &raw_submission) {
        Ok(thesis) => thesis,
        Err(error) => return error.into_response(),
    };
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("127.0.0.1");
    let data: Vec<Value> = thesis
        .files
        .iter()
        .map(|file| {
            let mut entry = json!({
                "id": file.id,
                "type": "DOCUMENT",
                "filename": file.filename,
                "contentType": file.content_type,
                "size": file.size,
                "link": format!(
                    "http://{host}/files/{}?signature={}",
                    file.id,
                    state.file_signature(file.id)
                ),
                "createdAt": file.created_at,
            });
            if file.quarantined {
                entry["quarantine"] =
                    json!({ "reason": "virus-scan", "by": "WISEFLOW", "createdAt": file.created_at });
            }
            entry
        })
        .collect();
    Json(json!({ "success": true, "data": data })).into_response()
}

/// An error as S3 answers a pre-signed URL: XML with a code and a message.
fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>\n"
    );
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

/// `GET /files/{fileId}?signature=…`: a thesis file, streamed. The link
/// needs a `signature` (any value), like a pre-signed URL. A missing file
/// gets 404.
async fn download_file(
    State(state): State<Shared>,
    Path(raw_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if query.get("signature").is_none_or(|s| s.is_empty()) {
        return s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Query-string authentication requires the signature parameter",
        );
    }
    let download = raw_id
        .parse::<u64>()
        .map_or(Download::Unknown, |id| state.download(id));
    match download {
        Download::Found(response) => response,
        Download::Missing | Download::Unknown => s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        ),
    }
}

/// `GET /v1/flows/{flowId}/remarking`: the id of the flow's remarking flow, the one
/// `POST /v1/flow/{flowId}/reassessment` made, in the envelope; `data` null while there is none,
/// an empty 404 for an unknown flow.
async fn remarking(State(state): State<Shared>, Path(raw_id): Path<String>) -> Response {
    match flow_id(&raw_id).and_then(|id| state.remarking_flow(id)) {
        Some(remarking) => Json(json!({
            "success": true,
            "data": remarking.map(|id| json!({ "flowId": id })),
        }))
        .into_response(),
        None => empty(StatusCode::NOT_FOUND),
    }
}

/// `GET /v1/flow/{flowId}/assessments/{participantId}`: a participant's assessment on a
/// (remarking) flow in the envelope: `grade` and `date` (unix seconds) once graded, `id` null
/// before; 404 in the envelope for an unknown flow or participant.
async fn assessment(
    State(state): State<Shared>,
    Path((raw_flow, raw_participant)): Path<(String, String)>,
) -> Response {
    let graded = flow_id(&raw_flow)
        .zip(raw_participant.parse::<u64>().ok())
        .and_then(|(flow, participant)| {
            state
                .remarking_graded_at(flow, participant)
                .map(|at| (participant, at))
        });
    let Some((participant_id, graded_at)) = graded else {
        return envelope_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("flow {raw_flow} has no participant {raw_participant}"),
        );
    };
    let data = match graded_at.and_then(|at| chrono::DateTime::parse_from_rfc3339(&at).ok()) {
        Some(at) => json!({
            "id": participant_id,
            "participantId": participant_id,
            "grade": "B",
            "date": at.timestamp(),
        }),
        None => json!({ "id": null, "participantId": participant_id }),
    };
    Json(json!({ "success": true, "data": data })).into_response()
}
