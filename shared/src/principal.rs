//! What the DigEks authorizer tells the proxy about a request (the HTTP API's authorizer
//! context): the checked client and its grant, or why its credentials were refused.
//!
//! The authorizer lets refused requests through to the proxy *marked as refused*, because an HTTP
//! API authorizer can only deny with 403; the proxy answers them 401 with `WWW-Authenticate`
//! before anything else, so they never reach FS. The context holds strings only.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::api_clients::Authenticated;
use crate::institution::ExamSystem;

/// A request's principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A checked client.
    Client {
        /// The client id.
        client_id: String,
        /// The key used; empty for the password variant.
        key_id: String,
        /// The exam system the client is.
        exam_system: ExamSystem,
        /// FS institution numbers it may act for.
        institutions: BTreeSet<String>,
        /// Requests per minute.
        rate_limit_per_minute: u32,
    },
    /// Credentials missing, malformed or wrong: the reason, for the audit log only.
    Refused {
        /// A short, stable reason, e.g. `unknown_key`.
        reason: String,
    },
}

impl Principal {
    /// The principal of an authenticated client.
    pub fn of(authenticated: &Authenticated) -> Self {
        let client = &authenticated.client;
        Principal::Client {
            client_id: client.client_id.clone(),
            key_id: authenticated.key_id.clone().unwrap_or_default(),
            exam_system: client.exam_system,
            institutions: client.institutions.clone(),
            rate_limit_per_minute: client.rate_limit_per_minute,
        }
    }

    /// The authorizer context that carries it.
    pub fn to_context(&self) -> HashMap<String, Value> {
        let mut context = HashMap::new();
        match self {
            Principal::Client {
                client_id,
                key_id,
                exam_system,
                institutions,
                rate_limit_per_minute,
            } => {
                context.insert("client_id".into(), client_id.as_str().into());
                context.insert("key_id".into(), key_id.as_str().into());
                context.insert("exam_system".into(), exam_system.as_str().into());
                let joined = institutions.iter().cloned().collect::<Vec<_>>().join(",");
                context.insert("institutions".into(), joined.into());
                context.insert(
                    "rate_limit_per_minute".into(),
                    rate_limit_per_minute.to_string().into(),
                );
            }
            Principal::Refused { reason } => {
                context.insert("refused".into(), reason.as_str().into());
            }
        }
        context
    }

    /// Reads the context back. Anything incomplete is a refusal: a request never counts as a
    /// client's unless the authorizer said so in full.
    pub fn from_context(context: &HashMap<String, Value>) -> Self {
        let text = |name: &str| context.get(name).and_then(Value::as_str).map(str::to_owned);
        if let Some(reason) = text("refused") {
            return Principal::Refused { reason };
        }
        let client = (|| {
            Some(Principal::Client {
                client_id: text("client_id").filter(|c| !c.is_empty())?,
                key_id: text("key_id").unwrap_or_default(),
                exam_system: ExamSystem::parse(&text("exam_system")?)?,
                institutions: text("institutions")?
                    .split(',')
                    .filter(|i| !i.is_empty())
                    .map(str::to_owned)
                    .collect(),
                rate_limit_per_minute: text("rate_limit_per_minute")?.parse().ok()?,
            })
        })();
        client.unwrap_or_else(|| Principal::Refused {
            reason: "no_authorizer_context".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_round_trips_through_the_context() {
        let principal = Principal::Client {
            client_id: "wiseflow".into(),
            key_id: "0123456789ab".into(),
            exam_system: ExamSystem::Wiseflow,
            institutions: ["185".to_owned(), "194".to_owned()].into(),
            rate_limit_per_minute: 600,
        };
        let context = principal.to_context();
        assert_eq!(context["institutions"], "185,194");
        assert_eq!(Principal::from_context(&context), principal);
    }

    #[test]
    fn a_refusal_or_an_incomplete_context_is_refused() {
        let refused = Principal::Refused {
            reason: "revoked_key".into(),
        };
        assert_eq!(Principal::from_context(&refused.to_context()), refused);
        let mut partial = HashMap::new();
        partial.insert("client_id".to_owned(), Value::from("wiseflow"));
        assert_eq!(
            Principal::from_context(&partial),
            Principal::Refused {
                reason: "no_authorizer_context".into()
            }
        );
        assert!(matches!(
            Principal::from_context(&HashMap::new()),
            Principal::Refused { .. }
        ));
    }
}
