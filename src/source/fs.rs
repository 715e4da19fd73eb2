//! Manifests from directories and files on disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::walk::{self, MAX_DEPTH};
use super::{Budget, Limits, SourceFile};
use crate::finding::Finding;

use super::is_manifest_name;

/// Reads every path: a file as it is, a directory recursively (sorted by
/// name, hidden entries skipped, only `.yaml`/`.yml`), by the rules of
/// [`walk`], which Git mode keeps too: a symlink may point anywhere inside
/// the directory given, never outside it; a folder is read once, down to
/// [`MAX_DEPTH`]. Unreadable and oversized files become findings; nothing
/// stops the walk.
pub fn read_paths(paths: &[PathBuf], limits: &Limits) -> (Vec<SourceFile>, Vec<Finding>) {
    let mut files = Vec::new();
    let mut findings = Vec::new();
    let mut budget = Budget::new(limits);
    for path in paths {
        if budget.exceeded() {
            break;
        }
        if path.as_os_str() == super::STDIN {
            files.extend(read_stdin(limits, &mut budget, &mut findings));
            continue;
        }
        let display = path.display().to_string();
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                findings.push(Finding::error(
                    "load",
                    format!("cannot read {display}: {e}"),
                ));
                continue;
            }
        };
        if meta.is_dir() {
            let root = match path.canonicalize() {
                Ok(r) => r,
                Err(e) => {
                    findings.push(Finding::error(
                        "load",
                        format!("cannot read {display}: {e}"),
                    ));
                    continue;
                }
            };
            let mut walk = Walk {
                root: &root,
                limits,
                files: &mut files,
                findings: &mut findings,
                budget: &mut budget,
                read: HashMap::new(),
            };
            walk.dir(path, "", 0);
        } else if let Some(what) = crate::file::special_kind(&meta) {
            findings.push(not_regular(&display, what));
        } else {
            let rel = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| display.clone());
            if let Some(f) = read_file(
                path,
                &display,
                rel,
                meta.len(),
                limits,
                &mut budget,
                &mut findings,
            ) {
                files.push(f);
            }
        }
    }
    findings.extend(budget.finding());
    (files, findings)
}

struct Walk<'a> {
    root: &'a Path,
    limits: &'a Limits,
    files: &'a mut Vec<SourceFile>,
    findings: &'a mut Vec<Finding>,
    budget: &'a mut Budget,
    /// Each folder read (canonical path), with the path it was shown under.
    read: HashMap<PathBuf, String>,
}

impl Walk<'_> {
    /// Reads the folder `dir`, `rel` below the root and `depth` folders
    /// down.
    fn dir(&mut self, dir: &Path, rel: &str, depth: usize) {
        let shown = dir.display().to_string();
        if depth > MAX_DEPTH {
            self.findings.push(walk::too_deep(&shown));
            return;
        }
        if let Ok(canonical) = dir.canonicalize() {
            if let Some(first) = self.read.get(&canonical) {
                // Reached again through a link (or a loop of links).
                self.findings.push(walk::already_read(&shown, first));
                return;
            }
            self.read.insert(canonical, shown);
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                self.findings.push(Finding::error(
                    "load",
                    format!("cannot read directory {}: {e}", dir.display()),
                ));
                return;
            }
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            if self.budget.exceeded() {
                return;
            }
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let display = path.display().to_string();
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let Ok(link_meta) = entry.file_type() else {
                continue;
            };
            if link_meta.is_symlink() {
                let text = std::fs::read_link(&path)
                    .map(|t| t.display().to_string())
                    .unwrap_or_default();
                let finding = match path.canonicalize() {
                    Ok(target) if target.starts_with(self.root) => None,
                    Ok(_) => Some(walk::link_outside(&display, &text)),
                    Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                        Some(walk::link_loop(&display, &text))
                    }
                    Err(_) => Some(walk::link_broken(&display, &text)),
                };
                if let Some(f) = finding {
                    self.findings.push(f);
                    continue;
                }
            }
            let meta = match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    self.findings.push(
                        Finding::error("load", format!("cannot read {display}: {e}"))
                            .at(display, 1),
                    );
                    continue;
                }
            };
            if meta.is_dir() {
                if is_manifest_name(&name) {
                    self.findings
                        .push(walk::folder_named_like_a_manifest(&display));
                }
                self.dir(&path, &child_rel, depth + 1);
            } else if is_manifest_name(&name)
                && let Some(what) = crate::file::special_kind(&meta)
            {
                self.findings.push(not_regular(&display, what));
            } else if is_manifest_name(&name)
                && let Some(f) = read_file(
                    &path,
                    &display,
                    child_rel,
                    meta.len(),
                    self.limits,
                    self.budget,
                    self.findings,
                )
            {
                self.files.push(f);
            }
        }
    }
}

/// A FIFO, socket or device named like a manifest: never opened (reading a
/// FIFO blocks until something writes to it), always reported.
fn not_regular(display: &str, what: &str) -> Finding {
    Finding::error(
        "load",
        format!("{what}, not a regular file: not read; mooring reads only regular files"),
    )
    .at(display, 1)
}

/// Standard input, read whole (at most the file size limit and the run's
/// budget) as one file shown as `<stdin>`.
fn read_stdin(
    limits: &Limits,
    budget: &mut Budget,
    findings: &mut Vec<Finding>,
) -> Option<SourceFile> {
    use std::io::Read;
    const SHOWN: &str = "<stdin>";
    let mut bytes = Vec::new();
    let cap = limits.max_file_bytes.saturating_add(1);
    if let Err(e) = std::io::stdin().lock().take(cap).read_to_end(&mut bytes) {
        findings
            .push(Finding::error("load", format!("cannot read standard input: {e}")).at(SHOWN, 1));
        return None;
    }
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if len > limits.max_file_bytes {
        findings.push(
            Finding::error(
                "load",
                format!(
                    "standard input is over the {} byte limit for a manifest file",
                    limits.max_file_bytes
                ),
            )
            .at(SHOWN, 1),
        );
        return None;
    }
    if !budget.admit(SHOWN, len) {
        return None;
    }
    Some(SourceFile {
        path: SHOWN.to_string(),
        rel: SHOWN.to_string(),
        bytes,
    })
}

fn read_file(
    path: &Path,
    display: &str,
    rel: String,
    len: u64,
    limits: &Limits,
    budget: &mut Budget,
    findings: &mut Vec<Finding>,
) -> Option<SourceFile> {
    if len > limits.max_file_bytes {
        findings.push(
            Finding::error(
                "load",
                format!(
                    "file is {len} bytes, over the {} byte limit for a manifest file",
                    limits.max_file_bytes
                ),
            )
            .at(display, 1),
        );
        return None;
    }
    if !budget.admit(display, len) {
        return None;
    }
    match crate::file::read(path) {
        Ok(bytes) => Some(SourceFile {
            path: display.to_string(),
            rel,
            bytes,
        }),
        Err(e) => {
            findings.push(Finding::error("load", format!("cannot read file: {e}")).at(display, 1));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const CM: &str = "kind: ConfigMap\n";

    /// Reads `root`; the files' rel paths and the findings as lines, with
    /// `root` shown as `R`.
    fn read(root: &Path) -> (Vec<String>, Vec<String>) {
        let (files, findings) = read_paths(&[root.to_path_buf()], &Limits::default());
        let shown = root.display().to_string();
        (
            files.into_iter().map(|f| f.rel).collect(),
            findings
                .iter()
                .map(|f| f.to_string().replace(&shown, "R"))
                .collect(),
        )
    }

    fn write(root: &Path, rel: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, CM).expect("write");
    }

    #[test]
    fn links_inside_are_followed_and_a_folder_is_read_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("deploy");
        write(&root, ".shared/apps/cm.yaml");
        write(&root, "x.yaml/cm.yaml");
        symlink(".shared/apps", root.join("apps")).expect("link");
        symlink("apps", root.join("chain")).expect("link");
        symlink("..", root.join("x.yaml/up")).expect("link");
        let (files, findings) = read(&root);
        assert_eq!(files, ["apps/cm.yaml", "x.yaml/cm.yaml"]);
        assert_eq!(
            findings,
            [
                "R/chain:1: warning: symlink to a folder already read as R/apps: its files are \
                 read once, under that name",
                "R/x.yaml:1: warning: a folder named like a manifest file: read as a folder \
                 (the files in it), not as one file",
                "R/x.yaml/up:1: warning: symlink to a folder already read as R: its files are \
                 read once, under that name",
            ]
        );
    }

    #[test]
    fn links_outside_broken_or_looping_are_errors_naming_the_target() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("deploy");
        write(dir.path(), "base/cm.yaml");
        std::fs::create_dir_all(&root).expect("mkdir");
        symlink("../base", root.join("apps")).expect("link");
        symlink("missing.yaml", root.join("gone.yaml")).expect("link");
        symlink("loop", root.join("loop")).expect("link");
        let (files, findings) = read(&root);
        assert!(files.is_empty(), "{files:?}");
        assert_eq!(findings.len(), 3, "{findings:#?}");
        assert!(findings[0].starts_with("R/apps:1: symlink to ../base points outside"));
        assert!(findings[1].starts_with("R/gone.yaml:1: broken symlink to missing.yaml"));
        assert!(findings[2].starts_with("R/loop:1: symlink to loop passes through more than 40"));
    }

    #[test]
    fn folders_below_the_depth_limit_are_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("deploy");
        write(&root, &format!("{}cm.yaml", "n/".repeat(MAX_DEPTH)));
        write(&root, &format!("{}cm.yaml", "n/".repeat(MAX_DEPTH + 1)));
        let (files, findings) = read(&root);
        assert_eq!(files, [format!("{}cm.yaml", "n/".repeat(MAX_DEPTH))]);
        assert_eq!(
            findings,
            [format!(
                "R/{}n:1: folder is nested deeper than the 64 folders mooring reads: its \
                 files are not read",
                "n/".repeat(MAX_DEPTH)
            )]
        );
    }
}
