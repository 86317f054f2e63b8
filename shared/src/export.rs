//! An execution and its log lines as a file an operator can open, filter and pass on: CSV (the
//! lines, RFC 4180) or XLSX (the execution's head and the lines, one worksheet each). Pure: the
//! caller reads the execution and decides where the bytes go.
//!
//! Both formats have the same log columns, [`LOG_COLUMNS`]: the time (RFC 3339, UTC), the level,
//! the error category, what to do about it ([`Category::action`]) and the message.

use rust_xlsxwriter::{Color, Format, Workbook, Worksheet, XlsxError};

use crate::error::{Category, Error, Result};
use crate::execution::{Execution, Level, LogLine};
use crate::time::rfc3339;

/// The columns of the log lines, in order, as named in the CSV header and the XLSX header row.
pub const LOG_COLUMNS: [&str; 5] = ["time", "level", "category", "what_to_do", "message"];

/// The execution's log lines as CSV (RFC 4180: CRLF line ends, fields with a comma, a double quote
/// or a line break quoted, quotes doubled): the header [`LOG_COLUMNS`], then one row per line.
pub fn csv(lines: &[LogLine]) -> String {
    let mut out = String::new();
    csv_row(&mut out, LOG_COLUMNS);
    for line in lines {
        csv_row(&mut out, cells(line));
    }
    out
}

/// The execution as an XLSX workbook: worksheet "Execution" holds its head (id, interface,
/// trigger, status, started, finished, errors, then each counter), worksheet "Log lines" the lines
/// under a bold, frozen header with an autofilter, errors filled red and warnings amber.
///
/// A message longer than an Excel cell holds (32,767 characters) is cut short, ending in `…`. An
/// execution with more lines than a worksheet holds is refused: export it as CSV.
pub fn xlsx(execution: &Execution, lines: &[LogLine]) -> Result<Vec<u8>> {
    let failed = |e: XlsxError| {
        Error::technical(format!(
            "writing the XLSX export of execution {}: {e}",
            execution.id
        ))
    };
    if lines.len() >= MAX_ROWS {
        return Err(Error::mapping(format!(
            "execution {} has {} log lines, more than an XLSX worksheet holds ({}): export it \
             as CSV",
            execution.id,
            lines.len(),
            MAX_ROWS - 1
        )));
    }
    let mut workbook = Workbook::new();
    workbook.push_worksheet(head_sheet(execution).map_err(failed)?);
    workbook.push_worksheet(lines_sheet(lines).map_err(failed)?);
    workbook.save_to_buffer().map_err(failed)
}

/// Rows in an Excel worksheet, the header included.
const MAX_ROWS: usize = 1_048_576;
/// Characters in an Excel cell.
const MAX_CELL_CHARS: usize = 32_767;
/// Column widths of "Log lines", in characters, in the order of [`LOG_COLUMNS`].
const LOG_WIDTHS: [f64; 5] = [26.0, 9.0, 15.0, 60.0, 100.0];
/// Excel's own "Bad" (red) and "Neutral" (amber) cell styles: fill and font colours.
const ERROR_FILL: u32 = 0xFFC7CE;
const ERROR_FONT: u32 = 0x9C0006;
const WARNING_FILL: u32 = 0xFFEB9C;
const WARNING_FONT: u32 = 0x9C5700;

/// A log line's cells, in the order of [`LOG_COLUMNS`].
fn cells(line: &LogLine) -> [String; 5] {
    [
        rfc3339(line.at_ms),
        level_name(line.level).to_owned(),
        line.category.map(Category::as_str).unwrap_or("").to_owned(),
        line.category.map(Category::action).unwrap_or("").to_owned(),
        line.message.clone(),
    ]
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Info => "info",
        Level::Warning => "warning",
        Level::Error => "error",
    }
}

fn csv_row<S: AsRef<str>>(out: &mut String, fields: [S; 5]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let field = field.as_ref();
        if field.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(field);
        }
    }
    out.push_str("\r\n");
}

fn head_sheet(execution: &Execution) -> Result<Worksheet, XlsxError> {
    let mut sheet = Worksheet::new();
    sheet.set_name("Execution")?;
    let bold = Format::new().set_bold();
    let texts = [
        ("id", execution.id.clone()),
        ("interface", execution.interface.clone()),
        ("trigger", execution.trigger.clone()),
        ("status", execution.status().to_string()),
        ("started", rfc3339(execution.started_at_ms)),
        (
            "finished",
            execution.finished_at_ms.map(rfc3339).unwrap_or_default(),
        ),
    ];
    let mut row = 0;
    for (label, value) in texts {
        sheet.write_string_with_format(row, 0, label, &bold)?;
        sheet.write_string(row, 1, value)?;
        row += 1;
    }
    let numbers = std::iter::once(("errors", execution.errors)).chain(
        execution
            .counts
            .iter()
            .map(|(name, value)| (name.as_str(), *value)),
    );
    for (label, value) in numbers {
        sheet.write_string_with_format(row, 0, label, &bold)?;
        sheet.write_number(row, 1, value as f64)?;
        row += 1;
    }
    sheet.set_column_width(0, 18)?;
    sheet.set_column_width(1, 48)?;
    Ok(sheet)
}

fn lines_sheet(lines: &[LogLine]) -> Result<Worksheet, XlsxError> {
    let mut sheet = Worksheet::new();
    sheet.set_name("Log lines")?;
    let header = Format::new().set_bold();
    let error = Format::new()
        .set_background_color(Color::RGB(ERROR_FILL))
        .set_font_color(Color::RGB(ERROR_FONT));
    let warning = Format::new()
        .set_background_color(Color::RGB(WARNING_FILL))
        .set_font_color(Color::RGB(WARNING_FONT));
    for (col, (name, width)) in LOG_COLUMNS.iter().zip(LOG_WIDTHS).enumerate() {
        let col = col as u16;
        sheet.write_string_with_format(0, col, *name, &header)?;
        sheet.set_column_width(col, width)?;
    }
    for (i, line) in lines.iter().enumerate() {
        let row = i as u32 + 1;
        let format = match line.level {
            Level::Error => Some(&error),
            Level::Warning => Some(&warning),
            Level::Info => None,
        };
        for (col, value) in cells(line).iter().enumerate() {
            let value = fit_cell(value);
            let col = col as u16;
            match format {
                Some(format) => sheet.write_string_with_format(row, col, value, format)?,
                None => sheet.write_string(row, col, value)?,
            };
        }
    }
    sheet.autofilter(0, 0, lines.len() as u32, LOG_COLUMNS.len() as u16 - 1)?;
    sheet.set_freeze_panes(1, 0)?;
    Ok(sheet)
}

/// The value cut to what an Excel cell holds, ending in `…` when cut.
fn fit_cell(value: &str) -> String {
    if value.chars().count() <= MAX_CELL_CHARS {
        return value.to_owned();
    }
    let mut cut: String = value.chars().take(MAX_CELL_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Cursor;

    use calamine::{Data, Reader, Xlsx};

    use super::*;

    const T0: i64 = 1_795_000_000_000;

    fn execution(lines: &[LogLine]) -> Execution {
        Execution {
            id: "bokbasen-objects-20261122T010000-4f2a".into(),
            interface: "bokbasen-objects".into(),
            trigger: "schedule".into(),
            started_at_ms: T0,
            finished_at_ms: Some(T0 + 61_500),
            counts: BTreeMap::from([("applied".into(), 990), ("fetched".into(), 1000)]),
            errors: lines.iter().filter(|l| l.level == Level::Error).count() as u64,
        }
    }

    fn line(at: i64, level: Level, category: Option<Category>, message: &str) -> LogLine {
        LogLine {
            at_ms: T0 + at,
            level,
            category,
            message: message.into(),
        }
    }

    fn sample() -> Vec<LogLine> {
        vec![
            line(0, Level::Info, None, "page 1: 200 items"),
            line(
                1,
                Level::Error,
                Some(Category::Mapping),
                "objects 9788205000003/ol: TYPE \"xx\", expected one of a, b",
            ),
            line(2, Level::Warning, None, "slow answer\nfrom Alma"),
            line(
                3,
                Level::Error,
                Some(Category::External),
                "Alma answered 503",
            ),
        ]
    }

    #[test]
    fn csv_has_the_header_then_one_row_per_line_in_column_order() {
        let lines = sample();
        let csv = csv(&lines);
        let rows: Vec<&str> = csv.split_terminator("\r\n").collect();
        assert_eq!(rows[0], "time,level,category,what_to_do,message");
        assert_eq!(rows[1], "2026-11-18T11:06:40.000Z,info,,,page 1: 200 items");
        assert_eq!(
            rows[4],
            format!(
                "2026-11-18T11:06:40.003Z,error,External,\"{}\",Alma answered 503",
                Category::External.action()
            )
        );
        assert!(csv.ends_with("\r\n"));
    }

    #[test]
    fn csv_quotes_commas_quotes_and_line_breaks() {
        let csv = csv(&sample());
        assert!(
            csv.contains(
                ",\"objects 9788205000003/ol: TYPE \"\"xx\"\", expected one of a, b\"\r\n"
            ),
            "{csv}"
        );
        assert!(
            csv.contains(",warning,,,\"slow answer\nfrom Alma\"\r\n"),
            "{csv}"
        );
        let mut out = String::new();
        csv_row(&mut out, ["plain", "a,b", "say \"hi\"", "cr\rhere", ""]);
        assert_eq!(out, "plain,\"a,b\",\"say \"\"hi\"\"\",\"cr\rhere\",\r\n");
    }

    #[test]
    fn what_to_do_is_the_categorys_action_and_empty_without_a_category() {
        for category in Category::ALL {
            let cells = cells(&line(0, Level::Error, Some(category), "m"));
            assert_eq!(cells[2], category.as_str());
            assert_eq!(cells[3], category.action());
        }
        let cells = cells(&line(0, Level::Info, None, "m"));
        assert_eq!((cells[2].as_str(), cells[3].as_str()), ("", ""));
    }

    fn text(data: &Data) -> String {
        match data {
            Data::Empty => String::new(),
            Data::String(s) => s.clone(),
            Data::Float(f) => f.to_string(),
            other => panic!("unexpected cell {other:?}"),
        }
    }

    fn open(bytes: Vec<u8>) -> Xlsx<Cursor<Vec<u8>>> {
        calamine::open_workbook_from_rs(Cursor::new(bytes)).expect("a readable workbook")
    }

    #[test]
    fn xlsx_has_the_head_and_the_lines_as_written() {
        let lines = sample();
        let execution = execution(&lines);
        let mut workbook = open(xlsx(&execution, &lines).unwrap());
        assert_eq!(workbook.sheet_names(), ["Execution", "Log lines"]);

        let head: Vec<Vec<String>> = workbook
            .worksheet_range("Execution")
            .unwrap()
            .rows()
            .map(|row| row.iter().map(text).collect())
            .collect();
        let expected = [
            ["id", "bokbasen-objects-20261122T010000-4f2a"],
            ["interface", "bokbasen-objects"],
            ["trigger", "schedule"],
            ["status", "KO"],
            ["started", "2026-11-18T11:06:40.000Z"],
            ["finished", "2026-11-18T11:07:41.500Z"],
            ["errors", "2"],
            ["applied", "990"],
            ["fetched", "1000"],
        ];
        assert_eq!(head, expected.map(|row| row.map(String::from).to_vec()));

        let rows: Vec<Vec<String>> = workbook
            .worksheet_range("Log lines")
            .unwrap()
            .rows()
            .map(|row| row.iter().map(text).collect())
            .collect();
        assert_eq!(rows[0], LOG_COLUMNS);
        let expected: Vec<Vec<String>> = lines.iter().map(|l| cells(l).to_vec()).collect();
        assert_eq!(rows[1..], expected);

        let styles = workbook.worksheet_style("Log lines").unwrap();
        let font = |row, col| styles.get((row, col)).and_then(|s| s.font.clone());
        let fill = |row, col| {
            styles
                .get((row, col))
                .and_then(|s| s.fill.clone())
                .filter(|f| f.is_visible())
                .and_then(|f| f.get_color())
                .map(|c| c.to_argb() & 0xFF_FFFF)
        };
        for col in 0..5 {
            assert!(font(0, col).is_some_and(|f| f.is_bold()), "header {col}");
            assert_eq!(fill(1, col), None, "info row");
            assert_eq!(fill(2, col), Some(ERROR_FILL), "error row");
            assert_eq!(fill(3, col), Some(WARNING_FILL), "warning row");
        }
    }

    #[test]
    fn xlsx_of_a_running_execution_without_lines_is_only_headers() {
        let mut execution = execution(&[]);
        execution.finished_at_ms = None;
        execution.counts.clear();
        let mut workbook = open(xlsx(&execution, &[]).unwrap());
        let head = workbook.worksheet_range("Execution").unwrap();
        assert_eq!(text(&head[(3, 1)]), "RUNNING");
        assert_eq!(head.get((5, 1)).map(text).unwrap_or_default(), "");
        assert_eq!(head.height(), 7);
        let rows = workbook.worksheet_range("Log lines").unwrap();
        assert_eq!(rows.height(), 1);
    }

    #[test]
    fn an_overlong_message_is_cut_to_what_a_cell_holds() {
        let long = "x".repeat(MAX_CELL_CHARS + 10);
        let lines = [line(0, Level::Info, None, &long)];
        let mut workbook = open(xlsx(&execution(&lines), &lines).unwrap());
        let rows = workbook.worksheet_range("Log lines").unwrap();
        let message = text(&rows[(1, 4)]);
        assert_eq!(message.chars().count(), MAX_CELL_CHARS);
        assert!(message.ends_with('…'));
        assert_eq!(fit_cell("short"), "short");
    }
}
