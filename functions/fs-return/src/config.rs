//! The function's settings, read once at cold start.

use std::time::Duration;

use flyt::apply::ApplierSettings;
use flyt::config::Vars;
use flyt::Result;

/// Everything `fs-return` needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// The return queue, claims and tables.
    pub applier: ApplierSettings,
    /// The secret with the FS environments.
    pub fs_secret_id: String,
    /// The secret with the exam-system instances.
    pub exam_systems_secret_id: String,
    /// DynamoDB table of institutions.
    pub config_table: String,
    /// How long an institution's configuration is reused before it is read again.
    pub institution_cache: Duration,
    /// Timeout of one HTTP request.
    pub http_timeout: Duration,
}

impl Config {
    /// Reads the settings, failing with the name of the first missing or invalid variable.
    pub fn from_vars(vars: &Vars) -> Result<Self> {
        Ok(Config {
            applier: ApplierSettings::from_vars(
                vars,
                "RETURN_QUEUE_URL",
                "RETURN_DLQ_URL",
                ("RETURN_CONCURRENCY", 5),
                "FS return",
            )?,
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
            institution_cache: vars.seconds_or("INSTITUTION_CACHE_SECONDS", 60)?,
            http_timeout: vars.millis_or("HTTP_TIMEOUT_MS", 10_000)?,
        })
    }
}
