//! Configuration from environment variables. A function reads all of its settings once at cold start
//! and fails at once with an error that names the variable and what to put in it.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};

/// A set of environment variables: the process environment in Lambda, or an explicit map in the
/// local runner and tests (so several functions with different settings can run in one process).
#[derive(Clone, Debug, Default)]
pub struct Vars {
    values: HashMap<String, String>,
}

impl Vars {
    /// The variables of this process.
    pub fn from_process() -> Self {
        Vars {
            values: std::env::vars().collect(),
        }
    }

    /// Variables from an explicit list of pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Vars {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Sets one variable (used by the local runner to override deployed defaults).
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.values.insert(name.into(), value.into());
    }

    /// Every variable, e.g. to pass them to a child process.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The raw value, if set and not blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// A variable that must be set. `purpose` says what it is, for the error message.
    pub fn required(&self, name: &str, purpose: &str) -> Result<String> {
        self.get(name).map(str::to_owned).ok_or_else(|| {
            Error::configuration(format!(
                "environment variable {name} is not set: set it to {purpose}"
            ))
        })
    }

    /// An optional variable parsed as `T`, with a default when unset.
    pub fn parsed_or<T>(&self, name: &str, default: T, expected: &str) -> Result<T>
    where
        T: FromStr,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|_| {
                Error::configuration(format!(
                    "environment variable {name} is {raw:?}: expected {expected}"
                ))
            }),
        }
    }

    /// An optional duration given in whole seconds.
    pub fn seconds_or(&self, name: &str, default_seconds: u64) -> Result<Duration> {
        self.parsed_or(name, default_seconds, "a whole number of seconds")
            .map(Duration::from_secs)
    }

    /// An optional duration given in milliseconds.
    pub fn millis_or(&self, name: &str, default_millis: u64) -> Result<Duration> {
        self.parsed_or(name, default_millis, "a whole number of milliseconds")
            .map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Category;

    #[test]
    fn missing_variable_is_a_configuration_error_naming_it() {
        let vars = Vars::from_pairs([("OTHER", "x")]);
        let error = vars
            .required("STATE_TABLE", "the DynamoDB state table's name")
            .unwrap_err();
        assert_eq!(error.category(), Category::Configuration);
        assert!(error.message().contains("STATE_TABLE"), "{error}");
        assert!(error.message().contains("state table"), "{error}");
    }

    #[test]
    fn blank_counts_as_missing() {
        let vars = Vars::from_pairs([("STATE_TABLE", "  ")]);
        assert!(vars.required("STATE_TABLE", "a table").is_err());
    }

    #[test]
    fn invalid_number_names_variable_value_and_expectation() {
        let vars = Vars::from_pairs([("PAGE_SIZE", "many")]);
        let error = vars
            .parsed_or::<u32>("PAGE_SIZE", 10, "a whole number from 1 to 5000")
            .unwrap_err();
        assert_eq!(
            error.message(),
            "environment variable PAGE_SIZE is \"many\": expected a whole number from 1 to 5000"
        );
    }

    #[test]
    fn defaults_apply_when_unset() {
        let vars = Vars::default();
        assert_eq!(
            vars.seconds_or("LEASE", 30).unwrap(),
            Duration::from_secs(30)
        );
        assert_eq!(
            vars.millis_or("TIMEOUT", 250).unwrap(),
            Duration::from_millis(250)
        );
    }
}
