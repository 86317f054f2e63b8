//! The one retry policy: bounded attempts with exponential backoff and full jitter, honouring the
//! other side's `Retry-After` when it is short enough to wait for in-process.

use std::future::Future;
use std::time::Duration;

use crate::error::{Error, Result};

/// How many times and how patiently to retry retryable errors (External, Technical).
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Total attempts, the first included.
    pub attempts: u32,
    /// Backoff before the second attempt; doubles each time, with full jitter.
    pub base_delay: Duration,
    /// Upper bound of one backoff.
    pub max_delay: Duration,
    /// A `Retry-After` up to this long is waited for in-process; a longer one ends the retries so
    /// that the caller can delay the message instead of holding the invocation.
    pub max_in_process_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(3),
            max_in_process_wait: Duration::from_secs(3),
        }
    }
}

impl RetryPolicy {
    /// The policy from `RETRY_ATTEMPTS`, `RETRY_BASE_DELAY_MS`, `RETRY_MAX_DELAY_MS` and
    /// `RETRY_MAX_WAIT_MS`, each defaulting to [`RetryPolicy::default`].
    pub fn from_vars(vars: &crate::config::Vars) -> Result<Self> {
        let default = RetryPolicy::default();
        Ok(RetryPolicy {
            attempts: vars
                .parsed_or(
                    "RETRY_ATTEMPTS",
                    default.attempts,
                    "a whole number of attempts, at least 1",
                )?
                .max(1),
            base_delay: vars
                .millis_or("RETRY_BASE_DELAY_MS", default.base_delay.as_millis() as u64)?,
            max_delay: vars
                .millis_or("RETRY_MAX_DELAY_MS", default.max_delay.as_millis() as u64)?,
            max_in_process_wait: vars.millis_or(
                "RETRY_MAX_WAIT_MS",
                default.max_in_process_wait.as_millis() as u64,
            )?,
        })
    }

    /// The longest a call can take with every retry, when one attempt may take `per_attempt`
    /// (the HTTP timeout): all attempts, and between them the longest wait this policy allows (its
    /// backoff ceiling or the longest `Retry-After` it waits for in-process). A function's time
    /// budget must leave room for it ([`crate::apply::Budget`]).
    pub fn longest_call(&self, per_attempt: Duration) -> Duration {
        let longest_wait = self.max_delay.max(self.max_in_process_wait);
        per_attempt * self.attempts + longest_wait * self.attempts.saturating_sub(1)
    }

    /// The wait before attempt number `attempt + 1` (attempt counts from 1), or `None` when the
    /// error must not be retried in-process.
    pub fn delay_after(&self, attempt: u32, error: &Error) -> Option<Duration> {
        if !error.is_retryable() || attempt >= self.attempts {
            return None;
        }
        if let Some(wait) = error.retry_after() {
            return (wait <= self.max_in_process_wait).then_some(wait);
        }
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.max_delay);
        Some(ceiling.mul_f64(fastrand::f64()))
    }

    /// Runs `operation` until it succeeds, fails with a non-retryable error, or runs out of attempts.
    /// The last error is returned with the number of attempts made.
    pub async fn run<T, F, Fut>(&self, mut operation: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = 1;
        loop {
            match operation().await {
                Ok(value) => return Ok(value),
                Err(error) => match self.delay_after(attempt, &error) {
                    Some(wait) => {
                        tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, %error, "retrying");
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                    }
                    None if attempt > 1 => {
                        return Err(error.context(format_args!("after {attempt} attempts")))
                    }
                    None => return Err(error),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_in_process_wait: Duration::from_millis(5),
        }
    }

    #[tokio::test]
    async fn retries_external_until_success() {
        let calls = AtomicU32::new(0);
        let result = policy()
            .run(|| async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(Error::external("503 from Alma"))
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(result, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn gives_up_after_the_last_attempt_and_says_how_many() {
        let calls = AtomicU32::new(0);
        let error = policy()
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::external("503 from Alma"))
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(error.message(), "after 3 attempts: 503 from Alma");
    }

    #[tokio::test]
    async fn mapping_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let error = policy()
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::mapping("bad ISBN"))
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(error, Error::mapping("bad ISBN"));
    }

    #[test]
    fn long_retry_after_is_left_to_the_caller() {
        let throttled = Error::external("429").with_retry_after(Duration::from_secs(60));
        assert_eq!(policy().delay_after(1, &throttled), None);
        let short = Error::external("429").with_retry_after(Duration::from_millis(4));
        assert_eq!(
            policy().delay_after(1, &short),
            Some(Duration::from_millis(4))
        );
    }

    #[test]
    fn the_longest_call_counts_every_attempt_and_the_longest_wait_between() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.longest_call(Duration::from_secs(10)),
            Duration::from_secs(4 * 10 + 3 * 3)
        );
        let once = RetryPolicy {
            attempts: 1,
            ..policy()
        };
        assert_eq!(
            once.longest_call(Duration::from_secs(8)),
            Duration::from_secs(8)
        );
    }

    #[test]
    fn backoff_stays_under_the_ceiling() {
        let p = RetryPolicy::default();
        for attempt in 1..4 {
            let wait = p.delay_after(attempt, &Error::technical("x")).unwrap();
            assert!(wait <= p.max_delay);
        }
    }
}
