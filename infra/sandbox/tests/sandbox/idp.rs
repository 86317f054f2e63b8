//! The OpenID Connect identity provider: discovery, the authorization-code flow with PKCE, state
//! and nonce, ID tokens that verify against the published key set, single-use codes, and the
//! refusals a client must be able to rely on.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use flyt_sandbox::{Sandbox, SandboxOptions, EPPN_CLAIM};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::small_sandbox;

const CLIENT_ID: &str = "flyt-log-overview";
const CLIENT_SECRET: &str = "local-idp-client-secret";
const REDIRECT: &str = "http://127.0.0.1:9/callback";
const VERIFIER: &str = "a-verifier-of-the-sandbox-test-that-is-long-enough-0123456789";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn sandbox() -> Sandbox {
    let sandbox = small_sandbox().await;
    sandbox.idp.register_redirect_uri(REDIRECT);
    sandbox
}

/// The parameters of a good authorization request.
fn authorize_params(state: &str, nonce: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".to_owned()),
        ("client_id", CLIENT_ID.to_owned()),
        ("redirect_uri", REDIRECT.to_owned()),
        ("scope", "openid userid-feide".to_owned()),
        ("state", state.to_owned()),
        ("nonce", nonce.to_owned()),
        ("code_challenge", challenge(VERIFIER)),
        ("code_challenge_method", "S256".to_owned()),
    ]
}

/// The query of a redirect's `Location`.
fn location_query(response: &reqwest::Response) -> (String, HashMap<String, String>) {
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a Location header")
        .to_owned();
    let url = reqwest::Url::parse(&location).expect("an absolute URL");
    let query = url.query_pairs().into_owned().collect();
    (location, query)
}

/// Signs `user` in on the form and returns the code handed back.
async fn sign_in(http: &reqwest::Client, sandbox: &Sandbox, user: &str, state: &str) -> String {
    let mut form = authorize_params(state, "nonce-1");
    form.push(("user", user.to_owned()));
    let response = http
        .post(format!("{}/authorize", sandbox.idp_url))
        .form(&form)
        .send()
        .await
        .expect("the login form posts");
    assert_eq!(response.status(), 303);
    let (location, query) = location_query(&response);
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(query["state"], state);
    query["code"].clone()
}

async fn exchange(
    http: &reqwest::Client,
    sandbox: &Sandbox,
    code: &str,
    verifier: &str,
    secret: &str,
) -> (u16, Value) {
    let response = http
        .post(format!("{}/token", sandbox.idp_url))
        .basic_auth(CLIENT_ID, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("the token request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

async fn key_set(http: &reqwest::Client, sandbox: &Sandbox) -> JwkSet {
    let discovery: Value = http
        .get(format!(
            "{}/.well-known/openid-configuration",
            sandbox.idp_url
        ))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("discovery JSON");
    http.get(discovery["jwks_uri"].as_str().expect("jwks_uri"))
        .send()
        .await
        .expect("the key set")
        .json()
        .await
        .expect("a JWK set")
}

fn verify(token: &str, keys: &JwkSet, issuer: &str) -> jsonwebtoken::errors::Result<Value> {
    let header = jsonwebtoken::decode_header(token)?;
    let jwk = keys
        .find(header.kid.as_deref().unwrap_or_default())
        .ok_or(jsonwebtoken::errors::ErrorKind::InvalidSignature)?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[CLIENT_ID]);
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk)?, &validation)
        .map(|data| data.claims)
}

#[tokio::test]
async fn a_user_signs_in_with_pkce_and_the_id_token_verifies_against_the_key_set() {
    let sandbox = sandbox().await;
    let http = client();
    let discovery: Value = http
        .get(format!(
            "{}/.well-known/openid-configuration",
            sandbox.idp_url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], sandbox.idp_url.as_str());
    assert_eq!(
        discovery["authorization_endpoint"],
        format!("{}/authorize", sandbox.idp_url)
    );
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );

    let form = http
        .get(format!("{}/authorize", sandbox.idp_url))
        .query(&authorize_params("state-1", "nonce-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let html = form.text().await.unwrap();
    for user in sandbox.idp.users() {
        assert!(
            html.contains(&format!("id=\"user-{}\"", user.sub)),
            "{html}"
        );
    }
    assert!(html.contains("testdrift.uio@uio.no"), "{html}");

    let code = sign_in(&http, &sandbox, "sandbox-uio-1", "state-1").await;
    let (status, answer) = exchange(&http, &sandbox, &code, VERIFIER, CLIENT_SECRET).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["token_type"], "Bearer");
    let token = answer["id_token"].as_str().expect("an id_token");
    let claims = verify(token, &key_set(&http, &sandbox).await, &sandbox.idp_url)
        .expect("the ID token verifies");
    assert_eq!(claims["sub"], "sandbox-uio-1");
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims["nonce"], "nonce-1");
    assert_eq!(claims[EPPN_CLAIM], "testdrift.uio@uio.no");
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 300, "a short-lived token: {claims}");
    assert_eq!(sandbox.idp.tokens_issued(), 1);
}

#[tokio::test]
async fn a_code_is_used_once_and_only_with_its_verifier_client_and_redirect() {
    let sandbox = sandbox().await;
    let http = client();

    let code = sign_in(&http, &sandbox, "sandbox-uib-1", "s").await;
    let (status, answer) = exchange(&http, &sandbox, &code, VERIFIER, "wrong-secret").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, answer) = exchange(&http, &sandbox, &code, VERIFIER, CLIENT_SECRET).await;
    assert_eq!(
        status, 200,
        "a refused client does not use the code up: {answer}"
    );
    let (status, answer) = exchange(&http, &sandbox, &code, VERIFIER, CLIENT_SECRET).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant")),
        "a code is single-use: {answer}"
    );

    let code = sign_in(&http, &sandbox, "sandbox-uib-1", "s").await;
    let wrong = "another-verifier-of-the-sandbox-test-that-is-long-enough-01234";
    let (status, answer) = exchange(&http, &sandbox, &code, wrong, CLIENT_SECRET).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("PKCE"),
        "{answer}"
    );
    let (status, _) = exchange(&http, &sandbox, &code, VERIFIER, CLIENT_SECRET).await;
    assert_eq!(status, 400, "a failed exchange used the code up");

    let code = sign_in(&http, &sandbox, "sandbox-uib-1", "s").await;
    let answer: Value = http
        .post(format!("{}/token", sandbox.idp_url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/elsewhere"),
            ("code_verifier", VERIFIER),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["error"], "invalid_grant", "{answer}");
    assert_eq!(sandbox.idp.tokens_issued(), 1);
}

#[tokio::test]
async fn bad_authorization_requests_are_refused_and_untrusted_redirects_never_followed() {
    let sandbox = sandbox().await;
    let http = client();
    let get = |params: Vec<(&'static str, String)>| {
        let http = http.clone();
        let url = format!("{}/authorize", sandbox.idp_url);
        async move { http.get(url).query(&params).send().await.unwrap() }
    };
    let with = |name: &'static str, value: &str| {
        let mut params = authorize_params("state-9", "nonce-9");
        params.retain(|(n, _)| *n != name);
        if !value.is_empty() {
            params.push((name, value.to_owned()));
        }
        params
    };

    for (name, value) in [
        ("client_id", "someone-else"),
        ("redirect_uri", "https://evil.example/callback"),
    ] {
        let response = get(with(name, value)).await;
        assert_eq!(response.status(), 400, "{name}");
        assert!(response.headers().get("location").is_none(), "{name}");
    }
    for (name, value, error) in [
        ("code_challenge_method", "plain", "invalid_request"),
        ("code_challenge", "", "invalid_request"),
        ("nonce", "", "invalid_request"),
        ("scope", "profile", "invalid_scope"),
        ("response_type", "token", "unsupported_response_type"),
    ] {
        let response = get(with(name, value)).await;
        assert_eq!(response.status(), 303, "{name}={value}");
        let (location, query) = location_query(&response);
        assert!(location.starts_with(REDIRECT), "{location}");
        assert_eq!(query["error"], error, "{name}={value}");
        assert_eq!(query["state"], "state-9");
        assert!(!query.contains_key("code"));
    }
    let mut form = authorize_params("s", "n");
    form.push(("user", "nobody".to_owned()));
    let response = http
        .post(format!("{}/authorize", sandbox.idp_url))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(sandbox.idp.sign_ins(), 0);
}

#[tokio::test]
async fn a_token_signed_with_an_unpublished_key_does_not_verify() {
    let sandbox = Sandbox::start(SandboxOptions {
        objects: 10,
        descriptions: 10,
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    sandbox.idp.register_redirect_uri(REDIRECT);
    sandbox.idp.sign_with_unpublished_key(true);
    let http = client();
    let code = sign_in(&http, &sandbox, "sandbox-uio-2", "s").await;
    let (status, answer) = exchange(&http, &sandbox, &code, VERIFIER, CLIENT_SECRET).await;
    assert_eq!(status, 200);
    let token = answer["id_token"].as_str().unwrap();
    assert!(verify(token, &key_set(&http, &sandbox).await, &sandbox.idp_url).is_err());
}
