//! Repository URLs that may carry credentials (`https://user:password@host/…`),
//! and the one redaction every output goes through.
//!
//! A [`SourceUrl`] holds what the user wrote, and shows only the redacted
//! form: its `Display`, `Debug` and `Serialize` print `https://alice:***@host/…`
//! (a user alone stays, a password never does). The raw text is reachable
//! only through [`SourceUrl::expose`], which only the Git transport uses.
//! [`SourceUrl::scrub`] redacts a message that may echo the URL or the
//! password (libgit2's errors do), and [`redact`] redacts every URL in any
//! text.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// What a password is shown as.
pub const MASK: &str = "***";

/// A repository: a local path or a URL, possibly with credentials in it.
#[derive(Clone, PartialEq, Eq)]
pub struct SourceUrl {
    raw: String,
    shown: String,
    /// The password as written and, when it differs, percent-decoded: the
    /// texts [`SourceUrl::scrub`] removes from messages.
    secrets: Vec<String>,
}

impl SourceUrl {
    pub fn new(raw: impl Into<String>) -> SourceUrl {
        let raw = raw.into();
        let mut secrets = Vec::new();
        for (start, end) in password_spans(&raw) {
            let written = &raw[start..end];
            let decoded = percent_decode(written);
            for s in [written.to_string(), decoded] {
                if !s.is_empty() && !secrets.contains(&s) {
                    secrets.push(s);
                }
            }
        }
        // Longest first, so that a password containing another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        SourceUrl {
            shown: redact(&raw),
            raw,
            secrets,
        }
    }

    /// The URL as written, password included: for the Git transport only,
    /// never for a message.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    /// Whether the URL carries a password.
    pub fn has_password(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// `text` with every URL's password and every occurrence of this URL's
    /// password (as written or percent-decoded) replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = redact(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }

    /// Logs a warning the first time (in this process) a URL with a
    /// password is used.
    pub fn warn_if_password(&self) {
        static WARNED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
        if !self.has_password() {
            return;
        }
        let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
        if warned.insert(self.shown.clone()) {
            tracing::warn!(
                url = %self.shown,
                "the repository URL carries a password: mooring shows it as *** and keeps it out of \
                 its cached clone, but it stays in mooring.yaml or the command line (process \
                 listings, shell history); put the token in a file and use source.auth.tokenFile \
                 (or tokenEnv) instead"
            );
        }
    }
}

impl From<&str> for SourceUrl {
    fn from(raw: &str) -> SourceUrl {
        SourceUrl::new(raw)
    }
}

impl From<String> for SourceUrl {
    fn from(raw: String) -> SourceUrl {
        SourceUrl::new(raw)
    }
}

impl std::fmt::Display for SourceUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::fmt::Debug for SourceUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SourceUrl({:?})", self.shown)
    }
}

impl serde::Serialize for SourceUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.shown)
    }
}

/// Byte ranges of the passwords of every `scheme://user:password@host` in
/// `text`.
fn password_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("://") {
        let start = from + i + 3;
        // The authority ends at the path, query or fragment, or where the
        // URL itself ends in running text.
        let end = text[start..]
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '\\' | '"' | '\'' | '`' | '<' | '>')
                    || c.is_whitespace()
                    || c.is_control()
            })
            .map_or(text.len(), |j| start + j);
        let authority = &text[start..end];
        if let Some(at) = authority.rfind('@')
            && let Some(colon) = authority[..at].find(':')
        {
            spans.push((start + colon + 1, start + at));
        }
        from = end.max(start);
    }
    spans
}

/// `text` with the password of every URL in it replaced by `***`
/// (`https://alice:***@host/…`; a user alone stays).
pub fn redact(text: &str) -> String {
    let spans = password_spans(text);
    if spans.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end) in spans {
        out.push_str(&text[last..start]);
        out.push_str(MASK);
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

/// Decodes `%XX` escapes (as Git does for userinfo); anything that is not
/// a valid escape, or not UTF-8 once decoded, is kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_and_users_stay() {
        let u = SourceUrl::new("https://alice:S3cret@git.example.com/org/repo.git");
        assert_eq!(
            u.to_string(),
            "https://alice:***@git.example.com/org/repo.git"
        );
        assert_eq!(
            format!("{u:?}"),
            "SourceUrl(\"https://alice:***@git.example.com/org/repo.git\")"
        );
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            "\"https://alice:***@git.example.com/org/repo.git\""
        );
        assert_eq!(
            u.expose(),
            "https://alice:S3cret@git.example.com/org/repo.git"
        );
        assert!(u.has_password());
        for plain in [
            "https://git.example.com/org/repo.git",
            "ssh://git@git.example.com/org/repo.git",
            "git@git.example.com:org/repo.git",
            "/srv/repos/infra",
            "file:///tmp/repo",
        ] {
            let u = SourceUrl::new(plain);
            assert_eq!(u.to_string(), plain);
            assert!(!u.has_password());
        }
    }

    #[test]
    fn a_password_with_at_signs_or_colons_is_masked_whole() {
        let u = SourceUrl::new("https://alice:p:a@ss@host:8443/r.git");
        assert_eq!(u.to_string(), "https://alice:***@host:8443/r.git");
        let u = SourceUrl::new("https://alice:S3cret@host");
        assert_eq!(u.to_string(), "https://alice:***@host");
    }

    #[test]
    fn messages_lose_the_url_password_and_the_bare_password() {
        let u = SourceUrl::new("https://alice:p%40ssw0rd!@host/r.git");
        let msg = "cannot clone https://alice:p%40ssw0rd!@host/r.git: \
                   auth for alice with p@ssw0rd! failed, p%40ssw0rd! too";
        let scrubbed = u.scrub(msg);
        assert!(!scrubbed.contains("ssw0rd"), "{scrubbed}");
        assert_eq!(
            scrubbed,
            "cannot clone https://alice:***@host/r.git: auth for alice with *** failed, *** too"
        );
    }

    #[test]
    fn every_url_in_running_text_is_redacted() {
        assert_eq!(
            redact("from 'https://a:b@h/x' and http://c:d@k:1?q, not e:f@g"),
            "from 'https://a:***@h/x' and http://c:***@k:1?q, not e:f@g"
        );
        assert_eq!(redact("nothing here"), "nothing here");
        assert_eq!(redact("ends with ://"), "ends with ://");
    }
}
