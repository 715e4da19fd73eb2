//! `runtime.wasmcloud.dev/v1alpha1`: the wasmCloud runtime operator's kinds,
//! as the union of the reference document and the CRDs runtime-operator
//! v2.7.0 ships (wasmCloud/wasmCloud, `runtime-operator/`), with the CRDs'
//! constraints and their CEL rules as typed rules.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::LocalObjectReference;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::formats::{
    WASMCLOUD_ALLOWED_HOST, WASMCLOUD_INTERFACE_NAME, WASMCLOUD_IP_NAME_LOOKUP,
    WASMCLOUD_LOOPBACK_PORT,
};
use super::meta::{FreeForm, ObjectMeta, StringMap};
use super::{KindType, Scope, Violation};

const GROUP: &str = "runtime.wasmcloud.dev";
const VERSION: &str = "v1alpha1";
const UPSTREAM: &str =
    "wasmCloud runtime-operator v2.7.0 (wasmCloud/wasmCloud) and the reference document";

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
    const UPSTREAM: &'static str = UPSTREAM;
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
    /// Name, namespace, labels and annotations. Host is namespaced since
    /// runtime-operator v2.1.0; without a namespace it is the older,
    /// cluster-scoped form.
    pub metadata: ObjectMeta,
    /// The host's unique id.
    pub host_id: String,
    /// Network name of the machine running the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Port the host serves HTTP on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub http_port: Option<i32>,
    /// The environment (lattice) the host belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Reported by the operator; accepted but never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FreeForm>,
}

impl KindType for Host {
    const GROUP: &'static str = GROUP;
    const VERSION: &'static str = VERSION;
    const KIND: &'static str = "Host";
    const SCOPE: Scope = Scope::NamespacedOrCluster;
    const UPSTREAM: &'static str = UPSTREAM;

    fn rules(&self) -> Vec<Violation> {
        if self.metadata.namespace.is_some() {
            return Vec::new();
        }
        vec![Violation::warning(
            "/metadata",
            "no metadata.namespace: this is the cluster-scoped Host of runtime-operator \
             before v2.1.0. Host is namespaced since v2.1.0: set metadata.namespace unless \
             the cluster runs the older CRD (against a cluster, mooring checks the \
             installed CRD's scope)",
        )]
    }
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
    const UPSTREAM: &'static str = UPSTREAM;

    fn rules(&self) -> Vec<Violation> {
        self.spec.rules("/spec")
    }
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
    /// Host-provided interfaces the components use, with their
    /// configuration (at most 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub host_interfaces: Option<Vec<HostInterface>>,
    /// A long-running companion service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<WorkloadService>,
    /// Volumes the components and service can mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    /// Only hosts of this environment (lattice) receive the workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Kubernetes objects the operator wires to the workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesSpec>,
}

/// Kubernetes integration of a workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubernetesSpec {
    /// A Kubernetes Service that routes to the workload's hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<KubernetesService>,
}

/// A Kubernetes Service, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubernetesService {
    /// Name of the Service, in the object's namespace.
    pub name: String,
}

/// Message of upstream's first `hostInterfaces` CEL rule.
pub const DUPLICATE_HOST_INTERFACE: &str = "hostInterfaces must not contain duplicate entries \
     with the same namespace, package, name, and version";
/// Message of upstream's second `hostInterfaces` CEL rule.
pub const UNNAMED_HOST_INTERFACE: &str = "at most one unnamed hostInterface is allowed per \
     namespace:package; set a unique name to disambiguate multiple imports of the same package";

impl WorkloadSpec {
    /// The CEL rules runtime-operator v2.7 puts on `hostInterfaces`, for a
    /// spec at `base` (`/spec` or `/spec/template/spec`).
    pub fn rules(&self, base: &str) -> Vec<Violation> {
        let mut out = Vec::new();
        let list = self.host_interfaces.as_deref().unwrap_or_default();
        let named = |h: &HostInterface| h.name.as_deref().is_some_and(|n| !n.is_empty());
        let mut first: BTreeMap<(&str, &str, &str, &str), usize> = BTreeMap::new();
        let mut first_unnamed: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for (i, h) in list.iter().enumerate() {
            let pointer = format!("{base}/hostInterfaces/{i}");
            let key = (
                h.namespace.as_str(),
                h.package.as_str(),
                h.name.as_deref().unwrap_or_default(),
                h.version.as_deref().unwrap_or_default(),
            );
            match first.get(&key) {
                Some(j) => out.push(Violation::error(
                    &pointer,
                    format!("{DUPLICATE_HOST_INTERFACE} (the same as hostInterfaces[{j}])"),
                )),
                None => {
                    first.insert(key, i);
                }
            }
            if !named(h) {
                let package = (h.namespace.as_str(), h.package.as_str());
                match first_unnamed.get(&package) {
                    Some(j) => out.push(Violation::error(
                        &pointer,
                        format!(
                            "{UNNAMED_HOST_INTERFACE} ({}:{} is also unnamed at \
                             hostInterfaces[{j}])",
                            h.namespace, h.package
                        ),
                    )),
                    None => {
                        first_unnamed.insert(package, i);
                    }
                }
            }
        }
        out
    }
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
    /// When the host pulls the image (`Always`, `IfNotPresent`, `Never`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Number of instances kept ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub pool_size: Option<i32>,
    /// Invocations an instance serves before it is replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_invocations: Option<i32>,
    /// Invocations served at the same time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_concurrency: Option<i32>,
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
    /// When the host pulls the image (`Always`, `IfNotPresent`, `Never`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
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
    /// Hosts the component may reach over the network: `*`, or a host with
    /// an optional `*.` prefix, scheme and port (no path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("items" = {"type": "string", "pattern": WASMCLOUD_ALLOWED_HOST}))]
    pub allowed_hosts: Option<Vec<String>>,
    /// Names the component may resolve: `*`, a host name (optionally
    /// `*.`-prefixed) or an IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("items" = {"type": "string", "pattern": WASMCLOUD_IP_NAME_LOOKUP}))]
    pub allowed_ip_name_lookups: Option<Vec<String>>,
    /// Host loopback ports the component may connect to, e.g. `8080` or
    /// `53/udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("items" = {"type": "string", "pattern": WASMCLOUD_LOOPBACK_PORT}))]
    pub allowed_host_loopback_ports: Option<Vec<String>>,
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
    /// Name telling apart several imports of one package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), pattern(WASMCLOUD_INTERFACE_NAME))]
    pub name: Option<String>,
    /// WIT namespace, e.g. `wasi`.
    #[schemars(length(max = 128))]
    pub namespace: String,
    /// WIT package, e.g. `http`.
    #[schemars(length(max = 128))]
    pub package: String,
    /// Interfaces of the package in use, at least one.
    #[schemars(length(min = 1))]
    pub interfaces: Vec<String>,
    /// Package version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
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
    /// Mount read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
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
    /// Number of workloads to keep running; 1 when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 1))]
    pub replicas: Option<i32>,
    /// The workload to replicate.
    pub template: WorkloadReplicaTemplate,
}

impl KindType for WorkloadReplicaSet {
    const GROUP: &'static str = GROUP;
    const VERSION: &'static str = VERSION;
    const KIND: &'static str = "WorkloadReplicaSet";
    const SCOPE: Scope = Scope::Namespaced;
    const UPSTREAM: &'static str = UPSTREAM;

    fn rules(&self) -> Vec<Violation> {
        self.spec.template.spec.rules("/spec/template/spec")
    }
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
    /// Number of workloads to keep running; 1 when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 1))]
    pub replicas: Option<i32>,
    /// The workload to replicate.
    pub template: WorkloadReplicaTemplate,
    /// How a template change is rolled out: `RollingUpdate` (default) or `Recreate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "RollingUpdate"))]
    pub deploy_policy: Option<String>,
    /// Artifacts the template's components may refer to by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<Vec<WorkloadDeploymentArtifact>>,
    /// Kubernetes objects the operator wires to the deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesSpec>,
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
    const UPSTREAM: &'static str = UPSTREAM;

    fn rules(&self) -> Vec<Violation> {
        self.spec.template.spec.rules("/spec/template/spec")
    }
}
