//! The heartbeat of a batch's claims: while its items are applied, a task of its own renews every
//! claim still held, a third of the lease at a time, so a slow call's claim never lapses under it
//! and no other invocation takes the item over and calls again. A lapse is left to invocations
//! that died; a claim found lost is dropped, and an item whose claim is lost is not started.
//!
//! A task of its own, not a future polled beside the items: an item busy on the CPU (hashing a
//! thesis) cannot then starve the renewals. It is aborted when the batch's work ends or the
//! invocation is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::ordering::{ItemVersion, OrderingStore};

/// A claim the batch holds: the item's version, the claim's token, and the item's label for logs.
#[derive(Clone, Debug)]
pub(super) struct Held {
    pub(super) item: ItemVersion,
    pub(super) token: String,
    pub(super) label: String,
}

/// Claims held by one batch, renewed until [`Heartbeat::stop`] or drop.
pub(super) struct Heartbeat {
    held: Arc<Mutex<HashMap<String, Held>>>,
    task: JoinHandle<()>,
}

impl Heartbeat {
    /// Starts renewing `claims` every `lease / 3`.
    pub(super) fn start(ordering: OrderingStore, lease: Duration, claims: Vec<Held>) -> Self {
        let held: HashMap<String, Held> = claims
            .into_iter()
            .map(|claim| (claim.item.key.clone(), claim))
            .collect();
        let held = Arc::new(Mutex::new(held));
        let task = tokio::spawn(renew_forever(ordering, lease / 3, held.clone()));
        Heartbeat { held, task }
    }

    /// Whether the claim on `key` is still ours (not found lost by a renewal).
    pub(super) fn holds(&self, key: &str) -> bool {
        self.held.lock().expect("heartbeat lock").contains_key(key)
    }

    /// Stops renewing: the claims are about to be completed or released.
    pub(super) fn stop(self) {}
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn renew_forever(
    ordering: OrderingStore,
    every: Duration,
    held: Arc<Mutex<HashMap<String, Held>>>,
) {
    let every = every.max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        let claims: Vec<Held> = held
            .lock()
            .expect("heartbeat lock")
            .values()
            .cloned()
            .collect();
        if claims.is_empty() {
            return;
        }
        let tokens: Vec<(ItemVersion, String)> = claims
            .iter()
            .map(|c| (c.item.clone(), c.token.clone()))
            .collect();
        match ordering.renew(&tokens).await {
            Ok(ours) => {
                let mut held = held.lock().expect("heartbeat lock");
                for (claim, ours) in claims.iter().zip(ours) {
                    if !ours {
                        tracing::warn!(
                            item = %claim.label,
                            version = claim.item.version,
                            "claim lost before its work ended (its lease lapsed and another invocation took it over); not started here if it had not been"
                        );
                        held.remove(&claim.item.key);
                    }
                }
                tracing::debug!(claims = held.len(), "claims renewed");
            }
            Err(error) => {
                tracing::warn!(error = %error, "could not renew the batch's claims; trying again at the next beat (the lease outlasts the invocation)");
            }
        }
    }
}
