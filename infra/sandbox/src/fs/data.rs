//! Deterministic seed data for FS: synthetic students, one exam per course in
//! the current term, appeals with some later withdrawals, and explanation
//! requests.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Datelike, Duration, Utc};

use super::{base64, time, AppealStatus, FsAppeal, FsExplanationRequest, FsInstitution};

/// How far back seeded change times reach.
const SEED_WINDOW_SECS: u32 = 2 * 24 * 60 * 60;
/// One appeal in this many is withdrawn later (rounded to the nearest count).
const WITHDRAWN_ONE_IN: usize = 10;
/// Fraction of explanation requests made by a candidate who also appealed the same exam.
const ALSO_APPEALED_RATE: f64 = 0.25;
/// Days from an appeal until the new grading is due.
const GRADING_DAYS: i64 = 21;
/// Latest a candidate asks for an explanation before the request is changed in FS.
const REQUEST_LAG_SECS: u32 = 3600;

/// First names of generated students: common Norwegian names.
const FIRST_NAMES: [&str; 16] = [
    "Ingrid",
    "Sigrid",
    "Astrid",
    "Solveig",
    "Ragnhild",
    "Ingeborg",
    "Synnøve",
    "Marthe",
    "Sindre",
    "Eirik",
    "Håkon",
    "Torstein",
    "Vebjørn",
    "Kristoffer",
    "Magnus",
    "Audun",
];

/// Last names of generated students: common Norwegian names.
const LAST_NAMES: [&str; 16] = [
    "Haugland",
    "Solberg",
    "Bakkevik",
    "Fjeldstad",
    "Myrvold",
    "Torgersen",
    "Brekke",
    "Sæther",
    "Nygård",
    "Kvamme",
    "Rønning",
    "Hovland",
    "Strømme",
    "Lien",
    "Aasen",
    "Vik",
];

/// A course with an exam: code, name and form of assessment.
pub(super) struct Course {
    pub(super) code: &'static str,
    pub(super) name: &'static str,
    pub(super) assessment_form: &'static str,
}

/// The courses every institution has an exam in, in seeding order.
pub(super) const COURSES: [Course; 10] = [
    Course {
        code: "EXPHIL03",
        name: "Examen philosophicum",
        assessment_form: "Skriftlig skoleeksamen, 4 timer",
    },
    Course {
        code: "INF100",
        name: "Innføring i programmering",
        assessment_form: "Digital skoleeksamen, 4 timer",
    },
    Course {
        code: "MAT111",
        name: "Grunnkurs i matematikk I",
        assessment_form: "Skriftlig skoleeksamen, 5 timer",
    },
    Course {
        code: "ECON110",
        name: "Innføring i mikroøkonomi",
        assessment_form: "Hjemmeeksamen, 3 dager",
    },
    Course {
        code: "JUS121",
        name: "Formuerett I",
        assessment_form: "Skriftlig skoleeksamen, 6 timer",
    },
    Course {
        code: "PSYK100",
        name: "Innføring i psykologi",
        assessment_form: "Digital skoleeksamen, 4 timer",
    },
    Course {
        code: "KJEM110",
        name: "Kjemi grunnkurs",
        assessment_form: "Skriftlig skoleeksamen, 4 timer",
    },
    Course {
        code: "BIO101",
        name: "Organismebiologi",
        assessment_form: "Digital skoleeksamen, 3 timer",
    },
    Course {
        code: "HIS112",
        name: "Norsk historie etter 1814",
        assessment_form: "Hjemmeeksamen, 1 uke",
    },
    Course {
        code: "SOS100",
        name: "Innføring i sosiologi",
        assessment_form: "Mappevurdering",
    },
];

/// The course version every seeded exam uses.
pub(super) const COURSE_VERSION: &str = "1";

/// Seeded change lists by institution number.
pub(crate) struct Seeded {
    pub(crate) appeals: BTreeMap<String, Vec<FsAppeal>>,
    pub(crate) explanation_requests: BTreeMap<String, Vec<FsExplanationRequest>>,
    /// The generator after seeding, so later draws keep every person distinct.
    pub(crate) people: People,
}

/// Builds every institution's lists from `seed`, with change times spread
/// over the two days before `now`. `appeals` counts appeals, not changes:
/// withdrawals come on top. A repeated institution number is seeded once.
pub(crate) fn seed(
    institutions: &[FsInstitution],
    appeals: usize,
    explanation_requests: usize,
    seed: u64,
    now: DateTime<Utc>,
) -> Seeded {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0xd1_9e_c5);
    let mut people = People::default();
    let term = Term::of(now);
    let mut seeded = Seeded {
        appeals: BTreeMap::new(),
        explanation_requests: BTreeMap::new(),
        people: People::default(),
    };
    for institution in institutions {
        let number = &institution.institusjonsnr;
        if seeded.appeals.contains_key(number) {
            continue;
        }
        let exams: Vec<Exam> = COURSES
            .iter()
            .map(|course| Exam::new(number, course, &term))
            .collect();
        let (appeal_list, appellants) =
            seed_appeals(&mut rng, &mut people, &exams, number, appeals, now);
        let requests = seed_explanation_requests(
            &mut rng,
            &mut people,
            &exams,
            &appellants,
            number,
            explanation_requests,
            now,
        );
        seeded.appeals.insert(number.clone(), appeal_list);
        seeded.explanation_requests.insert(number.clone(), requests);
    }
    seeded.people = people;
    seeded
}

/// The term whose exams are being appealed: spring until July, then autumn.
pub(super) struct Term {
    pub(super) year: i32,
    /// `VÅR` or `HØST`.
    pub(super) season: &'static str,
}

impl Term {
    pub(super) fn of(now: DateTime<Utc>) -> Self {
        let season = if now.month() <= 7 { "VÅR" } else { "HØST" };
        Self {
            year: now.year(),
            season,
        }
    }
}

/// One assessment of a course in the term.
pub(super) struct Exam {
    pub(super) assessment_id: String,
    course_code: &'static str,
    assessment_form: &'static str,
    /// `tid`, e.g. `2026 HØST`.
    pub(super) term: String,
    sis_code: String,
}

impl Exam {
    pub(super) fn new(institution: &str, course: &Course, term: &Term) -> Self {
        let Term { year, season } = term;
        let plain = format!(
            "{institution}-{}-{COURSE_VERSION}-{year}-{season}-1",
            course.code
        );
        Self {
            assessment_id: base64::encode(plain.as_bytes()),
            course_code: course.code,
            assessment_form: course.assessment_form,
            term: format!("{year} {season}"),
            sis_code: format!("{}||{}||{season}||{year}", course.name, course.code),
        }
    }
}

/// A generated student.
#[derive(Clone)]
pub(super) struct Person {
    pub(super) candidate_number: String,
    pub(super) person_number: String,
    pub(super) username: String,
    pub(super) first_name: &'static str,
    pub(super) last_name: &'static str,
    pub(super) email: String,
}

/// Hands out students whose candidate numbers, person numbers and user
/// names are all distinct.
#[derive(Default)]
pub(crate) struct People {
    candidate_numbers: HashSet<u32>,
    person_numbers: HashSet<u32>,
    usernames: HashSet<String>,
}

impl People {
    pub(super) fn next(&mut self, rng: &mut fastrand::Rng) -> Person {
        let candidate_number = unique(rng, &mut self.candidate_numbers, 10_000..1_000_000);
        let person_number = unique(rng, &mut self.person_numbers, 1_000_000..10_000_000);
        let first_name = FIRST_NAMES[rng.usize(..FIRST_NAMES.len())];
        let last_name = LAST_NAMES[rng.usize(..LAST_NAMES.len())];
        let stem: String = ascii_lower(first_name)
            .chars()
            .take(4)
            .chain(ascii_lower(last_name).chars().take(3))
            .collect();
        let username = (1..)
            .map(|n| match n {
                1 => stem.clone(),
                n => format!("{stem}{n}"),
            })
            .find(|name| !self.usernames.contains(name))
            .unwrap_or_default();
        self.usernames.insert(username.clone());
        Person {
            candidate_number: candidate_number.to_string(),
            person_number: person_number.to_string(),
            email: format!("{username}@student.example.no"),
            username,
            first_name,
            last_name,
        }
    }
}

/// A number from `range` not drawn before.
fn unique(rng: &mut fastrand::Rng, used: &mut HashSet<u32>, range: std::ops::Range<u32>) -> u32 {
    loop {
        let n = rng.u32(range.clone());
        if used.insert(n) {
            return n;
        }
    }
}

/// Lower-case ASCII spelling of a Norwegian name, as in user names.
fn ascii_lower(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .map(|c| match c {
            'æ' => "ae".to_owned(),
            'ø' => "o".to_owned(),
            'å' => "a".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// `count` appeals by distinct students, a tenth of them withdrawn later,
/// sorted by change time; also returns who appealed which exam.
fn seed_appeals(
    rng: &mut fastrand::Rng,
    people: &mut People,
    exams: &[Exam],
    institution: &str,
    count: usize,
    now: DateTime<Utc>,
) -> (Vec<FsAppeal>, Vec<(usize, Person)>) {
    let mut list = Vec::with_capacity(count + count / WITHDRAWN_ONE_IN + 1);
    let mut appellants = Vec::with_capacity(count);
    let mut offsets = Vec::with_capacity(count);
    for _ in 0..count {
        let exam_index = rng.usize(..exams.len());
        let exam = &exams[exam_index];
        let person = people.next(rng);
        let offset = rng.u32(2..=SEED_WINDOW_SECS);
        let changed_at = now - Duration::seconds(i64::from(offset));
        let original_committee = rng.u32(1..=40);
        let new_committee = rng.bool().then(|| rng.u32(41..=80).to_string());
        list.push(FsAppeal {
            assessment_id: exam.assessment_id.clone(),
            candidate_number: person.candidate_number.clone(),
            person_number: person.person_number.clone(),
            username: person.username.clone(),
            first_name: person.first_name.to_owned(),
            last_name: person.last_name.to_owned(),
            email: person.email.clone(),
            status: AppealStatus::Active,
            grading_deadline: time::format_date(
                (changed_at + Duration::days(GRADING_DAYS)).date_naive(),
            ),
            original_committee_id: original_committee.to_string(),
            new_committee_id: new_committee,
            institution: institution.to_owned(),
            course_code: exam.course_code.to_owned(),
            course_version: COURSE_VERSION.to_owned(),
            assessment_form: exam.assessment_form.to_owned(),
            term: exam.term.clone(),
            sis_code: exam.sis_code.clone(),
            changed_at: time::format_timestamp(changed_at),
        });
        appellants.push((exam_index, person));
        offsets.push(offset);
    }
    let mut chosen: Vec<usize> = (0..count).collect();
    rng.shuffle(&mut chosen);
    chosen.truncate((count + WITHDRAWN_ONE_IN / 2) / WITHDRAWN_ONE_IN);
    for index in chosen {
        let later = rng.u32(1..offsets[index]);
        list.push(FsAppeal {
            status: AppealStatus::Withdrawn,
            changed_at: time::format_timestamp(now - Duration::seconds(i64::from(later))),
            ..list[index].clone()
        });
    }
    list.sort_by(|a, b| a.changed_at.cmp(&b.changed_at));
    (list, appellants)
}

/// `count` explanation requests, a quarter of them (when possible) by
/// students who also appealed the same exam, sorted by change time.
fn seed_explanation_requests(
    rng: &mut fastrand::Rng,
    people: &mut People,
    exams: &[Exam],
    appellants: &[(usize, Person)],
    institution: &str,
    count: usize,
    now: DateTime<Utc>,
) -> Vec<FsExplanationRequest> {
    let mut asked = HashSet::new();
    let mut list: Vec<FsExplanationRequest> = (0..count)
        .map(|_| {
            let reuse = (!appellants.is_empty() && rng.f64() < ALSO_APPEALED_RATE)
                .then(|| &appellants[rng.usize(..appellants.len())])
                .filter(|(_, person)| !asked.contains(&person.candidate_number));
            let (exam_index, person) = match reuse {
                Some((exam_index, person)) => (*exam_index, person.clone()),
                None => (rng.usize(..exams.len()), people.next(rng)),
            };
            asked.insert(person.candidate_number.clone());
            let exam = &exams[exam_index];
            let offset = rng.u32(1..=SEED_WINDOW_SECS);
            let changed_at = now - Duration::seconds(i64::from(offset));
            let requested_at =
                changed_at - Duration::seconds(i64::from(rng.u32(0..REQUEST_LAG_SECS)));
            FsExplanationRequest {
                assessment_id: exam.assessment_id.clone(),
                candidate_number: person.candidate_number,
                person_number: person.person_number,
                username: person.username,
                first_name: person.first_name.to_owned(),
                last_name: person.last_name.to_owned(),
                email: person.email,
                requested_at: time::format_timestamp(requested_at),
                institution: institution.to_owned(),
                course_code: exam.course_code.to_owned(),
                term: exam.term.clone(),
                sis_code: exam.sis_code.clone(),
                changed_at: time::format_timestamp(changed_at),
            }
        })
        .collect();
    list.sort_by(|a, b| a.changed_at.cmp(&b.changed_at));
    list
}

#[cfg(test)]
mod tests {
    use chrono::SubsecRound;

    use super::*;

    fn institutions() -> Vec<FsInstitution> {
        vec![
            FsInstitution::new("185", "INSPERA"),
            FsInstitution::new("194", "WISEFLOW"),
        ]
    }

    #[test]
    fn seeding_is_deterministic_sorted_and_recent() {
        let now = Utc::now().trunc_subsecs(0);
        let first = seed(&institutions(), 120, 110, 7, now);
        let second = seed(&institutions(), 120, 110, 7, now);
        assert_eq!(first.appeals, second.appeals);
        assert_eq!(first.explanation_requests, second.explanation_requests);
        let oldest = time::format_timestamp(now - Duration::seconds(SEED_WINDOW_SECS.into()));
        let newest = time::format_timestamp(now);
        for list in first.appeals.values() {
            assert!(list.windows(2).all(|w| w[0].changed_at <= w[1].changed_at));
            assert!(list
                .iter()
                .all(|a| a.changed_at >= oldest && a.changed_at < newest));
        }
        for list in first.explanation_requests.values() {
            assert_eq!(list.len(), 110);
            assert!(list.windows(2).all(|w| w[0].changed_at <= w[1].changed_at));
            assert!(list.iter().all(|r| r.requested_at <= r.changed_at));
        }
    }

    #[test]
    fn a_tenth_of_appeals_is_withdrawn_later() {
        let seeded = seed(&institutions(), 120, 10, 3, Utc::now());
        for (institution, list) in &seeded.appeals {
            assert_eq!(list.len(), 132);
            let withdrawn: Vec<&FsAppeal> = list
                .iter()
                .filter(|a| a.status == AppealStatus::Withdrawn)
                .collect();
            assert_eq!(withdrawn.len(), 12);
            for change in withdrawn {
                let active = list
                    .iter()
                    .find(|a| {
                        a.status == AppealStatus::Active
                            && a.assessment_id == change.assessment_id
                            && a.candidate_number == change.candidate_number
                    })
                    .expect("the withdrawn appeal was active first");
                assert!(active.changed_at < change.changed_at);
                assert_eq!(&active.institution, institution);
            }
        }
    }

    #[test]
    fn people_are_distinct_and_synthetic() {
        let seeded = seed(&institutions(), 120, 110, 11, Utc::now());
        let mut by_candidate = std::collections::HashMap::new();
        let mut person_numbers = HashSet::new();
        for appeal in seeded.appeals.values().flatten() {
            let person = (&appeal.person_number, &appeal.username);
            assert_eq!(
                *by_candidate
                    .entry(&appeal.candidate_number)
                    .or_insert(person),
                person
            );
            person_numbers.insert(&appeal.person_number);
            assert_eq!(appeal.person_number.len(), 7);
            assert!((5..=6).contains(&appeal.candidate_number.len()));
            assert!(appeal.email.ends_with("@student.example.no"));
            assert!(appeal.username.is_ascii());
        }
        assert_eq!(person_numbers.len(), by_candidate.len());
        let first = &seeded.appeals["185"][0];
        let id = String::from_utf8(base64::decode(&first.assessment_id).unwrap()).unwrap();
        assert!(
            id.starts_with(&format!("185-{}-1-", first.course_code)),
            "{id}"
        );
        assert_eq!(
            first.sis_code.split("||").nth(1),
            Some(first.course_code.as_str())
        );
    }
}
