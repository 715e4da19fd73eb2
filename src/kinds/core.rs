//! Kubernetes core (`v1`) kinds that GitOps repositories carry alongside
//! the workloads: Namespace, ConfigMap, Secret and ServiceAccount.

use k8s_openapi::api::core::v1::{LocalObjectReference, ObjectReference};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::meta::{ClusterObjectMeta, FreeForm, ObjectMeta, StringMap};
use super::{KindType, Scope, Violation, pointer_token};

/// A Kubernetes namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Namespace {
    /// Always `v1`.
    pub api_version: String,
    /// Always `Namespace`.
    pub kind: String,
    /// Name, labels and annotations; a namespace has no namespace itself.
    pub metadata: ClusterObjectMeta,
    /// Finalizers; rarely set by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<NamespaceSpec>,
    /// Reported by the cluster; accepted but never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FreeForm>,
}

/// Settings of a namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceSpec {
    /// Finalizers that must finish before the namespace is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalizers: Option<Vec<String>>,
}

impl KindType for Namespace {
    const GROUP: &'static str = "";
    const VERSION: &'static str = "v1";
    const KIND: &'static str = "Namespace";
    const SCOPE: Scope = Scope::Cluster;
    const UPSTREAM: &'static str = "Kubernetes core/v1 (k8s-openapi 0.29)";
}

/// Non-secret configuration as key/value pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMap {
    /// Always `v1`.
    pub api_version: String,
    /// Always `ConfigMap`.
    pub kind: String,
    /// Name, namespace, labels and annotations.
    pub metadata: ObjectMeta,
    /// UTF-8 values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<StringMap>,
    /// Binary values, base64-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_data: Option<StringMap>,
    /// When true, the contents can no longer be changed in the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

impl KindType for ConfigMap {
    const GROUP: &'static str = "";
    const VERSION: &'static str = "v1";
    const KIND: &'static str = "ConfigMap";
    const SCOPE: Scope = Scope::Namespaced;
    const UPSTREAM: &'static str = "Kubernetes core/v1 (k8s-openapi 0.29)";

    fn rules(&self) -> Vec<Violation> {
        base64_values(self.binary_data.as_ref(), "binaryData")
    }
}

/// Secret values as key/value pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Secret {
    /// Always `v1`.
    pub api_version: String,
    /// Always `Secret`.
    pub kind: String,
    /// Name, namespace, labels and annotations.
    pub metadata: ObjectMeta,
    /// Values, base64-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<StringMap>,
    /// Values in plain text; the cluster encodes them into `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_data: Option<StringMap>,
    /// Secret type, e.g. `Opaque` or `kubernetes.io/tls`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    /// When true, the contents can no longer be changed in the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

impl KindType for Secret {
    const GROUP: &'static str = "";
    const VERSION: &'static str = "v1";
    const KIND: &'static str = "Secret";
    const SCOPE: Scope = Scope::Namespaced;
    const UPSTREAM: &'static str = "Kubernetes core/v1 (k8s-openapi 0.29)";

    fn rules(&self) -> Vec<Violation> {
        base64_values(self.data.as_ref(), "data")
    }
}

/// An identity for processes running in pods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccount {
    /// Always `v1`.
    pub api_version: String,
    /// Always `ServiceAccount`.
    pub kind: String,
    /// Name, namespace, labels and annotations.
    pub metadata: ObjectMeta,
    /// Secrets pods using this account may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<ObjectReference>>,
    /// Registry credentials added to pods using this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    /// Whether pods get this account's API token mounted by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
}

impl KindType for ServiceAccount {
    const GROUP: &'static str = "";
    const VERSION: &'static str = "v1";
    const KIND: &'static str = "ServiceAccount";
    const SCOPE: Scope = Scope::Namespaced;
    const UPSTREAM: &'static str = "Kubernetes core/v1 (k8s-openapi 0.29)";
}

fn base64_values(map: Option<&StringMap>, field: &str) -> Vec<Violation> {
    map.into_iter()
        .flatten()
        .filter(|(_, v)| !is_base64(v))
        .map(|(k, _)| {
            Violation::error(
                format!("/{field}/{}", pointer_token(k)),
                format!(
                    "the value of {field} key \"{k}\" is not valid base64 \
                     (put plain text in {})",
                    if field == "data" {
                        "stringData"
                    } else {
                        "data"
                    }
                ),
            )
        })
        .collect()
}

/// Whether `s` is standard, padded base64 as Kubernetes decodes it
/// (line breaks are ignored).
pub fn is_base64(s: &str) -> bool {
    let bytes: Vec<u8> = s.bytes().filter(|b| *b != b'\n' && *b != b'\r').collect();
    if bytes.len() % 4 != 0 {
        return false;
    }
    let padding = bytes.iter().rev().take_while(|b| **b == b'=').count();
    if padding > 2 {
        return false;
    }
    bytes[..bytes.len() - padding]
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}
