//! The appeals and explanations scenario: poll FS, dispatch to the exam systems, let the graders
//! answer, return the answers to FS — and the counts that prove each case arrived exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use flyt_local::{Emulator, Local, LocalOptions};
use flyt_sandbox::{AppealStatus, InsperaAppealStatus, SandboxOptions};

/// A platform with the default two institutions (185 on Inspera, 194 on WISEflow) and no
/// Bokbasen data.
pub async fn appeals_platform(mut options: LocalOptions) -> Local {
    options.sandbox = SandboxOptions {
        objects: 0,
        descriptions: 0,
        seed: fastrand::u64(..),
        inspera_webhook_retry_delay_ms: 100,
        ..options.sandbox
    };
    Local::start(Emulator::shared(), options)
        .await
        .expect("the local platform starts")
}

/// Polls FS and dispatches every case to the exam systems.
pub async fn poll_and_dispatch(local: &Local) -> serde_json::Value {
    let answers = local
        .fire_schedule("FsPollFunction")
        .await
        .expect("fs-poll runs");
    local
        .drain(Duration::from_secs(600), |_| {})
        .await
        .expect("the dispatch queue drains");
    answers
        .into_iter()
        .next()
        .map(|(_, a)| a)
        .unwrap_or_default()
}

/// The graders answer everything; Inspera's webhooks and a WISEflow poll bring it back to FS.
pub async fn answer_and_return(local: &Local) {
    answer(local).await;
    local
        .drain(Duration::from_secs(600), |_| {})
        .await
        .expect("the return queue drains");
}

/// The graders answer everything; Inspera's webhooks and a WISEflow poll queue the answers.
pub async fn answer(local: &Local) {
    local.graders_answer().await.expect("the graders answer");
}

/// (vurdId, kandidatnr) of every case of one institution, with the latest appeal status.
pub fn latest_appeals(
    local: &Local,
    institusjonsnr: &str,
) -> BTreeMap<(String, String), AppealStatus> {
    local
        .sandbox
        .fs
        .appeals(institusjonsnr)
        .into_iter()
        .map(|a| ((a.assessment_id, a.candidate_number), a.status))
        .collect()
}

/// (vurdId, kandidatnr) of every explanation request of one institution.
pub fn explanation_cases(local: &Local, institusjonsnr: &str) -> BTreeSet<(String, String)> {
    local
        .sandbox
        .fs
        .explanation_requests(institusjonsnr)
        .into_iter()
        .map(|r| (r.assessment_id, r.candidate_number))
        .collect()
}

/// Proves by count that every case reached its exam system exactly once and every answer
/// reached FS exactly once. Institution 185 is on Inspera, 194 on WISEflow.
pub fn assert_cases_exactly_once(local: &Local) {
    let sandbox = &local.sandbox;
    // Inspera: one request per explanation case, never two.
    let tests: BTreeMap<u64, String> = sandbox
        .inspera
        .tests()
        .into_iter()
        .map(|t| (t.test_id, t.external_test_id))
        .collect();
    let inspera_requests: Vec<(String, String)> = sandbox
        .inspera
        .explanations()
        .into_iter()
        .map(|e| (tests[&e.test_id].clone(), e.candidate_id))
        .collect();
    let expected_inspera = explanation_cases(local, "185");
    assert_eq!(
        sandbox.inspera.duplicate_explanation_requests(),
        0,
        "no second Inspera explanation request"
    );
    assert_eq!(
        inspera_requests.iter().cloned().collect::<BTreeSet<_>>(),
        expected_inspera,
        "every Inspera explanation case requested"
    );
    assert_eq!(inspera_requests.len(), expected_inspera.len());
    // Inspera appeals: a standing appeal is registered (and decided), a withdrawn one is not active.
    let appeals: BTreeMap<(String, String), InsperaAppealStatus> = sandbox
        .inspera
        .appeals()
        .into_iter()
        .map(|a| ((tests[&a.test_id].clone(), a.candidate_id), a.status))
        .collect();
    for (case, status) in latest_appeals(local, "185") {
        match status {
            AppealStatus::Active => assert!(
                matches!(
                    appeals.get(&case),
                    Some(InsperaAppealStatus::Active | InsperaAppealStatus::Decided)
                ),
                "standing appeal {case:?} is {:?} in Inspera",
                appeals.get(&case)
            ),
            AppealStatus::Withdrawn => assert!(
                matches!(
                    appeals.get(&case),
                    None | Some(InsperaAppealStatus::Withdrawn)
                ),
                "withdrawn appeal {case:?} is {:?} in Inspera",
                appeals.get(&case)
            ),
        }
    }
    // WISEflow: one reassessment flow per flow with a standing appeal, created once.
    let flows: BTreeMap<u64, String> = sandbox
        .wiseflow
        .flows()
        .into_iter()
        .map(|f| (f.id, f.assessment_id))
        .collect();
    let appealed: BTreeSet<String> = latest_appeals(local, "194")
        .into_iter()
        .filter(|(_, s)| *s == AppealStatus::Active)
        .map(|((vurd, _), _)| vurd)
        .collect();
    let reassessed: BTreeMap<String, u32> = sandbox
        .wiseflow
        .reassessments()
        .into_iter()
        .map(|(flow, r)| (flows[&flow].clone(), r.creations))
        .collect();
    for exam in &appealed {
        assert_eq!(
            reassessed.get(exam),
            Some(&1),
            "one reassessment flow for {exam}"
        );
    }
    // WISEflow: one explanation request per case.
    let wiseflow_requests: BTreeSet<(String, String)> = sandbox
        .wiseflow
        .explanation_requests()
        .into_iter()
        .map(|e| (flows[&e.flow_id].clone(), e.candidate_number))
        .collect();
    assert_eq!(wiseflow_requests, explanation_cases(local, "194"));
    // FS: every explanation and every decision registered once.
    let registered: Vec<(String, String)> = sandbox
        .fs
        .registered_explanations()
        .into_iter()
        .map(|e| (e.assessment_id, e.candidate_number))
        .collect();
    let mut all_cases = explanation_cases(local, "185");
    all_cases.extend(explanation_cases(local, "194"));
    assert_eq!(
        registered.len(),
        all_cases.len(),
        "one registration per explanation"
    );
    assert_eq!(registered.into_iter().collect::<BTreeSet<_>>(), all_cases);
    let decided = sandbox
        .inspera
        .appeals()
        .into_iter()
        .filter(|a| a.status == InsperaAppealStatus::Decided)
        .count();
    assert!(decided > 0);
    let decisions = sandbox.fs.registered_decisions();
    assert_eq!(decisions.len(), decided, "one decision per decided appeal");
    assert!(
        decisions.iter().all(|d| !d.withdrawn),
        "no decision on a withdrawn appeal"
    );
    // WISEflow justifications are made visible once FS has them (institution 194 says so).
    assert_eq!(
        sandbox.wiseflow.justification_shown_count() as usize,
        explanation_cases(local, "194").len()
    );
}
