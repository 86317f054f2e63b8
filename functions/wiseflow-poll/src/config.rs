//! The function's settings, read once at cold start.

use std::time::Duration;

use flyt::config::Vars;
use flyt::Result;

/// Everything `wiseflow-poll` needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// The queue `fs-return` consumes.
    pub return_queue_url: String,
    /// The secret with the exam-system instances.
    pub exam_systems_secret_id: String,
    /// DynamoDB table of institutions.
    pub config_table: String,
    /// DynamoDB table of open explanation requests.
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
            return_queue_url: vars
                .required("RETURN_QUEUE_URL", "the URL of the FS return queue")?,
            exam_systems_secret_id: vars.required(
                "EXAM_SYSTEMS_SECRET_ID",
                "the id of the secret holding the exam-system instances",
            )?,
            config_table: vars
                .required("CONFIG_TABLE", "the DynamoDB configuration table's name")?,
            state_table: vars.required("STATE_TABLE", "the DynamoDB state table's name")?,
            executions_table: vars
                .required("EXECUTIONS_TABLE", "the DynamoDB executions table's name")?,
            http_timeout: vars.millis_or("HTTP_TIMEOUT_MS", 10_000)?,
        })
    }
}
