//! Engine tests against an in-memory backend: ordering, safety, partial
//! failure. The real backends are tested through their emulators in
//! `tests/`.

use std::sync::Mutex;

use serde_json::Value;

use super::*;
use crate::backend::{Backend, Observed, is_owned};

/// A target held in memory. Objects whose name starts with `fail-` fail to
/// apply.
#[derive(Default)]
struct Memory {
    live: Mutex<BTreeMap<ObjectId, Value>>,
    log: Mutex<Vec<String>>,
    down: bool,
}

impl Backend for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn target(&self) -> Target {
        Target::Kubernetes
    }

    async fn observe(&self, desired: &[Manifest]) -> Result<backend::Observation, BackendError> {
        if self.down {
            return Err(BackendError::Unreachable {
                backend: "memory",
                endpoint: "mem://".into(),
                message: "connection refused".into(),
                source: None,
            });
        }
        let live = self.live.lock().unwrap().clone();
        let mut out = Vec::new();
        for m in desired {
            out.push(Observed {
                id: m.id.clone(),
                api_version: m.api_version.clone(),
                file: m.file.clone(),
                line: m.line,
                desired: Some(m.value.clone()),
                live: live.get(&m.id).cloned(),
                owned: true,
                // Stands for an immutable object, which only a replace changes.
                update: if m.id.name.starts_with("frozen-") {
                    crate::plan::UpdateStrategy::Replace
                } else {
                    crate::plan::UpdateStrategy::InPlace
                },
                // Told apart from what `health` reads (Current).
                health: live
                    .get(&m.id)
                    .map(|_| Health::InProgress("as listed".into())),
                ..Observed::default()
            });
        }
        for (id, v) in &live {
            let labels = v.pointer("/metadata/labels").and_then(Value::as_object);
            if desired.iter().all(|m| &m.id != id) && is_owned(labels, "test") {
                out.push(Observed {
                    id: id.clone(),
                    api_version: "v1".into(),
                    file: "live".into(),
                    live: Some(v.clone()),
                    owned: true,
                    ..Observed::default()
                });
            }
        }
        Ok(out.into())
    }

    async fn apply(
        &self,
        change: &Change,
        desired: Option<&Manifest>,
    ) -> Result<backend::Done, BackendError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} {}", change.action.verb(), change.id));
        if change.id.name.starts_with("fail-") {
            return Err(BackendError::Refused {
                backend: "memory",
                object: change.id.to_string(),
                message: "refused".into(),
                source: None,
            });
        }
        let mut live = self.live.lock().unwrap();
        match desired {
            Some(m) => {
                live.insert(change.id.clone(), m.value.clone());
            }
            None => {
                live.remove(&change.id);
            }
        }
        Ok(backend::Done {
            summary: change.action.verb().to_string(),
            unhealthy: None,
        })
    }

    /// Healthy once it exists.
    async fn health(&self, change: &Change) -> Result<Option<Health>, BackendError> {
        Ok(Some(
            if self.live.lock().unwrap().contains_key(&change.id) {
                Health::Current
            } else {
                Health::InProgress("not found".into())
            },
        ))
    }
}

use crate::manifest::from_test_yaml as manifests;

fn prune() -> Safety {
    Safety {
        prune: true,
        ..Safety::default()
    }
}

const SET: &str = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: app, namespace: shop}
data: {x: '1'}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Secret
metadata: {name: key, namespace: shop}
stringData: {k: v}
";

#[tokio::test]
async fn namespaces_come_first_and_a_second_run_changes_nothing() {
    let engine = Engine::new(vec![Box::new(Memory::default())], "test", 4);
    let desired = manifests(SET);
    let mut plan = engine.plan(&desired).await;
    assert_eq!(plan.plan.summary.create, 3);
    assert!(engine.guard(&mut plan, &prune()).is_none());
    let report = engine.apply(&plan).await;
    assert_eq!((report.done, report.failed), (3, 0));
    // The Namespace was applied before anything in it.
    assert_eq!(report.results[0].object, "Namespace/shop");

    let again = engine.plan(&desired).await;
    assert!(!again.plan.has_changes(), "{:?}", again.plan.summary);
}

#[tokio::test]
async fn applied_objects_carry_the_ownership_labels() {
    let memory = Memory::default();
    let engine = Engine::new(vec![Box::new(memory)], "test", 4);
    let desired = manifests(SET);
    let plan = engine.plan(&desired).await;
    let m = plan.desired.values().next().unwrap();
    let labels = m
        .value
        .pointer("/metadata/labels")
        .and_then(Value::as_object);
    assert!(is_owned(labels, "test"));
}

/// The daemon's plans (`skip_diffs`) say the same changes, with no text,
/// and still borrow the manifests they would apply: no copy is made.
#[tokio::test]
async fn a_plan_without_diffs_has_the_same_changes_and_borrows_its_manifests() {
    let desired = manifests(SET);
    let mut engine = Engine::new(vec![Box::new(Memory::default())], "test", 4);
    let with = engine.plan(&desired).await;
    engine.skip_diffs();
    let without = engine.plan(&desired).await;
    let actions = |p: &TargetPlan<'_>| -> Vec<(Action, String)> {
        p.plan
            .changes
            .iter()
            .map(|c| (c.action, c.id.to_string()))
            .collect()
    };
    assert_eq!(actions(&with), actions(&without));
    assert!(with.plan.changes.iter().all(|c| !c.diff.is_empty()));
    assert!(without.plan.changes.iter().all(|c| c.diff.is_empty()));
    let mut owned = desired.clone();
    engine.own(&mut owned);
    let plan = engine.plan(&owned).await;
    assert!(!plan.desired.is_empty());
    assert!(
        plan.desired.values().all(|m| matches!(m, Cow::Borrowed(_))),
        "a labelled, grouped desired set is lent to apply, not copied"
    );
    assert!(
        with.desired.values().all(|m| matches!(m, Cow::Owned(_))),
        "an unlabelled one is labelled in copies"
    );
}

#[tokio::test]
async fn deletions_wait_for_prune_and_respect_the_cap() {
    let engine = Engine::new(vec![Box::new(Memory::default())], "test", 4);
    let all = manifests(SET);
    let mut plan = engine.plan(&all).await;
    engine.apply(&plan).await;
    engine.guard(&mut plan, &prune());

    // Git now holds only the Namespace: 2 of 3 would go.
    let only_ns: Vec<Manifest> = all
        .iter()
        .filter(|m| m.id.kind == "Namespace")
        .cloned()
        .collect();
    let mut plan = engine.plan(&only_ns).await;
    assert_eq!(plan.plan.summary.delete, 2);

    let why = engine.guard(&mut plan, &Safety::default()).unwrap();
    assert!(why.contains("prune is off"), "{why}");
    assert!(
        plan.plan
            .changes
            .iter()
            .all(|c| !c.is_actionable() || c.action != Action::Delete)
    );

    let mut plan = engine.plan(&only_ns).await;
    let why = engine.guard(&mut plan, &prune()).unwrap();
    assert!(why.contains("exceed the cap of 1"), "{why}");
    let report = engine.apply(&plan).await;
    assert_eq!(report.results.len(), 0, "nothing is deleted beyond the cap");

    let mut plan = engine.plan(&only_ns).await;
    let forced = Safety {
        force_prune: true,
        ..prune()
    };
    assert!(engine.guard(&mut plan, &forced).is_none());
    let report = engine.apply(&plan).await;
    assert_eq!(report.done, 2);
    // Secrets and ConfigMaps go before... nothing else: both are tier 1.
    assert!(report.results.iter().all(|r| r.action == Action::Delete));
}

#[tokio::test]
async fn an_empty_render_deletes_nothing_unless_allowed() {
    let engine = Engine::new(vec![Box::new(Memory::default())], "test", 4);
    let desired = manifests(SET);
    let plan = engine.plan(&desired).await;
    engine.apply(&plan).await;
    let mut plan = engine.plan(&[]).await;
    let lenient = Safety {
        force_prune: true,
        ..prune()
    };
    let why = engine.guard(&mut plan, &lenient).unwrap();
    assert!(why.contains("rendered set is empty"), "{why}");
    let mut plan = engine.plan(&[]).await;
    let allowed = Safety {
        allow_empty: true,
        ..lenient
    };
    assert!(engine.guard(&mut plan, &allowed).is_none());
    assert_eq!(engine.apply(&plan).await.done, 3);
}

#[tokio::test]
async fn a_failure_skips_dependents_and_continues_with_the_rest() {
    let engine = Engine::new(vec![Box::new(Memory::default())], "test", 4);
    let desired = manifests(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: fail-ns}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: fail-ns}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: ok}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: fail-c, namespace: ok}\n",
    );
    let plan = engine.plan(&desired).await;
    let report = engine.apply(&plan).await;
    assert_eq!((report.done, report.failed, report.skipped), (1, 2, 1));
    let skipped = report
        .results
        .iter()
        .find(|r| matches!(r.outcome, Outcome::Skipped { .. }))
        .unwrap();
    assert_eq!(skipped.object, "ConfigMap/fail-ns/a");
    assert!(!report.succeeded());
}

#[tokio::test]
async fn an_unreachable_backend_fails_alone_and_objects_without_target_are_errors() {
    let down = Memory {
        down: true,
        ..Memory::default()
    };
    let engine = Engine::new(vec![Box::new(down)], "test", 4);
    let desired = manifests(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: flintlock.liquidmetal.dev/v1alpha1\nkind: MicroVM\nmetadata: {name: w}\n",
    );
    let plan = engine.plan(&desired).await;
    assert!(plan.failed());
    assert_eq!(plan.unreachable.len(), 1);
    assert!(plan.unreachable[0].1.contains("unreachable"));
    assert_eq!(plan.findings.len(), 1);
    assert!(plan.findings[0].message.contains("no target is configured"));
    assert!(plan.plan.changes.is_empty());
}

#[tokio::test]
async fn ignite_declarations_are_listed_not_applied() {
    let engine = Engine::new(vec![Box::new(Memory::default())], "test", 4);
    let desired = manifests(
        "apiVersion: ignite.weave.works/v1alpha1\nkind: Kernel\nmetadata: {name: 'weaveworks/ignite-kernel:4.19.47'}\nspec: {ociClaim: {ref: 'weaveworks/ignite-kernel:4.19.47'}}\n",
    );
    let plan = engine.plan(&desired).await;
    assert!(!plan.failed());
    assert_eq!(plan.plan.summary.declared, 1);
    assert!(!plan.plan.has_changes());
    assert_eq!(engine.apply(&plan).await.results.len(), 0);
}

#[tokio::test]
async fn creates_do_not_raise_the_deletion_cap() {
    let engine = Engine::new(vec![Box::new(Memory::default())], "test", 4);
    let first = manifests(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: mine}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: mine}\n",
    );
    engine.apply(&engine.plan(&first).await).await;
    // A render of some other folder: ten new objects, both old ones gone.
    let other: String = (0..10)
        .map(|i| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: other-{i}, namespace: other}}\n---\n"))
        .collect();
    let desired = manifests(&other);
    let mut plan = engine.plan(&desired).await;
    assert_eq!(
        (plan.plan.summary.create, plan.plan.summary.delete),
        (10, 2)
    );
    let why = engine.guard(&mut plan, &prune()).unwrap();
    assert!(why.contains("of 2 managed objects"), "{why}");
}

#[tokio::test]
async fn namespaces_are_only_pruned_with_force() {
    let engine = Engine::new(vec![Box::new(Memory::default())], "test", 4);
    let desired = manifests(SET);
    engine.apply(&engine.plan(&desired).await).await;
    let without_ns: Vec<Manifest> = desired
        .iter()
        .filter(|m| m.id.kind != "Namespace")
        .cloned()
        .collect();
    let mut plan = engine.plan(&without_ns).await;
    assert!(engine.guard(&mut plan, &prune()).is_none());
    let ns = plan
        .plan
        .changes
        .iter()
        .find(|c| c.id.kind == "Namespace")
        .unwrap();
    assert!(
        ns.blocked
            .as_deref()
            .unwrap()
            .contains("deletes everything in it"),
        "{ns:?}"
    );
    assert_eq!(engine.apply(&plan).await.results.len(), 0);

    let mut plan = engine.plan(&without_ns).await;
    let forced = Safety {
        force_prune: true,
        ..prune()
    };
    engine.guard(&mut plan, &forced);
    assert_eq!(engine.apply(&plan).await.done, 1);
}

#[test]
fn an_unhealthy_result_is_not_a_success() {
    let change = Change {
        action: Action::Create,
        id: ObjectId {
            kind: "MicroVM".into(),
            name: "vm".into(),
            ..ObjectId::default()
        },
        api_version: "flintlock.liquidmetal.dev/v1alpha1".into(),
        file: "vm.yaml".into(),
        line: 1,
        diff: String::new(),
        backend: "flintlock".into(),
        blocked: None,
        notes: Vec::new(),
        handle: None,
        health: None,
    };
    let mut report = Report::default();
    report.push(
        &change,
        Outcome::Done {
            summary: "created".into(),
            unhealthy: None,
        },
    );
    assert!(report.succeeded());
    report.push(
        &change,
        Outcome::Done {
            summary: "created".into(),
            unhealthy: Some("FAILED (the server retried 3 times)".into()),
        },
    );
    assert_eq!((report.done, report.unhealthy), (2, 1));
    assert!(!report.succeeded());
}

#[tokio::test]
async fn once_stopping_no_change_is_started_and_the_rest_is_skipped() {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut engine = Engine::new(vec![Box::new(Memory::default())], "test", 4);
    engine.stop_on(rx);
    let desired = manifests(SET);
    let plan = engine.plan(&desired).await;
    tx.send(true).unwrap();
    let report = engine.apply(&plan).await;
    assert_eq!((report.done, report.skipped), (0, 3));
    assert!(!report.succeeded());
    assert!(
        matches!(&report.results[0].outcome, Outcome::Skipped { reason } if reason.contains("asked to stop")),
        "{:?}",
        report.results[0]
    );
    // Nothing reached the target: the next start creates all three.
    assert_eq!(engine.plan(&desired).await.plan.summary.create, 3);
}

#[tokio::test]
async fn replaces_count_against_the_deletion_cap() {
    let engine = Engine::new(vec![Box::new(Memory::default())], "test", 4);
    let text = |v: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: frozen-a}}\ndata: {{x: '{v}'}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: frozen-b}}\ndata: {{x: '{v}'}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\n"
        )
    };
    let desired = manifests(&text("1"));
    let plan = engine.plan(&desired).await;
    engine.apply(&plan).await;
    // Two of three managed objects are replaced (deleted first): over 30%.
    let desired = manifests(&text("2"));
    let mut plan = engine.plan(&desired).await;
    assert_eq!(plan.plan.summary.replace, 2);
    let why = engine.guard(&mut plan, &prune()).unwrap();
    assert!(why.contains("2 deletions (2 of them replaces"), "{why}");
    assert!(plan.plan.changes.iter().all(|c| !c.is_actionable()));
    assert_eq!(engine.apply(&plan).await.results.len(), 0);
    // Prune off does not hold a replace back: it is not a deletion of
    // something Git dropped.
    let desired = manifests(&text("2"));
    let mut plan = engine.plan(&desired).await;
    let lenient = Safety {
        max_deletions: DeletionCap::Count(5),
        ..Safety::default()
    };
    assert!(engine.guard(&mut plan, &lenient).is_none());
    assert_eq!(engine.apply(&plan).await.done, 2);
}

#[tokio::test]
async fn no_deletion_runs_after_a_failed_change() {
    let engine = Engine::new(vec![Box::new(Memory::default())], "test", 4);
    let desired = manifests(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep}\n",
    );
    let plan = engine.plan(&desired).await;
    engine.apply(&plan).await;
    // `old` leaves Git, and the new object fails to be created.
    let desired = manifests(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: fail-new}\n",
    );
    let mut plan = engine.plan(&desired).await;
    let forced = Safety {
        force_prune: true,
        ..prune()
    };
    assert!(engine.guard(&mut plan, &forced).is_none());
    let report = engine.apply(&plan).await;
    assert_eq!((report.failed, report.held, report.done), (1, 1, 0));
    let held = report
        .results
        .iter()
        .find(|r| matches!(r.outcome, Outcome::Held { .. }))
        .unwrap();
    assert_eq!(held.object, "ConfigMap/default/old");
    assert!(!report.succeeded());
}

#[tokio::test]
async fn with_prune_off_only_the_replaces_count_against_the_cap() {
    let engine = Engine::new(vec![Box::new(Memory::default())], "test", 4);
    let text = |v: &str, extra: bool| {
        let mut t = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: frozen-a}}\ndata: {{x: '{v}'}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: b}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\n"
        );
        if extra {
            t.push_str("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: e}\n");
        }
        t
    };
    engine
        .apply(&engine.plan(&manifests(&text("1", true))).await)
        .await;
    // One replace and two deletions of five managed objects: the cap (30%,
    // 1) holds the deletions only because prune is off; the replace alone
    // is within the cap and goes ahead, not held for prune being off.
    let desired = manifests(&text("2", false));
    let mut plan = engine.plan(&desired).await;
    assert_eq!(
        (plan.plan.summary.replace, plan.plan.summary.delete),
        (1, 2)
    );
    let why = engine.guard(&mut plan, &Safety::default()).unwrap();
    assert!(why.contains("prune is off"), "{why}");
    assert!(plan.held().is_empty(), "{:?}", plan.held());
    let report = engine.apply(&plan).await;
    assert_eq!((report.done, report.held), (1, 0));
    assert_eq!(report.results[0].action, Action::Replace);
}

#[tokio::test]
async fn only_a_failed_create_update_or_replace_holds_deletions() {
    // A Namespace and a ConfigMap in it leave Git; deleting the ConfigMap
    // fails (tier 2, before the Namespace's tier 0), which does not hold
    // the Namespace's deletion: the rule is about what the run creates,
    // updates and replaces.
    let memory = Memory::default();
    for m in manifests(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: gone}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: fail-old, namespace: gone}\n",
    ) {
        let m = backend::with_ownership(&m, "test");
        memory.live.lock().unwrap().insert(m.id.clone(), m.value);
    }
    let engine = Engine::new(vec![Box::new(memory)], "test", 4);
    let desired = manifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep}\n");
    let mut plan = engine.plan(&desired).await;
    let forced = Safety {
        force_prune: true,
        ..prune()
    };
    assert!(engine.guard(&mut plan, &forced).is_none());
    let report = engine.apply(&plan).await;
    assert_eq!((report.failed, report.held, report.done), (1, 0, 2));
}

#[tokio::test]
async fn a_plan_with_errors_holds_its_deletions_with_why() {
    let engine = Engine::new(vec![Box::new(Memory::default())], "test", 4);
    engine
        .apply(
            &engine
                .plan(&manifests(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep}\n",
                ))
                .await,
        )
        .await;
    // `old` moved to a kind no target handles: an error of the plan.
    let moved = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep}\n---\napiVersion: flintlock.liquidmetal.dev/v1alpha1\nkind: MicroVM\nmetadata: {name: old}\n";
    let desired = manifests(moved);
    let mut plan = engine.plan(&desired).await;
    assert!(plan.failed());
    let forced = Safety {
        force_prune: true,
        ..prune()
    };
    engine.guard(&mut plan, &forced);
    let held = plan.held();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].id.name, "old");
    let why = held[0].blocked.as_deref().unwrap();
    assert!(why.starts_with("the plan has 1 error(s)"), "{why}");
    assert_eq!(hold_kind(Action::Delete, why), "failed_changes");
    assert_eq!(plan.plan.summary.blocked, 1);
    // With prune off the deletion is not held: it was never to be made.
    let desired = manifests(moved);
    let mut plan = engine.plan(&desired).await;
    engine.guard(&mut plan, &Safety::default());
    assert!(plan.held().is_empty());
}

#[test]
fn every_hold_reason_has_its_gauge_label() {
    let cases = [
        (
            Action::Update,
            "the live object belongs to mooring source `a`; two sources must not declare the same object: remove it from one of them",
            "other_owner",
        ),
        (
            Action::Replace,
            "the microVM on edge-1 (uid 1) does not carry mooring's ownership labels for source `a`; mooring never deletes it",
            "other_owner",
        ),
        (
            Action::Delete,
            "labelled as this source's but not applied by mooring (no server-side apply by field manager `mooring` in its managedFields); not deleted",
            "not_applied_by_mooring",
        ),
        (
            Action::Delete,
            "3 deletions exceed the cap of 1 (30% of 3 managed objects); pass --force-prune to delete them",
            "deletion_cap",
        ),
        (
            Action::Delete,
            "the rendered set is empty; refusing to delete 2 object(s) (pass --allow-empty if that is intended)",
            "empty_render",
        ),
        (
            Action::Delete,
            "deleting a Namespace deletes everything in it, mooring's or not: pass --force-prune to delete it",
            "force_prune_needed",
        ),
        (
            Action::Replace,
            "m.yaml:1: ConfigMap/a/b is immutable and its data changed, but `mooring.dev/replace: never` forbids replacing it: …",
            "replace_refused",
        ),
        (
            Action::Replace,
            "mooring.dev/replace: never",
            "replace_refused",
        ),
        (
            Action::Replace,
            "a reason no one wrote yet",
            "replace_refused",
        ),
        (
            Action::Update,
            "the live object is being deleted (Terminating): it is created again once it is gone; re-run then",
            "terminating",
        ),
        (
            Action::Create,
            "a sync window holds it back: inside the deny window `0 0 1 * * *`",
            "sync_window",
        ),
        (Action::Update, "a reason no one wrote yet", "other"),
    ];
    for (action, reason, kind) in cases {
        assert_eq!(hold_kind(action, reason), kind, "{reason}");
        assert!(HOLD_KINDS.contains(&kind));
    }
    assert_eq!(
        hold_kind(
            Action::Delete,
            &format!(
                "2 other change(s) of this run failed or were skipped: {DELETIONS_WAIT} succeeds"
            )
        ),
        "failed_changes"
    );
}

#[tokio::test]
async fn rbac_and_what_workloads_need_are_applied_before_them() {
    let engine = Engine::new(vec![Box::new(Memory::default())], "test", 4);
    let desired = manifests(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: web, namespace: shop}\n---\n\
         apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: shop}\n---\n\
         apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
    );
    let plan = engine.plan(&desired).await;
    let report = engine.apply(&plan).await;
    assert_eq!(report.done, 4);
    let order: Vec<&str> = report.results.iter().map(|r| r.object.as_str()).collect();
    let at = |kind: &str| {
        order
            .iter()
            .position(|o| o.starts_with(&format!("{kind}/")))
            .unwrap_or(usize::MAX)
    };
    assert_eq!(at("Namespace"), 0, "{order:?}");
    assert!(at("RoleBinding") < at("Deployment"), "{order:?}");
    assert!(at("PersistentVolumeClaim") < at("Deployment"), "{order:?}");
}

/// Each result is told the moment it is known, not when the stage or the
/// run ends: with one change in flight, every apply is followed by its
/// result before the next apply starts; and every result told is in the
/// report.
#[tokio::test]
async fn each_result_is_told_as_soon_as_it_is_known() {
    let backend = std::sync::Arc::new(Memory::default());
    struct Shared(std::sync::Arc<Memory>);
    impl Backend for Shared {
        fn name(&self) -> &'static str {
            "memory"
        }
        fn target(&self) -> Target {
            Target::Kubernetes
        }
        async fn observe(
            &self,
            desired: &[Manifest],
        ) -> Result<backend::Observation, BackendError> {
            self.0.observe(desired).await
        }
        async fn apply(
            &self,
            change: &Change,
            desired: Option<&Manifest>,
        ) -> Result<backend::Done, BackendError> {
            self.0.apply(change, desired).await
        }
    }
    let mut engine = Engine::new(vec![Box::new(Shared(backend.clone()))], "test", 1);
    let log = backend.clone();
    engine.on_result(std::sync::Arc::new(move |r: &ChangeResult| {
        let word = match r.outcome {
            Outcome::Done { .. } => "done",
            Outcome::Failed { .. } => "failed",
            _ => "other",
        };
        log.log.lock().unwrap().push(format!("{word} {}", r.object));
    }));
    let desired = manifests(&format!(
        "{SET}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: fail-me, namespace: shop}}\n"
    ));
    let mut plan = engine.plan(&desired).await;
    assert!(engine.guard(&mut plan, &prune()).is_none());
    let report = engine.apply(&plan).await;
    let log = backend.log.lock().unwrap().clone();
    assert_eq!(log.len(), 2 * report.results.len(), "{log:?}");
    for pair in log.chunks(2) {
        let (verb, object) = pair[0].split_once(' ').unwrap();
        assert_eq!(verb, "create", "{log:?}");
        assert!(
            pair[1] == format!("done {object}") || pair[1] == format!("failed {object}"),
            "the result of {object} was not told right after its apply: {log:?}"
        );
    }
    assert!(log.contains(&"failed ConfigMap/shop/fail-me".to_string()));
}

/// `wait_healthy_reporting` tells where the wait stands after each round
/// (one round when the timeout is zero): how many objects settled of how
/// many, and one still in progress.
#[tokio::test]
async fn a_wait_reports_its_progress_each_round() {
    let engine = Engine::new(vec![Box::new(Memory::default())], "test", 2);
    let desired = manifests(SET);
    let mut plan = engine.plan(&desired).await;
    assert!(engine.guard(&mut plan, &prune()).is_none());
    let report = engine.apply(&plan).await;
    assert_eq!(report.done, 3);
    let missing =
        manifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: later, namespace: shop}\n");
    let later = engine.plan(&missing).await;
    let mut changes: Vec<&Change> = plan.plan.changes.iter().collect();
    changes.extend(later.plan.changes.iter().filter(|c| c.id.name == "later"));
    let seen = std::sync::Mutex::new(Vec::new());
    let results = engine
        .wait_healthy_reporting(
            &changes,
            std::time::Duration::ZERO,
            std::time::Duration::from_millis(10),
            &|p| seen.lock().unwrap().push(p.clone()),
        )
        .await;
    assert_eq!(results.len(), 4);
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), 1, "one report per round, one round: {seen:?}");
    for p in &seen {
        assert_eq!((p.settled, p.total), (3, 4), "{p:?}");
        assert_eq!(p.waiting_for.as_deref(), Some("ConfigMap/shop/later"));
    }
}

#[test]
fn an_error_says_the_backend_and_the_object_once() {
    assert_eq!(
        said_once(
            "kubernetes: k8s.yaml:5: Service/shop/web: Service \"web\" is invalid",
            "kubernetes",
            "Service/shop/web"
        ),
        "k8s.yaml:5: Service \"web\" is invalid"
    );
    assert_eq!(
        said_once(
            "flintlock: host edge-1 is unreachable: timeout",
            "kubernetes",
            "MicroVM/x/y"
        ),
        "flintlock: host edge-1 is unreachable: timeout"
    );
    assert_eq!(
        said_once(
            "kubernetes: conflict with kubectl-edit: the Service/shop/web: x",
            "kubernetes",
            "Service/shop/web"
        ),
        "conflict with kubectl-edit: the Service/shop/web: x"
    );
    let done = ChangeResult {
        action: Action::Create,
        backend: "kubernetes".into(),
        object: "Service/shop/web".into(),
        outcome: Outcome::Done {
            summary: "created".into(),
            unhealthy: None,
        },
    };
    assert_eq!(done.error_said_once(), None);
}

/// The health check after a plan reads again only what the plan changes:
/// an object left as it is has the health observe judged from what it
/// listed.
#[tokio::test]
async fn the_health_of_an_unchanged_object_is_the_one_observe_listed() {
    let engine = Engine::new(vec![Box::new(Memory::default())], "test", 2);
    let desired = manifests(SET);
    let mut plan = engine.plan(&desired).await;
    assert!(engine.guard(&mut plan, &prune()).is_none());
    assert_eq!(engine.apply(&plan).await.done, 3);
    let mut changed = desired.clone();
    let app = changed.iter_mut().find(|m| m.id.name == "app").unwrap();
    app.value["data"]["x"] = serde_json::json!("2");
    let plan = engine.plan(&changed).await;
    assert_eq!(
        (plan.plan.summary.unchanged, plan.plan.summary.update),
        (2, 1)
    );
    let health: BTreeMap<String, Health> = engine
        .health(&plan.plan)
        .await
        .into_iter()
        .map(|h| (h.id.name, h.health))
        .collect();
    let listed = Health::InProgress("as listed".into());
    assert_eq!(health.get("shop"), Some(&listed), "{health:?}");
    assert_eq!(health.get("key"), Some(&listed), "{health:?}");
    assert_eq!(health.get("app"), Some(&Health::Current), "{health:?}");
}
