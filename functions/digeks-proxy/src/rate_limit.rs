//! The per-client rate limit: a fixed one-minute window counted in the state table, so every
//! concurrent Lambda instance counts against the same limit. A window's counter expires (TTL) a
//! day later.

use flyt::dynamo::{n, s};
use flyt::error::aws_error;
use flyt::Result;

/// Counts requests per client and minute.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

/// The limiter's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit.
    Allowed,
    /// Over it: retry after this many seconds (the rest of the minute).
    Limited { retry_after_seconds: u64 },
}

impl RateLimiter {
    /// A limiter over the state table.
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        RateLimiter {
            dynamodb,
            table: table.into(),
        }
    }

    /// Counts one request of `client_id` at `now_ms` against `limit` per minute.
    pub async fn admit(&self, client_id: &str, limit: u32, now_ms: i64) -> Result<Verdict> {
        let minute = now_ms.div_euclid(60_000);
        let result = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("rate#{client_id}#{minute}")))
            .update_expression(
                "ADD requests :one SET expires_at = if_not_exists(expires_at, :expires)",
            )
            .condition_expression("attribute_not_exists(requests) OR requests < :limit")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":expires", n(now_ms / 1000 + 86_400))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Verdict::Allowed),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                let rest_ms = 60_000 - now_ms.rem_euclid(60_000);
                Ok(Verdict::Limited {
                    retry_after_seconds: (rest_ms as u64).div_ceil(1000).max(1),
                })
            }
            Err(e) => Err(aws_error("DynamoDB", "UpdateItem", e)
                .context(format_args!("counting a request of client {client_id}"))),
        }
    }
}
