//! Timestamps and paging cursors of the export API.
//!
//! A cursor is opaque to clients, but here it is the change time
//! (`yyyyMMddHHmmss`) followed by the nine-digit change sequence number,
//! which makes the 180-day rule checkable on cursors too.

use chrono::{DateTime, NaiveDateTime, Utc};

const TIME_FORMAT: &str = "%Y%m%d%H%M%S";
const TIME_LEN: usize = 14;
const SEQ_LEN: usize = 9;

/// Parses a `yyyyMMddHHmmss` timestamp (UTC).
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if text.len() != TIME_LEN || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDateTime::parse_from_str(text, TIME_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

/// Formats a timestamp as `yyyyMMddHHmmss`.
pub(crate) fn format_time(time: DateTime<Utc>) -> String {
    time.format(TIME_FORMAT).to_string()
}

/// A position in a report's change log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// Change time of the change the cursor points at.
    pub(crate) at: DateTime<Utc>,
    /// Sequence number of that change; later pages hold larger numbers.
    pub(crate) seq: u64,
}

impl Cursor {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        if text.len() != TIME_LEN + SEQ_LEN || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let at = parse_time(&text[..TIME_LEN])?;
        let seq = text[TIME_LEN..].parse().ok()?;
        Some(Self { at, seq })
    }

    pub(crate) fn encode(&self) -> String {
        format!("{}{:09}", format_time(self.at), self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let text = "20261121010203000000042";
        let cursor = Cursor::parse(text).expect("valid cursor");
        assert_eq!(cursor.seq, 42);
        assert_eq!(format_time(cursor.at), "20261121010203");
        assert_eq!(cursor.encode(), text);
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(Cursor::parse("2026112101020300000004x").is_none());
        assert!(Cursor::parse("20261321010203000000042").is_none());
        assert!(Cursor::parse("2026").is_none());
        assert!(parse_time("20261121").is_none());
        assert!(parse_time("2026112101020a").is_none());
        assert!(parse_time("+2026112101020").is_none());
    }
}
