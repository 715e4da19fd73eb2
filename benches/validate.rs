//! Validation throughput, in two parts. Prints figures; asserts nothing
//! about time. Run with `scripts/bench` (which builds the peers) or `cargo
//! bench --bench validate`.
//!
//! 1. In this process: 10,000 generated manifests of mixed kinds, loaded
//!    from YAML text and validated (schema, typed rules, and once more with
//!    the shipped Rego policies), in the shape of real repositories (4,000
//!    files of 1 to 4 documents of mixed sizes) and as 200 large files.
//! 2. Whole processes, side by side, in the same run: `mooring validate`
//!    (the release binary), kubeconform (`$MOORING_KUBECONFORM`, built from
//!    its Go module by `scripts/tools`) on mooring's schemas written out in
//!    its layout, python-jsonschema (`$MOORING_BENCH_PYTHON`, a Python with
//!    `jsonschema` and `PyYAML`, which `scripts/bench` makes) choosing the
//!    schema by group, version and kind; then `mooring validate` with the
//!    shipped Rego policies and conftest (`$MOORING_CONFTEST`) with the same
//!    policies. Each is run 5 times: the median wall time, its CPU time and
//!    peak memory (from `wait4`), and what it found. A peer that is not
//!    given is left out, saying so. `$MOORING_BENCH_CORPUS` names a folder
//!    to keep the corpus and the schemas in (`corpus/`, `schemas/`), for
//!    profiling by hand.

use std::path::PathBuf;
use std::time::Instant;

use mooring::desired::render;
use mooring::manifest::{Limits, SourceFile};
use mooring::source::Read;
use mooring::validate::{Options, Validator};

const COUNT: usize = 10_000;
/// The large-files case: 200 files of 50 documents.
const PER_FILE: usize = 50;
/// The repository shape: this many files of 1 to 4 documents.
const SMALL_FILES: usize = 4_000;

const LABELS: &str =
    "    app.kubernetes.io/name: app\n    app.kubernetes.io/part-of: bench\n    team: platform\n";

fn manifest(i: usize) -> String {
    match i % 8 {
        0 => format!(
            "apiVersion: flintlock.liquidmetal.dev/v1alpha1\nkind: MicroVM\nmetadata:\n  name: vm-{i}\n  namespace: ci\n  labels:\n{LABELS}spec:\n  vcpu: 2\n  memoryInMb: 2048\n  kernel:\n    image: ghcr.io/liquidmetal-dev/flintlock-kernel:5.10.77\n    filename: boot/vmlinux\n    cmdline: {{console: ttyS0}}\n  rootVolume:\n    id: root\n    source: {{containerSource: ghcr.io/tidewater/microvm/rootfs:1.0.0}}\n  interfaces:\n    - deviceId: eth1\n      type: MACVTAP\n      guestMac: \"02:00:0a:15:00:{:02x}\"\n      address: {{address: 10.21.0.{}/24, gateway: 10.21.0.1/24, nameservers: [10.21.0.53]}}\n",
            i % 256,
            i % 250 + 2
        ),
        1 => format!(
            "apiVersion: runtime.wasmcloud.dev/v1alpha1\nkind: WorkloadDeployment\nmetadata:\n  name: wd-{i}\n  namespace: wasm-apps\n  labels:\n{LABELS}spec:\n  replicas: 3\n  deployPolicy: RollingUpdate\n  template:\n    labels: {{app: wd-{i}}}\n    spec:\n      hostSelector: {{region: eu}}\n      components:\n        - name: api\n          image: ghcr.io/tidewater/wasm/api:1.2.{i}\n          poolSize: 4\n          localResources:\n            config: {{LOG_LEVEL: info}}\n            allowedHosts: [api.example.com]\n      volumes:\n        - name: scratch\n          ephemeral: {{}}\n"
        ),
        2 => format!(
            "apiVersion: llamastack.io/v1alpha1\nkind: LlamaStackDistribution\nmetadata:\n  name: llsd-{i}\n  namespace: ml-platform\n  labels:\n{LABELS}spec:\n  replicas: 1\n  server:\n    distribution: {{name: starter}}\n    containerSpec:\n      port: 8321\n      resources:\n        requests: {{cpu: 500m, memory: 1Gi}}\n        limits: {{memory: 4Gi}}\n      env:\n        - name: INFERENCE_MODEL\n          value: llama3.2:3b\n    storage: {{size: 20Gi, mountPath: /.llama}}\n    userConfig: {{configMapName: run-config}}\n"
        ),
        3 => format!(
            "apiVersion: ignite.weave.works/v1alpha1\nkind: VM\nmetadata:\n  name: ignite-{i}\n  labels:\n{LABELS}spec:\n  image:\n    ociClaim: {{type: Docker, ref: weaveworks/ignite-ubuntu:20.04}}\n  kernel:\n    ociClaim: {{type: Docker, ref: weaveworks/ignite-kernel:5.10.51}}\n    cmdLine: console=ttyS0 reboot=k panic=1\n  cpus: 2\n  memory: 2GB\n  diskSize: 8GB\n  networkMode: cni\n  ports:\n    - {{hostPort: {}, vmPort: 22}}\n",
            20000 + i % 10000
        ),
        4 => format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: apps\ndata:\n  LOG_LEVEL: info\n  run.yaml: |\n    version: 2\n    apis: [inference, safety]\n"
        ),
        5 => format!(
            "apiVersion: runtime.wasmcloud.dev/v1alpha1\nkind: Artifact\nmetadata:\n  name: art-{i}\n  namespace: wasm-apps\nspec:\n  image: ghcr.io/tidewater/wasm/art:{i}.0.0\n"
        ),
        6 => format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-{i}\n  namespace: apps\n  labels:\n{LABELS}spec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: web-{i}}}\n  template:\n    metadata:\n      labels: {{app: web-{i}}}\n    spec:\n      containers:\n        - name: web\n          image: ghcr.io/tidewater/web:1.{i}.0\n          ports: [{{containerPort: 8080, name: http}}]\n          resources:\n            requests: {{cpu: 100m, memory: 128Mi}}\n          readinessProbe:\n            httpGet: {{path: /healthz, port: http}}\n"
        ),
        _ => format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web-{i}\n  namespace: apps\nspec:\n  selector: {{app: web-{i}}}\n  ports:\n    - {{name: http, port: 80, targetPort: http}}\n"
        ),
    }
}

/// 200 files of 50 documents.
fn large_files() -> Vec<SourceFile> {
    (0..COUNT / PER_FILE)
        .map(|f| {
            let text: Vec<String> = (0..PER_FILE).map(|j| manifest(f * PER_FILE + j)).collect();
            SourceFile {
                path: format!("bench/{f:04}.yaml"),
                rel: format!("{f:04}.yaml"),
                bytes: text.join("---\n").into_bytes(),
            }
        })
        .collect()
}

/// The shape of real repositories: 4,000 files of 1 to 4 documents (2.5 on
/// average), in folders of 100, the documents' sizes mixed by kind.
fn small_files() -> Vec<SourceFile> {
    let mut files = Vec::with_capacity(SMALL_FILES);
    let mut next = 0;
    for f in 0..SMALL_FILES {
        // 1, 2, 3, 4, 2, 3, ... : 10,000 documents in 4,000 files.
        let docs = [1, 2, 3, 4][f % 4].min(COUNT - next);
        let text: Vec<String> = (next..next + docs).map(manifest).collect();
        next += docs;
        files.push(SourceFile {
            path: format!("bench/d{:02}/{f:04}.yaml", f / 100),
            rel: format!("d{:02}/{f:04}.yaml", f / 100),
            bytes: text.join("---\n").into_bytes(),
        });
    }
    assert_eq!(next, COUNT, "the shape holds every manifest");
    files
}

fn run(label: &str, validator: &Validator, files: &[SourceFile]) {
    let limits = Limits::default();
    // Warm-up, and a check that the generated set is valid.
    let read = || Read {
        files: files.to_vec(),
        ..Read::default()
    };
    let report = render(
        read(),
        validator,
        &limits,
        &mooring::render::Renderer::default(),
    );
    assert_eq!(report.manifests.len(), COUNT);
    assert_eq!(report.errors(), 0, "{:?}", report.findings.first());
    let rounds = 5;
    let start = Instant::now();
    for _ in 0..rounds {
        let report = render(
            read(),
            validator,
            &limits,
            &mooring::render::Renderer::default(),
        );
        std::hint::black_box(report.findings.len());
    }
    let secs = start.elapsed().as_secs_f64() / f64::from(rounds);
    println!(
        "{label:<52} {COUNT} manifests in {:>7.1} ms  = {:>8.0} manifests/s",
        secs * 1000.0,
        COUNT as f64 / secs
    );
}

fn main() {
    let small = small_files();
    println!(
        "validate benchmark: {COUNT} mixed manifests (MicroVM, WorkloadDeployment, LLSD, Ignite VM, ConfigMap, Artifact, Deployment, Service), {} threads",
        rayon::current_num_threads()
    );
    // Whole processes first, while this process is small: a child counts
    // its parent's memory until it runs its program.
    peers::compare(&small);
    let schema_only = Validator::new(Options::default()).expect("built-in schemas compile");
    let policies = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies");
    let with_policies = Validator::new(Options {
        policies: Some(policies),
        ..Options::default()
    })
    .expect("shipped policies load");
    println!("\nIn this process (load + validate, no process start):");
    run(
        &format!("{} files of 1-4: load + schema + rules", small.len()),
        &schema_only,
        &small,
    );
    run(
        &format!("{} files of 1-4: + policies", small.len()),
        &with_policies,
        &small,
    );
    let large = large_files();
    run(
        &format!("{} files of {PER_FILE}: load + schema + rules", large.len()),
        &schema_only,
        &large,
    );
    run(
        &format!("{} files of {PER_FILE}: + policies", large.len()),
        &with_policies,
        &large,
    );
}

#[path = "support/peers.rs"]
mod peers;
