//! The Kubernetes backend: discovery, server-side apply, and a diff made
//! the way `kubectl diff --server-side` makes it. One file per operation;
//! this one holds the [`Kubernetes`] value, its constructors and the
//! [`Backend`] impl that hands each call to them.
//!
//! - **Discovery** ([`discovery`]) resolves each kind to its resource
//!   (plural, scope) from the group-version resource lists, cached per
//!   [`Kubernetes`] value ([`Kubernetes::reset_discovery`] starts over).
//! - **Observe** (`observe`) reads live state with LIST calls only: one
//!   per resource and namespace that Git mentions, plus one cluster-wide
//!   LIST per managed kind, filtered by mooring's ownership labels, to find
//!   what to prune. The desired side of an object that exists is a
//!   server-side dry-run apply of its manifest, except when
//!   [`fields::unchanged`] proves the apply would change nothing; both
//!   sides lose server-owned fields.
//! - **Write** (`write`): a server-side apply with mooring's field manager
//!   (forced only when configured); Namespaces and CustomResourceDefinitions
//!   are waited for (Active / Established, named conditions). Deletes are
//!   conditional on the uid that was observed.
//! - **Errors** (`errors`): how a failed request becomes a
//!   [`BackendError`].
//! - **Watch** (`watch`): one cluster-wide kube-runtime watcher per
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
//! (`client`).

pub mod applyset;
mod client;
pub mod discovery;
mod errors;
pub mod fields;
mod inventory;
mod kubeconfig;
mod observe;
mod served;
mod settings;
pub mod takeover;
mod watch;
mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::{StreamExt, stream};
use kube::api::PatchParams;
use serde_json::{Map, Value};

use crate::backend::{Backend, BackendError, Done, Observation, TargetContext, WatchStream};
use crate::kinds::Target;
use crate::manifest::Manifest;
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
    let (config, endpoint, _) = config_for(target, timeout).await?;
    Ok((make_client(config, &endpoint)?, endpoint))
}

/// What [`client_for`] makes its client from, the server's URL, and where
/// the configuration came from.
async fn config_for(
    target: &KubernetesTarget,
    timeout: Duration,
) -> Result<(kube::Config, String, String), BackendError> {
    let (mut config, origin) = kubeconfig::config_for(target).await?;
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
    Ok((config, endpoint, origin))
}

fn make_client(config: kube::Config, endpoint: &str) -> Result<kube::Client, BackendError> {
    kube::Client::try_from(config)
        .map_err(|e| errors::config_from(format!("cannot make a client for {endpoint}"), e))
}

/// A Kubernetes cluster as a [`Backend`].
pub struct Kubernetes {
    caller: Caller,
    /// For watches: the same server, without the read timeout.
    watch_client: kube::Client,
    endpoint: String,
    source: String,
    /// This source's ApplySet: its parent Secret and the id its members
    /// are labelled with.
    applyset: applyset::ApplySet,
    field_manager: String,
    force: bool,
    /// Managers whose fields an update takes first when it forces or heals
    /// ([`takeover`]).
    take_over_managers: Vec<String>,
    /// `selfHeal`: updates take the fields of `take_over_managers` even
    /// when conflicts are not forced (a manual edit is what a heal undoes;
    /// any other manager's field is still a conflict).
    heal: bool,
    /// Whether the plans made from its rows carry diffs (the default);
    /// when not ([`Backend::skip_diffs`]), a create's row holds only its
    /// policy.
    diffs: crate::plan::Diffs,
    concurrency: usize,
    discovery: discovery::Cache,
    /// Where the client configuration came from, for the line that says
    /// which cluster is used.
    origin: String,
    /// The kubeconfig context's namespace (`default` when it names none):
    /// where objects without a namespace go.
    namespace: String,
    /// OpenAPI v3 documents and discovery lists already read, by the
    /// document's URL, which carries its content hash (the server's ETag):
    /// an unchanged group version is not read again.
    served: served::Cache,
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
        let (config, endpoint, origin) = config_for(target, timeout).await?;
        // Watches stay quiet for as long as nothing changes: no read
        // timeout (the watcher renews each watch and notices a dead
        // connection by itself).
        let mut watch_config = config.clone();
        watch_config.read_timeout = None;
        let namespace = config.default_namespace.clone();
        let client = make_client(config, &endpoint)?;
        let mut backend =
            Kubernetes::from_client(client, &endpoint, target, source, concurrency, timeout);
        backend.watch_client = make_client(watch_config, &endpoint)?;
        backend.namespace = namespace;
        backend.origin = origin;
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
            applyset: applyset::ApplySet::for_source(source, &target.inventory_namespace),
            field_manager: target.field_manager.clone(),
            force: target.force_conflicts,
            take_over_managers: target.take_over_managers.clone(),
            heal: false,
            diffs: crate::plan::Diffs::Rendered,
            concurrency: concurrency.max(1),
            discovery: discovery::Cache::default(),
            namespace: crate::manifest::DEFAULT_NAMESPACE.to_string(),
            origin: "a client given in code".to_string(),
            served: served::Cache::default(),
        }
    }

    /// Replaces the retry policy (tests use short waits).
    pub fn with_retry(mut self, retry: Retry) -> Kubernetes {
        self.caller.retry = retry;
        self
    }

    /// `selfHeal`: every update first takes the fields of the
    /// `takeOverManagers` (kubectl's), so a heal restores Git's object
    /// without forcing conflicts with any other manager.
    pub fn with_self_heal(mut self, heal: bool) -> Kubernetes {
        self.heal = heal;
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
        let generation = self.discovery.generation();
        let request = http::Request::get(discovery::group_version_path(group, version))
            .body(Vec::new())
            .map_err(|e| CallError::Other(e.to_string()))?;
        let resources = match self.caller.json(request).await {
            Ok(list) => discovery::parse_resource_list(group, version, &list),
            Err(e) if e.code() == Some(404) => Vec::new(),
            Err(e) => return Err(e),
        };
        // Dropped if a CRD's group was forgotten meanwhile: the lookup then
        // finds nothing cached and fetches again.
        self.discovery.store(group, version, resources, generation);
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

    /// Server-side apply by mooring's field manager, forced when
    /// configured, with strict field validation: a field the server's
    /// schema does not know is refused, never dropped silently.
    fn patch_params(&self) -> PatchParams {
        self.patch_params_forced(self.force)
    }

    /// [`Kubernetes::patch_params`], forcing conflicts or not whatever the
    /// target's setting (a plan's diff is always the forced apply's).
    fn patch_params_forced(&self, force: bool) -> PatchParams {
        let params = PatchParams::apply(&self.field_manager).validation_strict();
        if force { params.force() } else { params }
    }
}

impl Backend for Kubernetes {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn skip_diffs(&mut self) {
        self.diffs = crate::plan::Diffs::Skipped;
    }

    fn target(&self) -> Target {
        Target::Kubernetes
    }

    async fn observe(&self, desired: &[Manifest]) -> Result<Observation, BackendError> {
        self.observe_all(desired).await
    }

    async fn begin_apply(&self, rows: &[&Change]) -> Result<(), BackendError> {
        self.widen_inventory(rows).await
    }

    async fn end_apply(&self, remaining: &[&Change]) -> Result<(), BackendError> {
        self.narrow_inventory(remaining).await
    }

    async fn apply(
        &self,
        change: &Change,
        desired: Option<&Manifest>,
    ) -> Result<Done, BackendError> {
        match change.action {
            Action::Create | Action::Update => {
                let manifest = desired.ok_or_else(|| BackendError::NoManifest {
                    backend: BACKEND,
                    object: change.id.to_string(),
                    action: change.action.verb(),
                })?;
                self.apply_manifest(manifest, change.action).await
            }
            Action::Replace => {
                let manifest = desired.ok_or_else(|| BackendError::NoManifest {
                    backend: BACKEND,
                    object: change.id.to_string(),
                    action: change.action.verb(),
                })?;
                self.replace(change, manifest).await
            }
            Action::Delete => self.delete(change).await,
            Action::Unchanged | Action::Declared => Ok(Done {
                summary: "unchanged".to_string(),
                unhealthy: None,
            }),
        }
    }

    /// One watcher per resource among `desired` (kinds the cluster does not
    /// serve are skipped), cluster-wide, on this source's ownership labels.
    async fn context(&self) -> Result<Option<TargetContext>, BackendError> {
        Ok(Some(TargetContext {
            label: self.endpoint.clone(),
            origin: self.origin.clone(),
            namespace: Some(self.namespace.clone()),
            served: self.served(true).await?,
        }))
    }

    /// The live object a change names, judged by kstatus's rules; in
    /// progress while it does not exist yet.
    async fn health(
        &self,
        change: &Change,
    ) -> Result<Option<crate::plan::health::Health>, BackendError> {
        let object = format!("{}", change.id);
        let (group, version) = split_api_version(&change.api_version);
        let Some(resource) = self
            .resolve(group, version, &change.id.kind)
            .await
            .map_err(|e| self.error(e, &object))?
        else {
            return Ok(None);
        };
        let live = self
            .read_object(&resource, change.id.namespace.as_deref(), &change.id.name)
            .await
            .map_err(|e| self.error(e, &object))?;
        Ok(Some(match live {
            Some(live) => crate::plan::health::of(group, &change.id.kind, &live),
            None => crate::plan::health::Health::InProgress("not found".into()),
        }))
    }

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

/// `file:line: Kind/ns/name`, how errors about a manifest name it.
fn located(m: &Manifest) -> String {
    format!("{}:{}: {}", m.file, m.line, m.id)
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
/// the namespace its resource's scope calls for, and labelled a member of
/// the ApplySet `part_of`.
fn apply_body(m: &Manifest, r: &Resource, part_of: &str) -> Value {
    let mut body = m.value.clone();
    if let Some(obj) = body.as_object_mut() {
        obj.remove("status");
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            let labels = meta
                .entry("labels")
                .or_insert_with(|| Value::Object(Map::new()));
            if !labels.is_object() {
                *labels = Value::Object(Map::new());
            }
            if let Some(labels) = labels.as_object_mut() {
                labels.insert(applyset::PART_OF_LABEL.into(), part_of.into());
            }
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
