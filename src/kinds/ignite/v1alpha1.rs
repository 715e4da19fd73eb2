//! `ignite.weave.works/v1alpha1`: the union of the reference document's
//! shape (`networkMode` and `ports` directly in the VM spec, Kernel
//! `spec.version`) and the v1alpha1 Ignite released up to v0.7.x
//! (`spec.network: {mode, ports}`). Its types are re-exported by
//! [`super`], where the crate names them (`ignite::Vm`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    DEFAULT_KERNEL_V1, FileMapping, GROUP, IgniteSize, IgniteVm, NetworkMode, OciImageClaim,
    PortMapping, Ports, Reference, Ssh, VmKind, check_copy_files, check_ports, check_size,
    pool_of_version,
};
use crate::kinds::meta::{FreeForm, IgniteObjectMeta};
use crate::kinds::{KindType, Scope, Violation};

/// What the v1alpha1 kinds follow.
const UPSTREAM: &str = "Ignite's released v1alpha1 (weaveworks/ignite up to v0.7.x) and the \
     reference document's shape";

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
// v1alpha1 Pool

pool_of_version!("v1alpha1", UPSTREAM);
