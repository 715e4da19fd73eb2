//! Pure helpers on stored objects: rendering with server fields,
//! defaulting, identity, conflict errors, CRD resources, timestamps.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Value, json};

use super::fields::{self, Path};
use super::{ApiError, Managers, ResourceDef, Stored};

/// The resources a CustomResourceDefinition serves (one per served version).
pub(super) fn crd_resources(crd: &Value) -> Vec<ResourceDef> {
    let spec = crd.get("spec");
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    let group = s(spec.and_then(|s| s.get("group")));
    let names = spec.and_then(|s| s.get("names"));
    let plural = s(names.and_then(|n| n.get("plural")));
    let kind = s(names.and_then(|n| n.get("kind")));
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Vec::new();
    }
    let singular = names
        .and_then(|n| n.get("singular"))
        .and_then(Value::as_str)
        .map_or_else(|| kind.to_ascii_lowercase(), str::to_string);
    let short_names: Vec<String> = names
        .and_then(|n| n.get("shortNames"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let namespaced = spec.and_then(|s| s.get("scope")).and_then(Value::as_str) != Some("Cluster");
    spec.and_then(|s| s.get("versions"))
        .and_then(Value::as_array)
        .map(|versions| {
            versions
                .iter()
                .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
                .filter_map(|v| v.get("name").and_then(Value::as_str))
                .map(|version| ResourceDef {
                    group: group.clone(),
                    version: version.to_string(),
                    plural: plural.clone(),
                    singular: singular.clone(),
                    kind: kind.clone(),
                    namespaced,
                    short_names: short_names.clone(),
                    subresources: Vec::new(),
                    builtin: false,
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn conflict_error(
    conflicts: &[(String, String, Path)],
    managers: &Managers,
) -> ApiError {
    let api_version = |m: &str, op: &str| {
        managers
            .get(&(m.to_string(), op.to_string()))
            .map(|e| e.api_version.clone())
            .unwrap_or_default()
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, op, p)| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with \"{m}\" using {}", api_version(m, op)),
                "field": fields::display(p),
            })
        })
        .collect();
    let mut by_manager: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (m, op, p) in conflicts {
        by_manager
            .entry((m.clone(), op.clone()))
            .or_default()
            .push(fields::display(p));
    }
    let parts: Vec<String> = by_manager
        .iter()
        .map(|((m, op), paths)| {
            let v = api_version(m, op);
            if paths.len() == 1 {
                format!("conflict with \"{m}\" using {v}: {}", paths[0])
            } else {
                let list: String = paths.iter().map(|p| format!("\n- {p}")).collect();
                format!("conflicts with \"{m}\" using {v}:{list}")
            }
        })
        .collect();
    let n = conflicts.len();
    let message = format!(
        "Apply failed with {n} conflict{}: {}",
        if n == 1 { "" } else { "s" },
        parts.join("\n")
    );
    ApiError {
        details: Some(json!({"causes": causes})),
        ..ApiError::new(409, "Conflict", message)
    }
}

/// Writes the name and namespace the URL says; a cluster-scoped object has
/// no namespace.
pub(super) fn identity(
    def: &ResourceDef,
    content: &mut Value,
    namespace: Option<&str>,
    name: &str,
) {
    if !content.is_object() {
        *content = json!({});
    }
    content["apiVersion"] = json!(def.api_version());
    content["kind"] = json!(def.kind);
    if !content.get("metadata").is_some_and(Value::is_object) {
        content["metadata"] = json!({});
    }
    if let Some(meta) = content.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("name".into(), json!(name));
        match namespace {
            Some(ns) if def.namespaced => {
                meta.insert("namespace".into(), json!(ns));
            }
            _ => {
                meta.remove("namespace");
            }
        }
    }
}

pub(super) fn strip_server_fields(content: &mut Value) {
    if let Some(meta) = content.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in [
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(f);
        }
    }
}

/// The top-level fields the schema of a built-in kind declares, for the
/// kinds the emulator checks (`None`: any field is stored as sent).
fn declared_fields(def: &ResourceDef) -> Option<&'static [&'static str]> {
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "ConfigMap") => Some(&[
            "apiVersion",
            "kind",
            "metadata",
            "data",
            "binaryData",
            "immutable",
        ]),
        ("", "Secret") => Some(&[
            "apiVersion",
            "kind",
            "metadata",
            "data",
            "stringData",
            "type",
            "immutable",
        ]),
        ("", "Namespace") => Some(&["apiVersion", "kind", "metadata", "spec", "status"]),
        _ => None,
    }
}

/// A server-side apply of a top-level field the kind's schema does not
/// declare: a real kube-apiserver answers **500** with this message (not
/// 400 or 422), which is what the emulator mimics.
pub(super) fn undeclared_field_error(
    def: &ResourceDef,
    namespace: Option<&str>,
    name: &str,
    config: &Value,
) -> Option<ApiError> {
    let declared = declared_fields(def)?;
    let undeclared = config
        .as_object()?
        .keys()
        .find(|k| !declared.contains(&k.as_str()))?;
    Some(ApiError::new(
        500,
        "",
        format!(
            "failed to create typed patch object ({}/{name}; {}, Kind={}): .{undeclared}: field not declared in schema",
            namespace.unwrap_or_default(),
            if def.group.is_empty() {
                format!("/{}", def.version)
            } else {
                def.api_version()
            },
            def.kind
        ),
    ))
}

/// A change to an immutable ConfigMap or Secret (`immutable: true`): its
/// data, and `immutable` itself, can no longer change; a real
/// kube-apiserver refuses with this 422.
pub(super) fn immutable_error(
    def: &ResourceDef,
    name: &str,
    before: &Value,
    after: &Value,
) -> Option<ApiError> {
    let fields: &[&str] = match (def.group.as_str(), def.kind.as_str()) {
        ("", "ConfigMap") => &["data", "binaryData", "immutable"],
        ("", "Secret") => &["data", "type", "immutable"],
        _ => return None,
    };
    if before.get("immutable") != Some(&Value::Bool(true)) {
        return None;
    }
    let changed = fields.iter().find(|f| before.get(**f) != after.get(**f))?;
    let message = "Forbidden: field is immutable when `immutable` is set";
    Some(ApiError {
        details: Some(json!({
            "name": name,
            "kind": def.kind,
            "causes": [{"reason": "FieldValueForbidden", "message": message, "field": changed}],
        })),
        ..ApiError::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {changed}: {message}", def.kind),
        )
    })
}

/// The emulated defaulting and mutation of built-in and known kinds.
pub(super) fn defaults(def: &ResourceDef, content: &mut Value) {
    let Some(obj) = content.as_object_mut() else {
        return;
    };
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Secret") => {
            if let Some(Value::Object(string_data)) = obj.remove("stringData") {
                let data = obj.entry("data").or_insert_with(|| json!({}));
                if !data.is_object() {
                    *data = json!({});
                }
                if let Some(data) = data.as_object_mut() {
                    for (k, v) in string_data {
                        let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                        data.insert(
                            k,
                            json!(base64::engine::general_purpose::STANDARD.encode(text)),
                        );
                    }
                }
            }
            obj.entry("type").or_insert_with(|| json!("Opaque"));
        }
        ("", "Namespace") => {
            let spec = obj.entry("spec").or_insert_with(|| json!({}));
            if let Some(spec) = spec.as_object_mut() {
                spec.entry("finalizers")
                    .or_insert_with(|| json!(["kubernetes"]));
            }
            obj.insert("status".into(), json!({"phase": "Active"}));
        }
        ("llamastack.io", "LlamaStackDistribution") => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                spec.entry("replicas").or_insert_with(|| json!(1));
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let names = obj
                .get("spec")
                .and_then(|s| s.get("names"))
                .cloned()
                .unwrap_or_else(|| json!({}));
            obj.insert(
                "status".into(),
                json!({
                    "acceptedNames": names,
                    "conditions": [
                        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
                    ],
                }),
            );
        }
        _ => {}
    }
}

pub(super) fn without_meta(content: &Value) -> Value {
    let mut v = content.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

/// The stored object as the API returns it: content plus server fields.
pub(super) fn render(stored: &Stored, def: &ResourceDef, type_meta: bool) -> Value {
    let mut v = stored.content.clone();
    let Some(obj) = v.as_object_mut() else {
        return v;
    };
    if type_meta {
        obj.insert("apiVersion".into(), json!(def.api_version()));
        obj.insert("kind".into(), json!(def.kind));
    } else {
        obj.remove("apiVersion");
        obj.remove("kind");
    }
    let meta = obj.entry("metadata").or_insert_with(|| json!({}));
    if let Some(meta) = meta.as_object_mut() {
        if !stored.uid.is_empty() {
            meta.insert("uid".into(), json!(stored.uid));
        }
        meta.insert("resourceVersion".into(), json!(stored.rv.to_string()));
        meta.insert("generation".into(), json!(stored.generation));
        meta.insert("creationTimestamp".into(), json!(stored.created));
        let managed: Vec<Value> = stored
            .managers
            .iter()
            .map(|((manager, operation), e)| {
                json!({
                    "manager": manager,
                    "operation": operation,
                    "apiVersion": e.api_version,
                    "time": e.time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": fields::to_fields_v1(&e.fields),
                })
            })
            .collect();
        if !managed.is_empty() {
            meta.insert("managedFields".into(), Value::Array(managed));
        }
    }
    v
}

/// Now as `2024-05-01T12:00:00Z`.
pub(super) fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_seconds() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        assert!(t.as_str() > "2024-01-01T00:00:00Z", "{t}");
    }
}
