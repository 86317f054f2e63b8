//! Institution configuration: which universities Flyt works for, with which exam system, and which
//! flows are switched on. Read from DynamoDB by every step of the appeals and explanations flow;
//! each entry is checked on its own, so one institution's mistake never stops the others.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clients::wiseflow::CandidateField;
use crate::dynamo::{Item, ItemExt};
use crate::error::{aws_error, Error, Result};

/// The exam systems Flyt talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ExamSystem {
    /// Inspera Assessment (pushes webhooks).
    Inspera,
    /// WISEflow (polled).
    Wiseflow,
}

impl ExamSystem {
    /// The name FS uses in its paths (`/eksamen/klager/{examSystem}`).
    pub fn as_str(self) -> &'static str {
        match self {
            ExamSystem::Inspera => "INSPERA",
            ExamSystem::Wiseflow => "WISEFLOW",
        }
    }

    /// The exam system named `value` (any case, surrounding blanks ignored).
    pub fn parse(value: &str) -> Option<ExamSystem> {
        match value.trim().to_ascii_uppercase().as_str() {
            "INSPERA" => Some(ExamSystem::Inspera),
            "WISEFLOW" => Some(ExamSystem::Wiseflow),
            _ => None,
        }
    }
}

impl fmt::Display for ExamSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A checked institution entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Institution {
    /// Flyt's id of the institution (the table key).
    pub org_id: String,
    /// Short name, e.g. `uio`.
    pub org_short_name: String,
    /// FS's institution number, e.g. `185`.
    pub institusjonsnr: String,
    /// Its exam system.
    pub exam_system: ExamSystem,
    /// The exam system's instance: the Inspera tenant or the WISEflow licence.
    pub exam_system_instance: String,
    /// The FS environment: `prod` or `test`.
    pub fs_environment: String,
    /// Whether appeals (klager) are forwarded.
    pub klage: bool,
    /// Whether explanation requests (begrunnelser) are forwarded.
    pub begrunnelse: bool,
    /// WISEflow only: make the justification visible to the candidate once registered.
    pub show_justification: bool,
    /// WISEflow only: which participant field carries FS's kandidatnr (default `uniqueExamId`).
    pub wiseflow_candidate_field: CandidateField,
    /// What the DigEks proxy does with grades for an exam whose info in FS has no grade scale.
    pub digeks_grades_without_scale: GradesWithoutScale,
    /// Live, or shadow while another platform still does the institution's work.
    pub mode: Mode,
}

/// Whether Flyt acts for an institution, or only reads and decides beside the platform it
/// replaces (cutover without double effects).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every flow acts. The default.
    #[default]
    Live,
    /// The flows read FS and the exam systems and decide as usual, but write nothing to FS or an
    /// exam system: each intended effect is a line on the execution ("shadow: would ..."), with
    /// what the target already holds where a read can tell. Shadow claims, cursors and versions
    /// are kept apart from live ones, so switching to live starts afresh.
    Shadow,
}

impl std::str::FromStr for Mode {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "live" => Ok(Mode::Live),
            "shadow" => Ok(Mode::Shadow),
            _ => Err(Error::configuration(format!(
                "mode {text:?} is not live or shadow"
            ))),
        }
    }
}

/// What the DigEks proxy does with grades for an exam whose info in FS gives no grade scale
/// (`karakterskala.karakterer`, an assumed name): the institution decides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GradesWithoutScale {
    /// Refuse the call (422) naming why: nothing unchecked reaches FS. The default.
    #[default]
    Refuse,
    /// Forward the grades unchecked and mark the call's audit line `grade_scale=unchecked`.
    Forward,
}

impl std::str::FromStr for GradesWithoutScale {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "refuse" => Ok(GradesWithoutScale::Refuse),
            "forward" => Ok(GradesWithoutScale::Forward),
            _ => Err(Error::configuration(format!(
                "digeks_grades_without_scale {text:?} is not refuse or forward"
            ))),
        }
    }
}

/// An institution entry as stored; every field optional so that a missing one can be named.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionEntry {
    /// See [`Institution::org_id`].
    pub org_id: String,
    /// See [`Institution::org_short_name`].
    pub org_short_name: Option<String>,
    /// See [`Institution::institusjonsnr`].
    pub institusjonsnr: Option<String>,
    /// `INSPERA` or `WISEFLOW`.
    pub exam_system: Option<String>,
    /// See [`Institution::exam_system_instance`].
    pub exam_system_instance: Option<String>,
    /// See [`Institution::fs_environment`].
    pub fs_environment: Option<String>,
    /// Switched on; inactive entries are skipped without being checked.
    pub active: bool,
    /// See [`Institution::klage`].
    pub klage: bool,
    /// See [`Institution::begrunnelse`].
    pub begrunnelse: bool,
    /// See [`Institution::show_justification`].
    pub show_justification: bool,
    /// See [`Institution::wiseflow_candidate_field`]: `uniqueExamId` (the default when absent),
    /// `number` or `externalIds:<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wiseflow_candidate_field: Option<String>,
    /// See [`Institution::digeks_grades_without_scale`]: `refuse` (the default when absent) or
    /// `forward`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digeks_grades_without_scale: Option<String>,
    /// See [`Institution::mode`]: `live` (the default when absent) or `shadow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The Feide realm of the institution's people (`uio.no`: the part after `@` in their
    /// eduPersonPrincipalName). Set, it connects the institution to the log overview: its people
    /// sign in and see its executions. Optional; entries without it are read as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feide_realm: Option<String>,
    /// Whom the institution's people ask to be let in to the log overview (`the exam office,
    /// eksamen@uio.no`): shown to a person who signed in but is not on the institution's list
    /// ([`crate::viewers`]). Optional; without it the page says "your institution's Flyt
    /// administrators".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_overview_contact: Option<String>,
}

/// A Feide realm as compared: trimmed, lower-case. None when blank.
pub fn normalize_realm(realm: &str) -> Option<String> {
    let realm = realm.trim().to_ascii_lowercase();
    (!realm.is_empty()).then_some(realm)
}

/// The org id of the one entry whose `feide_realm` is `realm` (compared trimmed and without
/// regard to case), whether or not its flows are switched on. None when no entry has it; a realm
/// named by two entries is a Configuration error naming both, so nobody is let in by a guess.
pub fn org_for_realm<'a>(
    entries: impl IntoIterator<Item = &'a InstitutionEntry>,
    realm: &str,
) -> Result<Option<String>> {
    let Some(realm) = normalize_realm(realm) else {
        return Ok(None);
    };
    let matching: Vec<&str> = entries
        .into_iter()
        .filter(|e| {
            e.feide_realm
                .as_deref()
                .and_then(normalize_realm)
                .as_deref()
                == Some(&realm)
        })
        .map(|e| e.org_id.as_str())
        .collect();
    match matching.as_slice() {
        [] => Ok(None),
        [org] => Ok(Some((*org).to_owned())),
        several => Err(Error::configuration(format!(
            "Feide realm {realm} is the feide_realm of several institutions ({}): each realm \
             belongs to one institution",
            several.join(", ")
        ))),
    }
}

impl InstitutionEntry {
    /// Checks the entry. Every problem is a Configuration error naming the institution and the
    /// field, and saying what to put there.
    pub fn check(&self) -> Result<Institution> {
        let org = if self.org_id.trim().is_empty() {
            "(no org_id)"
        } else {
            self.org_id.trim()
        };
        let required = |field: &str, value: &Option<String>, expected: &str| -> Result<String> {
            match value.as_deref().map(str::trim) {
                Some(v) if !v.is_empty() => Ok(v.to_owned()),
                _ => Err(Error::configuration(format!(
                    "institution {org}: {field} is missing: set it to {expected}"
                ))),
            }
        };
        let institusjonsnr = required(
            "institusjonsnr",
            &self.institusjonsnr,
            "FS's institution number, e.g. 185",
        )?;
        if !institusjonsnr.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::configuration(format!(
                "institution {org}: institusjonsnr {institusjonsnr:?} is not a number"
            )));
        }
        let exam_system_name = required("exam_system", &self.exam_system, "INSPERA or WISEFLOW")?;
        let exam_system = ExamSystem::parse(&exam_system_name).ok_or_else(|| {
            Error::configuration(format!(
                "institution {org}: exam_system {exam_system_name:?} is not INSPERA or WISEFLOW"
            ))
        })?;
        let fs_environment = required("fs_environment", &self.fs_environment, "prod or test")?;
        if !matches!(fs_environment.as_str(), "prod" | "test") {
            return Err(Error::configuration(format!(
                "institution {org}: fs_environment {fs_environment:?} is not prod or test"
            )));
        }
        if !self.klage && !self.begrunnelse {
            return Err(Error::configuration(format!(
                "institution {org}: active but neither klage nor begrunnelse is switched on: switch one on, or set active to false"
            )));
        }
        Ok(Institution {
            org_id: org.to_owned(),
            org_short_name: required(
                "org_short_name",
                &self.org_short_name,
                "the short name, e.g. uio",
            )?,
            institusjonsnr,
            exam_system,
            exam_system_instance: required(
                "exam_system_instance",
                &self.exam_system_instance,
                "the Inspera tenant or WISEflow licence the institution uses",
            )?,
            fs_environment,
            klage: self.klage,
            begrunnelse: self.begrunnelse,
            show_justification: self.show_justification,
            wiseflow_candidate_field: match self.wiseflow_candidate_field.as_deref() {
                None => CandidateField::default(),
                Some(field) => field
                    .parse()
                    .map_err(|e: Error| e.context(format_args!("institution {org}")))?,
            },
            digeks_grades_without_scale: match self.digeks_grades_without_scale.as_deref() {
                None => GradesWithoutScale::default(),
                Some(policy) => policy
                    .parse()
                    .map_err(|e: Error| e.context(format_args!("institution {org}")))?,
            },
            mode: match self.mode.as_deref() {
                None => Mode::default(),
                Some(mode) => mode
                    .parse()
                    .map_err(|e: Error| e.context(format_args!("institution {org}")))?,
            },
        })
    }
}

/// Reads institution entries from the configuration table (partition key `pk` = `institution#<org_id>`).
#[derive(Clone, Debug)]
pub struct InstitutionStore {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

const PREFIX: &str = "institution#";

impl InstitutionStore {
    /// A store over `table`.
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        InstitutionStore {
            dynamodb,
            table: table.into(),
        }
    }

    /// Writes an entry (used to seed and by operators' tooling).
    pub async fn put(&self, entry: &InstitutionEntry) -> Result<()> {
        let mut item = Item::new();
        item.insert(
            "pk".into(),
            crate::dynamo::s(format!("{PREFIX}{}", entry.org_id)),
        );
        item.insert(
            "entry".into(),
            crate::dynamo::s(serde_json::to_string(entry).expect("an entry serialises")),
        );
        self.dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| {
                aws_error("DynamoDB", "PutItem", e)
                    .context(format_args!("writing institution {}", entry.org_id))
            })?;
        Ok(())
    }

    /// Every active institution by org id, each checked on its own: an entry with a mistake comes
    /// back as its Configuration error, the others as institutions. Entries that would read the
    /// same FS lists are errors too (see [`flag_shared_fs_lists`]).
    pub async fn active(&self) -> Result<Vec<(String, Result<Institution>)>> {
        let items =
            crate::dynamo::scan_prefix(&self.dynamodb, &self.table, PREFIX, "institutions").await?;
        let mut institutions = Vec::new();
        for item in items {
            let key = item.string("pk").unwrap_or_default();
            let org_id = key.trim_start_matches(PREFIX).to_owned();
            match entry_of(&key, &item) {
                Ok(entry) if entry.active => institutions.push((org_id, entry.check())),
                Ok(_) => {}
                Err(error) => institutions.push((org_id, Err(error))),
            }
        }
        institutions.sort_by(|a, b| a.0.cmp(&b.0));
        flag_shared_fs_lists(&mut institutions);
        Ok(institutions)
    }

    /// Every entry as stored, switched on or not; entries that are not valid JSON are left out
    /// (with a warning naming their key), since nothing in them can be trusted.
    pub async fn entries(&self) -> Result<Vec<InstitutionEntry>> {
        let items =
            crate::dynamo::scan_prefix(&self.dynamodb, &self.table, PREFIX, "institutions").await?;
        let mut entries = Vec::new();
        for item in items {
            let key = item.string("pk").unwrap_or_default();
            match entry_of(&key, &item) {
                Ok(mut entry) => {
                    entry.org_id = key.trim_start_matches(PREFIX).to_owned();
                    entries.push(entry);
                }
                Err(error) => tracing::warn!(%error, "institution entry skipped"),
            }
        }
        entries.sort_by(|a, b| a.org_id.cmp(&b.org_id));
        Ok(entries)
    }

    /// One entry as stored, switched on or not, unchecked; None when there is none.
    pub async fn entry(&self, org_id: &str) -> Result<Option<InstitutionEntry>> {
        let key = format!("{PREFIX}{org_id}");
        let output = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", crate::dynamo::s(&key))
            .send()
            .await
            .map_err(|e| {
                aws_error("DynamoDB", "GetItem", e)
                    .context(format_args!("reading institution {org_id}"))
            })?;
        match output.item {
            None => Ok(None),
            Some(item) => {
                let mut entry = entry_of(&key, &item)?;
                entry.org_id = org_id.to_owned();
                Ok(Some(entry))
            }
        }
    }

    /// The institution whose `feide_realm` is `realm` (see [`org_for_realm`]).
    pub async fn by_feide_realm(&self, realm: &str) -> Result<Option<String>> {
        org_for_realm(&self.entries().await?, realm)
    }

    /// One institution, checked. Missing or switched off is a Configuration error naming it.
    pub async fn get(&self, org_id: &str) -> Result<Institution> {
        let entry = self.entry(org_id).await?.ok_or_else(|| {
            Error::configuration(format!(
                "institution {org_id}: no configuration entry ({PREFIX}{org_id} in the configuration table): add one"
            ))
        })?;
        if !entry.active {
            return Err(Error::configuration(format!(
                "institution {org_id}: switched off (active is false); switch it on to process its cases"
            )));
        }
        entry.check()
    }
}

/// Institutions read through a short-lived cache: a batch of cases of one institution reads its
/// entry once, and a change to the table takes effect within `ttl`.
#[derive(Debug)]
pub struct InstitutionCache {
    store: InstitutionStore,
    ttl: std::time::Duration,
    entries: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, Institution)>>,
    active: std::sync::Mutex<Option<(std::time::Instant, Vec<Institution>)>>,
}

impl InstitutionCache {
    /// A cache over `store`.
    pub fn new(store: InstitutionStore, ttl: std::time::Duration) -> Self {
        InstitutionCache {
            store,
            ttl,
            entries: Default::default(),
            active: Default::default(),
        }
    }

    /// One institution, checked (see [`InstitutionStore::get`]).
    pub async fn get(&self, org_id: &str) -> Result<Institution> {
        if let Some((at, institution)) = self.lock().get(org_id) {
            if at.elapsed() < self.ttl {
                return Ok(institution.clone());
            }
        }
        let institution = self.store.get(org_id).await?;
        self.lock().insert(
            org_id.to_owned(),
            (std::time::Instant::now(), institution.clone()),
        );
        Ok(institution)
    }

    /// The active institution that uses exam-system instance `instance` (webhooks name the
    /// instance). None, or more than one, is a Configuration error.
    pub async fn by_instance(
        &self,
        exam_system: ExamSystem,
        instance: &str,
    ) -> Result<Institution> {
        let mut matching: Vec<Institution> = self
            .active()
            .await?
            .into_iter()
            .filter(|i| i.exam_system == exam_system && i.exam_system_instance == instance)
            .collect();
        match matching.len() {
            1 => Ok(matching.remove(0)),
            0 => Err(Error::configuration(format!(
                "no active institution uses {exam_system} instance {instance:?}: set exam_system_instance on its configuration entry"
            ))),
            _ => Err(Error::configuration(format!(
                "{} institutions use {exam_system} instance {instance:?}: each instance belongs to one institution",
                matching.len()
            ))),
        }
    }

    /// Every active entry with FS institution number `institusjonsnr` and exam system `system`
    /// (an institution may have several entries; their caller decides what a disagreement means).
    pub async fn serving(
        &self,
        institusjonsnr: &str,
        system: ExamSystem,
    ) -> Result<Vec<Institution>> {
        Ok(self
            .active()
            .await?
            .into_iter()
            .filter(|i| i.institusjonsnr == institusjonsnr && i.exam_system == system)
            .collect())
    }

    /// The active, well-formed institutions: one scan per `ttl`, not one per webhook event.
    async fn active(&self) -> Result<Vec<Institution>> {
        let cached = self
            .active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some((at, institutions)) = cached {
            if at.elapsed() < self.ttl {
                return Ok(institutions);
            }
        }
        let institutions: Vec<Institution> = self
            .store
            .active()
            .await?
            .into_iter()
            .filter_map(|(_, institution)| institution.ok())
            .collect();
        *self.active.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((std::time::Instant::now(), institutions.clone()));
        Ok(institutions)
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<String, (std::time::Instant, Institution)>,
    > {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Turns active institutions that share an FS list — the same `institusjonsnr`, exam system and FS
/// environment — into Configuration errors naming each other: FS would list every case to each of
/// them, and each would reach the exam system twice. (One institution on two exam systems has two
/// entries with the same `institusjonsnr`, which is fine.)
pub fn flag_shared_fs_lists(institutions: &mut [(String, Result<Institution>)]) {
    let fs_list = |i: &Institution| {
        (
            i.institusjonsnr.clone(),
            i.exam_system.as_str(),
            i.fs_environment.clone(),
        )
    };
    let mut by_list: std::collections::BTreeMap<_, Vec<String>> = std::collections::BTreeMap::new();
    for (org_id, institution) in institutions.iter() {
        if let Ok(i) = institution {
            by_list.entry(fs_list(i)).or_default().push(org_id.clone());
        }
    }
    for (org_id, institution) in institutions.iter_mut() {
        let Ok(i) = institution else {
            continue;
        };
        let list = fs_list(i);
        let sharing = &by_list[&list];
        if sharing.len() < 2 {
            continue;
        }
        let others: Vec<&str> = sharing
            .iter()
            .filter(|other| *other != org_id)
            .map(String::as_str)
            .collect();
        *institution = Err(Error::configuration(format!(
            "institution {org_id}: institusjonsnr {} with {} in FS {} is also the entry of {}; FS would list each case to both: correct institusjonsnr or switch one entry off",
            list.0,
            list.1,
            list.2,
            others.join(", ")
        )));
    }
}

fn entry_of(key: &str, item: &Item) -> Result<InstitutionEntry> {
    serde_json::from_str(&item.string("entry").unwrap_or_default())
        .map_err(|e| Error::configuration(format!("{key}: the entry is not valid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Category;

    fn entry() -> InstitutionEntry {
        InstitutionEntry {
            org_id: "uio".into(),
            org_short_name: Some("uio".into()),
            institusjonsnr: Some("185".into()),
            exam_system: Some("inspera".into()),
            exam_system_instance: Some("uio-test".into()),
            fs_environment: Some("test".into()),
            active: true,
            klage: true,
            begrunnelse: true,
            show_justification: false,
            wiseflow_candidate_field: None,
            digeks_grades_without_scale: None,
            mode: None,
            feide_realm: Some("uio.no".into()),
            log_overview_contact: None,
        }
    }

    #[test]
    fn entries_sharing_an_fs_list_are_configuration_errors_naming_each_other() {
        let entries = [
            entry(),
            InstitutionEntry {
                org_id: "uio-copy".into(),
                exam_system_instance: Some("uio-other".into()),
                ..entry()
            },
            InstitutionEntry {
                org_id: "uio-wiseflow".into(),
                exam_system: Some("wiseflow".into()),
                ..entry()
            },
            InstitutionEntry {
                org_id: "uio-prod".into(),
                fs_environment: Some("prod".into()),
                ..entry()
            },
            InstitutionEntry {
                org_id: "uib".into(),
                institusjonsnr: Some("194".into()),
                ..entry()
            },
        ];
        let mut institutions: Vec<(String, Result<Institution>)> = entries
            .iter()
            .map(|e| (e.org_id.clone(), e.check()))
            .collect();
        flag_shared_fs_lists(&mut institutions);
        let failed: Vec<(&str, String)> = institutions
            .iter()
            .filter_map(|(org, i)| i.as_ref().err().map(|e| (org.as_str(), e.to_string())))
            .collect();
        assert_eq!(failed.len(), 2, "{failed:?}");
        for (org, other) in [("uio", "uio-copy"), ("uio-copy", "uio")] {
            let (_, error) = failed.iter().find(|(o, _)| *o == org).unwrap();
            assert!(error.contains("Configuration"), "{error}");
            assert!(
                error.contains(&format!("institution {org}:"))
                    && error.contains("institusjonsnr 185")
                    && error.ends_with(&format!(
                        "also the entry of {other}; FS would list each case to both: correct institusjonsnr or switch one entry off"
                    )),
                "{error}"
            );
        }
    }

    #[test]
    fn a_realm_finds_its_one_institution_in_any_case_and_no_other() {
        let uib = InstitutionEntry {
            org_id: "uib".into(),
            feide_realm: Some(" UiB.no ".into()),
            active: false,
            ..entry()
        };
        let unconnected = InstitutionEntry {
            org_id: "hvl".into(),
            feide_realm: None,
            ..entry()
        };
        let entries = [entry(), uib, unconnected];
        assert_eq!(
            org_for_realm(&entries, "uio.no").unwrap().as_deref(),
            Some("uio")
        );
        assert_eq!(
            org_for_realm(&entries, "UIO.NO").unwrap().as_deref(),
            Some("uio")
        );
        // Switched off for the flows, still connected to the log overview.
        assert_eq!(
            org_for_realm(&entries, "uib.no").unwrap().as_deref(),
            Some("uib")
        );
        assert_eq!(org_for_realm(&entries, "hvl.no").unwrap(), None);
        assert_eq!(org_for_realm(&entries, "no").unwrap(), None);
        assert_eq!(
            org_for_realm(&entries, "uio.no.evil.example").unwrap(),
            None
        );
        assert_eq!(org_for_realm(&entries, "  ").unwrap(), None);
        let twice = [
            entry(),
            InstitutionEntry {
                org_id: "uio-test".into(),
                ..entry()
            },
        ];
        let error = org_for_realm(&twice, "uio.no").unwrap_err();
        assert_eq!(error.category(), Category::Configuration);
        assert!(error.message().contains("uio, uio-test"), "{error}");
    }

    #[test]
    fn entries_without_a_realm_read_as_before_and_write_without_one() {
        let stored = r#"{"org_id":"uib","org_short_name":"uib","institusjonsnr":"194",
            "exam_system":"WISEFLOW","exam_system_instance":"uib-wiseflow","fs_environment":"test",
            "active":true,"klage":true,"begrunnelse":false,"show_justification":true}"#;
        let entry: InstitutionEntry = serde_json::from_str(stored).unwrap();
        assert_eq!(entry.feide_realm, None);
        assert!(entry.check().is_ok());
        assert!(!serde_json::to_string(&entry)
            .unwrap()
            .contains("feide_realm"));
    }

    #[test]
    fn a_complete_entry_checks() {
        let institution = entry().check().unwrap();
        assert_eq!(institution.exam_system, ExamSystem::Inspera);
        assert_eq!(institution.institusjonsnr, "185");
    }

    #[test]
    fn a_missing_instance_names_the_institution_and_the_field() {
        let error = InstitutionEntry {
            exam_system_instance: None,
            ..entry()
        }
        .check()
        .unwrap_err();
        assert_eq!(error.category(), Category::Configuration);
        assert!(
            error
                .message()
                .starts_with("institution uio: exam_system_instance is missing"),
            "{error}"
        );
    }

    #[test]
    fn the_wiseflow_candidate_field_defaults_to_unique_exam_id_and_a_bad_one_is_named() {
        assert_eq!(
            entry().check().unwrap().wiseflow_candidate_field,
            CandidateField::UniqueExamId
        );
        let external = InstitutionEntry {
            wiseflow_candidate_field: Some("externalIds:kandidatnr".into()),
            ..entry()
        };
        assert_eq!(
            external.check().unwrap().wiseflow_candidate_field,
            CandidateField::ExternalId("kandidatnr".into())
        );
        let error = InstitutionEntry {
            wiseflow_candidate_field: Some("firstName".into()),
            ..entry()
        }
        .check()
        .unwrap_err();
        assert_eq!(error.category(), Category::Configuration);
        assert!(error.to_string().contains("institution uio"), "{error}");
        assert!(
            error
                .to_string()
                .contains("wiseflow_candidate_field \"firstName\""),
            "{error}"
        );
    }

    #[test]
    fn grades_without_a_scale_are_refused_unless_the_institution_forwards_them() {
        assert_eq!(
            entry().check().unwrap().digeks_grades_without_scale,
            GradesWithoutScale::Refuse
        );
        let forward = InstitutionEntry {
            digeks_grades_without_scale: Some("Forward".into()),
            ..entry()
        };
        assert_eq!(
            forward.check().unwrap().digeks_grades_without_scale,
            GradesWithoutScale::Forward
        );
        let error = InstitutionEntry {
            digeks_grades_without_scale: Some("maybe".into()),
            ..entry()
        }
        .check()
        .unwrap_err();
        assert!(
            error.to_string().contains("institution uio")
                && error.to_string().contains("not refuse or forward"),
            "{error}"
        );
    }

    #[test]
    fn an_institution_is_live_unless_its_entry_says_shadow() {
        assert_eq!(entry().check().unwrap().mode, Mode::Live);
        let shadow = InstitutionEntry {
            mode: Some("Shadow".into()),
            ..entry()
        };
        assert_eq!(shadow.check().unwrap().mode, Mode::Shadow);
        let error = InstitutionEntry {
            mode: Some("dry".into()),
            ..entry()
        }
        .check()
        .unwrap_err();
        assert!(error.to_string().contains("not live or shadow"), "{error}");
    }

    #[test]
    fn inconsistent_entries_are_refused() {
        let unknown_system = InstitutionEntry {
            exam_system: Some("moodle".into()),
            ..entry()
        };
        assert!(unknown_system
            .check()
            .unwrap_err()
            .message()
            .contains("\"moodle\" is not INSPERA or WISEFLOW"));
        let nothing_on = InstitutionEntry {
            klage: false,
            begrunnelse: false,
            ..entry()
        };
        assert!(nothing_on
            .check()
            .unwrap_err()
            .message()
            .contains("neither klage nor begrunnelse"));
        let bad_number = InstitutionEntry {
            institusjonsnr: Some("18x".into()),
            ..entry()
        };
        assert!(bad_number
            .check()
            .unwrap_err()
            .message()
            .contains("is not a number"));
    }
}
