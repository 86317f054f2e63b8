//! No personal data leaves the appeals flow: over the whole scenario — polls, dispatch, graders'
//! webhooks, returns, a parked case and faults — none of FS's person numbers, names, user names or
//! e-mail addresses, nor Inspera's grader user names, appear in any log line, execution line or
//! parked message (what an operator and the alarms see). Its own test binary: it installs the
//! process's log subscriber.

mod common;

use common::appeals::{answer_and_return, appeals_platform, poll_and_dispatch};
use common::privacy::{assert_no_personal_data, whole_word_in, Captured};
use flyt::execution::ExecutionStore;
use flyt_local::LocalOptions;
use flyt_sandbox::Faults;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_personal_data_in_logs_execution_lines_or_parked_messages() {
    let captured = Captured::default();
    let writer = captured.clone();
    flyt::observability::init_logging_with(move || writer.clone(), "info");
    let local = appeals_platform(LocalOptions::default()).await;
    // A case FS sends without a candidate number: parked with its reason.
    let template = local.sandbox.fs.appeals("194")[0].clone();
    local.sandbox.fs.append_appeal(flyt_sandbox::FsAppeal {
        candidate_number: String::new(),
        changed_at: String::new(),
        ..template
    });
    let faults = Faults {
        error_rate: 0.1,
        throttle_rate: 0.05,
        retry_after_secs: 1,
        ..Faults::default()
    };
    local.sandbox.wiseflow.set_faults(faults.clone());
    local.sandbox.inspera.set_faults(faults);
    poll_and_dispatch(&local).await;
    answer_and_return(&local).await;

    let mut seen = captured.text();
    let executions =
        ExecutionStore::new(local.aws.dynamodb.clone(), local.table("ExecutionsTable"));
    let mut lines = 0;
    for interface in [
        "fs-poll-uio-klage",
        "fs-poll-uio-begrunnelse",
        "fs-poll-uib-klage",
        "fs-poll-uib-begrunnelse",
        "wiseflow-poll-uib",
        inspera_webhook::INTERFACE,
    ] {
        for execution in executions.list(interface, 100).await.unwrap() {
            for line in executions.lines(&execution.id).await.unwrap() {
                seen.push_str(&line.message);
                seen.push('\n');
                lines += 1;
            }
        }
    }
    let parked = local
        .aws
        .sqs
        .receive_message()
        .queue_url(&local.stack.queue("DispatchDlq").url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert!(!parked.is_empty(), "the bad case was parked");
    for message in &parked {
        seen.push_str(message.body().unwrap_or_default());
        for value in message
            .message_attributes()
            .into_iter()
            .flat_map(|a| a.values())
        {
            seen.push_str(value.string_value().unwrap_or_default());
        }
    }
    assert!(lines > 0, "execution lines were written");
    assert!(
        seen.len() > 10_000,
        "the scenario logged: {} bytes",
        seen.len()
    );

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

    let mut personal = local.sandbox.fs.personal_data();
    personal.extend(local.sandbox.inspera.personal_data());
    assert!(
        personal.len() > 500,
        "the sandbox holds personal data to look for"
    );
    assert_no_personal_data(&seen, &personal);
}
