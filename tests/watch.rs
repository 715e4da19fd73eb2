//! Drift seen through a watch: the real `mooring run` binary against a
//! Kubernetes target on loopback, with a Git repository made in a temp dir.
//! Each test body runs against both the API emulator (`emulators/`, which
//! serves `?watch=true`) and a real kube-apiserver (`on_both_targets!`,
//! tests/support/kube_target.rs), with a Namespace and a source of its own;
//! the one that needs a server without watch support runs on the emulator
//! only.
//!
//! With `driftInterval: 1h` the periodic drift check never runs during a
//! test, so a heal or a drift metric can only come from the watch. Waits
//! poll for a condition with a deadline; they never assert on timing.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use mooring_emulators::kubernetes::KubeOptions;
use serde_json::json;
use support::daemon::{self, Daemon};
use support::kube_target::{KubeEnv, Target};
use support::proxy::{self, Proxy};
use support::{eventually, eventually_async, free_port, http_get, write};

const NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";
const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: shop}\ndata: {level: info}\n";

struct Env {
    kube: KubeEnv,
    dir: tempfile::TempDir,
    /// The test's own Namespace (`shop` made unique).
    shop: String,
    /// Between the daemon and the target, when the test cuts the link.
    proxy: Option<Proxy>,
}

impl Env {
    /// A Kubernetes target and a repository with a Namespace and a
    /// ConfigMap; `settings` are added to the top level of mooring.yaml.
    /// `options` apply to the emulator only.
    async fn start(t: Target, options: KubeOptions, drift_interval: &str, settings: &str) -> Env {
        Env::start_with(t, options, drift_interval, settings, false).await
    }

    /// [`Env::start`], with the daemon reaching the target through a
    /// [`Proxy`] the test can cut (the test itself goes direct).
    async fn start_proxied(t: Target, drift_interval: &str, settings: &str) -> Env {
        Env::start_with(t, KubeOptions::default(), drift_interval, settings, true).await
    }

    async fn start_with(
        t: Target,
        options: KubeOptions,
        drift_interval: &str,
        settings: &str,
        proxied: bool,
    ) -> Env {
        let kube = KubeEnv::start_with(t, options).await;
        let dir = tempfile::tempdir().unwrap();
        let shop = kube.name("shop");
        let repo = daemon::repo(
            dir.path(),
            &[
                ("deploy/ns.yaml", &NS.replace("shop", &shop)),
                ("deploy/cm.yaml", &CM.replace("shop", &shop)),
            ],
        );
        let (proxy, kubeconfig) = if proxied {
            let proxy = Proxy::start(proxy::socket_addr(kube.url())).await;
            let kubeconfig = kube.kubeconfig_via(&proxy);
            (Some(proxy), kubeconfig)
        } else {
            (None, kube.kubeconfig.clone())
        };
        daemon::config(
            dir.path(),
            &kube.source,
            &repo.display().to_string(),
            &format!("interval: 1h, driftInterval: {drift_interval}"),
            &format!(
                "kubeconfig: {}, context: {}, forceConflicts: true",
                kubeconfig.display(),
                kube.context
            ),
            settings,
        );
        Env {
            kube,
            dir,
            shop,
            proxy,
        }
    }

    /// The drift metric's series for the ConfigMap (present, at 1, only
    /// while it drifted).
    fn drift(&self) -> String {
        format!(
            "mooring_resource_drift{{backend=\"kubernetes\",kind=\"ConfigMap\",name=\"app\",namespace=\"{}\",source=\"{}\"}}",
            self.shop, self.kube.source
        )
    }

    /// The source's count of drifted ConfigMaps: `… 0` once a plan found
    /// them all in sync.
    fn drifted_configmaps(&self) -> String {
        format!(
            "mooring_drifted_resources{{backend=\"kubernetes\",kind=\"ConfigMap\",source=\"{}\"}}",
            self.kube.source
        )
    }

    /// Waits until the daemon's ConfigMap watcher has listed (a change
    /// after that is seen as a change), on either target.
    async fn watching(&self) {
        assert!(
            eventually(|| self.log().contains("change=Listed object=ConfigMap/")).await,
            "no watch was started:\n{}",
            self.log()
        );
    }

    /// Starts the daemon, logging to `daemon.log`, and waits until its
    /// first sync is done.
    async fn daemon(&self) -> Daemon {
        let port = free_port();
        let log = std::fs::File::create(self.log_path()).unwrap();
        let child = support::mooring_command()
            .args(daemon::run_args(
                self.dir.path(),
                &["--listen", &format!("127.0.0.1:{port}")],
            ))
            .current_dir(self.dir.path())
            .env(
                "RUST_LOG",
                "info,mooring::run::watch=debug,mooring::backend::kubernetes::watch=debug",
            )
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let daemon = Daemon::new(child, port);
        assert!(
            eventually(|| http_get(port, "/readyz").0 == 200).await,
            "never ready:\n{}",
            self.log()
        );
        assert_eq!(
            self.level().await.as_deref(),
            Some("info"),
            "{}",
            self.log()
        );
        daemon
    }

    fn log_path(&self) -> std::path::PathBuf {
        self.dir.path().join("daemon.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    async fn level(&self) -> Option<String> {
        self.kube
            .get("", "ConfigMap", Some(&self.shop), "app")
            .await
            .and_then(|cm| cm["data"]["level"].as_str().map(str::to_string))
    }

    /// Whether the ConfigMap's level is `level`.
    async fn level_is(&self, level: &str) -> bool {
        self.level().await.as_deref() == Some(level)
    }

    /// `kubectl edit` of the ConfigMap's level.
    /// `kubectl edit` of the ConfigMap's level; the edited object.
    async fn edit(&self, level: &str) -> serde_json::Value {
        self.kube
            .edit_as(
                "kubectl-edit",
                "",
                "ConfigMap",
                Some(&self.shop),
                "app",
                &json!({"data": {"level": level}}),
            )
            .await
    }

    /// An outage of the daemon's link to the target: once its watch has
    /// listed and the list's own drift check is over (so a heal can only
    /// come from what the watch sees next), the link is cut, the ConfigMap
    /// edited and `compact` run, then the link is back. Waits for the heal
    /// and stops the daemon; the log, and whether the watch listed again.
    async fn outage<F, Fut>(&self, compact: F) -> (String, bool)
    where
        F: FnOnce(serde_json::Value) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let proxy = self.proxy.as_ref().expect("a proxied environment");
        let daemon = self.daemon().await;
        self.watching().await;
        assert!(
            eventually(|| self.log().contains("drift_check=true")).await,
            "no drift check after the first list:\n{}",
            self.log()
        );
        let lists = || {
            self.log()
                .matches("change=Listed object=ConfigMap/")
                .count()
        };
        let listed = lists();

        proxy.cut();
        let edited = self.edit("debug").await;
        compact(edited).await;
        proxy.resume();

        assert!(
            eventually_async(|| self.level_is("info")).await,
            "the edit made during the outage was not healed:\n{}",
            self.log()
        );
        assert_eq!(daemon.stop().await, Some(0), "{}", self.log());
        (self.log(), lists() > listed)
    }

    /// Compacts the target's watch history (see [`KubeEnv::compact`]).
    async fn compact(&self) {
        self.kube.compact().await;
    }

    /// WATCH requests the emulator has served (emulator only).
    fn watch_calls(&self) -> u64 {
        self.kube
            .calls()
            .and_then(|c| c.get("WATCH configmaps").copied())
            .unwrap_or(0)
    }
}

fn self_heal(on: bool) -> String {
    format!("selfHeal: {on}\n")
}

/// Held for writing by the tests that compact etcd, for reading by the
/// others here: a compaction is store-wide on the shared real server, and
/// another test's compaction or writes would change what a compacting
/// test's watch is answered.
static COMPACTING: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

crate::on_both_targets!(
    an_edit_is_healed_through_the_watch,
    without_self_heal_a_watched_edit_is_reported_and_clears_when_reverted,
    after_a_compaction_the_watch_lists_again_and_sees_the_change,
);

async fn an_edit_is_healed_through_the_watch(t: Target) {
    let _shared = COMPACTING.read().await;
    let env = Env::start(t, KubeOptions::default(), "1h", &self_heal(true)).await;
    let daemon = env.daemon().await;
    env.watching().await;

    let edited = std::time::Instant::now();
    env.edit("debug").await;
    assert!(
        eventually_async(|| env.level_is("info")).await,
        "the edit was not healed:\n{}",
        env.log()
    );
    eprintln!("edit healed after {:?}", edited.elapsed());
    // Again: the watch goes on after mooring's own apply.
    env.edit("trace").await;
    assert!(
        eventually_async(|| env.level_is("info")).await,
        "the second edit was not healed:\n{}",
        env.log()
    );
    // No loop: mooring's own heal causes one more (empty) drift check and
    // then nothing; a loop would run one every second. The object is healed
    // a moment before the heal's sync line is logged: count from that line.
    let checks = || env.log().matches("drift_check=true").count();
    let heals = || {
        env.log()
            .lines()
            .filter(|l| l.contains("drift_check=true") && l.contains(" update=1 "))
            .count()
    };
    assert!(eventually(|| heals() >= 2).await, "{}", env.log());
    let settled = checks();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(checks() <= settled + 1, "{}", env.log());
    assert_eq!(daemon.stop().await, Some(0), "{}", env.log());
    let log = env.log();
    assert!(
        log.contains(&format!("change=Applied object=ConfigMap/{}/app", env.shop)),
        "the watch saw the edit: {log}"
    );
    assert!(log.contains("drift_check=true"), "{log}");
    assert!(!log.contains("watch failed"), "{log}");
}

async fn without_self_heal_a_watched_edit_is_reported_and_clears_when_reverted(t: Target) {
    let _shared = COMPACTING.read().await;
    let env = Env::start(t, KubeOptions::default(), "1h", &self_heal(false)).await;
    let drift = env.drift();
    let in_sync =
        |m: &str| m.contains(&format!("{} 0", env.drifted_configmaps())) && !m.contains(&drift);
    let daemon = env.daemon().await;
    assert!(
        eventually(|| in_sync(&daemon.metrics())).await,
        "{}",
        daemon.metrics()
    );
    env.watching().await;

    env.edit("debug").await;
    assert!(
        eventually(|| daemon.metrics().contains(&format!("{drift} 1"))).await,
        "the drift was not reported:\n{}\n{}",
        daemon.metrics(),
        env.log()
    );
    assert_eq!(env.level().await.as_deref(), Some("debug"), "not healed");

    env.edit("info").await;
    assert!(
        eventually(|| in_sync(&daemon.metrics())).await,
        "the drift did not clear:\n{}\n{}",
        daemon.metrics(),
        env.log()
    );
    assert_eq!(daemon.stop().await, Some(0), "{}", env.log());
}

/// The link drops, the ConfigMap is edited and the history compacted while
/// the daemon cannot see it; when the link is back, the watch resumes from
/// a resourceVersion that no longer exists, gets a 410 (an `ERROR` event),
/// lists again, and the drift check the list ends with heals the edit. On
/// the real server the compaction is etcd's (testenv/main.go).
async fn after_a_compaction_the_watch_lists_again_and_sees_the_change(t: Target) {
    let _alone = COMPACTING.write().await;
    let env = Env::start_proxied(t, "1h", &self_heal(true)).await;
    let (log, listed_again) = env.outage(|_| env.compact()).await;
    assert!(
        log.lines().any(
            |l| l.contains("error returned by apiserver during watch") && l.contains("Expired")
        ),
        "the resumed watch got no 410 Expired:\n{log}"
    );
    assert!(listed_again, "the watch did not list again:\n{log}");
}

/// Real server only (the emulator has no etcd): compacted exactly at the
/// edit's revision, the resumed watch is refused with a 500 on every try
/// (`PrevKv=nil`; kube-runtime would retry it for ever from the same
/// resourceVersion); after two the watcher lists again, and the edit is
/// healed through the watch, not by the hourly drift check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_refused_again_and_again_lists_again() {
    let _alone = COMPACTING.write().await;
    let env = Env::start_proxied(Target::Real, "1h", &self_heal(true)).await;
    let kube = &env.kube;
    let (log, listed_again) = env
        .outage(|edited| async move {
            let revision = edited["metadata"]["resourceVersion"]
                .as_str()
                .expect("the edited object's resourceVersion")
                .to_string();
            kube.compact_at(&revision).await;
        })
        .await;
    // A write elsewhere in the store between the watch's last revision and
    // the edit (the control plane's own Leases) makes the resumed watch a
    // plain 410 instead: then this run shows the 410 path, healed as well.
    if log.contains("PrevKv=nil") {
        assert!(log.contains("listing again"), "{log}");
    } else {
        assert!(
            log.contains("Expired"),
            "neither refused nor expired:\n{log}"
        );
    }
    assert!(listed_again, "the watch did not list again:\n{log}");
}

/// Emulator only: it needs a server that refuses watches (a real one always
/// serves them) and counts the WATCH requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_watch_support_syncs_and_periodic_drift_checks_go_on() {
    let options = KubeOptions {
        watch: false,
        ..KubeOptions::default()
    };
    let env = Env::start(Target::Emulator, options, "1s", &self_heal(true)).await;
    let daemon = env.daemon().await;

    env.edit("debug").await;
    assert!(
        eventually_async(|| env.level_is("info")).await,
        "the periodic drift check did not heal:\n{}",
        env.log()
    );
    // The watcher keeps retrying (with backoff) but warns once per kind.
    assert!(
        eventually(|| env.watch_calls() >= 3).await,
        "the watch was not retried:\n{}",
        env.log()
    );
    assert_eq!(daemon.stop().await, Some(0), "{}", env.log());
    let log = env.log();
    let warnings = log.matches("watch failed").count();
    assert_eq!(
        warnings, 2,
        "one warning per watched kind (Namespace, ConfigMap):\n{log}"
    );
}

#[test]
fn the_test_repository_is_valid() {
    // Guards the fixtures above: both documents validate.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ns.yaml", NS);
    write(dir.path(), "cm.yaml", CM);
    let out = support::mooring(
        &[
            "validate",
            "--no-policies",
            &dir.path().display().to_string(),
        ],
        Some(Path::new(env!("CARGO_MANIFEST_DIR"))),
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
}
