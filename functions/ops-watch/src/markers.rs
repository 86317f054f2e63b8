//! Markers `notified#<finding key>` in the state table: each finding is written to the watch's
//! execution and notified once, whichever watch sees it first and however often it is seen again.
//!
//! A marker is taken with one conditional `PutItem` before anything is done about the finding,
//! so two overlapping watches never both notify. It then records what became of the notification:
//! `sent`, `suppressed` (blacklisted), or `failed` — a failed one (Slack down, the webhook not
//! configured) is taken again by the next watch and retried; so is one left `sending` by a watch
//! that died. A marker lives for [`MARKER_TTL`]; its expiry is compared in code, DynamoDB's TTL
//! only cleans up.

use std::time::Duration;

use aws_sdk_dynamodb::types::ReturnValue;
use flyt::dynamo::{conditional, n, s, ItemExt};
use flyt::error::aws_error;
use flyt::Result;

/// How long a marker keeps a finding from being notified again.
pub const MARKER_TTL: Duration = Duration::from_secs(14 * 86_400);
/// A marker left `sending` this long belongs to a watch that died; it is taken again.
const SENDING_STALE: Duration = Duration::from_secs(10 * 60);
const PREFIX: &str = "notified#";

/// What became of a finding's notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Being sent by a watch now.
    Sending,
    /// Posted to Slack.
    Sent,
    /// Kept out of Slack by the blacklist.
    Suppressed,
    /// Not posted; the next watch tries again.
    Failed,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Sending => "sending",
            State::Sent => "sent",
            State::Suppressed => "suppressed",
            State::Failed => "failed",
        }
    }
}

/// The answer to [`Markers::take`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// First seen: this watch records and notifies it.
    New,
    /// Seen before, its notification failed or was interrupted: this watch tries again.
    Retry,
    /// Seen before and dealt with (or being dealt with by another watch).
    Known,
}

/// The markers in the state table.
#[derive(Clone, Debug)]
pub struct Markers {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

impl Markers {
    /// Markers in `table` (partition key `pk`).
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Markers {
            dynamodb,
            table: table.into(),
        }
    }

    /// Takes the marker of `key` for this watch, unless it was dealt with already.
    pub async fn take(&self, key: &str, now_ms: i64) -> Result<Taken> {
        let result = self
            .put(key, State::Sending, now_ms)
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at < :now_s OR #state = :failed \
                 OR (#state = :sending AND marked_at < :stale)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now_s", n(now_ms / 1000))
            .expression_attribute_values(":failed", s(State::Failed.as_str()))
            .expression_attribute_values(":sending", s(State::Sending.as_str()))
            .expression_attribute_values(":stale", n(now_ms - SENDING_STALE.as_millis() as i64))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let written = conditional(
            result,
            "PutItem",
            format_args!("taking the notification marker of {key}"),
        )?;
        Ok(match written {
            None => Taken::Known,
            Some(output) => {
                let live_before = output
                    .attributes
                    .as_ref()
                    .and_then(|old| old.number::<i64>("expires_at"))
                    .is_some_and(|expires| expires >= now_ms / 1000);
                if live_before {
                    Taken::Retry
                } else {
                    Taken::New
                }
            }
        })
    }

    /// Records what became of the notification of `key` (a marker this watch took).
    pub async fn settle(&self, key: &str, state: State, now_ms: i64) -> Result<()> {
        self.put(key, state, now_ms)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                aws_error("DynamoDB", "PutItem", e)
                    .context(format_args!("recording the notification of {key}"))
            })
    }

    fn put(
        &self,
        key: &str,
        state: State,
        now_ms: i64,
    ) -> aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder {
        self.dynamodb
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("{PREFIX}{key}")))
            .item("state", s(state.as_str()))
            .item("marked_at", n(now_ms))
            .item("expires_at", n(now_ms / 1000 + MARKER_TTL.as_secs() as i64))
    }
}
