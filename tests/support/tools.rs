//! The real renderers, built from their Go modules by `scripts/tools`
//! (pinned by tools/<name>/go.mod and go.sum): `$MOORING_TEST_KUSTOMIZE`
//! and `$MOORING_TEST_HELM` when `scripts/test` built them already, else
//! built here once per test binary (cached across runs by scripts/tools).

use std::path::PathBuf;
use std::sync::OnceLock;

fn tool(name: &str, var: &str, cell: &'static OnceLock<PathBuf>) -> PathBuf {
    cell.get_or_init(|| {
        if let Some(path) = std::env::var_os(var) {
            return PathBuf::from(path);
        }
        let out = std::process::Command::new(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tools"),
        )
        .args(["build", name])
        .output()
        .unwrap_or_else(|e| panic!("scripts/tools build {name} cannot run: {e}"));
        assert!(
            out.status.success(),
            "scripts/tools build {name} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
    .clone()
}

/// The `kustomize` binary.
pub fn kustomize() -> String {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    tool("kustomize", "MOORING_TEST_KUSTOMIZE", &CELL)
        .display()
        .to_string()
}

/// The `helm` binary (Helm 4).
pub fn helm() -> String {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    tool("helm", "MOORING_TEST_HELM", &CELL)
        .display()
        .to_string()
}

/// The `conftest` binary (with OPA inside), for the policy parity test.
pub fn conftest() -> String {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    tool("conftest", "MOORING_TEST_CONFTEST", &CELL)
        .display()
        .to_string()
}
