//! The simulated OpenID Connect identity provider, played the way Feide (`auth.dataporten.no`)
//! serves Flyt's log overview: discovery, the authorization-code flow with PKCE (S256), state and
//! nonce, ID tokens signed ES256 with a key generated at start, and the key set.
//!
//! - `GET /.well-known/openid-configuration`: the discovery document.
//! - `GET /authorize`: checks the request and shows a small login form listing the sandbox's test
//!   users (synthetic, one or two per institution; no password). Choosing one posts the form to
//!   `POST /authorize`, which redirects back to the client with `code` and `state`. A request with
//!   an unknown client or an unregistered `redirect_uri` gets an error page and no redirect; any
//!   other mistake is redirected back as `error=…` with the state, as OAuth 2.0 says.
//! - `POST /token`: the code (single use, [`CODE_TTL`]) for an ID token, once the client's
//!   credentials (HTTP Basic or form fields), the `redirect_uri` and the PKCE verifier check out.
//!   The token carries `iss`, `sub`, `aud`, `exp`, `iat`, `auth_time`, `nonce`, `name` and Feide's
//!   [`EPPN_CLAIM`].
//! - `GET /jwks`: the public key as a JWK set.
//!
//! Tests can make it sign with a key it does not publish ([`IdpState::sign_with_unpublished_key`])
//! to prove that a client checks signatures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::faults::{FaultGate, Faults};
use crate::SandboxOptions;

/// Feide's claim with the user's eduPersonPrincipalName (`user@realm`).
pub const EPPN_CLAIM: &str = "https://n.feide.no/claims/eduPersonPrincipalName";
/// How long an authorization code may be exchanged.
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// How long an ID token is valid.
pub const ID_TOKEN_TTL: Duration = Duration::from_secs(300);

/// A test user of the sandbox IdP. Synthetic: no real person has these names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpUser {
    /// The stable, opaque subject id (`sub`).
    pub sub: String,
    /// The eduPersonPrincipalName, `user@realm`.
    pub eppn: String,
    /// The display name (`name`), shown on the login form.
    pub name: String,
}

impl IdpUser {
    fn new(sub: &str, eppn: &str, name: &str) -> Self {
        IdpUser {
            sub: sub.to_owned(),
            eppn: eppn.to_owned(),
            name: name.to_owned(),
        }
    }
}

/// The default test users: two of `uio.no`, one of `uib.no`, one of `hvl.no` (a realm no
/// sandbox institution is connected to), and a student of `uio.no`, whom the local platform does
/// not list as a viewer of the log overview.
pub fn default_idp_users() -> Vec<IdpUser> {
    vec![
        IdpUser::new(
            "sandbox-uio-1",
            "testdrift.uio@uio.no",
            "Testbruker Drift (UiO)",
        ),
        IdpUser::new(
            "sandbox-uio-2",
            "teststotte.uio@uio.no",
            "Testbruker Støtte (UiO)",
        ),
        IdpUser::new(
            "sandbox-uib-1",
            "testdrift.uib@uib.no",
            "Testbruker Drift (UiB)",
        ),
        IdpUser::new(
            "sandbox-hvl-1",
            "testdrift.hvl@hvl.no",
            "Testbruker Drift (HVL, ikke tilknyttet)",
        ),
        IdpUser::new(
            "sandbox-uio-student",
            "student.uio@uio.no",
            "Testbruker Student (UiO)",
        ),
    ]
}

/// A signing key and how it is published.
struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl SigningKey {
    /// A fresh P-256 key.
    fn generate() -> SigningKey {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .expect("a P-256 key is generated");
        let pkcs8 = pair.to_pkcs8v1().expect("a P-256 key serialises");
        let point = pair.public_key().as_ref();
        // An uncompressed point: 0x04, then x and y, 32 bytes each.
        let (x, y) = point[1..].split_at(32);
        let kid = random_token(12);
        SigningKey {
            jwk: json!({
                "kty": "EC",
                "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(x),
                "y": URL_SAFE_NO_PAD.encode(y),
                "kid": kid,
                "alg": "ES256",
                "use": "sig",
            }),
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            kid,
        }
    }
}

/// A code handed out, waiting for its exchange.
#[derive(Clone, Debug)]
struct Grant {
    user: IdpUser,
    redirect_uri: String,
    nonce: String,
    code_challenge: String,
    expires_at_ms: i64,
}

/// Shared, inspectable state of the simulated identity provider; thread-safe.
pub struct IdpState {
    issuer: String,
    client_id: String,
    client_secret: String,
    users: Vec<IdpUser>,
    key: SigningKey,
    unpublished: SigningKey,
    gate: FaultGate,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    redirect_uris: Vec<String>,
    codes: HashMap<String, Grant>,
    request_count: u64,
    sign_ins: u64,
    tokens_issued: u64,
    sign_with_unpublished_key: bool,
}

impl IdpState {
    pub(crate) fn new(options: &SandboxOptions, issuer: String) -> Self {
        IdpState {
            issuer,
            client_id: options.idp_client_id.clone(),
            client_secret: options.idp_client_secret.clone(),
            users: options.idp_users.clone(),
            key: SigningKey::generate(),
            unpublished: SigningKey::generate(),
            gate: FaultGate::new(options.seed ^ 0x01dc),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("idp state lock")
    }

    /// The issuer (`iss`), which is also the base URL of every endpoint.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The test users the login form lists.
    pub fn users(&self) -> &[IdpUser] {
        &self.users
    }

    /// Allows `uri` as a client's `redirect_uri` (as registering it in Feide's dashboard does).
    pub fn register_redirect_uri(&self, uri: impl Into<String>) {
        let uri = uri.into();
        let mut inner = self.lock();
        if !inner.redirect_uris.contains(&uri) {
            inner.redirect_uris.push(uri);
        }
    }

    /// Signs the next ID tokens with a key the key set does not hold (or again with the
    /// published one): what a forged token looks like to a client.
    pub fn sign_with_unpublished_key(&self, on: bool) {
        self.lock().sign_with_unpublished_key = on;
    }

    /// Replaces the active faults.
    pub fn set_faults(&self, faults: Faults) {
        self.gate.set(faults);
    }

    /// The active faults.
    pub fn faults(&self) -> Faults {
        self.gate.get()
    }

    /// Requests received on every non-admin route, faulted ones included.
    pub fn request_count(&self) -> u64 {
        self.lock().request_count
    }

    /// Users signed in on the login form (codes handed out).
    pub fn sign_ins(&self) -> u64 {
        self.lock().sign_ins
    }

    /// ID tokens issued for codes.
    pub fn tokens_issued(&self) -> u64 {
        self.lock().tokens_issued
    }

    /// The discovery document.
    pub fn discovery(&self) -> Value {
        let base = &self.issuer;
        json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "jwks_uri": format!("{base}/jwks"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "userid-feide", "profile"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "name", EPPN_CLAIM],
        })
    }

    /// The published key set.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.key.jwk] })
    }

    fn known_redirect(&self, uri: &str) -> bool {
        self.lock().redirect_uris.iter().any(|u| u == uri)
    }

    fn issue_code(&self, user: IdpUser, request: &AuthorizeRequest) -> String {
        let code = random_token(32);
        let grant = Grant {
            user,
            redirect_uri: request.redirect_uri.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            expires_at_ms: now_ms() + CODE_TTL.as_millis() as i64,
        };
        let mut inner = self.lock();
        inner.codes.retain(|_, g| g.expires_at_ms > now_ms());
        inner.codes.insert(code.clone(), grant);
        inner.sign_ins += 1;
        code
    }

    /// Takes a code out: it is used, whatever the exchange's outcome.
    fn take_code(&self, code: &str) -> Option<Grant> {
        self.lock().codes.remove(code)
    }

    fn id_token(&self, grant: &Grant) -> String {
        let now = now_ms() / 1000;
        let claims = json!({
            "iss": self.issuer,
            "sub": grant.user.sub,
            "aud": self.client_id,
            "exp": now + ID_TOKEN_TTL.as_secs() as i64,
            "iat": now,
            "auth_time": now,
            "nonce": grant.nonce,
            "name": grant.user.name,
            EPPN_CLAIM: grant.user.eppn,
        });
        let key = if self.lock().sign_with_unpublished_key {
            &self.unpublished
        } else {
            &self.key
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid.clone());
        let token =
            jsonwebtoken::encode(&header, &claims, &key.encoding).expect("an ID token is signed");
        self.lock().tokens_issued += 1;
        token
    }
}

type Shared = Arc<IdpState>;

/// The IdP's routes, faults and counting in front of them; `/_sandbox/*` bypasses both.
pub(crate) fn router(state: Shared) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize_form).post(authorize_submit))
        .route("/token", axum::routing::post(token))
        .layer(from_fn_with_state(state.clone(), count_and_fault))
        .merge(crate::admin::idp_routes())
        .with_state(state)
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": code.to_ascii_lowercase(), "error_description": description })),
    )
        .into_response()
}

async fn count_and_fault(State(state): State<Shared>, req: Request, next: Next) -> Response {
    state.lock().request_count += 1;
    state.gate.guard(oauth_error, req, next).await
}

async fn discovery(State(state): State<Shared>) -> Json<Value> {
    Json(state.discovery())
}

async fn jwks(State(state): State<Shared>) -> Json<Value> {
    Json(state.jwks())
}

/// The parameters of an authorization request (query of `GET /authorize`, form of the POST).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
struct AuthorizeRequest {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: String,
    nonce: String,
    code_challenge: String,
    code_challenge_method: String,
    /// POST only: the chosen user's `sub`.
    user: String,
}

/// What is wrong with an authorization request: an error page (the client or redirect cannot be
/// trusted) or an error sent back to the client.
enum Refusal {
    Page(String),
    Redirect(&'static str, String),
}

fn check_request(state: &IdpState, request: &AuthorizeRequest) -> Result<(), Refusal> {
    if request.client_id != state.client_id {
        return Err(Refusal::Page(format!(
            "unknown client_id {:?}",
            request.client_id
        )));
    }
    if !state.known_redirect(&request.redirect_uri) {
        return Err(Refusal::Page(format!(
            "redirect_uri {:?} is not registered for this client",
            request.redirect_uri
        )));
    }
    if request.response_type != "code" {
        return Err(Refusal::Redirect(
            "unsupported_response_type",
            "only response_type=code is supported".to_owned(),
        ));
    }
    if !request.scope.split(' ').any(|s| s == "openid") {
        return Err(Refusal::Redirect(
            "invalid_scope",
            "the scope must include openid".to_owned(),
        ));
    }
    if request.code_challenge_method != "S256" || !is_challenge(&request.code_challenge) {
        return Err(Refusal::Redirect(
            "invalid_request",
            "PKCE is required: code_challenge (43 base64url characters) with code_challenge_method=S256".to_owned(),
        ));
    }
    if request.state.is_empty() || request.nonce.is_empty() {
        return Err(Refusal::Redirect(
            "invalid_request",
            "state and nonce are required".to_owned(),
        ));
    }
    Ok(())
}

fn refuse(request: &AuthorizeRequest, refusal: Refusal) -> Response {
    match refusal {
        Refusal::Page(why) => (
            StatusCode::BAD_REQUEST,
            Html(page(
                "Sign-in refused",
                &format!("<p class=\"error\">{}</p>", escape(&why)),
            )),
        )
            .into_response(),
        Refusal::Redirect(code, why) => {
            let mut url = url_with(&request.redirect_uri, &[("error", code)]);
            url = url_with(&url, &[("error_description", &why)]);
            if !request.state.is_empty() {
                url = url_with(&url, &[("state", &request.state)]);
            }
            Redirect::to(&url).into_response()
        }
    }
}

async fn authorize_form(
    State(state): State<Shared>,
    Query(request): Query<AuthorizeRequest>,
) -> Response {
    if let Err(refusal) = check_request(&state, &request) {
        return refuse(&request, refusal);
    }
    let hidden: String = [
        ("response_type", &request.response_type),
        ("client_id", &request.client_id),
        ("redirect_uri", &request.redirect_uri),
        ("scope", &request.scope),
        ("state", &request.state),
        ("nonce", &request.nonce),
        ("code_challenge", &request.code_challenge),
        ("code_challenge_method", &request.code_challenge_method),
    ]
    .iter()
    .map(|(name, value)| {
        format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            escape(value)
        )
    })
    .collect();
    let buttons: String = state
        .users
        .iter()
        .map(|user| {
            format!(
                "<li><button type=\"submit\" name=\"user\" value=\"{sub}\" id=\"user-{sub}\">{name} \
                 <small>{eppn}</small></button></li>",
                sub = escape(&user.sub),
                name = escape(&user.name),
                eppn = escape(&user.eppn),
            )
        })
        .collect();
    let body = format!(
        "<p>This is the Flyt sandbox's identity provider, standing in for Feide. Choose a \
         synthetic test user to sign in as; there is no password.</p>\
         <form method=\"post\" action=\"/authorize\">{hidden}<ul class=\"users\">{buttons}</ul></form>"
    );
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(page("Sign in (sandbox identity provider)", &body)),
    )
        .into_response()
}

async fn authorize_submit(
    State(state): State<Shared>,
    Form(request): Form<AuthorizeRequest>,
) -> Response {
    if let Err(refusal) = check_request(&state, &request) {
        return refuse(&request, refusal);
    }
    let Some(user) = state.users.iter().find(|u| u.sub == request.user).cloned() else {
        return refuse(
            &request,
            Refusal::Page(format!("no test user {:?}", request.user)),
        );
    };
    let code = state.issue_code(user, &request);
    let url = url_with(
        &request.redirect_uri,
        &[("code", &code), ("state", &request.state)],
    );
    Redirect::to(&url).into_response()
}

/// The form of `POST /token`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TokenRequest {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: String,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// The client's credentials: HTTP Basic (each part form-urlencoded, RFC 6749 §2.3.1), else the
/// form's fields.
fn client_credentials(headers: &HeaderMap, form: &TokenRequest) -> Option<(String, String)> {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = String::from_utf8(STANDARD.decode(basic.trim()).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let unescape = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        return Some((unescape(id)?, unescape(secret)?));
    }
    Some((form.client_id.clone()?, form.client_secret.clone()?))
}

async fn token(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<TokenRequest>,
) -> Response {
    let authenticated = client_credentials(&headers, &form)
        .is_some_and(|(id, secret)| id == state.client_id && secret == state.client_secret);
    if !authenticated {
        let mut response = oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong client secret",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"sandbox-idp\""
                .parse()
                .expect("a header value"),
        );
        return response;
    }
    if form.grant_type != "authorization_code" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only authorization_code is supported",
        );
    }
    let Some(grant) = state.take_code(&form.code) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the code is unknown or was used already",
        );
    };
    if grant.expires_at_ms <= now_ms() {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the code expired");
    }
    if grant.redirect_uri != form.redirect_uri {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri differs from the authorization request's",
        );
    }
    if !is_verifier(&form.code_verifier) || challenge(&form.code_verifier) != grant.code_challenge {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "PKCE verification failed: code_verifier does not match code_challenge",
        );
    }
    let id_token = state.id_token(&grant);
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "access_token": random_token(32),
            "token_type": "Bearer",
            "expires_in": ID_TOKEN_TTL.as_secs(),
            "scope": "openid userid-feide",
            "id_token": id_token,
        })),
    )
        .into_response()
}

/// The S256 code challenge of a PKCE verifier: BASE64URL(SHA-256(verifier)).
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn is_challenge(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636: 43–128 characters of `[A-Za-z0-9-._~]`.
fn is_verifier(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buffer).expect("the system's random source");
    URL_SAFE_NO_PAD.encode(buffer)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `base` with `pairs` appended to its query.
fn url_with(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = base.to_owned();
    for (name, value) in pairs {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(name);
        url.push('=');
        url.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
    }
    url
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;max-width:40rem;margin:3rem auto}}\
         ul.users{{list-style:none;padding:0}}button{{display:block;width:100%;margin:.4rem 0;\
         padding:.6rem;text-align:left;font-size:1rem}}small{{color:#555}}.error{{color:#a00}}</style>\
         </head><body><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_s256_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(is_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!is_challenge("short"));
        assert!(is_verifier(&"a".repeat(43)));
        assert!(!is_verifier(&"a".repeat(42)));
        assert!(!is_verifier(&format!("{}/", "a".repeat(43))));
    }

    #[test]
    fn redirects_keep_the_clients_own_query_and_encode_values() {
        assert_eq!(
            url_with("http://x/cb", &[("code", "a b"), ("state", "s&t")]),
            "http://x/cb?code=a+b&state=s%26t"
        );
        assert_eq!(
            url_with("http://x/cb?k=1", &[("code", "c")]),
            "http://x/cb?k=1&code=c"
        );
    }

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
