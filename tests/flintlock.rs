//! The Flintlock backend against the flintlockd emulator: the real
//! observe → plan → apply code paths over gRPC on loopback.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use mooring::backend::flintlock::Flintlock;
use mooring::backend::{Backend, BackendError, Done, with_ownership};
use mooring::config::{FlintlockHost, Tls};
use mooring::manifest::{Limits, Manifest, ObjectId, SourceFile, load};
use mooring::plan::{Action, Plan, plan_observed};
use mooring_emulators::flintlock::{
    FlintlockEmulator, FlintlockOptions, Kernel, MicroVm, MicroVmSpec, MicroVmState,
    NetworkInterface, ServerTls, Volume, VolumeSource,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};

const SOURCE: &str = "test";

/// A MicroVM manifest; `extra_meta` goes under `metadata:` (two-space
/// indented lines), `memory` is `spec.memoryInMb`.
fn vm(name: &str, memory: i32, extra_meta: &str) -> String {
    format!(
        "apiVersion: flintlock.liquidmetal.dev/v1alpha1
kind: MicroVM
metadata:
  name: {name}
{extra_meta}spec:
  vcpu: 2
  memoryInMb: {memory}
  kernel: {{image: 'ghcr.io/liquidmetal-dev/kernel:6.1', filename: boot/vmlinux}}
  rootVolume:
    id: root
    source: {{containerSource: 'ghcr.io/liquidmetal-dev/ubuntu:22.04'}}
  additionalVolumes:
    - id: data
      mountPoint: /data
      source: {{containerSource: 'ghcr.io/liquidmetal-dev/data:1'}}
  interfaces:
    - deviceId: eth1
      type: TAP
      overrides: {{bridgeName: br0}}
  metadata:
    user-data: I2Nsb3VkLWNvbmZpZwo=
  provider: firecracker
"
    )
}

fn on_host(host: &str) -> String {
    format!("  annotations:\n    mooring.dev/host: {host}\n")
}

/// Loads `docs` (joined as one file `vms.yaml`) with ownership labels.
fn manifests(docs: &[String]) -> Vec<Manifest> {
    let text = docs.join("---\n");
    let loaded = load(
        &[SourceFile {
            path: "vms.yaml".into(),
            rel: "vms.yaml".into(),
            bytes: text.into_bytes(),
        }],
        &Limits::default(),
    );
    assert!(loaded.findings.is_empty(), "{:?}", loaded.findings);
    loaded
        .manifests
        .iter()
        .map(|m| with_ownership(m, SOURCE))
        .collect()
}

fn host(name: &str, emu: &FlintlockEmulator) -> FlintlockHost {
    FlintlockHost {
        name: name.into(),
        endpoint: emu.endpoint(),
        tls: None,
        token_file: None,
    }
}

fn backend(hosts: &[FlintlockHost]) -> Flintlock {
    Flintlock::new(hosts, SOURCE, 8, Duration::from_secs(10))
        .unwrap()
        .with_retries(3, Duration::from_millis(10))
        .with_wait_limit(Duration::from_secs(20))
}

async fn plan(backend: &Flintlock, desired: &[Manifest]) -> Plan {
    let observed = backend.observe(desired).await.unwrap();
    plan_observed("flintlock", observed.rows)
}

/// Applies every actionable change of `plan`, concurrently.
async fn apply(
    backend: &Flintlock,
    plan: &Plan,
    desired: &[Manifest],
) -> Vec<Result<Done, BackendError>> {
    let by_id: BTreeMap<&ObjectId, &Manifest> = desired.iter().map(|m| (&m.id, m)).collect();
    let work = plan
        .changes
        .iter()
        .filter(|c| c.is_actionable())
        .map(|c| backend.apply(c, by_id.get(&c.id).copied()));
    futures::future::join_all(work).await
}

async fn converge(backend: &Flintlock, desired: &[Manifest]) -> Plan {
    let p = plan(backend, desired).await;
    for r in apply(backend, &p, desired).await {
        r.unwrap();
    }
    p
}

fn live(emu: &FlintlockEmulator, name: &str) -> Vec<MicroVm> {
    emu.vms()
        .into_iter()
        .filter(|vm| vm.spec.as_ref().is_some_and(|s| s.id == name))
        .collect()
}

fn uid(vm: &MicroVm) -> String {
    vm.spec.as_ref().unwrap().uid.clone().unwrap()
}

fn state(vm: &MicroVm) -> MicroVmState {
    MicroVmState::try_from(vm.status.as_ref().unwrap().state).unwrap()
}

/// A valid spec as another client would send it (no mooring labels).
fn foreign_spec(name: &str) -> MicroVmSpec {
    MicroVmSpec {
        id: name.into(),
        namespace: "default".into(),
        vcpu: 1,
        memory_in_mb: 1024,
        kernel: Some(Kernel {
            image: "ghcr.io/liquidmetal-dev/kernel:6.1".into(),
            filename: Some("boot/vmlinux".into()),
            ..Kernel::default()
        }),
        root_volume: Some(Volume {
            id: "root".into(),
            source: Some(VolumeSource {
                container_source: Some("ghcr.io/liquidmetal-dev/ubuntu:22.04".into()),
                virtiofs_source: None,
            }),
            ..Volume::default()
        }),
        interfaces: vec![NetworkInterface {
            device_id: "eth1".into(),
            ..NetworkInterface::default()
        }],
        ..MicroVmSpec::default()
    }
}

#[tokio::test]
async fn create_then_plan_is_unchanged() {
    let emu = FlintlockEmulator::start(FlintlockOptions::default())
        .await
        .unwrap();
    let b = backend(&[host("edge-1", &emu)]);
    let desired = manifests(&[vm("web", 2048, "")]);

    let first = plan(&b, &desired).await;
    assert_eq!(first.summary.create, 1, "{first:?}");
    let results = apply(&b, &first, &desired).await;
    let applied = results[0].as_ref().unwrap();
    let vms = live(&emu, "web");
    assert_eq!(vms.len(), 1);
    assert_eq!(state(&vms[0]), MicroVmState::Created);
    assert_eq!(
        applied.summary,
        format!("created on edge-1 (uid {})", uid(&vms[0]))
    );
    assert_eq!(applied.unhealthy, None);

    // The server dropped labels, mount points, bridges and the provider,
    // and added eth0 and meta-data: none of it is drift.
    let again = plan(&b, &desired).await;
    assert!(!again.has_changes(), "{:#?}", again.changes);
    assert_eq!(again.summary.unchanged, 1);
}

#[tokio::test]
async fn a_changed_spec_is_replaced_with_a_new_uid() {
    let emu = FlintlockEmulator::start(FlintlockOptions::default())
        .await
        .unwrap();
    let b = backend(&[host("edge-1", &emu)]);
    converge(&b, &manifests(&[vm("web", 2048, "")])).await;
    let old = uid(&live(&emu, "web")[0]);

    let desired = manifests(&[vm("web", 4096, "")]);
    let p = plan(&b, &desired).await;
    assert_eq!(p.summary.replace, 1, "{:#?}", p.changes);
    let change = &p.changes[0];
    assert_eq!(change.action, Action::Replace);
    assert!(
        change
            .diff
            .contains("-  memoryInMb: 2048\n+  memoryInMb: 4096\n"),
        "{}",
        change.diff
    );
    let results = apply(&b, &p, &desired).await;
    let summary = &results[0].as_ref().unwrap().summary;

    let vms = live(&emu, "web");
    assert_eq!(vms.len(), 1, "the old microVM is gone");
    let new = uid(&vms[0]);
    assert_ne!(new, old);
    assert_eq!(vms[0].spec.as_ref().unwrap().memory_in_mb, 4096);
    assert_eq!(
        *summary,
        format!("replaced on edge-1 (deleted uid {old}, created uid {new})")
    );
    assert!(!plan(&b, &desired).await.has_changes());
}

#[tokio::test]
async fn replace_never_reports_drift_and_leaves_the_microvm_alone() {
    let emu = FlintlockEmulator::start(FlintlockOptions::default())
        .await
        .unwrap();
    let b = backend(&[host("edge-1", &emu)]);
    let never = "  annotations:\n    mooring.dev/replace: never\n";
    converge(&b, &manifests(&[vm("db", 2048, never)])).await;
    let before = uid(&live(&emu, "db")[0]);

    let desired = manifests(&[vm("db", 8192, never)]);
    let p = plan(&b, &desired).await;
    let change = &p.changes[0];
    assert_eq!(change.action, Action::Replace);
    assert_eq!(
        change.blocked.as_deref(),
        Some("mooring.dev/replace: never")
    );
    assert_eq!(p.summary.blocked, 1);
    assert!(!change.is_actionable());
    // Even when asked directly, a blocked change is not carried out.
    let applied = b.apply(change, Some(&desired[0])).await.unwrap();
    assert!(applied.summary.starts_with("left alone"), "{applied:?}");
    let vms = live(&emu, "db");
    assert_eq!(vms.len(), 1);
    assert_eq!(uid(&vms[0]), before);
    assert_eq!(vms[0].spec.as_ref().unwrap().memory_in_mb, 2048);
}

#[tokio::test]
async fn owned_microvms_are_pruned_and_foreign_ones_never_touched() {
    let emu = FlintlockEmulator::start(FlintlockOptions::default())
        .await
        .unwrap();
    let stranger = emu.insert(foreign_spec("stranger"));
    let b = backend(&[host("edge-1", &emu)]);
    converge(&b, &manifests(&[vm("a", 2048, ""), vm("b", 2048, "")])).await;

    let desired = manifests(&[vm("a", 2048, "")]);
    let p = plan(&b, &desired).await;
    let actions: Vec<(&str, Action)> = p
        .changes
        .iter()
        .map(|c| (c.id.name.as_str(), c.action))
        .collect();
    assert_eq!(actions, [("a", Action::Unchanged), ("b", Action::Delete)]);
    let delete = &p.changes[1];
    assert_eq!(delete.file, "flintlock host edge-1");
    let b_uid = uid(&live(&emu, "b")[0]);
    let results = apply(&b, &p, &desired).await;
    assert_eq!(
        results[0].as_ref().unwrap().summary,
        format!("deleted from edge-1 (uid {b_uid})")
    );
    assert!(live(&emu, "b").is_empty());
    assert_eq!(uid(&live(&emu, "stranger")[0]), stranger);

    // Declaring a microVM by the stranger's name does not take it over.
    let desired = manifests(&[vm("a", 2048, ""), vm("stranger", 2048, "")]);
    let p = plan(&b, &desired).await;
    let change = p.changes.iter().find(|c| c.id.name == "stranger").unwrap();
    assert_eq!(change.action, Action::Replace);
    let why = change.blocked.as_deref().unwrap();
    assert!(
        why.contains("does not carry mooring's ownership labels"),
        "{why}"
    );
    apply(&b, &p, &desired).await;
    assert_eq!(uid(&live(&emu, "stranger")[0]), stranger);
}

#[tokio::test]
async fn the_host_annotation_chooses_the_host_and_moves_microvms() {
    let one = FlintlockEmulator::start(FlintlockOptions::default())
        .await
        .unwrap();
    let two = FlintlockEmulator::start(FlintlockOptions::default())
        .await
        .unwrap();
    let b = backend(&[host("edge-1", &one), host("edge-2", &two)]);
    let desired = manifests(&[
        vm("a", 2048, &on_host("edge-2")),
        vm("b", 2048, &on_host("edge-1")),
    ]);
    converge(&b, &desired).await;
    assert!(live(&one, "a").is_empty());
    assert_eq!(live(&two, "a").len(), 1);
    assert_eq!(live(&one, "b").len(), 1);
    assert!(!plan(&b, &desired).await.has_changes());

    // Moving `a` to edge-1: a replace across hosts.
    let old = uid(&live(&two, "a")[0]);
    let moved = manifests(&[
        vm("a", 2048, &on_host("edge-1")),
        vm("b", 2048, &on_host("edge-1")),
    ]);
    let p = plan(&b, &moved).await;
    let change = p.changes.iter().find(|c| c.id.name == "a").unwrap();
    assert_eq!(change.action, Action::Replace);
    assert_eq!(change.notes, ["moves from host edge-2 to edge-1"]);
    assert!(
        change.diff.contains("+    mooring.dev/host: edge-1"),
        "{}",
        change.diff
    );
    let results = apply(&b, &p, &moved).await;
    let summary = &results[0].as_ref().unwrap().summary;
    assert!(live(&two, "a").is_empty());
    let new = uid(&live(&one, "a")[0]);
    assert_eq!(
        *summary,
        format!("replaced (deleted uid {old} on edge-2, created uid {new} on edge-1)")
    );

    // Unknown and missing hosts are errors before any call.
    let bad = manifests(&[vm("c", 2048, &on_host("edge-9"))]);
    let err = b.observe(&bad).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "flintlock: vms.yaml:1: MicroVM/default/c: annotation mooring.dev/host names \
         `edge-9`; configured hosts: edge-1, edge-2"
    );
    assert!(matches!(err, BackendError::Invalid { .. }));
    let none = manifests(&[vm("c", 2048, "")]);
    let err = b.observe(&none).await.unwrap_err().to_string();
    assert!(
        err.contains("annotation mooring.dev/host is required to choose a host"),
        "{err}"
    );
}

fn token_file(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("token");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn the_token_is_sent_and_a_wrong_one_is_unauthorized() {
    let emu = FlintlockEmulator::start(FlintlockOptions {
        token: Some("s3cret".into()),
        ..FlintlockOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let desired = manifests(&[vm("web", 2048, "")]);

    let mut good = host("edge-1", &emu);
    good.token_file = Some(token_file(&dir, "s3cret\n"));
    converge(&backend(&[good]), &desired).await;
    assert_eq!(live(&emu, "web").len(), 1);

    let mut wrong = host("edge-1", &emu);
    wrong.token_file = Some(token_file(&dir, "guess"));
    let err = backend(&[wrong]).observe(&desired).await.unwrap_err();
    assert!(matches!(err, BackendError::Unauthorized { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("refused the credentials"), "{text}");
    assert!(!text.contains("guess"), "the token never shows: {text}");

    let err = backend(&[host("edge-1", &emu)])
        .observe(&desired)
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Unauthorized { .. }), "{err:?}");

    let mut missing = host("edge-1", &emu);
    missing.token_file = Some(dir.path().join("nope"));
    let err = Flintlock::new(&[missing], SOURCE, 8, Duration::from_secs(5)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("tokenFile"), "{text}");
    assert!(text.contains("nope: cannot be read"), "{text}");
}

#[tokio::test]
async fn a_host_that_is_down_is_unreachable_and_nothing_is_observed() {
    let emu = FlintlockEmulator::start(FlintlockOptions::default())
        .await
        .unwrap();
    let endpoint = emu.endpoint();
    let b = backend(&[host("edge-1", &emu)]);
    let desired = manifests(&[vm("web", 2048, "")]);
    converge(&b, &desired).await;
    drop(emu);

    let err = b.observe(&desired).await.unwrap_err();
    match &err {
        BackendError::Unreachable { endpoint: e, .. } => {
            assert_eq!(*e, format!("edge-1 ({endpoint})"));
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(err.to_string().contains("after 3 attempts"), "{err}");
}

#[tokio::test]
async fn unavailable_reads_are_retried_and_creates_are_not_sent_twice() {
    let emu = FlintlockEmulator::start(FlintlockOptions::default())
        .await
        .unwrap();
    let b = backend(&[host("edge-1", &emu)]);
    let desired = manifests(&[vm("web", 2048, "")]);

    emu.inject_unavailable(1);
    let p = plan(&b, &desired).await;
    assert_eq!(p.summary.create, 1);
    assert_eq!(
        emu.call_count("ListMicroVMs"),
        2,
        "one refused, one retried"
    );

    // The create is carried out but its answer is lost: the backend finds
    // the microVM by name instead of making a second one.
    emu.lose_create_answers(1);
    let results = apply(&b, &p, &desired).await;
    results[0].as_ref().unwrap();
    assert_eq!(emu.call_count("CreateMicroVM"), 1);
    assert_eq!(live(&emu, "web").len(), 1);

    // A create refused before it happened is sent again.
    let two = manifests(&[vm("web", 2048, ""), vm("api", 2048, "")]);
    let p = plan(&b, &two).await;
    emu.reset_calls();
    emu.inject_unavailable(1);
    for r in apply(&b, &p, &two).await {
        r.unwrap();
    }
    assert_eq!(emu.call_count("CreateMicroVM"), 2);
    assert_eq!(live(&emu, "api").len(), 1);
    assert!(!plan(&b, &two).await.has_changes());
}

#[tokio::test]
async fn a_failed_microvm_is_reported_unhealthy_with_its_retries() {
    let emu = FlintlockEmulator::start(FlintlockOptions::default())
        .await
        .unwrap();
    emu.fail_creates(1);
    let b = backend(&[host("edge-1", &emu)]);
    let desired = manifests(&[vm("web", 2048, "")]);
    let p = plan(&b, &desired).await;
    let results = apply(&b, &p, &desired).await;
    let applied = results[0].as_ref().unwrap();
    assert_eq!(
        applied.unhealthy.as_deref(),
        Some("FAILED (the server retried 3 times)")
    );
    let again = plan(&b, &desired).await;
    assert_eq!(again.summary.unchanged, 1);
    assert_eq!(
        again.changes[0].notes,
        ["unhealthy: FAILED (the server retried 3 times)"]
    );
}

#[tokio::test]
async fn the_servers_validation_message_is_shown() {
    let emu = FlintlockEmulator::start(FlintlockOptions::default())
        .await
        .unwrap();
    let b = backend(&[host("edge-1", &emu)]);
    let desired = manifests(&[vm("tiny", 512, "")]);
    let p = plan(&b, &desired).await;
    let results = apply(&b, &p, &desired).await;
    let err = results.into_iter().next().unwrap().unwrap_err();
    assert!(matches!(err, BackendError::Invalid { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("flintlock: vms.yaml:1: MicroVM/default/tiny: edge-1 refused it: "),
        "{text}"
    );
    assert!(
        text.contains("memory_in_mb: 512 is below the minimum of 1024"),
        "{text}"
    );
    assert!(emu.vms().is_empty());
}

#[tokio::test]
async fn drift_behind_moorings_back_is_planned() {
    let emu = FlintlockEmulator::start(FlintlockOptions::default())
        .await
        .unwrap();
    let b = backend(&[host("edge-1", &emu)]);
    let desired = manifests(&[vm("web", 2048, ""), vm("api", 2048, "")]);
    converge(&b, &desired).await;

    assert!(emu.edit("default", "web", |s| s.vcpu = 8));
    assert_eq!(emu.remove("default", "api"), 1);
    let p = plan(&b, &desired).await;
    let actions: Vec<(&str, Action)> = p
        .changes
        .iter()
        .map(|c| (c.id.name.as_str(), c.action))
        .collect();
    assert_eq!(actions, [("api", Action::Create), ("web", Action::Replace)]);
    converge(&b, &desired).await;
    assert!(!plan(&b, &desired).await.has_changes());
    assert_eq!(live(&emu, "web")[0].spec.as_ref().unwrap().vcpu, 2);
}

#[tokio::test]
async fn reads_are_one_list_per_host_for_hundreds_of_microvms() {
    let fast = FlintlockOptions {
        create_delay: Duration::ZERO,
        delete_delay: Duration::ZERO,
        ..FlintlockOptions::default()
    };
    let one = FlintlockEmulator::start(fast.clone()).await.unwrap();
    let two = FlintlockEmulator::start(fast).await.unwrap();
    let b = backend(&[host("edge-1", &one), host("edge-2", &two)]);
    let docs: Vec<String> = (0..200)
        .map(|i| {
            let meta = format!(
                "  namespace: team-{}\n{}",
                i % 4,
                on_host(if i % 2 == 0 { "edge-1" } else { "edge-2" })
            );
            vm(&format!("vm-{i:03}"), 2048, &meta)
        })
        .collect();
    let desired = manifests(&docs);
    let first = converge(&b, &desired).await;
    assert_eq!(first.summary.create, 200);
    assert_eq!(one.vms().len() + two.vms().len(), 200);

    one.reset_calls();
    two.reset_calls();
    let p = plan(&b, &desired).await;
    assert_eq!(p.summary.unchanged, 200);
    for emu in [&one, &two] {
        assert_eq!(
            emu.calls(),
            BTreeMap::from([("ListMicroVMs".to_string(), 1)]),
            "one list per host, no gets"
        );
    }
}

#[tokio::test]
async fn an_older_flintlockd_is_listed_per_namespace() {
    let emu = FlintlockEmulator::start(FlintlockOptions {
        namespace_required: true,
        ..FlintlockOptions::default()
    })
    .await
    .unwrap();
    let b = backend(&[host("edge-1", &emu)]);
    let desired = manifests(&[
        vm("a", 2048, "  namespace: team-a\n"),
        vm("b", 2048, "  namespace: team-b\n"),
    ]);
    converge(&b, &desired).await;
    emu.reset_calls();
    let p = plan(&b, &desired).await;
    assert_eq!(p.summary.unchanged, 2);
    // The refused all-namespace list, then default, team-a and team-b.
    assert_eq!(emu.call_count("ListMicroVMs"), 4);
}

#[tokio::test]
async fn update_is_not_a_flintlock_operation() {
    let emu = FlintlockEmulator::start(FlintlockOptions::default())
        .await
        .unwrap();
    let b = backend(&[host("edge-1", &emu)]);
    let desired = manifests(&[vm("web", 2048, "")]);
    let mut p = plan(&b, &desired).await;
    p.changes[0].action = Action::Update;
    let err = b.apply(&p.changes[0], Some(&desired[0])).await.unwrap_err();
    assert!(matches!(err, BackendError::Unsupported { .. }), "{err:?}");
    assert!(emu.vms().is_empty());
}

#[tokio::test]
async fn a_foreign_microvm_in_the_way_of_a_move_keeps_moorings_own() {
    let one = FlintlockEmulator::start(FlintlockOptions::default())
        .await
        .unwrap();
    let two = FlintlockEmulator::start(FlintlockOptions::default())
        .await
        .unwrap();
    let b = backend(&[host("edge-1", &one), host("edge-2", &two)]);
    converge(&b, &manifests(&[vm("x", 2048, &on_host("edge-2"))])).await;
    let ours = uid(&live(&two, "x")[0]);
    one.insert(foreign_spec("x"));

    let desired = manifests(&[vm("x", 2048, &on_host("edge-1"))]);
    let p = plan(&b, &desired).await;
    assert_eq!(p.changes.len(), 1, "{:#?}", p.changes);
    let change = &p.changes[0];
    assert!(change.blocked.is_some());
    assert_eq!(
        change.notes,
        [format!(
            "uid {ours} on host edge-2 is mooring's and is left alone"
        )]
    );
    apply(&b, &p, &desired).await;
    assert_eq!(uid(&live(&two, "x")[0]), ours);
}

/// PEM files of a throwaway CA, a server certificate for 127.0.0.1 and a
/// client certificate, both signed by the CA.
struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

fn make_pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |names: &[&str], usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        ca: ca.pem(),
        server: leaf(
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        ),
        client: leaf(&["mooring"], ExtendedKeyUsagePurpose::ClientAuth),
    }
}

#[tokio::test]
async fn mutual_tls_works_and_a_missing_client_certificate_is_refused() {
    let pki = make_pki();
    let emu = FlintlockEmulator::start(FlintlockOptions {
        tls: Some(ServerTls {
            cert_pem: pki.server.0.clone().into_bytes(),
            key_pem: pki.server.1.clone().into_bytes(),
            client_ca_pem: Some(pki.ca.clone().into_bytes()),
        }),
        ..FlintlockOptions::default()
    })
    .await
    .unwrap();
    assert!(emu.endpoint().starts_with("https://127.0.0.1:"));
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let tls = Tls {
        ca: Some(file("ca.pem", &pki.ca)),
        cert: Some(file("client.pem", &pki.client.0)),
        key: Some(file("client.key", &pki.client.1)),
    };
    let mut config = host("edge-1", &emu);
    config.tls = Some(tls.clone());
    let desired = manifests(&[vm("web", 2048, "")]);
    let b = backend(&[config.clone()]);
    converge(&b, &desired).await;
    assert_eq!(live(&emu, "web").len(), 1);
    assert!(!plan(&b, &desired).await.has_changes());

    // Server verified, but no client certificate: the handshake fails.
    let mut anonymous = config.clone();
    anonymous.tls = Some(Tls {
        cert: None,
        key: None,
        ..tls.clone()
    });
    let err = backend(&[anonymous]).observe(&desired).await.unwrap_err();
    assert!(matches!(err, BackendError::Unauthorized { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("the client certificate was refused"),
        "{err}"
    );

    // A server signed by another CA is not trusted.
    let other = make_pki();
    let mut untrusting = config.clone();
    untrusting.tls = Some(Tls {
        ca: Some(file("other-ca.pem", &other.ca)),
        ..tls.clone()
    });
    let err = backend(&[untrusting]).observe(&desired).await.unwrap_err();
    assert!(matches!(err, BackendError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");

    // A certificate without its key, and TLS on a plain endpoint, are
    // configuration errors.
    let mut half = config.clone();
    half.tls = Some(Tls {
        key: None,
        ..tls.clone()
    });
    let err = Flintlock::new(&[half], SOURCE, 8, Duration::from_secs(5)).unwrap_err();
    assert!(
        err.to_string().contains("tls.cert and tls.key go together"),
        "{err}"
    );
    let mut plain = config;
    plain.endpoint = plain.endpoint.replace("https://", "http://");
    let err = Flintlock::new(&[plain], SOURCE, 8, Duration::from_secs(5)).unwrap_err();
    assert!(err.to_string().contains("use https://"), "{err}");
}

#[tokio::test]
async fn a_slow_create_is_waited_for_within_the_limit_and_shown_pending() {
    let emu = FlintlockEmulator::start(FlintlockOptions {
        create_delay: Duration::from_secs(3600),
        ..FlintlockOptions::default()
    })
    .await
    .unwrap();
    let b = backend(&[host("edge-1", &emu)]).with_wait_limit(Duration::from_millis(200));
    let desired = manifests(&[vm("slow", 2048, "")]);
    let p = plan(&b, &desired).await;
    let err = apply(&b, &p, &desired)
        .await
        .into_iter()
        .next()
        .unwrap()
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("but still PENDING after 200ms"), "{text}");
    let again = plan(&b, &desired).await;
    assert_eq!(again.summary.unchanged, 1, "created once, not again");
    assert_eq!(
        again.changes[0].notes,
        ["pending: the host has not finished creating it"]
    );
}

#[tokio::test]
async fn a_manifest_that_does_not_convert_names_the_field() {
    let emu = FlintlockEmulator::start(FlintlockOptions::default())
        .await
        .unwrap();
    let b = backend(&[host("edge-1", &emu)]);
    let desired = manifests(&[vm("web", 2048, "").replace("vcpu: 2", "vcpu: two")]);
    let err = b.observe(&desired).await.unwrap_err();
    assert!(matches!(err, BackendError::Invalid { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "flintlock: vms.yaml:1: MicroVM/default/web: spec.vcpu: invalid type: string \"two\", \
         expected i32"
    );
    assert_eq!(
        emu.call_count("ListMicroVMs"),
        0,
        "nothing is read from bad input"
    );
}

/// Health of a microVM, as `apply --wait` and the daemon ask it: found by
/// its uid once observed and by name right after a create; a microVM the
/// host failed is `failed`, naming the retries; one no host has is in
/// progress; one another client made is never taken for ours.
#[tokio::test]
async fn microvm_health_follows_its_state() {
    use mooring::plan::health::Health;
    let emu = FlintlockEmulator::start(FlintlockOptions::default())
        .await
        .unwrap();
    let b = backend(&[host("edge-1", &emu)]);
    let desired = manifests(&[vm("web", 2048, ""), vm("db", 2048, "")]);

    // Planned, not made: nothing to find yet, and a microVM of the same
    // name that another client made is not ours.
    let p = plan(&b, &desired).await;
    let web = p.changes.iter().find(|c| c.id.name == "web").unwrap();
    assert_eq!(
        b.health(web).await.unwrap(),
        Some(Health::InProgress("no host has it".into()))
    );
    let foreign = emu.insert(foreign_spec("cache"));
    let cache = mooring::plan::Change {
        id: ObjectId {
            name: "cache".into(),
            ..web.id.clone()
        },
        handle: Some(mooring::plan::Handle::Flintlock {
            host: "edge-1".into(),
            uid: foreign,
        }),
        ..web.clone()
    };
    assert_eq!(
        b.health(&cache).await.unwrap(),
        Some(Health::InProgress("no host has it".into()))
    );

    emu.fail_creates(1);
    let mut results = Vec::new();
    for c in p.changes.iter().filter(|c| c.is_actionable()) {
        let m = desired.iter().find(|m| m.id == c.id).unwrap();
        results.push((c.id.name.clone(), b.apply(c, Some(m)).await.unwrap()));
    }
    // The first create (db, in plan order) failed; the change still has no
    // uid, so the microVM is found by name.
    let db = p.changes.iter().find(|c| c.id.name == "db").unwrap();
    assert_eq!(
        b.health(db).await.unwrap(),
        Some(Health::Failed(
            "state FAILED (the host retried 3 times)".into()
        )),
        "{results:?}"
    );
    assert_eq!(b.health(web).await.unwrap(), Some(Health::Current));

    // Observed again: found by uid.
    let again = plan(&b, &desired).await;
    let web = again.changes.iter().find(|c| c.id.name == "web").unwrap();
    assert!(web.handle.is_some());
    assert_eq!(b.health(web).await.unwrap(), Some(Health::Current));
}
