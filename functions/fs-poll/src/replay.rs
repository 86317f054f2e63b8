//! Replay of one institution's list over a time window, after an outage (seed `000_*`): FS is read
//! again from `from`, the changes up to `to` are kept, and each one not yet delivered — its version
//! not applied by `exam-dispatch` — is queued again. A dry run only lists them. `force` queues
//! every change of the window and has it applied again even where it was.
//!
//! The list's cursor is not touched: the schedule's polls go on from where they are.

use flyt::appeals::{fs_timestamp, DispatchItem, RequestKind};
use flyt::apply::Applicable;
use flyt::execution::LogLine;
use flyt::ordering::OrderingStore;
use flyt::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::Poller;

/// What to replay: `{"replay": {"org_id": "uio", "kind": "klage", "from": ..., "to": ..., "dry_run": true}}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ReplayRequest {
    /// The institution.
    pub org_id: String,
    /// The list.
    pub kind: RequestKind,
    /// Start of the window, `yyyy-MM-ddTHH:mm:ss` (inclusive).
    pub from: String,
    /// End of the window, `yyyy-MM-ddTHH:mm:ss` (inclusive).
    pub to: String,
    /// List what would be queued; queue nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Queue every change of the window, delivered or not, to be applied again.
    #[serde(default)]
    pub force: bool,
}

/// What a replay found and did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// Changes FS returned since `from`.
    pub read: usize,
    /// Of them, changes up to `to`.
    pub in_window: usize,
    /// Of those, changes already delivered (not queued unless forced).
    pub already_delivered: usize,
    /// The changes queued — or, in a dry run, that would be: their labels (ids only).
    pub to_deliver: Vec<String>,
    /// Whether anything was queued.
    pub dry_run: bool,
    /// The replay's execution (none for a dry run).
    pub execution_id: Option<String>,
}

impl ReplayRequest {
    /// Checks the window; a mistake is a Configuration error naming the field.
    fn window(&self) -> Result<(chrono::NaiveDateTime, chrono::NaiveDateTime)> {
        let parse = |field: &str, value: &str| {
            fs_timestamp(value).ok_or_else(|| {
                Error::configuration(format!(
                    "replay: {field} {value:?} is not yyyy-MM-ddTHH:mm:ss"
                ))
            })
        };
        let (from, to) = (parse("from", &self.from)?, parse("to", &self.to)?);
        if from > to {
            return Err(Error::configuration(format!(
                "replay: from {} is after to {}",
                self.from, self.to
            )));
        }
        Ok((from, to))
    }
}

impl Poller {
    /// Replays one list over a window (see the module's documentation).
    pub async fn replay(&self, request: &ReplayRequest) -> Result<ReplayReport> {
        let (from, to) = request.window()?;
        let institution = self.institutions.get(&request.org_id).await?;
        let fs = self.connections.fs(&institution)?;
        let changes = fs
            .changes(
                request.kind,
                institution.exam_system,
                &institution.institusjonsnr,
                &request.from,
            )
            .await
            .map_err(|e| e.context(format_args!("replaying institution {}", request.org_id)))?;
        let read = changes.len();
        let in_window: Vec<DispatchItem> = changes
            .into_iter()
            .map(|change| DispatchItem::for_institution(request.kind, &institution, change))
            .filter(|item| fs_timestamp(&item.changed_at).is_some_and(|at| at >= from && at <= to))
            .collect();
        let ordering = OrderingStore::new(
            self.dynamodb.clone(),
            &self.config.state_table,
            std::time::Duration::ZERO,
            std::time::Duration::ZERO,
        );
        let mut to_deliver = Vec::new();
        let mut already_delivered = 0;
        for item in &in_window {
            let applied = ordering.applied_version(&item.key()).await?;
            if applied.is_some_and(|applied| applied >= item.version()) {
                already_delivered += 1;
                if !request.force {
                    continue;
                }
            }
            to_deliver.push(item.clone());
        }
        let mut report = ReplayReport {
            read,
            in_window: in_window.len(),
            already_delivered,
            to_deliver: to_deliver.iter().map(Applicable::label).collect(),
            dry_run: request.dry_run,
            execution_id: None,
        };
        if request.dry_run || to_deliver.is_empty() {
            return Ok(report);
        }
        let interface = format!("fs-poll-{}-{}", request.org_id, request.kind);
        let execution_id = self.executions.start(&interface, "replay").await?;
        report.execution_id = Some(execution_id.clone());
        let items = to_deliver
            .into_iter()
            .map(|item| DispatchItem {
                force: request.force,
                ..item
            })
            .collect();
        let queued = self.queue(items, &execution_id).await?;
        let line = LogLine::info(format!(
            "replay of {} {} from {} to {}: {} changes in the window, {} already delivered, {queued} queued{}",
            request.org_id,
            request.kind,
            request.from,
            request.to,
            report.in_window,
            report.already_delivered,
            if request.force { " (forced)" } else { "" }
        ));
        self.executions
            .record(
                &execution_id,
                &[
                    ("read", report.in_window as u64),
                    ("already_delivered", report.already_delivered as u64),
                    ("queued", queued as u64),
                ],
                &[line],
            )
            .await?;
        self.executions.finish(&execution_id).await?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(from: &str, to: &str) -> ReplayRequest {
        ReplayRequest {
            org_id: "uio".into(),
            kind: RequestKind::Klage,
            from: from.into(),
            to: to.into(),
            dry_run: true,
            force: false,
        }
    }

    #[test]
    fn the_window_must_be_two_timestamps_in_order() {
        assert!(request("2026-11-20T00:00:00", "2026-11-21T00:00:00")
            .window()
            .is_ok());
        let reversed = request("2026-11-21T00:00:00", "2026-11-20T00:00:00")
            .window()
            .unwrap_err();
        assert!(reversed.message().contains("after"), "{reversed}");
        let bad = request("yesterday", "2026-11-20T00:00:00")
            .window()
            .unwrap_err();
        assert!(bad.message().contains("from"), "{bad}");
    }

    #[test]
    fn a_replay_event_reads_with_defaults() {
        let parsed: ReplayRequest = serde_json::from_str(
            r#"{"org_id":"uib","kind":"begrunnelse","from":"2026-11-20T00:00:00","to":"2026-11-20T06:00:00"}"#,
        )
        .unwrap();
        assert!(!parsed.dry_run && !parsed.force);
        assert_eq!(parsed.kind, RequestKind::Begrunnelse);
    }
}
