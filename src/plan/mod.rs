//! The plan: what would change if the desired manifests were applied over
//! the current ones.
//!
//! [`plan`] is a pure function of two sets of manifests: it performs no I/O,
//! so the same code plans a Git-to-Git diff for a pull request and (with a
//! backend supplying the current side) a diff against live state.

pub mod health;
pub mod ignore;
pub mod mask;
mod observed;
pub mod policy;
pub mod render;
pub mod yaml;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::manifest::{Manifest, ObjectId};

pub use observed::{Handle, Observed, UpdateStrategy};

/// What happens to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    /// Delete, then create (a target with no update, like Flintlock).
    Replace,
    Delete,
    Unchanged,
    /// Declared in Git for other objects to refer to, nothing to apply
    /// (Ignite Kernel, Image and Pool).
    Declared,
}

impl Action {
    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::Unchanged => "unchanged",
            Action::Declared => "declared",
        }
    }

    pub fn symbol(self) -> char {
        match self {
            Action::Create => '+',
            Action::Update => '~',
            Action::Replace => '±',
            Action::Delete => '-',
            Action::Unchanged => '=',
            Action::Declared => '·',
        }
    }

    /// Whether this action changes the target.
    pub fn is_change(self) -> bool {
        matches!(
            self,
            Action::Create | Action::Update | Action::Replace | Action::Delete
        )
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
    /// The backend that owns the object; empty in a Git-to-Git plan.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub backend: String,
    /// Why this change will not be carried out (e.g. a replace refused by
    /// `mooring.dev/replace: never`): it is drift to report, not to fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
    /// Facts worth showing with the object (health, lossy translation).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Where the live object is, for `apply` ([`Handle`]).
    #[serde(skip)]
    pub handle: Option<Handle>,
    /// The health of an object this plan leaves as it is, read by observe
    /// from the live object it listed, so the daemon's health check after
    /// a plan asks the target only about what changed (`None`: not read).
    #[serde(skip)]
    pub health: Option<health::Health>,
}

impl Change {
    /// Whether `apply` should carry this change out.
    pub fn is_actionable(&self) -> bool {
        self.action.is_change() && self.blocked.is_none()
    }

    /// Whether the object is meant to be live once the plan is carried
    /// out, so its health can be asked: not deleted, not held, and sent to
    /// a target (not only declared).
    pub fn stays_live(&self) -> bool {
        !matches!(self.action, Action::Delete | Action::Declared) && self.blocked.is_none()
    }
}

/// Counts of a plan, by action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub replace: usize,
    pub delete: usize,
    pub unchanged: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub declared: usize,
    /// Changes that will not be carried out (refused replaces).
    #[serde(skip_serializing_if = "is_zero")]
    pub blocked: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Summary {
    pub fn changes(&self) -> usize {
        self.create + self.update + self.replace + self.delete
    }

    fn count(&mut self, change: &Change) {
        match change.action {
            Action::Create => self.create += 1,
            Action::Update => self.update += 1,
            Action::Replace => self.replace += 1,
            Action::Delete => self.delete += 1,
            Action::Unchanged => self.unchanged += 1,
            Action::Declared => self.declared += 1,
        }
        if change.blocked.is_some() {
            self.blocked += 1;
        }
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

    /// A plan of these changes, sorted, with its summary.
    pub fn from_changes(mut changes: Vec<Change>) -> Plan {
        changes.sort_by(|a, b| a.id.cmp(&b.id).then_with(|| a.backend.cmp(&b.backend)));
        let mut summary = Summary::default();
        for c in &changes {
            summary.count(c);
        }
        Plan { summary, changes }
    }

    /// Both plans as one (e.g. one per backend).
    pub fn merge(self, other: Plan) -> Plan {
        let mut changes = self.changes;
        changes.extend(other.changes);
        Plan::from_changes(changes)
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

/// Plans `desired` over `current` (two Git revisions). Takes the manifests
/// by value: their values move into the plan's input instead of being
/// copied, which halves what a large repository costs to plan.
///
/// Each kind is planned as a target would apply it (the kind table's
/// facts), so the plan says what will really happen: a Flintlock microVM
/// whose spec changed is a replace (Flintlock has no update), and so is an
/// immutable ConfigMap or Secret whose data changed (refused with
/// `mooring.dev/replace: never`); Ignite Kernels, Images and Pools are
/// declared, with nothing to apply.
pub fn plan(desired: Vec<Manifest>, current: Vec<Manifest>) -> Plan {
    let mut observed = pair(desired, current);
    for o in &mut observed {
        let facts = crate::kinds::facts(&o.id.group, &o.id.kind);
        let replaced = facts.target == crate::kinds::Target::Flintlock
            || (is_immutable(o.live.as_ref())
                && is_immutable(o.desired.as_ref())
                && data_of(o.live.as_ref()) != data_of(o.desired.as_ref()));
        if replaced {
            o.update = if policy::replace_never(o.desired.as_ref()) {
                UpdateStrategy::Refused(format!(
                    "{}: never forbids replacing it",
                    policy::REPLACE_ANNOTATION
                ))
            } else {
                UpdateStrategy::Replace
            };
        }
    }
    let mut planned = plan_observed("", observed);
    let mut declared = false;
    for c in &mut planned.changes {
        let facts = crate::kinds::facts(&c.id.group, &c.id.kind);
        if facts.target == crate::kinds::Target::DeclarationOnly && c.action != Action::Delete {
            c.action = Action::Declared;
            c.diff.clear();
            declared = true;
        }
    }
    if declared {
        planned = Plan::from_changes(planned.changes);
    }
    planned
}

/// Whether an object says `immutable: true` (a ConfigMap or Secret).
fn is_immutable(object: Option<&Value>) -> bool {
    object
        .and_then(|o| o.get("immutable"))
        .and_then(Value::as_bool)
        == Some(true)
}

/// An immutable object's data: what cannot change in place.
fn data_of(object: Option<&Value>) -> (Option<&Value>, Option<&Value>, Option<&Value>) {
    let get = |k: &str| object.and_then(|o| o.get(k));
    (get("data"), get("binaryData"), get("stringData"))
}

/// Pairs desired and current manifests by identity, as a backend would
/// observe them; every current object counts as owned.
pub fn pair(
    desired: impl IntoIterator<Item = Manifest>,
    current: impl IntoIterator<Item = Manifest>,
) -> Vec<Observed> {
    let mut by_id: BTreeMap<ObjectId, Observed> = BTreeMap::new();
    for m in desired {
        by_id.insert(
            m.id.clone(),
            Observed {
                id: m.id,
                api_version: m.api_version,
                file: m.file,
                line: m.line,
                desired: Some(m.value),
                ..Observed::default()
            },
        );
    }
    for m in current {
        let entry = by_id.entry(m.id.clone()).or_insert_with(|| Observed {
            id: m.id,
            api_version: m.api_version,
            file: m.file,
            line: m.line,
            ..Observed::default()
        });
        entry.live = Some(m.value);
        entry.owned = true;
    }
    by_id.into_values().collect()
}

/// Plans what one backend observed: create what is only desired, delete
/// what is only live and owned, and update (or replace, as the backend
/// says) what differs. Each change carries its diff.
pub fn plan_observed(backend: &str, observed: Vec<Observed>) -> Plan {
    plan_observed_with(backend, observed, Diffs::Rendered)
}

/// Whether a plan's changes carry their diff text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Diffs {
    /// Each change's masked, unified diff (what `plan` and `apply` print).
    Rendered,
    /// None (`Change::diff` empty): for the daemon, which reads the
    /// actions and ids, never the text, and so neither renders every
    /// changed object as YAML nor keeps it.
    Skipped,
}

/// [`plan_observed`], with or without the diffs.
pub fn plan_observed_with(backend: &str, observed: Vec<Observed>, diffs: Diffs) -> Plan {
    let mut changes = Vec::with_capacity(observed.len());
    for o in observed {
        let want = o.desired.as_ref().map(|v| normalize_object(&o.id, v));
        let have = o.live.as_ref().map(|v| normalize_object(&o.id, v));
        let mut notes = o.notes;
        // The object's own policy (`policy`): left as it is, with a note
        // saying why, so the plan shows it and apply touches nothing.
        let kept = if policy::ignored(o.desired.as_ref()) || policy::ignored(o.live.as_ref()) {
            Some("mooring.dev/apply: ignore: not planned, applied or pruned")
        } else if want.is_some() && have.is_some() && policy::create_only(o.desired.as_ref()) {
            Some("mooring.dev/apply: create-only: it exists, so it is not updated")
        } else if want.is_none() && o.owned && policy::prune_disabled(o.live.as_ref()) {
            Some("mooring.dev/prune: disabled: no longer in Git, but never deleted")
        } else {
            None
        };
        if let Some(why) = kept {
            if want.is_none() && !o.owned {
                continue;
            }
            notes.push(why.to_string());
            changes.push(Change {
                action: Action::Unchanged,
                id: o.id,
                api_version: o.api_version,
                file: o.file,
                line: o.line,
                diff: String::new(),
                backend: backend.to_string(),
                blocked: None,
                notes,
                handle: o.handle,
                health: o.health,
            });
            continue;
        }
        let (action, blocked) = match (&want, &have) {
            (Some(_), None) => (Action::Create, None),
            (None, Some(_)) if o.owned => match &o.update {
                // A deletion the backend says must not happen (e.g. labels
                // without proof that mooring applied the object).
                UpdateStrategy::Held(why) | UpdateStrategy::Refused(why) => {
                    (Action::Delete, Some(why.clone()))
                }
                _ => (Action::Delete, None),
            },
            (None, _) => continue,
            (Some(w), Some(h)) if w == h => (Action::Unchanged, None),
            (Some(_), Some(_)) => match &o.update {
                UpdateStrategy::InPlace => (Action::Update, None),
                UpdateStrategy::Replace => (Action::Replace, None),
                UpdateStrategy::Refused(why) => (Action::Replace, Some(why.clone())),
                UpdateStrategy::Held(why) => (Action::Update, Some(why.clone())),
            },
        };
        let diff = if action == Action::Unchanged || diffs == Diffs::Skipped {
            String::new()
        } else {
            diff(&o.id, have.as_ref(), want.as_ref())
        };
        changes.push(Change {
            action,
            id: o.id,
            api_version: o.api_version,
            file: o.file,
            line: o.line,
            diff,
            backend: backend.to_string(),
            blocked,
            notes,
            handle: o.handle,
            health: o.health.filter(|_| action == Action::Unchanged),
        });
    }
    Plan::from_changes(changes)
}

fn diff(id: &ObjectId, old: Option<&Value>, new: Option<&Value>) -> String {
    let empty = Value::Object(Map::new());
    let (old_masked, new_masked) =
        mask::mask_pair(id, old.unwrap_or(&empty), new.unwrap_or(&empty));
    let old_text = old.map(|_| yaml::to_yaml(&old_masked)).unwrap_or_default();
    let new_text = new.map(|_| yaml::to_yaml(&new_masked)).unwrap_or_default();
    similar::TextDiff::from_lines(&old_text, &new_text)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{id}"), &format!("b/{id}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::from_test_yaml as manifests;

    #[test]
    fn a_git_to_git_plan_says_what_each_target_will_really_do() {
        let vm = |cpus: u32| {
            format!(
                "apiVersion: flintlock.liquidmetal.dev/v1alpha1\nkind: MicroVM\nmetadata: {{name: vm, namespace: edge}}\nspec: {{vcpu: {cpus}}}\n"
            )
        };
        let kernel = |image: &str| {
            format!(
                "apiVersion: ignite.weave.works/v1alpha4\nkind: Kernel\nmetadata: {{name: k}}\nspec: {{ociRef: '{image}'}}\n"
            )
        };
        let frozen = |level: &str, annotation: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: frozen-{annotation}, namespace: apps, annotations: {{mooring.dev/replace: '{annotation}'}}}}\nimmutable: true\ndata: {{level: {level}}}\n"
            )
        };
        let old = manifests(&format!(
            "{}---\n{}---\n{}---\n{}",
            vm(2),
            kernel("a:1"),
            frozen("info", "yes"),
            frozen("info", "never")
        ));
        let new = manifests(&format!(
            "{}---\n{}---\n{}---\n{}",
            vm(4),
            kernel("a:2"),
            frozen("debug", "yes"),
            frozen("debug", "never")
        ));
        let p = plan(new, old);
        let by: Vec<(String, Action, bool)> = p
            .changes
            .iter()
            .map(|c| (c.id.name.clone(), c.action, c.blocked.is_some()))
            .collect();
        assert_eq!(
            by,
            [
                ("frozen-never".to_string(), Action::Replace, true),
                ("frozen-yes".to_string(), Action::Replace, false),
                ("vm".to_string(), Action::Replace, false),
                ("k".to_string(), Action::Declared, false),
            ]
        );
        assert_eq!(p.summary.replace, 3, "{:?}", p.summary);
    }

    #[test]
    fn an_objects_own_policy_keeps_it_as_it_is() {
        let cm = |name: &str, annotations: &str, data: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, annotations: {{{annotations}}}}}\ndata: {{x: '{data}'}}\n"
            )
        };
        let git = manifests(&format!(
            "{}---\n{}---\n{}",
            cm("once", "mooring.dev/apply: create-only", "2"),
            cm("hands-off", "mooring.dev/apply: ignore", "2"),
            cm("new-hands-off", "mooring.dev/apply: ignore", "1"),
        ));
        let live = manifests(&format!(
            "{}---\n{}---\n{}---\n{}",
            cm("once", "mooring.dev/apply: create-only", "1"),
            cm("hands-off", "", "1"),
            cm("keep", "mooring.dev/prune: disabled", "1"),
            cm("gone", "", "1"),
        ));
        let p = plan(git, live);
        let by: Vec<(String, Action)> = p
            .changes
            .iter()
            .map(|c| (c.id.name.clone(), c.action))
            .collect();
        assert_eq!(
            by,
            [
                ("gone".to_string(), Action::Delete),
                ("hands-off".to_string(), Action::Unchanged),
                ("keep".to_string(), Action::Unchanged),
                ("new-hands-off".to_string(), Action::Unchanged),
                ("once".to_string(), Action::Unchanged),
            ]
        );
        let notes = |name: &str| {
            p.changes
                .iter()
                .find(|c| c.id.name == name)
                .map(|c| c.notes.join(" "))
                .unwrap_or_default()
        };
        assert!(notes("once").contains("create-only"), "{p:#?}");
        assert!(notes("keep").contains("prune: disabled"), "{p:#?}");
        assert!(notes("hands-off").contains("ignore"), "{p:#?}");
    }

    #[test]
    fn status_nulls_and_key_order_are_not_changes() {
        let a = manifests(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: '1', y: '2'}\n",
        );
        let b = manifests(
            "kind: ConfigMap\napiVersion: v1\nmetadata: {name: a, labels: null}\ndata: {y: '2', x: '1'}\nstatus: {ok: true}\n",
        );
        let p = plan(b.clone(), a.clone());
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
        assert!(!plan(b.clone(), a.clone()).has_changes());
    }

    #[test]
    fn creates_updates_and_deletes_are_counted_and_diffed() {
        let old = manifests(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: '1'}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: gone}\n",
        );
        let new = manifests(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: '2'}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: fresh}\n",
        );
        let p = plan(new.clone(), old.clone());
        assert_eq!(
            p.summary,
            Summary {
                create: 1,
                update: 1,
                delete: 1,
                ..Summary::default()
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
