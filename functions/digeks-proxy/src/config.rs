//! The function's settings, read once at cold start.

use std::time::Duration;

use flyt::config::Vars;
use flyt::Result;

/// Everything `digeks-proxy` needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// DynamoDB table of institutions (which FS environment serves an institution).
    pub config_table: String,
    /// DynamoDB table of rate-limit windows.
    pub state_table: String,
    /// DynamoDB table of executions (one per day for the interface).
    pub executions_table: String,
    /// The secret with each FS environment's URL and API user.
    pub fs_secret_id: String,
    /// Timeout of one FS request.
    pub http_timeout: Duration,
    /// The whole time FS may take for one request, retries included; then 504.
    pub fs_budget: Duration,
    /// How long institution entries and exam facts are cached.
    pub cache_ttl: Duration,
    /// How often at most the calls are written to the day's execution (0: after every call).
    pub tally_flush: Duration,
}

impl Config {
    /// Reads the settings, failing with the name of the first missing or invalid variable.
    pub fn from_vars(vars: &Vars) -> Result<Self> {
        Ok(Config {
            config_table: vars
                .required("CONFIG_TABLE", "the DynamoDB configuration table's name")?,
            state_table: vars.required("STATE_TABLE", "the DynamoDB state table's name")?,
            executions_table: vars
                .required("EXECUTIONS_TABLE", "the DynamoDB executions table's name")?,
            fs_secret_id: vars.required(
                "FS_SECRET_ID",
                "the id of the secret with the FS environments' URLs and API users",
            )?,
            http_timeout: vars.millis_or("HTTP_TIMEOUT_MS", 8_000)?,
            fs_budget: vars.millis_or("FS_BUDGET_MS", 25_000)?,
            cache_ttl: vars.seconds_or("CACHE_TTL_SECONDS", 300)?,
            tally_flush: vars.millis_or("TALLY_FLUSH_MS", 5_000)?,
        })
    }
}
