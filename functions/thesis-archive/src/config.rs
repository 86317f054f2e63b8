//! The function's settings, read once at cold start.

use std::time::Duration;

use aws_sdk_s3::types::ObjectLockMode;
use flyt::apply::ApplierSettings;
use flyt::archiver::Retention;
use flyt::config::Vars;
use flyt::{Error, Result};

/// Everything `thesis-archive` needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// The thesis queue, claims and tables.
    pub applier: ApplierSettings,
    /// The secret with the exam-system instances.
    pub exam_systems_secret_id: String,
    /// DynamoDB table of institutions.
    pub config_table: String,
    /// DynamoDB table of theses.
    pub theses_table: String,
    /// The archive bucket.
    pub bucket: String,
    /// Object Lock retention of every archived object.
    pub retention: Retention,
    /// The appeal deadline after the grade is announced.
    pub appeal_window: chrono::Duration,
    /// The explanation deadline after the grade is announced.
    pub explanation_window: chrono::Duration,
    /// Time after the later deadline before a thesis is due (`ARCHIVE_DUE_MARGIN_HOURS`), for an
    /// appeal filed on the last day to reach FS and fs-poll.
    pub due_margin: chrono::Duration,
    /// How far back the WISEflow poll looks for handed-in master theses.
    pub discovery_window: chrono::Duration,
    /// How long an institution's configuration is reused before it is read again.
    pub institution_cache: Duration,
    /// Timeout of one HTTP request, a whole file's download included (`ARCHIVE_HTTP_TIMEOUT_MS`).
    pub http_timeout: Duration,
}

impl Config {
    /// Reads the settings, failing with the name of the first missing or invalid variable.
    pub fn from_vars(vars: &Vars) -> Result<Self> {
        let days = |name: &str, default: i64| -> Result<chrono::Duration> {
            Ok(chrono::Duration::days(vars.parsed_or(
                name,
                default,
                "a whole number of days",
            )?))
        };
        let mode = vars.required(
            "ARCHIVE_RETENTION_MODE",
            "the Object Lock mode, COMPLIANCE or GOVERNANCE",
        )?;
        let mode = match mode.as_str() {
            "COMPLIANCE" => ObjectLockMode::Compliance,
            "GOVERNANCE" => ObjectLockMode::Governance,
            other => {
                return Err(Error::configuration(format!(
                    "environment variable ARCHIVE_RETENTION_MODE is {other:?}: expected COMPLIANCE or GOVERNANCE"
                )))
            }
        };
        Ok(Config {
            applier: ApplierSettings::from_vars(
                vars,
                "THESIS_QUEUE_URL",
                "THESIS_DLQ_URL",
                ("ARCHIVE_CONCURRENCY", 2),
                "thesis",
            )?,
            exam_systems_secret_id: vars.required(
                "EXAM_SYSTEMS_SECRET_ID",
                "the id of the secret holding the exam-system instances",
            )?,
            config_table: vars
                .required("CONFIG_TABLE", "the DynamoDB configuration table's name")?,
            theses_table: vars.required("THESES_TABLE", "the DynamoDB theses table's name")?,
            bucket: vars.required("ARCHIVE_BUCKET", "the archive bucket's name")?,
            retention: Retention {
                mode,
                years: vars.parsed_or(
                    "ARCHIVE_RETENTION_YEARS",
                    10u32,
                    "a whole number of years",
                )?,
            },
            appeal_window: days("APPEAL_WINDOW_DAYS", 21)?,
            explanation_window: days("EXPLANATION_WINDOW_DAYS", 7)?,
            due_margin: chrono::Duration::hours(vars.parsed_or(
                "ARCHIVE_DUE_MARGIN_HOURS",
                24,
                "a whole number of hours",
            )?),
            discovery_window: days("WISEFLOW_DISCOVERY_DAYS", 60)?,
            institution_cache: vars.seconds_or("INSTITUTION_CACHE_SECONDS", 60)?,
            http_timeout: vars.millis_or("ARCHIVE_HTTP_TIMEOUT_MS", 120_000)?,
        })
    }
}
