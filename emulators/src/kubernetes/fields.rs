//! Field paths for the emulator's server-side apply: the leaf fields of an
//! object, reading, writing and removing them, `fieldsV1` rendering, and
//! JSON merge patch (RFC 7386).
//!
//! A path is the list of map keys from the root. Lists are atomic: a list
//! is always a leaf, as is a scalar and an empty map. This is coarser than
//! a real API server, which merges lists with `x-kubernetes-list-type: map`
//! by key; see the module doc of [`super`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

pub type Path = Vec<String>;

/// Fields no manager owns: identity, server-set metadata and status.
fn ignored(path: &[String]) -> bool {
    match path {
        [top] => matches!(top.as_str(), "apiVersion" | "kind" | "status"),
        [meta, field] if meta == "metadata" => matches!(
            field.as_str(),
            "name"
                | "namespace"
                | "uid"
                | "resourceVersion"
                | "generation"
                | "creationTimestamp"
                | "deletionTimestamp"
                | "managedFields"
                | "selfLink"
        ),
        [top, ..] => top == "status",
        _ => false,
    }
}

/// Every leaf field of `value` a manager can own. Nulls are absent.
pub fn leaves(value: &Value) -> BTreeSet<Path> {
    fn walk(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
        match v {
            Value::Null => {}
            Value::Object(map) if !map.is_empty() => {
                for (k, child) in map {
                    prefix.push(k.clone());
                    if !ignored(prefix) {
                        walk(child, prefix, out);
                    }
                    prefix.pop();
                }
            }
            _ => {
                if !prefix.is_empty() {
                    out.insert(prefix.clone());
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

/// Whether one path is the other or lies under it.
pub fn overlaps(a: &[String], b: &[String]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

pub fn get<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = value;
    for seg in path {
        cur = cur.as_object()?.get(seg)?;
    }
    if cur.is_null() { None } else { Some(cur) }
}

/// Sets the field at `path`, making (or replacing non-map) parents as maps.
pub fn set(value: &mut Value, path: &[String], new: Value) {
    let Some((last, parents)) = path.split_last() else {
        *value = new;
        return;
    };
    let mut cur = value;
    for seg in parents {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(map) = cur else { return };
        cur = map
            .entry(seg.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !cur.is_object() {
        *cur = Value::Object(Map::new());
    }
    if let Value::Object(map) = cur {
        map.insert(last.clone(), new);
    }
}

/// Removes the field at `path`, then every map left empty on the way up
/// (except the root and `metadata`).
pub fn remove(value: &mut Value, path: &[String]) {
    fn walk(v: &mut Value, path: &[String], depth: usize) -> bool {
        let Value::Object(map) = v else { return false };
        let Some(seg) = path.get(depth) else {
            return false;
        };
        if depth + 1 == path.len() {
            map.remove(seg);
        } else if let Some(child) = map.get_mut(seg) {
            walk(child, path, depth + 1);
            let empty = child.as_object().is_some_and(Map::is_empty);
            let keep = depth == 0 && seg == "metadata";
            if empty && !keep {
                map.remove(seg);
            }
        }
        true
    }
    walk(value, path, 0);
}

/// A set of paths as `fieldsV1`: `{"f:data": {"f:x": {}}}`; a path that is
/// both owned and has owned children gets a `"."` entry.
pub fn to_fields_v1(paths: &BTreeSet<Path>) -> Value {
    fn node(paths: &[&[String]]) -> Map<String, Value> {
        let mut groups: BTreeMap<&str, (bool, Vec<&[String]>)> = BTreeMap::new();
        for p in paths {
            if let Some((first, rest)) = p.split_first() {
                let g = groups.entry(first.as_str()).or_default();
                if rest.is_empty() {
                    g.0 = true;
                } else {
                    g.1.push(rest);
                }
            }
        }
        groups
            .into_iter()
            .map(|(seg, (owned, children))| {
                let mut child = node(&children);
                if owned && !child.is_empty() {
                    child.insert(".".into(), Value::Object(Map::new()));
                }
                (format!("f:{seg}"), Value::Object(child))
            })
            .collect()
    }
    let all: Vec<&[String]> = paths.iter().map(Vec::as_slice).collect();
    Value::Object(node(&all))
}

/// RFC 7386: maps merge, `null` removes, everything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else { return };
    for (k, v) in patch {
        if v.is_null() {
            map.remove(k);
        } else {
            merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// `.data.x` as the API server writes a field in a conflict.
pub fn display(path: &[String]) -> String {
    path.iter().map(|s| format!(".{s}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Path {
        s.split('.').map(str::to_string).collect()
    }

    #[test]
    fn leaves_skip_identity_and_server_fields_and_keep_lists_whole() {
        let v = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "d", "labels": {"x": "1"}, "uid": "u"},
            "data": {"k": "v", "empty": {}},
            "spec": {"list": [1, 2], "gone": null},
            "status": {"phase": "x"}
        });
        let got: Vec<String> = leaves(&v).iter().map(|p| display(p)).collect();
        assert_eq!(
            got,
            vec![".data.empty", ".data.k", ".metadata.labels.x", ".spec.list"]
        );
    }

    #[test]
    fn remove_prunes_empty_parents_but_not_metadata() {
        let mut v = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"x": {"y": 1}}});
        remove(&mut v, &p("spec.x.y"));
        remove(&mut v, &p("metadata.labels.a"));
        assert_eq!(v, json!({"metadata": {}}));
    }

    #[test]
    fn fields_v1_nests_and_marks_owned_parents() {
        let set: BTreeSet<Path> = [p("data.a"), p("data.b"), p("spec"), p("spec.x")]
            .into_iter()
            .collect();
        assert_eq!(
            to_fields_v1(&set),
            json!({"f:data": {"f:a": {}, "f:b": {}}, "f:spec": {".": {}, "f:x": {}}})
        );
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut v = json!({"a": {"b": 1, "c": 2}, "l": [1]});
        merge_patch(&mut v, &json!({"a": {"b": null, "d": 3}, "l": [2]}));
        assert_eq!(v, json!({"a": {"c": 2, "d": 3}, "l": [2]}));
    }
}
