//! Records the Git commit the binary is built from, for `mooring version`:
//! `MOORING_COMMIT` is the id of the commit checked out, or `unknown`
//! outside a Git work tree (a crate tarball) or when `git` cannot say; a
//! `MOORING_COMMIT` given to the build (a container build without `.git`)
//! wins. Rerun when the checked-out commit moves.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=MOORING_COMMIT");
    if let Ok(given) = std::env::var("MOORING_COMMIT") {
        println!("cargo:rustc-env=MOORING_COMMIT={given}");
        return;
    }
    let commit = git(&["rev-parse", "HEAD"]);
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let reference = std::path::Path::new(&dir).join(&head);
            if reference.exists() {
                println!("cargo:rerun-if-changed={}", reference.display());
            } else {
                println!("cargo:rerun-if-changed={dir}/packed-refs");
            }
        }
    }
    let text = commit.unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=MOORING_COMMIT={text}");
}
