//! `mooring plan`: the object-level diff between two revisions.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use mooring::finding::Finding;
use mooring::manifest::{self, Limits, SourceFile};
use mooring::plan::{self, render};
use mooring::source::git::{self, GitRepo};
use mooring::validate::Validator;

use super::{CheckArgs, exit};

/// Output format of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Work-tree files or directories to plan (the desired side), instead of
    /// --repo/--ref. They must be inside a Git work tree; the current side is
    /// the same folder at --against-ref.
    #[arg(conflicts_with_all = ["repo", "git_ref", "path"])]
    paths: Vec<PathBuf>,
    /// Repository: a local path, or a URL (https, ssh, file) cloned into the
    /// cache directory and fetched on every run.
    #[arg(long, value_name = "PATH|URL")]
    repo: Option<String>,
    /// The desired revision.
    #[arg(long = "ref", value_name = "REV", default_value = "HEAD")]
    git_ref: String,
    /// The current revision to compare with (e.g. the target branch of a
    /// pull request).
    #[arg(long, value_name = "REV")]
    against_ref: String,
    /// Sub-folder of the repository holding the manifests.
    #[arg(long, value_name = "SUBDIR", default_value = "")]
    path: String,
    /// Where clones of remote repositories are kept
    /// [default: $XDG_CACHE_HOME/mooring/git].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Output format; markdown is ready to paste into a pull-request comment.
    #[arg(short, long, value_enum, default_value_t = PlanFormat::Text)]
    output: PlanFormat,
    #[command(flatten)]
    check: CheckArgs,
}

struct Side {
    label: String,
    files: Vec<SourceFile>,
    findings: Vec<Finding>,
}

fn git_side(repo: &GitRepo, rev: &str, subdir: &str, limits: &Limits) -> anyhow::Result<Side> {
    let commit = repo.resolve(rev)?;
    let (files, findings) = repo.read(commit, subdir, limits)?;
    let short = git::short(commit);
    let label = if commit.to_string().starts_with(rev) {
        short
    } else {
        format!("{rev} ({short})")
    };
    Ok(Side {
        label,
        files,
        findings,
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
    let limits = args.check.limits();
    let validator = Validator::new(args.check.options()).context("cannot start validation")?;
    let cache = args
        .cache_dir
        .clone()
        .unwrap_or_else(git::default_cache_dir);

    let (desired, current) = if args.paths.is_empty() {
        let Some(repo_arg) = &args.repo else {
            bail!("say what to plan: --repo <path or URL> (with --ref), or work-tree PATHs");
        };
        let repo = GitRepo::open(repo_arg, &cache)?;
        (
            git_side(&repo, &args.git_ref, &args.path, &limits)?,
            git_side(&repo, &args.against_ref, &args.path, &limits)?,
        )
    } else {
        if args.paths.len() > 1 {
            bail!("plan compares one folder with its past: give one PATH");
        }
        let path = &args.paths[0];
        let repo = GitRepo::open(&path.display().to_string(), &cache)?;
        let Some(workdir) = repo.workdir() else {
            bail!(
                "{} is in a bare repository: use --repo and --ref",
                path.display()
            );
        };
        let rel = relative_to_workdir(path, workdir)?;
        let (mut files, findings) =
            mooring::source::fs::read_paths(std::slice::from_ref(path), &limits);
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
                files,
                findings,
            },
            git_side(&repo, &args.against_ref, &rel, &limits)?,
        )
    };

    // The desired side must be valid; nothing is planned from a broken render.
    let mut report = validator.check(&desired.files, &limits);
    report.findings.extend(desired.findings);
    mooring::finding::sort(&mut report.findings);
    if report.errors() > 0 {
        let why = format!(
            "{}; no plan is made from invalid manifests",
            report.summary()
        );
        if args.output == PlanFormat::Json {
            let doc =
                serde_json::json!({"valid": false, "error": why, "findings": report.findings});
            println!("{}", serde_json::to_string_pretty(&doc)?);
        } else {
            for f in &report.findings {
                eprintln!("{f}");
            }
            eprintln!("{why}");
        }
        return Ok(exit::FAILED);
    }
    let mut findings = report.findings;

    // The current side is what it is: objects that do not load are left out,
    // and that is said.
    let old = manifest::load(&current.files, &limits);
    let (notes, problems): (Vec<Finding>, Vec<Finding>) = current
        .findings
        .into_iter()
        .chain(old.findings)
        .partition(|f| !f.is_error());
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

    let plan = plan::plan(&report.manifests, &old.manifests);
    let sides = render::Sides {
        from: current.label,
        to: desired.label,
    };
    let text = match args.output {
        PlanFormat::Text => render::text(&plan, &sides, &findings),
        PlanFormat::Json => render::json(&plan, &sides, &findings),
        PlanFormat::Markdown => render::markdown(&plan, &sides, &findings),
    };
    print!("{text}");
    Ok(if plan.has_changes() {
        exit::CHANGES
    } else {
        exit::OK
    })
}
