//! The set of books the library side knows, shared by both simulated systems.
//!
//! Bokbasen registers every ISBN it seeds or appends, so Alma accepts writes
//! for exactly the books that appear in the export feeds (plus any added by
//! tests).

use std::collections::BTreeSet;
use std::sync::Mutex;

/// Known ISBNs; thread-safe, shared through an `Arc`.
#[derive(Default)]
pub(crate) struct Catalog {
    books: Mutex<BTreeSet<String>>,
}

impl Catalog {
    pub(crate) fn add(&self, isbn: &str) {
        self.books
            .lock()
            .expect("catalog lock")
            .insert(isbn.to_owned());
    }

    pub(crate) fn contains(&self, isbn: &str) -> bool {
        self.books.lock().expect("catalog lock").contains(isbn)
    }

    pub(crate) fn len(&self) -> usize {
        self.books.lock().expect("catalog lock").len()
    }
}
