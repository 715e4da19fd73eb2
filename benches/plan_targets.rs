//! Planning 10,000 objects: how many API calls, and how long, against the
//! Kubernetes emulator and then against a real kube-apiserver with etcd
//! (`testenv/`, started for this run; benches/support/real_kube.rs), with
//! the Flintlock emulator beside each. Reads must be O(kinds × namespaces)
//! LIST calls, never one GET per object; an unchanged re-plan must make no
//! dry-run apply at all. Requests are counted on mooring's side (the
//! `backend::requests` sink the daemon's metrics use), so both targets are
//! counted alike.
//!
//! Run with `cargo bench --bench plan_targets`. It prints figures and
//! asserts nothing about time (the call counts are checked by tests). The
//! real half is skipped, saying why, when the control plane cannot start
//! (no Go).

#[path = "support/real_kube.rs"]
mod real_kube;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mooring::backend::requests::{self, RequestOutcome, RequestSink};
use mooring::config::{Config, FlintlockHost, KubernetesTarget, Targets};
use mooring::engine::Safety;
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

/// Every request mooring made, by (backend, operation), since the last
/// [`Counts::take`]. Kubernetes reads (GETs and LIST pages alike) are
/// `get`; Flintlock's are `list` and `get`.
#[derive(Default)]
struct Counts(Mutex<BTreeMap<(String, String), u64>>);

impl RequestSink for Counts {
    fn request(&self, backend: &str, operation: &str, _: RequestOutcome, _: Duration) {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *counts
            .entry((backend.to_string(), operation.to_string()))
            .or_default() += 1;
    }
}

impl Counts {
    fn take(&self) -> BTreeMap<(String, String), u64> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

fn report(what: &str, took: Duration, counts: &Counts) {
    let c = counts.take();
    let n = |backend: &str, operation: &str| {
        c.get(&(backend.to_string(), operation.to_string()))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{what:<34} {:>8.2} s   kubernetes: {:>5} read {:>6} dry-run {:>6} apply {:>5} delete   flintlock: {:>4} list {:>5} create {:>5} get {:>4} delete",
        took.as_secs_f64(),
        n("kubernetes", "get"),
        n("kubernetes", "dry_run"),
        n("kubernetes", "apply"),
        n("kubernetes", "delete"),
        n("flintlock", "list"),
        n("flintlock", "create"),
        n("flintlock", "get"),
        n("flintlock", "delete"),
    );
}

/// Plans and applies the 10,000 objects against one Kubernetes target (and
/// a Flintlock emulator of its own), printing a line per step.
async fn scenario(
    kubeconfig: PathBuf,
    context: &str,
    first: &[Manifest],
    changed: &[Manifest],
    counts: &Counts,
) -> Result<(), Box<dyn std::error::Error>> {
    let fl = FlintlockEmulator::start(FlintlockOptions {
        create_delay: Duration::from_millis(1),
        delete_delay: Duration::from_millis(1),
        ..FlintlockOptions::default()
    })
    .await?;
    let config = Config {
        targets: Targets {
            kubernetes: Some(KubernetesTarget {
                kubeconfig: Some(kubeconfig),
                context: Some(context.into()),
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
    counts.take();

    let t = Instant::now();
    let mut plan = engine.plan(first).await;
    report("plan, empty targets (all create)", t.elapsed(), counts);
    assert_eq!(plan.plan.summary.create, OBJECTS);
    engine.guard(&mut plan, &Safety::default());

    let t = Instant::now();
    let applied = engine.apply(&plan).await;
    report("apply 10,000 creates", t.elapsed(), counts);
    assert_eq!(
        applied.failed,
        0,
        "{:?}",
        applied
            .results
            .iter()
            .find(|r| !matches!(r.outcome, mooring::engine::Outcome::Done { .. }))
    );

    let t = Instant::now();
    let plan = engine.plan(first).await;
    report("plan again, nothing changed", t.elapsed(), counts);
    assert!(!plan.plan.has_changes(), "{:?}", plan.plan.summary);

    let t = Instant::now();
    let plan = engine.plan(changed).await;
    report("plan with 1% of objects changed", t.elapsed(), counts);
    println!(
        "last plan: {} update, {} replace, {} unchanged",
        plan.plan.summary.update, plan.plan.summary.replace, plan.plan.summary.unchanged
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let counts = Arc::new(Counts::default());
    requests::install(counts.clone());
    let first = desired(None);
    let changed = desired(Some(97));
    println!(
        "{} objects ({} microVMs, {} namespaces, 5 Kubernetes kinds), concurrency 8, 2 cores",
        first.len(),
        first.iter().filter(|m| m.id.kind == "MicroVM").count(),
        NAMESPACES
    );

    println!("\nKubernetes emulator (emulators/, this process): mooring's own cost");
    let kube = KubeEmulator::start(KubeOptions::default()).await?;
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    kube.write_kubeconfig(&kubeconfig, "bench")?;
    scenario(kubeconfig, "bench", &first, &changed, &counts).await?;
    drop(kube);

    println!("\nreal kube-apiserver v1.37.2 with etcd (testenv/): what users see");
    let started = Instant::now();
    match real_kube::start() {
        Ok(real) => {
            real.install_crd("runtime.wasmcloud.dev/v1alpha1", "Artifact")
                .await?;
            println!(
                "(control plane up and the Artifact CRD served in {:.1} s)",
                started.elapsed().as_secs_f64()
            );
            scenario(
                real.kubeconfig.clone(),
                &real.context,
                &first,
                &changed,
                &counts,
            )
            .await?;
        }
        Err(e) => println!("skipped: {e}"),
    }
    Ok(())
}
