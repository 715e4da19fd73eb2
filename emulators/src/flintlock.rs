//! A flintlockd stand-in: the `microvm.services.api.v1alpha1.MicroVM` gRPC
//! service, built from the same `proto/` as mooring's client, serving on
//! `127.0.0.1:0` with its state in memory.
//!
//! It behaves like upstream flintlockd (liquidmetal-dev/flintlock) where a
//! client can tell the difference:
//!
//! - **Validation**: the model rules of `core/models` and
//!   `pkg/validation` (vcpu 1–64, memory 1024–32768 MB, a kernel image that
//!   parses as an image reference and a kernel filename, at least one
//!   interface with a valid device id, MAC, CIDR and IPs, a root volume
//!   unless an initrd is given, no virtiofs root, at most one virtiofs
//!   additional volume, one source per volume, a name). Upstream's newest
//!   server reports these as `Unknown`; the emulator says
//!   `InvalidArgument`, as older servers did.
//! - **Identity**: uids are made by the server (ULID-like); an empty
//!   namespace becomes `default`. A create with a namespace/name that
//!   already exists makes a *second* microVM with a new uid: upstream's
//!   "already exists" check looks up the freshly made uid and so never
//!   fires. Clients must not blindly re-send a create.
//! - **Lifecycle**: a created microVM is `PENDING`, then `CREATED` (or
//!   `FAILED` with a retry count, see [`FlintlockEmulator::fail_creates`])
//!   after [`FlintlockOptions::create_delay`]; a deleted one is `DELETING`,
//!   then gone after [`FlintlockOptions::delete_delay`]. Transitions are
//!   applied lazily whenever the state is looked at.
//! - **What a read returns**: upstream converts its stored model back to
//!   the proto without `labels`, volume `mount_point`, interface
//!   `overrides`, `provider` and timestamps, and with absent optional
//!   strings and sizes as `""`/`0`. The server adds a `meta-data` entry
//!   (cloud-init instance data with `instance_id: <uid>`) to the metadata
//!   map and, for a provider with a metadata service (Firecracker, the
//!   default), a first interface `eth0` (TAP, `AA:FF:00:00:00:01`,
//!   `169.254.0.1/16`) unless one is named `eth0`. The emulator stores what
//!   it is sent and returns it the way upstream does.
//! - **Listing**: `ListMicroVMs` with an empty namespace lists every
//!   namespace (upstream's containerd repository skips empty filters);
//!   [`FlintlockOptions::namespace_required`] restores the older servers'
//!   `InvalidArgument`. `ListMicroVMsStream` always needs a namespace.
//! - **Errors**: Get and Delete of an unknown uid answer `NotFound`
//!   ("microvm spec <uid> not found"); upstream wraps the same message in
//!   `Unknown`.
//! - **Auth**: with a token, every call needs the metadata
//!   `authorization: basic <base64 of the token>`, else `Unauthenticated`.
//!
//! Not emulated: provider capabilities (upstream's Firecracker provider
//! refuses MACVTAP interfaces), host devices, image pulls, the exec and
//! ssh-proxy services, the HTTP gateway.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::{Stream, StreamExt};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

/// The types generated from mooring's `proto/`, nested by package.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod proto {
    pub mod flintlock {
        pub mod types {
            tonic::include_proto!("flintlock.types");
        }
    }
    pub mod microvm {
        pub mod services {
            pub mod api {
                pub mod v1alpha1 {
                    tonic::include_proto!("microvm.services.api.v1alpha1");
                }
            }
        }
    }
}

use api::micro_vm_server::{MicroVm as MicroVmService, MicroVmServer};
pub use proto::flintlock::types::micro_vm_status::MicroVmState;
pub use proto::flintlock::types::network_interface::IfaceType;
pub use proto::flintlock::types::{
    Initrd, Kernel, MicroVm, MicroVmSpec, MicroVmStatus, NetworkInterface, NetworkOverrides,
    StaticAddress, Volume, VolumeSource,
};
use proto::microvm::services::api::v1alpha1 as api;

/// The cloud-init instance-data key flintlockd fills in.
pub const INSTANCE_DATA_KEY: &str = "meta-data";
/// Name of the interface flintlockd adds for the metadata service.
pub const METADATA_INTERFACE: &str = "eth0";
const METADATA_MAC: &str = "AA:FF:00:00:00:01";
const METADATA_ADDRESS: &str = "169.254.0.1/16";

/// Server TLS: a certificate and key (PEM), and optionally a CA (PEM) that
/// client certificates must be signed by.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    pub client_ca_pem: Option<Vec<u8>>,
}

/// How an emulator behaves.
#[derive(Debug, Clone)]
pub struct FlintlockOptions {
    /// Shared token every call must carry; no auth when `None`.
    pub token: Option<String>,
    /// Time from create to `CREATED` (or `FAILED`).
    pub create_delay: Duration,
    /// Time from delete to gone.
    pub delete_delay: Duration,
    /// The retry count a failing microVM reports.
    pub failed_retries: i32,
    /// Add flintlockd's metadata-service interface `eth0` on create, as
    /// the Firecracker provider does.
    pub metadata_service: bool,
    /// Refuse `ListMicroVMs` without a namespace, as flintlockd did before
    /// listing became a query.
    pub namespace_required: bool,
    /// Serve TLS instead of plain HTTP/2.
    pub tls: Option<ServerTls>,
}

impl Default for FlintlockOptions {
    fn default() -> Self {
        FlintlockOptions {
            token: None,
            create_delay: Duration::from_millis(20),
            delete_delay: Duration::from_millis(20),
            failed_retries: 3,
            metadata_service: true,
            namespace_required: false,
            tls: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pending,
    Created,
    Failed,
    Deleting,
}

#[derive(Debug, Clone)]
struct Vm {
    /// As sent, plus what the server adds (namespace, uid, metadata).
    spec: MicroVmSpec,
    phase: Phase,
    retry: i32,
    since: Instant,
    fails: bool,
    version: i32,
}

#[derive(Debug)]
struct State {
    options: FlintlockOptions,
    /// By uid.
    vms: BTreeMap<String, Vm>,
    calls: BTreeMap<String, u64>,
    unavailable: u64,
    lost_creates: u64,
    fail_creates: u64,
    latency: Duration,
    uid_seed: u64,
    uid_counter: u64,
}

impl State {
    /// Applies the transitions that are due.
    fn advance(&mut self) {
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
    fn new_uid(&mut self) -> String {
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
    fn store(&mut self, mut spec: MicroVmSpec, phase: Phase) -> String {
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

fn now_timestamp() -> prost_types::Timestamp {
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
fn echo(vm: &Vm) -> MicroVm {
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

/// flintlockd's validation rules, as messages naming the proto field.
fn validate(spec: &MicroVmSpec) -> Vec<String> {
    let mut out = Vec::new();
    if spec.id.is_empty() {
        out.push("id: name is required".to_string());
    }
    if !(1..=64).contains(&spec.vcpu) {
        out.push(format!("vcpu: {} is not between 1 and 64", spec.vcpu));
    }
    if spec.memory_in_mb < 1024 {
        out.push(format!(
            "memory_in_mb: {} is below the minimum of 1024",
            spec.memory_in_mb
        ));
    } else if spec.memory_in_mb > 32768 {
        out.push(format!(
            "memory_in_mb: {} is above the maximum of 32768",
            spec.memory_in_mb
        ));
    }
    match &spec.kernel {
        None => out.push("kernel: is required".to_string()),
        Some(k) => {
            if k.image.is_empty() {
                out.push("kernel.image: is required".to_string());
            } else if !is_image_reference(&k.image) {
                out.push(format!(
                    "kernel.image: `{}` is not a container image reference",
                    k.image
                ));
            }
            if k.filename.as_deref().unwrap_or("").is_empty() {
                out.push("kernel.filename: is required".to_string());
            }
        }
    }
    if let Some(initrd) = &spec.initrd
        && !is_image_reference(&initrd.image)
    {
        out.push(format!(
            "initrd.image: `{}` is not a container image reference",
            initrd.image
        ));
    }
    if spec.interfaces.is_empty() {
        out.push("interfaces: at least one network interface is required".to_string());
    }
    for (i, iface) in spec.interfaces.iter().enumerate() {
        if !is_device_id(&iface.device_id) {
            out.push(format!(
                "interfaces[{i}].device_id: `{}` does not match ^[a-z][a-z0-9_]*$",
                iface.device_id
            ));
        }
        if IfaceType::try_from(iface.r#type).is_err() {
            out.push(format!(
                "interfaces[{i}].type: {} is not MACVTAP or TAP",
                iface.r#type
            ));
        }
        if let Some(mac) = iface.guest_mac.as_deref()
            && !mac.is_empty()
            && !is_mac(mac)
        {
            out.push(format!(
                "interfaces[{i}].guest_mac: `{mac}` is not a MAC address"
            ));
        }
        if let Some(addr) = &iface.address {
            if !is_cidr(&addr.address) {
                out.push(format!(
                    "interfaces[{i}].address.address: `{}` is not a CIDR",
                    addr.address
                ));
            }
            if let Some(gw) = addr.gateway.as_deref()
                && !gw.is_empty()
                && !is_cidr(gw)
            {
                out.push(format!(
                    "interfaces[{i}].address.gateway: `{gw}` is not a CIDR"
                ));
            }
            for (j, ns) in addr.nameservers.iter().enumerate() {
                if ns.parse::<IpAddr>().is_err() {
                    out.push(format!(
                        "interfaces[{i}].address.nameservers[{j}]: `{ns}` is not an IP address"
                    ));
                }
            }
        }
    }
    match &spec.root_volume {
        None if spec.initrd.is_none() => {
            out.push("root_volume: a root volume is required unless an initrd is given (volumeOrInitrdRequired)".to_string());
        }
        None => {}
        Some(root) => {
            check_source(root, "root_volume", &mut out);
            if root
                .source
                .as_ref()
                .is_some_and(|s| s.virtiofs_source.is_some())
            {
                out.push("root_volume.source: the root volume cannot be virtiofs".to_string());
            }
        }
    }
    let mut virtiofs = 0;
    for (i, v) in spec.additional_volumes.iter().enumerate() {
        check_source(v, &format!("additional_volumes[{i}]"), &mut out);
        if v.source
            .as_ref()
            .is_some_and(|s| s.virtiofs_source.is_some())
        {
            virtiofs += 1;
            if virtiofs == 2 {
                out.push(format!(
                    "additional_volumes[{i}].source: at most one additional volume may be virtiofs"
                ));
            }
        }
    }
    out
}

fn check_source(v: &Volume, field: &str, out: &mut Vec<String>) {
    if v.id.is_empty() {
        out.push(format!("{field}.id: is required"));
    }
    let (container, virtiofs) = match &v.source {
        None => (false, false),
        Some(s) => (s.container_source.is_some(), s.virtiofs_source.is_some()),
    };
    if container == virtiofs {
        out.push(format!(
            "{field}.source: a volume needs exactly one of container_source or virtiofs_source"
        ));
    }
}

fn is_device_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Six hex pairs separated by `:` or `-` (the common forms Go's
/// `net.ParseMAC` accepts).
fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, prefix)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    prefix.parse::<u8>().is_ok_and(|p| p <= max)
}

/// A container image reference: `[host[:port]/]path[:tag][@digest]`, with
/// a lowercase path of `[a-z0-9]` components joined by `.`, `_`, `__` or
/// `-`.
fn is_image_reference(s: &str) -> bool {
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        let Some((algo, hex)) = d.split_once(':') else {
            return false;
        };
        if algo.is_empty() || hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return false;
        }
    }
    let (name, tag) = match rest.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (rest, None),
    };
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !ok {
            return false;
        }
    }
    let mut components: Vec<&str> = name.split('/').collect();
    if components.len() > 1 {
        let first = components[0];
        if first.contains(['.', ':']) || first == "localhost" {
            let host_ok = first
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c));
            if !host_ok {
                return false;
            }
            components.remove(0);
        }
    }
    !components.is_empty()
        && components.iter().all(|c| {
            !c.is_empty()
                && c.chars()
                    .next()
                    .is_some_and(|x| x.is_ascii_lowercase() || x.is_ascii_digit())
                && c.chars()
                    .last()
                    .is_some_and(|x| x.is_ascii_lowercase() || x.is_ascii_digit())
                && c.chars()
                    .all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || "._-".contains(x))
        })
}

#[derive(Clone)]
struct Service {
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves consistent data behind (every
    // change is a single insert/update), so a poisoned lock is still usable.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl Service {
    /// Counts the call, waits the injected latency and answers an injected
    /// UNAVAILABLE; then applies due transitions.
    async fn enter(&self, rpc: &str) -> Result<(), Status> {
        let latency = {
            let mut s = lock(&self.state);
            *s.calls.entry(rpc.to_string()).or_default() += 1;
            s.latency
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let mut s = lock(&self.state);
        if s.unavailable > 0 {
            s.unavailable -= 1;
            return Err(Status::unavailable("flintlockd is unavailable (injected)"));
        }
        s.advance();
        Ok(())
    }

    fn list(&self, req: &api::ListMicroVMsRequest) -> Vec<MicroVm> {
        let s = lock(&self.state);
        let name = req.name.as_deref().filter(|n| !n.is_empty());
        s.vms
            .values()
            .filter(|vm| req.namespace.is_empty() || vm.spec.namespace == req.namespace)
            .filter(|vm| name.is_none_or(|n| vm.spec.id == n))
            .map(echo)
            .collect()
    }
}

fn not_found(uid: &str) -> Status {
    Status::not_found(format!("microvm spec {uid} not found"))
}

type ListStream = Pin<Box<dyn Stream<Item = Result<api::ListMessage, Status>> + Send>>;

#[tonic::async_trait]
impl MicroVmService for Service {
    async fn create_micro_vm(
        &self,
        request: Request<api::CreateMicroVmRequest>,
    ) -> Result<Response<api::CreateMicroVmResponse>, Status> {
        self.enter("CreateMicroVM").await?;
        let Some(spec) = request.into_inner().microvm else {
            return Err(Status::invalid_argument(
                "invalid create microvm request: MicroVMSpec required",
            ));
        };
        let problems = validate(&spec);
        if !problems.is_empty() {
            return Err(Status::invalid_argument(format!(
                "an error occurred when attempting to validate microvm spec: {}",
                problems.join("; ")
            )));
        }
        let mut s = lock(&self.state);
        let uid = s.store(spec, Phase::Pending);
        if s.lost_creates > 0 {
            s.lost_creates -= 1;
            return Err(Status::unavailable(
                "the connection broke before the answer (injected; the microVM was created)",
            ));
        }
        let vm = echo(&s.vms[&uid]);
        Ok(Response::new(api::CreateMicroVmResponse {
            microvm: Some(vm),
        }))
    }

    async fn delete_micro_vm(
        &self,
        request: Request<api::DeleteMicroVmRequest>,
    ) -> Result<Response<()>, Status> {
        self.enter("DeleteMicroVM").await?;
        let uid = request.into_inner().uid;
        if uid.is_empty() {
            return Err(Status::invalid_argument("invalid request"));
        }
        let mut s = lock(&self.state);
        let vm = s.vms.get_mut(&uid).ok_or_else(|| not_found(&uid))?;
        vm.phase = Phase::Deleting;
        vm.retry = 0;
        vm.since = Instant::now();
        vm.version += 1;
        vm.spec.deleted_at = Some(now_timestamp());
        Ok(Response::new(()))
    }

    async fn get_micro_vm(
        &self,
        request: Request<api::GetMicroVmRequest>,
    ) -> Result<Response<api::GetMicroVmResponse>, Status> {
        self.enter("GetMicroVM").await?;
        let uid = request.into_inner().uid;
        if uid.is_empty() {
            return Err(Status::invalid_argument("invalid request"));
        }
        let s = lock(&self.state);
        let vm = s.vms.get(&uid).ok_or_else(|| not_found(&uid))?;
        Ok(Response::new(api::GetMicroVmResponse {
            microvm: Some(echo(vm)),
        }))
    }

    async fn list_micro_v_ms(
        &self,
        request: Request<api::ListMicroVMsRequest>,
    ) -> Result<Response<api::ListMicroVMsResponse>, Status> {
        self.enter("ListMicroVMs").await?;
        let req = request.into_inner();
        if req.namespace.is_empty() && lock(&self.state).options.namespace_required {
            return Err(Status::invalid_argument("invalid request"));
        }
        Ok(Response::new(api::ListMicroVMsResponse {
            microvm: self.list(&req),
        }))
    }

    type ListMicroVMsStreamStream = ListStream;

    async fn list_micro_v_ms_stream(
        &self,
        request: Request<api::ListMicroVMsRequest>,
    ) -> Result<Response<ListStream>, Status> {
        self.enter("ListMicroVMsStream").await?;
        let mut req = request.into_inner();
        if req.namespace.is_empty() {
            return Err(Status::invalid_argument("invalid request"));
        }
        // Upstream's stream ignores the name filter.
        req.name = None;
        let items: Vec<Result<api::ListMessage, Status>> = self
            .list(&req)
            .into_iter()
            .map(|vm| Ok(api::ListMessage { microvm: Some(vm) }))
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
    }
}

/// Checks `authorization: basic <base64 token>` when a token is set.
#[derive(Clone)]
struct Auth {
    expected: Option<String>,
}

impl tonic::service::Interceptor for Auth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.expected else {
            return Ok(request);
        };
        let given = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let Some(given) = given else {
            return Err(Status::unauthenticated(
                "no authorization token was supplied",
            ));
        };
        let token = given
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .map(|(_, t)| t.trim());
        if token != Some(expected.as_str()) {
            return Err(Status::unauthenticated(
                "the authorization token is not valid",
            ));
        }
        Ok(request)
    }
}

/// An accepted connection that breaks as soon as the emulator stops, so
/// that a stopped emulator is down for clients already connected too
/// (tonic serves each connection on a task of its own).
struct Conn {
    io: TcpStream,
    stopped: Pin<Box<dyn Future<Output = ()> + Send>>,
    dead: bool,
}

impl Conn {
    fn new(io: TcpStream, mut stop: watch::Receiver<bool>) -> Conn {
        Conn {
            io,
            // Resolves when the emulator says stop or is dropped.
            stopped: Box::pin(async move {
                let _ = stop.wait_for(|s| *s).await;
            }),
            dead: false,
        }
    }

    fn check(&mut self, cx: &mut Context<'_>) -> std::io::Result<()> {
        if !self.dead && self.stopped.as_mut().poll(cx).is_ready() {
            self.dead = true;
        }
        if self.dead {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "the emulator stopped",
            ));
        }
        Ok(())
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.io.connect_info()
    }
}

/// A running emulator; stops when dropped: the listener closes and open
/// connections break.
pub struct FlintlockEmulator {
    addr: SocketAddr,
    tls: bool,
    state: Arc<Mutex<State>>,
    stop: Option<watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

impl FlintlockEmulator {
    /// Starts serving on `127.0.0.1:0`.
    pub async fn start(options: FlintlockOptions) -> std::io::Result<FlintlockEmulator> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut seed = RandomState::new().build_hasher();
        seed.write_u16(addr.port());
        let state = Arc::new(Mutex::new(State {
            options: options.clone(),
            vms: BTreeMap::new(),
            calls: BTreeMap::new(),
            unavailable: 0,
            lost_creates: 0,
            fail_creates: 0,
            latency: Duration::ZERO,
            uid_seed: seed.finish(),
            uid_counter: 0,
        }));
        let auth = Auth {
            expected: options.token.as_ref().map(|t| BASE64.encode(t)),
        };
        let service = InterceptedService::new(
            MicroVmServer::new(Service {
                state: state.clone(),
            }),
            auth,
        );
        let mut builder = Server::builder();
        if let Some(tls) = &options.tls {
            let mut config =
                ServerTlsConfig::new().identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem));
            if let Some(ca) = &tls.client_ca_pem {
                config = config.client_ca_root(Certificate::from_pem(ca));
            }
            builder = builder
                .tls_config(config)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        let (stop, stopped) = watch::channel(false);
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener)
            .map(move |io| io.map(|io| Conn::new(io, stopped.clone())));
        let router = builder.add_service(service);
        let task = tokio::spawn(async move {
            let _ = router.serve_with_incoming(incoming).await;
        });
        Ok(FlintlockEmulator {
            addr,
            tls: options.tls.is_some(),
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS).
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving (as dropping does) and waits until the listener is
    /// closed.
    pub async fn shutdown(mut self) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// The next `n` calls answer UNAVAILABLE.
    pub fn inject_unavailable(&self, n: u64) {
        lock(&self.state).unavailable = n;
    }

    /// The next `n` creates are carried out, then answered UNAVAILABLE, as
    /// when a connection breaks before the answer arrives.
    pub fn lose_create_answers(&self, n: u64) {
        lock(&self.state).lost_creates = n;
    }

    /// Every call waits this long before answering.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.state).latency = latency;
    }

    /// The next `n` microVMs created end `FAILED` with
    /// [`FlintlockOptions::failed_retries`] retries.
    pub fn fail_creates(&self, n: u64) {
        lock(&self.state).fail_creates = n;
    }

    /// Calls received per RPC name (`ListMicroVMs`, `CreateMicroVM`, …),
    /// counting refused ones but not those refused for credentials.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        lock(&self.state).calls.clone()
    }

    /// Total calls of one RPC.
    pub fn call_count(&self, rpc: &str) -> u64 {
        lock(&self.state).calls.get(rpc).copied().unwrap_or(0)
    }

    pub fn reset_calls(&self) {
        lock(&self.state).calls.clear();
    }

    /// Every microVM, as a `ListMicroVMs` of all namespaces returns it.
    pub fn vms(&self) -> Vec<MicroVm> {
        let mut s = lock(&self.state);
        s.advance();
        s.vms.values().map(echo).collect()
    }

    /// Removes microVMs immediately, behind the client's back. Returns how
    /// many were removed.
    pub fn remove(&self, namespace: &str, name: &str) -> usize {
        let mut s = lock(&self.state);
        let before = s.vms.len();
        s.vms
            .retain(|_, vm| !(vm.spec.namespace == namespace && vm.spec.id == name));
        before - s.vms.len()
    }

    /// Changes the stored spec of the microVM named so (something no
    /// client can do: flintlock has no update). With same-named
    /// duplicates, the oldest is changed. Returns whether one was found.
    pub fn edit(&self, namespace: &str, name: &str, f: impl FnOnce(&mut MicroVmSpec)) -> bool {
        let mut s = lock(&self.state);
        let found = s
            .vms
            .values_mut()
            .find(|vm| vm.spec.namespace == namespace && vm.spec.id == name);
        match found {
            Some(vm) => {
                f(&mut vm.spec);
                vm.version += 1;
                true
            }
            None => false,
        }
    }

    /// Adds a `CREATED` microVM without validation, as if another client
    /// had made it; returns its uid.
    pub fn insert(&self, spec: MicroVmSpec) -> String {
        lock(&self.state).store(spec, Phase::Created)
    }
}

impl Drop for FlintlockEmulator {
    fn drop(&mut self) {
        // Dropping the sender breaks every open connection.
        self.stop.take();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_parse_like_containerd() {
        for good in [
            "ghcr.io/liquidmetal-dev/flintlock-kernel:5.10.77",
            "docker.io/library/ubuntu:22.04",
            "ubuntu",
            "localhost:5000/kernel",
            "registry.example:5000/a/b_c/d-e:v1.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(is_image_reference(good), "{good}");
        }
        for bad in ["", "Ubuntu", "ghcr.io/x:", "a//b", "x:tag with space", "-x"] {
            assert!(!is_image_reference(bad), "{bad}");
        }
    }

    #[test]
    fn validation_names_each_field() {
        let spec = MicroVmSpec {
            id: "vm".into(),
            vcpu: 0,
            memory_in_mb: 512,
            interfaces: vec![NetworkInterface {
                device_id: "Eth/0".into(),
                guest_mac: Some("zz".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let problems = validate(&spec).join("\n");
        for needle in [
            "vcpu: 0 is not between 1 and 64",
            "memory_in_mb: 512 is below the minimum of 1024",
            "kernel: is required",
            "interfaces[0].device_id: `Eth/0`",
            "interfaces[0].guest_mac: `zz`",
            "volumeOrInitrdRequired",
        ] {
            assert!(problems.contains(needle), "{needle} in {problems}");
        }
    }

    #[test]
    fn uids_are_ulid_shaped_and_distinct() {
        let mut s = State {
            options: FlintlockOptions::default(),
            vms: BTreeMap::new(),
            calls: BTreeMap::new(),
            unavailable: 0,
            lost_creates: 0,
            fail_creates: 0,
            latency: Duration::ZERO,
            uid_seed: 7,
            uid_counter: 0,
        };
        let a = s.new_uid();
        let b = s.new_uid();
        assert_eq!(a.len(), 26);
        assert_ne!(a, b);
    }
}
