//! Theses Flyt knows of, and what holds them back: DynamoDB state of the archive flow.
//!
//! - [`ThesisStore`] (the theses table): every discovered thesis, registered once, `PENDING` with
//!   its due date until it is `ARCHIVED` or `FAILED` (with the reason). A thesis handed in but not
//!   yet graded is `PENDING` without a due date (awaiting grading) until a sweep reads its grading
//!   date. An index by status and due date lets the sweep read exactly the due ones, and the ones
//!   awaiting grading.
//! - [`Holds`] (the state table): open appeals and explanation requests per candidate, one member
//!   per case (`appeal#<vurdId>`, `explanation#<vurdId>`). A thesis whose candidate has one waits;
//!   a decided appeal or a registered explanation releases that case only. An open case of any
//!   exam by that candidate postpones — conservative, never early.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dynamo::{conditional, n, s, Item, ItemExt, SetChange, StringSets};
use crate::error::{aws_error, Error, Result};

/// The index of the theses table by status and due date.
pub const BY_STATUS_INDEX: &str = "by-status";

/// Where a thesis is in the exam system.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "system", rename_all = "UPPERCASE")]
pub enum ThesisSource {
    /// An Inspera test's candidate.
    Inspera {
        /// The Inspera instance.
        instance: String,
        /// The test.
        test_id: u64,
        /// The candidate (kandidatnr).
        candidate_id: String,
    },
    /// A WISEflow flow's submission.
    Wiseflow {
        /// The flow.
        flow_id: u64,
        /// The submission.
        submission_id: u64,
    },
}

/// A discovered thesis waiting for its archive date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingThesis {
    /// Stable id: institution and the exam system's ids.
    pub id: String,
    /// The institution.
    pub org_id: String,
    /// Where it is in the exam system.
    pub source: ThesisSource,
    /// The candidate number.
    pub kandidatnr: String,
    /// When the grade was announced (RFC 3339); `None` while the thesis awaits grading.
    #[serde(default)]
    pub graded_at: Option<String>,
    /// When it may be archived (epoch ms): after the appeal and explanation deadlines; `None`
    /// while the thesis awaits grading.
    #[serde(default)]
    pub due_at_ms: Option<i64>,
}

/// The index value of `due_at` of a thesis awaiting grading: below every real due date, read by
/// [`ThesisStore::awaiting_grade`] and never by [`ThesisStore::due`].
const AWAITING_GRADE: i64 = 0;

impl PendingThesis {
    /// The id of a thesis from its institution and source.
    pub fn id_of(org_id: &str, source: &ThesisSource) -> String {
        match source {
            ThesisSource::Inspera {
                instance,
                test_id,
                candidate_id,
            } => format!("thesis#{org_id}#inspera#{instance}#{test_id}#{candidate_id}"),
            ThesisSource::Wiseflow {
                flow_id,
                submission_id,
            } => format!("thesis#{org_id}#wiseflow#{flow_id}#{submission_id}"),
        }
    }
}

/// A thesis's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ThesisStatus {
    /// Waiting for its date (or its holds).
    Pending,
    /// Archived, with a manifest.
    Archived,
    /// Not archived; the reason says why and what to do.
    Failed,
}

impl ThesisStatus {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ThesisStatus::Pending => "PENDING",
            ThesisStatus::Archived => "ARCHIVED",
            ThesisStatus::Failed => "FAILED",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "PENDING" => Some(ThesisStatus::Pending),
            "ARCHIVED" => Some(ThesisStatus::Archived),
            "FAILED" => Some(ThesisStatus::Failed),
            _ => None,
        }
    }
}

/// A stored thesis with its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredThesis {
    /// The thesis.
    pub thesis: PendingThesis,
    /// Its state.
    pub status: ThesisStatus,
    /// Why it failed, if it did.
    pub reason: Option<String>,
}

/// The theses table.
#[derive(Clone, Debug)]
pub struct ThesisStore {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

impl ThesisStore {
    /// A store over `table` (key `pk`; index [`BY_STATUS_INDEX`] on `status` + `due_at`).
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        ThesisStore {
            dynamodb,
            table: table.into(),
        }
    }

    /// Registers a thesis as pending, once: returns false when it was known already.
    pub async fn register(&self, thesis: &PendingThesis) -> Result<bool> {
        let result = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&thesis.id))
            .item("status", s(ThesisStatus::Pending.as_str()))
            .item("due_at", n(thesis.due_at_ms.unwrap_or(AWAITING_GRADE)))
            .item(
                "thesis",
                s(serde_json::to_string(thesis).expect("a thesis serialises")),
            )
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        conditional(result, "PutItem", format_args!("registering {}", thesis.id))
            .map(|written| written.is_some())
    }

    /// Pending theses due at `now_ms` or earlier (not those awaiting grading).
    pub async fn due(&self, now_ms: i64) -> Result<Vec<PendingThesis>> {
        self.pending_between(AWAITING_GRADE + 1, now_ms, "reading due theses")
            .await
    }

    /// Pending theses handed in but not graded when last read: no due date yet.
    pub async fn awaiting_grade(&self) -> Result<Vec<PendingThesis>> {
        self.pending_between(
            AWAITING_GRADE,
            AWAITING_GRADE,
            "reading theses awaiting grading",
        )
        .await
    }

    async fn pending_between(&self, from: i64, to: i64, what: &str) -> Result<Vec<PendingThesis>> {
        let items: Vec<Item> = self
            .dynamodb
            .query()
            .table_name(&self.table)
            .index_name(BY_STATUS_INDEX)
            .key_condition_expression("#status = :pending AND due_at BETWEEN :from AND :to")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(ThesisStatus::Pending.as_str()))
            .expression_attribute_values(":from", n(from))
            .expression_attribute_values(":to", n(to))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DynamoDB", "Query", e).context(what))?;
        items.iter().map(thesis_of).collect()
    }

    /// Records the grading date and due date of a pending thesis that awaited grading. Returns
    /// false when it was graded already or is no longer pending (another sweep was first).
    pub async fn set_graded(&self, thesis: &PendingThesis) -> Result<bool> {
        let due_at_ms = thesis.due_at_ms.ok_or_else(|| {
            Error::technical(format!(
                "{}: set_graded needs the due date of a graded thesis",
                thesis.id
            ))
        })?;
        let result = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&thesis.id))
            .condition_expression("#status = :pending AND due_at = :awaiting")
            .update_expression("SET due_at = :due, thesis = :thesis")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(ThesisStatus::Pending.as_str()))
            .expression_attribute_values(":awaiting", n(AWAITING_GRADE))
            .expression_attribute_values(":due", n(due_at_ms))
            .expression_attribute_values(
                ":thesis",
                s(serde_json::to_string(thesis).expect("a thesis serialises")),
            )
            .send()
            .await;
        conditional(
            result,
            "UpdateItem",
            format_args!("recording the grading date of {}", thesis.id),
        )
        .map(|written| written.is_some())
    }

    /// One thesis and its state.
    pub async fn get(&self, id: &str) -> Result<Option<StoredThesis>> {
        let output = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                aws_error("DynamoDB", "GetItem", e).context(format_args!("reading {id}"))
            })?;
        output.item.as_ref().map(stored_of).transpose()
    }

    /// Every thesis with its state (for reports; the table holds one item per thesis).
    pub async fn all(&self) -> Result<Vec<StoredThesis>> {
        let items: Vec<Item> = self
            .dynamodb
            .scan()
            .table_name(&self.table)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DynamoDB", "Scan", e).context("reading theses"))?;
        items.iter().map(stored_of).collect()
    }

    /// Sets a thesis's state (and the reason of a failure).
    pub async fn set_status(
        &self,
        id: &str,
        status: ThesisStatus,
        reason: Option<&str>,
    ) -> Result<()> {
        let mut update = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(id))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()));
        update = match reason {
            Some(reason) => update
                .update_expression("SET #status = :status, reason = :reason")
                .expression_attribute_values(":reason", s(reason)),
            None => update.update_expression("SET #status = :status REMOVE reason"),
        };
        update.send().await.map_err(|e| {
            aws_error("DynamoDB", "UpdateItem", e)
                .context(format_args!("marking {id} {}", status.as_str()))
        })?;
        Ok(())
    }
}

fn thesis_of(item: &Item) -> Result<PendingThesis> {
    let text = item.string("thesis").unwrap_or_default();
    serde_json::from_str(&text).map_err(|e| {
        Error::technical(format!(
            "thesis record {} does not parse: {e}",
            item.string("pk").unwrap_or_default()
        ))
    })
}

fn stored_of(item: &Item) -> Result<StoredThesis> {
    Ok(StoredThesis {
        thesis: thesis_of(item)?,
        status: item
            .string("status")
            .as_deref()
            .and_then(ThesisStatus::parse)
            .unwrap_or(ThesisStatus::Pending),
        reason: item.string("reason"),
    })
}

/// What can hold a thesis back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HoldKind {
    /// An appeal is open.
    Appeal,
    /// An explanation request is open.
    Explanation,
}

impl HoldKind {
    /// As stored: `appeal`, `explanation`.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldKind::Appeal => "appeal",
            HoldKind::Explanation => "explanation",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "appeal" => Some(HoldKind::Appeal),
            "explanation" => Some(HoldKind::Explanation),
            _ => None,
        }
    }
}

/// What a case does to its candidate's holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldChange {
    /// The case is open: it holds the thesis back.
    Open(HoldKind),
    /// The case is closed (withdrawn, decided, answered): it no longer does.
    Release(HoldKind),
}

/// One open case holding a candidate's thesis back.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hold {
    /// Appeal or explanation request.
    pub kind: HoldKind,
    /// The case: FS's `vurdId` of the exam. Empty for a hold written before holds were per case
    /// (any release of that kind for the candidate releases it).
    pub case: String,
}

impl Hold {
    /// The set member: `<kind>#<case>` (`<kind>` alone for a hold without a case).
    fn member(&self) -> String {
        if self.case.is_empty() {
            self.kind.as_str().to_owned()
        } else {
            format!("{}#{}", self.kind.as_str(), self.case)
        }
    }

    /// A stored member; `None` for one this version does not know.
    fn parse(member: &str) -> Option<Self> {
        let (kind, case) = member.split_once('#').unwrap_or((member, ""));
        Some(Hold {
            kind: HoldKind::parse(kind)?,
            case: case.to_owned(),
        })
    }
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.member())
    }
}

/// Open appeals and explanation requests per candidate and case, in the state table.
#[derive(Clone, Debug)]
pub struct Holds {
    sets: StringSets,
}

impl Holds {
    /// Holds in `table` (the state table).
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Holds {
            sets: StringSets::new(dynamodb, table, "open"),
        }
    }

    /// Opens the hold of one case (`case` is FS's `vurdId`; idempotent).
    pub async fn open(
        &self,
        org_id: &str,
        kandidatnr: &str,
        kind: HoldKind,
        case: &str,
    ) -> Result<()> {
        let hold = Hold {
            kind,
            case: case.to_owned(),
        };
        self.sets
            .change(
                &hold_key(org_id, kandidatnr),
                SetChange::Add,
                vec![hold.member()],
            )
            .await
    }

    /// Releases the hold of one case (idempotent). A hold of the same kind written before holds
    /// were per case is released with it.
    pub async fn release(
        &self,
        org_id: &str,
        kandidatnr: &str,
        kind: HoldKind,
        case: &str,
    ) -> Result<()> {
        let hold = Hold {
            kind,
            case: case.to_owned(),
        };
        self.sets
            .change(
                &hold_key(org_id, kandidatnr),
                SetChange::Remove,
                vec![hold.member(), kind.as_str().to_owned()],
            )
            .await
    }

    /// Opens or releases the hold of one case, as `change` says.
    pub async fn apply(
        &self,
        org_id: &str,
        kandidatnr: &str,
        case: &str,
        change: HoldChange,
    ) -> Result<()> {
        match change {
            HoldChange::Open(kind) => self.open(org_id, kandidatnr, kind, case).await,
            HoldChange::Release(kind) => self.release(org_id, kandidatnr, kind, case).await,
        }
    }

    /// The open holds of a candidate. A member this version does not know holds too: it is
    /// returned as an appeal with the member as its case, never dropped.
    pub async fn open_for(&self, org_id: &str, kandidatnr: &str) -> Result<Vec<Hold>> {
        let members = self.sets.members(&hold_key(org_id, kandidatnr)).await?;
        let mut holds: Vec<Hold> = members
            .iter()
            .map(|member| {
                Hold::parse(member).unwrap_or_else(|| Hold {
                    kind: HoldKind::Appeal,
                    case: member.clone(),
                })
            })
            .collect();
        holds.sort();
        Ok(holds)
    }
}

fn hold_key(org_id: &str, kandidatnr: &str) -> String {
    format!("hold#{org_id}#{kandidatnr}")
}

/// Counts of theses by state, for reports.
pub fn count_by_status(theses: &[StoredThesis]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for thesis in theses {
        *counts.entry(thesis.status.as_str()).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_is_stored_per_case_and_read_back() {
        let hold = Hold {
            kind: HoldKind::Appeal,
            case: "MTk0LUlORjU5OTA=".to_owned(),
        };
        assert_eq!(hold.member(), "appeal#MTk0LUlORjU5OTA=");
        assert_eq!(Hold::parse(&hold.member()), Some(hold));
        let legacy = Hold::parse("explanation").unwrap();
        assert_eq!(legacy.kind, HoldKind::Explanation);
        assert_eq!(legacy.case, "");
        assert_eq!(legacy.member(), "explanation");
        assert_eq!(Hold::parse("review#1"), None);
    }

    #[test]
    fn a_thesis_stored_before_ungraded_ones_existed_still_parses() {
        let old = r#"{"id":"thesis#uib#wiseflow#9#4","org_id":"uib","source":{"system":"WISEFLOW","flow_id":9,"submission_id":4},"kandidatnr":"1","graded_at":"2026-06-01T10:00:00+00:00","due_at_ms":1781258400000}"#;
        let thesis: PendingThesis = serde_json::from_str(old).unwrap();
        assert_eq!(
            thesis.graded_at.as_deref(),
            Some("2026-06-01T10:00:00+00:00")
        );
        assert_eq!(thesis.due_at_ms, Some(1_781_258_400_000));
    }
}
