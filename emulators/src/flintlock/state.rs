//! The emulator's state: the stored microVMs with their lifecycle phase,
//! the injected faults and call counters, and how a stored microVM is read
//! back (what upstream drops and fills in).

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{
    FlintlockOptions, INSTANCE_DATA_KEY, IfaceType, Initrd, Kernel, METADATA_ADDRESS,
    METADATA_INTERFACE, METADATA_MAC, MicroVm, MicroVmSpec, MicroVmState, MicroVmStatus,
    NetworkInterface, StaticAddress, Volume, VolumeSource,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Pending,
    Created,
    Failed,
    Deleting,
}

#[derive(Debug, Clone)]
pub(super) struct Vm {
    /// As sent, plus what the server adds (namespace, uid, metadata).
    pub(super) spec: MicroVmSpec,
    pub(super) phase: Phase,
    pub(super) retry: i32,
    pub(super) since: Instant,
    pub(super) fails: bool,
    pub(super) version: i32,
}

#[derive(Debug)]
pub(super) struct State {
    pub(super) options: FlintlockOptions,
    /// By uid.
    pub(super) vms: BTreeMap<String, Vm>,
    pub(super) calls: BTreeMap<String, u64>,
    pub(super) unavailable: u64,
    pub(super) lost_creates: u64,
    pub(super) fail_creates: u64,
    pub(super) latency: Duration,
    pub(super) uid_seed: u64,
    pub(super) uid_counter: u64,
}

impl State {
    pub(super) fn new(options: FlintlockOptions, uid_seed: u64) -> State {
        State {
            options,
            vms: BTreeMap::new(),
            calls: BTreeMap::new(),
            unavailable: 0,
            lost_creates: 0,
            fail_creates: 0,
            latency: Duration::ZERO,
            uid_seed,
            uid_counter: 0,
        }
    }

    /// Applies the transitions that are due.
    pub(super) fn advance(&mut self) {
        let now = Instant::now();
        let (create_delay, delete_delay) = (self.options.create_delay, self.options.delete_delay);
        let retries = self.options.failed_retries;
        self.vms.retain(|_, vm| {
            !(vm.phase == Phase::Deleting && now.duration_since(vm.since) >= delete_delay)
        });
        for vm in self.vms.values_mut() {
            if vm.phase == Phase::Pending && now.duration_since(vm.since) >= create_delay {
                if vm.fails {
                    vm.phase = Phase::Failed;
                    vm.retry = retries;
                } else {
                    vm.phase = Phase::Created;
                }
                vm.version += 1;
            }
        }
    }

    /// A ULID-shaped id: 48 bits of milliseconds, 80 bits that differ per
    /// emulator and per call, in Crockford base32.
    pub(super) fn new_uid(&mut self) -> String {
        const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        self.uid_counter += 1;
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(self.uid_seed);
        hasher.write_u64(self.uid_counter);
        let low = ((hasher.finish() as u128) << 16) | u128::from(self.uid_counter as u16);
        let mut n = ((millis & 0xFFFF_FFFF_FFFF) << 80) | (low & ((1u128 << 80) - 1));
        let mut out = [0u8; 26];
        for slot in out.iter_mut().rev() {
            *slot = ALPHABET[(n & 31) as usize];
            n >>= 5;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Stores a new microVM the way flintlockd's create does (after
    /// validation).
    pub(super) fn store(&mut self, mut spec: MicroVmSpec, phase: Phase) -> String {
        if spec.namespace.is_empty() {
            spec.namespace = "default".to_string();
        }
        let uid = self.new_uid();
        spec.uid = Some(uid.clone());
        add_instance_data(&mut spec, &uid);
        if self.options.metadata_service
            && !spec
                .interfaces
                .iter()
                .any(|i| i.device_id == METADATA_INTERFACE)
        {
            spec.interfaces.insert(
                0,
                NetworkInterface {
                    device_id: METADATA_INTERFACE.to_string(),
                    r#type: IfaceType::Tap as i32,
                    guest_mac: Some(METADATA_MAC.to_string()),
                    address: Some(StaticAddress {
                        address: METADATA_ADDRESS.to_string(),
                        gateway: None,
                        nameservers: Vec::new(),
                    }),
                    overrides: None,
                },
            );
        }
        spec.created_at = Some(now_timestamp());
        let fails = self.fail_creates > 0 && phase == Phase::Pending;
        if fails {
            self.fail_creates -= 1;
        }
        self.vms.insert(
            uid.clone(),
            Vm {
                spec,
                phase,
                retry: 0,
                since: Instant::now(),
                fails,
                version: 1,
            },
        );
        uid
    }
}

pub(super) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves consistent data behind (every
    // change is a single insert/update), so a poisoned lock is still usable.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn now_timestamp() -> prost_types::Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

/// flintlockd writes `instance_id: <uid>` into the cloud-init instance data
/// unless it already holds an instance id.
fn add_instance_data(spec: &mut MicroVmSpec, uid: &str) {
    let existing = spec
        .metadata
        .get(INSTANCE_DATA_KEY)
        .and_then(|v| BASE64.decode(v).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    if existing
        .lines()
        .any(|l| l.trim_start().starts_with("instance_id:"))
    {
        return;
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("instance_id: {uid}\n"));
    spec.metadata
        .insert(INSTANCE_DATA_KEY.to_string(), BASE64.encode(text));
}

/// The microVM as upstream's `convertModelToMicroVMSpec` returns it.
pub(super) fn echo(vm: &Vm) -> MicroVm {
    let s = &vm.spec;
    let volume = |v: &Volume| Volume {
        id: v.id.clone(),
        is_read_only: v.is_read_only,
        mount_point: None,
        source: Some(VolumeSource {
            container_source: v.source.as_ref().and_then(|s| s.container_source.clone()),
            virtiofs_source: v.source.as_ref().and_then(|s| s.virtiofs_source.clone()),
        }),
        partition_id: Some(v.partition_id.clone().unwrap_or_default()),
        size_in_mb: Some(v.size_in_mb.unwrap_or(0)),
    };
    let kernel = s.kernel.clone().unwrap_or_default();
    let spec = MicroVmSpec {
        id: s.id.clone(),
        namespace: s.namespace.clone(),
        labels: HashMap::new(),
        vcpu: s.vcpu,
        memory_in_mb: s.memory_in_mb,
        kernel: Some(Kernel {
            image: kernel.image,
            cmdline: kernel.cmdline,
            filename: Some(kernel.filename.unwrap_or_default()),
            add_network_config: kernel.add_network_config,
        }),
        initrd: s.initrd.as_ref().map(|i| Initrd {
            image: i.image.clone(),
            filename: Some(i.filename.clone().unwrap_or_default()),
        }),
        root_volume: s.root_volume.as_ref().map(volume),
        additional_volumes: s.additional_volumes.iter().map(volume).collect(),
        interfaces: s
            .interfaces
            .iter()
            .map(|i| NetworkInterface {
                device_id: i.device_id.clone(),
                r#type: i.r#type,
                guest_mac: Some(i.guest_mac.clone().unwrap_or_default()),
                address: i.address.clone(),
                overrides: None,
            })
            .collect(),
        metadata: s.metadata.clone(),
        created_at: None,
        updated_at: None,
        deleted_at: None,
        uid: s.uid.clone(),
        provider: None,
        allow_guest_agent: s.allow_guest_agent,
    };
    let state = match vm.phase {
        Phase::Pending => MicroVmState::Pending,
        Phase::Created => MicroVmState::Created,
        Phase::Failed => MicroVmState::Failed,
        Phase::Deleting => MicroVmState::Deleting,
    };
    MicroVm {
        version: vm.version,
        spec: Some(spec),
        status: Some(MicroVmStatus {
            state: state as i32,
            retry: vm.retry,
            ..MicroVmStatus::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_ulid_shaped_and_distinct() {
        let mut s = State::new(FlintlockOptions::default(), 7);
        let a = s.new_uid();
        let b = s.new_uid();
        assert_eq!(a.len(), 26);
        assert_ne!(a, b);
    }
}
