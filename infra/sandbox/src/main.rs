//! Runs the sandbox as its own process.
//!
//! `flyt-sandbox [--bokbasen-port N] [--alma-port N] [--fs-port N] [--wiseflow-port N]
//! [--inspera-port N] [--slack-port N] [--idp-port N]
//! [--objects N] [--descriptions N] [--seed N] [--alma-per-second-limit N]
//! [--theses-per-institution N]`
//! prints one JSON line with every base URL, then serves until SIGTERM or
//! ctrl-c.

use std::io::Write;
use std::process::ExitCode;

use flyt_sandbox::{Sandbox, SandboxOptions, SandboxPorts};

const USAGE: &str = "usage: flyt-sandbox [--bokbasen-port N] [--alma-port N] [--fs-port N] \
                     [--wiseflow-port N] [--inspera-port N] [--slack-port N] [--idp-port N] \
                     [--objects N] [--descriptions N] [--seed N] [--alma-per-second-limit N] \
                     [--theses-per-institution N]";

/// Command-line settings.
struct Args {
    options: SandboxOptions,
    bokbasen_port: u16,
    alma_port: u16,
    fs_port: u16,
    wiseflow_port: u16,
    inspera_port: u16,
    slack_port: u16,
    idp_port: u16,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        options: SandboxOptions::default(),
        bokbasen_port: 0,
        alma_port: 0,
        fs_port: 0,
        wiseflow_port: 0,
        inspera_port: 0,
        slack_port: 0,
        idp_port: 0,
    };
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let invalid = |_| format!("invalid value for {flag}: {value}");
        match flag.as_str() {
            "--bokbasen-port" => parsed.bokbasen_port = value.parse().map_err(invalid)?,
            "--alma-port" => parsed.alma_port = value.parse().map_err(invalid)?,
            "--fs-port" => parsed.fs_port = value.parse().map_err(invalid)?,
            "--wiseflow-port" => parsed.wiseflow_port = value.parse().map_err(invalid)?,
            "--inspera-port" => parsed.inspera_port = value.parse().map_err(invalid)?,
            "--slack-port" => parsed.slack_port = value.parse().map_err(invalid)?,
            "--idp-port" => parsed.idp_port = value.parse().map_err(invalid)?,
            "--objects" => parsed.options.objects = value.parse().map_err(invalid)?,
            "--descriptions" => parsed.options.descriptions = value.parse().map_err(invalid)?,
            "--seed" => parsed.options.seed = value.parse().map_err(invalid)?,
            "--alma-per-second-limit" => {
                parsed.options.alma_per_second_limit = value.parse().map_err(invalid)?
            }
            "--theses-per-institution" => {
                parsed.options.theses_per_institution = value.parse().map_err(invalid)?
            }
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    Ok(parsed)
}

/// Waits for SIGTERM or ctrl-c. The SIGTERM handler is installed when this
/// is called, so call it before announcing readiness.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        #[cfg(unix)]
        if let Some(mut terminate) = terminate {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let shutdown = shutdown_signal();
    let ports = SandboxPorts {
        bokbasen: args.bokbasen_port,
        alma: args.alma_port,
        fs: args.fs_port,
        wiseflow: args.wiseflow_port,
        inspera: args.inspera_port,
        slack: args.slack_port,
        idp: args.idp_port,
    };
    let started = Sandbox::start_with_ports(args.options, ports).await;
    let sandbox = match started {
        Ok(sandbox) => sandbox,
        Err(error) => {
            eprintln!("flyt-sandbox: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let line = serde_json::json!({
        "bokbasen_url": sandbox.bokbasen_url,
        "alma_url": sandbox.alma_url,
        "fs_url": sandbox.fs_url,
        "wiseflow_url": sandbox.wiseflow_url,
        "inspera_url": sandbox.inspera_url,
        "slack_url": sandbox.slack_url,
        "idp_url": sandbox.idp_url,
    });
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(stdout);
    shutdown.await;
    drop(sandbox);
    ExitCode::SUCCESS
}
