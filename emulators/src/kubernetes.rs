//! A Kubernetes API server over HTTP on loopback, keeping objects in
//! memory, for mooring's tests, sandbox and benchmarks. The production
//! client (kube-rs) talks to it unmodified: through a kubeconfig written by
//! [`KubeEmulator::write_kubeconfig`].
//!
//! # What it serves
//! - Discovery: `/api`, `/api/v1`, `/apis`, `/apis/{group}`,
//!   `/apis/{group}/{version}` for the core kinds mooring manages
//!   (namespaces, configmaps, secrets, serviceaccounts),
//!   customresourcedefinitions, leases, and (unless
//!   [`KubeOptions::custom_resources`] is off) the LlamaStack and wasmCloud
//!   custom resources as if their CRDs were installed. Applying a
//!   CustomResourceDefinition serves its kind (marked `Established` at once);
//!   deleting it stops serving it and deletes its objects.
//! - Objects: GET; LIST per namespace or across all namespaces, with
//!   `labelSelector` (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`),
//!   `fieldSelector` on `metadata.name`/`metadata.namespace`, and
//!   `limit`/`continue` paging; server-side apply (PATCH
//!   `application/apply-patch+yaml`, JSON or YAML body, `fieldManager`,
//!   `force`, `dryRun=All`); JSON merge patch
//!   (`application/merge-patch+json`); POST; PUT with `resourceVersion`
//!   optimistic concurrency; DELETE (with `preconditions`). Namespaced
//!   objects need their Namespace to exist; deleting a Namespace deletes
//!   its objects at once.
//! - Server fields: `uid`, `resourceVersion` (one counter for the whole
//!   server, bumped only by writes that change something), `generation`
//!   (bumped when anything outside `metadata` and `status` changes),
//!   `creationTimestamp`, and `managedFields` in the real `FieldsV1` format.
//! - Server-side apply: each manager owns the leaf fields it set (lists are
//!   leaves). Applying a field another manager owns with a different value
//!   is a 409 `Conflict` `Status` with `FieldManagerConflict` causes, unless
//!   `force=true`, which moves the ownership. Fields a manager applied
//!   before and no longer sends are removed unless another manager owns
//!   them too. Updates (merge patch, PUT, POST) never conflict and take the
//!   ownership of the fields they change.
//! - Defaulting, so "no drift from defaulted fields" can be tested: Secret
//!   `type: Opaque` and `stringData` folded into base64 `data`; Namespace
//!   `spec.finalizers: [kubernetes]` and `status.phase: Active`;
//!   LlamaStackDistribution `spec.replicas: 1`.
//! - Faults: [`KubeEmulator::inject`] answers matching requests with a
//!   given status a number of times; an optional bearer token (401 without
//!   it); per-verb call counters ([`KubeEmulator::calls`]).
//!
//! # What it does not emulate
//! Strategic merge patch and JSON patch (415), list merging by key
//! (`x-kubernetes-list-type: map`, `k:`/`v:` entries in managedFields: every
//! list is atomic here), admission webhooks, schema validation and pruning
//! of built-in and custom types (any fields are stored as sent), defaulting
//! beyond the list above, version conversion (an object is returned in the
//! version asked for, unchanged), watch, subresources (`/status`,
//! `/scale`: 404), finalizers, graceful deletion and garbage collection
//! (deletes are immediate; `propagationPolicy` is accepted and ignored),
//! RBAC and authentication beyond one bearer token, aggregated discovery,
//! protobuf, `generateName`, and `resourceVersion` semantics on LIST/GET.

mod fields;
mod selector;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use fields::Path;
use selector::Selector;

/// How an emulator starts.
#[derive(Debug, Clone)]
pub struct KubeOptions {
    /// Require `Authorization: Bearer <token>` (401 otherwise).
    pub token: Option<String>,
    /// Serve the LlamaStack and wasmCloud kinds from the start, as if their
    /// CRDs were installed.
    pub custom_resources: bool,
}

impl Default for KubeOptions {
    fn default() -> Self {
        KubeOptions {
            token: None,
            custom_resources: true,
        }
    }
}

/// A running emulator; it stops when dropped.
pub struct KubeEmulator {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    token: Option<String>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl KubeEmulator {
    /// Starts an emulator on `127.0.0.1` on a free port.
    pub async fn start(options: KubeOptions) -> std::io::Result<KubeEmulator> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::new(&options, addr)));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let stop = async {
                let _ = rx.await;
            };
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await;
        });
        Ok(KubeEmulator {
            addr,
            state,
            token: options.token,
            shutdown: Some(tx),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Writes a kubeconfig whose current context (`context`) points at this
    /// emulator, with the bearer token when one is required.
    pub fn write_kubeconfig(&self, path: &std::path::Path, context: &str) -> std::io::Result<()> {
        let user = match &self.token {
            Some(t) => format!("\n    token: {}", json!(t)),
            None => " {}".to_string(),
        };
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {c}\nclusters:\n- name: {c}\n  cluster:\n    server: {url}\ncontexts:\n- name: {c}\n  context:\n    cluster: {c}\n    user: {c}\n    namespace: default\nusers:\n- name: {c}\n  user:{user}\n",
            c = json!(context),
            url = self.url(),
        );
        std::fs::write(path, text)
    }

    /// The next `times` requests whose path and query contain
    /// `path_contains` (and whose HTTP method or verb, e.g. `PATCH` or
    /// `LIST`, is `method` when given) are answered with `status`.
    pub fn inject(&self, method: Option<&str>, path_contains: &str, status: u16, times: usize) {
        self.lock().faults.push(Fault {
            method: method.map(str::to_ascii_uppercase),
            path_contains: path_contains.to_string(),
            status,
            remaining: times,
        });
    }

    /// Requests received, by `VERB resource` (`LIST configmaps`,
    /// `PATCH secrets`, `GET namespaces`, `DELETE configmaps`, `PUT leases`,
    /// `POST configmaps`) or `DISCOVERY /apis/...`.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.lock().calls.clone()
    }

    pub fn reset_calls(&self) {
        self.lock().calls.clear();
    }

    /// Every stored object, as a GET would return it.
    pub fn objects(&self) -> Vec<Value> {
        let st = self.lock();
        st.objects
            .iter()
            .filter_map(|(key, stored)| {
                let def = st.def_for_key(key)?;
                Some(render(stored, def, true))
            })
            .collect()
    }

    /// One object, by group (`""` for core), kind or plural resource name,
    /// namespace (`None` for cluster-scoped) and name.
    pub fn get(
        &self,
        group: &str,
        kind_or_resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let st = self.lock();
        let def = st.find_def(group, kind_or_resource)?;
        let key = Key::new(def, namespace, name);
        st.objects.get(&key).map(|s| render(s, def, true))
    }

    /// Changes an object behind mooring's back, as `kubectl edit` would: a
    /// JSON merge patch recorded as an `Update` by `manager`.
    pub fn edit_as(
        &self,
        manager: &str,
        group: &str,
        kind_or_resource: &str,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<Value, String> {
        let mut st = self.lock();
        let def = st
            .find_def(group, kind_or_resource)
            .cloned()
            .ok_or_else(|| format!("{kind_or_resource}.{group} is not served"))?;
        let body = serde_json::to_vec(patch).map_err(|e| e.to_string())?;
        st.merge_patch(&def, namespace, name, &body, manager, false)
            .map(|(_, v)| v)
            .map_err(|e| e.message)
    }

    /// Server-side applies `object` as `manager` (e.g. to create an object
    /// mooring does not own).
    pub fn apply_as(&self, manager: &str, object: &Value, force: bool) -> Result<Value, String> {
        let mut st = self.lock();
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let (group, version) = split_api_version(api_version);
        let def = st
            .resources
            .iter()
            .find(|d| d.group == group && d.version == version && d.kind == kind)
            .cloned()
            .ok_or_else(|| format!("{kind} {api_version} is not served"))?;
        let meta = object.get("metadata");
        let name = meta
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let namespace = def.namespaced.then(|| {
            meta.and_then(|m| m.get("namespace"))
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string()
        });
        let body = serde_json::to_vec(object).map_err(|e| e.to_string())?;
        st.apply(
            &def,
            namespace.as_deref(),
            &name,
            &body,
            manager,
            force,
            false,
        )
        .map(|(_, v)| v)
        .map_err(|e| e.message)
    }

    /// Deletes an object behind mooring's back. Whether it existed.
    pub fn delete_direct(
        &self,
        group: &str,
        kind_or_resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> bool {
        let mut st = self.lock();
        let Some(def) = st.find_def(group, kind_or_resource).cloned() else {
            return false;
        };
        st.delete(&def, namespace, name, &[], false).is_ok()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for KubeEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

// ---------------------------------------------------------------------------
// State

/// One served resource (a kind in one group-version).
#[derive(Debug, Clone)]
struct ResourceDef {
    group: String,
    version: String,
    plural: String,
    singular: String,
    kind: String,
    namespaced: bool,
    short_names: Vec<String>,
    subresources: Vec<String>,
    /// Built into the server: list items carry no apiVersion/kind, as a
    /// real API server returns them.
    builtin: bool,
}

impl ResourceDef {
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `configmaps` or `llamastackdistributions.llamastack.io`, as the API
    /// server names a resource in messages.
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

fn builtin(
    group: &str,
    version: &str,
    plural: &str,
    kind: &str,
    namespaced: bool,
    short: &[&str],
    subresources: &[&str],
) -> ResourceDef {
    ResourceDef {
        group: group.into(),
        version: version.into(),
        plural: plural.into(),
        singular: kind.to_ascii_lowercase(),
        kind: kind.into(),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        subresources: subresources.iter().map(|s| s.to_string()).collect(),
        builtin: true,
    }
}

#[derive(Debug, Clone, PartialEq)]
struct ManagerEntry {
    api_version: String,
    time: String,
    fields: BTreeSet<Path>,
}

/// Field managers by (manager, operation `Apply`/`Update`).
type Managers = BTreeMap<(String, String), ManagerEntry>;

#[derive(Debug, Clone)]
struct Stored {
    /// The object without server-set metadata (uid, resourceVersion,
    /// generation, creationTimestamp, managedFields).
    content: Value,
    uid: String,
    rv: u64,
    generation: u64,
    created: String,
    managers: Managers,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    group: String,
    plural: String,
    /// Empty for cluster-scoped objects.
    namespace: String,
    name: String,
}

impl Key {
    fn new(def: &ResourceDef, namespace: Option<&str>, name: &str) -> Key {
        Key {
            group: def.group.clone(),
            plural: def.plural.clone(),
            namespace: if def.namespaced {
                namespace.unwrap_or_default().to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }
}

#[derive(Debug)]
struct Fault {
    method: Option<String>,
    path_contains: String,
    status: u16,
    remaining: usize,
}

struct State {
    resources: Vec<ResourceDef>,
    objects: BTreeMap<Key, Stored>,
    rv: u64,
    uids: u64,
    faults: Vec<Fault>,
    calls: BTreeMap<String, u64>,
    token: Option<String>,
    addr: SocketAddr,
}

/// An error answered as a Kubernetes `Status`.
#[derive(Debug)]
struct ApiError {
    code: u16,
    reason: &'static str,
    message: String,
    details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    fn not_found(def: &ResourceDef, name: &str) -> ApiError {
        ApiError {
            details: Some(json!({"name": name, "group": def.group, "kind": def.plural})),
            ..ApiError::new(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", def.qualified()),
            )
        }
    }

    fn no_resource() -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    fn status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.code, &self.status())
    }
}

fn json_response(code: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    }
}

/// What a request addresses.
enum Route {
    CoreVersions,
    CoreResources(String),
    Groups,
    Group(String),
    GroupResources(String, String),
    Collection(ResourceDef, Option<String>),
    Object(ResourceDef, Option<String>, String),
}

fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

impl State {
    fn new(options: &KubeOptions, addr: SocketAddr) -> State {
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
                ("runtime.wasmcloud.dev", "hosts", "Host", false, &[][..]),
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

    fn def_for_key(&self, key: &Key) -> Option<&ResourceDef> {
        self.resources
            .iter()
            .find(|d| d.group == key.group && d.plural == key.plural)
    }

    fn find_def(&self, group: &str, kind_or_resource: &str) -> Option<&ResourceDef> {
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

    fn handle(&mut self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
        if let Some(token) = &self.token {
            let sent = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if sent != Some(token.as_str()) {
                return ApiError::new(401, "Unauthorized", "Unauthorized").into_response();
            }
        }
        let path = uri.path();
        let query: BTreeMap<String, String> = uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let route = match self.route(path) {
            Ok(r) => r,
            Err(e) => return e.into_response(),
        };
        let verb = match (&route, method.as_str()) {
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
                .into_response();
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
            Ok((code, body)) => json_response(code, &body),
            Err(e) => e.into_response(),
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
        let verbs = [
            "create", "delete", "get", "list", "patch", "update", "watch",
        ];
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
    fn apply(
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

    fn merge_patch(
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

    fn delete(
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
        self.objects.remove(&key);
        self.next_rv();
        if def.group.is_empty() && def.plural == "namespaces" {
            self.objects.retain(|k, _| k.namespace != name);
        }
        if def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions" {
            self.unregister_crd(&out);
        }
        Ok(out)
    }

    /// Stores `content` (unless `dry`) and returns it as the server would.
    fn commit(
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
            self.next_rv();
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
            self.resources
                .retain(|d| !(d.group == def.group && d.plural == def.plural));
            self.objects
                .retain(|k, _| !(k.group == def.group && k.plural == def.plural));
        }
    }
}

/// The resources a CustomResourceDefinition serves (one per served version).
fn crd_resources(crd: &Value) -> Vec<ResourceDef> {
    let spec = crd.get("spec");
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    let group = s(spec.and_then(|s| s.get("group")));
    let names = spec.and_then(|s| s.get("names"));
    let plural = s(names.and_then(|n| n.get("plural")));
    let kind = s(names.and_then(|n| n.get("kind")));
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Vec::new();
    }
    let singular = names
        .and_then(|n| n.get("singular"))
        .and_then(Value::as_str)
        .map_or_else(|| kind.to_ascii_lowercase(), str::to_string);
    let short_names: Vec<String> = names
        .and_then(|n| n.get("shortNames"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let namespaced = spec.and_then(|s| s.get("scope")).and_then(Value::as_str) != Some("Cluster");
    spec.and_then(|s| s.get("versions"))
        .and_then(Value::as_array)
        .map(|versions| {
            versions
                .iter()
                .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
                .filter_map(|v| v.get("name").and_then(Value::as_str))
                .map(|version| ResourceDef {
                    group: group.clone(),
                    version: version.to_string(),
                    plural: plural.clone(),
                    singular: singular.clone(),
                    kind: kind.clone(),
                    namespaced,
                    short_names: short_names.clone(),
                    subresources: Vec::new(),
                    builtin: false,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn conflict_error(conflicts: &[(String, String, Path)], managers: &Managers) -> ApiError {
    let api_version = |m: &str, op: &str| {
        managers
            .get(&(m.to_string(), op.to_string()))
            .map(|e| e.api_version.clone())
            .unwrap_or_default()
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, op, p)| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with \"{m}\" using {}", api_version(m, op)),
                "field": fields::display(p),
            })
        })
        .collect();
    let mut by_manager: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (m, op, p) in conflicts {
        by_manager
            .entry((m.clone(), op.clone()))
            .or_default()
            .push(fields::display(p));
    }
    let parts: Vec<String> = by_manager
        .iter()
        .map(|((m, op), paths)| {
            let v = api_version(m, op);
            if paths.len() == 1 {
                format!("conflict with \"{m}\" using {v}: {}", paths[0])
            } else {
                let list: String = paths.iter().map(|p| format!("\n- {p}")).collect();
                format!("conflicts with \"{m}\" using {v}:{list}")
            }
        })
        .collect();
    let n = conflicts.len();
    let message = format!(
        "Apply failed with {n} conflict{}: {}",
        if n == 1 { "" } else { "s" },
        parts.join("\n")
    );
    ApiError {
        details: Some(json!({"causes": causes})),
        ..ApiError::new(409, "Conflict", message)
    }
}

/// Writes the name and namespace the URL says; a cluster-scoped object has
/// no namespace.
fn identity(def: &ResourceDef, content: &mut Value, namespace: Option<&str>, name: &str) {
    if !content.is_object() {
        *content = json!({});
    }
    content["apiVersion"] = json!(def.api_version());
    content["kind"] = json!(def.kind);
    if !content.get("metadata").is_some_and(Value::is_object) {
        content["metadata"] = json!({});
    }
    if let Some(meta) = content.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("name".into(), json!(name));
        match namespace {
            Some(ns) if def.namespaced => {
                meta.insert("namespace".into(), json!(ns));
            }
            _ => {
                meta.remove("namespace");
            }
        }
    }
}

fn strip_server_fields(content: &mut Value) {
    if let Some(meta) = content.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in [
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(f);
        }
    }
}

/// The emulated defaulting and mutation of built-in and known kinds.
fn defaults(def: &ResourceDef, content: &mut Value) {
    let Some(obj) = content.as_object_mut() else {
        return;
    };
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Secret") => {
            if let Some(Value::Object(string_data)) = obj.remove("stringData") {
                let data = obj.entry("data").or_insert_with(|| json!({}));
                if !data.is_object() {
                    *data = json!({});
                }
                if let Some(data) = data.as_object_mut() {
                    for (k, v) in string_data {
                        let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                        data.insert(
                            k,
                            json!(base64::engine::general_purpose::STANDARD.encode(text)),
                        );
                    }
                }
            }
            obj.entry("type").or_insert_with(|| json!("Opaque"));
        }
        ("", "Namespace") => {
            let spec = obj.entry("spec").or_insert_with(|| json!({}));
            if let Some(spec) = spec.as_object_mut() {
                spec.entry("finalizers")
                    .or_insert_with(|| json!(["kubernetes"]));
            }
            obj.insert("status".into(), json!({"phase": "Active"}));
        }
        ("llamastack.io", "LlamaStackDistribution") => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                spec.entry("replicas").or_insert_with(|| json!(1));
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let names = obj
                .get("spec")
                .and_then(|s| s.get("names"))
                .cloned()
                .unwrap_or_else(|| json!({}));
            obj.insert(
                "status".into(),
                json!({
                    "acceptedNames": names,
                    "conditions": [
                        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
                    ],
                }),
            );
        }
        _ => {}
    }
}

fn without_meta(content: &Value) -> Value {
    let mut v = content.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

/// The stored object as the API returns it: content plus server fields.
fn render(stored: &Stored, def: &ResourceDef, type_meta: bool) -> Value {
    let mut v = stored.content.clone();
    let Some(obj) = v.as_object_mut() else {
        return v;
    };
    if type_meta {
        obj.insert("apiVersion".into(), json!(def.api_version()));
        obj.insert("kind".into(), json!(def.kind));
    } else {
        obj.remove("apiVersion");
        obj.remove("kind");
    }
    let meta = obj.entry("metadata").or_insert_with(|| json!({}));
    if let Some(meta) = meta.as_object_mut() {
        if !stored.uid.is_empty() {
            meta.insert("uid".into(), json!(stored.uid));
        }
        meta.insert("resourceVersion".into(), json!(stored.rv.to_string()));
        meta.insert("generation".into(), json!(stored.generation));
        meta.insert("creationTimestamp".into(), json!(stored.created));
        let managed: Vec<Value> = stored
            .managers
            .iter()
            .map(|((manager, operation), e)| {
                json!({
                    "manager": manager,
                    "operation": operation,
                    "apiVersion": e.api_version,
                    "time": e.time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": fields::to_fields_v1(&e.fields),
                })
            })
            .collect();
        if !managed.is_empty() {
            meta.insert("managedFields".into(), Value::Array(managed));
        }
    }
    v
}

/// Now as `2024-05-01T12:00:00Z`.
fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

type Shared = Arc<Mutex<State>>;

async fn handle(
    AxState(state): AxState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    st.handle(&method, &uri, &headers, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_seconds() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        assert!(t.as_str() > "2024-01-01T00:00:00Z", "{t}");
    }

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
}
