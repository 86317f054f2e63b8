//! `alma-forward`: consumes the Alma queue and applies each Bokbasen item through the Alma-side API.
//!
//! Per batch: validate every item (a bad one is parked as Mapping), keep the newest version of each
//! book's item, claim them all in the ordering store (one transaction), forward the claimed ones in
//! parallel, and record the applied versions (one transaction). An item already applied at this or a
//! newer version is acknowledged without a call, so redeliveries and late redrives change nothing.

mod config;
mod plan;
mod tally;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use flyt::alma::{BookUpdate, UpdateResult};
use flyt::aws::AwsClients;
use flyt::batch::{each, BatchProcessor, Message, Outcome};
use flyt::bokbasen::{parse_description, ForwardItem, Report};
use flyt::clients::alma::AlmaClient;
use flyt::clients::bokbasen::BokbasenClient;
use flyt::config::Vars;
use flyt::execution::ExecutionStore;
use flyt::observability::Metrics;
use flyt::ordering::{Claim, OrderingStore};
use flyt::retry::RetryPolicy;
use flyt::sender::Sender;
use flyt::{Error, Result};
use tracing::Instrument;

pub use config::Config;
use plan::{plan, Work};
use tally::Tally;

/// The function's dependencies, built once per cold start.
pub struct Forwarder {
    config: Config,
    alma: AlmaClient,
    bokbasen: BokbasenClient,
    ordering: OrderingStore,
    executions: ExecutionStore,
    batch: BatchProcessor,
}

impl Forwarder {
    /// Builds the function from its settings: reads both secrets and makes the clients.
    pub async fn from_vars(vars: &Vars, aws: &AwsClients) -> Result<Self> {
        let config = Config::from_vars(vars)?;
        let retry = RetryPolicy::from_vars(vars)?;
        let alma_credentials =
            flyt::secrets::load_json(&aws.secrets, &config.alma_secret_id, "api_key").await?;
        let http = flyt::http::client(config.http_timeout);
        let bokbasen = BokbasenClient::connect(
            http.clone(),
            config.bokbasen.clone(),
            &aws.secrets,
            retry.clone(),
        )
        .await?;
        let sender = Sender::new(aws.sqs.clone(), retry.clone(), 2);
        Ok(Forwarder {
            alma: AlmaClient::new(
                http.clone(),
                &config.alma_api_url,
                alma_credentials,
                retry.clone(),
            ),
            bokbasen,
            ordering: OrderingStore::new(
                aws.dynamodb.clone(),
                &config.state_table,
                config.claim_lease,
                config.retention,
            ),
            executions: ExecutionStore::new(aws.dynamodb.clone(), &config.executions_table),
            batch: BatchProcessor::new(sender, config.queue.clone()),
            config,
        })
    }

    /// The Lambda handler.
    pub async fn handle(&self, event: SqsEvent) -> Result<SqsBatchResponse> {
        let (response, counts) = self
            .batch
            .run(event, |messages| self.forward_batch(messages))
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

    async fn forward_batch(&self, messages: Vec<Message<ForwardItem>>) -> Vec<(String, Outcome)> {
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
        let claims = match self
            .ordering
            .claim(&work.iter().map(Work::item_version).collect::<Vec<_>>())
            .await
        {
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
                    tally.count(&work.item.execution_id, "already_applied");
                    outcomes.push((work.message_id, Outcome::Done));
                }
                Claim::Busy { until_ms } => {
                    let error = Error::technical(format!(
                        "{} is being applied by another invocation (claim until {}); will retry",
                        work.item.label(),
                        flyt::time::rfc3339(until_ms)
                    ));
                    outcomes.push((work.message_id, Outcome::Retry(error)));
                }
            }
        }
        let items: Vec<ForwardItem> = claimed.iter().map(|(work, _)| work.item.clone()).collect();
        // `each` turns a panic into that item's Technical error: the others are unaffected.
        let results = each(items, self.config.concurrency, |item| {
            self.forward_within_lease(item)
        })
        .await;
        let mut applied = Vec::new();
        for ((work, token), result) in claimed.into_iter().zip(results) {
            match result {
                Ok(update) => {
                    let counter = match update {
                        UpdateResult::Updated => "applied",
                        UpdateResult::Unchanged => "unchanged",
                        UpdateResult::NoRecord => "no_record",
                    };
                    tally.count(&work.item.execution_id, counter);
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
                    tally.outcome(&work.item.execution_id, &work.item.label(), &outcome);
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
                tracing::warn!(error = %error, "could not record applied versions; the items will be retried (Alma treats a repeat as unchanged)");
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

    /// Forwards a claimed item, giving up at half the claim's lease: the work must end well inside
    /// the lease, or a newer version could claim the item and be overtaken by this older one.
    async fn forward_within_lease(&self, item: ForwardItem) -> Result<UpdateResult> {
        let span =
            tracing::info_span!("item", correlation_id = %item.execution_id, item = %item.label());
        let deadline = self.config.claim_lease / 2;
        match tokio::time::timeout(deadline, self.forward(&item).instrument(span)).await {
            Ok(result) => result,
            Err(_) => Err(Error::external(format!(
                "{}: not done within {}s (half the claim lease); abandoned, will be retried",
                item.label(),
                deadline.as_secs()
            ))),
        }
    }

    /// Fetches what is needed and applies one item in Alma.
    async fn forward(&self, item: &ForwardItem) -> Result<UpdateResult> {
        let update = match item.report {
            Report::Objects => BookUpdate::object(item),
            Report::Descriptions => {
                let xml = self
                    .bokbasen
                    .description_document(item.item.reference.trim())
                    .await
                    .map_err(|e| e.context(item.label()))?;
                BookUpdate::description(item, &parse_description(item, &xml)?)
            }
        };
        self.alma
            .put(&update)
            .await
            .map_err(|e| e.context(item.label()))
    }

    async fn finish(&self, tally: Tally, messages: usize) {
        let mut metrics = Metrics::new("alma-forward");
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
