//! Master theses, as both exam-system sandboxes serve them: metadata, files, and the files'
//! contents, generated from the sandbox seed.
//!
//! For every FS institution whose exam system is WISEflow (or Inspera),
//! [`crate::SandboxOptions::theses_per_institution`] theses are generated. A thesis belongs to a
//! master's programme exam (e.g. `INF5990`, SIS code `Masteroppgave i informatikk||INF5990||VÅR||2026`)
//! in the term it was handed in. It has a synthetic title, with no personal names, and a candidate
//! number (`kandidatnr`) that FS's seeded appeals and explanation requests do not use. It has one to
//! three files: the main PDF, and sometimes an appendix PDF or a zip. A file's bytes are
//! pseudo-random, derived from (seed, file id). They are regenerated whenever they are needed,
//! and never kept. Each file's SHA-256 is computed once, the first time it is asked for, and then
//! cached.
//!
//! Grading is the one thing that changes: [`ThesisGrading`] (shared by both exam systems through
//! [`crate::SandboxOptions::thesis_grading`]) grades an ungraded thesis, and grades a WISEflow
//! candidate's reassessment after an appeal, when a test says so.
//!
//! The same positions hold the same special cases in every institution, so tests can find them
//! (see [`ThesisCase::at`]):
//!
//! | position | case |
//! | --- | --- |
//! | 0 | [`ThesisCase::LargeFile`]: the main file is [`THESIS_LARGE_FILE_BYTES`] (12 MiB), too big for one S3 PUT part |
//! | 1 | [`ThesisCase::Restricted`]: access `RESTRICTED` |
//! | 2 | [`ThesisCase::Embargoed`]: access `EMBARGOED` until [`THESIS_EMBARGO_UNTIL`] |
//! | 3 | [`ThesisCase::MissingFile`]: the appendix is listed, but downloading it gets a 404 |
//! | 4 | [`ThesisCase::QuarantinedFile`]: the zip is in quarantine (virus scan) |
//! | 5, 6 | [`ThesisCase::RecentlyGraded`]: graded 2 days ago, so the appeal deadlines have not passed |
//! | 7 | [`ThesisCase::Ungraded`]: handed in 50–59 days ago and not graded until [`ThesisGrading::grade`] |
//! | 8 | [`ThesisCase::ExplanationRequested`]: its candidate has an explanation request in FS (of another exam) |
//! | 9… | [`ThesisCase::Ordinary`] |
//!
//! Every thesis other than these is `OPEN`. A recently graded thesis was handed in 7–22 days ago.
//! Every other graded thesis was graded 40–57 days ago and handed in before that, but no more than
//! 59 days ago. So the hand-ins fill both 30-day windows of the last 60 days.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};

use ::base64::engine::general_purpose::STANDARD;
use ::base64::Engine as _;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, Duration, SecondsFormat, SubsecRound, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::fs::FsState;
use crate::SandboxOptions;

/// Size of the main file of every [`ThesisCase::LargeFile`] thesis: 12 MiB.
pub const THESIS_LARGE_FILE_BYTES: u64 = 12 * 1024 * 1024;
/// The last day of the embargo of every [`ThesisCase::Embargoed`] thesis.
pub const THESIS_EMBARGO_UNTIL: &str = "2031-06-30";
/// Bytes per chunk when a file is streamed.
const CHUNK_BYTES: u64 = 64 * 1024;
/// One day in seconds.
const DAY: i64 = 24 * 60 * 60;

/// Who may read a thesis once it is archived (`accessLevel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ThesisAccess {
    /// `OPEN`: may be published.
    Open,
    /// `RESTRICTED`: never public.
    Restricted,
    /// `EMBARGOED`: not public until `embargoUntil`.
    Embargoed,
}

impl ThesisAccess {
    /// The wire value: `OPEN`, `RESTRICTED` or `EMBARGOED`.
    pub fn as_str(self) -> &'static str {
        match self {
            ThesisAccess::Open => "OPEN",
            ThesisAccess::Restricted => "RESTRICTED",
            ThesisAccess::Embargoed => "EMBARGOED",
        }
    }
}

/// What is special about a thesis. Each case sits at a fixed position in every institution's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThesisCase {
    /// Position 0: the main file is [`THESIS_LARGE_FILE_BYTES`] long.
    LargeFile,
    /// Position 1: access `RESTRICTED`.
    Restricted,
    /// Position 2: access `EMBARGOED` until [`THESIS_EMBARGO_UNTIL`].
    Embargoed,
    /// Position 3: the appendix is listed, but downloading it gets a 404.
    MissingFile,
    /// Position 4: the zip is in quarantine.
    QuarantinedFile,
    /// Positions 5 and 6: graded 2 days ago, so the appeal deadlines have not passed.
    RecentlyGraded,
    /// Position 7: handed in 50–59 days ago, no `gradedAt` until [`ThesisGrading::grade`].
    Ungraded,
    /// Position 8: the candidate is the one of the institution's first seeded explanation request
    /// in FS (another exam's), so the thesis waits until that request is answered. Where FS has no
    /// explanation request, the candidate is a new one, as for every other thesis.
    ExplanationRequested,
    /// Every later position.
    Ordinary,
}

impl ThesisCase {
    /// The case at a position in an institution's list.
    pub fn at(position: usize) -> Self {
        match position {
            0 => ThesisCase::LargeFile,
            1 => ThesisCase::Restricted,
            2 => ThesisCase::Embargoed,
            3 => ThesisCase::MissingFile,
            4 => ThesisCase::QuarantinedFile,
            5 | 6 => ThesisCase::RecentlyGraded,
            7 => ThesisCase::Ungraded,
            8 => ThesisCase::ExplanationRequested,
            _ => ThesisCase::Ordinary,
        }
    }
}

/// One file of a thesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SandboxThesisFile {
    /// The exam system's file id, unique within that system.
    pub id: u64,
    /// The file name, e.g. `masteroppgave-123456.pdf`.
    pub filename: String,
    /// `application/pdf` or `application/zip`.
    pub content_type: String,
    /// Length in bytes.
    pub size: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
    /// When the file was uploaded, RFC 3339 UTC to the second.
    pub created_at: String,
    /// Listed, but its download answers 404.
    pub missing: bool,
    /// In quarantine (WISEflow `quarantine`, Inspera `quarantined`). The file can still be downloaded.
    pub quarantined: bool,
}

/// A master thesis, with the ids its exam system gives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SandboxThesis {
    /// FS's institution number.
    pub institution: String,
    /// `WISEFLOW` or `INSPERA`.
    pub exam_system: String,
    /// Place in the institution's list. It decides [`SandboxThesis::case`].
    pub position: usize,
    /// What is special about it.
    pub case: ThesisCase,
    /// The candidate number (`kandidatnr`), 6 digits.
    pub candidate_number: String,
    /// The programme's course code, e.g. `INF5990`.
    pub course_code: String,
    /// The course name, e.g. `Masteroppgave i informatikk`.
    pub course_name: String,
    /// The term, FS style, e.g. `2026 VÅR`.
    pub term: String,
    /// The SIS code, `<course name>||<course code>||<season>||<year>`.
    pub sis_code: String,
    /// An FS-style `vurdId` of the exam. Inspera's `externalTestId`.
    pub assessment_id: String,
    /// WISEflow: the flow (`purpose` 3, MASTER).
    pub flow_id: Option<u64>,
    /// WISEflow: the submission.
    pub submission_id: Option<u64>,
    /// WISEflow: the participant.
    pub participant_id: Option<u64>,
    /// Inspera: the test.
    pub test_id: Option<u64>,
    /// The title, e.g. `Masteroppgave 7: Vedlikehold av distribuerte systemer`.
    pub title: String,
    /// When it was handed in, unix milliseconds.
    pub handed_in_ms: i64,
    /// When it was handed in, RFC 3339 UTC to the second.
    pub handed_in_at: String,
    /// When the grade was announced, RFC 3339 UTC to the second; `None` while it is not graded
    /// ([`ThesisCase::Ungraded`] until [`ThesisGrading::grade`]).
    pub graded_at: Option<String>,
    /// Who may read it.
    pub access_level: ThesisAccess,
    /// The last day of the embargo, `yyyy-MM-dd`. Set only for [`ThesisAccess::Embargoed`].
    pub embargo_until: Option<String>,
    /// `nob` or `eng`.
    pub language: String,
    /// The main file first.
    pub files: Vec<SandboxThesisFile>,
}

/// The exam system a catalog is generated for. Each system has its own id ranges and its own
/// candidate numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum System {
    Wiseflow,
    Inspera,
}

impl System {
    /// The exam system's name in FS.
    pub(crate) fn name(self) -> &'static str {
        match self {
            System::Wiseflow => "WISEFLOW",
            System::Inspera => "INSPERA",
        }
    }

    /// Mixed into the seed so the two systems get different theses.
    fn tag(self) -> u64 {
        match self {
            System::Wiseflow => 0x3f_10_e5_7e_5e,
            System::Inspera => 0x1e_5e_ea_7e_5e,
        }
    }

    fn first_file_id(self) -> u64 {
        match self {
            System::Wiseflow => 3_100_001,
            System::Inspera => 4_100_001,
        }
    }

    /// Each system draws its 6-digit candidate numbers from its own half of the range.
    fn candidate_range(self) -> std::ops::Range<u32> {
        match self {
            System::Wiseflow => 100_000..550_000,
            System::Inspera => 550_000..1_000_000,
        }
    }
}

/// WISEflow: the first flow id given to a thesis exam. FS-derived flows start at 1001.
const FIRST_THESIS_FLOW_ID: u64 = 5001;
/// WISEflow: the first submission id.
const FIRST_SUBMISSION_ID: u64 = 610_001;
/// WISEflow: the first participant id given to a thesis candidate.
const FIRST_THESIS_PARTICIPANT_ID: u64 = 410_001;
/// Inspera: the first test id given to a thesis exam. FS-derived tests start at 700001.
const FIRST_THESIS_TEST_ID: u64 = 760_001;

/// A master's programme whose thesis is an exam.
struct Programme {
    code: &'static str,
    name: &'static str,
    /// Thesis topics, in Norwegian and in English.
    topics: [(&'static str, &'static str); 4],
}

const PROGRAMMES: [Programme; 4] = [
    Programme {
        code: "INF5990",
        name: "Masteroppgave i informatikk",
        topics: [
            (
                "Vedlikehold av distribuerte systemer",
                "Maintenance of distributed systems",
            ),
            (
                "Maskinlæring for tidsserier",
                "Machine learning for time series",
            ),
            (
                "Formell verifikasjon av protokoller",
                "Formal verification of protocols",
            ),
            ("Energieffektiv programvare", "Energy-efficient software"),
        ],
    },
    Programme {
        code: "ECON5990",
        name: "Masteroppgave i samfunnsøkonomi",
        topics: [
            (
                "Boligpriser og rentenivå",
                "Housing prices and interest rates",
            ),
            (
                "Arbeidsmarkedet etter pandemien",
                "The labour market after the pandemic",
            ),
            ("Skatt og investeringer", "Taxation and investment"),
            (
                "Handelsavtaler i Norden",
                "Trade agreements in the Nordic countries",
            ),
        ],
    },
    Programme {
        code: "HIS5990",
        name: "Masteroppgave i historie",
        topics: [
            (
                "Kystkultur på 1800-tallet",
                "Coastal culture in the nineteenth century",
            ),
            ("Jernbanen og byveksten", "The railway and urban growth"),
            ("Skolereformer etter 1945", "School reforms after 1945"),
            ("Fiskeriene og handelen", "Fisheries and trade"),
        ],
    },
    Programme {
        code: "KJEM5990",
        name: "Masteroppgave i kjemi",
        topics: [
            (
                "Katalysatorer for hydrogenproduksjon",
                "Catalysts for hydrogen production",
            ),
            ("Nedbrytning av mikroplast", "Degradation of microplastics"),
            ("Batterimaterialer", "Battery materials"),
            (
                "Analyse av sporstoffer i sjøvann",
                "Trace element analysis in seawater",
            ),
        ],
    },
];

/// Grades the exam systems give after the theses were generated, by candidate number (each
/// system's candidate numbers are its own): an [`ThesisCase::Ungraded`] thesis's grade, and a
/// WISEflow candidate's reassessment after an appeal. Shared by both exam systems and by whoever
/// holds a clone, like a test; thread-safe.
#[derive(Clone, Debug, Default)]
pub struct ThesisGrading {
    inner: Arc<Mutex<Grades>>,
}

#[derive(Debug, Default)]
struct Grades {
    /// Candidate number → when the thesis was graded.
    theses: HashMap<String, String>,
    /// Candidate number → when the reassessment was graded.
    reassessments: HashMap<String, String>,
}

impl ThesisGrading {
    fn lock(&self) -> std::sync::MutexGuard<'_, Grades> {
        self.inner.lock().expect("thesis grading lock")
    }

    /// Grades the ungraded thesis of a candidate, announced at `graded_at`. From now on the exam
    /// system serves it with this `gradedAt`. A thesis that had a grade keeps it.
    pub fn grade(&self, candidate_number: &str, graded_at: DateTime<Utc>) {
        self.lock()
            .theses
            .insert(candidate_number.to_owned(), rfc3339(graded_at));
    }

    /// Grades a candidate's reassessment (after an appeal) at `graded_at`. WISEflow lists the grade
    /// on the reassessment flow of the candidate's flow, once that flow exists.
    pub fn grade_reassessment(&self, candidate_number: &str, graded_at: DateTime<Utc>) {
        self.lock()
            .reassessments
            .insert(candidate_number.to_owned(), rfc3339(graded_at));
    }

    /// When a thesis graded later was graded.
    pub(crate) fn graded_at(&self, candidate_number: &str) -> Option<String> {
        self.lock().theses.get(candidate_number).cloned()
    }

    /// When a candidate's reassessment was graded.
    pub(crate) fn reassessment_graded_at(&self, candidate_number: &str) -> Option<String> {
        self.lock().reassessments.get(candidate_number).cloned()
    }
}

/// What kind of file, which decides its name, type and framing bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileKind {
    Main,
    Appendix,
    Archive,
}

impl FileKind {
    fn content_type(self) -> &'static str {
        match self {
            FileKind::Main | FileKind::Appendix => "application/pdf",
            FileKind::Archive => "application/zip",
        }
    }

    fn filename(self, candidate_number: &str) -> String {
        match self {
            FileKind::Main => format!("masteroppgave-{candidate_number}.pdf"),
            FileKind::Appendix => format!("vedlegg-{candidate_number}.pdf"),
            FileKind::Archive => format!("kildekode-{candidate_number}.zip"),
        }
    }

    /// The first bytes of the content: the format's signature.
    fn header(self) -> &'static [u8] {
        match self {
            FileKind::Main | FileKind::Appendix => b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
            FileKind::Archive => b"PK\x03\x04\x14\x00\x00\x00",
        }
    }

    /// The last bytes of the content.
    fn trailer(self) -> &'static [u8] {
        match self {
            FileKind::Main | FileKind::Appendix => b"\n%%EOF\n",
            FileKind::Archive => b"PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
        }
    }

    /// A size for a file of this kind. The draw is one value, whatever the kind.
    fn size(self, rng: &mut fastrand::Rng) -> u64 {
        let (low, high) = match self {
            FileKind::Main => (150 * 1024, 1536 * 1024),
            FileKind::Appendix => (20 * 1024, 300 * 1024),
            FileKind::Archive => (50 * 1024, 600 * 1024),
        };
        rng.u64(low..=high)
    }
}

/// The content of one file: header, pseudo-random body, trailer. Any byte range can be generated
/// on its own.
#[derive(Clone, Copy, Debug)]
struct Content {
    key: u64,
    size: u64,
    kind: FileKind,
}

impl Content {
    /// Fills `buf` with the bytes from `offset` on. `buf` must not run past the end.
    fn fill(&self, offset: u64, buf: &mut [u8]) {
        let mut position = offset;
        let mut filled = 0;
        while filled < buf.len() {
            let block = splitmix64(self.key ^ (position / 8).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let word = block.to_le_bytes();
            let start = (position % 8) as usize;
            let take = (8 - start).min(buf.len() - filled);
            buf[filled..filled + take].copy_from_slice(&word[start..start + take]);
            filled += take;
            position += take as u64;
        }
        let trailer = self.kind.trailer();
        overlay(buf, offset, self.kind.header(), 0);
        overlay(buf, offset, trailer, self.size - trailer.len() as u64);
    }

    /// The bytes of chunk `index`, as it is streamed.
    fn chunk(&self, index: u64) -> Vec<u8> {
        let start = index * CHUNK_BYTES;
        let mut chunk = vec![0; CHUNK_BYTES.min(self.size - start) as usize];
        self.fill(start, &mut chunk);
        chunk
    }

    fn chunk_count(&self) -> u64 {
        self.size.div_ceil(CHUNK_BYTES)
    }

    fn sha256(&self) -> String {
        let mut hasher = Sha256::new();
        for index in 0..self.chunk_count() {
            hasher.update(self.chunk(index));
        }
        hex::encode(hasher.finalize())
    }

    fn bytes(&self) -> Vec<u8> {
        let mut bytes = vec![0; self.size as usize];
        self.fill(0, &mut bytes);
        bytes
    }
}

/// Copies the part of `bytes` (which starts at `at` in the file) that falls within `buf` (which
/// starts at `offset`).
fn overlay(buf: &mut [u8], offset: u64, bytes: &[u8], at: u64) {
    let start = offset.max(at);
    let end = (offset + buf.len() as u64).min(at + bytes.len() as u64);
    if start < end {
        let (from, to) = ((start - offset) as usize, (end - offset) as usize);
        let source = (start - at) as usize;
        buf[from..to].copy_from_slice(&bytes[source..source + (to - from)]);
    }
}

/// SplitMix64: a fast, well-mixed 64-bit hash.
fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What to generate.
pub(crate) struct Plan<'a> {
    /// The sandbox seed.
    pub(crate) seed: u64,
    /// The exam system.
    pub(crate) system: System,
    /// Institution numbers that use the system, in configured order.
    pub(crate) institutions: Vec<String>,
    /// Theses per institution.
    pub(crate) per_institution: usize,
    /// Candidate numbers FS already uses.
    pub(crate) taken: &'a HashSet<String>,
    /// Per institution, the candidate of its first explanation request in FS: the candidate of
    /// its [`ThesisCase::ExplanationRequested`] thesis.
    pub(crate) explained: HashMap<String, String>,
    /// Dates are set relative to this time.
    pub(crate) now: DateTime<Utc>,
    /// Grades given later.
    pub(crate) grading: ThesisGrading,
}

/// What a download of a file id comes to.
pub(crate) enum Download {
    /// No file has this id.
    Unknown,
    /// The file is listed, but its content is gone: the server answers 404.
    Missing,
    /// The content, streamed in 64 KiB chunks with `Content-Length` set.
    Found(Response),
}

/// Every thesis of one exam system. It never changes after generation, but for grades given later
/// ([`ThesisGrading`]). The SHA-256s are filled in, each the first time it is asked for.
pub(crate) struct Catalog {
    seed: u64,
    grading: ThesisGrading,
    /// The theses with every `sha256` left empty. [`Catalog::complete`] fills them in.
    theses: Vec<SandboxThesis>,
    /// File id → content and its cached hash.
    files: HashMap<u64, (Content, OnceLock<String>)>,
}

impl Catalog {
    /// The theses of every FS institution whose exam system is `system`. Their candidate numbers
    /// are ones that FS's seeded appeals, explanation requests and exam candidates do not use.
    /// Dates are set relative to now.
    pub(crate) fn for_exam_system(options: &SandboxOptions, fs: &FsState, system: System) -> Self {
        let institutions = fs.institutions();
        let explained: HashMap<String, String> = institutions
            .iter()
            .filter_map(|i| {
                let first = fs
                    .explanation_requests(&i.institusjonsnr)
                    .into_iter()
                    .next()?;
                Some((i.institusjonsnr.clone(), first.candidate_number))
            })
            .collect();
        let taken: HashSet<String> = institutions
            .iter()
            .flat_map(|i| {
                let appeals = fs.appeals(&i.institusjonsnr).into_iter();
                let requests = fs.explanation_requests(&i.institusjonsnr).into_iter();
                let exams = fs.exams(&i.institusjonsnr).into_iter();
                appeals
                    .map(|a| a.candidate_number)
                    .chain(requests.map(|r| r.candidate_number))
                    .chain(exams.flat_map(|e| e.candidates).map(|c| c.candidate_number))
            })
            .collect();
        let mut using: Vec<String> = Vec::new();
        for institution in institutions {
            if institution.exam_system.eq_ignore_ascii_case(system.name())
                && !using.contains(&institution.institusjonsnr)
            {
                using.push(institution.institusjonsnr);
            }
        }
        Catalog::generate(Plan {
            seed: options.seed,
            system,
            institutions: using,
            per_institution: options.theses_per_institution,
            taken: &taken,
            explained,
            now: Utc::now(),
            grading: options.thesis_grading.clone(),
        })
    }

    /// Generates the theses of `plan`. The same plan always gives the same theses, ids and
    /// contents. Only the dates move, with `now`.
    pub(crate) fn generate(plan: Plan<'_>) -> Self {
        let Plan {
            seed,
            system,
            institutions,
            per_institution,
            taken,
            explained,
            now,
            grading,
        } = plan;
        let now = now.trunc_subsecs(0);
        let mut rng = fastrand::Rng::with_seed(seed ^ system.tag());
        let mut candidate_rng = fastrand::Rng::with_seed(splitmix64(seed ^ system.tag()));
        let mut used: HashSet<String> = taken.clone();
        let mut exam_ids: BTreeMap<String, u64> = BTreeMap::new();
        let mut next_file_id = system.first_file_id();
        let mut theses = Vec::new();
        let mut files = HashMap::new();
        for institution in &institutions {
            for position in 0..per_institution {
                let case = ThesisCase::at(position);
                let programme = &PROGRAMMES[rng.usize(..PROGRAMMES.len())];
                let (graded_age, handed_in_age) = ages(case, &mut rng);
                let graded = now - Duration::seconds(graded_age);
                let handed_in = now - Duration::seconds(handed_in_age);
                let (season, year) = term_of(handed_in);
                let sis_code = format!("{}||{}||{season}||{year}", programme.name, programme.code);
                let assessment_id = STANDARD.encode(format!(
                    "{institution}-{}-1-{year}-{season}-1",
                    programme.code
                ));
                let english = rng.u8(..3) == 0;
                let (topic_nob, topic_eng) = programme.topics[rng.usize(..programme.topics.len())];
                let title = if english {
                    format!("Master's thesis {}: {topic_eng}", position + 1)
                } else {
                    format!("Masteroppgave {}: {topic_nob}", position + 1)
                };
                let access_level = match case {
                    ThesisCase::Restricted => ThesisAccess::Restricted,
                    ThesisCase::Embargoed => ThesisAccess::Embargoed,
                    _ => ThesisAccess::Open,
                };
                let candidate_number = match explained.get(institution) {
                    Some(candidate) if case == ThesisCase::ExplanationRequested => {
                        candidate.clone()
                    }
                    _ => unique_candidate(&mut candidate_rng, &mut used, system.candidate_range()),
                };
                let mut kinds = vec![FileKind::Main];
                if rng.bool() || case == ThesisCase::MissingFile {
                    kinds.push(FileKind::Appendix);
                }
                if rng.u8(..10) < 3 || case == ThesisCase::QuarantinedFile {
                    kinds.push(FileKind::Archive);
                }
                let mut thesis_files = Vec::new();
                for kind in kinds {
                    let drawn = kind.size(&mut rng);
                    let size = if kind == FileKind::Main && case == ThesisCase::LargeFile {
                        THESIS_LARGE_FILE_BYTES
                    } else {
                        drawn
                    };
                    let uploaded = handed_in - Duration::seconds(rng.i64(60..=7200));
                    let id = next_file_id;
                    next_file_id += 1;
                    let content = Content {
                        key: splitmix64(seed ^ splitmix64(id)),
                        size,
                        kind,
                    };
                    files.insert(id, (content, OnceLock::new()));
                    thesis_files.push(SandboxThesisFile {
                        id,
                        filename: kind.filename(&candidate_number),
                        content_type: kind.content_type().to_owned(),
                        size,
                        sha256: String::new(),
                        created_at: rfc3339(uploaded),
                        missing: case == ThesisCase::MissingFile && kind == FileKind::Appendix,
                        quarantined: case == ThesisCase::QuarantinedFile
                            && kind == FileKind::Archive,
                    });
                }
                let number = theses.len() as u64;
                let (flow_id, submission_id, participant_id, test_id) = match system {
                    System::Wiseflow => {
                        let next = FIRST_THESIS_FLOW_ID + exam_ids.len() as u64;
                        let flow_id = *exam_ids.entry(sis_code.clone()).or_insert(next);
                        (
                            Some(flow_id),
                            Some(FIRST_SUBMISSION_ID + number),
                            Some(FIRST_THESIS_PARTICIPANT_ID + number),
                            None,
                        )
                    }
                    System::Inspera => {
                        let next = FIRST_THESIS_TEST_ID + exam_ids.len() as u64;
                        let test_id = *exam_ids.entry(assessment_id.clone()).or_insert(next);
                        (None, None, None, Some(test_id))
                    }
                };
                theses.push(SandboxThesis {
                    institution: institution.clone(),
                    exam_system: system.name().to_owned(),
                    position,
                    case,
                    candidate_number,
                    course_code: programme.code.to_owned(),
                    course_name: programme.name.to_owned(),
                    term: format!("{year} {season}"),
                    sis_code,
                    assessment_id,
                    flow_id,
                    submission_id,
                    participant_id,
                    test_id,
                    title,
                    handed_in_ms: handed_in.timestamp_millis(),
                    handed_in_at: rfc3339(handed_in),
                    graded_at: (case != ThesisCase::Ungraded).then(|| rfc3339(graded)),
                    access_level,
                    embargo_until: (access_level == ThesisAccess::Embargoed)
                        .then(|| THESIS_EMBARGO_UNTIL.to_owned()),
                    language: if english { "eng" } else { "nob" }.to_owned(),
                    files: thesis_files,
                });
            }
        }
        Catalog {
            seed,
            grading,
            theses,
            files,
        }
    }

    /// The theses as generated, in order, with every `sha256` empty. Use them for lookups.
    /// Hand out only [`Catalog::complete`] copies.
    pub(crate) fn entries(&self) -> &[SandboxThesis] {
        &self.theses
    }

    /// Every thesis, with its SHA-256s.
    pub(crate) fn theses(&self) -> Vec<SandboxThesis> {
        self.theses.iter().map(|t| self.complete(t)).collect()
    }

    /// A copy of `thesis` with the SHA-256 of every file filled in, and its grade if it was
    /// graded later. A hash is computed the first time it is needed.
    pub(crate) fn complete(&self, thesis: &SandboxThesis) -> SandboxThesis {
        let mut thesis = thesis.clone();
        if thesis.graded_at.is_none() {
            thesis.graded_at = self.grading.graded_at(&thesis.candidate_number);
        }
        for file in &mut thesis.files {
            file.sha256 = self.sha256(file.id).unwrap_or_default();
        }
        thesis
    }

    /// The SHA-256 of a file's content, lowercase hex.
    fn sha256(&self, file_id: u64) -> Option<String> {
        let (content, hash) = self.files.get(&file_id)?;
        Some(hash.get_or_init(|| content.sha256()).clone())
    }

    /// Whether a file with this id exists.
    pub(crate) fn knows_file(&self, file_id: u64) -> bool {
        self.files.contains_key(&file_id)
    }

    /// A file's content, generated anew. It is empty for an unknown id. A missing file gets the
    /// content it would have had.
    pub(crate) fn bytes(&self, file_id: u64) -> Vec<u8> {
        self.files
            .get(&file_id)
            .map(|(content, _)| content.bytes())
            .unwrap_or_default()
    }

    /// The grades given later, shared with the other exam system's catalog.
    pub(crate) fn grading(&self) -> &ThesisGrading {
        &self.grading
    }

    /// A stable opaque value for a file, standing in for the signature of a pre-signed URL.
    pub(crate) fn signature(&self, file_id: u64) -> String {
        format!("{:016x}", splitmix64(self.seed ^ splitmix64(!file_id)))
    }

    /// The download of a file. The body is generated chunk by chunk as it is sent.
    pub(crate) fn download(&self, file_id: u64) -> Download {
        let Some(file) = self
            .theses
            .iter()
            .flat_map(|t| &t.files)
            .find(|f| f.id == file_id)
        else {
            return Download::Unknown;
        };
        let Some((content, _)) = self.files.get(&file_id) else {
            return Download::Unknown;
        };
        if file.missing {
            return Download::Missing;
        }
        let content = *content;
        let chunks = (0..content.chunk_count())
            .map(move |index| Ok::<Bytes, Infallible>(Bytes::from(content.chunk(index))));
        let mut response = Body::from_stream(futures::stream::iter(chunks)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(content.size));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content.kind.content_type()),
        );
        if let Ok(disposition) =
            HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file.filename))
        {
            headers.insert(header::CONTENT_DISPOSITION, disposition);
        }
        Download::Found(response)
    }
}

/// Seconds since grading and since hand-in, for a thesis of `case`. Hand-in always comes before
/// grading, and no more than 59 days ago. An ungraded thesis's grading age is 0 and unused.
fn ages(case: ThesisCase, rng: &mut fastrand::Rng) -> (i64, i64) {
    if case == ThesisCase::RecentlyGraded {
        let graded = 2 * DAY + rng.i64(0..3600);
        (graded, graded + rng.i64(5 * DAY..=20 * DAY))
    } else if case == ThesisCase::Ungraded {
        // Not graded: the first value stands for a grade that is not given.
        let handed_in = rng.i64(50 * DAY..=59 * DAY);
        (0, handed_in)
    } else {
        let graded = rng.i64(40 * DAY..=57 * DAY);
        (graded, rng.i64(graded + DAY..=59 * DAY))
    }
}

/// The FS term of a date, `(season, year)`: spring (`VÅR`) up to July, autumn (`HØST`) after.
fn term_of(date: DateTime<Utc>) -> (&'static str, i32) {
    let season = if date.month() <= 7 { "VÅR" } else { "HØST" };
    (season, date.year())
}

/// A 6-digit candidate number from `range` that is not in `used`. The number is added to `used`.
fn unique_candidate(
    rng: &mut fastrand::Rng,
    used: &mut HashSet<String>,
    range: std::ops::Range<u32>,
) -> String {
    loop {
        let candidate = rng.u32(range.clone()).to_string();
        if used.insert(candidate.clone()) {
            return candidate;
        }
    }
}

/// RFC 3339 UTC to the second, e.g. `2026-09-14T10:32:05Z`.
fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(seed: u64, system: System, taken: &HashSet<String>) -> Plan<'_> {
        Plan {
            seed,
            system,
            institutions: vec!["185".to_owned(), "194".to_owned()],
            per_institution: 14,
            taken,
            explained: HashMap::new(),
            now: Utc::now(),
            grading: ThesisGrading::default(),
        }
    }

    fn at(catalog: &Catalog, institution: &str, case: ThesisCase) -> Vec<SandboxThesis> {
        catalog
            .theses()
            .into_iter()
            .filter(|t| t.institution == institution && t.case == case)
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_theses_and_hashes() {
        let taken = HashSet::new();
        // One clock for both: file dates follow `now`, and two reads of the clock can fall
        // either side of a second.
        let now = Utc::now();
        let at_now = |seed| Plan {
            now,
            ..plan(seed, System::Wiseflow, &taken)
        };
        let first = Catalog::generate(at_now(7));
        let again = Catalog::generate(at_now(7));
        let strip = |c: &Catalog| {
            c.theses()
                .into_iter()
                .map(|t| (t.candidate_number, t.title, t.files))
                .collect::<Vec<_>>()
        };
        let first_theses = strip(&first);
        assert_eq!(first_theses, strip(&again));
        assert_eq!(first_theses.len(), 28);
        assert!(first_theses
            .iter()
            .flat_map(|(_, _, files)| files)
            .all(|f| f.sha256.len() == 64));
        let other = Catalog::generate(at_now(8));
        assert_ne!(strip(&other), first_theses);
    }

    #[test]
    fn special_cases_sit_at_their_positions() {
        let taken = HashSet::new();
        let catalog = Catalog::generate(plan(7, System::Inspera, &taken));
        for institution in ["185", "194"] {
            let large = &at(&catalog, institution, ThesisCase::LargeFile)[0];
            assert_eq!(large.position, 0);
            assert_eq!(large.files[0].size, THESIS_LARGE_FILE_BYTES);
            let bytes = catalog.bytes(large.files[0].id);
            assert_eq!(bytes.len() as u64, THESIS_LARGE_FILE_BYTES);
            assert!(bytes.starts_with(b"%PDF-1.7"));
            assert!(bytes.ends_with(b"%%EOF\n"));
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                large.files[0].sha256,
                "the listed hash is the hash of the served bytes"
            );

            let restricted = &at(&catalog, institution, ThesisCase::Restricted)[0];
            assert_eq!(restricted.access_level, ThesisAccess::Restricted);
            assert_eq!(restricted.embargo_until, None);
            let embargoed = &at(&catalog, institution, ThesisCase::Embargoed)[0];
            assert_eq!(embargoed.access_level, ThesisAccess::Embargoed);
            assert_eq!(
                embargoed.embargo_until.as_deref(),
                Some(THESIS_EMBARGO_UNTIL)
            );

            let missing = &at(&catalog, institution, ThesisCase::MissingFile)[0];
            assert_eq!(missing.position, 3);
            let gone: Vec<_> = missing.files.iter().filter(|f| f.missing).collect();
            assert_eq!(gone.len(), 1);
            assert!(matches!(catalog.download(gone[0].id), Download::Missing));
            assert!(matches!(
                catalog.download(missing.files[0].id),
                Download::Found(_)
            ));

            let quarantined = &at(&catalog, institution, ThesisCase::QuarantinedFile)[0];
            assert_eq!(quarantined.position, 4);
            let held: Vec<_> = quarantined.files.iter().filter(|f| f.quarantined).collect();
            assert_eq!(held.len(), 1);
            assert_eq!(held[0].content_type, "application/zip");

            let recent = at(&catalog, institution, ThesisCase::RecentlyGraded);
            assert_eq!(
                recent.iter().map(|t| t.position).collect::<Vec<_>>(),
                vec![5, 6]
            );
            let others = catalog
                .theses()
                .into_iter()
                .filter(|t| t.institution == institution && t.position > 3);
            for thesis in others {
                if thesis.position != 4 {
                    assert!(thesis.files.iter().all(|f| !f.missing && !f.quarantined));
                }
                assert_eq!(thesis.access_level, ThesisAccess::Open);
            }
        }
        assert!(matches!(catalog.download(1), Download::Unknown));
        assert!(catalog.bytes(1).is_empty());
    }

    #[test]
    fn dates_put_hand_ins_before_grades_within_60_days() {
        let taken = HashSet::new();
        let now = Utc::now();
        let catalog = Catalog::generate(Plan {
            now,
            ..plan(3, System::Wiseflow, &taken)
        });
        let days_ago = |text: &str| {
            let at = DateTime::parse_from_rfc3339(text).expect("rfc 3339");
            (now - at.with_timezone(&Utc)).num_seconds() as f64 / DAY as f64
        };
        let mut recent_window = 0;
        for thesis in catalog.entries() {
            let handed_in = days_ago(&thesis.handed_in_at);
            assert!(handed_in < 59.01, "{thesis:?}");
            let Some(graded_at) = &thesis.graded_at else {
                assert_eq!(thesis.case, ThesisCase::Ungraded);
                assert!((50.0..59.01).contains(&handed_in), "{thesis:?}");
                continue;
            };
            let graded = days_ago(graded_at);
            assert!(handed_in > graded, "{thesis:?}");
            if thesis.case == ThesisCase::RecentlyGraded {
                assert!((2.0..2.1).contains(&graded), "{thesis:?}");
            } else {
                assert!((40.0..=57.01).contains(&graded), "{thesis:?}");
            }
            if handed_in < 30.0 {
                recent_window += 1;
            }
            assert_eq!(thesis.handed_in_ms / 1000, {
                let at = DateTime::parse_from_rfc3339(&thesis.handed_in_at).unwrap();
                at.timestamp()
            });
        }
        assert_eq!(
            recent_window, 4,
            "two recently graded theses per institution"
        );
    }

    #[test]
    fn the_explanation_requested_thesis_belongs_to_fs_s_candidate() {
        let taken = HashSet::from(["123456".to_owned()]);
        let catalog = Catalog::generate(Plan {
            explained: HashMap::from([("185".to_owned(), "123456".to_owned())]),
            ..plan(5, System::Inspera, &taken)
        });
        let asked = at(&catalog, "185", ThesisCase::ExplanationRequested);
        assert_eq!(asked[0].position, 8);
        assert_eq!(asked[0].candidate_number, "123456");
        let elsewhere = &at(&catalog, "194", ThesisCase::ExplanationRequested)[0];
        assert_ne!(elsewhere.candidate_number, "123456", "194 has no request");
        assert_eq!(
            catalog
                .entries()
                .iter()
                .filter(|t| t.candidate_number == "123456")
                .count(),
            1
        );
    }

    #[test]
    fn an_ungraded_thesis_gets_its_grade_when_it_is_given() {
        let taken = HashSet::new();
        let catalog = Catalog::generate(plan(5, System::Wiseflow, &taken));
        let ungraded = at(&catalog, "185", ThesisCase::Ungraded);
        assert_eq!(ungraded.len(), 1);
        assert_eq!(ungraded[0].position, 7);
        assert_eq!(ungraded[0].graded_at, None);
        let when = Utc::now().trunc_subsecs(0) - Duration::days(40);
        catalog.grading().grade(&ungraded[0].candidate_number, when);
        let graded = &at(&catalog, "185", ThesisCase::Ungraded)[0];
        assert_eq!(graded.graded_at.as_deref(), Some(rfc3339(when).as_str()));
        let other = &at(&catalog, "194", ThesisCase::Ungraded)[0];
        assert_eq!(other.graded_at, None, "only that candidate's thesis");
        assert_eq!(
            catalog
                .theses()
                .iter()
                .filter(|t| t.graded_at.is_none())
                .count(),
            1
        );
    }

    #[test]
    fn candidates_are_new_six_digit_numbers_and_titles_name_nobody() {
        let taken: HashSet<String> = (100_000..550_000)
            .filter(|n| n % 3 != 0)
            .map(|n: u32| n.to_string())
            .collect();
        let catalog = Catalog::generate(plan(11, System::Wiseflow, &taken));
        let mut seen = HashSet::new();
        for thesis in catalog.entries() {
            assert_eq!(thesis.candidate_number.len(), 6);
            assert!(
                !taken.contains(&thesis.candidate_number),
                "no explanation requests given"
            );
            assert!(seen.insert(thesis.candidate_number.clone()));
            assert!(
                thesis.title.starts_with("Masteroppgave ")
                    || thesis.title.starts_with("Master's thesis "),
                "{}",
                thesis.title
            );
            assert!(thesis.sis_code.starts_with("Masteroppgave i "));
            assert!(thesis.flow_id.is_some() && thesis.test_id.is_none());
            assert!((1..=3).contains(&thesis.files.len()));
        }
        let inspera = Catalog::generate(plan(11, System::Inspera, &taken));
        assert!(inspera
            .entries()
            .iter()
            .all(|t| t.test_id.is_some() && t.flow_id.is_none()));
    }

    #[test]
    fn chunks_and_ranges_give_the_same_bytes() {
        let content = Content {
            key: 42,
            size: 3 * CHUNK_BYTES + 13,
            kind: FileKind::Archive,
        };
        let whole = content.bytes();
        let chunked: Vec<u8> = (0..content.chunk_count())
            .flat_map(|i| content.chunk(i))
            .collect();
        assert_eq!(whole, chunked);
        let mut middle = vec![0; 21];
        content.fill(5, &mut middle);
        assert_eq!(middle, whole[5..26]);
        assert!(whole.starts_with(b"PK\x03\x04"));
        assert_eq!(content.sha256(), hex::encode(Sha256::digest(&whole)));
    }
}
