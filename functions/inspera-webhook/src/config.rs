//! The function's settings, read once at cold start.

use std::time::Duration;

use flyt::appeals::InsperaEventNames;
use flyt::config::Vars;
use flyt::{Error, Result};

/// Everything `inspera-webhook` needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// The queue `fs-return` consumes (explanations given, appeals decided).
    pub return_queue_url: String,
    /// The queue `thesis-archive` consumes (theses submitted).
    pub thesis_queue_url: String,
    /// The secret with each Inspera instance's webhook secret: `{"<instance>": "<secret>"}`.
    pub webhook_secret_id: String,
    /// DynamoDB table where received calls are remembered (replays).
    pub state_table: String,
    /// DynamoDB table of executions.
    pub executions_table: String,
    /// Largest body accepted; Inspera's payloads are a few hundred bytes.
    pub max_body_bytes: usize,
    /// A call whose `timestamp` is older than this (or this far in the future) is a replay.
    pub max_age: Duration,
    /// The event names the deployment's Inspera tenants use (`INSPERA_EVENT_NAMES`, e.g.
    /// `appeal_decided=confirm_final_grades`); unset, Flyt's assumed names.
    pub event_names: InsperaEventNames,
}

impl Config {
    /// Reads the settings, failing with the name of the first missing or invalid variable.
    pub fn from_vars(vars: &Vars) -> Result<Self> {
        Ok(Config {
            return_queue_url: vars
                .required("RETURN_QUEUE_URL", "the URL of the FS return queue")?,
            thesis_queue_url: vars.required("THESIS_QUEUE_URL", "the URL of the thesis queue")?,
            webhook_secret_id: vars.required(
                "INSPERA_WEBHOOK_SECRET_ID",
                "the id of the secret holding the Inspera webhook secrets",
            )?,
            state_table: vars.required("STATE_TABLE", "the DynamoDB state table's name")?,
            executions_table: vars
                .required("EXECUTIONS_TABLE", "the DynamoDB executions table's name")?,
            max_body_bytes: vars.parsed_or(
                "WEBHOOK_MAX_BODY_BYTES",
                16_384usize,
                "a whole number of bytes",
            )?,
            max_age: vars.seconds_or("WEBHOOK_MAX_AGE_SECONDS", 3600)?,
            event_names: InsperaEventNames::parse(vars.get("INSPERA_EVENT_NAMES").unwrap_or(""))
                .map_err(|why| {
                    Error::configuration(format!(
                        "INSPERA_EVENT_NAMES: {why}; write key=event_name pairs separated by commas, keys explanation_given, appeal_decided, thesis_submitted"
                    ))
                })?,
        })
    }
}
