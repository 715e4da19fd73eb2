//! `llamastack.io/v1alpha1`: the LlamaStack operator's distribution kind.

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::meta::{FreeForm, ObjectMeta};
use super::{KindType, Scope, Violation};

/// A Llama Stack server run by the LlamaStack operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LlamaStackDistribution {
    /// Always `llamastack.io/v1alpha1`.
    pub api_version: String,
    /// Always `LlamaStackDistribution`.
    pub kind: String,
    /// Name, namespace, labels and annotations.
    pub metadata: ObjectMeta,
    /// The server to run.
    pub spec: LlamaStackDistributionSpec,
    /// Reported by the operator; accepted but never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FreeForm>,
}

/// What the operator should deploy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LlamaStackDistributionSpec {
    /// Number of server pods; the operator uses 1 when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// The server pod itself.
    pub server: ServerSpec,
}

/// The Llama Stack server pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerSpec {
    /// Which distribution to run: a known name or an explicit image.
    pub distribution: DistributionType,
    /// Settings of the server container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_spec: Option<ContainerSpec>,
    /// Extra volumes and mounts added to the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_overrides: Option<PodOverrides>,
    /// Persistent volume for the server's data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSpec>,
    /// A ConfigMap holding the server's run configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_config: Option<UserConfigSpec>,
}

/// The distribution to run; give a name or an image, not both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DistributionType {
    /// A distribution known to the operator, e.g. `ollama`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A container image to run instead of a named distribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// Settings of the server container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerSpec {
    /// Container name; `llama-stack` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port the server listens on; 8321 when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// CPU, memory and other resource requests and limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Environment variables of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
    /// Replaces the image's entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Arguments passed to the entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
}

/// Pod-level additions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodOverrides {
    /// Volumes added to the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    /// Where those volumes appear in the server container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mounts: Option<Vec<VolumeMount>>,
}

/// The server's persistent volume claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageSpec {
    /// Requested capacity, e.g. `10Gi` (the operator's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Quantity>,
    /// Mount path inside the container; `/.llama` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_path: Option<String>,
}

/// Reference to the ConfigMap with the user's server configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserConfigSpec {
    /// Name of the ConfigMap.
    pub config_map_name: String,
    /// Namespace of the ConfigMap; the object's own namespace when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_namespace: Option<String>,
}

/// Message of the name-or-image rule, as the operator's CRD words it.
pub const NAME_OR_IMAGE: &str = "Only one of name or image can be specified";

impl KindType for LlamaStackDistribution {
    const GROUP: &'static str = "llamastack.io";
    const VERSION: &'static str = "v1alpha1";
    const KIND: &'static str = "LlamaStackDistribution";
    const SCOPE: Scope = Scope::Namespaced;

    fn rules(&self) -> Vec<Violation> {
        let d = &self.spec.server.distribution;
        if d.name.is_some() && d.image.is_some() {
            vec![Violation::error("/spec/server/distribution", NAME_OR_IMAGE)]
        } else {
            Vec::new()
        }
    }
}
