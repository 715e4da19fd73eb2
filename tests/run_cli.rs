//! `mooring run`: the daemon and `--once`, through the real binary on
//! loopback, with Git repositories made in temp dirs. Each Kubernetes test
//! body runs against both the API emulator and a real kube-apiserver
//! (`on_both_targets!`, tests/support/kube_target.rs), in a Namespace and
//! with a source name of its own; the microVM test uses the Flintlock
//! emulator, and the Git-only tests no target.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use mooring_emulators::kubernetes::{KubeEmulator, KubeOptions};
use support::daemon::{self, Daemon};
use support::kube_target::{KubeEnv, Target};
use support::{
    commit_dir as commit_all, eventually, eventually_async, free_port, http_get, http_post, write,
};

const NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";

fn cm(level: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: app, namespace: shop}}\ndata: {{level: {level}}}\n"
    )
}

/// A Kubernetes API emulator, with its kubeconfig (context `test`) written
/// to `DIR/kubeconfig`, for the tests about the source rather than the target.
async fn emulator(dir: &std::path::Path) -> KubeEmulator {
    let kube = KubeEmulator::start(KubeOptions::default()).await.unwrap();
    kube.write_kubeconfig(&dir.join("kubeconfig"), "test")
        .unwrap();
    kube
}

/// The target [`emulator`] wrote, as mooring.yaml's `targets.kubernetes`.
fn kubernetes_target(dir: &std::path::Path) -> String {
    format!(
        "kubeconfig: {}, context: test",
        dir.join("kubeconfig").display()
    )
}

struct Env {
    kube: KubeEnv,
    dir: tempfile::TempDir,
    /// The test's own Namespace (`shop` made unique).
    shop: String,
}

impl Env {
    async fn start(t: Target) -> Env {
        let kube = KubeEnv::start(t).await;
        let dir = tempfile::tempdir().unwrap();
        let shop = kube.name("shop");
        let env = Env { kube, dir, shop };
        let repo = daemon::repo(
            env.dir.path(),
            &[
                ("deploy/ns.yaml", &env.ours(NS)),
                ("deploy/cm.yaml", &env.ours(&cm("info"))),
            ],
        );
        daemon::config(
            env.dir.path(),
            &env.kube.source,
            &repo.display().to_string(),
            daemon::POLL_FAST,
            &format!(
                "kubeconfig: {}, context: {}",
                env.kube.kubeconfig.display(),
                env.kube.context
            ),
            "",
        );
        env
    }

    /// `manifest` in this test's Namespace.
    fn ours(&self, manifest: &str) -> String {
        manifest.replace("shop", &self.shop)
    }

    /// This test's source name.
    fn source(&self) -> &str {
        &self.kube.source
    }

    fn args(&self, extra: &[&str]) -> Vec<String> {
        daemon::run_args(self.dir.path(), extra)
    }

    async fn once(&self) -> support::Output {
        let args = self.args(&["--once"]);
        let dir = self.dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            support::mooring(&refs, Some(&dir))
        })
        .await
        .unwrap()
    }

    async fn level(&self) -> Option<String> {
        self.kube
            .get("", "ConfigMap", Some(&self.shop), "app")
            .await
            .and_then(|cm| cm["data"]["level"].as_str().map(str::to_string))
    }

    async fn level_is(&self, level: &str) -> bool {
        self.level().await.as_deref() == Some(level)
    }
}

crate::on_both_targets!(
    once_applies_a_new_commit_and_never_an_invalid_one,
    the_daemon_follows_new_commits_and_stops_cleanly_on_sigterm,
    a_deny_window_holds_changes_until_it_is_gone,
    a_signed_push_webhook_syncs_at_once_and_an_unsigned_one_is_refused,
    while_git_is_down_the_last_revision_stays_and_the_daemon_comes_back,
    once_says_held_and_exits_1_when_a_change_is_held_back,
);

/// Held is not success: an object of the source that another mooring
/// source owns is held back, named with its owner, and `--once` exits 1
/// with the result `held`.
async fn once_says_held_and_exits_1_when_a_change_is_held_back(t: Target) {
    let env = Env::start(t).await;
    let other = env.kube.name("other");
    env.kube
        .apply_as(
            "mooring-tests",
            &serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": env.shop}}),
            false,
        )
        .await;
    env.kube
        .apply_as(
            "mooring",
            &serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "app", "namespace": env.shop, "labels": {
                    "app.kubernetes.io/managed-by": "mooring", "mooring.dev/source": other}},
                "data": {"level": "theirs"}}),
            false,
        )
        .await;
    let out = env.once().await;
    assert_eq!(
        out.code, 1,
        "{}
{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.contains(&format!("{}: held", env.source())),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "held: update ConfigMap/{}/app [kubernetes]: the live object belongs to mooring source `{other}`",
            env.shop
        )),
        "{}",
        out.stdout
    );
    assert_eq!(env.level().await.as_deref(), Some("theirs"));
}

async fn once_applies_a_new_commit_and_never_an_invalid_one(t: Target) {
    let env = Env::start(t).await;
    let out = env.once().await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!("{}: success", env.source())),
        "{}",
        out.stdout
    );
    assert_eq!(env.level().await.as_deref(), Some("info"));

    // An invalid commit on top: nothing is applied, exit 1, live unchanged.
    let repo = env.dir.path().join("repo");
    write(
        &repo,
        "deploy/cm.yaml",
        &env.ours(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: shop}\ndata: {level: 3}\n",
        ),
    );
    commit_all(&repo, "broken");
    let out = env.once().await;
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!("{}: invalid", env.source())),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("deploy/cm.yaml:4"), "{}", out.stdout);
    assert_eq!(env.level().await.as_deref(), Some("info"));

    // Fixed: applied.
    write(&repo, "deploy/cm.yaml", &env.ours(&cm("debug")));
    commit_all(&repo, "fixed");
    assert_eq!(env.once().await.code, 0);
    assert_eq!(env.level().await.as_deref(), Some("debug"));
}

async fn the_daemon_follows_new_commits_and_stops_cleanly_on_sigterm(t: Target) {
    let env = Env::start(t).await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = support::mooring_command()
        .args(env.args(&["--listen", &listen]))
        .current_dir(env.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        eventually_async(|| env.level_is("info")).await,
        "the first sync applied nothing"
    );
    assert!(
        eventually(|| http_get(port, "/readyz").0 == 200).await,
        "never ready"
    );
    assert_eq!(http_get(port, "/healthz"), (200, "ok\n".to_string()));
    let (code, metrics) = http_get(port, "/metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.contains(&format!(
            "mooring_sync_total{{result=\"success\",source=\"{}\"}}",
            env.source()
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "mooring_managed_resources{{backend=\"kubernetes\",kind=\"ConfigMap\",source=\"{}\"}} 1",
            env.source()
        )),
        "{metrics}"
    );
    // Every request to the target is counted and timed.
    assert!(
        sample(
            &metrics,
            "mooring_backend_requests_total",
            &[
                "backend=\"kubernetes\"",
                "operation=\"get\"",
                "result=\"ok\""
            ]
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "mooring_backend_requests_total",
            &["operation=\"apply\"", "result=\"ok\""]
        )
        .is_some_and(|n| n >= 2.0),
        "the Namespace and the ConfigMap: {metrics}"
    );
    assert!(
        metrics.contains("mooring_backend_request_duration_seconds_bucket{backend=\"kubernetes\"")
    );
    assert_eq!(
        sample(&metrics, "mooring_backend_up", &["kubernetes"]),
        Some(1.0)
    );
    let (code, status) = http_get(port, "/api/v1/status");
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["sources"][0]["name"], env.source());
    assert_eq!(status["sources"][0]["result"], "success");
    // Health is read after the sync: the ConfigMap and its Namespace are
    // healthy (a ConfigMap has no status; the Namespace is Active).
    assert_eq!(
        status["sources"][0]["unhealthy"],
        serde_json::json!([]),
        "{status}"
    );
    // Healthy objects have no series of their own, only their count.
    assert!(!metrics.contains("mooring_resource_health{"), "{metrics}");
    for kind in ["ConfigMap", "Namespace"] {
        assert_eq!(
            sample(
                &metrics,
                "mooring_unhealthy_resources",
                &[&format!("kind=\"{kind}\"")]
            ),
            Some(0.0),
            "{metrics}"
        );
    }
    let repo = env.dir.path().join("repo");
    write(&repo, "deploy/cm.yaml", &env.ours(&cm("warn")));
    commit_all(&repo, "second");
    assert!(
        eventually_async(|| env.level_is("warn")).await,
        "the new commit was not applied"
    );

    // SIGTERM: the daemon finishes what is in flight and exits 0.
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert_eq!(status.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("shutting down"), "{stderr}");
    assert!(stderr.contains("result=\"success\""), "{stderr}");
}

async fn a_deny_window_holds_changes_until_it_is_gone(t: Target) {
    let env = Env::start(t).await;
    let config = env.dir.path().join("mooring.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    // A deny window that fired within the last hour, whenever this runs.
    let denied = text.replace(
        "driftInterval: 1h}",
        "driftInterval: 1h, windows: [{kind: deny, schedule: '0 * * * * *', duration: 1h}]}",
    );
    assert_ne!(denied, text);
    std::fs::write(&config, &denied).unwrap();
    let out = env.once().await;
    // Held back by the window: not what Git says, so exit 1, with each
    // change the window holds named.
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!("{}: skipped", env.source())),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "held: create ConfigMap/{}/app [kubernetes]: a sync window holds it back: inside the deny window `0 * * * * *`",
            env.shop
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("inside the deny window"),
        "{}",
        out.stdout
    );
    assert_eq!(env.level().await, None, "nothing applied inside the window");

    std::fs::write(&config, &text).unwrap();
    let out = env.once().await;
    assert!(
        out.stdout.contains(&format!("{}: success", env.source())),
        "{}",
        out.stdout
    );
    assert_eq!(env.level().await.as_deref(), Some("info"));
}

/// `POST /hooks/git` with GitHub's headers; the status code.
fn http_post_github(port: u16, body: &str, signature: Option<&str>) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let sig = signature.map_or(String::new(), |s| format!("X-Hub-Signature-256: {s}\r\n"));
    let request = format!(
        "POST /hooks/git HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\n{sig}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return 0;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn github_signature(secret: &str, body: &str) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// The value of the first sample of `metric` whose line contains every
/// one of `labels`.
fn sample(metrics: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(metric) && labels.iter().all(|x| l.contains(x)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

async fn a_signed_push_webhook_syncs_at_once_and_an_unsigned_one_is_refused(t: Target) {
    let env = Env::start(t).await;
    let config = env.dir.path().join("mooring.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    // Polling every hour: only the webhook can bring the next commit in.
    let hooked = text.replace(
        "interval: 200ms",
        "interval: 1h, webhook: {secretEnv: MOORING_TEST_HOOK_SECRET}",
    );
    assert_ne!(hooked, text);
    std::fs::write(&config, &hooked).unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _daemon = Daemon::new(
        support::mooring_command()
            .args(env.args(&["--listen", &listen]))
            .env("MOORING_TEST_HOOK_SECRET", "hunter2")
            .current_dir(env.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        port,
    );
    assert!(
        eventually(|| http_get(port, "/readyz").0 == 200).await,
        "never ready"
    );
    assert_eq!(env.level().await.as_deref(), Some("info"));

    let repo = env.dir.path().join("repo");
    write(&repo, "deploy/cm.yaml", &env.ours(&cm("warn")));
    commit_all(&repo, "second");
    let body = serde_json::json!({
        "ref": "refs/heads/main",
        "repository": {"clone_url": repo.display().to_string()}
    })
    .to_string();
    assert_eq!(http_post_github(port, &body, None), 401, "unsigned");
    let forged = github_signature("guess", &body);
    assert_eq!(http_post_github(port, &body, Some(&forged)), 401, "forged");
    let good = github_signature("hunter2", &body);
    assert_eq!(http_post_github(port, &body, Some(&good)), 202);
    assert!(
        eventually_async(|| env.level_is("warn")).await,
        "the webhook did not bring the new commit in"
    );
    // The sync is counted when it ends, after its apply: wait for it.
    let synced = format!("result=\"success\",source=\"{}\"", env.source());
    assert!(
        eventually(|| {
            let (_, m) = http_get(port, "/metrics");
            sample(&m, "mooring_sync_total", &[&synced]) == Some(2.0)
        })
        .await,
        "the webhook's sync was not counted"
    );
    let (_, metrics) = http_get(port, "/metrics");
    assert_eq!(
        sample(
            &metrics,
            "mooring_webhook_requests_total",
            &["unauthorized"]
        ),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "mooring_webhook_requests_total", &["accepted"]),
        Some(1.0)
    );
    // The first sync and the webhook's: the refused requests fetched nothing.
    assert_eq!(
        sample(
            &metrics,
            "mooring_git_fetch_total",
            &[
                "result=\"success\"",
                &format!("source=\"{}\"", env.source())
            ]
        ),
        Some(2.0),
        "{metrics}"
    );
}

async fn while_git_is_down_the_last_revision_stays_and_the_daemon_comes_back(t: Target) {
    let env = Env::start(t).await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _daemon = Daemon::new(
        support::mooring_command()
            .args(env.args(&["--listen", &listen]))
            .current_dir(env.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        port,
    );
    assert!(eventually(|| http_get(port, "/readyz").0 == 200).await);
    let (_, status) = http_get(port, "/api/v1/status");
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let revision = status["sources"][0]["revision"].clone();
    assert!(revision.is_string(), "{status}");

    // The repository goes away: fetches fail, live state and the applied
    // revision stay.
    let repo = env.dir.path().join("repo");
    let away = env.dir.path().join("repo-away");
    std::fs::rename(&repo, &away).unwrap();
    assert!(
        eventually(|| {
            let (_, m) = http_get(port, "/metrics");
            sample(&m, "mooring_git_fetch_total", &["result=\"failed\""]).is_some()
        })
        .await,
        "no failed fetch counted"
    );
    let (_, status) = http_get(port, "/api/v1/status");
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["sources"][0]["result"], "failed", "{status}");
    assert_eq!(status["sources"][0]["revision"], revision, "{status}");
    assert!(status["sources"][0]["error"].as_str().is_some(), "{status}");
    assert_eq!(env.level().await.as_deref(), Some("info"));
    assert_eq!(http_get(port, "/readyz").0, 200, "still serving");

    // Back, with a new commit: applied after the backoff (5 s at first).
    std::fs::rename(&away, &repo).unwrap();
    write(&repo, "deploy/cm.yaml", &env.ours(&cm("error")));
    commit_all(&repo, "after the outage");
    assert!(
        eventually_async(|| env.level_is("error")).await,
        "not applied after Git came back"
    );
    // The object is written before the sync is recorded: wait for the record.
    let status = || {
        let (_, status) = http_get(port, "/api/v1/status");
        serde_json::from_str::<serde_json::Value>(&status).unwrap()
    };
    assert!(
        eventually(|| status()["sources"][0]["result"] == "success").await,
        "{}",
        status()
    );
    assert_ne!(status()["sources"][0]["revision"], revision);
}

fn vm(name: &str) -> String {
    format!(
        "apiVersion: flintlock.liquidmetal.dev/v1alpha1\nkind: MicroVM\nmetadata: {{name: {name}, namespace: ci}}\nspec:\n  vcpu: 2\n  memoryInMb: 2048\n  kernel: {{image: 'ghcr.io/liquidmetal-dev/flintlock-kernel:5.10.77', filename: boot/vmlinux}}\n  rootVolume: {{id: root, source: {{containerSource: 'ghcr.io/tidewater/rootfs:1.0'}}}}\n  interfaces: [{{deviceId: eth1, type: TAP}}]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_sync_starts_nothing_new_and_a_restart_creates_no_duplicate() {
    use mooring_emulators::flintlock::{FlintlockEmulator, FlintlockOptions};
    let flintlock = FlintlockEmulator::start(FlintlockOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    for name in ["a", "b", "c", "d"] {
        write(&repo, &format!("deploy/{name}.yaml"), &vm(name));
    }
    commit_all(&repo, "four microVMs");
    // One request at a time, each answered after 3 s: a SIGTERM sent
    // once the first create has arrived lands while it is in flight.
    write(
        dir.path(),
        "mooring.yaml",
        &format!(
            "source: {{name: test, url: {}, path: deploy, interval: 1h, driftInterval: 1h}}\ntargets:\n  flintlock:\n    - {{name: edge-1, endpoint: '{}'}}\nconcurrency: 1\ntimeout: 20s\n",
            repo.display(),
            flintlock.endpoint()
        ),
    );
    let args = |extra: &[&str]| daemon::run_args(dir.path(), extra);
    flintlock.set_latency(Duration::from_secs(3));
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = support::mooring_command()
        .args(args(&["--listen", &listen]))
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut arrived = false;
    for _ in 0..600 {
        if flintlock.call_count("CreateMicroVM") >= 1 {
            arrived = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(arrived, "no create arrived");
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The create in flight finished; the others were never started.
    let created = flintlock.call_count("CreateMicroVM");
    assert!(created < 4, "all four were created after SIGTERM: {stderr}");
    assert_eq!(flintlock.vms().len() as u64, created, "{stderr}");
    assert!(stderr.contains("shutting down"), "{stderr}");

    // A restart applies the rest, and nothing twice.
    flintlock.set_latency(Duration::ZERO);
    let restart = args(&["--once"]);
    let cwd = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = restart.iter().map(String::as_str).collect();
        support::mooring(&refs, Some(&cwd))
    })
    .await
    .unwrap();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(support::vm_names(&flintlock), ["a", "b", "c", "d"]);
    assert_eq!(
        flintlock.call_count("CreateMicroVM"),
        4,
        "no duplicate create"
    );
}

/// A Git smart-HTTP server on 127.0.0.1 (`git upload-pack --stateless-rpc`
/// behind a few lines of HTTP/1.1), serving one repository at
/// `/org/repo.git` to requests with Basic auth `alice:<password>`. While
/// `refuse` is set it answers 401 to everything, as after a password change.
struct GitHttp {
    port: u16,
    refuse: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Requests that carried the expected credentials.
    authorized: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl GitHttp {
    fn start(repo: &std::path::Path, password: &str) -> GitHttp {
        use base64::Engine as _;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let refuse = Arc::new(AtomicBool::new(false));
        let authorized = Arc::new(AtomicUsize::new(0));
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("alice:{password}"))
        );
        let (r, a, repo) = (refuse.clone(), authorized.clone(), repo.to_path_buf());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, a, repo, expected) = (r.clone(), a.clone(), repo.clone(), expected.clone());
                std::thread::spawn(move || git_http_answer(stream, &repo, &expected, &r, &a));
            }
        });
        GitHttp {
            port,
            refuse,
            authorized,
        }
    }
}

fn git_http_answer(
    mut stream: std::net::TcpStream,
    repo: &std::path::Path,
    expected_auth: &str,
    refuse: &std::sync::atomic::AtomicBool,
    authorized: &std::sync::atomic::AtomicUsize,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::Ordering;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let target = line.split(' ').nth(1).unwrap_or("").to_string();
    let (mut length, mut chunked, mut auth) = (0usize, false, String::new());
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        let (name, value) = h.split_once(':').unwrap_or((&h, ""));
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().unwrap_or(0),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "authorization" => auth = value.to_string(),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).is_err() {
                return;
            }
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            if reader.read_exact(&mut chunk).is_err() {
                return;
            }
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(length, 0);
        if reader.read_exact(&mut body).is_err() {
            return;
        }
    }
    let respond = |stream: &mut std::net::TcpStream, status: &str, headers: &str, body: &[u8]| {
        let head = format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
    };
    if refuse.load(Ordering::SeqCst) || auth != expected_auth {
        respond(
            &mut stream,
            "401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"git\"\r\n",
            b"",
        );
        return;
    }
    authorized.fetch_add(1, Ordering::SeqCst);
    let upload_pack = |advertise: bool, input: &[u8]| {
        let mut cmd = support::git_command();
        cmd.arg("upload-pack").arg("--stateless-rpc");
        if advertise {
            cmd.arg("--advertise-refs");
        }
        let mut child = cmd
            .arg(repo)
            .env_remove("GIT_PROTOCOL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        out.stdout
    };
    if target == "/org/repo.git/info/refs?service=git-upload-pack" {
        let mut out = b"001e# service=git-upload-pack\n0000".to_vec();
        out.extend(upload_pack(true, b""));
        respond(
            &mut stream,
            "200 OK",
            "Content-Type: application/x-git-upload-pack-advertisement\r\nCache-Control: no-cache\r\n",
            &out,
        );
    } else if target == "/org/repo.git/git-upload-pack" {
        let out = upload_pack(false, &body);
        respond(
            &mut stream,
            "200 OK",
            "Content-Type: application/x-git-upload-pack-result\r\nCache-Control: no-cache\r\n",
            &out,
        );
    } else {
        respond(&mut stream, "404 Not Found", "", b"");
    }
}

/// Every place a password in `source.url` could surface, with the daemon
/// logging at trace level: its log, `/api/v1/status` (url and error),
/// `/metrics` (`mooring_source_info`'s url label), `--once`'s output and the
/// cached clone's config. About the source, not the target: emulator only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_the_source_url_is_never_shown() {
    const PASSWORD: &str = "S3cretPassw0rd";
    let dir = tempfile::tempdir().unwrap();
    let _kube = emulator(dir.path()).await;
    let repo = daemon::repo(
        dir.path(),
        &[("deploy/ns.yaml", NS), ("deploy/cm.yaml", &cm("info"))],
    );
    let git = GitHttp::start(&repo, PASSWORD);
    let url = format!(
        "http://alice:{PASSWORD}@127.0.0.1:{}/org/repo.git",
        git.port
    );
    let shown = format!("http://alice:***@127.0.0.1:{}/org/repo.git", git.port);
    daemon::config(
        dir.path(),
        "test",
        &format!("'{url}'"),
        // A password over plain http is refused without it (loopback here).
        &format!("{}, insecure: true", daemon::POLL_FAST),
        &kubernetes_target(dir.path()),
        "",
    );
    let args = |extra: &[&str]| daemon::run_args(dir.path(), extra);
    let port = free_port();
    let log_path = dir.path().join("daemon.log");
    let child = support::mooring_command()
        .args(args(&["--listen", &format!("127.0.0.1:{port}")]))
        .env("RUST_LOG", "trace")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let daemon = Daemon::new(child, port);
    assert!(
        eventually(|| http_get(port, "/readyz").0 == 200).await,
        "never ready: {}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    // The clone went through the server with the password from the URL.
    assert!(
        git.authorized.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "the password was never sent"
    );
    let (_, status) = http_get(port, "/api/v1/status");
    let parsed: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(parsed["sources"][0]["result"], "success", "{status}");
    assert_eq!(parsed["sources"][0]["url"], shown.as_str(), "{status}");
    let (_, metrics) = http_get(port, "/metrics");
    assert!(
        metrics.contains(&format!("url=\"{shown}\"")),
        "mooring_source_info: {metrics}"
    );
    assert!(!metrics.contains(PASSWORD), "{metrics}");

    // The server now refuses the password: fetches fail, the status says why.
    git.refuse.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(
        eventually(|| {
            let (_, s) = http_get(port, "/api/v1/status");
            s.contains("\"result\":\"failed\"")
        })
        .await,
        "the refused fetch was not reported"
    );
    let (_, status) = http_get(port, "/api/v1/status");
    let parsed: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert!(
        parsed["sources"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains(&shown)),
        "{status}"
    );
    assert!(!status.contains(PASSWORD), "{status}");
    let (_, metrics) = http_get(port, "/metrics");
    assert!(!metrics.contains(PASSWORD), "{metrics}");

    assert_eq!(daemon.stop().await, Some(0));
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("TRACE"), "not a trace log: {log}");
    assert!(!log.contains(PASSWORD), "the log shows the password");
    assert_eq!(
        log.matches("carries a password").count(),
        1,
        "one warning about the password in the URL: {log}"
    );

    // --once, refused: its report and its log.
    let once = args(&["--once"]);
    let cwd = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        support::mooring_command()
            .args(&once)
            .env("RUST_LOG", "trace")
            .current_dir(&cwd)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains(&shown), "{stdout}");
    assert!(!stdout.contains(PASSWORD), "{stdout}");
    assert!(
        !stderr.contains(PASSWORD),
        "the --once log shows the password"
    );

    // The cached clone does not keep it either.
    for entry in std::fs::read_dir(dir.path().join("cache")).unwrap() {
        let config = std::fs::read_to_string(entry.unwrap().path().join("config")).unwrap();
        assert!(!config.contains(PASSWORD), "{config}");
    }
}

/// `mooring run --max-file-size` reaches the daemon's reads: a revision with a
/// file over it is invalid and nothing of it is applied. (The flag was once
/// accepted and ignored.) About reading, not the target: emulator only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_honours_max_file_size() {
    let env = Env::start(Target::Emulator).await;
    let size = |f: &str| {
        std::fs::metadata(env.dir.path().join("repo/deploy").join(f))
            .unwrap()
            .len()
    };
    let (ns, cm) = (size("ns.yaml"), size("cm.yaml"));
    assert!(ns < cm, "the limit goes between them");
    let limit = (ns + cm) / 2;
    let args = env.args(&["--once", "--max-file-size", &limit.to_string()]);
    let dir = env.dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        support::mooring(&refs, Some(&dir))
    })
    .await
    .unwrap();
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!("{}: invalid", env.source())),
        "{}",
        out.stdout
    );
    let over = format!("file is {cm} bytes, over the {limit} byte limit");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains("deploy/cm.yaml") && l.contains(&over)),
        "{}",
        out.stdout
    );
    assert_eq!(env.level().await, None);
    // The default limit reads it: applied.
    let out = env.once().await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(env.level().await.as_deref(), Some("info"));
}

/// The daemon reads a source without what its `exclude:`, `--exclude` and
/// the commit's `.mooringignore` files leave out: a values file there would
/// make the revision invalid. About reading, not the target: emulator only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_leaves_out_what_the_source_excludes() {
    let env = Env::start(Target::Emulator).await;
    let repo = env.dir.path().join("repo");
    write(&repo, "deploy/values.yaml", "replicas: 2\n");
    write(&repo, "deploy/chart/values.yaml", "replicas: 2\n");
    write(&repo, "deploy/.mooringignore", "chart/\n");
    commit_all(&repo, "values");
    let once = |extra: &[&str]| {
        let args = env.args(&[&["--once"], extra].concat());
        let dir = env.dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            support::mooring(&refs, Some(&dir))
        })
    };
    let out = once(&[]).await.unwrap();
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("deploy/values.yaml:1: not a Kubernetes manifest"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("chart"), "{}", out.stdout);
    assert_eq!(env.level().await, None);

    let out = once(&["--exclude", "values.yaml"]).await.unwrap();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(env.level().await.as_deref(), Some("info"));

    // The source's own list: a new revision, read without the flag.
    let config = env.dir.path().join("mooring.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("path: deploy,", "path: deploy, exclude: [/values.yaml],"),
    )
    .unwrap();
    write(&repo, "deploy/cm.yaml", &env.ours(&cm("debug")));
    commit_all(&repo, "debug");
    let out = once(&[]).await.unwrap();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(env.level().await.as_deref(), Some("debug"));
}

/// `plan --against-ref` reaches a private repository with the `source.auth`
/// of `--config`, as `apply` and `run` do. (It once opened Git with no
/// credentials.)
#[test]
fn a_git_to_git_plan_uses_the_configured_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    write(&repo, "deploy/ns.yaml", NS);
    commit_all(&repo, "first");
    write(&repo, "deploy/cm.yaml", &cm("info"));
    commit_all(&repo, "second");
    let git = GitHttp::start(&repo, "T0ken");
    write(dir.path(), "token", "T0ken\n");
    let config = dir.path().join("mooring.yaml");
    write(
        dir.path(),
        "mooring.yaml",
        &format!(
            // Plain http on loopback: a token needs `insecure: true` there.
            "source: {{insecure: true, auth: {{tokenFile: {}, username: alice}}}}\ntimeout: 5s\n",
            dir.path().join("token").display()
        ),
    );
    let url = format!("http://127.0.0.1:{}/org/repo.git", git.port);
    let cache = dir.path().join("cache");
    let plan = |extra: &[&str]| {
        let mut args = vec![
            "plan",
            "--no-policies",
            "--repo",
            &url,
            "--path",
            "deploy",
            "--against-ref",
            "HEAD~1",
            "--cache-dir",
            cache.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        support::mooring(&args, None)
    };
    let refused = plan(&[]);
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains("cannot clone"),
        "{}",
        refused.stderr
    );
    assert_eq!(git.authorized.load(std::sync::atomic::Ordering::SeqCst), 0);
    let out = plan(&["--config", config.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("ConfigMap/shop/app"), "{}", out.stdout);
    assert!(git.authorized.load(std::sync::atomic::Ordering::SeqCst) > 0);
}

/// `plan --against-ref` bounds its Git traffic with the `timeout` of
/// `--config`: a server that accepts and never answers fails the plan
/// instead of hanging it. (It once opened Git with no network timeout.)
#[test]
fn a_git_to_git_plan_has_a_network_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts every connection and keeps it open, silent.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    write(dir.path(), "mooring.yaml", "timeout: 1s\n");
    let url = format!("http://127.0.0.1:{port}/org/repo.git");
    let config = dir.path().join("mooring.yaml").display().to_string();
    let cache = dir.path().join("cache").display().to_string();
    // Bounded: without a timeout the plan never ends at all.
    let out = support::mooring_bounded(
        &[
            "plan",
            "--no-policies",
            "--repo",
            &url,
            "--against-ref",
            "main",
            "--config",
            &config,
            "--cache-dir",
            &cache,
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("cannot clone"), "{}", out.stderr);
}

/// The daemon's listener survives abuse: 1,100 idle connections (more than
/// it keeps open at once) and one that sends its request head a byte at a
/// time do not stop `/healthz` from answering or the daemon from syncing;
/// the slow one is closed. With `--webhook-listen`, `/hooks/git` is served
/// there alone and no longer on `--listen`. Emulator only: this is about
/// mooring's own HTTP listener, not about Kubernetes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_do_not_starve_the_daemon() {
    use std::io::{Read, Write};
    let env = Env::start(Target::Emulator).await;
    let (port, hook_port) = (free_port(), free_port());
    let (listen, hook_listen) = (
        format!("127.0.0.1:{port}"),
        format!("127.0.0.1:{hook_port}"),
    );
    let child = support::mooring_command()
        .args(env.args(&["--listen", &listen, "--webhook-listen", &hook_listen]))
        .current_dir(env.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let daemon = Daemon::new(child, port);
    assert!(
        eventually_async(|| env.level_is("info")).await,
        "the first sync applied nothing"
    );
    assert!(
        eventually(|| http_get(port, "/readyz").0 == 200).await,
        "never ready"
    );

    // The webhook is on its own address, and only there.
    let (code, _) = http_post(hook_port, "/hooks/git", "{}");
    assert_eq!(
        code, 400,
        "the webhook answers on --webhook-listen (no event header: 400)"
    );
    assert_eq!(
        http_post(port, "/hooks/git", "{}").0,
        404,
        "not on --listen"
    );
    assert_eq!(
        http_get(hook_port, "/metrics").0,
        404,
        "only the webhook there"
    );

    // 1,100 connections that never send a byte, and one that sends its
    // head a byte at a time. (Bounded: 1,100 sockets, closed at the end.)
    let addr: std::net::SocketAddr = listen.parse().unwrap();
    let idle: Vec<std::net::TcpStream> = (0..1100)
        .filter_map(|_| std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok())
        .collect();
    assert!(
        idle.len() >= 1000,
        "only {} connections were made",
        idle.len()
    );
    let slow = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        // At most 60 s (a bound): the server must close it long before.
        for byte in head.iter().take(60) {
            if s.write_all(&[*byte]).is_err() {
                return true;
            }
            let mut buf = [0u8; 64];
            match s.read(&mut buf) {
                Ok(0) => return true,
                Err(e)
                    if e.kind() != std::io::ErrorKind::WouldBlock
                        && e.kind() != std::io::ErrorKind::TimedOut =>
                {
                    return true;
                }
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        false
    });

    // /healthz still answers (within the bound of `eventually`: 30 s) ...
    assert!(
        eventually(|| http_get(port, "/healthz") == (200, "ok\n".to_string())).await,
        "/healthz did not answer while 1,100 idle connections were open"
    );
    // ... and the daemon still syncs a new commit.
    let repo = env.dir.path().join("repo");
    write(&repo, "deploy/cm.yaml", &env.ours(&cm("warn")));
    commit_all(&repo, "during the flood");
    assert!(
        eventually_async(|| env.level_is("warn")).await,
        "no sync during the flood"
    );
    assert!(
        tokio::task::spawn_blocking(move || slow.join().unwrap())
            .await
            .unwrap(),
        "the connection sending its head a byte at a time was not closed"
    );
    drop(idle);
    assert_eq!(daemon.stop().await, Some(0));
}
