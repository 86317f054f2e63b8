//! Applying queued items at most once per version: the one pipeline every consuming function uses.
//!
//! Per batch: validate every item (a bad one is parked as Mapping), keep the newest version of each
//! key, claim them all in the ordering store (one transaction), apply the claimed ones in parallel
//! (a panic fails only its item), and record the applied versions (one transaction). An item
//! already applied at this or a newer version is acknowledged without a call, so redeliveries and
//! late redrives change nothing. Counts and lines go to each item's execution once per batch.
//!
//! Time: while items are in flight a [`heartbeat`] renews the batch's claims, so a slow call keeps
//! its claim and no other invocation repeats it. No item starts after the stop point, the earlier
//! of half the lease after the claim and the invocation's deadline less the finish reserve; an item
//! still in flight at the deadline less the reserve is abandoned. Both are reported as batch item
//! failures, so only they are retried. [`Budget`] states the inequalities that make this hold.

mod budget;
mod heartbeat;
mod plan;
mod tally;

use std::future::Future;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::batch::{each, BatchProcessor, Message, Outcome, QueueSettings};
use crate::config::Vars;
use crate::error::{Error, Result};
use crate::execution::{ExecutionStore, LogLine};
use crate::observability::Metrics;
use crate::ordering::{Claim, OrderingStore};
use crate::sender::Sender;
use heartbeat::{Heartbeat, Held};

pub use budget::{
    Budget, Deadline, Limits, StopReason, AWS_VISIBILITY_FACTOR, LONGEST_LAMBDA_TIMEOUT,
};
pub use plan::{plan, Plan, Work};
pub use tally::{Entry, Tally};

/// An item that is applied at most once per version.
pub trait Applicable: Clone + Send + Sync {
    /// The ordering key (one business object: a book's item, a candidate's appeal, ...).
    fn key(&self) -> String;
    /// Increases with the source's change order.
    fn version(&self) -> u64;
    /// The execution the item is accounted to ("" for none).
    fn execution_id(&self) -> &str;
    /// A short name for logs and errors, free of personal data.
    fn label(&self) -> String;
    /// Checks the item before anything is sent anywhere; failures are Mapping errors naming the
    /// item and the field.
    fn validate(&self) -> Result<()>;
    /// Whether an operator forced it to be applied again at a version already applied.
    fn force(&self) -> bool {
        false
    }
}

/// What applying one item did: the counter it adds to, and optionally a line for its execution.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// The execution counter to add one to, e.g. `applied`.
    pub counter: &'static str,
    /// A line worth an operator's attention, if any.
    pub line: Option<LogLine>,
}

impl Applied {
    /// Counted under `counter`, without a line.
    pub fn counted(counter: &'static str) -> Self {
        Applied {
            counter,
            line: None,
        }
    }

    /// Adds a line for the item's execution.
    pub fn with_line(mut self, line: LogLine) -> Self {
        self.line = Some(line);
        self
    }
}

/// The settings every consuming function reads the same way: its queue, its claims, its tables.
#[derive(Clone, Debug)]
pub struct ApplierSettings {
    /// The consumed queue and its dead-letter queue.
    pub queue: QueueSettings,
    /// How long a claim protects work in progress without renewal (`CLAIM_LEASE_SECONDS`):
    /// longer than the function's timeout, shorter than the queue's visibility timeout less it.
    pub claim_lease: Duration,
    /// Time kept at the end of an invocation for releasing, recording and answering
    /// (`FINISH_RESERVE_MS`): no item runs into it.
    pub finish_reserve: Duration,
    /// How long an applied version is remembered (`VERSION_RETENTION_SECONDS`).
    pub retention: Duration,
    /// Items applied at once within a batch.
    pub concurrency: usize,
    /// DynamoDB table of item versions (`STATE_TABLE`).
    pub state_table: String,
    /// DynamoDB table of executions (`EXECUTIONS_TABLE`).
    pub executions_table: String,
}

impl ApplierSettings {
    /// Reads the settings; `queue_var`, `dlq_var` and `concurrency_var` name the function's own
    /// variables (the last defaulting to `default_concurrency`), `queue_name` says which queue it
    /// is in error messages.
    pub fn from_vars(
        vars: &Vars,
        queue_var: &str,
        dlq_var: &str,
        (concurrency_var, default_concurrency): (&str, usize),
        queue_name: &str,
    ) -> Result<Self> {
        Ok(ApplierSettings {
            queue: QueueSettings {
                source_queue_url: vars
                    .required(queue_var, &format!("the URL of the {queue_name} queue"))?,
                dead_letter_queue_url: vars.required(
                    dlq_var,
                    &format!("the URL of the {queue_name} queue's dead-letter queue"),
                )?,
                max_receive_count: vars.parsed_or(
                    "MAX_RECEIVE_COUNT",
                    5,
                    "the queue's maxReceiveCount, a whole number",
                )?,
            },
            claim_lease: vars.seconds_or("CLAIM_LEASE_SECONDS", 120)?,
            finish_reserve: vars.millis_or("FINISH_RESERVE_MS", 5_000)?,
            retention: vars.seconds_or("VERSION_RETENTION_SECONDS", 400 * 86_400)?,
            concurrency: vars
                .parsed_or(
                    concurrency_var,
                    default_concurrency,
                    "a whole number of parallel items, at least 1",
                )?
                .max(1),
            state_table: vars.required("STATE_TABLE", "the DynamoDB state table's name")?,
            executions_table: vars
                .required("EXECUTIONS_TABLE", "the DynamoDB executions table's name")?,
        })
    }
}

/// The claim → apply → complete pipeline of one consuming function. Build one per cold start.
#[derive(Clone, Debug)]
pub struct Applier {
    service: &'static str,
    ordering: OrderingStore,
    executions: ExecutionStore,
    batch: BatchProcessor,
    concurrency: usize,
    claim_lease: Duration,
    finish_reserve: Duration,
}

impl Applier {
    /// The pipeline of a function from its settings; parks and defers through `sender`. The
    /// ordering store's lease is the settings' `claim_lease`, renewed while items are in flight.
    pub fn from_settings(
        service: &'static str,
        settings: &ApplierSettings,
        dynamodb: &aws_sdk_dynamodb::Client,
        sender: Sender,
    ) -> Self {
        Applier {
            service,
            ordering: OrderingStore::new(
                dynamodb.clone(),
                &settings.state_table,
                settings.claim_lease,
                settings.retention,
            ),
            executions: ExecutionStore::new(dynamodb.clone(), &settings.executions_table),
            batch: BatchProcessor::new(sender, settings.queue.clone()),
            concurrency: settings.concurrency.max(1),
            claim_lease: settings.claim_lease,
            finish_reserve: settings.finish_reserve,
        }
    }

    /// Handles one SQS event: every message's body is a `T`, applied by `apply`, within the
    /// invocation's `deadline`.
    pub async fn handle<T, F, Fut>(
        &self,
        event: SqsEvent,
        deadline: Deadline,
        apply: F,
    ) -> Result<SqsBatchResponse>
    where
        T: Applicable + DeserializeOwned,
        F: Fn(T) -> Fut,
        Fut: Future<Output = Result<Applied>>,
    {
        let (response, counts) = self
            .batch
            .run(event, |messages| {
                self.apply_batch(messages, deadline, &apply)
            })
            .await?;
        tracing::info!(
            done = counts.done,
            retried = counts.retried,
            parked = counts.parked,
            deferred = counts.deferred,
            "batch settled"
        );
        Ok(response)
    }

    /// Plans, claims, applies and completes one batch within `deadline`; returns an outcome per
    /// message.
    pub async fn apply_batch<T, F, Fut>(
        &self,
        messages: Vec<Message<T>>,
        deadline: Deadline,
        apply: &F,
    ) -> Vec<(String, Outcome)>
    where
        T: Applicable,
        F: Fn(T) -> Fut,
        Fut: Future<Output = Result<Applied>>,
    {
        let mut tally = Tally::default();
        let mut outcomes = Vec::new();
        let plan = plan(messages);
        for (id, execution_id, error) in plan.invalid {
            tally.outcome(&execution_id, "", &Outcome::Park(error.clone()));
            outcomes.push((id, Outcome::Park(error)));
        }
        for (id, execution_id, _) in plan.redundant {
            tally.count(&execution_id, "superseded");
            outcomes.push((id, Outcome::Done));
        }
        let work = plan.work;
        let versions: Vec<_> = work.iter().map(Work::item_version).collect();
        let claim_started = tokio::time::Instant::now();
        let claims = match self.ordering.claim(&versions).await {
            Ok(claims) => claims,
            Err(error) => {
                tracing::warn!(error = %error, "could not claim the batch; every item will be retried");
                outcomes.extend(
                    work.into_iter()
                        .map(|w| (w.message_id, Outcome::Retry(error.clone()))),
                );
                self.finish(tally, outcomes.len()).await;
                return outcomes;
            }
        };
        let mut claimed = Vec::new();
        for (work, claim) in work.into_iter().zip(claims) {
            match claim {
                Claim::Claimed { token } => claimed.push((work, token)),
                Claim::AlreadyApplied { .. } => {
                    tally.count(work.item.execution_id(), "already_applied");
                    outcomes.push((work.message_id, Outcome::Done));
                }
                Claim::Superseded { .. } => {
                    tally.count(work.item.execution_id(), "superseded");
                    outcomes.push((work.message_id, Outcome::Done));
                }
                Claim::Busy { until_ms } => {
                    let error = Error::technical(format!(
                        "{} is being applied by another invocation (claim until {}); will retry",
                        work.item.label(),
                        crate::time::rfc3339(until_ms)
                    ));
                    outcomes.push((work.message_id, Outcome::Retry(error)));
                }
            }
        }
        let items: Vec<T> = claimed.iter().map(|(work, _)| work.item.clone()).collect();
        // The stop point counts from the claim, not from when an item's turn comes, which in a
        // large batch can be long after.
        let limits = Limits::new(
            claim_started,
            self.claim_lease,
            deadline,
            self.finish_reserve,
        );
        let heartbeat = Heartbeat::start(
            self.ordering.clone(),
            self.claim_lease,
            claimed
                .iter()
                .map(|(work, token)| Held {
                    item: work.item_version(),
                    token: token.clone(),
                    label: work.item.label(),
                })
                .collect(),
        );
        let results = each(items, self.concurrency, |item| {
            self.apply_in_time(item, &limits, &heartbeat, apply)
        })
        .await;
        heartbeat.stop();
        let mut applied = Vec::new();
        for ((work, token), result) in claimed.into_iter().zip(results) {
            match result {
                Ok(done) => {
                    tally.count(work.item.execution_id(), done.counter);
                    if let Some(line) = done.line {
                        tally.line(work.item.execution_id(), line);
                    }
                    applied.push((work, token));
                }
                Err(error) => {
                    if let Err(e) = self.ordering.release(&work.item_version(), &token).await {
                        tracing::warn!(error = %e, "could not release a claim; it lapses by itself");
                    }
                    let outcome = self.batch.settled(
                        Outcome::from_error(error),
                        work.receive_count,
                        work.deferrals,
                    );
                    tally.outcome(work.item.execution_id(), &work.item.label(), &outcome);
                    outcomes.push((work.message_id, outcome));
                }
            }
        }
        let done: Vec<_> = applied
            .iter()
            .map(|(w, t)| (w.item_version(), t.clone()))
            .collect();
        match self.ordering.complete(&done).await {
            Ok(recorded) => {
                for ((work, _), recorded) in applied.into_iter().zip(recorded) {
                    if !recorded {
                        tracing::warn!(item = %work.item.label(), "claim lapsed before completion; the taker records its own version");
                    }
                    outcomes.push((work.message_id, Outcome::Done));
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "could not record applied versions; the items will be retried");
                outcomes.extend(
                    applied
                        .into_iter()
                        .map(|(w, _)| (w.message_id, Outcome::Retry(error.clone()))),
                );
            }
        }
        self.finish(tally, outcomes.len()).await;
        outcomes
    }

    /// Applies a claimed item within the batch's limits: not started after the stop point or once
    /// its claim is found lost, abandoned if still in flight at the cut. Its claim is renewed by
    /// the heartbeat meanwhile, so however slow its calls are, no other invocation repeats them.
    async fn apply_in_time<T, F, Fut>(
        &self,
        item: T,
        limits: &Limits,
        heartbeat: &Heartbeat,
        apply: &F,
    ) -> Result<Applied>
    where
        T: Applicable,
        F: Fn(T) -> Fut,
        Fut: Future<Output = Result<Applied>>,
    {
        let label = item.label();
        if tokio::time::Instant::now() >= limits.start_by {
            return Err(not_started(format!(
                "{label}: not started: its turn came after the batch's stop point ({}); will be retried",
                limits.start_by_reason
            )));
        }
        if !heartbeat.holds(&item.key()) {
            return Err(not_started(format!(
                "{label}: not started: its claim lapsed before its turn and was taken over; will be retried"
            )));
        }
        let span =
            tracing::info_span!("item", correlation_id = %item.execution_id(), item = %label);
        match tokio::time::timeout_at(limits.cut_at, apply(item).instrument(span)).await {
            Ok(result) => result.map_err(|e| {
                if e.message().contains(&label) {
                    e
                } else {
                    e.context(&label)
                }
            }),
            Err(_) => Err(Error::external(format!(
                "{label}: still in flight {} ms before the invocation's deadline (the finish reserve); abandoned, will be retried",
                self.finish_reserve.as_millis()
            ))),
        }
    }

    async fn finish(&self, tally: Tally, messages: usize) {
        let mut metrics = Metrics::new(self.service);
        metrics.count("messages", messages as u64);
        for (execution_id, entry) in tally.into_entries() {
            for (name, value) in &entry.counts {
                metrics.count(name, *value);
            }
            if execution_id.is_empty() {
                continue;
            }
            let counts: Vec<(&str, u64)> =
                entry.counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            if let Err(error) = self
                .executions
                .record(&execution_id, &counts, &entry.lines)
                .await
            {
                tracing::error!(error = %error, execution_id, "could not record the batch in its execution");
            }
        }
        metrics.emit();
    }
}

/// An item this invocation did not start: nothing was called, so it is sent again after
/// [`NOT_STARTED_DELAY`] as a new message (a deferral) instead of using up one of its receives.
/// A busy machine or a slow batch must not walk an untouched item to the dead-letter queue.
fn not_started(why: String) -> Error {
    Error::external(why).with_retry_after(NOT_STARTED_DELAY)
}

/// How long an item that was not started waits before it is delivered again.
const NOT_STARTED_DELAY: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Outcome;

    #[test]
    fn an_item_not_started_is_sent_again_without_using_up_a_receive() {
        match Outcome::from_error(not_started("x: not started".to_owned())) {
            Outcome::Defer(wait, error) => {
                assert_eq!(wait, NOT_STARTED_DELAY);
                assert!(error.message().contains("not started"));
            }
            other => panic!("{other:?}"),
        }
    }
}
