//! `runtime.wasmcloud.dev/v1alpha1`: the wasmCloud runtime operator's kinds.

use k8s_openapi::api::core::v1::LocalObjectReference;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::meta::{ClusterObjectMeta, FreeForm, ObjectMeta, StringMap};
use super::{KindType, Scope};

const GROUP: &str = "runtime.wasmcloud.dev";
const VERSION: &str = "v1alpha1";

// ---------------------------------------------------------------------------
// Artifact

/// A Wasm artifact (an OCI image) that workloads can refer to by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Artifact {
    /// Always `runtime.wasmcloud.dev/v1alpha1`.
    pub api_version: String,
    /// Always `Artifact`.
    pub kind: String,
    /// Name, namespace, labels and annotations.
    pub metadata: ObjectMeta,
    /// The image to track; may be left empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ArtifactSpec>,
    /// Reported by the operator; accepted but never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FreeForm>,
}

/// The image an Artifact stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactSpec {
    /// OCI reference of the Wasm image.
    pub image: String,
    /// Secret with registry credentials for pulling the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secret: Option<LocalObjectReference>,
}

impl KindType for Artifact {
    const GROUP: &'static str = GROUP;
    const VERSION: &'static str = VERSION;
    const KIND: &'static str = "Artifact";
    const SCOPE: Scope = Scope::Namespaced;
}

// ---------------------------------------------------------------------------
// Host

/// A wasmCloud host registered with the cluster. Its fields sit at the top
/// level; there is no `spec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Host {
    /// Always `runtime.wasmcloud.dev/v1alpha1`.
    pub api_version: String,
    /// Always `Host`.
    pub kind: String,
    /// Name, labels and annotations; hosts are cluster-wide, so no namespace.
    pub metadata: ClusterObjectMeta,
    /// The host's unique id.
    pub host_id: String,
    /// Network name of the machine running the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Port the host serves HTTP on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_port: Option<u32>,
    /// Reported by the operator; accepted but never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FreeForm>,
}

impl KindType for Host {
    const GROUP: &'static str = GROUP;
    const VERSION: &'static str = VERSION;
    const KIND: &'static str = "Host";
    const SCOPE: Scope = Scope::Cluster;
}

// ---------------------------------------------------------------------------
// Workload and its parts

/// A set of Wasm components (and an optional service) placed together on
/// one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Workload {
    /// Always `runtime.wasmcloud.dev/v1alpha1`.
    pub api_version: String,
    /// Always `Workload`.
    pub kind: String,
    /// Name, namespace, labels and annotations.
    pub metadata: ObjectMeta,
    /// What to run and where.
    pub spec: WorkloadSpec,
    /// Reported by the operator; accepted but never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FreeForm>,
}

impl KindType for Workload {
    const GROUP: &'static str = GROUP;
    const VERSION: &'static str = VERSION;
    const KIND: &'static str = "Workload";
    const SCOPE: Scope = Scope::Namespaced;
}

/// What a workload runs and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Host labels a host must carry to receive the workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_selector: Option<StringMap>,
    /// Pin the workload to the host with this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    /// The Wasm components of the workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<WorkloadComponent>>,
    /// Host-provided interfaces the components use, with their configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_interfaces: Option<Vec<HostInterface>>,
    /// A long-running companion service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<WorkloadService>,
    /// Volumes the components and service can mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
}

/// One Wasm component: a stateless unit invoked on demand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadComponent {
    /// Component name, unique in the workload.
    pub name: String,
    /// OCI reference of the component.
    pub image: String,
    /// Secret with registry credentials for pulling the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secret: Option<LocalObjectReference>,
    /// Number of instances kept ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<i32>,
    /// Invocations an instance serves before it is replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_invocations: Option<i32>,
    /// Volumes, configuration and network access given to the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_resources: Option<LocalResources>,
}

/// A long-running companion of a workload's components.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadService {
    /// OCI reference of the service.
    pub image: String,
    /// Secret with registry credentials for pulling the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secret: Option<LocalObjectReference>,
    /// How often the service is restarted before giving up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_restarts: Option<i32>,
    /// Volumes, configuration and network access given to the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_resources: Option<LocalResources>,
}

/// Resources made available to a component or service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalResources {
    /// Workload volumes to mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mounts: Option<Vec<VolumeMount>>,
    /// Environment built from ConfigMaps, Secrets and literal values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<ConfigLayer>,
    /// Literal configuration values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<StringMap>,
    /// Hosts the component may reach over the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_hosts: Option<Vec<String>>,
}

/// Configuration merged from ConfigMaps, Secrets and literal values (later
/// sources win on key conflicts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigLayer {
    /// ConfigMaps whose keys are merged in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_from: Option<Vec<LocalObjectReference>>,
    /// Secrets whose keys are merged in (values decoded to UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_from: Option<Vec<LocalObjectReference>>,
    /// Literal values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<StringMap>,
}

/// A WIT interface package provided by the host, with its configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostInterface {
    /// ConfigMaps whose keys are merged into the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_from: Option<Vec<LocalObjectReference>>,
    /// Secrets whose keys are merged into the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_from: Option<Vec<LocalObjectReference>>,
    /// Literal configuration values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<StringMap>,
    /// WIT namespace, e.g. `wasi`.
    pub namespace: String,
    /// WIT package, e.g. `http`.
    pub package: String,
    /// Interfaces of the package in use, at least one.
    #[schemars(length(min = 1))]
    pub interfaces: Vec<String>,
    /// Package version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A named volume of a workload: a host path or a scratch directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Volume {
    /// Volume name, referred to by volume mounts.
    pub name: String,
    /// A scratch directory that lives as long as the workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<EphemeralVolume>,
    /// An existing file or directory on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<HostPathVolume>,
}

/// A scratch directory; it takes no settings, write `{}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EphemeralVolume {}

/// A file or directory on the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostPathVolume {
    /// Path on the host.
    pub path: String,
}

/// Where a workload volume appears inside a component or service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeMount {
    /// Name of a volume declared in the workload's `volumes`.
    pub name: String,
    /// Path inside the component.
    pub mount_path: String,
}

// ---------------------------------------------------------------------------
// WorkloadReplicaSet, WorkloadDeployment

/// A workload template plus labels, stamped out once per replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadReplicaTemplate {
    /// Annotations put on each workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<StringMap>,
    /// Labels put on each workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<StringMap>,
    /// The workload each replica runs.
    pub spec: WorkloadSpec,
}

/// A fixed number of identical workloads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadReplicaSet {
    /// Always `runtime.wasmcloud.dev/v1alpha1`.
    pub api_version: String,
    /// Always `WorkloadReplicaSet`.
    pub kind: String,
    /// Name, namespace, labels and annotations.
    pub metadata: ObjectMeta,
    /// How many workloads to run, and from which template.
    pub spec: WorkloadReplicaSetSpec,
    /// Reported by the operator; accepted but never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FreeForm>,
}

/// Replica count and template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadReplicaSetSpec {
    /// Number of workloads to keep running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// The workload to replicate.
    pub template: WorkloadReplicaTemplate,
}

impl KindType for WorkloadReplicaSet {
    const GROUP: &'static str = GROUP;
    const VERSION: &'static str = VERSION;
    const KIND: &'static str = "WorkloadReplicaSet";
    const SCOPE: Scope = Scope::Namespaced;
}

/// Replicated workloads rolled out through replica sets as the template
/// changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadDeployment {
    /// Always `runtime.wasmcloud.dev/v1alpha1`.
    pub api_version: String,
    /// Always `WorkloadDeployment`.
    pub kind: String,
    /// Name, namespace, labels and annotations.
    pub metadata: ObjectMeta,
    /// Replicas, template, rollout policy and artifacts.
    pub spec: WorkloadDeploymentSpec,
    /// Reported by the operator; accepted but never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FreeForm>,
}

/// Replicas, template, rollout policy and artifacts of a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadDeploymentSpec {
    /// Number of workloads to keep running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// The workload to replicate.
    pub template: WorkloadReplicaTemplate,
    /// How a template change is rolled out: `RollingUpdate` (default) or `Recreate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_policy: Option<String>,
    /// Artifacts the template's components may refer to by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<Vec<WorkloadDeploymentArtifact>>,
}

/// A name under which an Artifact is made available to the template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadDeploymentArtifact {
    /// Name used inside the template.
    pub name: String,
    /// The Artifact object it refers to.
    pub artifact_from: LocalObjectReference,
}

impl KindType for WorkloadDeployment {
    const GROUP: &'static str = GROUP;
    const VERSION: &'static str = VERSION;
    const KIND: &'static str = "WorkloadDeployment";
    const SCOPE: Scope = Scope::Namespaced;
}
