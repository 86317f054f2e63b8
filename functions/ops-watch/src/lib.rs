//! `ops-watch`: every 15 minutes, looks for what an operator must hear about and tells Slack,
//! once per finding, unless the interface is blacklisted.
//!
//! Findings:
//! - executions not finished after `RUNNING_LIMIT_SECONDS` (the daily executions of real-time
//!   interfaces excepted: they run all day);
//! - items of the ordering store whose claim lapsed more than `STUCK_CLAIM_SECONDS` ago without
//!   completion;
//! - dead-letter queues (`DLQ_URLS`) holding messages, once a day each, with their depth;
//! - cursors neither moved nor taken for longer than their prefix allows (`CURSOR_MAX_AGE`);
//! - executions that ended KO (and real-time interfaces' days that turned KO) since they were
//!   last looked at, with the category of their first error line.
//!
//! Every finding is written once as an error line (Technical) into the day's execution
//! `ops-watch-<yyyymmdd>`, and notified once ([`markers`]), through the blacklist
//! ([`flyt::notify`]). A check that cannot run is an error line of its own; the other checks go on.
//! Notifications never fail the watch: one that could not be sent is retried by the next watch.

mod config;
pub mod digest;
pub mod findings;
pub mod markers;

use std::collections::BTreeMap;

use flyt::aws::AwsClients;
use flyt::config::Vars;
use flyt::dynamo::{n, s, Item, ItemExt};
use flyt::error::aws_error;
use flyt::execution::{DailyExecution, ExecutionStore, Level, LogLine};
use flyt::notify::{Blacklist, Notification, SlackNotifier};
use flyt::observability::Metrics;
use flyt::retry::RetryPolicy;
use flyt::time::now_ms;
use flyt::{Error, Result};
use serde::Serialize;
use serde_json::Value;

pub use config::{Config, CursorLimits};
pub use findings::{Finding, Kind};
use markers::{Markers, State, Taken};

/// The interface of the watch's own daily execution.
pub const INTERFACE: &str = "ops-watch";
/// Key prefix of the ordering store's items in the state table.
const ITEM_PREFIX: &str = "item#";
/// Key prefix of cursors in the state table.
const CURSOR_PREFIX: &str = "cursor#";

/// What one watch found and did; the handler's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WatchSummary {
    /// The day's execution the findings were written to.
    pub execution_id: String,
    /// Findings seen by this watch, by kind (new and known).
    pub findings: BTreeMap<Kind, u64>,
    /// Findings seen for the first time (written to the execution).
    pub new: u64,
    /// Notifications posted to Slack.
    pub notified: u64,
    /// Notifications kept out of Slack by the blacklist.
    pub suppressed: u64,
    /// Findings notified (or suppressed) by an earlier watch.
    pub already_notified: u64,
    /// Notifications that could not be posted; the next watch tries again.
    pub notify_failed: u64,
    /// Checks that could not run (each is an error line).
    pub check_errors: u64,
}

/// The function's dependencies, built once per cold start.
pub struct Watch {
    config: Config,
    aws: AwsClients,
    executions: ExecutionStore,
    daily: DailyExecution,
    markers: Markers,
    http: reqwest::Client,
    retry: RetryPolicy,
}

impl Watch {
    /// Builds the function from its settings. The Slack secret is read at each watch that has
    /// something to send, so a corrected secret is used from the next watch on.
    pub async fn from_vars(vars: &Vars, aws: &AwsClients) -> Result<Self> {
        let config = Config::from_vars(vars)?;
        let retry = RetryPolicy::from_vars(vars)?;
        let executions = ExecutionStore::new(aws.dynamodb.clone(), &config.executions_table);
        Ok(Watch {
            daily: DailyExecution::new(executions.clone(), INTERFACE),
            markers: Markers::new(aws.dynamodb.clone(), &config.state_table),
            http: flyt::http::client(config.http_timeout),
            executions,
            retry,
            aws: aws.clone(),
            config,
        })
    }

    /// The Lambda handler: `{"digest": {...}}` sends the daily digest (see
    /// [`digest::DigestRequest`]); any other event is one watch, answered with its
    /// [`WatchSummary`].
    pub async fn handle(&self, event: Value) -> Result<Value> {
        let answer = match event.get("digest") {
            Some(request) => {
                let request: digest::DigestRequest = serde_json::from_value(request.clone())
                    .map_err(|e| {
                        Error::configuration(format!(
                            "digest: expected {{\"day\": \"yyyy-MM-dd\"}} or {{}}: {e}"
                        ))
                    })?;
                serde_json::to_value(self.send_digests(&request).await?)
            }
            None => serde_json::to_value(self.watch().await?),
        };
        answer.map_err(|e| Error::technical(e.to_string()))
    }

    /// Looks for findings, records the new ones and notifies each once.
    pub async fn watch(&self) -> Result<WatchSummary> {
        let now = now_ms();
        let execution_id = self.daily.id().await?;
        let mut summary = WatchSummary {
            execution_id: execution_id.clone(),
            ..WatchSummary::default()
        };
        let mut lines = Vec::new();
        let (executions, state, dead_letters) = tokio::join!(
            self.check_executions(now),
            self.check_state(now),
            self.check_dead_letters(now)
        );
        let mut findings = Vec::new();
        for (found, errors) in [executions, state, dead_letters] {
            findings.extend(found);
            summary.check_errors += errors.len() as u64;
            lines.extend(errors.iter().map(LogLine::error));
        }
        for kind in Kind::ALL {
            let seen = findings.iter().filter(|f| f.kind == kind).count() as u64;
            summary.findings.insert(kind, seen);
        }

        let mut taken = Vec::new();
        for finding in findings {
            match self.markers.take(&finding.key, now).await {
                Ok(Taken::Known) => summary.already_notified += 1,
                Ok(state) => taken.push((finding, state)),
                Err(error) => {
                    summary.check_errors += 1;
                    lines.push(LogLine::error(&error));
                }
            }
        }
        let mut new_by_kind: BTreeMap<Kind, u64> = BTreeMap::new();
        if !taken.is_empty() {
            let (blacklist, notifier) = tokio::join!(
                Blacklist::load(&self.aws.dynamodb, &self.config.config_table),
                SlackNotifier::from_secret(
                    &self.aws.secrets,
                    &self.config.slack_secret_id,
                    self.http.clone(),
                    self.retry.clone(),
                )
            );
            let any_new = taken.iter().any(|(_, t)| *t == Taken::New);
            let blacklist = blacklist
                .inspect_err(|error| {
                    summary.check_errors += 1;
                    lines.push(LogLine::error(&error.clone().context(
                        "the notification blacklist could not be read, so nothing was sent; the next watch tries again",
                    )));
                })
                .ok();
            let notifier = notifier
                .inspect_err(|error| {
                    tracing::error!(error = %error, "Slack notifications cannot be sent");
                    if any_new {
                        lines.push(LogLine::warning(format!(
                            "Slack is not notified: {error}; the next watch tries again"
                        )));
                    }
                })
                .ok();
            for (finding, state) in taken {
                let finding = self.complete(finding).await;
                if state == Taken::New {
                    summary.new += 1;
                    *new_by_kind.entry(finding.kind).or_insert(0) += 1;
                    lines.push(LogLine::error(&Error::technical(finding.message.clone())));
                }
                let outcome = self
                    .notify(
                        &finding,
                        &execution_id,
                        blacklist.as_ref(),
                        notifier.as_ref(),
                        now,
                    )
                    .await;
                match &outcome {
                    Ok(State::Sent) => summary.notified += 1,
                    Ok(_) => summary.suppressed += 1,
                    Err(error) => {
                        summary.notify_failed += 1;
                        if state == Taken::New && notifier.is_some() && blacklist.is_some() {
                            lines.push(LogLine::warning(format!(
                                "Slack was not notified of {}: {error}; the next watch tries again",
                                finding.key
                            )));
                        }
                    }
                }
                let settled = match outcome {
                    Ok(state) => state,
                    Err(_) => State::Failed,
                };
                if let Err(error) = self.markers.settle(&finding.key, settled, now_ms()).await {
                    tracing::warn!(error = %error, key = %finding.key, "could not record a notification's outcome; it may be sent again");
                }
            }
        }

        let mut counts: Vec<(&str, u64)> = vec![("watches", 1)];
        counts.extend(
            Kind::ALL
                .iter()
                .map(|k| (k.as_str(), new_by_kind.get(k).copied().unwrap_or(0))),
        );
        counts.extend([
            ("notified", summary.notified),
            ("suppressed", summary.suppressed),
            ("notify_failed", summary.notify_failed),
            ("check_errors", summary.check_errors),
        ]);
        self.daily.record(&execution_id, &counts, &lines).await?;
        let mut metrics = Metrics::new(INTERFACE);
        for (kind, seen) in &summary.findings {
            metrics.count(kind.as_str(), *seen);
        }
        metrics
            .count("notified", summary.notified)
            .count("suppressed", summary.suppressed)
            .count("notify_failed", summary.notify_failed)
            .count("check_errors", summary.check_errors);
        metrics.emit();
        tracing::info!(execution_id = %execution_id, new = summary.new, notified = summary.notified, suppressed = summary.suppressed, already_notified = summary.already_notified, notify_failed = summary.notify_failed, check_errors = summary.check_errors, "watch done");
        Ok(summary)
    }

    /// A failed execution's finding gets its first error line's category; others are complete.
    async fn complete(&self, finding: Finding) -> Finding {
        let (Kind::FailedExecution, Some(id)) = (finding.kind, finding.execution_id.as_deref())
        else {
            return finding;
        };
        let first = match self.executions.lines(id).await {
            Ok(lines) => lines
                .iter()
                .find(|line| line.level == Level::Error)
                .and_then(|line| line.category),
            Err(error) => {
                tracing::warn!(error = %error, execution_id = id, "could not read a failed execution's lines");
                None
            }
        };
        findings::with_first_error(finding, first)
    }

    /// Sends a finding to Slack unless the blacklist keeps it out. A finding without an execution
    /// of its own names the watch's, where its line is. `Err` when it could not be decided or sent.
    async fn notify(
        &self,
        finding: &Finding,
        watch_execution: &str,
        blacklist: Option<&Blacklist>,
        notifier: Option<&SlackNotifier>,
        now: i64,
    ) -> Result<State> {
        let blacklist = blacklist.ok_or_else(|| Error::technical("the blacklist is unknown"))?;
        if blacklist.suppresses(&finding.interface, finding.category, now / 1000) {
            tracing::info!(key = %finding.key, interface = %finding.interface, "finding not notified: the interface is blacklisted");
            return Ok(State::Suppressed);
        }
        let notifier =
            notifier.ok_or_else(|| Error::configuration("the Slack webhook is not configured"))?;
        let notification = Notification {
            interface: finding.interface.clone(),
            institution: finding.institution.clone(),
            category: finding.category,
            summary: finding.message.clone(),
            execution_id: Some(
                finding
                    .execution_id
                    .clone()
                    .unwrap_or_else(|| watch_execution.to_owned()),
            ),
        };
        notifier.notify(&notification).await.map(|()| State::Sent)
    }

    /// Executions running too long, and failed ones.
    async fn check_executions(&self, now: i64) -> (Vec<Finding>, Vec<Error>) {
        let executions = match self.executions.recent(usize::MAX).await {
            Ok(executions) => executions,
            Err(error) => {
                return (
                    Vec::new(),
                    vec![error.context("ops-watch could not read the executions")],
                )
            }
        };
        let running_limit = self.config.running_limit.as_millis() as i64;
        let lookback = self.config.ko_lookback.as_millis() as i64;
        let found = executions
            .iter()
            .flat_map(|execution| {
                [
                    findings::running(execution, now, running_limit),
                    findings::failed(execution, now, lookback, INTERFACE),
                ]
            })
            .flatten()
            .collect();
        (found, Vec::new())
    }

    /// Stuck claims and stale cursors, from one scan of the state table.
    async fn check_state(&self, now: i64) -> (Vec<Finding>, Vec<Error>) {
        let stuck_limit = self.config.stuck_claim.as_millis() as i64;
        let items: std::result::Result<Vec<Item>, _> = self
            .aws
            .dynamodb
            .scan()
            .table_name(&self.config.state_table)
            .filter_expression(
                "(begins_with(pk, :item) AND attribute_exists(claim_token) AND claim_expires_at < :cutoff) \
                 OR begins_with(pk, :cursor)",
            )
            .expression_attribute_values(":item", s(ITEM_PREFIX))
            .expression_attribute_values(":cursor", s(CURSOR_PREFIX))
            .expression_attribute_values(":cutoff", n(now - stuck_limit))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await;
        let items = match items {
            Ok(items) => items,
            Err(e) => {
                return (
                    Vec::new(),
                    vec![aws_error("DynamoDB", "Scan", e)
                        .context("ops-watch could not read the claims and cursors")],
                )
            }
        };
        let mut found = Vec::new();
        for item in &items {
            let pk = item.string("pk").unwrap_or_default();
            if let Some(key) = pk.strip_prefix(ITEM_PREFIX) {
                let token = item.string("claim_token").unwrap_or_default();
                let expires = item.number("claim_expires_at").unwrap_or(0);
                found.extend(findings::stuck_claim(
                    key,
                    &token,
                    expires,
                    now,
                    stuck_limit,
                ));
            } else if let Some(name) = pk.strip_prefix(CURSOR_PREFIX) {
                let Some((prefix, limit)) = self.config.cursor_max_age.limit(name) else {
                    continue;
                };
                let last = [item.number::<i64>("updated_at"), item.number("acquired_at")]
                    .into_iter()
                    .flatten()
                    .max();
                found.extend(findings::stale_cursor(
                    name,
                    last,
                    prefix,
                    limit.as_millis() as i64,
                    now,
                ));
            }
        }
        (found, Vec::new())
    }

    /// Dead-letter queues with messages; one queue that cannot be read does not stop the others.
    async fn check_dead_letters(&self, now: i64) -> (Vec<Finding>, Vec<Error>) {
        let depths = futures::future::join_all(
            self.config
                .dlq_urls
                .iter()
                .map(|url| flyt::redrive::queue_depth(&self.aws.sqs, url)),
        )
        .await;
        let mut found = Vec::new();
        let mut errors = Vec::new();
        for (url, depth) in self.config.dlq_urls.iter().zip(depths) {
            match depth {
                Ok(depth) => found.extend(findings::dead_letter(url, depth, now)),
                Err(error) => errors.push(error.context(format_args!(
                    "ops-watch could not read the depth of {}",
                    flyt::sender::queue_name(url)
                ))),
            }
        }
        (found, errors)
    }
}
