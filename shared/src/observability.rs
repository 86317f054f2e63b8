//! Logs and metrics. Logs are JSON lines through `tracing`, each carrying the fields of the spans it
//! is in: the Lambda runtime's `requestId` and Flyt's `correlation_id`. Metrics are CloudWatch
//! Embedded Metric Format lines on stdout: CloudWatch turns them into metrics with no API call.
//!
//! Only ids (ISBN, vurdId, kandidatnr, execution ids) are ever logged, never personal data.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The CloudWatch namespace of Flyt's metrics.
pub const METRICS_NAMESPACE: &str = "Flyt";

/// Installs the JSON log subscriber (level from `RUST_LOG`, default `info`). Safe to call twice.
pub fn init_logging() {
    init_logging_with(std::io::stdout, "info");
}

/// Installs the JSON log subscriber writing to `writer`, at `default_level` unless `RUST_LOG`
/// says otherwise; the local runner logs to stderr at `warn`, tests capture lines with it.
pub fn init_logging_with<W>(writer: W, default_level: &str)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{default_level},aws_config=warn,aws_smithy_runtime=warn"
        ))
    });
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(true)
        .flatten_event(true)
        .with_target(false)
        .with_writer(writer)
        .try_init();
}

/// Metrics of one unit of work, written as one EMF line.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    dimensions: BTreeMap<String, String>,
    values: BTreeMap<String, f64>,
}

impl Metrics {
    /// Metrics with the `service` dimension (the function or interface name).
    pub fn new(service: &str) -> Self {
        let mut metrics = Metrics::default();
        metrics
            .dimensions
            .insert("service".to_owned(), service.to_owned());
        metrics
    }

    /// Adds to a count metric.
    pub fn count(&mut self, name: &str, value: u64) -> &mut Self {
        *self.values.entry(name.to_owned()).or_insert(0.0) += value as f64;
        self
    }

    /// The EMF document (one JSON object), or `None` when nothing was recorded.
    pub fn to_emf(&self, timestamp_ms: i64) -> Option<Value> {
        if self.values.is_empty() {
            return None;
        }
        let names: Vec<Value> = self
            .values
            .keys()
            .map(|k| json!({"Name": k, "Unit": "Count"}))
            .collect();
        let mut document = json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [self.dimensions.keys().collect::<Vec<_>>()],
                    "Metrics": names,
                }]
            }
        });
        let object = document.as_object_mut().expect("a JSON object");
        for (k, v) in &self.dimensions {
            object.insert(k.clone(), json!(v));
        }
        for (k, v) in &self.values {
            object.insert(k.clone(), json!(v));
        }
        Some(document)
    }

    /// Writes the EMF line to stdout, where Lambda's log agent picks it up. Outside Lambda (the
    /// local runner, tests) the line goes to the debug log instead of mixing into stdout.
    pub fn emit(&self) {
        if let Some(document) = self.to_emf(crate::time::now_ms()) {
            if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
                println!("{document}");
            } else {
                tracing::debug!(metrics = %document, "metrics");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_declares_every_metric_and_dimension() {
        let mut metrics = Metrics::new("alma-forward");
        metrics
            .count("applied", 3)
            .count("parked", 1)
            .count("applied", 2);
        let emf = metrics.to_emf(1_000).unwrap();
        assert_eq!(emf["_aws"]["Timestamp"], 1_000);
        assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Flyt");
        assert_eq!(
            emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "service"
        );
        assert_eq!(
            emf["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "applied"
        );
        assert_eq!(emf["applied"], 5.0);
        assert_eq!(emf["parked"], 1.0);
        assert_eq!(emf["service"], "alma-forward");
    }

    #[test]
    fn nothing_recorded_means_no_line() {
        assert!(Metrics::new("x").to_emf(0).is_none());
    }
}
