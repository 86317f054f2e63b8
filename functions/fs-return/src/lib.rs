//! `fs-return`: consumes the return queue and registers each answer from the exam systems in FS —
//! explanations (`/eksamen/begrunnelser/{examSystem}`) and appeal decisions (`/eksamen/vedtak/…`)
//! — once per answer, through the shared claim → apply → complete pipeline ([`flyt::apply`]).
//!
//! - An Inspera event carries only ids: the test (whose external id is FS's `vurdId`), then the
//!   explanation or the appeal, are fetched from Inspera. An answer not there yet is retried.
//! - A WISEflow answer carries the case and the link; once FS has it, the justification is made
//!   visible in WISEflow where the institution's `show_justification` says so.

mod config;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use flyt::appeals::{
    format_fs_timestamp, rfc3339_to_fs, InsperaEvent, InsperaEventKind, ReturnItem, WiseflowAnswer,
};
use flyt::apply::{Applied, Applier, Deadline};
use flyt::aws::AwsClients;
use flyt::clients::fs::{DecisionRegistration, ExplanationRegistration, Registered};
use flyt::clients::inspera::AppealOutcome;
use flyt::config::Vars;
use flyt::connections::Connections;
use flyt::execution::LogLine;
use flyt::institution::{ExamSystem, InstitutionCache, InstitutionStore, Mode};
use flyt::retry::RetryPolicy;
use flyt::sender::Sender;
use flyt::thesis_store::{HoldKind, Holds};
use flyt::{Error, Result};

pub use config::Config;

/// The longest one external call of this function may take with its retries, from its settings:
/// the budget test holds it against the stop point ([`flyt::apply::Budget`]).
pub fn longest_call(vars: &Vars) -> Result<std::time::Duration> {
    Ok(RetryPolicy::from_vars(vars)?.longest_call(Config::from_vars(vars)?.http_timeout))
}

/// The function's dependencies, built once per cold start.
pub struct Returner {
    institutions: InstitutionCache,
    connections: Connections,
    holds: Holds,
    applier: Applier,
}

impl Returner {
    /// Builds the function from its settings: reads both secrets and makes the clients.
    pub async fn from_vars(vars: &Vars, aws: &AwsClients) -> Result<Self> {
        let config = Config::from_vars(vars)?;
        let retry = RetryPolicy::from_vars(vars)?;
        let http = flyt::http::client(config.http_timeout);
        let connections = Connections::load(
            &aws.secrets,
            flyt::secrets::Refresh::from_vars(vars)?,
            Some(&config.fs_secret_id),
            Some(&config.exam_systems_secret_id),
            &http,
            &retry,
        )
        .await?;
        let sender = Sender::new(aws.sqs.clone(), retry, 2);
        Ok(Returner {
            institutions: InstitutionCache::new(
                InstitutionStore::new(aws.dynamodb.clone(), &config.config_table),
                config.institution_cache,
            ),
            connections,
            holds: Holds::new(aws.dynamodb.clone(), &config.applier.state_table),
            applier: Applier::from_settings("fs-return", &config.applier, &aws.dynamodb, sender),
        })
    }

    /// The Lambda handler: one batch, within the invocation's `deadline`.
    pub async fn handle(&self, event: SqsEvent, deadline: Deadline) -> Result<SqsBatchResponse> {
        self.applier
            .handle(event, deadline, |item: ReturnItem| async move {
                match &item {
                    ReturnItem::Inspera(event) => self.inspera(event).await,
                    ReturnItem::Wiseflow(answer) => self.wiseflow(answer).await,
                }
            })
            .await
    }

    async fn inspera(&self, event: &InsperaEvent) -> Result<Applied> {
        let institution = self
            .institutions
            .by_instance(ExamSystem::Inspera, &event.instance)
            .await?;
        if institution.mode == Mode::Shadow {
            return Ok(shadow(format!(
                "would register Inspera's {} on test {} ({}) in FS",
                event.kind.key(),
                event.test_id,
                event.associated_id
            )));
        }
        let fs = self.connections.fs(&institution)?;
        let inspera = self.connections.inspera(&event.instance)?;
        let test = inspera.test(event.test_id).await?;
        let vurd_id = test.external_test_id;
        match event.kind {
            InsperaEventKind::ExplanationGiven => {
                let explanation_id: u64 = event.associated_id.parse().map_err(|_| {
                    Error::mapping(format!(
                        "associatedObjectId {:?} is not an explanation id",
                        event.associated_id
                    ))
                })?;
                let explanation = inspera.explanation(event.test_id, explanation_id).await?;
                let Some(given_at) = explanation
                    .given_at
                    .as_deref()
                    .filter(|_| explanation.given)
                else {
                    return Err(Error::external(format!(
                        "Inspera reports explanation {explanation_id} not given yet; will retry"
                    )));
                };
                let document = explanation.document.ok_or_else(|| {
                    Error::mapping(format!(
                        "Inspera explanation {explanation_id} is given but has no document"
                    ))
                })?;
                let registration = ExplanationRegistration {
                    vurd_id,
                    kandidatnr: explanation.candidate_id,
                    url_begrunnelse: None,
                    dokument_begrunnelse: Some(document.content_base64),
                    content_type_begrunnelse: Some(document.content_type),
                    dato_bedt_om: fs_time(&explanation.requested_at, "requestedAt")?,
                    dato_gitt: fs_time(given_at, "givenAt")?,
                };
                let (kandidatnr, case) = (
                    registration.kandidatnr.clone(),
                    registration.vurd_id.clone(),
                );
                let registered = fs
                    .register_explanation(ExamSystem::Inspera, &registration)
                    .await?;
                self.holds
                    .release(
                        &institution.org_id,
                        &kandidatnr,
                        HoldKind::Explanation,
                        &case,
                    )
                    .await?;
                Ok(Applied::counted(counter(registered, EXPLANATION_COUNTERS)))
            }
            InsperaEventKind::AppealDecided => {
                let candidate = event.associated_id.as_str();
                let appeal = inspera
                    .appeal(event.test_id, candidate)
                    .await?
                    .ok_or_else(|| {
                        Error::mapping(format!(
                            "Inspera has no appeal of kandidatnr {candidate} on test {}",
                            event.test_id
                        ))
                    })?;
                let Some(decision) = appeal.decision else {
                    return Err(Error::external(format!(
                        "Inspera reports the appeal of kandidatnr {candidate} not decided yet; will retry"
                    )));
                };
                let (vedtak, ny_karakter) = match decision.outcome {
                    AppealOutcome::Upheld => ("OPPRETTHOLDT", None),
                    AppealOutcome::Changed => {
                        let grade = decision.new_grade.filter(|g| !g.trim().is_empty()).ok_or_else(|| {
                            Error::mapping(format!(
                                "Inspera decided the appeal of kandidatnr {candidate} as changed but gave no new grade"
                            ))
                        })?;
                        ("ENDRET", Some(grade))
                    }
                };
                let registration = DecisionRegistration {
                    vurd_id: vurd_id.clone(),
                    kandidatnr: candidate.to_owned(),
                    vedtak: vedtak.to_owned(),
                    ny_karakter,
                    dato: fs_time(&decision.decided_at, "decidedAt")?,
                };
                let registered = fs
                    .register_decision(ExamSystem::Inspera, &registration)
                    .await?;
                self.holds
                    .release(&institution.org_id, candidate, HoldKind::Appeal, &vurd_id)
                    .await?;
                Ok(Applied::counted(counter(registered, DECISION_COUNTERS)))
            }
            // A thesis submission is not an answer for FS: thesis archival handles it.
            InsperaEventKind::ThesisSubmitted => Ok(Applied::counted("thesis_not_for_fs")),
        }
    }

    async fn wiseflow(&self, answer: &WiseflowAnswer) -> Result<Applied> {
        let institution = self.institutions.get(&answer.org_id).await?;
        if institution.mode == Mode::Shadow {
            return Ok(shadow(format!(
                "would register WISEflow's explanation {} of kandidatnr {} on {} in FS",
                answer.explanation_request_id, answer.kandidatnr, answer.vurd_id
            )));
        }
        let fs = self.connections.fs(&institution)?;
        let registration = ExplanationRegistration {
            vurd_id: answer.vurd_id.clone(),
            kandidatnr: answer.kandidatnr.clone(),
            url_begrunnelse: Some(answer.url.clone()),
            dokument_begrunnelse: None,
            content_type_begrunnelse: None,
            dato_bedt_om: answer.requested_at.clone(),
            dato_gitt: format_fs_timestamp(answer.given_at_ms),
        };
        let registered = fs
            .register_explanation(ExamSystem::Wiseflow, &registration)
            .await?;
        if institution.show_justification {
            let client = self.connections.wiseflow(&institution)?;
            client
                .set_show_justification(answer.flow_id, answer.explanation_request_id, true)
                .await?;
        }
        self.holds
            .release(
                &institution.org_id,
                &answer.kandidatnr,
                HoldKind::Explanation,
                &answer.vurd_id,
            )
            .await?;
        Ok(Applied::counted(counter(registered, EXPLANATION_COUNTERS)))
    }
}

/// An answer for an institution in shadow mode: recorded, not registered. The answer is the
/// platform Flyt replaces' to register (it receives the same webhook or poll), so it counts as
/// handled and a later live run does not register it again.
fn shadow(intended: String) -> Applied {
    Applied::counted("shadow_intended").with_line(LogLine::info(format!("shadow: {intended}")))
}

/// Counters of an explanation registered new / found in FS already.
const EXPLANATION_COUNTERS: (&str, &str) = ("explanation_registered", "explanation_already_in_fs");
/// Counters of a decision registered new / found in FS already.
const DECISION_COUNTERS: (&str, &str) = ("decision_registered", "decision_already_in_fs");

fn counter(registered: Registered, (new, unchanged): (&'static str, &'static str)) -> &'static str {
    match registered {
        Registered::New => new,
        Registered::Unchanged => unchanged,
    }
}

/// An exam system's RFC 3339 time as FS wants it, or a Mapping error naming the field.
fn fs_time(text: &str, field: &str) -> Result<String> {
    rfc3339_to_fs(text).ok_or_else(|| {
        Error::mapping(format!(
            "Inspera's {field} {text:?} is not an RFC 3339 time"
        ))
    })
}
