//! The function's settings, read once at cold start.

use std::time::Duration;

use flyt::config::Vars;
use flyt::{Error, Result};

/// How long cursors may go without moving or being taken, by cursor-name prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CursorLimits {
    limits: Vec<(String, Duration)>,
}

impl CursorLimits {
    /// Parses `prefix=seconds` pairs separated by commas, e.g. `bokbasen#=93600,fs#=1800`.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut limits = Vec::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (prefix, seconds) = pair
                .rsplit_once('=')
                .ok_or_else(|| format!("{pair:?} is not prefix=seconds"))?;
            let seconds: u64 = seconds
                .trim()
                .parse()
                .map_err(|_| format!("{pair:?}: {seconds:?} is not a whole number of seconds"))?;
            if prefix.trim().is_empty() || seconds == 0 {
                return Err(format!(
                    "{pair:?}: the prefix must not be empty and the seconds above 0"
                ));
            }
            limits.push((prefix.trim().to_owned(), Duration::from_secs(seconds)));
        }
        Ok(CursorLimits { limits })
    }

    /// The limit of the cursor `name` and the prefix that set it (the longest matching prefix),
    /// or `None` when no prefix matches: that cursor is not watched.
    pub fn limit(&self, name: &str) -> Option<(&str, Duration)> {
        self.limits
            .iter()
            .filter(|(prefix, _)| name.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(prefix, limit)| (prefix.as_str(), *limit))
    }
}

/// Everything `ops-watch` needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// DynamoDB table of claims, cursors and notification markers.
    pub state_table: String,
    /// DynamoDB table of executions.
    pub executions_table: String,
    /// DynamoDB configuration table (the notification blacklist).
    pub config_table: String,
    /// The dead-letter queues to watch.
    pub dlq_urls: Vec<String>,
    /// The secret with the Slack incoming webhook's URL.
    pub slack_secret_id: String,
    /// An execution not finished after this long is an anomaly.
    pub running_limit: Duration,
    /// A claim lapsed this long without completion is stuck.
    pub stuck_claim: Duration,
    /// Cursor limits by name prefix.
    pub cursor_max_age: CursorLimits,
    /// How far back finished KO executions are looked for.
    pub ko_lookback: Duration,
    /// Timeout of one HTTP request (to Slack).
    pub http_timeout: Duration,
    /// The verified SES identity the daily digest is sent from.
    pub digest_sender: String,
}

impl Config {
    /// Reads the settings, failing with the name of the first missing or invalid variable.
    pub fn from_vars(vars: &Vars) -> Result<Self> {
        let dlq_urls: Vec<String> = vars
            .required(
                "DLQ_URLS",
                "the URLs of the dead-letter queues to watch, separated by commas",
            )?
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(str::to_owned)
            .collect();
        let cursor_max_age = CursorLimits::parse(vars.get("CURSOR_MAX_AGE").unwrap_or_default())
            .map_err(|e| {
                Error::configuration(format!(
                    "environment variable CURSOR_MAX_AGE: {e}; expected cursor-name prefixes with \
                     their longest quiet time in seconds, e.g. bokbasen#=93600,fs#=1800"
                ))
            })?;
        Ok(Config {
            state_table: vars.required("STATE_TABLE", "the DynamoDB state table's name")?,
            executions_table: vars
                .required("EXECUTIONS_TABLE", "the DynamoDB executions table's name")?,
            config_table: vars
                .required("CONFIG_TABLE", "the DynamoDB configuration table's name")?,
            dlq_urls,
            slack_secret_id: vars.required(
                "SLACK_SECRET_ID",
                "the id of the secret holding the Slack incoming webhook's URL",
            )?,
            running_limit: vars.seconds_or("RUNNING_LIMIT_SECONDS", 3600)?,
            stuck_claim: vars.seconds_or("STUCK_CLAIM_SECONDS", 3600)?,
            cursor_max_age,
            ko_lookback: vars.seconds_or("KO_LOOKBACK_SECONDS", 86_400)?,
            http_timeout: vars.millis_or("HTTP_TIMEOUT_MS", 10_000)?,
            digest_sender: vars.required(
                "DIGEST_SENDER",
                "the e-mail address (a verified SES identity) the daily digest comes from",
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_limits_pick_the_longest_matching_prefix() {
        let limits = CursorLimits::parse(" bokbasen#=93600, fs#=1800,fs#uib#=7200 ,").unwrap();
        assert_eq!(
            limits.limit("bokbasen#objects"),
            Some(("bokbasen#", Duration::from_secs(93_600)))
        );
        assert_eq!(
            limits.limit("fs#uio#klage"),
            Some(("fs#", Duration::from_secs(1_800)))
        );
        assert_eq!(
            limits.limit("fs#uib#begrunnelse"),
            Some(("fs#uib#", Duration::from_secs(7_200)))
        );
        assert_eq!(limits.limit("other#x"), None);
        assert_eq!(CursorLimits::parse("").unwrap(), CursorLimits::default());
    }

    #[test]
    fn bad_cursor_limits_are_refused_naming_the_pair() {
        for bad in ["fs#", "fs#=soon", "=60", "fs#=0"] {
            let error = CursorLimits::parse(bad).unwrap_err();
            assert!(error.contains(bad), "{error}");
        }
        let vars = Vars::from_pairs([
            ("STATE_TABLE", "s"),
            ("EXECUTIONS_TABLE", "e"),
            ("CONFIG_TABLE", "c"),
            ("DLQ_URLS", "http://q/1"),
            ("SLACK_SECRET_ID", "slack"),
            ("CURSOR_MAX_AGE", "fs#=soon"),
        ]);
        let error = Config::from_vars(&vars).unwrap_err();
        assert!(error.message().contains("CURSOR_MAX_AGE"), "{error}");
    }

    #[test]
    fn dlq_urls_are_split_and_defaults_apply() {
        let vars = Vars::from_pairs([
            ("STATE_TABLE", "s"),
            ("EXECUTIONS_TABLE", "e"),
            ("CONFIG_TABLE", "c"),
            ("DLQ_URLS", "http://q/a-dlq, http://q/b-dlq,"),
            ("SLACK_SECRET_ID", "slack"),
            ("DIGEST_SENDER", "flyt-digest@example.org"),
        ]);
        let config = Config::from_vars(&vars).unwrap();
        assert_eq!(config.dlq_urls, ["http://q/a-dlq", "http://q/b-dlq"]);
        assert_eq!(config.running_limit, Duration::from_secs(3600));
        assert_eq!(config.stuck_claim, Duration::from_secs(3600));
        assert_eq!(config.ko_lookback, Duration::from_secs(86_400));
        assert_eq!(config.cursor_max_age, CursorLimits::default());
        assert_eq!(config.digest_sender, "flyt-digest@example.org");
    }
}
