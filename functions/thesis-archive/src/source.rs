//! What the exam systems say of a thesis, turned into Flyt's terms: a [`PendingThesis`] when it is
//! discovered, a [`ThesisToArchive`] when it is due. The metadata mapping is the README's table.

use chrono::{DateTime, Datelike, Duration, Utc};
use flyt::archive::{due_at, Access, ThesisKey};
use flyt::archiver::{SourceFile, ThesisToArchive};
use flyt::clients::inspera::{InsperaClient, ThesisSubmission};
use flyt::clients::wiseflow::WiseflowClient;
use flyt::institution::ExamSystem;
use flyt::thesis_store::{PendingThesis, ThesisSource};
use flyt::{Error, Result};

/// The appeal and explanation deadlines after a grade.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    /// Appeal deadline.
    pub appeal: Duration,
    /// Explanation deadline.
    pub explanation: Duration,
}

fn graded(graded_at: Option<&str>, label: &str) -> Result<DateTime<Utc>> {
    let text = graded_at.ok_or_else(|| {
        Error::mapping(format!(
            "{label}: the exam system gives no gradedAt, so the archive date cannot be set"
        ))
    })?;
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Error::mapping(format!(
                "{label}: gradedAt {text:?} is not an RFC 3339 time"
            ))
        })
}

/// A pending thesis from its source's facts.
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
            Error::mapping(format!("{id}: the exam system gives no candidate number"))
        })?;
    let graded = graded(graded_at, &id)?;
    Ok(PendingThesis {
        org_id: org_id.to_owned(),
        kandidatnr: kandidatnr.to_owned(),
        graded_at: graded.to_rfc3339(),
        due_at_ms: due_at(graded, deadlines.appeal, deadlines.explanation).timestamp_millis(),
        source,
        id,
    })
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
        graded_at: thesis.graded_at.clone(),
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
        graded_at: thesis.graded_at.clone(),
        access,
        access_note,
        files: files
            .into_iter()
            .map(|f| {
                source_file(
                    f.filename,
                    f.content_type,
                    f.size,
                    f.sha256,
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

fn key(thesis: &PendingThesis, exam: &str) -> Result<ThesisKey> {
    Ok(ThesisKey {
        institution: thesis.org_id.clone(),
        year: graded(Some(&thesis.graded_at), &thesis.id)?.year(),
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

    const DEADLINES: Deadlines = Deadlines {
        appeal: Duration::days(21),
        explanation: Duration::days(7),
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
        let due = DateTime::<Utc>::from_timestamp_millis(thesis.due_at_ms).unwrap();
        assert_eq!(due.to_rfc3339(), "2026-06-22T10:00:00+00:00");
    }

    #[test]
    fn missing_facts_are_named() {
        let source = || ThesisSource::Wiseflow {
            flow_id: 9,
            submission_id: 4,
        };
        let no_grade = pending("uib", source(), Some("1"), None, DEADLINES).unwrap_err();
        assert!(no_grade.message().contains("gradedAt"), "{no_grade}");
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
