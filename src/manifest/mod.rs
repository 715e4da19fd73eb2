//! Manifests: YAML documents turned into identified objects that remember
//! where they came from.
//!
//! [`load`] takes files (from a directory or a Git tree, it does not care)
//! and returns every object it could read plus a finding for every problem,
//! so one run reports everything wrong with a repository.

pub mod depends;
mod scalar;
mod text;
pub mod yaml;

use rayon::prelude::*;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::finding::Finding;
use crate::kinds::{self, KindInfo, Scope};

pub use crate::source::{Budget, Limits, SourceFile};
pub use yaml::LineIndex;

/// What makes two manifests the same object: group, kind, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
pub struct ObjectId {
    pub group: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

/// `Kind/namespace/name`, or `Kind/name` for cluster-scoped objects.
impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// One object read from Git.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub id: ObjectId,
    pub api_version: String,
    /// The registered kind, when mooring has a schema for it.
    pub kind: Option<&'static KindInfo>,
    pub file: String,
    /// Line where the document starts.
    pub line: usize,
    pub value: Value,
    pub lines: LineIndex,
    /// The render (Kustomize, Helm) that produced it; `None` for an object
    /// read as written.
    pub unit: Option<Arc<Unit>>,
    /// Fields Git sets at creation only (`mooring.dev/ignore`, and the
    /// source's ignore rules).
    pub ignore: Ignore,
}

/// Fields of an object that are someone else's once it exists
/// (`crate::plan::ignore`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    /// JSON pointers.
    pub pointers: Vec<String>,
    /// Managers whose fields in `managedFields` are ignored.
    pub managers: Vec<String>,
}

impl Ignore {
    pub fn is_empty(&self) -> bool {
        self.pointers.is_empty() && self.managers.is_empty()
    }
}

/// The annotation listing an object's ignored fields, as JSON pointers
/// separated by commas or new lines.
pub const IGNORE_ANNOTATION: &str = "mooring.dev/ignore";

/// One render of a folder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Unit {
    /// The folder rendered: the kustomization's or the chart's.
    pub dir: String,
    /// Where its namespaced objects without a namespace go (a Helm
    /// release's namespace), ahead of the source's.
    pub namespace: Option<String>,
}

/// One object a renderer produced, placed where it came from: the file and
/// line of the template or resource that made it (the line index is that
/// file's, for the fields it has), and the folder rendered.
#[derive(Debug, Clone)]
pub struct RenderedDoc {
    /// The render that produced it.
    pub unit: Arc<Unit>,
    /// The file it came from, as findings show it.
    pub file: String,
    pub line: usize,
    pub lines: LineIndex,
    pub value: Value,
}

impl Manifest {
    /// The line of the field at `pointer`, or the document's line.
    pub fn line_of(&self, pointer: &str) -> usize {
        self.lines.line_of(pointer).unwrap_or(self.line)
    }

    /// A finding located at `pointer` in this manifest.
    pub fn finding(&self, mut finding: Finding, pointer: &str) -> Finding {
        finding = finding
            .at(self.file.clone(), self.line_of(pointer))
            .object(self.id.to_string());
        if finding.field.is_none() {
            finding = finding.field(field_path(pointer));
        }
        finding
    }
}

/// The value at the JSON pointer `pointer`, as [`Value::pointer`] finds
/// it, but without a new string for each segment: read for every object,
/// and most segments have no `~` escape to undo.
pub fn get_pointer<'v>(value: &'v Value, pointer: &str) -> Option<&'v Value> {
    if pointer.is_empty() {
        return Some(value);
    }
    pointer
        .strip_prefix('/')?
        .split('/')
        .try_fold(value, |v, segment| {
            let segment = kinds::token_text(segment);
            match v {
                Value::Object(map) => map.get(segment.as_ref()),
                // As RFC 6901 reads an index: no sign, no leading zero.
                Value::Array(items) if !is_signed_or_padded(&segment) => {
                    segment.parse::<usize>().ok().and_then(|i| items.get(i))
                }
                _ => None,
            }
        })
}

fn is_signed_or_padded(index: &str) -> bool {
    index.starts_with('+') || (index.len() > 1 && index.starts_with('0'))
}

/// `/spec/interfaces/0/guestMac` → `spec.interfaces[0].guestMac`.
pub fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for raw in pointer.split('/').skip(1) {
        let seg = kinds::token_text(raw);
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&seg);
            out.push(']');
        } else if seg.contains(['.', '/', '[']) || seg.is_empty() {
            out.push_str(&format!("[\"{seg}\"]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

/// Everything [`load`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub manifests: Vec<Manifest>,
    pub findings: Vec<Finding>,
    /// How many documents were read, valid or not.
    pub documents: usize,
    pub files: usize,
}

/// Reads every document of every file, checks what each object needs to be
/// identified (a mapping with `apiVersion`, `kind` and `metadata.name`), and
/// reports objects declared twice with both places.
pub fn load(files: &[SourceFile], limits: &Limits) -> Loaded {
    load_all(files, Vec::new(), limits, Apart::No)
}

/// Whether objects of different renders may share an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apart {
    /// One set: an object declared twice is an error wherever it came
    /// from (what is planned and applied).
    No,
    /// Each render is a set of its own, as `kustomize build DIR` of each
    /// overlay would be checked: a staging and a production overlay may
    /// both hold the base's objects (what `validate` checks).
    Renders,
}

/// [`load`], with the objects renderers produced after those of `files`.
pub fn load_all(
    files: &[SourceFile],
    rendered: Vec<RenderedDoc>,
    limits: &Limits,
    apart: Apart,
) -> Loaded {
    let mut loader = Loader::new(files, limits, apart);
    // Over the document budget, nothing is parsed.
    let mut manifests = if loader.stopped() {
        Vec::new()
    } else {
        loader.files(Loader::parse(files, limits))
    };
    manifests.extend(loader.rendered(rendered));
    Loaded {
        manifests,
        findings: loader.findings,
        documents: loader.documents,
        files: files.len(),
    }
}

/// Where an object was declared: file and line.
type Place = (String, usize);

/// [`load_all`] a part at a time, for a caller that checks each part and
/// keeps what it needs of it: the files in their order, in as many parts
/// as wanted ([`Loader::files`]), then the rendered objects
/// ([`Loader::rendered`]). What is kept and said (an object declared
/// twice, the document budget) is as if everything were read at once.
pub struct Loader<'l> {
    limits: &'l Limits,
    apart: Apart,
    /// Each file's estimated documents, for naming the biggest files when
    /// the budget is exceeded.
    estimates: Vec<(usize, String)>,
    /// Keyed by render too when renders are apart: the place seen first.
    seen: foldhash::HashMap<(Option<Arc<Unit>>, ObjectId), Place>,
    /// Findings of the load so far.
    pub findings: Vec<Finding>,
    /// Documents read so far, valid or not.
    pub documents: usize,
    /// The document budget was exceeded: nothing more is loaded.
    stopped: bool,
}

impl<'l> Loader<'l> {
    /// A load of `files` (every file the parts will hold). The document
    /// budget is checked before anything is parsed, from an upper bound
    /// that costs one scan of the bytes, and again while parsing.
    pub fn new(files: &[SourceFile], limits: &'l Limits, apart: Apart) -> Loader<'l> {
        let estimates: Vec<(usize, String)> = files
            .par_iter()
            .map(|f| {
                (
                    crate::source::budget::estimate_documents(&f.bytes),
                    f.path.clone(),
                )
            })
            .collect();
        let mut loader = Loader {
            limits,
            apart,
            estimates,
            seen: Default::default(),
            findings: Vec::new(),
            documents: 0,
            stopped: false,
        };
        if loader.estimates.iter().map(|(n, _)| n).sum::<usize>() > limits.max_documents {
            loader.stop();
        }
        loader
    }

    /// The document budget is exceeded: nothing more is loaded, so nothing
    /// more need be parsed.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    fn stop(&mut self) {
        self.findings.push(too_many_documents(
            &self.estimates,
            self.limits.max_documents,
        ));
        self.stopped = true;
    }

    /// Decodes and parses each file on its own, in parallel; the results
    /// are in file order.
    pub fn parse(files: &[SourceFile], limits: &Limits) -> Vec<Parsed> {
        files.par_iter().map(|f| Parsed::of(f, limits)).collect()
    }

    /// The objects of the next files, parsed by [`Loader::parse`], in file
    /// order: the first declaration of an object is kept, a later one is
    /// an error.
    pub fn files(&mut self, parsed: Vec<Parsed>) -> Vec<Manifest> {
        let mut manifests = Vec::new();
        for parsed in parsed {
            if self.stopped {
                break;
            }
            self.findings.extend(parsed.findings);
            if self.documents + parsed.documents > self.limits.max_documents {
                self.stop();
                break;
            }
            self.documents += parsed.documents;
            for doc in parsed.objects {
                match doc {
                    Ok(manifest) => {
                        if let Some(m) = self.first(manifest, None) {
                            manifests.push(m);
                        }
                    }
                    Err(finding) => self.findings.push(*finding),
                }
            }
        }
        manifests
    }

    /// The objects renderers produced, once every file is loaded.
    pub fn rendered(&mut self, rendered: Vec<RenderedDoc>) -> Vec<Manifest> {
        let mut manifests = Vec::new();
        if self.stopped {
            return manifests;
        }
        if self.documents + rendered.len() > self.limits.max_documents {
            self.findings.push(Finding::error(
                "load",
                format!(
                    "the manifests and what Kustomize and Helm rendered hold {} documents, more \
                     than {} (--max-documents). Nothing is planned or applied; point mooring at a \
                     smaller folder or raise --max-documents",
                    self.documents + rendered.len(),
                    self.limits.max_documents
                ),
            ));
            self.stopped = true;
            return manifests;
        }
        for doc in rendered {
            self.documents += 1;
            let unit = doc.unit.clone();
            let parsed = yaml::Document {
                value: doc.value,
                line: doc.line,
                lines: doc.lines,
            };
            match identify(&doc.file, parsed) {
                Ok(mut manifest) => {
                    manifest.unit = Some(unit.clone());
                    let apart = (self.apart == Apart::Renders).then_some(unit);
                    if let Some(m) = self.first(manifest, apart) {
                        manifests.push(m);
                    }
                }
                Err(finding) => self.findings.push(*finding),
            }
        }
        manifests
    }

    /// `manifest` when it is the first declaration of its object (in
    /// `unit`, when renders are apart); `None`, and an error, otherwise.
    fn first(&mut self, manifest: Manifest, unit: Option<Arc<Unit>>) -> Option<Manifest> {
        match self.seen.entry((unit, manifest.id.clone())) {
            std::collections::hash_map::Entry::Occupied(first) => {
                let (first_file, first_line) = first.get();
                self.findings
                    .push(declared_twice(&manifest, first_file, *first_line));
                None
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert((manifest.file.clone(), manifest.line));
                Some(manifest)
            }
        }
    }
}

/// One file, read on its own: its findings, how many documents it holds,
/// and each document identified as an object or not.
pub struct Parsed {
    findings: Vec<Finding>,
    documents: usize,
    objects: Vec<Result<Manifest, Box<Finding>>>,
}

impl Parsed {
    /// One file decoded and parsed, its objects identified.
    pub fn of(file: &SourceFile, limits: &Limits) -> Parsed {
        parse_file(file, limits)
    }
}

/// The first declaration of each object `wanted` picks (by its value)
/// among the `parsed` files, in order, then the `rendered` objects,
/// cloned: what a [`Loader`] keeps of them, known before it loads them
/// (the CustomResourceDefinitions, which say how the rest is read).
pub fn first_declared(
    parsed: &[&Parsed],
    rendered: &[RenderedDoc],
    apart: Apart,
    wanted: &dyn Fn(&Value) -> bool,
) -> Vec<Manifest> {
    let mut seen: BTreeSet<(Option<Arc<Unit>>, ObjectId)> = BTreeSet::new();
    let mut out = Vec::new();
    let files = parsed
        .iter()
        .flat_map(|p| p.objects.iter().flatten())
        .filter(|m| wanted(&m.value))
        .map(|m| (None, m.clone()));
    let renders = rendered
        .iter()
        .filter(|d| wanted(&d.value))
        .filter_map(|d| {
            let doc = yaml::Document {
                value: d.value.clone(),
                line: d.line,
                lines: d.lines.clone(),
            };
            let mut m = identify(&d.file, doc).ok()?;
            m.unit = Some(d.unit.clone());
            Some(((apart == Apart::Renders).then(|| d.unit.clone()), m))
        });
    for (unit, m) in files.chain(renders) {
        if seen.insert((unit, m.id.clone())) {
            out.push(m);
        }
    }
    out
}

fn parse_file(file: &SourceFile, limits: &Limits) -> Parsed {
    let mut out = Parsed {
        findings: Vec::new(),
        documents: 0,
        objects: Vec::new(),
    };
    if file.bytes.len() as u64 > limits.max_file_bytes {
        out.findings.push(
            Finding::error(
                "load",
                format!(
                    "file is {} bytes, over the {} byte limit for a manifest file",
                    file.bytes.len(),
                    limits.max_file_bytes
                ),
            )
            .at(file.path.clone(), 1),
        );
        return out;
    }
    let text = match yaml::decode(&file.bytes) {
        Ok((text, warning)) => {
            if let Some(w) = warning {
                out.findings
                    .push(Finding::warning("yaml", w.message).at(file.path.clone(), w.line));
            }
            text
        }
        Err(e) => {
            out.findings
                .push(Finding::error("yaml", e.message).at(file.path.clone(), e.line));
            return out;
        }
    };
    let (docs, errors) = yaml::parse_stream(&text, limits);
    // A file none of whose documents names a kind is something else (a
    // Helm values file, an application's configuration): one error saying
    // so, instead of one per document, and no YAML 1.1 warnings.
    let foreign = !docs.is_empty() && !docs.iter().any(|d| names_a_kind(&d.value));
    for e in errors {
        if foreign && e.warning {
            continue;
        }
        let f = if e.warning {
            Finding::warning("yaml", e.message)
        } else {
            Finding::error("yaml", e.message)
        };
        out.findings.push(f.at(file.path.clone(), e.line));
    }
    out.documents = docs.len();
    if foreign {
        out.findings.push(not_a_manifest(file));
        return out;
    }
    out.objects = docs
        .into_iter()
        .map(|doc| identify(&file.path, doc))
        .collect();
    out
}

/// Whether a document is a mapping with `apiVersion` or `kind`, or a list
/// holding one (a JSON array of objects: the per-document error says a
/// manifest is a mapping).
fn names_a_kind(value: &Value) -> bool {
    match value {
        Value::Object(m) => m.contains_key("apiVersion") || m.contains_key("kind"),
        Value::Array(items) => items.iter().any(|item| {
            item.as_object()
                .is_some_and(|m| m.contains_key("apiVersion") || m.contains_key("kind"))
        }),
        _ => false,
    }
}

/// The error for an object declared a second time, at `first`.
fn declared_twice(again: &Manifest, first_file: &str, first_line: usize) -> Finding {
    declared_twice_at(&again.file, again.line, &again.id, first_file, first_line)
}

/// The error for object `id` declared at `file` and `line`, and first at
/// `first_file` and `first_line`.
fn declared_twice_at(
    file: &str,
    line: usize,
    id: &ObjectId,
    first_file: &str,
    first_line: usize,
) -> Finding {
    Finding::error(
        "load",
        format!(
            "declared twice: also at {first_file}:{first_line}; each object may be declared once"
        ),
    )
    .at(file.to_string(), line)
    .object(id.to_string())
}

/// The one error for a file in which no document has `apiVersion` or
/// `kind`, naming the ways to leave it out.
fn not_a_manifest(file: &SourceFile) -> Finding {
    Finding::error(
        "load",
        format!(
            "not a Kubernetes manifest: no document in it has apiVersion or kind. If it is \
             not meant to be one (a Helm values file, an application's configuration), leave \
             it out: name it in a .mooringignore file, or pass --exclude {} (a source's \
             `exclude:` in mooring.yaml)",
            file.rel
        ),
    )
    .at(file.path.clone(), 1)
}

/// The error for a run with more documents than `--max-documents`, naming
/// the files with the most.
fn too_many_documents(estimates: &[(usize, String)], max: usize) -> Finding {
    let mut counts: Vec<(usize, &str)> = estimates.iter().map(|(n, p)| (*n, p.as_str())).collect();
    counts.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let named: Vec<String> = counts
        .iter()
        .take(10)
        .map(|(n, p)| format!("{p} (up to {n})"))
        .collect();
    let at = counts.first().map_or("", |(_, p)| *p).to_string();
    Finding::error(
        "load",
        format!(
            "the manifests hold more than {max} documents (--max-documents) in {} file{}: {}{}. \
             Nothing is planned or applied; point mooring at a smaller folder or raise \
             --max-documents",
            estimates.len(),
            if estimates.len() == 1 { "" } else { "s" },
            named.join(", "),
            if counts.len() > 10 { ", …" } else { "" }
        ),
    )
    .at(at, 1)
}

fn identify(file: &str, doc: yaml::Document) -> Result<Manifest, Box<Finding>> {
    let here = |pointer: &str, message: String| {
        Box::new(
            Finding::error("load", message)
                .at(file, doc.lines.line_of(pointer).unwrap_or(doc.line))
                .field(field_path(pointer)),
        )
    };
    let Value::Object(map) = &doc.value else {
        return Err(here(
            "",
            format!(
                "a manifest must be a mapping with apiVersion, kind and metadata, found {}",
                type_name(&doc.value)
            ),
        ));
    };
    let api_version = match map.get("apiVersion") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(here("/apiVersion", "apiVersion must be a string".into())),
        None => return Err(here("", "missing apiVersion".into())),
    };
    let kind_name = match map.get("kind") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(here("/kind", "kind must be a string".into())),
        None => return Err(here("", "missing kind".into())),
    };
    if api_version.starts_with("kustomize.config.k8s.io/") {
        // Kustomize's own file describes a render, not an object.
        return Err(Box::new(
            Finding::warning(
                "load",
                format!(
                    "a Kustomize {kind_name} is not an object, and it is not rendered here \
                     (its folder is `render: none` in the source's render.paths, or the file \
                     is not named kustomization.yaml): the other files are read as written, \
                     without what it adds (images, patches, generators, name prefixes)"
                ),
            )
            .at(file, doc.line),
        ));
    }
    let info = kinds::find(&api_version, &kind_name);
    let group = match api_version.rsplit_once('/') {
        Some((g, _)) => g.to_string(),
        None => String::new(),
    };
    let scope = kinds::scope(&api_version, &kind_name);
    let id = if scope == Some(Scope::Singleton) {
        // One per host and nameless: named by the file that declares it.
        ObjectId {
            group,
            kind: kind_name,
            namespace: None,
            name: file.to_string(),
        }
    } else {
        let name = match map.get("metadata").and_then(|m| m.get("name")) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(_) => {
                return Err(here(
                    "/metadata/name",
                    "metadata.name must be a non-empty string".into(),
                ));
            }
            None => {
                let pointer = if map.contains_key("metadata") {
                    "/metadata"
                } else {
                    ""
                };
                let generated = map
                    .get("metadata")
                    .and_then(|m| m.get("generateName"))
                    .is_some();
                let (pointer, message) = if generated {
                    (
                        "/metadata/generateName",
                        format!(
                            "{kind_name} uses metadata.generateName, which makes a new object \
                             with a random name on every apply: a GitOps object needs a fixed \
                             metadata.name"
                        ),
                    )
                } else {
                    (pointer, format!("{kind_name} is missing metadata.name"))
                };
                let line = doc.lines.line_of(pointer).unwrap_or(doc.line);
                return Err(Box::new(Finding::error("load", message).at(file, line)));
            }
        };
        let namespace = namespace_of(&doc.value, scope, DEFAULT_NAMESPACE);
        ObjectId {
            group,
            kind: kind_name,
            namespace,
            name,
        }
    };
    Ok(Manifest {
        id,
        api_version,
        kind: info,
        file: file.to_string(),
        line: doc.line,
        ignore: Ignore {
            pointers: ignore_annotation(&doc.value),
            managers: Vec::new(),
        },
        value: doc.value,
        lines: doc.lines,
        unit: None,
    })
}

/// The pointers of an object's `mooring.dev/ignore` annotation.
fn ignore_annotation(value: &Value) -> Vec<String> {
    annotation_list(value, IGNORE_ANNOTATION)
}

/// The items of a list annotation: separated by commas or new lines,
/// trimmed, empty ones left out.
pub fn annotation_list(value: &Value, key: &str) -> Vec<String> {
    get_pointer(value, "/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        .map(|text| {
            text.split([',', '\n'])
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Where a namespaced object without `metadata.namespace` goes when
/// nothing else says: kubectl's default.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The namespace of an object's identity: none for a cluster-scoped kind
/// (whatever is written), as written for a kind of either scope, and for a
/// namespaced kind (or one nothing describes: most custom kinds are
/// namespaced) as written, else `default_namespace`.
fn namespace_of(value: &Value, scope: Option<Scope>, default_namespace: &str) -> Option<String> {
    placed(written_namespace(value), scope, default_namespace).map(str::to_string)
}

/// `metadata.namespace` as written, when it is a non-empty string.
fn written_namespace(value: &Value) -> Option<&str> {
    value
        .get("metadata")
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// [`namespace_of`], borrowed.
fn placed<'a>(
    written: Option<&'a str>,
    scope: Option<Scope>,
    default_namespace: &'a str,
) -> Option<&'a str> {
    match scope {
        Some(Scope::Cluster | Scope::Singleton) => None,
        Some(Scope::NamespacedOrCluster) => written,
        Some(Scope::Namespaced) | None => Some(written.unwrap_or(default_namespace)),
    }
}

/// Resolves every identity's namespace again, once more is known than
/// [`load`] knew: the scope of kinds the input's own
/// CustomResourceDefinitions define, and the namespace the target puts
/// unplaced objects in. A cluster-scoped object loses a written
/// `metadata.namespace` (the API server would drop it too, and the plan
/// would show it as a change forever); the findings say so.
pub fn place(
    manifests: &mut [Manifest],
    scope: &dyn Fn(&str, &str) -> Option<Scope>,
    default_namespace: &str,
    apart: Apart,
) -> Vec<Finding> {
    Placer::default().place(manifests, scope, default_namespace, apart)
}

/// [`place`] a part of the input after another, in order: an object
/// placed in a later part may be one declared in an earlier one.
#[derive(Debug, Default)]
pub struct Placer {
    /// Each placed identity (in its render, when renders are apart): where
    /// it was declared.
    seen: foldhash::HashMap<(Option<String>, ObjectId), (String, usize)>,
}

impl Placer {
    /// [`place`] of the next part.
    pub fn place(
        &mut self,
        manifests: &mut [Manifest],
        scope: &dyn Fn(&str, &str) -> Option<Scope>,
        default_namespace: &str,
        apart: Apart,
    ) -> Vec<Finding> {
        let mut findings = place_each(manifests, scope, default_namespace);
        // Two objects [`load`] told apart may be one now (a ConfigMap
        // without a namespace, another in the context's namespace): the
        // later one is an error, as in `load`, and nothing is planned from
        // the set.
        for m in manifests.iter() {
            let unit = (apart == Apart::Renders)
                .then(|| m.unit.as_deref().map(|u| u.dir.clone()))
                .flatten();
            let here = (m.file.clone(), m.line);
            // Each later declaration is compared with the one seen last.
            if let Some(first) = self.seen.insert((unit, m.id.clone()), here.clone()) {
                let (earlier, later) = if (first.0.as_str(), first.1) <= (here.0.as_str(), here.1) {
                    (first, here)
                } else {
                    (here, first)
                };
                findings.push(declared_twice_at(
                    &later.0, later.1, &m.id, &earlier.0, earlier.1,
                ));
            }
        }
        findings
    }
}

/// Each manifest's namespace, from its kind's scope; the findings of
/// cluster-scoped objects that wrote one.
fn place_each(
    manifests: &mut [Manifest],
    scope: &dyn Fn(&str, &str) -> Option<Scope>,
    default_namespace: &str,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for m in manifests.iter_mut() {
        if m.kind.is_some_and(|k| k.scope == Scope::Singleton) {
            continue;
        }
        let scope = scope(&m.api_version, &m.id.kind);
        let default = m
            .unit
            .as_deref()
            .and_then(|u| u.namespace.as_deref())
            .unwrap_or(default_namespace);
        let want = placed(written_namespace(&m.value), scope, default);
        if m.id.namespace.as_deref() != want {
            m.id.namespace = want.map(str::to_string);
        }
        // mooring's own cluster-scoped kinds refuse a namespace in their
        // schema (Ignite has no namespaces at all).
        if scope == Some(Scope::Cluster) && m.kind.is_none() {
            let written = m
                .value
                .pointer_mut("/metadata")
                .and_then(Value::as_object_mut)
                .and_then(|meta| meta.remove("namespace"));
            if written.is_some_and(|ns| ns.as_str().is_some_and(|s| !s.is_empty())) {
                findings.push(m.finding(
                    Finding::warning(
                        "metadata",
                        format!(
                            "{} is cluster-scoped: metadata.namespace is dropped, as the API \
                             server drops it; remove it",
                            m.id.kind
                        ),
                    ),
                    "/metadata/namespace",
                ));
            }
        }
    }
    findings
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

impl fmt::Debug for KindInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KindInfo({}, {})", self.api_version(), self.kind)
    }
}

/// The manifests of one YAML text, as `m.yaml`; for tests, which expect it
/// to load without a finding.
#[cfg(test)]
pub(crate) fn from_test_yaml(text: &str) -> Vec<Manifest> {
    let loaded = load(
        &[SourceFile {
            path: "m.yaml".into(),
            rel: "m.yaml".into(),
            bytes: text.as_bytes().to_vec(),
        }],
        &Limits::default(),
    );
    assert!(loaded.findings.is_empty(), "{:?}", loaded.findings);
    loaded.manifests
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile {
            path: path.into(),
            rel: path.into(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn pointers_are_read_as_serde_json_reads_them() {
        let value = serde_json::json!({
            "metadata": {"annotations": {"a/b": "x", "c~d": "y"}},
            "list": [1, 2],
            "": {"": 3},
        });
        for pointer in [
            "",
            "/metadata",
            "/metadata/annotations/a~1b",
            "/metadata/annotations/c~0d",
            "/metadata/annotations/a/b",
            "/list/1",
            "/list/01",
            "/list/+1",
            "/list/2",
            "/list/-",
            "//",
            "/metadata/annotations/a~1b/deeper",
            "metadata",
        ] {
            assert_eq!(
                get_pointer(&value, pointer),
                value.pointer(pointer),
                "{pointer}"
            );
        }
    }

    #[test]
    fn field_paths_read_like_kubectl() {
        assert_eq!(
            field_path("/spec/interfaces/0/guestMac"),
            "spec.interfaces[0].guestMac"
        );
        assert_eq!(
            field_path("/metadata/labels/app.kubernetes.io~1name"),
            "metadata.labels[\"app.kubernetes.io/name\"]"
        );
        assert_eq!(field_path(""), "");
    }

    #[test]
    fn identity_problems_are_reported_with_lines() {
        let loaded = load(
            &[file(
                "a.yaml",
                "- 1\n---\nkind: X\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: x\n",
            )],
            &Limits::default(),
        );
        let msgs: Vec<String> = loaded.findings.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            vec![
                "a.yaml:1: a manifest must be a mapping with apiVersion, kind and metadata, found a list",
                "a.yaml:3: missing apiVersion",
                "a.yaml:7: ConfigMap is missing metadata.name",
            ]
        );
        assert_eq!(loaded.documents, 3);
    }

    #[test]
    fn a_file_without_any_kind_is_one_error_naming_how_to_leave_it_out() {
        let loaded = load(
            &[
                file(
                    "charts/values.yaml",
                    "replicas: 2\nenabled: yes\n---\n- a\n",
                ),
                file("app.json", "{\n  \"port\": 8080\n}\n"),
                file("empty.yaml", "# nothing\n"),
                file("array.json", "[{\"kind\": \"ConfigMap\"}]\n"),
            ],
            &Limits::default(),
        );
        let msgs: Vec<String> = loaded.findings.iter().map(ToString::to_string).collect();
        assert_eq!(msgs.len(), 3, "{msgs:#?}");
        assert_eq!(
            msgs[0],
            "charts/values.yaml:1: not a Kubernetes manifest: no document in it has apiVersion \
             or kind. If it is not meant to be one (a Helm values file, an application's \
             configuration), leave it out: name it in a .mooringignore file, or pass --exclude \
             charts/values.yaml (a source's `exclude:` in mooring.yaml)"
        );
        assert!(msgs[1].starts_with("app.json:1: not a Kubernetes manifest: "));
        assert_eq!(
            msgs[2],
            "array.json:1: a manifest must be a mapping with apiVersion, kind and metadata, \
             found a list"
        );
        assert!(loaded.findings.iter().all(Finding::is_error));
        assert_eq!(loaded.documents, 4);
    }

    #[test]
    fn the_same_object_twice_names_both_places() {
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n";
        let loaded = load(
            &[
                file("a.yaml", cm),
                file("b.yaml", &format!("{cm}  namespace: default\n")),
            ],
            &Limits::default(),
        );
        assert_eq!(loaded.manifests.len(), 1);
        assert_eq!(
            loaded.findings[0].to_string(),
            "b.yaml:1: ConfigMap/default/c: declared twice: also at a.yaml:1; each object may be declared once"
        );
    }

    #[test]
    fn placing_in_the_contexts_namespace_finds_objects_declared_twice() {
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n";
        let mut loaded = load(
            &[
                file("a.yaml", cm),
                file("b.yaml", &format!("{cm}  namespace: team\n")),
            ],
            &Limits::default(),
        );
        assert!(loaded.findings.is_empty(), "{:?}", loaded.findings);
        let found = place(
            &mut loaded.manifests,
            &|_, _| Some(Scope::Namespaced),
            "team",
            Apart::No,
        );
        let lines: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "b.yaml:1: ConfigMap/team/c: declared twice: also at a.yaml:1; each object may be declared once"
            ]
        );
        assert!(
            place(
                &mut loaded.manifests,
                &|_, _| Some(Scope::Namespaced),
                "other",
                Apart::No,
            )
            .is_empty()
        );
    }

    #[test]
    fn oversized_files_are_not_parsed() {
        let limits = Limits {
            max_file_bytes: 10,
            ..Limits::default()
        };
        let loaded = load(&[file("big.yaml", "a: 12345678901234567890\n")], &limits);
        assert_eq!(loaded.documents, 0);
        assert_eq!(
            loaded.findings[0].to_string(),
            "big.yaml:1: file is 24 bytes, over the 10 byte limit for a manifest file"
        );
    }
}
