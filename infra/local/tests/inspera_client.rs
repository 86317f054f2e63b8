//! Flyt's Inspera client against the sandbox's Inspera: the token is fetched once and renewed
//! when it expires or is refused, tests are found by FS's `vurdId`, appeals and explanations
//! round-trip, an explanation request is never retried, rejected credentials are a
//! Configuration error, and webhook bodies verify and parse. With its key in the emulator's
//! Secrets Manager, a key rotated while the client runs is read once after Inspera refuses the
//! token, and a storm of refusals reads it no more.

mod common;

use std::time::Duration;

use common::privacy::Captured;
use common::secrets::{create_secret, emulator_clients, put_secret, secret_reads};
use flyt::aws::RequestCounter;
use flyt::clients::inspera::{AppealState, InsperaClient, InsperaCredentials, Withdrawal};
use flyt::config::Vars;
use flyt::connections::Connections;
use flyt::retry::RetryPolicy;
use flyt::secrets::Refresh;
use flyt::signature::verify_inspera_signature;
use flyt::Category;
use flyt_sandbox::{Faults, InsperaDeliveryOutcome, Sandbox, SandboxOptions};

const API_KEY: &str = "local-inspera-key";

/// A sandbox with the default FS (institution 185 on Inspera) and small Bokbasen reports.
async fn sandbox_with(options: SandboxOptions) -> Sandbox {
    Sandbox::start(SandboxOptions {
        objects: 5,
        descriptions: 5,
        inspera_webhook_retry_delay_ms: 10,
        ..options
    })
    .await
    .expect("sandbox starts")
}

/// The project's retry policy with tiny delays: 4 attempts.
fn quick_retries() -> RetryPolicy {
    RetryPolicy::from_vars(&Vars::from_pairs([
        ("RETRY_ATTEMPTS", "4"),
        ("RETRY_BASE_DELAY_MS", "1"),
        ("RETRY_MAX_DELAY_MS", "5"),
        ("RETRY_MAX_WAIT_MS", "50"),
    ]))
    .expect("retry settings")
}

fn client_with_key(sandbox: &Sandbox, api_key: &str) -> InsperaClient {
    InsperaClient::new(
        flyt::http::client(Duration::from_secs(5)),
        format!("{}/api", sandbox.inspera_url),
        InsperaCredentials {
            client_id: "uio".to_owned(),
            api_key: api_key.to_owned(),
        },
        quick_retries(),
    )
}

fn client(sandbox: &Sandbox) -> InsperaClient {
    client_with_key(sandbox, API_KEY)
}

/// The first seeded appeal of institution 185: its `vurdId` and `kandidatnr`.
fn seeded_appeal(sandbox: &Sandbox) -> (String, String) {
    let appeal = sandbox.fs.appeals("185").remove(0);
    (appeal.assessment_id, appeal.candidate_number)
}

/// The Inspera test id of a `vurdId`, through the client.
async fn test_id(inspera: &InsperaClient, vurd_id: &str) -> u64 {
    inspera
        .find_test(vurd_id)
        .await
        .expect("search")
        .expect("the test exists")
        .test_id
}

#[tokio::test]
async fn the_token_is_fetched_once_for_many_calls() {
    let sandbox = sandbox_with(SandboxOptions::default()).await;
    let inspera = client(&sandbox);
    let (vurd_id, candidate) = seeded_appeal(&sandbox);
    assert_eq!(sandbox.inspera.token_requests(), 0, "fetched lazily");

    let test_id = test_id(&inspera, &vurd_id).await;
    inspera.test(test_id).await.expect("test");
    inspera
        .register_appeal(test_id, &candidate)
        .await
        .expect("register");
    inspera.appeal(test_id, &candidate).await.expect("appeal");
    inspera
        .explanations(test_id, &candidate)
        .await
        .expect("explanations");
    inspera.enable_explanations(test_id).await.expect("enable");
    assert_eq!(sandbox.inspera.token_requests(), 1);
    assert_eq!(sandbox.inspera.request_count(), 7, "one token + six calls");
}

#[tokio::test]
async fn an_expired_or_refused_token_is_fetched_again() {
    let sandbox = sandbox_with(SandboxOptions {
        inspera_token_ttl_secs: 1,
        ..SandboxOptions::default()
    })
    .await;
    let inspera = client(&sandbox);
    let (vurd_id, _) = seeded_appeal(&sandbox);
    let test_id = test_id(&inspera, &vurd_id).await;
    assert_eq!(sandbox.inspera.token_requests(), 1);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    inspera.test(test_id).await.expect("after expiry");
    assert_eq!(sandbox.inspera.token_requests(), 2);
    assert_eq!(sandbox.inspera.request_count(), 4, "no request was refused");

    sandbox.inspera.revoke_tokens();
    inspera.test(test_id).await.expect("after a refused token");
    assert_eq!(sandbox.inspera.token_requests(), 3);
    assert_eq!(
        sandbox.inspera.request_count(),
        7,
        "refused call, new token, same call again"
    );
}

#[tokio::test]
async fn tests_are_found_by_a_real_vurd_id() {
    let sandbox = sandbox_with(SandboxOptions::default()).await;
    let inspera = client(&sandbox);
    let (vurd_id, _) = seeded_appeal(&sandbox);

    let test = inspera
        .find_test(&vurd_id)
        .await
        .expect("search")
        .expect("found");
    assert_eq!(test.external_test_id, vurd_id);
    let appeal = &sandbox.fs.appeals("185")[0];
    assert_eq!(
        test.title,
        format!("{} {}", appeal.course_code, appeal.term)
    );
    assert_eq!(inspera.test(test.test_id).await.expect("by id"), test);
    assert_eq!(
        inspera.find_test("not-a-vurd-id").await.expect("search"),
        None
    );

    let error = inspera.test(1).await.unwrap_err();
    assert_eq!(error.category(), Category::Mapping);
    assert!(error.message().contains("test 1"), "{error}");
}

#[tokio::test]
async fn appeals_register_withdraw_and_report_no_appeal() {
    let sandbox = sandbox_with(SandboxOptions::default()).await;
    let inspera = client(&sandbox);
    let (vurd_id, candidate) = seeded_appeal(&sandbox);
    let test_id = test_id(&inspera, &vurd_id).await;

    assert_eq!(
        inspera.appeal(test_id, &candidate).await.expect("none"),
        None
    );
    assert_eq!(
        inspera.withdraw_appeal(test_id, &candidate).await,
        Ok(Withdrawal::NoAppeal)
    );
    assert_eq!(inspera.register_appeal(test_id, &candidate).await, Ok(true));
    assert_eq!(
        inspera.register_appeal(test_id, &candidate).await,
        Ok(false)
    );
    let appeal = inspera
        .appeal(test_id, &candidate)
        .await
        .expect("appeal")
        .expect("registered");
    assert_eq!(appeal.candidate_id, candidate);
    assert_eq!(appeal.status, AppealState::Active);
    assert_eq!(appeal.decision, None);

    assert_eq!(
        inspera.withdraw_appeal(test_id, &candidate).await,
        Ok(Withdrawal::Withdrawn)
    );
    assert_eq!(
        inspera.withdraw_appeal(test_id, &candidate).await,
        Ok(Withdrawal::Withdrawn)
    );
    let appeal = inspera.appeal(test_id, &candidate).await.expect("appeal");
    assert_eq!(appeal.map(|a| a.status), Some(AppealState::Withdrawn));
    assert_eq!(sandbox.inspera.repeated_appeal_registrations(), 1);
    assert_eq!(sandbox.inspera.repeated_withdrawals(), 1);

    assert_eq!(inspera.register_appeal(test_id, &candidate).await, Ok(true));
    sandbox.inspera.decide_appeals();
    let decided = inspera
        .appeal(test_id, &candidate)
        .await
        .expect("appeal")
        .expect("registered");
    assert_eq!(decided.status, AppealState::Decided);
    assert!(decided.decision.is_some());

    let error = inspera
        .register_appeal(test_id, "999999999")
        .await
        .unwrap_err();
    assert_eq!(error.category(), Category::Mapping);
    assert!(error.message().contains("candidate 999999999"), "{error}");
    assert!(
        error.message().contains(&format!("test {test_id}")),
        "{error}"
    );
}

#[tokio::test]
async fn an_explanation_request_is_sent_once_per_call_and_never_retried() {
    let sandbox = sandbox_with(SandboxOptions::default()).await;
    let inspera = client(&sandbox);
    let (vurd_id, candidate) = seeded_appeal(&sandbox);
    let test_id = test_id(&inspera, &vurd_id).await;

    let error = inspera
        .request_explanation(test_id, &candidate)
        .await
        .unwrap_err();
    assert_eq!(error.category(), Category::Mapping, "{error}");
    assert!(error.message().contains("not enabled"), "{error}");
    inspera.enable_explanations(test_id).await.expect("enable");

    assert!(inspera
        .explanations(test_id, &candidate)
        .await
        .expect("list")
        .is_empty());
    let explanation = inspera
        .request_explanation(test_id, &candidate)
        .await
        .expect("request");
    assert_eq!(explanation.candidate_id, candidate);
    assert!(!explanation.given);
    assert_eq!(sandbox.inspera.explanations().len(), 1);
    let listed = inspera
        .explanations(test_id, &candidate)
        .await
        .expect("list");
    assert_eq!(listed, vec![explanation.clone()]);

    sandbox.inspera.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let before = sandbox.inspera.request_count();
    let error = inspera
        .request_explanation(test_id, &candidate)
        .await
        .unwrap_err();
    assert_eq!(error.category(), Category::External);
    assert_eq!(
        sandbox.inspera.request_count(),
        before + 1,
        "exactly one request reached Inspera for the call"
    );
    let before = sandbox.inspera.request_count();
    inspera.explanations(test_id, &candidate).await.unwrap_err();
    assert_eq!(
        sandbox.inspera.request_count(),
        before + 4,
        "reads are retried"
    );
    sandbox.inspera.set_faults(Faults::default());

    assert_eq!(sandbox.inspera.explanations().len(), 1);
    assert_eq!(sandbox.inspera.duplicate_explanation_requests(), 0);
    inspera
        .request_explanation(test_id, &candidate)
        .await
        .expect("a second call");
    assert_eq!(
        sandbox.inspera.duplicate_explanation_requests(),
        1,
        "each call is one more explanation"
    );
}

#[tokio::test]
async fn a_given_explanation_has_its_document() {
    let sandbox = sandbox_with(SandboxOptions::default()).await;
    let inspera = client(&sandbox);
    let (vurd_id, candidate) = seeded_appeal(&sandbox);
    let test_id = test_id(&inspera, &vurd_id).await;
    inspera.enable_explanations(test_id).await.expect("enable");
    let requested = inspera
        .request_explanation(test_id, &candidate)
        .await
        .expect("request");
    assert_eq!(requested.document, None);

    assert_eq!(sandbox.inspera.give_explanations(), 1);
    let given = inspera
        .explanation(test_id, requested.explanation_id)
        .await
        .expect("explanation");
    assert!(given.given);
    assert!(given.given_at.is_some());
    let document = given.document.expect("document");
    assert_eq!(document.content_type, "application/pdf");
    assert!(
        document.content_base64.starts_with("JVBERi"),
        "base64 of %PDF"
    );

    let error = inspera.explanation(test_id, 1).await.unwrap_err();
    assert_eq!(error.category(), Category::Mapping);
    assert!(error.message().contains("explanation 1"), "{error}");
}

#[tokio::test]
async fn a_wrong_api_key_is_a_configuration_error() {
    let sandbox = sandbox_with(SandboxOptions::default()).await;
    let inspera = client_with_key(&sandbox, "not-the-key-123");
    let error = inspera.find_test("anything").await.unwrap_err();
    assert_eq!(error.category(), Category::Configuration, "{error}");
    assert!(
        error
            .message()
            .contains("check the Inspera API key/client id"),
        "{error}"
    );
    assert!(!error.to_string().contains("not-the-key-123"));
    assert_eq!(
        sandbox.inspera.token_requests(),
        1,
        "a Configuration error is not retried"
    );
}

#[tokio::test]
async fn webhook_bodies_verify_and_parse_without_the_user() {
    let sandbox = sandbox_with(SandboxOptions::default()).await;
    let inspera = client(&sandbox);
    let (vurd_id, candidate) = seeded_appeal(&sandbox);
    let test_id = test_id(&inspera, &vurd_id).await;
    inspera
        .register_appeal(test_id, &candidate)
        .await
        .expect("register");
    sandbox
        .inspera
        .set_webhook("http://127.0.0.1:1/unreachable", "hook-secret");
    assert_eq!(sandbox.inspera.decide_appeals(), 1);
    assert!(
        sandbox
            .inspera
            .wait_for_webhooks(Duration::from_secs(10))
            .await
    );

    let delivery = sandbox.inspera.webhook_deliveries().remove(0);
    assert_eq!(delivery.outcome, InsperaDeliveryOutcome::Failed);
    assert_eq!(delivery.statuses, vec![None; 4]);
    let body = delivery.body.as_bytes();
    verify_inspera_signature(b"hook-secret", body, Some(&delivery.signature)).expect("signed");
    let error =
        verify_inspera_signature(b"other-secret", body, Some(&delivery.signature)).unwrap_err();
    assert_eq!(error.category(), Category::Mapping);

    let limits = inspera_webhook::verify::Limits {
        max_body_bytes: 16_384,
        max_age_ms: 3_600_000,
    };
    let verdict = inspera_webhook::verify::check(
        b"hook-secret",
        &flyt::appeals::InsperaEventNames::default(),
        body,
        Some(&delivery.signature),
        limits,
        flyt::time::now_ms(),
    );
    let inspera_webhook::verify::Verdict::Accept(event) = verdict else {
        panic!("the receiver accepts the sandbox's webhook: {verdict:?}");
    };
    assert_eq!(event.kind, flyt::appeals::InsperaEventKind::AppealDecided);
    assert_eq!(event.test_id, test_id);
    assert_eq!(event.associated_id, candidate);
    let shown = format!("{event:?}");
    for name in sandbox.inspera.personal_data() {
        assert!(!shown.contains(&name), "the grader's name is dropped");
    }
}

/// The exam-systems secret with one Inspera tenant, `uio-inspera`, on the sandbox.
fn tenant_secret(sandbox: &Sandbox, api_key: &str) -> serde_json::Value {
    serde_json::json!({"uio-inspera": {
        "system": "INSPERA",
        "url": format!("{}/api", sandbox.inspera_url),
        "client_id": "uio",
        "api_key": api_key,
    }})
}

#[tokio::test]
async fn a_refused_token_is_dropped_the_rotated_key_read_once_and_the_call_made_once_more() {
    let captured = Captured::default();
    let writer = captured.clone();
    flyt::observability::init_logging_with(move || writer.clone(), "info");
    let sandbox = sandbox_with(SandboxOptions::default()).await;
    let counter = RequestCounter::default();
    let (counted, plain) = emulator_clients(&counter).await;
    let secret = create_secret(&plain.secrets, &tenant_secret(&sandbox, API_KEY)).await;
    let connections = Connections::load(
        &counted.secrets,
        Refresh::default(),
        None,
        Some(&secret),
        &flyt::http::client(Duration::from_secs(5)),
        &quick_retries(),
    )
    .await
    .expect("the secret loads");
    let inspera = connections.inspera("uio-inspera").unwrap();
    let (vurd_id, _) = seeded_appeal(&sandbox);
    test_id(inspera, &vurd_id).await;
    assert_eq!(sandbox.inspera.token_requests(), 1);
    let reads = secret_reads(&counter);

    // The key is rotated in Inspera, which ends the old key's tokens, and in the secret.
    let rotated = "rotated-inspera-key-4f2a";
    put_secret(&plain.secrets, &secret, &tenant_secret(&sandbox, rotated)).await;
    sandbox.inspera.set_api_key(rotated);
    sandbox.inspera.revoke_tokens();
    let requests = sandbox.inspera.request_count();
    test_id(inspera, &vurd_id).await;
    assert_eq!(secret_reads(&counter) - reads, 1, "the secret read once");
    assert_eq!(
        sandbox.inspera.token_requests(),
        2,
        "one new token, asked for with the new key only"
    );
    assert_eq!(
        sandbox.inspera.request_count() - requests,
        3,
        "the refused call, the token, the call once more"
    );

    // Changed again in Inspera only, at once: within the re-read interval the secret is not
    // read again, and the call fails as it always did.
    sandbox.inspera.set_api_key("changed-in-inspera-only");
    sandbox.inspera.revoke_tokens();
    let error = inspera.find_test(&vurd_id).await.unwrap_err();
    assert_eq!(error.category(), Category::Configuration, "{error}");
    assert!(
        error
            .message()
            .contains("check the Inspera API key/client id"),
        "{error}"
    );
    assert_eq!(
        secret_reads(&counter) - reads,
        1,
        "no second read within the re-read interval"
    );

    let logs = captured.text();
    assert!(logs.contains("secret read again"), "the re-read is logged");
    for key in [API_KEY, rotated, "changed-in-inspera-only"] {
        assert!(!logs.contains(key), "a key in the logs");
        assert!(!error.to_string().contains(key));
    }
}
