//! The simulated Bokbasen export service: OAuth tokens, the object and
//! description change reports, and description documents.
//!
//! Each report is an append-only change log. Tests inspect it with
//! [`BokbasenState::items`] and extend it with [`BokbasenState::append_change`].

mod cursor;
mod data;
mod routes;
mod xml;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::faults::{FaultGate, Faults};
use crate::SandboxOptions;

pub(crate) use cursor::Cursor;
pub(crate) use routes::router;

/// How long an issued access token stays valid.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// One of the two export reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Report {
    /// Covers and audio samples (`/metadata/export/object/v1`).
    Objects,
    /// Description texts (`/metadata/export/description/v1`).
    Descriptions,
}

impl Report {
    /// Default and maximum page size of the report.
    pub fn max_page_size(self) -> usize {
        match self {
            Report::Objects => 5000,
            Report::Descriptions => 1000,
        }
    }

    /// The TYPE codes the report uses.
    pub fn type_codes(self) -> &'static [&'static str] {
        match self {
            Report::Objects => &["ly", "ol", "os", "org"],
            Report::Descriptions => &["short", "long", "review"],
        }
    }

    fn change_id(self, seq: u64) -> String {
        match self {
            Report::Objects => format!("o{seq:07}"),
            Report::Descriptions => format!("d{seq:07}"),
        }
    }

    fn reference(self, base_url: &str, id: &str) -> String {
        match self {
            Report::Objects => format!("{base_url}/objects/{id}.jpg"),
            Report::Descriptions => format!("{base_url}/metadata/description/{id}"),
        }
    }
}

/// One entry of a report's change log, as a client sees it in the export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportItem {
    /// The book's ISBN-13.
    pub isbn13: String,
    /// The book's EAN; always equal to the ISBN-13 here.
    pub ean: String,
    /// The TYPE code, e.g. `ol` or `long`.
    pub type_code: String,
    /// URL of this version's content; every change has its own.
    pub reference: String,
    /// Position in the report's change log; later changes are newer versions.
    pub change_seq: u64,
}

/// A change in a report's log.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Change {
    pub(crate) seq: u64,
    pub(crate) at: DateTime<Utc>,
    pub(crate) isbn13: String,
    pub(crate) type_code: String,
    pub(crate) id: String,
}

/// Where a page starts.
pub(crate) enum Start {
    /// Changes with a change time strictly after this instant.
    After(DateTime<Utc>),
    /// Changes after this cursor; the raw text is echoed on an empty page.
    Next(Cursor, String),
}

/// One page of a report, ready to render.
pub(crate) struct Page {
    pub(crate) changes: Vec<Change>,
    pub(crate) next: String,
    pub(crate) malformed: bool,
}

/// A description document as served, after applying test faults.
pub(crate) struct DescriptionDoc {
    pub(crate) isbn13: String,
    pub(crate) type_code: String,
    pub(crate) text: String,
    pub(crate) malformed: bool,
}

/// Shared, inspectable state of the simulated Bokbasen; thread-safe.
pub struct BokbasenState {
    base_url: String,
    client_id: String,
    client_secret: String,
    seed: u64,
    catalog: Arc<Catalog>,
    gate: FaultGate,
    inner: Mutex<Inner>,
}

struct Inner {
    objects: Vec<Change>,
    descriptions: Vec<Change>,
    books: Vec<String>,
    tokens: HashMap<String, Instant>,
    malformed_descriptions: HashSet<String>,
    mismatched_descriptions: HashSet<String>,
    malformed_pages: u32,
    request_count: u64,
    token_requests: u64,
    /// Unseeded, so a restarted sandbox never re-issues an earlier token.
    token_rng: fastrand::Rng,
}

impl Inner {
    fn log(&self, report: Report) -> &Vec<Change> {
        match report {
            Report::Objects => &self.objects,
            Report::Descriptions => &self.descriptions,
        }
    }

    fn log_mut(&mut self, report: Report) -> &mut Vec<Change> {
        match report {
            Report::Objects => &mut self.objects,
            Report::Descriptions => &mut self.descriptions,
        }
    }
}

/// Accepts a description id (`d0000042`) or its full reference URL.
fn description_id(id_or_reference: &str) -> String {
    id_or_reference
        .rsplit('/')
        .next()
        .unwrap_or(id_or_reference)
        .to_owned()
}

impl BokbasenState {
    /// Seeds both reports and registers every seeded book in `catalog`.
    pub(crate) fn new(
        options: &SandboxOptions,
        base_url: String,
        catalog: Arc<Catalog>,
        now: DateTime<Utc>,
    ) -> Self {
        let seeded = data::seed(
            options.objects,
            options.descriptions,
            options.seed,
            now.trunc_subsecs(0),
        );
        for book in &seeded.books {
            catalog.add(book);
        }
        Self {
            base_url,
            client_id: options.bokbasen_client_id.clone(),
            client_secret: options.bokbasen_client_secret.clone(),
            seed: options.seed,
            catalog,
            gate: FaultGate::new(options.seed ^ 0xb0cb_a5e0),
            inner: Mutex::new(Inner {
                objects: seeded.objects,
                descriptions: seeded.descriptions,
                books: seeded.books,
                tokens: HashMap::new(),
                malformed_descriptions: HashSet::new(),
                mismatched_descriptions: HashSet::new(),
                malformed_pages: 0,
                request_count: 0,
                token_requests: 0,
                token_rng: fastrand::Rng::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("bokbasen state lock")
    }

    /// Replaces the active faults.
    pub fn set_faults(&self, faults: Faults) {
        self.gate.set(faults);
    }

    /// The active faults.
    pub fn faults(&self) -> Faults {
        self.gate.get()
    }

    /// Requests received on every non-admin route, including faulted ones.
    pub fn request_count(&self) -> u64 {
        self.lock().request_count
    }

    /// Requests received on `/oauth/token`, including faulted and rejected ones.
    pub fn token_requests(&self) -> u64 {
        self.lock().token_requests
    }

    /// Appends a change to the end of `kind`'s log (a newer version of
    /// `(isbn13, type_code)`, or a new item), registers the book as known to
    /// Alma, and returns the new reference URL.
    pub fn append_change(&self, kind: Report, isbn13: &str, type_code: &str) -> String {
        self.catalog.add(isbn13);
        let now = Utc::now().trunc_subsecs(0);
        let mut inner = self.lock();
        let log = inner.log_mut(kind);
        let (seq, at) = match log.last() {
            Some(last) => (last.seq + 1, now.max(last.at)),
            None => (1, now),
        };
        let id = kind.change_id(seq);
        let reference = kind.reference(&self.base_url, &id);
        log.push(Change {
            seq,
            at,
            isbn13: isbn13.to_owned(),
            type_code: type_code.to_owned(),
            id,
        });
        reference
    }

    /// Serves these descriptions as non-well-formed XML until replaced.
    /// Entries are description ids (see [`Self::description_ids`]) or full
    /// reference URLs; an empty list clears the fault.
    pub fn set_malformed_descriptions(&self, refs: Vec<String>) {
        self.lock().malformed_descriptions = refs.iter().map(|r| description_id(r)).collect();
    }

    /// Serves these descriptions with another book's ISBN-13 until replaced.
    /// Entries are description ids or full reference URLs; an empty list
    /// clears the fault.
    pub fn set_mismatched_descriptions(&self, refs: Vec<String>) {
        self.lock().mismatched_descriptions = refs.iter().map(|r| description_id(r)).collect();
    }

    /// Ids of all description changes, in change order.
    pub fn description_ids(&self) -> Vec<String> {
        self.lock()
            .descriptions
            .iter()
            .map(|c| c.id.clone())
            .collect()
    }

    /// Truncates the next `n` successful export pages (of either report) to
    /// non-well-formed XML. Headers stay as for a good page.
    pub fn set_malformed_pages(&self, n: u32) {
        self.lock().malformed_pages = n;
    }

    /// The whole change log of `kind`, in change order.
    pub fn items(&self, kind: Report) -> Vec<ExportItem> {
        self.lock()
            .log(kind)
            .iter()
            .map(|c| ExportItem {
                isbn13: c.isbn13.clone(),
                ean: c.isbn13.clone(),
                type_code: c.type_code.clone(),
                reference: kind.reference(&self.base_url, &c.id),
                change_seq: c.seq,
            })
            .collect()
    }

    /// Number of changes in `kind`'s log.
    pub fn change_count(&self, kind: Report) -> usize {
        self.lock().log(kind).len()
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    pub(crate) fn gate(&self) -> &FaultGate {
        &self.gate
    }

    pub(crate) fn note_request(&self, token_endpoint: bool) {
        let mut inner = self.lock();
        inner.request_count += 1;
        if token_endpoint {
            inner.token_requests += 1;
        }
    }

    pub(crate) fn credentials_match(&self, client_id: &str, client_secret: &str) -> bool {
        client_id == self.client_id && client_secret == self.client_secret
    }

    /// Issues a new bearer token valid for [`TOKEN_LIFETIME`].
    pub(crate) fn issue_token(&self) -> (String, u64) {
        let mut inner = self.lock();
        let token: String = (0..40).map(|_| inner.token_rng.alphanumeric()).collect();
        let now = Instant::now();
        inner.tokens.retain(|_, expires| *expires > now);
        inner.tokens.insert(token.clone(), now + TOKEN_LIFETIME);
        (token, TOKEN_LIFETIME.as_secs())
    }

    pub(crate) fn token_valid(&self, token: &str) -> bool {
        self.lock()
            .tokens
            .get(token)
            .is_some_and(|expires| *expires > Instant::now())
    }

    /// Computes one page; an empty page keeps the cursor where it was, so
    /// calling again with the returned cursor yields the same empty page.
    pub(crate) fn page(&self, report: Report, start: Start, size: usize) -> Page {
        let mut inner = self.lock();
        let log = inner.log(report);
        let (first, empty_next) = match start {
            Start::After(after) => {
                let first = log.partition_point(|c| c.at <= after);
                let seq = first.checked_sub(1).map_or(0, |i| log[i].seq);
                (first, Cursor { at: after, seq }.encode())
            }
            Start::Next(cursor, raw) => (log.partition_point(|c| c.seq <= cursor.seq), raw),
        };
        let changes: Vec<Change> = log[first..].iter().take(size).cloned().collect();
        let next = changes.last().map_or(empty_next, |last| {
            Cursor {
                at: last.at,
                seq: last.seq,
            }
            .encode()
        });
        let malformed = inner.malformed_pages > 0;
        if malformed {
            inner.malformed_pages -= 1;
        }
        Page {
            changes,
            next,
            malformed,
        }
    }

    /// The description with this id, with any test faults applied.
    pub(crate) fn description(&self, id: &str) -> Option<DescriptionDoc> {
        let inner = self.lock();
        let seq: u64 = id.strip_prefix('d')?.parse().ok()?;
        let index = inner
            .descriptions
            .binary_search_by_key(&seq, |c| c.seq)
            .ok()?;
        let change = &inner.descriptions[index];
        if change.id != id {
            return None;
        }
        let isbn13 = if inner.mismatched_descriptions.contains(id) {
            inner
                .books
                .iter()
                .cycle()
                .skip(seq as usize % inner.books.len().max(1))
                .take(inner.books.len())
                .find(|book| **book != change.isbn13)
                .cloned()
                .unwrap_or_else(|| crate::isbn::complete("978820000000"))
        } else {
            change.isbn13.clone()
        };
        Some(DescriptionDoc {
            isbn13,
            type_code: change.type_code.clone(),
            text: data::description_text(self.seed, seq, &change.type_code),
            malformed: inner.malformed_descriptions.contains(id),
        })
    }

    /// Whether an object with this id exists.
    pub(crate) fn object_exists(&self, id: &str) -> bool {
        self.lock().objects.iter().any(|c| c.id == id)
    }
}
