//! `ignite.weave.works/v1alpha2` (weaveworks/ignite `pkg/apis/ignite/v1alpha2`):
//! `ociClaim`s like v1alpha1, `network: {mode, ports}`, and `storage`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    DEFAULT_KERNEL_V1, FileMapping, IgniteSize, IgniteVm, OciImageClaim, Ports, Reference, Ssh,
    StorageSpec, VmKind, VmNetworkSpec, check_copy_files, check_ports, check_size, check_storage,
    pool_of_version,
};
use crate::kinds::meta::{FreeForm, IgniteObjectMeta};
use crate::kinds::{KindType, Scope, Violation};

const VERSION: &str = "v1alpha2";
const UPSTREAM: &str = "weaveworks/ignite pkg/apis/ignite/v1alpha2 (Ignite v0.6.x to v0.7.x)";

/// A Firecracker virtual machine managed by Ignite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Vm {
    /// Always `ignite.weave.works/v1alpha2`.
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
    /// Network mode and forwarded ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<VmNetworkSpec>,
    /// Host block devices given to the VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSpec>,
    /// Host files copied into the VM when it is created or started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_files: Option<Vec<FileMapping>>,
    /// SSH access: `true` generates a key, a public key path uses that key.
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

impl KindType for Vm {
    const GROUP: &'static str = super::GROUP;
    const VERSION: &'static str = VERSION;
    const KIND: &'static str = "VM";
    const SCOPE: Scope = Scope::Cluster;
    const UPSTREAM: &'static str = UPSTREAM;
    const APPLIED_AS_WRITTEN: bool = false;

    fn rules(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        let spec = &self.spec;
        check_size(spec.memory.as_ref(), "/spec/memory", &mut out);
        check_size(spec.disk_size.as_ref(), "/spec/diskSize", &mut out);
        check_ports(
            spec.network.as_ref().and_then(|n| n.ports.as_ref()),
            "/spec/network/ports",
            &mut out,
        );
        check_storage(spec.storage.as_ref(), "/spec/storage", &mut out);
        check_copy_files(spec.copy_files.as_ref(), &mut out);
        out
    }
}

impl VmKind for Vm {
    fn model(&self) -> IgniteVm {
        let s = &self.spec;
        let network = s.network.as_ref();
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
            network_mode: network
                .and_then(|n| n.mode)
                .map(|m| (m, "/spec/network/mode")),
            ports: network
                .and_then(|n| n.ports.clone())
                .map(|mappings| Ports {
                    mappings,
                    pointer: "/spec/network/ports",
                })
                .into_iter()
                .collect(),
            copy_files: s.copy_files.clone(),
            ssh: s.ssh.clone(),
            storage: s.storage.clone(),
        }
    }
}

/// A kernel imported from an OCI image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kernel {
    /// Always `ignite.weave.works/v1alpha2`.
    pub api_version: String,
    /// Always `Kernel`.
    pub kind: String,
    /// Name (usually the OCI reference), labels and annotations.
    pub metadata: IgniteObjectMeta,
    /// Which kernel image to import.
    pub spec: ClaimSpec,
    /// Reported by Ignite (the kernel version among it); never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FreeForm>,
}

/// The OCI image to import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimSpec {
    /// The OCI image.
    pub oci_claim: OciImageClaim,
}

impl KindType for Kernel {
    const GROUP: &'static str = super::GROUP;
    const VERSION: &'static str = VERSION;
    const KIND: &'static str = "Kernel";
    const SCOPE: Scope = Scope::Cluster;
    const UPSTREAM: &'static str = UPSTREAM;
    const APPLIED_AS_WRITTEN: bool = false;
}

/// A root filesystem image imported from an OCI image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Image {
    /// Always `ignite.weave.works/v1alpha2`.
    pub api_version: String,
    /// Always `Image`.
    pub kind: String,
    /// Name (usually the OCI reference), labels and annotations.
    pub metadata: IgniteObjectMeta,
    /// Which image to import.
    pub spec: ClaimSpec,
    /// Reported by Ignite; accepted but never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FreeForm>,
}

impl KindType for Image {
    const GROUP: &'static str = super::GROUP;
    const VERSION: &'static str = VERSION;
    const KIND: &'static str = "Image";
    const SCOPE: Scope = Scope::Cluster;
    const UPSTREAM: &'static str = UPSTREAM;
    const APPLIED_AS_WRITTEN: bool = false;
}

pool_of_version!("v1alpha2", UPSTREAM);
