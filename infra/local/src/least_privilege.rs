//! Template tests of least privilege as deployed, not as written: the checks read the template's
//! SAM translation (`infra/scripts/sam_translate.py`), which is what CloudFormation receives.
//!
//! SAM attaches AWS managed policies to every role it creates: `AWSLambdaBasicExecutionRole`
//! (logs on `*`), `AWSXrayWriteOnlyAccess`, and for each SQS event `AWSLambdaSQSQueueExecutionRole`
//! (receive and delete on every queue of the account). Their content cannot be read offline, and
//! it is broader than a function needs, so each function has its own role in `template.yaml`, and
//! these tests fail on any managed policy and on any `*` resource but X-Ray's, which has no
//! resource-level permissions. Key and resource policies are not checked here: a `*` there means
//! the key or the resource itself.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::emulator::project_root;

/// Actions for which AWS defines no resource type: `*` is the only resource they accept.
const WITHOUT_RESOURCE_TYPES: &[&str] = &["xray:PutTraceSegments", "xray:PutTelemetryRecords"];

/// The CloudFormation that SAM makes of `template` (YAML text), translated offline.
fn translated(template: &str) -> Value {
    let root = project_root();
    let mut child = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("infra/scripts/sam_translate.py"))
        .args(["/dev/stdin", "/dev/stdout"])
        .env("AWS_DEFAULT_REGION", "eu-north-1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the project's .venv has python (infra/scripts/setup.sh installs it)");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(template.as_bytes())
        .expect("the translator reads the template");
    let output = child.wait_with_output().expect("the translator finishes");
    assert!(
        output.status.success(),
        "SAM translation failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the translation is JSON")
}

fn as_list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        single => vec![single],
    }
}

/// What grants more than its holder needs in `translated`; empty when every identity policy is
/// scoped.
fn problems(translated: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let resources = translated["Resources"].as_object().expect("Resources");
    for (id, resource) in resources {
        let properties = &resource["Properties"];
        let documents: Vec<&Value> = match resource["Type"].as_str() {
            Some("AWS::IAM::Role") => {
                for managed in as_list(&properties["ManagedPolicyArns"]) {
                    problems.push(format!(
                        "{id} has the managed policy {managed}, whose grants the template cannot show"
                    ));
                }
                as_list(&properties["Policies"])
                    .into_iter()
                    .map(|policy| &policy["PolicyDocument"])
                    .collect()
            }
            Some("AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy") => {
                vec![&properties["PolicyDocument"]]
            }
            _ => continue,
        };
        for statement in documents
            .into_iter()
            .flat_map(|document| as_list(&document["Statement"]))
        {
            if statement["Effect"] != "Allow" {
                continue;
            }
            let everywhere = as_list(&statement["Resource"])
                .iter()
                .any(|resource| resource.as_str() == Some("*"));
            if !everywhere {
                continue;
            }
            for action in as_list(&statement["Action"]) {
                let action = action.as_str().unwrap_or_default();
                if !WITHOUT_RESOURCE_TYPES.contains(&action) {
                    problems.push(format!("{id} allows {action} on every resource (*)"));
                }
            }
        }
    }
    problems
}

fn template_text() -> String {
    std::fs::read_to_string(project_root().join("template.yaml")).expect("template.yaml reads")
}

#[test]
fn every_role_as_deployed_is_scoped_to_its_functions_own_resources() {
    let deployed = translated(&template_text());
    assert_eq!(problems(&deployed), Vec::<String>::new());
    let functions: Vec<(&String, &Value)> = deployed["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, resource)| resource["Type"] == "AWS::Lambda::Function")
        .collect();
    assert_eq!(functions.len(), 12, "the stack's functions");
    for (id, function) in functions {
        let role = function["Properties"]["Role"]["Fn::GetAtt"][0]
            .as_str()
            .unwrap_or_else(|| panic!("{id} has no role of the stack's"));
        assert_eq!(
            deployed["Resources"][role]["Type"], "AWS::IAM::Role",
            "{id}'s role {role}"
        );
    }
}

#[test]
fn a_role_made_by_sam_or_a_grant_on_every_resource_is_caught() {
    let text = template_text();
    let sam_made = text.replacen("      Role: !GetAtt FsReturnRole.Arn\n", "", 1);
    assert_ne!(sam_made, text, "the template gives fs-return its own role");
    let found = problems(&translated(&sam_made));
    assert!(
        found.iter().any(
            |p| p.starts_with("FsReturnFunctionRole has the managed policy")
                && p.contains("AWSLambdaSQSQueueExecutionRole")
        ),
        "{found:?}"
    );
    let everywhere = text.replacen(
        "                Resource: !GetAtt ConfigTable.Arn\n",
        "                Resource: \"*\"\n",
        1,
    );
    assert_ne!(everywhere, text, "a statement on the config table");
    let found = problems(&translated(&everywhere));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("dynamodb:"), "{found:?}");
    assert!(found[0].ends_with("on every resource (*)"), "{found:?}");
}
