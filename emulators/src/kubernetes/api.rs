//! The emulated API server's request handling: routing, discovery,
//! reads, and writes with server-side apply. The state it works on is
//! defined in [`super`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::fields::{self, Path};
use super::objects::{
    conflict_error, crd_resources, defaults, identity, immutable_error, now_rfc3339, render,
    strip_server_fields, undeclared_field_error, without_meta,
};
use super::selector::Selector;
use super::{
    ApiError, Key, KubeOptions, ManagerEntry, Managers, Reply, ResourceDef, Route, State, Stored,
    builtin, json_response, reason_for, watch,
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

    pub(super) fn def_for_key(&self, key: &Key) -> Option<&ResourceDef> {
        self.resources
            .iter()
            .find(|d| d.group == key.group && d.plural == key.plural)
    }

    pub(super) fn find_def(&self, group: &str, kind_or_resource: &str) -> Option<&ResourceDef> {
        self.resources.iter().find(|d| {
            d.group == group
                && (d.kind == kind_or_resource
                    || d.plural == kind_or_resource
                    || d.singular == kind_or_resource)
        })
    }

    fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceDef> {
        self.resources
            .iter()
            .find(|d| d.group == group && d.version == version && d.plural == plural)
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn next_uid(&mut self) -> String {
        self.uids += 1;
        let n = self.uids;
        let port = self.addr.port();
        format!("{port:08x}-0000-4000-8000-{n:012x}")
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

    // -- discovery -----------------------------------------------------------

    fn core_versions(&self) -> Value {
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

    fn group_list(&self) -> Value {
        let mut groups: Vec<&str> = Vec::new();
        for d in &self.resources {
            if !d.group.is_empty() && !groups.contains(&d.group.as_str()) {
                groups.push(&d.group);
            }
        }
        let groups: Vec<Value> = groups.iter().map(|g| self.group_json(g)).collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    fn group(&self, group: &str) -> Result<Value, ApiError> {
        if self.versions_of(group).is_empty() {
            return Err(ApiError::no_resource());
        }
        let mut v = self.group_json(group);
        v["kind"] = json!("APIGroup");
        v["apiVersion"] = json!("v1");
        Ok(v)
    }

    fn resource_list(&self, group: &str, version: &str) -> Result<Value, ApiError> {
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

    fn get(
        &self,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        self.objects
            .get(&Key::new(def, namespace, name))
            .map(|s| render(s, def, true))
            .ok_or_else(|| ApiError::not_found(def, name))
    }

    // -- writes --------------------------------------------------------------

    /// Checks a request body against the URL and returns it as a map.
    fn body_object(
        &self,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: Option<&str>,
        body: &[u8],
        yaml: bool,
    ) -> Result<Value, ApiError> {
        let value: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(json_err) if yaml => {
                let text = std::str::from_utf8(body)
                    .map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
                serde_saphyr::from_str(text).map_err(|e| {
                    ApiError::bad_request(format!("error decoding YAML: {e} (as JSON: {json_err})"))
                })?
            }
            Err(e) => return Err(ApiError::bad_request(format!("error decoding JSON: {e}"))),
        };
        if !value.is_object() {
            return Err(ApiError::bad_request("the body must be an object"));
        }
        let api_version = value.get("apiVersion").and_then(Value::as_str);
        if api_version.is_some_and(|a| a != def.api_version()) {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({}) does not match the expected API version ({})",
                api_version.unwrap_or_default(),
                def.api_version()
            )));
        }
        let kind = value.get("kind").and_then(Value::as_str);
        if kind.is_some_and(|k| k != def.kind) {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({}) does not match the expected kind ({})",
                kind.unwrap_or_default(),
                def.kind
            )));
        }
        let meta = value.get("metadata");
        if meta
            .and_then(|m| m.get("name"))
            .is_some_and(|n| !n.is_string())
        {
            return Err(ApiError::bad_request("metadata.name must be a string"));
        }
        let body_name = meta.and_then(|m| m.get("name")).and_then(Value::as_str);
        if let Some(url_name) = name
            && body_name.is_some_and(|n| n != url_name)
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({url_name})",
                body_name.unwrap_or_default()
            )));
        }
        let body_ns = meta
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str);
        if def.namespaced
            && let (Some(b), Some(u)) = (body_ns, namespace)
            && b != u
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        Ok(value)
    }

    fn require_namespace(
        &self,
        def: &ResourceDef,
        namespace: Option<&str>,
    ) -> Result<(), ApiError> {
        if !def.namespaced {
            return Ok(());
        }
        let Some(ns) = namespace else {
            return Err(ApiError::bad_request(
                "a namespaced object needs a namespace",
            ));
        };
        let key = Key {
            group: String::new(),
            plural: "namespaces".into(),
            namespace: String::new(),
            name: ns.to_string(),
        };
        if self.objects.contains_key(&key) {
            Ok(())
        } else {
            Err(ApiError {
                details: Some(json!({"name": ns, "kind": "namespaces"})),
                ..ApiError::new(404, "NotFound", format!("namespaces \"{ns}\" not found"))
            })
        }
    }

    /// Server-side apply.
    #[allow(clippy::too_many_arguments)] // one request's parts
    pub(super) fn apply(
        &mut self,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        body: &[u8],
        manager: &str,
        force: bool,
        dry: bool,
    ) -> Result<(u16, Value), ApiError> {
        if manager.is_empty() {
            return Err(ApiError::bad_request(
                "PATCH /apply requests require a fieldManager",
            ));
        }
        let config = self.body_object(def, namespace, Some(name), body, true)?;
        if config.get("apiVersion").is_none() || config.get("kind").is_none() {
            return Err(ApiError::bad_request(
                "an apply configuration needs apiVersion and kind",
            ));
        }
        if let Some(e) = undeclared_field_error(def, namespace, name, &config) {
            return Err(e);
        }
        let key = Key::new(def, namespace, name);
        let existing = self.objects.get(&key);
        if existing.is_none() {
            self.require_namespace(def, namespace)?;
        }
        let before = existing.map_or(Value::Null, |s| s.content.clone());
        let mut managers = existing.map(|s| s.managers.clone()).unwrap_or_default();
        let applied = fields::leaves(&config);
        let me = (manager.to_string(), "Apply".to_string());
        let previous = managers
            .get(&me)
            .map(|e| e.fields.clone())
            .unwrap_or_default();
        let owned_by_others = |p: &Path, managers: &Managers| {
            managers
                .iter()
                .filter(|((m, _), _)| m != manager)
                .any(|(_, e)| e.fields.iter().any(|q| fields::overlaps(p, q)))
        };

        let mut result = if before.is_null() {
            json!({})
        } else {
            before.clone()
        };
        for p in previous.difference(&applied) {
            if !owned_by_others(p, &managers) {
                fields::remove(&mut result, p);
            }
        }
        for p in &applied {
            if let Some(v) = fields::get(&config, p) {
                fields::set(&mut result, p, v.clone());
            }
        }

        // Conflicts: fields another manager owns whose value this apply changes.
        let mut conflicts: Vec<(String, String, Path)> = Vec::new();
        for ((m, op), e) in &managers {
            if m == manager {
                continue;
            }
            for q in &e.fields {
                let touched = applied.iter().any(|p| fields::overlaps(p, q));
                if touched && fields::get(&before, q) != fields::get(&result, q) {
                    conflicts.push((m.clone(), op.clone(), q.clone()));
                }
            }
        }
        if !conflicts.is_empty() {
            if !force {
                return Err(conflict_error(&conflicts, &managers));
            }
            for (m, op, q) in &conflicts {
                if let Some(e) = managers.get_mut(&(m.clone(), op.clone())) {
                    e.fields.remove(q);
                }
            }
        }

        let now = now_rfc3339();
        let time = match managers.get(&me) {
            Some(e) if e.fields == applied => e.time.clone(),
            _ => now,
        };
        managers.insert(
            me,
            ManagerEntry {
                api_version: def.api_version(),
                time,
                fields: applied,
            },
        );
        identity(def, &mut result, namespace, name);
        defaults(def, &mut result);
        self.commit(def, key, result, managers, dry)
    }

    /// A write recorded as an `Update` by `manager`: it takes the fields it
    /// changes from every other manager.
    fn update(
        &mut self,
        def: &ResourceDef,
        key: Key,
        mut content: Value,
        manager: &str,
        dry: bool,
    ) -> Result<(u16, Value), ApiError> {
        defaults(def, &mut content);
        let existing = self.objects.get(&key);
        let before = existing.map_or(Value::Null, |s| s.content.clone());
        let mut managers = existing.map(|s| s.managers.clone()).unwrap_or_default();
        let after = fields::leaves(&content);
        let changed: BTreeSet<Path> = after
            .iter()
            .filter(|p| fields::get(&before, p) != fields::get(&content, p))
            .cloned()
            .collect();
        let removed: Vec<Path> = fields::leaves(&before)
            .into_iter()
            .filter(|p| fields::get(&content, p).is_none())
            .collect();
        let me = (manager.to_string(), "Update".to_string());
        for (id, e) in managers.iter_mut() {
            if *id == me {
                continue;
            }
            e.fields.retain(|q| {
                !changed
                    .iter()
                    .chain(removed.iter())
                    .any(|p| fields::overlaps(p, q))
            });
        }
        if !changed.is_empty() {
            let entry = managers.entry(me).or_insert_with(|| ManagerEntry {
                api_version: def.api_version(),
                time: String::new(),
                fields: BTreeSet::new(),
            });
            entry.fields.extend(changed);
            entry.time = now_rfc3339();
        }
        self.commit(def, key, content, managers, dry)
    }

    fn create(
        &mut self,
        def: &ResourceDef,
        namespace: Option<&str>,
        body: &[u8],
        manager: &str,
        dry: bool,
    ) -> Result<(u16, Value), ApiError> {
        let mut content = self.body_object(def, namespace, None, body, false)?;
        let name = content
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ApiError::new(422, "Invalid", "metadata.name: Required value: name is required (generateName is not emulated)"))?;
        let key = Key::new(def, namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", def.qualified()),
            ));
        }
        self.require_namespace(def, namespace)?;
        strip_server_fields(&mut content);
        identity(def, &mut content, namespace, &name);
        self.update(def, key, content, manager, dry)
    }

    pub(super) fn merge_patch(
        &mut self,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        body: &[u8],
        manager: &str,
        dry: bool,
    ) -> Result<(u16, Value), ApiError> {
        let patch: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding JSON: {e}")))?;
        let key = Key::new(def, namespace, name);
        let stored = self
            .objects
            .get(&key)
            .ok_or_else(|| ApiError::not_found(def, name))?;
        let mut content = stored.content.clone();
        fields::merge_patch(&mut content, &patch);
        strip_server_fields(&mut content);
        identity(def, &mut content, namespace, name);
        self.update(def, key, content, manager, dry)
    }

    fn replace(
        &mut self,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        body: &[u8],
        manager: &str,
        dry: bool,
    ) -> Result<(u16, Value), ApiError> {
        let mut content = self.body_object(def, namespace, Some(name), body, false)?;
        let key = Key::new(def, namespace, name);
        let stored = self
            .objects
            .get(&key)
            .ok_or_else(|| ApiError::not_found(def, name))?;
        let sent_rv = content
            .get("metadata")
            .and_then(|m| m.get("resourceVersion"))
            .and_then(Value::as_str)
            .filter(|rv| !rv.is_empty());
        if let Some(rv) = sent_rv
            && rv != stored.rv.to_string()
        {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                    def.qualified()
                ),
            ));
        }
        if def.subresources.iter().any(|s| s == "status") {
            match stored.content.get("status") {
                Some(s) => content["status"] = s.clone(),
                None => {
                    if let Some(m) = content.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        strip_server_fields(&mut content);
        identity(def, &mut content, namespace, name);
        self.update(def, key, content, manager, dry)
    }

    pub(super) fn delete(
        &mut self,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        body: &[u8],
        dry: bool,
    ) -> Result<Value, ApiError> {
        let key = Key::new(def, namespace, name);
        let stored = self
            .objects
            .get(&key)
            .ok_or_else(|| ApiError::not_found(def, name))?;
        let options: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?
        };
        let pre = options.get("preconditions");
        let uid = pre.and_then(|p| p.get("uid")).and_then(Value::as_str);
        let rv = pre
            .and_then(|p| p.get("resourceVersion"))
            .and_then(Value::as_str);
        if uid.is_some_and(|u| u != stored.uid) || rv.is_some_and(|r| r != stored.rv.to_string()) {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {}, UID in object meta: {}",
                    def.qualified(),
                    uid.unwrap_or_default(),
                    stored.uid
                ),
            ));
        }
        let out = render(stored, def, true);
        if dry {
            return Ok(out);
        }
        self.remove_object(&key);
        if def.group.is_empty() && def.plural == "namespaces" {
            let inside: Vec<Key> = self
                .objects
                .keys()
                .filter(|k| k.namespace == name)
                .cloned()
                .collect();
            for k in inside {
                self.remove_object(&k);
            }
        }
        if def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions" {
            self.unregister_crd(&out);
        }
        Ok(out)
    }

    /// Stores `content` (unless `dry`) and returns it as the server would.
    pub(super) fn commit(
        &mut self,
        def: &ResourceDef,
        key: Key,
        content: Value,
        mut managers: Managers,
        dry: bool,
    ) -> Result<(u16, Value), ApiError> {
        managers.retain(|_, e| !e.fields.is_empty());
        let existing = self.objects.get(&key);
        if let Some(s) = existing {
            let same_managers = s.managers.len() == managers.len()
                && s.managers
                    .iter()
                    .zip(managers.iter())
                    .all(|((a, ea), (b, eb))| {
                        a == b && ea.fields == eb.fields && ea.api_version == eb.api_version
                    });
            if s.content == content && same_managers {
                return Ok((200, render(s, def, true)));
            }
        }
        if let Some(e) =
            existing.and_then(|s| immutable_error(def, &key.name, &s.content, &content))
        {
            return Err(e);
        }
        let created = existing.is_none();
        let stored = match existing {
            Some(s) => {
                let spec_changed = without_meta(&s.content) != without_meta(&content);
                Stored {
                    content,
                    uid: s.uid.clone(),
                    rv: if dry { s.rv } else { self.rv + 1 },
                    generation: s.generation + u64::from(spec_changed),
                    created: s.created.clone(),
                    managers,
                }
            }
            None => Stored {
                content,
                uid: if dry { String::new() } else { self.next_uid() },
                rv: if dry { self.rv } else { self.rv + 1 },
                generation: 1,
                created: now_rfc3339(),
                managers,
            },
        };
        let out = render(&stored, def, true);
        if !dry {
            let rv = self.next_rv();
            let kind = if created { "ADDED" } else { "MODIFIED" };
            self.watch_log.push(rv, kind, key.clone(), out.clone());
            if def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions" {
                self.register_crd(&stored.content);
            }
            self.objects.insert(key, stored);
        }
        Ok((if created { 201 } else { 200 }, out))
    }

    fn register_crd(&mut self, crd: &Value) {
        for def in crd_resources(crd) {
            self.resources.retain(|d| {
                !(d.group == def.group && d.version == def.version && d.plural == def.plural)
            });
            self.resources.push(def);
        }
    }

    fn unregister_crd(&mut self, crd: &Value) {
        let defs = crd_resources(crd);
        for def in &defs {
            let instances: Vec<Key> = self
                .objects
                .keys()
                .filter(|k| k.group == def.group && k.plural == def.plural)
                .cloned()
                .collect();
            for k in instances {
                self.remove_object(&k);
            }
            self.resources
                .retain(|d| !(d.group == def.group && d.plural == def.plural));
        }
    }

    /// Removes a stored object, recording a `DELETED` event with a new
    /// resourceVersion.
    fn remove_object(&mut self, key: &Key) {
        let Some(stored) = self.objects.remove(key) else {
            return;
        };
        let rv = self.next_rv();
        let Some(def) = self.def_for_key(key) else {
            return;
        };
        let mut object = render(&stored, def, true);
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.watch_log.push(rv, "DELETED", key.clone(), object);
    }
}

/// `metadata.name` and `metadata.namespace` from a `fieldSelector`; any
/// other field is a 400, as the API server answers for most kinds.
pub(super) fn field_selector(
    query: &BTreeMap<String, String>,
) -> Result<(Option<String>, Option<String>), ApiError> {
    let mut name_is = None;
    let mut ns_is = None;
    if let Some(fs) = query.get("fieldSelector") {
        for part in fs.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part
                .split_once("==")
                .or_else(|| part.split_once('='))
                .ok_or_else(|| {
                    ApiError::bad_request(format!("unsupported field selector `{part}`"))
                })?;
            match k.trim() {
                "metadata.name" => name_is = Some(v.trim().to_string()),
                "metadata.namespace" => ns_is = Some(v.trim().to_string()),
                other => {
                    return Err(ApiError::bad_request(format!(
                        "field label not supported: {other}"
                    )));
                }
            }
        }
    }
    Ok((name_is, ns_is))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn state() -> (State, ResourceDef) {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let st = State::new(&KubeOptions::default(), addr);
        let def = st.find_def("", "configmaps").unwrap().clone();
        (st, def)
    }

    fn apply(
        st: &mut State,
        def: &ResourceDef,
        manager: &str,
        data: Value,
        force: bool,
    ) -> Result<Value, ApiError> {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data});
        st.apply(
            def,
            Some("default"),
            "c",
            body.to_string().as_bytes(),
            manager,
            force,
            false,
        )
        .map(|(_, v)| v)
    }

    #[test]
    fn apply_creates_then_removes_fields_it_no_longer_sends() {
        let (mut st, def) = state();
        let v = apply(&mut st, &def, "m", json!({"a": "1", "b": "2"}), false).unwrap();
        assert_eq!(
            v["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:data": {"f:a": {}, "f:b": {}}})
        );
        let rv = v["metadata"]["resourceVersion"].clone();
        let again = apply(&mut st, &def, "m", json!({"a": "1", "b": "2"}), false).unwrap();
        assert_eq!(
            again["metadata"]["resourceVersion"], rv,
            "a no-op apply writes nothing"
        );
        let v = apply(&mut st, &def, "m", json!({"a": "1"}), false).unwrap();
        assert_eq!(v["data"], json!({"a": "1"}));
    }

    #[test]
    fn another_managers_field_conflicts_unless_forced() {
        let (mut st, def) = state();
        apply(&mut st, &def, "m", json!({"a": "1"}), false).unwrap();
        st.merge_patch(
            &def,
            Some("default"),
            "c",
            br#"{"data":{"a":"2","z":"9"}}"#,
            "kubectl-edit",
            false,
        )
        .unwrap();
        let err = apply(&mut st, &def, "m", json!({"a": "1"}), false).unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1: .data.a"
        );
        assert_eq!(err.details.unwrap()["causes"][0]["field"], ".data.a");
        // Same value: shared ownership, no conflict.
        apply(&mut st, &def, "m", json!({"a": "2"}), false).unwrap();
        let v = apply(&mut st, &def, "m", json!({"a": "3"}), true).unwrap();
        assert_eq!(v["data"], json!({"a": "3", "z": "9"}));
        let edit = v["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["manager"] == "kubectl-edit")
            .unwrap();
        assert_eq!(edit["operation"], "Update");
        assert_eq!(edit["fieldsV1"], json!({"f:data": {"f:z": {}}}));
    }

    fn apply_body(st: &mut State, def: &ResourceDef, body: Value) -> Result<Value, ApiError> {
        st.apply(
            def,
            Some("default"),
            "c",
            body.to_string().as_bytes(),
            "m",
            false,
            false,
        )
        .map(|(_, v)| v)
    }

    #[test]
    fn an_applied_field_the_schema_does_not_declare_is_a_500_as_on_a_real_server() {
        let (mut st, def) = state();
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "spec": {"z": 1}});
        let err = apply_body(&mut st, &def, body).unwrap_err();
        assert_eq!(err.code, 500);
        assert_eq!(
            err.message,
            "failed to create typed patch object (default/c; /v1, Kind=ConfigMap): .spec: field not declared in schema"
        );
        assert!(st.get(&def, Some("default"), "c").is_err());
    }

    #[test]
    fn an_immutable_config_maps_data_cannot_change_but_its_labels_can() {
        let (mut st, def) = state();
        let body = |data: Value, immutable: Value, labels: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": labels}, "data": data, "immutable": immutable});
        apply_body(
            &mut st,
            &def,
            body(json!({"a": "1"}), json!(true), json!({})),
        )
        .unwrap();
        let err = apply_body(
            &mut st,
            &def,
            body(json!({"a": "2"}), json!(true), json!({})),
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(
            err.message,
            "ConfigMap \"c\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
        );
        let err = apply_body(
            &mut st,
            &def,
            body(json!({"a": "1"}), json!(false), json!({})),
        )
        .unwrap_err();
        assert_eq!(err.details.unwrap()["causes"][0]["field"], "immutable");
        let v = apply_body(
            &mut st,
            &def,
            body(json!({"a": "1"}), json!(true), json!({"x": "y"})),
        )
        .unwrap();
        assert_eq!(v["metadata"]["labels"], json!({"x": "y"}));
        assert_eq!(v["data"], json!({"a": "1"}));
    }

    #[test]
    fn defaulted_and_folded_fields_are_stored() {
        let (mut st, _) = state();
        let def = st.find_def("", "secrets").unwrap().clone();
        let body = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}});
        let (code, v) = st
            .apply(
                &def,
                Some("default"),
                "s",
                body.to_string().as_bytes(),
                "m",
                false,
                true,
            )
            .unwrap();
        assert_eq!(code, 201);
        assert_eq!(v["type"], "Opaque");
        assert_eq!(v["data"], json!({"k": "dg=="}));
        assert!(v.get("stringData").is_none());
        assert!(
            st.get(&def, Some("default"), "s").is_err(),
            "a dry run stores nothing"
        );
    }

    #[test]
    fn an_apply_body_may_be_yaml_and_needs_a_namespace_that_exists() {
        let (mut st, def) = state();
        let yaml = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  k: v\n";
        let (_, v) = st
            .apply(&def, Some("default"), "cfg", yaml, "m", false, false)
            .unwrap();
        assert_eq!(v["data"]["k"], "v");
        assert_eq!(v["metadata"]["namespace"], "default");
        let err = st
            .apply(&def, Some("nowhere"), "cfg", yaml, "m", false, false)
            .unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (404, "namespaces \"nowhere\" not found")
        );
        let err = st
            .apply(&def, Some("default"), "other", yaml, "m", false, false)
            .unwrap_err();
        assert_eq!(err.code, 400);
    }

    #[test]
    fn a_lease_is_created_read_and_replaced_with_optimistic_concurrency() {
        let (mut st, _) = state();
        let def = st.find_def("coordination.k8s.io", "Lease").unwrap().clone();
        let lease = |holder: &str, rv: Option<&str>| {
            let mut v = json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": "mooring"},
                "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                         "renewTime": "2024-01-02T03:04:05.000000Z", "leaseTransitions": 0}
            });
            if let Some(rv) = rv {
                v["metadata"]["resourceVersion"] = json!(rv);
            }
            v.to_string()
        };
        let (code, created) = st
            .create(
                &def,
                Some("default"),
                lease("a", None).as_bytes(),
                "m",
                false,
            )
            .unwrap();
        assert_eq!(code, 201);
        assert_eq!(created["spec"]["holderIdentity"], "a");
        assert_eq!(created["spec"]["renewTime"], "2024-01-02T03:04:05.000000Z");
        let rv1 = created["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        // A second create of the same name: AlreadyExists.
        let err = st
            .create(
                &def,
                Some("default"),
                lease("b", None).as_bytes(),
                "m",
                false,
            )
            .unwrap_err();
        assert_eq!((err.code, err.reason), (409, "AlreadyExists"));
        let read = st.get(&def, Some("default"), "mooring").unwrap();
        assert_eq!(read["metadata"]["resourceVersion"], rv1.as_str());

        // PUT with the resourceVersion read: accepted, a new version.
        let (code, replaced) = st
            .replace(
                &def,
                Some("default"),
                "mooring",
                lease("b", Some(&rv1)).as_bytes(),
                "m",
                false,
            )
            .unwrap();
        assert_eq!(code, 200);
        assert_eq!(replaced["spec"]["holderIdentity"], "b");
        let rv2 = replaced["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        assert_ne!(rv1, rv2);
        // PUT with the stale one: 409 Conflict, nothing changed.
        let err = st
            .replace(
                &def,
                Some("default"),
                "mooring",
                lease("c", Some(&rv1)).as_bytes(),
                "m",
                false,
            )
            .unwrap_err();
        assert_eq!((err.code, err.reason), (409, "Conflict"));
        let read = st.get(&def, Some("default"), "mooring").unwrap();
        assert_eq!(read["spec"]["holderIdentity"], "b");
        assert_eq!(read["metadata"]["resourceVersion"], rv2.as_str());

        // Through the router: the verb and resource are counted.
        let uri: Uri = "/apis/coordination.k8s.io/v1/namespaces/default/leases/mooring"
            .parse()
            .unwrap();
        let resp = st.handle(
            &Method::PUT,
            &uri,
            &HeaderMap::new(),
            lease("d", Some(&rv1)).as_bytes(),
        );
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        let resp = st.handle(
            &Method::PUT,
            &uri,
            &HeaderMap::new(),
            lease("d", Some(&rv2)).as_bytes(),
        );
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(st.calls.get("PUT leases"), Some(&2));
    }
}
