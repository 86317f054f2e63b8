//! Template tests of what only AWS does, which the emulator cannot show (the README's "What the
//! emulator cannot show"):
//! - every alarm reaches a person: CloudWatch cannot publish to a topic under the AWS-managed SNS
//!   key, so the topic's key must be the stack's own and admit CloudWatch; every function, work
//!   queue and dead-letter queue has its alarm on that topic, with a dead-man's switch on ops-watch;
//! - Lambda's recursive-loop detection is off only for the Bokbasen drain, which bounds its own
//!   chain;
//! - every function logs into a group of the stack's with a retention period, and the audit and
//!   access logs outlive a stack deletion;
//! - scheduled functions take no asynchronous retries from Lambda unless each unit of their work
//!   is done once anyway;
//! - the DigEks proxy and its authorizer have concurrency of their own.

use serde_json::Value;

use crate::emulator::project_root;
use crate::template::Template;

fn template() -> Template {
    Template::load(&project_root().join("template.yaml")).expect("template.yaml loads")
}

fn of_type<'a>(template: &'a Template, kind: &str) -> Vec<(&'a String, &'a Value)> {
    template
        .resources()
        .iter()
        .filter(|(_, resource)| resource["Type"] == kind)
        .collect()
}

/// Every alarm's metric, its dimension's referenced resource and its properties.
fn alarms(template: &Template) -> Vec<(String, String, &Value)> {
    of_type(template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(_, alarm)| {
            let properties = &alarm["Properties"];
            let dimension = &properties["Dimensions"][0]["Value"];
            // `!GetAtt Queue.QueueName` reads as the list or as the dotted text.
            let attribute = &dimension["Fn::GetAtt"];
            let target = dimension["Ref"]
                .as_str()
                .or_else(|| attribute[0].as_str())
                .or_else(|| attribute.as_str().and_then(|a| a.split('.').next()))
                .unwrap_or_default()
                .to_owned();
            let metric = properties["MetricName"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (metric, target, properties)
        })
        .collect()
}

/// What is wrong with the alarms of `template`; empty when every alarm reaches a person.
fn problems(template: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    let resources = template.resources();
    let topic = &resources["AlarmTopic"]["Properties"];
    match topic["KmsMasterKeyId"]["Ref"].as_str() {
        None => problems.push(format!(
            "AlarmTopic's key is {}, not a key of the stack: CloudWatch cannot publish under an AWS-managed key",
            topic["KmsMasterKeyId"]
        )),
        Some(key) => {
            let statements = resources[key]["Properties"]["KeyPolicy"]["Statement"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let admits = statements.iter().any(|s| {
                s["Effect"] == "Allow"
                    && s["Principal"]["Service"] == "cloudwatch.amazonaws.com"
                    && ["kms:Decrypt", "kms:GenerateDataKey*"]
                        .iter()
                        .all(|a| s["Action"].as_array().is_some_and(|l| l.contains(&(*a).into())))
            });
            if !admits {
                problems.push(format!(
                    "{key}'s policy does not let cloudwatch.amazonaws.com Decrypt and GenerateDataKey*"
                ));
            }
        }
    }
    let alarms = alarms(template);
    for (_, _, properties) in &alarms {
        if properties["AlarmActions"] != serde_json::json!([{"Ref": "AlarmTopic"}]) {
            problems.push(format!(
                "alarm on {} does not notify AlarmTopic",
                properties["MetricName"]
            ));
        }
    }
    let has =
        |metric: &str, target: &str| alarms.iter().any(|(m, t, _)| m == metric && t == target);
    for (function, _) in of_type(template, "AWS::Serverless::Function") {
        for metric in ["Errors", "Throttles"] {
            if !has(metric, function) {
                problems.push(format!("{function} has no {metric} alarm"));
            }
        }
    }
    for (queue, _) in of_type(template, "AWS::SQS::Queue") {
        let metric = if queue.ends_with("Dlq") {
            "ApproximateNumberOfMessagesVisible"
        } else {
            "ApproximateAgeOfOldestMessage"
        };
        if !has(metric, queue) {
            problems.push(format!("{queue} has no {metric} alarm"));
        }
    }
    let switch = alarms
        .iter()
        .find(|(metric, target, _)| metric == "Invocations" && target == "OpsWatchFunction");
    match switch {
        Some((_, _, properties))
            if properties["TreatMissingData"] == "breaching"
                && properties["ComparisonOperator"] == "LessThanThreshold" => {}
        _ => problems.push(
            "no dead-man's switch: an alarm when ops-watch is not invoked, missing data breaching"
                .to_owned(),
        ),
    }
    problems
}

#[test]
fn every_alarm_reaches_a_person_as_deployed() {
    assert_eq!(problems(&template()), Vec::<String>::new());
}

#[test]
fn a_topic_under_the_aws_managed_key_a_function_without_alarms_or_no_switch_is_caught() {
    let text = std::fs::read_to_string(project_root().join("template.yaml")).unwrap();
    let managed = text.replace(
        "KmsMasterKeyId: !Ref AlarmKey",
        "KmsMasterKeyId: alias/aws/sns",
    );
    let found = problems(&Template::parse(&managed).unwrap());
    assert!(
        found.iter().any(|p| p.contains("AWS-managed key")),
        "{found:?}"
    );
    let unwatched = text.replacen(
        "          Value: !Ref FsReturnFunction\n",
        "          Value: !Ref FsPollFunction\n",
        1,
    );
    let found = problems(&Template::parse(&unwatched).unwrap());
    assert_eq!(found, ["FsReturnFunction has no Errors alarm"]);
    let unnotified = text.replacen(
        "      AlarmActions: [!Ref AlarmTopic]\n",
        "      AlarmActions: []\n",
        1,
    );
    let found = problems(&Template::parse(&unnotified).unwrap());
    assert!(
        found
            .iter()
            .any(|p| p.contains("does not notify AlarmTopic")),
        "{found:?}"
    );
    let silent = text.replace(
        "      TreatMissingData: breaching\n",
        "      TreatMissingData: notBreaching\n",
    );
    let found = problems(&Template::parse(&silent).unwrap());
    assert!(
        found.iter().any(|p| p.contains("dead-man's switch")),
        "{found:?}"
    );
}

#[test]
fn only_the_bokbasen_drain_may_loop_and_it_bounds_its_own_chain() {
    let template = template();
    let looping: Vec<&String> = of_type(&template, "AWS::Serverless::Function")
        .into_iter()
        .filter(|(_, f)| f["Properties"]["RecursiveLoop"] == "Allow")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(looping, ["BokbasenFetchFunction"]);
    let bound = &template.resources()["BokbasenFetchFunction"]["Properties"]["Environment"]
        ["Variables"]["BOKBASEN_MAX_DRAIN_HOPS"];
    let hops: u32 = bound
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("a hop bound is set");
    assert!(hops > 0, "{hops}");
}

#[test]
fn every_function_logs_with_a_retention_and_the_audit_outlives_the_stack() {
    let template = template();
    let resources = template.resources();
    for (function, definition) in of_type(&template, "AWS::Serverless::Function") {
        let group = definition["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{function} logs into Lambda's own group, kept forever"));
        let days = resources[group]["Properties"]["RetentionInDays"].as_u64();
        assert!(
            days.is_some_and(|d| d > 0),
            "{group} of {function} has no retention"
        );
    }
    for audit in [
        "DigeksProxyLogs",
        "DigeksAuthorizerLogs",
        "DigeksApiLogs",
        "WebhookApiLogs",
        "LogOverviewApiLogs",
    ] {
        assert_eq!(
            resources[audit]["DeletionPolicy"], "Retain",
            "{audit} is deleted with the stack"
        );
    }
    assert_eq!(
        resources["DigeksProxyLogs"]["Properties"]["RetentionInDays"], 400,
        "the DigEks audit is kept 400 days"
    );
}

/// Scheduled functions whose every unit of work is done once by a marker or a claim; Lambda's
/// asynchronous retries of them are safe. Any other scheduled function takes none.
const IDEMPOTENT_PER_UNIT: [&str; 2] = ["OpsWatchFunction", "BokbasenFetchFunction"];

#[test]
fn scheduled_functions_take_no_asynchronous_retries_unless_idempotent_per_unit_of_work() {
    let template = template();
    let mut scheduled = 0;
    for (function, definition) in of_type(&template, "AWS::Serverless::Function") {
        let properties = &definition["Properties"];
        let has_schedule = properties["Events"]
            .as_object()
            .into_iter()
            .flatten()
            .any(|(_, event)| event["Type"] == "ScheduleV2");
        if !has_schedule {
            continue;
        }
        scheduled += 1;
        let retries = properties["EventInvokeConfig"]["MaximumRetryAttempts"]
            .as_u64()
            .unwrap_or_else(|| {
                panic!("{function} leaves Lambda's asynchronous retries at their default (2)")
            });
        if !IDEMPOTENT_PER_UNIT.contains(&function.as_str()) {
            assert_eq!(retries, 0, "{function} would be retried by Lambda");
        }
    }
    assert_eq!(scheduled, 5, "the scheduled functions");
}

#[test]
fn the_digeks_proxy_and_its_authorizer_have_reserved_concurrency() {
    let template = template();
    let resources = template.resources();
    let defaults = template.parameter_defaults();
    for function in ["DigeksProxyFunction", "DigeksAuthorizerFunction"] {
        let reserved = &resources[function]["Properties"]["ReservedConcurrentExecutions"];
        let value = match reserved["Ref"].as_str() {
            Some(parameter) => defaults[parameter].parse::<u64>().ok(),
            None => reserved.as_u64(),
        };
        assert!(
            value.is_some_and(|v| v > 0),
            "{function} has no reserved concurrency: {reserved}"
        );
    }
}
