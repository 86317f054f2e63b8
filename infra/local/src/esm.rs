//! Lambda's SQS event source mapping, played locally: receive a batch, invoke the handler with the
//! function's deadline, delete what succeeded, leave the failures for redelivery after the
//! visibility timeout. An invocation still running at its timeout is killed, as Lambda kills it:
//! nothing is deleted. The emulator moves a message to the dead-letter queue once its receive
//! count passes `maxReceiveCount`.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use flyt::apply::Deadline;
use futures::FutureExt;
use tracing::Instrument;

use crate::functions::Function;
use crate::stack::{SqsSource, REGION};

/// What one poll did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Poll {
    /// Messages received.
    pub received: usize,
    /// Messages left for redelivery (reported failures, or the whole batch on an error).
    pub failed: usize,
    /// Whether the invocation was killed before it answered (by a test, or at its timeout).
    pub killed: bool,
}

/// Polls one queue for one function.
#[derive(Clone)]
pub struct Poller {
    sqs: aws_sdk_sqs::Client,
    source: SqsSource,
    function: Arc<dyn Function>,
    timeout: Duration,
    invocations: Option<tokio::runtime::Handle>,
}

impl Poller {
    /// A poller using `sqs` (the event source mapping's own client) for a function whose
    /// invocations end at `timeout`.
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        source: SqsSource,
        function: Arc<dyn Function>,
        timeout: Duration,
    ) -> Self {
        Poller {
            invocations: None,
            sqs,
            source,
            function,
            timeout,
        }
    }

    /// Runs invocations on `runtime` instead of the poller's own (the benchmark measures the
    /// handlers' CPU on a runtime of their own).
    pub fn invoking_on(mut self, runtime: Option<tokio::runtime::Handle>) -> Self {
        self.invocations = runtime;
        self
    }

    /// Receives one batch and invokes the function with it.
    pub async fn poll_once(&self) -> Result<Poll, String> {
        self.poll(None).await
    }

    /// Like [`Poller::poll_once`], but kills the invocation after `after` if it has not answered:
    /// nothing is deleted, as when a Lambda instance dies mid-batch.
    pub async fn poll_and_kill(&self, after: Duration) -> Result<Poll, String> {
        self.poll(Some(after)).await
    }

    async fn poll(&self, crash_after: Option<Duration>) -> Result<Poll, String> {
        // Lambda gathers up to BatchSize messages (within its batching window); SQS hands out at
        // most 10 per receive.
        let mut messages = Vec::new();
        while messages.len() < self.source.batch_size.max(1) as usize {
            let wanted = (self.source.batch_size as usize - messages.len()).clamp(1, 10) as i32;
            let output = self
                .sqs
                .receive_message()
                .queue_url(&self.source.queue.url)
                .max_number_of_messages(wanted)
                .wait_time_seconds(0)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "receive from {}: {}",
                        self.source.queue.logical_id,
                        aws_sdk_sqs::error::DisplayErrorContext(e)
                    )
                })?;
            let received = output.messages.unwrap_or_default();
            let done = received.len() < wanted as usize;
            messages.extend(received);
            if done {
                break;
            }
        }
        if messages.is_empty() {
            return Ok(Poll::default());
        }
        let handles: HashMap<String, String> = messages
            .iter()
            .map(|m| {
                (
                    m.message_id().unwrap_or_default().to_owned(),
                    m.receipt_handle().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let mut event = SqsEvent::default();
        event.records = messages.iter().map(|m| self.record(m)).collect();
        let payload = serde_json::to_value(&event).map_err(|e| e.to_string())?;
        let function = self.function.clone();
        let deadline = Deadline::after(self.timeout);
        // The same span the Lambda runtime opens around every invocation, so that log lines carry
        // a request id locally too.
        let span = tracing::info_span!(
            "Lambda runtime invoke",
            requestId = %format!("local-{:016x}", fastrand::u64(..))
        );
        let work = async move {
            AssertUnwindSafe(function.invoke(payload, deadline))
                .catch_unwind()
                .await
        }
        .instrument(span);
        let invocation = match &self.invocations {
            Some(runtime) => runtime.spawn(work),
            None => tokio::spawn(work),
        };
        let kill_after = crash_after.unwrap_or(self.timeout).min(self.timeout);
        let abort = invocation.abort_handle();
        let result = match tokio::time::timeout(kill_after, invocation).await {
            Ok(joined) => joined.map_err(|e| e.to_string())?,
            Err(_) => {
                abort.abort();
                if crash_after.is_none_or(|crash| crash >= self.timeout) {
                    tracing::error!(
                        queue = %self.source.queue.logical_id,
                        timeout_s = self.timeout.as_secs(),
                        messages = messages.len(),
                        "invocation timed out and was killed, as Lambda kills it: nothing deleted, the batch comes back after the visibility timeout"
                    );
                }
                return Ok(Poll {
                    received: messages.len(),
                    failed: messages.len(),
                    killed: true,
                });
            }
        };
        let failed: Vec<String> = match result {
            Ok(Ok(response)) => match serde_json::from_value::<SqsBatchResponse>(response) {
                Ok(response)
                    if response
                        .batch_item_failures
                        .iter()
                        .all(|f| handles.contains_key(&f.item_identifier)) =>
                {
                    response
                        .batch_item_failures
                        .into_iter()
                        .map(|f| f.item_identifier)
                        .collect()
                }
                _ => handles.keys().cloned().collect(),
            },
            Ok(Err(error)) => {
                tracing::warn!(error = %error, "invocation failed: the whole batch will be redelivered");
                handles.keys().cloned().collect()
            }
            Err(_) => {
                tracing::error!("invocation panicked: the whole batch will be redelivered");
                handles.keys().cloned().collect()
            }
        };
        let done: Vec<&String> = handles
            .iter()
            .filter(|(id, _)| !failed.contains(id))
            .map(|(_, h)| h)
            .collect();
        for chunk in done.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, handle)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(format!("d{i}"))
                        .receipt_handle(handle.as_str())
                        .build()
                        .expect("id and handle are set")
                })
                .collect();
            self.sqs
                .delete_message_batch()
                .queue_url(&self.source.queue.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "delete from {}: {}",
                        self.source.queue.logical_id,
                        aws_sdk_sqs::error::DisplayErrorContext(e)
                    )
                })?;
        }
        Ok(Poll {
            received: messages.len(),
            failed: failed.len(),
            killed: false,
        })
    }

    fn record(&self, message: &aws_sdk_sqs::types::Message) -> SqsMessage {
        let mut record = SqsMessage::default();
        record.message_id = message.message_id().map(str::to_owned);
        record.receipt_handle = message.receipt_handle().map(str::to_owned);
        record.body = message.body().map(str::to_owned);
        record.md5_of_body = message.md5_of_body().map(str::to_owned);
        record.attributes = message
            .attributes()
            .map(|a| {
                a.iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        record.message_attributes = message
            .message_attributes()
            .map(|a| {
                a.iter()
                    .map(|(k, v)| {
                        let mut attribute = SqsMessageAttribute::default();
                        attribute.string_value = v.string_value().map(str::to_owned);
                        attribute.data_type = Some(v.data_type().to_owned());
                        (k.clone(), attribute)
                    })
                    .collect()
            })
            .unwrap_or_default();
        record.event_source_arn = Some(self.source.queue.arn.clone());
        record.event_source = Some("aws:sqs".to_owned());
        record.aws_region = Some(REGION.to_owned());
        record
    }
}
