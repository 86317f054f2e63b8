//! The function's settings, read once at cold start.

use std::time::Duration;

use flyt::batch::QueueSettings;
use flyt::config::Vars;
use flyt::Result;

/// Everything `fs-return` needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// The return queue and its dead-letter queue.
    pub queue: QueueSettings,
    /// The secret with the FS environments.
    pub fs_secret_id: String,
    /// The secret with the exam-system instances.
    pub exam_systems_secret_id: String,
    /// DynamoDB table of institutions.
    pub config_table: String,
    /// DynamoDB table of item versions.
    pub state_table: String,
    /// DynamoDB table of executions.
    pub executions_table: String,
    /// How long a claim on an answer protects work in progress.
    pub claim_lease: Duration,
    /// How long a registered answer is remembered.
    pub retention: Duration,
    /// Answers registered at once within a batch.
    pub concurrency: usize,
    /// How long an institution's configuration is reused before it is read again.
    pub institution_cache: Duration,
    /// Timeout of one HTTP request.
    pub http_timeout: Duration,
}

impl Config {
    /// Reads the settings, failing with the name of the first missing or invalid variable.
    pub fn from_vars(vars: &Vars) -> Result<Self> {
        Ok(Config {
            queue: QueueSettings {
                source_queue_url: vars
                    .required("RETURN_QUEUE_URL", "the URL of the FS return queue")?,
                dead_letter_queue_url: vars.required(
                    "RETURN_DLQ_URL",
                    "the URL of the return queue's dead-letter queue",
                )?,
                max_receive_count: vars.parsed_or(
                    "MAX_RECEIVE_COUNT",
                    5,
                    "the queue's maxReceiveCount, a whole number",
                )?,
            },
            fs_secret_id: vars.required(
                "FS_SECRET_ID",
                "the id of the secret holding the FS environments",
            )?,
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
                    "RETURN_CONCURRENCY",
                    5usize,
                    "a whole number of parallel registrations, at least 1",
                )?
                .max(1),
            institution_cache: vars.seconds_or("INSTITUTION_CACHE_SECONDS", 60)?,
            http_timeout: vars.millis_or("HTTP_TIMEOUT_MS", 10_000)?,
        })
    }
}
