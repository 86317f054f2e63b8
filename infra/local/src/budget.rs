//! The time budget of every function that consumes a queue through the claim pipeline, read from
//! `template.yaml`: as deployed, and as run locally (the template with the local settings). Its
//! test fails when any inequality of [`flyt::apply::Budget`] breaks, naming the function.
//!
//! No AWS is needed: references resolve to placeholders, so only the literal settings count — the
//! timeouts, leases and retry settings, which the template states as literals.

use std::collections::BTreeMap;
use std::time::Duration;

use flyt::apply::{ApplierSettings, Budget};
use flyt::config::Vars;
use serde_json::Value;

use crate::platform::LocalOptions;
use crate::stack::{ACCOUNT, REGION};
use crate::template::{resolve, Context, Resolved, Template};

/// A consumer and its budget.
#[derive(Clone, Debug)]
pub struct ConsumerBudget {
    /// The function's logical id.
    pub function: String,
    /// Its budget.
    pub budget: Budget,
}

/// The longest call and the claim settings of a consumer's binary, each read by the function's
/// own configuration from its resolved environment.
fn consumer_settings(binary: &str, vars: &Vars) -> Result<(Duration, ApplierSettings), String> {
    let settings = match binary {
        "alma-forward" => alma_forward::longest_call(vars)
            .and_then(|call| Ok((call, alma_forward::Config::from_vars(vars)?.applier))),
        "exam-dispatch" => exam_dispatch::longest_call(vars)
            .and_then(|call| Ok((call, exam_dispatch::Config::from_vars(vars)?.applier))),
        "fs-return" => fs_return::longest_call(vars)
            .and_then(|call| Ok((call, fs_return::Config::from_vars(vars)?.applier))),
        "thesis-archive" => thesis_archive::longest_call(vars)
            .and_then(|call| Ok((call, thesis_archive::Config::from_vars(vars)?.applier))),
        other => {
            return Err(format!(
                "{other} consumes a queue through the claim pipeline but its budget is not read here: add it to budget::consumer_settings"
            ))
        }
    };
    settings.map_err(|e| format!("{binary}: {e}"))
}

/// Every function with an SQS event source and a claim lease (`CLAIM_LEASE_SECONDS`), with its
/// budget. `local` applies the local settings over the template, as [`crate::Local`] does.
pub fn consumer_budgets(
    template: &Template,
    local: Option<&LocalOptions>,
) -> Result<Vec<ConsumerBudget>, String> {
    let context = placeholders(template);
    let resources = template.resources();
    let globals = resolve(
        &Value::Object(template.global_function_variables()),
        &context,
    )?;
    let mut budgets = Vec::new();
    for (id, resource) in resources {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let properties = &resource["Properties"];
        let own = resolve(&properties["Environment"]["Variables"], &context)?;
        let mut vars = Vars::default();
        for (k, v) in [&globals, &own]
            .into_iter()
            .filter_map(Value::as_object)
            .flatten()
        {
            vars.set(k, v.as_str().map_or_else(|| v.to_string(), str::to_owned));
        }
        if vars.get("CLAIM_LEASE_SECONDS").is_none() {
            continue;
        }
        let mut queues = Vec::new();
        for (_, event) in properties["Events"].as_object().into_iter().flatten() {
            if event["Type"] == "SQS" {
                let queue = resolve(&event["Properties"]["Queue"], &context)?;
                let queue = queue.as_str().and_then(|arn| arn.strip_prefix("Arn-"));
                queues.push(queue.unwrap_or_default().to_owned());
            }
        }
        let [queue] = queues.as_slice() else {
            return Err(format!(
                "{id} has a claim lease but {} SQS event sources (expected one)",
                queues.len()
            ));
        };
        let mut timeout = Duration::from_secs(
            template
                .function_timeout(resource)
                .ok_or_else(|| format!("{id} has no Timeout"))?,
        );
        let mut visibility = resources[queue.as_str()]["Properties"]["VisibilityTimeout"]
            .as_u64()
            .unwrap_or(30);
        let binary = resource
            .pointer("/Metadata/BuildProperties/Binary")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{id} has no Metadata.BuildProperties.Binary"))?;
        if let Some(local) = local {
            local.localise(binary, &mut vars, &mut timeout);
            if let Some(local_visibility) = local.visibility_timeout {
                visibility = local_visibility as u64;
            }
        }
        let (longest_call, settings) = consumer_settings(binary, &vars)?;
        budgets.push(ConsumerBudget {
            function: id.clone(),
            budget: Budget {
                longest_call,
                timeout,
                finish_reserve: settings.finish_reserve,
                claim_lease: settings.claim_lease,
                visibility_timeout: Duration::from_secs(visibility),
            },
        });
    }
    Ok(budgets)
}

/// Every parameter at its default (or a placeholder named after it) and every resource as a
/// placeholder named after it.
fn placeholders(template: &Template) -> Context {
    let mut context = Context::default();
    for name in template.parameter_names() {
        let placeholder = format!("placeholder-{name}");
        context.parameters.insert(name, placeholder);
    }
    context.parameters.extend(template.parameter_defaults());
    for (k, v) in [
        ("AWS::StackName", "budget"),
        ("AWS::Region", REGION),
        ("AWS::AccountId", ACCOUNT),
        ("AWS::Partition", "aws"),
    ] {
        context.parameters.insert(k.to_owned(), v.to_owned());
    }
    for id in template.resources().keys() {
        context.resources.insert(
            id.clone(),
            Resolved {
                reference: format!("placeholder-{id}"),
                attributes: BTreeMap::from(
                    ["Arn", "QueueName", "QueueUrl"].map(|a| (a.to_owned(), format!("{a}-{id}"))),
                ),
            },
        );
    }
    context
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::project_root;

    fn template() -> Template {
        Template::load(&project_root().join("template.yaml")).expect("template.yaml loads")
    }

    fn broken(budgets: &[ConsumerBudget], aws: bool) -> Vec<String> {
        budgets
            .iter()
            .flat_map(|c| {
                let mut v = c.budget.violations();
                if aws {
                    v.extend(c.budget.aws_guidance_violations());
                }
                v.into_iter().map(|v| format!("{}: {v}", c.function))
            })
            .collect()
    }

    #[test]
    fn every_consumer_budget_holds_as_deployed() {
        let budgets = consumer_budgets(&template(), None).unwrap();
        let names: Vec<&str> = budgets.iter().map(|c| c.function.as_str()).collect();
        assert_eq!(
            names,
            [
                "AlmaForwardFunction",
                "ExamDispatchFunction",
                "FsReturnFunction",
                "ThesisArchiveFunction"
            ]
        );
        assert_eq!(broken(&budgets, true), Vec::<String>::new());
    }

    #[test]
    fn every_consumer_budget_holds_as_run_locally() {
        let budgets = consumer_budgets(&template(), Some(&LocalOptions::default())).unwrap();
        assert_eq!(budgets.len(), 4);
        assert_eq!(broken(&budgets, false), Vec::<String>::new());
    }

    #[test]
    fn a_template_that_breaks_a_budget_is_caught() {
        let text = std::fs::read_to_string(project_root().join("template.yaml")).unwrap();
        let marker = "Binary: exam-dispatch";
        let at = text.find(marker).expect("exam-dispatch is in the template");
        let lease = text[at..].find("CLAIM_LEASE_SECONDS: ").unwrap() + at;
        let end = text[lease..].find('\n').unwrap() + lease;
        let broken_text = format!(
            "{}CLAIM_LEASE_SECONDS: \"20\"{}",
            &text[..lease],
            &text[end..]
        );
        let budgets = consumer_budgets(&Template::parse(&broken_text).unwrap(), None).unwrap();
        let found = broken(&budgets, true);
        assert!(
            found
                .iter()
                .any(|v| v.starts_with("ExamDispatchFunction: the longest call"))
                && found
                    .iter()
                    .any(|v| v.starts_with("ExamDispatchFunction: the timeout")),
            "{found:?}"
        );
        assert!(
            found.iter().all(|v| v.starts_with("ExamDispatchFunction")),
            "{found:?}"
        );
    }
}
