//! What is secret, and how it is masked in plan output, the way
//! `kubectl diff` does it: every value becomes `***`; when a value changed,
//! the two sides become `*** (before)` and `*** (after)`, so a reviewer sees
//! *that* a secret changed but never *what* it is.
//!
//! [`is_secret`] is also what the validator asks before it quotes a value in
//! a message.

use serde_json::Value;

use crate::manifest::ObjectId;

/// Top-level fields of a Secret that are not secret; every other one is,
/// whatever its shape (`data`, `stringData`, and any typo of them).
const SECRET_PUBLIC_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "type", "immutable"];

/// Other secret subtrees: (API group, kind, JSON pointer).
const SECRET_SUBTREES: &[(&str, &str, &str)] = &[
    // The metadata service's values (cloud-init user data, tokens).
    ("flintlock.liquidmetal.dev", "MicroVM", "/spec/metadata"),
];

fn is_secret_kind(group: &str, kind: &str) -> bool {
    group.is_empty() && kind == "Secret"
}

/// Secret-bearing parts of a Secret's public `metadata`: `kubectl apply`
/// keeps the whole object, data included, in this annotation.
const SECRET_METADATA: &[&str] =
    &["/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"];

/// The pointers of the secret subtrees present in either value.
fn secret_roots(group: &str, kind: &str, values: &[&Value]) -> Vec<String> {
    let mut roots: Vec<String> = Vec::new();
    if is_secret_kind(group, kind) {
        for v in values {
            if let Value::Object(map) = v {
                for k in map.keys() {
                    let p = format!("/{}", k.replace('~', "~0").replace('/', "~1"));
                    if !SECRET_PUBLIC_FIELDS.contains(&k.as_str()) && !roots.contains(&p) {
                        roots.push(p);
                    }
                }
            }
        }
        roots.extend(SECRET_METADATA.iter().map(|p| p.to_string()));
    }
    for (g, k, p) in SECRET_SUBTREES {
        if *g == group && *k == kind {
            roots.push((*p).to_string());
        }
    }
    roots
}

/// Whether the value at `pointer` of an object of this kind is secret.
pub fn is_secret(group: &str, kind: &str, pointer: &str) -> bool {
    if is_secret_kind(group, kind) {
        let top = pointer.split('/').nth(1).unwrap_or("");
        return (!top.is_empty() && !SECRET_PUBLIC_FIELDS.contains(&top))
            || SECRET_METADATA
                .iter()
                .any(|p| pointer == *p || pointer.starts_with(&format!("{p}/")));
    }
    SECRET_SUBTREES.iter().any(|(g, k, p)| {
        *g == group && *k == kind && (pointer == *p || pointer.starts_with(&format!("{p}/")))
    })
}

fn marker(changed: bool, side: &str) -> Value {
    Value::String(if changed {
        format!("*** ({side})")
    } else {
        "***".to_string()
    })
}

/// Returns both sides with secret values masked consistently.
pub fn mask_pair(id: &ObjectId, old: &Value, new: &Value) -> (Value, Value) {
    let roots = secret_roots(&id.group, &id.kind, &[old, new]);
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
        assert!(is_secret(
            "",
            "Secret",
            "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"
        ));
    }

    #[test]
    fn secret_pointers() {
        assert!(is_secret("", "Secret", "/data/token"));
        assert!(is_secret("", "Secret", "/stringdata"));
        assert!(!is_secret("", "Secret", "/metadata/name"));
        assert!(!is_secret("", "ConfigMap", "/data/x"));
        assert!(is_secret(
            "flintlock.liquidmetal.dev",
            "MicroVM",
            "/spec/metadata/user-data"
        ));
        assert!(!is_secret(
            "flintlock.liquidmetal.dev",
            "MicroVM",
            "/spec/metadataX"
        ));
    }
}
