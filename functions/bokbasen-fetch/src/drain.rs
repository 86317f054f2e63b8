//! Starting a drain, and running one bounded step of it.

use chrono::{Duration as ChronoDuration, Utc};
use flyt::batch::ATTR_EXECUTION_ID;
use flyt::bokbasen::{version, ForwardItem, Report};
use flyt::clients::bokbasen::{ExportPage, PageStart};
use flyt::cursor::{Acquire, Cursor};
use flyt::execution::LogLine;
use flyt::sender::OutgoingMessage;
use flyt::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::Fetcher;

/// One step of a drain chain: the drain queue's message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainStep {
    /// The report being drained.
    pub report: Report,
    /// The chain: the owner of the report's cursor lease while the drain runs.
    pub chain_id: String,
    /// The execution that records the drain.
    pub execution_id: String,
    /// How many steps the chain has sent before this one (0 for the first). Lambda's own loop
    /// detection is off for this function (`RecursiveLoop: Allow` in template.yaml): a long
    /// drain would be cut after about 16 hops without an error. This count bounds the chain
    /// instead, with a Configuration error the operators see.
    #[serde(default)]
    pub hop: u32,
}

/// What a start did for one report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StartOutcome {
    /// A new drain chain started.
    Started {
        /// The report.
        report: Report,
        /// Its execution.
        execution_id: String,
    },
    /// A drain of this report is still running; nothing was started.
    AlreadyRunning {
        /// The report.
        report: Report,
        /// The execution of this (no-op) start.
        execution_id: String,
    },
}

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// Read pages and chained the next step.
    Continued,
    /// The Alma queue is full enough: chained the next step with a delay, read nothing.
    Paused,
    /// The report is drained; the execution is finished.
    Drained,
    /// Another chain owns the cursor; this step did nothing.
    Superseded,
    /// The chain reached `BOKBASEN_MAX_DRAIN_HOPS`: the drain stopped with a Configuration error
    /// on its execution, its cursor where the last step left it.
    Stopped,
}

/// The Configuration error of a chain that has gone past `max_hops` steps; `None` within it.
pub fn past_bound(step: &DrainStep, max_hops: u32) -> Option<Error> {
    (step.hop > max_hops).then(|| {
        Error::configuration(format!(
            "the drain of {} has chained {} steps, more than BOKBASEN_MAX_DRAIN_HOPS ({max_hops}); it stops with its cursor where the last step left it, and the next scheduled drain goes on from there. If Bokbasen really has this many changes, raise BOKBASEN_MAX_DRAIN_HOPS",
            step.report, step.hop
        ))
    })
}

/// The cursor (and lease) name of a report.
pub fn cursor_name(report: Report) -> String {
    format!("bokbasen#{report}")
}

/// The interface (execution name) of a report's drain.
pub fn interface(report: Report) -> String {
    format!("bokbasen-{report}")
}

/// Turns a page into Alma queue messages, versioned by the page's sequence number.
pub fn page_messages(
    report: Report,
    page: &ExportPage,
    start: &PageStart,
    page_sequence: u64,
    execution_id: &str,
) -> Vec<OutgoingMessage> {
    page.items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let forward = ForwardItem {
                report,
                item: item.clone(),
                version: version(page_sequence, index),
                page_cursor: start.value().to_owned(),
                execution_id: execution_id.to_owned(),
            };
            OutgoingMessage::new(serde_json::to_string(&forward).expect("a ForwardItem serialises"))
                .attribute(ATTR_EXECUTION_ID, execution_id)
        })
        .collect()
}

impl Fetcher {
    /// Starts a drain of each report unless one is running.
    pub async fn start_drains(&self, reports: &[Report]) -> Result<Vec<StartOutcome>> {
        let mut outcomes = Vec::new();
        for &report in reports {
            outcomes.push(self.start_drain(report).await?);
        }
        Ok(outcomes)
    }

    async fn start_drain(&self, report: Report) -> Result<StartOutcome> {
        let execution_id = self
            .executions
            .start(&interface(report), "schedule")
            .await?;
        let chain_id = format!("chain-{:016x}", fastrand::u64(..));
        let name = cursor_name(report);
        match self
            .cursors
            .acquire(&name, &chain_id, &execution_id, self.config.drain_lease)
            .await?
        {
            Acquire::Held(held) => {
                let line = LogLine::warning(format!(
                    "a drain of {report} is still running (execution {}, lease until {}): this start does nothing",
                    held.execution_id.as_deref().unwrap_or("?"),
                    flyt::time::rfc3339(held.lease_expires_at_ms)
                ));
                self.executions.record(&execution_id, &[], &[line]).await?;
                self.executions.finish(&execution_id).await?;
                Ok(StartOutcome::AlreadyRunning {
                    report,
                    execution_id,
                })
            }
            Acquire::Acquired(cursor) => {
                let step = DrainStep {
                    report,
                    chain_id: chain_id.clone(),
                    execution_id: execution_id.clone(),
                    hop: 0,
                };
                if let Err(error) = self.chain(&step).await {
                    self.cursors.release(&name, &chain_id).await?;
                    return Err(error);
                }
                let from = cursor
                    .position
                    .as_deref()
                    .unwrap_or("the beginning (first drain)");
                self.executions
                    .record(
                        &execution_id,
                        &[],
                        &[LogLine::info(format!(
                            "drain of {report} started from cursor {from}"
                        ))],
                    )
                    .await?;
                Ok(StartOutcome::Started {
                    report,
                    execution_id,
                })
            }
        }
    }

    /// Runs one bounded step of a drain.
    pub async fn run_step(&self, step: &DrainStep) -> Result<StepOutcome> {
        if self.executions.get(&step.execution_id).await?.is_none() {
            return Err(Error::configuration(format!(
                "drain step of {} belongs to execution {}, which does not exist, so it cannot be resumed; \
                 start a new drain instead (the schedule's next run, or invoke with {{\"reports\": [\"{}\"]}})",
                step.report, step.execution_id, step.report
            )));
        }
        let name = cursor_name(step.report);
        if let Some(error) = past_bound(step, self.config.max_drain_hops) {
            tracing::error!(report = %step.report, hop = step.hop, "drain chain past its bound; stopping");
            self.executions
                .record(&step.execution_id, &[], &[LogLine::error(&error)])
                .await?;
            self.executions.finish(&step.execution_id).await?;
            self.cursors.release(&name, &step.chain_id).await?;
            return Ok(StepOutcome::Stopped);
        }
        let mut cursor = match self
            .cursors
            .acquire(
                &name,
                &step.chain_id,
                &step.execution_id,
                self.config.drain_lease,
            )
            .await?
        {
            Acquire::Acquired(cursor) => cursor,
            Acquire::Held(_) => {
                tracing::info!(report = %step.report, chain_id = %step.chain_id, "drain step superseded by another chain");
                return Ok(StepOutcome::Superseded);
            }
        };
        for _ in 0..self.config.pages_per_step {
            let depth =
                flyt::redrive::queue_depth(self.sender.sqs(), &self.config.alma_queue_url).await?;
            if depth >= self.config.alma_queue_max_depth {
                tracing::info!(report = %step.report, depth, "Alma queue is full enough; pausing the drain");
                self.chain_after(step, Some(self.config.backpressure_delay))
                    .await?;
                return Ok(StepOutcome::Paused);
            }
            let start = self.page_start(&cursor);
            let page = self
                .bokbasen
                .export_page(step.report, &start, self.config.page_size)
                .await?;
            let drained = page.next == start.value();
            let count = page.items.len() as u64;
            if count > 0 {
                let messages = page_messages(
                    step.report,
                    &page,
                    &start,
                    cursor.sequence + 1,
                    &step.execution_id,
                );
                self.sender
                    .send_all(&self.config.alma_queue_url, messages)
                    .await?;
                fail::fail_point!("bokbasen-fetch::after-enqueue");
            }
            if count > 0 || !drained {
                let counted = self.executions.count_action(
                    &step.execution_id,
                    &[("fetched", count), ("enqueued", count), ("pages", 1)],
                );
                match self
                    .cursors
                    .advance(
                        &cursor,
                        &step.chain_id,
                        &page.next,
                        self.config.drain_lease,
                        counted.into_iter().collect(),
                    )
                    .await?
                {
                    Some(moved) => cursor = moved,
                    None => {
                        tracing::warn!(report = %step.report, chain_id = %step.chain_id, "lost the cursor to another chain; stopping");
                        return Ok(StepOutcome::Superseded);
                    }
                }
                let line = LogLine::info(format!(
                    "page {}: {count} items enqueued, cursor now {}",
                    cursor.sequence, page.next
                ));
                self.executions
                    .record(&step.execution_id, &[], &[line])
                    .await?;
            }
            if drained {
                self.executions
                    .record(
                        &step.execution_id,
                        &[],
                        &[LogLine::info(format!(
                            "{} drained at cursor {}",
                            step.report, page.next
                        ))],
                    )
                    .await?;
                self.executions.finish(&step.execution_id).await?;
                self.cursors.release(&name, &step.chain_id).await?;
                return Ok(StepOutcome::Drained);
            }
        }
        self.chain(step).await?;
        Ok(StepOutcome::Continued)
    }

    fn page_start(&self, cursor: &Cursor) -> PageStart {
        match &cursor.position {
            Some(next) => PageStart::Next(next.clone()),
            None => {
                let after = Utc::now() - ChronoDuration::days(i64::from(self.config.first_days));
                PageStart::After(after.format("%Y%m%d%H%M%S").to_string())
            }
        }
    }

    async fn chain(&self, step: &DrainStep) -> Result<()> {
        self.chain_after(step, None).await
    }

    async fn chain_after(
        &self,
        step: &DrainStep,
        delay: Option<std::time::Duration>,
    ) -> Result<()> {
        let next = DrainStep {
            hop: step.hop + 1,
            ..step.clone()
        };
        let body = serde_json::to_string(&next).expect("a DrainStep serialises");
        let mut message =
            OutgoingMessage::new(body).attribute(ATTR_EXECUTION_ID, &step.execution_id);
        message.delay = delay;
        self.sender
            .send_all(&self.config.drain_queue.source_queue_url, vec![message])
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flyt::bokbasen::ExportItem;

    #[test]
    fn messages_carry_versions_in_page_order() {
        let page = ExportPage {
            items: vec![
                ExportItem {
                    isbn13: "9788205000003".into(),
                    ..ExportItem::default()
                },
                ExportItem {
                    isbn13: "9788205000010".into(),
                    ..ExportItem::default()
                },
            ],
            next: "n2".into(),
        };
        let messages = page_messages(
            Report::Objects,
            &page,
            &PageStart::Next("n1".into()),
            4,
            "exec-1",
        );
        let items: Vec<ForwardItem> = messages
            .iter()
            .map(|m| serde_json::from_str(&m.body).unwrap())
            .collect();
        assert_eq!(items[0].version, 400_000);
        assert_eq!(items[1].version, 400_001);
        assert_eq!(items[1].page_cursor, "n1");
        assert_eq!(messages[0].attributes[ATTR_EXECUTION_ID], "exec-1");
    }

    #[test]
    fn a_chain_stops_past_its_bound_naming_the_setting() {
        let step = |hop| DrainStep {
            report: Report::Objects,
            chain_id: "chain-1".into(),
            execution_id: "exec-1".into(),
            hop,
        };
        assert!(past_bound(&step(0), 1000).is_none());
        assert!(past_bound(&step(1000), 1000).is_none());
        let error = past_bound(&step(1001), 1000).expect("past the bound");
        assert_eq!(error.category(), flyt::Category::Configuration);
        assert!(error.to_string().contains("BOKBASEN_MAX_DRAIN_HOPS (1000)"));
        assert!(error.to_string().contains("1001 steps"));
    }

    #[test]
    fn a_step_queued_before_hops_were_counted_reads_as_the_first() {
        let old: DrainStep = serde_json::from_str(
            r#"{"report": "objects", "chain_id": "chain-1", "execution_id": "exec-1"}"#,
        )
        .unwrap();
        assert_eq!(old.hop, 0);
    }
}
