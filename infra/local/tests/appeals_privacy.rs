//! No personal data leaves the main job: over the whole scenario — polls (one institution that
//! cannot be polled at all, one poll with FS down), dispatch, a parked case, faults, WISEflow
//! responses awaiting acceptance and accepted, Inspera's signed webhooks (with their graders'
//! user names), the returns to FS, the thesis archive, the watch's Slack notifications and the
//! daily digest e-mails, with the exam systems' and FS's fault answers echoing a person (name,
//! e-mail address, user name, personlopenr, national id) — none of FS's person numbers, names,
//! user names or e-mail addresses, nor Inspera's grader user names, WISEflow's assessor names or
//! the digest's subscriber addresses, appear in any log line, any line of any execution, any message queued between the
//! functions, any parked message, any Slack message or any digest e-mail. Its own test binary:
//! it installs the process's log subscriber.

mod common;

use std::time::Duration;

use common::appeals::{answer, appeals_platform};
use common::privacy::{peek_queue, ses_messages, whole_word_in, Captured, Corpora};
use flyt::digest::Subscriptions;
use flyt::execution::ExecutionStore;
use flyt_local::{Local, LocalOptions};
use flyt_sandbox::Faults;
use serde_json::json;

/// The names WISEflow's sandbox shows for the assessor and the exam office on every explanation
/// request (its participants' names are FS's, already in FS's list).
const WISEFLOW_STAFF_NAMES: [&str; 2] = ["Assessor One", "Exam Office"];

async fn drain(local: &Local) {
    local
        .drain(Duration::from_secs(900), |_| {})
        .await
        .expect("the queues drain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_personal_data_in_logs_executions_messages_or_notifications() {
    let captured = Captured::default();
    let writer = captured.clone();
    flyt::observability::init_logging_with(move || writer.clone(), "info");
    // A third institution switched on without its exam-system instance: `fs-poll-ntnu` fails.
    let mut options = LocalOptions::default();
    let mut institutions = flyt_local::platform::sandbox_institutions(&options.sandbox);
    institutions.push(flyt::institution::InstitutionEntry {
        org_id: "ntnu".into(),
        org_short_name: Some("ntnu".into()),
        institusjonsnr: Some("194".into()),
        exam_system_instance: None,
        ..institutions[1].clone()
    });
    options.institutions = Some(institutions);
    let local = appeals_platform(options).await;
    let mut corpora = Corpora::default();

    // A case FS sends without a candidate number: parked with its reason.
    let template = local.sandbox.fs.appeals("194")[0].clone();
    local.sandbox.fs.append_appeal(flyt_sandbox::FsAppeal {
        candidate_number: String::new(),
        changed_at: String::new(),
        ..template
    });
    // Fault answers echo a person, as real systems' error texts do: FS's first student, with a
    // national id.
    let echoed = {
        let person = &local.sandbox.fs.appeals("185")[0];
        format!(
            "Student {} {} ({}, user {}) with personlopenr {} and national id 01019012345 is not registered",
            person.first_name, person.last_name, person.email, person.username, person.person_number
        )
    };
    let faults = Faults {
        error_rate: 0.1,
        throttle_rate: 0.05,
        retry_after_secs: 1,
        error_message: Some(echoed.clone()),
        ..Faults::default()
    };
    local.sandbox.wiseflow.set_faults(faults.clone());
    local.sandbox.inspera.set_faults(faults);

    // FS → the exam systems: what fs-poll queues for exam-dispatch.
    local
        .fire_schedule("FsPollFunction")
        .await
        .expect("fs-poll runs");
    let dispatched = peek_queue(&local, "DispatchQueue").await;
    assert!(!dispatched.is_empty());
    for message in &dispatched {
        corpora.add("dispatch messages", &message.text);
    }
    assert_fair(&dispatched);
    drain(&local).await;

    // WISEflow's assessors respond (awaiting acceptance, polled), then every answer comes back:
    // Inspera's webhooks, WISEflow's accepted responses; what is queued for fs-return is read.
    local.sandbox.wiseflow.advance_explanations(2);
    local
        .fire_schedule("WiseflowPollFunction")
        .await
        .expect("wiseflow-poll runs");
    answer(&local).await;
    let returned = peek_queue(&local, "ReturnQueue").await;
    assert!(!returned.is_empty());
    for message in &returned {
        corpora.add("return messages", &message.text);
    }
    assert_fair(&returned);
    drain(&local).await;

    // The digest e-mails the day's executions to the subscribers (read back before the thesis
    // flow: once S3 holds the archive's objects, the emulator can no longer list what SES sent).
    let subscribers = [
        (
            "uio",
            format!("digest.{:06x}@uio.example", fastrand::u32(..)),
        ),
        (
            "uib",
            format!("digest.{:06x}@uib.example", fastrand::u32(..)),
        ),
    ];
    let subscriptions = Subscriptions::new(local.aws.dynamodb.clone(), local.table("ConfigTable"));
    for (org, address) in &subscribers {
        subscriptions.subscribe(org, address).await.unwrap();
    }
    let today = chrono::Utc::now().date_naive().to_string();
    let digest = local
        .invoke("OpsWatchFunction", json!({"digest": {"day": today}}))
        .await
        .expect("the digest runs");
    assert_eq!(digest["sent"], 2, "{digest}");
    let mut digests = 0;
    for message in ses_messages(&local).await {
        let to = message["destinations"]["ToAddresses"].to_string();
        if subscribers
            .iter()
            .any(|(_, address)| to.contains(address.as_str()))
        {
            corpora.add(
                "digest e-mails",
                message["subject"].as_str().unwrap_or_default(),
            );
            corpora.add(
                "digest e-mails",
                message["body"].as_str().unwrap_or_default(),
            );
            digests += 1;
        }
    }
    assert_eq!(digests, 2, "one digest per subscriber");

    // The thesis flow: Inspera's thesis webhooks, WISEflow's theses, the sweep and the archive.
    local.archive_theses().await.expect("the theses are swept");

    // FS down for one poll: every list's execution KO with FS's answer.
    local.sandbox.fs.set_faults(Faults {
        down: true,
        error_message: Some(echoed.clone()),
        ..Faults::default()
    });
    local
        .fire_schedule("FsPollFunction")
        .await
        .expect("fs-poll runs");
    local.sandbox.fs.set_faults(Faults::default());

    // The watch posts every finding to Slack.
    let watch = local
        .fire_schedule("OpsWatchFunction")
        .await
        .expect("the watch runs");
    eprintln!("watch: {watch:?}");
    for message in local.sandbox.slack.messages() {
        corpora.add("Slack messages", &message.visible_text());
    }
    assert!(
        !local.sandbox.slack.messages().is_empty(),
        "the watch notified"
    );

    // Every execution in the table, every line of each.
    let executions =
        ExecutionStore::new(local.aws.dynamodb.clone(), local.table("ExecutionsTable"));
    let all = executions.recent(usize::MAX).await.unwrap();
    let mut lines = 0;
    let mut scrubbed_echoes = 0;
    for execution in &all {
        corpora.add(
            "execution heads",
            &format!("{} {}", execution.id, execution.interface),
        );
        for line in executions.lines(&execution.id).await.unwrap() {
            corpora.add("execution lines", &line.message);
            scrubbed_echoes += usize::from(line.message.contains("<e-mail>"));
            lines += 1;
        }
    }
    assert!(
        scrubbed_echoes > 0,
        "FS's answer while down reached the execution lines, scrubbed"
    );
    let interfaces: Vec<&str> = all.iter().map(|e| e.interface.as_str()).collect();
    for expected in [
        "fs-poll-uio-klage",
        "fs-poll-uio-begrunnelse",
        "fs-poll-uib-klage",
        "fs-poll-uib-begrunnelse",
        "fs-poll-ntnu",
        "wiseflow-poll-uib",
        inspera_webhook::INTERFACE,
        "thesis-archive",
        ops_watch::INTERFACE,
    ] {
        assert!(
            interfaces.contains(&expected),
            "an execution of {expected} among {interfaces:?}"
        );
    }
    assert!(lines > 0, "execution lines were written");

    // Every parked message, in every dead-letter queue.
    let depths = local.dead_letter_depths().await.unwrap();
    assert!(
        depths["DispatchDlq"] > 0,
        "the bad case was parked: {depths:?}"
    );
    for (dlq, depth) in &depths {
        if *depth > 0 {
            for body in peek_queue(&local, dlq).await.into_iter().map(|m| m.text) {
                corpora.add("parked messages", &body);
            }
        }
    }
    let logs = captured.text();
    assert!(
        logs.len() > 10_000,
        "the scenario logged: {} bytes",
        logs.len()
    );
    corpora.add("logs", &logs);

    // The detector finds personal data where it is: in FS's own answer.
    let first = &local.sandbox.fs.appeals("185")[0];
    let raw_fs_answer = serde_json::to_string(first).unwrap();
    for value in [
        &first.person_number,
        &first.first_name,
        &first.username,
        &first.email,
    ] {
        assert!(
            whole_word_in(&raw_fs_answer, value).is_some(),
            "{value} not detected"
        );
    }
    assert!(
        whole_word_in("idIngrid7", "Ingrid").is_none(),
        "inside a longer id"
    );
    // And the webhooks Flyt received did carry the graders' user names.
    let graders = local.sandbox.inspera.personal_data();
    assert!(local
        .sandbox
        .inspera
        .webhook_deliveries()
        .iter()
        .any(|d| graders.iter().any(|g| whole_word_in(&d.body, g).is_some())));

    let mut personal = local.sandbox.fs.personal_data();
    personal.extend(graders);
    personal.extend(WISEFLOW_STAFF_NAMES.map(str::to_owned));
    personal.extend(subscribers.iter().map(|(_, address)| address.clone()));
    personal.push("01019012345".to_owned());
    assert!(
        personal.len() > 500,
        "the sandbox holds personal data to look for"
    );
    corpora.assert_clean(
        &[
            "logs",
            "execution heads",
            "execution lines",
            "dispatch messages",
            "return messages",
            "parked messages",
            "Slack messages",
            "digest e-mails",
        ],
        &personal,
    );
}

/// Every message on the shared dispatch and return queues names its institution as its
/// `MessageGroupId` (an SQS fair queue's tenant): the `org_id` it carries, or for an Inspera
/// answer the Inspera instance, which belongs to one institution.
fn assert_fair(messages: &[common::privacy::Peeked]) {
    for message in messages {
        let body: serde_json::Value = serde_json::from_str(&message.body).unwrap();
        let institution = body["org_id"]
            .as_str()
            .or(body["instance"].as_str())
            .or(body["Wiseflow"]["org_id"].as_str())
            .or(body["Inspera"]["instance"].as_str());
        assert!(institution.is_some(), "{body}");
        assert_eq!(message.tenant.as_deref(), institution, "{body}");
    }
}
