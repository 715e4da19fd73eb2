//! The emulated API server's request handling: construction of the
//! state, routing, the request handler (auth, call counting, faults,
//! dispatch to a verb) and reads. Discovery is in [`super::discovery`],
//! writes in [`super::write`], watches in [`super::watch`]; the state they
//! work on is defined in [`super`].

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::objects::{defaults, render};
use super::selector::{Selector, field_selector};
use super::{
    ApiError, Key, KubeOptions, Managers, Reply, ResourceDef, Route, State, Stored, builtin,
    json_response, reason_for, watch,
};

impl State {
    pub(super) fn new(options: &KubeOptions, addr: SocketAddr) -> State {
        let mut resources = vec![
            builtin(
                "",
                "v1",
                "namespaces",
                "Namespace",
                false,
                &["ns"],
                &["status", "finalize"],
            ),
            builtin("", "v1", "configmaps", "ConfigMap", true, &["cm"], &[]),
            builtin("", "v1", "secrets", "Secret", true, &[], &[]),
            builtin(
                "",
                "v1",
                "serviceaccounts",
                "ServiceAccount",
                true,
                &["sa"],
                &["token"],
            ),
            builtin(
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "CustomResourceDefinition",
                false,
                &["crd", "crds"],
                &["status"],
            ),
            builtin(
                "coordination.k8s.io",
                "v1",
                "leases",
                "Lease",
                true,
                &[],
                &[],
            ),
        ];
        if options.custom_resources {
            let crs = [
                (
                    "llamastack.io",
                    "llamastackdistributions",
                    "LlamaStackDistribution",
                    true,
                    &["llsd"][..],
                ),
                (
                    "runtime.wasmcloud.dev",
                    "artifacts",
                    "Artifact",
                    true,
                    &[][..],
                ),
                // Namespaced, as runtime-operator v2.1.0 and later serve it.
                ("runtime.wasmcloud.dev", "hosts", "Host", true, &[][..]),
                (
                    "runtime.wasmcloud.dev",
                    "workloads",
                    "Workload",
                    true,
                    &[][..],
                ),
                (
                    "runtime.wasmcloud.dev",
                    "workloaddeployments",
                    "WorkloadDeployment",
                    true,
                    &[][..],
                ),
                (
                    "runtime.wasmcloud.dev",
                    "workloadreplicasets",
                    "WorkloadReplicaSet",
                    true,
                    &[][..],
                ),
            ];
            for (group, plural, kind, namespaced, short) in crs {
                let mut def = builtin(
                    group,
                    "v1alpha1",
                    plural,
                    kind,
                    namespaced,
                    short,
                    &["status"],
                );
                def.builtin = false;
                resources.push(def);
            }
        }
        let mut st = State {
            resources,
            objects: BTreeMap::new(),
            rv: 0,
            uids: 0,
            faults: Vec::new(),
            calls: BTreeMap::new(),
            token: options.token.clone(),
            addr,
            watch: options.watch,
            watch_log: watch::Log::new(options.watch_history),
        };
        let ns_def = st.resources[0].clone();
        for ns in ["default", "kube-system", "kube-public"] {
            let mut content =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            defaults(&ns_def, &mut content);
            let _ = st.commit(
                &ns_def,
                Key::new(&ns_def, None, ns),
                content,
                Managers::new(),
                false,
            );
        }
        st
    }

    // -- routing -----------------------------------------------------------

    fn route(&self, path: &str) -> Result<Route, ApiError> {
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, version, rest) = match segs.as_slice() {
            ["api"] => return Ok(Route::CoreVersions),
            ["api", v] => return Ok(Route::CoreResources(v.to_string())),
            ["apis"] => return Ok(Route::Groups),
            ["apis", g] => return Ok(Route::Group(g.to_string())),
            ["apis", g, v] => return Ok(Route::GroupResources(g.to_string(), v.to_string())),
            ["api", v, rest @ ..] => ("", *v, rest),
            ["apis", g, v, rest @ ..] => (*g, *v, rest),
            _ => return Err(ApiError::no_resource()),
        };
        let def = |plural: &str| {
            self.find(group, version, plural)
                .cloned()
                .ok_or_else(ApiError::no_resource)
        };
        let namespaced_plural = |plural: &str| {
            self.find(group, version, plural)
                .is_some_and(|d| d.namespaced)
        };
        match rest {
            ["namespaces", ns, plural] if namespaced_plural(plural) => {
                Ok(Route::Collection(def(plural)?, Some(ns.to_string())))
            }
            ["namespaces", ns, plural, name] if namespaced_plural(plural) => Ok(Route::Object(
                def(plural)?,
                Some(ns.to_string()),
                name.to_string(),
            )),
            [plural] => {
                let d = def(plural)?;
                Ok(Route::Collection(d, None))
            }
            [plural, name] => {
                let d = def(plural)?;
                if d.namespaced {
                    return Err(ApiError::no_resource());
                }
                Ok(Route::Object(d, None, name.to_string()))
            }
            _ => Err(ApiError::new(
                404,
                "NotFound",
                format!("{path}: subresources are not emulated"),
            )),
        }
    }

    pub(super) fn handle(
        &mut self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Reply {
        if let Some(token) = &self.token {
            let sent = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if sent != Some(token.as_str()) {
                return ApiError::new(401, "Unauthorized", "Unauthorized")
                    .into_response()
                    .into();
            }
        }
        let path = uri.path();
        let query: BTreeMap<String, String> = uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let route = match self.route(path) {
            Ok(r) => r,
            Err(e) => return e.into_response().into(),
        };
        let watching = query.get("watch").is_some_and(|w| w == "true" || w == "1");
        let verb = match (&route, method.as_str()) {
            (Route::Collection(..), "GET") if watching => "WATCH".to_string(),
            (Route::Collection(..), "GET") => "LIST".to_string(),
            _ => method.as_str().to_string(),
        };
        let call = match &route {
            Route::Collection(def, _) | Route::Object(def, _, _) => {
                format!("{verb} {}", def.plural)
            }
            _ => format!("DISCOVERY {path}"),
        };
        *self.calls.entry(call).or_default() += 1;

        let target = uri.path_and_query().map_or(path, |pq| pq.as_str());
        if let Some(fault) = self.faults.iter_mut().find(|f| {
            f.remaining > 0
                && f.method
                    .as_ref()
                    .is_none_or(|m| *m == verb || m.as_str() == method.as_str())
                && target.contains(&f.path_contains)
        }) {
            fault.remaining -= 1;
            let code = fault.status;
            self.faults.retain(|f| f.remaining > 0);
            return ApiError::new(code, reason_for(code), format!("injected fault ({code})"))
                .into_response()
                .into();
        }
        if watching && let Route::Collection(def, ns) = &route {
            if !self.watch {
                return ApiError::new(
                    405,
                    "MethodNotAllowed",
                    "watch is turned off in this emulator",
                )
                .into_response()
                .into();
            }
            return match self.watch_start(def, ns.as_deref(), &query) {
                Ok(start) => Reply::Watch(Box::new(start)),
                Err(e) => e.into_response().into(),
            };
        }

        let manager = query
            .get("fieldManager")
            .cloned()
            .or_else(|| {
                headers
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|ua| ua.split('/').next())
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "unknown".to_string());
        let dry = query.get("dryRun").is_some_and(|v| v == "All");
        let result = match (route, method.as_str()) {
            (Route::CoreVersions, "GET") => Ok((200, self.core_versions())),
            (Route::CoreResources(v), "GET") => self.resource_list("", &v).map(|r| (200, r)),
            (Route::Groups, "GET") => Ok((200, self.group_list())),
            (Route::Group(g), "GET") => self.group(&g).map(|r| (200, r)),
            (Route::GroupResources(g, v), "GET") => self.resource_list(&g, &v).map(|r| (200, r)),
            (Route::Collection(def, ns), "GET") => {
                self.list(&def, ns.as_deref(), &query).map(|r| (200, r))
            }
            (Route::Collection(def, ns), "POST") => {
                self.create(&def, ns.as_deref(), body, &manager, dry)
            }
            (Route::Object(def, ns, name), "GET") => {
                self.get(&def, ns.as_deref(), &name).map(|r| (200, r))
            }
            (Route::Object(def, ns, name), "PATCH") => {
                let content_type = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let content_type = content_type.split(';').next().unwrap_or_default().trim();
                match content_type {
                    "application/apply-patch+yaml" => match query.get("fieldManager") {
                        Some(m) => {
                            let force = query.get("force").is_some_and(|v| v == "true");
                            self.apply(&def, ns.as_deref(), &name, body, m, force, dry)
                        }
                        None => Err(ApiError::bad_request(
                            "PATCH /apply requests require a fieldManager",
                        )),
                    },
                    "application/merge-patch+json" => {
                        self.merge_patch(&def, ns.as_deref(), &name, body, &manager, dry)
                    }
                    other => Err(ApiError::new(
                        415,
                        "UnsupportedMediaType",
                        format!(
                            "the body of the request was in an unknown format - accepted media types are application/apply-patch+yaml and application/merge-patch+json (not emulated: {other})"
                        ),
                    )),
                }
            }
            (Route::Object(def, ns, name), "PUT") => {
                self.replace(&def, ns.as_deref(), &name, body, &manager, dry)
            }
            (Route::Object(def, ns, name), "DELETE") => self
                .delete(&def, ns.as_deref(), &name, body, dry)
                .map(|v| (200, v)),
            _ => Err(ApiError::new(
                405,
                "MethodNotAllowed",
                format!("{method} is not supported on {path}"),
            )),
        };
        match result {
            Ok((code, body)) => json_response(code, &body).into(),
            Err(e) => e.into_response().into(),
        }
    }

    // -- reads ---------------------------------------------------------------

    fn list(
        &self,
        def: &ResourceDef,
        namespace: Option<&str>,
        query: &BTreeMap<String, String>,
    ) -> Result<Value, ApiError> {
        let selector = Selector::parse(query.get("labelSelector").map_or("", String::as_str))
            .map_err(ApiError::bad_request)?;
        let (name_is, ns_is) = field_selector(query)?;
        let matching: Vec<&Stored> = self
            .objects
            .iter()
            .filter(|(k, _)| k.group == def.group && k.plural == def.plural)
            .filter(|(k, _)| namespace.is_none_or(|ns| k.namespace == ns))
            .filter(|(k, _)| name_is.as_ref().is_none_or(|n| k.name == *n))
            .filter(|(k, _)| ns_is.as_ref().is_none_or(|n| k.namespace == *n))
            .filter(|(_, s)| {
                selector.matches(
                    s.content
                        .get("metadata")
                        .and_then(|m| m.get("labels"))
                        .and_then(Value::as_object),
                )
            })
            .map(|(_, s)| s)
            .collect();
        let start: usize = match query.get("continue") {
            Some(c) => c.parse().map_err(|_| {
                ApiError::new(410, "Expired", "the provided continue parameter is too old")
            })?,
            None => 0,
        };
        let limit = query
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0)
            .unwrap_or(usize::MAX);
        let end = start.saturating_add(limit).min(matching.len());
        let items: Vec<Value> = matching
            .get(start.min(end)..end)
            .unwrap_or_default()
            .iter()
            .map(|s| render(s, def, !def.builtin))
            .collect();
        let mut metadata = json!({"resourceVersion": self.rv.to_string()});
        if end < matching.len() {
            metadata["continue"] = json!(end.to_string());
            metadata["remainingItemCount"] = json!(matching.len() - end);
        }
        Ok(json!({
            "kind": format!("{}List", def.kind),
            "apiVersion": def.api_version(),
            "metadata": metadata,
            "items": items,
        }))
    }

    pub(super) fn get(
        &self,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        self.stored(def, namespace, name)
            .map(|(_, s)| render(s, def, true))
    }
}
