//! Planning 10,000 objects against the emulators: how many API calls, and
//! how long. Reads must be O(kinds × namespaces) LIST calls, never one GET
//! per object; an unchanged re-plan must make no dry-run apply at all.
//!
//! Run with `cargo bench --bench plan_targets`. It prints figures and
//! asserts nothing about time (the call counts are checked by tests).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mooring::apply::Safety;
use mooring::config::{Config, FlintlockHost, KubernetesTarget, Targets};
use mooring::manifest::{Limits, Manifest, SourceFile, load};
use mooring_emulators::flintlock::{FlintlockEmulator, FlintlockOptions};
use mooring_emulators::kubernetes::{KubeEmulator, KubeOptions};

const OBJECTS: usize = 10_000;
/// One in this many objects is a Flintlock microVM; the rest are spread over
/// four Kubernetes kinds.
const VM_EVERY: usize = 20;
const NAMESPACES: usize = 10;

fn manifest(i: usize, generation: usize) -> String {
    let ns = format!("team-{}", i % NAMESPACES);
    if i % VM_EVERY == 0 {
        return format!(
            "apiVersion: flintlock.liquidmetal.dev/v1alpha1\nkind: MicroVM\nmetadata:\n  name: vm-{i}\n  namespace: {ns}\nspec:\n  vcpu: 2\n  memoryInMb: 2048\n  kernel:\n    image: ghcr.io/liquidmetal-dev/flintlock-kernel:5.10.77\n    filename: boot/vmlinux\n    cmdline: {{console: ttyS0}}\n  rootVolume:\n    id: root\n    source: {{containerSource: ghcr.io/tidewater/microvm/rootfs:1.0.{generation}}}\n  interfaces:\n    - deviceId: eth1\n      type: TAP\n"
        );
    }
    match i % 4 {
        0 => format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: {ns}\ndata:\n  LOG_LEVEL: info\n  generation: \"{generation}\"\n"
        ),
        1 => format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: secret-{i}\n  namespace: {ns}\nstringData:\n  token: t-{i}-{generation}\n"
        ),
        2 => format!(
            "apiVersion: runtime.wasmcloud.dev/v1alpha1\nkind: Artifact\nmetadata:\n  name: art-{i}\n  namespace: {ns}\nspec:\n  image: ghcr.io/tidewater/wasm/art:{i}.{generation}.0\n"
        ),
        _ => format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa-{i}\n  namespace: {ns}\n  labels:\n    generation: \"{generation}\"\n"
        ),
    }
}

/// Every object; those with `i % change_every == 0` at generation 1 (97, a
/// prime, changes objects of every kind).
fn desired(change_every: Option<usize>) -> Vec<Manifest> {
    let mut text = String::new();
    for ns in 0..NAMESPACES {
        text.push_str(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-{ns}\n---\n"
        ));
    }
    for i in 0..OBJECTS - NAMESPACES {
        let generation = match change_every {
            Some(n) if i % n == 0 => 1,
            _ => 0,
        };
        text.push_str(&manifest(i, generation));
        text.push_str("---\n");
    }
    let loaded = load(
        &[SourceFile {
            path: "bench.yaml".into(),
            rel: "bench.yaml".into(),
            bytes: text.into_bytes(),
        }],
        &Limits {
            max_file_bytes: 64 * 1024 * 1024,
            max_bytes: 256 * 1024 * 1024,
            max_nodes: 10_000_000,
            ..Limits::default()
        },
    );
    assert!(loaded.findings.is_empty(), "{:?}", &loaded.findings[..1]);
    loaded.manifests
}

fn total(calls: &BTreeMap<String, u64>, prefix: &str) -> u64 {
    calls
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}

fn report(what: &str, took: Duration, kube: &KubeEmulator, fl: &FlintlockEmulator) {
    let k = kube.calls();
    let f = fl.calls();
    println!(
        "{what:<34} {:>8.2} s   kubernetes: {:>5} LIST {:>5} GET {:>6} PATCH {:>4} DELETE   flintlock: {:>4} List {:>5} Create {:>5} Get {:>4} Delete",
        took.as_secs_f64(),
        total(&k, "LIST"),
        total(&k, "GET"),
        total(&k, "PATCH"),
        total(&k, "DELETE"),
        total(&f, "ListMicroVMs"),
        total(&f, "CreateMicroVM"),
        total(&f, "GetMicroVM"),
        total(&f, "DeleteMicroVM"),
    );
    kube.reset_calls();
    fl.reset_calls();
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let kube = KubeEmulator::start(KubeOptions::default()).await?;
    let fl = FlintlockEmulator::start(FlintlockOptions {
        create_delay: Duration::from_millis(1),
        delete_delay: Duration::from_millis(1),
        ..FlintlockOptions::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    kube.write_kubeconfig(&kubeconfig, "bench")?;
    let config = Config {
        targets: Targets {
            kubernetes: Some(KubernetesTarget {
                kubeconfig: Some(kubeconfig),
                context: Some("bench".into()),
                ..KubernetesTarget::default()
            }),
            flintlock: vec![FlintlockHost {
                name: "edge-1".into(),
                endpoint: fl.endpoint(),
                tls: None,
                token_file: None,
            }],
        },
        concurrency: 8,
        timeout: Duration::from_secs(30),
        ..Config::default()
    };
    let engine = config.engine("bench").await?;

    let first = desired(None);
    println!(
        "{} objects ({} microVMs, {} namespaces, 5 Kubernetes kinds), concurrency 8, 2 cores\n",
        first.len(),
        first.iter().filter(|m| m.id.kind == "MicroVM").count(),
        NAMESPACES
    );
    kube.reset_calls();
    fl.reset_calls();

    let t = Instant::now();
    let mut plan = engine.plan(&first).await;
    report("plan, empty targets (all create)", t.elapsed(), &kube, &fl);
    assert_eq!(plan.plan.summary.create, OBJECTS);
    engine.guard(&mut plan, &Safety::default());

    let t = Instant::now();
    let applied = engine.apply(&plan).await;
    report("apply 10,000 creates", t.elapsed(), &kube, &fl);
    assert_eq!(
        applied.failed,
        0,
        "{:?}",
        applied
            .results
            .iter()
            .find(|r| !matches!(r.outcome, mooring::apply::Outcome::Done { .. }))
    );

    let t = Instant::now();
    let plan = engine.plan(&first).await;
    report("plan again, nothing changed", t.elapsed(), &kube, &fl);
    assert!(!plan.plan.has_changes(), "{:?}", plan.plan.summary);

    let changed = desired(Some(97));
    let t = Instant::now();
    let plan = engine.plan(&changed).await;
    report("plan with 1% of objects changed", t.elapsed(), &kube, &fl);
    println!(
        "\nlast plan: {} update, {} replace, {} unchanged",
        plan.plan.summary.update, plan.plan.summary.replace, plan.plan.summary.unchanged
    );
    Ok(())
}
