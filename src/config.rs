//! `mooring.yaml`: where the manifests come from and which targets they are
//! applied to. `examples/mooring.yaml` is the commented reference.
//!
//! The file is read with mooring's own YAML reader, so every error names
//! the file, the line and the field, and unknown fields are errors (a typo
//! in `prune` must not silently keep the default).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::manifest::yaml::{self, Limits};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: String,
        line: usize,
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub source: Source,
    /// More than one source (for `mooring run`); then `source` is not used.
    #[serde(default)]
    pub sources: Vec<Source>,
    #[serde(default)]
    pub targets: Targets,
    /// Delete objects that mooring applied earlier and Git no longer
    /// declares.
    #[serde(default)]
    pub prune: bool,
    /// Re-apply objects whose live state drifted (used by `mooring run`;
    /// `apply` always converges).
    #[serde(default)]
    pub self_heal: bool,
    /// The most deletions one run may make without `--force-prune`: a
    /// number, or a percentage of the managed objects (`30%`).
    #[serde(default)]
    pub max_deletions: DeletionCap,
    /// Requests in flight per backend.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Time limit of one request to a target, e.g. `30s`.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: Source::default(),
            sources: Vec::new(),
            targets: Targets::default(),
            prune: false,
            self_heal: false,
            max_deletions: DeletionCap::default(),
            concurrency: default_concurrency(),
            timeout: default_timeout(),
        }
    }
}

fn default_concurrency() -> usize {
    8
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

/// Where manifests come from.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    /// Name written into the `mooring.dev/source` label of every applied
    /// object. Two sources must not share a name: each prunes only its own.
    #[serde(default = "default_source_name")]
    pub name: String,
    /// Repository: https, ssh, file URL, or a local path.
    #[serde(default)]
    pub url: Option<String>,
    /// Branch, tag or commit.
    #[serde(default = "default_ref", rename = "ref")]
    pub git_ref: String,
    /// Folder of the repository holding the manifests.
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub auth: Option<GitAuth>,
    /// `mooring run`: fetch and sync this often, e.g. `1m` (the default
    /// when no `schedule` is given).
    #[serde(default, with = "duration_opt")]
    pub interval: Option<Duration>,
    /// `mooring run`: sync on this cron schedule instead of an interval
    /// (seconds minutes hours day-of-month month day-of-week, e.g.
    /// `0 */5 * * * *` for every five minutes).
    #[serde(default)]
    pub schedule: Option<String>,
    /// `mooring run`: re-read live state and look for drift this often.
    #[serde(default = "default_drift_interval", with = "duration")]
    pub drift_interval: Duration,
    /// `mooring run`: when changes may be applied (as Argo CD's sync
    /// windows). Outside them changes are planned and reported only.
    #[serde(default)]
    pub windows: Vec<SyncWindow>,
    /// `mooring run`: how push webhooks (`POST /hooks/git`) for this
    /// source's repository are authenticated.
    #[serde(default)]
    pub webhook: Option<Webhook>,
}

/// The shared secret of a push webhook: GitHub and Gitea sign the body with
/// it (HMAC-SHA256), GitLab sends it as a token. Read from a file or the
/// environment, never written in this file, and never logged. Without one,
/// any push naming the repository triggers a fetch.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Webhook {
    /// File holding the secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Environment variable holding the secret.
    #[serde(default)]
    pub secret_env: Option<String>,
}

/// Whether a window allows or denies applying.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    Allow,
    Deny,
}

/// A window opening at each time of a cron `schedule`, for `duration`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncWindow {
    pub kind: WindowKind,
    /// Six-field cron (seconds first), UTC, e.g. `0 0 22 * * Mon-Fri`.
    pub schedule: String,
    #[serde(with = "duration")]
    pub duration: Duration,
}

impl SyncWindow {
    /// Whether the window is open at `now`: the schedule fired at most
    /// `duration` ago. A schedule that does not parse is never open (the
    /// configuration check refuses it).
    pub fn is_open(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        let Ok(schedule) = self.schedule.parse::<cron::Schedule>() else {
            return false;
        };
        let Ok(span) = chrono::Duration::from_std(self.duration) else {
            return false;
        };
        let since = now - span;
        schedule
            .after(&since)
            .next()
            .is_some_and(|fired| fired <= now)
    }
}

/// Why applying is held back at `now`, if it is: inside a deny window, or
/// outside every allow window (when there are any).
pub fn window_hold(windows: &[SyncWindow], now: chrono::DateTime<chrono::Utc>) -> Option<String> {
    if let Some(w) = windows
        .iter()
        .find(|w| w.kind == WindowKind::Deny && w.is_open(now))
    {
        return Some(format!("inside the deny window `{}`", w.schedule));
    }
    let allows: Vec<&SyncWindow> = windows
        .iter()
        .filter(|w| w.kind == WindowKind::Allow)
        .collect();
    if !allows.is_empty() && !allows.iter().any(|w| w.is_open(now)) {
        return Some("outside every allow window".to_string());
    }
    None
}

impl Default for Source {
    fn default() -> Self {
        Source {
            name: default_source_name(),
            url: None,
            git_ref: default_ref(),
            path: String::new(),
            auth: None,
            interval: None,
            schedule: None,
            drift_interval: default_drift_interval(),
            windows: Vec::new(),
            webhook: None,
        }
    }
}

fn default_drift_interval() -> Duration {
    Duration::from_secs(60)
}

impl Source {
    /// How often `mooring run` syncs when no schedule is set.
    pub fn sync_interval(&self) -> Duration {
        self.interval.unwrap_or(Duration::from_secs(60))
    }
}

fn default_source_name() -> String {
    "default".to_string()
}

fn default_ref() -> String {
    "HEAD".to_string()
}

/// Credentials for the Git source. Secrets are read from files or the
/// environment, never written in this file, and never logged.
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

/// The targets objects are applied to. Either may be absent; objects of a
/// kind whose target is not configured are an error at plan time.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Targets {
    #[serde(default)]
    pub kubernetes: Option<KubernetesTarget>,
    #[serde(default)]
    pub flintlock: Vec<FlintlockHost>,
}

/// A Kubernetes cluster.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubernetesTarget {
    /// kubeconfig file [default: $KUBECONFIG, then ~/.kube/config].
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context [default: the file's current-context].
    #[serde(default)]
    pub context: Option<String>,
    /// Use the pod's service account instead of a kubeconfig.
    #[serde(default)]
    pub in_cluster: bool,
    /// Server-side apply field manager.
    #[serde(default = "default_field_manager")]
    pub field_manager: String,
    /// Take fields owned by other managers instead of reporting a conflict.
    #[serde(default)]
    pub force_conflicts: bool,
}

impl Default for KubernetesTarget {
    fn default() -> Self {
        KubernetesTarget {
            kubeconfig: None,
            context: None,
            in_cluster: false,
            field_manager: default_field_manager(),
            force_conflicts: false,
        }
    }
}

fn default_field_manager() -> String {
    "mooring".to_string()
}

/// One flintlockd.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlintlockHost {
    /// Name that `mooring.dev/host` annotations refer to.
    pub name: String,
    /// gRPC endpoint, `http://host:9090` or `https://host:9090`.
    pub endpoint: String,
    #[serde(default)]
    pub tls: Option<Tls>,
    /// File holding the shared token flintlockd was started with.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

/// TLS for a gRPC endpoint: `ca` verifies the server; `cert` and `key`
/// present a client certificate (mTLS).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tls {
    #[serde(default)]
    pub ca: Option<PathBuf>,
    #[serde(default)]
    pub cert: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
}

/// The deletion cap: an absolute number or a share of managed objects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DeletionCap {
    Count(usize),
    Percent(f64),
}

impl Default for DeletionCap {
    fn default() -> Self {
        DeletionCap::Percent(30.0)
    }
}

impl DeletionCap {
    /// The most deletions allowed when `managed` objects are managed. A
    /// percentage above zero always allows at least one deletion.
    pub fn limit(&self, managed: usize) -> usize {
        match *self {
            DeletionCap::Count(n) => n,
            DeletionCap::Percent(p) if p <= 0.0 => 0,
            DeletionCap::Percent(p) => (((managed as f64) * p / 100.0).floor() as usize).max(1),
        }
    }
}

impl std::fmt::Display for DeletionCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeletionCap::Count(n) => write!(f, "{n}"),
            DeletionCap::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl std::str::FromStr for DeletionCap {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let p: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("`{s}` is not a percentage like `30%`"))?;
            if !(0.0..=100.0).contains(&p) {
                return Err(format!("`{s}` is not between 0% and 100%"));
            }
            Ok(DeletionCap::Percent(p))
        } else {
            s.parse().map(DeletionCap::Count).map_err(|_| {
                format!("`{s}` is neither a count like `5` nor a percentage like `30%`")
            })
        }
    }
}

impl<'de> Deserialize<'de> for DeletionCap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match &v {
            Value::Number(n) => n
                .as_u64()
                .map(|n| DeletionCap::Count(n as usize))
                .ok_or_else(|| {
                    serde::de::Error::custom("a deletion cap is a whole number or `N%`")
                }),
            Value::String(s) => s.parse().map_err(serde::de::Error::custom),
            _ => Err(serde::de::Error::custom(
                "a deletion cap is a whole number or `N%`",
            )),
        }
    }
}

/// Whether `name` can be a Kubernetes label value, as `source.name` must:
/// 1 to 63 letters, digits, `-`, `_`, `.`, starting and ending with a
/// letter or digit.
pub fn is_label_value(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Parses `90s`, `5m`, `1h`, `1h30m`, `250ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("a duration is empty".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(format!(
                "`{text}` is not a duration like `30s`, `5m` or `1h30m`"
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}` is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.chars().take_while(|c| c.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let too_large = || format!("`{text}` is too large");
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(too_large)?),
            "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(too_large)?),
            _ => {
                return Err(format!(
                    "`{text}`: unknown unit `{unit}` (use ms, s, m or h)"
                ));
            }
        };
        total = total.checked_add(d).ok_or_else(too_large)?;
    }
    Ok(total)
}

mod duration_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| super::parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = crate::file::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Config::parse(&text, &shown)
    }

    /// Parses configuration text; `path` is only used in errors.
    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
        let invalid = |line: usize, message: String| ConfigError::Invalid {
            path: path.to_string(),
            line,
            message,
        };
        let (docs, errors) = yaml::parse_stream(text, &Limits::default());
        if let Some(e) = errors.iter().find(|e| !e.warning) {
            return Err(invalid(e.line, e.message.clone()));
        }
        let mut docs = docs.into_iter();
        let Some(doc) = docs.next() else {
            return Ok(Config::default());
        };
        if let Some(extra) = docs.next() {
            return Err(invalid(
                extra.line,
                "a configuration file holds one YAML document".into(),
            ));
        }
        let config: Config = serde_path_to_error::deserialize(&doc.value).map_err(|e| {
            let pointer = to_pointer(e.path());
            let line = doc.lines.line_of(&pointer).unwrap_or(doc.line);
            let field = e.path().to_string();
            let message = if field == "." {
                e.inner().to_string()
            } else {
                format!("{field}: {}", e.inner())
            };
            invalid(line, message)
        })?;
        config.check().map_err(|(pointer, message)| {
            let line = doc.lines.line_of(&pointer).unwrap_or(doc.line);
            invalid(line, message)
        })?;
        let mut config = config;
        config.expand_home();
        Ok(config)
    }

    /// `~/x` in file settings means `$HOME/x`, as in a shell.
    fn expand_home(&mut self) {
        let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) else {
            return;
        };
        let expand = |p: &mut PathBuf| {
            if let Ok(rest) = p.strip_prefix("~") {
                *p = PathBuf::from(&home).join(rest);
            }
        };
        let opt = |p: &mut Option<PathBuf>| {
            if let Some(p) = p {
                expand(p);
            }
        };
        for src in std::iter::once(&mut self.source).chain(self.sources.iter_mut()) {
            if let Some(a) = &mut src.auth {
                opt(&mut a.ssh_key_file);
                opt(&mut a.known_hosts_file);
                opt(&mut a.token_file);
            }
            if let Some(w) = &mut src.webhook {
                opt(&mut w.secret_file);
            }
        }
        if let Some(k) = &mut self.targets.kubernetes {
            opt(&mut k.kubeconfig);
        }
        for h in &mut self.targets.flintlock {
            opt(&mut h.token_file);
            if let Some(t) = &mut h.tls {
                opt(&mut t.ca);
                opt(&mut t.cert);
                opt(&mut t.key);
            }
        }
    }

    /// Every source: `sources`, or the one `source`.
    pub fn all_sources(&self) -> Vec<&Source> {
        if self.sources.is_empty() {
            vec![&self.source]
        } else {
            self.sources.iter().collect()
        }
    }

    /// Rules serde cannot say. Errors carry a JSON pointer for the line.
    fn check(&self) -> Result<(), (String, String)> {
        if !self.sources.is_empty() && self.source != Source::default() {
            return Err((
                "/sources".into(),
                "sources: give either `source` or `sources`, not both".into(),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, src) in self.sources.iter().enumerate() {
            if !seen.insert(src.name.as_str()) {
                return Err((
                    format!("/sources/{i}/name"),
                    format!(
                        "sources[{i}].name: `{}` is used twice; each source prunes by its name",
                        src.name
                    ),
                ));
            }
        }
        for (i, src) in self.all_sources().into_iter().enumerate() {
            let at = if self.sources.is_empty() {
                "/source".to_string()
            } else {
                format!("/sources/{i}")
            };
            if let Some(cron) = &src.schedule {
                if src.interval.is_some() {
                    return Err((
                        format!("{at}/schedule"),
                        "schedule: give `interval` or `schedule`, not both".into(),
                    ));
                }
                if let Err(e) = cron.parse::<cron::Schedule>() {
                    return Err((
                        format!("{at}/schedule"),
                        format!(
                            "schedule: `{cron}` is not a cron schedule ({e}); six fields: sec min hour day-of-month month day-of-week, e.g. `0 */5 * * * *`"
                        ),
                    ));
                }
            }
            for (j, w) in src.windows.iter().enumerate() {
                if let Err(e) = w.schedule.parse::<cron::Schedule>() {
                    return Err((
                        format!("{at}/windows/{j}/schedule"),
                        format!(
                            "windows[{j}].schedule: `{}` is not a cron schedule ({e}); six fields: sec min hour day-of-month month day-of-week",
                            w.schedule
                        ),
                    ));
                }
                if w.duration.is_zero() {
                    return Err((
                        format!("{at}/windows/{j}/duration"),
                        format!("windows[{j}].duration: must be above zero"),
                    ));
                }
            }
            if src.interval.is_some_and(|d| d.is_zero()) || src.drift_interval.is_zero() {
                return Err((at, "interval and driftInterval must be above zero".into()));
            }
        }
        if self.concurrency == 0 {
            return Err((
                "/concurrency".into(),
                "concurrency: must be at least 1".into(),
            ));
        }
        if self.timeout.is_zero() {
            return Err(("/timeout".into(), "timeout: must be above zero".into()));
        }
        if let Some(bad) = self
            .all_sources()
            .into_iter()
            .find(|s| !is_label_value(&s.name))
        {
            return Err((
                "/source/name".into(),
                format!(
                    "source.name: `{}` must be a valid label value (letters, digits, `-`, `_`, `.`; at most 63)",
                    bad.name
                ),
            ));
        }
        if !is_label_value(&self.source.name) {
            return Err((
                "/source/name".into(),
                format!(
                    "source.name: `{}` must be a valid label value (letters, digits, `-`, `_`, `.`; at most 63)",
                    self.source.name
                ),
            ));
        }
        for (i, src) in self.all_sources().into_iter().enumerate() {
            let (at, field) = if self.sources.is_empty() {
                ("/source".to_string(), "source".to_string())
            } else {
                (format!("/sources/{i}"), format!("sources[{i}]"))
            };
            if let Some(auth) = &src.auth {
                if auth.ssh_key_file.is_some() && auth.known_hosts_file.is_none() {
                    return Err((
                        format!("{at}/auth"),
                        format!(
                            "{field}.auth: sshKeyFile needs knownHostsFile: host keys are verified, never accepted blindly"
                        ),
                    ));
                }
                if auth.token_file.is_some() && auth.token_env.is_some() {
                    return Err((
                        format!("{at}/auth"),
                        format!("{field}.auth: give tokenFile or tokenEnv, not both"),
                    ));
                }
            }
            if let Some(hook) = &src.webhook {
                match (&hook.secret_file, &hook.secret_env) {
                    (Some(_), Some(_)) => {
                        return Err((
                            format!("{at}/webhook"),
                            format!("{field}.webhook: give secretFile or secretEnv, not both"),
                        ));
                    }
                    (None, None) => {
                        return Err((
                            format!("{at}/webhook"),
                            format!(
                                "{field}.webhook: give secretFile or secretEnv (leave `webhook` out to accept unsigned pushes)"
                            ),
                        ));
                    }
                    _ => {}
                }
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, host) in self.targets.flintlock.iter().enumerate() {
            if !names.insert(host.name.as_str()) {
                return Err((
                    format!("/targets/flintlock/{i}/name"),
                    format!("targets.flintlock[{i}].name: `{}` is used twice", host.name),
                ));
            }
            if !(host.endpoint.starts_with("http://") || host.endpoint.starts_with("https://")) {
                return Err((
                    format!("/targets/flintlock/{i}/endpoint"),
                    format!(
                        "targets.flintlock[{i}].endpoint: `{}` needs a scheme: http://host:9090 or https://host:9090",
                        host.endpoint
                    ),
                ));
            }
        }
        if let Some(k) = &self.targets.kubernetes
            && k.field_manager.is_empty()
        {
            return Err((
                "/targets/kubernetes/fieldManager".into(),
                "targets.kubernetes.fieldManager: must not be empty".into(),
            ));
        }
        Ok(())
    }
}

/// serde_path_to_error's path as a JSON pointer, for the line index.
fn to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push('/');
                out.push_str(&crate::kinds::pointer_token(key));
            }
            Segment::Unknown => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_defaults() {
        let c = Config::parse("# nothing\n", "m.yaml").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.source.name, "default");
        assert_eq!(c.max_deletions, DeletionCap::Percent(30.0));
        assert_eq!(c.concurrency, 8);
    }

    #[test]
    fn a_full_file_reads() {
        let c = Config::parse(
            "source:\n  name: tidewater\n  url: https://git.example/infra.git\n  ref: main\n  path: clusters/prod\n  auth: {tokenEnv: GIT_TOKEN}\ntargets:\n  kubernetes: {context: prod, fieldManager: mooring-prod}\n  flintlock:\n    - {name: edge-1, endpoint: 'http://10.0.0.1:9090', tokenFile: /run/token}\nprune: true\nmaxDeletions: 5\ntimeout: 1m30s\n",
            "m.yaml",
        )
        .unwrap();
        assert_eq!(c.source.git_ref, "main");
        assert_eq!(c.targets.flintlock[0].name, "edge-1");
        assert_eq!(c.max_deletions, DeletionCap::Count(5));
        assert_eq!(c.timeout, Duration::from_secs(90));
        assert_eq!(c.targets.kubernetes.unwrap().field_manager, "mooring-prod");
    }

    #[test]
    fn a_typo_names_the_line_and_the_field() {
        let err = Config::parse("source:\n  url: x\nprnue: true\n", "m.yaml").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("m.yaml:3:"), "{text}");
        assert!(text.contains("prnue"), "{text}");
    }

    #[test]
    fn ssh_keys_need_known_hosts() {
        let err = Config::parse(
            "source:\n  url: ssh://git@host/repo\n  auth:\n    sshKeyFile: /k\n",
            "m.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("knownHostsFile"), "{err}");
        assert!(err.to_string().starts_with("m.yaml:3:"), "{err}");
    }

    #[test]
    fn duplicate_hosts_and_schemeless_endpoints_are_refused() {
        let err = Config::parse(
            "targets:\n  flintlock:\n    - {name: a, endpoint: 'http://x:1'}\n    - {name: a, endpoint: 'http://y:1'}\n",
            "m.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("used twice"), "{err}");
        let err = Config::parse(
            "targets:\n  flintlock:\n    - {name: a, endpoint: 'x:1'}\n",
            "m.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("needs a scheme"), "{err}");
    }

    #[test]
    fn the_commented_example_reads() {
        let c = Config::parse(
            include_str!("../examples/mooring.yaml"),
            "examples/mooring.yaml",
        )
        .unwrap();
        assert_eq!(c.source.name, "tidewater-platform");
        assert_eq!(c.targets.flintlock.len(), 2);
        assert!(c.prune);
        let kubeconfig = c.targets.kubernetes.unwrap().kubeconfig.unwrap();
        assert!(!kubeconfig.starts_with("~"), "{}", kubeconfig.display());
    }

    #[test]
    fn sources_schedules_and_intervals() {
        let c = Config::parse(
            "sources:\n  - {name: a, url: /r, interval: 30s}\n  - {name: b, url: /s, schedule: '0 */5 * * * *', driftInterval: 10s}\n",
            "m.yaml",
        )
        .unwrap();
        let names: Vec<&str> = c.all_sources().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(c.sources[0].sync_interval(), Duration::from_secs(30));
        assert_eq!(c.sources[1].drift_interval, Duration::from_secs(10));
        let err =
            Config::parse("source: {name: x, schedule: 'every minute'}\n", "m.yaml").unwrap_err();
        assert!(err.to_string().contains("not a cron schedule"), "{err}");
        let err = Config::parse("sources:\n  - {name: a}\n  - {name: a}\n", "m.yaml").unwrap_err();
        assert!(err.to_string().contains("used twice"), "{err}");
        assert_eq!(Config::default().all_sources().len(), 1);
    }

    #[test]
    fn sync_windows_allow_and_deny() {
        use chrono::TimeZone;
        let c = Config::parse(
            "source:\n  url: /r\n  windows:\n    - {kind: allow, schedule: '0 0 22 * * *', duration: 2h}\n    - {kind: deny, schedule: '0 30 23 * * *', duration: 10m}\n",
            "m.yaml",
        )
        .unwrap();
        let w = &c.source.windows;
        let at = |h, m| chrono::Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap();
        assert_eq!(
            window_hold(w, at(21, 59)).as_deref(),
            Some("outside every allow window")
        );
        assert_eq!(window_hold(w, at(22, 0)), None);
        assert_eq!(window_hold(w, at(23, 10)), None);
        assert!(window_hold(w, at(23, 35)).unwrap().contains("deny window"));
        assert_eq!(window_hold(w, at(23, 45)), None);
        assert!(
            window_hold(w, at(0, 1)).is_some(),
            "the allow window closed at midnight"
        );
        assert_eq!(window_hold(&[], at(3, 0)), None);
        let err = Config::parse(
            "source:\n  windows: [{kind: allow, schedule: nightly, duration: 1h}]\n",
            "m.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("windows[0].schedule"), "{err}");
        assert!(err.to_string().starts_with("m.yaml:2:"), "{err}");
    }

    #[test]
    fn durations_and_caps_parse() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("18446744073709551615h").is_err());
        assert!(parse_duration("18446744073709551615s1s").is_err());
        assert_eq!("0%".parse::<DeletionCap>().unwrap().limit(100), 0);
        assert!(is_label_value("tidewater-platform"));
        assert!(!is_label_value("-x") && !is_label_value("a,b") && !is_label_value(""));
        assert_eq!("30%".parse::<DeletionCap>().unwrap().limit(10), 3);
        assert_eq!("30%".parse::<DeletionCap>().unwrap().limit(2), 1);
        assert_eq!("4".parse::<DeletionCap>().unwrap().limit(100), 4);
        assert!("130%".parse::<DeletionCap>().is_err());
    }

    #[test]
    fn every_source_has_its_auth_and_webhook_checked() {
        let err = Config::parse(
            "sources:\n  - {name: a, url: /r}\n  - name: b\n    url: /r\n    webhook: {secretFile: /s, secretEnv: S}\n",
            "m.yaml",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("m.yaml:5:"), "{text}");
        assert!(text.contains("sources[1].webhook"), "{text}");
        let err = Config::parse(
            "sources:\n  - name: a\n    url: /r\n    auth: {sshKeyFile: /k}\n",
            "m.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("sources[0].auth"), "{err}");
        let err = Config::parse("source: {url: /r, webhook: {}}\n", "m.yaml").unwrap_err();
        assert!(err.to_string().contains("secretFile or secretEnv"), "{err}");
        let c = Config::parse("source: {url: /r, webhook: {secretEnv: HOOK}}\n", "m.yaml").unwrap();
        assert_eq!(
            c.source.webhook.unwrap().secret_env.as_deref(),
            Some("HOOK")
        );
    }
}
