//! `mooring translate`: the Flintlock `MicroVM` manifests that Ignite VMs
//! become, for people moving from Ignite to review and commit.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use mooring::backend::HOST_ANNOTATION;
use mooring::manifest::Manifest;
use mooring::plan::yaml::to_yaml;
use mooring::translate::is_ignite_vm;
use mooring::validate::Validator;
use mooring::{desired, source};
use serde_json::Value;

use super::{CheckArgs, exit};

/// Output format of `translate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TranslateFormat {
    /// A YAML stream, one MicroVM per document, ready to commit.
    Yaml,
    /// A JSON array of the MicroVMs.
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  mooring translate examples/manifests/ignite
  mooring translate vm.yaml --host edge-1 > microvms.yaml")]
pub struct TranslateArgs {
    /// Ignite manifest files or directories (every .yaml/.yml/.json file
    /// under them); `-` reads a stream from standard input.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = TranslateFormat::Yaml)]
    output: TranslateFormat,
    /// Flintlock host for every microVM: sets the `mooring.dev/host`
    /// annotation (a VM's own annotation is kept when this is not given).
    #[arg(long, value_name = "NAME", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    host: Option<String>,
    #[command(flatten)]
    check: CheckArgs,
}

/// Why a manifest that is not an Ignite VM yields nothing.
fn passed_over(m: &Manifest) -> &'static str {
    let ignite = m
        .kind
        .filter(|k| k.group == mooring::kinds::ignite::GROUP)
        .map(|k| k.kind);
    match ignite {
        Some("Kernel" | "Image") => "declared, nothing to translate",
        Some("Pool") => "host-local storage of an Ignite host, nothing to translate",
        _ => "not an Ignite VM, passed over",
    }
}

pub fn run(args: &TranslateArgs) -> anyhow::Result<i32> {
    let validator = Validator::new(args.check.options()).context("cannot start validation")?;
    let limits = args.check.limits();
    let exclude = args.check.exclude(&[])?;
    let read = source::read(
        &source::Revision::Paths(args.paths.clone()),
        &limits,
        &exclude,
    )?;
    let desired = desired::render(
        read,
        &validator,
        &limits,
        &args.check.renderer(&Default::default()),
    );
    for line in mooring::finding::text_lines(&desired.findings) {
        eprintln!("{line}");
    }
    let summary = desired.summary();
    if !desired.is_valid() {
        eprintln!("{summary}; nothing translated");
        return Ok(exit::FAILED);
    }
    for m in desired.manifests.iter().filter(|m| !is_ignite_vm(m)) {
        eprintln!("{}:{}: {}: {}", m.file, m.line, m.id, passed_over(m));
    }
    let mut microvms = desired.microvms;
    if let Some(host) = &args.host {
        for m in &mut microvms {
            set_annotation(&mut m.value, HOST_ANNOTATION, host);
        }
    }
    match args.output {
        TranslateFormat::Yaml => {
            let mut out = String::new();
            for (i, m) in microvms.iter().enumerate() {
                if i > 0 {
                    out.push_str("---\n");
                }
                out.push_str(&format!(
                    "# Translated by mooring from Ignite VM {} ({}:{})\n",
                    m.id.name, m.file, m.line
                ));
                out.push_str(&to_yaml(&m.value));
            }
            print!("{out}");
        }
        TranslateFormat::Json => {
            let values: Vec<&Value> = microvms.iter().map(|m| &m.value).collect();
            println!("{}", serde_json::to_string_pretty(&values)?);
        }
    }
    if microvms.is_empty() {
        eprintln!("no Ignite VM found in the given paths");
    }
    let n = microvms.len();
    eprintln!(
        "{summary}; {n} Ignite VM{} translated",
        if n == 1 { "" } else { "s" }
    );
    Ok(exit::OK)
}

fn set_annotation(value: &mut Value, key: &str, val: &str) {
    let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(map) = annotations.as_object_mut() {
        map.insert(key.to_string(), Value::String(val.to_string()));
    }
}
