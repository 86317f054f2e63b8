//! `flyt-local`: runs Flyt on this machine (`run`), measures it (`bench`), and redrives a
//! dead-letter queue on the emulator or on AWS (`redrive`).

use std::time::Duration;

use clap::{Parser, Subcommand};
use flyt_local::report::{print_appeals_report, print_progress, print_report, print_thesis_report};
use flyt_local::{bench, bench_api, Emulator, Local, LocalOptions};
use flyt_sandbox::{Faults, SandboxOptions};

/// The thesis archive's function: its sweep runs last in a round.
const THESIS_ARCHIVE: &str = "ThesisArchiveFunction";

#[derive(Parser)]
#[command(
    name = "flyt-local",
    about = "Flyt on one machine: local AWS emulator, sandbox, schedules and queues"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Starts the emulator and the sandbox, fires every schedule and drains every queue; repeats
    /// until stopped (Ctrl-C), or once with --once.
    Run {
        /// Fire each schedule once, drain every queue, print the report and exit.
        #[arg(long)]
        once: bool,
        /// Seeded Bokbasen object changes.
        #[arg(long, default_value_t = 1200)]
        objects: usize,
        /// Seeded Bokbasen description changes.
        #[arg(long, default_value_t = 1000)]
        descriptions: usize,
        /// Fraction of sandbox requests that fail (split evenly into 5xx, timeouts and 429s).
        #[arg(long, default_value_t = 0.0)]
        fault_rate: f64,
        /// Seconds between schedule firings when running until stopped.
        #[arg(long, default_value_t = 60)]
        every: u64,
    },
    /// Drains N items and prints items/s, AWS requests per item, handler CPU and peak memory.
    Bench {
        /// Bokbasen changes to drain (split 55/45 between objects and descriptions).
        #[arg(long, default_value_t = 3000)]
        items: usize,
    },
    /// Sends requests through the local gateway, authorizer and DigEks proxy; prints requests/s,
    /// p50/p99 latency and the authorizer's share, with its cache on and off.
    BenchApi {
        /// Requests per pass.
        #[arg(long, default_value_t = 3000)]
        requests: usize,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Moves a dead-letter queue's messages back to their source queue. Uses the AWS environment
    /// (AWS_PROFILE / AWS_REGION / AWS_ENDPOINT_URL), so it works on AWS and on the emulator.
    Redrive {
        /// URL of the dead-letter queue.
        #[arg(long)]
        dlq_url: String,
        /// Destination for messages that do not name their source queue.
        #[arg(long)]
        to: Option<String>,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            once,
            objects,
            descriptions,
            fault_rate,
            every,
        } => run(once, objects, descriptions, fault_rate, every).await,
        Command::Bench { items } => bench::run(items).await,
        Command::BenchApi {
            requests,
            concurrency,
        } => bench_api::run(requests, concurrency.max(1)).await,
        Command::Redrive { dlq_url, to } => redrive(&dlq_url, to.as_deref()).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("flyt-local: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(
    once: bool,
    objects: usize,
    descriptions: usize,
    fault_rate: f64,
    every: u64,
) -> Result<(), String> {
    // The report and the progress line are the run's output; the functions' own JSON logs show
    // warnings and errors unless RUST_LOG asks for more.
    flyt::observability::init_logging_with(std::io::stderr, "warn");
    let root = flyt_local::emulator::project_root();
    let emulator = Emulator::start(&root)?;
    let options = LocalOptions {
        sandbox: SandboxOptions {
            objects,
            descriptions,
            // A thesis per institution whose candidate appealed: held back from the archive.
            thesis_appeals: true,
            ..SandboxOptions::default()
        },
        ..LocalOptions::default()
    };
    let local = Local::start(&emulator.url, options).await?;
    println!("emulator  {}", emulator.url);
    println!(
        "sandbox   Bokbasen {}  Alma {}  FS {}  WISEflow {}  Inspera {}",
        local.sandbox.bokbasen_url,
        local.sandbox.alma_url,
        local.sandbox.fs_url,
        local.sandbox.wiseflow_url,
        local.sandbox.inspera_url
    );
    println!(
        "gateway   {} (webhook and DigEks routes of template.yaml)",
        local.gateway.url
    );
    println!(
        "log page  {} (sign in at the sandbox IdP {} as one of its test users)",
        local.log_overview_url(),
        local.sandbox.idp_url
    );
    println!("stack     {} (from template.yaml)", local.stack.name);
    if fault_rate > 0.0 {
        let faults = Faults {
            error_rate: fault_rate / 3.0,
            timeout_rate: fault_rate / 3.0,
            timeout_delay_ms: 2_000,
            throttle_rate: fault_rate / 3.0,
            retry_after_secs: 1,
            down: false,
            error_message: None,
        };
        local.sandbox.bokbasen.set_faults(faults.clone());
        local.sandbox.alma.set_faults(faults.clone());
        local.sandbox.fs.set_faults(faults.clone());
        local.sandbox.wiseflow.set_faults(faults.clone());
        local.sandbox.inspera.set_faults(faults);
        println!(
            "faults    {:.0}% of sandbox requests fail (5xx, timeouts, 429)",
            fault_rate * 100.0
        );
    }
    let mut first_round = true;
    loop {
        println!("firing schedules");
        // The thesis sweep runs after this round's appeals and explanation requests are
        // dispatched and answered (`archive_theses` below), so the holds they open are in place
        // before a thesis is queued.
        let functions: Vec<String> = local
            .stack
            .functions
            .keys()
            .filter(|id| *id != THESIS_ARCHIVE)
            .cloned()
            .collect();
        for id in functions {
            for (schedule, answer) in local.fire_schedule(&id).await? {
                println!("  {schedule}: {answer}");
            }
        }
        let stats = local
            .drain(Duration::from_secs(3600), |depths| {
                print_progress(depths, &local)
            })
            .await?;
        println!();
        print_report(&local, &stats).await?;
        let (given, decided, answered) = local.graders_answer().await?;
        println!(
            "graders answered: Inspera gave {given} explanations and decided {decided} appeals (webhooks); WISEflow accepted {answered} responses (polled)"
        );
        local
            .drain(Duration::from_secs(3600), |depths| {
                print_progress(depths, &local)
            })
            .await?;
        println!();
        print_appeals_report(&local).await?;
        let sweep = local.archive_theses().await?;
        print_thesis_report(&local, &sweep).await?;
        if first_round {
            // Keys are issued once: a client holds at most two.
            flyt_local::digeks_demo::exercise(&local).await?;
            first_round = false;
        }
        if once {
            return Ok(());
        }
        println!("next schedule run in {every}s (Ctrl-C to stop)");
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(every)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

async fn redrive(dlq_url: &str, to: Option<&str>) -> Result<(), String> {
    let aws = flyt::aws::AwsClients::from_environment().await;
    let sender = flyt::sender::Sender::new(aws.sqs.clone(), flyt::retry::RetryPolicy::default(), 4);
    let report = flyt::redrive::redrive(&aws.sqs, &sender, dlq_url, to, |moved| {
        eprint!("\rmoved {moved}");
    })
    .await
    .map_err(|e| e.to_string())?;
    eprintln!();
    for (queue, moved) in &report.moved {
        println!("{moved} messages -> {queue}");
    }
    println!("{} messages redriven", report.total());
    Ok(())
}
