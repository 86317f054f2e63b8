//! HTTP routes of FS's exam API (`/eksamen/...`): exam lists and details, an
//! exam's appeals and explanations, and the registration of grades
//! (`sensur`), attendance (`oppmote`) and group ids (`gruppeid`).
//!
//! Registrations are all-or-nothing: a batch is checked completely (shape,
//! exam, every element) before any of it is stored.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

use super::routes::{bad_request, feil, institution_param};
use super::{base64, AttendanceStatus, FsExam, FsState, RegisteredExplanation};

type Shared = Arc<FsState>;

/// The exam routes; the caller adds counting, faults and Basic auth. Static
/// segments win over parameters, so `/eksamen/klager/{examSystem}` and the
/// other existing routes keep their meaning next to
/// `/eksamen/{examSystem}/{vurdId}`.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/eksamen/liste", get(exam_list))
        .route("/eksamen/hjelpemiddel", get(exams_with_aid))
        .route("/eksamen/{exam_system}/{vurd_id}", get(exam_detail))
        .route("/eksamen/klager/{exam_system}/{vurd_id}", get(exam_appeals))
        .route(
            "/eksamen/begrunnelser/{exam_system}/{vurd_id}",
            get(exam_explanations),
        )
        .route(
            "/eksamen/sensur/{exam_system}/registrer",
            post(register_grades),
        )
        .route(
            "/eksamen/sensur/{exam_system}/valider",
            post(validate_grades),
        )
        .route(
            "/eksamen/oppmote/{exam_system}/registrer",
            post(register_attendance),
        )
        .route(
            "/eksamen/gruppeid/{exam_system}/registrer",
            post(register_group_ids),
        )
}

/// 404: no exam `vurdId` in `exam_system`.
fn no_exam(exam_system: &str) -> Response {
    feil(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        &format!("no exam with this vurdId in exam system {exam_system}"),
    )
}

/// An exam summary: the exam without `kandidater`.
fn summary(exam: &FsExam) -> Value {
    let mut value = serde_json::to_value(exam).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.remove("kandidater");
    }
    value
}

fn summaries(state: &FsState, institution: &str, aid: Option<&str>) -> Response {
    let list: Vec<Value> = state
        .exam_summaries(institution, aid)
        .into_iter()
        .map(summary)
        .collect();
    Json(list).into_response()
}

/// `GET /eksamen/liste?institusjonsnr=`: the institution's exam summaries.
async fn exam_list(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match institution_param(&query) {
        Ok(institution) => summaries(&state, &institution, None),
        Err(message) => bad_request(&message),
    }
}

/// `GET /eksamen/hjelpemiddel?institusjonsnr=&hjelpemiddel=`: the
/// institution's exam summaries that permit the aid (exact code).
async fn exams_with_aid(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let institution = match institution_param(&query) {
        Ok(institution) => institution,
        Err(message) => return bad_request(&message),
    };
    match query
        .get("hjelpemiddel")
        .filter(|aid| !aid.trim().is_empty())
    {
        Some(aid) => summaries(&state, &institution, Some(aid)),
        None => bad_request("parameter hjelpemiddel is required, e.g. A"),
    }
}

/// `GET /eksamen/{examSystem}/{vurdId}`: the exam with its candidates.
async fn exam_detail(
    State(state): State<Shared>,
    Path((exam_system, vurd_id)): Path<(String, String)>,
) -> Response {
    match state.exam(&exam_system, &vurd_id) {
        Some(exam) if state.has_no_grade_scale(&vurd_id) => {
            let mut info = serde_json::to_value(exam).expect("an exam serialises");
            if let Some(fields) = info.as_object_mut() {
                fields.remove("karakterskala");
            }
            Json(info).into_response()
        }
        Some(exam) => Json(exam).into_response(),
        None => no_exam(&exam_system),
    }
}

/// `GET /eksamen/klager/{examSystem}/{vurdId}`: the latest appeal change of
/// each candidate of the exam.
async fn exam_appeals(
    State(state): State<Shared>,
    Path((exam_system, vurd_id)): Path<(String, String)>,
) -> Response {
    match state.exam_appeals(&exam_system, &vurd_id) {
        Some(appeals) => Json(appeals).into_response(),
        None => no_exam(&exam_system),
    }
}

/// A registered explanation as `GET /eksamen/begrunnelser/{examSystem}/{vurdId}`
/// serves it, with the field names of its registration (seed `002_*`); absent optional fields
/// are left out.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExplanationJson {
    vurd_id: String,
    kandidatnr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url_begrunnelse: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type_begrunnelse: Option<String>,
    /// The document, base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    dokument_begrunnelse: Option<String>,
    dato_begrunnelse_bedt_om: String,
    dato_begrunnelse_gitt: String,
}

impl ExplanationJson {
    fn of(explanation: RegisteredExplanation) -> Self {
        Self {
            vurd_id: explanation.assessment_id,
            kandidatnr: explanation.candidate_number,
            url_begrunnelse: explanation.url,
            content_type_begrunnelse: explanation.content_type,
            dokument_begrunnelse: explanation.document.map(|bytes| base64::encode(&bytes)),
            dato_begrunnelse_bedt_om: explanation.requested_at,
            dato_begrunnelse_gitt: explanation.given_at,
        }
    }
}

/// `GET /eksamen/begrunnelser/{examSystem}/{vurdId}`: the explanations
/// registered for the exam, sorted by `kandidatnr`.
async fn exam_explanations(
    State(state): State<Shared>,
    Path((exam_system, vurd_id)): Path<(String, String)>,
) -> Response {
    match state.exam_explanations(&exam_system, &vurd_id) {
        Some(explanations) => {
            let list: Vec<ExplanationJson> =
                explanations.into_iter().map(ExplanationJson::of).collect();
            Json(list).into_response()
        }
        None => no_exam(&exam_system),
    }
}

/// A registration body: `{"vurdId": "...", "<list>": [{"kandidatnr": "...",
/// "<field>": "..."}]}`.
#[derive(Clone, Copy)]
struct BatchKind {
    /// The list's name, e.g. `karakterer`.
    list: &'static str,
    /// The field each element has besides `kandidatnr`, e.g. `karakter`.
    field: &'static str,
    /// Checks a non-blank `field` value; the error completes
    /// `"<list>[i].<field> "`.
    check: fn(&str) -> Result<(), &'static str>,
}

/// Any non-blank text.
fn any_text(_: &str) -> Result<(), &'static str> {
    Ok(())
}

fn attendance_code(code: &str) -> Result<(), &'static str> {
    AttendanceStatus::from_code(code)
        .map(|_| ())
        .ok_or("must be MOTT or IKKE_MOTT")
}

/// Grades are deliberately not checked against the exam's grade scale.
const GRADES: BatchKind = BatchKind {
    list: "karakterer",
    field: "karakter",
    check: any_text,
};
const ATTENDANCE: BatchKind = BatchKind {
    list: "oppmote",
    field: "status",
    check: attendance_code,
};
const GROUP_IDS: BatchKind = BatchKind {
    list: "grupper",
    field: "gruppeid",
    check: any_text,
};

/// A parsed registration body.
struct Batch {
    assessment_id: String,
    /// `(kandidatnr, field)` per element; absent, null or blank is `None`.
    rows: Vec<(Option<String>, Option<String>)>,
}

/// Parses a body of `kind`'s shape; the error names what is wrong. Elements
/// may lack fields (that is checked later), but every field present must be
/// a string or null.
fn parse_batch(body: &[u8], kind: BatchKind) -> Result<Batch, String> {
    let BatchKind { list, field, .. } = kind;
    let shape = format!(
        "body must be a JSON object {{\"vurdId\": string, \"{list}\": [{{\"kandidatnr\": string, \"{field}\": string}}]}}"
    );
    let value: Value = serde_json::from_slice(body).map_err(|error| format!("{shape}: {error}"))?;
    let Some(object) = value.as_object() else {
        return Err(shape);
    };
    let assessment_id = text(object.get("vurdId"), "vurdId")?
        .ok_or_else(|| "field vurdId is required".to_owned())?;
    let items = match object.get(list) {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => return Err(format!("field {list} is required")),
        Some(_) => return Err(format!("field {list} must be an array")),
    };
    let rows = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let Some(item) = item.as_object() else {
                return Err(format!("{list}[{index}] must be an object"));
            };
            Ok((
                text(
                    item.get("kandidatnr"),
                    &format!("{list}[{index}].kandidatnr"),
                )?,
                text(item.get(field), &format!("{list}[{index}].{field}"))?,
            ))
        })
        .collect::<Result<_, String>>()?;
    Ok(Batch {
        assessment_id,
        rows,
    })
}

/// A string field: `None` when absent, null or blank; an error naming it
/// when it is something else.
fn text(value: Option<&Value>, name: &str) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(format!("field {name} must be a string")),
    }
}

/// One thing wrong with an element, as `valider` lists it in `feil`.
#[derive(Serialize)]
struct Problem {
    /// The element's `kandidatnr`; empty when it has none.
    kandidatnr: String,
    /// What is wrong, naming the field, e.g. `karakterer[2].kandidatnr 99999
    /// is not a candidate of this exam`.
    melding: String,
}

/// Everything wrong with the elements of `batch`, in element order.
fn problems(batch: &Batch, kind: BatchKind, candidates: &HashSet<String>) -> Vec<Problem> {
    let BatchKind { list, field, check } = kind;
    let mut problems = Vec::new();
    for (index, (candidate, value)) in batch.rows.iter().enumerate() {
        let kandidatnr = candidate.clone().unwrap_or_default();
        let mut problem = |melding: String| {
            problems.push(Problem {
                kandidatnr: kandidatnr.clone(),
                melding,
            })
        };
        match candidate {
            None => problem(format!("{list}[{index}].kandidatnr is missing or blank")),
            Some(number) if !candidates.contains(number) => problem(format!(
                "{list}[{index}].kandidatnr {number} is not a candidate of this exam"
            )),
            Some(_) => {}
        }
        match value.as_deref().map(check) {
            None => problem(format!("{list}[{index}].{field} is missing or blank")),
            Some(Err(error)) => problem(format!("{list}[{index}].{field} {error}")),
            Some(Ok(())) => {}
        }
    }
    problems
}

/// A body checked completely: every element has a candidate of the exam
/// and a valid value.
struct Checked {
    assessment_id: String,
    rows: Vec<(String, String)>,
}

/// Why a registration is refused.
enum Refusal {
    /// 400 with this message.
    BadRequest(String),
    /// 404: no such exam in the exam system.
    NoExam,
}

impl Refusal {
    fn response(self, exam_system: &str) -> Response {
        match self {
            Refusal::BadRequest(message) => bad_request(&message),
            Refusal::NoExam => no_exam(exam_system),
        }
    }
}

/// Parses and checks a registration: 400 for a body of the wrong shape,
/// 404 for an unknown exam (or one in another exam system), 400 naming the
/// first bad element.
fn checked(
    state: &FsState,
    exam_system: &str,
    body: &[u8],
    kind: BatchKind,
) -> Result<Checked, Refusal> {
    let batch = parse_batch(body, kind).map_err(Refusal::BadRequest)?;
    let candidates =
        candidates_of(state, exam_system, &batch.assessment_id).ok_or(Refusal::NoExam)?;
    if let Some(problem) = problems(&batch, kind, &candidates).into_iter().next() {
        return Err(Refusal::BadRequest(problem.melding));
    }
    let rows = batch
        .rows
        .into_iter()
        .filter_map(|(candidate, value)| Some((candidate?, value?)))
        .collect();
    Ok(Checked {
        assessment_id: batch.assessment_id,
        rows,
    })
}

fn candidates_of(state: &FsState, exam_system: &str, vurd_id: &str) -> Option<HashSet<String>> {
    state
        .exam_candidate_numbers(exam_system, vurd_id)
        .map(|numbers| numbers.into_iter().collect())
}

/// `POST /eksamen/sensur/{examSystem}/registrer`: registers grades, all or
/// nothing; answers `{"registrert", "uendret", "endret"}` counts.
///
/// Deliberately, the grade (`karakter`) is NOT checked against the exam's
/// grade scale: any non-blank text is stored, so `"G"` on an `A-F` exam or
/// `"B"` on a `BESTATT` exam is accepted. This simulates the risk that FS
/// registers a wrong grade; it is the client's (the proxy's) job to
/// prevent that, and tests can prove it through
/// [`FsState::registered_grades`].
async fn register_grades(
    State(state): State<Shared>,
    Path(exam_system): Path<String>,
    body: Bytes,
) -> Response {
    match checked(&state, &exam_system, &body, GRADES) {
        Ok(batch) => {
            let counts = state.register_grades(&exam_system, &batch.assessment_id, batch.rows);
            Json(json!({
                "registrert": counts.registered,
                "uendret": counts.unchanged,
                "endret": counts.changed,
            }))
            .into_response()
        }
        Err(refusal) => refusal.response(&exam_system),
    }
}

/// `POST /eksamen/sensur/{examSystem}/valider`: checks a grade batch like
/// `registrer` does (unknown candidates, blank grades; not the grade scale)
/// and registers nothing. 400 only for a body of the wrong shape; otherwise
/// `{"gyldig": bool, "feil": [{"kandidatnr", "melding"}]}`.
async fn validate_grades(
    State(state): State<Shared>,
    Path(exam_system): Path<String>,
    body: Bytes,
) -> Response {
    let batch = match parse_batch(&body, GRADES) {
        Ok(batch) => batch,
        Err(message) => return bad_request(&message),
    };
    let Some(candidates) = candidates_of(&state, &exam_system, &batch.assessment_id) else {
        return no_exam(&exam_system);
    };
    let problems = problems(&batch, GRADES, &candidates);
    state.note_validation();
    Json(json!({ "gyldig": problems.is_empty(), "feil": problems })).into_response()
}

/// `POST /eksamen/oppmote/{examSystem}/registrer`: registers attendance
/// (`MOTT` or `IKKE_MOTT`), all or nothing; answers `{"registrert": n}`.
async fn register_attendance(
    State(state): State<Shared>,
    Path(exam_system): Path<String>,
    body: Bytes,
) -> Response {
    match checked(&state, &exam_system, &body, ATTENDANCE) {
        Ok(batch) => {
            let statuses = batch
                .rows
                .into_iter()
                .filter_map(|(candidate, code)| {
                    Some((candidate, AttendanceStatus::from_code(&code)?))
                })
                .collect();
            let count = state.register_attendance(&exam_system, &batch.assessment_id, statuses);
            Json(json!({ "registrert": count })).into_response()
        }
        Err(refusal) => refusal.response(&exam_system),
    }
}

/// `POST /eksamen/gruppeid/{examSystem}/registrer`: registers group ids, all
/// or nothing; answers `{"registrert": n}`.
async fn register_group_ids(
    State(state): State<Shared>,
    Path(exam_system): Path<String>,
    body: Bytes,
) -> Response {
    match checked(&state, &exam_system, &body, GROUP_IDS) {
        Ok(batch) => {
            let count = state.register_group_ids(&exam_system, &batch.assessment_id, batch.rows);
            Json(json!({ "registrert": count })).into_response()
        }
        Err(refusal) => refusal.response(&exam_system),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates() -> HashSet<String> {
        HashSet::from(["12345".to_owned(), "23456".to_owned()])
    }

    #[test]
    fn batches_name_the_bad_field() {
        for (body, expected) in [
            (&b"not json"[..], "body must be"),
            (br#"[]"#, "body must be"),
            (br#"{"karakterer": []}"#, "vurdId"),
            (br#"{"vurdId": " ", "karakterer": []}"#, "vurdId"),
            (br#"{"vurdId": "x"}"#, "karakterer"),
            (br#"{"vurdId": "x", "karakterer": {}}"#, "karakterer"),
            (br#"{"vurdId": "x", "karakterer": [1]}"#, "karakterer[0]"),
            (
                br#"{"vurdId": "x", "karakterer": [{"kandidatnr": 12345}]}"#,
                "karakterer[0].kandidatnr",
            ),
        ] {
            let error = parse_batch(body, GRADES).err().expect("rejected");
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn problems_list_unknown_candidates_blank_and_bad_values() {
        let body = br#"{"vurdId": "x", "oppmote": [
            {"kandidatnr": "12345", "status": "MOTT"},
            {"kandidatnr": "99999", "status": "IKKE_MOTT"},
            {"kandidatnr": "23456", "status": " "},
            {"status": "KANSKJE"}
        ]}"#;
        let batch = parse_batch(body, ATTENDANCE).unwrap();
        let found: Vec<(String, String)> = problems(&batch, ATTENDANCE, &candidates())
            .into_iter()
            .map(|p| (p.kandidatnr, p.melding))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "99999",
                    "oppmote[1].kandidatnr 99999 is not a candidate of this exam"
                ),
                ("23456", "oppmote[2].status is missing or blank"),
                ("", "oppmote[3].kandidatnr is missing or blank"),
                ("", "oppmote[3].status must be MOTT or IKKE_MOTT"),
            ]
            .map(|(k, m)| (k.to_owned(), m.to_owned()))
        );
    }

    #[test]
    fn any_grade_text_passes() {
        let body = br#"{"vurdId": "x", "karakterer": [{"kandidatnr": "12345", "karakter": "G"}]}"#;
        let batch = parse_batch(body, GRADES).unwrap();
        assert!(problems(&batch, GRADES, &candidates()).is_empty());
    }
}
