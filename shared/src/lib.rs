//! Flyt's shared library: what every function needs, done once.
//!
//! - [`config`]: settings from the environment, failing early with the variable's name.
//! - [`aws`]: SDK clients built once; [`aws::RequestCounter`] for benchmarks.
//! - [`error`]: the one error type and its five categories.
//! - [`retry`]: the one retry policy. [`http`]: the one HTTP client builder.
//! - [`batch`]: SQS partial-batch processing, parking and deferral. [`sender`]: batched sending.
//! - [`cursor`], [`ordering`]: state in DynamoDB with conditional writes.
//! - [`execution`]: executions and their categorised log lines.
//! - [`observability`]: JSON logs and EMF metrics. [`redrive`]: DLQ back to its source queue.
//! - [`clients`]: the external systems. [`bokbasen`], [`alma`]: pure domain types and mappings.

pub mod alma;
pub mod aws;
pub mod batch;
pub mod bokbasen;
pub mod clients;
pub mod config;
pub mod cursor;
pub mod dynamo;
pub mod error;
pub mod execution;
pub mod http;
pub mod institution;
pub mod observability;
pub mod ordering;
pub mod redrive;
pub mod retry;
pub mod secrets;
pub mod sender;
pub mod time;

pub use error::{Category, Error, Result};
