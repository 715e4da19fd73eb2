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
use crate::backend::Cause;
use crate::backend::requests::{self, RequestOutcome};

/// Why a request failed, before it is given an object's context.
#[derive(Debug)]
pub enum CallError {
    /// The server answered with an error `Status`.
    Status(Box<Status>),
    /// No answer: connection refused or reset, timeout, TLS failure.
    /// `message` is the whole chain in words; `source` the client's error
    /// (`None`: no answer in time).
    Transport {
        message: String,
        source: Option<Cause>,
    },
    /// The client could not authenticate (e.g. a failing exec plugin).
    Auth {
        message: String,
        source: Option<Cause>,
    },
    /// The request could not be made, or the answer was not JSON.
    Other(String),
}

impl CallError {
    fn retryable(&self) -> bool {
        match self {
            CallError::Status(s) => {
                s.code == 429 || (s.code >= 500 && schema_rejection(s).is_none())
            }
            CallError::Transport { .. } => true,
            CallError::Auth { .. } | CallError::Other(_) => false,
        }
    }

    pub fn code(&self) -> Option<u16> {
        match self {
            CallError::Status(s) => Some(s.code),
            _ => None,
        }
    }
}

/// The fields a server-side apply was refused for because they do not fit
/// the server's schema, as `(path, reason)`: `("spec", "field not declared
/// in schema")`. A real kube-apiserver answers such an apply with **500**
/// (`failed to create typed patch object (NS/NAME; GROUP/VERSION,
/// Kind=KIND): .spec: field not declared in schema`), although retrying it
/// can never succeed; it is invalid input, not a server fault. `None` for
/// any other answer.
pub fn schema_rejection(status: &Status) -> Option<Vec<(String, String)>> {
    const MARK: &str = "failed to create typed patch object";
    if status.code != 500 {
        return None;
    }
    let rest = &status.message[status.message.find(MARK)? + MARK.len()..];
    // Past the object's identity in parentheses.
    let rest = rest.split_once("): ").map_or(rest, |(_, r)| r);
    // One error, or `errors:` and one per line.
    let mut out: Vec<(String, String)> = rest
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('.'))
        .filter_map(|l| l.split_once(": "))
        .map(|(path, reason)| (path.trim_start_matches('.').to_string(), reason.to_string()))
        .collect();
    if out.is_empty() {
        out.push((String::new(), rest.trim().to_string()));
    }
    Some(out)
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
    /// answer. The server's `Warning` headers are logged (debug); the
    /// writes that show them use [`Caller::call`].
    pub async fn json(&self, request: http::Request<Vec<u8>>) -> Result<Value, CallError> {
        let answer = self.call(request).await?;
        for warning in &answer.warnings {
            tracing::debug!(%warning, "the API server warns");
        }
        Ok(answer.value)
    }

    /// [`Caller::json`], with the server's `Warning` headers (e.g. a
    /// deprecated API version, an unknown field the server dropped).
    pub async fn call(&self, request: http::Request<Vec<u8>>) -> Result<Answer, CallError> {
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
                tokio::time::timeout(self.timeout, self.send(attempt)).await
            };
            let err = match result {
                Ok(Ok((text, warnings))) => {
                    requests::record(
                        BACKEND,
                        operation(&request),
                        RequestOutcome::Ok,
                        started.elapsed(),
                    );
                    let value = serde_json::from_str(&text).map_err(|e| {
                        CallError::Other(format!("the server's answer is not JSON: {e}"))
                    })?;
                    return Ok(Answer { value, warnings });
                }
                Ok(Err(e)) => classify(e),
                Err(_) => CallError::Transport {
                    message: format!("no answer within {}s", self.timeout.as_secs_f64()),
                    source: None,
                },
            };
            let outcome = match &err {
                CallError::Status(s) if s.code == 404 => RequestOutcome::NotFound,
                CallError::Transport { .. } => RequestOutcome::Unreachable,
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

/// A successful answer: its JSON, and the server's warnings about the
/// request, one per `Warning` header.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub value: Value,
    pub warnings: Vec<String>,
}

impl Caller {
    /// One attempt: the answer's text and warnings, or the server's error
    /// `Status` (as kube's `request_text` makes it, which drops headers).
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<(String, Vec<String>), kube::Error> {
        let response = self
            .client
            .send(request.map(kube::client::Body::from))
            .await?;
        let code = response.status();
        let warnings = warnings(response.headers());
        let bytes = response.into_body().collect_bytes().await?;
        let text = String::from_utf8(bytes.to_vec()).map_err(kube::Error::FromUtf8)?;
        if code.is_client_error() || code.is_server_error() {
            let status = serde_json::from_str::<Status>(&text).unwrap_or_else(|_| {
                Status::failure(text.trim(), "Failed to parse error data").with_code(code.as_u16())
            });
            return Err(kube::Error::Api(status.boxed()));
        }
        Ok((text, warnings))
    }
}

/// The texts of `Warning: 299 - "text"` headers (RFC 7234's form, which
/// the API server uses); a header in another form is kept whole.
fn warnings(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::WARNING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| {
            let v = v.trim();
            let text = v
                .strip_prefix("299")
                .map(str::trim_start)
                .and_then(|rest| rest.strip_prefix('-'))
                .map(str::trim)
                .unwrap_or(v);
            text.strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(text)
                .replace("\\\"", "\"")
        })
        .filter(|t| !t.is_empty())
        .collect()
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

/// A client error as a [`CallError`], the client's error kept as the
/// source of a transport or authentication failure.
fn classify(err: kube::Error) -> CallError {
    match err {
        kube::Error::Api(status) => CallError::Status(status),
        kube::Error::Auth(e) => CallError::Auth {
            message: chain(&e),
            source: Some(Box::new(e)),
        },
        e @ (kube::Error::HyperError(_) | kube::Error::Service(_)) => CallError::Transport {
            message: chain(&e),
            source: Some(Box::new(e)),
        },
        e => CallError::Other(chain(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_headers_are_read_as_their_text() {
        let mut headers = http::HeaderMap::new();
        headers.append(
            http::header::WARNING,
            "299 - \"unknown field \\\"spec.replica\\\"\""
                .parse()
                .unwrap(),
        );
        headers.append(
            http::header::WARNING,
            "299 - \"policy/v1beta1 PodDisruptionBudget is deprecated\""
                .parse()
                .unwrap(),
        );
        headers.append(http::header::WARNING, "something else".parse().unwrap());
        assert_eq!(
            warnings(&headers),
            [
                "unknown field \"spec.replica\"",
                "policy/v1beta1 PodDisruptionBudget is deprecated",
                "something else",
            ]
        );
    }

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
        let transport = CallError::Transport {
            message: "refused".into(),
            source: None,
        };
        assert!(transport.retryable());
        let auth = CallError::Auth {
            message: "no".into(),
            source: None,
        };
        assert!(!auth.retryable());
    }

    #[test]
    fn a_schema_rejection_answered_500_is_read_as_invalid_input_not_retried() {
        let status = |code, message: &str| Status::failure(message, "").with_code(code);
        let one = status(
            500,
            "failed to create typed patch object (apps/settings; /v1, Kind=ConfigMap): .spec: field not declared in schema",
        );
        assert_eq!(
            schema_rejection(&one),
            Some(vec![(
                "spec".to_string(),
                "field not declared in schema".to_string()
            )])
        );
        assert!(!CallError::Status(Box::new(one)).retryable());
        let two = status(
            500,
            "failed to create typed patch object (/x; /v1, Kind=ConfigMap): errors:\n  .spec: field not declared in schema\n  .data.a: expected string, got &value.valueUnstructured{}",
        );
        assert_eq!(
            schema_rejection(&two).map(|v| v.into_iter().map(|(p, _)| p).collect::<Vec<_>>()),
            Some(vec!["spec".to_string(), "data.a".to_string()])
        );
        // Other server errors stay retryable.
        let etcd = status(500, "etcdserver: request timed out");
        assert_eq!(schema_rejection(&etcd), None);
        assert!(CallError::Status(Box::new(etcd)).retryable());
        assert_eq!(
            schema_rejection(&status(
                422,
                "failed to create typed patch object (x): .a: b"
            )),
            None
        );
    }
}
