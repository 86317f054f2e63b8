//! The local API Gateway: a real HTTP server on 127.0.0.1 that turns each request into the
//! HTTP API payload (format 2.0) Lambda receives, invokes the function of the matching route, and
//! turns its answer back into HTTP — so the sandbox's Inspera calls the webhook receiver over HTTP,
//! exactly as in AWS.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::functions::Function;
use crate::stack::Route;

/// API Gateway's largest request payload.
const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

type Routes = Arc<RwLock<Vec<(Route, Arc<dyn Function>)>>>;

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

    /// Replaces the routes (after the functions were built again).
    pub fn set_routes(&self, routes: Vec<(Route, Arc<dyn Function>)>) {
        *self.routes.write().expect("gateway routes lock") = routes;
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
        .read()
        .expect("gateway routes lock")
        .iter()
        .find_map(|(route, function)| {
            let method_matches = route.method == "ANY" || route.method == method.as_str();
            let parameters = method_matches.then(|| match_path(&route.path, &path))??;
            Some((route.clone(), function.clone(), parameters))
        });
    let Some((route, function, parameters)) = found else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "Not Found"})),
        )
            .into_response();
    };
    let event = payload(&route, &method, &uri, &headers, &body, parameters);
    match function.invoke(event).await {
        Ok(answer) => http_response(&answer),
        Err(error) => {
            tracing::error!(%error, "function failed; the gateway answers 500");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"message": "Internal Server Error"})),
            )
                .into_response()
        }
    }
}

/// The path parameters when `path` matches the route's template (`{name}` is one segment).
fn match_path(template: &str, path: &str) -> Option<HashMap<String, String>> {
    let template: Vec<&str> = template.trim_matches('/').split('/').collect();
    let path: Vec<&str> = path.trim_matches('/').split('/').collect();
    if template.len() != path.len() {
        return None;
    }
    let mut parameters = HashMap::new();
    for (pattern, segment) in template.iter().zip(&path) {
        match pattern.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if !segment.is_empty() => {
                parameters.insert(name.to_owned(), (*segment).to_owned());
            }
            Some(_) => return None,
            None if pattern == segment => {}
            None => return None,
        }
    }
    Some(parameters)
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
    let textual = joined
        .get("content-type")
        .is_some_and(|t| t.contains("json") || t.starts_with("text/"));
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) if textual => (text.to_owned(), false),
        _ => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let route_key = format!("{} {}", route.method, route.path);
    json!({
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
    })
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
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_templates_match_one_segment_per_parameter() {
        let found = match_path("/webhooks/inspera/{instance}", "/webhooks/inspera/uio").unwrap();
        assert_eq!(found["instance"], "uio");
        assert!(match_path("/webhooks/inspera/{instance}", "/webhooks/inspera/").is_none());
        assert!(match_path("/webhooks/inspera/{instance}", "/webhooks/inspera/a/b").is_none());
        assert!(match_path("/webhooks/inspera/{instance}", "/webhooks/wiseflow/uio").is_none());
    }
}
