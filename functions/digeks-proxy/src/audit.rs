//! One audit record per call: who (client and key id), for which institution and exam, which
//! operation, the status, success and latency — and, for a refusal, why. Never a candidate,
//! person number, name, user name or e-mail: those live in bodies, which are never logged.
//!
//! A write to FS gets a second line, `phase=forwarding`, written before the request leaves: if
//! Lambda kills the call while FS works on it, the attempt is still on record, and a forwarding
//! line without an `outcome` line of the same `request_id` is a write whose result is unknown.

use flyt::execution::LogLine;

/// The audit record of one call, filled in as the call proceeds.
#[derive(Clone, Debug, Default)]
pub struct Audit {
    /// API Gateway's request id.
    pub request_id: String,
    /// The client, once known.
    pub client_id: String,
    /// The key used (empty for the password variant or before authentication).
    pub key_id: String,
    /// The operation's id, once known.
    pub operation: &'static str,
    /// The institution acted for, once known.
    pub institution: String,
    /// The exam, when the call concerns one.
    pub vurd_id: String,
    /// Why the proxy refused the call, if it did.
    pub reason: String,
    /// Milliseconds spent waiting for FS.
    pub fs_ms: u64,
    /// `unchecked` when grades went to FS without a scale to check them against (the
    /// institution's `digeks_grades_without_scale` is `forward`); empty otherwise.
    pub grade_scale: &'static str,
}

impl Audit {
    /// One audit line: who, what and for whom, and — for an outcome — status, success, latency,
    /// FS's share and why it was refused (a field left out when `None`).
    fn line(
        &self,
        phase: &'static str,
        method: &str,
        outcome: Option<(u16, bool, u64)>,
        message: &'static str,
    ) {
        tracing::info!(
            target: "audit",
            phase,
            request_id = %self.request_id,
            client_id = %self.client_id,
            key_id = %self.key_id,
            operation = self.operation,
            method,
            institution = %self.institution,
            vurd_id = %self.vurd_id,
            status = outcome.map(|(status, _, _)| status),
            success = outcome.map(|(_, success, _)| success),
            latency_ms = outcome.map(|(_, _, latency_ms)| latency_ms),
            fs_ms = outcome.map(|_| self.fs_ms),
            reason = outcome.map(|_| self.reason.as_str()),
            grade_scale = self.grade_scale,
            "{message}"
        );
    }

    /// The execution counter this call adds to.
    pub fn counter(status: u16) -> &'static str {
        match status {
            200..=299 => "ok",
            401 => "unauthenticated",
            403 => "forbidden",
            429 => "rate_limited",
            400..=499 => "rejected",
            _ => "failed",
        }
    }

    /// Writes the line that a write is about to be forwarded to FS (target `audit`,
    /// `phase=forwarding`), before it is sent.
    pub fn emit_forwarding(&self, method: &str) {
        self.line("forwarding", method, None, "digeks write forwarded to FS");
    }

    /// Writes the audit line (target `audit`, `phase=outcome`) and returns the execution line
    /// worth an operator's attention: forbidden attempts and FS failures.
    pub fn emit(&self, method: &str, status: u16, latency_ms: u64) -> Option<LogLine> {
        let success = (200..300).contains(&status);
        self.line(
            "outcome",
            method,
            Some((status, success, latency_ms)),
            "digeks call",
        );
        match status {
            403 => Some(LogLine::warning(format!(
                "client {} was refused {} for institution {}: {}",
                self.client_id, self.operation, self.institution, self.reason
            ))),
            500..=599 => Some(LogLine::warning(format!(
                "{} for client {} failed ({status}): {}",
                self.operation, self.client_id, self.reason
            ))),
            _ if success && !self.grade_scale.is_empty() => Some(LogLine::warning(format!(
                "{} for client {} on exam {}: grades forwarded {} (FS gives the exam no grade scale)",
                self.operation, self.client_id, self.vurd_id, self.grade_scale
            ))),
            _ => None,
        }
    }
}
