//! The simulated FS DigEks exam API: appeals ("klager") and explanation
//! requests ("begrunnelser") per institution and exam system, and the
//! registration of explanations and appeal decisions ("vedtak"); and the
//! exams themselves (`eksamen`), with their candidates, and the registration
//! of grades (`sensur`), attendance (`oppmote`) and group ids (`gruppeid`).
//!
//! The appeal and explanation-request lists are change logs: a change is a new
//! element, never an edit of an earlier one (a withdrawn appeal appears once
//! as `AKTIV` and again, later, as `TRUKKET`). Registrations are idempotent per
//! (`vurdId`, `kandidatnr`), and repeats are counted so tests can prove what a
//! client did. All personal data is generated and obviously synthetic.

mod auth;
mod base64;
mod data;
mod exam_routes;
mod exams;
mod registrations;
mod routes;
mod time;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::faults::{FaultGate, Faults};
use crate::SandboxOptions;

pub use exams::{FsCandidate, FsExam, FsGradeScale};
pub use registrations::{
    AttendanceStatus, RegisteredAttendance, RegisteredGrade, RegisteredGroupId,
};
pub(crate) use routes::router;

/// One institution FS serves, and the exam system its exams run in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsInstitution {
    /// FS's institution number, e.g. `185`.
    pub institusjonsnr: String,
    /// The exam system whose name appears in the API paths, e.g. `INSPERA`.
    pub exam_system: String,
}

impl FsInstitution {
    /// An institution that runs its exams in `exam_system`.
    pub fn new(institusjonsnr: &str, exam_system: &str) -> Self {
        Self {
            institusjonsnr: institusjonsnr.to_owned(),
            exam_system: exam_system.to_owned(),
        }
    }
}

/// The state an appeal change reports (`klagestatus`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AppealStatus {
    /// `AKTIV`: the appeal stands.
    #[default]
    #[serde(rename = "AKTIV")]
    Active,
    /// `TRUKKET`: the candidate withdrew the appeal.
    #[serde(rename = "TRUKKET")]
    Withdrawn,
}

/// The outcome of an appeal (`vedtak`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Decision {
    /// `OPPRETTHOLDT`: the original grade stands.
    #[serde(rename = "OPPRETTHOLDT")]
    Upheld,
    /// `ENDRET`: a new grade was given.
    #[serde(rename = "ENDRET")]
    Changed,
}

impl Decision {
    /// The decision named by FS's code, if it is one.
    fn from_code(code: &str) -> Option<Self> {
        match code {
            "OPPRETTHOLDT" => Some(Decision::Upheld),
            "ENDRET" => Some(Decision::Changed),
            _ => None,
        }
    }
}

/// One element of an institution's appeal change list, as FS serves it.
///
/// Missing fields in JSON take their defaults, so tests can append partial
/// appeals through `POST /_sandbox/klager`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FsAppeal {
    /// `vurdId`: opaque id of the assessment the appeal concerns.
    #[serde(rename = "vurdId")]
    pub assessment_id: String,
    /// `kandidatnr`: the candidate number (5–6 digits).
    #[serde(rename = "kandidatnr")]
    pub candidate_number: String,
    /// `personlopenr`: FS's person number (7 digits).
    #[serde(rename = "personlopenr")]
    pub person_number: String,
    /// `brukernavn`: the student's user name.
    #[serde(rename = "brukernavn")]
    pub username: String,
    /// `fornavn`.
    #[serde(rename = "fornavn")]
    pub first_name: String,
    /// `etternavn`.
    #[serde(rename = "etternavn")]
    pub last_name: String,
    /// `epost`.
    #[serde(rename = "epost")]
    pub email: String,
    /// `klagestatus`: `AKTIV` or `TRUKKET`.
    #[serde(rename = "klagestatus")]
    pub status: AppealStatus,
    /// `sensurfrist`: deadline for the new grading, `yyyy-MM-dd`.
    #[serde(rename = "sensurfrist")]
    pub grading_deadline: String,
    /// `kommisjonsidOppr`: the committee that graded originally.
    #[serde(rename = "kommisjonsidOppr")]
    pub original_committee_id: String,
    /// `kommisjonsidNy`: the committee that grades the appeal, once assigned.
    #[serde(rename = "kommisjonsidNy")]
    pub new_committee_id: Option<String>,
    /// `institusjonsnr`.
    #[serde(rename = "institusjonsnr")]
    pub institution: String,
    /// `emnekode`: the course code, e.g. `EXPHIL03`.
    #[serde(rename = "emnekode")]
    pub course_code: String,
    /// `versjonskode`: the course version.
    #[serde(rename = "versjonskode")]
    pub course_version: String,
    /// `vurderingsordning`: the form of assessment.
    #[serde(rename = "vurderingsordning")]
    pub assessment_form: String,
    /// `tid`: the term, e.g. `2026 HØST`.
    #[serde(rename = "tid")]
    pub term: String,
    /// `sisKode`: `<course name>||<course code>||<term>||<year>`.
    #[serde(rename = "sisKode")]
    pub sis_code: String,
    /// `endretDato`: when this change was made, `yyyy-MM-ddTHH:mm:ss` (UTC).
    #[serde(rename = "endretDato")]
    pub changed_at: String,
}

/// One element of an institution's explanation-request change list: a
/// candidate asked for the grounds of a grade.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FsExplanationRequest {
    /// `vurdId`: opaque id of the assessment.
    #[serde(rename = "vurdId")]
    pub assessment_id: String,
    /// `kandidatnr`.
    #[serde(rename = "kandidatnr")]
    pub candidate_number: String,
    /// `personlopenr`.
    #[serde(rename = "personlopenr")]
    pub person_number: String,
    /// `brukernavn`.
    #[serde(rename = "brukernavn")]
    pub username: String,
    /// `fornavn`.
    #[serde(rename = "fornavn")]
    pub first_name: String,
    /// `etternavn`.
    #[serde(rename = "etternavn")]
    pub last_name: String,
    /// `epost`.
    #[serde(rename = "epost")]
    pub email: String,
    /// `datoBedtOm`: when the candidate asked, `yyyy-MM-ddTHH:mm:ss` (UTC).
    #[serde(rename = "datoBedtOm")]
    pub requested_at: String,
    /// `institusjonsnr`.
    #[serde(rename = "institusjonsnr")]
    pub institution: String,
    /// `emnekode`.
    #[serde(rename = "emnekode")]
    pub course_code: String,
    /// `tid`.
    #[serde(rename = "tid")]
    pub term: String,
    /// `sisKode`.
    #[serde(rename = "sisKode")]
    pub sis_code: String,
    /// `endretDato`: when this change was made, `yyyy-MM-ddTHH:mm:ss` (UTC).
    #[serde(rename = "endretDato")]
    pub changed_at: String,
}

/// An explanation registered through `POST /eksamen/begrunnelser/{examSystem}`,
/// as first received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredExplanation {
    /// The exam system from the path, upper-cased.
    pub exam_system: String,
    /// `vurdId`.
    pub assessment_id: String,
    /// `kandidatnr`.
    pub candidate_number: String,
    /// `urlBegrunnelse`, when the explanation was given as a link.
    pub url: Option<String>,
    /// The decoded `dokumentBegrunnelse`, when it was given as a document.
    pub document: Option<Vec<u8>>,
    /// `contentTypeBegrunnelse`.
    pub content_type: Option<String>,
    /// `datoBegrunnelseBedtOm`, as sent.
    pub requested_at: String,
    /// `datoBegrunnelseGitt`, as sent.
    pub given_at: String,
    /// How many times it was posted (accepted requests only).
    pub count: u32,
}

/// An appeal decision registered through `POST /eksamen/vedtak/{examSystem}`,
/// as first received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredDecision {
    /// The exam system from the path, upper-cased.
    pub exam_system: String,
    /// `vurdId`.
    pub assessment_id: String,
    /// `kandidatnr`.
    pub candidate_number: String,
    /// `vedtak`.
    pub decision: Decision,
    /// `nyKarakter`, required when the decision is [`Decision::Changed`].
    pub new_grade: Option<String>,
    /// `dato`, as sent.
    pub date: String,
    /// Whether the appeal's latest change was `TRUKKET` when the decision
    /// first arrived.
    pub withdrawn: bool,
    /// How many times it was posted (accepted requests only).
    pub count: u32,
}

/// Outcome of an accepted registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Registration {
    /// First time for this (`vurdId`, `kandidatnr`): `201 registrert`.
    Registered,
    /// A repeat: `200 uendret`, counted as a duplicate.
    Unchanged,
}

/// Shared, inspectable state of the simulated FS; thread-safe.
pub struct FsState {
    username: String,
    /// The API user's password accepted now ([`FsState::set_password`] rotates it).
    password: Mutex<String>,
    institutions: Vec<FsInstitution>,
    /// The seeded exams, each with only its extra candidates.
    exam_catalog: Vec<exams::FsExam>,
    gate: FaultGate,
    inner: Mutex<Inner>,
}

/// (`vurdId`, `kandidatnr`): what registrations are idempotent on.
type CandidateKey = (String, String);

struct Inner {
    /// Appeal change lists by institution, each sorted by `endretDato`.
    appeals: BTreeMap<String, Vec<FsAppeal>>,
    /// Explanation-request change lists by institution, sorted by `endretDato`.
    explanation_requests: BTreeMap<String, Vec<FsExplanationRequest>>,
    explanations: Vec<RegisteredExplanation>,
    explanation_index: HashMap<CandidateKey, usize>,
    decisions: Vec<RegisteredDecision>,
    decision_index: HashMap<CandidateKey, usize>,
    duplicate_registrations: u64,
    late_registration_answers: u64,
    /// Exams (`vurdId`) whose info is answered without `karakterskala`.
    exams_without_scale: std::collections::HashSet<String>,
    exam_registrations: registrations::ExamRegistrations,
    request_count: u64,
}

impl FsState {
    /// Seeds appeals and explanation requests for every configured
    /// institution, with change times spread over the two days before `now`,
    /// and then the exams of the term.
    pub(crate) fn new(options: &SandboxOptions, now: DateTime<Utc>) -> Self {
        let now = now.trunc_subsecs(0);
        let mut seeded = data::seed(
            &options.institutions,
            options.appeals_per_institution,
            options.explanations_per_institution,
            options.seed,
            now,
        );
        let exam_catalog = exams::seed(
            &options.institutions,
            &mut seeded.people,
            options.seed,
            &data::Term::of(now),
        );
        Self {
            username: options.fs_username.clone(),
            password: Mutex::new(options.fs_password.clone()),
            institutions: options.institutions.clone(),
            exam_catalog,
            gate: FaultGate::new(options.seed ^ 0xf5_d1_9e_c5),
            inner: Mutex::new(Inner {
                appeals: seeded.appeals,
                explanation_requests: seeded.explanation_requests,
                explanations: Vec::new(),
                explanation_index: HashMap::new(),
                decisions: Vec::new(),
                decision_index: HashMap::new(),
                duplicate_registrations: 0,
                late_registration_answers: 0,
                exams_without_scale: std::collections::HashSet::new(),
                exam_registrations: Default::default(),
                request_count: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("fs state lock")
    }

    /// From now on FS answers the exam's info without `karakterskala`, as FS does for an exam
    /// that has no grade scale set (or would if it named the scale otherwise).
    pub fn drop_grade_scale(&self, assessment_id: &str) {
        self.lock()
            .exams_without_scale
            .insert(assessment_id.to_owned());
    }

    /// Whether the exam's info is answered without its grade scale.
    pub(crate) fn has_no_grade_scale(&self, assessment_id: &str) -> bool {
        self.lock().exams_without_scale.contains(assessment_id)
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

    /// Rotates the API user's password: from now on only `password` is accepted.
    pub fn set_password(&self, password: impl Into<String>) {
        *self.password.lock().expect("fs password lock") = password.into();
    }

    /// The institutions this FS serves, as configured.
    pub fn institutions(&self) -> Vec<FsInstitution> {
        self.institutions.clone()
    }

    /// The appeal change list of one institution, sorted by `endretDato`
    /// (empty for an unknown institution).
    pub fn appeals(&self, institusjonsnr: &str) -> Vec<FsAppeal> {
        self.lock()
            .appeals
            .get(institusjonsnr)
            .cloned()
            .unwrap_or_default()
    }

    /// The explanation-request change list of one institution, sorted by
    /// `endretDato` (empty for an unknown institution).
    pub fn explanation_requests(&self, institusjonsnr: &str) -> Vec<FsExplanationRequest> {
        self.lock()
            .explanation_requests
            .get(institusjonsnr)
            .cloned()
            .unwrap_or_default()
    }

    /// Every registered explanation, in order of first registration.
    pub fn registered_explanations(&self) -> Vec<RegisteredExplanation> {
        self.lock().explanations.clone()
    }

    /// Every registered appeal decision, in order of first registration.
    pub fn registered_decisions(&self) -> Vec<RegisteredDecision> {
        self.lock().decisions.clone()
    }

    /// Explanation and decision posts answered `uendret` because the
    /// (`vurdId`, `kandidatnr`) was already registered.
    pub fn duplicate_registrations(&self) -> u64 {
        self.lock().duplicate_registrations
    }

    /// Explanation and decision posts whose answer the caller may never have
    /// had: held back by a timeout fault, or never sent because the caller
    /// went away first (timed out, or its process was killed). Each may make
    /// the caller post again, and only those (and a caller killed after its
    /// answer came) explain a [`duplicate_registrations`](Self::duplicate_registrations).
    pub fn late_registration_answers(&self) -> u64 {
        self.lock().late_registration_answers
    }

    /// Adds a change to the appeal list of `appeal.institution`, at its place
    /// by `endretDato`, and returns it as stored. An `endretDato` that is not
    /// `yyyy-MM-ddTHH:mm:ss` (e.g. empty) becomes the current time. Changes
    /// of an institution missing from [`SandboxOptions::institutions`] are
    /// kept but never served.
    pub fn append_appeal(&self, mut appeal: FsAppeal) -> FsAppeal {
        if time::parse_timestamp(&appeal.changed_at).is_none() {
            appeal.changed_at = time::format_timestamp(Utc::now());
        }
        let mut inner = self.lock();
        let list = inner.appeals.entry(appeal.institution.clone()).or_default();
        let at = list.partition_point(|a| a.changed_at <= appeal.changed_at);
        list.insert(at, appeal.clone());
        appeal
    }

    /// Every `personlopenr`, `brukernavn`, `fornavn`, `etternavn` and `epost`
    /// value in the appeal and explanation-request lists (seeded or
    /// appended) and of every exam candidate, sorted and without repeats, so
    /// tests can prove that none of them leaks into logs.
    pub fn personal_data(&self) -> Vec<String> {
        let inner = self.lock();
        let appeals = inner.appeals.values().flatten().map(|a| {
            [
                &a.person_number,
                &a.username,
                &a.first_name,
                &a.last_name,
                &a.email,
            ]
        });
        let requests = inner.explanation_requests.values().flatten().map(|r| {
            [
                &r.person_number,
                &r.username,
                &r.first_name,
                &r.last_name,
                &r.email,
            ]
        });
        appeals
            .chain(requests)
            .flatten()
            .chain(self.extra_candidates_personal_data())
            .filter(|value| !value.is_empty())
            .cloned()
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect()
    }

    pub(crate) fn gate(&self) -> &FaultGate {
        &self.gate
    }

    pub(crate) fn note_request(&self) {
        self.lock().request_count += 1;
    }

    pub(crate) fn note_late_registration_answer(&self) {
        self.lock().late_registration_answers += 1;
    }

    /// Checks HTTP Basic credentials without revealing, through timing, how
    /// much of them was right.
    pub(crate) fn credentials_match(&self, username: &str, password: &str) -> bool {
        let user_ok = auth::constant_time_eq(username.as_bytes(), self.username.as_bytes());
        let expected = self.password.lock().expect("fs password lock").clone();
        let password_ok = auth::constant_time_eq(password.as_bytes(), expected.as_bytes());
        user_ok & password_ok
    }

    /// Whether `institusjonsnr` is one of the configured institutions.
    pub(crate) fn knows_institution(&self, institusjonsnr: &str) -> bool {
        self.institution(institusjonsnr).is_some()
    }

    fn institution(&self, institusjonsnr: &str) -> Option<&FsInstitution> {
        self.institutions
            .iter()
            .find(|i| i.institusjonsnr == institusjonsnr)
    }

    /// Institutions whose exam system is `exam_system` (case-insensitive).
    fn institutions_using<'a>(&'a self, exam_system: &'a str) -> impl Iterator<Item = &'a str> {
        self.institutions
            .iter()
            .filter(move |i| i.exam_system.eq_ignore_ascii_case(exam_system))
            .map(|i| i.institusjonsnr.as_str())
    }

    /// Whether institution `institusjonsnr` runs its exams in `exam_system`.
    fn uses(&self, institusjonsnr: &str, exam_system: &str) -> bool {
        self.institution(institusjonsnr)
            .is_some_and(|i| i.exam_system.eq_ignore_ascii_case(exam_system))
    }

    /// Appeal changes of one institution in `exam_system` changed at or after `since`.
    pub(crate) fn appeals_since(
        &self,
        exam_system: &str,
        institusjonsnr: &str,
        since: NaiveDateTime,
    ) -> Vec<FsAppeal> {
        if !self.uses(institusjonsnr, exam_system) {
            return Vec::new();
        }
        self.lock()
            .appeals
            .get(institusjonsnr)
            .map(|list| changed_since(list, since, |a| &a.changed_at))
            .unwrap_or_default()
    }

    /// Explanation-request changes of one institution in `exam_system`
    /// changed at or after `since`.
    pub(crate) fn explanation_requests_since(
        &self,
        exam_system: &str,
        institusjonsnr: &str,
        since: NaiveDateTime,
    ) -> Vec<FsExplanationRequest> {
        if !self.uses(institusjonsnr, exam_system) {
            return Vec::new();
        }
        self.lock()
            .explanation_requests
            .get(institusjonsnr)
            .map(|list| changed_since(list, since, |r| &r.changed_at))
            .unwrap_or_default()
    }

    /// Registers an explanation for a known explanation request of
    /// `exam_system`; `None` if there is no such request.
    pub(crate) fn register_explanation(
        &self,
        explanation: RegisteredExplanation,
    ) -> Option<Registration> {
        let key = (
            explanation.assessment_id.clone(),
            explanation.candidate_number.clone(),
        );
        let mut inner = self.lock();
        let known = self.institutions_using(&explanation.exam_system).any(|i| {
            inner.explanation_requests.get(i).is_some_and(|list| {
                list.iter()
                    .any(|r| r.assessment_id == key.0 && r.candidate_number == key.1)
            })
        });
        if !known {
            return None;
        }
        let Inner {
            explanations,
            explanation_index,
            duplicate_registrations,
            ..
        } = &mut *inner;
        Some(register(
            explanations,
            explanation_index,
            duplicate_registrations,
            key,
            explanation,
            |e| &mut e.count,
        ))
    }

    /// Registers a decision for a known appeal of `exam_system`; `None` if
    /// there is no such appeal.
    pub(crate) fn register_decision(
        &self,
        mut decision: RegisteredDecision,
    ) -> Option<Registration> {
        let key = (
            decision.assessment_id.clone(),
            decision.candidate_number.clone(),
        );
        let mut inner = self.lock();
        let latest = self
            .institutions_using(&decision.exam_system)
            .filter_map(|i| inner.appeals.get(i))
            .flat_map(|list| list.iter().rev())
            .find(|a| a.assessment_id == key.0 && a.candidate_number == key.1)?;
        decision.withdrawn = latest.status == AppealStatus::Withdrawn;
        let Inner {
            decisions,
            decision_index,
            duplicate_registrations,
            ..
        } = &mut *inner;
        Some(register(
            decisions,
            decision_index,
            duplicate_registrations,
            key,
            decision,
            |d| &mut d.count,
        ))
    }
}

/// Whether `text` is an `endretDato`-style timestamp, `yyyy-MM-ddTHH:mm:ss`.
pub(crate) fn is_timestamp(text: &str) -> bool {
    time::parse_timestamp(text).is_some()
}

/// The changes of a list, in list order, made at or after `since`.
fn changed_since<T: Clone>(
    list: &[T],
    since: NaiveDateTime,
    changed_at: impl Fn(&T) -> &String,
) -> Vec<T> {
    list.iter()
        .filter(|item| time::parse_timestamp(changed_at(item)).is_some_and(|at| at >= since))
        .cloned()
        .collect()
}

/// Stores `entry` the first time `key` is seen; afterwards only counts it.
fn register<T>(
    entries: &mut Vec<T>,
    index: &mut HashMap<CandidateKey, usize>,
    duplicates: &mut u64,
    key: CandidateKey,
    mut entry: T,
    count: impl Fn(&mut T) -> &mut u32,
) -> Registration {
    match index.get(&key) {
        Some(&position) => {
            *count(&mut entries[position]) += 1;
            *duplicates += 1;
            Registration::Unchanged
        }
        None => {
            *count(&mut entry) = 1;
            index.insert(key, entries.len());
            entries.push(entry);
            Registration::Registered
        }
    }
}
