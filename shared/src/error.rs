//! The one error type of Flyt. Every error carries a [`Category`] that tells an operator what to do
//! and tells the platform whether a retry can help.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What kind of failure this is, in the words support staff use (seed `003_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Category {
    /// The other system failed or refused for now: re-run; if it persists, contact that system's provider.
    External,
    /// Flyt's configuration is wrong or missing: fix the configuration, then redrive or re-run.
    Configuration,
    /// The data did not fit the mapping: fix the data or the mapping, then redrive.
    Mapping,
    /// Something unexpected inside Flyt: contact support.
    Technical,
    /// Follows from an error reported above it: look at that one first.
    Cascade,
}

impl Category {
    /// All categories, in the order operators read them.
    pub const ALL: [Category; 5] = [
        Category::External,
        Category::Configuration,
        Category::Mapping,
        Category::Technical,
        Category::Cascade,
    ];

    /// Whether retrying the same work later can succeed. Configuration and Mapping errors need a
    /// person first, so their messages are parked at once instead of burning retries.
    pub fn is_retryable(self) -> bool {
        matches!(self, Category::External | Category::Technical)
    }

    /// The category's name as written in logs, message attributes and executions.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::External => "External",
            Category::Configuration => "Configuration",
            Category::Mapping => "Mapping",
            Category::Technical => "Technical",
            Category::Cascade => "Cascade",
        }
    }

    /// What an operator should do about an error of this category.
    pub fn action(self) -> &'static str {
        match self {
            Category::External => "the other system failed: re-run; if it persists, contact that system's provider",
            Category::Configuration => "fix the configuration named in the message, then redrive or re-run",
            Category::Mapping => "the data did not fit: fix the data or the mapping named in the message, then redrive",
            Category::Technical => "unexpected error inside Flyt: contact support with the execution id",
            Category::Cascade => "this follows from an error above: fix that one first",
        }
    }

    /// Parses a category name as written by [`Category::as_str`].
    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with its category and a message that names the system, the item and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    category: Category,
    message: String,
    retry_after: Option<Duration>,
}

/// Result with Flyt's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of the given category.
    pub fn new(category: Category, message: impl Into<String>) -> Self {
        Error {
            category,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The other system failed (5xx, timeout, throttling, garbage answer).
    pub fn external(message: impl Into<String>) -> Self {
        Error::new(Category::External, message)
    }

    /// Flyt's configuration is missing or wrong.
    pub fn configuration(message: impl Into<String>) -> Self {
        Error::new(Category::Configuration, message)
    }

    /// The data does not fit the mapping.
    pub fn mapping(message: impl Into<String>) -> Self {
        Error::new(Category::Mapping, message)
    }

    /// An unexpected failure inside Flyt or its AWS dependencies.
    pub fn technical(message: impl Into<String>) -> Self {
        Error::new(Category::Technical, message)
    }

    /// A failure caused by an earlier one.
    pub fn cascade(message: impl Into<String>) -> Self {
        Error::new(Category::Cascade, message)
    }

    /// The other side asked us to wait this long before trying again (HTTP `Retry-After`).
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// Prefixes the message with context, keeping the category.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The category.
    pub fn category(&self) -> Category {
        self.category
    }

    /// The message, without the category.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// How long the other side asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether a later retry can succeed.
    pub fn is_retryable(&self) -> bool {
        self.category.is_retryable()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.category, self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for lambda_runtime::Diagnostic {
    fn from(error: Error) -> Self {
        lambda_runtime::Diagnostic {
            error_type: format!("Flyt{}", error.category),
            error_message: error.message,
        }
    }
}

/// Turns an AWS SDK error into a Flyt error that names the service and operation. Throttling,
/// timeouts and 5xx are External (retryable); everything else is Technical.
pub fn aws_error<E, R>(
    service: &str,
    operation: &str,
    error: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: fmt::Debug,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    let detail = match &error {
        SdkError::ServiceError(service_error) => format!("{}", service_error.err()),
        other => format!("{}", aws_sdk_sqs::error::DisplayErrorContext(other)),
    };
    sdk_error(
        format!("AWS {service} {operation} failed: {detail}"),
        &error,
    )
}

/// `message` as the category of an AWS SDK failure: throttling, timeouts and 5xx are External
/// (retryable); everything else is Technical.
fn sdk_error<E, R>(
    message: String,
    error: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> Error {
    use aws_smithy_runtime_api::client::result::SdkError;
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Error::external(message)
        }
        _ => Error::technical(message),
    }
}

/// Like [`aws_error`], but carrying only the error code: for services whose messages echo what
/// they were given, such as SES naming the address it could not send to.
pub fn aws_error_code_only<E, R>(
    service: &str,
    operation: &str,
    error: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> Error
where
    E: aws_sdk_sesv2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    let code = match &error {
        SdkError::ServiceError(service_error) => service_error
            .err()
            .code()
            .unwrap_or("a service error without a code"),
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(_) => "dispatch failure",
        SdkError::ResponseError(_) => "unreadable response",
        _ => "request not built",
    };
    sdk_error(format!("AWS {service} {operation} failed: {code}"), &error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_external_and_technical_are_retried() {
        let retried: Vec<_> = Category::ALL
            .into_iter()
            .filter(|c| c.is_retryable())
            .collect();
        assert_eq!(retried, vec![Category::External, Category::Technical]);
    }

    #[test]
    fn category_names_round_trip() {
        for category in Category::ALL {
            assert_eq!(Category::parse(category.as_str()), Some(category));
        }
        assert_eq!(Category::parse("external"), None);
    }

    #[test]
    fn display_shows_category_and_context() {
        let error = Error::mapping("ISBN13 is empty").context("objects item 4");
        assert_eq!(
            error.to_string(),
            "[Mapping] objects item 4: ISBN13 is empty"
        );
        assert_eq!(error.category(), Category::Mapping);
    }

    #[test]
    fn diagnostic_carries_category_as_type() {
        let diagnostic: lambda_runtime::Diagnostic =
            Error::configuration("STATE_TABLE is not set").into();
        assert_eq!(diagnostic.error_type, "FlytConfiguration");
        assert_eq!(diagnostic.error_message, "STATE_TABLE is not set");
    }
}
