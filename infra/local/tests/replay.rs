//! Replay after an outage (seed `000_*`): changes FS listed while the queue to the exam system was
//! lost are never polled again — the cursor moved on. A replay of the list over the outage's window
//! lists exactly them in a dry run (queueing nothing), then delivers exactly them, once; what was
//! delivered before is not sent again, and a second replay finds nothing to do.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::appeals::{appeals_platform, poll_and_dispatch, Repeats};
use flyt_local::LocalOptions;
use flyt_sandbox::{AppealStatus, FsAppeal, InsperaAppealStatus};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replay_over_an_outage_delivers_exactly_the_missed_changes_once() {
    let local = appeals_platform(LocalOptions::default()).await;
    poll_and_dispatch(&local).await;
    let inspera = &local.sandbox.inspera;
    let active = |candidate: &str| {
        inspera
            .appeals()
            .iter()
            .any(|a| a.candidate_id == candidate && a.status == InsperaAppealStatus::Active)
    };
    // During the outage: six candidates withdraw their appeals; the poll queues the withdrawals,
    // and the queue is lost.
    let withdrawn: Vec<FsAppeal> = local
        .sandbox
        .fs
        .appeals("185")
        .into_iter()
        .filter(|a| a.status == AppealStatus::Active && active(&a.candidate_number))
        .filter(|a| {
            !local.sandbox.fs.appeals("185").iter().any(|b| {
                b.candidate_number == a.candidate_number && b.status == AppealStatus::Withdrawn
            })
        })
        .take(6)
        .map(|a| {
            local.sandbox.fs.append_appeal(FsAppeal {
                status: AppealStatus::Withdrawn,
                changed_at: String::new(),
                ..a
            })
        })
        .collect();
    assert_eq!(withdrawn.len(), 6);
    local.fire_schedule("FsPollFunction").await.unwrap();
    let dispatch = local.stack.queue("DispatchQueue").url.clone();
    local
        .aws
        .sqs
        .purge_queue()
        .queue_url(&dispatch)
        .send()
        .await
        .unwrap();
    let depth = || async {
        flyt::redrive::queue_depth(&local.aws.sqs, &dispatch)
            .await
            .unwrap()
    };
    assert_eq!(depth().await, 0, "the outage lost the queued withdrawals");
    local.fire_schedule("FsPollFunction").await.unwrap();
    assert_eq!(
        depth().await,
        0,
        "the next poll does not see them again: the cursor moved on"
    );
    assert!(withdrawn.iter().all(|a| active(&a.candidate_number)));

    // The window covers the whole seeded list (delivered before) and the outage.
    let from = (chrono::Utc::now() - chrono::Duration::days(3))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let to = (chrono::Utc::now() + chrono::Duration::minutes(1))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let missed: BTreeSet<String> = withdrawn
        .iter()
        .map(|a| a.candidate_number.clone())
        .collect();
    let listed_candidates = |report: &serde_json::Value| -> BTreeSet<String> {
        report["to_deliver"]
            .as_array()
            .unwrap()
            .iter()
            .map(|label| {
                let label = label.as_str().unwrap();
                label
                    .split("kandidatnr ")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };

    let dry = replay(&local, &from, &to, true, false).await;
    assert_eq!(
        listed_candidates(&dry),
        missed,
        "the dry run lists exactly the missed changes: {dry}"
    );
    let in_window = dry["in_window"].as_u64().unwrap();
    assert_eq!(
        dry["already_delivered"].as_u64().unwrap(),
        in_window - 6,
        "{dry}"
    );
    assert!(
        in_window > 100,
        "the window holds the delivered list too: {dry}"
    );
    assert_eq!(depth().await, 0, "a dry run queues nothing");
    assert_eq!(dry["execution_id"], serde_json::Value::Null);

    let done = replay(&local, &from, &to, false, false).await;
    assert_eq!(listed_candidates(&done), missed, "{done}");
    local.drain(Duration::from_secs(300), |_| {}).await.unwrap();
    for candidate in &missed {
        assert!(
            inspera.appeals().iter().any(|a| &a.candidate_id == candidate && a.status == InsperaAppealStatus::Withdrawn),
            "candidate {candidate}'s withdrawal reached Inspera"
        );
    }
    assert_eq!(inspera.repeated_withdrawals(), 0, "nothing withdrawn twice");
    assert_eq!(
        inspera.repeated_appeal_registrations(),
        0,
        "nothing registered twice"
    );
    let executions = flyt::execution::ExecutionStore::new(
        local.aws.dynamodb.clone(),
        local.table("ExecutionsTable"),
    );
    let execution = executions
        .get(done["execution_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (execution.trigger.as_str(), execution.count("queued")),
        ("replay", 6)
    );

    let again = replay(&local, &from, &to, true, false).await;
    assert!(
        listed_candidates(&again).is_empty(),
        "nothing left to deliver: {again}"
    );
    assert_eq!(again["already_delivered"], again["in_window"]);
    let forced = replay(&local, &from, &to, true, true).await;
    assert_eq!(
        forced["to_deliver"].as_array().unwrap().len() as u64,
        forced["in_window"].as_u64().unwrap()
    );
}

/// Invokes fs-poll with a replay of uio's appeal list over `from`..`to`.
async fn replay(
    local: &flyt_local::Local,
    from: &str,
    to: &str,
    dry_run: bool,
    force: bool,
) -> serde_json::Value {
    let event = json!({"replay": {"org_id": "uio", "kind": "klage", "from": from, "to": to,
        "dry_run": dry_run, "force": force}});
    local.invoke("FsPollFunction", event).await.unwrap()
}

/// FS stamps a change when it is made and lists it once committed, so a change can appear after
/// a later one was read. Each poll reads `FS_LOOKBACK_LAG_SECONDS` behind the latest change it
/// read: the late change is queued once, and the changes read again in that window are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_listed_after_a_later_one_was_read_is_queued_once() {
    let local = appeals_platform(LocalOptions::default()).await;
    poll_and_dispatch(&local).await;
    let open: Vec<FsAppeal> = local
        .sandbox
        .fs
        .appeals("185")
        .into_iter()
        .filter(|a| a.status == AppealStatus::Active)
        .filter(|a| {
            !local.sandbox.fs.appeals("185").iter().any(|b| {
                b.candidate_number == a.candidate_number && b.status == AppealStatus::Withdrawn
            })
        })
        .take(2)
        .collect();
    assert_eq!(open.len(), 2);
    let dispatch = local.stack.queue("DispatchQueue").url.clone();
    let depth = || async {
        flyt::redrive::queue_depth(&local.aws.sqs, &dispatch)
            .await
            .unwrap()
    };
    assert_eq!(depth().await, 0, "everything seeded was dispatched");

    let read_first = local.sandbox.fs.append_appeal(FsAppeal {
        status: AppealStatus::Withdrawn,
        changed_at: String::new(),
        ..open[0].clone()
    });
    local.fire_schedule("FsPollFunction").await.unwrap();
    assert_eq!(depth().await, 1, "the new withdrawal");

    let stamped =
        chrono::NaiveDateTime::parse_from_str(&read_first.changed_at, "%Y-%m-%dT%H:%M:%S").unwrap()
            - chrono::Duration::seconds(60);
    local.sandbox.fs.append_appeal(FsAppeal {
        status: AppealStatus::Withdrawn,
        changed_at: stamped.format("%Y-%m-%dT%H:%M:%S").to_string(),
        ..open[1].clone()
    });
    local.fire_schedule("FsPollFunction").await.unwrap();
    assert_eq!(
        depth().await,
        2,
        "the change stamped a minute before the latest read, and not the one read before"
    );
    local.fire_schedule("FsPollFunction").await.unwrap();
    assert_eq!(depth().await, 2, "a third poll queues nothing again");
}

/// Cutover without double effects. Institution 185 (Inspera) in shadow mode: its cases are read
/// and decided, nothing is written to Inspera or FS, and every intended effect is a line on its
/// executions. Switched to live, the first live poll reads afresh (the shadow cursor and claims
/// are its own) and every case reaches Inspera exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shadow_institution_writes_nothing_records_every_effect_and_goes_live_once() {
    let local = appeals_platform(LocalOptions::default()).await;
    common::set_mode(&local, &["uio"], "shadow").await;
    poll_and_dispatch(&local).await;

    let inspera = &local.sandbox.inspera;
    assert!(
        inspera.appeals().is_empty(),
        "no appeal registered in shadow"
    );
    assert!(
        inspera.explanations().is_empty(),
        "no explanation requested in shadow"
    );
    assert!(local.sandbox.fs.registered_explanations().is_empty());
    assert!(local.sandbox.fs.registered_decisions().is_empty());
    let (intended, lines) = common::shadow_intents(
        &local,
        &["fs-poll-uio-klage", "fs-poll-uio-begrunnelse"],
        "shadow: would ",
    )
    .await;
    assert_eq!(lines.len() as u64, intended, "one line per intended effect");
    // Every case has its intended effect, naming the candidate and the test; no change twice.
    let tests: std::collections::BTreeMap<String, u64> = inspera
        .tests()
        .into_iter()
        .map(|t| (t.external_test_id, t.test_id))
        .collect();
    let histories = common::appeals::appeal_histories(&local, "185");
    for (vurd_id, candidate) in histories.keys() {
        let on = format!(
            "appeal of kandidatnr {candidate} on Inspera test {}",
            tests[vurd_id]
        );
        assert!(lines.iter().any(|l| l.contains(&on)), "no intent for {on}");
    }
    let explanations = common::appeals::explanation_cases(&local, "185");
    for (vurd_id, candidate) in &explanations {
        let on = format!(
            "explanation for kandidatnr {candidate} on Inspera test {}",
            tests[vurd_id]
        );
        assert!(lines.iter().any(|l| l.contains(&on)), "no intent for {on}");
    }
    let changes =
        local.sandbox.fs.appeals("185").len() + local.sandbox.fs.explanation_requests("185").len();
    assert!(
        lines.len() <= changes,
        "{} intents for {changes} changes",
        lines.len()
    );

    common::set_mode(&local, &["uio"], "live").await;
    poll_and_dispatch(&local).await;
    common::appeals::assert_inspera_cases_once(&local, "185", Repeats::None);
}
