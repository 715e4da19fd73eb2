//! `ignite.weave.works`: Ignite's VM, Kernel, Image and Pool, in every API
//! version Ignite released.
//!
//! - `v1alpha1` (this module): the union of the reference document's shape
//!   (`networkMode` and `ports` directly in the VM spec, Kernel
//!   `spec.version`) and the v1alpha1 Ignite released up to v0.7.x
//!   (`spec.network: {mode, ports}`);
//! - [`v1alpha2`]: `ociClaim`s, `network: {mode, ports}`, `storage`;
//! - [`v1alpha3`] and [`v1alpha4`]: `oci` references, a `sandbox`, `network:
//!   {ports}`, `storage` (the two share one VM spec).
//!
//! Shared by all: sizes as Ignite's parser reads them, `ssh` as `true`, a
//! public-key path or the reference document's mapping, port mappings with
//! `bindAddress` and `protocol`, and object metadata with Ignite's own `uid`
//! and `created` (accepted, never used). [`IgniteVm`] is what every VM
//! version reads as, for translation.

pub mod v1alpha2;
pub mod v1alpha3;
pub mod v1alpha4;

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// Re-exported from [`super::formats`], which owns every named pattern.
pub use super::formats::ignite_size_pattern;
use super::formats::{IGNITE_SIZE_PREFIXES as PREFIXES, IMAGE_REFERENCE, IP};
use super::meta::{FreeForm, IgniteObjectMeta, StringMap};
use super::{KindType, Scope, Violation};

/// The API group of every Ignite kind.
pub const GROUP: &str = "ignite.weave.works";

/// What the v1alpha1 kinds follow.
const UPSTREAM: &str = "Ignite's released v1alpha1 (weaveworks/ignite up to v0.7.x) and the \
     reference document's shape";

// ---------------------------------------------------------------------------
// Sizes

/// Why a string is not an Ignite size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Not digits followed by an optional unit.
    #[error("expected a whole number followed by an optional unit (no leading spaces)")]
    Syntax,
    /// A unit Ignite reads as bits (`Kb`, `Mb`, ...), which it refuses.
    #[error("\"{0}\" is a unit of bits; write a byte unit such as {1}")]
    Bits(String, String),
    /// A Kubernetes- or IEC-style binary unit (`GiB`, `Mi`), which Ignite's
    /// parser does not know: its own units are already binary.
    #[error(
        "\"{0}\" is not one of Ignite's units; Ignite's units are already binary \
         (1GB = 1 GiB), so write {1}"
    )]
    BinaryUnit(String, String),
    /// A unit Ignite does not know.
    #[error("unknown unit \"{0}\"")]
    UnknownUnit(String),
    /// More bytes than fit in 64 bits.
    #[error("the size does not fit in 64 bits (at most 16 EiB)")]
    Overflow,
}

/// Units Ignite rejects as bits: exactly these spellings.
const BIT_UNITS: [&str; 6] = ["Kb", "Mb", "Gb", "Tb", "Pb", "Eb"];

/// The power of 1024 a lowercase unit stands for, in the version of its
/// size parser Ignite pins (c2h5oh/datasize 28bbd47): no `kib`, `mib`...
fn unit_power(unit: &str) -> Option<u32> {
    if matches!(unit, "" | "b" | "byte") {
        return Some(0);
    }
    PREFIXES.iter().zip(1u32..).find_map(|(&(p, word), power)| {
        let short = [p.to_string(), format!("{p}b")];
        let long = [
            word.to_string(),
            format!("{word}byte"),
            format!("{word}bytes"),
        ];
        short
            .iter()
            .chain(long.iter())
            .any(|u| u == unit)
            .then_some(power)
    })
}

/// For a binary unit Ignite does not know (`GiB`, `Mi`), the Ignite unit
/// meaning the same (`GB`, `MB`).
fn ignite_unit_for(unit: &str) -> Option<String> {
    let lower = unit.to_ascii_lowercase();
    let prefix = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('i'))?;
    let mut chars = prefix.chars();
    let p = chars.next()?;
    (chars.next().is_none() && PREFIXES.iter().any(|(q, _)| *q == p))
        .then(|| format!("{}B", p.to_ascii_uppercase()))
}

/// Parses an Ignite size string into bytes, as Ignite's parser does: ASCII
/// digits first (no sign, no fraction, no leading space), then an optional
/// unit with spaces around it ignored; units are case-insensitive and binary
/// (`1KB` = 1024 bytes). An empty string is 0, which Ignite replaces with
/// its default.
pub fn parse_ignite_size(s: &str) -> Result<u64, SizeError> {
    if s.is_empty() {
        return Ok(0);
    }
    let digits_end = s
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit())
        .map_or(s.len(), |(i, _)| i);
    if digits_end == 0 {
        return Err(SizeError::Syntax);
    }
    let mut value: u64 = 0;
    for b in s[..digits_end].bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(SizeError::Overflow)?;
    }
    let unit = s[digits_end..].trim();
    if BIT_UNITS.contains(&unit) {
        return Err(SizeError::Bits(unit.to_string(), unit.to_uppercase()));
    }
    let lower = unit.to_ascii_lowercase();
    let power = match unit_power(&lower) {
        Some(p) => p,
        None if unit.chars().any(|c| c.is_ascii_digit() || c == '.') => {
            return Err(SizeError::Syntax);
        }
        None => {
            return Err(match ignite_unit_for(unit) {
                Some(ignite) => SizeError::BinaryUnit(unit.to_string(), format!("{value}{ignite}")),
                None => SizeError::UnknownUnit(unit.to_string()),
            });
        }
    };
    value
        .checked_mul(1u64 << (10 * power))
        .ok_or(SizeError::Overflow)
}

/// A byte size as Ignite writes it: a string such as `512MB` or `4GB`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IgniteSize(pub String);

impl IgniteSize {
    /// The size in bytes.
    pub fn bytes(&self) -> Result<u64, SizeError> {
        parse_ignite_size(&self.0)
    }
}

impl JsonSchema for IgniteSize {
    fn schema_name() -> Cow<'static, str> {
        "IgniteSize".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A byte size written as a string: whole number plus optional unit (B, KB, MB, GB, TB, PB, EB, any case), all powers of 1024, e.g. \"512MB\". KiB, MiB, GiB are not Ignite units. Empty means Ignite's default.",
            "type": "string",
            "pattern": ignite_size_pattern(),
        })
    }
}

pub(crate) fn check_size(size: Option<&IgniteSize>, pointer: &str, out: &mut Vec<Violation>) {
    if let Some(size) = size
        && let Err(e) = size.bytes()
    {
        out.push(Violation::error(
            pointer,
            format!("\"{}\" is not a valid Ignite size: {e}", size.0),
        ));
    }
}

// ---------------------------------------------------------------------------
// Shared pieces

/// Where an image comes from. Only Docker is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ImageSourceType {
    /// Pulled through the local Docker daemon.
    Docker,
}

/// Which OCI image to import (v1alpha1, v1alpha2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OciImageClaim {
    /// How to import the image; Docker is the only choice and the default.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub source_type: Option<ImageSourceType>,
    /// The image reference, e.g. `weaveworks/ignite-ubuntu:latest`.
    #[serde(rename = "ref")]
    #[schemars(extend("format" = IMAGE_REFERENCE))]
    pub reference: String,
}

/// How the VM is networked: `cni` or `docker-bridge` (v1alpha1, v1alpha2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum NetworkMode {
    /// Networking set up by CNI plugins.
    #[serde(rename = "cni")]
    Cni,
    /// Docker's default bridge network.
    #[serde(rename = "docker-bridge")]
    DockerBridge,
}

/// The protocol of a forwarded port.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Protocol {
    /// TCP.
    #[serde(rename = "tcp")]
    Tcp,
    /// UDP.
    #[serde(rename = "udp")]
    Udp,
}

/// One forwarded port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortMapping {
    /// Host address to listen on; all addresses when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = IP))]
    pub bind_address: Option<String>,
    /// Port on the host.
    pub host_port: u16,
    /// Port inside the VM.
    pub vm_port: u16,
    /// `tcp` or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
}

impl PortMapping {
    /// `[bindAddress:]hostPort:vmPort[/protocol]`, as Ignite's `--ports`
    /// flag takes a mapping: `8080:80`, `127.0.0.1:5353:53/udp`.
    pub fn shown(&self) -> String {
        let mut out = String::new();
        if let Some(a) = &self.bind_address {
            out.push_str(a);
            out.push(':');
        }
        out.push_str(&format!("{}:{}", self.host_port, self.vm_port));
        if let Some(p) = self.protocol {
            out.push_str(match p {
                Protocol::Tcp => "/tcp",
                Protocol::Udp => "/udp",
            });
        }
        out
    }
}

/// One file copied from the host into the VM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileMapping {
    /// Absolute path on the host.
    #[schemars(length(min = 1))]
    pub host_path: String,
    /// Absolute path inside the VM.
    #[schemars(length(min = 1))]
    pub vm_path: String,
}

/// SSH setup of the VM, in any form Ignite reads: `true` (generate a key
/// pair), a string (the path of a public key on the Ignite host; `"true"`
/// also generates), or the reference document's mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Ssh {
    /// `true` generates a key pair; `false` does nothing.
    Generate(bool),
    /// Path of a public key on the Ignite host.
    PublicKeyPath(String),
    /// The reference document's form: `{}` generates a key pair, and
    /// `publicKey` names a public key.
    Mapping(SshMapping),
}

/// The reference document's SSH mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SshMapping {
    /// Path of a public key to install; a new key is generated when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

impl Ssh {
    /// What the VM asks for: `None` for nothing, `Some(None)` for a
    /// generated key pair, `Some(Some(text))` for a key (or key path).
    pub fn wanted(&self) -> Option<Option<&str>> {
        match self {
            Ssh::Generate(false) => None,
            Ssh::Generate(true) => Some(None),
            Ssh::PublicKeyPath(s) if s == "true" => Some(None),
            Ssh::PublicKeyPath(s) if s.trim().is_empty() => None,
            Ssh::PublicKeyPath(s) => Some(Some(s)),
            Ssh::Mapping(m) => Some(m.public_key.as_deref().filter(|k| !k.trim().is_empty())),
        }
    }
}

/// Block devices of the host given to the VM (v1alpha2 and later).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageSpec {
    /// Named volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<StorageVolume>>,
    /// Where the volumes appear in the VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mounts: Option<Vec<StorageVolumeMount>>,
}

/// A named volume: a block device of the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageVolume {
    /// Volume name, unique, referred to by a volume mount.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The host's block device; Ignite requires it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_device: Option<BlockDeviceVolume>,
}

/// A block device on the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlockDeviceVolume {
    /// Absolute path of the device file, unique among the volumes.
    pub path: String,
}

/// Where a named volume is mounted in the VM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageVolumeMount {
    /// Name of a volume in `volumes`.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Absolute path in the VM, unique among the mounts.
    pub mount_path: String,
}

/// Ignite's storage validation (`ValidateVMStorage`), without the check
/// that the path is a device file on the Ignite host.
pub(crate) fn check_storage(storage: Option<&StorageSpec>, base: &str, out: &mut Vec<Violation>) {
    let Some(storage) = storage else { return };
    let mut names: BTreeMap<&str, (usize, bool)> = BTreeMap::new();
    let mut paths: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, v) in storage.volumes.iter().flatten().enumerate() {
        let at = format!("{base}/volumes/{i}");
        match &v.block_device {
            None => out.push(Violation::error(
                &at,
                "blockDevice is required: Ignite's only kind of volume is a block device",
            )),
            Some(b) => {
                check_absolute(&b.path, &format!("{at}/blockDevice/path"), out);
                if let Some(j) = paths.insert(&b.path, i) {
                    out.push(Violation::error(
                        format!("{at}/blockDevice/path"),
                        format!("blockDevice path must be unique (also in volumes[{j}])"),
                    ));
                }
            }
        }
        if let Some((j, _)) = names.insert(&v.name, (i, false)) {
            out.push(Violation::error(
                format!("{at}/name"),
                format!("volume name must be unique (also volumes[{j}])"),
            ));
        }
    }
    let mut mount_paths: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, m) in storage.volume_mounts.iter().flatten().enumerate() {
        let at = format!("{base}/volumeMounts/{i}");
        match names.get_mut(m.name.as_str()) {
            None => out.push(Violation::error(
                format!("{at}/name"),
                format!("volumeMount name \"{}\" must match a volume name", m.name),
            )),
            Some((_, true)) => out.push(Violation::error(
                format!("{at}/name"),
                format!("volumeMount name \"{}\" must be unique", m.name),
            )),
            Some((_, mounted)) => *mounted = true,
        }
        check_absolute(&m.mount_path, &format!("{at}/mountPath"), out);
        if let Some(j) = mount_paths.insert(&m.mount_path, i) {
            out.push(Violation::error(
                format!("{at}/mountPath"),
                format!("volumeMount path must be unique (also volumeMounts[{j}])"),
            ));
        }
    }
}

fn check_absolute(path: &str, pointer: &str, out: &mut Vec<Violation>) {
    if !path.starts_with('/') {
        let field = pointer.rsplit('/').next().unwrap_or_default();
        out.push(Violation::error(
            pointer,
            format!("{field} must be an absolute path, got \"{path}\""),
        ));
    }
}

/// A host port (and protocol) mapped twice, which Ignite refuses.
pub(crate) fn check_ports(ports: Option<&Vec<PortMapping>>, base: &str, out: &mut Vec<Violation>) {
    let mut first_use: BTreeMap<(u16, Protocol), usize> = BTreeMap::new();
    for (i, port) in ports.into_iter().flatten().enumerate() {
        let key = (port.host_port, port.protocol.unwrap_or(Protocol::Tcp));
        if let Some(first) = first_use.get(&key) {
            out.push(Violation::error(
                format!("{base}/{i}/hostPort"),
                format!(
                    "host port {} is mapped more than once (first in {}[{first}])",
                    port.host_port,
                    base.rsplit('/').next().unwrap_or("ports")
                ),
            ));
        } else {
            first_use.insert(key, i);
        }
    }
}

pub(crate) fn check_copy_files(files: Option<&Vec<FileMapping>>, out: &mut Vec<Violation>) {
    for (i, file) in files.into_iter().flatten().enumerate() {
        check_absolute(
            &file.host_path,
            &format!("/spec/copyFiles/{i}/hostPath"),
            out,
        );
        check_absolute(&file.vm_path, &format!("/spec/copyFiles/{i}/vmPath"), out);
    }
}

// ---------------------------------------------------------------------------
// What every VM version reads as

/// An image reference of a VM and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub reference: String,
    /// JSON pointer of the reference in the VM document.
    pub pointer: &'static str,
}

/// Port mappings and where they were written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ports {
    pub mappings: Vec<PortMapping>,
    /// JSON pointer of the list in the VM document.
    pub pointer: &'static str,
}

/// An Ignite VM of any version, as translation reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct IgniteVm {
    pub api_version: String,
    pub name: String,
    pub labels: Option<StringMap>,
    pub annotations: Option<StringMap>,
    pub cpus: Option<u64>,
    pub memory: Option<IgniteSize>,
    pub disk_size: Option<IgniteSize>,
    pub image: Reference,
    /// `None`: Ignite's default kernel.
    pub kernel: Option<Reference>,
    /// Where a kernel reference goes in this version.
    pub kernel_pointer: &'static str,
    /// Ignite's default kernel image for this version.
    pub default_kernel: &'static str,
    pub cmd_line: Option<String>,
    pub sandbox: Option<Reference>,
    pub network_mode: Option<(NetworkMode, &'static str)>,
    /// Every list of port mappings the VM has (v1alpha1 may have two).
    pub ports: Vec<Ports>,
    pub copy_files: Option<Vec<FileMapping>>,
    pub ssh: Option<Ssh>,
    pub storage: Option<StorageSpec>,
}

/// A Rust type that is an Ignite `VM` of some version.
pub trait VmKind: KindType {
    /// The VM as translation reads it.
    fn model(&self) -> IgniteVm;
}

/// The default kernel of Ignite up to v0.7 (v1alpha1, v1alpha2).
pub const DEFAULT_KERNEL_V1: &str = "weaveworks/ignite-kernel:4.19.47";
/// The default kernel of Ignite v0.10, the last release (v1alpha3, v1alpha4).
pub const DEFAULT_KERNEL_V3: &str = "weaveworks/ignite-kernel:5.10.51";

// ---------------------------------------------------------------------------
// v1alpha1 VM

/// A Firecracker virtual machine managed by Ignite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Vm {
    /// Always `ignite.weave.works/v1alpha1`.
    pub api_version: String,
    /// Always `VM`.
    pub kind: String,
    /// Name, labels and annotations (`uid` and `created` are accepted).
    pub metadata: IgniteObjectMeta,
    /// The machine to run.
    pub spec: VmSpec,
    /// Reported by Ignite; accepted but never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FreeForm>,
}

/// How the VM is built and wired up: the reference document's fields and
/// those of the v1alpha1 Ignite released (`network`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VmSpec {
    /// The root filesystem image.
    pub image: VmImageSpec,
    /// The kernel to boot; Ignite's default kernel when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<VmKernelSpec>,
    /// Number of virtual CPUs; 1 when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u64>,
    /// Memory size, e.g. `512MB` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<IgniteSize>,
    /// Root disk size, e.g. `4GB` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_size: Option<IgniteSize>,
    /// How the VM is networked (the reference document's place; released
    /// Ignite writes `network.mode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<NetworkMode>,
    /// Host ports forwarded into the VM (the reference document's place;
    /// released Ignite writes `network.ports`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<PortMapping>>,
    /// Network mode and forwarded ports, as released Ignite writes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<VmNetworkSpec>,
    /// Host files copied into the VM when it is created or started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_files: Option<Vec<FileMapping>>,
    /// SSH access: `true` or `{}` generates a key, a public key path uses that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<Ssh>,
}

/// Network mode and forwarded ports (v1alpha1 as released, v1alpha2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VmNetworkSpec {
    /// `cni` or `docker-bridge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<NetworkMode>,
    /// Host ports forwarded into the VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<PortMapping>>,
}

/// The VM's root filesystem image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VmImageSpec {
    /// The OCI image to use; its reference is mandatory.
    pub oci_claim: OciImageClaim,
}

/// The VM's kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VmKernelSpec {
    /// The OCI image holding the kernel; Ignite's default kernel when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_claim: Option<OciImageClaim>,
    /// Kernel command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd_line: Option<String>,
}

impl KindType for Vm {
    const GROUP: &'static str = GROUP;
    const VERSION: &'static str = "v1alpha1";
    const KIND: &'static str = "VM";
    const SCOPE: Scope = Scope::Cluster;
    const UPSTREAM: &'static str = UPSTREAM;
    const APPLIED_AS_WRITTEN: bool = false;

    fn rules(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        let spec = &self.spec;
        check_size(spec.memory.as_ref(), "/spec/memory", &mut out);
        check_size(spec.disk_size.as_ref(), "/spec/diskSize", &mut out);
        check_ports(spec.ports.as_ref(), "/spec/ports", &mut out);
        let network = spec.network.as_ref();
        check_ports(
            network.and_then(|n| n.ports.as_ref()),
            "/spec/network/ports",
            &mut out,
        );
        if spec.network_mode.is_some() && network.is_some_and(|n| n.mode.is_some()) {
            out.push(Violation::error(
                "/spec/network/mode",
                "networkMode is also set: write the mode once, in network.mode (released \
                 Ignite) or networkMode (the reference document)",
            ));
        }
        if spec.ports.is_some() && network.is_some_and(|n| n.ports.is_some()) {
            out.push(Violation::error(
                "/spec/network/ports",
                "ports is also set: write the ports once, in network.ports (released Ignite) \
                 or ports (the reference document)",
            ));
        }
        check_copy_files(spec.copy_files.as_ref(), &mut out);
        out
    }
}

impl VmKind for Vm {
    fn model(&self) -> IgniteVm {
        let s = &self.spec;
        let network = s.network.as_ref();
        let mut ports = Vec::new();
        if let Some(p) = &s.ports {
            ports.push(Ports {
                mappings: p.clone(),
                pointer: "/spec/ports",
            });
        }
        if let Some(p) = network.and_then(|n| n.ports.as_ref()) {
            ports.push(Ports {
                mappings: p.clone(),
                pointer: "/spec/network/ports",
            });
        }
        let network_mode = match (s.network_mode, network.and_then(|n| n.mode)) {
            (Some(m), _) => Some((m, "/spec/networkMode")),
            (None, Some(m)) => Some((m, "/spec/network/mode")),
            (None, None) => None,
        };
        IgniteVm {
            api_version: self.api_version.clone(),
            name: self.metadata.name.clone(),
            labels: self.metadata.labels.clone(),
            annotations: self.metadata.annotations.clone(),
            cpus: s.cpus,
            memory: s.memory.clone(),
            disk_size: s.disk_size.clone(),
            image: Reference {
                reference: s.image.oci_claim.reference.clone(),
                pointer: "/spec/image/ociClaim/ref",
            },
            kernel: s
                .kernel
                .as_ref()
                .and_then(|k| k.oci_claim.as_ref())
                .map(|c| Reference {
                    reference: c.reference.clone(),
                    pointer: "/spec/kernel/ociClaim/ref",
                }),
            kernel_pointer: "/spec/kernel/ociClaim/ref",
            default_kernel: DEFAULT_KERNEL_V1,
            cmd_line: s.kernel.as_ref().and_then(|k| k.cmd_line.clone()),
            sandbox: None,
            network_mode,
            ports,
            copy_files: s.copy_files.clone(),
            ssh: s.ssh.clone(),
            storage: None,
        }
    }
}

// ---------------------------------------------------------------------------
// v1alpha1 Kernel, Image

/// A kernel imported from an OCI image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kernel {
    /// Always `ignite.weave.works/v1alpha1`.
    pub api_version: String,
    /// Always `Kernel`.
    pub kind: String,
    /// Name (usually the OCI reference), labels and annotations.
    pub metadata: IgniteObjectMeta,
    /// Which kernel image to import.
    pub spec: KernelSpec,
    /// Reported by Ignite; accepted but never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FreeForm>,
}

/// The kernel to import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KernelSpec {
    /// Kernel version string, informational (the reference document's
    /// place; released Ignite reports it in `status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The OCI image holding the kernel.
    pub oci_claim: OciImageClaim,
}

impl KindType for Kernel {
    const GROUP: &'static str = GROUP;
    const VERSION: &'static str = "v1alpha1";
    const KIND: &'static str = "Kernel";
    const SCOPE: Scope = Scope::Cluster;
    const UPSTREAM: &'static str = UPSTREAM;
    const APPLIED_AS_WRITTEN: bool = false;
}

/// A root filesystem image imported from an OCI image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Image {
    /// Always `ignite.weave.works/v1alpha1`.
    pub api_version: String,
    /// Always `Image`.
    pub kind: String,
    /// Name (usually the OCI reference), labels and annotations.
    pub metadata: IgniteObjectMeta,
    /// Which image to import.
    pub spec: ImageSpec,
    /// Reported by Ignite; accepted but never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FreeForm>,
}

/// The image to import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageSpec {
    /// The OCI image to import.
    pub oci_claim: OciImageClaim,
}

impl KindType for Image {
    const GROUP: &'static str = GROUP;
    const VERSION: &'static str = "v1alpha1";
    const KIND: &'static str = "Image";
    const SCOPE: Scope = Scope::Cluster;
    const UPSTREAM: &'static str = UPSTREAM;
    const APPLIED_AS_WRITTEN: bool = false;
}

// ---------------------------------------------------------------------------
// Pool (the same in every version)

/// The host's device-mapper pool: one per host, with no metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pool {
    /// Always `ignite.weave.works/v1alpha1`.
    pub api_version: String,
    /// Always `Pool`.
    pub kind: String,
    /// Sizes and backing files of the pool.
    pub spec: PoolSpec,
    /// Reported by Ignite; accepted but never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FreeForm>,
}

/// Sizes and backing files of the pool; Ignite fills in what is unset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PoolSpec {
    /// Size of the pool's metadata device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_size: Option<IgniteSize>,
    /// Size of the pool's data device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_size: Option<IgniteSize>,
    /// Smallest unit the pool allocates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_size: Option<IgniteSize>,
    /// File where device-mapper keeps the pool metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_path: Option<String>,
    /// Device or sparse file backing the pool's data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_path: Option<String>,
}

impl PoolSpec {
    pub(crate) fn rules(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        check_size(self.metadata_size.as_ref(), "/spec/metadataSize", &mut out);
        check_size(self.data_size.as_ref(), "/spec/dataSize", &mut out);
        check_size(
            self.allocation_size.as_ref(),
            "/spec/allocationSize",
            &mut out,
        );
        out
    }
}

impl KindType for Pool {
    const GROUP: &'static str = GROUP;
    const VERSION: &'static str = "v1alpha1";
    const KIND: &'static str = "Pool";
    const SCOPE: Scope = Scope::Singleton;
    const UPSTREAM: &'static str = UPSTREAM;
    const APPLIED_AS_WRITTEN: bool = false;

    fn rules(&self) -> Vec<Violation> {
        self.spec.rules()
    }
}

/// Declares an Ignite `Pool` of another version: the same fields.
macro_rules! pool_of_version {
    ($version:literal, $upstream:expr) => {
        /// The host's device-mapper pool: one per host, with no metadata.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct Pool {
            #[doc = concat!("Always `ignite.weave.works/", $version, "`.")]
            pub api_version: String,
            /// Always `Pool`.
            pub kind: String,
            /// Sizes and backing files of the pool.
            pub spec: super::PoolSpec,
            /// Reported by Ignite; accepted but never applied.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub status: Option<FreeForm>,
        }

        impl KindType for Pool {
            const GROUP: &'static str = super::GROUP;
            const VERSION: &'static str = $version;
            const KIND: &'static str = "Pool";
            const SCOPE: Scope = Scope::Singleton;
            const UPSTREAM: &'static str = $upstream;
            const APPLIED_AS_WRITTEN: bool = false;

            fn rules(&self) -> Vec<Violation> {
                self.spec.rules()
            }
        }
    };
}
pub(crate) use pool_of_version;
