//! Ownership and prune through the real binary, on both Kubernetes targets
//! (the emulator and a real kube-apiserver): each source deletes only what
//! it applied and leaves nothing behind (issue 16). Every test here
//! reproduces a case that deleted or kept the wrong objects before each
//! source had an inventory (an ApplySet, KEP-3659):
//!
//! - two sources without a name were both `default`, and one pruned the
//!   other's objects;
//! - a kind whose last object left Git was never listed again, so its
//!   objects stayed for ever;
//! - an object anyone labelled with mooring's labels was pruned;
//! - objects applied before inventories must be adopted in place.

mod support;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::kube_target::{KubeEnv, Target};
use support::{show, write};

crate::on_both_targets!(
    two_sources_without_a_name_never_prune_each_other,
    a_kind_that_left_git_is_still_pruned,
    labels_alone_do_not_make_an_object_ours,
    the_inventory_follows_the_applyset_convention,
    objects_labelled_before_inventories_are_adopted_in_place,
    a_recorded_kind_the_cluster_no_longer_serves_is_a_warning,
    force_prune_shows_what_a_namespace_takes_along,
    no_deletion_after_a_failed_change,
);

const MEMBER: &str = "applyset.kubernetes.io/part-of";

fn folder(env: &KubeEnv, name: &str) -> PathBuf {
    let dir = env.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn cm(name: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {namespace}}}\ndata: {{k: v}}\n"
    )
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// The ApplySet id of a parent, computed here from the convention
/// (KEP-3659): `applyset-` + base64url(sha256("name.namespace.kind.group"))
/// + `-v1`, independently of mooring's code.
fn applyset_id(name: &str, namespace: &str) -> String {
    let digest = Sha256::digest(format!("{name}.{namespace}.Secret.").as_bytes());
    format!(
        "applyset-{}-v1",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["metadata"]["labels"][key].as_str()
}

/// `mooring apply r1 --prune`, then `mooring apply r2 --prune` from another
/// folder, neither naming its source: each gets its own name (from its
/// folder), so the second deletes nothing of the first.
async fn two_sources_without_a_name_never_prune_each_other(t: Target) {
    let env = KubeEnv::start(t).await;
    let (a, b) = (env.name("first"), env.name("second"));
    let r1 = folder(&env, "r1");
    let r2 = folder(&env, "r2");
    write(&r1, "cm.yaml", &cm(&a, "default"));
    write(&r2, "cm.yaml", &cm(&b, "default"));

    let first = env
        .mooring(&["apply", &path(&r1), "--prune", "--yes"])
        .await;
    assert_eq!(first.code, 0, "{}", show(&first));
    let plan = env.mooring(&["plan", &path(&r2), "--prune"]).await;
    assert!(!plan.stdout.contains(&a), "{}", show(&plan));
    let second = env
        .mooring(&["apply", &path(&r2), "--prune", "--yes"])
        .await;
    assert_eq!(second.code, 0, "{}", show(&second));
    assert!(!second.stdout.contains("deleted"), "{}", show(&second));

    let first_cm = env.get("", "ConfigMap", Some("default"), &a).await;
    let first_cm = first_cm.expect("the first source's ConfigMap is still there");
    let second_cm = env.get("", "ConfigMap", Some("default"), &b).await.unwrap();
    // Readable, and not the same.
    let (s1, s2) = (
        label(&first_cm, "mooring.dev/source").unwrap(),
        label(&second_cm, "mooring.dev/source").unwrap(),
    );
    assert!(s1.contains("-r1-") && s2.contains("-r2-"), "{s1} {s2}");
    assert_ne!(label(&first_cm, MEMBER), label(&second_cm, MEMBER));

    // The same folder, run again, is the same source: it plans no change.
    let again = env.mooring(&["plan", &path(&r1), "--prune"]).await;
    assert_eq!(again.code, 0, "{}", show(&again));
}

/// A custom resource whose kind leaves Git entirely (the last one of its
/// kind) is still pruned: the inventory records its kind.
async fn a_kind_that_left_git_is_still_pruned(t: Target) {
    let env = KubeEnv::start(t).await;
    let group = format!("t{}.orphans.example", env.id);
    let crd = KubeEnv::open_crd(&group, "widgets", "Widget");
    env.install_crd(&crd).await;
    let (keep, widget) = (env.name("keep"), env.name("widget"));
    let repo = folder(&env, "repo");
    write(&repo, "cm.yaml", &cm(&keep, "default"));
    write(
        &repo,
        "widget.yaml",
        &format!(
            "apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: {widget}, namespace: default}}\nspec: {{size: 3}}\n"
        ),
    );
    let repo_path = path(&repo);
    let base = [
        repo_path.as_str(),
        "--source-name",
        env.source.as_str(),
        "--allow-unknown-kinds",
        "--prune",
    ];
    let plan_args = [&["plan"][..], &base].concat();
    let apply_args = [&["apply"][..], &base, &["--yes"]].concat();
    let applied = env.mooring(&apply_args).await;
    assert_eq!(applied.code, 0, "{}", show(&applied));
    assert!(
        env.get(&group, "Widget", Some("default"), &widget)
            .await
            .is_some()
    );

    std::fs::remove_file(repo.join("widget.yaml")).unwrap();
    let plan = env.mooring(&plan_args).await;
    assert_eq!(plan.code, 2, "a deletion is a change: {}", show(&plan));
    assert!(
        plan.stdout.contains(&format!("Widget/default/{widget}")),
        "{}",
        show(&plan)
    );
    let pruned = env.mooring(&apply_args).await;
    assert_eq!(pruned.code, 0, "{}", show(&pruned));
    assert!(
        env.get(&group, "Widget", Some("default"), &widget)
            .await
            .is_none(),
        "the Widget was pruned: {}",
        show(&pruned)
    );
    assert!(
        env.get("", "ConfigMap", Some("default"), &keep)
            .await
            .is_some()
    );
    let clean = env.mooring(&plan_args).await;
    assert_eq!(clean.code, 0, "{}", show(&clean));
}

/// An object made with another tool that carries this source's labels
/// (mooring's two, and the ApplySet's) is not deleted: mooring's field
/// manager never applied it. The plan says so.
async fn labels_alone_do_not_make_an_object_ours(t: Target) {
    let env = KubeEnv::start(t).await;
    let (mine, borrowed) = (env.name("mine"), env.name("borrowed"));
    let id = applyset_id(&format!("mooring-{}", env.source), "default");
    env.apply_as(
        "kubectl",
        &json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": borrowed, "namespace": "default", "labels": {
                "app.kubernetes.io/managed-by": "mooring",
                "mooring.dev/source": env.source,
                MEMBER: id,
            }},
            "data": {"k": "v"},
        }),
        false,
    )
    .await;
    let repo = folder(&env, "repo");
    write(&repo, "cm.yaml", &cm(&mine, "default"));
    let applied = env
        .mooring(&[
            "apply",
            &path(&repo),
            "--source-name",
            &env.source,
            "--prune",
            "--yes",
        ])
        .await;
    assert!(
        applied.stdout.contains("not applied by mooring"),
        "{}",
        show(&applied)
    );
    assert!(
        env.get("", "ConfigMap", Some("default"), &borrowed)
            .await
            .is_some(),
        "a ConfigMap mooring never applied was deleted: {}",
        show(&applied)
    );
    assert!(
        env.get("", "ConfigMap", Some("default"), &mine)
            .await
            .is_some()
    );
}

/// The parent Secret and the members carry exactly the labels and
/// annotations the convention (and `kubectl apply --prune --applyset`)
/// reads; the record widens with the set and narrows after a prune.
async fn the_inventory_follows_the_applyset_convention(t: Target) {
    let env = KubeEnv::start(t).await;
    let ns = env.name("shop");
    let (a, b) = (env.name("a"), env.name("b"));
    let repo = folder(&env, "repo");
    write(
        &repo,
        "ns.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"),
    );
    write(&repo, "a.yaml", &cm(&a, &ns));
    write(
        &repo,
        "b.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: {b}, namespace: default}}\nstringData: {{k: v}}\n"
        ),
    );
    let apply = || async {
        env.mooring_named(&["apply", &path(&repo), "--prune", "--yes"])
            .await
    };
    let out = apply().await;
    assert_eq!(out.code, 0, "{}", show(&out));

    let parent_name = format!("mooring-{}", env.source);
    let id = applyset_id(&parent_name, "default");
    let parent = env
        .get("", "Secret", Some("default"), &parent_name)
        .await
        .expect("the inventory's parent Secret");
    assert_eq!(
        label(&parent, "applyset.kubernetes.io/id"),
        Some(id.as_str())
    );
    assert_eq!(label(&parent, MEMBER), None, "the parent is not a member");
    let annotations = &parent["metadata"]["annotations"];
    assert!(
        annotations["applyset.kubernetes.io/tooling"]
            .as_str()
            .is_some_and(|t| t.starts_with("mooring/v")),
        "{parent}"
    );
    assert_eq!(
        annotations["applyset.kubernetes.io/contains-group-kinds"], "ConfigMap,Namespace,Secret",
        "{parent}"
    );
    // The parent's own namespace is not "additional".
    assert_eq!(
        annotations["applyset.kubernetes.io/additional-namespaces"],
        ns.as_str(),
        "{parent}"
    );
    for (kind, namespace, name) in [
        ("Namespace", None, ns.as_str()),
        ("ConfigMap", Some(ns.as_str()), a.as_str()),
        ("Secret", Some("default"), b.as_str()),
    ] {
        let object = env.get("", kind, namespace, name).await.unwrap();
        assert_eq!(label(&object, MEMBER), Some(id.as_str()), "{object}");
    }

    // The Secret leaves Git: pruned, and the record narrows to what is left.
    std::fs::remove_file(repo.join("b.yaml")).unwrap();
    let out = apply().await;
    assert_eq!(out.code, 0, "{}", show(&out));
    assert!(env.get("", "Secret", Some("default"), &b).await.is_none());
    let parent = env
        .get("", "Secret", Some("default"), &parent_name)
        .await
        .unwrap();
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        "ConfigMap,Namespace",
        "{parent}"
    );
}

/// Objects applied by mooring before inventories (its field manager, its
/// two labels, no ApplySet label) are adopted on the first run: updated in
/// place (same uid), never deleted and created again; one that left Git is
/// pruned as before.
async fn objects_labelled_before_inventories_are_adopted_in_place(t: Target) {
    let env = KubeEnv::start(t).await;
    let (kept, gone) = (env.name("kept"), env.name("gone"));
    let legacy = |name: &str| {
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", "labels": {
                "app.kubernetes.io/managed-by": "mooring",
                "mooring.dev/source": env.source,
            }},
            "data": {"k": "v"},
        })
    };
    // As the previous mooring applied them: server-side apply, manager `mooring`.
    let before = env.apply_as("mooring", &legacy(&kept), false).await;
    env.apply_as("mooring", &legacy(&gone), false).await;
    let uid = before["metadata"]["uid"].as_str().unwrap().to_string();

    let repo = folder(&env, "repo");
    write(&repo, "cm.yaml", &cm(&kept, "default"));
    let args = ["--source-name", &env.source, "--prune"];
    let plan = env
        .mooring(&[&["plan", &path(&repo)][..], &args].concat())
        .await;
    assert!(
        plan.stdout.contains("1 to update") && plan.stdout.contains("1 to delete"),
        "{}",
        show(&plan)
    );
    assert!(plan.stdout.contains("0 to create"), "{}", show(&plan));
    let out = env
        .mooring(&[&["apply", &path(&repo)][..], &args, &["--yes"]].concat())
        .await;
    assert_eq!(out.code, 0, "{}", show(&out));
    let after = env
        .get("", "ConfigMap", Some("default"), &kept)
        .await
        .unwrap();
    assert_eq!(after["metadata"]["uid"], uid.as_str(), "updated in place");
    let id = applyset_id(&format!("mooring-{}", env.source), "default");
    assert_eq!(label(&after, MEMBER), Some(id.as_str()), "{after}");
    assert!(
        env.get("", "ConfigMap", Some("default"), &gone)
            .await
            .is_none()
    );
    let clean = env
        .mooring(&[&["plan", &path(&repo)][..], &args].concat())
        .await;
    assert_eq!(clean.code, 0, "{}", show(&clean));
}

/// A kind the inventory records whose CRD was deleted (taking its objects
/// along) is reported as a warning; the plan of the rest goes on.
async fn a_recorded_kind_the_cluster_no_longer_serves_is_a_warning(t: Target) {
    let env = KubeEnv::start(t).await;
    let group = format!("t{}.gone.example", env.id);
    let crd_name = format!("gadgets.{group}");
    let crd = KubeEnv::open_crd(&group, "gadgets", "Gadget");
    env.install_crd(&crd).await;
    let (keep, gadget) = (env.name("keep"), env.name("gadget"));
    let repo = folder(&env, "repo");
    write(&repo, "cm.yaml", &cm(&keep, "default"));
    write(
        &repo,
        "gadget.yaml",
        &format!(
            "apiVersion: {group}/v1\nkind: Gadget\nmetadata: {{name: {gadget}, namespace: default}}\n"
        ),
    );
    let base = [
        "--source-name",
        &env.source,
        "--allow-unknown-kinds",
        "--prune",
    ];
    let out = env
        .mooring(&[&["apply", &path(&repo)][..], &base, &["--yes"]].concat())
        .await;
    assert_eq!(out.code, 0, "{}", show(&out));

    std::fs::remove_file(repo.join("gadget.yaml")).unwrap();
    env.uninstall_crd(&crd_name, &group, "Gadget").await;
    let plan = env
        .mooring(&[&["plan", &path(&repo)][..], &base].concat())
        .await;
    assert_eq!(plan.code, 0, "{}", show(&plan));
    assert!(
        plan.stdout.contains(&format!("Gadget.{group}"))
            && plan.stdout.contains("no longer served"),
        "{}",
        show(&plan)
    );
    // Nothing else changed: nothing to apply, and still no error.
    let out = env
        .mooring(&[&["apply", &path(&repo)][..], &base, &["--yes"]].concat())
        .await;
    assert_eq!(out.code, 0, "{}", show(&out));
}

/// A Namespace that left Git while objects in it did not: the plan with
/// `--force-prune` (which lets the Namespace go) names what its deletion
/// takes along, the objects Git still declares marked.
async fn force_prune_shows_what_a_namespace_takes_along(t: Target) {
    let env = KubeEnv::start(t).await;
    let ns = env.name("doomed");
    let repo = folder(&env, "repo");
    write(
        &repo,
        "ns.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"),
    );
    write(&repo, "cm.yaml", &cm("app", &ns));
    let base = ["--source-name", env.source.as_str(), "--prune"];
    let out = env
        .mooring(&[&["apply", &path(&repo)][..], &base, &["--yes"]].concat())
        .await;
    assert_eq!(out.code, 0, "{}", show(&out));

    std::fs::remove_file(repo.join("ns.yaml")).unwrap();
    let plan = env
        .mooring(&[&["plan", &path(&repo)][..], &base, &["--force-prune"]].concat())
        .await;
    assert_eq!(plan.code, 2, "{}", show(&plan));
    assert!(
        plan.stdout.contains("deleting it also deletes 1 object(s)")
            && plan
                .stdout
                .contains(&format!("ConfigMap/{ns}/app (still in Git)")),
        "{}",
        show(&plan)
    );
}

/// A run where an update fails (a field another manager owns, without
/// forceConflicts) deletes nothing: the deletion is held, with why, and
/// apply exits 1. The next run, once the conflict is gone, deletes it.
async fn no_deletion_after_a_failed_change(t: Target) {
    let env = KubeEnv::start(t).await;
    let (kept, gone) = (env.name("kept"), env.name("gone"));
    let repo = folder(&env, "repo");
    write(&repo, "kept.yaml", &cm(&kept, "default"));
    write(&repo, "gone.yaml", &cm(&gone, "default"));
    let base = ["--source-name", env.source.as_str(), "--prune", "--yes"];
    let apply = || async {
        env.mooring(&[&["apply", &path(&repo)][..], &base].concat())
            .await
    };
    let out = apply().await;
    assert_eq!(out.code, 0, "{}", show(&out));

    // Someone else takes `data.k` of `kept`; Git changes it and drops `gone`.
    env.apply_as(
        "kubectl",
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": kept, "namespace": "default"}, "data": {"k": "theirs"}}),
        true,
    )
    .await;
    write(
        &repo,
        "kept.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {kept}, namespace: default}}\ndata: {{k: ours}}\n"
        ),
    );
    std::fs::remove_file(repo.join("gone.yaml")).unwrap();
    let out = apply().await;
    assert_eq!(out.code, 1, "{}", show(&out));
    assert!(out.stdout.contains("conflict"), "{}", show(&out));
    assert!(
        out.stdout.contains(&format!(
            "delete ConfigMap/default/{gone} [kubernetes]: held:"
        )) && out.stdout.contains("1 other change(s) of this run failed"),
        "{}",
        show(&out)
    );
    assert!(
        env.get("", "ConfigMap", Some("default"), &gone)
            .await
            .is_some(),
        "deleted although a change of the run failed: {}",
        show(&out)
    );

    // Git gives `k` back to the other manager's value: nothing conflicts,
    // and the deletion goes ahead.
    write(
        &repo,
        "kept.yaml",
        &cm(&kept, "default").replace("k: v", "k: theirs"),
    );
    let out = apply().await;
    assert_eq!(out.code, 0, "{}", show(&out));
    assert!(
        env.get("", "ConfigMap", Some("default"), &gone)
            .await
            .is_none()
    );
}
