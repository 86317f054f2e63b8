//! The README's table of what Flyt assumes about the external systems, generated from the
//! contracts so the two cannot drift apart: every element whose `x-provenance` is *assumed* or
//! *seed*, grouped by the reason and the way to confirm it. A test compares the README's table
//! with this one (and rewrites it when `FLYT_UPDATE_ASSUMPTIONS=1` is set).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::CONTRACTS;

/// The markers between which the README holds the generated table.
pub(crate) const BEGIN: &str = "<!-- assumptions: generated from contracts/, do not edit -->";
/// See [`BEGIN`].
pub(crate) const END: &str = "<!-- assumptions: end -->";

/// One row: the provenance that several elements share.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Provenance {
    system: &'static str,
    /// `assumed: <why>` or `seed <file>, field <field>`.
    what: String,
    /// How to confirm it.
    confirm: String,
}

/// The markdown table of every assumed or seed element of every contract.
pub(crate) fn table() -> String {
    let mut rows: BTreeMap<Provenance, BTreeSet<String>> = BTreeMap::new();
    for (system, yaml) in CONTRACTS {
        let document: Value = serde_yaml_ng::from_str(yaml).expect("the contract parses");
        collect(system, &document, &[], &mut rows);
    }
    let mut table = String::from(
        "| system | elements | provenance | confirmed how |\n| --- | --- | --- | --- |\n",
    );
    for (provenance, elements) in rows {
        let elements: Vec<String> = elements.iter().map(|e| format!("`{e}`")).collect();
        table.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            provenance.system,
            elements.join(", "),
            cell(&provenance.what),
            cell(&provenance.confirm),
        ));
    }
    table
}

/// Walks the document, naming each element by the operation, webhook or component it belongs to.
fn collect(
    system: &'static str,
    value: &Value,
    at: &[&str],
    rows: &mut BTreeMap<Provenance, BTreeSet<String>>,
) {
    let Value::Object(map) = value else {
        if let Value::Array(items) = value {
            for item in items {
                collect(system, item, at, rows);
            }
        }
        return;
    };
    if let Some(provenance) = map.get("x-provenance") {
        let field = |name: &str| {
            provenance
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let row = match field("kind").as_str() {
            "assumed" => Some(Provenance {
                system,
                what: format!("assumed: {}", field("why")),
                confirm: field("confirm"),
            }),
            "seed" => Some(Provenance {
                system,
                what: format!("seed `{}`, field `{}`", field("source"), field("field")),
                confirm: "the seed is the only source".to_owned(),
            }),
            _ => None,
        };
        if let (Some(row), Some(element)) = (row, element(at)) {
            rows.entry(row).or_default().insert(element);
        }
    }
    for (key, child) in map {
        if !["x-provenance", "example", "examples", "x-sources"].contains(&key.as_str()) {
            let mut deeper = at.to_vec();
            deeper.push(key);
            collect(system, child, &deeper, rows);
        }
    }
}

/// The element a path in the document belongs to: `GET /v1/test/{testId}`, `schema test`,
/// `webhook event`, ...
fn element(at: &[&str]) -> Option<String> {
    match at {
        ["paths", path, method, ..] => Some(format!("{} {path}", method.to_ascii_uppercase())),
        ["webhooks", name, ..] => Some(format!("webhook {name}")),
        ["components", "schemas", name, ..] => Some(format!("schema {name}")),
        ["components", "responses", name, ..] => Some(format!("response {name}")),
        ["components", "parameters", name, ..] => Some(format!("parameter {name}")),
        ["components", kind, name, ..] => Some(format!("{kind} {name}")),
        [first, ..] => Some((*first).to_owned()),
        [] => None,
    }
}

/// Text fit for one markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");

    #[test]
    fn the_readme_assumptions_table_is_the_one_the_contracts_give() {
        let readme = std::fs::read_to_string(README).expect("README.md reads");
        let (Some(begin), Some(end)) = (readme.find(BEGIN), readme.find(END)) else {
            panic!("README.md has no `{BEGIN}` ... `{END}` section");
        };
        let written = &readme[begin + BEGIN.len()..end];
        let generated = format!("\n{}", table());
        if written == generated {
            return;
        }
        if std::env::var("FLYT_UPDATE_ASSUMPTIONS").is_ok_and(|v| v == "1") {
            let updated = format!("{}{BEGIN}{generated}{}", &readme[..begin], &readme[end..]);
            std::fs::write(README, updated).expect("README.md writes");
            return;
        }
        panic!(
            "README.md's assumptions table differs from contracts/; run \
             FLYT_UPDATE_ASSUMPTIONS=1 cargo test -p flyt-sandbox --lib assumptions\n\
             generated:\n{generated}"
        );
    }

    #[test]
    fn every_assumed_element_is_a_row_with_how_to_confirm_it() {
        let table = table();
        assert!(table.contains("| inspera | "), "{table}");
        assert!(
            table.contains("`GET /v1/test/{testId}`") || table.contains("`schema test`"),
            "{table}"
        );
        for row in table.lines().skip(2) {
            let cells: Vec<&str> = row.split(" | ").collect();
            assert_eq!(cells.len(), 4, "{row}");
            assert!(!cells[3].trim_end_matches(" |").trim().is_empty(), "{row}");
        }
    }
}
