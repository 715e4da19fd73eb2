//! `POST /hooks/git`: push events from GitHub, GitLab and Gitea trigger a
//! sync of every source whose repository they name.
//!
//! Invariants:
//! - The body is read up to [`MAX_BODY`] bytes; a larger one is refused
//!   (413) before anything else happens.
//! - The body must arrive within [`BODY_TIMEOUT`] (408 otherwise), so a
//!   client sending it a byte at a time holds no connection for long.
//! - A source with a secret is triggered only by a request that proves it:
//!   GitHub's `X-Hub-Signature-256` or Gitea's `X-Gitea-Signature`
//!   (HMAC-SHA256 of the raw body) or GitLab's `X-Gitlab-Token`. Comparisons
//!   are constant-time.
//! - Once any source has a secret, a request must prove one of the
//!   configured secrets before anything else is looked at: an unsigned or
//!   wrongly signed one gets the same 401, whether the repository it names
//!   is followed or not, so unauthenticated callers learn nothing of which
//!   repositories are followed.
//! - A trigger only asks for a fetch: the revision applied is always the
//!   one Git has, whatever the payload says. Triggers coalesce, so a burst
//!   of pushes costs one sync.
//! - Secrets never appear in logs, errors or `Debug` output.
//! - With leader election, a follower answers 503 (its run loop is not
//!   running, so a trigger would be lost) after checking the signature.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::config::{Source, Webhook};
use crate::metrics::Metrics;
use crate::run::Trigger;

/// The largest body accepted. GitHub caps payloads at 25 MB, but a push
/// event of a normal size is a few kilobytes; a large push (many commits)
/// stays far below this.
pub const MAX_BODY: usize = 1 << 20;

/// The longest a request body may take to arrive.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A webhook secret. `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("source {source_name}: cannot read webhook.secretFile {path}: {message}")]
    File {
        source_name: String,
        path: String,
        message: String,
    },
    #[error("source {source_name}: webhook.secretEnv: environment variable {var} is not set")]
    Env { source_name: String, var: String },
    #[error("source {source_name}: the webhook secret is empty")]
    Empty { source_name: String },
}

impl Secret {
    /// Reads the secret a source's `webhook` names.
    pub fn resolve(source_name: &str, hook: &Webhook) -> Result<Secret, WebhookError> {
        let text = if let Some(path) = &hook.secret_file {
            crate::file::read_to_string(path).map_err(|e| WebhookError::File {
                source_name: source_name.to_string(),
                path: path.display().to_string(),
                message: e.to_string(),
            })?
        } else if let Some(var) = &hook.secret_env {
            std::env::var(var).map_err(|_| WebhookError::Env {
                source_name: source_name.to_string(),
                var: var.clone(),
            })?
        } else {
            String::new()
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(WebhookError::Empty {
                source_name: source_name.to_string(),
            });
        }
        Ok(Secret(text.to_string()))
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// One source as the webhook sees it.
#[derive(Debug, Clone)]
pub struct HookSource {
    pub name: String,
    /// [`repository_key`] of the source's URL.
    pub key: String,
    pub git_ref: String,
    pub secret: Option<Secret>,
}

impl HookSource {
    pub fn new(source: &Source) -> Result<HookSource, WebhookError> {
        let secret = match &source.webhook {
            Some(hook) => Some(Secret::resolve(&source.name, hook)?),
            None => None,
        };
        Ok(HookSource {
            name: source.name.clone(),
            key: repository_key(source.url.as_deref().unwrap_or_default()),
            git_ref: source.git_ref.clone(),
            secret,
        })
    }
}

/// What the webhook endpoint needs: the sources and where triggers go.
#[derive(Clone)]
pub struct Hooks {
    pub sources: Arc<Vec<HookSource>>,
    pub triggers: mpsc::Sender<Trigger>,
}

/// The forge that sent a request, from its event header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    GitHub,
    GitLab,
    Gitea,
}

impl Forge {
    /// Gitea also sends GitHub's headers, so it is recognised first.
    fn detect(headers: &HeaderMap) -> Option<(Forge, String)> {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if let Some(event) = get("x-gitea-event") {
            return Some((Forge::Gitea, event));
        }
        if let Some(event) = get("x-gitlab-event") {
            return Some((Forge::GitLab, event));
        }
        get("x-github-event").map(|event| (Forge::GitHub, event))
    }

    fn is_push(self, event: &str) -> bool {
        match self {
            Forge::GitHub | Forge::Gitea => event == "push",
            Forge::GitLab => event == "Push Hook" || event == "Tag Push Hook",
        }
    }

    /// Whether the request proves it knows `secret`.
    fn verify(self, headers: &HeaderMap, body: &[u8], secret: &Secret) -> bool {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match self {
            Forge::GitHub => header("x-hub-signature-256")
                .and_then(|v| v.strip_prefix("sha256="))
                .is_some_and(|hex| hmac_matches(secret, body, hex)),
            Forge::Gitea => header("x-gitea-signature")
                .or_else(|| header("x-hub-signature-256").and_then(|v| v.strip_prefix("sha256=")))
                .is_some_and(|hex| hmac_matches(secret, body, hex)),
            Forge::GitLab => header("x-gitlab-token")
                .is_some_and(|token| constant_time_eq(token.as_bytes(), secret.bytes())),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Forge::GitHub => "github",
            Forge::GitLab => "gitlab",
            Forge::Gitea => "gitea",
        }
    }
}

fn hmac_matches(secret: &Secret, body: &[u8], hex: &str) -> bool {
    let Some(expected) = decode_hex(hex.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A repository URL reduced to what identifies the repository, so that
/// `https://GitHub.com/acme/deploy.git`, `git@github.com:acme/deploy` and
/// `ssh://git@github.com:22/acme/deploy/` all match: no scheme, user, port,
/// `.git` or trailing slash; host and path lowercased (the forges treat
/// them case-insensitively). Local paths and `file://` URLs keep their
/// path as written.
pub fn repository_key(url: &str) -> String {
    let url = url.trim();
    if let Some(path) = url.strip_prefix("file://") {
        return path.trim_end_matches('/').to_string();
    }
    let rest = if let Some((_, rest)) = url.split_once("://") {
        rest.to_string()
    } else if let Some((host, path)) = url.split_once(':')
        && !host.contains('/')
        && !url.starts_with('/')
    {
        // scp-like: [user@]host:path
        format!("{host}/{path}")
    } else {
        return url.trim_end_matches('/').to_string();
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest.as_str(), ""));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split_once(':').map_or(host, |(h, _)| h);
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    format!("{host}/{path}").to_lowercase()
}

/// The repository URLs a push payload gives (all of them: clone, ssh, web).
fn payload_urls(body: &Value) -> Vec<String> {
    let mut urls = Vec::new();
    for (object, fields) in [
        (
            "repository",
            &[
                "clone_url",
                "ssh_url",
                "html_url",
                "git_url",
                "url",
                "git_http_url",
                "git_ssh_url",
                "homepage",
            ][..],
        ),
        (
            "project",
            &[
                "git_http_url",
                "git_ssh_url",
                "web_url",
                "http_url",
                "ssh_url",
            ][..],
        ),
    ] {
        for field in fields {
            if let Some(url) = body
                .get(object)
                .and_then(|o| o.get(field))
                .and_then(Value::as_str)
                && !url.is_empty()
                && !urls.iter().any(|u| u == url)
            {
                urls.push(url.to_string());
            }
        }
    }
    urls
}

fn default_branch(body: &Value) -> Option<&str> {
    body.pointer("/repository/default_branch")
        .or_else(|| body.pointer("/project/default_branch"))
        .and_then(Value::as_str)
}

/// Whether a push of `pushed` (`refs/heads/main`, `refs/tags/v1`) can
/// change what a source following `source_ref` sees. When unsure, yes: a
/// needless fetch costs little, a missed one costs an interval.
fn ref_matches(source_ref: &str, pushed: Option<&str>, default_branch: Option<&str>) -> bool {
    let Some(pushed) = pushed else {
        return true;
    };
    if source_ref == "HEAD" {
        return default_branch.is_none_or(|d| pushed == format!("refs/heads/{d}"));
    }
    if source_ref.starts_with("refs/") {
        return source_ref == pushed;
    }
    if source_ref.len() >= 7 && source_ref.chars().all(|c| c.is_ascii_hexdigit()) {
        return true;
    }
    pushed == format!("refs/heads/{source_ref}") || pushed == format!("refs/tags/{source_ref}")
}

fn reply(metrics: &Metrics, status: StatusCode, result: &str, body: Value) -> Response {
    metrics.observe_webhook(result);
    (status, axum::Json(body)).into_response()
}

pub async fn handle(State(s): State<super::AppState>, headers: HeaderMap, body: Body) -> Response {
    let m = &s.metrics;
    let too_large = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_BODY);
    let bytes = match too_large {
        true => None,
        false => {
            match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await {
                Ok(read) => read.ok(),
                Err(_) => {
                    return reply(
                        m,
                        StatusCode::REQUEST_TIMEOUT,
                        "timeout",
                        json!({"error": format!("the body did not arrive within {}s", BODY_TIMEOUT.as_secs())}),
                    );
                }
            }
        }
    };
    let Some(bytes) = bytes else {
        return reply(
            m,
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            json!({"error": format!("the body is over {MAX_BODY} bytes")}),
        );
    };
    let Some((forge, event)) = Forge::detect(&headers) else {
        return reply(
            m,
            StatusCode::BAD_REQUEST,
            "bad_request",
            json!({"error": "not a push event: expected an X-GitHub-Event, X-Gitlab-Event or X-Gitea-Event header"}),
        );
    };
    // With any secret configured, nothing is looked at (not even which
    // repository the payload names) before the request proves one.
    let secrets: Vec<&Secret> = s
        .hooks
        .sources
        .iter()
        .filter_map(|src| src.secret.as_ref())
        .collect();
    if !secrets.is_empty()
        && !secrets
            .iter()
            .any(|secret| forge.verify(&headers, &bytes, secret))
    {
        tracing::warn!(
            forge = forge.label(),
            "webhook refused: missing or wrong signature"
        );
        return unauthorized(m);
    }
    let payload: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            return reply(
                m,
                StatusCode::BAD_REQUEST,
                "bad_request",
                json!({"error": format!("the body is not JSON: {e}")}),
            );
        }
    };
    let urls = payload_urls(&payload);
    let keys: Vec<String> = urls.iter().map(|u| repository_key(u)).collect();
    let matched: Vec<&HookSource> = s
        .hooks
        .sources
        .iter()
        .filter(|src| keys.contains(&src.key))
        .collect();
    if matched.is_empty() {
        if event == "ping" && urls.is_empty() {
            return reply(m, StatusCode::OK, "ignored", json!({"ignored": "ping"}));
        }
        return reply(
            m,
            StatusCode::NOT_FOUND,
            "no_source",
            json!({"error": format!(
                "no source follows this repository (the payload names {})",
                if urls.is_empty() { "no repository URL".to_string() } else { urls.join(", ") }
            )}),
        );
    }
    let proven: Vec<&HookSource> = matched
        .into_iter()
        .filter(|src| {
            src.secret
                .as_ref()
                .is_none_or(|secret| forge.verify(&headers, &bytes, secret))
        })
        .collect();
    if proven.is_empty() {
        tracing::warn!(
            forge = forge.label(),
            "webhook refused: the signature proves another source's secret"
        );
        return unauthorized(m);
    }
    if !forge.is_push(&event) {
        return reply(
            m,
            StatusCode::OK,
            "ignored",
            json!({"ignored": format!("{event} event; only pushes trigger a sync")}),
        );
    }
    if let Some(leader) = &s.leader
        && !*leader.leading.borrow()
    {
        // The leader's run loop is the one that syncs; a trigger queued
        // here would be lost.
        return reply(
            m,
            StatusCode::SERVICE_UNAVAILABLE,
            "follower",
            json!({"error": format!(
                "this replica ({}) follows and does not sync; the leader does. Send webhooks to the leader, or redeliver: the next poll picks the push up anyway",
                leader.identity
            )}),
        );
    }
    let pushed = payload.get("ref").and_then(Value::as_str);
    let default = default_branch(&payload);
    let mut triggered = Vec::new();
    for src in proven {
        if !ref_matches(&src.git_ref, pushed, default) {
            continue;
        }
        // A full queue means syncs are already asked for.
        let _ = s.hooks.triggers.try_send(Trigger::Sync(src.name.clone()));
        triggered.push(src.name.clone());
    }
    tracing::info!(
        forge = forge.label(),
        git_ref = pushed.unwrap_or("-"),
        sources = %triggered.join(","),
        "push webhook"
    );
    if triggered.is_empty() {
        return reply(
            m,
            StatusCode::OK,
            "ignored",
            json!({"ignored": format!("no source follows {}", pushed.unwrap_or("that ref"))}),
        );
    }
    reply(
        m,
        StatusCode::ACCEPTED,
        "accepted",
        json!({"triggered": triggered}),
    )
}

/// The one answer to a request that proves no secret it needs.
fn unauthorized(m: &Metrics) -> Response {
    reply(
        m,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        json!({"error": "the signature (or GitLab token) is missing or matches no webhook secret of this mooring"}),
    )
}

#[cfg(test)]
mod tests;
