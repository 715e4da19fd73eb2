//! Manifests from directories and files on disk.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{Budget, Limits, SourceFile};
use crate::finding::Finding;

use super::is_manifest_name;

/// Reads every path: a file as it is, a directory recursively (sorted by
/// name, hidden entries skipped, only `.yaml`/`.yml`). A symlink may point
/// anywhere inside the directory given, never outside it. Unreadable and
/// oversized files become findings; nothing stops the walk.
pub fn read_paths(paths: &[PathBuf], limits: &Limits) -> (Vec<SourceFile>, Vec<Finding>) {
    let mut files = Vec::new();
    let mut findings = Vec::new();
    let mut budget = Budget::new(limits);
    for path in paths {
        if budget.exceeded() {
            break;
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
                visited: HashSet::new(),
            };
            walk.dir(path, "");
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
    visited: HashSet<PathBuf>,
}

impl Walk<'_> {
    fn dir(&mut self, dir: &Path, rel: &str) {
        if let Ok(canonical) = dir.canonicalize()
            && !self.visited.insert(canonical)
        {
            return; // a symlink loop
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
                match path.canonicalize() {
                    Ok(target) if target.starts_with(self.root) => {}
                    Ok(target) => {
                        self.findings.push(
                            Finding::error(
                                "load",
                                format!(
                                    "symlink points outside the manifest root ({}); \
                                     mooring only reads files inside the directory it was given",
                                    target.display()
                                ),
                            )
                            .at(display, 1),
                        );
                        continue;
                    }
                    Err(e) => {
                        self.findings.push(
                            Finding::error("load", format!("broken symlink: {e}")).at(display, 1),
                        );
                        continue;
                    }
                }
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                self.dir(&path, &child_rel);
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
