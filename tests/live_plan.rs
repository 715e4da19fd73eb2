//! A live plan tells the truth about creates (issue 17): every create is
//! tried on the server first (a dry run, as `kubectl diff` does), so what
//! the server would refuse fails the plan, at the object's file and line,
//! instead of a later apply; and what the server warns about is shown with
//! the object. Through the real binary, on both targets where the emulator
//! does what the server does (docs/emulator-gaps.md says where it does not).

mod support;

use std::path::PathBuf;

use support::kube_target::{KubeEnv, Target};
use support::{show, write};

crate::on_both_targets!(a_create_into_a_missing_namespace_fails_the_plan_and_applies_nothing);

fn repo(env: &KubeEnv) -> PathBuf {
    let dir = env.dir.path().join("repo");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A ConfigMap into a Namespace that exists nowhere: the plan fails and
/// names the file and line; apply applies nothing, not even the valid
/// object beside it. A ConfigMap into a Namespace the same plan creates is
/// not refused.
async fn a_create_into_a_missing_namespace_fails_the_plan_and_applies_nothing(t: Target) {
    let env = KubeEnv::start(t).await;
    let (good, lost, new_ns) = (env.name("good"), env.name("nowhere"), env.name("fresh"));
    let dir = repo(&env);
    write(
        &dir,
        "good.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {good}, namespace: default}}\n"
        ),
    );
    write(
        &dir,
        "fresh.yaml",
        &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {new_ns}}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: inside, namespace: {new_ns}}}\n"
        ),
    );
    write(
        &dir,
        "lost.yaml",
        &format!(
            "# a typo'd namespace\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: {lost}\n"
        ),
    );
    let path = dir.display().to_string();
    let plan = env.mooring_named(&["plan", &path]).await;
    assert_eq!(plan.code, 1, "{}", show(&plan));
    let all = format!("{}{}", plan.stdout, plan.stderr);
    assert!(
        all.contains(&format!(
            "lost.yaml:2: ConfigMap/{lost}/app: the server refuses to create it"
        )) && all.contains("not found"),
        "{}",
        show(&plan)
    );
    assert!(
        !all.contains("inside: the server refuses"),
        "{}",
        show(&plan)
    );

    let apply = env.mooring_named(&["apply", &path, "--yes"]).await;
    assert_eq!(apply.code, 1, "{}", show(&apply));
    assert!(
        env.get("", "ConfigMap", Some("default"), &good)
            .await
            .is_none(),
        "nothing is applied from a plan the server refuses: {}",
        show(&apply)
    );

    // Fixed in Git: the plan goes through.
    std::fs::remove_file(dir.join("lost.yaml")).unwrap();
    let apply = env.mooring_named(&["apply", &path, "--yes"]).await;
    assert_eq!(apply.code, 0, "{}", show(&apply));
    assert!(
        env.get("", "ConfigMap", Some(&new_ns), "inside")
            .await
            .is_some()
    );
}

/// Real server only: the emulator sends no warnings
/// (docs/emulator-gaps.md). A Namespace named `my.team` (not a DNS label)
/// fails at plan time, before anything is sent: the API server's name
/// rules are checked offline. A custom resource's finalizer named without
/// a path makes the server warn, and the warning is shown with the object
/// in the plan and in the apply's report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_refusals_and_warnings_show_in_the_plan_and_the_apply() {
    let env = KubeEnv::start(Target::Real).await;
    let dir = repo(&env);
    let dotted = format!("{}.team", env.name("my"));
    write(
        &dir,
        "ns.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {dotted}}}\n"),
    );
    let path = dir.display().to_string();
    let plan = env.mooring_named(&["plan", &path]).await;
    assert_eq!(plan.code, 1, "{}", show(&plan));
    let all = format!("{}{}", plan.stdout, plan.stderr);
    assert!(
        all.contains(&format!(
            "ns.yaml:3: Namespace/{dotted}: metadata.name: name \"{dotted}\" is not a DNS-1123 label"
        )),
        "{}",
        show(&plan)
    );
    assert!(
        env.get("", "Namespace", None, &dotted).await.is_none(),
        "{}",
        show(&plan)
    );

    std::fs::remove_file(dir.join("ns.yaml")).unwrap();
    // A custom resource with a finalizer named without a path: the server
    // takes it, with a warning (a built-in kind would be refused).
    let group = format!("t{}.warn.example", env.id);
    env.install_crd(&KubeEnv::open_crd(&group, "gizmos", "Gizmo"))
        .await;
    let warned = env.name("warned");
    write(
        &dir,
        "gizmo.yaml",
        &format!(
            "apiVersion: {group}/v1\nkind: Gizmo\nmetadata:\n  name: {warned}\n  namespace: default\n  finalizers: [keep.example.com]\n"
        ),
    );
    let plan = env
        .mooring_named(&["plan", &path, "--allow-unknown-kinds"])
        .await;
    assert_eq!(plan.code, 2, "{}", show(&plan));
    assert!(
        plan.stdout
            .contains("the server warns: metadata.finalizers"),
        "{}",
        show(&plan)
    );
    let apply = env
        .mooring_named(&["apply", &path, "--yes", "--allow-unknown-kinds"])
        .await;
    assert_eq!(apply.code, 0, "{}", show(&apply));
    assert!(
        apply
            .stdout
            .contains("the server warns: metadata.finalizers"),
        "{}",
        show(&apply)
    );
    // The finalizer would keep it for ever on the shared server.
    env.edit_as(
        "mooring-tests",
        &group,
        "Gizmo",
        Some("default"),
        &warned,
        &serde_json::json!({"metadata": {"finalizers": null}}),
    )
    .await;
}

/// Waits until the server's `/openapi/v3` index lists `group` (a new CRD
/// is published there a little after it is served), at most 30 s.
async fn wait_openapi(env: &KubeEnv, group: &str) {
    let path = format!("apis/{group}/v1");
    for _ in 0..300 {
        let request = http::Request::get("/openapi/v3").body(Vec::new()).unwrap();
        if let Ok(text) = env.client().request_text(request).await
            && text.contains(&path)
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{group} is not in /openapi/v3 after 30 s");
}

/// A CustomResourceDefinition with a constraint, installed in the cluster
/// only (not in Git).
fn bounded_crd(group: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("dials.{group}")},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "dials", "singular": "dial", "kind": "Dial", "listKind": "DialList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "level": {"type": "integer", "maximum": 11}}}}}}}],
        },
    })
}

/// Real server only (the emulator serves no OpenAPI documents,
/// docs/emulator-gaps.md). A plan validates against what the cluster
/// serves: a custom resource whose CRD is installed only in the cluster
/// needs no flag, and the CRD's constraint fails the plan offline, at the
/// field's line; `validate --kubeconfig` does the same on request, and
/// without it the kind is unknown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_validates_against_the_clusters_openapi_for_a_crd_only_there() {
    let env = KubeEnv::start(Target::Real).await;
    let group = format!("t{}.dials.example", env.id);
    env.install_crd(&bounded_crd(&group)).await;
    wait_openapi(&env, &group).await;
    let dir = repo(&env);
    let name = env.name("loud");
    write(
        &dir,
        "dial.yaml",
        &format!(
            "apiVersion: {group}/v1\nkind: Dial\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  level: 12\n"
        ),
    );
    let path = dir.display().to_string();
    let plan = env.mooring_named(&["plan", &path]).await;
    assert_eq!(plan.code, 1, "{}", show(&plan));
    assert!(
        plan.stderr.contains(&format!(
            "dial.yaml:5: Dial/default/{name}: spec.level: 12 is above the maximum of 11"
        )),
        "{}",
        show(&plan)
    );
    assert!(
        plan.stderr.contains("validated against the") && plan.stderr.contains("kinds it serves"),
        "{}",
        show(&plan)
    );

    let kubeconfig = env.kubeconfig.display().to_string();
    let offline = support::mooring(&["validate", "--no-policies", &path], None);
    assert_eq!(offline.code, 1, "{}", show(&offline));
    assert!(
        offline.stdout.contains("no schema for kind Dial"),
        "{}",
        show(&offline)
    );
    let online = support::mooring(
        &[
            "validate",
            "--no-policies",
            &path,
            "--kubeconfig",
            &kubeconfig,
            "--context",
            &env.context,
        ],
        None,
    );
    assert_eq!(online.code, 1, "{}", show(&online));
    assert!(
        online
            .stdout
            .contains("spec.level: 12 is above the maximum of 11"),
        "{}",
        show(&online)
    );

    write(
        &dir,
        "dial.yaml",
        &format!(
            "apiVersion: {group}/v1\nkind: Dial\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  level: 11\n"
        ),
    );
    let plan = env.mooring_named(&["plan", &path]).await;
    assert_eq!(plan.code, 2, "{}", show(&plan));
    assert!(
        plan.stdout
            .contains(&format!("+ create Dial/default/{name}")),
        "{}",
        show(&plan)
    );
}

/// kubectl's habits: `$KUBECONFIG` alone makes the target, with one line
/// naming the cluster and the context; an object without a namespace goes
/// to the context's namespace; a cluster-scoped one never has one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeconfig_alone_makes_the_target_and_its_context_places_objects() {
    let env = KubeEnv::start(Target::Real).await;
    let ns = env.name("ctx");
    // The test's kubeconfig, with the context's namespace set.
    let mut config = kube::config::Kubeconfig::read_from(&env.kubeconfig).unwrap();
    for c in &mut config.contexts {
        if let Some(context) = c.context.as_mut() {
            context.namespace = Some(ns.clone());
        }
    }
    let kubeconfig = env.dir.path().join("kubeconfig-with-namespace");
    std::fs::write(&kubeconfig, serde_json::to_string(&config).unwrap()).unwrap();
    let dir = repo(&env);
    write(
        &dir,
        "ns.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"),
    );
    write(
        &dir,
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n",
    );
    write(
        &dir,
        "role.yaml",
        &format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {ns}-viewer, namespace: default}}\nrules: []\n"
        ),
    );
    let path = dir.display().to_string();
    let envs = [("KUBECONFIG", kubeconfig.to_str().unwrap())];
    let args = [
        "plan",
        &path,
        "--no-policies",
        "--source-name",
        &env.source,
        "-o",
        "json",
    ];
    let plan = support::mooring_env(&args, Some(env.dir.path()), &envs);
    assert_eq!(plan.code, 2, "{}", show(&plan));
    assert!(
        plan.stderr
            .contains(&format!("Kubernetes target {}", env.url()))
            && plan.stderr.contains(&format!(
                "context {} of kubeconfig $KUBECONFIG",
                env.context
            ))
            && plan
                .stderr
                .contains(&format!("objects without a namespace go to {ns}")),
        "{}",
        show(&plan)
    );
    let json: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let changes = json["changes"].as_array().unwrap();
    let id_of = |kind: &str| {
        changes
            .iter()
            .find(|c| c["id"]["kind"] == kind)
            .map(|c| c["id"].clone())
            .unwrap_or_else(|| panic!("no {kind} in {}", plan.stdout))
    };
    assert_eq!(id_of("ConfigMap")["namespace"], ns.as_str());
    // A cluster-scoped object has no namespace, not even in its JSON.
    let role = id_of("ClusterRole");
    assert!(role.get("namespace").is_none(), "{role}");
    assert!(
        plan.stdout
            .contains("ClusterRole is cluster-scoped: metadata.namespace is dropped"),
        "{}",
        show(&plan)
    );
    // -n (the source's targetNamespace) wins over the context's.
    let other = env.name("other");
    let args = [
        "plan",
        &path,
        "--no-policies",
        "--source-name",
        &env.source,
        "-o",
        "json",
        "-n",
        &other,
    ];
    let renamed = support::mooring_env(&args, Some(env.dir.path()), &envs);
    // (That Namespace does not exist: the create's dry run says so.)
    assert!(
        renamed
            .stdout
            .contains(&format!("\"object\": \"ConfigMap/{other}/settings\"")),
        "{}",
        show(&renamed)
    );
    let apply = support::mooring_env(
        &[
            "apply",
            &path,
            "--yes",
            "--no-policies",
            "--source-name",
            &env.source,
        ],
        Some(env.dir.path()),
        &envs,
    );
    assert_eq!(apply.code, 0, "{}", show(&apply));
    assert!(
        env.get("", "ConfigMap", Some(&ns), "settings")
            .await
            .is_some()
    );
    assert!(
        env.get(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            None,
            &format!("{ns}-viewer")
        )
        .await
        .is_some()
    );
}
