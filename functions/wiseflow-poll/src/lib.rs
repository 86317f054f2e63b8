//! `wiseflow-poll`: on a schedule, asks WISEflow about every flow with an explanation request
//! Flyt made and FS still waits for, and queues each request whose response the assessor gave
//! and WISEflow accepted (state 3) for `fs-return`.
//!
//! A request is taken off the open list only after its answer is queued; a crash in between
//! queues it again at the next poll, and `fs-return` registers it once. Each institution with
//! something answered has its own execution; one institution's failure does not stop the others.

mod config;

use std::collections::BTreeMap;

use flyt::appeals::{ReturnItem, WiseflowAnswer};
use flyt::aws::AwsClients;
use flyt::batch::ATTR_EXECUTION_ID;
use flyt::clients::wiseflow::WiseflowClient;
use flyt::config::Vars;
use flyt::connections::Connections;
use flyt::execution::{ExecutionStore, LogLine};
use flyt::institution::{ExamSystem, Institution, InstitutionStore};
use flyt::open_explanations::{OpenExplanation, OpenExplanations};
use flyt::retry::RetryPolicy;
use flyt::sender::{OutgoingMessage, Sender};
use flyt::Result;
use serde::Serialize;

pub use config::Config;

/// WISEflow's explanation state "response accepted".
const RESPONSE_ACCEPTED: u8 = 3;

/// What one institution's poll did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PollReport {
    /// The institution.
    pub org_id: String,
    /// Requests open before the poll.
    pub open: usize,
    /// Requests found answered and queued.
    pub answered: usize,
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
        let answered = answered(client, &open).await?;
        if answered.is_empty() {
            return Ok(());
        }
        let execution_id = self
            .executions
            .start(&format!("wiseflow-poll-{}", institution.org_id), "schedule")
            .await?;
        report.execution_id = Some(execution_id.clone());
        let messages = answered
            .iter()
            .map(|(request, given_at_ms, url)| {
                let item = ReturnItem::Wiseflow(WiseflowAnswer {
                    org_id: institution.org_id.clone(),
                    flow_id: request.flow_id,
                    explanation_request_id: request.explanation_request_id,
                    vurd_id: request.vurd_id.clone(),
                    kandidatnr: request.kandidatnr.clone(),
                    requested_at: request.requested_at.clone(),
                    given_at_ms: *given_at_ms,
                    url: url.clone(),
                    execution_id: execution_id.clone(),
                });
                let body = serde_json::to_string(&item).expect("a return item serialises");
                OutgoingMessage::new(body).attribute(ATTR_EXECUTION_ID, &execution_id)
            })
            .collect();
        let queued = self
            .sender
            .send_all(&self.config.return_queue_url, messages)
            .await?;
        let done: Vec<OpenExplanation> = answered.into_iter().map(|(r, _, _)| r).collect();
        self.open.remove(&institution.org_id, &done).await?;
        report.answered = queued;
        let line = LogLine::info(format!(
            "{} of {} open WISEflow explanation requests answered and queued for FS",
            queued, report.open
        ));
        self.executions
            .record(
                &execution_id,
                &[("open", report.open as u64), ("answered", queued as u64)],
                &[line],
            )
            .await?;
        self.executions.finish(&execution_id).await
    }
}

/// The open requests WISEflow reports accepted, with the acceptance time and the link; one call
/// per flow.
async fn answered(
    client: &WiseflowClient,
    open: &[OpenExplanation],
) -> Result<Vec<(OpenExplanation, i64, String)>> {
    let mut by_flow: BTreeMap<u64, Vec<&OpenExplanation>> = BTreeMap::new();
    for request in open {
        by_flow.entry(request.flow_id).or_default().push(request);
    }
    let mut answered = Vec::new();
    for (flow_id, requests) in by_flow {
        let states: BTreeMap<u64, _> = client
            .explanation_requests(flow_id)
            .await?
            .into_iter()
            .map(|e| (e.explanation_id, e))
            .collect();
        for request in requests {
            let Some(explanation) = states.get(&request.explanation_request_id) else {
                continue;
            };
            if explanation.state >= RESPONSE_ACCEPTED {
                let given_at_ms = explanation
                    .accept_date_ms
                    .unwrap_or_else(flyt::time::now_ms);
                let url = explanation.sso_url.clone().unwrap_or_default();
                answered.push((request.clone(), given_at_ms, url));
            }
        }
    }
    Ok(answered)
}
