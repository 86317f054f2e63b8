use aws_lambda_events::sqs::SqsEvent;
use flyt::apply::Deadline;
use flyt::aws::AwsClients;
use flyt::config::Vars;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    flyt::observability::init_logging();
    let aws = AwsClients::from_environment().await;
    let dispatcher = exam_dispatch::Dispatcher::from_vars(&Vars::from_process(), &aws).await?;
    let dispatcher = &dispatcher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        dispatcher
            .handle(event.payload, Deadline::from_context(&event.context))
            .await
    }))
    .await
}
