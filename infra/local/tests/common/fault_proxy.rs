//! A fault proxy: a real HTTP server on loopback in front of another one (the local gateway, a
//! sandbox system), forwarding every request unchanged except those a rule picks — refused as a
//! failing gateway would, or forwarded and handled but with the answer late or lost on the way
//! back. It faults the network between two real parts; nothing in either is replaced.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use tokio::task::JoinHandle;

/// Runs after a request was forwarded and handled, before its answer is lost: what a crash
/// between the handler's steps would have left behind is put in place here.
pub type AfterHandled = Arc<dyn Fn(HeaderMap, Bytes) -> BoxFuture<'static, ()> + Send + Sync>;

/// What the proxy does with one request.
#[derive(Clone)]
pub enum Fault {
    /// Forwarded, answered as the upstream answers.
    Pass,
    /// Not forwarded: answered with this status at once (the upstream never sees it).
    Refuse(StatusCode),
    /// Forwarded and handled to completion; the answer is held back this long (a caller with a
    /// shorter timeout sees no answer).
    Late(Duration),
    /// Forwarded and handled to completion, then `after` runs, and the caller gets this status
    /// instead of the upstream's answer.
    Lost(StatusCode, Option<AfterHandled>),
}

/// Decides each request's fault from its method, path, body and how many times this same
/// request (method, path and body) was seen before it (0 for the first).
pub type Rule = Arc<dyn Fn(&Method, &str, &[u8], usize) -> Fault + Send + Sync>;

/// A request as the proxy tells repeats apart: method, path and body.
type RequestKey = (String, String, Vec<u8>);

/// How often a request was seen, and the lock an attempt of it holds while it is handled.
type Turns = HashMap<RequestKey, (usize, Arc<tokio::sync::Mutex<()>>)>;

struct Shared {
    upstream: String,
    rule: Rule,
    http: reqwest::Client,
    /// Per request: how often it was seen, and a lock held while one attempt of it is handled
    /// upstream, so a retry reaches the upstream only after the attempt before it was handled
    /// (and its `after` ran), however early the caller gave up on that attempt.
    seen: Mutex<Turns>,
}

/// The running proxy.
pub struct FaultProxy {
    /// Base URL, e.g. `http://127.0.0.1:41234`; a path after it reaches the same path upstream.
    pub url: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (a base URL without a trailing slash) on a free port.
    pub async fn start(upstream: &str, rule: Rule) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("a free loopback port for the fault proxy");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            rule,
            http: reqwest::Client::new(),
            seen: Mutex::default(),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the fault proxy serves");
        });
        FaultProxy {
            url,
            shared,
            server,
        }
    }

    /// Requests seen for a path, retries included.
    pub fn requests_to(&self, path: &str) -> usize {
        self.shared
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|((_, p, _), _)| p == path)
            .map(|(_, (count, _))| *count)
            .sum()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let (earlier, turn) = {
        let mut seen = shared.seen.lock().unwrap();
        let (count, turn) = seen
            .entry((method.to_string(), path.clone(), body.to_vec()))
            .or_default();
        *count += 1;
        (*count - 1, turn.clone())
    };
    let fault = (shared.rule)(&method, &path, &body, earlier);
    if let Fault::Refuse(status) = fault {
        return (status, "refused by the fault proxy").into_response();
    }
    let target = format!(
        "{}{}",
        shared.upstream,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut request = shared.http.request(method, &target).body(body.clone());
    for (name, value) in &headers {
        if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    let after = match &fault {
        Fault::Lost(_, after) => after.clone(),
        _ => None,
    };
    // Handled in a task of its own, holding the request's turn: it completes (with `after`) even
    // if the caller gives up on this attempt first, and a retry waits for it.
    let handled = tokio::spawn(async move {
        let _turn = turn.lock_owned().await;
        let response = request.send().await.expect("the upstream answers");
        let status = response.status();
        let answer_headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_default();
        if let Some(after) = after {
            after(headers, body).await;
        }
        (status, answer_headers, bytes)
    });
    let (status, answer_headers, bytes) = handled.await.expect("the forwarded request completes");
    match fault {
        Fault::Late(delay) => tokio::time::sleep(delay).await,
        Fault::Lost(status, _) => {
            return (status, "answer lost at the fault proxy").into_response();
        }
        Fault::Pass | Fault::Refuse(_) => {}
    }
    let mut response = (status, bytes).into_response();
    if let Some(content_type) = answer_headers.get(axum::http::header::CONTENT_TYPE) {
        response
            .headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, content_type.clone());
    }
    response
}
