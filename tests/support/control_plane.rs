//! A real control plane owned by this process: `scripts/kube-apiserver up`
//! into a new temporary folder (building `testenv/` first if needed), which
//! stops and removes itself once this process exits. Shared by the tests'
//! fixture (`kube_target`) and the benchmarks (`benches/support/real_kube.rs`,
//! through `#[path]`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Starts one and returns its kubeconfig (context `mooring-testenv`), or
/// says why it could not (no Go, a failed build or start).
pub fn start_owned(prefix: &str) -> Result<PathBuf, String> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| format!("creating a temporary folder: {e}"))?
        .keep();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kube-apiserver");
    let out = Command::new(&script)
        .arg("up")
        .arg(&dir)
        .env("MOORING_KUBE_OWNER_PID", std::process::id().to_string())
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`{} up {}` failed ({}): {}{}",
            script.display(),
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(dir.join("kubeconfig"))
}
