//! Manifests from a Git revision, read straight from the object database
//! with git2: no checkout, so two revisions can be compared side by side and
//! the work tree is never touched. This file opens, clones and fetches
//! repositories and resolves revisions; reading a revision's folder is
//! `tree`'s.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

use super::{Exclude, Limits, SourceFile};
use crate::finding::Finding;

use super::SourceError;
use super::auth::Credentials;
use super::error::git;
use super::tree;
use super::url::SourceUrl;

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

/// Whether `url` is plain `http://`, where a token or password would cross
/// the network unencrypted.
fn is_plain_http(url: &str) -> bool {
    url.get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
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

/// How far a clone or fetch has come, as libgit2 reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    pub received_objects: usize,
    pub total_objects: usize,
    pub received_bytes: usize,
}

/// Who is told of every clone's and fetch's progress: set once by a
/// program that shows it (the CLI on a terminal); nobody by default.
static TRANSFER_PROGRESS: std::sync::OnceLock<TransferHook> = std::sync::OnceLock::new();

/// What [`on_transfer_progress`] is given.
pub type TransferHook = Box<dyn Fn(&Transfer) + Send + Sync>;

/// Has `tell` called with the progress of every clone and fetch from now
/// on. Only the first call takes effect.
pub fn on_transfer_progress(tell: TransferHook) {
    let _ = TRANSFER_PROGRESS.set(tell);
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
        GitRepo::open_with(repo, cache_dir, None, false)
    }

    /// [`GitRepo::open`], authenticating with `credentials` when the remote
    /// asks (the token only to the origin it is meant for, see
    /// [`super::auth`]) and verifying ssh host keys against its
    /// known_hosts. A token, or a password in the URL, is refused over
    /// plain `http://` unless `plain_http` (the source's `insecure: true`).
    pub fn open_with(
        url: &SourceUrl,
        cache_dir: &Path,
        credentials: Option<&Credentials>,
        plain_http: bool,
    ) -> Result<GitRepo, SourceError> {
        let has_secret = url.has_password() || credentials.is_some_and(Credentials::has_token);
        if has_secret && !plain_http && is_plain_http(url.expose()) {
            return Err(SourceError::PlainHttp {
                url: url.to_string(),
            });
        }
        let fetch_options = || {
            let mut fo = git2::FetchOptions::new();
            let mut callbacks = match credentials {
                Some(c) => {
                    fo.follow_redirects(c.redirects());
                    c.callbacks(url.expose())
                }
                None => git2::RemoteCallbacks::new(),
            };
            if let Some(tell) = TRANSFER_PROGRESS.get() {
                callbacks.transfer_progress(|p| {
                    tell(&Transfer {
                        received_objects: p.received_objects(),
                        total_objects: p.total_objects(),
                        received_bytes: p.received_bytes(),
                    });
                    true
                });
            }
            fo.remote_callbacks(callbacks);
            if url.has_password() {
                // libgit2 sends a URL's password itself, without the
                // callback: no redirect to another host either.
                fo.follow_redirects(git2::RemoteRedirect::None);
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
        // `A...B`: where B forked from A, as `git diff A...B` compares.
        if let Some((a, b)) = rev.split_once("...") {
            let side = |r: &str| self.resolve(if r.is_empty() { "HEAD" } else { r });
            let (a_id, b_id) = (side(a)?, side(b)?);
            return self
                .repo
                .merge_base(a_id, b_id)
                .map_err(|cause| SourceError::Git {
                    context: format!(
                        "{a} and {b} have no common ancestor for {rev}{}",
                        self.shallow_hint()
                    ),
                    cause,
                });
        }
        let direct = self.repo.revparse_single(rev);
        let obj = match direct {
            Ok(o) => o,
            Err(e) if self.remote => self
                .repo
                .revparse_single(&format!("origin/{rev}"))
                .map_err(|_| SourceError::Git {
                    context: format!("unknown revision {rev}{}", self.shallow_hint()),
                    cause: e,
                })?,
            Err(e) => {
                return Err(SourceError::Git {
                    context: format!("unknown revision {rev}{}", self.shallow_hint()),
                    cause: e,
                });
            }
        };
        let commit = obj
            .peel_to_commit()
            .map_err(git(format!("{rev} does not name a commit")))?;
        Ok(commit.id())
    }

    /// For a shallow clone, what to do when a revision is missing.
    fn shallow_hint(&self) -> &'static str {
        if self.repo.is_shallow() {
            " (this is a shallow clone, which may not hold it: fetch the history with `git \
             fetch --unshallow`, or `fetch-depth: 0` in actions/checkout)"
        } else {
            ""
        }
    }

    /// The root tree of `commit`.
    fn root(&self, commit: Oid) -> Result<git2::Tree<'_>, SourceError> {
        self.repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(git(format!("cannot read the tree of {commit}")))
    }

    /// Writes the whole of `commit` into a private temporary folder, for
    /// the renderers ([`super::checkout`]).
    pub fn checkout(
        &self,
        commit: Oid,
        limits: &Limits,
    ) -> Result<super::checkout::Checkout, super::checkout::CheckoutError> {
        let root = self
            .repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(|source| super::checkout::CheckoutError::Git {
                path: commit.to_string(),
                source,
            })?;
        super::checkout::write(&self.repo, &root, limits)
    }

    /// Whether `path` (repository-relative; empty for the root) exists at
    /// `commit`, symlinks on the way followed.
    pub fn has_path(&self, commit: Oid, path: &str) -> Result<bool, SourceError> {
        let path = path.trim_matches('/');
        if path.is_empty() || path == "." {
            return Ok(true);
        }
        tree::exists(&self.repo, &self.root(commit)?, path)
    }

    /// Reads the manifests under `subdir` (repository-relative; empty for
    /// the whole tree) at `commit`, by the rules a work tree is read by
    /// (`tree`), without what `exclude` and the commit's `.mooringignore`
    /// files leave out. Paths are reported repository-relative.
    pub fn read(
        &self,
        commit: Oid,
        subdir: &str,
        limits: &Limits,
        exclude: &Exclude,
    ) -> Result<(Vec<SourceFile>, Vec<Finding>), SourceError> {
        let root = self.root(commit)?;
        let subdir = subdir.trim_matches('/');
        let subdir = if subdir == "." { "" } else { subdir };
        match tree::read(&self.repo, &root, subdir, limits, exclude)? {
            Some(read) => Ok(read),
            None => {
                // A folder added or removed by this change: that side is empty.
                let note = Finding::warning(
                    "load",
                    format!(
                        "{subdir} does not exist at {}: read as empty",
                        short(commit)
                    ),
                );
                Ok((Vec::new(), vec![note]))
            }
        }
    }
}

/// A commit's short id, for messages.
pub fn short(oid: Oid) -> String {
    oid.to_string().chars().take(10).collect()
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
