//! The thesis reads of Flyt's WISEflow and Inspera clients, and the shared download helper,
//! against the sandbox (no AWS needed). Sixty days of master submissions are walked in 30-day
//! windows and each thesis is found once. Each submission's metadata and files are read, and
//! Inspera's thesis submissions too. The 12 MiB file streams whole and hashes to the listed
//! SHA-256. The missing file is a Mapping error. An ungraded thesis reads without a grading date. A
//! reassessment reads as graded only once WISEflow lists the candidate's grade on it.

use std::collections::BTreeSet;
use std::time::Duration;

use flyt::clients::inspera::{InsperaClient, InsperaCredentials};
use flyt::clients::wiseflow::{CandidateField, WiseflowClient, WiseflowCredentials};
use flyt::config::Vars;
use flyt::retry::RetryPolicy;
use flyt::Category;
use flyt_sandbox::{Sandbox, SandboxOptions, SandboxThesis, ThesisCase, THESIS_LARGE_FILE_BYTES};
use sha2::{Digest, Sha256};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// A sandbox with the default FS (185 on Inspera, 194 on WISEflow) and 14 theses each.
async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxOptions {
        objects: 5,
        descriptions: 5,
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts")
}

/// The project's retry policy with tiny delays.
fn retry() -> RetryPolicy {
    RetryPolicy::from_vars(&Vars::from_pairs([
        ("RETRY_ATTEMPTS", "3"),
        ("RETRY_BASE_DELAY_MS", "1"),
        ("RETRY_MAX_DELAY_MS", "5"),
        ("RETRY_MAX_WAIT_MS", "50"),
    ]))
    .expect("retry settings")
}

fn http() -> reqwest::Client {
    flyt::http::client(Duration::from_secs(30))
}

fn wiseflow(sandbox: &Sandbox) -> WiseflowClient {
    WiseflowClient::new(
        http(),
        format!("{}/v1", sandbox.wiseflow_url),
        WiseflowCredentials {
            api_key: "local-wiseflow-key".to_owned(),
        },
        retry(),
    )
}

fn inspera(sandbox: &Sandbox) -> InsperaClient {
    InsperaClient::new(
        http(),
        format!("{}/api", sandbox.inspera_url),
        InsperaCredentials {
            client_id: "uio".to_owned(),
            api_key: "local-inspera-key".to_owned(),
        },
        retry(),
    )
}

/// The thesis of `case` (first institution).
fn thesis_with(theses: &[SandboxThesis], case: ThesisCase) -> &SandboxThesis {
    theses
        .iter()
        .find(|t| t.case == case)
        .expect("a thesis of that case")
}

/// Streams a download chunk by chunk; returns its length and SHA-256 (hex).
async fn stream_sha256(system: &str, url: &str) -> flyt::Result<(u64, String)> {
    let mut response = flyt::http::download(&http(), system, "thesis file", url).await?;
    let mut hasher = Sha256::new();
    let mut length = 0;
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        length += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok((length, format!("{:x}", hasher.finalize())))
}

#[tokio::test]
async fn sixty_days_of_master_submissions_find_every_wiseflow_thesis_once() {
    let sandbox = sandbox().await;
    let client = wiseflow(&sandbox);
    let theses = sandbox.wiseflow.theses();
    assert_eq!(theses.len(), 14);

    let now = chrono::Utc::now().timestamp_millis();
    let before = sandbox.wiseflow.request_count();
    let submissions = client
        .master_submissions(now - 60 * DAY_MS, now)
        .await
        .expect("master submissions");
    assert_eq!(
        sandbox.wiseflow.request_count() - before,
        4,
        "60 days take two windows of at most 30 days, each asked for assessed and unassessed theses"
    );
    let ids: BTreeSet<u64> = submissions.iter().map(|s| s.submission_id).collect();
    assert_eq!(ids.len(), submissions.len(), "each submission once");
    let expected: BTreeSet<u64> = theses.iter().filter_map(|t| t.submission_id).collect();
    assert_eq!(ids, expected);
    for submission in &submissions {
        let thesis = theses
            .iter()
            .find(|t| t.submission_id == Some(submission.submission_id))
            .expect("a thesis");
        assert_eq!(Some(submission.flow_id), thesis.flow_id);
        assert!(!submission.handed_in_blank);
        assert_eq!(
            submission.handed_in_ms,
            Some(thesis.handed_in_ms / 1000 * 1000),
            "read back from unix seconds"
        );
    }

    let recent = client
        .master_submissions(now - 10 * DAY_MS, now)
        .await
        .expect("recent submissions");
    assert!(recent.len() < submissions.len());

    let error = client
        .master_submissions(now, now - DAY_MS)
        .await
        .expect_err("a window that ends before it starts");
    assert_eq!(error.category(), Category::Technical);
}

#[tokio::test]
async fn submissions_and_their_files_describe_each_wiseflow_thesis() {
    let sandbox = sandbox().await;
    let client = wiseflow(&sandbox);
    let theses = sandbox.wiseflow.theses();

    for thesis in &theses {
        let (flow_id, submission_id) = (thesis.flow_id.unwrap(), thesis.submission_id.unwrap());
        let info = client
            .submission(flow_id, submission_id)
            .await
            .expect("submission");
        assert_eq!(info.submission_id, submission_id);
        assert_eq!(info.flow_id, flow_id);
        assert_eq!(
            info.participant_number.as_ref(),
            Some(&thesis.candidate_number)
        );
        assert_eq!(info.title.as_ref(), Some(&thesis.title));
        assert_eq!(info.graded_at, thesis.graded_at);
        assert_eq!(
            info.access_level.as_deref(),
            Some(thesis.access_level.as_str())
        );
        assert_eq!(info.embargo_until, thesis.embargo_until);
        assert_eq!(info.language.as_ref(), Some(&thesis.language));

        let files = client
            .submission_files(flow_id, submission_id)
            .await
            .expect("files");
        assert_eq!(files.len(), thesis.files.len());
        for (file, expected) in files.iter().zip(&thesis.files) {
            assert_eq!(file.id, expected.id);
            assert_eq!(file.filename, expected.filename);
            assert_eq!(file.content_type.as_ref(), Some(&expected.content_type));
            assert_eq!(file.size, Some(expected.size));
            assert_eq!(file.quarantined, expected.quarantined);
            assert!(file.link.is_some());
        }
    }
    let quarantined = thesis_with(&theses, ThesisCase::QuarantinedFile);
    let files = client
        .submission_files(
            quarantined.flow_id.unwrap(),
            quarantined.submission_id.unwrap(),
        )
        .await
        .expect("files");
    assert_eq!(files.iter().filter(|f| f.quarantined).count(), 1);

    let first = &theses[0];
    let other_flow = theses
        .iter()
        .filter_map(|t| t.flow_id)
        .find(|id| Some(*id) != first.flow_id)
        .expect("theses on more than one flow");
    let error = client
        .submission(other_flow, first.submission_id.unwrap())
        .await
        .expect_err("the submission is not on that flow");
    assert_eq!(error.category(), Category::Mapping);
    assert!(error.message().contains("403"), "{}", error.message());
    let error = client
        .submission_files(999_999, first.submission_id.unwrap())
        .await
        .expect_err("no such flow");
    assert_eq!(error.category(), Category::Mapping);
}

#[tokio::test]
async fn inspera_describes_each_thesis_submission() {
    let sandbox = sandbox().await;
    let client = inspera(&sandbox);
    let theses = sandbox.inspera.theses();
    assert_eq!(theses.len(), 14);

    for thesis in &theses {
        let test_id = thesis.test_id.unwrap();
        let submission = client
            .thesis_submission(test_id, &thesis.candidate_number)
            .await
            .expect("thesis submission")
            .expect("a submission");
        assert_eq!(submission.test_id, test_id);
        assert_eq!(submission.external_test_id, thesis.assessment_id);
        assert_eq!(submission.candidate_id, thesis.candidate_number);
        assert_eq!(submission.submitted_at.as_ref(), Some(&thesis.handed_in_at));
        assert_eq!(submission.title.as_ref(), Some(&thesis.title));
        assert_eq!(submission.graded_at, thesis.graded_at);
        assert_eq!(
            submission.access_level.as_deref(),
            Some(thesis.access_level.as_str())
        );
        assert_eq!(submission.embargo_until, thesis.embargo_until);
        assert_eq!(submission.language.as_ref(), Some(&thesis.language));
        assert_eq!(submission.files.len(), thesis.files.len());
        for (file, expected) in submission.files.iter().zip(&thesis.files) {
            assert_eq!(file.file_id, expected.id);
            assert_eq!(file.filename, expected.filename);
            assert_eq!(file.size, Some(expected.size));
            assert_eq!(file.sha256.as_ref(), Some(&expected.sha256));
            assert_eq!(file.quarantined, expected.quarantined);
            assert!(file.download_url.is_some());
        }
    }

    let first = &theses[0];
    let none = client
        .thesis_submission(first.test_id.unwrap(), "000000")
        .await
        .expect("an answer");
    assert_eq!(none, None);
}

#[tokio::test]
async fn download_streams_the_12_mib_thesis_whole_and_a_missing_file_is_a_mapping_error() {
    let sandbox = sandbox().await;
    let wiseflow_client = wiseflow(&sandbox);
    let theses = sandbox.wiseflow.theses();

    let large = thesis_with(&theses, ThesisCase::LargeFile);
    let files = wiseflow_client
        .submission_files(large.flow_id.unwrap(), large.submission_id.unwrap())
        .await
        .expect("files");
    let main = &files[0];
    assert_eq!(main.size, Some(THESIS_LARGE_FILE_BYTES));
    let (length, sha256) = stream_sha256("WISEflow", main.link.as_deref().expect("link"))
        .await
        .expect("download");
    assert_eq!(length, THESIS_LARGE_FILE_BYTES);
    assert_eq!(sha256, large.files[0].sha256, "the bytes WISEflow holds");
    assert_eq!(sandbox.wiseflow.downloads(main.id), 1);

    let missing = thesis_with(&theses, ThesisCase::MissingFile);
    let files = wiseflow_client
        .submission_files(missing.flow_id.unwrap(), missing.submission_id.unwrap())
        .await
        .expect("files");
    let gone_id = missing
        .files
        .iter()
        .find(|f| f.missing)
        .expect("missing")
        .id;
    let link = files
        .iter()
        .find(|f| f.id == gone_id)
        .and_then(|f| f.link.clone())
        .expect("a link");
    let error = stream_sha256("WISEflow", &link)
        .await
        .expect_err("the file is missing");
    assert_eq!(error.category(), Category::Mapping);
    assert!(
        error.message().contains("missing (404)"),
        "{}",
        error.message()
    );
    let signature = link.split("signature=").nth(1).expect("signed link");
    assert!(
        !error.message().contains(signature),
        "the link's signature stays out of the message"
    );

    let inspera_theses = sandbox.inspera.theses();
    let large = thesis_with(&inspera_theses, ThesisCase::LargeFile);
    let submission = inspera(&sandbox)
        .thesis_submission(large.test_id.unwrap(), &large.candidate_number)
        .await
        .expect("thesis submission")
        .expect("a submission");
    let main = &submission.files[0];
    let (length, sha256) = stream_sha256("Inspera", main.download_url.as_deref().expect("url"))
        .await
        .expect("download");
    assert_eq!(length, THESIS_LARGE_FILE_BYTES);
    assert_eq!(Some(sha256), main.sha256);

    let error = stream_sha256("Inspera", "not a url")
        .await
        .expect_err("not a URL");
    assert_eq!(error.category(), Category::Mapping);
}

#[tokio::test]
async fn a_reassessment_reads_as_graded_only_once_wiseflow_lists_the_candidates_grade() {
    let sandbox = sandbox().await;
    let client = wiseflow(&sandbox);
    let theses = sandbox.wiseflow.theses();
    let ungraded: Vec<&SandboxThesis> = theses.iter().filter(|t| t.graded_at.is_none()).collect();
    assert_eq!(ungraded.len(), 1);
    let info = client
        .submission(
            ungraded[0].flow_id.unwrap(),
            ungraded[0].submission_id.unwrap(),
        )
        .await
        .expect("the ungraded submission");
    assert_eq!(info.graded_at, None);

    let thesis = theses
        .iter()
        .find(|t| t.case == ThesisCase::Ordinary)
        .expect("an ordinary thesis");
    let flow_id = thesis.flow_id.unwrap();
    let field = CandidateField::default();
    let graded = || client.reassessment_graded(flow_id, &thesis.candidate_number, &field);
    let before = sandbox.wiseflow.request_count();
    assert!(!graded().await.expect("no remarking flow yet"));
    assert_eq!(
        sandbox.wiseflow.request_count() - before,
        1,
        "only the remarking flow is asked for"
    );
    client
        .reassessment(flow_id)
        .await
        .expect("reassessment flow");
    assert!(!graded().await.expect("not graded yet"));
    sandbox
        .wiseflow
        .thesis_grading()
        .grade_reassessment(&thesis.candidate_number, chrono::Utc::now());
    assert!(graded().await.expect("graded"));
    assert!(!client
        .reassessment_graded(flow_id, "999999", &field)
        .await
        .expect("a candidate not on the remarking flow"));
    // The grade is read through published routes only: the contract check (on dropping the
    // sandbox) fails on any other.
}
