//! WISEflow: the exam's flow is found by FS's SIS code, the candidate among its participants by
//! `kandidatnr` in the field the institution names (`uniqueExamId` by default). Both calls WISEflow offers are idempotent on its side (201 new / 200 existing).
//!
//! - Appeal `AKTIV` → the flow's reassessment flow is created, or fetched if it exists (one per
//!   flow, however many appeals). 403 means the licence lacks the reassessment module: a
//!   Configuration error for the institution. `TRUKKET` → WISEflow's API cannot take a candidate
//!   out of a reassessment, so the withdrawal is noted for the institution.
//! - Explanation request → requested for the participant, hidden from the candidate until FS has
//!   the answer, and noted as open for `wiseflow-poll`.

use flyt::appeals::{AppealStatus, DispatchItem, RequestKind};
use flyt::apply::Applied;
use flyt::clients::wiseflow::{Participant, WiseflowClient};
use flyt::execution::LogLine;
use flyt::institution::Institution;
use flyt::open_explanations::{OpenExplanation, OpenExplanations};
use flyt::{Error, Result};

/// Delivers one case to WISEflow.
pub async fn dispatch(
    client: &WiseflowClient,
    open: &OpenExplanations,
    institution: &Institution,
    item: &DispatchItem,
) -> Result<Applied> {
    let flow_id = ordinary_flow(client, &item.sis_code).await?;
    match item.kind {
        RequestKind::Klage => match item.appeal_status() {
            Some(AppealStatus::Active) => {
                // A licence without the reassessment module (403) is the institution's to fix.
                let reassessment = client
                    .reassessment(flow_id)
                    .await
                    .map_err(|e| e.context(format!("institution {}", institution.org_id)))?;
                Ok(Applied::counted(if reassessment.created {
                    "reassessment_created"
                } else {
                    "reassessment_existing"
                }))
            }
            Some(AppealStatus::Withdrawn) => Ok(Applied::counted("withdrawal_noted").with_line(
                LogLine::warning(format!(
                    "appeal of kandidatnr {} on WISEflow flow {flow_id} was withdrawn: WISEflow's API cannot remove a candidate from a reassessment, so do it in WISEflow if the candidate was added",
                    item.kandidatnr
                )),
            )),
            None => Err(Error::mapping(format!(
                "klagestatus {:?} is not AKTIV or TRUKKET",
                item.status
            ))),
        },
        RequestKind::Begrunnelse => {
            let participant = participant_of(client, flow_id, institution, &item.kandidatnr).await?;
            let request = client
                .request_explanation(flow_id, participant.participant_id, false)
                .await?;
            open.add(
                &institution.org_id,
                &OpenExplanation {
                    flow_id,
                    explanation_request_id: request.explanation_request_id,
                    vurd_id: item.vurd_id.clone(),
                    kandidatnr: item.kandidatnr.clone(),
                    requested_at: item.requested_at.clone(),
                },
            )
            .await?;
            Ok(Applied::counted(if request.created {
                "explanation_requested"
            } else {
                "explanation_already_requested"
            }))
        }
    }
}

/// The participant of a flow whose candidate number, in the institution's field, is
/// `kandidatnr`; none is a Mapping error saying what to check.
pub(crate) async fn participant_of(
    client: &WiseflowClient,
    flow_id: u64,
    institution: &Institution,
    kandidatnr: &str,
) -> Result<Participant> {
    let field = &institution.wiseflow_candidate_field;
    client
        .participants(flow_id, field)
        .await?
        .into_iter()
        .find(|p| p.candidate.as_deref() == Some(kandidatnr))
        .ok_or_else(|| {
            Error::mapping(format!(
                "kandidatnr {kandidatnr} is not a participant of WISEflow flow {flow_id} by its {field}: check the flow's participants, or institution {}'s wiseflow_candidate_field",
                institution.org_id
            ))
        })
}

/// The one ordinary (not re-exam, not remarking) flow with this SIS code.
pub(crate) async fn ordinary_flow(client: &WiseflowClient, sis_code: &str) -> Result<u64> {
    let flows: Vec<u64> = client
        .flows_by_sis_code(sis_code)
        .await?
        .into_iter()
        .filter(|f| f.variant.unwrap_or(0) == 0)
        .map(|f| f.flow_id)
        .collect();
    match flows.as_slice() {
        [flow_id] => Ok(*flow_id),
        [] => Err(Error::mapping(format!(
            "WISEflow has no ordinary flow with SIS code {sis_code:?}: check that the exam is set up in WISEflow from FS"
        ))),
        many => Err(Error::mapping(format!(
            "WISEflow has {} ordinary flows with SIS code {sis_code:?} ({many:?}): the case cannot be placed; merge or correct the flows",
            many.len()
        ))),
    }
}
