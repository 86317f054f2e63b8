//! The simulated Slack incoming webhook: `POST /services/{team}/{bot}/{token}` with a JSON body
//! `{"text": ..., "blocks": [...]}` posts a message to the webhook's channel.
//!
//! It answers the way Slack does, in plain text: `200 ok` for an accepted message, `404
//! no_service` for a webhook that does not exist (any other path or token), `400 invalid_payload`
//! for a body that is not JSON, has no text, or whose `blocks` is not a list. Accepted messages
//! are recorded for tests to read; every request counts, faulted ones included.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Serialize;
use serde_json::Value;

use crate::faults::{FaultGate, Faults};
use crate::SandboxOptions;

/// The path of the one webhook the sandbox's Slack serves (team, bot and token segments).
pub const SLACK_WEBHOOK_PATH: &str = "/services/TFLYTLOCAL/BFLYTLOCAL/flytLocalWebhookToken";

/// One message the webhook accepted, as posted.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SlackMessage {
    /// The message's `text` (Slack's fallback and notification text).
    pub text: String,
    /// The message's `blocks`, if it had any.
    pub blocks: Option<Value>,
    /// When it arrived, epoch ms.
    pub received_at_ms: i64,
}

impl SlackMessage {
    /// The text and every string inside the blocks, one per line: all a reader of the channel
    /// could see.
    pub fn visible_text(&self) -> String {
        let mut parts = vec![self.text.clone()];
        if let Some(blocks) = &self.blocks {
            collect_strings(blocks, &mut parts);
        }
        parts.join("\n")
    }
}

fn collect_strings(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::String(s) => into.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, into)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, into)),
        _ => {}
    }
}

/// Shared, inspectable state of the simulated Slack; thread-safe.
pub struct SlackState {
    gate: FaultGate,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    messages: Vec<SlackMessage>,
    request_count: u64,
}

impl SlackState {
    pub(crate) fn new(options: &SandboxOptions) -> Self {
        SlackState {
            gate: FaultGate::new(options.seed ^ 0x51ac),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("slack state lock")
    }

    /// Replaces the active faults.
    pub fn set_faults(&self, faults: Faults) {
        self.gate.set(faults);
    }

    /// The active faults.
    pub fn faults(&self) -> Faults {
        self.gate.get()
    }

    /// Requests received on every non-admin route, faulted and refused ones included.
    pub fn request_count(&self) -> u64 {
        self.lock().request_count
    }

    /// Every accepted message, in arrival order.
    pub fn messages(&self) -> Vec<SlackMessage> {
        self.lock().messages.clone()
    }

    /// Forgets the accepted messages (the request count stays).
    pub fn clear_messages(&self) {
        self.lock().messages.clear();
    }

    fn note_request(&self) {
        self.lock().request_count += 1;
    }

    fn accept(&self, message: SlackMessage) {
        self.lock().messages.push(message);
    }
}

type Shared = Arc<SlackState>;

/// The webhook route, a `no_service` answer for every other path, faults and counting in front of
/// both with the contract check (`contracts/slack.yaml`) inside them; `/_sandbox/*` bypasses them.
pub(crate) fn router(state: Shared, contract: crate::contract::ContractCheck) -> Router {
    Router::new()
        .route("/services/{team}/{bot}/{token}", post(post_message))
        .fallback(no_service)
        .layer(from_fn_with_state(contract, crate::contract::enforce))
        .layer(from_fn_with_state(state.clone(), count_and_fault))
        .merge(crate::admin::slack_routes())
        .with_state(state)
}

/// Slack answers in plain text: the status and a short code.
fn plain(status: StatusCode, code: &str, _message: &str) -> Response {
    (status, code.to_ascii_lowercase()).into_response()
}

async fn count_and_fault(State(state): State<Shared>, req: Request, next: Next) -> Response {
    state.note_request();
    state.gate.guard(plain, req, next).await
}

async fn no_service() -> Response {
    plain(StatusCode::NOT_FOUND, "no_service", "")
}

async fn post_message(
    State(state): State<Shared>,
    Path((team, bot, token)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    if format!("/services/{team}/{bot}/{token}") != SLACK_WEBHOOK_PATH {
        return no_service().await;
    }
    match parse(&body) {
        Some((text, blocks)) => {
            state.accept(SlackMessage {
                text,
                blocks,
                received_at_ms: chrono::Utc::now().timestamp_millis(),
            });
            (StatusCode::OK, "ok").into_response()
        }
        None => plain(StatusCode::BAD_REQUEST, "invalid_payload", ""),
    }
}

/// The text and blocks of a valid payload: a JSON object with a non-blank `text` string and, if
/// present, `blocks` as a list.
fn parse(body: &[u8]) -> Option<(String, Option<Value>)> {
    let payload: Value = serde_json::from_slice(body).ok()?;
    let text = payload.get("text")?.as_str()?;
    if text.trim().is_empty() {
        return None;
    }
    let blocks = match payload.get("blocks") {
        None | Some(Value::Null) => None,
        Some(blocks @ Value::Array(_)) => Some(blocks.clone()),
        Some(_) => return None,
    };
    Some((text.to_owned(), blocks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_needs_text_and_blocks_as_a_list() {
        assert_eq!(parse(br#"{"text":"hi"}"#), Some(("hi".to_owned(), None)));
        assert!(parse(br#"{"text":"hi","blocks":[{"type":"divider"}]}"#)
            .is_some_and(|(_, b)| b.is_some()));
        assert_eq!(parse(br#"{"text":"  "}"#), None);
        assert_eq!(parse(br#"{"blocks":[]}"#), None);
        assert_eq!(parse(br#"{"text":"hi","blocks":{}}"#), None);
        assert_eq!(parse(b"text=hi"), None);
    }
}
