//! The external systems' contracts (`contracts/*.yaml`, OpenAPI 3.1), read so that the sandbox
//! can check its own traffic: every request a client sends and every answer the sandbox gives.
//! A violation is recorded, never answered differently, so a test sees the same behaviour with
//! and without the check and fails at its end with the list (see [`crate::Sandbox`]).
//!
//! Hand-written because the checks are the few that `contracts/README.md` names (route, declared
//! parameters, declared statuses, closed bodies); the schemas themselves are checked by the
//! `jsonschema` crate. The OpenAPI crates of the field parse 3.0 only, or validate nothing.

#[cfg(test)]
mod assumptions;
mod check;
mod xml;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::Method;
use jsonschema::Validator;
use serde_json::{Map, Value};

pub(crate) use check::{enforce, ContractCheck, ContractLog};

/// Marks an answer a route broke on purpose because a test asked for it (a truncated page): the
/// check leaves it alone, as it leaves the fault gate's answers alone.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InjectedFault;

/// The contracts in the repository, by system: what the sandbox checks its traffic against.
pub(crate) const CONTRACTS: &[(&str, &str)] = &[
    ("wiseflow", include_str!("../../../contracts/wiseflow.yaml")),
    ("inspera", include_str!("../../../contracts/inspera.yaml")),
    ("fs", include_str!("../../../contracts/fs.yaml")),
    ("bokbasen", include_str!("../../../contracts/bokbasen.yaml")),
    ("alma", include_str!("../../../contracts/alma.yaml")),
    ("slack", include_str!("../../../contracts/slack.yaml")),
];

/// The compiled contract of `system`, compiled once per process.
pub(crate) fn contract(system: &str) -> &'static Contract {
    static COMPILED: OnceLock<Vec<Contract>> = OnceLock::new();
    COMPILED
        .get_or_init(|| {
            CONTRACTS
                .iter()
                .map(|(system, yaml)| Contract::compile(system, yaml))
                .collect()
        })
        .iter()
        .find(|c| c.system == system)
        .unwrap_or_else(|| panic!("no contract of {system} in contracts/"))
}

/// What is wrong with `instance` as the schema `components/schemas/<name>` of `system`'s
/// contract; `None` when it conforms. For what the sandbox sends rather than serves (Inspera's
/// webhook events, built in one place and checked by its unit test).
#[cfg(test)]
pub(crate) fn schema_problems(system: &str, name: &str, instance: &Value) -> Option<String> {
    let (_, yaml) = CONTRACTS
        .iter()
        .find(|(s, _)| *s == system)
        .unwrap_or_else(|| panic!("no contract of {system} in contracts/"));
    let mut document: Value = serde_yaml_ng::from_str(yaml).expect("the contract parses");
    close_objects(&mut document);
    let validator = validator(&document, &format!("/components/schemas/{name}"), system);
    schema_errors(&validator, instance)
}

/// A departure from a contract that is known and not fixed yet (`contracts/known-departures.yaml`):
/// seen, logged, but not failed. The list only shrinks.
#[derive(Debug, serde::Deserialize)]
struct KnownDeparture {
    system: String,
    /// `METHOD /path`, where a `*` segment stands for any one segment.
    request: String,
    side: Side,
    /// Text the violation's detail contains.
    detail: String,
}

impl KnownDeparture {
    fn covers(&self, violation: &Violation) -> bool {
        let segments = |s: &str| s.split(['/', ' ']).map(str::to_owned).collect::<Vec<_>>();
        let pattern = segments(&self.request);
        let request = segments(&violation.request);
        self.system == violation.system
            && self.side == violation.side
            && violation.detail.contains(&self.detail)
            && pattern.len() == request.len()
            && pattern
                .iter()
                .zip(&request)
                .all(|(p, r)| p == "*" || p == r)
    }
}

/// The violations no entry of `contracts/known-departures.yaml` covers: the ones that fail.
pub(crate) fn unknown(violations: Vec<Violation>) -> Vec<Violation> {
    static KNOWN: OnceLock<Vec<KnownDeparture>> = OnceLock::new();
    let known = KNOWN.get_or_init(|| {
        serde_yaml_ng::from_str(include_str!("../../../contracts/known-departures.yaml"))
            .expect("contracts/known-departures.yaml parses")
    });
    violations
        .into_iter()
        .filter(|v| !known.iter().any(|k| k.covers(v)))
        .collect()
}

/// Where a violation was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// In what a client sent.
    Request,
    /// In what the sandbox answered.
    Response,
}

/// One departure from a contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The system, as its contract file is named (`wiseflow`).
    pub system: &'static str,
    /// The request, as `METHOD /path` (no query).
    pub request: String,
    /// Which side departed.
    pub side: Side,
    /// What departed from what.
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = match self.side {
            Side::Request => "client request",
            Side::Response => "sandbox answer",
        };
        write!(
            f,
            "{} {}: {side}: {}",
            self.system, self.request, self.detail
        )
    }
}

/// One system's contract, compiled for checking.
pub(crate) struct Contract {
    system: &'static str,
    base_path: String,
    operations: Vec<Operation>,
}

/// A path segment of an operation's template.
#[derive(Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

struct Parameter {
    name: String,
    required: bool,
    kind: ScalarKind,
    schema: Validator,
}

/// How a path or query value is read before its schema is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScalarKind {
    Integer,
    Number,
    Boolean,
    String,
}

/// What a request or response body must be.
enum Body {
    /// No body (or an empty one).
    Empty,
    /// JSON matching the schema.
    Json(Validator),
    /// A form (`application/x-www-form-urlencoded`) whose fields, as strings, match the schema.
    Form(Validator),
    /// XML of this media type whose elements match the declared paths (`x-xml-elements`).
    Xml(String, xml::XmlShape),
    /// One of several media types (a JSON or a form body): the one the content type names.
    Either(Vec<Body>),
    /// Any body of this media type (forms, files): the type is checked, not the content.
    Other(String),
}

struct Operation {
    method: Method,
    template: String,
    segments: Vec<Segment>,
    path_params: Vec<Parameter>,
    query_params: Vec<Parameter>,
    request_body: Option<(bool, Body)>,
    responses: BTreeMap<u16, Body>,
}

impl Contract {
    /// Compiles the contract of `system` from its YAML text. Panics on a contract that does not
    /// compile: the contracts are part of the build, and a test compiles each.
    pub(crate) fn compile(system: &'static str, yaml: &str) -> Contract {
        let mut document: Value = serde_yaml_ng::from_str(yaml)
            .unwrap_or_else(|e| panic!("contracts/{system}.yaml does not parse: {e}"));
        close_objects(&mut document);
        let base_path = document
            .pointer("/servers/0/url")
            .and_then(Value::as_str)
            .and_then(|url| url::Url::parse(url).ok())
            .map(|url| url.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let mut operations = Vec::new();
        let paths = document
            .get("paths")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (template, item) in &paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, operation) in item {
                let Ok(method) = method.to_ascii_uppercase().parse::<Method>() else {
                    continue;
                };
                if !operation.is_object() {
                    continue;
                }
                let pointer = format!(
                    "/paths/{}/{}",
                    escape(template),
                    method.as_str().to_ascii_lowercase()
                );
                operations.push(Operation::compile(
                    &document, template, method, &pointer, system,
                ));
            }
        }
        Contract {
            system,
            base_path,
            operations,
        }
    }

    /// The path below the contract's base path, or `None` when `path` is not the API's (a file
    /// link, the sandbox's own `/_sandbox` routes).
    fn api_path<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path.strip_prefix(&self.base_path)?;
        (rest.starts_with('/') && !rest.starts_with("/_sandbox")).then_some(rest)
    }

    /// The operation `method path` matches: the one with the most literal segments, as routers
    /// choose. Returns it with the path's parameter values.
    fn find(&self, method: &Method, path: &str) -> Option<(&Operation, Vec<(String, String)>)> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.operations
            .iter()
            .filter(|op| op.method == *method && op.segments.len() == parts.len())
            .filter_map(|op| {
                let mut values = Vec::new();
                for (segment, part) in op.segments.iter().zip(&parts) {
                    match segment {
                        Segment::Literal(literal) if literal == part => {}
                        Segment::Literal(_) => return None,
                        Segment::Param(name) => values.push((name.clone(), decode(part))),
                    }
                }
                Some((op, values))
            })
            .max_by_key(|(op, _)| {
                op.segments
                    .iter()
                    .filter(|s| matches!(s, Segment::Literal(_)))
                    .count()
            })
    }
}

impl Operation {
    fn compile(
        document: &Value,
        template: &str,
        method: Method,
        pointer: &str,
        system: &str,
    ) -> Operation {
        let operation = document.pointer(pointer).expect("the operation exists");
        let segments = template
            .trim_start_matches('/')
            .split('/')
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Param(name.to_owned()),
                    None => Segment::Literal(s.to_owned()),
                },
            )
            .collect();
        let mut path_params = Vec::new();
        let mut query_params = Vec::new();
        let inherited = document
            .pointer(&format!("{}/parameters", parent(pointer)))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, _)| format!("{}/parameters/{i}", parent(pointer)));
        let own = operation
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, _)| format!("{pointer}/parameters/{i}"));
        for at in inherited.chain(own).collect::<Vec<_>>() {
            let (at, parameter) = resolve(document, &at);
            let name = parameter["name"].as_str().unwrap_or_default().to_owned();
            let location = parameter["in"].as_str().unwrap_or_default();
            let schema_at = format!("{at}/schema");
            let kind = match document
                .pointer(&format!("{schema_at}/type"))
                .and_then(Value::as_str)
            {
                Some("integer") => ScalarKind::Integer,
                Some("number") => ScalarKind::Number,
                Some("boolean") => ScalarKind::Boolean,
                _ => ScalarKind::String,
            };
            let compiled = Parameter {
                name,
                required: location == "path" || parameter["required"] == Value::Bool(true),
                kind,
                schema: validator(document, &schema_at, system),
            };
            match location {
                "path" => path_params.push(compiled),
                "query" => query_params.push(compiled),
                _ => {}
            }
        }
        let request_body = operation.get("requestBody").map(|_| {
            let (at, body) = resolve(document, &format!("{pointer}/requestBody"));
            (
                body["required"] == Value::Bool(true),
                compile_body(document, &at, system),
            )
        });
        let responses = operation
            .get("responses")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(status, _)| {
                let code = status.parse::<u16>().ok()?;
                let (at, _) = resolve(document, &format!("{pointer}/responses/{status}"));
                Some((code, compile_body(document, &at, system)))
            })
            .collect();
        Operation {
            method,
            template: template.to_owned(),
            segments,
            path_params,
            query_params,
            request_body,
            responses,
        }
    }
}

/// A request or response body at `at` (its `content`): per declared media type, JSON with a
/// schema, a form, XML elements or any content; several media types are alternatives.
fn compile_body(document: &Value, at: &str, system: &str) -> Body {
    let Some(content) = document
        .pointer(&format!("{at}/content"))
        .and_then(Value::as_object)
        .filter(|c| !c.is_empty())
    else {
        return Body::Empty;
    };
    let mut alternatives: Vec<Body> = content
        .keys()
        .map(|media| {
            let here = format!("{at}/content/{}", escape(media));
            let schema = || {
                content[media].get("schema")?;
                Some(validator(document, &format!("{here}/schema"), system))
            };
            if let Some(shape) = xml::XmlShape::compile(document, &here, system) {
                return Body::Xml(media.clone(), shape);
            }
            match (media.as_str(), schema()) {
                ("application/json", Some(json)) => Body::Json(json),
                ("application/x-www-form-urlencoded", Some(form)) => Body::Form(form),
                _ => Body::Other(media.clone()),
            }
        })
        .collect();
    if alternatives.len() == 1 {
        alternatives.remove(0)
    } else {
        Body::Either(alternatives)
    }
}

/// A validator of the schema at `pointer`, resolving its `$ref`s within the whole document.
fn validator(document: &Value, pointer: &str, system: &str) -> Validator {
    let mut root = Map::new();
    root.insert(
        "$schema".to_owned(),
        Value::from("https://json-schema.org/draft/2020-12/schema"),
    );
    let fragment = percent_encoding::utf8_percent_encode(pointer, FRAGMENT);
    root.insert("$ref".to_owned(), Value::from(format!("#{fragment}")));
    for (key, value) in document.as_object().into_iter().flatten() {
        root.entry(key.clone()).or_insert_with(|| value.clone());
    }
    jsonschema::validator_for(&Value::Object(root))
        .unwrap_or_else(|e| panic!("contracts/{system}.yaml: the schema at {pointer}: {e}"))
}

/// Follows a `$ref` at `pointer` (a parameter, body or response kept under `components`).
fn resolve<'a>(document: &'a Value, pointer: &str) -> (String, &'a Value) {
    let value = document.pointer(pointer).unwrap_or(&Value::Null);
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let target = reference.trim_start_matches('#').to_owned();
            let resolved = document.pointer(&target).unwrap_or(&Value::Null);
            (target, resolved)
        }
        None => (pointer.to_owned(), value),
    }
}

/// Closes every object schema that names its properties and says nothing of others: a property
/// the contract does not name is a violation, in requests and answers alike.
fn close_objects(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("properties").is_some_and(Value::is_object)
                && !map.contains_key("additionalProperties")
                && !map.contains_key("unevaluatedProperties")
            {
                map.insert("unevaluatedProperties".to_owned(), Value::Bool(false));
            }
            for (key, child) in map.iter_mut() {
                if key != "example" && key != "examples" {
                    close_objects(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// What a JSON pointer must escape to stand in a URI fragment (path templates hold `{` and `}`).
const FRAGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'~')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.');

fn parent(pointer: &str) -> &str {
    pointer.rsplit_once('/').map_or("", |(head, _)| head)
}

/// A JSON pointer token for `key`.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn decode(part: &str) -> String {
    percent_encoding::percent_decode_str(part)
        .decode_utf8_lossy()
        .into_owned()
}

/// A path or query value as the JSON its schema describes; `None` when it cannot be one.
fn scalar(kind: ScalarKind, raw: &str) -> Option<Value> {
    match kind {
        ScalarKind::Integer => raw.parse::<i64>().ok().map(Value::from),
        ScalarKind::Number => raw.parse::<f64>().ok().map(Value::from),
        ScalarKind::Boolean => raw.parse::<bool>().ok().map(Value::from),
        ScalarKind::String => Some(Value::from(raw)),
    }
}

/// The first few schema errors of `instance`, each with where in the instance it is.
fn schema_errors(validator: &Validator, instance: &Value) -> Option<String> {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .take(3)
        .map(|e| {
            let at = e.instance_path().to_string();
            let mut message = e.to_string();
            if message.len() > 160 {
                message.truncate(160);
                message.push('…');
            }
            format!("at '{at}': {message}")
        })
        .collect();
    (!errors.is_empty()).then(|| errors.join("; "))
}

#[cfg(test)]
mod tests;
