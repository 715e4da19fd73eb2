//! The daemon at rest with 10,000 managed objects: what an idle sync (an
//! unchanged revision: one fetch, nothing else) and a drift check (LIST
//! every managed kind, plan 10,000 objects) cost in CPU, and the peak
//! resident memory of `mooring run`.
//!
//! Run with `cargo bench --bench daemon`. The Kubernetes target is first
//! the emulator (`emulators/`, in this process: mooring's own cost), then a
//! real kube-apiserver with etcd (`testenv/`, started for this run:
//! benches/support/real_kube.rs; what users see), each with a Flintlock
//! emulator on 127.0.0.1; `mooring run` is the real release binary in its
//! own process, measured through /proc (Linux). It prints figures and
//! asserts nothing about time. The real half is skipped, saying why, when
//! the control plane cannot start (no Go).

#[path = "support/real_kube.rs"]
mod real_kube;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mooring_emulators::flintlock::{FlintlockEmulator, FlintlockOptions};
use mooring_emulators::kubernetes::{KubeEmulator, KubeOptions};

const OBJECTS: usize = 10_000;
const NAMESPACES: usize = 10;
const PER_FILE: usize = 100;
/// How long each idle phase is watched.
const WINDOW: Duration = Duration::from_secs(30);

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn object(i: usize) -> String {
    let ns = format!("team-{}", i % NAMESPACES);
    if i % 20 == 0 {
        return format!(
            "apiVersion: flintlock.liquidmetal.dev/v1alpha1\nkind: MicroVM\nmetadata: {{name: vm-{i}, namespace: {ns}}}\nspec:\n  vcpu: 2\n  memoryInMb: 2048\n  kernel: {{image: 'ghcr.io/liquidmetal-dev/flintlock-kernel:5.10.77', filename: boot/vmlinux}}\n  rootVolume: {{id: root, source: {{containerSource: 'ghcr.io/tidewater/rootfs:1.0'}}}}\n  interfaces: [{{deviceId: eth1, type: TAP}}]\n"
        );
    }
    match i % 4 {
        0 => format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}, namespace: {ns}}}\ndata: {{LOG_LEVEL: info}}\n"
        ),
        1 => format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: secret-{i}, namespace: {ns}}}\nstringData: {{token: t-{i}}}\n"
        ),
        2 => format!(
            "apiVersion: runtime.wasmcloud.dev/v1alpha1\nkind: Artifact\nmetadata: {{name: art-{i}, namespace: {ns}}}\nspec: {{image: 'ghcr.io/tidewater/wasm/art:{i}.0.0'}}\n"
        ),
        _ => format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: sa-{i}, namespace: {ns}}}\n"
        ),
    }
}

/// `git` in `dir`, without the user's global or system configuration (no
/// hooks, templates or identity of theirs).
fn git(dir: &std::path::Path, args: &[&str]) -> Result<()> {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@localhost")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@localhost")
        .status()?
        .success();
    if ok {
        Ok(())
    } else {
        Err(format!("git {args:?} failed").into())
    }
}

/// user + system CPU seconds of `pid` so far.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').ok_or("bad /proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11).ok_or("no utime")?.parse()?;
    let stime: f64 = fields.get(12).ok_or("no stime")?.parse()?;
    // USER_HZ is 100 on Linux.
    Ok((utime + stime) / 100.0)
}

/// (peak, current) resident memory of `pid`, in MiB.
fn rss_mib(pid: u32) -> Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |key: &str| -> Option<f64> {
        status
            .lines()
            .find(|l| l.starts_with(key))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Ok((
        kib("VmHWM:").ok_or("no VmHWM")? / 1024.0,
        kib("VmRSS:").ok_or("no VmRSS")? / 1024.0,
    ))
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n").as_bytes())
        .ok()?;
    let mut r = String::new();
    s.read_to_string(&mut r).ok()?;
    let code = r.split(' ').nth(1)?.parse().ok()?;
    Some((code, r.split_once("\r\n\r\n")?.1.to_string()))
}

/// Sum of every sample of `metric` whose line contains `filter`.
fn metric_sum(text: &str, metric: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(metric) && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Phase {
    name: &'static str,
    interval: &'static str,
    drift_interval: &'static str,
}

#[tokio::main]
async fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("deploy"))?;
    let mut ns = String::new();
    for n in 0..NAMESPACES {
        ns.push_str(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: team-{n}}}\n---\n"
        ));
    }
    std::fs::write(repo.join("deploy/namespaces.yaml"), ns)?;
    for chunk in 0..(OBJECTS - NAMESPACES).div_ceil(PER_FILE) {
        let text: Vec<String> = (chunk * PER_FILE
            ..((chunk + 1) * PER_FILE).min(OBJECTS - NAMESPACES))
            .map(object)
            .collect();
        std::fs::write(
            repo.join(format!("deploy/objects-{chunk:03}.yaml")),
            text.join("---\n"),
        )?;
    }
    git(&repo, &["init", "-q", "-b", "main"])?;
    git(&repo, &["add", "-A"])?;
    git(&repo, &["commit", "-qm", "10,000 objects"])?;
    let emulator = KubeEmulator::start(KubeOptions::default()).await?;
    let kubeconfig = dir.path().join("kubeconfig");
    emulator.write_kubeconfig(&kubeconfig, "bench")?;
    println!(
        "mooring run with {OBJECTS} objects ({} microVMs on one flintlockd emulator, the rest Kubernetes objects in 4 kinds × {NAMESPACES} namespaces)",
        OBJECTS / 20
    );
    println!("\n== Kubernetes emulator (emulators/, this process): mooring's own cost");
    let cache = dir.path().join("emulator");
    std::fs::create_dir_all(&cache)?;
    run_phases(&cache, &repo, &kubeconfig, "bench").await?;
    drop(emulator);

    println!("\n== real kube-apiserver v1.37.2 with etcd (testenv/): what users see");
    match real_kube::start() {
        Ok(real) => {
            real.install_crd("runtime.wasmcloud.dev/v1alpha1", "Artifact")
                .await?;
            let cache = dir.path().join("real");
            std::fs::create_dir_all(&cache)?;
            run_phases(&cache, &repo, &real.kubeconfig, &real.context).await?;
        }
        Err(e) => println!("skipped: {e}"),
    }
    Ok(())
}

/// The two phases against one Kubernetes target (and a Flintlock emulator
/// of its own): the first daemon creates everything, the second finds
/// nothing to change. `dir` holds the config and Git cache.
async fn run_phases(
    dir: &std::path::Path,
    repo: &std::path::Path,
    kubeconfig: &std::path::Path,
    context: &str,
) -> Result<()> {
    let flintlock = FlintlockEmulator::start(FlintlockOptions::default()).await?;
    let phases = [
        Phase {
            name: "idle syncs (unchanged revision, every 2 s; no drift check)",
            interval: "2s",
            drift_interval: "1h",
        },
        Phase {
            name: "drift checks (every 5 s, nothing drifted; no fetch)",
            interval: "1h",
            drift_interval: "5s",
        },
    ];
    for (i, phase) in phases.iter().enumerate() {
        let config = dir.join("mooring.yaml");
        std::fs::write(
            &config,
            format!(
                "source: {{name: bench, url: {}, ref: main, path: deploy, interval: {}, driftInterval: {}}}\ntargets:\n  kubernetes: {{kubeconfig: {}, context: {context}}}\n  flintlock:\n    - {{name: edge-1, endpoint: '{}'}}\ntimeout: 60s\n",
                repo.display(),
                phase.interval,
                phase.drift_interval,
                kubeconfig.display(),
                flintlock.endpoint()
            ),
        )?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let started = Instant::now();
        let daemon = Daemon(
            Command::new(env!("CARGO_BIN_EXE_mooring"))
                .args([
                    "run",
                    "--config",
                    &config.display().to_string(),
                    "--no-policies",
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--cache-dir",
                    &dir.join("cache").display().to_string(),
                ])
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        );
        let pid = daemon.0.id();
        while http_get(port, "/readyz").is_none_or(|(c, _)| c != 200) {
            if started.elapsed() > Duration::from_secs(600) {
                return Err("the first sync did not finish in 10 minutes".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let first = started.elapsed();
        let cpu_first = cpu_seconds(pid)?;
        let (peak_first, _) = rss_mib(pid)?;
        let (_, before) = http_get(port, "/metrics").ok_or("no metrics")?;
        tokio::time::sleep(WINDOW).await;
        let cpu = cpu_seconds(pid)? - cpu_first;
        let (peak, rss) = rss_mib(pid)?;
        let (_, after) = http_get(port, "/metrics").ok_or("no metrics")?;
        let syncs = metric_sum(&after, "mooring_sync_total", "source=\"bench\"")
            - metric_sum(&before, "mooring_sync_total", "source=\"bench\"");
        let lists = metric_sum(
            &after,
            "mooring_backend_requests_total",
            "operation=\"get\"",
        ) - metric_sum(
            &before,
            "mooring_backend_requests_total",
            "operation=\"get\"",
        );
        let writes = metric_sum(&after, "mooring_apply_total", "")
            - metric_sum(&before, "mooring_apply_total", "");
        let drift_checks = if phase.drift_interval == "5s" {
            (WINDOW.as_secs_f64() / 5.0).floor()
        } else {
            0.0
        };
        println!("\n{}. {}", i + 1, phase.name);
        println!(
            "   first sync (ready): {:.1} s wall, {:.2} s CPU ({}), peak RSS {:.0} MiB",
            first.as_secs_f64(),
            cpu_first,
            if i == 0 {
                "10,000 creates"
            } else {
                "nothing to change"
            },
            peak_first
        );
        println!(
            "   {} s idle: {:.2} s CPU ({:.2}% of one core); {} syncs, ~{} drift checks, {} Kubernetes reads, {} writes",
            WINDOW.as_secs(),
            cpu,
            100.0 * cpu / WINDOW.as_secs_f64(),
            syncs,
            drift_checks,
            lists,
            writes
        );
        if syncs > 0.0 {
            println!("   CPU per idle sync: {:.1} ms", 1000.0 * cpu / syncs);
        }
        if drift_checks > 0.0 {
            println!(
                "   CPU per drift check of {OBJECTS} objects: {:.0} ms",
                1000.0 * cpu / drift_checks
            );
        }
        println!("   peak RSS {peak:.0} MiB, RSS now {rss:.0} MiB (target: under 200 MiB)");
        drop(daemon);
    }
    Ok(())
}
