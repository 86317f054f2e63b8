//! `flyt-local bench`: drains N Bokbasen changes through the whole platform and prints what it
//! cost. The sandbox runs on its own threads and the emulator in its own process, so the CPU
//! figure is Flyt's own (handlers plus the local pollers that stand in for Lambda's).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flyt_sandbox::{Sandbox, SandboxOptions};

use crate::emulator::{project_root, Emulator};
use crate::platform::{Local, LocalOptions};

/// Runs the benchmark and prints its figures.
pub async fn run(items: usize) -> Result<(), String> {
    let emulator = Emulator::start(&project_root())?;
    let objects = items * 55 / 100;
    let options = LocalOptions {
        sandbox: SandboxOptions {
            objects,
            descriptions: items - objects,
            ..SandboxOptions::default()
        },
        ..LocalOptions::default()
    };
    let sandbox_threads: Arc<Mutex<BTreeSet<u32>>> = Arc::default();
    let (sandbox, _runtime) =
        start_sandbox_on_own_threads(options.sandbox.clone(), sandbox_threads.clone())?;
    let local = Local::start_with_sandbox(&emulator.url, options, sandbox).await?;
    let cpu_before = process_cpu() - threads_cpu(&sandbox_threads.lock().expect("thread set"));
    local.fire_schedules().await?;
    let stats = local.drain(Duration::from_secs(3600), |_| {}).await?;
    let cpu =
        process_cpu() - threads_cpu(&sandbox_threads.lock().expect("thread set")) - cpu_before;
    let delivered = local.sandbox.alma.records().len() as f64;
    let handler = local.handler_requests.by_service();
    let pollers = local.poller_requests.by_service();
    let handler_total: u64 = handler.values().sum();
    let poller_total: u64 = pollers.values().sum();
    println!("items seeded               {items}");
    println!("items delivered to Alma    {delivered}");
    println!(
        "wall time                  {:.1} s",
        stats.elapsed.as_secs_f64()
    );
    println!(
        "throughput                 {:.1} items/s (the emulator sets the pace)",
        delivered / stats.elapsed.as_secs_f64()
    );
    for (service, count) in &handler {
        println!(
            "AWS requests/item, {service:<12} {:.3} (handlers)",
            *count as f64 / delivered
        );
    }
    println!(
        "AWS requests/item, handlers  {:.3}",
        handler_total as f64 / delivered
    );
    println!(
        "AWS requests/item, pollers   {:.3} (Lambda's event source mapping on AWS)",
        poller_total as f64 / delivered
    );
    println!(
        "AWS requests/item, all       {:.3}",
        (handler_total + poller_total) as f64 / delivered
    );
    println!("Flyt CPU per 1,000 items   {:.0} ms (handlers + local pollers; sandbox and emulator excluded)", cpu.as_secs_f64() * 1000.0 * 1000.0 / delivered);
    println!(
        "peak memory (process)      {} MiB (includes the sandbox's seeded data)",
        peak_rss_kib() / 1024
    );
    for function in ["bokbasen-fetch", "alma-forward"] {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| project_root().join("target"), Into::into);
        let zip = target.join(format!("lambda/{function}/bootstrap.zip"));
        match std::fs::metadata(&zip) {
            Ok(meta) => println!(
                "{function:<26} bootstrap.zip {:.1} MiB",
                meta.len() as f64 / 1_048_576.0
            ),
            Err(_) => {
                println!("{function:<26} bootstrap.zip not built (run infra/scripts/bench.sh)")
            }
        }
    }
    Ok(())
}

fn start_sandbox_on_own_threads(
    options: SandboxOptions,
    threads: Arc<Mutex<BTreeSet<u32>>>,
) -> Result<(Sandbox, tokio::runtime::Runtime), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .on_thread_start(move || {
            if let Some(tid) = current_thread_id() {
                threads.lock().expect("thread set").insert(tid);
            }
        })
        .build()
        .map_err(|e| e.to_string())?;
    let sandbox = std::thread::scope(|scope| {
        scope
            .spawn(|| runtime.block_on(async { runtime.spawn(Sandbox::start(options)).await }))
            .join()
            .expect("sandbox start thread")
    })
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("cannot start the sandbox: {e}"))?;
    Ok((sandbox, runtime))
}

fn current_thread_id() -> Option<u32> {
    std::fs::read_link("/proc/thread-self")
        .ok()?
        .file_name()?
        .to_str()?
        .parse()
        .ok()
}

/// CPU time (user + system) of this process.
fn process_cpu() -> Duration {
    stat_cpu("/proc/self/stat")
}

fn threads_cpu(threads: &BTreeSet<u32>) -> Duration {
    threads
        .iter()
        .map(|tid| stat_cpu(&format!("/proc/self/task/{tid}/stat")))
        .sum()
}

fn stat_cpu(path: &str) -> Duration {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let after_name = text.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
