//! Master-thesis archival, the pure part: where a thesis goes in the archive, what access it gets,
//! when it is due, and what its manifest says.
//!
//! The three failures the seed calls critical shape this module: a thesis not archived (every
//! discovered thesis is pending until archived or failed with a reason), archived with wrong
//! metadata (the manifest is built from the source's fields by one documented mapping), and
//! archived with wrong access — [`Access::from_source`] is never more open than the source says:
//! anything it cannot read as open is restricted.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::institution::ExamSystem;

/// The manifest's schema name; a reader checks it before trusting the fields.
pub const MANIFEST_SCHEMA: &str = "flyt-thesis-manifest/1";
/// The manifest's name under a thesis's prefix. Written last: a thesis with a manifest is complete.
pub const MANIFEST_NAME: &str = "manifest.json";

/// Who may read an archived thesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "level", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Access {
    /// Anyone (the institution may publish it).
    Open,
    /// The institution only.
    Restricted,
    /// The institution only until the date; then as the source decides.
    Embargoed {
        /// The last day of the embargo.
        until: NaiveDate,
    },
}

impl Access {
    /// The access the source's fields call for, and a note when Flyt had to read them strictly.
    /// `OPEN` without an embargo date is open; `OPEN` or `EMBARGOED` with a readable embargo date
    /// is embargoed until it; `RESTRICTED`, anything else, a missing level, or an embargo date that
    /// cannot be read (or an `EMBARGOED` without one) is restricted. A blank date is no date.
    pub fn from_source(
        level: Option<&str>,
        embargo_until: Option<&str>,
    ) -> (Access, Option<String>) {
        let level = level.map(|l| l.trim().to_ascii_uppercase());
        let embargo_until = embargo_until.filter(|text| !text.trim().is_empty());
        match level.as_deref() {
            Some("OPEN") => match embargo_until {
                None => (Access::Open, None),
                Some(text) => match parse_date(text) {
                    Some(until) => (
                        Access::Embargoed { until },
                        Some(format!(
                            "OPEN with an embargo until {until}: archived embargoed until then"
                        )),
                    ),
                    None => (
                        Access::Restricted,
                        Some(format!(
                            "OPEN with an embargo end date that cannot be read ({text:?}): archived restricted"
                        )),
                    ),
                },
            },
            Some("RESTRICTED") => (Access::Restricted, None),
            Some("EMBARGOED") => match embargo_until.and_then(parse_date) {
                Some(until) => (Access::Embargoed { until }, None),
                None => (
                    Access::Restricted,
                    Some(format!(
                        "embargo without a readable end date ({embargo_until:?}): archived restricted"
                    )),
                ),
            },
            other => (
                Access::Restricted,
                Some(format!(
                    "access level {other:?} is not OPEN, RESTRICTED or EMBARGOED: archived restricted"
                )),
            ),
        }
    }

    /// The S3 object tag value that records the classification (`open`, `restricted`,
    /// `embargoed`), for access policies and inventories.
    pub fn tag(&self) -> &'static str {
        match self {
            Access::Open => "open",
            Access::Restricted => "restricted",
            Access::Embargoed { .. } => "embargoed",
        }
    }
}

/// A date as `yyyy-MM-dd` or the date of an RFC 3339 time.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.date_naive())
        })
}

/// Where a thesis lives in the archive: `<institution>/<year>/<exam>/<kandidatnr>/`. Stable: the
/// same thesis always gets the same prefix, so re-archiving finds what is there.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ThesisKey {
    /// The institution's `org_id`.
    pub institution: String,
    /// The year the thesis was graded.
    pub year: i32,
    /// The exam: the course code, or the exam system's exam id.
    pub exam: String,
    /// The candidate number.
    pub kandidatnr: String,
}

impl ThesisKey {
    /// The key prefix, every part reduced to `[A-Za-z0-9._-]` (others become `_`).
    pub fn prefix(&self) -> String {
        format!(
            "{}/{}/{}/{}/",
            segment(&self.institution),
            self.year,
            segment(&self.exam),
            segment(&self.kandidatnr)
        )
    }

    /// The object key of one file of the thesis whose cleaned name no other file of the thesis
    /// shares (see [`ThesisKey::file_keys`] for a thesis's whole list).
    pub fn file_key(&self, filename: &str) -> String {
        self.files_key(&segment(filename))
    }

    /// The object keys of a thesis's files, in the order listed: one per file, never two alike.
    /// A name is cleaned as in [`ThesisKey::file_key`]; names that clean to the same text (two
    /// empty names both become `_`; `a b.pdf` and `a_b.pdf` both `a_b.pdf`) are numbered by their
    /// place among those names, before the extension: `_(1)`, `_(2)`, `a_b(1).pdf`, `a_b(2).pdf`.
    /// Cleaning never leaves a parenthesis, so a numbered key meets no other file's key; and the
    /// same listing always gets the same keys, so re-archiving finds what an earlier attempt wrote.
    pub fn file_keys<S: AsRef<str>>(&self, filenames: &[S]) -> Vec<String> {
        let cleaned: Vec<String> = filenames.iter().map(|n| segment(n.as_ref())).collect();
        let mut sharing: HashMap<&str, usize> = HashMap::new();
        for name in &cleaned {
            *sharing.entry(name).or_default() += 1;
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        cleaned
            .iter()
            .map(|name| {
                if sharing[name.as_str()] == 1 {
                    return self.files_key(name);
                }
                let place = seen.entry(name).or_default();
                *place += 1;
                let numbered = match name.rfind('.') {
                    Some(dot) if dot > 0 => format!("{}({place}){}", &name[..dot], &name[dot..]),
                    _ => format!("{name}({place})"),
                };
                self.files_key(&numbered)
            })
            .collect()
    }

    fn files_key(&self, cleaned: &str) -> String {
        format!("{}files/{cleaned}", self.prefix())
    }

    /// The manifest's object key.
    pub fn manifest_key(&self) -> String {
        format!("{}{MANIFEST_NAME}", self.prefix())
    }
}

fn segment(text: &str) -> String {
    let cleaned: String = text
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match cleaned.trim_matches('.') {
        "" => "_".to_owned(),
        kept => kept.to_owned(),
    }
}

/// The deadlines after a grade is announced that keep its thesis out of the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// The appeal deadline.
    pub appeal: Duration,
    /// The explanation-request deadline.
    pub explanation: Duration,
    /// Time after the later deadline before the thesis is due: an appeal filed on the last day is
    /// registered in FS and read by fs-poll (which opens its hold) within it, even when FS was
    /// unreachable for a while.
    pub margin: Duration,
}

impl Deadlines {
    /// When a thesis graded at `graded_at` may be archived: after the later of the two deadlines
    /// and the margin.
    pub fn due_at(&self, graded_at: DateTime<Utc>) -> DateTime<Utc> {
        graded_at + self.appeal.max(self.explanation) + self.margin
    }
}

/// One archived file as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// The file name as the exam system gave it.
    pub name: String,
    /// Its object key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of its bytes: equal to the source's, and confirmed by the checksum S3
    /// reports for the stored object (for an object written in parts, S3's composite checksum is
    /// that of the parts of bytes with this SHA-256).
    pub sha256: String,
    /// Its content type.
    pub content_type: String,
    /// The S3 version written (the bucket is versioned).
    pub version_id: Option<String>,
}

/// The manifest of an archived thesis: the metadata mapping of the README, the files and their
/// checksums, and the access classification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_SCHEMA`].
    pub schema: String,
    /// Where it is archived.
    pub key: ThesisKey,
    /// The exam system it came from.
    pub exam_system: ExamSystem,
    /// The exam system's ids (test and candidate, or flow and submission).
    pub source_ids: Vec<(String, String)>,
    /// The title.
    pub title: String,
    /// The language code (ISO 639-3), if the source gave one.
    pub language: Option<String>,
    /// When the grade was announced (RFC 3339).
    pub graded_at: String,
    /// Who may read it.
    pub access: Access,
    /// Why access was read strictly, if it was.
    pub access_note: Option<String>,
    /// The files.
    pub files: Vec<ManifestFile>,
    /// When the archive was completed (RFC 3339).
    pub archived_at: String,
}

/// A message on the thesis queue: a thesis to register, or a due thesis to archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum ThesisMessage {
    /// An Inspera `thesis_submitted` webhook, verified by the receiver: register the thesis.
    Register(crate::appeals::InsperaEvent),
    /// A thesis the sweep found due: archive it.
    Archive {
        /// The thesis (its [`crate::thesis_store::PendingThesis::id`]).
        thesis_id: String,
        /// The sweep's execution.
        execution_id: String,
        /// When the sweep queued it (epoch ms): the message's version. A delivery that finds the
        /// thesis held or not yet due settles only this message; the next sweep queues new work.
        #[serde(default)]
        queued_at_ms: u64,
        /// Queued for an institution in shadow mode: the archiving is recorded once, never made.
        /// Its claim is kept apart from the live thesis's, so the live run archives it afresh.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        shadow: bool,
    },
}

impl crate::apply::Applicable for ThesisMessage {
    fn key(&self) -> String {
        match self {
            ThesisMessage::Register(event) => format!(
                "thesis-register#{}#{}#{}",
                event.instance, event.test_id, event.associated_id
            ),
            ThesisMessage::Archive {
                thesis_id, shadow, ..
            } => format!(
                "{}thesis-archive#{thesis_id}",
                if *shadow { "shadow#" } else { "" }
            ),
        }
    }

    fn version(&self) -> u64 {
        match self {
            // A thesis is registered once: any delivery is the same work.
            ThesisMessage::Register(_) => 1,
            // A shadow thesis's intent is recorded once: later sweeps' messages are repeats.
            ThesisMessage::Archive { shadow: true, .. } => 1,
            // Each sweep's message is a new attempt; the archiver makes a repeat write nothing.
            ThesisMessage::Archive { queued_at_ms, .. } => *queued_at_ms,
        }
    }

    fn execution_id(&self) -> &str {
        match self {
            ThesisMessage::Register(event) => &event.execution_id,
            ThesisMessage::Archive { execution_id, .. } => execution_id,
        }
    }

    fn label(&self) -> String {
        match self {
            ThesisMessage::Register(event) => format!(
                "Inspera thesis of candidate {} on test {}",
                event.associated_id, event.test_id
            ),
            ThesisMessage::Archive { thesis_id, .. } => thesis_id.clone(),
        }
    }

    fn validate(&self) -> crate::Result<()> {
        match self {
            ThesisMessage::Register(event) if event.associated_id.trim().is_empty() => {
                Err(crate::Error::mapping(format!(
                    "{}: associatedObjectId (the candidate) is empty",
                    self.label()
                )))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_is_never_more_open_than_the_source_says() {
        assert_eq!(Access::from_source(Some("open"), None).0, Access::Open);
        assert_eq!(
            Access::from_source(Some("EMBARGOED"), Some("2031-06-30")).0,
            Access::Embargoed {
                until: NaiveDate::from_ymd_opt(2031, 6, 30).unwrap()
            }
        );
        for open_with_embargo in ["2031-06-30", " 2031-06-30T00:00:00Z "] {
            let (access, note) = Access::from_source(Some("OPEN"), Some(open_with_embargo));
            assert_eq!(
                access,
                Access::Embargoed {
                    until: NaiveDate::from_ymd_opt(2031, 6, 30).unwrap()
                },
                "OPEN with embargoUntil {open_with_embargo:?} is embargoed, not open"
            );
            assert!(note.unwrap().contains("archived embargoed"));
        }
        assert_eq!(Access::from_source(Some("OPEN"), Some(" ")).0, Access::Open);
        for (level, until) in [
            (Some("RESTRICTED"), None),
            (Some("RESTRICTED"), Some("2031-06-30")),
            (Some("EMBARGOED"), None),
            (Some("EMBARGOED"), Some("")),
            (Some("EMBARGOED"), Some("soon")),
            (Some("OPEN"), Some("soon")),
            (Some("PUBLIC-ISH"), None),
            (Some("PUBLIC-ISH"), Some("2031-06-30")),
            (None, None),
            (None, Some("2031-06-30")),
        ] {
            let (access, _) = Access::from_source(level, until);
            assert_eq!(access, Access::Restricted, "{level:?} {until:?}");
        }
        assert!(Access::from_source(None, None)
            .1
            .unwrap()
            .contains("archived restricted"));
    }

    #[test]
    fn keys_are_stable_and_safe() {
        let key = ThesisKey {
            institution: "uio".into(),
            year: 2026,
            exam: "INF5990 / VÅR".into(),
            kandidatnr: "123456".into(),
        };
        assert_eq!(key.prefix(), "uio/2026/INF5990___V_R/123456/");
        assert_eq!(
            key.file_key("../thesis final.pdf"),
            "uio/2026/INF5990___V_R/123456/files/_thesis_final.pdf"
        );
        assert_eq!(
            key.manifest_key(),
            "uio/2026/INF5990___V_R/123456/manifest.json"
        );
    }

    #[test]
    fn names_that_clean_alike_get_distinct_stable_keys() {
        let key = ThesisKey {
            institution: "uib".into(),
            year: 2026,
            exam: "flow-5001".into(),
            kandidatnr: "254850".into(),
        };
        let names = [
            "",
            "thesis.pdf",
            "a b.pdf",
            " ",
            "a_b.pdf",
            "vedlegg",
            "vedlegg",
        ];
        let keys = key.file_keys(&names);
        let files = |name: &str| format!("uib/2026/flow-5001/254850/files/{name}");
        assert_eq!(
            keys,
            vec![
                files("_(1)"),
                files("thesis.pdf"),
                files("a_b(1).pdf"),
                files("_(2)"),
                files("a_b(2).pdf"),
                files("vedlegg(1)"),
                files("vedlegg(2)"),
            ]
        );
        let distinct: std::collections::HashSet<&String> = keys.iter().collect();
        assert_eq!(distinct.len(), names.len(), "one key per file");
        assert_eq!(
            key.file_keys(&names),
            keys,
            "the same listing, the same keys"
        );
        assert_eq!(
            keys[1],
            key.file_key("thesis.pdf"),
            "a name nobody shares keeps its plain key"
        );
        let none: [&str; 0] = [];
        assert!(key.file_keys(&none).is_empty());
    }

    #[test]
    fn a_thesis_is_due_after_the_later_deadline_and_the_margin() {
        let graded = DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let deadlines = Deadlines {
            appeal: Duration::days(21),
            explanation: Duration::days(7),
            margin: Duration::hours(24),
        };
        assert_eq!(
            deadlines.due_at(graded).to_rfc3339(),
            "2026-06-23T12:00:00+00:00"
        );
        let later_explanation = Deadlines {
            explanation: Duration::days(30),
            margin: Duration::zero(),
            ..deadlines
        };
        assert_eq!(
            later_explanation.due_at(graded).to_rfc3339(),
            "2026-07-01T12:00:00+00:00"
        );
    }
}
