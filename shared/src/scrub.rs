//! The one scrubber for text from another system: what FS, WISEflow, Inspera, Alma, Bokbasen,
//! Slack or SES answer is copied into errors only through [`third_party_excerpt`], because an
//! error's text reaches execution lines, parked messages' reasons, the audit, exports and logs,
//! where no personal data may go.
//!
//! Status codes and machine codes stay (`SERVICE_DOWN`, `invalid_grant`); what could name a person
//! goes:
//! - in a JSON body, the value of every field whose name says it holds a person (`name`,
//!   `firstName`, `etternavn`, `username`, `email`, `personlopenr`, `fodselsnummer`, … and any
//!   `…name`/`…navn`), whole;
//! - in any text (prose and JSON strings alike): e-mail addresses; runs of 5 digits or more
//!   (national ids have 11, personlopenr and student numbers 5 to 8); words mixing lower-case
//!   letters and digits (user names such as `sensor4711`); quoted values, which is how systems
//!   echo the input they refuse; the word after one that announces a person (`user`, `bruker`,
//!   `student`, `kandidat`, …); runs of two or more capitalised words (`Ingrid Hansen`), and a
//!   capitalised word that does not begin a sentence.
//!
//! Hand-written: no crate scrubs Norwegian personal data out of error prose, and the rules above
//! are a few lines each. What it cannot see is a lone first name opening a sentence, or a
//! lower-case user name in prose with no announcing word; the clients therefore keep their own
//! context (system, operation, ids of Flyt's) outside the excerpt, and the excerpt is short.

use serde_json::Value;

use crate::http::excerpt;

/// At most `limit` characters of a third-party body on one line, scrubbed of personal data. The
/// only way text of another system enters an error.
pub fn third_party_excerpt(text: &str, limit: usize) -> String {
    excerpt(&scrub(text), limit)
}

/// A stable pseudonym of a person's address or user id (trimmed, lower-cased): the first 16 hex
/// digits of its SHA-256. For keys and cookies that must tell people apart without naming them.
pub fn pseudonym(identifier: &str) -> String {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::digest(identifier.trim().to_lowercase().as_bytes());
    hex::encode(&digest[..8])
}

/// A parser's complaint about another system's answer, scrubbed: serde's errors quote the value
/// they did not expect (`invalid type: string "…"`).
pub fn scrubbed(error: &impl std::fmt::Display) -> String {
    scrub(&error.to_string())
}

/// `text` (a JSON document or prose) without anything that could name a person.
pub fn scrub(text: &str) -> String {
    match serde_json::from_str::<Value>(text.trim()) {
        Ok(value @ (Value::Object(_) | Value::Array(_))) => {
            serde_json::to_string(&scrub_json(value)).unwrap_or_default()
        }
        Ok(Value::String(inner)) => scrub_prose(&inner),
        _ => scrub_prose(text),
    }
}

const REDACTED: &str = "<redacted>";

fn scrub_json(value: Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, value)| {
                    let value = if names_a_person(&key) && !value.is_null() {
                        Value::String(REDACTED.to_owned())
                    } else {
                        scrub_json(value)
                    };
                    (key, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(scrub_json).collect()),
        Value::String(text) => Value::String(scrub_prose(&text)),
        Value::Number(number) if number.to_string().len() >= 5 => {
            Value::String("<number>".to_owned())
        }
        other => other,
    }
}

/// Whether a JSON field of this name holds a person's name, user name, address or number.
fn names_a_person(key: &str) -> bool {
    let key: String = key
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    const EXACT: &[&str] = &[
        "username",
        "userid",
        "login",
        "brukernavn",
        "bruker",
        "personlopenr",
        "personløpenr",
        "personnr",
        "fodselsnummer",
        "fødselsnummer",
        "fodselsdato",
        "fnr",
        "ssn",
        "nin",
        "studentnummer",
        "studentnr",
        "phone",
        "mobile",
        "telefon",
        "mobil",
        "subject",
        "sub",
        "eppn",
    ];
    EXACT.contains(&key.as_str())
        || key.ends_with("name")
        || key.ends_with("navn")
        || key.contains("mail")
        || key.contains("epost")
}

/// Words after which the next word is a person's name, user name or number.
const ANNOUNCING: &[&str] = &[
    "user",
    "username",
    "bruker",
    "brukar",
    "brukernavn",
    "student",
    "candidate",
    "kandidat",
    "person",
    "personlopenr",
    "personløpenr",
    "name",
    "navn",
    "login",
    "assessor",
    "grader",
    "sensor",
    "email",
    "e-mail",
    "epost",
    "e-post",
    "subject",
];

/// Words that may follow an announcing word without being the person.
const NOT_A_PERSON: &[&str] = &[
    "not", "is", "was", "has", "have", "had", "does", "did", "with", "without", "of", "for", "to",
    "the", "a", "an", "id", "no", "number", "nr", "and", "or", "in", "on", "at", "er", "ikke",
    "har", "med", "uten", "til", "av", "og", "eller", "i", "på", "finnes", "mangler", "already",
    "allerede", "must", "må", "cannot", "kan", "unknown", "ukjent", "missing", "named", "called",
    "heter",
];

/// Names of systems and products, capitalised but never a person.
const PRODUCTS: &[&str] = &[
    "WISEflow",
    "Inspera",
    "Alma",
    "Bokbasen",
    "Feide",
    "Flyt",
    "Slack",
    "Dataporten",
    "Uniwise",
];

const OPENING: &[char] = &['(', '[', '{', '"', '\'', '«', '‘', '“', '<'];
const CLOSING: &[char] = &[
    ')', ']', '}', '"', '\'', '»', '’', '”', '>', '.', ',', ';', ':', '!', '?',
];
const QUOTES: &[char] = &['"', '\'', '«', '‘', '“'];

/// One whitespace-separated token split into its punctuation and its core.
struct Token<'a> {
    lead: &'a str,
    core: &'a str,
    trail: &'a str,
}

fn split(token: &str) -> Token<'_> {
    let core_start = token
        .char_indices()
        .find(|(_, c)| !OPENING.contains(c))
        .map_or(token.len(), |(at, _)| at);
    let rest = &token[core_start..];
    let core_len = rest
        .char_indices()
        .rev()
        .find(|(_, c)| !CLOSING.contains(c))
        .map_or(0, |(at, c)| at + c.len_utf8());
    Token {
        lead: &token[..core_start],
        core: &rest[..core_len],
        trail: &rest[core_len..],
    }
}

fn is_email(core: &str) -> bool {
    core.split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
}

fn has_long_digit_run(core: &str) -> bool {
    core.split(|c: char| !c.is_ascii_digit())
        .any(|run| run.len() >= 5)
}

fn mixes_lower_case_and_digits(core: &str) -> bool {
    core.chars().any(char::is_lowercase) && core.chars().any(|c| c.is_ascii_digit())
}

fn is_capitalised(core: &str) -> bool {
    core.chars().next().is_some_and(char::is_uppercase)
        && core.chars().any(char::is_lowercase)
        && core
            .chars()
            .all(|c| c.is_alphabetic() || c == '-' || c == '\'')
        && !PRODUCTS.contains(&core)
}

/// Prose without personal data: see the module's rules.
fn scrub_prose(text: &str) -> String {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let mut out: Vec<String> = Vec::with_capacity(tokens.len());
    let mut index = 0;
    let mut sentence_start = true;
    let mut announced = false;
    while index < tokens.len() {
        let token = split(tokens[index]);
        // A quoted value: everything up to its closing quote.
        if let Some(quote) = token.lead.chars().find(|c| QUOTES.contains(c)) {
            let closing = closing_quote(quote);
            let end = (index..tokens.len())
                .find(|&at| split(tokens[at]).trail.contains(closing))
                .unwrap_or(index);
            let last = split(tokens[end]);
            out.push(format!("{}<value>{}", token.lead, last.trail));
            sentence_start = ends_sentence(last.trail);
            announced = false;
            index = end + 1;
            continue;
        }
        let lower = token.core.to_lowercase();
        let replacement = if is_email(token.core) {
            Some("<e-mail>")
        } else if has_long_digit_run(token.core) {
            Some("<number>")
        } else if mixes_lower_case_and_digits(token.core) {
            Some("<id>")
        } else if announced && !token.core.is_empty() && !NOT_A_PERSON.contains(&lower.as_str()) {
            Some("<value>")
        } else {
            None
        };
        if let Some(replacement) = replacement {
            out.push(format!("{}{replacement}{}", token.lead, token.trail));
            sentence_start = ends_sentence(token.trail);
            announced = false;
            index += 1;
            continue;
        }
        if is_capitalised(token.core) {
            // A run of capitalised words, unbroken by punctuation.
            let mut end = index;
            while split(tokens[end]).trail.is_empty()
                && end + 1 < tokens.len()
                && split(tokens[end + 1]).lead.is_empty()
                && is_capitalised(split(tokens[end + 1]).core)
            {
                end += 1;
            }
            let last = split(tokens[end]);
            if end > index || !sentence_start {
                out.push(format!("{}<name>{}", token.lead, last.trail));
                announced = false;
            } else {
                out.push(tokens[index].to_owned());
                announced = ANNOUNCING.contains(&lower.as_str()) && token.trail.is_empty();
            }
            sentence_start = ends_sentence(last.trail);
            index = end + 1;
            continue;
        }
        out.push(tokens[index].to_owned());
        announced =
            ANNOUNCING.contains(&lower.as_str()) && (token.trail.is_empty() || token.trail == ":");
        if !token.core.is_empty() || ends_sentence(token.trail) {
            sentence_start = ends_sentence(token.trail);
        }
        index += 1;
    }
    out.join(" ")
}

fn closing_quote(opening: char) -> char {
    match opening {
        '«' => '»',
        '‘' => '’',
        '“' => '”',
        other => other,
    }
}

fn ends_sentence(trail: &str) -> bool {
    trail.contains(['.', '!', '?', ':'])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Personal values of one made-up person, as the tests below plant them.
    const PERSONAL: [&str; 7] = [
        "Ingrid",
        "Hansen",
        "ingrhan",
        "ingrid.hansen@student.example.no",
        "1234567",
        "01019012345",
        "sensor4711",
    ];

    fn assert_clean(scrubbed: &str) {
        for value in PERSONAL {
            assert!(!scrubbed.contains(value), "{value} in {scrubbed:?}");
        }
    }

    #[test]
    fn prose_keeps_its_codes_and_loses_the_person() {
        for body in [
            "Student Ingrid Hansen (ingrid.hansen@student.example.no) is not registered",
            "User ingrhan has no access to flow 4711",
            "Kandidat med personlopenr 1234567 finnes ikke",
            "Invalid national id 01019012345 for candidate 17",
            "Grader sensor4711 already assessed this candidate",
            "The value 'Ingrid Hansen' is not allowed for field grade",
            "brukernavn: ingrhan mangler",
            "Assessment by Hansen was rejected.",
            "« Ingrid » er ikke sensor",
        ] {
            assert_clean(&scrub(body));
        }
        assert_eq!(
            scrub("SERVICE_DOWN: the service is down"),
            "SERVICE_DOWN: the service is down"
        );
        assert_eq!(
            scrub("User not found for flow 4711"),
            "User not found for flow 4711"
        );
        assert_eq!(
            scrub("Invalid grade. Expected one of A-F"),
            "Invalid grade. Expected one of A-F"
        );
        assert_eq!(
            scrub("WISEflow flow 77 has no assessor named Ingrid Hansen"),
            "WISEflow flow 77 has no assessor named <name>"
        );
    }

    #[test]
    fn json_keeps_machine_codes_and_redacts_fields_that_hold_a_person() {
        let body = r#"{"code":"CANDIDATE_UNKNOWN","message":"Candidate Ingrid Hansen is unknown",
            "details":{"firstName":"Ingrid","etternavn":"Hansen","username":"ingrhan",
            "epost":"ingrid.hansen@student.example.no","personlopenr":1234567,
            "fodselsnummer":"01019012345","grader":"sensor4711","status":400}}"#;
        let scrubbed = scrub(body);
        assert_clean(&scrubbed);
        let value: Value = serde_json::from_str(&scrubbed).unwrap();
        assert_eq!(value["code"], "CANDIDATE_UNKNOWN");
        assert_eq!(value["details"]["status"], 400);
        assert_eq!(value["details"]["firstName"], REDACTED);
        assert_eq!(value["details"]["personlopenr"], REDACTED);
    }

    #[test]
    fn an_excerpt_is_scrubbed_before_it_is_cut() {
        let body = format!("{} Ingrid Hansen", "x ".repeat(20));
        let cut = third_party_excerpt(&body, 45);
        assert_clean(&cut);
        assert!(cut.ends_with('…') || cut.ends_with("<name>"), "{cut}");
    }

    #[test]
    fn quotes_and_punctuation_around_a_value_stay() {
        assert_eq!(
            scrub("unknown user \"ingrhan\", try again"),
            "unknown user \"<value>\", try again"
        );
        assert_eq!(scrub("(Ingrid Hansen)"), "(<name>)");
    }
}
