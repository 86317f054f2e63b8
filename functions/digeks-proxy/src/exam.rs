//! What the proxy needs to know of an exam before acting on it: whose it is (the institution) and
//! its grade scale. Read from FS's exam info, kept briefly in memory — only these two facts, never
//! the candidate list the answer also carries.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flyt::institution::ExamSystem;
use serde::Deserialize;

/// An exam's owner and grade scale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExamFacts {
    /// The owning institution's FS number.
    pub institusjonsnr: String,
    /// The grades its scale allows.
    pub grades: Vec<String>,
}

#[derive(Deserialize)]
struct ExamInfo {
    institusjonsnr: Option<String>,
    karakterskala: Option<Scale>,
}

#[derive(Deserialize)]
struct Scale {
    #[serde(default)]
    karakterer: Vec<String>,
}

impl ExamFacts {
    /// The facts in FS's exam info, or `None` if the answer lacks the institution.
    pub fn from_exam_info(body: &[u8]) -> Option<ExamFacts> {
        let info: ExamInfo = serde_json::from_slice(body).ok()?;
        Some(ExamFacts {
            institusjonsnr: info.institusjonsnr.filter(|i| !i.is_empty())?,
            grades: info.karakterskala.map(|s| s.karakterer).unwrap_or_default(),
        })
    }
}

/// An exam's key in the cache: FS environment, exam system, vurdId.
type ExamKey = (String, ExamSystem, String);

/// Exam facts by FS environment, exam system and id, each kept for a TTL: the same vurdId in
/// FS's test and prod environments are two exams.
#[derive(Debug)]
pub struct ExamCache {
    ttl: Duration,
    entries: Mutex<HashMap<ExamKey, (Instant, ExamFacts)>>,
}

/// Entries kept at most; beyond, the cache starts afresh (a Lambda instance lives minutes).
const MAX_ENTRIES: usize = 10_000;

impl ExamCache {
    /// An empty cache.
    pub fn new(ttl: Duration) -> Self {
        ExamCache {
            ttl,
            entries: Mutex::default(),
        }
    }

    /// The cached facts of the exam in FS environment `environment`, if fresh.
    pub fn get(&self, environment: &str, system: ExamSystem, vurd_id: &str) -> Option<ExamFacts> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&(environment.to_owned(), system, vurd_id.to_owned()))
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, facts)| facts.clone())
    }

    /// Remembers the facts of an exam found in FS environment `environment`.
    pub fn put(&self, environment: &str, system: ExamSystem, vurd_id: &str, facts: ExamFacts) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            (environment.to_owned(), system, vurd_id.to_owned()),
            (Instant::now(), facts),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_come_from_the_exam_info_and_ignore_the_rest() {
        let body = br#"{"vurdId":"x","institusjonsnr":"185","karakterskala":{"kode":"A-F","karakterer":["A","B"]},
            "kandidater":[{"kandidatnr":"1","fornavn":"x"}]}"#;
        assert_eq!(
            ExamFacts::from_exam_info(body),
            Some(ExamFacts {
                institusjonsnr: "185".into(),
                grades: vec!["A".into(), "B".into()]
            })
        );
        assert_eq!(ExamFacts::from_exam_info(br#"{"vurdId":"x"}"#), None);
        assert_eq!(ExamFacts::from_exam_info(b"not json"), None);
    }

    #[test]
    fn cached_facts_expire() {
        let cache = ExamCache::new(Duration::from_millis(30));
        let facts = ExamFacts {
            institusjonsnr: "194".into(),
            grades: vec![],
        };
        cache.put("prod", ExamSystem::Wiseflow, "abcd", facts.clone());
        assert_eq!(cache.get("prod", ExamSystem::Wiseflow, "abcd"), Some(facts));
        assert_eq!(cache.get("prod", ExamSystem::Inspera, "abcd"), None);
        assert_eq!(
            cache.get("test", ExamSystem::Wiseflow, "abcd"),
            None,
            "another FS environment's exam of the same id is another exam"
        );
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get("prod", ExamSystem::Wiseflow, "abcd"), None);
    }
}
