//! HTTP routes of the simulated FS DigEks API.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::json;

use crate::contract::ContractCheck;

use super::{
    auth, base64, time, Decision, FsState, RegisteredDecision, RegisteredExplanation, Registration,
};

type Shared = Arc<FsState>;

/// All FS routes. Order per request: counting and faults, the contract check
/// (`contracts/fs.yaml`), then Basic auth.
/// `/_sandbox/*` bypasses both.
pub(crate) fn router(state: Shared, contract: ContractCheck) -> Router {
    Router::new()
        .route("/eksamen/klager/{exam_system}", get(appeals))
        .route(
            "/eksamen/begrunnelse/{exam_system}",
            get(explanation_requests),
        )
        .route(
            "/eksamen/begrunnelser/{exam_system}",
            post(register_explanation),
        )
        .route("/eksamen/vedtak/{exam_system}", post(register_decision))
        .merge(super::exam_routes::routes())
        .layer(from_fn_with_state(state.clone(), require_basic_auth))
        .layer(from_fn_with_state(contract, crate::contract::enforce))
        .layer(from_fn_with_state(state.clone(), count_and_fault))
        .merge(crate::admin::fs_routes())
        .with_state(state)
}

/// An error response in FS's format: `{"feil": message}`.
pub(crate) fn feil(status: StatusCode, _code: &str, message: &str) -> Response {
    (status, Json(json!({ "feil": message }))).into_response()
}

pub(super) fn bad_request(message: &str) -> Response {
    feil(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}

async fn count_and_fault(State(state): State<Shared>, req: Request, next: Next) -> Response {
    state.note_request();
    let registration = req.method() == Method::POST
        && ["/eksamen/begrunnelser/", "/eksamen/vedtak/"]
            .iter()
            .any(|prefix| req.uri().path().starts_with(prefix));
    if !registration {
        return state.gate().guard(feil, req, next).await;
    }
    let held_back = Duration::from_millis(state.faults().timeout_delay_ms);
    let started = Instant::now();
    let mut watch = AnswerWatch {
        state: state.clone(),
        answered: false,
    };
    let response = state.gate().guard(feil, req, next).await;
    watch.answered = held_back.is_zero() || started.elapsed() < held_back;
    response
}

/// Counts a registration whose answer was held back by a timeout fault, or whose request was
/// dropped before it was answered (the caller went away).
struct AnswerWatch {
    state: Shared,
    answered: bool,
}

impl Drop for AnswerWatch {
    fn drop(&mut self) {
        if !self.answered {
            self.state.note_late_registration_answer();
        }
    }
}

async fn require_basic_auth(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let credentials = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(auth::basic_credentials);
    let message = match credentials {
        Some(Some((username, password))) if state.credentials_match(&username, &password) => {
            return next.run(req).await
        }
        Some(_) => "wrong user name or password",
        None => "missing Authorization: Basic header",
    };
    let mut response = feil(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"FS\""),
    );
    response
}

/// Validates `institusjonsnr`; the error names the parameter.
pub(super) fn institution_param(query: &HashMap<String, String>) -> Result<String, String> {
    match query.get("institusjonsnr") {
        None => Err("parameter institusjonsnr is required".to_owned()),
        Some(number) if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) => {
            Err("parameter institusjonsnr must be a number, e.g. 185".to_owned())
        }
        Some(number) => Ok(number.clone()),
    }
}

/// Validates `institusjonsnr` and `siden`; the error names the offending parameter.
fn institution_and_since(
    query: &HashMap<String, String>,
) -> Result<(String, NaiveDateTime), String> {
    let institution = institution_param(query)?;
    let since = match query.get("siden").map(|raw| time::parse_since(raw)) {
        None => {
            return Err(
                "parameter siden is required (yyyy-MM-ddTHH:mm:ss or yyyy-MM-dd)".to_owned(),
            )
        }
        Some(None) => {
            return Err("parameter siden must be yyyy-MM-ddTHH:mm:ss or yyyy-MM-dd".to_owned())
        }
        Some(Some(since)) => since,
    };
    Ok((institution, since))
}

async fn appeals(
    State(state): State<Shared>,
    Path(exam_system): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match institution_and_since(&query) {
        Ok((institution, since)) => {
            Json(state.appeals_since(&exam_system, &institution, since)).into_response()
        }
        Err(message) => bad_request(&message),
    }
}

async fn explanation_requests(
    State(state): State<Shared>,
    Path(exam_system): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match institution_and_since(&query) {
        Ok((institution, since)) => {
            Json(state.explanation_requests_since(&exam_system, &institution, since))
                .into_response()
        }
        Err(message) => bad_request(&message),
    }
}

/// Body of `POST /eksamen/begrunnelser/{examSystem}`, with the field names of seed
/// `002_4314c95e941397c2.txt` ("Registrerer explanations"): `datoBegrunnelseBedtOm` and
/// `datoBegrunnelseGitt`, not Flyt's earlier `datoBedtOm` / `datoGitt`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExplanationBody {
    vurd_id: Option<String>,
    kandidatnr: Option<String>,
    url_begrunnelse: Option<String>,
    dokument_begrunnelse: Option<String>,
    content_type_begrunnelse: Option<String>,
    dato_begrunnelse_bedt_om: Option<String>,
    dato_begrunnelse_gitt: Option<String>,
}

/// Body of `POST /eksamen/vedtak/{examSystem}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DecisionBody {
    vurd_id: Option<String>,
    kandidatnr: Option<String>,
    vedtak: Option<String>,
    ny_karakter: Option<String>,
    dato: Option<String>,
}

/// The body as JSON, or an error naming the fields it should have.
fn parse_body<'a, T: Deserialize<'a>>(body: &'a [u8], fields: &str) -> Result<T, String> {
    serde_json::from_slice(body)
        .map_err(|error| format!("body must be a JSON object with string fields {fields}: {error}"))
}

/// A field's value if present and not blank.
fn present(value: Option<String>) -> Option<String> {
    value.filter(|text| !text.trim().is_empty())
}

/// A required, non-blank field, or an error naming it.
fn required(value: Option<String>, field: &str) -> Result<String, String> {
    present(value).ok_or_else(|| format!("field {field} is required"))
}

/// A required date field (`yyyy-MM-dd`, `yyyy-MM-ddTHH:mm:ss` or RFC 3339).
fn required_date(value: Option<String>, field: &str) -> Result<String, String> {
    let value = required(value, field)?;
    if time::is_date_or_time(&value) {
        Ok(value)
    } else {
        Err(format!(
            "field {field} must be yyyy-MM-dd or yyyy-MM-ddTHH:mm:ss"
        ))
    }
}

fn explanation(exam_system: &str, body: &[u8]) -> Result<RegisteredExplanation, String> {
    let body: ExplanationBody = parse_body(
        body,
        "vurdId, kandidatnr, urlBegrunnelse or dokumentBegrunnelse, datoBegrunnelseBedtOm, datoBegrunnelseGitt",
    )?;
    let assessment_id = required(body.vurd_id, "vurdId")?;
    let candidate_number = required(body.kandidatnr, "kandidatnr")?;
    let (url, document) = match (
        present(body.url_begrunnelse),
        present(body.dokument_begrunnelse),
    ) {
        (Some(url), None) => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err("field urlBegrunnelse must be an http(s) URL".to_owned());
            }
            (Some(url), None)
        }
        (None, Some(document)) => match base64::decode(&document) {
            Some(bytes) => (None, Some(bytes)),
            None => return Err("field dokumentBegrunnelse must be base64".to_owned()),
        },
        _ => {
            return Err(
                "exactly one of the fields urlBegrunnelse and dokumentBegrunnelse is required"
                    .to_owned(),
            )
        }
    };
    Ok(RegisteredExplanation {
        exam_system: exam_system.to_ascii_uppercase(),
        assessment_id,
        candidate_number,
        url,
        document,
        content_type: present(body.content_type_begrunnelse),
        requested_at: required_date(body.dato_begrunnelse_bedt_om, "datoBegrunnelseBedtOm")?,
        given_at: required_date(body.dato_begrunnelse_gitt, "datoBegrunnelseGitt")?,
        count: 0,
    })
}

fn decision(exam_system: &str, body: &[u8]) -> Result<RegisteredDecision, String> {
    let body: DecisionBody = parse_body(body, "vurdId, kandidatnr, vedtak, dato")?;
    let assessment_id = required(body.vurd_id, "vurdId")?;
    let candidate_number = required(body.kandidatnr, "kandidatnr")?;
    let decision = required(body.vedtak, "vedtak")?;
    let Some(decision) = Decision::from_code(&decision) else {
        return Err("field vedtak must be OPPRETTHOLDT or ENDRET".to_owned());
    };
    let new_grade = present(body.ny_karakter);
    if decision == Decision::Changed && new_grade.is_none() {
        return Err("field nyKarakter is required when vedtak is ENDRET".to_owned());
    }
    Ok(RegisteredDecision {
        exam_system: exam_system.to_ascii_uppercase(),
        assessment_id,
        candidate_number,
        decision,
        new_grade,
        date: required_date(body.dato, "dato")?,
        withdrawn: false,
        count: 0,
    })
}

/// `201 registrert`, `200 uendret`, or 404 when `registration` is `None`.
fn registration_response(registration: Option<Registration>, what: &str) -> Response {
    match registration {
        Some(Registration::Registered) => {
            (StatusCode::CREATED, Json(json!({ "status": "registrert" }))).into_response()
        }
        Some(Registration::Unchanged) => Json(json!({ "status": "uendret" })).into_response(),
        None => feil(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("no {what} with this vurdId and kandidatnr in this exam system"),
        ),
    }
}

async fn register_explanation(
    State(state): State<Shared>,
    Path(exam_system): Path<String>,
    body: Bytes,
) -> Response {
    match explanation(&exam_system, &body) {
        Ok(explanation) => registration_response(
            state.register_explanation(explanation),
            "explanation request",
        ),
        Err(message) => bad_request(&message),
    }
}

async fn register_decision(
    State(state): State<Shared>,
    Path(exam_system): Path<String>,
    body: Bytes,
) -> Response {
    match decision(&exam_system, &body) {
        Ok(decision) => registration_response(state.register_decision(decision), "appeal"),
        Err(message) => bad_request(&message),
    }
}
