//! SQS partial-batch processing, the way Powertools does it for other languages:
//! failed messages are reported by id, an all-failed batch is an error, a panic fails only the item
//! it happened in, errors that need a person (Configuration, Mapping) are parked in the dead-letter
//! queue at once with the reason attached, and throttled messages are delayed instead of failed.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::{FutureExt, StreamExt};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::sender::{OutgoingMessage, Sender};

/// Message attribute: the category of the error that parked the message.
pub const ATTR_ERROR_CATEGORY: &str = "flyt-error-category";
/// Message attribute: the error message that parked the message (what to fix).
pub const ATTR_ERROR_REASON: &str = "flyt-error-reason";
/// Message attribute: the queue the parked message came from, where a redrive returns it.
pub const ATTR_SOURCE_QUEUE: &str = "flyt-source-queue";
/// Message attribute: how many times the message was delayed because the other side throttled.
pub const ATTR_DEFERRALS: &str = "flyt-deferrals";
/// Message attribute: the execution the message belongs to.
pub const ATTR_EXECUTION_ID: &str = "flyt-execution-id";

/// After this many throttling deferrals a message is failed normally, so it cannot circulate forever.
const MAX_DEFERRALS: u32 = 50;
/// A parked message's reason is cut to this length: readable in the console, well within SQS's limits.
const MAX_REASON_CHARS: usize = 1000;

/// One received message with its parsed body.
#[derive(Clone, Debug)]
pub struct Message<T> {
    /// The SQS message id (changes on redrive: never use it as an idempotency key).
    pub id: String,
    /// The parsed body.
    pub body: T,
    /// The body as received, re-sent unchanged when the message is parked or delayed.
    pub raw_body: String,
    /// String message attributes.
    pub attributes: BTreeMap<String, String>,
    /// How many times SQS has delivered this message (1 on the first delivery).
    pub receive_count: u32,
}

impl<T> Message<T> {
    /// How many times the message was delayed because the other side throttled.
    pub fn deferrals(&self) -> u32 {
        self.attribute(ATTR_DEFERRALS)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// A string attribute, if present.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }
}

/// What became of one message.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Processed (or recognised as already processed): delete it.
    Done,
    /// Failed in a way a later retry may fix: leave it for SQS to redeliver.
    Retry(Error),
    /// Failed in a way only a person can fix: move it to the dead-letter queue with the reason.
    Park(Error),
    /// The other side asked us to wait: send it again with this delay, without using up a receive.
    Defer(Duration, Error),
}

impl Outcome {
    /// The outcome an error calls for: a long `Retry-After` defers, retryable errors retry, the
    /// others park.
    pub fn from_error(error: Error) -> Outcome {
        match (error.retry_after(), error.is_retryable()) {
            (Some(wait), true) => Outcome::Defer(wait, error),
            (None, true) => Outcome::Retry(error),
            _ => Outcome::Park(error),
        }
    }
}

impl From<Result<()>> for Outcome {
    fn from(result: Result<()>) -> Self {
        result.map_or_else(Outcome::from_error, |()| Outcome::Done)
    }
}

/// Where a worker's messages come from and where parked ones go.
#[derive(Clone, Debug)]
pub struct QueueSettings {
    /// The queue this function consumes (delayed messages are sent back here).
    pub source_queue_url: String,
    /// Its dead-letter queue (parked messages go here).
    pub dead_letter_queue_url: String,
    /// The source queue's `maxReceiveCount`: on the last receive a failing message is parked with
    /// its reason instead of being moved silently by SQS.
    pub max_receive_count: u32,
}

/// Counts of one batch, for logs and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchCounts {
    /// Messages deleted as done.
    pub done: usize,
    /// Messages left for redelivery.
    pub retried: usize,
    /// Messages moved to the dead-letter queue.
    pub parked: usize,
    /// Messages sent again with a delay.
    pub deferred: usize,
}

/// Processes SQS batches with partial-batch responses. Build one per cold start.
#[derive(Clone, Debug)]
pub struct BatchProcessor {
    sender: Sender,
    settings: QueueSettings,
}

impl BatchProcessor {
    /// A processor that parks and defers through `sender`.
    pub fn new(sender: Sender, settings: QueueSettings) -> Self {
        BatchProcessor { sender, settings }
    }

    /// Parses every message body as `T`, hands the parsed messages to `handler` (which returns an
    /// outcome per message id), then parks, delays and reports failures. A body that does not parse
    /// is parked as a Mapping error without reaching the handler. A panic in `handler` outside
    /// [`each`] fails every message it was given; a message it returns no outcome for is retried.
    /// Returns an error when every message of a non-empty batch failed.
    pub async fn run<T, F, Fut>(
        &self,
        event: SqsEvent,
        handler: F,
    ) -> Result<(SqsBatchResponse, BatchCounts)>
    where
        T: DeserializeOwned,
        F: FnOnce(Vec<Message<T>>) -> Fut,
        Fut: Future<Output = Vec<(String, Outcome)>>,
    {
        let mut outcomes: HashMap<String, Outcome> = HashMap::new();
        let mut raw: HashMap<String, SqsMessage> = HashMap::new();
        let mut parsed = Vec::new();
        for record in event.records {
            let Some(id) = record.message_id.clone() else {
                tracing::error!("SQS record without a messageId: cannot be reported, skipped");
                continue;
            };
            match parse::<T>(&id, &record) {
                Ok(message) => parsed.push(message),
                Err(error) => {
                    outcomes.insert(id.clone(), Outcome::Park(error));
                }
            }
            raw.insert(id, record);
        }
        let ids: Vec<String> = parsed.iter().map(|m: &Message<T>| m.id.clone()).collect();
        match AssertUnwindSafe(handler(parsed)).catch_unwind().await {
            Ok(results) => outcomes.extend(results),
            Err(panic) => {
                let error = Error::technical(format!(
                    "batch handler panicked: {}",
                    panic_text(panic.as_ref())
                ));
                outcomes.extend(
                    ids.into_iter()
                        .map(|id| (id, Outcome::Retry(error.clone()))),
                );
            }
        }
        self.settle(raw, outcomes).await
    }

    /// The outcome as it will be settled: a retry on the last allowed receive becomes a park (so the
    /// message reaches the dead-letter queue with its reason), and a message delayed too often is
    /// retried normally. Handlers call it to log what will really happen.
    pub fn settled(&self, outcome: Outcome, receive_count: u32, deferrals: u32) -> Outcome {
        match outcome {
            Outcome::Retry(error) if receive_count >= self.settings.max_receive_count => {
                Outcome::Park(error.context(format_args!("gave up after {receive_count} receives")))
            }
            Outcome::Defer(_, error) if deferrals >= MAX_DEFERRALS => Outcome::Retry(error),
            other => other,
        }
    }

    /// Applies the outcomes: park, defer, and list what must be redelivered.
    async fn settle(
        &self,
        raw: HashMap<String, SqsMessage>,
        mut outcomes: HashMap<String, Outcome>,
    ) -> Result<(SqsBatchResponse, BatchCounts)> {
        let mut counts = BatchCounts::default();
        let mut failures: Vec<String> = Vec::new();
        let mut to_park: Vec<(String, OutgoingMessage)> = Vec::new();
        let mut to_defer: Vec<(String, OutgoingMessage)> = Vec::new();
        for (id, record) in &raw {
            let outcome = outcomes.remove(id).unwrap_or_else(|| {
                Outcome::Retry(Error::technical(
                    "the handler returned no outcome for this message",
                ))
            });
            let outcome = self.settled(outcome, receive_count(record), deferrals(record));
            match outcome {
                Outcome::Done => counts.done += 1,
                Outcome::Retry(error) => {
                    tracing::warn!(message_id = %id, category = %error.category(), error = %error, "message will be retried");
                    failures.push(id.clone());
                }
                Outcome::Park(error) => {
                    tracing::error!(message_id = %id, category = %error.category(), error = %error, "message parked in the dead-letter queue");
                    to_park.push((id.clone(), self.parked(record, &error)));
                }
                Outcome::Defer(wait, error) => {
                    tracing::info!(message_id = %id, wait_s = wait.as_secs(), reason = %error, "message delayed: the other side asked to wait");
                    to_defer.push((id.clone(), deferred(record, wait)));
                }
            }
        }
        let parked = self
            .send_aside(&self.settings.dead_letter_queue_url, to_park, &mut failures)
            .await;
        let deferred = self
            .send_aside(&self.settings.source_queue_url, to_defer, &mut failures)
            .await;
        counts.parked = parked;
        counts.deferred = deferred;
        counts.retried = failures.len();
        if !raw.is_empty() && failures.len() == raw.len() {
            return Err(Error::cascade(format!(
                "all {} messages of the batch failed; see the errors logged for each",
                raw.len()
            )));
        }
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures
            .into_iter()
            .map(|id| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failure
            })
            .collect();
        Ok((response, counts))
    }

    /// Sends messages to `queue_url`; those that cannot be sent are added to `failures` (so SQS
    /// redelivers the original). Returns how many were sent.
    async fn send_aside(
        &self,
        queue_url: &str,
        messages: Vec<(String, OutgoingMessage)>,
        failures: &mut Vec<String>,
    ) -> usize {
        if messages.is_empty() {
            return 0;
        }
        let (ids, bodies): (Vec<String>, Vec<OutgoingMessage>) = messages.into_iter().unzip();
        match self.sender.send_all(queue_url, bodies).await {
            Ok(sent) => sent,
            Err(error) => {
                tracing::error!(error = %error, "could not move messages aside; they will be redelivered");
                failures.extend(ids);
                0
            }
        }
    }

    fn parked(&self, record: &SqsMessage, error: &Error) -> OutgoingMessage {
        let mut message = resend(record);
        message
            .attributes
            .insert(ATTR_ERROR_CATEGORY.into(), error.category().as_str().into());
        message.attributes.insert(
            ATTR_ERROR_REASON.into(),
            truncate(error.message(), MAX_REASON_CHARS),
        );
        message.attributes.insert(
            ATTR_SOURCE_QUEUE.into(),
            self.settings.source_queue_url.clone(),
        );
        message
    }
}

/// Runs `work` on every item with at most `concurrency` at once, in order. A panic fails only the
/// item it happened in, as a Technical error.
pub async fn each<I, R, F, Fut>(items: Vec<I>, concurrency: usize, work: F) -> Vec<Result<R>>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<R>>,
{
    let work = &work;
    futures::stream::iter(items)
        .map(move |item| {
            let future = work(item);
            async move {
                match AssertUnwindSafe(future).catch_unwind().await {
                    Ok(result) => result,
                    Err(panic) => Err(Error::technical(format!(
                        "panicked: {}",
                        panic_text(panic.as_ref())
                    ))),
                }
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

fn parse<T: DeserializeOwned>(id: &str, record: &SqsMessage) -> Result<Message<T>> {
    let raw_body = record.body.clone().unwrap_or_default();
    let body = serde_json::from_str::<T>(&raw_body).map_err(|e| {
        Error::mapping(format!(
            "message {id}: body is not a valid {}: {e}",
            std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("message")
        ))
    })?;
    Ok(Message {
        id: id.to_owned(),
        body,
        raw_body,
        attributes: string_attributes(record),
        receive_count: receive_count(record),
    })
}

fn string_attributes(record: &SqsMessage) -> BTreeMap<String, String> {
    record
        .message_attributes
        .iter()
        .filter_map(|(name, value)| value.string_value.clone().map(|v| (name.clone(), v)))
        .collect()
}

fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn deferrals(record: &SqsMessage) -> u32 {
    string_attributes(record)
        .get(ATTR_DEFERRALS)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The record sent again as it came: body, attributes and tenant.
fn resend(record: &SqsMessage) -> OutgoingMessage {
    OutgoingMessage {
        body: record.body.clone().unwrap_or_default(),
        attributes: string_attributes(record),
        delay: None,
        tenant: record.attributes.get("MessageGroupId").cloned(),
    }
}

fn deferred(record: &SqsMessage, wait: Duration) -> OutgoingMessage {
    let mut message = resend(record);
    message
        .attributes
        .insert(ATTR_DEFERRALS.into(), (deferrals(record) + 1).to_string());
    message.delay = Some(wait);
    message
}

fn truncate(text: &str, limit: usize) -> String {
    text.chars().take(limit).collect()
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Category;

    #[test]
    fn outcome_follows_the_category() {
        assert_eq!(
            Outcome::from_error(Error::mapping("x")),
            Outcome::Park(Error::mapping("x"))
        );
        assert_eq!(
            Outcome::from_error(Error::configuration("x")),
            Outcome::Park(Error::configuration("x"))
        );
        assert_eq!(
            Outcome::from_error(Error::external("x")),
            Outcome::Retry(Error::external("x"))
        );
        let throttled = Error::external("429").with_retry_after(Duration::from_secs(30));
        assert_eq!(
            Outcome::from_error(throttled.clone()),
            Outcome::Defer(Duration::from_secs(30), throttled)
        );
    }

    #[tokio::test]
    async fn each_isolates_panics_and_keeps_order() {
        let results = each(vec![1, 2, 3], 2, |n| async move {
            if n == 2 {
                panic!("item {n} exploded");
            }
            Ok(n * 10)
        })
        .await;
        assert_eq!(results[0], Ok(10));
        assert_eq!(results[2], Ok(30));
        let error = results[1].clone().unwrap_err();
        assert_eq!(error.category(), Category::Technical);
        assert!(error.message().contains("item 2 exploded"), "{error}");
    }
}
