//! The FS DigEks API: Basic auth, change lists filtered by institution, exam
//! system and `siden`, idempotent registrations and faults.

use chrono::Utc;
use flyt_sandbox::{
    AppealStatus, Decision, Faults, FsAppeal, FsInstitution, Sandbox, SandboxOptions,
};
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
async fn get(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    path: &str,
    query: &[(&str, &str)],
) -> (u16, Value) {
    let response = client
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

/// `POST {path}` with the right credentials; returns status and JSON body.
async fn post(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let response = client
        .post(format!("{}{path}", sandbox.fs_url))
        .basic_auth(USER, Some(PASSWORD))
        .json(body)
        .send()
        .await
        .expect("fs request");
    (
        response.status().as_u16(),
        response.json().await.expect("json body"),
    )
}

fn strings(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|item| item[field].as_str().expect("a string field").to_owned())
        .collect()
}

#[tokio::test]
async fn every_route_needs_basic_auth() {
    let sandbox = fs_sandbox().await;
    let client = reqwest::Client::new();
    let url = format!("{}/eksamen/klager/INSPERA", sandbox.fs_url);
    let query = [("institusjonsnr", "185"), ("siden", LONG_AGO)];
    let missing = client.get(&url).query(&query).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Basic realm=\"FS\"");
    let body: Value = missing.json().await.unwrap();
    assert!(body["feil"].as_str().unwrap().contains("Authorization"));

    let wrong = client
        .get(&url)
        .basic_auth(USER, Some("local-fs-passwore"))
        .query(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let wrong_post = client
        .post(format!("{}/eksamen/vedtak/INSPERA", sandbox.fs_url))
        .basic_auth("someone", Some(PASSWORD))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_post.status(), 401);
    super::expect_violations(&sandbox, &["\"vurdId\" is a required property"]);

    let (status, _) = get(&client, &sandbox, "/eksamen/klager/INSPERA", &query).await;
    assert_eq!(status, 200);
    assert_eq!(sandbox.fs.request_count(), 4);
    assert!(sandbox.fs.registered_decisions().is_empty());
}

#[tokio::test]
async fn appeals_are_filtered_by_institution_exam_system_and_since() {
    let sandbox = fs_sandbox().await;
    let client = reqwest::Client::new();
    let query = [("institusjonsnr", "185"), ("siden", LONG_AGO)];

    let (status, inspera) = get(&client, &sandbox, "/eksamen/klager/inspera", &query).await;
    assert_eq!(status, 200);
    let seeded = sandbox.fs.appeals("185");
    assert_eq!(serde_json::to_value(&seeded).unwrap(), inspera);
    assert!(inspera
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["institusjonsnr"] == "185" && a["versjonskode"] == "1"));
    let times = strings(&inspera, "endretDato");
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    let first = &inspera[0];
    for field in [
        "vurdId",
        "kandidatnr",
        "personlopenr",
        "brukernavn",
        "epost",
    ] {
        assert!(!first[field].as_str().unwrap().is_empty(), "{field}");
    }
    assert!(first["kommisjonsidNy"].is_null() || first["kommisjonsidNy"].is_string());
    assert_eq!(first["sisKode"].as_str().unwrap().split("||").count(), 4);

    let (_, other_system) = get(&client, &sandbox, "/eksamen/klager/WISEFLOW", &query).await;
    assert_eq!(other_system, json!([]));
    let (status, unknown) = get(
        &client,
        &sandbox,
        "/eksamen/klager/INSPERA",
        &[("institusjonsnr", "999"), ("siden", LONG_AGO)],
    )
    .await;
    assert_eq!((status, unknown), (200, json!([])));
    let (_, wiseflow) = get(
        &client,
        &sandbox,
        "/eksamen/klager/WISEFLOW",
        &[("institusjonsnr", "194"), ("siden", LONG_AGO)],
    )
    .await;
    assert_eq!(
        strings(&wiseflow, "vurdId"),
        strings(
            &serde_json::to_value(sandbox.fs.appeals("194")).unwrap(),
            "vurdId"
        )
    );

    let middle = &times[times.len() / 2];
    let (_, recent) = get(
        &client,
        &sandbox,
        "/eksamen/klager/INSPERA",
        &[("institusjonsnr", "185"), ("siden", middle.as_str())],
    )
    .await;
    let expected: Vec<&String> = times.iter().filter(|t| *t >= middle).collect();
    assert_eq!(strings(&recent, "endretDato").len(), expected.len());

    let saved = Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
    let (_, nothing_new) = get(
        &client,
        &sandbox,
        "/eksamen/klager/INSPERA",
        &[("institusjonsnr", "185"), ("siden", &saved)],
    )
    .await;
    assert_eq!(nothing_new, json!([]));
    let later = (Utc::now() + chrono::Duration::minutes(1))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let appended = sandbox.fs.append_appeal(FsAppeal {
        status: AppealStatus::Withdrawn,
        changed_at: later.clone(),
        ..seeded[0].clone()
    });
    assert_eq!(appended.changed_at, later);
    let (_, since_saved) = get(
        &client,
        &sandbox,
        "/eksamen/klager/INSPERA",
        &[("institusjonsnr", "185"), ("siden", &saved)],
    )
    .await;
    assert_eq!(
        since_saved,
        json!([serde_json::to_value(&appended).unwrap()])
    );
    assert_eq!(since_saved[0]["klagestatus"], "TRUKKET");
}

#[tokio::test]
async fn about_a_tenth_of_appeals_is_withdrawn_later() {
    let sandbox = fs_sandbox().await;
    let appeals = sandbox.fs.appeals("194");
    let withdrawn: Vec<&FsAppeal> = appeals
        .iter()
        .filter(|a| a.status == AppealStatus::Withdrawn)
        .collect();
    assert_eq!(appeals.len(), 55);
    assert_eq!(withdrawn.len(), 5);
    for change in withdrawn {
        assert!(appeals.iter().any(|a| a.status == AppealStatus::Active
            && a.assessment_id == change.assessment_id
            && a.candidate_number == change.candidate_number
            && a.changed_at < change.changed_at));
    }
}

#[tokio::test]
async fn bad_parameters_are_named_in_400s() {
    let sandbox = fs_sandbox().await;
    let client = reqwest::Client::new();
    for (path, query, parameter) in [
        (
            "/eksamen/klager/INSPERA",
            vec![("institusjonsnr", "185"), ("siden", "21.11.2026")],
            "siden",
        ),
        (
            "/eksamen/klager/INSPERA",
            vec![("institusjonsnr", "185")],
            "siden",
        ),
        (
            "/eksamen/begrunnelse/INSPERA",
            vec![("siden", LONG_AGO)],
            "institusjonsnr",
        ),
        (
            "/eksamen/begrunnelse/INSPERA",
            vec![("institusjonsnr", "UiB"), ("siden", LONG_AGO)],
            "institusjonsnr",
        ),
    ] {
        let (status, body) = get(&client, &sandbox, path, &query).await;
        assert_eq!(status, 400, "{query:?}");
        assert!(body["feil"].as_str().unwrap().contains(parameter), "{body}");
    }
    super::expect_violations(
        &sandbox,
        &[
            "query parameter 'siden': at '': \"21.11.2026\" does not match",
            "required query parameter 'siden' is missing",
            "required query parameter 'institusjonsnr' is missing",
            "query parameter 'institusjonsnr': at '': \"UiB\" does not match",
        ],
    );
    let (status, requests) = get(
        &client,
        &sandbox,
        "/eksamen/begrunnelse/INSPERA",
        &[("institusjonsnr", "185"), ("siden", "2000-01-01T00:00:00")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        requests,
        serde_json::to_value(sandbox.fs.explanation_requests("185")).unwrap()
    );
    assert_eq!(requests.as_array().unwrap().len(), 30);
}

#[tokio::test]
async fn explanations_register_once_and_count_repeats() {
    let sandbox = fs_sandbox().await;
    let client = reqwest::Client::new();
    let requests = sandbox.fs.explanation_requests("185");
    let explanation = |request: usize| {
        json!({
            "vurdId": requests[request].assessment_id,
            "kandidatnr": requests[request].candidate_number,
            "urlBegrunnelse": "https://inspera.example.no/begrunnelse/1",
            "datoBegrunnelseBedtOm": requests[request].requested_at,
            "datoBegrunnelseGitt": "2026-11-22",
        })
    };
    let path = "/eksamen/begrunnelser/INSPERA";
    let (status, body) = post(&client, &sandbox, path, &explanation(0)).await;
    assert_eq!((status, body), (201, json!({ "status": "registrert" })));
    let (status, body) = post(&client, &sandbox, path, &explanation(0)).await;
    assert_eq!((status, body), (200, json!({ "status": "uendret" })));

    let mut document = explanation(1);
    document.as_object_mut().unwrap().remove("urlBegrunnelse");
    document["dokumentBegrunnelse"] = json!("JVBERi0xLjQ=");
    document["contentTypeBegrunnelse"] = json!("application/pdf");
    let (status, _) = post(&client, &sandbox, path, &document).await;
    assert_eq!(status, 201);

    let mut both = explanation(2);
    both["dokumentBegrunnelse"] = json!("JVBERi0xLjQ=");
    let (status, body) = post(&client, &sandbox, path, &both).await;
    assert_eq!(status, 400);
    let message = body["feil"].as_str().unwrap();
    assert!(message.contains("urlBegrunnelse") && message.contains("dokumentBegrunnelse"));

    let mut unknown = explanation(2);
    unknown["vurdId"] = json!("MTg1LU5PTkUtMS0yMDI2LUjDmFNULTE=");
    let (status, body) = post(&client, &sandbox, path, &unknown).await;
    assert_eq!(status, 404);
    assert!(body["feil"].is_string());
    let (status, _) = post(
        &client,
        &sandbox,
        "/eksamen/begrunnelser/WISEFLOW",
        &explanation(2),
    )
    .await;
    assert_eq!(status, 404);

    let registered = sandbox.fs.registered_explanations();
    assert_eq!(registered.len(), 2);
    assert_eq!(registered[0].count, 2);
    assert_eq!(registered[0].exam_system, "INSPERA");
    assert_eq!(registered[0].candidate_number, requests[0].candidate_number);
    assert_eq!(registered[1].document.as_deref(), Some(&b"%PDF-1.4"[..]));
    assert_eq!(registered[1].count, 1);
    assert_eq!(sandbox.fs.duplicate_registrations(), 1);
}

#[tokio::test]
async fn decisions_validate_the_new_grade() {
    let sandbox = fs_sandbox().await;
    let client = reqwest::Client::new();
    let appeals = sandbox.fs.appeals("194");
    let withdrawn = appeals
        .iter()
        .find(|a| a.status == AppealStatus::Withdrawn)
        .unwrap();
    let active = appeals
        .iter()
        .find(|a| {
            !appeals.iter().any(|b| {
                b.status == AppealStatus::Withdrawn && b.candidate_number == a.candidate_number
            })
        })
        .unwrap();
    let decision = |appeal: &FsAppeal, vedtak: &str| {
        json!({
            "vurdId": appeal.assessment_id,
            "kandidatnr": appeal.candidate_number,
            "vedtak": vedtak,
            "dato": "2026-11-22",
        })
    };
    let path = "/eksamen/vedtak/WISEFLOW";
    let (status, body) = post(&client, &sandbox, path, &decision(active, "ENDRET")).await;
    assert_eq!(status, 400);
    assert!(body["feil"].as_str().unwrap().contains("nyKarakter"));
    let (status, body) = post(&client, &sandbox, path, &decision(active, "KANSKJE")).await;
    assert_eq!(status, 400);
    assert!(body["feil"].as_str().unwrap().contains("vedtak"));
    super::expect_violations(&sandbox, &["at '/vedtak': \"KANSKJE\" is not one of"]);

    let mut changed = decision(active, "ENDRET");
    changed["nyKarakter"] = json!("B");
    assert_eq!(post(&client, &sandbox, path, &changed).await.0, 201);
    assert_eq!(post(&client, &sandbox, path, &changed).await.0, 200);
    let upheld = decision(withdrawn, "OPPRETTHOLDT");
    assert_eq!(post(&client, &sandbox, path, &upheld).await.0, 201);
    let (status, _) = post(
        &client,
        &sandbox,
        "/eksamen/vedtak/INSPERA",
        &decision(active, "OPPRETTHOLDT"),
    )
    .await;
    assert_eq!(status, 404);

    let registered = sandbox.fs.registered_decisions();
    assert_eq!(registered.len(), 2);
    assert_eq!(registered[0].decision, Decision::Changed);
    assert_eq!(registered[0].new_grade.as_deref(), Some("B"));
    assert_eq!((registered[0].count, registered[0].withdrawn), (2, false));
    assert_eq!((registered[1].count, registered[1].withdrawn), (1, true));
    assert_eq!(sandbox.fs.duplicate_registrations(), 1);
}

#[tokio::test]
async fn a_full_error_rate_answers_503_and_registers_nothing() {
    let sandbox = fs_sandbox().await;
    let client = reqwest::Client::new();
    let request = &sandbox.fs.explanation_requests("185")[0];
    let body = json!({
        "vurdId": request.assessment_id,
        "kandidatnr": request.candidate_number,
        "urlBegrunnelse": "https://inspera.example.no/begrunnelse/2",
        "datoBegrunnelseBedtOm": request.requested_at,
        "datoBegrunnelseGitt": "2026-11-22T10:00:00",
    });
    let set = client
        .put(format!("{}/_sandbox/faults", sandbox.fs_url))
        .json(&json!({ "error_rate": 1.0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    assert_eq!(sandbox.fs.faults().error_rate, 1.0);
    for _ in 0..3 {
        let (status, error) = post(&client, &sandbox, "/eksamen/begrunnelser/INSPERA", &body).await;
        assert_eq!(status, 503);
        assert!(error["feil"].is_string());
    }
    assert!(sandbox.fs.registered_explanations().is_empty());
    assert_eq!(sandbox.fs.request_count(), 3);

    sandbox.fs.set_faults(Faults::default());
    let (status, _) = post(&client, &sandbox, "/eksamen/begrunnelser/INSPERA", &body).await;
    assert_eq!(status, 201);
    assert_eq!(sandbox.fs.registered_explanations().len(), 1);
}

#[tokio::test]
async fn admin_routes_append_appeals_and_report_state() {
    let sandbox = Sandbox::start(SandboxOptions {
        objects: 5,
        descriptions: 5,
        institutions: vec![FsInstitution::new("1234", "Inspera")],
        appeals_per_institution: 10,
        explanations_per_institution: 4,
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let appended: Value = client
        .post(format!("{}/_sandbox/klager", sandbox.fs_url))
        .json(&json!({
            "vurdId": "dGVzdA==",
            "kandidatnr": "12345",
            "institusjonsnr": "1234",
            "fornavn": "Testkandidat",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(appended["klagestatus"], "AKTIV");
    assert_eq!(appended["endretDato"].as_str().unwrap().len(), 19);
    let appeals = sandbox.fs.appeals("1234");
    assert_eq!(appeals.len(), 12);
    assert_eq!(appeals.last().unwrap().first_name, "Testkandidat");
    assert!(sandbox
        .fs
        .personal_data()
        .contains(&"Testkandidat".to_owned()));

    let rejected = client
        .post(format!("{}/_sandbox/klager", sandbox.fs_url))
        .json(&json!({ "vurdId": "dGVzdA==", "kandidatnr": "1", "institusjonsnr": "185" }))
        .send()
        .await
        .unwrap();
    assert_eq!(rejected.status(), 400);

    let state: Value = client
        .get(format!("{}/_sandbox/state", sandbox.fs_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["appeals"], 12);
    assert_eq!(state["explanation_requests"], 4);
    assert_eq!(state["exams"], 10);
    assert_eq!(state["registered_grades"], 0);
    assert_eq!(state["validations"], 0);
    assert_eq!(state["request_count"], 0);
    assert_eq!(state["faults"]["down"], false);
}

#[tokio::test]
async fn personal_data_covers_every_seeded_person() {
    let sandbox = fs_sandbox().await;
    let personal = sandbox.fs.personal_data();
    for appeal in sandbox.fs.appeals("185") {
        for value in [
            &appeal.person_number,
            &appeal.username,
            &appeal.first_name,
            &appeal.last_name,
            &appeal.email,
        ] {
            assert!(personal.contains(value), "{value}");
        }
    }
    for request in sandbox.fs.explanation_requests("194") {
        assert!(personal.contains(&request.email));
        assert!(!personal.contains(&request.candidate_number));
    }
}

#[tokio::test]
async fn registration_answers_held_back_or_never_given_are_counted() {
    let sandbox = fs_sandbox().await;
    let request = &sandbox.fs.explanation_requests("185")[0];
    let body = json!({
        "vurdId": request.assessment_id,
        "kandidatnr": request.candidate_number,
        "urlBegrunnelse": "https://inspera.example.no/begrunnelse/3",
        "datoBegrunnelseBedtOm": request.requested_at,
        "datoBegrunnelseGitt": "2026-11-22T10:00:00",
    });
    sandbox.fs.set_faults(Faults {
        timeout_rate: 1.0,
        timeout_delay_ms: 3000,
        ..Faults::default()
    });
    // A caller that gives up before the answer: the registration is made, the answer lost. It
    // waits long enough for its request to reach the server on a busy machine.
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(1000))
        .build()
        .unwrap();
    let sent = impatient
        .post(format!("{}/eksamen/begrunnelser/INSPERA", sandbox.fs_url))
        .basic_auth(USER, Some(PASSWORD))
        .json(&body)
        .send()
        .await;
    assert!(sent.is_err(), "the answer came too late");
    // A patient caller gets its answer, late.
    let client = reqwest::Client::new();
    let (status, _) = post(&client, &sandbox, "/eksamen/begrunnelser/INSPERA", &body).await;
    assert_eq!(status, 200, "the lost answer's registration was made");
    // Lists are not registrations: a held-back list answer is not counted.
    get(
        &client,
        &sandbox,
        "/eksamen/begrunnelse/INSPERA",
        &[("institusjonsnr", "185"), ("siden", "2000-01-01T00:00:00")],
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(sandbox.fs.late_registration_answers(), 2);
    assert_eq!(sandbox.fs.duplicate_registrations(), 1);

    sandbox.fs.set_faults(Faults::default());
    let (status, _) = post(&client, &sandbox, "/eksamen/begrunnelser/INSPERA", &body).await;
    assert_eq!(status, 200);
    assert_eq!(
        sandbox.fs.late_registration_answers(),
        2,
        "a prompt answer is not counted"
    );
}
