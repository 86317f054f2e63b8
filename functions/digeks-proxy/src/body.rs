//! Request bodies: the proxy mirrors FS's DigEks API (seed `004_*`: it "i hovedsak gjenspeiler
//! DigEks API'et fra FS"), so it checks only what authorisation and grade safety need, and passes
//! every other field on unchanged. The first problem is named by its path
//! (`karakterer[2].karakter`) — pure, no I/O.
//!
//! Checked: the exam (`vurdId`, which decides whose exam it is), each candidate number (given
//! once per list, so no candidate gets two grades in one call), every grade (later, against the
//! exam's scale: [`check_grades`]) and an explanation's link (https, as a student opens it).
//! Everything else, such as dates, attendance codes, group ids and fields the proxy has never
//! heard of, is FS's to judge, and FS's answer comes back to the caller.
//!
//! The body is forwarded as parsed and serialised afresh, so a duplicate key reaches FS once, as
//! the proxy checked it, and FS cannot read the body differently.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::operation::{is_vurd_id, Operation};
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
        Operation::RegisterGrades { .. } | Operation::ValidateGrades { .. } => {
            entries(&root, "karakterer", |entry, out| {
                let grade = entry.text("karakter", 1, 20)?;
                out.push((entry.path("karakter"), grade));
                Ok(())
            })
        }
        Operation::RegisterAttendance { .. } => entries(&root, "oppmote", |_, _| Ok(())),
        Operation::RegisterGroupIds { .. } => entries(&root, "grupper", |_, _| Ok(())),
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

/// `{vurdId, <list>: [{kandidatnr, ...}]}`, each candidate once; other fields pass.
fn entries(
    root: &Fields<'_>,
    list: &str,
    check_entry: impl Fn(&Fields<'_>, &mut Vec<(String, String)>) -> Result<(), Rejection>,
) -> Result<CheckedBody, Rejection> {
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

/// An explanation: the exam, the candidate and, when it is a link, that the link is https. The
/// dates (`datoBegrunnelseBedtOm`, `datoBegrunnelseGitt` in seed `002_*`), the document and its
/// content type go to FS as sent.
fn explanation(root: &Fields<'_>) -> Result<CheckedBody, Rejection> {
    let vurd_id = root.vurd_id()?;
    root.candidate()?;
    if root.object.contains_key("urlBegrunnelse") {
        root.pattern(
            "urlBegrunnelse",
            is_https_url,
            "an https:// URL of at most 2000 characters without blanks",
        )?;
    }
    Ok(CheckedBody {
        value: Value::Object(root.object.clone()),
        vurd_id,
        grades: vec![],
    })
}

/// An appeal decision: the exam, the candidate and, when one is given, the new grade (checked
/// against the scale). `vedtak` and `dato` go to FS as sent.
fn decision(root: &Fields<'_>) -> Result<CheckedBody, Rejection> {
    let vurd_id = root.vurd_id()?;
    root.candidate()?;
    let mut grades = Vec::new();
    if root.object.contains_key("nyKarakter") {
        grades.push(("nyKarakter".to_owned(), root.text("nyKarakter", 1, 20)?));
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

fn is_https_url(value: &str) -> bool {
    value.strip_prefix("https://").is_some_and(|rest| {
        (1..=2000).contains(&rest.chars().count())
            && !rest.chars().any(|c| c.is_whitespace() || c == '\u{feff}')
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
        let extra = json!({"vurdId": ID, "eksamensdel": 2,
            "karakterer": [{"kandidatnr": "1", "karakter": "A", "note": 1}]});
        let passed = check(&grades(), extra.to_string().as_bytes()).expect("unknown fields pass");
        assert_eq!(passed.value, extra, "forwarded unchanged");
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
    fn a_decision_checks_its_new_grade_and_passes_the_rest() {
        let op = Operation::RegisterDecision {
            system: ExamSystem::Wiseflow,
        };
        let upheld = json!({"vurdId": ID, "kandidatnr": "10001", "vedtak": "OPPRETTHOLDT",
            "dato": "23.11.2026", "kommentar": "x"});
        let checked = check(&op, upheld.to_string().as_bytes()).unwrap();
        assert_eq!((checked.value, checked.grades), (upheld, vec![]));
        let changed =
            json!({"vurdId": ID, "kandidatnr": "10001", "vedtak": "ENDRET", "nyKarakter": "C"});
        assert_eq!(
            check(&op, changed.to_string().as_bytes()).unwrap().grades,
            vec![("nyKarakter".to_owned(), "C".to_owned())]
        );
        let no_candidate = json!({"vurdId": ID, "vedtak": "ENDRET", "nyKarakter": "C"});
        assert_eq!(field_of(&op, no_candidate), "kandidatnr");
        let control = json!({"vurdId": ID, "kandidatnr": "1", "nyKarakter": "A\u{0}"});
        assert_eq!(field_of(&op, control), "nyKarakter");
    }

    #[test]
    fn an_explanation_checks_the_exam_the_candidate_and_a_link_and_passes_the_seed_fields() {
        let op = Operation::RegisterExplanation {
            system: ExamSystem::Inspera,
        };
        let document = json!({"vurdId": ID, "kandidatnr": "10001",
            "datoBegrunnelseBedtOm": "2026-11-20", "datoBegrunnelseGitt": "2026-11-22T10:00:00",
            "dokumentBegrunnelse": "JVBERi0xLjQK", "contentTypeBegrunnelse": "application/pdf"});
        assert_eq!(
            check(&op, document.to_string().as_bytes()).unwrap().value,
            document,
            "the seed's field names reach FS unchanged"
        );
        let mut url = document.clone();
        url["urlBegrunnelse"] = json!("https://exam.example/x");
        assert!(check(&op, url.to_string().as_bytes()).is_ok());
        url["urlBegrunnelse"] = json!("javascript:alert(1)");
        assert_eq!(field_of(&op, url), "urlBegrunnelse");
        let mut other_exam = document;
        other_exam["vurdId"] = json!("../x");
        assert_eq!(field_of(&op, other_exam), "vurdId");
    }

    #[test]
    fn what_is_not_a_json_object_is_refused() {
        for body in ["", "[]", "\"x\"", "{", "null"] {
            let rejection = check(&grades(), body.as_bytes()).unwrap_err();
            assert_eq!(rejection.field.as_deref(), Some("body"), "{body}");
        }
    }
}
