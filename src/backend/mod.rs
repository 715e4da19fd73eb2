//! Backends: one adapter per target (Kubernetes, Flintlock) behind one
//! trait, [`Backend`]. The planner never talks to a target: a backend
//! *observes* live state as manifests, [`crate::plan::plan`] compares, and
//! the backend *applies* the resulting changes.
//!
//! Today the only backend is [`Snapshot`], a fixed set of manifests (another
//! Git revision): the offline plan is a plan against a snapshot. The
//! Kubernetes and Flintlock adapters arrive with the backends issue.

use std::future::Future;

use crate::manifest::Manifest;
use crate::plan::Change;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{backend}: {operation} is not supported by this backend")]
    Unsupported {
        backend: &'static str,
        operation: &'static str,
    },
    #[error("{backend}: {message}")]
    Failed {
        backend: &'static str,
        message: String,
    },
}

/// A target mooring reconciles.
pub trait Backend: Send + Sync {
    /// Short name used in plans, logs and metrics (`kubernetes`, `flintlock`).
    fn name(&self) -> &'static str;

    /// Whether objects of this manifest's kind are this backend's to manage.
    fn handles(&self, manifest: &Manifest) -> bool;

    /// Live state for `desired`: their live counterparts, plus every object
    /// this backend holds that carries mooring's ownership labels (so that
    /// deletions are seen).
    fn observe(
        &self,
        desired: &[Manifest],
    ) -> impl Future<Output = Result<Vec<Manifest>, BackendError>> + Send;

    /// Carries out one planned change.
    fn apply(
        &self,
        change: &Change,
        desired: Option<&Manifest>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
}

/// A read-only backend whose live state is a fixed set of manifests.
pub struct Snapshot {
    manifests: Vec<Manifest>,
}

impl Snapshot {
    pub fn new(manifests: Vec<Manifest>) -> Self {
        Snapshot { manifests }
    }
}

impl Backend for Snapshot {
    fn name(&self) -> &'static str {
        "snapshot"
    }

    fn handles(&self, _: &Manifest) -> bool {
        true
    }

    async fn observe(&self, _desired: &[Manifest]) -> Result<Vec<Manifest>, BackendError> {
        Ok(self.manifests.clone())
    }

    async fn apply(&self, _: &Change, _: Option<&Manifest>) -> Result<(), BackendError> {
        Err(BackendError::Unsupported {
            backend: "snapshot",
            operation: "apply",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Limits, SourceFile, load};

    #[tokio::test]
    async fn a_plan_against_a_snapshot_sees_its_objects() {
        let file = |text: &str| SourceFile {
            path: "m.yaml".into(),
            rel: "m.yaml".into(),
            bytes: text.as_bytes().to_vec(),
        };
        let live = load(
            &[file(
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
            )],
            &Limits::default(),
        )
        .manifests;
        let desired = load(
            &[file(
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
            )],
            &Limits::default(),
        )
        .manifests;
        let backend = Snapshot::new(live);
        let observed = backend.observe(&desired).await.unwrap();
        let plan = crate::plan::plan(&desired, &observed);
        assert_eq!((plan.summary.create, plan.summary.delete), (1, 1));
        let err = backend.apply(&plan.changes[0], None).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "snapshot: apply is not supported by this backend"
        );
    }
}
