//! Shadow mode: what exam-dispatch would do for an institution whose work another platform still
//! does. Only reads are made (the test or flow, and what the exam system already holds for the
//! candidate); the intended effect is a line on the execution, "shadow: would ...", and nothing
//! is written to the exam system, the open-explanation list or the thesis holds.

use flyt::appeals::{AppealStatus, DispatchItem, RequestKind};
use flyt::apply::Applied;
use flyt::clients::inspera::InsperaClient;
use flyt::clients::wiseflow::WiseflowClient;
use flyt::connections::ExamClient;
use flyt::execution::LogLine;
use flyt::institution::Institution;
use flyt::{Error, Result};

/// The intended effect of one case, recorded and not made.
pub async fn intend(
    client: ExamClient<'_>,
    institution: &Institution,
    item: &DispatchItem,
) -> Result<Applied> {
    let intended = match client {
        ExamClient::Inspera(inspera) => inspera_intent(inspera, item).await?,
        ExamClient::Wiseflow(wiseflow) => wiseflow_intent(wiseflow, institution, item).await?,
    };
    Ok(Applied::counted("shadow_intended").with_line(LogLine::info(format!("shadow: {intended}"))))
}

async fn inspera_intent(client: &InsperaClient, item: &DispatchItem) -> Result<String> {
    let test = crate::inspera::test_of(client, &item.vurd_id).await?;
    let candidate = item.kandidatnr.as_str();
    let on = format!("kandidatnr {candidate} on Inspera test {}", test.test_id);
    Ok(match item.kind {
        RequestKind::Klage => {
            let holds = match client.appeal(test.test_id, candidate).await? {
                Some(appeal) => format!("Inspera holds an appeal ({:?})", appeal.status),
                None => "Inspera holds none".to_owned(),
            };
            match item.appeal_status() {
                Some(AppealStatus::Active) => format!("would register the appeal of {on}; {holds}"),
                Some(AppealStatus::Withdrawn) => {
                    format!("would withdraw the appeal of {on}; {holds}")
                }
                None => {
                    return Err(Error::mapping(format!(
                        "klagestatus {:?} is not AKTIV or TRUKKET",
                        item.status
                    )))
                }
            }
        }
        RequestKind::Begrunnelse => {
            let requests = client.explanations(test.test_id, candidate).await?.len();
            format!(
                "would request an explanation for {on}; Inspera holds {requests} explanation requests for the candidate"
            )
        }
    })
}

async fn wiseflow_intent(
    client: &WiseflowClient,
    institution: &Institution,
    item: &DispatchItem,
) -> Result<String> {
    let flow_id = crate::wiseflow::ordinary_flow(client, &item.sis_code).await?;
    Ok(match item.kind {
        RequestKind::Klage => match item.appeal_status() {
            Some(AppealStatus::Active) => format!(
                "would create or reuse the reassessment flow of WISEflow flow {flow_id} for the appeal of kandidatnr {}",
                item.kandidatnr
            ),
            Some(AppealStatus::Withdrawn) => format!(
                "would note the withdrawn appeal of kandidatnr {} on WISEflow flow {flow_id} for a person",
                item.kandidatnr
            ),
            None => {
                return Err(Error::mapping(format!(
                    "klagestatus {:?} is not AKTIV or TRUKKET",
                    item.status
                )))
            }
        },
        RequestKind::Begrunnelse => {
            let participant =
                crate::wiseflow::participant_of(client, flow_id, institution, &item.kandidatnr)
                    .await?;
            let existing = client
                .explanation_requests(flow_id)
                .await?
                .iter()
                .filter(|e| e.participant_id == Some(participant.participant_id))
                .count();
            format!(
                "would request an explanation for participant {} on WISEflow flow {flow_id}; WISEflow holds {existing} for the participant",
                participant.participant_id
            )
        }
    })
}
