//! The WISEflow client against the sandbox's WISEflow (whose flows are FS's exams): SIS-code
//! search, participants over several pages, idempotent reassessments and explanation requests,
//! categorised errors, and no personal data in what the client returns.

use std::collections::BTreeSet;
use std::time::Duration;

use flyt::clients::wiseflow::{CandidateField, WiseflowClient, WiseflowCredentials};
use flyt::config::Vars;
use flyt::error::Category;
use flyt::retry::RetryPolicy;
use flyt_sandbox::{Faults, Sandbox, SandboxOptions};

/// The institution the default FS serves on WISEflow.
const INSTITUTION: &str = "194";
/// Attempts the test retry policy makes.
const ATTEMPTS: u64 = 3;

/// A sandbox whose FS holds enough appeals for well over 100 candidates per exam.
async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxOptions {
        objects: 5,
        descriptions: 5,
        appeals_per_institution: 1500,
        explanations_per_institution: 20,
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts")
}

/// Retries with tiny delays.
fn retry() -> RetryPolicy {
    RetryPolicy::from_vars(&Vars::from_pairs([
        ("RETRY_ATTEMPTS", ATTEMPTS.to_string()),
        ("RETRY_BASE_DELAY_MS", "1".to_owned()),
        ("RETRY_MAX_DELAY_MS", "5".to_owned()),
        ("RETRY_MAX_WAIT_MS", "5".to_owned()),
    ]))
    .expect("retry settings")
}

fn client_with_key(sandbox: &Sandbox, api_key: &str) -> WiseflowClient {
    WiseflowClient::new(
        flyt::http::client(Duration::from_secs(5)),
        format!("{}/v1", sandbox.wiseflow_url),
        WiseflowCredentials {
            api_key: api_key.to_owned(),
        },
        retry(),
    )
}

fn client(sandbox: &Sandbox) -> WiseflowClient {
    client_with_key(sandbox, "local-wiseflow-key")
}

/// Every distinct `kandidatnr` FS lists for an exam of the WISEflow institution.
fn candidates_of(sandbox: &Sandbox, sis_code: &str) -> BTreeSet<String> {
    let appeals = sandbox.fs.appeals(INSTITUTION);
    let requests = sandbox.fs.explanation_requests(INSTITUTION);
    appeals
        .iter()
        .filter(|a| a.sis_code == sis_code)
        .map(|a| a.candidate_number.clone())
        .chain(
            requests
                .iter()
                .filter(|r| r.sis_code == sis_code)
                .map(|r| r.candidate_number.clone()),
        )
        .collect()
}

/// Fails if any of FS's personal-data values appears in `text`.
fn assert_no_personal_data(sandbox: &Sandbox, text: &str) {
    let personal = sandbox.fs.personal_data();
    assert!(!personal.is_empty());
    let leaked: Vec<&String> = personal
        .iter()
        .filter(|value| text.contains(value.as_str()))
        .collect();
    assert!(leaked.is_empty(), "personal data leaked: {leaked:?}");
}

#[tokio::test]
async fn finds_a_flow_by_sis_code_and_reads_every_page_of_participants() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let sis_code = sandbox.fs.appeals(INSTITUTION)[0].sis_code.clone();

    let flows = client.flows_by_sis_code(&sis_code).await.unwrap();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].sis_code, sis_code);
    assert_eq!(flows[0].variant, Some(0));
    let flow = flows[0].flow_id;
    assert!(client
        .flows_by_sis_code("Nothing||NONE100||VÅR||1999")
        .await
        .unwrap()
        .is_empty());

    let expected = candidates_of(&sandbox, &sis_code);
    assert!(
        expected.len() > 100,
        "more than one page: {}",
        expected.len()
    );
    let before = sandbox.wiseflow.request_count();
    let participants = client
        .participants(flow, &CandidateField::UniqueExamId)
        .await
        .unwrap();
    let pages = sandbox.wiseflow.request_count() - before;
    assert_eq!(pages, expected.len().div_ceil(100) as u64);
    let candidates: BTreeSet<String> = participants
        .iter()
        .map(|p| p.candidate.clone().expect("a uniqueExamId"))
        .collect();
    assert_eq!(candidates, expected, "uniqueExamId carries the kandidatnr");
    assert_eq!(participants.len(), expected.len());
    assert_no_personal_data(&sandbox, &format!("{participants:?}"));
    // WISEflow's `number` is its own sequence in the flow: matching the kandidatnr on it, as the
    // client did, finds nobody.
    let by_number = client
        .participants(flow, &CandidateField::Number)
        .await
        .unwrap();
    assert!(by_number
        .iter()
        .all(|p| !expected.contains(p.candidate.as_deref().expect("a number"))));

    let error = client
        .participants(999_999, &CandidateField::default())
        .await
        .unwrap_err();
    assert_eq!(error.category(), Category::Mapping);
    assert!(error.message().contains("flow 999999"), "{error}");
}

#[tokio::test]
async fn a_reassessment_is_created_then_found_and_a_missing_module_is_configuration() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let flows = sandbox.wiseflow.flows();

    let first = client.reassessment(flows[0].id).await.unwrap();
    assert!(first.created);
    let again = client.reassessment(flows[0].id).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.reassessment_flow_id, first.reassessment_flow_id);
    assert_eq!(sandbox.wiseflow.reassessments()[&flows[0].id].repeats, 1);

    let unknown = client.reassessment(999_999).await.unwrap_err();
    assert_eq!(unknown.category(), Category::Mapping);
    assert!(unknown.message().contains("flow 999999"), "{unknown}");

    sandbox.wiseflow.set_reassessment_module(false);
    let before = sandbox.wiseflow.request_count();
    let refused = client.reassessment(flows[1].id).await.unwrap_err();
    assert_eq!(refused.category(), Category::Configuration);
    assert!(refused.message().contains(&format!("flow {}", flows[1].id)));
    assert!(
        refused.message().contains("reassessment module"),
        "{refused}"
    );
    assert_eq!(sandbox.wiseflow.request_count() - before, 1, "not retried");
}

#[tokio::test]
async fn explanation_requests_are_idempotent_listed_and_shown() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let flows = sandbox.wiseflow.flows();
    let flow = flows[0].id;
    let participant = client
        .participants(flow, &CandidateField::default())
        .await
        .unwrap()[0]
        .participant_id;

    let first = client
        .request_explanation(flow, participant, false)
        .await
        .unwrap();
    assert!(first.created);
    assert!(!first.show_justification);
    let again = client
        .request_explanation(flow, participant, false)
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.explanation_request_id, first.explanation_request_id);
    assert_eq!(sandbox.wiseflow.repeated_explanation_posts(), 1);

    let listed = client.explanation_requests(flow).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].explanation_id, first.explanation_request_id);
    assert_eq!(listed[0].participant_id, Some(participant));
    assert_eq!(listed[0].state, 0);
    assert_eq!(listed[0].accept_date_ms, None);
    assert!(listed[0].request_date_ms.unwrap() > 1_000_000_000_000);

    assert_eq!(sandbox.wiseflow.advance_explanations(3), 1);
    let accepted = client.explanation_requests(flow).await.unwrap();
    assert_eq!(accepted[0].state, 3);
    assert!(accepted[0].accept_date_ms.unwrap() >= accepted[0].request_date_ms.unwrap());
    assert!(accepted[0].sso_url.as_deref().unwrap().ends_with(&format!(
        "/sso/explanation/{}",
        first.explanation_request_id
    )));
    assert_no_personal_data(&sandbox, &format!("{accepted:?}"));

    client
        .set_show_justification(flow, first.explanation_request_id, true)
        .await
        .unwrap();
    assert_eq!(sandbox.wiseflow.justification_shown_count(), 1);
    assert!(client.explanation_requests(flow).await.unwrap()[0].show_justification);

    let stranger = client
        .participants(flows[1].id, &CandidateField::default())
        .await
        .unwrap()[0]
        .participant_id;
    let refused = client
        .request_explanation(flow, stranger, true)
        .await
        .unwrap_err();
    assert_eq!(refused.category(), Category::Mapping);
    assert!(refused
        .message()
        .contains(&format!("participant {stranger}")));
    let missing = client
        .set_show_justification(flow, 999_999, true)
        .await
        .unwrap_err();
    assert_eq!(missing.category(), Category::Mapping);
}

#[tokio::test]
async fn server_errors_are_retried_then_external_and_a_wrong_key_is_configuration() {
    let sandbox = sandbox().await;
    let sis_code = sandbox.fs.appeals(INSTITUTION)[0].sis_code.clone();

    let rejected = client_with_key(&sandbox, "wrong-key")
        .flows_by_sis_code(&sis_code)
        .await
        .unwrap_err();
    assert_eq!(rejected.category(), Category::Configuration);
    assert!(rejected.message().contains("API key"), "{rejected}");

    sandbox.wiseflow.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let before = sandbox.wiseflow.request_count();
    let error = client(&sandbox)
        .flows_by_sis_code(&sis_code)
        .await
        .unwrap_err();
    assert_eq!(error.category(), Category::External);
    assert!(error.is_retryable());
    assert!(error.message().contains("WISEflow"), "{error}");
    assert!(
        error
            .message()
            .contains(&format!("after {ATTEMPTS} attempts")),
        "{error}"
    );
    assert_eq!(sandbox.wiseflow.request_count() - before, ATTEMPTS);
}
