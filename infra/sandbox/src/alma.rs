//! The simulated Alma-side book API: versioned records per
//! (isbn, kind, type), API-key auth, a per-second threshold and a daily
//! request budget.
//!
//! It behaves like a naive real system: it accepts every valid write, even an
//! older version over a newer one, but records enough for tests to prove what
//! a client did.

mod routes;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::faults::{FaultGate, Faults};
use crate::SandboxOptions;

pub(crate) use routes::router;

/// Daily request budget reported in `X-Exl-Api-Remaining` at start.
const DAILY_BUDGET: u64 = 1_000_000;

/// The record kinds the API accepts in the path.
pub(crate) const KINDS: [&str; 2] = ["descriptions", "objects"];

/// One stored record and its write history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlmaRecord {
    /// The book's ISBN-13.
    pub isbn: String,
    /// `descriptions` or `objects`.
    pub kind: String,
    /// The TYPE code, e.g. `long` or `ol`.
    #[serde(rename = "type")]
    pub type_code: String,
    /// Version of the stored content (the last accepted write).
    pub version: u64,
    /// The stored content.
    pub content: serde_json::Value,
    /// Times the record actually changed (first write, newer or older version).
    pub effects: u32,
    /// Versions of every accepted PUT in arrival order, unchanged repeats included.
    pub writes: Vec<u64>,
}

/// Outcome of an accepted write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteResult {
    Updated,
    Unchanged,
}

impl WriteResult {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WriteResult::Updated => "updated",
            WriteResult::Unchanged => "unchanged",
        }
    }
}

/// Shared, inspectable state of the simulated Alma; thread-safe.
pub struct AlmaState {
    /// The API key accepted now ([`AlmaState::set_api_key`] rotates it).
    api_key: Mutex<String>,
    per_second_limit: u32,
    catalog: Arc<Catalog>,
    gate: FaultGate,
    inner: Mutex<Inner>,
}

type RecordKey = (String, String, String);

struct Inner {
    records: BTreeMap<RecordKey, AlmaRecord>,
    request_count: u64,
    refused_requests: u64,
    remaining: u64,
    duplicate_writes: u64,
    older_over_newer: Vec<String>,
    window_second: i64,
    window_count: u32,
}

impl AlmaState {
    pub(crate) fn new(options: &SandboxOptions, catalog: Arc<Catalog>) -> Self {
        Self {
            api_key: Mutex::new(options.alma_api_key.clone()),
            per_second_limit: options.alma_per_second_limit,
            catalog,
            gate: FaultGate::new(options.seed ^ 0xa1a0),
            inner: Mutex::new(Inner {
                records: BTreeMap::new(),
                request_count: 0,
                refused_requests: 0,
                remaining: DAILY_BUDGET,
                duplicate_writes: 0,
                older_over_newer: Vec::new(),
                window_second: 0,
                window_count: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("alma state lock")
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

    /// All stored records, ordered by (isbn, kind, type).
    pub fn records(&self) -> Vec<AlmaRecord> {
        self.lock().records.values().cloned().collect()
    }

    /// The stored record for one (isbn, kind, type), if any.
    pub fn record(&self, isbn: &str, kind: &str, type_code: &str) -> Option<AlmaRecord> {
        self.lock()
            .records
            .get(&(isbn.to_owned(), kind.to_owned(), type_code.to_owned()))
            .cloned()
    }

    /// Sum of `effects` over all records: how often anything actually changed.
    pub fn effects_total(&self) -> u64 {
        self.lock()
            .records
            .values()
            .map(|r| u64::from(r.effects))
            .sum()
    }

    /// One description per write whose version was lower than the stored one.
    /// A correct client keeps this empty.
    pub fn older_over_newer(&self) -> Vec<String> {
        self.lock().older_over_newer.clone()
    }

    /// Writes whose version equalled the stored version (answered `unchanged`).
    pub fn duplicate_writes(&self) -> u64 {
        self.lock().duplicate_writes
    }

    /// Value of `X-Exl-Api-Remaining` the next response would be below.
    pub fn api_remaining(&self) -> u64 {
        self.lock().remaining
    }

    /// Makes `isbn` a known book so writes to it are accepted.
    pub fn add_book(&self, isbn: &str) {
        self.catalog.add(isbn);
    }

    /// Whether writes to `isbn` are accepted.
    pub fn knows_book(&self, isbn: &str) -> bool {
        self.catalog.contains(isbn)
    }

    /// Number of known books.
    pub fn book_count(&self) -> usize {
        self.catalog.len()
    }

    pub(crate) fn gate(&self) -> &FaultGate {
        &self.gate
    }

    pub(crate) fn api_key_matches(&self, key: &str) -> bool {
        key == *self.api_key.lock().expect("alma api key lock")
    }

    /// Rotates the API key: from now on only `key` is accepted, as after an operator issued a new
    /// key in Alma's developer network and revoked the old one.
    pub fn set_api_key(&self, key: impl Into<String>) {
        *self.api_key.lock().expect("alma api key lock") = key.into();
    }

    /// Requests refused with 401 for a wrong or missing API key.
    pub fn refused_requests(&self) -> u64 {
        self.lock().refused_requests
    }

    pub(crate) fn note_refused(&self) {
        self.lock().refused_requests += 1;
    }

    /// Counts a request against the daily budget; returns what remains.
    pub(crate) fn note_request(&self) -> u64 {
        let mut inner = self.lock();
        inner.request_count += 1;
        inner.remaining = inner.remaining.saturating_sub(1);
        inner.remaining
    }

    /// Counts a request in the current wall-clock second; false once the
    /// per-second limit is exceeded.
    pub(crate) fn admit_this_second(&self) -> bool {
        let second = chrono::Utc::now().timestamp();
        let mut inner = self.lock();
        if inner.window_second != second {
            inner.window_second = second;
            inner.window_count = 0;
        }
        inner.window_count += 1;
        inner.window_count <= self.per_second_limit
    }

    /// Applies an accepted write with naive last-writer-wins semantics.
    pub(crate) fn write(
        &self,
        key: RecordKey,
        version: u64,
        content: serde_json::Value,
    ) -> WriteResult {
        let mut inner = self.lock();
        let Inner {
            records,
            duplicate_writes,
            older_over_newer,
            ..
        } = &mut *inner;
        match records.get_mut(&key) {
            None => {
                let (isbn, kind, type_code) = key.clone();
                records.insert(
                    key,
                    AlmaRecord {
                        isbn,
                        kind,
                        type_code,
                        version,
                        content,
                        effects: 1,
                        writes: vec![version],
                    },
                );
                WriteResult::Updated
            }
            Some(record) => {
                record.writes.push(version);
                if version == record.version {
                    *duplicate_writes += 1;
                    return WriteResult::Unchanged;
                }
                if version < record.version {
                    older_over_newer.push(format!(
                        "{}/{}/{}: version {version} written over stored version {}",
                        record.isbn, record.kind, record.type_code, record.version
                    ));
                }
                record.version = version;
                record.content = content;
                record.effects += 1;
                WriteResult::Updated
            }
        }
    }
}
