//! The render stage of the desired side: Kustomize and Helm folders turned
//! into objects, each placed at the file and line it was written in.
//!
//! [`Renderer::render`] finds the folders to render ([`roots`]), runs the
//! real `kustomize build` or `helm template` on each ([`kustomize`],
//! [`helm`]) as a child process ([`process`]) with a clean environment, a
//! deadline and an output cap, in parallel up to the number of cores, and
//! maps every object back to its origin ([`origin`]). A Git revision is
//! rendered from its checkout ([`crate::source::checkout`]), a folder on
//! disk in place. Each render is cached by the content of what it reads
//! ([`inputs`]: its folder and the bases it names), the renderer's version
//! and the settings, so a folder a commit leaves alone renders nothing.
//!
//! Safe by default: remote bases and resources are refused before
//! Kustomize runs and the network is closed to it through a proxy that
//! answers nothing, unless the source says `allowRemote: true`; Kustomize's
//! plugins, exec functions and Helm charts stay off; Helm reads no
//! repository or registry configuration of the user's and fetches no
//! dependency. No token or kubeconfig reaches a renderer's environment.

mod helm;
mod inputs;
mod kustomize;
mod origin;
pub mod process;
pub mod roots;

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::finding::Finding;
use crate::manifest::{Limits, RenderedDoc, Unit, yaml};
use crate::source::Read;
use crate::source::checkout::on_disk;

use process::{Run, RunError};
use roots::{Root, Tool};

/// What produced a finding of this stage.
pub const SOURCE: &str = "render";

/// Default deadline of one render.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How a folder (and what is under it) is rendered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// By what it holds: a kustomization, a `Chart.yaml`, or neither.
    #[default]
    Auto,
    /// Read as written, whatever it holds.
    None,
    /// Must hold a kustomization.
    Kustomize,
    /// Must hold a Helm chart.
    Helm,
}

/// A chart's settings, as Argo CD's `spec.source.helm`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmSettings {
    /// The release name; the chart folder's name when not given.
    #[serde(default)]
    pub release_name: Option<String>,
    /// The release namespace; the source's target namespace (else the
    /// context's, else `default`) when not given.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Values files, relative to the chart folder, applied in order after
    /// the chart's `values.yaml`.
    #[serde(default)]
    pub value_files: Vec<String>,
    /// Inline values, applied last.
    #[serde(default)]
    pub values: Option<Value>,
}

/// A rule for one folder of a source.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PathRule {
    /// Relative to the source's folder.
    pub path: String,
    #[serde(default)]
    pub render: Mode,
    #[serde(default)]
    pub helm: HelmSettings,
}

/// A source's render settings (`render:` in mooring.yaml).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// The `kustomize` binary; `kustomize` on `PATH` when not given.
    #[serde(default)]
    pub kustomize: Option<PathBuf>,
    /// The `helm` binary (Helm 4); `helm` on `PATH` when not given.
    #[serde(default)]
    pub helm: Option<PathBuf>,
    /// Deadline of one render.
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::duration::required::deserialize"
    )]
    pub timeout: Duration,
    /// Let Kustomize fetch remote bases and resources, through the user's
    /// own network settings. Off: they are refused.
    #[serde(default)]
    pub allow_remote: bool,
    /// Rules per folder.
    #[serde(default)]
    pub paths: Vec<PathRule>,
}

fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            kustomize: None,
            helm: None,
            timeout: DEFAULT_TIMEOUT,
            allow_remote: false,
            paths: Vec::new(),
        }
    }
}

/// What the target adds to a render.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The namespace a chart's release goes to when its settings name none.
    pub namespace: &'a str,
    /// The target's Kubernetes version, for Helm's `--kube-version`.
    pub kube_version: Option<&'a str>,
}

/// Everything a render of a source produced.
#[derive(Debug, Default)]
pub struct Rendered {
    pub docs: Vec<RenderedDoc>,
    /// Per file read from the source: whether a render read it (so it is
    /// not also read as written).
    pub consumed: Vec<bool>,
    pub findings: Vec<Finding>,
    /// Folders rendered, and how many of them came from the cache.
    pub renders: usize,
    pub cached: usize,
    /// Time spent running renderers.
    pub elapsed: Duration,
}

/// One folder's render.
#[derive(Debug, Default)]
struct Outcome {
    docs: Vec<RenderedDoc>,
    findings: Vec<Finding>,
}

impl Outcome {
    /// No object: one error at the kustomization or chart.
    fn failed(root: &Root, message: String) -> Outcome {
        Outcome {
            docs: Vec::new(),
            findings: vec![Finding::error(SOURCE, message).at(root.marker.clone(), 1)],
        }
    }
}

/// Most renders kept in a renderer's cache.
const CACHE_ENTRIES: usize = 256;

/// Renders sources with one set of settings, caching what it rendered.
/// One per source in the daemon, so an unchanged revision renders nothing.
#[derive(Debug, Default)]
pub struct Renderer {
    settings: Settings,
    cache: Mutex<HashMap<String, Arc<Outcome>>>,
    versions: Mutex<HashMap<Tool, Result<String, String>>>,
}

impl Renderer {
    pub fn new(settings: Settings) -> Renderer {
        Renderer {
            settings,
            ..Renderer::default()
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Renders every folder of `read` that is a kustomization or a chart.
    pub fn render(&self, read: &Read, context: Context<'_>, limits: &Limits) -> Rendered {
        let found = roots::find(&read.files, &self.settings.paths, limits);
        let mut out = Rendered {
            consumed: found.consumed,
            ..Rendered::default()
        };
        for (i, path) in &found.unmatched {
            let rule = &self.settings.paths[*i];
            out.findings.push(
                Finding::error(
                    SOURCE,
                    format!(
                        "render.paths names {path} as `render: {}`, but no folder there holds {}",
                        rule.tool_name(),
                        match rule.render {
                            Mode::Helm => "a Chart.yaml",
                            _ => "a kustomization.yaml",
                        }
                    ),
                )
                .at(format!("{}/", path.trim_end_matches('/')), 1),
            );
        }
        if found.roots.is_empty() {
            return out;
        }
        if read.revision.is_some() && read.checkout.is_none() {
            // The checkout failed: that finding is in the read already.
            return out;
        }
        let started = Instant::now();
        let results: Vec<(Arc<Outcome>, bool)> = found
            .roots
            .par_iter()
            .map(|root| self.render_cached(root, read, context, limits))
            .collect();
        out.elapsed = started.elapsed();
        out.renders = results.len();
        for (outcome, cached) in results {
            out.cached += usize::from(cached);
            out.docs.extend(outcome.docs.iter().cloned());
            out.findings.extend(outcome.findings.iter().cloned());
        }
        tracing::debug!(
            source = %read.label,
            renders = out.renders,
            cached = out.cached,
            objects = out.docs.len(),
            elapsed_ms = out.elapsed.as_millis() as u64,
            "rendered Kustomize and Helm folders"
        );
        out
    }

    fn binary(&self, tool: Tool) -> PathBuf {
        let configured = match tool {
            Tool::Kustomize => &self.settings.kustomize,
            Tool::Helm => &self.settings.helm,
        };
        configured
            .clone()
            .unwrap_or_else(|| PathBuf::from(tool.name()))
    }

    /// The renderer's version (`v5.8.2`), asked once.
    fn version(&self, tool: Tool) -> Result<String, String> {
        if let Ok(versions) = self.versions.lock()
            && let Some(v) = versions.get(&tool)
        {
            return v.clone();
        }
        let args: Vec<OsString> = match tool {
            Tool::Kustomize => vec!["version".into()],
            Tool::Helm => vec!["version".into(), "--short".into()],
        };
        let binary = self.binary(tool);
        let result = process::run(&Run {
            program: binary.clone(),
            args,
            cwd: std::env::temp_dir(),
            env: vec![("PATH".into(), std::env::var_os("PATH").unwrap_or_default())],
            timeout: self.settings.timeout,
            max_output: 4096,
        })
        .map(|out| String::from_utf8_lossy(&out).trim().to_string())
        .map_err(|e| not_installed(tool, &binary, &e));
        if let Ok(mut versions) = self.versions.lock() {
            versions.insert(tool, result.clone());
        }
        result
    }

    fn render_cached(
        &self,
        root: &Root,
        read: &Read,
        context: Context<'_>,
        limits: &Limits,
    ) -> (Arc<Outcome>, bool) {
        let failed = |message: String| (Arc::new(Outcome::failed(root, message)), false);
        let version = match self.version(root.tool) {
            Ok(v) => v,
            Err(message) => return failed(message),
        };
        let rule = root.rule.map(|i| &self.settings.paths[i]);
        let base = read.checkout.as_ref().map(|c| c.dir());
        let dir = on_disk(base, if root.dir.is_empty() { "." } else { &root.dir });
        let abs = match std::fs::canonicalize(&dir) {
            Ok(p) => p,
            Err(e) => return failed(format!("cannot open the folder {}: {e}", dir.display())),
        };
        // Keyed by the content of what the render reads; never with remote
        // access, whose inputs are not all here.
        let inputs = if self.settings.allow_remote {
            None
        } else {
            inputs::digest(&abs, root.tool, limits)
        };
        let key = inputs.map(|inputs| {
            let described = serde_json::json!({
                "tool": root.tool.name(),
                "version": version,
                "inputs": inputs,
                "dir": root.dir,
                "rule": rule,
                "namespace": context.namespace,
                "kube": context.kube_version,
                "limits": [limits.max_file_bytes, limits.max_total_bytes],
            });
            hex::encode(Sha256::digest(described.to_string().as_bytes()))
        });
        if let Some(key) = &key
            && let Ok(cache) = self.cache.lock()
            && let Some(hit) = cache.get(key)
        {
            return (Arc::clone(hit), true);
        }
        let outcome = Arc::new(self.render_one(root, &abs, base, context, limits));
        // A render that failed is not kept: a timeout under load, or a
        // renderer fixed since, gets another try.
        let failed = outcome.findings.iter().any(Finding::is_error);
        if let Some(key) = key.filter(|_| !failed)
            && let Ok(mut cache) = self.cache.lock()
        {
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(key, Arc::clone(&outcome));
        }
        (outcome, false)
    }

    /// Renders `root`, whose folder is `abs` on disk (`base` the checkout
    /// it is in, for a Git revision).
    fn render_one(
        &self,
        root: &Root,
        abs: &Path,
        base: Option<&Path>,
        context: Context<'_>,
        limits: &Limits,
    ) -> Outcome {
        let mut out = Outcome::default();
        let fail = |message: String| Outcome::failed(root, message);
        let scratch = match tempfile::Builder::new().prefix("mooring-render-").tempdir() {
            Ok(t) => t,
            Err(e) => return fail(format!("cannot make a temporary folder: {e}")),
        };
        let scratch_abs =
            std::fs::canonicalize(scratch.path()).unwrap_or_else(|_| scratch.path().to_path_buf());
        let shown = |path: &Path| shown_path(&root.dir, abs, path);
        let mut env = self.environment(root.tool, &scratch_abs);
        let mut release_namespace = None;
        let (args, cwd) = match root.tool {
            Tool::Kustomize => {
                if !self.settings.allow_remote {
                    let remote = kustomize::remote_references(abs, limits);
                    if !remote.is_empty() {
                        for (file, entry) in remote {
                            out.findings.push(
                                Finding::error(
                                    SOURCE,
                                    format!(
                                        "remote base or resource {entry} is refused: mooring \
                                         renders from the repository alone. Copy it into the \
                                         repository, or set `render: {{allowRemote: true}}` on \
                                         the source to let kustomize fetch it"
                                    ),
                                )
                                .at(shown(&file), 1),
                            );
                        }
                        return out;
                    }
                }
                let wrapper = scratch_abs.join("wrapper");
                let made =
                    std::fs::create_dir(&wrapper).and_then(|()| kustomize::wrap(&wrapper, abs));
                match made {
                    Ok(args) => (args, wrapper),
                    Err(e) => return fail(format!("cannot write the render's kustomization: {e}")),
                }
            }
            Tool::Helm => {
                let missing = helm::missing_dependencies(abs, limits);
                if !missing.is_empty() {
                    for (name, repo) in missing {
                        out.findings.push(
                            Finding::error(
                                SOURCE,
                                format!(
                                    "chart dependency {name}{} is not in charts/: mooring \
                                     fetches nothing. Run `helm dependency build` and commit \
                                     charts/",
                                    if repo.is_empty() {
                                        String::new()
                                    } else {
                                        format!(" (from {repo})")
                                    }
                                ),
                            )
                            .at(root.marker.clone(), 1),
                        );
                    }
                    return out;
                }
                let settings = root
                    .rule
                    .map(|i| self.settings.paths[i].helm.clone())
                    .unwrap_or_default();
                let release = settings.release_name.clone().unwrap_or_else(|| {
                    abs.file_name()
                        .map(|n| n.to_string_lossy().to_string())
                        .unwrap_or_else(|| "release".into())
                });
                let namespace = settings.namespace.as_deref().unwrap_or(context.namespace);
                release_namespace = settings.namespace.clone();
                let kube = context
                    .kube_version
                    .map(str::to_string)
                    .or_else(|| {
                        crate::kinds::builtin::table()
                            .ok()
                            .map(|t| t.server.clone())
                    })
                    .unwrap_or_default();
                for file in &settings.value_files {
                    if file.split('/').any(|part| part == "..") || Path::new(file).is_absolute() {
                        return fail(format!(
                            "values file {file} is outside the chart folder: name it relative to {}",
                            root.dir
                        ));
                    }
                }
                match helm::args(abs, &settings, &release, namespace, &kube, &scratch_abs) {
                    Ok(args) => (args, scratch_abs.clone()),
                    Err(e) => return fail(format!("cannot write the chart's inline values: {e}")),
                }
            }
        };
        env.sort();
        let run = Run {
            program: self.binary(root.tool),
            args,
            cwd,
            env,
            timeout: self.settings.timeout,
            max_output: limits.max_total_bytes,
        };
        let output = match process::run(&run) {
            Ok(bytes) => bytes,
            Err(e) => {
                let message = match &e {
                    RunError::Failed { .. } => {
                        let text = e.to_string();
                        // The folder as the user knows it, wherever the
                        // renderer names it: absolute, or as the wrapper
                        // kustomization names it.
                        let wrapper = scratch_abs.join("wrapper");
                        let abs_text = abs.display().to_string();
                        let entry = relative(&wrapper, abs);
                        let scratch_text = scratch_abs.display().to_string();
                        let text = scrub(
                            &text,
                            &[
                                (abs_text.as_str(), root.dir.as_str()),
                                (entry.as_str(), root.dir.as_str()),
                                (scratch_text.as_str(), "<render>"),
                            ],
                            base,
                        );
                        format!(
                            "{} failed on {}: {text}",
                            root.tool.name(),
                            display_dir(&root.dir)
                        )
                    }
                    _ if e.not_found() => not_installed(root.tool, &run.program, &e),
                    _ => format!("{} on {}: {e}", root.tool.name(), display_dir(&root.dir)),
                };
                out.findings
                    .push(Finding::error(SOURCE, message).at(root.marker.clone(), 1));
                return out;
            }
        };
        let Ok(text) = String::from_utf8(output) else {
            return fail(format!(
                "{} printed something that is not UTF-8",
                root.tool.name()
            ));
        };
        let (docs, errors) = yaml::parse_stream(&text, limits);
        for e in errors.iter().filter(|e| !e.warning) {
            out.findings.push(
                Finding::error(
                    SOURCE,
                    format!(
                        "{} printed YAML mooring cannot read: {}",
                        root.tool.name(),
                        e.message
                    ),
                )
                .at(root.marker.clone(), 1),
            );
        }
        let unit = Arc::new(Unit {
            dir: display_dir(&root.dir).to_string(),
            namespace: release_namespace,
        });
        let mut files = origin::Files::default();
        let helm_sources = match root.tool {
            Tool::Helm => helm::sources(&text, &docs),
            Tool::Kustomize => Vec::new(),
        };
        let chart_name = match root.tool {
            Tool::Helm => helm::chart_name(abs, limits),
            Tool::Kustomize => None,
        };
        for (i, doc) in docs.into_iter().enumerate() {
            let mut value = doc.value;
            if value.is_null() || (root.tool == Tool::Helm && helm::is_test_hook(&value)) {
                continue;
            }
            let (file, place) = match root.tool {
                Tool::Kustomize => match kustomize::take_origin(&mut value) {
                    kustomize::Origin::Resource(p) => {
                        let path = kustomize::normalize(&scratch_abs.join("wrapper").join(p));
                        let file = shown(&path);
                        let place = files.resource(&file, &path, &value, limits);
                        (file, place)
                    }
                    kustomize::Origin::Generator(p) => {
                        let path = kustomize::normalize(&scratch_abs.join("wrapper").join(p));
                        let file = shown(&path);
                        let place = files.generator(&file, &path, &value, limits);
                        (file, place)
                    }
                    kustomize::Origin::Remote | kustomize::Origin::Unknown => (
                        root.marker.clone(),
                        origin::Place {
                            line: 1,
                            lines: Default::default(),
                        },
                    ),
                },
                Tool::Helm => {
                    let source = helm_sources.get(i).cloned().flatten();
                    let inside = source.as_deref().map(|s| match &chart_name {
                        Some(name) => s
                            .strip_prefix(name.as_str())
                            .map(|r| r.trim_start_matches('/'))
                            .unwrap_or(s),
                        None => s.split_once('/').map_or(s, |(_, r)| r),
                    });
                    match inside {
                        Some(rel) => {
                            let path = abs.join(rel);
                            let file = shown(&path);
                            let place = if rel.starts_with("crds/") {
                                files.resource(&file, &path, &value, limits)
                            } else {
                                files.template(&file, &path, &value, limits)
                            };
                            (file, place)
                        }
                        None => (
                            root.marker.clone(),
                            origin::Place {
                                line: 1,
                                lines: Default::default(),
                            },
                        ),
                    }
                }
            };
            out.docs.push(RenderedDoc {
                unit: Arc::clone(&unit),
                file,
                line: place.line,
                lines: place.lines,
                value,
            });
        }
        out
    }

    /// The whole environment of a renderer: `PATH`, a private `HOME` and
    /// tool homes; with remote access off, proxies that answer nothing
    /// and Git limited to local files; with it on, the user's own proxies,
    /// `HOME` and ssh agent. Never a token or a kubeconfig.
    fn environment(&self, tool: Tool, scratch: &Path) -> Vec<(String, OsString)> {
        let private = |name: &str| scratch.join(name).into_os_string();
        let mut env: Vec<(String, OsString)> = vec![
            ("PATH".into(), std::env::var_os("PATH").unwrap_or_default()),
            ("LC_ALL".into(), "C".into()),
        ];
        match tool {
            Tool::Kustomize => {
                env.push(("KUSTOMIZE_PLUGIN_HOME".into(), private("plugins")));
                env.push(("XDG_CONFIG_HOME".into(), private("config")));
            }
            Tool::Helm => {
                env.push(("HELM_CACHE_HOME".into(), private("helm-cache")));
                env.push(("HELM_CONFIG_HOME".into(), private("helm-config")));
                env.push(("HELM_DATA_HOME".into(), private("helm-data")));
            }
        }
        if self.settings.allow_remote && tool == Tool::Kustomize {
            for name in [
                "HOME",
                "SSH_AUTH_SOCK",
                "HTTP_PROXY",
                "HTTPS_PROXY",
                "NO_PROXY",
                "http_proxy",
                "https_proxy",
                "no_proxy",
            ] {
                if let Some(v) = std::env::var_os(name) {
                    env.push((name.into(), v));
                }
            }
            if !env.iter().any(|(k, _)| k == "HOME") {
                env.push(("HOME".into(), private("home")));
            }
        } else {
            env.push(("HOME".into(), private("home")));
            for name in [
                "HTTP_PROXY",
                "HTTPS_PROXY",
                "http_proxy",
                "https_proxy",
                "ALL_PROXY",
            ] {
                env.push((name.into(), CLOSED_PROXY.into()));
            }
            env.push(("GIT_ALLOW_PROTOCOL".into(), "file".into()));
        }
        env
    }
}

/// A proxy on a loopback port nothing listens on: a renderer that tries
/// the network fails at once.
const CLOSED_PROXY: &str = "http://127.0.0.1:9";

impl PathRule {
    fn tool_name(&self) -> &'static str {
        match self.render {
            Mode::Auto => "auto",
            Mode::None => "none",
            Mode::Kustomize => "kustomize",
            Mode::Helm => "helm",
        }
    }
}

/// A folder as messages show it: `.` for the root.
fn display_dir(dir: &str) -> &str {
    if dir.is_empty() { "." } else { dir }
}

/// The message for a renderer that cannot be started.
fn not_installed(tool: Tool, binary: &Path, e: &RunError) -> String {
    let (flag, build) = match tool {
        Tool::Kustomize => ("--kustomize", "scripts/tools build kustomize"),
        Tool::Helm => ("--helm", "scripts/tools build helm"),
    };
    if e.not_found() {
        format!(
            "{} is needed to render this folder, and `{}` was not found: put it on PATH, \
             pass {flag} PATH, or set render.{} in mooring.yaml (`{build}` builds it from its \
             Go module)",
            tool.name(),
            binary.display(),
            tool.name()
        )
    } else {
        format!(
            "{} ({}) cannot tell its version: {e}",
            tool.name(),
            binary.display()
        )
    }
}

/// `path` (absolute, under the render's root `abs` or beside it) as
/// findings show it: relative to `dir`, the root as the source shows it.
fn shown_path(dir: &str, abs: &Path, path: &Path) -> String {
    let relative = relative(abs, path);
    join_shown(dir, &relative)
}

/// `target` relative to `from`, both absolute.
pub(crate) fn relative(from: &Path, target: &Path) -> String {
    use std::path::Component;
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = target.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().to_string()),
    );
    parts.join("/")
}

/// `dir/rel` resolved lexically, keeping the `..` that climb above `dir`.
pub(crate) fn join_shown(dir: &str, rel: &str) -> String {
    let absolute = dir.starts_with('/');
    let mut parts: Vec<&str> = dir
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else if dir.starts_with("./") && !joined.starts_with("..") {
        // As the source shows its files when pointed at `.`.
        format!("./{joined}")
    } else {
        joined
    }
}

/// A renderer's message with its temporary paths replaced by what the
/// user knows them as.
fn scrub(text: &str, replace: &[(&str, &str)], checkout: Option<&Path>) -> String {
    let mut out = text.to_string();
    for (path, with) in replace {
        out = out.replace(path, display_dir(with));
    }
    if let Some(c) = checkout {
        let c = std::fs::canonicalize(c).unwrap_or_else(|_| c.to_path_buf());
        out = out.replace(&format!("{}/", c.display()), "");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_shown_from_the_folder_as_the_source_shows_it() {
        let abs = Path::new("/repo/apps/prod");
        assert_eq!(
            shown_path("apps/prod", abs, Path::new("/repo/apps/base/dep.yaml")),
            "apps/base/dep.yaml"
        );
        assert_eq!(
            shown_path("", abs, Path::new("/repo/apps/base/dep.yaml")),
            "../base/dep.yaml"
        );
        assert_eq!(
            shown_path("/repo/apps/prod", abs, Path::new("/repo/apps/prod/p.yaml")),
            "/repo/apps/prod/p.yaml"
        );
        assert_eq!(
            shown_path("./x", Path::new("/w/x"), Path::new("/w/x/a.yaml")),
            "./x/a.yaml"
        );
    }
}
