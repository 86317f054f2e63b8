//! AWS SDK clients, built once per cold start. `aws-config` honours `AWS_ENDPOINT_URL`, so the same
//! code talks to AWS in Lambda and to the local emulator on a laptop.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// The AWS clients Flyt's functions use.
#[derive(Clone, Debug)]
pub struct AwsClients {
    /// SQS: work queues, dead-letter queues.
    pub sqs: aws_sdk_sqs::Client,
    /// DynamoDB: cursors, item versions, executions.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Secrets Manager: credentials of the external systems.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// S3: the thesis archive. Path-style addressing when an endpoint is set (the emulator);
    /// virtual-hosted on AWS.
    pub s3: aws_sdk_s3::Client,
    /// SES v2: the daily digest e-mail.
    pub ses: aws_sdk_sesv2::Client,
}

/// How long one attempt of an AWS call may take, and the call with its retries, for every service
/// but S3. The SDK sets no operation timeout by default, so a stalled connection would hold a
/// call until Lambda kills the invocation, with no error said; these fail it in time to answer.
/// Generous against AWS's milliseconds, so a slow emulator on a busy machine is not cut.
pub const CALL_TIMEOUTS: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(25));

/// The same for S3, whose attempts carry whole parts of a thesis.
pub const S3_TIMEOUTS: (Duration, Duration) = (Duration::from_secs(120), Duration::from_secs(280));

fn timeouts((attempt, operation): (Duration, Duration)) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(attempt)
        .operation_timeout(operation)
        .build()
}

impl AwsClients {
    /// Builds every client from one shared configuration, each with its operation timeouts
    /// ([`CALL_TIMEOUTS`], [`S3_TIMEOUTS`]). With a [`RequestCounter`], every HTTP request the
    /// SDK sends (retries included) is counted per service and operation.
    pub fn new(sdk: &SdkConfig, counter: Option<&RequestCounter>) -> Self {
        let calls = timeouts(CALL_TIMEOUTS);
        let mut sqs = aws_sdk_sqs::config::Builder::from(sdk).timeout_config(calls.clone());
        let mut dynamodb =
            aws_sdk_dynamodb::config::Builder::from(sdk).timeout_config(calls.clone());
        let mut secrets =
            aws_sdk_secretsmanager::config::Builder::from(sdk).timeout_config(calls.clone());
        let mut ses = aws_sdk_sesv2::config::Builder::from(sdk).timeout_config(calls);
        let mut s3 = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .timeout_config(timeouts(S3_TIMEOUTS));
        if let Some(counter) = counter {
            s3 = s3.interceptor(counter.clone());
            sqs = sqs.interceptor(counter.clone());
            dynamodb = dynamodb.interceptor(counter.clone());
            secrets = secrets.interceptor(counter.clone());
            ses = ses.interceptor(counter.clone());
        }
        AwsClients {
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            secrets: aws_sdk_secretsmanager::Client::from_conf(secrets.build()),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            ses: aws_sdk_sesv2::Client::from_conf(ses.build()),
        }
    }

    /// Clients configured from the environment, as in Lambda (`AWS_REGION`, credentials from the
    /// execution role, `AWS_ENDPOINT_URL` when set).
    pub async fn from_environment() -> Self {
        AwsClients::new(
            &aws_config::defaults(BehaviorVersion::latest()).load().await,
            None,
        )
    }
}

/// SDK configuration for an explicit endpoint with static test credentials: the local emulator.
pub async fn emulator_config(endpoint_url: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint_url)
        .region(Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "flyt-local",
        ))
        .load()
        .await
}

/// Counts the HTTP requests the SDK sends, by `service:operation`. Benchmarks use it to report AWS
/// requests per delivered item.
#[derive(Clone, Debug, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl RequestCounter {
    /// Counts so far, keyed `Service:Operation`.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .expect("request counter poisoned")
            .clone()
    }

    /// Total requests so far.
    pub fn total(&self) -> u64 {
        self.counts
            .lock()
            .expect("request counter poisoned")
            .values()
            .sum()
    }

    /// Totals per service.
    pub fn by_service(&self) -> BTreeMap<String, u64> {
        let mut services = BTreeMap::new();
        for (key, count) in self.snapshot() {
            let service = key.split(':').next().unwrap_or_default().to_owned();
            *services.entry(service).or_insert(0) += count;
        }
        services
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "FlytRequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_sqs::error::BoxError> {
        let key = match cfg.load::<Metadata>() {
            Some(metadata) => format!("{}:{}", metadata.service(), metadata.name()),
            None => "unknown:unknown".to_owned(),
        };
        *self
            .counts
            .lock()
            .expect("request counter poisoned")
            .entry(key)
            .or_insert(0) += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_client_carries_operation_timeouts() {
        let aws = AwsClients::new(
            &emulator_config("http://127.0.0.1:9", "eu-north-1").await,
            None,
        );
        let expected = |(attempt, operation): (Duration, Duration)| {
            (Some(attempt), Some(operation), Some(Duration::from_secs(3)))
        };
        let of = |config: Option<&TimeoutConfig>| {
            let config = config.expect("a timeout configuration");
            (
                config.operation_attempt_timeout(),
                config.operation_timeout(),
                config.connect_timeout(),
            )
        };
        for (service, timeouts) in [
            ("sqs", of(aws.sqs.config().timeout_config())),
            ("dynamodb", of(aws.dynamodb.config().timeout_config())),
            ("secretsmanager", of(aws.secrets.config().timeout_config())),
            ("sesv2", of(aws.ses.config().timeout_config())),
        ] {
            assert_eq!(timeouts, expected(CALL_TIMEOUTS), "{service}");
        }
        assert_eq!(
            of(aws.s3.config().timeout_config()),
            expected(S3_TIMEOUTS),
            "s3"
        );
    }
}
