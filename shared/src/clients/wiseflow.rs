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
//! Unix times are sent and read as milliseconds. WISEflow's specification does not say which
//! unit it uses [I], so times below 100,000,000,000 are read as seconds.

use std::collections::HashSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::{Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::json;

use crate::error::{Error, Result};
use crate::http::{excerpt, status_error, transport_error};
use crate::retry::RetryPolicy;

const SYSTEM: &str = "WISEflow";
/// Participants per page: WISEflow's maximum.
const PAGE_SIZE: usize = 100;
/// Unix times below this are seconds (it is 5138 in seconds, 1973 in milliseconds).
const SECONDS_BELOW: i64 = 100_000_000_000;
/// The widest window `/license/submissions` accepts: 30 days, in milliseconds.
const SUBMISSION_WINDOW_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// `purpose` of master-thesis flows.
const PURPOSE_MASTER: u8 = 3;

/// Credentials from the exam-systems secret.
#[derive(Clone, Deserialize)]
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
    /// The participant's number on the flow: the candidate number (`kandidatnr`).
    pub number: Option<String>,
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
    /// The participant who handed it in.
    pub participant_id: Option<u64>,
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
    /// SHA-256 of the content, lowercase hex (`checksumSha256` [I]).
    pub sha256: Option<String>,
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSisFlow {
    flow_id: u64,
    sis_code: Option<String>,
    variant: Option<u8>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireParticipant {
    participant_id: u64,
    #[serde(default, deserialize_with = "text_or_number")]
    number: Option<String>,
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMasterSubmission {
    submission_id: u64,
    flow_id: u64,
    participant_id: Option<u64>,
    handed_in_date: Option<i64>,
    purpose: Option<u8>,
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
    #[serde(default)]
    checksum_sha256: Option<String>,
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
            sha256: wire
                .checksum_sha256
                .map(|hash| hash.trim().to_ascii_lowercase())
                .filter(|hash| !hash.is_empty()),
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

/// A client of the WISEflow API.
pub struct WiseflowClient {
    http: reqwest::Client,
    base_url: String,
    credentials: WiseflowCredentials,
    retry: RetryPolicy,
}

impl WiseflowClient {
    /// A client over a shared HTTP client; `base_url` ends with `/v1`.
    pub fn new(
        http: reqwest::Client,
        base_url: impl Into<String>,
        credentials: WiseflowCredentials,
        retry: RetryPolicy,
    ) -> Self {
        WiseflowClient {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            credentials,
            retry,
        }
    }

    /// Flows whose SIS code matches (GET /license/sis/flows/{base64}); empty when none.
    pub async fn flows_by_sis_code(&self, sis_code: &str) -> Result<Vec<SisFlow>> {
        let what = format!("search for flows with SIS code {sis_code:?}");
        let url = format!(
            "{}/license/sis/flows/{}",
            self.base_url,
            sis_code_path(sis_code)
        );
        let flows: Vec<WireSisFlow> = self
            .retry
            .run(|| async {
                let response = self.send(self.http.get(&url), &what).await?;
                match response.status() {
                    s if s.is_success() => json_body(response, &what, "a list of flows").await,
                    StatusCode::BAD_REQUEST => Err(Error::mapping(format!(
                        "{SYSTEM} {what} answered 400: WISEflow did not accept the SIS code; expected `<course name>||<course code>||<term>||<year>`"
                    ))),
                    _ => Err(failure(&what, response).await),
                }
            })
            .await?;
        Ok(flows
            .into_iter()
            .map(|flow| SisFlow {
                flow_id: flow.flow_id,
                sis_code: flow.sis_code.unwrap_or_default(),
                variant: flow.variant,
            })
            .collect())
    }

    /// Every participant of a flow, all pages.
    pub async fn participants(&self, flow_id: u64) -> Result<Vec<Participant>> {
        let url = format!("{}/flows/{flow_id}/participants", self.base_url);
        let mut participants = Vec::new();
        let mut seen = HashSet::new();
        let mut offset = 0;
        loop {
            let what = format!("flow {flow_id} participants from offset {offset}");
            let page: Envelope<Vec<WireParticipant>> = self
                .retry
                .run(|| async {
                    let request = self.http.get(&url).query(&[
                        ("offset", offset.to_string()),
                        ("limit", PAGE_SIZE.to_string()),
                    ]);
                    let response = self.send(request, &what).await?;
                    match response.status() {
                        s if s.is_success() => {
                            json_body(response, &what, "an envelope with participants").await
                        }
                        StatusCode::NOT_FOUND => Err(flow_not_found(flow_id, "its participants")),
                        _ => Err(failure(&what, response).await),
                    }
                })
                .await?;
            let data = page.data.unwrap_or_default();
            let total = page.pagination.and_then(|p| p.total);
            let received = data.len();
            offset += received;
            participants.extend(
                data.into_iter()
                    .filter(|p| seen.insert(p.participant_id))
                    .map(|p| Participant {
                        participant_id: p.participant_id,
                        number: p.number,
                    }),
            );
            match total {
                Some(total) if offset as u64 >= total => return Ok(participants),
                Some(total) if received == 0 => {
                    return Err(Error::external(format!(
                        "{SYSTEM} {what}: the page was empty though the flow has {total} participants; expected the rest"
                    )))
                }
                None if received < PAGE_SIZE => return Ok(participants),
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
                let request = self.http.post(&url).json(&json!({ "synchronize": false }));
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
                let response = self.send(self.http.post(&url).json(&body), &what).await?;
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
                let response = self.send(self.http.get(&url), &what).await?;
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
                let response = self.send(self.http.patch(&url).json(&body), &what).await?;
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
    /// milliseconds), each once. WISEflow answers at most 30 days at a time, so the client walks
    /// the range in 30-day windows and reads every page of each.
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
        let mut window_start = start_ms;
        loop {
            let window_end = end_ms.min(window_start.saturating_add(SUBMISSION_WINDOW_MS));
            for submission in self.master_submissions_in(window_start, window_end).await? {
                if seen.insert(submission.submission_id) {
                    submissions.push(submission);
                }
            }
            if window_end >= end_ms {
                return Ok(submissions);
            }
            window_start = window_end + 1;
        }
    }

    /// Master-thesis submissions handed in within one window of at most 30 days, all pages.
    async fn master_submissions_in(
        &self,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<MasterSubmission>> {
        let url = format!("{}/license/submissions", self.base_url);
        let mut submissions = Vec::new();
        let mut offset = 0;
        loop {
            let what = format!(
                "master submissions handed in from {start_ms} to {end_ms} (unix ms) from offset {offset}"
            );
            let page: Envelope<Vec<WireMasterSubmission>> = self
                .retry
                .run(|| async {
                    let request = self.http.get(&url).query(&[
                        ("start", start_ms.to_string()),
                        ("end", end_ms.to_string()),
                        ("purpose", PURPOSE_MASTER.to_string()),
                        ("offset", offset.to_string()),
                        ("limit", PAGE_SIZE.to_string()),
                    ]);
                    let response = self.send(request, &what).await?;
                    match response.status() {
                        s if s.is_success() => {
                            json_body(response, &what, "an envelope with submissions").await
                        }
                        StatusCode::BAD_REQUEST => {
                            let text = response.text().await.unwrap_or_default();
                            Err(Error::mapping(format!(
                                "{SYSTEM} {what} answered 400: {}; expected start and end in unix milliseconds at most 30 days apart",
                                envelope_message(&text)
                            )))
                        }
                        _ => Err(failure(&what, response).await),
                    }
                })
                .await?;
            let data = page.data.unwrap_or_default();
            let total = page.pagination.and_then(|p| p.total);
            let received = data.len();
            offset += received;
            submissions.extend(
                data.into_iter()
                    .filter(|s| s.purpose.is_none_or(|p| p == PURPOSE_MASTER))
                    .map(|s| MasterSubmission {
                        submission_id: s.submission_id,
                        flow_id: s.flow_id,
                        participant_id: s.participant_id,
                        handed_in_ms: unix_millis(s.handed_in_date),
                    }),
            );
            match total {
                Some(total) if offset as u64 >= total => return Ok(submissions),
                Some(total) if received == 0 => {
                    return Err(Error::external(format!(
                        "{SYSTEM} {what}: the page was empty though {total} submissions were announced; expected the rest"
                    )))
                }
                None if received < PAGE_SIZE => return Ok(submissions),
                _ => {}
            }
        }
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
                let response = self.send(self.http.get(&url), &what).await?;
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
                let response = self.send(self.http.get(&url), &what).await?;
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

    /// Sends a request with the API key; a transport failure is External.
    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> Result<Response> {
        request
            .header("x-api-key", &self.credentials.api_key)
            .send()
            .await
            .map_err(|e| transport_error(SYSTEM, what, e))
    }

    /// Whether WISEflow has graded the candidate with `participant_number` on the reassessment
    /// flow of `flow_id` — the flow exam-dispatch creates for an appeal. Reads
    /// `GET /flows/{flowId}/reassessment/grades`, `{reassessmentFlowId, grades: [{participantNumber,
    /// grade, gradedAt}]}` in the envelope: the route and its fields are this project's assumption
    /// [I], as WISEflow's specification does not show where a reassessment's grades are read.
    /// No reassessment flow yet (404) is not graded.
    pub async fn reassessment_graded(
        &self,
        flow_id: u64,
        participant_number: &str,
    ) -> Result<bool> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct WireGrade {
            #[serde(default, deserialize_with = "text_or_number")]
            participant_number: Option<String>,
            #[serde(default, deserialize_with = "text_or_number")]
            graded_at: Option<String>,
        }
        #[derive(Deserialize)]
        struct WireGrades {
            #[serde(default)]
            grades: Vec<WireGrade>,
        }
        let what = format!("flow {flow_id}: grades of its reassessment flow");
        let url = format!("{}/flows/{flow_id}/reassessment/grades", self.base_url);
        let envelope: Option<Envelope<WireGrades>> = self
            .retry
            .run(|| async {
                let response = self.send(self.http.get(&url), &what).await?;
                match response.status() {
                    s if s.is_success() => json_body(
                        response,
                        &what,
                        "an envelope with {reassessmentFlowId, grades}",
                    )
                    .await
                    .map(Some),
                    StatusCode::NOT_FOUND => Ok(None),
                    _ => Err(failure(&what, response).await),
                }
            })
            .await?;
        let wanted = participant_number.trim();
        Ok(envelope.and_then(|e| e.data).is_some_and(|data| {
            data.grades.iter().any(|g| {
                g.participant_number.as_deref().map(str::trim) == Some(wanted)
                    && g.graded_at.as_deref().is_some_and(|t| !t.trim().is_empty())
            })
        }))
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

/// The `error.message` of an envelope, or the body itself on one line.
fn envelope_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|value| value["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| excerpt(body, 300))
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
            "{SYSTEM} {what}: the answer is not the expected JSON ({expected}): {e}"
        ))
    })
}

/// The SIS code as WISEflow's path wants it: standard base64, then percent-encoded.
fn sis_code_path(sis_code: &str) -> String {
    STANDARD
        .encode(sis_code.as_bytes())
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
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
    fn sis_codes_are_base64_then_percent_encoded() {
        let code = "Examen philosophicum||EXPHIL03||HØST||2026";
        let path = sis_code_path(code);
        assert!(!path.contains(['+', '/', '=']), "{path}");
        let decoded = path
            .replace("%2B", "+")
            .replace("%2F", "/")
            .replace("%3D", "=");
        assert_eq!(STANDARD.decode(decoded).unwrap(), code.as_bytes());
        assert_eq!(sis_code_path("??>"), "Pz8%2B");
        assert_eq!(sis_code_path("???"), "Pz8%2F");
        assert_eq!(sis_code_path("a"), "YQ%3D%3D");
    }

    #[test]
    fn participants_keep_no_personal_data_and_accept_numeric_numbers() {
        let page: Envelope<Vec<WireParticipant>> = serde_json::from_value(json!({
            "success": true,
            "data": [
                {"participantId": 1, "userId": 9, "number": "123456",
                 "user": {"firstName": "Given", "lastName": "Family", "phone": "555"}},
                {"participantId": 2, "number": 7},
                {"participantId": 3}
            ],
            "pagination": {"limit": 100, "offset": 0, "total": 3}
        }))
        .unwrap();
        let numbers: Vec<Option<String>> =
            page.data.unwrap().into_iter().map(|p| p.number).collect();
        assert_eq!(
            numbers,
            vec![Some("123456".to_owned()), Some("7".to_owned()), None]
        );
        assert_eq!(page.pagination.unwrap().total, Some(3));
    }

    #[test]
    fn submission_files_read_quarantine_and_checksums() {
        let page: Envelope<Vec<WireSubmissionFile>> = serde_json::from_value(json!({
            "success": true,
            "data": [
                {"id": 1, "type": "DOCUMENT", "filename": "a.pdf", "contentType": "application/pdf",
                 "size": 10, "link": "https://s3.example/a?sig=1", "createdAt": "2026-09-01T10:00:00Z",
                 "quarantine": null, "checksumSha256": " ABCDEF "},
                {"id": 2, "filename": "b.zip", "link": "",
                 "quarantine": {"reason": "virus-scan", "by": "system", "createdAt": "2026-09-01T10:00:00Z"}},
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
        assert_eq!(files[0].sha256.as_deref(), Some("abcdef"));
        assert_eq!(files[0].size, Some(10));
        assert!(files[1].quarantined);
        assert_eq!(files[1].link, None);
        assert_eq!(files[2].filename, "");
        assert!(!files[2].quarantined);
        assert_eq!(files[2].sha256, None);
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
    fn envelope_messages_are_read_or_excerpted() {
        let body = r#"{"success": false, "data": null, "error": {"code": 400, "message": "start and end may be at most 30 days apart"}}"#;
        assert_eq!(
            envelope_message(body),
            "start and end may be at most 30 days apart"
        );
        assert_eq!(envelope_message("Bad\n  request"), "Bad request");
    }

    #[test]
    fn credentials_are_redacted() {
        let credentials = WiseflowCredentials {
            api_key: "secret-key".to_owned(),
        };
        assert!(!format!("{credentials:?}").contains("secret-key"));
    }
}
