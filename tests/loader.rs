//! What the loader does with hostile or broken input, end to end through
//! the real binary: a stray NUL byte, other encodings, a FIFO, input over
//! the run's budget. The rule under test: a file mooring cannot read whole
//! makes the run invalid, so nothing is planned, applied or pruned from it.

mod support;

use std::path::Path;
use std::process::Command;

use mooring_emulators::kubernetes::{KubeEmulator, KubeOptions};
use support::{commit_dir, mooring, mooring_bounded, write};

/// Two ConfigMaps with a NUL in a comment between them: the issue's
/// reproduction.
const TWO_WITH_NUL: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: first\n  namespace: default\n# \0 NUL\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: second\n  namespace: default\n";

const TWO: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: first\n  namespace: default\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: second\n  namespace: default\n";

#[test]
fn a_nul_byte_makes_the_file_an_error_not_a_shorter_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "two.yaml", TWO_WITH_NUL);
    let out = mooring(&["validate", "--no-policies", "two.yaml"], Some(dir.path()));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("two.yaml:6: column 3: NUL (U+0000) is not allowed in YAML"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("0 documents in 1 file: 1 error"),
        "{}",
        out.stdout
    );

    // In a scalar, and between documents: the same.
    for text in [
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: \"pr\0od\"}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n\0\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
    ] {
        write(dir.path(), "x.yaml", text);
        let out = mooring(&["validate", "--no-policies", "x.yaml"], Some(dir.path()));
        assert_eq!(out.code, 1, "{}", out.stdout);
        assert!(out.stdout.contains("NUL (U+0000)"), "{}", out.stdout);
    }
}

#[test]
fn a_nul_byte_in_git_stops_the_offline_plan_instead_of_planning_a_delete() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "deploy/two.yaml", TWO);
    commit_dir(dir.path(), "two");
    write(dir.path(), "deploy/two.yaml", TWO_WITH_NUL);
    commit_dir(dir.path(), "a stray byte");
    let repo = dir.path().display().to_string();
    let out = mooring(
        &[
            "plan",
            "--repo",
            &repo,
            "--ref",
            "HEAD",
            "--against-ref",
            "HEAD~1",
            "--path",
            "deploy",
            "--no-policies",
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("delete"), "{}", out.stdout);
    assert!(
        out.stderr.contains("deploy/two.yaml:6: column 3: NUL"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_byte_never_prunes_from_a_cluster() {
    let kube = KubeEmulator::start(KubeOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    kube.write_kubeconfig(&dir.path().join("kubeconfig"), "test")
        .unwrap();
    write(dir.path(), "repo/two.yaml", TWO);
    let kubeconfig = dir.path().join("kubeconfig").display().to_string();
    let apply = move |dir: std::path::PathBuf| {
        let kubeconfig = kubeconfig.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                mooring(
                    &[
                        "apply",
                        "repo",
                        "--kubeconfig",
                        &kubeconfig,
                        "--context",
                        "test",
                        "--prune",
                        "--yes",
                        "--no-policies",
                    ],
                    Some(&dir),
                )
            })
            .await
            .unwrap()
        }
    };
    let out = apply(dir.path().to_path_buf()).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        kube.get("", "ConfigMap", Some("default"), "second")
            .is_some()
    );

    write(dir.path(), "repo/two.yaml", TWO_WITH_NUL);
    let out = apply(dir.path().to_path_buf()).await;
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("NUL"), "{}", out.stderr);
    assert!(
        kube.get("", "ConfigMap", Some("default"), "second")
            .is_some(),
        "nothing is pruned from a file mooring could not read whole"
    );
}

fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let mut units: Vec<u16> = Vec::new();
    if bom {
        units.push(0xFEFF);
    }
    units.extend(text.encode_utf16());
    units
        .iter()
        .flat_map(|u| {
            if big_endian {
                u.to_be_bytes()
            } else {
                u.to_le_bytes()
            }
        })
        .collect()
}

fn utf32(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let bom = bom.then_some('\u{feff}');
    bom.into_iter()
        .chain(text.chars())
        .flat_map(|c| {
            if big_endian {
                (c as u32).to_be_bytes()
            } else {
                (c as u32).to_le_bytes()
            }
        })
        .collect()
}

#[test]
fn utf16_and_utf32_files_are_read_whole_in_either_byte_order() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, bom) in [
        ("utf16be-bom", utf16(TWO, true, true), true),
        ("utf16le-bom", utf16(TWO, false, true), true),
        ("utf16be", utf16(TWO, true, false), false),
        ("utf16le", utf16(TWO, false, false), false),
        ("utf32be-bom", utf32(TWO, true, true), true),
        ("utf32le-bom", utf32(TWO, false, true), true),
        ("utf32be", utf32(TWO, true, false), false),
        ("utf32le", utf32(TWO, false, false), false),
    ] {
        let file = format!("{name}.yaml");
        std::fs::write(dir.path().join(&file), bytes).unwrap();
        let out = mooring(&["validate", "--no-policies", &file], Some(dir.path()));
        assert_eq!(out.code, 0, "{name}: {}", out.stdout);
        assert!(
            out.stdout.contains("2 documents in 1 file: 0 errors"),
            "{name}: {}",
            out.stdout
        );
        assert_eq!(
            out.stdout.contains("without a byte-order mark"),
            !bom,
            "{name}: {}",
            out.stdout
        );
    }
    // A NUL inside a UTF-16 file is still a NUL.
    let bytes = utf16(TWO_WITH_NUL, true, true);
    std::fs::write(dir.path().join("nul16.yaml"), bytes).unwrap();
    let out = mooring(
        &["validate", "--no-policies", "nul16.yaml"],
        Some(dir.path()),
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("nul16.yaml:6: column 3: NUL"),
        "{}",
        out.stdout
    );
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

#[test]
fn fifos_are_findings_never_read() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "m/ok.yaml", TWO);
    mkfifo(&dir.path().join("m/x.yaml"));
    let expected = "m/x.yaml:1: a FIFO (named pipe), not a regular file: not read; \
                    mooring reads only regular files";
    let out = mooring_bounded(&["validate", "--no-policies", "m"], Some(dir.path()));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains(expected), "{}", out.stdout);
    let out = mooring_bounded(&["translate", "--no-policies", "m"], Some(dir.path()));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains(expected), "{}", out.stderr);
    // Named on the command line, and as the config file of apply.
    let out = mooring_bounded(&["validate", "--no-policies", "m/x.yaml"], Some(dir.path()));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("a FIFO (named pipe)"), "{}", out.stdout);
    mkfifo(&dir.path().join("mooring.yaml"));
    let out = mooring_bounded(
        &[
            "apply",
            "m/ok.yaml",
            "--config",
            "mooring.yaml",
            "--yes",
            "--no-policies",
        ],
        Some(dir.path()),
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("a FIFO (named pipe), not a regular file"),
        "{}",
        out.stderr
    );
    // A FIFO as the kubeconfig.
    mkfifo(&dir.path().join("kubeconfig"));
    let out = mooring_bounded(
        &[
            "plan",
            "m/ok.yaml",
            "--kubeconfig",
            "kubeconfig",
            "--context",
            "x",
            "--no-policies",
        ],
        Some(dir.path()),
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("cannot read kubeconfig kubeconfig: it is a FIFO (named pipe)"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_total_size_and_document_budgets_stop_the_run_and_name_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let many: String = (0..300)
        .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}}}\n"))
        .collect();
    write(dir.path(), "m/a.yaml", &many);
    write(dir.path(), "m/b.yaml", &many);
    let out = mooring(
        &["validate", "--no-policies", "--max-total-size", "20Ki", "m"],
        Some(dir.path()),
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "m/b.yaml:1: the manifests are over the total size budget of 20480 bytes \
             (--max-total-size)"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("1 files") || out.stdout.contains("m/a.yaml ("),
        "{}",
        out.stdout
    );

    let out = mooring(
        &["validate", "--no-policies", "--max-documents", "500", "m"],
        Some(dir.path()),
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("the manifests hold more than 500 documents (--max-documents) in 2 files"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("0 documents"),
        "nothing parsed: {}",
        out.stdout
    );
    // Within budget, every object of b.yaml is declared twice: 300 findings
    // in one file, of which text output shows 100 and counts the rest.
    let out = mooring(&["validate", "--no-policies", "m"], Some(dir.path()));
    assert_eq!(out.code, 1, "{}", out.stdout);
    // 100 findings, and the line that counts the rest.
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.starts_with("m/b.yaml:"))
            .count(),
        101
    );
    assert!(
        out.stdout.contains(
            "m/b.yaml: 200 more findings in this file (200 errors, 0 warnings); \
             -o json lists them all"
        ),
        "{}",
        out.stdout
    );
    let json = mooring(
        &["validate", "--no-policies", "-o", "json", "m"],
        Some(dir.path()),
    );
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["findings"].as_array().map(Vec::len), Some(300));
    let out = mooring(
        &["validate", "--no-policies", "--max-total-size", "64Gb", "m"],
        Some(dir.path()),
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("unknown unit \"Gb\""), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_keeps_the_last_good_revision_when_one_is_over_budget() {
    let kube = KubeEmulator::start(KubeOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    kube.write_kubeconfig(&dir.path().join("kubeconfig"), "test")
        .unwrap();
    let repo = dir.path().join("repo");
    write(&repo, "deploy/two.yaml", TWO);
    commit_dir(&repo, "two");
    write(
        dir.path(),
        "mooring.yaml",
        &format!(
            "source: {{name: test, url: {}, ref: HEAD, path: deploy}}\ntargets:\n  kubernetes: {{kubeconfig: {}, context: test}}\nprune: true\ntimeout: 5s\n",
            repo.display(),
            dir.path().join("kubeconfig").display()
        ),
    );
    let once = |dir: std::path::PathBuf| async move {
        tokio::task::spawn_blocking(move || {
            let cache = dir.join("cache").display().to_string();
            mooring(
                &[
                    "run",
                    "--config",
                    "mooring.yaml",
                    "--no-policies",
                    "--once",
                    "--cache-dir",
                    &cache,
                    "--max-total-size",
                    "4Ki",
                ],
                Some(&dir),
            )
        })
        .await
        .unwrap()
    };
    let out = once(dir.path().to_path_buf()).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        kube.get("", "ConfigMap", Some("default"), "second")
            .is_some()
    );

    // `second` moves into a file that takes the revision over budget.
    write(&repo, "deploy/two.yaml", &TWO[..TWO.find("---").unwrap()]);
    write(
        &repo,
        "deploy/zz-big.yaml",
        &format!(
            "{}# {}\n",
            &TWO[TWO.find("---").unwrap() + 4..],
            "x".repeat(5000)
        ),
    );
    commit_dir(&repo, "over budget");
    let out = once(dir.path().to_path_buf()).await;
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("test: invalid"), "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "deploy/zz-big.yaml:1: the manifests are over the total size budget of 4096 bytes"
        ),
        "{}",
        out.stdout
    );
    assert!(
        kube.get("", "ConfigMap", Some("default"), "second")
            .is_some(),
        "nothing is pruned from a revision over budget"
    );
}
