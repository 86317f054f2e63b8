use flyt::apply::Deadline;
use flyt::aws::AwsClients;
use flyt::config::Vars;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    flyt::observability::init_logging();
    let aws = AwsClients::from_environment().await;
    let archivist = thesis_archive::Archivist::from_vars(&Vars::from_process(), &aws).await?;
    let archivist = &archivist;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        archivist
            .handle(event.payload, Deadline::from_context(&event.context))
            .await
    }))
    .await
}
