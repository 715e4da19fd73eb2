//! Held is not success (issue 16): what a safety rule keeps back, what
//! failed and what healed are told apart in every place a user looks: the
//! exit code and output of `apply`, the daemon's `/api/v1/status`,
//! `/metrics` and log. Through the real binary, on both Kubernetes targets
//! (the emulator and a real kube-apiserver).

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::json;
use support::daemon::{self, Daemon};
use support::kube_target::{KubeEnv, Target};
use support::{commit_dir, eventually, free_port, http_get, show, write};

crate::on_both_targets!(
    a_move_whose_new_copy_is_refused_keeps_the_old_one,
    the_daemon_says_held_until_the_hold_is_gone,
    a_failed_heal_names_the_object_and_the_other_manager,
);

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

/// A ConfigMap moves in Git to a namespace that does not exist (a typo):
/// the server refuses the new copy, so the old one must stay. `apply
/// --prune --yes` says the deletion is held and why, and exits 1; once the
/// move is fixed, the old copy goes.
async fn a_move_whose_new_copy_is_refused_keeps_the_old_one(t: Target) {
    let env = KubeEnv::start(t).await;
    let (app, typo) = (env.name("app"), env.name("nowhere"));
    let repo = folder(&env, "repo");
    let path = repo.display().to_string();
    write(&repo, "app.yaml", &cm(&app, "default"));
    let args = ["apply", path.as_str(), "--prune", "--yes"];
    let apply = || env.mooring_named(&args);
    let out = apply().await;
    assert_eq!(out.code, 0, "{}", show(&out));

    write(&repo, "app.yaml", &cm(&app, &typo));
    let out = apply().await;
    assert_eq!(out.code, 1, "{}", show(&out));
    assert!(
        out.stderr.contains(&format!(
            "held: delete ConfigMap/default/{app} [kubernetes]: the plan has 1 error(s): nothing is applied, and deletions wait until every create, update and replace of the run can be made"
        )),
        "{}",
        show(&out)
    );
    assert!(
        out.stdout.contains("the server refuses to create it"),
        "{}",
        show(&out)
    );
    assert!(
        env.get("", "ConfigMap", Some("default"), &app)
            .await
            .is_some(),
        "the old copy was deleted although the new one could not be made: {}",
        show(&out)
    );

    // The move, done right: the old copy goes, the new one is there.
    let ns = env.name("there");
    write(
        &repo,
        "app.yaml",
        &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\n{}",
            cm(&app, &ns)
        ),
    );
    let out = apply().await;
    assert_eq!(out.code, 0, "{}", show(&out));
    assert!(
        env.get("", "ConfigMap", Some("default"), &app)
            .await
            .is_none()
    );
    assert!(env.get("", "ConfigMap", Some(&ns), &app).await.is_some());
}

/// A daemon for `env`'s source over `files`, with `settings` added to
/// mooring.yaml; its log goes to `DIR/daemon.log`.
fn start_daemon(env: &KubeEnv, files: &[(&str, &str)], schedule: &str, settings: &str) -> Daemon {
    let dir = env.dir.path();
    let repo = daemon::repo(dir, files);
    daemon::config(
        dir,
        &env.source,
        &repo.display().to_string(),
        schedule,
        &format!(
            "kubeconfig: {}, context: {}",
            env.kubeconfig.display(),
            env.context
        ),
        settings,
    );
    let port = free_port();
    let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
    let child = support::mooring_command()
        .args(daemon::run_args(
            dir,
            &["--listen", &format!("127.0.0.1:{port}")],
        ))
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Daemon::new(child, port)
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default()
}

/// The first source of `/api/v1/status`.
fn status(port: u16) -> serde_json::Value {
    let (_, body) = http_get(port, "/api/v1/status");
    serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default()["sources"][0].clone()
}

/// The value of the one sample of `metric` whose labels contain every
/// one of `labels`.
fn sample(metrics: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// One object of the source belongs to another mooring source: the daemon
/// applies the rest and says `held`, with the object and its owner, in the
/// status (result, error, held list), the metrics (`mooring_sync_total`,
/// `mooring_changes_held`) and a WARN log line; the syncs after it, which
/// find nothing new, still say `held` (not `success`), until the other
/// source lets go of the object.
async fn the_daemon_says_held_until_the_hold_is_gone(t: Target) {
    let env = KubeEnv::start(t).await;
    let (shop, other) = (env.name("shop"), env.name("other"));
    let ns = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {shop}}}\n");
    env.apply_as(
        "mooring-tests",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": shop}}),
        false,
    )
    .await;
    env.apply_as(
        "mooring",
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "theirs", "namespace": shop, "labels": {
                "app.kubernetes.io/managed-by": "mooring", "mooring.dev/source": other}},
            "data": {"k": "theirs"}}),
        false,
    )
    .await;
    let d = start_daemon(
        &env,
        &[
            ("deploy/ns.yaml", &ns),
            ("deploy/mine.yaml", &cm("mine", &shop)),
            ("deploy/theirs.yaml", &cm("theirs", &shop)),
        ],
        "interval: 200ms, driftInterval: 1s",
        "",
    );
    let source = format!("source=\"{}\"", env.source);
    // Three syncs at least: the first plans, the others find nothing new.
    assert!(
        eventually(|| {
            sample(
                &d.metrics(),
                "mooring_sync_total",
                &[&source, "result=\"held\""],
            )
            .is_some_and(|n| n >= 3.0)
        })
        .await,
        "{}\n{}",
        d.metrics(),
        log(env.dir.path())
    );
    assert!(
        env.get("", "ConfigMap", Some(&shop), "mine")
            .await
            .is_some()
    );
    let s = status(d.port);
    assert_eq!(s["result"], "held", "{s}");
    let held = format!(
        "update ConfigMap/{shop}/theirs [kubernetes]: the live object belongs to mooring source `{other}`"
    );
    assert!(
        s["error"]
            .as_str()
            .is_some_and(|e| e.starts_with(&format!("1 change held: {held}"))),
        "{s}"
    );
    assert!(
        s["held"][0].as_str().is_some_and(|h| h.starts_with(&held)),
        "{s}"
    );
    let metrics = d.metrics();
    assert_eq!(
        sample(
            &metrics,
            "mooring_sync_total",
            &[&source, "result=\"success\""]
        ),
        None,
        "a sync with a change held back is not a success: {metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "mooring_changes_held",
            &[&source, "reason=\"other_owner\""]
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "mooring_changes_held",
            &[&source, "reason=\"deletion_cap\""]
        ),
        Some(0.0),
        "{metrics}"
    );
    // Before any sync succeeded, the stale alert measures from here.
    assert!(
        sample(
            &metrics,
            "mooring_source_started_timestamp_seconds",
            &[&source]
        )
        .is_some_and(|t| t > 1.0e9),
        "{metrics}"
    );
    let text = log(env.dir.path());
    assert!(
        text.lines()
            .any(|l| l.contains("WARN") && l.contains("result=\"held\"")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.contains("WARN")
            && l.contains("held")
            && l.contains(&format!("ConfigMap/{shop}/theirs"))
            && l.contains(&format!("belongs to mooring source `{other}`"))),
        "{text}"
    );

    // The other source lets go (its object is gone): the next drift check
    // finds nothing held (the create is drift: selfHeal is off), and the
    // syncs say success again.
    env.delete("", "ConfigMap", Some(&shop), "theirs").await;
    assert!(
        eventually(|| status(d.port)["result"] == "success").await,
        "{}\n{}",
        status(d.port),
        log(env.dir.path())
    );
    let s = status(d.port);
    assert_eq!(s["held"], json!([]), "{s}");
    assert!(
        eventually(|| sample(
            &d.metrics(),
            "mooring_changes_held",
            &[&source, "reason=\"other_owner\""]
        ) == Some(0.0))
        .await
    );
    assert_eq!(d.stop().await, Some(0));
}

/// With `selfHeal: true`, someone else takes a field with a forced apply
/// (as `kubectl apply --server-side --force-conflicts`): healing conflicts.
/// The daemon logs the failed heal at ERROR with the object and the other
/// field manager, the status says `failed` with the same, and keeps saying
/// it while the syncs in between find nothing new.
async fn a_failed_heal_names_the_object_and_the_other_manager(t: Target) {
    let env = KubeEnv::start(t).await;
    let app = env.name("app");
    let d = start_daemon(
        &env,
        &[("deploy/app.yaml", &cm(&app, "default"))],
        "interval: 200ms, driftInterval: 1s",
        "selfHeal: true\n",
    );
    assert!(
        eventually(|| status(d.port)["result"] == "success").await,
        "{}\n{}",
        status(d.port),
        log(env.dir.path())
    );
    env.apply_as(
        "kubectl-ops",
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": app, "namespace": "default"}, "data": {"k": "theirs"}}),
        true,
    )
    .await;
    let failed = |line: &str| {
        line.contains("ERROR")
            && line.contains("healing a drifted object failed")
            && line.contains(&format!("ConfigMap/default/{app}"))
            && line.contains("conflict with field manager kubectl-ops")
    };
    assert!(
        eventually(|| log(env.dir.path()).lines().any(failed)).await,
        "{}",
        log(env.dir.path())
    );
    let source = format!("source=\"{}\"", env.source);
    let syncs = |m: &str| {
        ["success", "failed"]
            .iter()
            .map(|r| {
                sample(
                    m,
                    "mooring_sync_total",
                    &[&source, &format!("result=\"{r}\"")],
                )
                .unwrap_or(0.0)
            })
            .sum::<f64>()
    };
    // Two syncs that find nothing new after the failed heal: the status
    // still says it failed, and why.
    let after = syncs(&d.metrics());
    assert!(
        eventually(|| syncs(&d.metrics()) >= after + 2.0).await,
        "{}",
        d.metrics()
    );
    let s = status(d.port);
    assert_eq!(s["result"], "failed", "{s}");
    assert!(
        s["error"].as_str().is_some_and(|e| e.contains(&format!(
            "drifted object(s) could not be healed: ConfigMap/default/{app}"
        )) && e.contains("kubectl-ops")),
        "{s}"
    );
    // The object and the backend are said once.
    let error = s["error"].as_str().unwrap_or_default();
    assert_eq!(
        error.matches(&format!("ConfigMap/default/{app}")).count(),
        1,
        "{error}"
    );
    assert!(!error.contains("kubernetes: "), "{error}");
    assert_eq!(
        env.get("", "ConfigMap", Some("default"), &app)
            .await
            .unwrap()["data"]["k"],
        "theirs"
    );

    // Git agrees with the other manager: nothing to heal, success again.
    write(
        &env.dir.path().join("repo"),
        "deploy/app.yaml",
        &cm(&app, "default").replace("k: v", "k: theirs"),
    );
    commit_dir(&env.dir.path().join("repo"), "theirs");
    assert!(
        eventually(|| status(d.port)["result"] == "success").await,
        "{}\n{}",
        status(d.port),
        log(env.dir.path())
    );
    assert_eq!(d.stop().await, Some(0));
}
