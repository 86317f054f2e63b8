//! WISEflow (UNIwise's exam platform), API base `https://europe-api.wiseflow.net/v1`, `x-api-key`
//! auth: flows found by SIS code, their participants, reassessment flows, grade-explanation
//! requests with their visibility, and master-thesis submissions with their files.
//!
//! Newer routes (`/flows/...`) answer in an envelope `{success, data, error, pagination}`, older
//! ones (`/flow/...`, `/license/...`) with bare JSON and, mostly, empty error bodies. Creations are
//! idempotent on WISEflow's side (201 new, 200 existing with the same id), so retries are safe.
//!
//! WISEflow's answers carry names and phone numbers; this client reads only ids, numbers, states
//! and times, so nothing it returns holds personal data beyond the candidate number.
//!
//! WISEflow's specification does not say which unit `format: unixtime` is in; its examples are
//! seconds, so times are sent as seconds (`contracts/wiseflow.yaml` marks it assumed, with how to
//! confirm it) and read tolerantly: times below 100,000,000,000 are seconds, larger ones
//! milliseconds.

use std::collections::HashSet;

use reqwest::{Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::json;

use crate::error::{Error, Result};
use crate::http::{status_error, transport_error};
use crate::retry::RetryPolicy;
use crate::secrets::Credential;

const SYSTEM: &str = "WISEflow";
/// Participants per page: WISEflow's maximum.
const PAGE_SIZE: usize = 100;
/// Unix times below this are seconds (it is 5138 in seconds, 1973 in milliseconds).
const SECONDS_BELOW: i64 = 100_000_000_000;
/// The widest window `/license/submissions` accepts: 30 days, in seconds (the unit is assumed,
/// `contracts/wiseflow.yaml`).
const SUBMISSION_WINDOW_S: i64 = 30 * 24 * 60 * 60;
/// `purpose` of master-thesis flows.
const PURPOSE_MASTER: u8 = 3;

/// Credentials from the exam-systems secret.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct WiseflowCredentials {
    /// The licence's API key, sent as `x-api-key`.
    pub api_key: String,
}

impl std::fmt::Debug for WiseflowCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WiseflowCredentials { api_key: <redacted> }")
    }
}

/// A flow found by SIS code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SisFlow {
    /// The flow id.
    pub flow_id: u64,
    /// The SIS code WISEflow holds for it, `<course name>||<course code>||<term>||<year>`.
    pub sis_code: String,
    /// 0 ordinary, 1 re-examination, 2 remarking, when WISEflow says.
    pub variant: Option<u8>,
}

/// A participant of a flow: ids only, no personal data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    /// WISEflow's participant id on this flow.
    pub participant_id: u64,
    /// The candidate number (`kandidatnr`), read from the [`CandidateField`] the institution
    /// names; `None` when the participant has no such field.
    pub candidate: Option<String>,
}

/// Which field of a WISEflow participant carries FS's candidate number. WISEflow publishes
/// `uniqueExamId` as the participant's id that an external source (SIS) sets and the API cannot
/// change, and `number` as WISEflow's own sequence within the flow, so the default is
/// `uniqueExamId`. That it holds the kandidatnr is assumed (`contracts/wiseflow.yaml`); an
/// institution whose licence carries it elsewhere names the field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CandidateField {
    /// `uniqueExamId` (configured as `uniqueExamId`).
    #[default]
    UniqueExamId,
    /// `number`, the sequence within the flow (configured as `number`).
    Number,
    /// The value of the user's external id with this name (configured as `externalIds:<name>`).
    ExternalId(String),
}

impl std::str::FromStr for CandidateField {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text.trim() {
            "uniqueExamId" => Ok(CandidateField::UniqueExamId),
            "number" => Ok(CandidateField::Number),
            other => match other.strip_prefix("externalIds:").map(str::trim) {
                Some(name) if !name.is_empty() => Ok(CandidateField::ExternalId(name.to_owned())),
                _ => Err(Error::configuration(format!(
                    "wiseflow_candidate_field {other:?} is not uniqueExamId, number or externalIds:<name>"
                ))),
            },
        }
    }
}

impl serde::Serialize for CandidateField {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl std::fmt::Display for CandidateField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CandidateField::UniqueExamId => f.write_str("uniqueExamId"),
            CandidateField::Number => f.write_str("number"),
            CandidateField::ExternalId(name) => write!(f, "externalIds:{name}"),
        }
    }
}

/// The reassessment flow of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reassessment {
    /// The reassessment flow's id.
    pub reassessment_flow_id: u64,
    /// Whether this call created it (201) rather than found it (200).
    pub created: bool,
}

/// The answer to an explanation request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExplanationRequest {
    /// The explanation request id.
    pub explanation_request_id: u64,
    /// Whether the candidate sees the justification.
    pub show_justification: bool,
    /// Whether this call created it (201) rather than found it (200).
    pub created: bool,
}

/// An explanation request on a flow, as WISEflow lists it, without personal data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The explanation request id.
    pub explanation_id: u64,
    /// The flow it belongs to.
    pub flow_id: u64,
    /// The participant it is for.
    pub participant_id: Option<u64>,
    /// 0 requested, 1 assigned, 2 assessor responded, 3 response accepted.
    pub state: u8,
    /// When it was requested, unix milliseconds.
    pub request_date_ms: Option<i64>,
    /// When the response was accepted, unix milliseconds.
    pub accept_date_ms: Option<i64>,
    /// Whether the candidate sees the justification.
    pub show_justification: bool,
    /// Where the candidate opens it.
    pub sso_url: Option<String>,
}

/// A master-thesis submission as the licence lists it (`GET /license/submissions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterSubmission {
    /// The submission id.
    pub submission_id: u64,
    /// The flow it was handed in on.
    pub flow_id: u64,
    /// Whether it was handed in blank: no thesis to archive.
    pub handed_in_blank: bool,
    /// When it was handed in, unix milliseconds.
    pub handed_in_ms: Option<i64>,
}

/// A submission's information (`GET /flows/{flowId}/submissions/{submissionId}`). Every field
/// after `participant_number` is this project's assumption [I]: WISEflow's specification does not
/// show where a thesis's title, grading date, access level, embargo and language are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmissionInfo {
    /// The submission id.
    pub submission_id: u64,
    /// The flow.
    pub flow_id: u64,
    /// The participant's number on the flow: the candidate number (`kandidatnr`).
    pub participant_number: Option<String>,
    /// The thesis title [I].
    pub title: Option<String>,
    /// When the grade was announced, RFC 3339 [I].
    pub graded_at: Option<String>,
    /// `OPEN`, `RESTRICTED` or `EMBARGOED`, as WISEflow wrote it [I].
    pub access_level: Option<String>,
    /// The last day of an embargo, `yyyy-MM-dd` [I].
    pub embargo_until: Option<String>,
    /// The language, e.g. `nob` or `eng` [I].
    pub language: Option<String>,
}

/// One file of a submission (`GET /flows/{flowId}/submissions/{submissionId}/files`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmissionFile {
    /// WISEflow's file id.
    pub id: u64,
    /// The file name as uploaded. It may be empty.
    pub filename: String,
    /// The content type.
    pub content_type: Option<String>,
    /// The size in bytes.
    pub size: Option<u64>,
    /// Where to download it: a pre-signed URL that needs no credentials (see
    /// [`crate::http::download`]).
    pub link: Option<String>,
    /// Whether WISEflow holds the file in quarantine (`quarantine` set).
    pub quarantined: bool,
}

/// The envelope of WISEflow's newer routes.
#[derive(Deserialize)]
struct Envelope<T> {
    data: Option<T>,
    pagination: Option<Pagination>,
}

#[derive(Deserialize)]
struct Pagination {
    total: Option<u64>,
}

/// `flow-remarking-response`: WISEflow publishes `flowId` as a number.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRemarking {
    flow_id: Option<f64>,
}

/// The part of an `assessment` read: whether it has a grade, and when it was set.
#[derive(Deserialize)]
struct WireAssessment {
    #[serde(default, deserialize_with = "text_or_number")]
    grade: Option<String>,
    date: Option<i64>,
}

/// A `sources-search-response`: a source (SIS code) and its flow.
#[derive(Deserialize)]
struct WireSource {
    code: Option<String>,
    flow: Option<WireSourceFlow>,
}

/// The flow of a source; WISEflow spells its id `flowid`.
#[derive(Deserialize)]
struct WireSourceFlow {
    flowid: Option<u64>,
}

/// The part of `basic-flow` read: the variant.
#[derive(Deserialize)]
struct WireBasicFlow {
    variant: Option<u8>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireParticipant {
    participant_id: u64,
    #[serde(default, deserialize_with = "text_or_number")]
    number: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    unique_exam_id: Option<String>,
    #[serde(default)]
    user: Option<WireUser>,
}

/// A participant's user: only its external ids are read, and of them only the one an
/// institution names (the others may be personal data).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireUser {
    #[serde(default)]
    external_ids: Vec<WireExternalId>,
}

#[derive(Deserialize)]
struct WireExternalId {
    name: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    value: Option<String>,
}

impl WireParticipant {
    /// The candidate number from `field`, trimmed; `None` when absent or blank.
    fn candidate(self, field: &CandidateField) -> Option<String> {
        let value = match field {
            CandidateField::UniqueExamId => self.unique_exam_id,
            CandidateField::Number => self.number,
            CandidateField::ExternalId(name) => {
                self.user?
                    .external_ids
                    .into_iter()
                    .find(|id| id.name.as_deref().map(str::trim) == Some(name.as_str()))?
                    .value
            }
        }?;
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireReassessment {
    reassessment_flow_id: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireExplanationRequest {
    explanation_request_id: u64,
    show_justification: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireExplanation {
    explanation_id: u64,
    flow_id: u64,
    state: u8,
    request_date: Option<i64>,
    accept_date: Option<i64>,
    #[serde(default)]
    show_justification: bool,
    participant: Option<WireExplanationParticipant>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireExplanationParticipant {
    participant_id: Option<u64>,
    sso_url: Option<String>,
}

/// An entry of `submission-list` (published: `id`, `flowId`, `handedInBlank`, `handedInDate`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMasterSubmission {
    id: u64,
    flow_id: u64,
    handed_in_blank: Option<bool>,
    handed_in_date: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSubmission {
    submission_id: u64,
    flow_id: Option<u64>,
    #[serde(default, deserialize_with = "text_or_number")]
    participant_number: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    graded_at: Option<String>,
    #[serde(default)]
    access_level: Option<String>,
    #[serde(default)]
    embargo_until: Option<String>,
    #[serde(default)]
    language: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSubmissionFile {
    id: u64,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    link: Option<String>,
    /// `null` or absent when the file is not in quarantine, `{reason, by, createdAt}` when it is.
    #[serde(default)]
    quarantine: Option<serde_json::Value>,
}

impl From<WireSubmissionFile> for SubmissionFile {
    fn from(wire: WireSubmissionFile) -> Self {
        SubmissionFile {
            id: wire.id,
            filename: wire.filename.unwrap_or_default(),
            content_type: wire.content_type,
            size: wire.size,
            link: wire.link.filter(|link| !link.trim().is_empty()),
            quarantined: wire.quarantine.is_some(),
        }
    }
}

/// A string or a number (WISEflow documents `number` as an integer), as text.
fn text_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(
        match Option::<serde_json::Value>::deserialize(deserializer)? {
            Some(serde_json::Value::String(text)) => Some(text),
            Some(serde_json::Value::Number(number)) => Some(number.to_string()),
            _ => None,
        },
    )
}

/// A client of the WISEflow API. Every request takes the current API key; a 401 has the secret
/// read again once ([`Credential::send`]).
pub struct WiseflowClient {
    http: reqwest::Client,
    base_url: String,
    credentials: Credential<WiseflowCredentials>,
    retry: RetryPolicy,
}

impl WiseflowClient {
    /// A client with a fixed API key over a shared HTTP client; `base_url` ends with `/v1`.
    pub fn new(
        http: reqwest::Client,
        base_url: impl Into<String>,
        credentials: WiseflowCredentials,
        retry: RetryPolicy,
    ) -> Self {
        WiseflowClient::with_credential(http, base_url, Credential::fixed(credentials), retry)
    }

    /// A client whose API key is read from a secret that may change.
    pub fn with_credential(
        http: reqwest::Client,
        base_url: impl Into<String>,
        credentials: Credential<WiseflowCredentials>,
        retry: RetryPolicy,
    ) -> Self {
        WiseflowClient {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            credentials,
            retry,
        }
    }

    /// The flows whose source (SIS) code is exactly `sis_code`, each with its variant; empty when
    /// none. `POST /sources/search`, every page, replaces the deprecated
    /// `GET /license/sis/flows/{sisCode}`; the variant comes from `GET /flow/{flowId}`.
    pub async fn flows_by_sis_code(&self, sis_code: &str) -> Result<Vec<SisFlow>> {
        let wanted = sis_code.trim();
        let url = format!("{}/sources/search", self.base_url);
        let sources: Vec<WireSource> = self
            .every_page(&format!("search for sources with SIS code {wanted:?}"), |offset| {
                let what = format!("search for sources with SIS code {wanted:?} from offset {offset}");
                let url = &url;
                async move {
                    self.retry
                        .run(|| async {
                            let request = || self
                                .http
                                .post(url)
                                .query(&[
                                    ("offset", offset.to_string()),
                                    ("limit", PAGE_SIZE.to_string()),
                                ])
                                .json(&json!({ "sourceCode": wanted }));
                            let response = self.send(request, &what).await?;
                            match response.status() {
                                s if s.is_success() => {
                                    json_body(response, &what, "an envelope with sources").await
                                }
                                StatusCode::BAD_REQUEST => Err(Error::mapping(format!(
                                    "{SYSTEM} {what} answered 400: WISEflow did not accept the SIS code; expected `<course name>||<course code>||<term>||<year>` with a part of 3 or more characters"
                                ))),
                                _ => Err(failure(&what, response).await),
                            }
                        })
                        .await
                }
            })
            .await?;
        // The search matches patterns; only the sources with exactly this code count.
        let mut flow_ids = Vec::new();
        for source in sources {
            if source.code.as_deref().map(str::trim) != Some(wanted) {
                continue;
            }
            if let Some(flow_id) = source.flow.and_then(|f| f.flowid) {
                if !flow_ids.contains(&flow_id) {
                    flow_ids.push(flow_id);
                }
            }
        }
        let mut flows = Vec::with_capacity(flow_ids.len());
        for flow_id in flow_ids {
            flows.push(SisFlow {
                flow_id,
                sis_code: wanted.to_owned(),
                variant: self.flow_variant(flow_id).await?,
            });
        }
        Ok(flows)
    }

    /// A flow's variant (`GET /flow/{flowId}`): 0 ordinary, 1 re-examination, 2 remarking. The
    /// source search does not give it.
    async fn flow_variant(&self, flow_id: u64) -> Result<Option<u8>> {
        let what = format!("flow {flow_id}");
        let url = format!("{}/flow/{flow_id}", self.base_url);
        let flow: WireBasicFlow = self
            .retry
            .run(|| async {
                let response = self.send(|| self.http.get(&url), &what).await?;
                match response.status() {
                    s if s.is_success() => json_body(response, &what, "the flow").await,
                    StatusCode::NOT_FOUND => Err(flow_not_found(flow_id, "its variant")),
                    _ => Err(failure(&what, response).await),
                }
            })
            .await?;
        Ok(flow.variant)
    }

    /// Every participant of a flow, all pages, each with its candidate number from `field`.
    pub async fn participants(
        &self,
        flow_id: u64,
        field: &CandidateField,
    ) -> Result<Vec<Participant>> {
        let url = format!("{}/flows/{flow_id}/participants", self.base_url);
        let listed: Vec<WireParticipant> = self
            .every_page(&format!("flow {flow_id} participants"), |offset| {
                let what = format!("flow {flow_id} participants from offset {offset}");
                let url = &url;
                async move {
                    self.retry
                        .run(|| async {
                            let request = || {
                                self.http.get(url).query(&[
                                    ("offset", offset.to_string()),
                                    ("limit", PAGE_SIZE.to_string()),
                                ])
                            };
                            let response = self.send(request, &what).await?;
                            match response.status() {
                                s if s.is_success() => {
                                    json_body(response, &what, "an envelope with participants")
                                        .await
                                }
                                StatusCode::NOT_FOUND => {
                                    Err(flow_not_found(flow_id, "its participants"))
                                }
                                _ => Err(failure(&what, response).await),
                            }
                        })
                        .await
                }
            })
            .await?;
        let mut seen = HashSet::new();
        Ok(listed
            .into_iter()
            .filter(|p| seen.insert(p.participant_id))
            .map(|p| Participant {
                participant_id: p.participant_id,
                candidate: p.candidate(field),
            })
            .collect())
    }

    /// Every item of an enveloped list that WISEflow pages with `offset` and `limit`: pages of
    /// [`PAGE_SIZE`] from `page(offset)` until `pagination.total` is reached, or, without a
    /// total, until a short page. An empty page short of the total is External.
    async fn every_page<T, F, Fut>(&self, what: &str, page: F) -> Result<Vec<T>>
    where
        F: Fn(usize) -> Fut,
        Fut: std::future::Future<Output = Result<Envelope<Vec<T>>>>,
    {
        let mut items = Vec::new();
        loop {
            let envelope = page(items.len()).await?;
            let data = envelope.data.unwrap_or_default();
            let total = envelope.pagination.and_then(|p| p.total);
            let received = data.len();
            items.extend(data);
            match total {
                Some(total) if items.len() as u64 >= total => return Ok(items),
                Some(total) if received == 0 => {
                    return Err(Error::external(format!(
                        "{SYSTEM} {what}: the page from offset {} was empty though {total} were announced; expected the rest",
                        items.len()
                    )))
                }
                None if received < PAGE_SIZE => return Ok(items),
                _ => {}
            }
        }
    }

    /// Creates or fetches the reassessment flow (needs the licence's reassessment module).
    pub async fn reassessment(&self, flow_id: u64) -> Result<Reassessment> {
        let what = format!("flow {flow_id}: creating the reassessment flow");
        let url = format!("{}/flow/{flow_id}/reassessment", self.base_url);
        self.retry
            .run(|| async {
                let request = || self.http.post(&url).json(&json!({ "synchronize": false }));
                let response = self.send(request, &what).await?;
                let created = response.status() == StatusCode::CREATED;
                match response.status() {
                    s if s.is_success() => {
                        let body: WireReassessment =
                            json_body(response, &what, "{reassessmentFlowId}").await?;
                        Ok(Reassessment {
                            reassessment_flow_id: body.reassessment_flow_id,
                            created,
                        })
                    }
                    StatusCode::FORBIDDEN => Err(Error::configuration(format!(
                        "{SYSTEM}: flow {flow_id}: the licence lacks the reassessment module (403): ask UNIwise to add the reassessment module to the licence, or turn reassessment off in this institution's configuration"
                    ))),
                    StatusCode::NOT_FOUND => {
                        Err(flow_not_found(flow_id, "its reassessment flow"))
                    }
                    _ => Err(failure(&what, response).await),
                }
            })
            .await
    }

    /// Requests a grade explanation for a participant (201 new / 200 existing — idempotent on
    /// WISEflow's side, safe to retry).
    pub async fn request_explanation(
        &self,
        flow_id: u64,
        participant_id: u64,
        show_justification: bool,
    ) -> Result<ExplanationRequest> {
        let what = format!("flow {flow_id}: explanation request for participant {participant_id}");
        let url = format!("{}/flow/{flow_id}/explanation/request", self.base_url);
        let body = json!({
            "participantId": participant_id,
            "showJustification": show_justification,
        });
        self.retry
            .run(|| async {
                let response = self.send(|| self.http.post(&url).json(&body), &what).await?;
                let created = response.status() == StatusCode::CREATED;
                match response.status() {
                    s if s.is_success() => {
                        let body: WireExplanationRequest = json_body(
                            response,
                            &what,
                            "{explanationRequestId, showJustification}",
                        )
                        .await?;
                        Ok(ExplanationRequest {
                            explanation_request_id: body.explanation_request_id,
                            show_justification: body.show_justification,
                            created,
                        })
                    }
                    StatusCode::BAD_REQUEST => Err(Error::mapping(format!(
                        "{SYSTEM} {what} was refused (400): expected participant {participant_id} to be on flow {flow_id}; check the participant found for the candidate"
                    ))),
                    StatusCode::FORBIDDEN => Err(Error::configuration(format!(
                        "{SYSTEM} {what} was not allowed (403): the API key may not request explanations on this flow; check the licence's explanation settings"
                    ))),
                    StatusCode::NOT_FOUND => {
                        Err(flow_not_found(flow_id, "an explanation request"))
                    }
                    _ => Err(failure(&what, response).await),
                }
            })
            .await
    }

    /// Every explanation request on a flow.
    pub async fn explanation_requests(&self, flow_id: u64) -> Result<Vec<Explanation>> {
        let what = format!("flow {flow_id}: listing explanation requests");
        let url = format!("{}/flow/{flow_id}/explanation/request", self.base_url);
        let explanations: Vec<WireExplanation> = self
            .retry
            .run(|| async {
                let response = self.send(|| self.http.get(&url), &what).await?;
                match response.status() {
                    s if s.is_success() => {
                        json_body(response, &what, "a list of explanation requests").await
                    }
                    StatusCode::NOT_FOUND => {
                        Err(flow_not_found(flow_id, "its explanation requests"))
                    }
                    _ => Err(failure(&what, response).await),
                }
            })
            .await?;
        Ok(explanations
            .into_iter()
            .map(|e| {
                let (participant_id, sso_url) = e
                    .participant
                    .map_or((None, None), |p| (p.participant_id, p.sso_url));
                Explanation {
                    explanation_id: e.explanation_id,
                    flow_id: e.flow_id,
                    participant_id,
                    state: e.state,
                    request_date_ms: unix_millis(e.request_date),
                    accept_date_ms: unix_millis(e.accept_date),
                    show_justification: e.show_justification,
                    sso_url,
                }
            })
            .collect())
    }

    /// Sets whether the candidate sees the justification (false → true e-mails the candidate).
    pub async fn set_show_justification(
        &self,
        flow_id: u64,
        explanation_request_id: u64,
        show: bool,
    ) -> Result<()> {
        let what = format!(
            "flow {flow_id}: setting showJustification={show} on explanation request {explanation_request_id}"
        );
        let url = format!(
            "{}/flow/{flow_id}/explanation/request/{explanation_request_id}",
            self.base_url
        );
        let body = json!({ "showJustification": show });
        self.retry
            .run(|| async {
                let response = self.send(|| self.http.patch(&url).json(&body), &what).await?;
                match response.status() {
                    s if s.is_success() => Ok(()),
                    StatusCode::NOT_FOUND => Err(Error::mapping(format!(
                        "{SYSTEM} {what}: not found (404); expected flow {flow_id} to have explanation request {explanation_request_id}"
                    ))),
                    _ => Err(failure(&what, response).await),
                }
            })
            .await
    }

    /// Master-thesis submissions (`purpose` 3) handed in within `[start_ms, end_ms]` (unix
    /// milliseconds), each once, assessed or not. WISEflow answers at most 30 days at a time and
    /// filters on `assessed` (default true), so the client walks the range in windows of 30 days
    /// less a second and asks each window for both.
    pub async fn master_submissions(
        &self,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<MasterSubmission>> {
        if end_ms < start_ms {
            return Err(Error::technical(format!(
                "{SYSTEM} master submissions: the window ends ({end_ms}) before it starts ({start_ms}); expected start <= end in unix milliseconds"
            )));
        }
        let mut submissions = Vec::new();
        let mut seen = HashSet::new();
        for (start, end) in submission_windows(start_ms, end_ms) {
            for assessed in [true, false] {
                for submission in self.master_submissions_in(start, end, assessed).await? {
                    if seen.insert(submission.submission_id) {
                        submissions.push(submission);
                    }
                }
            }
        }
        Ok(submissions)
    }

    /// Master-thesis submissions handed in within one window (unix seconds, `start < end`, at
    /// most 30 days apart), assessed or not as asked. The answer is a bare array, unpaged.
    async fn master_submissions_in(
        &self,
        start: i64,
        end: i64,
        assessed: bool,
    ) -> Result<Vec<MasterSubmission>> {
        let url = format!("{}/license/submissions", self.base_url);
        let what = format!(
            "master submissions handed in from {start} to {end} (unix seconds), assessed {assessed}"
        );
        let listed: Vec<WireMasterSubmission> = self
            .retry
            .run(|| async {
                let request = || self.http.get(&url).query(&[
                    ("start", start.to_string()),
                    ("end", end.to_string()),
                    ("purpose", PURPOSE_MASTER.to_string()),
                    ("assessed", assessed.to_string()),
                ]);
                let response = self.send(request, &what).await?;
                match response.status() {
                    s if s.is_success() => {
                        json_body(response, &what, "an array of {id, flowId, handedInDate}").await
                    }
                    StatusCode::BAD_REQUEST => Err(Error::mapping(format!(
                        "{SYSTEM} {what} answered 400; expected start < end in unix seconds at most 30 days apart, purpose and assessed"
                    ))),
                    _ => Err(failure(&what, response).await),
                }
            })
            .await?;
        Ok(listed
            .into_iter()
            .map(|s| MasterSubmission {
                submission_id: s.id,
                flow_id: s.flow_id,
                handed_in_blank: s.handed_in_blank.unwrap_or(false),
                handed_in_ms: unix_millis(s.handed_in_date),
            })
            .collect())
    }

    /// A submission's information: the candidate number and the thesis's metadata.
    pub async fn submission(&self, flow_id: u64, submission_id: u64) -> Result<SubmissionInfo> {
        let what = format!("flow {flow_id}: submission {submission_id}");
        let url = format!(
            "{}/flows/{flow_id}/submissions/{submission_id}",
            self.base_url
        );
        let envelope: Envelope<WireSubmission> = self
            .retry
            .run(|| async {
                let response = self.send(|| self.http.get(&url), &what).await?;
                submission_answer(response, &what, flow_id, submission_id, "the submission").await
            })
            .await?;
        let data = envelope.data.ok_or_else(|| {
            Error::external(format!(
                "{SYSTEM} {what}: the answer has no data; expected the submission"
            ))
        })?;
        if data.submission_id != submission_id || data.flow_id.is_some_and(|id| id != flow_id) {
            return Err(Error::mapping(format!(
                "{SYSTEM} {what} answered about submission {} on flow {} instead",
                data.submission_id,
                data.flow_id.unwrap_or(flow_id)
            )));
        }
        Ok(SubmissionInfo {
            submission_id,
            flow_id,
            participant_number: data.participant_number,
            title: data.title,
            graded_at: data.graded_at,
            access_level: data.access_level,
            embargo_until: data.embargo_until,
            language: data.language,
        })
    }

    /// The files of a submission, each with its download link, quarantine flag and checksum.
    pub async fn submission_files(
        &self,
        flow_id: u64,
        submission_id: u64,
    ) -> Result<Vec<SubmissionFile>> {
        let what = format!("flow {flow_id}: files of submission {submission_id}");
        let url = format!(
            "{}/flows/{flow_id}/submissions/{submission_id}/files",
            self.base_url
        );
        let envelope: Envelope<Vec<WireSubmissionFile>> = self
            .retry
            .run(|| async {
                let response = self.send(|| self.http.get(&url), &what).await?;
                submission_answer(response, &what, flow_id, submission_id, "the files").await
            })
            .await?;
        Ok(envelope
            .data
            .unwrap_or_default()
            .into_iter()
            .map(SubmissionFile::from)
            .collect())
    }

    /// Sends the request `request` builds with the current API key (after a 401 once more with a
    /// new one, [`Credential::send`]); a transport failure is External.
    async fn send(
        &self,
        request: impl Fn() -> reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Response> {
        self.credentials
            .send(SYSTEM, what, |credentials| {
                request().header("x-api-key", &credentials.api_key)
            })
            .await
    }

    /// Whether WISEflow has graded the reassessment of the candidate `kandidatnr` (found by
    /// `field`) after an appeal of `flow_id`. The remarking flow is the one
    /// `GET /flows/{flowId}/remarking` names (none yet: not graded); the candidate is found among
    /// its participants (absent: not graded), and the grade read from
    /// `GET /flow/{remarkingFlowId}/assessments/{participantId}`: graded once it has a grade or a
    /// date. That the remarking flow is the one the reassessment call made is assumed
    /// (`contracts/wiseflow.yaml`).
    pub async fn reassessment_graded(
        &self,
        flow_id: u64,
        kandidatnr: &str,
        field: &CandidateField,
    ) -> Result<bool> {
        let Some(remarking_flow_id) = self.remarking_flow(flow_id).await? else {
            return Ok(false);
        };
        let wanted = kandidatnr.trim();
        let Some(participant) = self
            .participants(remarking_flow_id, field)
            .await?
            .into_iter()
            .find(|p| p.candidate.as_deref() == Some(wanted))
        else {
            return Ok(false);
        };
        let assessment = self
            .assessment(remarking_flow_id, participant.participant_id)
            .await?;
        Ok(assessment
            .grade
            .as_deref()
            .is_some_and(|g| !g.trim().is_empty())
            || assessment.date.is_some_and(|d| d > 0))
    }

    /// The remarking flow of `flow_id`, if it has one.
    async fn remarking_flow(&self, flow_id: u64) -> Result<Option<u64>> {
        let what = format!("flow {flow_id}: its remarking flow");
        let url = format!("{}/flows/{flow_id}/remarking", self.base_url);
        let envelope: Envelope<WireRemarking> = self
            .retry
            .run(|| async {
                let response = self.send(|| self.http.get(&url), &what).await?;
                match response.status() {
                    s if s.is_success() => {
                        json_body(response, &what, "an envelope with {flowId} or null").await
                    }
                    StatusCode::NOT_FOUND => Err(flow_not_found(flow_id, "its remarking flow")),
                    _ => Err(failure(&what, response).await),
                }
            })
            .await?;
        Ok(envelope
            .data
            .and_then(|d| d.flow_id)
            .filter(|id| *id > 0.0)
            .map(|id| id as u64))
    }

    /// A participant's assessment on a flow.
    async fn assessment(&self, flow_id: u64, participant_id: u64) -> Result<WireAssessment> {
        let what = format!("flow {flow_id}: the assessment of participant {participant_id}");
        let url = format!(
            "{}/flow/{flow_id}/assessments/{participant_id}",
            self.base_url
        );
        let envelope: Envelope<WireAssessment> = self
            .retry
            .run(|| async {
                let response = self.send(|| self.http.get(&url), &what).await?;
                match response.status() {
                    s if s.is_success() => {
                        json_body(response, &what, "an envelope with the assessment").await
                    }
                    StatusCode::NOT_FOUND => Err(Error::mapping(format!(
                        "{SYSTEM} {what}: not found (404); expected the participant the remarking flow lists"
                    ))),
                    _ => Err(failure(&what, response).await),
                }
            })
            .await?;
        envelope.data.ok_or_else(|| {
            Error::external(format!(
                "{SYSTEM} {what}: the answer has no data; expected the assessment"
            ))
        })
    }
}

/// The categorised error of an unexpected status: 401 names the API key; the rest as
/// [`status_error`] (5xx and 429 External, 403 Configuration, other 4xx Mapping).
async fn failure(what: &str, response: Response) -> Error {
    if response.status() == StatusCode::UNAUTHORIZED {
        return Error::configuration(format!(
            "{SYSTEM} {what} answered 401 Unauthorized: check the API key (api_key in the exam-systems secret) and that it belongs to this institution's WISEflow licence"
        ));
    }
    status_error(SYSTEM, what, response).await
}

/// A 404 on a flow: the flow id does not fit WISEflow's data.
fn flow_not_found(flow_id: u64, wanted: &str) -> Error {
    Error::mapping(format!(
        "{SYSTEM}: flow {flow_id} was not found (404) when asking for {wanted}; expected the flow found by its SIS code to exist"
    ))
}

/// The body of an answer about a submission on a flow. A 403 means the submission is not on the
/// flow, and a 404 means there is no such flow. Both are Mapping errors.
async fn submission_answer<T: DeserializeOwned>(
    response: Response,
    what: &str,
    flow_id: u64,
    submission_id: u64,
    expected: &str,
) -> Result<T> {
    match response.status() {
        s if s.is_success() => json_body(response, what, expected).await,
        StatusCode::FORBIDDEN => Err(Error::mapping(format!(
            "{SYSTEM} {what} answered 403: submission {submission_id} is not on flow {flow_id}; expected the pair the licence's submission list gave (if it is, the API key may lack access to the flow)"
        ))),
        StatusCode::NOT_FOUND => Err(Error::mapping(format!(
            "{SYSTEM}: flow {flow_id} was not found (404) when asking for {expected} of submission {submission_id}; expected the flow the licence's submission list gave to exist"
        ))),
        _ => Err(failure(what, response).await),
    }
}

/// A successful response's JSON body; a broken one is External.
async fn json_body<T: DeserializeOwned>(
    response: Response,
    what: &str,
    expected: &str,
) -> Result<T> {
    let text = response
        .text()
        .await
        .map_err(|e| transport_error(SYSTEM, what, e))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::external(format!(
            "{SYSTEM} {what}: the answer is not the expected JSON ({expected}): {}",
            crate::scrub::scrubbed(&e)
        ))
    })
}

/// The windows of `/license/submissions` covering `[start_ms, end_ms]`: unix seconds, each
/// `start < end` and at most 30 days apart, the next starting a second after the last ends.
fn submission_windows(start_ms: i64, end_ms: i64) -> Vec<(i64, i64)> {
    let (first, last) = (start_ms.div_euclid(1000), end_ms.div_euclid(1000));
    let mut windows = Vec::new();
    let mut start = first;
    loop {
        let end = last.max(start + 1).min(start + SUBMISSION_WINDOW_S);
        windows.push((start, end));
        if end >= last {
            return windows;
        }
        start = end + 1;
    }
}

/// A WISEflow unix time in milliseconds: values below 100,000,000,000 are seconds. 0 means
/// "not set", as in WISEflow's examples.
fn unix_millis(value: Option<i64>) -> Option<i64> {
    match value? {
        0 => None,
        seconds if seconds.abs() < SECONDS_BELOW => Some(seconds * 1000),
        millis => Some(millis),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_in_seconds_become_milliseconds() {
        assert_eq!(unix_millis(Some(1_790_000_000)), Some(1_790_000_000_000));
        assert_eq!(
            unix_millis(Some(1_790_000_000_123)),
            Some(1_790_000_000_123)
        );
        assert_eq!(unix_millis(Some(99_999_999_999)), Some(99_999_999_999_000));
        assert_eq!(unix_millis(Some(100_000_000_000)), Some(100_000_000_000));
        assert_eq!(unix_millis(Some(0)), None);
        assert_eq!(unix_millis(None), None);
    }

    #[test]
    fn the_published_source_search_example_parses_and_the_old_list_does_not() {
        // The property examples of components.schemas.sources-search-response (WISEflow OpenAPI
        // 1.34.0), in the envelope, with fields Flyt does not read.
        let page: Envelope<Vec<WireSource>> = serde_json::from_value(json!({
            "success": true,
            "data": [{"sourceId": 234, "code": "parameter||123||parameter||123",
                      "integrationId": 1234, "integrationName": "Integration name",
                      "flow": {"flowid": 5001, "title": "Emne", "state": "CONCLUDED"}}],
            "pagination": {"limit": 100, "offset": 0, "total": 1}
        }))
        .unwrap();
        let source = &page.data.unwrap()[0];
        assert_eq!(
            source.code.as_deref(),
            Some("parameter||123||parameter||123")
        );
        assert_eq!(source.flow.as_ref().and_then(|f| f.flowid), Some(5001));
        // The deprecated SIS route's array of flows is not a source search answer.
        let old = json!([{"flowId": 5001, "sisCode": "a||b||c||d", "variant": 0}]);
        assert!(serde_json::from_value::<Envelope<Vec<WireSource>>>(old).is_err());
        let flow: WireBasicFlow =
            serde_json::from_value(json!({"id": 5001, "name": "Emne", "variant": 2, "purpose": 0}))
                .unwrap();
        assert_eq!(flow.variant, Some(2));
    }

    #[test]
    fn participants_give_the_candidate_from_the_named_field_and_nothing_personal() {
        // Shaped as components.schemas.flow-participants-api-response of WISEflow OpenAPI 1.34.0.
        let page = json!({
            "success": true,
            "data": [
                {"participantId": 1, "number": 1, "uniqueExamId": "123456", "submissionId": null,
                 "user": {"id": 9, "firstName": "Given", "lastName": "Family", "phone": "555",
                          "externalIds": [{"name": "studentnr", "value": "555123"},
                                          {"name": "kandidatnr", "value": " 123456 "}]}},
                {"participantId": 2, "number": 2, "uniqueExamId": " "},
                {"participantId": 3}
            ],
            "pagination": {"limit": 100, "offset": 0, "total": 3}
        });
        let candidates = |field: &str| -> Vec<Option<String>> {
            let field: CandidateField = field.parse().unwrap();
            let page: Envelope<Vec<WireParticipant>> =
                serde_json::from_value(page.clone()).unwrap();
            page.data
                .unwrap()
                .into_iter()
                .map(|p| p.candidate(&field))
                .collect()
        };
        assert_eq!(
            candidates("uniqueExamId"),
            vec![Some("123456".to_owned()), None, None]
        );
        assert_eq!(
            candidates("number"),
            vec![Some("1".to_owned()), Some("2".to_owned()), None],
            "number is WISEflow's sequence, not the kandidatnr"
        );
        assert_eq!(
            candidates("externalIds:kandidatnr"),
            vec![Some("123456".to_owned()), None, None]
        );
        assert_eq!(CandidateField::default(), CandidateField::UniqueExamId);
        for text in ["uniqueExamId", "number", "externalIds:kandidatnr"] {
            assert_eq!(text.parse::<CandidateField>().unwrap().to_string(), text);
        }
        let error = "firstName".parse::<CandidateField>().unwrap_err();
        assert!(
            error.to_string().contains("wiseflow_candidate_field"),
            "{error}"
        );
        assert!("externalIds:".parse::<CandidateField>().is_err());
    }

    #[test]
    fn submission_files_read_quarantine_as_published_and_tolerate_null() {
        let page: Envelope<Vec<WireSubmissionFile>> = serde_json::from_value(json!({
            "success": true,
            "data": [
                {"id": 1, "type": "DOCUMENT", "filename": "a.pdf", "contentType": "application/pdf",
                 "size": 10, "link": "https://s3.example/a?sig=1", "createdAt": "2026-09-01T10:00:00Z",
                 "quarantine": null},
                {"id": 2, "filename": "b.zip", "link": "",
                 "quarantine": {"reason": "virus-scan", "by": "WISEFLOW", "createdAt": "2026-09-01T10:00:00Z"}},
                {"id": 3}
            ]
        }))
        .unwrap();
        let files: Vec<SubmissionFile> = page
            .data
            .unwrap()
            .into_iter()
            .map(SubmissionFile::from)
            .collect();
        assert!(!files[0].quarantined);
        assert_eq!(files[0].size, Some(10));
        assert!(files[1].quarantined);
        assert_eq!(files[1].link, None);
        assert_eq!(files[2].filename, "");
        assert!(!files[2].quarantined);
    }

    #[test]
    fn submissions_accept_numeric_participant_numbers() {
        let envelope: Envelope<WireSubmission> = serde_json::from_value(json!({
            "success": true,
            "data": {"submissionId": 7, "flowId": 5001, "participantNumber": 123456,
                     "handedIn": true, "title": "T", "accessLevel": "OPEN", "embargoUntil": null}
        }))
        .unwrap();
        let data = envelope.data.unwrap();
        assert_eq!(data.participant_number.as_deref(), Some("123456"));
        assert_eq!(data.embargo_until, None);
        assert_eq!(data.graded_at, None);
    }

    #[test]
    fn the_published_submission_list_example_parses() {
        // components.schemas.submission-list-item.example of WISEflow OpenAPI 1.34.0, in a list.
        let listed: Vec<WireMasterSubmission> = serde_json::from_value(json!([
            {"handedInDate": 1, "handedInBlank": true, "id": 0, "flowId": 6}
        ]))
        .unwrap();
        assert_eq!(
            (listed[0].id, listed[0].flow_id, listed[0].handed_in_blank),
            (0, 6, Some(true))
        );
        // The envelope the client read before is not what WISEflow answers.
        let enveloped = json!({"success": true, "data": [], "pagination": {"total": 0}});
        assert!(serde_json::from_value::<Vec<WireMasterSubmission>>(enveloped).is_err());
    }

    #[test]
    fn submission_windows_are_seconds_at_most_30_days_apart_and_never_empty() {
        let day_ms = 86_400_000;
        let start = 1_764_000_000_000;
        assert_eq!(
            submission_windows(start, start + day_ms),
            vec![(1_764_000_000, 1_764_086_400)]
        );
        assert_eq!(
            submission_windows(start, start),
            vec![(1_764_000_000, 1_764_000_001)],
            "end must be greater than start"
        );
        let windows = submission_windows(start, start + 61 * day_ms);
        assert_eq!(windows.len(), 3);
        assert!(windows
            .iter()
            .all(|(s, e)| s < e && e - s <= SUBMISSION_WINDOW_S));
        assert!(
            windows.windows(2).all(|w| w[1].0 == w[0].1 + 1),
            "{windows:?}"
        );
        assert_eq!(windows[2].1, (start + 61 * day_ms) / 1000);
    }

    #[test]
    fn credentials_are_redacted() {
        let credentials = WiseflowCredentials {
            api_key: "secret-key".to_owned(),
        };
        assert!(!format!("{credentials:?}").contains("secret-key"));
    }
}
