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
//!   spec already has one. Ignite v0.10's `ignite.weave.works/interface/…`
//!   annotations add interfaces after it, or warn (`interfaces`).
//! - `ssh` holding a public key → cloud-init `user-data` (base64) with that
//!   key; every VM gets a `meta-data` naming the instance after it. A
//!   generated key or a key path cannot be carried over (warning); a private
//!   key, or the path of one, is refused.
//! - `ports`, `network.ports`, `copyFiles`, `storage` and `sandbox` have no
//!   Flintlock equivalent: dropped, each with its own warning.
//! - A VM under Flintlock's 1024 MiB minimum is an error, except in
//!   `validate` without a Flintlock target, where it is a warning
//!   ([`MemoryFloor`]).
//!
//! This file translates one VM; its own files hold what it leans on:
//! `declared` (the kernels and images a set declares, and references
//! written in full), `cloud_init` (`ssh` → the keys to install, and the
//! `meta-data` / `user-data` documents) and `interfaces` (the interface
//! annotations → the `MicroVM`'s interfaces, with their device ids).

mod cloud_init;
mod declared;
mod interfaces;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{MemoryFloor, SOURCE, TRANSLATED_FROM_ANNOTATION, Translation, check_microvm};
use crate::finding::Finding;
use crate::kinds::flintlock::{
    Kernel as FlintlockKernel, MicroVm, MicroVmSpec, Volume, VolumeSource,
};
use crate::kinds::ignite::{self as ig, IgniteSize, IgniteVm, VmKind, parse_ignite_size};
use crate::kinds::meta::{FlintlockObjectMeta, StringMap};
use crate::kinds::{self, KindType};
use crate::manifest::{Manifest, ObjectId, field_path};

use cloud_init::{base64, ssh_keys};
pub use cloud_init::{meta_data, user_data};
pub use declared::{Declared, normalize_reference};
pub use interfaces::INTERFACE_ANNOTATION_PREFIX;

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
/// Device id of the translated main interface. Not `eth0`: flintlockd adds a
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

/// The Ignite field the main interface comes from, when no `eth0`
/// annotation says otherwise.
fn network_pointer(vm: &IgniteVm) -> &'static str {
    vm.network_mode.map_or("/spec", |(_, p)| p)
}

/// Which Ignite field of `vm` a `MicroVM` field was made from;
/// `interface_sources[i]` is where `/spec/interfaces/i` came from.
fn ignite_pointer(vm: &IgniteVm, interface_sources: &[String], microvm_pointer: &str) -> String {
    let kernel = vm.kernel.as_ref().map_or(vm.kernel_pointer, |k| k.pointer);
    let interfaces = network_pointer(vm);
    if let Some(rest) = microvm_pointer.strip_prefix("/spec/interfaces/") {
        let index = rest.split('/').next().and_then(|i| i.parse::<usize>().ok());
        if let Some(source) = index.and_then(|i| interface_sources.get(i)) {
            return source.clone();
        }
    }
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

    let interfaces = interfaces::interfaces(
        &mut out,
        typed.annotations.as_ref(),
        network_pointer(&typed),
    );
    let (interfaces, interface_sources): (Vec<_>, Vec<_>) = interfaces.into_iter().unzip();

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
            interfaces,
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
            let at = ignite_pointer(&typed, &interface_sources, &p.pointer);
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
        unit: vm.unit.clone(),
        ignore: vm.ignore.clone(),
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

#[cfg(test)]
mod tests;
