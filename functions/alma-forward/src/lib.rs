//! `alma-forward`: consumes the Alma queue and applies each Bokbasen item through the Alma-side API,
//! through the shared claim → apply → complete pipeline ([`flyt::apply`]): once per version, never an
//! older version over a newer one.

mod config;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use flyt::alma::{BookUpdate, UpdateResult};
use flyt::apply::{Applied, Applier, Deadline};
use flyt::aws::AwsClients;
use flyt::bokbasen::{parse_description, ForwardItem, Report};
use flyt::clients::alma::{AlmaClient, Credentials};
use flyt::clients::bokbasen::BokbasenClient;
use flyt::config::Vars;
use flyt::retry::RetryPolicy;
use flyt::secrets::{Credential, Refresh, Secret};
use flyt::sender::Sender;
use flyt::Result;

pub use config::Config;

/// The longest one external call of this function may take with its retries, from its settings:
/// the budget test holds it against the stop point ([`flyt::apply::Budget`]).
pub fn longest_call(vars: &Vars) -> Result<std::time::Duration> {
    Ok(RetryPolicy::from_vars(vars)?.longest_call(Config::from_vars(vars)?.http_timeout))
}

/// The function's dependencies, built once per cold start.
pub struct Forwarder {
    alma: AlmaClient,
    bokbasen: BokbasenClient,
    applier: Applier,
}

impl Forwarder {
    /// Builds the function from its settings: reads both secrets and makes the clients.
    pub async fn from_vars(vars: &Vars, aws: &AwsClients) -> Result<Self> {
        let config = Config::from_vars(vars)?;
        let retry = RetryPolicy::from_vars(vars)?;
        let alma_secret = Secret::load(
            &aws.secrets,
            &config.alma_secret_id,
            "api_key",
            Refresh::from_vars(vars)?,
            |_: &Credentials| Ok(()),
        )
        .await?;
        let http = flyt::http::client(config.http_timeout);
        let bokbasen = BokbasenClient::connect(
            http.clone(),
            config.bokbasen.clone(),
            &aws.secrets,
            retry.clone(),
        )
        .await?;
        let sender = Sender::new(aws.sqs.clone(), retry.clone(), 2);
        Ok(Forwarder {
            alma: AlmaClient::with_credential(
                http,
                &config.alma_api_url,
                Credential::whole(&alma_secret),
                retry,
            ),
            bokbasen,
            applier: Applier::from_settings("alma-forward", &config.applier, &aws.dynamodb, sender),
        })
    }

    /// The Lambda handler: one batch, within the invocation's `deadline`.
    pub async fn handle(&self, event: SqsEvent, deadline: Deadline) -> Result<SqsBatchResponse> {
        self.applier
            .handle(event, deadline, |item: ForwardItem| async move {
                let counter = match self.forward(&item).await? {
                    UpdateResult::Updated => "applied",
                    UpdateResult::Unchanged => "unchanged",
                    UpdateResult::NoRecord => "no_record",
                };
                Ok(Applied::counted(counter))
            })
            .await
    }

    /// Fetches what is needed and applies one item in Alma.
    async fn forward(&self, item: &ForwardItem) -> Result<UpdateResult> {
        let update = match item.report {
            Report::Objects => BookUpdate::object(item),
            Report::Descriptions => {
                let xml = self
                    .bokbasen
                    .description_document(item.item.reference.trim())
                    .await
                    .map_err(|e| e.context(item.label()))?;
                BookUpdate::description(item, &parse_description(item, &xml)?)
            }
        };
        self.alma
            .put(&update)
            .await
            .map_err(|e| e.context(item.label()))
    }
}
