//! Kustomize and Helm folders, rendered by the real `kustomize` and `helm`
//! (built from their Go modules by scripts/tools) in the one desired-side
//! pipeline: `validate`, a Git-to-Git `plan`, and the daemon applying and
//! pruning an overlay on both Kubernetes targets (issue 18).

mod support;

use std::path::Path;

use support::kube_target::{KubeEnv, Target};
use support::tools::{helm, kustomize};
use support::{commit_all, git_init, mooring, show, write};

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.27
";

/// base (a Deployment, a ConfigMap generator) and overlays/prod (a
/// namePrefix and a replicas patch), as Kustomize's own examples lay out.
fn overlay(dir: &Path, replicas: u32) {
    write(
        dir,
        "base/kustomization.yaml",
        "resources: [dep.yaml]\nconfigMapGenerator:\n  - name: web-config\n    literals: [LEVEL=info]\n",
    );
    write(dir, "base/dep.yaml", DEPLOYMENT);
    write(
        dir,
        "overlays/prod/kustomization.yaml",
        "resources: [../../base]\nnamePrefix: prod-\nnamespace: shop\npatches:\n  - path: replicas.yaml\n",
    );
    write(
        dir,
        "overlays/prod/replicas.yaml",
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {replicas}\n"
        ),
    );
}

/// What a command printed, both streams.
fn all(out: &support::Output) -> String {
    format!("{}{}", out.stdout, out.stderr)
}

fn validate(dir: &Path, args: &[&str]) -> support::Output {
    let k = kustomize();
    let h = helm();
    let mut all = vec!["validate", "--no-policies", "--kustomize", &k, "--helm", &h];
    all.extend_from_slice(args);
    mooring(&all, Some(dir))
}

#[test]
fn an_overlay_validates_and_an_error_in_its_base_is_reported_in_the_base() {
    let dir = tempfile::tempdir().unwrap();
    overlay(dir.path(), 3);
    let ok = validate(dir.path(), &["overlays/prod"]);
    assert_eq!(ok.code, 0, "{}", show(&ok));
    // Two objects rendered; the kustomization is not loaded as an object.
    assert!(all(&ok).contains("2 documents in"), "{}", show(&ok));

    // `contianers` on line 13 of the base: reported there, under the
    // rendered name.
    write(
        dir.path(),
        "base/dep.yaml",
        &DEPLOYMENT.replace(
            "      containers:",
            "      contianers: []\n      containers:",
        ),
    );
    let bad = validate(dir.path(), &["overlays/prod"]);
    assert_eq!(bad.code, 1, "{}", show(&bad));
    assert!(
        all(&bad).contains(
            "base/dep.yaml:13: Deployment/shop/prod-web: spec.template.spec.contianers: unknown field"
        ),
        "{}",
        show(&bad)
    );
    // From the repository's root: the base is rendered through the
    // overlay that names it, not on its own as well.
    let root = validate(dir.path(), &["."]);
    assert_eq!(root.code, 1, "{}", show(&root));
    assert_eq!(
        all(&root).matches("contianers").count(),
        1,
        "{}",
        show(&root)
    );
}

#[test]
fn two_overlays_of_one_base_validate_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    overlay(dir.path(), 3);
    write(
        dir.path(),
        "overlays/staging/kustomization.yaml",
        "resources: [../../base]\nnamePrefix: prod-\nnamespace: shop\n",
    );
    // The same objects from two overlays: each render is checked on its
    // own, as `kustomize build DIR | kubeconform` checks it.
    let out = validate(dir.path(), &["."]);
    assert_eq!(out.code, 0, "{}", show(&out));
    assert!(all(&out).contains("4 documents in"), "{}", show(&out));
}

#[test]
fn a_remote_base_is_refused_before_kustomize_runs() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app/kustomization.yaml",
        "resources:\n  - github.com/acme/platform//base?ref=v1.2.0\n  - https://raw.githubusercontent.com/acme/x/main/cm.yaml\n",
    );
    let out = validate(dir.path(), &["app"]);
    assert_eq!(out.code, 1, "{}", show(&out));
    for entry in [
        "github.com/acme/platform//base?ref=v1.2.0",
        "https://raw.githubusercontent.com/acme/x/main/cm.yaml",
    ] {
        assert!(
            all(&out).contains(&format!(
                "app/kustomization.yaml:1: remote base or resource {entry} is refused"
            )),
            "{}",
            show(&out)
        );
    }
    assert!(all(&out).contains("allowRemote: true"), "{}", show(&out));
}

/// An executable shell script `DIR/name` standing in for kustomize: it
/// answers `version`, and runs `build` for anything else.
fn fake_kustomize(dir: &Path, name: &str, build: &str) -> String {
    let script = dir.join(name);
    std::fs::write(
        &script,
        format!("#!/bin/sh\nif [ \"$1\" = version ]; then echo v5.0.0-test; exit 0; fi\n{build}"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.display().to_string()
}

/// A kustomize that never finishes a build, leaving a child of its own
/// behind, and writes its environment where the test reads it.
fn hanging_kustomize(dir: &Path) -> String {
    let env_file = dir.join("env.txt");
    fake_kustomize(
        dir,
        "kustomize",
        &format!("env > '{}'\nsleep 600 &\nsleep 600\n", env_file.display()),
    )
}

#[test]
fn a_render_that_hangs_is_killed_at_its_deadline_and_sees_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    overlay(dir.path(), 3);
    let fake = hanging_kustomize(dir.path());
    let out = support::mooring_env(
        &[
            "validate",
            "--no-policies",
            "--kustomize",
            &fake,
            "--render-timeout",
            "1s",
            "overlays/prod",
        ],
        Some(dir.path()),
        &[
            ("KUBECONFIG", "/secret/kubeconfig"),
            ("MOORING_GIT_TOKEN", "s3cr3t"),
            ("HTTPS_PROXY", "http://proxy.corp:3128"),
        ],
    );
    assert_eq!(out.code, 1, "{}", show(&out));
    assert!(
        all(&out).contains(
            "overlays/prod/kustomization.yaml:1: kustomize on overlays/prod: did not finish within 1s and was stopped"
        ),
        "{}",
        show(&out)
    );
    let env = std::fs::read_to_string(dir.path().join("env.txt")).unwrap();
    assert!(!env.contains("KUBECONFIG"), "{env}");
    assert!(!env.contains("s3cr3t"), "{env}");
    assert!(!env.contains("proxy.corp"), "{env}");
    // Remote access is off: the network goes nowhere.
    assert!(env.contains("HTTPS_PROXY=http://127.0.0.1:9"), "{env}");
}

#[test]
fn a_missing_renderer_is_named_with_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    overlay(dir.path(), 3);
    let out = mooring(
        &[
            "validate",
            "--no-policies",
            "--kustomize",
            "/nonexistent/kustomize",
            "overlays/prod",
        ],
        Some(dir.path()),
    );
    assert_eq!(out.code, 1, "{}", show(&out));
    assert!(
        all(&out).contains("overlays/prod/kustomization.yaml:1: kustomize is needed to render this folder, and `/nonexistent/kustomize` was not found"),
        "{}",
        show(&out)
    );
    assert!(
        all(&out).contains("scripts/tools build kustomize"),
        "{}",
        show(&out)
    );
}

fn git_plan(repo: &Path, path: &str, against: &str, extra: &[&str]) -> support::Output {
    let k = kustomize();
    let h = helm();
    let repo = repo.display().to_string();
    let mut args = vec![
        "plan",
        "--no-policies",
        "--kustomize",
        &k,
        "--helm",
        &h,
        "--repo",
        &repo,
        "--path",
        path,
        "--against-ref",
        against,
    ];
    args.extend_from_slice(extra);
    mooring(&args, None)
}

#[test]
fn a_git_to_git_plan_of_a_patch_change_shows_exactly_the_changed_field() {
    let dir = tempfile::tempdir().unwrap();
    let repo = git_init(dir.path());
    overlay(dir.path(), 3);
    let first = commit_all(&repo, "three").to_string();
    overlay(dir.path(), 5);
    commit_all(&repo, "five");

    // The overlay names ../../base, outside --path: the whole revision is
    // checked out for Kustomize.
    let out = git_plan(dir.path(), "overlays/prod", &first, &[]);
    assert_eq!(out.code, 2, "{}", show(&out));
    assert!(
        out.stdout
            .contains("0 to create, 1 to update, 0 to delete, 1 unchanged"),
        "{}",
        show(&out)
    );
    assert!(
        out.stdout
            .contains("~ update Deployment/shop/prod-web  (base/dep.yaml:1)"),
        "{}",
        show(&out)
    );
    let diff = support::changed_lines(&out.stdout);
    assert_eq!(diff, ["-  replicas: 3", "+  replicas: 5"], "{}", show(&out));
    // The origin annotations mooring asked Kustomize for never show.
    assert!(
        !out.stdout.contains("config.kubernetes.io/origin"),
        "{}",
        show(&out)
    );

    // The work tree against a revision renders the same way, in place.
    overlay(dir.path(), 7);
    let k = kustomize();
    let work = mooring(
        &[
            "plan",
            "--no-policies",
            "--kustomize",
            &k,
            &dir.path().join("overlays/prod").display().to_string(),
            "--against-ref",
            &first,
        ],
        None,
    );
    assert_eq!(work.code, 2, "{}", show(&work));
    assert!(work.stdout.contains("+  replicas: 7"), "{}", show(&work));
}

const CHART: &str = "apiVersion: v2\nname: web\nversion: 0.1.0\n";
const TEMPLATE: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: \"nginx:{{ .Values.tag }}\"
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector: {app: web}
  ports: [{port: 80}]
";

#[test]
fn a_chart_values_change_plans_the_changed_objects_only() {
    let dir = tempfile::tempdir().unwrap();
    let repo = git_init(dir.path());
    write(dir.path(), "deploy/web/Chart.yaml", CHART);
    write(
        dir.path(),
        "deploy/web/values.yaml",
        "replicas: 1\ntag: \"1.27\"\n",
    );
    write(dir.path(), "deploy/web/values-prod.yaml", "replicas: 2\n");
    write(dir.path(), "deploy/web/templates/app.yaml", TEMPLATE);
    // `helm create`'s connection test: run by `helm test`, never applied.
    write(
        dir.path(),
        "deploy/web/templates/tests/test-connection.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"{{ .Release.Name }}-test\"\n  annotations:\n    \"helm.sh/hook\": test\nspec:\n  restartPolicy: Never\n  containers:\n    - name: wget\n      image: busybox\n      command: [wget, \"{{ .Release.Name }}:80\"]\n",
    );
    write(
        dir.path(),
        "mooring.yaml",
        "source:\n  render:\n    paths:\n      - path: web\n        helm: {releaseName: shop, namespace: prod, valueFiles: [values-prod.yaml]}\n",
    );
    let first = commit_all(&repo, "two replicas").to_string();
    write(dir.path(), "deploy/web/values-prod.yaml", "replicas: 4\n");
    commit_all(&repo, "four replicas");

    let config = dir.path().join("mooring.yaml").display().to_string();
    let out = git_plan(dir.path(), "deploy", &first, &["--config", &config]);
    assert_eq!(out.code, 2, "{}", show(&out));
    assert!(
        out.stdout
            .contains("0 to create, 1 to update, 0 to delete, 1 unchanged"),
        "{}",
        show(&out)
    );
    // The release's name and namespace, from the source's settings; the
    // template that made it.
    assert!(
        out.stdout
            .contains("~ update Deployment/prod/shop  (deploy/web/templates/app.yaml:2)"),
        "{}",
        show(&out)
    );
    assert!(
        out.stdout.contains("-  replicas: 2\n+  replicas: 4"),
        "{}",
        show(&out)
    );

    // A values error is reported at the template.
    write(
        dir.path(),
        "deploy/web/values-prod.yaml",
        "replicas: lots\n",
    );
    let bad = validate(dir.path(), &["--config", &config, "deploy"]);
    assert_eq!(bad.code, 1, "{}", show(&bad));
    assert!(
        all(&bad).contains("deploy/web/templates/app.yaml:2: Deployment/prod/shop: spec.replicas: expected an integer"),
        "{}",
        show(&bad)
    );
}

#[test]
fn a_chart_dependency_not_vendored_is_one_clear_finding() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "web/Chart.yaml",
        &format!(
            "{CHART}dependencies:\n  - name: redis\n    version: 19.x\n    repository: oci://registry-1.docker.io/bitnamicharts\n"
        ),
    );
    write(dir.path(), "web/values.yaml", "replicas: 1\ntag: \"1\"\n");
    write(dir.path(), "web/templates/app.yaml", TEMPLATE);
    let out = validate(dir.path(), &["web"]);
    assert_eq!(out.code, 1, "{}", show(&out));
    assert!(
        all(&out).contains(
            "web/Chart.yaml:1: chart dependency redis (from oci://registry-1.docker.io/bitnamicharts) is not in charts/: mooring fetches nothing"
        ),
        "{}",
        show(&out)
    );
}

#[test]
fn the_examples_validate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (path, config) in [
        ("examples/kustomize", None),
        ("examples/helm", None),
        ("examples/helm", Some("examples/helm/production.yaml")),
        ("examples/helm", Some("examples/helm/staging.yaml")),
    ] {
        let mut args = vec![path];
        if let Some(c) = config {
            args.extend(["--config", c]);
        }
        let out = validate(root, &args);
        assert_eq!(out.code, 0, "{path} {config:?}: {}", show(&out));
        assert!(
            all(&out).contains(" 0 warnings"),
            "{path} {config:?}: {}",
            show(&out)
        );
    }
}

#[test]
fn a_repository_shaped_like_fluxs_reference_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = validate(
        root,
        &[
            "--schemas",
            "tests/fixtures/flux-repo-schemas",
            "tests/fixtures/flux-repo",
        ],
    );
    assert_eq!(out.code, 0, "{}", show(&out));
}

crate::on_both_targets!(the_daemon_applies_an_overlay_and_prunes_what_it_no_longer_renders);

/// `mooring run --once` on a source whose folder is an overlay of a base
/// outside it; then the overlay deletes one of the base's objects, and the
/// next run prunes it.
async fn the_daemon_applies_an_overlay_and_prunes_what_it_no_longer_renders(t: Target) {
    let env = KubeEnv::start(t).await;
    let ns = env.name("shop");
    let dir = env.dir.path();
    let cm = |name: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{k: v}}\n")
    };
    let repo_dir = dir.join("repo");
    let repo = git_init(&repo_dir);
    write(
        &repo_dir,
        "base/kustomization.yaml",
        "resources: [a.yaml, b.yaml]\n",
    );
    write(&repo_dir, "base/a.yaml", &cm("a"));
    write(&repo_dir, "base/b.yaml", &cm("b"));
    write(
        &repo_dir,
        "deploy/kustomization.yaml",
        &format!("resources: [ns.yaml, ../base]\nnamespace: {ns}\nnamePrefix: app-\n"),
    );
    write(
        &repo_dir,
        "deploy/ns.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"),
    );
    commit_all(&repo, "first");
    support::daemon::config(
        dir,
        &env.source,
        &repo_dir.display().to_string(),
        &format!("interval: 1h, render: {{kustomize: {}}}", kustomize()),
        &format!(
            "kubeconfig: {}, context: {}",
            env.kubeconfig.display(),
            env.context
        ),
        "prune: true\n",
    );
    let once = || {
        let args = support::daemon::run_args(dir, &["--once"]);
        let dir = dir.to_path_buf();
        async move {
            tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                mooring(&refs, Some(&dir))
            })
            .await
            .unwrap()
        }
    };
    let first = once().await;
    assert_eq!(first.code, 0, "{}", show(&first));
    for name in ["app-a", "app-b"] {
        let live = env.get("", "ConfigMap", Some(&ns), name).await;
        let live = live.unwrap_or_else(|| panic!("{name} applied: {}", show(&first)));
        let annotations = live["metadata"]["annotations"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(
            !annotations.contains_key("config.kubernetes.io/origin"),
            "{live}"
        );
    }

    write(
        &repo_dir,
        "deploy/kustomization.yaml",
        &format!(
            "resources: [ns.yaml, ../base]\nnamespace: {ns}\nnamePrefix: app-\npatches:\n  - patch: |-\n      $patch: delete\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {{name: b}}\n"
        ),
    );
    commit_all(&repo, "drop b");
    let second = once().await;
    assert_eq!(second.code, 0, "{}", show(&second));
    assert!(env.get("", "ConfigMap", Some(&ns), "app-a").await.is_some());
    assert!(
        env.get("", "ConfigMap", Some(&ns), "app-b").await.is_none(),
        "{}",
        show(&second)
    );
}

/// A kustomize that counts its builds in `DIR/builds` and renders one
/// ConfigMap.
fn counting_kustomize(dir: &Path) -> String {
    fake_kustomize(
        dir,
        "counting-kustomize",
        &format!(
            "echo build >> '{}'\nprintf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: made\\n  namespace: shop\\ndata: {{k: v}}\\n'\n",
            dir.join("builds").display()
        ),
    )
}

/// A render is cached by the content of what it reads: a Git-to-Git plan
/// of a commit that leaves the overlay and its base alone builds it once,
/// for both sides; a change to the base builds it again.
#[test]
fn a_folder_a_commit_leaves_alone_is_rendered_once() {
    let tools = tempfile::tempdir().unwrap();
    let fake = counting_kustomize(tools.path());
    let builds = || {
        std::fs::read_to_string(tools.path().join("builds"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    let dir = tempfile::tempdir().unwrap();
    let repo = git_init(dir.path());
    overlay(dir.path(), 3);
    write(dir.path(), "docs/notes.txt", "one\n");
    let first = commit_all(&repo, "first").to_string();
    write(dir.path(), "docs/notes.txt", "two\n");
    commit_all(&repo, "notes");
    let plan = |against: &str| {
        mooring(
            &[
                "plan",
                "--no-policies",
                "--kustomize",
                &fake,
                "--repo",
                &dir.path().display().to_string(),
                "--path",
                "overlays/prod",
                "--against-ref",
                against,
            ],
            None,
        )
    };
    let out = plan(&first);
    assert_eq!(out.code, 0, "{}", show(&out));
    assert_eq!(builds(), 1, "{}", show(&out));

    write(
        dir.path(),
        "base/dep.yaml",
        &DEPLOYMENT.replace("nginx:1.27", "nginx:1.28"),
    );
    commit_all(&repo, "base");
    let out = plan(&first);
    assert_eq!(out.code, 0, "{}", show(&out));
    assert_eq!(builds(), 3, "{}", show(&out));
}

/// A renderer that fails is one finding at its kustomization, with
/// kustomize's message and exit code, and none of mooring's temporary
/// paths; in Git mode too, where the revision is checked out.
#[test]
fn a_failed_render_is_one_finding_with_the_renderers_message() {
    let dir = tempfile::tempdir().unwrap();
    let repo = git_init(dir.path());
    write(
        dir.path(),
        "app/kustomization.yaml",
        "resources: [deployment.yaml, missing.yaml]\n",
    );
    write(dir.path(), "app/deployment.yaml", DEPLOYMENT);
    let first = commit_all(&repo, "first").to_string();
    let out = validate(dir.path(), &["app"]);
    assert_eq!(out.code, 1, "{}", show(&out));
    let text = all(&out);
    assert!(
        text.contains("app/kustomization.yaml:1: kustomize failed on app: exit code 1: "),
        "{}",
        show(&out)
    );
    assert!(text.contains("missing.yaml"), "{}", show(&out));
    let plan = git_plan(dir.path(), "app", &first, &[]);
    assert_eq!(plan.code, 1, "{}", show(&plan));
    let text = all(&plan);
    assert!(
        text.contains("kustomize failed on app: exit code 1"),
        "{}",
        show(&plan)
    );
    for temporary in ["mooring-render-", "mooring-checkout-", "<render>"] {
        assert!(!text.contains(temporary), "{}", show(&plan));
    }
}

/// A chart's `crds/` are rendered too (`--include-crds`, as Argo CD does),
/// so its custom resources validate against them, at their template.
#[test]
fn a_charts_crds_define_its_custom_resources() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "web/Chart.yaml", CHART);
    write(dir.path(), "web/values.yaml", "size: 2\n");
    write(
        dir.path(),
        "web/crds/widgets.yaml",
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.charts.example
spec:
  group: charts.example
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer, maximum: 3}
",
    );
    write(
        dir.path(),
        "web/templates/widget.yaml",
        "apiVersion: charts.example/v1\nkind: Widget\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  size: {{ .Values.size }}\n",
    );
    let ok = validate(dir.path(), &["web"]);
    assert_eq!(ok.code, 0, "{}", show(&ok));
    write(dir.path(), "web/values.yaml", "size: 5\n");
    let bad = validate(dir.path(), &["web"]);
    assert_eq!(bad.code, 1, "{}", show(&bad));
    assert!(
        all(&bad).contains("web/templates/widget.yaml:2: Widget/default/web: spec.size: 5 is above the maximum of 3"),
        "{}",
        show(&bad)
    );
}
