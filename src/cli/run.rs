//! `mooring run`: the reconciler daemon, or one sync with `--once`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use clap::Args;
use mooring::config::Config;
use mooring::metrics::Metrics;
use mooring::run::{LogObserver, Observer, SourceRunner, SyncOutcome, SyncResult};
use mooring::serve::webhook::{HookSource, Hooks};
use mooring::serve::{AppState, Fanout, StatusBoard};
use mooring::source::git;
use mooring::validate::Validator;

use super::{CheckArgs, exit};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mooring run --config mooring.yaml                   # sync on each source's interval
  mooring run --config mooring.yaml --once            # one sync per source, then exit
  mooring run --config mooring.yaml --listen 0.0.0.0:9464   # /metrics, /api/v1/status, POST /hooks/git")]
pub struct RunArgs {
    /// mooring.yaml: the sources, targets and safety settings (see
    /// examples/mooring.yaml). Required: the daemon reads everything from it.
    #[arg(long, value_name = "FILE", env = "MOORING_CONFIG")]
    config: PathBuf,
    /// Sync every source once, print what happened, and exit: 0 when every
    /// sync succeeded, 1 when any failed, was invalid or held changes back
    /// (a safety rule: `held`; a sync window: `skipped`), for CI and
    /// debugging.
    #[arg(long)]
    once: bool,
    /// The HTTP listener: /metrics, /healthz, /readyz, /api/v1/status, and
    /// POST /hooks/git for GitHub, GitLab and Gitea push webhooks (point
    /// the forge at http://HOST:PORT/hooks/git, content type JSON; set
    /// the same secret in the source's `webhook` in mooring.yaml).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:9464")]
    listen: std::net::SocketAddr,
    /// Serve POST /hooks/git on this address of its own instead of on
    /// --listen, so that only the webhook is exposed to the forge (e.g.
    /// --webhook-listen 0.0.0.0:9465 behind the ingress, --listen
    /// 127.0.0.1:9464 for Prometheus).
    #[arg(long, value_name = "ADDR")]
    webhook_listen: Option<std::net::SocketAddr>,
    /// Where clones of the sources are kept and fetched incrementally
    /// [default: $XDG_CACHE_HOME/mooring/git].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    check: CheckArgs,
    #[command(flatten)]
    leader: super::lead::LeaderArgs,
}

/// One line per outcome on stdout (with `--once`).
struct PrintObserver;

impl Observer for PrintObserver {
    fn observe(&self, o: &SyncOutcome) {
        let revision = o
            .revision
            .as_deref()
            .map_or("-".to_string(), |r| r.chars().take(10).collect());
        let counts = o.plan.as_ref().map_or(String::new(), |p| {
            let s = p.summary;
            format!(
                ": {} create, {} update, {} replace, {} delete, {} unchanged",
                s.create, s.update, s.replace, s.delete, s.unchanged
            )
        });
        let applied = o.report.as_ref().map_or(String::new(), |r| {
            format!("; applied {} ({} failed)", r.done, r.failed)
        });
        let held = if o.held.is_empty() {
            String::new()
        } else {
            format!("; {} held", o.held.len())
        };
        println!(
            "{}: {} at {revision}{counts}{applied}{held}",
            o.source,
            o.result.label()
        );
        for h in &o.held {
            println!("  held: {h}");
        }
        for line in mooring::finding::text_lines(&o.findings) {
            println!("  {line}");
        }
        if let Some(e) = &o.error {
            println!("  {e}");
        }
    }
}

pub fn run(args: &RunArgs) -> anyhow::Result<i32> {
    let config = Config::load(&args.config)?;
    let cache = args
        .cache_dir
        .clone()
        .unwrap_or_else(git::default_cache_dir);
    // Before any Git traffic and before the runtime's threads exist.
    git::set_network_timeout(config.timeout)?;
    let validator =
        Arc::new(Validator::new(args.check.options()).context("cannot start validation")?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let elector = args.leader.elector(&config, &args.config, args.once).await?;
        // Turns true on SIGTERM/SIGINT, or when the Lease is lost: engines
        // start no further change (those in flight finish).
        let (halt_tx, halt_rx) = tokio::sync::watch::channel(false);
        let halt_tx = Arc::new(halt_tx);
        let mut runners = Vec::new();
        for source in config.all_sources() {
            if source.url.is_none() {
                bail!(
                    "source {}: set its url in {}",
                    source.name,
                    args.config.display()
                );
            }
            let mut engine = config.engine(&source.name).await?;
            engine.stop_on(halt_rx.clone());
            // The daemon logs and counts changes; it never prints a diff.
            engine.skip_diffs();
            // --exclude adds to every source's own exclude list.
            let mut source = source.clone();
            source.exclude.extend(args.check.exclude.iter().cloned());
            runners.push(SourceRunner::new(
                &config,
                &source,
                engine,
                validator.clone(),
                cache.clone(),
            )?
            .with_limits(args.check.limits()));
        }
        if args.once {
            let mut ok = true;
            for runner in &mut runners {
                let outcome = runner.sync().await;
                LogObserver.observe(&outcome);
                PrintObserver.observe(&outcome);
                // Held (by a safety rule or a sync window), failed or
                // invalid: Git is not what is live, exit 1.
                ok &= outcome.result == SyncResult::Success;
            }
            return Ok(if ok { exit::OK } else { exit::FAILED });
        }

        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let halt = halt_tx.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: finishing the syncs in flight");
            let _ = halt.send(true);
            let _ = stop_tx.send(true);
        });
        let (trigger_tx, trigger_rx) = tokio::sync::mpsc::channel(64);
        let hook_sources = config
            .all_sources()
            .into_iter()
            .map(HookSource::new)
            .collect::<Result<Vec<_>, _>>()?;
        if hook_sources.iter().any(|h| h.secret.is_none()) {
            tracing::info!(
                "POST /hooks/git accepts unsigned pushes for sources without webhook.secretFile/secretEnv"
            );
        }
        let ready = Arc::new(AtomicBool::new(false));
        let metrics = Arc::new(Metrics::new()?);
        for source in config.all_sources() {
            metrics.start_source(&source.name);
        }
        mooring::backend::requests::install(metrics.clone());
        let status = StatusBoard::default();
        let election = elector.map(super::lead::Election::start);
        let state = AppState {
            metrics: metrics.clone(),
            status: status.clone(),
            ready: ready.clone(),
            hooks: Hooks {
                sources: Arc::new(hook_sources),
                triggers: trigger_tx,
            },
            leader: election.as_ref().map(super::lead::Election::leadership),
        };
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let hook_listener = match args.webhook_listen {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (--webhook-listen)"))?,
            ),
            None => None,
        };
        let limits = mooring::serve::listener::Limits::default();
        tracing::info!(
            listen = %args.listen,
            webhook_listen = %args.webhook_listen.map_or("-".to_string(), |a| a.to_string()),
            max_connections = limits.max_connections,
            "serving /metrics, /healthz, /readyz, /api/v1/status{}",
            if args.webhook_listen.is_some() { "; POST /hooks/git on its own address" } else { ", POST /hooks/git" }
        );
        // Stopped after the runners, also when the Lease is lost.
        let (stop_http_tx, stop_http) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let main_router = match hook_listener {
            Some(_) => mooring::serve::status_router(state.clone()),
            None => mooring::serve::router(state.clone()),
        };
        let mut servers = vec![tokio::spawn(mooring::serve::listener::serve(
            listener,
            main_router,
            limits,
            stopped(stop_http.clone()),
        ))];
        if let Some(hook_listener) = hook_listener {
            servers.push(tokio::spawn(mooring::serve::listener::serve(
                hook_listener,
                mooring::serve::webhook_router(state),
                limits,
                stopped(stop_http.clone()),
            )));
        }
        let observer: Arc<dyn Observer> =
            Arc::new(Fanout(vec![Arc::new(LogObserver), metrics.clone(), Arc::new(status)]));
        let code = match election {
            None => {
                metrics.set_leader(true);
                mooring::run::run(runners, trigger_rx, stop_rx, observer, ready).await;
                exit::OK
            }
            Some(e) => {
                let r = ready.clone();
                e.run_while_leading(stop_rx, &halt_tx, &metrics, &ready, move |stop| {
                    mooring::run::run(runners, trigger_rx, stop, observer, r)
                })
                .await
            }
        };
        let _ = stop_http_tx.send(true);
        for server in servers {
            server
                .await
                .map_err(|e| anyhow::anyhow!("the HTTP endpoint failed: {e}"))?;
        }
        Ok(code)
    })
}

/// SIGTERM or SIGINT (Ctrl-C).
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
