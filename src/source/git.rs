//! Manifests from a Git revision, read straight from the object database
//! with git2: no checkout, so two revisions can be compared side by side and
//! the work tree is never touched.

use std::path::{Component, Path, PathBuf};

use git2::{ObjectType, Oid, Repository, Tree};

use super::{Budget, Limits, SourceFile};
use crate::finding::Finding;

use super::SourceError;
use super::auth::Credentials;
use super::is_manifest_name;
use super::url::SourceUrl;

fn git(context: impl Into<String>) -> impl FnOnce(git2::Error) -> SourceError {
    let context = context.into();
    move |cause| SourceError::Git { context, cause }
}

/// [`git`] for errors about `url`: libgit2 may echo the URL, or the
/// password alone, in its message; both are scrubbed, in the context and in
/// the kept cause.
fn git_about(url: &SourceUrl, context: String) -> impl FnOnce(git2::Error) -> SourceError + '_ {
    move |cause| SourceError::Git {
        context: url.scrub(&context),
        cause: git2::Error::new(cause.code(), cause.class(), url.scrub(cause.message())),
    }
}

/// Whether `repo` names a remote to clone rather than a local path.
pub fn is_url(repo: &str) -> bool {
    if repo.contains("://") {
        return true;
    }
    // scp-like ssh: git@host:org/repo.git
    match (repo.find('@'), repo.find(':')) {
        (Some(at), Some(colon)) => at < colon && !repo[..at].contains('/'),
        _ => false,
    }
}

/// A stable, readable cache folder name for a URL. Made from the redacted
/// URL, so that neither the name nor its hash depends on a password.
fn cache_name(url: &SourceUrl) -> String {
    let url = url.to_string();
    // FNV-1a: stable across Rust versions, unlike the std hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in url.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let readable: String = url
        .rsplit(['/', ':'])
        .find(|s| !s.is_empty())
        .unwrap_or("repo")
        .trim_end_matches(".git")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    format!("{readable}-{hash:016x}")
}

/// The default cache directory for clones: `$XDG_CACHE_HOME/mooring/git`,
/// else `~/.cache/mooring/git`, else a folder under the system temp dir.
pub fn default_cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("mooring/git");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h).join(".cache/mooring/git");
    }
    std::env::temp_dir().join("mooring-git-cache")
}

/// Every fetch mirrors the remote's branches and tags onto the cached bare
/// clone's own refs, so `main` always means the remote's `main` as of this
/// run (`origin/main` too), never the branch as it was when first cloned.
const MIRROR: &[&str] = &[
    "+refs/heads/*:refs/heads/*",
    "+refs/heads/*:refs/remotes/origin/*",
    "+refs/tags/*:refs/tags/*",
];

/// Bounds every Git network operation (connect, and each read from the
/// server) to `timeout`, for the rest of the process.
///
/// libgit2 keeps these in process-global state without synchronization:
/// call this before any thread may be talking to a Git server (the CLI
/// calls it before it opens the source).
pub fn set_network_timeout(timeout: std::time::Duration) -> Result<(), SourceError> {
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: see above; both setters only store an integer in libgit2's
    // global options, and no Git operation is in flight when this runs.
    unsafe {
        git2::opts::set_server_connect_timeout_in_milliseconds(ms)
            .map_err(git("cannot set the Git connect timeout"))?;
        git2::opts::set_server_timeout_in_milliseconds(ms)
            .map_err(git("cannot set the Git server timeout"))?;
    }
    Ok(())
}

/// A repository to read revisions from.
pub struct GitRepo {
    repo: Repository,
    /// Remote clones keep branches as `origin/<branch>`.
    remote: bool,
}

impl GitRepo {
    /// Opens a local repository (any path inside it), or clones/fetches a URL
    /// into `cache_dir` (a bare clone, fetched again on every call).
    pub fn open(repo: &SourceUrl, cache_dir: &Path) -> Result<GitRepo, SourceError> {
        GitRepo::open_with(repo, cache_dir, None)
    }

    /// [`GitRepo::open`], authenticating with `credentials` when the remote
    /// asks and verifying ssh host keys against its known_hosts.
    pub fn open_with(
        url: &SourceUrl,
        cache_dir: &Path,
        credentials: Option<&Credentials>,
    ) -> Result<GitRepo, SourceError> {
        let fetch_options = || {
            let mut fo = git2::FetchOptions::new();
            if let Some(c) = credentials {
                fo.remote_callbacks(c.callbacks());
            }
            fo
        };
        if !is_url(url.expose()) {
            let r = Repository::discover(url.expose()).map_err(git_about(
                url,
                format!("{url} is not inside a Git repository"),
            ))?;
            return Ok(GitRepo {
                repo: r,
                remote: false,
            });
        }
        url.warn_if_password();
        let dir = cache_dir.join(cache_name(url));
        // Fetched through an anonymous remote with the URL as given, so a
        // password is never read from (or left in) the clone's config, and
        // a changed one is used at once.
        let fetch = |r: &Repository| -> Result<(), SourceError> {
            let mut remote = r
                .remote_anonymous(url.expose())
                .map_err(git_about(url, format!("cannot fetch {url}")))?;
            remote
                .fetch(MIRROR, Some(&mut fetch_options()), None)
                .map_err(git_about(url, format!("cannot fetch {url}")))
        };
        let r = if dir.join("HEAD").exists() {
            let r = Repository::open_bare(&dir)
                .map_err(git(format!("cannot open cached clone {}", dir.display())))?;
            fetch(&r)?;
            r
        } else {
            std::fs::create_dir_all(cache_dir).map_err(|cause| SourceError::CacheDir {
                dir: cache_dir.to_path_buf(),
                cause,
            })?;
            let r = git2::build::RepoBuilder::new()
                .bare(true)
                .fetch_options(fetch_options())
                .clone(url.expose(), &dir)
                .map_err(git_about(url, format!("cannot clone {url}")))?;
            if url.has_password() {
                r.remote_set_url("origin", &url.to_string())
                    .map_err(git(format!(
                        "cannot take the password out of the cached clone {}",
                        dir.display()
                    )))?;
            }
            fetch(&r)?;
            r
        };
        Ok(GitRepo {
            repo: r,
            remote: true,
        })
    }

    /// The work tree, for a local non-bare repository.
    pub fn workdir(&self) -> Option<&Path> {
        self.repo.workdir()
    }

    /// Resolves a revision (branch, tag, commit, `HEAD~1`...) to a commit id.
    pub fn resolve(&self, rev: &str) -> Result<Oid, SourceError> {
        let direct = self.repo.revparse_single(rev);
        let obj = match direct {
            Ok(o) => o,
            Err(e) if self.remote => self
                .repo
                .revparse_single(&format!("origin/{rev}"))
                .map_err(|_| SourceError::Git {
                    context: format!("unknown revision {rev}"),
                    cause: e,
                })?,
            Err(e) => {
                return Err(SourceError::Git {
                    context: format!("unknown revision {rev}"),
                    cause: e,
                });
            }
        };
        let commit = obj
            .peel_to_commit()
            .map_err(git(format!("{rev} does not name a commit")))?;
        Ok(commit.id())
    }

    /// Whether `path` (repository-relative; empty for the root) exists at
    /// `commit`.
    pub fn has_path(&self, commit: Oid, path: &str) -> Result<bool, SourceError> {
        let path = path.trim_matches('/');
        if path.is_empty() || path == "." {
            return Ok(true);
        }
        let tree = self
            .repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(git(format!("cannot read the tree of {commit}")))?;
        Ok(tree.get_path(Path::new(path)).is_ok())
    }

    /// Reads the manifests under `subdir` (repository-relative; empty for
    /// the whole tree) at `commit`. Paths are reported repository-relative.
    pub fn read(
        &self,
        commit: Oid,
        subdir: &str,
        limits: &Limits,
    ) -> Result<(Vec<SourceFile>, Vec<Finding>), SourceError> {
        let commit_obj = self
            .repo
            .find_commit(commit)
            .map_err(git(format!("cannot read commit {commit}")))?;
        let root = commit_obj
            .tree()
            .map_err(git(format!("cannot read the tree of {commit}")))?;
        let subdir = subdir.trim_matches('/');
        let subdir = if subdir == "." { "" } else { subdir };
        let tree = if subdir.is_empty() {
            root
        } else {
            let Ok(entry) = root.get_path(Path::new(subdir)) else {
                // A folder added or removed by this change: that side is empty.
                let note = Finding::warning(
                    "load",
                    format!(
                        "{subdir} does not exist at {}: read as empty",
                        short(commit)
                    ),
                );
                return Ok((Vec::new(), vec![note]));
            };
            if entry.kind() == Some(ObjectType::Blob) {
                let name = subdir.rsplit('/').next().unwrap_or(subdir).to_string();
                let prefix = subdir[..subdir.len() - name.len()].to_string();
                let mut out = Reader {
                    repo: &self.repo,
                    root: &root,
                    prefix: &prefix,
                    limits,
                    budget: Budget::new(limits),
                    files: Vec::new(),
                    findings: Vec::new(),
                };
                out.blob(&name, entry.id(), entry.filemode(), 0)?;
                out.findings.extend(out.budget.finding());
                return Ok((out.files, out.findings));
            }
            let obj = entry
                .to_object(&self.repo)
                .map_err(git(format!("cannot read {subdir}")))?;
            obj.peel_to_tree()
                .map_err(git(format!("{subdir} is neither a file nor a directory")))?
        };
        let prefix = if subdir.is_empty() {
            String::new()
        } else {
            format!("{subdir}/")
        };
        let mut out = Reader {
            repo: &self.repo,
            root: &tree,
            prefix: &prefix,
            limits,
            budget: Budget::new(limits),
            files: Vec::new(),
            findings: Vec::new(),
        };
        out.walk(&tree, "", 0)?;
        out.findings.extend(out.budget.finding());
        Ok((out.files, out.findings))
    }
}

/// A commit's short id, for messages.
pub fn short(oid: Oid) -> String {
    oid.to_string().chars().take(10).collect()
}

struct Reader<'a> {
    repo: &'a Repository,
    root: &'a Tree<'a>,
    prefix: &'a str,
    limits: &'a Limits,
    budget: Budget,
    files: Vec<SourceFile>,
    findings: Vec<Finding>,
}

const MODE_LINK: i32 = 0o120_000;
const MAX_LINK_HOPS: usize = 8;

impl Reader<'_> {
    fn walk(&mut self, tree: &Tree<'_>, rel: &str, depth: usize) -> Result<(), SourceError> {
        if depth > 64 {
            return Ok(());
        }
        let mut entries: Vec<_> = tree.iter().collect();
        entries.sort_by(|a, b| a.name_bytes().cmp(b.name_bytes()));
        for entry in entries {
            if self.budget.exceeded() {
                return Ok(());
            }
            let Ok(name) = entry.name() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let child = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            match entry.kind() {
                Some(ObjectType::Tree) => {
                    let sub = self
                        .repo
                        .find_tree(entry.id())
                        .map_err(git(format!("cannot read {}{child}", self.prefix)))?;
                    self.walk(&sub, &child, depth + 1)?;
                }
                Some(ObjectType::Blob) if is_manifest_name(name) => {
                    let (id, mode) = (entry.id(), entry.filemode());
                    self.blob(&child, id, mode, 0)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn blob(&mut self, rel: &str, id: Oid, mode: i32, hops: usize) -> Result<(), SourceError> {
        let display = format!("{}{rel}", self.prefix);
        let odb = self
            .repo
            .odb()
            .map_err(git("cannot open the object database"))?;
        let (size, _) = odb
            .read_header(id)
            .map_err(git(format!("cannot read {display}")))?;
        if mode == MODE_LINK {
            let blob = self
                .repo
                .find_blob(id)
                .map_err(git(format!("cannot read {display}")))?;
            let target = String::from_utf8_lossy(blob.content()).to_string();
            let Some(resolved) = resolve_link(rel, &target) else {
                self.findings.push(
                    Finding::error(
                        "load",
                        format!(
                            "symlink points outside the manifest root ({target}); \
                             mooring only reads files inside the folder it was given"
                        ),
                    )
                    .at(display, 1),
                );
                return Ok(());
            };
            let entry = match self.root.get_path(Path::new(&resolved)) {
                Ok(e) if hops < MAX_LINK_HOPS => e,
                _ => {
                    self.findings.push(
                        Finding::error("load", format!("broken symlink to {target}"))
                            .at(display, 1),
                    );
                    return Ok(());
                }
            };
            if entry.kind() == Some(ObjectType::Blob) {
                return self.blob(rel, entry.id(), entry.filemode(), hops + 1);
            }
            return Ok(());
        }
        if size as u64 > self.limits.max_file_bytes {
            self.findings.push(
                Finding::error(
                    "load",
                    format!(
                        "file is {size} bytes, over the {} byte limit for a manifest file",
                        self.limits.max_file_bytes
                    ),
                )
                .at(display, 1),
            );
            return Ok(());
        }
        if !self.budget.admit(&display, size as u64) {
            return Ok(());
        }
        let blob = self
            .repo
            .find_blob(id)
            .map_err(git(format!("cannot read {display}")))?;
        self.files.push(SourceFile {
            path: display,
            rel: rel.to_string(),
            bytes: blob.content().to_vec(),
        });
        Ok(())
    }
}

/// Resolves a symlink's target against the link's folder, lexically. `None`
/// when it leaves the root.
fn resolve_link(link_rel: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<String> = link_rel.split('/').map(str::to_string).collect();
    parts.pop();
    for c in Path::new(target).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().to_string()),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_are_told_apart() {
        assert!(is_url("https://example.com/org/repo.git"));
        assert!(is_url("file:///tmp/repo"));
        assert!(is_url("git@example.com:org/repo.git"));
        assert!(!is_url("./repo"));
        assert!(!is_url("/srv/repos/infra"));
    }

    #[test]
    fn links_stay_inside_the_root() {
        assert_eq!(resolve_link("a/b.yaml", "c.yaml"), Some("a/c.yaml".into()));
        assert_eq!(resolve_link("a/b.yaml", "../c.yaml"), Some("c.yaml".into()));
        assert_eq!(resolve_link("b.yaml", "../c.yaml"), None);
        assert_eq!(resolve_link("b.yaml", "/etc/passwd"), None);
    }

    #[test]
    fn cache_names_are_stable_and_readable() {
        let name = |u: &str| cache_name(&SourceUrl::new(u));
        let a = name("https://example.com/org/infra.git");
        assert!(a.starts_with("infra-"), "{a}");
        assert_eq!(a, name("https://example.com/org/infra.git"));
        assert_ne!(a, name("https://example.com/other/infra.git"));
        // Neither the name nor the hash carries a password.
        let b = name("https://alice:S3cret@example.com");
        assert!(!b.contains("S3cret"), "{b}");
        assert_eq!(b, name("https://alice:other@example.com"));
    }
}
