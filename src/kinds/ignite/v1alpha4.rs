//! `ignite.weave.works/v1alpha4` (weaveworks/ignite `pkg/apis/ignite/v1alpha4`),
//! what every current Ignite document and test uses. Its VM spec is
//! v1alpha3's (v1alpha4 changed only the status).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::pool_of_version;
use super::v1alpha3::oci_kinds;
use crate::kinds::meta::{FreeForm, IgniteObjectMeta};
use crate::kinds::{KindType, Scope, Violation};

const UPSTREAM: &str =
    "weaveworks/ignite pkg/apis/ignite/v1alpha4 (Ignite v0.10.x, the last release)";

oci_kinds!("v1alpha4", UPSTREAM);
pool_of_version!("v1alpha4", UPSTREAM);
