//! `flyt executions`: what ran and how it went — the newest executions with the failed ones
//! first, one execution with every log line and what to do about each error, and an execution
//! exported as XLSX or CSV to pass on ([`flyt::export`]).
//!
//! Times on the terminal are local; in JSON and in exports they are RFC 3339 UTC.

use std::cmp::Reverse;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use chrono::{DateTime, Local, SecondsFormat};
use clap::{Args, Subcommand, ValueEnum};
use flyt::execution::{Execution, ExecutionStore, Level, LogLine, Status};
use flyt::time::{now_ms, rfc3339};
use flyt::{export, Error, Result};
use serde_json::json;

use crate::context::Context;
use crate::output::{fields, printable};

/// The `executions` commands.
#[derive(Debug, Subcommand)]
pub enum ExecutionsCommand {
    /// Lists the newest executions: KO first, then RUNNING, then OK, each newest first.
    List(ListArgs),
    /// Shows an execution: its status, times and counters, and every log line, with what to do
    /// about each error.
    Show(ShowArgs),
    /// Writes an execution and its log lines to an XLSX or CSV file, and prints the file's path
    /// and the number of lines written.
    Export(ExportArgs),
}

/// `flyt executions list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only the executions of this interface (e.g. bokbasen-objects, fs-poll-185-klage).
    #[arg(long, value_name = "NAME")]
    pub interface: Option<String>,
    /// Only the executions with this status, among the newest --limit.
    #[arg(long, value_enum, ignore_case = true)]
    pub status: Option<StatusFilter>,
    /// How many of the newest executions to look at.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
}

/// A status to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFilter {
    /// At least one error line.
    Ko,
    /// Finished without an error line.
    Ok,
    /// Not finished yet.
    Running,
}

impl StatusFilter {
    /// The status as executions show it: KO, OK or RUNNING.
    pub fn label(self) -> &'static str {
        match self {
            StatusFilter::Ko => "KO",
            StatusFilter::Ok => "OK",
            StatusFilter::Running => "RUNNING",
        }
    }

    /// Whether an execution with `status` is listed.
    pub fn matches(self, status: Status) -> bool {
        matches!(
            (self, status),
            (StatusFilter::Ko, Status::Ko)
                | (StatusFilter::Ok, Status::Ok)
                | (StatusFilter::Running, Status::Running)
        )
    }
}

/// `flyt executions show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The execution's id, as `flyt executions list` shows it.
    #[arg(value_parser = execution_id)]
    pub id: String,
    /// Prints JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `flyt executions export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The execution's id, as `flyt executions list` shows it.
    #[arg(value_parser = execution_id)]
    pub id: String,
    /// The file format: xlsx (a worksheet for the execution, one for its lines) or csv (the lines).
    #[arg(long, value_enum, ignore_case = true)]
    pub format: ExportFormat,
    /// Where to write it; `-` for stdout. Default: `<ID>.xlsx` or `<ID>.csv` in the current
    /// directory. An existing file is replaced.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// An export's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// An Excel workbook.
    Xlsx,
    /// Comma-separated values (RFC 4180).
    Csv,
}

impl ExportFormat {
    /// The file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Xlsx => "xlsx",
            ExportFormat::Csv => "csv",
        }
    }
}

/// Runs an `executions` command.
pub async fn run(command: ExecutionsCommand, context: &Context) -> Result<()> {
    if let ExecutionsCommand::Export(args) = &command {
        check_destination(args)?;
    }
    let store = context.execution_store().await?;
    match command {
        ExecutionsCommand::List(args) => list(&store, &args).await,
        ExecutionsCommand::Show(args) => {
            let (execution, lines) = read(&store, &args.id).await?;
            if args.json {
                print!("{}", show_json(&execution, &lines));
            } else {
                print!("{}", show_text(&execution, &lines, colour_stdout()));
            }
            Ok(())
        }
        ExecutionsCommand::Export(args) => write_export(&store, &args).await,
    }
}

async fn list(store: &ExecutionStore, args: &ListArgs) -> Result<()> {
    let newest = match &args.interface {
        Some(interface) => {
            let limit = i32::try_from(args.limit).unwrap_or(i32::MAX);
            store.list(interface, limit).await?
        }
        None => store.recent(args.limit as usize).await?,
    };
    let mut executions: Vec<Execution> = newest
        .into_iter()
        .filter(|e| args.status.is_none_or(|status| status.matches(e.status())))
        .collect();
    if executions.is_empty() {
        let of = args
            .interface
            .as_ref()
            .map(|i| format!(" of {i}"))
            .unwrap_or_default();
        let with = args
            .status
            .map(|s| format!(" {}", s.label()))
            .unwrap_or_default();
        println!("no{with} executions{of} among the newest {}", args.limit);
        return Ok(());
    }
    order(&mut executions);
    print!("{}", list_table(&executions, now_ms(), colour_stdout()));
    Ok(())
}

/// Orders executions for operators: KO first, then RUNNING, then OK; each group newest first.
pub fn order(executions: &mut [Execution]) {
    executions.sort_by_key(|e| {
        let rank = match e.status() {
            Status::Ko => 0,
            Status::Running => 1,
            Status::Ok => 2,
        };
        (rank, Reverse(e.started_at_ms), Reverse(e.id.clone()))
    });
}

/// The list as aligned columns under a header: status, interface, id, started (local time),
/// duration (so far, while running; `now_ms` is now), errors and the non-zero counters. The
/// status is coloured when `colour` is set.
pub fn list_table(executions: &[Execution], now_ms: i64, colour: bool) -> String {
    const HEADER: [&str; 7] = [
        "STATUS",
        "INTERFACE",
        "ID",
        "STARTED",
        "DURATION",
        "ERRORS",
        "COUNTERS",
    ];
    let rows: Vec<[String; 7]> = executions
        .iter()
        .map(|e| {
            [
                e.status().to_string(),
                e.interface.clone(),
                e.id.clone(),
                local_time(e.started_at_ms, SecondsFormat::Secs),
                duration(e.finished_at_ms.unwrap_or(now_ms) - e.started_at_ms),
                e.errors.to_string(),
                counters(e, " "),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 7], status: Option<Status>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let padded = if i + 1 == cells.len() {
                cell.to_string()
            } else {
                format!("{cell:<width$}  ", width = widths[i])
            };
            match (i, status) {
                (0, Some(status)) => text.push_str(&paint(&padded, status, colour)),
                _ => text.push_str(&padded),
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(HEADER, None);
    for (execution, row) in executions.iter().zip(&rows) {
        line(
            [
                &row[0], &row[1], &row[2], &row[3], &row[4], &row[5], &row[6],
            ],
            Some(execution.status()),
        );
    }
    out
}

async fn read(store: &ExecutionStore, id: &str) -> Result<(Execution, Vec<LogLine>)> {
    let execution = store.get(id).await?.ok_or_else(|| no_execution(id))?;
    let lines = store.lines(id).await?;
    Ok((execution, lines))
}

/// The error for an execution id that is not in the table.
pub fn no_execution(id: &str) -> Error {
    Error::configuration(format!(
        "no execution {id} in the executions table: `flyt executions list` shows the newest \
         (executions are kept 90 days)"
    ))
}

/// An execution as text: its head, then every log line (local time, level, category, message)
/// with, under each error, what to do about it.
pub fn show_text(execution: &Execution, lines: &[LogLine], colour: bool) -> String {
    let status = execution.status();
    let finished = match execution.finished_at_ms {
        Some(at) => local_time(at, SecondsFormat::Millis),
        None => "not yet".to_owned(),
    };
    let took = duration(execution.finished_at_ms.unwrap_or_else(now_ms) - execution.started_at_ms);
    let counters = match counters(execution, ", ") {
        c if c.is_empty() => "none".to_owned(),
        c => c,
    };
    let mut out = fields(&[
        ("execution", execution.id.clone()),
        ("interface", execution.interface.clone()),
        ("status", paint(&status.to_string(), status, colour)),
        ("trigger", execution.trigger.clone()),
        (
            "started",
            local_time(execution.started_at_ms, SecondsFormat::Millis),
        ),
        ("finished", finished),
        (
            "duration",
            match execution.finished_at_ms {
                Some(_) => took,
                None => format!("{took} so far"),
            },
        ),
        ("errors", execution.errors.to_string()),
        ("counters", counters),
    ]);
    out.push_str(&format!("\n{}:\n", plural(lines.len(), "log line")));
    for line in lines {
        let level = level_name(line.level);
        let level = match (line.level, colour) {
            (Level::Error, true) => format!("\x1b[31m{level:<7}\x1b[0m"),
            (Level::Warning, true) => format!("\x1b[33m{level:<7}\x1b[0m"),
            _ => format!("{level:<7}"),
        };
        let category = line.category.map(|c| c.as_str()).unwrap_or("");
        let message = line
            .message
            .split('\n')
            .map(printable)
            .collect::<Vec<_>>()
            .join("\n    ");
        out.push_str(&format!(
            "{}  {level}  {category:<13}  {message}\n",
            local_time(line.at_ms, SecondsFormat::Millis)
        ));
        if let (Level::Error, Some(category)) = (line.level, line.category) {
            out.push_str(&format!("    what to do: {}\n", category.action()));
        }
    }
    out
}

/// An execution as pretty JSON, times in RFC 3339 UTC; each line has `what_to_do` (its
/// category's action, or null).
pub fn show_json(execution: &Execution, lines: &[LogLine]) -> String {
    let lines: Vec<_> = lines
        .iter()
        .map(|line| {
            json!({
                "at": rfc3339(line.at_ms),
                "level": level_name(line.level),
                "category": line.category.map(|c| c.as_str()),
                "what_to_do": line.category.map(|c| c.action()),
                "message": line.message,
            })
        })
        .collect();
    let value = json!({
        "id": execution.id,
        "interface": execution.interface,
        "trigger": execution.trigger,
        "status": execution.status().to_string(),
        "started_at": rfc3339(execution.started_at_ms),
        "finished_at": execution.finished_at_ms.map(rfc3339),
        "errors": execution.errors,
        "counts": execution.counts,
        "lines": lines,
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&value).expect("JSON values serialise")
    )
}

fn writes_to_stdout(args: &ExportArgs) -> bool {
    args.out
        .as_deref()
        .is_some_and(|out| out.as_os_str() == "-")
}

/// Refuses, before anything is read, to write an XLSX workbook (binary) to a terminal.
fn check_destination(args: &ExportArgs) -> Result<()> {
    if args.format == ExportFormat::Xlsx
        && writes_to_stdout(args)
        && std::io::stdout().is_terminal()
    {
        return Err(Error::configuration(
            "an XLSX workbook is binary and is not written to a terminal: pass --out <FILE>, \
             or redirect stdout to a file",
        ));
    }
    Ok(())
}

async fn write_export(store: &ExecutionStore, args: &ExportArgs) -> Result<()> {
    let (execution, lines) = read(store, &args.id).await?;
    let bytes = match args.format {
        ExportFormat::Csv => export::csv(&lines).into_bytes(),
        ExportFormat::Xlsx => export::xlsx(&execution, &lines)?,
    };
    let written = plural(lines.len(), "log line");
    if writes_to_stdout(args) {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&bytes)
            .and_then(|()| stdout.flush())
            .map_err(|e| Error::technical(format!("cannot write to stdout: {e}")))?;
        eprintln!("wrote {written} of execution {} to stdout", execution.id);
        return Ok(());
    }
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.{}", execution.id, args.format.extension())));
    std::fs::write(&path, &bytes)
        .map_err(|e| Error::configuration(format!("cannot write {}: {e}", path.display())))?;
    let path = std::path::absolute(&path).unwrap_or(path);
    println!("{}", path.display());
    println!("wrote {written} of execution {}", execution.id);
    Ok(())
}

/// An execution id: 1 to 200 of A-Z, a-z, 0-9, '-', '_' and '.', starting with a letter or digit
/// (so it is also a safe file name).
pub fn execution_id(value: &str) -> std::result::Result<String, String> {
    let valid = (1..=200).contains(&value.len())
        && value.as_bytes()[0].is_ascii_alphanumeric()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(value.to_owned())
    } else {
        Err("use an execution id as `flyt executions list` shows it \
             (e.g. bokbasen-objects-20261122T010000-4f2a)"
            .to_owned())
    }
}

/// Whether to colour stdout: only on a terminal, and not when `NO_COLOR` is set to anything but
/// the empty string (<https://no-color.org>).
pub fn colour_stdout() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `text` in its status's colour (KO red, OK green, RUNNING yellow) when `colour` is set.
fn paint(text: &str, status: Status, colour: bool) -> String {
    if !colour {
        return text.to_owned();
    }
    let code = match status {
        Status::Ko => "31",
        Status::Ok => "32",
        Status::Running => "33",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Info => "info",
        Level::Warning => "warning",
        Level::Error => "error",
    }
}

/// The non-zero counters as `name=value`, in name order.
fn counters(execution: &Execution, separator: &str) -> String {
    execution
        .counts
        .iter()
        .filter(|(_, value)| **value > 0)
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(separator)
}

/// Epoch milliseconds as RFC 3339 in the machine's time zone.
fn local_time(epoch_ms: i64, precision: SecondsFormat) -> String {
    DateTime::from_timestamp_millis(epoch_ms)
        .unwrap_or_default()
        .with_timezone(&Local)
        .to_rfc3339_opts(precision, true)
}

/// A duration for people: `850ms`, `42s`, `3m 07s`, `2h 05m`.
fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    let s = ms / 1000;
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{s}s"),
        60_000..=3_599_999 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s / 60 % 60),
    }
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use clap::Parser;
    use flyt::Category;

    use super::*;
    use crate::{Cli, Command};

    fn execution(id: &str, started: i64, finished: Option<i64>, errors: u64) -> Execution {
        Execution {
            id: id.into(),
            interface: "bokbasen-objects".into(),
            trigger: "schedule".into(),
            started_at_ms: started,
            finished_at_ms: finished,
            counts: BTreeMap::from([
                ("applied".into(), 990),
                ("fetched".into(), 1000),
                ("parked".into(), 0),
            ]),
            errors,
        }
    }

    fn ids(executions: &[Execution]) -> Vec<&str> {
        executions.iter().map(|e| e.id.as_str()).collect()
    }

    #[test]
    fn ko_comes_first_then_running_then_ok_each_newest_first() {
        let mut executions = vec![
            execution("ok-old", 1_000, Some(2_000), 0),
            execution("ko-old", 2_000, Some(3_000), 1),
            execution("running-old", 3_000, None, 0),
            execution("ok-new", 4_000, Some(5_000), 0),
            execution("ko-running", 5_000, None, 2),
            execution("running-new", 6_000, None, 0),
            execution("ko-new", 7_000, Some(8_000), 3),
        ];
        order(&mut executions);
        assert_eq!(
            ids(&executions),
            [
                "ko-new",
                "ko-running",
                "ko-old",
                "running-new",
                "running-old",
                "ok-new",
                "ok-old"
            ]
        );
    }

    #[test]
    fn the_list_is_aligned_and_coloured_only_when_asked() {
        let mut executions = vec![
            execution("bokbasen-objects-1", 0, Some(61_500), 0),
            execution("bokbasen-objects-22", 10_000, Some(10_850), 1),
            execution("bokbasen-objects-333", 20_000, None, 0),
        ];
        order(&mut executions);
        let plain = list_table(&executions, 200_000, false);
        let rows: Vec<&str> = plain.lines().collect();
        assert_eq!(rows.len(), 4);
        assert!(
            rows[0].starts_with("STATUS   INTERFACE         ID   "),
            "{plain}"
        );
        assert!(rows[0].ends_with("COUNTERS"), "{plain}");
        assert!(rows[1].starts_with("KO       bokbasen-objects  bokbasen-objects-22 "));
        assert!(rows[2].starts_with("RUNNING  bokbasen-objects  bokbasen-objects-333"));
        assert!(rows[3].starts_with("OK       bokbasen-objects  bokbasen-objects-1 "));
        assert!(rows[1].contains("  850ms  "), "{plain}");
        assert!(rows[2].contains("  3m 00s  "), "{plain}");
        assert!(rows[3].contains("  1m 01s  "), "{plain}");
        assert!(
            rows[3].ends_with("  0       applied=990 fetched=1000"),
            "{plain}"
        );
        for (header, value) in [("ID", "bokbasen-objects-"), ("COUNTERS", "applied=")] {
            let column = rows[0].find(header);
            assert!(rows[1..].iter().all(|r| r.find(value) == column), "{plain}");
        }
        assert!(!plain.contains('\x1b'));

        let coloured = list_table(&executions, 200_000, true);
        let rows: Vec<&str> = coloured.lines().collect();
        assert!(rows[1].starts_with("\x1b[31mKO       \x1b[0mbokbasen-objects"));
        assert!(rows[2].starts_with("\x1b[33mRUNNING  \x1b[0m"));
        assert!(rows[3].starts_with("\x1b[32mOK       \x1b[0m"));
    }

    #[test]
    fn an_error_line_is_shown_with_its_category_and_what_to_do() {
        let lines = [
            LogLine {
                at_ms: 1_000,
                level: Level::Info,
                category: None,
                message: "page 1".into(),
            },
            LogLine {
                at_ms: 2_000,
                level: Level::Error,
                category: Some(Category::Mapping),
                message: "objects 9788205000003/ol: TYPE \"xx\"".into(),
            },
        ];
        let execution = execution("x-1", 0, Some(3_000), 1);
        let text = show_text(&execution, &lines, false);
        assert!(text.contains("status     KO\n"), "{text}");
        assert!(
            text.contains("counters   applied=990, fetched=1000\n"),
            "{text}"
        );
        assert!(text.contains("2 log lines:\n"), "{text}");
        assert!(
            text.contains("  error    Mapping        objects 9788205000003/ol: TYPE \"xx\"\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!("    what to do: {}\n", Category::Mapping.action())),
            "{text}"
        );
        assert_eq!(text.matches("what to do").count(), 1, "{text}");

        let json: serde_json::Value = serde_json::from_str(&show_json(&execution, &lines)).unwrap();
        assert_eq!(json["status"], "KO");
        assert_eq!(json["counts"]["fetched"], 1000);
        assert_eq!(json["lines"][0]["what_to_do"], serde_json::Value::Null);
        assert_eq!(json["lines"][1]["category"], "Mapping");
        assert_eq!(json["lines"][1]["what_to_do"], Category::Mapping.action());
        assert_eq!(json["lines"][1]["at"], "1970-01-01T00:00:02.000Z");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(-5), "0ms");
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(42_900), "42s");
        assert_eq!(duration(187_000), "3m 07s");
        assert_eq!(duration(7_500_000), "2h 05m");
    }

    #[test]
    fn execution_ids_are_safe_file_names() {
        for good in [
            "bokbasen-objects-20261122T010000-4f2a",
            "digeks-proxy-20261122",
            "a",
        ] {
            assert_eq!(execution_id(good).as_deref(), Ok(good));
        }
        for bad in [
            "",
            "../etc/passwd",
            "a/b",
            ".hidden",
            "-x",
            "a b",
            &"a".repeat(201),
        ] {
            assert!(
                execution_id(bad).unwrap_err().contains("execution id"),
                "{bad}"
            );
        }
    }

    #[test]
    fn export_and_list_flags_parse() {
        let cli = Cli::try_parse_from([
            "flyt",
            "executions",
            "export",
            "x-1",
            "--format",
            "CSV",
            "--out",
            "-",
            "--executions-table",
            "Executions",
        ])
        .unwrap();
        assert_eq!(cli.global.executions_table.as_deref(), Some("Executions"));
        let Command::Executions(ExecutionsCommand::Export(args)) = cli.command else {
            panic!("not an export: {cli:?}")
        };
        assert_eq!(args.format, ExportFormat::Csv);
        assert!(writes_to_stdout(&args));

        let cli = Cli::try_parse_from(["flyt", "executions", "list", "--status", "ko"]).unwrap();
        let Command::Executions(ExecutionsCommand::List(args)) = cli.command else {
            panic!("not a list: {cli:?}")
        };
        assert_eq!(
            (args.status, args.limit, args.interface),
            (Some(StatusFilter::Ko), 50, None)
        );
        for bad in [
            &["flyt", "executions", "list", "--limit", "0"][..],
            &["flyt", "executions", "list", "--status", "failed"],
            &["flyt", "executions", "export", "x-1"],
            &["flyt", "executions", "export", "x-1", "--format", "pdf"],
            &["flyt", "executions", "show", "../x"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
