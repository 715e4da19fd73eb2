//! Where the Kubernetes client's configuration comes from, as kubectl
//! finds it: in-cluster, or a kubeconfig file (`targets.kubernetes.kubeconfig`,
//! else every file in `$KUBECONFIG`, else `~/.kube/config`) and a context
//! (`targets.kubernetes.context`, else the file's current-context). Every
//! error names the file and the context.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::KubernetesTarget;
use super::errors::{config, config_from};
use crate::backend::BackendError;

/// The client configuration `target` asks for, and where it came from in
/// words (`context kind-dev of $KUBECONFIG (/home/me/.kube/dev)`).
pub async fn config_for(target: &KubernetesTarget) -> Result<(kube::Config, String), BackendError> {
    if target.in_cluster {
        return kube::Config::incluster()
            .map(|c| (c, "the pod's service account".to_string()))
            .map_err(|e| config_from("in-cluster configuration".to_string(), e));
    }
    let (kubeconfig, shown) = load_kubeconfig(target.kubeconfig.as_deref())?;
    let context = target
        .context
        .clone()
        .or_else(|| kubeconfig.current_context.clone())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            config(format!(
                "kubeconfig {shown} has no current-context: set targets.kubernetes.context"
            ))
        })?;
    if !kubeconfig.contexts.iter().any(|c| c.name == context) {
        let names: Vec<&str> = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let names = if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        };
        return Err(config(format!(
            "kubeconfig {shown} has no context `{context}` (it has: {names})"
        )));
    }
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..KubeConfigOptions::default()
    };
    kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map(|c| (c, format!("context {context} of kubeconfig {shown}")))
        .map_err(|e| config_from(format!("kubeconfig {shown}, context `{context}`"), e))
}

/// Reads the kubeconfig kubectl would: `explicit`, else every file in
/// `$KUBECONFIG` (merged, missing ones skipped), else `~/.kube/config`.
/// Returns it with how to name it in messages.
fn load_kubeconfig(explicit: Option<&Path>) -> Result<(Kubeconfig, String), BackendError> {
    let read = |p: &Path| {
        // Only a regular file: a FIFO named as the kubeconfig would block
        // the read forever.
        crate::file::open(p)
            .map_err(|e| config_from(format!("cannot read kubeconfig {}", p.display()), e))?;
        Kubeconfig::read_from(p)
            .map_err(|e| config_from(format!("cannot read kubeconfig {}", p.display()), e))
    };
    if let Some(p) = explicit {
        return Ok((read(p)?, p.display().to_string()));
    }
    if let Some(env) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let shown = format!("$KUBECONFIG ({})", env.to_string_lossy());
        let mut merged: Option<Kubeconfig> = None;
        for p in std::env::split_paths(&env) {
            if p.as_os_str().is_empty() || !p.exists() {
                continue;
            }
            let next = read(&p)?;
            merged = Some(match merged {
                None => next,
                Some(m) => m
                    .merge(next)
                    .map_err(|e| config_from(format!("cannot merge {shown}"), e))?,
            });
        }
        return merged
            .map(|k| (k, shown.clone()))
            .ok_or_else(|| config(format!("none of the files in {shown} exists")));
    }
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from)
        .ok_or_else(|| {
            config(
                "no kubeconfig: set targets.kubernetes.kubeconfig or KUBECONFIG (no home directory to find ~/.kube/config)"
                    .to_string(),
            )
        })?;
    let path = home.join(".kube").join("config");
    if !path.exists() {
        return Err(config(format!(
            "no kubeconfig: {} does not exist; set targets.kubernetes.kubeconfig or KUBECONFIG, or inCluster: true",
            path.display()
        )));
    }
    Ok((read(&path)?, path.display().to_string()))
}
