//! `digeks-proxy`: the DigEks proxy API (`/v1/...`), one Lambda behind an HTTP API route
//! `ANY /v1/{proxy+}` with the `digeks-authorizer`.
//!
//! Per call, in this order, each step answering on its own when it refuses: the principal from the
//! authorizer (401), the client's rate limit (429), the operation and its parameters (404/405/400),
//! the exam system in the path against the client's (403), the body (415/413/400), the institution
//! — from `institusjonsnr`, or from the exam's info in FS — against the client's grant (403), grades
//! against the exam's scale (400; an exam without a scale in FS: the institution's setting refuses
//! with 422 or forwards unchecked, marked in the audit line); only then is the checked request forwarded to FS, and FS's
//! answer passed back (FS's refusals as 422/404, its failures as 502/504). Every call is one audit
//! line and a metric; every call with valid credentials also counts in the interface's execution
//! of the day (a 401 does not, so anonymous floods cost no DynamoDB write).

mod audit;
mod body;
mod config;
mod exam;
pub mod operation;
mod rate_limit;
mod rejection;
mod routing;
mod serving;
mod tally;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine;
use flyt::apply::Deadline;
use flyt::aws::AwsClients;
use flyt::clients::fs::{FsAnswer, FsClient};
use flyt::config::Vars;
use flyt::connections::Connections;
use flyt::execution::{DailyExecution, ExecutionStore};
use flyt::institution::{ExamSystem, GradesWithoutScale, InstitutionCache, InstitutionStore, Mode};
use flyt::observability::Metrics;
use flyt::principal::Principal;
use flyt::retry::RetryPolicy;
use flyt::Result;
use serde_json::Value;
use tokio::time::Instant;

pub use audit::Audit;
pub use config::Config;
use exam::ExamCache;
use operation::{InstitutionSource, Operation};
pub use rejection::Rejection;

/// The interface name of the day's execution and of metrics.
pub const INTERFACE: &str = "digeks-proxy";
/// The OpenAPI document, as written.
pub const OPENAPI_YAML: &str = include_str!("../openapi.yaml");

/// Time kept between the end of a call's FS work and Lambda's deadline: answering, the audit line
/// and the day's count happen in it, so a call is never killed unanswered or unaudited.
pub const ANSWER_RESERVE: Duration = Duration::from_millis(1_500);

/// The function's dependencies, built once per cold start.
pub struct Proxy {
    config: Config,
    institutions: InstitutionCache,
    connections: Connections,
    limiter: rate_limit::RateLimiter,
    tally: tally::Tally,
    exams: ExamCache,
    openapi: String,
}

/// What one call carries through its steps besides its audit record.
struct Call<'a> {
    /// When all of the call's FS work must have ended.
    fs_deadline: Instant,
    /// The HTTP method, for the audit lines.
    method: &'a str,
    /// The client's rate window to sync, once decided and until done.
    rate_sync: Option<rate_limit::WindowSync>,
    /// Whether the call's bookkeeping ran beside an FS request.
    reached_fs: bool,
}

/// A successful answer: status and JSON body.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Proxy {
    /// Builds the proxy from its settings: reads the FS secret, converts the OpenAPI document.
    pub async fn from_vars(vars: &Vars, aws: &AwsClients) -> Result<Self> {
        let config = Config::from_vars(vars)?;
        let retry = RetryPolicy::from_vars(vars)?;
        let http = flyt::http::client(config.http_timeout);
        let connections = Connections::load(
            &aws.secrets,
            flyt::secrets::Refresh::from_vars(vars)?,
            Some(&config.fs_secret_id),
            None,
            &http,
            &retry,
        )
        .await?;
        let openapi: Value = serde_yaml_ng::from_str(OPENAPI_YAML).map_err(|e| {
            flyt::Error::technical(format!("the built-in OpenAPI document is not YAML: {e}"))
        })?;
        Ok(Proxy {
            institutions: InstitutionCache::new(
                InstitutionStore::new(aws.dynamodb.clone(), &config.config_table),
                config.cache_ttl,
            ),
            connections,
            limiter: rate_limit::RateLimiter::new(aws.dynamodb.clone(), &config.state_table),
            tally: tally::Tally::new(
                DailyExecution::new(
                    ExecutionStore::new(aws.dynamodb.clone(), &config.executions_table),
                    INTERFACE,
                ),
                config.tally_flush,
            ),
            exams: ExamCache::new(config.cache_ttl),
            openapi: openapi.to_string(),
            config,
        })
    }

    /// The Lambda handler: always an HTTP answer, before `deadline` (Lambda's). All of the call's
    /// FS work — the exam lookup, the forwarded request, their retries — shares one deadline: the
    /// earlier of `FS_BUDGET_MS` from now and Lambda's deadline less [`ANSWER_RESERVE`].
    pub async fn handle(
        &self,
        request: ApiGatewayV2httpRequest,
        deadline: Deadline,
    ) -> ApiGatewayV2httpResponse {
        let started = Instant::now();
        let fs_deadline = (started + self.config.fs_budget).min(
            deadline
                .instant()
                .checked_sub(ANSWER_RESERVE)
                .unwrap_or(started),
        );
        let method = request.request_context.http.method.to_string();
        let mut audit = Audit {
            request_id: request
                .request_context
                .request_id
                .clone()
                .unwrap_or_default(),
            ..Audit::default()
        };
        let mut call = Call {
            fs_deadline,
            method: &method,
            rate_sync: None,
            reached_fs: false,
        };
        let (status, body, extra_headers) = match self.serve(&request, &mut call, &mut audit).await
        {
            Ok(answer) => (answer.status, answer.body, vec![]),
            Err(rejection) => {
                if audit.reason.is_empty() {
                    audit.reason = rejection.message.clone();
                }
                let headers = match rejection.status {
                    401 => vec![(
                        "www-authenticate",
                        "Bearer realm=\"flyt-digeks\", Basic realm=\"flyt-digeks\"".to_owned(),
                    )],
                    429 => vec![(
                        "retry-after",
                        rejection.retry_after_seconds.unwrap_or(60).to_string(),
                    )],
                    _ => vec![],
                };
                (
                    rejection.status,
                    rejection.body(&audit.request_id).to_string().into_bytes(),
                    headers,
                )
            }
        };
        let latency_ms = started.elapsed().as_millis() as u64;
        let line = audit.emit(&method, status, latency_ms);
        let mut metrics = Metrics::new(INTERFACE);
        metrics.count(Audit::counter(status), 1);
        metrics.emit();
        // A call without valid credentials is audited (the log line) and counted (the metric),
        // never written down: a flood of them costs no DynamoDB write. The others are added to
        // the day's execution in memory, written in batches (see `tally`).
        if audit.operation != Operation::OpenApi.name() && status != 401 {
            self.tally
                .add(&[("calls", 1), (Audit::counter(status), 1)], line);
        }
        // A call that reached FS did its bookkeeping beside FS's answer (and, with a zero
        // interval, writes its own count now); the others (refusals, which wait for nothing) do
        // it now.
        if !call.reached_fs {
            self.bookkeeping(call.rate_sync.take()).await;
        } else if self.tally.writes_every_call() {
            self.tally.flush_if_due().await;
        }
        response(status, body, &extra_headers)
    }

    /// What a call writes besides its answer — its client's rate window, the day's execution
    /// when due — run beside the call's FS request so the call waits for neither.
    async fn bookkeeping(&self, sync: Option<rate_limit::WindowSync>) {
        let rate = async {
            if let Some(sync) = sync {
                self.limiter.sync(sync).await;
            }
        };
        tokio::join!(rate, self.tally.flush_if_due());
    }

    async fn serve(
        &self,
        request: &ApiGatewayV2httpRequest,
        call: &mut Call<'_>,
        audit: &mut Audit,
    ) -> std::result::Result<Answer, Rejection> {
        let method = request.request_context.http.method.as_str();
        let raw_path = request.raw_path.as_deref().unwrap_or_default();
        let raw_query = request.raw_query_string.as_deref().unwrap_or_default();
        if raw_path == "/v1/openapi.json" && method == "GET" {
            audit.operation = Operation::OpenApi.name();
            return Ok(Answer {
                status: 200,
                body: self.openapi.clone().into_bytes(),
            });
        }
        let authorizer = request
            .request_context
            .authorizer
            .as_ref()
            .map(|a| &a.fields);
        let principal = Principal::from_context(authorizer.unwrap_or(&HashMap::new()));
        let (client_id, exam_system, granted, limit) = match principal {
            Principal::Client {
                client_id,
                key_id,
                exam_system,
                institutions,
                rate_limit_per_minute,
            } => {
                audit.client_id = client_id.clone();
                audit.key_id = key_id;
                (client_id, exam_system, institutions, rate_limit_per_minute)
            }
            Principal::Refused { reason } => {
                audit.reason = reason;
                return Err(Rejection::unauthenticated(
                    "the credentials are missing, malformed, unknown or revoked: send Authorization: Bearer <api key>, or Basic credentials",
                ));
            }
        };
        let (verdict, sync) = self.limiter.admit(&client_id, limit, flyt::time::now_ms());
        call.rate_sync = sync;
        if let rate_limit::Verdict::Limited {
            retry_after_seconds,
        } = verdict
        {
            return Err(Rejection::rate_limited(limit, retry_after_seconds));
        }
        let operation = operation::parse(method, raw_path, raw_query)?;
        audit.operation = operation.name();
        if let Some(system) = operation.system() {
            if system != exam_system {
                audit.reason =
                    format!("path names exam system {system}, the client is {exam_system}");
                return Err(Rejection::forbidden(format!(
                    "this client acts as {exam_system} and may not use {system} in paths"
                )));
            }
        }
        let checked = if operation.has_body() {
            Some(checked_body(request, &operation)?)
        } else {
            None
        };
        let (client, facts, answer) = match operation.institution_source() {
            InstitutionSource::Query(institusjonsnr) => {
                audit.institution = institusjonsnr.to_owned();
                granted_or_forbidden(&granted, institusjonsnr, audit)?;
                (self.fs_of(institusjonsnr, exam_system).await?.1, None, None)
            }
            InstitutionSource::Exam(vurd_id) => {
                audit.vurd_id = vurd_id.to_owned();
                let (client, facts, answer) = self
                    .exam(exam_system, vurd_id, &granted, call, audit, &operation)
                    .await?;
                (client, Some(facts), answer)
            }
            InstitutionSource::Body => {
                let vurd_id = &checked
                    .as_ref()
                    .expect("an operation with a body was checked")
                    .vurd_id;
                audit.vurd_id = vurd_id.clone();
                let (client, facts, _) = self
                    .exam(exam_system, vurd_id, &granted, call, audit, &operation)
                    .await?;
                (client, Some(facts), None)
            }
            InstitutionSource::None => {
                return Err(Rejection::not_found("no operation at this path"))
            }
        };
        if let (Some(checked), Some(facts)) = (&checked, &facts) {
            if !checked.grades.is_empty() {
                if facts.grades.is_empty() {
                    self.grades_without_scale(&facts.institusjonsnr, exam_system, audit)
                        .await?;
                } else {
                    body::check_grades(&checked.grades, &facts.grades)?;
                }
            }
        }
        if let Some(answer) = answer {
            return Ok(answer);
        }
        if let (true, Some(facts)) = (operation.writes(), &facts) {
            self.live_or_refused(&facts.institusjonsnr, exam_system, audit)
                .await?;
        }
        let (method, path, query) = operation.fs_request();
        if operation.writes() {
            // Before the write leaves: a call Lambda kills while FS works on it is still audited.
            audit.emit_forwarding(call.method);
        }
        let sync = call.rate_sync.take();
        call.reached_fs = true;
        let call = &*call;
        let fs_started = Instant::now();
        let (forwarded, ()) = tokio::join!(
            self.forward(
                &client,
                call,
                method,
                &path,
                &query,
                checked.as_ref().map(|c| &c.value),
            ),
            self.bookkeeping(sync)
        );
        audit.fs_ms = fs_started.elapsed().as_millis() as u64;
        passed_back(forwarded?, &client_id)
    }

    /// FS gave no grade scale for the exam: the institution decides whether its grades are
    /// refused (422, the default) or forwarded unchecked with the audit line marked.
    async fn grades_without_scale(
        &self,
        institusjonsnr: &str,
        system: ExamSystem,
        audit: &mut Audit,
    ) -> std::result::Result<(), Rejection> {
        let policy = self
            .entry(institusjonsnr, system)
            .await?
            .digeks_grades_without_scale;
        match policy {
            GradesWithoutScale::Refuse => Err(Rejection::fs_rejected(
                "FS gives no grade scale for this exam, so its grades cannot be checked and are refused: ask the FS administrator to set the exam's grade scale, or have the institution's entry set digeks_grades_without_scale to forward",
            )),
            GradesWithoutScale::Forward => {
                audit.grade_scale = "unchecked";
                Ok(())
            }
        }
    }

    /// Refuses a registration (409) when the exam's institution is in shadow mode: the platform
    /// Flyt replaces still registers its results.
    async fn live_or_refused(
        &self,
        institusjonsnr: &str,
        system: ExamSystem,
        audit: &mut Audit,
    ) -> std::result::Result<(), Rejection> {
        let shadow = self.entry(institusjonsnr, system).await?.mode == Mode::Shadow;
        if shadow {
            audit.reason = format!("institution {institusjonsnr} is in shadow mode");
            return Err(Rejection::shadow_mode(institusjonsnr));
        }
        Ok(())
    }

    /// Sends a request to FS, retries included, before the call's FS deadline.
    async fn forward(
        &self,
        client: &FsClient,
        call: &Call<'_>,
        method: reqwest::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> std::result::Result<FsAnswer, Rejection> {
        match tokio::time::timeout_at(call.fs_deadline, client.forward(method, path, query, body))
            .await
        {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => {
                tracing::warn!(%error, "FS failed");
                Err(Rejection::fs_unavailable(format!(
                    "FS failed: {}",
                    error.category().as_str()
                )))
            }
            Err(_) => Err(Rejection::fs_timeout()),
        }
    }
}

/// 403 unless the institution is granted; the attempt is named in the audit.
fn granted_or_forbidden(
    granted: &BTreeSet<String>,
    institusjonsnr: &str,
    audit: &mut Audit,
) -> std::result::Result<(), Rejection> {
    if granted.contains(institusjonsnr) {
        return Ok(());
    }
    audit.reason = format!(
        "institution {institusjonsnr} is not granted to client {}",
        audit.client_id
    );
    Err(Rejection::forbidden(format!(
        "this client may not act for institution {institusjonsnr}: ask the Flyt operators for a grant"
    )))
}

/// A body's media type, size and content checked.
fn checked_body(
    request: &ApiGatewayV2httpRequest,
    operation: &Operation,
) -> std::result::Result<body::CheckedBody, Rejection> {
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(Rejection::unsupported_media_type());
    }
    let raw = match &request.body {
        None => Vec::new(),
        Some(text) if request.is_base64_encoded => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| Rejection::invalid("body", "the body could not be decoded"))?,
        Some(text) => text.clone().into_bytes(),
    };
    if raw.len() > operation.body_limit() {
        return Err(Rejection::too_large(operation.body_limit()));
    }
    body::check(operation, &raw)
}

/// FS's answer as the proxy's: successes pass through, refusals become 422/404, the rest 502.
fn passed_back(answer: FsAnswer, client_id: &str) -> std::result::Result<Answer, Rejection> {
    match answer.status {
        200..=299 => Ok(Answer {
            status: answer.status,
            body: answer.body,
        }),
        404 => Err(Rejection::not_found(format!("FS: {}", fs_message(&answer)))),
        400 | 409 | 422 => Err(Rejection::fs_rejected(format!(
            "FS refused it: {}",
            fs_message(&answer)
        ))),
        401 | 403 => {
            tracing::error!(
                client_id,
                status = answer.status,
                "FS refused Flyt's own credentials: check the FS secret"
            );
            Err(Rejection::fs_unavailable(
                "FS refused the proxy's credentials; the operators are alerted",
            ))
        }
        _ => Err(unexpected(&answer, "answer")),
    }
}

fn unexpected(answer: &FsAnswer, what: &str) -> Rejection {
    Rejection::fs_unavailable(format!(
        "FS's {what} was unexpected ({}): {}",
        answer.status,
        fs_message(answer)
    ))
}

/// FS's `{"feil": ...}` message, or a short excerpt of its body, scrubbed of personal data.
fn fs_message(answer: &FsAnswer) -> String {
    serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| {
            v.get("feil")
                .and_then(Value::as_str)
                .map(|feil| flyt::scrub::third_party_excerpt(feil, 200))
        })
        .unwrap_or_else(|| {
            flyt::scrub::third_party_excerpt(&String::from_utf8_lossy(&answer.body), 200)
        })
}

fn configuration_failure(error: &flyt::Error) -> Rejection {
    tracing::error!(%error, "the proxy's configuration is incomplete");
    Rejection::fs_unavailable(
        "the proxy cannot reach FS for this institution; the operators are alerted",
    )
}

fn response(
    status: u16,
    body: Vec<u8>,
    extra_headers: &[(&'static str, String)],
) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(status);
    response.headers.insert(
        "content-type",
        "application/json".parse().expect("a valid header value"),
    );
    for (name, value) in extra_headers {
        if let Ok(value) = value.parse() {
            response.headers.insert(*name, value);
        }
    }
    response.body = Some(Body::Text(String::from_utf8_lossy(&body).into_owned()));
    response
}
