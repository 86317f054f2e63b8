//! The Alma-side API's update, built from a Bokbasen item: pure, no I/O.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::bokbasen::{DescriptionDocument, ForwardItem};

/// The body of `PUT /v1/books/{isbn}/{kind}/{type}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BookUpdate {
    /// The book.
    pub isbn: String,
    /// `descriptions` or `objects`.
    pub kind: String,
    /// The type code.
    #[serde(rename = "type")]
    pub type_code: String,
    /// Flyt's version of this (book, kind, type).
    pub version: u64,
    /// What to store.
    pub content: Value,
}

impl BookUpdate {
    /// The update for an object (cover or audio): Alma fetches the file from the reference.
    pub fn object(item: &ForwardItem) -> Self {
        BookUpdate {
            isbn: item.item.isbn13.trim().to_owned(),
            kind: item.report.as_str().to_owned(),
            type_code: item.item.type_code.trim().to_owned(),
            version: item.version,
            content: json!({
                "reference": item.item.reference.trim(),
                "owner_code": item.item.owner_code.trim(),
            }),
        }
    }

    /// The update for a description, with the text from its (checked) document.
    pub fn description(item: &ForwardItem, document: &DescriptionDocument) -> Self {
        BookUpdate {
            isbn: item.item.isbn13.trim().to_owned(),
            kind: item.report.as_str().to_owned(),
            type_code: item.item.type_code.trim().to_owned(),
            version: item.version,
            content: json!({
                "language": document.language.trim(),
                "text": document.text.trim(),
                "reference": item.item.reference.trim(),
            }),
        }
    }
}

/// What the Alma-side API did with an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateResult {
    /// The record changed.
    Updated,
    /// The record already had this version.
    Unchanged,
    /// The library has no record of this book: nothing to update.
    NoRecord,
}
