//! Each function's real binary, run under cargo-lambda's local Lambda runtime, answers every sample
//! event in `events/<function>/`.
//!
//! `cargo lambda watch --only-lambda-apis` emulates the Lambda Runtime API and the Invoke API on
//! loopback without compiling anything; the already built binaries are started against it, so what
//! is tested is the whole Lambda path: `main.rs` (configuration from the process environment, AWS
//! clients from `AWS_ENDPOINT_URL`, `lambda_runtime::run`), the event's deserialisation and the
//! response's serialisation, and the sample events themselves. Their configuration is the local
//! stack's (`template.yaml` on the emulator, the sandbox's Bokbasen and Alma).
//!
//! A genuine webhook sample cannot stay fresh on disk (the receiver refuses stale timestamps), so
//! `events/inspera-webhook/genuine.json` is sent with the current time, signed again with the
//! local webhook secret; the appeal decision and the thesis its samples name are the default
//! seed's, set up in the sandbox as the flows before them would have.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flyt::clients::inspera::{InsperaClient, InsperaCredentials};
use flyt::config::Vars;
use flyt::signature::inspera_signature;
use flyt_local::emulator::project_root;
use flyt_local::platform::LOCAL_WEBHOOK_SECRET;
use flyt_local::stack::REGION;
use flyt_local::{Emulator, Local, LocalOptions};
use serde_json::Value;

/// The host the sample events name; replaced by the sandbox's Bokbasen when run locally.
const BOKBASEN_HOST: &str = "https://api.bokbasen.io";
/// How long one invocation may take before the test gives up.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(40);
/// The functions under test: binary name = cargo-lambda function name = events folder.
const FUNCTIONS: [&str; 12] = [
    "bokbasen-fetch",
    "alma-forward",
    "fs-poll",
    "exam-dispatch",
    "inspera-webhook",
    "wiseflow-poll",
    "fs-return",
    "thesis-archive",
    "digeks-authorizer",
    "digeks-proxy",
    "ops-watch",
    "log-overview",
];

/// A process started by this test, killed (and reaped) when dropped, also when the test panics.
struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(name: &str, mut command: Command) -> Process {
        let log = std::env::temp_dir().join(format!(
            "flyt-lambda-runtime-{}-{name}.log",
            std::process::id()
        ));
        let file = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().expect("log file handle")))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        Process {
            name: name.to_owned(),
            child,
            log,
        }
    }

    /// `Some(description)` once the process has exited.
    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("{} exited ({status})", self.name)),
            Ok(None) => None,
            Err(e) => Some(format!("{} cannot be waited on: {e}", self.name)),
        }
    }

    /// The end of the process's output, for failure messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text
            .char_indices()
            .rev()
            .nth(4000)
            .map(|(i, _)| i)
            .unwrap_or(0);
        format!(
            "--- {} output ({}) ---\n{}",
            self.name,
            self.log.display(),
            &text[start..]
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// The target profile folder of this test binary (`<target>/debug/deps/lambda_runtime-<hash>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| panic!("{} is not in <target>/<profile>/deps", exe.display()))
}

/// An already built function binary.
fn function_binary(name: &str) -> PathBuf {
    let path = profile_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` first (or `cargo test --workspace`, \
         which builds every binary)",
        path.display()
    );
    path
}

/// cargo-lambda: the project's `.venv` copy (installed by `infra/scripts/setup.sh`), else `PATH`.
fn cargo_lambda(root: &Path) -> PathBuf {
    let venv = root.join(".venv/bin/cargo-lambda");
    if venv.is_file() {
        return venv;
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("cargo-lambda"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "cargo-lambda is missing: run `bash infra/scripts/setup.sh` (it installs {})",
                venv.display()
            )
        })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Starts `cargo lambda watch --only-lambda-apis` on loopback and waits until it accepts requests.
async fn start_runtime_emulator(root: &Path, port: u16) -> Process {
    let mut command = Command::new(cargo_lambda(root));
    command
        .current_dir(root)
        .args(["lambda", "watch", "--only-lambda-apis", "--ignore-changes"])
        .args(["-A", "127.0.0.1", "-P", &port.to_string()])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .env("RUST_LOG", "cargo_lambda=info,warn");
    let mut watch = Process::spawn("cargo-lambda-watch", command);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return watch;
        }
        if let Some(exit) = watch.exited() {
            panic!(
                "cargo lambda watch did not start: {exit}\n{}",
                watch.log_tail()
            );
        }
        assert!(
            Instant::now() < deadline,
            "cargo lambda watch did not listen on 127.0.0.1:{port} within 30 s\n{}",
            watch.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts `binary` against the runtime emulator with the local stack's configuration: exactly the
/// environment the template gives the function, with local values (the process environment is
/// cleared, as in Lambda).
fn start_function(root: &Path, local: &Local, binary: &str, port: u16) -> Process {
    let vars: &Vars = &local
        .stack
        .function(binary)
        .unwrap_or_else(|| panic!("the local stack has no function {binary}"))
        .vars;
    let mut command = Command::new(function_binary(binary));
    command.current_dir(root).env_clear();
    command.envs(vars.iter());
    for name in ["STATE_TABLE", "EXECUTIONS_TABLE"] {
        assert!(
            vars.get(name).is_some(),
            "{binary}: the local stack does not set {name}"
        );
    }
    command
        .env("RUST_LOG", "warn")
        .env("AWS_ENDPOINT_URL", &local.emulator_url)
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // What Lambda (and cargo-lambda for the functions it starts itself) sets. Each function
        // polls its own path: the runtime emulator routes `/.rt/<name>/...` to invocations of
        // `<name>`, while `/.rt/...` alone serves the default function `_`.
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{port}/.rt/{binary}"),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", binary)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512");
    if let Some(backtrace) = std::env::var_os("RUST_BACKTRACE") {
        command.env("RUST_BACKTRACE", backtrace);
    }
    Process::spawn(binary, command)
}

/// Invokes `name` through the emulator's Invoke API; fails fast if the function process exits.
async fn invoke(
    http: &reqwest::Client,
    port: u16,
    function: &mut Process,
    watch: &mut Process,
    label: &str,
    event: String,
) -> Value {
    let url = format!(
        "http://127.0.0.1:{port}/2015-03-31/functions/{}/invocations",
        function.name
    );
    let request = http
        .post(&url)
        .header("content-type", "application/json")
        .body(event)
        .timeout(INVOKE_TIMEOUT)
        .send();
    tokio::pin!(request);
    let response = loop {
        tokio::select! {
            response = &mut request => break response,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                for process in [&mut *function, &mut *watch] {
                    if let Some(exit) = process.exited() {
                        panic!("{label}: {exit} while invoked\n{}", process.log_tail());
                    }
                }
            }
        }
    };
    let response = response.unwrap_or_else(|e| {
        panic!(
            "{label}: no answer from {url}: {e}\n{}\n{}",
            function.log_tail(),
            watch.log_tail()
        )
    });
    let status = response.status();
    let body = response.text().await.expect("the response body");
    assert!(
        status.is_success(),
        "{label}: the invocation failed with {status}: {body}\n{}",
        function.log_tail()
    );
    serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{label}: the answer is not JSON ({e}): {body}"))
}

/// A sample event file.
struct Sample {
    /// `events/<function>/<file>`, for messages.
    label: String,
    /// The file name without `.json`.
    stem: String,
    /// The file's text.
    text: String,
    /// The parsed event.
    event: Value,
}

/// The sample events of `function`: start events (schedules) first, then SQS batches, each group by
/// file name. A drain step belongs to a running drain, as in a deployment where a schedule starts
/// the chain its steps continue.
fn sample_events(root: &Path, function: &str) -> Vec<Sample> {
    let folder = root.join("events").join(function);
    let mut samples: Vec<Sample> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", folder.display()))
        .map(|entry| entry.expect("a folder entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            let label = format!("events/{function}/{stem}.json");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let event =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{label} is not JSON: {e}"));
            Sample {
                label,
                stem,
                text,
                event,
            }
        })
        .collect();
    samples.sort_by(|a, b| {
        (a.event.get("Records").is_some(), &a.stem)
            .cmp(&(b.event.get("Records").is_some(), &b.stem))
    });
    assert!(
        !samples.is_empty(),
        "{} holds no sample event",
        folder.display()
    );
    samples
}

/// The ISBNs and reasons of the messages parked in a dead-letter queue (up to 10). Leaves them in
/// flight until their visibility timeout, so call it last.
async fn parked(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<(String, String)> {
    let output = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap_or_else(|e| panic!("cannot receive from {queue_url}: {e}"));
    output
        .messages()
        .iter()
        .map(|m| {
            let body: Value =
                serde_json::from_str(m.body().unwrap_or_default()).unwrap_or_default();
            let reason = m
                .message_attributes()
                .and_then(|a| a.get(flyt::batch::ATTR_ERROR_REASON))
                .and_then(|v| v.string_value())
                .unwrap_or("(no reason attribute)");
            (
                body["ISBN13"].as_str().unwrap_or("(no ISBN13)").to_owned(),
                reason.to_owned(),
            )
        })
        .collect()
}

/// `value` percent-encoded as in a query string.
fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// A webhook sample sent now: its body's `timestamp` set to the current time and signed again
/// with the local webhook secret, as Inspera would send it.
fn signed_now(text: &str) -> String {
    let mut event: Value = serde_json::from_str(text).expect("a webhook sample is JSON");
    let mut body: Value = serde_json::from_str(event["body"].as_str().expect("a body"))
        .expect("the webhook body is JSON");
    let now = chrono::Utc::now();
    body["timestamp"] = now
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        .into();
    let body = body.to_string();
    event["headers"]["x-inspera-signature"] =
        inspera_signature(LOCAL_WEBHOOK_SECRET.as_bytes(), body.as_bytes()).into();
    event["requestContext"]["timeEpoch"] = now.timestamp_millis().into();
    event["body"] = body.into();
    event.to_string()
}

/// The decided appeal `events/fs-return/appeal-decided.json` reports: the sample's candidate on
/// its test registers an appeal in the sandbox's Inspera (as exam-dispatch would), and Inspera's
/// graders decide it. Returns (vurdId, kandidatnr) of the decision FS must then hold.
async fn decide_the_samples_appeal(local: &Local, event: &Value) -> (String, String) {
    let record: Value = serde_json::from_str(event["Records"][0]["body"].as_str().unwrap())
        .expect("the record's body is JSON");
    let test_id = record["test_id"].as_u64().expect("a test id");
    let candidate = record["associated_id"]
        .as_str()
        .expect("a candidate")
        .to_owned();
    let test = local
        .sandbox
        .inspera
        .tests()
        .into_iter()
        .find(|t| t.test_id == test_id)
        .unwrap_or_else(|| panic!("the default seed's Inspera has no test {test_id}"));
    assert!(
        test.candidates.contains(&candidate),
        "candidate {candidate} sits test {test_id} with the default seed: {:?}",
        test.candidates
    );
    let options = LocalOptions::default().sandbox;
    let inspera = InsperaClient::new(
        flyt::http::client(Duration::from_secs(5)),
        format!("{}/api", local.sandbox.inspera_url),
        InsperaCredentials {
            client_id: options.inspera_client_id,
            api_key: options.inspera_api_key,
        },
        flyt::retry::RetryPolicy::default(),
    );
    inspera
        .register_appeal(test_id, &candidate)
        .await
        .expect("the appeal is registered in Inspera");
    assert_eq!(
        local.sandbox.inspera.decide_appeals(),
        1,
        "the one appeal decided"
    );
    assert!(
        local
            .sandbox
            .inspera
            .wait_for_webhooks(Duration::from_secs(60))
            .await
    );
    (test.external_test_id, candidate)
}

/// (category, reason) of every message parked in a dead-letter queue (up to 10).
async fn parked_reasons(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<(String, String)> {
    let output = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap_or_else(|e| panic!("cannot receive from {queue_url}: {e}"));
    output
        .messages()
        .iter()
        .map(|m| {
            let attribute = |name: &str| {
                m.message_attributes()
                    .and_then(|a| a.get(name))
                    .and_then(|v| v.string_value())
                    .unwrap_or("(none)")
                    .to_owned()
            };
            (
                attribute(flyt::batch::ATTR_ERROR_CATEGORY),
                attribute(flyt::batch::ATTR_ERROR_REASON),
            )
        })
        .collect()
}

/// Asserts that both records of a sample batch were parked as Mapping, with reasons containing
/// `expected` (one fragment per record, in any order).
async fn assert_both_parked(local: &Local, label: &str, dlq: &str, expected: [&str; 2]) {
    let url = local.stack.queue(dlq).url.clone();
    let parked = parked_reasons(&local.aws.sqs, &url).await;
    assert_eq!(
        parked.len(),
        2,
        "{label}: both records parked in {dlq}: {parked:?}"
    );
    for fragment in expected {
        assert!(
            parked
                .iter()
                .any(|(category, reason)| category == "Mapping" && reason.contains(fragment)),
            "{label}: a Mapping reason containing {fragment:?}: {parked:?}"
        );
    }
}

fn record_isbn(event: &Value, index: usize) -> String {
    let body: Value = serde_json::from_str(event["Records"][index]["body"].as_str().unwrap_or(""))
        .unwrap_or_default();
    body["ISBN13"].as_str().unwrap_or_default().to_owned()
}

fn batch_item_failures<'a>(label: &str, answer: &'a Value) -> &'a Vec<Value> {
    answer["batchItemFailures"].as_array().unwrap_or_else(|| {
        panic!("{label}: expected an SQS batch response {{\"batchItemFailures\": [...]}}, got {answer}")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_binary_answers_its_sample_events_under_the_lambda_runtime() {
    let root = project_root();
    // Fail on missing binaries before anything is started.
    for function in FUNCTIONS {
        function_binary(function);
    }
    let local = Local::start(Emulator::shared(), LocalOptions::default())
        .await
        .expect("the local platform starts");
    let port = free_port();
    let mut watch = start_runtime_emulator(&root, port).await;
    let mut processes: Vec<Process> = FUNCTIONS
        .iter()
        .map(|f| start_function(&root, &local, f, port))
        .collect();
    let http = reqwest::Client::new();
    let alma_dlq = local.stack.queue("AlmaDlq").url.clone();
    let mut answered = Vec::new();

    for function in processes.iter_mut() {
        let name = function.name.clone();
        for sample in sample_events(&root, &name) {
            let Sample {
                label,
                stem,
                text,
                event,
            } = sample;
            let mut text = text.replace(BOKBASEN_HOST, &local.sandbox.bokbasen_url);
            if (name.as_str(), stem.as_str()) == ("inspera-webhook", "genuine") {
                text = signed_now(&text);
            }
            let decided = if (name.as_str(), stem.as_str()) == ("fs-return", "appeal-decided") {
                Some(decide_the_samples_appeal(&local, &event).await)
            } else {
                None
            };
            let return_queue = local.stack.queue("ReturnQueue").url.clone();
            let queued_before = flyt::redrive::queue_depth(&local.aws.sqs, &return_queue)
                .await
                .expect("the return queue's depth");
            let dlq_before = flyt::redrive::queue_depth(&local.aws.sqs, &alma_dlq)
                .await
                .expect("the Alma DLQ's depth");

            let started = Instant::now();
            let answer = invoke(&http, port, function, &mut watch, &label, text).await;
            eprintln!("{label} answered in {:?}: {answer}", started.elapsed());

            // Any SQS-shaped sample must get a partial-batch response.
            if event.get("Records").is_some() {
                batch_item_failures(&label, &answer);
            }
            match (name.as_str(), stem.as_str()) {
                ("bokbasen-fetch", "schedule") => {
                    let reports = event["reports"]
                        .as_array()
                        .expect("the sample lists reports");
                    let outcomes = answer.as_array().unwrap_or_else(|| {
                        panic!("{label}: expected one outcome per report, got {answer}")
                    });
                    assert_eq!(
                        outcomes.len(),
                        reports.len(),
                        "{label}: one outcome per report: {answer}"
                    );
                    for (outcome, report) in outcomes.iter().zip(reports) {
                        assert!(
                            matches!(
                                outcome["outcome"].as_str(),
                                Some("started" | "already_running")
                            ),
                            "{label}: unexpected outcome {outcome}"
                        );
                        assert_eq!(
                            &outcome["report"], report,
                            "{label}: outcomes follow the reports"
                        );
                        assert!(
                            outcome["execution_id"]
                                .as_str()
                                .is_some_and(|s| !s.is_empty()),
                            "{label}: outcome without an execution id: {outcome}"
                        );
                    }
                }
                ("bokbasen-fetch", "drain-step") => {
                    // The sample's chain does not own the cursor: the schedule's chain (started
                    // just before) holds it, so the step is superseded and acknowledged.
                    let failures = batch_item_failures(&label, &answer);
                    assert!(
                        failures.is_empty(),
                        "{label}: a superseded step is acknowledged, not retried: {answer}"
                    );
                }
                ("alma-forward", "sqs-batch") => {
                    let failures = batch_item_failures(&label, &answer);
                    assert!(
                        failures.is_empty(),
                        "{label}: the valid item is applied and the invalid one parked, so nothing \
                         is left for redelivery: {answer}"
                    );
                    // Record 0 is a valid item (applied, or NoRecord when the sandbox's Alma
                    // has no such book); record 1 has an invalid ISBN check digit and is parked.
                    let valid = record_isbn(&event, 0);
                    let invalid = record_isbn(&event, 1);
                    let dlq_after = flyt::redrive::queue_depth(&local.aws.sqs, &alma_dlq)
                        .await
                        .expect("the Alma DLQ's depth");
                    assert_eq!(
                        dlq_after,
                        dlq_before + 1,
                        "{label}: exactly one item is parked in the Alma dead-letter queue \
                         (depth before {dlq_before}, after {dlq_after}); parked (ISBN, reason): {:?}",
                        parked(&local.aws.sqs, &alma_dlq).await
                    );
                    assert_eq!(
                        dlq_after, 1,
                        "{label}: the Alma DLQ holds exactly one message"
                    );
                    let parked = parked(&local.aws.sqs, &alma_dlq).await;
                    assert_eq!(
                        parked
                            .iter()
                            .map(|(isbn, _)| isbn.as_str())
                            .collect::<Vec<_>>(),
                        [invalid.as_str()],
                        "{label}: the parked item is the one with the invalid check digit, not \
                         the valid {valid}: {parked:?}"
                    );
                    let records = local.sandbox.alma.records();
                    assert!(
                        records.iter().all(|r| r.isbn != invalid),
                        "{label}: the invalid ISBN {invalid} never reached Alma"
                    );
                    eprintln!(
                        "{label}: {invalid} parked ({}); {valid} {}",
                        parked[0].1,
                        if records.iter().any(|r| r.isbn == valid) {
                            "applied in the sandbox's Alma"
                        } else {
                            "acknowledged without an Alma record (NoRecord)"
                        }
                    );
                }
                ("fs-poll", "schedule") => {
                    let reports = answer.as_array().expect("one report per list");
                    assert_eq!(
                        reports.len(),
                        4,
                        "{label}: 2 institutions x 2 lists: {answer}"
                    );
                    for report in reports {
                        assert_eq!(report["status"], "ok", "{label}: {report}");
                        assert!(report["queued"].as_u64().unwrap() > 0, "{label}: {report}");
                    }
                }
                ("exam-dispatch", "sqs-batch") => {
                    assert!(
                        batch_item_failures(&label, &answer).is_empty(),
                        "{label}: {answer}"
                    );
                    // Record 1: a candidate not on the test; record 2: no kandidatnr at all.
                    assert_both_parked(&local, &label, "DispatchDlq", ["100001", "no kandidatnr"])
                        .await;
                }
                ("inspera-webhook", "unsigned" | "forged") => {
                    assert_eq!(answer["statusCode"], 401, "{label}: {answer}");
                    let body = answer["body"].as_str().unwrap_or_default();
                    assert!(body.contains("X-Inspera-Signature"), "{label}: {body}");
                }
                ("inspera-webhook", "genuine") => {
                    assert_eq!(answer["statusCode"], 200, "{label}: {answer}");
                    let body = answer["body"].as_str().unwrap_or_default();
                    assert!(body.contains("queued"), "{label}: {body}");
                    let queued_after = flyt::redrive::queue_depth(&local.aws.sqs, &return_queue)
                        .await
                        .expect("the return queue's depth");
                    assert_eq!(
                        queued_after,
                        queued_before + 1,
                        "{label}: the genuine call was queued for fs-return"
                    );
                }
                ("fs-return", "appeal-decided") => {
                    assert!(
                        batch_item_failures(&label, &answer).is_empty(),
                        "{label}: {answer}"
                    );
                    let (vurd_id, candidate) = decided.clone().expect("the appeal was decided");
                    let registered: Vec<_> = local
                        .sandbox
                        .fs
                        .registered_decisions()
                        .into_iter()
                        .filter(|d| d.assessment_id == vurd_id && d.candidate_number == candidate)
                        .collect();
                    assert_eq!(registered.len(), 1, "{label}: the decision is in FS");
                    assert_eq!(registered[0].count, 1, "{label}: posted once");
                    assert_eq!(registered[0].exam_system, "INSPERA", "{label}");
                    let parked = flyt::redrive::queue_depth(
                        &local.aws.sqs,
                        &local.stack.queue("ReturnDlq").url,
                    )
                    .await
                    .expect("the return DLQ's depth");
                    assert_eq!(parked, 0, "{label}: nothing parked");
                }
                ("thesis-archive", "archive") => {
                    assert!(
                        batch_item_failures(&label, &answer).is_empty(),
                        "{label}: {answer}"
                    );
                    let record: Value =
                        serde_json::from_str(event["Records"][0]["body"].as_str().unwrap())
                            .unwrap();
                    let thesis_id = record["thesis_id"].as_str().unwrap();
                    let thesis = local
                        .sandbox
                        .wiseflow
                        .theses()
                        .into_iter()
                        .find(|t| {
                            thesis_id.ends_with(&format!(
                                "#{}#{}",
                                t.flow_id.unwrap_or_default(),
                                t.submission_id.unwrap_or_default()
                            ))
                        })
                        .unwrap_or_else(|| panic!("{label}: the sandbox serves {thesis_id}"));
                    assert_eq!(
                        thesis.case,
                        flyt_sandbox::ThesisCase::Ordinary,
                        "{label}: an ordinary thesis of the default seed"
                    );
                    let stored: Vec<String> = local
                        .aws
                        .s3
                        .list_objects_v2()
                        .bucket(&local.stack.buckets["ArchiveBucket"])
                        .prefix("uib/")
                        .send()
                        .await
                        .expect("the archive bucket lists")
                        .contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_owned))
                        .collect();
                    let manifest = format!(
                        "/flow-{}/{}/manifest.json",
                        thesis.flow_id.unwrap(),
                        thesis.candidate_number
                    );
                    assert_eq!(
                        stored.iter().filter(|k| k.ends_with(&manifest)).count(),
                        1,
                        "{label}: archived with its manifest: {stored:?}"
                    );
                    assert!(
                        stored.len() > 1,
                        "{label}: the thesis's files are stored: {stored:?}"
                    );
                    let parked = flyt::redrive::queue_depth(
                        &local.aws.sqs,
                        &local.stack.queue("ThesisDlq").url,
                    )
                    .await
                    .expect("the thesis DLQ's depth");
                    assert_eq!(parked, 0, "{label}: nothing parked");
                }
                ("digeks-authorizer", "unknown-key" | "malformed") => {
                    // Refused credentials go through marked refused, for the proxy's 401.
                    assert_eq!(answer["isAuthorized"], true, "{label}: {answer}");
                    let reason = answer["context"]["refused"].as_str().unwrap_or_default();
                    let expected = if stem == "malformed" {
                        "malformed_basic"
                    } else {
                        "unknown_key"
                    };
                    assert_eq!(reason, expected, "{label}: {answer}");
                    assert!(
                        answer["context"].get("client_id").is_none(),
                        "{label}: {answer}"
                    );
                }
                ("digeks-proxy", _) => {
                    let (status, category) = match stem.as_str() {
                        "list-exams" => (200, None),
                        "other-institution" => (403, Some("forbidden")),
                        "refused-credentials" => (401, Some("authentication")),
                        "grade-without-exam-id" => (400, Some("validation")),
                        other => panic!("{label}: no expectation for sample {other}"),
                    };
                    assert_eq!(answer["statusCode"], status, "{label}: {answer}");
                    let body: Value =
                        serde_json::from_str(answer["body"].as_str().unwrap_or("null"))
                            .unwrap_or_else(|e| panic!("{label}: the body is not JSON: {e}"));
                    match category {
                        Some(category) => assert_eq!(body["category"], category, "{label}: {body}"),
                        None => assert_eq!(
                            body.as_array().map(Vec::len),
                            Some(10),
                            "{label}: the sandbox's ten exams of institution 185: {body}"
                        ),
                    }
                }
                ("wiseflow-poll", "schedule") => {
                    let reports = answer.as_array().expect("one report per institution");
                    assert_eq!(
                        reports.len(),
                        1,
                        "{label}: the WISEflow institution: {answer}"
                    );
                    assert_eq!(reports[0]["org_id"], "uib");
                    assert_eq!(reports[0]["error"], Value::Null, "{label}: {answer}");
                }
                ("fs-return", "sqs-batch") => {
                    assert!(
                        batch_item_failures(&label, &answer).is_empty(),
                        "{label}: {answer}"
                    );
                    // Record 1: an explanation Inspera does not have; record 2: no https link.
                    assert_both_parked(&local, &label, "ReturnDlq", ["999999", "https link"]).await;
                }
                ("thesis-archive", "schedule") => {
                    assert_eq!(answer["errors"], serde_json::json!([]), "{label}: {answer}");
                    assert!(
                        answer["discovered"].as_u64().unwrap() > 0,
                        "{label}: WISEflow's theses found: {answer}"
                    );
                }
                ("thesis-archive", "sqs-batch") => {
                    assert!(
                        batch_item_failures(&label, &answer).is_empty(),
                        "{label}: {answer}"
                    );
                    let url = local.stack.queue("ThesisDlq").url.clone();
                    let parked = parked_reasons(&local.aws.sqs, &url).await;
                    assert_eq!(parked.len(), 2, "{label}: both parked: {parked:?}");
                    assert!(
                        parked
                            .iter()
                            .any(|(c, r)| c == "Mapping"
                                && r.contains("no such thesis is registered")),
                        "{label}: {parked:?}"
                    );
                    assert!(
                        parked.iter().any(|(c, r)| c == "Configuration"
                            && r.contains("no active institution uses INSPERA instance")),
                        "{label}: {parked:?}"
                    );
                }
                ("ops-watch", "digest") => {
                    // Nobody opted in on this stack: the digest run sends nothing, and says so.
                    assert_eq!(answer["day"], "2026-11-22", "{label}: {answer}");
                    assert_eq!(
                        (&answer["institutions"], &answer["sent"], &answer["failed"]),
                        (&Value::from(0), &Value::from(0), &Value::from(0)),
                        "{label}: {answer}"
                    );
                }
                ("ops-watch", "schedule") => {
                    // Run last: the samples before it parked messages in dead-letter queues; each
                    // one holding messages is a finding.
                    let holding = local
                        .dead_letter_depths()
                        .await
                        .expect("the dead-letter queues' depths")
                        .into_iter()
                        .filter(|(_, depth)| *depth > 0)
                        .count();
                    assert!(
                        holding >= 4,
                        "{label}: Alma, dispatch, return and thesis DLQs"
                    );
                    assert_eq!(
                        answer["findings"]["dead_letter"].as_u64(),
                        Some(holding as u64),
                        "{label}: {answer}"
                    );
                    assert_eq!(answer["check_errors"], 0, "{label}: {answer}");
                    assert_eq!(answer["notify_failed"], 0, "{label}: {answer}");
                    let notified = answer["notified"].as_u64().unwrap_or_default();
                    assert!(notified >= 4, "{label}: {answer}");
                    assert_eq!(
                        local.sandbox.slack.messages().len() as u64,
                        notified,
                        "{label}: one Slack message per notification"
                    );
                    assert!(
                        answer["execution_id"]
                            .as_str()
                            .is_some_and(|id| id.starts_with("ops-watch-")),
                        "{label}: {answer}"
                    );
                }
                ("log-overview", _) => {
                    let header = |name: &str| {
                        answer["headers"][name]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned()
                    };
                    assert!(
                        header("content-security-policy").starts_with("default-src 'none'"),
                        "{label}: {answer}"
                    );
                    assert_eq!(header("x-content-type-options"), "nosniff", "{label}");
                    assert_eq!(header("referrer-policy"), "no-referrer", "{label}");
                    let cookies: Vec<&str> = answer["cookies"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    match stem.as_str() {
                        "overview-without-session" => {
                            assert_eq!(answer["statusCode"], 302, "{label}: {answer}");
                            assert_eq!(header("location"), "/login", "{label}");
                        }
                        "export-without-session" => {
                            assert_eq!(answer["statusCode"], 302, "{label}: {answer}");
                            assert_eq!(
                                header("location"),
                                "/login?next=%2Fexecutions%2Ffs-poll-uio-klage-20261123T090000-4f2a",
                                "{label}"
                            );
                        }
                        "login" => {
                            // Off to the sandbox IdP (the stack's OidcIssuer locally), with the
                            // sign-in's state, nonce and PKCE verifier in a signed cookie.
                            assert_eq!(answer["statusCode"], 302, "{label}: {answer}");
                            let location = header("location");
                            let redirect = format!("{}/callback", local.gateway.url);
                            for part in [
                                format!("{}/authorize?response_type=code", local.sandbox.idp_url),
                                "code_challenge_method=S256".to_owned(),
                                format!("redirect_uri={}", url_encode(&redirect)),
                            ] {
                                assert!(location.contains(&part), "{label}: {part} in {location}");
                            }
                            assert!(
                                cookies.iter().any(|c| c.starts_with("__Host-flyt_login=")
                                    && c.contains("HttpOnly; Secure; SameSite=Lax")),
                                "{label}: {cookies:?}"
                            );
                        }
                        "callback-forged-state" => {
                            assert_eq!(answer["statusCode"], 400, "{label}: {answer}");
                            assert!(
                                cookies
                                    .iter()
                                    .any(|c| c.starts_with("__Host-flyt_login=; Max-Age=0")),
                                "{label}: {cookies:?}"
                            );
                            assert_eq!(local.sandbox.idp.tokens_issued(), 0, "{label}");
                        }
                        other => panic!("{label}: no expectation for sample {other}"),
                    }
                }
                _ => panic!("{label}: a sample without checks; add what its answer must be"),
            }
            answered.push(label);
        }
    }
    for process in processes.iter_mut().chain([&mut watch]) {
        assert!(
            process.exited().is_none(),
            "{} stopped during the test\n{}",
            process.name,
            process.log_tail()
        );
    }
    eprintln!("answered: {answered:?}");
    let samples: usize = FUNCTIONS
        .iter()
        .map(|f| sample_events(&root, f).len())
        .sum();
    assert_eq!(
        answered.len(),
        samples,
        "every sample was invoked: {answered:?}"
    );

    // The operators' CLI re-runs and replays through the Lambda Invoke API: here the local runtime
    // emulator's, as on AWS Lambda's.
    let flyt = |args: &[&str]| {
        let output = std::process::Command::new(function_binary("flyt"))
            .args(args)
            .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("FLYT_STACK")
            .output()
            .expect("the flyt binary runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "flyt {args:?}: {stdout}\n{stderr}");
        stdout
    };
    let now = chrono::Utc::now();
    let window = |offset: chrono::Duration| (now + offset).format("%Y-%m-%dT%H:%M:%S").to_string();
    let (from, to) = (
        window(chrono::Duration::days(-3)),
        window(chrono::Duration::minutes(1)),
    );
    let dry_run = flyt(&[
        "run",
        "replay",
        "--institution",
        "uib",
        "--kind",
        "klage",
        "--from",
        &from,
        "--to",
        &to,
        "--dry-run",
    ]);
    assert!(
        dry_run.contains("changes in the window") && dry_run.contains("would be delivered"),
        "{dry_run}"
    );
    drop(processes);
    drop(watch);
}
