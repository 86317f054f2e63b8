//! What the exam systems say of a thesis, turned into Flyt's terms: a [`PendingThesis`] when it is
//! discovered, a [`ThesisToArchive`] when it is due. The metadata mapping is the README's table.

use chrono::{DateTime, Datelike, Utc};
use flyt::archive::{Access, Deadlines, ThesisKey};
use flyt::archiver::{SourceFile, ThesisToArchive};
use flyt::clients::inspera::{InsperaClient, ThesisSubmission};
use flyt::clients::wiseflow::WiseflowClient;
use flyt::connections::ExamClient;
use flyt::institution::ExamSystem;
use flyt::thesis_store::{PendingThesis, ThesisSource};
use flyt::{Error, Result};

/// The grading time, or `None` when the exam system gives none (the thesis is not graded yet).
fn graded(graded_at: Option<&str>, label: &str) -> Result<Option<DateTime<Utc>>> {
    let Some(text) = graded_at.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(text)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| {
            Error::mapping(format!(
                "{label}: gradedAt {text:?} is not an RFC 3339 time; correct the grading date in the exam system"
            ))
        })
}

/// A pending thesis from its source's facts. Without a grading date it awaits grading: no due
/// date, until [`with_grade`] gives it one.
pub fn pending(
    org_id: &str,
    source: ThesisSource,
    kandidatnr: Option<&str>,
    graded_at: Option<&str>,
    deadlines: Deadlines,
) -> Result<PendingThesis> {
    let id = PendingThesis::id_of(org_id, &source);
    let kandidatnr = kandidatnr
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            Error::mapping(format!(
                "{id}: the exam system gives no candidate number; correct the submission in the exam system"
            ))
        })?;
    let thesis = PendingThesis {
        org_id: org_id.to_owned(),
        kandidatnr: kandidatnr.to_owned(),
        graded_at: None,
        due_at_ms: None,
        source,
        id,
    };
    with_grade(thesis, graded_at, deadlines)
}

/// The thesis with its grading date and due date, when the exam system gives a grading date;
/// unchanged (awaiting grading) when it gives none.
pub fn with_grade(
    thesis: PendingThesis,
    graded_at: Option<&str>,
    deadlines: Deadlines,
) -> Result<PendingThesis> {
    let Some(graded) = graded(graded_at, &thesis.id)? else {
        return Ok(thesis);
    };
    Ok(PendingThesis {
        graded_at: Some(graded.to_rfc3339()),
        due_at_ms: Some(deadlines.due_at(graded).timestamp_millis()),
        ..thesis
    })
}

/// The grading date the exam system gives now for a thesis (`None` while it is ungraded).
pub async fn graded_at(client: ExamClient<'_>, thesis: &PendingThesis) -> Result<Option<String>> {
    match (&thesis.source, client) {
        (
            ThesisSource::Inspera {
                test_id,
                candidate_id,
                ..
            },
            ExamClient::Inspera(client),
        ) => Ok(inspera_submission(client, *test_id, candidate_id)
            .await?
            .graded_at),
        (
            ThesisSource::Wiseflow {
                flow_id,
                submission_id,
            },
            ExamClient::Wiseflow(client),
        ) => Ok(client.submission(*flow_id, *submission_id).await?.graded_at),
        _ => Err(other_system(thesis)),
    }
}

/// The Configuration error of a thesis whose institution now uses another exam system.
pub fn other_system(thesis: &PendingThesis) -> Error {
    Error::configuration(format!(
        "{}: the thesis comes from another exam system than institution {} is configured for; correct the institution's exam_system",
        thesis.id, thesis.org_id
    ))
}

/// The Inspera submission of a thesis, or a Mapping error naming it.
pub async fn inspera_submission(
    client: &InsperaClient,
    test_id: u64,
    candidate_id: &str,
) -> Result<ThesisSubmission> {
    client
        .thesis_submission(test_id, candidate_id)
        .await?
        .ok_or_else(|| {
            Error::mapping(format!(
                "Inspera has no thesis submission of candidate {candidate_id} on test {test_id}"
            ))
        })
}

/// Everything needed to archive an Inspera thesis.
pub async fn inspera_thesis(
    client: &InsperaClient,
    thesis: &PendingThesis,
    test_id: u64,
    candidate_id: &str,
) -> Result<ThesisToArchive> {
    let submission = inspera_submission(client, test_id, candidate_id).await?;
    let (access, access_note) = Access::from_source(
        submission.access_level.as_deref(),
        submission.embargo_until.as_deref(),
    );
    Ok(ThesisToArchive {
        key: key(thesis, &submission.external_test_id)?,
        exam_system: ExamSystem::Inspera,
        source_ids: vec![
            ("testId".into(), test_id.to_string()),
            ("externalTestId".into(), submission.external_test_id.clone()),
            ("candidateId".into(), candidate_id.to_owned()),
        ],
        title: title(submission.title, &thesis.id)?,
        language: submission.language,
        graded_at: graded_text(thesis)?,
        access,
        access_note,
        files: submission
            .files
            .into_iter()
            .map(|f| {
                source_file(
                    f.filename,
                    f.content_type,
                    f.size,
                    f.sha256,
                    f.download_url,
                    f.quarantined,
                )
            })
            .collect(),
    })
}

/// Everything needed to archive a WISEflow thesis.
pub async fn wiseflow_thesis(
    client: &WiseflowClient,
    thesis: &PendingThesis,
    flow_id: u64,
    submission_id: u64,
) -> Result<ThesisToArchive> {
    let info = client.submission(flow_id, submission_id).await?;
    let files = client.submission_files(flow_id, submission_id).await?;
    let (access, access_note) =
        Access::from_source(info.access_level.as_deref(), info.embargo_until.as_deref());
    Ok(ThesisToArchive {
        key: key(thesis, &format!("flow-{flow_id}"))?,
        exam_system: ExamSystem::Wiseflow,
        source_ids: vec![
            ("flowId".into(), flow_id.to_string()),
            ("submissionId".into(), submission_id.to_string()),
        ],
        title: title(info.title, &thesis.id)?,
        language: info.language,
        graded_at: graded_text(thesis)?,
        access,
        access_note,
        files: files
            .into_iter()
            .map(|f| {
                // WISEflow publishes no checksum: the archive's own SHA-256, confirmed by S3's,
                // is the manifest's.
                source_file(
                    f.filename,
                    f.content_type,
                    f.size,
                    None,
                    f.link,
                    f.quarantined,
                )
            })
            .collect(),
    })
}

/// A file as either exam system lists it; an unknown content type is `application/octet-stream`.
fn source_file(
    name: String,
    content_type: Option<String>,
    size: Option<u64>,
    sha256: Option<String>,
    url: Option<String>,
    quarantined: bool,
) -> SourceFile {
    SourceFile {
        name,
        content_type: content_type.unwrap_or_else(|| "application/octet-stream".to_owned()),
        size,
        sha256,
        url,
        quarantined,
    }
}

/// The grading date of a thesis about to be archived: one awaiting grading is never due.
fn graded_text(thesis: &PendingThesis) -> Result<String> {
    thesis.graded_at.clone().ok_or_else(|| {
        Error::technical(format!(
            "{}: a thesis awaiting grading was about to be archived; expected a grading date",
            thesis.id
        ))
    })
}

fn key(thesis: &PendingThesis, exam: &str) -> Result<ThesisKey> {
    let graded = graded(Some(&graded_text(thesis)?), &thesis.id)?
        .ok_or_else(|| Error::technical(format!("{}: the grading date is empty", thesis.id)))?;
    Ok(ThesisKey {
        institution: thesis.org_id.clone(),
        year: graded.year(),
        exam: exam.to_owned(),
        kandidatnr: thesis.kandidatnr.clone(),
    })
}

fn title(title: Option<String>, id: &str) -> Result<String> {
    title
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| Error::mapping(format!("{id}: the exam system gives no title")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    const DEADLINES: Deadlines = Deadlines {
        appeal: Duration::days(21),
        explanation: Duration::days(7),
        margin: Duration::hours(24),
    };

    #[test]
    fn a_pending_thesis_is_due_after_the_appeal_deadline() {
        let source = ThesisSource::Wiseflow {
            flow_id: 9,
            submission_id: 4,
        };
        let thesis = pending(
            "uib",
            source,
            Some("123456"),
            Some("2026-06-01T10:00:00Z"),
            DEADLINES,
        )
        .unwrap();
        assert_eq!(thesis.id, "thesis#uib#wiseflow#9#4");
        let due = DateTime::<Utc>::from_timestamp_millis(thesis.due_at_ms.unwrap()).unwrap();
        assert_eq!(due.to_rfc3339(), "2026-06-23T10:00:00+00:00");
    }

    #[test]
    fn an_ungraded_thesis_awaits_grading_and_gets_its_date_when_graded() {
        let source = ThesisSource::Inspera {
            instance: "uio".into(),
            test_id: 7,
            candidate_id: "555001".into(),
        };
        for blank in [None, Some(""), Some("  ")] {
            let thesis = pending("uio", source.clone(), Some("555001"), blank, DEADLINES).unwrap();
            assert_eq!((thesis.graded_at.clone(), thesis.due_at_ms), (None, None));
        }
        let waiting = pending("uio", source, Some("555001"), None, DEADLINES).unwrap();
        let still = with_grade(waiting.clone(), None, DEADLINES).unwrap();
        assert_eq!(still, waiting);
        let graded = with_grade(waiting, Some("2026-06-01T10:00:00Z"), DEADLINES).unwrap();
        assert_eq!(
            graded.graded_at.as_deref(),
            Some("2026-06-01T10:00:00+00:00")
        );
        let due = DateTime::<Utc>::from_timestamp_millis(graded.due_at_ms.unwrap()).unwrap();
        assert_eq!(due.to_rfc3339(), "2026-06-23T10:00:00+00:00");
        let later_explanation = Deadlines {
            explanation: Duration::days(30),
            ..DEADLINES
        };
        let both = with_grade(graded, Some("2026-06-01T10:00:00Z"), later_explanation).unwrap();
        let due = DateTime::<Utc>::from_timestamp_millis(both.due_at_ms.unwrap()).unwrap();
        assert_eq!(
            due.to_rfc3339(),
            "2026-07-02T10:00:00+00:00",
            "the later deadline and the margin"
        );
    }

    #[test]
    fn missing_facts_are_named() {
        let source = || ThesisSource::Wiseflow {
            flow_id: 9,
            submission_id: 4,
        };
        let bad_grade =
            pending("uib", source(), Some("1"), Some("1. juni"), DEADLINES).unwrap_err();
        assert!(bad_grade.message().contains("gradedAt"), "{bad_grade}");
        let no_candidate = pending(
            "uib",
            source(),
            Some(" "),
            Some("2026-06-01T10:00:00Z"),
            DEADLINES,
        )
        .unwrap_err();
        assert!(no_candidate.message().contains("candidate number"));
    }
}
