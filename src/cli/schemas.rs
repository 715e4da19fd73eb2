//! `mooring schemas`: write, check or list the generated JSON Schemas.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::exit;

#[derive(Debug, Args)]
pub struct SchemasArgs {
    /// Directory to write to (or to compare with, with --check).
    #[arg(long, default_value = "schemas")]
    out: PathBuf,
    /// Do not write: exit 1 if any file under --out differs from what this
    /// binary generates (a CI check that committed schemas are fresh).
    #[arg(long)]
    check: bool,
    /// List the kinds mooring knows, with the upstream release each
    /// follows, and exit.
    #[arg(long, conflicts_with = "check")]
    list: bool,
}

pub fn run(args: &SchemasArgs) -> anyhow::Result<i32> {
    if args.list {
        for k in mooring::kinds::all() {
            println!(
                "{:<40} {:<22} schemas/{:<60} follows {}",
                k.api_version(),
                k.kind,
                k.schema_file(),
                k.upstream
            );
        }
        return Ok(exit::OK);
    }
    let rendered = mooring::kinds::schema::render_all();
    if args.check {
        let mut stale = Vec::new();
        for (rel, text) in &rendered {
            let path = args.out.join(rel);
            match mooring::file::read_to_string(&path) {
                Ok(on_disk) if on_disk == *text => {}
                Ok(_) => stale.push(format!("{} differs", path.display())),
                Err(_) => stale.push(format!("{} is missing", path.display())),
            }
        }
        if stale.is_empty() {
            println!(
                "{} schema files in {} are up to date",
                rendered.len(),
                args.out.display()
            );
            return Ok(exit::OK);
        }
        for s in &stale {
            println!("{s}");
        }
        println!(
            "schemas are stale: run `mooring schemas --out {}` and commit the result",
            args.out.display()
        );
        return Ok(exit::FAILED);
    }
    for (rel, text) in &rendered {
        let path = args.out.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "wrote {} schema files to {}",
        rendered.len(),
        args.out.display()
    );
    Ok(exit::OK)
}
