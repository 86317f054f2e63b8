//! The simulated WISEflow API (UNIwise's exam platform), as far as appeals and
//! grade explanations need it: flows found by SIS code, their participants,
//! reassessment flows, and explanation requests with their visibility.
//!
//! WISEflow holds no seed of its own: its flows and participants are derived
//! from FS at request time (see [`WiseflowState::new`]), so appeals appended
//! to FS later show up here too. Creations are idempotent the way WISEflow's
//! are (201 the first time, 200 with the same id after), and repeats are
//! counted so tests can prove what a client did.
//!
//! Master theses ([`crate::SandboxThesis`]) are generated from the seed for
//! the institutions that use WISEflow. Each is a submission on a flow with
//! `purpose` 3 (MASTER). Thesis flows answer `GET /flow/{flowId}` and the
//! SIS-code search like the others, but are not among [`WiseflowState::flows`],
//! which lists the flows derived from FS. Theses are listed by hand-in date through
//! `/license/submissions`, described through `/flows/{flowId}/submissions/{id}`,
//! and their files are downloaded from unauthenticated links on this server,
//! as from pre-signed S3 URLs.

mod directory;
mod routes;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::faults::{FaultGate, Faults};
use crate::fs::FsState;
use crate::theses::{Catalog, Download, System};
use crate::{SandboxOptions, SandboxThesis};

use directory::{Directory, Flow, Participant};

pub(crate) use routes::router;

/// How long an issued access token stays valid.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// The first reassessment flow id handed out.
const FIRST_REASSESSMENT_ID: u64 = 8001;
/// The first explanation request id handed out.
const FIRST_EXPLANATION_ID: u64 = 20001;
/// The highest explanation state: the response was accepted.
pub const EXPLANATION_ACCEPTED: u8 = 3;
/// `purpose` of the flows derived from FS: EXAMINATION.
const PURPOSE_EXAMINATION: u8 = 0;
/// `purpose` of thesis flows: MASTER.
const PURPOSE_MASTER: u8 = 3;
/// How long before its first hand-in a thesis flow was created.
const THESIS_FLOW_LEAD_MS: i64 = 90 * 24 * 60 * 60 * 1000;

/// One flow, for inspection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WiseflowFlow {
    /// WISEflow's flow id.
    pub id: u64,
    /// The SIS code: FS's `sisKode` verbatim.
    pub sis_code: String,
    /// FS's `vurdId` of the exam.
    pub assessment_id: String,
    /// How many participants the flow has.
    pub participants: usize,
}

/// The reassessment flow of one flow, for inspection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WiseflowReassessment {
    /// The reassessment flow's id.
    pub reassessment_flow_id: u64,
    /// Posts that created it (201): one.
    pub creations: u32,
    /// Posts answered 200 with the existing id.
    pub repeats: u32,
}

/// One explanation request, for inspection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WiseflowExplanation {
    /// The explanation request id (`explanationId`).
    pub id: u64,
    /// The flow it belongs to.
    pub flow_id: u64,
    /// The participant it is for.
    pub participant_id: u64,
    /// The participant's `kandidatnr`.
    pub candidate_number: String,
    /// 0 requested, 1 assigned, 2 assessor responded, 3 response accepted.
    pub state: u8,
    /// Whether the candidate sees the justification.
    pub show_justification: bool,
    /// Accepted posts for this (flow, participant), the first included.
    pub posts: u32,
    /// Accepted `PATCH`es of its visibility (`showJustification`), whatever they set.
    pub visibility_patches: u32,
    /// When it was requested, unix milliseconds.
    pub request_date_ms: i64,
    /// When an assessor was assigned, unix milliseconds.
    pub assign_date_ms: Option<i64>,
    /// When the response was accepted, unix milliseconds.
    pub accept_date_ms: Option<i64>,
    /// The due date sent with the request, as sent.
    pub due_date: Option<i64>,
}

/// Outcome of `POST /flow/{flowId}/reassessment`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReassessmentOutcome {
    /// 201: created now.
    Created(u64),
    /// 200: it existed.
    Existing(u64),
    /// 403: the licence lacks the reassessment module.
    NoModule,
    /// 404.
    UnknownFlow,
}

/// Outcome of `POST /flow/{flowId}/explanation/request`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExplanationOutcome {
    /// 201: created now, with its id and visibility.
    Created(u64, bool),
    /// 200: it existed, with its id and visibility.
    Existing(u64, bool),
    /// 400: the participant is not on the flow.
    NotAParticipant,
    /// 404.
    UnknownFlow,
}

/// Outcome of looking up a submission on a flow.
enum SubmissionLookup {
    /// The thesis handed in as this submission on this flow.
    Found(Box<SandboxThesis>),
    /// The flow exists, but the submission is not on it.
    NotOnFlow,
    /// No such flow.
    UnknownFlow,
}

/// An explanation request with the flow and participant it belongs to, for rendering.
struct ExplanationView {
    explanation: WiseflowExplanation,
    flow: Flow,
    participant: Option<Participant>,
}

/// Shared, inspectable state of the simulated WISEflow; thread-safe.
pub struct WiseflowState {
    /// The API key accepted now ([`WiseflowState::set_api_key`] rotates it).
    api_key: Mutex<String>,
    client_id: String,
    client_secret: String,
    fs: Arc<FsState>,
    gate: FaultGate,
    /// The master theses. They never change; only their hashes are cached.
    theses: Catalog,
    inner: Mutex<Inner>,
}

struct Inner {
    directory: Directory,
    /// Download requests per thesis file id, the missing file's 404s included.
    downloads: HashMap<u64, u64>,
    /// Issued access tokens and when they expire.
    tokens: Vec<(String, Instant)>,
    /// Unseeded, so a restarted sandbox never re-issues an earlier token.
    token_rng: fastrand::Rng,
    reassessment_module: bool,
    reassessments: BTreeMap<u64, WiseflowReassessment>,
    explanations: Vec<WiseflowExplanation>,
    /// (flow id, participant id) → position in `explanations`.
    explanation_index: HashMap<(u64, u64), usize>,
    repeated_explanation_posts: u64,
    justification_shown: u64,
    failed_patches: u64,
    request_count: u64,
}

impl WiseflowState {
    /// A WISEflow whose flows are FS's exams: for every institution in `fs`
    /// whose exam system is `WISEFLOW`, every distinct `sisKode` in its appeal
    /// and explanation-request lists is one flow (ids from 1001 on, in order
    /// of first sight) and every `kandidatnr` seen for it one participant (ids
    /// from 50001 on). Credentials come from `options`; the reassessment
    /// module is licensed. Each WISEflow institution gets
    /// [`SandboxOptions::theses_per_institution`] master theses.
    pub fn new(options: &SandboxOptions, fs: Arc<FsState>) -> Self {
        let theses = Catalog::for_exam_system(options, &fs, System::Wiseflow);
        Self {
            api_key: Mutex::new(options.wiseflow_api_key.clone()),
            client_id: options.wiseflow_client_id.clone(),
            client_secret: options.wiseflow_client_secret.clone(),
            fs,
            gate: FaultGate::new(options.seed ^ 0x3f_10_e5),
            theses,
            inner: Mutex::new(Inner {
                directory: Directory::new(),
                downloads: HashMap::new(),
                tokens: Vec::new(),
                token_rng: fastrand::Rng::new(),
                reassessment_module: true,
                reassessments: BTreeMap::new(),
                explanations: Vec::new(),
                explanation_index: HashMap::new(),
                repeated_explanation_posts: 0,
                justification_shown: 0,
                failed_patches: 0,
                request_count: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("wiseflow state lock")
    }

    /// The state after taking in what FS holds now. FS is read before the
    /// lock is taken, so the two locks are never held together.
    fn synced(&self) -> MutexGuard<'_, Inner> {
        let sightings = directory::sightings(&self.fs);
        let mut inner = self.lock();
        inner.directory.observe(sightings, now_ms());
        inner
    }

    /// Replaces the active faults.
    pub fn set_faults(&self, faults: Faults) {
        self.gate.set(faults);
    }

    /// The active faults.
    pub fn faults(&self) -> Faults {
        self.gate.get()
    }

    /// Requests received on every non-admin route, including faulted ones.
    pub fn request_count(&self) -> u64 {
        self.lock().request_count
    }

    /// Licenses (`true`) or withdraws (`false`) the reassessment module;
    /// without it `POST /flow/{flowId}/reassessment` answers 403.
    pub fn set_reassessment_module(&self, enabled: bool) {
        self.lock().reassessment_module = enabled;
    }

    /// Whether the reassessment module is licensed.
    pub fn reassessment_module(&self) -> bool {
        self.lock().reassessment_module
    }

    /// Every flow derived from FS so far, by id.
    pub fn flows(&self) -> Vec<WiseflowFlow> {
        self.synced()
            .directory
            .flows()
            .map(|flow| WiseflowFlow {
                id: flow.id,
                sis_code: flow.sis_code.clone(),
                assessment_id: flow.assessment_id.clone(),
                participants: flow.participants.len(),
            })
            .collect()
    }

    /// Reassessment flows by the id of the flow they reassess.
    pub fn reassessments(&self) -> BTreeMap<u64, WiseflowReassessment> {
        self.lock().reassessments.clone()
    }

    /// Every explanation request, in order of creation.
    pub fn explanation_requests(&self) -> Vec<WiseflowExplanation> {
        self.lock().explanations.clone()
    }

    /// Explanation-request posts answered 200 because the request existed.
    pub fn repeated_explanation_posts(&self) -> u64 {
        self.lock().repeated_explanation_posts
    }

    /// Times `showJustification` changed from false to true, each of which
    /// e-mails the participant.
    pub fn justification_shown_count(&self) -> u64 {
        self.lock().justification_shown
    }

    /// `PATCH` requests (visibility changes) the caller may not have seen
    /// succeed: refused by a fault or otherwise not 2xx, answered late
    /// because a timeout fault held the answer back, or never answered
    /// because the caller went away first.
    pub fn failed_patches(&self) -> u64 {
        self.lock().failed_patches
    }

    /// Every master thesis on WISEflow, in generation order: by
    /// institution, then by position. Each has its flow, submission and
    /// participant ids and its files with their SHA-256s.
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

    /// Moves every explanation request whose state is below `to_state`
    /// (capped at 3, response accepted) up to it, as assessors would: the
    /// assign date is stamped from state 1 on, the accept date at state 3.
    /// Returns how many requests moved.
    pub fn advance_explanations(&self, to_state: u8) -> usize {
        let to_state = to_state.min(EXPLANATION_ACCEPTED);
        let now = now_ms();
        let mut inner = self.lock();
        let mut moved = 0;
        for explanation in inner.explanations.iter_mut().filter(|e| e.state < to_state) {
            explanation.state = to_state;
            explanation.assign_date_ms.get_or_insert(now);
            if to_state == EXPLANATION_ACCEPTED {
                explanation.accept_date_ms.get_or_insert(now);
            }
            moved += 1;
        }
        moved
    }

    fn gate(&self) -> &FaultGate {
        &self.gate
    }

    fn note_request(&self) {
        self.lock().request_count += 1;
    }

    fn note_failed_patch(&self) {
        self.lock().failed_patches += 1;
    }

    /// Whether `key` is the API key, in time that does not depend on where
    /// they differ.
    fn api_key_matches(&self, key: &str) -> bool {
        let expected = self.api_key.lock().expect("wiseflow api key lock").clone();
        constant_time_eq(key.as_bytes(), expected.as_bytes())
    }

    /// Rotates the licence's API key: from now on only `key` is accepted as `x-api-key`.
    pub fn set_api_key(&self, key: impl Into<String>) {
        *self.api_key.lock().expect("wiseflow api key lock") = key.into();
    }

    /// Issues an access token for the right client credentials.
    fn issue_token(&self, client_id: &str, client_secret: &str) -> Option<String> {
        let id_ok = constant_time_eq(client_id.as_bytes(), self.client_id.as_bytes());
        let secret_ok = constant_time_eq(client_secret.as_bytes(), self.client_secret.as_bytes());
        if !(id_ok & secret_ok) {
            return None;
        }
        let now = Instant::now();
        let mut inner = self.lock();
        let token: String = (0..40).map(|_| inner.token_rng.alphanumeric()).collect();
        inner.tokens.retain(|(_, expires)| *expires > now);
        inner.tokens.push((token.clone(), now + TOKEN_LIFETIME));
        Some(token)
    }

    /// Seconds an issued token stays valid.
    fn token_lifetime_secs(&self) -> u64 {
        TOKEN_LIFETIME.as_secs()
    }

    /// Whether `token` was issued and has not expired. Every live token is
    /// compared in full, in constant time.
    fn token_valid(&self, token: &str) -> bool {
        let now = Instant::now();
        self.lock()
            .tokens
            .iter()
            .filter(|(_, expires)| *expires > now)
            .fold(false, |found, (issued, _)| {
                found | constant_time_eq(token.as_bytes(), issued.as_bytes())
            })
    }

    /// Flows whose SIS code matches `pattern` (`*` parts match anything),
    /// each with its `purpose`: the flows derived from FS, then the thesis flows.
    fn flows_matching(&self, pattern: &str) -> Vec<(Flow, u8)> {
        // A thesis exam is one flow: an FS case about it (an appeal) is not a second one.
        let theses = self.thesis_flows();
        let mut flows: Vec<(Flow, u8)> = self
            .synced()
            .directory
            .flows()
            .filter(|flow| flow.matches(pattern))
            .filter(|flow| !theses.iter().any(|t| t.sis_code == flow.sis_code))
            .map(|flow| (flow.clone(), PURPOSE_EXAMINATION))
            .collect();
        flows.extend(
            theses
                .into_iter()
                .filter(|flow| flow.matches(pattern))
                .map(|flow| (flow, PURPOSE_MASTER)),
        );
        flows
    }

    /// One flow derived from FS.
    fn flow(&self, id: u64) -> Option<Flow> {
        self.synced().directory.flow(id).cloned()
    }

    /// One flow, a thesis flow included, with its `purpose`.
    fn any_flow(&self, id: u64) -> Option<(Flow, u8)> {
        match self.flow(id) {
            Some(flow) => Some((flow, PURPOSE_EXAMINATION)),
            None => self
                .thesis_flows()
                .into_iter()
                .find(|flow| flow.id == id)
                .map(|flow| (flow, PURPOSE_MASTER)),
        }
    }

    /// The flows of the master theses, by id. A thesis flow is one exam
    /// (SIS code). Its participants are the candidates who handed in on it.
    fn thesis_flows(&self) -> Vec<Flow> {
        let mut flows: BTreeMap<u64, Flow> = BTreeMap::new();
        for thesis in self.theses.entries() {
            let (Some(flow_id), Some(participant_id)) = (thesis.flow_id, thesis.participant_id)
            else {
                continue;
            };
            let flow = flows.entry(flow_id).or_insert_with(|| Flow {
                id: flow_id,
                sis_code: thesis.sis_code.clone(),
                assessment_id: thesis.assessment_id.clone(),
                created_ms: thesis.handed_in_ms - THESIS_FLOW_LEAD_MS,
                participants: Vec::new(),
            });
            flow.created_ms = flow
                .created_ms
                .min(thesis.handed_in_ms - THESIS_FLOW_LEAD_MS);
            flow.participants.push(participant_id);
        }
        flows.into_values().collect()
    }

    /// The master theses handed in within `[start_ms, end_ms]`, oldest first.
    fn theses_handed_in(&self, start_ms: i64, end_ms: i64) -> Vec<SandboxThesis> {
        let mut theses: Vec<SandboxThesis> = self
            .theses
            .entries()
            .iter()
            .filter(|t| (start_ms..=end_ms).contains(&t.handed_in_ms))
            .cloned()
            .collect();
        theses.sort_by_key(|t| (t.handed_in_ms, t.submission_id));
        theses
    }

    /// Whether a thesis has its grade now (WISEflow's `assessed`).
    fn graded(&self, thesis: &SandboxThesis) -> bool {
        self.theses.complete(thesis).graded_at.is_some()
    }

    /// The thesis handed in as `submission_id` on `flow_id`, with its
    /// SHA-256s, or why there is none.
    fn submission(&self, flow_id: u64, submission_id: u64) -> SubmissionLookup {
        let on_flow = self
            .theses
            .entries()
            .iter()
            .find(|t| t.flow_id == Some(flow_id) && t.submission_id == Some(submission_id));
        match on_flow {
            Some(thesis) => SubmissionLookup::Found(Box::new(self.theses.complete(thesis))),
            None if self.any_flow(flow_id).is_some() => SubmissionLookup::NotOnFlow,
            None => SubmissionLookup::UnknownFlow,
        }
    }

    /// The value standing in for a file link's pre-signed signature.
    fn file_signature(&self, file_id: u64) -> String {
        self.theses.signature(file_id)
    }

    /// Downloads a thesis file; a known id is counted, the missing one too.
    fn download(&self, file_id: u64) -> Download {
        if self.theses.knows_file(file_id) {
            *self.lock().downloads.entry(file_id).or_default() += 1;
        }
        self.theses.download(file_id)
    }

    /// The participants of a flow in order, or `None` for an unknown flow.
    fn participants(&self, flow_id: u64) -> Option<Vec<Participant>> {
        let inner = self.synced();
        let participants = inner.directory.participants_of(flow_id)?;
        Some(participants.into_iter().cloned().collect())
    }

    /// Creates the reassessment flow of `flow_id`, or finds the existing one.
    fn reassess(&self, flow_id: u64) -> ReassessmentOutcome {
        let thesis_flow = self.thesis_flows().iter().any(|flow| flow.id == flow_id);
        let mut inner = self.synced();
        if !inner.reassessment_module {
            return ReassessmentOutcome::NoModule;
        }
        if inner.directory.flow(flow_id).is_none() && !thesis_flow {
            return ReassessmentOutcome::UnknownFlow;
        }
        let next_id = FIRST_REASSESSMENT_ID + inner.reassessments.len() as u64;
        match inner.reassessments.get_mut(&flow_id) {
            Some(existing) => {
                existing.repeats += 1;
                ReassessmentOutcome::Existing(existing.reassessment_flow_id)
            }
            None => {
                inner.reassessments.insert(
                    flow_id,
                    WiseflowReassessment {
                        reassessment_flow_id: next_id,
                        creations: 1,
                        repeats: 0,
                    },
                );
                ReassessmentOutcome::Created(next_id)
            }
        }
    }

    /// Creates an explanation request for a participant of a flow, or finds
    /// the existing one (whose settings stay as they are).
    fn request_explanation(
        &self,
        flow_id: u64,
        participant_id: u64,
        due_date: Option<i64>,
        show_justification: bool,
    ) -> ExplanationOutcome {
        let mut inner = self.synced();
        if inner.directory.flow(flow_id).is_none() {
            return ExplanationOutcome::UnknownFlow;
        }
        let Some(candidate_number) = inner
            .directory
            .participant(participant_id)
            .filter(|p| p.flow_id == flow_id)
            .map(|p| p.candidate_number.clone())
        else {
            return ExplanationOutcome::NotAParticipant;
        };
        let inner = &mut *inner;
        if let Some(&position) = inner.explanation_index.get(&(flow_id, participant_id)) {
            let existing = &mut inner.explanations[position];
            existing.posts += 1;
            inner.repeated_explanation_posts += 1;
            return ExplanationOutcome::Existing(existing.id, existing.show_justification);
        }
        let id = FIRST_EXPLANATION_ID + inner.explanations.len() as u64;
        inner
            .explanation_index
            .insert((flow_id, participant_id), inner.explanations.len());
        inner.explanations.push(WiseflowExplanation {
            id,
            flow_id,
            participant_id,
            candidate_number,
            state: 0,
            show_justification,
            posts: 1,
            visibility_patches: 0,
            request_date_ms: now_ms(),
            assign_date_ms: None,
            accept_date_ms: None,
            due_date,
        });
        ExplanationOutcome::Created(id, show_justification)
    }

    /// The explanation requests of a flow with what rendering them needs,
    /// or `None` for an unknown flow.
    fn explanations_of(&self, flow_id: u64) -> Option<Vec<ExplanationView>> {
        let inner = self.synced();
        let flow = inner.directory.flow(flow_id)?;
        Some(
            inner
                .explanations
                .iter()
                .filter(|e| e.flow_id == flow_id)
                .map(|e| ExplanationView {
                    explanation: e.clone(),
                    flow: flow.clone(),
                    participant: inner.directory.participant(e.participant_id).cloned(),
                })
                .collect(),
        )
    }

    /// Sets whether the candidate sees the justification; `None` when the
    /// flow has no such request. Every accepted patch is counted on the
    /// request, a change from false to true also in total.
    fn set_show_justification(&self, flow_id: u64, explanation_id: u64, show: bool) -> Option<()> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let explanation = inner
            .explanations
            .iter_mut()
            .find(|e| e.id == explanation_id && e.flow_id == flow_id)?;
        if show && !explanation.show_justification {
            inner.justification_shown += 1;
        }
        explanation.show_justification = show;
        explanation.visibility_patches += 1;
        Some(())
    }
}

/// Whether `a` and `b` are equal, in time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

/// The current time in unix milliseconds, as WISEflow writes times.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Reassessment grades, for the thesis archive: whether a candidate's
/// reassessment after an appeal has been graded ([`crate::ThesisGrading`]).
impl WiseflowState {
    /// The grades given later, shared with Inspera's theses: grade an
    /// ungraded thesis or a candidate's reassessment through it.
    pub fn thesis_grading(&self) -> crate::ThesisGrading {
        self.theses.grading().clone()
    }

    /// The remarking (reassessment) flow of `flow_id`: `None` for an unknown flow, `Some(None)`
    /// while it has none.
    fn remarking_flow(&self, flow_id: u64) -> Option<Option<u64>> {
        self.any_flow(flow_id)?;
        Some(
            self.lock()
                .reassessments
                .get(&flow_id)
                .map(|r| r.reassessment_flow_id),
        )
    }

    /// The participants of a remarking flow, `(participant id, candidate number)`: every
    /// candidate of the flow it was made from, with ids of its own. `None` when no remarking
    /// flow has this id.
    fn remarking_participants(&self, remarking_flow_id: u64) -> Option<Vec<(u64, String)>> {
        let flow_id = self
            .lock()
            .reassessments
            .iter()
            .find(|(_, r)| r.reassessment_flow_id == remarking_flow_id)
            .map(|(flow_id, _)| *flow_id)?;
        let mut candidates: Vec<String> = self
            .theses
            .entries()
            .iter()
            .filter(|t| t.flow_id == Some(flow_id))
            .map(|t| t.candidate_number.clone())
            .collect();
        candidates.extend(
            self.participants(flow_id)
                .unwrap_or_default()
                .into_iter()
                .map(|p| p.candidate_number),
        );
        candidates.sort();
        candidates.dedup();
        Some(
            candidates
                .into_iter()
                .enumerate()
                .map(|(i, candidate)| (remarking_flow_id * 10_000 + i as u64 + 1, candidate))
                .collect(),
        )
    }

    /// When the reassessment of participant `participant_id` of a remarking flow was graded:
    /// `None` when the flow or participant is unknown, `Some(None)` while it is not graded.
    fn remarking_graded_at(
        &self,
        remarking_flow_id: u64,
        participant_id: u64,
    ) -> Option<Option<String>> {
        let (_, candidate) = self
            .remarking_participants(remarking_flow_id)?
            .into_iter()
            .find(|(id, _)| *id == participant_id)?;
        Some(self.theses.grading().reassessment_graded_at(&candidate))
    }
}
