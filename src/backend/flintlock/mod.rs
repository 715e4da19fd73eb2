//! The Flintlock backend: microVMs on flintlockd hosts over gRPC.
//!
//! A `flintlock.liquidmetal.dev/v1alpha1` `MicroVM` goes to the host its
//! `mooring.dev/host` annotation names (optional with one host). Flintlock
//! has no update: a changed microVM is *replaced* (delete, wait until
//! gone, create, wait until `CREATED`), unless it says
//! `mooring.dev/replace: never`, which turns the replace into reported
//! drift.
//!
//! **Reads** are one `ListMicroVMs` per host with an empty namespace,
//! which flintlockd answers with every namespace (its containerd
//! repository skips empty filters); that one call sees both the
//! namespaces Git mentions and those holding microVMs labelled as
//! mooring's. A flintlockd too old for that (it answers
//! `InvalidArgument`) is listed per namespace Git mentions for that host
//! plus `default`; owned microVMs in other namespaces are then not seen
//! (and not pruned), which is logged. Either way the calls are
//! O(hosts × namespaces), never one per object.
//!
//! **Ownership**: only microVMs carrying mooring's labels for this source
//! are deleted or replaced; one with the same name that is not mooring's
//! is reported and left alone. Because upstream flintlockd does not store
//! labels, they are also kept in mooring's applied record (see
//! `convert`).
//!
//! `observe` holds the read side, in named steps; this file the
//! [`Flintlock`] value, placement, create and delete, and the [`Backend`]
//! impl.
//!
//! **Invariants**: observe fails as a whole when any host cannot be read,
//! so nothing is pruned from a partial view; every call has the timeout;
//! at most `concurrency` calls are in flight per host.

mod client;
mod convert;
mod observe;
pub mod proto;
mod settings;

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

pub use client::Retry;
use client::{Host, state};
pub use convert::RECORD_KEY;
use convert::Wanted;
use observe::Live;
use proto::{MicroVm, MicroVmSpec, MicroVmState};
pub use settings::{FlintlockHost, Tls};

use super::{Backend, BackendError, Done, Observation, is_owned, waiting};
use crate::kinds::{KindType, Target};
use crate::manifest::{Manifest, ObjectId};
use crate::plan::{Action, Change, Handle};

const BACKEND: &str = "flintlock";
const GROUP: &str = <crate::kinds::flintlock::MicroVm as KindType>::GROUP;

/// flintlockd hosts as one [`Backend`].
#[derive(Debug)]
pub struct Flintlock {
    hosts: Vec<Host>,
    source: String,
    wait_limit: Duration,
    poll: Retry,
}

/// A desired microVM placed on its host, in the form compared with live.
struct Placed<'a> {
    manifest: &'a Manifest,
    wanted: Wanted,
    host: usize,
    comparable: Value,
}

/// `file:line: MicroVM/ns/name`, as errors name a desired object.
fn object_label(file: &str, line: usize, id: &ObjectId) -> String {
    format!("{file}:{line}: {id}")
}

impl Flintlock {
    /// Prepares a client per host (connecting lazily, on first use); reads
    /// token and TLS files now so that a bad path is reported before any
    /// plan. `source` is the name in the ownership labels; `concurrency`
    /// bounds calls in flight per host; every call is bounded by `timeout`.
    /// Must be called inside a tokio runtime.
    pub fn new(
        hosts: &[FlintlockHost],
        source: &str,
        concurrency: usize,
        timeout: Duration,
    ) -> Result<Flintlock, BackendError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(BackendError::NoRuntime { backend: BACKEND });
        }
        let hosts = hosts
            .iter()
            .map(|h| Host::new(h, concurrency, timeout))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Flintlock {
            hosts,
            source: source.to_string(),
            wait_limit: Duration::from_secs(300),
            poll: Retry {
                attempts: u32::MAX,
                base: Duration::from_millis(50),
                max: Duration::from_secs(2),
            },
        })
    }

    /// How long apply waits for a microVM to be `CREATED` or gone
    /// (default 5 minutes).
    pub fn with_wait_limit(mut self, limit: Duration) -> Self {
        self.wait_limit = limit;
        self
    }

    /// Retries on `UNAVAILABLE`: `attempts` tries in all, backing off from
    /// `base` (default 5 tries from 200 ms).
    pub fn with_retries(mut self, attempts: u32, base: Duration) -> Self {
        for h in &mut self.hosts {
            h.retry = Retry {
                attempts: attempts.max(1),
                base,
                max: client::DEFAULT_RETRY.max.max(base),
            };
        }
        self
    }

    /// The configured host names, in order.
    pub fn host_names(&self) -> Vec<&str> {
        self.hosts.iter().map(|h| h.name.as_str()).collect()
    }

    fn known_hosts(&self) -> String {
        if self.hosts.is_empty() {
            "none (add targets.flintlock to mooring.yaml)".to_string()
        } else {
            self.host_names().join(", ")
        }
    }

    /// Reads a desired manifest and picks its host.
    fn desired<'a>(&self, manifest: &'a Manifest) -> Result<Placed<'a>, BackendError> {
        let object = object_label(&manifest.file, manifest.line, &manifest.id);
        let invalid = |message: String| BackendError::Invalid {
            backend: BACKEND,
            object: object.clone(),
            message,
        };
        let wanted = convert::to_spec(manifest, &self.source).map_err(invalid)?;
        let host = match &wanted.host {
            Some(name) => self
                .hosts
                .iter()
                .position(|h| &h.name == name)
                .ok_or_else(|| {
                    invalid(format!(
                        "annotation {} names `{name}`; configured hosts: {}",
                        super::HOST_ANNOTATION,
                        self.known_hosts()
                    ))
                })?,
            None if self.hosts.len() == 1 => 0,
            None => {
                return Err(invalid(format!(
                    "annotation {} is required to choose a host; configured hosts: {}",
                    super::HOST_ANNOTATION,
                    self.known_hosts()
                )));
            }
        };
        let comparable = convert::comparable(&wanted.spec, &self.hosts[host].name);
        Ok(Placed {
            manifest,
            wanted,
            host,
            comparable,
        })
    }

    fn handle(&self, live: &Live) -> Handle {
        Handle::Flintlock {
            host: self.hosts[live.host].name.clone(),
            uid: live.uid.clone(),
        }
    }

    /// The host and uid of the microVM a change is about (observe saw it).
    fn live_of(&self, change: &Change) -> Result<(&Host, String), BackendError> {
        let Some(Handle::Flintlock { host: name, uid }) = &change.handle else {
            return Err(BackendError::NoLiveObject {
                backend: BACKEND,
                object: change.id.to_string(),
            });
        };
        let host = self
            .hosts
            .iter()
            .find(|h| &h.name == name)
            .ok_or_else(|| BackendError::Invalid {
                backend: BACKEND,
                object: change.id.to_string(),
                message: format!(
                    "it was observed on host `{name}`, which is no longer configured; configured hosts: {}",
                    self.known_hosts()
                ),
            })?;
        Ok((host, uid.clone()))
    }

    /// Creates the microVM and waits until it is `CREATED` or `FAILED`.
    /// Returns its uid and, when `FAILED`, why it is unhealthy.
    async fn create(
        &self,
        desired: &Placed<'_>,
        object: &str,
    ) -> Result<(String, Option<String>), BackendError> {
        let host = &self.hosts[desired.host];
        let spec: MicroVmSpec = convert::with_record(&desired.wanted.spec);
        let vm = host
            .create(&spec)
            .await
            .map_err(|s| host.error(&s, object))?;
        let uid = vm
            .spec
            .as_ref()
            .and_then(|s| s.uid.clone())
            .ok_or_else(|| BackendError::CreatedWithoutUid {
                backend: BACKEND,
                object: object.to_string(),
                endpoint: host.label(),
            })?;
        let deadline = Instant::now() + self.wait_limit;
        let mut attempt = 0;
        let mut notice = waiting::Notice::start(BACKEND, &desired.manifest.id.to_string());
        loop {
            let vm = host
                .get(&uid)
                .await
                .map_err(|s| host.error(&s, object))?
                .ok_or_else(|| BackendError::RemovedMeanwhile {
                    backend: BACKEND,
                    object: object.to_string(),
                    message: format!(
                        "uid {uid} disappeared from {} while it was being created",
                        host.name
                    ),
                })?;
            match state(&vm) {
                MicroVmState::Created => return Ok((uid, None)),
                MicroVmState::Failed => {
                    let retry = vm.status.as_ref().map_or(0, |s| s.retry);
                    return Ok((
                        uid,
                        Some(format!("FAILED (the server retried {retry} times)")),
                    ));
                }
                MicroVmState::Deleting => {
                    return Err(BackendError::RemovedMeanwhile {
                        backend: BACKEND,
                        object: object.to_string(),
                        message: format!(
                            "uid {uid} on {} is being deleted by someone else",
                            host.name
                        ),
                    });
                }
                MicroVmState::Pending => {
                    notice.still(&format!("to be CREATED on {} (PENDING)", host.name));
                }
            }
            let delay = self.poll.delay(attempt);
            if Instant::now() + delay > deadline {
                return Err(BackendError::WaitTimedOut {
                    backend: BACKEND,
                    object: object.to_string(),
                    message: format!(
                        "created on {} (uid {uid}) but still PENDING after {:?}",
                        host.name, self.wait_limit
                    ),
                });
            }
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Deletes a microVM and waits until its host no longer lists it.
    async fn delete(
        &self,
        host: &Host,
        uid: &str,
        id: &ObjectId,
        object: &str,
    ) -> Result<(), BackendError> {
        host.delete(uid).await.map_err(|s| host.error(&s, object))?;
        let namespace = id.namespace.as_deref().unwrap_or("default");
        let deadline = Instant::now() + self.wait_limit;
        let mut attempt = 0;
        let mut notice = waiting::Notice::start(BACKEND, &id.to_string());
        loop {
            let left = host
                .list(namespace, Some(&id.name))
                .await
                .map_err(|s| host.error(&s, object))?;
            let present = left
                .iter()
                .any(|vm| vm.spec.as_ref().and_then(|s| s.uid.as_deref()) == Some(uid));
            if !present {
                return Ok(());
            }
            notice.still(&format!("to be gone from {} (still listed)", host.name));
            let delay = self.poll.delay(attempt);
            if Instant::now() + delay > deadline {
                return Err(BackendError::WaitTimedOut {
                    backend: BACKEND,
                    object: object.to_string(),
                    message: format!(
                        "deleted on {} (uid {uid}) but still listed after {:?}",
                        host.name, self.wait_limit
                    ),
                });
            }
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    fn desired_for_apply<'a>(
        &self,
        change: &Change,
        desired: Option<&'a Manifest>,
    ) -> Result<Placed<'a>, BackendError> {
        let manifest = desired.ok_or_else(|| BackendError::NoManifest {
            backend: BACKEND,
            object: change.id.to_string(),
            action: change.action.verb(),
        })?;
        self.desired(manifest)
    }
}

impl Backend for Flintlock {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn target(&self) -> Target {
        Target::Flintlock
    }

    async fn observe(&self, desired: &[Manifest]) -> Result<Observation, BackendError> {
        Ok(self.observe_all(desired).await?.into())
    }

    async fn apply(
        &self,
        change: &Change,
        desired: Option<&Manifest>,
    ) -> Result<Done, BackendError> {
        if let Some(why) = &change.blocked {
            return Ok(Done {
                summary: format!("left alone: {why}"),
                unhealthy: None,
            });
        }
        let object = object_label(&change.file, change.line, &change.id);
        match change.action {
            Action::Create => {
                let d = self.desired_for_apply(change, desired)?;
                let (uid, unhealthy) = self.create(&d, &object).await?;
                Ok(Done {
                    summary: format!("created on {} (uid {uid})", self.hosts[d.host].name),
                    unhealthy,
                })
            }
            Action::Delete => {
                let (host, uid) = self.live_of(change)?;
                self.delete(host, &uid, &change.id, &object).await?;
                Ok(Done {
                    summary: format!("deleted from {} (uid {uid})", host.name),
                    unhealthy: None,
                })
            }
            Action::Replace => {
                let d = self.desired_for_apply(change, desired)?;
                let (old_host, old_uid) = self.live_of(change)?;
                self.delete(old_host, &old_uid, &change.id, &object).await?;
                let (uid, unhealthy) = self.create(&d, &object).await?;
                let new_host = &self.hosts[d.host].name;
                let summary = if *new_host == old_host.name {
                    format!("replaced on {new_host} (deleted uid {old_uid}, created uid {uid})")
                } else {
                    format!(
                        "replaced (deleted uid {old_uid} on {}, created uid {uid} on {new_host})",
                        old_host.name
                    )
                };
                Ok(Done { summary, unhealthy })
            }
            Action::Update => Err(BackendError::Unsupported {
                backend: BACKEND,
                operation: "update (flintlock has no update; a changed microVM is replaced)",
            }),
            Action::Unchanged | Action::Declared => Ok(Done {
                summary: "unchanged".into(),
                unhealthy: None,
            }),
        }
    }
    /// The microVM a change names, found by its uid when observe saw it,
    /// else by namespace and name among this source's microVMs on every
    /// host; judged by [`crate::plan::health`]'s MicroVM rule (its
    /// `status.state`). In progress while no host has it.
    async fn health(
        &self,
        change: &Change,
    ) -> Result<Option<crate::plan::health::Health>, BackendError> {
        let object = change.id.to_string();
        let ours = |vm: &MicroVm| {
            vm.spec.as_ref().is_some_and(|s| {
                s.id == change.id.name && is_owned(Some(&convert::labels(s)), &self.source)
            })
        };
        let mut found = None;
        if let Ok((host, uid)) = self.live_of(change) {
            found = host
                .get(&uid)
                .await
                .map_err(|s| host.error(&s, &object))?
                .filter(|vm| ours(vm));
        }
        if found.is_none() {
            let namespace = change.id.namespace.as_deref().unwrap_or("default");
            for host in &self.hosts {
                let listed = host
                    .list(namespace, Some(&change.id.name))
                    .await
                    .map_err(|s| host.error(&s, &object))?;
                found = listed.into_iter().find(|vm| ours(vm));
                if found.is_some() {
                    break;
                }
            }
        }
        let Some(vm) = found else {
            return Ok(Some(crate::plan::health::Health::InProgress(
                "no host has it".into(),
            )));
        };
        Ok(Some(vm_health(&vm)))
    }
}

/// A microVM's health by the one MicroVM rule of [`crate::plan::health`]:
/// its state, and how often its host retried.
fn vm_health(vm: &MicroVm) -> crate::plan::health::Health {
    let retry = vm.status.as_ref().map_or(0, |s| s.retry);
    let live = serde_json::json!({
        "status": { "state": state(vm).as_str_name(), "retry": retry }
    });
    crate::plan::health::of(GROUP, convert::KIND, &live)
}
