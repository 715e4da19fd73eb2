//! Sources: where manifests come from. A directory on disk ([`fs`]) or a
//! revision of a Git repository ([`git`]); both yield the same
//! [`SourceFile`]s, and nothing after this module knows which it was. A
//! source that cannot be read at all fails with a [`SourceError`].
//!
//! Every caller (each command and the daemon) names its source as a
//! [`Spec`] and reads it in two steps:
//! - [`resolve`] is cheap: it opens the repository (fetching a remote one,
//!   with the spec's credentials and network timeout) and resolves the
//!   revision, reading no file. The daemon compares the result with what
//!   it applied last, so an unchanged revision reads nothing.
//! - [`read`] reads the files of a resolved revision within the
//!   [`Limits`].
//!
//! Every Git repository is opened through [`open`], so no command can open
//! one without the network timeout and the credentials.
//!
//! Manifests are the `.yaml`, `.yml` and `.json` files ([`is_manifest_name`]),
//! as kubectl and kubeconform read them, less what [`exclude`] leaves out
//! (`.mooringignore` files, `--exclude` patterns).

pub mod auth;
pub mod budget;
pub mod checkout;
mod error;
pub mod exclude;
pub mod fs;
pub mod git;
mod input;
pub mod name;
mod tree;
pub mod url;
pub mod walk;

use std::path::PathBuf;
use std::time::Duration;

use git2::Oid;

use crate::finding::Finding;

use auth::Credentials;
use git::GitRepo;
use url::SourceUrl;

pub use budget::Budget;
pub use error::SourceError;
pub use exclude::Exclude;
pub use input::{Limits, SourceFile};

/// Whether a file name is a manifest mooring reads: `.yaml`, `.yml` or
/// `.json` (a JSON file is a YAML stream too, and reads as one), and
/// Kustomize's extensionless `Kustomization`, which marks a folder to
/// render.
pub fn is_manifest_name(name: &str) -> bool {
    name.ends_with(".yaml")
        || name.ends_with(".yml")
        || name.ends_with(".json")
        || name == "Kustomization"
}

/// The path that stands for standard input, as for kubectl's `-f -`.
pub const STDIN: &str = "-";

/// Where the manifests are.
#[derive(Debug, Clone)]
pub enum Spec {
    /// Files or directories on disk (every `.yaml`/`.yml`/`.json` file
    /// under them).
    Paths(Vec<PathBuf>),
    /// A folder of a Git revision.
    Git(Box<GitSpec>),
}

/// A Git repository, and how to reach it.
#[derive(Clone)]
pub struct GitSpec {
    /// A local path (any folder inside the repository) or a remote URL.
    pub url: SourceUrl,
    /// The revision: a branch, tag, commit or `HEAD~1`.
    pub rev: String,
    /// The repository-relative folder (or file) holding the manifests;
    /// empty for the whole tree.
    pub path: String,
    /// Used when the remote asks (and for ssh host keys).
    pub credentials: Option<Credentials>,
    /// Bounds every Git network operation. libgit2 keeps it process-wide:
    /// `Some` sets it before the repository is opened, which one-shot
    /// commands do; the daemon sets it once at start, before its threads
    /// fetch, and passes `None`.
    pub timeout: Option<Duration>,
    /// Where clones of remote repositories are kept.
    pub cache_dir: PathBuf,
    /// Whether a token or URL password may go over plain `http://` (the
    /// source's `insecure: true`); refused otherwise.
    pub insecure: bool,
}

impl std::fmt::Debug for GitSpec {
    // Credentials are never printed, and the URL only redacted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSpec")
            .field("url", &self.url.to_string())
            .field("rev", &self.rev)
            .field("path", &self.path)
            .field("credentials", &self.credentials.is_some())
            .field("timeout", &self.timeout)
            .field("cache_dir", &self.cache_dir)
            .field("insecure", &self.insecure)
            .finish()
    }
}

/// Opens (a local path) or clones/fetches (a URL) the repository of `spec`,
/// with its network timeout and credentials. The one way mooring opens Git.
pub fn open(spec: &GitSpec) -> Result<GitRepo, SourceError> {
    if let Some(timeout) = spec.timeout {
        git::set_network_timeout(timeout)?;
    }
    GitRepo::open_with(
        &spec.url,
        &spec.cache_dir,
        spec.credentials.as_ref(),
        spec.insecure,
    )
}

/// A source pinned to what [`read`] will read.
pub enum Revision {
    Paths(Vec<PathBuf>),
    Git {
        repo: GitRepo,
        commit: Oid,
        spec: Box<GitSpec>,
    },
}

impl Revision {
    /// The commit, for a Git source.
    pub fn commit(&self) -> Option<Oid> {
        match self {
            Revision::Paths(_) => None,
            Revision::Git { commit, .. } => Some(*commit),
        }
    }

    /// Whether the spec's folder exists at this revision (always, on disk:
    /// a missing path is a finding there).
    pub fn has_path(&self) -> Result<bool, SourceError> {
        match self {
            Revision::Paths(_) => Ok(true),
            Revision::Git { repo, commit, spec } => repo.has_path(*commit, &spec.path),
        }
    }

    /// [`Revision::has_path`], as an error when it is absent: against live
    /// targets an absent folder is a mistake, not an empty render that would
    /// delete everything.
    pub fn require_path(&self) -> Result<(), SourceError> {
        match self {
            Revision::Git { commit, spec, .. } if !self.has_path()? => {
                Err(SourceError::PathMissing {
                    path: spec.path.clone(),
                    rev: spec.rev.clone(),
                    commit: git::short(*commit),
                })
            }
            _ => Ok(()),
        }
    }

    /// e.g. `main (1a2b3c4d5e)`, or the paths joined with `, `.
    pub fn label(&self) -> String {
        match self {
            Revision::Paths(paths) => paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            Revision::Git { commit, spec, .. } => {
                format!("{} ({})", spec.rev, git::short(*commit))
            }
        }
    }

    /// The opened repository, for a Git source.
    pub fn repo(&self) -> Option<&GitRepo> {
        match self {
            Revision::Paths(_) => None,
            Revision::Git { repo, .. } => Some(repo),
        }
    }
}

/// The first file's path, where a finding about the whole read is shown.
fn label_file(files: &[SourceFile]) -> String {
    files.first().map(|f| f.path.clone()).unwrap_or_default()
}

/// Pins `spec` to a revision without reading any file: for Git, opens (and
/// fetches) the repository and resolves the revision.
pub fn resolve(spec: &Spec) -> Result<Revision, SourceError> {
    match spec {
        Spec::Paths(paths) => Ok(Revision::Paths(paths.clone())),
        Spec::Git(git) => {
            let repo = open(git)?;
            let commit = repo.resolve(&git.rev)?;
            Ok(Revision::Git {
                repo,
                commit,
                spec: git.clone(),
            })
        }
    }
}

/// The files of one revision of a source.
#[derive(Debug, Clone, Default)]
pub struct Read {
    /// e.g. `main (1a2b3c4d5e)` or `examples/manifests`.
    pub label: String,
    /// The commit, for a Git source.
    pub revision: Option<Oid>,
    pub files: Vec<SourceFile>,
    /// Problems reading single files (too large, not UTF-8, ...): the rest
    /// is read.
    pub findings: Vec<Finding>,
    /// Where the files are on disk, for a renderer (`kustomize`, `helm`)
    /// to read: `None` when each file's `path` is one (a source on disk).
    /// A Git revision with a folder to render is checked out here, whole,
    /// into a private temporary folder; its `path`s are relative to it.
    pub checkout: Option<checkout::Checkout>,
}

/// Reads the manifest files of `revision` within `limits`, without what
/// `exclude` and the source's `.mooringignore` files leave out.
pub fn read(revision: &Revision, limits: &Limits, exclude: &Exclude) -> Result<Read, SourceError> {
    let (files, mut findings) = match revision {
        Revision::Paths(paths) => fs::read_paths(paths, limits, exclude),
        Revision::Git { repo, commit, spec } => repo.read(*commit, &spec.path, limits, exclude)?,
    };
    let checkout = match revision {
        Revision::Git { repo, commit, .. } if files.iter().any(checkout::marks_a_render) => {
            match repo.checkout(*commit, limits) {
                Ok(c) => Some(c),
                Err(e) => {
                    findings.push(
                        Finding::error("render", format!("cannot check the revision out: {e}"))
                            .at(label_file(&files), 1),
                    );
                    None
                }
            }
        }
        _ => None,
    };
    Ok(Read {
        label: revision.label(),
        revision: revision.commit(),
        files,
        findings,
        checkout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository with `deploy/cm.yaml` in one commit.
    fn repo() -> (tempfile::TempDir, Oid) {
        let dir = tempfile::tempdir().expect("temp dir");
        // No templates (their info/exclude could hide files) and a named
        // branch: nothing here depends on the machine's git configuration.
        let mut options = git2::RepositoryInitOptions::new();
        options.external_template(false).initial_head("main");
        let repo = git2::Repository::init_opts(dir.path(), &options).expect("init");
        std::fs::create_dir_all(dir.path().join("deploy")).expect("mkdir");
        std::fs::write(dir.path().join("deploy/cm.yaml"), "kind: ConfigMap\n").expect("write");
        let mut index = repo.index().expect("index");
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .expect("add");
        let tree = repo
            .find_tree(index.write_tree().expect("tree"))
            .expect("tree");
        let sig = git2::Signature::now("t", "t@example.com").expect("signature");
        let commit = repo
            .commit(Some("HEAD"), &sig, &sig, "first", &tree, &[])
            .expect("commit");
        (dir, commit)
    }

    fn spec(dir: &std::path::Path, path: &str) -> Spec {
        Spec::Git(Box::new(GitSpec {
            url: SourceUrl::new(dir.display().to_string()),
            rev: "HEAD".into(),
            path: path.into(),
            credentials: None,
            timeout: None,
            cache_dir: dir.join("cache"),
            insecure: false,
        }))
    }

    #[test]
    fn resolve_pins_the_commit_and_read_reads_its_folder() {
        let (dir, commit) = repo();
        let revision = resolve(&spec(dir.path(), "deploy")).expect("resolves");
        assert_eq!(revision.commit(), Some(commit));
        assert!(revision.require_path().is_ok());
        let read = read(&revision, &Limits::default(), &Exclude::default()).expect("reads");
        assert_eq!(read.revision, Some(commit));
        assert_eq!(read.label, format!("HEAD ({})", git::short(commit)));
        let paths: Vec<&str> = read.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["deploy/cm.yaml"]);
    }

    #[test]
    fn a_missing_folder_is_refused_when_required() {
        let (dir, commit) = repo();
        let revision = resolve(&spec(dir.path(), "deplyo")).expect("resolves");
        assert!(!revision.has_path().expect("tree reads"));
        let err = revision.require_path().expect_err("missing");
        assert_eq!(
            err.to_string(),
            format!(
                "path \"deplyo\" does not exist at HEAD ({})",
                git::short(commit)
            )
        );
    }

    #[test]
    fn paths_resolve_to_themselves() {
        let revision = resolve(&Spec::Paths(vec!["a".into(), "b".into()])).expect("resolves");
        assert_eq!(revision.commit(), None);
        assert_eq!(revision.label(), "a, b");
        assert!(revision.require_path().is_ok());
    }
}
