//! WISEflow explanation requests Flyt made and FS still waits for. WISEflow does not push, so
//! `exam-dispatch` notes each request here and `wiseflow-poll` asks WISEflow about the flows that
//! have one open. One state-table item per institution holds a string set: adding and removing
//! entries are single, idempotent updates, so a repeated dispatch or poll changes nothing.

use crate::dynamo::{SetChange, StringSets};
use crate::error::{Error, Result};

const PREFIX: &str = "wiseflow-open#";

/// One open explanation request.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpenExplanation {
    /// The flow.
    pub flow_id: u64,
    /// WISEflow's explanation request id.
    pub explanation_request_id: u64,
    /// `vurdId` of the FS request.
    pub vurd_id: String,
    /// `kandidatnr`.
    pub kandidatnr: String,
    /// `datoBedtOm` of the FS request.
    pub requested_at: String,
}

impl OpenExplanation {
    fn encode(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.flow_id,
            self.explanation_request_id,
            self.vurd_id,
            self.kandidatnr,
            self.requested_at
        )
    }

    fn decode(text: &str) -> Option<Self> {
        let mut parts = text.splitn(5, '|');
        Some(OpenExplanation {
            flow_id: parts.next()?.parse().ok()?,
            explanation_request_id: parts.next()?.parse().ok()?,
            vurd_id: parts.next()?.to_owned(),
            kandidatnr: parts.next()?.to_owned(),
            requested_at: parts.next()?.to_owned(),
        })
    }
}

/// The open requests per institution, in the state table.
#[derive(Clone, Debug)]
pub struct OpenExplanations {
    sets: StringSets,
}

impl OpenExplanations {
    /// A store over `table`.
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        OpenExplanations {
            sets: StringSets::new(dynamodb, table, "open"),
        }
    }

    /// Notes a request as open (idempotent).
    pub async fn add(&self, org_id: &str, open: &OpenExplanation) -> Result<()> {
        if open.vurd_id.contains('|') || open.kandidatnr.contains('|') {
            return Err(Error::mapping(format!(
                "vurdId {:?} / kandidatnr {:?} contain '|'",
                open.vurd_id, open.kandidatnr
            )));
        }
        self.sets
            .change(&key(org_id), SetChange::Add, vec![open.encode()])
            .await
    }

    /// Every open request of an institution, in order.
    pub async fn list(&self, org_id: &str) -> Result<Vec<OpenExplanation>> {
        let mut open: Vec<OpenExplanation> = self
            .sets
            .members(&key(org_id))
            .await?
            .iter()
            .filter_map(|entry| OpenExplanation::decode(entry))
            .collect();
        open.sort();
        Ok(open)
    }

    /// Removes requests that are answered (idempotent).
    pub async fn remove(&self, org_id: &str, answered: &[OpenExplanation]) -> Result<()> {
        let members = answered.iter().map(OpenExplanation::encode).collect();
        self.sets
            .change(&key(org_id), SetChange::Remove, members)
            .await
    }
}

fn key(org_id: &str) -> String {
    format!("{PREFIX}{org_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let open = OpenExplanation {
            flow_id: 1001,
            explanation_request_id: 7,
            vurd_id: "MTg1LUlORjEwMA==".into(),
            kandidatnr: "123456".into(),
            requested_at: "2026-11-20T10:00:00".into(),
        };
        assert_eq!(OpenExplanation::decode(&open.encode()), Some(open));
        assert_eq!(OpenExplanation::decode("x|1|a|b|c"), None);
    }
}
