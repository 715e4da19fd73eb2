//! The name a source goes by when its configuration gives it none.
//!
//! A source's name labels every object it applies and names its inventory,
//! so two sources must never share one by accident (before this, every
//! unnamed source was `default`, and one pruned the other's objects). The
//! default name is derived from what the source *is*:
//!
//! - a Git source: the repository URL without credentials (a local
//!   repository: its absolute path) and the folder in it;
//! - files on disk: their absolute paths.
//!
//! It reads as that identity, shortened (`github.com-acme-infra-clusters-prod`),
//! followed by eight hex digits of its SHA-256, so that it is a valid
//! Kubernetes label value (at most 63 characters), stable across runs and
//! machines for the same repository and folder, and different for
//! identities that shorten alike.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::url::SourceUrl;

/// The most characters of the readable part; with `-` and eight hex
/// digits the name stays within a label value's 63.
const READABLE: usize = 54;

/// The default name of a Git source: `url` (credentials left out) and the
/// folder `path` in it.
pub fn for_git(url: &SourceUrl, path: &str) -> String {
    let repo = identity_of_url(url.expose());
    let folder = path.trim_matches('/');
    let identity = if folder.is_empty() || folder == "." {
        repo
    } else {
        format!("{repo}#{folder}")
    };
    from_identity(&identity)
}

/// The default name of a source of files on disk: their absolute paths.
pub fn for_paths(paths: &[PathBuf]) -> String {
    let identity = paths
        .iter()
        .map(|p| absolute(p).display().to_string())
        .collect::<Vec<_>>()
        .join(",");
    from_identity(&identity)
}

/// The repository part of the identity: a URL without user or password,
/// or a local repository's absolute path.
fn identity_of_url(raw: &str) -> String {
    if let Some((scheme, rest)) = raw.split_once("://") {
        let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if scheme == "file" {
            return format!(
                "{scheme}://{}",
                absolute(Path::new(&format!("/{tail}"))).display()
            );
        }
        return format!("{scheme}://{host}/{tail}");
    }
    // scp-like ssh (`git@host:org/repo.git`): the user is left out too.
    if let Some((user_host, repo)) = raw.split_once(':')
        && !user_host.contains('/')
        && !raw.starts_with('/')
        && !raw.starts_with('.')
    {
        let host = user_host.rsplit_once('@').map_or(user_host, |(_, h)| h);
        return format!("ssh://{host}/{repo}");
    }
    absolute(Path::new(raw)).display().to_string()
}

/// `path` made absolute (resolving links where it exists), as text the
/// same on every run.
fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// The readable, shortened identity and its hash.
fn from_identity(identity: &str) -> String {
    let mut readable = String::with_capacity(identity.len());
    for c in identity.chars() {
        if c.is_ascii_alphanumeric() {
            readable.push(c.to_ascii_lowercase());
        } else if !readable.ends_with('-') {
            readable.push('-');
        }
    }
    // Drop the scheme (`https-`, `ssh-`, `file-`): it says little.
    for scheme in ["https-", "http-", "ssh-", "git-", "file-"] {
        if let Some(rest) = readable.strip_prefix(scheme) {
            readable = rest.to_string();
            break;
        }
    }
    let readable = readable.trim_matches('-');
    // Keep the end: the repository and folder tell sources apart more than
    // the host does.
    let start = readable.len().saturating_sub(READABLE);
    let readable = readable[start..].trim_matches('-');
    let hash = hex::encode(Sha256::digest(identity.as_bytes()));
    if readable.is_empty() {
        format!("source-{}", &hash[..8])
    } else {
        format!("{readable}-{}", &hash[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_label_value(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    }

    #[test]
    fn a_git_source_is_named_by_its_repository_and_folder() {
        let name = for_git(&"https://github.com/acme/infra.git".into(), "clusters/prod");
        assert!(
            name.starts_with("github-com-acme-infra-git-clusters-prod-"),
            "{name}"
        );
        assert!(is_label_value(&name), "{name}");
        // Stable: the same every time (and on every machine: no local path).
        assert_eq!(
            name,
            for_git(
                &"https://github.com/acme/infra.git".into(),
                "/clusters/prod/"
            )
        );
        // Another folder or repository is another source.
        assert_ne!(
            name,
            for_git(&"https://github.com/acme/infra.git".into(), "clusters/dev")
        );
        assert_ne!(
            for_git(&"https://github.com/acme/infra.git".into(), ""),
            for_git(&"https://github.com/acme/infra2.git".into(), "")
        );
    }

    #[test]
    fn credentials_are_not_part_of_the_name() {
        let plain = for_git(&"https://github.com/acme/infra.git".into(), "apps");
        let with_token = for_git(
            &"https://alice:s3cret@github.com/acme/infra.git".into(),
            "apps",
        );
        assert_eq!(plain, with_token);
        assert!(!with_token.contains("s3cret") && !with_token.contains("alice"));
        assert_eq!(
            for_git(&"git@github.com:acme/infra.git".into(), "apps"),
            for_git(&"ssh://bob@github.com/acme/infra.git".into(), "apps")
        );
    }

    #[test]
    fn folders_on_disk_are_named_by_their_absolute_path() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("r1");
        let b = dir.path().join("r2");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let name = for_paths(std::slice::from_ref(&a));
        assert!(is_label_value(&name), "{name}");
        assert!(name.contains("-r1-"), "{name}");
        assert_ne!(name, for_paths(std::slice::from_ref(&b)));
        // A relative path names the same folder as its absolute form.
        let cwd = std::env::current_dir().unwrap();
        let rel = pathdiff(&a, &cwd);
        assert_eq!(name, for_paths(&[rel]));
    }

    #[test]
    fn long_identities_are_shortened_and_still_told_apart() {
        let long = "a".repeat(200);
        let x = for_git(&format!("https://git.example/{long}/x.git").into(), "");
        let y = for_git(&format!("https://git.example/{long}/y.git").into(), "");
        assert!(is_label_value(&x) && is_label_value(&y), "{x} {y}");
        assert_ne!(x, y);
    }

    /// `path` relative to `base` (both absolute), with `..` as needed.
    fn pathdiff(path: &Path, base: &Path) -> PathBuf {
        let path = std::fs::canonicalize(path).unwrap();
        let base = std::fs::canonicalize(base).unwrap();
        let common = path
            .components()
            .zip(base.components())
            .take_while(|(a, b)| a == b)
            .count();
        let mut out = PathBuf::new();
        for _ in base.components().skip(common) {
            out.push("..");
        }
        for c in path.components().skip(common) {
            out.push(c);
        }
        out
    }
}
