//! The functions of the template, built in-process from their resolved environment: the same
//! handlers that run in Lambda, called the way Lambda calls them.

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use flyt::aws::AwsClients;
use flyt::config::Vars;
use futures::future::BoxFuture;
use serde_json::Value;

/// A handler that takes a Lambda event as JSON and answers with JSON.
pub trait Function: Send + Sync {
    /// Invokes the handler.
    fn invoke(&self, event: Value) -> BoxFuture<'_, flyt::Result<Value>>;
}

impl Function for bokbasen_fetch::Fetcher {
    fn invoke(&self, event: Value) -> BoxFuture<'_, flyt::Result<Value>> {
        Box::pin(self.handle(event))
    }
}

impl Function for alma_forward::Forwarder {
    fn invoke(&self, event: Value) -> BoxFuture<'_, flyt::Result<Value>> {
        Box::pin(async move {
            let event: SqsEvent = serde_json::from_value(event)
                .map_err(|e| flyt::Error::mapping(format!("not an SQS event: {e}")))?;
            let response = self.handle(event).await?;
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
        other => return Err(format!("no local handler for function binary {other}")),
    };
    Ok(function)
}
