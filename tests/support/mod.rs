//! Helpers shared by the integration tests: run the real binary, write files.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::Path;
use std::process::Command;

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `mooring` binary with `args`, in `cwd` (default: the crate root).
pub fn mooring(args: &[&str], cwd: Option<&Path>) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_mooring"))
        .args(args)
        .current_dir(cwd.unwrap_or(Path::new(env!("CARGO_MANIFEST_DIR"))))
        .env_remove("RUST_LOG")
        .output()
        .expect("the mooring binary runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}
