//! Where a poll of one FS list resumes. FS returns changes made at or after `siden`, so the next
//! poll asks from the latest change time read and drops the changes it already read at exactly
//! that time: no change is skipped (a late write at the same second is still read) and none is
//! queued twice by overlapping windows. (The ordering store downstream would also drop a repeat;
//! this keeps repeats off the queue.)

use std::collections::BTreeSet;

use flyt::appeals::{fs_timestamp, DispatchItem};

/// A list's saved position: the latest change time read, and fingerprints of the changes read at
/// that time (plus changes whose time does not parse, so they are not re-queued every poll).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// `siden` for the next poll, `yyyy-MM-ddTHH:mm:ss`.
    pub since: String,
    /// Changes already read at `since`.
    pub seen: BTreeSet<String>,
}

impl Position {
    /// A position with nothing read yet.
    pub fn starting_at(since: String) -> Self {
        Position {
            since,
            seen: BTreeSet::new(),
        }
    }

    /// The position saved as text by [`Position::render`].
    pub fn parse(text: &str) -> Option<Self> {
        let (since, seen) = text.split_once('|').unwrap_or((text, ""));
        fs_timestamp(since)?;
        Some(Position {
            since: since.to_owned(),
            seen: seen
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }

    /// The text saved in the cursor.
    pub fn render(&self) -> String {
        let seen: Vec<&str> = self.seen.iter().map(String::as_str).collect();
        format!("{}|{}", self.since, seen.join(","))
    }

    /// Splits what a poll read into the changes not queued before, and the position after them.
    pub fn advance(&self, items: Vec<DispatchItem>) -> (Vec<DispatchItem>, Position) {
        let mut fresh = Vec::new();
        let mut next = self.clone();
        for item in items {
            let print = fingerprint(&item);
            let at = fs_timestamp(&item.changed_at);
            let already = self.seen.contains(&print)
                && (at.is_none() || item.changed_at.trim() == self.since);
            if already {
                continue;
            }
            match at {
                Some(at) => {
                    let latest = fs_timestamp(&next.since);
                    if latest.is_none_or(|latest| at > latest) {
                        next.since = item.changed_at.trim().to_owned();
                        next.seen.retain(|p| p.starts_with('!'));
                        next.seen.insert(print);
                    } else if item.changed_at.trim() == next.since {
                        next.seen.insert(print);
                    }
                }
                None => {
                    next.seen.insert(print);
                }
            }
            fresh.push(item);
        }
        (fresh, next)
    }
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
        }
    }

    fn candidates(items: &[DispatchItem]) -> Vec<&str> {
        items.iter().map(|i| i.kandidatnr.as_str()).collect()
    }

    #[test]
    fn overlapping_polls_queue_each_change_once_and_skip_none() {
        let start = Position::starting_at("2026-11-20T00:00:00".into());
        let (fresh, after_first) = start.advance(vec![
            change("1", "2026-11-20T10:00:00"),
            change("2", "2026-11-20T10:00:05"),
            change("3", "2026-11-20T10:00:05"),
        ]);
        assert_eq!(candidates(&fresh), ["1", "2", "3"]);
        assert_eq!(after_first.since, "2026-11-20T10:00:05");
        // FS returns the changes at `siden` again, plus one written late at the same second.
        let (fresh, after_second) = Position::parse(&after_first.render())
            .unwrap()
            .advance(vec![
                change("2", "2026-11-20T10:00:05"),
                change("3", "2026-11-20T10:00:05"),
                change("4", "2026-11-20T10:00:05"),
                change("5", "2026-11-20T10:00:09"),
            ]);
        assert_eq!(candidates(&fresh), ["4", "5"]);
        assert_eq!(after_second.since, "2026-11-20T10:00:09");
        assert_eq!(after_second.seen.len(), 1);
        let (fresh, _) = after_second.advance(vec![change("5", "2026-11-20T10:00:09")]);
        assert!(fresh.is_empty());
    }

    #[test]
    fn a_withdrawal_at_the_same_second_is_a_new_change() {
        let start = Position::starting_at("2026-11-20T10:00:00".into());
        let (_, after) = start.advance(vec![change("1", "2026-11-20T10:00:00")]);
        let withdrawn = DispatchItem {
            status: "TRUKKET".into(),
            ..change("1", "2026-11-20T10:00:00")
        };
        let (fresh, _) = after.advance(vec![change("1", "2026-11-20T10:00:00"), withdrawn]);
        assert_eq!(fresh.len(), 1);
        assert_eq!(fresh[0].status, "TRUKKET");
    }

    #[test]
    fn a_change_without_a_time_is_queued_once_and_does_not_move_the_position() {
        let start = Position::starting_at("2026-11-20T10:00:00".into());
        let (fresh, after) = start.advance(vec![change("9", "garbage")]);
        assert_eq!(fresh.len(), 1);
        assert_eq!(after.since, "2026-11-20T10:00:00");
        let (fresh, _) = Position::parse(&after.render())
            .unwrap()
            .advance(vec![change("9", "garbage")]);
        assert!(fresh.is_empty());
    }
}
