//! Theses Flyt knows of, and what holds them back: DynamoDB state of the archive flow.
//!
//! - [`ThesisStore`] (the theses table): every discovered thesis, registered once, `PENDING` with
//!   its due date until it is `ARCHIVED` or `FAILED` (with the reason). An index by status and due
//!   date lets the sweep read exactly the due ones.
//! - [`Holds`] (the state table): open appeals and explanation requests per candidate. A thesis
//!   whose candidate has one waits; a decided appeal or a registered explanation releases it.
//!   Keyed by institution and candidate number: an appeal of any exam by that candidate postpones
//!   — conservative, never early.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dynamo::{n, s, Item, ItemExt, SetChange, StringSets};
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
    /// When the grade was announced (RFC 3339).
    pub graded_at: String,
    /// When it may be archived (epoch ms): after the appeal and explanation deadlines.
    pub due_at_ms: i64,
}

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
            .item("due_at", n(thesis.due_at_ms))
            .item(
                "thesis",
                s(serde_json::to_string(thesis).expect("a thesis serialises")),
            )
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(aws_error("DynamoDB", "PutItem", e)
                .context(format_args!("registering {}", thesis.id))),
        }
    }

    /// Pending theses due at `now_ms` or earlier.
    pub async fn due(&self, now_ms: i64) -> Result<Vec<PendingThesis>> {
        let items: Vec<Item> = self
            .dynamodb
            .query()
            .table_name(&self.table)
            .index_name(BY_STATUS_INDEX)
            .key_condition_expression("#status = :pending AND due_at <= :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(ThesisStatus::Pending.as_str()))
            .expression_attribute_values(":now", n(now_ms))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DynamoDB", "Query", e).context("reading due theses"))?;
        items.iter().map(thesis_of).collect()
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
    fn as_str(self) -> &'static str {
        match self {
            HoldKind::Appeal => "appeal",
            HoldKind::Explanation => "explanation",
        }
    }
}

/// Open appeals and explanation requests per candidate, in the state table.
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

    /// Opens a hold (idempotent).
    pub async fn open(&self, org_id: &str, kandidatnr: &str, kind: HoldKind) -> Result<()> {
        self.sets
            .change(
                &hold_key(org_id, kandidatnr),
                SetChange::Add,
                vec![kind.as_str().to_owned()],
            )
            .await
    }

    /// Releases a hold (idempotent).
    pub async fn release(&self, org_id: &str, kandidatnr: &str, kind: HoldKind) -> Result<()> {
        self.sets
            .change(
                &hold_key(org_id, kandidatnr),
                SetChange::Remove,
                vec![kind.as_str().to_owned()],
            )
            .await
    }

    /// The open holds of a candidate, by name (`appeal`, `explanation`).
    pub async fn open_for(&self, org_id: &str, kandidatnr: &str) -> Result<Vec<String>> {
        self.sets.members(&hold_key(org_id, kandidatnr)).await
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
