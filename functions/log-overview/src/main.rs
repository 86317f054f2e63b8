use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use flyt::aws::AwsClients;
use flyt::config::Vars;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    flyt::observability::init_logging();
    let aws = AwsClients::from_environment().await;
    let overview = log_overview::LogOverview::from_vars(&Vars::from_process(), &aws).await?;
    let overview = &overview;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            Ok::<_, flyt::Error>(overview.handle(event.payload).await)
        },
    ))
    .await
}
