//! The engine: route validated manifests to the backend of their kind, plan
//! them against live targets, decide what may be done safely, and carry it
//! out in dependency order. `mooring plan`, `mooring apply` and the daemon
//! all drive it (the command keeps the name `apply`).
//!
//! The engine never talks to a target itself: each [`DynBackend`] observes
//! and applies its own objects. What lives here is what must be the same
//! for every target:
//!
//! - **ownership**: every desired object gets mooring's labels before it is
//!   observed, so adoption of an unlabelled object shows as an update (the
//!   daemon labels each render once, [`Engine::own`], and its re-plans then
//!   hand the backends slices of it, copying nothing);
//! - **safety**: deletions only of owned objects, never from an empty render
//!   (unless allowed), never beyond the deletion cap (unless forced; a
//!   replace, which deletes first, counts), never when prune is off (then
//!   they are shown, marked as not applied), never from a plan with errors,
//!   and never once a create, update or replace of the run failed or was
//!   skipped (then they are reported held, with why);
//! - **order**: [`order::tier`] ascending for creates and updates, then
//!   deletions tier by tier in reverse; objects in a namespace whose
//!   creation failed are skipped, not attempted;
//! - **bounds**: at most `concurrency` requests per backend at a time.
//!
//! `Config::engine` builds the configured backends; past their
//! constructors the engine knows no target's API.
//!
//! A backend that cannot be observed fails alone: its objects are neither
//! applied nor deleted, the others go ahead, and the run reports failure.

mod cap;
mod depends;
pub mod order;

pub use cap::DeletionCap;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use serde::Serialize;

use crate::backend::{self, BackendError, DynBackend};
use crate::finding::Finding;
use crate::kinds::{self, Holds, KindFacts, Target};
use crate::manifest::{Manifest, ObjectId};
use crate::plan::health::Health;
use crate::plan::{Action, Change, Diffs, Plan};

/// What the kind table says of an object's kind.
fn facts(id: &ObjectId) -> &'static KindFacts {
    kinds::facts(&id.group, &id.kind)
}

/// What is applied and how carefully.
#[derive(Debug, Clone, Default)]
pub struct Safety {
    /// Carry out deletions (`prune: true` or `--prune`).
    pub prune: bool,
    /// Allow deletions when the rendered set is empty.
    pub allow_empty: bool,
    /// The most deletions per run.
    pub max_deletions: DeletionCap,
    /// Ignore the deletion cap.
    pub force_prune: bool,
}

/// A plan against live targets; it borrows the desired manifests it was
/// made from (`'a`), for `apply`.
#[derive(Debug, Default)]
pub struct TargetPlan<'a> {
    pub plan: Plan,
    /// Backends that could not be observed, with why. Nothing of theirs is
    /// applied.
    pub unreachable: Vec<(String, String)>,
    /// Problems that are not any one backend's: objects no target handles,
    /// the same object declared twice for one target.
    pub findings: Vec<Finding>,
    /// The desired manifests (with ownership labels) of the objects the
    /// plan would change, by backend and id, for `apply`: borrowed from the
    /// planned slice, copied only when [`Engine::plan`] had to label a
    /// copy (or by [`TargetPlan::into_owned`]).
    desired: BTreeMap<(String, ObjectId), Cow<'a, Manifest>>,
    /// How many objects were sent to the targets (declarations alone not
    /// counted).
    rendered: usize,
}

impl TargetPlan<'_> {
    /// The plan with its own copies of the manifests it would apply, so
    /// that what it was planned from can be dropped (a command's plan
    /// outlives its desired set; the daemon keeps both and copies
    /// nothing).
    pub fn into_owned(self) -> TargetPlan<'static> {
        TargetPlan {
            plan: self.plan,
            unreachable: self.unreachable,
            findings: self.findings,
            desired: self
                .desired
                .into_iter()
                .map(|(k, m)| (k, Cow::Owned(m.into_owned())))
                .collect(),
            rendered: self.rendered,
        }
    }

    /// Whether the plan cannot be applied as a whole.
    pub fn failed(&self) -> bool {
        !self.unreachable.is_empty() || self.findings.iter().any(Finding::is_error)
    }

    /// Every row of the plan that `backend` observed.
    fn rows_of(&self, backend: &str) -> Vec<&Change> {
        self.plan
            .changes
            .iter()
            .filter(|c| c.backend == backend)
            .collect()
    }

    /// The changes held back, each with why: owned by another source,
    /// labelled but not applied by mooring, over the deletion cap, from an
    /// empty render, a Namespace or CRD without `--force-prune`, a refused
    /// replace. Deletions shown while prune is off are not held: not
    /// pruning is what was asked.
    pub fn held(&self) -> Vec<&Change> {
        self.plan
            .changes
            .iter()
            .filter(|c| {
                c.blocked
                    .as_deref()
                    .is_some_and(|why| !(c.action == Action::Delete && why == PRUNE_OFF))
            })
            .collect()
    }

    /// A plan with errors is not applied at all. Its deletions say so,
    /// with why, so that a move whose new copy the server refuses (a
    /// typo'd namespace, a kind it does not serve) reads as the old copy
    /// kept, not as a deletion to come.
    fn hold_deletions_for_errors(&mut self) {
        let errors = self.findings.iter().filter(|f| f.is_error()).count();
        if errors == 0 {
            return;
        }
        let why = format!(
            "the plan has {errors} error(s): nothing is applied, and {DELETIONS_WAIT} can be made (fix the errors first)"
        );
        for c in self
            .plan
            .changes
            .iter_mut()
            .filter(|c| c.action == Action::Delete && c.blocked.is_none())
        {
            c.blocked = Some(why.clone());
        }
        self.plan = Plan::from_changes(std::mem::take(&mut self.plan.changes));
    }
}

/// Why deletions are not made when prune is off.
const PRUNE_OFF: &str = "prune is off (set `prune: true` or pass --prune)";

/// The rule every deletion held for the rest of its run says
/// (kustomize-controller's: garbage is collected only after everything else
/// went in), so that an object moved to a typo'd namespace or kind never
/// loses its old copy before the new one exists.
const DELETIONS_WAIT: &str = "deletions wait until every create, update and replace of the run";

/// How the daemon's reason for a change a sync window holds back starts.
pub const SYNC_WINDOW_HOLDS: &str = "a sync window holds it back";

/// What a held change is held for, as the small fixed set of words the
/// `mooring_changes_held{reason}` gauge uses ([`HOLD_KINDS`]), from the
/// change's action and the reason the engine, a backend or the daemon
/// gave. A replace a backend refuses without a known reason is
/// `replace_refused`; anything else unknown is `other`.
pub fn hold_kind(action: Action, reason: &str) -> &'static str {
    const KINDS: &[(&str, &str)] = &[
        ("belongs to", "other_owner"),
        ("does not carry mooring's ownership labels", "other_owner"),
        ("not applied by mooring", "not_applied_by_mooring"),
        ("exceed the cap", "deletion_cap"),
        ("rendered set is empty", "empty_render"),
        ("pass --force-prune to delete it", "force_prune_needed"),
        ("forbids replacing", "replace_refused"),
        ("replace: never", "replace_refused"),
        (DELETIONS_WAIT, "failed_changes"),
        ("Terminating", "terminating"),
        (SYNC_WINDOW_HOLDS, "sync_window"),
    ];
    KINDS.iter().find(|(text, _)| reason.contains(text)).map_or(
        if action == Action::Replace {
            "replace_refused"
        } else {
            "other"
        },
        |(_, kind)| kind,
    )
}

/// Every value [`hold_kind`] gives.
pub const HOLD_KINDS: &[&str] = &[
    "other_owner",
    "not_applied_by_mooring",
    "deletion_cap",
    "empty_render",
    "force_prune_needed",
    "replace_refused",
    "failed_changes",
    "terminating",
    "sync_window",
    "other",
];

/// What happened to one change.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Outcome {
    Done {
        summary: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        unhealthy: Option<String>,
    },
    Failed {
        error: String,
    },
    Skipped {
        reason: String,
    },
    /// Not attempted on purpose, for a safety rule: a deletion in a run
    /// where a create, update or replace failed or was skipped.
    Held {
        reason: String,
    },
}

/// One change and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeResult {
    pub action: Action,
    pub backend: String,
    pub object: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The result of an apply run.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Report {
    pub results: Vec<ChangeResult>,
    pub done: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Held back by a safety rule (see [`Outcome::Held`]).
    pub held: usize,
    /// Done, but not healthy (e.g. a microVM that ended `FAILED`).
    pub unhealthy: usize,
}

impl Report {
    /// Every change was made and everything made is healthy.
    pub fn succeeded(&self) -> bool {
        self.failed == 0 && self.skipped == 0 && self.held == 0 && self.unhealthy == 0
    }
}

/// Why an engine could not be made from a configuration.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "no target is configured: use --config mooring.yaml, --kubeconfig/--context, or --flintlock NAME=URL"
    )]
    NoTarget,
    /// A target's client could not be made (a kubeconfig that does not
    /// read, a Flintlock endpoint, TLS or token file that does not load).
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Plans and applies against a set of backends.
pub struct Engine {
    backends: Vec<Box<dyn DynBackend>>,
    source: String,
    concurrency: usize,
    /// Once true, no further change is started (those in flight finish).
    stop: Option<tokio::sync::watch::Receiver<bool>>,
    /// How long a change waits for what it depends on to be healthy
    /// (`mooring.dev/depends-on`).
    wait_timeout: std::time::Duration,
    /// Told of each change's result as soon as it is known (see
    /// [`Engine::on_result`]).
    progress: Option<Progress>,
    /// Whether plans carry each change's diff ([`Engine::skip_diffs`]).
    diffs: Diffs,
}

/// What [`Engine::on_result`] calls with each change's result.
pub type Progress = std::sync::Arc<dyn Fn(&ChangeResult) + Send + Sync>;

/// One object's health, as its backend judged it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectHealth {
    pub backend: String,
    pub id: ObjectId,
    pub health: Health,
}

impl std::fmt::Display for ObjectHealth {
    /// `Deployment/shop/web [kubernetes]: in progress: available replicas: 1/2`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}]: ", self.id, self.backend)?;
        match &self.health {
            Health::Current => write!(f, "healthy"),
            Health::InProgress(why) => write!(f, "in progress: {why}"),
            Health::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// Where a wait for health stands, after a round of asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitProgress {
    /// Objects healthy or failed.
    pub settled: usize,
    /// Objects whose backend can tell their health.
    pub total: usize,
    pub elapsed: std::time::Duration,
    /// One object still in progress, if any.
    pub waiting_for: Option<String>,
}

/// How long a change waits for its dependencies by default.
pub const DEFAULT_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// How often health is asked while waiting.
const HEALTH_POLL: std::time::Duration = std::time::Duration::from_millis(500);

impl Engine {
    /// `source` is the name written into ownership labels; `concurrency`
    /// bounds the requests in flight per backend.
    pub fn new(backends: Vec<Box<dyn DynBackend>>, source: &str, concurrency: usize) -> Engine {
        Engine {
            backends,
            source: source.to_string(),
            concurrency: concurrency.max(1),
            stop: None,
            wait_timeout: DEFAULT_WAIT,
            progress: None,
            diffs: Diffs::Rendered,
        }
    }

    /// Plans without diff text (`Change::diff` left empty): what the
    /// daemon wants, as it logs and counts changes but never prints them.
    pub fn skip_diffs(&mut self) {
        self.diffs = Diffs::Skipped;
        for b in &mut self.backends {
            b.skip_diffs_dyn();
        }
    }

    /// `apply` calls `progress` with each change's result the moment it is
    /// known (in the order they finish), so a long apply shows, and leaves
    /// behind, what it did even if it is killed; the [`Report`] still
    /// lists them all, in plan order, at the end.
    pub fn on_result(&mut self, progress: Progress) {
        self.progress = Some(progress);
    }

    /// Tells [`Engine::on_result`]'s callback, then records, a result.
    fn record(&self, report: &mut Report, change: &Change, outcome: Outcome) {
        self.tell(change, &outcome);
        report.push(change, outcome);
    }

    fn tell(&self, change: &Change, outcome: &Outcome) {
        if let Some(progress) = &self.progress {
            progress(&ChangeResult::of(change, outcome.clone()));
        }
    }

    /// Names of the backends, in the order they are observed.
    pub fn backends(&self) -> Vec<&'static str> {
        self.backends.iter().map(|b| b.name()).collect()
    }

    /// From when `stop` turns true, `apply` starts no further change: the
    /// requests in flight finish and the rest are reported skipped (for a
    /// clean shutdown; the next start applies them).
    pub fn stop_on(&mut self, stop: tokio::sync::watch::Receiver<bool>) {
        self.stop = Some(stop);
    }

    fn stopping(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| *s.borrow())
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The most requests in flight per backend.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// How long a change waits for what it depends on to be healthy.
    pub fn set_wait_timeout(&mut self, timeout: std::time::Duration) {
        self.wait_timeout = timeout;
    }

    /// The backend of `target`, if there is one.
    fn backend_for(&self, target: Target) -> Option<usize> {
        self.backends.iter().position(|b| b.target() == target)
    }

    /// Labels `desired` as this source's in place and groups it by target
    /// (a stable sort), so that [`Engine::plan`] can hand each backend a
    /// slice of it: what the daemon does once per render.
    pub fn own(&self, desired: &mut [Manifest]) {
        for m in desired.iter_mut() {
            backend::set_ownership(m, &self.source);
        }
        desired.sort_by_key(|m| self.backend_for(facts(&m.id).target).unwrap_or(usize::MAX));
    }

    /// Plans `desired` (validated, Ignite VMs already translated) against
    /// every backend: each object goes to the backend of its kind's
    /// [`Target`]. Declaration-only kinds are listed as declared. Each
    /// backend gets a slice of `desired` when it is labelled and grouped
    /// ([`Engine::own`]), else labelled copies.
    pub async fn plan<'a>(&self, desired: &'a [Manifest]) -> TargetPlan<'a> {
        let mut out = TargetPlan::default();
        let mut assigned: Vec<Option<usize>> = Vec::with_capacity(desired.len());
        let mut declared = Vec::new();
        let mut seen: BTreeMap<(usize, &ObjectId), &Manifest> = BTreeMap::new();
        for m in desired {
            assigned.push(None);
            let target = facts(&m.id).target;
            if target == Target::DeclarationOnly {
                declared.push(Change {
                    action: Action::Declared,
                    id: m.id.clone(),
                    api_version: m.api_version.clone(),
                    file: m.file.clone(),
                    line: m.line,
                    diff: String::new(),
                    backend: String::new(),
                    blocked: None,
                    notes: vec!["declared, nothing to apply".to_string()],
                    handle: None,
                    health: None,
                });
                continue;
            }
            let Some(i) = self.backend_for(target) else {
                out.findings.push(
                    Finding::error(
                        "apply",
                        format!(
                            "no target is configured for {} objects: add one under `targets` in mooring.yaml",
                            m.api_version
                        ),
                    )
                    .at(m.file.clone(), m.line)
                    .object(m.id.to_string()),
                );
                continue;
            };
            if let Some(first) = seen.insert((i, &m.id), m) {
                out.findings.push(
                    Finding::error(
                        "apply",
                        format!(
                            "declared twice for {}: also at {}:{}",
                            self.backends[i].name(),
                            first.file,
                            first.line
                        ),
                    )
                    .at(m.file.clone(), m.line)
                    .object(m.id.to_string()),
                );
                continue;
            }
            if let Some(last) = assigned.last_mut() {
                *last = Some(i);
            }
        }
        drop(seen);
        out.rendered = assigned.iter().flatten().count();
        let groups = self.groups(desired, &assigned);

        let observed = futures::future::join_all(
            self.backends
                .iter()
                .zip(&groups)
                .map(|(b, ms)| b.observe_boxed(ms.as_ref())),
        )
        .await;
        let mut plan = Plan::from_changes(declared);
        for ((b, ms), result) in self.backends.iter().zip(groups).zip(observed) {
            match result {
                Ok(observed) => {
                    out.findings.extend(
                        observed
                            .warnings
                            .into_iter()
                            .map(|w| Finding::warning(b.name(), w)),
                    );
                    out.findings.extend(observed.refused);
                    let planned =
                        crate::plan::plan_observed_with(b.name(), observed.rows, self.diffs);
                    // Only what apply may change is kept for it.
                    let changing: BTreeSet<&ObjectId> = planned
                        .changes
                        .iter()
                        .filter(|c| c.action.is_change())
                        .map(|c| &c.id)
                        .collect();
                    let key = |m: &Manifest| (b.name().to_string(), m.id.clone());
                    match ms {
                        Cow::Borrowed(ms) => out.desired.extend(
                            ms.iter()
                                .filter(|m| changing.contains(&m.id))
                                .map(|m| (key(m), Cow::Borrowed(m))),
                        ),
                        Cow::Owned(ms) => out.desired.extend(
                            ms.into_iter()
                                .filter(|m| changing.contains(&m.id))
                                .map(|m| (key(&m), Cow::Owned(m))),
                        ),
                    }
                    plan = plan.merge(planned);
                }
                Err(e) => out.unreachable.push((b.name().to_string(), e.to_string())),
            }
        }
        out.plan = plan;
        out
    }

    /// Each backend's manifests (`assigned[k]`: the backend of
    /// `desired[k]`): a slice of `desired` when they lie together and are
    /// labelled already, else labelled copies.
    fn groups<'a>(
        &self,
        desired: &'a [Manifest],
        assigned: &[Option<usize>],
    ) -> Vec<Cow<'a, [Manifest]>> {
        (0..self.backends.len())
            .map(|i| {
                let mine: Vec<usize> = assigned
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| **a == Some(i))
                    .map(|(k, _)| k)
                    .collect();
                let Some((&first, &last)) = mine.first().zip(mine.last()) else {
                    return Cow::Borrowed(&desired[..0]);
                };
                let labelled = |k: &usize| {
                    let labels = desired[*k].value.pointer("/metadata/labels");
                    backend::is_owned(labels.and_then(serde_json::Value::as_object), &self.source)
                };
                if last - first + 1 == mine.len() && mine.iter().all(labelled) {
                    Cow::Borrowed(&desired[first..=last])
                } else {
                    Cow::Owned(
                        mine.iter()
                            .map(|&k| backend::with_ownership(&desired[k], &self.source))
                            .collect(),
                    )
                }
            })
            .collect()
    }

    /// What the targets say about the desired side before it is validated
    /// (a Kubernetes target: its schemas, and its context's namespace): the
    /// first backend that says anything. Read once per run.
    pub async fn context(&self) -> Result<Option<backend::TargetContext>, BackendError> {
        for b in &self.backends {
            if let Some(context) = b.context_boxed().await? {
                return Ok(Some(context));
            }
        }
        Ok(None)
    }

    /// Waits for what `desired` depends on (`mooring.dev/depends-on`) to be
    /// healthy; `Some(why)` when it is not (in progress at the timeout,
    /// failed, or not declared by this source).
    async fn unready_dependencies(
        &self,
        desired: Option<&Manifest>,
        plan: &Plan,
    ) -> Option<String> {
        let wanted = crate::manifest::depends::depends_on(&desired?.value);
        if wanted.is_empty() {
            return None;
        }
        let mut deps = Vec::new();
        for name in &wanted {
            match plan.changes.iter().find(|d| &d.id.to_string() == name) {
                Some(d) => deps.push(d),
                None => {
                    return Some(format!(
                        "it depends on {name} (mooring.dev/depends-on), which this source does not declare"
                    ));
                }
            }
        }
        let healths = self
            .wait_healthy(&deps, self.wait_timeout, HEALTH_POLL)
            .await;
        let unready: Vec<String> = healths
            .into_iter()
            .map(|o| (o.id.to_string(), o.health))
            .filter_map(|(object, h)| match h {
                Health::Current => None,
                Health::InProgress(why) => Some(format!(
                    "{object} is still in progress after {}s: {why}",
                    self.wait_timeout.as_secs()
                )),
                Health::Failed(why) => Some(format!("{object} failed: {why}")),
            })
            .collect();
        (!unready.is_empty()).then(|| {
            format!(
                "not applied: it depends on what is not healthy (mooring.dev/depends-on): {}",
                unready.join("; ")
            )
        })
    }

    /// The health of every object `plan` keeps (not deleted, not held):
    /// what the daemon records after each sync and drift check. An object
    /// the plan leaves as it is has the health its backend judged from the
    /// live object it listed ([`Change::health`]); only the others are read
    /// again, one reading each.
    pub async fn health(&self, plan: &Plan) -> Vec<ObjectHealth> {
        let (read, ask): (Vec<&Change>, Vec<&Change>) = plan
            .changes
            .iter()
            .filter(|c| c.stays_live())
            .partition(|c| c.health.is_some());
        let mut out = self
            .wait_healthy(&ask, std::time::Duration::ZERO, HEALTH_POLL)
            .await;
        out.extend(read.into_iter().filter_map(|c| {
            Some(ObjectHealth {
                backend: c.backend.clone(),
                id: c.id.clone(),
                health: c.health.clone()?,
            })
        }));
        out.sort_by(|a, b| (&a.backend, &a.id).cmp(&(&b.backend, &b.id)));
        out
    }

    /// Waits until each object of `changes` is healthy or has failed
    /// ([`crate::plan::health`], asked of its backend every `poll`), or
    /// until `timeout`; returns each object with its last health. Objects
    /// whose backend cannot tell are left out.
    pub async fn wait_healthy(
        &self,
        changes: &[&Change],
        timeout: std::time::Duration,
        poll: std::time::Duration,
    ) -> Vec<ObjectHealth> {
        self.wait_healthy_reporting(changes, timeout, poll, &|_| {})
            .await
    }

    /// [`Engine::wait_healthy`], telling `progress` after each round of
    /// asking (for a progress line on a terminal).
    pub async fn wait_healthy_reporting(
        &self,
        changes: &[&Change],
        timeout: std::time::Duration,
        poll: std::time::Duration,
        progress: &(dyn Fn(&WaitProgress) + Sync),
    ) -> Vec<ObjectHealth> {
        let started = tokio::time::Instant::now();
        let deadline = started + timeout;
        let mut last: BTreeMap<(String, ObjectId), Health> = BTreeMap::new();
        let mut pending: Vec<&Change> = changes.to_vec();
        loop {
            let asked: Vec<(&Change, Option<Health>)> =
                futures::stream::iter(pending.iter().copied())
                    .map(|c| async move {
                        let backend = self.backends.iter().find(|b| b.name() == c.backend);
                        let health = match backend {
                            Some(b) => match b.health_boxed(c).await {
                                Ok(h) => h,
                                Err(e) => Some(Health::InProgress(format!("cannot read it: {e}"))),
                            },
                            None => None,
                        };
                        (c, health)
                    })
                    .buffer_unordered(self.concurrency.max(1))
                    .collect()
                    .await;
            pending.clear();
            for (c, health) in asked {
                let Some(health) = health else { continue };
                if !health.is_settled() {
                    pending.push(c);
                }
                last.insert((c.backend.clone(), c.id.clone()), health);
            }
            progress(&WaitProgress {
                settled: last.len() - pending.len(),
                total: last.len(),
                elapsed: started.elapsed(),
                waiting_for: pending.first().map(|c| c.id.to_string()),
            });
            if pending.is_empty() || tokio::time::Instant::now() >= deadline {
                return last
                    .into_iter()
                    .map(|((backend, id), health)| ObjectHealth {
                        backend,
                        id,
                        health,
                    })
                    .collect();
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// One stream of every backend's watch over the kinds of `desired`
    /// (each backend gets the manifests it handles; declaration-only kinds
    /// are not watched). `None` when no backend watches. Fails as a whole
    /// when a backend cannot start its watch.
    pub async fn watch(
        &self,
        desired: &[Manifest],
    ) -> Result<Option<backend::WatchStream>, BackendError> {
        // Slices of `desired` as `own` laid it out, not copies: a watch
        // outlives the drift checks it starts.
        let assigned: Vec<Option<usize>> = desired
            .iter()
            .map(|m| self.backend_for(facts(&m.id).target))
            .collect();
        let per_backend = self.groups(desired, &assigned);
        let started = futures::future::join_all(
            self.backends
                .iter()
                .zip(&per_backend)
                .filter(|(_, ms)| !ms.is_empty())
                .map(|(b, ms)| b.watch_boxed(ms.as_ref())),
        )
        .await;
        let mut streams = Vec::new();
        for result in started {
            if let Some(stream) = result? {
                streams.push(stream);
            }
        }
        Ok(match streams.len() {
            0 => None,
            1 => streams.pop(),
            _ => Some(futures::stream::select_all(streams).boxed()),
        })
    }

    /// Marks the deletions that must not happen, with why. Returns the
    /// reason deletions were held back as a whole, if they were.
    pub fn guard(&self, plan: &mut TargetPlan<'_>, safety: &Safety) -> Option<String> {
        if safety.prune {
            plan.hold_deletions_for_errors();
        }
        // Deletions a backend already holds (see `Change::blocked`) are
        // not counted, and keep their reason. A replace deletes before it
        // creates, so it counts against the cap too.
        let deletions = plan
            .plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Delete && c.blocked.is_none())
            .count();
        let replaces = plan
            .plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Replace && c.blocked.is_none())
            .count();
        if deletions + replaces == 0 {
            return None;
        }
        // Managed: what is live and mooring's now. Creates do not count, so a
        // render pointed at the wrong folder cannot raise the cap.
        let managed = plan
            .plan
            .changes
            .iter()
            .filter(|c| {
                matches!(
                    c.action,
                    Action::Update | Action::Replace | Action::Delete | Action::Unchanged
                )
            })
            .count();
        // Rendered: objects to apply; declarations alone do not count.
        let rendered = plan.rendered;
        // With prune off no deletion is made, so only the replaces count.
        let counted = replaces + if safety.prune { deletions } else { 0 };
        let over_cap = (!safety.force_prune && counted > safety.max_deletions.limit(managed))
            .then(|| {
                let replaced = if replaces > 0 {
                    format!(" ({replaces} of them replaces, which delete first)")
                } else {
                    String::new()
                };
                format!(
                    "{counted} deletions{replaced} exceed the cap of {} ({} of {managed} managed objects); pass --force-prune to delete them",
                    safety.max_deletions.limit(managed),
                    safety.max_deletions
                )
            });
        let reason = if deletions > 0 && !safety.prune {
            Some(PRUNE_OFF.to_string())
        } else if deletions > 0 && rendered == 0 && !safety.allow_empty {
            Some(format!(
                "the rendered set is empty; refusing to delete {deletions} object(s) (pass --allow-empty if that is intended)"
            ))
        } else {
            over_cap.clone()
        };
        if let Some(why) = &over_cap {
            for c in plan
                .plan
                .changes
                .iter_mut()
                .filter(|c| c.action == Action::Replace && c.blocked.is_none())
            {
                c.blocked = Some(why.clone());
            }
        }
        for c in plan
            .plan
            .changes
            .iter_mut()
            .filter(|c| c.action == Action::Delete && c.blocked.is_none())
        {
            if let Some(why) = &reason {
                c.blocked = Some(why.clone());
            } else if !safety.force_prune && facts(&c.id).deletes_contents() {
                c.blocked = Some(format!(
                    "deleting a {} deletes everything in it, mooring's or not: pass --force-prune to delete it",
                    c.id.kind
                ));
            }
        }
        plan.plan = Plan::from_changes(std::mem::take(&mut plan.plan.changes));
        reason
    }

    /// Carries out every actionable change of `plan` (after [`Engine::guard`]).
    ///
    /// Each backend is told first of every row it has in the plan
    /// ([`backend::Backend::begin_apply`]: Kubernetes widens its inventory
    /// to them), and last of what remains ([`backend::Backend::end_apply`]:
    /// every row but the deletions carried out). A backend whose
    /// `begin_apply` fails has none of its changes made.
    pub async fn apply(&self, plan: &TargetPlan<'_>) -> Report {
        let mut report = Report::default();
        let mut failed_namespaces: BTreeSet<(String, String)> = BTreeSet::new();
        let mut not_begun: BTreeMap<&str, String> = BTreeMap::new();
        for b in &self.backends {
            let rows = plan.rows_of(b.name());
            if !rows.iter().any(|c| c.is_actionable()) {
                continue;
            }
            if let Err(e) = b.begin_apply_boxed(&rows).await {
                not_begun.insert(b.name(), e.to_string());
            }
        }
        let actionable: Vec<&Change> = plan
            .plan
            .changes
            .iter()
            .filter(|c| c.is_actionable())
            .collect();
        let mut deleted: BTreeSet<(String, ObjectId)> = BTreeSet::new();
        // Creates, updates and replaces by ascending tier, then deletions by
        // descending tier.
        let mut stages: Vec<Vec<&Change>> = Vec::new();
        // Within the tiers, a change comes after what it depends on
        // (`mooring.dev/depends-on`), whatever their tiers.
        let levels = depends::levels(&actionable, &plan.desired);
        let mut by_level: BTreeMap<usize, Vec<&Change>> = BTreeMap::new();
        for c in actionable
            .iter()
            .copied()
            .filter(|c| c.action != Action::Delete)
        {
            by_level
                .entry(levels.get(&c.id).copied().unwrap_or(0))
                .or_default()
                .push(c);
        }
        stages.extend(by_level.into_values());
        for tier in (0..order::TIERS).rev() {
            stages.push(
                actionable
                    .iter()
                    .copied()
                    .filter(|c| c.action == Action::Delete && order::tier(&c.id) == tier)
                    .collect(),
            );
        }
        for stage in stages {
            if stage.is_empty() {
                continue;
            }
            // Garbage is collected only after everything else succeeded (as
            // kustomize-controller does): a deletion after a failed create
            // could remove the only copy of an object that moved. (Once
            // asked to stop, deletions are skipped as everything else is.)
            let not_made = report
                .results
                .iter()
                .filter(|r| {
                    r.action != Action::Delete
                        && matches!(r.outcome, Outcome::Failed { .. } | Outcome::Skipped { .. })
                })
                .count();
            let mut runnable = Vec::new();
            for c in stage {
                if c.action == Action::Delete && not_made > 0 && !self.stopping() {
                    self.record(
                        &mut report,
                        c,
                        Outcome::Held {
                            reason: format!(
                                "{not_made} other change(s) of this run failed or were skipped: {DELETIONS_WAIT} succeeds (the next run retries them)"
                            ),
                        },
                    );
                    continue;
                }
                if let Some(why) = not_begun.get(c.backend.as_str()) {
                    self.record(
                        &mut report,
                        c,
                        Outcome::Failed {
                            error: format!(
                                "not started: this source's inventory could not be recorded first: {why}"
                            ),
                        },
                    );
                    continue;
                }
                let blocked_ns =
                    c.id.namespace.as_ref().filter(|ns| {
                        failed_namespaces.contains(&(c.backend.clone(), (*ns).clone()))
                    });
                if c.action != Action::Delete
                    && let Some(ns) = blocked_ns
                {
                    self.record(
                        &mut report,
                        c,
                        Outcome::Skipped {
                            reason: format!("Namespace/{ns} could not be applied"),
                        },
                    );
                } else {
                    runnable.push(c);
                }
            }
            let results = futures::stream::iter(self.backends.iter().map(|b| {
                let mine: Vec<&Change> = runnable
                    .iter()
                    .copied()
                    .filter(|c| c.backend == b.name())
                    .collect();
                let desired = &plan.desired;
                async move {
                    futures::stream::iter(mine.into_iter().map(|c| async move {
                        if self.stopping() {
                            return (c, None);
                        }
                        let want = if c.action == Action::Delete {
                            None
                        } else {
                            desired
                                .get(&(c.backend.clone(), c.id.clone()))
                                .map(|m| m.as_ref())
                        };
                        let outcome = match self.unready_dependencies(want, &plan.plan).await {
                            Some(reason) => Outcome::Skipped { reason },
                            None => match b.apply_boxed(c, want).await {
                                Ok(done) => Outcome::Done {
                                    summary: done.summary,
                                    unhealthy: done.unhealthy,
                                },
                                Err(e) => Outcome::Failed {
                                    error: e.to_string(),
                                },
                            },
                        };
                        self.tell(c, &outcome);
                        (c, Some(outcome))
                    }))
                    .buffer_unordered(self.concurrency)
                    .collect::<Vec<_>>()
                    .await
                }
            }))
            .buffer_unordered(self.backends.len().max(1))
            .collect::<Vec<_>>()
            .await;
            let mut results: Vec<(&Change, Option<Outcome>)> =
                results.into_iter().flatten().collect();
            results.sort_by(|a, b| a.0.id.cmp(&b.0.id));
            for (c, outcome) in results {
                let Some(outcome) = outcome else {
                    self.record(
                        &mut report,
                        c,
                        Outcome::Skipped {
                            reason:
                                "not started: mooring was asked to stop (the next apply, or the daemon's next sync, does it)"
                                    .into(),
                        },
                    );
                    continue;
                };
                match &outcome {
                    Outcome::Done { .. } if c.action == Action::Delete => {
                        deleted.insert((c.backend.clone(), c.id.clone()));
                    }
                    // Only a Namespace that could not be created is
                    // missing; a failed update leaves it in place.
                    Outcome::Failed { .. }
                        if c.action == Action::Create
                            && facts(&c.id).holds == Holds::NamespacedObjects =>
                    {
                        failed_namespaces.insert((c.backend.clone(), c.id.name.clone()));
                    }
                    _ => {}
                }
                report.push(c, outcome);
            }
        }
        for b in &self.backends {
            let rows = plan.rows_of(b.name());
            if not_begun.contains_key(b.name()) || !rows.iter().any(|c| c.is_actionable()) {
                continue;
            }
            let remaining: Vec<&Change> = rows
                .into_iter()
                .filter(|c| !deleted.contains(&(c.backend.clone(), c.id.clone())))
                .collect();
            if let Err(e) = b.end_apply_boxed(&remaining).await {
                // Every change is made; the record keeps naming kinds that
                // may have no member left, which costs a LIST next time.
                tracing::warn!(backend = b.name(), error = %e, "the inventory could not be narrowed after the apply; it is narrowed on the next one");
            }
        }
        report
    }
}

impl ChangeResult {
    fn of(change: &Change, outcome: Outcome) -> ChangeResult {
        ChangeResult {
            action: change.action,
            backend: change.backend.clone(),
            object: change.id.to_string(),
            outcome,
        }
    }

    /// A failed change's error without what is said beside it already:
    /// the backend (`kubernetes: …`) and the object after the error's
    /// `file:line` (`k8s.yaml:5: Service/shop/web: …` → `k8s.yaml:5: …`),
    /// so that a report line or a log line that names both says each once.
    /// `None` unless the change failed.
    pub fn error_said_once(&self) -> Option<std::borrow::Cow<'_, str>> {
        let Outcome::Failed { error } = &self.outcome else {
            return None;
        };
        Some(said_once(error, &self.backend, &self.object))
    }
}

/// [`ChangeResult::error_said_once`] of `error`.
fn said_once<'a>(error: &'a str, backend: &str, object: &str) -> std::borrow::Cow<'a, str> {
    let rest = error
        .strip_prefix(backend)
        .and_then(|r| r.strip_prefix(": "))
        .unwrap_or(error);
    let repeated = format!(": {object}: ");
    match rest.split_once(&repeated) {
        // Only right after a `file:line` (no space in it).
        Some((place, tail)) if !place.contains(' ') => Cow::Owned(format!("{place}: {tail}")),
        _ => Cow::Borrowed(rest),
    }
}

impl Report {
    fn push(&mut self, change: &Change, outcome: Outcome) {
        match &outcome {
            Outcome::Done { unhealthy, .. } => {
                self.done += 1;
                self.unhealthy += usize::from(unhealthy.is_some());
            }
            Outcome::Failed { .. } => self.failed += 1,
            Outcome::Skipped { .. } => self.skipped += 1,
            Outcome::Held { .. } => self.held += 1,
        }
        self.results.push(ChangeResult::of(change, outcome));
    }
}

#[cfg(test)]
mod tests;
