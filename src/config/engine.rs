//! From a configuration to the [`Engine`] it describes: the one place
//! that knows which settings make which backend, so the engine, the
//! backends and the source never read a configuration.

use crate::backend::DynBackend;
use crate::backend::flintlock::Flintlock;
use crate::backend::kubernetes::Kubernetes;
use crate::engine::{Engine, EngineError};

use super::Config;

impl Config {
    /// The engine for the targets this configuration names (Kubernetes,
    /// then Flintlock), labelling objects as the source named `source`,
    /// with its concurrency and request timeout. Every command that talks
    /// to targets, and the daemon per source, builds its engine here.
    pub async fn engine(&self, source: &str) -> Result<Engine, EngineError> {
        let mut backends: Vec<Box<dyn DynBackend>> = Vec::new();
        if let Some(k) = &self.targets.kubernetes {
            let kube = Kubernetes::connect(k, source, self.concurrency, self.timeout)
                .await?
                .with_self_heal(self.self_heal);
            backends.push(Box::new(kube));
        }
        if !self.targets.flintlock.is_empty() {
            let fl = Flintlock::new(
                &self.targets.flintlock,
                source,
                self.concurrency,
                self.timeout,
            )?;
            backends.push(Box::new(fl));
        }
        if backends.is_empty() {
            return Err(EngineError::NoTarget);
        }
        Ok(Engine::new(backends, source, self.concurrency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_engine_is_built_from_the_configured_targets_only() {
        let err = Config::default()
            .engine("default")
            .await
            .err()
            .expect("no target");
        assert!(matches!(err, EngineError::NoTarget), "{err}");
        assert!(err.to_string().contains("--flintlock NAME=URL"), "{err}");

        // Flintlock channels connect lazily: no flintlockd is needed to build.
        let config = Config::parse(
            "source: {name: team-a}\ntargets:\n  flintlock:\n    - {name: edge-1, endpoint: 'http://127.0.0.1:9'}\nconcurrency: 3\n",
            "m.yaml",
        )
        .unwrap();
        let engine = config.engine("team-a").await.unwrap();
        assert_eq!(engine.backends(), ["flintlock"]);
        assert_eq!(engine.source(), "team-a");
        assert_eq!(engine.concurrency(), 3);
    }
}
