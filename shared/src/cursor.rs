//! Cursors in DynamoDB: where a poll or drain resumes, and a lease so that only one chain of
//! invocations moves a cursor at a time. A cursor only moves forward from the position its owner
//! read (a conditional write), and only after the work it covers is durably enqueued — so a crash
//! re-sends a page but never skips one.
//!
//! A cursor records when it last moved (`updated_at`) and when its lease was last taken
//! (`acquired_at`), both epoch ms: a cursor neither moved nor taken for longer than its schedule
//! allows belongs to a poll or drain that has stopped running.

use std::time::Duration;

use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use aws_sdk_dynamodb::types::{ReturnValue, TransactWriteItem, Update};

use crate::dynamo::{n, s, transact, Item, ItemExt};
use crate::error::{aws_error, Error, Result};
use crate::time::now_ms;

/// A cursor's saved state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The cursor's name, e.g. `bokbasen#objects`.
    pub name: String,
    /// The position to resume from, opaque to Flyt; `None` before the first page.
    pub position: Option<String>,
    /// How many times the position has advanced: a page sequence number that producers use to
    /// version what they send.
    pub sequence: u64,
    /// Who holds the lease (a drain chain id), if anyone.
    pub lease_owner: Option<String>,
    /// When the lease lapses, epoch ms.
    pub lease_expires_at_ms: i64,
    /// The execution the current lease works for.
    pub execution_id: Option<String>,
}

/// The answer to [`CursorStore::acquire`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquire {
    /// The lease is ours; the cursor as it stands.
    Acquired(Cursor),
    /// Someone else holds a live lease.
    Held(Cursor),
}

/// Reads and moves cursors in the state table.
#[derive(Clone, Debug)]
pub struct CursorStore {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

const PREFIX: &str = "cursor#";

impl CursorStore {
    /// A store over `table` (partition key `pk`, a string).
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        CursorStore {
            dynamodb,
            table: table.into(),
        }
    }

    /// The cursor, if it was ever saved.
    pub async fn load(&self, name: &str) -> Result<Option<Cursor>> {
        let output = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("{PREFIX}{name}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                aws_error("DynamoDB", "GetItem", e).context(format_args!("loading cursor {name}"))
            })?;
        Ok(output.item.map(|item| cursor_from(name, &item)))
    }

    /// Takes the lease for `owner` unless another owner holds a live one.
    pub async fn acquire(
        &self,
        name: &str,
        owner: &str,
        execution_id: &str,
        lease: Duration,
    ) -> Result<Acquire> {
        let now = now_ms();
        let result = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("{PREFIX}{name}")))
            .update_expression("SET #owner = :owner, #expires = :expires, #exec = :exec, #seq = if_not_exists(#seq, :zero), #acquired = :now")
            .condition_expression("attribute_not_exists(#owner) OR #expires < :now OR #owner = :owner")
            .expression_attribute_names("#owner", "lease_owner")
            .expression_attribute_names("#expires", "lease_expires_at")
            .expression_attribute_names("#exec", "execution_id")
            .expression_attribute_names("#seq", "page_sequence")
            .expression_attribute_names("#acquired", "acquired_at")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":expires", n(now + lease.as_millis() as i64))
            .expression_attribute_values(":exec", s(execution_id))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":zero", n(0))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Acquire::Acquired(cursor_from(name, &output.attributes.unwrap_or_default()))),
            Err(error) => match error.as_service_error() {
                Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(Acquire::Held(cursor_from(name, &failed.item.clone().unwrap_or_default())))
                }
                _ => Err(aws_error("DynamoDB", "UpdateItem", error).context(format_args!("taking the lease on cursor {name}"))),
            },
        }
    }

    /// Moves the cursor from `from` to `to` and renews the lease, if `owner` still holds it and the
    /// cursor has not moved meanwhile. `with` are writes that commit in the same transaction (the
    /// counts of the page the move covers), so they happen exactly when the move does. Returns
    /// the new state, or `None` when the lease or position was lost (another chain took over):
    /// the caller must stop.
    pub async fn advance(
        &self,
        cursor: &Cursor,
        owner: &str,
        to: &str,
        lease: Duration,
        with: Vec<TransactWriteItem>,
    ) -> Result<Option<Cursor>> {
        let now = now_ms();
        let expires = now + lease.as_millis() as i64;
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(format!("{PREFIX}{}", cursor.name)))
            .update_expression(
                "SET #pos = :to, #seq = #seq + :one, #expires = :expires, #updated = :now",
            )
            .expression_attribute_names("#owner", "lease_owner")
            .expression_attribute_names("#pos", "position")
            .expression_attribute_names("#seq", "page_sequence")
            .expression_attribute_names("#expires", "lease_expires_at")
            .expression_attribute_names("#updated", "updated_at")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":to", s(to))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires", n(expires))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":seq", n(cursor.sequence));
        let update = match &cursor.position {
            Some(from) => update
                .condition_expression("#owner = :owner AND #pos = :from AND #seq = :seq")
                .expression_attribute_values(":from", s(from)),
            None => update.condition_expression(
                "#owner = :owner AND attribute_not_exists(#pos) AND #seq = :seq",
            ),
        }
        .build()
        .expect("table, key and expression are set");
        let mut actions = vec![TransactWriteItem::builder().update(update).build()];
        actions.extend(with);
        let cancelled = transact(&self.dynamodb, actions)
            .await
            .map_err(|e| e.context(format_args!("advancing cursor {}", cursor.name)))?;
        match cancelled {
            None => Ok(Some(Cursor {
                position: Some(to.to_owned()),
                sequence: cursor.sequence + 1,
                lease_owner: Some(owner.to_owned()),
                lease_expires_at_ms: expires,
                ..cursor.clone()
            })),
            Some(reasons) if reasons[0].0 == "ConditionalCheckFailed" => Ok(None),
            Some(reasons) => Err(Error::external(format!(
                "DynamoDB cancelled the advance of cursor {} ({})",
                cursor.name,
                reasons
                    .iter()
                    .map(|(code, _)| code.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Gives the lease up, if `owner` holds it. Returns whether it did.
    pub async fn release(&self, name: &str, owner: &str) -> Result<bool> {
        let result = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("{PREFIX}{name}")))
            .update_expression("REMOVE #owner, #expires")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "lease_owner")
            .expression_attribute_names("#expires", "lease_expires_at")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(aws_error("DynamoDB", "UpdateItem", error)
                .context(format_args!("releasing cursor {name}"))),
        }
    }
}

fn is_condition_failure<R>(
    error: &aws_smithy_runtime_api::client::result::SdkError<
        aws_sdk_dynamodb::operation::update_item::UpdateItemError,
        R,
    >,
) -> bool {
    error
        .as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}

fn cursor_from(name: &str, item: &Item) -> Cursor {
    Cursor {
        name: name.to_owned(),
        position: item.string("position"),
        sequence: item.number("page_sequence").unwrap_or(0),
        lease_owner: item.string("lease_owner"),
        lease_expires_at_ms: item.number("lease_expires_at").unwrap_or(0),
        execution_id: item.string("execution_id"),
    }
}
