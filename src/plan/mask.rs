//! Masking of secret values in plan output, the way `kubectl diff` does it:
//! every value becomes `***`; when a value changed, the two sides become
//! `*** (before)` and `*** (after)`, so a reviewer sees *that* a secret
//! changed but never *what* it is.

use serde_json::Value;

use crate::manifest::ObjectId;

/// Maps whose values are secret: (API group, kind, JSON pointer).
const SECRET_MAPS: &[(&str, &str, &str)] = &[
    ("", "Secret", "/data"),
    ("", "Secret", "/stringData"),
    // The metadata service's values (cloud-init user data, tokens).
    ("flintlock.liquidmetal.dev", "MicroVM", "/spec/metadata"),
];

/// Returns both sides with secret values masked consistently.
pub fn mask_pair(id: &ObjectId, old: &Value, new: &Value) -> (Value, Value) {
    let (mut old, mut new) = (old.clone(), new.clone());
    for (group, kind, pointer) in SECRET_MAPS {
        if id.group != *group || id.kind != *kind {
            continue;
        }
        let before = old.pointer(pointer).cloned();
        let after = new.pointer(pointer).cloned();
        if let Some(Value::Object(map)) = old.pointer_mut(pointer) {
            for (k, v) in map.iter_mut() {
                let changed = after
                    .as_ref()
                    .and_then(|a| a.get(k))
                    .is_some_and(|a| a != v);
                *v = Value::String(if changed { "*** (before)" } else { "***" }.into());
            }
        }
        if let Some(Value::Object(map)) = new.pointer_mut(pointer) {
            for (k, v) in map.iter_mut() {
                let changed = before
                    .as_ref()
                    .and_then(|b| b.get(k))
                    .is_some_and(|b| b != v);
                *v = Value::String(if changed { "*** (after)" } else { "***" }.into());
            }
        }
    }
    (old, new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_and_unchanged_secrets_are_told_apart_but_never_shown() {
        let id = ObjectId {
            group: String::new(),
            kind: "Secret".into(),
            namespace: Some("default".into()),
            name: "s".into(),
        };
        let (old, new) = mask_pair(
            &id,
            &json!({"data": {"a": "c2VjcmV0", "b": "eA=="}}),
            &json!({"data": {"a": "bmV3", "b": "eA==", "c": "eQ=="}}),
        );
        assert_eq!(old, json!({"data": {"a": "*** (before)", "b": "***"}}));
        assert_eq!(
            new,
            json!({"data": {"a": "*** (after)", "b": "***", "c": "***"}})
        );
    }
}
