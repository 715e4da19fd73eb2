//! [`SourceError`]: why a source could not be read. In its own file so that
//! `git` (which opens repositories) and `auth` (which resolves the
//! credentials it opens them with) both depend on it and not on each other.

use std::path::PathBuf;

/// Turns a libgit2 error into [`SourceError::Git`] with `context`.
pub(super) fn git(context: impl Into<String>) -> impl FnOnce(git2::Error) -> SourceError {
    let context = context.into();
    move |cause| SourceError::Git { context, cause }
}

/// Why a source could not be read. Problems *in* the files read are
/// findings, not errors; these stop the read as a whole.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// libgit2's own message is kept, without its class/code noise.
    #[error("{context}: {}", cause.message())]
    Git { context: String, cause: git2::Error },
    /// The folder for clones of remote repositories cannot be made.
    #[error("cannot create cache directory {}", dir.display())]
    CacheDir {
        dir: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    /// The configured folder is absent from the revision: against live
    /// targets that is a mistake, not an empty render that would delete
    /// everything.
    #[error("path {path:?} does not exist at {rev} ({commit})")]
    PathMissing {
        path: String,
        rev: String,
        /// The short commit id `rev` resolved to.
        commit: String,
    },
    /// A file `source.auth` names cannot be read (`what`: `token`,
    /// `known_hosts`).
    #[error("cannot read {what} file {}", path.display())]
    AuthFile {
        what: &'static str,
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    /// `source.auth` cannot be used as written: the message names the field.
    #[error("{0}")]
    Auth(String),
    /// A token or a URL password would go over plain `http://` (`url` is
    /// shown redacted) and the source does not say `insecure: true`.
    #[error(
        "{url}: plain http:// would send the token of source.auth (or the URL's password) unencrypted; \
         use https://, or set `insecure: true` on the source to allow it"
    )]
    PlainHttp { url: String },
    /// An exclude pattern (`--exclude`, a source's `exclude:`) that
    /// gitignore's syntax does not read.
    #[error("exclude pattern `{pattern}`: {why}")]
    Exclude { pattern: String, why: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_is_kept_as_the_source_and_joined_once() {
        let err = SourceError::CacheDir {
            dir: PathBuf::from("/cache/git"),
            cause: std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied"),
        };
        assert_eq!(err.to_string(), "cannot create cache directory /cache/git");
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(
            crate::error::with_causes(&err),
            "cannot create cache directory /cache/git: permission denied"
        );
    }
}
