//! The function's settings, read once at cold start.

use std::time::Duration;

use flyt::batch::QueueSettings;
use flyt::config::Vars;
use flyt::Result;

/// Everything `exam-dispatch` needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// The dispatch queue and its dead-letter queue.
    pub queue: QueueSettings,
    /// The secret with the exam-system instances.
    pub exam_systems_secret_id: String,
    /// DynamoDB table of institutions.
    pub config_table: String,
    /// DynamoDB table of item versions and open WISEflow requests.
    pub state_table: String,
    /// DynamoDB table of executions.
    pub executions_table: String,
    /// How long a claim on a case protects work in progress.
    pub claim_lease: Duration,
    /// How long a dispatched version is remembered.
    pub retention: Duration,
    /// Cases dispatched at once within a batch.
    pub concurrency: usize,
    /// How long an institution's configuration is reused before it is read again.
    pub institution_cache: Duration,
    /// Timeout of one HTTP request; keep it well under half the claim lease.
    pub http_timeout: Duration,
}

impl Config {
    /// Reads the settings, failing with the name of the first missing or invalid variable.
    pub fn from_vars(vars: &Vars) -> Result<Self> {
        Ok(Config {
            queue: QueueSettings {
                source_queue_url: vars
                    .required("DISPATCH_QUEUE_URL", "the URL of the exam dispatch queue")?,
                dead_letter_queue_url: vars.required(
                    "DISPATCH_DLQ_URL",
                    "the URL of the dispatch queue's dead-letter queue",
                )?,
                max_receive_count: vars.parsed_or(
                    "MAX_RECEIVE_COUNT",
                    5,
                    "the queue's maxReceiveCount, a whole number",
                )?,
            },
            exam_systems_secret_id: vars.required(
                "EXAM_SYSTEMS_SECRET_ID",
                "the id of the secret holding the exam-system instances",
            )?,
            config_table: vars
                .required("CONFIG_TABLE", "the DynamoDB configuration table's name")?,
            state_table: vars.required("STATE_TABLE", "the DynamoDB state table's name")?,
            executions_table: vars
                .required("EXECUTIONS_TABLE", "the DynamoDB executions table's name")?,
            claim_lease: vars.seconds_or("CLAIM_LEASE_SECONDS", 120)?,
            retention: vars.seconds_or("VERSION_RETENTION_SECONDS", 400 * 86_400)?,
            concurrency: vars
                .parsed_or(
                    "DISPATCH_CONCURRENCY",
                    5usize,
                    "a whole number of parallel cases, at least 1",
                )?
                .max(1),
            institution_cache: vars.seconds_or("INSTITUTION_CACHE_SECONDS", 60)?,
            http_timeout: vars.millis_or("HTTP_TIMEOUT_MS", 10_000)?,
        })
    }
}
