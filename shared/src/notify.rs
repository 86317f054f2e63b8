//! Failure notifications to Slack, filtered through a per-interface blacklist.
//!
//! A [`Notification`] names an interface, its institution when it has one, the failure's
//! [`Category`] with what to do about it ([`Category::action`]), a summary and the execution to
//! open — ids and counts only, never personal data. The [`Blacklist`] (items
//! `notify-blacklist#<interface>` in the configuration table) keeps an interface's failures, or
//! some categories of them, out of the channel, for good or until a time. [`SlackNotifier`] posts
//! to a Slack incoming webhook whose URL is a secret; a failed post is logged and reported, never
//! fatal to the caller.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde_json::{json, Value};

use crate::dynamo::{Item, ItemExt};
use crate::error::{Category, Error, Result};
use crate::retry::RetryPolicy;

/// Key prefix of blacklist items in the configuration table.
pub const BLACKLIST_PREFIX: &str = "notify-blacklist#";
/// Slack shows at most 3,000 characters in a text section.
const MAX_SECTION_CHARS: usize = 2_900;
/// Slack's limit for a header block.
const MAX_HEADER_CHARS: usize = 150;

/// One failure or anomaly to tell the operators about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The interface it concerns, e.g. `fs-poll-uio-klage`; the blacklist is keyed by it.
    pub interface: String,
    /// The institution, when the interface belongs to one (e.g. `uio`).
    pub institution: Option<String>,
    /// What kind of failure; decides what the message says to do.
    pub category: Category,
    /// What happened, with ids and counts only.
    pub summary: String,
    /// The execution to open for the details.
    pub execution_id: Option<String>,
}

impl Notification {
    /// The one-line text: Slack's notification and fallback text.
    pub fn text(&self) -> String {
        let institution = self
            .institution
            .as_deref()
            .map(|i| format!(" ({i})"))
            .unwrap_or_default();
        escape(&format!(
            "Flyt {}: {}{institution}: {}",
            self.category,
            self.interface,
            truncate(&self.summary, MAX_SECTION_CHARS)
        ))
    }

    /// The Slack message: `text` plus blocks with the interface, institution, category and
    /// execution as fields, the summary, and what to do.
    pub fn to_slack(&self) -> Value {
        let or_none = |value: Option<&str>, code: bool| match value {
            Some(v) if code => format!("`{}`", escape(v)),
            Some(v) => escape(v),
            None => "—".to_owned(),
        };
        let field = |label: &str, value: String| json!({"type": "mrkdwn", "text": format!("*{label}*\n{value}")});
        json!({
            "text": self.text(),
            "blocks": [
                {
                    "type": "header",
                    "text": {
                        "type": "plain_text",
                        "text": truncate(&format!("Flyt: {} in {}", self.category, self.interface), MAX_HEADER_CHARS),
                    }
                },
                {
                    "type": "section",
                    "fields": [
                        field("Interface", or_none(Some(&self.interface), true)),
                        field("Institution", or_none(self.institution.as_deref(), false)),
                        field("Category", self.category.as_str().to_owned()),
                        field("Execution", or_none(self.execution_id.as_deref(), true)),
                    ]
                },
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": escape_within(&self.summary, MAX_SECTION_CHARS)}
                },
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": format!("*What to do:* {}", escape(self.category.action()))}
                }
            ]
        })
    }
}

/// Slack's control characters in mrkdwn and text: `&`, `<` and `>` are escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `text` escaped, cut so that the escaped text (with its `…`) stays within `limit` characters:
/// Slack counts the escaped text against a block's limit, and an entity is never cut in half.
fn escape_within(text: &str, limit: usize) -> String {
    let escaped = escape(text);
    if escaped.chars().count() <= limit {
        return escaped;
    }
    let mut out = String::new();
    let mut length = 0;
    for c in text.chars() {
        let piece = escape(c.encode_utf8(&mut [0; 4]));
        let width = piece.chars().count();
        if length + width > limit - 1 {
            break;
        }
        out.push_str(&piece);
        length += width;
    }
    out.push('…');
    out
}

fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(limit - 1).collect();
        format!("{cut}…")
    }
}

/// One interface's blacklist entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlacklistEntry {
    /// The categories kept out of the channel; `None` means every category.
    pub categories: Option<HashSet<Category>>,
    /// Until when (epoch seconds) the entry holds; `None` means until it is deleted.
    pub until_s: Option<i64>,
}

impl BlacklistEntry {
    /// Whether this entry keeps a failure of `category` out of the channel at `now_s`.
    pub fn suppresses(&self, category: Category, now_s: i64) -> bool {
        let current = self.until_s.is_none_or(|until| now_s < until);
        let covered = self
            .categories
            .as_ref()
            .is_none_or(|categories| categories.contains(&category));
        current && covered
    }
}

/// The interfaces whose failures are not sent: items `notify-blacklist#<interface>` in the
/// configuration table with an optional string set `categories` (absent: every category) and an
/// optional number `until` (epoch seconds; absent: until the item is deleted). Other attributes
/// (a `reason`, say) are the operators' own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Blacklist {
    entries: BTreeMap<String, BlacklistEntry>,
}

impl Blacklist {
    /// A blacklist of the given entries, by interface.
    pub fn new(entries: impl IntoIterator<Item = (String, BlacklistEntry)>) -> Self {
        Blacklist {
            entries: entries.into_iter().collect(),
        }
    }

    /// Reads every entry of the configuration table `table` (one paginated scan).
    pub async fn load(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<Self> {
        let items = crate::dynamo::scan_prefix(
            dynamodb,
            table,
            BLACKLIST_PREFIX,
            "the notification blacklist",
        )
        .await?;
        Ok(Blacklist::new(items.iter().filter_map(entry_from)))
    }

    /// Whether a failure of `interface` in `category` is kept out of the channel at `now_s`.
    pub fn suppresses(&self, interface: &str, category: Category, now_s: i64) -> bool {
        self.entries
            .get(interface)
            .is_some_and(|entry| entry.suppresses(category, now_s))
    }

    /// The entries, by interface.
    pub fn entries(&self) -> &BTreeMap<String, BlacklistEntry> {
        &self.entries
    }
}

/// An item as a blacklist entry. Category names are matched without regard to case; an unknown
/// name is logged and ignored, so a typo never silences more than was meant.
fn entry_from(item: &Item) -> Option<(String, BlacklistEntry)> {
    let interface = item
        .string("pk")?
        .strip_prefix(BLACKLIST_PREFIX)?
        .to_owned();
    let categories = item.string_set("categories").map(|names| {
        names
            .iter()
            .filter_map(|name| {
                let category = Category::ALL
                    .into_iter()
                    .find(|c| c.as_str().eq_ignore_ascii_case(name.trim()));
                if category.is_none() {
                    tracing::warn!(interface, category = %name, "unknown category in a notification blacklist entry; ignored");
                }
                category
            })
            .collect()
    });
    let until_s = item.number("until");
    Some((
        interface,
        BlacklistEntry {
            categories,
            until_s,
        },
    ))
}

/// The Slack secret's shape.
#[derive(serde::Deserialize)]
struct SlackSecret {
    webhook_url: String,
}

/// Posts notifications to a Slack incoming webhook through the one HTTP client and retry policy.
/// The webhook URL is a credential: it is never logged or shown (not even by `Debug`).
#[derive(Clone)]
pub struct SlackNotifier {
    http: reqwest::Client,
    retry: RetryPolicy,
    webhook_url: String,
}

impl fmt::Debug for SlackNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackNotifier")
            .field("webhook_url", &"<secret>")
            .finish()
    }
}

impl SlackNotifier {
    /// A notifier posting to `webhook_url`, which must be an `https://` URL (plain `http://` only
    /// to a loopback address, for the local sandbox): anything else is a Configuration error.
    pub fn new(http: reqwest::Client, retry: RetryPolicy, webhook_url: &str) -> Result<Self> {
        let webhook_url = webhook_url.trim();
        let loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
            .iter()
            .any(|prefix| webhook_url.starts_with(prefix));
        if !(webhook_url.starts_with("https://") || loopback) {
            return Err(Error::configuration(
                "the Slack secret's webhook_url is not an https URL (is it still the placeholder?): \
                 set it to the channel's incoming-webhook URL, https://hooks.slack.com/services/…",
            ));
        }
        Ok(SlackNotifier {
            http,
            retry,
            webhook_url: webhook_url.to_owned(),
        })
    }

    /// A notifier whose webhook URL is read from the JSON secret `secret_id`
    /// (`{"webhook_url": "https://hooks.slack.com/services/…"}`).
    pub async fn from_secret(
        secrets: &aws_sdk_secretsmanager::Client,
        secret_id: &str,
        http: reqwest::Client,
        retry: RetryPolicy,
    ) -> Result<Self> {
        let secret: SlackSecret =
            crate::secrets::load_json(secrets, secret_id, "webhook_url").await?;
        SlackNotifier::new(http, retry, &secret.webhook_url)
            .map_err(|e| e.context(format_args!("secret {secret_id}")))
    }

    /// Posts one notification, retried as the retry policy says (Slack's 429 `Retry-After`
    /// included). A failure is logged here and returned for the caller to count and report; it is
    /// never a reason to fail the caller's work. Errors name Slack and what it answered, never the
    /// URL.
    pub async fn notify(&self, notification: &Notification) -> Result<()> {
        let body = notification.to_slack();
        let result = self
            .retry
            .run(|| async {
                let response = self
                    .http
                    .post(&self.webhook_url)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| crate::http::transport_error("Slack", "incoming webhook", e))?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(crate::http::status_error("Slack", "incoming webhook", response).await)
                }
            })
            .await;
        if let Err(error) = &result {
            tracing::error!(
                error = %error,
                interface = %notification.interface,
                execution_id = notification.execution_id.as_deref().unwrap_or(""),
                "could not notify Slack"
            );
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::{n, s};
    use aws_sdk_dynamodb::types::AttributeValue;

    fn notification() -> Notification {
        Notification {
            interface: "fs-poll-uio-klage".into(),
            institution: Some("uio".into()),
            category: Category::Configuration,
            summary:
                "execution fs-poll-uio-klage-20261123T101500-4f2a finished KO with 2 error lines"
                    .into(),
            execution_id: Some("fs-poll-uio-klage-20261123T101500-4f2a".into()),
        }
    }

    #[test]
    fn the_message_names_interface_institution_category_execution_and_what_to_do() {
        let message = notification().to_slack();
        let text = message["text"].as_str().unwrap();
        assert_eq!(
            text,
            "Flyt Configuration: fs-poll-uio-klage (uio): execution fs-poll-uio-klage-20261123T101500-4f2a finished KO with 2 error lines"
        );
        let blocks = message["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(
            blocks[0]["text"]["text"],
            "Flyt: Configuration in fs-poll-uio-klage"
        );
        let fields: Vec<&str> = blocks[1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "*Interface*\n`fs-poll-uio-klage`",
                "*Institution*\nuio",
                "*Category*\nConfiguration",
                "*Execution*\n`fs-poll-uio-klage-20261123T101500-4f2a`",
            ]
        );
        assert_eq!(
            blocks[2]["text"]["text"],
            "execution fs-poll-uio-klage-20261123T101500-4f2a finished KO with 2 error lines"
        );
        assert_eq!(
            blocks[3]["text"]["text"],
            format!("*What to do:* {}", Category::Configuration.action())
        );
    }

    #[test]
    fn a_summary_of_control_characters_stays_within_the_section_limit_once_escaped() {
        let slack = Notification {
            summary: "<&>".repeat(2_000),
            ..notification()
        }
        .to_slack();
        let section = slack["blocks"][2]["text"]["text"].as_str().unwrap();
        assert!(
            section.chars().count() <= MAX_SECTION_CHARS,
            "{}",
            section.len()
        );
        assert!(
            section.ends_with("&gt;…") || section.ends_with("&lt;…") || section.ends_with("&amp;…")
        );
        let short = Notification {
            summary: "a < b".to_owned(),
            ..notification()
        };
        assert_eq!(short.to_slack()["blocks"][2]["text"]["text"], "a &lt; b");
    }

    #[test]
    fn missing_parts_show_a_dash_and_control_characters_are_escaped() {
        let message = Notification {
            interface: "alma-dlq".into(),
            institution: None,
            category: Category::Technical,
            summary: "depth <5> & rising".into(),
            execution_id: None,
        }
        .to_slack();
        assert_eq!(
            message["text"],
            "Flyt Technical: alma-dlq: depth &lt;5&gt; &amp; rising"
        );
        assert_eq!(
            message["blocks"][1]["fields"][1]["text"],
            "*Institution*\n—"
        );
        assert_eq!(message["blocks"][1]["fields"][3]["text"], "*Execution*\n—");
        assert_eq!(
            message["blocks"][2]["text"]["text"],
            "depth &lt;5&gt; &amp; rising"
        );
    }

    #[test]
    fn a_long_summary_is_cut_to_what_slack_shows() {
        let long = Notification {
            summary: "x".repeat(5_000),
            ..notification()
        }
        .to_slack();
        let section = long["blocks"][2]["text"]["text"].as_str().unwrap();
        assert_eq!(section.chars().count(), MAX_SECTION_CHARS);
        assert!(section.ends_with('…'));
    }

    fn item(interface: &str, categories: Option<&[&str]>, until: Option<i64>) -> Item {
        let mut item = Item::from([("pk".to_owned(), s(format!("{BLACKLIST_PREFIX}{interface}")))]);
        if let Some(categories) = categories {
            item.insert(
                "categories".to_owned(),
                AttributeValue::Ss(categories.iter().map(|c| c.to_string()).collect()),
            );
        }
        if let Some(until) = until {
            item.insert("until".to_owned(), n(until));
        }
        item
    }

    #[test]
    fn the_blacklist_matches_interface_category_and_time() {
        let blacklist = Blacklist::new(
            [
                item("bokbasen-objects", None, None),
                item(
                    "fs-poll-uib-klage",
                    Some(&["external", "Mapping", "Nonsense"]),
                    None,
                ),
                item("wiseflow-poll-uib", None, Some(1_000)),
            ]
            .iter()
            .filter_map(entry_from),
        );
        // Every category, for good.
        for category in Category::ALL {
            assert!(blacklist.suppresses("bokbasen-objects", category, 5_000));
        }
        // Only the named categories (case-insensitive); the unknown name is ignored.
        assert!(blacklist.suppresses("fs-poll-uib-klage", Category::External, 0));
        assert!(blacklist.suppresses("fs-poll-uib-klage", Category::Mapping, 0));
        assert!(!blacklist.suppresses("fs-poll-uib-klage", Category::Technical, 0));
        assert_eq!(
            blacklist.entries()["fs-poll-uib-klage"].categories,
            Some(HashSet::from([Category::External, Category::Mapping]))
        );
        // Until a time, then no longer.
        assert!(blacklist.suppresses("wiseflow-poll-uib", Category::External, 999));
        assert!(!blacklist.suppresses("wiseflow-poll-uib", Category::External, 1_000));
        // Other interfaces, including a longer name sharing the prefix.
        assert!(!blacklist.suppresses("bokbasen-descriptions", Category::External, 0));
        assert!(!blacklist.suppresses("bokbasen-objects-2", Category::External, 0));
    }

    #[test]
    fn items_of_other_kinds_are_not_entries() {
        let other = Item::from([("pk".to_owned(), s("institution#uio"))]);
        assert_eq!(entry_from(&other), None);
    }

    #[test]
    fn only_https_or_loopback_webhooks_are_accepted_and_the_url_is_never_shown() {
        let http = crate::http::client(std::time::Duration::from_secs(1));
        let retry = RetryPolicy::default();
        for url in [
            "https://hooks.slack.com/services/T0/B0/abc",
            "http://127.0.0.1:4000/services/T/B/x",
        ] {
            let notifier = SlackNotifier::new(http.clone(), retry.clone(), url).unwrap();
            assert!(!format!("{notifier:?}").contains("services"));
        }
        for url in [
            "Kx9f2PlaceholderValue",
            "http://hooks.slack.com/services/T0/B0/abc",
            "",
        ] {
            let error = SlackNotifier::new(http.clone(), retry.clone(), url).unwrap_err();
            assert_eq!(error.category(), Category::Configuration);
            assert!(!error.message().contains("hooks.slack.com/services/T0"));
        }
    }
}
