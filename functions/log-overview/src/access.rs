//! Who is let in. An institution is connected while its entry has a Feide realm; a person is let
//! in while their Feide user id is on that institution's list ([`flyt::viewers`]). A realm alone
//! admits no one: the institution's students sign in with it too.
//!
//! Both are read per institution at most once per cache period (`INSTITUTION_CACHE_SECONDS`) and
//! checked on every page view against the session's [`pseudonym`](flyt::scrub::pseudonym) of the
//! person, so taking someone off the list, or disconnecting the institution, ends their session
//! within that period. A sign-in reads them afresh.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flyt::institution::{normalize_realm, InstitutionStore};
use flyt::viewers::Viewers;
use flyt::Result;

/// A connected institution as a page view needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connected {
    /// Its short name, shown on the page.
    pub name: String,
    /// The pseudonyms of the people on its list.
    pub viewers: BTreeSet<String>,
    /// Whom its people ask to be let in, as configured.
    pub contact: Option<String>,
}

impl Connected {
    /// Whether the person of pseudonym `viewer` may see the institution's page.
    pub fn admits(&self, viewer: &str) -> bool {
        self.viewers.contains(viewer)
    }

    /// The sentence that tells a person who is not let in whom to ask.
    pub fn whom_to_ask(&self) -> String {
        let whom = self
            .contact
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .unwrap_or("your institution's Flyt administrators");
        format!(
            "Only the people on {}'s list may see its log overview. To be added, ask {whom}, giving your Feide user id.",
            self.name
        )
    }
}

/// The connections and lists, cached per institution.
pub struct Access {
    institutions: InstitutionStore,
    viewers: Viewers,
    period: Duration,
    cache: Mutex<HashMap<String, (Instant, Option<Connected>)>>,
}

impl Access {
    /// Reads from the configuration table's entries and lists, each kept `period`.
    pub fn new(institutions: InstitutionStore, viewers: Viewers, period: Duration) -> Self {
        Access {
            institutions,
            viewers,
            period,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The institution `org` while it is connected; read afresh when `fresh` (a sign-in) or
    /// when the cached answer is older than the period.
    pub async fn connection(&self, org: &str, fresh: bool) -> Result<Option<Connected>> {
        if !fresh {
            if let Some((at, connected)) = self.lock().get(org).cloned() {
                if at.elapsed() < self.period {
                    return Ok(connected);
                }
            }
        }
        let entry = self.institutions.entry(org).await?.filter(|entry| {
            entry
                .feide_realm
                .as_deref()
                .and_then(normalize_realm)
                .is_some()
        });
        let connected = match entry {
            Some(entry) => Some(Connected {
                viewers: self.viewers.pseudonyms(org).await?.into_iter().collect(),
                contact: entry.log_overview_contact,
                name: entry.org_short_name.unwrap_or(entry.org_id),
            }),
            None => None,
        };
        self.lock()
            .insert(org.to_owned(), (Instant::now(), connected.clone()));
        Ok(connected)
    }

    /// The org id of the institution whose realm is `realm`, connected or not.
    pub async fn org_of_realm(&self, realm: &str) -> Result<Option<String>> {
        self.institutions.by_feide_realm(realm).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Option<Connected>)>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uio(contact: Option<&str>) -> Connected {
        Connected {
            name: "uio".into(),
            viewers: [flyt::scrub::pseudonym("ola@uio.no")].into(),
            contact: contact.map(str::to_owned),
        }
    }

    #[test]
    fn only_people_on_the_list_are_admitted_and_the_others_told_whom_to_ask() {
        let connected = uio(Some("the exam office, eksamen@uio.no"));
        assert!(connected.admits(&flyt::scrub::pseudonym("OLA@uio.no")));
        assert!(!connected.admits(&flyt::scrub::pseudonym("kari@uio.no")));
        assert!(connected
            .whom_to_ask()
            .contains("ask the exam office, eksamen@uio.no"));
        assert!(uio(None)
            .whom_to_ask()
            .contains("ask your institution's Flyt administrators"));
        assert!(uio(Some("  "))
            .whom_to_ask()
            .contains("ask your institution's Flyt administrators"));
    }
}
