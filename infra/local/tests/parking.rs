//! Bad data is parked, not retried: a malformed description document and a description about
//! another book land in the dead-letter queue with category Mapping and a reason naming the item;
//! the rest of the batch is delivered; once the fault is cleared, a redrive delivers them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use common::{assert_exactly_once, platform, run_once};
use flyt::batch::{ATTR_ERROR_CATEGORY, ATTR_ERROR_REASON};
use flyt::execution::{ExecutionStore, Status};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_and_mismatched_descriptions_are_parked_then_redriven() {
    let local = platform(100, 400).await;
    let items = local
        .sandbox
        .bokbasen
        .items(flyt_sandbox::Report::Descriptions);
    let mut changes_per_key: BTreeMap<(String, String), usize> = BTreeMap::new();
    for item in &items {
        *changes_per_key
            .entry((item.isbn13.clone(), item.type_code.clone()))
            .or_insert(0) += 1;
    }
    let single: Vec<_> = items
        .iter()
        .filter(|i| changes_per_key[&(i.isbn13.clone(), i.type_code.clone())] == 1)
        .collect();
    let (malformed, mismatched) = ([single[10], single[60]], [single[120], single[200]]);
    let reference_id = |r: &str| r.rsplit('/').next().unwrap().to_owned();
    local.sandbox.bokbasen.set_malformed_descriptions(
        malformed
            .iter()
            .map(|i| reference_id(&i.reference))
            .collect(),
    );
    local.sandbox.bokbasen.set_mismatched_descriptions(
        mismatched
            .iter()
            .map(|i| reference_id(&i.reference))
            .collect(),
    );
    let bad: BTreeSet<_> = malformed
        .iter()
        .chain(mismatched.iter())
        .map(|i| {
            (
                "descriptions".to_owned(),
                i.isbn13.clone(),
                i.type_code.clone(),
            )
        })
        .collect();

    run_once(&local).await;

    // Everything else arrived exactly once.
    assert_exactly_once(&local, &bad);
    for (_, isbn, type_code) in &bad {
        assert!(
            local
                .sandbox
                .alma
                .record(isbn, "descriptions", type_code)
                .is_none(),
            "{isbn} was not applied"
        );
    }
    // The four are parked with category Mapping and a reason that names the item.
    let dlq = local.stack.queue("AlmaDlq").url.clone();
    let parked = local
        .aws
        .sqs
        .receive_message()
        .queue_url(&dlq)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(parked.len(), 4, "four messages parked");
    let mut reasons = Vec::new();
    for message in &parked {
        let attributes = message.message_attributes().unwrap();
        assert_eq!(
            attributes[ATTR_ERROR_CATEGORY].string_value(),
            Some("Mapping")
        );
        reasons.push(
            attributes[ATTR_ERROR_REASON]
                .string_value()
                .unwrap()
                .to_owned(),
        );
    }
    for item in malformed {
        let reason = reasons
            .iter()
            .find(|r| r.contains(&item.isbn13))
            .expect("a reason names the malformed item");
        assert!(reason.contains("not well-formed XML"), "{reason}");
    }
    for item in mismatched {
        let reason = reasons
            .iter()
            .find(|r| r.contains(&item.isbn13))
            .expect("a reason names the mismatched item");
        assert!(reason.contains("but the export item names"), "{reason}");
    }
    // The drain's execution is KO, with one Mapping line per parked item.
    let executions =
        ExecutionStore::new(local.aws.dynamodb.clone(), local.table("ExecutionsTable"));
    let drain = executions
        .list("bokbasen-descriptions", 5)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(drain.status(), Status::Ko);
    assert_eq!(drain.count("parked"), 4);
    let lines = executions.lines(&drain.id).await.unwrap();
    let mapping_lines = lines
        .iter()
        .filter(|l| l.category == Some(flyt::Category::Mapping))
        .count();
    assert_eq!(mapping_lines, 4, "{lines:#?}");

    // Fix the data at the source, redrive: all four arrive, nothing is left anywhere.
    local
        .sandbox
        .bokbasen
        .set_malformed_descriptions(Vec::new());
    local
        .sandbox
        .bokbasen
        .set_mismatched_descriptions(Vec::new());
    assert_eq!(local.redrive("AlmaDlq").await.unwrap(), 4);
    local.drain(Duration::from_secs(300), |_| {}).await.unwrap();
    assert_exactly_once(&local, &BTreeSet::new());
    assert_eq!(
        flyt::redrive::queue_depth(&local.aws.sqs, &dlq)
            .await
            .unwrap(),
        0
    );
}
