//! `flyt`, the operators' command line. One module per command group, each with its own clap
//! subcommand enum and a `run` that executes it:
//!
//! - [`clients`]: the DigEks proxy's clients — their grants and passwords.
//! - [`keys`]: the clients' API keys — issue, revoke, show.
//! - [`executions`]: what ran and how it went — list, show, export as XLSX or CSV.
//! - [`dlq`]: the dead-letter queues — list, peek, redrive.
//! - [`invoke`]: running a step again — re-run an execution, replay an FS list over a window.
//! - [`digest`]: who gets an institution's daily digest e-mail.
//! - [`viewers`]: who may see an institution's log overview.
//! - [`preflight`]: before go-live, the real systems' read-only operations against the contracts.
//!
//! [`context`] holds what every group shares (the global flags, the AWS clients); [`validate`]
//! the pure checks of arguments; [`output`] the plain-text layout.

pub mod clients;
pub mod context;
pub mod digest;
pub mod dlq;
pub mod executions;
pub mod invoke;
pub mod keys;
pub mod output;
pub mod preflight;
pub mod validate;
pub mod viewers;

use clap::{Parser, Subcommand};

use crate::context::{Context, GlobalArgs};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "flyt",
    version,
    about = "Operates Flyt: executions, dead-letter queues, re-runs and replays, the DigEks proxy's clients and keys",
    long_about = "Operates Flyt: executions, dead-letter queues, re-runs and replays, the DigEks proxy's clients and keys.\n\n\
        Region and credentials come from the standard AWS environment (AWS_PROFILE, AWS_REGION, \
        AWS_ACCESS_KEY_ID, ...); AWS_ENDPOINT_URL points it at an emulator instead."
)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command group and command.
    #[command(subcommand)]
    pub command: Command,
}

/// The command groups.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The DigEks proxy's clients: their grants and passwords.
    #[command(subcommand)]
    Clients(clients::ClientsCommand),
    /// The clients' API keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Executions: what ran, how it went, and what to do about its errors.
    #[command(subcommand)]
    Executions(executions::ExecutionsCommand),
    /// Dead-letter queues: what is parked there and why, and moving it back.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Running a step again: re-run an execution, replay an FS list over a window.
    #[command(subcommand)]
    Run(invoke::RunCommand),
    /// Who gets an institution's daily digest e-mail.
    #[command(subcommand)]
    Digest(digest::DigestCommand),
    /// Who may see an institution's log overview.
    #[command(subcommand)]
    Viewers(viewers::ViewersCommand),
    /// Before go-live: call every configured system's read-only operations with the stored
    /// credentials and say, per contract element, whether it holds; non-zero when one differs.
    Preflight(preflight::PreflightArgs),
}

/// Runs a parsed command line. The error's message is what to show the operator.
pub async fn run(cli: Cli) -> flyt::Result<()> {
    let context = Context::new(cli.global);
    match cli.command {
        Command::Clients(command) => clients::run(command, &context).await,
        Command::Keys(command) => keys::run(command, &context).await,
        Command::Executions(command) => executions::run(command, &context).await,
        Command::Dlq(command) => dlq::run(command, &context).await,
        Command::Run(command) => invoke::run(command, &context).await,
        Command::Digest(command) => digest::run(command, &context).await,
        Command::Viewers(command) => viewers::run(command, &context).await,
        Command::Preflight(args) => preflight::run(args, &context).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_clients_table_flag_is_accepted_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "flyt",
            "keys",
            "show",
            "0123456789ab",
            "--clients-table",
            "Config",
        ])
        .unwrap();
        assert_eq!(cli.global.clients_table.as_deref(), Some("Config"));
    }
}
