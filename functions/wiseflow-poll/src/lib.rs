//! `wiseflow-poll`: on a schedule, asks WISEflow about every flow with an explanation request
//! Flyt made and FS still waits for, and queues each request whose response the assessor gave
//! and WISEflow accepted (state 3) for `fs-return`.
//!
//! A response the assessor gave but WISEflow has not accepted (state 2) is counted
//! (`responded`) and stays open: WISEflow may still send it back for revision, and registering it
//! in FS, or showing it to the candidate, would make a draft final. Only acceptance sends it on.
//!
//! A request is taken off the open list only after its answer is queued; a crash in between
//! queues it again at the next poll, and `fs-return` registers it once. Each institution with
//! something to report has its own execution; one institution's failure does not stop the
//! others, and one flow's failure does not stop the institution's other flows: the flow gets an
//! error line of its own and its requests stay open for the next poll.

mod config;
mod flows;

use flyt::appeals::{ReturnItem, WiseflowAnswer};
use flyt::aws::AwsClients;
use flyt::batch::ATTR_EXECUTION_ID;
use flyt::clients::wiseflow::WiseflowClient;
use flyt::config::Vars;
use flyt::connections::Connections;
use flyt::execution::ExecutionStore;
use flyt::institution::{ExamSystem, Institution, InstitutionStore};
use flyt::open_explanations::{OpenExplanation, OpenExplanations};
use flyt::retry::RetryPolicy;
use flyt::sender::{OutgoingMessage, Sender};
use flyt::Result;
use serde::Serialize;

pub use config::Config;
pub use flows::{Accepted, PollOutcome, ASSESSOR_RESPONDED, RESPONSE_ACCEPTED};

/// What one institution's poll did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PollReport {
    /// The institution.
    pub org_id: String,
    /// Requests open before the poll.
    pub open: usize,
    /// Requests found answered and queued.
    pub answered: usize,
    /// Requests the assessor responded to, awaiting acceptance in WISEflow (left open).
    pub responded: usize,
    /// Flows WISEflow could not be asked about (their requests left open).
    pub failed_flows: usize,
    /// The execution, when one was started.
    pub execution_id: Option<String>,
    /// What went wrong, with its category.
    pub error: Option<String>,
}

/// The function's dependencies, built once per cold start.
pub struct Poller {
    config: Config,
    institutions: InstitutionStore,
    connections: Connections,
    open: OpenExplanations,
    executions: ExecutionStore,
    sender: Sender,
}

impl Poller {
    /// Builds the function from its settings: reads the exam-systems secret.
    pub async fn from_vars(vars: &Vars, aws: &AwsClients) -> Result<Self> {
        let config = Config::from_vars(vars)?;
        let retry = RetryPolicy::from_vars(vars)?;
        let http = flyt::http::client(config.http_timeout);
        let connections = Connections::load(
            &aws.secrets,
            flyt::secrets::Refresh::from_vars(vars)?,
            None,
            Some(&config.exam_systems_secret_id),
            &http,
            &retry,
        )
        .await?;
        Ok(Poller {
            institutions: InstitutionStore::new(aws.dynamodb.clone(), &config.config_table),
            open: OpenExplanations::new(aws.dynamodb.clone(), &config.state_table),
            executions: ExecutionStore::new(aws.dynamodb.clone(), &config.executions_table),
            sender: Sender::new(aws.sqs.clone(), retry, 2),
            connections,
            config,
        })
    }

    /// The Lambda handler: polls every active WISEflow institution with explanations switched on.
    pub async fn poll_all(&self) -> Result<Vec<PollReport>> {
        let mut reports = Vec::new();
        for (org_id, institution) in self.institutions.active().await? {
            // A broken entry is reported by fs-poll; only WISEflow institutions are polled here.
            let Ok(institution) = institution else {
                continue;
            };
            if institution.exam_system != ExamSystem::Wiseflow || !institution.begrunnelse {
                continue;
            }
            let mut report = PollReport {
                org_id: org_id.clone(),
                open: 0,
                answered: 0,
                responded: 0,
                failed_flows: 0,
                execution_id: None,
                error: None,
            };
            if let Err(error) = self.poll(&institution, &mut report).await {
                tracing::error!(org_id, error = %error, "WISEflow poll failed");
                report.execution_id = self
                    .executions
                    .fail(
                        &format!("wiseflow-poll-{org_id}"),
                        report.execution_id.as_deref(),
                        &error,
                    )
                    .await;
                report.error = Some(error.to_string());
            }
            reports.push(report);
        }
        Ok(reports)
    }

    async fn poll(&self, institution: &Institution, report: &mut PollReport) -> Result<()> {
        let open = self.open.list(&institution.org_id).await?;
        report.open = open.len();
        if open.is_empty() {
            return Ok(());
        }
        let client = self.connections.wiseflow(institution)?;
        let outcome = ask_each_flow(client, &open).await;
        report.responded = outcome.responded;
        report.failed_flows = outcome.failed_flows.len();
        if !outcome.has_news() {
            return Ok(());
        }
        let execution_id = self
            .executions
            .start(&format!("wiseflow-poll-{}", institution.org_id), "schedule")
            .await?;
        report.execution_id = Some(execution_id.clone());
        let messages: Vec<OutgoingMessage> = outcome
            .accepted
            .iter()
            .map(|accepted| {
                let request = &accepted.request;
                let item = ReturnItem::Wiseflow(WiseflowAnswer {
                    org_id: institution.org_id.clone(),
                    flow_id: request.flow_id,
                    explanation_request_id: request.explanation_request_id,
                    vurd_id: request.vurd_id.clone(),
                    kandidatnr: request.kandidatnr.clone(),
                    requested_at: request.requested_at.clone(),
                    given_at_ms: accepted.given_at_ms,
                    url: accepted.url.clone(),
                    execution_id: execution_id.clone(),
                });
                let body = serde_json::to_string(&item).expect("a return item serialises");
                OutgoingMessage::new(body)
                    .attribute(ATTR_EXECUTION_ID, &execution_id)
                    .tenant(&institution.org_id)
            })
            .collect();
        let queued = if messages.is_empty() {
            0
        } else {
            let queued = self
                .sender
                .send_all(&self.config.return_queue_url, messages)
                .await?;
            let done: Vec<OpenExplanation> =
                outcome.accepted.iter().map(|a| a.request.clone()).collect();
            self.open.remove(&institution.org_id, &done).await?;
            queued
        };
        report.answered = queued;
        self.executions
            .record(
                &execution_id,
                &outcome.counters(report.open, queued),
                &outcome.lines(report.open, queued),
            )
            .await?;
        self.executions.finish(&execution_id).await
    }
}

/// Asks WISEflow about each flow with open requests, one call per flow. A flow that fails is
/// recorded with its error and the others are asked all the same; only rejected credentials,
/// which every flow would meet, end the round early.
async fn ask_each_flow(client: &WiseflowClient, open: &[OpenExplanation]) -> PollOutcome {
    let mut outcome = PollOutcome::default();
    let mut flows = flows::by_flow(open).into_iter();
    while let Some((flow_id, requests)) = flows.next() {
        match client.explanation_requests(flow_id).await {
            Ok(listed) => outcome.add_listing(&requests, &listed, flyt::time::now_ms()),
            Err(error) => {
                let stop = flows::stops_the_poll(&error);
                outcome.add_failure(flow_id, requests.len(), error);
                if stop {
                    outcome.skipped_requests = flows.map(|(_, rest)| rest.len()).sum();
                    break;
                }
            }
        }
    }
    outcome
}
