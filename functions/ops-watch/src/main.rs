use flyt::aws::AwsClients;
use flyt::config::Vars;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    flyt::observability::init_logging();
    let aws = AwsClients::from_environment().await;
    let watch = ops_watch::Watch::from_vars(&Vars::from_process(), &aws).await?;
    let watch = &watch;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        watch.handle(event.payload).await
    }))
    .await
}
