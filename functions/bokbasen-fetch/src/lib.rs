//! `bokbasen-fetch`: drains Bokbasen's export reports into the Alma queue.
//!
//! - The nightly schedule invokes it with `{"reports": ["objects", "descriptions"]}`: for each
//!   report it takes the report's cursor lease, starts an execution and enqueues the first
//!   [`DrainStep`] on the drain queue. A drain still running keeps its lease, so a second start is
//!   a no-op.
//! - Each drain step (an SQS message) reads a bounded number of pages from the saved cursor,
//!   enqueues every item, moves the cursor only after the page's items are enqueued, and chains the
//!   next step — so no invocation has to finish the whole drain, whatever its size.

mod config;
mod drain;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use flyt::aws::AwsClients;
use flyt::batch::{BatchProcessor, Outcome};
use flyt::clients::bokbasen::BokbasenClient;
use flyt::config::Vars;
use flyt::cursor::CursorStore;
use flyt::execution::{ExecutionStore, LogLine};
use flyt::retry::RetryPolicy;
use flyt::sender::Sender;
use flyt::{Error, Result};
use serde::Deserialize;
use serde_json::Value;
use tracing::Instrument;

pub use config::Config;
pub use drain::{DrainStep, StartOutcome, StepOutcome};

/// The schedule's input.
#[derive(Clone, Debug, Deserialize)]
pub struct StartDrains {
    /// Which reports to drain.
    pub reports: Vec<flyt::bokbasen::Report>,
}

/// The function's dependencies, built once per cold start.
pub struct Fetcher {
    config: Config,
    bokbasen: BokbasenClient,
    sender: Sender,
    cursors: CursorStore,
    executions: ExecutionStore,
    batch: BatchProcessor,
}

impl Fetcher {
    /// Builds the function from its settings: reads the Bokbasen secret and makes the clients.
    pub async fn from_vars(vars: &Vars, aws: &AwsClients) -> Result<Self> {
        let config = Config::from_vars(vars)?;
        let retry = RetryPolicy::from_vars(vars)?;
        let http = flyt::http::client(config.http_timeout);
        let sender = Sender::new(aws.sqs.clone(), retry.clone(), 4);
        Ok(Fetcher {
            bokbasen: BokbasenClient::connect(http, config.bokbasen.clone(), &aws.secrets, retry)
                .await?,
            cursors: CursorStore::new(aws.dynamodb.clone(), &config.state_table),
            executions: ExecutionStore::new(aws.dynamodb.clone(), &config.executions_table),
            batch: BatchProcessor::new(sender.clone(), config.drain_queue.clone()),
            sender,
            config,
        })
    }

    /// The Lambda handler: a drain step batch from SQS, or the schedule's start event.
    pub async fn handle(&self, event: Value) -> Result<Value> {
        if event.get("Records").is_some() {
            let sqs: SqsEvent = serde_json::from_value(event).map_err(|e| {
                Error::mapping(format!("the event looks like SQS but does not parse: {e}"))
            })?;
            let response = self.handle_steps(sqs).await?;
            return serde_json::to_value(response).map_err(|e| Error::technical(e.to_string()));
        }
        let start: StartDrains = serde_json::from_value(event).map_err(|e| {
            Error::mapping(format!(
                "the event is neither SQS nor a start event {{\"reports\": [\"objects\", \"descriptions\"]}}: {e}"
            ))
        })?;
        let outcomes = self.start_drains(&start.reports).await?;
        serde_json::to_value(outcomes).map_err(|e| Error::technical(e.to_string()))
    }

    /// Processes drain steps with partial-batch semantics.
    pub async fn handle_steps(&self, event: SqsEvent) -> Result<SqsBatchResponse> {
        let (response, _) = self
            .batch
            .run(
                event,
                |messages: Vec<flyt::batch::Message<DrainStep>>| async move {
                    let mut outcomes = Vec::with_capacity(messages.len());
                    for message in messages {
                        let span = tracing::info_span!(
                            "drain_step",
                            correlation_id = %message.body.execution_id,
                            report = %message.body.report
                        );
                        let outcome: Outcome = self
                            .run_step(&message.body)
                            .instrument(span)
                            .await
                            .map(|_| ())
                            .into();
                        let outcome =
                            self.batch
                                .settled(outcome, message.receive_count, message.deferrals());
                        if let Outcome::Park(error) = &outcome {
                            self.record_parked(&message.body, error).await;
                        }
                        outcomes.push((message.id, outcome));
                    }
                    outcomes
                },
            )
            .await?;
        Ok(response)
    }

    /// Writes a parked step's error into its execution, so the drain shows KO with the reason.
    async fn record_parked(&self, step: &DrainStep, error: &Error) {
        let line = LogLine::error(&error.clone().context(format_args!(
            "drain step of {} parked in the dead-letter queue; after fixing, redrive it to resume",
            step.report
        )));
        if let Err(e) = self
            .executions
            .record(&step.execution_id, &[("parked_steps", 1)], &[line])
            .await
        {
            tracing::error!(error = %e, "could not record the parked step in its execution");
        }
    }
}
