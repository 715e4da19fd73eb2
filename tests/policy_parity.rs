//! mooring's Rego verdicts are conftest's: on a corpus with a violation of
//! every shipped policy (`tests/fixtures/policy-parity/`), conftest (built
//! from its Go module, OPA inside) and `mooring validate` report the same
//! (file, message) pairs, with the policies and data of `policies/`. One
//! difference is by design and named here: a label written `yes` is a
//! string to mooring (YAML 1.2) and a boolean to conftest (YAML 1.1).

mod support;

use std::collections::BTreeSet;
use std::path::Path;

type Verdicts = BTreeSet<(String, String)>;

fn corpus() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/policy-parity"
    ))
}

fn files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    files
}

/// conftest's failures and warnings, as (file, message).
fn conftest() -> Verdicts {
    let policies = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");
    let out = std::process::Command::new(support::tools::conftest())
        .args(["test", "--no-color", "--output", "json", "--all-namespaces"])
        .args(["--policy", policies, "--data", &format!("{policies}/data")])
        .args(files())
        .current_dir(corpus())
        .env_clear()
        .env("HOME", corpus())
        .output()
        .unwrap();
    // 1: there are failures, as there must be.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let mut verdicts = Verdicts::new();
    for r in results.as_array().unwrap() {
        let file = r["filename"].as_str().unwrap().to_string();
        for key in ["failures", "warnings"] {
            for f in r[key].as_array().into_iter().flatten() {
                verdicts.insert((file.clone(), f["msg"].as_str().unwrap().to_string()));
            }
        }
    }
    verdicts
}

/// mooring's policy findings, as (file, message), and the policies that
/// fired.
fn mooring() -> (Verdicts, BTreeSet<String>) {
    let policies = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");
    let mut args = vec!["validate", "--policies", policies, "-o", "json"];
    let files = files();
    args.extend(files.iter().map(String::as_str));
    let out = support::mooring(&args, Some(corpus()));
    let doc: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", out.stdout, out.stderr));
    let policy: Vec<&serde_json::Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["source"].as_str().unwrap().starts_with("policy:"))
        .collect();
    let verdicts = policy
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let fired = policy
        .iter()
        .map(|f| f["source"].as_str().unwrap().to_string())
        .collect();
    (verdicts, fired)
}

#[test]
fn mooring_and_conftest_give_the_same_verdicts() {
    let theirs = conftest();
    let (ours, fired) = mooring();
    // The difference by design: `team: yes` is a boolean to conftest.
    let yes = (
        "yes-label.yaml".to_string(),
        "missing the required label \"team\" (every workload needs: app.kubernetes.io/name, \
         app.kubernetes.io/part-of, team)"
            .to_string(),
    );
    assert!(
        theirs.contains(&yes),
        "conftest reads yes as a boolean: {theirs:#?}"
    );
    assert!(
        !ours.contains(&yes),
        "mooring reads yes as a string: {ours:#?}"
    );
    let theirs: Verdicts = theirs.into_iter().filter(|v| *v != yes).collect();

    let only_theirs: Vec<_> = theirs.difference(&ours).collect();
    let only_ours: Vec<_> = ours.difference(&theirs).collect();
    assert!(
        only_theirs.is_empty() && only_ours.is_empty(),
        "only conftest: {only_theirs:#?}\nonly mooring: {only_ours:#?}"
    );
    // Every shipped policy fired at least once.
    assert_eq!(
        fired,
        BTreeSet::from(
            [
                "policy:allowed-registries",
                "policy:image-tag",
                "policy:microvm-size",
                "policy:no-hostpath",
                "policy:required-labels"
            ]
            .map(String::from)
        )
    );
    let files: BTreeSet<&str> = ours.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        files,
        BTreeSet::from([
            "hostpath.yaml",
            "labels.yaml",
            "registries.yaml",
            "sizes.yaml"
        ]),
        "{ours:#?}"
    );
    assert!(ours.len() >= 10, "{ours:#?}");
}
