//! Where a poll of one FS list resumes. FS returns changes made at or after `siden`. A change
//! can be stamped before the latest one read and committed after it (FS stamps `endretDato` when
//! the change is made, a list shows it once committed), so each poll reads a *lag* behind the
//! latest change time read, as dlt's `lag` does: `siden` = latest − lag.
//!
//! The changes already read inside that window are remembered by fingerprint with their time, so
//! a re-read queues nothing twice; only a change that was not there before is queued. Fingerprints
//! older than the window are dropped. (The ordering store downstream would also drop a repeat;
//! this keeps repeats off the queue.) With no lag this is the plain "resume at the latest time and
//! drop what was read at exactly that time".

use std::collections::BTreeMap;

use chrono::{Duration as TimeDelta, NaiveDateTime};
use flyt::appeals::{format_fs_timestamp, fs_timestamp, DispatchItem};

/// A list's saved position: the latest change time read, and the changes already read within the
/// lag before it (plus changes whose time does not parse, so they are not re-queued every poll).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// The latest change time read, `yyyy-MM-ddTHH:mm:ss`.
    pub since: String,
    /// Changes already read, by fingerprint, with their change time (`None`: it does not parse).
    pub seen: BTreeMap<String, Option<NaiveDateTime>>,
}

impl Position {
    /// A position with nothing read yet.
    pub fn starting_at(since: String) -> Self {
        Position {
            since,
            seen: BTreeMap::new(),
        }
    }

    /// The position saved as text by [`Position::render`]. A fingerprint saved without its time
    /// (by an earlier version) is taken as read at `since`.
    pub fn parse(text: &str) -> Option<Self> {
        let (since, seen) = text.split_once('|').unwrap_or((text, ""));
        let at_since = fs_timestamp(since)?;
        let seen = seen
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|entry| match entry.split_once('@') {
                Some((print, at)) => (print.to_owned(), fs_timestamp(at)),
                None if entry.starts_with('!') => (entry.to_owned(), None),
                None => (entry.to_owned(), Some(at_since)),
            })
            .collect();
        Some(Position {
            since: since.to_owned(),
            seen,
        })
    }

    /// The text saved in the cursor.
    pub fn render(&self) -> String {
        let seen: Vec<String> = self
            .seen
            .iter()
            .map(|(print, at)| match at {
                Some(at) => format!(
                    "{print}@{}",
                    format_fs_timestamp(at.and_utc().timestamp_millis())
                ),
                None => print.clone(),
            })
            .collect();
        format!("{}|{}", self.since, seen.join(","))
    }

    /// `siden` for the next poll: `lag` before the latest change time read.
    pub fn query_from(&self, lag: std::time::Duration) -> String {
        match fs_timestamp(&self.since) {
            Some(latest) => format_fs_timestamp((latest - delta(lag)).and_utc().timestamp_millis()),
            None => self.since.clone(),
        }
    }

    /// Splits what a poll read into the changes not queued before, and the position after them,
    /// which remembers the changes read within `lag` of the latest.
    pub fn advance(
        &self,
        items: Vec<DispatchItem>,
        lag: std::time::Duration,
    ) -> (Vec<DispatchItem>, Position) {
        let mut fresh = Vec::new();
        let mut next = self.clone();
        for item in items {
            let print = fingerprint(&item);
            if next.seen.contains_key(&print) {
                continue;
            }
            let at = fs_timestamp(&item.changed_at);
            if let Some(at) = at {
                if fs_timestamp(&next.since).is_none_or(|latest| at > latest) {
                    next.since = item.changed_at.trim().to_owned();
                }
            }
            next.seen.insert(print, at);
            fresh.push(item);
        }
        if let Some(latest) = fs_timestamp(&next.since) {
            let oldest = latest - delta(lag);
            next.seen.retain(|_, at| at.is_none_or(|at| at >= oldest));
        }
        (fresh, next)
    }
}

fn delta(lag: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(lag).unwrap_or(TimeDelta::MAX)
}

/// A short, stable fingerprint of one change (FNV-1a over its identifying fields).
fn fingerprint(item: &DispatchItem) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for field in [
        item.vurd_id.as_str(),
        item.kandidatnr.as_str(),
        item.status.as_str(),
        item.changed_at.trim(),
    ] {
        for byte in field.bytes().chain(std::iter::once(0xff)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    let print = format!("{hash:016x}");
    if fs_timestamp(&item.changed_at).is_none() {
        format!("!{print}")
    } else {
        print
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flyt::appeals::RequestKind;
    use flyt::institution::ExamSystem;

    fn change(candidate: &str, at: &str) -> DispatchItem {
        DispatchItem {
            kind: RequestKind::Klage,
            org_id: "uio".into(),
            exam_system: ExamSystem::Inspera,
            vurd_id: "v".into(),
            kandidatnr: candidate.into(),
            sis_code: String::new(),
            status: "AKTIV".into(),
            requested_at: String::new(),
            changed_at: at.into(),
            execution_id: "e".into(),
            force: false,
            shadow: false,
        }
    }

    const NO_LAG: std::time::Duration = std::time::Duration::ZERO;
    const LAG: std::time::Duration = std::time::Duration::from_secs(300);

    fn candidates(items: &[DispatchItem]) -> Vec<&str> {
        items.iter().map(|i| i.kandidatnr.as_str()).collect()
    }

    #[test]
    fn overlapping_polls_queue_each_change_once_and_skip_none() {
        let start = Position::starting_at("2026-11-20T00:00:00".into());
        let (fresh, after_first) = start.advance(
            vec![
                change("1", "2026-11-20T10:00:00"),
                change("2", "2026-11-20T10:00:05"),
                change("3", "2026-11-20T10:00:05"),
            ],
            NO_LAG,
        );
        assert_eq!(candidates(&fresh), ["1", "2", "3"]);
        assert_eq!(after_first.since, "2026-11-20T10:00:05");
        // FS returns the changes at `siden` again, plus one written late at the same second.
        let (fresh, after_second) = Position::parse(&after_first.render()).unwrap().advance(
            vec![
                change("2", "2026-11-20T10:00:05"),
                change("3", "2026-11-20T10:00:05"),
                change("4", "2026-11-20T10:00:05"),
                change("5", "2026-11-20T10:00:09"),
            ],
            NO_LAG,
        );
        assert_eq!(candidates(&fresh), ["4", "5"]);
        assert_eq!(after_second.since, "2026-11-20T10:00:09");
        assert_eq!(after_second.seen.len(), 1);
        let (fresh, _) = after_second.advance(vec![change("5", "2026-11-20T10:00:09")], NO_LAG);
        assert!(fresh.is_empty());
    }

    #[test]
    fn a_withdrawal_at_the_same_second_is_a_new_change() {
        let start = Position::starting_at("2026-11-20T10:00:00".into());
        let (_, after) = start.advance(vec![change("1", "2026-11-20T10:00:00")], NO_LAG);
        let withdrawn = DispatchItem {
            status: "TRUKKET".into(),
            ..change("1", "2026-11-20T10:00:00")
        };
        let (fresh, _) = after.advance(vec![change("1", "2026-11-20T10:00:00"), withdrawn], NO_LAG);
        assert_eq!(fresh.len(), 1);
        assert_eq!(fresh[0].status, "TRUKKET");
    }

    #[test]
    fn a_change_without_a_time_is_queued_once_and_does_not_move_the_position() {
        let start = Position::starting_at("2026-11-20T10:00:00".into());
        let (fresh, after) = start.advance(vec![change("9", "garbage")], NO_LAG);
        assert_eq!(fresh.len(), 1);
        assert_eq!(after.since, "2026-11-20T10:00:00");
        let (fresh, _) = Position::parse(&after.render())
            .unwrap()
            .advance(vec![change("9", "garbage")], NO_LAG);
        assert!(fresh.is_empty());
    }

    #[test]
    fn a_change_committed_late_inside_the_lag_is_read_once_and_nothing_is_queued_twice() {
        let start = Position::starting_at("2026-11-20T10:00:00".into());
        assert_eq!(start.query_from(LAG), "2026-11-20T09:55:00");
        let (fresh, first) = start.advance(
            vec![
                change("1", "2026-11-20T10:01:00"),
                change("2", "2026-11-20T10:04:00"),
            ],
            LAG,
        );
        assert_eq!(candidates(&fresh), ["1", "2"]);
        assert_eq!(first.query_from(LAG), "2026-11-20T09:59:00");
        // FS lists the same two again, plus one stamped before the latest and committed since.
        let (fresh, second) = Position::parse(&first.render()).unwrap().advance(
            vec![
                change("1", "2026-11-20T10:01:00"),
                change("3", "2026-11-20T10:02:30"),
                change("2", "2026-11-20T10:04:00"),
            ],
            LAG,
        );
        assert_eq!(candidates(&fresh), ["3"], "only the late one");
        assert_eq!(second.since, "2026-11-20T10:04:00");
        // Without the lag the late change is never asked for: FS gives only what is at or after
        // the latest time read.
        assert_eq!(first.query_from(NO_LAG), "2026-11-20T10:04:00");
        // Fingerprints older than the window are dropped as the latest time moves on.
        let (_, third) = second.advance(vec![change("4", "2026-11-20T10:08:00")], LAG);
        let mut kept: Vec<String> = third
            .seen
            .values()
            .flatten()
            .map(ToString::to_string)
            .collect();
        kept.sort();
        assert_eq!(kept, ["2026-11-20 10:04:00", "2026-11-20 10:08:00"]);
    }

    #[test]
    fn a_position_saved_before_times_were_kept_reads_its_fingerprints_as_at_its_time() {
        let old =
            Position::parse("2026-11-20T10:00:00|00000000000000aa,!00000000000000bb").unwrap();
        assert_eq!(
            old.seen.get("00000000000000aa"),
            Some(&fs_timestamp("2026-11-20T10:00:00"))
        );
        assert_eq!(old.seen.get("!00000000000000bb"), Some(&None));
        assert_eq!(
            old.render(),
            "2026-11-20T10:00:00|!00000000000000bb,00000000000000aa@2026-11-20T10:00:00"
        );
    }
}
