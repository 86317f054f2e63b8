//! Bokbasen's export reports as Flyt sees them: pure parsing and validation, no I/O.
//!
//! A report is read page by page. Each page's items are sent on as [`ForwardItem`]s carrying a
//! *version* made from the page's sequence number and the item's place on the page, so that a
//! newer change to the same book always has a higher version — the ordering store relies on it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One of Bokbasen's export reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Report {
    /// Cover images and audio samples (`/metadata/export/object/v1`).
    Objects,
    /// Texts about a book (`/metadata/export/description/v1`).
    Descriptions,
}

impl Report {
    /// Both reports.
    pub const ALL: [Report; 2] = [Report::Objects, Report::Descriptions];

    /// The report's name in messages, keys and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Report::Objects => "objects",
            Report::Descriptions => "descriptions",
        }
    }

    /// Path of the export endpoint below the API base URL.
    pub fn export_path(self) -> &'static str {
        match self {
            Report::Objects => "/metadata/export/object/v1",
            Report::Descriptions => "/metadata/export/description/v1",
        }
    }

    /// The largest page Bokbasen serves for this report.
    pub fn max_page_size(self) -> u32 {
        match self {
            Report::Objects => 5000,
            Report::Descriptions => 1000,
        }
    }

    /// The TYPE codes this report uses.
    pub fn type_codes(self) -> &'static [&'static str] {
        match self {
            // ly: audio; ol: small cover; os: large cover; org: original cover.
            Report::Objects => &["ly", "ol", "os", "org"],
            Report::Descriptions => &["short", "long", "review"],
        }
    }

    /// The XML element of one item in this report's pages.
    fn item_element(self) -> &'static str {
        match self {
            Report::Objects => "OBJECT",
            Report::Descriptions => "DESCRIPTION",
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One item of an export page, fields as Bokbasen wrote them (validated later, per item).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportItem {
    /// `ISBN13`.
    #[serde(rename = "ISBN13", default)]
    pub isbn13: String,
    /// `EAN` (for books, the same number as ISBN13).
    #[serde(rename = "EAN", default)]
    pub ean: String,
    /// `TYPE`: the object or description type code.
    #[serde(rename = "TYPE", default)]
    pub type_code: String,
    /// `REFERENCE`: where the object or description document can be fetched (short-lived).
    #[serde(rename = "REFERENCE", default)]
    pub reference: String,
    /// `VAREEIER_KODE`: the publisher's code (objects only).
    #[serde(rename = "VAREEIER_KODE", default)]
    pub owner_code: String,
}

#[derive(Deserialize)]
struct Page {
    #[serde(rename = "OBJECT", alias = "DESCRIPTION", default)]
    items: Vec<ExportItem>,
}

/// Parses one export page. A page that is not well-formed XML is Bokbasen's failure (External):
/// the page is fetched again, the cursor does not move.
pub fn parse_page(report: Report, xml: &str) -> Result<Vec<ExportItem>> {
    let page: Page = quick_xml::de::from_str(xml).map_err(|e| {
        Error::external(format!(
            "Bokbasen {report} page is not well-formed {} XML: {e}",
            report.item_element()
        ))
    })?;
    Ok(page.items)
}

/// An export item on its way to Alma: the queue message of the Alma work queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardItem {
    /// Which report it came from.
    pub report: Report,
    /// The item as exported.
    #[serde(flatten)]
    pub item: ExportItem,
    /// Increases with Bokbasen's change order: page sequence × 100,000 + place on the page.
    pub version: u64,
    /// The cursor the page was fetched with, for tracing an item back to its page.
    pub page_cursor: String,
    /// The execution (the nightly drain) the item belongs to.
    pub execution_id: String,
}

/// Room for items on one page in a version number (the largest page has 5,000).
pub const VERSIONS_PER_PAGE: u64 = 100_000;

/// The version of the item at `index` on the page with sequence number `page_sequence`.
pub fn version(page_sequence: u64, index: usize) -> u64 {
    page_sequence * VERSIONS_PER_PAGE + index as u64
}

impl crate::apply::Applicable for ForwardItem {
    fn key(&self) -> String {
        ForwardItem::key(self)
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn execution_id(&self) -> &str {
        &self.execution_id
    }

    fn label(&self) -> String {
        ForwardItem::label(self)
    }

    fn validate(&self) -> Result<()> {
        ForwardItem::validate(self)
    }
}

impl ForwardItem {
    /// The ordering key: one book's one kind of content of one type.
    pub fn key(&self) -> String {
        format!(
            "{}#{}#{}",
            self.report,
            self.item.isbn13.trim(),
            self.item.type_code.trim()
        )
    }

    /// A short, personal-data-free name for logs and errors.
    pub fn label(&self) -> String {
        format!(
            "{} {}/{} (version {})",
            self.report,
            self.item.isbn13.trim(),
            self.item.type_code.trim(),
            self.version
        )
    }

    /// Checks the item before anything is sent anywhere. Every failure is a Mapping error that
    /// names the item and the field.
    pub fn validate(&self) -> Result<()> {
        let label = self.label();
        let isbn = self.item.isbn13.trim();
        check_isbn13(isbn).map_err(|why| Error::mapping(format!("{label}: ISBN13 {why}")))?;
        let ean = self.item.ean.trim();
        if !ean.is_empty() && ean != isbn {
            return Err(Error::mapping(format!(
                "{label}: EAN {ean} is not the ISBN13 {isbn}; the item names two books, so it is not applied to either"
            )));
        }
        let type_code = self.item.type_code.trim();
        if !self.report.type_codes().contains(&type_code) {
            return Err(Error::mapping(format!(
                "{label}: TYPE {type_code:?} is not one of {:?}",
                self.report.type_codes()
            )));
        }
        let reference = self.item.reference.trim();
        if !(reference.starts_with("https://") || reference.starts_with("http://")) {
            return Err(Error::mapping(format!(
                "{label}: REFERENCE {reference:?} is not an http(s) URL"
            )));
        }
        Ok(())
    }
}

/// Checks that `isbn` is 13 digits, starts with 978 or 979, and has a correct check digit.
pub fn check_isbn13(isbn: &str) -> std::result::Result<(), String> {
    if isbn.is_empty() {
        return Err("is empty".into());
    }
    if isbn.len() != 13 || !isbn.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{isbn:?} is not 13 digits"));
    }
    if !(isbn.starts_with("978") || isbn.starts_with("979")) {
        return Err(format!("{isbn} does not start with 978 or 979"));
    }
    let digits: Vec<u32> = isbn.bytes().map(|b| u32::from(b - b'0')).collect();
    let sum: u32 = digits[..12]
        .iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { *d } else { d * 3 })
        .sum();
    let check = (10 - sum % 10) % 10;
    if check != digits[12] {
        return Err(format!(
            "{isbn} has check digit {} but should have {check}",
            digits[12]
        ));
    }
    Ok(())
}

/// A description document, fetched from an item's REFERENCE.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescriptionDocument {
    /// The book the text is about.
    #[serde(rename = "ISBN13", default)]
    pub isbn13: String,
    /// The description type.
    #[serde(rename = "TYPE", default)]
    pub type_code: String,
    /// ISO 639-2 language code.
    #[serde(rename = "LANGUAGE", default)]
    pub language: String,
    /// The text.
    #[serde(rename = "TEXT", default)]
    pub text: String,
}

/// Parses a description document and checks that it is about the book (and type) the export item
/// names — the guard against updating the wrong book with another book's text.
pub fn parse_description(item: &ForwardItem, xml: &str) -> Result<DescriptionDocument> {
    let label = item.label();
    let document: DescriptionDocument = quick_xml::de::from_str(xml).map_err(|e| {
        Error::mapping(format!(
            "{label}: the description document is not well-formed XML: {e}"
        ))
    })?;
    let isbn = item.item.isbn13.trim();
    if document.isbn13.trim() != isbn {
        return Err(Error::mapping(format!(
            "{label}: the description document is about ISBN13 {} but the export item names {isbn}; \
             not applied, so no book gets another book's text",
            document.isbn13.trim()
        )));
    }
    if document.type_code.trim() != item.item.type_code.trim() {
        return Err(Error::mapping(format!(
            "{label}: the description document has TYPE {:?}, the export item {:?}",
            document.type_code.trim(),
            item.item.type_code.trim()
        )));
    }
    if document.text.trim().is_empty() {
        return Err(Error::mapping(format!(
            "{label}: the description document's TEXT is empty"
        )));
    }
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Category;

    const ISBN: &str = "9788205000001";

    fn forward(report: Report, type_code: &str) -> ForwardItem {
        ForwardItem {
            report,
            item: ExportItem {
                isbn13: ISBN.into(),
                ean: ISBN.into(),
                type_code: type_code.into(),
                reference: "https://example.org/r/1".into(),
                owner_code: "GYLD".into(),
            },
            version: version(3, 7),
            page_cursor: "c".into(),
            execution_id: "e".into(),
        }
    }

    #[test]
    fn parses_an_objects_page() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><OBJECTS>
            <OBJECT><ISBN13>9788205000001</ISBN13><EAN>9788205000001</EAN><FSSN/><VAREEIER_KODE>GYLD</VAREEIER_KODE><TYPE>ol</TYPE><REFERENCE>https://x/1.jpg</REFERENCE></OBJECT>
            <OBJECT><ISBN13>9788205000018</ISBN13><EAN/><FSSN/><VAREEIER_KODE>ASCH</VAREEIER_KODE><TYPE>ly</TYPE><REFERENCE>https://x/2.mp3</REFERENCE></OBJECT>
        </OBJECTS>"#;
        let items = parse_page(Report::Objects, xml).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].isbn13, "9788205000001");
        assert_eq!(items[0].owner_code, "GYLD");
        assert_eq!(items[1].type_code, "ly");
        assert_eq!(items[1].ean, "");
    }

    /// Bokbasen's own published object sample (`contracts/bokbasen.yaml`, the object report's
    /// `example`, from the "Objects" page), as Bokbasen sends it: one line, `standalone`, a
    /// numeric owner code and FSSN, the REFERENCE percent-encoded.
    #[test]
    fn parses_bokbasens_published_object_sample() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<OBJECTS><OBJECT><ISBN13>9788202437930</ISBN13><EAN>9788202437930</EAN><FSSN>150157628</FSSN><VAREEIER_KODE>0008</VAREEIER_KODE><TYPE>os</TYPE><REFERENCE>https://api.boknett.no/metadata/export/object/download?id=xpgZ1kLIardQ%2FWMwitZy02GAyCZzNsnIQTvZSf5LTk6GFDdIAaMGqkXxYoPVCIfy</REFERENCE></OBJECT></OBJECTS>"#;
        let items = parse_page(Report::Objects, xml).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].isbn13, "9788202437930");
        assert_eq!(items[0].owner_code, "0008");
        assert_eq!(items[0].type_code, "os");
        assert!(items[0]
            .reference
            .ends_with("%2FWMwitZy02GAyCZzNsnIQTvZSf5LTk6GFDdIAaMGqkXxYoPVCIfy"));
    }

    #[test]
    fn parses_a_descriptions_page_and_an_empty_page() {
        let xml = "<DESCRIPTIONS><DESCRIPTION><ISBN13>9788205000001</ISBN13><TYPE>long</TYPE><REFERENCE>https://x/d/1</REFERENCE></DESCRIPTION></DESCRIPTIONS>";
        assert_eq!(parse_page(Report::Descriptions, xml).unwrap().len(), 1);
        assert!(
            parse_page(Report::Descriptions, "<DESCRIPTIONS></DESCRIPTIONS>")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_broken_page_is_external() {
        let error = parse_page(Report::Objects, "<OBJECTS><OBJECT><ISBN13>97").unwrap_err();
        assert_eq!(error.category(), Category::External);
    }

    #[test]
    fn versions_grow_with_page_and_place() {
        assert!(version(1, 4_999) < version(2, 0));
        assert_eq!(version(3, 7), 300_007);
    }

    #[test]
    fn isbn_check_digit() {
        assert!(check_isbn13(ISBN).is_ok());
        assert!(check_isbn13("9788205000004")
            .unwrap_err()
            .contains("check digit"));
        assert!(check_isbn13("97882050").unwrap_err().contains("13 digits"));
        assert!(check_isbn13("1234567890128").unwrap_err().contains("978"));
    }

    #[test]
    fn validation_names_item_and_field() {
        assert!(forward(Report::Objects, "ol").validate().is_ok());
        let mut item = forward(Report::Objects, "xx");
        let error = item.validate().unwrap_err();
        assert_eq!(error.category(), Category::Mapping);
        assert!(
            error
                .message()
                .starts_with("objects 9788205000001/xx (version 300007): TYPE"),
            "{error}"
        );
        item = forward(Report::Objects, "ol");
        item.item.ean = "9788205000018".into();
        assert!(item
            .validate()
            .unwrap_err()
            .message()
            .contains("EAN 9788205000018"));
    }

    #[test]
    fn description_about_another_book_is_refused() {
        let item = forward(Report::Descriptions, "long");
        let xml = "<DESCRIPTION><ISBN13>9788205000018</ISBN13><TYPE>long</TYPE><LANGUAGE>nob</LANGUAGE><TEXT>En bok.</TEXT></DESCRIPTION>";
        let error = parse_description(&item, xml).unwrap_err();
        assert_eq!(error.category(), Category::Mapping);
        assert!(
            error.message().contains("about ISBN13 9788205000018"),
            "{error}"
        );
    }

    #[test]
    fn description_document_parses_entities() {
        let item = forward(Report::Descriptions, "long");
        let xml = "<DESCRIPTION><ISBN13>9788205000001</ISBN13><TYPE>long</TYPE><LANGUAGE>nob</LANGUAGE><TEXT>Ord &amp; bilder</TEXT></DESCRIPTION>";
        assert_eq!(parse_description(&item, xml).unwrap().text, "Ord & bilder");
        let broken = "<DESCRIPTION><ISBN13>9788205000001</ISBN13><TEXT>Ord & bilder</TEXT>";
        assert_eq!(
            parse_description(&item, broken).unwrap_err().category(),
            Category::Mapping
        );
    }
}
