//! The Kubernetes backend.
//! (Placeholder until the backend lands.)

use std::time::Duration;

use crate::backend::{Applied, Backend, BackendError, Observed};
use crate::config::KubernetesTarget;
use crate::manifest::Manifest;
use crate::plan::Change;

pub struct Kubernetes;

impl Kubernetes {
    pub async fn connect(
        _target: &KubernetesTarget,
        _source: &str,
        _concurrency: usize,
        _timeout: Duration,
    ) -> Result<Kubernetes, BackendError> {
        Ok(Kubernetes)
    }
}

impl Backend for Kubernetes {
    fn name(&self) -> &'static str {
        "kubernetes"
    }
    fn handles(&self, m: &Manifest) -> bool {
        m.id.group != "flintlock.liquidmetal.dev"
    }
    async fn observe(&self, _: &[Manifest]) -> Result<Vec<Observed>, BackendError> {
        Err(BackendError::Unsupported {
            backend: "kubernetes",
            operation: "observe",
        })
    }
    async fn apply(&self, _: &Change, _: Option<&Manifest>) -> Result<Applied, BackendError> {
        Err(BackendError::Unsupported {
            backend: "kubernetes",
            operation: "apply",
        })
    }
}
