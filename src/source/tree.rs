//! The manifests of one folder of a commit's tree, read from the object
//! database by the rules a work tree is read by ([`super::walk`]), so that
//! `--repo` and the daemon see what `mooring validate` of a checkout sees:
//! symlinks to files and folders inside the folder are followed (through
//! chains of links, [`MAX_LINK_HOPS`] at most), any other is an error;
//! hidden entries are skipped, and so is what the source's exclude patterns
//! and the commit's own `.mooringignore` files leave out ([`super::exclude`]).
//! What a checkout would not show the same way
//! is reported, never passed over: a submodule (its files are another
//! repository's, not in this commit), a folder too deep, a name that is not
//! UTF-8.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use git2::{ErrorCode, ObjectType, Oid, Repository, Tree};

use super::error::git;
use super::exclude::{self, IGNORE_FILE, Rules};
use super::walk::{self, MAX_DEPTH, MAX_LINK_HOPS};
use super::{Budget, Exclude, Limits, SourceError, SourceFile, is_manifest_name};
use crate::finding::Finding;

/// A tree entry's mode for a symlink; its blob holds the target.
const MODE_LINK: i32 = 0o120_000;

/// Tree entry modes of files.
const MODE_FILE: i32 = 0o100_644;
const MODE_EXECUTABLE: i32 = 0o100_755;

/// What a path of a commit's tree leads to, its symlinks followed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A file, at its real path (one without links).
    Blob { real: String, id: Oid },
    /// A folder, at its real path (empty for the root).
    Tree { real: String, id: Oid },
    /// A submodule, or a path into one.
    Submodule { real: String },
    /// Nothing: a name that does not exist, or a file used as a folder.
    Missing,
    /// Above the repository's root, or an absolute path.
    Outside,
    /// More than [`MAX_LINK_HOPS`] links.
    Loop,
}

fn join(folder: &str, name: &str) -> String {
    if folder.is_empty() {
        name.to_string()
    } else {
        format!("{folder}/{name}")
    }
}

/// The entry at `path` (a real path: no link in it) of `root`, or `None`.
fn entry_at(root: &Tree<'_>, path: &str) -> Result<Option<git2::TreeEntry<'static>>, SourceError> {
    match root.get_path(Path::new(path)) {
        Ok(e) => Ok(Some(e)),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(SourceError::Git {
            context: format!("cannot read {path}"),
            cause: e,
        }),
    }
}

/// The text of the symlink whose blob is `id`.
fn link_text(repo: &Repository, id: Oid, shown: &str) -> Result<String, SourceError> {
    let blob = repo
        .find_blob(id)
        .map_err(git(format!("cannot read {shown}")))?;
    Ok(String::from_utf8_lossy(blob.content()).into_owned())
}

/// Resolves `path` against the real folder `folder` of `root` as a file
/// system resolves a path: component by component, a symlink's target read
/// against the folder the link is in; `hops` counts the links passed.
fn lookup(
    repo: &Repository,
    root: &Tree<'_>,
    folder: &str,
    path: &str,
    hops: &mut usize,
) -> Result<Target, SourceError> {
    if path.starts_with('/') {
        return Ok(Target::Outside);
    }
    let mut parts: Vec<String> = folder
        .split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    let mut queue: VecDeque<String> = path.split('/').map(str::to_string).collect();
    while let Some(part) = queue.pop_front() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                if parts.pop().is_none() {
                    return Ok(Target::Outside);
                }
                continue;
            }
            _ => {}
        }
        let here = join(&parts.join("/"), &part);
        let Some(entry) = entry_at(root, &here)? else {
            return Ok(Target::Missing);
        };
        if entry.filemode() == MODE_LINK {
            *hops += 1;
            if *hops > MAX_LINK_HOPS {
                return Ok(Target::Loop);
            }
            let text = link_text(repo, entry.id(), &here)?;
            if text.starts_with('/') {
                return Ok(Target::Outside);
            }
            // The link's target replaces it; `parts` stays the link's folder.
            for p in text.split('/').rev() {
                queue.push_front(p.to_string());
            }
            continue;
        }
        let rest_is_empty = queue.iter().all(|p| p.is_empty() || p == ".");
        match entry.kind() {
            Some(ObjectType::Tree) => parts.push(part),
            Some(ObjectType::Blob) if rest_is_empty => {
                return Ok(Target::Blob {
                    real: here,
                    id: entry.id(),
                });
            }
            Some(ObjectType::Commit) => return Ok(Target::Submodule { real: here }),
            _ => return Ok(Target::Missing),
        }
    }
    let real = parts.join("/");
    let id = if real.is_empty() {
        root.id()
    } else {
        match entry_at(root, &real)? {
            Some(e) => e.id(),
            None => return Ok(Target::Missing),
        }
    };
    Ok(Target::Tree { real, id })
}

/// Whether `path` (repository-relative, links followed) names anything in
/// `root`: a file, a folder, or something [`read`] reports (a link leaving
/// the repository, a submodule).
pub(super) fn exists(repo: &Repository, root: &Tree<'_>, path: &str) -> Result<bool, SourceError> {
    if climbs(path) {
        return Ok(false);
    }
    Ok(lookup(repo, root, "", path, &mut 0)? != Target::Missing)
}

/// Whether a configured path names `..`: paths in a repository are written
/// from its root, so there is no such folder (a symlink's target may climb).
fn climbs(path: &str) -> bool {
    path.split('/').any(|p| p == "..")
}

/// The files read, and the findings about what was not.
pub(super) type Files = (Vec<SourceFile>, Vec<Finding>);

/// Reads the manifests under `subdir` (repository-relative, without
/// leading or trailing `/`; empty for the whole tree) of `root`, reported
/// under repository-relative paths as the configuration names them,
/// without what `exclude` and the tree's `.mooringignore` files leave out
/// (a file named on its own is matched by its name against `exclude`).
/// `None` when `subdir` does not exist.
pub(super) fn read(
    repo: &Repository,
    root: &Tree<'_>,
    subdir: &str,
    limits: &Limits,
    exclude: &Exclude,
) -> Result<Option<Files>, SourceError> {
    let mut reader = Reader {
        repo,
        root,
        base: String::new(),
        prefix: String::new(),
        shown_root: if subdir.is_empty() { "." } else { subdir }.to_string(),
        limits,
        budget: Budget::new(limits),
        files: Vec::new(),
        findings: Vec::new(),
        read: BTreeMap::new(),
        rules: Rules::new(exclude),
    };
    if climbs(subdir) {
        return Ok(None);
    }
    let mut hops = 0;
    match lookup(repo, root, "", subdir, &mut hops)? {
        Target::Missing => return Ok(None),
        Target::Tree { real, id } => {
            reader.base = real.clone();
            if !subdir.is_empty() {
                reader.prefix = format!("{subdir}/");
            }
            reader.folder(&real, id, "", 0)?;
        }
        Target::Blob { id, .. } => {
            // One file, named by the configuration: read whatever its name.
            let name = subdir.rsplit('/').next().unwrap_or(subdir);
            if !reader.rules.excluded(name, false) {
                reader.file(subdir.to_string(), name.to_string(), id)?;
            }
        }
        Target::Submodule { real } => reader.findings.push(submodule_source(subdir, &real)),
        Target::Outside => reader.findings.push(
            Finding::error(
                "load",
                "the source path is a symlink that leaves the repository: nothing is read",
            )
            .at(subdir, 1),
        ),
        Target::Loop => reader.findings.push(walk::link_loop(subdir, subdir)),
    }
    reader.findings.extend(reader.budget.finding());
    Ok(Some((reader.files, reader.findings)))
}

/// The source path is a submodule, or inside one.
fn submodule_source(subdir: &str, real: &str) -> Finding {
    Finding::error(
        "load",
        format!(
            "the source path is in the submodule {real}, whose files are another \
             repository's and not in this commit: nothing is read; point the source \
             at that repository"
        ),
    )
    .at(subdir, 1)
}

struct Reader<'a> {
    repo: &'a Repository,
    /// The commit's root tree: links are resolved in it.
    root: &'a Tree<'a>,
    /// The real path of the folder read: links must stay inside it.
    base: String,
    /// What paths are shown under: the folder as configured, and `/`.
    prefix: String,
    /// How the folder read is shown itself.
    shown_root: String,
    limits: &'a Limits,
    budget: Budget,
    files: Vec<SourceFile>,
    findings: Vec<Finding>,
    /// Each folder read (real path), with the path it was shown under.
    read: BTreeMap<String, String>,
    /// What is left out here.
    rules: Rules<'a>,
}

impl Reader<'_> {
    fn shown(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.shown_root.clone()
        } else {
            format!("{}{rel}", self.prefix)
        }
    }

    /// Whether the real path `real` is inside the folder read.
    fn inside(&self, real: &str) -> bool {
        self.base.is_empty()
            || real == self.base
            || real
                .strip_prefix(self.base.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// Reads the folder `id` at the real path `real`, shown as `rel`, at
    /// `depth` below the folder read.
    fn folder(&mut self, real: &str, id: Oid, rel: &str, depth: usize) -> Result<(), SourceError> {
        let shown = self.shown(rel);
        if depth > MAX_DEPTH {
            self.findings.push(walk::too_deep(&shown));
            return Ok(());
        }
        if let Some(first) = self.read.get(real) {
            self.findings.push(walk::already_read(&shown, first));
            return Ok(());
        }
        self.read.insert(real.to_string(), shown.clone());
        let tree = self
            .repo
            .find_tree(id)
            .map_err(git(format!("cannot read {shown}")))?;
        let mut entries: Vec<_> = tree.iter().collect();
        entries.sort_by(|a, b| a.name_bytes().cmp(b.name_bytes()));
        let mark = self.rules.mark();
        let read = self
            .ignore_file(&tree, rel)
            .and_then(|()| self.entries(entries, real, rel, depth));
        self.rules.restore(mark);
        read
    }

    /// Puts the `.mooringignore` of the folder `tree` (`rel` below the
    /// folder read) in force, when it has one: from the commit, never from
    /// a work tree.
    fn ignore_file(&mut self, tree: &Tree<'_>, rel: &str) -> Result<(), SourceError> {
        let Some(entry) = tree.get_name(IGNORE_FILE) else {
            return Ok(());
        };
        let shown = self.shown(&join(rel, IGNORE_FILE));
        let what = match (entry.filemode(), entry.kind()) {
            (MODE_FILE | MODE_EXECUTABLE, Some(ObjectType::Blob)) => None,
            (MODE_LINK, _) => Some("a symlink"),
            (_, Some(ObjectType::Tree)) => Some("a folder"),
            (_, Some(ObjectType::Commit)) => Some("a submodule"),
            _ => Some("an entry Git does not store in a tree"),
        };
        if let Some(what) = what {
            self.findings.push(exclude::not_a_file(&shown, what));
            return Ok(());
        }
        let (size, _) = self
            .repo
            .odb()
            .and_then(|odb| odb.read_header(entry.id()))
            .map_err(git(format!("cannot read {shown}")))?;
        let size = size as u64;
        if size > self.limits.max_file_bytes {
            self.findings
                .push(exclude::too_large(&shown, size, self.limits.max_file_bytes));
            return Ok(());
        }
        let blob = self
            .repo
            .find_blob(entry.id())
            .map_err(git(format!("cannot read {shown}")))?;
        self.rules
            .enter(rel, &shown, blob.content(), &mut self.findings);
        Ok(())
    }

    /// Reads the `entries` of the folder at the real path `real`, shown as
    /// `rel`, `depth` below the folder read.
    fn entries(
        &mut self,
        entries: Vec<git2::TreeEntry<'_>>,
        real: &str,
        rel: &str,
        depth: usize,
    ) -> Result<(), SourceError> {
        for entry in entries {
            if self.budget.exceeded() {
                return Ok(());
            }
            let Ok(name) = entry.name() else {
                let lossy = String::from_utf8_lossy(entry.name_bytes()).into_owned();
                if !lossy.starts_with('.') {
                    self.findings.push(
                        Finding::error("load", "the name is not UTF-8: not read")
                            .at(self.shown(&join(rel, &lossy)), 1),
                    );
                }
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let child_rel = join(rel, name);
            let child_real = join(real, name);
            if entry.filemode() == MODE_LINK {
                self.link(real, &child_rel, name, entry.id(), depth)?;
                continue;
            }
            // A submodule is a folder in a checkout.
            let is_dir = matches!(entry.kind(), Some(ObjectType::Tree | ObjectType::Commit));
            if self.rules.excluded(&child_rel, is_dir) {
                continue;
            }
            match entry.kind() {
                Some(ObjectType::Tree) => {
                    if is_manifest_name(name) {
                        let shown = self.shown(&child_rel);
                        self.findings
                            .push(walk::folder_named_like_a_manifest(&shown));
                    }
                    self.folder(&child_real, entry.id(), &child_rel, depth + 1)?;
                }
                Some(ObjectType::Blob) if is_manifest_name(name) => {
                    self.file(self.shown(&child_rel), child_rel, entry.id())?;
                }
                Some(ObjectType::Blob) => {}
                Some(ObjectType::Commit) => {
                    let shown = self.shown(&child_rel);
                    self.findings.push(submodule(&shown));
                }
                _ => {
                    let shown = self.shown(&child_rel);
                    self.findings.push(
                        Finding::error("load", "an entry Git does not store in a tree: not read")
                            .at(shown, 1),
                    );
                }
            }
        }
        Ok(())
    }

    /// The symlink `rel` (named `name`, blob `id`) in the real folder
    /// `folder`: followed when its target is inside the folder read.
    fn link(
        &mut self,
        folder: &str,
        rel: &str,
        name: &str,
        id: Oid,
        depth: usize,
    ) -> Result<(), SourceError> {
        let shown = self.shown(rel);
        let text = link_text(self.repo, id, &shown)?;
        let mut hops = 1;
        let target = lookup(self.repo, self.root, folder, &text, &mut hops)?;
        // A link is a folder when its target is one, as on disk.
        if self
            .rules
            .excluded(rel, matches!(target, Target::Tree { .. }))
        {
            return Ok(());
        }
        let finding = match target {
            Target::Tree { real, id } if self.inside(&real) => {
                if is_manifest_name(name) {
                    self.findings
                        .push(walk::folder_named_like_a_manifest(&shown));
                }
                return self.folder(&real, id, rel, depth + 1);
            }
            Target::Blob { real, id } if self.inside(&real) => {
                if is_manifest_name(name) {
                    self.file(shown, rel.to_string(), id)?;
                }
                return Ok(());
            }
            Target::Tree { .. } | Target::Blob { .. } | Target::Outside => {
                walk::link_outside(&shown, &text)
            }
            Target::Missing => walk::link_broken(&shown, &text),
            Target::Loop => walk::link_loop(&shown, &text),
            Target::Submodule { real } => Finding::error(
                "load",
                format!(
                    "symlink to {text} leads into the submodule {real}, whose files are \
                     not in this commit: not read"
                ),
            )
            .at(shown, 1),
        };
        self.findings.push(finding);
        Ok(())
    }

    /// Reads the file blob `id`, shown as `shown`, within the limits.
    fn file(&mut self, shown: String, rel: String, id: Oid) -> Result<(), SourceError> {
        let odb = self
            .repo
            .odb()
            .map_err(git("cannot open the object database"))?;
        let (size, _) = odb
            .read_header(id)
            .map_err(git(format!("cannot read {shown}")))?;
        let size = size as u64;
        if size > self.limits.max_file_bytes {
            self.findings.push(
                Finding::error(
                    "load",
                    format!(
                        "file is {size} bytes, over the {} byte limit for a manifest file",
                        self.limits.max_file_bytes
                    ),
                )
                .at(shown, 1),
            );
            return Ok(());
        }
        if !self.budget.admit(&shown, size) {
            return Ok(());
        }
        let blob = self
            .repo
            .find_blob(id)
            .map_err(git(format!("cannot read {shown}")))?;
        self.files.push(SourceFile {
            path: shown,
            rel,
            bytes: blob.content().to_vec(),
        });
        Ok(())
    }
}

/// A submodule in the folder read: Git stores only the commit it points at.
fn submodule(shown: &str) -> Finding {
    Finding::warning(
        "load",
        "a submodule: its files are another repository's, not in this commit, and \
         are not read (a checkout with the submodule would read them)",
    )
    .at(shown, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a test tree holds at a path.
    #[derive(Clone, Copy)]
    enum E {
        File(&'static str),
        Link(&'static str),
        Submodule,
    }

    fn repo() -> (tempfile::TempDir, Repository) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut options = git2::RepositoryInitOptions::new();
        options.external_template(false).initial_head("main");
        let repo = Repository::init_opts(dir.path(), &options).expect("init");
        (dir, repo)
    }

    /// A tree holding `entries` (paths with `/`), built in the object
    /// database: no work tree, so links and submodules are exactly as given.
    fn tree(repo: &Repository, entries: &[(&str, E)]) -> Oid {
        let mut here = repo.treebuilder(None).expect("builder");
        let mut folders: BTreeMap<&str, Vec<(&str, E)>> = BTreeMap::new();
        for (path, e) in entries {
            match path.split_once('/') {
                Some((first, rest)) => folders.entry(first).or_default().push((rest, *e)),
                None => {
                    let (id, mode) = match e {
                        E::File(text) => (repo.blob(text.as_bytes()).expect("blob"), 0o100_644),
                        E::Link(target) => (repo.blob(target.as_bytes()).expect("blob"), MODE_LINK),
                        E::Submodule => (Oid::from_str(&"ab".repeat(20)).expect("oid"), 0o160_000),
                    };
                    here.insert(path, id, mode).expect("insert");
                }
            }
        }
        for (name, inner) in folders {
            here.insert(name, tree(repo, &inner), 0o040_000)
                .expect("insert");
        }
        here.write().expect("tree")
    }

    /// Reads `subdir` of a tree of `entries`: the files (shown path, rel)
    /// and the findings as lines.
    fn read_tree(entries: &[(&str, E)], subdir: &str) -> (Vec<(String, String)>, Vec<String>) {
        read_tree_excluding(entries, subdir, &[])
    }

    /// [`read_tree`], with `--exclude` patterns.
    fn read_tree_excluding(
        entries: &[(&str, E)],
        subdir: &str,
        patterns: &[&str],
    ) -> (Vec<(String, String)>, Vec<String>) {
        let (_dir, repo) = repo();
        let id = tree(&repo, entries);
        let root = repo.find_tree(id).expect("tree");
        let exclude = Exclude::new(patterns).expect("patterns");
        let (files, findings) = read(&repo, &root, subdir, &Limits::default(), &exclude)
            .expect("reads")
            .expect("exists");
        (
            files.into_iter().map(|f| (f.path, f.rel)).collect(),
            findings.iter().map(ToString::to_string).collect(),
        )
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    const CM: E = E::File("kind: ConfigMap\n");

    #[test]
    fn lookup_resolves_like_a_file_system() {
        let (_dir, repo) = repo();
        let id = tree(
            &repo,
            &[
                ("a/b/c.yaml", CM),
                ("a/up", E::Link("..")),
                ("a/to-c", E::Link("b/c.yaml")),
                ("a/chain", E::Link("to-c")),
                ("a/abs", E::Link("/etc/passwd")),
                ("a/above", E::Link("../../x")),
                ("a/loop1", E::Link("loop2")),
                ("a/loop2", E::Link("loop1")),
                ("a/sub", E::Submodule),
            ],
        );
        let root = repo.find_tree(id).expect("tree");
        let at =
            |folder: &str, path: &str| lookup(&repo, &root, folder, path, &mut 0).expect("reads");
        let real = |t: Target| match t {
            Target::Blob { real, .. } | Target::Tree { real, .. } => real,
            other => format!("{other:?}"),
        };
        assert_eq!(real(at("", "a/b/c.yaml")), "a/b/c.yaml");
        assert_eq!(real(at("a", "chain")), "a/b/c.yaml", "a chain of links");
        assert_eq!(real(at("a", "up/a/./b/../b/c.yaml")), "a/b/c.yaml");
        assert_eq!(real(at("a", "up")), "", "the root");
        assert_eq!(at("a", "abs"), Target::Outside);
        assert_eq!(at("a", "above"), Target::Outside);
        assert_eq!(at("", ".."), Target::Outside);
        assert_eq!(at("a", "loop1"), Target::Loop);
        assert_eq!(at("a", "nothing"), Target::Missing);
        assert_eq!(
            at("a", "b/c.yaml/d"),
            Target::Missing,
            "a file is no folder"
        );
        assert_eq!(
            at("a", "sub/inside.yaml"),
            Target::Submodule {
                real: "a/sub".into()
            }
        );
    }

    /// The case that planned deletions: a committed symlink to a folder was
    /// passed over, so the objects behind it looked removed.
    #[test]
    fn a_symlink_to_a_folder_inside_is_read() {
        let (files, findings) = read_tree(
            &[
                ("deploy/ns.yaml", CM),
                ("deploy/.shared/apps/cm.yaml", CM),
                ("deploy/apps", E::Link(".shared/apps")),
            ],
            "deploy",
        );
        assert_eq!(
            files,
            pairs(&[
                ("deploy/apps/cm.yaml", "apps/cm.yaml"),
                ("deploy/ns.yaml", "ns.yaml"),
            ])
        );
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn symlinks_to_files_and_chains_are_read_under_the_link_name() {
        let (files, findings) = read_tree(
            &[
                ("d/.base/cm.yaml", CM),
                ("d/cm.yaml", E::Link(".base/cm.yaml")),
                ("d/again.yaml", E::Link("cm.yaml")),
                ("d/notes.txt", E::Link(".base/cm.yaml")),
            ],
            "d",
        );
        assert_eq!(
            files,
            pairs(&[("d/again.yaml", "again.yaml"), ("d/cm.yaml", "cm.yaml")])
        );
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn symlinks_leaving_the_folder_broken_or_looping_are_errors_naming_link_and_target() {
        let (files, findings) = read_tree(
            &[
                ("base/cm.yaml", CM),
                ("deploy/ok.yaml", CM),
                ("deploy/apps", E::Link("../base")),
                ("deploy/cm.yaml", E::Link("../base/cm.yaml")),
                ("deploy/README", E::Link("/etc/passwd")),
                ("deploy/gone.yaml", E::Link("missing.yaml")),
                ("deploy/loop", E::Link("loop")),
            ],
            "deploy",
        );
        assert_eq!(files, pairs(&[("deploy/ok.yaml", "ok.yaml")]));
        // Errors (a warning would say so after the location), one per link.
        assert_eq!(findings.len(), 5, "{findings:#?}");
        assert!(!findings.iter().any(|f| f.contains(": warning: ")));
        let about = |link: &str, text: &str| {
            assert!(
                findings
                    .iter()
                    .any(|f| f.starts_with(&format!("{link}:1: {text}"))),
                "{link}: {text}: {findings:#?}"
            );
        };
        about(
            "deploy/apps",
            "symlink to ../base points outside the folder",
        );
        about(
            "deploy/cm.yaml",
            "symlink to ../base/cm.yaml points outside",
        );
        about("deploy/README", "symlink to /etc/passwd points outside");
        about(
            "deploy/gone.yaml",
            "broken symlink to missing.yaml: its target does not exist",
        );
        about(
            "deploy/loop",
            "symlink to loop passes through more than 40 links",
        );
    }

    #[test]
    fn the_whole_tree_reads_a_folder_reached_twice_once() {
        let (files, findings) = read_tree(
            &[
                ("apps/base/cm.yaml", CM),
                ("clusters/prod/apps", E::Link("../../apps/base")),
                ("clusters/prod/self", E::Link("..")),
            ],
            "",
        );
        assert_eq!(files, pairs(&[("apps/base/cm.yaml", "apps/base/cm.yaml")]));
        assert_eq!(
            findings,
            [
                "clusters/prod/apps:1: warning: symlink to a folder already read as apps/base: \
                 its files are read once, under that name",
                "clusters/prod/self:1: warning: symlink to a folder already read as clusters: \
                 its files are read once, under that name",
            ]
        );
    }

    #[test]
    fn submodules_folders_named_like_manifests_and_deep_folders_are_reported() {
        let deep = format!("d/{}cm.yaml", "n/".repeat(MAX_DEPTH));
        let deeper = format!("d/{}cm.yaml", "n/".repeat(MAX_DEPTH + 1));
        let deep: &'static str = Box::leak(deep.into_boxed_str());
        let deeper: &'static str = Box::leak(deeper.into_boxed_str());
        let (files, findings) = read_tree(
            &[
                ("d/vendor", E::Submodule),
                ("d/sub.yaml", E::Submodule),
                ("d/x.yaml/cm.yaml", CM),
                (deep, CM),
                (deeper, CM),
            ],
            "d",
        );
        let shown: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(shown, [deep, "d/x.yaml/cm.yaml"]);
        let deepest = format!("d/{}n", "n/".repeat(MAX_DEPTH));
        assert_eq!(
            findings,
            [
                format!(
                    "{deepest}:1: folder is nested deeper than the 64 folders mooring \
                     reads: its files are not read"
                ),
                "d/sub.yaml:1: warning: a submodule: its files are another repository's, \
                 not in this commit, and are not read (a checkout with the submodule would \
                 read them)"
                    .to_string(),
                "d/vendor:1: warning: a submodule: its files are another repository's, \
                 not in this commit, and are not read (a checkout with the submodule would \
                 read them)"
                    .to_string(),
                "d/x.yaml:1: warning: a folder named like a manifest file: read as a folder \
                 (the files in it), not as one file"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn a_source_path_through_a_symlink_is_followed() {
        let entries = [
            ("releases/v2/cm.yaml", CM),
            ("current", E::Link("releases/v2")),
            ("one.yaml", E::Link("releases/v2/cm.yaml")),
            ("out", E::Link("../elsewhere")),
        ];
        let (files, findings) = read_tree(&entries, "current");
        assert_eq!(files, pairs(&[("current/cm.yaml", "cm.yaml")]));
        assert!(findings.is_empty(), "{findings:?}");
        let (files, _) = read_tree(&entries, "one.yaml");
        assert_eq!(files, pairs(&[("one.yaml", "one.yaml")]));
        let (files, findings) = read_tree(&entries, "out");
        assert!(files.is_empty());
        assert_eq!(
            findings,
            ["out:1: the source path is a symlink that leaves the repository: nothing is read"]
        );
        let (_dir, repo) = repo();
        let root = repo.find_tree(tree(&repo, &entries)).expect("tree");
        assert!(exists(&repo, &root, "current").expect("reads"));
        assert!(exists(&repo, &root, "current/cm.yaml").expect("reads"));
        assert!(!exists(&repo, &root, "missing").expect("reads"));
        assert!(!exists(&repo, &root, "current/..").expect("reads"));
    }

    fn rels(files: &[(String, String)]) -> Vec<&str> {
        files.iter().map(|f| f.1.as_str()).collect()
    }

    /// The same tree as the work-tree test in `fs`: the same files.
    #[test]
    fn json_files_are_manifests_and_ignore_files_and_patterns_leave_files_out() {
        let mut entries: Vec<(&str, E)> = [
            "d/cm.yaml",
            "d/cm.json",
            "d/notes.txt",
            "d/values.yaml",
            "d/charts/web/templates/cm.yaml",
            "d/apps/values.yaml",
            "d/apps/keep/values.yaml",
            "d/apps/local.json",
            "d/apps/web/local.json",
            "d/generated/a.yaml",
            "d/generated/b.json",
        ]
        .into_iter()
        .map(|p| (p, CM))
        .collect();
        entries.push((
            "d/.mooringignore",
            E::File("# Helm\nvalues.yaml\ncharts/\n"),
        ));
        entries.push((
            "d/apps/.mooringignore",
            E::File("/local.json\n!keep/values.yaml\n"),
        ));
        // Above the folder read: not consulted.
        entries.push((".mooringignore", E::File("*.yaml\n")));
        let (files, findings) = read_tree_excluding(&entries, "d", &["generated/*.json"]);
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(
            rels(&files),
            [
                "apps/keep/values.yaml",
                "apps/web/local.json",
                "cm.json",
                "cm.yaml",
                "generated/a.yaml",
            ]
        );
        let (files, _) = read_tree_excluding(&entries, "d", &["keep/", "*.json"]);
        assert_eq!(rels(&files), ["cm.yaml", "generated/a.yaml"]);
        // The whole tree: the root's file leaves out every .yaml but the
        // one a deeper file takes back.
        let (files, _) = read_tree(&entries, "");
        assert_eq!(
            rels(&files),
            [
                "d/apps/keep/values.yaml",
                "d/apps/web/local.json",
                "d/cm.json",
                "d/generated/b.json"
            ]
        );
    }

    #[test]
    fn excluded_links_and_submodules_are_not_reported_and_odd_ignore_files_are() {
        let entries = [
            ("d/cm.yaml", CM),
            ("d/vendor", E::Submodule),
            ("d/out", E::Link("../elsewhere")),
            ("d/.mooringignore", E::File("vendor/\nout\n")),
            ("d/x/.mooringignore", E::Link("../.mooringignore")),
            ("d/y/.mooringignore/z", CM),
            ("d/z/.mooringignore", E::File("ok\n{a\n")),
        ];
        let (files, findings) = read_tree(&entries, "d");
        assert_eq!(rels(&files), ["cm.yaml"]);
        assert_eq!(findings.len(), 3, "{findings:#?}");
        assert_eq!(
            findings[0],
            "d/x/.mooringignore:1: .mooringignore is a symlink, not a file: not read, nothing \
             in it is left out; write the patterns into a file of this folder"
        );
        assert!(findings[1].starts_with("d/y/.mooringignore:1: .mooringignore is a folder"));
        assert!(
            findings[2].starts_with("d/z/.mooringignore:2: \"{a\" is not a pattern: "),
            "{findings:?}"
        );
    }

    #[test]
    fn a_source_file_is_matched_by_its_name() {
        let entries = [("d/values.yaml", CM)];
        let (files, _) = read_tree_excluding(&entries, "d/values.yaml", &["values.yaml"]);
        assert!(files.is_empty());
        let (files, _) = read_tree(&entries, "d/values.yaml");
        assert_eq!(files.len(), 1);
    }
}
