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
    let sandbox_runtime = tracked_runtime(1)?;
    let handler_runtime = tracked_runtime(2)?;
    let sandbox = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                sandbox_runtime
                    .runtime
                    .block_on(Sandbox::start(options.sandbox.clone()))
            })
            .join()
            .expect("sandbox start thread")
    })
    .map_err(|e| format!("cannot start the sandbox: {e}"))?;
    let mut local = Local::start_with_sandbox(&emulator.url, options, sandbox).await?;
    local.invoke_on(handler_runtime.runtime.handle().clone());
    let cpu_before = handler_runtime.cpu();
    local.fire_schedule("BokbasenFetchFunction").await?;
    let stats = local.drain(Duration::from_secs(3600), |_| {}).await?;
    let cpu = handler_runtime.cpu() - cpu_before;
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
    println!(
        "handler CPU per 1,000 items {:.0} ms (the handlers' own runtime threads; pollers, sandbox and emulator excluded)",
        cpu.as_secs_f64() * 1000.0 * 1000.0 / delivered
    );
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
    drop(local);
    handler_runtime.runtime.shutdown_background();
    sandbox_runtime.runtime.shutdown_background();
    Ok(())
}

/// A tokio runtime whose worker threads are known, so their CPU time can be read.
struct TrackedRuntime {
    runtime: tokio::runtime::Runtime,
    threads: Arc<Mutex<BTreeSet<u32>>>,
}

impl TrackedRuntime {
    /// CPU time (user + system) of the runtime's threads so far.
    fn cpu(&self) -> Duration {
        self.threads
            .lock()
            .expect("thread set")
            .iter()
            .map(|tid| stat_cpu(&format!("/proc/self/task/{tid}/stat")))
            .sum()
    }
}

fn tracked_runtime(workers: usize) -> Result<TrackedRuntime, String> {
    let threads: Arc<Mutex<BTreeSet<u32>>> = Arc::default();
    let recorded = threads.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .on_thread_start(move || {
            if let Some(tid) = current_thread_id() {
                recorded.lock().expect("thread set").insert(tid);
            }
        })
        .build()
        .map_err(|e| e.to_string())?;
    Ok(TrackedRuntime { runtime, threads })
}

fn current_thread_id() -> Option<u32> {
    std::fs::read_link("/proc/thread-self")
        .ok()?
        .file_name()?
        .to_str()?
        .parse()
        .ok()
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
