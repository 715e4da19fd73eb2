//! The kinds mooring knows, as Rust types. Everything else about a kind (its
//! JSON Schema, its identity scope, the rules JSON Schema cannot say) is
//! derived from these types and registered in one table, [`all`]; what
//! mooring does with a kind (target, apply tier, what deleting it takes
//! along, readiness, secret fields) is the table in [`facts()`](facts()).
//!
//! The planner, validator, engine and backends never match on kind names
//! for these: they ask the tables.

use serde::Deserialize;

use crate::finding::Severity;

pub use facts::{Holds, KindFacts, Ready, SecretRule, TIERS, Target, facts, is_secret};

pub mod builtin;
pub mod crd;
pub mod facts;
pub mod flintlock;
pub mod formats;
pub mod ignite;
pub mod llamastack;
pub mod meta;
pub mod openapi;
pub mod schema;
pub mod wasmcloud;

/// How a kind's objects are identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `metadata.namespace` may be set; when absent it is `default`.
    Namespaced,
    /// `metadata.namespace` must not be set (`Namespace`, Ignite objects).
    Cluster,
    /// Namespaced when `metadata.namespace` is set, cluster-scoped when it
    /// is not: a kind whose CRD changed scope between upstream releases
    /// (wasmCloud `Host`, namespaced since runtime-operator v2.1.0). Against
    /// a cluster, discovery says which form is installed.
    NamespacedOrCluster,
    /// No `metadata` at all: one object per host (Ignite `Pool`).
    Singleton,
}

/// A problem found by a kind's typed rules, run after its schema passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer into the document, e.g. `/spec/rootVolume`.
    pub pointer: String,
    pub message: String,
    pub severity: Severity,
    /// The document could not be read as the kind's type at all (a shape
    /// problem the schema normally reports first), rather than a rule failed.
    pub shape: bool,
}

impl Violation {
    pub fn error(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            pointer: pointer.into(),
            message: message.into(),
            severity: Severity::Error,
            shape: false,
        }
    }

    pub fn warning(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            severity: Severity::Warning,
            ..Violation::error(pointer, message)
        }
    }
}

/// One registered kind.
pub struct KindInfo {
    /// API group; empty for the Kubernetes core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub scope: Scope,
    /// Which upstream release (and document) the kind's shape follows.
    pub upstream: &'static str,
    /// Whether objects reach a Kubernetes API server as written (see
    /// [`KindType::APPLIED_AS_WRITTEN`]).
    pub applied_as_written: bool,
    /// The kind's JSON Schema (draft 2020-12), generated from its Rust type
    /// and post-processed (strict objects, int-or-string quantities).
    pub schema: fn() -> serde_json::Value,
    /// Typed rules: the document is deserialized into the kind's type and
    /// checked. Only called when the schema found no error.
    pub check: fn(&serde_json::Value) -> Vec<Violation>,
}

impl KindInfo {
    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        api_version(self.group, self.version)
    }

    /// What mooring does with objects of this kind.
    pub fn facts(&self) -> &'static KindFacts {
        facts(self.group, self.kind)
    }

    /// Where the schema lives under `schemas/`: `<group>/<version>/<Kind>.json`,
    /// with `core` standing for the empty core group.
    pub fn schema_file(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        format!("{group}/{}/{}.json", self.version, self.kind)
    }
}

/// A Rust type that is a kind: its identity and its typed rules. The
/// registry in [`all`] is built from these.
pub trait KindType: for<'de> Deserialize<'de> + schemars::JsonSchema + 'static {
    /// API group; empty for the Kubernetes core group.
    const GROUP: &'static str;
    const VERSION: &'static str;
    const KIND: &'static str;
    const SCOPE: Scope;
    /// Which upstream release (and document) the shape follows, for
    /// `mooring schemas --list`.
    const UPSTREAM: &'static str;
    /// The object reaches a Kubernetes API server as written, fields
    /// mooring does not know included (the server prunes or rejects them by
    /// its own schema). False for kinds mooring converts before sending:
    /// Flintlock's gRPC API and Ignite's translation have no place for an
    /// unknown field.
    const APPLIED_AS_WRITTEN: bool = true;

    /// Rules JSON Schema cannot express, run on a document whose schema
    /// validation passed. Pointers are into the whole document.
    fn rules(&self) -> Vec<Violation> {
        Vec::new()
    }
}

/// Deserializes `value` as `T` and runs its rules. A document that does not
/// deserialize gives one `shape` error at the field serde stopped at.
/// Whole-number floats (`2.0`, `1e3`) are read as the integers they are, as
/// JSON Schema's `integer` does.
pub fn check_of<T: KindType>(value: &serde_json::Value) -> Vec<Violation> {
    let integral;
    let value = if has_whole_float(value) {
        integral = whole_floats_to_ints(value);
        &integral
    } else {
        value
    };
    // Most documents deserialize: read them without tracking the path
    // (which more than doubled this function's cost on the benchmark
    // corpus), and track it only for one that fails: the same
    // deserializer, so the same error.
    if let Ok(typed) = T::deserialize(value) {
        return typed.rules();
    }
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(typed) => typed.rules(),
        Err(e) => {
            let mut pointer = String::new();
            for seg in e.path().iter() {
                use serde_path_to_error::Segment;
                match seg {
                    Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
                    Segment::Map { key } | Segment::Enum { variant: key } => {
                        pointer.push('/');
                        pointer.push_str(&pointer_token(key));
                    }
                    Segment::Unknown => break,
                }
            }
            vec![Violation {
                shape: true,
                ..Violation::error(pointer, e.into_inner().to_string())
            }]
        }
    }
}

fn is_whole_float(n: &serde_json::Number) -> bool {
    !n.is_i64()
        && !n.is_u64()
        && n.as_f64()
            .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
}

/// Whether `v` holds a float with no fractional part anywhere.
pub(crate) fn has_whole_float(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) => is_whole_float(n),
        serde_json::Value::Array(a) => a.iter().any(has_whole_float),
        serde_json::Value::Object(m) => m.values().any(has_whole_float),
        _ => false,
    }
}

/// `v` with whole-number floats (`2.0`) turned into the integers they are.
pub(crate) fn whole_floats_to_ints(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        #[allow(clippy::cast_possible_truncation)] // is_whole_float bounds it
        Value::Number(n) if is_whole_float(n) => Value::from(n.as_f64().map_or(0, |f| f as i64)),
        Value::Array(a) => Value::Array(a.iter().map(whole_floats_to_ints).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), whole_floats_to_ints(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Escapes one reference token of a JSON pointer (RFC 6901).
pub fn pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The key or index one reference token of a JSON pointer stands for
/// (RFC 6901: `~1` is `/`, `~0` is `~`); borrowed when it has no escape,
/// as most have.
pub fn token_text(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains('~') {
        token.replace("~1", "/").replace("~0", "~").into()
    } else {
        token.into()
    }
}

macro_rules! kind_info {
    ($t:ty) => {
        KindInfo {
            group: <$t as KindType>::GROUP,
            version: <$t as KindType>::VERSION,
            kind: <$t as KindType>::KIND,
            scope: <$t as KindType>::SCOPE,
            upstream: <$t as KindType>::UPSTREAM,
            applied_as_written: <$t as KindType>::APPLIED_AS_WRITTEN,
            schema: schema::schema_of::<$t>,
            check: check_of::<$t>,
        }
    };
}

static KINDS: [KindInfo; 23] = [
    kind_info!(llamastack::LlamaStackDistribution),
    kind_info!(wasmcloud::Artifact),
    kind_info!(wasmcloud::Host),
    kind_info!(wasmcloud::Workload),
    kind_info!(wasmcloud::WorkloadDeployment),
    kind_info!(wasmcloud::WorkloadReplicaSet),
    kind_info!(ignite::Vm),
    kind_info!(ignite::Kernel),
    kind_info!(ignite::Image),
    kind_info!(ignite::Pool),
    kind_info!(ignite::v1alpha2::Vm),
    kind_info!(ignite::v1alpha2::Kernel),
    kind_info!(ignite::v1alpha2::Image),
    kind_info!(ignite::v1alpha2::Pool),
    kind_info!(ignite::v1alpha3::Vm),
    kind_info!(ignite::v1alpha3::Kernel),
    kind_info!(ignite::v1alpha3::Image),
    kind_info!(ignite::v1alpha3::Pool),
    kind_info!(ignite::v1alpha4::Vm),
    kind_info!(ignite::v1alpha4::Kernel),
    kind_info!(ignite::v1alpha4::Image),
    kind_info!(ignite::v1alpha4::Pool),
    kind_info!(flintlock::MicroVm),
];

/// Every kind mooring has a schema for.
pub fn all() -> &'static [KindInfo] {
    &KINDS
}

/// The scope of a kind mooring knows without reading the input: one of its
/// own, or a built-in Kubernetes kind. `None` for any other.
pub fn scope(api_version: &str, kind: &str) -> Option<Scope> {
    find(api_version, kind)
        .map(|k| k.scope)
        .or_else(|| builtin::find(api_version, kind).map(|b| b.scope))
}

/// Looks a kind up by `apiVersion` and `kind`, exactly as written in a manifest.
pub fn find(api_version: &str, kind: &str) -> Option<&'static KindInfo> {
    let (group, version) = split_api_version(api_version);
    all()
        .iter()
        .find(|k| k.kind == kind && k.version == version && k.group == group)
}

/// `("apps", "v1")` from `apps/v1`, `("", "v1")` from `v1`.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// `group/version`, or just `version` for the core group: the inverse of
/// [`split_api_version`].
pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}
