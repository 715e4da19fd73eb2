//! The daemon at rest: what an idle sync (an unchanged revision: one
//! fetch, nothing else) and a drift check (LIST every managed kind, plan
//! every object) cost in CPU, and the peak resident memory of `mooring
//! run`, for 10,000 managed objects, or for each count in
//! `$MOORING_BENCH_OBJECTS` (`1000,10000,20000,100000`: the scaling table).
//!
//! Run with `cargo bench --bench daemon`. The Kubernetes target is first
//! the emulator (`emulators/`, in this process: mooring's own cost), then a
//! real kube-apiserver with etcd (`testenv/`, a fresh one for each count:
//! benches/support/real_kube.rs; what users see), each with a Flintlock
//! emulator on 127.0.0.1; `$MOORING_BENCH_TARGETS` (`emulator`, `real`)
//! picks one. `mooring run` is the real release binary in its own
//! process, measured through /proc (Linux). It prints figures and asserts
//! nothing about time. The real half is skipped, saying why, when the
//! control plane cannot start (no Go).

#[path = "support/real_kube.rs"]
mod real_kube;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mooring_emulators::flintlock::{FlintlockEmulator, FlintlockOptions};
use mooring_emulators::kubernetes::{KubeEmulator, KubeOptions};

const NAMESPACES: usize = 10;
const PER_FILE: usize = 100;
/// How long each idle phase is watched, at least.
const WINDOW: Duration = Duration::from_secs(30);
/// Drift checks the second phase waits for, however long they take.
const DRIFT_CHECKS: f64 = 3.0;

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

/// The object counts to measure: `$MOORING_BENCH_OBJECTS`, else 10,000.
fn counts() -> Result<Vec<usize>> {
    match std::env::var("MOORING_BENCH_OBJECTS") {
        Ok(list) => list
            .split(',')
            .map(|n| {
                let n: usize = n.trim().replace('_', "").parse()?;
                if n <= NAMESPACES {
                    return Err(format!("MOORING_BENCH_OBJECTS: {n} is too few").into());
                }
                Ok(n)
            })
            .collect(),
        Err(_) => Ok(vec![10_000]),
    }
}

/// A Git repository declaring `objects` objects (its Namespaces included).
fn write_repo(repo: &std::path::Path, objects: usize) -> Result<()> {
    std::fs::create_dir_all(repo.join("deploy"))?;
    let mut ns = String::new();
    for n in 0..NAMESPACES {
        ns.push_str(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: team-{n}}}\n---\n"
        ));
    }
    std::fs::write(repo.join("deploy/namespaces.yaml"), ns)?;
    for chunk in 0..(objects - NAMESPACES).div_ceil(PER_FILE) {
        let text: Vec<String> = (chunk * PER_FILE
            ..((chunk + 1) * PER_FILE).min(objects - NAMESPACES))
            .map(object)
            .collect();
        std::fs::write(
            repo.join(format!("deploy/objects-{chunk:04}.yaml")),
            text.join("---\n"),
        )?;
    }
    git(repo, &["init", "-q", "-b", "main"])?;
    git(repo, &["add", "-A"])?;
    git(repo, &["commit", "-qm", &format!("{objects} objects")])
}

#[tokio::main]
async fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let counts = counts()?;
    let targets = std::env::var("MOORING_BENCH_TARGETS").unwrap_or_else(|_| "emulator,real".into());
    let mut repos = Vec::new();
    for &n in &counts {
        let repo = dir.path().join(format!("repo-{n}"));
        write_repo(&repo, n)?;
        repos.push((n, repo));
    }
    println!(
        "mooring run with {} objects (1 in 20 a microVM on one flintlockd emulator, the rest Kubernetes objects in 4 kinds × {NAMESPACES} namespaces)",
        counts
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if targets.contains("emulator") {
        println!("\n== Kubernetes emulator (emulators/, this process): mooring's own cost");
        let mut rows = Vec::new();
        for (n, repo) in &repos {
            let emulator = KubeEmulator::start(KubeOptions::default()).await?;
            let cache = dir.path().join(format!("emulator-{n}"));
            std::fs::create_dir_all(&cache)?;
            let kubeconfig = cache.join("kubeconfig");
            emulator.write_kubeconfig(&kubeconfig, "bench")?;
            rows.push(run_phases(&cache, repo, *n, &kubeconfig, "bench").await?);
        }
        print_table(&rows);
    }
    if targets.contains("real") {
        println!(
            "\n== real kube-apiserver v1.37.2 with etcd (testenv/, a fresh one per count): what users see"
        );
        let mut rows = Vec::new();
        for (n, repo) in &repos {
            let real = match real_kube::start() {
                Ok(real) => real,
                Err(e) => {
                    println!("skipped: {e}");
                    break;
                }
            };
            real.install_crd("runtime.wasmcloud.dev/v1alpha1", "Artifact")
                .await?;
            let cache = dir.path().join(format!("real-{n}"));
            std::fs::create_dir_all(&cache)?;
            rows.push(run_phases(&cache, repo, *n, &real.kubeconfig, &real.context).await?);
        }
        print_table(&rows);
    }
    Ok(())
}

/// What one object count cost.
struct Row {
    objects: usize,
    first_wall: f64,
    first_cpu: f64,
    idle_sync_cpu: Option<f64>,
    drift_cpu: Option<f64>,
    drift_wall: Option<f64>,
    peak_mib: f64,
}

/// The scaling table: each count's figures, and per 1,000 objects.
fn print_table(rows: &[Row]) {
    if rows.is_empty() {
        return;
    }
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.0}", 1000.0 * v));
    println!(
        "\n   objects | first sync s (CPU s) | idle sync CPU ms | drift check CPU ms (wall ms) | peak RSS MiB | per 1k objects: first sync CPU s, drift CPU ms, RSS MiB"
    );
    for r in rows {
        let k = r.objects as f64 / 1000.0;
        println!(
            "   {:>7} | {:>8.1} ({:>6.2}) | {:>16} | {:>11} ({:>7}) | {:>12.0} | {:.3}, {}, {:.1}",
            r.objects,
            r.first_wall,
            r.first_cpu,
            ms(r.idle_sync_cpu),
            ms(r.drift_cpu),
            ms(r.drift_wall),
            r.peak_mib,
            r.first_cpu / k,
            ms(r.drift_cpu.map(|c| c / k)),
            r.peak_mib / k,
        );
    }
}

/// The two phases against one Kubernetes target (and a Flintlock emulator
/// of its own): the first daemon creates everything, the second finds
/// nothing to change. `dir` holds the config and Git cache.
async fn run_phases(
    dir: &std::path::Path,
    repo: &std::path::Path,
    objects: usize,
    kubeconfig: &std::path::Path,
    context: &str,
) -> Result<Row> {
    let flintlock = FlintlockEmulator::start(FlintlockOptions::default()).await?;
    // Another build of mooring (an older one, to compare) when given.
    let binary = std::env::var_os("MOORING_BENCH_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_mooring").into());
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
    let mut row = Row {
        objects,
        first_wall: 0.0,
        first_cpu: 0.0,
        idle_sync_cpu: None,
        drift_cpu: None,
        drift_wall: None,
        peak_mib: 0.0,
    };
    println!("\n-- {objects} objects");
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
            Command::new(&binary)
                .args([
                    "run",
                    "--config",
                    &config.display().to_string(),
                    "--no-policies",
                    // The default budget (100,000 documents) stops a
                    // source of 100,000 objects before it is read.
                    "--max-documents",
                    &(2 * objects).max(100_000).to_string(),
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
            if started.elapsed() > Duration::from_secs(1800) {
                return Err("the first sync did not finish in 30 minutes".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let first = started.elapsed();
        let cpu_first = cpu_seconds(pid)?;
        let (peak_first, _) = rss_mib(pid)?;
        let (_, before) = http_get(port, "/metrics").ok_or("no metrics")?;
        // Syncs in phase 1, drift checks in phase 2. A build given in
        // `MOORING_BENCH_BIN` that has no `mooring_drift_checks_total`
        // after the window (an older one) is assumed to check every 5 s.
        let counted = if i == 0 {
            "mooring_sync_total"
        } else {
            "mooring_drift_checks_total"
        };
        let given = std::env::var_os("MOORING_BENCH_BIN").is_some();
        let older = |text: &str| i == 1 && given && !text.contains("mooring_drift_checks_total");
        let syncs_of = |text: &str| metric_sum(text, counted, "source=\"bench\"");
        let watched = Instant::now();
        let after = loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (_, now) = http_get(port, "/metrics").ok_or("no metrics")?;
            let enough = watched.elapsed() >= WINDOW
                && (phase.drift_interval != "5s"
                    || older(&now)
                    || syncs_of(&now) - syncs_of(&before) >= DRIFT_CHECKS
                    || watched.elapsed() > Duration::from_secs(1800));
            if enough {
                break now;
            }
        };
        let window = watched.elapsed().as_secs_f64();
        let cpu = cpu_seconds(pid)? - cpu_first;
        let (peak, rss) = rss_mib(pid)?;
        let syncs = if older(&after) {
            (window / 5.0).floor()
        } else {
            syncs_of(&after) - syncs_of(&before)
        };
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
        println!("\n{}. {}", i + 1, phase.name);
        println!(
            "   first sync (ready): {:.1} s wall, {:.2} s CPU ({}), peak RSS {:.0} MiB",
            first.as_secs_f64(),
            cpu_first,
            if i == 0 {
                format!("{objects} creates")
            } else {
                "nothing to change".to_string()
            },
            peak_first
        );
        println!(
            "   {window:.0} s idle: {:.2} s CPU ({:.2}% of one core); {} {}, {} Kubernetes reads, {} writes",
            cpu,
            100.0 * cpu / window,
            syncs,
            if i == 0 { "syncs" } else { "drift checks" },
            lists,
            writes
        );
        if i == 0 {
            row.first_wall = first.as_secs_f64();
            row.first_cpu = cpu_first;
            if syncs > 0.0 {
                row.idle_sync_cpu = Some(cpu / syncs);
                println!("   CPU per idle sync: {:.1} ms", 1000.0 * cpu / syncs);
            }
        } else if syncs > 0.0 {
            let sum = |t: &str| {
                metric_sum(
                    t,
                    "mooring_drift_check_duration_seconds_sum",
                    "source=\"bench\"",
                )
            };
            let wall = (sum(&after) - sum(&before)) / syncs;
            row.drift_cpu = Some(cpu / syncs);
            row.drift_wall = Some(wall);
            println!(
                "   per drift check of {objects} objects: {:.0} ms CPU, {:.0} ms wall",
                1000.0 * cpu / syncs,
                1000.0 * wall
            );
        }
        println!("   peak RSS {peak:.0} MiB, RSS now {rss:.0} MiB");
        row.peak_mib = row.peak_mib.max(peak);
        drop(daemon);
    }
    Ok(row)
}
