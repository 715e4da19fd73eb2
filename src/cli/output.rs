//! How `plan` and `apply` print: the output format, the plan rendered in
//! it, and the report of an invalid desired side. Both commands print
//! through here, so a plan looks the same whichever made it.

use clap::ValueEnum;
use mooring::finding::Finding;
use mooring::plan::{Plan, render};

/// Output format of `plan` and `apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    /// A pull-request comment.
    Markdown,
    /// GitHub Actions workflow commands: each finding an annotation on its
    /// file and line, then the headline as a notice.
    Github,
    /// JUnit XML: one test case per object (its action and diff in its
    /// output), failed when refused or invalid (`plan` only).
    Junit,
    /// SARIF 2.1.0: one result per finding, with its rule (`plan` only).
    Sarif,
}

/// The plan in `format`, led by its headline and findings; text painted
/// (it is printed through [`print_plan`], which strips the styles unless
/// colour is wanted).
fn render(
    format: PlanFormat,
    plan: &Plan,
    sides: &render::Sides,
    findings: &[Finding],
    to: &Destination,
) -> anyhow::Result<String> {
    Ok(match format {
        PlanFormat::Text => render::text_painted(plan, sides, findings, render::Paint::Ansi),
        PlanFormat::Json => render::json(plan, sides, findings, to.show_unchanged),
        PlanFormat::Markdown => render::markdown(plan, sides, findings),
        PlanFormat::Github => {
            let mut out: String = findings
                .iter()
                .map(|f| format!("{}\n", f.github_annotation()))
                .collect();
            out.push_str(&format!(
                "::notice title=mooring plan::{}\n",
                render::headline(plan, sides)
            ));
            out.push_str(&render::text(plan, sides, &[]));
            out
        }
        PlanFormat::Junit => super::reports::plan_junit(plan, findings, to.show_unchanged)?,
        PlanFormat::Sarif => super::reports::sarif(findings)?,
    })
}

/// Where and how much of a plan is printed.
#[derive(Debug, Clone, Default)]
pub struct Destination {
    /// `-o markdown` is cut to this many bytes (`None`: never cut).
    pub max_bytes: Option<usize>,
    /// The whole output (never cut, never coloured) is also written here.
    pub output_file: Option<std::path::PathBuf>,
    /// Unchanged objects are listed in JSON and JUnit too.
    pub show_unchanged: bool,
}

/// Prints the plan on stdout in `format`: in colour when `--color` says so
/// (by default on a terminal, unless `NO_COLOR` is set or `CLICOLOR_FORCE`
/// forces it; see [`super::ColorWhen`]); Markdown cut to
/// `to.max_bytes`; the whole of it written to `to.output_file` first.
pub fn print_plan(
    format: PlanFormat,
    plan: &Plan,
    sides: &render::Sides,
    findings: &[Finding],
    to: &Destination,
) -> anyhow::Result<()> {
    let full = to.output_file.as_ref().map(|p| p.display().to_string());
    if let Some(path) = &to.output_file {
        let whole = match format {
            PlanFormat::Text => render::text(plan, sides, findings),
            other => self::render(other, plan, sides, findings, to)?,
        };
        std::fs::write(path, whole)
            .map_err(|e| anyhow::anyhow!("cannot write --output-file {}: {e}", path.display()))?;
    }
    let shown = match (format, to.max_bytes) {
        (PlanFormat::Markdown, Some(limit)) => {
            render::markdown_within(plan, sides, findings, limit, full.as_deref())
        }
        _ => render(format, plan, sides, findings, to)?,
    };
    anstream::print!("{shown}");
    Ok(())
}

/// Reports why nothing was planned from an invalid desired side: the
/// findings on stderr, and on stdout as JSON (`-o json`) or as Markdown,
/// errors first (`-o markdown`, so that a pull-request comment shows them).
pub fn report_invalid(format: PlanFormat, why: &str, findings: &[Finding]) -> anyhow::Result<()> {
    if format == PlanFormat::Json {
        let doc = serde_json::json!({
            "apiVersion": render::OUTPUT_API_VERSION,
            "kind": "Plan",
            "valid": false,
            "error": why,
            "findings": findings,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    for line in mooring::finding::text_lines(findings) {
        eprintln!("{line}");
    }
    eprintln!("{why}");
    match format {
        PlanFormat::Markdown => print!("{}", render::markdown_invalid(why, findings)),
        PlanFormat::Github => {
            for f in findings {
                println!("{}", f.github_annotation());
            }
        }
        PlanFormat::Junit => print!(
            "{}",
            super::reports::plan_junit(&Plan::default(), findings, false)?
        ),
        PlanFormat::Sarif => print!("{}", super::reports::sarif(findings)?),
        PlanFormat::Text | PlanFormat::Json => {}
    }
    Ok(())
}
