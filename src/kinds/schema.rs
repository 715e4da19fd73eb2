//! JSON Schema generation for the kinds: schemars output, made strict and
//! self-contained.
//!
//! Post-processing applied to every generated schema:
//! - every object schema with `properties` but no `additionalProperties`
//!   gets `additionalProperties: false` (k8s-openapi types do not deny
//!   unknown fields themselves);
//! - the Kubernetes `Quantity` definition becomes an integer-or-string with
//!   the upstream quantity pattern, and `IntOrString` an integer-or-string;
//! - `int32`/`uint32` (and smaller) integers get explicit bounds;
//! - a reference's `name` is optional where Kubernetes defaults it to `""`;
//! - `apiVersion` and `kind` become `const`, and the schema gets a `title`;
//! - keys are sorted, so the rendered text is stable.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::formats::QUANTITY;
use super::{KindType, Scope, all};

const QUANTITY_DEF: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING_DEF: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";

/// Kubernetes references whose `name` is `default: ""` and not required in
/// the upstream CRDs (and in Kubernetes' own OpenAPI): k8s-openapi's schemas
/// mark it required, which would reject what the API server accepts.
const NAME_DEFAULTS_TO_EMPTY: [&str; 8] = [
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.api.core.v1.ConfigMapKeySelector",
    "io.k8s.api.core.v1.SecretKeySelector",
    "io.k8s.api.core.v1.ConfigMapVolumeSource",
    "io.k8s.api.core.v1.ConfigMapProjection",
    "io.k8s.api.core.v1.SecretProjection",
    "io.k8s.api.core.v1.ConfigMapEnvSource",
    "io.k8s.api.core.v1.SecretEnvSource",
];

static CACHE: LazyLock<Mutex<HashMap<TypeId, Value>>> = LazyLock::new(Default::default);

/// The schema of kind `T`, generated once and cached.
pub fn schema_of<T: KindType + 'static>() -> Value {
    let id = TypeId::of::<T>();
    if let Ok(cache) = CACHE.lock()
        && let Some(v) = cache.get(&id)
    {
        return v.clone();
    }
    let api_version = if T::GROUP.is_empty() {
        T::VERSION.to_string()
    } else {
        format!("{}/{}", T::GROUP, T::VERSION)
    };
    let schema = generate::<T>(&api_version, T::KIND);
    if let Ok(mut cache) = CACHE.lock() {
        cache.insert(id, schema.clone());
    }
    schema
}

/// Generates and post-processes the schema of `T` (draft 2020-12).
pub fn generate<T: JsonSchema>(api_version: &str, kind: &str) -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let root = generator.into_root_schema_for::<T>();
    let mut value = root.to_value();
    post_process(&mut value, api_version, kind);
    sort_keys(value)
}

fn post_process(root: &mut Value, api_version: &str, kind: &str) {
    if let Some(defs) = root.get_mut("$defs").and_then(Value::as_object_mut) {
        if let Some(q) = defs.get_mut(QUANTITY_DEF) {
            // Same meaning as `anyOf: [integer, string+pattern]` (a pattern
            // only constrains strings), but a bad string gives a plain
            // `pattern` error instead of an `anyOf` one.
            *q = json!({
                "description": "A Kubernetes quantity: a number with an optional SI, binary or exponent suffix, such as 10Gi, 500M or 250m.",
                "type": ["integer", "string"],
                "pattern": QUANTITY,
            });
        }
        for def in NAME_DEFAULTS_TO_EMPTY {
            if let Some(required) = defs
                .get_mut(def)
                .and_then(|d| d.get_mut("required"))
                .and_then(Value::as_array_mut)
            {
                required.retain(|r| r != "name");
            }
        }
        if let Some(q) = defs.get_mut(INT_OR_STRING_DEF) {
            *q = json!({
                "description": "Either a whole number or a string.",
                "type": ["integer", "string"],
            });
        }
    }
    walk(root);
    if let Some(obj) = root.as_object_mut() {
        obj.insert(
            "title".into(),
            Value::String(format!("{kind} ({api_version})")),
        );
        if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert(
                "apiVersion".into(),
                json!({"description": "API group and version of the object.", "const": api_version}),
            );
            props.insert(
                "kind".into(),
                json!({"description": "Kind of the object.", "const": kind}),
            );
        }
    }
}

/// Visits every subschema, following the schema keywords only (so a
/// property that happens to be called `properties` is not mistaken for the
/// keyword).
fn walk(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if obj.contains_key("properties") && !obj.contains_key("additionalProperties") {
        obj.insert("additionalProperties".into(), Value::Bool(false));
    }
    // An object that allows no fields at all: an explicit empty `properties`
    // makes validators report "additional properties" rather than a bare
    // "false schema" for each field.
    if obj.get("additionalProperties") == Some(&Value::Bool(false))
        && !obj.contains_key("properties")
        && !obj.contains_key("patternProperties")
    {
        obj.insert("properties".into(), Value::Object(Map::new()));
    }
    bound_integers(obj);
    nullable_as_if_else(obj);
    consts_as_enum(obj);
    for key in ["properties", "patternProperties", "$defs", "definitions"] {
        if let Some(map) = obj.get_mut(key).and_then(Value::as_object_mut) {
            map.values_mut().for_each(walk);
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(list) = obj.get_mut(key).and_then(Value::as_array_mut) {
            list.iter_mut().for_each(walk);
        }
    }
    for key in [
        "items",
        "additionalProperties",
        "unevaluatedProperties",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
    ] {
        if let Some(sub) = obj.get_mut(key) {
            walk(sub);
        }
    }
}

/// `anyOf: [S, {type: null}]` (schemars' rendering of an optional field
/// whose schema is a `$ref`) becomes `if: {type: null}, else: S`: null is
/// still accepted, and a bad value gets S's own precise error instead of an
/// `anyOf` one.
fn nullable_as_if_else(obj: &mut Map<String, Value>) {
    let null = json!({"type": "null"});
    let Some(branches) = obj.get("anyOf").and_then(Value::as_array) else {
        return;
    };
    if branches.len() != 2 || obj.contains_key("if") {
        return;
    }
    let other = match (branches[0] == null, branches[1] == null) {
        (false, true) => branches[0].clone(),
        (true, false) => branches[1].clone(),
        _ => return,
    };
    obj.remove("anyOf");
    obj.insert("if".into(), null);
    obj.insert("else".into(), other);
}

/// `oneOf` of string constants (schemars' rendering of a documented unit
/// enum) becomes a plain `enum`, which gives a readable error.
fn consts_as_enum(obj: &mut Map<String, Value>) {
    let Some(branches) = obj.get("oneOf").and_then(Value::as_array) else {
        return;
    };
    let mut values = Vec::new();
    for b in branches {
        let Some(b) = b.as_object() else { return };
        let only_simple = b
            .keys()
            .all(|k| matches!(k.as_str(), "const" | "type" | "description"));
        match b.get("const") {
            Some(Value::String(s)) if only_simple => values.push(Value::String(s.clone())),
            _ => return,
        }
    }
    obj.remove("oneOf");
    obj.insert("type".into(), "string".into());
    obj.insert("enum".into(), Value::Array(values));
}

fn bound_integers(obj: &mut Map<String, Value>) {
    let bounds: Option<(i64, i64)> = match obj.get("format").and_then(Value::as_str) {
        Some("int32") => Some((i32::MIN.into(), i32::MAX.into())),
        Some("uint32") => Some((0, u32::MAX.into())),
        Some("int16") => Some((i16::MIN.into(), i16::MAX.into())),
        Some("uint16") => Some((0, u16::MAX.into())),
        Some("int8") => Some((i8::MIN.into(), i8::MAX.into())),
        Some("uint8") => Some((0, u8::MAX.into())),
        _ => None,
    };
    if let Some((min, max)) = bounds {
        obj.entry("minimum").or_insert(min.into());
        obj.entry("maximum").or_insert(max.into());
    }
}

/// Rebuilds every object with its keys in sorted order, whatever map type
/// serde_json was built with.
pub(crate) fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
    text.push('\n');
    text
}

/// Every kind's schema file, plus `index.json`, as (path relative to the
/// schema directory, file contents). Deterministic.
pub fn render_all() -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut index = Vec::new();
    for kind in all() {
        let file = kind.schema_file();
        files.push((file.clone(), pretty(&(kind.schema)())));
        let scope = match kind.scope {
            Scope::Namespaced => "Namespaced",
            Scope::Cluster => "Cluster",
            Scope::NamespacedOrCluster => "NamespacedOrCluster",
            Scope::Singleton => "Singleton",
        };
        index.push(json!({
            "apiVersion": kind.api_version(),
            "kind": kind.kind,
            "scope": scope,
            "file": file,
            "upstream": kind.upstream,
        }));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files.push(("index.json".into(), pretty(&sort_keys(Value::Array(index)))));
    files
}
