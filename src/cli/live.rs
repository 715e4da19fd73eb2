//! What every command that talks to targets shares: reading `mooring.yaml`
//! and the flags that stand in for it (targets, source, safety), the desired
//! side (a `source::Spec` read and rendered by `mooring::desired::render`),
//! connecting the backends, and the plan against them that `plan` shows and
//! `apply` carries out.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use mooring::backend::TargetContext;
use mooring::config::{Config, DeletionCap, Overrides};
use mooring::desired::{Desired, Live, render_live};
use mooring::engine::{Engine, Safety, TargetPlan};
use mooring::finding::Finding;
use mooring::plan::render;
use mooring::source::auth::Credentials;
use mooring::source::git;
use mooring::source::url::SourceUrl;
use mooring::source::{GitSpec, Spec};
use mooring::validate::{Cluster, Validator};

use super::CheckArgs;
use super::output::{self, PlanFormat};

/// Where the manifests come from, and where they go. Every flag overrides
/// the same setting of `--config`; without a config file the flags alone
/// are enough for the simple case.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// mooring.yaml: source, targets, prune and safety settings (see
    /// examples/mooring.yaml).
    #[arg(long, value_name = "FILE", env = "MOORING_CONFIG")]
    pub config: Option<PathBuf>,
    /// Kubernetes: kubeconfig file [default: $KUBECONFIG, then
    /// ~/.kube/config]. Setting it (or --context) adds a Kubernetes target.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubernetes: kubeconfig context [default: its current-context].
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Flintlock: a flintlockd as NAME=URL (e.g. edge-1=http://10.0.0.7:9090);
    /// repeat for more hosts.
    #[arg(long, value_name = "NAME=URL")]
    pub flintlock: Vec<String>,
    /// Name of this source: written into the `mooring.dev/source` label of
    /// every object applied and naming its inventory (the ApplySet parent
    /// Secret `mooring-NAME`), so it decides what prune may delete
    /// [default: source.name, else derived from the folders given, or from
    /// the repository URL and --path: readable, stable, and never shared by
    /// two sources by accident].
    #[arg(long, value_name = "NAME")]
    pub source_name: Option<String>,
    /// Where namespaced objects without `metadata.namespace` go, as
    /// `kubectl apply -n` [default: source.targetNamespace, else the
    /// kubeconfig context's namespace, else `default`].
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Kubernetes: take fields other field managers own (`kubectl edit`,
    /// `kubectl scale`) instead of stopping at the conflict, as
    /// `targets.kubernetes.forceConflicts: true` does: what heals drift.
    #[arg(long)]
    pub force_conflicts: bool,
}

/// The desired side: files or a Git revision.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Manifest files or directories (the desired side), instead of a Git
    /// source; `-` reads a stream from standard input.
    #[arg(conflicts_with_all = ["repo", "git_ref", "path"])]
    pub paths: Vec<PathBuf>,
    /// Repository: a local path, or a URL (https, ssh, file) cloned into the
    /// cache directory and fetched on every run [default: source.url]. The
    /// token of source.auth is sent only to source.url's scheme, host and
    /// port (this URL's without source.url), never after a redirect
    /// elsewhere, and over plain http:// only with `insecure: true`.
    #[arg(long, value_name = "PATH|URL")]
    pub repo: Option<String>,
    /// The desired revision [default: source.ref, else HEAD].
    #[arg(long = "ref", value_name = "REV")]
    pub git_ref: Option<String>,
    /// Sub-folder of the repository holding the manifests [default:
    /// source.path].
    #[arg(long, value_name = "SUBDIR")]
    pub path: Option<String>,
    /// Where clones of remote repositories are kept
    /// [default: $XDG_CACHE_HOME/mooring/git].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// What may be deleted. `plan` takes the same flags, so that it shows what
/// `apply` with them would do.
#[derive(Debug, Args)]
pub struct SafetyArgs {
    /// Delete objects mooring applied before and Git no longer declares
    /// [default: prune in mooring.yaml].
    #[arg(long)]
    prune: bool,
    /// Allow deletions when the manifests render to nothing (an emptied
    /// folder otherwise protects everything).
    #[arg(long)]
    allow_empty: bool,
    /// The most deletions in this run, a count or a percentage of managed
    /// objects [default: maxDeletions in mooring.yaml, else 30%].
    #[arg(long, value_name = "N|N%")]
    max_deletions: Option<DeletionCap>,
    /// Delete beyond the deletion cap, and delete Namespaces and
    /// CustomResourceDefinitions (which take everything in them along).
    #[arg(long)]
    force_prune: bool,
}

impl SafetyArgs {
    pub fn safety(&self, config: &Config) -> Safety {
        Safety {
            prune: self.prune || config.prune,
            allow_empty: self.allow_empty,
            max_deletions: self.max_deletions.unwrap_or(config.max_deletions),
            force_prune: self.force_prune,
        }
    }
}

impl TargetArgs {
    /// Whether any target is named on the command line or by a config file,
    /// or, as for kubectl, by `$KUBECONFIG`.
    pub fn any(&self) -> bool {
        self.named() || kubeconfig_env()
    }

    fn named(&self) -> bool {
        self.config.is_some()
            || self.kubeconfig.is_some()
            || self.context.is_some()
            || !self.flintlock.is_empty()
    }

    /// The configuration: the file, then the flags over it, checked once.
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut flintlock = Vec::new();
        for spec in &self.flintlock {
            let Some((name, endpoint)) = spec.split_once('=') else {
                bail!("--flintlock {spec}: expected NAME=URL, e.g. edge-1=http://10.0.0.7:9090");
            };
            flintlock.push((name.to_string(), endpoint.to_string()));
        }
        let overrides = Overrides {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            flintlock,
            source_name: self.source_name.clone(),
            namespace: self.namespace.clone(),
            force_conflicts: self.force_conflicts,
            kubeconfig_env: !self.named() && kubeconfig_env(),
        };
        Ok(Config::load_with(self.config.as_deref(), &overrides)?)
    }
}

/// Whether `$KUBECONFIG` names a kubeconfig.
fn kubeconfig_env() -> bool {
    std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty())
}

/// The configuration for a command reading `source`: [`TargetArgs::config`],
/// and the source's name when neither `--source-name` nor `source.name`
/// gives one: derived from the folders on disk, or from the repository URL
/// and folder the command line names (`--repo`, `--path` win over
/// `source.url` and `source.path`, and so over the name derived from them).
pub fn config(targets: &TargetArgs, source: &SourceArgs) -> anyhow::Result<Config> {
    let mut config = targets.config()?;
    if config.source.name.is_empty() || config.source.name_derived {
        let path = source.path.as_ref().unwrap_or(&config.source.path);
        if !source.paths.is_empty() {
            config.source.name = mooring::source::name::for_paths(&source.paths);
        } else if let Some(url) = source.repo.as_ref().or(config.source.url.as_ref()) {
            config.source.name = mooring::source::name::for_git(&SourceUrl::new(url), path);
        }
    }
    Ok(config)
}

/// A Git source as one command reads it: `url` at `rev`, folder `path`, with
/// the config's `source.auth` and `timeout` (set before any Git traffic, and
/// before the runtime's threads exist) and the `--cache-dir`.
pub fn git_spec(
    source: &SourceArgs,
    config: &Config,
    url: &str,
    rev: &str,
    path: &str,
) -> anyhow::Result<GitSpec> {
    Ok(GitSpec {
        url: SourceUrl::new(url),
        rev: rev.to_string(),
        path: path.to_string(),
        // The token goes to the server it was configured for: source.url's,
        // else the one named here.
        credentials: match &config.source.auth {
            Some(auth) => Some(
                Credentials::resolve(auth)?.bound_to(config.source.url.as_deref().unwrap_or(url)),
            ),
            None => None,
        },
        timeout: Some(config.timeout),
        cache_dir: source
            .cache_dir
            .clone()
            .unwrap_or_else(git::default_cache_dir),
        insecure: config.source.insecure,
    })
}

/// Reads and validates the desired side. `Ok(Err(()))` means it is
/// invalid; its findings have been printed ([`output::report_invalid`]).
pub fn desired(
    source: &SourceArgs,
    config: &Config,
    check: &CheckArgs,
    format: PlanFormat,
) -> anyhow::Result<Result<Desired, ()>> {
    let limits = check.limits();
    let validator = Validator::new(check.options()).context("cannot start validation")?;
    let spec = if !source.paths.is_empty() {
        Spec::Paths(source.paths.clone())
    } else {
        let Some(url) = source.repo.as_ref().or(config.source.url.as_ref()) else {
            bail!(
                "say where the manifests are: PATHs, --repo <path or URL>, or source.url in mooring.yaml"
            );
        };
        let rev = source.git_ref.as_ref().unwrap_or(&config.source.git_ref);
        let path = source.path.as_ref().unwrap_or(&config.source.path);
        Spec::Git(Box::new(git_spec(source, config, url, rev, path)?))
    };
    let revision = mooring::source::resolve(&spec)?;
    // Against live targets an absent folder is a mistake, not an empty
    // render: refuse it rather than plan every deletion.
    if let (Spec::Git(git), Some(commit)) = (&spec, revision.commit())
        && !revision.has_path()?
    {
        bail!(
            "path {:?} does not exist in {} at {} ({}): check source.path / --path",
            git.path,
            git.url,
            git.rev,
            git::short(commit)
        );
    }
    let context = target_context(config);
    let cluster = context
        .as_ref()
        .ok()
        .and_then(Option::as_ref)
        .map(|c| Cluster::from_served(&c.label, &c.served));
    // The source's targetNamespace (or -n), else the context's.
    let namespace = config.source.target_namespace.as_deref().or_else(|| {
        context
            .as_ref()
            .ok()
            .and_then(Option::as_ref)
            .and_then(|c| c.namespace.as_deref())
    });
    let live = Live {
        namespace,
        cluster: cluster.as_ref(),
    };
    let exclude = check.exclude(&config.source.exclude)?;
    let mut desired = render_live(
        mooring::source::read(&revision, &limits, &exclude)?,
        &validator,
        &limits,
        &check.renderer(&config.source.render),
        live,
    );
    // The source's ignore rules, on each object they name.
    mooring::plan::ignore::apply_rules(&mut desired.manifests, &config.source.ignore);
    match &context {
        Ok(Some(c)) => eprintln!(
            "Kubernetes target {} ({}): objects without a namespace go to {}; {}",
            c.label,
            c.origin,
            namespace.unwrap_or(mooring::manifest::DEFAULT_NAMESPACE),
            served_line(cluster.as_ref()),
        ),
        Ok(None) => {}
        Err(e) => {
            desired.findings.push(Finding::warning(
                "kubernetes",
                format!(
                    "cannot read the cluster's kinds and schemas ({e}): validated against the \
                     built-in kinds only"
                ),
            ));
            mooring::finding::sort(&mut desired.findings);
        }
    }
    if !desired.is_valid() {
        let why = format!(
            "{} error(s) in {}: nothing is planned or applied from invalid manifests",
            desired.errors(),
            desired.label
        );
        output::report_invalid(format, &why, &desired.findings)?;
        return Ok(Err(()));
    }
    Ok(Ok(desired))
}

/// How many kinds a cluster's schemas cover, for the target line.
pub fn served_line(cluster: Option<&Cluster>) -> String {
    match cluster.map_or(0, Cluster::kinds) {
        0 => "it serves no OpenAPI v3 schemas: validated against the built-in kinds".to_string(),
        n => format!("validated against the {n} kinds it serves"),
    }
}

/// What the Kubernetes target says before the desired side is validated
/// (its schemas, its context's namespace), when there is one.
fn target_context(config: &Config) -> Result<Option<TargetContext>, String> {
    if config.targets.kubernetes.is_none() {
        return Ok(None);
    }
    let rt = runtime().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let engine = engine(config).await.map_err(|e| e.to_string())?;
        engine.context().await.map_err(|e| e.to_string())
    })
}

/// Connects the configured backends.
pub async fn engine(config: &Config) -> anyhow::Result<Engine> {
    Ok(config.engine(&config.source.name).await?)
}

/// The plan against live targets, guarded: what `plan` shows and `apply`
/// carries out.
pub struct LivePlan {
    pub engine: Engine,
    pub plan: TargetPlan<'static>,
    /// Why deletions were held back, if they were.
    pub held: Option<String>,
    /// The desired side's findings, the plan's, and one per unreachable
    /// target.
    pub findings: Vec<Finding>,
    pub sides: render::Sides,
}

/// Connects the backends, plans `desired` against them and guards the
/// deletions with `safety`.
pub async fn plan(
    config: &Config,
    mut desired: Desired,
    safety: &Safety,
) -> anyhow::Result<LivePlan> {
    let engine = engine(config).await?;
    let label = std::mem::take(&mut desired.label);
    let revision = desired.revision;
    let findings = std::mem::take(&mut desired.findings);
    let mut manifests = desired.for_targets();
    engine.own(&mut manifests);
    let mut plan = engine.plan(&manifests).await.into_owned();
    drop(manifests);
    let held = engine.guard(&mut plan, safety);
    let findings = plan_findings(findings, &plan);
    let mut sides = sides(config, label, &plan);
    sides.to_revision = revision.map(|commit| render::RevisionRef {
        reference: config.source.git_ref.clone(),
        commit: commit.to_string(),
    });
    Ok(LivePlan {
        engine,
        plan,
        held,
        findings,
        sides,
    })
}

/// Findings for the plan's header: its own, and one per unreachable target.
fn plan_findings(desired: Vec<Finding>, plan: &TargetPlan<'_>) -> Vec<Finding> {
    let mut findings = desired;
    findings.extend(plan.findings.iter().cloned());
    for (backend, why) in &plan.unreachable {
        findings.push(Finding::error(
            backend.clone(),
            format!("{why}; nothing of this target is planned or applied"),
        ));
    }
    findings
}

/// What the plan compared, with the targets it could not read.
fn sides(config: &Config, desired: String, plan: &TargetPlan<'_>) -> render::Sides {
    render::Sides {
        from: targets_label(config),
        to: desired,
        unobserved: plan
            .unreachable
            .iter()
            .map(|(target, error)| render::Unobserved {
                target: target.clone(),
                error: error.clone(),
            })
            .collect(),
        unplanned: plan
            .findings
            .iter()
            .filter(|f| f.is_error() && f.object.is_some())
            .count(),
        from_revision: None,
        to_revision: None,
    }
}

/// The runtime `plan` and `apply` talk to targets on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// A human label for the targets, e.g. `live (kubernetes, flintlock)`.
pub fn targets_label(config: &Config) -> String {
    let mut names = Vec::new();
    if let Some(k) = &config.targets.kubernetes {
        names.push(match &k.context {
            Some(c) => format!("kubernetes:{c}"),
            None => "kubernetes".to_string(),
        });
    }
    for h in &config.targets.flintlock {
        names.push(format!("flintlock:{}", h.name));
    }
    format!("live ({})", names.join(", "))
}

/// Asks on the terminal; refuses when there is none.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to apply without confirmation: pass --yes (stdin is not a terminal)");
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
