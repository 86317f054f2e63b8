//! The check on the wire: a middleware between a system's fault gate and its routes, so the
//! answers the gate makes up (503, 429) are not checked and everything else is.

use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body as HttpBody, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

use super::{scalar, schema_errors, Body, Contract, InjectedFault, Operation, Side, Violation};

/// The largest body the check reads (thesis files are served outside the API's base path).
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The violations seen by every check of one sandbox.
#[derive(Debug, Default)]
pub(crate) struct ContractLog {
    violations: Mutex<Vec<Violation>>,
}

impl ContractLog {
    fn record(&self, violation: Violation) {
        tracing::error!(%violation, "contract violation");
        self.violations
            .lock()
            .expect("contract log lock")
            .push(violation);
    }

    /// Every violation so far, leaving none.
    pub(crate) fn take(&self) -> Vec<Violation> {
        std::mem::take(&mut *self.violations.lock().expect("contract log lock"))
    }
}

/// One system's contract and the log its violations go to: the state of [`enforce`].
#[derive(Clone)]
pub(crate) struct ContractCheck {
    pub(crate) contract: &'static Contract,
    pub(crate) log: Arc<ContractLog>,
}

impl ContractCheck {
    fn violation(&self, request: &str, side: Side, detail: String) {
        self.log.record(Violation {
            system: self.contract.system,
            request: request.to_owned(),
            side,
            detail,
        });
    }
}

/// Checks one exchange against the contract and passes both sides on unchanged.
pub(crate) async fn enforce(
    State(check): State<ContractCheck>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let Some(api_path) = check.contract.api_path(&path) else {
        return next.run(request).await;
    };
    let method = request.method().clone();
    let Some((operation, path_values)) = check.contract.find(&method, api_path) else {
        check.violation(
            &format!("{method} {api_path}"),
            Side::Request,
            "no such operation in the contract".to_owned(),
        );
        return next.run(request).await;
    };
    let name = format!("{method} {}", operation.template);
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
    for detail in request_problems(
        operation,
        &path_values,
        parts.uri.query(),
        &parts.headers,
        &bytes,
    ) {
        check.violation(&name, Side::Request, detail);
    }
    let response = next
        .run(Request::from_parts(parts, HttpBody::from(bytes)))
        .await;
    if response.extensions().get::<InjectedFault>().is_some() {
        return response;
    }
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
    match operation.responses.get(&status) {
        None => check.violation(
            &name,
            Side::Response,
            format!("status {status} is not one the operation answers"),
        ),
        Some(declared) => {
            if let Some(detail) = body_problem(declared, &parts.headers, &bytes) {
                check.violation(&name, Side::Response, format!("{status}: {detail}"));
            }
        }
    }
    Response::from_parts(parts, HttpBody::from(bytes))
}

/// What is wrong with a request: its path values, query and body.
fn request_problems(
    operation: &Operation,
    path_values: &[(String, String)],
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, raw) in path_values {
        match operation.path_params.iter().find(|p| &p.name == name) {
            None => problems.push(format!("path parameter '{name}' is not declared")),
            Some(parameter) => problems.extend(value_problem("path parameter", parameter, raw)),
        }
    }
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    for (name, raw) in &pairs {
        match operation.query_params.iter().find(|p| &p.name == name) {
            None => problems.push(format!("query parameter '{name}' is not in the contract")),
            Some(parameter) => problems.extend(value_problem("query parameter", parameter, raw)),
        }
    }
    for parameter in operation.query_params.iter().filter(|p| p.required) {
        if !pairs.iter().any(|(name, _)| name == &parameter.name) {
            problems.push(format!(
                "required query parameter '{}' is missing",
                parameter.name
            ));
        }
    }
    match &operation.request_body {
        None if !body.is_empty() => {
            problems.push("a body where the operation takes none".to_owned());
        }
        None => {}
        Some((true, _)) if body.is_empty() => {
            problems.push("the required body is missing".to_owned());
        }
        Some((false, _)) if body.is_empty() => {}
        Some((_, declared)) => problems.extend(body_problem(declared, headers, body)),
    }
    problems
}

fn value_problem(what: &str, parameter: &super::Parameter, raw: &str) -> Option<String> {
    let name = &parameter.name;
    let Some(value) = scalar(parameter.kind, raw) else {
        return Some(format!("{what} '{name}' is not a {:?}", parameter.kind));
    };
    schema_errors(&parameter.schema, &value).map(|errors| format!("{what} '{name}': {errors}"))
}

/// What is wrong with a body as declared; `None` when it conforms.
fn body_problem(declared: &Body, headers: &HeaderMap, body: &Bytes) -> Option<String> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match declared {
        Body::Empty if body.is_empty() => None,
        Body::Empty => Some(format!(
            "a {} byte body ({media}) where the contract has none",
            body.len()
        )),
        Body::Other(expected) if media == *expected => None,
        Body::Other(expected) => Some(format!("content type '{media}', not '{expected}'")),
        Body::Form(validator) => {
            if media != "application/x-www-form-urlencoded" {
                return Some(format!(
                    "content type '{media}', not 'application/x-www-form-urlencoded'"
                ));
            }
            let fields: serde_json::Map<String, Value> = url::form_urlencoded::parse(body)
                .map(|(name, value)| (name.into_owned(), Value::from(value.into_owned())))
                .collect();
            schema_errors(validator, &Value::Object(fields))
        }
        Body::Xml(expected, _) if media != *expected => {
            Some(format!("content type '{media}', not '{expected}'"))
        }
        Body::Xml(_, shape) => shape.problems(body),
        Body::Either(alternatives) => {
            let named = alternatives.iter().find(|alternative| match alternative {
                Body::Json(_) => media == "application/json",
                Body::Form(_) => media == "application/x-www-form-urlencoded",
                Body::Xml(expected, _) | Body::Other(expected) => media == *expected,
                Body::Empty | Body::Either(_) => false,
            });
            match named {
                Some(alternative) => body_problem(alternative, headers, body),
                None => Some(format!(
                    "content type '{media}' is none of the operation's media types"
                )),
            }
        }
        Body::Json(validator) => {
            if media != "application/json" {
                return Some(format!("content type '{media}', not 'application/json'"));
            }
            match serde_json::from_slice::<Value>(body) {
                Err(e) => Some(format!("the body is not JSON: {e}")),
                Ok(value) => schema_errors(validator, &value),
            }
        }
    }
}
