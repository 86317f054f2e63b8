//! `flyt`: the operators' command line. Parses the arguments, runs the command, and turns a
//! failure into its message on stderr and a non-zero exit code.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = flyt_cli::Cli::parse();
    match flyt_cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("flyt: {}", error.message());
            ExitCode::FAILURE
        }
    }
}
