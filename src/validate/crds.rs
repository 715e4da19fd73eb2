//! CustomResourceDefinitions in the input, as schemas: each served
//! version's `openAPIV3Schema`, converted as the built-in kinds are
//! ([`crate::kinds::openapi`]), becomes the schema of its kind for the same
//! run, offline. Its CEL rules are noted once, at the CRD, as not checked.

use serde_json::{Value, json};

use super::{Input, Origin, Slot, Source};
use crate::finding::Finding;
use crate::kinds::{Scope, openapi};
use crate::manifest::Manifest;

/// Adds the kinds `crd` (the input's manifest number `index`) defines.
pub(super) fn read(crd: &Manifest, index: usize, input: &mut Input) {
    let v = &crd.value;
    let (Some(group), Some(kind)) = (
        v.pointer("/spec/group").and_then(Value::as_str),
        v.pointer("/spec/names/kind").and_then(Value::as_str),
    ) else {
        return;
    };
    let scope = match v.pointer("/spec/scope").and_then(Value::as_str) {
        Some("Cluster") => Scope::Cluster,
        _ => Scope::Namespaced,
    };
    let versions = v
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, version) in versions.iter().enumerate() {
        let Some(name) = version.get("name").and_then(Value::as_str) else {
            continue;
        };
        if version.get("served") == Some(&Value::Bool(false)) {
            continue;
        }
        let at = format!("/spec/versions/{i}/schema/openAPIV3Schema");
        let schema = match v.pointer(&at) {
            Some(s) => object_schema(&openapi::convert(s)),
            // No schema: anything goes (the server prunes nothing either
            // when `x-kubernetes-preserve-unknown-fields` is set, and v1
            // requires a schema, which the CRD's own validation says).
            None => json!({"type": "object"}),
        };
        for (pointer, rule) in openapi::cel_rules(&schema) {
            let pointer = format!("{at}{pointer}/{}", openapi::CEL);
            input.notes.push((
                index,
                crd.finding(
                    Finding::warning(
                        "schema",
                        format!(
                            "CEL rule `{rule}` is not checked by mooring (no CEL evaluator \
                             offline): {kind} objects are checked against it by the API \
                             server at plan and apply"
                        ),
                    ),
                    &pointer,
                ),
            ));
        }
        input.crds.insert(
            format!("{group}/{name}"),
            kind.to_string(),
            Slot::new(
                Origin::Input,
                format!(
                    "CustomResourceDefinition {} ({}:{})",
                    crd.id.name, crd.file, crd.line
                ),
                Source::Value(schema),
                Some(scope),
            ),
        );
    }
}

/// A CRD's schema as an object's: `apiVersion`, `kind` and `metadata` are
/// always allowed (the API server adds them to every structural schema),
/// and `$schema` says the dialect.
fn object_schema(converted: &Value) -> Value {
    let mut schema = converted.clone();
    if let Some(map) = schema.as_object_mut() {
        map.insert(
            "$schema".into(),
            "https://json-schema.org/draft/2020-12/schema".into(),
        );
        if let Some(Value::Object(props)) = map.get_mut("properties") {
            for (key, s) in [
                ("apiVersion", json!({"type": "string"})),
                ("kind", json!({"type": "string"})),
                ("metadata", json!({"type": "object"})),
            ] {
                props.entry(key).or_insert(s);
            }
            // A CRD may only narrow `metadata.name` (and `generateName`);
            // the rest is ObjectMeta, which the metadata checks cover.
            if let Some(Value::Object(meta)) = props.get_mut("metadata") {
                meta.remove("additionalProperties");
            }
        }
    }
    schema
}
