//! What the local runner prints: progress while queues drain, and a report per Bokbasen report
//! with its counts and execution status.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

use flyt::execution::Status;

use crate::platform::{DrainStats, Local};

/// The counters shown per report, in order: what was read, what was sent on, what became of it.
const COUNTERS: [&str; 10] = [
    "fetched",
    "enqueued",
    "applied",
    "unchanged",
    "already_applied",
    "superseded",
    "no_record",
    "parked",
    "retried",
    "deferred",
];

/// One progress line (overwritten in place on a terminal).
pub fn print_progress(depths: &BTreeMap<String, u64>, local: &Local) {
    let queues: Vec<String> = depths.iter().map(|(q, d)| format!("{q}={d}")).collect();
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r  in queues: {}  | Alma records: {}   ",
        queues.join(" "),
        local.sandbox.alma.records().len()
    );
    let _ = err.flush();
}

/// The report of a run: per Bokbasen report, the newest execution's counts and status; the
/// dead-letter queues; the AWS requests made.
pub async fn print_report(local: &Local, stats: &DrainStats) -> Result<(), String> {
    let executions = flyt::execution::ExecutionStore::new(
        local.aws.dynamodb.clone(),
        local.table("ExecutionsTable"),
    );
    println!(
        "drained in {:.1}s: {} invocations, {} messages received, {} redelivered",
        stats.elapsed.as_secs_f64(),
        stats.invocations,
        stats.received,
        stats.failed
    );
    println!(
        "{:<14}{}  status",
        "report",
        COUNTERS.map(|c| format!("{c:>16}")).join("")
    );
    for report in flyt::bokbasen::Report::ALL {
        let list = executions
            .list(&format!("bokbasen-{report}"), 10)
            .await
            .map_err(|e| e.to_string())?;
        let Some(execution) = list
            .iter()
            .find(|e| e.count("fetched") > 0)
            .or(list.first())
        else {
            println!("{report:<14} no execution");
            continue;
        };
        let counts = COUNTERS
            .map(|c| format!("{:>16}", execution.count(c)))
            .join("");
        let status = coloured(execution.status());
        println!("{report:<14}{counts}  {status}  ({})", execution.id);
        for line in executions
            .lines(&execution.id)
            .await
            .map_err(|e| e.to_string())?
        {
            if let Some(category) = line.category {
                println!("    [{category}] {}", line.message);
            }
        }
    }
    for (queue, depth) in local.dead_letter_depths().await? {
        println!("dead-letter queue {queue}: {depth} messages");
    }
    println!(
        "Alma: {} records, {} updates, {} repeated writes",
        local.sandbox.alma.records().len(),
        local.sandbox.alma.effects_total(),
        local.sandbox.alma.duplicate_writes()
    );
    println!(
        "AWS requests by the handlers: {:?}",
        local.handler_requests.by_service()
    );
    println!(
        "AWS requests by the local pollers: {:?}",
        local.poller_requests.by_service()
    );
    Ok(())
}

/// A status, red or green on a terminal.
fn coloured(status: Status) -> String {
    let colour = match status {
        _ if !std::io::stdout().is_terminal() => None,
        Status::Ko => Some("31"),
        Status::Ok => Some("32"),
        Status::Running => None,
    };
    match colour {
        Some(code) => format!("\x1b[{code}m{status}\x1b[0m"),
        None => status.to_string(),
    }
}

/// The appeals and explanations flow per institution: what FS listed, what reached the exam
/// system, what came back to FS — summed over the institution's executions, with the worst status.
pub async fn print_appeals_report(local: &Local) -> Result<(), String> {
    let executions = flyt::execution::ExecutionStore::new(
        local.aws.dynamodb.clone(),
        local.table("ExecutionsTable"),
    );
    let counters: [(&str, &[&str]); 7] = [
        ("read from FS", &["read"]),
        ("queued", &["queued"]),
        (
            "appeals in exam system",
            &[
                "appeal_registered",
                "reassessment_created",
                "reassessment_existing",
            ],
        ),
        (
            "withdrawn",
            &[
                "appeal_withdrawn",
                "withdrawn_before_registration",
                "withdrawal_noted",
            ],
        ),
        ("explanations requested", &["explanation_requested"]),
        (
            "repeats or superseded",
            &[
                "already_applied",
                "explanation_already_requested",
                "appeal_already_registered",
                "superseded",
            ],
        ),
        ("parked", &["parked", "failed"]),
    ];
    println!();
    println!("appeals and explanations (FS -> exam systems -> FS)");
    println!(
        "{:<12}{:<10}{}{:>24}  status",
        "institution",
        "system",
        counters.map(|(name, _)| format!("{name:>24}")).join(""),
        "answers in FS"
    );
    let entries = flyt::institution::InstitutionStore::new(
        local.aws.dynamodb.clone(),
        local.table("ConfigTable"),
    )
    .active()
    .await
    .map_err(|e| e.to_string())?;
    for (org, institution) in entries {
        let system = institution
            .as_ref()
            .map(|i| i.exam_system.to_string())
            .unwrap_or_else(|_| "-".to_owned());
        let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
        let mut worst = Status::Ok;
        let mut lines = Vec::new();
        for interface in [
            format!("fs-poll-{org}"),
            format!("fs-poll-{org}-klage"),
            format!("fs-poll-{org}-begrunnelse"),
        ] {
            for execution in executions
                .list(&interface, 100)
                .await
                .map_err(|e| e.to_string())?
            {
                for (name, parts) in &counters {
                    *totals.entry(name).or_default() +=
                        parts.iter().map(|p| execution.count(p)).sum::<u64>();
                }
                if execution.status() == Status::Ko {
                    worst = Status::Ko;
                    lines.extend(
                        executions
                            .lines(&execution.id)
                            .await
                            .map_err(|e| e.to_string())?
                            .into_iter()
                            .filter(|l| l.category.is_some()),
                    );
                }
            }
        }
        let counts = counters
            .map(|(name, _)| format!("{:>24}", totals.get(name).copied().unwrap_or(0)))
            .join("");
        let in_fs = match &institution {
            Ok(i) => answers_in_fs(local, &i.institusjonsnr),
            Err(_) => 0,
        };
        println!(
            "{org:<12}{system:<10}{counts}{in_fs:>24}  {}",
            coloured(worst)
        );
        for line in lines.iter().take(5) {
            if let Some(category) = line.category {
                println!("    [{category}] {}", line.message);
            }
        }
    }
    let fs = &local.sandbox.fs;
    let registered = fs.registered_explanations();
    for system in ["INSPERA", "WISEFLOW"] {
        println!(
            "FS holds {} explanations from {system}",
            registered
                .iter()
                .filter(|r| r.exam_system == system)
                .count()
        );
    }
    println!(
        "FS holds {} appeal decisions; {} repeated registrations answered \"uendret\"",
        fs.registered_decisions().len(),
        fs.duplicate_registrations()
    );
    println!(
        "Inspera: {} explanation requests, {} made twice; WISEflow: {} reassessment flows, {} explanation requests",
        local.sandbox.inspera.explanations().len(),
        local.sandbox.inspera.duplicate_explanation_requests(),
        local.sandbox.wiseflow.reassessments().len(),
        local.sandbox.wiseflow.explanation_requests().len()
    );
    Ok(())
}

/// Explanations and decisions FS holds for the cases of one institution.
fn answers_in_fs(local: &Local, institusjonsnr: &str) -> usize {
    let fs = &local.sandbox.fs;
    let cases: std::collections::BTreeSet<(String, String)> = fs
        .appeals(institusjonsnr)
        .into_iter()
        .map(|a| (a.assessment_id, a.candidate_number))
        .chain(
            fs.explanation_requests(institusjonsnr)
                .into_iter()
                .map(|r| (r.assessment_id, r.candidate_number)),
        )
        .collect();
    let explanations = fs
        .registered_explanations()
        .into_iter()
        .filter(|e| cases.contains(&(e.assessment_id.clone(), e.candidate_number.clone())))
        .count();
    let decisions = fs
        .registered_decisions()
        .into_iter()
        .filter(|d| cases.contains(&(d.assessment_id.clone(), d.candidate_number.clone())))
        .count();
    explanations + decisions
}

/// The theses of the whole run, by what became of them (from the theses table, so the sweeps of
/// every round count, the first included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThesisCounts {
    /// Theses registered.
    pub known: usize,
    /// Theses whose appeal and explanation deadlines have passed: archived, failed or postponed.
    pub due: usize,
    /// Archived, with a manifest.
    pub archived: usize,
    /// Failed, with the reason.
    pub failed: usize,
    /// Due but pending: an open appeal or explanation request holds them back.
    pub postponed: usize,
    /// Pending before their deadlines.
    pub not_yet_due: usize,
    /// Pending without a grade: handed in, not graded yet.
    pub awaiting_grade: usize,
}

impl ThesisCounts {
    /// Counts `theses` at `now_ms`.
    pub fn of(theses: &[flyt::thesis_store::StoredThesis], now_ms: i64) -> Self {
        use flyt::thesis_store::ThesisStatus;
        let mut counts = ThesisCounts {
            known: theses.len(),
            ..ThesisCounts::default()
        };
        for thesis in theses {
            match (thesis.status, thesis.thesis.due_at_ms) {
                (ThesisStatus::Archived, _) => counts.archived += 1,
                (ThesisStatus::Failed, _) => counts.failed += 1,
                (ThesisStatus::Pending, None) => counts.awaiting_grade += 1,
                (ThesisStatus::Pending, Some(due)) if due <= now_ms => counts.postponed += 1,
                (ThesisStatus::Pending, Some(_)) => counts.not_yet_due += 1,
            }
        }
        counts.due = counts.archived + counts.failed + counts.postponed;
        counts
    }
}

/// The thesis archive over the whole run: the theses by what became of them (due: archived,
/// failed, postponed with the open cases), the last sweep's counts, and every failure's reason.
pub async fn print_thesis_report(local: &Local, sweep: &serde_json::Value) -> Result<(), String> {
    use flyt::thesis_store::{Holds, ThesisStatus, ThesisStore};
    let store = ThesisStore::new(local.aws.dynamodb.clone(), local.table("ThesesTable"));
    let holds = Holds::new(local.aws.dynamodb.clone(), local.table("StateTable"));
    let theses = store.all().await.map_err(|e| e.to_string())?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let counts = ThesisCounts::of(&theses, now_ms);
    println!();
    println!("master-thesis archive");
    println!(
        "theses: {} known, {} due: {} archived, {} failed, {} postponed (open appeal or explanation request); {} not yet due, {} awaiting grading",
        counts.known,
        counts.due,
        counts.archived,
        counts.failed,
        counts.postponed,
        counts.not_yet_due,
        counts.awaiting_grade
    );
    println!(
        "last sweep: {} WISEflow theses seen, {} graded since registered, {} due, {} queued, {} postponed, {} appeal holds released (WISEflow reassessment graded)",
        sweep["discovered"], sweep["graded"], sweep["due"], sweep["queued"], sweep["postponed"], sweep["released"]
    );
    for thesis in &theses {
        match thesis.status {
            ThesisStatus::Failed => println!(
                "    {} {}",
                thesis.thesis.id,
                thesis.reason.as_deref().unwrap_or("(no reason)")
            ),
            ThesisStatus::Pending if thesis.thesis.due_at_ms.is_some_and(|d| d <= now_ms) => {
                let open = holds
                    .open_for(&thesis.thesis.org_id, &thesis.thesis.kandidatnr)
                    .await
                    .map_err(|e| e.to_string())?;
                let cases: Vec<String> = open.iter().map(ToString::to_string).collect();
                println!(
                    "    {} postponed: open {}",
                    thesis.thesis.id,
                    if cases.is_empty() {
                        "nothing now (the next sweep queues it)".to_owned()
                    } else {
                        cases.join(" and ")
                    }
                );
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flyt::thesis_store::{PendingThesis, StoredThesis, ThesisSource, ThesisStatus};

    fn thesis(n: u64, status: ThesisStatus, due_at_ms: Option<i64>) -> StoredThesis {
        let source = ThesisSource::Wiseflow {
            flow_id: 1,
            submission_id: n,
        };
        StoredThesis {
            thesis: PendingThesis {
                id: PendingThesis::id_of("uib", &source),
                org_id: "uib".into(),
                source,
                kandidatnr: n.to_string(),
                graded_at: due_at_ms.map(|_| "2026-01-01T00:00:00+00:00".into()),
                due_at_ms,
            },
            status,
            reason: None,
        }
    }

    #[test]
    fn thesis_counts_cover_the_whole_run() {
        let now = 1_000;
        let theses = [
            thesis(1, ThesisStatus::Archived, Some(10)),
            thesis(2, ThesisStatus::Archived, Some(20)),
            thesis(3, ThesisStatus::Failed, Some(30)),
            thesis(4, ThesisStatus::Pending, Some(now)),
            thesis(5, ThesisStatus::Pending, Some(now + 1)),
            thesis(6, ThesisStatus::Pending, None),
        ];
        assert_eq!(
            ThesisCounts::of(&theses, now),
            ThesisCounts {
                known: 6,
                due: 4,
                archived: 2,
                failed: 1,
                postponed: 1,
                not_yet_due: 1,
                awaiting_grade: 1,
            }
        );
    }
}
