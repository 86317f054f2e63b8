//! The daily digest e-mail: every institution someone opted in to gets the day's executions of
//! its own interfaces — KO first, with the category and what to do — one message per subscriber,
//! sent through SES (the emulator's, read back through its API); no other institution's
//! executions, no personal data, and no address in any log or execution line.

mod common;

use common::privacy::{assert_no_personal_data, Captured};
use flyt::digest::Subscriptions;
use flyt::execution::{ExecutionStore, LogLine};
use flyt::Error;
use flyt_local::{Emulator, Local, LocalOptions};
use serde_json::{json, Value};

/// Starts, finishes and returns an execution of `interface`, KO with one Mapping line if `ko`.
async fn execution(store: &ExecutionStore, interface: &str, ko: bool) -> String {
    let id = store.start(interface, "schedule").await.unwrap();
    let lines = if ko {
        vec![LogLine::error(&Error::mapping(format!(
            "{interface}: vurdId X kandidatnr 12345: field sisKode is missing"
        )))]
    } else {
        vec![LogLine::info("read 3, queued 3")]
    };
    store.record(&id, &[("read", 3)], &lines).await.unwrap();
    store.finish(&id).await.unwrap();
    id
}

/// The SES messages the emulator accepted.
async fn sent_messages(local: &Local) -> Vec<Value> {
    let data: Value = reqwest::get(format!("{}/moto-api/data.json", local.emulator_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_subscriber_gets_their_institutions_digest_and_nothing_else() {
    let captured = Captured::default();
    let writer = captured.clone();
    flyt::observability::init_logging_with(move || writer.clone(), "info");
    let local = Local::start(Emulator::shared(), LocalOptions::default())
        .await
        .unwrap();
    let subscriptions = Subscriptions::new(local.aws.dynamodb.clone(), local.table("ConfigTable"));
    let addresses = [
        ("uio", "digest.one@uio.example"),
        ("uio", "digest.two@uio.example"),
        ("uib", "digest.three@uib.example"),
    ];
    for (org, address) in addresses {
        subscriptions.subscribe(org, address).await.unwrap();
    }
    assert!(subscriptions
        .subscribe("uio", "not an address")
        .await
        .is_err());
    let store = ExecutionStore::new(local.aws.dynamodb.clone(), local.table("ExecutionsTable"));
    let uio_ko = execution(&store, "fs-poll-uio-klage", true).await;
    let uio_ok = execution(&store, "fs-poll-uio-begrunnelse", false).await;
    let uib_ko = execution(&store, "wiseflow-poll-uib", true).await;

    let today = chrono::Utc::now().date_naive().to_string();
    let summary = local
        .invoke("OpsWatchFunction", json!({"digest": {"day": today}}))
        .await
        .unwrap();
    assert_eq!(
        (
            &summary["institutions"],
            &summary["sent"],
            &summary["failed"]
        ),
        (&json!(2), &json!(3), &json!(0)),
        "{summary}"
    );

    let messages = sent_messages(&local).await;
    assert_eq!(
        messages.len(),
        3,
        "one message per subscriber: {messages:?}"
    );
    for (org, address) in addresses {
        let to_them: Vec<&Value> = messages
            .iter()
            .filter(|m| m["destinations"]["ToAddresses"] == json!([address]))
            .collect();
        assert_eq!(
            to_them.len(),
            1,
            "{address} got exactly one message, to them alone"
        );
        let message = to_them[0];
        assert_eq!(message["source"], "flyt-digest@example.org");
        let (subject, body) = (
            message["subject"].as_str().unwrap(),
            message["body"].as_str().unwrap(),
        );
        assert!(
            subject.contains(org) && subject.contains("1 KO"),
            "{subject}"
        );
        let (own, other) = if org == "uio" {
            (vec![&uio_ko, &uio_ok], vec![&uib_ko])
        } else {
            (vec![&uib_ko], vec![&uio_ko, &uio_ok])
        };
        assert!(own.iter().all(|id| body.contains(id.as_str())), "{body}");
        assert!(other.iter().all(|id| !body.contains(id.as_str())), "{body}");
        assert!(body.contains("first error [Mapping]"), "{body}");
        assert!(body.contains(flyt::Category::Mapping.action()), "{body}");
        assert!(
            !addresses
                .iter()
                .any(|(_, a)| *a != address && body.contains(a)),
            "no other subscriber's address in {address}'s message"
        );
    }

    // Run again for the same day (a retried invocation, the scheduler's second delivery, a manual
    // re-run): nothing goes out twice.
    let again = local
        .invoke("OpsWatchFunction", json!({"digest": {"day": today}}))
        .await
        .unwrap();
    assert_eq!(
        (&again["sent"], &again["already_sent"], &again["failed"]),
        (&json!(0), &json!(3), &json!(0)),
        "{again}"
    );
    assert_eq!(
        sent_messages(&local).await.len(),
        3,
        "each subscriber's digest went out once"
    );

    // The day's ops-watch execution counts them; no address anywhere in logs or lines.
    let day = store
        .get(&flyt::execution::daily_id(
            ops_watch::INTERFACE,
            flyt::time::now_ms(),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(day.count("digests_sent"), 3);
    assert_eq!(day.count("digests_already_sent"), 3);
    let mut seen = captured.text();
    for line in store.lines(&day.id).await.unwrap() {
        seen.push_str(&line.message);
        seen.push('\n');
    }
    let addresses: Vec<String> = addresses.iter().map(|(_, a)| (*a).to_owned()).collect();
    assert_no_personal_data(&seen, &addresses);
    let bodies: String = messages.iter().map(|m| m["body"].to_string()).collect();
    assert_no_personal_data(&bodies, &local.sandbox.fs.personal_data());
}
