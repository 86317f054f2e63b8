//! The time budget of a consuming function: when its invocation ends, when it stops starting
//! items, and the inequalities between its call timeouts, its Lambda timeout, its claim lease and
//! its queue's visibility timeout that keep every effect to once.
//!
//! Pure: the pipeline reads [`Deadline`] and [`Limits`]; a test reads [`Budget`] from
//! `template.yaml` for every consumer, as deployed and as run locally.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// AWS's guidance for SQS event sources: a queue's visibility timeout at least six times the
/// function's timeout, so Lambda can retry a throttled invocation before the batch reappears.
pub const AWS_VISIBILITY_FACTOR: u32 = 6;

/// Lambda's longest function timeout.
pub const LONGEST_LAMBDA_TIMEOUT: Duration = Duration::from_secs(900);

/// When the current invocation ends: Lambda's deadline, after which the invocation is killed and
/// nothing it did not report counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline(Instant);

impl Deadline {
    /// The deadline Lambda gives the invocation (`Context::deadline`, epoch milliseconds).
    ///
    /// Lambda's deadline is always ahead when an invocation begins. One already past cannot be
    /// Lambda's (cargo-lambda's local runtime sends the constant 600000, in 1970): it is read as
    /// Lambda's longest timeout from now, [`LONGEST_LAMBDA_TIMEOUT`], and said in a warning, so
    /// the claim lease alone bounds the batch.
    pub fn from_context(context: &lambda_runtime::Context) -> Self {
        let deadline = Deadline::from_epoch_ms(context.deadline);
        if deadline.instant() > Instant::now() {
            return deadline;
        }
        tracing::warn!(
            deadline_ms = context.deadline,
            "the runtime's deadline has passed before the invocation began, which Lambda never does; reading it as Lambda's longest timeout from now"
        );
        Deadline::after(LONGEST_LAMBDA_TIMEOUT)
    }

    /// A deadline at `epoch_ms` (milliseconds since the Unix epoch).
    pub fn from_epoch_ms(epoch_ms: u64) -> Self {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Deadline::after(Duration::from_millis(epoch_ms.saturating_sub(now_ms)))
    }

    /// A deadline `timeout` from now (a local invocation with the function's timeout).
    pub fn after(timeout: Duration) -> Self {
        Deadline(Instant::now() + timeout)
    }

    /// The instant the invocation ends.
    pub fn instant(self) -> Instant {
        self.0
    }
}

/// When a batch stops starting items and when it abandons the ones still in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// No item starts at or after this instant.
    pub start_by: Instant,
    /// An item still in flight then is abandoned (and retried), leaving the finish reserve for
    /// releasing, recording and answering before Lambda's deadline.
    pub cut_at: Instant,
    /// Why `start_by` is where it is, for the error of an item that was not started.
    pub start_by_reason: StopReason,
}

/// Which bound set the stop point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Half the claim lease after the batch's claim.
    HalfLease(Duration),
    /// The invocation's deadline less the finish reserve.
    Deadline(Duration),
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::HalfLease(d) => write!(
                f,
                "half the claim lease ({}s) after the batch's claim",
                d.as_secs()
            ),
            StopReason::Deadline(d) => {
                write!(f, "{} ms before the invocation's deadline", d.as_millis())
            }
        }
    }
}

impl Limits {
    /// The limits of a batch claimed at `claimed_at`: items start until the earlier of half the
    /// lease after the claim and the deadline less `reserve`; in-flight items are cut at the
    /// deadline less `reserve` (their claims are renewed until then).
    pub fn new(
        claimed_at: Instant,
        lease: Duration,
        deadline: Deadline,
        reserve: Duration,
    ) -> Self {
        let half_lease = claimed_at + lease / 2;
        let cut_at = deadline
            .instant()
            .checked_sub(reserve)
            .unwrap_or(claimed_at);
        if half_lease <= cut_at {
            Limits {
                start_by: half_lease,
                cut_at,
                start_by_reason: StopReason::HalfLease(lease / 2),
            }
        } else {
            Limits {
                start_by: cut_at,
                cut_at,
                start_by_reason: StopReason::Deadline(reserve),
            }
        }
    }
}

/// One consumer's time budget, as configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The longest one external call may take with all its retries and backoffs.
    pub longest_call: Duration,
    /// The Lambda function's timeout.
    pub timeout: Duration,
    /// Time kept at the end of an invocation for releasing, recording and answering.
    pub finish_reserve: Duration,
    /// How long a claim protects work in progress without renewal.
    pub claim_lease: Duration,
    /// The consumed queue's visibility timeout.
    pub visibility_timeout: Duration,
}

impl Budget {
    /// Seconds after the invocation's start (the claim comes right after it) at which the
    /// pipeline stops starting items.
    pub fn stop_point(&self) -> Duration {
        (self.claim_lease / 2).min(self.timeout.saturating_sub(self.finish_reserve))
    }

    /// Every inequality the budget breaks, each naming both sides; empty when it holds:
    /// - the longest call fits before the stop point, so a call started at once is never cut;
    /// - the stop point comes before the timeout, leaving the finish reserve;
    /// - the timeout is shorter than the lease, so no claim lapses while its invocation lives;
    /// - the lease is shorter than the visibility timeout, and a claim renewed until the
    ///   deadline has lapsed before a killed batch reappears (timeout + lease ≤ visibility).
    pub fn violations(&self) -> Vec<String> {
        let stop = self.stop_point();
        let mut broken = Vec::new();
        let mut check = |holds: bool, text: String| {
            if !holds {
                broken.push(text);
            }
        };
        check(
            self.longest_call < stop,
            format!(
                "the longest call with its retries ({}) is not shorter than the stop point ({})",
                secs(self.longest_call),
                secs(stop)
            ),
        );
        check(
            stop < self.timeout,
            format!(
                "the stop point ({}) is not shorter than the timeout ({})",
                secs(stop),
                secs(self.timeout)
            ),
        );
        check(
            self.timeout < self.claim_lease,
            format!(
                "the timeout ({}) is not shorter than the claim lease ({})",
                secs(self.timeout),
                secs(self.claim_lease)
            ),
        );
        check(
            self.claim_lease < self.visibility_timeout,
            format!(
                "the claim lease ({}) is not shorter than the visibility timeout ({})",
                secs(self.claim_lease),
                secs(self.visibility_timeout)
            ),
        );
        check(
            self.timeout + self.claim_lease <= self.visibility_timeout,
            format!(
                "a claim renewed until the deadline lapses {} after the start, later than a killed batch reappears ({})",
                secs(self.timeout + self.claim_lease),
                secs(self.visibility_timeout)
            ),
        );
        broken
    }

    /// Where the budget departs from AWS's guidance for SQS event sources (visibility timeout at
    /// least [`AWS_VISIBILITY_FACTOR`] times the function's timeout). Checked for the deployed
    /// template; the local stand-in does not throttle, so its shorter queues need not follow it.
    pub fn aws_guidance_violations(&self) -> Vec<String> {
        let wanted = self.timeout * AWS_VISIBILITY_FACTOR;
        if self.visibility_timeout >= wanted {
            Vec::new()
        } else {
            vec![format!(
                "the visibility timeout ({}) is less than {AWS_VISIBILITY_FACTOR} times the timeout ({})",
                secs(self.visibility_timeout),
                secs(wanted)
            )]
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> Budget {
        Budget {
            longest_call: Duration::from_secs(49),
            timeout: Duration::from_secs(90),
            finish_reserve: Duration::from_secs(5),
            claim_lease: Duration::from_secs(180),
            visibility_timeout: Duration::from_secs(540),
        }
    }

    #[test]
    fn a_consistent_budget_has_no_violations() {
        assert_eq!(budget().stop_point(), Duration::from_secs(85));
        assert_eq!(budget().violations(), Vec::<String>::new());
        assert_eq!(budget().aws_guidance_violations(), Vec::<String>::new());
    }

    #[test]
    fn each_broken_inequality_is_named() {
        let slow_call = Budget {
            longest_call: Duration::from_secs(85),
            ..budget()
        };
        assert_eq!(slow_call.violations().len(), 1);
        assert!(slow_call.violations()[0].contains("longest call"));
        let short_lease = Budget {
            claim_lease: Duration::from_secs(90),
            ..budget()
        };
        let broken = short_lease.violations();
        assert!(
            broken
                .iter()
                .any(|v| v.contains("not shorter than the claim lease")),
            "{broken:?}"
        );
        let no_reserve = Budget {
            finish_reserve: Duration::ZERO,
            claim_lease: Duration::from_secs(200),
            ..budget()
        };
        assert!(no_reserve.violations()[0]
            .contains("stop point (90.0 s) is not shorter than the timeout"));
        let short_visibility = Budget {
            visibility_timeout: Duration::from_secs(200),
            ..budget()
        };
        let broken = short_visibility.violations();
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert!(broken[0].contains("270.0 s"), "{broken:?}");
        assert_eq!(short_visibility.aws_guidance_violations().len(), 1);
        let lease_past_visibility = Budget {
            claim_lease: Duration::from_secs(600),
            ..budget()
        };
        assert_eq!(lease_past_visibility.violations().len(), 2);
    }

    #[test]
    fn the_stop_point_is_the_earlier_of_half_the_lease_and_the_deadline_less_the_reserve() {
        let now = Instant::now();
        let reserve = Duration::from_secs(4);
        let far = Deadline(now + Duration::from_secs(100));
        let limits = Limits::new(now, Duration::from_secs(30), far, reserve);
        assert_eq!(limits.start_by, now + Duration::from_secs(15));
        assert_eq!(limits.cut_at, now + Duration::from_secs(96));
        assert_eq!(
            limits.start_by_reason,
            StopReason::HalfLease(Duration::from_secs(15))
        );
        let near = Deadline(now + Duration::from_secs(10));
        let limits = Limits::new(now, Duration::from_secs(30), near, reserve);
        assert_eq!(limits.start_by, now + Duration::from_secs(6));
        assert_eq!(limits.cut_at, now + Duration::from_secs(6));
        assert_eq!(limits.start_by_reason, StopReason::Deadline(reserve));
        assert_eq!(
            limits.start_by_reason.to_string(),
            "4000 ms before the invocation's deadline"
        );
    }

    #[tokio::test]
    async fn a_deadline_from_lambda_counts_from_now() {
        let in_a_minute = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            + 60_000;
        let left = Deadline::from_epoch_ms(in_a_minute).instant() - Instant::now();
        assert!(
            left > Duration::from_secs(59) && left <= Duration::from_secs(60),
            "{left:?}"
        );
        let past = Deadline::from_epoch_ms(1);
        assert!(past.instant() <= Instant::now());
    }

    #[tokio::test]
    async fn a_deadline_already_past_is_not_lambdas_and_reads_as_its_longest_timeout() {
        let mut context = lambda_runtime::Context::default();
        context.deadline = 600_000;
        let left = Deadline::from_context(&context).instant() - Instant::now();
        assert!(
            left > LONGEST_LAMBDA_TIMEOUT - Duration::from_secs(1)
                && left <= LONGEST_LAMBDA_TIMEOUT,
            "{left:?}"
        );
        let in_a_minute = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            + 60_000;
        context.deadline = in_a_minute;
        let left = Deadline::from_context(&context).instant() - Instant::now();
        assert!(left <= Duration::from_secs(60), "{left:?}");
    }
}
