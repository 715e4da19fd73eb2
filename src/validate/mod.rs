//! Validation: schema, typed rules, then policies, for every manifest.
//!
//! A [`Validator`] compiles each schema once and is shared by the worker
//! threads; [`Validator::validate`] checks a set of manifests in parallel and
//! returns findings in a deterministic order.

pub mod policy;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator as Compiled};
use rayon::prelude::*;
use serde_json::Value;

use crate::finding::{self, Finding, Severity};
use crate::kinds::{self, KindInfo, Scope, formats};
use crate::manifest::{Manifest, type_name};

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

/// Compiles a kind schema with mooring's formats (draft 2020-12).
pub(crate) fn compile(schema: &Value) -> Result<Compiled, String> {
    let mut opts = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true);
    for f in formats::formats() {
        opts = opts.with_format(f.name, f.check);
    }
    opts.build(schema).map_err(|e| e.to_string())
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

    /// Checks every manifest; findings come back sorted by file and line.
    pub fn validate(&self, manifests: &[Manifest]) -> Vec<Finding> {
        let each = self.validate_each(manifests);
        let translated = translation_findings(manifests, &each, self.memory_floor());
        let mut findings: Vec<Finding> = each.into_iter().flat_map(|(f, _)| f).collect();
        findings.extend(translated);
        finding::sort(&mut findings);
        findings
    }

    fn memory_floor(&self) -> crate::translate::MemoryFloor {
        if self.options.for_flintlock {
            crate::translate::MemoryFloor::Error
        } else {
            crate::translate::MemoryFloor::Warning
        }
    }

    /// Per manifest: its findings, and, for a kind mooring converts before
    /// sending (Flintlock, Ignite), the value without the unknown fields
    /// `--strict=false` let through and without server-written metadata.
    /// Kubernetes kinds are applied as written.
    fn validate_each(&self, manifests: &[Manifest]) -> Vec<(Vec<Finding>, Option<Value>)> {
        manifests
            .par_iter()
            .map_init(
                || self.policies.clone(),
                |policies, m| self.validate_one(m, policies.as_mut()),
            )
            .collect()
    }

    fn validate_one(
        &self,
        m: &Manifest,
        policies: Option<&mut PolicySet>,
    ) -> (Vec<Finding>, Option<Value>) {
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
                let secret = |p: &str| crate::plan::mask::is_secret(&m.id.group, &m.id.kind, p);
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
        (out, pruned_value)
    }
}

/// Whether a document has errors of its own (not a policy's): it may not
/// even read as its type.
fn own_errors(findings: &[Finding]) -> bool {
    findings
        .iter()
        .any(|f| f.is_error() && !f.source.starts_with("policy"))
}

/// Ignite VMs run as Flintlock microVMs, so what their translation finds
/// (Flintlock's limits, fields it drops, undeclared kernels and images) is
/// part of validating them. VMs with errors of their own are left out
/// (their findings already say what to fix), and a VM is translated as the
/// API server would keep it: without the unknown fields `--strict=false`
/// let through.
fn translation_findings(
    manifests: &[Manifest],
    each: &[(Vec<Finding>, Option<Value>)],
    floor: crate::translate::MemoryFloor,
) -> Vec<Finding> {
    use crate::translate::{is_ignite_vm, translate_refs};
    let pruned: Vec<Option<Manifest>> = manifests
        .iter()
        .zip(each)
        .map(|(m, (_, pruned))| {
            let value = pruned.as_ref().filter(|_| is_ignite_vm(m))?;
            Some(Manifest {
                value: value.clone(),
                ..m.clone()
            })
        })
        .collect();
    let usable: Vec<&Manifest> = manifests
        .iter()
        .zip(each)
        .zip(&pruned)
        .filter(|((m, (f, _)), _)| !(is_ignite_vm(m) && own_errors(f)))
        .map(|((m, _), p)| p.as_ref().unwrap_or(m))
        .collect();
    translate_refs(&usable, floor).1
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

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// Turns one schema error into (pointer, severity, message) items a person
/// can act on: one per unknown field, the missing field's own path for
/// `required`, the format's explanation instead of its name, and the one
/// meaningful branch of an `anyOf` that only adds `null`.
pub(crate) fn describe(
    e: &ValidationError<'_>,
    strict: bool,
    secret: &dyn Fn(&str) -> bool,
) -> Vec<(String, Severity, String)> {
    let pointer = e.instance_path().as_str().to_string();
    let instance = e.instance();
    // A secret's value never appears in a message.
    let hidden = secret(&pointer);
    let shown = |v: &Value| {
        if hidden {
            "the value".to_string()
        } else {
            short(v)
        }
    };
    let error = |message: String| vec![(pointer.clone(), Severity::Error, message)];
    match e.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => unexpected
            .iter()
            .map(|key| {
                let severity = if strict {
                    Severity::Error
                } else {
                    Severity::Warning
                };
                (
                    format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1")),
                    severity,
                    if strict {
                        "unknown field (use --strict=false to only warn)".to_string()
                    } else {
                        "unknown field".to_string()
                    },
                )
            })
            .collect(),
        ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| property.to_string());
            vec![(
                format!("{pointer}/{}", name.replace('~', "~0").replace('/', "~1")),
                Severity::Error,
                "required field is missing".to_string(),
            )]
        }
        ValidationErrorKind::Type { kind } => {
            let types: Vec<String> = match kind {
                TypeKind::Single(t) => vec![t.to_string()],
                TypeKind::Multiple(set) => set.into_iter().map(|t| t.to_string()).collect(),
            };
            // `null` is "absent" for optional fields: not worth suggesting.
            let expected: Vec<&str> = types
                .iter()
                .filter(|t| t.as_str() != "null")
                .map(|t| match t.as_str() {
                    "object" => "a mapping",
                    "array" => "a list",
                    "string" => "a string",
                    "integer" => "an integer",
                    "number" => "a number",
                    "boolean" => "a boolean",
                    other => other,
                })
                .collect();
            let found = if hidden {
                type_name(instance).to_string()
            } else {
                format!("{} {}", type_name(instance), shown(instance))
            };
            error(format!("expected {}, found {found}", expected.join(" or ")))
        }
        ValidationErrorKind::Format { format } => {
            let expected = formats::format_expected(format)
                .map(str::to_string)
                .unwrap_or_else(|| format!("a valid {format}"));
            error(format!("{} is not {expected}", shown(instance)))
        }
        ValidationErrorKind::Pattern { pattern } => match formats::pattern_expected(pattern) {
            Some(expected) => error(format!("{} is not {expected}", shown(instance))),
            None => error(format!("{} does not match {pattern}", shown(instance))),
        },
        ValidationErrorKind::Enum { options } => {
            let list = match options.as_ref() {
                Value::Array(items) => items.iter().map(short).collect::<Vec<_>>().join(", "),
                other => shown(other),
            };
            error(format!("{} is not one of {list}", shown(instance)))
        }
        ValidationErrorKind::Constant { expected_value } => error(format!(
            "must be {}, found {}",
            shown(expected_value),
            shown(instance)
        )),
        ValidationErrorKind::Minimum { limit } => error(format!(
            "{} is below the minimum of {limit}",
            shown(instance)
        )),
        ValidationErrorKind::Maximum { limit } => error(format!(
            "{} is above the maximum of {limit}",
            shown(instance)
        )),
        ValidationErrorKind::MinItems { limit } => {
            error(format!("must have at least {limit} item(s)"))
        }
        ValidationErrorKind::MaxItems { limit } => {
            error(format!("must have at most {limit} item(s)"))
        }
        ValidationErrorKind::MinLength { limit } => {
            error(format!("must be at least {limit} character(s) long"))
        }
        ValidationErrorKind::MaxLength { limit } => {
            error(format!("must be at most {limit} character(s) long"))
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // Drop branches that failed only on the value's type (the `null`
            // of an Option, the integer side of int-or-string): what is left
            // is the branch the author meant.
            let meant: Vec<&Vec<ValidationError<'static>>> = context
                .iter()
                .filter(|branch| {
                    !branch.iter().all(|b| {
                        matches!(b.kind(), ValidationErrorKind::Type { .. })
                            && b.instance_path().as_str() == pointer
                    })
                })
                .collect();
            if meant.len() == 1 {
                meant[0]
                    .iter()
                    .flat_map(|b| describe(b, strict, secret))
                    .collect()
            } else {
                error(format!(
                    "{} does not match any allowed form",
                    shown(instance)
                ))
            }
        }
        _ if hidden => error("the value is not valid here".to_string()),
        _ => error(e.to_string()),
    }
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

/// The outcome of loading and validating a set of files.
#[derive(Debug, Default)]
pub struct Report {
    pub manifests: Vec<crate::manifest::Manifest>,
    /// Load and validation findings, sorted by file and line.
    pub findings: Vec<Finding>,
    pub files: usize,
    pub documents: usize,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.findings.len() - self.errors()
    }

    /// `12 documents in 5 files: 0 errors, 1 warning`.
    pub fn summary(&self) -> String {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        format!(
            "{} in {}: {}, {}",
            plural(self.documents, "document"),
            plural(self.files, "file"),
            plural(self.errors(), "error"),
            plural(self.warnings(), "warning")
        )
    }
}

impl Validator {
    /// Loads `files` and validates every object in them: the whole offline
    /// pipeline after the source.
    pub fn check(
        &self,
        files: &[crate::manifest::SourceFile],
        limits: &crate::manifest::Limits,
    ) -> Report {
        let mut loaded = crate::manifest::load(files, limits);
        let mut findings = loaded.findings;
        let results = self.validate_each(&loaded.manifests);
        findings.extend(translation_findings(
            &loaded.manifests,
            &results,
            self.memory_floor(),
        ));
        for (m, (f, pruned)) in loaded.manifests.iter_mut().zip(results) {
            findings.extend(f);
            if let Some(v) = pruned {
                m.value = v;
            }
        }
        finding::sort(&mut findings);
        Report {
            manifests: loaded.manifests,
            findings,
            files: loaded.files,
            documents: loaded.documents,
        }
    }
}
