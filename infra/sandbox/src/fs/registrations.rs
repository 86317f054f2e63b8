//! What clients register per exam candidate: grades (`sensur`), attendance
//! (`oppmote`) and group ids (`gruppeid`), the latest value per
//! (`vurdId`, `kandidatnr`), with counts so tests can prove what a client did.
//!
//! The routes check a whole batch before any of it is stored (see
//! `exam_routes`); the functions here store batches that passed.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{CandidateKey, FsState};

/// A grade registered through `POST /eksamen/sensur/{examSystem}/registrer`:
/// the latest grade of one candidate of one exam.
///
/// FS stores any non-blank grade, also one outside the exam's grade scale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredGrade {
    /// The exam system from the path, upper-cased.
    pub exam_system: String,
    /// `vurdId`.
    pub assessment_id: String,
    /// `kandidatnr`.
    pub candidate_number: String,
    /// `karakter`: the latest grade registered, as sent.
    pub grade: String,
    /// How many times a grade was registered for this candidate, in
    /// accepted requests (first time, repeats and changes).
    pub registrations: u32,
    /// How many of those registrations changed the grade.
    pub changes: u32,
}

/// A candidate's attendance (`status` in `oppmote`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AttendanceStatus {
    /// `MOTT`: the candidate turned up.
    #[serde(rename = "MOTT")]
    Attended,
    /// `IKKE_MOTT`: the candidate did not turn up.
    #[serde(rename = "IKKE_MOTT")]
    Absent,
}

impl AttendanceStatus {
    /// The status named by FS's code, if it is one.
    pub(crate) fn from_code(code: &str) -> Option<Self> {
        match code {
            "MOTT" => Some(AttendanceStatus::Attended),
            "IKKE_MOTT" => Some(AttendanceStatus::Absent),
            _ => None,
        }
    }
}

/// Attendance registered through `POST /eksamen/oppmote/{examSystem}/registrer`:
/// the latest status of one candidate of one exam.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredAttendance {
    /// The exam system from the path, upper-cased.
    pub exam_system: String,
    /// `vurdId`.
    pub assessment_id: String,
    /// `kandidatnr`.
    pub candidate_number: String,
    /// The latest `status` registered.
    pub status: AttendanceStatus,
    /// How many times a status was registered for this candidate.
    pub registrations: u32,
}

/// A group id registered through `POST /eksamen/gruppeid/{examSystem}/registrer`:
/// the latest group of one candidate of one exam.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredGroupId {
    /// The exam system from the path, upper-cased.
    pub exam_system: String,
    /// `vurdId`.
    pub assessment_id: String,
    /// `kandidatnr`.
    pub candidate_number: String,
    /// The latest `gruppeid` registered, as sent.
    pub group_id: String,
    /// How many times a group id was registered for this candidate.
    pub registrations: u32,
}

/// What a grade batch did, per element.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct GradeCounts {
    /// First grade for the candidate.
    pub(crate) registered: usize,
    /// The same grade as registered before.
    pub(crate) unchanged: usize,
    /// A different grade, which replaced the one before.
    pub(crate) changed: usize,
}

/// Entries keyed by (`vurdId`, `kandidatnr`), in order of first registration.
pub(super) struct Ledger<T> {
    entries: Vec<T>,
    index: HashMap<CandidateKey, usize>,
}

impl<T> Default for Ledger<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<T: Clone> Ledger<T> {
    /// The entry of `key`, if registered.
    fn get_mut(&mut self, key: &CandidateKey) -> Option<&mut T> {
        let position = *self.index.get(key)?;
        self.entries.get_mut(position)
    }

    fn insert(&mut self, key: CandidateKey, entry: T) {
        self.index.insert(key, self.entries.len());
        self.entries.push(entry);
    }

    /// A copy of every entry.
    fn all(&self) -> Vec<T> {
        self.entries.clone()
    }
}

/// Everything registered per exam candidate.
#[derive(Default)]
pub(super) struct ExamRegistrations {
    grades: Ledger<RegisteredGrade>,
    attendance: Ledger<RegisteredAttendance>,
    group_ids: Ledger<RegisteredGroupId>,
    validations: u64,
}

impl FsState {
    /// Every registered grade, latest value per (`vurdId`, `kandidatnr`), in
    /// order of first registration.
    pub fn registered_grades(&self) -> Vec<RegisteredGrade> {
        self.lock().exam_registrations.grades.all()
    }

    /// Every registered attendance, latest status per (`vurdId`,
    /// `kandidatnr`), in order of first registration.
    pub fn attendance(&self) -> Vec<RegisteredAttendance> {
        self.lock().exam_registrations.attendance.all()
    }

    /// Every registered group id, latest value per (`vurdId`, `kandidatnr`),
    /// in order of first registration.
    pub fn group_ids(&self) -> Vec<RegisteredGroupId> {
        self.lock().exam_registrations.group_ids.all()
    }

    /// Grade batches checked through `POST /eksamen/sensur/{examSystem}/valider`
    /// (those answered 200, valid or not).
    pub fn validations(&self) -> u64 {
        self.lock().exam_registrations.validations
    }

    /// Counts a validation answered 200.
    pub(crate) fn note_validation(&self) {
        self.lock().exam_registrations.validations += 1;
    }

    /// Stores `(kandidatnr, karakter)` pairs of a checked batch, in order.
    pub(crate) fn register_grades(
        &self,
        exam_system: &str,
        assessment_id: &str,
        grades: Vec<(String, String)>,
    ) -> GradeCounts {
        let mut counts = GradeCounts::default();
        let mut inner = self.lock();
        let ledger = &mut inner.exam_registrations.grades;
        for (candidate_number, grade) in grades {
            let key = (assessment_id.to_owned(), candidate_number);
            match ledger.get_mut(&key) {
                Some(entry) => {
                    entry.registrations += 1;
                    if entry.grade == grade {
                        counts.unchanged += 1;
                    } else {
                        entry.grade = grade;
                        entry.changes += 1;
                        counts.changed += 1;
                    }
                }
                None => {
                    counts.registered += 1;
                    let entry = RegisteredGrade {
                        exam_system: exam_system.to_ascii_uppercase(),
                        assessment_id: assessment_id.to_owned(),
                        candidate_number: key.1.clone(),
                        grade,
                        registrations: 1,
                        changes: 0,
                    };
                    ledger.insert(key, entry);
                }
            }
        }
        counts
    }

    /// Stores `(kandidatnr, status)` pairs of a checked batch, in order;
    /// returns how many.
    pub(crate) fn register_attendance(
        &self,
        exam_system: &str,
        assessment_id: &str,
        statuses: Vec<(String, AttendanceStatus)>,
    ) -> usize {
        let count = statuses.len();
        let mut inner = self.lock();
        let ledger = &mut inner.exam_registrations.attendance;
        for (candidate_number, status) in statuses {
            let key = (assessment_id.to_owned(), candidate_number);
            match ledger.get_mut(&key) {
                Some(entry) => {
                    entry.status = status;
                    entry.registrations += 1;
                }
                None => {
                    let entry = RegisteredAttendance {
                        exam_system: exam_system.to_ascii_uppercase(),
                        assessment_id: assessment_id.to_owned(),
                        candidate_number: key.1.clone(),
                        status,
                        registrations: 1,
                    };
                    ledger.insert(key, entry);
                }
            }
        }
        count
    }

    /// Stores `(kandidatnr, gruppeid)` pairs of a checked batch, in order;
    /// returns how many.
    pub(crate) fn register_group_ids(
        &self,
        exam_system: &str,
        assessment_id: &str,
        group_ids: Vec<(String, String)>,
    ) -> usize {
        let count = group_ids.len();
        let mut inner = self.lock();
        let ledger = &mut inner.exam_registrations.group_ids;
        for (candidate_number, group_id) in group_ids {
            let key = (assessment_id.to_owned(), candidate_number);
            match ledger.get_mut(&key) {
                Some(entry) => {
                    entry.group_id = group_id;
                    entry.registrations += 1;
                }
                None => {
                    let entry = RegisteredGroupId {
                        exam_system: exam_system.to_ascii_uppercase(),
                        assessment_id: assessment_id.to_owned(),
                        candidate_number: key.1.clone(),
                        group_id,
                        registrations: 1,
                    };
                    ledger.insert(key, entry);
                }
            }
        }
        count
    }
}
