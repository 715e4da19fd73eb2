//! `mooring.yaml`: where the manifests come from and which targets they are
//! applied to. `examples/mooring.yaml` is the commented reference.
//!
//! This file holds the types. The settings of a part are that part's own
//! type, embedded here by value and re-exported: a Kubernetes target
//! ([`KubernetesTarget`]) and a flintlockd host ([`FlintlockHost`]) are
//! their backends', Git credentials ([`GitAuth`]) the source's, the
//! deletion cap ([`DeletionCap`]) the engine's; none of those parts reads
//! a configuration. `parse` reads the file (with mooring's own YAML
//! reader, so every error names the file, the line and the field) and lays
//! the command-line flags over it ([`Overrides`]), `check` holds the rules
//! serde cannot say, one function per section, `duration` the `30s` /
//! `1h30m` format, and `engine` builds the [`Engine`](crate::engine::Engine)
//! a configuration describes ([`Config::engine`]). Unknown fields are
//! errors (a typo in `prune` must not silently keep the default).

mod check;
mod engine;
mod parse;
mod schedule;

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

pub use crate::backend::flintlock::{FlintlockHost, Tls};
pub use crate::backend::kubernetes::KubernetesTarget;
pub use crate::duration::parse_duration;
pub use crate::engine::DeletionCap;
pub use crate::source::auth::GitAuth;
pub use parse::Overrides;
pub use schedule::{Schedule, ScheduleError};

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
    /// A setting given on the command line breaks a rule.
    #[error("{flag}: {message}")]
    Flag { flag: String, message: String },
    /// A setting breaks a rule, with neither a file nor a flag to name
    /// (not reachable from the defaults).
    #[error("{0}")]
    Setting(String),
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
    #[serde(default = "default_timeout", with = "crate::duration::required")]
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
    /// object, and of its inventory (`mooring-<name>`). Two sources must
    /// not share a name: each prunes only its own. When not given, derived
    /// from the source's identity ([`crate::source::name`]): the repository
    /// URL and folder, as the configuration is read (`name_derived`), or
    /// the folders on disk, by the command that reads them.
    #[serde(default)]
    pub name: String,
    /// The name was not given but derived from `url` and `path`.
    #[serde(skip)]
    pub name_derived: bool,
    /// Repository: https, ssh, file URL, or a local path.
    #[serde(default)]
    pub url: Option<String>,
    /// Branch, tag or commit.
    #[serde(default = "default_ref", rename = "ref")]
    pub git_ref: String,
    /// Folder of the repository holding the manifests.
    #[serde(default)]
    pub path: String,
    /// Files and folders under `path` not read, in gitignore's syntax
    /// (`values.yaml`, `charts/`, `/generated/**/*.json`, `!keep.yaml`),
    /// matched against paths relative to `path`; as `--exclude`, which adds
    /// to them. `.mooringignore` files in the repository do the same from
    /// the repository itself.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// How Kustomize and Helm folders are rendered: the binaries, the
    /// deadline, remote access, and rules per folder (Helm's release,
    /// namespace and values; `render: none` to read one as written).
    #[serde(default)]
    pub render: crate::render::Settings,
    /// Fields Git sets at creation and someone else owns afterwards (an
    /// HPA's `replicas`): never a difference, drift, or healed (as Argo
    /// CD's `ignoreDifferences`). Per object: `mooring.dev/ignore`.
    #[serde(default)]
    pub ignore: Vec<crate::plan::ignore::IgnoreRule>,
    #[serde(default)]
    pub auth: Option<GitAuth>,
    /// Allow the token of `auth` (or a password in `url`) over plain
    /// `http://`, unencrypted: refused otherwise. For a server on loopback
    /// or a trusted network only.
    #[serde(default)]
    pub insecure: bool,
    /// Where this source's namespaced objects without `metadata.namespace`
    /// go (as Flux's `targetNamespace` and `kubectl apply -n`); when not
    /// given, the kubeconfig context's namespace, else `default`.
    #[serde(default)]
    pub target_namespace: Option<String>,
    /// `mooring run`: fetch and sync this often, e.g. `1m` (the default
    /// when no `schedule` is given).
    #[serde(default, with = "crate::duration::optional")]
    pub interval: Option<Duration>,
    /// `mooring run`: sync on this cron schedule instead of an interval
    /// (minute hour day-of-month month day-of-week, e.g. `*/5 * * * *` for
    /// every five minutes; six fields, seconds first, are accepted too).
    #[serde(default)]
    pub schedule: Option<String>,
    /// The IANA time zone of `schedule` and of the windows that name none
    /// (UTC when not given).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// `mooring run`: re-read live state and look for drift this often.
    #[serde(default = "default_drift_interval", with = "crate::duration::required")]
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
    /// Cron, five fields (or six, seconds first), e.g. `0 22 * * Mon-Fri`.
    pub schedule: String,
    #[serde(with = "crate::duration::required")]
    pub duration: Duration,
    /// The IANA time zone of `schedule`; the source's `timeZone`, else UTC,
    /// when not given.
    #[serde(default)]
    pub time_zone: Option<String>,
}

impl SyncWindow {
    /// The window's schedule in its time zone (else `zone`, the source's).
    pub fn parsed(&self, zone: Option<&str>) -> Result<Schedule, ScheduleError> {
        Schedule::parse(&self.schedule, self.time_zone.as_deref().or(zone))
    }
}

impl Source {
    /// The source's sync `schedule` in its `timeZone`, if it has one.
    pub fn sync_schedule(&self) -> Option<Result<Schedule, ScheduleError>> {
        self.schedule
            .as_deref()
            .map(|s| Schedule::parse(s, self.time_zone.as_deref()))
    }
}

impl Config {
    /// Every source: `sources`, or the one `source`.
    pub fn all_sources(&self) -> Vec<&Source> {
        if self.sources.is_empty() {
            vec![&self.source]
        } else {
            self.sources.iter().collect()
        }
    }
}

impl Default for Source {
    fn default() -> Self {
        Source {
            name: String::new(),
            name_derived: false,
            url: None,
            git_ref: default_ref(),
            path: String::new(),
            exclude: Vec::new(),
            render: crate::render::Settings::default(),
            ignore: Vec::new(),
            auth: None,
            insecure: false,
            target_namespace: None,
            interval: None,
            schedule: None,
            time_zone: None,
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
    /// Gives a source without a name the one its repository URL and
    /// folder make ([`crate::source::name::for_git`]); a source without
    /// a URL keeps none (the command reading its folders names it).
    pub fn derive_name(&mut self) {
        if !self.name.is_empty() {
            return;
        }
        if let Some(url) = &self.url {
            self.name = crate::source::name::for_git(&url.as_str().into(), &self.path);
            self.name_derived = true;
        }
    }

    /// How often `mooring run` syncs when no schedule is set.
    pub fn sync_interval(&self) -> Duration {
        self.interval.unwrap_or(Duration::from_secs(60))
    }
}

fn default_ref() -> String {
    "HEAD".to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_parse() {
        assert!(is_label_value("tidewater-platform"));
        assert!(!is_label_value("-x") && !is_label_value("a,b") && !is_label_value(""));
    }
}
