//! The functions of the template, built in-process from their resolved environment: the same
//! handlers that run in Lambda, called the way Lambda calls them.

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayV2CustomAuthorizerV2Request, ApiGatewayV2httpRequest};
use aws_lambda_events::sqs::SqsEvent;
use flyt::apply::Deadline;
use flyt::aws::AwsClients;
use flyt::config::Vars;
use futures::future::BoxFuture;
use serde_json::Value;

/// A handler that takes a Lambda event as JSON and answers with JSON.
pub trait Function: Send + Sync {
    /// Invokes the handler; `deadline` is when Lambda would kill the invocation (the handlers
    /// that consume queues stop in time for it, the others ignore it).
    fn invoke(&self, event: Value, deadline: Deadline) -> BoxFuture<'_, flyt::Result<Value>>;
}

impl Function for bokbasen_fetch::Fetcher {
    fn invoke(&self, event: Value, _deadline: Deadline) -> BoxFuture<'_, flyt::Result<Value>> {
        Box::pin(self.handle(event))
    }
}

impl Function for ops_watch::Watch {
    fn invoke(&self, event: Value, _deadline: Deadline) -> BoxFuture<'_, flyt::Result<Value>> {
        Box::pin(self.handle(event))
    }
}

impl Function for thesis_archive::Archivist {
    fn invoke(&self, event: Value, deadline: Deadline) -> BoxFuture<'_, flyt::Result<Value>> {
        Box::pin(self.handle(event, deadline))
    }
}

/// An SQS-triggered handler: the event is parsed as Lambda's SQS event, the partial-batch
/// response returned as JSON.
macro_rules! sqs_function {
    ($type:ty) => {
        impl Function for $type {
            fn invoke(
                &self,
                event: Value,
                deadline: Deadline,
            ) -> BoxFuture<'_, flyt::Result<Value>> {
                Box::pin(async move {
                    let event: SqsEvent = serde_json::from_value(event)
                        .map_err(|e| flyt::Error::mapping(format!("not an SQS event: {e}")))?;
                    let response = self.handle(event, deadline).await?;
                    serde_json::to_value(response)
                        .map_err(|e| flyt::Error::technical(e.to_string()))
                })
            }
        }
    };
}

sqs_function!(alma_forward::Forwarder);
sqs_function!(exam_dispatch::Dispatcher);
sqs_function!(fs_return::Returner);

impl Function for fs_poll::Poller {
    fn invoke(&self, event: Value, _deadline: Deadline) -> BoxFuture<'_, flyt::Result<Value>> {
        Box::pin(self.handle(event))
    }
}

impl Function for wiseflow_poll::Poller {
    fn invoke(&self, _event: Value, _deadline: Deadline) -> BoxFuture<'_, flyt::Result<Value>> {
        Box::pin(async move {
            let reports = self.poll_all().await?;
            serde_json::to_value(reports).map_err(|e| flyt::Error::technical(e.to_string()))
        })
    }
}

impl Function for inspera_webhook::Receiver {
    fn invoke(&self, event: Value, _deadline: Deadline) -> BoxFuture<'_, flyt::Result<Value>> {
        Box::pin(async move {
            let request: ApiGatewayV2httpRequest = serde_json::from_value(event)
                .map_err(|e| flyt::Error::mapping(format!("not an API Gateway v2 request: {e}")))?;
            let response = self.handle(request).await;
            serde_json::to_value(response).map_err(|e| flyt::Error::technical(e.to_string()))
        })
    }
}

impl Function for digeks_authorizer::Authorizer {
    fn invoke(&self, event: Value, _deadline: Deadline) -> BoxFuture<'_, flyt::Result<Value>> {
        Box::pin(async move {
            let request: ApiGatewayV2CustomAuthorizerV2Request = serde_json::from_value(event)
                .map_err(|e| flyt::Error::mapping(format!("not an authorizer request: {e}")))?;
            let response = self.handle(request).await?;
            serde_json::to_value(response).map_err(|e| flyt::Error::technical(e.to_string()))
        })
    }
}

impl Function for digeks_proxy::Proxy {
    fn invoke(&self, event: Value, deadline: Deadline) -> BoxFuture<'_, flyt::Result<Value>> {
        Box::pin(async move {
            let request: ApiGatewayV2httpRequest = serde_json::from_value(event)
                .map_err(|e| flyt::Error::mapping(format!("not an API Gateway v2 request: {e}")))?;
            let response = self.handle(request, deadline).await;
            serde_json::to_value(response).map_err(|e| flyt::Error::technical(e.to_string()))
        })
    }
}

impl Function for log_overview::LogOverview {
    fn invoke(&self, event: Value, _deadline: Deadline) -> BoxFuture<'_, flyt::Result<Value>> {
        Box::pin(async move {
            let request: ApiGatewayV2httpRequest = serde_json::from_value(event)
                .map_err(|e| flyt::Error::mapping(format!("not an API Gateway v2 request: {e}")))?;
            let response = self.handle(request).await;
            serde_json::to_value(response).map_err(|e| flyt::Error::technical(e.to_string()))
        })
    }
}

/// Builds the handler of `binary` as a cold start would.
pub async fn build(
    binary: &str,
    vars: &Vars,
    aws: &AwsClients,
) -> Result<Arc<dyn Function>, String> {
    let function: Arc<dyn Function> = match binary {
        "bokbasen-fetch" => Arc::new(
            bokbasen_fetch::Fetcher::from_vars(vars, aws)
                .await
                .map_err(|e| e.to_string())?,
        ),
        "alma-forward" => Arc::new(
            alma_forward::Forwarder::from_vars(vars, aws)
                .await
                .map_err(|e| e.to_string())?,
        ),
        "fs-poll" => Arc::new(
            fs_poll::Poller::from_vars(vars, aws)
                .await
                .map_err(|e| e.to_string())?,
        ),
        "exam-dispatch" => Arc::new(
            exam_dispatch::Dispatcher::from_vars(vars, aws)
                .await
                .map_err(|e| e.to_string())?,
        ),
        "inspera-webhook" => Arc::new(
            inspera_webhook::Receiver::from_vars(vars, aws)
                .await
                .map_err(|e| e.to_string())?,
        ),
        "wiseflow-poll" => Arc::new(
            wiseflow_poll::Poller::from_vars(vars, aws)
                .await
                .map_err(|e| e.to_string())?,
        ),
        "fs-return" => Arc::new(
            fs_return::Returner::from_vars(vars, aws)
                .await
                .map_err(|e| e.to_string())?,
        ),
        "thesis-archive" => Arc::new(
            thesis_archive::Archivist::from_vars(vars, aws)
                .await
                .map_err(|e| e.to_string())?,
        ),
        "digeks-authorizer" => Arc::new(
            digeks_authorizer::Authorizer::from_vars(vars, aws).map_err(|e| e.to_string())?,
        ),
        "digeks-proxy" => Arc::new(
            digeks_proxy::Proxy::from_vars(vars, aws)
                .await
                .map_err(|e| e.to_string())?,
        ),
        "ops-watch" => Arc::new(
            ops_watch::Watch::from_vars(vars, aws)
                .await
                .map_err(|e| e.to_string())?,
        ),
        "log-overview" => Arc::new(
            log_overview::LogOverview::from_vars(vars, aws)
                .await
                .map_err(|e| e.to_string())?,
        ),
        other => return Err(format!("no local handler for function binary {other}")),
    };
    Ok(function)
}
