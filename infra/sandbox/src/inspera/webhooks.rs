//! Inspera's webhooks: thin JSON events signed with hex HMAC-SHA1 of the
//! exact body in `X-Inspera-Signature`, delivered by a background task with a
//! 10 s timeout per attempt; anything but 200 is retried up to 3 more times
//! with the same body and signature.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{json, Value};
use sha1::Sha1;
use tokio::task::{JoinHandle, JoinSet};

use super::InsperaState;

/// The header carrying the body's signature.
pub(crate) const SIGNATURE_HEADER: &str = "X-Inspera-Signature";
/// How long one delivery attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The first attempt and up to 3 retries.
const MAX_ATTEMPTS: usize = 4;

/// What became of a webhook delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InsperaDeliveryOutcome {
    /// Queued, or waiting for its next attempt.
    Pending,
    /// An attempt was answered 200.
    Delivered,
    /// Every attempt failed.
    Failed,
}

/// One webhook event and every attempt to deliver it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InsperaWebhookDelivery {
    /// The event name, e.g. `explanation_given`.
    pub event: String,
    /// Where it was sent.
    pub url: String,
    /// The exact body sent, the same on every attempt.
    pub body: String,
    /// The `X-Inspera-Signature` sent, the same on every attempt.
    pub signature: String,
    /// The answer's status per attempt; `None` when there was no answer
    /// (refused connection, timeout).
    pub statuses: Vec<Option<u16>>,
    /// What became of it.
    pub outcome: InsperaDeliveryOutcome,
}

impl InsperaWebhookDelivery {
    /// Attempts made so far.
    pub fn attempts(&self) -> usize {
        self.statuses.len()
    }
}

/// One event to publish.
pub(super) struct Event<'a> {
    pub(super) name: &'static str,
    pub(super) test_id: u64,
    pub(super) associated_id: Value,
    pub(super) associated_type: &'static str,
    pub(super) user_id: u64,
    pub(super) user_name: &'a str,
    pub(super) timestamp: &'a str,
}

/// The subscription and the deliveries made for it.
#[derive(Default)]
pub(super) struct Webhooks {
    subscription: Option<(String, String)>,
    deliveries: Vec<InsperaWebhookDelivery>,
    queued: VecDeque<usize>,
}

impl Webhooks {
    /// Sends later events to `url`, signed with `secret`.
    pub(super) fn subscribe(&mut self, url: String, secret: String) {
        self.subscription = Some((url, secret));
    }

    /// Builds, signs and queues the event; without a subscription it is dropped.
    pub(super) fn queue(&mut self, event: Event<'_>) {
        let Some((url, secret)) = &self.subscription else {
            return;
        };
        let body = json!({
            "event": event.name,
            "eventName": event.name,
            "contextObjectId": event.test_id,
            "contextObjectType": "TEST",
            "associatedObjectId": event.associated_id,
            "associatedObjectType": event.associated_type,
            "triggeringUserId": event.user_id,
            "triggeringUserName": event.user_name,
            "timestamp": event.timestamp,
        })
        .to_string();
        let signature = sign(secret.as_bytes(), body.as_bytes());
        self.queued.push_back(self.deliveries.len());
        self.deliveries.push(InsperaWebhookDelivery {
            event: event.name.to_owned(),
            url: url.clone(),
            body,
            signature,
            statuses: Vec::new(),
            outcome: InsperaDeliveryOutcome::Pending,
        });
    }

    pub(super) fn deliveries(&self) -> Vec<InsperaWebhookDelivery> {
        self.deliveries.clone()
    }

    pub(super) fn pending(&self) -> usize {
        self.deliveries
            .iter()
            .filter(|d| d.outcome == InsperaDeliveryOutcome::Pending)
            .count()
    }

    /// Records one attempt's answer and, when it settles the delivery, the outcome.
    fn record(&mut self, index: usize, status: Option<u16>) {
        let delivery = &mut self.deliveries[index];
        delivery.statuses.push(status);
        if status == Some(200) {
            delivery.outcome = InsperaDeliveryOutcome::Delivered;
        } else if delivery.statuses.len() >= MAX_ATTEMPTS {
            delivery.outcome = InsperaDeliveryOutcome::Failed;
        }
    }
}

/// Hex HMAC-SHA1 of `body` under `secret`.
fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The validation call of a new subscription: a POST with no body and no signature, and the
/// status it was answered with (`None` for no answer within the attempt timeout).
pub(super) async fn validation_call(url: &str) -> Option<u16> {
    reqwest::Client::new()
        .post(url)
        .timeout(ATTEMPT_TIMEOUT)
        .send()
        .await
        .ok()
        .map(|response| response.status().as_u16())
}

/// Starts the task that delivers queued webhooks until it is aborted; each
/// delivery runs on its own so one slow receiver does not hold up the rest.
pub(crate) fn spawn_delivery(state: Arc<InsperaState>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .build()
            .expect("the webhook HTTP client builds");
        let mut running = JoinSet::new();
        loop {
            while let Some(index) = next_queued(&state) {
                running.spawn(deliver(state.clone(), http.clone(), index));
            }
            tokio::select! {
                () = state.webhook_signal.notified() => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
    })
}

fn next_queued(state: &InsperaState) -> Option<usize> {
    state.lock().webhooks.queued.pop_front()
}

/// Sends one delivery until it is answered 200 or runs out of attempts.
async fn deliver(state: Arc<InsperaState>, http: reqwest::Client, index: usize) {
    let (url, body, signature) = {
        let inner = state.lock();
        let delivery = &inner.webhooks.deliveries[index];
        (
            delivery.url.clone(),
            delivery.body.clone(),
            delivery.signature.clone(),
        )
    };
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(state.webhook_retry_delay).await;
        }
        let status = http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, &signature)
            .body(body.clone())
            .send()
            .await
            .ok()
            .map(|response| response.status().as_u16());
        state.lock().webhooks.record(index, status);
        if status == Some(200) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_the_known_hmac_sha1() {
        assert_eq!(
            sign(b"key", b"The quick brown fox jumps over the lazy dog"),
            "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"
        );
    }

    #[test]
    fn events_without_a_subscription_are_dropped() {
        let mut webhooks = Webhooks::default();
        let event = || Event {
            name: "appeal_decided",
            test_id: 700_001,
            associated_id: Value::from("12345"),
            associated_type: "CANDIDATE",
            user_id: 510_001,
            user_name: "sensor1234",
            timestamp: "2026-11-22T10:00:00Z",
        };
        webhooks.queue(event());
        assert!(webhooks.deliveries().is_empty());
        webhooks.subscribe("http://127.0.0.1:9/hook".to_owned(), "s".to_owned());
        webhooks.queue(event());
        let delivery = &webhooks.deliveries()[0];
        let body: Value = serde_json::from_str(&delivery.body).expect("json body");
        assert_eq!(body["event"], "appeal_decided");
        assert_eq!(body["eventName"], "appeal_decided");
        assert_eq!(body["associatedObjectId"], "12345");
        assert_eq!(body["contextObjectId"], 700_001);
        assert_eq!(delivery.signature, sign(b"s", delivery.body.as_bytes()));
        assert_eq!(webhooks.pending(), 1);
    }

    #[test]
    fn four_failures_settle_a_delivery_and_a_200_ends_it() {
        let mut webhooks = Webhooks::default();
        webhooks.subscribe("http://127.0.0.1:9/hook".to_owned(), "s".to_owned());
        for _ in 0..2 {
            webhooks.queue(Event {
                name: "explanation_given",
                test_id: 700_001,
                associated_id: Value::from(900_001),
                associated_type: "EXPLANATION",
                user_id: 510_001,
                user_name: "sensor1234",
                timestamp: "2026-11-22T10:00:00Z",
            });
        }
        for status in [Some(500), None, Some(502), Some(404)] {
            webhooks.record(0, status);
        }
        webhooks.record(1, Some(500));
        webhooks.record(1, Some(200));
        let deliveries = webhooks.deliveries();
        assert_eq!(deliveries[0].outcome, InsperaDeliveryOutcome::Failed);
        assert_eq!(deliveries[0].attempts(), 4);
        assert_eq!(deliveries[1].outcome, InsperaDeliveryOutcome::Delivered);
        assert_eq!(webhooks.pending(), 0);
    }

    #[test]
    fn every_event_the_sandbox_sends_is_one_the_contract_describes() {
        let mut webhooks = Webhooks::default();
        webhooks.subscribe("http://127.0.0.1:9/hook".to_owned(), "s".to_owned());
        for (name, associated_id, associated_type) in [
            ("explanation_given", Value::from(900_001), "EXPLANATION"),
            ("appeal_decided", Value::from("12345"), "CANDIDATE"),
            ("thesis_submitted", Value::from("12345"), "CANDIDATE"),
        ] {
            webhooks.queue(Event {
                name,
                test_id: 700_001,
                associated_id,
                associated_type,
                user_id: 510_001,
                user_name: "sensor1234",
                timestamp: "2026-11-22T10:00:00Z",
            });
        }
        for delivery in webhooks.deliveries() {
            let body: Value = serde_json::from_str(&delivery.body).expect("json body");
            assert_eq!(
                crate::contract::schema_problems("inspera", "webhook-event", &body),
                None,
                "{}",
                delivery.body
            );
        }
        let invented = serde_json::json!({"event": "x", "contextObjectId": 1, "timestamp": "2026-11-22T10:00:00Z", "grade": "A"});
        assert!(
            crate::contract::schema_problems("inspera", "webhook-event", &invented)
                .is_some_and(|problem| problem.contains("grade")),
            "a field the contract does not name is a departure"
        );
    }
}
