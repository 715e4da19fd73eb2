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
//!   optimistic concurrency; DELETE (with `preconditions`). Watch
//!   (`?watch=true`, see [`watch`]: events after a `resourceVersion`, 410
//!   beyond a bounded history, selectors, bookmarks, `timeoutSeconds`;
//!   off with [`KubeOptions::watch`]). Namespaced
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
//! - Two checks a real kube-apiserver makes, answered as it answers them: a
//!   server-side apply of a top-level field the schema of a ConfigMap,
//!   Secret or Namespace does not declare is a **500** (`failed to create
//!   typed patch object ...: .spec: field not declared in schema`), and a
//!   change to the data (or `immutable`) of a ConfigMap or Secret with
//!   `immutable: true` is a 422 (``field is immutable when `immutable` is
//!   set``).
//! - Faults: [`KubeEmulator::inject`] answers matching requests with a
//!   given status a number of times; an optional bearer token (401 without
//!   it); per-verb call counters ([`KubeEmulator::calls`]).
//!
//! # What it does not emulate
//! Strategic merge patch and JSON patch (415), list merging by key
//! (`x-kubernetes-list-type: map`, `k:`/`v:` entries in managedFields: every
//! list is atomic here), admission webhooks, schema validation and pruning
//! of built-in and custom types (any fields are stored as sent, but for the
//! top-level check above), defaulting
//! beyond the list above, version conversion (an object is returned in the
//! version asked for, unchanged), streaming lists (`sendInitialEvents`),
//! subresources (`/status`,
//! `/scale`: 404), finalizers, graceful deletion and garbage collection
//! (deletes are immediate; `propagationPolicy` is accepted and ignored),
//! RBAC and authentication beyond one bearer token, aggregated discovery,
//! protobuf, `generateName`, and `resourceVersion` semantics on LIST/GET.

mod api;
mod discovery;
mod fields;
mod objects;
mod selector;
mod watch;
mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use fields::Path;
use objects::render;

/// How an emulator starts.
#[derive(Debug, Clone)]
pub struct KubeOptions {
    /// Require `Authorization: Bearer <token>` (401 otherwise).
    pub token: Option<String>,
    /// Serve the LlamaStack and wasmCloud kinds from the start, as if their
    /// CRDs were installed.
    pub custom_resources: bool,
    /// Serve `?watch=true` (otherwise 405 `MethodNotAllowed`, and `watch`
    /// is left out of discovery's verbs).
    pub watch: bool,
    /// How many changes are kept for watches to resume from; a watch from
    /// an older resourceVersion gets a 410 `Expired` error event.
    pub watch_history: usize,
}

impl Default for KubeOptions {
    fn default() -> Self {
        KubeOptions {
            token: None,
            custom_resources: true,
            watch: true,
            watch_history: 10_000,
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

    /// Drops the watch history, as an etcd compaction at the current
    /// revision does: a watch resumed from an older resourceVersion gets a
    /// 410 `Expired` and has to list again.
    pub fn compact(&self) {
        self.lock().watch_log.compact();
    }

    /// Removes every injected fault that has not fired yet.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Requests received, by `VERB resource` (`LIST configmaps`,
    /// `WATCH configmaps`, `PATCH secrets`, `GET namespaces`,
    /// `DELETE configmaps`, `PUT leases`, `POST configmaps`) or
    /// `DISCOVERY /apis/...`.
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
        self.lock().watch_log.stop();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

// ---------------------------------------------------------------------------
// State: what the server holds. Request handling is in `api`, helpers on
// stored objects in `objects`, field paths in `fields`.

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
    /// Whether `?watch=true` is served.
    watch: bool,
    watch_log: watch::Log,
}

/// Looking up what is served; every module of the server reads these.
impl State {
    /// The stored object `name` of `def` (in `namespace`) with its key, or
    /// the API's 404.
    fn stored(
        &self,
        def: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(Key, &Stored), ApiError> {
        let key = Key::new(def, namespace, name);
        match self.objects.get(&key) {
            Some(stored) => Ok((key, stored)),
            None => Err(ApiError::not_found(def, name)),
        }
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
}

/// What a request gets: an answer, or a watch to stream.
enum Reply {
    Response(Response),
    Watch(Box<watch::Start>),
}

impl Reply {
    /// The status line (a watch starts with 200).
    #[cfg(test)]
    fn status(&self) -> StatusCode {
        match self {
            Reply::Response(r) => r.status(),
            Reply::Watch(_) => StatusCode::OK,
        }
    }
}

impl From<Response> for Reply {
    fn from(r: Response) -> Reply {
        Reply::Response(r)
    }
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

type Shared = Arc<Mutex<State>>;

async fn handle(
    AxState(state): AxState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        st.handle(&method, &uri, &headers, &body)
    };
    match reply {
        Reply::Response(r) => r,
        Reply::Watch(start) => watch::respond(state, *start),
    }
}
