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

/// Real server only: the emulator checks no names and sends no warnings
/// (docs/emulator-gaps.md). A Namespace named `my.team` (not a DNS label)
/// passes mooring's own validation today, but the plan already fails, not
/// the apply; a custom resource's finalizer named without a path makes the
/// server warn, and the warning is shown with the object in the plan and in
/// the apply's report.
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
    assert!(
        plan.stdout.contains(&format!(
            "ns.yaml:1: Namespace/{dotted}: the server refuses to create it"
        )) && plan.stdout.contains("must not contain dots"),
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
