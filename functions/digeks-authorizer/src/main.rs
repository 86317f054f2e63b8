use aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use flyt::aws::AwsClients;
use flyt::config::Vars;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    flyt::observability::init_logging();
    let aws = AwsClients::from_environment().await;
    let authorizer = digeks_authorizer::Authorizer::from_vars(&Vars::from_process(), &aws)?;
    let authorizer = &authorizer;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2CustomAuthorizerV2Request>| async move {
            authorizer.handle(event.payload).await
        },
    ))
    .await
}
