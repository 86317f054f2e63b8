//! `flyt-local bench-api`: the DigEks proxy's throughput and latency through the local gateway,
//! authorizer and proxy against the sandbox's FS — once with the authorizer's answers cached (as
//! deployed) and once with the cache off, so the authorizer's share is seen on its own. In the
//! same run, the same requests go straight to the sandbox's FS: the proxy's overhead is its
//! function's time less that direct call's, at p50 and p99 (the target is p99 ≤ 5 ms).

use std::time::{Duration, Instant};

use flyt::api_clients::ApiClient;
use flyt::institution::ExamSystem;
use futures::stream::{self, StreamExt};
use serde_json::json;

use crate::emulator::{project_root, Emulator};
use crate::platform::{Local, LocalOptions};

/// Runs both passes and prints their figures.
pub async fn run(requests: usize, concurrency: usize) -> Result<(), String> {
    let emulator = Emulator::start(&project_root())?;
    println!("DigEks proxy: {requests} requests per pass, {concurrency} at a time, against the sandbox's FS");
    for cache_seconds in [300u64, 0] {
        let mut options = LocalOptions {
            parameters: [(
                "AuthorizerCacheSeconds".to_owned(),
                cache_seconds.to_string(),
            )]
            .into(),
            ..LocalOptions::default()
        };
        // The proxy as deployed: its day's execution written in batches, not after every call.
        options.function_env.remove("digeks-proxy");
        let local = Local::start(&emulator.url, options).await?;
        pass(&local, requests, concurrency, cache_seconds).await?;
    }
    Ok(())
}

async fn pass(
    local: &Local,
    requests: usize,
    concurrency: usize,
    cache_seconds: u64,
) -> Result<(), String> {
    let key = local
        .digeks_client(&ApiClient {
            client_id: "bench".into(),
            exam_system: ExamSystem::Inspera,
            institutions: ["185".to_owned()].into(),
            rate_limit_per_minute: 1_000_000,
            password_hash: None,
            active: true,
        })
        .await?;
    let exam = local.sandbox.fs.exams("185")[0].clone();
    let grades = json!({"vurdId": exam.assessment_id, "karakterer": exam.candidates.iter().take(20)
        .map(|c| json!({"kandidatnr": c.candidate_number, "karakter": exam.grade_scale.grades[0]})).collect::<Vec<_>>()});
    let base = local.gateway.url.clone();
    let http = reqwest::Client::new();
    let authorization = format!("Bearer {key}");
    // One of each kind in turn: a list, an exam's info, a grade validation of 20 candidates.
    let send = |i: usize| {
        let http = http.clone();
        let authorization = authorization.clone();
        let request = match i % 3 {
            0 => http.get(format!("{base}/v1/eksamen/liste?institusjonsnr=185")),
            1 => http.get(format!("{base}/v1/eksamen/INSPERA/{}", exam.assessment_id)),
            _ => http
                .post(format!("{base}/v1/eksamen/sensur/INSPERA/valider"))
                .json(&grades),
        };
        async move {
            let started = Instant::now();
            let status = request
                .header("authorization", authorization)
                .send()
                .await
                .map(|r| r.status().as_u16());
            (status, started.elapsed())
        }
    };
    for i in 0..30 {
        if let (Err(error), _) = send(i).await {
            return Err(format!("the warm-up request failed: {error}"));
        }
    }
    local.gateway.take_timings();
    let started = Instant::now();
    let results: Vec<_> = stream::iter(0..requests)
        .map(send)
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let wall = started.elapsed();
    let timings = local.gateway.take_timings();
    let direct_fs = DirectFs::new(local, &exam.assessment_id, &grades);
    let mut direct = direct_fs.run(requests, concurrency).await?;
    let mut function = timings.function.clone();
    // One at a time, each request straight to FS and then through the proxy: the difference is
    // what the proxy adds to that request, without the load of the others.
    let mut added = Vec::new();
    for i in 0..requests.min(300) {
        let direct_one = direct_fs.send(i).await?;
        local.gateway.take_timings();
        if let (Err(error), _) = send(i).await {
            return Err(format!("request {i} failed: {error}"));
        }
        let through = local.gateway.take_timings().function;
        added.push(through[0].saturating_sub(direct_one));
    }
    let failed = results
        .iter()
        .filter(|(s, _)| !matches!(s, Ok(200)))
        .count();
    let mut latencies: Vec<Duration> = results.iter().map(|(_, d)| *d).collect();
    let total: Duration = latencies.iter().sum();
    let authorizer_total: Duration = timings.authorizer.iter().sum();
    let mut authorizer = timings.authorizer.clone();
    println!();
    println!(
        "authorizer cache {}",
        if cache_seconds > 0 {
            format!("{cache_seconds} s (as deployed)")
        } else {
            "off (every request authorized)".into()
        }
    );
    println!(
        "  requests/s               {:.0}",
        requests as f64 / wall.as_secs_f64()
    );
    println!(
        "  latency p50 / p99        {} / {}",
        ms(percentile(&mut latencies, 50)),
        ms(percentile(&mut latencies, 99))
    );
    println!("  failed requests          {failed}");
    let (direct_p50, direct_p99) = (percentile(&mut direct, 50), percentile(&mut direct, 99));
    let (function_p50, function_p99) =
        (percentile(&mut function, 50), percentile(&mut function, 99));
    println!(
        "  FS direct p50 / p99      {} / {}",
        ms(direct_p50),
        ms(direct_p99)
    );
    println!(
        "  proxy function p50 / p99 {} / {}",
        ms(function_p50),
        ms(function_p99)
    );
    println!(
        "  proxy overhead p50 / p99 {} / {} (function less FS direct, under this load)",
        ms(function_p50.saturating_sub(direct_p50)),
        ms(function_p99.saturating_sub(direct_p99))
    );
    println!(
        "  added per call p50 / p99 {} / {} ({} calls one at a time; target p99 <= 5 ms)",
        ms(percentile(&mut added, 50)),
        ms(percentile(&mut added, 99)),
        added.len()
    );
    println!(
        "  authorizer invocations   {} (cache hits {})",
        timings.authorizer.len(),
        timings.authorizer_cache_hits
    );
    if !authorizer.is_empty() {
        println!(
            "  authorizer p50 / p99     {} / {}",
            ms(percentile(&mut authorizer, 50)),
            ms(percentile(&mut authorizer, 99))
        );
    }
    println!(
        "  authorizer share         {:.1} % of all request time",
        100.0 * authorizer_total.as_secs_f64() / total.as_secs_f64().max(f64::EPSILON)
    );
    if failed > 0 {
        return Err(format!("{failed} of {requests} requests failed"));
    }
    Ok(())
}

/// The same mix of requests sent straight to the sandbox's FS with the proxy's FS credentials, over
/// one connection pool as the proxy's FS client keeps.
struct DirectFs {
    http: reqwest::Client,
    fs: String,
    username: String,
    password: String,
    vurd_id: String,
    grades: serde_json::Value,
}

impl DirectFs {
    fn new(local: &Local, vurd_id: &str, grades: &serde_json::Value) -> Self {
        let credentials = crate::platform::LocalOptions::default().sandbox;
        DirectFs {
            http: reqwest::Client::new(),
            fs: local.sandbox.fs_url.clone(),
            username: credentials.fs_username,
            password: credentials.fs_password,
            vurd_id: vurd_id.to_owned(),
            grades: grades.clone(),
        }
    }

    /// Request `i` of the mix (the proxy pass's `i`-th, straight to FS): its latency.
    async fn send(&self, i: usize) -> Result<Duration, String> {
        let fs = &self.fs;
        let request = match i % 3 {
            0 => self
                .http
                .get(format!("{fs}/eksamen/liste?institusjonsnr=185")),
            1 => self
                .http
                .get(format!("{fs}/eksamen/INSPERA/{}", self.vurd_id)),
            _ => self
                .http
                .post(format!("{fs}/eksamen/sensur/INSPERA/valider"))
                .json(&self.grades),
        }
        .basic_auth(&self.username, Some(&self.password));
        let started = Instant::now();
        let status = request.send().await.map_err(|e| e.to_string())?.status();
        if status != 200 {
            return Err(format!("direct FS request {i} answered {status}"));
        }
        Ok(started.elapsed())
    }

    /// The whole mix, `concurrency` at a time.
    async fn run(&self, requests: usize, concurrency: usize) -> Result<Vec<Duration>, String> {
        stream::iter(0..requests)
            .map(|i| self.send(i))
            .buffer_unordered(concurrency)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }
}

/// The `p`-th percentile (nearest rank).
fn percentile(values: &mut [Duration], p: usize) -> Duration {
    values.sort();
    let rank = (values.len() * p).div_ceil(100).max(1);
    values[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&mut values, 50), Duration::from_millis(50));
        assert_eq!(percentile(&mut values, 99), Duration::from_millis(99));
        let mut one = vec![Duration::from_millis(7)];
        assert_eq!(percentile(&mut one, 99), Duration::from_millis(7));
    }
}
