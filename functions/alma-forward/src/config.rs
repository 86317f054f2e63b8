//! The function's settings, read once at cold start.

use std::time::Duration;

use flyt::apply::ApplierSettings;
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
    /// The Alma queue, claims and tables.
    pub applier: ApplierSettings,
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
            applier: ApplierSettings::from_vars(
                vars,
                "ALMA_QUEUE_URL",
                "ALMA_DLQ_URL",
                ("FORWARD_CONCURRENCY", 10),
                "Alma work",
            )?,
            http_timeout: vars.millis_or("HTTP_TIMEOUT_MS", 10_000)?,
        })
    }
}
