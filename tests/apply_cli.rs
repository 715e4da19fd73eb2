//! `mooring apply` and `mooring plan` with targets, end to end: the real
//! binary against the Kubernetes and Flintlock emulators (tests/support,
//! `emulators/`) on loopback. These tests use emulators.

mod support;

use std::path::{Path, PathBuf};

use mooring_emulators::flintlock::{FlintlockEmulator, FlintlockOptions};
use mooring_emulators::kubernetes::{KubeEmulator, KubeOptions};
use serde_json::json;
use support::{Output, write};

struct Env {
    kube: KubeEmulator,
    flintlock: FlintlockEmulator,
    dir: tempfile::TempDir,
}

impl Env {
    async fn start() -> Env {
        Env::with(FlintlockOptions::default()).await
    }

    async fn with(options: FlintlockOptions) -> Env {
        let kube = KubeEmulator::start(KubeOptions::default()).await.unwrap();
        let flintlock = FlintlockEmulator::start(options).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        kube.write_kubeconfig(&dir.path().join("kubeconfig"), "test")
            .unwrap();
        let env = Env {
            kube,
            flintlock,
            dir,
        };
        env.config("prune: false\n");
        env
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes mooring.yaml with both emulators as targets plus `extra`.
    fn config(&self, extra: &str) {
        self.config_with_kube("", extra);
    }

    /// [`Env::config`] with more settings for the Kubernetes target.
    fn config_with_kube(&self, kube: &str, extra: &str) {
        write(
            self.dir.path(),
            "mooring.yaml",
            &format!(
                "source: {{name: test}}\ntargets:\n  kubernetes: {{kubeconfig: {}, context: test, {kube}}}\n  flintlock:\n    - {{name: edge-1, endpoint: '{}'}}\ntimeout: 5s\n{extra}",
                self.path("kubeconfig").display(),
                self.flintlock.endpoint()
            ),
        );
    }

    /// Runs mooring on the manifests in `repo/` with the config.
    async fn run(&self, args: &[&str]) -> Output {
        run_in(self.dir.path(), args).await
    }

    fn copy_examples(&self) {
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/manifests"),
            &self.path("repo"),
        );
    }
}

/// Runs mooring on the manifests in `dir/repo/` with `dir/mooring.yaml`.
async fn run_in(dir: &Path, args: &[&str]) -> Output {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.push(dir.join("repo").display().to_string());
    all.extend([
        "--config".to_string(),
        dir.join("mooring.yaml").display().to_string(),
        "--no-policies".to_string(),
    ]);
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        support::mooring(&refs, Some(&dir))
    })
    .await
    .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

const NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";
const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: shop}\ndata: {level: info}\n";
const VM: &str = "apiVersion: flintlock.liquidmetal.dev/v1alpha1\nkind: MicroVM\nmetadata: {name: runner, namespace: ci}\nspec:\n  vcpu: 2\n  memoryInMb: 2048\n  kernel: {image: 'ghcr.io/liquidmetal-dev/flintlock-kernel:5.10.77', filename: boot/vmlinux}\n  rootVolume: {id: root, source: {containerSource: 'ghcr.io/tidewater/rootfs:1.0'}}\n  interfaces: [{deviceId: eth1, type: TAP}]\n";

fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.code, code,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_applies_and_then_plans_clean() {
    let env = Env::start().await;
    env.copy_examples();
    let plan = env.run(&["plan"]).await;
    assert_code(&plan, 2);
    assert!(plan.stdout.contains("declared"), "{}", plan.stdout);

    let apply = env.run(&["apply", "--yes"]).await;
    assert_code(&apply, 0);
    assert!(apply.stdout.contains("0 failed"), "{}", apply.stdout);
    // The Ignite VMs became microVMs next to the MicroVM manifests.
    let names: Vec<String> = env
        .flintlock
        .vms()
        .iter()
        .filter_map(|vm| vm.spec.as_ref().map(|s| s.id.clone()))
        .collect();
    assert!(names.contains(&"build-cache".to_string()), "{names:?}");
    assert!(names.contains(&"dev-sandbox".to_string()), "{names:?}");

    let again = env.run(&["plan"]).await;
    assert_code(&again, 0);
    assert!(again.stdout.contains("no changes"), "{}", again.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_drift_is_planned_and_healed() {
    let env = Env::start().await;
    // kubectl edit takes ownership of the field it changes: healing it means
    // taking it back.
    env.config_with_kube("forceConflicts: true", "");
    write(&env.path("repo"), "ns.yaml", NS);
    write(&env.path("repo"), "cm.yaml", CM);
    write(&env.path("repo"), "vm.yaml", VM);
    assert_code(&env.run(&["apply", "--yes"]).await, 0);

    env.kube
        .edit_as(
            "kubectl-edit",
            "",
            "ConfigMap",
            Some("shop"),
            "app",
            &json!({"data": {"level": "debug"}}),
        )
        .unwrap();
    env.flintlock.edit("ci", "runner", |s| s.vcpu = 4);

    let plan = env.run(&["plan"]).await;
    assert_code(&plan, 2);
    assert!(
        plan.stdout.contains("~ update ConfigMap/shop/app"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("-  level: debug"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("± replace MicroVM/ci/runner"),
        "{}",
        plan.stdout
    );

    assert_code(&env.run(&["apply", "--yes"]).await, 0);
    assert_code(&env.run(&["plan"]).await, 0);
    let cm = env.kube.get("", "ConfigMap", Some("shop"), "app").unwrap();
    assert_eq!(cm["data"]["level"], "info");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_only_owned_objects_and_only_when_asked() {
    let env = Env::start().await;
    write(&env.path("repo"), "ns.yaml", NS);
    write(&env.path("repo"), "cm.yaml", CM);
    write(&env.path("repo"), "vm.yaml", VM);
    assert_code(&env.run(&["apply", "--yes"]).await, 0);
    // Someone else's object in the same namespace, without mooring's labels.
    env.kube
        .apply_as(
            "helm",
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "theirs", "namespace": "shop"}, "data": {"a": "b"}}),
            false,
        )
        .unwrap();

    std::fs::remove_file(env.path("repo/cm.yaml")).unwrap();
    std::fs::remove_file(env.path("repo/vm.yaml")).unwrap();

    // prune is off in the config: the deletions are shown, not carried out.
    let held = env.run(&["apply", "--yes"]).await;
    assert_code(&held, 0);
    assert!(held.stderr.contains("prune is off"), "{}", held.stderr);
    assert!(env.kube.get("", "ConfigMap", Some("shop"), "app").is_some());

    // 2 of 3 managed objects is above the 30% cap.
    let capped = env.run(&["apply", "--yes", "--prune"]).await;
    assert_code(&capped, 0);
    assert!(
        capped.stderr.contains("exceed the cap"),
        "{}",
        capped.stderr
    );
    assert!(env.kube.get("", "ConfigMap", Some("shop"), "app").is_some());

    let pruned = env
        .run(&["apply", "--yes", "--prune", "--max-deletions", "2"])
        .await;
    assert_code(&pruned, 0);
    assert!(env.kube.get("", "ConfigMap", Some("shop"), "app").is_none());
    assert!(env.flintlock.vms().is_empty());
    assert!(
        env.kube
            .get("", "ConfigMap", Some("shop"), "theirs")
            .is_some(),
        "an object without mooring's labels is never deleted"
    );
    assert_code(&env.run(&["plan"]).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_render_deletes_nothing() {
    let env = Env::start().await;
    env.config("prune: true\nmaxDeletions: 100%\n");
    write(&env.path("repo"), "ns.yaml", NS);
    assert_code(&env.run(&["apply", "--yes"]).await, 0);
    std::fs::remove_file(env.path("repo/ns.yaml")).unwrap();
    let out = env.run(&["apply", "--yes"]).await;
    assert_code(&out, 0);
    assert!(
        out.stderr.contains("rendered set is empty"),
        "{}",
        out.stderr
    );
    assert!(env.kube.get("", "Namespace", None, "shop").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_manifests_apply_nothing() {
    let env = Env::start().await;
    write(&env.path("repo"), "ns.yaml", NS);
    write(
        &env.path("repo"),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: shop}\ndata: {level: 3}\n",
    );
    let out = env.run(&["apply", "--yes"]).await;
    assert_code(&out, 1);
    assert!(out.stderr.contains("cm.yaml:4"), "{}", out.stderr);
    assert!(
        out.stderr.contains("nothing is planned or applied"),
        "{}",
        out.stderr
    );
    assert!(env.kube.get("", "Namespace", None, "shop").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_endpoint_fails_clearly_and_deletes_nothing() {
    let env = Env::start().await;
    env.config("prune: true\nmaxDeletions: 100%\n");
    write(&env.path("repo"), "ns.yaml", NS);
    write(&env.path("repo"), "vm.yaml", VM);
    assert_code(&env.run(&["apply", "--yes"]).await, 0);
    let Env {
        kube,
        flintlock,
        dir,
    } = env;
    flintlock.shutdown().await;
    // Keep the config pointing at the dead endpoint.
    let env_dir = dir;
    std::fs::remove_file(env_dir.path().join("repo/ns.yaml")).unwrap();
    let out = tokio::task::spawn_blocking({
        let d = env_dir.path().to_path_buf();
        move || {
            support::mooring(
                &[
                    "apply",
                    d.join("repo").to_str().unwrap(),
                    "--config",
                    d.join("mooring.yaml").to_str().unwrap(),
                    "--no-policies",
                    "--yes",
                    "--allow-empty",
                    "--force-prune",
                ],
                Some(&d),
            )
        }
    })
    .await
    .unwrap();
    assert_code(&out, 1);
    assert!(out.stdout.contains("unreachable"), "{}", out.stdout);
    // The Kubernetes side went ahead: its Namespace was pruned as asked (a
    // Namespace needs --force-prune), and nothing of the unreachable
    // Flintlock host was touched.
    assert!(kube.get("", "Namespace", None, "shop").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_failure_is_reported_and_a_rerun_converges() {
    let env = Env::start().await;
    write(&env.path("repo"), "ns.yaml", NS);
    write(&env.path("repo"), "cm.yaml", CM);
    write(&env.path("repo"), "vm.yaml", VM);
    // Every apply of the ConfigMap fails with a server error, retries too.
    env.kube.inject(Some("PATCH"), "/configmaps/app", 500, 20);
    let out = env.run(&["apply", "--yes"]).await;
    assert_code(&out, 1);
    assert!(
        out.stdout.contains("✗ create ConfigMap/shop/app"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("1 failed"), "{}", out.stdout);
    assert!(env.kube.get("", "Namespace", None, "shop").is_some());
    assert_eq!(
        env.flintlock.vms().len(),
        1,
        "independent objects went ahead"
    );

    env.kube.clear_faults();
    assert_code(&env.run(&["apply", "--yes"]).await, 0);
    assert_code(&env.run(&["plan"]).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_owned_by_another_manager_is_a_conflict_unless_forced() {
    let env = Env::start().await;
    write(&env.path("repo"), "ns.yaml", NS);
    assert_code(&env.run(&["apply", "--yes"]).await, 0);
    env.kube
        .apply_as(
            "helm",
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", "namespace": "shop"}, "data": {"level": "warn"}}),
            false,
        )
        .unwrap();
    write(&env.path("repo"), "cm.yaml", CM);
    let plan = env.run(&["plan"]).await;
    assert_code(&plan, 2);
    assert!(
        plan.stdout.contains("conflict: helm owns .data.level"),
        "{}",
        plan.stdout
    );
    let out = env.run(&["apply", "--yes"]).await;
    assert_code(&out, 1);
    assert!(
        out.stdout.contains("conflict with field manager helm"),
        "{}",
        out.stdout
    );

    env.config_with_kube("forceConflicts: true", "");
    assert_code(&env.run(&["apply", "--yes"]).await, 0);
    let cm = env.kube.get("", "ConfigMap", Some("shop"), "app").unwrap();
    assert_eq!(cm["data"]["level"], "info");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_flintlock_token_is_an_auth_error() {
    let env = Env::with(FlintlockOptions {
        token: Some("right".into()),
        ..FlintlockOptions::default()
    })
    .await;
    write(env.dir.path(), "token", "wrong\n");
    write(
        env.dir.path(),
        "mooring.yaml",
        &format!(
            "source: {{name: test}}\ntargets:\n  flintlock:\n    - {{name: edge-1, endpoint: '{}', tokenFile: {}}}\n",
            env.flintlock.endpoint(),
            env.path("token").display()
        ),
    );
    write(&env.path("repo"), "vm.yaml", VM);
    let out = env.run(&["plan"]).await;
    assert_code(&out, 1);
    assert!(
        out.stdout.contains("refused the credentials"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("wrong") && !out.stderr.contains("wrong"));

    write(env.dir.path(), "token", "right\n");
    assert_code(&env.run(&["apply", "--yes"]).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_from_git_with_flags_only() {
    let env = Env::start().await;
    write(&env.path("git"), "deploy/ns.yaml", NS);
    support::commit_all(&git2::Repository::init(env.path("git")).unwrap(), "first");
    let git = env.path("git").display().to_string();
    let kubeconfig = env.path("kubeconfig").display().to_string();
    let dir = env.dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        support::mooring(
            &[
                "apply",
                "--repo",
                &git,
                "--path",
                "deploy",
                "--kubeconfig",
                &kubeconfig,
                "--context",
                "test",
                "--no-policies",
                "--yes",
            ],
            Some(&dir),
        )
    })
    .await
    .unwrap();
    assert_code(&out, 0);
    assert!(env.kube.get("", "Namespace", None, "shop").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_source_never_takes_over_the_firsts_objects() {
    let env = Env::start().await;
    write(&env.path("repo"), "ns.yaml", NS);
    write(&env.path("repo"), "cm.yaml", CM);
    assert_code(&env.run(&["apply", "--yes"]).await, 0);
    let other = env
        .run(&["apply", "--yes", "--source-name", "other-team"])
        .await;
    assert_code(&other, 0);
    assert!(
        other.stdout.contains("belongs to mooring source `test`"),
        "{}",
        other.stdout
    );
    let cm = env.kube.get("", "ConfigMap", Some("shop"), "app").unwrap();
    assert_eq!(cm["metadata"]["labels"]["mooring.dev/source"], "test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_manifests_in_json_mode_give_a_json_document() {
    let env = Env::start().await;
    write(
        &env.path("repo"),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {level: 3}\n",
    );
    let out = env.run(&["plan", "-o", "json"]).await;
    assert_code(&out, 1);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["findings"][0]["line"], 4);
}

/// With a target down, no format says "no changes": every headline says the
/// plan is incomplete and names the target, and apply says what it left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_target_makes_every_headline_say_incomplete() {
    let env = Env::start().await;
    write(&env.path("repo"), "ns.yaml", NS);
    write(&env.path("repo"), "vm.yaml", VM);
    assert_code(&env.run(&["apply", "--yes"]).await, 0);
    assert_code(&env.run(&["plan"]).await, 0);
    let Env {
        kube: _kube,
        flintlock,
        dir,
    } = env;
    flintlock.shutdown().await;
    let run = |args: &'static [&'static str]| run_in(dir.path(), args);

    let text = run(&["plan"]).await;
    assert_code(&text, 1);
    let headline = text
        .stdout
        .lines()
        .find(|l| l.starts_with("Plan "))
        .unwrap_or_default()
        .to_string();
    assert!(
        headline.contains("INCOMPLETE: flintlock could not be read"),
        "{}",
        text.stdout
    );
    assert!(headline.contains("1 unchanged"), "{headline}");

    let json = run(&["plan", "-o", "json"]).await;
    assert_code(&json, 1);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["complete"], false, "{}", json.stdout);
    assert_eq!(doc["unobserved"][0]["target"], "flintlock");
    assert!(
        doc["headline"]
            .as_str()
            .is_some_and(|h| h.starts_with("INCOMPLETE: flintlock could not be read")),
        "{}",
        json.stdout
    );

    let md = run(&["plan", "-o", "markdown"]).await;
    assert_code(&md, 1);
    assert!(
        md.stdout
            .starts_with("### mooring plan: INCOMPLETE: flintlock could not be read"),
        "{}",
        md.stdout
    );
    // The error is shown as an error, in the open.
    assert!(md.stdout.contains("**1 error(s):**"), "{}", md.stdout);
    assert!(!md.stdout.contains("warning(s)"), "{}", md.stdout);

    let apply = run(&["apply", "--yes"]).await;
    assert_code(&apply, 1);
    assert!(
        apply
            .stdout
            .contains("Nothing to apply on the targets that were read."),
        "{}",
        apply.stdout
    );
    assert!(
        apply.stderr.contains("flintlock could not be read"),
        "{}",
        apply.stderr
    );
    for out in [&text, &json, &md, &apply] {
        assert!(
            !out.stdout.to_lowercase().contains("no changes"),
            "{}",
            out.stdout
        );
    }
}

/// `-o markdown` on invalid manifests: the comment carries the findings,
/// errors first, instead of nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_manifests_in_markdown_mode_give_the_findings_as_markdown() {
    let env = Env::start().await;
    write(
        &env.path("repo"),
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\ndata: {flag: yes}\n",
    );
    write(
        &env.path("repo"),
        "b.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: shop}\ndata: {level: 3}\n",
    );
    let out = env.run(&["plan", "-o", "markdown"]).await;
    assert_code(&out, 1);
    let md = &out.stdout;
    assert!(
        md.starts_with("### mooring plan: not made, the manifests are invalid"),
        "{md}"
    );
    let error = md.find("b.yaml:4").expect("the error is in the comment");
    let warning = md.find("a.yaml:4").expect("the warning is in the comment");
    assert!(error < warning, "errors first: {md}");
    assert!(md.contains("**1 error(s):**"), "{md}");
    assert!(
        md.contains("<details><summary>1 warning(s)</summary>"),
        "{md}"
    );
    // stderr keeps the plain lines for the CI log.
    assert!(out.stderr.contains("b.yaml:4"), "{}", out.stderr);
}

fn vm(name: &str) -> String {
    VM.replace("name: runner", &format!("name: {name}"))
}

/// Runs `mooring apply --yes` on `dir/repo` in the background, and once a
/// create beyond the `before`-th has reached flintlockd (it answers after
/// 3 s, one request at a time), sends `signal`: the output, after exit.
async fn apply_interrupted(
    dir: &Path,
    flintlock: &FlintlockEmulator,
    before: u64,
    signal: &str,
) -> std::process::Output {
    use std::process::{Command, Stdio};
    let child = Command::new(env!("CARGO_BIN_EXE_mooring"))
        .args(["apply", "--no-policies", "--yes", "--config"])
        .arg(dir.join("mooring.yaml"))
        .arg(dir.join("repo"))
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut arrived = false;
    for _ in 0..600 {
        if flintlock.call_count("CreateMicroVM") > before {
            arrived = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(arrived, "no create arrived");
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success()
    );
    tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap()
}

/// SIGINT or SIGTERM mid-apply: no new change is started, the one in flight
/// finishes, the rest are reported skipped, exit 130 / 143 with a line
/// saying to run apply again; a last apply finishes the job, nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_mid_apply_stops_cleanly_and_a_rerun_finishes() {
    let env = Env::start().await;
    for name in ["a", "b", "c", "d"] {
        write(&env.path("repo"), &format!("{name}.yaml"), &vm(name));
    }
    write(
        env.dir.path(),
        "mooring.yaml",
        &format!(
            "source: {{name: test}}\ntargets:\n  flintlock:\n    - {{name: edge-1, endpoint: '{}'}}\nconcurrency: 1\ntimeout: 20s\n",
            env.flintlock.endpoint()
        ),
    );
    env.flintlock.set_latency(std::time::Duration::from_secs(3));
    let mut created = 0;
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let out = apply_interrupted(env.dir.path(), &env.flintlock, created, signal).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{signal}: {stdout}\n{stderr}"
        );
        let name = if signal == "-INT" {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        assert!(
            stderr.contains(&format!("interrupted by {name}:")),
            "{stderr}"
        );
        assert!(stderr.contains("run apply again to finish"), "{stderr}");
        // The create in flight finished; the others were never started.
        let now = env.flintlock.call_count("CreateMicroVM");
        assert!(now > created && now < 4, "{now} creates: {stdout}");
        assert_eq!(env.flintlock.vms().len() as u64, now, "{stdout}");
        assert!(stdout.contains("✓ create MicroVM/ci/"), "{stdout}");
        assert!(stdout.contains("skipped: not started"), "{stdout}");
        assert!(
            stdout.contains(&format!("{} skipped.", 4 - now)),
            "{stdout}"
        );
        created = now;
    }

    env.flintlock.set_latency(std::time::Duration::ZERO);
    let out = env.run(&["apply", "--yes"]).await;
    assert_code(&out, 0);
    let mut names: Vec<String> = env
        .flintlock
        .vms()
        .iter()
        .filter_map(|v| v.spec.as_ref().map(|s| s.id.clone()))
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b", "c", "d"]);
    assert_eq!(
        env.flintlock.call_count("CreateMicroVM"),
        4,
        "no duplicate create"
    );
}
