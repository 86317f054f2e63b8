//! XML bodies of the export API, written by hand to match Bokbasen's shapes.

use std::fmt::Write;

use super::{data, Change, Report};

const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// Escapes text for use in XML element content.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

/// The standard error body: `<errors><error><code/><message/></error></errors>`.
pub(crate) fn error(code: u16, message: &str) -> String {
    format!(
        "{DECLARATION}<errors><error><code>{code}</code><message>{}</message></error></errors>",
        escape(message)
    )
}

/// One page of an export report.
pub(crate) fn export_page(report: Report, changes: &[Change], base_url: &str) -> String {
    let (root, element) = match report {
        Report::Objects => ("OBJECTS", "OBJECT"),
        Report::Descriptions => ("DESCRIPTIONS", "DESCRIPTION"),
    };
    let mut body = format!("{DECLARATION}<{root}>");
    for change in changes {
        let isbn = escape(&change.isbn13);
        let type_code = escape(&change.type_code);
        let reference = escape(&report.reference(base_url, &change.id));
        let _ = match report {
            Report::Objects => write!(
                body,
                "<{element}><ISBN13>{isbn}</ISBN13><EAN>{isbn}</EAN><FSSN/>\
                 <VAREEIER_KODE>{}</VAREEIER_KODE><TYPE>{type_code}</TYPE>\
                 <REFERENCE>{reference}</REFERENCE></{element}>",
                data::owner_code(&change.isbn13)
            ),
            Report::Descriptions => write!(
                body,
                "<{element}><ISBN13>{isbn}</ISBN13><EAN>{isbn}</EAN><TYPE>{type_code}</TYPE>\
                 <REFERENCE>{reference}</REFERENCE></{element}>"
            ),
        };
    }
    let _ = write!(body, "</{root}>");
    body
}

/// A single description document; `text` must already be escaped.
pub(crate) fn description(isbn13: &str, type_code: &str, text: &str) -> String {
    format!(
        "{DECLARATION}<DESCRIPTION><ISBN13>{}</ISBN13><TYPE>{}</TYPE>\
         <LANGUAGE>nob</LANGUAGE><TEXT>{text}</TEXT></DESCRIPTION>",
        escape(isbn13),
        escape(type_code)
    )
}

/// Cuts a well-formed document so its root element is never closed.
pub(crate) fn truncate(document: &str) -> String {
    let mut cut = (document.len() * 2 / 3).max(DECLARATION.len() + 2);
    while !document.is_char_boundary(cut) {
        cut -= 1;
    }
    document[..cut.min(document.len() - 1)].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_leaves_the_root_open() {
        let doc = format!("{DECLARATION}<OBJECTS></OBJECTS>");
        let cut = truncate(&doc);
        assert!(cut.len() < doc.len());
        assert!(!cut.ends_with("</OBJECTS>"));
    }
}
