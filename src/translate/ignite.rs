//! Ignite `VM` → Flintlock `MicroVM`, for every Ignite API version (each
//! reads as [`IgniteVm`]; pointers in findings are the version's own).
//!
//! Field by field (the table, with what each step loses, is in
//! `docs/ignite.md`):
//!
//! - `cpus` → `vcpu`; `memory` → `memoryInMb`; `diskSize` → the root
//!   volume's `sizeInMb`. Ignite's defaults (1 CPU, 512MB, 4GB) apply when a
//!   field is omitted or zero, as Ignite's defaulting does. Ignite sizes are
//!   binary and so are Flintlock's megabytes (they go to Firecracker as
//!   `mem_size_mib`): `2GB` is 2048. A size that is not a whole number of
//!   MiB is rounded up, with a warning.
//! - `image.ociClaim.ref` (`image.oci` from v1alpha3) → the root volume's
//!   container source; `kernel.ociClaim.ref` / `kernel.oci` (the version's
//!   default kernel when omitted) →
//!   `kernel.image`, with the file at `boot/vmlinux` as in Ignite's kernel
//!   images. Both are written fully qualified (`docker.io/…:latest`),
//!   because flintlockd pulls through containerd, which does not expand
//!   Docker Hub short names as Docker did for Ignite.
//! - `kernel.cmdLine` (Ignite's default when empty) → the `cmdline` map,
//!   one entry per `k=v` token, a bare `k` as `k: ""`.
//! - `networkMode` / `network.mode` → one `MACVTAP` interface, `eth1`:
//!   flintlockd prepends its own metadata interface as `eth0` unless the
//!   spec already has one.
//! - `ssh` holding a public key → cloud-init `user-data` (base64) with that
//!   key; every VM gets a `meta-data` naming the instance after it. A
//!   generated key or a key path cannot be carried over (warning); a private
//!   key, or the path of one, is refused.
//! - `ports`, `network.ports`, `copyFiles`, `storage` and `sandbox` have no
//!   Flintlock equivalent: dropped, each with its own warning.
//! - A VM under Flintlock's 1024 MiB minimum is an error, except in
//!   `validate` without a Flintlock target, where it is a warning
//!   ([`MemoryFloor`]).

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use serde_json::Value;

use super::{MemoryFloor, SOURCE, TRANSLATED_FROM_ANNOTATION, Translation, check_microvm};
use crate::finding::Finding;
use crate::kinds::flintlock::{
    IfaceType, Kernel as FlintlockKernel, MicroVm, MicroVmSpec, NetworkInterface, Volume,
    VolumeSource,
};
use crate::kinds::ignite::{self as ig, IgniteSize, IgniteVm, Ssh, VmKind, parse_ignite_size};
use crate::kinds::meta::{FlintlockObjectMeta, StringMap};
use crate::kinds::{self, KindType};
use crate::manifest::{Manifest, ObjectId, field_path};

/// CPUs of an Ignite VM that sets none (or 0).
pub const DEFAULT_CPUS: u64 = 1;
/// Memory of an Ignite VM that sets none (or 0).
pub const DEFAULT_MEMORY: &str = "512MB";
/// Disk size of an Ignite VM that sets none (or 0).
pub const DEFAULT_DISK_SIZE: &str = "4GB";
/// Kernel image of a v1alpha1 or v1alpha2 Ignite VM that names none
/// (v1alpha3 and v1alpha4: [`ig::DEFAULT_KERNEL_V3`]).
pub const DEFAULT_KERNEL: &str = ig::DEFAULT_KERNEL_V1;
/// Kernel command line of an Ignite VM whose `cmdLine` is empty.
pub const DEFAULT_CMDLINE: &str = "console=ttyS0 reboot=k panic=1 pci=off ip=dhcp";
/// Where Ignite's kernel images keep the kernel.
pub const KERNEL_FILENAME: &str = "boot/vmlinux";
/// Id of the translated root volume.
pub const ROOT_VOLUME_ID: &str = "root";
/// Device id of the translated interface. Not `eth0`: flintlockd adds a
/// metadata-service interface named `eth0` unless the spec has one, and a
/// spec's own `eth0` cannot reach the metadata service (so no cloud-init).
pub const INTERFACE_DEVICE_ID: &str = "eth1";
/// Ignite only ever ran Firecracker.
pub const PROVIDER: &str = "firecracker";
/// Flintlock namespace of translated microVMs (Ignite has none).
pub const MICROVM_NAMESPACE: &str = "default";

const MIB: u64 = 1 << 20;
const MIN_MEMORY_MIB: u64 = 1024;
const MAX_MEMORY_MIB: u64 = 32768;
const MAX_VCPU: u64 = 64;
/// `sizeInMb` is an int32 on the wire.
const MAX_SIZE_MIB: u64 = i32::MAX as u64;

/// The kernels and images a set of manifests declares through Ignite
/// `Kernel` and `Image` objects. Both their names and their
/// `spec.ociClaim.ref` count (Ignite names these objects after the
/// reference), compared in fully qualified form, so `weaveworks/x:1` and
/// `docker.io/weaveworks/x:1` are the same image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    kernels: BTreeSet<String>,
    images: BTreeSet<String>,
}

impl Declared {
    pub fn from_manifests(manifests: &[Manifest]) -> Declared {
        Declared::collect(manifests)
    }

    pub fn collect<'a>(manifests: impl IntoIterator<Item = &'a Manifest>) -> Declared {
        let mut out = Declared::default();
        for m in manifests {
            let set = match m.kind.filter(|k| k.group == ig::GROUP).map(|k| k.kind) {
                Some("Kernel") => &mut out.kernels,
                Some("Image") => &mut out.images,
                _ => continue,
            };
            set.insert(normalize_reference(&m.id.name));
            for pointer in ["/spec/ociClaim/ref", "/spec/oci"] {
                if let Some(r) = m.value.pointer(pointer).and_then(Value::as_str) {
                    set.insert(normalize_reference(r));
                }
            }
        }
        out
    }

    /// Whether an Ignite `Kernel` object declares this image reference.
    pub fn declares_kernel(&self, reference: &str) -> bool {
        self.kernels.contains(&normalize_reference(reference))
    }

    /// Whether an Ignite `Image` object declares this image reference.
    pub fn declares_image(&self, reference: &str) -> bool {
        self.images.contains(&normalize_reference(reference))
    }
}

/// An image reference as Docker reads it, written out in full: registry
/// `docker.io` when the first path component is not a host (no `.` or `:`,
/// not `localhost`), `library/` for official images, `:latest` when neither
/// a tag nor a digest is given. `weaveworks/ignite-ubuntu:20.04` becomes
/// `docker.io/weaveworks/ignite-ubuntu:20.04`.
pub fn normalize_reference(reference: &str) -> String {
    let r = reference.trim();
    let (name, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    let (name, tag) = match name.rfind(':') {
        Some(i) if !name[i + 1..].contains('/') => (&name[..i], Some(&name[i + 1..])),
        _ => (name, None),
    };
    let (domain, path) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => ("docker.io", name),
    };
    let domain = if domain == "index.docker.io" {
        "docker.io"
    } else {
        domain
    };
    let mut out = if domain == "docker.io" && !path.contains('/') {
        format!("{domain}/library/{path}")
    } else {
        format!("{domain}/{path}")
    };
    if let Some(tag) = tag {
        out.push(':');
        out.push_str(tag);
    }
    if let Some(digest) = digest {
        out.push('@');
        out.push_str(digest);
    } else if tag.is_none() {
        out.push_str(":latest");
    }
    out
}

/// Splits a kernel command line as the kernel does: whitespace separates
/// parameters, double quotes keep spaces inside one, `k=v` is a pair and a
/// bare `k` a flag (value `""`). Returns the parameters in order, and the
/// ones after `--` (init's arguments) separately.
pub fn parse_cmdline(line: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut tokens = Vec::new();
    let mut token = String::new();
    let mut in_token = false;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_token = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_token {
                    tokens.push(std::mem::take(&mut token));
                    in_token = false;
                }
            }
            c => {
                token.push(c);
                in_token = true;
            }
        }
    }
    if in_token {
        tokens.push(token);
    }
    let mut params = Vec::new();
    let mut init = Vec::new();
    let mut for_init = false;
    for t in tokens {
        if for_init {
            init.push(t);
        } else if t == "--" {
            for_init = true;
        } else {
            match t.split_once('=') {
                Some((k, v)) => params.push((k.to_string(), v.to_string())),
                None => params.push((t, String::new())),
            }
        }
    }
    (params, init)
}

/// Findings about one VM, located at Ignite fields.
struct Findings<'a> {
    vm: &'a Manifest,
    list: Vec<Finding>,
    /// Pointers that already carry an error (or the memory floor's warning).
    errored: BTreeSet<String>,
}

impl Findings<'_> {
    /// The memory floor: an error, or a warning saying why it matters.
    fn floor(&mut self, pointer: &str, message: String, floor: MemoryFloor) {
        match floor {
            MemoryFloor::Error => self.error(pointer, message),
            MemoryFloor::Warning => {
                self.errored.insert(pointer.to_string());
                self.warning(
                    pointer,
                    format!(
                        "{message}. Ignite itself runs it, but translating or applying it to \
                         Flintlock fails (`validate --for flintlock` makes this an error)"
                    ),
                );
            }
        }
    }

    fn error(&mut self, pointer: &str, message: impl Into<String>) {
        self.errored.insert(pointer.to_string());
        self.list
            .push(self.vm.finding(Finding::error(SOURCE, message), pointer));
    }

    fn warning(&mut self, pointer: &str, message: impl Into<String>) {
        self.list
            .push(self.vm.finding(Finding::warning(SOURCE, message), pointer));
    }
}

/// A size field in whole MiB.
struct Size {
    /// As written, or Ignite's default.
    text: String,
    defaulted: bool,
    mib: u64,
}

impl Size {
    /// `512MB (Ignite's default when omitted)`, or the text as written.
    fn shown(&self) -> String {
        if self.defaulted {
            format!("{} (Ignite's default when omitted)", self.text)
        } else {
            self.text.clone()
        }
    }
}

fn read_size(
    out: &mut Findings<'_>,
    pointer: &str,
    field: Option<&IgniteSize>,
    default: &str,
) -> Option<Size> {
    // Ignite's defaulting fills in a zero size as well as a missing one.
    let given = field.filter(|s| s.bytes() != Ok(0));
    let (text, defaulted) = match given {
        Some(s) => (s.0.trim().to_string(), false),
        None => (default.to_string(), true),
    };
    let bytes = match parse_ignite_size(&text) {
        Ok(b) => b,
        Err(e) => {
            out.error(
                pointer,
                format!("\"{text}\" is not a valid Ignite size: {e}"),
            );
            return None;
        }
    };
    let mib = bytes.div_ceil(MIB);
    if bytes % MIB != 0 {
        out.warning(
            pointer,
            format!(
                "{text} is not a whole number of MiB, and Flintlock counts in MiB; \
                 rounded up to {mib} MiB"
            ),
        );
    }
    Some(Size {
        text,
        defaulted,
        mib,
    })
}

/// Whether `line` reads as an OpenSSH public key (`type base64 [comment]`).
fn is_public_key(line: &str) -> bool {
    let mut fields = line.split_whitespace();
    let kind = fields.next().unwrap_or_default();
    let known = ["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-sha2-"]
        .iter()
        .any(|p| kind.starts_with(p));
    known && fields.next().is_some()
}

fn base64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A YAML double-quoted scalar (JSON strings are valid YAML).
fn quoted(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// cloud-init `meta-data` naming the instance after the VM. `instance-id`
/// and `local-hostname` are what cloud-init reads; `instance_id` is what
/// flintlockd looks for, and when it is missing the server adds one and
/// rewrites the document, which would show as drift on every plan.
pub fn meta_data(name: &str) -> String {
    let name = quoted(name);
    format!("instance-id: {name}\ninstance_id: {name}\nlocal-hostname: {name}\n")
}

/// cloud-init `user-data` installing `keys`. Ignite put the key in root's
/// `authorized_keys`; `disable_root: false` keeps root login working, and
/// cloud-init also gives the keys to the image's default user.
pub fn user_data(keys: &[&str]) -> String {
    let mut out = String::from("#cloud-config\ndisable_root: false\nssh_authorized_keys:\n");
    for k in keys {
        out.push_str("  - ");
        out.push_str(&quoted(k));
        out.push('\n');
    }
    out
}

/// Which Ignite field of `vm` a `MicroVM` field was made from.
fn ignite_pointer(vm: &IgniteVm, microvm_pointer: &str) -> String {
    let kernel = vm.kernel.as_ref().map_or(vm.kernel_pointer, |k| k.pointer);
    let interfaces = vm.network_mode.map_or("/spec", |(_, p)| p);
    let map: [(&str, &str); 10] = [
        ("/spec/vcpu", "/spec/cpus"),
        ("/spec/memoryInMb", "/spec/memory"),
        ("/spec/rootVolume/sizeInMb", "/spec/diskSize"),
        ("/spec/rootVolume", vm.image.pointer),
        ("/spec/kernel/image", kernel),
        ("/spec/kernel/cmdline", "/spec/kernel/cmdLine"),
        ("/spec/kernel", "/spec/kernel"),
        ("/spec/interfaces", interfaces),
        ("/spec/metadata", "/spec/ssh"),
        ("/metadata", "/metadata"),
    ];
    for (from, to) in map {
        if microvm_pointer == from || microvm_pointer.starts_with(&format!("{from}/")) {
            if to == "/metadata" {
                // Same place in both documents.
                return microvm_pointer.to_string();
            }
            return to.to_string();
        }
    }
    String::new()
}

/// Reads an Ignite `VM` of any registered version.
fn read_vm(value: Value, version: &str) -> Result<IgniteVm, String> {
    fn read<T: VmKind>(value: Value) -> Result<IgniteVm, String> {
        serde_json::from_value::<T>(value)
            .map(|vm| vm.model())
            .map_err(|e| e.to_string())
    }
    match version {
        "v1alpha1" => read::<ig::Vm>(value),
        "v1alpha2" => read::<ig::v1alpha2::Vm>(value),
        "v1alpha3" => read::<ig::v1alpha3::Vm>(value),
        "v1alpha4" => read::<ig::v1alpha4::Vm>(value),
        other => Err(format!(
            "Ignite API version {other} is not one mooring knows"
        )),
    }
}

/// Translates one Ignite `VM` into a Flintlock `MicroVM`, checks the result
/// against Flintlock's rules, and cross-checks its kernel and image against
/// `declared`. See the module documentation for the mapping.
pub fn ignite_vm(vm: &Manifest, declared: &Declared, floor: MemoryFloor) -> Translation {
    let mut out = Findings {
        vm,
        list: Vec::new(),
        errored: BTreeSet::new(),
    };
    let value = if kinds::has_whole_float(&vm.value) {
        kinds::whole_floats_to_ints(&vm.value)
    } else {
        vm.value.clone()
    };
    let version = vm.kind.map_or("", |k| k.version);
    let typed = match read_vm(value, version) {
        Ok(v) => v,
        Err(e) => {
            out.error(
                "",
                format!(
                    "cannot be read as an Ignite VM ({e}); `mooring validate` says what is wrong"
                ),
            );
            return Translation {
                microvm: None,
                findings: out.list,
            };
        }
    };
    let spec = &typed;

    let cpus = spec.cpus.filter(|&c| c != 0).unwrap_or(DEFAULT_CPUS);
    if cpus > MAX_VCPU {
        out.error(
            "/spec/cpus",
            format!("{cpus} is above Flintlock's maximum of {MAX_VCPU} vCPUs"),
        );
    }

    let memory = read_size(
        &mut out,
        "/spec/memory",
        spec.memory.as_ref(),
        DEFAULT_MEMORY,
    );
    if let Some(m) = &memory {
        if m.mib < MIN_MEMORY_MIB {
            out.floor(
                "/spec/memory",
                format!(
                    "{} is below Flintlock's {MIN_MEMORY_MIB} MB minimum; set at least 1GB",
                    m.shown()
                ),
                floor,
            );
        } else if m.mib > MAX_MEMORY_MIB {
            out.error(
                "/spec/memory",
                format!(
                    "{} is above Flintlock's {MAX_MEMORY_MIB} MB maximum; set at most 32GB",
                    m.shown()
                ),
            );
        }
    }
    let disk = read_size(
        &mut out,
        "/spec/diskSize",
        spec.disk_size.as_ref(),
        DEFAULT_DISK_SIZE,
    );
    if let Some(d) = &disk
        && d.mib > MAX_SIZE_MIB
    {
        out.error(
            "/spec/diskSize",
            format!(
                "{} is too large: Flintlock sizes volumes in MiB as a 32-bit number \
                 (at most {MAX_SIZE_MIB} MiB)",
                d.shown()
            ),
        );
    }

    let image_ref = spec.image.reference.trim();
    if !declared.declares_image(image_ref) {
        out.warning(
            spec.image.pointer,
            format!("{image_ref} is not declared by any Ignite Image object"),
        );
    }

    let kernel_ref = spec
        .kernel
        .as_ref()
        .map_or(spec.default_kernel, |c| c.reference.trim());
    if !declared.declares_kernel(kernel_ref) {
        let default_note = if spec.kernel.is_none() {
            " (Ignite's default kernel when omitted)"
        } else {
            ""
        };
        out.warning(
            spec.kernel
                .as_ref()
                .map_or(spec.kernel_pointer, |k| k.pointer),
            format!("{kernel_ref}{default_note} is not declared by any Ignite Kernel object"),
        );
    }
    let cmdline_text = spec
        .cmd_line
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or(DEFAULT_CMDLINE);
    let cmdline = cmdline_map(&mut out, cmdline_text);

    dropped(&mut out, spec);

    let keys = ssh_keys(&mut out, spec.ssh.as_ref());
    let name = typed.name.clone();
    let mut metadata = StringMap::new();
    metadata.insert("meta-data".into(), base64(&meta_data(&name)));
    if !keys.is_empty() {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        metadata.insert("user-data".into(), base64(&user_data(&keys)));
    }

    let mut annotations = typed.annotations.clone().unwrap_or_default();
    annotations.insert(
        TRANSLATED_FROM_ANNOTATION.into(),
        format!("{} VM/{name}", typed.api_version),
    );
    let to_i32 = |mib: u64| i32::try_from(mib).unwrap_or(i32::MAX);
    let microvm = MicroVm {
        api_version: format!("{}/{}", MicroVm::GROUP, MicroVm::VERSION),
        kind: MicroVm::KIND.into(),
        metadata: FlintlockObjectMeta {
            name: name.clone(),
            namespace: Some(MICROVM_NAMESPACE.into()),
            labels: typed.labels.clone(),
            annotations: Some(annotations),
        },
        spec: MicroVmSpec {
            labels: None,
            vcpu: to_i32(cpus),
            memory_in_mb: memory.as_ref().map_or(0, |m| to_i32(m.mib)),
            kernel: FlintlockKernel {
                image: normalize_reference(kernel_ref),
                cmdline: (!cmdline.is_empty()).then_some(cmdline),
                filename: KERNEL_FILENAME.into(),
                add_network_config: Some(true),
            },
            initrd: None,
            root_volume: Some(Volume {
                id: ROOT_VOLUME_ID.into(),
                is_read_only: Some(false),
                mount_point: None,
                source: VolumeSource {
                    container_source: Some(normalize_reference(image_ref)),
                    virtiofs_source: None,
                },
                partition_id: None,
                size_in_mb: disk.as_ref().map(|d| to_i32(d.mib)),
            }),
            additional_volumes: None,
            interfaces: vec![NetworkInterface {
                device_id: INTERFACE_DEVICE_ID.into(),
                iface_type: Some(IfaceType::Macvtap),
                guest_mac: None,
                address: None,
                overrides: None,
            }],
            metadata: Some(metadata),
            provider: Some(PROVIDER.into()),
            allow_guest_agent: None,
        },
        status: None,
    };
    let value = match serde_json::to_value(&microvm) {
        Ok(v) => v,
        Err(e) => {
            out.error("", format!("cannot write the Flintlock microVM: {e}"));
            Value::Null
        }
    };
    if !value.is_null() {
        for p in check_microvm(&value) {
            let at = ignite_pointer(&typed, &p.pointer);
            if out.errored.contains(&at) {
                continue;
            }
            out.error(
                &at,
                format!(
                    "becomes Flintlock's {}, which Flintlock rejects: {}",
                    field_path(&p.pointer),
                    p.message
                ),
            );
        }
    }

    let failed = out.list.iter().any(Finding::is_error);
    let microvm = (!failed).then(|| Manifest {
        id: ObjectId {
            group: MicroVm::GROUP.into(),
            kind: MicroVm::KIND.into(),
            namespace: Some(MICROVM_NAMESPACE.into()),
            name,
        },
        api_version: format!("{}/{}", MicroVm::GROUP, MicroVm::VERSION),
        kind: super::microvm_kind(),
        file: vm.file.clone(),
        line: vm.line,
        value,
        lines: vm.lines.clone(),
    });
    Translation {
        microvm,
        findings: out.list,
    }
}

/// The cmdline map, warning about what a map cannot hold.
fn cmdline_map(out: &mut Findings<'_>, text: &str) -> StringMap {
    const POINTER: &str = "/spec/kernel/cmdLine";
    let (params, init) = parse_cmdline(text);
    let mut seen: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in &params {
        seen.entry(k).or_default().push(v);
    }
    for (k, values) in &seen {
        if values.len() > 1 {
            let last = values.last().copied().unwrap_or_default();
            out.warning(
                POINTER,
                format!(
                    "{k} is given {} times ({}); Flintlock's cmdline is a map and keeps only \
                     the last ({k}={last})",
                    values.len(),
                    values.join(", ")
                ),
            );
        }
    }
    if !init.is_empty() {
        out.warning(
            POINTER,
            format!(
                "the arguments after `--` ({}) are for init and need their order, which \
                 Flintlock's cmdline map cannot keep; dropped",
                init.join(" ")
            ),
        );
    }
    params.into_iter().collect()
}

/// Warnings for what Flintlock has no equivalent of, one per field.
fn dropped(out: &mut Findings<'_>, vm: &IgniteVm) {
    for ports in vm.ports.iter().filter(|p| !p.mappings.is_empty()) {
        let list: Vec<String> = ports.mappings.iter().map(|p| p.shown()).collect();
        out.warning(
            ports.pointer,
            format!(
                "Flintlock has no port forwarding; dropped ({}). The microVM gets its own \
                 address on the host's network: connect to the VM port at that address",
                list.join(", ")
            ),
        );
    }
    if vm.copy_files.as_ref().is_some_and(|f| !f.is_empty()) {
        out.warning(
            "/spec/copyFiles",
            "Flintlock has no way to copy files into a microVM; dropped. \
             Use cloud-init user-data instead",
        );
    }
    if let Some(storage) = &vm.storage {
        let volumes: Vec<&str> = storage
            .volumes
            .iter()
            .flatten()
            .map(|v| v.name.as_str())
            .collect();
        if !volumes.is_empty()
            || storage
                .volume_mounts
                .as_ref()
                .is_some_and(|m| !m.is_empty())
        {
            out.warning(
                "/spec/storage",
                format!(
                    "Flintlock cannot attach a block device of the Ignite host; dropped \
                     (volumes: {}). Give the microVM an additionalVolumes entry from a \
                     container image, or a virtiofs share, instead",
                    if volumes.is_empty() {
                        "none".to_string()
                    } else {
                        volumes.join(", ")
                    }
                ),
            );
        }
    }
    if let Some(sandbox) = &vm.sandbox {
        out.warning(
            sandbox.pointer,
            format!(
                "{} is the container Ignite runs Firecracker in; Flintlock runs its own \
                 hypervisor process, so it is dropped",
                sandbox.reference.trim()
            ),
        );
    }
}

/// Whether `text` holds a private key (never quoted in a message).
fn is_private_key(text: &str) -> bool {
    text.contains("PRIVATE KEY")
}

/// The public keys to install, warning when Ignite's SSH setup cannot be
/// carried over and refusing private keys.
fn ssh_keys(out: &mut Findings<'_>, ssh: Option<&Ssh>) -> Vec<String> {
    let Some(ssh) = ssh else {
        return Vec::new();
    };
    let pointer = match ssh {
        Ssh::Mapping(_) => "/spec/ssh/publicKey",
        _ => "/spec/ssh",
    };
    let value = match ssh.wanted() {
        None => return Vec::new(),
        Some(None) => {
            out.warning(
                "/spec/ssh",
                "Ignite generates a key pair on its host for this `ssh` setting; Flintlock \
                 cannot, so no SSH key is installed. Put a public key (ssh-ed25519 AAAA…) in \
                 spec.ssh instead",
            );
            return Vec::new();
        }
        Some(Some(v)) => v.trim(),
    };
    if is_private_key(value) {
        out.error(
            pointer,
            "holds a private key (its value is not shown). A private key must never be in a \
             manifest: remove it from the file and from Git history, rotate it, and write the \
             public key (ssh-ed25519 AAAA… user@host) here instead",
        );
        return Vec::new();
    }
    let lines: Vec<&str> = value
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.iter().all(|l| is_public_key(l)) {
        return lines.into_iter().map(str::to_string).collect();
    }
    if !value.ends_with(".pub") {
        out.error(
            pointer,
            format!(
                "\"{value}\" looks like the path of a private key (Ignite wants a public key, \
                 a .pub file). mooring never reads or sends private keys: write the public key \
                 itself here (ssh-ed25519 AAAA… user@host)"
            ),
        );
        return Vec::new();
    }
    out.warning(
        pointer,
        format!(
            "\"{value}\" is a path on the Ignite host (Ignite copies that file into the VM), \
             which mooring cannot read; no SSH key is installed. Write the public key itself \
             here (ssh-ed25519 AAAA… user@host) and mooring passes it to cloud-init"
        ),
    );
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_written_in_full() {
        for (given, full) in [
            (
                "weaveworks/ignite-ubuntu:20.04",
                "docker.io/weaveworks/ignite-ubuntu:20.04",
            ),
            ("ubuntu", "docker.io/library/ubuntu:latest"),
            ("ubuntu:22.04", "docker.io/library/ubuntu:22.04"),
            ("ghcr.io/tidewater/k6:0.49.0", "ghcr.io/tidewater/k6:0.49.0"),
            ("localhost:5000/kernel", "localhost:5000/kernel:latest"),
            ("localhost/kernel:1", "localhost/kernel:1"),
            (
                "index.docker.io/weaveworks/ignite-kernel:5.4.108",
                "docker.io/weaveworks/ignite-kernel:5.4.108",
            ),
            (
                "weaveworks/k@sha256:0123abcd",
                "docker.io/weaveworks/k@sha256:0123abcd",
            ),
            (
                "reg.example.com:443/a/b:1@sha256:00",
                "reg.example.com:443/a/b:1@sha256:00",
            ),
        ] {
            assert_eq!(normalize_reference(given), full, "{given}");
        }
    }

    #[test]
    fn cmdline_tokens_split_like_the_kernel() {
        let (params, init) =
            parse_cmdline("  console=ttyS0 ro  foo=\"a b\" x=1=2 quiet -- single extra ");
        let strs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            strs,
            vec![
                ("console", "ttyS0"),
                ("ro", ""),
                ("foo", "a b"),
                ("x", "1=2"),
                ("quiet", ""),
            ]
        );
        assert_eq!(init, vec!["single", "extra"]);
        assert_eq!(parse_cmdline("   "), (vec![], vec![]));
    }

    #[test]
    fn public_keys_are_told_from_paths() {
        assert!(is_public_key("ssh-ed25519 AAAAC3Nza me@host"));
        assert!(is_public_key("ecdsa-sha2-nistp256 AAAAE2V"));
        assert!(is_public_key("sk-ssh-ed25519@openssh.com AAAA"));
        assert!(!is_public_key("/home/me/.ssh/id_ed25519.pub"));
        assert!(!is_public_key("ssh-ed25519"));
    }

    #[test]
    fn microvm_fields_point_back_at_ignite_fields() {
        let v1 = read_vm(
            serde_json::json!({"apiVersion": "ignite.weave.works/v1alpha1", "kind": "VM",
                "metadata": {"name": "a"}, "spec": {"image": {"ociClaim": {"ref": "x:1"}},
                "network": {"mode": "cni"}}}),
            "v1alpha1",
        )
        .unwrap();
        let p = |ptr: &str| ignite_pointer(&v1, ptr);
        assert_eq!(p("/spec/vcpu"), "/spec/cpus");
        assert_eq!(p("/spec/rootVolume/sizeInMb"), "/spec/diskSize");
        assert_eq!(
            p("/spec/rootVolume/source/containerSource"),
            "/spec/image/ociClaim/ref"
        );
        assert_eq!(p("/spec/kernel/cmdline/console"), "/spec/kernel/cmdLine");
        assert_eq!(p("/spec/kernel/image"), "/spec/kernel/ociClaim/ref");
        assert_eq!(p("/spec/interfaces/0"), "/spec/network/mode");
        assert_eq!(p("/metadata/labels/a"), "/metadata/labels/a");
        assert_eq!(p("/spec/provider"), "");
        let v4 = read_vm(
            serde_json::json!({"apiVersion": "ignite.weave.works/v1alpha4", "kind": "VM",
                "metadata": {"name": "a"}, "spec": {"image": {"oci": "x:1"}}}),
            "v1alpha4",
        )
        .unwrap();
        assert_eq!(ignite_pointer(&v4, "/spec/rootVolume"), "/spec/image/oci");
        assert_eq!(
            ignite_pointer(&v4, "/spec/kernel/image"),
            "/spec/kernel/oci"
        );
        assert_eq!(ignite_pointer(&v4, "/spec/interfaces"), "/spec");
        assert_eq!(v4.default_kernel, ig::DEFAULT_KERNEL_V3);
    }
}
