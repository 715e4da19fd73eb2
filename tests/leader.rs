//! `mooring run --leader-elect`: two real `mooring` processes against a
//! Kubernetes target on loopback, sharing one Lease and one Git repository
//! made in a temp dir. Each test body runs against both the API emulator
//! (`emulators/`) and a real kube-apiserver (`on_both_targets!`,
//! tests/support/kube_target.rs), with a Lease, Namespace and source of its
//! own; the one that injects faults runs on the emulator only. They start
//! processes; every wait polls with a deadline of tens of seconds (a bound,
//! not a timing assertion).

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::daemon::{self, Daemon};
use support::kube_target::{KubeEnv, Target};
use support::{commit_dir as commit_all, eventually, eventually_async, free_port, http_get, write};

const NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";

fn cm(shop: &str, level: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: app, namespace: {shop}}}\ndata: {{level: {level}}}\n"
    )
}

struct Env {
    kube: KubeEnv,
    dir: tempfile::TempDir,
    /// The test's own Namespace (`shop` made unique).
    shop: String,
    /// The test's own Lease (in `default`).
    lease: String,
}

/// One replica: a `mooring run --leader-elect` process and its log.
struct Replica {
    identity: String,
    daemon: Daemon,
    log: PathBuf,
}

impl Replica {
    fn metrics(&self) -> String {
        self.daemon.metrics()
    }

    /// `mooring_leader`'s value, when the endpoint answers.
    fn leader_gauge(&self) -> Option<i64> {
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix("mooring_leader "))
            .and_then(|v| v.trim().parse().ok())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Env {
    async fn start(t: Target) -> Env {
        let kube = KubeEnv::start(t).await;
        let dir = tempfile::tempdir().unwrap();
        let shop = kube.name("shop");
        let lease = kube.name("mooring");
        let repo = daemon::repo(
            dir.path(),
            &[
                ("deploy/ns.yaml", &NS.replace("shop", &shop)),
                ("deploy/cm.yaml", &cm(&shop, "info")),
            ],
        );
        daemon::config(
            dir.path(),
            &kube.source,
            &repo.display().to_string(),
            daemon::POLL_FAST,
            &kube.target(),
            "",
        );
        Env {
            kube,
            dir,
            shop,
            lease,
        }
    }

    /// `mooring_sync_total`'s series for a successful sync of this source.
    fn synced(&self) -> String {
        format!(
            "mooring_sync_total{{result=\"success\",source=\"{}\"}}",
            self.kube.source
        )
    }

    /// Starts `mooring run --leader-elect --lease-duration 2s` as
    /// `identity`, with its own port, cache and log file.
    fn daemon(&self, identity: &str) -> Replica {
        let port = free_port();
        let log = self.dir.path().join(format!("{identity}.log"));
        let cache = self.dir.path().join(format!("cache-{identity}"));
        let child = support::mooring_command()
            .args([
                "run",
                "--config",
                &self.dir.path().join("mooring.yaml").display().to_string(),
                "--no-policies",
                "--cache-dir",
                &cache.display().to_string(),
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--leader-elect",
                "--lease-duration",
                "2s",
                "--identity",
                identity,
                "--lease-name",
                &self.lease,
            ])
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("POD_NAME")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Replica {
            identity: identity.to_string(),
            daemon: Daemon::new(child, port),
            log,
        }
    }

    async fn lease(&self) -> Option<serde_json::Value> {
        self.kube
            .get("coordination.k8s.io", "Lease", Some("default"), &self.lease)
            .await
    }

    async fn holder(&self) -> Option<String> {
        self.lease()
            .await
            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
            .filter(|h| !h.is_empty())
    }

    async fn has_holder(&self) -> bool {
        self.holder().await.is_some()
    }

    async fn holder_is(&self, identity: &str) -> bool {
        self.holder().await.as_deref() == Some(identity)
    }

    async fn level_is(&self, level: &str) -> bool {
        self.kube
            .get("", "ConfigMap", Some(&self.shop), "app")
            .await
            .and_then(|cm| cm["data"]["level"].as_str().map(str::to_string))
            .as_deref()
            == Some(level)
    }

    /// Starts `a` and `b`, waits until one holds the Lease and says so in
    /// its metrics; returns (leader, follower).
    async fn two(&self) -> (Replica, Replica) {
        let a = self.daemon("replica-a");
        let b = self.daemon("replica-b");
        assert!(
            eventually_async(|| self.has_holder()).await,
            "nobody took the lease\n{}\n{}",
            a.log(),
            b.log()
        );
        let (leader, follower) = if self.holder_is("replica-a").await {
            (a, b)
        } else {
            (b, a)
        };
        assert!(
            eventually(|| leader.leader_gauge() == Some(1)).await,
            "{}",
            leader.log()
        );
        assert!(
            eventually(|| follower.leader_gauge() == Some(0)).await,
            "{}",
            follower.log()
        );
        (leader, follower)
    }
}

/// The follower has run no sync at all: no `mooring_sync_total` series.
fn assert_never_synced(d: &Replica) {
    let metrics = d.metrics();
    assert!(!metrics.is_empty(), "{} serves no metrics", d.identity);
    assert!(
        !metrics.contains("mooring_sync_total{"),
        "{} synced while following:\n{metrics}",
        d.identity
    );
    assert!(!d.log().contains(" sync "), "{}", d.log());
}

crate::on_both_targets!(
    one_replica_applies_and_the_other_takes_over_when_it_is_killed,
    sigterm_releases_the_lease_and_the_other_replica_takes_over_at_once,
);

async fn one_replica_applies_and_the_other_takes_over_when_it_is_killed(t: Target) {
    let env = Env::start(t).await;
    let (mut leader, follower) = env.two().await;
    assert!(
        eventually_async(|| env.level_is("info")).await,
        "the leader applied nothing\n{}",
        leader.log()
    );
    // Both serve status; the leader is ready after its first sync, the
    // follower is ready as a follower.
    for (d, leading) in [(&leader, true), (&follower, false)] {
        let (code, body) = http_get(d.daemon.port, "/api/v1/status");
        assert_eq!(code, 200);
        let status: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status["leader"]["identity"], d.identity.as_str());
        assert_eq!(status["leader"]["leading"], leading);
        assert!(eventually(|| http_get(d.daemon.port, "/readyz").0 == 200).await);
    }
    assert!(leader.metrics().contains(&env.synced()));
    // Several lease durations pass: the leader keeps renewing, the
    // follower never syncs.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(env.holder_is(&leader.identity).await);
    assert_never_synced(&follower);
    let lease = env.lease().await.unwrap();
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 2);
    let renew = lease["spec"]["renewTime"].as_str().unwrap().to_string();
    assert!(
        renew.len() == 27 && renew.ends_with('Z') && renew.as_bytes()[19] == b'.',
        "renewTime is not a MicroTime: {renew}"
    );
    let transitions = lease["spec"]["leaseTransitions"].as_i64().unwrap();

    // kill -9: no release. The follower takes over once the Lease has not
    // changed for the lease duration, and applies a new commit.
    let started = Instant::now();
    leader.daemon.signal("-KILL");
    assert_eq!(leader.daemon.exit_code().await, None, "killed by a signal");
    assert!(
        eventually_async(|| env.holder_is(&follower.identity)).await,
        "the follower never took over\n{}",
        follower.log()
    );
    eprintln!("takeover after kill -9: {:?}", started.elapsed());
    assert!(eventually(|| follower.leader_gauge() == Some(1)).await);
    let lease = env.lease().await.unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], transitions + 1);
    let repo = env.dir.path().join("repo");
    write(&repo, "deploy/cm.yaml", &cm(&env.shop, "warn"));
    commit_all(&repo, "second");
    assert!(
        eventually_async(|| env.level_is("warn")).await,
        "the new leader did not apply the new commit\n{}",
        follower.log()
    );
    assert!(follower.log().contains("acquired the lease"));
}

async fn sigterm_releases_the_lease_and_the_other_replica_takes_over_at_once(t: Target) {
    let env = Env::start(t).await;
    let (mut leader, follower) = env.two().await;
    assert!(eventually_async(|| env.level_is("info")).await);

    let started = Instant::now();
    leader.daemon.signal("-TERM");
    let code = leader.daemon.exit_code().await;
    let log = leader.log();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("released the lease"), "{log}");
    assert!(
        eventually_async(|| env.holder_is(&follower.identity)).await,
        "the follower never took over\n{}",
        follower.log()
    );
    eprintln!("takeover after SIGTERM: {:?}", started.elapsed());
    assert!(eventually(|| follower.leader_gauge() == Some(1)).await);
    assert!(
        eventually(|| follower.metrics().contains(&env.synced())).await,
        "{}",
        follower.log()
    );
}

/// Emulator only: it injects failing renewals, which a real server does not
/// give on demand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_stops_and_exits_1() {
    let env = Env::start(Target::Emulator).await;
    let mut only = env.daemon("replica-a");
    assert!(
        eventually(|| only.leader_gauge() == Some(1)).await,
        "{}",
        only.log()
    );
    assert!(eventually_async(|| env.level_is("info")).await);
    // Every renewal fails from now on.
    env.kube
        .emu()
        .unwrap()
        .inject(Some("PUT"), "/leases/", 500, 100_000);
    let code = only.daemon.exit_code().await;
    let log = only.log();
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("lost the lease") && log.contains("exiting so that only one replica applies"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_election_without_a_kubernetes_target_is_an_error_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "mooring.yaml",
        "source: {name: test, url: /nowhere, ref: HEAD, path: deploy}\ntargets:\n  flintlock: [{name: edge, endpoint: 'http://127.0.0.1:1'}]\n",
    );
    let config = dir.path().join("mooring.yaml").display().to_string();
    let out = support::mooring(
        &[
            "run",
            "--config",
            &config,
            "--no-policies",
            "--leader-elect",
        ],
        Some(dir.path()),
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("--leader-elect needs a Kubernetes target"),
        "{}",
        out.stderr
    );
}
