//! The daemon's HTTP endpoint, one listener: `/metrics` (Prometheus text),
//! `/healthz` (the process answers), `/readyz` (ready after every source's
//! first sync) and `/api/v1/status` (per source: revision, last sync,
//! result, drifted objects, findings) and `POST /hooks/git` (push
//! webhooks, [`webhook`]).
//!
//! Every replica serves it, leader or not. Nothing here changes state; a
//! webhook only asks the run loop for a sync (on a follower, the trigger
//! waits until it leads). With leader election, `/api/v1/status` also says
//! `"leader": {"identity", "leading"}`, and a follower is ready (it serves
//! metrics and status) while a leader is ready after its first sync: the
//! daemon sets `ready` accordingly.

pub mod listener;
pub mod webhook;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

use crate::finding::Finding;
use crate::metrics::Metrics;
use crate::run::{Observer, SyncOutcome, SyncResult};

/// One source as `/api/v1/status` shows it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    pub name: String,
    pub url: String,
    /// The applied revision.
    pub revision: Option<String>,
    /// When the last sync (not drift check) finished, RFC 3339 UTC.
    pub last_sync: Option<String>,
    /// `success`, `held`, `failed`, `invalid` or `skipped`: of the last
    /// sync, or of the last drift check that failed or held changes back.
    pub result: Option<String>,
    pub error: Option<String>,
    /// Each change held back now by a safety rule or a sync window, with
    /// why (`update ConfigMap/shop/app [kubernetes]: the live object
    /// belongs to …`); it stands until a plan finds it gone.
    pub held: Vec<String>,
    /// `Kind/ns/name [backend]` of every object whose live state differs
    /// from Git, as of the last plan (sync or drift check).
    pub drifted: Vec<String>,
    /// Every object that is not healthy, with why (`Deployment/shop/web
    /// [kubernetes]: in progress: available replicas: 1/2`), as of the
    /// last plan.
    pub unhealthy: Vec<String>,
    /// Findings of the last revision read.
    pub findings: Vec<Finding>,
}

/// The status of every source, updated from outcomes.
#[derive(Clone, Default)]
pub struct StatusBoard(Arc<RwLock<BTreeMap<String, SourceStatus>>>);

impl StatusBoard {
    pub fn snapshot(&self) -> Vec<SourceStatus> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.values().cloned().collect()
    }
}

impl Observer for StatusBoard {
    fn observe(&self, o: &SyncOutcome) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        let s = map.entry(o.source.clone()).or_default();
        s.name.clone_from(&o.source);
        s.url = o.url.to_string();
        if o.revision.is_some() {
            s.revision.clone_from(&o.revision);
        }
        if let Some(plan) = &o.plan {
            s.drifted = plan
                .changes
                .iter()
                .filter(|c| c.action.is_change())
                .map(|c| format!("{} [{}]", c.id, c.backend))
                .collect();
            s.unhealthy = o
                .health
                .iter()
                .filter(|h| h.health != crate::plan::health::Health::Current)
                .map(ToString::to_string)
                .collect();
        }
        s.held = o.held.iter().map(ToString::to_string).collect();
        if o.drift_check {
            // A drift check that healed nothing wrong keeps the last sync's
            // result; one whose healing failed or held changes says so.
            if matches!(o.result, SyncResult::Failed | SyncResult::Held) {
                s.result = Some(o.result.label().to_string());
                s.error.clone_from(&o.error);
            }
            return;
        }
        let finished = chrono::DateTime::<chrono::Utc>::from(o.started + o.duration);
        s.last_sync = Some(finished.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        s.result = Some(o.result.label().to_string());
        s.error.clone_from(&o.error);
        if o.fetched == Some(true) && (o.plan.is_some() || !o.findings.is_empty()) {
            s.findings.clone_from(&o.findings);
        }
    }
}

/// Sends every outcome to several observers.
pub struct Fanout(pub Vec<Arc<dyn Observer>>);

impl Observer for Fanout {
    fn observe(&self, outcome: &SyncOutcome) {
        for o in &self.0 {
            o.observe(outcome);
        }
    }
}

/// What the endpoint reads.
#[derive(Clone)]
pub struct AppState {
    pub metrics: Arc<Metrics>,
    pub status: StatusBoard,
    pub ready: Arc<AtomicBool>,
    pub hooks: webhook::Hooks,
    /// Set when leader election is on.
    pub leader: Option<Leadership>,
}

/// This replica's identity in the Lease and whether it leads now.
#[derive(Clone)]
pub struct Leadership {
    pub identity: String,
    pub leading: tokio::sync::watch::Receiver<bool>,
}

/// Every endpoint on one address: [`status_router`] and [`webhook_router`].
pub fn router(state: AppState) -> Router {
    status_router(state.clone()).merge(webhook_router(state))
}

/// `/metrics`, `/healthz`, `/readyz` and `/api/v1/status`.
pub fn status_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/status", get(status))
        .with_state(state)
}

/// `POST /hooks/git` alone, for a listener of its own (`--webhook-listen`):
/// the one endpoint a forge on the internet must reach.
pub fn webhook_router(state: AppState) -> Router {
    Router::new()
        .route("/hooks/git", post(webhook::handle))
        .with_state(state)
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}

async fn readyz(State(s): State<AppState>) -> Response {
    if s.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the first sync has not finished\n",
        )
            .into_response()
    }
}

async fn status(State(s): State<AppState>) -> Response {
    let mut body = serde_json::json!({ "sources": s.status.snapshot() });
    if let Some(l) = &s.leader {
        body["leader"] = serde_json::json!({
            "identity": l.identity,
            "leading": *l.leading.borrow(),
        });
    }
    axum::Json(body).into_response()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::run::SyncResult;

    #[test]
    fn the_board_keeps_the_last_sync_and_the_drift_of_the_last_plan() {
        let board = StatusBoard::default();
        let mut o = SyncOutcome {
            source: "web".into(),
            url: "/r".into(),
            revision: Some("abc".into()),
            result: SyncResult::Invalid,
            error: Some("revision abc is invalid".into()),
            fetched: Some(true),
            findings: vec![Finding::error("schema", "bad")],
            plan: None,
            report: None,
            started: SystemTime::UNIX_EPOCH,
            duration: Duration::from_secs(1),
            drift_check: false,
            held: Vec::new(),
            render_time: None,
            health: Vec::new(),
        };
        board.observe(&o);
        let s = &board.snapshot()[0];
        assert_eq!(s.result.as_deref(), Some("invalid"));
        assert_eq!(s.last_sync.as_deref(), Some("1970-01-01T00:00:01Z"));
        assert_eq!(s.findings.len(), 1);
        // A drift check whose healing failed says so, with why.
        let mut failed = o.clone();
        failed.drift_check = true;
        failed.result = SyncResult::Failed;
        failed.error = Some("1 drifted object(s) could not be healed: ConfigMap/shop/app: conflict with field manager kubectl-edit".into());
        board.observe(&failed);
        assert_eq!(board.snapshot()[0].result.as_deref(), Some("failed"));
        assert!(
            board.snapshot()[0]
                .error
                .as_deref()
                .unwrap()
                .contains("kubectl-edit")
        );
        board.observe(&o);
        // A drift check keeps the last sync's result.
        o.drift_check = true;
        o.result = SyncResult::Success;
        board.observe(&o);
        assert_eq!(board.snapshot()[0].result.as_deref(), Some("invalid"));
    }
}
