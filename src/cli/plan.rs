//! `mooring plan`: the object-level diff between two revisions, or (with
//! targets) between Git and live state.

use std::path::Path;

use anyhow::{Context, bail};
use clap::Args;
use mooring::desired::{self, render};
use mooring::finding::Finding;
use mooring::manifest::Limits;
use mooring::plan::{self, render};
use mooring::source::git;
use mooring::source::{self, Exclude, GitSpec, Revision, Spec};
use mooring::validate::Validator;

use super::live::{self, LivePlan, SafetyArgs, SourceArgs, TargetArgs};
use super::output::{self, PlanFormat};
use super::{CheckArgs, exit};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mooring plan --repo . --against-ref origin/main...HEAD --path deploy -o markdown > plan.md
  mooring plan deploy --against-ref HEAD~1            # the work tree against a revision
  mooring plan --config mooring.yaml                  # Git against live targets
  mooring plan deploy --context kind-dev --prune      # what apply --prune would delete
Exit codes: 0 no changes, 2 changes pending, 1 invalid input or an error.")]
pub struct PlanArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Compare with this Git revision instead of live targets (e.g. the
    /// target branch of a pull request): a Git-to-Git plan. `A...B`
    /// compares with where B forked from A (their merge base, as `git diff
    /// A...B`), so a branch pipeline never shows A's newer commits as
    /// reversed changes; B is then the desired side unless --ref says
    /// otherwise. With --config, its source.auth and timeout are used to
    /// reach the repository.
    #[arg(long, value_name = "REV", conflicts_with_all = ["kubeconfig", "context", "flintlock", "prune", "allow_empty", "max_deletions", "force_prune"])]
    against_ref: Option<String>,
    #[command(flatten)]
    targets: TargetArgs,
    #[command(flatten)]
    safety: SafetyArgs,
    /// Output format; markdown is ready to paste into a pull-request comment.
    #[arg(short, long, value_enum, default_value_t = PlanFormat::Text)]
    output: PlanFormat,
    /// With `-o markdown`, cut the comment to this many bytes (GitHub takes
    /// 65,536 characters): the headline, findings and summary table stay,
    /// per-object diffs are kept while they fit, and a note says how many
    /// were left out and where the whole plan is. `0`: never cut.
    #[arg(long, value_name = "BYTES", default_value = "65000", value_parser = super::parse_bytes)]
    max_bytes: u64,
    /// Also write the whole plan, in the same format but never cut or
    /// coloured, to FILE (for a CI artifact the comment can point to).
    #[arg(long, value_name = "FILE")]
    output_file: Option<std::path::PathBuf>,
    /// List unchanged objects in `-o json` and `-o junit` too (the summary
    /// counts them either way).
    #[arg(long)]
    show_unchanged: bool,
    #[command(flatten)]
    check: CheckArgs,
}

impl PlanArgs {
    fn destination(&self) -> output::Destination {
        output::Destination {
            max_bytes: (self.max_bytes > 0)
                .then(|| usize::try_from(self.max_bytes).unwrap_or(usize::MAX)),
            output_file: self.output_file.clone(),
            show_unchanged: self.show_unchanged,
        }
    }
}

struct Side {
    label: String,
    /// The revision as named and its commit; `None` for the work tree.
    revision: Option<render::RevisionRef>,
    read: source::Read,
    /// Whether the compared path exists on this side.
    present: bool,
}

/// One revision of the repository `git` names (its own `rev` and `path`).
fn git_side(git: &GitSpec, limits: &Limits, exclude: &Exclude) -> anyhow::Result<Side> {
    let revision = source::resolve(&Spec::Git(Box::new(git.clone())))?;
    let Some(commit) = revision.commit() else {
        bail!("{} is not a Git revision", git.rev);
    };
    let present = revision.has_path()?;
    let read = source::read(&revision, limits, exclude)?;
    let rev = git.rev.as_str();
    let short = git::short(commit);
    let label = if commit.to_string().starts_with(rev) {
        short
    } else {
        format!("{rev} ({short})")
    };
    Ok(Side {
        label,
        revision: Some(render::RevisionRef {
            reference: rev.to_string(),
            commit: commit.to_string(),
        }),
        read,
        present,
    })
}

/// The repository-relative folder of a work-tree path.
fn relative_to_workdir(path: &Path, workdir: &Path) -> anyhow::Result<String> {
    let abs = path
        .canonicalize()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let root = workdir
        .canonicalize()
        .with_context(|| format!("cannot read {}", workdir.display()))?;
    let rel = abs.strip_prefix(&root).with_context(|| {
        format!(
            "{} is not inside the work tree {}",
            path.display(),
            root.display()
        )
    })?;
    Ok(rel.to_string_lossy().to_string())
}

pub fn run(args: &PlanArgs) -> anyhow::Result<i32> {
    match &args.against_ref {
        Some(against) => run_git(args, against),
        None if args.targets.any() => run_live(args),
        None => bail!(
            "nothing to plan against: give --against-ref REV for a Git-to-Git plan, or targets (--config mooring.yaml, --kubeconfig/--context, --flintlock NAME=URL)"
        ),
    }
}

/// A plan against live targets: the one `apply` would carry out.
fn run_live(args: &PlanArgs) -> anyhow::Result<i32> {
    let config = live::config(&args.targets, &args.source)?;
    let Ok(desired) = live::desired(&args.source, &config, &args.check, args.output)? else {
        return Ok(exit::FAILED);
    };
    let safety = args.safety.safety(&config);
    let rt = live::runtime()?;
    // The engine (and its clients) ends inside the runtime it was made on.
    let (plan, findings, sides) = rt.block_on(async {
        let LivePlan {
            plan,
            findings,
            sides,
            ..
        } = live::plan(&config, desired, &safety).await?;
        anyhow::Ok((plan, findings, sides))
    })?;
    output::print_plan(
        args.output,
        &plan.plan,
        &sides,
        &findings,
        &args.destination(),
    )?;
    Ok(if plan.failed() {
        exit::FAILED
    } else if plan.plan.has_changes() {
        exit::CHANGES
    } else {
        exit::OK
    })
}

/// A plan between two Git revisions.
fn run_git(args: &PlanArgs, against_ref: &str) -> anyhow::Result<i32> {
    let source = &args.source;
    // `--against-ref A...B` compares B with where it forked from A (as `git
    // diff A...B`): B is the desired side unless --ref says otherwise.
    let forked = against_ref
        .split_once("...")
        .map(|(_, b)| if b.is_empty() { "HEAD" } else { b });
    let git_ref = source.git_ref.as_deref().or(forked).unwrap_or("HEAD");
    let subdir = source.path.as_deref().unwrap_or("");
    let limits = args.check.limits();
    let validator = Validator::new(args.check.options()).context("cannot start validation")?;
    // --config lends its source.auth and timeout: every Git open has both.
    let config = match &args.targets.config {
        Some(path) => mooring::config::Config::load(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => mooring::config::Config::default(),
    };
    // Both sides leave out the same paths (each side's own .mooringignore
    // files aside).
    let exclude = args.check.exclude(&config.source.exclude)?;
    let spec =
        |url: String, rev: &str, path: &str| live::git_spec(source, &config, &url, rev, path);

    let (desired, current) = if source.paths.is_empty() {
        let Some(repo_arg) = &source.repo else {
            bail!("say what to plan: --repo <path or URL> (with --ref), or work-tree PATHs");
        };
        let desired = git_side(&spec(repo_arg.clone(), git_ref, subdir)?, &limits, &exclude)?;
        let current = git_side(
            &spec(repo_arg.clone(), against_ref, subdir)?,
            &limits,
            &exclude,
        )?;
        // Absent on one side is a folder added or removed by the change;
        // absent on both is a typo that would compare nothing with nothing.
        if !desired.present && !current.present {
            bail!(
                "--path {subdir:?} exists at neither {} nor {}: nothing would be compared; check the path (it is relative to the repository root)",
                desired.label,
                current.label
            );
        }
        (desired, current)
    } else {
        if source.paths.len() > 1 {
            bail!("plan compares one folder with its past: give one PATH");
        }
        let path = &source.paths[0];
        let repo = source::open(&spec(path.display().to_string(), against_ref, "")?)?;
        let Some(workdir) = repo.workdir() else {
            bail!(
                "{} is in a bare repository: use --repo and --ref",
                path.display()
            );
        };
        let rel = relative_to_workdir(path, workdir)?;
        let read = source::read(&Revision::Paths(vec![path.clone()]), &limits, &exclude)?;
        let mut files = read.files;
        // Report files by their repository path, as the Git side does.
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        for f in &mut files {
            f.path = if path.is_dir() {
                format!("{prefix}{}", f.rel)
            } else {
                rel.clone()
            };
        }
        (
            Side {
                label: "work tree".to_string(),
                revision: None,
                read: source::Read {
                    label: "work tree".to_string(),
                    files,
                    // Rendered where the files are: paths are the
                    // repository's, relative to the work tree's root.
                    checkout: Some(source::checkout::Checkout::work_tree(workdir.to_path_buf())),
                    ..read
                },
                present: true,
            },
            git_side(
                &spec(path.display().to_string(), against_ref, &rel)?,
                &limits,
                &exclude,
            )?,
        )
    };

    // The desired side must be valid; nothing is planned from a broken render.
    let renderer = args.check.renderer(&config.source.render);
    let read = source::Read {
        label: desired.label.clone(),
        ..desired.read
    };
    let report = render(read, &validator, &limits, &renderer);
    if !report.is_valid() {
        let why = format!(
            "{}; no plan is made from invalid manifests",
            report.summary()
        );
        output::report_invalid(args.output, &why, &report.findings)?;
        return Ok(exit::FAILED);
    }
    let mut findings = report.findings;

    // The current side is what it is: objects that do not load are left out,
    // and that is said.
    let (old_manifests, old_findings) =
        desired::objects(current.read, &validator, &limits, &renderer);
    let (notes, problems): (Vec<Finding>, Vec<Finding>) =
        old_findings.into_iter().partition(|f| !f.is_error());
    findings.extend(notes);
    let old_problems = problems.len();
    if old_problems > 0 {
        findings.push(Finding::warning(
            "load",
            format!(
                "{old_problems} problem(s) reading {}: objects in those documents may show as created",
                current.label
            ),
        ));
    }

    let plan = plan::plan(report.manifests, old_manifests);
    let sides = render::Sides {
        from: current.label,
        to: desired.label,
        unobserved: Vec::new(),
        unplanned: 0,
        from_revision: current.revision,
        to_revision: desired.revision,
    };
    output::print_plan(args.output, &plan, &sides, &findings, &args.destination())?;
    Ok(if plan.has_changes() {
        exit::CHANGES
    } else {
        exit::OK
    })
}
