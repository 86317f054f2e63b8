//! The proxy's operations: which one a request is, checked against strict patterns before
//! anything else happens — pure, no I/O.
//!
//! Paths are matched segment by segment on the raw path; a segment that breaks its pattern (a
//! `..`, an encoded slash, a stray character) is 400, so nothing odd is ever forwarded. Query
//! strings may hold only the operation's parameters, each once.

use std::collections::BTreeMap;

use flyt::institution::ExamSystem;

use crate::rejection::Rejection;

/// The path prefix of every operation.
pub const PREFIX: &str = "/v1/";
/// Longest accepted raw query string.
const MAX_QUERY_BYTES: usize = 1024;

/// One operation with its path and query parameters, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `GET /v1/eksamen/liste`.
    ListExams { institusjonsnr: String },
    /// `GET /v1/eksamen/hjelpemiddel`.
    ListExamsByAid {
        institusjonsnr: String,
        hjelpemiddel: String,
    },
    /// `GET /v1/eksamen/{system}/{vurdId}`.
    GetExam { system: ExamSystem, vurd_id: String },
    /// `POST /v1/eksamen/sensur/{system}/registrer`.
    RegisterGrades { system: ExamSystem },
    /// `POST /v1/eksamen/sensur/{system}/valider`.
    ValidateGrades { system: ExamSystem },
    /// `POST /v1/eksamen/oppmote/{system}/registrer`.
    RegisterAttendance { system: ExamSystem },
    /// `GET /v1/eksamen/begrunnelser/{system}/{vurdId}`.
    ListExplanations { system: ExamSystem, vurd_id: String },
    /// `POST /v1/eksamen/begrunnelser/{system}`.
    RegisterExplanation { system: ExamSystem },
    /// `GET /v1/eksamen/klager/{system}/{vurdId}`.
    ListAppealsOfExam { system: ExamSystem, vurd_id: String },
    /// `POST /v1/eksamen/vedtak/{system}`.
    RegisterDecision { system: ExamSystem },
    /// `POST /v1/eksamen/gruppeid/{system}/registrer`.
    RegisterGroupIds { system: ExamSystem },
    /// `GET /v1/eksamen/klager/{system}?institusjonsnr=&siden=`.
    ListAppealsChangedSince {
        system: ExamSystem,
        institusjonsnr: String,
        siden: String,
    },
    /// `GET /v1/eksamen/begrunnelse/{system}?institusjonsnr=&siden=`.
    ListExplanationRequestsChangedSince {
        system: ExamSystem,
        institusjonsnr: String,
        siden: String,
    },
    /// `GET /v1/openapi.json`.
    OpenApi,
}

/// Where an operation's institution comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstitutionSource<'a> {
    /// The `institusjonsnr` query parameter.
    Query(&'a str),
    /// The exam in the path.
    Exam(&'a str),
    /// The exam named by the body's `vurdId`.
    Body,
    /// None: the operation touches no institution's data.
    None,
}

impl Operation {
    /// Its `operationId` in the OpenAPI document (also its name in audit lines).
    pub fn name(&self) -> &'static str {
        match self {
            Operation::ListExams { .. } => "listExams",
            Operation::ListExamsByAid { .. } => "listExamsByAid",
            Operation::GetExam { .. } => "getExam",
            Operation::RegisterGrades { .. } => "registerGrades",
            Operation::ValidateGrades { .. } => "validateGrades",
            Operation::RegisterAttendance { .. } => "registerAttendance",
            Operation::ListExplanations { .. } => "listExplanations",
            Operation::RegisterExplanation { .. } => "registerExplanation",
            Operation::ListAppealsOfExam { .. } => "listAppealsOfExam",
            Operation::RegisterDecision { .. } => "registerDecision",
            Operation::RegisterGroupIds { .. } => "registerGroupIds",
            Operation::ListAppealsChangedSince { .. } => "listAppealsChangedSince",
            Operation::ListExplanationRequestsChangedSince { .. } => {
                "listExplanationRequestsChangedSince"
            }
            Operation::OpenApi => "getOpenApi",
        }
    }

    /// The exam system in its path, if any.
    pub fn system(&self) -> Option<ExamSystem> {
        match self {
            Operation::GetExam { system, .. }
            | Operation::RegisterGrades { system }
            | Operation::ValidateGrades { system }
            | Operation::RegisterAttendance { system }
            | Operation::ListExplanations { system, .. }
            | Operation::RegisterExplanation { system }
            | Operation::ListAppealsOfExam { system, .. }
            | Operation::RegisterDecision { system }
            | Operation::RegisterGroupIds { system }
            | Operation::ListAppealsChangedSince { system, .. }
            | Operation::ListExplanationRequestsChangedSince { system, .. } => Some(*system),
            Operation::ListExams { .. } | Operation::ListExamsByAid { .. } | Operation::OpenApi => {
                None
            }
        }
    }

    /// Where its institution comes from.
    pub fn institution_source(&self) -> InstitutionSource<'_> {
        match self {
            Operation::ListExams { institusjonsnr }
            | Operation::ListExamsByAid { institusjonsnr, .. }
            | Operation::ListAppealsChangedSince { institusjonsnr, .. }
            | Operation::ListExplanationRequestsChangedSince { institusjonsnr, .. } => {
                InstitutionSource::Query(institusjonsnr)
            }
            Operation::GetExam { vurd_id, .. }
            | Operation::ListExplanations { vurd_id, .. }
            | Operation::ListAppealsOfExam { vurd_id, .. } => InstitutionSource::Exam(vurd_id),
            Operation::RegisterGrades { .. }
            | Operation::ValidateGrades { .. }
            | Operation::RegisterAttendance { .. }
            | Operation::RegisterExplanation { .. }
            | Operation::RegisterDecision { .. }
            | Operation::RegisterGroupIds { .. } => InstitutionSource::Body,
            Operation::OpenApi => InstitutionSource::None,
        }
    }

    /// Whether it changes FS (a registration; `valider` only checks).
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Operation::RegisterGrades { .. }
                | Operation::RegisterAttendance { .. }
                | Operation::RegisterExplanation { .. }
                | Operation::RegisterDecision { .. }
                | Operation::RegisterGroupIds { .. }
        )
    }

    /// Whether it carries a JSON body.
    pub fn has_body(&self) -> bool {
        matches!(self.institution_source(), InstitutionSource::Body)
    }

    /// The largest body it accepts: explanation documents are large, everything else small.
    pub fn body_limit(&self) -> usize {
        match self {
            Operation::RegisterExplanation { .. } => 6 * 1024 * 1024,
            _ => 256 * 1024,
        }
    }

    /// The FS DigEks path it is forwarded to, and its query.
    pub fn fs_request(&self) -> (reqwest::Method, String, Vec<(String, String)>) {
        use reqwest::Method;
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        match self {
            Operation::ListExams { institusjonsnr } => (
                Method::GET,
                "/eksamen/liste".into(),
                q(&[("institusjonsnr", institusjonsnr)]),
            ),
            Operation::ListExamsByAid {
                institusjonsnr,
                hjelpemiddel,
            } => (
                Method::GET,
                "/eksamen/hjelpemiddel".into(),
                q(&[
                    ("institusjonsnr", institusjonsnr),
                    ("hjelpemiddel", hjelpemiddel),
                ]),
            ),
            Operation::GetExam { system, vurd_id } => {
                (Method::GET, format!("/eksamen/{system}/{vurd_id}"), vec![])
            }
            Operation::RegisterGrades { system } => (
                Method::POST,
                format!("/eksamen/sensur/{system}/registrer"),
                vec![],
            ),
            Operation::ValidateGrades { system } => (
                Method::POST,
                format!("/eksamen/sensur/{system}/valider"),
                vec![],
            ),
            Operation::RegisterAttendance { system } => (
                Method::POST,
                format!("/eksamen/oppmote/{system}/registrer"),
                vec![],
            ),
            Operation::ListExplanations { system, vurd_id } => (
                Method::GET,
                format!("/eksamen/begrunnelser/{system}/{vurd_id}"),
                vec![],
            ),
            Operation::RegisterExplanation { system } => (
                Method::POST,
                format!("/eksamen/begrunnelser/{system}"),
                vec![],
            ),
            Operation::ListAppealsOfExam { system, vurd_id } => (
                Method::GET,
                format!("/eksamen/klager/{system}/{vurd_id}"),
                vec![],
            ),
            Operation::RegisterDecision { system } => {
                (Method::POST, format!("/eksamen/vedtak/{system}"), vec![])
            }
            Operation::RegisterGroupIds { system } => (
                Method::POST,
                format!("/eksamen/gruppeid/{system}/registrer"),
                vec![],
            ),
            Operation::ListAppealsChangedSince {
                system,
                institusjonsnr,
                siden,
            } => (
                Method::GET,
                format!("/eksamen/klager/{system}"),
                q(&[("institusjonsnr", institusjonsnr), ("siden", siden)]),
            ),
            Operation::ListExplanationRequestsChangedSince {
                system,
                institusjonsnr,
                siden,
            } => (
                Method::GET,
                format!("/eksamen/begrunnelse/{system}"),
                q(&[("institusjonsnr", institusjonsnr), ("siden", siden)]),
            ),
            Operation::OpenApi => (Method::GET, String::new(), vec![]),
        }
    }
}

/// The operation a request is, its parameters checked.
pub fn parse(method: &str, raw_path: &str, raw_query: &str) -> Result<Operation, Rejection> {
    let path = raw_path.strip_prefix(PREFIX).ok_or_else(|| {
        Rejection::not_found(format!(
            "no operation at this path: operations are under {PREFIX}"
        ))
    })?;
    let segments: Vec<&str> = path.split('/').collect();
    let get = method.eq_ignore_ascii_case("GET");
    let post = method.eq_ignore_ascii_case("POST");
    let wrong_method =
        |allowed: &str| Rejection::method_not_allowed(format!("this path takes {allowed} only"));
    let (expects_get, build): (bool, Builder) = match segments.as_slice() {
        ["openapi.json"] => (true, Box::new(|q| q.none().map(|_| Operation::OpenApi))),
        ["eksamen", "liste"] => (
            true,
            Box::new(|q| {
                q.only(&["institusjonsnr"])?;
                Ok(Operation::ListExams {
                    institusjonsnr: q.institusjonsnr()?,
                })
            }),
        ),
        ["eksamen", "hjelpemiddel"] => (
            true,
            Box::new(|q| {
                q.only(&["institusjonsnr", "hjelpemiddel"])?;
                Ok(Operation::ListExamsByAid {
                    institusjonsnr: q.institusjonsnr()?,
                    hjelpemiddel: q.required("hjelpemiddel", is_aid, "one letter A–E")?,
                })
            }),
        ),
        ["eksamen", list @ ("klager" | "begrunnelse"), system] => {
            let system = exam_system(system)?;
            let appeals = *list == "klager";
            (
                true,
                Box::new(move |q| {
                    q.only(&["institusjonsnr", "siden"])?;
                    let institusjonsnr = q.institusjonsnr()?;
                    let siden = q.required(
                        "siden",
                        is_date_or_time,
                        "a date yyyy-MM-dd or a time yyyy-MM-ddTHH:mm:ss",
                    )?;
                    Ok(if appeals {
                        Operation::ListAppealsChangedSince {
                            system,
                            institusjonsnr,
                            siden,
                        }
                    } else {
                        Operation::ListExplanationRequestsChangedSince {
                            system,
                            institusjonsnr,
                            siden,
                        }
                    })
                }),
            )
        }
        ["eksamen", list @ ("klager" | "begrunnelser"), system, vurd_id] => {
            let system = exam_system(system)?;
            let vurd_id = path_vurd_id(vurd_id)?;
            let appeals = *list == "klager";
            (
                true,
                Box::new(move |q| {
                    q.none()?;
                    Ok(if appeals {
                        Operation::ListAppealsOfExam {
                            system,
                            vurd_id: vurd_id.clone(),
                        }
                    } else {
                        Operation::ListExplanations {
                            system,
                            vurd_id: vurd_id.clone(),
                        }
                    })
                }),
            )
        }
        ["eksamen", "begrunnelser", system] => {
            let system = exam_system(system)?;
            (
                false,
                Box::new(move |q| q.none().map(|_| Operation::RegisterExplanation { system })),
            )
        }
        ["eksamen", "vedtak", system] => {
            let system = exam_system(system)?;
            (
                false,
                Box::new(move |q| q.none().map(|_| Operation::RegisterDecision { system })),
            )
        }
        ["eksamen", kind @ ("sensur" | "oppmote" | "gruppeid"), system, action @ ("registrer" | "valider")] =>
        {
            let system = exam_system(system)?;
            let operation = match (*kind, *action) {
                ("sensur", "registrer") => Operation::RegisterGrades { system },
                ("sensur", "valider") => Operation::ValidateGrades { system },
                ("oppmote", "registrer") => Operation::RegisterAttendance { system },
                ("gruppeid", "registrer") => Operation::RegisterGroupIds { system },
                _ => {
                    return Err(Rejection::not_found(
                        "no operation at this path: only sensur has valider",
                    ))
                }
            };
            (
                false,
                Box::new(move |q| q.none().map(|_| operation.clone())),
            )
        }
        ["eksamen", system, vurd_id] => {
            let system = exam_system(system)?;
            let vurd_id = path_vurd_id(vurd_id)?;
            (
                true,
                Box::new(move |q| {
                    q.none()?;
                    Ok(Operation::GetExam {
                        system,
                        vurd_id: vurd_id.clone(),
                    })
                }),
            )
        }
        _ => {
            return Err(Rejection::not_found(
                "no operation at this path; see /v1/openapi.json",
            ))
        }
    };
    match (expects_get, get, post) {
        (true, true, _) | (false, _, true) => {}
        (true, _, _) => return Err(wrong_method("GET")),
        (false, _, _) => return Err(wrong_method("POST")),
    }
    build(&Query::parse(raw_query)?)
}

/// Builds an operation from its checked path once the query is known.
type Builder = Box<dyn Fn(&Query) -> Result<Operation, Rejection>>;

/// A query string's parameters, each once.
struct Query(BTreeMap<String, String>);

impl Query {
    fn parse(raw: &str) -> Result<Query, Rejection> {
        if raw.len() > MAX_QUERY_BYTES {
            return Err(Rejection::invalid(
                "query",
                format!("the query string is longer than {MAX_QUERY_BYTES} bytes"),
            ));
        }
        let mut parameters = BTreeMap::new();
        for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            if parameters
                .insert(name.to_string(), value.to_string())
                .is_some()
            {
                return Err(Rejection::invalid(
                    format!("query.{name}"),
                    format!("parameter {name} is given more than once: give it once"),
                ));
            }
        }
        Ok(Query(parameters))
    }

    fn only(&self, allowed: &[&str]) -> Result<(), Rejection> {
        match self.0.keys().find(|name| !allowed.contains(&name.as_str())) {
            Some(name) => Err(Rejection::invalid(
                format!("query.{}", printable(name)),
                format!(
                    "unknown parameter {}: this operation takes {}",
                    printable(name),
                    if allowed.is_empty() {
                        "no query parameters".to_owned()
                    } else {
                        allowed.join(", ")
                    }
                ),
            )),
            None => Ok(()),
        }
    }

    fn none(&self) -> Result<(), Rejection> {
        self.only(&[])
    }

    fn required(
        &self,
        name: &str,
        valid: fn(&str) -> bool,
        expected: &str,
    ) -> Result<String, Rejection> {
        match self.0.get(name) {
            None => Err(Rejection::invalid(
                format!("query.{name}"),
                format!("parameter {name} is required: {expected}"),
            )),
            Some(value) if !valid(value) => Err(Rejection::invalid(
                format!("query.{name}"),
                format!("parameter {name} must be {expected}"),
            )),
            Some(value) => Ok(value.clone()),
        }
    }

    fn institusjonsnr(&self) -> Result<String, Rejection> {
        self.required(
            "institusjonsnr",
            is_institusjonsnr,
            "FS's institution number, 1–4 digits, e.g. 185",
        )
    }
}

/// A name safe to echo back: printable ASCII, at most 40 characters.
fn printable(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(40)
        .collect()
}

fn exam_system(segment: &str) -> Result<ExamSystem, Rejection> {
    match segment {
        "INSPERA" => Ok(ExamSystem::Inspera),
        "WISEFLOW" => Ok(ExamSystem::Wiseflow),
        _ => Err(Rejection::invalid(
            "path.system",
            "the exam system in the path must be INSPERA or WISEFLOW (upper case)",
        )),
    }
}

/// A path's `vurdId`, percent-decoded once (clients encode `=` and `+`); what decodes to anything
/// outside the pattern — a `/`, a `.`, a CR — is refused.
fn path_vurd_id(segment: &str) -> Result<String, Rejection> {
    let decoded = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map(|d| d.into_owned())
        .unwrap_or_default();
    if is_vurd_id(&decoded) {
        Ok(decoded)
    } else {
        Err(Rejection::invalid(
            "path.vurdId",
            "vurdId must be 4–200 characters of A–Z, a–z, 0–9, +, =, _ or -",
        ))
    }
}

/// `vurdId`: FS's opaque exam id (base64 without `/`).
pub fn is_vurd_id(value: &str) -> bool {
    (4..=200).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'=' | b'_' | b'-'))
}

/// `institusjonsnr`: 1–4 digits.
pub fn is_institusjonsnr(value: &str) -> bool {
    (1..=4).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
}

/// `hjelpemiddel`: one letter A–E.
fn is_aid(value: &str) -> bool {
    matches!(value, "A" | "B" | "C" | "D" | "E")
}

/// A real date `yyyy-MM-dd` or time `yyyy-MM-ddTHH:mm:ss`: digits exactly where the shape has
/// them (chrono alone would take `+2026-1-01`), and a date that exists.
pub fn is_date_or_time(value: &str) -> bool {
    let shape = "dddd-dd-ddTdd:dd:dd";
    let shaped = value.len() <= shape.len()
        && value
            .bytes()
            .zip(shape.bytes())
            .all(|(b, expected)| match expected {
                b'd' => b.is_ascii_digit(),
                other => b == other,
            });
    if !shaped {
        return false;
    }
    match value.len() {
        10 => chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok(),
        19 => chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S").is_ok(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "MTg1LUlORjEwMC0xLTIwMjYtSMOYU1QtMQ==";

    fn field(result: Result<Operation, Rejection>) -> String {
        let rejection = result.expect_err("rejected");
        assert_eq!(rejection.status, 400, "{rejection:?}");
        rejection.field.unwrap_or_default()
    }

    #[test]
    fn every_documented_path_is_an_operation() {
        let cases = [
            (
                "GET",
                "/v1/eksamen/liste",
                "institusjonsnr=185",
                "listExams",
            ),
            (
                "GET",
                "/v1/eksamen/hjelpemiddel",
                "institusjonsnr=185&hjelpemiddel=A",
                "listExamsByAid",
            ),
            ("GET", &format!("/v1/eksamen/INSPERA/{ID}"), "", "getExam"),
            (
                "POST",
                "/v1/eksamen/sensur/INSPERA/registrer",
                "",
                "registerGrades",
            ),
            (
                "POST",
                "/v1/eksamen/sensur/INSPERA/valider",
                "",
                "validateGrades",
            ),
            (
                "POST",
                "/v1/eksamen/oppmote/WISEFLOW/registrer",
                "",
                "registerAttendance",
            ),
            (
                "GET",
                &format!("/v1/eksamen/begrunnelser/INSPERA/{ID}"),
                "",
                "listExplanations",
            ),
            (
                "POST",
                "/v1/eksamen/begrunnelser/INSPERA",
                "",
                "registerExplanation",
            ),
            (
                "GET",
                &format!("/v1/eksamen/klager/INSPERA/{ID}"),
                "",
                "listAppealsOfExam",
            ),
            (
                "POST",
                "/v1/eksamen/vedtak/WISEFLOW",
                "",
                "registerDecision",
            ),
            (
                "POST",
                "/v1/eksamen/gruppeid/INSPERA/registrer",
                "",
                "registerGroupIds",
            ),
            (
                "GET",
                "/v1/eksamen/klager/INSPERA",
                "institusjonsnr=185&siden=2026-11-01",
                "listAppealsChangedSince",
            ),
            (
                "GET",
                "/v1/eksamen/begrunnelse/WISEFLOW",
                "institusjonsnr=194&siden=2026-11-01T10:00:00",
                "listExplanationRequestsChangedSince",
            ),
            ("GET", "/v1/openapi.json", "", "getOpenApi"),
        ];
        for (method, path, query, name) in cases {
            let operation = parse(method, path, query).unwrap_or_else(|e| panic!("{path}: {e:?}"));
            assert_eq!(operation.name(), name);
        }
    }

    #[test]
    fn the_fs_request_mirrors_the_operation() {
        let op = parse(
            "GET",
            "/v1/eksamen/klager/INSPERA",
            "siden=2026-11-01&institusjonsnr=185",
        )
        .unwrap();
        let (method, path, query) = op.fs_request();
        assert_eq!(method, reqwest::Method::GET);
        assert_eq!(path, "/eksamen/klager/INSPERA");
        assert_eq!(
            query,
            vec![
                ("institusjonsnr".to_owned(), "185".to_owned()),
                ("siden".to_owned(), "2026-11-01".to_owned())
            ]
        );
        assert_eq!(op.institution_source(), InstitutionSource::Query("185"));
        let exam = parse("GET", &format!("/v1/eksamen/WISEFLOW/{ID}"), "").unwrap();
        assert_eq!(exam.fs_request().1, format!("/eksamen/WISEFLOW/{ID}"));
        assert_eq!(exam.institution_source(), InstitutionSource::Exam(ID));
    }

    #[test]
    fn traversal_and_odd_segments_are_400_naming_the_parameter() {
        assert_eq!(
            field(parse("GET", "/v1/eksamen/INSPERA/abcd%2Fefgh", "")),
            "path.vurdId"
        );
        let encoded = parse(
            "GET",
            "/v1/eksamen/INSPERA/MTg1LUlORjEwMC0xLTIwMjYtSMOYU1QtMQ%3D%3D",
            "",
        )
        .unwrap();
        assert_eq!(
            encoded,
            Operation::GetExam {
                system: ExamSystem::Inspera,
                vurd_id: ID.to_owned()
            }
        );
        assert_eq!(
            field(parse("GET", "/v1/eksamen/INSPERA/..", "")),
            "path.vurdId"
        );
        assert_eq!(
            field(parse("GET", "/v1/eksamen/INSPERA/..%2F..%2Fadmin", "")),
            "path.vurdId"
        );
        assert_eq!(
            field(parse(
                "GET",
                "/v1/eksamen/INSPERA/abc%0d%0aX-Injected:1",
                ""
            )),
            "path.vurdId"
        );
        assert_eq!(
            field(parse("GET", "/v1/eksamen/inspera/abcd", "")),
            "path.system"
        );
        assert_eq!(
            field(parse("POST", "/v1/eksamen/sensur/CANVAS/registrer", "")),
            "path.system"
        );
        let deeper = parse("GET", "/v1/eksamen/INSPERA/abcd/../../x", "").unwrap_err();
        assert_eq!(deeper.status, 404);
    }

    #[test]
    fn query_parameters_are_strict() {
        assert_eq!(
            field(parse("GET", "/v1/eksamen/liste", "")),
            "query.institusjonsnr"
        );
        assert_eq!(
            field(parse("GET", "/v1/eksamen/liste", "institusjonsnr=18a")),
            "query.institusjonsnr"
        );
        assert_eq!(
            field(parse(
                "GET",
                "/v1/eksamen/liste",
                "institusjonsnr=185&institusjonsnr=194"
            )),
            "query.institusjonsnr"
        );
        assert_eq!(
            field(parse(
                "GET",
                "/v1/eksamen/liste",
                "institusjonsnr=185&debug=1"
            )),
            "query.debug"
        );
        assert_eq!(
            field(parse(
                "GET",
                "/v1/eksamen/liste",
                "institusjonsnr=185%26siden%3D1"
            )),
            "query.institusjonsnr"
        );
        assert_eq!(
            field(parse(
                "GET",
                "/v1/eksamen/klager/INSPERA",
                "institusjonsnr=185&siden=2026-02-30"
            )),
            "query.siden"
        );
        assert_eq!(
            field(parse("GET", &format!("/v1/eksamen/INSPERA/{ID}"), "x=1")),
            "query.x"
        );
    }

    #[test]
    fn unknown_paths_and_wrong_methods_are_refused() {
        assert_eq!(
            parse("GET", "/v2/eksamen/liste", "").unwrap_err().status,
            404
        );
        assert_eq!(parse("GET", "/v1/eksamen", "").unwrap_err().status, 404);
        assert_eq!(
            parse("DELETE", "/v1/eksamen/vedtak/INSPERA", "")
                .unwrap_err()
                .status,
            405
        );
        assert_eq!(
            parse("POST", "/v1/eksamen/liste", "institusjonsnr=1")
                .unwrap_err()
                .status,
            405
        );
        assert_eq!(
            parse("POST", "/v1/eksamen/oppmote/INSPERA/valider", "")
                .unwrap_err()
                .status,
            404
        );
    }

    #[test]
    fn dates_must_be_real() {
        assert!(is_date_or_time("2026-11-23"));
        assert!(is_date_or_time("2026-11-23T10:00:00"));
        assert!(!is_date_or_time("2026-13-01"));
        assert!(!is_date_or_time("2026-11-23T25:00:00"));
        assert!(!is_date_or_time("2026-11-23 10:00:00"));
        assert!(!is_date_or_time("+2026-1-01"));
        assert!(!is_date_or_time("2026-1-011"));
    }
}
