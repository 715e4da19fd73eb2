//! Leader election on a Kubernetes `coordination.k8s.io/v1` Lease, the way
//! client-go's `leaderelection` does it, so that of several `mooring run`
//! replicas only one applies.
//!
//! Every replica loops: GET the Lease; create it when absent; take it when
//! it is free (no holder, e.g. released) or expired; renew it when it is
//! ours; otherwise wait a retry period. Writes are PUTs carrying the
//! `resourceVersion` that was read, so two replicas racing for the same
//! Lease cannot both win: the loser gets a 409 and reads again.
//!
//! Invariants:
//! - Expiry is judged on this process's monotonic clock: a Lease held by
//!   another replica counts as expired only when its record has not changed
//!   for `leaseDurationSeconds` since *this process* last saw it change.
//!   Other machines' timestamps (`renewTime`) are written for humans and
//!   never compared with our clock.
//! - Leadership is published on a `watch` channel. It turns `true` only
//!   after a successful write of the Lease naming us, and turns `false` as
//!   soon as renewing has failed for `renew_deadline` (shorter than the
//!   lease duration, so we stop before anyone else may take over), or when
//!   another holder is seen.
//! - Every attempt (GET then PUT/POST) is bounded by a timeout.
//! - On shutdown a leader releases the Lease (holder cleared, duration 1s),
//!   so another replica takes over at once instead of after expiry.
//!
//! [`decide`] and [`next_spec`] are the pure logic; [`LeaseStore`] is the
//! I/O ([`KubeLeases`] for the API server), so the loop is tested in memory.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;

/// Why leader election could not start or a request failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("leader election: {0}")]
    Config(String),
    /// Someone else wrote the Lease between our read and our write (409).
    #[error("the Lease was changed by someone else (409 conflict)")]
    Conflict,
    #[error("leader election: {0}")]
    Request(String),
}

/// The Lease and the timings, as client-go's `LeaderElectionConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderConfig {
    pub namespace: String,
    pub name: String,
    /// Who we are in `holderIdentity`; unique per replica.
    pub identity: String,
    /// How long a follower waits, after it last saw the Lease change,
    /// before it takes the Lease over.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it stops leading.
    pub renew_deadline: Duration,
    /// The wait between two attempts to acquire or renew.
    pub retry_period: Duration,
}

impl LeaderConfig {
    /// client-go's defaults: 15s lease, 10s renew deadline, 2s retry period.
    pub fn new(namespace: &str, name: &str, identity: &str) -> LeaderConfig {
        LeaderConfig {
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: identity.to_string(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// A lease duration, with the renew deadline and retry period scaled
    /// in client-go's default proportions (15 : 10 : 2).
    pub fn with_lease_duration(mut self, lease: Duration) -> LeaderConfig {
        self.lease_duration = lease;
        self.renew_deadline = lease * 2 / 3;
        self.retry_period = lease * 2 / 15;
        self
    }

    pub fn validate(&self) -> Result<(), LeaderError> {
        let bad = |m: String| Err(LeaderError::Config(m));
        if self.identity.is_empty() {
            return bad("the identity is empty".into());
        }
        if self.name.is_empty() || self.namespace.is_empty() {
            return bad("the Lease name and namespace must be set".into());
        }
        if self.lease_duration < Duration::from_secs(1) {
            return bad(format!(
                "the lease duration ({:?}) must be at least 1s (a Lease counts whole seconds)",
                self.lease_duration
            ));
        }
        if self.renew_deadline >= self.lease_duration {
            return bad(format!(
                "the renew deadline ({:?}) must be shorter than the lease duration ({:?})",
                self.renew_deadline, self.lease_duration
            ));
        }
        if self.retry_period.is_zero() || self.retry_period >= self.renew_deadline {
            return bad(format!(
                "the retry period ({:?}) must be above zero and shorter than the renew deadline ({:?})",
                self.retry_period, self.renew_deadline
            ));
        }
        Ok(())
    }

    /// `leaseDurationSeconds`: whole seconds, rounded up.
    fn lease_seconds(&self) -> i32 {
        let s = self.lease_duration.as_secs() + u64::from(self.lease_duration.subsec_nanos() > 0);
        i32::try_from(s).unwrap_or(i32::MAX)
    }
}

/// What to do with a Lease record that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// It is ours: renew it.
    Renew,
    /// It is free (no holder) or expired: take it.
    Acquire,
    /// Someone else holds it and it has not expired.
    Wait,
}

/// The decision for `record`, which this process last saw change at
/// `observed_at`: client-go's rule. The lease duration is the record's
/// own, or `default` when it has none.
pub fn decide(
    identity: &str,
    record: &LeaseSpec,
    observed_at: Instant,
    now: Instant,
    default: Duration,
) -> Action {
    let holder = record.holder_identity.as_deref().unwrap_or_default();
    if holder == identity {
        return Action::Renew;
    }
    if holder.is_empty() {
        return Action::Acquire;
    }
    let duration = record
        .lease_duration_seconds
        .and_then(|s| u64::try_from(s).ok())
        .filter(|s| *s > 0)
        .map_or(default, Duration::from_secs);
    if now < observed_at + duration {
        Action::Wait
    } else {
        Action::Acquire
    }
}

/// The record to write for `action` over `current` (the one read), at wall
/// time `at`. Acquiring sets `acquireTime` and counts a transition when the
/// holder changes (as client-go does, taking a released Lease counts too).
pub fn next_spec(
    config: &LeaderConfig,
    current: Option<&LeaseSpec>,
    action: Action,
    at: SystemTime,
) -> LeaseSpec {
    let now = micro_time(at);
    let mut spec = current.cloned().unwrap_or_default();
    let ours = spec.holder_identity.as_deref() == Some(config.identity.as_str());
    if action == Action::Acquire || !ours || spec.acquire_time.is_none() {
        spec.acquire_time = Some(now.clone());
    }
    if current.is_some() && !ours {
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
    } else if spec.lease_transitions.is_none() {
        spec.lease_transitions = Some(0);
    }
    spec.holder_identity = Some(config.identity.clone());
    spec.lease_duration_seconds = Some(config.lease_seconds());
    spec.renew_time = Some(now);
    spec
}

/// The record a leader writes when it lets go: no holder, a 1s lease,
/// transitions kept (client-go's `ReleaseOnCancel`).
pub fn released_spec(current: &LeaseSpec, at: SystemTime) -> LeaseSpec {
    let now = micro_time(at);
    LeaseSpec {
        holder_identity: None,
        lease_duration_seconds: Some(1),
        acquire_time: Some(now.clone()),
        renew_time: Some(now),
        lease_transitions: current.lease_transitions,
        ..LeaseSpec::default()
    }
}

/// `at` as a MicroTime (serialized `2006-01-02T15:04:05.000000Z`).
pub fn micro_time(at: SystemTime) -> MicroTime {
    let micros = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    MicroTime(
        k8s_openapi::jiff::Timestamp::from_microsecond(micros)
            .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    )
}

/// Where the Lease lives: the API server, or memory in tests.
pub trait LeaseStore: Send + Sync {
    /// The Lease, or `None` when it does not exist.
    fn get(&self) -> impl Future<Output = Result<Option<Lease>, LeaderError>> + Send;
    /// POST; [`LeaderError::Conflict`] when it already exists.
    fn create(&self, lease: &Lease) -> impl Future<Output = Result<Lease, LeaderError>> + Send;
    /// PUT with `lease.metadata.resourceVersion`; [`LeaderError::Conflict`]
    /// when the stored version differs.
    fn replace(&self, lease: &Lease) -> impl Future<Output = Result<Lease, LeaderError>> + Send;
}

/// A Lease on the API server, through kube's typed `Api`.
pub struct KubeLeases {
    api: Api<Lease>,
    name: String,
}

impl KubeLeases {
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> KubeLeases {
        KubeLeases {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
        }
    }
}

fn kube_error(e: kube::Error) -> LeaderError {
    match e {
        kube::Error::Api(s) if s.code == 409 => LeaderError::Conflict,
        e => LeaderError::Request(e.to_string()),
    }
}

impl LeaseStore for KubeLeases {
    async fn get(&self) -> Result<Option<Lease>, LeaderError> {
        self.api.get_opt(&self.name).await.map_err(kube_error)
    }

    async fn create(&self, lease: &Lease) -> Result<Lease, LeaderError> {
        self.api
            .create(&PostParams::default(), lease)
            .await
            .map_err(kube_error)
    }

    async fn replace(&self, lease: &Lease) -> Result<Lease, LeaderError> {
        self.api
            .replace(&self.name, &PostParams::default(), lease)
            .await
            .map_err(kube_error)
    }
}

/// The result of one acquire-or-renew attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// We hold the Lease (created, taken or renewed).
    Leading,
    /// Someone else holds it and it has not expired.
    HeldBy(String),
}

/// How [`Elector::run`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Shutdown was asked; `released` when we were leading and let go.
    Shutdown { released: bool },
    /// We were leading and lost the Lease; the reason is for the log.
    Lost { reason: String },
}

/// The record as last seen, and when it last changed (our clock).
struct Observed {
    lease: Lease,
    at: Instant,
}

/// One replica's elector.
pub struct Elector<S> {
    config: LeaderConfig,
    store: S,
    observed: Option<Observed>,
}

impl<S: LeaseStore> Elector<S> {
    pub fn new(config: LeaderConfig, store: S) -> Result<Elector<S>, LeaderError> {
        config.validate()?;
        Ok(Elector {
            config,
            store,
            observed: None,
        })
    }

    pub fn config(&self) -> &LeaderConfig {
        &self.config
    }

    /// One GET and, unless the Lease is someone else's and alive, one
    /// POST or PUT. A conflict is an error: the caller reads again.
    pub async fn try_acquire_or_renew(&mut self) -> Result<Attempt, LeaderError> {
        let now = Instant::now();
        let Some(current) = self.store.get().await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(next_spec(
                    &self.config,
                    None,
                    Action::Acquire,
                    SystemTime::now(),
                )),
            };
            let written = self.store.create(&lease).await?;
            self.observed = Some(Observed {
                lease: written,
                at: now,
            });
            return Ok(Attempt::Leading);
        };
        let spec = current.spec.clone().unwrap_or_default();
        let changed = self
            .observed
            .as_ref()
            .is_none_or(|o| o.lease.spec.clone().unwrap_or_default() != spec);
        let at = match &self.observed {
            Some(o) if !changed => o.at,
            _ => now,
        };
        self.observed = Some(Observed {
            lease: current.clone(),
            at,
        });
        let action = decide(
            &self.config.identity,
            &spec,
            at,
            now,
            self.config.lease_duration,
        );
        if action == Action::Wait {
            return Ok(Attempt::HeldBy(spec.holder_identity.unwrap_or_default()));
        }
        let mut lease = current;
        lease.spec = Some(next_spec(
            &self.config,
            Some(&spec),
            action,
            SystemTime::now(),
        ));
        let written = self.store.replace(&lease).await?;
        self.observed = Some(Observed {
            lease: written,
            at: now,
        });
        Ok(Attempt::Leading)
    }

    /// Lets go of a Lease we hold: one PUT over the last version we wrote.
    pub async fn release(&mut self) -> Result<(), LeaderError> {
        let Some(observed) = &self.observed else {
            return Ok(());
        };
        let spec = observed.lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        let mut lease = observed.lease.clone();
        lease.spec = Some(released_spec(&spec, SystemTime::now()));
        let written = self.store.replace(&lease).await?;
        self.observed = Some(Observed {
            lease: written,
            at: Instant::now(),
        });
        Ok(())
    }

    /// Campaigns until leading, then renews every retry period; publishes
    /// leadership on `leading`. Returns when `shutdown` turns true
    /// (releasing the Lease if we lead) or when leadership is lost (never
    /// campaigns again: the caller exits, a restart is a new follower).
    pub async fn run(
        mut self,
        leading: watch::Sender<bool>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Ended {
        let cfg = self.config.clone();
        let _ = leading.send(false);
        // Campaign.
        let mut last_holder = String::new();
        loop {
            if *shutdown.borrow() {
                return Ended::Shutdown { released: false };
            }
            match tokio::time::timeout(cfg.renew_deadline, self.try_acquire_or_renew()).await {
                Ok(Ok(Attempt::Leading)) => break,
                Ok(Ok(Attempt::HeldBy(holder))) => {
                    if holder != last_holder {
                        tracing::info!(lease = %cfg.name, namespace = %cfg.namespace, %holder, identity = %cfg.identity, "another replica leads; waiting for the lease");
                        last_holder = holder;
                    }
                }
                Ok(Err(LeaderError::Conflict)) => {
                    tracing::debug!("lost a race for the lease; reading it again");
                }
                Ok(Err(e)) => tracing::warn!("cannot acquire the lease: {e}"),
                Err(_) => tracing::warn!(
                    "cannot acquire the lease: no answer within {:?}",
                    cfg.renew_deadline
                ),
            }
            tokio::select! {
                _ = tokio::time::sleep(jitter(cfg.retry_period)) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(lease = %cfg.name, namespace = %cfg.namespace, identity = %cfg.identity, "acquired the lease: this replica leads");
        let _ = leading.send(true);

        // Renew.
        let mut renewed = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(cfg.retry_period) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                let _ = leading.send(false);
                let released = match tokio::time::timeout(cfg.renew_deadline, self.release()).await
                {
                    Ok(Ok(())) => true,
                    Ok(Err(e)) => {
                        tracing::warn!("cannot release the lease: {e}");
                        false
                    }
                    Err(_) => {
                        tracing::warn!("cannot release the lease: no answer in time");
                        false
                    }
                };
                if released {
                    tracing::info!(lease = %cfg.name, "released the lease");
                }
                return Ended::Shutdown { released };
            }
            let deadline = renewed + cfg.renew_deadline;
            let why = match tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await {
                Ok(Ok(Attempt::Leading)) => {
                    renewed = Instant::now();
                    continue;
                }
                Ok(Ok(Attempt::HeldBy(holder))) => {
                    let _ = leading.send(false);
                    return Ended::Lost {
                        reason: format!("{holder} holds it now"),
                    };
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => "no answer in time".to_string(),
            };
            if Instant::now() >= deadline {
                let _ = leading.send(false);
                return Ended::Lost {
                    reason: format!(
                        "not renewed within the renew deadline of {:?} (last error: {why})",
                        cfg.renew_deadline
                    ),
                };
            }
            tracing::warn!("cannot renew the lease, retrying: {why}");
        }
    }
}

/// `base` plus up to 20% (client-go's JitterFactor is 1.2), from the clock's
/// sub-second noise: enough to keep replicas from polling in lockstep.
fn jitter(base: Duration) -> Duration {
    let noise = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    base + base.mul_f64(f64::from(noise % 1000) / 5000.0)
}

#[cfg(test)]
mod tests;
