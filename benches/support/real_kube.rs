//! A real kube-apiserver (with etcd) for a benchmark, next to the emulator:
//! one of its own, started with `scripts/kube-apiserver up` into a temporary
//! folder (built from `testenv/` first if needed), which stops and removes
//! itself when the benchmark's process exits. The emulator's figures are
//! mooring's own cost; the real server's are what users see.

use std::path::PathBuf;
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;

#[path = "../../tests/support/control_plane.rs"]
mod control_plane;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The control plane's kubeconfig and its one context.
pub struct RealKube {
    pub kubeconfig: PathBuf,
    pub context: String,
}

/// Starts the control plane, or says why it cannot (no Go, a failed build).
pub fn start() -> Result<RealKube> {
    Ok(RealKube {
        kubeconfig: control_plane::start_owned("mooring-bench-kube-")?,
        context: "mooring-testenv".into(),
    })
}

/// Stops the control plane and removes its folder (`scripts/kube-apiserver
/// down`), so that the next count starts from an empty store.
impl Drop for RealKube {
    fn drop(&mut self) {
        if let Some(dir) = self.kubeconfig.parent() {
            let script =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kube-apiserver");
            let _ = std::process::Command::new(script)
                .arg("down")
                .arg(dir)
                .env("MOORING_KUBE_STOP_GRACE", "5")
                .output();
        }
    }
}

impl RealKube {
    async fn client(&self) -> Result<kube::Client> {
        let config = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        let options = kube::config::KubeConfigOptions {
            context: Some(self.context.clone()),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(config, &options).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// Installs mooring's CRD for `kind` (what `mooring crds --kind` prints)
    /// and waits until discovery serves it.
    pub async fn install_crd(&self, api_version: &str, kind: &str) -> Result<()> {
        let info = mooring::kinds::find(api_version, kind)
            .ok_or_else(|| format!("mooring has no kind {api_version} {kind}"))?;
        let crd = mooring::kinds::crd::crd(info);
        let client = self.client().await?;
        let resource = ApiResource {
            group: "apiextensions.k8s.io".into(),
            version: "v1".into(),
            api_version: "apiextensions.k8s.io/v1".into(),
            kind: "CustomResourceDefinition".into(),
            plural: "customresourcedefinitions".into(),
        };
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let name = crd["metadata"]["name"]
            .as_str()
            .ok_or("the generated CRD has no name")?
            .to_string();
        api.patch(
            &name,
            &PatchParams::apply("mooring-bench").force(),
            &Patch::Apply(&crd),
        )
        .await?;
        for _ in 0..300 {
            if kube::discovery::group(&client, info.group)
                .await
                .ok()
                .and_then(|g| g.recommended_kind(kind))
                .is_some()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("{name} is not served after 30 s").into())
    }
}
