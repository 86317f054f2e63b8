//! The function's settings, read once at cold start.

use std::time::Duration;

use flyt::batch::QueueSettings;
use flyt::clients::bokbasen::Settings;
use flyt::config::Vars;
use flyt::{Error, Result};

/// Everything `bokbasen-fetch` needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where Bokbasen is.
    pub bokbasen: Settings,
    /// The drain's own step queue and its dead-letter queue.
    pub drain_queue: QueueSettings,
    /// Where items go.
    pub alma_queue_url: String,
    /// Items per page asked of Bokbasen.
    pub page_size: u32,
    /// Pages one invocation reads before it chains the next step.
    pub pages_per_step: u32,
    /// The first drain of a report starts this many days back.
    pub first_days: u32,
    /// Fetching pauses while the Alma queue holds this many messages or more (backpressure: the
    /// drain never runs far ahead of what Alma can take).
    pub alma_queue_max_depth: u64,
    /// How long a paused drain waits before it looks again.
    pub backpressure_delay: Duration,
    /// How long a drain chain holds a report's cursor without moving it.
    pub drain_lease: Duration,
    /// The most steps one drain chains before it stops with a Configuration error.
    pub max_drain_hops: u32,
    /// DynamoDB table of cursors.
    pub state_table: String,
    /// DynamoDB table of executions.
    pub executions_table: String,
    /// Timeout of one HTTP request.
    pub http_timeout: Duration,
}

impl Config {
    /// Reads the settings, failing with the name of the first missing or invalid variable.
    pub fn from_vars(vars: &Vars) -> Result<Self> {
        let page_size = vars.parsed_or(
            "BOKBASEN_PAGE_SIZE",
            1000u32,
            "a whole number from 1 to 1000",
        )?;
        if !(1..=1000).contains(&page_size) {
            return Err(Error::configuration(format!(
                "environment variable BOKBASEN_PAGE_SIZE is {page_size}: expected a whole number from 1 to 1000 (the descriptions report's maximum)"
            )));
        }
        Ok(Config {
            bokbasen: Settings::from_vars(vars)?,
            drain_queue: QueueSettings {
                source_queue_url: vars.required(
                    "DRAIN_QUEUE_URL",
                    "the URL of the Bokbasen drain step queue",
                )?,
                dead_letter_queue_url: vars.required(
                    "DRAIN_DLQ_URL",
                    "the URL of the drain step queue's dead-letter queue",
                )?,
                max_receive_count: vars.parsed_or(
                    "MAX_RECEIVE_COUNT",
                    5,
                    "the queue's maxReceiveCount, a whole number",
                )?,
            },
            alma_queue_url: vars.required("ALMA_QUEUE_URL", "the URL of the Alma work queue")?,
            page_size,
            pages_per_step: vars
                .parsed_or(
                    "BOKBASEN_PAGES_PER_STEP",
                    5u32,
                    "a whole number of pages, at least 1",
                )?
                .max(1),
            first_days: vars
                .parsed_or(
                    "BOKBASEN_FIRST_DAYS",
                    1u32,
                    "a whole number of days, at most 180",
                )?
                .min(180),
            alma_queue_max_depth: vars.parsed_or(
                "ALMA_QUEUE_MAX_DEPTH",
                50_000u64,
                "a whole number of messages",
            )?,
            backpressure_delay: vars.seconds_or("BACKPRESSURE_DELAY_SECONDS", 60)?,
            drain_lease: vars.seconds_or("DRAIN_LEASE_SECONDS", 1800)?,
            max_drain_hops: vars.parsed_or(
                "BOKBASEN_MAX_DRAIN_HOPS",
                1000u32,
                "a whole number of steps",
            )?,
            state_table: vars.required("STATE_TABLE", "the DynamoDB state table's name")?,
            executions_table: vars
                .required("EXECUTIONS_TABLE", "the DynamoDB executions table's name")?,
            http_timeout: vars.millis_or("HTTP_TIMEOUT_MS", 10_000)?,
        })
    }
}
