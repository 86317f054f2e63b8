//! The local API Gateway: a real HTTP server on 127.0.0.1 that turns each request into the
//! HTTP API payload (format 2.0) Lambda receives, invokes the function of the matching route, and
//! turns its answer back into HTTP — so the sandbox's Inspera calls the webhook receiver over HTTP,
//! exactly as in AWS.
//!
//! Like an HTTP API it picks the most specific route (literal paths before `{param}`, before a
//! greedy `{proxy+}`), and runs a route's Lambda authorizer first: a request without the identity
//! header is 401 without a call, an answer is cached per identity value for the authorizer's TTL,
//! `isAuthorized: false` is 403, a failing authorizer 500 (not cached), and the authorizer's
//! context reaches the function as `requestContext.authorizer.lambda`. Cookies travel as payload
//! 2.0 has them: the request's in `cookies`, the answer's `cookies` as one `Set-Cookie` each.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use flyt::apply::Deadline;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::functions::Function;
use crate::stack::{Route, RouteAuthorizer};

/// API Gateway's largest request payload.
const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

/// An HTTP API's longest integration timeout: a function that has not answered by then is
/// answered 503 by the gateway, whatever its own timeout.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// A route and what serves it.
#[derive(Clone)]
pub struct RouteTarget {
    /// The route as the template declares it.
    pub route: Route,
    /// The function behind it.
    pub function: Arc<dyn Function>,
    /// The function's timeout: Lambda kills the invocation then, and the gateway answers 500.
    pub timeout: Duration,
    /// The route's authorizer function, if it has one.
    pub authorizer: Option<Arc<dyn Function>>,
}

/// How long calls took, as the gateway saw them: what a benchmark reports separately.
#[derive(Clone, Debug, Default)]
pub struct Timings {
    /// Each authorizer invocation (cache hits cost none).
    pub authorizer: Vec<Duration>,
    /// Requests answered from the authorizer cache.
    pub authorizer_cache_hits: u64,
    /// Each route function invocation.
    pub function: Vec<Duration>,
}

/// An authorizer's answer as cached: until when, whether authorized, its context.
type CachedAnswer = (Instant, bool, Value);

#[derive(Default)]
struct Shared {
    routes: RwLock<Vec<RouteTarget>>,
    /// (authorizer function, identity value) → its cached answer.
    authorizer_cache: Mutex<HashMap<(String, String), CachedAnswer>>,
    timings: Mutex<Timings>,
}

type Routes = Arc<Shared>;

/// The running gateway.
pub struct Gateway {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    routes: Routes,
    server: JoinHandle<()>,
}

impl Gateway {
    /// Starts the gateway on a free port, with no routes yet.
    pub async fn start() -> std::io::Result<Gateway> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let routes: Routes = Arc::default();
        let app = axum::Router::new()
            .fallback(forward)
            .layer(DefaultBodyLimit::max(MAX_PAYLOAD_BYTES))
            .with_state(routes.clone());
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "local gateway stopped");
            }
        });
        Ok(Gateway {
            url,
            routes,
            server,
        })
    }

    /// Replaces the routes (after the functions were built again); cached authorizer answers
    /// are dropped, as a new deployment would.
    pub fn set_routes(&self, routes: Vec<RouteTarget>) {
        *self.routes.routes.write().expect("gateway routes lock") = routes;
        self.routes
            .authorizer_cache
            .lock()
            .expect("authorizer cache lock")
            .clear();
    }

    /// The timings since the last call, which resets them.
    pub fn take_timings(&self) -> Timings {
        std::mem::take(&mut *self.routes.timings.lock().expect("timings lock"))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(
    State(routes): State<Routes>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let found = routes
        .routes
        .read()
        .expect("gateway routes lock")
        .iter()
        .filter_map(|target| {
            let route = &target.route;
            let method_matches = route.method == "ANY" || route.method == method.as_str();
            let (parameters, specificity) =
                method_matches.then(|| match_path(&route.path, &path))??;
            Some((specificity, (target.clone(), parameters)))
        })
        .max_by_key(|(specificity, _)| *specificity)
        .map(|(_, found)| found);
    let Some((
        RouteTarget {
            route,
            function,
            timeout,
            authorizer,
        },
        parameters,
    )) = found
    else {
        return message(StatusCode::NOT_FOUND, "Not Found");
    };
    let mut event = payload(&route, &method, &uri, &headers, &body, parameters);
    if let (Some(config), Some(authorizer)) = (&route.authorizer, authorizer) {
        let identity = headers
            .get(config.identity_header.as_str())
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty());
        let Some(identity) = identity else {
            return message(StatusCode::UNAUTHORIZED, "Unauthorized");
        };
        match authorize(&routes, config, authorizer.as_ref(), identity, &event).await {
            Ok((true, context)) => {
                event["requestContext"]["authorizer"] = json!({ "lambda": context })
            }
            Ok((false, _)) => return message(StatusCode::FORBIDDEN, "Forbidden"),
            Err(error) => {
                tracing::error!(%error, "authorizer failed; the gateway answers 500");
                return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
            }
        }
    }
    let started = Instant::now();
    // Lambda kills the invocation at the function's timeout (API Gateway then answers 500), and
    // the gateway gives up at its integration timeout (503): whichever comes first.
    let killed_at = timeout.min(INTEGRATION_TIMEOUT);
    let answer = tokio::time::timeout(
        killed_at,
        function.invoke(event, Deadline::after(killed_at)),
    )
    .await;
    routes
        .timings
        .lock()
        .expect("timings lock")
        .function
        .push(started.elapsed());
    match answer {
        Ok(Ok(answer)) => http_response(&answer),
        Ok(Err(error)) => {
            tracing::error!(%error, "function failed; the gateway answers 500");
            message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
        Err(_) if timeout < INTEGRATION_TIMEOUT => {
            tracing::error!(
                timeout_ms = timeout.as_millis() as u64,
                "the function timed out and was killed; the gateway answers 500"
            );
            message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
        Err(_) => message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
    }
}

/// API Gateway's own answers: `{"message": ...}`.
fn message(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "message": text }))).into_response()
}

/// The authorizer's answer for `identity`: from the cache while fresh, else from a call (payload
/// 2.0, simple response) that is then cached for the TTL. A failed call is not cached.
async fn authorize(
    routes: &Shared,
    config: &RouteAuthorizer,
    authorizer: &dyn Function,
    identity: &str,
    request: &Value,
) -> flyt::Result<(bool, Value)> {
    let key = (config.function.clone(), identity.to_owned());
    if let Some((until, authorized, context)) = routes
        .authorizer_cache
        .lock()
        .expect("authorizer cache lock")
        .get(&key)
        .cloned()
    {
        if Instant::now() < until {
            routes
                .timings
                .lock()
                .expect("timings lock")
                .authorizer_cache_hits += 1;
            return Ok((authorized, context));
        }
    }
    let mut event = request.clone();
    let object = event.as_object_mut().expect("the payload is an object");
    object.remove("body");
    object.remove("isBase64Encoded");
    object.insert("type".into(), json!("REQUEST"));
    object.insert(
        "routeArn".into(),
        json!(format!(
            "arn:aws:execute-api:eu-north-1:123456789012:local/$default/{}",
            request["routeKey"]
                .as_str()
                .unwrap_or_default()
                .replace(' ', "")
        )),
    );
    object.insert("identitySource".into(), json!([identity]));
    let started = Instant::now();
    let answer = authorizer
        .invoke(event, Deadline::after(INTEGRATION_TIMEOUT))
        .await;
    routes
        .timings
        .lock()
        .expect("timings lock")
        .authorizer
        .push(started.elapsed());
    let answer = answer?;
    let authorized = answer["isAuthorized"].as_bool().unwrap_or(false);
    let context = answer.get("context").cloned().unwrap_or_else(|| json!({}));
    if !config.ttl.is_zero() {
        routes
            .authorizer_cache
            .lock()
            .expect("authorizer cache lock")
            .insert(
                key,
                (Instant::now() + config.ttl, authorized, context.clone()),
            );
    }
    Ok((authorized, context))
}

/// The path parameters when `path` matches the route's template (`{name}` is one segment,
/// a final `{name+}` the rest of the path), and how specific the match is: literal segments count,
/// a greedy match counts least.
fn match_path(template: &str, path: &str) -> Option<(HashMap<String, String>, (bool, usize))> {
    let template: Vec<&str> = template.trim_matches('/').split('/').collect();
    let path: Vec<&str> = path.trim_matches('/').split('/').collect();
    let greedy = template
        .last()
        .and_then(|last| last.strip_prefix('{')?.strip_suffix("+}"));
    let fixed = if greedy.is_some() {
        template.len() - 1
    } else {
        template.len()
    };
    let lengths_fit = match greedy {
        Some(_) => path.len() > fixed,
        None => path.len() == fixed,
    };
    if !lengths_fit {
        return None;
    }
    let mut parameters = HashMap::new();
    let mut literals = 0;
    for (pattern, segment) in template[..fixed].iter().zip(&path) {
        match pattern.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if !segment.is_empty() => {
                parameters.insert(name.to_owned(), (*segment).to_owned());
            }
            Some(_) => return None,
            None if pattern == segment => literals += 1,
            None => return None,
        }
    }
    if let Some(name) = greedy {
        let rest = path[fixed..].join("/");
        if rest.is_empty() {
            return None;
        }
        parameters.insert(name.to_owned(), rest);
    }
    Some((parameters, (greedy.is_none(), literals)))
}

/// The event API Gateway sends for an HTTP API route (payload format 2.0).
fn payload(
    route: &Route,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    parameters: HashMap<String, String>,
) -> Value {
    let mut joined: HashMap<String, String> = HashMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        joined
            .entry(name.as_str().to_ascii_lowercase())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    // Payload 2.0 passes cookies in their own list, not as a header.
    let cookies: Vec<String> = joined
        .remove("cookie")
        .map(|header| {
            header
                .split([';', ','])
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let textual = joined
        .get("content-type")
        .is_some_and(|t| t.contains("json") || t.starts_with("text/"));
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) if textual => (text.to_owned(), false),
        _ => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let route_key = format!("{} {}", route.method, route.path);
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": uri.path(),
        "rawQueryString": uri.query().unwrap_or_default(),
        "headers": joined,
        "pathParameters": parameters,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "http": {
                "method": method.as_str(),
                "path": uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default(),
            },
            "requestId": format!("{:016x}", fastrand::u64(..)),
            "routeKey": route_key,
            "stage": "$default",
            "timeEpoch": flyt::time::now_ms(),
        },
        "body": body,
        "isBase64Encoded": encoded,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    event
}

/// The function's answer (`statusCode`, `headers`, `body`, `isBase64Encoded`) as HTTP.
fn http_response(answer: &Value) -> Response {
    let status = answer["statusCode"]
        .as_u64()
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::OK);
    let text = answer["body"].as_str().unwrap_or_default();
    let body = if answer["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    };
    let mut response = (status, body).into_response();
    for (name, value) in answer["headers"].as_object().into_iter().flatten() {
        if let (Ok(name), Some(Ok(value))) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            value.as_str().map(axum::http::HeaderValue::from_str),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    // Payload 2.0 answers set cookies in their own list: one Set-Cookie header each.
    for cookie in answer["cookies"].as_array().into_iter().flatten() {
        if let Some(Ok(value)) = cookie.as_str().map(axum::http::HeaderValue::from_str) {
            response
                .headers_mut()
                .append(axum::http::header::SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_templates_match_one_segment_per_parameter() {
        let (found, _) =
            match_path("/webhooks/inspera/{instance}", "/webhooks/inspera/uio").unwrap();
        assert_eq!(found["instance"], "uio");
        assert!(match_path("/webhooks/inspera/{instance}", "/webhooks/inspera/").is_none());
        assert!(match_path("/webhooks/inspera/{instance}", "/webhooks/inspera/a/b").is_none());
        assert!(match_path("/webhooks/inspera/{instance}", "/webhooks/wiseflow/uio").is_none());
    }

    #[test]
    fn cookies_travel_in_their_own_lists_both_ways() {
        let route = Route {
            method: "GET".into(),
            path: "/".into(),
            authorizer: None,
        };
        let mut headers = HeaderMap::new();
        headers.insert("cookie", "a=1; b=2".parse().unwrap());
        let event = payload(
            &route,
            &Method::GET,
            &"/".parse().unwrap(),
            &headers,
            b"",
            HashMap::new(),
        );
        assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
        assert!(event["headers"].get("cookie").is_none());
        let response = http_response(&json!({
            "statusCode": 302,
            "headers": {"location": "/"},
            "cookies": ["a=; Max-Age=0; Path=/", "b=3; Path=/; HttpOnly"],
            "body": "",
        }));
        let set: Vec<_> = response
            .headers()
            .get_all(axum::http::header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(set, ["a=; Max-Age=0; Path=/", "b=3; Path=/; HttpOnly"]);
    }

    #[test]
    fn a_greedy_route_takes_the_rest_and_ranks_below_a_literal_one() {
        let (found, greedy) = match_path("/v1/{proxy+}", "/v1/eksamen/klager/INSPERA").unwrap();
        assert_eq!(found["proxy"], "eksamen/klager/INSPERA");
        let (_, literal) = match_path("/v1/openapi.json", "/v1/openapi.json").unwrap();
        assert!(literal > greedy);
        assert!(match_path("/v1/{proxy+}", "/v1").is_none());
        assert!(match_path("/v1/{proxy+}", "/v2/x").is_none());
    }
}
