//! Observe: every host listed once, the live microVMs paired with the
//! desired ones. One step per function, in the order
//! [`Flintlock::observe_all`] runs them:
//!
//! 1. [`Flintlock::desired`] (in `mod.rs`): each desired microVM read and
//!    placed on its host;
//! 2. [`namespaces_per_host`] and [`Flintlock::list_all`]: one
//!    `ListMicroVMs` per host (per namespace on an old flintlockd);
//! 3. [`index_by_name`]: the live microVMs by namespace and name;
//! 4. [`Flintlock::pair`]: each desired microVM with the live one on its
//!    host, or an owned one on another host (a move);
//! 5. [`Flintlock::prune_candidates`]: owned microVMs nothing desired
//!    claimed.
//!
//! Fails as a whole when any host cannot be read.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use futures::future::try_join_all;
use serde_json::Value;
use tonic::Code;

use super::client::state;
use super::convert::{self, API_VERSION, KIND};
use super::proto::{MicroVm, MicroVmState};
use super::{Flintlock, GROUP, Placed};
use crate::backend::{
    Backend, BackendError, Observed, REPLACE_ANNOTATION, UpdateStrategy, is_owned,
};
use crate::manifest::{Manifest, ObjectId};

/// A live microVM as read from a host.
pub(super) struct Live {
    pub(super) host: usize,
    pub(super) uid: String,
    vm: MicroVm,
    comparable: Value,
    owned: bool,
}

impl Live {
    /// The namespace, `default` when the server reports none (as it
    /// defaults an empty one on create).
    fn namespace(&self) -> &str {
        match self.vm.spec.as_ref().map_or("", |s| s.namespace.as_str()) {
            "" => "default",
            ns => ns,
        }
    }
    fn name(&self) -> &str {
        self.vm.spec.as_ref().map_or("", |s| s.id.as_str())
    }
}

/// Live microVMs by (namespace, name): indexes into the list, mooring's
/// first per host.
type ByName<'a> = BTreeMap<(&'a str, &'a str), Vec<usize>>;

/// A note on a microVM that is not running as it should.
fn health_note(vm: &MicroVm) -> Option<String> {
    let retry = vm.status.as_ref().map_or(0, |s| s.retry);
    match state(vm) {
        MicroVmState::Failed => Some(format!(
            "unhealthy: FAILED (the server retried {retry} times)"
        )),
        MicroVmState::Pending => Some("pending: the host has not finished creating it".into()),
        _ => None,
    }
}

/// The namespaces Git mentions, per host (for a flintlockd that cannot
/// list them all at once).
fn namespaces_per_host(hosts: usize, wanted: &[Placed<'_>]) -> Vec<BTreeSet<String>> {
    let mut namespaces = vec![BTreeSet::new(); hosts];
    for d in wanted {
        namespaces[d.host].insert(d.wanted.spec.namespace.clone());
    }
    namespaces
}

fn index_by_name(live: &[Live]) -> ByName<'_> {
    let mut by_name = ByName::new();
    for (i, l) in live.iter().enumerate() {
        by_name
            .entry((l.namespace(), l.name()))
            .or_default()
            .push(i);
    }
    by_name
}

impl Flintlock {
    /// [`Backend::observe`](crate::backend::Backend::observe): the steps
    /// above, in order.
    pub(super) async fn observe_all(
        &self,
        desired: &[Manifest],
    ) -> Result<Vec<Observed>, BackendError> {
        let wanted = desired
            .iter()
            .filter(|m| Backend::handles(self, m))
            .map(|m| self.desired(m))
            .collect::<Result<Vec<_>, _>>()?;
        let live = self
            .list_all(&namespaces_per_host(self.hosts.len(), &wanted))
            .await?;
        let by_name = index_by_name(&live);
        let mut used: HashSet<usize> = HashSet::new();
        let mut out: Vec<Observed> = wanted
            .iter()
            .map(|d| self.pair(d, &live, &by_name, &mut used))
            .collect();
        out.extend(self.prune_candidates(&live, &used, &wanted));
        Ok(out)
    }

    /// Every host's microVMs, the hosts read concurrently.
    async fn list_all(&self, namespaces: &[BTreeSet<String>]) -> Result<Vec<Live>, BackendError> {
        let lists =
            try_join_all((0..self.hosts.len()).map(|i| self.list_host(i, &namespaces[i]))).await?;
        Ok(lists.into_iter().flatten().collect())
    }

    /// Every microVM on one host that is not being deleted.
    async fn list_host(
        &self,
        index: usize,
        namespaces: &BTreeSet<String>,
    ) -> Result<Vec<Live>, BackendError> {
        let host = &self.hosts[index];
        let object = format!("flintlock host {}", host.name);
        let vms = match host.list("", None).await {
            Ok(vms) => vms,
            Err(s) if s.code() == Code::InvalidArgument => {
                tracing::warn!(
                    host = %host.name,
                    "flintlockd cannot list all namespaces at once; listing the namespaces Git \
                     mentions and `default`: owned microVMs in other namespaces are not seen"
                );
                let mut all = BTreeSet::from(["default".to_string()]);
                all.extend(namespaces.iter().cloned());
                let lists = try_join_all(all.iter().map(|ns| host.list(ns, None)))
                    .await
                    .map_err(|s| host.error(&s, &object))?;
                lists.into_iter().flatten().collect()
            }
            Err(s) => return Err(host.error(&s, &object)),
        };
        let mut out = Vec::with_capacity(vms.len());
        for vm in vms {
            if state(&vm) == MicroVmState::Deleting {
                continue;
            }
            let Some(spec) = vm.spec.as_ref() else {
                continue;
            };
            let uid = spec.uid.clone().unwrap_or_default();
            let owned = is_owned(Some(&convert::labels(spec)), &self.source);
            let comparable = convert::comparable(spec, &host.name);
            out.push(Live {
                host: index,
                uid,
                vm,
                comparable,
                owned,
            });
        }
        // Deterministic choice among same-named microVMs: mooring's first.
        out.sort_by(|a, b| {
            (a.namespace(), a.name(), !a.owned, &a.uid).cmp(&(
                b.namespace(),
                b.name(),
                !b.owned,
                &b.uid,
            ))
        });
        Ok(out)
    }

    /// The row of one desired microVM: the live one of that name on its
    /// host, else an owned one on another host (a move). The live
    /// microVMs it claims go into `used`.
    fn pair(
        &self,
        d: &Placed<'_>,
        live: &[Live],
        by_name: &ByName<'_>,
        used: &mut HashSet<usize>,
    ) -> Observed {
        let spec = &d.wanted.spec;
        let same = by_name
            .get(&(spec.namespace.as_str(), spec.id.as_str()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let here = same.iter().copied().find(|&i| live[i].host == d.host);
        let moved = same
            .iter()
            .copied()
            .find(|&i| live[i].host != d.host && live[i].owned);
        let mut notes = Vec::new();
        let matched = match (here, moved) {
            (Some(i), _) => Some(i),
            (None, Some(i)) => {
                notes.push(format!(
                    "moves from host {} to {}",
                    self.hosts[live[i].host].name, self.hosts[d.host].name
                ));
                Some(i)
            }
            (None, None) => None,
        };
        let mut update = if d.wanted.replace_never {
            UpdateStrategy::Refused(format!("{REPLACE_ANNOTATION}: never"))
        } else {
            UpdateStrategy::Replace
        };
        let mut health = None;
        let (live_value, owned, handle) = match matched {
            Some(i) => {
                used.insert(i);
                let l = &live[i];
                notes.extend(health_note(&l.vm));
                if l.owned && l.host == d.host {
                    health = Some(super::vm_health(&l.vm));
                }
                if !l.owned {
                    update = UpdateStrategy::Refused(format!(
                        "the microVM on {} (uid {}) does not carry mooring's ownership \
                         labels for source `{}`; mooring never deletes it",
                        self.hosts[l.host].name, l.uid, self.source
                    ));
                }
                (Some(l.comparable.clone()), l.owned, Some(self.handle(l)))
            }
            None => (None, false, None),
        };
        if !owned {
            // A microVM that is not mooring's holds the name here:
            // mooring's own same-named microVMs elsewhere are kept
            // (not pruned) until that is sorted out.
            for &i in same {
                if live[i].owned && used.insert(i) {
                    notes.push(format!(
                        "uid {} on host {} is mooring's and is left alone",
                        live[i].uid, self.hosts[live[i].host].name
                    ));
                }
            }
        }
        Observed {
            id: d.manifest.id.clone(),
            api_version: d.manifest.api_version.clone(),
            file: d.manifest.file.clone(),
            line: d.manifest.line,
            desired: Some(d.comparable.clone()),
            live: live_value,
            owned,
            update,
            handle,
            notes,
            health,
        }
    }

    /// Rows for the owned microVMs no desired one claimed: deleted on
    /// apply (a duplicate of a desired name says so).
    fn prune_candidates<'a>(
        &'a self,
        live: &'a [Live],
        used: &'a HashSet<usize>,
        wanted: &'a [Placed<'_>],
    ) -> impl Iterator<Item = Observed> + 'a {
        live.iter()
            .enumerate()
            .filter(|(i, l)| !used.contains(i) && l.owned)
            .map(|(_, l)| {
                let mut notes: Vec<String> = health_note(&l.vm).into_iter().collect();
                let desired_elsewhere = wanted.iter().any(|d| {
                    d.wanted.spec.namespace == l.namespace() && d.wanted.spec.id == l.name()
                });
                if desired_elsewhere {
                    notes.push(format!(
                        "another microVM with this name is the one kept; uid {} is a duplicate",
                        l.uid
                    ));
                }
                Observed {
                    id: ObjectId {
                        group: GROUP.to_string(),
                        kind: KIND.to_string(),
                        namespace: Some(l.namespace().to_string()),
                        name: l.name().to_string(),
                    },
                    api_version: API_VERSION.to_string(),
                    file: format!("flintlock host {}", self.hosts[l.host].name),
                    line: 0,
                    desired: None,
                    live: Some(l.comparable.clone()),
                    owned: true,
                    update: UpdateStrategy::Replace,
                    handle: Some(self.handle(l)),
                    notes,
                    health: None,
                }
            })
    }
}
