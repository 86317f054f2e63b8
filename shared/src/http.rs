//! The one way to build an HTTP client and to turn an HTTP failure into a categorised [`Error`].

use std::time::Duration;

use reqwest::{Response, StatusCode};

use crate::error::{Error, Result};

/// An HTTP client with a total request timeout and rustls. Build one per cold start and share it.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("flyt/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client's TLS backend is built in")
}

/// A transport failure (timeout, connection refused, broken body) talking to `system`.
pub fn transport_error(system: &str, what: &str, error: reqwest::Error) -> Error {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    Error::external(format!("{system} {what} {kind}: {}", without_url(&error)))
}

/// Reads the body of a response whose status is not a success, and categorises it:
/// 429 and 5xx are External (429 with its `Retry-After`), 401/403 are Configuration (credentials or
/// grants), other 4xx are Mapping (the request did not fit). The body excerpt names what the other
/// side said, scrubbed of personal data ([`crate::scrub`]).
pub async fn status_error(system: &str, what: &str, response: Response) -> Error {
    let status = response.status();
    let retry_after = retry_after(&response);
    let body = response.text().await.unwrap_or_default();
    let excerpt = crate::scrub::third_party_excerpt(&body, 300);
    let message = format!("{system} {what} answered {status}: {excerpt}");
    let error = match status {
        StatusCode::TOO_MANY_REQUESTS => Error::external(message),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::configuration(format!(
            "{message} (check the credentials and grants configured for {system})"
        )),
        s if s.is_server_error() => Error::external(message),
        _ => Error::mapping(message),
    };
    match retry_after {
        Some(wait) => error.with_retry_after(wait),
        None if status == StatusCode::TOO_MANY_REQUESTS => {
            error.with_retry_after(Duration::from_secs(1))
        }
        None => error,
    }
}

/// Starts downloading a file from `url`, and returns the successful response so the caller can
/// stream its body (`Response::chunk`, `Response::bytes_stream`) rather than hold it whole. The
/// URL is a link that needs no credentials, such as a pre-signed S3 URL: nothing is added to the
/// request. `what` names the file in error messages. The URL never appears in them, because its
/// query may carry a signature.
///
/// A 404 is a Mapping error: the exam system lists a file that it cannot deliver. Other failed
/// statuses are categorised as [`status_error`] does, transport failures as [`transport_error`]
/// does, and a link that is not a valid `https` URL ([`is_https_or_loopback`]) is a Mapping error.
pub async fn download(
    client: &reqwest::Client,
    system: &str,
    what: &str,
    url: &str,
) -> Result<Response> {
    if !is_https_or_loopback(url) {
        return Err(Error::mapping(format!(
            "{system} {what}: the download link is not https; {system} must hand out https links"
        )));
    }
    let response = client.get(url).send().await.map_err(|error| {
        if error.is_builder() {
            Error::mapping(format!(
                "{system} {what}: the download link is not a valid URL ({})",
                without_url(&error)
            ))
        } else {
            transport_error(system, what, error)
        }
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if status == StatusCode::NOT_FOUND {
        return Err(Error::mapping(format!(
            "{system} {what}: the file is missing (404): {system} lists it but cannot deliver it; ask {system} to restore the file or take it off the submission, then run again"
        )));
    }
    Err(status_error(system, what, response).await)
}

/// Whether `url` may carry credentials or a student's file: `https`, or `http` to this machine
/// (the local sandbox). A base URL read from a secret or a download link that is neither is
/// refused, so that no API key, password or thesis crosses the network in plain text.
pub fn is_https_or_loopback(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    match url.scheme() {
        "https" => true,
        "http" => url.host_str().is_some_and(|host| {
            host == "localhost"
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }),
        _ => false,
    }
}

/// Reads a successful response's body as text, categorising a broken body as External.
pub async fn body_text(system: &str, what: &str, response: Response) -> Result<String> {
    response
        .text()
        .await
        .map_err(|e| transport_error(system, what, e))
}

/// The `Retry-After` header in seconds, if present and numeric.
fn retry_after(response: &Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// At most `limit` characters of `text` on one line. Text of another system goes through
/// [`crate::scrub::third_party_excerpt`] instead.
pub fn excerpt(text: &str, limit: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= limit {
        one_line
    } else {
        let cut: String = one_line.chars().take(limit).collect();
        format!("{cut}…")
    }
}

/// reqwest's message without the URL, which may carry query parameters.
fn without_url(error: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    let mut deepest = None;
    while let Some(s) = source {
        deepest = Some(s.to_string());
        source = s.source();
    }
    deepest.unwrap_or_else(|| "request error".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_this_machine_may_carry_credentials() {
        for url in [
            "https://uio.wiseflow.net",
            "http://127.0.0.1:8123/fs",
            "http://localhost:9000",
            "http://[::1]:80/",
        ] {
            assert!(is_https_or_loopback(url), "{url}");
        }
        for url in [
            "http://fs.example.no/api",
            "http://10.0.0.1",
            "ftp://example.no",
            "not a url",
            "http://127.0.0.1.example.no",
        ] {
            assert!(!is_https_or_loopback(url), "{url}");
        }
    }

    #[test]
    fn excerpt_folds_whitespace_and_cuts() {
        assert_eq!(excerpt("a\n  b\tc", 10), "a b c");
        assert_eq!(excerpt("abcdef", 3), "abc…");
    }
}
