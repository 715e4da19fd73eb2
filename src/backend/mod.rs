//! Backends: one adapter per target (Kubernetes, Flintlock) behind one
//! trait, [`Backend`]. The planner never talks to a target: a backend
//! *observes* live state as [`Observed`] rows, [`crate::plan::plan_observed`]
//! compares them, and the backend *applies* the resulting changes.
//!
//! Backends depend on the plan (its input, [`Observed`], and its output,
//! [`Change`]), never the other way round. [`kubernetes`] and
//! [`flintlock`] talk to real targets; the offline Git-to-Git plan needs no
//! backend at all ([`crate::plan::plan`]).

pub mod flintlock;
pub mod kubernetes;
pub mod requests;
pub mod retry;
pub mod waiting;

use std::future::Future;

use serde_json::Value;

use crate::finding::Finding;
use crate::kinds::{self, Target};
use crate::manifest::{Manifest, ObjectId};
use crate::plan::Change;
pub use crate::plan::{Observed, UpdateStrategy};

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
pub use crate::plan::policy::REPLACE_ANNOTATION;

/// The error a request to a target failed with, kept whole as the
/// `source()` of [`BackendError::Unreachable`] and the like: a
/// Kubernetes `Status` or `kube::Error`, a Flintlock gRPC status.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a backend could not read or change its target.
///
/// Where a variant keeps its cause (`source`), its `message` already says
/// that cause in words, so `Display` reads whole on the one line the plan,
/// the apply report and the daemon's log show; the message holds the
/// cause's own text, so [`crate::error::with_causes`] adds nothing twice.
/// No variant ever holds a credential: a token or client key never
/// reaches a message or a cause.
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
        /// `None` when there was no answer in time.
        #[source]
        source: Option<Cause>,
    },
    /// The target refused the credentials.
    #[error("{backend}: {endpoint} refused the credentials: {message}")]
    Unauthorized {
        backend: &'static str,
        endpoint: String,
        message: String,
        #[source]
        source: Option<Cause>,
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
    /// The target's configuration cannot be used: a kubeconfig that does
    /// not read, a context it does not have, a client that cannot be made.
    /// The message names the file and the setting.
    #[error("{backend}: {message}")]
    Config {
        backend: &'static str,
        message: String,
        /// What failed underneath (a file that does not read or parse),
        /// not repeated in `message`.
        #[source]
        source: Option<Cause>,
    },
    /// A backend made outside a tokio runtime (a program error).
    #[error("{backend}: must be made inside a tokio runtime")]
    NoRuntime { backend: &'static str },
    /// A change that needs the desired manifest (create, update, replace)
    /// was given none.
    #[error("{backend}: {object}: {action} needs the desired manifest")]
    NoManifest {
        backend: &'static str,
        object: String,
        action: &'static str,
    },
    /// A change to a live object that observe did not see: the change
    /// carries no handle of this backend (made by hand, or by another
    /// backend).
    #[error("{backend}: {object}: no live object was observed for this change; plan again")]
    NoLiveObject {
        backend: &'static str,
        object: String,
    },
    /// A delete on the observed uid found another object by that name: it
    /// was replaced after it was observed, and is left alone.
    #[error(
        "{backend}: {object}: not deleted: it was replaced after it was observed (uid {uid} no longer matches): {message}"
    )]
    Replaced {
        backend: &'static str,
        object: String,
        uid: String,
        message: String,
    },
    /// The target accepted a create without saying the uid it gave.
    #[error("{backend}: {object}: {endpoint} answered the create without a uid")]
    CreatedWithoutUid {
        backend: &'static str,
        object: String,
        endpoint: String,
    },
    /// An object mooring was creating was removed by someone else before
    /// it was ready.
    #[error("{backend}: {object}: {message}")]
    RemovedMeanwhile {
        backend: &'static str,
        object: String,
        message: String,
    },
    /// The target took a change but did not finish it within the wait
    /// limit (a microVM still `PENDING`, or still listed after its delete).
    #[error("{backend}: {object}: {message}")]
    WaitTimedOut {
        backend: &'static str,
        object: String,
        message: String,
    },
    /// The target refused a request for a reason no other variant names
    /// (an unexpected status code).
    #[error("{backend}: {object}: {message}")]
    Refused {
        backend: &'static str,
        object: String,
        message: String,
        #[source]
        source: Option<Cause>,
    },
    /// A request could not be made, or its answer could not be read (not
    /// JSON).
    #[error("{backend}: {object}: {message}")]
    Request {
        backend: &'static str,
        object: String,
        message: String,
    },
}

/// What `apply` did to one object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Done {
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

/// What a backend's `observe` saw: one row per object, and warnings about
/// its target that are no one object's (e.g. a kind its inventory records
/// that the cluster no longer serves).
#[derive(Debug, Default)]
pub struct Observation {
    pub rows: Vec<Observed>,
    pub warnings: Vec<String>,
    /// Objects the target refuses as they are (a dry run of their create
    /// failed: a missing namespace, an invalid name, an unknown field):
    /// errors at the object's file and line, so that a plan that cannot
    /// be applied says so before anything is applied.
    pub refused: Vec<Finding>,
}

impl From<Vec<Observed>> for Observation {
    fn from(rows: Vec<Observed>) -> Observation {
        Observation {
            rows,
            ..Observation::default()
        }
    }
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

    /// The target this backend is: the engine gives it the objects whose
    /// kind the kind table ([`crate::kinds::facts()`]) sends there.
    fn target(&self) -> Target;

    /// Whether objects of this manifest's kind are this backend's to manage.
    fn handles(&self, manifest: &Manifest) -> bool {
        kinds::facts(&manifest.id.group, &manifest.id.kind).target == self.target()
    }

    /// Live state for `desired` (only manifests this backend handles are
    /// passed), plus every object this backend holds that carries
    /// mooring's ownership labels for this source.
    fn observe(
        &self,
        desired: &[Manifest],
    ) -> impl Future<Output = Result<Observation, BackendError>> + Send;

    /// Called once before any change of this backend is carried out in an
    /// apply, with every row the plan has for it: a backend that keeps an
    /// inventory of what the source applied records there each kind and
    /// place the run may touch (Kubernetes: widens the ApplySet parent's
    /// record). An error holds back every change of this backend.
    fn begin_apply(
        &self,
        rows: &[&Change],
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        let _ = rows;
        async { Ok(()) }
    }

    /// Called once after the apply, with every row whose object still
    /// exists or may (all but the deletions carried out): the inventory is
    /// narrowed to them.
    fn end_apply(
        &self,
        remaining: &[&Change],
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        let _ = remaining;
        async { Ok(()) }
    }

    /// Carries out one planned change. `desired` is the manifest for
    /// create, update and replace, `None` for delete.
    fn apply(
        &self,
        change: &Change,
        desired: Option<&Manifest>,
    ) -> impl Future<Output = Result<Done, BackendError>> + Send;

    /// The health of the live object a change made or left
    /// ([`crate::plan::health`]); `None` when this backend cannot tell
    /// (the default).
    fn health(
        &self,
        change: &Change,
    ) -> impl Future<Output = Result<Option<crate::plan::health::Health>, BackendError>> + Send
    {
        let _ = change;
        async { Ok(None) }
    }

    /// What the target says about the desired side before it is validated
    /// (the schemas it serves, where objects without a namespace go), read
    /// once per run. `None`: nothing (the default).
    fn context(&self) -> impl Future<Output = Result<Option<TargetContext>, BackendError>> + Send {
        async { Ok(None) }
    }

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

    /// The plans made from this backend's rows will carry no diff text
    /// ([`crate::plan::Diffs::Skipped`]): a create's row then needs only
    /// what such a plan reads of it, its policy annotations, and the
    /// backend may leave the rest of the object out of
    /// [`Observed::desired`] (a first sync of many objects would hold a
    /// copy of each). The default keeps whole rows.
    fn skip_diffs(&mut self) {}
}

/// The object-safe face of [`Backend`], so that the engine can hold a list
/// of different backends. Every `Backend` is a `DynBackend`.
pub trait DynBackend: Send + Sync {
    fn name(&self) -> &'static str;
    fn target(&self) -> Target;
    fn observe_boxed<'a>(
        &'a self,
        desired: &'a [Manifest],
    ) -> futures::future::BoxFuture<'a, Result<Observation, BackendError>>;
    fn begin_apply_boxed<'a>(
        &'a self,
        rows: &'a [&'a Change],
    ) -> futures::future::BoxFuture<'a, Result<(), BackendError>>;
    fn end_apply_boxed<'a>(
        &'a self,
        remaining: &'a [&'a Change],
    ) -> futures::future::BoxFuture<'a, Result<(), BackendError>>;
    fn apply_boxed<'a>(
        &'a self,
        change: &'a Change,
        desired: Option<&'a Manifest>,
    ) -> futures::future::BoxFuture<'a, Result<Done, BackendError>>;
    fn watch_boxed<'a>(
        &'a self,
        desired: &'a [Manifest],
    ) -> futures::future::BoxFuture<'a, Result<Option<WatchStream>, BackendError>>;
    fn context_boxed(
        &self,
    ) -> futures::future::BoxFuture<'_, Result<Option<TargetContext>, BackendError>>;
    fn health_boxed<'a>(
        &'a self,
        change: &'a Change,
    ) -> futures::future::BoxFuture<'a, Result<Option<crate::plan::health::Health>, BackendError>>;
    fn skip_diffs_dyn(&mut self);
}

impl<B: Backend> DynBackend for B {
    fn name(&self) -> &'static str {
        Backend::name(self)
    }

    fn skip_diffs_dyn(&mut self) {
        Backend::skip_diffs(self)
    }

    fn target(&self) -> Target {
        Backend::target(self)
    }

    fn observe_boxed<'a>(
        &'a self,
        desired: &'a [Manifest],
    ) -> futures::future::BoxFuture<'a, Result<Observation, BackendError>> {
        Box::pin(self.observe(desired))
    }

    fn begin_apply_boxed<'a>(
        &'a self,
        rows: &'a [&'a Change],
    ) -> futures::future::BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(self.begin_apply(rows))
    }

    fn end_apply_boxed<'a>(
        &'a self,
        remaining: &'a [&'a Change],
    ) -> futures::future::BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(self.end_apply(remaining))
    }

    fn apply_boxed<'a>(
        &'a self,
        change: &'a Change,
        desired: Option<&'a Manifest>,
    ) -> futures::future::BoxFuture<'a, Result<Done, BackendError>> {
        Box::pin(self.apply(change, desired))
    }

    fn watch_boxed<'a>(
        &'a self,
        desired: &'a [Manifest],
    ) -> futures::future::BoxFuture<'a, Result<Option<WatchStream>, BackendError>> {
        Box::pin(self.watch(desired))
    }

    fn context_boxed(
        &self,
    ) -> futures::future::BoxFuture<'_, Result<Option<TargetContext>, BackendError>> {
        Box::pin(self.context())
    }

    fn health_boxed<'a>(
        &'a self,
        change: &'a Change,
    ) -> futures::future::BoxFuture<'a, Result<Option<crate::plan::health::Health>, BackendError>>
    {
        Box::pin(self.health(change))
    }
}

/// What a target says about the desired side ([`Backend::context`]).
#[derive(Debug, Default)]
pub struct TargetContext {
    /// The target, for messages: e.g. the API server's URL.
    pub label: String,
    /// Where its configuration came from (`context dev of kubeconfig
    /// $KUBECONFIG (/home/me/.kube/dev)`).
    pub origin: String,
    /// Where a namespaced object without `metadata.namespace` goes (the
    /// kubeconfig context's namespace).
    pub namespace: Option<String>,
    /// The kinds and schemas it serves.
    pub served: crate::kinds::builtin::Served,
}

/// `manifest` with mooring's ownership labels for `source` set, as every
/// object is applied.
pub fn with_ownership(manifest: &Manifest, source: &str) -> Manifest {
    let mut out = manifest.clone();
    set_ownership(&mut out, source);
    out
}

/// Sets mooring's ownership labels for `source` on `manifest`.
pub fn set_ownership(manifest: &mut Manifest, source: &str) {
    if let Some(obj) = manifest.value.as_object_mut() {
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
}

/// Whether a live object's labels mark it as this source's.
pub fn is_owned(labels: Option<&serde_json::Map<String, Value>>, source: &str) -> bool {
    labels.is_some_and(|l| {
        l.get(MANAGED_BY_LABEL).and_then(Value::as_str) == Some(MANAGED_BY_VALUE)
            && l.get(SOURCE_LABEL).and_then(Value::as_str) == Some(source)
    })
}
