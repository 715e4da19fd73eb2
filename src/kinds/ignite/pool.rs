//! Ignite's `Pool`, the host's device-mapper pool, is the same in every
//! version: [`PoolSpec`] and its rules, and [`pool_of_version!`], which
//! declares the `Pool` kind of one version (each version file invokes it).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{IgniteSize, check_size};
use crate::kinds::Violation;

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

/// Declares the Ignite `Pool` of one version: every version has the same
/// fields.
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
