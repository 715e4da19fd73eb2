//! The spec pieces every Ignite version shares: OCI image claims, network
//! modes, port and file mappings, `ssh` in every form Ignite reads, and
//! `storage`, each with Ignite's own checks of it (unique host ports,
//! absolute paths, volumes and mounts that match).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kinds::Violation;
use crate::kinds::formats::{IMAGE_REFERENCE, IP};

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
