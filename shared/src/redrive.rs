//! Moves a dead-letter queue's messages back to their source queue, body and attributes intact
//! (receive → send → delete), each parked message to the queue in its `flyt-source-queue`
//! attribute. The console's "Start DLQ redrive" and `flyt dlq redrive` use SQS's
//! `StartMessageMoveTask` instead; `flyt dlq redrive --own-move`, `flyt-local redrive` and the
//! tests use this, as does `flyt dlq redrive` on an endpoint without message move tasks.
//! A crash between send and delete leaves a copy in both queues: consumers are idempotent.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

use crate::batch::ATTR_SOURCE_QUEUE;
use crate::error::{aws_error, Error, Result};
use crate::sender::{OutgoingMessage, Sender};

/// What a redrive moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedriveReport {
    /// Messages moved, per destination queue URL.
    pub moved: BTreeMap<String, usize>,
}

impl RedriveReport {
    /// Messages moved in all.
    pub fn total(&self) -> usize {
        self.moved.values().sum()
    }
}

/// Moves every message of `dead_letter_queue_url` back. A message parked by Flyt goes to the queue
/// named in its `flyt-source-queue` attribute; any other to `default_destination`, or else to the
/// one source queue SQS lists for the DLQ. `on_progress` is called after each batch with the running total.
pub async fn redrive(
    sqs: &aws_sdk_sqs::Client,
    sender: &Sender,
    dead_letter_queue_url: &str,
    default_destination: Option<&str>,
    mut on_progress: impl FnMut(usize),
) -> Result<RedriveReport> {
    let fallback = match default_destination {
        Some(url) => Some(url.to_owned()),
        None => only_source_queue(sqs, dead_letter_queue_url).await?,
    };
    let mut report = RedriveReport::default();
    loop {
        let output = sqs
            .receive_message()
            .queue_url(dead_letter_queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .wait_time_seconds(0)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| aws_error("SQS", "ReceiveMessage", e))?;
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(report);
        }
        let mut by_destination: BTreeMap<String, Vec<(String, OutgoingMessage)>> = BTreeMap::new();
        for message in messages {
            let attributes: BTreeMap<String, String> = message
                .message_attributes()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.string_value().map(|s| (k.clone(), s.to_owned())))
                        .collect()
                })
                .unwrap_or_default();
            let destination = attributes
                .get(ATTR_SOURCE_QUEUE)
                .cloned()
                .or_else(|| fallback.clone())
                .ok_or_else(|| {
                    Error::configuration(format!(
                        "message {} in {dead_letter_queue_url} names no source queue and the DLQ has none: pass a destination",
                        message.message_id().unwrap_or("?")
                    ))
                })?;
            let outgoing = OutgoingMessage {
                body: message.body().unwrap_or_default().to_owned(),
                attributes,
                delay: None,
                tenant: message
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                    .cloned(),
            };
            by_destination.entry(destination).or_default().push((
                message.receipt_handle().unwrap_or_default().to_owned(),
                outgoing,
            ));
        }
        for (destination, batch) in by_destination {
            let (handles, bodies): (Vec<String>, Vec<OutgoingMessage>) = batch.into_iter().unzip();
            let moved = sender.send_all(&destination, bodies).await?;
            delete_all(sqs, dead_letter_queue_url, &handles).await?;
            *report.moved.entry(destination).or_insert(0) += moved;
        }
        on_progress(report.total());
    }
}

async fn only_source_queue(
    sqs: &aws_sdk_sqs::Client,
    dead_letter_queue_url: &str,
) -> Result<Option<String>> {
    let output = sqs
        .list_dead_letter_source_queues()
        .queue_url(dead_letter_queue_url)
        .send()
        .await
        .map_err(|e| aws_error("SQS", "ListDeadLetterSourceQueues", e))?;
    let urls = output.queue_urls();
    Ok((urls.len() == 1).then(|| urls[0].clone()))
}

async fn delete_all(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    receipt_handles: &[String],
) -> Result<()> {
    for chunk in receipt_handles.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, handle)| {
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(format!("d{i}"))
                    .receipt_handle(handle)
                    .build()
                    .expect("id and handle are set")
            })
            .collect();
        let output = sqs
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| aws_error("SQS", "DeleteMessageBatch", e))?;
        if !output.failed().is_empty() {
            return Err(Error::external(format!(
                "{} messages could not be deleted from {queue_url} after being moved; they will be moved again (harmless)",
                output.failed().len()
            )));
        }
    }
    Ok(())
}

/// The approximate number of messages in a queue (visible, in flight, delayed), for progress and checks.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<u64> {
    let output = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| aws_error("SQS", "GetQueueAttributes", e))?;
    Ok(output
        .attributes()
        .map(|a| a.values().filter_map(|v| v.parse::<u64>().ok()).sum())
        .unwrap_or(0))
}
