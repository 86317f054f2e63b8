//! Executions: every run of an interface, with its counts and categorised log lines — what an
//! operator opens when something is red. The status is derived, never stored twice: RUNNING until
//! the run is finished, then KO if any error line was written, else OK.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use aws_sdk_dynamodb::types::{
    AttributeValue, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use serde::Serialize;

use crate::appeals::RequestKind;
use crate::dynamo::{conditional, n, s, Item, ItemExt};
use crate::error::{aws_error, Category, Error, Result};
use crate::time::now_ms;

/// How long executions and their lines are kept (DynamoDB TTL; nothing depends on its timing).
const RETENTION_DAYS: i64 = 90;
/// Name of the index listing executions per interface, newest first.
pub const BY_INTERFACE_INDEX: &str = "by-interface";
const COUNT_PREFIX: &str = "count_";

/// An execution's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Still going.
    Running,
    /// Finished with no error line.
    Ok,
    /// At least one error line.
    Ko,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Running => "RUNNING",
            Status::Ok => "OK",
            Status::Ko => "KO",
        })
    }
}

/// A log line's level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Progress.
    Info,
    /// Something an operator may want to know; not a failure.
    Warning,
    /// A failure; turns the execution KO.
    Error,
}

/// One line of an execution's log. Never holds personal data: ids like ISBN, vurdId, kandidatnr only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// When, epoch ms.
    pub at_ms: i64,
    /// Info, warning or error.
    pub level: Level,
    /// For errors: what kind, and so what to do.
    pub category: Option<Category>,
    /// What happened, naming the item and what was expected.
    pub message: String,
}

impl LogLine {
    /// A progress line.
    pub fn info(message: impl Into<String>) -> Self {
        LogLine {
            at_ms: now_ms(),
            level: Level::Info,
            category: None,
            message: message.into(),
        }
    }

    /// A warning line.
    pub fn warning(message: impl Into<String>) -> Self {
        LogLine {
            level: Level::Warning,
            ..LogLine::info(message)
        }
    }

    /// An error line with the error's category.
    pub fn error(error: &Error) -> Self {
        LogLine {
            level: Level::Error,
            category: Some(error.category()),
            ..LogLine::info(error.message())
        }
    }
}

/// An execution as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Execution {
    /// Unique id, e.g. `bokbasen-objects-20261122T010000-4f2a`.
    pub id: String,
    /// The interface (flow step) it belongs to.
    pub interface: String,
    /// What started it: `schedule`, `rerun`, `replay`, `daily`.
    pub trigger: String,
    /// Start, epoch ms.
    pub started_at_ms: i64,
    /// End, epoch ms, once finished.
    pub finished_at_ms: Option<i64>,
    /// Counters by name (fetched, enqueued, applied, parked, …).
    pub counts: BTreeMap<String, u64>,
    /// Number of error lines.
    pub errors: u64,
}

impl Execution {
    /// RUNNING, OK or KO.
    pub fn status(&self) -> Status {
        match (self.finished_at_ms, self.errors) {
            (_, e) if e > 0 => Status::Ko,
            (None, _) => Status::Running,
            (Some(_), _) => Status::Ok,
        }
    }

    /// A counter, zero if never set.
    pub fn count(&self, name: &str) -> u64 {
        self.counts.get(name).copied().unwrap_or(0)
    }
}

/// The id of `interface`'s daily execution for the UTC day of `epoch_ms`.
pub fn daily_id(interface: &str, epoch_ms: i64) -> String {
    let day = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(epoch_ms)
        .unwrap_or_default()
        .format("%Y%m%d");
    format!("{interface}-{day}")
}

/// The institution an interface belongs to, by the functions' names: `fs-poll-<org>-<kind>`,
/// `fs-poll-<org>` (an institution that could not be polled at all) and `wiseflow-poll-<org>`.
/// Every other interface (Bokbasen's drains, the webhook's and the proxy's days, the thesis
/// archive, the watch) belongs to no single institution.
pub fn institution_of(interface: &str) -> Option<String> {
    let org = if let Some(rest) = interface.strip_prefix("fs-poll-") {
        RequestKind::ALL
            .iter()
            .find_map(|kind| rest.strip_suffix(&format!("-{kind}")))
            .unwrap_or(rest)
    } else {
        interface.strip_prefix("wiseflow-poll-")?
    };
    (!org.is_empty()).then(|| org.to_owned())
}

/// Every interface that belongs to institution `org` (the inverse of [`institution_of`]), so
/// that its executions are found with one query per interface instead of a scan.
pub fn interfaces_of(org: &str) -> Vec<String> {
    RequestKind::ALL
        .iter()
        .map(|kind| format!("fs-poll-{org}-{kind}"))
        .chain([format!("fs-poll-{org}"), format!("wiseflow-poll-{org}")])
        .collect()
}

/// Writes and reads executions in the executions table (keys `pk`, `sk`; index by interface).
#[derive(Clone, Debug)]
pub struct ExecutionStore {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

impl ExecutionStore {
    /// A store over `table`.
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        ExecutionStore {
            dynamodb,
            table: table.into(),
        }
    }

    /// Starts an execution of `interface` and returns its id.
    pub async fn start(&self, interface: &str, trigger: &str) -> Result<String> {
        let now = now_ms();
        let stamp = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now)
            .unwrap_or_default()
            .format("%Y%m%dT%H%M%S");
        let id = format!("{interface}-{stamp}-{:04x}", fastrand::u16(..));
        if !self.create(&id, interface, trigger, now).await? {
            return Err(Error::technical(format!(
                "execution id {id} exists already; start again"
            )));
        }
        tracing::info!(execution_id = %id, interface, trigger, "execution started");
        Ok(id)
    }

    /// The execution of `interface` for today (UTC), started on first use: real-time interfaces
    /// (webhooks) account their calls to one execution per day.
    pub async fn daily(&self, interface: &str) -> Result<String> {
        let now = now_ms();
        let id = daily_id(interface, now);
        if self.create(&id, interface, "daily", now).await? {
            tracing::info!(execution_id = %id, interface, "daily execution started");
        }
        Ok(id)
    }

    /// Writes a new execution's head; false when `id` exists already.
    async fn create(&self, id: &str, interface: &str, trigger: &str, now: i64) -> Result<bool> {
        let result = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("pk", s(exec_pk(id)))
            .item("sk", s("HEAD"))
            .item("interface", s(interface))
            .item("trigger", s(trigger))
            .item("started_at", n(now))
            .item("errors", n(0))
            .item("expires_at", n(expiry_s(now)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        conditional(
            result,
            "PutItem",
            format_args!("starting an execution of {interface}"),
        )
        .map(|written| written.is_some())
    }

    /// Records `error` as a KO line in `execution_id`, or in a new execution of `interface` when
    /// there is none yet, and finishes it. For steps that fail before or while doing their work;
    /// never fails itself (what cannot be recorded is logged). Returns the execution's id.
    pub async fn fail(
        &self,
        interface: &str,
        execution_id: Option<&str>,
        error: &Error,
    ) -> Option<String> {
        let id = match execution_id {
            Some(id) => id.to_owned(),
            None => match self.start(interface, "schedule").await {
                Ok(id) => id,
                Err(e) => {
                    tracing::error!(error = %e, interface, "could not start an execution to report a failure");
                    return None;
                }
            },
        };
        let recorded = match self
            .record(&id, &[("failed", 1)], &[LogLine::error(error)])
            .await
        {
            Ok(()) => self.finish(&id).await,
            Err(e) => Err(e),
        };
        if let Err(e) = recorded {
            tracing::error!(error = %e, execution_id = %id, "could not record a failure");
        }
        Some(id)
    }

    /// Adds to counters and appends lines in as few requests as possible: one update for the
    /// counters (and the error count), one batch write per 25 lines. Lines are also logged.
    pub async fn record(&self, id: &str, counts: &[(&str, u64)], lines: &[LogLine]) -> Result<()> {
        let errors = lines.iter().filter(|l| l.level == Level::Error).count() as u64;
        for line in lines {
            match line.level {
                Level::Error => {
                    tracing::error!(execution_id = id, category = ?line.category, "{}", line.message)
                }
                Level::Warning => tracing::warn!(execution_id = id, "{}", line.message),
                Level::Info => tracing::info!(execution_id = id, "{}", line.message),
            }
        }
        let mut adds = count_adds(counts);
        if errors > 0 {
            adds.push(("errors".to_owned(), errors));
        }
        if let Some(add) = CountAdd::of(&adds) {
            self.dynamodb
                .update_item()
                .table_name(&self.table)
                .key("pk", s(exec_pk(id)))
                .key("sk", s("HEAD"))
                .condition_expression("attribute_exists(pk)")
                .update_expression(add.expression)
                .set_expression_attribute_names(Some(add.names))
                .set_expression_attribute_values(Some(add.values))
                .send()
                .await
                .map_err(|e| {
                    aws_error("DynamoDB", "UpdateItem", e)
                        .context(format_args!("counting execution {id}"))
                })?;
        }
        for chunk in lines.chunks(25) {
            self.write_lines(id, chunk).await?;
        }
        Ok(())
    }

    /// The counter update of [`ExecutionStore::record`] as a transaction action, so that a count
    /// commits together with the change it counts (a cursor's advance): a crash between the two
    /// can then neither lose the count nor, on the retry, add it twice. `None` when every count
    /// is zero.
    pub fn count_action(&self, id: &str, counts: &[(&str, u64)]) -> Option<TransactWriteItem> {
        let add = CountAdd::of(&count_adds(counts))?;
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(exec_pk(id)))
            .key("sk", s("HEAD"))
            .condition_expression("attribute_exists(pk)")
            .update_expression(add.expression)
            .set_expression_attribute_names(Some(add.names))
            .set_expression_attribute_values(Some(add.values))
            .build()
            .expect("table, key and expression are set");
        Some(TransactWriteItem::builder().update(update).build())
    }

    /// Marks the execution finished (idempotent: the first finish time stays).
    pub async fn finish(&self, id: &str) -> Result<()> {
        let result = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(exec_pk(id)))
            .key("sk", s("HEAD"))
            .update_expression("SET finished_at = if_not_exists(finished_at, :now)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", n(now_ms()))
            .send()
            .await;
        result.map(|_| ()).map_err(|e| {
            aws_error("DynamoDB", "UpdateItem", e).context(format_args!("finishing execution {id}"))
        })
    }

    /// One execution, if it exists.
    pub async fn get(&self, id: &str) -> Result<Option<Execution>> {
        let output = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", s(exec_pk(id)))
            .key("sk", s("HEAD"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| aws_error("DynamoDB", "GetItem", e))?;
        Ok(output.item.map(|item| execution_from(&item)))
    }

    /// An execution's log lines in order.
    pub async fn lines(&self, id: &str) -> Result<Vec<LogLine>> {
        let items: Vec<Item> = self
            .dynamodb
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :line)")
            .expression_attribute_values(":pk", s(exec_pk(id)))
            .expression_attribute_values(":line", s("LINE#"))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DynamoDB", "Query", e))?;
        Ok(items.iter().map(line_from).collect())
    }

    /// The newest executions of `interface`, newest first.
    pub async fn list(&self, interface: &str, limit: i32) -> Result<Vec<Execution>> {
        let output = self
            .dynamodb
            .query()
            .table_name(&self.table)
            .index_name(BY_INTERFACE_INDEX)
            .key_condition_expression("interface = :i")
            .expression_attribute_values(":i", s(interface))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(|e| aws_error("DynamoDB", "Query", e))?;
        Ok(output.items().iter().map(execution_from).collect())
    }

    /// The newest `limit` executions of every interface, newest first. Scans the whole
    /// [`BY_INTERFACE_INDEX`] (it holds the executions' heads only, never their lines), page by
    /// page, so its cost grows with the executions kept: meant for operators' tools, not for
    /// functions — those know their interface and use [`ExecutionStore::list`].
    pub async fn recent(&self, limit: usize) -> Result<Vec<Execution>> {
        let items: Vec<Item> = self
            .dynamodb
            .scan()
            .table_name(&self.table)
            .index_name(BY_INTERFACE_INDEX)
            .filter_expression("sk = :head")
            .expression_attribute_values(":head", s("HEAD"))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DynamoDB", "Scan", e))?;
        let mut executions: Vec<Execution> = items.iter().map(execution_from).collect();
        executions.sort_by(|a, b| {
            b.started_at_ms
                .cmp(&a.started_at_ms)
                .then_with(|| b.id.cmp(&a.id))
        });
        executions.truncate(limit);
        Ok(executions)
    }

    async fn write_lines(&self, id: &str, lines: &[LogLine]) -> Result<()> {
        let requests: Vec<WriteRequest> = lines
            .iter()
            .map(|line| {
                let mut item = Item::from([
                    ("pk".to_owned(), s(exec_pk(id))),
                    (
                        "sk".to_owned(),
                        s(format!("LINE#{:013}#{:08x}", line.at_ms, fastrand::u32(..))),
                    ),
                    ("at".to_owned(), n(line.at_ms)),
                    (
                        "level".to_owned(),
                        s(format!("{:?}", line.level).to_lowercase()),
                    ),
                    ("message".to_owned(), s(&line.message)),
                    ("expires_at".to_owned(), n(expiry_s(line.at_ms))),
                ]);
                if let Some(category) = line.category {
                    item.insert("category".to_owned(), s(category.as_str()));
                }
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .expect("item is set"),
                    )
                    .build()
            })
            .collect();
        let mut pending = requests;
        for _ in 0..5 {
            let output = self
                .dynamodb
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(|e| {
                    aws_error("DynamoDB", "BatchWriteItem", e)
                        .context(format_args!("writing lines of execution {id}"))
                })?;
            pending = output
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50 + fastrand::u64(0..100))).await;
        }
        Err(Error::external(format!(
            "DynamoDB left {} log lines of execution {id} unprocessed",
            pending.len()
        )))
    }
}

/// The non-zero counts as their attribute names.
fn count_adds(counts: &[(&str, u64)]) -> Vec<(String, u64)> {
    counts
        .iter()
        .filter(|(_, v)| *v > 0)
        .map(|(k, v)| (format!("{COUNT_PREFIX}{k}"), *v))
        .collect()
}

/// One `ADD` expression over counter attributes, with its names and values.
struct CountAdd {
    expression: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl CountAdd {
    fn of(adds: &[(String, u64)]) -> Option<CountAdd> {
        if adds.is_empty() {
            return None;
        }
        let mut add = CountAdd {
            expression: String::new(),
            names: HashMap::new(),
            values: HashMap::new(),
        };
        let mut clauses = Vec::new();
        for (i, (name, value)) in adds.iter().enumerate() {
            clauses.push(format!("#c{i} :c{i}"));
            add.names.insert(format!("#c{i}"), name.clone());
            add.values.insert(format!(":c{i}"), n(value));
        }
        add.expression = format!("ADD {}", clauses.join(", "));
        Some(add)
    }
}

fn exec_pk(id: &str) -> String {
    format!("EXEC#{id}")
}

fn expiry_s(now_ms: i64) -> i64 {
    now_ms / 1000 + RETENTION_DAYS * 86_400
}

fn execution_from(item: &Item) -> Execution {
    let counts = item
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix(COUNT_PREFIX)?;
            Some((name.to_owned(), v.as_n().ok()?.parse().ok()?))
        })
        .collect();
    Execution {
        id: item
            .string("pk")
            .unwrap_or_default()
            .trim_start_matches("EXEC#")
            .to_owned(),
        interface: item.string("interface").unwrap_or_default(),
        trigger: item.string("trigger").unwrap_or_default(),
        started_at_ms: item.number("started_at").unwrap_or(0),
        finished_at_ms: item.number("finished_at"),
        counts,
        errors: item.number("errors").unwrap_or(0),
    }
}

fn line_from(item: &Item) -> LogLine {
    let level = match item.string("level").as_deref() {
        Some("error") => Level::Error,
        Some("warning") => Level::Warning,
        _ => Level::Info,
    };
    LogLine {
        at_ms: item.number("at").unwrap_or(0),
        level,
        category: item.string("category").as_deref().and_then(Category::parse),
        message: item.string("message").unwrap_or_default(),
    }
}

/// Today's execution of a real-time interface, known in memory once it exists: a call costs no
/// write to find it, and the first call after midnight (UTC) starts the next day's.
#[derive(Debug)]
pub struct DailyExecution {
    store: ExecutionStore,
    interface: &'static str,
    today: std::sync::Mutex<Option<String>>,
}

impl DailyExecution {
    /// The daily execution of `interface` in `store`.
    pub fn new(store: ExecutionStore, interface: &'static str) -> Self {
        DailyExecution {
            store,
            interface,
            today: std::sync::Mutex::new(None),
        }
    }

    /// Today's execution id, started on the day's first call.
    pub async fn id(&self) -> Result<String> {
        let expected = daily_id(self.interface, now_ms());
        let known = self.today.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if known.as_deref() == Some(expected.as_str()) {
            return Ok(expected);
        }
        let id = self.store.daily(self.interface).await?;
        *self.today.lock().unwrap_or_else(|e| e.into_inner()) = Some(id.clone());
        Ok(id)
    }

    /// Adds counts and lines to execution `id` (see [`ExecutionStore::record`]).
    pub async fn record(&self, id: &str, counts: &[(&str, u64)], lines: &[LogLine]) -> Result<()> {
        self.store.record(id, counts, lines).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execution(finished: Option<i64>, errors: u64) -> Execution {
        Execution {
            id: "x".into(),
            interface: "i".into(),
            trigger: "schedule".into(),
            started_at_ms: 0,
            finished_at_ms: finished,
            counts: BTreeMap::new(),
            errors,
        }
    }

    #[test]
    fn status_is_derived_from_finish_and_errors() {
        assert_eq!(execution(None, 0).status(), Status::Running);
        assert_eq!(execution(Some(1), 0).status(), Status::Ok);
        assert_eq!(execution(Some(1), 2).status(), Status::Ko);
        assert_eq!(execution(None, 1).status(), Status::Ko);
    }

    #[test]
    fn interfaces_and_institutions_follow_the_functions_names() {
        assert_eq!(institution_of("fs-poll-uio-klage").as_deref(), Some("uio"));
        assert_eq!(
            institution_of("fs-poll-org-185-begrunnelse").as_deref(),
            Some("org-185")
        );
        assert_eq!(institution_of("fs-poll-uib").as_deref(), Some("uib"));
        assert_eq!(institution_of("wiseflow-poll-uib").as_deref(), Some("uib"));
        assert_eq!(institution_of("bokbasen-objects"), None);
        assert_eq!(institution_of("digeks-proxy"), None);
        assert_eq!(institution_of("inspera-webhook"), None);
        assert_eq!(institution_of("fs-poll-"), None);
        assert_eq!(institution_of("wiseflow-poll-"), None);
    }

    #[test]
    fn an_institutions_interfaces_are_exactly_those_naming_it() {
        for org in ["uio", "uib", "org-185"] {
            let interfaces = interfaces_of(org);
            assert_eq!(interfaces.len(), 4, "{interfaces:?}");
            for interface in &interfaces {
                assert_eq!(
                    institution_of(interface).as_deref(),
                    Some(org),
                    "{interface}"
                );
            }
        }
        assert!(interfaces_of("uio")
            .iter()
            .all(|i| institution_of(i).as_deref() != Some("uib")));
    }

    #[test]
    fn error_line_carries_the_category() {
        let line = LogLine::error(&Error::mapping(
            "descriptions 9788205000000/long: text is empty",
        ));
        assert_eq!(line.level, Level::Error);
        assert_eq!(line.category, Some(Category::Mapping));
    }
}
