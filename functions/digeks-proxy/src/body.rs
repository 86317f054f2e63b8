//! Request bodies: each checked field by field against the documented schema, the first problem
//! named by its path (`karakterer[2].karakter`) — pure, no I/O.
//!
//! Only the checked value is forwarded, serialised afresh: a duplicate key or an unknown field
//! never reaches FS, so FS cannot read a body differently from how the proxy checked it. Grades
//! are checked later, against the exam's scale ([`check_grades`]).

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::operation::{is_date_or_time, is_vurd_id, Operation};
use crate::rejection::Rejection;

/// Most entries in one registration.
const MAX_ENTRIES: usize = 1000;

/// A checked body.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedBody {
    /// What is forwarded to FS.
    pub value: Value,
    /// The exam it concerns.
    pub vurd_id: String,
    /// Grades to check against the exam's scale: (field path, grade).
    pub grades: Vec<(String, String)>,
}

/// Checks the body of `operation`.
pub fn check(operation: &Operation, body: &[u8]) -> Result<CheckedBody, Rejection> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Rejection::invalid("body", format!("the body is not valid JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(Rejection::invalid("body", "the body must be a JSON object"));
    };
    let root = Fields::new("", &object);
    match operation {
        Operation::RegisterGrades { .. } | Operation::ValidateGrades { .. } => entries(
            &root,
            "karakterer",
            &["kandidatnr", "karakter"],
            |entry, out| {
                let grade = entry.text("karakter", 1, 20)?;
                out.push((entry.path("karakter"), grade));
                Ok(())
            },
        ),
        Operation::RegisterAttendance { .. } => {
            entries(&root, "oppmote", &["kandidatnr", "status"], |entry, _| {
                entry.one_of("status", &["MOTT", "IKKE_MOTT"]).map(|_| ())
            })
        }
        Operation::RegisterGroupIds { .. } => {
            entries(&root, "grupper", &["kandidatnr", "gruppeid"], |entry, _| {
                entry
                    .pattern(
                        "gruppeid",
                        is_group_id,
                        "1–40 characters of A–Z, a–z, 0–9, _ or -",
                    )
                    .map(|_| ())
            })
        }
        Operation::RegisterExplanation { .. } => explanation(&root),
        Operation::RegisterDecision { .. } => decision(&root),
        _ => Err(Rejection::invalid("body", "this operation takes no body")),
    }
}

/// Checks every grade against the exam's scale.
pub fn check_grades(grades: &[(String, String)], scale: &[String]) -> Result<(), Rejection> {
    for (field, grade) in grades {
        if !scale.iter().any(|allowed| allowed == grade) {
            return Err(Rejection::invalid(
                field.clone(),
                format!(
                    "{grade:?} is not a grade of this exam's scale: use one of {}",
                    scale.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// `{vurdId, <list>: [{kandidatnr, ...}]}`, each candidate once.
fn entries(
    root: &Fields<'_>,
    list: &str,
    entry_fields: &[&str],
    check_entry: impl Fn(&Fields<'_>, &mut Vec<(String, String)>) -> Result<(), Rejection>,
) -> Result<CheckedBody, Rejection> {
    root.only(&["vurdId", list])?;
    let vurd_id = root.vurd_id()?;
    let items = root.array(list)?;
    let mut grades = Vec::new();
    let mut candidates = HashSet::new();
    for (index, item) in items.iter().enumerate() {
        let path = format!("{list}[{index}]");
        let Value::Object(object) = item else {
            return Err(Rejection::invalid(path, "each entry must be a JSON object"));
        };
        let entry = Fields::new(&path, object);
        entry.only(entry_fields)?;
        let candidate = entry.candidate()?;
        if !candidates.insert(candidate.clone()) {
            return Err(Rejection::invalid(
                entry.path("kandidatnr"),
                format!("kandidatnr {candidate} appears more than once: give each candidate once"),
            ));
        }
        check_entry(&entry, &mut grades)?;
    }
    Ok(CheckedBody {
        value: Value::Object(root.object.clone()),
        vurd_id,
        grades,
    })
}

fn explanation(root: &Fields<'_>) -> Result<CheckedBody, Rejection> {
    root.only(&[
        "vurdId",
        "kandidatnr",
        "urlBegrunnelse",
        "dokumentBegrunnelse",
        "contentTypeBegrunnelse",
        "datoBedtOm",
        "datoGitt",
    ])?;
    let vurd_id = root.vurd_id()?;
    root.candidate()?;
    root.date("datoBedtOm")?;
    root.date("datoGitt")?;
    let url = root.object.contains_key("urlBegrunnelse");
    let document = root.object.contains_key("dokumentBegrunnelse");
    match (url, document) {
        (true, false) => {
            root.pattern(
                "urlBegrunnelse",
                is_https_url,
                "an https:// URL of at most 2000 characters without blanks",
            )?;
            if root.object.contains_key("contentTypeBegrunnelse") {
                return Err(Rejection::invalid(
                    "contentTypeBegrunnelse",
                    "contentTypeBegrunnelse goes with dokumentBegrunnelse only: leave it out for a URL",
                ));
            }
        }
        (false, true) => {
            root.pattern(
                "dokumentBegrunnelse",
                is_base64_document,
                "the document in standard base64, 4 to 6,000,000 characters",
            )?;
            if root.object.contains_key("contentTypeBegrunnelse") {
                root.pattern(
                    "contentTypeBegrunnelse",
                    is_content_type,
                    "a media type such as application/pdf",
                )?;
            }
        }
        _ => {
            return Err(Rejection::invalid(
                "urlBegrunnelse",
                "give exactly one of urlBegrunnelse and dokumentBegrunnelse",
            ))
        }
    }
    Ok(CheckedBody {
        value: Value::Object(root.object.clone()),
        vurd_id,
        grades: vec![],
    })
}

fn decision(root: &Fields<'_>) -> Result<CheckedBody, Rejection> {
    root.only(&["vurdId", "kandidatnr", "vedtak", "nyKarakter", "dato"])?;
    let vurd_id = root.vurd_id()?;
    root.candidate()?;
    let decision = root.one_of("vedtak", &["OPPRETTHOLDT", "ENDRET"])?;
    root.date("dato")?;
    let mut grades = Vec::new();
    match (decision.as_str(), root.object.contains_key("nyKarakter")) {
        ("ENDRET", true) => grades.push(("nyKarakter".to_owned(), root.text("nyKarakter", 1, 20)?)),
        ("ENDRET", false) => {
            return Err(Rejection::invalid(
                "nyKarakter",
                "nyKarakter is required when vedtak is ENDRET: give the new grade",
            ))
        }
        (_, true) => {
            return Err(Rejection::invalid(
                "nyKarakter",
                "nyKarakter goes with vedtak ENDRET only: leave it out when the grade is upheld",
            ))
        }
        _ => {}
    }
    Ok(CheckedBody {
        value: Value::Object(root.object.clone()),
        vurd_id,
        grades,
    })
}

/// An object's fields, with the path that names them in errors.
struct Fields<'a> {
    prefix: String,
    object: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn new(prefix: &str, object: &'a Map<String, Value>) -> Self {
        Fields {
            prefix: prefix.to_owned(),
            object,
        }
    }

    fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    fn only(&self, allowed: &[&str]) -> Result<(), Rejection> {
        match self.object.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(unknown) => {
                let shown: String = unknown
                    .chars()
                    .filter(|c| c.is_ascii_graphic())
                    .take(40)
                    .collect();
                Err(Rejection::invalid(
                    self.path(&shown),
                    format!(
                        "unknown field {shown}: allowed here are {}",
                        allowed.join(", ")
                    ),
                ))
            }
            None => Ok(()),
        }
    }

    fn string(&self, name: &str) -> Result<&'a str, Rejection> {
        match self.object.get(name) {
            None | Some(Value::Null) => Err(Rejection::invalid(
                self.path(name),
                format!("{} is required", self.path(name)),
            )),
            Some(Value::String(text)) => Ok(text),
            Some(_) => Err(Rejection::invalid(
                self.path(name),
                format!("{} must be a string", self.path(name)),
            )),
        }
    }

    fn pattern(
        &self,
        name: &str,
        valid: fn(&str) -> bool,
        expected: &str,
    ) -> Result<String, Rejection> {
        let value = self.string(name)?;
        if valid(value) {
            Ok(value.to_owned())
        } else {
            Err(Rejection::invalid(
                self.path(name),
                format!("{} must be {expected}", self.path(name)),
            ))
        }
    }

    fn text(&self, name: &str, min: usize, max: usize) -> Result<String, Rejection> {
        let value = self.string(name)?;
        let length = value.chars().count();
        if (min..=max).contains(&length) && !value.chars().any(char::is_control) {
            Ok(value.to_owned())
        } else {
            Err(Rejection::invalid(
                self.path(name),
                format!(
                    "{} must be {min}–{max} characters without control characters",
                    self.path(name)
                ),
            ))
        }
    }

    fn one_of(&self, name: &str, allowed: &[&str]) -> Result<String, Rejection> {
        let value = self.string(name)?;
        if allowed.contains(&value) {
            Ok(value.to_owned())
        } else {
            Err(Rejection::invalid(
                self.path(name),
                format!("{} must be one of {}", self.path(name), allowed.join(", ")),
            ))
        }
    }

    fn vurd_id(&self) -> Result<String, Rejection> {
        self.pattern(
            "vurdId",
            is_vurd_id,
            "4–200 characters of A–Z, a–z, 0–9, +, =, _ or -",
        )
    }

    fn candidate(&self) -> Result<String, Rejection> {
        self.pattern(
            "kandidatnr",
            is_candidate_number,
            "the candidate number, 1–10 digits",
        )
    }

    fn date(&self, name: &str) -> Result<String, Rejection> {
        self.pattern(
            name,
            is_date_or_time,
            "a date yyyy-MM-dd or a time yyyy-MM-ddTHH:mm:ss",
        )
    }

    fn array(&self, name: &str) -> Result<&'a Vec<Value>, Rejection> {
        match self.object.get(name) {
            Some(Value::Array(items)) if (1..=MAX_ENTRIES).contains(&items.len()) => Ok(items),
            Some(Value::Array(_)) => Err(Rejection::invalid(
                self.path(name),
                format!("{} must hold 1 to {MAX_ENTRIES} entries", self.path(name)),
            )),
            None | Some(Value::Null) => Err(Rejection::invalid(
                self.path(name),
                format!("{} is required", self.path(name)),
            )),
            Some(_) => Err(Rejection::invalid(
                self.path(name),
                format!("{} must be a JSON array", self.path(name)),
            )),
        }
    }
}

fn is_candidate_number(value: &str) -> bool {
    (1..=10).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
}

fn is_group_id(value: &str) -> bool {
    (1..=40).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn is_https_url(value: &str) -> bool {
    value.strip_prefix("https://").is_some_and(|rest| {
        (1..=2000).contains(&rest.chars().count())
            && !rest.chars().any(|c| c.is_whitespace() || c == '\u{feff}')
    })
}

fn is_base64_document(value: &str) -> bool {
    let body = value.trim_end_matches('=');
    (4..=6_000_000).contains(&value.len())
        && value.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

fn is_content_type(value: &str) -> bool {
    let Some((kind, subtype)) = value.split_once('/') else {
        return false;
    };
    !kind.is_empty()
        && kind.bytes().all(|b| b.is_ascii_lowercase())
        && (1..=100).contains(&subtype.len())
        && subtype.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'+' | b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flyt::institution::ExamSystem;
    use serde_json::json;

    const ID: &str = "MTg1LUlORjEwMC0xLTIwMjYtSMOYU1QtMQ==";

    fn grades() -> Operation {
        Operation::RegisterGrades {
            system: ExamSystem::Inspera,
        }
    }

    fn field_of(operation: &Operation, body: Value) -> String {
        let rejection = check(operation, body.to_string().as_bytes()).expect_err("rejected");
        assert_eq!(rejection.status, 400);
        rejection.field.unwrap()
    }

    #[test]
    fn a_grade_list_is_checked_entry_by_entry() {
        let body = json!({"vurdId": ID, "karakterer": [
            {"kandidatnr": "10001", "karakter": "A"}, {"kandidatnr": "10002", "karakter": "F"}]});
        let checked = check(&grades(), body.to_string().as_bytes()).unwrap();
        assert_eq!(checked.vurd_id, ID);
        assert_eq!(
            checked.grades,
            vec![
                ("karakterer[0].karakter".to_owned(), "A".to_owned()),
                ("karakterer[1].karakter".to_owned(), "F".to_owned())
            ]
        );
        assert_eq!(checked.value, body);
        let bad = json!({"vurdId": ID, "karakterer": [
            {"kandidatnr": "10001", "karakter": "A"}, {"kandidatnr": "1000x", "karakter": "B"}]});
        assert_eq!(field_of(&grades(), bad), "karakterer[1].kandidatnr");
        let twice = json!({"vurdId": ID, "karakterer": [
            {"kandidatnr": "10001", "karakter": "A"}, {"kandidatnr": "10001", "karakter": "B"}]});
        assert_eq!(field_of(&grades(), twice), "karakterer[1].kandidatnr");
        let extra =
            json!({"vurdId": ID, "karakterer": [{"kandidatnr": "1", "karakter": "A", "note": 1}]});
        assert_eq!(field_of(&grades(), extra), "karakterer[0].note");
        assert_eq!(
            field_of(&grades(), json!({"vurdId": ID, "karakterer": []})),
            "karakterer"
        );
        assert_eq!(field_of(&grades(), json!({"karakterer": []})), "vurdId");
        assert_eq!(
            field_of(&grades(), json!({"vurdId": "../x", "karakterer": []})),
            "vurdId"
        );
    }

    #[test]
    fn grades_outside_the_scale_name_the_entry_and_the_allowed_grades() {
        let scale = ["A", "B", "C", "D", "E", "F"].map(String::from);
        let found = vec![
            ("karakterer[0].karakter".to_owned(), "B".to_owned()),
            ("karakterer[1].karakter".to_owned(), "BESTÅTT".to_owned()),
        ];
        let rejection = check_grades(&found, &scale).unwrap_err();
        assert_eq!(rejection.field.as_deref(), Some("karakterer[1].karakter"));
        assert!(
            rejection.message.contains("A, B, C, D, E, F"),
            "{}",
            rejection.message
        );
        assert!(check_grades(&found[..1], &scale).is_ok());
    }

    #[test]
    fn a_decision_needs_a_new_grade_exactly_when_changed() {
        let op = Operation::RegisterDecision {
            system: ExamSystem::Wiseflow,
        };
        let base =
            json!({"vurdId": ID, "kandidatnr": "10001", "vedtak": "ENDRET", "dato": "2026-11-23"});
        assert_eq!(field_of(&op, base.clone()), "nyKarakter");
        let mut changed = base.clone();
        changed["nyKarakter"] = json!("C");
        assert_eq!(
            check(&op, changed.to_string().as_bytes()).unwrap().grades,
            vec![("nyKarakter".to_owned(), "C".to_owned())]
        );
        let mut upheld = changed.clone();
        upheld["vedtak"] = json!("OPPRETTHOLDT");
        assert_eq!(field_of(&op, upheld), "nyKarakter");
        let mut wrong = base;
        wrong["vedtak"] = json!("maybe");
        assert_eq!(field_of(&op, wrong), "vedtak");
    }

    #[test]
    fn an_explanation_is_a_url_or_a_document() {
        let op = Operation::RegisterExplanation {
            system: ExamSystem::Inspera,
        };
        let base = json!({"vurdId": ID, "kandidatnr": "10001", "datoBedtOm": "2026-11-20", "datoGitt": "2026-11-22T10:00:00"});
        assert_eq!(field_of(&op, base.clone()), "urlBegrunnelse");
        let mut url = base.clone();
        url["urlBegrunnelse"] = json!("https://exam.example/x");
        assert!(check(&op, url.to_string().as_bytes()).is_ok());
        url["urlBegrunnelse"] = json!("javascript:alert(1)");
        assert_eq!(field_of(&op, url), "urlBegrunnelse");
        let mut document = base;
        document["dokumentBegrunnelse"] = json!("JVBERi0xLjQK");
        document["contentTypeBegrunnelse"] = json!("application/pdf");
        assert!(check(&op, document.to_string().as_bytes()).is_ok());
        document["datoGitt"] = json!("22.11.2026");
        assert_eq!(field_of(&op, document), "datoGitt");
    }

    #[test]
    fn what_is_not_a_json_object_is_refused() {
        for body in ["", "[]", "\"x\"", "{", "null"] {
            let rejection = check(&grades(), body.as_bytes()).unwrap_err();
            assert_eq!(rejection.field.as_deref(), Some("body"), "{body}");
        }
    }
}
