//! Credentials of external systems, read from AWS Secrets Manager at cold start. Secrets never
//! live in code, in the template's plain text, or in environment variables: only their ids do.

use serde::de::DeserializeOwned;

use crate::error::{aws_error, Error, Result};

/// Reads the JSON secret `secret_id` as `T`. A missing secret or a missing field is a
/// Configuration error that names the secret and the fields it must hold.
pub async fn load_json<T: DeserializeOwned>(
    secrets: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    fields: &str,
) -> Result<T> {
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
    let text = output.secret_string().ok_or_else(|| {
        Error::configuration(format!(
            "secret {secret_id} has no string value: store JSON with {fields}"
        ))
    })?;
    parse(secret_id, fields, text)
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
