//! FS DigEks (`/eksamen/...`): the appeal and explanation-request change lists, and the
//! registration of explanations and appeal decisions. HTTP Basic auth. Registrations are
//! idempotent per (`vurdId`, `kandidatnr`) on FS's side (`201 registrert` / `200 uendret`).
//!
//! The endpoints and fields follow the project's contract for DigEks (research §1.4: the public
//! documentation is partly out of date); the lists are read leniently into [`FsChange`], which
//! keeps no personal data.

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use crate::appeals::{FsChange, RequestKind};
use crate::error::{Error, Result};
use crate::http::{body_text, status_error, transport_error};
use crate::institution::ExamSystem;
use crate::retry::RetryPolicy;
use crate::secrets::Credential;

const SYSTEM: &str = "FS";

/// One FS environment's address and API user, as stored in the FS secret.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct FsEnvironment {
    /// Base URL, e.g. `https://fsws.usit.no`.
    pub url: String,
    /// The API user.
    pub username: String,
    /// Its password.
    pub password: String,
}

impl std::fmt::Debug for FsEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FsEnvironment {{ url: {:?}, <credentials redacted> }}",
            self.url
        )
    }
}

/// An explanation to register (`POST /eksamen/begrunnelser/{examSystem}`): a link or a document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplanationRegistration {
    /// `vurdId`.
    pub vurd_id: String,
    /// `kandidatnr`.
    pub kandidatnr: String,
    /// `urlBegrunnelse`: where the candidate reads it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_begrunnelse: Option<String>,
    /// `dokumentBegrunnelse`: the document, base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dokument_begrunnelse: Option<String>,
    /// `contentTypeBegrunnelse`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type_begrunnelse: Option<String>,
    /// `datoBegrunnelseBedtOm` (seed `002_4314c95e941397c2.txt`): when the candidate asked.
    #[serde(rename = "datoBegrunnelseBedtOm")]
    pub dato_bedt_om: String,
    /// `datoBegrunnelseGitt` (seed `002_4314c95e941397c2.txt`): when it was given.
    #[serde(rename = "datoBegrunnelseGitt")]
    pub dato_gitt: String,
}

/// An appeal decision to register (`POST /eksamen/vedtak/{examSystem}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRegistration {
    /// `vurdId`.
    pub vurd_id: String,
    /// `kandidatnr`.
    pub kandidatnr: String,
    /// `OPPRETTHOLDT` or `ENDRET`.
    pub vedtak: String,
    /// `nyKarakter`, with `ENDRET`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ny_karakter: Option<String>,
    /// `dato`: when it was decided.
    pub dato: String,
}

/// What FS did with a registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registered {
    /// `201 registrert`: new.
    New,
    /// `200 uendret`: FS had it already.
    Unchanged,
}

/// FS's answer to a forwarded request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The body as FS sent it.
    pub body: Vec<u8>,
}

/// A client of one FS environment. Every request takes the environment's current entry (its url
/// and API user); a 401 has the secret read again once ([`Credential::send`]).
#[derive(Clone, Debug)]
pub struct FsClient {
    http: reqwest::Client,
    environment: Credential<FsEnvironment>,
    retry: RetryPolicy,
}

impl FsClient {
    /// A client of a fixed environment over a shared HTTP client.
    pub fn new(http: reqwest::Client, environment: FsEnvironment, retry: RetryPolicy) -> Self {
        FsClient::with_credential(http, Credential::fixed(environment), retry)
    }

    /// A client of an environment read from a secret that may change.
    pub fn with_credential(
        http: reqwest::Client,
        environment: Credential<FsEnvironment>,
        retry: RetryPolicy,
    ) -> Self {
        FsClient {
            http,
            environment,
            retry,
        }
    }

    /// Sends the request `request` builds (method and full URL from the environment's base URL
    /// and `path`) with the environment's current user.
    async fn send(
        &self,
        what: &str,
        path: &str,
        request: impl Fn(&reqwest::Client, String) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        self.environment
            .send(SYSTEM, what, |environment| {
                let url = format!("{}{path}", environment.url.trim_end_matches('/'));
                request(&self.http, url)
                    .basic_auth(&environment.username, Some(&environment.password))
            })
            .await
    }

    /// The changes of one list since `siden` (`yyyy-MM-ddTHH:mm:ss`, inclusive).
    pub async fn changes(
        &self,
        kind: RequestKind,
        exam_system: ExamSystem,
        institusjonsnr: &str,
        siden: &str,
    ) -> Result<Vec<FsChange>> {
        let list = match kind {
            RequestKind::Klage => "klager",
            RequestKind::Begrunnelse => "begrunnelse",
        };
        let what = format!("{list} of institution {institusjonsnr} since {siden}");
        let path = format!("/eksamen/{list}/{exam_system}");
        self.retry
            .run(|| async {
                let response = self
                    .send(&what, &path, |http, url| {
                        http.get(url)
                            .query(&[("institusjonsnr", institusjonsnr), ("siden", siden)])
                    })
                    .await?;
                if !response.status().is_success() {
                    return Err(status_error(SYSTEM, &what, response).await);
                }
                let text = body_text(SYSTEM, &what, response).await?;
                serde_json::from_str::<Vec<FsChange>>(&text).map_err(|e| {
                    Error::external(format!(
                        "{SYSTEM} {what}: answer is not a JSON list of changes: {}",
                        crate::scrub::scrubbed(&e)
                    ))
                })
            })
            .await
    }

    /// Registers an explanation. Safe to repeat: FS answers `uendret` the second time.
    pub async fn register_explanation(
        &self,
        exam_system: ExamSystem,
        explanation: &ExplanationRegistration,
    ) -> Result<Registered> {
        let what = format!(
            "registration of the explanation for vurdId {} kandidatnr {}",
            explanation.vurd_id, explanation.kandidatnr
        );
        self.register(
            &format!("/eksamen/begrunnelser/{exam_system}"),
            &what,
            explanation,
        )
        .await
    }

    /// Registers an appeal decision. Safe to repeat.
    pub async fn register_decision(
        &self,
        exam_system: ExamSystem,
        decision: &DecisionRegistration,
    ) -> Result<Registered> {
        let what = format!(
            "registration of the decision for vurdId {} kandidatnr {}",
            decision.vurd_id, decision.kandidatnr
        );
        self.register(&format!("/eksamen/vedtak/{exam_system}"), &what, decision)
            .await
    }

    /// Sends a request on behalf of the DigEks proxy, already validated, and returns FS's answer
    /// whatever its status. 5xx, 429 and transport failures are retried by the one policy (FS's
    /// registrations are idempotent per candidate); when they persist they are the error.
    pub async fn forward(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<FsAnswer> {
        let what = format!("{method} {path}");
        self.retry
            .run(|| async {
                let response = self
                    .send(&what, path, |http, url| {
                        let request = http.request(method.clone(), url).query(query);
                        match body {
                            Some(body) => request.json(body),
                            None => request,
                        }
                    })
                    .await?;
                let status = response.status();
                if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    return Err(status_error(SYSTEM, &what, response).await);
                }
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| transport_error(SYSTEM, &what, e))?;
                Ok(FsAnswer {
                    status: status.as_u16(),
                    body: body.to_vec(),
                })
            })
            .await
    }

    async fn register<T: Serialize>(&self, path: &str, what: &str, body: &T) -> Result<Registered> {
        self.retry
            .run(|| async {
                let response = self
                    .send(what, path, |http, url| http.post(url).json(body))
                    .await?;
                match response.status() {
                    StatusCode::CREATED => Ok(Registered::New),
                    StatusCode::OK => Ok(Registered::Unchanged),
                    StatusCode::NOT_FOUND => Err(Error::mapping(format!(
                        "{SYSTEM} {what}: FS has no such case under this exam system (404); check that the exam system is registered on the assessment unit in FS"
                    ))),
                    _ => Err(status_error(SYSTEM, what, response).await),
                }
            })
            .await
    }
}
