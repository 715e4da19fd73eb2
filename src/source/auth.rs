//! Git credentials and host-key verification.
//!
//! Secrets (an https token) are read from a file or an environment variable
//! when the source is opened, held in memory only, and never formatted:
//! [`Token`]'s `Debug` prints `***`. An ssh server's host key must be listed
//! in the configured known_hosts file (plain or hashed `|1|` entries);
//! an unknown or changed key stops the fetch, it is never accepted.
//!
//! A token goes only where it was configured for: the [`Origin`] (scheme,
//! host and port) of the source's URL. libgit2 asks for credentials through
//! the callback of [`Credentials::callbacks`] each time a server answers
//! 401, passing the URL it is talking to *now*, which after a redirect is
//! the redirect's target; the callback compares that URL's origin with the
//! configured one and refuses any other, so a server that redirects
//! elsewhere (another host, another port, or http↔https) never receives the
//! token. libgit2 itself follows a redirect to another host only on the
//! first request of a fetch (`http.followRedirects=initial`) and compares
//! hosts but not ports or schemes; with a token [`Credentials::redirects`]
//! turns off-site redirects off entirely (`RemoteRedirect::None`), so a
//! redirect to another host fails the fetch before any request reaches that
//! host, and the callback covers the rest. One case neither reaches: once
//! the configured server has the token, if it answers a redirect to another
//! port of its own host *and* puts an authentication challenge on that
//! redirect, libgit2 (1.9, `httpclient.c`, `apply_credentials`) answers the
//! challenge on the new port with the credentials it holds, without asking.
//! Only the server the token was configured for can cause that.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use git2::{CertificateCheckStatus, Cred, CredentialType, RemoteCallbacks};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha1::Sha1;

use super::SourceError;

/// Credentials for the Git source, as `source.auth` in `mooring.yaml` sets
/// them. Secrets are read from files or the environment, never written in
/// that file, and never logged.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitAuth {
    /// Private key for ssh URLs.
    #[serde(default)]
    pub ssh_key_file: Option<PathBuf>,
    /// known_hosts file the server's host key must be listed in (required
    /// with `sshKeyFile`: host keys are verified, never accepted blindly).
    #[serde(default)]
    pub known_hosts_file: Option<PathBuf>,
    /// File holding an https token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Environment variable holding an https token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// User name sent with the token (most forges accept any).
    #[serde(default = "default_token_user")]
    pub username: String,
}

fn default_token_user() -> String {
    "mooring".to_string()
}

/// An https token. Its `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Where a token may be sent: the scheme, host and port of an `http` or
/// `https` URL (the port as written, or the scheme's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    /// The origin of an `http` or `https` URL; `None` for anything else
    /// (ssh, file, a local path) or a URL that does not parse.
    pub fn of(url: &str) -> Option<Origin> {
        let parsed = url::Url::parse(url).ok()?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return None;
        }
        Some(Origin {
            scheme: parsed.scheme().to_string(),
            host: parsed.host_str()?.to_ascii_lowercase(),
            port: parsed.port_or_known_default(),
        })
    }
}

impl std::fmt::Display for Origin {
    // Never a user or password: only what identifies the server.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// Credentials resolved from `source.auth`.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    ssh_key: Option<PathBuf>,
    known_hosts: Option<KnownHosts>,
    token: Option<(String, Token)>,
    /// The origin the token was configured for, when it is not the URL
    /// fetched (`--repo` naming another repository than `source.url`).
    bound: Option<Origin>,
}

impl Credentials {
    /// Reads the token and the known_hosts file named by `auth`.
    pub fn resolve(auth: &GitAuth) -> Result<Credentials, SourceError> {
        let token = if let Some(file) = &auth.token_file {
            let text =
                crate::file::read_to_string(file).map_err(|cause| SourceError::AuthFile {
                    what: "token",
                    path: file.clone(),
                    cause,
                })?;
            Some(text.trim().to_string())
        } else if let Some(var) = &auth.token_env {
            let value = std::env::var(var).map_err(|_| {
                SourceError::Auth(format!(
                    "source.auth.tokenEnv: environment variable {var} is not set"
                ))
            })?;
            Some(value.trim().to_string())
        } else {
            None
        };
        if token.as_deref() == Some("") {
            return Err(SourceError::Auth(
                "source.auth: the token is empty".to_string(),
            ));
        }
        let known_hosts = match &auth.known_hosts_file {
            Some(path) => Some(KnownHosts::load(path)?),
            None => None,
        };
        if let Some(key) = &auth.ssh_key_file
            && !key.is_file()
        {
            return Err(SourceError::Auth(format!(
                "source.auth.sshKeyFile: {} is not a file",
                key.display()
            )));
        }
        Ok(Credentials {
            ssh_key: auth.ssh_key_file.clone(),
            known_hosts,
            token: token.map(|t| (auth.username.clone(), Token(t))),
            bound: None,
        })
    }

    /// These credentials, their token bound to the origin of `url` (the
    /// URL they were configured for) whatever URL is fetched with them.
    /// Without a binding the token is bound to the URL fetched.
    #[must_use]
    pub fn bound_to(mut self, url: &str) -> Credentials {
        self.bound = Origin::of(url);
        self
    }

    /// Whether a token is configured.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// How far libgit2 may follow redirects: with a token, never to another
    /// host (see the module's documentation).
    pub fn redirects(&self) -> git2::RemoteRedirect {
        if self.token.is_some() {
            git2::RemoteRedirect::None
        } else {
            git2::RemoteRedirect::Initial
        }
    }

    /// libgit2 callbacks answering credential requests for `fetched` (the
    /// URL opened) and checking ssh host keys. The token is given only to
    /// the origin it is bound to (see [`Credentials::bound_to`]).
    pub fn callbacks(&self, fetched: &str) -> RemoteCallbacks<'_> {
        let mut callbacks = RemoteCallbacks::new();
        let mut tried = std::collections::HashSet::new();
        let meant_for = self.bound.clone().or_else(|| Origin::of(fetched));
        callbacks.credentials(move |asked, user_from_url, allowed| {
            // An ssh URL without a user: libgit2 first asks for the name.
            if allowed.contains(CredentialType::USERNAME) {
                return Cred::username(user_from_url.unwrap_or("git"));
            }
            // `asked` is the server libgit2 talks to now, after any
            // redirect: the token goes to the configured origin only.
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT)
                && self.token.is_some()
                && Origin::of(asked) != meant_for
            {
                let asked = Origin::of(asked).map_or_else(
                    || "a server that is not the configured one".to_string(),
                    |o| o.to_string(),
                );
                let meant = meant_for
                    .as_ref()
                    .map_or_else(|| "no http(s) server".to_string(), ToString::to_string);
                return Err(git2::Error::from_str(&format!(
                    "{asked} asks for credentials, but the token of source.auth is sent only to {meant}: refused (was the request redirected?)"
                )));
            }
            // libgit2 asks again after a rejection; giving the same answer
            // twice only loops.
            if !tried.insert(allowed.bits()) {
                return Err(git2::Error::from_str(
                    "the server rejected the configured credentials",
                ));
            }
            if allowed.contains(CredentialType::SSH_KEY)
                && let Some(key) = &self.ssh_key
            {
                return Cred::ssh_key(user_from_url.unwrap_or("git"), None, key, None);
            }
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT)
                && let Some((user, Token(token))) = &self.token
            {
                return Cred::userpass_plaintext(user, token);
            }
            Err(git2::Error::from_str(
                "the server asks for credentials and none are configured for this kind (source.auth)",
            ))
        });
        if let Some(known) = &self.known_hosts {
            callbacks.certificate_check(move |cert, host| {
                let Some(hostkey) = cert.as_hostkey() else {
                    // TLS: libgit2 verifies the certificate chain itself.
                    return Ok(CertificateCheckStatus::CertificatePassthrough);
                };
                let Some(key) = hostkey.hostkey() else {
                    return Err(git2::Error::from_str(
                        "the ssh server sent no host key to verify",
                    ));
                };
                match known.check(host, key) {
                    HostKeyCheck::Match => Ok(CertificateCheckStatus::CertificateOk),
                    HostKeyCheck::Mismatch => Err(git2::Error::from_str(&format!(
                        "the host key of {host} does not match {}: refusing to connect (has the key changed?)",
                        known.path.display()
                    ))),
                    HostKeyCheck::Unknown => Err(git2::Error::from_str(&format!(
                        "{host} is not in {}: add its host key (ssh-keyscan {host}) after checking it",
                        known.path.display()
                    ))),
                }
            });
        }
        callbacks
    }
}

/// A parsed known_hosts file.
#[derive(Debug, Clone)]
pub struct KnownHosts {
    path: PathBuf,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    hosts: HostPattern,
    key: Vec<u8>,
    revoked: bool,
}

#[derive(Debug, Clone)]
enum HostPattern {
    /// Comma-separated names, `[host]:port` allowed, `!negation` honoured.
    Plain(Vec<String>),
    /// `|1|salt|hash`: HMAC-SHA1 of the host name keyed by the salt.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
}

/// The result of checking a host key.
#[derive(Debug, PartialEq, Eq)]
pub enum HostKeyCheck {
    Match,
    /// The host is listed, with other keys only (or the key is revoked).
    Mismatch,
    Unknown,
}

impl KnownHosts {
    pub fn load(path: &Path) -> Result<KnownHosts, SourceError> {
        let text = crate::file::read_to_string(path).map_err(|cause| SourceError::AuthFile {
            what: "known_hosts",
            path: path.to_path_buf(),
            cause,
        })?;
        Ok(KnownHosts::parse(path, &text))
    }

    /// Parses the text of a known_hosts file; lines that do not parse are
    /// skipped, as ssh does.
    pub fn parse(path: &Path, text: &str) -> KnownHosts {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut entries = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let mut first = fields.next().unwrap_or_default();
            let mut revoked = false;
            if first.starts_with('@') {
                revoked = first == "@revoked";
                if first != "@revoked" {
                    // @cert-authority: not supported; skip the line.
                    continue;
                }
                first = fields.next().unwrap_or_default();
            }
            let (Some(_key_type), Some(key)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Ok(key) = b64.decode(key) else { continue };
            let hosts = if let Some(rest) = first.strip_prefix("|1|") {
                let mut parts = rest.split('|');
                match (
                    parts.next().and_then(|s| b64.decode(s).ok()),
                    parts.next().and_then(|s| b64.decode(s).ok()),
                ) {
                    (Some(salt), Some(hash)) => HostPattern::Hashed { salt, hash },
                    _ => continue,
                }
            } else {
                HostPattern::Plain(first.split(',').map(str::to_string).collect())
            };
            entries.push(Entry {
                hosts,
                key,
                revoked,
            });
        }
        KnownHosts {
            path: path.to_path_buf(),
            entries,
        }
    }

    /// Checks `key` (the ssh wire-format blob) for `host`.
    pub fn check(&self, host: &str, key: &[u8]) -> HostKeyCheck {
        let entries: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.hosts.matches(host))
            .collect();
        // A revoked key is refused whatever else lists it.
        if entries.iter().any(|e| e.revoked && e.key == key) {
            return HostKeyCheck::Mismatch;
        }
        if entries.iter().any(|e| !e.revoked && e.key == key) {
            return HostKeyCheck::Match;
        }
        if entries.iter().any(|e| !e.revoked) {
            HostKeyCheck::Mismatch
        } else {
            HostKeyCheck::Unknown
        }
    }
}

impl HostPattern {
    fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Plain(names) => {
                let mut hit = false;
                for n in names {
                    let (negated, n) = match n.strip_prefix('!') {
                        Some(rest) => (true, rest),
                        None => (false, n.as_str()),
                    };
                    if name_matches(n, host) {
                        if negated {
                            return false;
                        }
                        hit = true;
                    }
                }
                hit
            }
            HostPattern::Hashed { salt, hash } => {
                let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(host.as_bytes());
                mac.verify_slice(hash).is_ok()
            }
        }
    }
}

/// A known_hosts name (`host`, `[host]:port`, with `*`/`?` wildcards)
/// against the host libgit2 connects to (it does not pass the port).
fn name_matches(pattern: &str, host: &str) -> bool {
    let pattern = match pattern.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => pattern,
    };
    glob(pattern.as_bytes(), host.as_bytes())
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
        (Some(b'?'), Some(_)) => glob(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => glob(&p[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIGhvc3Qta2V5LWEtZm9yLW1vb3JpbmctdGVzdHMtMzJi";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIGFub3RoZXIta2V5LWZvci1tb29yaW5nLXRlc3QtMzJi";

    fn blob(k: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(k).unwrap()
    }

    fn hashed(host: &str, salt: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut mac = Hmac::<Sha1>::new_from_slice(salt).unwrap();
        mac.update(host.as_bytes());
        format!(
            "|1|{}|{}",
            b64.encode(salt),
            b64.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn plain_entries_match_and_mismatch() {
        let kh = KnownHosts::parse(
            Path::new("kh"),
            &format!(
                "# comment\ngit.example.com,10.0.0.5 ssh-ed25519 {KEY_A}\n[other.example]:2222 ssh-ed25519 {KEY_B}\n"
            ),
        );
        assert_eq!(
            kh.check("git.example.com", &blob(KEY_A)),
            HostKeyCheck::Match
        );
        assert_eq!(
            kh.check("GIT.example.com", &blob(KEY_A)),
            HostKeyCheck::Match
        );
        assert_eq!(
            kh.check("git.example.com", &blob(KEY_B)),
            HostKeyCheck::Mismatch
        );
        assert_eq!(kh.check("other.example", &blob(KEY_B)), HostKeyCheck::Match);
        assert_eq!(
            kh.check("evil.example", &blob(KEY_A)),
            HostKeyCheck::Unknown
        );
    }

    #[test]
    fn hashed_wildcard_negated_and_revoked_entries() {
        let kh = KnownHosts::parse(
            Path::new("kh"),
            &format!(
                "{} ssh-ed25519 {KEY_A}\n*.corp.example,!bad.corp.example ssh-ed25519 {KEY_B}\n@revoked git.corp.example ssh-ed25519 {KEY_B}\n@cert-authority *.x ssh-ed25519 {KEY_A}\nbroken line\n",
                hashed("hidden.example", b"0123456789abcdef0123")
            ),
        );
        assert_eq!(
            kh.check("hidden.example", &blob(KEY_A)),
            HostKeyCheck::Match
        );
        assert_eq!(
            kh.check("hidden2.example", &blob(KEY_A)),
            HostKeyCheck::Unknown
        );
        assert_eq!(
            kh.check("a.corp.example", &blob(KEY_B)),
            HostKeyCheck::Match
        );
        assert_eq!(
            kh.check("bad.corp.example", &blob(KEY_B)),
            HostKeyCheck::Unknown
        );
        assert_eq!(
            kh.check("git.corp.example", &blob(KEY_B)),
            HostKeyCheck::Mismatch,
            "a revoked key is refused even when a wildcard lists it"
        );
        assert_eq!(kh.check("y.x", &blob(KEY_A)), HostKeyCheck::Unknown);
    }

    #[test]
    fn origins_are_scheme_host_and_port() {
        let o = |u: &str| Origin::of(u).map(|o| o.to_string());
        assert_eq!(
            o("https://alice:S3cret@Git.Example.com/org/r.git").as_deref(),
            Some("https://git.example.com:443"),
            "no user or password, the host in lower case, the default port"
        );
        assert_eq!(
            Origin::of("https://git.example.com/a"),
            Origin::of("https://git.example.com:443/b")
        );
        assert_ne!(
            Origin::of("https://git.example.com/a"),
            Origin::of("http://git.example.com/a")
        );
        assert_ne!(
            Origin::of("http://127.0.0.1:8080/a"),
            Origin::of("http://127.0.0.1:8081/a")
        );
        assert_eq!(o("http://[::1]:9/r").as_deref(), Some("http://[::1]:9"));
        assert_eq!(o("ssh://git@host/r"), None);
        assert_eq!(o("git@host:org/r.git"), None);
        assert_eq!(o("/srv/repo"), None);
    }

    #[test]
    fn a_token_is_bound_to_the_url_it_was_configured_for() {
        let creds = Credentials {
            token: Some(("u".into(), Token("t".into()))),
            ..Credentials::default()
        };
        assert!(creds.has_token());
        assert!(matches!(creds.redirects(), git2::RemoteRedirect::None));
        assert!(matches!(
            Credentials::default().redirects(),
            git2::RemoteRedirect::Initial
        ));
        let bound = creds.bound_to("https://git.example.com/org/r.git");
        assert_eq!(
            bound.bound.map(|o| o.to_string()).as_deref(),
            Some("https://git.example.com:443")
        );
    }

    #[test]
    fn tokens_come_from_files_or_the_environment_and_never_print() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret-token\n").unwrap();
        let creds = Credentials::resolve(&GitAuth {
            token_file: Some(file),
            username: "ci".into(),
            ..GitAuth::default()
        })
        .unwrap();
        let shown = format!("{creds:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(creds.token.as_ref().unwrap().1.0, "s3cret-token");

        let err = Credentials::resolve(&GitAuth {
            token_env: Some("MOORING_TEST_SURELY_UNSET_VAR".into()),
            ..GitAuth::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("is not set"), "{err}");

        let err = Credentials::resolve(&GitAuth {
            known_hosts_file: Some(dir.path().join("missing")),
            ..GitAuth::default()
        })
        .unwrap_err();
        assert!(
            matches!(
                &err,
                SourceError::AuthFile {
                    what: "known_hosts",
                    ..
                }
            ),
            "{err:?}"
        );
        // The file system's reason is kept as the cause, and reported.
        assert!(std::error::Error::source(&err).is_some());
        let full = crate::error::with_causes(&err);
        assert!(
            full.starts_with("cannot read known_hosts file ") && full.len() > err.to_string().len(),
            "{full}"
        );
    }
}
