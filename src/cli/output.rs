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
    Markdown,
}

/// The plan in `format`, led by its headline and findings; text painted
/// (it is printed through [`print_plan`], which strips the styles unless
/// colour is wanted).
fn render(format: PlanFormat, plan: &Plan, sides: &render::Sides, findings: &[Finding]) -> String {
    match format {
        PlanFormat::Text => render::text_painted(plan, sides, findings, render::Paint::Ansi),
        PlanFormat::Json => render::json(plan, sides, findings),
        PlanFormat::Markdown => render::markdown(plan, sides, findings),
    }
}

/// Prints the plan on stdout in `format`: in colour when `--color` says so
/// (by default on a terminal, unless `NO_COLOR` is set or `CLICOLOR_FORCE`
/// forces it; see [`super::ColorWhen`]).
pub fn print_plan(format: PlanFormat, plan: &Plan, sides: &render::Sides, findings: &[Finding]) {
    anstream::print!("{}", render(format, plan, sides, findings));
}

/// Reports why nothing was planned from an invalid desired side: the
/// findings on stderr, and on stdout as JSON (`-o json`) or as Markdown,
/// errors first (`-o markdown`, so that a pull-request comment shows them).
pub fn report_invalid(format: PlanFormat, why: &str, findings: &[Finding]) -> anyhow::Result<()> {
    if format == PlanFormat::Json {
        let doc = serde_json::json!({"valid": false, "error": why, "findings": findings});
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    for line in mooring::finding::text_lines(findings) {
        eprintln!("{line}");
    }
    eprintln!("{why}");
    if format == PlanFormat::Markdown {
        print!("{}", render::markdown_invalid(why, findings));
    }
    Ok(())
}
