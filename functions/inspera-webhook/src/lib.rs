//! `inspera-webhook`: the API Gateway route `POST /webhooks/inspera/{instance}` that Inspera calls
//! when an explanation is given, an appeal decided or a thesis submitted.
//!
//! The raw body's signature is checked against the instance's secret in constant time. Unsigned,
//! forged, oversized and replayed calls (a `timestamp` outside the accepted window), and calls for
//! an instance Flyt does not know, are refused alike ([`verify::refused_answer`]): nothing is
//! queued or written, the reason is logged and the refusal counted in the `refused` metric, so a
//! flood of them costs no DynamoDB write. A signed call that does not fit is rejected with a
//! warning line on the day's execution that says why. A genuine call is queued — for
//! `fs-return`, or a thesis for `thesis-archive` — then remembered: a retry of it by Inspera (same
//! body, same signature) is answered 200 and not queued again. The answer comes within
//! milliseconds, far inside Inspera's 10 s.

mod config;
pub mod verify;

use std::collections::HashMap;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine;
use flyt::appeals::{InsperaEvent, InsperaEventKind, ReturnItem};
use flyt::archive::ThesisMessage;
use flyt::aws::AwsClients;
use flyt::batch::ATTR_EXECUTION_ID;
use flyt::config::Vars;
use flyt::dynamo::{n, s};
use flyt::error::aws_error;
use flyt::execution::{DailyExecution, ExecutionStore, LogLine};
use flyt::observability::Metrics;
use flyt::retry::RetryPolicy;
use flyt::sender::{OutgoingMessage, Sender};
use flyt::Result;

pub use config::Config;
use verify::{check, refused_answer, unknown_instance, Limits, Verdict};

/// The interface name of the day's execution.
pub const INTERFACE: &str = "inspera-webhook";

/// The function's dependencies, built once per cold start.
pub struct Receiver {
    config: Config,
    secrets: HashMap<String, String>,
    dynamodb: aws_sdk_dynamodb::Client,
    executions: DailyExecution,
    sender: Sender,
}

impl Receiver {
    /// Builds the function from its settings: reads the webhook secrets.
    pub async fn from_vars(vars: &Vars, aws: &AwsClients) -> Result<Self> {
        let config = Config::from_vars(vars)?;
        let retry = RetryPolicy::from_vars(vars)?;
        let secrets: HashMap<String, String> = flyt::secrets::load_json(
            &aws.secrets,
            &config.webhook_secret_id,
            "the webhook secret per Inspera instance: {\"<instance>\": \"<secret>\"}",
        )
        .await?;
        Ok(Receiver {
            secrets,
            dynamodb: aws.dynamodb.clone(),
            executions: DailyExecution::new(
                ExecutionStore::new(aws.dynamodb.clone(), &config.executions_table),
                INTERFACE,
            ),
            sender: Sender::new(aws.sqs.clone(), retry, 1),
            config,
        })
    }

    /// The Lambda handler: always an HTTP answer; a failure of Flyt's own is a 500, so Inspera
    /// retries.
    pub async fn handle(&self, request: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let instance = request
            .path_parameters
            .get("instance")
            .cloned()
            .unwrap_or_default();
        let (status, message) = match self.receive(&instance, &request).await {
            Ok(answer) => answer,
            Err(error) => {
                tracing::error!(error = %error, instance, "webhook not received; Inspera will retry");
                (500, "not received: try again".to_owned())
            }
        };
        let mut metrics = Metrics::new(INTERFACE);
        metrics.count(&format!("status_{status}"), 1);
        metrics.emit();
        response(status, &message)
    }

    async fn receive(
        &self,
        instance: &str,
        request: &ApiGatewayV2httpRequest,
    ) -> Result<(u16, String)> {
        let body = match raw_body(request) {
            Ok(body) => body,
            Err(why) => return Ok(refused(401, &why)),
        };
        let signature = request
            .headers
            .get("x-inspera-signature")
            .and_then(|v| v.to_str().ok());
        let limits = Limits {
            max_body_bytes: self.config.max_body_bytes,
            max_age_ms: self.config.max_age.as_millis() as i64,
        };
        let verdict = match self.secrets.get(instance) {
            Some(secret) => check(
                secret.as_bytes(),
                &self.config.event_names,
                &body,
                signature,
                limits,
                flyt::time::now_ms(),
            ),
            None => unknown_instance(&body, limits),
        };
        let accepted = match verdict {
            Verdict::Accept(accepted) => accepted,
            Verdict::Ignore(event) => {
                let execution_id = self.executions.id().await?;
                self.executions
                    .record(&execution_id, &[("ignored", 1)], &[])
                    .await?;
                return Ok((
                    200,
                    format!("event {event} is not one Flyt handles; ignored"),
                ));
            }
            // Logged, not counted on an execution: it is Inspera checking the endpoint, not work.
            Verdict::Validation { signed } => {
                tracing::info!(
                    signed,
                    "subscription validation answered 200; nothing queued"
                );
                return Ok((200, "subscription validation accepted".to_owned()));
            }
            Verdict::Reject(status, why) => {
                return self.rejected(status, why).await;
            }
            Verdict::Refuse { status, reason } => return Ok(refused(status, &reason)),
        };
        let execution_id = self.executions.id().await?;
        let signature = signature.unwrap_or_default().trim().to_ascii_lowercase();
        if self.already_received(&signature).await? {
            self.executions
                .record(&execution_id, &[("repeated", 1)], &[])
                .await?;
            return Ok((200, "already received".to_owned()));
        }
        let event = InsperaEvent {
            kind: accepted.kind,
            instance: instance.to_owned(),
            test_id: accepted.test_id,
            associated_id: accepted.associated_id,
            timestamp: accepted.timestamp,
            execution_id: execution_id.clone(),
        };
        // Theses go to the archive flow; answers for FS to fs-return.
        let (queue, body) = match event.kind {
            InsperaEventKind::ThesisSubmitted => (
                &self.config.thesis_queue_url,
                serde_json::to_string(&ThesisMessage::Register(event)),
            ),
            _ => (
                &self.config.return_queue_url,
                serde_json::to_string(&ReturnItem::Inspera(event)),
            ),
        };
        let body = body.expect("a queued event serialises");
        self.sender
            .send_all(
                queue,
                // The tenant is Inspera's instance: one institution's, as the configuration
                // requires (an instance used by two institutions is a Configuration error).
                vec![OutgoingMessage::new(body)
                    .attribute(ATTR_EXECUTION_ID, &execution_id)
                    .tenant(instance)],
            )
            .await?;
        self.remember(&signature).await?;
        self.executions
            .record(&execution_id, &[("queued", 1)], &[])
            .await?;
        Ok((200, "queued".to_owned()))
    }

    async fn rejected(&self, status: u16, why: String) -> Result<(u16, String)> {
        let execution_id = self.executions.id().await?;
        tracing::warn!(status, reason = %why, "webhook rejected");
        let line = LogLine::warning(format!("call rejected ({status}): {why}"));
        self.executions
            .record(&execution_id, &[("rejected", 1)], &[line])
            .await?;
        Ok((status, why))
    }

    fn marker(signature: &str) -> String {
        format!("webhook#inspera#{signature}")
    }

    async fn already_received(&self, signature: &str) -> Result<bool> {
        let output = self
            .dynamodb
            .get_item()
            .table_name(&self.config.state_table)
            .key("pk", s(Self::marker(signature)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                aws_error("DynamoDB", "GetItem", e).context("checking for a repeated webhook")
            })?;
        Ok(output.item.is_some())
    }

    /// Remembers a queued call for twice the accepted age: older repeats are rejected as replays.
    async fn remember(&self, signature: &str) -> Result<()> {
        let now = flyt::time::now_ms();
        let expires_s = (now + 2 * self.config.max_age.as_millis() as i64) / 1000;
        self.dynamodb
            .put_item()
            .table_name(&self.config.state_table)
            .item("pk", s(Self::marker(signature)))
            .item("received_at", n(now))
            .item("expires_at", n(expires_s))
            .send()
            .await
            .map_err(|e| aws_error("DynamoDB", "PutItem", e).context("remembering a webhook"))?;
        Ok(())
    }
}

/// The body exactly as Inspera sent it (API Gateway may have base64-encoded it).
fn raw_body(request: &ApiGatewayV2httpRequest) -> std::result::Result<Vec<u8>, String> {
    let body = request.body.clone().unwrap_or_default();
    if request.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| format!("body marked base64 does not decode: {e}"))
    } else {
        Ok(body.into_bytes())
    }
}

/// A call not known to be Inspera's: logged with its reason and counted, never written down, and
/// answered as every refusal of its status is.
fn refused(status: u16, reason: &str) -> (u16, String) {
    tracing::warn!(status, reason, "webhook refused; nothing written");
    let mut metrics = Metrics::new(INTERFACE);
    metrics.count("refused", 1);
    metrics.emit();
    (status, refused_answer(status).to_owned())
}

fn response(status: u16, message: &str) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(status);
    response.headers.insert(
        "content-type",
        "application/json".parse().expect("a valid header value"),
    );
    response.body = Some(Body::Text(
        serde_json::json!({ "status": status, "message": message }).to_string(),
    ));
    response
}
