//! Inspera's tests as derived from FS: one per distinct `vurdId` of an
//! institution that runs its exams in Inspera.

use std::collections::{BTreeSet, HashMap};

use crate::FsState;

/// The exam system name FS uses for Inspera.
const EXAM_SYSTEM: &str = "INSPERA";

/// A test as FS shows it.
pub(super) struct FsTest {
    /// The `vurdId`, verbatim.
    pub(super) external_test_id: String,
    /// Course code and term.
    pub(super) title: String,
    /// Every `kandidatnr` seen with the `vurdId`.
    pub(super) candidates: BTreeSet<String>,
}

/// Every test in the appeal and explanation-request lists of FS's Inspera
/// institutions, in order of first appearance (institutions in configured
/// order, appeals before explanation requests, each list in its order).
pub(super) fn tests_in_fs(fs: &FsState) -> Vec<FsTest> {
    let mut tests: Vec<FsTest> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut add = |assessment_id: &str, candidate: &str, course_code: &str, term: &str| {
        if assessment_id.is_empty() {
            return;
        }
        let position = *index.entry(assessment_id.to_owned()).or_insert_with(|| {
            tests.push(FsTest {
                external_test_id: assessment_id.to_owned(),
                title: title(assessment_id, course_code, term),
                candidates: BTreeSet::new(),
            });
            tests.len() - 1
        });
        if !candidate.is_empty() {
            tests[position].candidates.insert(candidate.to_owned());
        }
    };
    for institution in fs.institutions() {
        if !institution.exam_system.eq_ignore_ascii_case(EXAM_SYSTEM) {
            continue;
        }
        let number = &institution.institusjonsnr;
        for appeal in fs.appeals(number) {
            add(
                &appeal.assessment_id,
                &appeal.candidate_number,
                &appeal.course_code,
                &appeal.term,
            );
        }
        for request in fs.explanation_requests(number) {
            add(
                &request.assessment_id,
                &request.candidate_number,
                &request.course_code,
                &request.term,
            );
        }
    }
    tests
}

/// `<course code> <term>`, or the external id when FS names neither.
fn title(assessment_id: &str, course_code: &str, term: &str) -> String {
    let parts: Vec<&str> = [course_code, term]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect();
    if parts.is_empty() {
        assessment_id.to_owned()
    } else {
        parts.join(" ")
    }
}
