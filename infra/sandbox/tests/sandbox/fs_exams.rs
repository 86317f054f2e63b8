//! FS's exam API: exam lists and details with candidates, an exam's appeals
//! and explanations, and all-or-nothing registration of grades, attendance
//! and group ids.

use std::collections::BTreeSet;

use flyt_sandbox::{AppealStatus, AttendanceStatus, FsExam, Sandbox, SandboxOptions};
use serde_json::{json, Value};

const USER: &str = "flyt-local";
const PASSWORD: &str = "local-fs-password";
/// Far enough back to include every seeded change.
const LONG_AGO: &str = "2000-01-01";

/// A sandbox with small Bokbasen reports and a modest FS seed.
async fn fs_sandbox() -> Sandbox {
    Sandbox::start(SandboxOptions {
        objects: 5,
        descriptions: 5,
        appeals_per_institution: 50,
        explanations_per_institution: 30,
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts")
}

/// `GET {path}` with the right credentials; returns status and JSON body.
async fn get(sandbox: &Sandbox, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", sandbox.fs_url))
        .basic_auth(USER, Some(PASSWORD))
        .query(query)
        .send()
        .await
        .expect("fs request");
    (
        response.status().as_u16(),
        response.json().await.expect("json body"),
    )
}

/// `POST {path}` with the right credentials and a raw body.
async fn post_raw(sandbox: &Sandbox, path: &str, body: String) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", sandbox.fs_url))
        .basic_auth(USER, Some(PASSWORD))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("fs request");
    (
        response.status().as_u16(),
        response.json().await.expect("json body"),
    )
}

/// `POST {path}` with the right credentials and a JSON body.
async fn post(sandbox: &Sandbox, path: &str, body: &Value) -> (u16, Value) {
    post_raw(sandbox, path, body.to_string()).await
}

/// The exam of institution `institution` with course `course`.
fn seeded_exam(sandbox: &Sandbox, institution: &str, course: &str) -> FsExam {
    sandbox
        .fs
        .exams(institution)
        .into_iter()
        .find(|e| e.course_code == course)
        .expect("seeded exam")
}

/// The first `n` candidate numbers of `exam`.
fn candidates(exam: &FsExam, n: usize) -> Vec<String> {
    exam.candidates
        .iter()
        .take(n)
        .map(|c| c.candidate_number.clone())
        .collect()
}

/// `value` without `kandidater`, as the exam lists serve it.
fn summary(exam: &FsExam) -> Value {
    let mut value = serde_json::to_value(exam).unwrap();
    value.as_object_mut().unwrap().remove("kandidater");
    value
}

fn courses(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|e| e["emnekode"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn exam_lists_are_filtered_by_institution_and_aid() {
    let sandbox = fs_sandbox().await;
    let (status, list) = get(&sandbox, "/eksamen/liste", &[("institusjonsnr", "185")]).await;
    assert_eq!(status, 200);
    let exams = sandbox.fs.exams("185");
    assert_eq!(exams.len(), 10);
    assert_eq!(list, Value::Array(exams.iter().map(summary).collect()));
    let inf100 = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["emnekode"] == "INF100")
        .unwrap();
    let keys: BTreeSet<&str> = inf100
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    let expected: BTreeSet<&str> = [
        "vurdId",
        "institusjonsnr",
        "eksamenssystem",
        "emnekode",
        "versjonskode",
        "emnetittel",
        "vurderingsordning",
        "tid",
        "datoEksamenFra",
        "datoEksamenTil",
        "sensurfrist",
        "klagefrist",
        "karakterskala",
        "hjelpemidler",
    ]
    .into();
    assert_eq!(keys, expected);
    assert_eq!(inf100["eksamenssystem"], "INSPERA");
    assert_eq!(inf100["emnetittel"], "Innføring i programmering");
    assert_eq!(
        inf100["karakterskala"],
        json!({"kode": "A-F", "karakterer": ["A", "B", "C", "D", "E", "F"]})
    );
    assert_eq!(inf100["datoEksamenFra"].as_str().unwrap().len(), 19);
    assert_eq!(inf100["sensurfrist"].as_str().unwrap().len(), 10);
    let exphil = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["emnekode"] == "EXPHIL03")
        .unwrap();
    assert_eq!(
        exphil["karakterskala"],
        json!({"kode": "BESTATT", "karakterer": ["BESTÅTT", "IKKE BESTÅTT"]})
    );
    let appealed: BTreeSet<String> = sandbox
        .fs
        .appeals("185")
        .into_iter()
        .map(|a| a.assessment_id)
        .collect();
    let listed: BTreeSet<String> = exams.iter().map(|e| e.assessment_id.clone()).collect();
    assert!(appealed.is_subset(&listed));

    let (_, wiseflow) = get(&sandbox, "/eksamen/liste", &[("institusjonsnr", "194")]).await;
    assert!(wiseflow
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["eksamenssystem"] == "WISEFLOW" && e["institusjonsnr"] == "194"));
    let (status, unknown) = get(&sandbox, "/eksamen/liste", &[("institusjonsnr", "999")]).await;
    assert_eq!((status, unknown), (200, json!([])));

    let (status, with_a) = get(
        &sandbox,
        "/eksamen/hjelpemiddel",
        &[("institusjonsnr", "185"), ("hjelpemiddel", "A")],
    )
    .await;
    assert_eq!(status, 200);
    let expected: Vec<String> = exams
        .iter()
        .filter(|e| e.aids.contains(&"A".to_owned()))
        .map(|e| e.course_code.clone())
        .collect();
    assert!(expected.contains(&"INF100".to_owned()));
    assert_eq!(courses(&with_a), expected);
    assert!(with_a
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e.get("kandidater").is_none()));
    let mut covered = BTreeSet::new();
    for aid in ["A", "B", "C", "D", "E"] {
        let (_, some) = get(
            &sandbox,
            "/eksamen/hjelpemiddel",
            &[("institusjonsnr", "185"), ("hjelpemiddel", aid)],
        )
        .await;
        assert!(!some.as_array().unwrap().is_empty(), "{aid}");
        covered.extend(courses(&some));
    }
    assert_eq!(covered.len(), 10);
    let (_, none) = get(
        &sandbox,
        "/eksamen/hjelpemiddel",
        &[("institusjonsnr", "185"), ("hjelpemiddel", "Z")],
    )
    .await;
    assert_eq!(none, json!([]));

    for (path, query, parameter) in [
        ("/eksamen/liste", vec![], "institusjonsnr"),
        (
            "/eksamen/liste",
            vec![("institusjonsnr", "UiO")],
            "institusjonsnr",
        ),
        (
            "/eksamen/hjelpemiddel",
            vec![("hjelpemiddel", "A")],
            "institusjonsnr",
        ),
        (
            "/eksamen/hjelpemiddel",
            vec![("institusjonsnr", "185")],
            "hjelpemiddel",
        ),
    ] {
        let (status, body) = get(&sandbox, path, &query).await;
        assert_eq!(status, 400, "{path} {query:?}");
        assert!(body["feil"].as_str().unwrap().contains(parameter), "{body}");
    }
    super::expect_violations(
        &sandbox,
        &[
            "GET /eksamen/liste: client request: required query parameter 'institusjonsnr' is missing",
            "GET /eksamen/liste: client request: query parameter 'institusjonsnr': at '': \"UiO\"",
            "GET /eksamen/hjelpemiddel: client request: required query parameter 'institusjonsnr'",
            "GET /eksamen/hjelpemiddel: client request: required query parameter 'hjelpemiddel'",
        ],
    );
}

#[tokio::test]
async fn exam_detail_lists_every_candidate_and_404s_in_another_system() {
    let sandbox = fs_sandbox().await;
    let request = sandbox.fs.explanation_requests("185")[0].clone();
    let vurd_id = request.assessment_id.clone();
    let (status, detail) = get(&sandbox, &format!("/eksamen/inspera/{vurd_id}"), &[]).await;
    assert_eq!(status, 200);
    let exam = sandbox
        .fs
        .exams("185")
        .into_iter()
        .find(|e| e.assessment_id == vurd_id)
        .unwrap();
    assert_eq!(detail, serde_json::to_value(&exam).unwrap());
    assert_eq!(detail["eksamenssystem"], "INSPERA");

    let numbers: Vec<String> = detail["kandidater"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kandidatnr"].as_str().unwrap().to_owned())
        .collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
    let involved: BTreeSet<String> = sandbox
        .fs
        .appeals("185")
        .into_iter()
        .filter(|a| a.assessment_id == vurd_id)
        .map(|a| a.candidate_number)
        .chain(
            sandbox
                .fs
                .explanation_requests("185")
                .into_iter()
                .filter(|r| r.assessment_id == vurd_id)
                .map(|r| r.candidate_number),
        )
        .collect();
    assert!(involved.contains(&request.candidate_number));
    assert_eq!(numbers.len(), involved.len() + 20);
    assert!(involved.iter().all(|n| numbers.contains(n)));
    let asker = detail["kandidater"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kandidatnr"] == request.candidate_number.as_str())
        .unwrap();
    assert_eq!(
        asker,
        &json!({
            "kandidatnr": request.candidate_number,
            "personlopenr": request.person_number,
            "brukernavn": request.username,
            "fornavn": request.first_name,
            "etternavn": request.last_name,
            "epost": request.email,
        })
    );

    let personal = sandbox.fs.personal_data();
    for candidate in &exam.candidates {
        for value in [
            &candidate.person_number,
            &candidate.username,
            &candidate.first_name,
            &candidate.last_name,
            &candidate.email,
        ] {
            assert!(personal.contains(value), "{value}");
        }
        assert!(!personal.contains(&candidate.candidate_number));
    }

    let expected_404 = json!({ "feil": "no exam with this vurdId in exam system WISEFLOW" });
    let (status, body) = get(&sandbox, &format!("/eksamen/WISEFLOW/{vurd_id}"), &[]).await;
    assert_eq!((status, body), (404, expected_404));
    let (status, body) = get(&sandbox, "/eksamen/INSPERA/bm9uZQ==", &[]).await;
    assert_eq!(status, 404);
    assert!(body["feil"].as_str().unwrap().contains("INSPERA"));

    let unauthorized = reqwest::Client::new()
        .get(format!("{}/eksamen/INSPERA/{vurd_id}", sandbox.fs_url))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    assert_eq!(sandbox.fs.request_count(), 4);
}

#[tokio::test]
async fn static_routes_win_over_the_exam_detail() {
    let sandbox = fs_sandbox().await;
    let query = [("institusjonsnr", "185"), ("siden", LONG_AGO)];
    let (status, appeals) = get(&sandbox, "/eksamen/klager/INSPERA", &query).await;
    assert_eq!(status, 200);
    assert_eq!(
        appeals,
        serde_json::to_value(sandbox.fs.appeals("185")).unwrap()
    );
    let (status, requests) = get(&sandbox, "/eksamen/begrunnelse/INSPERA", &query).await;
    assert_eq!(status, 200);
    assert_eq!(
        requests,
        serde_json::to_value(sandbox.fs.explanation_requests("185")).unwrap()
    );
    let (status, body) = get(&sandbox, "/eksamen/klager/INSPERA", &[("siden", LONG_AGO)]).await;
    assert_eq!(status, 400, "still the appeal list's parameter check");
    assert!(body["feil"].as_str().unwrap().contains("institusjonsnr"));
    super::expect_violations(
        &sandbox,
        &["required query parameter 'institusjonsnr' is missing"],
    );
}

#[tokio::test]
async fn an_exams_appeals_are_the_latest_change_per_candidate() {
    let sandbox = fs_sandbox().await;
    let changes = sandbox.fs.appeals("185");
    let withdrawn = changes
        .iter()
        .find(|a| a.status == AppealStatus::Withdrawn)
        .unwrap();
    let vurd_id = &withdrawn.assessment_id;
    let (status, appeals) = get(&sandbox, &format!("/eksamen/klager/INSPERA/{vurd_id}"), &[]).await;
    assert_eq!(status, 200);
    let list = appeals.as_array().unwrap();
    let numbers: Vec<&str> = list
        .iter()
        .map(|a| a["kandidatnr"].as_str().unwrap())
        .collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]));
    let candidates: BTreeSet<&str> = changes
        .iter()
        .filter(|a| &a.assessment_id == vurd_id)
        .map(|a| a.candidate_number.as_str())
        .collect();
    assert_eq!(numbers.iter().copied().collect::<BTreeSet<_>>(), candidates);
    for appeal in list {
        let latest = changes
            .iter()
            .rev()
            .find(|a| &a.assessment_id == vurd_id && a.candidate_number == appeal["kandidatnr"])
            .unwrap();
        assert_eq!(appeal, &serde_json::to_value(latest).unwrap());
    }
    let withdrawn_now = list
        .iter()
        .find(|a| a["kandidatnr"] == withdrawn.candidate_number.as_str())
        .unwrap();
    assert_eq!(withdrawn_now["klagestatus"], "TRUKKET");

    let (status, _) = get(
        &sandbox,
        &format!("/eksamen/klager/WISEFLOW/{vurd_id}"),
        &[],
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_exams_explanations_are_those_registered() {
    let sandbox = fs_sandbox().await;
    let requests = sandbox.fs.explanation_requests("185");
    let vurd_id = requests[0].assessment_id.clone();
    let same_exam: Vec<_> = requests
        .iter()
        .filter(|r| r.assessment_id == vurd_id)
        .collect();
    let path = format!("/eksamen/begrunnelser/INSPERA/{vurd_id}");
    let (status, none) = get(&sandbox, &path, &[]).await;
    assert_eq!((status, none), (200, json!([])));

    let first = same_exam[0];
    let (status, _) = post(
        &sandbox,
        "/eksamen/begrunnelser/INSPERA",
        &json!({
            "vurdId": vurd_id,
            "kandidatnr": first.candidate_number,
            "urlBegrunnelse": "https://inspera.example.no/begrunnelse/1",
            "datoBegrunnelseBedtOm": first.requested_at,
            "datoBegrunnelseGitt": "2026-11-22",
        }),
    )
    .await;
    assert_eq!(status, 201);
    let other_exam = requests
        .iter()
        .find(|r| r.assessment_id != vurd_id)
        .unwrap();
    let (status, _) = post(
        &sandbox,
        "/eksamen/begrunnelser/INSPERA",
        &json!({
            "vurdId": other_exam.assessment_id,
            "kandidatnr": other_exam.candidate_number,
            "dokumentBegrunnelse": "JVBERi0xLjQ=",
            "datoBegrunnelseBedtOm": other_exam.requested_at,
            "datoBegrunnelseGitt": "2026-11-22",
        }),
    )
    .await;
    assert_eq!(status, 201);

    let (status, listed) = get(&sandbox, &path, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        listed,
        json!([{
            "vurdId": vurd_id,
            "kandidatnr": first.candidate_number,
            "urlBegrunnelse": "https://inspera.example.no/begrunnelse/1",
            "datoBegrunnelseBedtOm": first.requested_at,
            "datoBegrunnelseGitt": "2026-11-22",
        }])
    );
    let (_, document) = get(
        &sandbox,
        &format!("/eksamen/begrunnelser/inspera/{}", other_exam.assessment_id),
        &[],
    )
    .await;
    assert_eq!(document[0]["dokumentBegrunnelse"], "JVBERi0xLjQ=");
    assert!(document[0].get("urlBegrunnelse").is_none());
    assert!(document[0].get("contentTypeBegrunnelse").is_none());

    let (status, _) = get(
        &sandbox,
        &format!("/eksamen/begrunnelser/WISEFLOW/{vurd_id}"),
        &[],
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn grades_register_all_or_nothing_and_count_changes() {
    let sandbox = fs_sandbox().await;
    let exam = seeded_exam(&sandbox, "185", "INF100");
    let [c0, c1, c2]: [String; 3] = candidates(&exam, 3).try_into().unwrap();
    let path = "/eksamen/sensur/INSPERA/registrer";
    let grades = |list: Value| json!({ "vurdId": exam.assessment_id, "karakterer": list });

    let (status, body) = post(
        &sandbox,
        path,
        &grades(json!([
            { "kandidatnr": c0, "karakter": "A" },
            { "kandidatnr": c1, "karakter": "B" },
        ])),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "registrert": 2, "uendret": 0, "endret": 0 }));

    // "G" is outside the A-F scale; FS stores it anyway, which is the risk
    // the DigEks proxy must guard against.
    let (status, body) = post(
        &sandbox,
        "/eksamen/sensur/inspera/registrer",
        &grades(json!([
            { "kandidatnr": c0, "karakter": "A" },
            { "kandidatnr": c1, "karakter": "C" },
            { "kandidatnr": c2, "karakter": "G" },
        ])),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "registrert": 1, "uendret": 1, "endret": 1 }));
    let before = sandbox.fs.registered_grades();
    let summary: Vec<(&str, &str, u32, u32)> = before
        .iter()
        .map(|g| {
            (
                g.candidate_number.as_str(),
                g.grade.as_str(),
                g.registrations,
                g.changes,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (c0.as_str(), "A", 2, 0),
            (c1.as_str(), "C", 2, 1),
            (c2.as_str(), "G", 1, 0)
        ]
    );
    assert!(before
        .iter()
        .all(|g| g.exam_system == "INSPERA" && g.assessment_id == exam.assessment_id));

    let (status, body) = post(
        &sandbox,
        path,
        &grades(json!([
            { "kandidatnr": c0, "karakter": "F" },
            { "kandidatnr": c1, "karakter": "F" },
            { "kandidatnr": "0", "karakter": "F" },
        ])),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["feil"],
        "karakterer[2].kandidatnr 0 is not a candidate of this exam"
    );
    let (status, body) = post(
        &sandbox,
        path,
        &grades(
            json!([{ "kandidatnr": c0, "karakter": "F" }, { "kandidatnr": c1, "karakter": " " }]),
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["feil"]
        .as_str()
        .unwrap()
        .contains("karakterer[1].karakter"));
    let (status, body) = post(&sandbox, path, &grades(json!([{ "karakter": "F" }]))).await;
    assert_eq!(status, 400);
    assert!(body["feil"]
        .as_str()
        .unwrap()
        .contains("karakterer[0].kandidatnr"));
    let (status, body) = post_raw(&sandbox, path, "karakter: A".to_owned()).await;
    assert_eq!(status, 400);
    assert!(body["feil"].is_string());
    let (status, body) = post(&sandbox, path, &json!({ "vurdId": exam.assessment_id })).await;
    assert_eq!(status, 400);
    assert!(body["feil"].as_str().unwrap().contains("karakterer"));
    let (status, body) = post(
        &sandbox,
        "/eksamen/sensur/WISEFLOW/registrer",
        &grades(json!([{ "kandidatnr": c0, "karakter": "F" }])),
    )
    .await;
    assert_eq!(status, 404);
    assert!(body["feil"].as_str().unwrap().contains("WISEFLOW"));
    assert_eq!(
        sandbox.fs.registered_grades(),
        before,
        "nothing of a rejected batch"
    );

    let pass_fail = seeded_exam(&sandbox, "194", "SOS100");
    let (status, body) = post(
        &sandbox,
        "/eksamen/sensur/WISEFLOW/registrer",
        &json!({
            "vurdId": pass_fail.assessment_id,
            "karakterer": [{ "kandidatnr": pass_fail.candidates[0].candidate_number, "karakter": "B" }],
        }),
    )
    .await;
    assert_eq!((status, body["registrert"].clone()), (200, json!(1)));
    let last = sandbox.fs.registered_grades().pop().unwrap();
    assert_eq!(
        (last.exam_system.as_str(), last.grade.as_str()),
        ("WISEFLOW", "B")
    );
    super::expect_violations(
        &sandbox,
        &[
            "the body is not JSON",
            "\"karakterer\" is a required property",
        ],
    );
}

#[tokio::test]
async fn validation_lists_problems_and_registers_nothing() {
    let sandbox = fs_sandbox().await;
    let exam = seeded_exam(&sandbox, "194", "MAT111");
    let [c0, c1]: [String; 2] = candidates(&exam, 2).try_into().unwrap();
    let path = "/eksamen/sensur/WISEFLOW/valider";
    let (status, body) = post(
        &sandbox,
        path,
        &json!({
            "vurdId": exam.assessment_id,
            "karakterer": [{ "kandidatnr": c0, "karakter": "A" }, { "kandidatnr": c1, "karakter": "X" }],
        }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "gyldig": true, "feil": [] }));

    let (status, body) = post(
        &sandbox,
        path,
        &json!({
            "vurdId": exam.assessment_id,
            "karakterer": [
                { "kandidatnr": c0, "karakter": "A" },
                { "kandidatnr": "99", "karakter": "B" },
                { "kandidatnr": c1, "karakter": "" },
            ],
        }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "gyldig": false,
            "feil": [
                { "kandidatnr": "99", "melding": "karakterer[1].kandidatnr 99 is not a candidate of this exam" },
                { "kandidatnr": c1, "melding": "karakterer[2].karakter is missing or blank" },
            ],
        })
    );
    assert_eq!(sandbox.fs.validations(), 2);

    let (status, _) = post_raw(&sandbox, path, "[".to_owned()).await;
    assert_eq!(status, 400);
    let (status, _) = post(
        &sandbox,
        path,
        &json!({ "vurdId": exam.assessment_id, "karakterer": "A" }),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = post(
        &sandbox,
        "/eksamen/sensur/INSPERA/valider",
        &json!({ "vurdId": exam.assessment_id, "karakterer": [] }),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(sandbox.fs.validations(), 2);
    assert!(sandbox.fs.registered_grades().is_empty());
    super::expect_violations(
        &sandbox,
        &[
            "the body is not JSON",
            "at '/karakterer': \"A\" is not of type \"array\"",
        ],
    );
}

#[tokio::test]
async fn attendance_keeps_the_latest_status() {
    let sandbox = fs_sandbox().await;
    let exam = seeded_exam(&sandbox, "185", "JUS121");
    let [c0, c1]: [String; 2] = candidates(&exam, 2).try_into().unwrap();
    let path = "/eksamen/oppmote/INSPERA/registrer";
    let body = |list: Value| json!({ "vurdId": exam.assessment_id, "oppmote": list });
    let (status, answer) = post(
        &sandbox,
        path,
        &body(json!([{ "kandidatnr": c0, "status": "MOTT" }, { "kandidatnr": c1, "status": "IKKE_MOTT" }])),
    )
    .await;
    assert_eq!((status, answer), (200, json!({ "registrert": 2 })));
    let (status, answer) = post(
        &sandbox,
        path,
        &body(json!([{ "kandidatnr": c0, "status": "IKKE_MOTT" }])),
    )
    .await;
    assert_eq!((status, answer), (200, json!({ "registrert": 1 })));

    let (status, answer) = post(
        &sandbox,
        path,
        &body(
            json!([{ "kandidatnr": c1, "status": "MOTT" }, { "kandidatnr": c0, "status": "SYK" }]),
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["feil"],
        "oppmote[1].status must be MOTT or IKKE_MOTT"
    );
    let (status, _) = post(
        &sandbox,
        path,
        &body(json!([{ "kandidatnr": c1, "status": "MOTT" }, { "kandidatnr": "1", "status": "MOTT" }])),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = post(
        &sandbox,
        "/eksamen/oppmote/WISEFLOW/registrer",
        &body(json!([{ "kandidatnr": c1, "status": "MOTT" }])),
    )
    .await;
    assert_eq!(status, 404);

    let attendance: Vec<(String, AttendanceStatus, u32)> = sandbox
        .fs
        .attendance()
        .into_iter()
        .map(|a| (a.candidate_number, a.status, a.registrations))
        .collect();
    assert_eq!(
        attendance,
        [
            (c0, AttendanceStatus::Absent, 2),
            (c1, AttendanceStatus::Absent, 1)
        ]
    );
}

#[tokio::test]
async fn group_ids_keep_the_latest_value() {
    let sandbox = fs_sandbox().await;
    let exam = seeded_exam(&sandbox, "194", "BIO101");
    let [c0, c1]: [String; 2] = candidates(&exam, 2).try_into().unwrap();
    let path = "/eksamen/gruppeid/WISEFLOW/registrer";
    let body = |list: Value| json!({ "vurdId": exam.assessment_id, "grupper": list });
    let (status, answer) = post(
        &sandbox,
        path,
        &body(
            json!([{ "kandidatnr": c0, "gruppeid": "G1" }, { "kandidatnr": c1, "gruppeid": "G1" }]),
        ),
    )
    .await;
    assert_eq!((status, answer), (200, json!({ "registrert": 2 })));
    let (status, answer) = post(
        &sandbox,
        path,
        &body(json!([{ "kandidatnr": c1, "gruppeid": "G2" }])),
    )
    .await;
    assert_eq!((status, answer), (200, json!({ "registrert": 1 })));
    let (status, answer) = post(
        &sandbox,
        path,
        &body(json!([{ "kandidatnr": c0, "gruppeid": "G3" }, { "kandidatnr": c1 }])),
    )
    .await;
    assert_eq!(status, 400);
    assert!(answer["feil"]
        .as_str()
        .unwrap()
        .contains("grupper[1].gruppeid"));
    let (status, _) = post(
        &sandbox,
        "/eksamen/gruppeid/INSPERA/registrer",
        &body(json!([{ "kandidatnr": c0, "gruppeid": "G3" }])),
    )
    .await;
    assert_eq!(status, 404);

    let groups: Vec<(String, String, u32)> = sandbox
        .fs
        .group_ids()
        .into_iter()
        .map(|g| (g.candidate_number, g.group_id, g.registrations))
        .collect();
    assert_eq!(groups, [(c0, "G1".to_owned(), 1), (c1, "G2".to_owned(), 2)]);
}
