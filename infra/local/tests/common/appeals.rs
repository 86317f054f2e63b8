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

/// How many changes FS lists for `institutions`: appeals and explanation requests.
pub fn changes_in_fs(local: &Local, institutions: &[&str]) -> usize {
    institutions
        .iter()
        .map(|nr| {
            local.sandbox.fs.appeals(nr).len() + local.sandbox.fs.explanation_requests(nr).len()
        })
        .sum()
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

/// What may have made a client repeat a call that already had its effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeats {
    /// No faults and no killed invocations: every call was made exactly once.
    None,
    /// Faults were on and `killed_returns` fs-return invocations were killed mid-batch: a call
    /// may repeat only where an answer was lost or an invocation killed, and every repeat must
    /// be explained by one of them.
    Faults {
        /// fs-return invocations killed mid-batch.
        killed_returns: u64,
    },
}

/// Every change of one institution's appeal list per case (vurdId, kandidatnr), in FS's order.
pub fn appeal_histories(
    local: &Local,
    institusjonsnr: &str,
) -> BTreeMap<(String, String), Vec<AppealStatus>> {
    let mut histories: BTreeMap<(String, String), Vec<AppealStatus>> = BTreeMap::new();
    for appeal in local.sandbox.fs.appeals(institusjonsnr) {
        histories
            .entry((appeal.assessment_id, appeal.candidate_number))
            .or_default()
            .push(appeal.status);
    }
    histories
}

/// The vurdIds of every case of one institution, appeals and explanation requests.
pub fn exams_of(local: &Local, institusjonsnr: &str) -> BTreeSet<String> {
    let fs = &local.sandbox.fs;
    fs.appeals(institusjonsnr)
        .into_iter()
        .map(|a| a.assessment_id)
        .chain(
            fs.explanation_requests(institusjonsnr)
                .into_iter()
                .map(|r| r.assessment_id),
        )
        .collect()
}

/// Proves by count that every case reached its exam system exactly once and every answer
/// reached FS exactly once. Institution 185 is on Inspera, 194 on WISEflow (showing
/// justifications).
pub fn assert_cases_exactly_once(local: &Local, repeats: Repeats) {
    assert_inspera_cases_once(local, "185", repeats);
    assert_wiseflow_cases_once(local, "194", repeats);
    assert_fs_answers_once(local, &["185", "194"], repeats);
    assert_justifications_shown_once(local, "194", true, repeats);
}

/// Inspera, institution `institusjonsnr`: one explanation request per case, never two (faults or
/// not); every appeal registered once and, where FS withdrew it, withdrawn once — or, when the
/// withdrawal overtook it, never registered at all; without faults no call repeated.
pub fn assert_inspera_cases_once(local: &Local, institusjonsnr: &str, repeats: Repeats) {
    let inspera = &local.sandbox.inspera;
    let tests: BTreeMap<u64, String> = inspera
        .tests()
        .into_iter()
        .map(|t| (t.test_id, t.external_test_id))
        .collect();
    let expected = explanation_cases(local, institusjonsnr);
    let exams = exams_of(local, institusjonsnr);
    let requests: BTreeMap<(String, String), u32> = inspera
        .explanation_request_counts()
        .into_iter()
        .filter(|c| exams.contains(&tests[&c.test_id]))
        .map(|c| ((tests[&c.test_id].clone(), c.candidate_id), c.count))
        .collect();
    assert_eq!(
        requests.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "every Inspera explanation case requested"
    );
    let twice: Vec<_> = requests.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "Inspera explanations requested more than once: {twice:?}"
    );
    assert_eq!(inspera.duplicate_explanation_requests(), 0);
    let published = inspera
        .explanations()
        .into_iter()
        .filter(|e| exams.contains(&tests[&e.test_id]))
        .count();
    assert_eq!(
        published,
        requests.len(),
        "one published explanation per case"
    );
    let appeals: BTreeMap<(String, String), flyt_sandbox::InsperaAppeal> = inspera
        .appeals()
        .into_iter()
        .map(|a| ((tests[&a.test_id].clone(), a.candidate_id.clone()), a))
        .collect();
    let histories = appeal_histories(local, institusjonsnr);
    for (case, history) in &histories {
        let appeal = appeals.get(case);
        match history.as_slice() {
            [AppealStatus::Active] => {
                let appeal =
                    appeal.unwrap_or_else(|| panic!("standing appeal {case:?} not in Inspera"));
                assert!(
                    matches!(
                        appeal.status,
                        InsperaAppealStatus::Active | InsperaAppealStatus::Decided
                    ),
                    "standing appeal {case:?}: {appeal:?}"
                );
                assert_eq!(
                    (
                        appeal.registrations,
                        appeal.withdrawals,
                        appeal.repeated_withdrawals
                    ),
                    (1, 0, 0),
                    "standing appeal {case:?} registered once, never withdrawn: {appeal:?}"
                );
            }
            [AppealStatus::Active, AppealStatus::Withdrawn] => match appeal {
                // The withdrawal overtook the appeal (same batch or earlier): nothing to undo.
                None => {}
                Some(appeal) => assert_eq!(
                    (appeal.status, appeal.registrations, appeal.withdrawals),
                    (InsperaAppealStatus::Withdrawn, 1, 1),
                    "withdrawn appeal {case:?} registered and withdrawn once: {appeal:?}"
                ),
            },
            other => panic!("the scenario has no such appeal history for {case:?}: {other:?}"),
        }
        if repeats == Repeats::None {
            if let Some(appeal) = appeal {
                assert_eq!(
                    (appeal.repeated_registrations, appeal.repeated_withdrawals),
                    (0, 0),
                    "no call repeated for {case:?} without faults: {appeal:?}"
                );
            }
        }
    }
    let stray: Vec<_> = appeals
        .keys()
        .filter(|case| exams.contains(&case.0) && !histories.contains_key(*case))
        .collect();
    assert!(
        stray.is_empty(),
        "appeals in Inspera without a case: {stray:?}"
    );
    if repeats == Repeats::None {
        assert_eq!(inspera.repeated_appeal_registrations(), 0);
        assert_eq!(inspera.repeated_withdrawals(), 0);
    }
}

/// WISEflow, institution `institusjonsnr` (alone on WISEflow): one reassessment flow per exam
/// with a standing appeal, created once, none for an exam without an appeal; and
/// [`assert_wiseflow_explanations_once`].
///
/// The one repeat allowed without faults, by design: every appeal of an exam posts the exam's
/// reassessment flow (WISEflow has one per flow, however many appeals); the first post creates it
/// (201) and the others are answered 200 with the existing id. So an exam's posts lie between its
/// standing appeals (each posts once) and all its appeals (an appeal whose withdrawal overtook it
/// posts nothing). A second post *for the same appeal* would exceed that.
pub fn assert_wiseflow_cases_once(local: &Local, institusjonsnr: &str, repeats: Repeats) {
    let wiseflow = &local.sandbox.wiseflow;
    let flows: BTreeMap<u64, String> = wiseflow
        .flows()
        .into_iter()
        .map(|f| (f.id, f.assessment_id))
        .collect();
    let histories = appeal_histories(local, institusjonsnr);
    let mut standing: BTreeMap<String, u32> = BTreeMap::new();
    let mut appealed: BTreeMap<String, u32> = BTreeMap::new();
    for ((exam, _), history) in &histories {
        *appealed.entry(exam.clone()).or_default() += 1;
        if history.last() == Some(&AppealStatus::Active) {
            *standing.entry(exam.clone()).or_default() += 1;
        }
    }
    let reassessed: BTreeMap<String, flyt_sandbox::WiseflowReassessment> = wiseflow
        .reassessments()
        .into_iter()
        .map(|(flow, r)| (flows[&flow].clone(), r))
        .collect();
    for (exam, cases) in &standing {
        let r = reassessed.get(exam).unwrap_or_else(|| {
            panic!("no reassessment flow for {exam} ({cases} standing appeals)")
        });
        assert_eq!(r.creations, 1, "one reassessment flow for {exam}: {r:?}");
        let posts = r.creations + r.repeats;
        assert!(
            posts >= *cases,
            "{exam}: {posts} posts for {cases} standing appeals: a standing appeal never reached WISEflow"
        );
        if repeats == Repeats::None {
            assert!(
                posts <= appealed[exam],
                "{exam}: {posts} posts for {} appeals: one appeal posted twice (only one post per appeal is WISEflow's 200 existing)",
                appealed[exam]
            );
        }
    }
    let stray: Vec<_> = reassessed
        .keys()
        .filter(|exam| !appealed.contains_key(*exam))
        .collect();
    assert!(
        stray.is_empty(),
        "reassessment flows without an appeal: {stray:?}"
    );
    assert_wiseflow_explanations_once(local, institusjonsnr, repeats);
}

/// WISEflow, institution `institusjonsnr` (alone on WISEflow): one explanation request per case,
/// without faults posted once.
pub fn assert_wiseflow_explanations_once(local: &Local, institusjonsnr: &str, repeats: Repeats) {
    let wiseflow = &local.sandbox.wiseflow;
    let flows: BTreeMap<u64, String> = wiseflow
        .flows()
        .into_iter()
        .map(|f| (f.id, f.assessment_id))
        .collect();
    let expected = explanation_cases(local, institusjonsnr);
    let exams = exams_of(local, institusjonsnr);
    let requests: Vec<_> = wiseflow
        .explanation_requests()
        .into_iter()
        .filter(|e| exams.contains(&flows[&e.flow_id]))
        .collect();
    let cases: BTreeMap<(String, String), u32> = requests
        .iter()
        .map(|e| {
            (
                (flows[&e.flow_id].clone(), e.candidate_number.clone()),
                e.posts,
            )
        })
        .collect();
    assert_eq!(
        requests.len(),
        cases.len(),
        "one WISEflow explanation request per case"
    );
    assert_eq!(cases.keys().cloned().collect::<BTreeSet<_>>(), expected);
    if repeats == Repeats::None {
        let twice: Vec<_> = cases.iter().filter(|(_, posts)| **posts != 1).collect();
        assert!(
            twice.is_empty(),
            "explanation requests posted twice: {twice:?}"
        );
        assert_eq!(wiseflow.repeated_explanation_posts(), 0);
    }
}

/// FS: every explanation of `institutions` (and every decision of an appeal decided in Inspera)
/// stored once, nothing on a withdrawn appeal; without faults each posted once; with them, every
/// repeated post explained by an answer FS held back or never gave, a PATCH after it that failed,
/// or a killed fs-return batch.
pub fn assert_fs_answers_once(local: &Local, institutions: &[&str], repeats: Repeats) {
    let fs = &local.sandbox.fs;
    let registered = fs.registered_explanations();
    let stored: BTreeSet<(String, String)> = registered
        .iter()
        .map(|e| (e.assessment_id.clone(), e.candidate_number.clone()))
        .collect();
    let mut expected = BTreeSet::new();
    for nr in institutions {
        expected.extend(explanation_cases(local, nr));
    }
    assert_eq!(
        registered.len(),
        stored.len(),
        "one stored explanation per case"
    );
    assert_eq!(stored, expected, "every explanation in FS");
    let decided = local
        .sandbox
        .inspera
        .appeals()
        .into_iter()
        .filter(|a| a.status == InsperaAppealStatus::Decided)
        .count();
    assert!(decided > 0);
    let decisions = fs.registered_decisions();
    let decided_cases: BTreeSet<_> = decisions
        .iter()
        .map(|d| (d.assessment_id.clone(), d.candidate_number.clone()))
        .collect();
    assert_eq!(decisions.len(), decided, "one decision per decided appeal");
    assert_eq!(decided_cases.len(), decided, "one stored decision per case");
    assert!(
        decisions.iter().all(|d| !d.withdrawn),
        "no decision on a withdrawn appeal"
    );
    let counts = registered
        .iter()
        .map(|e| e.count)
        .chain(decisions.iter().map(|d| d.count));
    let repeated: u64 = counts.clone().map(|c| u64::from(c) - 1).sum();
    assert_eq!(
        repeated,
        fs.duplicate_registrations(),
        "FS's repeats are the entries' extra posts"
    );
    match repeats {
        Repeats::None => {
            let twice: Vec<_> = registered
                .iter()
                .filter(|e| e.count != 1)
                .map(|e| (&e.assessment_id, &e.candidate_number, e.count))
                .chain(
                    decisions
                        .iter()
                        .filter(|d| d.count != 1)
                        .map(|d| (&d.assessment_id, &d.candidate_number, d.count)),
                )
                .collect();
            assert!(
                twice.is_empty(),
                "answers posted to FS more than once: {twice:?}"
            );
            assert_eq!(fs.duplicate_registrations(), 0);
        }
        Repeats::Faults { killed_returns } => {
            // A killed batch may have posted each of its messages without recording it.
            let batch = local.stack.functions["FsReturnFunction"].sqs_sources[0].batch_size;
            let explained = fs.late_registration_answers()
                + local.sandbox.wiseflow.failed_patches()
                + killed_returns * batch as u64;
            eprintln!(
                "FS: {repeated} repeated posts; {} answers held back or never given, {} failed PATCHes, {killed_returns} killed return batches",
                fs.late_registration_answers(),
                local.sandbox.wiseflow.failed_patches()
            );
            assert!(
                repeated <= explained,
                "{repeated} repeated FS posts, only {explained} explained by lost answers, failed PATCHes and killed batches"
            );
        }
    }
}

/// WISEflow visibility of institution `institusjonsnr`'s explanations: with `show` (the
/// institution's `show_justification`) each made visible by exactly one PATCH (under faults at
/// least one, and visible), without it never patched and never visible.
pub fn assert_justifications_shown_once(
    local: &Local,
    institusjonsnr: &str,
    show: bool,
    repeats: Repeats,
) {
    let wiseflow = &local.sandbox.wiseflow;
    let sis_codes: BTreeMap<u64, String> = wiseflow
        .flows()
        .into_iter()
        .map(|f| (f.id, f.sis_code))
        .collect();
    let cases: BTreeSet<(String, String)> = local
        .sandbox
        .fs
        .explanation_requests(institusjonsnr)
        .into_iter()
        .map(|r| (r.sis_code, r.candidate_number))
        .collect();
    let requests: Vec<_> = wiseflow
        .explanation_requests()
        .into_iter()
        .filter(|e| cases.contains(&(sis_codes[&e.flow_id].clone(), e.candidate_number.clone())))
        .collect();
    assert_eq!(
        requests.len(),
        cases.len(),
        "{institusjonsnr}: one request per case"
    );
    for request in &requests {
        let patches = request.visibility_patches;
        let once = match (show, repeats) {
            (false, _) => patches == 0 && !request.show_justification,
            (true, Repeats::None) => patches == 1 && request.show_justification,
            (true, Repeats::Faults { .. }) => patches >= 1 && request.show_justification,
        };
        assert!(
            once,
            "{institusjonsnr} (show_justification {show}): explanation {} patched {patches} times, visible {}",
            request.id, request.show_justification
        );
    }
}

/// Copies (body and attributes) of up to ten messages waiting in queue `queue`, left there as
/// they were (visible again at once).
pub async fn copy_waiting(local: &Local, queue: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let url = &local.stack.queue(queue).url;
    let messages = local
        .aws
        .sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(30)
        .message_attribute_names("All")
        .send()
        .await
        .expect("the queue answers")
        .messages
        .unwrap_or_default();
    for message in &messages {
        local
            .aws
            .sqs
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(message.receipt_handle().unwrap())
            .visibility_timeout(0)
            .send()
            .await
            .expect("the message is made visible again");
    }
    messages
}

/// Sends a copy of each message (same body, same attributes) into queue `queue`, as SQS's
/// at-least-once delivery may deliver a message again.
pub async fn send_copies(local: &Local, queue: &str, messages: &[aws_sdk_sqs::types::Message]) {
    let url = &local.stack.queue(queue).url;
    for message in messages {
        local
            .aws
            .sqs
            .send_message()
            .queue_url(url)
            .message_body(message.body().unwrap())
            .set_message_attributes(message.message_attributes().cloned())
            .send()
            .await
            .expect("the copy is sent");
    }
}

/// Deliveries the executions of `messages` (items of type `T`) counted as acknowledged without a
/// call to anyone: `already_applied` (the version was recorded) and `superseded` (the same or a
/// newer version of the case came in the same batch, or was recorded).
pub async fn acknowledged_repeats<T>(local: &Local, messages: &[aws_sdk_sqs::types::Message]) -> u64
where
    T: flyt::apply::Applicable + serde::de::DeserializeOwned,
{
    let executions = flyt::execution::ExecutionStore::new(
        local.aws.dynamodb.clone(),
        local.table("ExecutionsTable"),
    );
    let ids: BTreeSet<String> = messages
        .iter()
        .map(|m| {
            let item: T = serde_json::from_str(m.body().unwrap()).expect("a queued item");
            item.execution_id().to_owned()
        })
        .collect();
    let mut acknowledged = 0;
    for id in ids {
        let execution = executions
            .get(&id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("execution {id}"));
        acknowledged += execution.count("already_applied") + execution.count("superseded");
    }
    acknowledged
}
