//! `exam-dispatch`: consumes the dispatch queue and delivers each appeal and explanation request
//! from FS to the institution's exam system — once per change, whatever SQS redelivers.
//!
//! The shared pipeline ([`flyt::apply`]) claims each case (`vurdId` + `kandidatnr` + kind) at the
//! change's version before any call, and records it after; a withdrawal (a later change) is
//! applied after the appeal, never before. What happens per exam system is in [`inspera`] and
//! [`wiseflow`]; for an institution in shadow mode, only what would happen ([`shadow`]).

mod config;
pub mod inspera;
pub mod shadow;
pub mod wiseflow;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use flyt::appeals::DispatchItem;
use flyt::apply::{Applied, Applier, Deadline};
use flyt::aws::AwsClients;
use flyt::config::Vars;
use flyt::connections::{Connections, ExamClient};
use flyt::institution::{InstitutionCache, InstitutionStore};
use flyt::open_explanations::OpenExplanations;
use flyt::retry::RetryPolicy;
use flyt::sender::Sender;
use flyt::thesis_store::Holds;
use flyt::{Error, Result};

pub use config::Config;

/// The longest one external call of this function may take with its retries, from its settings:
/// the budget test holds it against the stop point ([`flyt::apply::Budget`]).
pub fn longest_call(vars: &Vars) -> Result<std::time::Duration> {
    Ok(RetryPolicy::from_vars(vars)?.longest_call(Config::from_vars(vars)?.http_timeout))
}

/// The function's dependencies, built once per cold start.
pub struct Dispatcher {
    institutions: InstitutionCache,
    connections: Connections,
    open: OpenExplanations,
    holds: Holds,
    applier: Applier,
}

impl Dispatcher {
    /// Builds the function from its settings: reads the exam-systems secret and makes the clients.
    pub async fn from_vars(vars: &Vars, aws: &AwsClients) -> Result<Self> {
        let config = Config::from_vars(vars)?;
        let retry = RetryPolicy::from_vars(vars)?;
        let http = flyt::http::client(config.http_timeout);
        let connections = Connections::load(
            &aws.secrets,
            flyt::secrets::Refresh::from_vars(vars)?,
            None,
            Some(&config.exam_systems_secret_id),
            &http,
            &retry,
        )
        .await?;
        let sender = Sender::new(aws.sqs.clone(), retry, 2);
        Ok(Dispatcher {
            institutions: InstitutionCache::new(
                InstitutionStore::new(aws.dynamodb.clone(), &config.config_table),
                config.institution_cache,
            ),
            connections,
            open: OpenExplanations::new(aws.dynamodb.clone(), &config.applier.state_table),
            holds: Holds::new(aws.dynamodb.clone(), &config.applier.state_table),
            applier: Applier::from_settings(
                "exam-dispatch",
                &config.applier,
                &aws.dynamodb,
                sender,
            ),
        })
    }

    /// The Lambda handler: one batch, within the invocation's `deadline`.
    pub async fn handle(&self, event: SqsEvent, deadline: Deadline) -> Result<SqsBatchResponse> {
        self.applier
            .handle(event, deadline, |item: DispatchItem| async move {
                self.dispatch(&item).await
            })
            .await
    }

    /// Delivers one case to the institution's exam system.
    async fn dispatch(&self, item: &DispatchItem) -> Result<Applied> {
        let institution = self.institutions.get(&item.org_id).await?;
        if institution.exam_system != item.exam_system {
            return Err(Error::configuration(format!(
                "institution {}: FS lists the case under {} but exam_system is {}: correct one of them",
                institution.org_id, item.exam_system, institution.exam_system
            )));
        }
        if item.shadow {
            let client = self.connections.exam_system(&institution)?;
            return shadow::intend(client, &institution, item).await;
        }
        let applied = match self.connections.exam_system(&institution)? {
            ExamClient::Inspera(client) => inspera::dispatch(client, item).await?,
            ExamClient::Wiseflow(client) => {
                wiseflow::dispatch(client, &self.open, &institution, item).await?
            }
        };
        // An open case holds the candidate's thesis back from the archive until it is answered
        // (fs-poll opened it when it read the case; a withdrawal, applied in order, releases it).
        self.holds
            .apply(
                &institution.org_id,
                &item.kandidatnr,
                &item.vurd_id,
                item.hold_change(),
            )
            .await?;
        Ok(applied)
    }
}
