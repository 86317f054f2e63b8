//! Bokbasen's export API: an OAuth2 client-credentials token (cached until it expires) and the
//! export reports, read page by page with `after=` the first time and the `Next` header after.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::StatusCode;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::bokbasen::{parse_page, ExportItem, Report};
use crate::config::Vars;
use crate::error::{Error, Result};
use crate::http::{body_text, status_error, transport_error};
use crate::retry::RetryPolicy;

const SYSTEM: &str = "Bokbasen";
/// Renew a token this long before Bokbasen says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// The client credentials, as stored in the Bokbasen secret.
#[derive(Clone, Deserialize)]
pub struct Credentials {
    /// OAuth2 client id.
    pub client_id: String,
    /// OAuth2 client secret.
    pub client_secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Where Bokbasen is.
#[derive(Clone, Debug)]
pub struct Settings {
    /// API base URL, e.g. `https://api.bokbasen.io`.
    pub api_url: String,
    /// Token endpoint, e.g. `https://auth.bokbasen.io/oauth/token`.
    pub token_url: String,
    /// OAuth2 audience, `https://api.bokbasen.io/metadata/`.
    pub audience: String,
    /// The Secrets Manager secret holding [`Credentials`].
    pub secret_id: String,
}

impl Settings {
    /// Reads `BOKBASEN_API_URL`, `BOKBASEN_TOKEN_URL`, `BOKBASEN_AUDIENCE`, `BOKBASEN_SECRET_ID`.
    pub fn from_vars(vars: &Vars) -> Result<Settings> {
        Ok(Settings {
            api_url: vars.required(
                "BOKBASEN_API_URL",
                "Bokbasen's API base URL, e.g. https://api.bokbasen.io",
            )?,
            token_url: vars.required(
                "BOKBASEN_TOKEN_URL",
                "Bokbasen's token endpoint, e.g. https://auth.bokbasen.io/oauth/token",
            )?,
            audience: vars.required(
                "BOKBASEN_AUDIENCE",
                "the OAuth2 audience https://api.bokbasen.io/metadata/",
            )?,
            secret_id: vars.required(
                "BOKBASEN_SECRET_ID",
                "the id of the secret holding Bokbasen's client_id and client_secret",
            )?,
        })
    }
}

/// Where a page read starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageStart {
    /// The first read: changes after this time (`yyyyMMddHHmmss`, UTC).
    After(String),
    /// A saved cursor from an earlier page's `Next` header.
    Next(String),
}

impl PageStart {
    /// The value sent, for logs and versions.
    pub fn value(&self) -> &str {
        match self {
            PageStart::After(v) | PageStart::Next(v) => v,
        }
    }
}

/// One page of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportPage {
    /// The items, in Bokbasen's change order.
    pub items: Vec<ExportItem>,
    /// The `Next` header: where the following page starts. Unchanged means the report is drained.
    pub next: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

struct CachedToken {
    value: String,
    renew_at: Instant,
}

/// A Bokbasen client. Build one per cold start: the token is cached inside.
pub struct BokbasenClient {
    http: reqwest::Client,
    settings: Settings,
    credentials: Credentials,
    retry: RetryPolicy,
    token: Mutex<Option<CachedToken>>,
}

impl BokbasenClient {
    /// A client over a shared HTTP client.
    pub fn new(
        http: reqwest::Client,
        settings: Settings,
        credentials: Credentials,
        retry: RetryPolicy,
    ) -> Self {
        BokbasenClient {
            http,
            settings,
            credentials,
            retry,
            token: Mutex::new(None),
        }
    }

    /// A client whose credentials are read from the secret named in `settings`.
    pub async fn connect(
        http: reqwest::Client,
        settings: Settings,
        secrets: &aws_sdk_secretsmanager::Client,
        retry: RetryPolicy,
    ) -> Result<Self> {
        let credentials =
            crate::secrets::load_json(secrets, &settings.secret_id, "client_id, client_secret")
                .await?;
        Ok(BokbasenClient::new(http, settings, credentials, retry))
    }

    /// Reads one page of `report`, retrying transient failures.
    pub async fn export_page(
        &self,
        report: Report,
        start: &PageStart,
        page_size: u32,
    ) -> Result<ExportPage> {
        self.retry
            .run(|| self.export_page_once(report, start, page_size))
            .await
            .map_err(|e| {
                e.context(format_args!(
                    "reading the {report} report from {}",
                    start.value()
                ))
            })
    }

    /// Fetches a description document from an item's REFERENCE, retrying transient failures.
    pub async fn description_document(&self, reference: &str) -> Result<String> {
        self.retry
            .run(|| self.get_authorized(reference, "description document"))
            .await
    }

    async fn export_page_once(
        &self,
        report: Report,
        start: &PageStart,
        page_size: u32,
    ) -> Result<ExportPage> {
        let url = format!(
            "{}{}",
            self.settings.api_url.trim_end_matches('/'),
            report.export_path()
        );
        let (name, value) = match start {
            PageStart::After(v) => ("after", v),
            PageStart::Next(v) => ("next", v),
        };
        let response = self
            .send_authorized(
                |token| {
                    self.http
                        .get(&url)
                        .query(&[(name, value.as_str()), ("pagesize", &page_size.to_string())])
                        .header(AUTHORIZATION, token)
                },
                "export page",
            )
            .await?;
        let next = response
            .headers()
            .get("Next")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::external(format!(
                    "{SYSTEM} {report} page answered without a Next header"
                ))
            })?;
        let body = body_text(SYSTEM, "export page", response).await?;
        Ok(ExportPage {
            items: parse_page(report, &body)?,
            next,
        })
    }

    async fn get_authorized(&self, url: &str, what: &str) -> Result<String> {
        let response = self
            .send_authorized(
                |token| self.http.get(url).header(AUTHORIZATION, token),
                what,
            )
            .await?;
        body_text(SYSTEM, what, response).await
    }

    /// Sends a request with the bearer token; on 401 renews the token once and sends again.
    async fn send_authorized(
        &self,
        build: impl Fn(HeaderValue) -> reqwest::RequestBuilder,
        what: &str,
    ) -> Result<reqwest::Response> {
        for renewed in [false, true] {
            let token = self.bearer(renewed).await?;
            let response = build(token)
                .send()
                .await
                .map_err(|e| transport_error(SYSTEM, what, e))?;
            match response.status() {
                StatusCode::UNAUTHORIZED if !renewed => continue,
                s if s.is_success() => return Ok(response),
                _ => return Err(status_error(SYSTEM, what, response).await),
            }
        }
        unreachable!("the loop returns on its second pass")
    }

    async fn bearer(&self, force_renew: bool) -> Result<HeaderValue> {
        let mut cached = self.token.lock().await;
        let fresh = cached
            .as_ref()
            .filter(|t| !force_renew && Instant::now() < t.renew_at);
        let value = match fresh {
            Some(token) => token.value.clone(),
            None => {
                let token = self.fetch_token().await?;
                let value = token.value.clone();
                *cached = Some(token);
                value
            }
        };
        HeaderValue::from_str(&format!("Bearer {value}")).map_err(|_| {
            Error::external(format!(
                "{SYSTEM} issued a token that is not a valid header value"
            ))
        })
    }

    async fn fetch_token(&self) -> Result<CachedToken> {
        let response = self
            .http
            .post(&self.settings.token_url)
            .json(&serde_json::json!({
                "client_id": self.credentials.client_id,
                "client_secret": self.credentials.client_secret,
                "audience": self.settings.audience,
                "grant_type": "client_credentials",
            }))
            .send()
            .await
            .map_err(|e| transport_error(SYSTEM, "token request", e))?;
        if !response.status().is_success() {
            return Err(status_error(SYSTEM, "token request", response).await);
        }
        let token: TokenResponse = response.json().await.map_err(|e| {
            Error::external(format!(
                "{SYSTEM} token response is not the expected JSON: {}",
                crate::scrub::scrubbed(&e)
            ))
        })?;
        let lifetime = Duration::from_secs(token.expires_in).saturating_sub(TOKEN_MARGIN);
        Ok(CachedToken {
            value: token.access_token,
            renew_at: Instant::now() + lifetime,
        })
    }
}
