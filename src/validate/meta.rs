//! The checks the Kubernetes API server makes on every object's metadata
//! and on ConfigMap and Secret contents, made offline so `validate` finds
//! what `apply` would be refused for:
//! - the name, as the kind's validation wants it: a DNS-1123 subdomain for
//!   most kinds, a DNS-1123 label for a Namespace, a DNS-1035 label for a
//!   Service, a path segment for RBAC kinds, `<plural>.<group>` for a
//!   CustomResourceDefinition;
//! - the namespace, a DNS-1123 label;
//! - label keys and values, annotation keys and the annotations' total size;
//! - ConfigMap and Secret keys, and their 1 MiB size limit.
//!
//! Each problem is a (JSON pointer, message) pair; the validator turns it
//! into a finding at the field's line.

use serde_json::Value;

use crate::kinds::pointer_token;

/// The largest ConfigMap or Secret the API server stores (`data` and
/// `binaryData`, or `data` and `stringData`, in bytes).
pub const MAX_DATA_BYTES: usize = 1024 * 1024;
/// The largest total size of an object's annotations (keys and values).
pub const MAX_ANNOTATION_BYTES: usize = 256 * 1024;

/// The rule an object name must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    Dns1123Subdomain,
    Dns1123Label,
    Dns1035Label,
    /// Anything but `.`, `..`, or a name with `/` or `%` (RBAC objects).
    PathSegment,
    /// `<spec.names.plural>.<spec.group>`.
    CrdName,
}

/// The name rule of a kind, as the API server's validation for it says.
pub fn name_rule(group: &str, kind: &str) -> NameRule {
    match (group, kind) {
        ("", "Namespace") => NameRule::Dns1123Label,
        ("", "Service") => NameRule::Dns1035Label,
        (
            "rbac.authorization.k8s.io",
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding",
        ) => NameRule::PathSegment,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => NameRule::CrdName,
        _ => NameRule::Dns1123Subdomain,
    }
}

/// Every metadata problem of an object of `group`/`kind`.
pub fn check(group: &str, kind: &str, value: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(meta) = value.get("metadata").and_then(Value::as_object) else {
        return out;
    };
    if let Some(name) = meta.get("name").and_then(Value::as_str)
        && let Some(problem) = name_problem(name_rule(group, kind), name, value)
    {
        out.push(("/metadata/name".to_string(), problem));
    }
    if let Some(ns) = meta.get("namespace").and_then(Value::as_str)
        && !ns.is_empty()
        && !is_dns1123_label(ns)
    {
        out.push((
            "/metadata/namespace".to_string(),
            format!("namespace {ns:?} is not {LABEL_WORDS}"),
        ));
    }
    if let Some(labels) = meta.get("labels").and_then(Value::as_object) {
        for (k, v) in labels {
            let at = || format!("/metadata/labels/{}", pointer_token(k));
            if let Some(p) = qualified_name_problem(k) {
                out.push((at(), format!("label key {k:?} {p}")));
            }
            if let Some(v) = v.as_str()
                && !is_label_value(v)
            {
                out.push((
                    at(),
                    format!(
                        "label value {v:?} is not valid: at most 63 characters, letters, \
                         digits, '-', '_' and '.', starting and ending with a letter or \
                         digit (or empty)"
                    ),
                ));
            }
        }
    }
    if let Some(annotations) = meta.get("annotations").and_then(Value::as_object) {
        let mut total = 0;
        for (k, v) in annotations {
            total += k.len() + v.as_str().map_or(0, str::len);
            let lower = if k.bytes().any(|b| b.is_ascii_uppercase()) {
                std::borrow::Cow::Owned(k.to_ascii_lowercase())
            } else {
                std::borrow::Cow::Borrowed(k.as_str())
            };
            if let Some(p) = qualified_name_problem(&lower) {
                out.push((
                    format!("/metadata/annotations/{}", pointer_token(k)),
                    format!("annotation key {k:?} {p}"),
                ));
            }
        }
        if total > MAX_ANNOTATION_BYTES {
            out.push((
                "/metadata/annotations".to_string(),
                format!(
                    "annotations total {total} bytes, over the API server's limit of \
                     {MAX_ANNOTATION_BYTES} (256 KiB)"
                ),
            ));
        }
    }
    if group.is_empty() && matches!(kind, "ConfigMap" | "Secret") {
        data_problems(kind, value, &mut out);
    }
    out
}

const LABEL_WORDS: &str = "a DNS-1123 label: at most 63 lowercase letters, digits and '-', \
                           starting and ending with a letter or digit";
const SUBDOMAIN_WORDS: &str = "a DNS-1123 subdomain: at most 253 lowercase letters, digits, '-' \
                               and '.', each dot-separated part starting and ending with a \
                               letter or digit";

fn name_problem(rule: NameRule, name: &str, value: &Value) -> Option<String> {
    match rule {
        NameRule::Dns1123Subdomain if !is_dns1123_subdomain(name) => {
            Some(format!("name {name:?} is not {SUBDOMAIN_WORDS}"))
        }
        NameRule::Dns1123Label if !is_dns1123_label(name) => Some(format!(
            "name {name:?} is not {LABEL_WORDS} (a Namespace name has no dots)"
        )),
        NameRule::Dns1035Label if !is_dns1035_label(name) => Some(format!(
            "name {name:?} is not a DNS-1035 label: at most 63 lowercase letters, digits \
             and '-', starting with a letter and ending with a letter or digit (a Service \
             name becomes a DNS name)"
        )),
        NameRule::PathSegment
            if name == "." || name == ".." || name.contains('/') || name.contains('%') =>
        {
            Some(format!(
                "name {name:?} may not be '.' or '..', nor contain '/' or '%'"
            ))
        }
        NameRule::CrdName => {
            let plural = value
                .pointer("/spec/names/plural")
                .and_then(Value::as_str)?;
            let group = value.pointer("/spec/group").and_then(Value::as_str)?;
            let want = format!("{plural}.{group}");
            (name != want).then(|| {
                format!(
                    "a CustomResourceDefinition must be named <spec.names.plural>.<spec.group>: \
                     {want:?}, not {name:?}"
                )
            })
        }
        _ => None,
    }
}

fn data_problems(kind: &str, value: &Value, out: &mut Vec<(String, String)>) {
    let fields: &[&str] = if kind == "ConfigMap" {
        &["data", "binaryData"]
    } else {
        &["data", "stringData"]
    };
    let mut total = 0;
    // ConfigMap keys may not be in both `data` and `binaryData`.
    let first = value.get(fields[0]).and_then(Value::as_object);
    for (i, field) in fields.iter().enumerate() {
        let Some(map) = value.get(*field).and_then(Value::as_object) else {
            continue;
        };
        for (k, v) in map {
            let at = || format!("/{field}/{}", pointer_token(k));
            if let Some(p) = config_key_problem(k) {
                out.push((at(), format!("key {k:?} {p}")));
            }
            if kind == "ConfigMap" && i == 1 && first.is_some_and(|f| f.contains_key(k)) {
                out.push((
                    at(),
                    format!("key {k:?} is in both data and binaryData: keep one"),
                ));
            }
            let len = v.as_str().map_or(0, str::len);
            // Secret `data` is base64: the server counts decoded bytes.
            total += if kind == "Secret" && *field == "data" {
                len / 4 * 3
            } else {
                len
            };
        }
    }
    if total > MAX_DATA_BYTES {
        out.push((
            format!("/{}", fields[0]),
            format!(
                "the {kind}'s data is {total} bytes, over the API server's limit of \
                 {MAX_DATA_BYTES} (1 MiB): split it, or mount the content another way"
            ),
        ));
    }
}

/// Why `key` is not a valid ConfigMap or Secret key, if it is not.
pub fn config_key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() || key.len() > 253 {
        Some("must be 1 to 253 characters long")
    } else if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        Some("may only hold letters, digits, '-', '_' and '.'")
    } else if key == "." || key == ".." || key.starts_with("..") {
        Some("may not be '.' or '..', nor start with '..'")
    } else {
        None
    }
}

/// Why `key` is not a qualified name (`[prefix/]name`), if it is not.
pub fn qualified_name_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && (p.is_empty() || !is_dns1123_subdomain(p))
    {
        return Some(format!("has a prefix {p:?} that is not {SUBDOMAIN_WORDS}"));
    }
    if name.is_empty() || name.len() > 63 || !is_label_value(name) || name.contains('/') {
        return Some(
            "is not a qualified name: an optional DNS subdomain prefix and '/', then at most \
             63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
                .to_string(),
        );
    }
    None
}

fn alnum_ends(s: &str, first: fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && first(b[0]) && b[b.len() - 1].is_ascii_alphanumeric()
}

pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63
        && alnum_ends(s, |c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

pub fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.')
            .all(|part| part.len() <= 63 && is_dns1123_label(part))
}

/// A label value: empty, or at most 63 characters of letters, digits,
/// `-`, `_` and `.`, starting and ending with a letter or digit.
pub fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && alnum_ends(s, |c| c.is_ascii_alphanumeric())
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(group: &str, kind: &str, value: Value) -> Vec<String> {
        check(group, kind, &value)
            .into_iter()
            .map(|(p, m)| format!("{p}: {m}"))
            .collect()
    }

    #[test]
    fn names_follow_the_kinds_rule() {
        let ns = problems("", "Namespace", json!({"metadata": {"name": "my.team"}}));
        assert_eq!(ns.len(), 1, "{ns:?}");
        assert!(ns[0].starts_with("/metadata/name: name \"my.team\" is not a DNS-1123 label"));
        assert!(problems("", "ConfigMap", json!({"metadata": {"name": "my.team"}})).is_empty());
        assert_eq!(
            problems("", "Service", json!({"metadata": {"name": "1web"}})).len(),
            1
        );
        assert!(
            problems(
                "rbac.authorization.k8s.io",
                "ClusterRole",
                json!({"metadata": {"name": "system:aggregate-to-view"}})
            )
            .is_empty()
        );
        let crd = |name: &str| {
            problems(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                json!({"metadata": {"name": name},
                       "spec": {"group": "example.com", "names": {"plural": "widgets"}}}),
            )
        };
        assert!(crd("widgets.example.com").is_empty());
        assert_eq!(crd("widget.example.com").len(), 1);
    }

    #[test]
    fn labels_annotations_and_keys() {
        let p = problems(
            "",
            "ConfigMap",
            json!({"metadata": {"name": "c", "namespace": "Apps",
                   "labels": {"bad label!": "x", "app.kubernetes.io/name": "-x", "ok": ""},
                   "annotations": {"Example.COM/Note": "fine", "a/b/c": "no"}},
                   "data": {"ok.key": "v", "bad/key": "v"},
                   "binaryData": {"ok.key": ""}}),
        );
        let at: Vec<&str> = p
            .iter()
            .map(|s| s.split(": ").next().unwrap_or(""))
            .collect();
        assert_eq!(
            at,
            [
                "/metadata/namespace",
                "/metadata/labels/app.kubernetes.io~1name",
                "/metadata/labels/bad label!",
                "/metadata/annotations/a~1b~1c",
                "/data/bad~1key",
                "/binaryData/ok.key",
            ],
            "{p:#?}"
        );
    }

    #[test]
    fn the_one_mebibyte_limit() {
        let big = "x".repeat(MAX_DATA_BYTES);
        let p = problems(
            "",
            "ConfigMap",
            json!({"metadata": {"name": "c"}, "data": {"a": big, "b": "y"}}),
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("over the API server's limit"), "{p:?}");
        let exact = "x".repeat(MAX_DATA_BYTES - 1);
        assert!(
            problems(
                "",
                "Secret",
                json!({"metadata": {"name": "s"}, "stringData": {"a": exact}})
            )
            .is_empty()
        );
    }
}
