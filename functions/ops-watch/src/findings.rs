//! What the watch finds, as pure values: each finding's kind, its key (what makes it the same
//! finding at the next watch), the interface and institution it concerns, and its line — ids and
//! counts only.

use flyt::execution::institution_of;
use flyt::execution::Execution;
use flyt::time::rfc3339;
use flyt::Category;
use serde::Serialize;

/// The kinds of finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An execution not finished after the running limit.
    Running,
    /// An item claimed, its claim lapsed long ago, never completed.
    StuckClaim,
    /// A dead-letter queue holding messages.
    DeadLetter,
    /// A cursor neither moved nor taken for longer than its schedule allows.
    StaleCursor,
    /// An execution that ended KO (or a real-time interface's day that turned KO).
    FailedExecution,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 5] = [
        Kind::Running,
        Kind::StuckClaim,
        Kind::DeadLetter,
        Kind::StaleCursor,
        Kind::FailedExecution,
    ];

    /// The kind's name in keys, counters and the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Running => "running",
            Kind::StuckClaim => "stuck_claim",
            Kind::DeadLetter => "dead_letter",
            Kind::StaleCursor => "stale_cursor",
            Kind::FailedExecution => "failed_execution",
        }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What kind.
    pub kind: Kind,
    /// Identifies the finding across watches (the marker's key).
    pub key: String,
    /// The interface concerned (the blacklist's key).
    pub interface: String,
    /// The interface's institution, when it names one.
    pub institution: Option<String>,
    /// The execution concerned, for running and failed executions.
    pub execution_id: Option<String>,
    /// The category notified (failed executions: their first error line's, found later).
    pub category: Category,
    /// What was found and where, for the watch's line and the notification.
    pub message: String,
}

fn minutes(ms: i64) -> i64 {
    ms.max(0) / 60_000
}

/// An execution not finished after `limit_ms`; `None` when it is within its time, finished, or
/// the daily execution of a real-time interface (those run all day by design).
pub fn running(execution: &Execution, now_ms: i64, limit_ms: i64) -> Option<Finding> {
    let age = now_ms - execution.started_at_ms;
    if execution.finished_at_ms.is_some() || execution.trigger == "daily" || age <= limit_ms {
        return None;
    }
    Some(Finding {
        kind: Kind::Running,
        key: format!("running#{}", execution.id),
        interface: execution.interface.clone(),
        institution: institution_of(&execution.interface),
        execution_id: Some(execution.id.clone()),
        category: Category::Technical,
        message: format!(
            "execution {} of {} has run {} min (limit {} min): started at {}, not finished; see \
             whether its function timed out or crashed (its log group), then re-run it",
            execution.id,
            execution.interface,
            minutes(age),
            minutes(limit_ms),
            rfc3339(execution.started_at_ms)
        ),
    })
}

/// An execution that failed: finished KO within the lookback, or a real-time interface's daily
/// execution (never finished) with error lines, started within the lookback. The watch's own
/// executions are not findings.
pub fn failed(
    execution: &Execution,
    now_ms: i64,
    lookback_ms: i64,
    own_interface: &str,
) -> Option<Finding> {
    let since = now_ms - lookback_ms;
    let recent = match execution.finished_at_ms {
        Some(finished) => finished >= since,
        None => execution.trigger == "daily" && execution.started_at_ms >= since,
    };
    if execution.errors == 0 || !recent || execution.interface == own_interface {
        return None;
    }
    let ended = if execution.finished_at_ms.is_some() {
        "finished KO"
    } else {
        "(the day's execution) is KO"
    };
    Some(Finding {
        kind: Kind::FailedExecution,
        key: format!("failed_execution#{}", execution.id),
        interface: execution.interface.clone(),
        institution: institution_of(&execution.interface),
        execution_id: Some(execution.id.clone()),
        category: Category::Technical,
        message: format!(
            "execution {} of {} {ended} with {} error lines",
            execution.id, execution.interface, execution.errors
        ),
    })
}

/// A failed execution's finding once its first error line's category is known.
pub fn with_first_error(mut finding: Finding, category: Option<Category>) -> Finding {
    if let Some(category) = category {
        finding.category = category;
        finding.message = format!("{} (the first: {category})", finding.message);
    }
    finding
}

/// An item's claim that lapsed more than `limit_ms` ago without completion.
pub fn stuck_claim(
    key: &str,
    token: &str,
    claim_expires_at_ms: i64,
    now_ms: i64,
    limit_ms: i64,
) -> Option<Finding> {
    let lapsed = now_ms - claim_expires_at_ms;
    if lapsed <= limit_ms {
        return None;
    }
    let (interface, institution) = claim_interface(key);
    Some(Finding {
        kind: Kind::StuckClaim,
        key: format!("stuck_claim#{key}#{token}"),
        interface,
        institution,
        execution_id: None,
        category: Category::Technical,
        message: format!(
            "item {key} in the state table is claimed but was never completed: its claim lapsed \
             {} min ago (limit {} min) at {}; its message is probably parked in a dead-letter \
             queue or expired — look there, and redrive it once the cause is fixed",
            minutes(lapsed),
            minutes(limit_ms),
            rfc3339(claim_expires_at_ms)
        ),
    })
}

/// A dead-letter queue holding messages; found once a day while it does.
pub fn dead_letter(queue_url: &str, depth: u64, now_ms: i64) -> Option<Finding> {
    if depth == 0 {
        return None;
    }
    let name = flyt::sender::queue_name(queue_url);
    let day = flyt::execution::daily_id(name, now_ms);
    Some(Finding {
        kind: Kind::DeadLetter,
        key: format!("dead_letter#{day}"),
        interface: name.to_owned(),
        institution: None,
        execution_id: None,
        category: Category::Technical,
        message: format!(
            "dead-letter queue {name} holds {depth} {}: read their flyt-error-category and \
             flyt-error-reason attributes, fix the cause, then redrive the queue",
            if depth == 1 { "message" } else { "messages" }
        ),
    })
}

/// A cursor whose last move or lease (epoch ms) is older than its limit. A cursor never moved
/// nor taken since it was created tells nothing and is not a finding.
pub fn stale_cursor(
    name: &str,
    last_activity_ms: Option<i64>,
    prefix: &str,
    limit_ms: i64,
    now_ms: i64,
) -> Option<Finding> {
    let last = last_activity_ms?;
    let quiet = now_ms - last;
    if quiet <= limit_ms {
        return None;
    }
    let (interface, institution) = cursor_interface(name);
    Some(Finding {
        kind: Kind::StaleCursor,
        key: format!("stale_cursor#{name}#{last}"),
        interface,
        institution,
        execution_id: None,
        category: Category::Technical,
        message: format!(
            "cursor {name} has been neither moved nor taken for {} min (limit {} min for cursors \
             {prefix}…): last at {}; is its schedule still running, and does its function start?",
            minutes(quiet),
            minutes(limit_ms),
            rfc3339(last)
        ),
    })
}

/// The interface (and institution) of a cursor: `bokbasen#<report>` is `bokbasen-<report>`,
/// `fs#<org>#<kind>` is `fs-poll-<org>-<kind>`; another is named by itself.
pub fn cursor_interface(name: &str) -> (String, Option<String>) {
    let parts: Vec<&str> = name.split('#').collect();
    let interface = match parts.as_slice() {
        ["bokbasen", report] => format!("bokbasen-{report}"),
        ["fs", org, kind] => format!("fs-poll-{org}-{kind}"),
        _ => name.to_owned(),
    };
    let institution = institution_of(&interface);
    (interface, institution)
}

/// The interface (and institution) whose work an ordering-store item is: Bokbasen items
/// (`objects#…`, `descriptions#…`) are their report's drain, a dispatched case
/// (`dispatch#<kind>#<org>#…`) its FS list's poll, an Inspera answer the webhook, a WISEflow answer
/// (`return#wiseflow#<org>#…`) its institution's poll, a thesis the archive; another is named by
/// its key's first part. A shadow case (`shadow#dispatch#…`) is its live case's interface.
pub fn claim_interface(key: &str) -> (String, Option<String>) {
    let key_without_mode = key.strip_prefix("shadow#").unwrap_or(key);
    let parts: Vec<&str> = key_without_mode.split('#').collect();
    let interface = match parts.as_slice() {
        [report @ ("objects" | "descriptions"), ..] => format!("bokbasen-{report}"),
        ["dispatch", kind, org, ..] => format!("fs-poll-{org}-{kind}"),
        ["return", "inspera", ..] => "inspera-webhook".to_owned(),
        ["return", "wiseflow", org, ..] => format!("wiseflow-poll-{org}"),
        ["thesis-register" | "thesis-archive", ..] => "thesis-archive".to_owned(),
        [first, ..] => (*first).to_owned(),
        [] => key.to_owned(),
    };
    let institution = institution_of(&interface);
    (interface, institution)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const MIN: i64 = 60_000;

    fn execution(
        interface: &str,
        trigger: &str,
        started: i64,
        finished: Option<i64>,
        errors: u64,
    ) -> Execution {
        Execution {
            id: format!("{interface}-20261123T100000-4f2a"),
            interface: interface.to_owned(),
            trigger: trigger.to_owned(),
            started_at_ms: started,
            finished_at_ms: finished,
            counts: BTreeMap::new(),
            errors,
        }
    }

    #[test]
    fn an_unfinished_execution_past_its_limit_is_running_too_long() {
        let now = 1_000 * MIN;
        let old = execution("fs-poll-uio-klage", "schedule", now - 75 * MIN, None, 0);
        let finding = running(&old, now, 60 * MIN).unwrap();
        assert_eq!(finding.kind, Kind::Running);
        assert_eq!(
            finding.key,
            "running#fs-poll-uio-klage-20261123T100000-4f2a"
        );
        assert_eq!(finding.interface, "fs-poll-uio-klage");
        assert_eq!(finding.institution.as_deref(), Some("uio"));
        assert!(
            finding.message.starts_with(
                "execution fs-poll-uio-klage-20261123T100000-4f2a of fs-poll-uio-klage has run 75 min (limit 60 min)"
            ),
            "{}",
            finding.message
        );
        // Within the limit, finished, or a real-time interface's day: not a finding.
        assert_eq!(
            running(
                &execution("x", "schedule", now - 59 * MIN, None, 0),
                now,
                60 * MIN
            ),
            None
        );
        assert_eq!(
            running(
                &execution("x", "schedule", now - 90 * MIN, Some(now), 0),
                now,
                60 * MIN
            ),
            None
        );
        assert_eq!(
            running(
                &execution("inspera-webhook", "daily", now - 600 * MIN, None, 0),
                now,
                60 * MIN
            ),
            None
        );
    }

    #[test]
    fn failed_executions_within_the_lookback_are_found_but_not_the_watch_itself() {
        let now = 10_000 * MIN;
        let day = 1_440 * MIN;
        let ko = execution(
            "wiseflow-poll-uib",
            "schedule",
            now - 30 * MIN,
            Some(now - 20 * MIN),
            2,
        );
        let finding = failed(&ko, now, day, "ops-watch").unwrap();
        assert_eq!(finding.interface, "wiseflow-poll-uib");
        assert_eq!(finding.institution.as_deref(), Some("uib"));
        assert_eq!(
            finding.message,
            "execution wiseflow-poll-uib-20261123T100000-4f2a of wiseflow-poll-uib finished KO with 2 error lines"
        );
        let finding = with_first_error(finding, Some(Category::Configuration));
        assert_eq!(finding.category, Category::Configuration);
        assert!(finding
            .message
            .ends_with("with 2 error lines (the first: Configuration)"));
        // A day's execution with errors is found; an OK one, an old one and the watch's are not.
        let webhook = execution("inspera-webhook", "daily", now - 60 * MIN, None, 1);
        assert!(failed(&webhook, now, day, "ops-watch")
            .unwrap()
            .message
            .contains("(the day's execution) is KO"));
        assert_eq!(
            failed(
                &execution("x", "schedule", now - 60 * MIN, Some(now), 0),
                now,
                day,
                "ops-watch"
            ),
            None
        );
        assert_eq!(
            failed(
                &execution("x", "schedule", now - 3 * day, Some(now - 2 * day), 3),
                now,
                day,
                "ops-watch"
            ),
            None
        );
        assert_eq!(
            failed(
                &execution("ops-watch", "daily", now - 60 * MIN, None, 4),
                now,
                day,
                "ops-watch"
            ),
            None
        );
        // KO but still running is left to the running check.
        assert_eq!(
            failed(
                &execution("x", "schedule", now - 60 * MIN, None, 1),
                now,
                day,
                "ops-watch"
            ),
            None
        );
    }

    #[test]
    fn claims_lapsed_long_ago_are_stuck_and_name_their_interface() {
        let now = 1_000 * MIN;
        let finding = stuck_claim(
            "dispatch#klage#uio#V123#100004",
            "tok",
            now - 61 * MIN,
            now,
            60 * MIN,
        )
        .unwrap();
        assert_eq!(
            finding.key,
            "stuck_claim#dispatch#klage#uio#V123#100004#tok"
        );
        assert_eq!(finding.interface, "fs-poll-uio-klage");
        assert_eq!(finding.institution.as_deref(), Some("uio"));
        assert!(finding.message.starts_with("item dispatch#klage#uio#V123#100004 in the state table is claimed but was never completed: its claim lapsed 61 min ago (limit 60 min)"), "{}", finding.message);
        assert_eq!(
            stuck_claim("objects#978#ol", "tok", now - 59 * MIN, now, 60 * MIN),
            None
        );
    }

    #[test]
    fn a_dead_letter_queue_with_messages_is_found_once_a_day() {
        let now = 1_764_000_000_000;
        let finding = dead_letter("http://sqs.local/123/flyt-alma-dlq", 3, now).unwrap();
        assert_eq!(finding.interface, "flyt-alma-dlq");
        assert_eq!(finding.key, "dead_letter#flyt-alma-dlq-20251124");
        assert!(finding
            .message
            .starts_with("dead-letter queue flyt-alma-dlq holds 3 messages"));
        assert_eq!(
            dead_letter("http://sqs.local/123/flyt-alma-dlq", 0, now),
            None
        );
    }

    #[test]
    fn a_cursor_quiet_past_its_limit_is_stale_once_per_quiet_spell() {
        let now = 1_000 * MIN;
        let finding = stale_cursor(
            "fs#uib#begrunnelse",
            Some(now - 45 * MIN),
            "fs#",
            30 * MIN,
            now,
        )
        .unwrap();
        assert_eq!(finding.interface, "fs-poll-uib-begrunnelse");
        assert_eq!(finding.institution.as_deref(), Some("uib"));
        assert_eq!(
            finding.key,
            format!("stale_cursor#fs#uib#begrunnelse#{}", now - 45 * MIN)
        );
        assert!(finding
            .message
            .contains("for 45 min (limit 30 min for cursors fs#…)"));
        assert_eq!(
            stale_cursor("fs#uib#klage", Some(now - 29 * MIN), "fs#", 30 * MIN, now),
            None
        );
        assert_eq!(
            stale_cursor("fs#uib#klage", None, "fs#", 30 * MIN, now),
            None
        );
    }

    #[test]
    fn interfaces_and_institutions_follow_the_functions_names() {
        // `flyt::execution::institution_of` has its own tests; cursors and claims map onto it.
        assert_eq!(
            cursor_interface("bokbasen#objects"),
            ("bokbasen-objects".to_owned(), None)
        );
        assert_eq!(
            cursor_interface("fs#uio#klage"),
            ("fs-poll-uio-klage".to_owned(), Some("uio".to_owned()))
        );
        assert_eq!(cursor_interface("other"), ("other".to_owned(), None));
        assert_eq!(
            claim_interface("descriptions#9788205000000#long").0,
            "bokbasen-descriptions"
        );
        assert_eq!(
            claim_interface("return#inspera#uio-inspera#explanation#7#8").0,
            "inspera-webhook"
        );
        assert_eq!(
            claim_interface("return#wiseflow#uib#5001#20001"),
            ("wiseflow-poll-uib".to_owned(), Some("uib".to_owned()))
        );
        assert_eq!(
            claim_interface("thesis-archive#thesis#uib#wiseflow#5001#610004").0,
            "thesis-archive"
        );
        assert_eq!(claim_interface("custom#x").0, "custom");
    }
}
