//! Whole processes side by side on one corpus (benches/validate.rs, part
//! 2): mooring, kubeconform, python-jsonschema and conftest, each run
//! [`RUNS`] times; the median wall time, with that run's CPU time (user +
//! system, children included) and peak resident memory, from `wait4`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mooring::manifest::SourceFile;

const RUNS: usize = 5;

/// One run of a process: what `wait4` said, and its output.
struct Measured {
    wall: Duration,
    cpu: Duration,
    peak_kib: i64,
    stdout: String,
    code: i32,
}

// The child is reaped by `wait4` below, which also gives its usage.
#[allow(clippy::zombie_processes)]
fn measure(command: &mut Command) -> Measured {
    let start = Instant::now();
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let pid = i32::try_from(child.id()).expect("a pid fits");
    // Read stdout on a thread while waiting, so a large output cannot block.
    let mut out = child.stdout.expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut text);
        text
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, `status` and `usage` are valid for writes.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    Measured {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        peak_kib: usage.ru_maxrss,
        stdout: reader.join().unwrap_or_default(),
        code: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
    }
}

/// The median run of [`RUNS`] by wall time, after one warm-up (page cache).
fn median(mut make: impl FnMut() -> Command) -> Measured {
    let _ = measure(&mut make());
    let mut runs: Vec<Measured> = (0..RUNS).map(|_| measure(&mut make())).collect();
    runs.sort_by_key(|m| m.wall);
    runs.swap_remove(RUNS / 2)
}

fn row(tool: &str, m: &Measured, verdict: &str) {
    println!(
        "{tool:<44} {:>7.2} s  {:>7.2} s  {:>6} MiB  {verdict}",
        m.wall.as_secs_f64(),
        m.cpu.as_secs_f64(),
        m.peak_kib / 1024
    );
}

/// Writes the corpus under `dir`, keeping its folders.
fn write_corpus(dir: &Path, files: &[SourceFile]) {
    for f in files {
        let path = dir.join(&f.rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("corpus folder");
        }
        std::fs::write(path, &f.bytes).expect("corpus file");
    }
}

/// mooring's schemas (its own kinds and the built-in Kubernetes kinds) in
/// the layout `<group>/<kind>_<version>.json`, lowercase kind: what
/// kubeconform's `-schema-location` template
/// `{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json` reads (its
/// `.Group` is the first part of `apiVersion`, so `v1` for the core
/// group), and what the Python script looks for.
fn write_schemas(dir: &Path) -> usize {
    let mut written = 0;
    let mut put = |group: &str, kind: &str, version: &str, schema: serde_json::Value| {
        let folder = dir.join(if group.is_empty() { version } else { group });
        std::fs::create_dir_all(&folder).expect("schema folder");
        let file = folder.join(format!("{}_{version}.json", kind.to_lowercase()));
        std::fs::write(file, schema.to_string()).expect("schema file");
        written += 1;
    };
    if let Ok(table) = mooring::kinds::builtin::table() {
        for k in &table.kinds {
            put(&k.group, &k.kind, &k.version, table.schema(k));
        }
    }
    for k in mooring::kinds::all() {
        put(k.group, k.kind, k.version, (k.schema)());
    }
    written
}

const PYTHON: &str = r#"
import json, os, sys
import yaml
from jsonschema import Draft202012Validator
root, schemas = sys.argv[1], sys.argv[2]
validators, docs, invalid = {}, 0, 0
for folder, _, names in sorted(os.walk(root)):
    for name in sorted(names):
        with open(os.path.join(folder, name)) as f:
            for doc in yaml.safe_load_all(f):
                if doc is None:
                    continue
                docs += 1
                group, version = doc["apiVersion"].split("/")[0], doc["apiVersion"].split("/")[-1]
                key = (group, doc["kind"], version)
                if key not in validators:
                    path = os.path.join(schemas, group, doc["kind"].lower() + "_" + version + ".json")
                    with open(path) as s:
                        validators[key] = Draft202012Validator(json.load(s))
                if any(True for _ in validators[key].iter_errors(doc)):
                    invalid += 1
print(f"{docs} documents, {invalid} invalid")
"#;

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .map(PathBuf::from)
        .filter(|p| !p.as_os_str().is_empty())
}

/// `N documents in M files: E errors, W warnings` → that line.
fn mooring_verdict(stdout: &str) -> String {
    stdout
        .lines()
        .find(|l| l.contains(" documents in "))
        .unwrap_or("no summary")
        .to_string()
}

/// conftest's JSON → `F failures, W warnings in N documents`.
fn conftest_verdict(stdout: &str) -> String {
    let Ok(results) = serde_json::from_str::<serde_json::Value>(stdout) else {
        return "output is not JSON".into();
    };
    let results = results.as_array().cloned().unwrap_or_default();
    let count = |key: &str| -> usize {
        results
            .iter()
            .map(|r| r[key].as_array().map_or(0, Vec::len))
            .sum()
    };
    format!(
        "{} failures, {} warnings ({} results)",
        count("failures"),
        count("warnings"),
        results.len()
    )
}

pub fn compare(files: &[SourceFile]) {
    let work = tempfile::tempdir().expect("temp dir");
    let corpus = work.path().join("corpus");
    let schemas = work.path().join("schemas");
    write_corpus(&corpus, files);
    let kinds = write_schemas(&schemas);
    // For profiling by hand: the corpus and the schemas kept where asked.
    if let Some(keep) = std::env::var_os("MOORING_BENCH_CORPUS") {
        write_corpus(&Path::new(&keep).join("corpus"), files);
        write_schemas(&Path::new(&keep).join("schemas"));
    }
    let bytes: usize = files.iter().map(|f| f.bytes.len()).sum();
    let mooring = env!("CARGO_BIN_EXE_mooring");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let policies = root.join("policies");
    println!(
        "\nWhole processes on the same corpus ({} files, {:.1} MB; {kinds} schemas written in kubeconform's layout), median of {RUNS} runs:",
        files.len(),
        bytes as f64 / 1e6
    );
    println!(
        "{:<44} {:>9}  {:>9}  {:>10}  verdict",
        "tool", "wall", "CPU", "peak"
    );
    // What a process that does nothing shows, spawned the same way: the
    // peak of each row includes this much of the benchmark's own memory
    // (a child counts its parent's pages until it runs its program).
    let floor = median(|| Command::new("true"));
    row("(floor: `true`, spawned the same way)", &floor, "");
    let ours = median(|| {
        let mut c = Command::new(mooring);
        c.args(["validate", "--no-policies"]).arg(&corpus);
        c
    });
    row(
        "mooring validate --no-policies",
        &ours,
        &mooring_verdict(&ours.stdout),
    );

    match env_path("MOORING_KUBECONFORM") {
        Some(kubeconform) => {
            let location = format!(
                "{}/{{{{.Group}}}}/{{{{.ResourceKind}}}}_{{{{.ResourceAPIVersion}}}}.json",
                schemas.display()
            );
            let m = median(|| {
                let mut c = Command::new(&kubeconform);
                c.args(["-strict", "-summary", "-schema-location", &location])
                    .arg(&corpus);
                c
            });
            let verdict = m
                .stdout
                .lines()
                .find(|l| l.starts_with("Summary:"))
                .unwrap_or("no summary")
                .to_string();
            row("kubeconform -strict (-n 4, its default)", &m, &verdict);
            println!(
                "{:<44} mooring takes {:.2}x kubeconform's wall time, {:.2}x its peak memory",
                "",
                ours.wall.as_secs_f64() / m.wall.as_secs_f64(),
                ours.peak_kib as f64 / m.peak_kib as f64
            );
        }
        None => println!(
            "kubeconform: left out ($MOORING_KUBECONFORM is not set; scripts/bench builds it)"
        ),
    }

    match env_path("MOORING_BENCH_PYTHON") {
        Some(python) => {
            let m = median(|| {
                let mut c = Command::new(&python);
                c.args(["-c", PYTHON]).arg(&corpus).arg(&schemas);
                c
            });
            let verdict = m.stdout.trim().to_string();
            row("python-jsonschema + PyYAML", &m, &verdict);
            println!(
                "{:<44} mooring takes {:.3}x python-jsonschema's wall time",
                "",
                ours.wall.as_secs_f64() / m.wall.as_secs_f64()
            );
        }
        None => println!(
            "python-jsonschema: left out ($MOORING_BENCH_PYTHON is not set; scripts/bench makes one)"
        ),
    }

    let with_policies = median(|| {
        let mut c = Command::new(mooring);
        c.arg("validate")
            .arg("--policies")
            .arg(&policies)
            .arg(&corpus);
        c
    });
    row(
        "mooring validate (shipped Rego policies)",
        &with_policies,
        &mooring_verdict(&with_policies.stdout),
    );
    match env_path("MOORING_CONFTEST") {
        Some(conftest) => {
            let m = median(|| {
                let mut c = Command::new(&conftest);
                c.args(["test", "--no-color", "--all-namespaces", "-o", "json"])
                    .arg("--policy")
                    .arg(&policies)
                    .arg("--data")
                    .arg(policies.join("data"))
                    .arg(&corpus);
                c
            });
            assert!(
                m.code == 0 || m.code == 1,
                "conftest failed: exit {}",
                m.code
            );
            row(
                "conftest test (same policies and data)",
                &m,
                &conftest_verdict(&m.stdout),
            );
            println!(
                "{:<44} conftest takes {:.2}x mooring's wall time",
                "",
                m.wall.as_secs_f64() / with_policies.wall.as_secs_f64()
            );
        }
        None => {
            println!("conftest: left out ($MOORING_CONFTEST is not set; scripts/bench builds it)")
        }
    }
}
