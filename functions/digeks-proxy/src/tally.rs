//! The day's execution of the proxy, written in batches: a call adds its counts and its line (a
//! refusal or failure an operator should see) in memory, and what is pending is written by the
//! first call `TALLY_FLUSH_MS` or more after the last write — beside that call's FS request when
//! it has one, so no call waits for the write. A flood of calls therefore costs one write per interval per instance, not one per
//! call.
//!
//! What that costs: the execution trails the calls by up to the interval; an instance Lambda
//! reclaims takes its unwritten batch with it (the metrics, one EMF line per call, stay exact);
//! a batch written just after midnight (UTC) counts in the new day. Lines beyond
//! [`MAX_PENDING_LINES`] in one interval are counted as `lines_dropped`, not kept.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use flyt::execution::{DailyExecution, LogLine};
use tokio::time::Instant;

/// Lines kept for one write; the rest are counted.
pub const MAX_PENDING_LINES: usize = 50;

/// The day's execution and what has not been written to it yet.
#[derive(Debug)]
pub struct Tally {
    executions: DailyExecution,
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    pending: Pending,
    written_at: Option<Instant>,
}

impl State {
    /// Whether to write now: something is pending and the last write is `interval` old (or
    /// there was none).
    fn due(&self, interval: Duration, now: Instant) -> bool {
        !self.pending.is_empty()
            && self
                .written_at
                .is_none_or(|at| now.duration_since(at) >= interval)
    }
}

/// Counts and lines not written yet.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pending {
    counts: BTreeMap<&'static str, u64>,
    lines: Vec<LogLine>,
}

impl Pending {
    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.lines.is_empty()
    }

    /// Adds a call's counts and line.
    pub fn add(&mut self, counts: &[(&'static str, u64)], line: Option<LogLine>) {
        for (name, count) in counts {
            *self.counts.entry(name).or_insert(0) += count;
        }
        if let Some(line) = line {
            if self.lines.len() < MAX_PENDING_LINES {
                self.lines.push(line);
            } else {
                *self.counts.entry("lines_dropped").or_insert(0) += 1;
            }
        }
    }

    /// Puts back a batch whose write failed, ahead of what came since.
    fn restore(&mut self, mut batch: Pending) {
        for (name, count) in std::mem::take(&mut self.counts) {
            *batch.counts.entry(name).or_insert(0) += count;
        }
        batch.lines.append(&mut self.lines);
        let dropped = batch.lines.len().saturating_sub(MAX_PENDING_LINES) as u64;
        if dropped > 0 {
            batch.lines.truncate(MAX_PENDING_LINES);
            *batch.counts.entry("lines_dropped").or_insert(0) += dropped;
        }
        *self = batch;
    }
}

impl Tally {
    /// A tally of `executions`, written at most every `interval`.
    pub fn new(executions: DailyExecution, interval: Duration) -> Self {
        Tally {
            executions,
            interval,
            state: Mutex::default(),
        }
    }

    /// Whether every call is written as it ends (`TALLY_FLUSH_MS` 0), rather than in batches.
    pub fn writes_every_call(&self) -> bool {
        self.interval.is_zero()
    }

    /// Adds one call's counts and line; nothing is written.
    pub fn add(&self, counts: &[(&'static str, u64)], line: Option<LogLine>) {
        self.lock().pending.add(counts, line);
    }

    /// Writes what is pending if it is due; a failed write keeps it for the next time.
    pub async fn flush_if_due(&self) {
        let batch = {
            let mut state = self.lock();
            let now = Instant::now();
            if !state.due(self.interval, now) {
                return;
            }
            state.written_at = Some(now);
            std::mem::take(&mut state.pending)
        };
        let counts: Vec<(&str, u64)> = batch.counts.iter().map(|(k, v)| (*k, *v)).collect();
        let written = match self.executions.id().await {
            Ok(id) => self.executions.record(&id, &counts, &batch.lines).await,
            Err(error) => Err(error),
        };
        if let Err(error) = written {
            tracing::error!(%error, "could not write the calls to the day's execution; kept for the next time");
            self.lock().pending.restore(batch);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_add_up_and_are_written_at_most_once_per_interval() {
        let start = Instant::now();
        let interval = Duration::from_secs(5);
        let mut state = State::default();
        assert!(!state.due(interval, start), "nothing to write");
        state.pending.add(&[("calls", 1), ("ok", 1)], None);
        assert!(state.due(interval, start), "the first batch goes at once");
        state.written_at = Some(start);
        state.pending.add(
            &[("calls", 1), ("forbidden", 1)],
            Some(LogLine::warning("refused")),
        );
        state.pending.add(&[("calls", 1), ("ok", 1)], None);
        assert_eq!(state.pending.counts["calls"], 3);
        assert_eq!(state.pending.lines.len(), 1);
        assert!(!state.due(interval, start + Duration::from_secs(4)));
        assert!(state.due(interval, start + interval));
        assert!(
            state.due(Duration::ZERO, start),
            "a zero interval writes every call"
        );
    }

    #[test]
    fn lines_beyond_the_cap_are_counted_and_a_failed_batch_comes_back_first() {
        let mut pending = Pending::default();
        for i in 0..MAX_PENDING_LINES + 3 {
            pending.add(&[("calls", 1)], Some(LogLine::warning(format!("{i}"))));
        }
        assert_eq!(pending.lines.len(), MAX_PENDING_LINES);
        assert_eq!(pending.counts["lines_dropped"], 3);
        let batch = std::mem::take(&mut pending);
        pending.add(&[("calls", 1)], Some(LogLine::warning("later")));
        pending.restore(batch);
        assert_eq!(pending.counts["calls"], MAX_PENDING_LINES as u64 + 4);
        assert_eq!(
            pending.counts["lines_dropped"], 4,
            "the later line did not fit either"
        );
        assert_eq!(pending.lines[0].message, "0");
    }
}
