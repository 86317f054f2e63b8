//! The per-client rate limit: a fixed one-minute window, counted across every concurrent Lambda
//! instance in the state table — without a write per request. Each instance counts its own calls
//! in memory and adds them to the shared counter in batches (at least every
//! [`SYNC_INTERVAL`], or every [`sync_chunk`] calls), learning the total of all instances from
//! each addition. The sync runs beside the call's FS request, so a call waits for no write.
//!
//! What that costs: an instance admits on the total it last learned plus its own unsynced calls,
//! so all instances together may exceed a limit by at most one chunk each before they learn of
//! the others' calls. With the proxy's reserved concurrency (25) and a chunk of 1/20 of the limit,
//! that is under 25/20 of the limit in the worst minute. A window's counter expires (TTL) a day
//! later.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_dynamodb::types::ReturnValue;
use flyt::dynamo::{n, s};
use flyt::error::aws_error;
use flyt::Result;
use tokio::time::Instant;

/// The longest an instance keeps calls it admitted from the shared counter.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Calls an instance admits before it adds them to the shared counter: a twentieth of the limit.
pub fn sync_chunk(limit: u32) -> u64 {
    u64::from(limit / 20).max(1)
}

/// Counts requests per client and minute.
#[derive(Debug)]
pub struct RateLimiter {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    windows: Mutex<HashMap<String, Window>>,
}

/// One client's current minute as this instance knows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// The minute (epoch minutes).
    pub minute: i64,
    /// The shared counter's value when last learned: every instance's synced calls.
    pub shared: u64,
    /// Calls this instance admitted that the shared counter does not hold yet.
    pub unsynced: u64,
    /// Calls being added right now.
    pub syncing: u64,
    /// When this instance last added its calls (or began the window).
    pub synced_at: Option<Instant>,
}

/// The limiter's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit.
    Allowed,
    /// Over it: retry after this many seconds (the rest of the minute).
    Limited { retry_after_seconds: u64 },
}

/// Calls to add to a client's shared counter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowSync {
    client_id: String,
    minute: i64,
    calls: u64,
    expires_at: i64,
}

impl Window {
    /// Decides one call at `now_ms` (pure): resets on a new minute, refuses at the limit, else
    /// counts the call; and says how many calls to add to the shared counter now, if any.
    pub fn admit(&mut self, limit: u32, now_ms: i64, now: Instant) -> (Verdict, Option<u64>) {
        let minute = now_ms.div_euclid(60_000);
        if self.minute != minute {
            *self = Window {
                minute,
                ..Window::default()
            };
        }
        let known = self.shared + self.syncing + self.unsynced;
        let verdict = if known >= u64::from(limit) {
            let rest_ms = 60_000 - now_ms.rem_euclid(60_000);
            Verdict::Limited {
                retry_after_seconds: (rest_ms as u64).div_ceil(1000).max(1),
            }
        } else {
            self.unsynced += 1;
            Verdict::Allowed
        };
        let stale = self
            .synced_at
            .is_none_or(|at| now.duration_since(at) >= SYNC_INTERVAL);
        let due =
            self.syncing == 0 && self.unsynced > 0 && (self.unsynced >= sync_chunk(limit) || stale);
        if !due {
            return (verdict, None);
        }
        self.syncing = self.unsynced;
        self.unsynced = 0;
        (verdict, Some(self.syncing))
    }

    /// Records the shared counter's new value after this instance added `calls` to it.
    pub fn synced(&mut self, minute: i64, calls: u64, total: Option<u64>, now: Instant) {
        if self.minute != minute {
            return;
        }
        self.syncing = self.syncing.saturating_sub(calls);
        match total {
            Some(total) => {
                self.shared = self.shared.max(total);
                self.synced_at = Some(now);
            }
            // Not added: the calls wait for the next sync.
            None => self.unsynced += calls,
        }
    }
}

impl RateLimiter {
    /// A limiter over the state table.
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        RateLimiter {
            dynamodb,
            table: table.into(),
            windows: Mutex::default(),
        }
    }

    /// Counts one request of `client_id` at `now_ms` against `limit` per minute, in memory; the
    /// returned [`WindowSync`], if any, is to be run (with [`RateLimiter::sync`]) beside the call.
    pub fn admit(&self, client_id: &str, limit: u32, now_ms: i64) -> (Verdict, Option<WindowSync>) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let window = windows.entry(client_id.to_owned()).or_default();
        let (verdict, calls) = window.admit(limit, now_ms, Instant::now());
        let sync = calls.map(|calls| WindowSync {
            client_id: client_id.to_owned(),
            minute: window.minute,
            calls,
            expires_at: now_ms / 1000 + 86_400,
        });
        (verdict, sync)
    }

    /// Adds calls to the client's shared counter and learns every instance's total. A failure
    /// keeps the calls for the next sync, and is logged: the limit is then counted per instance
    /// until the table answers again.
    pub async fn sync(&self, sync: WindowSync) {
        let total = self.add(&sync).await;
        if let Err(error) = &total {
            tracing::warn!(%error, "rate limit not synced; the calls are added next time");
        }
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(window) = windows.get_mut(&sync.client_id) {
            window.synced(sync.minute, sync.calls, total.ok(), Instant::now());
        }
    }

    async fn add(&self, sync: &WindowSync) -> Result<u64> {
        let output = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("rate#{}#{}", sync.client_id, sync.minute)))
            .update_expression(
                "ADD requests :calls SET expires_at = if_not_exists(expires_at, :expires)",
            )
            .expression_attribute_values(":calls", n(sync.calls))
            .expression_attribute_values(":expires", n(sync.expires_at))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| {
                aws_error("DynamoDB", "UpdateItem", e).context(format_args!(
                    "adding calls of client {} to its rate window",
                    sync.client_id
                ))
            })?;
        Ok(output
            .attributes()
            .and_then(|a| a.get("requests"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(sync.calls))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE_MS: i64 = 60_000 * 29_000_000;

    #[test]
    fn small_limits_sync_every_call_and_refuse_at_the_limit() {
        let now = Instant::now();
        let mut window = Window::default();
        for call in 1..=5u64 {
            let (verdict, sync) = window.admit(5, MINUTE_MS + 10, now);
            assert_eq!(verdict, Verdict::Allowed, "call {call}");
            assert_eq!(sync, Some(1));
            window.synced(window.minute, 1, Some(call), now);
        }
        let (verdict, sync) = window.admit(5, MINUTE_MS + 20_000, now);
        assert_eq!(
            verdict,
            Verdict::Limited {
                retry_after_seconds: 40
            }
        );
        assert_eq!(sync, None, "a refused call adds nothing");
    }

    #[test]
    fn large_limits_sync_in_chunks_or_after_the_interval() {
        let now = Instant::now();
        let mut window = Window::default();
        // The first call of a window syncs (nothing learned yet); then every 50th.
        assert_eq!(window.admit(1_000, MINUTE_MS, now).1, Some(1));
        window.synced(window.minute, 1, Some(1), now);
        let syncs: Vec<u64> = (0..120)
            .filter_map(|_| {
                let (_, sync) = window.admit(1_000, MINUTE_MS, now);
                if let Some(calls) = sync {
                    window.synced(window.minute, calls, Some(window.shared + calls), now);
                }
                sync
            })
            .collect();
        assert_eq!(syncs, vec![50, 50]);
        assert_eq!(window.unsynced, 20);
        // A second later the remainder goes at the next call.
        let later = now + SYNC_INTERVAL;
        assert_eq!(window.admit(1_000, MINUTE_MS, later).1, Some(21));
    }

    #[test]
    fn other_instances_calls_learned_at_a_sync_refuse_this_ones() {
        let now = Instant::now();
        let mut window = Window::default();
        let (verdict, sync) = window.admit(100, MINUTE_MS, now);
        assert_eq!((verdict, sync), (Verdict::Allowed, Some(1)));
        // The shared counter says the other instances made 99 calls already.
        window.synced(window.minute, 1, Some(100), now);
        assert!(matches!(
            window.admit(100, MINUTE_MS, now).0,
            Verdict::Limited { .. }
        ));
    }

    #[test]
    fn a_failed_sync_keeps_its_calls_and_a_new_minute_starts_afresh() {
        let now = Instant::now();
        let mut window = Window::default();
        assert_eq!(window.admit(5, MINUTE_MS, now).1, Some(1));
        window.synced(window.minute, 1, None, now);
        assert_eq!((window.unsynced, window.syncing), (1, 0));
        assert_eq!(window.admit(5, MINUTE_MS, now).1, Some(2));
        let (verdict, sync) = window.admit(5, MINUTE_MS + 60_000, now);
        assert_eq!((verdict, sync), (Verdict::Allowed, Some(1)));
        assert_eq!(window.shared, 0);
    }
}
