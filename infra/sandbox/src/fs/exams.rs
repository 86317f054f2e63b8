//! The exams FS knows: one per seeded course and institution, with its
//! schedule, grade scale, permitted aids (`hjelpemidler`) and candidates.
//!
//! Everything here follows from the seed and the term. An exam's candidates
//! are everyone who appears in its appeals or explanation requests plus
//! [`EXTRA_CANDIDATES_PER_EXAM`] more. The extra ones are drawn from their own
//! random stream after the appeal and explanation-request lists are seeded,
//! with the same [`People`] generator, so those lists are unchanged by the
//! exams and every candidate number in FS stays distinct.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::data::{Exam, People, Person, Term, COURSES, COURSE_VERSION};
use super::{time, FsAppeal, FsExplanationRequest, FsInstitution, FsState, Inner};

/// Seeded candidates per exam besides those who appealed or asked for an
/// explanation.
pub(crate) const EXTRA_CANDIDATES_PER_EXAM: usize = 20;
/// Mixed into the seed for the extra candidates' random stream.
const CANDIDATE_STREAM: u64 = 0xe8_a3_5c_4d;
/// Days from the end of an exam until its grades are due (`sensurfrist`).
const GRADING_DAYS: i64 = 21;
/// Days from the grading deadline until the appeal deadline (`klagefrist`).
const APPEAL_DAYS: i64 = 21;
/// When every exam starts.
const START_HOUR: u32 = 9;
/// When exams that last for days are handed in, on their last day.
const HAND_IN_HOUR: u32 = 14;

/// A grade scale (`karakterskala`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsGradeScale {
    /// `kode`: `A-F` or `BESTATT`.
    #[serde(rename = "kode")]
    pub code: String,
    /// `karakterer`: the grades of the scale, best first.
    #[serde(rename = "karakterer")]
    pub grades: Vec<String>,
}

/// One candidate of an exam (`kandidater[]` of the exam detail).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsCandidate {
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
}

impl FsCandidate {
    fn from_person(person: Person) -> Self {
        Self {
            candidate_number: person.candidate_number,
            person_number: person.person_number,
            username: person.username,
            first_name: person.first_name.to_owned(),
            last_name: person.last_name.to_owned(),
            email: person.email,
        }
    }

    fn from_appeal(appeal: &FsAppeal) -> Self {
        Self {
            candidate_number: appeal.candidate_number.clone(),
            person_number: appeal.person_number.clone(),
            username: appeal.username.clone(),
            first_name: appeal.first_name.clone(),
            last_name: appeal.last_name.clone(),
            email: appeal.email.clone(),
        }
    }

    fn from_request(request: &FsExplanationRequest) -> Self {
        Self {
            candidate_number: request.candidate_number.clone(),
            person_number: request.person_number.clone(),
            username: request.username.clone(),
            first_name: request.first_name.clone(),
            last_name: request.last_name.clone(),
            email: request.email.clone(),
        }
    }
}

/// An exam as FS serves it. Serialized, it is the exam detail of
/// `GET /eksamen/{examSystem}/{vurdId}`; the summaries of the exam lists are
/// the same object without `kandidater`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsExam {
    /// `vurdId`: the same opaque id the exam's appeals use.
    #[serde(rename = "vurdId")]
    pub assessment_id: String,
    /// `institusjonsnr`.
    #[serde(rename = "institusjonsnr")]
    pub institution: String,
    /// `eksamenssystem`: the institution's exam system, as configured.
    #[serde(rename = "eksamenssystem")]
    pub exam_system: String,
    /// `emnekode`, e.g. `INF100`.
    #[serde(rename = "emnekode")]
    pub course_code: String,
    /// `versjonskode`.
    #[serde(rename = "versjonskode")]
    pub course_version: String,
    /// `emnetittel`.
    #[serde(rename = "emnetittel")]
    pub course_name: String,
    /// `vurderingsordning`: the form of assessment.
    #[serde(rename = "vurderingsordning")]
    pub assessment_form: String,
    /// `tid`: the term, e.g. `2026 HØST`.
    #[serde(rename = "tid")]
    pub term: String,
    /// `datoEksamenFra`: `yyyy-MM-ddTHH:mm:ss`.
    #[serde(rename = "datoEksamenFra")]
    pub starts_at: String,
    /// `datoEksamenTil`: `yyyy-MM-ddTHH:mm:ss`.
    #[serde(rename = "datoEksamenTil")]
    pub ends_at: String,
    /// `sensurfrist`: when grades are due, `yyyy-MM-dd`.
    #[serde(rename = "sensurfrist")]
    pub grading_deadline: String,
    /// `klagefrist`: the last day to appeal, `yyyy-MM-dd`.
    #[serde(rename = "klagefrist")]
    pub appeal_deadline: String,
    /// `karakterskala`.
    #[serde(rename = "karakterskala")]
    pub grade_scale: FsGradeScale,
    /// `hjelpemidler`: codes of the permitted aids, `A` to `E`; never empty.
    #[serde(rename = "hjelpemidler")]
    pub aids: Vec<String>,
    /// `kandidater`: every candidate, sorted by `kandidatnr` (as text).
    #[serde(rename = "kandidater", default)]
    pub candidates: Vec<FsCandidate>,
}

/// The grade scales FS grades seeded exams on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scale {
    /// `A-F`.
    Letters,
    /// `BESTATT`: pass or fail.
    PassFail,
}

impl Scale {
    fn grade_scale(self) -> FsGradeScale {
        let (code, grades): (&str, &[&str]) = match self {
            Scale::Letters => ("A-F", &["A", "B", "C", "D", "E", "F"]),
            Scale::PassFail => ("BESTATT", &["BESTÅTT", "IKKE BESTÅTT"]),
        };
        FsGradeScale {
            code: code.to_owned(),
            grades: grades.iter().map(|&grade| grade.to_owned()).collect(),
        }
    }
}

/// How long an exam lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Length {
    /// A school exam of this many hours.
    Hours(i64),
    /// A home exam or portfolio handed in this many days after it starts.
    Days(i64),
}

/// How a course's exam is run.
struct Plan {
    course_code: &'static str,
    scale: Scale,
    aids: &'static [&'static str],
    length: Length,
}

/// One plan per course of [`COURSES`]; each aid code `A`–`E` is used.
const PLANS: [Plan; 10] = [
    Plan {
        course_code: "EXPHIL03",
        scale: Scale::PassFail,
        aids: &["E"],
        length: Length::Hours(4),
    },
    Plan {
        course_code: "INF100",
        scale: Scale::Letters,
        aids: &["A"],
        length: Length::Hours(4),
    },
    Plan {
        course_code: "MAT111",
        scale: Scale::Letters,
        aids: &["B", "C"],
        length: Length::Hours(5),
    },
    Plan {
        course_code: "ECON110",
        scale: Scale::Letters,
        aids: &["A"],
        length: Length::Days(3),
    },
    Plan {
        course_code: "JUS121",
        scale: Scale::Letters,
        aids: &["C", "D"],
        length: Length::Hours(6),
    },
    Plan {
        course_code: "PSYK100",
        scale: Scale::Letters,
        aids: &["E"],
        length: Length::Hours(4),
    },
    Plan {
        course_code: "KJEM110",
        scale: Scale::Letters,
        aids: &["B", "D"],
        length: Length::Hours(4),
    },
    Plan {
        course_code: "BIO101",
        scale: Scale::Letters,
        aids: &["E"],
        length: Length::Hours(3),
    },
    Plan {
        course_code: "HIS112",
        scale: Scale::Letters,
        aids: &["A"],
        length: Length::Days(7),
    },
    Plan {
        course_code: "SOS100",
        scale: Scale::PassFail,
        aids: &["A"],
        length: Length::Days(14),
    },
];

/// The plan of a course; a four-hour letter-graded exam with all aids for
/// a course without one (a unit test proves every seeded course has one).
fn plan_of(course_code: &str) -> &'static Plan {
    const FALLBACK: Plan = Plan {
        course_code: "",
        scale: Scale::Letters,
        aids: &["A"],
        length: Length::Hours(4),
    };
    PLANS
        .iter()
        .find(|plan| plan.course_code == course_code)
        .unwrap_or(&FALLBACK)
}

/// The first exam day of the term: 11 May in spring, 30 November in autumn.
/// The seeded courses then have one exam day each, in course order.
fn first_exam_day(term: &Term) -> NaiveDate {
    let (month, day) = if term.season == "VÅR" {
        (5, 11)
    } else {
        (11, 30)
    };
    NaiveDate::from_ymd_opt(term.year, month, day).unwrap_or_default()
}

fn format(at: NaiveDateTime) -> String {
    time::format_timestamp(at.and_utc())
}

/// Every institution's exams, in institution and course order, each with
/// its [`EXTRA_CANDIDATES_PER_EXAM`] extra candidates (sorted by
/// `kandidatnr`). `people` must be the generator that seeded the appeal and
/// explanation-request lists. A repeated institution number is seeded once,
/// with the exam system of its first occurrence.
pub(super) fn seed(
    institutions: &[FsInstitution],
    people: &mut People,
    seed: u64,
    term: &Term,
) -> Vec<FsExam> {
    let mut rng = fastrand::Rng::with_seed(seed ^ CANDIDATE_STREAM);
    let first_day = first_exam_day(term);
    let mut exams: Vec<FsExam> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for institution in institutions {
        let number = institution.institusjonsnr.as_str();
        if seen.contains(&number) {
            continue;
        }
        seen.push(number);
        for (day, course) in (0..).zip(COURSES.iter()) {
            let plan = plan_of(course.code);
            let exam = Exam::new(number, course, term);
            let date = first_day + Duration::days(day);
            let starts_at = date.and_hms_opt(START_HOUR, 0, 0).unwrap_or_default();
            let ends_at = match plan.length {
                Length::Hours(hours) => starts_at + Duration::hours(hours),
                Length::Days(days) => (date + Duration::days(days))
                    .and_hms_opt(HAND_IN_HOUR, 0, 0)
                    .unwrap_or_default(),
            };
            let grading_deadline = ends_at.date() + Duration::days(GRADING_DAYS);
            let appeal_deadline = grading_deadline + Duration::days(APPEAL_DAYS);
            let mut candidates: Vec<FsCandidate> = (0..EXTRA_CANDIDATES_PER_EXAM)
                .map(|_| FsCandidate::from_person(people.next(&mut rng)))
                .collect();
            candidates.sort_by(|a, b| a.candidate_number.cmp(&b.candidate_number));
            exams.push(FsExam {
                assessment_id: exam.assessment_id,
                institution: number.to_owned(),
                exam_system: institution.exam_system.clone(),
                course_code: course.code.to_owned(),
                course_version: COURSE_VERSION.to_owned(),
                course_name: course.name.to_owned(),
                assessment_form: course.assessment_form.to_owned(),
                term: exam.term,
                starts_at: format(starts_at),
                ends_at: format(ends_at),
                grading_deadline: time::format_date(grading_deadline),
                appeal_deadline: time::format_date(appeal_deadline),
                grade_scale: plan.scale.grade_scale(),
                aids: plan.aids.iter().map(|&aid| aid.to_owned()).collect(),
                candidates,
            });
        }
    }
    exams
}

impl FsState {
    /// The exams of one institution, in course order (empty for an unknown
    /// institution), each with all its candidates: those who appear in its
    /// appeals or explanation requests now (appended appeals included) and
    /// the seeded extra ones, sorted by `kandidatnr` (as text).
    pub fn exams(&self, institusjonsnr: &str) -> Vec<FsExam> {
        let inner = self.lock();
        self.exam_catalog
            .iter()
            .filter(|exam| exam.institution == institusjonsnr)
            .map(|exam| with_all_candidates(exam, &inner))
            .collect()
    }

    /// The seeded exams of one institution, without the candidates who
    /// appealed or asked for an explanation; `aid`, when given, keeps only
    /// exams that permit it.
    pub(crate) fn exam_summaries(&self, institusjonsnr: &str, aid: Option<&str>) -> Vec<&FsExam> {
        self.exam_catalog
            .iter()
            .filter(|exam| exam.institution == institusjonsnr)
            .filter(|exam| aid.is_none_or(|aid| exam.aids.iter().any(|a| a == aid)))
            .collect()
    }

    /// The exam `assessment_id` with all its candidates, if its exam system
    /// is `exam_system` (case-insensitive).
    pub(crate) fn exam(&self, exam_system: &str, assessment_id: &str) -> Option<FsExam> {
        let exam = self.seeded_exam(exam_system, assessment_id)?;
        Some(with_all_candidates(exam, &self.lock()))
    }

    /// The candidate numbers of the exam `assessment_id` in `exam_system`,
    /// or `None` if there is no such exam.
    pub(crate) fn exam_candidate_numbers(
        &self,
        exam_system: &str,
        assessment_id: &str,
    ) -> Option<Vec<String>> {
        let exam = self.exam(exam_system, assessment_id)?;
        Some(
            exam.candidates
                .into_iter()
                .map(|candidate| candidate.candidate_number)
                .collect(),
        )
    }

    /// The latest appeal change of each candidate of the exam
    /// `assessment_id` in `exam_system`, sorted by `kandidatnr`; `None` if
    /// there is no such exam.
    pub(crate) fn exam_appeals(
        &self,
        exam_system: &str,
        assessment_id: &str,
    ) -> Option<Vec<FsAppeal>> {
        let exam = self.seeded_exam(exam_system, assessment_id)?;
        let inner = self.lock();
        let mut latest: BTreeMap<&str, &FsAppeal> = BTreeMap::new();
        for appeal in inner.appeals.get(&exam.institution).into_iter().flatten() {
            if appeal.assessment_id == exam.assessment_id {
                latest.insert(&appeal.candidate_number, appeal);
            }
        }
        Some(latest.into_values().cloned().collect())
    }

    /// The explanations registered for the exam `assessment_id` in
    /// `exam_system`, sorted by `kandidatnr`; `None` if there is no such exam.
    pub(crate) fn exam_explanations(
        &self,
        exam_system: &str,
        assessment_id: &str,
    ) -> Option<Vec<super::RegisteredExplanation>> {
        let exam = self.seeded_exam(exam_system, assessment_id)?;
        let mut explanations: Vec<_> = self
            .lock()
            .explanations
            .iter()
            .filter(|e| {
                e.assessment_id == exam.assessment_id
                    && e.exam_system.eq_ignore_ascii_case(&exam.exam_system)
            })
            .cloned()
            .collect();
        explanations.sort_by(|a, b| a.candidate_number.cmp(&b.candidate_number));
        Some(explanations)
    }

    /// Personal data of the seeded extra candidates, for
    /// [`FsState::personal_data`].
    pub(super) fn extra_candidates_personal_data(&self) -> impl Iterator<Item = &String> {
        self.exam_catalog
            .iter()
            .flat_map(|exam| &exam.candidates)
            .flat_map(|c| {
                [
                    &c.person_number,
                    &c.username,
                    &c.first_name,
                    &c.last_name,
                    &c.email,
                ]
            })
    }

    /// The seeded exam `assessment_id` if its exam system is `exam_system`
    /// (case-insensitive); its candidates are only the extra ones.
    fn seeded_exam(&self, exam_system: &str, assessment_id: &str) -> Option<&FsExam> {
        self.exam_catalog.iter().find(|exam| {
            exam.assessment_id == assessment_id
                && exam.exam_system.eq_ignore_ascii_case(exam_system)
        })
    }
}

/// `exam` with everyone in its appeals and explanation requests added to
/// its seeded candidates, sorted by `kandidatnr`. Where a candidate number
/// appears more than once, its first appeal change wins, then its first
/// explanation request, then the seeded candidate.
fn with_all_candidates(exam: &FsExam, inner: &Inner) -> FsExam {
    let appeals = inner
        .appeals
        .get(&exam.institution)
        .into_iter()
        .flatten()
        .filter(|a| a.assessment_id == exam.assessment_id)
        .map(FsCandidate::from_appeal);
    let requests = inner
        .explanation_requests
        .get(&exam.institution)
        .into_iter()
        .flatten()
        .filter(|r| r.assessment_id == exam.assessment_id)
        .map(FsCandidate::from_request);
    let mut by_number: BTreeMap<String, FsCandidate> = BTreeMap::new();
    for candidate in appeals
        .chain(requests)
        .chain(exam.candidates.iter().cloned())
    {
        if !candidate.candidate_number.is_empty() {
            by_number
                .entry(candidate.candidate_number.clone())
                .or_insert(candidate);
        }
    }
    FsExam {
        candidates: by_number.into_values().collect(),
        ..exam.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::{TimeZone, Utc};

    use super::super::data;
    use super::*;

    fn institutions() -> Vec<FsInstitution> {
        vec![
            FsInstitution::new("185", "INSPERA"),
            FsInstitution::new("194", "WISEFLOW"),
        ]
    }

    /// Seeds appeals and explanation requests, then exams, as `FsState` does.
    fn seeded(seed: u64) -> (data::Seeded, Vec<FsExam>) {
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
        let mut lists = data::seed(&institutions(), 60, 40, seed, now);
        let exams = super::seed(&institutions(), &mut lists.people, seed, &Term::of(now));
        (lists, exams)
    }

    #[test]
    fn exams_are_deterministic_and_leave_the_seeded_lists_alone() {
        let (lists, exams) = seeded(7);
        let (again, exams_again) = seeded(7);
        assert_eq!(exams, exams_again);
        assert_eq!(lists.appeals, again.appeals);
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
        let without_exams = data::seed(&institutions(), 60, 40, 7, now);
        assert_eq!(lists.appeals, without_exams.appeals);
        assert_eq!(
            lists.explanation_requests,
            without_exams.explanation_requests
        );
        let (_, other_seed) = seeded(8);
        assert_ne!(exams, other_seed);
    }

    #[test]
    fn every_course_has_a_plan_and_one_exam_per_institution() {
        for course in &COURSES {
            assert_eq!(plan_of(course.code).course_code, course.code);
        }
        let (lists, exams) = seeded(3);
        assert_eq!(exams.len(), 2 * COURSES.len());
        for (institution, appeals) in &lists.appeals {
            let ids: HashSet<&str> = exams
                .iter()
                .filter(|e| &e.institution == institution)
                .map(|e| e.assessment_id.as_str())
                .collect();
            assert_eq!(ids.len(), COURSES.len());
            assert!(appeals
                .iter()
                .all(|a| ids.contains(a.assessment_id.as_str())));
        }
        let inf100 = exams
            .iter()
            .find(|e| e.institution == "185" && e.course_code == "INF100")
            .unwrap();
        assert_eq!(inf100.exam_system, "INSPERA");
        assert_eq!(inf100.term, "2026 HØST");
        assert_eq!(inf100.starts_at, "2026-12-01T09:00:00");
        assert_eq!(inf100.ends_at, "2026-12-01T13:00:00");
        assert_eq!(inf100.grading_deadline, "2026-12-22");
        assert_eq!(inf100.appeal_deadline, "2027-01-12");
    }

    #[test]
    fn dates_are_well_formed_and_ordered() {
        let (_, exams) = seeded(5);
        for exam in &exams {
            let from = time::parse_timestamp(&exam.starts_at).expect("datoEksamenFra");
            let to = time::parse_timestamp(&exam.ends_at).expect("datoEksamenTil");
            assert!(from < to, "{exam:?}");
            let grading = time::parse_since(&exam.grading_deadline).unwrap();
            let appeal = time::parse_since(&exam.appeal_deadline).unwrap();
            assert_eq!(exam.grading_deadline.len(), 10);
            assert!(to < grading && grading < appeal);
            if let Length::Hours(hours) = plan_of(&exam.course_code).length {
                assert!(exam.assessment_form.contains(&format!("{hours} timer")));
            }
        }
        let spring = Term {
            year: 2027,
            season: "VÅR",
        };
        assert_eq!(first_exam_day(&spring).to_string(), "2027-05-11");
    }

    #[test]
    fn scales_follow_the_course() {
        let (_, exams) = seeded(7);
        for exam in &exams {
            let pass_fail = ["EXPHIL03", "SOS100"].contains(&exam.course_code.as_str());
            let expected = if pass_fail {
                json_scale("BESTATT", &["BESTÅTT", "IKKE BESTÅTT"])
            } else {
                json_scale("A-F", &["A", "B", "C", "D", "E", "F"])
            };
            assert_eq!(exam.grade_scale, expected, "{}", exam.course_code);
        }
    }

    fn json_scale(code: &str, grades: &[&str]) -> FsGradeScale {
        FsGradeScale {
            code: code.to_owned(),
            grades: grades.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn aids_cover_every_code() {
        let (_, exams) = seeded(7);
        let used: HashSet<&str> = exams
            .iter()
            .flat_map(|e| e.aids.iter().map(String::as_str))
            .collect();
        assert_eq!(used, HashSet::from(["A", "B", "C", "D", "E"]));
        assert!(exams.iter().all(|e| !e.aids.is_empty()));
        assert!(exams.iter().any(|e| e.aids.len() > 1));
    }

    #[test]
    fn extra_candidates_are_distinct_from_everyone_seeded() {
        let (lists, exams) = seeded(11);
        let mut numbers = HashSet::new();
        let mut usernames = HashSet::new();
        for exam in &exams {
            assert_eq!(exam.candidates.len(), EXTRA_CANDIDATES_PER_EXAM);
            assert!(exam
                .candidates
                .windows(2)
                .all(|w| w[0].candidate_number < w[1].candidate_number));
            for candidate in &exam.candidates {
                assert!(numbers.insert(candidate.candidate_number.clone()));
                assert!(usernames.insert(candidate.username.clone()));
                assert!(candidate.email.ends_with("@student.example.no"));
                assert_eq!(candidate.person_number.len(), 7);
            }
        }
        let seeded_numbers = lists
            .appeals
            .values()
            .flatten()
            .map(|a| &a.candidate_number)
            .chain(
                lists
                    .explanation_requests
                    .values()
                    .flatten()
                    .map(|r| &r.candidate_number),
            );
        for number in seeded_numbers {
            assert!(!numbers.contains(number), "{number}");
        }
    }

    #[test]
    fn a_repeated_institution_gets_its_exams_once() {
        let institutions = vec![
            FsInstitution::new("185", "INSPERA"),
            FsInstitution::new("185", "WISEFLOW"),
        ];
        let term = Term {
            year: 2026,
            season: "HØST",
        };
        let exams = super::seed(&institutions, &mut People::default(), 1, &term);
        assert_eq!(exams.len(), COURSES.len());
        assert!(exams.iter().all(|e| e.exam_system == "INSPERA"));
    }
}
