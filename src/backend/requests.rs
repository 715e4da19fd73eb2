//! What every request to a target cost and how it ended, for
//! `mooring_backend_requests_total` and
//! `mooring_backend_request_duration_seconds`.
//!
//! Backends report each attempt (a retried request counts once per try)
//! here; the daemon installs a [`RequestSink`] (its metrics) once at start.
//! Without one, reporting costs an atomic load. A process-wide sink, like
//! `tracing`'s dispatcher, keeps the backends' constructors free of a
//! metrics parameter that only the daemon uses.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// The target answered with success.
    Ok,
    /// The target answered: the object does not exist.
    NotFound,
    /// The target answered with another error (conflict, invalid, ...).
    Error,
    /// No answer: connection refused or reset, timeout, TLS failure.
    Unreachable,
}

impl RequestOutcome {
    pub fn label(self) -> &'static str {
        match self {
            RequestOutcome::Ok => "ok",
            RequestOutcome::NotFound => "not_found",
            RequestOutcome::Error => "error",
            RequestOutcome::Unreachable => "unreachable",
        }
    }
}

/// Receives every request's outcome.
pub trait RequestSink: Send + Sync {
    fn request(&self, backend: &str, operation: &str, outcome: RequestOutcome, duration: Duration);
}

static SINK: OnceLock<Arc<dyn RequestSink>> = OnceLock::new();

/// Installs the process's sink; false when one is already installed.
pub fn install(sink: Arc<dyn RequestSink>) -> bool {
    SINK.set(sink).is_ok()
}

/// Reports one request.
pub fn record(backend: &str, operation: &str, outcome: RequestOutcome, duration: Duration) {
    if let Some(sink) = SINK.get() {
        sink.request(backend, operation, outcome, duration);
    }
}
