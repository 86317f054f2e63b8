//! XML bodies (Bokbasen's export reports and errors) as a contract declares them: the element
//! paths a body may hold, under the media type's `x-xml-elements`. OpenAPI's own `xml` object
//! only renames JSON schema properties, and no validator crate reads it; an element-path list is
//! what Bokbasen's published examples show, so that is what the contract states and this checks.
//!
//! ```yaml
//! application/xml:
//!   x-xml-elements:
//!     OBJECTS: {x-provenance: ...}                       # the root: the entry without '/'
//!     OBJECTS/OBJECT: {repeats: true, x-provenance: ...}
//!     OBJECTS/OBJECT/ISBN13: {required: true, text: {type: string}, x-provenance: ...}
//! ```
//!
//! The checks: the root's name; every element's path is listed (closed, as JSON objects are);
//! an element without `repeats` at most once per parent; every `required` element in each
//! occurrence of its parent; `text` (a JSON Schema) against the element's trimmed text; every
//! attribute listed under `attributes` (namespace declarations aside).

use std::collections::BTreeMap;

use jsonschema::Validator;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};
use serde_json::Value;

use super::{escape, schema_errors, validator};

/// One element path of an XML body.
pub(crate) struct XmlElement {
    repeats: bool,
    required: bool,
    text: Option<Validator>,
    attributes: BTreeMap<String, Validator>,
}

/// The element paths an XML body may hold.
pub(crate) struct XmlShape {
    root: String,
    elements: BTreeMap<String, XmlElement>,
}

impl XmlShape {
    /// The shape under `at` (a media type of a `content`), or `None` when it declares none.
    pub(crate) fn compile(document: &Value, at: &str, system: &str) -> Option<XmlShape> {
        let declared = document
            .pointer(&format!("{at}/x-xml-elements"))?
            .as_object()?;
        let mut root = String::new();
        let mut elements = BTreeMap::new();
        for (path, element) in declared {
            if !path.contains('/') {
                root.clone_from(path);
            }
            let here = format!("{at}/x-xml-elements/{}", escape(path));
            let schema = |name: &str| validator(document, &format!("{here}/{name}"), system);
            let attributes = element
                .get("attributes")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(name, _)| {
                    let compiled = schema(&format!("attributes/{}", escape(name)));
                    (name.clone(), compiled)
                })
                .collect();
            elements.insert(
                path.clone(),
                XmlElement {
                    repeats: element["repeats"] == Value::Bool(true),
                    required: element["required"] == Value::Bool(true),
                    text: element.get("text").map(|_| schema("text")),
                    attributes,
                },
            );
        }
        assert!(
            !root.is_empty(),
            "contracts/{system}.yaml: {at}/x-xml-elements names no root element"
        );
        Some(XmlShape { root, elements })
    }

    /// What is wrong with `body`; `None` when it conforms.
    pub(crate) fn problems(&self, body: &[u8]) -> Option<String> {
        let root = match parse(body) {
            Ok(root) => root,
            Err(e) => return Some(format!("the body is not XML: {e}")),
        };
        if root.name != self.root {
            return Some(format!(
                "the root element is <{}>, not <{}>",
                root.name, self.root
            ));
        }
        let mut problems = Vec::new();
        self.check(&root, &root.name, &mut problems);
        problems.truncate(3);
        (!problems.is_empty()).then(|| problems.join("; "))
    }

    fn check(&self, node: &Node, path: &str, problems: &mut Vec<String>) {
        let Some(element) = self.elements.get(path) else {
            problems.push(format!("element {path} is not in the contract"));
            return;
        };
        for (name, value) in &node.attributes {
            match element.attributes.get(name) {
                None => problems.push(format!("attribute {name} of {path} is not in the contract")),
                Some(schema) => {
                    if let Some(e) = schema_errors(schema, &Value::from(value.as_str())) {
                        problems.push(format!("attribute {name} of {path}: {e}"));
                    }
                }
            }
        }
        if let Some(schema) = &element.text {
            if let Some(e) = schema_errors(schema, &Value::from(node.text.trim())) {
                problems.push(format!("text of {path}: {e}"));
            }
        }
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for child in &node.children {
            *seen.entry(child.name.as_str()).or_default() += 1;
            self.check(child, &format!("{path}/{}", child.name), problems);
        }
        let prefix = format!("{path}/");
        for (child_path, child) in self.elements.range(prefix.clone()..) {
            let Some(name) = child_path.strip_prefix(&prefix) else {
                break;
            };
            if name.contains('/') {
                continue;
            }
            let count = seen.get(name).copied().unwrap_or(0);
            if child.required && count == 0 {
                problems.push(format!("required element {child_path} is missing"));
            }
            if !child.repeats && count > 1 {
                problems.push(format!(
                    "element {child_path} occurs {count} times, at most once"
                ));
            }
        }
    }
}

/// One element of a parsed body: local names, its attributes (no namespace declarations) and
/// its own text.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attributes: Vec<(String, String)>,
    text: String,
    children: Vec<Node>,
}

/// The body's root element, or why it is not well-formed XML with one.
fn parse(body: &[u8]) -> Result<Node, String> {
    let mut reader = Reader::from_reader(body);
    let mut stack: Vec<Node> = Vec::new();
    let mut buffer = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buffer)
            .map_err(|e| e.to_string())?;
        let opens = matches!(event, Event::Start(_));
        match event {
            Event::Start(start) | Event::Empty(start) => {
                let mut node = Node {
                    name: start.local_name().as_ref().to_owned(),
                    ..Node::default()
                };
                for attribute in start.attributes() {
                    let attribute = attribute.map_err(|e| e.to_string())?;
                    let key = attribute.key.as_ref().to_owned();
                    if key == "xmlns" || key.starts_with("xmlns:") {
                        continue;
                    }
                    let value = attribute
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|e| e.to_string())?
                        .into_owned();
                    node.attributes.push((key, value));
                }
                if opens {
                    stack.push(node);
                } else if let Some(done) = close(&mut stack, node) {
                    return Ok(done);
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("an end tag without its start")?;
                if let Some(done) = close(&mut stack, node) {
                    return Ok(done);
                }
            }
            Event::Text(text) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&text.xml10_content());
                }
            }
            Event::GeneralRef(reference) => {
                if let Some(node) = stack.last_mut() {
                    match reference.resolve_char_ref().map_err(|e| e.to_string())? {
                        Some(c) => node.text.push(c),
                        None => {
                            let name = reference.xml10_content();
                            let resolved = resolve_predefined_entity(&name)
                                .ok_or_else(|| format!("unknown entity &{name};"))?;
                            node.text.push_str(resolved);
                        }
                    }
                }
            }
            Event::CData(data) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&data);
                }
            }
            Event::Eof => return Err("no root element".to_owned()),
            _ => {}
        }
        buffer.clear();
    }
}

/// Hangs a finished element on its parent; returns it when it is the root.
fn close(stack: &mut [Node], node: Node) -> Option<Node> {
    match stack.last_mut() {
        Some(parent) => {
            parent.children.push(node);
            None
        }
        None => Some(node),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: &str = r#"
paths:
  /objects:
    get:
      responses:
        "200":
          content:
            application/xml:
              x-xml-elements:
                OBJECTS: {}
                OBJECTS/OBJECT: {repeats: true}
                OBJECTS/OBJECT/ISBN13: {required: true, text: {type: string, pattern: "^[0-9]{13}$"}}
                OBJECTS/OBJECT/REFERENCE: {attributes: {kind: {enum: [url]}}}
"#;

    fn shape() -> XmlShape {
        let document: Value = serde_yaml_ng::from_str(SHAPE).unwrap();
        XmlShape::compile(
            &document,
            "/paths/~1objects/get/responses/200/content/application~1xml",
            "example",
        )
        .expect("the shape is declared")
    }

    #[test]
    fn a_body_of_the_declared_elements_conforms() {
        let body =
            br#"<?xml version="1.0"?><OBJECTS xmlns="urn:x"><OBJECT><ISBN13>9788202000000</ISBN13>
            <REFERENCE kind="url">https://a.example/x?a=1&amp;b=2</REFERENCE></OBJECT>
            <OBJECT><ISBN13>9788202000001</ISBN13></OBJECT></OBJECTS>"#;
        assert_eq!(shape().problems(body), None);
        assert_eq!(shape().problems(b"<OBJECTS/>"), None);
    }

    #[test]
    fn each_departure_is_named() {
        let shape = shape();
        let problem = |body: &str| shape.problems(body.as_bytes()).unwrap_or_default();
        assert!(problem("<ITEMS/>").contains("root element is <ITEMS>, not <OBJECTS>"));
        assert!(problem(
            "<OBJECTS><OBJECT><ISBN13>9788202000000</ISBN13><TITLE/></OBJECT></OBJECTS>"
        )
        .contains("element OBJECTS/OBJECT/TITLE is not in the contract"));
        assert!(problem("<OBJECTS><OBJECT/></OBJECTS>")
            .contains("required element OBJECTS/OBJECT/ISBN13 is missing"));
        assert!(problem(
            "<OBJECTS><OBJECT><ISBN13>9788202000000</ISBN13><ISBN13>9788202000000</ISBN13></OBJECT></OBJECTS>"
        )
        .contains("occurs 2 times"));
        assert!(
            problem("<OBJECTS><OBJECT><ISBN13>978</ISBN13></OBJECT></OBJECTS>")
                .contains("text of OBJECTS/OBJECT/ISBN13")
        );
        assert!(problem(
            r#"<OBJECTS><OBJECT><ISBN13>9788202000000</ISBN13><REFERENCE kind="ftp"/></OBJECT></OBJECTS>"#
        )
        .contains("attribute kind of OBJECTS/OBJECT/REFERENCE"));
        assert!(problem(r#"<OBJECTS id="1"/>"#)
            .contains("attribute id of OBJECTS is not in the contract"));
        assert!(problem("<OBJECTS><OBJECT>").contains("not XML"));
        assert!(problem("not xml").contains("not XML"));
    }
}
