//! The function's settings, read once at cold start.

use std::time::Duration;

use flyt::config::Vars;
use flyt::{Error, Result};

/// Everything `log-overview` needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// DynamoDB table of executions and their lines.
    pub executions_table: String,
    /// DynamoDB table of institutions (their `feide_realm`).
    pub config_table: String,
    /// The OpenID Connect issuer; its discovery document is at
    /// `<issuer>/.well-known/openid-configuration`. No trailing slash.
    pub oidc_issuer: String,
    /// The client id registered with the IdP (Feide's dashboard).
    pub oidc_client_id: String,
    /// The secret with the client secret and the cookie key.
    pub oidc_secret_id: String,
    /// The page's own base URL, e.g. `https://logs.flyt.example`: the redirect URI registered with
    /// the IdP is this followed by `/callback`. None: the API's own domain name, as API Gateway
    /// reports it.
    pub public_url: Option<String>,
    /// Timeout of one request to the IdP.
    pub http_timeout: Duration,
    /// The most executions the overview lists.
    pub limit: usize,
    /// How long an institution's connection (`feide_realm`) is trusted before it is read again.
    pub institution_cache: Duration,
}

impl Config {
    /// Reads the settings, failing with the name of the first missing or invalid variable.
    pub fn from_vars(vars: &Vars) -> Result<Self> {
        let oidc_issuer = base_url(
            "OIDC_ISSUER",
            &vars.required(
                "OIDC_ISSUER",
                "the OpenID Connect issuer, e.g. https://auth.dataporten.no (Feide)",
            )?,
        )?;
        let public_url = match vars.get("PUBLIC_URL") {
            Some(url) => Some(base_url("PUBLIC_URL", url)?),
            None => None,
        };
        let limit: usize = vars.parsed_or("OVERVIEW_LIMIT", 200, "a number from 1 to 1000")?;
        if !(1..=1000).contains(&limit) {
            return Err(Error::configuration(format!(
                "environment variable OVERVIEW_LIMIT is {limit}: expected a number from 1 to 1000"
            )));
        }
        Ok(Config {
            executions_table: vars
                .required("EXECUTIONS_TABLE", "the DynamoDB executions table's name")?,
            config_table: vars
                .required("CONFIG_TABLE", "the DynamoDB configuration table's name")?,
            oidc_issuer,
            oidc_client_id: vars.required(
                "OIDC_CLIENT_ID",
                "the client id the identity provider (Feide) gave the log overview",
            )?,
            oidc_secret_id: vars.required(
                "OIDC_SECRET_ID",
                "the id of the secret {\"client_secret\": ..., \"cookie_key\": ...}",
            )?,
            public_url,
            http_timeout: vars.millis_or("HTTP_TIMEOUT_MS", 5_000)?,
            limit,
            institution_cache: vars.seconds_or("INSTITUTION_CACHE_SECONDS", 60)?,
        })
    }
}

/// A base URL without its trailing slash: https, or http to a loopback host (the local platform).
fn base_url(name: &str, value: &str) -> Result<String> {
    let value = value.trim().trim_end_matches('/');
    let parsed = url::Url::parse(value).map_err(|e| {
        Error::configuration(format!(
            "environment variable {name} is {value:?}, not a URL ({e})"
        ))
    })?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    let fits = parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback);
    if !fits || parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::configuration(format!(
            "environment variable {name} is {value:?}: expected an https URL without query \
             (http only to 127.0.0.1 or localhost)"
        )));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(extra: &[(&str, &str)]) -> Vars {
        let mut vars = Vars::from_pairs([
            ("EXECUTIONS_TABLE", "executions"),
            ("CONFIG_TABLE", "config"),
            ("OIDC_ISSUER", "https://auth.dataporten.no/"),
            ("OIDC_CLIENT_ID", "client"),
            ("OIDC_SECRET_ID", "stack/log-overview"),
        ]);
        for (k, v) in extra {
            vars.set(*k, *v);
        }
        vars
    }

    #[test]
    fn urls_lose_their_trailing_slash_and_must_be_https_off_loopback() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(config.oidc_issuer, "https://auth.dataporten.no");
        assert_eq!(config.public_url, None);
        let local = Config::from_vars(&vars(&[
            ("OIDC_ISSUER", "http://127.0.0.1:4000"),
            ("PUBLIC_URL", "http://127.0.0.1:5000/"),
        ]))
        .unwrap();
        assert_eq!(local.public_url.as_deref(), Some("http://127.0.0.1:5000"));
        for (name, value) in [
            ("OIDC_ISSUER", "http://auth.dataporten.no"),
            ("PUBLIC_URL", "http://logs.example"),
            ("PUBLIC_URL", "https://logs.example/?x=1"),
            ("OIDC_ISSUER", "not a url"),
        ] {
            let error = Config::from_vars(&vars(&[(name, value)])).unwrap_err();
            assert!(error.message().contains(name), "{error}");
        }
    }
}
