//! `ignite.weave.works/v1alpha3` (weaveworks/ignite `pkg/apis/ignite/v1alpha3`):
//! plain `oci` references, a `sandbox` image, `network: {ports}` and
//! `storage`. [`v1alpha4`](super::v1alpha4) has the same VM spec.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    DEFAULT_KERNEL_V3, FileMapping, IgniteSize, IgniteVm, PortMapping, Ports, Reference, Ssh,
    StorageSpec, check_copy_files, check_ports, check_size, check_storage, pool_of_version,
};
use crate::kinds::formats::IMAGE_REFERENCE;
use crate::kinds::meta::{FreeForm, IgniteObjectMeta};
use crate::kinds::{KindType, Scope, Violation};

const UPSTREAM: &str = "weaveworks/ignite pkg/apis/ignite/v1alpha3 (Ignite v0.8.x to v0.9.x)";

/// How the VM is built and wired up (v1alpha3 and v1alpha4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VmSpec {
    /// The root filesystem image.
    pub image: OciSpec,
    /// The container image Ignite runs the VM's sandbox from; Ignite's own
    /// when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<OptionalOciSpec>,
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
    /// Forwarded ports.
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

/// An OCI image reference, required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OciSpec {
    /// The image reference, e.g. `weaveworks/ignite-ubuntu:latest`.
    #[schemars(extend("format" = IMAGE_REFERENCE))]
    pub oci: String,
}

/// An OCI image reference; Ignite's default when unset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OptionalOciSpec {
    /// The image reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = IMAGE_REFERENCE))]
    pub oci: Option<String>,
}

/// The VM's kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VmKernelSpec {
    /// The OCI image holding the kernel; Ignite's default kernel when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = IMAGE_REFERENCE))]
    pub oci: Option<String>,
    /// Kernel command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd_line: Option<String>,
}

/// Forwarded ports (Ignite's network mode is a host setting since v1alpha3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VmNetworkSpec {
    /// Host ports forwarded into the VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<PortMapping>>,
}

impl VmSpec {
    pub(crate) fn rules(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        check_size(self.memory.as_ref(), "/spec/memory", &mut out);
        check_size(self.disk_size.as_ref(), "/spec/diskSize", &mut out);
        check_ports(
            self.network.as_ref().and_then(|n| n.ports.as_ref()),
            "/spec/network/ports",
            &mut out,
        );
        check_storage(self.storage.as_ref(), "/spec/storage", &mut out);
        check_copy_files(self.copy_files.as_ref(), &mut out);
        out
    }

    pub(crate) fn model(&self, meta: &IgniteObjectMeta, api_version: &str) -> IgniteVm {
        let non_empty = |s: &Option<String>| s.clone().filter(|r| !r.trim().is_empty());
        IgniteVm {
            api_version: api_version.to_string(),
            name: meta.name.clone(),
            labels: meta.labels.clone(),
            annotations: meta.annotations.clone(),
            cpus: self.cpus,
            memory: self.memory.clone(),
            disk_size: self.disk_size.clone(),
            image: Reference {
                reference: self.image.oci.clone(),
                pointer: "/spec/image/oci",
            },
            kernel: self
                .kernel
                .as_ref()
                .and_then(|k| non_empty(&k.oci))
                .map(|reference| Reference {
                    reference,
                    pointer: "/spec/kernel/oci",
                }),
            kernel_pointer: "/spec/kernel/oci",
            default_kernel: DEFAULT_KERNEL_V3,
            cmd_line: self.kernel.as_ref().and_then(|k| k.cmd_line.clone()),
            sandbox: self
                .sandbox
                .as_ref()
                .and_then(|s| non_empty(&s.oci))
                .map(|reference| Reference {
                    reference,
                    pointer: "/spec/sandbox/oci",
                }),
            network_mode: None,
            ports: self
                .network
                .as_ref()
                .and_then(|n| n.ports.clone())
                .map(|mappings| Ports {
                    mappings,
                    pointer: "/spec/network/ports",
                })
                .into_iter()
                .collect(),
            copy_files: self.copy_files.clone(),
            ssh: self.ssh.clone(),
            storage: self.storage.clone(),
        }
    }
}

/// Declares the VM, Kernel and Image kinds of a version with `oci`
/// references (v1alpha3, v1alpha4).
macro_rules! oci_kinds {
    ($version:literal, $upstream:expr) => {
        /// A Firecracker virtual machine managed by Ignite.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct Vm {
            #[doc = concat!("Always `ignite.weave.works/", $version, "`.")]
            pub api_version: String,
            /// Always `VM`.
            pub kind: String,
            /// Name, labels and annotations (`uid` and `created` are accepted).
            pub metadata: IgniteObjectMeta,
            /// The machine to run.
            pub spec: crate::kinds::ignite::v1alpha3::VmSpec,
            /// Reported by Ignite; accepted but never applied.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub status: Option<FreeForm>,
        }

        impl KindType for Vm {
            const GROUP: &'static str = crate::kinds::ignite::GROUP;
            const VERSION: &'static str = $version;
            const KIND: &'static str = "VM";
            const SCOPE: Scope = Scope::Cluster;
            const UPSTREAM: &'static str = $upstream;
            const APPLIED_AS_WRITTEN: bool = false;

            fn rules(&self) -> Vec<Violation> {
                self.spec.rules()
            }
        }

        impl crate::kinds::ignite::VmKind for Vm {
            fn model(&self) -> crate::kinds::ignite::IgniteVm {
                self.spec.model(&self.metadata, &self.api_version)
            }
        }

        /// A kernel imported from an OCI image.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct Kernel {
            #[doc = concat!("Always `ignite.weave.works/", $version, "`.")]
            pub api_version: String,
            /// Always `Kernel`.
            pub kind: String,
            /// Name (usually the OCI reference), labels and annotations.
            pub metadata: IgniteObjectMeta,
            /// Which kernel image to import.
            pub spec: crate::kinds::ignite::v1alpha3::OciSpec,
            /// Reported by Ignite (the kernel version among it); never applied.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub status: Option<FreeForm>,
        }

        impl KindType for Kernel {
            const GROUP: &'static str = crate::kinds::ignite::GROUP;
            const VERSION: &'static str = $version;
            const KIND: &'static str = "Kernel";
            const SCOPE: Scope = Scope::Cluster;
            const UPSTREAM: &'static str = $upstream;
            const APPLIED_AS_WRITTEN: bool = false;
        }

        /// A root filesystem image imported from an OCI image.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct Image {
            #[doc = concat!("Always `ignite.weave.works/", $version, "`.")]
            pub api_version: String,
            /// Always `Image`.
            pub kind: String,
            /// Name (usually the OCI reference), labels and annotations.
            pub metadata: IgniteObjectMeta,
            /// Which image to import.
            pub spec: crate::kinds::ignite::v1alpha3::OciSpec,
            /// Reported by Ignite; accepted but never applied.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub status: Option<FreeForm>,
        }

        impl KindType for Image {
            const GROUP: &'static str = crate::kinds::ignite::GROUP;
            const VERSION: &'static str = $version;
            const KIND: &'static str = "Image";
            const SCOPE: Scope = Scope::Cluster;
            const UPSTREAM: &'static str = $upstream;
            const APPLIED_AS_WRITTEN: bool = false;
        }
    };
}
pub(crate) use oci_kinds;

oci_kinds!("v1alpha3", UPSTREAM);
pool_of_version!("v1alpha3", UPSTREAM);
