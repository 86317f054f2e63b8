use std::sync::{Arc, OnceLock};

use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::*;

/// A small contract of its own, so each check is shown failing on a known departure.
const EXAMPLE: &str = r##"
openapi: 3.1.0
info:
  title: example
  version: "1"
  x-sources:
    spec: {title: "Example API", version: "1"}
servers:
  - url: https://api.example.org/v1
paths:
  /items/{itemId}:
    get:
      x-provenance: {kind: published, source: spec, at: "paths./items/{itemId}.get"}
      parameters:
        - name: itemId
          in: path
          required: true
          schema: {type: integer}
          x-provenance: {kind: published, source: spec, at: "itemId"}
        - name: expand
          in: query
          schema: {type: boolean}
          x-provenance: {kind: assumed, why: "example", confirm: "never"}
      responses:
        "200":
          x-provenance: {kind: published, source: spec, at: "200"}
          content:
            application/json:
              schema: {$ref: "#/components/schemas/item"}
        "404":
          x-provenance: {kind: published, source: spec, at: "404"}
components:
  schemas:
    item:
      type: object
      required: [id]
      x-provenance: {kind: published, source: spec, at: "item"}
      properties:
        id: {type: integer, x-provenance: {kind: published, source: spec, at: "item.id"}}
"##;

fn example() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| Contract::compile("example", EXAMPLE))
}

/// Serves `answer` for every item behind the check, and returns the base URL and the log.
async fn serve(answer: serde_json::Value, status: StatusCode) -> (String, Arc<ContractLog>) {
    let log = Arc::new(ContractLog::default());
    let check = ContractCheck {
        contract: example(),
        log: log.clone(),
    };
    let app = Router::new()
        .route(
            "/v1/items/{id}",
            get(move || async move { (status, Json(answer)) }),
        )
        .route("/v1/invented", get(|| async { "ok" }))
        .layer(from_fn_with_state(check, check::enforce));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, log)
}

fn details(log: &ContractLog) -> Vec<String> {
    log.take().into_iter().map(|v| v.to_string()).collect()
}

#[tokio::test]
async fn a_conforming_exchange_leaves_no_violation() {
    let (url, log) = serve(json!({"id": 1}), StatusCode::OK).await;
    let answer = reqwest::get(format!("{url}/items/1?expand=true"))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(details(&log), Vec::<String>::new());
}

#[tokio::test]
async fn an_invented_route_an_unknown_query_and_a_wrong_type_are_request_violations() {
    let (url, log) = serve(json!({"id": 1}), StatusCode::OK).await;
    reqwest::get(format!("{url}/invented")).await.unwrap();
    reqwest::get(format!("{url}/items/abc?offset=0&expand=maybe"))
        .await
        .unwrap();
    let seen = details(&log);
    assert_eq!(seen.len(), 4, "{seen:#?}");
    assert!(seen[0].contains("GET /invented: client request: no such operation"));
    assert!(seen[1].contains("path parameter 'itemId' is not a Integer"));
    assert!(seen[2].contains("query parameter 'offset' is not in the contract"));
    assert!(seen[3].contains("query parameter 'expand' is not a Boolean"));
}

#[tokio::test]
async fn an_answer_with_an_invented_field_or_an_envelope_is_a_response_violation() {
    let (url, log) = serve(json!({"id": 1, "submissionId": 2}), StatusCode::OK).await;
    reqwest::get(format!("{url}/items/1")).await.unwrap();
    let seen = details(&log);
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert!(seen[0].contains("GET /items/{itemId}: sandbox answer: 200"));
    assert!(seen[0].contains("submissionId"), "{}", seen[0]);

    let (url, log) = serve(json!({"success": true, "data": {"id": 1}}), StatusCode::OK).await;
    reqwest::get(format!("{url}/items/1")).await.unwrap();
    assert_eq!(details(&log).len(), 1);
}

#[tokio::test]
async fn an_undeclared_status_or_a_body_where_none_is_declared_is_a_response_violation() {
    let (url, log) = serve(json!({"id": 1}), StatusCode::CONFLICT).await;
    reqwest::get(format!("{url}/items/1")).await.unwrap();
    let seen = details(&log);
    assert_eq!(seen.len(), 1);
    assert!(seen[0].contains("status 409 is not one the operation answers"));

    let (url, log) = serve(json!({"error": "gone"}), StatusCode::NOT_FOUND).await;
    reqwest::get(format!("{url}/items/1")).await.unwrap();
    let seen = details(&log);
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].contains("where the contract has none"),
        "{}",
        seen[0]
    );
}

#[test]
fn paths_outside_the_api_and_the_sandbox_routes_are_not_checked() {
    let contract = example();
    assert_eq!(contract.api_path("/v1/items/1"), Some("/items/1"));
    assert_eq!(contract.api_path("/files/abc"), None);
    assert_eq!(contract.api_path("/v1/_sandbox/state"), None);
    assert_eq!(contract.api_path("/v1items"), None);
}

/// Every element of every contract in the repository says where it comes from, and names a
/// source the contract lists.
#[test]
fn every_contract_element_carries_its_provenance() {
    for (system, yaml) in super::CONTRACTS
        .iter()
        .copied()
        .chain([("example", EXAMPLE)])
    {
        let document: Value = serde_yaml_ng::from_str(yaml).unwrap();
        let sources: Vec<String> = document
            .pointer("/info/x-sources")
            .and_then(Value::as_object)
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default();
        let mut missing = Vec::new();
        provenance_of(&document, "", &sources, &mut missing);
        assert!(
            missing.is_empty(),
            "contracts/{system}.yaml: elements without a valid x-provenance:\n{}",
            missing.join("\n")
        );
        Contract::compile(system, yaml);
    }
}

/// Walks the elements that must carry `x-provenance`: operations, parameters, request bodies,
/// responses, schemas and properties.
fn provenance_of(value: &Value, at: &str, sources: &[String], missing: &mut Vec<String>) {
    let Value::Object(map) = value else {
        if let Value::Array(items) = value {
            for (i, item) in items.iter().enumerate() {
                provenance_of(item, &format!("{at}/{i}"), sources, missing);
            }
        }
        return;
    };
    let parent = at.rsplit('/').nth(1).unwrap_or_default();
    let grandparent = at.rsplit('/').nth(2).unwrap_or_default();
    let key = at.rsplit('/').next().unwrap_or_default();
    let is_reference = map.contains_key("$ref");
    let needs = !is_reference
        && (parent == "properties"
            || parent == "parameters"
            || parent == "responses"
            || parent == "x-xml-elements"
            || (parent == "schemas" && grandparent == "components")
            || key == "requestBody"
            || (grandparent == "paths"
                && ["get", "post", "put", "patch", "delete"].contains(&key)));
    if needs {
        match map.get("x-provenance") {
            None => missing.push(format!("{at}: none")),
            Some(provenance) => {
                if let Some(problem) = provenance_problem(provenance, sources) {
                    missing.push(format!("{at}: {problem}"));
                }
            }
        }
    }
    for (child, value) in map {
        if !["x-provenance", "example", "examples", "x-sources"].contains(&child.as_str()) {
            provenance_of(value, &format!("{at}/{}", escape(child)), sources, missing);
        }
    }
}

fn provenance_problem(provenance: &Value, sources: &[String]) -> Option<String> {
    let field = |name: &str| provenance.get(name).and_then(Value::as_str).unwrap_or("");
    match field("kind") {
        "published" if !sources.iter().any(|s| s == field("source")) => Some(format!(
            "published from '{}', which info.x-sources does not list",
            field("source")
        )),
        "published" if field("at").is_empty() => Some("published, but not where".to_owned()),
        "seed" if !field("source").starts_with("seeds/") || field("field").is_empty() => {
            Some("a seed needs its file (seeds/…) and field".to_owned())
        }
        "assumed" if field("why").is_empty() || field("confirm").is_empty() => {
            Some("an assumption needs why and how to confirm it".to_owned())
        }
        "published" | "seed" | "assumed" => None,
        other => Some(format!("kind '{other}' is not published, seed or assumed")),
    }
}

#[test]
fn a_known_departure_covers_only_its_system_side_request_and_detail() {
    let known = KnownDeparture {
        system: "wiseflow".to_owned(),
        request: "GET /flows/*/reassessment/grades".to_owned(),
        side: Side::Request,
        detail: "no such operation".to_owned(),
    };
    let seen = |system: &'static str, request: &str, side, detail: &str| Violation {
        system,
        request: request.to_owned(),
        side,
        detail: detail.to_owned(),
    };
    let invented = "no such operation in the contract";
    assert!(known.covers(&seen(
        "wiseflow",
        "GET /flows/5001/reassessment/grades",
        Side::Request,
        invented
    )));
    assert!(!known.covers(&seen(
        "inspera",
        "GET /flows/5001/reassessment/grades",
        Side::Request,
        invented
    )));
    assert!(!known.covers(&seen(
        "wiseflow",
        "GET /flows/5001/reassessment",
        Side::Request,
        invented
    )));
    assert!(!known.covers(&seen(
        "wiseflow",
        "GET /flows/5001/reassessment/grades",
        Side::Response,
        invented
    )));
    assert!(!known.covers(&seen(
        "wiseflow",
        "POST /flows/5001/reassessment/grades",
        Side::Request,
        invented
    )));
    assert!(!known.covers(&seen(
        "wiseflow",
        "GET /flows/5001/reassessment/grades",
        Side::Request,
        "status 500"
    )));
}

#[test]
fn the_known_departures_parse_and_name_contracted_systems() {
    let known: Vec<KnownDeparture> =
        serde_yaml_ng::from_str(include_str!("../../../../contracts/known-departures.yaml"))
            .unwrap();
    for departure in &known {
        assert!(
            super::CONTRACTS
                .iter()
                .any(|(system, _)| *system == departure.system),
            "known departure of {}, which has no contract",
            departure.system
        );
    }
}

/// Every published XML example in a contract conforms to the element paths the contract declares
/// beside it: the contract says what the vendor sends, in the vendor's own words.
#[test]
fn every_xml_example_conforms_to_its_declared_elements() {
    let mut checked = 0;
    for (system, yaml) in super::CONTRACTS {
        let document: Value = serde_yaml_ng::from_str(yaml).unwrap();
        let mut media = Vec::new();
        xml_media(&document, String::new(), &mut media);
        for at in media {
            let Some(example) = document
                .pointer(&format!("{at}/example"))
                .and_then(Value::as_str)
            else {
                continue;
            };
            let shape = super::xml::XmlShape::compile(&document, &at, system)
                .expect("an XML media type with elements");
            assert_eq!(shape.problems(example.as_bytes()), None, "{system} {at}");
            checked += 1;
        }
    }
    assert!(
        checked >= 2,
        "the Bokbasen object sample and error body: {checked}"
    );
}

/// Pointers of every media type that declares `x-xml-elements`.
fn xml_media(value: &Value, at: String, found: &mut Vec<String>) {
    if let Value::Object(map) = value {
        if map.contains_key("x-xml-elements") {
            found.push(at.clone());
        }
        for (key, child) in map {
            xml_media(child, format!("{at}/{}", escape(key)), found);
        }
    }
}
