//! `mooring validate` and `mooring policy test`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use mooring::validate::{Cluster, Validator, policy};
use mooring::{desired, source};

use super::{CheckArgs, exit};

/// What the manifests are validated for, besides their own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// Ignite VMs must also satisfy Flintlock, where they will run: a VM
    /// under its 1024 MiB minimum is an error, not a warning.
    Flintlock,
}

/// Output format of `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    Text,
    Json,
    /// GitHub Actions workflow commands: each finding an annotation on its
    /// file and line in the pull request.
    Github,
    /// JUnit XML: one test case per object, failed by its errors.
    Junit,
    /// SARIF 2.1.0: one result per finding, with its rule, for code
    /// scanning.
    Sarif,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Folders holding a kustomization.yaml are rendered with kustomize, folders
holding a Chart.yaml with helm (both on PATH, or --kustomize / --helm); findings
point at the file and line each object was written in. Each overlay and chart is
checked on its own.

Examples:
  mooring validate deploy/
  mooring validate overlays/prod                 # kustomize build, then validate
  mooring validate apps/ --kustomize ~/bin/kustomize --helm ~/bin/helm
  mooring validate charts/ --config mooring.yaml # Helm values from source.render
  mooring validate apps/ --schemas ../CRDs-catalog
  mooring validate apps/ --kubeconfig ~/.kube/config --context prod"
)]
pub struct ValidateArgs {
    /// Files or directories to check (every .yaml, .yml and .json file
    /// under them); `-` reads a stream from standard input (`kustomize
    /// build | mooring validate -`).
    #[arg(default_value = ".")]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ValidateFormat::Text)]
    output: ValidateFormat,
    /// Succeed when the paths hold no manifest at all (by default that is an
    /// error: a wrong or empty folder checks nothing).
    #[arg(long)]
    allow_empty: bool,
    /// Validate for this target too: `flintlock` makes an Ignite VM under
    /// Flintlock's 1024 MiB minimum an error (it is a warning otherwise).
    #[arg(long = "for", value_enum, value_name = "TARGET")]
    for_target: Option<Target>,
    /// mooring.yaml: when it configures a Flintlock target, validation is
    /// for Flintlock as with `--for flintlock`; its source's `exclude:`
    /// leaves files out as --exclude does, and its `render:` says how
    /// Kustomize and Helm folders are rendered.
    #[arg(long, value_name = "FILE", env = "MOORING_CONFIG")]
    config: Option<PathBuf>,
    /// Also validate against what this kubeconfig's cluster serves: its
    /// kinds and /openapi/v3 schemas (its CRDs included) come ahead of the
    /// built-in ones, and objects without a namespace go to the context's
    /// namespace. Only GETs are sent; nothing is written.
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context for --kubeconfig [default: its current-context].
    #[arg(long, value_name = "NAME", requires = "kubeconfig")]
    context: Option<String>,
    #[command(flatten)]
    check: CheckArgs,
}

pub fn run(args: &ValidateArgs) -> anyhow::Result<i32> {
    let config = match &args.config {
        Some(path) => Some(
            mooring::config::Config::load(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        ),
        None => None,
    };
    let mut options = args.check.options();
    // Each overlay and chart is checked on its own, as `kustomize build DIR
    // | kubeconform` is: two overlays may hold the same base objects.
    options.renders_apart = true;
    options.for_flintlock = match (args.for_target, &config) {
        (Some(Target::Flintlock), _) => true,
        (None, Some(config)) => !config.targets.flintlock.is_empty(),
        (None, None) => false,
    };
    let validator = Validator::new(options).context("cannot start validation")?;
    let limits = args.check.limits();
    // The paths are read as the configured source is: without its exclude:.
    let exclude = args
        .check
        .exclude(config.as_ref().map_or(&[][..], |c| &c.source.exclude))?;
    let read = source::read(
        &source::Revision::Paths(args.paths.clone()),
        &limits,
        &exclude,
    )?;
    let target = match &args.kubeconfig {
        Some(path) => Some(cluster_context(path, args.context.as_deref())?),
        None => None,
    };
    let cluster = target
        .as_ref()
        .map(|t| Cluster::from_served(&t.label, &t.served));
    if let Some(t) = &target {
        eprintln!(
            "Kubernetes at {} ({}): {}",
            t.label,
            t.origin,
            super::live::served_line(cluster.as_ref())
        );
    }
    let live = desired::Live {
        namespace: target.as_ref().and_then(|t| t.namespace.as_deref()),
        cluster: cluster.as_ref(),
    };
    let renderer = args.check.renderer(
        config
            .as_ref()
            .map_or(&Default::default(), |c| &c.source.render),
    );
    let mut report = desired::check_live(read, &validator, &limits, &renderer, live);
    if report.documents == 0 && report.errors() == 0 && !args.allow_empty {
        report.findings.push(mooring::finding::Finding::error(
            "load",
            format!(
                "no manifest in {}: nothing was checked (a wrong or empty folder?); \
                 pass --allow-empty if that is intended",
                report.label
            ),
        ));
        mooring::finding::sort(&mut report.findings);
    }
    match args.output {
        ValidateFormat::Json => {
            let doc = serde_json::json!({
                "apiVersion": mooring::plan::render::OUTPUT_API_VERSION,
                "kind": "ValidationReport",
                "valid": report.errors() == 0,
                "summary": {
                    "files": report.files,
                    "documents": report.documents,
                    "objects": report.objects().len(),
                    "errors": report.errors(),
                    "warnings": report.warnings(),
                },
                "findings": report.findings,
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        ValidateFormat::Text => {
            for line in mooring::finding::text_lines(&report.findings) {
                println!("{line}");
            }
            println!("{}", report.summary());
            println!("{}", args.check.policy_line(&validator));
        }
        ValidateFormat::Github => {
            for finding in &report.findings {
                println!("{}", finding.github_annotation());
            }
            println!("{}", report.summary());
            println!("{}", args.check.policy_line(&validator));
        }
        ValidateFormat::Junit => {
            let objects: Vec<(String, String, usize)> = report
                .objects()
                .into_iter()
                .map(|(id, file, line)| (id.to_string(), file.to_string(), line))
                .collect();
            print!(
                "{}",
                super::reports::validate_junit(&objects, &report.findings)?
            );
        }
        ValidateFormat::Sarif => print!("{}", super::reports::sarif(&report.findings)?),
    }
    let code = if report.is_valid() {
        exit::OK
    } else {
        exit::FAILED
    };
    // The process ends right after this: freeing every document and
    // schema one by one would only cost time (9% of a run on 10,000
    // documents); the operating system takes the memory back at once.
    std::mem::forget(report);
    std::mem::forget(validator);
    Ok(code)
}

/// What the cluster `kubeconfig` (and `context`) names serves.
fn cluster_context(
    kubeconfig: &Path,
    context: Option<&str>,
) -> anyhow::Result<mooring::backend::TargetContext> {
    use mooring::backend::Backend as _;
    use mooring::backend::kubernetes::{Kubernetes, KubernetesTarget};
    let target = KubernetesTarget {
        kubeconfig: Some(kubeconfig.to_path_buf()),
        context: context.map(str::to_string),
        ..KubernetesTarget::default()
    };
    let rt = super::live::runtime()?;
    let found = rt.block_on(async {
        let k =
            Kubernetes::connect(&target, "validate", 4, std::time::Duration::from_secs(30)).await?;
        k.context().await
    })?;
    found.context("the Kubernetes backend says nothing of its cluster")
}

pub fn run_policy_tests(dir: &Path) -> anyhow::Result<i32> {
    let outcomes = policy::run_tests(dir)?;
    let mut failed = 0;
    for o in &outcomes {
        match &o.failure {
            None => println!("PASS {} ({})", o.rule, o.file.display()),
            Some(why) => {
                failed += 1;
                println!("FAIL {} ({}): {why}", o.rule, o.file.display());
            }
        }
    }
    println!("{} passed, {failed} failed", outcomes.len() - failed);
    if outcomes.is_empty() {
        eprintln!(
            "no test_* rules found in *_test.rego files under {}",
            dir.display()
        );
        return Ok(exit::FAILED);
    }
    Ok(if failed == 0 { exit::OK } else { exit::FAILED })
}
