//! The built `flyt` binary against the local emulator: executions written by the real
//! `ExecutionStore` are listed with the failed ones first, shown with what to do about each error,
//! and exported as XLSX and CSV files that read back to the very lines written.

mod common;

use std::io::Cursor;
use std::path::Path;

use calamine::{Data, Reader, Xlsx};
use common::{local, Flyt};
use flyt::execution::{ExecutionStore, Level, LogLine};
use flyt::time::{now_ms, rfc3339};
use flyt::{Category, Error};

fn line(at_ms: i64, level: Level, category: Option<Category>, message: &str) -> LogLine {
    LogLine {
        at_ms,
        level,
        category,
        message: message.to_owned(),
    }
}

/// A line as the exports write it: time, level, category, what to do, message.
fn expected_row(line: &LogLine) -> Vec<String> {
    let level = match line.level {
        Level::Info => "info",
        Level::Warning => "warning",
        Level::Error => "error",
    };
    vec![
        rfc3339(line.at_ms),
        level.to_owned(),
        line.category.map(|c| c.as_str()).unwrap_or("").to_owned(),
        line.category.map(|c| c.action()).unwrap_or("").to_owned(),
        line.message.clone(),
    ]
}

fn cell(data: &Data) -> String {
    match data {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) => f.to_string(),
        other => panic!("unexpected cell {other:?}"),
    }
}

fn sheet(workbook: &mut Xlsx<Cursor<Vec<u8>>>, name: &str) -> Vec<Vec<String>> {
    workbook
        .worksheet_range(name)
        .unwrap_or_else(|e| panic!("worksheet {name}: {e}"))
        .rows()
        .map(|row| row.iter().map(cell).collect())
        .collect()
}

/// Parses RFC 4180 CSV strictly: every record ends in CRLF, a bare line break only inside quotes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => {
                assert!(field.is_empty(), "a quote inside an unquoted field: {text}");
                quoted = true;
            }
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF: {text}");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\n') => panic!("a bare LF ends a record: {text:?}"),
            (false, c) => field.push(c),
        }
    }
    assert!(
        !quoted && field.is_empty() && row.is_empty(),
        "the last record ends in CRLF: {text:?}"
    );
    rows
}

fn position(haystack: &str, needle: &str) -> usize {
    haystack
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in\n{haystack}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_are_listed_ko_first_shown_with_actions_and_exported() {
    let local = local().await;
    let table = local.table("ExecutionsTable");
    let store = ExecutionStore::new(local.aws.dynamodb.clone(), table);
    let flyt = Flyt::new(&local.emulator_url)
        .env("EXECUTIONS_TABLE", table)
        .in_temp_dir("stack");

    // A KO execution, older than the OK one: errors of two categories, a warning, an info line.
    let ko = store.start("bokbasen-objects", "schedule").await.unwrap();
    let t = now_ms();
    let ko_lines = vec![
        line(t, Level::Info, None, "page 1: 3 items"),
        line(
            t + 1,
            Level::Error,
            Some(Category::Mapping),
            "objects 9788205000003/ol: TYPE \"xx\", expected one of a, b",
        ),
        line(t + 2, Level::Warning, None, "Alma answered slowly\n(4.2 s)"),
        LogLine {
            at_ms: t + 3,
            ..LogLine::error(&Error::external(
                "Alma PUT /bibs/991: 503 Service Unavailable",
            ))
        },
    ];
    store
        .record(
            &ko,
            &[("fetched", 3), ("applied", 1), ("parked", 2)],
            &ko_lines,
        )
        .await
        .unwrap();
    store.finish(&ko).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let ok = store
        .start("bokbasen-descriptions", "schedule")
        .await
        .unwrap();
    store
        .record(
            &ok,
            &[("fetched", 10), ("applied", 10)],
            &[LogLine::info("page 1: 10 items")],
        )
        .await
        .unwrap();
    store.finish(&ok).await.unwrap();

    // list: KO first although older; plain text when stdout is not a terminal.
    let (list, _) = flyt.ok(&["executions", "list"]);
    let rows: Vec<&str> = list.lines().collect();
    assert_eq!(rows.len(), 3, "{list}");
    assert!(rows[0].starts_with("STATUS"), "{list}");
    assert!(
        rows[1].starts_with("KO ") && rows[1].contains(&ko),
        "{list}"
    );
    assert!(
        rows[2].starts_with("OK ") && rows[2].contains(&ok),
        "{list}"
    );
    assert!(rows[1].contains("applied=1 fetched=3 parked=2"), "{list}");
    assert!(!list.contains('\x1b'), "{list:?}");
    let (only_ok, _) = flyt.ok(&["executions", "list", "--status", "ok"]);
    assert!(only_ok.contains(&ok) && !only_ok.contains(&ko), "{only_ok}");
    let (objects, _) = flyt.ok(&["executions", "list", "--interface", "bokbasen-objects"]);
    assert!(objects.contains(&ko) && !objects.contains(&ok), "{objects}");
    let (newest, _) = flyt.ok(&["executions", "list", "--limit", "1"]);
    assert!(newest.contains(&ok) && !newest.contains(&ko), "{newest}");
    let (none, _) = flyt.ok(&[
        "executions",
        "list",
        "--interface",
        "bokbasen-objects",
        "--status",
        "running",
    ]);
    assert_eq!(
        none,
        "no RUNNING executions of bokbasen-objects among the newest 50\n"
    );

    // show: the head, every line in order, and under each error what to do.
    let (shown, _) = flyt.ok(&["executions", "show", &ko]);
    assert!(shown.contains("status     KO\n"), "{shown}");
    assert!(shown.contains("errors     2\n"), "{shown}");
    assert!(
        shown.contains("counters   applied=1, fetched=3, parked=2\n"),
        "{shown}"
    );
    assert!(shown.contains("4 log lines:\n"), "{shown}");
    let mapping = position(&shown, "Mapping        objects 9788205000003/ol");
    let mapping_action = position(
        &shown,
        &format!("    what to do: {}\n", Category::Mapping.action()),
    );
    let external = position(&shown, "External       Alma PUT /bibs/991");
    let external_action = position(
        &shown,
        &format!("    what to do: {}\n", Category::External.action()),
    );
    assert!(mapping < mapping_action && mapping_action < external && external < external_action);
    assert_eq!(shown.matches("what to do").count(), 2, "{shown}");
    let (json, _) = flyt.ok(&["executions", "show", &ko, "--json"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["id"], ko.as_str());
    assert_eq!(json["status"], "KO");
    assert_eq!(json["counts"]["parked"], 2);
    let json_lines = json["lines"].as_array().unwrap();
    assert_eq!(json_lines.len(), 4);
    for (shown, written) in json_lines.iter().zip(&ko_lines) {
        let row = expected_row(written);
        assert_eq!(shown["at"], row[0].as_str());
        assert_eq!(shown["message"], row[4].as_str());
        match written.category {
            Some(category) => assert_eq!(shown["what_to_do"], category.action()),
            None => assert!(shown["what_to_do"].is_null()),
        }
    }

    // export --format xlsx: read back, the lines and the head are what was written.
    let (stdout, _) = flyt.ok(&["executions", "export", &ko, "--format", "xlsx"]);
    let path = flyt.dir().join(format!("{ko}.xlsx"));
    let printed: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        std::fs::canonicalize(printed[0]).unwrap(),
        std::fs::canonicalize(&path).unwrap(),
        "{stdout}"
    );
    assert_eq!(printed[1], format!("wrote 4 log lines of execution {ko}"));
    let mut workbook: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(std::fs::read(&path).unwrap())).unwrap();
    assert_eq!(workbook.sheet_names(), ["Execution", "Log lines"]);
    let rows = sheet(&mut workbook, "Log lines");
    assert_eq!(
        rows[0],
        ["time", "level", "category", "what_to_do", "message"]
    );
    let expected: Vec<Vec<String>> = ko_lines.iter().map(expected_row).collect();
    assert_eq!(rows[1..], expected);
    let styles = workbook.worksheet_style("Log lines").unwrap();
    let fill = |row: u32| {
        styles
            .get((row, 4))
            .and_then(|s| s.fill.clone())
            .and_then(|f| f.get_color())
            .map(|c| c.to_argb() & 0xFF_FFFF)
    };
    assert_eq!(
        [fill(1), fill(2), fill(3), fill(4)],
        [None, Some(0xFFC7CE), Some(0xFFEB9C), Some(0xFFC7CE)]
    );
    let head = sheet(&mut workbook, "Execution");
    let value = |label: &str| {
        head.iter()
            .find(|row| row[0] == label)
            .unwrap_or_else(|| panic!("no {label} in {head:?}"))[1]
            .clone()
    };
    assert_eq!(value("id"), ko);
    assert_eq!(value("interface"), "bokbasen-objects");
    assert_eq!(value("status"), "KO");
    assert_eq!(value("errors"), "2");
    for (counter, count) in [("fetched", "3"), ("applied", "1"), ("parked", "2")] {
        assert_eq!(value(counter), count, "{counter}");
    }

    // export --format csv: to the default file and to stdout, the same rows.
    let (stdout, _) = flyt.ok(&["executions", "export", &ko, "--format", "csv"]);
    assert!(stdout.contains(&format!("{ko}.csv\n")), "{stdout}");
    assert!(stdout.contains("wrote 4 log lines"), "{stdout}");
    let csv = std::fs::read_to_string(flyt.dir().join(format!("{ko}.csv"))).unwrap();
    let rows = parse_csv(&csv);
    assert_eq!(
        rows[0],
        ["time", "level", "category", "what_to_do", "message"]
    );
    assert_eq!(rows[1..], expected);
    let (piped, note) = flyt.ok(&["executions", "export", &ko, "--format", "csv", "--out", "-"]);
    assert_eq!(piped, csv);
    assert!(note.contains("wrote 4 log lines"), "{note}");
    let (stdout, _) = flyt.ok(&[
        "executions",
        "export",
        &ok,
        "--format",
        "csv",
        "--out",
        "ok.csv",
    ]);
    assert!(stdout.contains("wrote 1 log line of"), "{stdout}");
    assert_eq!(
        parse_csv(&std::fs::read_to_string(flyt.dir().join("ok.csv")).unwrap()).len(),
        2
    );

    // An unknown id: exit 1, said so, nothing written.
    for args in [
        &["executions", "show", "no-such-run-1"][..],
        &["executions", "export", "no-such-run-1", "--format", "xlsx"],
    ] {
        let stderr = flyt.fails(args, 1);
        assert!(stderr.contains("no execution no-such-run-1"), "{stderr}");
    }
    assert!(!Path::new(&flyt.dir().join("no-such-run-1.xlsx")).exists());
}

/// Arguments and the table are checked before anything is read, so no stack is needed.
#[test]
fn invalid_arguments_and_a_missing_table_are_refused() {
    let flyt = Flyt::new("http://127.0.0.1:9")
        .env("EXECUTIONS_TABLE", "ExecutionsTable")
        .in_temp_dir("args");
    for (args, needles) in [
        (
            &["executions", "show", "../../etc/passwd"][..],
            &["<ID>", "execution id"][..],
        ),
        (
            &["executions", "export", "x-1", "--format", "pdf"],
            &["--format", "xlsx", "csv"],
        ),
        (&["executions", "export", "x-1"], &["--format"]),
        (
            &["executions", "list", "--status", "failed"],
            &["--status", "ko"],
        ),
        (&["executions", "list", "--limit", "0"], &["--limit"]),
    ] {
        let stderr = flyt.fails(args, 2);
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{args:?}: {needle} not in {stderr}"
            );
        }
    }

    let flyt = Flyt::new("http://127.0.0.1:9").in_temp_dir("no-table");
    let stderr = flyt.fails(&["executions", "list"], 1);
    assert!(stderr.contains("--executions-table"), "{stderr}");
    assert!(stderr.contains("EXECUTIONS_TABLE"), "{stderr}");
}
