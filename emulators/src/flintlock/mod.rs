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

mod server;
mod state;
mod validate;

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use state::{Phase, State, echo, lock};

/// The types generated from mooring's `proto/`, nested by package: the same
/// crate mooring's client is built from.
pub use mooring_proto as proto;
use mooring_proto::api;
pub use mooring_proto::{
    IfaceType, Initrd, Kernel, MicroVm, MicroVmSpec, MicroVmState, MicroVmStatus, NetworkInterface,
    NetworkOverrides, StaticAddress, Volume, VolumeSource,
};

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
        let state = Arc::new(Mutex::new(State::new(options.clone(), seed.finish())));
        let (stop, task) = server::serve(listener, state.clone(), &options)?;
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
