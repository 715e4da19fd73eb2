//! `mooring crds`: print the CustomResourceDefinitions of the custom kinds
//! mooring applies to Kubernetes, generated from its own schemas.

use clap::Args;

use super::exit;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mooring crds > crds.yaml                      # every CRD, for a cluster without the operators
  mooring crds --kind LlamaStackDistribution    # one kind
  mooring crds --kind Host | kubectl apply --server-side -f -")]
pub struct CrdsArgs {
    /// Only this kind (e.g. LlamaStackDistribution, WorkloadDeployment).
    #[arg(long, value_name = "KIND")]
    kind: Option<String>,
}

pub fn run(args: &CrdsArgs) -> anyhow::Result<i32> {
    let kinds = mooring::kinds::crd::kinds();
    let chosen: Vec<_> = kinds
        .iter()
        .filter(|k| args.kind.as_deref().is_none_or(|want| want == k.kind))
        .collect();
    if chosen.is_empty() {
        let names: Vec<&str> = kinds.iter().map(|k| k.kind).collect();
        eprintln!(
            "error: --kind {}: no such custom kind; mooring generates CRDs for: {}",
            args.kind.as_deref().unwrap_or_default(),
            names.join(", ")
        );
        return Ok(exit::FAILED);
    }
    let mut out = String::new();
    for (i, k) in chosen.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&mooring::plan::yaml::to_yaml(&mooring::kinds::crd::crd(k)));
    }
    print!("{out}");
    Ok(exit::OK)
}
