//! How secrets are masked in plan output, the way `kubectl diff` does it:
//! every secret value becomes `***`; when a value changed, the two sides
//! become `*** (before)` and `*** (after)`, so a reviewer sees *that* a
//! secret changed but never *what* it is.
//!
//! What is secret is a kind fact ([`crate::kinds::SecretRule`]), which the
//! validator also asks before it quotes a value in a message.

use serde_json::Value;

use crate::kinds;
use crate::manifest::ObjectId;

fn marker(changed: bool, side: &str) -> Value {
    Value::String(if changed {
        format!("*** ({side})")
    } else {
        "***".to_string()
    })
}

/// Returns both sides with secret values masked consistently.
pub fn mask_pair(id: &ObjectId, old: &Value, new: &Value) -> (Value, Value) {
    let roots = kinds::facts(&id.group, &id.kind).secret.roots(&[old, new]);
    let (mut old, mut new) = (old.clone(), new.clone());
    for pointer in roots {
        let before = old.pointer(&pointer).cloned();
        let after = new.pointer(&pointer).cloned();
        mask_side(old.pointer_mut(&pointer), after.as_ref(), "before");
        mask_side(new.pointer_mut(&pointer), before.as_ref(), "after");
    }
    (old, new)
}

/// Masks one side: a map key by key (so added and removed keys still show),
/// anything else as a whole.
fn mask_side(value: Option<&mut Value>, other: Option<&Value>, side: &str) {
    let Some(value) = value else { return };
    match value {
        Value::Object(map) if other.is_none_or(Value::is_object) => {
            for (k, v) in map.iter_mut() {
                let changed = other.and_then(|o| o.get(k)).is_some_and(|o| o != v);
                *v = marker(changed, side);
            }
        }
        whole => {
            let changed = other.is_some_and(|o| o != whole);
            *whole = marker(changed, side);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret() -> ObjectId {
        ObjectId {
            group: String::new(),
            kind: "Secret".into(),
            namespace: Some("default".into()),
            name: "s".into(),
        }
    }

    #[test]
    fn changed_and_unchanged_secrets_are_told_apart_but_never_shown() {
        let (old, new) = mask_pair(
            &secret(),
            &json!({"data": {"a": "c2VjcmV0", "b": "eA=="}}),
            &json!({"data": {"a": "bmV3", "b": "eA==", "c": "eQ=="}}),
        );
        assert_eq!(old, json!({"data": {"a": "*** (before)", "b": "***"}}));
        assert_eq!(
            new,
            json!({"data": {"a": "*** (after)", "b": "***", "c": "***"}})
        );
    }

    #[test]
    fn every_secret_field_is_masked_whatever_its_shape() {
        let (old, new) = mask_pair(
            &secret(),
            &json!({"kind": "Secret", "stringData": "password=hunter2", "type": "Opaque"}),
            &json!({"kind": "Secret", "stringdata": {"password": "hunter2"}, "type": "Opaque"}),
        );
        assert_eq!(
            old,
            json!({"kind": "Secret", "stringData": "***", "type": "Opaque"})
        );
        assert_eq!(
            new,
            json!({"kind": "Secret", "stringdata": {"password": "***"}, "type": "Opaque"})
        );
    }

    #[test]
    fn kubectls_last_applied_copy_of_a_secret_is_masked() {
        let key = "kubectl.kubernetes.io/last-applied-configuration";
        let live = json!({"kind": "Secret", "metadata": {"name": "s", "annotations": {
            key: "{\"data\":{\"token\":\"aHVudGVyMg==\"}}", "team": "a"}}});
        let (old, _) = mask_pair(
            &secret(),
            &live,
            &json!({"kind": "Secret", "metadata": {"name": "s"}}),
        );
        assert_eq!(old["metadata"]["annotations"][key], "***");
        assert_eq!(old["metadata"]["annotations"]["team"], "a");
        assert_eq!(old["metadata"]["name"], "s");
        assert!(kinds::is_secret(
            "",
            "Secret",
            "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"
        ));
    }
}
