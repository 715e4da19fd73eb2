//! Backends: one adapter per target (Kubernetes, Flintlock) behind one
//! trait, [`Backend`]. The planner never talks to a target: a backend
//! *observes* live state as manifests, [`crate::plan::plan`] compares, and
//! the backend *applies* the resulting changes.
//!
//! [`Snapshot`] is a fixed set of manifests (another Git revision): the
//! offline plan is a plan against a snapshot. [`kubernetes`] and
//! [`flintlock`] talk to real targets.

pub mod flintlock;
pub mod kubernetes;
pub mod order;
pub mod requests;
pub mod retry;

use std::future::Future;

use serde_json::Value;

use crate::manifest::{Manifest, ObjectId};
use crate::plan::Change;

/// Label that marks an object as applied by mooring.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "mooring";
/// Label naming the source (the `source.name` of `mooring.yaml`) that
/// declared the object. Only objects with both labels, this one matching
/// the running source, are ever deleted.
pub const SOURCE_LABEL: &str = "mooring.dev/source";
/// Annotation choosing the Flintlock host of a MicroVM or Ignite VM.
pub const HOST_ANNOTATION: &str = "mooring.dev/host";
/// Annotation refusing replacement (`never`) of a MicroVM whose spec changed.
pub const REPLACE_ANNOTATION: &str = "mooring.dev/replace";

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{backend}: {operation} is not supported by this backend")]
    Unsupported {
        backend: &'static str,
        operation: &'static str,
    },
    /// The target could not be reached or did not answer in time (after
    /// retries). Nothing about live state is known: never prune on this.
    #[error("{backend}: {endpoint} is unreachable: {message}")]
    Unreachable {
        backend: &'static str,
        endpoint: String,
        message: String,
    },
    /// The target refused the credentials.
    #[error("{backend}: {endpoint} refused the credentials: {message}")]
    Unauthorized {
        backend: &'static str,
        endpoint: String,
        message: String,
    },
    /// Another field manager owns fields this apply sets (Kubernetes
    /// server-side apply without force).
    #[error("{backend}: {object}: conflict with field manager {manager}: {message}")]
    Conflict {
        backend: &'static str,
        object: String,
        manager: String,
        message: String,
    },
    /// The desired object cannot be applied as written (e.g. no host for a
    /// MicroVM, a kind the cluster does not serve).
    #[error("{backend}: {object}: {message}")]
    Invalid {
        backend: &'static str,
        object: String,
        message: String,
    },
    #[error("{backend}: {message}")]
    Failed {
        backend: &'static str,
        message: String,
    },
}

/// How a backend carries out a difference between desired and live.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum UpdateStrategy {
    /// Changed in place (Kubernetes server-side apply).
    #[default]
    InPlace,
    /// Deleted and created again (Flintlock has no update RPC).
    Replace,
    /// A replace that the object refuses (`mooring.dev/replace: never`):
    /// the difference is reported as drift and left alone. The string says
    /// why.
    Refused(String),
    /// An in-place update that must not be made (e.g. the live object
    /// belongs to another mooring source): reported, left alone.
    Held(String),
}

/// One object as a backend sees it, ready for [`crate::plan::plan_observed`].
///
/// `desired` and `live` are in the form the plan compares: what the target
/// would hold after applying (for Kubernetes, a server-side dry run) and
/// what it holds now, both without server-owned fields (uid, timestamps,
/// managedFields, status).
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub id: ObjectId,
    pub api_version: String,
    /// Where the object is declared, or for a live-only object, where it
    /// lives (e.g. `flintlock host edge-1`).
    pub file: String,
    pub line: usize,
    /// `None`: not in Git (a prune candidate).
    pub desired: Option<Value>,
    /// `None`: absent from the target.
    pub live: Option<Value>,
    /// The live object carries mooring's ownership labels for this source.
    pub owned: bool,
    pub update: UpdateStrategy,
    /// Backend-private reference to the live object (e.g. `host/uid`),
    /// carried into the [`Change`] for `apply`.
    pub handle: Option<String>,
    /// Health or other facts worth showing next to the object, e.g.
    /// `FAILED (retried 3 times)`.
    pub notes: Vec<String>,
}

/// What `apply` did to one object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Past tense, e.g. `created`, `replaced (deleted uid 1f2e…, created uid 9a8b…)`.
    pub summary: String,
    /// The object was applied but is not healthy (e.g. Flintlock `FAILED`).
    pub unhealthy: Option<String>,
}

/// What happened to a watched object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchChange {
    /// Created or changed.
    Applied,
    Deleted,
    /// The watch (re)listed the kind, when it started or after it broke
    /// (an error, an expired resourceVersion): changes made before are not
    /// known one by one.
    Listed,
}

/// A change to a live object a backend watches, after the watch was
/// established (the objects of a list are not reported, only that a list
/// happened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    pub backend: &'static str,
    pub change: WatchChange,
    /// The object; for [`WatchChange::Listed`], a placeholder naming the
    /// kind only.
    pub id: ObjectId,
}

/// A backend's watch: endless unless the backend gives up on it.
pub type WatchStream = futures::stream::BoxStream<'static, WatchEvent>;

/// A target mooring reconciles.
///
/// Contract: `observe` lists live state with O(kinds × namespaces) list
/// calls, never one read per object; it returns every desired object it
/// handles plus every live object carrying this source's ownership labels.
/// It fails as a whole ([`BackendError`]) when live state cannot be fully
/// read, so that nothing is ever pruned from a partial view.
pub trait Backend: Send + Sync {
    /// Short name used in plans, logs and metrics (`kubernetes`, `flintlock`).
    fn name(&self) -> &'static str;

    /// Whether objects of this manifest's kind are this backend's to manage.
    fn handles(&self, manifest: &Manifest) -> bool;

    /// Live state for `desired` (only manifests this backend handles are
    /// passed), plus every object this backend holds that carries
    /// mooring's ownership labels for this source.
    fn observe(
        &self,
        desired: &[Manifest],
    ) -> impl Future<Output = Result<Vec<Observed>, BackendError>> + Send;

    /// Carries out one planned change. `desired` is the manifest for
    /// create, update and replace, `None` for delete.
    fn apply(
        &self,
        change: &Change,
        desired: Option<&Manifest>,
    ) -> impl Future<Output = Result<Applied, BackendError>> + Send;

    /// Changes to the live objects of `desired`'s kinds that carry this
    /// source's ownership labels, as they happen, so drift is seen between
    /// drift checks. `None`: this backend cannot watch (the default); the
    /// periodic drift check is then the only one. The stream retries by
    /// itself and ends only if the backend gives up.
    fn watch(
        &self,
        desired: &[Manifest],
    ) -> impl Future<Output = Result<Option<WatchStream>, BackendError>> + Send {
        let _ = desired;
        async { Ok(None) }
    }
}

/// The object-safe face of [`Backend`], so that the engine can hold a list
/// of different backends. Every `Backend` is a `DynBackend`.
pub trait DynBackend: Send + Sync {
    fn name(&self) -> &'static str;
    fn handles(&self, manifest: &Manifest) -> bool;
    fn observe_boxed<'a>(
        &'a self,
        desired: &'a [Manifest],
    ) -> futures::future::BoxFuture<'a, Result<Vec<Observed>, BackendError>>;
    fn apply_boxed<'a>(
        &'a self,
        change: &'a Change,
        desired: Option<&'a Manifest>,
    ) -> futures::future::BoxFuture<'a, Result<Applied, BackendError>>;
    fn watch_boxed<'a>(
        &'a self,
        desired: &'a [Manifest],
    ) -> futures::future::BoxFuture<'a, Result<Option<WatchStream>, BackendError>>;
}

impl<B: Backend> DynBackend for B {
    fn name(&self) -> &'static str {
        Backend::name(self)
    }

    fn handles(&self, manifest: &Manifest) -> bool {
        Backend::handles(self, manifest)
    }

    fn observe_boxed<'a>(
        &'a self,
        desired: &'a [Manifest],
    ) -> futures::future::BoxFuture<'a, Result<Vec<Observed>, BackendError>> {
        Box::pin(self.observe(desired))
    }

    fn apply_boxed<'a>(
        &'a self,
        change: &'a Change,
        desired: Option<&'a Manifest>,
    ) -> futures::future::BoxFuture<'a, Result<Applied, BackendError>> {
        Box::pin(self.apply(change, desired))
    }

    fn watch_boxed<'a>(
        &'a self,
        desired: &'a [Manifest],
    ) -> futures::future::BoxFuture<'a, Result<Option<WatchStream>, BackendError>> {
        Box::pin(self.watch(desired))
    }
}

/// `manifest` with mooring's ownership labels for `source` set, as every
/// object is applied.
pub fn with_ownership(manifest: &Manifest, source: &str) -> Manifest {
    let mut out = manifest.clone();
    if let Some(obj) = out.value.as_object_mut() {
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(meta) = meta.as_object_mut() {
            let labels = meta
                .entry("labels")
                .or_insert_with(|| Value::Object(Default::default()));
            if !labels.is_object() {
                *labels = Value::Object(Default::default());
            }
            if let Some(labels) = labels.as_object_mut() {
                labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY_VALUE.into());
                labels.insert(SOURCE_LABEL.into(), source.into());
            }
        }
    }
    out
}

/// Whether a live object's labels mark it as this source's.
pub fn is_owned(labels: Option<&serde_json::Map<String, Value>>, source: &str) -> bool {
    labels.is_some_and(|l| {
        l.get(MANAGED_BY_LABEL).and_then(Value::as_str) == Some(MANAGED_BY_VALUE)
            && l.get(SOURCE_LABEL).and_then(Value::as_str) == Some(source)
    })
}

/// The other mooring source a live object's labels name, if they name one
/// that is not `source`.
pub fn other_source(
    labels: Option<&serde_json::Map<String, Value>>,
    source: &str,
) -> Option<String> {
    let labels = labels?;
    if labels.get(MANAGED_BY_LABEL).and_then(Value::as_str) != Some(MANAGED_BY_VALUE) {
        return None;
    }
    labels
        .get(SOURCE_LABEL)
        .and_then(Value::as_str)
        .filter(|s| *s != source)
        .map(str::to_string)
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

    async fn observe(&self, desired: &[Manifest]) -> Result<Vec<Observed>, BackendError> {
        Ok(crate::plan::pair(
            desired.iter().cloned(),
            self.manifests.iter().cloned(),
        ))
    }

    async fn apply(&self, _: &Change, _: Option<&Manifest>) -> Result<Applied, BackendError> {
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
        let plan = crate::plan::plan_observed("snapshot", observed);
        assert_eq!((plan.summary.create, plan.summary.delete), (1, 1));
        let err = backend.apply(&plan.changes[0], None).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "snapshot: apply is not supported by this backend"
        );
    }
}
