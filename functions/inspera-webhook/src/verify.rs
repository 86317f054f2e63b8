//! The pure part of receiving a webhook: is the call genuine, fresh and one Flyt handles?
//!
//! Checked in this order: size; whether the call names an event at all (one that does not is
//! Inspera's subscription validation, answered 200 with nothing queued); signature (HMAC-SHA1 of
//! the raw body, compared in constant time); JSON shape; event name (`event` or `eventName`, as
//! the deployment names its tenants' events); freshness of `timestamp`.
//!
//! A call refused before it is known to be Inspera's (too large, unsigned, forged, replayed, or
//! for an instance Flyt does not know) is [`Verdict::Refuse`]d: its answer is one text per status,
//! so an unknown instance answers as a bad signature does, and its reason goes to the log only.
//! A signed call that does not fit is [`Verdict::Reject`]ed naming what was wrong (never the
//! secret, never the payload's user names).

use chrono::DateTime;
use flyt::appeals::{lenient_string, InsperaEventKind, InsperaEventNames};
use serde::Deserialize;

/// What to answer a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Genuine and handled: queue it.
    Accept(Accepted),
    /// Genuine, but an event Flyt does not handle: answer 200 so Inspera does not retry.
    Ignore(String),
    /// A call that names no event: Inspera validating a new subscription, which must be
    /// answered 200 (`contracts/inspera.yaml`, `webhooks.subscriptionValidation`). Nothing is
    /// queued; whether it was signed is reported.
    Validation {
        /// A valid signature came with it.
        signed: bool,
    },
    /// Signed, but not accepted: the HTTP status and why, answered and written down.
    Reject(u16, String),
    /// Not known to be Inspera's: the HTTP status, answered with [`refused_answer`], and the
    /// reason, for the log only.
    Refuse {
        /// 401 or 413.
        status: u16,
        /// Why, for the log.
        reason: String,
    },
}

/// The one answer to every refused call of `status`, whatever the reason.
pub fn refused_answer(status: u16) -> &'static str {
    match status {
        413 => "not accepted: the body is larger than this endpoint accepts",
        _ => {
            "not accepted: the X-Inspera-Signature header is missing or does not sign this body \
             with this endpoint's webhook secret, or the call's timestamp is outside the accepted \
             window"
        }
    }
}

/// The verdict on a call for an instance Flyt has no secret for: refused as a call with a bad
/// signature is, and a validation call answered as an unsigned one.
pub fn unknown_instance(body: &[u8], limits: Limits) -> Verdict {
    if let Some(too_large) = too_large(body, limits) {
        return too_large;
    }
    if names_no_event(body) {
        return Verdict::Validation { signed: false };
    }
    Verdict::Refuse {
        status: 401,
        reason: "no webhook secret for this instance".to_owned(),
    }
}

fn too_large(body: &[u8], limits: Limits) -> Option<Verdict> {
    (body.len() > limits.max_body_bytes).then(|| Verdict::Refuse {
        status: 413,
        reason: format!(
            "body of {} bytes is larger than the {} accepted",
            body.len(),
            limits.max_body_bytes
        ),
    })
}

/// A genuine call's ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The event.
    pub kind: InsperaEventKind,
    /// `contextObjectId`: the test.
    pub test_id: u64,
    /// `associatedObjectId`.
    pub associated_id: String,
    /// `timestamp` as sent.
    pub timestamp: String,
}

/// The fields read from the payload; `triggeringUserName` and the like are never read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    event: Option<String>,
    event_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    context_object_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    associated_object_id: Option<String>,
    timestamp: Option<String>,
}

/// Limits a call must keep.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest body accepted.
    pub max_body_bytes: usize,
    /// Oldest (and furthest in the future) `timestamp` accepted, in ms.
    pub max_age_ms: i64,
}

/// Checks one call against the instance's secret and the deployment's event names at time
/// `now_ms`.
pub fn check(
    secret: &[u8],
    names: &InsperaEventNames,
    body: &[u8],
    signature: Option<&str>,
    limits: Limits,
    now_ms: i64,
) -> Verdict {
    if let Some(too_large) = too_large(body, limits) {
        return too_large;
    }
    let signed = flyt::signature::verify_inspera_signature(secret, body, signature);
    if names_no_event(body) {
        return Verdict::Validation {
            signed: signed.is_ok(),
        };
    }
    if let Err(error) = signed {
        return Verdict::Refuse {
            status: 401,
            reason: error.message().to_owned(),
        };
    }
    let payload: Payload = match serde_json::from_slice(body) {
        Ok(payload) => payload,
        Err(e) => {
            return Verdict::Reject(
                400,
                format!("body is not a JSON object with event, contextObjectId, associatedObjectId and timestamp: {}", flyt::scrub::scrubbed(&e)),
            )
        }
    };
    let Some(name) = payload.event.or(payload.event_name) else {
        return Verdict::Reject(400, "neither event nor eventName is set".to_owned());
    };
    let Some(kind) = names.kind_of(&name) else {
        return Verdict::Ignore(name);
    };
    let Some(timestamp) = payload.timestamp else {
        return Verdict::Reject(400, "timestamp is missing".to_owned());
    };
    let Ok(at) = DateTime::parse_from_rfc3339(timestamp.trim()) else {
        return Verdict::Reject(400, format!("timestamp {timestamp:?} is not RFC 3339"));
    };
    let age_ms = now_ms - at.timestamp_millis();
    if age_ms.abs() > limits.max_age_ms {
        return Verdict::Refuse {
            status: 401,
            reason: format!(
                "timestamp {timestamp} is {}s from now, outside the {}s accepted: a replay or a wrong clock",
                age_ms / 1000,
                limits.max_age_ms / 1000
            ),
        };
    }
    let Some(test_id) = payload
        .context_object_id
        .as_deref()
        .and_then(|id| id.trim().parse::<u64>().ok())
    else {
        return Verdict::Reject(
            400,
            "contextObjectId is missing or not a test id".to_owned(),
        );
    };
    let associated_id = payload.associated_object_id.unwrap_or_default();
    if associated_id.trim().is_empty() {
        return Verdict::Reject(400, "associatedObjectId is missing".to_owned());
    }
    Verdict::Accept(Accepted {
        kind,
        test_id,
        associated_id: associated_id.trim().to_owned(),
        timestamp,
    })
}

/// Whether a body names no event: empty, or a JSON object with neither `event` nor `eventName`.
/// Anything else (an event, or a body that is not a JSON object) is checked as an event.
fn names_no_event(body: &[u8]) -> bool {
    if body.iter().all(u8::is_ascii_whitespace) {
        return true;
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(fields)) => {
            !fields.contains_key("event") && !fields.contains_key("eventName")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flyt::signature::inspera_signature;

    const SECRET: &[u8] = b"webhook-secret";
    static NAMES: std::sync::LazyLock<InsperaEventNames> =
        std::sync::LazyLock::new(InsperaEventNames::default);
    const NOW: i64 = 1_795_000_000_000;
    const LIMITS: Limits = Limits {
        max_body_bytes: 1024,
        max_age_ms: 3_600_000,
    };

    fn body(event_key: &str, event: &str, at_ms: i64) -> Vec<u8> {
        let timestamp = chrono::DateTime::from_timestamp_millis(at_ms)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        format!(
            r#"{{"{event_key}":"{event}","contextObjectId":700001,"associatedObjectId":"123456","triggeringUserName":"grader7","timestamp":"{timestamp}"}}"#
        )
        .into_bytes()
    }

    fn signed(body: &[u8]) -> String {
        inspera_signature(SECRET, body)
    }

    #[test]
    fn a_signed_fresh_call_is_accepted_under_either_event_key() {
        for key in ["event", "eventName"] {
            let body = body(key, "appeal_decided", NOW - 5_000);
            match check(SECRET, &NAMES, &body, Some(&signed(&body)), LIMITS, NOW) {
                Verdict::Accept(accepted) => {
                    assert_eq!(accepted.kind, InsperaEventKind::AppealDecided);
                    assert_eq!(accepted.test_id, 700_001);
                    assert_eq!(accepted.associated_id, "123456");
                }
                other => panic!("{key}: {other:?}"),
            }
        }
    }

    #[test]
    fn unsigned_forged_oversized_and_replayed_calls_are_rejected() {
        let good = body("event", "explanation_given", NOW);
        let status = |verdict: Verdict| match verdict {
            Verdict::Refuse { status, .. } => status,
            other => panic!("not refused: {other:?}"),
        };
        assert_eq!(status(check(SECRET, &NAMES, &good, None, LIMITS, NOW)), 401);
        let forged = inspera_signature(b"another-secret", &good);
        assert_eq!(
            status(check(SECRET, &NAMES, &good, Some(&forged), LIMITS, NOW)),
            401
        );
        let mut tampered = good.clone();
        tampered[20] ^= 1;
        assert_eq!(
            status(check(
                SECRET,
                &NAMES,
                &tampered,
                Some(&signed(&good)),
                LIMITS,
                NOW
            )),
            401
        );
        let big = vec![b' '; 2048];
        assert_eq!(
            status(check(
                SECRET,
                &NAMES,
                &big,
                Some(&signed(&big)),
                LIMITS,
                NOW
            )),
            413
        );
        let old = body("event", "explanation_given", NOW - 2 * 3_600_000);
        match check(SECRET, &NAMES, &old, Some(&signed(&old)), LIMITS, NOW) {
            Verdict::Refuse {
                status: 401,
                reason,
            } => assert!(reason.contains("replay"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_bodies_name_the_field_and_unknown_events_are_ignored() {
        let no_test = br#"{"event":"appeal_decided","associatedObjectId":"1","timestamp":"2026-11-22T10:00:00Z"}"#;
        match check(
            SECRET,
            &NAMES,
            no_test,
            Some(&signed(no_test)),
            LIMITS,
            1_795_341_600_000,
        ) {
            Verdict::Reject(400, why) => assert!(why.contains("contextObjectId"), "{why}"),
            other => panic!("{other:?}"),
        }
        let other = body("event", "confirm_final_grades", NOW);
        assert_eq!(
            check(SECRET, &NAMES, &other, Some(&signed(&other)), LIMITS, NOW),
            Verdict::Ignore("confirm_final_grades".into())
        );
        let rejection = match check(SECRET, &NAMES, b"[1]", Some(&signed(b"[1]")), LIMITS, NOW) {
            Verdict::Reject(400, why) => why,
            other => panic!("{other:?}"),
        };
        assert!(!rejection.contains("grader7"));
    }

    #[test]
    fn a_call_that_names_no_event_is_the_subscription_validation_signed_or_not() {
        for body in [&b""[..], b"{}", br#"{"subscriptionId": 7}"#] {
            assert_eq!(
                check(SECRET, &NAMES, body, None, LIMITS, NOW),
                Verdict::Validation { signed: false },
                "{body:?}"
            );
            assert_eq!(
                check(SECRET, &NAMES, body, Some(&signed(body)), LIMITS, NOW),
                Verdict::Validation { signed: true },
            );
        }
        let event = body("event", "appeal_decided", NOW);
        assert!(matches!(
            check(SECRET, &NAMES, &event, None, LIMITS, NOW),
            Verdict::Refuse { status: 401, .. }
        ));
        assert!(matches!(
            check(SECRET, &NAMES, b"not json", None, LIMITS, NOW),
            Verdict::Refuse { status: 401, .. }
        ));
    }

    #[test]
    fn the_deployment_decides_which_names_stand_for_which_events() {
        let names = InsperaEventNames::parse("appeal_decided=confirm_final_grades").unwrap();
        let renamed = body("event", "confirm_final_grades", NOW);
        match check(
            SECRET,
            &names,
            &renamed,
            Some(&signed(&renamed)),
            LIMITS,
            NOW,
        ) {
            Verdict::Accept(accepted) => assert_eq!(accepted.kind, InsperaEventKind::AppealDecided),
            other => panic!("{other:?}"),
        }
        let old = body("event", "appeal_decided", NOW);
        assert_eq!(
            check(SECRET, &names, &old, Some(&signed(&old)), LIMITS, NOW),
            Verdict::Ignore("appeal_decided".into())
        );
    }

    #[test]
    fn an_unknown_instance_is_refused_as_a_bad_signature_is() {
        let good = body("event", "explanation_given", NOW);
        let forged = inspera_signature(b"another-secret", &good);
        let status_of = |verdict: &Verdict| match verdict {
            Verdict::Refuse { status, .. } => Some(*status),
            _ => None,
        };
        let bad_signature = check(SECRET, &NAMES, &good, Some(&forged), LIMITS, NOW);
        let unknown = unknown_instance(&good, LIMITS);
        assert_eq!(status_of(&unknown), Some(401));
        assert_eq!(status_of(&unknown), status_of(&bad_signature));
        let big = vec![b' '; 2048];
        assert_eq!(
            status_of(&unknown_instance(&big, LIMITS)),
            status_of(&check(
                SECRET,
                &NAMES,
                &big,
                Some(&signed(&big)),
                LIMITS,
                NOW
            ))
        );
        assert_eq!(
            unknown_instance(b"{}", LIMITS),
            Verdict::Validation { signed: false }
        );
        assert_ne!(refused_answer(401), refused_answer(413));
    }
}
