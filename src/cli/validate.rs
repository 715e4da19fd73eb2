//! `mooring validate` and `mooring policy test`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use mooring::validate::{Validator, policy};
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
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files or directories to check; `-` reads a stream from standard
    /// input (`kustomize build | mooring validate -`).
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
    /// for Flintlock as with `--for flintlock`.
    #[arg(long, value_name = "FILE", env = "MOORING_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    check: CheckArgs,
}

pub fn run(args: &ValidateArgs) -> anyhow::Result<i32> {
    let mut options = args.check.options();
    options.for_flintlock = match (args.for_target, &args.config) {
        (Some(Target::Flintlock), _) => true,
        (None, Some(path)) => !mooring::config::Config::load(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .targets
            .flintlock
            .is_empty(),
        (None, None) => false,
    };
    let validator = Validator::new(options).context("cannot start validation")?;
    let limits = args.check.limits();
    let read = source::read(&source::Revision::Paths(args.paths.clone()), &limits)?;
    let mut report = desired::render(read, &validator, &limits);
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
                "valid": report.errors() == 0,
                "summary": {
                    "files": report.files,
                    "documents": report.documents,
                    "objects": report.manifests.len(),
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
        }
    }
    Ok(if report.is_valid() {
        exit::OK
    } else {
        exit::FAILED
    })
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
