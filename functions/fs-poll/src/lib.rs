//! `fs-poll`: on a schedule, reads FS DigEks's appeal (`klager`) and explanation-request
//! (`begrunnelse`) change lists of every active institution and queues each change for
//! `exam-dispatch`.
//!
//! Each (institution, kind) has its own cursor (a lease, so overlapping schedules never poll the
//! same list at once) and its own execution, started when there is something to report. One
//! institution's failure — FS down, a configuration mistake — is that institution's KO execution;
//! the others poll as usual. The cursor moves only after the changes are queued.
//!
//! A standing appeal or an explanation request holds the candidate's thesis back from the archive
//! from the moment it is read, before it is queued: the thesis stays held even when the exam
//! system cannot take the case and it is parked. Releases (withdrawals) are left to exam-dispatch,
//! which applies a case's changes in order.

mod config;
mod replay;
mod window;

use flyt::appeals::{DispatchItem, RequestKind};
use flyt::apply::Applicable;
use flyt::aws::AwsClients;
use flyt::batch::ATTR_EXECUTION_ID;
use flyt::config::Vars;
use flyt::connections::Connections;
use flyt::cursor::{Acquire, CursorStore};
use flyt::execution::{ExecutionStore, LogLine};
use flyt::institution::{Institution, InstitutionStore, Mode};
use flyt::observability::Metrics;
use flyt::retry::RetryPolicy;
use flyt::sender::{OutgoingMessage, Sender};
use flyt::thesis_store::{HoldChange, Holds};
use flyt::{Error, Result};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

pub use config::Config;
pub use replay::{ReplayReport, ReplayRequest};
pub use window::Position;

/// (Institution, kind) lists polled at once.
const CONCURRENT_POLLS: usize = 4;

/// Holds written at once by one poll.
const CONCURRENT_HOLDS: usize = 8;

/// What one poll of one list did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PollReport {
    /// The institution.
    pub org_id: String,
    /// The list, or `None` when the institution itself could not be polled.
    pub kind: Option<RequestKind>,
    /// `ok`, `skipped` (another poll holds the list) or `failed`.
    pub status: &'static str,
    /// Changes FS returned.
    pub read: usize,
    /// Changes queued (those not queued by an earlier, overlapping poll).
    pub queued: usize,
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
    cursors: CursorStore,
    holds: Holds,
    executions: ExecutionStore,
    sender: Sender,
    dynamodb: aws_sdk_dynamodb::Client,
}

impl Poller {
    /// Builds the function from its settings: reads both secrets and makes the clients.
    pub async fn from_vars(vars: &Vars, aws: &AwsClients) -> Result<Self> {
        let config = Config::from_vars(vars)?;
        let retry = RetryPolicy::from_vars(vars)?;
        let http = flyt::http::client(config.http_timeout);
        let connections = Connections::load(
            &aws.secrets,
            flyt::secrets::Refresh::from_vars(vars)?,
            Some(&config.fs_secret_id),
            Some(&config.exam_systems_secret_id),
            &http,
            &retry,
        )
        .await?;
        Ok(Poller {
            institutions: InstitutionStore::new(aws.dynamodb.clone(), &config.config_table),
            cursors: CursorStore::new(aws.dynamodb.clone(), &config.state_table),
            holds: Holds::new(aws.dynamodb.clone(), &config.state_table),
            executions: ExecutionStore::new(aws.dynamodb.clone(), &config.executions_table),
            sender: Sender::new(aws.sqs.clone(), retry, 4),
            dynamodb: aws.dynamodb.clone(),
            connections,
            config,
        })
    }

    /// The Lambda handler: `{"replay": {...}}` replays one list over a window (see
    /// [`ReplayRequest`]); any other event (the schedule's) polls every list.
    pub async fn handle(&self, event: serde_json::Value) -> Result<serde_json::Value> {
        match event.get("replay") {
            Some(request) => {
                let request: ReplayRequest = serde_json::from_value(request.clone()).map_err(|e| {
                    Error::configuration(format!(
                        "replay: expected {{\"org_id\", \"kind\": \"klage\"|\"begrunnelse\", \"from\", \"to\", \"dry_run\"?, \"force\"?}}: {e}"
                    ))
                })?;
                to_json(&self.replay(&request).await?)
            }
            None => to_json(&self.poll_all().await?),
        }
    }

    /// Polls every list of every active institution. Fails only when the institutions cannot be
    /// read at all; everything else is reported per list.
    pub async fn poll_all(&self) -> Result<Vec<PollReport>> {
        let institutions = self.institutions.active().await?;
        let mut lists = Vec::new();
        let mut reports = Vec::new();
        for (org_id, institution) in institutions {
            let checked = institution.and_then(|institution| {
                self.connections.fs(&institution)?;
                self.connections.exam_system(&institution)?;
                Ok(institution)
            });
            match checked {
                Ok(institution) => {
                    for kind in RequestKind::ALL {
                        let on = match kind {
                            RequestKind::Klage => institution.klage,
                            RequestKind::Begrunnelse => institution.begrunnelse,
                        };
                        if on {
                            lists.push((institution.clone(), kind));
                        }
                    }
                }
                Err(error) => reports.push(self.institution_failed(&org_id, error).await),
            }
        }
        let polled: Vec<PollReport> = futures::stream::iter(lists)
            .map(|(institution, kind)| async move { self.poll(&institution, kind).await })
            .buffer_unordered(CONCURRENT_POLLS)
            .collect()
            .await;
        reports.extend(polled);
        reports.sort_by(|a, b| {
            (&a.org_id, a.kind.map(|k| k.as_str())).cmp(&(&b.org_id, b.kind.map(|k| k.as_str())))
        });
        let mut metrics = Metrics::new("fs-poll");
        metrics
            .count("read", reports.iter().map(|r| r.read as u64).sum())
            .count("queued", reports.iter().map(|r| r.queued as u64).sum())
            .count(
                "failed_lists",
                reports.iter().filter(|r| r.status == "failed").count() as u64,
            );
        metrics.emit();
        Ok(reports)
    }

    /// An institution that cannot be polled: its own KO execution with the reason.
    async fn institution_failed(&self, org_id: &str, error: Error) -> PollReport {
        tracing::error!(org_id, error = %error, "institution not polled");
        let execution_id = self
            .executions
            .fail(&format!("fs-poll-{org_id}"), None, &error)
            .await;
        PollReport {
            org_id: org_id.to_owned(),
            kind: None,
            status: "failed",
            read: 0,
            queued: 0,
            execution_id,
            error: Some(error.to_string()),
        }
    }

    /// Polls one list of one institution under its cursor's lease.
    pub async fn poll(&self, institution: &Institution, kind: RequestKind) -> PollReport {
        let org_id = &institution.org_id;
        let interface = format!("fs-poll-{org_id}-{kind}");
        let mut report = PollReport {
            org_id: org_id.clone(),
            kind: Some(kind),
            status: "ok",
            read: 0,
            queued: 0,
            execution_id: None,
            error: None,
        };
        // A shadow institution's position is its own: switched to live, it reads afresh.
        let cursor_name = match institution.mode {
            Mode::Live => format!("fs#{org_id}#{kind}"),
            Mode::Shadow => format!("fs#{org_id}#{kind}#shadow"),
        };
        let owner = format!("poll-{:016x}", fastrand::u64(..));
        let cursor = match self
            .cursors
            .acquire(&cursor_name, &owner, &interface, self.config.poll_lease)
            .await
        {
            Ok(Acquire::Acquired(cursor)) => cursor,
            Ok(Acquire::Held(_)) => {
                tracing::info!(org_id, %kind, "another poll holds this list; skipped");
                report.status = "skipped";
                return report;
            }
            Err(error) => {
                report.execution_id = self.executions.fail(&interface, None, &error).await;
                report.status = "failed";
                report.error = Some(error.to_string());
                return report;
            }
        };
        let result = self
            .read_and_queue(institution, kind, &interface, &cursor, &owner, &mut report)
            .await;
        if let Err(error) = result {
            tracing::error!(org_id, %kind, error = %error, "poll failed");
            report.execution_id = self
                .executions
                .fail(&interface, report.execution_id.as_deref(), &error)
                .await;
            report.status = "failed";
            report.error = Some(error.to_string());
        }
        if let Err(error) = self.cursors.release(&cursor_name, &owner).await {
            tracing::warn!(error = %error, "could not release the poll lease; it lapses by itself");
        }
        report
    }

    async fn read_and_queue(
        &self,
        institution: &Institution,
        kind: RequestKind,
        interface: &str,
        cursor: &flyt::cursor::Cursor,
        owner: &str,
        report: &mut PollReport,
    ) -> Result<()> {
        let position = cursor
            .position
            .as_deref()
            .and_then(Position::parse)
            .unwrap_or_else(|| {
                let start = flyt::time::now_ms() - self.config.first_lookback.as_millis() as i64;
                Position::starting_at(flyt::appeals::format_fs_timestamp(start))
            });
        let fs = self.connections.fs(institution)?;
        let siden = position.query_from(self.config.lookback_lag);
        let changes = fs
            .changes(
                kind,
                institution.exam_system,
                &institution.institusjonsnr,
                &siden,
            )
            .await
            .map_err(|e| e.context(format_args!("institution {}", institution.org_id)))?;
        report.read = changes.len();
        let items = changes
            .into_iter()
            .map(|change| DispatchItem::for_institution(kind, institution, change))
            .collect();
        let (fresh, next) = position.advance(items, self.config.lookback_lag);
        if fresh.is_empty() {
            return Ok(());
        }
        let execution_id = self.executions.start(interface, "schedule").await?;
        report.execution_id = Some(execution_id.clone());
        let queued = self.queue(fresh, &execution_id).await?;
        report.queued = queued;
        let counted = self.executions.count_action(
            &execution_id,
            &[("read", report.read as u64), ("queued", queued as u64)],
        );
        let moved = self
            .cursors
            .advance(
                cursor,
                owner,
                &next.render(),
                self.config.poll_lease,
                counted.into_iter().collect(),
            )
            .await?;
        if moved.is_none() {
            return Err(Error::technical(format!(
                "cursor {} moved under this poll (its lease lapsed); the next poll re-reads the window and the repeats are dropped downstream",
                cursor.name
            )));
        }
        let line = LogLine::info(format!(
            "{} {kind} changes read from FS since {siden}, {queued} new queued for {}",
            report.read, institution.exam_system
        ));
        self.executions.record(&execution_id, &[], &[line]).await?;
        self.executions.finish(&execution_id).await
    }
}

impl Poller {
    /// Opens the holds of the open cases among `items`, then queues them for exam-dispatch,
    /// accounted to `execution_id`; returns how many were sent. An item that does not validate
    /// opens no hold: it is parked with its reason downstream. A shadow item opens none either:
    /// the platform Flyt replaces still archives.
    async fn queue(&self, items: Vec<DispatchItem>, execution_id: &str) -> Result<usize> {
        let opens: Vec<_> = items
            .iter()
            .filter(|item| item.validate().is_ok() && !item.shadow)
            .filter_map(|item| match item.hold_change() {
                open @ HoldChange::Open(_) => {
                    Some(
                        self.holds
                            .apply(&item.org_id, &item.kandidatnr, &item.vurd_id, open),
                    )
                }
                HoldChange::Release(_) => None,
            })
            .collect();
        futures::stream::iter(opens)
            .buffer_unordered(CONCURRENT_HOLDS)
            .try_collect::<()>()
            .await?;
        let messages: Vec<OutgoingMessage> = items
            .into_iter()
            .map(|mut item| {
                item.execution_id = execution_id.to_owned();
                let body = serde_json::to_string(&item).expect("a dispatch item serialises");
                OutgoingMessage::new(body)
                    .attribute(ATTR_EXECUTION_ID, execution_id)
                    .tenant(&item.org_id)
            })
            .collect();
        self.sender
            .send_all(&self.config.dispatch_queue_url, messages)
            .await
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value)
        .map_err(|e| Error::technical(format!("a report did not serialise: {e}")))
}
