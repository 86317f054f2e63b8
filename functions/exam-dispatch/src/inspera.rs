//! Inspera: the test is found by its external id (FS's `vurdId`), the candidate by `kandidatnr`.
//!
//! - Appeal `AKTIV` → registered; `TRUKKET` → withdrawn (nothing to withdraw if it never was).
//! - Explanation request → explanations enabled on the test, then requested. Inspera publishes
//!   a request at once and it is final, so it must be made exactly once: under the case's claim,
//!   Inspera is asked first whether the candidate has one, and only if not is it requested. An
//!   earlier attempt that died or timed out after Inspera accepted it is found, never repeated.

use flyt::appeals::{AppealStatus, DispatchItem, RequestKind};
use flyt::apply::Applied;
use flyt::clients::inspera::{InsperaClient, Test, Withdrawal};
use flyt::execution::LogLine;
use flyt::{Error, Result};

/// The Inspera test of FS's exam `vurd_id`; none is a Mapping error saying what to check.
pub(crate) async fn test_of(client: &InsperaClient, vurd_id: &str) -> Result<Test> {
    client.find_test(vurd_id).await?.ok_or_else(|| {
        Error::mapping(format!(
            "Inspera has no test with external id {vurd_id}: check that the exam is set up in Inspera from FS"
        ))
    })
}

/// Delivers one case to Inspera.
pub async fn dispatch(client: &InsperaClient, item: &DispatchItem) -> Result<Applied> {
    let test = test_of(client, &item.vurd_id).await?;
    let candidate = item.kandidatnr.as_str();
    match item.kind {
        RequestKind::Klage => match item.appeal_status() {
            Some(AppealStatus::Active) => {
                let created = client.register_appeal(test.test_id, candidate).await?;
                Ok(Applied::counted(if created {
                    "appeal_registered"
                } else {
                    "appeal_already_registered"
                }))
            }
            Some(AppealStatus::Withdrawn) => {
                match client.withdraw_appeal(test.test_id, candidate).await? {
                    Withdrawal::Withdrawn => Ok(Applied::counted("appeal_withdrawn")),
                    Withdrawal::NoAppeal => Ok(Applied::counted("withdrawn_before_registration")
                        .with_line(LogLine::info(format!(
                            "appeal of kandidatnr {candidate} on test {} was withdrawn before it reached Inspera: nothing to withdraw",
                            test.test_id
                        )))),
                }
            }
            None => Err(Error::mapping(format!(
                "klagestatus {:?} is not AKTIV or TRUKKET",
                item.status
            ))),
        },
        RequestKind::Begrunnelse => {
            if !client
                .explanations(test.test_id, candidate)
                .await?
                .is_empty()
            {
                return Ok(Applied::counted("explanation_already_requested"));
            }
            client.enable_explanations(test.test_id).await?;
            client.request_explanation(test.test_id, candidate).await?;
            Ok(Applied::counted("explanation_requested"))
        }
    }
}
