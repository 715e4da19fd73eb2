//! Sources: where manifests come from. A directory on disk ([`fs`]) or a
//! revision of a Git repository ([`git`]); both yield the same
//! [`SourceFile`](crate::manifest::SourceFile)s, and nothing after this
//! module knows which it was. A source that cannot be read at all fails
//! with a [`SourceError`].

pub mod auth;
mod error;
pub mod fs;
pub mod git;
pub mod url;

pub use error::SourceError;

/// Whether a file name is a manifest mooring reads.
pub fn is_manifest_name(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}
