//! HTTP routes of the simulated Alma.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{AlmaState, KINDS};
use crate::contract::ContractCheck;

type Shared = Arc<AlmaState>;

const RECORD_PATH: &str = "/v1/books/{isbn}/{kind}/{type}";

/// All Alma routes. Order per request: budget count and faults, the contract
/// check (`contracts/alma.yaml`), the per-second threshold (Alma's own 429,
/// so it is checked), then API-key auth. `/_sandbox/*` bypasses all of them.
pub(crate) fn router(state: Shared, contract: ContractCheck) -> Router {
    Router::new()
        .route(RECORD_PATH, put(put_record).get(get_record))
        .layer(from_fn_with_state(state.clone(), require_api_key))
        .layer(from_fn_with_state(state.clone(), per_second_threshold))
        .layer(from_fn_with_state(contract, crate::contract::enforce))
        .layer(from_fn_with_state(state.clone(), count_and_fault))
        .merge(crate::admin::alma_routes())
        .with_state(state)
}

/// An error response in Alma's `errorList` format.
pub(crate) fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let tracking_id = format!("E01-{:016X}", fastrand::u64(..));
    let body = json!({
        "errorsExist": true,
        "errorList": { "error": [{
            "errorCode": code,
            "errorMessage": message,
            "trackingId": tracking_id,
        }]},
        "result": null,
    });
    (status, Json(body)).into_response()
}

async fn count_and_fault(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let remaining = state.note_request();
    let mut response = state.gate().guard(json_error, req, next).await;
    response
        .headers_mut()
        .insert("x-exl-api-remaining", HeaderValue::from(remaining));
    response
}

async fn per_second_threshold(State(state): State<Shared>, req: Request, next: Next) -> Response {
    if state.admit_this_second() {
        return next.run(req).await;
    }
    let mut response = json_error(
        StatusCode::TOO_MANY_REQUESTS,
        "PER_SECOND_THRESHOLD",
        "HTTP requests are more than allowed per second",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

async fn require_api_key(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let key = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("apikey "))
        .map(str::trim);
    if key.is_some_and(|key| state.api_key_matches(key)) {
        return next.run(req).await;
    }
    state.note_refused();
    match key {
        Some(_) => json_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "API-key not defined or not configured to allow this API.",
        ),
        None => json_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "missing Authorization: apikey header",
        ),
    }
}

fn bad_request(message: &str) -> Response {
    json_error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
}

/// A 400 response if `kind` is not one the API knows.
fn kind_error(kind: &str) -> Option<Response> {
    (!KINDS.contains(&kind)).then(|| {
        bad_request(&format!(
            "unknown kind {kind}: must be descriptions or objects"
        ))
    })
}

/// A 404 `BIB_NOT_FOUND` response if `isbn` is not a known book.
fn book_error(state: &AlmaState, isbn: &str) -> Option<Response> {
    (!state.knows_book(isbn)).then(|| {
        json_error(
            StatusCode::NOT_FOUND,
            "BIB_NOT_FOUND",
            &format!("no bibliographic record with ISBN {isbn}"),
        )
    })
}

async fn put_record(
    State(state): State<Shared>,
    Path((isbn, kind, type_code)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    if let Some(response) = kind_error(&kind) {
        return response;
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("body must be a JSON object");
    };
    for (field, expected) in [("isbn", &isbn), ("kind", &kind), ("type", &type_code)] {
        if body.get(field).and_then(Value::as_str) != Some(expected.as_str()) {
            return bad_request(&format!(
                "field {field} must be present and equal {expected} from the path"
            ));
        }
    }
    let Some(version) = body.get("version").and_then(Value::as_u64) else {
        return bad_request("field version must be a non-negative integer");
    };
    let Some(content) = body.get("content").cloned() else {
        return bad_request("field content is required");
    };
    if let Some(response) = book_error(&state, &isbn) {
        return response;
    }
    let result = state.write((isbn.clone(), kind, type_code), version, content);
    Json(json!({
        "isbn": isbn,
        "result": result.as_str(),
    }))
    .into_response()
}

async fn get_record(
    State(state): State<Shared>,
    Path((isbn, kind, type_code)): Path<(String, String, String)>,
) -> Response {
    if let Some(response) = kind_error(&kind).or_else(|| book_error(&state, &isbn)) {
        return response;
    }
    let Some(record) = state.record(&isbn, &kind, &type_code) else {
        return json_error(
            StatusCode::NOT_FOUND,
            "RECORD_NOT_FOUND",
            &format!("no {kind}/{type_code} record for ISBN {isbn}"),
        );
    };
    Json(json!({
        "isbn": record.isbn,
        "kind": record.kind,
        "type": record.type_code,
        "version": record.version,
        "content": record.content,
    }))
    .into_response()
}
