//! Which configuration entry serves an institution for a client's exam system. An institution may
//! have several entries (one per exam system, or a second one by mistake); the proxy acts only on
//! an answer that every matching entry gives alike, and fails closed otherwise: a registration
//! sent to the wrong FS environment is a grade in the wrong register.

use flyt::institution::{ExamSystem, Institution};

/// The entry that serves (institusjonsnr, exam system), or why there is none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Serving {
    /// One entry, or several that agree on everything the proxy reads.
    Served(Box<Institution>),
    /// No active entry has this institusjonsnr with this exam system.
    NotServed,
    /// Several entries disagree; names them and what differs.
    Disagree(String),
}

/// Decides among the active entries with the institusjonsnr and exam system asked for.
pub fn serving(entries: Vec<Institution>, institusjonsnr: &str, system: ExamSystem) -> Serving {
    let mut entries = entries.into_iter();
    let Some(first) = entries.next() else {
        return Serving::NotServed;
    };
    for other in entries {
        let differs: Vec<&str> = [
            (
                "fs_environment",
                first.fs_environment != other.fs_environment,
            ),
            ("mode", first.mode != other.mode),
            (
                "digeks_grades_without_scale",
                first.digeks_grades_without_scale != other.digeks_grades_without_scale,
            ),
        ]
        .into_iter()
        .filter_map(|(field, differs)| differs.then_some(field))
        .collect();
        if !differs.is_empty() {
            return Serving::Disagree(format!(
                "entries {} and {} both serve institution {institusjonsnr} on {system} but differ in {}: correct one of them",
                first.org_id,
                other.org_id,
                differs.join(", ")
            ));
        }
    }
    Serving::Served(Box::new(first))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flyt::clients::wiseflow::CandidateField;
    use flyt::institution::{GradesWithoutScale, Mode};

    fn entry(org: &str, environment: &str) -> Institution {
        Institution {
            org_id: org.into(),
            org_short_name: org.into(),
            institusjonsnr: "186".into(),
            exam_system: ExamSystem::Wiseflow,
            exam_system_instance: format!("{org}-wiseflow"),
            fs_environment: environment.into(),
            klage: true,
            begrunnelse: true,
            show_justification: false,
            wiseflow_candidate_field: CandidateField::default(),
            digeks_grades_without_scale: GradesWithoutScale::Refuse,
            mode: Mode::Live,
        }
    }

    #[test]
    fn one_entry_or_agreeing_entries_serve() {
        assert_eq!(
            serving(vec![entry("uib", "prod")], "186", ExamSystem::Wiseflow),
            Serving::Served(Box::new(entry("uib", "prod")))
        );
        assert_eq!(
            serving(
                vec![entry("uib", "prod"), entry("uib-2", "prod")],
                "186",
                ExamSystem::Wiseflow
            ),
            Serving::Served(Box::new(entry("uib", "prod")))
        );
        assert_eq!(
            serving(vec![], "186", ExamSystem::Wiseflow),
            Serving::NotServed
        );
    }

    #[test]
    fn disagreeing_entries_fail_closed_naming_both_and_the_fields() {
        let mut shadow = entry("uib-2", "test");
        shadow.mode = Mode::Shadow;
        let Serving::Disagree(reason) = serving(
            vec![entry("uib", "prod"), shadow],
            "186",
            ExamSystem::Wiseflow,
        ) else {
            panic!("entries that differ must not serve");
        };
        for part in ["uib", "uib-2", "186", "WISEFLOW", "fs_environment, mode"] {
            assert!(reason.contains(part), "{part}: {reason}");
        }
        assert!(!reason.contains("digeks_grades_without_scale"), "{reason}");
    }
}
