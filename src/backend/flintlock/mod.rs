//! The Flintlock backend: microVMs over flintlockd's gRPC API.
//! (Placeholder until the backend lands.)

use std::time::Duration;

use crate::backend::{Applied, Backend, BackendError, Observed};
use crate::config::FlintlockHost;
use crate::manifest::Manifest;
use crate::plan::Change;

pub struct Flintlock;

impl Flintlock {
    pub fn new(
        _hosts: &[FlintlockHost],
        _source: &str,
        _concurrency: usize,
        _timeout: Duration,
    ) -> Result<Flintlock, BackendError> {
        Ok(Flintlock)
    }
}

impl Backend for Flintlock {
    fn name(&self) -> &'static str {
        "flintlock"
    }
    fn handles(&self, m: &Manifest) -> bool {
        m.id.group == "flintlock.liquidmetal.dev"
    }
    async fn observe(&self, _: &[Manifest]) -> Result<Vec<Observed>, BackendError> {
        Err(BackendError::Unsupported {
            backend: "flintlock",
            operation: "observe",
        })
    }
    async fn apply(&self, _: &Change, _: Option<&Manifest>) -> Result<Applied, BackendError> {
        Err(BackendError::Unsupported {
            backend: "flintlock",
            operation: "apply",
        })
    }
}
