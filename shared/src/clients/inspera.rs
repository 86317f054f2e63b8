//! The Inspera Assessment API: an access token from `POST /authenticate/token/` (API key in the
//! `code` header, cached until shortly before it expires; on a 401 the token is dropped, the
//! secret read again and a new token fetched, once), tests found by
//! their external id (FS's `vurdId`), appeals, explanations of grades, and master-thesis
//! submissions with their files.
//!
//! Inspera's appeal, explanation and submission endpoints are not publicly documented; the paths and JSON
//! shapes here are the project's contract, played by the sandbox. Ids arrive as JSON numbers or
//! strings and are accepted either way. Returned values carry ids, states and dates only, never
//! personal data; webhook payloads are parsed without their `triggeringUserName`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::error::{Error, Result};
use crate::http::{status_error, transport_error};
use crate::retry::RetryPolicy;
use crate::scrub::third_party_excerpt;
use crate::secrets::{Credential, Snapshot};

const SYSTEM: &str = "Inspera";
/// Renew a token this long before Inspera says it expires (at most half its lifetime).
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// The test option that lets explanations of grades be requested.
pub const EXPLANATIONS_OPTION: &str = "EXPLANATION_OF_GRADES_ADMINISTRATION_ENABLED";
/// Inspera's `error` text when a candidate has no appeal on a test.
const NO_APPEAL: &str = "no appeal for this candidate";
/// What an operator should check when Inspera rejects the credentials.
const CHECK_CREDENTIALS: &str = "check the Inspera API key/client id";

/// The API credentials, as stored in the Inspera secret.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct InsperaCredentials {
    /// The client id, usually the tenant's host name part (e.g. `uio`).
    pub client_id: String,
    /// The API key of the integration user.
    pub api_key: String,
}

impl std::fmt::Debug for InsperaCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InsperaCredentials")
            .field("client_id", &self.client_id)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

/// A test (an assessment run) in Inspera.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Test {
    /// Inspera's id of the test.
    pub test_id: u64,
    /// The external system's id: FS's `vurdId`.
    pub external_test_id: String,
    /// The test's title.
    pub title: String,
}

/// What a withdrawal found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Withdrawal {
    /// The appeal is withdrawn (now, or it already was).
    Withdrawn,
    /// No appeal was ever registered for the candidate: nothing to withdraw.
    NoAppeal,
}

/// Where an appeal stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppealState {
    /// Registered, waiting for a decision.
    Active,
    /// Withdrawn before a decision.
    Withdrawn,
    /// Decided.
    Decided,
}

/// The outcome of a decided appeal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppealOutcome {
    /// The original grade stands.
    Upheld,
    /// A new grade was given.
    Changed,
}

/// The decision on an appeal.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppealDecision {
    /// Upheld or changed.
    pub outcome: AppealOutcome,
    /// The new grade when changed.
    #[serde(default)]
    pub new_grade: Option<String>,
    /// When it was decided (RFC 3339).
    pub decided_at: String,
}

/// An appeal of one candidate on one test.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Appeal {
    /// The candidate number (FS's `kandidatnr`).
    #[serde(deserialize_with = "id_text")]
    pub candidate_id: String,
    /// Where it stands.
    pub status: AppealState,
    /// The decision, once made.
    #[serde(default)]
    pub decision: Option<AppealDecision>,
}

/// An explanation document as Inspera returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// Its content type, e.g. `application/pdf`.
    pub content_type: String,
    /// Its bytes, base64 as received.
    pub content_base64: String,
}

/// An explanation of a grade: requested, and once given, its document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// Inspera's id of the explanation.
    pub explanation_id: u64,
    /// The candidate number.
    pub candidate_id: String,
    /// Whether it was given.
    pub given: bool,
    /// When it was requested.
    pub requested_at: String,
    /// When it was given.
    pub given_at: Option<String>,
    /// The document, once given.
    pub document: Option<Document>,
}

/// A candidate's master thesis on a test
/// (`GET /v1/test/{testId}/candidates/{candidateId}/submission`). The metadata fields are this
/// project's contract [I]: Inspera's documentation does not show them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThesisSubmission {
    /// Inspera's id of the test.
    pub test_id: u64,
    /// The test's external id: FS's `vurdId`.
    pub external_test_id: String,
    /// The candidate number (FS's `kandidatnr`).
    pub candidate_id: String,
    /// When it was submitted, RFC 3339.
    pub submitted_at: Option<String>,
    /// The thesis title.
    pub title: Option<String>,
    /// When the grade was announced, RFC 3339.
    pub graded_at: Option<String>,
    /// `OPEN`, `RESTRICTED` or `EMBARGOED`, as Inspera wrote it.
    pub access_level: Option<String>,
    /// The last day of an embargo, `yyyy-MM-dd`.
    pub embargo_until: Option<String>,
    /// The language, e.g. `nob` or `eng`.
    pub language: Option<String>,
    /// The files, the main one first.
    pub files: Vec<ThesisFile>,
}

/// One file of a thesis submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThesisFile {
    /// Inspera's file id.
    pub file_id: u64,
    /// The file name as uploaded. It may be empty.
    pub filename: String,
    /// The content type.
    pub content_type: Option<String>,
    /// The size in bytes.
    pub size: Option<u64>,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: Option<String>,
    /// Whether Inspera holds the file in quarantine.
    pub quarantined: bool,
    /// Where to download it. The URL needs no credentials (see [`crate::http::download`]).
    pub download_url: Option<String>,
}

/// An id written as a JSON number or string.
#[derive(Deserialize)]
#[serde(untagged)]
enum WireId {
    Number(u64),
    Text(String),
}

impl WireId {
    fn text(self) -> String {
        match self {
            WireId::Number(number) => number.to_string(),
            WireId::Text(text) => text,
        }
    }

    fn number(self) -> std::result::Result<u64, String> {
        match self {
            WireId::Number(number) => Ok(number),
            WireId::Text(text) => text
                .trim()
                .parse()
                .map_err(|_| format!("id {text:?} is not a number")),
        }
    }
}

fn id_text<'de, D: Deserializer<'de>>(deserializer: D) -> std::result::Result<String, D::Error> {
    WireId::deserialize(deserializer).map(WireId::text)
}

fn optional_id_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<String>, D::Error> {
    Option::<WireId>::deserialize(deserializer).map(|id| id.map(WireId::text))
}

fn optional_id_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<u64>, D::Error> {
    Option::<WireId>::deserialize(deserializer)?
        .map(WireId::number)
        .transpose()
        .map_err(serde::de::Error::custom)
}

fn id_number<'de, D: Deserializer<'de>>(deserializer: D) -> std::result::Result<u64, D::Error> {
    WireId::deserialize(deserializer)?
        .number()
        .map_err(serde::de::Error::custom)
}

/// A test as Inspera answers `GET /v1/test/{testId}`. Its fields are not published
/// (`contracts/inspera.yaml`, assumed): the names Flyt expects are read first, and the aliases
/// other clients read (`id`, `name`) are accepted too; unknown fields are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTest {
    #[serde(default, alias = "id", deserialize_with = "optional_id_number")]
    test_id: Option<u64>,
    #[serde(default, alias = "externalId", deserialize_with = "optional_id_text")]
    external_test_id: Option<String>,
    #[serde(default, alias = "name")]
    title: Option<String>,
}

impl WireTest {
    /// The test, or a Mapping error naming the missing field. `asked_external` fills in the
    /// external id when the test was addressed by it and the answer does not repeat it.
    fn into_test(self, what: &str, asked_external: Option<&str>) -> Result<Test> {
        let missing = |field: &str| {
            Error::mapping(format!(
                "{SYSTEM} {what}: the answer has no {field} (contracts/inspera.yaml, components.schemas.test.properties.{field})"
            ))
        };
        let test_id = self.test_id.ok_or_else(|| missing("testId"))?;
        let external_test_id = self
            .external_test_id
            .filter(|id| !id.trim().is_empty())
            .or_else(|| asked_external.map(str::to_owned))
            .ok_or_else(|| missing("externalTestId"))?;
        Ok(Test {
            test_id,
            external_test_id,
            title: self.title.unwrap_or_default(),
        })
    }
}

#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum WireExplanationStatus {
    Requested,
    Given,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireDocument {
    content_type: String,
    content: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireExplanation {
    #[serde(deserialize_with = "id_number")]
    explanation_id: u64,
    #[serde(deserialize_with = "id_text")]
    candidate_id: String,
    status: WireExplanationStatus,
    requested_at: String,
    #[serde(default)]
    given_at: Option<String>,
    #[serde(default)]
    document: Option<WireDocument>,
}

impl From<WireExplanation> for Explanation {
    fn from(wire: WireExplanation) -> Self {
        Explanation {
            explanation_id: wire.explanation_id,
            candidate_id: wire.candidate_id,
            given: wire.status == WireExplanationStatus::Given,
            requested_at: wire.requested_at,
            given_at: wire.given_at,
            document: wire.document.map(|document| Document {
                content_type: document.content_type,
                content_base64: document.content,
            }),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireThesisSubmission {
    #[serde(deserialize_with = "id_number")]
    test_id: u64,
    #[serde(deserialize_with = "id_text")]
    external_test_id: String,
    #[serde(deserialize_with = "id_text")]
    candidate_id: String,
    #[serde(default)]
    submitted_at: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    graded_at: Option<String>,
    #[serde(default)]
    access_level: Option<String>,
    #[serde(default)]
    embargo_until: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    files: Vec<WireThesisFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireThesisFile {
    #[serde(deserialize_with = "id_number")]
    file_id: u64,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    quarantined: Option<bool>,
    #[serde(default)]
    download_url: Option<String>,
}

impl From<WireThesisSubmission> for ThesisSubmission {
    fn from(wire: WireThesisSubmission) -> Self {
        ThesisSubmission {
            test_id: wire.test_id,
            external_test_id: wire.external_test_id,
            candidate_id: wire.candidate_id,
            submitted_at: wire.submitted_at,
            title: wire.title,
            graded_at: wire.graded_at,
            access_level: wire.access_level,
            embargo_until: wire.embargo_until,
            language: wire.language,
            files: wire
                .files
                .into_iter()
                .map(|file| ThesisFile {
                    file_id: file.file_id,
                    filename: file.filename.unwrap_or_default(),
                    content_type: file.content_type,
                    size: file.size,
                    sha256: file
                        .sha256
                        .map(|hash| hash.trim().to_ascii_lowercase())
                        .filter(|hash| !hash.is_empty()),
                    quarantined: file.quarantined.unwrap_or(false),
                    download_url: file.download_url.filter(|url| !url.trim().is_empty()),
                })
                .collect(),
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

struct CachedToken {
    value: String,
    renew_at: Instant,
    /// The credentials it was issued for.
    issued_for: Snapshot<InsperaCredentials>,
}

/// A successful answer, or the `error` text of a 404.
enum Reply<T> {
    Found { status: StatusCode, value: T },
    NotFound { error: String },
}

/// An Inspera client. Build one per cold start: the token is cached inside and fetched on first
/// use, with the credentials current then.
pub struct InsperaClient {
    http: reqwest::Client,
    base_url: String,
    credentials: Credential<InsperaCredentials>,
    retry: RetryPolicy,
    token: Mutex<Option<Arc<CachedToken>>>,
}

impl InsperaClient {
    /// A client with fixed credentials over a shared HTTP client (see [`crate::http::client`]).
    /// `base_url` is the API base, ending with `/api`, e.g. `https://uio.inspera.no/api`.
    pub fn new(
        http: reqwest::Client,
        base_url: impl Into<String>,
        credentials: InsperaCredentials,
        retry: RetryPolicy,
    ) -> Self {
        InsperaClient::with_credential(http, base_url, Credential::fixed(credentials), retry)
    }

    /// A client whose credentials are read from a secret that may change.
    pub fn with_credential(
        http: reqwest::Client,
        base_url: impl Into<String>,
        credentials: Credential<InsperaCredentials>,
        retry: RetryPolicy,
    ) -> Self {
        InsperaClient {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            credentials,
            retry,
            token: Mutex::new(None),
        }
    }

    /// The test whose external id is `external_test_id` (FS's `vurdId`), if there is one:
    /// `GET /v1/test/{vurdId}?isExternal=true`, as Inspera documents for addressing a test by the
    /// external system's id. A 404 is "no such test"; an answer about another external id is a
    /// Mapping error.
    pub async fn find_test(&self, external_test_id: &str) -> Result<Option<Test>> {
        let what = format!("lookup of the test with external id {external_test_id}");
        let path = format!("/v1/test/{}", path_segment(external_test_id));
        let query = [("isExternal", "true")];
        let reply = self
            .retry
            .run(|| self.call::<WireTest>(Method::GET, &path, &query, None, &what))
            .await?;
        let wire = match reply {
            Reply::Found { value, .. } => value,
            Reply::NotFound { .. } => return Ok(None),
        };
        let test = wire.into_test(&what, Some(external_test_id))?;
        if test.external_test_id != external_test_id {
            return Err(Error::mapping(format!(
                "{SYSTEM} {what} answered test {} with external id {}",
                test.test_id, test.external_test_id
            )));
        }
        Ok(Some(test))
    }

    /// The test with this id; an unknown one is a Mapping error.
    pub async fn test(&self, test_id: u64) -> Result<Test> {
        let what = format!("lookup of test {test_id}");
        let path = format!("/v1/test/{test_id}");
        let test = self
            .retry
            .run(|| self.call::<WireTest>(Method::GET, &path, &[], None, &what))
            .await
            .and_then(|reply| found_or_mapping(reply, &what))?
            .into_test(&what, None)?;
        if test.test_id != test_id {
            return Err(Error::mapping(format!(
                "{SYSTEM} {what} answered test {} instead",
                test.test_id
            )));
        }
        Ok(test)
    }

    /// Registers an appeal for a candidate; `true` when it was created (or re-activated),
    /// `false` when it was already registered.
    pub async fn register_appeal(&self, test_id: u64, candidate_id: &str) -> Result<bool> {
        let what = format!("appeal registration for candidate {candidate_id} on test {test_id}");
        let path = format!("/v1/test/{test_id}/appeals");
        let body = json!({ "candidateId": candidate_id });
        let reply = self
            .retry
            .run(|| self.call::<Appeal>(Method::POST, &path, &[], Some(&body), &what))
            .await?;
        match reply {
            Reply::Found { status, value } => {
                same_candidate(&value.candidate_id, candidate_id, &what)?;
                Ok(status == StatusCode::CREATED)
            }
            Reply::NotFound { error } => Err(not_found(&what, &error)),
        }
    }

    /// Withdraws a candidate's appeal; [`Withdrawal::NoAppeal`] when none was registered.
    pub async fn withdraw_appeal(&self, test_id: u64, candidate_id: &str) -> Result<Withdrawal> {
        let what = format!("appeal withdrawal for candidate {candidate_id} on test {test_id}");
        let path = format!("/v1/test/{test_id}/appeals/withdraw");
        let body = json!({ "candidateId": candidate_id });
        let reply = self
            .retry
            .run(|| self.call::<Value>(Method::POST, &path, &[], Some(&body), &what))
            .await?;
        match reply {
            Reply::Found { .. } => Ok(Withdrawal::Withdrawn),
            Reply::NotFound { error } if error == NO_APPEAL => Ok(Withdrawal::NoAppeal),
            Reply::NotFound { error } => Err(not_found(&what, &error)),
        }
    }

    /// A candidate's appeal, or `None` when none was registered.
    pub async fn appeal(&self, test_id: u64, candidate_id: &str) -> Result<Option<Appeal>> {
        let what = format!("appeal of candidate {candidate_id} on test {test_id}");
        let path = format!("/v1/test/{test_id}/appeals/{candidate_id}");
        let reply = self
            .retry
            .run(|| self.call::<Appeal>(Method::GET, &path, &[], None, &what))
            .await?;
        match reply {
            Reply::Found { value, .. } => {
                same_candidate(&value.candidate_id, candidate_id, &what)?;
                Ok(Some(value))
            }
            Reply::NotFound { error } if error == NO_APPEAL => Ok(None),
            Reply::NotFound { error } => Err(not_found(&what, &error)),
        }
    }

    /// The webhook events the tenant offers (`GET /v1/subscription/events`), as names. The answer's
    /// shape is not published: a list of names, or of objects naming the event in `event`,
    /// `eventName` or `name`, is read.
    pub async fn subscription_events(&self) -> Result<Vec<String>> {
        let what = "list of the tenant's webhook events".to_owned();
        let listed: Vec<Value> = self
            .retry
            .run(|| self.call(Method::GET, "/v1/subscription/events", &[], None, &what))
            .await
            .and_then(|reply| found_or_mapping(reply, &what))?;
        Ok(listed
            .iter()
            .filter_map(|entry| match entry {
                Value::String(name) => Some(name.clone()),
                Value::Object(fields) => ["event", "eventName", "name"]
                    .iter()
                    .find_map(|key| fields.get(*key).and_then(Value::as_str))
                    .map(str::to_owned),
                _ => None,
            })
            .collect())
    }

    /// Turns on explanations of grades for a test (idempotent).
    pub async fn enable_explanations(&self, test_id: u64) -> Result<()> {
        let what = format!("enabling explanations on test {test_id}");
        let path = format!("/v1/test/{test_id}/options");
        let body = json!({
            "testOptions": {
                "explanationOptions": [{ "option": EXPLANATIONS_OPTION, "value": true }],
            },
        });
        self.retry
            .run(|| self.call::<Value>(Method::POST, &path, &[], Some(&body), &what))
            .await
            .and_then(|reply| found_or_mapping(reply, &what))
            .map(drop)
    }

    /// The explanations requested for a candidate on a test, oldest first.
    pub async fn explanations(&self, test_id: u64, candidate_id: &str) -> Result<Vec<Explanation>> {
        let what = format!("explanations of candidate {candidate_id} on test {test_id}");
        let path = format!("/v1/test/{test_id}/explanations");
        let query = [("candidateId", candidate_id)];
        let list: Vec<WireExplanation> = self
            .retry
            .run(|| self.call(Method::GET, &path, &query, None, &what))
            .await
            .and_then(|reply| found_or_mapping(reply, &what))?;
        Ok(list
            .into_iter()
            .map(Explanation::from)
            .filter(|explanation| explanation.candidate_id == candidate_id)
            .collect())
    }

    /// Requests an explanation for a candidate. Each request Inspera accepts publishes a new,
    /// final explanation request, so this is sent exactly once and never retried: check
    /// [`InsperaClient::explanations`] first, and after a failure check again before asking anew.
    pub async fn request_explanation(
        &self,
        test_id: u64,
        candidate_id: &str,
    ) -> Result<Explanation> {
        let what = format!("explanation request for candidate {candidate_id} on test {test_id}");
        let path = format!("/v1/test/{test_id}/explanations");
        let body = json!({ "candidateId": candidate_id });
        let explanation: Explanation = self
            .call::<WireExplanation>(Method::POST, &path, &[], Some(&body), &what)
            .await
            .and_then(|reply| found_or_mapping(reply, &what))?
            .into();
        same_candidate(&explanation.candidate_id, candidate_id, &what)?;
        Ok(explanation)
    }

    /// One explanation of a test.
    pub async fn explanation(&self, test_id: u64, explanation_id: u64) -> Result<Explanation> {
        let what = format!("explanation {explanation_id} on test {test_id}");
        let path = format!("/v1/test/{test_id}/explanations/{explanation_id}");
        let explanation: Explanation = self
            .retry
            .run(|| self.call::<WireExplanation>(Method::GET, &path, &[], None, &what))
            .await
            .and_then(|reply| found_or_mapping(reply, &what))?
            .into();
        if explanation.explanation_id != explanation_id {
            return Err(Error::mapping(format!(
                "{SYSTEM} {what} answered explanation {} instead",
                explanation.explanation_id
            )));
        }
        Ok(explanation)
    }

    /// The master thesis a candidate submitted on a test, with its files, or `None` when Inspera
    /// has none (404).
    pub async fn thesis_submission(
        &self,
        test_id: u64,
        candidate_id: &str,
    ) -> Result<Option<ThesisSubmission>> {
        let what = format!("thesis submission of candidate {candidate_id} on test {test_id}");
        let path = format!("/v1/test/{test_id}/candidates/{candidate_id}/submission");
        let reply = self
            .retry
            .run(|| self.call::<WireThesisSubmission>(Method::GET, &path, &[], None, &what))
            .await?;
        let submission = match reply {
            Reply::Found { value, .. } => ThesisSubmission::from(value),
            Reply::NotFound { .. } => return Ok(None),
        };
        same_candidate(&submission.candidate_id, candidate_id, &what)?;
        if submission.test_id != test_id {
            return Err(Error::mapping(format!(
                "{SYSTEM} {what} answered about test {} instead",
                submission.test_id
            )));
        }
        Ok(Some(submission))
    }

    /// One request with the bearer token: a success is parsed as `T`, a 404 comes back with its
    /// `error` text, any other failure is a categorised error.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        what: &str,
    ) -> Result<Reply<T>> {
        let url = format!("{}{path}", self.base_url);
        let build = |token: HeaderValue| {
            let request = self
                .http
                .request(method.clone(), &url)
                .query(query)
                .header(AUTHORIZATION, token);
            match body {
                Some(body) => request.json(body),
                None => request,
            }
        };
        let response = self.send_authorized(build, what).await?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            let text = response.text().await.unwrap_or_default();
            return Ok(Reply::NotFound {
                error: error_text(&text),
            });
        }
        if !status.is_success() {
            return Err(status_error(SYSTEM, what, response).await);
        }
        let value = response.json::<T>().await.map_err(|e| {
            Error::external(format!(
                "{SYSTEM} {what}: answer is not the expected JSON: {}",
                crate::scrub::scrubbed(&e)
            ))
        })?;
        Ok(Reply::Found { status, value })
    }

    /// Sends with the cached token. On a 401 the token is dropped, the secret read again (the
    /// API key may have been rotated, [`Credential::renewed`]), a new token fetched with the
    /// current key, and the request sent once more. A second 401 is a Configuration error.
    async fn send_authorized(
        &self,
        build: impl Fn(HeaderValue) -> reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Response> {
        let (token, response) = self.send_with_token(&build, what).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        self.refused(&token).await?;
        let (_, response) = self.send_with_token(&build, what).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(rejected_credentials(what, response).await);
        }
        Ok(response)
    }

    async fn send_with_token(
        &self,
        build: &impl Fn(HeaderValue) -> reqwest::RequestBuilder,
        what: &str,
    ) -> Result<(Arc<CachedToken>, Response)> {
        let token = self.token().await?;
        let header = HeaderValue::from_str(&format!("Bearer {}", token.value)).map_err(|_| {
            Error::external(format!(
                "{SYSTEM} issued a token that is not a valid header value"
            ))
        })?;
        let response = build(header)
            .send()
            .await
            .map_err(|e| transport_error(SYSTEM, what, e))?;
        Ok((token, response))
    }

    /// The cached token while it is usable, else a new one.
    async fn token(&self) -> Result<Arc<CachedToken>> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached
            .as_ref()
            .filter(|token| Instant::now() < token.renew_at)
        {
            return Ok(token.clone());
        }
        let token = Arc::new(self.fetch_token().await?);
        *cached = Some(token.clone());
        Ok(token)
    }

    /// Inspera refused `token`: forget it (unless another request already replaced it) and have
    /// the secret read again, so the next token is fetched with the current API key.
    async fn refused(&self, token: &Arc<CachedToken>) -> Result<()> {
        let mut cached = self.token.lock().await;
        if cached
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, token))
        {
            *cached = None;
        }
        drop(cached);
        self.credentials.renewed(&token.issued_for).await.map(drop)
    }

    async fn fetch_token(&self) -> Result<CachedToken> {
        let what = "token request";
        let url = format!("{}/authenticate/token/", self.base_url);
        let (response, issued_for) = self
            .credentials
            .send_presenting(SYSTEM, what, |credentials| {
                self.http
                    .post(&url)
                    .query(&[
                        ("grant_type", "authorization_code"),
                        ("client_id", credentials.client_id.as_str()),
                    ])
                    .header("code", credentials.api_key.as_str())
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body("")
            })
            .await?;
        match response.status() {
            s if s.is_success() => {}
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(rejected_credentials(what, response).await)
            }
            StatusCode::CONFLICT => {
                let text = third_party_excerpt(&response.text().await.unwrap_or_default(), 200);
                return Err(Error::configuration(format!(
                    "{SYSTEM} {what} answered 409 Conflict: {text}; Inspera holds several tokens for the integration user, contact Inspera support"
                )));
            }
            _ => return Err(status_error(SYSTEM, what, response).await),
        }
        let token: TokenResponse = response.json().await.map_err(|e| {
            Error::external(format!(
                "{SYSTEM} token response is not the expected JSON: {}",
                crate::scrub::scrubbed(&e)
            ))
        })?;
        Ok(CachedToken {
            value: token.access_token,
            renew_at: Instant::now() + usable_lifetime(token.expires_in),
            issued_for,
        })
    }
}

/// How long a token that expires in `expires_in` seconds is used: until a minute before it
/// expires, or until halfway for tokens shorter than two minutes.
fn usable_lifetime(expires_in: u64) -> Duration {
    let lifetime = Duration::from_secs(expires_in);
    lifetime - TOKEN_MARGIN.min(lifetime / 2)
}

/// The `error` field of an error body, or the body itself, on one line.
fn error_text(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|value| {
            value
                .get("error")
                .and_then(Value::as_str)
                .map(|error| third_party_excerpt(error, 200))
        })
        .unwrap_or_else(|| third_party_excerpt(body, 200))
}

/// A 404 about `what`: the test or candidate named there is not in Inspera.
fn not_found(what: &str, error: &str) -> Error {
    Error::mapping(format!("{SYSTEM} {what} answered 404 Not Found: {error}"))
}

/// The value of a successful reply; a 404 is a Mapping error.
/// `text` as one URL path segment: an FS `vurdId` may hold characters a path cannot.
fn path_segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn found_or_mapping<T>(reply: Reply<T>, what: &str) -> Result<T> {
    match reply {
        Reply::Found { value, .. } => Ok(value),
        Reply::NotFound { error } => Err(not_found(what, &error)),
    }
}

/// Guards against an answer about another candidate than the one asked about.
fn same_candidate(answered: &str, asked: &str, what: &str) -> Result<()> {
    if answered == asked {
        Ok(())
    } else {
        Err(Error::mapping(format!(
            "{SYSTEM} {what} answered about candidate {answered} instead"
        )))
    }
}

/// Inspera refused the credentials (or the token it issued): a Configuration error.
async fn rejected_credentials(what: &str, response: Response) -> Error {
    let status = response.status();
    let text = third_party_excerpt(&response.text().await.unwrap_or_default(), 200);
    Error::configuration(format!(
        "{SYSTEM} {what} answered {status}: {text}; {CHECK_CREDENTIALS}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_debug_hides_the_key() {
        let credentials = InsperaCredentials {
            client_id: "uio".to_owned(),
            api_key: "very-secret-key".to_owned(),
        };
        let shown = format!("{credentials:?}");
        assert!(shown.contains("uio"));
        assert!(!shown.contains("very-secret-key"));
    }

    #[test]
    fn tests_accept_ids_as_numbers_or_strings_and_the_aliases_of_other_clients() {
        let tests: Vec<WireTest> = serde_json::from_str(
            r#"[{"testId": 700001, "externalTestId": "MTg1LUVYUEhJTDAz", "title": "EXPHIL03 2026 HØST", "other": 1},
                {"testId": "700002", "externalTestId": 42},
                {"id": 700003, "name": "EXPHIL03"}]"#,
        )
        .unwrap();
        let tests: Vec<Test> = tests
            .into_iter()
            .map(|wire| wire.into_test("lookup", Some("asked")).unwrap())
            .collect();
        assert_eq!(tests[0].test_id, 700_001);
        assert_eq!(tests[0].external_test_id, "MTg1LUVYUEhJTDAz");
        assert_eq!(tests[1].test_id, 700_002);
        assert_eq!(tests[1].external_test_id, "42");
        assert_eq!(tests[1].title, "");
        assert_eq!(tests[2].test_id, 700_003);
        assert_eq!(tests[2].external_test_id, "asked", "the id it was asked by");
        assert_eq!(tests[2].title, "EXPHIL03");
        assert!(
            serde_json::from_str::<WireTest>(r#"{"testId": "abc", "externalTestId": "x"}"#)
                .is_err()
        );
    }

    #[test]
    fn a_test_without_its_ids_is_a_mapping_error_naming_the_field() {
        let no_external: WireTest = serde_json::from_str(r#"{"testId": 700001}"#).unwrap();
        let error = no_external
            .into_test("lookup of test 700001", None)
            .unwrap_err();
        assert_eq!(error.category(), crate::error::Category::Mapping);
        assert!(
            error.message().contains("externalTestId")
                && error.message().contains("contracts/inspera.yaml"),
            "{}",
            error.message()
        );
        let no_id: WireTest = serde_json::from_str(r#"{"externalTestId": "x"}"#).unwrap();
        let error = no_id.into_test("lookup", Some("x")).unwrap_err();
        assert!(error.message().contains("no testId"), "{}", error.message());
    }

    #[test]
    fn a_vurd_id_is_one_path_segment() {
        assert_eq!(path_segment("185-EXPHIL03"), "185%2DEXPHIL03");
        assert_eq!(path_segment("a/b?c"), "a%2Fb%3Fc");
    }

    #[test]
    fn appeals_parse_with_and_without_a_decision() {
        let active: Appeal =
            serde_json::from_str(r#"{"candidateId": 12345, "status": "ACTIVE", "decision": null}"#)
                .unwrap();
        assert_eq!(active.candidate_id, "12345");
        assert_eq!(active.status, AppealState::Active);
        assert_eq!(active.decision, None);
        let decided: Appeal = serde_json::from_str(
            r#"{"candidateId": "12345", "status": "DECIDED",
                "decision": {"outcome": "CHANGED", "newGrade": "B", "decidedAt": "2026-11-22T10:00:00Z"}}"#,
        )
        .unwrap();
        let decision = decided.decision.unwrap();
        assert_eq!(decision.outcome, AppealOutcome::Changed);
        assert_eq!(decision.new_grade.as_deref(), Some("B"));
        assert!(
            serde_json::from_str::<Appeal>(r#"{"candidateId": "1", "status": "LOST"}"#).is_err()
        );
    }

    #[test]
    fn explanations_parse_requested_and_given() {
        let requested: Explanation = serde_json::from_str::<WireExplanation>(
            r#"{"explanationId": "900001", "candidateId": 12345, "status": "REQUESTED",
                "requestedAt": "2026-11-22T10:00:00Z", "givenAt": null, "document": null}"#,
        )
        .unwrap()
        .into();
        assert_eq!(requested.explanation_id, 900_001);
        assert_eq!(requested.candidate_id, "12345");
        assert!(!requested.given);
        assert_eq!(requested.document, None);
        let given: Explanation = serde_json::from_str::<WireExplanation>(
            r#"{"explanationId": 900002, "candidateId": "12345", "status": "GIVEN",
                "requestedAt": "2026-11-22T10:00:00Z", "givenAt": "2026-11-22T11:00:00Z",
                "document": {"contentType": "application/pdf", "content": "JVBERi0xLjQK"}}"#,
        )
        .unwrap()
        .into();
        assert!(given.given);
        assert_eq!(given.given_at.as_deref(), Some("2026-11-22T11:00:00Z"));
        let document = given.document.unwrap();
        assert_eq!(document.content_type, "application/pdf");
        assert_eq!(document.content_base64, "JVBERi0xLjQK");
    }

    #[test]
    fn thesis_submissions_parse_ids_either_way_and_files_leniently() {
        let submission: ThesisSubmission = serde_json::from_str::<WireThesisSubmission>(
            r#"{"testId": "760001", "externalTestId": "MTg1LUlORjU5OTA=", "candidateId": 551234,
                "submittedAt": "2026-09-01T10:00:00Z", "title": "Masteroppgave 1: T",
                "accessLevel": "EMBARGOED", "embargoUntil": "2031-06-30", "language": "nob",
                "files": [
                    {"fileId": 4100001, "filename": "a.pdf", "contentType": "application/pdf",
                     "size": 12, "sha256": "ABC", "quarantined": false, "downloadUrl": "http://x/files/4100001"},
                    {"fileId": "4100002", "quarantined": true, "downloadUrl": ""},
                    {"fileId": 4100003, "quarantined": null}
                ]}"#,
        )
        .unwrap()
        .into();
        assert_eq!(submission.test_id, 760_001);
        assert_eq!(submission.candidate_id, "551234");
        assert_eq!(submission.graded_at, None);
        assert_eq!(submission.embargo_until.as_deref(), Some("2031-06-30"));
        assert_eq!(submission.files.len(), 3);
        assert_eq!(submission.files[0].sha256.as_deref(), Some("abc"));
        assert!(!submission.files[0].quarantined);
        assert_eq!(submission.files[1].file_id, 4_100_002);
        assert!(submission.files[1].quarantined);
        assert_eq!(submission.files[1].download_url, None);
        assert_eq!(submission.files[1].filename, "");
        assert!(!submission.files[2].quarantined);
    }

    #[test]
    fn tokens_are_renewed_a_minute_early_or_halfway() {
        assert_eq!(usable_lifetime(3600), Duration::from_secs(3540));
        assert_eq!(usable_lifetime(60), Duration::from_secs(30));
        assert_eq!(usable_lifetime(1), Duration::from_millis(500));
        assert_eq!(usable_lifetime(0), Duration::ZERO);
    }

    #[test]
    fn error_text_prefers_the_error_field() {
        assert_eq!(
            error_text(r#"{"error": "no appeal for this candidate"}"#),
            NO_APPEAL
        );
        assert_eq!(error_text("plain\n text"), "plain text");
    }
}
