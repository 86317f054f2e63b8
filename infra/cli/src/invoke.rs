//! Running a step again: **re-run** an execution (its interface's function with its schedule's
//! event, "run immediately") and **replay** an interface over a time window. Both invoke the
//! deployed function (Lambda `Invoke`, synchronous), so they run with the function's own
//! permissions and configuration; the operator needs only `lambda:InvokeFunction`.
//!
//! Function names are `<stack>-<binary>` (the template names them so); without `--stack`, the
//! binary's name — what `cargo lambda watch` serves locally (`AWS_ENDPOINT_URL` pointing at it).

use aws_sdk_lambda::primitives::Blob;
use clap::{Args, Subcommand};
use flyt::{Error, Result};
use serde_json::{json, Value};

use crate::context::Context;

/// Where the functions are.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The stack whose functions to invoke (`<stack>-<function>`); omit for a local `cargo lambda
    /// watch`.
    #[arg(long, env = "FLYT_STACK")]
    pub stack: Option<String>,
}

impl Target {
    /// The deployed name of a function binary.
    pub fn function_name(&self, binary: &str) -> String {
        match self
            .stack
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(stack) => format!("{stack}-{binary}"),
            None => binary.to_owned(),
        }
    }
}

/// Re-run and replay.
#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// Runs an execution's interface again now, as its schedule would (always safe: every step is
    /// idempotent).
    Rerun {
        /// The execution to re-run (`flyt executions list` shows ids).
        execution_id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Replays an institution's FS list over a window after an outage: the changes not yet
    /// delivered to the exam system are delivered, the others are not sent again.
    Replay {
        /// The institution's org id, e.g. `uio`.
        #[arg(long)]
        institution: String,
        /// `klage` or `begrunnelse`.
        #[arg(long, value_parser = ["klage", "begrunnelse"])]
        kind: String,
        /// Start of the window, `yyyy-MM-ddTHH:mm:ss` (FS's time).
        #[arg(long)]
        from: String,
        /// End of the window, `yyyy-MM-ddTHH:mm:ss`.
        #[arg(long)]
        to: String,
        /// List what would be delivered; send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Deliver every change of the window again, even those delivered.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        target: Target,
    },
}

/// The function and event that re-run an execution of `interface`; real-time interfaces have
/// nothing to re-run.
pub fn rerun_target(interface: &str) -> std::result::Result<(&'static str, Value), String> {
    if let Some(report) = interface.strip_prefix("bokbasen-") {
        if matches!(report, "objects" | "descriptions") {
            return Ok(("bokbasen-fetch", json!({ "reports": [report] })));
        }
    }
    for (prefix, binary) in [
        ("fs-poll-", "fs-poll"),
        ("wiseflow-poll-", "wiseflow-poll"),
        ("thesis-archive", "thesis-archive"),
        ("ops-watch", "ops-watch"),
    ] {
        if interface.starts_with(prefix) {
            return Ok((binary, json!({})));
        }
    }
    if interface.starts_with("inspera-webhook") || interface.starts_with("digeks-proxy") {
        return Err(format!(
            "{interface} is a real-time interface: its calls come from outside and are not re-run; \
             redrive its dead-letter queue, or replay the FS list it fed"
        ));
    }
    Err(format!("no re-run is known for interface {interface}"))
}

/// Runs the command.
pub async fn run(command: RunCommand, context: &Context) -> Result<()> {
    match command {
        RunCommand::Rerun {
            execution_id,
            target,
        } => {
            let execution = context
                .execution_store()
                .await?
                .get(&execution_id)
                .await?
                .ok_or_else(|| Error::configuration(format!("no execution {execution_id}")))?;
            let (binary, event) =
                rerun_target(&execution.interface).map_err(Error::configuration)?;
            let function = target.function_name(binary);
            eprintln!(
                "re-running {} ({}) with {event}",
                execution.interface, function
            );
            let answer = invoke(context, &function, &event).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&answer).unwrap_or_default()
            );
            Ok(())
        }
        RunCommand::Replay {
            institution,
            kind,
            from,
            to,
            dry_run,
            force,
            target,
        } => {
            let event = json!({"replay": {"org_id": institution, "kind": kind, "from": from,
                "to": to, "dry_run": dry_run, "force": force}});
            let answer = invoke(context, &target.function_name("fs-poll"), &event).await?;
            print_replay(&answer);
            Ok(())
        }
    }
}

fn print_replay(report: &Value) {
    let listed = report["to_deliver"].as_array().cloned().unwrap_or_default();
    let verb = if report["dry_run"] == true {
        "would be delivered"
    } else {
        "queued for delivery"
    };
    println!(
        "{} changes in the window, {} already delivered, {} {verb}",
        report["in_window"],
        report["already_delivered"],
        listed.len()
    );
    for label in listed {
        println!("  {}", label.as_str().unwrap_or_default());
    }
    if let Some(id) = report["execution_id"].as_str() {
        println!("execution {id}");
    }
}

/// Invokes a function synchronously; a function error is an error naming the function.
async fn invoke(context: &Context, function: &str, event: &Value) -> Result<Value> {
    let lambda = aws_sdk_lambda::Client::new(&context.sdk_config().await?);
    let output = lambda
        .invoke()
        .function_name(function)
        .payload(Blob::new(event.to_string()))
        .send()
        .await
        .map_err(|e| {
            flyt::error::aws_error("Lambda", "Invoke", e)
                .context(format_args!("invoking {function}"))
        })?;
    let payload = output
        .payload()
        .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
        .unwrap_or_default();
    if let Some(error) = output.function_error() {
        return Err(Error::external(format!(
            "{function} failed ({error}): {payload}"
        )));
    }
    serde_json::from_str(&payload).map_err(|e| {
        Error::external(format!(
            "{function} answered something that is not JSON ({e}): {payload}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scheduled_interface_reruns_its_own_function() {
        assert_eq!(
            rerun_target("bokbasen-objects").unwrap(),
            ("bokbasen-fetch", json!({"reports": ["objects"]}))
        );
        assert_eq!(rerun_target("fs-poll-uio-klage").unwrap().0, "fs-poll");
        assert_eq!(
            rerun_target("wiseflow-poll-uib").unwrap().0,
            "wiseflow-poll"
        );
        assert_eq!(rerun_target("thesis-archive").unwrap().0, "thesis-archive");
        let webhook = rerun_target("inspera-webhook").unwrap_err();
        assert!(webhook.contains("real-time"), "{webhook}");
        assert!(rerun_target("bokbasen-other").is_err());
    }

    #[test]
    fn function_names_follow_the_stack() {
        let deployed = Target {
            stack: Some("flyt-prod".into()),
        };
        assert_eq!(deployed.function_name("fs-poll"), "flyt-prod-fs-poll");
        assert_eq!(Target { stack: None }.function_name("fs-poll"), "fs-poll");
    }
}
