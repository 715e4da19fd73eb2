//! The rules both walkers keep, so that a folder read from disk ([`super::fs`])
//! and the same folder read from a Git commit ([`super::git`]) give the same
//! files and the same findings:
//! - a symlink is followed when its target (resolved against the link's
//!   folder, through further links) is inside the folder mooring was given,
//!   to a file or a folder; otherwise it is an error naming the link and its
//!   target. A link is never skipped in silence;
//! - a folder reached a second time (through a link, or a loop) is read
//!   once, with a warning;
//! - folders deeper than [`MAX_DEPTH`] are not read, and that is an error;
//! - a folder named like a manifest is read as a folder, with a warning.
//!
//! What only Git has (submodules) is reported by `git`.

use crate::finding::Finding;

/// How deep folders are read below the folder mooring was given. Deeper
/// ones are reported (an error: their objects would otherwise look deleted),
/// never read.
pub const MAX_DEPTH: usize = 64;

/// How many symlinks one path may pass through, as Linux allows
/// (`MAXSYMLINKS`); more is taken for a loop.
pub const MAX_LINK_HOPS: usize = 40;

/// What every finding of the walk is reported as produced by.
const SOURCE: &str = "load";

/// A link whose target is outside the folder mooring was given (or
/// absolute).
pub fn link_outside(display: &str, target: &str) -> Finding {
    Finding::error(
        SOURCE,
        format!(
            "symlink to {target} points outside the folder mooring reads: not read; \
             mooring reads only files inside the folder it was given (link to a file \
             or folder inside it, or point mooring at a folder that holds both)"
        ),
    )
    .at(display, 1)
}

/// A link whose target does not exist.
pub fn link_broken(display: &str, target: &str) -> Finding {
    Finding::error(
        SOURCE,
        format!("broken symlink to {target}: its target does not exist"),
    )
    .at(display, 1)
}

/// A link that passes through more than [`MAX_LINK_HOPS`] links: a loop.
pub fn link_loop(display: &str, target: &str) -> Finding {
    Finding::error(
        SOURCE,
        format!(
            "symlink to {target} passes through more than {MAX_LINK_HOPS} links \
             (a loop?): not read"
        ),
    )
    .at(display, 1)
}

/// A folder (reached through a link) that the walk has read already, under
/// the name `first`.
pub fn already_read(display: &str, first: &str) -> Finding {
    Finding::warning(
        SOURCE,
        format!(
            "symlink to a folder already read as {first}: its files are read once, \
             under that name"
        ),
    )
    .at(display, 1)
}

/// A folder below [`MAX_DEPTH`] others.
pub fn too_deep(display: &str) -> Finding {
    Finding::error(
        SOURCE,
        format!(
            "folder is nested deeper than the {MAX_DEPTH} folders mooring reads: \
             its files are not read"
        ),
    )
    .at(display, 1)
}

/// A folder whose name ends like a manifest file's (`.yaml`, `.yml`, `.json`).
pub fn folder_named_like_a_manifest(display: &str) -> Finding {
    Finding::warning(
        SOURCE,
        "a folder named like a manifest file: read as a folder (the files in it), \
         not as one file",
    )
    .at(display, 1)
}
