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
        let status = execution.status();
        let colour = match status {
            _ if !std::io::stdout().is_terminal() => None,
            Status::Ko => Some("31"),
            Status::Ok => Some("32"),
            Status::Running => None,
        };
        let status = match colour {
            Some(code) => format!("\x1b[{code}m{status}\x1b[0m"),
            None => status.to_string(),
        };
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
