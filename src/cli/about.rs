//! What the program says about itself: `mooring version`, `mooring
//! completion SHELL` (clap_complete) and `mooring man` (clap_mangen), all
//! generated from the one command definition, so they never drift from
//! `--help`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{Cli, exit};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mooring completion bash > ~/.local/share/bash-completion/completions/mooring
  mooring completion zsh > \"${fpath[1]}/_mooring\"
  mooring completion fish > ~/.config/fish/completions/mooring.fish")]
pub struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mooring man | man -l -                       # read mooring(1) now
  mooring man --out-dir /usr/local/share/man/man1   # mooring.1, mooring-plan.1, ...")]
pub struct ManArgs {
    /// Write a page per command (mooring.1, mooring-validate.1, ...) into
    /// this folder instead of printing mooring(1) on stdout.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mooring version
  mooring version -o json | jq -r .commit")]
pub struct VersionArgs {
    /// `text`, or `json` for scripts.
    #[arg(short, long, value_enum, default_value_t = VersionFormat::Text)]
    output: VersionFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum VersionFormat {
    Text,
    Json,
}

/// The commit this binary was built from (`build.rs`).
const COMMIT: &str = env!("MOORING_COMMIT");

pub fn version(args: &VersionArgs) -> anyhow::Result<i32> {
    let kubernetes = mooring::kinds::builtin::table()
        .map(|t| t.server.clone())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let version = env!("CARGO_PKG_VERSION");
    let text = match args.output {
        VersionFormat::Text => format!(
            "mooring {version}\ncommit: {COMMIT}\nkubernetes: {kubernetes} (the built-in kinds' schemas)\n"
        ),
        VersionFormat::Json => format!(
            "{}\n",
            serde_json::json!({
                "version": version,
                "commit": COMMIT,
                "kubernetes": kubernetes,
            })
        ),
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(exit::OK)
}

pub fn completion(args: &CompletionArgs) -> anyhow::Result<i32> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "mooring", &mut std::io::stdout());
    Ok(exit::OK)
}

pub fn man(args: &ManArgs) -> anyhow::Result<i32> {
    let command = Cli::command();
    match &args.out_dir {
        None => {
            clap_mangen::Man::new(command).render(&mut std::io::stdout())?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            write_pages(&command, "mooring", dir)?;
        }
    }
    Ok(exit::OK)
}

/// `name`.1 for `command`, then one page per subcommand, named as git names
/// its pages (`mooring-plan.1`, `mooring-policy-test.1`).
fn write_pages(command: &clap::Command, name: &str, dir: &Path) -> anyhow::Result<()> {
    let command = command.clone().name(name.to_string());
    let path = dir.join(format!("{name}.1"));
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}
