//! Counts and log lines of one batch, grouped by the execution each item belongs to, so each
//! execution is updated once per batch.

use std::collections::BTreeMap;

use crate::batch::Outcome;
use crate::execution::LogLine;

/// One execution's share of a batch.
#[derive(Debug, Default)]
pub struct Entry {
    /// Counters to add.
    pub counts: BTreeMap<String, u64>,
    /// Lines to append.
    pub lines: Vec<LogLine>,
}

/// A batch's counts and lines by execution id.
#[derive(Debug, Default)]
pub struct Tally {
    entries: BTreeMap<String, Entry>,
}

impl Tally {
    /// Adds one to a counter of an execution.
    pub fn count(&mut self, execution_id: &str, name: &str) {
        *self
            .entries
            .entry(execution_id.to_owned())
            .or_default()
            .counts
            .entry(name.to_owned())
            .or_insert(0) += 1;
    }

    /// Appends a line to an execution.
    pub fn line(&mut self, execution_id: &str, line: LogLine) {
        self.entries
            .entry(execution_id.to_owned())
            .or_default()
            .lines
            .push(line);
    }

    /// Records a failed item: parked items get an error line (the execution turns KO), retried
    /// and delayed ones only a counter (a retry that later succeeds is not a failure).
    pub fn outcome(&mut self, execution_id: &str, label: &str, outcome: &Outcome) {
        match outcome {
            Outcome::Done => {}
            Outcome::Retry(_) => self.count(execution_id, "retried"),
            Outcome::Defer(..) => self.count(execution_id, "deferred"),
            Outcome::Park(error) => {
                self.count(execution_id, "parked");
                let message = if label.is_empty() || error.message().contains(label) {
                    error.clone()
                } else {
                    error.clone().context(label)
                };
                self.entries
                    .entry(execution_id.to_owned())
                    .or_default()
                    .lines
                    .push(LogLine::error(
                        &message.context("parked in the dead-letter queue"),
                    ));
            }
        }
    }

    /// The entries, by execution id.
    pub fn into_entries(self) -> BTreeMap<String, Entry> {
        self.entries
    }
}
