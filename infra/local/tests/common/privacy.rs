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

/// Named texts scanned for personal data (logs, execution lines, messages, notifications). Each
/// must hold something, so that a scan cannot pass because nothing was looked at.
#[derive(Default)]
pub struct Corpora(Vec<(String, String)>);

impl Corpora {
    /// Adds `text` to the corpus `name` (created on first use).
    pub fn add(&mut self, name: &str, text: &str) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, corpus)) => {
                corpus.push_str(text);
                corpus.push('\n');
            }
            None => self.0.push((name.to_owned(), format!("{text}\n"))),
        }
    }

    /// Panics if a corpus named in `required` is empty or missing, or if any of `personal` occurs
    /// in any corpus as a whole word. Prints what was scanned.
    pub fn assert_clean(&self, required: &[&str], personal: &[String]) {
        for name in required {
            let size = self
                .0
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, text)| text.trim().len());
            assert!(size > 0, "the {name} corpus is empty: nothing was scanned");
        }
        for (name, text) in &self.0 {
            eprintln!("{name}: {} bytes scanned", text.len());
            assert_no_personal_data(text, personal);
        }
    }
}

/// A message seen in a queue: its body and string attributes as one text, and its tenant.
pub struct Peeked {
    /// The body, then each string attribute's value, space-separated.
    pub text: String,
    /// Its body alone.
    pub body: String,
    /// Its `MessageGroupId`: the fair queue's tenant.
    pub tenant: Option<String>,
}

/// Every message in a queue, each left visible again afterwards (one extra receive each), for
/// scanning what travels between the functions.
pub async fn peek_queue(local: &flyt_local::Local, logical_id: &str) -> Vec<Peeked> {
    let url = local.stack.queue(logical_id).url.clone();
    let sqs = &local.aws.sqs;
    let mut seen = Vec::new();
    let mut handles = Vec::new();
    loop {
        let messages = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            // Long enough that the loop never receives its own messages again on a busy machine
            // (which would make their first receipt handles invalid).
            .visibility_timeout(600)
            .message_attribute_names("All")
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId,
            )
            .send()
            .await
            .expect("the queue answers")
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            let mut text = message.body().unwrap_or_default().to_owned();
            for value in message
                .message_attributes()
                .into_iter()
                .flat_map(|a| a.values())
            {
                text.push(' ');
                text.push_str(value.string_value().unwrap_or_default());
            }
            seen.push(Peeked {
                text,
                body: message.body().unwrap_or_default().to_owned(),
                tenant: message
                    .attributes()
                    .and_then(|a| {
                        a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
                    })
                    .cloned(),
            });
            handles.extend(message.receipt_handle().map(str::to_owned));
        }
    }
    for handle in handles {
        sqs.change_message_visibility()
            .queue_url(&url)
            .receipt_handle(handle)
            .visibility_timeout(0)
            .send()
            .await
            .expect("the message is made visible again");
    }
    seen
}

/// The e-mails the emulator's SES accepted (moto keeps them at `/moto-api/data.json`).
pub async fn ses_messages(local: &flyt_local::Local) -> Vec<serde_json::Value> {
    let data: serde_json::Value =
        reqwest::get(format!("{}/moto-api/data.json", local.emulator_url))
            .await
            .expect("the emulator answers")
            .json()
            .await
            .expect("moto's data is JSON");
    data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}
