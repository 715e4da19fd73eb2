//! The reconciler daemon behind `mooring run`: per source, fetch on an
//! interval or a cron schedule (or when a webhook asks), validate, plan and
//! apply; between syncs, look for drift.
//!
//! Invariants:
//! - An unchanged remote revision costs one fetch ([`source::resolve`]), no
//!   file read and no backend write (only the drift check, on its own
//!   interval, reads live state). A new one is read within the command
//!   line's `Limits` and rendered by [`desired::render`], as every command
//!   renders its desired side.
//! - Invalid manifests are never applied: the last good revision stays
//!   applied and the failure is reported (result `invalid`).
//! - When Git is unreachable the last applied revision keeps being served
//!   (drift checks go on) and fetches back off exponentially, capped.
//! - Drift is healed only with `selfHeal: true`; otherwise it is reported.
//! - Drift is also looked for within a second of a watched object changing
//!   ([`watch`]), for backends that can watch (Kubernetes).
//! - Changes are applied only while the source's sync [`windows`] allow it.
//!
//! What happens is reported to an [`Observer`] (metrics, status, logs), so
//! this module knows nothing about HTTP or Prometheus.

pub mod watch;
pub mod windows;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::backend::BackendError;
use crate::config::{Config, Source};
use crate::desired;
use crate::engine::{Engine, Report, Safety};
use crate::finding::Finding;
use crate::manifest::{Limits, Manifest};
use crate::plan::Plan;
use crate::source::auth::Credentials;
use crate::source::git;
use crate::source::url::SourceUrl;
use crate::source::{self, GitSpec, SourceError, Spec};
use crate::validate::Validator;

/// How a sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncResult {
    /// Applied (or nothing to apply) without failure.
    Success,
    /// Git, a target or an apply failed.
    Failed,
    /// The manifests are invalid; nothing was applied.
    Invalid,
    /// Changes were planned but a sync window held them back: each is in
    /// [`SyncOutcome::held`] (`sync_window`).
    Skipped,
    /// Applied, but some changes are held back by a safety rule (another
    /// source's object, the deletion cap, an empty render, a refused
    /// replace…): each is in [`SyncOutcome::held`] with why. A sync that
    /// finds nothing new says `held` again while they stand.
    Held,
}

impl SyncResult {
    pub fn label(self) -> &'static str {
        match self {
            SyncResult::Success => "success",
            SyncResult::Failed => "failed",
            SyncResult::Invalid => "invalid",
            SyncResult::Skipped => "skipped",
            SyncResult::Held => "held",
        }
    }
}

/// What one sync (or drift check) did.
#[derive(Debug, Clone)]
pub struct SyncOutcome {
    pub source: String,
    /// Shown with its password masked, wherever it goes.
    pub url: SourceUrl,
    /// The revision now live (the last applied one when this sync failed).
    pub revision: Option<String>,
    pub result: SyncResult,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Whether Git answered (None when no fetch was made).
    pub fetched: Option<bool>,
    pub findings: Vec<Finding>,
    pub plan: Option<Plan>,
    pub report: Option<Report>,
    pub started: SystemTime,
    pub duration: Duration,
    /// A drift check rather than a sync of a new revision.
    pub drift_check: bool,
    /// The changes held back now, each with why: those of the last plan of
    /// the applied revision (sync or drift check) and those of a newer
    /// revision a sync window holds back.
    pub held: Vec<HeldChange>,
    /// Time spent rendering Kustomize and Helm folders, when the revision
    /// had any (from the cache: next to nothing).
    pub render_time: Option<Duration>,
    /// The health of each object the plan keeps, read after the sync or
    /// drift check ([`crate::plan::health`]); empty when no plan was made.
    pub health: Vec<crate::engine::ObjectHealth>,
}

/// A change a safety rule or a sync window held back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldChange {
    /// `update ConfigMap/shop/app [kubernetes]`.
    pub change: String,
    pub reason: String,
    /// One of [`crate::engine::HOLD_KINDS`].
    pub kind: &'static str,
}

impl HeldChange {
    /// `change`, held for `reason` (its gauge label from
    /// [`crate::engine::hold_kind`]).
    fn of(change: &crate::plan::Change, reason: &str) -> HeldChange {
        HeldChange {
            change: format!(
                "{} {} [{}]",
                change.action.verb(),
                change.id,
                change.backend
            ),
            kind: crate::engine::hold_kind(change.action, reason),
            reason: reason.to_string(),
        }
    }
}

impl std::fmt::Display for HeldChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.change, self.reason)
    }
}

/// One line for an apply's failures: how many, the first with the
/// server's words, and `what` they mean.
fn failed_summary(report: Option<&Report>, what: &str) -> String {
    let Some(r) = report else {
        return what.to_string();
    };
    let first = r
        .results
        .iter()
        .find_map(|c| Some(format!("{}: {}", c.object, c.error_said_once()?)));
    let n = r.failed + r.skipped + r.unhealthy;
    match first {
        Some(first) if n > 1 => format!("{n} {what}; first: {first}"),
        Some(first) => format!("{n} {what}: {first}"),
        None => format!("{n} {what}"),
    }
}

/// One line for several held changes: the first, and how many more.
fn held_summary(held: &[HeldChange]) -> String {
    match held {
        [] => String::new(),
        [one] => format!("1 change held: {one}"),
        [first, rest @ ..] => format!(
            "{} changes held: {first} (and {} more)",
            rest.len() + 1,
            rest.len()
        ),
    }
}

/// What one plan (and apply, when asked) of a source did.
struct Attempt {
    plan: Plan,
    report: Option<Report>,
    /// Why the whole thing failed, if it did.
    failed: Option<String>,
    held: Vec<HeldChange>,
}

/// Receives every outcome: metrics, the status endpoint, logs.
pub trait Observer: Send + Sync {
    fn observe(&self, outcome: &SyncOutcome);
}

/// Logs each outcome once, with tracing.
pub struct LogObserver;

impl Observer for LogObserver {
    /// INFO for a success, WARN for held or skipped changes, ERROR for a
    /// failed or invalid sync.
    fn observe(&self, o: &SyncOutcome) {
        let summary = o.plan.as_ref().map(|p| p.summary).unwrap_or_default();
        let applied = o.report.as_ref().map(|r| r.done).unwrap_or(0);
        macro_rules! log {
            ($level:ident) => {
                tracing::$level!(
                    source = %o.source,
                    revision = o.revision.as_deref().unwrap_or("-"),
                    result = o.result.label(),
                    drift_check = o.drift_check,
                    create = summary.create,
                    update = summary.update,
                    replace = summary.replace,
                    delete = summary.delete,
                    unchanged = summary.unchanged,
                    applied,
                    held = o.held.len(),
                    findings = o.findings.len(),
                    duration_ms = o.duration.as_millis() as u64,
                    error = o.error.as_deref().unwrap_or(""),
                    "sync"
                )
            };
        }
        match o.result {
            SyncResult::Success => log!(info),
            SyncResult::Held | SyncResult::Skipped => log!(warn),
            SyncResult::Failed | SyncResult::Invalid => log!(error),
        }
        // Each held change once per plan (a sync that finds nothing new
        // repeats the count above, not the list).
        if o.plan.is_some() {
            for h in &o.held {
                tracing::warn!(source = %o.source, change = %h.change, reason = %h.reason, "held");
            }
        }
        // Each failed change with its object and the server's words (a
        // conflict names the other field manager).
        for r in o.report.iter().flat_map(|r| &r.results) {
            if let Some(error) = r.error_said_once() {
                let what = if o.drift_check {
                    "healing a drifted object failed"
                } else {
                    "applying an object failed"
                };
                tracing::error!(
                    source = %o.source,
                    change = r.action.verb(),
                    object = %r.object,
                    backend = %r.backend,
                    error = %error,
                    "{what}"
                );
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("source {name}: no url (set source.url or sources[].url)")]
    NoUrl { name: String },
    #[error("source {name}: {message}")]
    Setup { name: String, message: String },
}

/// The last revision that was applied, and what it rendered to.
struct LastApplied {
    revision: git2::Oid,
    manifests: Arc<Vec<Manifest>>,
}

/// One source's reconciler.
pub struct SourceRunner {
    source: Source,
    url: SourceUrl,
    engine: Engine,
    validator: Arc<Validator>,
    /// Renders the source's Kustomize and Helm folders, caching each by
    /// the content of what it reads, so a folder a commit leaves alone is
    /// not rendered again.
    renderer: Arc<crate::render::Renderer>,
    limits: Limits,
    /// What the source's `exclude:` leaves out.
    exclude: crate::source::Exclude,
    safety: Safety,
    self_heal: bool,
    cache_dir: PathBuf,
    credentials: Option<Credentials>,
    applied: Option<LastApplied>,
    /// A newer revision whose apply did not complete: live state is a mix
    /// of it and the applied one, so drift is not judged (nor healed, nor
    /// pruned) against the older render until the retry succeeds.
    pending: Option<git2::Oid>,
    /// Consecutive failed fetches, for the backoff.
    fetch_failures: u32,
    /// What stands of the applied revision as of its last plan (sync or
    /// drift check): the changes held back, and why healing failed. A sync
    /// that finds nothing new reports it again, so the result stays `held`
    /// (or `failed`) until a plan finds it gone.
    standing: Standing,
    /// Changes of a newer revision that a sync window holds back.
    window_held: Vec<HeldChange>,
}

/// See [`SourceRunner::standing`].
#[derive(Debug, Default)]
struct Standing {
    held: Vec<HeldChange>,
    /// Why the last drift check failed (healing, or reading a target).
    failed: Option<String>,
}

/// The longest wait between fetches while Git is failing.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

impl SourceRunner {
    /// What one revision may cost to read (`--max-file-size`,
    /// `--max-total-size`, `--max-documents`): a revision over them is
    /// invalid, so the last good one stays applied.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn new(
        config: &Config,
        source: &Source,
        engine: Engine,
        validator: Arc<Validator>,
        cache_dir: PathBuf,
    ) -> Result<SourceRunner, RunError> {
        let url = SourceUrl::new(source.url.clone().ok_or_else(|| RunError::NoUrl {
            name: source.name.clone(),
        })?);
        let credentials = match &source.auth {
            Some(auth) => Some(Credentials::resolve(auth).map_err(|e| RunError::Setup {
                name: source.name.clone(),
                message: crate::error::with_causes(&e),
            })?),
            None => None,
        };
        let exclude =
            crate::source::Exclude::new(&source.exclude).map_err(|e| RunError::Setup {
                name: source.name.clone(),
                message: e.to_string(),
            })?;
        Ok(SourceRunner {
            renderer: Arc::new(crate::render::Renderer::new(source.render.clone())),
            source: source.clone(),
            url,
            engine,
            validator,
            limits: Limits::default(),
            exclude,
            safety: Safety {
                prune: config.prune,
                max_deletions: config.max_deletions,
                ..Safety::default()
            },
            self_heal: config.self_heal,
            cache_dir,
            credentials,
            applied: None,
            pending: None,
            fetch_failures: 0,
            standing: Standing::default(),
            window_held: Vec::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.source.name
    }

    /// Whether a revision has been applied since start.
    pub fn has_applied(&self) -> bool {
        self.applied.is_some()
    }

    /// The revision applied last, if any.
    pub fn applied_revision(&self) -> Option<git2::Oid> {
        self.applied.as_ref().map(|a| a.revision)
    }

    /// A watch over the live objects of the applied revision's kinds
    /// (`None` when nothing is applied or no backend watches).
    pub async fn watch(&self) -> Result<Option<crate::backend::WatchStream>, BackendError> {
        match &self.applied {
            Some(a) => self.engine.watch(&a.manifests).await,
            None => Ok(None),
        }
    }

    fn outcome(&self, started: SystemTime, clock: Instant, drift_check: bool) -> SyncOutcome {
        SyncOutcome {
            source: self.source.name.clone(),
            url: self.url.clone(),
            revision: self.applied.as_ref().map(|a| a.revision.to_string()),
            result: SyncResult::Success,
            error: None,
            fetched: None,
            findings: Vec::new(),
            plan: None,
            report: None,
            started,
            duration: clock.elapsed(),
            drift_check,
            held: self.held_now(),
            render_time: None,
            health: Vec::new(),
        }
    }

    /// Every change held back now (see [`SyncOutcome::held`]).
    fn held_now(&self) -> Vec<HeldChange> {
        self.standing
            .held
            .iter()
            .chain(&self.window_held)
            .cloned()
            .collect()
    }

    /// The source as [`source::resolve`] takes it. The network timeout was
    /// set once, before any runner's thread fetches.
    fn spec(&self) -> Spec {
        Spec::Git(Box::new(GitSpec {
            url: self.url.clone(),
            rev: self.source.git_ref.clone(),
            path: self.source.path.clone(),
            credentials: self.credentials.clone(),
            timeout: None,
            cache_dir: self.cache_dir.clone(),
            insecure: self.source.insecure,
        }))
    }

    /// The outcome of a sync whose source could not be read.
    fn fetch_failed(
        &mut self,
        mut out: SyncOutcome,
        clock: Instant,
        e: &SourceError,
    ) -> SyncOutcome {
        self.fetch_failures += 1;
        out.fetched = Some(false);
        out.result = SyncResult::Failed;
        out.error = Some(crate::error::with_causes(e));
        out.duration = clock.elapsed();
        out
    }

    /// Fetches, and when the revision is new, validates, plans and applies.
    pub async fn sync(&mut self) -> SyncOutcome {
        let started = SystemTime::now();
        let clock = Instant::now();
        let mut out = self.outcome(started, clock, false);

        // Git is blocking I/O: off the runtime's threads. Resolving opens
        // and fetches the repository but reads no file.
        let spec = self.spec();
        let resolved = tokio::task::spawn_blocking(move || source::resolve(&spec)).await;
        let revision = match resolved {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return self.fetch_failed(out, clock, &e),
            Err(e) => {
                out.result = SyncResult::Failed;
                out.error = Some(format!("the Git task failed: {e}"));
                out.duration = clock.elapsed();
                return out;
            }
        };
        let Some(commit) = revision.commit() else {
            out.result = SyncResult::Failed;
            out.error = Some("the source is not a Git revision".to_string());
            out.duration = clock.elapsed();
            return out;
        };
        if self.applied.as_ref().map(|a| a.revision) == Some(commit) {
            // Nothing new: nothing read, no validation, no backend call.
            // What the last plan of this revision held back (or why its
            // healing failed) still stands.
            self.fetch_failures = 0;
            self.window_held.clear();
            out.held = self.held_now();
            out.fetched = Some(true);
            if let Some(why) = &self.standing.failed {
                out.result = SyncResult::Failed;
                out.error = Some(why.clone());
            } else if !out.held.is_empty() {
                out.result = SyncResult::Held;
                out.error = Some(held_summary(&out.held));
            }
            out.duration = clock.elapsed();
            return out;
        }

        // What the targets serve (kinds, schemas) and where objects without
        // a namespace go, read once per revision rendered. Unreadable: the
        // built-in kinds, and the plan reports the target.
        let context = self.engine.context().await;
        let validator = self.validator.clone();
        let renderer = Arc::clone(&self.renderer);
        let limits = self.limits;
        let exclude = self.exclude.clone();
        let (cluster, context_namespace, unread) = match context {
            Ok(Some(c)) => (
                Some(crate::validate::Cluster::from_served(&c.label, &c.served)),
                c.namespace,
                None,
            ),
            Ok(None) => (None, None, None),
            Err(e) => (None, None, Some(e.to_string())),
        };
        // The source's own targetNamespace first, as Flux has it.
        let namespace = self.source.target_namespace.clone().or(context_namespace);
        let rendered = tokio::task::spawn_blocking(move || {
            revision.require_path()?;
            let read = source::read(&revision, &limits, &exclude)?;
            let live = desired::Live {
                namespace: namespace.as_deref(),
                cluster: cluster.as_ref(),
            };
            Ok::<_, SourceError>(desired::render_live(
                read, &validator, &limits, &renderer, live,
            ))
        })
        .await;
        let mut desired = match rendered {
            Ok(Ok(mut v)) => {
                self.fetch_failures = 0;
                out.fetched = Some(true);
                crate::plan::ignore::apply_rules(&mut v.manifests, &self.source.ignore);
                if let Some(why) = unread {
                    v.findings.push(crate::finding::Finding::warning(
                        "kubernetes",
                        format!(
                            "cannot read the cluster's kinds and schemas ({why}): validated \
                             against the built-in kinds only"
                        ),
                    ));
                    crate::finding::sort(&mut v.findings);
                }
                v
            }
            Ok(Err(e)) => return self.fetch_failed(out, clock, &e),
            Err(e) => {
                out.result = SyncResult::Failed;
                out.error = Some(format!("validation failed to run: {e}"));
                out.duration = clock.elapsed();
                return out;
            }
        };
        if desired.renders > 0 {
            out.render_time = Some(desired.render_time);
        }
        if !desired.is_valid() {
            // The applied revision stays; a newer one a window held back
            // is not the one to apply any more.
            self.window_held.clear();
            out.held = self.held_now();
            out.findings = desired.findings;
            out.result = SyncResult::Invalid;
            out.error = Some(format!(
                "revision {} is invalid; {} stays applied",
                git::short(commit),
                self.applied
                    .as_ref()
                    .map_or("nothing".to_string(), |a| git::short(a.revision))
            ));
            out.duration = clock.elapsed();
            return out;
        }
        out.findings = std::mem::take(&mut desired.findings);
        let mut manifests = desired.for_targets();
        // Labelled once per render: each drift check re-plans it as it is.
        self.engine.own(&mut manifests);
        let manifests = Arc::new(manifests);
        let hold = self.window_hold();
        let Attempt {
            plan,
            report,
            failed,
            held,
        } = self.plan_and_apply(&manifests, hold.is_none()).await;
        if let Some(why) = hold
            && failed.is_none()
            && plan.has_changes()
        {
            // Live state is still the applied revision's: nothing pending.
            // Each change the window holds back is held, with why.
            let reason = format!("{}: {why}", crate::engine::SYNC_WINDOW_HOLDS);
            self.window_held = plan
                .changes
                .iter()
                .filter(|c| c.is_actionable())
                .map(|c| HeldChange::of(c, &reason))
                .collect();
            out.held = self.held_now();
            out.plan = Some(plan);
            out.result = SyncResult::Skipped;
            out.error = Some(format!("changes planned, not applied: {why}"));
            out.revision = self.applied.as_ref().map(|a| a.revision.to_string());
            out.duration = clock.elapsed();
            return out;
        }
        self.window_held.clear();
        out.health = self.engine.health(&plan).await;
        out.plan = Some(plan);
        if let Some(why) = failed {
            out.result = SyncResult::Failed;
            out.error = Some(why);
        }
        let failures = report
            .as_ref()
            .map_or(0, |r| r.failed + r.skipped + r.unhealthy);
        out.report = report;
        if out.result == SyncResult::Success && failures > 0 {
            out.result = SyncResult::Failed;
            out.error = Some(failed_summary(
                out.report.as_ref(),
                "change(s) failed; the next sync retries them",
            ));
        }
        self.standing = Standing { held, failed: None };
        out.held = self.held_now();
        if out.result == SyncResult::Success && !out.held.is_empty() {
            out.result = SyncResult::Held;
            out.error = Some(held_summary(&out.held));
        }
        // The revision counts as applied once everything of it went in (or
        // was held back on purpose); a partial apply is retried from the
        // same revision next time.
        if matches!(out.result, SyncResult::Success | SyncResult::Held) {
            self.applied = Some(LastApplied {
                revision: commit,
                manifests,
            });
            self.pending = None;
        } else {
            self.pending = Some(commit);
        }
        out.revision = Some(commit.to_string());
        out.duration = clock.elapsed();
        out
    }

    /// Re-plans the last applied revision against live state; heals the
    /// drift when `selfHeal` is on. Nothing while a newer revision's apply
    /// is still to be retried.
    pub async fn drift_check(&mut self) -> Option<SyncOutcome> {
        if self.pending.is_some() {
            return None;
        }
        let applied = self.applied.as_ref()?;
        let manifests = applied.manifests.clone();
        let started = SystemTime::now();
        let clock = Instant::now();
        let mut out = self.outcome(started, clock, true);
        // Sync windows hold healing back too.
        let heal = self.self_heal && self.window_hold().is_none();
        let Attempt {
            plan,
            report,
            failed,
            held,
        } = self.plan_and_apply(&manifests, heal).await;
        out.health = self.engine.health(&plan).await;
        out.plan = Some(plan);
        if let Some(why) = failed {
            out.result = SyncResult::Failed;
            out.error = Some(why);
        }
        // Each failed heal is logged with its object and the server's words
        // by the `LogObserver`.
        if let Some(r) = &report {
            if r.failed + r.skipped + r.unhealthy > 0 {
                out.result = SyncResult::Failed;
                out.error = Some(failed_summary(
                    Some(r),
                    "drifted object(s) could not be healed",
                ));
            }
        }
        out.report = report;
        self.standing = Standing {
            held,
            failed: (out.result == SyncResult::Failed)
                .then(|| out.error.clone())
                .flatten(),
        };
        out.held = self.held_now();
        if out.result == SyncResult::Success && !out.held.is_empty() {
            out.result = SyncResult::Held;
            out.error = Some(held_summary(&out.held));
        }
        out.duration = clock.elapsed();
        Some(out)
    }

    /// Plans; applies when `apply` and anything is actionable.
    async fn plan_and_apply(&self, manifests: &[Manifest], apply: bool) -> Attempt {
        let mut plan = self.engine.plan(manifests).await;
        self.engine.guard(&mut plan, &self.safety);
        let mut held: Vec<HeldChange> = plan
            .held()
            .into_iter()
            .map(|c| HeldChange::of(c, c.blocked.as_deref().unwrap_or_default()))
            .collect();
        let mut failed = None;
        if !plan.unreachable.is_empty() {
            failed = Some(
                plan.unreachable
                    .iter()
                    .map(|(b, why)| format!("{b}: {why}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        }
        if let Some(f) = plan.findings.iter().find(|f| f.is_error()) {
            let failed = Some(f.to_string());
            return Attempt {
                plan: plan.plan,
                report: None,
                failed,
                held,
            };
        }
        let actionable = plan.plan.changes.iter().any(|c| c.is_actionable());
        let report = if apply && actionable {
            Some(self.engine.apply(&plan).await)
        } else {
            None
        };
        if let Some(r) = &report {
            for c in &r.results {
                if let crate::engine::Outcome::Held { reason } = &c.outcome {
                    held.push(HeldChange {
                        change: format!("{} {} [{}]", c.action.verb(), c.object, c.backend),
                        kind: crate::engine::hold_kind(c.action, reason),
                        reason: reason.clone(),
                    });
                }
            }
        }
        Attempt {
            plan: plan.plan,
            report,
            failed,
            held,
        }
    }

    /// How long to wait before the next sync: the interval or the next
    /// cron time, or the backoff while Git fails.
    pub fn next_sync_in(&self) -> Duration {
        if self.fetch_failures > 0 {
            let shift = (self.fetch_failures - 1).min(16);
            return Duration::from_secs(5)
                .saturating_mul(1 << shift)
                .min(MAX_BACKOFF);
        }
        if let Some(Ok(schedule)) = self.source.sync_schedule()
            && let Some(next) = schedule.next_after(chrono::Utc::now())
        {
            let now = std::time::SystemTime::now();
            let at: SystemTime = next.into();
            return at.duration_since(now).unwrap_or(Duration::ZERO);
        }
        self.source.sync_interval()
    }

    /// Why applying is held back now by the source's sync windows.
    fn window_hold(&self) -> Option<String> {
        windows::hold(
            &self.source.windows,
            self.source.time_zone.as_deref(),
            chrono::Utc::now(),
        )
    }

    pub fn drift_interval(&self) -> Duration {
        self.source.drift_interval
    }
}

/// Something outside the schedule asking a source to act now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Fetch and sync now (a push webhook).
    Sync(String),
    /// Look for drift now (a watched object changed).
    Drift(String),
}

/// Runs every source until `shutdown` turns true: a sync at start, then on
/// each source's interval or schedule and whenever a [`Trigger::Sync`] names
/// it (webhooks); a drift check every `driftInterval`, on
/// [`Trigger::Drift`], and after watched objects change ([`watch`]). `ready`
/// turns true once every source has finished its first sync. After
/// `shutdown`, a sync in flight finishes (its engine starts no further
/// change when it was given the same signal with [`Engine::stop_on`]) or is
/// abandoned after [`SHUTDOWN_GRACE`].
pub async fn run(
    runners: Vec<SourceRunner>,
    mut triggers: tokio::sync::mpsc::Receiver<Trigger>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    observer: Arc<dyn Observer>,
    ready: Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};

    let total = runners.len();
    let first_done = Arc::new(AtomicUsize::new(0));
    let mut notifiers = std::collections::BTreeMap::new();
    let mut tasks = Vec::new();
    // Sources run as futures of this one task (joined below), not as
    // spawned tasks: nothing here needs to be 'static.
    for mut runner in runners {
        let notify = Arc::new(tokio::sync::Notify::new());
        let drift_notify = Arc::new(tokio::sync::Notify::new());
        notifiers.insert(
            runner.name().to_string(),
            (notify.clone(), drift_notify.clone()),
        );
        let mut shutdown = shutdown.clone();
        let observer = observer.clone();
        let ready = ready.clone();
        let first_done = first_done.clone();
        tasks.push(async move {
            let mut watch = watch::DriftWatch::new(watch::DEBOUNCE);
            let mut next_sync = tokio::time::Instant::now();
            let mut next_drift = next_sync + runner.drift_interval();
            let mut first = true;
            loop {
                if *shutdown.borrow() {
                    break;
                }
                let sync_now = tokio::select! {
                    _ = tokio::time::sleep_until(next_sync) => true,
                    _ = notify.notified() => true,
                    _ = tokio::time::sleep_until(next_drift) => false,
                    _ = drift_notify.notified() => false,
                    changes = watch.changed() => {
                        tracing::debug!(source = runner.name(), changes, "watched objects changed: checking for drift");
                        false
                    }
                    _ = shutdown.changed() => break,
                };
                if sync_now {
                    let Some(outcome) = until_grace(runner.sync(), &shutdown).await else {
                        tracing::warn!(
                            source = runner.name(),
                            "abandoned the sync in flight {}s after the shutdown signal; the next start resumes it",
                            SHUTDOWN_GRACE.as_secs()
                        );
                        break;
                    };
                    observer.observe(&outcome);
                    next_sync = tokio::time::Instant::now() + runner.next_sync_in();
                    if first {
                        first = false;
                        if first_done.fetch_add(1, Ordering::SeqCst) + 1 == total {
                            ready.store(true, Ordering::SeqCst);
                        }
                    }
                } else {
                    match until_grace(runner.drift_check(), &shutdown).await {
                        Some(Some(outcome)) => observer.observe(&outcome),
                        Some(None) => {}
                        None => break,
                    }
                    next_drift = tokio::time::Instant::now() + runner.drift_interval();
                }
                // A new revision (new kinds) or a failed start: (re)watch.
                if !*shutdown.borrow() {
                    watch.follow(&runner).await;
                }
            }
        });
    }
    let mut stop = shutdown.clone();
    let dispatch = async move {
        loop {
            tokio::select! {
                trigger = triggers.recv() => match trigger {
                    Some(Trigger::Sync(name)) => {
                        if let Some((n, _)) = notifiers.get(&name) {
                            n.notify_one();
                        }
                    }
                    Some(Trigger::Drift(name)) => {
                        if let Some((_, n)) = notifiers.get(&name) {
                            n.notify_one();
                        }
                    }
                    None => break,
                },
                _ = stop.changed() => break,
            }
        }
    };
    tokio::join!(futures::future::join_all(tasks), dispatch);
}

/// How long a sync in flight may go on after the shutdown signal before it
/// is abandoned: below Kubernetes' default 30 s termination grace period.
/// No change is started after the signal (see [`Engine::stop_on`]), so this
/// only bounds requests already sent, each of which is idempotent or
/// recorded on the target (a microVM's applied record), so the next start
/// neither loses nor duplicates anything.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// `work`'s output, or None when it was still running `SHUTDOWN_GRACE`
/// after `shutdown` turned true.
async fn until_grace<T>(
    work: impl std::future::Future<Output = T>,
    shutdown: &tokio::sync::watch::Receiver<bool>,
) -> Option<T> {
    let mut stop = shutdown.clone();
    let abandon = async move {
        if stop.wait_for(|s| *s).await.is_err() {
            // No one can ask for a shutdown any more.
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        out = work => Some(out),
        () = abandon => None,
    }
}

#[cfg(test)]
mod tests;
