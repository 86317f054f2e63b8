//! Dates and timestamps as FS writes them: `yyyy-MM-ddTHH:mm:ss` (UTC, no
//! offset) and `yyyy-MM-dd`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";
const TIMESTAMP_LEN: usize = 19;
const DATE_FORMAT: &str = "%Y-%m-%d";
const DATE_LEN: usize = 10;

/// Formats an instant as `yyyy-MM-ddTHH:mm:ss`.
pub(crate) fn format_timestamp(time: DateTime<Utc>) -> String {
    time.format(TIMESTAMP_FORMAT).to_string()
}

/// Formats a day as `yyyy-MM-dd`.
pub(crate) fn format_date(date: NaiveDate) -> String {
    date.format(DATE_FORMAT).to_string()
}

/// Parses exactly `yyyy-MM-ddTHH:mm:ss`.
pub(crate) fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    (text.len() == TIMESTAMP_LEN && has_fixed_width_digits(text))
        .then(|| NaiveDateTime::parse_from_str(text, TIMESTAMP_FORMAT).ok())
        .flatten()
}

/// Parses exactly `yyyy-MM-dd`.
fn parse_date(text: &str) -> Option<NaiveDate> {
    (text.len() == DATE_LEN && has_fixed_width_digits(text))
        .then(|| NaiveDate::parse_from_str(text, DATE_FORMAT).ok())
        .flatten()
}

/// Parses a `siden` parameter: a timestamp, or a day meaning its midnight.
pub(crate) fn parse_since(text: &str) -> Option<NaiveDateTime> {
    parse_timestamp(text).or_else(|| parse_date(text).map(|date| date.and_time(Default::default())))
}

/// Whether `text` is a date FS accepts in a request body: `yyyy-MM-dd`,
/// `yyyy-MM-ddTHH:mm:ss`, or RFC 3339 with an offset.
pub(crate) fn is_date_or_time(text: &str) -> bool {
    parse_since(text).is_some() || DateTime::parse_from_rfc3339(text).is_ok()
}

/// Whether every position that holds a digit in `yyyy-MM-ddTHH:mm:ss` does;
/// chrono alone would also accept one-digit months and days.
fn has_fixed_width_digits(text: &str) -> bool {
    text.bytes()
        .enumerate()
        .all(|(i, b)| matches!(i, 4 | 7 | 10 | 13 | 16) || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_timestamps_and_days_only() {
        let time = parse_since("2026-11-21T01:02:03").expect("timestamp");
        assert_eq!(format_timestamp(time.and_utc()), "2026-11-21T01:02:03");
        let day = parse_since("2026-11-21").expect("day");
        assert_eq!(format_timestamp(day.and_utc()), "2026-11-21T00:00:00");
        for bad in [
            "",
            "2026-11-21T01:02",
            "2026-1-21",
            "2026-11-21 01:02:03",
            "2026-11-21T01:02:03Z",
            "2026-13-01",
            "21.11.2026",
        ] {
            assert!(parse_since(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn body_dates_also_accept_rfc3339() {
        assert!(is_date_or_time("2026-11-21"));
        assert!(is_date_or_time("2026-11-21T01:02:03+01:00"));
        assert!(!is_date_or_time("i går"));
    }
}
