//! When a cached secret is read again — pure, no I/O: the clock is passed in.
//!
//! A value is re-read on use once it is older than the TTL ([`Refresh::ttl`]). After a refusal
//! (401) it is re-read at once, unless another re-read already brought a newer value than the
//! refused one, or the last forced re-read of this secret was less than
//! [`Refresh::reread_interval`] ago: a storm of 401s costs at most one read per interval. A failed
//! re-read keeps the old value and is tried again after the shorter of the two durations, not on
//! every use.

use std::time::{Duration, Instant};

use crate::config::Vars;
use crate::error::{Error, Result};

/// How fresh cached secrets are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refresh {
    /// A value older than this is read again on its next use (`SECRET_TTL_SECONDS`).
    pub ttl: Duration,
    /// The least time between two re-reads of one secret forced by refusals.
    pub reread_interval: Duration,
}

impl Refresh {
    /// `SECRET_TTL_SECONDS` when unset: five minutes.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
    /// At most one forced re-read per secret in this time.
    pub const REREAD_INTERVAL: Duration = Duration::from_secs(30);

    /// The TTL from `SECRET_TTL_SECONDS` (whole seconds, at least 1; default 300) and the fixed
    /// [`Refresh::REREAD_INTERVAL`].
    pub fn from_vars(vars: &Vars) -> Result<Self> {
        let ttl = vars.seconds_or("SECRET_TTL_SECONDS", Self::DEFAULT_TTL.as_secs())?;
        if ttl.is_zero() {
            return Err(Error::configuration(
                "environment variable SECRET_TTL_SECONDS is 0: expected a whole number of seconds, at least 1 (default 300)",
            ));
        }
        Ok(Refresh {
            ttl,
            reread_interval: Self::REREAD_INTERVAL,
        })
    }

    /// How long after a failed re-read the next one is tried.
    fn after_failure(&self) -> Duration {
        self.ttl.min(self.reread_interval)
    }
}

impl Default for Refresh {
    fn default() -> Self {
        Refresh {
            ttl: Self::DEFAULT_TTL,
            reread_interval: Self::REREAD_INTERVAL,
        }
    }
}

/// Whether to read the secret now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Serve the cached value.
    Serve,
    /// Read the secret again.
    Read,
}

/// The clock of one cached secret: which read its value came from, when it is due again, and when
/// a refusal last forced a read.
#[derive(Clone, Debug)]
pub(crate) struct Freshness {
    refresh: Refresh,
    generation: u64,
    due: Instant,
    last_forced: Option<Instant>,
}

impl Freshness {
    /// A value read successfully at `now`: generation 1.
    pub(crate) fn new(refresh: Refresh, now: Instant) -> Self {
        Freshness {
            refresh,
            generation: 1,
            due: now + refresh.ttl,
            last_forced: None,
        }
    }

    /// Which successful read the cached value came from (1 for the first).
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// On an ordinary use: read again once the value is due.
    pub(crate) fn on_use(&self, now: Instant) -> Decision {
        if now >= self.due {
            Decision::Read
        } else {
            Decision::Serve
        }
    }

    /// After the other system refused a credential taken from read `refused_generation`: serve
    /// the value when a newer read already replaced the refused one or when a forced read was made
    /// less than [`Refresh::reread_interval`] ago; otherwise read, and note the forced read.
    pub(crate) fn on_refusal(&mut self, now: Instant, refused_generation: u64) -> Decision {
        if refused_generation != self.generation {
            return Decision::Serve;
        }
        let recently = self
            .last_forced
            .is_some_and(|at| now.saturating_duration_since(at) < self.refresh.reread_interval);
        if recently {
            return Decision::Serve;
        }
        self.last_forced = Some(now);
        Decision::Read
    }

    /// A read at `now` succeeded: a new generation, due again after the TTL.
    pub(crate) fn read_succeeded(&mut self, now: Instant) {
        self.generation += 1;
        self.due = now + self.refresh.ttl;
    }

    /// A read at `now` failed: the old value stays, and the next try is after the shorter of the
    /// TTL and the re-read interval.
    pub(crate) fn read_failed(&mut self, now: Instant) {
        self.due = now + self.refresh.after_failure();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(300);
    const INTERVAL: Duration = Duration::from_secs(30);

    fn refresh() -> Refresh {
        Refresh {
            ttl: TTL,
            reread_interval: INTERVAL,
        }
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_value_is_served_until_the_ttl_and_read_again_from_then_on() {
        let start = Instant::now();
        let mut freshness = Freshness::new(refresh(), start);
        assert_eq!(freshness.on_use(start), Decision::Serve);
        assert_eq!(freshness.on_use(start + TTL - secs(1)), Decision::Serve);
        assert_eq!(freshness.on_use(start + TTL), Decision::Read);
        assert_eq!(freshness.on_use(start + TTL + secs(100)), Decision::Read);
        freshness.read_succeeded(start + TTL + secs(1));
        assert_eq!(freshness.generation(), 2);
        assert_eq!(freshness.on_use(start + TTL + secs(2)), Decision::Serve);
        assert_eq!(freshness.on_use(start + TTL * 2), Decision::Serve);
        assert_eq!(freshness.on_use(start + TTL * 2 + secs(1)), Decision::Read);
    }

    #[test]
    fn a_refusal_forces_one_read_then_none_within_the_interval() {
        let start = Instant::now();
        let mut freshness = Freshness::new(refresh(), start);
        // Right after the cold start's read: a refusal still reads (the rotation may be that new).
        assert_eq!(freshness.on_refusal(start + secs(1), 1), Decision::Read);
        // The read brought nothing new (or failed): a storm of refusals reads no more...
        for at in [2, 10, 30] {
            assert_eq!(
                freshness.on_refusal(start + secs(at), 1),
                Decision::Serve,
                "{at}s"
            );
        }
        // ...until the interval has passed since the forced read.
        assert_eq!(freshness.on_refusal(start + secs(31), 1), Decision::Read);
        assert_eq!(freshness.on_refusal(start + secs(32), 1), Decision::Serve);
    }

    #[test]
    fn a_refusal_of_an_older_value_than_the_cached_one_reads_nothing() {
        let start = Instant::now();
        let mut freshness = Freshness::new(refresh(), start);
        assert_eq!(freshness.on_refusal(start, 1), Decision::Read);
        freshness.read_succeeded(start + secs(1));
        // Requests that took the first value fail one after another: the new value is theirs
        // without a read, and no forced read is spent on them.
        assert_eq!(freshness.on_refusal(start + secs(40), 1), Decision::Serve);
        // The new value refused too, after the interval: read.
        assert_eq!(freshness.on_refusal(start + secs(40), 2), Decision::Read);
    }

    #[test]
    fn ttl_reads_do_not_use_up_the_forced_read() {
        let start = Instant::now();
        let mut freshness = Freshness::new(refresh(), start);
        assert_eq!(freshness.on_use(start + TTL), Decision::Read);
        freshness.read_succeeded(start + TTL);
        assert_eq!(
            freshness.on_refusal(start + TTL + secs(1), 2),
            Decision::Read
        );
    }

    #[test]
    fn a_failed_read_is_tried_again_after_the_shorter_wait_not_on_every_use() {
        let start = Instant::now();
        let mut freshness = Freshness::new(refresh(), start);
        freshness.read_failed(start + TTL);
        assert_eq!(freshness.generation(), 1, "the old value stays");
        assert_eq!(freshness.on_use(start + TTL + secs(1)), Decision::Serve);
        assert_eq!(
            freshness.on_use(start + TTL + INTERVAL - secs(1)),
            Decision::Serve
        );
        assert_eq!(freshness.on_use(start + TTL + INTERVAL), Decision::Read);

        let short = Refresh {
            ttl: secs(5),
            reread_interval: INTERVAL,
        };
        let mut freshness = Freshness::new(short, start);
        freshness.read_failed(start + secs(5));
        assert_eq!(freshness.on_use(start + secs(9)), Decision::Serve);
        assert_eq!(freshness.on_use(start + secs(10)), Decision::Read);
    }

    #[test]
    fn the_ttl_setting_defaults_to_five_minutes_and_must_be_positive() {
        assert_eq!(Refresh::from_vars(&Vars::default()).unwrap(), refresh());
        let set = Refresh::from_vars(&Vars::from_pairs([("SECRET_TTL_SECONDS", "60")])).unwrap();
        assert_eq!(set.ttl, secs(60));
        assert_eq!(set.reread_interval, INTERVAL);
        for bad in ["0", "soon", "-1"] {
            let error =
                Refresh::from_vars(&Vars::from_pairs([("SECRET_TTL_SECONDS", bad)])).unwrap_err();
            assert_eq!(error.category(), crate::error::Category::Configuration);
            assert!(error.message().contains("SECRET_TTL_SECONDS"), "{error}");
        }
    }
}
