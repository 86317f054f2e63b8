//! The Alma-side API that updates the library system: `PUT /v1/books/{isbn}/{kind}/{type}` with an
//! API key. Updates are idempotent per version on that side, so a retried PUT is safe.

use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;
use serde::Deserialize;

use crate::alma::{BookUpdate, UpdateResult};
use crate::error::{Error, Result};
use crate::http::status_error;
use crate::retry::RetryPolicy;
use crate::secrets::Credential;

const SYSTEM: &str = "Alma";

/// The API key, as stored in the Alma secret.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct Credentials {
    /// The Alma-side API key.
    pub api_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials { api_key: <redacted> }")
    }
}

#[derive(Deserialize)]
struct PutResponse {
    isbn: String,
    result: UpdateResult,
}

/// A client of the Alma-side API. Every request takes the current API key; a 401 has the secret
/// read again once ([`Credential::send`]).
pub struct AlmaClient {
    http: reqwest::Client,
    base_url: String,
    credentials: Credential<Credentials>,
    retry: RetryPolicy,
}

impl AlmaClient {
    /// A client with a fixed API key over a shared HTTP client.
    pub fn new(
        http: reqwest::Client,
        base_url: impl Into<String>,
        credentials: Credentials,
        retry: RetryPolicy,
    ) -> Self {
        AlmaClient::with_credential(http, base_url, Credential::fixed(credentials), retry)
    }

    /// A client whose API key is read from a secret that may change.
    pub fn with_credential(
        http: reqwest::Client,
        base_url: impl Into<String>,
        credentials: Credential<Credentials>,
        retry: RetryPolicy,
    ) -> Self {
        AlmaClient {
            http,
            base_url: base_url.into(),
            credentials,
            retry,
        }
    }

    /// Applies one update, retrying transient failures. A 429 whose `Retry-After` is too long to
    /// wait for comes back as an External error carrying that wait.
    pub async fn put(&self, update: &BookUpdate) -> Result<UpdateResult> {
        self.retry.run(|| self.put_once(update)).await
    }

    async fn put_once(&self, update: &BookUpdate) -> Result<UpdateResult> {
        let what = format!(
            "update of {} {}/{}",
            update.kind, update.isbn, update.type_code
        );
        let url = format!(
            "{}/v1/books/{}/{}/{}",
            self.base_url.trim_end_matches('/'),
            update.isbn,
            update.kind,
            update.type_code
        );
        let response = self
            .credentials
            .send(SYSTEM, &what, |credentials| {
                self.http
                    .put(&url)
                    .header(AUTHORIZATION, format!("apikey {}", credentials.api_key))
                    .json(update)
            })
            .await?;
        match response.status() {
            s if s.is_success() => {
                let body: PutResponse = response.json().await.map_err(|e| {
                    Error::external(format!(
                        "{SYSTEM} {what}: answer is not the expected JSON: {}",
                        crate::scrub::scrubbed(&e)
                    ))
                })?;
                if body.isbn != update.isbn {
                    return Err(Error::mapping(format!(
                        "{SYSTEM} {what}: Alma reports it updated the record of ISBN {} instead; check that record",
                        body.isbn
                    )));
                }
                Ok(body.result)
            }
            StatusCode::NOT_FOUND => {
                let body = response.text().await.unwrap_or_default();
                if body.contains("BIB_NOT_FOUND") {
                    Ok(UpdateResult::NoRecord)
                } else {
                    Err(Error::configuration(format!(
                        "{SYSTEM} {what}: the API answered 404 without BIB_NOT_FOUND; check ALMA_API_URL"
                    )))
                }
            }
            _ => Err(status_error(SYSTEM, &what, response).await),
        }
    }
}
