//! `mooring apply`: the plan against live targets (made by
//! [`live::plan`], as `mooring plan` makes it, so what `plan` shows is what
//! `apply` does), then its changes.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use clap::Args;
use mooring::engine::{ChangeResult, Outcome, Report};
use mooring::finding::Finding;
use mooring::plan::render::{self, Paint};

use super::live::{self, LivePlan, SafetyArgs, SourceArgs, TargetArgs};
use super::output::{self, PlanFormat};
use super::{CheckArgs, exit};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mooring apply --config mooring.yaml --dry-run      # the plan, nothing changed
  mooring apply --config mooring.yaml --prune --yes
  mooring apply deploy --context kind-dev --yes --wait --timeout 10m
  mooring apply overlays/prod --force-conflicts --yes # heal what kubectl changed")]
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
    /// Then wait until every object of the source is healthy (kstatus's
    /// rules: rollouts done, Jobs complete, claims bound, Ready
    /// conditions...) or has failed, and name each one that is not: exit 1
    /// unless all are healthy.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits, and how long an object annotated
    /// `mooring.dev/depends-on` waits for those objects to be healthy
    /// (`90s`, `5m`).
    #[arg(long, value_name = "DURATION", default_value = "5m",
          value_parser = super::parse_timeout)]
    timeout: std::time::Duration,
    /// Output format of the plan and the results.
    #[arg(short, long, value_enum, default_value_t = PlanFormat::Text)]
    output: PlanFormat,
    #[command(flatten)]
    check: CheckArgs,
}

pub fn run(args: &ApplyArgs) -> anyhow::Result<i32> {
    if matches!(
        args.output,
        PlanFormat::Junit | PlanFormat::Sarif | PlanFormat::Github
    ) {
        anyhow::bail!(
            "apply -o takes text, json or markdown; junit, sarif and github are for `mooring plan` and `mooring validate`"
        );
    }
    let config = live::config(&args.targets, &args.source)?;
    let Ok(desired) = live::desired(&args.source, &config, &args.check, args.output)? else {
        return Ok(exit::FAILED);
    };
    let safety = args.safety.safety(&config);
    let rt = live::runtime()?;
    rt.block_on(async {
        let LivePlan {
            mut engine,
            plan,
            held,
            findings,
            sides,
        } = live::plan(&config, desired, &safety).await?;
        let json = args.output == PlanFormat::Json;
        let show_plan = || {
            output::print_plan(
                args.output,
                &plan.plan,
                &sides,
                &findings,
                &output::Destination::default(),
            )
        };
        if !json {
            show_plan()?;
        }
        if !sides.unobserved.is_empty() {
            let names: Vec<&str> = sides.unobserved.iter().map(|u| u.target.as_str()).collect();
            eprintln!(
                "{} could not be read: nothing of it is planned or applied; run apply again once it answers",
                names.join(", ")
            );
        }
        // Held is not success: each held change is named with its reason
        // (also when errors stop the whole plan: a deletion is then held
        // for them), and the run exits 1. Prune being off is not a hold:
        // not deleting is what was asked.
        let held_changes = plan.held();
        for c in &held_changes {
            eprintln!(
                "held: {} {} [{}]: {}",
                c.action.verb(),
                c.id,
                c.backend,
                c.blocked.as_deref().unwrap_or_default()
            );
        }
        let any_held = !held_changes.is_empty();
        if plan.findings.iter().any(Finding::is_error) {
            if json {
                show_plan()?;
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
                show_plan()?;
            } else if actionable == 0 {
                if sides.complete() {
                    println!("\nNothing to apply.");
                } else {
                    println!("\nNothing to apply on the targets that were read.");
                }
            } else {
                println!("\nDry run: nothing was changed.");
            }
            let unhealthy = !args.dry_run && args.wait && !wait(&engine, &plan.plan, args.timeout).await;
            return Ok(if plan.failed() || unhealthy || (any_held && !args.dry_run) {
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
        engine.set_wait_timeout(args.timeout);
        let (signal_tx, signal_rx) = tokio::sync::watch::channel(None);
        let signals = Signals::install();
        let watcher = tokio::spawn(async move {
            let signal = signals.recv().await;
            let _ = signal_tx.send(Some(signal));
            let _ = stop_tx.send(true);
        });
        if !json {
            // Each result is printed the moment it is known, so a long
            // apply shows (and, killed, leaves behind) what it did.
            println!();
            engine.on_result(std::sync::Arc::new(|r| {
                super::status::print_above(&result_lines(r, Paint::Ansi));
            }));
        }
        let report = engine.apply(&plan).await;
        watcher.abort();
        let signal = *signal_rx.borrow();
        if json {
            let changes: Vec<&mooring::plan::Change> = plan
                .plan
                .changes
                .iter()
                .filter(|c| c.action != mooring::plan::Action::Unchanged)
                .collect();
            let doc = serde_json::json!({
                "apiVersion": render::OUTPUT_API_VERSION,
                "kind": "ApplyReport",
                "headline": render::headline(&plan.plan, &sides),
                "complete": sides.complete(),
                "unobserved": sides.unobserved,
                "from": sides.from_side(),
                "to": sides.to_side(),
                "summary": plan.plan.summary,
                "changes": changes,
                "findings": findings,
                "applied": said_once(report.clone()),
                "interrupted": signal.map(Signal::name),
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        } else {
            anstream::print!("{}", summary_line(&report));
        }
        if let Some(signal) = signal {
            eprintln!(
                "interrupted by {}: {} change(s) not started, the requests in flight finished; run apply again to finish",
                signal.name(),
                report.skipped
            );
            return Ok(signal.exit_code());
        }
        let healthy = !args.wait || wait(&engine, &plan.plan, args.timeout).await;
        Ok(if report.succeeded() && !plan.failed() && !any_held && healthy {
            exit::OK
        } else {
            exit::FAILED
        })
    })
}

/// `--wait`: waits for every object the plan keeps (not deleted, not held)
/// to be healthy or failed, and says which are not. True when all are
/// healthy.
async fn wait(
    engine: &mooring::engine::Engine,
    plan: &mooring::plan::Plan,
    timeout: std::time::Duration,
) -> bool {
    use mooring::plan::health::Health;
    let objects: Vec<&mooring::plan::Change> =
        plan.changes.iter().filter(|c| c.stays_live()).collect();
    eprintln!(
        "waiting up to {} for {} object(s) to be healthy...",
        humantime(timeout),
        objects.len()
    );
    let started = std::time::Instant::now();
    // On a terminal, the status line says where the wait stands.
    let tick = |p: &mooring::engine::WaitProgress| super::status::show(&progress_line(p));
    let results = engine
        .wait_healthy_reporting(
            &objects,
            timeout,
            std::time::Duration::from_millis(500),
            &tick,
        )
        .await;
    super::status::clear();
    let mut healthy = 0;
    let mut ok = true;
    for result in &results {
        let object = &result.id;
        match &result.health {
            Health::Current => healthy += 1,
            Health::InProgress(why) => {
                ok = false;
                eprintln!(
                    "still in progress after {}: {object}: {why}",
                    humantime(timeout)
                );
            }
            Health::Failed(why) => {
                ok = false;
                eprintln!("failed: {object}: {why}");
            }
        }
    }
    eprintln!(
        "{healthy} of {} object(s) healthy after {:.1}s",
        results.len(),
        started.elapsed().as_secs_f64()
    );
    ok
}

/// The progress line of `apply --wait` on a terminal.
fn progress_line(p: &mooring::engine::WaitProgress) -> String {
    let mut line = format!(
        "waiting: {} of {} object(s) settled, {}s",
        p.settled,
        p.total,
        p.elapsed.as_secs()
    );
    if let Some(object) = &p.waiting_for {
        line.push_str(&format!("; still in progress: {object}"));
    }
    line
}

/// `300s` as `5m`, `90s` as `90s`.
fn humantime(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
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

/// `report` with each failed change's error said once
/// ([`ChangeResult::error_said_once`]): its
/// `backend` and `object` are fields of their own in the JSON report.
fn said_once(mut report: Report) -> Report {
    for r in &mut report.results {
        if let Some(once) = r.error_said_once().map(std::borrow::Cow::into_owned) {
            r.outcome = Outcome::Failed { error: once };
        }
    }
    report
}

/// One change's result, as `apply` prints it the moment it is known:
/// `  ✓ create Kind/ns/name [backend]: summary` (painted: done green,
/// failed red, held yellow, skipped dim).
pub fn result_lines(r: &ChangeResult, paint: Paint) -> String {
    let colour = |c: AnsiColor| Style::new().fg_color(Some(c.into()));
    let target = if r.backend.is_empty() {
        String::new()
    } else {
        format!(" [{}]", r.backend)
    };
    let head = |mark: &str, style: Style| {
        paint.paint(style, &format!("{mark} {} {}", r.action.verb(), r.object))
    };
    match &r.outcome {
        Outcome::Done { summary, unhealthy } => {
            let mut out = format!(
                "  {}{target}: {summary}\n",
                head("✓", colour(AnsiColor::Green))
            );
            if let Some(why) = unhealthy {
                let why = format!("unhealthy: {why}");
                let _ = writeln!(out, "    {}", paint.paint(colour(AnsiColor::Red), &why));
            }
            out
        }
        Outcome::Failed { .. } => {
            let error = r.error_said_once().unwrap_or_default();
            format!(
                "  {}{target}: {error}\n",
                head("✗", colour(AnsiColor::Red).bold())
            )
        }
        Outcome::Skipped { reason } => format!(
            "  {}{target}: skipped: {reason}\n",
            head("-", Style::new().dimmed())
        ),
        Outcome::Held { reason } => format!(
            "  {}{target}: held: {reason}\n",
            head("‖", colour(AnsiColor::Yellow))
        ),
    }
}

/// The line that ends an apply's text report.
pub fn summary_line(report: &Report) -> String {
    format!(
        "\nApplied: {} done{}, {} failed, {} skipped{}.{}\n",
        report.done,
        if report.unhealthy > 0 {
            format!(" ({} unhealthy)", report.unhealthy)
        } else {
            String::new()
        },
        report.failed,
        report.skipped,
        if report.held > 0 {
            format!(", {} held", report.held)
        } else {
            String::new()
        },
        if report.failed > 0 {
            " Run apply again once the failures are fixed: it only does what is left."
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_json_report_says_each_error_once() {
        let report = mooring::engine::Report {
            results: vec![mooring::engine::ChangeResult {
                action: mooring::plan::Action::Create,
                backend: "kubernetes".into(),
                object: "Service/shop/web".into(),
                outcome: mooring::engine::Outcome::Failed {
                    error: "kubernetes: k8s.yaml:5: Service/shop/web: Service \"web\" is invalid"
                        .into(),
                },
            }],
            failed: 1,
            ..Default::default()
        };
        let json = serde_json::to_value(super::said_once(report)).unwrap();
        assert_eq!(
            json["results"][0]["error"],
            "k8s.yaml:5: Service \"web\" is invalid"
        );
        assert_eq!(json["results"][0]["backend"], "kubernetes");
    }

    #[test]
    fn the_wait_progress_line_says_where_it_stands() {
        let p = mooring::engine::WaitProgress {
            settled: 3,
            total: 5,
            elapsed: std::time::Duration::from_millis(12_400),
            waiting_for: Some("Deployment/shop/web".into()),
        };
        assert_eq!(
            super::progress_line(&p),
            "waiting: 3 of 5 object(s) settled, 12s; still in progress: Deployment/shop/web"
        );
        let done = mooring::engine::WaitProgress {
            waiting_for: None,
            settled: 5,
            ..p
        };
        assert_eq!(
            super::progress_line(&done),
            "waiting: 5 of 5 object(s) settled, 12s"
        );
    }
}
