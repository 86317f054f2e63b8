//! Proving that no personal data leaks: captured log output, and a whole-word search for every
//! personal value the sandbox holds.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Collects everything written to it.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where `needle` occurs in `text` as a whole word (not inside a longer word or id).
pub fn whole_word_in(text: &str, needle: &str) -> Option<usize> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(needle).map(|(at, _)| at).find(|&at| {
        let before = text[..at].chars().next_back().is_none_or(|c| !word(c));
        let after = text[at + needle.len()..]
            .chars()
            .next()
            .is_none_or(|c| !word(c));
        before && after
    })
}

/// Panics, showing the context, if any of `personal` occurs in `seen` as a whole word.
pub fn assert_no_personal_data(seen: &str, personal: &[String]) {
    for value in personal {
        if let Some(at) = whole_word_in(seen, value) {
            let start = at.saturating_sub(200);
            panic!(
                "personal data {value:?} leaked: …{}…",
                &seen[start..(at + 200).min(seen.len())]
            );
        }
    }
}
