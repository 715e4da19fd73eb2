//! `ignite.weave.works/v1alpha1`: Ignite's VM, Kernel, Image and Pool, in
//! the v1alpha1 shape mooring follows (`networkMode` and `ports` directly in
//! the VM spec, `kernel.ociClaim`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::LazyLock;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::formats::IMAGE_REFERENCE;
use super::meta::{FreeForm, IgniteObjectMeta};
use super::{KindType, Scope, Violation};

/// What the v1alpha1 kinds follow.
const UPSTREAM: &str = "Ignite's released v1alpha1 (weaveworks/ignite up to v0.7.x) and the \
     reference document's shape";

// ---------------------------------------------------------------------------
// Sizes

/// Why a string is not an Ignite size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Not digits followed by an optional unit.
    #[error("expected a whole number followed by an optional unit")]
    Syntax,
    /// A unit Ignite reads as bits (`Kb`, `Mb`, ...), which it refuses.
    #[error("\"{0}\" is a unit of bits; write a byte unit such as {1}")]
    Bits(String, String),
    /// A unit Ignite does not know.
    #[error("unknown unit \"{0}\"")]
    UnknownUnit(String),
    /// More bytes than fit in 64 bits.
    #[error("the size does not fit in 64 bits (at most 16 EiB)")]
    Overflow,
}

/// Unit prefixes by power of 1024, with their spelled-out word.
const PREFIXES: [(char, &str); 6] = [
    ('k', "kilo"),
    ('m', "mega"),
    ('g', "giga"),
    ('t', "tera"),
    ('p', "peta"),
    ('e', "exa"),
];

/// Units Ignite rejects as bits: exactly these spellings.
const BIT_UNITS: [&str; 6] = ["Kb", "Mb", "Gb", "Tb", "Pb", "Eb"];

/// The power of 1024 a lowercase unit stands for.
fn unit_power(unit: &str) -> Option<u32> {
    if matches!(unit, "" | "b" | "byte") {
        return Some(0);
    }
    PREFIXES.iter().zip(1u32..).find_map(|(&(p, word), power)| {
        let short = [p.to_string(), format!("{p}b"), format!("{p}ib")];
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

/// Parses an Ignite size string into bytes. Leading and trailing
/// whitespace is ignored; units are case-insensitive and binary
/// (`1KB` = 1024 bytes).
pub fn parse_ignite_size(s: &str) -> Result<u64, SizeError> {
    let s = s.trim();
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
        None => return Err(SizeError::UnknownUnit(unit.to_string())),
    };
    value
        .checked_mul(1u64 << (10 * power))
        .ok_or(SizeError::Overflow)
}

/// `[xX]` for a letter, the character itself otherwise.
fn any_case(c: char) -> String {
    if c.is_ascii_alphabetic() {
        format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
    } else {
        c.to_string()
    }
}

fn any_case_word(w: &str) -> String {
    w.chars().map(any_case).collect()
}

static SIZE_PATTERN: LazyLock<String> = LazyLock::new(|| {
    let mut alternatives = vec![any_case_word("byte"), any_case_word("b")];
    for (p, word) in PREFIXES {
        let lower = p.to_string();
        let upper = p.to_ascii_uppercase().to_string();
        alternatives.push(any_case_word(&format!("{word}bytes")));
        alternatives.push(any_case_word(&format!("{word}byte")));
        alternatives.push(any_case_word(word));
        alternatives.push(any_case_word(&format!("{p}ib")));
        // Two-letter form: any case except capital prefix + lowercase b,
        // which Ignite reads as bits.
        alternatives.push(format!("{lower}[bB]|{upper}B"));
        alternatives.push(any_case(p));
    }
    format!(r"^\s*[0-9]+\s*(?:{})?\s*$", alternatives.join("|"))
});

/// The JSON Schema pattern (ECMA-262, no flags) of an Ignite size string.
pub fn ignite_size_pattern() -> &'static str {
    &SIZE_PATTERN
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
            "description": "A byte size written as a string: whole number plus optional unit (B, KB, MB, GB, ... or KiB, MiB, ...), all powers of 1024, e.g. \"512MB\".",
            "type": "string",
            "pattern": ignite_size_pattern(),
        })
    }
}

fn check_size(size: Option<&IgniteSize>, pointer: &str, out: &mut Vec<Violation>) {
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

/// Which OCI image to import.
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

// ---------------------------------------------------------------------------
// VM

/// A Firecracker virtual machine managed by Ignite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Vm {
    /// Always `ignite.weave.works/v1alpha1`.
    pub api_version: String,
    /// Always `VM`.
    pub kind: String,
    /// Name, labels and annotations.
    pub metadata: IgniteObjectMeta,
    /// The machine to run.
    pub spec: VmSpec,
    /// Reported by Ignite; accepted but never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FreeForm>,
}

/// How the VM is built and wired up.
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
    /// How the VM is networked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<NetworkMode>,
    /// Host ports forwarded into the VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<PortMapping>>,
    /// Host files copied into the VM when it is created or started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_files: Option<Vec<FileMapping>>,
    /// SSH access: an empty object generates a key, a public key path uses that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<Ssh>,
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

/// How the VM is networked: `cni` or `docker-bridge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum NetworkMode {
    /// Networking set up by CNI plugins.
    #[serde(rename = "cni")]
    Cni,
    /// Docker's default bridge network.
    #[serde(rename = "docker-bridge")]
    DockerBridge,
}

/// One forwarded port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortMapping {
    /// Port on the host.
    pub host_port: u16,
    /// Port inside the VM.
    pub vm_port: u16,
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

/// SSH setup of the VM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ssh {
    /// Path of a public key to install; a new key is generated when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

impl KindType for Vm {
    const GROUP: &'static str = "ignite.weave.works";
    const VERSION: &'static str = "v1alpha1";
    const KIND: &'static str = "VM";
    const SCOPE: Scope = Scope::Cluster;
    const UPSTREAM: &'static str = UPSTREAM;

    fn rules(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        let spec = &self.spec;
        check_size(spec.memory.as_ref(), "/spec/memory", &mut out);
        check_size(spec.disk_size.as_ref(), "/spec/diskSize", &mut out);
        let mut first_use: BTreeMap<u16, usize> = BTreeMap::new();
        for (i, port) in spec.ports.iter().flatten().enumerate() {
            if let Some(first) = first_use.get(&port.host_port) {
                out.push(Violation::error(
                    format!("/spec/ports/{i}/hostPort"),
                    format!(
                        "host port {} is mapped more than once (first in ports[{first}])",
                        port.host_port
                    ),
                ));
            } else {
                first_use.insert(port.host_port, i);
            }
        }
        for (i, file) in spec.copy_files.iter().flatten().enumerate() {
            for (field, path) in [("hostPath", &file.host_path), ("vmPath", &file.vm_path)] {
                if !path.starts_with('/') {
                    out.push(Violation::error(
                        format!("/spec/copyFiles/{i}/{field}"),
                        format!("{field} must be an absolute path, got \"{path}\""),
                    ));
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Kernel, Image

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
    /// Kernel version string, informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The OCI image holding the kernel.
    pub oci_claim: OciImageClaim,
}

impl KindType for Kernel {
    const GROUP: &'static str = "ignite.weave.works";
    const VERSION: &'static str = "v1alpha1";
    const KIND: &'static str = "Kernel";
    const SCOPE: Scope = Scope::Cluster;
    const UPSTREAM: &'static str = UPSTREAM;
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
    const GROUP: &'static str = "ignite.weave.works";
    const VERSION: &'static str = "v1alpha1";
    const KIND: &'static str = "Image";
    const SCOPE: Scope = Scope::Cluster;
    const UPSTREAM: &'static str = UPSTREAM;
}

// ---------------------------------------------------------------------------
// Pool

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

impl KindType for Pool {
    const GROUP: &'static str = "ignite.weave.works";
    const VERSION: &'static str = "v1alpha1";
    const KIND: &'static str = "Pool";
    const SCOPE: Scope = Scope::Singleton;
    const UPSTREAM: &'static str = UPSTREAM;

    fn rules(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        let spec = &self.spec;
        check_size(spec.metadata_size.as_ref(), "/spec/metadataSize", &mut out);
        check_size(spec.data_size.as_ref(), "/spec/dataSize", &mut out);
        check_size(
            spec.allocation_size.as_ref(),
            "/spec/allocationSize",
            &mut out,
        );
        out
    }
}
