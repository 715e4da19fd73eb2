//! Prometheus metrics of the daemon, in their own registry (never the
//! process-global one), fed by [`crate::run::Observer`] outcomes.
//!
//! Names follow Prometheus conventions: counters end in `_total`, durations
//! are seconds. `mooring_resource_drift` has a series (of value 1) only for
//! an object that differed from Git at the last plan: an object in sync, or
//! gone from Git, has none, so a scrape grows with drift, not with the
//! number of objects managed (20,000 objects in sync: no series). The
//! counts per kind are `mooring_drifted_resources` and
//! `mooring_managed_resources`. Likewise `mooring_resource_health` has a
//! series only for an object that is not healthy (0 in progress, -1
//! failed), counted per kind by `mooring_unhealthy_resources`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::engine::{Outcome, Report};
use crate::plan::{Action, Plan};
use crate::run::{Observer, SyncOutcome, SyncResult};

#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// Labels of one `mooring_resource_drift` series after `source`.
type ObjectLabels = [String; 4];

/// Every metric mooring exports.
pub struct Metrics {
    registry: Registry,
    resource_drift: IntGaugeVec,
    resource_health: IntGaugeVec,
    drifted_resources: IntGaugeVec,
    managed_resources: IntGaugeVec,
    unhealthy_resources: IntGaugeVec,
    sync_total: IntCounterVec,
    sync_duration: HistogramVec,
    drift_checks: IntCounterVec,
    drift_check_duration: HistogramVec,
    render_duration: HistogramVec,
    last_sync: GaugeVec,
    last_success: GaugeVec,
    source_started: GaugeVec,
    changes_held: IntGaugeVec,
    source_info: IntGaugeVec,
    git_fetch_total: IntCounterVec,
    validation_errors: IntGaugeVec,
    policy_violations: IntGaugeVec,
    apply_total: IntCounterVec,
    backend_requests_total: IntCounterVec,
    backend_request_duration: HistogramVec,
    backend_up: IntGaugeVec,
    webhook_total: IntCounterVec,
    /// 1 while this replica leads (always 1 without leader election).
    leader: prometheus::IntGauge,
    /// Per source: the object series set by the last plan, the
    /// (backend, kind) pairs counted, the revision info labels and the
    /// policies counted, so that stale series can be removed.
    seen: Mutex<BTreeMap<String, Seen>>,
}

#[derive(Default)]
struct Seen {
    objects: BTreeSet<ObjectLabels>,
    /// The objects with a `mooring_resource_health` series.
    health: BTreeSet<ObjectLabels>,
    /// The (backend, kind) pairs with a `mooring_unhealthy_resources` series.
    health_kinds: BTreeSet<(String, String)>,
    kinds: BTreeSet<(String, String)>,
    info: Option<(String, String)>,
    policies: BTreeSet<String>,
}

/// The (backend, kind) pairs `seen` had a series for that `now` no longer
/// counts: their series go.
fn gone_kinds<'a, V>(
    seen: &'a BTreeSet<(String, String)>,
    now: &'a BTreeMap<(String, String), V>,
) -> impl Iterator<Item = &'a (String, String)> {
    seen.iter().filter(|k| !now.contains_key(*k))
}

fn int_gauge(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntGaugeVec, MetricsError> {
    let m = IntGaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(m.clone()))?;
    Ok(m)
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<GaugeVec, MetricsError> {
    let m = GaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(m.clone()))?;
    Ok(m)
}

fn counter(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, MetricsError> {
    let m = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(m.clone()))?;
    Ok(m)
}

fn histogram(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<HistogramVec, MetricsError> {
    let buckets = vec![
        0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
    ];
    let m = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)?;
    r.register(Box::new(m.clone()))?;
    Ok(m)
}

impl Metrics {
    pub fn new() -> Result<Metrics, MetricsError> {
        let r = Registry::new();
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let source_kind = ["source", "backend", "kind"];
        Ok(Metrics {
            resource_drift: int_gauge(
                &r,
                "mooring_resource_drift",
                "1 for each object whose live state differs from Git; an object in sync has no series",
                &["source", "backend", "kind", "namespace", "name"],
            )?,
            resource_health: int_gauge(
                &r,
                "mooring_resource_health",
                "0 while the live object is in progress (kstatus's rules), -1 when it failed; a healthy object has no series",
                &["source", "backend", "kind", "namespace", "name"],
            )?,
            drifted_resources: int_gauge(
                &r,
                "mooring_drifted_resources",
                "Objects whose live state differs from Git",
                &source_kind,
            )?,
            managed_resources: int_gauge(
                &r,
                "mooring_managed_resources",
                "Objects mooring manages",
                &source_kind,
            )?,
            unhealthy_resources: int_gauge(
                &r,
                "mooring_unhealthy_resources",
                "Objects whose live state is not healthy (in progress or failed), as of the last sync or drift check",
                &source_kind,
            )?,
            sync_total: counter(
                &r,
                "mooring_sync_total",
                "Syncs, by result",
                &["source", "result"],
            )?,
            sync_duration: histogram(
                &r,
                "mooring_sync_duration_seconds",
                "Duration of a sync",
                &["source"],
            )?,
            drift_checks: counter(
                &r,
                "mooring_drift_checks_total",
                "Drift checks of the applied revision (a plan against live state, and the heal with selfHeal), by result",
                &["source", "result"],
            )?,
            drift_check_duration: histogram(
                &r,
                "mooring_drift_check_duration_seconds",
                "Duration of a drift check, its heal included",
                &["source"],
            )?,
            render_duration: histogram(
                &r,
                "mooring_render_duration_seconds",
                "Time a sync spent rendering Kustomize and Helm folders (cached renders included)",
                &["source"],
            )?,
            last_sync: gauge(
                &r,
                "mooring_last_sync_timestamp_seconds",
                "When the last sync finished (Unix time)",
                &["source"],
            )?,
            last_success: gauge(
                &r,
                "mooring_last_successful_sync_timestamp_seconds",
                "When the last sync that got through finished, result success or held (Unix time): what a safety rule holds back has its own gauge, mooring_changes_held",
                &["source"],
            )?,
            source_started: gauge(
                &r,
                "mooring_source_started_timestamp_seconds",
                "When this process started following the source (Unix time): the stale alert's reference for a source that never synced successfully",
                &["source"],
            )?,
            changes_held: int_gauge(
                &r,
                "mooring_changes_held",
                "Changes held back now, as of the last plan of the source (sync or drift check), by reason (other_owner, not_applied_by_mooring, deletion_cap, empty_render, force_prune_needed, replace_refused, failed_changes, terminating, sync_window, other)",
                &["source", "reason"],
            )?,
            source_info: int_gauge(
                &r,
                "mooring_source_info",
                "The revision a source has applied (always 1)",
                &["source", "url", "revision"],
            )?,
            git_fetch_total: counter(
                &r,
                "mooring_git_fetch_total",
                "Git fetches, by result",
                &["source", "result"],
            )?,
            validation_errors: int_gauge(
                &r,
                "mooring_validation_errors",
                "Error findings in the last revision read",
                &["source"],
            )?,
            policy_violations: int_gauge(
                &r,
                "mooring_policy_violations",
                "Policy findings in the last revision read, by policy",
                &["source", "policy"],
            )?,
            apply_total: counter(
                &r,
                "mooring_apply_total",
                "Changes applied, by operation and result",
                &["source", "backend", "operation", "result"],
            )?,
            backend_requests_total: counter(
                &r,
                "mooring_backend_requests_total",
                "Requests to targets, by operation and result",
                &["backend", "operation", "result"],
            )?,
            backend_request_duration: histogram(
                &r,
                "mooring_backend_request_duration_seconds",
                "Duration of requests to targets",
                &["backend", "operation"],
            )?,
            backend_up: int_gauge(
                &r,
                "mooring_backend_up",
                "0 when the last request to a target could not reach it, 1 otherwise",
                &["backend"],
            )?,
            webhook_total: counter(
                &r,
                "mooring_webhook_requests_total",
                "Push webhook requests, by result (accepted, ignored, unauthorized, no_source, bad_request, too_large, follower)",
                &["result"],
            )?,
            leader: {
                let g = prometheus::IntGauge::new(
                    "mooring_leader",
                    "1 while this replica holds the lease and applies, 0 while it follows",
                )?;
                r.register(Box::new(g.clone()))?;
                g
            },
            registry: r,
            seen: Mutex::new(BTreeMap::new()),
        })
    }

    /// `mooring_leader`: whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// The Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        if encoder.encode(&self.registry.gather(), &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Drift per drifted object (objects in sync lose their series), and
    /// drifted/managed counts per kind.
    pub fn record_plan(&self, source: &str, plan: &Plan) {
        let mut objects = BTreeSet::new();
        let mut counts: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
        for c in &plan.changes {
            if c.backend.is_empty() || c.action == Action::Declared {
                continue;
            }
            let drifted = c.action.is_change();
            let entry = counts
                .entry((c.backend.clone(), c.id.kind.clone()))
                .or_default();
            entry.0 += i64::from(drifted);
            entry.1 += 1;
            if drifted {
                let labels: ObjectLabels = [
                    c.backend.clone(),
                    c.id.kind.clone(),
                    c.id.namespace.clone().unwrap_or_default(),
                    c.id.name.clone(),
                ];
                self.resource_drift
                    .with_label_values(&[source, &labels[0], &labels[1], &labels[2], &labels[3]])
                    .set(1);
                objects.insert(labels);
            }
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let seen = seen.entry(source.to_string()).or_default();
        for gone in seen.objects.difference(&objects) {
            let _ = self
                .resource_drift
                .remove_label_values(&[source, &gone[0], &gone[1], &gone[2], &gone[3]]);
        }
        for (backend, kind) in gone_kinds(&seen.kinds, &counts) {
            let _ = self
                .drifted_resources
                .remove_label_values(&[source, backend, kind]);
            let _ = self
                .managed_resources
                .remove_label_values(&[source, backend, kind]);
        }
        for ((backend, kind), (drifted, managed)) in &counts {
            self.drifted_resources
                .with_label_values(&[source, backend, kind])
                .set(*drifted);
            self.managed_resources
                .with_label_values(&[source, backend, kind])
                .set(*managed);
        }
        seen.objects = objects;
        seen.kinds = counts.into_keys().collect();
    }

    /// Health per object that is not healthy, as of the last sync or
    /// drift check (a healthy object, or one no longer read, has no
    /// series), and the unhealthy count per kind read.
    pub fn record_health(&self, source: &str, health: &[crate::engine::ObjectHealth]) {
        use crate::plan::health::Health;
        let mut now = BTreeSet::new();
        let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
        for h in health {
            let unhealthy = counts
                .entry((h.backend.clone(), h.id.kind.clone()))
                .or_default();
            let value = match h.health {
                Health::Current => continue,
                Health::InProgress(_) => 0,
                Health::Failed(_) => -1,
            };
            *unhealthy += 1;
            let labels: ObjectLabels = [
                h.backend.clone(),
                h.id.kind.clone(),
                h.id.namespace.clone().unwrap_or_default(),
                h.id.name.clone(),
            ];
            self.resource_health
                .with_label_values(&[source, &labels[0], &labels[1], &labels[2], &labels[3]])
                .set(value);
            now.insert(labels);
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let seen = seen.entry(source.to_string()).or_default();
        for gone in seen.health.difference(&now) {
            let _ = self
                .resource_health
                .remove_label_values(&[source, &gone[0], &gone[1], &gone[2], &gone[3]]);
        }
        for (backend, kind) in gone_kinds(&seen.health_kinds, &counts) {
            let _ = self
                .unhealthy_resources
                .remove_label_values(&[source, backend, kind]);
        }
        for ((backend, kind), unhealthy) in &counts {
            self.unhealthy_resources
                .with_label_values(&[source, backend, kind])
                .set(*unhealthy);
        }
        seen.health = now;
        seen.health_kinds = counts.into_keys().collect();
    }

    /// What an apply did, per change.
    pub fn record_apply(&self, source: &str, report: &Report) {
        for r in &report.results {
            let result = match r.outcome {
                Outcome::Done { .. } => "done",
                Outcome::Failed { .. } => "failed",
                Outcome::Skipped { .. } => "skipped",
                Outcome::Held { .. } => "held",
            };
            self.apply_total
                .with_label_values(&[source, &r.backend, r.action.verb(), result])
                .inc();
        }
    }

    /// Marks `source` as followed from now on: before its first successful
    /// sync, the stale alert measures from here.
    pub fn start_source(&self, source: &str) {
        let now = std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        self.source_started.with_label_values(&[source]).set(now);
        for kind in crate::engine::HOLD_KINDS {
            self.changes_held.with_label_values(&[source, kind]).set(0);
        }
    }

    /// How many changes of the last sync or drift check were held, by reason.
    fn record_held(&self, source: &str, held: &[crate::run::HeldChange]) {
        for kind in crate::engine::HOLD_KINDS {
            let n = held.iter().filter(|h| h.kind == *kind).count();
            self.changes_held
                .with_label_values(&[source, kind])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// The revision a source has applied.
    pub fn set_source_info(&self, source: &str, url: &str, revision: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let seen = seen.entry(source.to_string()).or_default();
        if let Some((old_url, old_rev)) = &seen.info
            && (old_url != url || old_rev != revision)
        {
            let _ = self
                .source_info
                .remove_label_values(&[source, old_url, old_rev]);
        }
        self.source_info
            .with_label_values(&[source, url, revision])
            .set(1);
        seen.info = Some((url.to_string(), revision.to_string()));
    }

    /// Error findings and policy findings of the last revision read.
    pub fn set_validation(&self, source: &str, errors: usize, policies: &BTreeMap<String, usize>) {
        self.validation_errors
            .with_label_values(&[source])
            .set(i64::try_from(errors).unwrap_or(i64::MAX));
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let seen = seen.entry(source.to_string()).or_default();
        for gone in seen.policies.iter().filter(|p| !policies.contains_key(*p)) {
            let _ = self.policy_violations.remove_label_values(&[source, gone]);
        }
        for (policy, n) in policies {
            self.policy_violations
                .with_label_values(&[source, policy])
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        seen.policies = policies.keys().cloned().collect();
    }

    /// One request to a target.
    pub fn observe_backend_request(
        &self,
        backend: &str,
        operation: &str,
        result: &str,
        duration: Duration,
    ) {
        self.backend_requests_total
            .with_label_values(&[backend, operation, result])
            .inc();
        self.backend_request_duration
            .with_label_values(&[backend, operation])
            .observe(duration.as_secs_f64());
        self.backend_up
            .with_label_values(&[backend])
            .set(i64::from(result != "unreachable"));
    }

    /// One request to `/hooks/git`.
    pub fn observe_webhook(&self, result: &str) {
        self.webhook_total.with_label_values(&[result]).inc();
    }
}

impl crate::backend::requests::RequestSink for Metrics {
    fn request(
        &self,
        backend: &str,
        operation: &str,
        outcome: crate::backend::requests::RequestOutcome,
        duration: Duration,
    ) {
        self.observe_backend_request(backend, operation, outcome.label(), duration);
    }
}

impl Observer for Metrics {
    fn observe(&self, o: &SyncOutcome) {
        let source = o.source.as_str();
        if let Some(ok) = o.fetched {
            self.git_fetch_total
                .with_label_values(&[source, if ok { "success" } else { "failed" }])
                .inc();
        }
        if let Some(plan) = &o.plan {
            self.record_plan(source, plan);
            self.record_health(source, &o.health);
        }
        if let Some(report) = &o.report {
            self.record_apply(source, report);
        }
        // Every outcome says what is held now (a sync that finds nothing
        // new, or whose fetch failed, repeats what the last plan held).
        self.record_held(source, &o.held);
        if let Some(rev) = &o.revision {
            self.set_source_info(source, &o.url.to_string(), rev);
        }
        if !o.drift_check && o.fetched == Some(true) && (o.plan.is_some() || !o.findings.is_empty())
        {
            let errors = o.findings.iter().filter(|f| f.is_error()).count();
            let mut policies: BTreeMap<String, usize> = BTreeMap::new();
            for f in &o.findings {
                if let Some(p) = f.source.strip_prefix("policy:") {
                    *policies.entry(p.to_string()).or_default() += 1;
                }
            }
            self.set_validation(source, errors, &policies);
        }
        if o.drift_check {
            self.drift_checks
                .with_label_values(&[source, o.result.label()])
                .inc();
            self.drift_check_duration
                .with_label_values(&[source])
                .observe(o.duration.as_secs_f64());
            return;
        }
        self.sync_total
            .with_label_values(&[source, o.result.label()])
            .inc();
        self.sync_duration
            .with_label_values(&[source])
            .observe(o.duration.as_secs_f64());
        if let Some(t) = o.render_time {
            self.render_duration
                .with_label_values(&[source])
                .observe(t.as_secs_f64());
        }
        let finished = (o.started + o.duration)
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        self.last_sync.with_label_values(&[source]).set(finished);
        // A held sync got through: everything a rule allowed is applied,
        // and the rest is MooringChangesHeld's, not MooringSourceStale's.
        if matches!(o.result, SyncResult::Success | SyncResult::Held) {
            self.last_success.with_label_values(&[source]).set(finished);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::manifest::from_test_yaml;
    use crate::plan::plan_observed;

    fn outcome(plan: Plan) -> SyncOutcome {
        SyncOutcome {
            source: "web".into(),
            url: crate::source::url::SourceUrl::new("https://git.example/web.git"),
            revision: Some("abc123".into()),
            result: SyncResult::Success,
            error: None,
            fetched: Some(true),
            findings: Vec::new(),
            plan: Some(plan),
            report: None,
            started: SystemTime::now(),
            duration: Duration::from_millis(120),
            drift_check: false,
            held: Vec::new(),
            render_time: None,
            health: Vec::new(),
        }
    }

    fn plan(live: &str, desired: &str) -> Plan {
        plan_observed(
            "kubernetes",
            crate::plan::pair(from_test_yaml(desired), from_test_yaml(live)),
        )
    }

    const A: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: '1'}\n";
    const A2: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: '2'}\n";

    #[test]
    fn drift_flips_and_series_of_objects_gone_from_git_are_removed() {
        let m = Metrics::new().unwrap();
        m.observe(&outcome(plan(A, A)));
        let text = m.encode();
        assert!(
            !text.contains("mooring_resource_drift{"),
            "an object in sync has no series: {text}"
        );
        assert!(text.contains("mooring_drifted_resources{backend=\"kubernetes\",kind=\"ConfigMap\",source=\"web\"} 0"), "{text}");
        assert!(text.contains("mooring_managed_resources{backend=\"kubernetes\",kind=\"ConfigMap\",source=\"web\"} 1"), "{text}");
        assert!(text.contains("mooring_sync_total{result=\"success\",source=\"web\"} 1"));
        assert!(text.contains("mooring_source_info{revision=\"abc123\",source=\"web\",url=\"https://git.example/web.git\"} 1"));
        assert!(text.contains("mooring_last_successful_sync_timestamp_seconds{source=\"web\"}"));

        m.observe(&outcome(plan(A, A2)));
        let text = m.encode();
        assert!(
            text.contains("name=\"a\",namespace=\"default\",source=\"web\"} 1"),
            "{text}"
        );
        assert!(text.contains(
            "mooring_drifted_resources{backend=\"kubernetes\",kind=\"ConfigMap\",source=\"web\"} 1"
        ));

        // Back in sync: the series goes.
        m.observe(&outcome(plan(A, A)));
        assert!(!m.encode().contains("mooring_resource_drift{"));
        m.observe(&outcome(plan(A, A2)));

        let mut gone = outcome(plan("", ""));
        gone.revision = Some("def456".into());
        m.observe(&gone);
        let text = m.encode();
        assert!(!text.contains("mooring_resource_drift{"), "{text}");
        assert!(!text.contains("revision=\"abc123\""), "{text}");
        assert!(text.contains("revision=\"def456\""));
        assert!(text.contains("mooring_sync_total{result=\"success\",source=\"web\"} 5"));

        // A drift check is counted as one, not as a sync.
        let mut check = outcome(plan(A, A));
        check.drift_check = true;
        m.observe(&check);
        let text = m.encode();
        assert!(text.contains("mooring_sync_total{result=\"success\",source=\"web\"} 5"));
        assert!(
            text.contains("mooring_drift_checks_total{result=\"success\",source=\"web\"} 1"),
            "{text}"
        );
        assert!(text.contains("mooring_drift_check_duration_seconds_count{source=\"web\"} 1"));
    }

    #[test]
    fn health_per_unhealthy_object_and_series_of_objects_healed_or_gone_are_removed() {
        use crate::engine::ObjectHealth;
        use crate::plan::health::Health;
        let m = Metrics::new().unwrap();
        let id = |name: &str| crate::manifest::ObjectId {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: Some("shop".into()),
            name: name.into(),
        };
        let h = |name: &str, health: Health| ObjectHealth {
            backend: "kubernetes".into(),
            id: id(name),
            health,
        };
        m.record_health(
            "web",
            &[
                h("a", Health::Current),
                h("b", Health::InProgress("x".into())),
                h("c", Health::Failed("y".into())),
            ],
        );
        let text = m.encode();
        let series = |name: &str| {
            format!(
                "mooring_resource_health{{backend=\"kubernetes\",kind=\"Deployment\",name=\"{name}\",namespace=\"shop\",source=\"web\"}}"
            )
        };
        let count = "mooring_unhealthy_resources{backend=\"kubernetes\",kind=\"Deployment\",source=\"web\"}";
        // A healthy object has no series: 20,000 healthy objects cost none.
        assert!(!text.contains(&series("a")), "{text}");
        assert!(text.contains(&format!("{} 0", series("b"))), "{text}");
        assert!(text.contains(&format!("{} -1", series("c"))), "{text}");
        assert!(text.contains(&format!("{count} 2")), "{text}");
        // b became healthy, c left Git.
        m.record_health("web", &[h("a", Health::Current), h("b", Health::Current)]);
        let text = m.encode();
        assert!(!text.contains("mooring_resource_health{"), "{text}");
        assert!(text.contains(&format!("{count} 0")), "{text}");
        // No Deployment read any more: its count goes too.
        m.record_health("web", &[]);
        assert!(!m.encode().contains(count), "{}", m.encode());
    }

    #[test]
    fn held_changes_are_counted_by_reason_and_the_sync_as_held() {
        let m = Metrics::new().unwrap();
        m.start_source("web");
        let text = m.encode();
        assert!(
            text.contains("mooring_source_started_timestamp_seconds{source=\"web\"}"),
            "{text}"
        );
        assert!(
            text.contains("mooring_changes_held{reason=\"other_owner\",source=\"web\"} 0"),
            "{text}"
        );
        let mut o = outcome(plan(A, A));
        o.result = SyncResult::Held;
        o.held = vec![
            crate::run::HeldChange {
                change: "update ConfigMap/shop/app [kubernetes]".into(),
                reason: "the live object belongs to mooring source `x`".into(),
                kind: "other_owner",
            };
            2
        ];
        m.observe(&o);
        let text = m.encode();
        assert!(
            text.contains("mooring_changes_held{reason=\"other_owner\",source=\"web\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("mooring_sync_total{result=\"held\",source=\"web\"} 1"),
            "{text}"
        );
        // A held sync got through: the stale alert is not the one to fire.
        assert!(
            text.contains("mooring_last_successful_sync_timestamp_seconds{source=\"web\"}"),
            "{text}"
        );
        // Released: back to zero.
        o.held.clear();
        o.result = SyncResult::Success;
        m.observe(&o);
        assert!(
            m.encode()
                .contains("mooring_changes_held{reason=\"other_owner\",source=\"web\"} 0")
        );
    }

    #[test]
    fn invalid_revisions_and_policies_are_counted() {
        let m = Metrics::new().unwrap();
        let mut o = outcome(plan(A, A));
        o.plan = None;
        o.result = SyncResult::Invalid;
        o.findings = vec![
            crate::finding::Finding::error("policy:allowed-registries", "x"),
            crate::finding::Finding::error("schema", "y"),
        ];
        m.observe(&o);
        let text = m.encode();
        assert!(
            text.contains("mooring_validation_errors{source=\"web\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "mooring_policy_violations{policy=\"allowed-registries\",source=\"web\"} 1"
            )
        );
        assert!(text.contains("mooring_sync_total{result=\"invalid\",source=\"web\"} 1"));
        assert!(text.contains("mooring_git_fetch_total{result=\"success\",source=\"web\"} 1"));
        assert!(!text.contains("mooring_last_successful_sync_timestamp_seconds{"));
        m.observe_backend_request("flintlock", "list", "ok", Duration::from_millis(3));
        assert!(m.encode().contains("mooring_backend_requests_total{backend=\"flintlock\",operation=\"list\",result=\"ok\"} 1"));
        assert!(
            m.encode()
                .contains("mooring_backend_up{backend=\"flintlock\"} 1")
        );
        m.observe_backend_request("flintlock", "list", "unreachable", Duration::from_secs(1));
        assert!(
            m.encode()
                .contains("mooring_backend_up{backend=\"flintlock\"} 0")
        );
        // An answer, even an error, means the target is reachable.
        m.observe_backend_request("flintlock", "get", "not_found", Duration::from_millis(1));
        assert!(
            m.encode()
                .contains("mooring_backend_up{backend=\"flintlock\"} 1")
        );
    }
}
