//! `mooring apply` and `mooring plan` with targets, end to end: the real
//! binary against a Kubernetes target and the Flintlock emulator
//! (tests/support, `emulators/`) on loopback. The tests that use Kubernetes
//! run one body against both the Kubernetes emulator and a real
//! kube-apiserver (`on_both_targets!`, tests/support/kube_target.rs), with
//! names and a source of their own (the real server is shared); those that
//! stay on the emulator say why.

mod support;

use std::path::{Path, PathBuf};

use mooring_emulators::flintlock::{FlintlockEmulator, FlintlockOptions};
use serde_json::json;
use support::kube_target::{KubeEnv, Target};
use support::{Output, show, write};

struct Env {
    kube: KubeEnv,
    flintlock: FlintlockEmulator,
    dir: tempfile::TempDir,
    /// The test's own Namespace (`shop` made unique).
    shop: String,
}

impl Env {
    async fn start(t: Target) -> Env {
        Env::with(t, FlintlockOptions::default()).await
    }

    async fn with(t: Target, options: FlintlockOptions) -> Env {
        let kube = KubeEnv::start(t).await;
        let flintlock = FlintlockEmulator::start(options).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let shop = kube.name("shop");
        let env = Env {
            kube,
            flintlock,
            dir,
            shop,
        };
        env.config("prune: false\n");
        env
    }

    /// The Namespace manifest.
    fn ns(&self) -> String {
        NS.replace("shop", &self.shop)
    }

    /// The ConfigMap manifest, in the Namespace.
    fn cm(&self) -> String {
        CM.replace("shop", &self.shop)
    }

    /// This test's source name (`source.name` in mooring.yaml).
    fn source(&self) -> &str {
        &self.kube.source
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
                "source: {{name: {}}}\ntargets:\n  kubernetes: {{kubeconfig: {}, context: {}, {kube}}}\n  flintlock:\n    - {{name: edge-1, endpoint: '{}'}}\ntimeout: 5s\n{extra}",
                self.source(),
                self.kube.kubeconfig.display(),
                self.kube.context,
                self.flintlock.endpoint()
            ),
        );
    }

    /// Writes mooring.yaml with the Flintlock emulator as the only target,
    /// `host` more settings of its host, and `extra` at the top level.
    fn flintlock_only_config(&self, host: &str, extra: &str) {
        write(
            self.dir.path(),
            "mooring.yaml",
            &format!(
                "source: {{name: test}}\ntargets:\n  flintlock:\n    - {{name: edge-1, endpoint: '{}'{host}}}\n{extra}",
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

// Emulator only: the examples use fixed Namespaces and the operators' kinds; on
// the real server they are applied with the CRDs `mooring crds` prints, in a
// Namespace of the test's own, by
// `crds_from_mooring_and_the_examples_apply_in_one_run_without_a_perpetual_diff`.
crate::on_both_targets!(
    crds_from_mooring_and_the_examples_apply_in_one_run_without_a_perpetual_diff,
    live_drift_is_planned_and_healed,
    prune_deletes_only_owned_objects_and_only_when_asked,
    an_empty_render_deletes_nothing,
    invalid_manifests_apply_nothing,
    a_down_endpoint_fails_clearly_and_deletes_nothing,
    a_field_owned_by_another_manager_is_a_conflict_unless_forced,
    apply_from_git_with_flags_only,
    a_second_source_never_takes_over_the_firsts_objects,
    an_unreachable_target_makes_every_headline_say_incomplete,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_applies_and_then_plans_clean() {
    let env = Env::start(Target::Emulator).await;
    env.copy_examples();
    let plan = env.run(&["plan"]).await;
    assert_code(&plan, 2);
    assert!(plan.stdout.contains("declared"), "{}", plan.stdout);

    let apply = env.run(&["apply", "--yes", "-o", "json"]).await;
    assert_code(&apply, 0);
    let report: serde_json::Value = serde_json::from_str(&apply.stdout).unwrap();
    support::conforms(&report, "ApplyReport");
    assert_eq!(report["applied"]["failed"], 0, "{}", apply.stdout);
    assert!(report["applied"]["done"].as_u64().unwrap() > 20);
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

/// Users without the operators install the CRDs with mooring: `mooring crds`
/// (the binary's output) sits in the repository next to every file of
/// `examples/manifests`, and one `mooring apply` creates the CRDs, waits until
/// they are Established and served, then applies the objects; the next plan
/// has no change (server defaults from the CRDs, Secrets written with
/// `stringData`, quantities, label and annotation maps included). CRDs are
/// cluster-wide and the real server is shared, so every group gets the test's
/// own prefix, which mooring then does not know (`--allow-unknown-kinds`: the
/// server checks the objects against the CRDs).
async fn crds_from_mooring_and_the_examples_apply_in_one_run_without_a_perpetual_diff(t: Target) {
    let env = Env::start(t).await;
    let crds = support::mooring(&["crds"], None);
    assert_code(&crds, 0);
    let prefix = format!("t{}.", env.kube.id);
    let regroup = |text: &str| {
        text.replace("llamastack.io", &format!("{prefix}llamastack.io"))
            .replace(
                "runtime.wasmcloud.dev",
                &format!("{prefix}runtime.wasmcloud.dev"),
            )
    };
    let ns = env.kube.name("crds");
    write(&env.path("repo"), "crds.yaml", &regroup(&crds.stdout));
    write(
        &env.path("repo"),
        "namespace.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"),
    );
    // One object the server defaults (`spec.replicas`, from the CRD).
    write(
        &env.path("repo"),
        "defaulted.yaml",
        &regroup(&format!(
            "apiVersion: llamastack.io/v1alpha1\nkind: LlamaStackDistribution\nmetadata: {{name: defaulted, namespace: {ns}}}\nspec:\n  server:\n    distribution: {{name: ollama}}\n"
        )),
    );
    // Every example, in Namespaces of the test's own (the Kubernetes
    // objects) and the Flintlock emulator (microVMs, Ignite VMs).
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/manifests");
    copy_dir(&examples, &env.path("repo/examples"));
    let ours = |text: &str| {
        ["ml-platform", "ml-research", "wasm-apps"]
            .iter()
            .fold(regroup(text), |t, n| {
                t.replace(n, &format!("{n}-{}", env.kube.id))
            })
    };
    let mut copied = 0;
    let mut stack = vec![env.path("repo/examples")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                std::fs::write(&path, ours(&text)).unwrap();
                copied += 1;
            }
        }
    }
    assert!(copied >= 25, "{copied} example files");

    let apply = env.run(&["apply", "--yes", "--allow-unknown-kinds"]).await;
    assert_code(&apply, 0);
    assert!(apply.stdout.contains("0 failed"), "{}", apply.stdout);
    let kinds = crds
        .stdout
        .matches("kind: CustomResourceDefinition")
        .count();
    assert_eq!(kinds, 6, "{}", crds.stdout);
    for info in mooring::kinds::crd::kinds() {
        let name = format!(
            "{}.{prefix}{}",
            mooring::kinds::crd::plural(info.kind),
            info.group
        );
        let crd = env
            .kube
            .get(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                None,
                &name,
            )
            .await
            .unwrap_or_else(|| panic!("{name} was not created:\n{}", apply.stdout));
        let established = crd["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Established" && c["status"] == "True");
        assert!(established, "{name} is not Established: {crd}");
    }
    let defaulted = env
        .kube
        .get(
            &format!("{prefix}llamastack.io"),
            "LlamaStackDistribution",
            Some(&ns),
            "defaulted",
        )
        .await
        .expect("the LlamaStackDistribution without replicas was created");
    if t == Target::Real {
        // The emulator defaults only what docs/emulator-gaps.md lists.
        assert_eq!(defaulted["spec"]["replicas"], 1, "{defaulted}");
    }

    // The Ignite VMs became microVMs next to the MicroVM manifests.
    let names = support::vm_names(&env.flintlock);
    assert!(names.contains(&"build-cache".to_string()), "{names:?}");
    assert!(names.contains(&"dev-sandbox".to_string()), "{names:?}");

    let again = env.run(&["plan", "--allow-unknown-kinds"]).await;
    assert_code(&again, 0);
    assert!(again.stdout.contains("no changes"), "{}", again.stdout);
}

/// Real server only: the emulator serves no Deployments and defaults almost
/// nothing (docs/emulator-gaps.md). A Deployment gets a dozen fields from the
/// server's defaulting (strategy, revisionHistoryLimit, progressDeadlineSeconds,
/// the pod template's restartPolicy, dnsPolicy, terminationMessagePath...): none
/// of them is a change, and a change in Git shows as exactly its own lines, as
/// `kubectl diff --server-side` shows them (without `metadata.generation`, which
/// mooring leaves out of every diff with the other server-set metadata).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_defaulted_deployment_diffs_only_what_git_changed() {
    let env = Env::start(Target::Real).await;
    let deployment = |replicas: u32, tag: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: {}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n        - name: web\n          image: registry.example/web:{tag}\n          ports: [{{containerPort: 8080}}]\n",
            env.shop
        )
    };
    write(&env.path("repo"), "ns.yaml", &env.ns());
    write(&env.path("repo"), "deploy.yaml", &deployment(1, "1.0"));
    let apply = env.run(&["apply", "--yes", "--allow-unknown-kinds"]).await;
    assert_code(&apply, 0);
    let live = env
        .kube
        .get("apps", "Deployment", Some(&env.shop), "web")
        .await
        .unwrap();
    assert_eq!(
        live["spec"]["revisionHistoryLimit"], 10,
        "the server defaulted it: {live}"
    );
    let again = env.run(&["plan", "--allow-unknown-kinds"]).await;
    assert_code(&again, 0);
    assert!(again.stdout.contains("no changes"), "{}", again.stdout);

    write(&env.path("repo"), "deploy.yaml", &deployment(3, "1.1"));
    let plan = env.run(&["plan", "--allow-unknown-kinds"]).await;
    assert_code(&plan, 2);
    let changed = support::changed_lines(&plan.stdout);
    assert_eq!(
        changed,
        vec![
            "-  replicas: 1",
            "+  replicas: 3",
            "-        - image: \"registry.example/web:1.0\"",
            "+        - image: \"registry.example/web:1.1\"",
        ],
        "{}",
        plan.stdout
    );
}

async fn live_drift_is_planned_and_healed(t: Target) {
    let env = Env::start(t).await;
    // kubectl edit takes ownership of the field it changes: healing it means
    // taking it back.
    env.config_with_kube("forceConflicts: true", "");
    write(&env.path("repo"), "ns.yaml", &env.ns());
    write(&env.path("repo"), "cm.yaml", &env.cm());
    write(&env.path("repo"), "vm.yaml", VM);
    assert_code(&env.run(&["apply", "--yes"]).await, 0);

    env.kube
        .edit_as(
            "kubectl-edit",
            "",
            "ConfigMap",
            Some(env.shop.as_str()),
            "app",
            &json!({"data": {"level": "debug"}}),
        )
        .await;
    env.flintlock.edit("ci", "runner", |s| s.vcpu = 4);

    let plan = env.run(&["plan"]).await;
    assert_code(&plan, 2);
    assert!(
        plan.stdout
            .contains(&format!("~ update ConfigMap/{}/app", env.shop)),
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
    let cm = env
        .kube
        .get("", "ConfigMap", Some(env.shop.as_str()), "app")
        .await
        .unwrap();
    assert_eq!(cm["data"]["level"], "info");
}

async fn prune_deletes_only_owned_objects_and_only_when_asked(t: Target) {
    let env = Env::start(t).await;
    write(&env.path("repo"), "ns.yaml", &env.ns());
    write(&env.path("repo"), "cm.yaml", &env.cm());
    write(&env.path("repo"), "vm.yaml", VM);
    assert_code(&env.run(&["apply", "--yes"]).await, 0);
    // Someone else's object in the same namespace, without mooring's labels.
    env.kube
        .apply_as(
            "helm",
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "theirs", "namespace": env.shop}, "data": {"a": "b"}}),
            false,
        )
        .await;

    std::fs::remove_file(env.path("repo/cm.yaml")).unwrap();
    std::fs::remove_file(env.path("repo/vm.yaml")).unwrap();

    // prune is off in the config: the deletions are shown, not carried out.
    let held = env.run(&["apply", "--yes"]).await;
    assert_code(&held, 0);
    assert!(held.stderr.contains("prune is off"), "{}", held.stderr);
    assert!(
        env.kube
            .get("", "ConfigMap", Some(env.shop.as_str()), "app")
            .await
            .is_some()
    );

    // 2 of 3 managed objects is above the 30% cap: held, which is not a
    // success.
    let capped = env.run(&["apply", "--yes", "--prune"]).await;
    assert_code(&capped, 1);
    assert!(capped.stderr.contains("held: delete"), "{}", capped.stderr);
    assert!(
        capped.stderr.contains("exceed the cap"),
        "{}",
        capped.stderr
    );
    assert!(
        env.kube
            .get("", "ConfigMap", Some(env.shop.as_str()), "app")
            .await
            .is_some()
    );

    let pruned = env
        .run(&["apply", "--yes", "--prune", "--max-deletions", "2"])
        .await;
    assert_code(&pruned, 0);
    assert!(
        env.kube
            .get("", "ConfigMap", Some(env.shop.as_str()), "app")
            .await
            .is_none()
    );
    assert!(env.flintlock.vms().is_empty());
    assert!(
        env.kube
            .get("", "ConfigMap", Some(env.shop.as_str()), "theirs")
            .await
            .is_some(),
        "an object without mooring's labels is never deleted"
    );
    assert_code(&env.run(&["plan"]).await, 0);
}

async fn an_empty_render_deletes_nothing(t: Target) {
    let env = Env::start(t).await;
    env.config("prune: true\nmaxDeletions: 100%\n");
    write(&env.path("repo"), "ns.yaml", &env.ns());
    assert_code(&env.run(&["apply", "--yes"]).await, 0);
    std::fs::remove_file(env.path("repo/ns.yaml")).unwrap();
    let out = env.run(&["apply", "--yes"]).await;
    // Held, not applied: exit 1.
    assert_code(&out, 1);
    assert!(
        out.stderr.contains("rendered set is empty"),
        "{}",
        out.stderr
    );
    assert!(
        env.kube
            .get("", "Namespace", None, &env.shop)
            .await
            .is_some()
    );
}

async fn invalid_manifests_apply_nothing(t: Target) {
    let env = Env::start(t).await;
    write(&env.path("repo"), "ns.yaml", &env.ns());
    write(
        &env.path("repo"),
        "cm.yaml",
        &"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: shop}\ndata: {level: 3}\n"
            .replace("shop", &env.shop),
    );
    let out = env.run(&["apply", "--yes"]).await;
    assert_code(&out, 1);
    assert!(out.stderr.contains("cm.yaml:4"), "{}", out.stderr);
    assert!(
        out.stderr.contains("nothing is planned or applied"),
        "{}",
        out.stderr
    );
    assert!(
        env.kube
            .get("", "Namespace", None, &env.shop)
            .await
            .is_none()
    );
}

async fn a_down_endpoint_fails_clearly_and_deletes_nothing(t: Target) {
    let env = Env::start(t).await;
    env.config("prune: true\nmaxDeletions: 100%\n");
    write(&env.path("repo"), "ns.yaml", &env.ns());
    write(&env.path("repo"), "vm.yaml", VM);
    assert_code(&env.run(&["apply", "--yes"]).await, 0);
    let Env {
        kube,
        flintlock,
        dir,
        shop,
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
    // On a real server the Namespace may still be Terminating (its
    // finalizer) when apply has waited its timeout.
    let ns = kube.get("", "Namespace", None, &shop).await;
    assert!(
        ns.as_ref()
            .is_none_or(|ns| ns["metadata"]["deletionTimestamp"].is_string()),
        "{ns:?}"
    );
}

// Emulator only: it injects server errors, which a real server does not give on
// demand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_failure_is_reported_and_a_rerun_converges() {
    let env = Env::start(Target::Emulator).await;
    write(&env.path("repo"), "ns.yaml", &env.ns());
    write(&env.path("repo"), "cm.yaml", &env.cm());
    write(&env.path("repo"), "vm.yaml", VM);
    // Every apply of the ConfigMap fails with a server error, retries too.
    let emu = env.kube.emu().unwrap();
    emu.inject(Some("PATCH"), "/configmaps/app", 500, 20);
    let out = env.run(&["apply", "--yes"]).await;
    assert_code(&out, 1);
    assert!(
        out.stdout
            .contains(&format!("✗ create ConfigMap/{}/app", env.shop)),
        "{}",
        out.stdout
    );
    // The summary the README shows.
    assert!(
        out.stdout.contains(
            "\nApplied: 2 done, 1 failed, 0 skipped. Run apply again once the failures are fixed: it only does what is left.\n"
        ),
        "{}",
        out.stdout
    );
    assert!(
        env.kube
            .get("", "Namespace", None, &env.shop)
            .await
            .is_some()
    );
    assert_eq!(
        env.flintlock.vms().len(),
        1,
        "independent objects went ahead"
    );

    emu.clear_faults();
    assert_code(&env.run(&["apply", "--yes"]).await, 0);
    assert_code(&env.run(&["plan"]).await, 0);
}

async fn a_field_owned_by_another_manager_is_a_conflict_unless_forced(t: Target) {
    let env = Env::start(t).await;
    write(&env.path("repo"), "ns.yaml", &env.ns());
    assert_code(&env.run(&["apply", "--yes"]).await, 0);
    env.kube
        .apply_as(
            "helm",
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", "namespace": env.shop}, "data": {"level": "warn"}}),
            false,
        )
        .await;
    write(&env.path("repo"), "cm.yaml", &env.cm());
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

    // The flag forces as `forceConflicts: true` does (which
    // `live_drift_is_planned_and_healed` sets in the file).
    assert_code(&env.run(&["apply", "--yes", "--force-conflicts"]).await, 0);
    let cm = env
        .kube
        .get("", "ConfigMap", Some(env.shop.as_str()), "app")
        .await
        .unwrap();
    assert_eq!(cm["data"]["level"], "info");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_flintlock_token_is_an_auth_error() {
    // Flintlock only; the Kubernetes emulator is unused.
    let env = Env::with(
        Target::Emulator,
        FlintlockOptions {
            token: Some("right".into()),
            ..FlintlockOptions::default()
        },
    )
    .await;
    write(env.dir.path(), "token", "wrong\n");
    env.flintlock_only_config(&format!(", tokenFile: {}", env.path("token").display()), "");
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

/// On a terminal, a slow microVM create shows a status line saying what
/// apply waits for and for how long (`waiting 1s: MicroVM/ci/runner
/// [flintlock] to be CREATED on edge-1 (PENDING)`), cleared before the
/// summary; into a pipe it shows nothing of the kind. The terminal is
/// util-linux's `script`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_microvm_create_shows_what_apply_waits_for_on_a_terminal() {
    // Flintlock only; the Kubernetes emulator is unused.
    let env = Env::with(
        Target::Emulator,
        FlintlockOptions {
            create_delay: std::time::Duration::from_secs(4),
            ..FlintlockOptions::default()
        },
    )
    .await;
    env.flintlock_only_config("", "");
    write(&env.path("repo"), "vm.yaml", VM);
    let dir = env.dir.path().to_path_buf();
    let shell = |args: &str| {
        format!(
            "'{}' {args} '{}' --config '{}' --no-policies --yes",
            env!("CARGO_BIN_EXE_mooring"),
            dir.join("repo").display(),
            dir.join("mooring.yaml").display()
        )
    };
    let command = shell("apply");
    let out = tokio::task::spawn_blocking(move || {
        let mut script = std::process::Command::new("script");
        for name in ["RUST_LOG", "NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE"] {
            script.env_remove(name);
        }
        script
            .args(["-qec", &format!("exec {command}"), "/dev/null"])
            .stdin(std::process::Stdio::null())
            .output()
    })
    .await
    .unwrap();
    let out = match out {
        Ok(out) => out,
        Err(e) => panic!("cannot run util-linux's script: {e}"),
    };
    let seen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{seen}");
    // Redrawn on each poll, with the time waited so far (polls back off
    // from 50 ms to 2 s: some fall after the first second).
    let line = "s: MicroVM/ci/runner [flintlock] to be CREATED on edge-1 (PENDING)";
    let waited: Vec<u64> = seen
        .split("\rwaiting ")
        .skip(1)
        .filter_map(|rest| rest.split_once(line))
        .filter_map(|(secs, _)| secs.parse().ok())
        .collect();
    assert!(waited.first() == Some(&0), "{seen:?}");
    assert!(waited.iter().any(|s| *s >= 1), "{waited:?} {seen:?}");
    // The line is taken away before the result and the summary.
    let summary = seen
        .find("Applied: 1 done")
        .expect("the summary is printed");
    let last_wait = seen.rfind("waiting").unwrap();
    let shown = seen[last_wait..].split('\r').next().unwrap();
    let blank = format!("\r{}\r", " ".repeat(shown.chars().count()));
    assert!(seen[last_wait..summary].contains(&blank), "{seen:?}");

    // Into a pipe: no status line (the microVM removed behind mooring's
    // back, so that it is created once more).
    env.flintlock.remove("ci", "runner");
    let piped = env.run(&["apply", "--yes"]).await;
    assert_code(&piped, 0);
    assert!(!piped.stderr.contains("waiting"), "{}", piped.stderr);
    assert!(!piped.stdout.contains("waiting"), "{}", piped.stdout);
}

async fn apply_from_git_with_flags_only(t: Target) {
    let env = Env::start(t).await;
    write(&env.path("git"), "deploy/ns.yaml", &env.ns());
    support::commit_all(&support::git_init(&env.path("git")), "first");
    let git = env.path("git").display().to_string();
    let kubeconfig = env.kube.kubeconfig.display().to_string();
    let context = env.kube.context.clone();
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
                &context,
                "--no-policies",
                "--yes",
            ],
            Some(&dir),
        )
    })
    .await
    .unwrap();
    assert_code(&out, 0);
    assert!(
        env.kube
            .get("", "Namespace", None, &env.shop)
            .await
            .is_some()
    );
}

async fn a_second_source_never_takes_over_the_firsts_objects(t: Target) {
    let env = Env::start(t).await;
    write(&env.path("repo"), "ns.yaml", &env.ns());
    write(&env.path("repo"), "cm.yaml", &env.cm());
    assert_code(&env.run(&["apply", "--yes"]).await, 0);
    let other = env
        .run(&["apply", "--yes", "--source-name", &env.kube.name("other")])
        .await;
    // Held, with the owner named, and not a success.
    assert_code(&other, 1);
    assert!(
        other
            .stderr
            .contains(&format!("held: update ConfigMap/{}/app", env.shop)),
        "{}",
        other.stderr
    );
    assert!(
        other
            .stdout
            .contains(&format!("belongs to mooring source `{}`", env.source())),
        "{}",
        other.stdout
    );
    let cm = env
        .kube
        .get("", "ConfigMap", Some(env.shop.as_str()), "app")
        .await
        .unwrap();
    assert_eq!(cm["metadata"]["labels"]["mooring.dev/source"], env.source());
}

// Emulator only: invalid manifests stop mooring before any request to a target.
/// `apply` and `plan` read the desired side without what `--exclude`, the
/// source's `exclude:` and `.mooringignore` files leave out. About reading,
/// not the target: emulator only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_and_plan_leave_out_what_the_source_excludes() {
    let env = Env::start(Target::Emulator).await;
    write(&env.path("repo"), "ns.yaml", &env.ns());
    write(
        &env.path("repo"),
        "cm.json",
        &json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "app", "namespace": env.shop},
            "data": {"level": "info"},
        })
        .to_string(),
    );
    write(&env.path("repo"), "values.yaml", "replicas: 2\n");
    write(&env.path("repo"), "app/settings.json", "{\"port\": 8080}\n");
    write(&env.path("repo"), "app/.mooringignore", "*.json\n");
    let out = env.run(&["apply", "--yes"]).await;
    assert_code(&out, 1);
    assert!(
        out.stderr
            .contains("values.yaml:1: not a Kubernetes manifest"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("settings.json"), "{}", out.stderr);
    let out = env
        .run(&["apply", "--yes", "--exclude", "values.yaml"])
        .await;
    assert_code(&out, 0);
    let cm = env.kube.get("", "ConfigMap", Some(&env.shop), "app").await;
    assert_eq!(cm.map(|c| c["data"]["level"].clone()), Some(json!("info")));
    // mooring.yaml's source.exclude, without the flag.
    let config = env.path("mooring.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let name = format!("source: {{name: {}}}", env.source());
    assert!(text.contains(&name), "{text}");
    std::fs::write(
        &config,
        text.replace(
            &name,
            &format!("source: {{name: {}, exclude: [values.yaml]}}", env.source()),
        ),
    )
    .unwrap();
    let out = env.run(&["plan"]).await;
    assert_code(&out, 0);
    assert!(
        out.stdout.contains("no changes (2 unchanged)"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_manifests_in_json_mode_give_a_json_document() {
    let env = Env::start(Target::Emulator).await;
    write(
        &env.path("repo"),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {level: 3}\n",
    );
    let out = env.run(&["plan", "-o", "json"]).await;
    assert_code(&out, 1);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    support::conforms(&doc, "Plan");
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["findings"][0]["line"], 4);
}

/// With a target down, no format says "no changes": every headline says the
/// plan is incomplete and names the target, and apply says what it left.
async fn an_unreachable_target_makes_every_headline_say_incomplete(t: Target) {
    let env = Env::start(t).await;
    write(&env.path("repo"), "ns.yaml", &env.ns());
    write(&env.path("repo"), "vm.yaml", VM);
    assert_code(&env.run(&["apply", "--yes"]).await, 0);
    assert_code(&env.run(&["plan"]).await, 0);
    let Env {
        kube: _kube,
        flintlock,
        dir,
        ..
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
    support::conforms(&doc, "Plan");
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
// Emulator only: invalid manifests stop mooring before any request to a target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_manifests_in_markdown_mode_give_the_findings_as_markdown() {
    let env = Env::start(Target::Emulator).await;
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
    let child = support::mooring_command()
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
// Flintlock only (its emulator's latency); the Kubernetes emulator is unused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_mid_apply_stops_cleanly_and_a_rerun_finishes() {
    let env = Env::start(Target::Emulator).await;
    for name in ["a", "b", "c", "d"] {
        write(&env.path("repo"), &format!("{name}.yaml"), &vm(name));
    }
    env.flintlock_only_config("", "concurrency: 1\ntimeout: 20s\n");
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
    assert_eq!(support::vm_names(&env.flintlock), ["a", "b", "c", "d"]);
    assert_eq!(
        env.flintlock.call_count("CreateMicroVM"),
        4,
        "no duplicate create"
    );
}

/// A Deployment `web` of `replicas` in `namespace`.
fn web_deployment(namespace: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: {namespace}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n        - name: web\n          image: registry.example/web:1.0\n"
    )
}

/// `apply --wait` judges health by kstatus's rules. The real test server
/// has no controllers, so the test writes the Deployment's status itself
/// (the status subresource), as envtest users do: without a status the
/// rollout is in progress and the wait times out naming it; with the
/// status of an unavailable Deployment it is still named, with why; once
/// the status says available, `apply --wait` passes. Real server only: the
/// emulator serves no Deployments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_wait_reports_an_unavailable_deployment_and_passes_once_available() {
    let env = Env::start(Target::Real).await;
    write(&env.path("repo"), "ns.yaml", &env.ns());
    write(
        &env.path("repo"),
        "deploy.yaml",
        &web_deployment(&env.shop, 2),
    );
    let wait = ["apply", "--yes", "--wait", "--timeout", "2s"];
    let first = env.run(&wait).await;
    assert_code(&first, 1);
    let object = format!("Deployment/{}/web", env.shop);
    assert!(
        first.stderr.contains(&format!(
            "still in progress after 2s: {object}: updated replicas: 0/2"
        )),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("1 of 2 object(s) healthy"),
        "{}",
        first.stderr
    );

    let set_status = |status: serde_json::Value| {
        let client = env.kube.client();
        let shop = env.shop.clone();
        async move {
            let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
                kube::Api::namespaced(client, &shop);
            api.patch_status(
                "web",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(serde_json::json!({"status": status})),
            )
            .await
            .unwrap();
        }
    };
    set_status(serde_json::json!({
        "observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 1, "availableReplicas": 1,
        "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
            "message": "Deployment does not have minimum availability.",
            "lastTransitionTime": "2026-12-05T00:00:00Z", "lastUpdateTime": "2026-12-05T00:00:00Z"}]
    }))
    .await;
    let unavailable = env.run(&wait).await;
    assert_code(&unavailable, 1);
    assert!(
        unavailable.stderr.contains(&format!(
            "{object}: available replicas: 1/2 (MinimumReplicasUnavailable: Deployment does not have minimum availability.)"
        )),
        "{}",
        unavailable.stderr
    );

    set_status(serde_json::json!({
        "observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2, "readyReplicas": 2,
        "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
            "message": "Deployment has minimum availability.",
            "lastTransitionTime": "2026-12-05T00:00:00Z", "lastUpdateTime": "2026-12-05T00:00:00Z"}]
    }))
    .await;
    let available = env.run(&wait).await;
    assert_code(&available, 0);
    assert!(
        available.stderr.contains("2 of 2 object(s) healthy"),
        "{}",
        available.stderr
    );
}

/// `mooring.dev/depends-on`: a ConfigMap that depends on a Deployment is
/// applied only once the Deployment is healthy. Without a status (no
/// controller on the test server) the ConfigMap is skipped, naming why;
/// once the test writes an available status, the next apply creates it.
/// A cycle is an error of the plan, naming it. Real server only: the
/// emulator serves no Deployments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depends_on_waits_for_the_dependency_to_be_healthy() {
    let env = Env::start(Target::Real).await;
    write(&env.path("repo"), "ns.yaml", &env.ns());
    write(
        &env.path("repo"),
        "deploy.yaml",
        &web_deployment(&env.shop, 1),
    );
    let cm = |deps: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: after-web\n  namespace: {}\n  annotations: {{mooring.dev/depends-on: '{deps}'}}\ndata: {{ready: 'yes'}}\n",
            env.shop
        )
    };
    let web = format!("Deployment/{}/web", env.shop);
    write(&env.path("repo"), "cm.yaml", &cm(&web));
    let first = env.run(&["apply", "--yes", "--timeout", "2s"]).await;
    assert_code(&first, 1);
    assert!(
        first.stdout.contains(&format!(
            "it depends on what is not healthy (mooring.dev/depends-on): {web} is still in progress after 2s: updated replicas: 0/1"
        )),
        "{}",
        show(&first)
    );
    assert!(
        env.kube
            .get("", "ConfigMap", Some(&env.shop), "after-web")
            .await
            .is_none(),
        "applied before its dependency was healthy"
    );
    assert!(
        env.kube
            .get("apps", "Deployment", Some(&env.shop), "web")
            .await
            .is_some()
    );

    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(env.kube.client(), &env.shop);
    api.patch_status(
        "web",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(serde_json::json!({"status": {
            "observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1
        }})),
    )
    .await
    .unwrap();
    let second = env.run(&["apply", "--yes", "--timeout", "2s"]).await;
    assert_code(&second, 0);
    assert!(
        env.kube
            .get("", "ConfigMap", Some(&env.shop), "after-web")
            .await
            .is_some()
    );

    // A cycle can never be applied: an error at the object, naming it.
    let me = format!("ConfigMap/{}/after-web", env.shop);
    write(&env.path("repo"), "cm.yaml", &cm(&me));
    let cycle = env.run(&["plan"]).await;
    assert_code(&cycle, 1);
    assert!(
        format!("{}{}", cycle.stdout, cycle.stderr).contains(&format!(
            "mooring.dev/depends-on makes a cycle, which can never be applied: {me} → {me}"
        )),
        "{}",
        show(&cycle)
    );
}
