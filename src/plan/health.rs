//! Whether a live object is healthy, by kstatus's rules (the library Flux
//! uses to wait for what it applied), written here in Rust:
//!
//! 1. an object being deleted is in progress;
//! 2. a status whose `observedGeneration` is behind `metadata.generation`
//!    is in progress: the controller has not seen the change yet;
//! 3. kind-specific rules: Deployment, StatefulSet, DaemonSet, ReplicaSet,
//!    Job, PersistentVolumeClaim, Service of type LoadBalancer, Pod,
//!    Namespace, CustomResourceDefinition; and the mission's kinds from
//!    their upstream status (LlamaStackDistribution's `phase`, Flintlock's
//!    microVM `state`);
//! 4. otherwise the standard conditions: `Stalled` true fails,
//!    `Reconciling` true is in progress, `Ready` (or `Available`) false is
//!    in progress (failed when its reason says so), true is current;
//! 5. an object with no status to speak of is current (a ConfigMap).
//!
//! A failed object is named with its condition's message.

use serde::Serialize;
use serde_json::Value;

/// An object's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "message", rename_all = "camelCase")]
pub enum Health {
    /// Reconciled and serving as declared.
    Current,
    /// Getting there: why not yet.
    InProgress(String),
    /// Will not get there by itself: why.
    Failed(String),
}

impl Health {
    pub fn label(&self) -> &'static str {
        match self {
            Health::Current => "current",
            Health::InProgress(_) => "in_progress",
            Health::Failed(_) => "failed",
        }
    }

    /// Whether waiting longer cannot change it.
    pub fn is_settled(&self) -> bool {
        !matches!(self, Health::InProgress(_))
    }
}

fn int(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(Value::as_i64)
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The condition of `type` in `status.conditions`.
fn condition<'a>(v: &'a Value, kind: &str) -> Option<&'a Value> {
    v.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

fn is(c: Option<&Value>, status: &str) -> bool {
    c.and_then(|c| c.get("status")).and_then(Value::as_str) == Some(status)
}

fn message(c: Option<&Value>) -> String {
    let field = |k: &str| {
        c.and_then(|c| c.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    match (field("reason"), field("message")) {
        ("", "") => String::new(),
        (r, "") => r.to_string(),
        ("", m) => m.to_string(),
        (r, m) => format!("{r}: {m}"),
    }
}

/// The health of `live`, an object of `kind` (`group` its API group).
pub fn of(group: &str, kind: &str, live: &Value) -> Health {
    if live.pointer("/metadata/deletionTimestamp").is_some() {
        return Health::InProgress("being deleted".into());
    }
    if let (Some(generation), Some(observed)) = (
        int(live, "/metadata/generation"),
        int(live, "/status/observedGeneration"),
    ) && observed < generation
    {
        return Health::InProgress(format!(
            "generation {generation} not observed yet (observed {observed})"
        ));
    }
    let specific = match (group, kind) {
        ("apps", "Deployment") => Some(deployment(live)),
        ("apps", "StatefulSet") => Some(stateful_set(live)),
        ("apps", "DaemonSet") => Some(daemon_set(live)),
        ("apps", "ReplicaSet") => Some(replica_set(live)),
        ("batch", "Job") => Some(job(live)),
        ("", "PersistentVolumeClaim") => Some(phase(live, "Bound", "Lost")),
        ("", "Service") => Some(service(live)),
        ("", "Pod") => Some(pod(live)),
        ("", "Namespace") => Some(phase(live, "Active", "")),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => Some(crd(live)),
        ("llamastack.io", "LlamaStackDistribution") => Some(llama(live)),
        ("flintlock.liquidmetal.dev", "MicroVM") => Some(microvm(live)),
        _ => None,
    };
    specific.unwrap_or_else(|| conditions(live))
}

/// Replicas wanted (`spec.replicas`, 1 when unset).
fn wanted(live: &Value) -> i64 {
    int(live, "/spec/replicas").unwrap_or(1)
}

fn deployment(live: &Value) -> Health {
    let progressing = condition(live, "Progressing");
    if is(progressing, "False")
        && progressing
            .and_then(|c| c.get("reason"))
            .and_then(Value::as_str)
            == Some("ProgressDeadlineExceeded")
    {
        return Health::Failed(message(progressing));
    }
    let want = wanted(live);
    let updated = int(live, "/status/updatedReplicas").unwrap_or(0);
    let total = int(live, "/status/replicas").unwrap_or(0);
    let available = int(live, "/status/availableReplicas").unwrap_or(0);
    if updated < want {
        return Health::InProgress(format!("updated replicas: {updated}/{want}"));
    }
    if total > updated {
        return Health::InProgress(format!("old replicas terminating: {}", total - updated));
    }
    if available < want {
        let why = message(condition(live, "Available"));
        return Health::InProgress(if why.is_empty() {
            format!("available replicas: {available}/{want}")
        } else {
            format!("available replicas: {available}/{want} ({why})")
        });
    }
    Health::Current
}

fn stateful_set(live: &Value) -> Health {
    let want = wanted(live);
    let ready = int(live, "/status/readyReplicas").unwrap_or(0);
    if ready < want {
        return Health::InProgress(format!("ready replicas: {ready}/{want}"));
    }
    if text(live, "/spec/updateStrategy/type") != Some("OnDelete")
        && text(live, "/status/updateRevision") != text(live, "/status/currentRevision")
    {
        return Health::InProgress("rolling update in progress".into());
    }
    Health::Current
}

fn daemon_set(live: &Value) -> Health {
    let desired = int(live, "/status/desiredNumberScheduled").unwrap_or(0);
    for (field, what) in [
        ("/status/currentNumberScheduled", "scheduled"),
        ("/status/updatedNumberScheduled", "updated"),
        ("/status/numberAvailable", "available"),
    ] {
        let n = int(live, field).unwrap_or(0);
        if n < desired {
            return Health::InProgress(format!("{what} pods: {n}/{desired}"));
        }
    }
    Health::Current
}

fn replica_set(live: &Value) -> Health {
    let want = wanted(live);
    let available = int(live, "/status/availableReplicas").unwrap_or(0);
    if available < want {
        return Health::InProgress(format!("available replicas: {available}/{want}"));
    }
    Health::Current
}

fn job(live: &Value) -> Health {
    let failed = condition(live, "Failed");
    if is(failed, "True") {
        return Health::Failed(message(failed));
    }
    if is(condition(live, "Complete"), "True") {
        return Health::Current;
    }
    if live.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        return Health::Current;
    }
    Health::InProgress("running".into())
}

/// Current at `status.phase` `good`; failed at `bad`.
fn phase(live: &Value, good: &str, bad: &str) -> Health {
    match text(live, "/status/phase") {
        Some(p) if p == good => Health::Current,
        Some(p) if !bad.is_empty() && p == bad => Health::Failed(format!("phase {p}")),
        Some(p) => Health::InProgress(format!("phase {p}")),
        None => Health::InProgress("no phase yet".into()),
    }
}

fn service(live: &Value) -> Health {
    if text(live, "/spec/type") != Some("LoadBalancer") {
        return Health::Current;
    }
    match live
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
    {
        Some(i) if !i.is_empty() => Health::Current,
        _ => Health::InProgress("waiting for a load balancer address".into()),
    }
}

fn pod(live: &Value) -> Health {
    match text(live, "/status/phase") {
        Some("Succeeded") => Health::Current,
        Some("Failed") => Health::Failed(
            text(live, "/status/message")
                .or(text(live, "/status/reason"))
                .unwrap_or("failed")
                .to_string(),
        ),
        Some("Running") if is(condition(live, "Ready"), "True") => Health::Current,
        Some(p) => Health::InProgress(format!("phase {p}, not ready")),
        None => Health::InProgress("not scheduled yet".into()),
    }
}

fn crd(live: &Value) -> Health {
    let names = condition(live, "NamesAccepted");
    if is(names, "False") {
        return Health::Failed(message(names));
    }
    if is(condition(live, "Established"), "True") {
        Health::Current
    } else {
        Health::InProgress("not established yet".into())
    }
}

/// LlamaStackDistribution: `status.phase` Ready, Failed, or on its way.
fn llama(live: &Value) -> Health {
    match text(live, "/status/phase") {
        Some("Ready") => Health::Current,
        Some("Failed") => Health::Failed(message(condition(live, "Ready"))),
        Some(p) => Health::InProgress(format!("phase {p}")),
        None => conditions(live),
    }
}

/// Flintlock: the microVM's `status.state` (CREATED, FAILED, PENDING...).
fn microvm(live: &Value) -> Health {
    match text(live, "/status/state") {
        Some("CREATED") => Health::Current,
        Some("FAILED") => Health::Failed(match int(live, "/status/retry") {
            Some(n) if n > 0 => format!("state FAILED (the host retried {n} times)"),
            _ => "state FAILED: the host could not create it".into(),
        }),
        Some(s) => Health::InProgress(format!("state {s}")),
        None => Health::Current,
    }
}

/// The standard conditions, for every other kind (wasmCloud's included).
fn conditions(live: &Value) -> Health {
    let stalled = condition(live, "Stalled");
    if is(stalled, "True") {
        return Health::Failed(message(stalled));
    }
    let reconciling = condition(live, "Reconciling");
    if is(reconciling, "True") {
        return Health::InProgress(message(reconciling));
    }
    for kind in ["Ready", "Available"] {
        let c = condition(live, kind);
        if is(c, "False") {
            let reason = c
                .and_then(|c| c.get("reason"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            return if reason.contains("Fail") || reason.contains("Error") {
                Health::Failed(message(c))
            } else {
                Health::InProgress(message(c))
            };
        }
        if is(c, "True") {
            return Health::Current;
        }
    }
    Health::Current
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(status: Value) -> Value {
        json!({"metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": status})
    }

    #[test]
    fn deployments_follow_their_replicas_and_deadline() {
        let h = |status| of("apps", "Deployment", &deployment(status));
        assert_eq!(
            h(json!({"observedGeneration": 1})),
            Health::InProgress("generation 2 not observed yet (observed 1)".into())
        );
        assert_eq!(
            h(json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1,
                "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."}]})),
            Health::InProgress("available replicas: 1/2 (MinimumReplicasUnavailable: Deployment does not have minimum availability.)".into())
        );
        assert_eq!(
            h(
                json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2})
            ),
            Health::Current
        );
        assert!(matches!(
            h(json!({"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet web-1 has timed out progressing."}]})),
            Health::Failed(m) if m.contains("timed out")
        ));
    }

    #[test]
    fn other_kinds() {
        let job = |c: Value| of("batch", "Job", &json!({"status": {"conditions": [c]}}));
        assert_eq!(
            job(json!({"type": "Complete", "status": "True"})),
            Health::Current
        );
        assert!(
            matches!(job(json!({"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"})), Health::Failed(m) if m == "BackoffLimitExceeded")
        );
        assert_eq!(
            of(
                "",
                "PersistentVolumeClaim",
                &json!({"status": {"phase": "Bound"}})
            ),
            Health::Current
        );
        assert!(
            !of(
                "",
                "PersistentVolumeClaim",
                &json!({"status": {"phase": "Pending"}})
            )
            .is_settled()
        );
        assert!(!of("", "Service", &json!({"spec": {"type": "LoadBalancer"}})).is_settled());
        assert_eq!(
            of("", "Service", &json!({"spec": {"type": "ClusterIP"}})),
            Health::Current
        );
        assert_eq!(of("", "ConfigMap", &json!({"data": {}})), Health::Current);
        assert!(
            matches!(of("core.oam.dev", "Application", &json!({"status": {"conditions": [{"type": "Stalled", "status": "True", "message": "bad spec"}]}})), Health::Failed(m) if m == "bad spec")
        );
        assert_eq!(
            of(
                "llamastack.io",
                "LlamaStackDistribution",
                &json!({"status": {"phase": "Ready"}})
            ),
            Health::Current
        );
        assert_eq!(
            of(
                "",
                "Pod",
                &json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
            ),
            Health::Current
        );
        assert!(
            !of(
                "",
                "ConfigMap",
                &json!({"metadata": {"deletionTimestamp": "now"}})
            )
            .is_settled()
        );
    }

    #[test]
    fn workloads_namespaces_crds_and_microvms() {
        let sts = |status: Value| {
            of(
                "apps",
                "StatefulSet",
                &json!({"spec": {"replicas": 2}, "status": status}),
            )
        };
        assert_eq!(
            sts(json!({"readyReplicas": 1})),
            Health::InProgress("ready replicas: 1/2".into())
        );
        assert_eq!(
            sts(json!({"readyReplicas": 2, "currentRevision": "a", "updateRevision": "b"})),
            Health::InProgress("rolling update in progress".into())
        );
        assert_eq!(
            sts(json!({"readyReplicas": 2, "currentRevision": "b", "updateRevision": "b"})),
            Health::Current
        );
        let ds = |n: i64| {
            of(
                "apps",
                "DaemonSet",
                &json!({"status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                    "updatedNumberScheduled": 3, "numberAvailable": n}}),
            )
        };
        assert_eq!(ds(2), Health::InProgress("available pods: 2/3".into()));
        assert_eq!(ds(3), Health::Current);
        assert_eq!(
            of(
                "apps",
                "ReplicaSet",
                &json!({"spec": {"replicas": 3}, "status": {"availableReplicas": 1}})
            ),
            Health::InProgress("available replicas: 1/3".into())
        );
        assert_eq!(
            of("", "Namespace", &json!({"status": {"phase": "Active"}})),
            Health::Current
        );
        assert_eq!(
            of(
                "",
                "Namespace",
                &json!({"status": {"phase": "Terminating"}})
            ),
            Health::InProgress("phase Terminating".into())
        );
        let crd = |c: Value| {
            of(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                &json!({"status": {"conditions": [c]}}),
            )
        };
        assert_eq!(
            crd(json!({"type": "Established", "status": "True"})),
            Health::Current
        );
        assert!(matches!(
            crd(json!({"type": "NamesAccepted", "status": "False", "reason": "ListKindConflict"})),
            Health::Failed(m) if m == "ListKindConflict"
        ));
        let vm = |state: &str| {
            of(
                "flintlock.liquidmetal.dev",
                "MicroVM",
                &json!({"status": {"state": state}}),
            )
        };
        assert_eq!(vm("CREATED"), Health::Current);
        assert!(matches!(vm("FAILED"), Health::Failed(_)));
        assert!(!vm("PENDING").is_settled());
        assert!(matches!(
            of("", "Pod", &json!({"status": {"phase": "Failed", "message": "OOMKilled"}})),
            Health::Failed(m) if m == "OOMKilled"
        ));
        assert!(matches!(
            of("llamastack.io", "LlamaStackDistribution", &json!({"status": {"phase": "Failed",
                "conditions": [{"type": "Ready", "status": "False", "reason": "DeploymentFailed"}]}})),
            Health::Failed(m) if m == "DeploymentFailed"
        ));
        // wasmCloud's kinds report a Ready condition.
        assert!(
            !of(
                "runtime.wasmcloud.dev",
                "Workload",
                &json!({"status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "Reconciling"}]}})
            )
            .is_settled()
        );
    }
}
