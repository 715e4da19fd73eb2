//! Healing that restores Git's object: before a forced apply, the fields
//! that kubectl-style managers took (`kubectl edit`, `kubectl patch`, a
//! client-side `kubectl apply`) are handed to mooring's own apply entry in
//! `managedFields`, as Flux's server-side-apply manager does. The forced
//! apply then owns them, so what Git no longer declares is removed: a
//! Service port changed by `kubectl patch` from 80 to 8080 becomes 80
//! again, instead of both ports (which the server refuses).
//!
//! Only entries of the listed managers are taken; any other controller's
//! fields stay its own. The write is a merge patch of `managedFields` with
//! the object's `resourceVersion`, so an object changed since it was read
//! is left alone (the apply goes ahead, and the next heal tries again).

use serde_json::{Map, Value, json};

use super::Kubernetes;
use super::client::CallError;
use super::discovery::Resource;

/// The managers whose fields a heal takes by default: what kubectl writes
/// as, and the entry a client-side apply becomes on its first server-side
/// apply.
pub const DEFAULT_MANAGERS: [&str; 5] = [
    "kubectl",
    "kubectl-client-side-apply",
    "kubectl-edit",
    "kubectl-patch",
    "before-first-apply",
];

/// `live`'s `managedFields` with every entry of `managers` folded into
/// `field_manager`'s `Apply` entry (made if absent, with `api_version`), or
/// `None` when no entry is of those managers.
pub fn taken_over(
    live: &Value,
    managers: &[String],
    field_manager: &str,
    api_version: &str,
) -> Option<Vec<Value>> {
    let entries = live.pointer("/metadata/managedFields")?.as_array()?;
    let taken = |e: &Value| {
        e.get("manager")
            .and_then(Value::as_str)
            .is_some_and(|m| managers.iter().any(|t| t == m))
            && e.get("subresource").is_none()
    };
    if !entries.iter().any(taken) {
        return None;
    }
    let ours = |e: &Value| {
        e.get("manager").and_then(Value::as_str) == Some(field_manager)
            && e.get("operation").and_then(Value::as_str) == Some("Apply")
            && e.get("subresource").is_none()
    };
    let mut fields = entries
        .iter()
        .find(|e| ours(e))
        .and_then(|e| e.get("fieldsV1").cloned())
        .unwrap_or_else(|| Value::Object(Map::new()));
    for e in entries.iter().filter(|e| taken(e)) {
        if let Some(f) = e.get("fieldsV1") {
            union(&mut fields, f);
        }
    }
    let mut out: Vec<Value> = entries
        .iter()
        .filter(|e| !taken(e) && !ours(e))
        .cloned()
        .collect();
    let mut entry = entries
        .iter()
        .find(|e| ours(e))
        .cloned()
        .unwrap_or_else(|| {
            json!({
                "manager": field_manager,
                "operation": "Apply",
                "apiVersion": api_version,
                "fieldsType": "FieldsV1",
            })
        });
    if let Some(map) = entry.as_object_mut() {
        map.insert("fieldsV1".into(), fields);
    }
    out.push(entry);
    Some(out)
}

/// Adds every field of the field set `from` to `into` (FieldsV1: nested
/// objects whose keys name fields, list items and values).
fn union(into: &mut Value, from: &Value) {
    let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) else {
        return;
    };
    for (k, v) in from {
        match into.get_mut(k) {
            Some(existing) => union(existing, v),
            None => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

impl Kubernetes {
    /// The object at `name`, or `None` when there is none.
    pub(super) async fn read_object(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, CallError> {
        let request = http::Request::get(resource.object_path(namespace, name))
            .body(Vec::new())
            .map_err(|e| CallError::Other(e.to_string()))?;
        match self.caller.json(request).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.code() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Hands the fields of the configured kubectl-style managers to
    /// mooring's apply entry, before a forced apply of an object that
    /// exists ([`taken_over`]). Returns the managers whose fields were
    /// taken, for the report.
    pub(super) async fn take_over(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        api_version: &str,
    ) -> Result<Vec<String>, CallError> {
        let path = resource.object_path(namespace, name);
        let Some(live) = self.read_object(resource, namespace, name).await? else {
            return Ok(Vec::new());
        };
        let Some(managed) = taken_over(
            &live,
            &self.take_over_managers,
            &self.field_manager,
            api_version,
        ) else {
            return Ok(Vec::new());
        };
        let mut taken: Vec<String> = live
            .pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("manager").and_then(Value::as_str))
            .filter(|m| self.take_over_managers.iter().any(|t| t == m))
            .map(str::to_string)
            .collect();
        taken.dedup();
        let patch = json!({"metadata": {
            "managedFields": managed,
            "resourceVersion": live.pointer("/metadata/resourceVersion"),
        }});
        let request = http::Request::patch(path)
            .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
            .body(serde_json::to_vec(&patch).unwrap_or_default())
            .map_err(|e| CallError::Other(e.to_string()))?;
        match self.caller.json(request).await {
            Ok(_) => Ok(taken),
            // Changed since it was read: the apply goes ahead without it.
            Err(e) if e.code() == Some(409) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_fields_are_folded_into_the_apply_entry() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "mooring", "operation": "Apply", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:ports": {"k:{\"port\":80}": {}}}}},
            {"manager": "kubectl-patch", "operation": "Update", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:ports": {"k:{\"port\":8080}": {}}}}},
            {"manager": "hpa-controller", "operation": "Update", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kubectl-edit", "operation": "Update", "subresource": "status",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}},
        ]}});
        let managers: Vec<String> = DEFAULT_MANAGERS.iter().map(|m| m.to_string()).collect();
        let out = taken_over(&live, &managers, "mooring", "v1").unwrap_or_default();
        let by: Vec<&str> = out.iter().filter_map(|e| e["manager"].as_str()).collect();
        assert_eq!(by, ["hpa-controller", "kubectl-edit", "mooring"]);
        assert_eq!(
            out[2]["fieldsV1"],
            json!({"f:spec": {"f:ports": {"k:{\"port\":80}": {}, "k:{\"port\":8080}": {}}}})
        );
        // Nothing of those managers: nothing to write.
        let clean = json!({"metadata": {"managedFields": [out[0].clone()]}});
        assert!(taken_over(&clean, &managers, "mooring", "v1").is_none());
    }
}
