//! Manifests from directories and files on disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::exclude::{self, IGNORE_FILE, Rules};
use super::walk::{self, MAX_DEPTH};
use super::{Budget, Exclude, Limits, SourceFile};
use crate::finding::Finding;

use super::is_manifest_name;

/// Reads every path: a file as it is, a directory recursively (sorted by
/// name, hidden entries skipped, only `.yaml`/`.yml`/`.json`), by the rules
/// of [`walk`], which Git mode keeps too: a symlink may point anywhere
/// inside the directory given, never outside it; a folder is read once,
/// down to [`MAX_DEPTH`]. What `exclude` and the `.mooringignore` files of
/// the directory leave out is not read (a file named on its own is matched
/// by its name against `exclude`). Unreadable and oversized files become
/// findings; nothing stops the walk.
pub fn read_paths(
    paths: &[PathBuf],
    limits: &Limits,
    exclude: &Exclude,
) -> (Vec<SourceFile>, Vec<Finding>) {
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
                rules: Rules::new(exclude),
            };
            walk.dir(path, "", 0);
            continue;
        }
        let rel = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| display.clone());
        if Rules::new(exclude).excluded(&rel, false) {
            continue;
        }
        if let Some(what) = crate::file::special_kind(&meta) {
            findings.push(not_regular(&display, what));
        } else if let Some(f) = read_file(
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
    /// What is left out here.
    rules: Rules<'a>,
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
        let mark = self.rules.mark();
        self.ignore_file(dir, rel);
        self.entries(entries, rel, depth);
        self.rules.restore(mark);
    }

    /// Puts the `.mooringignore` of the folder `dir` (`rel` below the root)
    /// in force, when it has one.
    fn ignore_file(&mut self, dir: &Path, rel: &str) {
        let path = dir.join(IGNORE_FILE);
        let shown = path.display().to_string();
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                self.findings.push(
                    Finding::error("load", format!("cannot read {IGNORE_FILE}: {e}")).at(shown, 1),
                );
                return;
            }
        };
        let what = if meta.file_type().is_symlink() {
            Some("a symlink")
        } else if meta.is_dir() {
            Some("a folder")
        } else {
            crate::file::special_kind(&meta)
        };
        if let Some(what) = what {
            self.findings.push(exclude::not_a_file(&shown, what));
            return;
        }
        if meta.len() > self.limits.max_file_bytes {
            self.findings.push(exclude::too_large(
                &shown,
                meta.len(),
                self.limits.max_file_bytes,
            ));
            return;
        }
        match crate::file::read(&path) {
            Ok(bytes) => self.rules.enter(rel, &shown, &bytes, self.findings),
            Err(e) => self.findings.push(
                Finding::error("load", format!("cannot read {IGNORE_FILE}: {e}")).at(shown, 1),
            ),
        }
    }

    /// Reads the `entries` of the folder `rel`, `depth` folders down.
    fn entries(&mut self, entries: Vec<std::fs::DirEntry>, rel: &str, depth: usize) {
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
            // A link is a folder when its target is one (if it has any).
            let meta = std::fs::metadata(&path);
            let is_dir = meta.as_ref().is_ok_and(|m| m.is_dir());
            if self.rules.excluded(&child_rel, is_dir) {
                continue;
            }
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
            let meta = match meta {
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
        read_excluding(root, &[])
    }

    /// [`read`], with `--exclude` patterns.
    fn read_excluding(root: &Path, patterns: &[&str]) -> (Vec<String>, Vec<String>) {
        let exclude = Exclude::new(patterns).expect("patterns");
        let (files, findings) = read_paths(&[root.to_path_buf()], &Limits::default(), &exclude);
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

    #[test]
    fn json_files_are_manifests_and_ignore_files_and_patterns_leave_files_out() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("deploy");
        for rel in [
            "cm.yaml",
            "cm.json",
            "notes.txt",
            "values.yaml",
            "charts/web/templates/cm.yaml",
            "apps/values.yaml",
            "apps/keep/values.yaml",
            "apps/local.json",
            "apps/web/local.json",
            "generated/a.yaml",
            "generated/b.json",
        ] {
            write(&root, rel);
        }
        // The root's file holds for every folder; apps' only below apps.
        std::fs::write(root.join(IGNORE_FILE), "# Helm\nvalues.yaml\ncharts/\n").expect("write");
        std::fs::write(
            root.join("apps").join(IGNORE_FILE),
            "/local.json\n!keep/values.yaml\n",
        )
        .expect("write");
        let (files, findings) = read_excluding(&root, &["generated/*.json"]);
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(
            files,
            [
                "apps/keep/values.yaml",
                "apps/web/local.json",
                "cm.json",
                "cm.yaml",
                "generated/a.yaml",
            ]
        );
        // --exclude decides before the files: it takes nothing back here,
        // and leaves out what they keep.
        let (files, _) = read_excluding(&root, &["keep/", "*.json"]);
        assert_eq!(files, ["cm.yaml", "generated/a.yaml"]);
    }

    #[test]
    fn an_excluded_link_is_not_reported_and_a_linked_ignore_file_is() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("deploy");
        write(&root, "cm.yaml");
        symlink("../outside", root.join("vendor")).expect("link");
        std::fs::write(root.join("real-ignore"), "vendor\n").expect("write");
        let (_, findings) = read(&root);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(findings[0].starts_with("R/vendor:1: broken symlink"));
        let (files, findings) = read_excluding(&root, &["vendor"]);
        assert_eq!(files, ["cm.yaml"]);
        assert!(findings.is_empty(), "{findings:?}");
        symlink("real-ignore", root.join(IGNORE_FILE)).expect("link");
        let (_, findings) = read(&root);
        assert_eq!(
            findings[0],
            "R/.mooringignore:1: .mooringignore is a symlink, not a file: not read, nothing in \
             it is left out; write the patterns into a file of this folder"
        );
    }

    #[test]
    fn a_file_named_on_its_own_is_matched_by_its_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(dir.path(), "values.yaml");
        let path = dir.path().join("values.yaml");
        let none = Exclude::default();
        let (files, _) = read_paths(std::slice::from_ref(&path), &Limits::default(), &none);
        assert_eq!(files.len(), 1);
        let exclude = Exclude::new(["values.yaml"]).expect("pattern");
        let (files, findings) = read_paths(&[path], &Limits::default(), &exclude);
        assert!(files.is_empty() && findings.is_empty());
    }
}
