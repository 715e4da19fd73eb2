//! `mooring schemas`: write, check or list the generated JSON Schemas.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use mooring::kinds::builtin;

use super::exit;

/// The folder of `schemas/` that describes mooring's own JSON output.
const OUTPUT_SCHEMAS: &str = "output/";

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mooring schemas --list                  # every kind mooring validates, and where its schema comes from
  mooring schemas --out schemas           # write the JSON Schemas (editors, kubeconform)
  mooring schemas --check                 # CI: fail when schemas/ is stale
  mooring schemas --from-cluster ~/.kube/config   # the built-in table from a real API server")]
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
    /// Regenerate the built-in Kubernetes kinds (`kubernetes/builtin.json`
    /// under --out) from the discovery and /openapi/v3 documents of the
    /// cluster this kubeconfig's current context names, leaving out the
    /// kinds of its CustomResourceDefinitions. The project runs it on its
    /// pinned test server: `scripts/builtin-schemas`.
    #[arg(long, value_name = "KUBECONFIG", conflicts_with_all = ["check", "list"])]
    from_cluster: Option<PathBuf>,
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
        let table = builtin::table().map_err(|e| anyhow::anyhow!("{e}"))?;
        for k in &table.kinds {
            println!(
                "{:<40} {:<22} schemas/{:<60} follows Kubernetes {} ({:?})",
                k.api_version(),
                k.kind,
                builtin::FILE,
                table.server,
                k.scope
            );
        }
        return Ok(exit::OK);
    }
    if let Some(kubeconfig) = &args.from_cluster {
        return from_cluster(kubeconfig, &args.out);
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
        let table = args.out.join(builtin::FILE);
        match mooring::file::read_to_string(&table) {
            Ok(text) => {
                if let Err(e) = builtin::parse(&text) {
                    stale.push(format!("{}: {e}", table.display()));
                }
            }
            Err(_) => stale.push(format!("{} is missing", table.display())),
        }
        let mut known: Vec<String> = rendered.iter().map(|(rel, _)| rel.clone()).collect();
        known.push(builtin::FILE.to_string());
        // `output/` holds the schemas of mooring's own JSON output
        // (written by hand, checked by the tests), not of kinds.
        for rel in files_under(&args.out) {
            if !known.contains(&rel) && !rel.starts_with(OUTPUT_SCHEMAS) {
                stale.push(format!(
                    "{} is not a schema mooring generates: remove it",
                    args.out.join(rel).display()
                ));
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
    // The built-in table is generated from a server (`--from-cluster`);
    // this writes the copy the binary embeds.
    let mut rendered = rendered;
    rendered.push((builtin::FILE.to_string(), builtin::EMBEDDED.to_string()));
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

/// Every file under `dir`, as paths relative to it with `/` separators.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(folder) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
    }
    out.sort();
    out
}

/// `--from-cluster`: fetches what the cluster serves and writes the
/// built-in table.
fn from_cluster(kubeconfig: &std::path::Path, out: &std::path::Path) -> anyhow::Result<i32> {
    use mooring::backend::kubernetes::{Kubernetes, KubernetesTarget};
    let target = KubernetesTarget {
        kubeconfig: Some(kubeconfig.to_path_buf()),
        ..KubernetesTarget::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let served = runtime.block_on(async {
        let backend =
            Kubernetes::connect(&target, "schemas", 4, std::time::Duration::from_secs(30)).await?;
        backend.served(false).await
    })?;
    let text = builtin::generate(&served)?;
    let path = out.join(builtin::FILE);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    let table = builtin::parse(&text)?;
    println!(
        "wrote {} built-in kinds of Kubernetes {} to {}",
        table.kinds.len(),
        table.server,
        path.display()
    );
    Ok(exit::OK)
}
