//! What a live cluster serves, as schemas: every kind its discovery lists
//! (built-in or from a CustomResourceDefinition) with the schema its
//! `/openapi/v3` document gives it, converted as the built-in table is
//! ([`crate::kinds::openapi`]). Made from
//! [`Served`](crate::kinds::builtin::Served), which a backend fetched; no
//! I/O here.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Key, Origin, Slot, Slots, Source};
use crate::kinds::builtin::{self, Served};
use crate::kinds::openapi;

/// The cluster's kinds and their schemas, for one run.
pub struct Cluster {
    /// Where they came from, for messages: the API server's URL.
    pub label: String,
    pub(super) slots: Slots,
    /// Built-in kinds whose schema on the cluster is not the pinned
    /// release's: validated against the cluster's, with a warning.
    pub(super) differs: BTreeSet<Key>,
    /// The server's `gitVersion` (e.g. `v1.37.2`): what Helm renders for.
    pub version: String,
}

impl Cluster {
    /// The schemas in `served`, labelled `label` (e.g. the server's URL).
    pub fn from_served(label: &str, served: &Served) -> Cluster {
        let mut slots = Slots::default();
        let mut differs = BTreeSet::new();
        let table = builtin::table().ok();
        for (discovery, document) in served.each() {
            let Ok(document) = document else {
                continue;
            };
            let Some(group_version) = discovery.get("groupVersion").and_then(Value::as_str) else {
                continue;
            };
            let Some(components) = document
                .pointer("/components/schemas")
                .and_then(Value::as_object)
            else {
                continue;
            };
            let (group, version) = crate::kinds::split_api_version(group_version);
            let converted = openapi::convert_components(components);
            for resource in builtin::resources(discovery) {
                let kind = resource.kind;
                let Some(definition) = builtin::definition_of(components, group, version, kind)
                else {
                    continue;
                };
                let scope = resource.scope;
                let schema = openapi::self_contained(&definition, &converted);
                let key = (group_version.to_string(), kind.to_string());
                if let Some(b) = table.and_then(|t| t.find(group_version, kind).map(|b| (t, b)))
                    && b.0.schema(b.1) != schema
                {
                    differs.insert(key.clone());
                }
                slots.insert(
                    key.0,
                    key.1,
                    Slot::new(
                        Origin::Cluster,
                        format!("{label}'s {kind} ({group_version})"),
                        Source::Value(schema),
                        Some(scope),
                    ),
                );
            }
        }
        Cluster {
            version: served.server.clone(),
            label: label.to_string(),
            slots,
            differs,
        }
    }

    /// How many kinds the cluster serves.
    pub fn kinds(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::desired::{Live, render_live};
    use crate::manifest::{Limits, SourceFile};
    use crate::source::Read;
    use crate::validate::{Options, Validator};

    /// A cluster whose Deployment has a schema of its own (a newer
    /// release, say): `replicas` is a string there.
    fn served() -> Served {
        let discovery = json!({"groupVersion": "apps/v1", "resources": [
            {"name": "deployments", "kind": "Deployment", "namespaced": true,
             "verbs": ["create", "get"]},
            {"name": "deployments/scale", "kind": "Scale", "namespaced": true, "verbs": ["get"]},
        ]});
        let document = json!({"components": {"schemas": {
            "io.k8s.api.apps.v1.Deployment": {
                "type": "object",
                "x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "Deployment"}],
                "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "metadata": {"type": "object"},
                    "spec": {"type": "object", "properties": {"replicas": {"type": "string"}}},
                },
            },
        }}});
        Served {
            server: "v9.9.9".into(),
            group_versions: vec![(discovery, serde_json::to_vec(&document).unwrap())],
        }
    }

    #[test]
    fn the_clusters_schema_wins_with_one_warning_per_kind() {
        let cluster = Cluster::from_served("https://k8s.example", &served());
        assert_eq!(cluster.kinds(), 1, "subresources are not kinds");
        assert!(
            cluster
                .differs
                .contains(&("apps/v1".into(), "Deployment".into()))
        );
        let doc = |name: &str| {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: \"3\"\n"
            )
        };
        let read = Read {
            files: vec![SourceFile {
                path: "d.yaml".into(),
                rel: "d.yaml".into(),
                bytes: format!("{}---\n{}", doc("a"), doc("b")).into_bytes(),
            }],
            ..Read::default()
        };
        let validator = Validator::new(Options::default()).expect("validator");
        let live = Live {
            namespace: Some("team"),
            cluster: Some(&cluster),
        };
        let d = render_live(
            read,
            &validator,
            &Limits::default(),
            &crate::render::Renderer::default(),
            live,
        );
        let lines: Vec<String> = d.findings.iter().map(ToString::to_string).collect();
        // replicas: "3" is what this cluster's schema wants; the built-in
        // one would refuse it.
        assert_eq!(
            lines,
            [
                "d.yaml:2: warning: Deployment/team/a: kind: https://k8s.example serves a schema for Deployment (apps/v1) that differs from Kubernetes v1.37.2's built-in one: its objects are validated against the cluster's"
            ]
        );
    }
}
