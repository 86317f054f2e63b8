//! Pure planning of a batch: which messages are invalid, which are superseded by a newer version
//! of the same item in the same batch, and which carry the work.

use std::collections::HashMap;

use super::Applicable;
use crate::batch::Message;
use crate::ordering::ItemVersion;
use crate::Error;

/// What to do with each message of a batch.
#[derive(Debug)]
pub struct Plan<T> {
    /// Messages whose item fails validation: (message id, execution id, why). Park them.
    pub invalid: Vec<(String, String, Error)>,
    /// Messages made redundant by another message in the batch (an older version, or the same
    /// version twice): (message id, execution id, label). Done once the newest is handled.
    pub redundant: Vec<(String, String, String)>,
    /// One entry per distinct item key: the message carrying its newest version.
    pub work: Vec<Work<T>>,
}

/// One item to apply.
#[derive(Debug, Clone)]
pub struct Work<T> {
    /// The SQS message id.
    pub message_id: String,
    /// The item.
    pub item: T,
    /// How often SQS has delivered the message.
    pub receive_count: u32,
    /// How often it was delayed for throttling.
    pub deferrals: u32,
}

impl<T: Applicable> Work<T> {
    /// The key and version claimed in the ordering store.
    pub fn item_version(&self) -> ItemVersion {
        ItemVersion {
            key: self.item.key(),
            version: self.item.version(),
            force: self.item.force(),
        }
    }
}

/// Validates the messages and keeps, per item key, only the newest version.
pub fn plan<T: Applicable>(messages: Vec<Message<T>>) -> Plan<T> {
    let mut result = Plan {
        invalid: Vec::new(),
        redundant: Vec::new(),
        work: Vec::new(),
    };
    let mut newest: HashMap<String, usize> = HashMap::new();
    for message in messages {
        if let Err(error) = message.body.validate() {
            let execution_id = message.body.execution_id().to_owned();
            result.invalid.push((message.id, execution_id, error));
            continue;
        }
        let work = Work {
            deferrals: message.deferrals(),
            message_id: message.id,
            receive_count: message.receive_count,
            item: message.body,
        };
        let key = work.item.key();
        match newest.get(&key).copied() {
            None => {
                newest.insert(key, result.work.len());
                result.work.push(work);
            }
            Some(index) if result.work[index].item.version() < work.item.version() => {
                let older = std::mem::replace(&mut result.work[index], work);
                let label = older.item.label();
                let execution_id = older.item.execution_id().to_owned();
                result
                    .redundant
                    .push((older.message_id, execution_id, label));
            }
            Some(_) => {
                let label = work.item.label();
                let execution_id = work.item.execution_id().to_owned();
                result
                    .redundant
                    .push((work.message_id, execution_id, label));
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bokbasen::{ExportItem, ForwardItem, Report};
    use std::collections::BTreeMap;

    fn message(id: &str, isbn: &str, type_code: &str, version: u64) -> Message<ForwardItem> {
        Message {
            id: id.into(),
            body: ForwardItem {
                report: Report::Objects,
                item: ExportItem {
                    isbn13: isbn.into(),
                    ean: isbn.into(),
                    type_code: type_code.into(),
                    reference: "https://x/1".into(),
                    owner_code: String::new(),
                },
                version,
                page_cursor: "c".into(),
                execution_id: "e".into(),
            },
            raw_body: String::new(),
            attributes: BTreeMap::new(),
            receive_count: 1,
        }
    }

    #[test]
    fn keeps_the_newest_version_per_item() {
        let plan = plan(vec![
            message("a", "9788205000001", "ol", 5),
            message("b", "9788205000001", "ol", 9),
            message("c", "9788205000001", "os", 1),
            message("d", "9788205000001", "ol", 9),
        ]);
        let work: Vec<(&str, u64)> = plan
            .work
            .iter()
            .map(|w| (w.message_id.as_str(), w.item.version))
            .collect();
        assert_eq!(work, vec![("b", 9), ("c", 1)]);
        let redundant: Vec<&str> = plan.redundant.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(redundant, vec!["a", "d"]);
        assert!(plan.invalid.is_empty());
    }

    #[test]
    fn invalid_items_are_set_aside_with_their_reason() {
        let plan = plan(vec![
            message("a", "9788205000004", "ol", 1),
            message("b", "9788205000001", "ol", 1),
        ]);
        assert_eq!(plan.invalid.len(), 1);
        assert_eq!(plan.invalid[0].0, "a");
        assert!(plan.invalid[0].2.message().contains("check digit"));
        assert_eq!(plan.work.len(), 1);
    }
}
