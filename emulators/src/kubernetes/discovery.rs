//! Discovery: the version, group and resource lists kube-rs reads before
//! it talks to a kind (`/api`, `/api/v1`, `/apis`, `/apis/{group}`,
//! `/apis/{group}/{version}`), built from the served resources.

use serde_json::{Value, json};

use super::{ApiError, ResourceDef, State};

impl State {
    pub(super) fn core_versions(&self) -> Value {
        json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.addr.to_string()}],
        })
    }

    fn versions_of(&self, group: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for d in self.resources.iter().filter(|d| d.group == group) {
            if !out.contains(&d.version) {
                out.push(d.version.clone());
            }
        }
        out
    }

    fn group_json(&self, group: &str) -> Value {
        let versions: Vec<Value> = self
            .versions_of(group)
            .iter()
            .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
            .collect();
        json!({
            "name": group,
            "versions": versions,
            "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
        })
    }

    pub(super) fn group_list(&self) -> Value {
        let mut groups: Vec<&str> = Vec::new();
        for d in &self.resources {
            if !d.group.is_empty() && !groups.contains(&d.group.as_str()) {
                groups.push(&d.group);
            }
        }
        let groups: Vec<Value> = groups.iter().map(|g| self.group_json(g)).collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    pub(super) fn group(&self, group: &str) -> Result<Value, ApiError> {
        if self.versions_of(group).is_empty() {
            return Err(ApiError::no_resource());
        }
        let mut v = self.group_json(group);
        v["kind"] = json!("APIGroup");
        v["apiVersion"] = json!("v1");
        Ok(v)
    }

    pub(super) fn resource_list(&self, group: &str, version: &str) -> Result<Value, ApiError> {
        let defs: Vec<&ResourceDef> = self
            .resources
            .iter()
            .filter(|d| d.group == group && d.version == version)
            .collect();
        if defs.is_empty() {
            return Err(ApiError::no_resource());
        }
        let all = [
            "create", "delete", "get", "list", "patch", "update", "watch",
        ];
        let verbs: Vec<&str> = all
            .into_iter()
            .filter(|v| self.watch || *v != "watch")
            .collect();
        let mut resources = Vec::new();
        for d in defs {
            let mut r = json!({
                "name": d.plural,
                "singularName": d.singular,
                "namespaced": d.namespaced,
                "kind": d.kind,
                "verbs": verbs,
            });
            if !d.short_names.is_empty() {
                r["shortNames"] = json!(d.short_names);
            }
            resources.push(r);
            for sub in &d.subresources {
                resources.push(json!({
                    "name": format!("{}/{sub}", d.plural),
                    "singularName": "",
                    "namespaced": d.namespaced,
                    "kind": d.kind,
                    "verbs": ["get", "patch", "update"],
                }));
            }
        }
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        Ok(json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": gv,
            "resources": resources,
        }))
    }
}
