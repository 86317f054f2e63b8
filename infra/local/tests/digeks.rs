//! The DigEks proxy behind the local API Gateway and its Lambda authorizer, against the sandbox's
//! FS: who may do what (the authorisation matrix), bad and revoked credentials, validation before
//! anything reaches FS, the grade-scale check, the rate limit and the OpenAPI document.

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::digeks::{
    bearer, call, client, digeks_platform, digeks_platform_with, every_operation, registrations,
    send, INSTITUTIONS,
};
use flyt::institution::{ExamSystem, InstitutionStore};
use flyt_local::platform::LOCAL_AUTHORIZER_CACHE_SECONDS;
use flyt_sandbox::{FsInstitution, Sandbox, SandboxOptions};
use serde_json::json;

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

fn system_of(nr: &str) -> &'static str {
    INSTITUTIONS.iter().find(|(n, _)| *n == nr).unwrap().1
}

/// Each client × each institution × each operation: a client acts only for its grant. Another
/// institution's data is 403 (404 for an exam that is not in the client's exam system at all),
/// another exam system's path is 403, and nothing of a refused call is registered in FS.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_authorisation_matrix_holds_for_every_client_institution_and_operation() {
    let local = digeks_platform().await;
    let clients = [
        ("inspera", ExamSystem::Inspera, vec!["185"]),
        ("wiseflow", ExamSystem::Wiseflow, vec!["194", "186"]),
    ];
    let mut keys = Vec::new();
    for (id, system, institutions) in &clients {
        let key = local
            .digeks_client(&client(id, *system, institutions, 10_000))
            .await
            .unwrap();
        keys.push((*system, institutions.clone(), key));
    }
    // Every refused combination first: afterwards FS must hold no registration at all.
    let mut refused = 0;
    for (system, granted, key) in &keys {
        for (nr, nr_system) in INSTITUTIONS {
            if granted.contains(&nr) {
                continue;
            }
            for request in every_operation(&local, nr, system.as_str()) {
                let answer = send(&local, &request, &bearer(key)).await;
                let query_based = request.path.contains("institusjonsnr=");
                let expected = if query_based || nr_system == system.as_str() {
                    403
                } else {
                    404
                };
                assert_eq!(
                    answer.status, expected,
                    "{system} client, institution {nr}, {}: {}",
                    request.operation, answer.body
                );
                refused += 1;
            }
            // The other exam system's paths are refused whatever the institution.
            let other = if system.as_str() == "INSPERA" {
                "WISEFLOW"
            } else {
                "INSPERA"
            };
            for request in every_operation(&local, nr, other)
                .into_iter()
                .filter(|r| r.path.contains(other))
            {
                let answer = send(&local, &request, &bearer(key)).await;
                assert_eq!(
                    answer.status, 403,
                    "{system} client using {other}: {}",
                    request.operation
                );
                assert_eq!(answer.body["category"], "forbidden");
                refused += 1;
            }
        }
    }
    assert!(refused > 50, "{refused} refused calls");
    assert_eq!(
        registrations(&local),
        [0; 5],
        "nothing of a refused call reached FS's registers"
    );

    // Every granted combination succeeds.
    for (system, granted, key) in &keys {
        for nr in granted {
            assert_eq!(system_of(nr), system.as_str());
            for request in every_operation(&local, nr, system.as_str()) {
                let answer = send(&local, &request, &bearer(key)).await;
                assert!(
                    (200..300).contains(&answer.status),
                    "{system} client, own institution {nr}, {}: {} {}",
                    request.operation,
                    answer.status,
                    answer.body
                );
            }
        }
    }
    let [grades, attendance, groups, explanations, decisions] = registrations(&local);
    assert_eq!(
        (grades, attendance, groups, explanations, decisions),
        (9, 3, 3, 3, 3)
    );
}

/// Missing, malformed, unknown, forged and revoked credentials are 401 with `WWW-Authenticate`;
/// the key in either Basic form and the password variant work; a revoked key stops working
/// within the authorizer's cache window.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_credentials_are_401_and_a_revoked_key_fails_within_the_cache_window() {
    let local = digeks_platform().await;
    let registry = local.api_clients();
    let key = local
        .digeks_client(&client("inspera", ExamSystem::Inspera, &["185"], 10_000))
        .await
        .unwrap();
    let second = registry.issue_key("inspera").await.unwrap();
    assert!(
        registry.issue_key("inspera").await.is_err(),
        "a third live key is refused"
    );
    registry
        .set_password("inspera", Some("a long local password"))
        .await
        .unwrap();
    let path = "/v1/eksamen/liste?institusjonsnr=185";
    for good in [
        bearer(&key),
        bearer(&second.key),
        basic("direkteAPIKEY", &key),
        basic("inspera", "a long local password"),
    ] {
        assert_eq!(
            call(&local, "GET", path, Some(&good), None).await.status,
            200
        );
    }
    let (_, secret) = key.rsplit_once('_').unwrap();
    let wrong_secret = key.replace(secret, &"A".repeat(secret.len()));
    let unknown_id = format!("flyt_{}_{secret}", "0".repeat(12));
    for bad in [
        None,
        Some("Bearer".to_owned()),
        Some("Bearer not-a-key".to_owned()),
        Some(bearer(&wrong_secret)),
        Some(bearer(&unknown_id)),
        Some(basic("inspera", "a wrong password")),
        Some(basic("nobody", "a long local password")),
        Some("Digest abc".to_owned()),
    ] {
        let answer = call(&local, "GET", path, bad.as_deref(), None).await;
        assert_eq!(answer.status, 401, "{bad:?}: {}", answer.body);
        if bad.is_some() {
            assert_eq!(answer.body["category"], "authentication");
            assert!(answer.headers.contains_key("www-authenticate"));
        }
    }
    let fs_requests = local.sandbox.fs.request_count();

    // Revocation: within the cache window the key may still work; after it, never.
    let key_id = key.split('_').nth(1).unwrap();
    registry.revoke_key(key_id).await.unwrap();
    let revoked = Instant::now();
    let window = Duration::from_secs(LOCAL_AUTHORIZER_CACHE_SECONDS);
    let mut refused_after = None;
    while revoked.elapsed() < window * 3 {
        let status = call(&local, "GET", path, Some(&bearer(&key)), None)
            .await
            .status;
        if status == 401 {
            refused_after.get_or_insert(revoked.elapsed());
        } else {
            assert_eq!(status, 200);
            assert!(
                refused_after.is_none(),
                "a revoked key, once refused, stays refused"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let refused_after = refused_after.expect("the revoked key was refused");
    assert!(
        refused_after <= window + Duration::from_secs(1),
        "refused {refused_after:?} after revocation; the window is {window:?}"
    );
    // The other key and the client's rotation go on; a new key can be issued again.
    assert_eq!(
        call(&local, "GET", path, Some(&bearer(&second.key)), None)
            .await
            .status,
        200
    );
    let third = registry.issue_key("inspera").await.unwrap();
    assert_eq!(
        call(&local, "GET", path, Some(&bearer(&third.key)), None)
            .await
            .status,
        200
    );
    assert!(local.sandbox.fs.request_count() > fs_requests);
}

/// Traversal, smuggling and injection attempts, malformed bodies and grades outside the exam's
/// scale are 4xx naming the field, and never reach FS.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_requests_are_400_naming_the_field_and_never_reach_fs() {
    let local = digeks_platform().await;
    let key = local
        .digeks_client(&client("wiseflow", ExamSystem::Wiseflow, &["194"], 10_000))
        .await
        .unwrap();
    let auth = bearer(&key);
    let exam = local.sandbox.fs.exams("194")[0].clone();
    let id = exam.assessment_id.clone();
    let candidate = exam.candidates[0].candidate_number.clone();
    let before = local.sandbox.fs.request_count();
    let cases: Vec<(&str, String, Option<serde_json::Value>, u16, &str)> = vec![
        (
            "GET",
            "/v1/eksamen/WISEFLOW/%2E%2E%2F%2E%2E%2Fadmin".into(),
            None,
            400,
            "path.vurdId",
        ),
        (
            "GET",
            "/v1/eksamen/WISEFLOW/..%2F..%2Feksamen%2Fliste".into(),
            None,
            400,
            "path.vurdId",
        ),
        (
            "GET",
            "/v1/eksamen/WISEFLOW/abcd%0D%0AX-Injected:%201".into(),
            None,
            400,
            "path.vurdId",
        ),
        (
            "GET",
            "/v1/eksamen/wiseflow/abcd".into(),
            None,
            400,
            "path.system",
        ),
        (
            "GET",
            "/v1/eksamen/liste?institusjonsnr=194&institusjonsnr=185".into(),
            None,
            400,
            "query.institusjonsnr",
        ),
        (
            "GET",
            "/v1/eksamen/liste?institusjonsnr=194%26x%3D1".into(),
            None,
            400,
            "query.institusjonsnr",
        ),
        (
            "GET",
            "/v1/eksamen/liste?institusjonsnr=194&debug=true".into(),
            None,
            400,
            "query.debug",
        ),
        (
            "GET",
            "/v1/eksamen/klager/WISEFLOW?institusjonsnr=194&siden=2026-02-30".into(),
            None,
            400,
            "query.siden",
        ),
        (
            "POST",
            "/v1/eksamen/sensur/WISEFLOW/registrer".into(),
            Some(json!({"vurdId": id, "karakterer": [
                {"kandidatnr": candidate, "karakter": "A"},
                {"kandidatnr": candidate, "karakter": "B"}]})),
            400,
            "karakterer[1].kandidatnr",
        ),
        (
            "POST",
            "/v1/eksamen/sensur/WISEFLOW/registrer".into(),
            Some(
                json!({"vurdId": "../../x", "karakterer": [{"kandidatnr": candidate, "karakter": "A"}]}),
            ),
            400,
            "vurdId",
        ),
        (
            "POST",
            "/v1/eksamen/sensur/WISEFLOW/registrer".into(),
            Some(json!({"vurdId": id, "karakterer": []})),
            400,
            "karakterer",
        ),
        (
            "POST",
            "/v1/eksamen/vedtak/WISEFLOW".into(),
            Some(
                json!({"vurdId": id, "kandidatnr": candidate, "vedtak": "ENDRET", "nyKarakter": "A\nX-Injected: 1", "dato": "2026-11-23"}),
            ),
            400,
            "nyKarakter",
        ),
        (
            "POST",
            "/v1/eksamen/begrunnelser/WISEFLOW".into(),
            Some(
                json!({"vurdId": id, "kandidatnr": candidate, "urlBegrunnelse": "javascript:alert(1)", "datoBegrunnelseBedtOm": "2026-11-01", "datoBegrunnelseGitt": "2026-11-02"}),
            ),
            400,
            "urlBegrunnelse",
        ),
    ];
    for (method, path, body, status, field) in &cases {
        let answer = call(&local, method, path, Some(&auth), body.as_ref()).await;
        assert_eq!(answer.status, *status, "{method} {path}: {}", answer.body);
        assert_eq!(
            answer.body["field"], *field,
            "{method} {path}: {}",
            answer.body
        );
        assert_eq!(answer.body["category"], "validation");
        assert!(!answer.body["message"].as_str().unwrap().is_empty());
    }
    // Not JSON, too large.
    let not_json = reqwest::Client::new()
        .post(format!(
            "{}/v1/eksamen/sensur/WISEFLOW/registrer",
            local.gateway.url
        ))
        .header("authorization", &auth)
        .header("content-type", "text/plain")
        .body("vurdId=x")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status().as_u16(), 415);
    let huge = json!({"vurdId": id, "karakterer": [{"kandidatnr": candidate, "karakter": "A".repeat(300_000)}]});
    let answer = call(
        &local,
        "POST",
        "/v1/eksamen/sensur/WISEFLOW/registrer",
        Some(&auth),
        Some(&huge),
    )
    .await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_eq!(
        local.sandbox.fs.request_count(),
        before,
        "no invalid request reached FS"
    );

    // A grade outside the exam's scale: FS is asked only for the exam's scale, nothing registered.
    let outside = if exam.grade_scale.grades.contains(&"A".to_owned()) {
        "BESTÅTT"
    } else {
        "A"
    };
    let bad_grade = json!({"vurdId": id, "karakterer": [
        {"kandidatnr": candidate, "karakter": exam.grade_scale.grades[0]},
        {"kandidatnr": exam.candidates[1].candidate_number, "karakter": outside}]});
    for path in [
        "/v1/eksamen/sensur/WISEFLOW/registrer",
        "/v1/eksamen/sensur/WISEFLOW/valider",
    ] {
        let answer = call(&local, "POST", path, Some(&auth), Some(&bad_grade)).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert_eq!(answer.body["field"], "karakterer[1].karakter");
        assert!(answer.body["message"]
            .as_str()
            .unwrap()
            .contains(&exam.grade_scale.grades.join(", ")));
    }
    let appeal = local.sandbox.fs.appeals("194")[0].clone();
    let appeal_exam = local
        .sandbox
        .fs
        .exams("194")
        .into_iter()
        .find(|e| e.assessment_id == appeal.assessment_id)
        .unwrap();
    let outside = if appeal_exam.grade_scale.grades.contains(&"A".to_owned()) {
        "BESTÅTT"
    } else {
        "A"
    };
    let answer = call(
        &local,
        "POST",
        "/v1/eksamen/vedtak/WISEFLOW",
        Some(&auth),
        Some(&json!({
        "vurdId": appeal.assessment_id, "kandidatnr": appeal.candidate_number,
        "vedtak": "ENDRET", "nyKarakter": outside, "dato": "2026-11-23"})),
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["field"], "nyKarakter");
    assert_eq!(
        registrations(&local),
        [0; 5],
        "no grade outside the scale reached FS"
    );
    assert_eq!(local.sandbox.fs.validations(), 0);

    // FS's own refusal of content is 422: a candidate who is not in the exam.
    let stranger = json!({"vurdId": id, "karakterer": [{"kandidatnr": "9999999999", "karakter": exam.grade_scale.grades[0]}]});
    let answer = call(
        &local,
        "POST",
        "/v1/eksamen/sensur/WISEFLOW/registrer",
        Some(&auth),
        Some(&stranger),
    )
    .await;
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(answer.body["category"], "fs_rejected");
}

/// An exam whose info in FS has no grade scale: its grades are refused (422, naming the setting)
/// until the institution's entry says `digeks_grades_without_scale: forward`; then they reach FS
/// once, and the execution says they went unchecked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grades_of_an_exam_without_a_scale_follow_the_institutions_setting() {
    let local = digeks_platform_with(&[("CACHE_TTL_SECONDS", "0")]).await;
    let key = local
        .digeks_client(&client("wiseflow", ExamSystem::Wiseflow, &["194"], 10_000))
        .await
        .unwrap();
    let auth = bearer(&key);
    let exam = local.sandbox.fs.exams("194")[0].clone();
    local.sandbox.fs.drop_grade_scale(&exam.assessment_id);
    let body = json!({"vurdId": exam.assessment_id, "karakterer": [
        {"kandidatnr": exam.candidates[0].candidate_number, "karakter": "Z"}]});
    let path = "/v1/eksamen/sensur/WISEFLOW/registrer";

    let refused = call(&local, "POST", path, Some(&auth), Some(&body)).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("digeks_grades_without_scale"),
        "{}",
        refused.body
    );
    assert_eq!(
        registrations(&local),
        [0; 5],
        "nothing unchecked reached FS"
    );

    let institutions = flyt::institution::InstitutionStore::new(
        local.aws.dynamodb.clone(),
        local.table("ConfigTable"),
    );
    let org = flyt_local::platform::org_id("194");
    let mut entry = institutions.entry(&org).await.unwrap().expect("the entry");
    entry.digeks_grades_without_scale = Some("forward".to_owned());
    institutions.put(&entry).await.unwrap();

    let forwarded = call(&local, "POST", path, Some(&auth), Some(&body)).await;
    assert_eq!(forwarded.status, 200, "{}", forwarded.body);
    assert_eq!(registrations(&local), [1, 0, 0, 0, 0]);
    let executions = flyt::execution::ExecutionStore::new(
        local.aws.dynamodb.clone(),
        local.table("ExecutionsTable"),
    );
    let day = executions
        .list(digeks_proxy::INTERFACE, 1)
        .await
        .unwrap()
        .remove(0);
    let lines = executions.lines(&day.id).await.unwrap();
    let unchecked: Vec<_> = lines
        .iter()
        .filter(|line| line.message.contains("grades forwarded unchecked"))
        .collect();
    assert_eq!(unchecked.len(), 1, "{lines:#?}");
    assert!(unchecked[0].message.contains(&exam.assessment_id));
}

/// An institution in shadow mode: every registration through the proxy is 409 `shadow_mode`
/// naming the institution and reaches no FS, while reads and `valider` are answered as usual.
/// Switched to live, the same registrations are forwarded once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registrations_for_a_shadow_institution_are_refused_and_reach_no_fs() {
    let local = digeks_platform_with(&[("CACHE_TTL_SECONDS", "0")]).await;
    let org = flyt_local::platform::org_id("194");
    common::set_mode(&local, &[org.as_str()], "shadow").await;
    let key = local
        .digeks_client(&client("wiseflow", ExamSystem::Wiseflow, &["194"], 10_000))
        .await
        .unwrap();
    let auth = bearer(&key);
    let operations = every_operation(&local, "194", "WISEFLOW");
    let writes = [
        "registerGrades",
        "registerAttendance",
        "registerExplanation",
        "registerDecision",
        "registerGroupIds",
    ];
    for request in &operations {
        let answer = send(&local, request, &auth).await;
        if writes.contains(&request.operation) {
            assert_eq!(answer.status, 409, "{}: {}", request.operation, answer.body);
            assert_eq!(answer.body["category"], "shadow_mode", "{}", answer.body);
            assert!(
                answer.body["message"]
                    .as_str()
                    .unwrap()
                    .contains("institution 194"),
                "{}",
                answer.body
            );
        } else {
            assert!(
                answer.status < 300,
                "{} is answered in shadow: {} {}",
                request.operation,
                answer.status,
                answer.body
            );
        }
    }
    assert_eq!(
        registrations(&local),
        [0; 5],
        "nothing reached FS in shadow"
    );

    common::set_mode(&local, &[org.as_str()], "live").await;
    for request in operations.iter().filter(|r| writes.contains(&r.operation)) {
        let answer = send(&local, request, &auth).await;
        assert!(
            answer.status < 300,
            "{}: {}",
            request.operation,
            answer.body
        );
    }
    let registered = registrations(&local);
    assert!(
        registered.iter().all(|&count| count > 0),
        "each registration reached FS after going live: {registered:?}"
    );
    assert_eq!(local.sandbox.fs.duplicate_registrations(), 0, "and once");
}

/// A client over its per-minute limit is 429 with `Retry-After`; other clients are unaffected.
/// The OpenAPI document is served without credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rate_limit_is_per_client_and_the_openapi_document_is_public() {
    let local = digeks_platform().await;
    let limited = local
        .digeks_client(&client("inspera", ExamSystem::Inspera, &["185"], 5))
        .await
        .unwrap();
    let other = local
        .digeks_client(&client("wiseflow", ExamSystem::Wiseflow, &["194"], 1_000))
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(
            call(
                &local,
                "GET",
                "/v1/eksamen/liste?institusjonsnr=185",
                Some(&bearer(&limited)),
                None,
            )
            .await,
        );
    }
    let ok = statuses.iter().filter(|a| a.status == 200).count();
    let limited_answers: Vec<_> = statuses.iter().filter(|a| a.status == 429).collect();
    // A minute boundary may fall inside the loop: then up to twice the limit passes.
    assert!(
        ok == 5 || (ok <= 8 && limited_answers.len() + ok == 8),
        "{ok} allowed"
    );
    if ok == 5 {
        assert_eq!(limited_answers.len(), 3);
    }
    for answer in &limited_answers {
        assert_eq!(answer.body["category"], "rate_limited");
        let wait: u64 = answer.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait));
    }
    assert_eq!(
        call(
            &local,
            "GET",
            "/v1/eksamen/liste?institusjonsnr=194",
            Some(&bearer(&other)),
            None
        )
        .await
        .status,
        200
    );
    let document = call(&local, "GET", "/v1/openapi.json", None, None).await;
    assert_eq!(document.status, 200);
    assert_eq!(document.body["info"]["title"], "Flyt DigEks proxy");
    assert!(document.body["paths"]["/v1/eksamen/sensur/{system}/registrer"]["post"].is_object());
}

/// The proxy routes by (institusjonsnr, the client's exam system): an institution served from FS's
/// prod environment has its calls and registrations there, even when another environment searched
/// first holds a copy of its exam (the sandbox's exam ids repeat across its FS instances, as in a
/// test FS copied from prod); two entries that disagree on the environment make the proxy refuse
/// with 502 rather than guess.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_call_goes_to_its_institutions_fs_environment_and_disagreement_fails_closed() {
    let mut local = digeks_platform_with(&[("CACHE_TTL_SECONDS", "0")]).await;
    let prod = Sandbox::start(SandboxOptions {
        institutions: vec![FsInstitution::new("194", "WISEFLOW")],
        appeals_per_institution: 2,
        explanations_per_institution: 2,
        seed: fastrand::u64(..),
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let credentials = SandboxOptions::default();
    let environment = |url: &str| json!({"url": url, "username": credentials.fs_username, "password": credentials.fs_password});
    let secret_id = local.stack.functions["DigeksProxyFunction"]
        .vars
        .get("FS_SECRET_ID")
        .unwrap()
        .to_owned();
    local
        .aws
        .secrets
        .put_secret_value()
        .secret_id(&secret_id)
        .secret_string(
            json!({"test": environment(&local.sandbox.fs_url), "prod": environment(&prod.fs_url)})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    let institutions =
        InstitutionStore::new(local.aws.dynamodb.clone(), local.table("ConfigTable"));
    let org = flyt_local::platform::org_id("194");
    let mut entry = institutions.entry(&org).await.unwrap().unwrap();
    entry.fs_environment = Some("prod".to_owned());
    institutions.put(&entry).await.unwrap();
    local.cold_start().await.unwrap();
    // 186 (test) sorts first, so its environment is searched first.
    let key = local
        .digeks_client(&client(
            "wiseflow",
            ExamSystem::Wiseflow,
            &["194", "186"],
            10_000,
        ))
        .await
        .unwrap();
    let auth = bearer(&key);
    let exam = prod.fs.exams("194")[0].clone();
    assert!(
        local
            .sandbox
            .fs
            .exams("194")
            .iter()
            .any(|e| e.assessment_id == exam.assessment_id),
        "the test FS holds a copy of the exam"
    );
    let register = json!({"vurdId": exam.assessment_id, "karakterer": [{
        "kandidatnr": exam.candidates[0].candidate_number,
        "karakter": exam.grade_scale.grades[0],
    }]});
    let path = "/v1/eksamen/sensur/WISEFLOW/registrer";

    let answer = call(&local, "POST", path, Some(&auth), Some(&register)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(prod.fs.registered_grades().len(), 1, "registered in prod");
    assert!(
        local.sandbox.fs.registered_grades().is_empty(),
        "the copy in the test FS is not 194's exam"
    );
    let prod_requests = prod.fs.request_count();
    let test_requests = local.sandbox.fs.request_count();
    let listed = call(
        &local,
        "GET",
        "/v1/eksamen/liste?institusjonsnr=194",
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(
        (
            prod.fs.request_count() - prod_requests,
            local.sandbox.fs.request_count() - test_requests
        ),
        (1, 0),
        "194's exams are listed from prod"
    );

    // A second entry for 194 on WISEflow in the test environment: the proxy will not guess.
    let mut second = entry.clone();
    second.org_id = format!("{org}-second");
    second.fs_environment = Some("test".to_owned());
    institutions.put(&second).await.unwrap();
    for (method, path, body) in [
        ("POST", path, Some(register.clone())),
        ("GET", "/v1/eksamen/liste?institusjonsnr=194", None),
    ] {
        let answer = call(&local, method, path, Some(&auth), body.as_ref()).await;
        assert_eq!(answer.status, 502, "{path}: {}", answer.body);
        assert_eq!(answer.body["category"], "fs_unavailable", "{}", answer.body);
    }
    assert_eq!(
        prod.fs.registered_grades().len(),
        1,
        "nothing more registered"
    );
    assert!(local.sandbox.fs.registered_grades().is_empty());
}
