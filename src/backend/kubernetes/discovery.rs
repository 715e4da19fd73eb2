//! Discovery: which resource (plural name, scope) serves a kind, read from
//! the API server's group-version resource lists (`/api/v1`,
//! `/apis/{group}/{version}`) and cached.
//!
//! Invariants: each group-version is fetched at most once per cache
//! lifetime, plus at most one refresh when a kind is missing from it (a
//! CustomResourceDefinition may just have been created). A group-version
//! the server does not serve (404) is cached as empty, so an unserved kind
//! costs one request, not one per object. A fetch answered before a group
//! was forgotten (its CRD changed) is never stored after it: each store
//! names the cache's generation when its fetch began.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

/// A kind as the API server serves it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Resource {
    pub group: String,
    pub version: String,
    pub kind: String,
    /// Plural resource name, the URL segment (`configmaps`).
    pub plural: String,
    pub namespaced: bool,
}

impl Resource {
    pub fn api_version(&self) -> String {
        api_version(&self.group, &self.version)
    }

    /// `/api/v1` or `/apis/{group}/{version}`.
    fn prefix(&self) -> String {
        group_version_path(&self.group, &self.version)
    }

    /// The collection URL: in `namespace`, or across all namespaces (and
    /// for cluster-scoped resources) when `None`.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => {
                format!("{}/namespaces/{ns}/{}", self.prefix(), self.plural)
            }
            _ => format!("{}/{}", self.prefix(), self.plural),
        }
    }

    /// The object URL.
    pub fn object_path(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}/{name}", self.collection_path(namespace))
    }
}

pub use crate::kinds::{api_version, split_api_version};

pub fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

/// The resources of one group-version, from an `APIResourceList`.
/// Subresources (`namespaces/status`) are skipped.
pub fn parse_resource_list(group: &str, version: &str, list: &Value) -> Vec<Resource> {
    list.get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let plural = r.get("name")?.as_str()?;
            if plural.contains('/') {
                return None;
            }
            Some(Resource {
                group: group.to_string(),
                version: version.to_string(),
                kind: r.get("kind")?.as_str()?.to_string(),
                plural: plural.to_string(),
                namespaced: r.get("namespaced").and_then(Value::as_bool).unwrap_or(true),
            })
        })
        .collect()
}

#[derive(Debug, Clone, Default)]
struct Entry {
    /// Empty when the group-version is not served.
    resources: Vec<Resource>,
    /// Refetched once already after a miss.
    refreshed: bool,
}

/// What the cache knows about a kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Resource),
    /// The group-version was fetched and does not serve the kind;
    /// `refreshed` says whether it was already fetched again after a miss.
    Missing {
        refreshed: bool,
    },
    /// The group-version has not been fetched.
    Unknown,
}

/// Discovery results by group-version.
#[derive(Debug, Default)]
pub struct Cache {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Entry>,
    /// Counts the forgets (a group, or all): a fetch begun before one may
    /// have been answered before a CRD was served, and is not stored.
    generation: u64,
}

impl Cache {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The generation a fetch begins in, for [`Cache::store`].
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    pub fn lookup(&self, group: &str, version: &str, kind: &str) -> Lookup {
        let state = self.lock();
        let Some(entry) = state.entries.get(&api_version(group, version)) else {
            return Lookup::Unknown;
        };
        match entry.resources.iter().find(|r| r.kind == kind) {
            Some(r) => Lookup::Found(r.clone()),
            None => Lookup::Missing {
                refreshed: entry.refreshed,
            },
        }
    }

    /// Notes that the group-version is being fetched again after a miss.
    pub fn mark_refreshed(&self, group: &str, version: &str) {
        if let Some(e) = self.lock().entries.get_mut(&api_version(group, version)) {
            e.refreshed = true;
        }
    }

    /// Whether the group-version has been fetched.
    pub fn has(&self, group: &str, version: &str) -> bool {
        self.lock()
            .entries
            .contains_key(&api_version(group, version))
    }

    /// Records a fetch begun in `generation`; `resources` is empty when the
    /// group-version is not served. A fetch older than the last forget is
    /// dropped (`false`): it may predate a CRD the forget was for.
    pub fn store(
        &self,
        group: &str,
        version: &str,
        resources: Vec<Resource>,
        generation: u64,
    ) -> bool {
        let mut state = self.lock();
        if state.generation != generation {
            return false;
        }
        let entry = state
            .entries
            .entry(api_version(group, version))
            .or_default();
        entry.resources = resources;
        true
    }

    /// Forgets every version of `group` (a CRD of that group changed).
    pub fn forget_group(&self, group: &str) {
        let mut state = self.lock();
        state.generation += 1;
        state
            .entries
            .retain(|gv, _| split_api_version(gv).0 != group);
    }

    pub fn clear(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resource_lists_skip_subresources_and_keep_scope() {
        let list = json!({"resources": [
            {"name": "namespaces", "kind": "Namespace", "namespaced": false},
            {"name": "namespaces/status", "kind": "Namespace", "namespaced": false},
            {"name": "configmaps", "kind": "ConfigMap", "namespaced": true},
        ]});
        let rs = parse_resource_list("", "v1", &list);
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0].collection_path(Some("x")), "/api/v1/namespaces");
        assert_eq!(
            rs[1].object_path(Some("d"), "c"),
            "/api/v1/namespaces/d/configmaps/c"
        );
        assert_eq!(rs[1].collection_path(None), "/api/v1/configmaps");
    }

    #[test]
    fn a_miss_is_refreshed_once_and_a_group_can_be_forgotten() {
        let cache = Cache::default();
        assert_eq!(cache.lookup("example.com", "v1", "Widget"), Lookup::Unknown);
        cache.store("example.com", "v1", Vec::new(), cache.generation());
        assert_eq!(
            cache.lookup("example.com", "v1", "Widget"),
            Lookup::Missing { refreshed: false }
        );
        cache.mark_refreshed("example.com", "v1");
        cache.store("example.com", "v1", Vec::new(), cache.generation());
        assert_eq!(
            cache.lookup("example.com", "v1", "Widget"),
            Lookup::Missing { refreshed: true }
        );
        cache.forget_group("example.com");
        assert!(!cache.has("example.com", "v1"));
        assert_eq!(cache.lookup("example.com", "v1", "Widget"), Lookup::Unknown);
    }

    /// Two CRDs of one group applied at once: a fetch for the first was
    /// answered before the second's kind was served, and lands after the
    /// second's CRD made the group be forgotten. Stored, it would hide the
    /// new kind (and a refreshed miss is not fetched again).
    #[test]
    fn a_fetch_begun_before_a_forget_is_not_stored() {
        let cache = Cache::default();
        let widget = Resource {
            group: "example.com".into(),
            version: "v1".into(),
            kind: "Widget".into(),
            plural: "widgets".into(),
            namespaced: true,
        };
        let stale = cache.generation();
        cache.forget_group("example.com");
        assert!(cache.store(
            "example.com",
            "v1",
            vec![widget.clone()],
            cache.generation()
        ));
        assert!(!cache.store("example.com", "v1", Vec::new(), stale));
        assert_eq!(
            cache.lookup("example.com", "v1", "Widget"),
            Lookup::Found(widget)
        );
        let before_clear = cache.generation();
        cache.clear();
        assert!(!cache.store("example.com", "v1", Vec::new(), before_clear));
        assert_eq!(cache.lookup("example.com", "v1", "Widget"), Lookup::Unknown);
    }
}
