//! The Kubernetes backend: discovery, server-side apply, and a diff made
//! the way `kubectl diff --server-side` makes it.
//!
//! - **Discovery** ([`discovery`]) resolves each kind to its resource
//!   (plural, scope) from the group-version resource lists, cached per
//!   [`Kubernetes`] value ([`Kubernetes::reset_discovery`] starts over).
//! - **Observe** reads live state with LIST calls only: one per resource
//!   and namespace that Git mentions, plus one cluster-wide LIST per managed
//!   kind, filtered by mooring's ownership labels, to find what to prune.
//!   The desired side of an object that exists is a server-side dry-run
//!   apply of its manifest, except when [`fields::unchanged`] proves the
//!   apply would change nothing; both sides lose server-owned fields.
//! - **Apply** is a server-side apply with mooring's field manager (forced
//!   only when configured); Namespaces and CustomResourceDefinitions are
//!   waited for (Active / Established). Deletes are conditional on the uid
//!   that was observed.
//! - **Watch** ([`watch`]): one cluster-wide kube-runtime watcher per
//!   resource among the desired objects, with the ownership label
//!   selector, over a client without a read timeout (a watch is quiet for
//!   as long as nothing changes; the watcher renews it every 290 s and
//!   detects a dead connection 5 s after that).
//!
//! Invariants: observe never GETs an object, and fails as a whole when
//! any LIST fails, so nothing is pruned from a partial view; only objects
//! carrying this source's ownership labels are returned as prune
//! candidates; every request has a time limit and goes through one
//! semaphore of `concurrency` permits; only idempotent requests are retried
//! ([`client`]).

mod client;
pub mod discovery;
pub mod fields;
mod kubeconfig;
mod settings;
mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::core::{Request, Status};
use serde_json::{Map, Value};

use crate::backend::{
    Applied, Backend, BackendError, MANAGED_BY_LABEL, MANAGED_BY_VALUE, Observed, SOURCE_LABEL,
    UpdateStrategy, WatchStream, is_owned, other_source,
};
use crate::kinds::{self, Holds, Ready, Scope, Target};
use crate::manifest::{Manifest, ObjectId};
use crate::plan::{Action, Change};

pub use client::Retry;
use client::{CallError, Caller};
use discovery::{Lookup, Resource, split_api_version};
pub use settings::KubernetesTarget;

const BACKEND: &str = "kubernetes";
const CRD_GROUP: &str = "apiextensions.k8s.io";
const CRD_KIND: &str = "CustomResourceDefinition";
/// Objects per LIST page.
const PAGE: u32 = 500;
/// Pause between readiness checks of a Namespace or CRD.
const READY_POLL: Duration = Duration::from_millis(200);

/// A client for the cluster `target` names (in-cluster, or kubeconfig and
/// context), with `timeout` on connecting, reading and writing and kube's
/// own retries off; and the server's URL, for messages. Nothing is sent.
pub async fn client_for(
    target: &KubernetesTarget,
    timeout: Duration,
) -> Result<(kube::Client, String), BackendError> {
    let (config, endpoint) = config_for(target, timeout).await?;
    Ok((make_client(config, &endpoint)?, endpoint))
}

/// What [`client_for`] makes its client from, and the server's URL.
async fn config_for(
    target: &KubernetesTarget,
    timeout: Duration,
) -> Result<(kube::Config, String), BackendError> {
    let mut config = kubeconfig::config_for(target).await?;
    config.connect_timeout = Some(timeout);
    config.read_timeout = Some(timeout);
    config.write_timeout = Some(timeout);
    config.reset_reader_on_write = true;
    // Retries are ours (bounded, and only where safe).
    config.default_retry = false;
    let endpoint = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    Ok((config, endpoint))
}

fn make_client(config: kube::Config, endpoint: &str) -> Result<kube::Client, BackendError> {
    kube::Client::try_from(config)
        .map_err(|e| failed(format!("cannot make a client for {endpoint}: {e}")))
}

/// A Kubernetes cluster as a [`Backend`].
pub struct Kubernetes {
    caller: Caller,
    /// For watches: the same server, without the read timeout.
    watch_client: kube::Client,
    endpoint: String,
    source: String,
    field_manager: String,
    force: bool,
    concurrency: usize,
    discovery: discovery::Cache,
}

impl Kubernetes {
    /// Connects as `target` says: in-cluster, or a kubeconfig
    /// (`target.kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`) and
    /// context (`target.context`, else its current-context). Nothing is
    /// sent to the server yet.
    pub async fn connect(
        target: &KubernetesTarget,
        source: &str,
        concurrency: usize,
        timeout: Duration,
    ) -> Result<Kubernetes, BackendError> {
        let (config, endpoint) = config_for(target, timeout).await?;
        // Watches stay quiet for as long as nothing changes: no read
        // timeout (the watcher renews each watch and notices a dead
        // connection by itself).
        let mut watch_config = config.clone();
        watch_config.read_timeout = None;
        let client = make_client(config, &endpoint)?;
        let mut backend =
            Kubernetes::from_client(client, &endpoint, target, source, concurrency, timeout);
        backend.watch_client = make_client(watch_config, &endpoint)?;
        Ok(backend)
    }

    /// A backend over an existing client; `endpoint` is only used in
    /// messages. Watches use the same client, so its read timeout (if any)
    /// must be longer than a watch request (290 s).
    pub fn from_client(
        client: kube::Client,
        endpoint: &str,
        target: &KubernetesTarget,
        source: &str,
        concurrency: usize,
        timeout: Duration,
    ) -> Kubernetes {
        Kubernetes {
            watch_client: client.clone(),
            caller: Caller::new(client, concurrency, timeout),
            endpoint: endpoint.to_string(),
            source: source.to_string(),
            field_manager: target.field_manager.clone(),
            force: target.force_conflicts,
            concurrency: concurrency.max(1),
            discovery: discovery::Cache::default(),
        }
    }

    /// Replaces the retry policy (tests use short waits).
    pub fn with_retry(mut self, retry: Retry) -> Kubernetes {
        self.caller.retry = retry;
        self
    }

    /// The API server's URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Forgets discovery results, e.g. between two runs of a long-lived
    /// process.
    pub fn reset_discovery(&self) {
        self.discovery.clear();
    }

    // -- discovery -------------------------------------------------------

    async fn fetch_group_version(&self, group: &str, version: &str) -> Result<(), CallError> {
        let request = http::Request::get(discovery::group_version_path(group, version))
            .body(Vec::new())
            .map_err(|e| CallError::Other(e.to_string()))?;
        let resources = match self.caller.json(request).await {
            Ok(list) => discovery::parse_resource_list(group, version, &list),
            Err(e) if e.code() == Some(404) => Vec::new(),
            Err(e) => return Err(e),
        };
        self.discovery.store(group, version, resources);
        Ok(())
    }

    /// The resource serving a kind, or `None` when the server does not
    /// serve it (after refreshing its group-version once).
    async fn resolve(
        &self,
        group: &str,
        version: &str,
        kind: &str,
    ) -> Result<Option<Resource>, CallError> {
        let mut fetched = false;
        loop {
            match self.discovery.lookup(group, version, kind) {
                Lookup::Found(r) => return Ok(Some(r)),
                Lookup::Missing { refreshed } if fetched || refreshed => return Ok(None),
                Lookup::Missing { .. } => self.discovery.mark_refreshed(group, version),
                Lookup::Unknown => {}
            }
            self.fetch_group_version(group, version).await?;
            fetched = true;
        }
    }

    // -- reads -----------------------------------------------------------

    /// Every object of a LIST, page by page, with `apiVersion` and `kind`
    /// filled in (an API server leaves them out of built-in list items).
    async fn list(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        selector: Option<&str>,
    ) -> Result<Vec<Value>, CallError> {
        let mut params = ListParams::default().limit(PAGE);
        if let Some(s) = selector {
            params = params.labels(s);
        }
        let request = Request::new(resource.collection_path(namespace));
        let mut items = Vec::new();
        loop {
            let page = self
                .caller
                .json(
                    request
                        .list(&params)
                        .map_err(|e| CallError::Other(e.to_string()))?,
                )
                .await?;
            if let Some(Value::Array(list)) = page.get("items") {
                for item in list {
                    let mut item = item.clone();
                    if let Some(obj) = item.as_object_mut() {
                        obj.entry("apiVersion")
                            .or_insert_with(|| Value::String(resource.api_version()));
                        obj.entry("kind")
                            .or_insert_with(|| Value::String(resource.kind.clone()));
                    }
                    items.push(item);
                }
            }
            let next = page
                .get("metadata")
                .and_then(|m| m.get("continue"))
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty());
            match next {
                Some(token) => params.continue_token = Some(token.to_string()),
                None => return Ok(items),
            }
        }
    }

    fn selector(&self) -> String {
        format!(
            "{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{SOURCE_LABEL}={}",
            self.source
        )
    }

    fn patch_params(&self) -> PatchParams {
        let params = PatchParams::apply(&self.field_manager);
        if self.force { params.force() } else { params }
    }

    /// The desired side of an object that exists: a server-side dry-run
    /// apply. A conflict or a refusal is a note, not a failure; the desired
    /// side is then computed locally ([`fields::local_apply`]).
    async fn dry_run(
        &self,
        manifest: &Manifest,
        resource: &Resource,
        live: &Value,
    ) -> Result<DryRun, BackendError> {
        let body = apply_body(manifest, resource);
        let namespace = namespace_of(manifest, resource);
        let request = Request::new(resource.collection_path(namespace.as_deref()))
            .patch(
                &manifest.id.name,
                &self.patch_params().dry_run(),
                &Patch::Apply(&body),
            )
            .map_err(|e| failed(format!("{}: {e}", located(manifest))))?;
        match self.caller.json(request).await {
            Ok(result) => Ok((fields::strip_server_fields(&result), Vec::new(), false)),
            Err(CallError::Status(s)) if s.code == 409 => {
                let notes = conflict_owners(&s)
                    .into_iter()
                    .map(|(manager, fields)| {
                        let fields = if fields.is_empty() {
                            "fields".to_string()
                        } else {
                            fields.join(", ")
                        };
                        format!(
                            "conflict: {manager} owns {fields}; apply will fail unless forceConflicts"
                        )
                    })
                    .collect();
                Ok((
                    fields::local_apply(live, &body, &self.field_manager),
                    notes,
                    false,
                ))
            }
            Err(CallError::Status(s)) if s.code == 422 && refuses_immutable_change(&s, live) => {
                Ok((
                    fields::local_apply(live, &body, &self.field_manager),
                    Vec::new(),
                    true,
                ))
            }
            Err(CallError::Status(s)) if s.code == 400 || s.code == 422 => Ok((
                fields::local_apply(live, &body, &self.field_manager),
                vec![format!("the server refuses this object: {}", s.message)],
                false,
            )),
            Err(CallError::Status(s)) if client::schema_rejection(&s).is_some() => Ok((
                fields::local_apply(live, &body, &self.field_manager),
                vec![format!(
                    "the server refuses this object: {}",
                    schema_message(&s)
                )],
                false,
            )),
            Err(e) => Err(self.error(e, &located(manifest))),
        }
    }

    // -- writes ----------------------------------------------------------

    async fn apply_manifest(
        &self,
        manifest: &Manifest,
        action: Action,
    ) -> Result<Applied, BackendError> {
        let object = located(manifest);
        let (group, version) = split_api_version(&manifest.api_version);
        let resource = self
            .resolve(group, version, &manifest.id.kind)
            .await
            .map_err(|e| self.error(e, &object))?
            .ok_or_else(|| not_served(manifest))?;
        let namespace = namespace_of(manifest, &resource);
        let body = apply_body(manifest, &resource);
        let request = Request::new(resource.collection_path(namespace.as_deref()))
            .patch(
                &manifest.id.name,
                &self.patch_params(),
                &Patch::Apply(&body),
            )
            .map_err(|e| failed(format!("{object}: {e}")))?;
        let applied = match self.caller.json(request).await {
            Ok(v) => v,
            Err(CallError::Status(s)) if s.code == 409 => {
                let managers: Vec<String> =
                    conflict_owners(&s).into_iter().map(|(m, _)| m).collect();
                return Err(BackendError::Conflict {
                    backend: BACKEND,
                    object,
                    manager: managers.join(", "),
                    message: s.message.clone(),
                });
            }
            Err(e) => return Err(self.error(e, &object)),
        };
        let summary = match action {
            Action::Create => "created",
            _ => "updated",
        };
        let unhealthy = self
            .wait_ready(&resource, namespace.as_deref(), &manifest.id.name, applied)
            .await
            .map_err(|e| self.error(e, &object))?;
        let summary = if unhealthy.is_some() {
            "deletion started"
        } else {
            summary
        };
        Ok(Applied {
            summary: summary.to_string(),
            unhealthy,
        })
    }

    /// Waits (at most the request timeout) for a Namespace to be Active or
    /// a CRD to be Established; other kinds are ready at once. A CRD's
    /// group is dropped from discovery, so its kind is looked up afresh.
    async fn wait_ready(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        mut object: Value,
    ) -> Result<Option<String>, CallError> {
        let Some(condition) = kinds::facts(&resource.group, &resource.kind).ready else {
            return Ok(None);
        };
        let (what, ready): (&str, fn(&Value) -> bool) = match condition {
            Ready::Active => (condition.name(), namespace_active),
            Ready::Established => (condition.name(), crd_established),
        };
        let deadline = tokio::time::Instant::now() + self.caller.timeout();
        let result = loop {
            if ready(&object) {
                break None;
            }
            if tokio::time::Instant::now() >= deadline {
                break Some(format!(
                    "not {what} after {}s",
                    self.caller.timeout().as_secs()
                ));
            }
            tokio::time::sleep(READY_POLL).await;
            let request = http::Request::get(resource.object_path(namespace, name))
                .body(Vec::new())
                .map_err(|e| CallError::Other(e.to_string()))?;
            object = self.caller.json(request).await?;
        };
        if resource.kind == CRD_KIND
            && let Some(group) = object.pointer("/spec/group").and_then(Value::as_str)
        {
            self.discovery.forget_group(group);
        }
        Ok(result)
    }

    async fn delete(&self, change: &Change) -> Result<Applied, BackendError> {
        let object = change.id.to_string();
        let (uid, path) = match change.handle.as_deref().and_then(|h| h.split_once(' ')) {
            Some((uid, path)) => (Some(uid.to_string()), path.to_string()),
            None => {
                let (group, version) = split_api_version(&change.api_version);
                let resource = self
                    .resolve(group, version, &change.id.kind)
                    .await
                    .map_err(|e| self.error(e, &object))?
                    .ok_or_else(|| BackendError::Invalid {
                        backend: BACKEND,
                        object: object.clone(),
                        message: format!(
                            "kind {} ({}) is not served by the cluster",
                            change.id.kind, change.api_version
                        ),
                    })?;
                let namespace = resource.namespaced.then(|| {
                    change
                        .id
                        .namespace
                        .clone()
                        .unwrap_or_else(|| "default".into())
                });
                (
                    None,
                    resource.object_path(namespace.as_deref(), &change.id.name),
                )
            }
        };
        let Some((collection, name)) = path.rsplit_once('/') else {
            return Err(failed(format!("{object}: no object path to delete")));
        };
        let mut params = DeleteParams::background();
        if let Some(uid) = &uid {
            params.preconditions = Some(Preconditions {
                uid: Some(uid.clone()),
                resource_version: None,
            });
        }
        let request = Request::new(collection)
            .delete(name, &params)
            .map_err(|e| failed(format!("{object}: {e}")))?;
        let (summary, answer) = match self.caller.json(request).await {
            Ok(answer) => ("deleted", answer),
            Err(e) if e.code() == Some(404) => ("already gone", Value::Null),
            Err(CallError::Status(s)) if s.code == 409 && uid.is_some() => {
                return Err(failed(format!(
                    "{object}: not deleted: it was replaced after it was observed (uid {} no longer matches): {}",
                    uid.unwrap_or_default(),
                    s.message
                )));
            }
            Err(e) => return Err(self.error(e, &object)),
        };
        // A Namespace (or anything with finalizers) is only marked for
        // deletion: it is not reported deleted until it is gone.
        let unhealthy = if terminating(&answer) {
            self.wait_gone(&path, uid_of(&answer))
                .await
                .map_err(|e| self.error(e, &object))?
        } else {
            None
        };
        if change.id.group == CRD_GROUP
            && change.id.kind == CRD_KIND
            && let Some((_, group)) = change.id.name.split_once('.')
        {
            self.discovery.forget_group(group);
        }
        let summary = if unhealthy.is_some() {
            "deletion started"
        } else {
            summary
        };
        Ok(Applied {
            summary: summary.to_string(),
            unhealthy,
        })
    }

    /// Waits (at most the request timeout) for the object at `path` to be
    /// gone (404, or another uid: recreated since); if it is not, says why
    /// it is still there.
    async fn wait_gone(&self, path: &str, uid: Option<&str>) -> Result<Option<String>, CallError> {
        let deadline = tokio::time::Instant::now() + self.caller.timeout();
        loop {
            let request = http::Request::get(path.to_string())
                .body(Vec::new())
                .map_err(|e| CallError::Other(e.to_string()))?;
            let object = match self.caller.json(request).await {
                Ok(object) => object,
                Err(e) if e.code() == Some(404) => return Ok(None),
                Err(e) => return Err(e),
            };
            if uid.is_some() && uid_of(&object) != uid {
                return Ok(None);
            }
            if tokio::time::Instant::now() >= deadline {
                let mut finalizers: Vec<&str> = ["/metadata/finalizers", "/spec/finalizers"]
                    .iter()
                    .filter_map(|p| object.pointer(p).and_then(Value::as_array))
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                finalizers.dedup();
                return Ok(Some(format!(
                    "deletion started but still Terminating after {}s, waiting for finalizers [{}]; `mooring plan` shows nothing more to do while it goes",
                    self.caller.timeout().as_secs(),
                    finalizers.join(", ")
                )));
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// A failed request as a [`BackendError`] about `object`.
    fn error(&self, err: CallError, object: &str) -> BackendError {
        let attempts = self.caller.retry.attempts;
        match err {
            CallError::Status(s) if client::schema_rejection(&s).is_some() => {
                BackendError::Invalid {
                    backend: BACKEND,
                    object: object.to_string(),
                    message: schema_message(&s),
                }
            }
            CallError::Status(s) => match s.code {
                401 | 403 => BackendError::Unauthorized {
                    backend: BACKEND,
                    endpoint: self.endpoint.clone(),
                    message: format!("{} {}: {}", s.code, s.reason, s.message),
                },
                400 | 422 => BackendError::Invalid {
                    backend: BACKEND,
                    object: object.to_string(),
                    message: s.message.clone(),
                },
                429 | 500..=599 => BackendError::Unreachable {
                    backend: BACKEND,
                    endpoint: self.endpoint.clone(),
                    message: format!(
                        "{object}: answered {} {} ({attempts} attempts): {}",
                        s.code, s.reason, s.message
                    ),
                },
                code => failed(format!("{object}: {code} {}: {}", s.reason, s.message)),
            },
            CallError::Transport(m) => BackendError::Unreachable {
                backend: BACKEND,
                endpoint: self.endpoint.clone(),
                message: format!("{m} ({attempts} attempts)"),
            },
            CallError::Auth(m) => BackendError::Unauthorized {
                backend: BACKEND,
                endpoint: self.endpoint.clone(),
                message: m,
            },
            CallError::Other(m) => failed(format!("{object}: {m}")),
        }
    }
}

/// One LIST observe makes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ListJob {
    /// Unfiltered lists sort first, so their version of an object wins.
    owned_only: bool,
    resource: Resource,
    namespace: Option<String>,
}

/// The desired side of an object, notes about how it was made, and
/// whether only a replace can make it (an immutable ConfigMap or Secret
/// whose data changed).
type DryRun = (Value, Vec<String>, bool);

/// Identity of a live object across versions.
type LiveKey = (String, String, Option<String>, String);

impl Backend for Kubernetes {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn target(&self) -> Target {
        Target::Kubernetes
    }

    async fn observe(&self, desired: &[Manifest]) -> Result<Vec<Observed>, BackendError> {
        // Kinds: those in Git, and every Kubernetes kind mooring knows (to
        // find what to prune).
        let gvk = |m: &Manifest| {
            let (g, v) = split_api_version(&m.api_version);
            (g.to_string(), v.to_string(), m.id.kind.clone())
        };
        let known: Vec<(String, String, String)> = crate::kinds::all()
            .iter()
            .filter(|k| k.facts().target == Target::Kubernetes)
            .map(|k| {
                (
                    k.group.to_string(),
                    k.version.to_string(),
                    k.kind.to_string(),
                )
            })
            .collect();
        let mut kinds: BTreeSet<(String, String, String)> = desired.iter().map(gvk).collect();
        kinds.extend(known.iter().cloned());

        let unfetched: BTreeSet<(String, String)> = kinds
            .iter()
            .filter(|(g, v, _)| !self.discovery.has(g, v))
            .map(|(g, v, _)| (g.clone(), v.clone()))
            .collect();
        stream::iter(unfetched)
            .map(|(g, v)| async move {
                self.fetch_group_version(&g, &v).await.map_err(|e| {
                    let path = discovery::group_version_path(&g, &v);
                    self.error(e, &format!("discovery ({path})"))
                })
            })
            .buffer_unordered(self.concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        let mut resolved: BTreeMap<(String, String, String), Option<Resource>> = BTreeMap::new();
        for (g, v, k) in &kinds {
            let r = self
                .resolve(g, v, k)
                .await
                .map_err(|e| self.error(e, &format!("discovery of {k} ({g}/{v})")))?;
            resolved.insert((g.clone(), v.clone(), k.clone()), r);
        }

        // Each desired object's resource; kinds a CRD in Git defines are
        // not served yet and are planned as creates.
        let pending = pending_kinds(desired);
        let mut targets: Vec<(&Manifest, Resource, bool)> = Vec::with_capacity(desired.len());
        for m in desired {
            let key = gvk(m);
            match resolved.get(&key).cloned().flatten() {
                Some(r) => {
                    check_scope(m, &r)?;
                    targets.push((m, r, true));
                }
                None => match pending.get(&key) {
                    Some(r) => targets.push((m, r.clone(), false)),
                    None => return Err(not_served(m)),
                },
            }
        }

        // LIST plan: per resource and namespace in Git, plus per managed
        // kind one labelled cluster-wide LIST.
        let mut jobs: BTreeSet<ListJob> = BTreeSet::new();
        let mut by_kind: BTreeMap<(String, String), Resource> = BTreeMap::new();
        for (m, r, served) in &targets {
            if !served {
                continue;
            }
            jobs.insert(ListJob {
                owned_only: false,
                resource: r.clone(),
                namespace: namespace_of(m, r),
            });
            by_kind
                .entry((r.group.clone(), r.kind.clone()))
                .or_insert_with(|| r.clone());
        }
        for k in &known {
            if let Some(Some(r)) = resolved.get(k) {
                by_kind
                    .entry((r.group.clone(), r.kind.clone()))
                    .or_insert_with(|| r.clone());
            }
        }
        for r in by_kind.into_values() {
            let whole = ListJob {
                owned_only: false,
                resource: r.clone(),
                namespace: None,
            };
            if !r.namespaced && jobs.contains(&whole) {
                continue;
            }
            jobs.insert(ListJob {
                owned_only: true,
                resource: r,
                namespace: None,
            });
        }
        let selector = self.selector();
        let mut lists: Vec<(ListJob, Vec<Value>)> = stream::iter(jobs)
            .map(|job| {
                let selector = job.owned_only.then_some(selector.as_str());
                async move {
                    let namespace = job.namespace.as_deref();
                    match self.list(&job.resource, namespace, selector).await {
                        Ok(items) => Ok((job, items)),
                        Err(e) => {
                            let path = job.resource.collection_path(namespace);
                            Err(self.error(e, &format!("LIST {path}")))
                        }
                    }
                }
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        lists.sort_by(|a, b| a.0.cmp(&b.0));

        let mut live: BTreeMap<LiveKey, (Resource, Value)> = BTreeMap::new();
        for (job, items) in lists {
            for item in items {
                let meta = item.get("metadata");
                let Some(name) = meta.and_then(|m| m.get("name")).and_then(Value::as_str) else {
                    continue;
                };
                let namespace = if job.resource.namespaced {
                    meta.and_then(|m| m.get("namespace"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                } else {
                    None
                };
                let key = (
                    job.resource.group.clone(),
                    job.resource.kind.clone(),
                    namespace,
                    name.to_string(),
                );
                live.entry(key)
                    .or_insert_with(|| (job.resource.clone(), item));
            }
        }

        // Pair, and take the fast path or queue a dry-run.
        let mut out: Vec<Observed> = Vec::with_capacity(targets.len());
        let mut dry_runs = Vec::new();
        for (m, r, _) in &targets {
            let namespace = namespace_of(m, r);
            let key = (
                r.group.clone(),
                r.kind.clone(),
                namespace.clone(),
                m.id.name.clone(),
            );
            let mut o = Observed {
                id: m.id.clone(),
                api_version: m.api_version.clone(),
                file: m.file.clone(),
                line: m.line,
                desired: Some(m.value.clone()),
                live: None,
                owned: false,
                update: UpdateStrategy::InPlace,
                handle: None,
                notes: Vec::new(),
            };
            if let Some((live_resource, object)) = live.remove(&key) {
                o.owned = is_owned(labels(&object), &self.source);
                o.handle = handle(&live_resource, &object);
                if let Some(other) = other_source(labels(&object), &self.source) {
                    // Two sources declaring one object would take it from
                    // each other on every run: leave it to its first owner.
                    o.update = UpdateStrategy::Held(format!(
                        "the live object belongs to mooring source `{other}`; two sources must not declare the same object"
                    ));
                }
                if terminating(&object) {
                    // Applying to it would change an object about to go:
                    // it is created afresh once it is gone.
                    let why = "the live object is being deleted (Terminating): it is created again once it is gone; re-run then".to_string();
                    o.notes.push(why.clone());
                    o.update = UpdateStrategy::Held(why);
                }
                let stripped = fields::strip_server_fields(&object);
                if fields::unchanged(&apply_body(m, r), &object, &self.field_manager) {
                    o.desired = Some(stripped.clone());
                } else {
                    dry_runs.push((out.len(), r.clone(), object));
                }
                o.live = Some(stripped);
            }
            out.push(o);
        }
        let results: Vec<(usize, Result<DryRun, BackendError>)> = stream::iter(dry_runs)
            .map(|(i, r, object)| async move { (i, self.dry_run(&desired[i], &r, &object).await) })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        for (i, result) in results {
            let (want, notes, immutable) = result?;
            out[i].desired = Some(want);
            out[i].notes.extend(notes);
            if immutable && out[i].update == UpdateStrategy::InPlace {
                out[i].update = immutable_strategy(&desired[i]);
                if out[i].update == UpdateStrategy::Replace {
                    out[i].notes.push(
                        "immutable: its data cannot change in place, so it is replaced (deleted, then created again); what reads it may miss it for a moment".to_string(),
                    );
                }
            }
        }

        // What is live, ours, and no longer in Git.
        for ((group, kind, namespace, name), (resource, object)) in live {
            // Already being deleted (an earlier prune): deleting it again
            // would be a change on every plan until its finalizers are done.
            if !is_owned(labels(&object), &self.source) || terminating(&object) {
                continue;
            }
            let notes = if kinds::facts(&group, &kind).holds == Holds::NamespacedObjects {
                vec![
                    "deleting a Namespace deletes every object in it, mooring's or not".to_string(),
                ]
            } else {
                Vec::new()
            };
            out.push(Observed {
                id: ObjectId {
                    group,
                    kind,
                    namespace,
                    name,
                },
                api_version: resource.api_version(),
                file: format!("{BACKEND} {}", self.endpoint),
                line: 0,
                desired: None,
                live: Some(fields::strip_server_fields(&object)),
                owned: true,
                update: UpdateStrategy::InPlace,
                handle: handle(&resource, &object),
                notes,
            });
        }
        Ok(out)
    }

    async fn apply(
        &self,
        change: &Change,
        desired: Option<&Manifest>,
    ) -> Result<Applied, BackendError> {
        match change.action {
            Action::Create | Action::Update => {
                let manifest = desired.ok_or_else(|| {
                    failed(format!("{}: no manifest was given to apply", change.id))
                })?;
                self.apply_manifest(manifest, change.action).await
            }
            // An immutable ConfigMap or Secret whose data changed: deleted
            // (only the object observed: the uid precondition), then
            // created from Git.
            Action::Replace => {
                let manifest = desired.ok_or_else(|| {
                    failed(format!("{}: no manifest was given to apply", change.id))
                })?;
                let deleted = self.delete(change).await?;
                if deleted.unhealthy.is_some() {
                    return Ok(deleted);
                }
                let mut created = self.apply_manifest(manifest, Action::Create).await?;
                if created.unhealthy.is_none() {
                    created.summary = "replaced".to_string();
                }
                Ok(created)
            }
            Action::Delete => self.delete(change).await,
            Action::Unchanged | Action::Declared => Ok(Applied {
                summary: "unchanged".to_string(),
                unhealthy: None,
            }),
        }
    }

    /// One watcher per resource among `desired` (kinds the cluster does not
    /// serve are skipped), cluster-wide, on this source's ownership labels.
    async fn watch(&self, desired: &[Manifest]) -> Result<Option<WatchStream>, BackendError> {
        let kinds: BTreeSet<(String, String, String)> = desired
            .iter()
            .map(|m| {
                let (g, v) = split_api_version(&m.api_version);
                (g.to_string(), v.to_string(), m.id.kind.clone())
            })
            .collect();
        let selector = self.selector();
        let mut resources: BTreeMap<(String, String), Resource> = BTreeMap::new();
        for (g, v, k) in kinds {
            match self.resolve(&g, &v, &k).await {
                Ok(Some(r)) => {
                    resources
                        .entry((r.group.clone(), r.plural.clone()))
                        .or_insert(r);
                }
                Ok(None) => {
                    tracing::debug!(kind = %k, api_version = %discovery::api_version(&g, &v), "not served by the cluster: not watched");
                }
                Err(e) => return Err(self.error(e, &format!("discovery of {k} ({g}/{v})"))),
            }
        }
        if resources.is_empty() {
            return Ok(None);
        }
        let streams: Vec<WatchStream> = resources
            .values()
            .map(|r| watch::resource_stream(self.watch_client.clone(), r, &selector))
            .collect();
        Ok(Some(stream::select_all(streams).boxed()))
    }
}

/// A 422 for a change to the data of an immutable ConfigMap or Secret
/// (`immutable: true`), which only a delete and create can carry out.
fn refuses_immutable_change(status: &Status, live: &Value) -> bool {
    live.get("immutable") == Some(&Value::Bool(true))
        && status
            .message
            .contains("field is immutable when `immutable` is set")
}

/// How an immutable object whose data changed is carried out: replaced,
/// unless its manifest says `mooring.dev/replace: never`.
fn immutable_strategy(manifest: &Manifest) -> UpdateStrategy {
    let never = manifest
        .value
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(crate::backend::REPLACE_ANNOTATION))
        .and_then(Value::as_str)
        == Some("never");
    if never {
        UpdateStrategy::Refused(format!(
            "{}:{}: {} is immutable and its data changed, but `{}: never` forbids replacing it: give it a new name in Git (and point what reads it at the new name), or remove the annotation to have mooring delete and re-create it",
            manifest.file,
            manifest.line,
            manifest.id,
            crate::backend::REPLACE_ANNOTATION
        ))
    } else {
        UpdateStrategy::Replace
    }
}

/// What to tell a user whose apply the server's schema refused
/// ([`client::schema_rejection`]): each field, and what to do.
fn schema_message(status: &kube::core::Status) -> String {
    let fields = client::schema_rejection(status).unwrap_or_default();
    let mut undeclared = Vec::new();
    let mut wrong = Vec::new();
    for (path, reason) in fields {
        if reason == "field not declared in schema" {
            undeclared.push(format!("`{path}`"));
        } else if path.is_empty() {
            wrong.push(reason);
        } else {
            wrong.push(format!("`{path}`: {reason}"));
        }
    }
    let mut parts = Vec::new();
    if !undeclared.is_empty() {
        parts.push(format!(
            "field {} is not declared in the server's schema for this kind: remove it or correct its name in the manifest (for a custom resource, check that its CustomResourceDefinition declares it)",
            undeclared.join(", ")
        ));
    }
    if !wrong.is_empty() {
        parts.push(format!(
            "the server's schema refuses {}: correct the value in the manifest",
            wrong.join("; ")
        ));
    }
    parts.join("; ")
}

pub(crate) fn failed(message: String) -> BackendError {
    BackendError::Failed {
        backend: BACKEND,
        message,
    }
}

/// `file:line: Kind/ns/name`, how errors about a manifest name it.
fn located(m: &Manifest) -> String {
    format!("{}:{}: {}", m.file, m.line, m.id)
}

fn not_served(m: &Manifest) -> BackendError {
    BackendError::Invalid {
        backend: BACKEND,
        object: located(m),
        message: format!(
            "kind {} ({}) is not served by the cluster: is its CustomResourceDefinition installed?",
            m.id.kind, m.api_version
        ),
    }
}

/// A kind whose scope changed between upstream releases (wasmCloud `Host`)
/// is namespaced in a manifest with `metadata.namespace` and cluster-scoped
/// in one without; the installed CRD must agree.
fn check_scope(m: &Manifest, r: &Resource) -> Result<(), BackendError> {
    if m.kind.is_none_or(|k| k.scope != Scope::NamespacedOrCluster) {
        return Ok(());
    }
    let message = match (m.id.namespace.is_some(), r.namespaced) {
        (true, false) => format!(
            "the cluster's {} ({}) is cluster-scoped (an older CRD), but this manifest sets \
             metadata.namespace: remove it, or install the namespaced CRD",
            m.id.kind, m.api_version
        ),
        (false, true) => format!(
            "the cluster's {} ({}) is namespaced, but this manifest has no \
             metadata.namespace (the older cluster-scoped form): set metadata.namespace",
            m.id.kind, m.api_version
        ),
        _ => return Ok(()),
    };
    Err(BackendError::Invalid {
        backend: BACKEND,
        object: located(m),
        message,
    })
}

/// The namespace an object lives in: its own (or `default`) for a
/// namespaced resource, none for a cluster-scoped one, whatever the
/// manifest says.
fn namespace_of(m: &Manifest, r: &Resource) -> Option<String> {
    r.namespaced.then(|| {
        m.id.namespace
            .clone()
            .unwrap_or_else(|| "default".to_string())
    })
}

/// The body of a server-side apply: the manifest without `status`, with
/// the namespace its resource's scope calls for.
fn apply_body(m: &Manifest, r: &Resource) -> Value {
    let mut body = m.value.clone();
    if let Some(obj) = body.as_object_mut() {
        obj.remove("status");
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            match namespace_of(m, r) {
                Some(ns) => {
                    meta.insert("namespace".into(), Value::String(ns));
                }
                None => {
                    meta.remove("namespace");
                }
            }
        }
    }
    body
}

fn labels(object: &Value) -> Option<&Map<String, Value>> {
    object
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
}

/// `<uid> <object path>`: what a delete needs, and the uid it must still
/// have.
fn handle(resource: &Resource, object: &Value) -> Option<String> {
    let meta = object.get("metadata")?;
    let name = meta.get("name")?.as_str()?;
    let uid = meta.get("uid").and_then(Value::as_str).unwrap_or_default();
    let namespace = meta.get("namespace").and_then(Value::as_str);
    let path = resource.object_path(namespace, name);
    if uid.is_empty() {
        None
    } else {
        Some(format!("{uid} {path}"))
    }
}

/// A live object marked for deletion, waiting for its finalizers
/// (a Namespace always is, until the namespace controller empties it).
fn terminating(object: &Value) -> bool {
    object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

fn uid_of(object: &Value) -> Option<&str> {
    object.pointer("/metadata/uid").and_then(Value::as_str)
}

fn namespace_active(object: &Value) -> bool {
    object.pointer("/status/phase").and_then(Value::as_str) == Some("Active")
}

fn crd_established(object: &Value) -> bool {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conds| {
            conds.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Established")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// Kinds the CustomResourceDefinitions in Git will serve, by (group,
/// version, kind).
fn pending_kinds(desired: &[Manifest]) -> BTreeMap<(String, String, String), Resource> {
    let mut out = BTreeMap::new();
    for m in desired {
        if m.id.group != CRD_GROUP || m.id.kind != CRD_KIND {
            continue;
        }
        let spec = m.value.get("spec");
        let text = |p: &str| {
            spec.and_then(|s| s.pointer(p))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (group, kind, plural) = (text("/group"), text("/names/kind"), text("/names/plural"));
        if group.is_empty() || kind.is_empty() || plural.is_empty() {
            continue;
        }
        let namespaced = text("/scope") != "Cluster";
        let versions = spec
            .and_then(|s| s.get("versions"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.get("name").and_then(Value::as_str));
        for version in versions {
            out.insert(
                (group.clone(), version.to_string(), kind.clone()),
                Resource {
                    group: group.clone(),
                    version: version.to_string(),
                    kind: kind.clone(),
                    plural: plural.clone(),
                    namespaced,
                },
            );
        }
    }
    out
}

/// The managers (and their fields) a server-side apply conflicted with,
/// from the `Status` causes (`conflict with "kubectl-edit" using v1`,
/// field `.data.x`) or, lacking those, its message.
fn conflict_owners(status: &Status) -> Vec<(String, Vec<String>)> {
    fn add(out: &mut Vec<(String, Vec<String>)>, manager: String, field: Option<String>) {
        let pos = match out.iter().position(|(m, _)| *m == manager) {
            Some(p) => p,
            None => {
                out.push((manager, Vec::new()));
                out.len() - 1
            }
        };
        if let Some(f) = field.filter(|f| !f.is_empty()) {
            out[pos].1.push(f);
        }
    }
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let causes = status
        .details
        .as_ref()
        .map(|d| d.causes.as_slice())
        .unwrap_or_default();
    for cause in causes {
        if let Some(manager) = quoted(&cause.message) {
            add(&mut out, manager, Some(cause.field.clone()));
        }
    }
    if out.is_empty() {
        let mut rest = status.message.as_str();
        while let Some(at) = rest.find("with \"") {
            rest = &rest[at + 5..];
            if let Some(manager) = quoted(rest) {
                add(&mut out, manager, None);
            }
            rest = &rest[1..];
        }
    }
    if out.is_empty() {
        out.push(("an unknown field manager".to_string(), Vec::new()));
    }
    out
}

/// The first `"quoted"` text in `s`.
fn quoted(s: &str) -> Option<String> {
    let start = s.find('"')? + 1;
    let len = s[start..].find('"')?;
    Some(s[start..start + len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_manifest(namespace: &str) -> Manifest {
        let text = format!(
            "apiVersion: runtime.wasmcloud.dev/v1alpha1\nkind: Host\nmetadata:\n  name: h1\n{namespace}hostId: N1\n"
        );
        let files = [crate::manifest::SourceFile {
            path: "hosts.yaml".into(),
            rel: "hosts.yaml".into(),
            bytes: text.into_bytes(),
        }];
        let mut loaded = crate::manifest::load(&files, &crate::manifest::Limits::default());
        loaded.manifests.remove(0)
    }

    #[test]
    fn a_host_must_match_the_installed_crd_scope() {
        let resource = |namespaced| Resource {
            group: "runtime.wasmcloud.dev".into(),
            version: "v1alpha1".into(),
            kind: "Host".into(),
            plural: "hosts".into(),
            namespaced,
        };
        let with_ns = host_manifest("  namespace: wasm\n");
        let without = host_manifest("");
        assert_eq!(with_ns.id.namespace.as_deref(), Some("wasm"));
        assert_eq!(without.id.namespace, None);
        assert!(check_scope(&with_ns, &resource(true)).is_ok());
        assert!(check_scope(&without, &resource(false)).is_ok());
        let e = check_scope(&with_ns, &resource(false))
            .unwrap_err()
            .to_string();
        assert!(e.contains("hosts.yaml:1: Host/wasm/h1"), "{e}");
        assert!(e.contains("is cluster-scoped"), "{e}");
        assert!(e.contains("remove it"), "{e}");
        let e = check_scope(&without, &resource(true))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is namespaced"), "{e}");
        assert!(e.contains("set metadata.namespace"), "{e}");
    }

    #[test]
    fn conflict_owners_come_from_causes_or_the_message() {
        let mut s = Status::failure(
            "Apply failed with 2 conflicts: conflicts with \"kubectl-edit\" using v1:\n- .data.a\n- .data.b",
            "Conflict",
        )
        .with_code(409);
        assert_eq!(
            conflict_owners(&s),
            vec![("kubectl-edit".to_string(), Vec::new())]
        );
        s.details = Some(
            serde_json::from_value(serde_json::json!({"causes": [
                {"reason": "FieldManagerConflict", "message": "conflict with \"kubectl-edit\" using v1", "field": ".data.a"},
                {"reason": "FieldManagerConflict", "message": "conflict with \"helm\" using v1", "field": ".data.b"},
            ]}))
            .unwrap(),
        );
        assert_eq!(
            conflict_owners(&s),
            vec![
                ("kubectl-edit".to_string(), vec![".data.a".to_string()]),
                ("helm".to_string(), vec![".data.b".to_string()]),
            ]
        );
        let bare = Status::failure("injected", "Conflict").with_code(409);
        assert_eq!(conflict_owners(&bare)[0].0, "an unknown field manager");
    }

    #[test]
    fn crds_in_git_announce_their_kinds() {
        let loaded = crate::manifest::load(
            &[crate::manifest::SourceFile {
                path: "crd.yaml".into(),
                rel: "crd.yaml".into(),
                bytes: b"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  scope: Cluster\n  names: {kind: Widget, plural: widgets}\n  versions: [{name: v1, served: true, storage: true}]\n".to_vec(),
            }],
            &crate::manifest::Limits::default(),
        );
        let kinds = pending_kinds(&loaded.manifests);
        let r = &kinds[&(
            "example.com".to_string(),
            "v1".to_string(),
            "Widget".to_string(),
        )];
        assert_eq!(r.plural, "widgets");
        assert!(!r.namespaced);
    }
}
