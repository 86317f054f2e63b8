//! The simulated Inspera Assessment API: tests derived from FS, appeals,
//! explanations behind a test option, graders steered by tests, and signed
//! webhooks.
//!
//! Inspera's contents are derived from FS at request time: for every FS
//! institution whose exam system is `INSPERA`, every distinct `vurdId` in its
//! appeal and explanation-request lists is one test whose `externalTestId` is
//! that `vurdId`, and every `kandidatnr` seen with it is a candidate of the
//! test. Test ids are handed out on first sight, from 700001, and never change;
//! appeals appended to FS later show up at once.
//!
//! The request shapes are this project's contract: Inspera's real appeal and
//! explanation endpoints are not public. Auth and webhooks follow Inspera's
//! documentation (`POST /api/authenticate/token/` with a `code` header; webhook
//! bodies signed with hex HMAC-SHA1 in `X-Inspera-Signature`, delivered with a
//! 10 s timeout and retried 3 times).
//!
//! Master theses ([`crate::SandboxThesis`]) are generated from the seed for
//! the institutions that use Inspera. Each belongs to a thesis test, one per
//! institution, programme and term (ids from 760001 on, `externalTestId` an
//! FS-style `vurdId`). A
//! `thesis_submitted` webhook announces it ([`InsperaState::submit_theses`]).
//! `GET /api/v1/test/{testId}/candidates/{candidateId}/submission` describes
//! it, and its files are streamed from `/files/{fileId}`. These shapes are
//! this project's contract too.

mod admin;
mod derived;
mod routes;
mod webhooks;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;

use crate::faults::{FaultGate, Faults};
use crate::theses::{Catalog, Download, System};
use crate::{FsState, SandboxOptions, SandboxThesis};

pub(crate) use admin::routes as admin_routes;
pub(crate) use routes::router;
pub(crate) use webhooks::spawn_delivery;
pub use webhooks::{InsperaDeliveryOutcome, InsperaWebhookDelivery};

/// The test id given to the first test seen.
const FIRST_TEST_ID: u64 = 700_001;
/// The id of the first explanation requested.
const FIRST_EXPLANATION_ID: u64 = 900_001;
/// The test option that must be `true` before explanations can be requested.
pub const INSPERA_EXPLANATIONS_OPTION: &str = "EXPLANATION_OF_GRADES_ADMINISTRATION_ENABLED";
/// Grades a changed appeal decision draws from.
const GRADES: [&str; 6] = ["A", "B", "C", "D", "E", "F"];
/// Number of generated grader users who trigger decisions and explanations.
const GRADER_COUNT: usize = 4;

/// A test, as derived from FS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InsperaTest {
    /// Inspera's id of the test.
    pub test_id: u64,
    /// The `vurdId` from FS, verbatim.
    pub external_test_id: String,
    /// Course code and term, e.g. `EXPHIL03 2026 HØST`.
    pub title: String,
    /// Candidate numbers (`kandidatnr`) seen for this test in FS, sorted.
    pub candidates: Vec<String>,
}

/// Where an appeal stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InsperaAppealStatus {
    /// Registered and waiting for a decision.
    Active,
    /// Withdrawn before a decision.
    Withdrawn,
    /// A decision was made.
    Decided,
}

/// The outcome of a decided appeal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InsperaOutcome {
    /// The original grade stands.
    Upheld,
    /// A new grade was given.
    Changed,
}

/// The decision on an appeal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InsperaDecision {
    /// Upheld or changed.
    pub outcome: InsperaOutcome,
    /// The new grade, `A`..`F`, when the outcome is [`InsperaOutcome::Changed`].
    pub new_grade: Option<String>,
    /// When it was decided, RFC 3339 UTC to the second.
    pub decided_at: String,
}

/// An appeal registered for one candidate of one test.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InsperaAppeal {
    /// The test appealed.
    pub test_id: u64,
    /// The candidate number (`kandidatnr`).
    pub candidate_id: String,
    /// Where it stands.
    pub status: InsperaAppealStatus,
    /// The decision, once made.
    pub decision: Option<InsperaDecision>,
    /// Registrations that registered or re-activated it (answered 201).
    pub registrations: u32,
    /// Registrations answered 200 because it was already active or decided.
    pub repeated_registrations: u32,
    /// Withdrawals that withdrew it while active.
    pub withdrawals: u32,
    /// Withdrawals of it when it was already withdrawn.
    pub repeated_withdrawals: u32,
}

/// Where an explanation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InsperaExplanationStatus {
    /// Requested, not yet written.
    Requested,
    /// Written; the document is attached.
    Given,
}

/// One explanation request and, once given, its document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InsperaExplanation {
    /// Inspera's id of the explanation.
    pub explanation_id: u64,
    /// The test it belongs to.
    pub test_id: u64,
    /// The candidate number (`kandidatnr`).
    pub candidate_id: String,
    /// Requested or given.
    pub status: InsperaExplanationStatus,
    /// When it was requested, RFC 3339 UTC to the second.
    pub requested_at: String,
    /// When it was given.
    pub given_at: Option<String>,
    /// The document's bytes (a small PDF-like text), once given.
    pub document: Option<Vec<u8>>,
}

/// How often one (test, candidate) pair had an explanation requested.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InsperaRequestCount {
    /// The test.
    pub test_id: u64,
    /// The candidate number.
    pub candidate_id: String,
    /// Accepted `POST .../explanations` for the pair.
    pub count: u32,
}

/// Why a request was refused; each maps to one status and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No test with this id.
    UnknownTest(u64),
    /// The candidate does not sit this test.
    NotACandidate,
    /// No appeal was ever registered for the candidate.
    NoAppeal,
    /// The appeal was decided; it can no longer be withdrawn.
    AlreadyDecided,
    /// The explanation option is not enabled on the test.
    ExplanationsDisabled,
    /// No explanation with this id on the test.
    UnknownExplanation,
}

impl Refusal {
    /// The HTTP status it is answered with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Refusal::AlreadyDecided | Refusal::ExplanationsDisabled => StatusCode::CONFLICT,
            _ => StatusCode::NOT_FOUND,
        }
    }

    /// The `error` text of the answer.
    pub(crate) fn message(&self) -> String {
        match self {
            Refusal::UnknownTest(test_id) => format!("no test with id {test_id}"),
            Refusal::NotACandidate => "the candidate is not on this test".to_owned(),
            Refusal::NoAppeal => "no appeal for this candidate".to_owned(),
            Refusal::AlreadyDecided => "the appeal is already decided".to_owned(),
            Refusal::ExplanationsDisabled => "explanations are not enabled on this test".to_owned(),
            Refusal::UnknownExplanation => "no explanation with this id on this test".to_owned(),
        }
    }
}

/// A generated grader user: the `triggeringUser` of webhooks.
#[derive(Clone, Debug)]
struct Grader {
    user_id: u64,
    user_name: String,
}

/// Shared, inspectable state of the simulated Inspera; thread-safe.
pub struct InsperaState {
    client_id: String,
    /// The API key the token route accepts now ([`InsperaState::set_api_key`] rotates it).
    api_key: Mutex<String>,
    token_ttl: Duration,
    webhook_retry_delay: Duration,
    fs: Arc<FsState>,
    gate: FaultGate,
    graders: Vec<Grader>,
    /// The master theses. They never change; only their hashes are cached.
    theses: Catalog,
    /// Wakes the delivery task when a webhook is queued.
    webhook_signal: Notify,
    inner: Mutex<Inner>,
}

struct Inner {
    test_ids: HashMap<String, u64>,
    next_test_id: u64,
    appeals: BTreeMap<(u64, String), InsperaAppeal>,
    repeated_appeal_registrations: u64,
    repeated_withdrawals: u64,
    options: HashMap<u64, BTreeMap<String, Value>>,
    explanations: Vec<InsperaExplanation>,
    explanation_requests: BTreeMap<(u64, String), u32>,
    webhooks: webhooks::Webhooks,
    tokens: HashMap<String, Instant>,
    /// Unseeded, so a restarted sandbox never re-issues an earlier token.
    token_rng: fastrand::Rng,
    /// The names `GET /v1/subscription/events` lists besides the two Inspera publishes.
    event_names: Vec<String>,
    /// Seeded: decisions and the grader who triggers each event.
    rng: fastrand::Rng,
    request_count: u64,
    token_requests: u64,
    /// Download requests per thesis file id, the missing file's 404s included.
    downloads: HashMap<u64, u64>,
}

impl InsperaState {
    /// An Inspera whose tests come from `fs`, with the credentials, token
    /// lifetime and webhook retry delay of `options`. Its webhooks are sent
    /// by the delivery task that [`crate::Sandbox`] starts with the server.
    /// Each Inspera institution gets
    /// [`SandboxOptions::theses_per_institution`] master theses.
    pub fn new(options: &SandboxOptions, fs: Arc<FsState>) -> Self {
        let mut rng = fastrand::Rng::with_seed(options.seed ^ 0x1e_5e_ea);
        let graders = generate_graders(&mut rng);
        let theses = Catalog::for_exam_system(options, &fs, System::Inspera);
        Self {
            client_id: options.inspera_client_id.clone(),
            api_key: Mutex::new(options.inspera_api_key.clone()),
            token_ttl: Duration::from_secs(options.inspera_token_ttl_secs),
            webhook_retry_delay: Duration::from_millis(options.inspera_webhook_retry_delay_ms),
            fs,
            gate: FaultGate::new(options.seed ^ 0x1e_5e_fa),
            graders,
            theses,
            webhook_signal: Notify::new(),
            inner: Mutex::new(Inner {
                test_ids: HashMap::new(),
                next_test_id: FIRST_TEST_ID,
                appeals: BTreeMap::new(),
                repeated_appeal_registrations: 0,
                repeated_withdrawals: 0,
                options: HashMap::new(),
                explanations: Vec::new(),
                explanation_requests: BTreeMap::new(),
                webhooks: webhooks::Webhooks::default(),
                tokens: HashMap::new(),
                token_rng: fastrand::Rng::new(),
                event_names: ["explanation_given", "appeal_decided", "thesis_submitted"]
                    .map(String::from)
                    .to_vec(),
                rng,
                request_count: 0,
                token_requests: 0,
                downloads: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("inspera state lock")
    }

    /// Replaces the active faults.
    pub fn set_faults(&self, faults: Faults) {
        self.gate.set(faults);
    }

    /// The active faults.
    pub fn faults(&self) -> Faults {
        self.gate.get()
    }

    /// Requests received on every non-admin route, the token route and
    /// faulted requests included.
    pub fn request_count(&self) -> u64 {
        self.lock().request_count
    }

    /// Requests received on the token route, faulted and rejected ones included.
    pub fn token_requests(&self) -> u64 {
        self.lock().token_requests
    }

    /// Forgets every issued token, so the next API call answers 401.
    pub fn revoke_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// Rotates the integration user's API key: from now on the token route accepts only `key`.
    /// Tokens already issued stay valid until they expire or [`InsperaState::revoke_tokens`].
    pub fn set_api_key(&self, key: impl Into<String>) {
        *self.api_key.lock().expect("inspera api key lock") = key.into();
    }

    /// Every test currently derived from FS, by test id.
    pub fn tests(&self) -> Vec<InsperaTest> {
        self.catalog().into_values().collect()
    }

    /// Every registered appeal, by test and candidate.
    pub fn appeals(&self) -> Vec<InsperaAppeal> {
        self.lock().appeals.values().cloned().collect()
    }

    /// Appeal registrations answered 200 because the appeal was already
    /// active (or decided).
    pub fn repeated_appeal_registrations(&self) -> u64 {
        self.lock().repeated_appeal_registrations
    }

    /// Withdrawals of an appeal that was already withdrawn.
    pub fn repeated_withdrawals(&self) -> u64 {
        self.lock().repeated_withdrawals
    }

    /// The options set on a test through `POST .../options`, by name.
    pub fn test_options(&self, test_id: u64) -> BTreeMap<String, Value> {
        self.lock()
            .options
            .get(&test_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Every explanation, in order of request.
    pub fn explanations(&self) -> Vec<InsperaExplanation> {
        self.lock().explanations.clone()
    }

    /// Number of (test, candidate) pairs with more than one explanation
    /// request: each extra one is a published explanation a client created twice.
    pub fn duplicate_explanation_requests(&self) -> usize {
        self.lock()
            .explanation_requests
            .values()
            .filter(|&&count| count > 1)
            .count()
    }

    /// How many explanations were requested for each (test, candidate) pair.
    pub fn explanation_request_counts(&self) -> Vec<InsperaRequestCount> {
        self.lock()
            .explanation_requests
            .iter()
            .map(|((test_id, candidate_id), &count)| InsperaRequestCount {
                test_id: *test_id,
                candidate_id: candidate_id.clone(),
                count,
            })
            .collect()
    }

    /// Marks every requested explanation given (now, with a document) and
    /// queues an `explanation_given` webhook for each; returns how many.
    pub fn give_explanations(&self) -> usize {
        let now = now_rfc3339();
        let mut inner = self.lock();
        let Inner {
            explanations,
            webhooks,
            rng,
            ..
        } = &mut *inner;
        let mut given = 0;
        for explanation in explanations
            .iter_mut()
            .filter(|e| e.status == InsperaExplanationStatus::Requested)
        {
            explanation.status = InsperaExplanationStatus::Given;
            explanation.given_at = Some(now.clone());
            explanation.document = Some(explanation_document(
                explanation.test_id,
                explanation.explanation_id,
            ));
            let grader = &self.graders[rng.usize(..self.graders.len())];
            webhooks.queue(webhooks::Event {
                name: "explanation_given",
                test_id: explanation.test_id,
                associated_id: Value::from(explanation.explanation_id),
                associated_type: "EXPLANATION",
                user_id: grader.user_id,
                user_name: &grader.user_name,
                timestamp: &now,
            });
            given += 1;
        }
        drop(inner);
        self.webhook_signal.notify_one();
        given
    }

    /// Decides every active appeal (a seeded draw: about half upheld, the
    /// rest changed to a new grade) and queues an `appeal_decided` webhook
    /// for each; returns how many.
    pub fn decide_appeals(&self) -> usize {
        let now = now_rfc3339();
        let mut inner = self.lock();
        let Inner {
            appeals,
            webhooks,
            rng,
            ..
        } = &mut *inner;
        let mut decided = 0;
        for appeal in appeals
            .values_mut()
            .filter(|a| a.status == InsperaAppealStatus::Active)
        {
            let (outcome, new_grade) = if rng.bool() {
                (InsperaOutcome::Upheld, None)
            } else {
                let grade = GRADES[rng.usize(..GRADES.len())];
                (InsperaOutcome::Changed, Some(grade.to_owned()))
            };
            appeal.status = InsperaAppealStatus::Decided;
            appeal.decision = Some(InsperaDecision {
                outcome,
                new_grade,
                decided_at: now.clone(),
            });
            let grader = &self.graders[rng.usize(..self.graders.len())];
            webhooks.queue(webhooks::Event {
                name: "appeal_decided",
                test_id: appeal.test_id,
                associated_id: Value::from(appeal.candidate_id.clone()),
                associated_type: "CANDIDATE",
                user_id: grader.user_id,
                user_name: &grader.user_name,
                timestamp: &now,
            });
            decided += 1;
        }
        drop(inner);
        self.webhook_signal.notify_one();
        decided
    }

    /// Queues a `thesis_submitted` webhook for every master thesis: the test
    /// as `contextObjectId`, the candidate number (a string) as
    /// `associatedObjectId`, and one of the generated staff users as the
    /// triggering user. Returns how many events were raised.
    pub fn submit_theses(&self) -> usize {
        let now = now_rfc3339();
        let mut inner = self.lock();
        let Inner { webhooks, rng, .. } = &mut *inner;
        let mut submitted = 0;
        for thesis in self.theses.entries() {
            let Some(test_id) = thesis.test_id else {
                continue;
            };
            let grader = &self.graders[rng.usize(..self.graders.len())];
            webhooks.queue(webhooks::Event {
                name: "thesis_submitted",
                test_id,
                associated_id: Value::from(thesis.candidate_number.clone()),
                associated_type: "CANDIDATE",
                user_id: grader.user_id,
                user_name: &grader.user_name,
                timestamp: &now,
            });
            submitted += 1;
        }
        drop(inner);
        self.webhook_signal.notify_one();
        submitted
    }

    /// Every master thesis on Inspera, in generation order: by institution,
    /// then by position. Each has its test id and its files with their SHA-256s.
    pub fn theses(&self) -> Vec<SandboxThesis> {
        self.theses.theses()
    }

    /// Download requests so far for a thesis file (`GET /files/{fileId}`),
    /// counting those answered 404 because the file is missing. Faulted
    /// requests are not counted.
    pub fn downloads(&self, file_id: u64) -> u64 {
        self.lock().downloads.get(&file_id).copied().unwrap_or(0)
    }

    /// A thesis file's content, generated anew from the seed. A missing file
    /// gets the content it would have had. An unknown id gets nothing.
    pub fn file_bytes(&self, file_id: u64) -> Vec<u8> {
        self.theses.bytes(file_id)
    }

    /// Sends later events to `url`, signed with `secret`, without Inspera's validation call:
    /// for tests of deliveries to receivers Inspera would not have accepted (unreachable ones,
    /// ones that fail on purpose). Events raised while no webhook is set are not sent.
    pub fn set_webhook(&self, url: impl Into<String>, secret: impl Into<String>) {
        self.lock().webhooks.subscribe(url.into(), secret.into());
    }

    /// The event names the tenant lists (`GET /v1/subscription/events`): the three the sandbox
    /// sends, and the two Inspera publishes. [`InsperaState::rename_events`] changes them.
    pub fn event_names(&self) -> Vec<String> {
        let mut names = self.lock().event_names.clone();
        names.extend(["confirm_final_grades", "submissions_export_finished"].map(String::from));
        names
    }

    /// From now on the tenant lists `names` instead of the three events the sandbox sends, as a
    /// tenant whose events are named otherwise would (the webhooks it sends keep their names).
    pub fn rename_events(&self, names: &[&str]) {
        self.lock().event_names = names.iter().map(|name| (*name).to_owned()).collect();
    }

    /// Registers a subscription as Inspera does (`contracts/inspera.yaml`,
    /// `webhooks.subscriptionValidation`): the endpoint is first called with a POST, and
    /// anything but 200 refuses the subscription. Inspera publishes neither the call's body nor
    /// whether it is signed, so the sandbox sends the least a receiver could expect: no body and
    /// no signature.
    pub async fn subscribe_webhook(
        &self,
        url: impl Into<String>,
        secret: impl Into<String>,
    ) -> Result<(), String> {
        let url = url.into();
        let answer = webhooks::validation_call(&url).await;
        if answer != Some(200) {
            let answered = answer.map_or("no answer".to_owned(), |status| format!("{status}"));
            return Err(format!(
                "Inspera refuses the subscription: {url} answered the validation POST with {answered}, not 200"
            ));
        }
        self.set_webhook(url, secret);
        Ok(())
    }

    /// Every webhook delivery, in order of the events.
    pub fn webhook_deliveries(&self) -> Vec<InsperaWebhookDelivery> {
        self.lock().webhooks.deliveries()
    }

    /// Deliveries queued or between attempts.
    pub fn webhooks_pending(&self) -> usize {
        self.lock().webhooks.pending()
    }

    /// Waits until no delivery is pending or `timeout` passes; returns
    /// whether none is pending.
    pub async fn wait_for_webhooks(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.webhooks_pending() == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every grader user name webhooks may carry (`triggeringUserName`),
    /// sorted, so tests can prove that none of them leaks into logs.
    pub fn personal_data(&self) -> Vec<String> {
        let mut names: Vec<String> = self.graders.iter().map(|g| g.user_name.clone()).collect();
        names.sort();
        names
    }

    pub(crate) fn gate(&self) -> &FaultGate {
        &self.gate
    }

    pub(crate) fn note_request(&self, token_route: bool) {
        let mut inner = self.lock();
        inner.request_count += 1;
        if token_route {
            inner.token_requests += 1;
        }
    }

    /// Checks the client id and API key without revealing, through timing,
    /// how much of them was right.
    pub(crate) fn key_matches(&self, client_id: &str, api_key: &str) -> bool {
        let client_ok = constant_time_eq(client_id.as_bytes(), self.client_id.as_bytes());
        let expected = self.api_key.lock().expect("inspera api key lock").clone();
        let key_ok = constant_time_eq(api_key.as_bytes(), expected.as_bytes());
        client_ok & key_ok
    }

    /// Issues a new access token; returns it and its lifetime in seconds.
    pub(crate) fn issue_token(&self) -> (String, u64) {
        let mut inner = self.lock();
        let token: String = (0..48).map(|_| inner.token_rng.alphanumeric()).collect();
        let now = Instant::now();
        inner.tokens.retain(|_, expires| *expires > now);
        inner.tokens.insert(token.clone(), now + self.token_ttl);
        (token, self.token_ttl.as_secs())
    }

    pub(crate) fn token_valid(&self, token: &str) -> bool {
        self.lock()
            .tokens
            .get(token)
            .is_some_and(|expires| *expires > Instant::now())
    }

    /// Every test derived from FS now, by test id; ids are assigned to tests
    /// seen for the first time.
    fn catalog(&self) -> BTreeMap<u64, InsperaTest> {
        let seen = derived::tests_in_fs(&self.fs);
        let mut inner = self.lock();
        seen.into_iter()
            .map(|test| {
                let test_id = inner.test_id_for(&test.external_test_id);
                let derived::FsTest {
                    external_test_id,
                    title,
                    candidates,
                } = test;
                let test = InsperaTest {
                    test_id,
                    external_test_id,
                    title,
                    candidates: candidates.into_iter().collect(),
                };
                (test_id, test)
            })
            .collect()
    }

    /// The tests of the master theses, by test id: one per programme,
    /// institution and term. Their candidates are those who handed in.
    fn thesis_tests(&self) -> BTreeMap<u64, InsperaTest> {
        let mut tests: BTreeMap<u64, InsperaTest> = BTreeMap::new();
        for thesis in self.theses.entries() {
            let Some(test_id) = thesis.test_id else {
                continue;
            };
            let test = tests.entry(test_id).or_insert_with(|| InsperaTest {
                test_id,
                external_test_id: thesis.assessment_id.clone(),
                title: format!("{} {}", thesis.course_code, thesis.term),
                candidates: Vec::new(),
            });
            test.candidates.push(thesis.candidate_number.clone());
        }
        for test in tests.values_mut() {
            test.candidates.sort();
        }
        tests
    }

    /// The test with this id, if FS has it or it is a thesis test.
    pub(crate) fn test(&self, test_id: u64) -> Result<InsperaTest, Refusal> {
        self.catalog()
            .remove(&test_id)
            .or_else(|| self.thesis_tests().remove(&test_id))
            .ok_or(Refusal::UnknownTest(test_id))
    }

    /// The tests, thesis tests included, whose `externalTestId` is `external_test_id`.
    pub(crate) fn search(&self, external_test_id: &str) -> Vec<InsperaTest> {
        self.catalog()
            .into_values()
            .chain(self.thesis_tests().into_values())
            .filter(|t| t.external_test_id == external_test_id)
            .collect()
    }

    /// The master thesis a candidate handed in on a test, with its SHA-256s.
    pub(crate) fn thesis_submission(
        &self,
        test_id: u64,
        candidate_id: &str,
    ) -> Option<SandboxThesis> {
        self.theses
            .entries()
            .iter()
            .find(|t| t.test_id == Some(test_id) && t.candidate_number == candidate_id)
            .map(|thesis| self.theses.complete(thesis))
    }

    /// Downloads a thesis file; a known id is counted, the missing one too.
    pub(crate) fn download(&self, file_id: u64) -> Download {
        if self.theses.knows_file(file_id) {
            *self.lock().downloads.entry(file_id).or_default() += 1;
        }
        self.theses.download(file_id)
    }

    /// A candidate of the test, or why not.
    fn candidate_of(&self, test_id: u64, candidate_id: &str) -> Result<InsperaTest, Refusal> {
        let test = self.test(test_id)?;
        if test.candidates.iter().any(|c| c == candidate_id) {
            Ok(test)
        } else {
            Err(Refusal::NotACandidate)
        }
    }

    /// Registers (or re-activates) an appeal; also says whether that changed
    /// anything. A repeat is counted, in total and on the appeal.
    pub(crate) fn register_appeal(
        &self,
        test_id: u64,
        candidate_id: &str,
    ) -> Result<(InsperaAppeal, bool), Refusal> {
        self.candidate_of(test_id, candidate_id)?;
        let mut inner = self.lock();
        let key = (test_id, candidate_id.to_owned());
        let existing = inner.appeals.get(&key).map(|a| a.status);
        let changed = match existing {
            Some(InsperaAppealStatus::Active | InsperaAppealStatus::Decided) => {
                inner.repeated_appeal_registrations += 1;
                false
            }
            Some(InsperaAppealStatus::Withdrawn) | None => true,
        };
        let appeal = inner.appeals.entry(key).or_insert_with(|| InsperaAppeal {
            test_id,
            candidate_id: candidate_id.to_owned(),
            status: InsperaAppealStatus::Active,
            decision: None,
            registrations: 0,
            repeated_registrations: 0,
            withdrawals: 0,
            repeated_withdrawals: 0,
        });
        if changed {
            appeal.status = InsperaAppealStatus::Active;
            appeal.registrations += 1;
        } else {
            appeal.repeated_registrations += 1;
        }
        Ok((appeal.clone(), changed))
    }

    /// Withdraws a registered appeal; a repeat is counted, in total and on the appeal.
    pub(crate) fn withdraw_appeal(
        &self,
        test_id: u64,
        candidate_id: &str,
    ) -> Result<InsperaAppeal, Refusal> {
        self.test(test_id)?;
        let mut inner = self.lock();
        let key = (test_id, candidate_id.to_owned());
        let status = inner
            .appeals
            .get(&key)
            .map(|a| a.status)
            .ok_or(Refusal::NoAppeal)?;
        let repeat = match status {
            InsperaAppealStatus::Decided => return Err(Refusal::AlreadyDecided),
            InsperaAppealStatus::Withdrawn => {
                inner.repeated_withdrawals += 1;
                true
            }
            InsperaAppealStatus::Active => false,
        };
        let appeal = inner.appeals.get_mut(&key).ok_or(Refusal::NoAppeal)?;
        appeal.status = InsperaAppealStatus::Withdrawn;
        if repeat {
            appeal.repeated_withdrawals += 1;
        } else {
            appeal.withdrawals += 1;
        }
        Ok(appeal.clone())
    }

    /// The appeal of a candidate of a test.
    pub(crate) fn appeal(
        &self,
        test_id: u64,
        candidate_id: &str,
    ) -> Result<InsperaAppeal, Refusal> {
        self.test(test_id)?;
        self.lock()
            .appeals
            .get(&(test_id, candidate_id.to_owned()))
            .cloned()
            .ok_or(Refusal::NoAppeal)
    }

    /// Sets options on a test, keeping the ones not named.
    pub(crate) fn set_options(
        &self,
        test_id: u64,
        options: Vec<(String, Value)>,
    ) -> Result<(), Refusal> {
        self.test(test_id)?;
        self.lock()
            .options
            .entry(test_id)
            .or_default()
            .extend(options);
        Ok(())
    }

    /// Publishes a new explanation request, every time it is called: a
    /// request is final, so none is merged with an earlier one.
    pub(crate) fn request_explanation(
        &self,
        test_id: u64,
        candidate_id: &str,
    ) -> Result<InsperaExplanation, Refusal> {
        self.candidate_of(test_id, candidate_id)?;
        let mut inner = self.lock();
        let enabled = inner
            .options
            .get(&test_id)
            .and_then(|options| options.get(INSPERA_EXPLANATIONS_OPTION))
            == Some(&Value::Bool(true));
        if !enabled {
            return Err(Refusal::ExplanationsDisabled);
        }
        let explanation = InsperaExplanation {
            explanation_id: FIRST_EXPLANATION_ID + inner.explanations.len() as u64,
            test_id,
            candidate_id: candidate_id.to_owned(),
            status: InsperaExplanationStatus::Requested,
            requested_at: now_rfc3339(),
            given_at: None,
            document: None,
        };
        inner.explanations.push(explanation.clone());
        *inner
            .explanation_requests
            .entry((test_id, candidate_id.to_owned()))
            .or_default() += 1;
        Ok(explanation)
    }

    /// The explanations of a test, of one candidate when given.
    pub(crate) fn explanations_of(
        &self,
        test_id: u64,
        candidate_id: Option<&str>,
    ) -> Result<Vec<InsperaExplanation>, Refusal> {
        self.test(test_id)?;
        Ok(self
            .lock()
            .explanations
            .iter()
            .filter(|e| e.test_id == test_id)
            .filter(|e| candidate_id.is_none_or(|c| e.candidate_id == c))
            .cloned()
            .collect())
    }

    /// One explanation of a test.
    pub(crate) fn explanation(
        &self,
        test_id: u64,
        explanation_id: u64,
    ) -> Result<InsperaExplanation, Refusal> {
        self.test(test_id)?;
        self.lock()
            .explanations
            .iter()
            .find(|e| e.test_id == test_id && e.explanation_id == explanation_id)
            .cloned()
            .ok_or(Refusal::UnknownExplanation)
    }
}

impl Inner {
    /// The id of the test with this external id, assigning the next one on first sight.
    fn test_id_for(&mut self, external_test_id: &str) -> u64 {
        if let Some(&test_id) = self.test_ids.get(external_test_id) {
            return test_id;
        }
        let test_id = self.next_test_id;
        self.next_test_id += 1;
        self.test_ids.insert(external_test_id.to_owned(), test_id);
        test_id
    }
}

/// Grader users with distinct generated names (`sensor` and four digits).
fn generate_graders(rng: &mut fastrand::Rng) -> Vec<Grader> {
    let mut graders: Vec<Grader> = Vec::with_capacity(GRADER_COUNT);
    while graders.len() < GRADER_COUNT {
        let user_name = format!("sensor{}", rng.u32(1000..10_000));
        if graders.iter().all(|g| g.user_name != user_name) {
            graders.push(Grader {
                user_id: rng.u64(510_000..520_000),
                user_name,
            });
        }
    }
    graders
}

/// The small PDF-like document of a given explanation.
fn explanation_document(test_id: u64, explanation_id: u64) -> Vec<u8> {
    format!("%PDF-1.4\n% Flyt sandbox: explanation {explanation_id} of test {test_id}\n%%EOF\n")
        .into_bytes()
}

/// Now, RFC 3339 UTC to the second.
fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Whether `a` and `b` are equal, in time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}
