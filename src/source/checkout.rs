//! A Git revision written out to a private temporary folder, for the
//! renderers (`kustomize`, `helm`), which read files, not Git objects.
//!
//! The whole commit is written, as Argo CD and Flux hand a whole checkout
//! to Kustomize: an overlay may name a base anywhere in the repository.
//! What is written is bounded by the source's [`Limits`]: a file larger
//! than `max_file_bytes` is left out (a renderer that needs it says the
//! file is missing), and the whole checkout may hold `max_total_bytes`.
//! Symlinks are written as symlinks when they stay inside the checkout,
//! left out otherwise; submodules are left out (their files are another
//! repository's). The folder is removed when the last [`Checkout`] handle
//! is dropped.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use git2::{ObjectType, Oid, Repository, Tree};

use super::{Limits, SourceFile};

/// A tree entry's mode for a symlink, and for an executable file.
const MODE_LINK: i32 = 0o120_000;
const MODE_EXECUTABLE: i32 = 0o100_755;

/// The names that make a folder something to render.
pub const KUSTOMIZATION_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];
pub const CHART_NAME: &str = "Chart.yaml";

/// Whether `file` makes its folder a render: a kustomization or a Helm
/// chart's `Chart.yaml`.
pub fn marks_a_render(file: &SourceFile) -> bool {
    let name = file.path.rsplit('/').next().unwrap_or_default();
    KUSTOMIZATION_NAMES.contains(&name) || name == CHART_NAME
}

/// A revision's files on disk: a commit written out, or a work tree.
#[derive(Debug, Clone)]
pub struct Checkout {
    dir: Arc<Dir>,
    tree: Option<Oid>,
}

#[derive(Debug)]
enum Dir {
    /// Written out by [`write`], removed with the last handle.
    Temporary(tempfile::TempDir),
    /// A work tree, whose files may change: never cached.
    WorkTree(PathBuf),
}

impl Checkout {
    /// A work tree's root, whose `path`s are relative to it.
    pub fn work_tree(root: PathBuf) -> Checkout {
        Checkout {
            dir: Arc::new(Dir::WorkTree(root)),
            tree: None,
        }
    }

    /// The folder holding the revision's root.
    pub fn dir(&self) -> &Path {
        match &*self.dir {
            Dir::Temporary(t) => t.path(),
            Dir::WorkTree(p) => p,
        }
    }

    /// The id of the commit's root tree (equal ids, equal files); `None`
    /// for a work tree.
    pub fn tree(&self) -> Option<Oid> {
        self.tree
    }
}

/// Why a revision could not be written out.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("cannot make a temporary folder: {0}")]
    Temp(#[source] std::io::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path} from Git: {source}")]
    Git {
        path: String,
        #[source]
        source: git2::Error,
    },
    #[error(
        "the repository holds more than {limit} bytes of files (--max-total-bytes), the most \
         a checkout for rendering may hold"
    )]
    TooLarge { limit: u64 },
}

/// Writes the tree `root` of `repo` into a new private temporary folder.
pub fn write(
    repo: &Repository,
    root: &Tree<'_>,
    limits: &Limits,
) -> Result<Checkout, CheckoutError> {
    let dir = tempfile::Builder::new()
        .prefix("mooring-checkout-")
        .tempdir()
        .map_err(CheckoutError::Temp)?;
    let mut used = 0u64;
    write_tree(repo, root, dir.path(), "", limits, &mut used)?;
    Ok(Checkout {
        dir: Arc::new(Dir::Temporary(dir)),
        tree: Some(root.id()),
    })
}

fn write_tree(
    repo: &Repository,
    tree: &Tree<'_>,
    base: &Path,
    folder: &str,
    limits: &Limits,
    used: &mut u64,
) -> Result<(), CheckoutError> {
    for entry in tree {
        let Ok(name) = entry.name() else { continue };
        let path = if folder.is_empty() {
            name.to_string()
        } else {
            format!("{folder}/{name}")
        };
        let on_disk = base.join(&path);
        let git_err = |source| CheckoutError::Git {
            path: path.clone(),
            source,
        };
        let write_err = |source| CheckoutError::Write {
            path: path.clone(),
            source,
        };
        match entry.kind() {
            Some(ObjectType::Tree) => {
                std::fs::create_dir(&on_disk).map_err(write_err)?;
                let sub = repo.find_tree(entry.id()).map_err(git_err)?;
                write_tree(repo, &sub, base, &path, limits, used)?;
            }
            Some(ObjectType::Blob) => {
                let blob = repo.find_blob(entry.id()).map_err(git_err)?;
                let size = blob.size() as u64;
                if entry.filemode() == MODE_LINK {
                    let target = String::from_utf8_lossy(blob.content()).to_string();
                    if stays_inside(folder, &target) {
                        std::os::unix::fs::symlink(&target, &on_disk).map_err(write_err)?;
                    }
                    continue;
                }
                if size > limits.max_file_bytes {
                    continue;
                }
                *used = used.saturating_add(size);
                if *used > limits.max_total_bytes {
                    return Err(CheckoutError::TooLarge {
                        limit: limits.max_total_bytes,
                    });
                }
                std::fs::write(&on_disk, blob.content()).map_err(write_err)?;
                if entry.filemode() == MODE_EXECUTABLE {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&on_disk, std::fs::Permissions::from_mode(0o755))
                        .map_err(write_err)?;
                }
            }
            // Submodules: another repository's files.
            _ => {}
        }
    }
    Ok(())
}

/// Whether a relative link `target` in `folder` resolves inside the root.
fn stays_inside(folder: &str, target: &str) -> bool {
    let target = Path::new(target);
    if target.is_absolute() {
        return false;
    }
    let mut depth: Vec<Component> = Path::new(folder).components().collect();
    for c in target.components() {
        match c {
            Component::Normal(_) => depth.push(c),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// The folder part of a `/`-separated path (empty for a bare name).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

/// `path` under `base`, for a `/`-separated relative `path`.
pub fn on_disk(base: Option<&Path>, path: &str) -> PathBuf {
    match base {
        Some(b) => b.join(path),
        None => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_joins_stay_inside() {
        assert!(stays_inside("a/b", "../c"));
        assert!(stays_inside("", "c/d"));
        assert!(!stays_inside("a", "../../etc"));
        assert!(!stays_inside("a", "/etc/passwd"));
        assert_eq!(parent("a/b/c.yaml"), "a/b");
        assert_eq!(parent("c.yaml"), "");
    }
}
