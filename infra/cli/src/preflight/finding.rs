//! What `flyt preflight` reports per contract element, and the pure judgements that turn what a
//! read-only call saw into one. No I/O here: the calls are in the parent module.

use std::collections::BTreeSet;

use flyt::appeals::fs_timestamp;
use flyt::clients::wiseflow::Participant;
use serde::Serialize;

/// How a contract element fared against the real system.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "snake_case")]
pub enum Outcome {
    /// What the contract says is what the system did.
    Holds(String),
    /// The system departs from the contract: what was seen, personal data masked.
    Differs(String),
    /// Not observable with the data at hand, and why.
    NotChecked(String),
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The system: `fs`, `wiseflow`, `inspera`, `bokbasen`.
    pub system: &'static str,
    /// Whose: the institution (`org_id`), the exam-system instance or the deployment.
    pub subject: String,
    /// The contract element, as its contract names it.
    pub element: &'static str,
    /// How it fared.
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl Finding {
    /// A finding of `system` for `subject`.
    pub fn new(
        system: &'static str,
        subject: &str,
        element: &'static str,
        outcome: Outcome,
    ) -> Self {
        Finding {
            system,
            subject: subject.to_owned(),
            element,
            outcome,
        }
    }

    /// The report's text line: `holds   fs uio  change lists: ...`.
    pub fn line(&self) -> String {
        let (word, detail) = match &self.outcome {
            Outcome::Holds(detail) => ("holds", detail),
            Outcome::Differs(detail) => ("differs", detail),
            Outcome::NotChecked(detail) => ("not checked", detail),
        };
        format!(
            "{word:<12}{:<9}{:<8} {}: {}",
            self.system,
            self.subject,
            self.element,
            crate::output::printable(detail)
        )
    }

    /// Whether the element departs from its contract.
    pub fn differs(&self) -> bool {
        matches!(self.outcome, Outcome::Differs(_))
    }
}

/// `text` with what could be personal data taken out: quoted values, runs of three or more
/// digits (candidate and person numbers) and e-mail addresses. Field names and the shape of the
/// problem stay, which is what an engineer needs.
pub fn mask(text: &str) -> String {
    let mut masked = String::with_capacity(text.len());
    let mut quote: Option<char> = None;
    let mut digits = String::new();
    let flush = |digits: &mut String, masked: &mut String| {
        if digits.len() >= 3 {
            masked.push_str("###");
        } else {
            masked.push_str(digits);
        }
        digits.clear();
    };
    for c in text.chars() {
        if let Some(open) = quote {
            if c == open {
                masked.push('…');
                masked.push(c);
                quote = None;
            }
            continue;
        }
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        flush(&mut digits, &mut masked);
        masked.push(c);
        if c == '"' || c == '`' {
            quote = Some(c);
        }
    }
    flush(&mut digits, &mut masked);
    masked
        .split(' ')
        .map(|word| if word.contains('@') { "<e-mail>" } else { word })
        .collect::<Vec<_>>()
        .join(" ")
}

/// FS's change times against the contract's `yyyy-MM-ddTHH:mm:ss`: holds when every one parses.
pub fn change_times(times: &[String]) -> Outcome {
    if times.is_empty() {
        return Outcome::NotChecked("the lists held no change in the window".to_owned());
    }
    let odd: Vec<&String> = times.iter().filter(|t| fs_timestamp(t).is_none()).collect();
    match odd.first() {
        None => Outcome::Holds(format!(
            "{} endretDato values, all yyyy-MM-ddTHH:mm:ss without a zone (read as UTC)",
            times.len()
        )),
        Some(first) => Outcome::Differs(format!(
            "{} of {} endretDato values are not yyyy-MM-ddTHH:mm:ss, e.g. {:?}",
            odd.len(),
            times.len(),
            shape_of(first)
        )),
    }
}

/// A value's shape, digits as `9` and letters as `a`: `2026-11-20 10:00` → `9999-99-99 99:99`.
pub fn shape_of(value: &str) -> String {
    value
        .chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_digit() {
                '9'
            } else if c.is_alphabetic() {
                'a'
            } else {
                c
            }
        })
        .collect()
}

/// Whether a flow's participants carry the kandidatnr in the institution's configured field:
/// holds when one of FS's candidates is found there, differs when none is, or when the field is
/// missing on every participant.
pub fn candidate_field(
    field: &str,
    participants: &[Participant],
    fs_candidates: &BTreeSet<String>,
) -> Outcome {
    if participants.is_empty() {
        return Outcome::NotChecked("the flow has no participants yet".to_owned());
    }
    let carrying = participants
        .iter()
        .filter(|p| p.candidate.is_some())
        .count();
    if carrying == 0 {
        return Outcome::Differs(format!(
            "none of the flow's {} participants has the field {field}",
            participants.len()
        ));
    }
    let matching = participants
        .iter()
        .filter(|p| {
            p.candidate
                .as_ref()
                .is_some_and(|c| fs_candidates.contains(c))
        })
        .count();
    if matching == 0 {
        Outcome::Differs(format!(
            "{carrying} of {} participants have {field}, but none equals a kandidatnr FS listed for the exam",
            participants.len()
        ))
    } else {
        Outcome::Holds(format!(
            "{matching} of {} participants carry a kandidatnr FS listed, in {field}",
            participants.len()
        ))
    }
}

/// Whether the tenant lists every event name the deployment is configured with.
pub fn event_names(configured: &[&str], listed: &[String]) -> Outcome {
    let missing: Vec<&str> = configured
        .iter()
        .copied()
        .filter(|name| !listed.iter().any(|l| l.eq_ignore_ascii_case(name)))
        .collect();
    if missing.is_empty() {
        Outcome::Holds(format!(
            "the tenant lists {} ({} events in all)",
            configured.join(", "),
            listed.len()
        ))
    } else {
        Outcome::Differs(format!(
            "the tenant does not list {}; it lists {}: set InsperaEventNames",
            missing.join(", "),
            listed.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_field_names_and_drops_values_numbers_and_addresses() {
        assert_eq!(
            mask(r#"invalid type: string "Ola Nordmann", expected u64 at kandidatnr 123456"#),
            r#"invalid type: string "…", expected u64 at kandidatnr ###"#
        );
        assert_eq!(
            mask("mail ola@uio.no failed 12 times"),
            "mail <e-mail> failed 12 times"
        );
    }

    #[test]
    fn change_times_hold_only_when_every_one_is_fs_time() {
        assert!(matches!(
            change_times(&["2026-11-20T10:00:00".into()]),
            Outcome::Holds(_)
        ));
        match change_times(&["2026-11-20T10:00:00".into(), "20.11.2026 10:00".into()]) {
            Outcome::Differs(detail) => {
                assert!(detail.contains("\"99.99.9999 99:99\""), "{detail}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(change_times(&[]), Outcome::NotChecked(_)));
    }

    #[test]
    fn the_candidate_field_holds_only_when_it_carries_a_kandidatnr_fs_knows() {
        let participant = |candidate: Option<&str>| Participant {
            participant_id: 1,
            candidate: candidate.map(str::to_owned),
        };
        let fs: BTreeSet<String> = ["551234".to_owned()].into();
        assert!(matches!(
            candidate_field("uniqueExamId", &[participant(Some("551234"))], &fs),
            Outcome::Holds(_)
        ));
        assert!(matches!(
            candidate_field("uniqueExamId", &[participant(Some("7"))], &fs),
            Outcome::Differs(_)
        ));
        match candidate_field("uniqueExamId", &[participant(None)], &fs) {
            Outcome::Differs(detail) => assert!(detail.contains("has the field uniqueExamId")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn configured_event_names_must_be_listed() {
        let listed = ["Appeal_Decided".to_owned(), "x".to_owned()];
        assert!(matches!(
            event_names(&["appeal_decided"], &listed),
            Outcome::Holds(_)
        ));
        match event_names(&["appeal_decided", "thesis_submitted"], &listed) {
            Outcome::Differs(detail) => {
                assert!(detail.starts_with("the tenant does not list thesis_submitted"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_line_names_the_outcome_system_subject_and_element() {
        let finding = Finding {
            system: "fs",
            subject: "uio".into(),
            element: "change lists",
            outcome: Outcome::NotChecked("why".into()),
        };
        assert!(finding.line().starts_with("not checked fs       uio"));
        assert!(finding.line().ends_with("change lists: why"));
        assert!(!finding.differs());
    }
}
