//! What a render reads, as one digest: the cache key of a render is the
//! content of its inputs, so a commit that leaves a folder (and the bases
//! it names) alone renders nothing for it again.
//!
//! Kustomize's default load restrictor lets a kustomization read files
//! under its own folder only; anything outside comes in as another folder
//! it names (a base or a component). So a Kustomize render's inputs are
//! every file under its folder and under each folder it names, followed
//! transitively; a chart's are the files under the chart's folder (values
//! files outside it are refused).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::manifest::Limits;

use super::kustomize::normalize;
use super::roots::Tool;

/// Deepest folder followed.
const MAX_DEPTH: usize = 64;

/// The digest of every file `tool` may read rendering the folder `root`
/// (absolute), or `None` when they cannot all be read within `limits`.
pub fn digest(root: &Path, tool: Tool, limits: &Limits) -> Option<String> {
    let root = normalize(root);
    let mut folders = BTreeSet::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        if !folders.insert(dir.clone()) || folders.len() > 1024 {
            continue;
        }
        if tool != Tool::Kustomize {
            continue;
        }
        let Some((_, entries)) = super::kustomize::kustomization_in(&dir, limits) else {
            continue;
        };
        for entry in entries {
            let local = normalize(&dir.join(&entry));
            if local.is_dir() {
                stack.push(local);
            }
        }
    }
    let mut hash = Sha256::new();
    let mut budget = limits.max_total_bytes;
    for dir in &folders {
        // Relative to the render's folder: two checkouts of the same
        // content give the same digest.
        hash.update(super::relative(&root, dir).as_bytes());
        hash.update([0]);
        let mut files = Vec::new();
        walk(dir, 0, &mut files)?;
        files.sort();
        for file in files {
            let len = std::fs::metadata(&file).ok()?.len();
            budget = budget.checked_sub(len)?;
            let bytes = std::fs::read(&file).ok()?;
            hash.update(file.strip_prefix(dir).ok()?.as_os_str().as_encoded_bytes());
            hash.update([0]);
            hash.update(Sha256::digest(&bytes));
        }
    }
    Some(hex::encode(hash.finalize()))
}

/// Every regular file under `dir`, symlinks followed.
fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        let meta = std::fs::metadata(&path).ok()?;
        if meta.is_dir() {
            walk(&path, depth + 1, out)?;
        } else if meta.is_file() {
            out.push(path);
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn a_render_changes_with_its_base_and_not_with_its_neighbours() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let d = tmp.path();
        write(d, "base/kustomization.yaml", "resources: [a.yaml]\n");
        write(d, "base/a.yaml", "kind: ConfigMap\n");
        write(d, "prod/kustomization.yaml", "resources: [../base]\n");
        write(d, "other/x.yaml", "kind: Secret\n");
        let key = || digest(&d.join("prod"), Tool::Kustomize, &Limits::default());
        let first = key();
        assert!(first.is_some());
        write(d, "other/x.yaml", "kind: Secret\ndata: {}\n");
        assert_eq!(key(), first);
        write(d, "base/a.yaml", "kind: ConfigMap\ndata: {}\n");
        assert_ne!(key(), first);
    }
}
