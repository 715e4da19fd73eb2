//! What a Kubernetes target is configured with: the `targets.kubernetes`
//! section of `mooring.yaml` (which embeds this type), or the
//! `--kubeconfig`/`--context` flags.

use std::path::PathBuf;

use serde::Deserialize;

/// A Kubernetes cluster.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubernetesTarget {
    /// kubeconfig file [default: $KUBECONFIG, then ~/.kube/config].
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context [default: the file's current-context].
    #[serde(default)]
    pub context: Option<String>,
    /// Use the pod's service account instead of a kubeconfig.
    #[serde(default)]
    pub in_cluster: bool,
    /// Server-side apply field manager.
    #[serde(default = "default_field_manager")]
    pub field_manager: String,
    /// Take fields owned by other managers instead of reporting a conflict.
    #[serde(default)]
    pub force_conflicts: bool,
    /// With `forceConflicts`: the managers whose fields a heal hands to
    /// mooring first, so that what Git no longer declares is removed (as
    /// Flux's `ssa` does).
    #[serde(default = "default_take_over_managers")]
    pub take_over_managers: Vec<String>,
    /// Namespace of each source's inventory: the ApplySet parent Secret
    /// `mooring-<source name>` that records what the source applied (it
    /// must exist; `default` always does).
    #[serde(default = "default_inventory_namespace")]
    pub inventory_namespace: String,
}

impl Default for KubernetesTarget {
    fn default() -> Self {
        KubernetesTarget {
            kubeconfig: None,
            context: None,
            in_cluster: false,
            field_manager: default_field_manager(),
            force_conflicts: false,
            take_over_managers: default_take_over_managers(),
            inventory_namespace: default_inventory_namespace(),
        }
    }
}

fn default_field_manager() -> String {
    "mooring".to_string()
}

fn default_take_over_managers() -> Vec<String> {
    super::takeover::DEFAULT_MANAGERS
        .iter()
        .map(|m| m.to_string())
        .collect()
}

fn default_inventory_namespace() -> String {
    "default".to_string()
}
