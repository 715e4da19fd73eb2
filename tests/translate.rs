//! Ignite VM → Flintlock MicroVM: the mapping field by field, Ignite's
//! defaults, Flintlock's limits reported at the Ignite field's line, what is
//! dropped, the kernel/image cross-check, and `mooring translate` end to end.

mod support;

use base64::Engine;
use mooring::finding::{Finding, Severity};
use mooring::manifest::{Limits, Manifest, SourceFile, load};
use mooring::translate::{self, Declared, MemoryFloor, ignite_vm};
use serde_json::{Value, json};
use support::{mooring, write};

/// Every manifest of `ms` translated together, as the targets would get them.
fn translate_set(ms: &[Manifest]) -> (Vec<Manifest>, Vec<Finding>) {
    let refs: Vec<&Manifest> = ms.iter().collect();
    let out = translate::expand(&refs, MemoryFloor::Error);
    (out.microvms, out.findings)
}

fn manifests(text: &str) -> Vec<Manifest> {
    let loaded = load(
        &[SourceFile {
            path: "vms.yaml".into(),
            rel: "vms.yaml".into(),
            bytes: text.as_bytes().to_vec(),
        }],
        &Limits::default(),
    );
    assert!(loaded.findings.is_empty(), "{:?}", loaded.findings);
    loaded.manifests
}

/// Translates the first manifest of `text` (a VM) with the rest as context.
fn translate_first(text: &str) -> translate::Translation {
    let ms = manifests(text);
    ignite_vm(&ms[0], &Declared::from_manifests(&ms), MemoryFloor::Error)
}

fn lines(findings: &[Finding]) -> Vec<String> {
    findings.iter().map(ToString::to_string).collect()
}

fn decode(b64: &Value) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.as_str().expect("a string"))
        .expect("base64");
    String::from_utf8(bytes).expect("utf-8")
}

const KERNEL: &str = "---
apiVersion: ignite.weave.works/v1alpha1
kind: Kernel
metadata:
  name: weaveworks/ignite-kernel:5.10.51
spec:
  ociClaim: {type: Docker, ref: weaveworks/ignite-kernel:5.10.51}
";

const IMAGE: &str = "---
apiVersion: ignite.weave.works/v1alpha1
kind: Image
metadata:
  name: ubuntu-base
spec:
  ociClaim: {type: Docker, ref: weaveworks/ignite-ubuntu:20.04}
";

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests0123456789abcdefghij me@laptop";

fn full_vm() -> String {
    format!(
        "apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata:
  name: sandbox
  labels:
    team: platform
  annotations:
    mooring.dev/host: edge-1
    note: kept
spec:
  image:
    ociClaim:
      type: Docker
      ref: weaveworks/ignite-ubuntu:20.04
  kernel:
    ociClaim:
      ref: weaveworks/ignite-kernel:5.10.51
    cmdLine: console=ttyS0 reboot=k panic=1 ro
  cpus: 3
  memory: 2GB
  diskSize: 10GB
  networkMode: cni
  ssh:
    publicKey: {KEY}
{KERNEL}{IMAGE}"
    )
}

#[test]
fn every_field_maps_to_its_flintlock_field() {
    let t = translate_first(&full_vm());
    assert!(t.findings.is_empty(), "{:#?}", lines(&t.findings));
    let mvm = t.microvm.expect("translated");
    assert_eq!(mvm.id.to_string(), "MicroVM/default/sandbox");
    assert_eq!(mvm.api_version, "flintlock.liquidmetal.dev/v1alpha1");
    assert_eq!(mvm.kind.map(|k| k.kind), Some("MicroVM"));
    assert_eq!((mvm.file.as_str(), mvm.line), ("vms.yaml", 1));
    let mut value = mvm.value.clone();
    let metadata = value["spec"]
        .as_object_mut()
        .unwrap()
        .remove("metadata")
        .unwrap();
    assert_eq!(
        value,
        json!({
            "apiVersion": "flintlock.liquidmetal.dev/v1alpha1",
            "kind": "MicroVM",
            "metadata": {
                "name": "sandbox",
                "namespace": "default",
                "labels": {"team": "platform"},
                "annotations": {
                    "mooring.dev/host": "edge-1",
                    "note": "kept",
                    "mooring.dev/translated-from": "ignite.weave.works/v1alpha1 VM/sandbox",
                },
            },
            "spec": {
                "vcpu": 3,
                "memoryInMb": 2048,
                "kernel": {
                    "image": "docker.io/weaveworks/ignite-kernel:5.10.51",
                    "filename": "boot/vmlinux",
                    "addNetworkConfig": true,
                    "cmdline": {"console": "ttyS0", "reboot": "k", "panic": "1", "ro": ""},
                },
                "rootVolume": {
                    "id": "root",
                    "isReadOnly": false,
                    "sizeInMb": 10240,
                    "source": {"containerSource": "docker.io/weaveworks/ignite-ubuntu:20.04"},
                },
                "interfaces": [{"deviceId": "eth1", "type": "MACVTAP"}],
                "provider": "firecracker",
            },
        })
    );
    let user_data = decode(&metadata["user-data"]);
    assert_eq!(
        user_data,
        format!("#cloud-config\ndisable_root: false\nssh_authorized_keys:\n  - \"{KEY}\"\n")
    );
    assert_eq!(
        decode(&metadata["meta-data"]),
        "instance-id: \"sandbox\"\ninstance_id: \"sandbox\"\nlocal-hostname: \"sandbox\"\n"
    );
    assert_eq!(metadata.as_object().unwrap().len(), 2);
}

#[test]
fn ignite_defaults_fill_what_is_omitted() {
    let t = translate_first(
        "apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata: {name: small}
spec:
  image:
    ociClaim: {ref: weaveworks/ignite-ubuntu:20.04}
  memory: 1GB
  cpus: 0
  diskSize: \"0\"
",
    );
    let mvm = t.microvm.expect("translated");
    let spec = &mvm.value["spec"];
    assert_eq!(spec["vcpu"], 1);
    assert_eq!(spec["memoryInMb"], 1024);
    assert_eq!(spec["rootVolume"]["sizeInMb"], 4096);
    assert_eq!(
        spec["kernel"]["image"],
        "docker.io/weaveworks/ignite-kernel:4.19.47"
    );
    assert_eq!(
        spec["kernel"]["cmdline"],
        json!({"console": "ttyS0", "reboot": "k", "panic": "1", "pci": "off", "ip": "dhcp"})
    );
    assert!(spec["metadata"].get("user-data").is_none());
    // Nothing declares the image or Ignite's default kernel here.
    assert_eq!(
        lines(&t.findings),
        vec![
            "vms.yaml:6: warning: VM/small: spec.image.ociClaim.ref: weaveworks/ignite-ubuntu:20.04 is not declared by any Ignite Image object",
            "vms.yaml:4: warning: VM/small: spec.kernel.ociClaim.ref: weaveworks/ignite-kernel:4.19.47 (Ignite's default kernel when omitted) is not declared by any Ignite Kernel object",
        ]
    );
}

#[test]
fn ignite_default_memory_is_below_flintlock_minimum() {
    let t = translate_first(
        "apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata: {name: tiny}
spec:
  image:
    ociClaim: {ref: weaveworks/ignite-ubuntu:20.04}
  cpus: 2
",
    );
    assert!(t.microvm.is_none());
    let errors: Vec<String> = t
        .findings
        .iter()
        .filter(|f| f.is_error())
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        vec![
            "vms.yaml:4: VM/tiny: spec.memory: 512MB (Ignite's default when omitted) is below Flintlock's 1024 MB minimum; set at least 1GB"
        ]
    );
}

#[test]
fn flintlock_limits_are_errors_at_the_ignite_line() {
    let t = translate_first(
        "apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata: {name: odd}
spec:
  image:
    ociClaim: {ref: weaveworks/ignite-ubuntu:20.04}
  cpus: 65
  memory: 768MB
  diskSize: 3000000GB
",
    );
    assert!(t.microvm.is_none());
    let errors: Vec<String> = t
        .findings
        .iter()
        .filter(|f| f.is_error())
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        vec![
            "vms.yaml:7: VM/odd: spec.cpus: 65 is above Flintlock's maximum of 64 vCPUs",
            "vms.yaml:8: VM/odd: spec.memory: 768MB is below Flintlock's 1024 MB minimum; set at least 1GB",
            "vms.yaml:9: VM/odd: spec.diskSize: 3000000GB is too large: Flintlock sizes volumes in MiB as a 32-bit number (at most 2147483647 MiB)",
        ]
    );
    let big = translate_first(
        "apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata: {name: big}
spec:
  image: {ociClaim: {ref: weaveworks/ignite-ubuntu:20.04}}
  memory: 33GB
",
    );
    assert!(lines(&big.findings).contains(&"vms.yaml:6: VM/big: spec.memory: 33GB is above Flintlock's 32768 MB maximum; set at most 32GB".to_string()));
}

#[test]
fn sizes_are_binary_and_round_up_to_whole_mib() {
    let t = translate_first(
        "apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata: {name: v}
spec:
  image: {ociClaim: {ref: weaveworks/ignite-ubuntu:20.04}}
  memory: 1572864KB
  diskSize: 1500000KB
",
    );
    let mvm = t.microvm.as_ref().expect("warnings only");
    assert_eq!(mvm.value["spec"]["memoryInMb"], 1536);
    // 1500000 KiB = 1464.84 MiB
    assert_eq!(mvm.value["spec"]["rootVolume"]["sizeInMb"], 1465);
    assert!(lines(&t.findings).contains(
        &"vms.yaml:7: warning: VM/v: spec.diskSize: 1500000KB is not a whole number of MiB, and Flintlock counts in MiB; rounded up to 1465 MiB".to_string()
    ));
}

#[test]
fn ports_and_copy_files_are_dropped_with_a_warning_at_their_line() {
    let t = translate_first(&format!(
        "apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata: {{name: web}}
spec:
  image: {{ociClaim: {{ref: weaveworks/ignite-ubuntu:20.04}}}}
  kernel: {{ociClaim: {{ref: weaveworks/ignite-kernel:5.10.51}}}}
  memory: 1GB
  ports:
    - {{hostPort: 8080, vmPort: 80}}
    - {{hostPort: 2222, vmPort: 22}}
  copyFiles:
    - {{hostPath: /etc/resolv.conf, vmPath: /etc/resolv.conf}}
{KERNEL}{IMAGE}"
    ));
    assert!(t.microvm.is_some(), "warnings do not stop translation");
    assert_eq!(
        lines(&t.findings),
        vec![
            "vms.yaml:8: warning: VM/web: spec.ports: Flintlock has no port forwarding; dropped (8080:80, 2222:22). The microVM gets its own address on the host's network: connect to the VM port at that address",
            "vms.yaml:11: warning: VM/web: spec.copyFiles: Flintlock has no way to copy files into a microVM; dropped. Use cloud-init user-data instead",
        ]
    );
    let spec = t.microvm.unwrap().value["spec"].clone();
    assert!(spec.get("ports").is_none() && spec.get("copyFiles").is_none());
}

#[test]
fn cmdline_tokens_become_map_entries() {
    let t = translate_first(&format!(
        "apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata: {{name: k}}
spec:
  image: {{ociClaim: {{ref: weaveworks/ignite-ubuntu:20.04}}}}
  kernel:
    ociClaim: {{ref: weaveworks/ignite-kernel:5.10.51}}
    cmdLine: 'console=ttyS0 console=tty0 quiet init.opt=\"a b\" -- single'
  memory: 1GB
{KERNEL}{IMAGE}"
    ));
    let mvm = t.microvm.as_ref().expect("warnings only");
    assert_eq!(
        mvm.value["spec"]["kernel"]["cmdline"],
        json!({"console": "tty0", "quiet": "", "init.opt": "a b"})
    );
    assert_eq!(
        lines(&t.findings),
        vec![
            "vms.yaml:8: warning: VM/k: spec.kernel.cmdLine: console is given 2 times (ttyS0, tty0); Flintlock's cmdline is a map and keeps only the last (console=tty0)",
            "vms.yaml:8: warning: VM/k: spec.kernel.cmdLine: the arguments after `--` (single) are for init and need their order, which Flintlock's cmdline map cannot keep; dropped",
        ]
    );
}

#[test]
fn ssh_keys_reach_cloud_init_and_paths_warn() {
    let vm = |ssh: &str| {
        format!(
            "apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata: {{name: s}}
spec:
  image: {{ociClaim: {{ref: weaveworks/ignite-ubuntu:20.04}}}}
  kernel: {{ociClaim: {{ref: weaveworks/ignite-kernel:5.10.51}}}}
  memory: 1GB
  ssh: {ssh}
{KERNEL}{IMAGE}"
        )
    };
    // Two keys, one per line.
    let two = translate_first(&vm(&format!(
        "{{publicKey: \"{KEY}\\necdsa-sha2-nistp256 AAAAE2VjZHNh other@host\"}}"
    )));
    assert!(two.findings.is_empty(), "{:?}", lines(&two.findings));
    let user_data = decode(&two.microvm.unwrap().value["spec"]["metadata"]["user-data"]);
    assert!(user_data.starts_with("#cloud-config\n"), "{user_data}");
    assert!(
        user_data.contains(&format!("  - \"{KEY}\"\n")),
        "{user_data}"
    );
    assert!(user_data.contains("  - \"ecdsa-sha2-nistp256 AAAAE2VjZHNh other@host\"\n"));

    let path = translate_first(&vm("{publicKey: /home/me/.ssh/id.pub}"));
    assert_eq!(
        lines(&path.findings),
        vec![
            "vms.yaml:8: warning: VM/s: spec.ssh.publicKey: \"/home/me/.ssh/id.pub\" is a path on the Ignite host (Ignite copies that file into the VM), which mooring cannot read; no SSH key is installed. Write the public key itself here (ssh-ed25519 AAAA… user@host) and mooring passes it to cloud-init"
        ]
    );
    let spec = &path.microvm.unwrap().value["spec"];
    assert!(spec["metadata"].get("user-data").is_none());
    assert!(spec["metadata"].get("meta-data").is_some());

    let generate = translate_first(&vm("{}"));
    assert_eq!(generate.findings.len(), 1);
    assert_eq!(generate.findings[0].field.as_deref(), Some("spec.ssh"));
    assert!(
        generate.findings[0]
            .message
            .starts_with("Ignite generates a key pair on its host for this `ssh` setting")
    );
}

#[test]
fn kernels_and_images_are_cross_checked_in_full_form() {
    // Declared with the registry spelled out; the VM uses the short form.
    let declared = "---
apiVersion: ignite.weave.works/v1alpha1
kind: Kernel
metadata: {name: my-kernel}
spec:
  ociClaim: {ref: docker.io/weaveworks/ignite-kernel:4.19.47}
";
    let t = translate_first(&format!(
        "apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata: {{name: d}}
spec:
  image: {{ociClaim: {{ref: ghcr.io/acme/root:1}}}}
  memory: 1GB
{declared}"
    ));
    assert_eq!(
        lines(&t.findings),
        vec![
            "vms.yaml:5: warning: VM/d: spec.image.ociClaim.ref: ghcr.io/acme/root:1 is not declared by any Ignite Image object"
        ]
    );
    let ms = manifests(&full_vm());
    let d = Declared::from_manifests(&ms);
    assert!(d.declares_kernel("docker.io/weaveworks/ignite-kernel:5.10.51"));
    assert!(d.declares_image("weaveworks/ignite-ubuntu:20.04"));
    assert!(d.declares_image("ubuntu-base"), "names count too");
    assert!(!d.declares_kernel("weaveworks/ignite-ubuntu:20.04"));
}

#[test]
fn a_set_translates_its_valid_vms_and_reports_collisions() {
    let text = format!(
        "{}---
apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata: {{name: broken}}
spec:
  image: {{ociClaim: {{ref: weaveworks/ignite-ubuntu:20.04}}}}
  kernel: {{ociClaim: {{ref: weaveworks/ignite-kernel:5.10.51}}}}
---
apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata: {{name: twin}}
spec:
  image: {{ociClaim: {{ref: weaveworks/ignite-ubuntu:20.04}}}}
  kernel: {{ociClaim: {{ref: weaveworks/ignite-kernel:5.10.51}}}}
  memory: 1GB
---
apiVersion: flintlock.liquidmetal.dev/v1alpha1
kind: MicroVM
metadata: {{name: twin}}
spec:
  vcpu: 1
  memoryInMb: 1024
  kernel: {{image: ghcr.io/k/k:1, filename: vmlinux}}
  rootVolume: {{id: root, source: {{containerSource: ghcr.io/r/r:1}}}}
  interfaces: [{{deviceId: eth1}}]
",
        full_vm()
    );
    let ms = manifests(&text);
    let (microvms, findings) = translate_set(&ms);
    let names: Vec<String> = microvms.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(names, vec!["MicroVM/default/sandbox"]);
    let errors: Vec<String> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        vec![
            "vms.yaml:43: VM/broken: spec.memory: 512MB (Ignite's default when omitted) is below Flintlock's 1024 MB minimum; set at least 1GB",
            "vms.yaml:49: VM/twin: metadata.name: becomes MicroVM/default/twin, which is also declared at vms.yaml:55; rename one of them",
        ]
    );
}

// ---------------------------------------------------------------------------
// CLI

#[test]
fn translated_examples_validate_clean() {
    let out = mooring(&["translate", "examples/manifests/ignite"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.matches("\nkind: MicroVM\n").count(), 2);
    assert!(out.stdout.starts_with(
        "# Translated by mooring from Ignite VM dev-sandbox (examples/manifests/ignite/vms/dev-sandbox.yaml:8)\n"
    ));
    assert!(
        out.stdout
            .contains("\n---\n# Translated by mooring from Ignite VM load-tester")
    );
    assert!(out.stderr.contains(
        "examples/manifests/ignite/kernels/ignite-kernel-5.4.108.yaml:5: Kernel/weaveworks/ignite-kernel:5.4.108: declared, nothing to translate"
    ));
    assert!(out.stderr.contains("Pool/"), "{}", out.stderr);
    assert!(
        out.stderr
            .ends_with("8 documents in 8 files: 0 errors, 0 warnings; 2 Ignite VMs translated\n"),
        "{}",
        out.stderr
    );

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "microvms.yaml", &out.stdout);
    let file = dir.path().join("microvms.yaml");
    let check = mooring(&["validate", file.to_str().unwrap()], None);
    assert_eq!(check.code, 0, "{}", check.stdout);
    assert!(
        check
            .stdout
            .contains("2 documents in 1 file: 0 errors, 0 warnings\npolicies: "),
        "{}",
        check.stdout
    );
}

#[test]
fn translate_fails_on_errors_and_prints_nothing() {
    let out = mooring(
        &["translate", "--no-policies", "examples/ignite-migration"],
        None,
    );
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "");
    let expected = [
        "examples/ignite-migration/build-agent.yaml:15: VM/build-agent: spec.memory: 512MB (Ignite's default when omitted) is below Flintlock's 1024 MB minimum; set at least 1GB",
        "examples/ignite-migration/build-agent.yaml:26: warning: VM/build-agent: spec.copyFiles: Flintlock has no way to copy files into a microVM; dropped. Use cloud-init user-data instead",
        "examples/ignite-migration/build-agent.yaml:23: warning: VM/build-agent: spec.ports: Flintlock has no port forwarding; dropped (2222:22).",
    ];
    for e in expected {
        assert!(
            out.stderr.lines().any(|l| l.starts_with(e)),
            "missing {e}\n--- got:\n{}",
            out.stderr
        );
    }
    assert!(
        out.stderr
            .ends_with("1 error, 4 warnings; nothing translated\n"),
        "{}",
        out.stderr
    );
}

#[test]
fn host_and_json_output() {
    let out = mooring(
        &[
            "translate",
            "-o",
            "json",
            "--host",
            "edge-9",
            "examples/manifests/ignite/vms/dev-sandbox.yaml",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).expect("a JSON array");
    let items = doc.as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0]["metadata"]["annotations"]["mooring.dev/host"],
        "edge-9"
    );
    assert_eq!(items[0]["spec"]["memoryInMb"], 2048);
    // Alone, the VM's kernel and image are not declared: warnings, exit 0.
    assert!(
        out.stderr
            .contains("is not declared by any Ignite Kernel object")
    );

    let empty = mooring(&["translate", "--host", "", "examples"], None);
    assert_eq!(empty.code, 1);
    let missing = mooring(&["translate"], None);
    assert_eq!(missing.code, 1);
}

#[test]
fn validate_reports_translation_findings() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "vm.yaml",
        "apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata: {name: legacy}
spec:
  image: {ociClaim: {ref: weaveworks/ignite-ubuntu:20.04}}
  copyFiles:
    - {hostPath: /a, vmPath: /b}
",
    );
    let p = dir.path().join("vm.yaml");
    let p = p.to_str().unwrap();
    // Not for Flintlock: the memory floor is a warning that says why.
    let out = mooring(&["validate", "--no-policies", p], None);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains(&format!(
        "{p}:4: warning: VM/legacy: spec.memory: 512MB (Ignite's default when omitted) is below Flintlock's 1024 MB minimum; set at least 1GB. Ignite itself runs it, but translating or applying it to Flintlock fails (`validate --for flintlock` makes this an error)"
    )), "{}", out.stdout);
    assert!(out.stdout.contains(&format!(
        "{p}:6: warning: VM/legacy: spec.copyFiles: Flintlock has no way to copy files into a microVM; dropped."
    )), "{}", out.stdout);
    // For Flintlock, by flag or by a configured Flintlock target: an error.
    let out = mooring(
        &["validate", "--no-policies", "--for", "flintlock", p],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains(&format!(
        "{p}:4: VM/legacy: spec.memory: 512MB (Ignite's default when omitted) is below Flintlock's 1024 MB minimum; set at least 1GB"
    )), "{}", out.stdout);
    write(
        dir.path(),
        "mooring.yaml",
        "targets:\n  flintlock:\n    - {name: edge-1, endpoint: \"http://127.0.0.1:9\"}\n",
    );
    let config = dir.path().join("mooring.yaml");
    let out = mooring(
        &[
            "validate",
            "--no-policies",
            "--config",
            config.to_str().unwrap(),
            p,
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    // ... and so is `translate`, which is for Flintlock by nature.
    let out = mooring(&["translate", "--no-policies", p], None);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("nothing translated"), "{}", out.stderr);

    // A VM the schema rejects is not translated on top: one error, its own.
    write(
        dir.path(),
        "vm.yaml",
        "apiVersion: ignite.weave.works/v1alpha1\nkind: VM\nmetadata: {name: bad}\nspec:\n  memory: 1GB\n",
    );
    let out = mooring(&["validate", "--no-policies", p], None);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .contains("1 document in 1 file: 1 error, 0 warnings\npolicies: "),
        "{}",
        out.stdout
    );
}

#[test]
fn unknown_fields_let_through_do_not_break_translation() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "vm.yaml",
        "apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata: {name: loose}
spec:
  image: {ociClaim: {ref: weaveworks/ignite-ubuntu:20.04}}
  memory: 1GB
  netwrok: {mode: cni}
",
    );
    let p = dir.path().join("vm.yaml");
    let p = p.to_str().unwrap();
    let out = mooring(&["translate", "--no-policies", "--strict=false", p], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "{p}:7: warning: VM/loose: spec.netwrok: unknown field: dropped, Ignite objects are translated to Flintlock field by field (--strict refuses it)"
        )),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("memoryInMb: 1024\n"), "{}", out.stdout);
    assert!(!out.stdout.contains("netwrok"), "{}", out.stdout);
}

#[test]
fn the_desired_render_includes_translation_findings() {
    use mooring::validate::{Options, Validator};
    let text = "apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata: {name: v}
spec:
  image: {ociClaim: {ref: weaveworks/ignite-ubuntu:20.04}}
  extra: 1
";
    let validator = Validator::new(Options {
        strict: false,
        ..Options::default()
    })
    .unwrap();
    let read = mooring::source::Read {
        files: vec![SourceFile {
            path: "vms.yaml".into(),
            rel: "vms.yaml".into(),
            bytes: text.as_bytes().to_vec(),
        }],
        ..mooring::source::Read::default()
    };
    let desired = mooring::desired::render(
        read,
        &validator,
        &Limits::default(),
        &mooring::render::Renderer::default(),
    );
    // 512 MB is under Flintlock's minimum: an error, so no MicroVM is made.
    assert_eq!(desired.microvms.len(), 0, "{:#?}", desired.findings);
    let found = lines(&desired.findings);
    assert!(
        found.contains(
            &"vms.yaml:6: warning: VM/v: spec.extra: unknown field: dropped, Ignite objects are translated to Flintlock field by field (--strict refuses it)".to_string()
        ),
        "{found:#?}"
    );
    assert!(
        found.contains(&"vms.yaml:4: VM/v: spec.memory: 512MB (Ignite's default when omitted) is below Flintlock's 1024 MB minimum; set at least 1GB".to_string()),
        "{found:#?}"
    );
    assert!(
        !found.iter().any(|f| f.contains("cannot be read")),
        "{found:#?}"
    );
}

// ---------------------------------------------------------------------------
// Every Ignite version

/// A v1alpha4 VM (the declarative format of current Ignite documents) with
/// every field, and the v1alpha4 Kernel and Image it uses.
const V1ALPHA4: &str = "apiVersion: ignite.weave.works/v1alpha4
kind: VM
metadata:
  name: cache-1
  uid: a1b2c3d4e5f60718
  created: \"2021-07-01T12:00:00Z\"
  labels: {tier: cache}
spec:
  image:
    oci: weaveworks/ignite-ubuntu:20.04
  sandbox:
    oci: weaveworks/ignite:v0.10.0
  kernel:
    oci: weaveworks/ignite-kernel:5.10.51
    cmdLine: console=ttyS0 ip=dhcp
  cpus: 2
  memory: 2GB
  diskSize: 3GB
  network:
    ports:
      - {hostPort: 6379, vmPort: 6379}
      - {bindAddress: 127.0.0.1, hostPort: 5353, vmPort: 53, protocol: udp}
  storage:
    volumes:
      - name: data
        blockDevice: {path: /dev/loop7}
    volumeMounts:
      - {name: data, mountPath: /data}
  copyFiles:
    - {hostPath: /etc/redis.conf, vmPath: /etc/redis/redis.conf}
  ssh: true
---
apiVersion: ignite.weave.works/v1alpha4
kind: Kernel
metadata: {name: weaveworks/ignite-kernel:5.10.51, uid: 3c4d}
spec: {oci: weaveworks/ignite-kernel:5.10.51}
---
apiVersion: ignite.weave.works/v1alpha4
kind: Image
metadata: {name: weaveworks/ignite-ubuntu:20.04}
spec: {oci: weaveworks/ignite-ubuntu:20.04}
";

#[test]
fn v1alpha4_translates_field_by_field_with_a_warning_per_dropped_field() {
    let t = translate_first(V1ALPHA4);
    let mut found = lines(&t.findings);
    found.sort();
    assert_eq!(
        found,
        vec![
            "vms.yaml:12: warning: VM/cache-1: spec.sandbox.oci: weaveworks/ignite:v0.10.0 is the container Ignite runs Firecracker in; Flintlock runs its own hypervisor process, so it is dropped",
            "vms.yaml:20: warning: VM/cache-1: spec.network.ports: Flintlock has no port forwarding; dropped (6379:6379, 127.0.0.1:5353:53/udp). The microVM gets its own address on the host's network: connect to the VM port at that address",
            "vms.yaml:23: warning: VM/cache-1: spec.storage: Flintlock cannot attach a block device of the Ignite host; dropped (volumes: data). Give the microVM an additionalVolumes entry from a container image, or a virtiofs share, instead",
            "vms.yaml:29: warning: VM/cache-1: spec.copyFiles: Flintlock has no way to copy files into a microVM; dropped. Use cloud-init user-data instead",
            "vms.yaml:31: warning: VM/cache-1: spec.ssh: Ignite generates a key pair on its host for this `ssh` setting; Flintlock cannot, so no SSH key is installed. Put a public key (ssh-ed25519 AAAA…) in spec.ssh instead",
        ]
    );
    let mvm = t.microvm.expect("warnings only");
    let v = &mvm.value;
    assert_eq!(v["spec"]["vcpu"], 2);
    assert_eq!(v["spec"]["memoryInMb"], 2048);
    assert_eq!(v["spec"]["rootVolume"]["sizeInMb"], 3072);
    assert_eq!(
        v["spec"]["rootVolume"]["source"]["containerSource"],
        "docker.io/weaveworks/ignite-ubuntu:20.04"
    );
    assert_eq!(
        v["spec"]["kernel"]["image"],
        "docker.io/weaveworks/ignite-kernel:5.10.51"
    );
    assert_eq!(
        v["spec"]["kernel"]["cmdline"],
        json!({"console": "ttyS0", "ip": "dhcp"})
    );
    assert_eq!(
        v["metadata"]["annotations"]["mooring.dev/translated-from"],
        "ignite.weave.works/v1alpha4 VM/cache-1"
    );
    assert_eq!(v["metadata"]["labels"], json!({"tier": "cache"}));
    // Ignite's own metadata is not carried over.
    assert!(v["metadata"].get("uid").is_none() && v["metadata"].get("created").is_none());
    for dropped in ["sandbox", "network", "storage", "copyFiles", "ssh", "ports"] {
        assert!(v["spec"].get(dropped).is_none(), "{dropped}");
    }
}

#[test]
fn the_default_kernel_follows_the_version() {
    let vm = |version: &str, image: &str| {
        format!(
            "apiVersion: ignite.weave.works/{version}\nkind: VM\nmetadata: {{name: d}}\nspec:\n  image: {image}\n  memory: 1GB\n"
        )
    };
    for (version, image, kernel, pointer) in [
        (
            "v1alpha1",
            "{ociClaim: {ref: a/b:1}}",
            "docker.io/weaveworks/ignite-kernel:4.19.47",
            "spec.kernel.ociClaim.ref",
        ),
        (
            "v1alpha2",
            "{ociClaim: {ref: a/b:1}}",
            "docker.io/weaveworks/ignite-kernel:4.19.47",
            "spec.kernel.ociClaim.ref",
        ),
        (
            "v1alpha3",
            "{oci: a/b:1}",
            "docker.io/weaveworks/ignite-kernel:5.10.51",
            "spec.kernel.oci",
        ),
        (
            "v1alpha4",
            "{oci: a/b:1}",
            "docker.io/weaveworks/ignite-kernel:5.10.51",
            "spec.kernel.oci",
        ),
    ] {
        let t = translate_first(&vm(version, image));
        let mvm = t.microvm.as_ref().expect("warnings only");
        assert_eq!(mvm.value["spec"]["kernel"]["image"], kernel, "{version}");
        assert!(
            t.findings
                .iter()
                .any(|f| f.field.as_deref() == Some(pointer)
                    && f.message.contains("(Ignite's default kernel when omitted)")),
            "{version}: {:?}",
            lines(&t.findings)
        );
    }
}

#[test]
fn released_v1alpha1_and_v1alpha2_network_translate() {
    let v1 = translate_first(
        "apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata: {name: web-1, uid: 6a2b4c8d0e1f3a5b, created: null}
spec:
  image: {ociClaim: {type: Docker, ref: weaveworks/ignite-ubuntu:20.04}}
  memory: 1GB
  network:
    mode: docker-bridge
    ports: [{hostPort: 80, vmPort: 8080}]
  ssh: /home/me/.ssh/id_ed25519.pub
",
    );
    let found = lines(&v1.findings);
    assert!(found.contains(&"vms.yaml:9: warning: VM/web-1: spec.network.ports: Flintlock has no port forwarding; dropped (80:8080). The microVM gets its own address on the host's network: connect to the VM port at that address".to_string()), "{found:#?}");
    assert!(found.iter().any(|f| f.starts_with("vms.yaml:10: warning: VM/web-1: spec.ssh: \"/home/me/.ssh/id_ed25519.pub\" is a path on the Ignite host")), "{found:#?}");
    let mvm = v1.microvm.expect("warnings only");
    assert_eq!(mvm.value["spec"]["interfaces"][0]["deviceId"], "eth1");
    assert_eq!(
        mvm.value["metadata"]["annotations"]["mooring.dev/translated-from"],
        "ignite.weave.works/v1alpha1 VM/web-1"
    );

    let v2 = translate_first(
        "apiVersion: ignite.weave.works/v1alpha2
kind: VM
metadata: {name: db-1}
spec:
  image: {ociClaim: {ref: weaveworks/ignite-ubuntu:20.04}}
  memory: 1GB
  network: {mode: cni, ports: [{hostPort: 5432, vmPort: 5432, protocol: tcp}]}
  storage:
    volumes: [{name: pgdata, blockDevice: {path: /dev/vdb}}]
",
    );
    let found = lines(&v2.findings);
    assert!(found.iter().any(|f| f.starts_with("vms.yaml:7: warning: VM/db-1: spec.network.ports: Flintlock has no port forwarding; dropped (5432:5432/tcp)")), "{found:#?}");
    assert!(found.iter().any(|f| f.starts_with("vms.yaml:8: warning: VM/db-1: spec.storage: Flintlock cannot attach a block device of the Ignite host; dropped (volumes: pgdata)")), "{found:#?}");
    assert!(v2.microvm.is_some());
}

#[test]
fn private_keys_are_refused_and_never_shown() {
    let vm = |ssh: &str| {
        format!(
            "apiVersion: ignite.weave.works/v1alpha4
kind: VM
metadata: {{name: k}}
spec:
  image: {{oci: weaveworks/ignite-ubuntu:20.04}}
  memory: 1GB
  ssh: {ssh}
"
        )
    };
    let path = translate_first(&vm("/home/me/.ssh/id_ed25519"));
    assert!(path.microvm.is_none());
    let errors: Vec<&Finding> = path.findings.iter().filter(|f| f.is_error()).collect();
    assert_eq!(errors.len(), 1, "{:?}", lines(&path.findings));
    assert_eq!(errors[0].field.as_deref(), Some("spec.ssh"));
    assert!(
        errors[0]
            .message
            .starts_with("\"/home/me/.ssh/id_ed25519\" looks like the path of a private key"),
        "{}",
        errors[0].message
    );

    let secret = "-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUtopsecret\\n-----END OPENSSH PRIVATE KEY-----";
    let key = translate_first(&vm(&format!("\"{secret}\"")));
    assert!(key.microvm.is_none());
    let shown = lines(&key.findings).join("\n");
    assert!(
        shown.contains("spec.ssh: holds a private key (its value is not shown)"),
        "{shown}"
    );
    assert!(!shown.contains("topsecret"), "{shown}");
    // The reference document's mapping is checked the same way.
    let mapping = translate_first(&vm("{publicKey: /root/.ssh/id_rsa}"));
    assert!(
        mapping
            .findings
            .iter()
            .any(|f| f.is_error() && f.field.as_deref() == Some("spec.ssh.publicKey"))
    );
}

#[test]
fn kernels_and_images_of_every_version_are_declared() {
    let ms = manifests(V1ALPHA4);
    let declared = Declared::from_manifests(&ms);
    assert!(declared.declares_kernel("weaveworks/ignite-kernel:5.10.51"));
    assert!(declared.declares_image("docker.io/weaveworks/ignite-ubuntu:20.04"));
    let t = ignite_vm(&ms[0], &declared, MemoryFloor::Error);
    assert!(
        !t.findings
            .iter()
            .any(|f| f.message.contains("is not declared")),
        "{:?}",
        lines(&t.findings)
    );
}

#[test]
fn the_memory_floor_is_an_error_for_flintlock_and_a_warning_otherwise() {
    let text = "apiVersion: ignite.weave.works/v1alpha4\nkind: VM\nmetadata: {name: small}\nspec:\n  image: {oci: a/b:1}\n  memory: 512MB\n";
    let ms = manifests(text);
    let error = ignite_vm(&ms[0], &Declared::default(), MemoryFloor::Error);
    assert!(error.microvm.is_none());
    assert!(
        error
            .findings
            .iter()
            .any(|f| f.is_error() && f.field.as_deref() == Some("spec.memory"))
    );
    let warning = ignite_vm(&ms[0], &Declared::default(), MemoryFloor::Warning);
    assert!(!warning.has_errors(), "{:?}", lines(&warning.findings));
    let floor: Vec<&Finding> = warning
        .findings
        .iter()
        .filter(|f| f.field.as_deref() == Some("spec.memory"))
        .collect();
    assert_eq!(floor.len(), 1, "{:?}", lines(&warning.findings));
    assert!(
        floor[0]
            .message
            .contains("below Flintlock's 1024 MB minimum")
    );
    assert!(
        floor[0]
            .message
            .contains("translating or applying it to Flintlock fails")
    );
    // Applying always translates with the error.
    let (microvms, findings) = translate_set(&ms);
    assert!(microvms.is_empty());
    assert!(findings.iter().any(Finding::is_error));
}

#[test]
fn interface_annotations_become_interfaces_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "lab.yaml",
        "apiVersion: ignite.weave.works/v1alpha4
kind: VM
metadata:
  name: lab-node
  annotations:
    ignite.weave.works/interface/eth2: tc-redirect
    ignite.weave.works/interface/macvtap-a: macvtap
    ignite.weave.works/interface/eth3: veth
spec:
  image: {oci: weaveworks/ignite-ubuntu:20.04}
  kernel: {oci: weaveworks/ignite-kernel:5.10.51}
  memory: 1GB
---
apiVersion: ignite.weave.works/v1alpha4
kind: Kernel
metadata: {name: weaveworks/ignite-kernel:5.10.51}
spec: {oci: weaveworks/ignite-kernel:5.10.51}
---
apiVersion: ignite.weave.works/v1alpha4
kind: Image
metadata: {name: weaveworks/ignite-ubuntu:20.04}
spec: {oci: weaveworks/ignite-ubuntu:20.04}
",
    );
    let p = dir.path().join("lab.yaml");
    let p = p.to_str().unwrap();
    let out = mooring(&["translate", "--no-policies", "-o", "json", p], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).expect("a JSON array");
    assert_eq!(
        doc[0]["spec"]["interfaces"],
        json!([
            {"deviceId": "eth1", "type": "MACVTAP"},
            {"deviceId": "eth2", "type": "TAP"},
            {"deviceId": "macvtap_a", "type": "MACVTAP"},
        ])
    );
    for expected in [
        format!(
            "{p}:8: warning: VM/lab-node: metadata.annotations[\"ignite.weave.works/interface/eth3\"]: \"veth\" is not an Ignite interface mode (dhcp-bridge or tc-redirect; mooring also reads macvtap); Ignite ignores it, and no interface eth3 is translated"
        ),
        format!(
            "{p}:7: warning: VM/lab-node: metadata.annotations[\"ignite.weave.works/interface/macvtap-a\"]: \"macvtap-a\" is not a Flintlock device id (a lowercase letter, then lowercase letters, digits or '_'); this macvtap interface is translated as deviceId macvtap_a"
        ),
    ] {
        assert!(
            out.stderr.lines().any(|l| l == expected),
            "missing {expected}\n--- got:\n{}",
            out.stderr
        );
    }
    assert!(
        out.stderr
            .ends_with("0 errors, 2 warnings; 1 Ignite VM translated\n"),
        "{}",
        out.stderr
    );

    // What it prints is a MicroVM Flintlock's rules accept.
    let yaml = mooring(&["translate", "--no-policies", p], None);
    assert_eq!(yaml.code, 0, "{}", yaml.stderr);
    write(dir.path(), "out/microvms.yaml", &yaml.stdout);
    let file = dir.path().join("out/microvms.yaml");
    let check = mooring(&["validate", "--no-policies", file.to_str().unwrap()], None);
    assert_eq!(check.code, 0, "{}", check.stdout);
    assert!(
        check
            .stdout
            .contains("1 document in 1 file: 0 errors, 0 warnings\npolicies: "),
        "{}",
        check.stdout
    );
}
