//! `thesis-archive`: master theses from the exam systems into the archive bucket.
//!
//! - **The schedule's sweep**: asks WISEflow for master theses handed in within the discovery
//!   window and registers each as pending (Inspera pushes its own through `inspera-webhook`), then
//!   queues every pending thesis that is due — unless its candidate has an open appeal or
//!   explanation request, which postpones it until that is decided.
//! - **The thesis queue**: registers a thesis an Inspera webhook announced, or archives a due one
//!   ([`flyt::archiver`]: files, checksums, manifest last), each once through the shared claim →
//!   apply → complete pipeline. A thesis that cannot be archived is marked failed with the reason
//!   and parked; it fails alone.

mod config;
pub mod source;

use aws_lambda_events::sqs::SqsEvent;
use flyt::apply::{Applied, Applier};
use flyt::archive::ThesisMessage;
use flyt::archiver::{Archived, Archiver};
use flyt::aws::AwsClients;
use flyt::batch::ATTR_EXECUTION_ID;
use flyt::config::Vars;
use flyt::connections::{Connections, ExamClient};
use flyt::execution::{ExecutionStore, LogLine};
use flyt::institution::{ExamSystem, InstitutionCache, InstitutionStore};
use flyt::retry::RetryPolicy;
use flyt::sender::{OutgoingMessage, Sender};
use flyt::thesis_store::{Holds, ThesisSource, ThesisStatus, ThesisStore};
use flyt::{Category, Error, Result};
use serde::Serialize;
use serde_json::Value;

pub use config::Config;
use source::Deadlines;

/// The interface name of the sweep's executions.
pub const INTERFACE: &str = "thesis-archive";

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// WISEflow master theses seen in the discovery window.
    pub discovered: usize,
    /// Of those, newly registered.
    pub registered: usize,
    /// Pending theses due now.
    pub due: usize,
    /// Queued for archiving.
    pub queued: usize,
    /// Due, but held by an open appeal or explanation request.
    pub postponed: usize,
    /// The sweep's execution, when there was something to report.
    pub execution_id: Option<String>,
    /// Institutions that could not be polled, with the reason.
    pub errors: Vec<String>,
}

/// The function's dependencies, built once per cold start.
pub struct Archivist {
    config: Config,
    institutions: InstitutionCache,
    active: InstitutionStore,
    connections: Connections,
    theses: ThesisStore,
    holds: Holds,
    archiver: Archiver,
    executions: ExecutionStore,
    sender: Sender,
    applier: Applier,
}

impl Archivist {
    /// Builds the function from its settings: reads the exam-systems secret and makes the clients.
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
        let sender = Sender::new(aws.sqs.clone(), retry, 2);
        let store = InstitutionStore::new(aws.dynamodb.clone(), &config.config_table);
        Ok(Archivist {
            institutions: InstitutionCache::new(store.clone(), config.institution_cache),
            active: store,
            connections,
            theses: ThesisStore::new(aws.dynamodb.clone(), &config.theses_table),
            holds: Holds::new(aws.dynamodb.clone(), &config.applier.state_table),
            archiver: Archiver::new(
                aws.s3.clone(),
                http,
                &config.bucket,
                config.retention.clone(),
            ),
            executions: ExecutionStore::new(aws.dynamodb.clone(), &config.applier.executions_table),
            applier: Applier::from_settings(
                "thesis-archive",
                &config.applier,
                &aws.dynamodb,
                sender.clone(),
            ),
            sender,
            config,
        })
    }

    /// The Lambda handler: a batch from the thesis queue, or the schedule's sweep.
    pub async fn handle(&self, event: Value) -> Result<Value> {
        if event.get("Records").is_some() {
            let sqs: SqsEvent = serde_json::from_value(event).map_err(|e| {
                Error::mapping(format!("the event looks like SQS but does not parse: {e}"))
            })?;
            let response = self
                .applier
                .handle(sqs, |message: ThesisMessage| async move {
                    self.step(&message).await
                })
                .await?;
            return serde_json::to_value(response).map_err(|e| Error::technical(e.to_string()));
        }
        let report = self.sweep().await?;
        serde_json::to_value(report).map_err(|e| Error::technical(e.to_string()))
    }

    fn deadlines(&self) -> Deadlines {
        Deadlines {
            appeal: self.config.appeal_window,
            explanation: self.config.explanation_window,
        }
    }

    /// Discovers WISEflow theses, then queues the due ones that nothing holds back.
    pub async fn sweep(&self) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        let now = chrono::Utc::now();
        for (org_id, institution) in self.active.active().await? {
            let Ok(institution) = institution else {
                continue;
            };
            if institution.exam_system != ExamSystem::Wiseflow {
                continue;
            }
            if let Err(error) = self.discover_wiseflow(&institution, now, &mut report).await {
                tracing::error!(org_id, error = %error, "WISEflow thesis discovery failed");
                report.errors.push(format!("{org_id}: {error}"));
            }
        }
        let due = self.theses.due(now.timestamp_millis()).await?;
        report.due = due.len();
        let mut messages = Vec::new();
        let mut lines = Vec::new();
        let execution_id = if due.is_empty() && report.registered == 0 && report.errors.is_empty() {
            None
        } else {
            Some(self.executions.start(INTERFACE, "schedule").await?)
        };
        for thesis in due {
            let held = self
                .holds
                .open_for(&thesis.org_id, &thesis.kandidatnr)
                .await?;
            if !held.is_empty() {
                report.postponed += 1;
                lines.push(LogLine::info(format!(
                    "{} postponed: open {} for kandidatnr {}",
                    thesis.id,
                    held.join(" and "),
                    thesis.kandidatnr
                )));
                continue;
            }
            let execution_id = execution_id.clone().unwrap_or_default();
            let body = serde_json::to_string(&ThesisMessage::Archive {
                thesis_id: thesis.id.clone(),
                execution_id: execution_id.clone(),
            })
            .expect("a thesis message serialises");
            messages.push(OutgoingMessage::new(body).attribute(ATTR_EXECUTION_ID, execution_id));
        }
        report.queued = self
            .sender
            .send_all(&self.config.applier.queue.source_queue_url, messages)
            .await?;
        if let Some(id) = &execution_id {
            for error in &report.errors {
                lines.push(LogLine::error(&Error::external(error.clone())));
            }
            let counts = [
                ("discovered", report.discovered as u64),
                ("registered", report.registered as u64),
                ("due", report.due as u64),
                ("queued", report.queued as u64),
                ("postponed", report.postponed as u64),
            ];
            self.executions.record(id, &counts, &lines).await?;
            self.executions.finish(id).await?;
        }
        report.execution_id = execution_id;
        Ok(report)
    }

    async fn discover_wiseflow(
        &self,
        institution: &flyt::institution::Institution,
        now: chrono::DateTime<chrono::Utc>,
        report: &mut SweepReport,
    ) -> Result<()> {
        let client = self.connections.wiseflow(institution)?;
        let since = now - self.config.discovery_window;
        let submissions = client
            .master_submissions(since.timestamp_millis(), now.timestamp_millis())
            .await?;
        report.discovered += submissions.len();
        for submission in submissions {
            let info = client
                .submission(submission.flow_id, submission.submission_id)
                .await?;
            let thesis = source::pending(
                &institution.org_id,
                ThesisSource::Wiseflow {
                    flow_id: submission.flow_id,
                    submission_id: submission.submission_id,
                },
                info.participant_number.as_deref(),
                info.graded_at.as_deref(),
                self.deadlines(),
            )?;
            if self.theses.register(&thesis).await? {
                report.registered += 1;
            }
        }
        Ok(())
    }

    /// One message of the thesis queue.
    async fn step(&self, message: &ThesisMessage) -> Result<Applied> {
        match message {
            ThesisMessage::Register(event) => {
                let institution = self
                    .institutions
                    .by_instance(ExamSystem::Inspera, &event.instance)
                    .await?;
                let client = self.connections.inspera(&event.instance)?;
                let submission =
                    source::inspera_submission(client, event.test_id, &event.associated_id).await?;
                let thesis = source::pending(
                    &institution.org_id,
                    ThesisSource::Inspera {
                        instance: event.instance.clone(),
                        test_id: event.test_id,
                        candidate_id: event.associated_id.clone(),
                    },
                    Some(&submission.candidate_id),
                    submission.graded_at.as_deref(),
                    self.deadlines(),
                )?;
                Ok(Applied::counted(if self.theses.register(&thesis).await? {
                    "registered"
                } else {
                    "already_registered"
                }))
            }
            ThesisMessage::Archive { thesis_id, .. } => {
                let result = self.archive(thesis_id).await;
                if let Err(error) = &result {
                    if matches!(
                        error.category(),
                        Category::Mapping | Category::Configuration
                    ) {
                        let marked = self
                            .theses
                            .set_status(thesis_id, ThesisStatus::Failed, Some(&error.to_string()))
                            .await;
                        if let Err(e) = marked {
                            // The parked message carries the reason all the same.
                            tracing::warn!(error = %e, thesis_id, "could not mark the thesis failed");
                        }
                    }
                }
                result
            }
        }
    }

    async fn archive(&self, thesis_id: &str) -> Result<Applied> {
        let stored =
            self.theses.get(thesis_id).await?.ok_or_else(|| {
                Error::mapping(format!("{thesis_id}: no such thesis is registered"))
            })?;
        if stored.status == ThesisStatus::Archived {
            return Ok(Applied::counted("already_archived"));
        }
        let thesis = stored.thesis;
        let institution = self.institutions.get(&thesis.org_id).await?;
        let to_archive = match (&thesis.source, self.connections.exam_system(&institution)?) {
            (
                ThesisSource::Inspera {
                    test_id,
                    candidate_id,
                    ..
                },
                ExamClient::Inspera(client),
            ) => source::inspera_thesis(client, &thesis, *test_id, candidate_id).await?,
            (
                ThesisSource::Wiseflow {
                    flow_id,
                    submission_id,
                },
                ExamClient::Wiseflow(client),
            ) => source::wiseflow_thesis(client, &thesis, *flow_id, *submission_id).await?,
            _ => {
                return Err(Error::configuration(format!(
                    "{thesis_id}: the thesis comes from another exam system than institution {} is configured for",
                    institution.org_id
                )))
            }
        };
        let counter = match self.archiver.archive(&to_archive).await? {
            Archived::Completed(_) => "archived",
            Archived::AlreadyComplete => "already_archived",
        };
        self.theses
            .set_status(thesis_id, ThesisStatus::Archived, None)
            .await?;
        Ok(Applied::counted(counter))
    }
}
