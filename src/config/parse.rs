//! Reading `mooring.yaml`, and laying the command-line flags over it.
//!
//! The file is read with mooring's own YAML reader, so that every error
//! names the file, the line and the field. The rules in [`super::check`]
//! run once, after the flags are laid over the file: a problem with a
//! setting a flag gave names the flag, any other the file's line.

use std::path::{Path, PathBuf};

use crate::manifest::yaml::{self, LineIndex};
use crate::source::Limits;

use super::check::{self, Problem};
use super::{Config, ConfigError, FlintlockHost, KubernetesTarget};

/// Settings given on the command line. Each replaces the same setting of
/// `mooring.yaml`; without a file they are the whole configuration.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--kubeconfig`: adds a Kubernetes target (not in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// `--context`: adds a Kubernetes target (not in-cluster).
    pub context: Option<String>,
    /// `--flintlock NAME=URL`, as (name, URL): replaces the file's host of
    /// that name, or adds one.
    pub flintlock: Vec<(String, String)>,
    /// `--source-name`.
    pub source_name: Option<String>,
    /// `--namespace`: the source's `targetNamespace`.
    pub namespace: Option<String>,
    /// `--force-conflicts`: the Kubernetes target's `forceConflicts`.
    pub force_conflicts: bool,
    /// `$KUBECONFIG` is set and nothing else names a target: a Kubernetes
    /// target from its current context, as kubectl has it.
    pub kubeconfig_env: bool,
}

impl Overrides {
    /// Lays these over `config`. Returns each setting given, as the JSON
    /// pointer it set and the flag that set it.
    fn apply(&self, config: &mut Config) -> Vec<(String, String)> {
        let mut set = Vec::new();
        if self.kubeconfig_env && config.targets.kubernetes.is_none() {
            config.targets.kubernetes = Some(KubernetesTarget::default());
        }
        if self.kubeconfig.is_some() || self.context.is_some() {
            let k = config
                .targets
                .kubernetes
                .get_or_insert_with(KubernetesTarget::default);
            if let Some(p) = &self.kubeconfig {
                k.kubeconfig = Some(p.clone());
                k.in_cluster = false;
                set.push((
                    "/targets/kubernetes/kubeconfig".to_string(),
                    format!("--kubeconfig {}", p.display()),
                ));
            }
            if let Some(c) = &self.context {
                k.context = Some(c.clone());
                k.in_cluster = false;
                set.push((
                    "/targets/kubernetes/context".to_string(),
                    format!("--context {c}"),
                ));
            }
        }
        for (name, endpoint) in &self.flintlock {
            let host = FlintlockHost {
                name: name.clone(),
                endpoint: endpoint.clone(),
                tls: None,
                token_file: None,
            };
            let hosts = &mut config.targets.flintlock;
            // In place, so that the file's other hosts keep their index
            // (and their line).
            let i = match hosts.iter().position(|h| h.name == *name) {
                Some(i) => {
                    hosts[i] = host;
                    i
                }
                None => {
                    hosts.push(host);
                    hosts.len() - 1
                }
            };
            set.push((
                format!("/targets/flintlock/{i}"),
                format!("--flintlock {name}={endpoint}"),
            ));
        }
        if self.force_conflicts
            && let Some(k) = config.targets.kubernetes.as_mut()
        {
            k.force_conflicts = true;
            set.push((
                "/targets/kubernetes/forceConflicts".to_string(),
                "--force-conflicts".to_string(),
            ));
        }
        if let Some(ns) = &self.namespace {
            config.source.target_namespace = Some(ns.clone());
            set.push((
                "/source/targetNamespace".to_string(),
                format!("--namespace {ns}"),
            ));
        }
        if let Some(n) = &self.source_name {
            config.source.name = n.clone();
            set.push(("/source/name".to_string(), format!("--source-name {n:?}")));
        }
        set
    }
}

/// Where the file's settings are, for errors.
struct Lines<'a> {
    path: &'a str,
    index: &'a LineIndex,
    /// The document's first line, for a setting the index does not hold.
    first: usize,
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with(Some(path), &Overrides::default())
    }

    /// Reads the configuration file (if any), lays `overrides` over it and
    /// checks the result.
    pub fn load_with(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return finish(Config::default(), overrides, None);
        };
        let shown = path.display().to_string();
        let text = crate::file::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Config::parse_with(&text, &shown, overrides)
    }

    /// Parses and checks configuration text; `path` is only used in errors.
    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
        Config::parse_with(text, path, &Overrides::default())
    }

    /// [`Config::parse`] with `overrides` laid over the text's settings
    /// before the check.
    pub fn parse_with(
        text: &str,
        path: &str,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
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
            return finish(Config::default(), overrides, None);
        };
        if let Some(extra) = docs.next() {
            return Err(invalid(
                extra.line,
                "a configuration file holds one YAML document".into(),
            ));
        }
        let mut config: Config = serde_path_to_error::deserialize(&doc.value).map_err(|e| {
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
        let lines = Lines {
            path,
            index: &doc.lines,
            first: doc.line,
        };
        check::shape(&config).map_err(|p| lines.error(&p))?;
        config.expand_home();
        finish(config, overrides, Some(&lines))
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
}

/// Lays `overrides` over `config` and checks the result once.
fn finish(
    mut config: Config,
    overrides: &Overrides,
    lines: Option<&Lines<'_>>,
) -> Result<Config, ConfigError> {
    let set = overrides.apply(&mut config);
    config.source.derive_name();
    for source in &mut config.sources {
        source.derive_name();
    }
    check::all(&config).map_err(|problem| {
        let by_flag = set.iter().find(|(pointer, _)| {
            problem
                .pointer
                .strip_prefix(pointer.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        match (by_flag, lines) {
            (Some((_, flag)), _) => ConfigError::Flag {
                flag: flag.clone(),
                message: problem.message,
            },
            (None, Some(lines)) => lines.error(&problem),
            (None, None) => ConfigError::Setting(problem.text()),
        }
    })?;
    Ok(config)
}

impl Lines<'_> {
    fn error(&self, problem: &Problem) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_string(),
            line: self.index.line_of(&problem.pointer).unwrap_or(self.first),
            message: problem.text(),
        }
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
    use std::time::Duration;

    use super::*;
    use crate::config::DeletionCap;

    #[test]
    fn an_unnamed_git_source_is_named_after_its_repository_and_folder() {
        let c = Config::parse(
            "source: {url: 'https://bob:tok@git.example/acme/infra.git', path: clusters/prod}\n",
            "m.yaml",
        )
        .unwrap();
        assert!(c.source.name_derived);
        assert!(
            c.source
                .name
                .starts_with("git-example-acme-infra-git-clusters-prod-"),
            "{}",
            c.source.name
        );
        assert!(!c.source.name.contains("tok"));
        // A name given wins.
        let c = Config::parse(
            "source: {name: team-a, url: 'https://git.example/acme/infra.git'}\n",
            "m.yaml",
        )
        .unwrap();
        assert_eq!(
            (c.source.name.as_str(), c.source.name_derived),
            ("team-a", false)
        );
        // Two unnamed sources of one repository and folder would share a
        // name: each must then be named.
        let err = Config::parse(
            "sources:\n  - {url: 'https://git.example/a.git', ref: main}\n  - {url: 'https://git.example/a.git', ref: dev}\n",
            "m.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("used twice"), "{err}");
    }

    #[test]
    fn an_empty_file_is_the_defaults() {
        let c = Config::parse("# nothing\n", "m.yaml").unwrap();
        assert_eq!(c, Config::default());
        // No name: the command names the source after what it reads.
        assert_eq!(c.source.name, "");
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
    fn the_commented_example_reads() {
        let c = Config::parse(
            include_str!("../../examples/mooring.yaml"),
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
    fn flags_are_checked_once_over_the_file_and_named_when_wrong() {
        let file = "targets:\n  flintlock:\n    - {name: a, endpoint: 'http://x:1'}\n    - {name: b, endpoint: 'http://y:1'}\n";
        // A flag replaces the file's host of its name in place.
        let flags = Overrides {
            flintlock: vec![("a".into(), "http://z:1".into())],
            source_name: Some("team-a".into()),
            ..Overrides::default()
        };
        let c = Config::parse_with(file, "m.yaml", &flags).unwrap();
        let hosts: Vec<(&str, &str)> = c
            .targets
            .flintlock
            .iter()
            .map(|h| (h.name.as_str(), h.endpoint.as_str()))
            .collect();
        assert_eq!(hosts, [("a", "http://z:1"), ("b", "http://y:1")]);
        assert_eq!(c.source.name, "team-a");

        // A bad value from a flag names the flag, not a line of the file.
        let flags = Overrides {
            flintlock: vec![("a".into(), "z:1".into())],
            ..Overrides::default()
        };
        let err = Config::parse_with(file, "m.yaml", &flags).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--flintlock a=z:1: `z:1` needs a scheme: http://host:9090 or https://host:9090"
        );
        let flags = Overrides {
            source_name: Some("not a label".into()),
            ..Overrides::default()
        };
        let err = Config::load_with(None, &flags).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "--source-name \"not a label\": `not a label` must be a valid label value"
            ),
            "{err}"
        );

        // A bad value in the file still names its line, with flags given.
        let file = "targets:\n  flintlock:\n    - {name: a, endpoint: 'http://x:1'}\n    - {name: b, endpoint: 'y:1'}\n";
        let flags = Overrides {
            flintlock: vec![("a".into(), "http://z:1".into())],
            ..Overrides::default()
        };
        let err = Config::parse_with(file, "m.yaml", &flags).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("m.yaml:4: targets.flintlock[1].endpoint:"),
            "{err}"
        );
    }

    #[test]
    fn exclude_patterns_read_and_one_gitignore_cannot_names_its_line() {
        let c = Config::parse("source:\n  exclude: [values.yaml, 'charts/']\n", "m.yaml").unwrap();
        assert_eq!(c.source.exclude, ["values.yaml", "charts/"]);
        let err = Config::parse(
            "sources:\n  - name: a\n    url: x\n    exclude:\n      - ok.yaml\n      - '{a'\n",
            "m.yaml",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.yaml:6: sources[0].exclude[1]: `{a`: unclosed alternate group; missing '}' \
             (maybe escape '{' with '[{]'?)"
        );
    }

    #[test]
    fn without_a_file_the_flags_are_the_configuration() {
        let flags = Overrides {
            context: Some("kind-dev".into()),
            ..Overrides::default()
        };
        let c = Config::load_with(None, &flags).unwrap();
        let k = c.targets.kubernetes.unwrap();
        assert_eq!(k.context.as_deref(), Some("kind-dev"));
        assert_eq!(k.field_manager, "mooring");
        assert!(c.targets.flintlock.is_empty());
    }
}
