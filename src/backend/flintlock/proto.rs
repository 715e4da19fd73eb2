//! The Rust types and gRPC client generated from `proto/` by `build.rs`.
//! Module nesting follows the protobuf packages, because generated code
//! refers across packages with relative paths
//! (`super::super::super::super::flintlock::types`).

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod flintlock {
    pub mod types {
        tonic::include_proto!("flintlock.types");
    }
}

pub mod microvm {
    pub mod services {
        pub mod api {
            pub mod v1alpha1 {
                tonic::include_proto!("microvm.services.api.v1alpha1");
            }
        }
    }
}

pub use flintlock::types::micro_vm_status::MicroVmState;
pub use flintlock::types::network_interface::IfaceType;
pub use flintlock::types::{
    Initrd, Kernel, MicroVm, MicroVmSpec, MicroVmStatus, NetworkInterface, NetworkOverrides,
    StaticAddress, Volume, VolumeSource,
};
pub use microvm::services::api::v1alpha1 as api;
