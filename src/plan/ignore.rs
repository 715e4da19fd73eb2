//! Ignore rules: fields of an object that Git sets at creation and someone
//! else owns afterwards (an HPA's `spec.replicas`, a webhook's injected
//! `caBundle`), as Argo CD's `ignoreDifferences` and Flux's ignore rules.
//!
//! Fields are named by JSON pointers, or by the managers whose
//! `managedFields` own them. Once the object exists, an ignored field is
//! given its live value in what mooring compares and applies
//! ([`fill_from_live`]): it is never a difference, never drift, never
//! healed, and never taken back by an apply (which sends the value the
//! field already has, so no other manager's change is undone).

use serde::Deserialize;
use serde_json::Value;

use crate::kinds::pointer_token;
use crate::manifest::{Ignore, Manifest};

/// A rule of a source (`ignore:` in mooring.yaml): which objects, and
/// which of their fields.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IgnoreRule {
    /// The API group (`apps`; empty for the core group); any when absent.
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    /// Labels the object must carry, all of them.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Fields, as JSON pointers (`/spec/replicas`).
    #[serde(default)]
    pub json_pointers: Vec<String>,
    /// Every field these managers own in `managedFields`.
    #[serde(default)]
    pub managed_fields_managers: Vec<String>,
}

impl IgnoreRule {
    fn matches(&self, m: &Manifest) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&self.group, &m.id.group)
            && eq(&self.kind, &m.id.kind)
            && eq(&self.name, &m.id.name)
            && eq(
                &self.namespace,
                m.id.namespace.as_deref().unwrap_or_default(),
            )
            && self.labels.iter().all(|(k, v)| {
                m.value
                    .pointer(&format!("/metadata/labels/{}", pointer_token(k)))
                    .and_then(Value::as_str)
                    == Some(v.as_str())
            })
    }
}

/// Adds the fields of every rule matching each manifest to its [`Ignore`].
pub fn apply_rules(manifests: &mut [Manifest], rules: &[IgnoreRule]) {
    for m in manifests.iter_mut() {
        let matching: Vec<&IgnoreRule> = rules.iter().filter(|r| r.matches(m)).collect();
        for rule in matching {
            m.ignore.pointers.extend(rule.json_pointers.iter().cloned());
            m.ignore
                .managers
                .extend(rule.managed_fields_managers.iter().cloned());
        }
    }
}

/// Every pointer `ignore` names for the object `live`: its own, and the
/// fields its managers own there.
pub fn pointers(ignore: &Ignore, live: &Value) -> Vec<String> {
    let mut out = ignore.pointers.clone();
    if ignore.managers.is_empty() {
        return out;
    }
    let entries = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for e in entries {
        let manager = e.get("manager").and_then(Value::as_str).unwrap_or_default();
        if ignore.managers.iter().any(|m| m == manager)
            && let Some(fields) = e.get("fieldsV1")
        {
            owned_pointers(fields, "", &mut out);
        }
    }
    out
}

/// The JSON pointers of a FieldsV1 set. A list item (`k:`, `v:`, `i:`)
/// stands for its whole list: coarser, never finer, than what is owned.
fn owned_pointers(fields: &Value, at: &str, out: &mut Vec<String>) {
    let Some(map) = fields.as_object() else {
        return;
    };
    if map.is_empty() || map.contains_key(".") {
        if !at.is_empty() {
            out.push(at.to_string());
        }
        if map.is_empty() {
            return;
        }
    }
    for (key, sub) in map {
        if let Some(field) = key.strip_prefix("f:") {
            let pointer = format!("{at}/{}", pointer_token(field));
            owned_pointers(sub, &pointer, out);
        } else if key != "." && !at.is_empty() {
            out.push(at.to_string());
        }
    }
}

/// `desired` with each of `pointers` given its value in `live`, or removed
/// where `live` has none.
pub fn fill_from_live(desired: &mut Value, live: &Value, pointers: &[String]) {
    for pointer in pointers {
        let Some((parent, last)) = pointer.rsplit_once('/') else {
            continue;
        };
        let key = crate::kinds::token_text(last).into_owned();
        let have = live.pointer(pointer).cloned();
        match (desired.pointer_mut(parent), have) {
            (Some(Value::Object(map)), Some(v)) => {
                map.insert(key, v);
            }
            (Some(Value::Object(map)), None) => {
                map.remove(&key);
            }
            (Some(Value::Array(items)), have) => {
                if let Ok(i) = key.parse::<usize>() {
                    match have {
                        Some(v) if i < items.len() => items[i] = v,
                        None if i < items.len() => {
                            items.remove(i);
                        }
                        _ => {}
                    }
                }
            }
            (None, Some(v)) => {
                // The parent is absent in Git: make it, so the live value
                // is kept.
                set(desired, pointer, v);
            }
            _ => {}
        }
    }
}

/// Sets `pointer` in `value`, making the objects on the way.
fn set(value: &mut Value, pointer: &str, v: Value) {
    let mut at = value;
    let parts: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|p| crate::kinds::token_text(p).into_owned())
        .collect();
    for (i, part) in parts.iter().enumerate() {
        let Some(map) = at.as_object_mut() else {
            return;
        };
        if i + 1 == parts.len() {
            map.insert(part.clone(), v);
            return;
        }
        at = map
            .entry(part.clone())
            .or_insert_with(|| Value::Object(Default::default()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ignored_fields_take_the_live_value() {
        let mut desired = json!({"spec": {"replicas": 3, "template": {"x": 1}}});
        let live = json!({"spec": {"replicas": 7, "template": {"x": 1}},
            "metadata": {"annotations": {"a/b": "live"}}});
        fill_from_live(
            &mut desired,
            &live,
            &[
                "/spec/replicas".into(),
                "/spec/absent".into(),
                "/metadata/annotations/a~1b".into(),
            ],
        );
        assert_eq!(
            desired,
            json!({"spec": {"replicas": 7, "template": {"x": 1}}, "metadata": {"annotations": {"a/b": "live"}}})
        );
        let mut gone = json!({"spec": {"replicas": 3}});
        fill_from_live(&mut gone, &json!({"spec": {}}), &["/spec/replicas".into()]);
        assert_eq!(gone, json!({"spec": {}}));
    }

    #[test]
    fn a_managers_fields_become_pointers() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "hpa", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "injector", "fieldsV1": {"f:spec": {"f:containers": {"k:{\"name\":\"sidecar\"}": {".": {}}}}}},
            {"manager": "mooring", "fieldsV1": {"f:spec": {"f:paused": {}}}},
        ]}});
        let ignore = Ignore {
            pointers: vec!["/metadata/labels/x".into()],
            managers: vec!["hpa".into(), "injector".into()],
        };
        assert_eq!(
            pointers(&ignore, &live),
            ["/metadata/labels/x", "/spec/replicas", "/spec/containers"]
        );
    }
}
