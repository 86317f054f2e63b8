//! What the platform tests share: starting a platform on the shared emulator, and proving by
//! count that every Bokbasen change reached Alma exactly once, in order.

#![allow(dead_code)]

pub mod appeals;
pub mod archive;
pub mod digeks;
pub mod fault_proxy;
pub mod privacy;
pub mod secrets;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use flyt_local::{Emulator, Local, LocalOptions};
use flyt_sandbox::{Report, SandboxOptions};

/// A platform with `objects` and `descriptions` seeded changes.
pub async fn platform(objects: usize, descriptions: usize) -> Local {
    platform_with(objects, descriptions, LocalOptions::default()).await
}

/// A platform with explicit options.
pub async fn platform_with(
    objects: usize,
    descriptions: usize,
    mut options: LocalOptions,
) -> Local {
    options.sandbox = SandboxOptions {
        objects,
        descriptions,
        seed: fastrand::u64(..),
        ..SandboxOptions::default()
    };
    Local::start(Emulator::shared(), options)
        .await
        .expect("the local platform starts")
}

/// Fires the schedules and drains every queue.
pub async fn run_once(local: &Local) {
    local
        .fire_schedule("BokbasenFetchFunction")
        .await
        .expect("schedules run");
    let stats = local
        .drain(Duration::from_secs(600), |_| {})
        .await
        .expect("queues drain");
    eprintln!(
        "drain: {stats:?}; handler requests {:?}; poller requests {:?}",
        local.handler_requests.snapshot(),
        local.poller_requests.snapshot()
    );
}

/// The newest change's reference per (kind, isbn, type), from the sandbox's change logs.
pub fn expected_newest(local: &Local) -> BTreeMap<(String, String, String), String> {
    let mut newest = BTreeMap::new();
    for report in [Report::Objects, Report::Descriptions] {
        let kind = match report {
            Report::Objects => "objects",
            Report::Descriptions => "descriptions",
        };
        for item in local.sandbox.bokbasen.items(report) {
            newest.insert(
                (kind.to_owned(), item.isbn13.clone(), item.type_code.clone()),
                item.reference.clone(),
            );
        }
    }
    newest
}

/// Sets the same faults on both sandbox systems.
pub fn set_faults(local: &Local, faults: flyt_sandbox::Faults) {
    local.sandbox.bokbasen.set_faults(faults.clone());
    local.sandbox.alma.set_faults(faults);
}

/// Messages in the dead-letter queues, by queue.
pub async fn dead_letters(local: &Local) -> BTreeMap<String, u64> {
    local
        .dead_letter_depths()
        .await
        .expect("dead-letter depths")
}

/// Asserts, by count, that Alma holds exactly the newest change of every item except `excluded`
/// keys, that each version took effect once, in order, and that no older version ever overwrote a
/// newer one.
pub fn assert_exactly_once(local: &Local, excluded: &BTreeSet<(String, String, String)>) {
    let expected: BTreeMap<_, _> = expected_newest(local)
        .into_iter()
        .filter(|(k, _)| !excluded.contains(k))
        .collect();
    let records = local.sandbox.alma.records();
    let applied: BTreeMap<_, _> = records
        .iter()
        .map(|r| ((r.kind.clone(), r.isbn.clone(), r.type_code.clone()), r))
        .filter(|(k, _)| !excluded.contains(k))
        .collect();
    assert_eq!(
        applied.len(),
        expected.len(),
        "every item key reached Alma, and no other"
    );
    let mut wrong = Vec::new();
    for (key, reference) in &expected {
        let record = applied
            .get(key)
            .unwrap_or_else(|| panic!("{key:?} never reached Alma"));
        if record.content["reference"].as_str() != Some(reference.as_str()) {
            wrong.push(key.clone());
        }
        // A repeated write of the same version (a retry after a lost answer) changes nothing in
        // Alma; every distinct version must arrive once, in increasing order.
        let mut versions = record.writes.clone();
        versions.dedup();
        assert!(
            versions.windows(2).all(|w| w[0] < w[1]),
            "{key:?} was applied out of order or twice: {:?}",
            record.writes
        );
        assert_eq!(
            record.effects as usize,
            versions.len(),
            "{key:?}: one effect per version: {:?}",
            record.writes
        );
    }
    assert!(
        wrong.is_empty(),
        "{} items do not hold their newest change, e.g. {:?}",
        wrong.len(),
        wrong.first()
    );
    assert!(
        local.sandbox.alma.older_over_newer().is_empty(),
        "older over newer: {:?}",
        local.sandbox.alma.older_over_newer()
    );
}

/// The shadow run's record of the executions of `interfaces`: how many intents they counted
/// (`shadow_intended`) and their lines that start with `prefix` ("shadow: would ...").
pub async fn shadow_intents(
    local: &Local,
    interfaces: &[&str],
    prefix: &str,
) -> (u64, Vec<String>) {
    let executions = flyt::execution::ExecutionStore::new(
        local.aws.dynamodb.clone(),
        local.table("ExecutionsTable"),
    );
    let mut intended = 0;
    let mut lines = Vec::new();
    for interface in interfaces {
        for execution in executions.list(interface, 20).await.unwrap() {
            intended += execution.count("shadow_intended");
            lines.extend(
                executions
                    .lines(&execution.id)
                    .await
                    .unwrap()
                    .into_iter()
                    .filter(|line| line.message.starts_with(prefix))
                    .map(|line| line.message),
            );
        }
    }
    (intended, lines)
}

/// Switches institutions' `mode` (`shadow` or `live`) in the configuration table.
pub async fn set_mode(local: &Local, org_ids: &[&str], mode: &str) {
    let institutions = flyt::institution::InstitutionStore::new(
        local.aws.dynamodb.clone(),
        local.table("ConfigTable"),
    );
    for org_id in org_ids {
        let mut entry = institutions.entry(org_id).await.unwrap().expect(org_id);
        entry.mode = Some(mode.to_owned());
        institutions.put(&entry).await.unwrap();
    }
}
