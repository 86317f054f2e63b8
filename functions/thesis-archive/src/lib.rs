//! `thesis-archive`: master theses from the exam systems into the archive bucket.
//!
//! - **The schedule's sweep**: asks WISEflow for master theses handed in within the discovery
//!   window and registers each as pending (Inspera pushes its own through `inspera-webhook`); a
//!   submission that cannot be read is its own error and the others go on. It asks the exam
//!   system again, by id, for the grade of every thesis awaiting grading, then queues every
//!   pending thesis that is due — unless its candidate has an open appeal or explanation request,
//!   which postpones it until that case is answered (a WISEflow appeal: until WISEflow lists the
//!   candidate's grade on the reassessment flow).
//! - **The thesis queue**: registers a thesis an Inspera webhook announced (graded or not), or
//!   archives a due one ([`flyt::archiver`]: files, checksums, manifest last), each once through
//!   the shared claim → apply → complete pipeline. Before archiving, the due date and the holds
//!   are read again: a held or not yet due thesis is left pending and its message comes back
//!   later. A thesis that cannot be archived is marked failed with the reason and parked; it
//!   fails alone.

mod config;
pub mod source;

use std::collections::HashSet;

use aws_lambda_events::sqs::SqsEvent;
use flyt::apply::{Applied, Applier, Deadline};
use flyt::archive::{Deadlines, ThesisMessage};
use flyt::archiver::{Archived, Archiver, ThesisToArchive};
use flyt::aws::AwsClients;
use flyt::batch::ATTR_EXECUTION_ID;
use flyt::config::Vars;
use flyt::connections::{Connections, ExamClient};
use flyt::execution::{ExecutionStore, LogLine};
use flyt::institution::{ExamSystem, InstitutionCache, InstitutionStore, Mode};
use flyt::retry::RetryPolicy;
use flyt::sender::{OutgoingMessage, Sender};
use flyt::thesis_store::{
    Hold, HoldKind, Holds, PendingThesis, ThesisSource, ThesisStatus, ThesisStore,
};
use flyt::{Category, Error, Result};
use serde::Serialize;
use serde_json::Value;

pub use config::Config;

/// The longest one external call of this function may take with its retries, from its settings:
/// the budget test holds it against the stop point ([`flyt::apply::Budget`]).
pub fn longest_call(vars: &Vars) -> Result<std::time::Duration> {
    Ok(RetryPolicy::from_vars(vars)?.longest_call(Config::from_vars(vars)?.http_timeout))
}

/// The interface name of the sweep's executions.
pub const INTERFACE: &str = "thesis-archive";

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// WISEflow master theses seen in the discovery window.
    pub discovered: usize,
    /// Of those, newly registered.
    pub registered: usize,
    /// Theses awaiting grading that the exam system has graded now: they have a due date.
    pub graded: usize,
    /// Theses the exam system has still not graded: they wait without a due date.
    pub awaiting_grade: usize,
    /// Pending theses due now.
    pub due: usize,
    /// Queued for archiving.
    pub queued: usize,
    /// Due, but held by an open appeal or explanation request.
    pub postponed: usize,
    /// Appeal holds released because WISEflow graded the reassessment.
    pub released: usize,
    /// The sweep's execution, when there was something to report.
    pub execution_id: Option<String>,
    /// What could not be done, each with its category and what to do: an institution that could
    /// not be polled, a submission that could not be registered, a thesis that could not be
    /// re-read.
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
            flyt::secrets::Refresh::from_vars(vars)?,
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

    /// The Lambda handler: a batch from the thesis queue (within the invocation's `deadline`), or
    /// the schedule's sweep.
    pub async fn handle(&self, event: Value, deadline: Deadline) -> Result<Value> {
        if event.get("Records").is_some() {
            let sqs: SqsEvent = serde_json::from_value(event).map_err(|e| {
                Error::mapping(format!("the event looks like SQS but does not parse: {e}"))
            })?;
            let response = self
                .applier
                .handle(sqs, deadline, |message: ThesisMessage| async move {
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
            margin: self.config.due_margin,
        }
    }

    /// Discovers WISEflow theses, reads the grading date of those awaiting it, then queues the
    /// due ones that nothing holds back.
    pub async fn sweep(&self) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        let mut lines = Vec::new();
        let now = chrono::Utc::now();
        // Read from the table, not the cache: the first sweep after a switch to live archives.
        let mut shadow = HashSet::new();
        for (org_id, institution) in self.active.active().await? {
            let Ok(institution) = institution else {
                continue;
            };
            if institution.mode == Mode::Shadow {
                shadow.insert(org_id.clone());
            }
            if institution.exam_system != ExamSystem::Wiseflow {
                continue;
            }
            if let Err(error) = self
                .discover_wiseflow(&institution, now, &mut report, &mut lines)
                .await
            {
                let error = error.context(format_args!("WISEflow thesis discovery of {org_id}"));
                tracing::error!(org_id, error = %error, "WISEflow thesis discovery failed");
                failed(&mut report, &mut lines, error);
            }
        }
        for thesis in self.theses.awaiting_grade().await? {
            match self.read_grade(&thesis).await {
                Ok(true) => report.graded += 1,
                Ok(false) => report.awaiting_grade += 1,
                Err(error) => {
                    report.awaiting_grade += 1;
                    failed(&mut report, &mut lines, error.context(&thesis.id));
                }
            }
        }
        let due = self.theses.due(now.timestamp_millis()).await?;
        report.due = due.len();
        let mut messages = Vec::new();
        let execution_id = if due.is_empty()
            && report.registered == 0
            && report.graded == 0
            && report.errors.is_empty()
        {
            None
        } else {
            Some(self.executions.start(INTERFACE, "schedule").await?)
        };
        for thesis in due {
            let held = self.open_holds(&thesis, &mut report, &mut lines).await?;
            if !held.is_empty() {
                report.postponed += 1;
                let cases: Vec<String> = held.iter().map(ToString::to_string).collect();
                lines.push(LogLine::info(format!(
                    "{} postponed: open {} for kandidatnr {}",
                    thesis.id,
                    cases.join(" and "),
                    thesis.kandidatnr
                )));
                continue;
            }
            let execution_id = execution_id.clone().unwrap_or_default();
            let body = serde_json::to_string(&ThesisMessage::Archive {
                thesis_id: thesis.id.clone(),
                execution_id: execution_id.clone(),
                queued_at_ms: now.timestamp_millis().max(0) as u64,
                shadow: shadow.contains(&thesis.org_id),
            })
            .expect("a thesis message serialises");
            messages.push(OutgoingMessage::new(body).attribute(ATTR_EXECUTION_ID, execution_id));
        }
        report.queued = self
            .sender
            .send_all(&self.config.applier.queue.source_queue_url, messages)
            .await?;
        if let Some(id) = &execution_id {
            let counts = [
                ("discovered", report.discovered as u64),
                ("registered", report.registered as u64),
                ("graded", report.graded as u64),
                ("awaiting_grade", report.awaiting_grade as u64),
                ("due", report.due as u64),
                ("queued", report.queued as u64),
                ("postponed", report.postponed as u64),
                ("released", report.released as u64),
            ];
            self.executions.record(id, &counts, &lines).await?;
            self.executions.finish(id).await?;
        }
        report.execution_id = execution_id;
        Ok(report)
    }

    /// Registers the master theses WISEflow lists for one institution. A submission that cannot
    /// be read or registered is its own error; the others go on. Fails only when the list
    /// cannot be read.
    async fn discover_wiseflow(
        &self,
        institution: &flyt::institution::Institution,
        now: chrono::DateTime<chrono::Utc>,
        report: &mut SweepReport,
        lines: &mut Vec<LogLine>,
    ) -> Result<()> {
        let client = self.connections.wiseflow(institution)?;
        let since = now - self.config.discovery_window;
        let submissions = client
            .master_submissions(since.timestamp_millis(), now.timestamp_millis())
            .await?;
        report.discovered += submissions.len();
        for submission in submissions {
            if submission.handed_in_blank {
                lines.push(LogLine::warning(format!(
                    "{}: WISEflow submission {} on flow {} was handed in blank; there is no thesis to archive",
                    institution.org_id, submission.submission_id, submission.flow_id
                )));
                continue;
            }
            let source = ThesisSource::Wiseflow {
                flow_id: submission.flow_id,
                submission_id: submission.submission_id,
            };
            let id = PendingThesis::id_of(&institution.org_id, &source);
            // A thesis registered by an earlier sweep is not asked for again: one awaiting its
            // grade is asked by id below, and the others have all they need.
            match self.theses.get(&id).await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(error) => {
                    failed(report, lines, error.context(&id));
                    continue;
                }
            }
            match self
                .register_wiseflow(client, &institution.org_id, source)
                .await
            {
                Ok(true) => report.registered += 1,
                Ok(false) => {}
                Err(error) => failed(report, lines, error.context(&id)),
            }
        }
        Ok(())
    }

    async fn register_wiseflow(
        &self,
        client: &flyt::clients::wiseflow::WiseflowClient,
        org_id: &str,
        source: ThesisSource,
    ) -> Result<bool> {
        let ThesisSource::Wiseflow {
            flow_id,
            submission_id,
        } = source
        else {
            return Err(Error::technical(
                "a WISEflow thesis without its WISEflow ids",
            ));
        };
        let info = client.submission(flow_id, submission_id).await?;
        let thesis = source::pending(
            org_id,
            source,
            info.participant_number.as_deref(),
            info.graded_at.as_deref(),
            self.deadlines(),
        )?;
        self.theses.register(&thesis).await
    }

    /// Asks the exam system again for the grading date of a thesis awaiting it; records it, with
    /// the due date, when there is one. Returns whether it is graded now.
    async fn read_grade(&self, thesis: &PendingThesis) -> Result<bool> {
        let institution = self.institutions.get(&thesis.org_id).await?;
        let client = self.connections.exam_system(&institution)?;
        let graded_at = source::graded_at(client, thesis).await?;
        let graded = source::with_grade(thesis.clone(), graded_at.as_deref(), self.deadlines())?;
        if graded.due_at_ms.is_none() {
            return Ok(false);
        }
        self.theses.set_graded(&graded).await?;
        Ok(true)
    }

    /// The open holds of a due thesis's candidate. For a WISEflow thesis with an open appeal, WISEflow
    /// is asked whether the candidate's reassessment on the thesis's flow is graded; if it is, the
    /// appeal is decided and its hold released — when it is the candidate's only open appeal, as
    /// WISEflow's flow does not name FS's case. A failed question leaves the hold as it is.
    async fn open_holds(
        &self,
        thesis: &PendingThesis,
        report: &mut SweepReport,
        lines: &mut Vec<LogLine>,
    ) -> Result<Vec<Hold>> {
        let mut held = self
            .holds
            .open_for(&thesis.org_id, &thesis.kandidatnr)
            .await?;
        let ThesisSource::Wiseflow { flow_id, .. } = &thesis.source else {
            return Ok(held);
        };
        let appeals: Vec<Hold> = held
            .iter()
            .filter(|h| h.kind == HoldKind::Appeal)
            .cloned()
            .collect();
        if appeals.is_empty() {
            return Ok(held);
        }
        let graded = match self.reassessment_graded(thesis, *flow_id).await {
            Ok(graded) => graded,
            Err(error) => {
                failed(report, lines, error.context(&thesis.id));
                return Ok(held);
            }
        };
        match appeals.as_slice() {
            _ if !graded => {}
            [appeal] => {
                self.holds
                    .release(
                        &thesis.org_id,
                        &thesis.kandidatnr,
                        HoldKind::Appeal,
                        &appeal.case,
                    )
                    .await?;
                held.retain(|h| h != appeal);
                report.released += 1;
                lines.push(LogLine::info(format!(
                    "{}: WISEflow graded the reassessment of kandidatnr {} on flow {flow_id}; {appeal} released",
                    thesis.id, thesis.kandidatnr
                )));
            }
            many => lines.push(LogLine::warning(format!(
                "{}: WISEflow graded the reassessment of kandidatnr {} on flow {flow_id}, but the candidate has {} open appeals and WISEflow does not say which is this thesis's: they stay open until FS withdraws or the exam system decides each",
                thesis.id,
                thesis.kandidatnr,
                many.len()
            ))),
        }
        Ok(held)
    }

    async fn reassessment_graded(&self, thesis: &PendingThesis, flow_id: u64) -> Result<bool> {
        let institution = self.institutions.get(&thesis.org_id).await?;
        self.connections
            .wiseflow(&institution)?
            .reassessment_graded(
                flow_id,
                &thesis.kandidatnr,
                &institution.wiseflow_candidate_field,
            )
            .await
    }

    /// Shadow mode: the archiving a due thesis would get, with what the archive holds of it
    /// already, as a line on the execution; nothing is written to the archive or the thesis store.
    async fn intend(&self, thesis_id: &str, thesis: &ThesisToArchive) -> Result<Applied> {
        let holds = if self.archiver.holds(thesis).await? {
            "the archive holds it already"
        } else {
            "the archive holds nothing of it yet"
        };
        let quarantined = thesis.files.iter().filter(|f| f.quarantined).count();
        let fails = if quarantined > 0 {
            format!("; {quarantined} files are in quarantine, so the live run would fail it")
        } else {
            String::new()
        };
        Ok(
            Applied::counted("shadow_intended").with_line(LogLine::info(format!(
                "shadow: would archive {thesis_id}: {} files and a manifest under {} (access {}); {holds}{fails}",
                thesis.files.len(),
                thesis.key.prefix(),
                thesis.access.tag()
            ))),
        )
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
            ThesisMessage::Archive {
                thesis_id, shadow, ..
            } => {
                let result = self.archive(thesis_id, *shadow).await;
                if let Err(error) = &result {
                    // A shadow run writes nothing: its parked message carries the reason.
                    if !shadow
                        && matches!(
                            error.category(),
                            Category::Mapping | Category::Configuration
                        )
                    {
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

    /// Archives a due thesis that nothing holds; for a shadow message (the sweep found its
    /// institution in shadow mode) records what it would archive instead.
    async fn archive(&self, thesis_id: &str, shadow: bool) -> Result<Applied> {
        let stored =
            self.theses.get(thesis_id).await?.ok_or_else(|| {
                Error::mapping(format!("{thesis_id}: no such thesis is registered"))
            })?;
        if stored.status == ThesisStatus::Archived {
            return Ok(Applied::counted("already_archived"));
        }
        let thesis = stored.thesis;
        // A message may come back long after the sweep queued it (a retry, a redrive): the
        // thesis is archived only if it is still due and nothing holds it now. Otherwise this
        // message is settled as postponed and the thesis stays pending: the message's version is
        // its queueing time, so the sweep that finds it due and free again queues new work.
        let now_ms = chrono::Utc::now().timestamp_millis();
        let postponed = |why: String| {
            Ok(Applied {
                counter: "postponed",
                line: Some(LogLine::info(format!(
                    "{thesis_id} postponed: {why}; it stays pending and a later sweep queues it again"
                ))),
            })
        };
        if thesis.due_at_ms.is_none_or(|due| due > now_ms) {
            return postponed(
                "not due (awaiting grading, or before its appeal and explanation deadlines)"
                    .to_owned(),
            );
        }
        let held = self
            .holds
            .open_for(&thesis.org_id, &thesis.kandidatnr)
            .await?;
        if !held.is_empty() {
            let cases: Vec<String> = held.iter().map(ToString::to_string).collect();
            return postponed(format!(
                "open {} for kandidatnr {}",
                cases.join(" and "),
                thesis.kandidatnr
            ));
        }
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
            _ => return Err(source::other_system(&thesis)),
        };
        if shadow {
            return self.intend(thesis_id, &to_archive).await;
        }
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

/// Notes an error of one thesis or institution: in the report and as an error line (category
/// and message, which names the thesis and what to do).
fn failed(report: &mut SweepReport, lines: &mut Vec<LogLine>, error: Error) {
    tracing::warn!(error = %error, "thesis sweep");
    report.errors.push(error.to_string());
    lines.push(LogLine::error(&error));
}
