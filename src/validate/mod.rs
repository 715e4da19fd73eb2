//! Validation: schema, typed rules, then policies, for every manifest.
//!
//! A [`Validator`] compiles each schema once and is shared by the worker
//! threads; [`Validator::check`] checks a set of manifests in parallel and
//! returns, per manifest, its findings and the value to use from now on.
//! Validation never translates: [`crate::desired`] runs translation after
//! it, and both draw on the schema helpers in [`schema`].

pub mod policy;
pub mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jsonschema::Validator as Compiled;
use rayon::prelude::*;
use serde_json::Value;

use crate::finding::{Finding, Severity};
use crate::kinds::{self, KindInfo, Scope};
use crate::manifest::Manifest;
use schema::{compile, describe};

pub use policy::{PolicyError, PolicySet};

/// How strict validation is, and what it may draw on besides the built-in kinds.
#[derive(Debug, Clone)]
pub struct Options {
    /// Unknown fields are errors (kubectl's strict field validation); when
    /// false they are warnings.
    pub strict: bool,
    /// Kinds with no schema pass with a warning instead of an error.
    pub allow_unknown_kinds: bool,
    /// Extra schemas laid out as `<group>/<version>/<Kind>.json`.
    pub extra_schemas: Option<PathBuf>,
    /// Rego policy directory.
    pub policies: Option<PathBuf>,
    /// The manifests are meant for Flintlock (a Flintlock target is
    /// configured, or `validate --for flintlock`): an Ignite VM under
    /// Flintlock's 1024 MiB minimum is an error. When false it is a warning
    /// (Ignite itself runs such a VM). True by default: everything that
    /// applies or translates wants the error.
    pub for_flintlock: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            strict: true,
            allow_unknown_kinds: false,
            extra_schemas: None,
            policies: None,
            for_flintlock: true,
        }
    }
}

/// Problems that stop validation from starting at all.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("schema for {what} does not compile: {message}")]
    Schema { what: String, message: String },
    #[error("cannot read schema {path}: {message}")]
    ExtraSchema { path: PathBuf, message: String },
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

struct Entry {
    compiled: Compiled,
    info: Option<&'static KindInfo>,
}

/// Compiled schemas and policies, ready to check manifests.
pub struct Validator {
    schemas: HashMap<(String, String), Entry>,
    policies: Option<PolicySet>,
    options: Options,
}

impl Validator {
    pub fn new(options: Options) -> Result<Validator, ValidateError> {
        let mut schemas = HashMap::new();
        for info in kinds::all() {
            let compiled = compile(&(info.schema)()).map_err(|message| ValidateError::Schema {
                what: format!("{} {}", info.api_version(), info.kind),
                message,
            })?;
            schemas.insert(
                (info.api_version(), info.kind.to_string()),
                Entry {
                    compiled,
                    info: Some(info),
                },
            );
        }
        if let Some(dir) = &options.extra_schemas {
            load_extra_schemas(dir, &mut schemas)?;
        }
        let policies = match &options.policies {
            Some(dir) => Some(PolicySet::load(dir)?),
            None => None,
        };
        Ok(Validator {
            schemas,
            policies,
            options,
        })
    }

    /// The policy files in use.
    pub fn policy_files(&self) -> &[PathBuf] {
        self.policies.as_ref().map(|p| p.files()).unwrap_or(&[])
    }

    /// The options this validator was made with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Checks every manifest, in parallel: one [`Checked`] per manifest, in
    /// input order.
    pub fn check(&self, manifests: &[Manifest]) -> Vec<Checked> {
        manifests
            .par_iter()
            .map_init(
                || self.policies.clone(),
                |policies, m| self.validate_one(m, policies.as_mut()),
            )
            .collect()
    }

    fn validate_one(&self, m: &Manifest, policies: Option<&mut PolicySet>) -> Checked {
        let mut out = Vec::new();
        let mut pruned_value = None;
        let key = (m.api_version.clone(), m.id.kind.clone());
        match self.schemas.get(&key) {
            None => {
                let msg = format!(
                    "no schema for kind {} (apiVersion {}); known kinds are listed by \
                     `mooring schemas --list`. Pass --schemas DIR with a schema for it, \
                     or --allow-unknown-kinds to accept it unchecked",
                    m.id.kind, m.api_version
                );
                let f = if self.options.allow_unknown_kinds {
                    Finding::warning("schema", format!("{} is not validated", m.id.kind))
                } else {
                    Finding::error("schema", msg)
                };
                out.push(m.finding(f, "/kind"));
            }
            Some(entry) => {
                // `status` is never applied, so it is not validated either.
                // Nor is server-written metadata generators leave behind
                // (`creationTimestamp: null` from `kubectl create
                // --dry-run -o yaml`): accepted with a warning.
                let server_written: Vec<&str> = SERVER_WRITTEN_NULLS
                    .iter()
                    .copied()
                    .filter(|p| m.value.pointer(p).is_some_and(Value::is_null))
                    .collect();
                for p in &server_written {
                    out.push(m.finding(
                        Finding::warning(
                            "load",
                            "null is written by generators such as `kubectl create \
                             --dry-run=client -o yaml`; ignored (the server sets it), and it \
                             can be removed",
                        ),
                        p,
                    ));
                }
                let trimmed;
                let value = if m.value.get("status").is_some() || !server_written.is_empty() {
                    let mut v = m.value.clone();
                    if let Some(map) = v.as_object_mut() {
                        map.remove("status");
                    }
                    let owned: Vec<String> = server_written.iter().map(|p| p.to_string()).collect();
                    trimmed = prune(&v, &owned);
                    &trimmed
                } else {
                    &m.value
                };
                let applied_as_written = entry.info.is_none_or(|i| i.applied_as_written);
                let mut schema_errors = 0;
                let mut ignored = Vec::new();
                let secret = |p: &str| kinds::is_secret(&m.id.group, &m.id.kind, p);
                let mut schema_pointers = std::collections::BTreeSet::new();
                for e in entry.compiled.iter_errors(value) {
                    for (pointer, severity, mut message) in
                        describe(&e, self.options.strict, &secret)
                    {
                        if severity == Severity::Warning {
                            message = if applied_as_written {
                                "unknown field: passed to the API server unchanged, which keeps \
                                 or prunes it by its own schema (--strict refuses it)"
                                    .to_string()
                            } else if entry
                                .info
                                .is_some_and(|i| i.group == crate::kinds::ignite::GROUP)
                            {
                                "unknown field: dropped, Ignite objects are translated to \
                                 Flintlock field by field (--strict refuses it)"
                                    .to_string()
                            } else {
                                "unknown field: not sent, Flintlock's API has no such field \
                                 (--strict refuses it)"
                                    .to_string()
                            };
                        }
                        if pointer == "/metadata/namespace"
                            && let Some(info) = entry.info.filter(|i| i.scope == Scope::Cluster)
                        {
                            message = if info.group == crate::kinds::ignite::GROUP {
                                format!(
                                    "Ignite has no namespaces: remove metadata.namespace from \
                                     this {}",
                                    m.id.kind
                                )
                            } else {
                                format!(
                                    "{} is cluster-scoped: remove metadata.namespace",
                                    m.id.kind
                                )
                            };
                        }
                        match severity {
                            Severity::Error => {
                                schema_errors += 1;
                                schema_pointers.insert(pointer.clone());
                            }
                            Severity::Warning => ignored.push(pointer.clone()),
                        }
                        out.push(m.finding(finding_of(severity, "schema", message), &pointer));
                    }
                }
                // Unknown fields let through by --strict=false are pruned
                // before typed rules (which read the document as its type).
                // What is applied keeps them for a Kubernetes kind, where
                // the API server decides; a kind mooring converts loses them
                // (and `status` and server-written metadata) as it would
                // anyway.
                let pruned = (!ignored.is_empty()).then(|| prune(value, &ignored));
                if !applied_as_written && (pruned.is_some() || !server_written.is_empty()) {
                    pruned_value = Some(pruned.clone().unwrap_or_else(|| value.clone()));
                }
                if let Some(info) = entry.info {
                    let value = pruned.as_ref().unwrap_or(value);
                    for v in (info.check)(value) {
                        // A document the schema already rejected may not read
                        // as its type; the schema's findings say why. A rule
                        // about a field the schema already reported would say
                        // it twice.
                        if (v.shape && schema_errors > 0)
                            || (v.severity == Severity::Error
                                && schema_pointers.contains(&v.pointer))
                        {
                            continue;
                        }
                        out.push(m.finding(finding_of(v.severity, "rule", v.message), &v.pointer));
                    }
                }
            }
        }
        if m.value.get("status").is_some() {
            out.push(m.finding(
                Finding::warning("load", "status is ignored: mooring never applies it"),
                "/status",
            ));
        }
        if let Some(policies) = policies {
            match policies.evaluate(&m.value) {
                Ok(results) => {
                    for r in results {
                        let pointer = r.field.as_deref().map(pointer_of).unwrap_or_default();
                        let f = finding_of(r.severity, format!("policy:{}", r.policy), r.message);
                        out.push(m.finding(f, &pointer));
                    }
                }
                Err(e) => out.push(m.finding(Finding::error("policy", e.to_string()), "")),
            }
        }
        Checked {
            findings: out,
            pruned: pruned_value,
        }
    }
}

/// What validation found about one manifest.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// Its findings, in the order found.
    pub findings: Vec<Finding>,
    /// For a kind mooring converts before sending (Flintlock, Ignite): the
    /// value without the unknown fields `--strict=false` let through and
    /// without server-written metadata, when it had any. Kubernetes kinds
    /// are applied as written, so theirs is always `None`.
    pub pruned: Option<Value>,
}

impl Checked {
    /// Whether the manifest has errors of its own (not a policy's): it may
    /// not even read as its type.
    pub fn own_errors(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.is_error() && !f.source.starts_with("policy"))
    }
}

/// Server-written metadata that generated files carry as `null`.
const SERVER_WRITTEN_NULLS: [&str; 1] = ["/metadata/creationTimestamp"];

/// A copy of `value` without the fields at `pointers`.
fn prune(value: &Value, pointers: &[String]) -> Value {
    let mut out = value.clone();
    for p in pointers {
        if let Some((parent, key)) = p.rsplit_once('/') {
            let key = key.replace("~1", "/").replace("~0", "~");
            if let Some(Value::Object(map)) = out.pointer_mut(parent) {
                map.remove(&key);
            }
        }
    }
    out
}

fn finding_of(severity: Severity, source: impl Into<String>, message: String) -> Finding {
    match severity {
        Severity::Error => Finding::error(source, message),
        Severity::Warning => Finding::warning(source, message),
    }
}

/// `spec.interfaces[0].guestMac` → `/spec/interfaces/0/guestMac`.
fn pointer_of(field: &str) -> String {
    let mut out = String::new();
    let mut seg = String::new();
    let mut chars = field.chars().peekable();
    let flush = |seg: &mut String, out: &mut String| {
        if !seg.is_empty() {
            out.push('/');
            out.push_str(&seg.replace('~', "~0").replace('/', "~1"));
            seg.clear();
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '.' => flush(&mut seg, &mut out),
            '[' => {
                flush(&mut seg, &mut out);
                let quoted = chars.peek() == Some(&'"');
                if quoted {
                    chars.next();
                }
                for c in chars.by_ref() {
                    if (quoted && c == '"') || (!quoted && c == ']') {
                        break;
                    }
                    seg.push(c);
                }
                if quoted {
                    chars.next();
                }
                flush(&mut seg, &mut out);
            }
            c => seg.push(c),
        }
    }
    flush(&mut seg, &mut out);
    out
}

fn load_extra_schemas(
    dir: &Path,
    schemas: &mut HashMap<(String, String), Entry>,
) -> Result<(), ValidateError> {
    let read_dir = |p: &Path| {
        std::fs::read_dir(p).map_err(|e| ValidateError::ExtraSchema {
            path: p.to_path_buf(),
            message: e.to_string(),
        })
    };
    // <dir>/<group>/<version>/<Kind>.json
    for group in read_dir(dir)?.flatten() {
        if !group.path().is_dir() {
            continue;
        }
        for version in read_dir(&group.path())?.flatten() {
            if !version.path().is_dir() {
                continue;
            }
            for file in read_dir(&version.path())?.flatten() {
                let path = file.path();
                if path.extension().is_none_or(|x| x != "json") {
                    continue;
                }
                let kind = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_string();
                let g = group.file_name().to_string_lossy().to_string();
                let v = version.file_name().to_string_lossy().to_string();
                let api_version = if g == "core" { v } else { format!("{g}/{v}") };
                let text =
                    crate::file::read_to_string(&path).map_err(|e| ValidateError::ExtraSchema {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                let schema: Value =
                    serde_json::from_str(&text).map_err(|e| ValidateError::ExtraSchema {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                let compiled = compile(&schema).map_err(|message| ValidateError::Schema {
                    what: path.display().to_string(),
                    message,
                })?;
                schemas.insert(
                    (api_version, kind),
                    Entry {
                        compiled,
                        info: None,
                    },
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_become_pointers() {
        assert_eq!(pointer_of("spec.vcpu"), "/spec/vcpu");
        assert_eq!(
            pointer_of("spec.interfaces[0].guestMac"),
            "/spec/interfaces/0/guestMac"
        );
        assert_eq!(
            pointer_of("metadata.labels[\"app.kubernetes.io/name\"]"),
            "/metadata/labels/app.kubernetes.io~1name"
        );
    }
}
