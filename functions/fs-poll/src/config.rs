//! The function's settings, read once at cold start.

use std::time::Duration;

use flyt::config::Vars;
use flyt::Result;

/// Everything `fs-poll` needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// The queue `exam-dispatch` consumes.
    pub dispatch_queue_url: String,
    /// The secret with the FS environments.
    pub fs_secret_id: String,
    /// The secret with the exam-system instances.
    pub exam_systems_secret_id: String,
    /// DynamoDB table of institutions.
    pub config_table: String,
    /// DynamoDB table of cursors.
    pub state_table: String,
    /// DynamoDB table of executions.
    pub executions_table: String,
    /// How far back the first poll of an institution reads.
    pub first_lookback: Duration,
    /// How far behind the latest change read each poll reads again, for changes FS stamps before
    /// they are committed (`FS_LOOKBACK_LAG_SECONDS`).
    pub lookback_lag: Duration,
    /// How long one poll holds an (institution, kind) cursor.
    pub poll_lease: Duration,
    /// Timeout of one HTTP request.
    pub http_timeout: Duration,
}

impl Config {
    /// Reads the settings, failing with the name of the first missing or invalid variable.
    pub fn from_vars(vars: &Vars) -> Result<Self> {
        Ok(Config {
            dispatch_queue_url: vars
                .required("DISPATCH_QUEUE_URL", "the URL of the exam dispatch queue")?,
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
            first_lookback: Duration::from_secs(
                86_400
                    * vars.parsed_or("FS_FIRST_LOOKBACK_DAYS", 14u64, "a whole number of days")?,
            ),
            lookback_lag: vars.seconds_or("FS_LOOKBACK_LAG_SECONDS", 300)?,
            poll_lease: vars.seconds_or("POLL_LEASE_SECONDS", 300)?,
            http_timeout: vars.millis_or("HTTP_TIMEOUT_MS", 10_000)?,
        })
    }
}
