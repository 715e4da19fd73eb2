//! Requests to the API server: at most `concurrency` in flight, a time
//! limit on every attempt, and retries with capped exponential backoff on
//! 429, 5xx and transport failures. Only idempotent requests go through
//! here (GET, LIST, server-side apply, DELETE), so a retry is always safe.

use std::sync::Arc;
use std::time::Duration;

use kube::core::Status;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::BACKEND;
use crate::backend::requests::{self, RequestOutcome};

/// Why a request failed, before it is given an object's context.
#[derive(Debug)]
pub enum CallError {
    /// The server answered with an error `Status`.
    Status(Box<Status>),
    /// No answer: connection refused or reset, timeout, TLS failure.
    Transport(String),
    /// The client could not authenticate (e.g. a failing exec plugin).
    Auth(String),
    Other(String),
}

impl CallError {
    fn retryable(&self) -> bool {
        match self {
            CallError::Status(s) => s.code == 429 || s.code >= 500,
            CallError::Transport(_) => true,
            CallError::Auth(_) | CallError::Other(_) => false,
        }
    }

    pub fn code(&self) -> Option<u16> {
        match self {
            CallError::Status(s) => Some(s.code),
            _ => None,
        }
    }
}

pub use crate::backend::retry::Retry;

/// 4 tries from 100 ms, at most 2 s apart.
pub const DEFAULT_RETRY: Retry = Retry {
    attempts: 4,
    base: Duration::from_millis(100),
    max: Duration::from_secs(2),
};

#[derive(Clone)]
pub struct Caller {
    client: kube::Client,
    permits: Arc<Semaphore>,
    timeout: Duration,
    pub retry: Retry,
}

impl Caller {
    pub fn new(client: kube::Client, concurrency: usize, timeout: Duration) -> Caller {
        Caller {
            client,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            timeout,
            retry: DEFAULT_RETRY,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `request` (retrying as the policy says) and reads the JSON
    /// answer.
    pub async fn json(&self, request: http::Request<Vec<u8>>) -> Result<Value, CallError> {
        let mut retry = 0;
        loop {
            let attempt = copy(&request);
            let started = std::time::Instant::now();
            let result = {
                let _permit = self
                    .permits
                    .acquire()
                    .await
                    .map_err(|e| CallError::Other(e.to_string()))?;
                tokio::time::timeout(self.timeout, self.client.request_text(attempt)).await
            };
            let err = match result {
                Ok(Ok(text)) => {
                    requests::record(
                        BACKEND,
                        operation(&request),
                        RequestOutcome::Ok,
                        started.elapsed(),
                    );
                    return serde_json::from_str(&text).map_err(|e| {
                        CallError::Other(format!("the server's answer is not JSON: {e}"))
                    });
                }
                Ok(Err(e)) => classify(e),
                Err(_) => CallError::Transport(format!(
                    "no answer within {}s",
                    self.timeout.as_secs_f64()
                )),
            };
            let outcome = match &err {
                CallError::Status(s) if s.code == 404 => RequestOutcome::NotFound,
                CallError::Transport(_) => RequestOutcome::Unreachable,
                _ => RequestOutcome::Error,
            };
            requests::record(BACKEND, operation(&request), outcome, started.elapsed());
            retry += 1;
            if !err.retryable() || retry >= self.retry.attempts {
                return Err(err);
            }
            tracing::debug!(
                method = %request.method(),
                uri = %request.uri(),
                attempt = retry,
                "retrying after {err:?}"
            );
            tokio::time::sleep(self.retry.delay(retry - 1)).await;
        }
    }
}

/// The operation label of a request: `get` (reads and lists), `dry_run`
/// (a server-side apply with `dryRun=All`), `apply`, `delete`, `update`,
/// `create`.
fn operation(request: &http::Request<Vec<u8>>) -> &'static str {
    let dry_run = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("dryRun=")));
    match *request.method() {
        http::Method::GET => "get",
        http::Method::PATCH if dry_run => "dry_run",
        http::Method::PATCH => "apply",
        http::Method::DELETE => "delete",
        http::Method::PUT => "update",
        http::Method::POST => "create",
        _ => "other",
    }
}

fn copy(request: &http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
    let mut out = http::Request::new(request.body().clone());
    *out.method_mut() = request.method().clone();
    *out.uri_mut() = request.uri().clone();
    *out.headers_mut() = request.headers().clone();
    out
}

/// An error and its sources, joined: `client error (Connect): tcp connect
/// error: Connection refused (os error 111)`.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    let mut depth = 0;
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
        depth += 1;
        if depth > 8 {
            break;
        }
    }
    text
}

fn classify(err: kube::Error) -> CallError {
    match err {
        kube::Error::Api(status) => CallError::Status(status),
        kube::Error::Auth(e) => CallError::Auth(chain(&e)),
        e @ (kube::Error::HyperError(_) | kube::Error::Service(_)) => {
            CallError::Transport(chain(&e))
        }
        e => CallError::Other(chain(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_labelled_by_what_they_do() {
        let req = |method: http::Method, uri: &str| {
            http::Request::builder()
                .method(method)
                .uri(uri)
                .body(Vec::new())
                .unwrap()
        };
        assert_eq!(
            operation(&req(http::Method::GET, "/api/v1/namespaces")),
            "get"
        );
        assert_eq!(
            operation(&req(
                http::Method::PATCH,
                "/api/v1/namespaces/a/configmaps/b?fieldManager=m&dryRun=All"
            )),
            "dry_run"
        );
        assert_eq!(
            operation(&req(
                http::Method::PATCH,
                "/api/v1/namespaces/a/configmaps/b?fieldManager=m"
            )),
            "apply"
        );
        assert_eq!(
            operation(&req(http::Method::DELETE, "/api/v1/namespaces/a")),
            "delete"
        );
    }

    #[test]
    fn only_throttling_server_errors_and_transport_failures_are_retried() {
        let status = |code| CallError::Status(Box::new(Status::failure("x", "y").with_code(code)));
        assert!(status(429).retryable());
        assert!(status(500).retryable());
        assert!(status(503).retryable());
        assert!(!status(409).retryable());
        assert!(!status(422).retryable());
        assert!(!status(401).retryable());
        assert!(CallError::Transport("refused".into()).retryable());
        assert!(!CallError::Auth("no".into()).retryable());
    }
}
