//! Small helpers for DynamoDB items, shared by the state stores.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;

/// A DynamoDB item as the SDK returns it.
pub type Item = HashMap<String, AttributeValue>;

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
