//! `mooring run --leader-elect`: the flags, and the daemon's life as one of
//! several replicas (controller-runtime's design): serve HTTP at once, wait
//! until this replica holds the Lease, then run the source runners; on loss
//! stop them and exit 1 (Kubernetes restarts us as a follower); on SIGTERM
//! stop them, release the Lease and exit 0.
//!
//! Invariant: the runners run only between "acquired" and "lost or
//! stopping"; they are never started a second time in one process.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use mooring::config::Config;
use mooring::leader::{Elector, Ended, KubeLeases, LeaderConfig};
use mooring::metrics::Metrics;
use mooring::serve::Leadership;
use tokio::sync::watch;

use super::exit;

/// Where a pod's service account says its namespace is.
const POD_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

#[derive(Debug, Args)]
#[command(next_help_heading = "Leader election (several replicas)")]
pub struct LeaderArgs {
    /// Run as one of several replicas, of which only one applies. The
    /// replicas share a Lease (coordination.k8s.io/v1) in the cluster of
    /// `targets.kubernetes`; only its holder syncs and applies, while every
    /// replica serves /metrics, /healthz, /readyz and /api/v1/status
    /// (`mooring_leader` and the status's `leader` say which one leads; a
    /// follower is ready, a leader once its first sync is done). A follower
    /// takes over once the Lease has not changed for --lease-duration, as
    /// this replica saw it (no clock comparison between machines). A leader
    /// that cannot renew within 2/3 of the lease duration stops its syncs
    /// (those in flight finish) and exits 1 with "lost the lease", so that
    /// Kubernetes restarts it as a follower. On SIGTERM a leader finishes
    /// its syncs, releases the Lease (another replica takes over at once)
    /// and exits 0. RBAC: get, create and update on leases in
    /// --lease-namespace.
    #[arg(long)]
    pub leader_elect: bool,
    /// The Lease's name; replicas of one deployment share it.
    #[arg(long, value_name = "NAME", default_value = "mooring")]
    pub lease_name: String,
    /// The Lease's namespace [default: the pod's namespace (from its
    /// service account), else `default`].
    #[arg(long, value_name = "NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// How long followers wait, after the Lease last changed, before taking
    /// it over (the leader renews every 2/15 of it and gives up after 2/3
    /// of it without a renewal). Whole seconds, at least 1s: `15s`, `1m`.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = duration)]
    pub lease_duration: Duration,
    /// This replica's name in the Lease, unique per replica [default:
    /// $POD_NAME, else hostname-pid].
    #[arg(long, value_name = "ID", env = "POD_NAME")]
    pub identity: Option<String>,
}

fn duration(text: &str) -> Result<Duration, String> {
    mooring::config::parse_duration(text)
}

impl LeaderArgs {
    /// The elector when `--leader-elect` is given, with a client for the
    /// Kubernetes target of `config`.
    pub async fn elector(
        &self,
        config: &Config,
        config_path: &Path,
        once: bool,
    ) -> anyhow::Result<Option<Elector<KubeLeases>>> {
        if !self.leader_elect {
            return Ok(None);
        }
        if once {
            bail!("--leader-elect is for the daemon; --once syncs once and does not elect");
        }
        let Some(target) = &config.targets.kubernetes else {
            bail!(
                "--leader-elect needs a Kubernetes target: the Lease lives in the cluster of targets.kubernetes, and {} has none",
                config_path.display()
            );
        };
        let namespace = self.lease_namespace.clone().unwrap_or_else(|| {
            std::fs::read_to_string(POD_NAMESPACE_FILE)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "default".to_string())
        });
        let identity = self
            .identity
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(default_identity);
        let lc = LeaderConfig::new(&namespace, &self.lease_name, &identity)
            .with_lease_duration(self.lease_duration);
        lc.validate()?;
        let timeout = config.timeout.min(lc.renew_deadline);
        let (client, endpoint) = mooring::backend::kubernetes::client_for(target, timeout)
            .await
            .context("leader election")?;
        tracing::info!(
            lease = %format!("{namespace}/{}", self.lease_name),
            %identity,
            server = %endpoint,
            lease_duration = ?lc.lease_duration,
            "leader election on"
        );
        let store = KubeLeases::new(client, &namespace, &self.lease_name);
        Ok(Some(Elector::new(lc, store)?))
    }
}

/// `hostname-pid`: unique per process on a host.
fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "mooring".to_string());
    format!("{host}-{}", std::process::id())
}

/// A running election.
pub struct Election {
    lease: String,
    identity: String,
    leading: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Ended>,
}

impl Election {
    pub fn start(elector: Elector<KubeLeases>) -> Election {
        let c = elector.config();
        let lease = format!("{}/{}", c.namespace, c.name);
        let identity = c.identity.clone();
        let (lead_tx, leading) = watch::channel(false);
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(elector.run(lead_tx, stop_rx));
        Election {
            lease,
            identity,
            leading,
            stop,
            task,
        }
    }

    /// For `/api/v1/status`.
    pub fn leadership(&self) -> Leadership {
        Leadership {
            identity: self.identity.clone(),
            leading: self.leading.clone(),
        }
    }

    /// Follows until this replica leads, then calls `run` with a stop
    /// signal that turns true on `signal` or on loss of the Lease. Returns
    /// the exit code: 0 after SIGTERM (the Lease released), 1 after a loss.
    pub async fn run_while_leading<F, Fut>(
        self,
        mut signal: watch::Receiver<bool>,
        halt: &watch::Sender<bool>,
        metrics: &Metrics,
        ready: &Arc<AtomicBool>,
        run: F,
    ) -> i32
    where
        F: FnOnce(watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let Election {
            lease,
            identity,
            mut leading,
            stop,
            task,
        } = self;
        // A follower serves metrics and status: it is ready.
        metrics.set_leader(false);
        ready.store(true, Ordering::SeqCst);
        tokio::select! {
            led = leading.wait_for(|l| *l) => {
                if led.is_err() {
                    tracing::error!(%lease, "leader election stopped before this replica led");
                    return exit::FAILED;
                }
            }
            _ = signal.wait_for(|s| *s) => {
                let _ = stop.send(true);
                let _ = task.await;
                return exit::OK;
            }
        }
        metrics.set_leader(true);
        // A new leader is ready after its first sync.
        ready.store(false, Ordering::SeqCst);

        let (run_stop_tx, run_stop) = watch::channel(false);
        let watcher = async {
            let lost = tokio::select! {
                _ = signal.wait_for(|s| *s) => false,
                _ = leading.wait_for(|l| !*l) => true,
            };
            if lost {
                metrics.set_leader(false);
                // No further change is started; the requests in flight finish.
                let _ = halt.send(true);
                tracing::warn!(%lease, "lost the lease: stopping the syncs (those in flight finish)");
            }
            let _ = run_stop_tx.send(true);
            lost
        };
        let (lost, ()) = tokio::join!(watcher, run(run_stop));
        if lost {
            let reason = match task.await {
                Ok(Ended::Lost { reason }) => reason,
                Ok(other) => format!("{other:?}"),
                Err(e) => format!("the election task failed: {e}"),
            };
            tracing::error!(
                %lease,
                %identity,
                "lost the lease ({reason}); exiting so that only one replica applies"
            );
            return exit::FAILED;
        }
        let _ = stop.send(true);
        match task.await {
            Ok(Ended::Shutdown { released: true }) => {
                tracing::info!(%lease, "released the lease for another replica");
            }
            Ok(Ended::Lost { reason }) => {
                tracing::warn!(%lease, "lost the lease while stopping: {reason}");
            }
            _ => tracing::warn!(%lease, "the lease was not released; it expires by itself"),
        }
        metrics.set_leader(false);
        exit::OK
    }
}
