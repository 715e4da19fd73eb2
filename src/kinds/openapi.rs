//! Kubernetes' OpenAPI v3 schemas, as the JSON Schemas (draft 2020-12)
//! mooring validates with.
//!
//! One conversion serves every place a Kubernetes schema comes from: the
//! built-in kinds (generated from the real API server's `/openapi/v3`, see
//! [`super::builtin`]), a CustomResourceDefinition's `openAPIV3Schema`, and
//! what a live cluster serves. It is pure: no I/O.
//!
//! What the conversion does, node by node (following schema keywords only,
//! so a property that happens to be called `default` or `format` is kept):
//! - `#/components/schemas/X` references become `#/$defs/X`, and a lone
//!   `allOf: [{$ref}]` becomes the `$ref` itself;
//! - objects with `properties` refuse unknown fields
//!   (`additionalProperties: false`), as the API server does with strict
//!   field validation, unless `x-kubernetes-preserve-unknown-fields` says
//!   the object keeps them;
//! - `IntOrString` and `x-kubernetes-int-or-string` become
//!   `type: [integer, string]`; `Quantity` a number or a string with the
//!   quantity pattern;
//! - `nullable: true` adds `null` to the type;
//! - `format: int32` (and `int64`) become bounds; `byte` is checked as
//!   base64 ([`formats::BYTE`](super::formats::BYTE));
//! - `x-kubernetes-list-type: set` becomes `uniqueItems`, and `map` with
//!   its `x-kubernetes-list-map-keys` becomes [`LIST_MAP`], a keyword the
//!   validator registers: two entries with the same keys are what
//!   server-side apply refuses;
//! - `x-kubernetes-embedded-resource` requires `apiVersion` and `kind`;
//! - documentation and patch hints (`description`, `default`, `example`,
//!   `x-kubernetes-patch-*`, ...) are dropped: they validate nothing.
//!
//! `x-kubernetes-validations` (CEL rules) are kept as they are, for the
//! validator to report as not checked.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::formats::{BYTE, QUANTITY};

/// The keyword the validator registers for `x-kubernetes-list-type: map`:
/// `{"keys": [...], "defaults": {key: value}}`.
pub const LIST_MAP: &str = "x-mooring-list-map";
/// CEL rules, kept from the source schema.
pub const CEL: &str = "x-kubernetes-validations";

const QUANTITY_DEF: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const COMPONENTS: &str = "#/components/schemas/";
const DEFS: &str = "#/$defs/";

/// Keywords that validate nothing and are dropped.
const DROPPED: [&str; 12] = [
    "description",
    "default",
    "example",
    "externalDocs",
    "x-kubernetes-patch-strategy",
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-group-version-kind",
    "x-kubernetes-unions",
    "x-kubernetes-map-type",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-preserve-unknown-fields",
];

/// Converts OpenAPI v3 component schemas (name → schema) to `$defs`.
pub fn convert_components(components: &Map<String, Value>) -> Map<String, Value> {
    components
        .iter()
        .map(|(name, schema)| {
            let converted = if name == QUANTITY_DEF {
                quantity()
            } else {
                convert_node(schema, &|r| components.get(r))
            };
            (name.clone(), converted)
        })
        .collect()
}

/// Converts one self-contained schema (a CRD version's `openAPIV3Schema`,
/// which has no references).
pub fn convert(schema: &Value) -> Value {
    convert_node(schema, &|_| None)
}

fn quantity() -> Value {
    json!({"type": ["number", "string"], "pattern": QUANTITY})
}

/// The name a `#/components/schemas/` or `#/$defs/` reference points at.
pub fn ref_name(reference: &str) -> Option<&str> {
    reference
        .strip_prefix(COMPONENTS)
        .or_else(|| reference.strip_prefix(DEFS))
}

fn convert_node<'a>(schema: &'a Value, resolve: &dyn Fn(&str) -> Option<&'a Value>) -> Value {
    let Some(src) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in src {
        if DROPPED.contains(&key.as_str()) || key == "nullable" {
            continue;
        }
        let converted = match key.as_str() {
            "$ref" => match value.as_str().and_then(ref_name) {
                Some(name) => Value::String(format!("{DEFS}{name}")),
                None => value.clone(),
            },
            "properties" => match value {
                Value::Object(map) => {
                    let required = str_items(src.get("required"));
                    Value::Object(
                        map.iter()
                            .map(|(k, v)| {
                                let converted = convert_node(v, resolve);
                                let converted = if required.contains(&k.as_str()) {
                                    converted
                                } else {
                                    null_allowed(converted)
                                };
                                (k.clone(), converted)
                            })
                            .collect(),
                    )
                }
                other => other.clone(),
            },
            "patternProperties" | "$defs" | "definitions" => match value {
                Value::Object(map) => Value::Object(
                    map.iter()
                        .map(|(k, v)| (k.clone(), convert_node(v, resolve)))
                        .collect(),
                ),
                other => other.clone(),
            },
            "allOf" | "anyOf" | "oneOf" | "prefixItems" => match value {
                Value::Array(list) => {
                    Value::Array(list.iter().map(|v| convert_node(v, resolve)).collect())
                }
                other => other.clone(),
            },
            "items"
            | "additionalProperties"
            | "not"
            | "if"
            | "then"
            | "else"
            | "contains"
            | "propertyNames" => convert_node(value, resolve),
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }
    // A lone `allOf: [{$ref}]` (how OpenAPI v3 attaches a description or
    // default to a reference) is the reference.
    if let Some(Value::Array(all)) = out.get("allOf")
        && all.len() == 1
        && let Some(only) = all[0].as_object()
        && only.len() == 1
        && only.contains_key("$ref")
        && !out.contains_key("$ref")
    {
        let reference = only["$ref"].clone();
        out.remove("allOf");
        out.insert("$ref".into(), reference);
    }
    let int_or_string = src.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
        || src.get("format").and_then(Value::as_str) == Some("int-or-string");
    out.remove("x-kubernetes-int-or-string");
    if int_or_string {
        // The `anyOf`/`oneOf` of integer and string that goes with it says
        // the same, with a worse error.
        for key in ["anyOf", "oneOf"] {
            if out.get(key).is_some_and(only_integer_or_string) {
                out.remove(key);
            }
        }
        out.remove("format");
        out.insert("type".into(), json!(["integer", "string"]));
    }
    match src.get("format").and_then(Value::as_str) {
        Some("int32") => {
            out.entry("minimum").or_insert(i32::MIN.into());
            out.entry("maximum").or_insert(i32::MAX.into());
            out.remove("format");
        }
        Some("int64" | "double" | "float") => {
            out.remove("format");
        }
        Some("byte") => {
            out.insert("format".into(), BYTE.into());
        }
        _ => {}
    }
    if src.get("nullable") == Some(&Value::Bool(true))
        && let Some(t) = out.get_mut("type")
    {
        match t {
            Value::String(s) => *t = json!([s.clone(), "null"]),
            Value::Array(list) if !list.contains(&json!("null")) => list.push(json!("null")),
            _ => {}
        }
    }
    let preserve = src.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if out.contains_key("properties") && !out.contains_key("additionalProperties") && !preserve {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    if src.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true)) {
        out.remove("x-kubernetes-embedded-resource");
        let required = out
            .entry("required")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = required {
            for key in ["apiVersion", "kind"] {
                if !list.contains(&json!(key)) {
                    list.push(json!(key));
                }
            }
        }
    }
    match src.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            out.insert("uniqueItems".into(), Value::Bool(true));
        }
        Some("map") => {
            let keys: Vec<String> = str_items(src.get("x-kubernetes-list-map-keys"))
                .into_iter()
                .map(str::to_string)
                .collect();
            if !keys.is_empty() {
                let defaults = key_defaults(src.get("items"), &keys, resolve);
                out.insert(LIST_MAP.into(), json!({"keys": keys, "defaults": defaults}));
            }
        }
        _ => {}
    }
    Value::Object(out)
}

/// An optional field may be `null`: the API server reads it as absent (Go's
/// JSON decoding, and structural pruning for custom resources), so
/// `env: null` or `resources: ~` is accepted as kubectl accepts it. A typed
/// schema gets `null` among its types (and its `enum`); a reference is
/// wrapped in `if: {type: null}, else: {$ref}`, which keeps the referenced
/// schema's own errors.
fn null_allowed(schema: Value) -> Value {
    let Value::Object(mut map) = schema else {
        return schema;
    };
    if let Some(Value::Array(values)) = map.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
    let typed = match map.get_mut("type") {
        Some(Value::String(t)) => {
            let t = std::mem::take(t);
            map.insert("type".into(), json!([t, "null"]));
            true
        }
        Some(Value::Array(types)) => {
            if !types.contains(&json!("null")) {
                types.push(json!("null"));
            }
            true
        }
        Some(_) => true,
        None => false,
    };
    if !typed && map.contains_key("$ref") {
        return json!({"if": {"type": "null"}, "else": map});
    }
    Value::Object(map)
}

/// The strings of a JSON array (`required`, `verbs`, list-map keys);
/// nothing for anything else.
pub fn str_items(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn only_integer_or_string(branches: &Value) -> bool {
    branches.as_array().is_some_and(|list| {
        list.iter().all(|b| {
            b.as_object().is_some_and(|o| {
                o.len() == 1
                    && matches!(
                        o.get("type").and_then(Value::as_str),
                        Some("integer" | "string")
                    )
            })
        })
    })
}

/// The `default` of each list-map key, read from the item schema
/// (following one reference): the API server fills them in before it
/// compares entries, so `{containerPort: 80}` and
/// `{containerPort: 80, protocol: TCP}` are the same entry.
fn key_defaults<'a>(
    items: Option<&'a Value>,
    keys: &[String],
    resolve: &dyn Fn(&str) -> Option<&'a Value>,
) -> Map<String, Value> {
    let mut item = items;
    for _ in 0..2 {
        let Some(node) = item else { break };
        let reference = node.get("$ref").and_then(Value::as_str).or_else(|| {
            node.get("allOf")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(|f| f.get("$ref"))
                .and_then(Value::as_str)
        });
        match reference.and_then(ref_name) {
            Some(name) => item = resolve(name),
            None => break,
        }
    }
    let mut out = Map::new();
    if let Some(props) = item
        .and_then(|i| i.get("properties"))
        .and_then(Value::as_object)
    {
        for key in keys {
            if let Some(default) = props.get(key).and_then(|p| p.get("default")) {
                out.insert(key.clone(), default.clone());
            }
        }
    }
    out
}

/// The `$defs` a schema reaches through `$ref`, transitively: what a kind's
/// self-contained schema needs of a larger set.
pub fn closure(root: &str, defs: &Map<String, Value>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![root.to_string()];
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = defs.get(&name) {
            refs(schema, &mut |r| {
                if !seen.contains(r) {
                    todo.push(r.to_string());
                }
            });
        }
    }
    seen
}

fn refs(v: &Value, found: &mut dyn FnMut(&str)) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                if k == "$ref"
                    && let Some(name) = x.as_str().and_then(ref_name)
                {
                    found(name);
                } else {
                    refs(x, found);
                }
            }
        }
        Value::Array(list) => list.iter().for_each(|x| refs(x, found)),
        _ => {}
    }
}

/// A self-contained schema for the definition `root`: `{$ref, $defs}` with
/// only the definitions it reaches.
pub fn self_contained(root: &str, defs: &Map<String, Value>) -> Value {
    let needed: BTreeMap<String, Value> = closure(root, defs)
        .into_iter()
        .filter_map(|n| defs.get(&n).map(|s| (n, s.clone())))
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("{DEFS}{root}"),
        "$defs": needed,
    })
}

/// Every CEL rule in a converted schema, with the JSON pointer (into the
/// schema) of the node that carries it: what an object of the kind is
/// checked against on the server, and mooring cannot evaluate.
pub fn cel_rules(schema: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    cel_walk(schema, "", &mut out);
    out
}

fn cel_walk(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    let Some(map) = v.as_object() else { return };
    if let Some(Value::Array(rules)) = map.get(CEL) {
        for r in rules {
            if let Some(rule) = r.get("rule").and_then(Value::as_str) {
                out.push((at.to_string(), rule.to_string()));
            }
        }
    }
    for key in ["properties", "patternProperties", "$defs"] {
        if let Some(Value::Object(children)) = map.get(key) {
            for (name, child) in children {
                cel_walk(
                    child,
                    &format!("{at}/{key}/{}", super::pointer_token(name)),
                    out,
                );
            }
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get(key) {
            cel_walk(child, &format!("{at}/{key}"), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_descriptions_and_strictness() {
        let components = json!({
            "A": {
                "description": "an A",
                "type": "object",
                "required": ["b"],
                "properties": {
                    "b": {"allOf": [{"$ref": "#/components/schemas/B"}], "default": {}},
                    "default": {"type": "string", "description": "a field called default"},
                    "n": {"type": "integer", "format": "int32"},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                             "properties": {"x": {"type": "string"}}},
                },
            },
            "B": {"type": "object", "properties": {"c": {"type": "string", "nullable": true}}},
        });
        let defs = convert_components(components.as_object().expect("object"));
        assert_eq!(
            defs["A"],
            json!({
                "type": "object",
                "required": ["b"],
                "additionalProperties": false,
                "properties": {
                    "b": {"$ref": "#/$defs/B"},
                    "default": {"type": ["string", "null"]},
                    "n": {"type": ["integer", "null"], "minimum": i32::MIN, "maximum": i32::MAX},
                    "free": {"type": ["object", "null"], "properties": {"x": {"type": ["string", "null"]}}},
                },
            })
        );
        assert_eq!(
            defs["B"]["properties"]["c"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(closure("A", &defs).len(), 2);
    }

    #[test]
    fn int_or_string_sets_and_list_maps() {
        let components = json!({
            "P": {"type": "object", "properties": {
                "name": {"type": "string"},
                "protocol": {"type": "string", "default": "TCP"},
            }},
            "S": {"type": "object", "properties": {
                "port": {"x-kubernetes-int-or-string": true,
                         "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "tags": {"type": "array", "items": {"type": "string"},
                         "x-kubernetes-list-type": "set"},
                "ports": {"type": "array",
                          "items": {"allOf": [{"$ref": "#/components/schemas/P"}], "default": {}},
                          "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["name", "protocol"]},
            }},
        });
        let defs = convert_components(components.as_object().expect("object"));
        let props = &defs["S"]["properties"];
        assert_eq!(
            props["port"],
            json!({"type": ["integer", "string", "null"]})
        );
        assert_eq!(props["tags"]["uniqueItems"], json!(true));
        // An optional reference may be null too.
        assert_eq!(
            props["ports"]["items"],
            json!({"$ref": "#/$defs/P"}),
            "items are not optional fields"
        );
        assert_eq!(
            props["ports"][LIST_MAP],
            json!({"keys": ["name", "protocol"], "defaults": {"protocol": "TCP"}})
        );
    }

    #[test]
    fn cel_rules_are_found_with_where_they_sit() {
        let schema = convert(&json!({
            "type": "object",
            "properties": {"spec": {"type": "object",
                "x-kubernetes-validations": [{"rule": "self.a > 0", "message": "a"}],
                "properties": {"a": {"type": "integer"}}}},
        }));
        assert_eq!(
            cel_rules(&schema),
            [("/properties/spec".to_string(), "self.a > 0".to_string())]
        );
    }
}
