//! The idempotency and ordering store: each item key (e.g. a book's ISBN + kind + type) is applied at
//! most once per version, and never an older version after a newer one — whatever SQS redelivers,
//! however late a redrive comes.
//!
//! Work on an item is *claimed* before the external call and *completed* after it. A claim is a
//! lease: one that outlives its invocation (a crash) lapses and can be taken over; its expiry is
//! compared in code, never left to DynamoDB's TTL. While its work is in flight, the holder renews
//! the lease ([`OrderingStore::renew`], the pipeline's heartbeat), so only a claim whose invocation
//! died can lapse. A claim also raises the item's *sent version*,
//! which neither a release nor a lapse lowers: a call that failed, timed out or crashed may still
//! have reached the target, so an older version is superseded from then on — the newer one's
//! message is still queued (or parked) and is applied in its turn. Claims and completions of a whole batch go in one
//! `TransactWriteItems` call each, so the store costs two requests per batch, not two per item.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};

use crate::dynamo::{conditional, n, s, Item, ItemExt};
use crate::error::{aws_error, Error, Result};
use crate::time::now_ms;

/// DynamoDB allows at most 100 actions per transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// Rounds of re-submitting the items of a cancelled transaction that did not themselves fail.
const MAX_ROUNDS: usize = 5;
const PREFIX: &str = "item#";

/// An item key and the version a message carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ItemVersion {
    /// The business key, e.g. `descriptions#9788205000000#long`.
    pub key: String,
    /// The version, increasing with the source's change order.
    pub version: u64,
    /// Apply it again even if this very version was applied (an operator's forced replay); a
    /// newer applied version still wins.
    pub force: bool,
}

/// The answer to a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The item is ours to apply; complete it with this token.
    Claimed {
        /// Proves ownership when completing or releasing.
        token: String,
    },
    /// This version, or a newer one, was applied already: nothing to do.
    AlreadyApplied {
        /// The version that was applied.
        applied_version: u64,
    },
    /// A newer version was claimed before — and may have reached the target — but is not yet
    /// recorded as applied: its message is still queued or parked, so this one is dropped.
    Superseded {
        /// The newer version that was claimed.
        sent_version: u64,
    },
    /// Another invocation holds a live claim on this key: try again later.
    Busy {
        /// When that claim lapses, epoch ms.
        until_ms: i64,
    },
}

/// Claims, completes and releases item versions in the state table.
#[derive(Clone, Debug)]
pub struct OrderingStore {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    lease: Duration,
    retention: Duration,
}

impl OrderingStore {
    /// A store over `table`. `lease` bounds how long a claim protects work in progress (longer than
    /// one item's processing, shorter than the time SQS takes to redeliver); `retention` is how long
    /// an applied version is remembered (longer than any message can live).
    pub fn new(
        dynamodb: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        lease: Duration,
        retention: Duration,
    ) -> Self {
        OrderingStore {
            dynamodb,
            table: table.into(),
            lease,
            retention,
        }
    }

    /// Claims every item. Keys must be distinct (keep the newest version of each key first).
    pub async fn claim(&self, items: &[ItemVersion]) -> Result<Vec<Claim>> {
        let distinct: HashSet<&str> = items.iter().map(|i| i.key.as_str()).collect();
        if distinct.len() != items.len() {
            return Err(Error::technical(
                "claim called with a key twice in one batch",
            ));
        }
        let mut claims: Vec<Option<Claim>> = vec![None; items.len()];
        for chunk_start in (0..items.len()).step_by(MAX_TRANSACTION_ITEMS) {
            let chunk_end = (chunk_start + MAX_TRANSACTION_ITEMS).min(items.len());
            let mut pending: Vec<usize> = (chunk_start..chunk_end).collect();
            for _ in 0..MAX_ROUNDS {
                if pending.is_empty() {
                    break;
                }
                let now = now_ms();
                let tokens: Vec<String> = pending.iter().map(|_| new_token()).collect();
                let actions: Vec<TransactWriteItem> = pending
                    .iter()
                    .zip(&tokens)
                    .map(|(&i, token)| self.claim_action(&items[i], token, now))
                    .collect();
                match crate::dynamo::transact(&self.dynamodb, actions).await? {
                    None => {
                        for (&i, token) in pending.iter().zip(tokens) {
                            claims[i] = Some(Claim::Claimed { token });
                        }
                        pending.clear();
                    }
                    Some(reasons) => {
                        let mut retry = Vec::new();
                        for (&i, (code, old)) in pending.iter().zip(reasons) {
                            match code.as_str() {
                                "ConditionalCheckFailed" => {
                                    claims[i] = Some(classify(&items[i], &old, now))
                                }
                                _ => retry.push(i),
                            }
                        }
                        pending = retry;
                        if !pending.is_empty() {
                            tokio::time::sleep(Duration::from_millis(20 + fastrand::u64(0..80)))
                                .await;
                        }
                    }
                }
            }
            if !pending.is_empty() {
                return Err(Error::external(format!(
                    "DynamoDB kept cancelling the claim of {} items (transaction conflicts)",
                    pending.len()
                )));
            }
        }
        Ok(claims
            .into_iter()
            .map(|c| c.expect("every item classified"))
            .collect())
    }

    /// Records the applied versions. Returns, per item, whether it was recorded; `false` means the
    /// claim had lapsed and was taken over (the taker records its own version).
    pub async fn complete(&self, done: &[(ItemVersion, String)]) -> Result<Vec<bool>> {
        self.each_held(done, "completion", |item, token, now| {
            self.complete_action(item, token, now)
        })
        .await
    }

    /// Extends the lease of claims still in work to a full lease from now: the heartbeat that keeps
    /// a slow call's claim from lapsing under it. Returns, per claim, whether it is still ours;
    /// `false` means it was released, completed or taken over.
    pub async fn renew(&self, held: &[(ItemVersion, String)]) -> Result<Vec<bool>> {
        self.each_held(held, "renewal", |item, token, now| {
            self.renew_action(item, token, now)
        })
        .await
    }

    /// Runs one conditional action per held claim, batched into transactions; an action whose
    /// claim is no longer ours (its condition failed) is reported `false`, the others are
    /// re-submitted when a transaction is cancelled for another reason.
    async fn each_held<F>(
        &self,
        held: &[(ItemVersion, String)],
        what: &str,
        action: F,
    ) -> Result<Vec<bool>>
    where
        F: Fn(&ItemVersion, &str, i64) -> TransactWriteItem,
    {
        let mut ours = vec![false; held.len()];
        for chunk_start in (0..held.len()).step_by(MAX_TRANSACTION_ITEMS) {
            let chunk_end = (chunk_start + MAX_TRANSACTION_ITEMS).min(held.len());
            let mut pending: Vec<usize> = (chunk_start..chunk_end).collect();
            for _ in 0..MAX_ROUNDS {
                if pending.is_empty() {
                    break;
                }
                let now = now_ms();
                let actions = pending
                    .iter()
                    .map(|&i| action(&held[i].0, &held[i].1, now))
                    .collect();
                match crate::dynamo::transact(&self.dynamodb, actions).await? {
                    None => {
                        for &i in &pending {
                            ours[i] = true;
                        }
                        pending.clear();
                    }
                    Some(reasons) => {
                        let mut retry = Vec::new();
                        for (&i, (code, _)) in pending.iter().zip(reasons) {
                            if code != "ConditionalCheckFailed" {
                                retry.push(i);
                            }
                        }
                        pending = retry;
                    }
                }
            }
            if !pending.is_empty() {
                return Err(Error::external(format!(
                    "DynamoDB kept cancelling the {what} of {} claims (transaction conflicts)",
                    pending.len()
                )));
            }
        }
        Ok(ours)
    }

    /// Gives a claim up after a failure, so a retry need not wait for the lease to lapse.
    pub async fn release(&self, item: &ItemVersion, token: &str) -> Result<()> {
        let result = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("{PREFIX}{}", item.key)))
            .update_expression("REMOVE claim_token, claim_version, claim_expires_at")
            .condition_expression("claim_token = :token")
            .expression_attribute_values(":token", s(token))
            .send()
            .await;
        conditional(
            result,
            "UpdateItem",
            format_args!("releasing claim on {}", item.key),
        )
        .map(|_| ())
    }

    /// The version applied for `key`, if any (for operators and tests).
    pub async fn applied_version(&self, key: &str) -> Result<Option<u64>> {
        let output = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("{PREFIX}{key}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| aws_error("DynamoDB", "GetItem", e))?;
        Ok(output.item.and_then(|item| item.number("applied_version")))
    }

    fn claim_action(&self, item: &ItemVersion, token: &str, now: i64) -> TransactWriteItem {
        let not_applied = if item.force {
            "applied_version <= :v"
        } else {
            "applied_version < :v"
        };
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(format!("{PREFIX}{}", item.key)))
            .update_expression(
                "SET claim_token = :token, claim_version = :v, claim_expires_at = :lease_end, \
                 sent_version = :v, expires_at = :expires",
            )
            .condition_expression(format!(
                "(attribute_not_exists(applied_version) OR {not_applied} OR expires_at < :now_s) \
                 AND (attribute_not_exists(sent_version) OR sent_version <= :v OR expires_at < :now_s) \
                 AND (attribute_not_exists(claim_token) OR claim_expires_at < :now)"
            ))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":v", n(item.version))
            .expression_attribute_values(":lease_end", n(now + self.lease.as_millis() as i64))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":now_s", n(now / 1000))
            .expression_attribute_values(
                ":expires",
                n((now + self.retention.as_millis() as i64) / 1000),
            )
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .expect("table, key and expression are set");
        TransactWriteItem::builder().update(update).build()
    }

    fn complete_action(&self, item: &ItemVersion, token: &str, now: i64) -> TransactWriteItem {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(format!("{PREFIX}{}", item.key)))
            .update_expression(
                "SET applied_version = :v, applied_at = :now, expires_at = :expires \
                 REMOVE claim_token, claim_version, claim_expires_at",
            )
            .condition_expression("claim_token = :token")
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":v", n(item.version))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(
                ":expires",
                n((now + self.retention.as_millis() as i64) / 1000),
            )
            .build()
            .expect("table, key and expression are set");
        TransactWriteItem::builder().update(update).build()
    }

    fn renew_action(&self, item: &ItemVersion, token: &str, now: i64) -> TransactWriteItem {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(format!("{PREFIX}{}", item.key)))
            .update_expression("SET claim_expires_at = :lease_end")
            .condition_expression("claim_token = :token")
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":lease_end", n(now + self.lease.as_millis() as i64))
            .build()
            .expect("table, key and expression are set");
        TransactWriteItem::builder().update(update).build()
    }
}

/// Why a claim's condition failed, from the record as it stood.
fn classify(item: &ItemVersion, old: &Item, now_ms: i64) -> Claim {
    let applied: Option<u64> = old.number("applied_version");
    let record_live = old
        .number::<i64>("expires_at")
        .is_none_or(|e| e >= now_ms / 1000);
    let sent: Option<u64> = old.number("sent_version");
    match (applied, sent) {
        (Some(applied_version), _)
            if (applied_version > item.version
                || (applied_version == item.version && !item.force))
                && record_live =>
        {
            Claim::AlreadyApplied { applied_version }
        }
        (_, Some(sent_version)) if sent_version > item.version && record_live => {
            Claim::Superseded { sent_version }
        }
        _ => Claim::Busy {
            until_ms: old.number("claim_expires_at").unwrap_or(now_ms),
        },
    }
}

fn new_token() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(version: u64) -> ItemVersion {
        ItemVersion {
            key: "objects#9788205000000#ol".into(),
            version,
            force: false,
        }
    }

    #[test]
    fn an_equal_or_newer_applied_version_means_already_applied() {
        let old = Item::from([("applied_version".to_owned(), n(7))]);
        assert_eq!(
            classify(&item(7), &old, 0),
            Claim::AlreadyApplied { applied_version: 7 }
        );
        assert_eq!(
            classify(&item(5), &old, 0),
            Claim::AlreadyApplied { applied_version: 7 }
        );
    }

    #[test]
    fn a_newer_sent_but_unrecorded_version_supersedes_an_older_one() {
        let old = Item::from([
            ("applied_version".to_owned(), n(3)),
            ("sent_version".to_owned(), n(9)),
        ]);
        assert_eq!(
            classify(&item(7), &old, 0),
            Claim::Superseded { sent_version: 9 }
        );
        assert_eq!(
            classify(&item(2), &old, 0),
            Claim::AlreadyApplied { applied_version: 3 }
        );
    }

    #[test]
    fn a_forced_item_is_not_already_applied_at_its_own_version() {
        let old = Item::from([
            ("applied_version".to_owned(), n(7)),
            ("claim_expires_at".to_owned(), n(5_000)),
        ]);
        let forced = ItemVersion {
            force: true,
            ..item(7)
        };
        assert_eq!(
            classify(&forced, &old, 1_000),
            Claim::Busy { until_ms: 5_000 }
        );
        let older = ItemVersion {
            force: true,
            ..item(6)
        };
        assert_eq!(
            classify(&older, &old, 1_000),
            Claim::AlreadyApplied { applied_version: 7 }
        );
    }

    #[test]
    fn an_older_applied_version_with_a_live_claim_means_busy() {
        let old = Item::from([
            ("applied_version".to_owned(), n(3)),
            ("claim_expires_at".to_owned(), n(5_000)),
        ]);
        assert_eq!(
            classify(&item(7), &old, 1_000),
            Claim::Busy { until_ms: 5_000 }
        );
    }

    #[test]
    fn an_expired_record_does_not_block() {
        let old = Item::from([
            ("applied_version".to_owned(), n(9)),
            ("expires_at".to_owned(), n(1)),
            ("claim_expires_at".to_owned(), n(9_000)),
        ]);
        assert_eq!(
            classify(&item(7), &old, 5_000),
            Claim::Busy { until_ms: 9_000 }
        );
    }
}
