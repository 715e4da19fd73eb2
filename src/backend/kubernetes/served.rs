//! What the cluster serves, as schemas: its version, and per group version
//! its discovery document and its `/openapi/v3` document. Read with GETs
//! only, each under the request timeout; [`crate::kinds::builtin::generate`]
//! and the validator turn them into JSON Schemas.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use super::client::CallError;
use super::{CRD_GROUP, Kubernetes};
use crate::backend::BackendError;
use crate::kinds::builtin::Served;

/// Documents read before, by their URL (`?hash=` is the content's hash,
/// which the server also sends as the ETag): the discovery document, and
/// the OpenAPI document as JSON text, as [`Served`] holds them. A daemon
/// keeps this for its whole life, and the text (about 7 MB for a v1.37.2
/// server) is several times smaller than the parsed documents.
#[derive(Default)]
pub(super) struct Cache(Mutex<HashMap<String, (Value, Vec<u8>)>>);

impl Cache {
    fn get(&self, url: &str) -> Option<(Value, Vec<u8>)> {
        self.0.lock().ok()?.get(url).cloned()
    }

    fn put(&self, url: &str, pair: &(Value, Vec<u8>)) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(url.to_string(), pair.clone());
        }
    }
}

impl Kubernetes {
    /// The cluster's version, discovery and OpenAPI v3 documents. With
    /// `custom` false, group versions that CustomResourceDefinitions serve
    /// are left out: what is left is the release's own kinds.
    pub async fn served(&self, custom: bool) -> Result<Served, BackendError> {
        // A server without /version or /openapi/v3 (older than 1.27, or
        // a stand-in) serves no schemas: the built-in kinds stand.
        let version = self.get_or_404("/version").await?.unwrap_or_default();
        let server = version
            .get("gitVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // The index first, then the CRDs: a CRD made in between is in the
        // list, so its group is left out.
        let index = self.get_or_404("/openapi/v3").await?.unwrap_or_default();
        let mut custom_groups = Vec::new();
        if !custom {
            let crds = self
                .get(&format!("/apis/{CRD_GROUP}/v1/customresourcedefinitions"))
                .await?;
            for crd in crds
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(group) = crd.pointer("/spec/group").and_then(Value::as_str) {
                    custom_groups.push(group.to_string());
                }
            }
        }
        let mut group_versions = Vec::new();
        let paths = index
            .get("paths")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (path, entry) in paths {
            // `api/v1` and `apis/<group>/<version>`; not `apis/<group>`,
            // `version` or `.well-known/...`.
            let group = match path.split('/').collect::<Vec<_>>().as_slice() {
                ["api", "v1"] => "",
                ["apis", group, _] => group,
                _ => continue,
            };
            if custom_groups.iter().any(|g| g == group) {
                continue;
            }
            let Some(url) = entry.get("serverRelativeURL").and_then(Value::as_str) else {
                continue;
            };
            if let Some(pair) = self.served.get(url) {
                group_versions.push(pair);
                continue;
            }
            // A group whose CRDs went away since the index was read: 404.
            let discovery = match self.get(&format!("/{path}")).await {
                Err(BackendError::Refused { message, .. })
                    if message.starts_with("answered 404") =>
                {
                    continue;
                }
                other => other?,
            };
            let document = match self.get(url).await {
                Err(BackendError::Refused { message, .. })
                    if message.starts_with("answered 404") =>
                {
                    continue;
                }
                other => other?,
            };
            // Kept as text from here on: parsed, it is several times bigger.
            let Ok(text) = serde_json::to_vec(&document) else {
                continue;
            };
            drop(document);
            let pair = (discovery, text);
            self.served.put(url, &pair);
            group_versions.push(pair);
        }
        Ok(Served {
            server,
            group_versions,
        })
    }

    /// [`Kubernetes::get`], with `None` for a 404.
    async fn get_or_404(&self, path: &str) -> Result<Option<Value>, BackendError> {
        match self.request(path).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.code() == Some(404) => Ok(None),
            Err(e) => Err(self.error(e, path)),
        }
    }

    async fn get(&self, path: &str) -> Result<Value, BackendError> {
        self.request(path).await.map_err(|e| self.error(e, path))
    }

    /// One GET, through the caller's timeout, retries and concurrency.
    async fn request(&self, path: &str) -> Result<Value, CallError> {
        let request = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| CallError::Other(e.to_string()))?;
        self.caller.json(request).await
    }
}
