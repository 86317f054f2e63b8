//! Switchable faults, shared by both simulated systems.
//!
//! Faults are decided per request from a seeded RNG, so a test run with the
//! same seed and the same request order sees the same failures.

use std::sync::Mutex;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

/// Faults to inject into one simulated system.
///
/// Rates are fractions (0..=1) of requests. Precedence per request:
/// `down`, then `error_rate`, then `throttle_rate`, then `timeout_rate`.
/// Missing fields in JSON default to "no fault".
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Faults {
    /// Fraction of requests answered 503 without any effect.
    pub error_rate: f64,
    /// Fraction of requests handled normally whose answer is held back `timeout_delay_ms`: the
    /// work is done, the client waiting for the answer may time out (a lost or late response).
    pub timeout_rate: f64,
    /// Delay applied to requests picked by `timeout_rate`.
    pub timeout_delay_ms: u64,
    /// Fraction of requests answered 429 with `Retry-After`, without any effect.
    pub throttle_rate: f64,
    /// Value of the `Retry-After` header on throttled responses.
    pub retry_after_secs: u64,
    /// Answer every request 503 without any effect.
    pub down: bool,
    /// The human message of fault answers instead of the sandbox's own. Real systems echo what
    /// they were given in their error texts; a test puts personal data here to show that none of
    /// it leaves Flyt.
    pub error_message: Option<String>,
}

/// What the fault gate decided for one request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Verdict {
    Pass,
    Delay(Duration),
    Down,
    Error,
    Throttle(u64),
}

/// Renders an error response in the calling system's own format
/// (status, machine code, human message).
pub(crate) type RenderError = fn(StatusCode, &str, &str) -> Response;

/// The current faults of one system plus the seeded RNG that draws them.
pub(crate) struct FaultGate {
    inner: Mutex<GateInner>,
}

struct GateInner {
    faults: Faults,
    rng: fastrand::Rng,
}

impl FaultGate {
    /// A gate with no faults whose draws are determined by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            inner: Mutex::new(GateInner {
                faults: Faults::default(),
                rng: fastrand::Rng::with_seed(seed),
            }),
        }
    }

    pub(crate) fn set(&self, faults: Faults) {
        self.inner.lock().expect("fault gate lock").faults = faults;
    }

    pub(crate) fn get(&self) -> Faults {
        self.inner.lock().expect("fault gate lock").faults.clone()
    }

    /// Draws the fate of one request. Always draws the same number of values
    /// so the sequence of outcomes only depends on the seed and request order.
    fn decide(&self) -> Verdict {
        let mut inner = self.inner.lock().expect("fault gate lock");
        if inner.faults.down {
            return Verdict::Down;
        }
        let error = inner.rng.f64();
        let throttle = inner.rng.f64();
        let timeout = inner.rng.f64();
        let faults = &inner.faults;
        if error < faults.error_rate {
            Verdict::Error
        } else if throttle < faults.throttle_rate {
            Verdict::Throttle(faults.retry_after_secs)
        } else if timeout < faults.timeout_rate {
            Verdict::Delay(Duration::from_millis(faults.timeout_delay_ms))
        } else {
            Verdict::Pass
        }
    }

    /// Applies the gate to a request: fault responses never reach `next`, so
    /// they have no effect. A delayed request is handled at once, to completion,
    /// in its own task even if the client gives up; only its answer is late.
    pub(crate) async fn guard(&self, render: RenderError, req: Request, next: Next) -> Response {
        let message = self.get().error_message;
        let message = |own: &'static str| message.clone().unwrap_or_else(|| own.to_owned());
        match self.decide() {
            Verdict::Pass => next.run(req).await,
            Verdict::Delay(delay) => {
                let task = tokio::spawn(async move {
                    let response = next.run(req).await;
                    tokio::time::sleep(delay).await;
                    response
                });
                match task.await {
                    Ok(response) => response,
                    Err(_) => render(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "INTERNAL_ERROR",
                        "delayed request failed",
                    ),
                }
            }
            Verdict::Down => render(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_DOWN",
                &message("the service is down (sandbox fault)"),
            ),
            Verdict::Error => render(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                &message("transient failure (sandbox fault)"),
            ),
            Verdict::Throttle(retry_after) => {
                let mut response = render(
                    StatusCode::TOO_MANY_REQUESTS,
                    "THROTTLED",
                    &message("too many requests (sandbox fault)"),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                response
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_rates_always_fire_and_zero_rates_never() {
        let gate = FaultGate::new(1);
        assert_eq!(gate.decide(), Verdict::Pass);
        gate.set(Faults {
            error_rate: 1.0,
            ..Faults::default()
        });
        assert!((0..100).all(|_| gate.decide() == Verdict::Error));
        gate.set(Faults {
            throttle_rate: 1.0,
            retry_after_secs: 3,
            ..Faults::default()
        });
        assert_eq!(gate.decide(), Verdict::Throttle(3));
        gate.set(Faults {
            down: true,
            error_rate: 1.0,
            ..Faults::default()
        });
        assert_eq!(gate.decide(), Verdict::Down);
    }

    #[test]
    fn same_seed_same_outcomes() {
        let faults = Faults {
            error_rate: 0.3,
            throttle_rate: 0.3,
            timeout_rate: 0.3,
            timeout_delay_ms: 5,
            ..Faults::default()
        };
        let draw = || {
            let gate = FaultGate::new(42);
            gate.set(faults.clone());
            (0..50).map(|_| gate.decide()).collect::<Vec<_>>()
        };
        assert_eq!(draw(), draw());
    }
}
