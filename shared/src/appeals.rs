//! Appeals (klager) and explanation requests (begrunnelser): the pure domain of flow 1.
//!
//! FS's change lists carry personal data (personlopenr, names, user names, e-mail). Flyt reads only
//! the fields it needs ([`FsChange`]) and queues [`DispatchItem`]s that hold none of it: the
//! assessment id (`vurdId`), the candidate number and the exam's SIS code identify a case.
//! Answers travel back as [`ReturnItem`]s.

use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Deserializer, Serialize};

use crate::apply::Applicable;
use crate::error::{Error, Result};
use crate::institution::{ExamSystem, Institution, Mode};
use crate::thesis_store::{HoldChange, HoldKind};

/// Which FS list a change comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    /// An appeal of a grade (`/eksamen/klager/{examSystem}`).
    Klage,
    /// A request for the explanation of a grade (`/eksamen/begrunnelse/{examSystem}`).
    Begrunnelse,
}

impl RequestKind {
    /// Both kinds, in polling order.
    pub const ALL: [RequestKind; 2] = [RequestKind::Klage, RequestKind::Begrunnelse];

    /// `klage` or `begrunnelse`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Klage => "klage",
            RequestKind::Begrunnelse => "begrunnelse",
        }
    }
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `klagestatus`: whether an appeal stands or was withdrawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AppealStatus {
    /// `AKTIV`.
    #[serde(rename = "AKTIV")]
    Active,
    /// `TRUKKET`.
    #[serde(rename = "TRUKKET")]
    Withdrawn,
}

/// The fields Flyt reads from one element of an FS change list; everything else (the personal
/// data among it) is never deserialised. All optional, so a missing one can be named.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsChange {
    /// `vurdId`: opaque id of the assessment.
    pub vurd_id: Option<String>,
    /// `kandidatnr`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub kandidatnr: Option<String>,
    /// `klagestatus` (appeals only), kept as text so an unknown value can be named.
    pub klagestatus: Option<String>,
    /// `sisKode`: `<course name>||<course code>||<term>||<year>`.
    pub sis_kode: Option<String>,
    /// `datoBedtOm` (explanation requests only; assumed). The seed's name for the same date in
    /// a registration, `datoBegrunnelseBedtOm`, is read too.
    #[serde(alias = "datoBegrunnelseBedtOm")]
    pub dato_bedt_om: Option<String>,
    /// `endretDato`: when FS recorded the change.
    pub endret_dato: Option<String>,
}

/// One change from FS on its way to the exam system. Holds no personal data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchItem {
    /// Appeal or explanation request.
    pub kind: RequestKind,
    /// The institution (its configuration entry).
    pub org_id: String,
    /// The exam system FS listed it under.
    pub exam_system: ExamSystem,
    /// `vurdId`.
    pub vurd_id: String,
    /// `kandidatnr`.
    pub kandidatnr: String,
    /// `sisKode`, how WISEflow finds the exam's flow.
    pub sis_code: String,
    /// `klagestatus` as FS sent it (appeals only).
    #[serde(default)]
    pub status: String,
    /// `datoBedtOm` (explanation requests only).
    #[serde(default)]
    pub requested_at: String,
    /// `endretDato` as FS sent it.
    pub changed_at: String,
    /// The execution of the poll that read it.
    pub execution_id: String,
    /// An operator's replay asked for it to be applied again even if it was.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// Read for an institution in shadow mode: decided and recorded, never written anywhere.
    /// Its claim and version are kept apart from the live case's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
}

impl DispatchItem {
    /// The item for one element of an FS list. Fields are copied as they are; [`validate`]
    /// names what is wrong, so a bad element is parked with its reason, not lost.
    ///
    /// [`validate`]: Applicable::validate
    pub fn from_change(
        kind: RequestKind,
        org_id: &str,
        exam_system: ExamSystem,
        change: FsChange,
        execution_id: &str,
    ) -> Self {
        let text = |value: Option<String>| value.unwrap_or_default().trim().to_owned();
        DispatchItem {
            kind,
            org_id: org_id.to_owned(),
            exam_system,
            vurd_id: text(change.vurd_id),
            kandidatnr: text(change.kandidatnr),
            sis_code: text(change.sis_kode),
            status: text(change.klagestatus),
            requested_at: text(change.dato_bedt_om),
            changed_at: text(change.endret_dato),
            execution_id: execution_id.to_owned(),
            force: false,
            shadow: false,
        }
    }

    /// The item for one element of an institution's FS list, marked shadow when the institution
    /// is in shadow mode; the execution is set when it is queued.
    pub fn for_institution(kind: RequestKind, institution: &Institution, change: FsChange) -> Self {
        DispatchItem {
            shadow: institution.mode == Mode::Shadow,
            ..DispatchItem::from_change(
                kind,
                &institution.org_id,
                institution.exam_system,
                change,
                "",
            )
        }
    }

    /// The appeal's status; only meaningful on a validated appeal.
    pub fn appeal_status(&self) -> Option<AppealStatus> {
        match self.status.as_str() {
            "AKTIV" => Some(AppealStatus::Active),
            "TRUKKET" => Some(AppealStatus::Withdrawn),
            _ => None,
        }
    }

    /// What this case does to the candidate's thesis: a standing appeal or an explanation
    /// request holds it back from the archive; a withdrawn appeal releases it.
    pub fn hold_change(&self) -> HoldChange {
        match (self.kind, self.appeal_status()) {
            (RequestKind::Klage, Some(AppealStatus::Withdrawn)) => {
                HoldChange::Release(HoldKind::Appeal)
            }
            (RequestKind::Klage, _) => HoldChange::Open(HoldKind::Appeal),
            (RequestKind::Begrunnelse, _) => HoldChange::Open(HoldKind::Explanation),
        }
    }
}

impl Applicable for DispatchItem {
    fn key(&self) -> String {
        format!(
            "{}dispatch#{}#{}#{}#{}",
            if self.shadow { "shadow#" } else { "" },
            self.kind,
            self.org_id,
            self.vurd_id,
            self.kandidatnr
        )
    }

    fn version(&self) -> u64 {
        fs_timestamp(&self.changed_at).map_or(0, |t| t.and_utc().timestamp().max(0) as u64)
    }

    fn execution_id(&self) -> &str {
        &self.execution_id
    }

    fn force(&self) -> bool {
        self.force
    }

    fn label(&self) -> String {
        format!(
            "{} {} vurdId {} kandidatnr {} ({})",
            self.org_id, self.kind, self.vurd_id, self.kandidatnr, self.changed_at
        )
    }

    fn validate(&self) -> Result<()> {
        let label = self.label();
        let missing = |field: &str, what: &str| {
            Error::mapping(format!(
                "{label}: FS sent no {field}; {what}. Correct the case in FS: it is read again once changed"
            ))
        };
        if self.vurd_id.is_empty() {
            return Err(missing("vurdId", "the exam cannot be found"));
        }
        if self.kandidatnr.is_empty() {
            return Err(missing("kandidatnr", "the candidate cannot be found"));
        }
        if !self.kandidatnr.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::mapping(format!(
                "{label}: kandidatnr {:?} is not a number",
                self.kandidatnr
            )));
        }
        if fs_timestamp(&self.changed_at).is_none() {
            return Err(Error::mapping(format!(
                "{label}: endretDato {:?} is not yyyy-MM-ddTHH:mm:ss",
                self.changed_at
            )));
        }
        match self.kind {
            RequestKind::Klage if self.appeal_status().is_none() => Err(Error::mapping(format!(
                "{label}: klagestatus {:?} is not AKTIV or TRUKKET",
                self.status
            ))),
            RequestKind::Klage if self.exam_system == ExamSystem::Wiseflow => {
                if self.sis_code.is_empty() {
                    Err(missing("sisKode", "the WISEflow flow cannot be found"))
                } else {
                    Ok(())
                }
            }
            RequestKind::Begrunnelse if fs_timestamp(&self.requested_at).is_none() => {
                Err(Error::mapping(format!(
                    "{label}: datoBedtOm {:?} is not yyyy-MM-ddTHH:mm:ss; FS needs it back with the explanation",
                    self.requested_at
                )))
            }
            RequestKind::Begrunnelse if self.exam_system == ExamSystem::Wiseflow => {
                if self.sis_code.is_empty() {
                    Err(missing("sisKode", "the WISEflow flow cannot be found"))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }
}

/// An FS timestamp: `yyyy-MM-ddTHH:mm:ss`, or a bare date (midnight).
pub fn fs_timestamp(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

/// Formats a time as FS's `yyyy-MM-ddTHH:mm:ss` (UTC).
pub fn format_fs_timestamp(epoch_ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(epoch_ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// An RFC 3339 time (as exam systems send it) in FS's `yyyy-MM-ddTHH:mm:ss` (UTC).
pub fn rfc3339_to_fs(text: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| format_fs_timestamp(t.timestamp_millis()))
}

/// An answer from an exam system on its way to FS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum ReturnItem {
    /// An Inspera webhook, verified and queued by `inspera-webhook`; the details are fetched
    /// from Inspera when it is applied.
    Inspera(InsperaEvent),
    /// A WISEflow explanation found answered by `wiseflow-poll`.
    Wiseflow(WiseflowAnswer),
}

/// What an Inspera webhook reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsperaEventKind {
    /// A grader gave an explanation.
    ExplanationGiven,
    /// An appeal was decided.
    AppealDecided,
    /// A candidate submitted a master thesis (`thesis_submitted`).
    ThesisSubmitted,
}

impl InsperaEventKind {
    /// Every kind Flyt handles.
    pub const ALL: [InsperaEventKind; 3] = [
        InsperaEventKind::ExplanationGiven,
        InsperaEventKind::AppealDecided,
        InsperaEventKind::ThesisSubmitted,
    ];

    /// The kind's key in the `INSPERA_EVENT_NAMES` setting, and its default event name.
    pub fn key(self) -> &'static str {
        match self {
            InsperaEventKind::ExplanationGiven => "explanation_given",
            InsperaEventKind::AppealDecided => "appeal_decided",
            InsperaEventKind::ThesisSubmitted => "thesis_submitted",
        }
    }
}

/// The webhook event names a deployment's Inspera tenants use for what Flyt handles.
///
/// Inspera documents only `confirm_final_grades` and `submissions_export_finished` publicly; a
/// tenant lists its own events (`GET /v1/subscription/events`, which `flyt preflight` reads). The
/// defaults are Flyt's assumed names (`contracts/inspera.yaml`, `webhooks`), and the deployment sets
/// the real ones as `explanation_given=<name>,appeal_decided=<name>,thesis_submitted=<name>`
/// (any subset; the rest keep their defaults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsperaEventNames {
    names: [(InsperaEventKind, String); 3],
}

impl Default for InsperaEventNames {
    fn default() -> Self {
        InsperaEventNames {
            names: InsperaEventKind::ALL.map(|kind| (kind, kind.key().to_owned())),
        }
    }
}

impl InsperaEventNames {
    /// Reads the setting; an unknown key, a blank name or one name for two kinds is an error
    /// that names it.
    pub fn parse(setting: &str) -> std::result::Result<Self, String> {
        let mut names = InsperaEventNames::default();
        for pair in setting.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, name) = pair
                .split_once('=')
                .map(|(k, n)| (k.trim(), n.trim()))
                .ok_or_else(|| format!("{pair:?} is not key=event_name"))?;
            let slot = names
                .names
                .iter_mut()
                .find(|(kind, _)| kind.key() == key)
                .ok_or_else(|| {
                    format!(
                        "{key:?} is not one of {}",
                        InsperaEventKind::ALL.map(InsperaEventKind::key).join(", ")
                    )
                })?;
            if name.is_empty() {
                return Err(format!("the event name of {key} is blank"));
            }
            slot.1 = name.to_ascii_lowercase();
        }
        for (i, (kind, name)) in names.names.iter().enumerate() {
            if let Some((other, _)) = names.names[i + 1..].iter().find(|(_, n)| n == name) {
                return Err(format!(
                    "{} and {} are both named {name:?}",
                    kind.key(),
                    other.key()
                ));
            }
        }
        Ok(names)
    }

    /// The kind a webhook's `event` / `eventName` stands for, if Flyt handles it (any case).
    pub fn kind_of(&self, name: &str) -> Option<InsperaEventKind> {
        let name = name.trim().to_ascii_lowercase();
        self.names
            .iter()
            .find(|(_, configured)| *configured == name)
            .map(|(kind, _)| *kind)
    }

    /// The event name configured for `kind`.
    pub fn name_of(&self, kind: InsperaEventKind) -> &str {
        self.names
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(kind.key(), |(_, name)| name)
    }
}

/// A verified Inspera webhook, reduced to the ids Flyt needs (no user names).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsperaEvent {
    /// The event.
    pub kind: InsperaEventKind,
    /// The Inspera tenant (exam-system instance) the webhook came for.
    pub instance: String,
    /// `contextObjectId`: the test.
    pub test_id: u64,
    /// `associatedObjectId`: the explanation (explanation given) or the candidate (appeal decided).
    pub associated_id: String,
    /// `timestamp` as sent.
    pub timestamp: String,
    /// The webhook's daily execution.
    pub execution_id: String,
}

/// A WISEflow explanation whose response was accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WiseflowAnswer {
    /// The institution.
    pub org_id: String,
    /// The flow.
    pub flow_id: u64,
    /// The explanation request.
    pub explanation_request_id: u64,
    /// `vurdId` of the FS request.
    pub vurd_id: String,
    /// `kandidatnr`.
    pub kandidatnr: String,
    /// `datoBedtOm` of the FS request.
    pub requested_at: String,
    /// When the response was accepted (epoch ms).
    pub given_at_ms: i64,
    /// Where the candidate reads the explanation.
    pub url: String,
    /// The poll's execution.
    pub execution_id: String,
}

impl Applicable for ReturnItem {
    fn key(&self) -> String {
        match self {
            ReturnItem::Inspera(e) => format!(
                "return#inspera#{}#{}#{}#{}",
                e.instance,
                match e.kind {
                    InsperaEventKind::ExplanationGiven => "explanation",
                    InsperaEventKind::AppealDecided => "appeal",
                    InsperaEventKind::ThesisSubmitted => "thesis",
                },
                e.test_id,
                e.associated_id
            ),
            ReturnItem::Wiseflow(a) => format!(
                "return#wiseflow#{}#{}#{}",
                a.org_id, a.flow_id, a.explanation_request_id
            ),
        }
    }

    fn version(&self) -> u64 {
        // One answer per key: any delivery is the same answer.
        1
    }

    fn execution_id(&self) -> &str {
        match self {
            ReturnItem::Inspera(e) => &e.execution_id,
            ReturnItem::Wiseflow(a) => &a.execution_id,
        }
    }

    fn label(&self) -> String {
        match self {
            ReturnItem::Inspera(e) => format!(
                "Inspera {} {:?} test {} object {}",
                e.instance, e.kind, e.test_id, e.associated_id
            ),
            ReturnItem::Wiseflow(a) => format!(
                "{} WISEflow explanation {} on flow {} (vurdId {} kandidatnr {})",
                a.org_id, a.explanation_request_id, a.flow_id, a.vurd_id, a.kandidatnr
            ),
        }
    }

    fn validate(&self) -> Result<()> {
        let label = self.label();
        match self {
            ReturnItem::Inspera(e) if e.associated_id.trim().is_empty() => Err(Error::mapping(
                format!("{label}: associatedObjectId is empty"),
            )),
            ReturnItem::Wiseflow(a) if a.vurd_id.is_empty() || a.kandidatnr.is_empty() => Err(
                Error::mapping(format!("{label}: vurdId or kandidatnr is missing")),
            ),
            ReturnItem::Wiseflow(a) if !a.url.starts_with("https://") => Err(Error::mapping(
                format!("{label}: WISEflow gave no https link to the explanation (ssoUrl {:?}); FS needs one", a.url),
            )),
            _ => Ok(()),
        }
    }
}

/// Accepts a JSON string or number as a string (FS and Inspera send ids either way).
pub fn lenient_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        String(String),
        Number(serde_json::Number),
    }
    Ok(
        Option::<Text>::deserialize(deserializer)?.map(|value| match value {
            Text::String(s) => s,
            Text::Number(n) => n.to_string(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPEAL: &str = r#"{"vurdId":"MTg1LUlORjEwMA==","kandidatnr":123456,"personlopenr":"1234567",
        "fornavn":"Kari","etternavn":"Nordmann","brukernavn":"karinor","epost":"k@example.no",
        "klagestatus":"AKTIV","sisKode":"Innføring||INF100||HØST||2026","endretDato":"2026-11-20T10:00:00"}"#;

    fn appeal() -> DispatchItem {
        let change: FsChange = serde_json::from_str(APPEAL).unwrap();
        DispatchItem::from_change(RequestKind::Klage, "uio", ExamSystem::Inspera, change, "e1")
    }

    #[test]
    fn personal_data_never_reaches_the_queued_item() {
        let body = serde_json::to_string(&appeal()).unwrap();
        for personal in ["1234567", "Kari", "Nordmann", "karinor", "k@example.no"] {
            assert!(!body.contains(personal), "{personal} leaked into {body}");
        }
        assert!(body.contains("123456"));
    }

    #[test]
    fn key_and_version_follow_the_case_and_its_change_time() {
        let item = appeal();
        assert_eq!(item.key(), "dispatch#klage#uio#MTg1LUlORjEwMA==#123456");
        let later = DispatchItem {
            changed_at: "2026-11-20T10:00:01".into(),
            status: "TRUKKET".into(),
            ..item.clone()
        };
        assert_eq!(later.key(), item.key());
        assert_eq!(later.version(), item.version() + 1);
        assert_eq!(later.appeal_status(), Some(AppealStatus::Withdrawn));
    }

    #[test]
    fn standing_appeals_and_explanation_requests_hold_and_withdrawals_release() {
        assert_eq!(appeal().hold_change(), HoldChange::Open(HoldKind::Appeal));
        let withdrawn = DispatchItem {
            status: "TRUKKET".into(),
            ..appeal()
        };
        assert_eq!(
            withdrawn.hold_change(),
            HoldChange::Release(HoldKind::Appeal)
        );
        let request = DispatchItem {
            kind: RequestKind::Begrunnelse,
            status: String::new(),
            ..appeal()
        };
        assert_eq!(
            request.hold_change(),
            HoldChange::Open(HoldKind::Explanation)
        );
    }

    #[test]
    fn validation_names_the_field() {
        let no_candidate = DispatchItem {
            kandidatnr: String::new(),
            ..appeal()
        };
        let error = no_candidate.validate().unwrap_err();
        assert_eq!(error.category(), crate::Category::Mapping);
        assert!(error.message().contains("no kandidatnr"), "{error}");
        let bad_status = DispatchItem {
            status: "MAYBE".into(),
            ..appeal()
        };
        assert!(bad_status
            .validate()
            .unwrap_err()
            .message()
            .contains("klagestatus \"MAYBE\""));
        let bad_time = DispatchItem {
            changed_at: "yesterday".into(),
            ..appeal()
        };
        assert!(bad_time
            .validate()
            .unwrap_err()
            .message()
            .contains("endretDato"));
        let wiseflow_without_sis = DispatchItem {
            exam_system: ExamSystem::Wiseflow,
            sis_code: String::new(),
            ..appeal()
        };
        assert!(wiseflow_without_sis
            .validate()
            .unwrap_err()
            .message()
            .contains("sisKode"));
        assert!(appeal().validate().is_ok());
    }

    #[test]
    fn exam_system_times_become_fs_times() {
        assert_eq!(
            rfc3339_to_fs("2026-11-20T10:00:05+01:00").as_deref(),
            Some("2026-11-20T09:00:05")
        );
        assert_eq!(rfc3339_to_fs("20.11.2026"), None);
    }

    #[test]
    fn inspera_event_names_are_read_case_insensitively() {
        let names = InsperaEventNames::default();
        assert_eq!(
            names.kind_of("Explanation_Given"),
            Some(InsperaEventKind::ExplanationGiven)
        );
        assert_eq!(names.kind_of("confirm_final_grades"), None);
    }

    #[test]
    fn a_deployment_names_its_tenants_events() {
        let names =
            InsperaEventNames::parse(" appeal_decided = Confirm_Final_Grades ,thesis_submitted=x")
                .unwrap();
        assert_eq!(
            names.kind_of("confirm_final_grades"),
            Some(InsperaEventKind::AppealDecided)
        );
        assert_eq!(names.kind_of("appeal_decided"), None, "renamed");
        assert_eq!(
            names.kind_of("explanation_given"),
            Some(InsperaEventKind::ExplanationGiven),
            "the default kept"
        );
        assert_eq!(names.name_of(InsperaEventKind::ThesisSubmitted), "x");
        assert_eq!(
            InsperaEventNames::parse("").unwrap(),
            InsperaEventNames::default()
        );
        for (setting, names_it) in [
            ("grades=x", "\"grades\" is not one of explanation_given"),
            ("appeal_decided", "is not key=event_name"),
            ("appeal_decided=", "appeal_decided is blank"),
            ("appeal_decided=explanation_given", "are both named"),
        ] {
            let error = InsperaEventNames::parse(setting).unwrap_err();
            assert!(error.contains(names_it), "{setting}: {error}");
        }
    }

    #[test]
    fn return_items_round_trip_with_their_source_tag() {
        let item = ReturnItem::Inspera(InsperaEvent {
            kind: InsperaEventKind::AppealDecided,
            instance: "uio".into(),
            test_id: 7,
            associated_id: "123456".into(),
            timestamp: "2026-11-20T10:00:00Z".into(),
            execution_id: "e".into(),
        });
        let json = serde_json::to_string(&item).unwrap();
        assert!(json.contains("\"source\":\"inspera\""));
        assert_eq!(serde_json::from_str::<ReturnItem>(&json).unwrap(), item);
        assert_eq!(item.key(), "return#inspera#uio#appeal#7#123456");
    }
}
