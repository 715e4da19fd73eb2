//! `mooring apply`, and `mooring plan` against live targets: both make the
//! same plan, so what `plan` shows is what `apply` does.

use std::fmt::Write as _;

use clap::Args;
use mooring::apply::{Outcome, Report, Safety, TargetPlan};
use mooring::config::{Config, DeletionCap};
use mooring::finding::Finding;
use mooring::plan::render;

use super::live::{self, SourceArgs, TargetArgs};
use super::plan::PlanFormat;
use super::{CheckArgs, exit};

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
    fn safety(&self, config: &Config) -> Safety {
        Safety {
            prune: self.prune || config.prune,
            allow_empty: self.allow_empty,
            max_deletions: self.max_deletions.unwrap_or(config.max_deletions),
            force_prune: self.force_prune,
        }
    }
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    targets: TargetArgs,
    /// Show the plan and stop: nothing is changed (exit 2 when changes are
    /// pending, as `plan`).
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    safety: SafetyArgs,
    /// Apply without asking (required when stdin is not a terminal).
    #[arg(short, long)]
    yes: bool,
    /// Output format of the plan and the results.
    #[arg(short, long, value_enum, default_value_t = PlanFormat::Text)]
    output: PlanFormat,
    #[command(flatten)]
    check: CheckArgs,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Findings for the plan's header: its own, and one per unreachable target.
fn plan_findings(desired: Vec<Finding>, plan: &TargetPlan) -> Vec<Finding> {
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
fn sides(config: &Config, desired: String, plan: &TargetPlan) -> render::Sides {
    render::Sides {
        from: live::targets_label(config),
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
    }
}

fn render(
    format: PlanFormat,
    plan: &TargetPlan,
    sides: &render::Sides,
    findings: &[Finding],
) -> String {
    match format {
        PlanFormat::Text => render::text(&plan.plan, sides, findings),
        PlanFormat::Json => render::json(&plan.plan, sides, findings),
        PlanFormat::Markdown => render::markdown(&plan.plan, sides, findings),
    }
}

/// `mooring plan` with targets.
pub fn run_plan(
    source: &SourceArgs,
    targets: &TargetArgs,
    safety: &SafetyArgs,
    check: &CheckArgs,
    output: PlanFormat,
) -> anyhow::Result<i32> {
    let config = targets.config()?;
    let Ok(desired) = live::desired(source, &config, check, output)? else {
        return Ok(exit::FAILED);
    };
    let rt = runtime()?;
    let (plan, _) = rt.block_on(async {
        let engine = live::engine(&config).await?;
        let mut plan = engine.plan(&desired.manifests).await;
        let held = engine.guard(&mut plan, &safety.safety(&config));
        anyhow::Ok((plan, held))
    })?;
    let findings = plan_findings(desired.findings, &plan);
    let sides = sides(&config, desired.label, &plan);
    print!("{}", render(output, &plan, &sides, &findings));
    Ok(if plan.failed() {
        exit::FAILED
    } else if plan.plan.has_changes() {
        exit::CHANGES
    } else {
        exit::OK
    })
}

pub fn run(args: &ApplyArgs) -> anyhow::Result<i32> {
    let config = args.targets.config()?;
    let Ok(desired) = live::desired(&args.source, &config, &args.check, args.output)? else {
        return Ok(exit::FAILED);
    };
    let safety = args.safety.safety(&config);
    let rt = runtime()?;
    rt.block_on(async {
        let mut engine = live::engine(&config).await?;
        let mut plan = engine.plan(&desired.manifests).await;
        let held = engine.guard(&mut plan, &safety);
        let findings = plan_findings(desired.findings, &plan);
        let sides = sides(&config, desired.label, &plan);
        let json = args.output == PlanFormat::Json;
        if !json {
            print!("{}", render(args.output, &plan, &sides, &findings));
        }
        if !sides.unobserved.is_empty() {
            let names: Vec<&str> = sides.unobserved.iter().map(|u| u.target.as_str()).collect();
            eprintln!(
                "{} could not be read: nothing of it is planned or applied; run apply again once it answers",
                names.join(", ")
            );
        }
        if plan.findings.iter().any(Finding::is_error) {
            if json {
                print!("{}", render(args.output, &plan, &sides, &findings));
            }
            eprintln!("nothing applied: fix the errors above first");
            return Ok(exit::FAILED);
        }
        let actionable = plan
            .plan
            .changes
            .iter()
            .filter(|c| c.is_actionable())
            .count();
        if let Some(why) = &held {
            eprintln!("deletions held back: {why}");
        }
        if args.dry_run || actionable == 0 {
            if json {
                print!("{}", render(args.output, &plan, &sides, &findings));
            } else if actionable == 0 {
                if sides.complete() {
                    println!("\nNothing to apply.");
                } else {
                    println!("\nNothing to apply on the targets that were read.");
                }
            } else {
                println!("\nDry run: nothing was changed.");
            }
            return Ok(if plan.failed() {
                exit::FAILED
            } else if args.dry_run && plan.plan.has_changes() {
                exit::CHANGES
            } else {
                exit::OK
            });
        }
        if !args.yes && !live::confirm(&format!("Apply {actionable} change(s)?"))? {
            eprintln!("Apply cancelled: nothing was changed.");
            return Ok(exit::FAILED);
        }
        // From here on, SIGINT and SIGTERM start no further change: the
        // requests in flight finish, the rest are reported skipped.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        engine.stop_on(stop_rx);
        let (signal_tx, signal_rx) = tokio::sync::watch::channel(None);
        let signals = Signals::install();
        let watcher = tokio::spawn(async move {
            let signal = signals.recv().await;
            let _ = signal_tx.send(Some(signal));
            let _ = stop_tx.send(true);
        });
        let report = engine.apply(&plan).await;
        watcher.abort();
        let signal = *signal_rx.borrow();
        if json {
            let doc = serde_json::json!({
                "headline": render::headline(&plan.plan, &sides),
                "complete": sides.complete(),
                "unobserved": sides.unobserved,
                "from": sides.from,
                "to": sides.to,
                "summary": plan.plan.summary,
                "changes": plan.plan.changes,
                "findings": findings,
                "applied": report,
                "interrupted": signal.map(Signal::name),
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        } else {
            print!("{}", text_report(&report));
        }
        if let Some(signal) = signal {
            eprintln!(
                "interrupted by {}: {} change(s) not started, the requests in flight finished; run apply again to finish",
                signal.name(),
                report.skipped
            );
            return Ok(signal.exit_code());
        }
        Ok(if report.succeeded() && !plan.failed() {
            exit::OK
        } else {
            exit::FAILED
        })
    })
}

/// A signal that asks `apply` to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// 128 + the signal number, as a shell reports a process it ended.
    fn exit_code(self) -> i32 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

/// SIGINT (Ctrl-C) and SIGTERM, caught from when this is made.
struct Signals {
    #[cfg(unix)]
    handlers: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    /// Installs the handlers (within the runtime). If they cannot be
    /// installed, says so: a signal then ends the process as it would have.
    fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let handlers = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(int), Ok(term)) => Some((int, term)),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!("cannot handle SIGINT/SIGTERM during apply: {e}");
                    None
                }
            };
            Signals { handlers }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// The next signal (never, without handlers).
    async fn recv(self) -> Signal {
        #[cfg(unix)]
        {
            match self.handlers {
                Some((mut int, mut term)) => tokio::select! {
                    _ = int.recv() => Signal::Interrupt,
                    _ = term.recv() => Signal::Terminate,
                },
                None => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Interrupt
        }
    }
}

/// One line per change, then the summary.
pub fn text_report(report: &Report) -> String {
    let mut out = String::from("\n");
    for r in &report.results {
        let target = if r.backend.is_empty() {
            String::new()
        } else {
            format!(" [{}]", r.backend)
        };
        let _ = match &r.outcome {
            Outcome::Done { summary, unhealthy } => {
                let _ = writeln!(
                    out,
                    "  ✓ {} {}{target}: {summary}",
                    r.action.verb(),
                    r.object
                );
                match unhealthy {
                    Some(why) => writeln!(out, "    unhealthy: {why}"),
                    None => Ok(()),
                }
            }
            Outcome::Failed { error } => {
                writeln!(out, "  ✗ {} {}{target}: {error}", r.action.verb(), r.object)
            }
            Outcome::Skipped { reason } => {
                writeln!(
                    out,
                    "  - {} {}{target}: skipped: {reason}",
                    r.action.verb(),
                    r.object
                )
            }
        };
    }
    let _ = writeln!(
        out,
        "\nApplied: {} done{}, {} failed, {} skipped.{}",
        report.done,
        if report.unhealthy > 0 {
            format!(" ({} unhealthy)", report.unhealthy)
        } else {
            String::new()
        },
        report.failed,
        report.skipped,
        if report.failed > 0 {
            " Run apply again once the failures are fixed: it only does what is left."
        } else {
            ""
        }
    );
    out
}
