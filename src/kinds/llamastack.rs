//! `llamastack.io/v1alpha1`: the LlamaStack operator's distribution kind.
//!
//! The union of the reference document's shape and the CRD that
//! llama-stack-k8s-operator v0.9 ships (`tlsConfig`, `network`, `workers`,
//! `autoscaling`, `podDisruptionBudget`, `topologySpreadConstraints`, and the
//! pod overrides it added), with the CRD's constraints.

use k8s_openapi::api::core::v1::{
    EnvVar, ResourceRequirements, TopologySpreadConstraint, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
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
    #[schemars(extend("default" = 1))]
    pub replicas: Option<i32>,
    /// Who may reach the server, and whether it gets an OpenShift Route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkSpec>,
    /// The server pod itself.
    pub server: ServerSpec,
}

/// Network access to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSpec {
    /// Namespaces and pod labels allowed through the server's NetworkPolicy,
    /// besides the operator's own defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_from: Option<AllowedFrom>,
    /// Create a Route (OpenShift) exposing the server; false when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = false))]
    pub expose_route: Option<bool>,
}

/// Sources allowed to reach the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AllowedFrom {
    /// Namespaces whose pods may connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,
    /// Pod label keys; pods carrying one may connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
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
    /// Extra certificate authorities the server trusts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    /// Server worker processes per pod (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub workers: Option<i32>,
    /// A HorizontalPodAutoscaler for the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingSpec>,
    /// A PodDisruptionBudget for the server's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_disruption_budget: Option<PodDisruptionBudgetSpec>,
    /// How the server's pods spread over zones and nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,
}

/// TLS settings of the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsConfig {
    /// A ConfigMap with CA certificates (PEM) to trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<CaBundleConfig>,
}

/// Where the CA bundle is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaBundleConfig {
    /// Name of the ConfigMap.
    pub config_map_name: String,
    /// Namespace of the ConfigMap; the object's own namespace when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_namespace: Option<String>,
    /// Keys of the ConfigMap holding certificates (at most 50); every key
    /// when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    pub config_map_keys: Option<Vec<String>>,
}

/// HorizontalPodAutoscaler settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoscalingSpec {
    /// Fewest pods; the replica count when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i32>,
    /// Most pods.
    pub max_replicas: i32,
    /// Average CPU use, in percent of requests, to scale at.
    #[serde(
        default,
        rename = "targetCPUUtilizationPercentage",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_cpu_utilization_percentage: Option<i32>,
    /// Average memory use, in percent of requests, to scale at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_memory_utilization_percentage: Option<i32>,
}

/// PodDisruptionBudget settings: a number of pods or a percentage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodDisruptionBudgetSpec {
    /// Pods that must stay available during a voluntary disruption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<IntOrString>,
    /// Pods that may be unavailable during a voluntary disruption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
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
    #[schemars(extend("default" = "llama-stack"))]
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
    /// ServiceAccount the server pod runs as; the operator's own when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Seconds the pod gets to stop before it is killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
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
    const UPSTREAM: &'static str =
        "llama-stack-k8s-operator v0.9.0 (CRD at 7735e43) and the reference document";

    fn rules(&self) -> Vec<Violation> {
        let d = &self.spec.server.distribution;
        if d.name.is_some() && d.image.is_some() {
            vec![Violation::error("/spec/server/distribution", NAME_OR_IMAGE)]
        } else {
            Vec::new()
        }
    }
}
