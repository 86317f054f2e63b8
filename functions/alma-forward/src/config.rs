//! The function's settings, read once at cold start.

use std::time::Duration;

use flyt::batch::QueueSettings;
use flyt::clients::bokbasen::Settings;
use flyt::config::Vars;
use flyt::Result;

/// Everything `alma-forward` needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// Base URL of the Alma-side API.
    pub alma_api_url: String,
    /// The secret holding `api_key`.
    pub alma_secret_id: String,
    /// Where Bokbasen is (description documents are fetched from it).
    pub bokbasen: Settings,
    /// The Alma queue and its dead-letter queue.
    pub queue: QueueSettings,
    /// How long a claim on an item protects work in progress.
    pub claim_lease: Duration,
    /// How long an applied version is remembered.
    pub retention: Duration,
    /// Items forwarded at once within a batch.
    pub concurrency: usize,
    /// DynamoDB table of item versions.
    pub state_table: String,
    /// DynamoDB table of executions.
    pub executions_table: String,
    /// Timeout of one HTTP request.
    pub http_timeout: Duration,
}

impl Config {
    /// Reads the settings, failing with the name of the first missing or invalid variable.
    pub fn from_vars(vars: &Vars) -> Result<Self> {
        Ok(Config {
            alma_api_url: vars.required("ALMA_API_URL", "the Alma-side API's base URL")?,
            alma_secret_id: vars.required(
                "ALMA_SECRET_ID",
                "the id of the secret holding the Alma api_key",
            )?,
            bokbasen: Settings::from_vars(vars)?,
            queue: QueueSettings {
                source_queue_url: vars
                    .required("ALMA_QUEUE_URL", "the URL of the Alma work queue")?,
                dead_letter_queue_url: vars.required(
                    "ALMA_DLQ_URL",
                    "the URL of the Alma queue's dead-letter queue",
                )?,
                max_receive_count: vars.parsed_or(
                    "MAX_RECEIVE_COUNT",
                    5,
                    "the queue's maxReceiveCount, a whole number",
                )?,
            },
            claim_lease: vars.seconds_or("CLAIM_LEASE_SECONDS", 120)?,
            retention: vars.seconds_or("VERSION_RETENTION_SECONDS", 400 * 86_400)?,
            concurrency: vars
                .parsed_or(
                    "FORWARD_CONCURRENCY",
                    10usize,
                    "a whole number of parallel requests, at least 1",
                )?
                .max(1),
            state_table: vars.required("STATE_TABLE", "the DynamoDB state table's name")?,
            executions_table: vars
                .required("EXECUTIONS_TABLE", "the DynamoDB executions table's name")?,
            http_timeout: vars.millis_or("HTTP_TIMEOUT_MS", 10_000)?,
        })
    }
}
