//! Inspera's `/_sandbox/*` routes besides faults: the graders, the thesis
//! submissions, the webhook subscription and the state. Like every admin route they bypass faults,
//! auth and request counting.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{InsperaAppealStatus, InsperaDeliveryOutcome, InsperaExplanationStatus, InsperaState};

type Shared = Arc<InsperaState>;

/// The admin routes named above.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/_sandbox/explanations/give", post(give_explanations))
        .route("/_sandbox/appeals/decide", post(decide_appeals))
        .route("/_sandbox/theses/submit", post(submit_theses))
        .route("/_sandbox/theses", get(theses))
        .route("/_sandbox/webhook", put(set_webhook))
        .route("/_sandbox/webhooks", get(webhooks))
        .route("/_sandbox/state", get(state_summary))
}

async fn give_explanations(State(state): State<Shared>) -> Json<Value> {
    Json(json!({ "given": state.give_explanations() }))
}

async fn decide_appeals(State(state): State<Shared>) -> Json<Value> {
    Json(json!({ "decided": state.decide_appeals() }))
}

/// `POST /_sandbox/theses/submit`: a `thesis_submitted` webhook per thesis.
async fn submit_theses(State(state): State<Shared>) -> Json<Value> {
    Json(json!({ "submitted": state.submit_theses() }))
}

/// `GET /_sandbox/theses`: every master thesis on Inspera, with its ids,
/// files and their SHA-256s.
async fn theses(State(state): State<Shared>) -> Json<Value> {
    Json(json!(state.theses()))
}

/// Body of `PUT /_sandbox/webhook`.
#[derive(Deserialize)]
struct Webhook {
    url: String,
    secret: String,
}

async fn set_webhook(State(state): State<Shared>, Json(webhook): Json<Webhook>) -> Response {
    if !(webhook.url.starts_with("http://") || webhook.url.starts_with("https://")) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "url must be an http(s) URL" })),
        )
            .into_response();
    }
    if webhook.secret.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "secret must be non-empty" })),
        )
            .into_response();
    }
    match state.subscribe_webhook(webhook.url, webhook.secret).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(why) => (StatusCode::BAD_GATEWAY, Json(json!({ "error": why }))).into_response(),
    }
}

/// Every delivery with its attempts (bodies name grader users: sandbox data only).
async fn webhooks(State(state): State<Shared>) -> Json<Value> {
    Json(json!(state.webhook_deliveries()))
}

async fn state_summary(State(state): State<Shared>) -> Json<Value> {
    let appeals = state.appeals();
    let count_appeals = |status| appeals.iter().filter(|a| a.status == status).count();
    let explanations = state.explanations();
    let given = explanations
        .iter()
        .filter(|e| e.status == InsperaExplanationStatus::Given)
        .count();
    let deliveries = state.webhook_deliveries();
    let count_deliveries = |outcome| deliveries.iter().filter(|d| d.outcome == outcome).count();
    Json(json!({
        "request_count": state.request_count(),
        "token_requests": state.token_requests(),
        "tests": state.tests().len(),
        "appeals": {
            "active": count_appeals(InsperaAppealStatus::Active),
            "withdrawn": count_appeals(InsperaAppealStatus::Withdrawn),
            "decided": count_appeals(InsperaAppealStatus::Decided),
        },
        "repeated_appeal_registrations": state.repeated_appeal_registrations(),
        "repeated_withdrawals": state.repeated_withdrawals(),
        "explanations": {
            "requested": explanations.len() - given,
            "given": given,
        },
        "duplicate_explanation_requests": state.duplicate_explanation_requests(),
        "webhooks": {
            "pending": count_deliveries(InsperaDeliveryOutcome::Pending),
            "delivered": count_deliveries(InsperaDeliveryOutcome::Delivered),
            "failed": count_deliveries(InsperaDeliveryOutcome::Failed),
        },
        "faults": state.faults(),
    }))
}
