//! Who may see an institution's log overview: a per-institution allow-list of Feide users, kept
//! in the configuration table (`viewers#<org>`, a string set) and managed with `flyt viewers`.
//!
//! A realm admits no one by itself: every student of an institution signs in with its realm, and
//! the page names candidates per exam. A person is let in when their Feide user id
//! (eduPersonPrincipalName, `<user>@<realm>`) is on the list of the institution whose realm it
//! carries. The session keeps only the person's [`pseudonym`], and every page view checks it
//! against the list as read at most a cache period ago, so taking someone off the list ends
//! their session within that period. The ids are personal data: they live in the configuration
//! table alone, and no log line, error or answer of Flyt's repeats one.

use crate::dynamo::{SetChange, StringSets};
use crate::error::{Error, Result};
use crate::scrub::pseudonym;

/// Key prefix of an institution's allow-list in the configuration table.
pub const VIEWERS_PREFIX: &str = "viewers#";
const PEOPLE: &str = "people";

/// The allow-lists of the log overview.
#[derive(Clone, Debug)]
pub struct Viewers {
    sets: StringSets,
}

impl Viewers {
    /// Allow-lists in the configuration table.
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Viewers {
            sets: StringSets::new(dynamodb, table.into(), PEOPLE),
        }
    }

    /// Lets Feide user `user` see `org`'s log overview.
    pub async fn add(&self, org: &str, user: &str) -> Result<()> {
        let user = checked_feide_user(user)?;
        self.sets
            .change(&key(org), SetChange::Add, vec![user])
            .await
    }

    /// Takes Feide user `user` off `org`'s list; their session ends within a cache period.
    pub async fn remove(&self, org: &str, user: &str) -> Result<()> {
        let user = checked_feide_user(user)?;
        self.sets
            .change(&key(org), SetChange::Remove, vec![user])
            .await
    }

    /// The Feide users on `org`'s list, sorted.
    pub async fn of(&self, org: &str) -> Result<Vec<String>> {
        self.sets.members(&key(org)).await
    }

    /// The pseudonyms of the people on `org`'s list: what a page view is checked against.
    pub async fn pseudonyms(&self, org: &str) -> Result<Vec<String>> {
        Ok(self.of(org).await?.iter().map(|u| pseudonym(u)).collect())
    }
}

fn key(org: &str) -> String {
    format!("{VIEWERS_PREFIX}{org}")
}

/// A Feide user id as Feide writes it, `<user>@<realm>`, lower-cased: one `@`, a realm that is a
/// domain name ([`realm_of`]), no blanks or control characters. The error never repeats it.
pub fn checked_feide_user(user: &str) -> Result<String> {
    let user = user.trim();
    let fits = user.len() <= 256
        && user.matches('@').count() == 1
        && realm_of(user).is_some()
        && !user.chars().any(|c| c.is_whitespace() || c.is_control());
    if fits {
        Ok(user.to_lowercase())
    } else {
        Err(Error::configuration(
            "the log overview's user is not a Feide user id of the form user@realm (eduPersonPrincipalName)",
        ))
    }
}

/// The realm of an eduPersonPrincipalName: what follows its last `@`, lower-case, if it is a
/// domain name (letters, digits, `-`, at least one `.`) and a user part precedes it.
pub fn realm_of(eppn: &str) -> Option<String> {
    let (user, realm) = eppn.trim().rsplit_once('@')?;
    let realm = realm.to_ascii_lowercase();
    let labels_fit = realm.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    (!user.is_empty() && realm.contains('.') && realm.len() <= 253 && labels_fit).then_some(realm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feide_user_ids_are_checked_without_being_echoed() {
        assert_eq!(
            checked_feide_user(" Ola.Nordmann@UiO.no ").unwrap(),
            "ola.nordmann@uio.no"
        );
        for bad in [
            "ola",
            "@uio.no",
            "ola@",
            "ola@uio",
            "ola nordmann@uio.no",
            "a@b@uio.no",
        ] {
            let error = checked_feide_user(bad).unwrap_err().to_string();
            assert!(!error.contains(bad), "{error}");
        }
        assert_eq!(realm_of("ola@UiO.no").as_deref(), Some("uio.no"));
        assert_eq!(realm_of("ola"), None);
    }

    #[test]
    fn a_pseudonym_tells_people_apart_without_naming_them() {
        let ola = pseudonym("ola@uio.no");
        assert_eq!(ola.len(), 16);
        assert_eq!(ola, pseudonym(" OLA@uio.no"));
        assert_ne!(ola, pseudonym("kari@uio.no"));
        assert!(!ola.contains("ola"));
    }
}
