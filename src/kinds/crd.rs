//! CustomResourceDefinitions for the custom kinds mooring applies to
//! Kubernetes (LlamaStack, wasmCloud), generated at run time from the same
//! JSON Schemas `validate` uses, so they follow the Rust types.
//!
//! A JSON Schema is turned into a Kubernetes structural schema:
//! - `$ref`s are inlined (a recursive reference becomes a field whose
//!   contents are preserved unchecked);
//! - nullable optionals (`if: {type: null}, else: S`, `type: [T, "null"]`)
//!   become `S` with `nullable: true`;
//! - integer-or-string (`type: [integer, string]`: quantities,
//!   IntOrString) becomes `x-kubernetes-int-or-string: true`;
//! - a map (`additionalProperties: S` and no `properties`) keeps its value
//!   schema; an object with neither becomes
//!   `x-kubernetes-preserve-unknown-fields: true`; `additionalProperties:
//!   false` is dropped (a structural schema prunes unknown fields anyway);
//! - `const` becomes a one-value `enum`; keywords Kubernetes does not accept
//!   (`readOnly`, `title`, `$schema`, `uniqueItems`, exclusive bounds in
//!   the 2020-12 form, formats it does not know, `if`/`then` without the
//!   nullable pattern, other `anyOf`/`oneOf`) are dropped: `mooring
//!   validate` still checks them.
//!
//! Defaults the types declare (upstream's, such as a LlamaStackDistribution's
//! `spec.replicas: 1`; `tests/kinds/upstream.rs` keeps them equal) are kept,
//! so a server defaults objects as it would with upstream's CRD.
//!
//! The root keeps `spec`'s schema and `required`; `metadata` is
//! `type: object` (the API server owns its schema) and `status` is
//! preserved as is, with the status subresource enabled.

use serde_json::{Map, Value, json};

use super::{KindInfo, Scope, all};

/// API groups whose kinds are custom resources on Kubernetes.
pub const CRD_GROUPS: &[&str] = &["llamastack.io", "runtime.wasmcloud.dev"];

/// Formats the Kubernetes OpenAPI validation knows; others are dropped.
const KUBE_FORMATS: &[&str] = &[
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "binary",
    "date",
    "date-time",
    "duration",
    "password",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
];

/// Keywords copied unchanged onto the structural schema.
const KEPT: &[&str] = &[
    "description",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "multipleOf",
    "enum",
    "default",
];

/// The kinds served through CRDs, in registry order.
pub fn kinds() -> Vec<&'static KindInfo> {
    all()
        .iter()
        .filter(|k| CRD_GROUPS.contains(&k.group))
        .collect()
}

/// The plural resource name Kubernetes tools expect: the lowercased kind,
/// made plural by the English rules controller-gen uses for these kinds.
pub fn plural(kind: &str) -> String {
    let lower = kind.to_lowercase();
    if lower.ends_with('s') || lower.ends_with('x') || lower.ends_with("ch") {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

/// The CustomResourceDefinition of `info`'s kind (one version: the
/// registry holds one version per kind).
pub fn crd(info: &KindInfo) -> Value {
    let schema = (info.schema)();
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let props = schema.get("properties").and_then(Value::as_object);
    let mut properties = Map::new();
    properties.insert("apiVersion".into(), json!({"type": "string"}));
    properties.insert("kind".into(), json!({"type": "string"}));
    properties.insert("metadata".into(), json!({"type": "object"}));
    if let Some(props) = props {
        for (name, sub) in props {
            match name.as_str() {
                "apiVersion" | "kind" | "metadata" | "status" => {}
                _ => {
                    properties.insert(name.clone(), structural(sub, &defs, &mut Vec::new()));
                }
            }
        }
    }
    properties.insert(
        "status".into(),
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
    );
    let required: Vec<Value> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| {
            r.as_str()
                .is_some_and(|r| !matches!(r, "apiVersion" | "kind" | "metadata" | "status"))
        })
        .cloned()
        .collect();
    let mut root = json!({"type": "object", "properties": properties});
    if let Some(d) = schema.get("description") {
        root["description"] = d.clone();
    }
    if !required.is_empty() {
        root["required"] = Value::Array(required);
    }
    let plural = plural(info.kind);
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": format!("{plural}.{}", info.group),
            "annotations": {
                "mooring.dev/generated-from": format!("schemas/{}", info.schema_file()),
            },
        },
        "spec": {
            "group": info.group,
            "scope": match info.scope {
                // A kind that changed scope upstream (wasmCloud `Host`) gets
                // the scope its current release installs.
                Scope::Namespaced | Scope::NamespacedOrCluster => "Namespaced",
                Scope::Cluster | Scope::Singleton => "Cluster",
            },
            "names": {
                "kind": info.kind,
                "listKind": format!("{}List", info.kind),
                "plural": plural,
                "singular": info.kind.to_lowercase(),
            },
            "versions": [{
                "name": info.version,
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": root},
            }],
        },
    })
}

/// `schema` as a structural schema, `$ref`s resolved in `defs`; `stack`
/// holds the references being expanded (to stop at recursion).
fn structural(schema: &Value, defs: &Map<String, Value>, stack: &mut Vec<String>) -> Value {
    let Some(node) = schema.as_object() else {
        // `true` (anything) or `false` (nothing).
        return json!({"x-kubernetes-preserve-unknown-fields": true});
    };
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/$defs/").to_string();
        let Some(target) = defs.get(&name) else {
            return json!({"x-kubernetes-preserve-unknown-fields": true});
        };
        if stack.contains(&name) {
            return json!({"x-kubernetes-preserve-unknown-fields": true});
        }
        stack.push(name);
        let mut out = structural(target, defs, stack);
        stack.pop();
        if let (Some(d), Some(o)) = (node.get("description"), out.as_object_mut()) {
            o.insert("description".into(), d.clone());
        }
        return out;
    }
    // Nullable optional: `if: {type: null}` / `else: S`.
    if let (Some(cond), Some(other)) = (node.get("if"), node.get("else"))
        && cond.get("type").and_then(Value::as_str) == Some("null")
    {
        let mut out = structural(other, defs, stack);
        if let Some(o) = out.as_object_mut() {
            o.insert("nullable".into(), Value::Bool(true));
            if let Some(d) = node.get("description") {
                o.insert("description".into(), d.clone());
            }
        }
        return out;
    }
    // `anyOf`/`oneOf` of one schema and null.
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = node.get(key).and_then(Value::as_array) {
            let non_null: Vec<&Value> = branches
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            let mut out = if non_null.len() == 1 {
                structural(non_null[0], defs, stack)
            } else {
                json!({"x-kubernetes-preserve-unknown-fields": true})
            };
            if let Some(o) = out.as_object_mut() {
                if non_null.len() < branches.len() {
                    o.insert("nullable".into(), Value::Bool(true));
                }
                if let Some(d) = node.get("description") {
                    o.insert("description".into(), d.clone());
                }
            }
            return out;
        }
    }

    let mut out = Map::new();
    for key in KEPT {
        if let Some(v) = node.get(*key) {
            out.insert((*key).to_string(), v.clone());
        }
    }
    if let Some(c) = node.get("const") {
        out.insert("enum".into(), json!([c]));
    }
    if let Some(f) = node.get("format").and_then(Value::as_str)
        && KUBE_FORMATS.contains(&f)
    {
        out.insert("format".into(), json!(f));
    }
    let mut types: Vec<&str> = match node.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        // An untyped `const` or `enum`: the type of its values.
        _ => node
            .get("const")
            .or_else(|| node.get("enum").and_then(|e| e.get(0)))
            .and_then(json_type)
            .into_iter()
            .collect(),
    };
    if types.contains(&"null") {
        types.retain(|t| *t != "null");
        out.insert("nullable".into(), Value::Bool(true));
    }
    types.sort_unstable();
    match types.as_slice() {
        ["integer", "string"] => {
            out.insert("x-kubernetes-int-or-string".into(), Value::Bool(true));
            out.insert(
                "anyOf".into(),
                json!([{"type": "integer"}, {"type": "string"}]),
            );
        }
        [t] => {
            out.insert("type".into(), json!(t));
        }
        _ => {
            out.insert(
                "x-kubernetes-preserve-unknown-fields".into(),
                Value::Bool(true),
            );
            return Value::Object(out);
        }
    }
    match types[0] {
        "object" => {
            let properties = node.get("properties").and_then(Value::as_object);
            match (properties, node.get("additionalProperties")) {
                (Some(props), _) => {
                    let props: Map<String, Value> = props
                        .iter()
                        .map(|(k, v)| (k.clone(), structural(v, defs, stack)))
                        .collect();
                    if let Some(required) = node.get("required").and_then(Value::as_array) {
                        let required: Vec<Value> = required
                            .iter()
                            .filter(|r| r.as_str().is_some_and(|r| props.contains_key(r)))
                            .cloned()
                            .collect();
                        if !required.is_empty() {
                            out.insert("required".into(), Value::Array(required));
                        }
                    }
                    out.insert("properties".into(), Value::Object(props));
                }
                (None, Some(values @ Value::Object(_))) => {
                    out.insert(
                        "additionalProperties".into(),
                        structural(values, defs, stack),
                    );
                }
                (None, Some(Value::Bool(false))) => {}
                (None, _) => {
                    out.insert(
                        "x-kubernetes-preserve-unknown-fields".into(),
                        Value::Bool(true),
                    );
                }
            }
        }
        "array" => {
            let items = node
                .get("items")
                .map(|i| structural(i, defs, stack))
                .unwrap_or_else(|| json!({"x-kubernetes-preserve-unknown-fields": true}));
            out.insert("items".into(), items);
        }
        _ => {}
    }
    Value::Object(out)
}

fn json_type(v: &Value) -> Option<&'static str> {
    match v {
        Value::String(_) => Some("string"),
        Value::Bool(_) => Some("boolean"),
        Value::Number(n) if n.is_f64() => Some("number"),
        Value::Number(_) => Some("integer"),
        Value::Object(_) => Some("object"),
        Value::Array(_) => Some("array"),
        Value::Null => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every node with neither `x-kubernetes-preserve-unknown-fields` nor
    /// `x-kubernetes-int-or-string` has a type, and no keyword Kubernetes
    /// rejects is left.
    fn assert_structural(v: &Value, path: &str) {
        let Some(o) = v.as_object() else { return };
        let free = o.contains_key("x-kubernetes-preserve-unknown-fields")
            || o.contains_key("x-kubernetes-int-or-string");
        assert!(free || o.contains_key("type"), "{path}: no type: {v}");
        for bad in [
            "$ref",
            "$defs",
            "if",
            "else",
            "then",
            "const",
            "readOnly",
            "title",
            "oneOf",
            "uniqueItems",
        ] {
            assert!(!o.contains_key(bad), "{path}: {bad} left: {v}");
        }
        if o.get("additionalProperties").is_some() {
            assert!(!o.contains_key("properties"), "{path}: both");
        }
        for (k, sub) in o {
            match k.as_str() {
                "properties" => {
                    for (name, p) in sub.as_object().into_iter().flatten() {
                        assert_structural(p, &format!("{path}.{name}"));
                    }
                }
                "items" | "additionalProperties" => assert_structural(sub, &format!("{path}[]")),
                _ => {}
            }
        }
    }

    #[test]
    fn every_crd_kind_gets_a_structural_schema_with_a_status_subresource() {
        let kinds = kinds();
        let names: Vec<&str> = kinds.iter().map(|k| k.kind).collect();
        assert!(names.contains(&"LlamaStackDistribution"), "{names:?}");
        assert!(names.contains(&"WorkloadDeployment"), "{names:?}");
        for k in kinds {
            let crd = crd(k);
            let version = &crd["spec"]["versions"][0];
            assert_eq!(version["subresources"], json!({"status": {}}));
            let root = &version["schema"]["openAPIV3Schema"];
            assert_structural(root, k.kind);
            assert_eq!(
                crd["metadata"]["name"],
                format!("{}.{}", plural(k.kind), k.group)
            );
            // `spec`, or top-level fields (wasmCloud Host).
            let fields = root["properties"].as_object().map_or(0, |p| p.len());
            assert!(fields > 4, "{}: {root}", k.kind);
        }
    }

    #[test]
    fn quantities_are_int_or_string_and_nullable_optionals_nullable() {
        let defs = Map::new();
        let q = structural(
            &json!({"type": ["integer", "string"], "pattern": "^x$"}),
            &defs,
            &mut Vec::new(),
        );
        assert_eq!(q["x-kubernetes-int-or-string"], true);
        assert_eq!(q["pattern"], "^x$");
        assert!(q.get("type").is_none());
        let n = structural(
            &json!({"if": {"type": "null"}, "else": {"type": "string", "format": "hostname-ish"}}),
            &defs,
            &mut Vec::new(),
        );
        assert_eq!(n, json!({"type": "string", "nullable": true}));
        let map = structural(
            &json!({"type": "object", "additionalProperties": {"type": "string"}}),
            &defs,
            &mut Vec::new(),
        );
        assert_eq!(
            map,
            json!({"type": "object", "additionalProperties": {"type": "string"}})
        );
        let strict = structural(
            &json!({"type": "object", "additionalProperties": false, "properties": {"a": {"const": "b"}}}),
            &defs,
            &mut Vec::new(),
        );
        assert_eq!(
            strict,
            json!({"type": "object", "properties": {"a": {"enum": ["b"], "type": "string"}}})
        );
    }

    #[test]
    fn plurals_follow_the_kinds() {
        assert_eq!(plural("LlamaStackDistribution"), "llamastackdistributions");
        assert_eq!(plural("Host"), "hosts");
        assert_eq!(plural("WorkloadReplicaSet"), "workloadreplicasets");
        assert_eq!(plural("Policy"), "policies");
    }
}
