//! `flintlock.liquidmetal.dev/v1alpha1` `MicroVM`: mooring's wrapper around
//! Flintlock's microVM spec. `metadata.name`/`namespace` become the spec's
//! id and namespace on the host; fields the server sets (uid, timestamps)
//! are not part of the wrapper.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::formats::{CIDR, DEVICE_ID, IMAGE_REFERENCE, IP, MAC};
use super::meta::{FlintlockObjectMeta, FreeForm, StringMap};
use super::{KindType, Scope, Violation};

/// A Firecracker or Cloud Hypervisor microVM run by a flintlockd host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MicroVm {
    /// Always `flintlock.liquidmetal.dev/v1alpha1`.
    pub api_version: String,
    /// Always `MicroVM`.
    pub kind: String,
    /// Name, namespace, labels and annotations of the microVM.
    pub metadata: FlintlockObjectMeta,
    /// The machine to create.
    pub spec: MicroVmSpec,
    /// Reported by the host; accepted but never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FreeForm>,
}

/// The microVM's hardware, boot and network settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MicroVmSpec {
    /// Labels stored with the microVM on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<StringMap>,
    /// Number of virtual CPUs (1 to 64).
    #[schemars(range(min = 1, max = 64))]
    pub vcpu: i32,
    /// Memory in megabytes (1024 to 32768).
    #[schemars(range(min = 1024, max = 32768))]
    pub memory_in_mb: i32,
    /// The kernel to boot.
    pub kernel: Kernel,
    /// An initial ramdisk; when given, the root volume may be left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd: Option<Initrd>,
    /// The volume the guest boots from; required unless an initrd is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_volume: Option<Volume>,
    /// Extra volumes attached to the guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_volumes: Option<Vec<Volume>>,
    /// Network interfaces, at least one; the guest sees them in this order.
    #[schemars(length(min = 1))]
    pub interfaces: Vec<NetworkInterface>,
    /// Items served by the metadata service (values base64-encoded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<StringMap>,
    /// Which microVM provider on the host to use; the host's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Let a guest agent in the microVM talk to the host (Flintlock v0.11.0
    /// and later); false when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_guest_agent: Option<bool>,
}

/// The kernel to boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kernel {
    /// Container image holding the kernel.
    #[schemars(extend("format" = IMAGE_REFERENCE))]
    pub image: String,
    /// Extra kernel command-line arguments, as key/value pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<StringMap>,
    /// Path of the kernel file inside the image, e.g. `boot/vmlinux`.
    #[schemars(length(min = 1))]
    pub filename: String,
    /// Whether to generate a network-config kernel argument.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_network_config: Option<bool>,
}

/// An initial ramdisk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Initrd {
    /// Container image holding the ramdisk.
    #[schemars(extend("format" = IMAGE_REFERENCE))]
    pub image: String,
    /// Path of the ramdisk file inside the image; `initrd` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

/// A disk attached to the microVM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Volume {
    /// Identifier of the volume within the microVM.
    #[schemars(length(min = 1))]
    pub id: String,
    /// Attach the volume read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_read_only: Option<bool>,
    /// Where the guest mounts the volume (additional volumes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_point: Option<String>,
    /// Where the volume's contents come from.
    pub source: VolumeSource,
    /// UUID of the partition to boot from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_id: Option<String>,
    /// Size in megabytes to resize the volume to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub size_in_mb: Option<i32>,
}

/// The origin of a volume: exactly one of the two fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeSource {
    /// A container image whose filesystem becomes the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_source: Option<String>,
    /// A host directory shared with the guest over virtiofs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtiofs_source: Option<String>,
}

/// Kind of host device backing a guest interface: `MACVTAP` (default) or `TAP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum IfaceType {
    /// A macvtap device.
    #[serde(rename = "MACVTAP")]
    Macvtap,
    /// A tap device.
    #[serde(rename = "TAP")]
    Tap,
}

/// A guest network interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkInterface {
    /// Identifier of the interface within the microVM, e.g. `eth0`.
    #[schemars(pattern(DEVICE_ID))]
    pub device_id: String,
    /// Host device kind; `MACVTAP` when unset.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub iface_type: Option<IfaceType>,
    /// Fixed MAC address for the guest; generated when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = MAC))]
    pub guest_mac: Option<String>,
    /// Static addressing; DHCP when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<StaticAddress>,
    /// Per-interface overrides of host settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<NetworkOverrides>,
}

/// A static IPv4 or IPv6 configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StaticAddress {
    /// Address with prefix length, e.g. `10.0.0.5/24`.
    #[schemars(extend("format" = CIDR))]
    pub address: String,
    /// Default gateway, also with prefix length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = CIDR))]
    pub gateway: Option<String>,
    /// DNS servers, as plain IP addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("items" = {"type": "string", "format": IP}))]
    pub nameservers: Option<Vec<String>>,
}

/// Overrides of host-wide network settings for one interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkOverrides {
    /// Linux bridge to attach the tap device to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge_name: Option<String>,
}

fn check_source(source: &VolumeSource, pointer: &str, out: &mut Vec<Violation>) {
    let which = match (&source.container_source, &source.virtiofs_source) {
        (Some(_), Some(_)) => "both",
        (None, None) => "neither",
        _ => return,
    };
    out.push(Violation::error(
        format!("{pointer}/source"),
        format!(
            "a volume source needs exactly one of containerSource or virtiofsSource, found {which}"
        ),
    ));
}

impl KindType for MicroVm {
    const GROUP: &'static str = "flintlock.liquidmetal.dev";
    const VERSION: &'static str = "v1alpha1";
    const KIND: &'static str = "MicroVM";
    const SCOPE: Scope = Scope::Namespaced;
    const UPSTREAM: &'static str =
        "Flintlock v0.11.0 (api/types/microvm.proto), in mooring's wrapper";
    const APPLIED_AS_WRITTEN: bool = false;

    fn rules(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        let spec = &self.spec;
        match &spec.root_volume {
            None if spec.initrd.is_none() => out.push(Violation::error(
                "/spec",
                "a rootVolume is required unless an initrd is given \
                 (flintlock rejects this with volumeOrInitrdRequired)",
            )),
            None => {}
            Some(root) => {
                check_source(&root.source, "/spec/rootVolume", &mut out);
                if root.source.virtiofs_source.is_some() {
                    out.push(Violation::error(
                        "/spec/rootVolume/source/virtiofsSource",
                        "the root volume cannot be a virtiofs volume",
                    ));
                }
            }
        }
        let mut first_virtiofs: Option<usize> = None;
        for (i, vol) in spec.additional_volumes.iter().flatten().enumerate() {
            let pointer = format!("/spec/additionalVolumes/{i}");
            check_source(&vol.source, &pointer, &mut out);
            if vol.source.virtiofs_source.is_some() {
                match first_virtiofs {
                    None => first_virtiofs = Some(i),
                    Some(first) => out.push(Violation::error(
                        format!("{pointer}/source/virtiofsSource"),
                        format!(
                            "at most one additional volume may be a virtiofs volume \
                             (additionalVolumes[{first}] already is)"
                        ),
                    )),
                }
            }
        }
        out
    }
}
