use flyt::aws::AwsClients;
use flyt::config::Vars;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    flyt::observability::init_logging();
    let aws = AwsClients::from_environment().await;
    let poller = fs_poll::Poller::from_vars(&Vars::from_process(), &aws).await?;
    let poller = &poller;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        poller.handle(event.payload).await
    }))
    .await
}
