//! Pure functions on objects for the Kubernetes backend: removing
//! server-owned fields, the "nothing can have changed" test that spares a
//! dry-run, reading `managedFields` (`fieldsV1`), and the local merge used
//! when a dry-run is refused.
//!
//! Invariant: [`unchanged`] only answers `true` when a server-side apply of
//! the desired manifest would be a no-op: every field the manifest sets is
//! already live with that value, and every field mooring's field manager
//! owns is still in the manifest (so the apply removes nothing). Anything
//! it cannot read (an unknown `fieldsType`, an unknown path element) makes
//! it answer `false`, which only costs a dry-run.

use serde_json::{Map, Value};

use crate::manifest::Manifest;

/// Metadata fields the server sets; never part of a diff.
const SERVER_METADATA: [&str; 6] = [
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
];

/// The object without server-owned fields (`status` and the metadata the
/// server sets), as `kubectl diff --server-side` compares it.
pub fn strip_server_fields(object: &Value) -> Value {
    without_server_fields(object.clone())
}

/// [`strip_server_fields`] of an object no longer needed whole.
pub fn without_server_fields(mut object: Value) -> Value {
    if let Some(obj) = object.as_object_mut() {
        obj.remove("status");
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in SERVER_METADATA {
                meta.remove(f);
            }
        }
    }
    object
}

/// Whether every field `desired` sets equals the live value at the same
/// path. Maps are compared field by field, lists and scalars whole; a null
/// means "absent". `status` is not applied, so not compared.
pub fn desired_fields_live(desired: &Value, live: &Value) -> bool {
    let (Some(d), Some(l)) = (desired.as_object(), live.as_object()) else {
        return false;
    };
    d.iter()
        .filter(|(k, _)| k.as_str() != "status")
        .all(|(k, v)| field_matches(v, l.get(k)))
}

fn field_matches(desired: &Value, live: Option<&Value>) -> bool {
    match (desired, live) {
        (Value::Null, None | Some(Value::Null)) => true,
        (Value::Null, Some(_)) => false,
        (Value::Object(d), Some(Value::Object(l))) => {
            d.iter().all(|(k, v)| field_matches(v, l.get(k)))
        }
        (d, Some(l)) => d == l,
        (_, None) => false,
    }
}

/// The `fieldsV1` sets `manager` holds through `Apply` on the main
/// resource, or `None` when one cannot be read (then nothing is assumed).
fn applied_field_sets<'a>(live: &'a Value, manager: &str) -> Option<Vec<&'a Value>> {
    let mut out = Vec::new();
    let entries = live
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array);
    for e in entries.into_iter().flatten() {
        let is_ours = e.get("manager").and_then(Value::as_str) == Some(manager)
            && e.get("operation").and_then(Value::as_str) == Some("Apply")
            && e.get("subresource")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty);
        if !is_ours {
            continue;
        }
        if e.get("fieldsType").and_then(Value::as_str) != Some("FieldsV1") {
            return None;
        }
        out.push(e.get("fieldsV1")?);
    }
    Some(out)
}

/// Whether every field in a `fieldsV1` set is present in `desired`.
/// Path elements: `f:<name>` a map field, `k:<json>` the list element
/// whose fields match, `v:<json>` the list element equal to the value,
/// `i:<n>` a list index, and `.` the node itself.
fn fields_present(fields: &Value, desired: &Value) -> bool {
    let Some(map) = fields.as_object() else {
        return true;
    };
    map.iter().all(|(element, child)| {
        if element == "." {
            return true;
        }
        match element_of(element, desired) {
            Some(found) => fields_present(child, found),
            None => false,
        }
    })
}

/// The value a `fieldsV1` path element names inside `value`.
fn element_of<'a>(element: &str, value: &'a Value) -> Option<&'a Value> {
    if let Some(name) = element.strip_prefix("f:") {
        return value.as_object()?.get(name).filter(|v| !v.is_null());
    }
    if let Some(key) = element.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(key).ok()?;
        return value
            .as_array()?
            .iter()
            .find(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)));
    }
    if let Some(raw) = element.strip_prefix("v:") {
        let wanted: Value = serde_json::from_str(raw).ok()?;
        return value.as_array()?.iter().find(|item| **item == wanted);
    }
    if let Some(index) = element.strip_prefix("i:") {
        return value.as_array()?.get(index.parse::<usize>().ok()?);
    }
    None
}

/// Whether a server-side apply of `desired` by `manager` over `live` can
/// change nothing, so the dry-run can be skipped.
pub fn unchanged(desired: &Value, live: &Value, manager: &str) -> bool {
    let folded = fold_string_data(desired);
    let compared = folded.as_ref().unwrap_or(desired);
    if !desired_fields_live(compared, live) {
        return false;
    }
    match applied_field_sets(live, manager) {
        Some(sets) => sets
            .iter()
            .all(|f| fields_present(f, desired) || fields_present(f, compared)),
        None => false,
    }
}

/// A core Secret as the API server stores it: `stringData` entries written
/// into `data` as base64 (they win over `data`), and `stringData` gone (it
/// is write-only). `None` when `desired` is not a Secret with `stringData`.
fn fold_string_data(desired: &Value) -> Option<Value> {
    use base64::Engine as _;
    let is_secret = desired.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && desired.get("kind").and_then(Value::as_str) == Some("Secret");
    let string_data = desired.get("stringData")?.as_object()?;
    if !is_secret {
        return None;
    }
    let mut out = desired.clone();
    let obj = out.as_object_mut()?;
    obj.remove("stringData");
    let data = obj
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        *data = Value::Object(Map::new());
    }
    let data = data.as_object_mut()?;
    for (k, v) in string_data {
        let text = v.as_str()?;
        data.insert(
            k.clone(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
        );
    }
    Some(out)
}

/// Map-field paths (`f:` elements only) `manager` applied that `desired`
/// no longer sets: what a server-side apply would remove. Paths below a
/// list element are left out (the list is then compared whole).
fn dropped_paths(live: &Value, manager: &str, desired: &Value) -> Vec<Vec<String>> {
    fn walk(
        fields: &Value,
        desired: Option<&Value>,
        prefix: &mut Vec<String>,
        out: &mut Vec<Vec<String>>,
    ) {
        let Some(map) = fields.as_object() else {
            return;
        };
        for (element, child) in map {
            let Some(name) = element.strip_prefix("f:") else {
                continue;
            };
            prefix.push(name.to_string());
            let here = desired
                .and_then(Value::as_object)
                .and_then(|d| d.get(name))
                .filter(|v| !v.is_null());
            match here {
                None => out.push(prefix.clone()),
                Some(d) => walk(child, Some(d), prefix, out),
            }
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    for set in applied_field_sets(live, manager).unwrap_or_default() {
        walk(set, Some(desired), &mut Vec::new(), &mut out);
    }
    out
}

/// What a forced server-side apply of `desired` over `live` would leave,
/// computed locally: `desired` merged onto `live` (maps merge, lists and
/// scalars replace, null removes), minus the fields `manager` applied
/// before and `desired` no longer sets. Used for the plan's desired side
/// when the server refuses the dry-run.
pub fn local_apply(live: &Value, desired: &Value, manager: &str) -> Value {
    let mut out = strip_server_fields(live);
    for path in dropped_paths(live, manager, desired) {
        remove_path(&mut out, &path);
    }
    merge(&mut out, desired);
    if let Some(obj) = out.as_object_mut() {
        obj.remove("status");
    }
    out
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else if let Some(existing) = t.get_mut(k) {
                    merge(existing, v);
                } else {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn remove_path(value: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = value;
    for seg in parents {
        match cur.get_mut(seg.as_str()) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(map) = cur.as_object_mut() {
        map.remove(last);
    }
}

/// `manifest` with its ignored fields (`plan::ignore`) given their values
/// in `live`; borrowed as it is when it ignores nothing.
pub(super) fn with_ignored_from_live<'m>(
    manifest: &'m Manifest,
    live: &Value,
) -> std::borrow::Cow<'m, Manifest> {
    if manifest.ignore.is_empty() {
        return std::borrow::Cow::Borrowed(manifest);
    }
    let mut adjusted = manifest.clone();
    let pointers = crate::plan::ignore::pointers(&manifest.ignore, live);
    crate::plan::ignore::fill_from_live(&mut adjusted.value, live, &pointers);
    std::borrow::Cow::Owned(adjusted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live() -> Value {
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "a", "namespace": "default", "uid": "u", "resourceVersion": "7",
                "labels": {"app": "x"},
                "managedFields": [
                    {"manager": "mooring", "operation": "Apply", "fieldsType": "FieldsV1",
                     "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:data": {"f:k": {}}}},
                    {"manager": "kubectl-edit", "operation": "Update", "fieldsType": "FieldsV1",
                     "fieldsV1": {"f:data": {"f:other": {}}}}
                ]
            },
            "data": {"k": "1", "other": "2"},
            "status": {"x": 1}
        })
    }

    #[test]
    fn secret_string_data_compares_as_the_stored_base64_data() {
        let live = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "default", "managedFields": [
                {"manager": "mooring", "operation": "Apply", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:stringData": {"f:token": {}}, "f:type": {}}}]},
            "data": {"token": "dC0x"}, "type": "Opaque"
        });
        let same = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s"}, "stringData": {"token": "t-1"}, "type": "Opaque"});
        assert!(unchanged(&same, &live, "mooring"));
        let rotated = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s"}, "stringData": {"token": "t-2"}, "type": "Opaque"});
        assert!(!unchanged(&rotated, &live, "mooring"));
        // Not a Secret: stringData is just a field.
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "stringData": {"a": "b"}});
        assert!(fold_string_data(&cm).is_none());
    }

    #[test]
    fn server_fields_and_status_are_stripped() {
        let s = strip_server_fields(&live());
        assert!(s.get("status").is_none());
        assert_eq!(
            s["metadata"],
            json!({"name": "a", "namespace": "default", "labels": {"app": "x"}})
        );
    }

    #[test]
    fn an_equal_manifest_owning_everything_is_unchanged() {
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"app": "x"}}, "data": {"k": "1"}});
        assert!(unchanged(&desired, &live(), "mooring"));
        // Another manager name owns nothing here: still nothing to remove.
        assert!(unchanged(&desired, &live(), "someone"));
    }

    #[test]
    fn a_changed_or_dropped_field_needs_a_dry_run() {
        let changed = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"app": "x"}}, "data": {"k": "2"}});
        assert!(!unchanged(&changed, &live(), "mooring"));
        let dropped = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"app": "x"}}});
        assert!(!unchanged(&dropped, &live(), "mooring"));
        let null_but_live = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"app": "x"}}, "data": {"k": "1", "other": null}});
        assert!(!unchanged(&null_but_live, &live(), "mooring"));
    }

    #[test]
    fn list_keys_and_values_are_found_in_the_manifest() {
        let desired =
            json!({"spec": {"containers": [{"name": "web", "image": "x"}], "finalizers": ["a"]}});
        let fields = json!({"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}}},
                                       "f:finalizers": {"v:\"a\"": {}}}});
        assert!(fields_present(&fields, &desired));
        let missing = json!({"f:spec": {"f:containers": {"k:{\"name\":\"db\"}": {}}}});
        assert!(!fields_present(&missing, &desired));
        assert!(!fields_present(&json!({"x:odd": {}}), &desired));
    }

    #[test]
    fn an_unreadable_fields_type_is_never_taken_as_unchanged() {
        let mut l = live();
        l["metadata"]["managedFields"][0]["fieldsType"] = json!("FieldsV2");
        let desired = json!({"metadata": {"labels": {"app": "x"}}, "data": {"k": "1"}});
        assert!(!unchanged(&desired, &l, "mooring"));
    }

    #[test]
    fn the_local_apply_merges_and_drops_what_mooring_stopped_setting() {
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"app": "x"}}, "data": {"other": "3"}});
        let out = local_apply(&live(), &desired, "mooring");
        assert_eq!(out["data"], json!({"other": "3"}));
        assert!(out["metadata"].get("uid").is_none());
    }
}
