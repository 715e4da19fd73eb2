//! Observe: live state read with LIST calls only, paired with the desired
//! objects, the desired side made by a server-side dry run where the apply
//! could change something. One step per function, in the order
//! [`Kubernetes::observe_all`] runs them:
//!
//! 1. [`kinds_to_list`]: the kinds in Git, and every Kubernetes kind
//!    mooring knows (to find what to prune);
//! 2. [`Kubernetes::discover`]: their resources, one discovery request
//!    per group-version not cached yet;
//! 3. [`targets`]: each desired object's resource (a kind a CRD in Git
//!    defines is not served yet: it is planned as a create);
//! 4. [`list_jobs`]: one LIST per resource and namespace in Git, plus one
//!    labelled cluster-wide LIST per managed kind;
//! 5. [`Kubernetes::run_lists`] and [`index_live`]: the LISTs, each
//!    object sifted as its page arrives ([`Kubernetes::sift`]: what no
//!    later step reads is dropped then), and the live objects by identity;
//! 6. [`Kubernetes::pair`]: desired with live, taking the no-change fast
//!    path ([`fields::unchanged`]) or queueing a dry run;
//! 7. [`Kubernetes::dry_runs`]: the desired side of the objects whose apply
//!    may change something;
//! 8. [`Kubernetes::prune_candidates`]: what is live, ours and no longer in
//!    Git.
//!
//! Fails as a whole when any discovery or LIST request fails.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{ListParams, Patch};
use kube::core::{Request, Status};
use serde_json::{Map, Value};

use super::applyset::{self, GroupKind, Record};
use super::client::{self, CallError};
use super::discovery::{self, Resource, split_api_version};
use super::errors::{conflict_owners, not_served, request_failed, schema_message};
use super::write::terminating;
use super::{
    BACKEND, CRD_GROUP, CRD_KIND, Kubernetes, PAGE, apply_body, fields, located, namespace_of,
};
use crate::backend::{
    BackendError, MANAGED_BY_LABEL, MANAGED_BY_VALUE, Observation, Observed, SOURCE_LABEL,
    UpdateStrategy,
};
use crate::finding::Finding;
use crate::kinds::{self, Holds, Scope};
use crate::manifest::{Manifest, ObjectId};
use crate::plan::health::{self, Health};
use crate::plan::{Handle, policy};

/// A kind by (group, version, kind).
type Gvk = (String, String, String);

/// Identity of a live object across versions: (group, kind, namespace,
/// name).
type LiveKey = (String, String, Option<String>, String);

/// One LIST observe makes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ListJob {
    /// Only objects labelled as this source's (`false`: every object of
    /// the resource in the namespace). Unfiltered lists sort first, so
    /// their copy of an object wins.
    owned_only: bool,
    resource: Resource,
    namespace: Option<String>,
}

/// The legacy name of a source without a name of its own: before
/// inventories, such a source labelled its objects `mooring.dev/source:
/// default`. An object of the desired set carrying only that label is
/// adopted; one that is not in Git is never deleted on its strength.
const LEGACY_DEFAULT_SOURCE: &str = "default";

/// Whose a live object is, by its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Membership {
    /// This source's: a member of its ApplySet, or labelled by this
    /// source before inventories existed (`legacy`).
    Ours { legacy: bool },
    /// Labelled by mooring before inventories, as the unnamed source's
    /// (`default`): adopted when Git declares it, never pruned.
    LegacyDefault,
    /// Another ApplySet's or another mooring source's: the text names it.
    Other(String),
    /// No ownership label of mooring or of any ApplySet.
    Unowned,
}

/// A desired object and the resource that serves it; `served`: false for
/// a kind a CRD in Git will serve once applied.
struct Target<'a> {
    manifest: &'a Manifest,
    resource: Resource,
    served: bool,
}

/// A live object as observe keeps it from its LIST page, with what
/// pairing and pruning read of it judged there, as the page arrives.
struct Live {
    /// Whole, for a dry run or a prune decision; of an object whose apply
    /// changes nothing, only its policy annotations ([`policy_of`]).
    object: Value,
    /// Applying its desired object was found to change nothing
    /// ([`fields::unchanged`]).
    unchanged: bool,
    /// A desired object's health, judged before its `status` was dropped.
    health: Option<Health>,
    /// Where it is: its uid, collection and name.
    handle: Option<Handle>,
    /// Whose it is, by its labels.
    membership: Membership,
    /// It is being deleted.
    terminating: bool,
}

impl Live {
    /// Judges `object` (of `resource`) and keeps what later steps read of
    /// it: all of it, or only its policy when `unchanged`.
    fn judged(
        resource: &Resource,
        object: Value,
        membership: Membership,
        unchanged: bool,
        health: Option<Health>,
    ) -> Live {
        Live {
            handle: handle(resource, &object),
            terminating: terminating(&object),
            object: if unchanged {
                policy_of(&object)
            } else {
                object
            },
            unchanged,
            health,
            membership,
        }
    }
}

/// A dry run to make: the index of the desired object (in `desired` and
/// in the observed rows alike), its resource and its live object.
type DryRunJob = (usize, Resource, Value);

/// The desired side of an object, notes about how it was made, and
/// whether only a replace can make it (an immutable ConfigMap or Secret
/// whose data changed).
type DryRun = (Value, Vec<String>, bool);

fn gvk(m: &Manifest) -> Gvk {
    let (g, v) = split_api_version(&m.api_version);
    (g.to_string(), v.to_string(), m.id.kind.clone())
}

/// Core kinds listed to find what to prune even when neither Git nor the
/// inventory names them, as mooring's own Kubernetes kinds are.
const CORE_LISTED: [&str; 4] = ["Namespace", "ConfigMap", "Secret", "ServiceAccount"];

/// Kinds to resolve: those in Git, plus mooring's own Kubernetes kinds and
/// [`CORE_LISTED`], returned apart too (`known`: listed to find what to
/// prune).
fn kinds_to_list(desired: &[Manifest]) -> (BTreeSet<Gvk>, Vec<Gvk>) {
    let mut known: Vec<Gvk> = CORE_LISTED
        .iter()
        .map(|k| (String::new(), "v1".to_string(), (*k).to_string()))
        .collect();
    known.extend(
        crate::kinds::all()
            .iter()
            .filter(|k| k.facts().target == kinds::Target::Kubernetes)
            .map(|k| {
                (
                    k.group.to_string(),
                    k.version.to_string(),
                    k.kind.to_string(),
                )
            }),
    );
    let mut kinds: BTreeSet<Gvk> = desired.iter().map(gvk).collect();
    kinds.extend(known.iter().cloned());
    (kinds, known)
}

/// Each desired object's resource: served, or announced by a CRD in Git;
/// any other kind is an error.
fn targets<'a>(
    desired: &'a [Manifest],
    resolved: &BTreeMap<Gvk, Option<Resource>>,
) -> Result<Vec<Target<'a>>, BackendError> {
    let pending = pending_kinds(desired);
    let mut out = Vec::with_capacity(desired.len());
    for manifest in desired {
        let key = gvk(manifest);
        let target = match resolved.get(&key).cloned().flatten() {
            Some(resource) => {
                check_scope(manifest, &resource)?;
                Target {
                    manifest,
                    resource,
                    served: true,
                }
            }
            None => match pending.get(&key) {
                Some(resource) => Target {
                    manifest,
                    resource: resource.clone(),
                    served: false,
                },
                None => return Err(not_served(manifest)),
            },
        };
        out.push(target);
    }
    Ok(out)
}

/// The LISTs: per served resource and namespace in Git, plus per managed
/// kind one cluster-wide LIST filtered by the ownership labels (left out
/// for a cluster-scoped resource Git already lists whole). Managed kinds
/// are those in Git, those mooring knows, and those the inventory records
/// (`recorded`), so that a kind whose last object left Git is still
/// listed, and pruned.
fn list_jobs(
    targets: &[Target<'_>],
    known: &[Gvk],
    resolved: &BTreeMap<Gvk, Option<Resource>>,
    recorded: &[Resource],
) -> BTreeSet<ListJob> {
    let mut jobs: BTreeSet<ListJob> = BTreeSet::new();
    let mut by_kind: BTreeMap<(String, String), Resource> = BTreeMap::new();
    for t in targets.iter().filter(|t| t.served) {
        let r = &t.resource;
        jobs.insert(ListJob {
            owned_only: false,
            resource: r.clone(),
            namespace: namespace_of(t.manifest, r),
        });
        by_kind
            .entry((r.group.clone(), r.kind.clone()))
            .or_insert_with(|| r.clone());
    }
    for k in known {
        if let Some(Some(r)) = resolved.get(k) {
            by_kind
                .entry((r.group.clone(), r.kind.clone()))
                .or_insert_with(|| r.clone());
        }
    }
    for r in recorded {
        by_kind
            .entry((r.group.clone(), r.kind.clone()))
            .or_insert_with(|| r.clone());
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
    jobs
}

/// The identity of a live object of `resource` (`None`: it has no name).
fn live_key(resource: &Resource, object: &Value) -> Option<LiveKey> {
    let meta = object.get("metadata");
    let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str)?;
    let namespace = if resource.namespaced {
        meta.and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .map(str::to_string)
    } else {
        None
    };
    Some((
        resource.group.clone(),
        resource.kind.clone(),
        namespace,
        name.to_string(),
    ))
}

/// The identity a desired object's live copy has.
fn target_key(t: &Target<'_>) -> LiveKey {
    (
        t.resource.group.clone(),
        t.resource.kind.clone(),
        namespace_of(t.manifest, &t.resource),
        t.manifest.id.name.clone(),
    )
}

/// What the plan reads of an object whose apply changes nothing, once
/// pairing has its identity, owner and deletion state: the annotations
/// that set its policy ([`policy::ANNOTATIONS`], Flux's and Argo CD's
/// spellings included), as `{"metadata": {"annotations": …}}`, or `{}`
/// without any. Its spec, data, status and other metadata, often most of
/// it, are not read again, so they are not kept.
fn policy_of(object: &Value) -> Value {
    let kept: Map<String, Value> = object
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(key, _)| policy::ANNOTATIONS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if kept.is_empty() {
        return Value::Object(Map::new());
    }
    serde_json::json!({"metadata": {"annotations": kept}})
}

/// The live objects of every LIST by identity; of an object listed twice,
/// the first LIST's copy (unfiltered lists sort first).
fn index_live(mut lists: Vec<(ListJob, Vec<(LiveKey, Live)>)>) -> BTreeMap<LiveKey, Live> {
    lists.sort_by(|a, b| a.0.cmp(&b.0));
    let mut live: BTreeMap<LiveKey, Live> = BTreeMap::new();
    for (_, items) in lists {
        for (key, item) in items {
            live.entry(key).or_insert(item);
        }
    }
    live
}

impl Kubernetes {
    /// [`Backend::observe`](crate::backend::Backend::observe): the steps
    /// above, in order.
    pub(super) async fn observe_all(
        &self,
        desired: &[Manifest],
    ) -> Result<Observation, BackendError> {
        let record = self.read_inventory().await?;
        let (kinds, known) = kinds_to_list(desired);
        let resolved = self.discover(&kinds).await?;
        let targets = targets(desired, &resolved)?;
        let (recorded, warnings) = self.recorded_kinds(record.as_ref()).await?;
        let jobs = list_jobs(&targets, &known, &resolved, &recorded);
        let wanted: HashMap<LiveKey, &Target<'_>> =
            targets.iter().map(|t| (target_key(t), t)).collect();
        let mut live = index_live(self.run_lists(jobs, &wanted).await?);
        drop(wanted);
        let (mut out, dry_runs) = self.pair(&targets, &mut live);
        self.dry_runs(desired, dry_runs, &mut out).await?;
        let (refused, unplanned) = self.create_dry_runs(&targets, &mut out).await?;
        // A create the server refuses is an error of the plan, not a row.
        let mut i = 0;
        out.retain(|_| {
            i += 1;
            !unplanned.contains(&(i - 1))
        });
        out.extend(self.prune_candidates(live));
        cascade_notes(&mut out);
        Ok(Observation {
            rows: out,
            warnings,
            refused,
        })
    }

    /// The resource of each kind the inventory records, and a warning for
    /// each the cluster no longer serves (its CRD was deleted, which took
    /// its objects along): the record drops it at the next apply.
    async fn recorded_kinds(
        &self,
        record: Option<&Record>,
    ) -> Result<(Vec<Resource>, Vec<String>), BackendError> {
        let Some(record) = record else {
            return Ok((Vec::new(), Vec::new()));
        };
        let mut resources = Vec::new();
        let mut warnings = Vec::new();
        for gk in &record.group_kinds {
            match self.resolve_group_kind(gk).await {
                Ok(Some(r)) => resources.push(r),
                Ok(None) => warnings.push(format!(
                    "{gk}: recorded in this source's inventory ({}/{}/{}) but no longer served by the cluster (its CustomResourceDefinition is gone, and its objects with it); dropped from the record by the next apply that changes something",
                    applyset::PARENT_KIND, self.applyset.namespace, self.applyset.name
                )),
                Err(e) => return Err(self.error(e, &format!("discovery of {gk}"))),
            }
        }
        Ok((resources, warnings))
    }

    /// The resource serving a kind of any version of its group: the
    /// group's preferred version first (`None`: no version serves it).
    async fn resolve_group_kind(&self, gk: &GroupKind) -> Result<Option<Resource>, CallError> {
        if gk.group.is_empty() {
            return self.resolve("", "v1", &gk.kind).await;
        }
        let request = http::Request::get(format!("/apis/{}", gk.group))
            .body(Vec::new())
            .map_err(|e| CallError::Other(e.to_string()))?;
        let group = match self.caller.json(request).await {
            Ok(group) => group,
            Err(e) if e.code() == Some(404) => return Ok(None),
            Err(e) => return Err(e),
        };
        let preferred = group
            .pointer("/preferredVersion/version")
            .and_then(Value::as_str);
        let mut versions: Vec<&str> = preferred.into_iter().collect();
        versions.extend(
            group
                .get("versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.get("version").and_then(Value::as_str))
                .filter(|v| Some(*v) != preferred),
        );
        for version in versions {
            if let Some(r) = self.resolve(&gk.group, version, &gk.kind).await? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// Whose `object` is, by its labels (see [`Membership`]).
    fn membership(&self, object: &Value) -> Membership {
        let Some(labels) = labels(object) else {
            return Membership::Unowned;
        };
        let text = |key: &str| labels.get(key).and_then(Value::as_str);
        let source =
            text(SOURCE_LABEL).filter(|_| text(MANAGED_BY_LABEL) == Some(MANAGED_BY_VALUE));
        if let Some(part_of) = text(applyset::PART_OF_LABEL) {
            return if part_of == self.applyset.id {
                Membership::Ours { legacy: false }
            } else {
                Membership::Other(match source {
                    Some(s) => format!("mooring source `{s}` (ApplySet {part_of})"),
                    None => format!("another ApplySet ({}: {part_of})", applyset::PART_OF_LABEL),
                })
            };
        }
        if text(applyset::ID_LABEL).is_some() {
            // An ApplySet parent, this source's or another's: never a member.
            return Membership::Other("an ApplySet parent".to_string());
        }
        match source {
            Some(s) if s == self.source => Membership::Ours { legacy: true },
            Some(LEGACY_DEFAULT_SOURCE) => Membership::LegacyDefault,
            Some(s) => Membership::Other(format!("mooring source `{s}`")),
            None => Membership::Unowned,
        }
    }

    /// The resource of each kind (`None`: not served), fetching the
    /// group-versions not cached yet concurrently.
    async fn discover(
        &self,
        kinds: &BTreeSet<Gvk>,
    ) -> Result<BTreeMap<Gvk, Option<Resource>>, BackendError> {
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
        let mut resolved = BTreeMap::new();
        for (g, v, k) in kinds {
            let r = self
                .resolve(g, v, k)
                .await
                .map_err(|e| self.error(e, &format!("discovery of {k} ({g}/{v})")))?;
            resolved.insert((g.clone(), v.clone(), k.clone()), r);
        }
        Ok(resolved)
    }

    /// Every LIST, `concurrency` at a time, each object sifted as its page
    /// arrives against the desired objects by identity (`wanted`).
    async fn run_lists(
        &self,
        jobs: BTreeSet<ListJob>,
        wanted: &HashMap<LiveKey, &Target<'_>>,
    ) -> Result<Vec<(ListJob, Vec<(LiveKey, Live)>)>, BackendError> {
        let selector = self.selector();
        stream::iter(jobs)
            .map(|job| {
                let selector = job.owned_only.then_some(selector.as_str());
                async move {
                    let namespace = job.namespace.as_deref();
                    match self.list(&job.resource, namespace, selector, wanted).await {
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
            .await
    }

    /// The objects of a LIST that a later step reads, page by page, with
    /// `apiVersion` and `kind` filled in (an API server leaves them out of
    /// built-in list items), sifted ([`Kubernetes::sift`]) as each page
    /// arrives.
    async fn list(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        selector: Option<&str>,
        wanted: &HashMap<LiveKey, &Target<'_>>,
    ) -> Result<Vec<(LiveKey, Live)>, CallError> {
        let mut params = ListParams::default().limit(PAGE);
        if let Some(s) = selector {
            params = params.labels(s);
        }
        let request = Request::new(resource.collection_path(namespace));
        let mut items = Vec::new();
        loop {
            let mut page = self
                .caller
                .json(
                    request
                        .list(&params)
                        .map_err(|e| CallError::Other(e.to_string()))?,
                )
                .await?;
            // Moved out of the page, not copied: a page holds up to
            // `PAGE` whole objects with their managedFields.
            if let Some(Value::Array(list)) = page.get_mut("items").map(Value::take) {
                for mut item in list {
                    if let Some(obj) = item.as_object_mut() {
                        obj.entry("apiVersion")
                            .or_insert_with(|| Value::String(resource.api_version()));
                        obj.entry("kind")
                            .or_insert_with(|| Value::String(resource.kind.clone()));
                    }
                    items.extend(self.sift(resource, item, wanted));
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

    /// One row per desired object, its live object taken out of `live`;
    /// the desired side is the live object when the apply provably changes
    /// nothing, else a dry run is queued.
    fn pair(
        &self,
        targets: &[Target<'_>],
        live: &mut BTreeMap<LiveKey, Live>,
    ) -> (Vec<Observed>, Vec<DryRunJob>) {
        let mut out: Vec<Observed> = Vec::with_capacity(targets.len());
        let mut dry_runs = Vec::new();
        for t in targets {
            let (m, r) = (t.manifest, &t.resource);
            let key = target_key(t);
            let mut o = Observed {
                id: m.id.clone(),
                api_version: m.api_version.clone(),
                file: m.file.clone(),
                line: m.line,
                desired: None,
                live: None,
                owned: false,
                update: UpdateStrategy::InPlace,
                handle: None,
                notes: Vec::new(),
                health: None,
            };
            if let Some(Live {
                object,
                unchanged,
                health,
                handle,
                membership,
                terminating,
            }) = live.remove(&key)
            {
                o.health = health;
                o.handle = handle;
                match membership {
                    Membership::Ours { .. } => o.owned = true,
                    Membership::LegacyDefault => o.notes.push(format!(
                        "adopted: labelled by a mooring source without a name (`{SOURCE_LABEL}: {LEGACY_DEFAULT_SOURCE}`) before inventories; this source declares it and takes it over"
                    )),
                    Membership::Other(other) => {
                        // Two sources declaring one object would take it
                        // from each other on every run: leave it to its
                        // first owner.
                        o.update = UpdateStrategy::Held(format!(
                            "the live object belongs to {other}; two sources must not declare the same object: remove it from one of them"
                        ));
                    }
                    Membership::Unowned => {}
                }
                if terminating {
                    // Applying to it would change an object about to go:
                    // it is created afresh once it is gone.
                    let why = "the live object is being deleted (Terminating): it is created again once it is gone; re-run then".to_string();
                    o.notes.push(why.clone());
                    o.update = UpdateStrategy::Held(why);
                }
                if unchanged {
                    // Both sides are its policy: the plan reads them
                    // equal (unchanged) and judges its annotations.
                    o.desired = Some(object.clone());
                    o.live = Some(object);
                } else {
                    // Its dry run's answer replaces this (or observe
                    // fails): meanwhile it marks the row desired.
                    o.desired = Some(policy_of(&m.value));
                    o.live = Some(fields::strip_server_fields(&object));
                    dry_runs.push((out.len(), r.clone(), object));
                }
            } else if self.diffs == crate::plan::Diffs::Rendered {
                // What the create sends: labelled a member of the set.
                o.desired = Some(apply_body(m, r, &self.applyset.id));
            } else {
                // No diff is shown: the plan reads only its policy.
                o.desired = Some(policy_of(&m.value));
            }
            out.push(o);
        }
        (out, dry_runs)
    }

    /// Makes the queued dry runs, `concurrency` at a time, and writes their
    /// results into `out`; an immutable object whose data changed is
    /// replaced (or refused, as its manifest says).
    async fn dry_runs(
        &self,
        desired: &[Manifest],
        jobs: Vec<DryRunJob>,
        out: &mut [Observed],
    ) -> Result<(), BackendError> {
        let results: Vec<(usize, Result<DryRun, BackendError>)> = stream::iter(jobs)
            .map(|(i, r, object)| async move {
                // Ignored fields take their live value: never a difference.
                let manifest = fields::with_ignored_from_live(&desired[i], &object);
                (i, self.dry_run(&manifest, &r, &object).await)
            })
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
        Ok(())
    }

    /// Every create is tried on the server first (a server-side dry-run
    /// apply, as `kubectl diff` does), so that what the server would refuse
    /// (a missing namespace, an invalid name, an unknown field, admission)
    /// is an error of the plan, at the object's file and line, and not a
    /// failed apply. Exempt: objects of a kind not served yet (a CRD in
    /// Git will serve it) and objects in a Namespace the same plan
    /// creates. The server's warnings become notes. `out` holds one row
    /// per target, in order; the indices of the refused ones are returned
    /// with the errors.
    async fn create_dry_runs(
        &self,
        targets: &[Target<'_>],
        out: &mut [Observed],
    ) -> Result<(Vec<Finding>, BTreeSet<usize>), BackendError> {
        let new_namespaces: BTreeSet<&str> = out
            .iter()
            .filter(|o| o.live.is_none() && o.id.group.is_empty() && o.id.kind == "Namespace")
            .map(|o| o.id.name.as_str())
            .collect();
        let jobs: Vec<usize> = targets
            .iter()
            .enumerate()
            .filter(|(i, t)| {
                t.served
                    && out[*i].live.is_none()
                    && namespace_of(t.manifest, &t.resource)
                        .is_none_or(|ns| !new_namespaces.contains(ns.as_str()))
            })
            .map(|(i, _)| i)
            .collect();
        let results: Vec<(usize, Result<Vec<String>, CreateRefused>)> = stream::iter(jobs)
            .map(|i| async move {
                let t = &targets[i];
                (i, self.create_dry_run(t.manifest, &t.resource).await)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut refused = Vec::new();
        let mut unplanned = BTreeSet::new();
        for (i, result) in results {
            match result {
                Ok(warnings) => out[i].notes.extend(
                    warnings
                        .into_iter()
                        .map(|w| format!("the server warns: {w}")),
                ),
                Err(CreateRefused::Refused(message)) => {
                    unplanned.insert(i);
                    let m = targets[i].manifest;
                    refused.push(
                        Finding::error(
                            BACKEND,
                            format!("the server refuses to create it: {message}"),
                        )
                        .at(m.file.clone(), m.line)
                        .object(m.id.to_string()),
                    );
                }
                Err(CreateRefused::Failed(e)) => return Err(e),
            }
        }
        crate::finding::sort(&mut refused);
        Ok((refused, unplanned))
    }

    /// The body of `manifest`'s server-side apply, and the dry run of it,
    /// forcing conflicts or not.
    fn dry_run_request(
        &self,
        manifest: &Manifest,
        resource: &Resource,
        force: bool,
    ) -> Result<(Value, http::Request<Vec<u8>>), BackendError> {
        let body = apply_body(manifest, resource, &self.applyset.id);
        let namespace = namespace_of(manifest, resource);
        let request = Request::new(resource.collection_path(namespace.as_deref()))
            .patch(
                &manifest.id.name,
                &self.patch_params_forced(force).dry_run(),
                &Patch::Apply(&body),
            )
            .map_err(|e| request_failed(&located(manifest), e))?;
        Ok((body, request))
    }

    /// A dry-run create of `manifest`: the server's warnings, or why it
    /// refuses it.
    async fn create_dry_run(
        &self,
        manifest: &Manifest,
        resource: &Resource,
    ) -> Result<Vec<String>, CreateRefused> {
        let (_, request) = self
            .dry_run_request(manifest, resource, self.force)
            .map_err(CreateRefused::Failed)?;
        match self.caller.call(request).await {
            Ok(answer) => Ok(answer.warnings),
            // Created by someone else since the LIST: the apply updates it.
            Err(CallError::Status(s)) if s.code == 409 => Ok(vec![format!(
                "created by someone else after it was listed ({}); apply updates it",
                s.message
            )]),
            Err(CallError::Status(s)) if matches!(s.code, 400 | 403 | 404 | 422) => {
                Err(CreateRefused::Refused(s.message.clone()))
            }
            Err(CallError::Status(s)) if client::schema_rejection(&s).is_some() => {
                Err(CreateRefused::Refused(schema_message(&s)))
            }
            Err(e) => Err(CreateRefused::Failed(self.error(e, &located(manifest)))),
        }
    }

    /// The desired side of an object that exists: a server-side dry-run
    /// apply, as the target applies (forcing conflicts or not). On a
    /// conflict, the conflicts become notes naming the other managers and
    /// their fields, and the diff is the server's all the same: the forced
    /// dry run's, what `kubectl diff --server-side --force-conflicts` shows
    /// (a local diff would lack the server's defaults). A refusal is a
    /// note, not a failure; only then is the desired side computed locally
    /// ([`fields::local_apply`]), and the plan says so.
    async fn dry_run(
        &self,
        manifest: &Manifest,
        resource: &Resource,
        live: &Value,
    ) -> Result<DryRun, BackendError> {
        let (body, request) = self.dry_run_request(manifest, resource, self.force)?;
        let mut notes = Vec::new();
        let answer = match self.caller.call(request).await {
            Err(CallError::Status(s)) if s.code == 409 && !self.force => {
                notes.extend(conflict_owners(&s).into_iter().map(|(manager, fields)| {
                    let fields = if fields.is_empty() {
                        "fields".to_string()
                    } else {
                        fields.join(", ")
                    };
                    if self.heal && self.take_over_managers.contains(&manager) {
                        format!("conflict: {manager} owns {fields}; selfHeal takes them back")
                    } else {
                        format!(
                            "conflict: {manager} owns {fields}; apply will fail unless forceConflicts"
                        )
                    }
                }));
                let (_, forced) = self.dry_run_request(manifest, resource, true)?;
                self.caller.call(forced).await
            }
            other => other,
        };
        let local = |notes: &mut Vec<String>, why: String| {
            notes.push(why);
            notes.push(
                "this diff is mooring's own, made without the server's defaults: the server \
                 could not make it"
                    .to_string(),
            );
            fields::local_apply(live, &body, &self.field_manager)
        };
        match answer {
            Ok(answer) => {
                notes.extend(
                    answer
                        .warnings
                        .into_iter()
                        .map(|w| format!("the server warns: {w}")),
                );
                Ok((fields::strip_server_fields(&answer.value), notes, false))
            }
            Err(CallError::Status(s)) if s.code == 422 && refuses_immutable_change(&s, live) => {
                Ok((
                    fields::local_apply(live, &body, &self.field_manager),
                    notes,
                    true,
                ))
            }
            Err(CallError::Status(s)) if s.code == 400 || s.code == 409 || s.code == 422 => {
                let why = format!("the server refuses this object: {}", s.message);
                Ok((local(&mut notes, why), notes, false))
            }
            Err(CallError::Status(s)) if client::schema_rejection(&s).is_some() => {
                let why = format!("the server refuses this object: {}", schema_message(&s));
                Ok((local(&mut notes, why), notes, false))
            }
            Err(e) => Err(self.error(e, &located(manifest))),
        }
    }

    /// Rows for what is live, ours and no longer in Git (what `pair` left
    /// in `live`), except objects already being deleted: deleting them
    /// again would be a change on every plan until their finalizers are
    /// done.
    ///
    /// Ours means labelled as this source's (a member of its ApplySet, or
    /// labelled by it before inventories) **and** applied by it: a
    /// server-side apply entry of mooring's field manager in
    /// `managedFields`. Labels alone can be copied by anyone: an object
    /// that has them but no such entry is shown, held, never deleted.
    fn prune_candidates(
        &self,
        live: BTreeMap<LiveKey, Live>,
    ) -> impl Iterator<Item = Observed> + '_ {
        live.into_iter()
            .filter(|(_, live)| {
                matches!(live.membership, Membership::Ours { .. })
                    && !live.terminating
                    && !live.unchanged
            })
            .map(|((group, kind, namespace, name), live)| {
                let object = live.object;
                let mut notes = if kinds::facts(&group, &kind).holds == Holds::NamespacedObjects {
                    vec![
                        "deleting a Namespace deletes every object in it, mooring's or not"
                            .to_string(),
                    ]
                } else {
                    Vec::new()
                };
                let update = if applyset::applied_by(&object, &self.field_manager) {
                    UpdateStrategy::InPlace
                } else {
                    let why = format!(
                        "labelled as this source's but not applied by mooring (no server-side apply by field manager `{}` in its managedFields); not deleted",
                        self.field_manager
                    );
                    notes.push(why.clone());
                    UpdateStrategy::Held(why)
                };
                Observed {
                    id: ObjectId {
                        group,
                        kind,
                        namespace,
                        name,
                    },
                    // The LIST set it (`list`), as the resource listed.
                    api_version: object
                        .get("apiVersion")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    file: format!("{BACKEND} {}", self.endpoint),
                    line: 0,
                    desired: None,
                    live: Some(fields::strip_server_fields(&object)),
                    owned: true,
                    update,
                    handle: live.handle,
                    notes,
                    health: None,
                }
            })
    }

    /// What observe keeps of one listed object, decided as its page
    /// arrives, so that LISTs of thousands of objects are never all held
    /// whole:
    /// - every kept object's handle, owner and deletion state are judged
    ///   ([`Live::judged`]);
    /// - a desired object's live copy is kept: when applying changes
    ///   nothing ([`fields::unchanged`], the test [`Kubernetes::pair`]
    ///   reads back as `unchanged`), its health is judged and only its
    ///   policy annotations are kept ([`policy_of`]), the same on both
    ///   sides of its row (the plan finds them equal: unchanged);
    ///   otherwise whole, for its dry run;
    /// - an object Git does not declare is kept whole only when it is ours
    ///   ([`Kubernetes::prune_candidates`] reads its `managedFields`);
    /// - any other object (another application's in the same namespace,
    ///   one without a name) is dropped.
    fn sift(
        &self,
        resource: &Resource,
        object: Value,
        wanted: &HashMap<LiveKey, &Target<'_>>,
    ) -> Option<(LiveKey, Live)> {
        let key = live_key(resource, &object)?;
        let membership = self.membership(&object);
        let Some(t) = wanted.get(&key) else {
            return matches!(membership, Membership::Ours { .. })
                .then(|| (key, Live::judged(resource, object, membership, false, None)));
        };
        let health = Some(health::of(&resource.group, &resource.kind, &object));
        let body = apply_body(t.manifest, &t.resource, &self.applyset.id);
        let unchanged = fields::unchanged(&body, &object, &self.field_manager);
        Some((
            key,
            Live::judged(resource, object, membership, unchanged, health),
        ))
    }

    /// The label selector of this source's objects.
    pub(super) fn selector(&self) -> String {
        format!(
            "{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{SOURCE_LABEL}={}",
            self.source
        )
    }
}

/// Why a dry-run create did not pass.
enum CreateRefused {
    /// The server refuses the object as it is: an error of the plan.
    Refused(String),
    /// The server could not be asked: observe fails as a whole.
    Failed(BackendError),
}

/// The most objects a cascade note names one by one.
const CASCADE_SHOWN: usize = 20;

/// On each planned deletion of a Namespace or a CustomResourceDefinition,
/// a note naming what the deletion takes along among the objects this plan
/// knows (mooring's, in Git or live), those Git still declares marked: the
/// server deletes them with it, whatever mooring's plan says of them.
fn cascade_notes(rows: &mut [Observed]) {
    let mut notes: Vec<(usize, String)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if row.desired.is_some() {
            continue;
        }
        let holds = kinds::facts(&row.id.group, &row.id.kind).holds;
        let takes = |other: &Observed| match holds {
            Holds::NamespacedObjects => other.id.namespace.as_deref() == Some(row.id.name.as_str()),
            Holds::Instances => {
                let spec = row.live.as_ref().and_then(|l| l.get("spec"));
                let text = |p: &str| spec.and_then(|s| s.pointer(p)).and_then(Value::as_str);
                text("/group") == Some(other.id.group.as_str())
                    && text("/names/kind") == Some(other.id.kind.as_str())
            }
            Holds::Nothing => false,
        };
        if holds == Holds::Nothing {
            continue;
        }
        let taken: Vec<String> = rows
            .iter()
            .enumerate()
            .filter(|(j, other)| *j != i && takes(other))
            .map(|(_, other)| {
                if other.desired.is_some() {
                    format!("{} (still in Git)", other.id)
                } else {
                    other.id.to_string()
                }
            })
            .collect();
        if taken.is_empty() {
            continue;
        }
        let in_git = taken
            .iter()
            .filter(|t| t.ends_with("(still in Git)"))
            .count();
        let mut shown = taken
            .iter()
            .take(CASCADE_SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if taken.len() > CASCADE_SHOWN {
            shown.push_str(&format!(" and {} more", taken.len() - CASCADE_SHOWN));
        }
        let mut note = format!(
            "deleting it also deletes {} object(s) mooring knows of: {shown}",
            taken.len()
        );
        if in_git > 0 {
            note.push_str(&format!(
                "; {in_git} of them Git still declares: they are gone until an apply creates them again"
            ));
        }
        notes.push((i, note));
    }
    for (i, note) in notes {
        rows[i].notes.push(note);
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
    if crate::plan::policy::replace_never(Some(&manifest.value)) {
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

fn labels(object: &Value) -> Option<&Map<String, Value>> {
    object
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
}

/// What a delete needs: where the object is, and the uid it must still
/// have (`None` without a uid).
fn handle(resource: &Resource, object: &Value) -> Option<Handle> {
    let meta = object.get("metadata")?;
    let name = meta.get("name")?.as_str()?;
    let uid = meta.get("uid").and_then(Value::as_str).unwrap_or_default();
    let namespace = meta.get("namespace").and_then(Value::as_str);
    (!uid.is_empty()).then(|| Handle::Kubernetes {
        uid: uid.to_string(),
        collection: resource.collection_path(namespace),
        name: name.to_string(),
    })
}

/// Kinds the CustomResourceDefinitions in Git will serve, by (group,
/// version, kind).
fn pending_kinds(desired: &[Manifest]) -> BTreeMap<Gvk, Resource> {
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

#[cfg(test)]
mod tests;
