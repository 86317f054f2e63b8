//! The whole platform on one machine: the emulator, the sandbox, the stack from `template.yaml`, and
//! the functions, driven by schedules fired on demand and queues polled with Lambda's semantics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flyt::apply::Deadline;
use flyt::aws::{emulator_config, AwsClients, RequestCounter};
use flyt::config::Vars;
use flyt::institution::{InstitutionEntry, InstitutionStore};
use flyt::retry::RetryPolicy;
use flyt::sender::Sender;
use flyt::viewers::Viewers;
use flyt_sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;

use crate::emulator::project_root;
use crate::esm::Poller;
use crate::functions::{self, Function};
use crate::gateway::{Gateway, RouteTarget};
use crate::stack::{LocalStack, StackOptions, REGION};

/// How to set the platform up.
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// Seeded Bokbasen data and credentials.
    pub sandbox: SandboxOptions,
    /// Prefix of every resource name; a unique suffix is added.
    pub stack_prefix: String,
    /// A shorter visibility timeout for every queue (seconds).
    pub visibility_timeout: Option<i32>,
    /// A shorter timeout (seconds) for every consumer of the claim pipeline (a function with
    /// `CLAIM_LEASE_SECONDS`) whose template timeout is longer: their budgets are scaled to the
    /// local lease. The others keep the template's timeout.
    pub function_timeout: Option<u64>,
    /// A function's timeout by binary, where a test needs Lambda to kill it sooner than the
    /// template says (applied last).
    pub timeouts: BTreeMap<String, Duration>,
    /// Environment values that differ locally (applied to every function).
    pub env: BTreeMap<String, String>,
    /// Environment values that differ locally for one function, by binary (applied after `env`).
    pub function_env: BTreeMap<String, BTreeMap<String, String>>,
    /// Institution entries written to the configuration table; `None` derives one per institution
    /// the sandbox's FS serves ([`sandbox_institutions`]).
    pub institutions: Option<Vec<InstitutionEntry>>,
    /// Template parameters that differ from the local defaults.
    pub parameters: BTreeMap<String, String>,
    /// The Feide users on each institution's log-overview list, as (org id, user): by default the
    /// sandbox IdP's staff users of `uio` and `uib`, not its student.
    pub log_viewers: Vec<(String, String)>,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            sandbox: SandboxOptions::default(),
            stack_prefix: "flyt-local".to_owned(),
            visibility_timeout: Some(LOCAL_VISIBILITY_TIMEOUT),
            function_timeout: Some(LOCAL_FUNCTION_TIMEOUT),
            timeouts: BTreeMap::new(),
            env: local_env(),
            function_env: local_function_env(),
            institutions: None,
            parameters: BTreeMap::new(),
            log_viewers: [
                ("uio", "testdrift.uio@uio.no"),
                ("uio", "teststotte.uio@uio.no"),
                ("uib", "testdrift.uib@uib.no"),
            ]
            .map(|(org, user)| (org.to_owned(), user.to_owned()))
            .to_vec(),
        }
    }
}

impl LocalOptions {
    /// Applies the local settings to one function of the template: `env`, then its binary's
    /// `function_env`, for a consumer of the claim pipeline the shorter `function_timeout`, and
    /// its binary's entry in `timeouts`.
    pub fn localise(&self, binary: &str, vars: &mut Vars, timeout: &mut Duration) {
        for (k, v) in self
            .env
            .iter()
            .chain(self.function_env.get(binary).into_iter().flatten())
        {
            vars.set(k, v);
        }
        if let Some(local) = self.function_timeout {
            if vars.get("CLAIM_LEASE_SECONDS").is_some() {
                *timeout = (*timeout).min(Duration::from_secs(local));
            }
        }
        if let Some(set) = self.timeouts.get(binary) {
            *timeout = *set;
        }
    }
}

/// Every queue's visibility timeout locally (seconds): failed messages come back in under a
/// minute. With [`LOCAL_FUNCTION_TIMEOUT`] and `CLAIM_LEASE_SECONDS` it keeps the consumers'
/// budget ([`flyt::apply::Budget`]), which a test checks.
pub const LOCAL_VISIBILITY_TIMEOUT: i32 = 45;

/// The longest a consumer of the claim pipeline runs locally before the local event source mapping
/// kills it (seconds).
pub const LOCAL_FUNCTION_TIMEOUT: u64 = 16;

/// Local settings: smaller pages so queues stay shallow in the emulator, short timeouts and quick
/// retries against the loopback sandbox, and the consumers' time budget scaled to them (the
/// longest call with its retries 10.5 s, stop point 12 s, timeout 16 s, lease 25 s, visibility
/// 45 s).
pub fn local_env() -> BTreeMap<String, String> {
    [
        ("BOKBASEN_PAGE_SIZE", "100"),
        ("BOKBASEN_PAGES_PER_STEP", "3"),
        ("BOKBASEN_FIRST_DAYS", "3"),
        ("DRAIN_LEASE_SECONDS", "60"),
        ("CLAIM_LEASE_SECONDS", "25"),
        ("FINISH_RESERVE_MS", "4000"),
        ("ALMA_QUEUE_MAX_DEPTH", "100"),
        ("BACKPRESSURE_DELAY_SECONDS", "1"),
        ("HTTP_TIMEOUT_MS", "1500"),
        ("RETRY_ATTEMPTS", "4"),
        ("RETRY_BASE_DELAY_MS", "20"),
        ("RETRY_MAX_DELAY_MS", "200"),
        ("RETRY_MAX_WAIT_MS", "1500"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Local settings of single functions: the archiver downloads whole files in one request, so its
/// request timeout is longer and it retries less, within the same budget (10.5 s); the DigEks
/// proxy writes each call to its day's execution at once.
pub fn local_function_env() -> BTreeMap<String, BTreeMap<String, String>> {
    BTreeMap::from([
        (
            "thesis-archive".to_owned(),
            BTreeMap::from([
                ("ARCHIVE_HTTP_TIMEOUT_MS".to_owned(), "2500".to_owned()),
                ("RETRY_ATTEMPTS".to_owned(), "3".to_owned()),
            ]),
        ),
        // Each call is written to the day's execution as it ends, so a demo and the tests read
        // it back at once; the batching as deployed is tested on its own (`digeks_audit`).
        (
            "digeks-proxy".to_owned(),
            BTreeMap::from([("TALLY_FLUSH_MS".to_owned(), "0".to_owned())]),
        ),
    ])
}

/// The DigEks authorizer's cache TTL locally: short, so revocation is seen within seconds.
pub const LOCAL_AUTHORIZER_CACHE_SECONDS: u64 = 3;

/// The secret Inspera signs its webhooks with, locally.
pub const LOCAL_WEBHOOK_SECRET: &str = "local-inspera-webhook-secret";

/// The key the log overview signs its cookies with, locally (a throwaway test value).
pub const LOCAL_COOKIE_KEY: &str = "local-log-overview-cookie-key-not-a-secret-0123456789";

/// Flyt's id of an FS institution number: the two sandbox institutions get familiar short names.
pub fn org_id(institusjonsnr: &str) -> String {
    match institusjonsnr {
        "185" => "uio".to_owned(),
        "194" => "uib".to_owned(),
        other => format!("org{other}"),
    }
}

/// The Feide realm of a sandbox institution, connecting it to the log overview: the sandbox
/// IdP's test users of `uio` and `uib` sign in with `…@uio.no` and `…@uib.no`.
pub fn feide_realm(org_id: &str) -> Option<String> {
    matches!(org_id, "uio" | "uib").then(|| format!("{org_id}.no"))
}

/// The exam-system instance of an institution, as named in the exam-systems secret.
pub fn exam_instance(institusjonsnr: &str, exam_system: &str) -> String {
    format!(
        "{}-{}",
        org_id(institusjonsnr),
        exam_system.to_ascii_lowercase()
    )
}

/// One active entry per institution the sandbox's FS serves, both flows switched on, WISEflow
/// justifications shown once registered, FS's test environment.
pub fn sandbox_institutions(options: &SandboxOptions) -> Vec<InstitutionEntry> {
    options
        .institutions
        .iter()
        .map(|i| {
            let org = org_id(&i.institusjonsnr);
            InstitutionEntry {
                org_id: org.clone(),
                institusjonsnr: Some(i.institusjonsnr.clone()),
                exam_system: Some(i.exam_system.clone()),
                exam_system_instance: Some(exam_instance(&i.institusjonsnr, &i.exam_system)),
                fs_environment: Some("test".to_owned()),
                active: true,
                klage: true,
                begrunnelse: true,
                show_justification: i.exam_system.eq_ignore_ascii_case("WISEFLOW"),
                wiseflow_candidate_field: None,
                digeks_grades_without_scale: None,
                mode: None,
                feide_realm: feide_realm(&org),
                log_overview_contact: Some("Flyt's operators (flyt viewers add)".to_owned()),
                org_short_name: Some(org),
            }
        })
        .collect()
}

/// The FS, exam-system and webhook secrets that point every institution at the sandbox.
fn appeal_secrets(options: &SandboxOptions, sandbox: &Sandbox) -> [(String, String); 3] {
    let fs = serde_json::json!({
        "test": {"url": sandbox.fs_url, "username": options.fs_username, "password": options.fs_password},
        "prod": {"url": sandbox.fs_url, "username": options.fs_username, "password": options.fs_password},
    });
    let mut exam_systems = serde_json::Map::new();
    let mut webhooks = serde_json::Map::new();
    for institution in &options.institutions {
        let instance = exam_instance(&institution.institusjonsnr, &institution.exam_system);
        let entry = if institution.exam_system.eq_ignore_ascii_case("INSPERA") {
            webhooks.insert(instance.clone(), Value::from(LOCAL_WEBHOOK_SECRET));
            serde_json::json!({
                "system": "INSPERA",
                "url": format!("{}/api", sandbox.inspera_url),
                "client_id": options.inspera_client_id,
                "api_key": options.inspera_api_key,
            })
        } else {
            serde_json::json!({
                "system": "WISEFLOW",
                "url": format!("{}/v1", sandbox.wiseflow_url),
                "api_key": options.wiseflow_api_key,
            })
        };
        exam_systems.insert(instance, entry);
    }
    [
        ("FsSecret".to_owned(), fs.to_string()),
        (
            "ExamSystemsSecret".to_owned(),
            Value::Object(exam_systems).to_string(),
        ),
        (
            "InsperaWebhookSecret".to_owned(),
            Value::Object(webhooks).to_string(),
        ),
    ]
}

/// The running platform.
pub struct Local {
    /// The emulator's endpoint.
    pub emulator_url: String,
    /// The external systems.
    pub sandbox: Sandbox,
    /// The created stack.
    pub stack: LocalStack,
    /// Clients for inspection (not counted).
    pub aws: AwsClients,
    /// AWS requests made by the functions' handlers.
    pub handler_requests: RequestCounter,
    /// AWS requests made by the local event source mappings (Lambda's pollers on AWS).
    pub poller_requests: RequestCounter,
    /// The local API Gateway in front of the HTTP routes (the webhook receiver, the DigEks proxy
    /// and the log overview).
    pub gateway: Gateway,
    handler_aws: AwsClients,
    poller_sqs: aws_sdk_sqs::Client,
    functions: BTreeMap<String, Arc<dyn Function>>,
    invocations: Option<tokio::runtime::Handle>,
}

/// What a drain did.
#[derive(Clone, Debug, Default)]
pub struct DrainStats {
    /// Invocations made.
    pub invocations: usize,
    /// Messages received in all.
    pub received: usize,
    /// Messages left for redelivery in all.
    pub failed: usize,
    /// Wall time.
    pub elapsed: Duration,
}

impl Local {
    /// Starts the sandbox and creates a fresh stack on the emulator at `emulator_url`.
    pub async fn start(emulator_url: &str, options: LocalOptions) -> Result<Local, String> {
        let sandbox = Sandbox::start(options.sandbox.clone())
            .await
            .map_err(|e| format!("cannot start the sandbox: {e}"))?;
        Local::start_with_sandbox(emulator_url, options, sandbox).await
    }

    /// Like [`Local::start`] with a sandbox started elsewhere (the benchmark runs it on its own threads).
    pub async fn start_with_sandbox(
        emulator_url: &str,
        options: LocalOptions,
        sandbox: Sandbox,
    ) -> Result<Local, String> {
        let sdk = emulator_config(emulator_url, REGION).await;
        let aws = AwsClients::new(&sdk, None);
        // Started first: the log overview's redirect URI is the gateway's.
        let gateway = Gateway::start()
            .await
            .map_err(|e| format!("cannot start the local gateway: {e}"))?;
        sandbox
            .idp
            .register_redirect_uri(format!("{}/callback", gateway.url));
        let name = format!(
            "{}-{:06x}",
            options.stack_prefix,
            fastrand::u32(..0xff_ffff)
        );
        let stack_options = StackOptions {
            parameters: BTreeMap::from([
                ("BokbasenApiUrl".to_owned(), sandbox.bokbasen_url.clone()),
                (
                    "BokbasenTokenUrl".to_owned(),
                    format!("{}/oauth/token", sandbox.bokbasen_url),
                ),
                ("AlmaApiUrl".to_owned(), sandbox.alma_url.clone()),
                (
                    "AuthorizerCacheSeconds".to_owned(),
                    LOCAL_AUTHORIZER_CACHE_SECONDS.to_string(),
                ),
                ("OidcIssuer".to_owned(), sandbox.idp_url.clone()),
                (
                    "OidcClientId".to_owned(),
                    options.sandbox.idp_client_id.clone(),
                ),
                ("LogOverviewPublicUrl".to_owned(), gateway.url.clone()),
            ])
            .into_iter()
            .chain(options.parameters.clone())
            .collect(),
            secrets: BTreeMap::from([
                (
                    "BokbasenSecret".to_owned(),
                    serde_json::json!({
                        "client_id": options.sandbox.bokbasen_client_id,
                        "client_secret": options.sandbox.bokbasen_client_secret,
                    })
                    .to_string(),
                ),
                (
                    "AlmaSecret".to_owned(),
                    serde_json::json!({"api_key": options.sandbox.alma_api_key}).to_string(),
                ),
                (
                    "SlackWebhookSecret".to_owned(),
                    serde_json::json!({"webhook_url": sandbox.slack_url}).to_string(),
                ),
                (
                    "LogOverviewSecret".to_owned(),
                    serde_json::json!({
                        "client_secret": options.sandbox.idp_client_secret,
                        "cookie_key": LOCAL_COOKIE_KEY,
                    })
                    .to_string(),
                ),
            ])
            .into_iter()
            .chain(appeal_secrets(&options.sandbox, &sandbox))
            .collect(),
            visibility_timeout: options.visibility_timeout,
        };
        let mut stack = LocalStack::create(
            &project_root().join("template.yaml"),
            &name,
            &aws,
            &stack_options,
        )
        .await?;
        for function in stack.functions.values_mut() {
            options.localise(&function.binary, &mut function.vars, &mut function.timeout);
        }
        let institutions =
            InstitutionStore::new(aws.dynamodb.clone(), &stack.tables["ConfigTable"]);
        for entry in options
            .institutions
            .clone()
            .unwrap_or_else(|| sandbox_institutions(&options.sandbox))
        {
            institutions.put(&entry).await.map_err(|e| e.to_string())?;
        }
        let viewers = Viewers::new(aws.dynamodb.clone(), &stack.tables["ConfigTable"]);
        for (org, user) in &options.log_viewers {
            viewers.add(org, user).await.map_err(|e| e.to_string())?;
        }
        let handler_requests = RequestCounter::default();
        let poller_requests = RequestCounter::default();
        let handler_aws = AwsClients::new(&sdk, Some(&handler_requests));
        let poller_sqs = AwsClients::new(&sdk, Some(&poller_requests)).sqs;
        let mut local = Local {
            emulator_url: emulator_url.to_owned(),
            sandbox,
            stack,
            aws,
            handler_requests,
            poller_requests,
            gateway,
            handler_aws,
            poller_sqs,
            functions: BTreeMap::new(),
            invocations: None,
        };
        local.cold_start().await?;
        // As an operator would once the stack is up: Inspera validates each subscription with a
        // POST the receiver must answer 200, so the gateway's routes must be in place.
        for institution in &options.sandbox.institutions {
            if institution.exam_system.eq_ignore_ascii_case("INSPERA") {
                let instance = exam_instance(&institution.institusjonsnr, &institution.exam_system);
                local
                    .sandbox
                    .inspera
                    .subscribe_webhook(
                        format!("{}/webhooks/inspera/{instance}", local.gateway.url),
                        LOCAL_WEBHOOK_SECRET,
                    )
                    .await?;
            }
        }
        Ok(local)
    }

    /// Builds every function again, as new Lambda instances would (caches and tokens are lost).
    pub async fn cold_start(&mut self) -> Result<(), String> {
        self.functions.clear();
        for (id, function) in &self.stack.functions {
            let handler =
                functions::build(&function.binary, &function.vars, &self.handler_aws).await?;
            self.functions.insert(id.clone(), handler);
        }
        let routes = self
            .stack
            .functions
            .iter()
            .flat_map(|(id, function)| {
                function.routes.iter().map(|route| RouteTarget {
                    route: route.clone(),
                    function: self.functions[id].clone(),
                    timeout: function.timeout,
                    authorizer: route
                        .authorizer
                        .as_ref()
                        .and_then(|a| self.functions.get(&a.function).cloned()),
                })
            })
            .collect();
        self.gateway.set_routes(routes);
        Ok(())
    }

    /// Registers (or updates) a DigEks proxy client and issues it a new API key; returns the key.
    pub async fn digeks_client(
        &self,
        client: &flyt::api_clients::ApiClient,
    ) -> Result<String, String> {
        let registry = self.api_clients();
        registry
            .put_client(client)
            .await
            .map_err(|e| e.to_string())?;
        let issued = registry
            .issue_key(&client.client_id)
            .await
            .map_err(|e| e.to_string())?;
        Ok(issued.key)
    }

    /// The DigEks proxy's clients and keys.
    pub fn api_clients(&self) -> flyt::api_clients::ClientRegistry {
        flyt::api_clients::ClientRegistry::new(
            self.aws.dynamodb.clone(),
            self.table("ApiClientsTable"),
        )
    }

    /// The log overview page behind the local gateway, e.g. `http://127.0.0.1:4123/`.
    pub fn log_overview_url(&self) -> String {
        format!("{}/", self.gateway.url)
    }

    /// Base URL of the DigEks proxy API behind the local gateway, e.g. `http://127.0.0.1:4123/v1`.
    pub fn digeks_url(&self) -> String {
        format!("{}/v1", self.gateway.url)
    }

    /// Invokes a function directly with an event.
    pub async fn invoke(&self, logical_id: &str, event: Value) -> flyt::Result<Value> {
        let deadline = Deadline::after(self.stack.functions[logical_id].timeout);
        self.functions[logical_id].invoke(event, deadline).await
    }

    /// Fires every schedule once, as EventBridge Scheduler would. Returns each function's answer.
    pub async fn fire_schedules(&self) -> Result<Vec<(String, Value)>, String> {
        let ids: Vec<String> = self.stack.functions.keys().cloned().collect();
        let mut answers = Vec::new();
        for id in ids {
            answers.extend(self.fire_schedule(&id).await?);
        }
        Ok(answers)
    }

    /// Fires the schedules of one function once.
    pub async fn fire_schedule(&self, logical_id: &str) -> Result<Vec<(String, Value)>, String> {
        let mut answers = Vec::new();
        for (id, function) in self
            .stack
            .functions
            .iter()
            .filter(|(id, _)| *id == logical_id)
        {
            for schedule in &function.schedules {
                let answer = self
                    .invoke(id, schedule.input.clone())
                    .await
                    .map_err(|e| format!("schedule {} of {id} failed: {e}", schedule.name))?;
                answers.push((format!("{id}/{}", schedule.name), answer));
            }
        }
        Ok(answers)
    }

    /// The exam systems' graders answer everything: Inspera's give every requested explanation
    /// and decide every standing appeal (its webhooks reach the receiver through the gateway), and
    /// WISEflow's assessors respond and have their responses accepted; then WISEflow is polled,
    /// again while a flow could not be asked about (at most 10 polls). Returns (explanations given in Inspera, appeals decided in Inspera, WISEflow requests answered).
    pub async fn graders_answer(&self) -> Result<(usize, usize, usize), String> {
        let inspera = &self.sandbox.inspera;
        let given = inspera.give_explanations();
        let decided = inspera.decide_appeals();
        if !inspera.wait_for_webhooks(Duration::from_secs(300)).await {
            return Err("Inspera's webhooks were not all delivered within 300 s".to_owned());
        }
        let answered = self
            .sandbox
            .wiseflow
            .advance_explanations(flyt_sandbox::EXPLANATION_ACCEPTED);
        // A flow WISEflow could not be asked about (faults outlasting the retries, sooner on a
        // busy machine) keeps its requests open for the next poll, as the schedule would make it.
        for _ in 0..10 {
            let reports = self.fire_schedule("WiseflowPollFunction").await?;
            let incomplete = reports
                .iter()
                .flat_map(|(_, answer)| answer.as_array().cloned().unwrap_or_default())
                .any(|report| {
                    report["failed_flows"].as_u64().unwrap_or(0) > 0 || !report["error"].is_null()
                });
            if !incomplete {
                break;
            }
        }
        Ok((given, decided, answered))
    }

    /// The thesis flow's discovery and sweep: Inspera pushes its submitted theses (webhooks
    /// through the gateway to the thesis queue, drained), then the archive's schedule polls
    /// WISEflow and queues the due theses (drained). Returns the sweep's report.
    pub async fn archive_theses(&self) -> Result<Value, String> {
        self.sandbox.inspera.submit_theses();
        if !self
            .sandbox
            .inspera
            .wait_for_webhooks(Duration::from_secs(300))
            .await
        {
            return Err("Inspera's thesis webhooks were not all delivered within 300 s".to_owned());
        }
        self.drain(Duration::from_secs(3600), |_| {}).await?;
        let sweep = self
            .fire_schedule("ThesisArchiveFunction")
            .await?
            .into_iter()
            .next()
            .map(|(_, answer)| answer)
            .unwrap_or_default();
        self.drain(Duration::from_secs(3600), |_| {}).await?;
        Ok(sweep)
    }

    /// Runs the functions' invocations on `runtime` (the benchmark's handler runtime).
    pub fn invoke_on(&mut self, runtime: tokio::runtime::Handle) {
        self.invocations = Some(runtime);
    }

    /// A poller for every SQS event source, `concurrency` copies each.
    pub fn pollers(&self) -> Vec<Poller> {
        let mut pollers = Vec::new();
        for (id, function) in &self.stack.functions {
            for source in &function.sqs_sources {
                for _ in 0..source.concurrency.max(1) {
                    pollers.push(
                        Poller::new(
                            self.poller_sqs.clone(),
                            source.clone(),
                            self.functions[id].clone(),
                            function.timeout,
                        )
                        .invoking_on(self.invocations.clone()),
                    );
                }
            }
        }
        pollers
    }

    /// The poller of one function's first SQS source.
    pub fn poller(&self, logical_id: &str) -> Poller {
        let function = &self.stack.functions[logical_id];
        Poller::new(
            self.poller_sqs.clone(),
            function.sqs_sources[0].clone(),
            self.functions[logical_id].clone(),
            function.timeout,
        )
        .invoking_on(self.invocations.clone())
    }

    /// Polls every queue until all work queues are empty (nothing visible, in flight or delayed),
    /// or `limit` passes. `progress` is called about once a second with the work queues' depths.
    pub async fn drain(
        &self,
        limit: Duration,
        mut progress: impl FnMut(&BTreeMap<String, u64>),
    ) -> Result<DrainStats, String> {
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let invocations = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for poller in self.pollers() {
            let (stop, invocations, received, failed) = (
                stop.clone(),
                invocations.clone(),
                received.clone(),
                failed.clone(),
            );
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match poller.poll_once().await {
                        Ok(poll) if poll.received > 0 => {
                            invocations.fetch_add(1, Ordering::Relaxed);
                            received.fetch_add(poll.received, Ordering::Relaxed);
                            failed.fetch_add(poll.failed, Ordering::Relaxed);
                        }
                        Ok(_) => tokio::time::sleep(Duration::from_millis(150)).await,
                        Err(error) => {
                            tracing::warn!(%error, "poll failed");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                }
            }));
        }
        let mut empty_checks = 0;
        let result = loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let depths = self.work_queue_depths().await?;
            progress(&depths);
            empty_checks = if depths.values().all(|d| *d == 0) {
                empty_checks + 1
            } else {
                0
            };
            if empty_checks >= 2 {
                break Ok(());
            }
            if started.elapsed() > limit {
                break Err(format!("queues not drained within {limit:?}: {depths:?}"));
            }
        };
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            let _ = task.await;
        }
        result.map(|()| DrainStats {
            invocations: invocations.load(Ordering::Relaxed),
            received: received.load(Ordering::Relaxed),
            failed: failed.load(Ordering::Relaxed),
            elapsed: started.elapsed(),
        })
    }

    /// Depth (visible + in flight + delayed) of every work queue (one that has a dead-letter queue).
    pub async fn work_queue_depths(&self) -> Result<BTreeMap<String, u64>, String> {
        self.depths(true).await
    }

    /// Depth of every dead-letter queue.
    pub async fn dead_letter_depths(&self) -> Result<BTreeMap<String, u64>, String> {
        self.depths(false).await
    }

    async fn depths(&self, work_queues: bool) -> Result<BTreeMap<String, u64>, String> {
        let mut depths = BTreeMap::new();
        for queue in self.stack.queues.values() {
            if queue.dead_letter_queue_url.is_some() == work_queues {
                let depth = flyt::redrive::queue_depth(&self.aws.sqs, &queue.url)
                    .await
                    .map_err(|e| e.to_string())?;
                depths.insert(queue.logical_id.clone(), depth);
            }
        }
        Ok(depths)
    }

    /// Moves a dead-letter queue's messages back to their source queue.
    pub async fn redrive(&self, dead_letter_logical_id: &str) -> Result<usize, String> {
        let dlq = self.stack.queue(dead_letter_logical_id).url.clone();
        let sender = Sender::new(self.aws.sqs.clone(), RetryPolicy::default(), 2);
        flyt::redrive::redrive(&self.aws.sqs, &sender, &dlq, None, |_| {})
            .await
            .map(|report| report.total())
            .map_err(|e| e.to_string())
    }

    /// The DynamoDB table with this logical id.
    pub fn table(&self, logical_id: &str) -> &str {
        &self.stack.tables[logical_id]
    }
}
