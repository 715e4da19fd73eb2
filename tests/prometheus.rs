//! The monitoring examples against the real tools: `promtool` checks and
//! unit-tests `examples/prometheus/alerts.yaml`, and an end-to-end test runs
//! the real `mooring` binary against a Kubernetes target on loopback (one
//! body on both the API emulator and a real kube-apiserver:
//! `on_both_targets!`, tests/support/kube_target.rs) with a real
//! `prometheus` scraping it, to see MooringDriftDetected fire on drift that
//! cannot be healed and resolve once it is. The Grafana dashboard's and the rules' metric names are checked
//! against `src/metrics.rs`, so a renamed metric breaks this test.
//!
//! `promtool` and `prometheus` must be on PATH (`scripts/deps` installs
//! Debian's `prometheus` package); without them these tests fail, they do
//! not skip. Only 127.0.0.1 is used.

mod support;

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::kube_target::{KubeEnv, Target};
use support::write;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a Prometheus tool; a missing tool fails the test with what to do.
fn tool(name: &str, args: &[&str]) -> Output {
    match Command::new(name).args(args).current_dir(root()).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{name}` is not on PATH: run scripts/deps (it installs Debian's prometheus package, \
             which provides promtool and prometheus)"
        ),
        Err(e) => panic!("cannot run {name}: {e}"),
    }
}

fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_alert_rules_are_valid_and_pass_their_unit_tests() {
    let out = tool(
        "promtool",
        &["check", "rules", "examples/prometheus/alerts.yaml"],
    );
    assert_success("promtool check rules", &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("SUCCESS: 8 rules found"), "{stdout}");

    let out = tool(
        "promtool",
        &["test", "rules", "examples/prometheus/alerts_test.yaml"],
    );
    assert_success("promtool test rules", &out);

    let out = tool(
        "promtool",
        &["check", "config", "examples/prometheus/prometheus.yaml"],
    );
    assert_success("promtool check config", &out);
}

/// Every test case of alerts_test.yaml covers an alert of alerts.yaml, and
/// every alert has a case where it fires and one where it does not.
#[test]
fn every_alert_has_a_firing_and_a_silent_unit_test() {
    let rules = yaml(&root().join("examples/prometheus/alerts.yaml"));
    let alerts: BTreeSet<String> = rules["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alert"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(rules["groups"][0]["name"], "mooring");
    assert!(alerts.contains("MooringBackendUnreachable"), "{alerts:?}");

    let tests = yaml(&root().join("examples/prometheus/alerts_test.yaml"));
    let mut firing = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for case in tests["tests"].as_array().unwrap() {
        for t in case["alert_rule_test"].as_array().unwrap() {
            let name = t["alertname"].as_str().unwrap().to_string();
            assert!(alerts.contains(&name), "a test of an unknown alert {name}");
            match t["exp_alerts"].as_array().map(Vec::len) {
                Some(0) | None => silent.insert(name),
                Some(_) => firing.insert(name),
            };
        }
    }
    assert_eq!(firing, alerts, "alerts without a firing case");
    assert_eq!(silent, alerts, "alerts without a silent case");
}

/// Parses a one-document YAML file with mooring's own reader.
fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let (docs, errors) =
        mooring::manifest::yaml::parse_stream(&text, &mooring::manifest::Limits::default());
    assert!(
        errors.iter().all(|e| e.warning),
        "{}: {errors:?}",
        path.display()
    );
    assert_eq!(docs.len(), 1, "{}", path.display());
    docs.into_iter().next().unwrap().value
}

// ---------------------------------------------------------------------------
// Metric names

/// The metric names `src/metrics.rs` registers (its `"mooring_..."` string
/// literals), with the `_bucket`/`_sum`/`_count` series of each.
fn exported_metrics() -> BTreeSet<String> {
    let source = std::fs::read_to_string(root().join("src/metrics.rs")).unwrap();
    let mut names = BTreeSet::new();
    for part in source.split('"').skip(1).step_by(2) {
        if part.starts_with("mooring_")
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            for suffix in ["", "_bucket", "_sum", "_count"] {
                names.insert(format!("{part}{suffix}"));
            }
        }
    }
    assert!(names.contains("mooring_sync_total"), "{names:?}");
    names
}

/// The `mooring_*` metric names an expression mentions.
fn mentioned_metrics(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(at) = expr[i..].find("mooring_") {
        let start = i + at;
        let word_start = start == 0 || {
            let b = bytes[start - 1];
            !(b.is_ascii_alphanumeric() || b == b'_')
        };
        let end = expr[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(expr.len(), |n| start + n);
        if word_start {
            out.insert(expr[start..end].to_string());
        }
        i = end;
    }
    out
}

#[test]
fn the_rules_use_only_exported_metrics() {
    let exported = exported_metrics();
    let rules = yaml(&root().join("examples/prometheus/alerts.yaml"));
    let mut used = BTreeSet::new();
    for rule in rules["groups"][0]["rules"].as_array().unwrap() {
        let expr = rule["expr"].as_str().unwrap();
        for name in mentioned_metrics(expr) {
            assert!(
                exported.contains(&name),
                "alert {}: {name} is not a metric of src/metrics.rs",
                rule["alert"]
            );
            used.insert(name);
        }
    }
    assert!(used.contains("mooring_drifted_resources"), "{used:?}");
}

#[test]
fn the_dashboard_uses_only_exported_metrics() {
    let exported = exported_metrics();
    let text = std::fs::read_to_string(root().join("examples/grafana/mooring.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dashboard["uid"], "mooring");
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(variables, ["datasource", "source"]);
    let source_query = json!(dashboard["templating"]["list"][1]["query"]).to_string();
    assert!(
        source_query.contains("label_values(mooring_source_info, source)"),
        "{source_query}"
    );

    let mut panels = 0;
    let mut used = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] == "row" {
            continue;
        }
        panels += 1;
        let title = panel["title"].as_str().unwrap();
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {title} has no query");
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            let names = mentioned_metrics(expr);
            assert!(
                !names.is_empty(),
                "panel {title}: no mooring metric in {expr}"
            );
            for name in names {
                assert!(
                    exported.contains(&name),
                    "panel {title}: {name} is not a metric of src/metrics.rs"
                );
                used.insert(name);
            }
        }
    }
    assert!(panels >= 8, "{panels} panels");
    for wanted in [
        "mooring_sync_total",
        "mooring_last_successful_sync_timestamp_seconds",
        "mooring_drifted_resources",
        "mooring_managed_resources",
        "mooring_sync_duration_seconds_bucket",
        "mooring_apply_total",
        "mooring_backend_requests_total",
        "mooring_backend_request_duration_seconds_bucket",
        "mooring_validation_errors",
        "mooring_policy_violations",
    ] {
        assert!(used.contains(wanted), "no panel shows {wanted}");
    }
}

#[test]
fn metric_names_are_found_in_expressions() {
    assert_eq!(
        mentioned_metrics(
            "sum(rate(mooring_sync_total{x=\"mooring_no\"}[5m])) / foo_mooring_bar + mooring_a_b"
        ),
        ["mooring_a_b", "mooring_no", "mooring_sync_total"]
            .map(String::from)
            .into()
    );
}

// ---------------------------------------------------------------------------
// End to end: mooring + a Kubernetes target + a real prometheus

/// Child processes killed (and reaped) on every exit path.
struct Procs(Vec<(String, Child, PathBuf)>);

impl Procs {
    /// Each process's stderr (written to a file, so it never blocks).
    fn logs(&self) -> String {
        self.0
            .iter()
            .map(|(name, _, log)| {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- {name} (last lines of stderr)\n{}\n", tail.join("\n"))
            })
            .collect()
    }

    /// Fails the test if a process has exited.
    fn check_alive(&mut self) {
        let mut dead = Vec::new();
        for (name, child, _) in &mut self.0 {
            if let Ok(Some(status)) = child.try_wait() {
                dead.push(format!("{name} exited: {status}"));
            }
        }
        assert!(dead.is_empty(), "{}\n{}", dead.join("\n"), self.logs());
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, child, _) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(procs: &mut Procs, name: &str, program: &str, args: &[String], dir: &Path) {
    let log = dir.join(format!("{name}.log"));
    let child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{program}` is not on PATH: run scripts/deps (it installs Debian's prometheus package)"
        ),
        Err(e) => panic!("cannot start {program}: {e}"),
    };
    procs.0.push((name.to_string(), child, log));
}

/// A port that was free a moment ago, on loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on 127.0.0.1:`port` over HTTP/1.0 (so the body is never
/// chunked): the body of a 200, or None.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    (head.split(' ').nth(1) == Some("200")).then(|| body.to_string())
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The result vector of an instant query, or None if Prometheus does not
/// answer (yet).
fn query(port: u16, promql: &str) -> Option<Vec<Value>> {
    let body = http_get(
        port,
        &format!("/api/v1/query?query={}", percent_encode(promql)),
    )?;
    let v: Value = serde_json::from_str(&body).ok()?;
    (v["status"] == "success").then(|| v["data"]["result"].as_array().cloned())?
}

/// The single value of an instant query, as Prometheus prints it.
fn single_value(port: u16, promql: &str) -> Option<String> {
    let result = query(port, promql)?;
    match result.as_slice() {
        [one] => one["value"][1].as_str().map(str::to_string),
        _ => None,
    }
}

/// Polls `check` every 250 ms for at most 60 s (a bound, not a timing
/// assertion); fails with both processes' logs when it never holds.
async fn wait_until<T>(procs: &mut Procs, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = check() {
            return v;
        }
        procs.check_alive();
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}\n{}",
            procs.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Polls (every 250 ms, at most 60 s) until the ConfigMap's level is
/// `level`; fails with the processes' logs when it never is.
async fn wait_for_level(procs: &mut Procs, kube: &KubeEnv, shop: &str, level: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let live = kube.get("", "ConfigMap", Some(shop), "app").await;
        if live.as_ref().and_then(|cm| cm["data"]["level"].as_str()) == Some(level) {
            return;
        }
        procs.check_alive();
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}\n{}",
            procs.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// alerts.yaml with every `for:` shortened to 2s, so the expressions under
/// test are the example's own.
fn fast_rules() -> String {
    let text = std::fs::read_to_string(root().join("examples/prometheus/alerts.yaml")).unwrap();
    let mut rewritten = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("for:") {
                rewritten += 1;
                format!("{}for: 2s", &line[..line.len() - trimmed.len()])
            } else {
                line.to_string()
            }
        })
        .collect();
    assert_eq!(rewritten, 8, "one `for:` per alert");
    lines.join("\n") + "\n"
}

const NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";
const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: shop}\ndata: {level: info}\n";
const DRIFTING: &str = "ALERTS{alertname=\"MooringDriftDetected\",alertstate=\"firing\"}";

crate::on_both_targets!(the_drift_alert_fires_on_unhealed_drift_and_resolves_when_healed);

async fn the_drift_alert_fires_on_unhealed_drift_and_resolves_when_healed(t: Target) {
    let kube = KubeEnv::start(t).await;
    // Its own Namespace and source: the real server is shared.
    let shop = kube.name("shop");
    let source = kube.source.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = d.join("repo");
    write(&repo, "deploy/ns.yaml", &NS.replace("shop", &shop));
    write(&repo, "deploy/cm.yaml", &CM.replace("shop", &shop));
    let git = support::git_init(&repo);
    support::commit_all(&git, "first");
    // forceConflicts off: a field another manager took stays theirs, so
    // that drift cannot be healed.
    write(
        d,
        "mooring.yaml",
        &format!(
            "source: {{name: {source}, url: {}, ref: HEAD, path: deploy, interval: 30s, driftInterval: 1s}}\n\
             targets:\n  kubernetes: {{kubeconfig: {}, context: {}, forceConflicts: false}}\n\
             selfHeal: true\ntimeout: 5s\n",
            repo.display(),
            kube.kubeconfig.display(),
            kube.context
        ),
    );
    // Present (at 1) only while the ConfigMap drifted.
    let drift_series =
        format!("mooring_resource_drift{{source=\"{source}\",kind=\"ConfigMap\",name=\"app\"}}");
    let drifted_configmaps =
        format!("mooring_drifted_resources{{source=\"{source}\",kind=\"ConfigMap\"}}");

    let mut procs = Procs(Vec::new());
    let mooring_port = free_port();
    let args: Vec<String> = [
        "run",
        "--config",
        "mooring.yaml",
        "--no-policies",
        "--cache-dir",
        "cache",
        "--listen",
        &format!("127.0.0.1:{mooring_port}"),
    ]
    .map(String::from)
    .into();
    spawn(
        &mut procs,
        "mooring",
        env!("CARGO_BIN_EXE_mooring"),
        &args,
        d,
    );
    wait_for_level(
        &mut procs,
        &kube,
        &shop,
        "info",
        "the first sync applied the ConfigMap",
    )
    .await;

    write(d, "rules.yaml", &fast_rules());
    let prometheus_port = free_port();
    write(
        d,
        "prometheus.yaml",
        &format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             rule_files: [{rules}]\n\
             scrape_configs:\n  - job_name: mooring\n    static_configs: [{{targets: ['127.0.0.1:{mooring_port}']}}]\n",
            rules = d.join("rules.yaml").display()
        ),
    );
    let args: Vec<String> = vec![
        format!("--config.file={}", d.join("prometheus.yaml").display()),
        format!("--storage.tsdb.path={}", d.join("tsdb").display()),
        format!("--web.listen-address=127.0.0.1:{prometheus_port}"),
    ];
    spawn(&mut procs, "prometheus", "prometheus", &args, d);
    wait_until(&mut procs, "prometheus scraped mooring", || {
        (single_value(prometheus_port, "up{job=\"mooring\"}")? == "1").then_some(())
    })
    .await;
    wait_until(&mut procs, "prometheus saw the ConfigMap in sync", || {
        let v = single_value(prometheus_port, &drifted_configmaps)?;
        (v == "0" && query(prometheus_port, &drift_series)?.is_empty()).then_some(())
    })
    .await;
    // The first sync's creates count as drift until the next drift check:
    // any alert they raised is gone before the real drift starts.
    wait_until(&mut procs, "no drift alert", || {
        query(prometheus_port, DRIFTING)?.is_empty().then_some(())
    })
    .await;

    // Drift that cannot be healed: another controller (not one of the
    // kubectl-style managers selfHeal takes fields back from) changes a
    // field mooring owns and so takes it; without forceConflicts every heal
    // is a conflict.
    kube.edit_as(
        "config-operator",
        "",
        "ConfigMap",
        Some(&shop),
        "app",
        &json!({"data": {"level": "debug"}}),
    )
    .await;
    let firing = wait_until(&mut procs, "MooringDriftDetected fired", || {
        let result = query(prometheus_port, DRIFTING)?;
        (!result.is_empty()).then_some(result)
    })
    .await;
    assert_eq!(firing.len(), 1, "{firing:?}");
    let labels = &firing[0]["metric"];
    assert_eq!(labels["source"], source.as_str(), "{labels}");
    assert_eq!(labels["backend"], "kubernetes", "{labels}");
    assert_eq!(labels["kind"], "ConfigMap", "{labels}");
    assert_eq!(labels["severity"], "warning", "{labels}");
    let alerts = http_get(prometheus_port, "/api/v1/alerts").unwrap();
    assert!(
        alerts.contains(&format!(
            "1 ConfigMap object(s) of source {source} drifted from Git"
        )),
        "{alerts}"
    );
    let live = kube.get("", "ConfigMap", Some(&shop), "app").await;
    assert_eq!(
        live.as_ref().and_then(|cm| cm["data"]["level"].as_str()),
        Some("debug"),
        "healing was refused"
    );

    // The other manager's object goes away: the next drift check creates
    // it again from Git, and the alert resolves.
    assert!(kube.delete("", "ConfigMap", Some(&shop), "app").await);
    wait_for_level(
        &mut procs,
        &kube,
        &shop,
        "info",
        "self-heal restored the ConfigMap",
    )
    .await;
    wait_until(&mut procs, "MooringDriftDetected resolved", || {
        let firing = query(prometheus_port, DRIFTING)?;
        let drifted = single_value(prometheus_port, &drifted_configmaps)?;
        (firing.is_empty() && drifted == "0" && query(prometheus_port, &drift_series)?.is_empty())
            .then_some(())
    })
    .await;
    let drifted = single_value(
        prometheus_port,
        &format!("max by (source) (mooring_drifted_resources{{source=\"{source}\"}})"),
    );
    assert_eq!(drifted.as_deref(), Some("0"));

    // Every query of the Grafana dashboard is valid PromQL for this
    // Prometheus, and the ones on per-source series find data.
    let text = std::fs::read_to_string(root().join("examples/grafana/mooring.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "1m")
                .replace("$source", ".*");
            let body = http_get(
                prometheus_port,
                &format!("/api/v1/query?query={}", percent_encode(&expr)),
            );
            assert!(
                body.as_deref()
                    .is_some_and(|b| b.contains("\"status\":\"success\"")),
                "panel {}: {expr}: {body:?}",
                panel["title"]
            );
        }
    }
    for expr in [
        format!("mooring_source_info{{source=\"{source}\"}}"),
        format!("mooring_managed_resources{{source=\"{source}\",kind=\"ConfigMap\"}}"),
    ] {
        assert_eq!(
            single_value(prometheus_port, &expr).as_deref(),
            Some("1"),
            "{expr}"
        );
    }
    procs.check_alive();
}
