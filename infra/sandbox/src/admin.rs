//! `/_sandbox/*` admin routes, for driving a sandbox that runs as its own
//! process. They bypass faults, auth, throttling and request counting.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{AlmaState, BokbasenState, Faults, FsAppeal, FsState, Report, WiseflowState};

/// A simulated system whose faults can be switched.
trait Switchable: Send + Sync + 'static {
    fn set(&self, faults: Faults);
    fn get(&self) -> Faults;
}

impl Switchable for BokbasenState {
    fn set(&self, faults: Faults) {
        self.set_faults(faults);
    }
    fn get(&self) -> Faults {
        self.faults()
    }
}

impl Switchable for AlmaState {
    fn set(&self, faults: Faults) {
        self.set_faults(faults);
    }
    fn get(&self) -> Faults {
        self.faults()
    }
}

impl Switchable for FsState {
    fn set(&self, faults: Faults) {
        self.set_faults(faults);
    }
    fn get(&self) -> Faults {
        self.faults()
    }
}

impl Switchable for WiseflowState {
    fn set(&self, faults: Faults) {
        self.set_faults(faults);
    }
    fn get(&self) -> Faults {
        self.faults()
    }
}

impl Switchable for crate::SlackState {
    fn set(&self, faults: Faults) {
        self.set_faults(faults);
    }
    fn get(&self) -> Faults {
        self.faults()
    }
}

impl Switchable for crate::IdpState {
    fn set(&self, faults: Faults) {
        self.set_faults(faults);
    }
    fn get(&self) -> Faults {
        self.faults()
    }
}

impl Switchable for crate::InsperaState {
    fn set(&self, faults: Faults) {
        self.set_faults(faults);
    }
    fn get(&self) -> Faults {
        self.faults()
    }
}

async fn put_faults<S: Switchable>(
    State(state): State<Arc<S>>,
    Json(faults): Json<Faults>,
) -> Json<Faults> {
    state.set(faults);
    Json(state.get())
}

async fn get_faults<S: Switchable>(State(state): State<Arc<S>>) -> Json<Faults> {
    Json(state.get())
}

/// Admin routes of the Bokbasen server.
pub(crate) fn bokbasen_routes() -> Router<Arc<BokbasenState>> {
    Router::new()
        .route(
            "/_sandbox/faults",
            put(put_faults::<BokbasenState>).get(get_faults::<BokbasenState>),
        )
        .route("/_sandbox/state", get(bokbasen_state))
        .route("/_sandbox/append", post(append))
        .route("/_sandbox/description-faults", put(description_faults))
}

/// Admin routes of the Alma server.
pub(crate) fn alma_routes() -> Router<Arc<AlmaState>> {
    Router::new()
        .route(
            "/_sandbox/faults",
            put(put_faults::<AlmaState>).get(get_faults::<AlmaState>),
        )
        .route("/_sandbox/state", get(alma_state))
        .route("/_sandbox/books", post(add_book))
}

/// Admin routes of the FS server.
pub(crate) fn fs_routes() -> Router<Arc<FsState>> {
    Router::new()
        .route(
            "/_sandbox/faults",
            put(put_faults::<FsState>).get(get_faults::<FsState>),
        )
        .route("/_sandbox/state", get(fs_state))
        .route("/_sandbox/klager", post(append_appeal))
}

/// Admin routes of the Inspera server: faults here, graders, webhook and
/// state in the Inspera module.
pub(crate) fn inspera_routes() -> Router<Arc<crate::InsperaState>> {
    Router::new()
        .route(
            "/_sandbox/faults",
            put(put_faults::<crate::InsperaState>).get(get_faults::<crate::InsperaState>),
        )
        .merge(crate::inspera::admin_routes())
}

async fn bokbasen_state(State(state): State<Arc<BokbasenState>>) -> Json<Value> {
    Json(json!({
        "request_count": state.request_count(),
        "token_requests": state.token_requests(),
        "changes": {
            "objects": state.change_count(Report::Objects),
            "descriptions": state.change_count(Report::Descriptions),
        },
        "faults": state.faults(),
    }))
}

/// Body of `POST /_sandbox/append`.
#[derive(Deserialize)]
struct Append {
    report: Report,
    isbn13: String,
    #[serde(rename = "type")]
    type_code: String,
}

async fn append(State(state): State<Arc<BokbasenState>>, Json(body): Json<Append>) -> Response {
    if body.isbn13.is_empty() || body.type_code.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "isbn13 and type must be non-empty" })),
        )
            .into_response();
    }
    let reference = state.append_change(body.report, &body.isbn13, &body.type_code);
    Json(json!({ "reference": reference })).into_response()
}

/// Body of `PUT /_sandbox/description-faults`; absent fields are left as they are.
#[derive(Deserialize)]
struct DescriptionFaults {
    malformed: Option<Vec<String>>,
    mismatched: Option<Vec<String>>,
    malformed_pages: Option<u32>,
}

async fn description_faults(
    State(state): State<Arc<BokbasenState>>,
    Json(body): Json<DescriptionFaults>,
) -> StatusCode {
    if let Some(refs) = body.malformed {
        state.set_malformed_descriptions(refs);
    }
    if let Some(refs) = body.mismatched {
        state.set_mismatched_descriptions(refs);
    }
    if let Some(pages) = body.malformed_pages {
        state.set_malformed_pages(pages);
    }
    StatusCode::NO_CONTENT
}

async fn alma_state(State(state): State<Arc<AlmaState>>) -> Json<Value> {
    Json(json!({
        "request_count": state.request_count(),
        "records": state.records().len(),
        "effects_total": state.effects_total(),
        "duplicate_writes": state.duplicate_writes(),
        "older_over_newer": state.older_over_newer().len(),
        "api_remaining": state.api_remaining(),
        "faults": state.faults(),
    }))
}

/// Body of `POST /_sandbox/books`.
#[derive(Deserialize)]
struct Book {
    isbn: String,
}

async fn add_book(State(state): State<Arc<AlmaState>>, Json(book): Json<Book>) -> StatusCode {
    state.add_book(&book.isbn);
    StatusCode::NO_CONTENT
}

async fn fs_state(State(state): State<Arc<FsState>>) -> Json<Value> {
    let institutions = state.institutions();
    let appeals: usize = institutions
        .iter()
        .map(|i| state.appeals(&i.institusjonsnr).len())
        .sum();
    let explanation_requests: usize = institutions
        .iter()
        .map(|i| state.explanation_requests(&i.institusjonsnr).len())
        .sum();
    Json(json!({
        "request_count": state.request_count(),
        "institutions": institutions,
        "appeals": appeals,
        "explanation_requests": explanation_requests,
        "registered_explanations": state.registered_explanations().len(),
        "registered_decisions": state.registered_decisions().len(),
        "duplicate_registrations": state.duplicate_registrations(),
        "exams": institutions
            .iter()
            .map(|i| state.exams(&i.institusjonsnr).len())
            .sum::<usize>(),
        "registered_grades": state.registered_grades().len(),
        "attendance": state.attendance().len(),
        "group_ids": state.group_ids().len(),
        "validations": state.validations(),
        "faults": state.faults(),
    }))
}

/// `POST /_sandbox/klager`: appends an appeal change (FS field names; an
/// absent `endretDato` means now) and returns it as stored.
async fn append_appeal(
    State(state): State<Arc<FsState>>,
    Json(appeal): Json<FsAppeal>,
) -> Response {
    let problem = if appeal.assessment_id.is_empty()
        || appeal.candidate_number.is_empty()
        || appeal.institution.is_empty()
    {
        Some("vurdId, kandidatnr and institusjonsnr must be non-empty".to_owned())
    } else if !state.knows_institution(&appeal.institution) {
        Some(format!("unknown institusjonsnr {}", appeal.institution))
    } else if !appeal.changed_at.is_empty() && !crate::fs::is_timestamp(&appeal.changed_at) {
        Some("endretDato must be yyyy-MM-ddTHH:mm:ss".to_owned())
    } else {
        None
    };
    match problem {
        Some(error) => (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response(),
        None => Json(state.append_appeal(appeal)).into_response(),
    }
}

/// Admin routes of the WISEflow server.
pub(crate) fn wiseflow_routes() -> Router<Arc<WiseflowState>> {
    Router::new()
        .route(
            "/_sandbox/faults",
            put(put_faults::<WiseflowState>).get(get_faults::<WiseflowState>),
        )
        .route("/_sandbox/state", get(wiseflow_state))
        .route("/_sandbox/reassessment-module", put(reassessment_module))
        .route("/_sandbox/explanations/advance", post(advance_explanations))
        .route("/_sandbox/theses", get(wiseflow_theses))
}

/// `GET /_sandbox/theses`: every master thesis on WISEflow, with its ids,
/// files and their SHA-256s.
async fn wiseflow_theses(State(state): State<Arc<WiseflowState>>) -> Json<Value> {
    Json(json!(state.theses()))
}

async fn wiseflow_state(State(state): State<Arc<WiseflowState>>) -> Json<Value> {
    let explanations = state.explanation_requests();
    let mut by_state = [0usize; crate::EXPLANATION_ACCEPTED as usize + 1];
    for explanation in &explanations {
        by_state[usize::from(explanation.state)] += 1;
    }
    Json(json!({
        "request_count": state.request_count(),
        "flows": state.flows(),
        "reassessment_module": state.reassessment_module(),
        "reassessments": state.reassessments().into_values().collect::<Vec<_>>(),
        "explanation_requests": explanations.len(),
        "explanation_requests_by_state": by_state,
        "repeated_explanation_posts": state.repeated_explanation_posts(),
        "justification_shown": state.justification_shown_count(),
        "faults": state.faults(),
    }))
}

/// Body of `PUT /_sandbox/reassessment-module`.
#[derive(Deserialize)]
struct Module {
    enabled: bool,
}

/// `PUT /_sandbox/reassessment-module`: licenses or withdraws the module.
async fn reassessment_module(
    State(state): State<Arc<WiseflowState>>,
    Json(body): Json<Module>,
) -> Json<Value> {
    state.set_reassessment_module(body.enabled);
    Json(json!({ "enabled": state.reassessment_module() }))
}

/// Body of `POST /_sandbox/explanations/advance`.
#[derive(Deserialize)]
struct Advance {
    state: u8,
}

/// `POST /_sandbox/explanations/advance`: moves every explanation request
/// below `state` (0–3) up to it and says how many moved.
async fn advance_explanations(
    State(state): State<Arc<WiseflowState>>,
    Json(body): Json<Advance>,
) -> Response {
    if body.state > crate::EXPLANATION_ACCEPTED {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "state must be 0, 1, 2 or 3" })),
        )
            .into_response();
    }
    Json(json!({ "moved": state.advance_explanations(body.state) })).into_response()
}

/// Admin routes of the Slack server.
pub(crate) fn slack_routes() -> Router<Arc<crate::SlackState>> {
    Router::new()
        .route(
            "/_sandbox/faults",
            put(put_faults::<crate::SlackState>).get(get_faults::<crate::SlackState>),
        )
        .route("/_sandbox/state", get(slack_state))
        .route("/_sandbox/messages", get(slack_messages))
}

async fn slack_state(State(state): State<Arc<crate::SlackState>>) -> Json<Value> {
    Json(json!({
        "request_count": state.request_count(),
        "messages": state.messages().len(),
        "faults": state.faults(),
    }))
}

/// `GET /_sandbox/messages`: every message the webhook accepted, in order.
async fn slack_messages(State(state): State<Arc<crate::SlackState>>) -> Json<Value> {
    Json(json!(state.messages()))
}

/// Admin routes of the identity provider.
pub(crate) fn idp_routes() -> Router<Arc<crate::IdpState>> {
    Router::new()
        .route(
            "/_sandbox/faults",
            put(put_faults::<crate::IdpState>).get(get_faults::<crate::IdpState>),
        )
        .route("/_sandbox/state", get(idp_state))
        .route("/_sandbox/redirect-uris", post(register_redirect_uri))
}

async fn idp_state(State(state): State<Arc<crate::IdpState>>) -> Json<Value> {
    Json(json!({
        "request_count": state.request_count(),
        "sign_ins": state.sign_ins(),
        "tokens_issued": state.tokens_issued(),
        "users": state.users(),
        "faults": state.faults(),
    }))
}

/// Body of `POST /_sandbox/redirect-uris`.
#[derive(Deserialize)]
struct RedirectUri {
    uri: String,
}

/// `POST /_sandbox/redirect-uris`: registers a client's `redirect_uri`.
async fn register_redirect_uri(
    State(state): State<Arc<crate::IdpState>>,
    Json(body): Json<RedirectUri>,
) -> Json<Value> {
    state.register_redirect_uri(body.uri.clone());
    Json(json!({ "registered": body.uri }))
}
