//! HTTP routes of the simulated Bokbasen.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::cursor::{parse_time, Cursor};
use super::{xml, BokbasenState, Report, Start};
use crate::contract::{ContractCheck, InjectedFault};

/// The only audience the token endpoint accepts.
const AUDIENCE: &str = "https://api.bokbasen.io/metadata/";
/// Oldest `after`/`next` time the export accepts.
const MAX_AGE_DAYS: i64 = 180;
const TOKEN_PATH: &str = "/oauth/token";

type Shared = Arc<BokbasenState>;

/// All Bokbasen routes: faults and counting wrap everything but `/_sandbox/*`, and inside them
/// the contract check (`contracts/bokbasen.yaml`).
pub(crate) fn router(state: Shared, contract: ContractCheck) -> Router {
    let protected = Router::new()
        .route(Report::Objects.path(), get(export_objects))
        .route(Report::Descriptions.path(), get(export_descriptions))
        .route("/metadata/description/{id}", get(description))
        .route_layer(from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route(TOKEN_PATH, post(token))
        .route("/objects/{file}", get(object))
        .merge(protected)
        .layer(from_fn_with_state(contract, crate::contract::enforce))
        .layer(from_fn_with_state(state.clone(), count_and_fault))
        .merge(crate::admin::bokbasen_routes())
        .with_state(state)
}

impl Report {
    fn path(self) -> &'static str {
        match self {
            Report::Objects => "/metadata/export/object/v1",
            Report::Descriptions => "/metadata/export/description/v1",
        }
    }
}

/// An XML error response in Bokbasen's format.
pub(crate) fn xml_error(status: StatusCode, _code: &str, message: &str) -> Response {
    xml_response(status, xml::error(status.as_u16(), message))
}

fn bad_request(message: &str) -> Response {
    xml_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}

fn xml_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

async fn count_and_fault(State(state): State<Shared>, req: Request, next: Next) -> Response {
    state.note_request(req.uri().path() == TOKEN_PATH);
    state.gate().guard(xml_error, req, next).await
}

async fn require_token(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let message = match token {
        Some(token) if state.token_valid(token) => return next.run(req).await,
        Some(_) => "the bearer token is unknown or expired",
        None => "missing Authorization: Bearer token",
    };
    let mut response = xml_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Body of a client-credentials token request (JSON or form).
#[derive(Deserialize)]
struct TokenRequest {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    audience: String,
    #[serde(default)]
    grant_type: String,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

async fn token(State(state): State<Shared>, req: Request) -> Response {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("json"));
    let body = if is_json {
        Json::<TokenRequest>::from_request(req, &())
            .await
            .map(|Json(body)| body)
            .ok()
    } else {
        Form::<TokenRequest>::from_request(req, &())
            .await
            .map(|Form(body)| body)
            .ok()
    };
    let Some(body) = body else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "body must be JSON or form-encoded",
        );
    };
    if body.grant_type != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        );
    }
    if !state.credentials_match(&body.client_id, &body.client_secret) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "access_denied",
            "unknown client_id or wrong client_secret",
        );
    }
    if body.audience != AUDIENCE {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "access_denied",
            "the client is not authorized for this audience",
        );
    }
    let (access_token, expires_in) = state.issue_token();
    Json(json!({
        "access_token": access_token,
        "expires_in": expires_in,
        "token_type": "Bearer",
    }))
    .into_response()
}

async fn export_objects(
    State(state): State<Shared>,
    query: Query<HashMap<String, String>>,
) -> Response {
    export(&state, &query, Report::Objects)
}

async fn export_descriptions(
    State(state): State<Shared>,
    query: Query<HashMap<String, String>>,
) -> Response {
    export(&state, &query, Report::Descriptions)
}

/// Validates the paging parameters of an export request; the error names
/// the offending parameter.
fn start_and_size(
    query: &HashMap<String, String>,
    report: Report,
) -> Result<(Start, usize), String> {
    let max = report.max_page_size();
    let size = match query.get("pagesize").map(|raw| raw.parse::<usize>()) {
        None => max,
        Some(Ok(0)) => return Err("parameter pagesize must be at least 1".to_owned()),
        Some(Ok(size)) if size > max => {
            return Err(format!("parameter pagesize must be at most {max}"))
        }
        Some(Ok(size)) => size,
        Some(Err(_)) => return Err("parameter pagesize must be a positive integer".to_owned()),
    };
    let oldest = Utc::now() - chrono::Duration::days(MAX_AGE_DAYS);
    let start = match (query.get("after"), query.get("next")) {
        (Some(_), Some(_)) => {
            return Err("give only one of the parameters after and next".to_owned())
        }
        (None, None) => return Err("one of the parameters after or next is required".to_owned()),
        (Some(after), None) => {
            let Some(time) = parse_time(after) else {
                return Err("parameter after must be a timestamp yyyyMMddHHmmss".to_owned());
            };
            if time < oldest {
                return Err("parameter after must not be older than 180 days".to_owned());
            }
            Start::After(time)
        }
        (None, Some(next)) => {
            let Some(cursor) = Cursor::parse(next) else {
                return Err("parameter next is not a valid cursor".to_owned());
            };
            if cursor.at < oldest {
                return Err("parameter next points to a time older than 180 days".to_owned());
            }
            Start::Next(cursor, next.clone())
        }
    };
    Ok((start, size))
}

fn export(state: &BokbasenState, query: &HashMap<String, String>, report: Report) -> Response {
    let (start, size) = match start_and_size(query, report) {
        Ok(parsed) => parsed,
        Err(message) => return bad_request(&message),
    };
    let page = state.page(report, start, size);
    let mut body = xml::export_page(report, &page.changes, state.base_url());
    if page.malformed {
        body = xml::truncate(&body);
    }
    let size_param = query
        .get("pagesize")
        .map(|size| format!("&pagesize={size}"))
        .unwrap_or_default();
    let link = format!(
        "<{}{}?next={}{size_param}>; rel=\"next\"",
        state.base_url(),
        report.path(),
        page.next
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    if let Ok(next) = HeaderValue::from_str(&page.next) {
        headers.insert("next", next);
    }
    if let Ok(link) = HeaderValue::from_str(&link) {
        headers.insert(header::LINK, link);
    }
    let mut response = (StatusCode::OK, headers, body).into_response();
    if page.malformed {
        response.extensions_mut().insert(InjectedFault);
    }
    response
}

async fn description(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let Some(doc) = state.description(&id) else {
        return xml_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("no description with id {id}"),
        );
    };
    let body = xml::description(&doc.isbn13, &doc.type_code, &doc.text);
    if doc.malformed {
        let mut response = xml_response(StatusCode::OK, xml::truncate(&body));
        response.extensions_mut().insert(InjectedFault);
        return response;
    }
    xml_response(StatusCode::OK, body)
}

/// A tiny JPEG-looking payload (SOI, JFIF marker, EOI).
const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xFF, 0xD9,
];

async fn object(State(state): State<Shared>, Path(file): Path<String>) -> Response {
    match file.strip_suffix(".jpg") {
        Some(id) if state.object_exists(id) => {
            ([(header::CONTENT_TYPE, "image/jpeg")], JPEG).into_response()
        }
        _ => xml_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("no object {file}"),
        ),
    }
}
