//! `log-overview`: the web page where people of an institution see that institution's executions
//! — and nothing of any other institution's. One Lambda behind the HTTP API `LogOverviewApi`; no
//! API Gateway authorizer: the function signs people in itself, with OpenID Connect (Feide).
//!
//! | route | what |
//! | --- | --- |
//! | `GET /` | the overview: the institution's executions, newest first, KO red, OK green, RUNNING amber |
//! | `GET /login` | a new sign-in: state, nonce and PKCE verifier in a signed cookie, off to the IdP |
//! | `GET /callback` | the IdP's answer: code exchange, ID-token checks, realm → institution, the person on its list ([`access`]), session |
//! | `POST /logout` | the session cookie deleted |
//! | `GET /executions/{id}` | one execution with every log line |
//! | `GET /executions/{id}/export.xlsx` | the execution as an XLSX file |
//!
//! The session cookie holds the org id, a pseudonym of the person and an expiry, signed
//! (HMAC-SHA256): no name, e-mail, user name or subject. Every page view checks that the
//! institution is still connected and the person still on its list. An execution belongs to the institution its interface names
//! ([`flyt::execution::institution_of`]); another institution's is answered 404, exactly as one
//! that does not exist. Every answer carries a strict Content-Security-Policy, `nosniff` and
//! `no-referrer`. Sign-ins and page views are logged with the org id and the request id only.

pub mod access;
mod config;
pub mod cookie;
pub mod html;
pub mod oidc;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use flyt::aws::AwsClients;
use flyt::config::Vars;
use flyt::execution::{institution_of, interfaces_of, Execution, ExecutionStore};
use flyt::institution::InstitutionStore;
use flyt::scrub::pseudonym;
use flyt::viewers::Viewers;
use flyt::{Error, Result};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use access::Access;
pub use config::Config;
use cookie::{
    clear_cookie, cookie_values, set_cookie, CookieKey, LoginFlow, Session, LOGIN_COOKIE,
    LOGIN_SECONDS, SESSION_COOKIE, SESSION_SECONDS,
};
use oidc::{random_token, Oidc};

/// The interface name of the function's metrics.
pub const INTERFACE: &str = "log-overview";
/// The XLSX media type.
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The secret `OIDC_SECRET_ID` names.
#[derive(Deserialize)]
pub struct OidcSecret {
    /// The client secret the IdP issued.
    pub client_secret: String,
    /// The key session cookies are signed with (at least 32 characters; random).
    pub cookie_key: String,
}

/// An answer before the common headers are added.
struct Answer {
    status: u16,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    cookies: Vec<String>,
    body: Vec<u8>,
}

impl Answer {
    fn html(status: u16, page: String) -> Answer {
        Answer {
            status,
            content_type: "text/html; charset=utf-8",
            headers: Vec::new(),
            cookies: Vec::new(),
            body: page.into_bytes(),
        }
    }

    fn redirect(status: u16, location: &str) -> Answer {
        let mut answer = Answer::html(status, String::new());
        answer.headers.push(("location", location.to_owned()));
        answer
    }

    fn cookie(mut self, cookie: String) -> Answer {
        self.cookies.push(cookie);
        self
    }
}

/// The function's dependencies, built once per cold start.
pub struct LogOverview {
    config: Config,
    key: CookieKey,
    oidc: Oidc,
    executions: ExecutionStore,
    access: Access,
}

impl LogOverview {
    /// Builds the function from its settings: reads the OIDC secret. The IdP is not called until
    /// someone signs in.
    pub async fn from_vars(vars: &Vars, aws: &AwsClients) -> Result<Self> {
        let config = Config::from_vars(vars)?;
        let secret: OidcSecret = flyt::secrets::load_json(
            &aws.secrets,
            &config.oidc_secret_id,
            "{\"client_secret\": \"<from the IdP>\", \"cookie_key\": \"<at least 32 random characters>\"}",
        )
        .await?;
        LogOverview::new(config, &secret, aws)
    }

    /// Builds the function from settings and a secret already read.
    pub fn new(config: Config, secret: &OidcSecret, aws: &AwsClients) -> Result<Self> {
        let key = CookieKey::new(secret.cookie_key.as_bytes()).ok_or_else(|| {
            Error::configuration(format!(
                "secret {}: cookie_key has fewer than {} characters: store a long random value",
                config.oidc_secret_id,
                cookie::MIN_KEY_BYTES
            ))
        })?;
        if secret.client_secret.trim().is_empty() {
            return Err(Error::configuration(format!(
                "secret {}: client_secret is empty: store the client secret the IdP issued",
                config.oidc_secret_id
            )));
        }
        let oidc = Oidc::new(
            flyt::http::client(config.http_timeout),
            &config.oidc_issuer,
            &config.oidc_client_id,
            &secret.client_secret,
        );
        Ok(LogOverview {
            key,
            oidc,
            executions: ExecutionStore::new(aws.dynamodb.clone(), &config.executions_table),
            access: Access::new(
                InstitutionStore::new(aws.dynamodb.clone(), &config.config_table),
                Viewers::new(aws.dynamodb.clone(), &config.config_table),
                config.institution_cache,
            ),
            config,
        })
    }

    /// The Lambda handler: always an HTTP answer; a failure of Flyt's own is a 500 page.
    pub async fn handle(&self, request: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let request_id = request
            .request_context
            .request_id
            .clone()
            .unwrap_or_default();
        let answer = match self.serve(&request, &request_id).await {
            Ok(answer) => answer,
            Err(error) => {
                tracing::error!(%error, request_id, "log overview request failed");
                Answer::html(
                    500,
                    html::message_page(
                        "Something went wrong",
                        &format!(
                            "The page could not be shown. Try again in a minute; if it keeps \
                             failing, tell Flyt's operators request id {request_id}."
                        ),
                        Some(("/", "Try again")),
                    ),
                )
            }
        };
        let mut metrics = flyt::observability::Metrics::new(INTERFACE);
        metrics.count(&format!("status_{}", answer.status), 1);
        metrics.emit();
        response(answer)
    }

    async fn serve(&self, request: &ApiGatewayV2httpRequest, request_id: &str) -> Result<Answer> {
        let method = request.request_context.http.method.as_str();
        let path = request
            .raw_path
            .clone()
            .or_else(|| request.request_context.http.path.clone())
            .unwrap_or_default();
        let query = request.raw_query_string.as_deref().unwrap_or_default();
        match (method, path.as_str()) {
            ("GET", "/") => self.overview(request, request_id).await,
            ("GET", "/login") => self.login(request, query, request_id).await,
            ("GET", "/callback") => self.callback(request, query, request_id).await,
            ("POST", "/logout") => Ok(self.logout(request, request_id)),
            ("GET", other) => match other.strip_prefix("/executions/") {
                Some(rest) => match rest.strip_suffix("/export.xlsx") {
                    Some(id) => self.execution(request, id, true, request_id).await,
                    None => self.execution(request, rest, false, request_id).await,
                },
                None => Ok(not_found()),
            },
            _ => Ok(not_found()),
        }
    }

    /// The signed-in session, if the request carries a valid one.
    fn session(&self, request: &ApiGatewayV2httpRequest) -> Option<Session> {
        let now = now_s();
        cookies(request, SESSION_COOKIE)
            .into_iter()
            .find_map(|value| self.key.open::<Session>(&value, now))
    }

    /// The session and the institution's short name, or the answer to give instead: a redirect to
    /// sign in, or a 403 when the institution is no longer connected or the person no longer on
    /// its list.
    async fn signed_in(
        &self,
        request: &ApiGatewayV2httpRequest,
        next: &str,
    ) -> Result<std::result::Result<(Session, String), Answer>> {
        let Some(session) = self.session(request) else {
            let login = if next == "/" {
                "/login".to_owned()
            } else {
                format!("/login?next={}", encode(next))
            };
            return Ok(Err(Answer::redirect(302, &login)));
        };
        let ended = |message: &str| {
            Answer::html(
                403,
                html::message_page("Not let in", message, Some(("/login", "Sign in again"))),
            )
            .cookie(clear_cookie(SESSION_COOKIE))
        };
        match self.access.connection(&session.org, false).await? {
            Some(connected) if connected.admits(&session.viewer) => {
                Ok(Ok((session, connected.name)))
            }
            Some(connected) => {
                tracing::info!(org_id = %session.org, reason = "not_listed", "session ended");
                Ok(Err(ended(&format!(
                    "You are no longer on the list of people who may see this log overview. {}",
                    connected.whom_to_ask()
                ))))
            }
            None => Ok(Err(ended(
                "Your institution is no longer connected to Flyt's log overview.",
            ))),
        }
    }

    async fn overview(
        &self,
        request: &ApiGatewayV2httpRequest,
        request_id: &str,
    ) -> Result<Answer> {
        let (session, name) = match self.signed_in(request, "/").await? {
            Ok(signed_in) => signed_in,
            Err(answer) => return Ok(answer),
        };
        let mut executions = Vec::new();
        for interface in interfaces_of(&session.org) {
            executions.extend(
                self.executions
                    .list(&interface, self.config.limit as i32)
                    .await?,
            );
        }
        let executions = visible_to(&session.org, executions, self.config.limit);
        tracing::info!(org_id = %session.org, request_id, page = "overview", "page view");
        Ok(Answer::html(
            200,
            html::overview(&name, &executions, self.config.limit),
        ))
    }

    async fn execution(
        &self,
        request: &ApiGatewayV2httpRequest,
        id: &str,
        export: bool,
        request_id: &str,
    ) -> Result<Answer> {
        if !is_execution_id(id) {
            return Ok(not_found());
        }
        let path = format!("/executions/{id}");
        let (session, name) = match self.signed_in(request, &path).await? {
            Ok(signed_in) => signed_in,
            Err(answer) => return Ok(answer),
        };
        let Some(execution) = self.executions.get(id).await? else {
            return Ok(not_found());
        };
        if !belongs_to(&session.org, &execution) {
            // Another institution's: answered exactly as one that does not exist.
            return Ok(not_found());
        }
        let lines = self.executions.lines(id).await?;
        let page = if export { "export" } else { "execution" };
        tracing::info!(org_id = %session.org, request_id, page, execution_id = %id, "page view");
        if !export {
            return Ok(Answer::html(
                200,
                html::execution_page(&name, &execution, &lines),
            ));
        }
        let bytes = match flyt::export::xlsx(&execution, &lines) {
            Ok(bytes) => bytes,
            Err(error) if error.category() == flyt::Category::Mapping => {
                return Ok(Answer::html(
                    413,
                    html::message_page(
                        "Too large to export",
                        error.message(),
                        Some((&path, "Back")),
                    ),
                ))
            }
            Err(error) => return Err(error),
        };
        Ok(Answer {
            status: 200,
            content_type: XLSX,
            headers: vec![(
                "content-disposition",
                format!("attachment; filename=\"{id}.xlsx\""),
            )],
            cookies: Vec::new(),
            body: bytes,
        })
    }

    /// The redirect URI registered with the IdP.
    fn redirect_uri(&self, request: &ApiGatewayV2httpRequest) -> String {
        let base = self.config.public_url.clone().unwrap_or_else(|| {
            format!(
                "https://{}",
                request
                    .request_context
                    .domain_name
                    .as_deref()
                    .unwrap_or("localhost")
            )
        });
        format!("{base}/callback")
    }

    async fn login(
        &self,
        request: &ApiGatewayV2httpRequest,
        query: &str,
        request_id: &str,
    ) -> Result<Answer> {
        let next = safe_next(&query_value(query, "next").unwrap_or_default());
        if self.session(request).is_some() {
            return Ok(Answer::redirect(302, &next));
        }
        let flow = LoginFlow {
            state: random_token(32),
            nonce: random_token(32),
            verifier: random_token(32),
            next,
            exp: now_s() + LOGIN_SECONDS,
        };
        let url = self
            .oidc
            .authorize_url(
                &self.redirect_uri(request),
                &flow.state,
                &flow.nonce,
                &flow.verifier,
            )
            .await?;
        tracing::info!(request_id, "sign-in started");
        Ok(Answer::redirect(302, &url).cookie(set_cookie(
            LOGIN_COOKIE,
            &self.key.seal(&flow),
            LOGIN_SECONDS,
        )))
    }

    async fn callback(
        &self,
        request: &ApiGatewayV2httpRequest,
        query: &str,
        request_id: &str,
    ) -> Result<Answer> {
        let refused = |status: u16, title: &str, message: &str| {
            Answer::html(
                status,
                html::message_page(title, message, Some(("/login", "Sign in again"))),
            )
            .cookie(clear_cookie(LOGIN_COOKIE))
        };
        let now = now_s();
        let state = query_value(query, "state").unwrap_or_default();
        let flow = cookies(request, LOGIN_COOKIE)
            .into_iter()
            .filter_map(|value| self.key.open::<LoginFlow>(&value, now))
            .find(|flow| bool::from(flow.state.as_bytes().ct_eq(state.as_bytes())));
        let Some(flow) = flow else {
            tracing::warn!(
                request_id,
                reason = "no_matching_sign_in",
                "sign-in refused"
            );
            return Ok(refused(
                400,
                "Sign-in expired",
                "This sign-in took too long, was started in another browser, or was already \
                 used. Sign in again.",
            ));
        };
        if let Some(error) = query_value(query, "error") {
            let error: String = error
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect();
            tracing::warn!(request_id, reason = "idp_error", idp_error = %error, "sign-in refused");
            return Ok(refused(
                403,
                "Sign-in refused",
                &format!("The identity provider did not sign you in ({error})."),
            ));
        }
        let code = query_value(query, "code").unwrap_or_default();
        if code.is_empty() {
            return Ok(refused(
                400,
                "Sign-in failed",
                "The identity provider sent no code.",
            ));
        }
        let token = self
            .oidc
            .exchange(&code, &self.redirect_uri(request), &flow.verifier)
            .await?;
        let identity = match self.oidc.verify(&token, &flow.nonce).await? {
            Ok(identity) => identity,
            Err(refusal) => {
                tracing::warn!(request_id, reason = %refusal, "sign-in refused");
                return Ok(refused(
                    401,
                    "Sign-in failed",
                    "The identity provider's answer could not be verified.",
                ));
            }
        };
        let Some(realm) = identity.realm else {
            tracing::warn!(request_id, reason = "no_realm", "sign-in refused");
            return Ok(refused(
                403,
                "Not connected",
                "Your account has no Feide realm (eduPersonPrincipalName), so it cannot be \
                 matched to an institution.",
            ));
        };
        let Some(org) = self.access.org_of_realm(&realm).await? else {
            tracing::info!(request_id, realm = %realm, reason = "not_connected", "sign-in refused");
            return Ok(refused(
                403,
                "Not connected",
                &format!(
                    "Your institution ({realm}) is not connected to Flyt's log overview. Ask \
                     Flyt's operators to connect it."
                ),
            ));
        };
        let Some(connected) = self.access.connection(&org, true).await? else {
            tracing::info!(org_id = %org, request_id, reason = "not_connected", "sign-in refused");
            return Ok(refused(
                403,
                "Not connected",
                "Your institution is not connected to Flyt's log overview.",
            ));
        };
        // A Feide user, on the institution's list: the realm alone lets no one in.
        let viewer = identity.user.as_deref().map(pseudonym);
        let Some(viewer) = viewer.filter(|viewer| connected.admits(viewer)) else {
            tracing::info!(org_id = %org, request_id, reason = "not_listed", "sign-in refused");
            return Ok(refused(
                403,
                "Not let in",
                &format!(
                    "You signed in with Feide, but you are not on the list of people who may see \
                     this log overview. {}",
                    connected.whom_to_ask()
                ),
            ));
        };
        let session = Session {
            org: org.clone(),
            viewer,
            exp: now + SESSION_SECONDS,
        };
        tracing::info!(org_id = %org, request_id, "sign-in");
        Ok(Answer::redirect(303, &flow.next)
            .cookie(set_cookie(
                SESSION_COOKIE,
                &self.key.seal(&session),
                SESSION_SECONDS,
            ))
            .cookie(clear_cookie(LOGIN_COOKIE)))
    }

    fn logout(&self, request: &ApiGatewayV2httpRequest, request_id: &str) -> Answer {
        match self.session(request) {
            Some(session) => tracing::info!(org_id = %session.org, request_id, "sign-out"),
            None => tracing::info!(request_id, "sign-out without a session"),
        }
        Answer::html(
            200,
            html::message_page(
                "Signed out",
                "You are signed out of Flyt's log overview. To sign out of Feide too, close the \
                 browser.",
                Some(("/login", "Sign in again")),
            ),
        )
        .cookie(clear_cookie(SESSION_COOKIE))
    }
}

/// The executions institution `org` may see, newest first, at most `limit`: only those whose
/// interface names `org`, whatever the query brought.
pub fn visible_to(org: &str, executions: Vec<Execution>, limit: usize) -> Vec<Execution> {
    let mut visible: Vec<Execution> = executions
        .into_iter()
        .filter(|e| belongs_to(org, e))
        .collect();
    visible.sort_by(|a, b| {
        b.started_at_ms
            .cmp(&a.started_at_ms)
            .then_with(|| b.id.cmp(&a.id))
    });
    visible.dedup_by(|a, b| a.id == b.id);
    visible.truncate(limit);
    visible
}

/// Whether `execution` belongs to institution `org`.
pub fn belongs_to(org: &str, execution: &Execution) -> bool {
    institution_of(&execution.interface).as_deref() == Some(org)
}

/// An execution id as Flyt makes them: letters, digits, `-`, `_`, `.`, at most 200.
fn is_execution_id(id: &str) -> bool {
    (1..=200).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !id.starts_with('.')
}

/// Where to go after signing in: a path of this site's pages, else `/`. Never another site
/// (`//host`, `/\host`, a scheme).
pub fn safe_next(next: &str) -> String {
    let is_page = next == "/"
        || next
            .strip_prefix("/executions/")
            .is_some_and(is_execution_id);
    if is_page {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

/// Every value of cookie `name` the request carries.
fn cookies(request: &ApiGatewayV2httpRequest, name: &str) -> Vec<String> {
    let header = request
        .headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok());
    let listed = request.cookies.iter().flatten().map(String::as_str);
    cookie_values(listed.chain(header), name)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// The first value of `name` in a query string, percent-decoded.
fn query_value(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn not_found() -> Answer {
    Answer::html(
        404,
        html::message_page(
            "Not found",
            "There is no such page or execution.",
            Some(("/", "All executions")),
        ),
    )
}

fn now_s() -> i64 {
    flyt::time::now_ms() / 1000
}

/// The answer with the headers every answer carries.
fn response(answer: Answer) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(answer.status);
    let headers = [
        ("content-type", answer.content_type.to_owned()),
        ("content-security-policy", html::content_security_policy()),
        ("x-content-type-options", "nosniff".to_owned()),
        ("referrer-policy", "no-referrer".to_owned()),
        ("x-frame-options", "DENY".to_owned()),
        ("cache-control", "no-store".to_owned()),
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains".to_owned(),
        ),
    ];
    for (name, value) in headers.into_iter().chain(answer.headers) {
        if let Ok(value) = value.parse() {
            response.headers.insert(name, value);
        }
    }
    response.cookies = answer.cookies;
    if answer.content_type == XLSX {
        response.body = Some(Body::Binary(answer.body));
        response.is_base64_encoded = true;
    } else {
        response.body = Some(Body::Text(
            String::from_utf8(answer.body).expect("pages are UTF-8"),
        ));
    }
    response
}

#[cfg(test)]
mod tests;
