//! The handler without AWS: what it answers before it reads anything, and the pure rules that
//! keep one institution's executions from another.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::*;

const COOKIE_KEY: &str = "a-cookie-key-of-the-handler-tests-0123456789";

async fn overview() -> LogOverview {
    // Nothing listens here: a test that reached AWS would fail with a 500.
    let sdk = flyt::aws::emulator_config("http://127.0.0.1:9", "eu-north-1").await;
    let aws = AwsClients::new(&sdk, None);
    let vars = Vars::from_pairs([
        ("EXECUTIONS_TABLE", "executions"),
        ("CONFIG_TABLE", "config"),
        ("OIDC_ISSUER", "http://127.0.0.1:9"),
        ("OIDC_CLIENT_ID", "flyt-log-overview"),
        ("OIDC_SECRET_ID", "log-overview"),
        ("PUBLIC_URL", "http://127.0.0.1:8"),
    ]);
    let secret = OidcSecret {
        client_secret: "s".into(),
        cookie_key: COOKIE_KEY.into(),
    };
    LogOverview::new(Config::from_vars(&vars).unwrap(), &secret, &aws).unwrap()
}

fn request(method: &str, path: &str, query: &str, cookies: &[String]) -> ApiGatewayV2httpRequest {
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": "127.0.0.1"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "127.0.0.1",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "test-request", "routeKey": format!("{method} {path}"), "stage": "$default", "timeEpoch": 0,
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    serde_json::from_value(event).unwrap()
}

fn header(response: &ApiGatewayV2httpResponse, name: &str) -> String {
    response
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn session_cookie(org: &str, exp: i64) -> String {
    let key = CookieKey::new(COOKIE_KEY.as_bytes()).unwrap();
    format!(
        "{SESSION_COOKIE}={}",
        key.seal(&Session {
            org: org.into(),
            viewer: flyt::scrub::pseudonym("ola@uio.no"),
            exp
        })
    )
}

#[tokio::test]
async fn without_a_valid_session_every_page_sends_the_browser_to_sign_in() {
    let overview = overview().await;
    let expired = session_cookie("uio", now_s() - 1);
    let forged = {
        let genuine = session_cookie("uio", now_s() + 60);
        let tag = genuine.rsplit('.').next().unwrap().to_owned();
        let payload = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            format!(
                r#"{{"org":"uib","viewer":"{}","exp":{}}}"#,
                flyt::scrub::pseudonym("ola@uio.no"),
                now_s() + 60
            ),
        );
        format!("{SESSION_COOKIE}={payload}.{tag}")
    };
    for cookies in [vec![], vec![expired], vec![forged]] {
        let answer = overview.handle(request("GET", "/", "", &cookies)).await;
        assert_eq!(answer.status_code, 302);
        assert_eq!(header(&answer, "location"), "/login");
        let answer = overview
            .handle(request(
                "GET",
                "/executions/fs-poll-uio-klage-1",
                "",
                &cookies,
            ))
            .await;
        assert_eq!(answer.status_code, 302);
        assert_eq!(
            header(&answer, "location"),
            "/login?next=%2Fexecutions%2Ffs-poll-uio-klage-1"
        );
        let answer = overview
            .handle(request(
                "GET",
                "/executions/fs-poll-uio-klage-1/export.xlsx",
                "",
                &cookies,
            ))
            .await;
        assert_eq!(answer.status_code, 302);
    }
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let overview = overview().await;
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/nowhere"),
        ("POST", "/logout"),
        ("GET", "/executions/..%2F"),
    ] {
        let answer = overview.handle(request(method, path, "", &[])).await;
        let policy = header(&answer, "content-security-policy");
        assert!(
            policy.starts_with("default-src 'none'; style-src 'sha256-"),
            "{path}: {policy}"
        );
        assert!(policy.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(
            header(&answer, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
        assert_eq!(header(&answer, "referrer-policy"), "no-referrer", "{path}");
        assert_eq!(header(&answer, "cache-control"), "no-store", "{path}");
    }
    let answer = overview
        .handle(request("GET", "/executions/..%2F", "", &[]))
        .await;
    assert_eq!(answer.status_code, 404);
}

#[tokio::test]
async fn a_callback_without_its_own_sign_in_is_refused_before_any_exchange() {
    let overview = overview().await;
    let answer = overview
        .handle(request("GET", "/callback", "code=c&state=s", &[]))
        .await;
    assert_eq!(answer.status_code, 400);
    assert!(answer
        .cookies
        .iter()
        .any(|c| c.starts_with("__Host-flyt_login=; Max-Age=0")));
    // A sign-in of this browser, but another state: a forged or replayed callback.
    let key = CookieKey::new(COOKIE_KEY.as_bytes()).unwrap();
    let flow = LoginFlow {
        state: "the-real-state".into(),
        nonce: "n".into(),
        verifier: "v".into(),
        next: "/".into(),
        exp: now_s() + 60,
    };
    let cookie = format!("{LOGIN_COOKIE}={}", key.seal(&flow));
    let answer = overview
        .handle(request(
            "GET",
            "/callback",
            "code=c&state=another-state",
            std::slice::from_ref(&cookie),
        ))
        .await;
    assert_eq!(answer.status_code, 400);
    // The right state but an error from the IdP: refused without an exchange.
    let answer = overview
        .handle(request(
            "GET",
            "/callback",
            "error=access_denied%3Cscript%3E&state=the-real-state",
            &[cookie],
        ))
        .await;
    assert_eq!(answer.status_code, 403);
    let Some(Body::Text(page)) = &answer.body else {
        panic!("a page")
    };
    assert!(page.contains("(access_deniedscript)"), "{page}");
}

#[tokio::test]
async fn signing_out_deletes_the_session_cookie() {
    let overview = overview().await;
    let answer = overview
        .handle(request(
            "POST",
            "/logout",
            "",
            &[session_cookie("uio", now_s() + 60)],
        ))
        .await;
    assert_eq!(answer.status_code, 200);
    assert_eq!(
        answer.cookies,
        ["__Host-flyt_session=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax"]
    );
    assert_eq!(
        overview
            .handle(request("GET", "/logout", "", &[]))
            .await
            .status_code,
        404
    );
}

fn execution(interface: &str, started: i64) -> Execution {
    Execution {
        id: format!("{interface}-{started}"),
        interface: interface.into(),
        trigger: "schedule".into(),
        started_at_ms: started,
        finished_at_ms: Some(started + 1000),
        counts: BTreeMap::new(),
        errors: 0,
    }
}

#[test]
fn a_session_for_uio_never_lists_or_opens_uibs_executions() {
    let all = vec![
        execution("fs-poll-uio-klage", 3),
        execution("fs-poll-uib-klage", 9),
        execution("wiseflow-poll-uib", 8),
        execution("fs-poll-uio", 5),
        execution("wiseflow-poll-uio", 1),
        execution("bokbasen-objects", 7),
        execution("inspera-webhook", 6),
        execution("fs-poll-uio-begrunnelse", 4),
        execution("fs-poll-uio-klage", 3),
    ];
    let visible = visible_to("uio", all.clone(), 100);
    let interfaces: Vec<&str> = visible.iter().map(|e| e.interface.as_str()).collect();
    assert_eq!(
        interfaces,
        [
            "fs-poll-uio",
            "fs-poll-uio-begrunnelse",
            "fs-poll-uio-klage",
            "wiseflow-poll-uio"
        ],
        "newest first, once each, uio's only"
    );
    assert_eq!(visible_to("uio", all.clone(), 2).len(), 2);
    let uib: Vec<String> = visible_to("uib", all.clone(), 100)
        .into_iter()
        .map(|e| e.interface)
        .collect();
    assert_eq!(uib, ["fs-poll-uib-klage", "wiseflow-poll-uib"]);
    for e in &all {
        assert!(
            !(belongs_to("uio", e) && belongs_to("uib", e)),
            "{}",
            e.interface
        );
        if e.interface.contains("uib") {
            assert!(!belongs_to("uio", e), "{}", e.interface);
        }
    }
    // An org id that is a prefix of another's sees nothing of it.
    assert!(!belongs_to("ui", &execution("fs-poll-uio-klage", 1)));
}

#[test]
fn after_signing_in_the_browser_goes_only_to_this_sites_pages() {
    assert_eq!(safe_next("/"), "/");
    assert_eq!(
        safe_next("/executions/fs-poll-uio-klage-1"),
        "/executions/fs-poll-uio-klage-1"
    );
    for bad in [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example",
        "",
        "/executions/../x",
        "/executions/a/b",
        "/login",
    ] {
        assert_eq!(safe_next(bad), "/", "{bad}");
    }
}

#[test]
fn the_secret_must_hold_a_long_cookie_key() {
    let value: Value = json!({"client_secret": "s", "cookie_key": "short"});
    let secret: OidcSecret = serde_json::from_value(value).unwrap();
    assert!(CookieKey::new(secret.cookie_key.as_bytes()).is_none());
}
