//! The proxy's refusals: an HTTP status, a category, the offending field and what to fix. Every
//! 4xx and 5xx the proxy itself produces is one of these, rendered as the documented error body.

use serde_json::{json, Value};

/// A request the proxy answers without (or despite) FS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The HTTP status.
    pub status: u16,
    /// The documented category, e.g. `validation`.
    pub category: &'static str,
    /// The field or parameter at fault, e.g. `karakterer[2].karakter` or `query.siden`.
    pub field: Option<String>,
    /// What is wrong and what to send instead.
    pub message: String,
    /// For 429: seconds until the client may call again.
    pub retry_after_seconds: Option<u64>,
}

impl Rejection {
    fn new(status: u16, category: &'static str, message: impl Into<String>) -> Self {
        Rejection {
            status,
            category,
            field: None,
            message: message.into(),
            retry_after_seconds: None,
        }
    }

    /// 400: a field or parameter breaks its rule.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Rejection {
            field: Some(field.into()),
            ..Self::new(400, "validation", message)
        }
    }

    /// 401: missing, malformed, unknown or revoked credentials.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(401, "authentication", message)
    }

    /// 403: the client may not act for this institution or exam system.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "forbidden", message)
    }

    /// 404: no such operation, or no such exam.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    /// 405: a known path with another method.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "method_not_allowed", message)
    }

    /// 409: a registration for an institution in shadow mode, whose results the platform Flyt
    /// replaces still registers; nothing reaches FS.
    pub fn shadow_mode(institusjonsnr: &str) -> Self {
        Self::new(
            409,
            "shadow_mode",
            format!(
                "institution {institusjonsnr} is in shadow mode: the platform Flyt replaces still registers its results, so Flyt writes nothing to FS for it; send this call there until the operators switch the institution to live"
            ),
        )
    }

    /// 413: the body is larger than the operation allows.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "payload_too_large",
            format!("the body is larger than this operation's limit of {limit} bytes"),
        )
    }

    /// 415: a body that is not JSON.
    pub fn unsupported_media_type() -> Self {
        Rejection {
            field: Some("header.content-type".into()),
            ..Self::new(
                415,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            )
        }
    }

    /// 429: over the client's rate limit.
    pub fn rate_limited(limit: u32, retry_after_seconds: u64) -> Self {
        Rejection {
            retry_after_seconds: Some(retry_after_seconds),
            ..Self::new(
                429,
                "rate_limited",
                format!(
                    "more than {limit} requests in this minute: retry after {retry_after_seconds} s"
                ),
            )
        }
    }

    /// 422: FS refused the content (e.g. a candidate who is not in the exam).
    pub fn fs_rejected(message: impl Into<String>) -> Self {
        Self::new(422, "fs_rejected", message)
    }

    /// 502: FS failed, or answered in a way the proxy cannot pass on.
    pub fn fs_unavailable(message: impl Into<String>) -> Self {
        Self::new(502, "fs_unavailable", message)
    }

    /// 504: FS did not answer within the proxy's time budget.
    pub fn fs_timeout() -> Self {
        Self::new(
            504,
            "fs_unavailable",
            "FS did not answer within the call's time budget; nothing is known to be registered: retry",
        )
    }

    /// The documented error body.
    pub fn body(&self, request_id: &str) -> Value {
        let mut body = json!({
            "category": self.category,
            "message": self.message,
            "requestId": request_id,
        });
        if let Some(field) = &self.field {
            body["field"] = json!(field);
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_names_the_field_only_when_there_is_one() {
        let invalid = Rejection::invalid("query.siden", "must be a date").body("r1");
        assert_eq!(invalid["field"], "query.siden");
        assert_eq!(invalid["category"], "validation");
        assert_eq!(invalid["requestId"], "r1");
        let forbidden = Rejection::forbidden("not granted").body("r2");
        assert!(forbidden.get("field").is_none());
    }
}
