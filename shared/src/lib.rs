//! Flyt's shared library: what every function needs, done once.
//!
//! - [`config`]: settings from the environment, failing early with the variable's name.
//! - [`aws`]: SDK clients built once; [`aws::RequestCounter`] for benchmarks.
//! - [`error`]: the one error type and its five categories.
//! - [`retry`]: the one retry policy. [`http`]: the one HTTP client builder.
//! - [`batch`]: SQS partial-batch processing, parking and deferral. [`apply`]: the claim → apply →
//!   complete pipeline of consuming functions. [`sender`]: batched sending.
//! - [`cursor`], [`ordering`], [`open_explanations`]: state in DynamoDB with conditional writes.
//!   [`archiver`]: theses into the S3 archive, crash-safe; [`thesis_store`]: theses and holds.
//! - [`execution`]: executions and their categorised log lines. [`export`]: an execution as CSV
//!   or XLSX.
//! - [`scrub`]: the one way another system's text enters an error, without personal data.
//! - [`observability`]: JSON logs and EMF metrics. [`redrive`]: DLQ back to its source queue.
//!   [`notify`]: failure notifications to Slack through a per-interface blacklist.
//!   [`digest`]: the daily digest e-mail per institution and who opted in to it. [`viewers`]: who
//!   may see an institution's log overview.
//! - [`signature`]: webhook signatures (Inspera's HMAC-SHA1), checked in constant time.
//! - [`credentials`], [`api_clients`], [`principal`]: the DigEks proxy's API keys and passwords,
//!   its clients and their grants, and what the authorizer hands the proxy.
//! - [`clients`]: the external systems; [`connections`]: their addresses and credentials per
//!   institution. [`bokbasen`], [`alma`], [`appeals`], [`archive`], [`institution`]: pure domain types and
//!   mappings.

pub mod alma;
pub mod api_clients;
pub mod appeals;
pub mod apply;
pub mod archive;
pub mod archiver;
pub mod aws;
pub mod batch;
pub mod bokbasen;
pub mod clients;
pub mod config;
pub mod connections;
pub mod credentials;
pub mod cursor;
pub mod digest;
pub mod dynamo;
pub mod error;
pub mod execution;
pub mod export;
pub mod http;
pub mod institution;
pub mod notify;
pub mod observability;
pub mod open_explanations;
pub mod ordering;
pub mod principal;
pub mod redrive;
pub mod retry;
pub mod scrub;
pub mod secrets;
pub mod sender;
pub mod signature;
pub mod thesis_store;
pub mod time;
pub mod viewers;

pub use error::{Category, Error, Result};
