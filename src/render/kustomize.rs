//! `kustomize build`, with every object's origin.
//!
//! The folder is built through a wrapper kustomization in a private
//! temporary folder that names it as its one resource and asks for
//! `buildMetadata: [originAnnotations]`, so the user's kustomization is
//! never edited, and each object comes back with the file it was written in
//! (or the generator that made it). Those annotations are removed before
//! anything else sees the object.
//!
//! Remote bases and resources are refused before Kustomize runs, unless
//! the source allows them: [`remote_references`] follows the local
//! kustomizations a folder names and reports every entry that is a URL.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::manifest::{Limits, SourceFile, yaml};
use crate::source::checkout::KUSTOMIZATION_NAMES;

use super::roots::references;

/// The annotation Kustomize writes an object's origin into.
pub const ORIGIN: &str = "config.kubernetes.io/origin";

/// Deepest chain of kustomizations followed looking for remote entries.
const MAX_DEPTH: usize = 32;

/// Writes the wrapper kustomization for the folder `target` (absolute)
/// into `wrapper` (absolute), and returns the arguments of the build.
pub fn wrap(wrapper: &Path, target: &Path) -> std::io::Result<Vec<std::ffi::OsString>> {
    // Relative: Kustomize refuses an absolute resource.
    let relative = super::relative(wrapper, target);
    let text = format!(
        "# Written by mooring for one render; removed after it.\nresources:\n- {}\nbuildMetadata: [originAnnotations]\n",
        serde_json::Value::String(relative)
    );
    std::fs::write(wrapper.join("kustomization.yaml"), text)?;
    Ok(vec!["build".into(), wrapper.as_os_str().to_owned()])
}

/// `path`, with `.` and `..` resolved lexically.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// What Kustomize said an object came from.
pub enum Origin {
    /// A resource file, relative to the wrapper.
    Resource(String),
    /// A generator in this kustomization, relative to the wrapper.
    Generator(String),
    /// A remote resource (allowed by the source): shown at the
    /// kustomization.
    Remote,
    Unknown,
}

/// Removes the origin annotation from `value` (and `annotations` when that
/// leaves it empty), and returns what it said.
pub fn take_origin(value: &mut Value) -> Origin {
    let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) else {
        return Origin::Unknown;
    };
    let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) else {
        return Origin::Unknown;
    };
    let text = annotations.remove(ORIGIN);
    if annotations.is_empty() {
        meta.remove("annotations");
    }
    let Some(Value::String(text)) = text else {
        return Origin::Unknown;
    };
    let (docs, _) = yaml::parse_stream(&text, &Limits::default());
    let Some(doc) = docs.into_iter().next() else {
        return Origin::Unknown;
    };
    let field = |k: &str| doc.value.get(k).and_then(Value::as_str).map(str::to_string);
    if field("repo").is_some() {
        Origin::Remote
    } else if let Some(path) = field("path") {
        Origin::Resource(path)
    } else if let Some(path) = field("configuredIn") {
        Origin::Generator(path)
    } else {
        Origin::Unknown
    }
}

/// Whether a kustomization entry names something remote: a URL, an
/// scp-like Git address, or a `host.tld/...` path Kustomize would clone.
fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("git@")
        || entry
            .split('/')
            .next()
            .is_some_and(|host| host.contains('.') && !host.starts_with('.') && entry.contains('/'))
}

/// The kustomization file in `dir` (on disk) and the entries it names
/// under `resources`, `bases` and `components`, or `None` when it has none
/// that can be read.
pub fn kustomization_in(dir: &Path, limits: &Limits) -> Option<(PathBuf, Vec<String>)> {
    let file = KUSTOMIZATION_NAMES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())?;
    let bytes = crate::file::read(&file).ok()?;
    let source = SourceFile {
        path: file.display().to_string(),
        rel: String::new(),
        bytes,
    };
    let entries = references(&source, limits);
    Some((file, entries))
}

/// The remote entries of the kustomization in `dir` (on disk) and of the
/// local kustomizations it names, each with the kustomization naming it.
pub fn remote_references(dir: &Path, limits: &Limits) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut seen = BTreeSet::new();
    let mut stack = vec![(normalize(dir), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        if depth > MAX_DEPTH || !seen.insert(dir.clone()) {
            continue;
        }
        let Some((file, entries)) = kustomization_in(&dir, limits) else {
            continue;
        };
        for entry in entries {
            let local = normalize(&dir.join(&entry));
            if local.exists() {
                if local.is_dir() {
                    stack.push((local, depth + 1));
                }
            } else if is_remote(&entry) {
                found.push((file.clone(), entry));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_entries_and_relative_paths() {
        for remote in [
            "https://github.com/acme/base//deploy?ref=v1",
            "github.com/acme/base/deploy?ref=v1",
            "git@github.com:acme/base.git",
            "https://raw.githubusercontent.com/a/b/main/x.yaml",
        ] {
            assert!(is_remote(remote), "{remote}");
        }
        for local in ["../base", "dep.yaml", "./x/y", "../../apps.d/base"] {
            assert!(!is_remote(local), "{local}");
        }
        assert_eq!(
            super::super::relative(Path::new("/tmp/w1"), Path::new("/repo/apps/prod")),
            "../../repo/apps/prod"
        );
        assert_eq!(
            normalize(Path::new("/tmp/w/../repo/./a")),
            PathBuf::from("/tmp/repo/a")
        );
    }

    #[test]
    fn the_origin_annotation_is_read_and_removed() {
        let mut v = serde_json::json!({"metadata": {"name": "x", "annotations": {
            ORIGIN: "path: ../repo/base/dep.yaml\n"}}});
        assert!(matches!(take_origin(&mut v), Origin::Resource(p) if p == "../repo/base/dep.yaml"));
        assert_eq!(v, serde_json::json!({"metadata": {"name": "x"}}));
        let mut kept = serde_json::json!({"metadata": {"annotations": {"a": "b",
            ORIGIN: "configuredIn: ../k/kustomization.yaml\nconfiguredBy: {kind: ConfigMapGenerator}\n"}}});
        assert!(
            matches!(take_origin(&mut kept), Origin::Generator(p) if p == "../k/kustomization.yaml")
        );
        assert_eq!(
            kept,
            serde_json::json!({"metadata": {"annotations": {"a": "b"}}})
        );
    }
}
