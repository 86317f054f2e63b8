//! The daily digest e-mail of an institution: the day's executions of its interfaces, KO first,
//! each KO with its first error's category and what to do — ids, counts and Flyt's own lines
//! only, which hold no personal data.
//!
//! People opt in per institution; their addresses are kept in the configuration table
//! (`digest#<org>`, string set `recipients`), read only to send, and never logged or written
//! anywhere else.

use chrono::NaiveDate;

use crate::dynamo::{ItemExt, SetChange, StringSets};
use crate::error::{Error, Result};
use crate::execution::{Execution, LogLine, Status};

/// Key prefix of an institution's subscriptions in the configuration table.
pub const SUBSCRIPTION_PREFIX: &str = "digest#";
const RECIPIENTS: &str = "recipients";

/// Who opted in to which institution's digest.
#[derive(Clone, Debug)]
pub struct Subscriptions {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    sets: StringSets,
}

impl Subscriptions {
    /// Subscriptions in the configuration table.
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        let table = table.into();
        Subscriptions {
            sets: StringSets::new(dynamodb.clone(), &table, RECIPIENTS),
            dynamodb,
            table,
        }
    }

    /// Adds `address` to `org`'s digest.
    pub async fn subscribe(&self, org: &str, address: &str) -> Result<()> {
        let address = checked_address(address)?;
        self.sets
            .change(&key(org), SetChange::Add, vec![address])
            .await
    }

    /// Takes `address` off `org`'s digest.
    pub async fn unsubscribe(&self, org: &str, address: &str) -> Result<()> {
        let address = checked_address(address)?;
        self.sets
            .change(&key(org), SetChange::Remove, vec![address])
            .await
    }

    /// The addresses subscribed to `org`'s digest, sorted.
    pub async fn recipients(&self, org: &str) -> Result<Vec<String>> {
        self.sets.members(&key(org)).await
    }

    /// Every institution with at least one subscriber, with its subscribers.
    pub async fn all(&self) -> Result<Vec<(String, Vec<String>)>> {
        let items = crate::dynamo::scan_prefix(
            &self.dynamodb,
            &self.table,
            SUBSCRIPTION_PREFIX,
            "digest subscriptions",
        )
        .await?;
        let mut all: Vec<(String, Vec<String>)> = items
            .into_iter()
            .filter_map(|item| {
                let org = item
                    .string("pk")?
                    .strip_prefix(SUBSCRIPTION_PREFIX)?
                    .to_owned();
                let mut recipients = item.string_set(RECIPIENTS).unwrap_or_default();
                recipients.sort();
                (!recipients.is_empty()).then_some((org, recipients))
            })
            .collect();
        all.sort();
        Ok(all)
    }
}

fn key(org: &str) -> String {
    format!("{SUBSCRIPTION_PREFIX}{org}")
}

/// The name of one digest's delivery, `digest#<org>#<day>#<recipient>`, the recipient as the
/// [`crate::scrub::pseudonym`] of their address: the marker that makes it go out once names no
/// one.
pub fn delivery_key(org: &str, day: NaiveDate, address: &str) -> String {
    format!("digest#{org}#{day}#{}", crate::scrub::pseudonym(address))
}

/// An e-mail address fit to send to: one `@`, something on each side, no blanks or control
/// characters (no header injection), at most 254 characters. The error never repeats it.
pub fn checked_address(address: &str) -> Result<String> {
    let address = address.trim();
    let fits = address.len() <= 254
        && address.split('@').count() == 2
        && address.split('@').all(|part| !part.is_empty())
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'));
    if fits {
        Ok(address.to_ascii_lowercase())
    } else {
        Err(Error::configuration(
            "the digest recipient is not an e-mail address of the form name@domain",
        ))
    }
}

/// A composed digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
}

/// The digest of `org` for `day`: every execution with, for a KO one, its first error line.
pub fn compose(org: &str, day: NaiveDate, executions: &[(Execution, Option<LogLine>)]) -> Digest {
    let count = |status: Status| {
        executions
            .iter()
            .filter(|(e, _)| e.status() == status)
            .count()
    };
    let (ko, ok, running) = (count(Status::Ko), count(Status::Ok), count(Status::Running));
    let subject = if ko > 0 {
        format!("Flyt {org} {day}: {ko} KO of {}", executions.len())
    } else {
        format!("Flyt {org} {day}: all {} OK", executions.len())
    };
    let mut text = format!(
        "Flyt — daily digest for {org}, {day} (UTC)\n\n{} executions: {ko} KO, {ok} OK, {running} running.\n",
        executions.len()
    );
    let mut ordered: Vec<&(Execution, Option<LogLine>)> = executions.iter().collect();
    ordered.sort_by_key(|(e, _)| {
        let rank = match e.status() {
            Status::Ko => 0,
            Status::Running => 1,
            Status::Ok => 2,
        };
        (rank, std::cmp::Reverse(e.started_at_ms))
    });
    for (execution, first_error) in ordered {
        text.push_str(&format!(
            "\n{}  {}  {}  ({} errors)\n",
            execution.status(),
            execution.interface,
            execution.id,
            execution.errors
        ));
        if let Some(line) = first_error {
            let category = line.category.map(|c| c.as_str()).unwrap_or("error");
            text.push_str(&format!("    first error [{category}]: {}\n", line.message));
            if let Some(category) = line.category {
                text.push_str(&format!("    what to do: {}\n", category.action()));
            }
        }
    }
    text.push_str(
        "\nYou get this because you opted in to your institution's Flyt digest; ask the Flyt operators to stop it.\n",
    );
    Digest { subject, text }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::error::Category;
    use crate::execution::Level;

    fn execution(id: &str, errors: u64, finished: bool, started: i64) -> Execution {
        Execution {
            id: id.into(),
            interface: "fs-poll-uio-klage".into(),
            trigger: "schedule".into(),
            started_at_ms: started,
            finished_at_ms: finished.then_some(started + 1000),
            counts: BTreeMap::new(),
            errors,
        }
    }

    #[test]
    fn ko_comes_first_with_its_category_and_what_to_do() {
        let error = LogLine {
            at_ms: 0,
            level: Level::Error,
            category: Some(Category::Mapping),
            message: "uio klage vurdId X kandidatnr 12345: field sisKode is missing".into(),
        };
        let digest = compose(
            "uio",
            NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
            &[
                (execution("ok-1", 0, true, 2), None),
                (execution("ko-1", 1, true, 1), Some(error)),
            ],
        );
        assert_eq!(digest.subject, "Flyt uio 2026-11-22: 1 KO of 2");
        let ko = digest.text.find("ko-1").unwrap();
        assert!(ko < digest.text.find("ok-1").unwrap(), "{}", digest.text);
        assert!(digest.text.contains("first error [Mapping]"));
        assert!(digest.text.contains(Category::Mapping.action()));
        assert!(digest.text.contains("2 executions: 1 KO, 1 OK, 0 running."));
    }

    #[test]
    fn a_quiet_day_says_so() {
        let digest = compose("uib", NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(), &[]);
        assert_eq!(digest.subject, "Flyt uib 2026-11-22: all 0 OK");
    }

    #[test]
    fn addresses_are_checked_without_being_echoed() {
        assert_eq!(
            checked_address(" Digest.Reader@UiO.example ").unwrap(),
            "digest.reader@uio.example"
        );
        for bad in [
            "no-at",
            "a@b@c",
            "@x",
            "x@",
            "a b@c",
            "a@b\r\nBcc: x@y",
            "a@b,c@d",
        ] {
            let error = checked_address(bad).unwrap_err();
            assert!(!error.message().contains(bad), "{error}");
        }
    }

    #[test]
    fn a_delivery_is_named_without_its_address_and_once_per_org_day_and_recipient() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let key = delivery_key("uio", day, "Digest.One@uio.example");
        assert!(key.starts_with("digest#uio#2026-12-07#"), "{key}");
        assert!(
            !key.contains("digest.one") && !key.contains("uio.example"),
            "{key}"
        );
        assert_eq!(key, delivery_key("uio", day, " digest.one@uio.example"));
        assert_ne!(key, delivery_key("uio", day, "digest.two@uio.example"));
        assert_ne!(key, delivery_key("uib", day, "digest.one@uio.example"));
        assert_ne!(
            key,
            delivery_key("uio", day.succ_opt().unwrap(), "digest.one@uio.example")
        );
    }
}
