use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use flyt::aws::AwsClients;
use flyt::config::Vars;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    flyt::observability::init_logging();
    let aws = AwsClients::from_environment().await;
    let proxy = digeks_proxy::Proxy::from_vars(&Vars::from_process(), &aws).await?;
    let proxy = &proxy;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            let deadline = flyt::apply::Deadline::from_context(&event.context);
            Ok::<_, flyt::Error>(proxy.handle(event.payload, deadline).await)
        },
    ))
    .await
}
