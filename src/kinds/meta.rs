//! Object metadata, in the three shapes mooring's API families use.
//!
//! Only the fields a GitOps repository should set are accepted (name,
//! namespace, labels, annotations, finalizers); server-set fields (uid,
//! resourceVersion, timestamps, ...) are unknown fields here.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::formats::{DNS1123_LABEL, DNS1123_SUBDOMAIN};

/// String-to-string map used for labels, annotations and config.
pub type StringMap = BTreeMap<String, String>;

/// A status block: accepted in any shape and never applied.
pub type FreeForm = serde_json::Map<String, serde_json::Value>;

/// Metadata of a namespaced Kubernetes object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    /// Object name, unique per kind within its namespace.
    #[schemars(length(min = 1, max = 253), pattern(DNS1123_SUBDOMAIN))]
    pub name: String,
    /// Namespace the object lives in; `default` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(DNS1123_LABEL))]
    pub namespace: Option<String>,
    /// Identifying key/value pairs used for selection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<StringMap>,
    /// Non-identifying key/value notes for tools and people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<StringMap>,
    /// Finalizers the object is created with: what must finish before it is
    /// removed (the API server accepts them on any object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalizers: Option<Vec<String>>,
}

/// Metadata of a cluster-scoped Kubernetes object: like [`ObjectMeta`] but
/// without a namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterObjectMeta {
    /// Object name, unique per kind in the cluster.
    #[schemars(length(min = 1, max = 253), pattern(DNS1123_SUBDOMAIN))]
    pub name: String,
    /// Identifying key/value pairs used for selection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<StringMap>,
    /// Non-identifying key/value notes for tools and people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<StringMap>,
    /// Finalizers the object is created with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalizers: Option<Vec<String>>,
}

/// Metadata of an Ignite object. Ignite has no namespaces, and image and
/// kernel objects are named after their OCI reference, so any non-empty name
/// is allowed. Ignite writes `uid` and `created` into every object it saves;
/// both are accepted and never used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IgniteObjectMeta {
    /// Object name, unique per kind on the host.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The id Ignite gave the object on its host; ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// When Ignite created the object (RFC 3339), or null; ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Identifying key/value pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<StringMap>,
    /// Non-identifying key/value notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<StringMap>,
}

/// Metadata of a Flintlock microVM as mooring writes it: the name and
/// namespace become the microVM's id and namespace on the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlintlockObjectMeta {
    /// MicroVM name, unique within its namespace.
    #[schemars(length(min = 1))]
    pub name: String,
    /// MicroVM namespace; `default` when left out or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Identifying key/value pairs kept by mooring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<StringMap>,
    /// Non-identifying key/value notes kept by mooring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<StringMap>,
}
