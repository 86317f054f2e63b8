//! Small helpers for DynamoDB items, shared by the state stores.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};

/// A DynamoDB item as the SDK returns it.
pub type Item = HashMap<String, AttributeValue>;

/// Every item of `table` whose key `pk` begins with `prefix`: one paginated Scan, for the small
/// sets of the configuration table (institutions, the notification blacklist, digest
/// subscriptions). `what` names them in the error.
pub async fn scan_prefix(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    prefix: &str,
    what: &str,
) -> crate::Result<Vec<Item>> {
    dynamodb
        .scan()
        .table_name(table)
        .filter_expression("begins_with(pk, :prefix)")
        .expression_attribute_values(":prefix", s(prefix))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| {
            crate::error::aws_error("DynamoDB", "Scan", e).context(format_args!("reading {what}"))
        })
}

/// The outcome of a conditional write: `Some(output)` when it was made, `None` when its condition
/// did not hold (another writer was first, or there was nothing to do); any other failure is an
/// error naming the operation and `context`.
pub fn conditional<O, E, R>(
    result: Result<O, aws_smithy_runtime_api::client::result::SdkError<E, R>>,
    operation: &str,
    context: impl std::fmt::Display,
) -> crate::Result<Option<O>>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(e)
            if e.as_service_error().and_then(|e| e.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(None)
        }
        Err(e) => Err(crate::error::aws_error("DynamoDB", operation, e).context(context)),
    }
}

/// Runs a transaction. `Ok(None)` when it committed; `Ok(Some(reasons))` with one
/// `(code, old item)` per action, in order, when it was cancelled (a condition failed, or a
/// conflict); any other failure is an error.
pub async fn transact(
    dynamodb: &aws_sdk_dynamodb::Client,
    actions: Vec<TransactWriteItem>,
) -> crate::Result<Option<Vec<(String, Item)>>> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    let count = actions.len();
    let result = dynamodb
        .transact_write_items()
        .set_transact_items(Some(actions))
        .send()
        .await;
    match result {
        Ok(_) => Ok(None),
        Err(error) => match error.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                let reasons = cancelled.cancellation_reasons();
                Ok(Some(
                    (0..count)
                        .map(|i| {
                            reasons
                                .get(i)
                                .map_or(("None".to_owned(), Item::new()), |r| {
                                    (
                                        r.code().unwrap_or("None").to_owned(),
                                        r.item().cloned().unwrap_or_default(),
                                    )
                                })
                        })
                        .collect(),
                ))
            }
            _ => Err(crate::error::aws_error(
                "DynamoDB",
                "TransactWriteItems",
                error,
            )),
        },
    }
}

/// A string attribute value.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute value.
pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Typed reads of item attributes.
pub trait ItemExt {
    /// A string attribute.
    fn string(&self, name: &str) -> Option<String>;
    /// A number attribute parsed as `T`.
    fn number<T: FromStr>(&self, name: &str) -> Option<T>;
    /// A string-set attribute.
    fn string_set(&self, name: &str) -> Option<Vec<String>>;
}

impl ItemExt for Item {
    fn string(&self, name: &str) -> Option<String> {
        self.get(name).and_then(|v| v.as_s().ok()).cloned()
    }

    fn number<T: FromStr>(&self, name: &str) -> Option<T> {
        self.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
    }

    fn string_set(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).and_then(|v| v.as_ss().ok()).cloned()
    }
}

/// Items that each hold one string set in a named attribute: adding and
/// removing members are single, idempotent updates, so a repeated step changes nothing. Used for
/// the open WISEflow explanation requests and the thesis holds.
#[derive(Clone, Debug)]
pub struct StringSets {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    attribute: &'static str,
}

/// How a [`StringSets`] update changes a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetChange {
    /// Add the members.
    Add,
    /// Remove the members.
    Remove,
}

impl StringSets {
    /// Sets kept in `attribute` of the items of `table`.
    pub fn new(
        dynamodb: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        attribute: &'static str,
    ) -> Self {
        StringSets {
            dynamodb,
            table: table.into(),
            attribute,
        }
    }

    /// Adds or removes `members` of the set in item `pk` (nothing to do for no members).
    pub async fn change(
        &self,
        pk: &str,
        change: SetChange,
        members: Vec<String>,
    ) -> crate::Result<()> {
        if members.is_empty() {
            return Ok(());
        }
        let action = match change {
            SetChange::Add => "ADD",
            SetChange::Remove => "DELETE",
        };
        self.dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .update_expression(format!("{action} #set :members"))
            .expression_attribute_names("#set", self.attribute)
            .expression_attribute_values(":members", AttributeValue::Ss(members))
            .send()
            .await
            .map_err(|e| {
                crate::error::aws_error("DynamoDB", "UpdateItem", e)
                    .context(format_args!("updating {pk}"))
            })?;
        Ok(())
    }

    /// The members of the set in item `pk`, sorted (none when the item does not exist).
    pub async fn members(&self, pk: &str) -> crate::Result<Vec<String>> {
        let output = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                crate::error::aws_error("DynamoDB", "GetItem", e)
                    .context(format_args!("reading {pk}"))
            })?;
        let mut members = output
            .item
            .and_then(|item| item.string_set(self.attribute))
            .unwrap_or_default();
        members.sort();
        Ok(members)
    }
}
