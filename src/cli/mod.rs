//! Command-line interface: argument definitions and the mapping of outcomes
//! to exit codes. Each command is a thin shell over a library piece.

mod about;
mod apply;
mod crds;
mod lead;
mod live;
mod output;
mod plan;
mod reports;
mod run;
mod schemas;
mod status;
mod translate;
mod validate;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit codes, the same for every command.
pub mod exit {
    /// Success; for `plan`, no changes.
    pub const OK: i32 = 0;
    /// Invalid input, a usage error, or any other failure.
    pub const FAILED: i32 = 1;
    /// `plan` only: changes are pending.
    pub const CHANGES: i32 = 2;
}

const AFTER_HELP: &str = "\
Exit codes (every command):
  0  success (for plan: no changes)
  1  invalid input, usage error, or any other failure
  2  plan (and apply --dry-run): changes are pending
  130, 143  apply stopped by SIGINT / SIGTERM: run it again to finish

Examples:
  mooring validate examples/manifests
  mooring validate deploy --exclude values.yaml --exclude 'charts/'
  mooring validate examples/kustomize/overlays/production   # rendered with kustomize
  mooring plan --repo . --against-ref origin/main --path examples/manifests -o markdown
  mooring plan --repo . --against-ref origin/main --path examples/kustomize/overlays/production
  mooring plan examples/manifests --against-ref HEAD~1
  mooring plan --config mooring.yaml
  mooring apply --config mooring.yaml --prune --yes
  mooring apply examples/manifests --context kind-dev --dry-run
  mooring translate examples/manifests/ignite --host edge-1 > microvms.yaml
  mooring schemas --check
  mooring completion bash > ~/.local/share/bash-completion/completions/mooring";

/// mooring holds live infrastructure to what a Git repository declares.
///
/// It reads Kubernetes, wasmCloud, LlamaStack, Weave Ignite and Flintlock
/// manifests from Git, renders Kustomize overlays and Helm charts, validates
/// them against schemas and Rego policies, and plans the changes between two
/// revisions or against live targets.
#[derive(Debug, Parser)]
#[command(name = "mooring", version, after_help = AFTER_HELP, max_term_width = 100)]
struct Cli {
    /// Log format for diagnostics on stderr (RUST_LOG sets the level).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// When to colour what is printed: `auto` on a terminal (not when
    /// NO_COLOR is set; always when CLICOLOR_FORCE is), `always`, `never`.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    color: ColorWhen,

    #[command(subcommand)]
    command: Command,
}

/// `--color`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    /// Sets what every `anstream` print does with styles.
    fn apply(self) {
        let choice = match self {
            ColorWhen::Auto => anstream::ColorChoice::Auto,
            ColorWhen::Always => anstream::ColorChoice::Always,
            ColorWhen::Never => anstream::ColorChoice::Never,
        };
        choice.write_global();
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check manifests: YAML, schemas, upstream rules and Rego policies.
    ///
    /// Reads every .yaml/.yml/.json file under each PATH (default: the
    /// current directory) but what --exclude and .mooringignore files leave
    /// out, reports every problem as `file:line: Kind/ns/name: field:
    /// message` and exits 1 if any is an error.
    ///
    /// A kind's schema is, first found: a CustomResourceDefinition in the
    /// same input; the cluster's (--kubeconfig); --schemas; mooring's own
    /// kinds; the 64 built-in Kubernetes kinds (`mooring schemas --list`).
    Validate(validate::ValidateArgs),
    /// Show what would change: between two Git revisions, or between Git
    /// and live targets.
    ///
    /// With --against-ref, loads the manifests at both revisions straight
    /// from Git objects (no checkout): a CI dry-run diff. With targets
    /// (--config, --kubeconfig/--context, --flintlock), reads live state
    /// from Kubernetes (a server-side dry-run apply, as `kubectl diff
    /// --server-side`) and Flintlock. Either way it validates the desired
    /// side first, and prints create / update / replace / delete /
    /// unchanged with a unified diff per changed object. Secret values are
    /// masked. Exits 0 with no changes, 2 with changes, 1 on invalid
    /// manifests, unreachable targets or any error.
    Plan(plan::PlanArgs),
    /// Make live targets match Git: the plan, then its changes.
    ///
    /// Creates and updates in dependency order (Namespaces and CRDs, then
    /// ConfigMaps/Secrets/ServiceAccounts, then the rest), replaces
    /// Flintlock microVMs whose spec changed (delete, then create), and with
    /// --prune deletes what mooring applied earlier and Git no longer
    /// declares. Deletions never happen from invalid or empty manifests,
    /// never to objects without mooring's labels, and never beyond the
    /// deletion cap without --force-prune. A failed object does not stop
    /// the others; re-running converges. SIGINT/SIGTERM start no further
    /// change, let the requests in flight finish and exit 130/143. Exits 0
    /// when everything applied, 1 otherwise.
    Apply(apply::ApplyArgs),
    /// Print the Flintlock MicroVM manifests that Ignite VMs become.
    ///
    /// Validates the Ignite files like `validate` does, including the
    /// translation itself (Flintlock's limits, such as its 1024 MB minimum
    /// memory; fields Flintlock has no equivalent for, such as ports and
    /// copyFiles; kernels and images no Kernel or Image object declares).
    /// Findings go to stderr as `file:line: ...`; the MicroVMs go to stdout,
    /// for review and commit when moving from Ignite to Flintlock. Exits 1,
    /// printing nothing, if any finding is an error. The mapping is in
    /// docs/ignite.md.
    Translate(translate::TranslateArgs),
    /// Keep live targets in sync with Git: the reconciler daemon.
    ///
    /// Per source in --config: fetch on its `interval` (default 1m) or cron
    /// `schedule`, or at once on a push webhook (POST /hooks/git), and when
    /// the revision is new, validate, plan and apply (invalid revisions are
    /// never applied: the last good one stays). Every `driftInterval`
    /// (default 1m), and within a second of a watched Kubernetes object
    /// changing, live state is compared with the last applied revision;
    /// `selfHeal: true` re-applies drifted objects. SIGTERM/SIGINT start no
    /// further change, let the requests in flight finish, and exit 0. With
    /// --once, sync each source once and exit 0 (all succeeded) or 1.
    Run(run::RunArgs),
    /// Write or check the JSON Schemas generated from mooring's types.
    Schemas(schemas::SchemasArgs),
    /// Print CustomResourceDefinitions for the LlamaStack and wasmCloud kinds.
    ///
    /// Generated from the same schemas `validate` uses (structural, with
    /// int-or-string quantities and the status subresource), for clusters
    /// without the operators that ship them. Apply them with mooring (in
    /// the same repository as the custom resources: CRDs are applied first
    /// and waited for) or with kubectl.
    Crds(crds::CrdsArgs),
    /// Work with Rego policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Print the version, the commit it was built from and the Kubernetes
    /// release whose built-in kinds it knows.
    Version(about::VersionArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish,
    /// powershell).
    Completion(about::CompletionArgs),
    /// Print the manual page, or write one per command into a folder.
    Man(about::ManArgs),
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Run the `test_*` rules of every `*_test.rego` file (like `opa test`).
    #[command(after_help = "Examples:
  mooring policy test                 # ./policies, with its data/ folder
  mooring policy test ../org-policies")]
    Test {
        /// Policy directory.
        #[arg(default_value = "policies")]
        dir: PathBuf,
    },
}

/// Flags shared by every command that validates manifests.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Reject unknown fields (kubectl's strict field validation);
    /// `--strict=false` reports them as warnings instead.
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", require_equals = true,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    strict: bool,
    /// Accept kinds mooring has no schema for (with a warning).
    #[arg(long)]
    allow_unknown_kinds: bool,
    /// More JSON Schemas, ahead of the built-in ones: a local folder in
    /// mooring's layout (<group>/<version>/<Kind>.json, `core` for the core
    /// group), kubeconform's (deployment-apps-v1.json) or the
    /// CRDs-catalog's (<group>/<kind>_<version>.json); or a kubeconform
    /// -schema-location template such as
    /// 'crds/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'.
    /// Repeatable; searched in order. Nothing is fetched: URLs are refused.
    #[arg(long, value_name = "DIR|TEMPLATE")]
    schemas: Vec<String>,
    /// Rego policy directory [default: ./policies when it exists].
    #[arg(long, value_name = "DIR", conflicts_with = "no_policies")]
    policies: Option<PathBuf>,
    /// Do not evaluate any policy.
    #[arg(long)]
    no_policies: bool,
    /// Largest manifest file read, in bytes (`4Mi`, `512Ki` and `1Gi` work too).
    #[arg(long, value_name = "BYTES", default_value = "4Mi", value_parser = parse_bytes)]
    max_file_size: u64,
    /// Most bytes of manifests read in one run, all files together: over it,
    /// the run is an error naming what it read, and nothing is planned or
    /// applied (the daemon keeps its last good revision).
    #[arg(long, value_name = "BYTES", default_value = "64Mi", value_parser = parse_bytes)]
    max_total_size: u64,
    /// Most YAML documents read in one run, all files together, counted
    /// before parsing: over it, the run is an error, as for --max-total-size.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    max_documents: usize,
    /// Leave out files and folders, in gitignore's syntax, matched against
    /// paths relative to the folder read: `--exclude values.yaml` (at any
    /// depth), `--exclude 'charts/'` (folders), `--exclude
    /// '/generated/**/*.json'` (anchored), `!keep.yaml` (taken back).
    /// Repeatable; added to the source's `exclude:` in mooring.yaml. A
    /// .mooringignore file in a folder read does the same for that folder
    /// and below.
    #[arg(long, value_name = "GLOB", value_parser = parse_exclude)]
    exclude: Vec<String>,
    /// The kustomize binary that renders folders holding a
    /// kustomization.yaml [default: render.kustomize in mooring.yaml, else
    /// kustomize on PATH]. `scripts/tools build kustomize` builds one from
    /// its Go module.
    #[arg(long, value_name = "PATH")]
    kustomize: Option<PathBuf>,
    /// The helm binary (Helm 4) that renders folders holding a Chart.yaml
    /// [default: render.helm in mooring.yaml, else helm on PATH].
    #[arg(long, value_name = "PATH")]
    helm: Option<PathBuf>,
    /// Deadline of one Kustomize or Helm render (`60s`, `2m`) [default:
    /// render.timeout in mooring.yaml, else 60s].
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    render_timeout: Option<std::time::Duration>,
}

pub(crate) fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    mooring::config::parse_duration(text)
}

/// One `--exclude` pattern, checked as gitignore's syntax reads it.
fn parse_exclude(text: &str) -> Result<String, String> {
    mooring::source::exclude::check_pattern(text)?;
    Ok(text.to_string())
}

/// A size in bytes: a whole number, optionally with a binary suffix
/// (`Ki`, `Mi`, `Gi`) as Kubernetes quantities write them.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    let factor: u64 = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit {other:?}: write a number of bytes, or one with Ki, Mi or Gi"
            ));
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size: write bytes, such as 4194304 or 4Mi"))?;
    n.checked_mul(factor)
        .ok_or_else(|| format!("{text} is too large"))
}

impl CheckArgs {
    fn options(&self) -> mooring::validate::Options {
        let policies = if self.no_policies {
            None
        } else {
            self.policies.clone().or_else(|| {
                let default = PathBuf::from("policies");
                default.is_dir().then_some(default)
            })
        };
        mooring::validate::Options {
            strict: self.strict,
            allow_unknown_kinds: self.allow_unknown_kinds,
            extra_schemas: self.schemas.clone(),
            policies,
            for_flintlock: true,
            renders_apart: false,
        }
    }

    /// Which policies ran and where they came from, said every time (as
    /// `./policies` is read from the working directory when it is there,
    /// as conftest reads `./policy`).
    fn policy_line(&self, validator: &mooring::validate::Validator) -> String {
        let count = |n: usize| format!("{n} file{}", if n == 1 { "" } else { "s" });
        let loaded = validator.policy_files().len();
        match (&self.policies, self.no_policies) {
            (_, true) => "policies: none (--no-policies)".to_string(),
            (Some(dir), false) => {
                format!("policies: {} from {} (--policies)", count(loaded), dir.display())
            }
            (None, false) if self.options().policies.is_some() => format!(
                "policies: {} from ./policies, found in the working directory (--policies DIR to choose, --no-policies to skip)",
                count(loaded)
            ),
            (None, false) => {
                "policies: none (no ./policies in the working directory; --policies DIR to use some)"
                    .to_string()
            }
        }
    }

    /// The renderer of Kustomize and Helm folders: `source`'s settings (a
    /// source's `render:`), with the flags ahead of them.
    fn renderer(&self, source: &mooring::render::Settings) -> mooring::render::Renderer {
        let mut settings = source.clone();
        if let Some(k) = &self.kustomize {
            settings.kustomize = Some(k.clone());
        }
        if let Some(h) = &self.helm {
            settings.helm = Some(h.clone());
        }
        if let Some(t) = self.render_timeout {
            settings.timeout = t;
        }
        mooring::render::Renderer::new(settings)
    }

    /// The `--exclude` patterns, after `source` (a source's `exclude:`).
    fn exclude(&self, source: &[String]) -> anyhow::Result<mooring::source::Exclude> {
        Ok(mooring::source::Exclude::new(
            source.iter().chain(&self.exclude),
        )?)
    }

    fn limits(&self) -> mooring::manifest::Limits {
        mooring::manifest::Limits {
            max_file_bytes: self.max_file_size,
            max_total_bytes: self.max_total_size,
            max_documents: self.max_documents,
            ..mooring::manifest::Limits::default()
        }
    }
}

fn init_logging(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // kube-rs logs every failed request at error level; mooring reports
        // each failure itself, with the object it concerns.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},kube_client=off")));
    // Colours only for a person at a terminal (as --color, NO_COLOR and
    // CLICOLOR_FORCE say), never into a log file.
    let ansi = anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// On a terminal, a line rewritten in place while a repository is cloned or
/// fetched (`Receiving objects:  45% (123/270), 1.2 MiB`), as git shows
/// it; never into a pipe or a log, and not for the daemon.
fn git_progress_on_terminal() {
    if !status::on_terminal() {
        return;
    }
    let last = std::sync::Mutex::new((0, 0));
    mooring::source::git::on_transfer_progress(Box::new(move |t| {
        if t.total_objects == 0 {
            return;
        }
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        let now = (t.received_objects, t.total_objects);
        if *last == now {
            return;
        }
        *last = now;
        let line = format!(
            "Receiving objects: {:3}% ({}/{}), {:.1} MiB",
            t.received_objects * 100 / t.total_objects,
            t.received_objects,
            t.total_objects,
            t.received_bytes as f64 / (1024.0 * 1024.0),
        );
        if t.received_objects == t.total_objects {
            status::finish(&line);
        } else {
            status::show(&line);
        }
    }));
}

/// On a terminal, the status line says what a backend is waiting for
/// after a write (a microVM being created, a Namespace terminating), and
/// for how long; not for the daemon.
fn backend_waits_on_terminal() {
    if !status::on_terminal() {
        return;
    }
    let waits = std::sync::Mutex::new(Waits::new());
    mooring::backend::waiting::on_waiting(Box::new(move |w| {
        let mut waits = waits.lock().unwrap_or_else(|e| e.into_inner());
        if w.done {
            waits.remove(w.object);
        } else {
            waits.insert(w.object.to_string(), (w.what.to_string(), w.elapsed));
        }
        match waits_line(&waits) {
            Some(line) => status::show(&line),
            None => status::clear(),
        }
    }));
}

/// The backends' waits going on: object, what it is waited for, since.
type Waits = std::collections::BTreeMap<String, (String, std::time::Duration)>;

/// The status line for the backends' waits: the longest one, and how many
/// more there are.
fn waits_line(waits: &Waits) -> Option<String> {
    let (object, (what, elapsed)) = waits.iter().max_by_key(|(_, (_, elapsed))| *elapsed)?;
    let mut line = format!("waiting {}s: {object} {what}", elapsed.as_secs());
    if waits.len() > 1 {
        line.push_str(&format!(" (and {} more)", waits.len() - 1));
    }
    Some(line)
}

/// The exit code of a process whose output's reader went away, as a shell
/// reports one killed by SIGPIPE.
const CLOSED_PIPE: i32 = 141;

/// `mooring validate | head`: when the reader of standard output or error
/// goes away, stop quietly with [`CLOSED_PIPE`], as Unix tools do, instead
/// of the panic `println!` makes of it. (Rust ignores SIGPIPE so that
/// network writes fail with an error rather than killing the daemon; only
/// the standard streams get this treatment.)
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(CLOSED_PIPE);
        }
        default(info);
    }));
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    quiet_on_closed_stdout();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    exit::OK
                }
                _ => exit::FAILED,
            };
            let _ = e.print();
            return code;
        }
    };
    // The daemon reports each sync at info; one-shot commands print their
    // own results and keep the log for warnings.
    let level = if matches!(cli.command, Command::Run(_)) {
        "info"
    } else {
        "warn"
    };
    cli.color.apply();
    init_logging(cli.log_format, level);
    if !matches!(cli.command, Command::Run(_)) {
        git_progress_on_terminal();
        backend_waits_on_terminal();
    }
    let result = match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Apply(args) => apply::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Translate(args) => translate::run(&args),
        Command::Schemas(args) => schemas::run(&args),
        Command::Crds(args) => crds::run(&args),
        Command::Policy(PolicyCommand::Test { dir }) => validate::run_policy_tests(&dir),
        Command::Version(args) => about::version(&args),
        Command::Completion(args) => about::completion(&args),
        Command::Man(args) => about::man(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::FAILED
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn the_waits_line_shows_the_longest_wait_and_counts_the_rest() {
        let mut waits = super::Waits::new();
        assert_eq!(super::waits_line(&waits), None, "no wait, no line");
        waits.insert(
            "MicroVM/ci/runner [flintlock]".into(),
            (
                "to be CREATED on edge-1 (PENDING)".into(),
                Duration::from_secs(3),
            ),
        );
        assert_eq!(
            super::waits_line(&waits).as_deref(),
            Some("waiting 3s: MicroVM/ci/runner [flintlock] to be CREATED on edge-1 (PENDING)")
        );
        waits.insert(
            "Namespace/shop [kubernetes]".into(),
            (
                "to be gone: Terminating, finalizers [kubernetes]".into(),
                Duration::from_secs(12),
            ),
        );
        assert_eq!(
            super::waits_line(&waits).as_deref(),
            Some(
                "waiting 12s: Namespace/shop [kubernetes] to be gone: Terminating, finalizers [kubernetes] (and 1 more)"
            )
        );
    }
}
