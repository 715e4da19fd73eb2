//! The Kubernetes backend against both targets: the API emulator and a real
//! kube-apiserver with etcd (tests/support/kube_target.rs). Each test body
//! runs against both (`on_both_targets!`), except where it says why not:
//! fault injection, a server that goes away, or what the test is about is
//! a call count or the kubeconfig file rather than the server. On both,
//! call counts are asserted on the emulator only (`env.calls()` is `None`
//! on the real server). Every name a test creates is made unique
//! (`env.name`), and each test has its own source label, because the real
//! server is shared by every test of a run.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, stream};
use mooring::backend::kubernetes::{Kubernetes, Retry};
use mooring::backend::{Backend, BackendError, Done, Observed, with_ownership};
use mooring::config::KubernetesTarget;
use mooring::engine::order;
use mooring::finding::Severity;
use mooring::manifest::{Limits, Manifest, SourceFile, load};
use mooring::plan::{Action, Change, Plan, plan_observed};
use mooring_emulators::kubernetes::KubeOptions;
use serde_json::json;
use support::kube_target::{KubeEnv, Target};

/// Manifests from YAML, labelled as this test's source's, as apply sends
/// them.
fn manifests(env: &KubeEnv, text: &str) -> Vec<Manifest> {
    let loaded = load(
        &[SourceFile {
            path: "k8s.yaml".into(),
            rel: "k8s.yaml".into(),
            bytes: text.as_bytes().to_vec(),
        }],
        &Limits::default(),
    );
    let errors: Vec<_> = loaded
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    loaded
        .manifests
        .iter()
        .map(|m| with_ownership(m, &env.source))
        .collect()
}

/// [`target`] with `forceConflicts: true`.
fn forced_target(env: &KubeEnv) -> KubernetesTarget {
    KubernetesTarget {
        force_conflicts: true,
        ..target(env)
    }
}

fn target(env: &KubeEnv) -> KubernetesTarget {
    KubernetesTarget {
        kubeconfig: Some(env.kubeconfig.clone()),
        context: Some(env.context.clone()),
        ..KubernetesTarget::default()
    }
}

const QUICK: Retry = Retry {
    attempts: 4,
    base: Duration::from_millis(5),
    max: Duration::from_millis(20),
};

async fn connect(env: &KubeEnv, target: &KubernetesTarget) -> Kubernetes {
    Kubernetes::connect(target, &env.source, 8, Duration::from_secs(10))
        .await
        .unwrap()
        .with_retry(QUICK)
}

async fn plan(k: &Kubernetes, desired: &[Manifest]) -> Plan {
    plan_observed("kubernetes", k.observe(desired).await.unwrap().rows)
}

/// Applies every actionable change, tier by tier (deletions in reverse),
/// up to 8 at a time within a tier.
async fn apply(
    k: &Kubernetes,
    plan: &Plan,
    desired: &[Manifest],
) -> Vec<(Change, Result<Done, BackendError>)> {
    let manifest = |c: &Change| desired.iter().find(|m| m.id == c.id);
    let mut changes: Vec<&Change> = plan.changes.iter().filter(|c| c.is_actionable()).collect();
    changes.sort_by_key(|c| {
        let t = order::tier(&c.id);
        if c.action == Action::Delete {
            order::TIERS + (order::TIERS - t)
        } else {
            t
        }
    });
    let mut out = Vec::new();
    let mut i = 0;
    while i < changes.len() {
        let tier_of = |c: &Change| (c.action == Action::Delete, order::tier(&c.id));
        let tier = tier_of(changes[i]);
        let batch: Vec<&Change> = changes[i..]
            .iter()
            .take_while(|c| tier_of(c) == tier)
            .copied()
            .collect();
        i += batch.len();
        let results: Vec<(Change, Result<Done, BackendError>)> = stream::iter(batch)
            .map(|c| async move { (c.clone(), k.apply(c, manifest(c)).await) })
            .buffer_unordered(8)
            .collect()
            .await;
        out.extend(results);
    }
    out
}

async fn apply_ok(k: &Kubernetes, plan: &Plan, desired: &[Manifest]) {
    for (change, result) in apply(k, plan, desired).await {
        if let Err(e) = result {
            panic!("{}: {e}", change.id);
        }
    }
}

fn change<'a>(plan: &'a Plan, id: &str) -> &'a Change {
    plan.changes
        .iter()
        .find(|c| c.id.to_string() == id)
        .unwrap_or_else(|| panic!("{id} is not in the plan: {plan:#?}"))
}

/// A Namespace `apps`, a ConfigMap, a Secret and a LlamaStackDistribution
/// in it; `apps` is replaced by the test's own namespace.
const BASE: &str = "\
apiVersion: v1
kind: Namespace
metadata: {name: apps}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: apps}
data: {mode: fast, level: '3'}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: apps}
data: {token: c2VjcmV0}
---
apiVersion: llamastack.io/v1alpha1
kind: LlamaStackDistribution
metadata: {name: llama, namespace: apps}
spec:
  server:
    distribution: {name: ollama}
";

/// BASE in the test's own namespace, and that namespace's name.
fn base(env: &KubeEnv) -> (String, String) {
    let apps = env.name("apps");
    (BASE.replace("apps", &apps), apps)
}

crate::on_both_targets!(
    creates_then_plans_unchanged_despite_defaulted_fields,
    a_secret_written_as_string_data_is_unchanged_without_a_dry_run,
    a_changed_field_is_an_update_with_a_diff,
    a_field_removed_from_git_is_removed_live,
    a_live_edit_is_drift_and_a_conflict_until_forced,
    prune_disabled_keeps_and_create_only_never_updates,
    a_field_the_ignore_annotation_names_is_never_healed,
    only_this_sources_objects_are_pruned,
    a_delete_spares_an_object_recreated_since_it_was_observed,
    a_refused_token_is_unauthorized,
    a_kind_the_server_does_not_serve_is_invalid,
    a_crd_and_its_objects_apply_in_one_run,
    leases_are_replaced_with_optimistic_concurrency,
    long_lists_are_read_page_by_page,
    a_watch_reports_changes_to_this_sources_objects_after_its_list,
    a_field_the_schema_does_not_declare_is_invalid_input_not_a_server_fault,
    an_immutable_config_map_or_secret_whose_data_changed_is_replaced,
    a_replace_spares_an_object_recreated_since_it_was_observed,
);

async fn creates_then_plans_unchanged_despite_defaulted_fields(t: Target) {
    let env = KubeEnv::start(t).await;
    let k = connect(&env, &target(&env)).await;
    let (text, apps) = base(&env);
    let desired = manifests(&env, &text);

    let first = plan(&k, &desired).await;
    assert_eq!(first.summary.create, 4, "{first:#?}");
    assert!(first.changes.iter().all(|c| c.backend == "kubernetes"));
    let results = apply(&k, &first, &desired).await;
    for (c, r) in &results {
        assert_eq!(r.as_ref().unwrap().summary, "created", "{}", c.id);
    }

    // The server defaulted fields Git does not set.
    let llsd = env
        .get(
            "llamastack.io",
            "LlamaStackDistribution",
            Some(&apps),
            "llama",
        )
        .await
        .unwrap();
    assert_eq!(llsd["spec"]["replicas"], 1);
    let secret = env.get("", "Secret", Some(&apps), "creds").await.unwrap();
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(
        secret["metadata"]["labels"]["mooring.dev/source"],
        env.source.as_str()
    );

    env.reset_calls();
    let again = plan(&k, &desired).await;
    assert!(!again.has_changes(), "{again:#?}");
    assert_eq!(again.summary.unchanged, 4);
    if let Some(calls) = env.calls() {
        assert!(
            !calls
                .keys()
                .any(|k| k.starts_with("PATCH") || only_inventory_get(&calls, k)),
            "an unchanged plan needs no dry-run and no GET but the inventory's: {calls:?}"
        );
    }
}

async fn a_secret_written_as_string_data_is_unchanged_without_a_dry_run(t: Target) {
    let env = KubeEnv::start(t).await;
    let k = connect(&env, &target(&env)).await;
    let s = env.name("s");
    let secret = |password: &str| {
        manifests(
            &env,
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: {s}}}\nstringData: {{password: {password}}}\n"
            ),
        )
    };
    let desired = secret("hunter2");
    apply_ok(&k, &plan(&k, &desired).await, &desired).await;
    let live = env.get("", "Secret", Some("default"), &s).await.unwrap();
    assert_eq!(live["data"]["password"], "aHVudGVyMg==");
    env.reset_calls();
    let again = plan(&k, &desired).await;
    assert!(!again.has_changes(), "{again:#?}");
    if let Some(calls) = env.calls() {
        assert_eq!(
            calls.get("PATCH secrets"),
            None,
            "stringData compares as the stored data: no dry-run"
        );
    }
    let rotated = secret("hunter3");
    let changed = plan(&k, &rotated).await;
    assert_eq!(changed.summary.update, 1, "{changed:#?}");
    if let Some(calls) = env.calls() {
        assert_eq!(calls.get("PATCH secrets"), Some(&1), "one dry-run");
    }
}

async fn a_changed_field_is_an_update_with_a_diff(t: Target) {
    let env = KubeEnv::start(t).await;
    let k = connect(&env, &target(&env)).await;
    let (text, apps) = base(&env);
    let desired = manifests(&env, &text);
    apply_ok(&k, &plan(&k, &desired).await, &desired).await;

    let changed = manifests(&env, &text.replace("mode: fast", "mode: careful"));
    let p = plan(&k, &changed).await;
    assert_eq!(p.summary.update, 1, "{p:#?}");
    let c = change(&p, &format!("ConfigMap/{apps}/settings"));
    assert_eq!(c.action, Action::Update);
    assert!(
        c.diff.contains("-  mode: fast\n+  mode: careful\n"),
        "{}",
        c.diff
    );
    assert!(!c.diff.contains("managedFields") && !c.diff.contains("resourceVersion"));

    let results = apply(&k, &p, &changed).await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].1.as_ref().unwrap().summary, "updated");
    let live = env
        .get("", "ConfigMap", Some(&apps), "settings")
        .await
        .unwrap();
    assert_eq!(live["data"]["mode"], "careful");
    assert!(!plan(&k, &changed).await.has_changes());
}

async fn a_field_removed_from_git_is_removed_live(t: Target) {
    let env = KubeEnv::start(t).await;
    let k = connect(&env, &target(&env)).await;
    let (text, apps) = base(&env);
    let desired = manifests(&env, &text);
    apply_ok(&k, &plan(&k, &desired).await, &desired).await;

    let fewer = manifests(
        &env,
        &text.replace("data: {mode: fast, level: '3'}", "data: {mode: fast}"),
    );
    let p = plan(&k, &fewer).await;
    let c = change(&p, &format!("ConfigMap/{apps}/settings"));
    assert_eq!(c.action, Action::Update, "{p:#?}");
    assert!(c.diff.contains("-  level: \"3\"\n"), "{}", c.diff);
    apply_ok(&k, &p, &fewer).await;
    let live = env
        .get("", "ConfigMap", Some(&apps), "settings")
        .await
        .unwrap();
    assert_eq!(live["data"], json!({"mode": "fast"}));
    assert!(!plan(&k, &fewer).await.has_changes());
}

/// A Namespace `apps` and a Deployment `web` of 3 replicas of `image` in
/// it.
fn web_deployment(apps: &str, image: &str) -> String {
    format!(
        "apiVersion: v1
kind: Namespace
metadata: {{name: {apps}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {apps}}}
spec:
  replicas: 3
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
        - name: web
          image: {image}
"
    )
}

/// `kubectl scale` of a Deployment (another manager now owns
/// `spec.replicas`), planned with `forceConflicts: false`: the conflict is
/// a note naming the manager, and the diff is the server's forced dry run,
/// so it is exactly the replicas line; none of the fields the server
/// defaults (`imagePullPolicy`, `protocol`, `terminationMessagePath`...)
/// shows as removed, as a local diff would show them. Real server only:
/// the emulator serves no Deployments (docs/emulator-gaps.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scaled_deployment_diffs_as_exactly_its_replicas_without_forcing() {
    let env = KubeEnv::start(Target::Real).await;
    let k = connect(&env, &target(&env)).await;
    let apps = env.name("apps");
    let text = web_deployment(&apps, "nginx:1.27");
    let desired = manifests(&env, &text);
    apply_ok(&k, &plan(&k, &desired).await, &desired).await;
    assert!(!plan(&k, &desired).await.has_changes());

    env.edit_as(
        "kubectl-scale",
        "apps",
        "Deployment",
        Some(&apps),
        "web",
        &json!({"spec": {"replicas": 5}}),
    )
    .await;
    let p = plan(&k, &desired).await;
    let c = change(&p, &format!("Deployment/{apps}/web"));
    assert_eq!(c.action, Action::Update, "{p:#?}");
    let lines = support::changed_lines(&c.diff);
    assert_eq!(lines, ["-  replicas: 5", "+  replicas: 3"], "{}", c.diff);
    assert_eq!(
        c.notes,
        vec!["conflict: kubectl-scale owns .spec.replicas; apply will fail unless forceConflicts"]
    );
}

/// `kubectl patch` of a Service port (80 → 8080) is healed by a forced
/// apply: the heal first hands kubectl-patch's fields to mooring's apply
/// entry, so the apply removes port 8080 instead of keeping both ports
/// (which the server refuses: two ports named `http`). Real server only:
/// the emulator's lists are atomic (docs/emulator-gaps.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patched_service_port_is_healed() {
    let env = KubeEnv::start(Target::Real).await;
    let apps = env.name("apps");
    let text = format!(
        "apiVersion: v1
kind: Namespace
metadata: {{name: {apps}}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {apps}}}
spec:
  selector: {{app: web}}
  ports:
    - name: http
      port: 80
      targetPort: 8080
"
    );
    let desired = manifests(&env, &text);
    let k = connect(&env, &target(&env)).await;
    apply_ok(&k, &plan(&k, &desired).await, &desired).await;
    env.edit_as(
        "kubectl-patch",
        "",
        "Service",
        Some(&apps),
        "web",
        &json!({"spec": {"ports": [{"name": "http", "port": 8080, "targetPort": 8080}]}}),
    )
    .await;

    let forced = connect(&env, &forced_target(&env)).await;
    let p = plan(&forced, &desired).await;
    let c = change(&p, &format!("Service/{apps}/web"));
    assert_eq!(c.action, Action::Update, "{p:#?}");
    let results = apply(&forced, &p, &desired).await;
    let summaries: Vec<String> = results
        .iter()
        .map(|(c, r)| match r {
            Ok(done) => format!("{}: {}", c.id, done.summary),
            Err(e) => panic!("{}: {e}", c.id),
        })
        .collect();
    assert!(
        summaries
            .iter()
            .any(|s| s.contains("updated; took the fields of kubectl-patch")),
        "{summaries:?}"
    );
    let live = env.get("", "Service", Some(&apps), "web").await.unwrap();
    let ports: Vec<(i64, &str)> = live["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["port"].as_i64().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    assert_eq!(ports, [(80, "http")], "{live}");
    assert!(!plan(&forced, &desired).await.has_changes());
}

/// Per-object policy: `mooring.dev/prune: disabled` keeps an object that
/// left Git, `mooring.dev/apply: create-only` creates and never updates,
/// and `mooring.dev/apply: ignore` is never touched; each is a note in the
/// plan, and the apply changes nothing of them.
async fn prune_disabled_keeps_and_create_only_never_updates(t: Target) {
    let env = KubeEnv::start(t).await;
    let k = connect(&env, &target(&env)).await;
    let apps = env.name("apps");
    let cm = |name: &str, annotation: &str, value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {apps}\n  annotations: {{{annotation}}}\ndata: {{v: '{value}'}}\n"
        )
    };
    let ns = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {apps}}}\n");
    let first = manifests(
        &env,
        &format!(
            "{ns}---\n{}---\n{}---\n{}",
            cm("keep", "mooring.dev/prune: disabled", "1"),
            cm("once", "mooring.dev/apply: create-only", "1"),
            cm("plain", "", "1"),
        ),
    );
    apply_ok(&k, &plan(&k, &first).await, &first).await;
    // `keep` leaves Git; `once` and `plain` change.
    let second = manifests(
        &env,
        &format!(
            "{ns}---\n{}---\n{}",
            cm("once", "mooring.dev/apply: create-only", "2"),
            cm("plain", "", "2"),
        ),
    );
    let p = plan(&k, &second).await;
    assert_eq!(
        change(&p, &format!("ConfigMap/{apps}/keep")).action,
        Action::Unchanged,
        "{p:#?}"
    );
    assert_eq!(
        change(&p, &format!("ConfigMap/{apps}/once")).action,
        Action::Unchanged,
        "{p:#?}"
    );
    assert_eq!(
        change(&p, &format!("ConfigMap/{apps}/plain")).action,
        Action::Update,
        "{p:#?}"
    );
    apply_ok(&k, &p, &second).await;
    let value = |name: &'static str| {
        let env = &env;
        let apps = apps.clone();
        async move {
            env.get("", "ConfigMap", Some(&apps), name)
                .await
                .map(|cm| cm["data"]["v"].as_str().unwrap_or_default().to_string())
        }
    };
    assert_eq!(value("keep").await.as_deref(), Some("1"));
    assert_eq!(value("once").await.as_deref(), Some("1"));
    assert_eq!(value("plain").await.as_deref(), Some("2"));
}

/// An ignore rule on a Deployment's `replicas` (an HPA scales it): after
/// creation the field is never a difference, never healed, and an update
/// of another field sends the live value, so the HPA's stays. Real server
/// only: the emulator serves no Deployments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ignore_rule_on_replicas_stops_the_drift_and_the_heal() {
    let env = KubeEnv::start(Target::Real).await;
    let apps = env.name("apps");
    let deployment = |image: &str| web_deployment(&apps, image);
    let rules = [mooring::plan::ignore::IgnoreRule {
        group: Some("apps".into()),
        kind: Some("Deployment".into()),
        json_pointers: vec!["/spec/replicas".into()],
        ..Default::default()
    }];
    let desired_with = |image: &str| {
        let mut m = manifests(&env, &deployment(image));
        mooring::plan::ignore::apply_rules(&mut m, &rules);
        m
    };
    // Healing on: without the rule, the scale would be taken back.
    let k = connect(&env, &forced_target(&env)).await;
    let first = desired_with("nginx:1.27");
    apply_ok(&k, &plan(&k, &first).await, &first).await;
    let replicas = || async {
        env.get("apps", "Deployment", Some(&apps), "web")
            .await
            .unwrap()["spec"]["replicas"]
            .as_i64()
    };
    assert_eq!(replicas().await, Some(3), "Git's value at creation");

    env.edit_as(
        "horizontal-pod-autoscaler",
        "apps",
        "Deployment",
        Some(&apps),
        "web",
        &json!({"spec": {"replicas": 5}}),
    )
    .await;
    let p = plan(&k, &first).await;
    assert!(!p.has_changes(), "{p:#?}");
    apply_ok(&k, &p, &first).await;
    assert_eq!(replicas().await, Some(5));

    // Another field changes: updated, and the HPA's replicas stay.
    let second = desired_with("nginx:1.28");
    let p = plan(&k, &second).await;
    let c = change(&p, &format!("Deployment/{apps}/web"));
    assert_eq!(c.action, Action::Update, "{p:#?}");
    assert!(!c.diff.contains("replicas"), "{}", c.diff);
    apply_ok(&k, &p, &second).await;
    assert_eq!(replicas().await, Some(5));
    let live = env
        .get("apps", "Deployment", Some(&apps), "web")
        .await
        .unwrap();
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
}

/// `mooring.dev/ignore: /data/level` on a ConfigMap: a forced heal leaves
/// the field an operator changed, and heals the others.
async fn a_field_the_ignore_annotation_names_is_never_healed(t: Target) {
    let env = KubeEnv::start(t).await;
    let k = connect(&env, &forced_target(&env)).await;
    let apps = env.name("apps");
    let text = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {apps}}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tuning\n  namespace: {apps}\n  annotations: {{mooring.dev/ignore: /data/level}}\ndata: {{level: info, mode: fast}}\n"
    );
    let desired = manifests(&env, &text);
    apply_ok(&k, &plan(&k, &desired).await, &desired).await;
    env.edit_as(
        "tuning-operator",
        "",
        "ConfigMap",
        Some(&apps),
        "tuning",
        &json!({"data": {"level": "debug"}}),
    )
    .await;
    assert!(!plan(&k, &desired).await.has_changes());
    env.edit_as(
        "kubectl-edit",
        "",
        "ConfigMap",
        Some(&apps),
        "tuning",
        &json!({"data": {"mode": "slow"}}),
    )
    .await;
    let p = plan(&k, &desired).await;
    let c = change(&p, &format!("ConfigMap/{apps}/tuning"));
    assert!(
        c.diff.contains("-  mode: slow\n+  mode: fast"),
        "{}",
        c.diff
    );
    assert!(
        !c.diff.contains("-  level") && !c.diff.contains("+  level"),
        "{}",
        c.diff
    );
    apply_ok(&k, &p, &desired).await;
    let live = env
        .get("", "ConfigMap", Some(&apps), "tuning")
        .await
        .unwrap();
    assert_eq!(live["data"], json!({"level": "debug", "mode": "fast"}));
}

async fn a_live_edit_is_drift_and_a_conflict_until_forced(t: Target) {
    let env = KubeEnv::start(t).await;
    let k = connect(&env, &target(&env)).await;
    let (text, apps) = base(&env);
    let desired = manifests(&env, &text);
    apply_ok(&k, &plan(&k, &desired).await, &desired).await;
    let id = format!("ConfigMap/{apps}/settings");

    // Someone adds a field mooring does not set: not drift.
    env.edit_as(
        "kubectl-annotate",
        "",
        "ConfigMap",
        Some(&apps),
        "settings",
        &json!({"metadata": {"annotations": {"note": "hi"}}}),
    )
    .await;
    assert!(!plan(&k, &desired).await.has_changes());

    // Someone changes a field mooring set: drift, owned by them now.
    env.edit_as(
        "kubectl-edit",
        "",
        "ConfigMap",
        Some(&apps),
        "settings",
        &json!({"data": {"mode": "slow"}}),
    )
    .await;
    let p = plan(&k, &desired).await;
    let c = change(&p, &id);
    assert_eq!(c.action, Action::Update);
    assert!(
        c.diff.contains("-  mode: slow\n+  mode: fast\n"),
        "{}",
        c.diff
    );
    assert!(
        !c.diff.contains("note"),
        "the other manager's annotation stays: {}",
        c.diff
    );
    assert_eq!(
        c.notes,
        vec!["conflict: kubectl-edit owns .data.mode; apply will fail unless forceConflicts"]
    );

    let results = apply(&k, &p, &desired).await;
    match &results[0].1 {
        Err(BackendError::Conflict {
            manager, object, ..
        }) => {
            assert_eq!(manager, "kubectl-edit");
            assert!(object.starts_with("k8s.yaml:"), "{object}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let live = env
        .get("", "ConfigMap", Some(&apps), "settings")
        .await
        .unwrap();
    assert_eq!(
        live["data"]["mode"], "slow",
        "a refused apply changes nothing"
    );

    let forced = connect(&env, &forced_target(&env)).await;
    let p = plan(&forced, &desired).await;
    assert!(change(&p, &id).notes.is_empty());
    apply_ok(&forced, &p, &desired).await;
    let live = env
        .get("", "ConfigMap", Some(&apps), "settings")
        .await
        .unwrap();
    assert_eq!(live["data"]["mode"], "fast");
    assert_eq!(live["metadata"]["annotations"]["note"], "hi");
    assert!(!plan(&k, &desired).await.has_changes());
}

/// selfHeal without forceConflicts: a `kubectl edit` of a field mooring
/// set is taken back by the next update (the plan says so), while the same
/// edit by any other manager (a controller) is still a conflict. Real
/// server only: the emulator does not write `managedFields` from a patch
/// (docs/emulator-gaps.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_heal_takes_back_a_kubectl_edit_but_not_a_controllers_field() {
    let env = KubeEnv::start(Target::Real).await;
    let (text, apps) = base(&env);
    let desired = manifests(&env, &text);
    let id = format!("ConfigMap/{apps}/settings");
    let k = connect(&env, &target(&env)).await;
    apply_ok(&k, &plan(&k, &desired).await, &desired).await;

    let healing = connect(&env, &target(&env)).await.with_self_heal(true);
    env.edit_as(
        "kubectl-edit",
        "",
        "ConfigMap",
        Some(&apps),
        "settings",
        &json!({"data": {"mode": "slow"}}),
    )
    .await;
    let p = plan(&healing, &desired).await;
    assert_eq!(
        change(&p, &id).notes,
        vec!["conflict: kubectl-edit owns .data.mode; selfHeal takes them back"]
    );
    apply_ok(&healing, &p, &desired).await;
    let live = env
        .get("", "ConfigMap", Some(&apps), "settings")
        .await
        .unwrap();
    assert_eq!(live["data"]["mode"], "fast");
    env.edit_as(
        "a-controller",
        "",
        "ConfigMap",
        Some(&apps),
        "settings",
        &json!({"data": {"mode": "slow"}}),
    )
    .await;
    let p = plan(&healing, &desired).await;
    let results = apply(&healing, &p, &desired).await;
    assert!(
        matches!(&results[0].1, Err(BackendError::Conflict { manager, .. }) if manager == "a-controller"),
        "{results:?}"
    );
}

async fn only_this_sources_objects_are_pruned(t: Target) {
    let env = KubeEnv::start(t).await;
    let k = connect(&env, &target(&env)).await;
    let (keep, old, elsewhere) = (env.name("keep"), env.name("old"), env.name("elsewhere"));
    let (theirs, other_source) = (env.name("theirs"), env.name("other-source"));
    let two = manifests(
        &env,
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {keep}}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {old}}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {elsewhere}}}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: bot, namespace: {elsewhere}}}\n"
        ),
    );
    apply_ok(&k, &plan(&k, &two).await, &two).await;
    // Not mooring's, and mooring's for another source.
    env.apply_as(
        "kubectl",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": theirs}}),
        false,
    )
    .await;
    env.apply_as(
        "mooring",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": other_source,
            "labels": {"app.kubernetes.io/managed-by": "mooring", "mooring.dev/source": env.name("other")}}}),
        false,
    )
    .await;

    let one = manifests(
        &env,
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {keep}}}\n"),
    );
    let observed: Vec<Observed> = k.observe(&one).await.unwrap().rows;
    let ids: Vec<String> = observed.iter().map(|o| o.id.to_string()).collect();
    assert!(
        !ids.iter()
            .any(|i| i.contains(&theirs) || i.contains(&other_source)),
        "{ids:?}"
    );
    let p = plan_observed("kubernetes", observed);
    let deletes: Vec<String> = p
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(
        deletes,
        vec![
            format!("ConfigMap/default/{old}"),
            format!("Namespace/{elsewhere}"),
            format!("ServiceAccount/{elsewhere}/bot"),
        ]
    );
    assert_eq!(
        change(&p, &format!("ConfigMap/default/{keep}")).action,
        Action::Unchanged
    );
    assert_eq!(
        change(&p, &format!("Namespace/{elsewhere}")).notes,
        vec![
            "deleting a Namespace deletes every object in it, mooring's or not".to_string(),
            format!(
                "deleting it also deletes 1 object(s) mooring knows of: ServiceAccount/{elsewhere}/bot"
            ),
        ]
    );

    let results = apply(&k, &p, &one).await;
    let summaries: Vec<&str> = results
        .iter()
        .map(|(_, r)| r.as_ref().unwrap().summary.as_str())
        .collect();
    assert_eq!(summaries.len(), 3);
    assert!(
        summaries
            .iter()
            .all(|s| *s == "deleted" || *s == "already gone"),
        "{summaries:?}"
    );
    assert!(
        env.get("", "ConfigMap", Some("default"), &old)
            .await
            .is_none()
    );
    // A Namespace goes through Terminating on a real server: "deleted" is
    // only said once it is gone.
    assert!(env.get("", "Namespace", None, &elsewhere).await.is_none());
    assert!(
        env.get("", "ConfigMap", Some("default"), &theirs)
            .await
            .is_some()
    );
    assert!(
        env.get("", "ConfigMap", Some("default"), &other_source)
            .await
            .is_some()
    );
    assert!(!plan(&k, &one).await.has_changes());
}

async fn a_delete_spares_an_object_recreated_since_it_was_observed(t: Target) {
    let env = KubeEnv::start(t).await;
    let k = connect(&env, &target(&env)).await;
    let old = env.name("old");
    let one = manifests(
        &env,
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {old}}}\n"),
    );
    apply_ok(&k, &plan(&k, &one).await, &one).await;
    let p = plan(&k, &[]).await;
    let c = change(&p, &format!("ConfigMap/default/{old}"));
    assert_eq!(c.action, Action::Delete);
    // Replaced behind mooring's back between plan and apply.
    assert!(env.delete("", "ConfigMap", Some("default"), &old).await);
    env.apply_as("mooring", &one[0].value, false).await;
    let err = k.apply(c, None).await.unwrap_err();
    assert!(
        err.to_string().contains("replaced after it was observed"),
        "{err}"
    );
    assert!(
        env.get("", "ConfigMap", Some("default"), &old)
            .await
            .is_some()
    );
}

async fn a_refused_token_is_unauthorized(t: Target) {
    // The real server has its own token (in its kubeconfig).
    let env = KubeEnv::start_with(
        t,
        KubeOptions {
            token: Some("s3cret".into()),
            ..KubeOptions::default()
        },
    )
    .await;
    let (text, _) = base(&env);
    // The kubeconfig carries the token.
    let k = connect(&env, &target(&env)).await;
    assert!(k.observe(&manifests(&env, &text)).await.is_ok());

    let wrong = env.kubeconfig_with_token("wrong");
    let k = connect(
        &env,
        &KubernetesTarget {
            kubeconfig: Some(wrong),
            ..KubernetesTarget::default()
        },
    )
    .await;
    match k.observe(&manifests(&env, &text)).await {
        Err(BackendError::Unauthorized {
            endpoint, message, ..
        }) => {
            assert_eq!(endpoint, env.url());
            assert!(message.contains("401"), "{message}");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

// Real server only: the emulator has no finalizers (docs/emulator-gaps.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_held_by_a_finalizer_is_terminating_not_deleted_again() {
    let env = KubeEnv::start(Target::Real).await;
    let k = Kubernetes::connect(&target(&env), &env.source, 8, Duration::from_secs(2))
        .await
        .unwrap()
        .with_retry(QUICK);
    let held = env.name("held");
    let id = format!("ConfigMap/default/{held}");
    let one = manifests(
        &env,
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {held}}}\ndata: {{a: b}}\n"),
    );
    apply_ok(&k, &plan(&k, &one).await, &one).await;
    let finalizers = |list: serde_json::Value| json!({"metadata": {"finalizers": list}});
    env.edit_as(
        "test-finalizer",
        "",
        "ConfigMap",
        Some("default"),
        &held,
        &finalizers(json!(["example.com/hold"])),
    )
    .await;

    let p = plan(&k, &[]).await;
    assert_eq!(change(&p, &id).action, Action::Delete);
    let results = apply(&k, &p, &[]).await;
    let applied = results[0].1.as_ref().unwrap();
    assert_eq!(applied.summary, "deletion started");
    let why = applied.unhealthy.as_deref().unwrap_or_default();
    assert!(
        why.contains("still Terminating") && why.contains("example.com/hold"),
        "{why}"
    );
    // Nothing more to do while it goes: no delete on every plan.
    let again = plan(&k, &[]).await;
    assert!(!again.has_changes(), "{again:#?}");
    // Declared again meanwhile: said, never applied to the dying object.
    let p = plan(&k, &one).await;
    assert!(
        change(&p, &id)
            .notes
            .iter()
            .any(|n| n.contains("being deleted")),
        "{p:#?}"
    );

    env.edit_as(
        "test-finalizer",
        "",
        "ConfigMap",
        Some("default"),
        &held,
        &finalizers(serde_json::Value::Null),
    )
    .await;
    let mut gone = false;
    for _ in 0..100 {
        if env
            .get("", "ConfigMap", Some("default"), &held)
            .await
            .is_none()
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the ConfigMap goes once its finalizer is removed");
    assert_eq!(plan(&k, &one).await.summary.create, 1);
}

// Emulator only: the server goes away mid-test.
#[tokio::test]
async fn a_server_that_is_down_is_unreachable() {
    let mut env = KubeEnv::start(Target::Emulator).await;
    let url = env.url().to_string();
    let (text, _) = base(&env);
    let desired = manifests(&env, &text);
    env.stop_emulator();
    let k = connect(&env, &target(&env)).await;
    match k.observe(&desired).await {
        Err(BackendError::Unreachable {
            endpoint, message, ..
        }) => {
            assert_eq!(endpoint, url);
            assert!(message.contains("4 attempts"), "{message}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

// Emulator only: injects faults and counts calls.
#[tokio::test]
async fn passing_faults_are_retried_and_lasting_ones_stop_the_plan() {
    let env = KubeEnv::start(Target::Emulator).await;
    let emu = env.emu().unwrap();
    let k = connect(&env, &target(&env)).await;
    let (text, _) = base(&env);
    let desired = manifests(&env, &text);
    emu.inject(Some("LIST"), "configmaps", 500, 1);
    emu.inject(Some("PATCH"), "/configmaps/settings", 429, 1);
    let p = plan(&k, &desired).await;
    assert_eq!(p.summary.create, 4);
    apply_ok(&k, &p, &desired).await;
    let calls = emu.calls();
    assert_eq!(calls.get("PATCH configmaps"), Some(&2), "{calls:?}");
    assert!(!plan(&k, &desired).await.has_changes());

    // A server that keeps failing: the plan stops; nothing is pruned from
    // a partial view.
    emu.inject(Some("LIST"), "secrets", 503, 100);
    match k.observe(&[]).await {
        Err(BackendError::Unreachable { message, .. }) => {
            assert!(
                message.starts_with("LIST /api/v1/secrets: answered 503"),
                "{message}"
            );
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

async fn a_kind_the_server_does_not_serve_is_invalid(t: Target) {
    let env = KubeEnv::start(t).await;
    let k = connect(&env, &target(&env)).await;
    let desired = manifests(
        &env,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
    );
    let err = k.observe(&desired).await.unwrap_err();
    assert!(matches!(err, BackendError::Invalid { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "kubernetes: k8s.yaml:5: Widget/default/w: kind Widget (example.com/v1) is not served by the cluster: is its CustomResourceDefinition installed?"
    );
}

async fn a_crd_and_its_objects_apply_in_one_run(t: Target) {
    let env = KubeEnv::start(t).await;
    let k = connect(&env, &target(&env)).await;
    // A group of its own: CRDs are cluster-wide.
    let group = format!("t{}.example.com", env.id);
    let desired = manifests(
        &env,
        &format!(
            "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}
---
apiVersion: {group}/v1
kind: Widget
metadata: {{name: w, namespace: default}}
spec: {{size: 3}}
"
        ),
    );
    let p = plan(&k, &desired).await;
    assert_eq!(p.summary.create, 2, "{p:#?}");
    apply_ok(&k, &p, &desired).await;
    let w = env
        .get(&group, "Widget", Some("default"), "w")
        .await
        .unwrap();
    assert_eq!(w["spec"]["size"], 3);
    let again = plan(&k, &desired).await;
    assert!(!again.has_changes(), "{again:#?}");

    // A kind neither in Git nor known to mooring is never listed, so its
    // objects are never pruned.
    let crd_only = vec![desired[0].clone()];
    let fresh = connect(&env, &target(&env)).await;
    let p = plan(&fresh, &crd_only).await;
    assert_eq!(p.summary.delete, 0, "{p:#?}");
}

/// Whether `key` is a GET other than the one of the source's inventory
/// (its ApplySet parent Secret, read once per plan).
fn only_inventory_get(calls: &BTreeMap<String, u64>, key: &str) -> bool {
    key.starts_with("GET ") && !(key == "GET secrets" && calls.get(key) == Some(&1))
}

// Emulator only: what it proves is the number of calls.
#[tokio::test]
async fn reads_are_lists_per_kind_and_namespace_and_an_unchanged_replan_makes_no_dry_run() {
    let env = KubeEnv::start(Target::Emulator).await;
    let emu = env.emu().unwrap();
    let k = connect(&env, &target(&env)).await;
    let mut text = String::from(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
    );
    for i in 0..500 {
        let ns = if i % 2 == 0 { "a" } else { "b" };
        if i % 4 < 2 {
            text.push_str(&format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}, namespace: {ns}}}\ndata: {{i: '{i}'}}\n"
            ));
        } else {
            text.push_str(&format!(
                "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s-{i}, namespace: {ns}}}\ndata: {{i: MQ==}}\n"
            ));
        }
    }
    let desired = manifests(&env, &text);
    assert_eq!(desired.len(), 502);

    let p = plan(&k, &desired).await;
    assert_eq!(p.summary.create, 502);
    let calls = emu.calls();
    // Per kind: one LIST per namespace in Git plus one labelled LIST.
    assert_eq!(calls.get("LIST configmaps"), Some(&3), "{calls:?}");
    assert_eq!(calls.get("LIST secrets"), Some(&3), "{calls:?}");
    assert_eq!(calls.get("LIST namespaces"), Some(&1), "{calls:?}");
    let lists: u64 = calls
        .iter()
        .filter(|(k, _)| k.starts_with("LIST "))
        .map(|(_, n)| n)
        .sum();
    assert!(lists <= 16, "{calls:?}");
    assert!(
        !calls.keys().any(|k| only_inventory_get(&calls, k)),
        "{calls:?}"
    );
    // Every create is dry-run on the server, but for objects in a
    // Namespace the plan creates (it would only answer "not found").
    assert_eq!(calls.get("PATCH namespaces"), Some(&2), "{calls:?}");
    assert!(
        !calls
            .keys()
            .any(|k| k.starts_with("PATCH") && k != "PATCH namespaces"),
        "objects in a Namespace the plan creates are not dry-run: {calls:?}"
    );

    apply_ok(&k, &p, &desired).await;
    emu.reset_calls();
    let again = plan(&k, &desired).await;
    assert_eq!(again.summary.unchanged, 502);
    let calls = emu.calls();
    assert!(!calls.keys().any(|k| k.starts_with("PATCH")), "{calls:?}");
    assert!(
        !calls.keys().any(|k| only_inventory_get(&calls, k)),
        "{calls:?}"
    );
    assert!(
        !calls.keys().any(|k| k.starts_with("DISCOVERY")),
        "discovery is cached: {calls:?}"
    );
    assert_eq!(calls.get("LIST configmaps"), Some(&3), "{calls:?}");

    // One changed object costs one dry-run.
    let mut changed = desired.clone();
    changed[2].value["data"]["i"] = json!("changed");
    emu.reset_calls();
    let p = plan(&k, &changed).await;
    assert_eq!(p.summary.update, 1);
    let patches: u64 = emu
        .calls()
        .iter()
        .filter(|(k, _)| k.starts_with("PATCH"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(patches, 1);
}

// Emulator only: about the kubeconfig file, not the server.
#[tokio::test]
async fn kubeconfig_problems_name_the_file_and_context() {
    let env = KubeEnv::start(Target::Emulator).await;
    let missing = env.dir.path().join("nope");
    let err = Kubernetes::connect(
        &KubernetesTarget {
            kubeconfig: Some(missing.clone()),
            ..KubernetesTarget::default()
        },
        &env.source,
        8,
        Duration::from_secs(5),
    )
    .await
    .err()
    .unwrap();
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );

    let err = Kubernetes::connect(
        &KubernetesTarget {
            context: Some("prod".into()),
            ..target(&env)
        },
        &env.source,
        8,
        Duration::from_secs(5),
    )
    .await
    .err()
    .unwrap();
    let text = err.to_string();
    assert!(text.contains("no context `prod`"), "{text}");
    assert!(
        text.contains("emulator"),
        "lists the contexts it has: {text}"
    );

    // Without a context the current-context is used.
    let k = connect(
        &env,
        &KubernetesTarget {
            context: None,
            ..target(&env)
        },
    )
    .await;
    assert_eq!(k.endpoint(), env.url());
}

// Emulator only: no server behaviour is involved.
#[tokio::test]
async fn kinds_of_other_backends_are_not_handled() {
    let env = KubeEnv::start(Target::Emulator).await;
    let k = connect(&env, &target(&env)).await;
    let ms = manifests(
        &env,
        "apiVersion: flintlock.liquidmetal.dev/v1alpha1\nkind: MicroVM\nmetadata: {name: vm}\n---\napiVersion: ignite.weave.works/v1alpha1\nkind: VM\nmetadata: {name: vm}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    );
    let handled: Vec<bool> = ms.iter().map(|m| k.handles(m)).collect();
    assert_eq!(handled, vec![false, false, true]);
    assert_eq!(k.name(), "kubernetes");
}

async fn leases_are_replaced_with_optimistic_concurrency(t: Target) {
    use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
    use kube::api::{Api, ListParams, ObjectMeta, PostParams};

    let env = KubeEnv::start(t).await;
    let ns = env.name("leases");
    env.apply_as(
        "test",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        false,
    )
    .await;
    let leases: Api<Lease> = Api::namespaced(env.client(), &ns);
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some("leader".into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("a".into()),
            ..LeaseSpec::default()
        }),
    };
    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    let holder = |l: &Lease| l.spec.as_ref().and_then(|s| s.holder_identity.clone());

    let mut next = created.clone();
    next.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let replaced = leases
        .replace("leader", &PostParams::default(), &next)
        .await
        .unwrap();
    assert_ne!(
        replaced.metadata.resource_version,
        created.metadata.resource_version
    );

    // A writer holding the old resourceVersion loses.
    let mut stale = created;
    stale.spec.as_mut().unwrap().holder_identity = Some("c".into());
    match leases
        .replace("leader", &PostParams::default(), &stale)
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 409),
        other => panic!("expected a 409, got {other:?}"),
    }
    assert_eq!(
        holder(&leases.get("leader").await.unwrap()).as_deref(),
        Some("b")
    );
    let all = leases.list(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), 1);
    match leases.create(&PostParams::default(), &lease).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 409, "{s:?}"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    if let Some(calls) = env.calls() {
        assert_eq!(calls.get("PUT leases"), Some(&2), "{calls:?}");
        assert_eq!(calls.get("POST leases"), Some(&2), "{calls:?}");
    }
}

async fn long_lists_are_read_page_by_page(t: Target) {
    let env = KubeEnv::start(t).await;
    let objects: Vec<serde_json::Value> = (0..1100)
        .map(|i| {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                "name": env.name(&format!("cm-{i}")),
                "labels": {"app.kubernetes.io/managed-by": "mooring", "mooring.dev/source": env.source}}})
        })
        .collect();
    stream::iter(&objects)
        .for_each_concurrent(16, |o| async {
            env.apply_as("mooring", o, false).await;
        })
        .await;
    env.reset_calls();
    let k = connect(&env, &target(&env)).await;
    let p = plan(&k, &[]).await;
    assert_eq!(p.summary.delete, 1100);
    if let Some(calls) = env.calls() {
        // 500 a page (kube-rs's default limit).
        assert_eq!(calls.get("LIST configmaps"), Some(&3), "{calls:?}");
    }
    // The server really pages (continue tokens), so the count above is
    // only right if every page was followed.
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(
        env.client(),
        &kube::discovery::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
    );
    let selector = format!("mooring.dev/source={}", env.source);
    let first = api
        .list(
            &kube::api::ListParams::default()
                .labels(&selector)
                .limit(500),
        )
        .await
        .unwrap();
    assert_eq!(first.items.len(), 500);
    let token = first.metadata.continue_.clone().unwrap_or_default();
    assert!(
        !token.is_empty(),
        "a first page of 500 of 1100 has a continue token"
    );
    let second = api
        .list(
            &kube::api::ListParams::default()
                .labels(&selector)
                .limit(500)
                .continue_token(&token),
        )
        .await
        .unwrap();
    assert_eq!(second.items.len(), 500);
    assert!(second.items.iter().all(|b| {
        first
            .items
            .iter()
            .all(|a| a.metadata.name != b.metadata.name)
    }));
}

async fn a_watch_reports_changes_to_this_sources_objects_after_its_list(t: Target) {
    use mooring::backend::{WatchChange, WatchEvent};

    let env = KubeEnv::start_with(
        t,
        KubeOptions {
            custom_resources: false,
            ..KubeOptions::default()
        },
    )
    .await;
    let k = connect(&env, &target(&env)).await;
    let (text, apps) = base(&env);
    let all = manifests(&env, &text);
    let served: Vec<Manifest> = all
        .iter()
        .filter(|m| m.id.kind != "LlamaStackDistribution")
        .cloned()
        .collect();
    apply_ok(&k, &plan(&k, &served).await, &served).await;

    // On the emulator the LlamaStack kind is not served: skipped, not an
    // error. The real server serves it (the test CRD is installed).
    let mut events = k.watch(&all).await.unwrap().expect("a watch");
    let mut next = async || -> WatchEvent {
        tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .expect("an event within 30 s")
            .expect("the watch goes on")
    };
    let mut expected = vec!["ConfigMap", "Namespace", "Secret"];
    if t == Target::Real {
        expected.insert(1, "LlamaStackDistribution");
    }
    let mut listed = Vec::new();
    for _ in 0..expected.len() {
        let e = next().await;
        assert_eq!(e.change, WatchChange::Listed, "{e:?}");
        listed.push(e.id.kind);
    }
    listed.sort();
    assert_eq!(listed, expected);

    let id = format!("ConfigMap/{apps}/settings");
    let edit = |value: &'static str| {
        let (env, apps) = (&env, &apps);
        async move {
            env.edit_as(
                "kubectl-edit",
                "",
                "ConfigMap",
                Some(apps),
                "settings",
                &json!({"data": {"mode": value}}),
            )
            .await;
        }
    };
    edit("slow").await;
    let e = next().await;
    assert_eq!(
        (e.change, e.id.to_string()),
        (WatchChange::Applied, id.clone())
    );
    // Another source's or nobody's objects are not watched: the next
    // ConfigMap event is the owned one's.
    env.apply_as(
        "kubectl",
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "other", "namespace": apps}, "data": {"a": "b"}}),
        false,
    )
    .await;
    edit("fast").await;
    let e = next().await;
    assert_eq!(e.id.to_string(), id);
    assert!(env.delete("", "Secret", Some(&apps), "creds").await);
    let e = next().await;
    assert_eq!(
        (e.change, e.id.to_string()),
        (WatchChange::Deleted, format!("Secret/{apps}/creds"))
    );
    if let Some(calls) = env.calls() {
        for kind in ["configmaps", "secrets", "namespaces"] {
            assert_eq!(calls.get(&format!("WATCH {kind}")), Some(&1), "{calls:?}");
        }
        assert!(
            !calls.keys().any(|c| c.starts_with("WATCH llama")),
            "{calls:?}"
        );
    }
}

/// A real kube-apiserver answers an apply with a field its schema does not
/// declare with 500 ("field not declared in schema"), which once made
/// mooring retry it and call the target unreachable (docs/emulator-gaps.md).
async fn a_field_the_schema_does_not_declare_is_invalid_input_not_a_server_fault(t: Target) {
    let env = KubeEnv::start(t).await;
    let k = connect(&env, &target(&env)).await;
    let name = env.name("undeclared");
    let good_text =
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{a: b}}\n");
    let good = manifests(&env, &good_text);
    let bad = manifests(&env, &format!("{good_text}spec: {{z: 1}}\n"));
    let id = format!("ConfigMap/default/{name}");
    let expect_invalid = |err: BackendError| {
        assert!(matches!(err, BackendError::Invalid { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "kubernetes: k8s.yaml:1: {id}: field `spec` is not declared in the server's schema for this kind: remove it"
            )),
            "{text}"
        );
    };

    // A create: its dry run in the plan is refused, and so is the apply,
    // each at once, not retried.
    env.reset_calls();
    let observed = k.observe(&bad).await.unwrap();
    assert_eq!(observed.refused.len(), 1, "{:?}", observed.refused);
    let refusal = observed.refused[0].to_string();
    assert!(
        refusal.contains("the server refuses to create it")
            && refusal.contains("field `spec` is not declared"),
        "{refusal}"
    );
    // Refused, it is no change of the plan.
    assert!(observed.rows.iter().all(|o| o.id.to_string() != id));
    // Applied all the same (a create planned from the good manifest), the
    // server refuses it as invalid input.
    let p = plan(&k, &good).await;
    let c = change(&p, &id);
    assert_eq!(c.action, Action::Create);
    expect_invalid(k.apply(c, Some(&bad[0])).await.unwrap_err());
    if let Some(calls) = env.calls() {
        // Two dry runs (the bad and the good create) and one apply.
        assert_eq!(calls.get("PATCH configmaps"), Some(&3), "{calls:?}");
    }
    assert!(
        env.get("", "ConfigMap", Some("default"), &name)
            .await
            .is_none()
    );

    // An update: the plan's dry run notes it (the plan still works), the
    // apply is refused the same way.
    apply_ok(&k, &plan(&k, &good).await, &good).await;
    let p = plan(&k, &bad).await;
    let c = change(&p, &id);
    assert_eq!(c.action, Action::Update);
    assert!(
        c.notes
            .iter()
            .any(|n| n.contains("field `spec` is not declared")),
        "{:?}",
        c.notes
    );
    expect_invalid(k.apply(c, Some(&bad[0])).await.unwrap_err());
    assert!(!plan(&k, &good).await.has_changes());
}

/// `immutable: true` ConfigMaps and Secrets: the server refuses any change
/// to their data (422), so a change in Git is a replace (delete with the
/// uid precondition, then create), never an update that fails on every
/// run; `mooring.dev/replace: never` turns it into a blocked change that
/// says what to do.
async fn an_immutable_config_map_or_secret_whose_data_changed_is_replaced(t: Target) {
    let env = KubeEnv::start(t).await;
    let k = connect(&env, &target(&env)).await;
    let cm = env.name("frozen");
    let secret = env.name("sealed");
    let text = |value: &str, annotations: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {cm}{annotations}}}\nimmutable: true\ndata: {{a: '{value}'}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: {secret}}}\nimmutable: true\nstringData: {{token: t{value}}}\n"
        )
    };
    let first = manifests(&env, &text("1", ""));
    apply_ok(&k, &plan(&k, &first).await, &first).await;
    let uid = |o: Option<serde_json::Value>| o.unwrap()["metadata"]["uid"].clone();
    let cm_uid = uid(env.get("", "ConfigMap", Some("default"), &cm).await);
    let secret_uid = uid(env.get("", "Secret", Some("default"), &secret).await);
    assert!(!plan(&k, &first).await.has_changes());

    let second = manifests(&env, &text("2", ""));
    let p = plan(&k, &second).await;
    for id in [
        format!("ConfigMap/default/{cm}"),
        format!("Secret/default/{secret}"),
    ] {
        let c = change(&p, &id);
        assert_eq!(c.action, Action::Replace, "{id}: {c:#?}");
        assert_eq!(c.blocked, None, "{id}");
        assert!(
            c.notes.iter().any(|n| n.starts_with("immutable: ")),
            "{id}: {:?}",
            c.notes
        );
    }
    for (change, result) in apply(&k, &p, &second).await {
        let applied = result.unwrap_or_else(|e| panic!("{}: {e}", change.id));
        assert_eq!(applied.summary, "replaced", "{}", change.id);
    }
    let live = env
        .get("", "ConfigMap", Some("default"), &cm)
        .await
        .unwrap();
    assert_eq!(live["data"], json!({"a": "2"}));
    assert_ne!(live["metadata"]["uid"], cm_uid);
    let live = env
        .get("", "Secret", Some("default"), &secret)
        .await
        .unwrap();
    assert_eq!(live["data"], json!({"token": "dDI="}));
    assert_ne!(live["metadata"]["uid"], secret_uid);
    assert!(!plan(&k, &second).await.has_changes());

    // Refused by annotation: blocked, saying what to do; nothing deleted.
    let third = manifests(
        &env,
        &text("3", ", annotations: {mooring.dev/replace: never}"),
    );
    let p = plan(&k, &third).await;
    let c = change(&p, &format!("ConfigMap/default/{cm}"));
    assert_eq!(c.action, Action::Replace);
    let why = c.blocked.clone().unwrap_or_default();
    assert!(
        why.starts_with(&format!("k8s.yaml:1: ConfigMap/default/{cm} is immutable and its data changed, but `mooring.dev/replace: never` forbids replacing it: give it a new name")),
        "{why}"
    );
    assert!(!c.is_actionable());
}

/// A replace deletes with the uid precondition too: an immutable ConfigMap
/// recreated behind mooring's back after the plan is left alone.
async fn a_replace_spares_an_object_recreated_since_it_was_observed(t: Target) {
    let env = KubeEnv::start(t).await;
    let k = connect(&env, &target(&env)).await;
    let name = env.name("frozen");
    let text = |value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\nimmutable: true\ndata: {{a: '{value}'}}\n"
        )
    };
    let first = manifests(&env, &text("1"));
    apply_ok(&k, &plan(&k, &first).await, &first).await;
    let second = manifests(&env, &text("2"));
    let p = plan(&k, &second).await;
    let c = change(&p, &format!("ConfigMap/default/{name}"));
    assert_eq!(c.action, Action::Replace);
    // Replaced behind mooring's back between plan and apply.
    assert!(env.delete("", "ConfigMap", Some("default"), &name).await);
    let theirs = env
        .apply_as("someone-else", &manifests(&env, &text("9"))[0].value, false)
        .await;
    let err = k.apply(c, Some(&second[0])).await.unwrap_err();
    assert!(
        err.to_string().contains("replaced after it was observed"),
        "{err}"
    );
    let live = env
        .get("", "ConfigMap", Some("default"), &name)
        .await
        .unwrap();
    assert_eq!(live["metadata"]["uid"], theirs["metadata"]["uid"]);
    assert_eq!(live["data"], json!({"a": "9"}));
}

/// The test server says the release it is (`/version`), as a release
/// build of Kubernetes does: clients read it (Helm's `kubeVersion`,
/// kubectl's version skew). Real server only: the emulator has no version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_server_reports_its_real_version() {
    let env = KubeEnv::start(Target::Real).await;
    let script = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kube-apiserver"),
    )
    .unwrap();
    let pinned = script
        .lines()
        .find_map(|l| l.strip_prefix("KUBERNETES_VERSION="))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("scripts/kube-apiserver pins KUBERNETES_VERSION");
    let info = env.client().apiserver_version().await.unwrap();
    assert_eq!(info.git_version, pinned, "{info:?}");
    assert_eq!(
        format!("v{}.{}", info.major, info.minor),
        pinned[..pinned.rfind('.').unwrap()]
    );
}
