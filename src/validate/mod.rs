//! Validation: schema, typed rules, then policies, for every manifest.
//!
//! A [`Validator`] compiles each schema once and is shared by the worker
//! threads; [`Validator::check`] checks a set of manifests in parallel and
//! returns, per manifest, its findings and the value to use from now on.
//! Validation never translates: [`crate::desired`] runs translation after
//! it, and both draw on the schema helpers in [`schema`].

mod cluster;
mod crds;
pub mod locations;
pub mod meta;
pub mod policy;
pub mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jsonschema::Validator as Compiled;
use rayon::prelude::*;
use serde_json::Value;

use crate::finding::{Finding, Severity};
use crate::kinds::{self, KindInfo, Scope};
use crate::manifest::{self, Manifest};
use schema::{compile, describe, suggest};

pub use cluster::Cluster;
pub use policy::{PolicyError, PolicySet};

/// How strict validation is, and what it may draw on besides the built-in kinds.
#[derive(Debug, Clone)]
pub struct Options {
    /// Unknown fields are errors (kubectl's strict field validation); when
    /// false they are warnings.
    pub strict: bool,
    /// Kinds with no schema pass with a warning instead of an error.
    pub allow_unknown_kinds: bool,
    /// `--schemas`: folders (mooring's, kubeconform's or the CRDs-catalog
    /// layout) and kubeconform templates, searched in order
    /// ([`locations`]).
    pub extra_schemas: Vec<String>,
    /// Rego policy directory.
    pub policies: Option<PathBuf>,
    /// The manifests are meant for Flintlock (a Flintlock target is
    /// configured, or `validate --for flintlock`): an Ignite VM under
    /// Flintlock's 1024 MiB minimum is an error. When false it is a warning
    /// (Ignite itself runs such a VM). True by default: everything that
    /// applies or translates wants the error.
    pub for_flintlock: bool,
    /// Each Kustomize or Helm render is a set of its own, as `kustomize
    /// build DIR` of each overlay is checked: a staging and a production
    /// overlay may both hold their base's objects (`validate`). False for
    /// what is planned and applied, where that is an object declared
    /// twice.
    pub renders_apart: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            strict: true,
            allow_unknown_kinds: false,
            extra_schemas: Vec::new(),
            policies: None,
            renders_apart: false,
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

/// Where a kind's schema came from, highest precedence first: the first
/// that has the kind is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// A CustomResourceDefinition in the same input.
    Input,
    /// What the target cluster serves (`/openapi/v3`).
    Cluster,
    /// A file under `--schemas DIR`.
    Schemas,
    /// One of mooring's own kinds (`mooring schemas --list`).
    Mooring,
    /// A built-in kind of the pinned Kubernetes release.
    Kubernetes,
}

impl Origin {
    pub fn describe(self) -> &'static str {
        match self {
            Origin::Input => "a CustomResourceDefinition in the input",
            Origin::Cluster => "the cluster",
            Origin::Schemas => "--schemas",
            Origin::Mooring => "mooring's own kinds",
            Origin::Kubernetes => "the built-in Kubernetes kinds",
        }
    }
}

enum Source {
    Value(Value),
    /// A schema file that could not be read: why.
    Broken(String),
    Builtin(&'static kinds::builtin::Builtin),
    Kind(&'static KindInfo),
}

/// One kind's schema, compiled on first use.
struct Slot {
    origin: Origin,
    /// What the schema is, for messages: a file, a CRD and its line.
    what: String,
    source: Source,
    scope: Option<Scope>,
    /// The schema and its compiled form.
    compiled: OnceLock<Result<(Value, Compiled), String>>,
}

impl Slot {
    fn new(origin: Origin, what: String, source: Source, scope: Option<Scope>) -> Slot {
        Slot {
            origin,
            what,
            source,
            scope,
            compiled: OnceLock::new(),
        }
    }

    fn compiled(&self) -> Result<&(Value, Compiled), &str> {
        self.compiled
            .get_or_init(|| {
                let schema = match &self.source {
                    Source::Value(v) => v.clone(),
                    Source::Broken(why) => return Err(why.clone()),
                    Source::Builtin(b) => match kinds::builtin::table() {
                        Ok(t) => t.schema(b),
                        Err(e) => return Err(e.to_string()),
                    },
                    Source::Kind(info) => (info.schema)(),
                };
                compile(&schema)
                    .map(|c| (schema, c))
                    .map_err(|e| format!("it does not compile: {e}"))
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

type Key = (String, String);

/// Schemas by `apiVersion`, then kind: looked up with the manifest's own
/// strings, with no allocation per object.
#[derive(Default)]
pub(crate) struct Slots(HashMap<String, HashMap<String, Slot>>);

impl Slots {
    fn get(&self, api_version: &str, kind: &str) -> Option<&Slot> {
        self.0.get(api_version)?.get(kind)
    }

    fn insert(&mut self, api_version: String, kind: String, slot: Slot) {
        self.0.entry(api_version).or_default().insert(kind, slot);
    }

    fn contains(&self, api_version: &str, kind: &str) -> bool {
        self.get(api_version, kind).is_some()
    }

    fn len(&self) -> usize {
        self.0.values().map(HashMap::len).sum()
    }

    /// The apiVersions that have a kind of this name.
    fn api_versions_of(&self, kind: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(_, kinds)| kinds.contains_key(kind))
            .map(|(v, _)| v.as_str())
            .collect()
    }
}

/// Compiled schemas and policies, ready to check manifests.
pub struct Validator {
    /// The schemas that do not depend on the input: built-in Kubernetes
    /// kinds and mooring's kinds, each key holding the one of highest
    /// precedence.
    schemas: Slots,
    /// `--schemas`, searched for each kind an input holds.
    locations: Vec<locations::Location>,
    policies: Option<PolicySet>,
    /// Engines lent to the checking threads and given back, so that each
    /// thread clones the policies once per run, not once per piece of
    /// work.
    engines: std::sync::Mutex<Vec<PolicySet>>,
    options: Options,
}

/// A policy engine lent to one piece of a check, returned when it ends.
struct Lent<'v> {
    pool: &'v std::sync::Mutex<Vec<PolicySet>>,
    set: Option<PolicySet>,
}

impl<'v> Lent<'v> {
    fn from(validator: &'v Validator) -> Lent<'v> {
        let pool = &validator.engines;
        let set = validator.policies.as_ref().map(|p| {
            pool.lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop()
                .unwrap_or_else(|| p.clone())
        });
        Lent { pool, set }
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(set) = self.set.take() {
            self.pool
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(set);
        }
    }
}

/// What one input adds to the validator: the kinds its
/// CustomResourceDefinitions define, and what is to be said about them;
/// and the schemas of the cluster it is planned against, if any.
#[derive(Default)]
pub struct Input<'c> {
    crds: Slots,
    cluster: Option<&'c Cluster>,
    /// Schemas found under `--schemas` for the input's kinds.
    located: Slots,
    /// Per CRD manifest (index into the input), findings about its schema:
    /// the CEL rules mooring does not evaluate.
    notes: Vec<(usize, Finding)>,
}

/// What [`Validator::check_part`] says once for a whole input.
#[derive(Debug, Default)]
pub struct Said {
    /// The built-in kinds a cluster serves differently, already said.
    differs: std::collections::BTreeSet<(String, String)>,
}

/// Whether `m` is a CustomResourceDefinition, which defines kinds for the
/// rest of its input.
pub fn is_crd(m: &Manifest) -> bool {
    m.api_version == CRD_API_VERSION && m.id.kind == CRD_KIND
}

/// [`is_crd`] of a document not yet identified, for reading the input's
/// CRDs ahead of the rest.
pub fn declares_crd(value: &Value) -> bool {
    value.get("apiVersion").and_then(Value::as_str) == Some(CRD_API_VERSION)
        && value.get("kind").and_then(Value::as_str) == Some(CRD_KIND)
}

/// Whether a file may hold a CustomResourceDefinition: its kind is
/// written out in it (a YAML or JSON escape inside the word would hide
/// one; Kubernetes' own tools never write one so).
pub fn may_hold_crd(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, CRD_KIND.as_bytes()).is_some()
}

impl<'c> Input<'c> {
    /// The findings about the input's CRDs themselves (the CEL rules
    /// mooring does not evaluate), taken out of the input, for a caller
    /// that checks the CRDs apart from the manifests they were read from.
    pub fn take_notes(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.notes)
            .into_iter()
            .map(|(_, f)| f)
            .collect()
    }
}

impl Validator {
    pub fn new(options: Options) -> Result<Validator, ValidateError> {
        let mut schemas = Slots::default();
        let table = kinds::builtin::table().map_err(|message| ValidateError::Schema {
            what: "the built-in Kubernetes kinds".into(),
            message: message.to_string(),
        })?;
        for b in &table.kinds {
            schemas.insert(
                b.api_version(),
                b.kind.clone(),
                Slot::new(
                    Origin::Kubernetes,
                    format!("Kubernetes {} {}", table.server, b.kind),
                    Source::Builtin(b),
                    Some(b.scope),
                ),
            );
        }
        for info in kinds::all() {
            schemas.insert(
                info.api_version(),
                info.kind.to_string(),
                Slot::new(
                    Origin::Mooring,
                    format!("{} {}", info.api_version(), info.kind),
                    Source::Kind(info),
                    Some(info.scope),
                ),
            );
        }
        let locations = options
            .extra_schemas
            .iter()
            .map(|l| locations::Location::parse(l))
            .collect::<Result<Vec<_>, _>>()?;
        let policies = match &options.policies {
            Some(dir) => Some(PolicySet::load(dir)?),
            None => None,
        };
        Ok(Validator {
            schemas,
            locations,
            policies,
            engines: Default::default(),
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

    /// The error for a kind no origin has a schema for, naming the ways out.
    fn no_schema(&self, input: &Input, api_version: &str, kind: &str) -> String {
        let mut elsewhere: Vec<&str> = self.schemas.api_versions_of(kind);
        elsewhere.sort();
        if !elsewhere.is_empty() {
            return format!(
                "no schema for kind {kind} in apiVersion {api_version}: it is known as \
                 apiVersion {} (an old or misspelt apiVersion? `mooring schemas --list` lists \
                 every known kind)",
                elsewhere.join(", ")
            );
        }
        let cluster = match input.cluster {
            Some(c) => format!(", nor served by {}", c.label),
            None => String::new(),
        };
        format!(
            "no schema for kind {kind} (apiVersion {api_version}): it is not a built-in \
             Kubernetes kind nor one of mooring's (`mooring schemas --list`){cluster}. Give it one: put \
             its CustomResourceDefinition in the input; pass --schemas DIR (mooring's, \
             kubeconform's or the CRDs-catalog layout); or validate against a cluster that \
             serves it (a Kubernetes target, or `validate --kubeconfig`). \
             --allow-unknown-kinds accepts it unchecked"
        )
    }

    /// Reads the CustomResourceDefinitions among `manifests`: each served
    /// version's `openAPIV3Schema` becomes the schema of its kind for this
    /// input, ahead of every other origin.
    pub fn input<'c>(&self, manifests: &[Manifest], cluster: Option<&'c Cluster>) -> Input<'c> {
        let mut input = self.crds_input(manifests, cluster);
        self.locate(&mut input, manifests);
        input
    }

    /// The CustomResourceDefinitions among `manifests` read as
    /// [`Validator::input`] does, without looking for other schemas yet.
    pub fn crds_input<'c>(
        &self,
        manifests: &[Manifest],
        cluster: Option<&'c Cluster>,
    ) -> Input<'c> {
        let mut input = Input {
            cluster,
            ..Input::default()
        };
        for (index, m) in manifests.iter().enumerate() {
            if is_crd(m) {
                crds::read(m, index, &mut input);
            }
        }
        input
    }

    /// Finds the schemas `--schemas` holds for the kinds of `manifests`
    /// that the input's CRDs do not define, once per kind.
    pub fn locate(&self, input: &mut Input<'_>, manifests: &[Manifest]) {
        if !self.locations.is_empty() {
            let vars = locations::Vars {
                kubernetes_version: kinds::builtin::table()
                    .map(|t| t.server.clone())
                    .unwrap_or_default(),
                strict: self.options.strict,
            };
            for m in manifests {
                let (api_version, kind) = (m.api_version.as_str(), m.id.kind.as_str());
                if input.crds.contains(api_version, kind)
                    || input.located.contains(api_version, kind)
                {
                    continue;
                }
                let found = self
                    .locations
                    .iter()
                    .find_map(|l| l.find(api_version, kind, &vars));
                if let Some(path) = found {
                    let scope = self.schemas.get(api_version, kind).and_then(|s| s.scope);
                    let source = match read_schema(&path) {
                        Ok(schema) => Source::Value(schema),
                        Err(message) => Source::Broken(message),
                    };
                    input.located.insert(
                        api_version.to_string(),
                        kind.to_string(),
                        Slot::new(Origin::Schemas, path.display().to_string(), source, scope),
                    );
                }
            }
        }
    }

    /// The scope of a kind: from the input's CRDs, then the other origins.
    /// `None` for a kind nothing describes.
    pub fn scope(&self, input: &Input, api_version: &str, kind: &str) -> Option<Scope> {
        self.slot(input, api_version, kind).and_then(|s| s.scope)
    }

    /// The schema of highest precedence for a kind: the input's CRDs, the
    /// cluster's, then the others ([`Origin`]).
    fn slot<'s>(&'s self, input: &'s Input, api_version: &str, kind: &str) -> Option<&'s Slot> {
        input
            .crds
            .get(api_version, kind)
            .or_else(|| input.cluster.and_then(|c| c.slots.get(api_version, kind)))
            .or_else(|| input.located.get(api_version, kind))
            .or_else(|| self.schemas.get(api_version, kind))
    }

    /// Checks every manifest, in parallel: one [`Checked`] per manifest, in
    /// input order. `input` is what [`Validator::input`] read from the same
    /// manifests.
    pub fn check(&self, manifests: &[Manifest], input: &Input) -> Vec<Checked> {
        self.check_part(manifests, input, &mut Said::default())
    }

    /// [`Validator::check`] of one part of the input after another, in
    /// order: `said` holds what is said once for the whole input, on its
    /// first object concerned.
    pub fn check_part(
        &self,
        manifests: &[Manifest],
        input: &Input,
        said: &mut Said,
    ) -> Vec<Checked> {
        let mut checked: Vec<Checked> = manifests
            .par_iter()
            .map_init(
                || Lent::from(self),
                |lent, m| self.validate_one(m, input, lent.set.as_mut()),
            )
            .collect();
        for (index, f) in &input.notes {
            if let Some(c) = checked.get_mut(*index) {
                c.findings.push(f.clone());
            }
        }
        // Once per kind: a built-in kind the cluster serves differently.
        if let Some(cluster) = input.cluster {
            for key in &cluster.differs {
                if input.crds.contains(&key.0, &key.1) || said.differs.contains(key) {
                    continue;
                }
                let first = manifests
                    .iter()
                    .position(|m| m.api_version == key.0 && m.id.kind == key.1);
                if let Some(i) = first {
                    said.differs.insert(key.clone());
                    let server = kinds::builtin::table().map_or("", |t| t.server.as_str());
                    checked[i].findings.push(manifests[i].finding(
                        Finding::warning(
                            "schema",
                            format!(
                                "{} serves a schema for {} ({}) that differs from Kubernetes \
                                 {server}'s built-in one: its objects are validated against \
                                 the cluster's",
                                cluster.label, key.1, key.0
                            ),
                        ),
                        "/kind",
                    ));
                }
            }
        }
        checked
    }

    fn validate_one(
        &self,
        m: &Manifest,
        input: &Input,
        policies: Option<&mut PolicySet>,
    ) -> Checked {
        let mut out = Vec::new();
        let mut pruned_value = None;
        let slot = self.slot(input, &m.api_version, &m.id.kind);
        let info = kinds::find(&m.api_version, &m.id.kind);
        let compiled = slot.map(|s| (s, s.compiled()));
        let mut schema_pointers = std::collections::BTreeSet::new();
        match compiled {
            None => {
                let f = if self.options.allow_unknown_kinds {
                    Finding::warning("schema", format!("{} is not validated", m.id.kind))
                } else {
                    Finding::error("schema", self.no_schema(input, &m.api_version, &m.id.kind))
                };
                out.push(m.finding(f, "/kind"));
            }
            Some((slot, Err(message))) => {
                out.push(m.finding(
                    Finding::error(
                        "schema",
                        format!(
                            "cannot use the schema of {}: {message}; fix or remove it",
                            slot.what
                        ),
                    ),
                    "/kind",
                ));
            }
            Some((slot, Ok((schema, compiled)))) => {
                let entry = Entry {
                    compiled,
                    info,
                    scope: slot.scope,
                };
                // `status` is never applied, so it is not validated either.
                // Nor is server-written metadata generators leave behind
                // (`creationTimestamp: null` from `kubectl create
                // --dry-run -o yaml`): accepted with a warning.
                let server_written: Vec<&str> = SERVER_WRITTEN_NULLS
                    .iter()
                    .copied()
                    .filter(|p| manifest::get_pointer(&m.value, p).is_some_and(Value::is_null))
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
                            && entry.scope == Some(Scope::Cluster)
                            && let Some(info) = entry.info
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
                        if message.starts_with("unknown field")
                            && let Some(meant) = suggest(schema, &pointer)
                        {
                            message = format!("{message}; did you mean `{meant}`?");
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
                        // Under another origin's schema (a CRD, the
                        // cluster's), the type may lag behind what that
                        // schema allows: its shape is not mooring's to judge.
                        if (v.shape && (schema_errors > 0 || slot.origin != Origin::Mooring))
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
        if kinds::facts(&m.id.group, &m.id.kind).target == kinds::Target::Kubernetes {
            for (pointer, message) in meta::check(&m.id.group, &m.id.kind, &m.value) {
                if !schema_pointers.contains(&pointer) {
                    out.push(m.finding(Finding::error("metadata", message), &pointer));
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

/// A schema ready for one manifest.
struct Entry<'a> {
    compiled: &'a Compiled,
    /// mooring's own kind, for its typed rules and messages.
    info: Option<&'static KindInfo>,
    scope: Option<Scope>,
}

/// The `apiVersion` of CustomResourceDefinitions.
pub const CRD_API_VERSION: &str = "apiextensions.k8s.io/v1";
/// Their kind.
pub const CRD_KIND: &str = "CustomResourceDefinition";

/// Server-written metadata that generated files carry as `null`.
const SERVER_WRITTEN_NULLS: [&str; 1] = ["/metadata/creationTimestamp"];

/// A copy of `value` without the fields at `pointers`.
fn prune(value: &Value, pointers: &[String]) -> Value {
    let mut out = value.clone();
    for p in pointers {
        if let Some((parent, key)) = p.rsplit_once('/') {
            let key = kinds::token_text(key);
            if let Some(Value::Object(map)) = out.pointer_mut(parent) {
                map.remove(key.as_ref());
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

/// A `--schemas` file, as JSON.
fn read_schema(path: &Path) -> Result<Value, String> {
    let text = crate::file::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))
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
