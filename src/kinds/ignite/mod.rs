//! `ignite.weave.works`: Ignite's VM, Kernel, Image and Pool, in every API
//! version Ignite released, one file a version:
//!
//! - [`v1alpha1`]: the union of the reference document's shape
//!   (`networkMode` and `ports` directly in the VM spec, Kernel
//!   `spec.version`) and the v1alpha1 Ignite released up to v0.7.x
//!   (`spec.network: {mode, ports}`); its types are re-exported here
//!   (`ignite::Vm`);
//! - [`v1alpha2`]: `ociClaim`s, `network: {mode, ports}`, `storage`;
//! - [`v1alpha3`] and [`v1alpha4`]: `oci` references, a `sandbox`, `network:
//!   {ports}`, `storage` (the two share one VM spec).
//!
//! Shared by all, in files of their own and re-exported here: sizes as
//! Ignite's parser reads them (`size`); `ssh` as `true`, a public-key path
//! or the reference document's mapping, port mappings with `bindAddress`
//! and `protocol`, storage, and Ignite's checks of them (`shared`); the
//! `Pool`, the same in every version (`pool`). Object metadata with
//! Ignite's own `uid` and `created` (accepted, never used) is in
//! `kinds::meta`. This file holds the group and [`IgniteVm`], what every VM
//! version reads as, for translation.

pub mod v1alpha1;
pub mod v1alpha2;
pub mod v1alpha3;
pub mod v1alpha4;

mod pool;
mod shared;
mod size;

use super::KindType;
/// Re-exported from [`super::formats`], which owns every named pattern.
pub use super::formats::ignite_size_pattern;
use super::meta::StringMap;
pub use pool::PoolSpec;
pub(crate) use pool::pool_of_version;
pub use shared::{
    BlockDeviceVolume, FileMapping, ImageSourceType, NetworkMode, OciImageClaim, PortMapping,
    Protocol, Ssh, SshMapping, StorageSpec, StorageVolume, StorageVolumeMount,
};
pub(crate) use shared::{check_copy_files, check_ports, check_storage};
pub(crate) use size::check_size;
pub use size::{IgniteSize, SizeError, parse_ignite_size};
pub use v1alpha1::{
    Image, ImageSpec, Kernel, KernelSpec, Pool, Vm, VmImageSpec, VmKernelSpec, VmNetworkSpec,
    VmSpec,
};

/// The API group of every Ignite kind.
pub const GROUP: &str = "ignite.weave.works";

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
