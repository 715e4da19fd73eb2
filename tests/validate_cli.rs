//! `mooring validate` end to end: the real binary on real files, asserting
//! the exact messages a user sees and the exit codes.

mod support;

use support::{mooring, write};

const LABELS: &str =
    "labels: {app.kubernetes.io/name: x, app.kubernetes.io/part-of: shop, team: z}";

#[test]
fn the_examples_are_valid() {
    let out = mooring(&["validate", "examples/manifests"], None);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(": 0 errors, 0 warnings"),
        "{}",
        out.stdout
    );
}

/// Every class of bad input, one file each, reported in one run.
#[test]
fn every_bad_input_class_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "a-malformed.yaml", "apiVersion: v1\nkind: [unclosed\n");
    write(
        d,
        "b-tabs.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n",
    );
    write(
        d,
        "c-dupkey.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dup\nkind: ConfigMap\n",
    );
    write(d, "d-scalar.yaml", "just a string\n");
    write(d, "e-noapi.yaml", "kind: ConfigMap\nmetadata: {name: a}\n");
    write(d, "f-nokind.yaml", "apiVersion: v1\nmetadata: {name: a}\n");
    write(
        d,
        "g-noname.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
    );
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: twice\n  namespace: apps\n";
    write(d, "h-twice-1.yaml", cm);
    write(d, "h-twice-2.yaml", &format!("# again\n{cm}"));
    write(
        d,
        "i-big.yaml",
        &format!("apiVersion: v1\n# {}\n", "x".repeat(2000)),
    );
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    write(d, "j-bomb.yaml", &bomb);
    write(
        d,
        "k-unknown-kind.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
    );
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.yaml", "apiVersion: v1\n");
    std::os::unix::fs::symlink(outside.path().join("secret.yaml"), d.join("l-link.yaml")).unwrap();

    let out = mooring(
        &[
            "validate",
            "--no-policies",
            "--max-file-size",
            "1000",
            d.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    let p = d.display();
    let expected = [
        format!("{p}/a-malformed.yaml:3: invalid YAML: "),
        format!("{p}/b-tabs.yaml:4: invalid YAML: "),
        format!("{p}/c-dupkey.yaml:5: duplicate key \"kind\" (first defined on line 2)"),
        format!(
            "{p}/d-scalar.yaml:1: not a Kubernetes manifest: no document in it has apiVersion or kind"
        ),
        format!("{p}/e-noapi.yaml:1: missing apiVersion"),
        format!("{p}/f-nokind.yaml:1: missing kind"),
        format!("{p}/g-noname.yaml:3: ConfigMap is missing metadata.name"),
        format!(
            "{p}/h-twice-2.yaml:2: ConfigMap/apps/twice: declared twice: also at {p}/h-twice-1.yaml:1; each object may be declared once"
        ),
        format!(
            "{p}/i-big.yaml:1: file is 2018 bytes, over the 1000 byte limit for a manifest file"
        ),
        format!(
            "{p}/j-bomb.yaml:6: document expands to more than 200000 nodes (aliases included); refusing to load it (is it an alias bomb?)"
        ),
        format!(
            "{p}/k-unknown-kind.yaml:2: Widget/default/w: kind: no schema for kind Widget (apiVersion example.com/v1)"
        ),
        format!(
            "{p}/l-link.yaml:1: symlink to {}/secret.yaml points outside the folder mooring reads",
            outside.path().display()
        ),
    ];
    for e in &expected {
        assert!(
            out.stdout.lines().any(|l| l.starts_with(e.as_str())),
            "missing line starting with:\n{e}\n--- got:\n{}",
            out.stdout
        );
    }
    assert!(
        out.stdout
            .contains("(tabs are not allowed in YAML indentation; use spaces)")
    );
    assert!(
        out.stdout
            .ends_with("errors, 0 warnings\npolicies: none (--no-policies)\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn unknown_fields_are_errors_unless_strict_is_off() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata: {a: b}\ndatta: {a: b}\nstatus: {x: 1}\n",
    );
    let path = dir.path().join("cm.yaml");
    let p = path.to_str().unwrap();
    let strict = mooring(&["validate", "--no-policies", p], None);
    assert_eq!(strict.code, 1);
    assert!(
        strict.stdout.contains(&format!(
            "{p}:6: ConfigMap/default/c: datta: unknown field (use --strict=false to only warn)"
        )),
        "{}",
        strict.stdout
    );
    assert!(strict.stdout.contains(&format!(
        "{p}:7: warning: ConfigMap/default/c: status: status is ignored: mooring never applies it"
    )));
    let lax = mooring(&["validate", "--no-policies", "--strict=false", p], None);
    assert_eq!(lax.code, 0, "{}", lax.stdout);
    assert!(lax.stdout.contains(&format!(
        "{p}:6: warning: ConfigMap/default/c: datta: unknown field: passed to the API server unchanged, which keeps or prunes it by its own schema (--strict refuses it)"
    )), "{}", lax.stdout);
}

#[test]
fn unknown_kinds_can_be_allowed_or_given_a_schema() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "m/w.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3}\n",
    );
    write(
        dir.path(),
        "s/example.com/v1/Widget.json",
        r#"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer", "maximum": 2}}}}}"#,
    );
    let m = dir.path().join("m");
    let m = m.to_str().unwrap();
    let allowed = mooring(
        &["validate", "--no-policies", "--allow-unknown-kinds", m],
        None,
    );
    assert_eq!(allowed.code, 0, "{}", allowed.stdout);
    assert!(
        allowed
            .stdout
            .contains("warning: Widget/default/w: kind: Widget is not validated")
    );

    let schemas = dir.path().join("s");
    let with_schema = mooring(
        &[
            "validate",
            "--no-policies",
            "--schemas",
            schemas.to_str().unwrap(),
            m,
        ],
        None,
    );
    assert_eq!(with_schema.code, 1, "{}", with_schema.stdout);
    assert!(
        with_schema
            .stdout
            .contains("Widget/default/w: spec.size: 3 is above the maximum of 2"),
        "{}",
        with_schema.stdout
    );
}

#[test]
fn json_output_is_machine_readable() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "vm.yaml",
        &format!(
            "apiVersion: flintlock.liquidmetal.dev/v1alpha1\nkind: MicroVM\nmetadata:\n  name: a\n  {LABELS}\nspec:\n  vcpu: 65\n  memoryInMb: 2048\n  kernel: {{image: ghcr.io/acme/k:1, filename: boot/vmlinux}}\n  rootVolume: {{id: root, source: {{containerSource: ghcr.io/acme/root:1}}}}\n  interfaces: [{{deviceId: eth0}}]\n"
        ),
    );
    let out = mooring(
        &[
            "validate",
            "--no-policies",
            "-o",
            "json",
            dir.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.code, 1);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    support::conforms(&v, "ValidationReport");
    assert_eq!(v["valid"], false);
    assert_eq!(v["summary"]["errors"], 1);
    let f = &v["findings"][0];
    assert_eq!(f["line"], 7);
    assert_eq!(f["field"], "spec.vcpu");
    assert_eq!(f["object"], "MicroVM/default/a");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["source"], "schema");
    assert_eq!(f["message"], "65 is above the maximum of 64");
}

#[test]
fn policies_fail_validation_and_name_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "vm.yaml",
        "apiVersion: flintlock.liquidmetal.dev/v1alpha1\nkind: MicroVM\nmetadata:\n  name: a\nspec:\n  vcpu: 2\n  memoryInMb: 2048\n  kernel: {image: ghcr.io/acme/k:1, filename: boot/vmlinux}\n  rootVolume: {id: root, source: {containerSource: ghcr.io/acme/root:1}}\n  interfaces: [{deviceId: eth0}]\n",
    );
    let out = mooring(
        &[
            "validate",
            "--policies",
            "policies",
            "-o",
            "json",
            dir.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let sources: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["source"].as_str())
        .collect();
    assert!(
        sources.iter().any(|s| s.starts_with("policy:")),
        "{}",
        out.stdout
    );
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let bad = mooring(&["validate", "--no-such-flag"], None);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("--no-such-flag"));
    let help = mooring(&["validate", "--help"], None);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("--strict"));
}

#[test]
fn the_policy_tests_pass() {
    let out = mooring(&["policy", "test", "policies"], None);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains(" passed, 0 failed"));
}

/// A built-in cluster-scoped kind with a namespace is what the API server
/// accepts (it drops the namespace): a warning, and the identity has no
/// namespace. Ignite has no namespaces at all: an error there.
#[test]
fn cluster_scoped_kinds_drop_or_refuse_a_namespace() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n  namespace: apps\n",
    );
    let out = mooring(
        &["validate", "--no-policies", dir.path().to_str().unwrap()],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "ns.yaml:5: warning: Namespace/apps: metadata.namespace: Namespace is cluster-scoped: metadata.namespace is dropped, as the API server drops it; remove it"
        ),
        "{}",
        out.stdout
    );
    write(
        dir.path(),
        "ns.yaml",
        "apiVersion: ignite.weave.works/v1alpha4\nkind: Kernel\nmetadata:\n  name: k\n  namespace: apps\nspec:\n  oci: weaveworks/ignite-kernel:5.10.51\n",
    );
    let out = mooring(
        &["validate", "--no-policies", dir.path().to_str().unwrap()],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("ns.yaml:5: Kernel/k: metadata.namespace: Ignite has no namespaces"),
        "{}",
        out.stdout
    );
}

/// wasmCloud Host is namespaced since runtime-operator v2.1.0; the older,
/// cluster-scoped form is accepted with a warning.
#[test]
fn a_host_is_namespaced_or_the_older_cluster_scoped_form() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "host.yaml",
        "apiVersion: runtime.wasmcloud.dev/v1alpha1\nkind: Host\nmetadata:\n  name: h1\n  namespace: apps\nhostId: NABC\n---\napiVersion: runtime.wasmcloud.dev/v1alpha1\nkind: Host\nmetadata:\n  name: h2\nhostId: NDEF\n",
    );
    let out = mooring(
        &["validate", "--no-policies", dir.path().to_str().unwrap()],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains("host.yaml:10: warning: Host/h2: metadata: no metadata.namespace: this is the cluster-scoped Host of runtime-operator before v2.1.0"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.ends_with(
            "2 documents in 1 file: 0 errors, 1 warning\npolicies: none (--no-policies)\n"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn schema_errors_in_secrets_do_not_quote_the_value() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.yaml",
        "\u{feff}apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: 12345678}\ndata: {token: [supersecret]}\n",
    );
    let out = mooring(
        &["validate", "--no-policies", dir.path().to_str().unwrap()],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(!out.stdout.contains("12345678"), "{}", out.stdout);
    assert!(!out.stdout.contains("supersecret"), "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "s.yaml:4: Secret/default/s: stringData.password: expected a string, found a number\n"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn yaml_1_1_surprises_are_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nimmutable: yes\n",
    );
    let out = mooring(
        &["validate", "--no-policies", dir.path().to_str().unwrap()],
        None,
    );
    assert!(
        out.stdout.contains("cm.yaml:4: warning: yes is read as the string \"yes\"; YAML 1.1 tools (kubectl) read it as a boolean"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("immutable: expected a boolean, found a string \"yes\""),
        "{}",
        out.stdout
    );
}

/// A wrong or empty folder checks nothing: an error, unless --allow-empty.
#[test]
fn a_folder_without_manifests_is_an_error_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "empty/.keep", "");
    write(d, "docs/README.md", "# not a manifest\n");
    write(d, "comments/only.yaml", "# nothing here yet\n");
    for sub in ["empty", "docs", "comments"] {
        let path = d.join(sub);
        let path = path.to_str().unwrap();
        let out = mooring(&["validate", "--no-policies", path], None);
        assert_eq!(out.code, 1, "{sub}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stdout
                .contains(&format!("no manifest in {path}: nothing was checked")),
            "{}",
            out.stdout
        );
        assert!(out.stdout.contains("--allow-empty"), "{}", out.stdout);
        let out = mooring(&["validate", "--no-policies", "-o", "json", path], None);
        assert_eq!(out.code, 1);
        let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(doc["valid"], false, "{}", out.stdout);
        let out = mooring(&["validate", "--no-policies", "--allow-empty", path], None);
        assert_eq!(out.code, 0, "{sub}: {}{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("0 documents"), "{}", out.stdout);
    }
}

/// `.json` files are manifests, as kubectl and kubeconform read them, with
/// every finding at its own line (tab-indented JSON too); other files are
/// not read. Before, a folder of JSON manifests checked nothing.
#[test]
fn json_files_are_manifests_with_findings_at_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "cm.json",
        "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"ConfigMap\",\n  \"metadata\": {\n    \
         \"name\": \"c\",\n    \"labels\": {\"a\": 1}\n  },\n  \"data\": {\n    \"k\": 5\n  }\n}\n",
    );
    write(
        d,
        "tabs.json",
        "{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"ConfigMap\",\n\t\"metadata\": {\"name\": \
         \"t\"},\n\t\"data\": {\n\t\t\"k\": true\n\t}\n}\n",
    );
    write(
        d,
        "ok.json",
        r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ok"}}"#,
    );
    write(d, "notes.txt", "{\"not\": \"read\"}\n");
    let path = d.to_str().unwrap();
    let out = mooring(&["validate", "--no-policies", path], None);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let p = d.display();
    assert_eq!(
        out.stdout,
        format!(
            "{p}/cm.json:6: ConfigMap/default/c: metadata.labels.a: expected a string, found a \
             number 1\n\
             {p}/cm.json:9: ConfigMap/default/c: data.k: expected a string, found a number 5\n\
             {p}/tabs.json:6: ConfigMap/default/t: data.k: expected a string, found a boolean \
             true\n\
             3 documents in 3 files: 3 errors, 0 warnings\n\
             policies: none (--no-policies)\n"
        )
    );
}

/// A file none of whose documents is a manifest (a Helm values file, an
/// app's configuration) is one error naming how to leave it out, not one
/// per document; `--exclude` and a `.mooringignore` file leave it out. A
/// file with one manifest keeps its per-document errors.
#[test]
fn a_file_that_is_no_manifest_is_one_error_and_exclude_or_an_ignore_file_leaves_it_out() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\n",
    );
    write(
        d,
        "chart/values.yaml",
        "replicas: 2\nenabled: yes\n---\nimage: {tag: '1'}\n",
    );
    write(d, "app/config.json", "{\"port\": 8080}\n");
    write(
        d,
        "mixed.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: m}\n---\nreplicas: 2\n",
    );
    let path = d.to_str().unwrap();
    let p = d.display();
    let out = mooring(&["validate", "--no-policies", path], None);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        format!(
            "{p}/app/config.json:1: not a Kubernetes manifest: no document in it has apiVersion \
             or kind. If it is not meant to be one (a Helm values file, an application's \
             configuration), leave it out: name it in a .mooringignore file, or pass --exclude \
             app/config.json (a source's `exclude:` in mooring.yaml)\n\
             {p}/chart/values.yaml:1: not a Kubernetes manifest: no document in it has \
             apiVersion or kind. If it is not meant to be one (a Helm values file, an \
             application's configuration), leave it out: name it in a .mooringignore file, or \
             pass --exclude chart/values.yaml (a source's `exclude:` in mooring.yaml)\n\
             {p}/mixed.yaml:5: missing apiVersion\n\
             6 documents in 4 files: 3 errors, 0 warnings\n\
             policies: none (--no-policies)\n"
        )
    );
    std::fs::remove_file(d.join("mixed.yaml")).unwrap();

    let out = mooring(
        &[
            "validate",
            "--no-policies",
            path,
            "--exclude",
            "values.yaml",
            "--exclude",
            "/app/",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        "1 document in 1 file: 0 errors, 0 warnings\npolicies: none (--no-policies)\n"
    );
    // A --config's source.exclude, and the flag adding to it.
    let other = tempfile::tempdir().unwrap();
    let config = other.path().join("mooring.yaml");
    std::fs::write(&config, "source:\n  exclude: [values.yaml]\n").unwrap();
    let config = config.to_str().unwrap();
    let out = mooring(
        &["validate", "--no-policies", path, "--config", config],
        None,
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("app/config.json:1: "), "{}", out.stdout);
    assert!(!out.stdout.contains("values.yaml"), "{}", out.stdout);
    let out = mooring(
        &[
            "validate",
            "--no-policies",
            path,
            "--config",
            config,
            "--exclude",
            "app/",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    // The same from the folder itself: a file at the root, one below.
    write(d, ".mooringignore", "# Helm\nchart/values.yaml\n");
    write(d, "app/.mooringignore", "*.json\n");
    let out = mooring(&["validate", "--no-policies", path], None);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        "1 document in 1 file: 0 errors, 0 warnings\npolicies: none (--no-policies)\n"
    );

    // A line that is not a pattern is an error at its line.
    write(d, "app/.mooringignore", "*.json\n[z-a]\n");
    let out = mooring(&["validate", "--no-policies", path], None);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.starts_with(&format!(
            "{p}/app/.mooringignore:2: \"[z-a]\" is not a pattern: invalid range; 'z' > 'a'; \
             the line is left out\n"
        )),
        "{}",
        out.stdout
    );

    // translate reads the same way.
    let out = mooring(
        &["translate", "--no-policies", path, "--exclude", "ns.yaml"],
        None,
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("[z-a]"), "{}", out.stderr);
    assert!(!out.stderr.contains("ns.yaml"), "{}", out.stderr);
}

/// A pattern gitignore's syntax does not read is a usage error naming it.
#[test]
fn a_bad_exclude_pattern_is_a_usage_error() {
    let out = mooring(&["validate", "--exclude", "{a", "."], None);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(
            "invalid value '{a' for '--exclude <GLOB>': unclosed alternate group; missing '}'"
        ),
        "{}",
        out.stderr
    );
}

/// `-` reads a stream of manifests from standard input (as kubectl's
/// `-f -`), with findings at `<stdin>:LINE`.
#[test]
fn standard_input_is_a_manifest_stream() {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = support::mooring_command()
        .args(["validate", "-", "--no-policies"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: t}\ndata: {level: 3}\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "<stdin>:8: ConfigMap/default/t: data.level: expected a string, found a number"
        ),
        "{stdout}"
    );
}

/// What a new user tries first: the upstream projects' own samples and
/// CRDs (vendored, tests/fixtures/), wasmCloud's `service_deployment.yaml`
/// with its Service included, validate with no flag.
#[test]
fn upstream_samples_and_crds_validate_with_no_flag() {
    for dir in [
        "tests/fixtures/upstream-samples",
        "tests/fixtures/upstream-crds",
    ] {
        let out = mooring(&["validate", "--no-policies", dir], None);
        assert_eq!(out.code, 0, "{dir}: {}{}", out.stdout, out.stderr);
        assert!(out.stdout.contains(": 0 errors"), "{}", out.stdout);
    }
}

/// `mooring crds` output, which the README says to commit beside the
/// custom resources, validates with no flag, and so do the resources with
/// it.
#[test]
fn mooring_crds_output_validates_with_no_flag() {
    let crds = mooring(&["crds"], None);
    assert_eq!(crds.code, 0, "{}", crds.stderr);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "crds.yaml", &crds.stdout);
    write(
        dir.path(),
        "artifact.yaml",
        "apiVersion: runtime.wasmcloud.dev/v1alpha1\nkind: Artifact\nmetadata: {name: a, namespace: apps}\nspec: {image: ghcr.io/org/a:1.0.0}\n",
    );
    let out = mooring(
        &["validate", "--no-policies", dir.path().to_str().unwrap()],
        None,
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains(": 0 errors"), "{}", out.stdout);
}

/// `--schemas` takes the layouts people already have, local only:
/// kubeconform's flat files, the CRDs-catalog's folders, and kubeconform's
/// `-schema-location` templates; a URL is refused, nothing is fetched.
#[test]
fn schemas_in_kubeconform_and_crds_catalog_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "m/monitor.yaml",
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: m}\nspec:\n  endpoints: [{port: metrics}]\n",
    );
    write(
        d,
        "m/cert.yaml",
        "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: c}\nspec:\n  secretName: 7\n",
    );
    let monitor = r#"{"type": "object", "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}, "spec": {"type": "object", "additionalProperties": false, "properties": {"endpoints": {"type": "array"}}}}}"#;
    let cert = r#"{"type": "object", "properties": {"spec": {"type": "object", "properties": {"secretName": {"type": "string"}}}}}"#;
    // The CRDs-catalog layout, and kubeconform's flat one.
    write(
        d,
        "catalog/monitoring.coreos.com/servicemonitor_v1.json",
        monitor,
    );
    write(d, "flat/certificate-cert-manager-v1.json", cert);
    let m = d.join("m");
    let m = m.to_str().unwrap();
    let (catalog, flat) = (d.join("catalog"), d.join("flat"));
    let out = mooring(
        &[
            "validate",
            "--no-policies",
            m,
            "--schemas",
            catalog.to_str().unwrap(),
            "--schemas",
            flat.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("cert.yaml:5: Certificate/default/c: spec.secretName: expected a string, found a number 7"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(": 1 error"), "{}", out.stdout);

    // The same files through kubeconform-style templates.
    let template = format!(
        "{}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
        catalog.display()
    );
    let flat_template = format!(
        "{}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
        flat.display()
    );
    let out = mooring(
        &[
            "validate",
            "--no-policies",
            m,
            "--schemas",
            &template,
            "--schemas",
            &flat_template,
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains(": 1 error"), "{}", out.stdout);

    let url = mooring(
        &[
            "validate",
            "--no-policies",
            m,
            "--schemas",
            "https://raw.githubusercontent.com/datreeio/CRDs-catalog/main/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json",
        ],
        None,
    );
    assert_ne!(url.code, 0);
    assert!(url.stderr.contains("nothing is fetched"), "{}", url.stderr);
}

/// `mooring … | head`: when the reader of standard output goes away, the
/// command stops quietly with 141 (as a shell reports SIGPIPE), not with a
/// panic's message and 101.
#[test]
fn a_closed_stdout_stops_quietly() {
    use std::io::{BufRead, BufReader};
    let mut child = support::mooring_command()
        // 250 KB, more than a pipe holds: it cannot all be written before
        // the reader goes.
        .args(["crds"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    assert!(!first.is_empty());
    // The reader is gone (dropped above): the rest cannot be written.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `-o github`: each finding a workflow command GitHub Actions shows as an
/// annotation on the pull request's file and line.
#[test]
fn github_output_is_one_annotation_per_finding() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "deploy/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: shop}\ndata: {level: 3}\n",
    );
    let path = dir.path().join("deploy");
    let out = mooring(
        &[
            "validate",
            "--no-policies",
            "-o",
            "github",
            path.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let first = out.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("::error file=")
            && first.contains("cm.yaml,line=4,title=schema::ConfigMap/shop/app: data.level: "),
        "{}",
        out.stdout
    );
}

/// Every subcommand's --help teaches with examples, as the README promises.
#[test]
fn every_subcommands_help_has_examples() {
    for command in [
        &["validate"][..],
        &["plan"],
        &["apply"],
        &["run"],
        &["translate"],
        &["schemas"],
        &["crds"],
        &["policy", "test"],
        &["version"],
        &["completion"],
        &["man"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let out = mooring(&args, None);
        assert_eq!(out.code, 0, "{command:?}: {}", out.stderr);
        let examples = out.stdout.split("Examples:").nth(1).unwrap_or_default();
        assert!(
            examples
                .lines()
                .filter(|l| l.trim_start().starts_with("mooring "))
                .count()
                >= 2,
            "{command:?} --help has no examples:\n{}",
            out.stdout
        );
    }
}

/// `mooring completion` for each shell names every subcommand; `mooring
/// man --out-dir` writes a page per command, each a roff page with its own
/// name; `mooring version` names the commit and the Kubernetes release
/// whose kinds are built in.
#[test]
fn completion_manual_pages_and_version() {
    let help = mooring(&["--help"], None).stdout;
    let commands: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 11, "{help}");
    for shell in ["bash", "zsh", "fish"] {
        let out = mooring(&["completion", shell], None);
        assert_eq!(out.code, 0, "{}", out.stderr);
        for c in &commands {
            assert!(out.stdout.contains(c), "{shell} completion lacks {c}");
        }
        assert!(out.stdout.contains("against-ref"), "{shell}: flags too");
    }
    let bad = mooring(&["completion", "tcsh"], None);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("possible values"), "{}", bad.stderr);

    let dir = tempfile::tempdir().unwrap();
    let out = mooring(&["man", "--out-dir", dir.path().to_str().unwrap()], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for c in commands
        .iter()
        .map(|c| format!("mooring-{c}"))
        .chain(["mooring".to_string()])
    {
        let page = std::fs::read_to_string(dir.path().join(format!("{c}.1")))
            .unwrap_or_else(|e| panic!("{c}.1: {e}"));
        assert!(page.contains(&format!(".TH {c} 1")), "{c}.1:\n{page}");
    }
    let plan = std::fs::read_to_string(dir.path().join("mooring-plan.1")).unwrap();
    assert!(plan.contains("against\\-ref"), "the flags are documented");

    let out = mooring(&["version", "-o", "json"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let commit = v["commit"].as_str().unwrap();
    assert!(
        commit == "unknown"
            || (commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{commit}"
    );
    assert!(v["kubernetes"].as_str().unwrap().starts_with("v1."), "{v}");
    let text = mooring(&["version"], None).stdout;
    assert!(
        text.starts_with(&format!("mooring {}\ncommit: ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
}

/// The README's quick start works as written: each `mooring` line of the
/// block after "Then, in a clone of this repository", run from the
/// repository's root (`scripts/sandbox` is the sandbox's own job).
#[test]
fn the_readme_quick_start_runs() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let after = readme
        .split("Then, in a clone of this repository:")
        .nth(1)
        .expect("the quick start");
    let block = after
        .split("```sh\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let commands: Vec<Vec<&str>> = block
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| l.starts_with("mooring "))
        .map(|l| l.split_whitespace().skip(1).collect())
        .collect();
    assert_eq!(commands.len(), 2, "{block}");
    for args in commands {
        let out = mooring(&args, None);
        // plan: 0 with a clean work tree, 2 with local edits.
        assert!(
            out.code == 0 || (args[0] == "plan" && out.code == 2),
            "mooring {args:?}: {}{}",
            out.stdout,
            out.stderr
        );
    }
}

/// `-o junit`: one test case per object, failed by its errors, and one per
/// file for findings that name no object; `-o sarif`: SARIF 2.1.0, one
/// result per finding with its rule, level and place. Plan has both too.
#[test]
fn junit_and_sarif_reports() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "good.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: good\n  namespace: shop\ndata:\n  a: b\n",
    );
    write(
        dir.path(),
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\n  namespace: shop\ndata:\n  level: 3\n",
    );
    write(dir.path(), "broken.yaml", "kind: [\n");
    let path = dir.path().to_str().unwrap();

    let junit = mooring(&["validate", "--no-policies", "-o", "junit", path], None);
    assert_eq!(junit.code, 1, "{}", junit.stderr);
    let xml = &junit.stdout;
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{xml}"
    );
    assert!(
        xml.contains("<testsuite name=\"mooring validate\" tests=\"3\" skipped=\"0\" errors=\"0\" failures=\"2\">"),
        "{xml}"
    );
    assert!(
        xml.contains("<testcase name=\"ConfigMap/shop/good\""),
        "{xml}"
    );
    let bad = xml
        .split("<testcase name=\"ConfigMap/shop/bad\"")
        .nth(1)
        .and_then(|t| t.split("</testcase>").next())
        .unwrap_or_default();
    assert!(
        bad.contains("<failure message=\"ConfigMap/shop/bad: data.level: expected a string, found a number 3\" type=\"error\">"),
        "{xml}"
    );
    assert!(
        xml.contains("broken.yaml\" classname="),
        "a case for the file: {xml}"
    );

    let sarif = mooring(&["validate", "--no-policies", "-o", "sarif", path], None);
    assert_eq!(sarif.code, 1);
    let log: serde_json::Value = serde_json::from_str(&sarif.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    assert!(log["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "mooring");
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{log:#}");
    let schema = results.iter().find(|r| r["ruleId"] == "schema").unwrap();
    assert_eq!(schema["level"], "error");
    assert_eq!(
        schema["message"]["text"],
        "ConfigMap/shop/bad: data.level: expected a string, found a number 3"
    );
    let place = &schema["locations"][0]["physicalLocation"];
    assert!(
        place["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("bad.yaml")
    );
    assert_eq!(place["region"]["startLine"], 7);
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for r in results {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index], r["ruleId"], "ruleIndex points at its rule");
    }
}

/// The summary always says which policies ran and from where: `./policies`
/// of the working directory is read when it is there, and said so.
#[test]
fn the_summary_says_which_policies_ran() {
    let last = |args: &[&str], cwd: Option<&std::path::Path>| {
        let out = mooring(args, cwd);
        out.stdout.lines().last().unwrap_or_default().to_string()
    };
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/manifests");
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/policies"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.ends_with(".rego") && !name.ends_with("_test.rego")
        })
        .count();
    assert_eq!(
        last(&["validate", examples], None),
        format!(
            "policies: {shipped} files from ./policies, found in the working directory (--policies DIR to choose, --no-policies to skip)"
        )
    );
    let elsewhere = tempfile::tempdir().unwrap();
    assert_eq!(
        last(&["validate", examples], Some(elsewhere.path())),
        "policies: none (no ./policies in the working directory; --policies DIR to use some)"
    );
    assert_eq!(
        last(&["validate", "--no-policies", examples], None),
        "policies: none (--no-policies)"
    );
}

/// Every configuration example in the README (a ```yaml block starting
/// with `source:`) is a valid mooring.yaml, and a schema modeline it shows
/// names a schema that exists.
#[test]
fn the_readme_yaml_examples_are_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut configs = 0;
    for block in readme.split("```yaml\n").skip(1) {
        let text = block.split("```").next().unwrap_or_default();
        if text.starts_with("source:") {
            configs += 1;
            if let Err(e) = mooring::config::Config::parse(text, "README.md") {
                panic!("a README configuration does not parse: {e}\n{text}");
            }
        } else if let Some(schema) = text
            .lines()
            .find_map(|l| l.strip_prefix("# yaml-language-server: $schema="))
        {
            // Written as from a file two folders below the root.
            let path = root.join("examples/manifests").join(schema.trim());
            assert!(path.is_file(), "{schema}: no such schema");
        } else {
            panic!("a README yaml block no test reads:\n{text}");
        }
    }
    assert!(configs >= 3, "{configs}");
}

/// Every output block of the README (a ```text block) is either printed
/// exactly as the program prints it, or says what it is in the comment
/// line before it:
/// - a block of `$ mooring validate …` commands is run here, from a folder
///   holding the repository's `policies/` and `examples/` and the files of
///   `tests/fixtures/readme/`, and must equal the commands' output;
/// - `<!-- excerpt: tests/FILE.rs: NAME -->` is cut from a longer output
///   or needs a target, and the test NAME in FILE asserts its lines;
/// - `<!-- measured: … -->` is a benchmark's figures, which vary.
#[test]
fn the_readme_output_blocks_are_exact_or_say_what_checks_them() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = |from: &std::path::Path, to: &std::path::Path| {
        let out = std::process::Command::new("cp")
            .arg("-R")
            .arg(from)
            .arg(to)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    copy(&root.join("policies"), dir.path());
    copy(&root.join("examples"), dir.path());
    for entry in std::fs::read_dir(root.join("tests/fixtures/readme")).unwrap() {
        copy(&entry.unwrap().path(), dir.path());
    }
    let (mut exact, mut excerpts) = (0, 0);
    let mut rest = readme.as_str();
    while let Some(at) = rest.find("\n```text\n") {
        let before = rest[..at].lines().last().unwrap_or_default();
        let block = rest[at + 9..].split("\n```").next().unwrap();
        rest = &rest[at + 9..];
        if block.starts_with("$ mooring validate ") {
            exact += 1;
            let mut printed = String::new();
            for command in block.lines().filter_map(|l| l.strip_prefix("$ ")) {
                let args: Vec<&str> = command.split_whitespace().skip(1).collect();
                let out = mooring(&args, Some(dir.path()));
                if !printed.is_empty() {
                    printed.push('\n');
                }
                printed.push_str(&format!("$ {command}\n{}{}", out.stdout, out.stderr));
            }
            assert_eq!(printed.trim_end(), block, "the README shows other output");
        } else if let Some(named) = before
            .strip_prefix("<!-- excerpt: ")
            .and_then(|s| s.strip_suffix(" -->"))
        {
            excerpts += 1;
            let (file, test) = named.split_once(": ").expect("tests/FILE.rs: NAME");
            let source = std::fs::read_to_string(root.join(file))
                .unwrap_or_else(|e| panic!("{file}: {e} (named in the README)"));
            assert!(
                source.contains(&format!("fn {test}(")) || source.contains(&format!("    {test},")),
                "{file} has no test {test}, which the README names"
            );
        } else {
            assert!(
                before.starts_with("<!-- measured: "),
                "a README output block neither exact nor saying what checks it:\n{before}\n{block}"
            );
        }
    }
    assert!(
        exact >= 1 && excerpts >= 4,
        "{exact} exact, {excerpts} excerpts"
    );
}
