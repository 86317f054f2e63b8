//! Credentials of external systems, read from AWS Secrets Manager. Secrets never live in code, in
//! the template's plain text, or in environment variables: only their ids do.
//!
//! A secret read once at cold start ([`load_json`]) serves settings that do not rotate (a webhook
//! URL, a cookie key). A credential that rotates — FS's user, an exam system's or Alma's API key —
//! is a [`Secret`]: read at cold start, kept, and read again on its next use once it is older than
//! the TTL (`SECRET_TTL_SECONDS`, default 300; [`Refresh::from_vars`]). A client holds it as a
//! [`Credential`], takes the current value for every request, and when the system answers 401
//! ([`Credential::send`]) has the secret read again at once and repeats the request once with the
//! new value; a second 401, or a secret that still holds the refused value, is the client's usual
//! error. Refusals force at most one read per secret every 30 s ([`Refresh::reread_interval`]),
//! so a storm of 401s does not hammer Secrets Manager, and requests refused with a value an
//! earlier re-read already replaced take the new one without a read. A re-read that fails, or
//! whose value does not parse or check, keeps the value read before in use and logs a warning
//! naming the secret and what broke — never a secret's text, in a log or in an error.
//!
//! Why this is written here and not taken from AWS's `aws_secretsmanager_caching` crate: that
//! crate's refresh asks `DescribeSecret` before `GetSecretValue` (Flyt's roles grant only
//! `GetSecretValue`), its forced refresh has no rate limit, it fails instead of keeping the old
//! value on errors other than transient ones, it caches raw strings rather than checked values,
//! and its default features switch on the SDK's legacy TLS stack and SSO credential providers that
//! this workspace leaves out. The cell here is a mutex, a value and a clock.

mod credential;
mod freshness;
mod secret;

use serde::de::DeserializeOwned;

use crate::error::{aws_error, Error, Result};

pub use credential::{Credential, Snapshot};
pub use freshness::Refresh;
pub use secret::Secret;

/// Reads the JSON secret `secret_id` as `T`. A missing secret or a missing field is a
/// Configuration error that names the secret and the fields it must hold.
pub async fn load_json<T: DeserializeOwned>(
    secrets: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    fields: &str,
) -> Result<T> {
    let (text, _) = fetch(secrets, secret_id, fields).await?;
    parse(secret_id, fields, &text)
}

/// The secret's text and its version id, as Secrets Manager holds them now.
async fn fetch(
    secrets: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    fields: &str,
) -> Result<(String, Option<String>)> {
    let output = secrets
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| match e.as_service_error() {
            Some(service) if service.is_resource_not_found_exception() => {
                Error::configuration(format!(
                    "secret {secret_id} does not exist: create it with the JSON fields {fields}"
                ))
            }
            _ => aws_error("SecretsManager", "GetSecretValue", e)
                .context(format_args!("reading secret {secret_id}")),
        })?;
    let version = output.version_id().map(str::to_owned);
    let text = output.secret_string.ok_or_else(|| {
        Error::configuration(format!(
            "secret {secret_id} has no string value: store JSON with {fields}"
        ))
    })?;
    Ok((text, version))
}

/// Parses a secret's text as `T`. The error never holds the secret's text: serde's message is
/// kept only when it names a missing field (one of `T`'s, not of the secret); otherwise only
/// where parsing failed, since `invalid type: string "…"` would print a password.
fn parse<T: DeserializeOwned>(secret_id: &str, fields: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| {
        let message = e.to_string();
        let what = if message.starts_with("missing field") {
            message
                .split(" at line")
                .next()
                .unwrap_or_default()
                .to_owned()
        } else {
            let kind = match e.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    "not well-formed JSON"
                }
                _ => "a value of the wrong type or form",
            };
            format!("{kind} at line {} column {}", e.line(), e.column())
        };
        Error::configuration(format!(
            "secret {secret_id} is not JSON with the fields {fields}: {what}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Credentials {
        user: String,
        port: u16,
    }

    #[test]
    fn a_malformed_secret_is_described_without_its_values() {
        let missing = parse::<Credentials>("s", "user, port", r#"{"user": "svc-flyt"}"#)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("missing field `port`"), "{missing}");
        assert!(!missing.contains("svc-flyt"), "{missing}");
        for text in [
            r#"{"user": "svc-flyt", "port": "hunter2"}"#,
            r#"{"user": ["hunter2"], "port": 1}"#,
            r#"{"user": "svc-flyt", "port": 1, hunter2"#,
            "hunter2",
        ] {
            let error = parse::<Credentials>("s", "user, port", text)
                .unwrap_err()
                .to_string();
            assert!(
                !error.contains("hunter2") && !error.contains("svc-flyt"),
                "{error}"
            );
            assert!(
                error.contains("secret s is not JSON with the fields user, port: "),
                "{error}"
            );
            assert!(error.contains(" at line 1 column "), "{error}");
        }
    }
}
