//! Reads `template.yaml` and resolves its intrinsic functions (`!Ref`, `!GetAtt`, `!Sub`) against
//! the resources created locally, so the local stack is made from the same definitions as the
//! deployed one and cannot drift from it.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

/// What a logical id resolves to once its resource exists.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    /// The value of `!Ref`.
    pub reference: String,
    /// Values of `!GetAtt Id.Attribute`.
    pub attributes: BTreeMap<String, String>,
}

/// The template as JSON, with short-form tags turned into long-form intrinsics.
#[derive(Clone, Debug)]
pub struct Template {
    document: Value,
}

/// Everything an intrinsic can refer to.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Pseudo parameters and parameters, by name.
    pub parameters: BTreeMap<String, String>,
    /// Created resources, by logical id.
    pub resources: BTreeMap<String, Resolved>,
}

impl Template {
    /// Loads and normalises a template file.
    pub fn load(path: &Path) -> Result<Template, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Template::parse(&text)
    }

    /// Parses template text.
    pub fn parse(text: &str) -> Result<Template, String> {
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
            .map_err(|e| format!("template is not valid YAML: {e}"))?;
        Ok(Template {
            document: normalise(yaml),
        })
    }

    /// The `Resources` section: logical id → resource.
    pub fn resources(&self) -> &Map<String, Value> {
        self.document
            .get("Resources")
            .and_then(Value::as_object)
            .expect("a template has Resources")
    }

    /// Every parameter's name, with or without a default.
    pub fn parameter_names(&self) -> Vec<String> {
        self.document
            .get("Parameters")
            .and_then(Value::as_object)
            .map(|params| params.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Parameter defaults.
    pub fn parameter_defaults(&self) -> BTreeMap<String, String> {
        self.document
            .get("Parameters")
            .and_then(Value::as_object)
            .map(|params| {
                params
                    .iter()
                    .filter_map(|(name, p)| {
                        // CloudFormation passes every parameter as a string, numbers included.
                        let value = match p.get("Default")? {
                            Value::String(text) => text.clone(),
                            Value::Number(number) => number.to_string(),
                            _ => return None,
                        };
                        Some((name.clone(), value))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A function resource's `Timeout` in seconds, else the template's global one.
    pub fn function_timeout(&self, function: &Value) -> Option<u64> {
        function["Properties"]
            .get("Timeout")
            .or_else(|| self.document.pointer("/Globals/Function/Timeout"))
            .and_then(Value::as_u64)
    }

    /// `Globals.Function.Environment.Variables`.
    pub fn global_function_variables(&self) -> Map<String, Value> {
        self.document
            .pointer("/Globals/Function/Environment/Variables")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }
}

/// Resolves every intrinsic in `value`. Fails with the first reference that cannot be resolved.
pub fn resolve(value: &Value, context: &Context) -> Result<Value, String> {
    match value {
        Value::Object(map) if map.len() == 1 => {
            let (key, argument) = map.iter().next().expect("one entry");
            match key.as_str() {
                "Ref" => {
                    resolve_ref(argument.as_str().unwrap_or_default(), context).map(Value::String)
                }
                "Fn::GetAtt" => {
                    let (id, attribute) = match argument {
                        Value::String(s) => {
                            s.split_once('.').map(|(a, b)| (a.to_owned(), b.to_owned()))
                        }
                        Value::Array(parts) if parts.len() == 2 => Some((
                            parts[0].as_str().unwrap_or_default().to_owned(),
                            parts[1].as_str().unwrap_or_default().to_owned(),
                        )),
                        _ => None,
                    }
                    .ok_or_else(|| format!("malformed Fn::GetAtt {argument}"))?;
                    get_att(&id, &attribute, context).map(Value::String)
                }
                "Fn::Sub" => {
                    let text = argument.as_str().ok_or_else(|| {
                        "only the one-string form of Fn::Sub is supported locally".to_owned()
                    })?;
                    substitute(text, context).map(Value::String)
                }
                _ => Ok(Value::Object(
                    map.iter()
                        .map(|(k, v)| Ok((k.clone(), resolve(v, context)?)))
                        .collect::<Result<_, String>>()?,
                )),
            }
        }
        Value::Object(map) => Ok(Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), resolve(v, context)?)))
                .collect::<Result<_, String>>()?,
        )),
        Value::Array(items) => Ok(Value::Array(
            items
                .iter()
                .map(|v| resolve(v, context))
                .collect::<Result<_, _>>()?,
        )),
        other => Ok(other.clone()),
    }
}

fn resolve_ref(name: &str, context: &Context) -> Result<String, String> {
    if let Some(value) = context.parameters.get(name) {
        return Ok(value.clone());
    }
    context
        .resources
        .get(name)
        .map(|r| r.reference.clone())
        .ok_or_else(|| format!("!Ref {name}: no such parameter or created resource"))
}

fn get_att(id: &str, attribute: &str, context: &Context) -> Result<String, String> {
    context
        .resources
        .get(id)
        .and_then(|r| r.attributes.get(attribute))
        .cloned()
        .ok_or_else(|| format!("!GetAtt {id}.{attribute}: not created or no such attribute"))
}

fn substitute(text: &str, context: &Context) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("unclosed ${{ in {text}"))?
            + start;
        let name = &rest[start + 2..end];
        let value = match name.split_once('.') {
            Some((id, attribute)) => get_att(id, attribute, context)?,
            None => resolve_ref(name, context)?,
        };
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Turns YAML with `!Ref`-style tags into JSON with long-form intrinsics.
fn normalise(yaml: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(normalise).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    (
                        k.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| format!("{k:?}")),
                        normalise(v),
                    )
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let key = if name == "Ref" {
                "Ref".to_owned()
            } else {
                format!("Fn::{name}")
            };
            let mut map = Map::new();
            map.insert(key, normalise(tagged.value));
            Value::Object(map)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_forms_resolve() {
        let template = Template::parse(
            "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !Sub \"${AWS::StackName}-q\"\n      Dlq: !GetAtt D.Arn\n      Url: !Ref D\n",
        )
        .unwrap();
        let mut context = Context::default();
        context
            .parameters
            .insert("AWS::StackName".into(), "s1".into());
        context.resources.insert(
            "D".into(),
            Resolved {
                reference: "http://q/d".into(),
                attributes: BTreeMap::from([("Arn".to_owned(), "arn:d".to_owned())]),
            },
        );
        let properties = resolve(&template.resources()["Q"]["Properties"], &context).unwrap();
        assert_eq!(properties["QueueName"], "s1-q");
        assert_eq!(properties["Dlq"], "arn:d");
        assert_eq!(properties["Url"], "http://q/d");
    }

    #[test]
    fn an_unknown_reference_is_named() {
        let template =
            Template::parse("Resources:\n  Q:\n    Properties:\n      X: !Ref Nope\n").unwrap();
        let error = resolve(
            &template.resources()["Q"]["Properties"],
            &Context::default(),
        )
        .unwrap_err();
        assert!(error.contains("Nope"), "{error}");
    }
}
