//! The plan: what would change if the desired manifests were applied over
//! the current ones.
//!
//! [`plan`] is a pure function of two sets of manifests: it performs no I/O,
//! so the same code plans a Git-to-Git diff for a pull request and (with a
//! backend supplying the current side) a diff against live state.

pub mod mask;
pub mod render;
pub mod yaml;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::manifest::{Manifest, ObjectId};

/// What happens to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
    Unchanged,
}

impl Action {
    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Unchanged => "unchanged",
        }
    }

    pub fn symbol(self) -> char {
        match self {
            Action::Create => '+',
            Action::Update => '~',
            Action::Delete => '-',
            Action::Unchanged => '=',
        }
    }
}

/// One object's line in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub action: Action,
    pub id: ObjectId,
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Where the object is declared (the desired side; the current side for
    /// deletions).
    pub file: String,
    pub line: usize,
    /// Unified diff of the normalized, masked YAML; empty when unchanged.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub diff: String,
}

/// Counts of a plan, by action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub unchanged: usize,
}

impl Summary {
    pub fn changes(&self) -> usize {
        self.create + self.update + self.delete
    }
}

/// Every object's change, sorted by identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub summary: Summary,
    pub changes: Vec<Change>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.summary.changes() > 0
    }
}

/// The object as compared: without `status` (never applied) and without
/// null fields (absent and null mean the same to an API server), with keys
/// sorted.
pub fn normalize(value: &Value) -> Value {
    fn walk(v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let sorted: BTreeMap<&String, Value> = map
                    .iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k, walk(v)))
                    .collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(walk).collect()),
            other => other.clone(),
        }
    }
    let mut out = walk(value);
    if let Value::Object(map) = &mut out {
        map.remove("status");
    }
    out
}

/// [`normalize`], with the namespace written out as the identity has it, so
/// `namespace: default` and no namespace (or Flintlock's `""`) compare equal.
fn normalize_object(id: &ObjectId, value: &Value) -> Value {
    let mut out = normalize(value);
    if let Some(ns) = &id.namespace
        && let Some(Value::Object(meta)) = out.get_mut("metadata")
    {
        meta.insert("namespace".to_string(), Value::String(ns.clone()));
    }
    out
}

/// Plans `desired` over `current`.
pub fn plan(desired: &[Manifest], current: &[Manifest]) -> Plan {
    let current_by_id: BTreeMap<&ObjectId, &Manifest> =
        current.iter().map(|m| (&m.id, m)).collect();
    let desired_by_id: BTreeMap<&ObjectId, &Manifest> =
        desired.iter().map(|m| (&m.id, m)).collect();
    let mut changes = Vec::new();
    for (id, want) in &desired_by_id {
        let new = normalize_object(id, &want.value);
        let (action, old) = match current_by_id.get(id) {
            None => (Action::Create, None),
            Some(have) => {
                let old = normalize_object(id, &have.value);
                if old == new {
                    (Action::Unchanged, Some(old))
                } else {
                    (Action::Update, Some(old))
                }
            }
        };
        let diff = if action == Action::Unchanged {
            String::new()
        } else {
            diff(id, &want.id, old.as_ref(), Some(&new))
        };
        changes.push(Change {
            action,
            id: (*id).clone(),
            api_version: want.api_version.clone(),
            file: want.file.clone(),
            line: want.line,
            diff,
        });
    }
    for (id, have) in &current_by_id {
        if desired_by_id.contains_key(id) {
            continue;
        }
        let old = normalize_object(id, &have.value);
        changes.push(Change {
            action: Action::Delete,
            id: (*id).clone(),
            api_version: have.api_version.clone(),
            file: have.file.clone(),
            line: have.line,
            diff: diff(id, id, Some(&old), None),
        });
    }
    changes.sort_by(|a, b| a.id.cmp(&b.id));
    let mut summary = Summary::default();
    for c in &changes {
        match c.action {
            Action::Create => summary.create += 1,
            Action::Update => summary.update += 1,
            Action::Delete => summary.delete += 1,
            Action::Unchanged => summary.unchanged += 1,
        }
    }
    Plan { summary, changes }
}

fn diff(id: &ObjectId, new_id: &ObjectId, old: Option<&Value>, new: Option<&Value>) -> String {
    let empty = Value::Object(Map::new());
    let (old_masked, new_masked) =
        mask::mask_pair(id, old.unwrap_or(&empty), new.unwrap_or(&empty));
    let old_text = old.map(|_| yaml::to_yaml(&old_masked)).unwrap_or_default();
    let new_text = new.map(|_| yaml::to_yaml(&new_masked)).unwrap_or_default();
    similar::TextDiff::from_lines(&old_text, &new_text)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{id}"), &format!("b/{new_id}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Limits, SourceFile, load};

    fn manifests(text: &str) -> Vec<Manifest> {
        let loaded = load(
            &[SourceFile {
                path: "m.yaml".into(),
                rel: "m.yaml".into(),
                bytes: text.as_bytes().to_vec(),
            }],
            &Limits::default(),
        );
        assert!(loaded.findings.is_empty(), "{:?}", loaded.findings);
        loaded.manifests
    }

    #[test]
    fn status_nulls_and_key_order_are_not_changes() {
        let a = manifests(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: '1', y: '2'}\n",
        );
        let b = manifests(
            "kind: ConfigMap\napiVersion: v1\nmetadata: {name: a, labels: null}\ndata: {y: '2', x: '1'}\nstatus: {ok: true}\n",
        );
        let p = plan(&b, &a);
        assert_eq!(
            p.summary,
            Summary {
                unchanged: 1,
                ..Summary::default()
            }
        );
        assert!(!p.has_changes());
    }

    #[test]
    fn an_explicit_default_namespace_is_no_change() {
        let a = manifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n");
        let b =
            manifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: default}\n");
        assert!(!plan(&b, &a).has_changes());
    }

    #[test]
    fn creates_updates_and_deletes_are_counted_and_diffed() {
        let old = manifests(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: '1'}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: gone}\n",
        );
        let new = manifests(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: '2'}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: fresh}\n",
        );
        let p = plan(&new, &old);
        assert_eq!(
            p.summary,
            Summary {
                create: 1,
                update: 1,
                delete: 1,
                unchanged: 0
            }
        );
        let update = p
            .changes
            .iter()
            .find(|c| c.action == Action::Update)
            .unwrap();
        assert!(
            update.diff.contains("-  x: \"1\"\n+  x: \"2\"\n"),
            "{}",
            update.diff
        );
        assert!(
            update
                .diff
                .starts_with("--- a/ConfigMap/default/a\n+++ b/ConfigMap/default/a\n")
        );
        let delete = p
            .changes
            .iter()
            .find(|c| c.action == Action::Delete)
            .unwrap();
        assert!(delete.diff.contains("-kind: ConfigMap"), "{}", delete.diff);
    }
}
