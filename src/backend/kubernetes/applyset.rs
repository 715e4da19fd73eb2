//! The inventory of what one source applied to a cluster, kept as the
//! Kubernetes ApplySet convention defines it (KEP-3659, what `kubectl apply
//! --prune --applyset` reads):
//!
//! - a **parent** object per source: a Secret (`mooring-<source>` in the
//!   target's inventory namespace, `default` unless configured), labelled
//!   `applyset.kubernetes.io/id: <id>`, where the id is derived from the
//!   parent's own name, namespace, kind and group, so it cannot be
//!   chosen (or borrowed) by hand;
//! - every **member** labelled `applyset.kubernetes.io/part-of: <id>`;
//! - the parent's **record**: the group-kinds
//!   (`applyset.kubernetes.io/contains-group-kinds`) and the namespaces
//!   besides its own (`applyset.kubernetes.io/additional-namespaces`) the
//!   source has members in, so that prune lists exactly those kinds, also
//!   after the last object of a kind left Git;
//! - `applyset.kubernetes.io/tooling: mooring/<version>`: a set another
//!   tool manages is refused, as the convention asks.
//!
//! The record is widened before anything is applied and narrowed after
//! the prune ([`Record::widened`], then the record of what remains), so
//! that at every moment it names every kind a member may have.
//!
//! This file is pure: names, the id, and reading and writing the record.
//! The requests are made by `observe` (read the parent) and `inventory`
//! (write it).

use std::collections::BTreeSet;
use std::fmt;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Label of a member, naming its set's id.
pub const PART_OF_LABEL: &str = "applyset.kubernetes.io/part-of";
/// Label of the parent, holding the set's id.
pub const ID_LABEL: &str = "applyset.kubernetes.io/id";
/// Annotation of the parent naming the tool that manages the set.
pub const TOOLING_ANNOTATION: &str = "applyset.kubernetes.io/tooling";
/// Annotation of the parent: the members' group-kinds, `Kind.group`
/// (`Kind` alone for the core group), sorted, comma-separated.
pub const GROUP_KINDS_ANNOTATION: &str = "applyset.kubernetes.io/contains-group-kinds";
/// Annotation of the parent: the members' namespaces other than the
/// parent's own, sorted, comma-separated.
pub const NAMESPACES_ANNOTATION: &str = "applyset.kubernetes.io/additional-namespaces";

/// The tool name in [`TOOLING_ANNOTATION`]; the value is `mooring/vX.Y.Z`.
const TOOL: &str = "mooring";
/// The parent's kind (core group).
pub const PARENT_KIND: &str = "Secret";
/// The parent's name is this prefix and the source's name.
const PARENT_PREFIX: &str = "mooring-";

/// A kind without its version, as the record holds it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKind {
    pub group: String,
    pub kind: String,
}

impl fmt::Display for GroupKind {
    /// `Kind.group`, or `Kind` for the core group: the convention's form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.kind)
        } else {
            write!(f, "{}.{}", self.kind, self.group)
        }
    }
}

impl GroupKind {
    pub fn new(group: &str, kind: &str) -> GroupKind {
        GroupKind {
            group: group.to_string(),
            kind: kind.to_string(),
        }
    }

    /// Reads `Kind.group` (the group is everything after the first dot).
    fn parse(text: &str) -> Option<GroupKind> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        Some(match text.split_once('.') {
            Some((kind, group)) => GroupKind::new(group, kind),
            None => GroupKind::new("", text),
        })
    }
}

/// Which kinds and namespaces a set has (or may have) members in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub group_kinds: BTreeSet<GroupKind>,
    /// Every namespace a member is in (the parent's own included; it is
    /// left out of the annotation, as the convention asks).
    pub namespaces: BTreeSet<String>,
}

impl Record {
    /// Adds one member's kind and namespace.
    pub fn add(&mut self, group: &str, kind: &str, namespace: Option<&str>) {
        self.group_kinds.insert(GroupKind::new(group, kind));
        if let Some(ns) = namespace {
            self.namespaces.insert(ns.to_string());
        }
    }

    /// This record and `other` together.
    pub fn widened(&self, other: &Record) -> Record {
        Record {
            group_kinds: self
                .group_kinds
                .union(&other.group_kinds)
                .cloned()
                .collect(),
            namespaces: self.namespaces.union(&other.namespaces).cloned().collect(),
        }
    }

    /// Whether every kind and namespace of `other` is already here.
    pub fn covers(&self, other: &Record) -> bool {
        other.group_kinds.is_subset(&self.group_kinds)
            && other.namespaces.is_subset(&self.namespaces)
    }
}

/// The set of one source on one cluster: where its parent is and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplySet {
    pub name: String,
    pub namespace: String,
    pub id: String,
}

/// Why a live parent cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParentError {
    #[error(
        "the ApplySet parent Secret {namespace}/{name} is managed by `{tooling}`, not mooring: \
         mooring does not change or prune another tool's set; give this source another name \
         (source.name / --source-name) or move the set to mooring by hand"
    )]
    OtherTool {
        namespace: String,
        name: String,
        tooling: String,
    },
    #[error(
        "the Secret {namespace}/{name} is not this source's ApplySet parent (its \
         applyset.kubernetes.io/id label is {found:?}, expected {expected}): it was made or \
         changed by hand; remove it or give this source another name"
    )]
    WrongId {
        namespace: String,
        name: String,
        found: Option<String>,
        expected: String,
    },
}

impl ApplySet {
    /// The set of the source named `source` (a label value), its parent in
    /// `namespace`.
    pub fn for_source(source: &str, namespace: &str) -> ApplySet {
        let name = parent_name(source);
        let id = id(&name, namespace, PARENT_KIND, "");
        ApplySet {
            name,
            namespace: namespace.to_string(),
            id,
        }
    }

    /// The record of a live parent (`None`: there is none yet), after
    /// checking it is this set's and mooring's.
    pub fn read(&self, parent: Option<&Value>) -> Result<Option<Record>, ParentError> {
        let Some(parent) = parent else {
            return Ok(None);
        };
        let meta = parent.get("metadata");
        let found = meta
            .and_then(|m| m.get("labels"))
            .and_then(|l| l.get(ID_LABEL))
            .and_then(Value::as_str);
        if found != Some(self.id.as_str()) {
            return Err(ParentError::WrongId {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                found: found.map(str::to_string),
                expected: self.id.clone(),
            });
        }
        let annotations = meta.and_then(|m| m.get("annotations"));
        let annotation = |key: &str| {
            annotations
                .and_then(|a| a.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let tooling = annotation(TOOLING_ANNOTATION);
        if !tooling.is_empty() && tooling.split('/').next() != Some(TOOL) {
            return Err(ParentError::OtherTool {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                tooling: tooling.to_string(),
            });
        }
        let mut namespaces: BTreeSet<String> = annotation(NAMESPACES_ANNOTATION)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        namespaces.insert(self.namespace.clone());
        Ok(Some(Record {
            group_kinds: annotation(GROUP_KINDS_ANNOTATION)
                .split(',')
                .filter_map(GroupKind::parse)
                .collect(),
            namespaces,
        }))
    }

    /// The parent as it is applied (server-side apply), holding `record`.
    /// `source` is the source's name, for the `mooring.dev/source` label.
    pub fn parent(&self, source: &str, record: &Record) -> Value {
        // Sorted as text, as the convention asks (not by group first).
        let mut kinds: Vec<String> = record.group_kinds.iter().map(ToString::to_string).collect();
        kinds.sort();
        let namespaces: Vec<&str> = record
            .namespaces
            .iter()
            .map(String::as_str)
            .filter(|ns| *ns != self.namespace)
            .collect();
        let mut annotations = Map::new();
        annotations.insert(
            TOOLING_ANNOTATION.into(),
            format!("{TOOL}/v{}", env!("CARGO_PKG_VERSION")).into(),
        );
        annotations.insert(GROUP_KINDS_ANNOTATION.into(), kinds.join(",").into());
        annotations.insert(NAMESPACES_ANNOTATION.into(), namespaces.join(",").into());
        json!({
            "apiVersion": "v1",
            "kind": PARENT_KIND,
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {
                    ID_LABEL: self.id,
                    crate::backend::MANAGED_BY_LABEL: crate::backend::MANAGED_BY_VALUE,
                    crate::backend::SOURCE_LABEL: source,
                },
                "annotations": annotations,
            },
            "type": "Opaque",
        })
    }
}

/// The id the convention derives from a parent's name, namespace, kind and
/// group: `applyset-` + base64url (no padding) of the SHA-256 of
/// `name.namespace.kind.group` + `-v1`.
pub fn id(name: &str, namespace: &str, kind: &str, group: &str) -> String {
    let digest = Sha256::digest(format!("{name}.{namespace}.{kind}.{group}").as_bytes());
    format!(
        "applyset-{}-v1",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// The parent Secret's name for a source: `mooring-` and the source's name
/// made a DNS subdomain (lower case, `_` as `-`), with a short hash of the
/// exact name when that changed it, so `Team_A` and `team-a` do not share
/// a parent.
pub fn parent_name(source: &str) -> String {
    let cleaned: String = source
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '.' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    if cleaned == source {
        format!("{PARENT_PREFIX}{cleaned}")
    } else {
        let digest = Sha256::digest(source.as_bytes());
        format!(
            "{PARENT_PREFIX}{}-{}",
            cleaned.trim_end_matches(['-', '.']),
            &hex::encode(digest)[..8]
        )
    }
}

/// Whether the managed fields of a live object have an entry of `manager`
/// made by a server-side apply: the proof that mooring applied it, which
/// labels alone (anyone can copy them) are not.
pub fn applied_by(object: &Value, manager: &str) -> bool {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_some_and(|entries| {
            entries.iter().any(|e| {
                e.get("manager").and_then(Value::as_str) == Some(manager)
                    && e.get("operation").and_then(Value::as_str) == Some("Apply")
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_the_conventions_hash_of_the_parent() {
        // sha256("mooring-team-a.default.Secret.") in base64url, computed
        // independently with coreutils:
        // printf 'mooring-team-a.default.Secret.' | sha256sum | xxd -r -p | base64 | tr '+/' '-_' | tr -d =
        let set = ApplySet::for_source("team-a", "default");
        assert_eq!(set.name, "mooring-team-a");
        assert_eq!(
            set.id,
            "applyset--x4MjdKBHPRP7rP8w5XDEf04YqgezHIjhE9KjP_DmGU-v1"
        );
        assert!(set.id.starts_with("applyset-") && set.id.ends_with("-v1"));
        assert!(set.id.len() <= 63, "a label value: {}", set.id);
        assert!(!set.id.contains(['+', '/', '=']));
        // Another namespace, another set.
        assert_ne!(set.id, ApplySet::for_source("team-a", "ops").id);
    }

    #[test]
    fn parent_names_are_dns_names_and_never_shared() {
        assert_eq!(parent_name("team-a"), "mooring-team-a");
        let upper = parent_name("Team_A");
        assert!(upper.starts_with("mooring-team-a-"), "{upper}");
        assert_ne!(upper, parent_name("team-a"));
        assert_ne!(parent_name("Team_A"), parent_name("team_a"));
    }

    #[test]
    fn the_record_round_trips_through_the_parent() {
        let set = ApplySet::for_source("team-a", "default");
        let mut record = Record::default();
        record.add("apps", "Deployment", Some("shop"));
        record.add("", "Namespace", None);
        record.add("", "ConfigMap", Some("default"));
        record.add("apiextensions.k8s.io", "CustomResourceDefinition", None);
        let parent = set.parent("team-a", &record);
        let a = &parent["metadata"]["annotations"];
        assert_eq!(
            a[GROUP_KINDS_ANNOTATION],
            "ConfigMap,CustomResourceDefinition.apiextensions.k8s.io,Deployment.apps,Namespace"
        );
        // The parent's own namespace is not "additional".
        assert_eq!(a[NAMESPACES_ANNOTATION], "shop");
        assert_eq!(parent["metadata"]["labels"][ID_LABEL], set.id.as_str());
        assert!(
            a[TOOLING_ANNOTATION]
                .as_str()
                .unwrap()
                .starts_with("mooring/v")
        );
        assert_eq!(set.read(Some(&parent)).unwrap(), Some(record));
        assert_eq!(set.read(None).unwrap(), None);
    }

    #[test]
    fn another_tools_or_a_hand_made_parent_is_refused() {
        let set = ApplySet::for_source("team-a", "default");
        let mut parent = set.parent("team-a", &Record::default());
        parent["metadata"]["annotations"][TOOLING_ANNOTATION] = "kubectl/v1.37.2".into();
        assert!(matches!(
            set.read(Some(&parent)),
            Err(ParentError::OtherTool { .. })
        ));
        let mut parent = set.parent("team-a", &Record::default());
        parent["metadata"]["labels"][ID_LABEL] = "applyset-made-up-v1".into();
        let err = set.read(Some(&parent)).unwrap_err();
        assert!(
            err.to_string()
                .contains("not this source's ApplySet parent"),
            "{err}"
        );
    }

    #[test]
    fn widening_and_covering() {
        let mut a = Record::default();
        a.add("apps", "Deployment", Some("x"));
        let mut b = Record::default();
        b.add("", "Service", Some("y"));
        let w = a.widened(&b);
        assert!(w.covers(&a) && w.covers(&b) && !a.covers(&b));
        assert_eq!(w.group_kinds.len(), 2);
        assert_eq!(w.namespaces.len(), 2);
    }

    #[test]
    fn only_an_apply_entry_of_the_manager_proves_it_applied() {
        let object = |manager: &str, operation: &str| {
            json!({"metadata": {"managedFields": [
                {"manager": manager, "operation": operation, "fieldsV1": {}}
            ]}})
        };
        assert!(applied_by(&object("mooring", "Apply"), "mooring"));
        assert!(!applied_by(&object("mooring", "Update"), "mooring"));
        assert!(!applied_by(&object("kubectl", "Apply"), "mooring"));
        assert!(!applied_by(&json!({"metadata": {}}), "mooring"));
    }
}
