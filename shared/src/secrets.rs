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
    serde_json::from_str(text).map_err(|e| {
        Error::configuration(format!(
            "secret {secret_id} is not JSON with the fields {fields}: {}",
            // serde's message names the missing field but never echoes the secret's values.
            e.to_string().split(" at line").next().unwrap_or_default()
        ))
    })
}
