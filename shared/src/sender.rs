//! Batched sending to SQS: `SendMessageBatch` with 10 messages a call, several calls in flight, and
//! the entries SQS reports as failed retried under the one retry policy.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use futures::StreamExt;

use crate::error::{aws_error, Error, Result};
use crate::retry::RetryPolicy;

/// SQS accepts at most 10 entries per `SendMessageBatch`.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// SQS accepts at most 256 KiB per batch; keep a margin for attributes.
const MAX_BATCH_BYTES: usize = 200 * 1024;
/// SQS delays a message by at most 15 minutes.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

/// One message to send: a body, string attributes, an optional delay and an optional tenant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The message body (JSON for Flyt's own messages).
    pub body: String,
    /// String message attributes (at most 10 per message, an SQS limit).
    pub attributes: BTreeMap<String, String>,
    /// Delay before the message becomes visible, capped at [`MAX_DELAY`].
    pub delay: Option<Duration>,
    /// The tenant, sent as `MessageGroupId`: on a standard queue that makes it an SQS fair
    /// queue, so one institution's backlog does not delay the others' messages
    /// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-fair-queues.html>).
    pub tenant: Option<String>,
}

impl OutgoingMessage {
    /// A message with a body and no attributes.
    pub fn new(body: impl Into<String>) -> Self {
        OutgoingMessage {
            body: body.into(),
            ..OutgoingMessage::default()
        }
    }

    /// Names the message's tenant (the institution) for a fair queue.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Adds a string attribute.
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    fn size(&self) -> usize {
        self.body.len()
            + self.tenant.as_ref().map_or(0, String::len)
            + self
                .attributes
                .iter()
                .map(|(k, v)| k.len() + v.len() + 16)
                .sum::<usize>()
    }
}

/// Sends messages in batches. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Sender {
    sqs: aws_sdk_sqs::Client,
    retry: RetryPolicy,
    concurrency: usize,
}

impl Sender {
    /// A sender with `concurrency` batch calls in flight at once.
    pub fn new(sqs: aws_sdk_sqs::Client, retry: RetryPolicy, concurrency: usize) -> Self {
        Sender {
            sqs,
            retry,
            concurrency: concurrency.max(1),
        }
    }

    /// The SQS client, for the few calls that are not sends.
    pub fn sqs(&self) -> &aws_sdk_sqs::Client {
        &self.sqs
    }

    /// Sends every message, or fails with an error naming the queue and how many were not sent.
    /// On error some messages may have been sent: callers rely on idempotent consumers, and must not
    /// record progress (advance a cursor) unless this returns `Ok`.
    pub async fn send_all(&self, queue_url: &str, messages: Vec<OutgoingMessage>) -> Result<usize> {
        let total = messages.len();
        let chunks = chunk(messages);
        let results: Vec<Result<()>> = futures::stream::iter(chunks)
            .map(|batch| self.send_batch(queue_url, batch))
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let failures: Vec<Error> = results.into_iter().filter_map(Result::err).collect();
        match failures.into_iter().next() {
            None => Ok(total),
            Some(first) => Err(first.context(format_args!(
                "sending {total} messages to {}",
                queue_name(queue_url)
            ))),
        }
    }

    async fn send_batch(&self, queue_url: &str, batch: Vec<OutgoingMessage>) -> Result<()> {
        let pending = std::sync::Mutex::new(
            batch
                .into_iter()
                .enumerate()
                .map(|(i, m)| (format!("m{i}"), m))
                .collect::<Vec<_>>(),
        );
        self.retry
            .run(|| async {
                let entries: Vec<SendMessageBatchRequestEntry> = {
                    let pending = pending.lock().expect("pending entries poisoned");
                    pending.iter().map(|(id, m)| entry(id, m)).collect()
                };
                let attempted = entries.len();
                let output = self
                    .sqs
                    .send_message_batch()
                    .queue_url(queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| aws_error("SQS", "SendMessageBatch", e))?;
                let failed = output.failed();
                let Some(first) = failed.first() else {
                    return Ok(());
                };
                let message = format!(
                    "{} of {attempted} entries failed, first {}: {}",
                    failed.len(),
                    first.code(),
                    first.message().unwrap_or("no message")
                );
                if failed.iter().any(|f| f.sender_fault()) {
                    return Err(Error::technical(message));
                }
                pending
                    .lock()
                    .expect("pending entries poisoned")
                    .retain(|(id, _)| failed.iter().any(|f| f.id() == id));
                Err(Error::external(message))
            })
            .await
    }
}

fn entry(id: &str, message: &OutgoingMessage) -> SendMessageBatchRequestEntry {
    let mut builder = SendMessageBatchRequestEntry::builder()
        .id(id)
        .message_body(&message.body);
    if let Some(delay) = message.delay {
        builder = builder.delay_seconds(delay.min(MAX_DELAY).as_secs() as i32);
    }
    if let Some(tenant) = &message.tenant {
        builder = builder.message_group_id(tenant);
    }
    for (name, value) in &message.attributes {
        builder = builder.message_attributes(
            name,
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .expect("data type is set"),
        );
    }
    builder.build().expect("id and body are set")
}

/// Splits messages into batches within SQS's entry and size limits.
fn chunk(messages: Vec<OutgoingMessage>) -> Vec<Vec<OutgoingMessage>> {
    let mut batches = Vec::new();
    let mut current: Vec<OutgoingMessage> = Vec::new();
    let mut bytes = 0;
    for message in messages {
        let size = message.size();
        if !current.is_empty()
            && (current.len() == MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES)
        {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(message);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// The queue's name from its URL, for messages (URLs carry the account id).
pub fn queue_name(queue_url: &str) -> &str {
    queue_url.rsplit('/').next().unwrap_or(queue_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_becomes_the_message_group_and_no_tenant_none() {
        let fair = entry("m0", &OutgoingMessage::new("{}").tenant("uio"));
        assert_eq!(fair.message_group_id(), Some("uio"));
        let plain = entry("m1", &OutgoingMessage::new("{}"));
        assert_eq!(plain.message_group_id(), None);
    }

    #[test]
    fn chunks_hold_at_most_ten() {
        let messages: Vec<_> = (0..23)
            .map(|i| OutgoingMessage::new(i.to_string()))
            .collect();
        let sizes: Vec<usize> = chunk(messages).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![10, 10, 3]);
    }

    #[test]
    fn chunks_respect_the_size_limit() {
        let big = "x".repeat(90 * 1024);
        let messages: Vec<_> = (0..5).map(|_| OutgoingMessage::new(big.clone())).collect();
        let sizes: Vec<usize> = chunk(messages).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
    }

    #[test]
    fn queue_name_is_the_last_path_segment() {
        assert_eq!(
            queue_name("http://127.0.0.1:4566/123456789012/flyt-alma"),
            "flyt-alma"
        );
    }
}
