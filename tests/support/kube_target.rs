//! A Kubernetes target for a test: the API emulator (`mooring-emulators`, one
//! per test, with fault injection and call counters) or a real
//! kube-apiserver with etcd (`scripts/kube-apiserver`, testenv/), shared by
//! every test of a run. One test body runs against both through
//! [`on_both_targets!`]; it reads and changes live objects through
//! [`KubeEnv`], never through one target's own API.
//!
//! The real server is, in this order:
//! - the one whose kubeconfig `MOORING_TEST_KUBECONFIG` names (scripts/test
//!   starts one for the whole run and exports it);
//! - otherwise one started by this test binary on first use, with
//!   `scripts/kube-apiserver up` into a temporary folder (building the
//!   control plane first if needed: minutes, once), which stops and removes
//!   itself when this process exits.
//!
//! If it cannot start, every `real` test fails with the reason: never a
//! silent skip. `cargo test --test kubernetes emulator` runs only the
//! emulator half.
//!
//! The real server is shared, so a test must isolate itself: every name it
//! creates comes from [`KubeEnv::name`] (unique per test), and its objects
//! carry its own source label ([`KubeEnv::source`]), so one test's prune never
//! sees another's objects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use mooring_emulators::kubernetes::{KubeEmulator, KubeOptions};
use serde_json::Value;

use super::proxy::{self, Proxy};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Emulator,
    Real,
}

/// Generates `mod NAME { emulator, real }`: two tests that run the async
/// fn `NAME(target: Target)` against each target.
#[macro_export]
macro_rules! on_both_targets {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn emulator() {
                super::$name($crate::support::kube_target::Target::Emulator).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn real() {
                super::$name($crate::support::kube_target::Target::Real).await
            }
        }
    )+};
}

/// The manager the fixture writes its own objects (test CRDs) as.
const FIXTURE_MANAGER: &str = "mooring-tests";

pub struct KubeEnv {
    pub target: Target,
    pub kubeconfig: PathBuf,
    pub context: String,
    /// This test's source name: ownership labels, and so pruning, are per
    /// test on the shared real server.
    pub source: String,
    /// Unique per test; [`KubeEnv::name`] appends it.
    pub id: String,
    pub dir: tempfile::TempDir,
    emu: Option<KubeEmulator>,
    client: kube::Client,
    url: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // Short: names are limited to 63 characters (Namespaces, labels).
    format!(
        "{:x}",
        (u64::from(std::process::id()) << 20 ^ u64::from(nanos) >> 10 ^ u64::from(n) << 8)
            & 0xff_ffff_ffff
    )
}

impl KubeEnv {
    /// A fresh emulator with default options, or the shared real server.
    pub async fn start(target: Target) -> KubeEnv {
        KubeEnv::start_with(target, KubeOptions::default()).await
    }

    /// `options` apply to the emulator only (the real server is shared and
    /// has the test CRDs installed).
    pub async fn start_with(target: Target, options: KubeOptions) -> KubeEnv {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let id = unique_id();
        let (emu, kubeconfig, context) = match target {
            Target::Emulator => {
                let emu = KubeEmulator::start(options)
                    .await
                    .expect("the emulator starts on 127.0.0.1");
                let kubeconfig = dir.path().join("kubeconfig");
                emu.write_kubeconfig(&kubeconfig, "emulator")
                    .expect("the emulator's kubeconfig is written");
                (Some(emu), kubeconfig, "emulator".to_string())
            }
            Target::Real => {
                let server = match real_server() {
                    Ok(server) => server,
                    Err(e) => panic!("the real Kubernetes API server is not available: {e}"),
                };
                (None, server.kubeconfig.clone(), "mooring-testenv".into())
            }
        };
        let (client, url) = client_for(&kubeconfig, &context).await;
        let env = KubeEnv {
            target,
            kubeconfig,
            context,
            source: format!("test-{id}"),
            id,
            dir,
            emu,
            client,
            url,
        };
        if target == Target::Real {
            env.install_test_crds().await;
        }
        env
    }

    /// `base` made unique to this test, for every name it creates
    /// (namespaces, objects in `default`, cluster-scoped objects).
    pub fn name(&self, base: &str) -> String {
        format!("{base}-{}", self.id)
    }

    /// The inside of mooring.yaml's `targets.kubernetes` mapping for this
    /// target: `kubeconfig: …, context: …`.
    pub fn target(&self) -> String {
        format!(
            "kubeconfig: {}, context: {}",
            self.kubeconfig.display(),
            self.context
        )
    }

    /// The emulator, for emulator-only steps (faults, call counts).
    pub fn emu(&self) -> Option<&KubeEmulator> {
        self.emu.as_ref()
    }

    /// Stops the emulator (the kubeconfig stays): a server that went away.
    pub fn stop_emulator(&mut self) {
        drop(self.emu.take());
    }

    /// Request counters: the emulator's, or `None` on the real server.
    pub fn calls(&self) -> Option<BTreeMap<String, u64>> {
        self.emu.as_ref().map(KubeEmulator::calls)
    }

    pub fn reset_calls(&self) {
        if let Some(emu) = &self.emu {
            emu.reset_calls();
        }
    }

    /// The API server's URL, as the kubeconfig has it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A client as the kubeconfig's user (system:masters on the real server).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A kubeconfig for the same server (and CA) whose user has `token`.
    pub fn kubeconfig_with_token(&self, token: &str) -> PathBuf {
        let config = kube::config::Kubeconfig::read_from(&self.kubeconfig)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.kubeconfig.display()));
        let ca = config
            .clusters
            .iter()
            .filter_map(|c| c.cluster.as_ref())
            .find_map(|c| c.certificate_authority_data.clone());
        let ca = ca
            .map(|data| format!(", certificate-authority-data: '{data}'"))
            .unwrap_or_default();
        let path = self.dir.path().join(format!("kubeconfig-{token}"));
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: other\nclusters: [{{name: c, cluster: {{server: '{}'{ca}}}}}]\ncontexts: [{{name: other, context: {{cluster: c, user: u}}}}]\nusers: [{{name: u, user: {{token: '{token}'}}}}]\n",
                self.url
            ),
        )
        .expect("the kubeconfig copy is written");
        path
    }

    /// A copy of the kubeconfig whose server is `proxy`, which forwards to
    /// this target: a link the test can cut.
    pub fn kubeconfig_via(&self, proxy: &Proxy) -> PathBuf {
        let text = std::fs::read_to_string(&self.kubeconfig)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.kubeconfig.display()));
        assert!(
            text.contains(&self.url),
            "{} does not name {} as written",
            self.kubeconfig.display(),
            self.url
        );
        let path = self.dir.path().join("kubeconfig-via-proxy");
        std::fs::write(&path, text.replace(&self.url, &proxy.url_for(&self.url)))
            .expect("the kubeconfig copy is written");
        path
    }

    /// Compacts the watch history at the current revision: on the real
    /// server, etcd's (through its JSON gateway; ConfigMap watches read
    /// etcd directly, testenv/main.go), on the emulator its event log. A
    /// watch resumed from an older resourceVersion then gets a 410.
    pub async fn compact(&self) {
        match &self.emu {
            Some(emu) => emu.compact(),
            // A write outside the API server's keys first, so the compaction
            // is past every object's last change: a watch resumed just
            // before a change whose previous version was compacted gets a
            // 500 instead (see [`KubeEnv::compact_at`]).
            None => self.etcd_compact(None).await,
        }
    }

    /// Real server only: compacts etcd at `revision` (an object's
    /// `resourceVersion`: the revision of its last change). A watch resumed
    /// from just before that change is served the change, but its previous
    /// version is gone: the API server sends a 500 (`etcd event received
    /// with PrevKv=nil`) on every try.
    pub async fn compact_at(&self, revision: &str) {
        assert!(self.emu.is_none(), "the emulator has no etcd");
        self.etcd_compact(Some(revision.to_string())).await;
    }

    /// Compacts etcd at `at`, or past every change so far when `None` (a
    /// write outside the API server's keys first).
    async fn etcd_compact(&self, at: Option<String>) {
        let dir = self.kubeconfig.parent().expect("the kubeconfig's folder");
        let file = dir.join("etcd-endpoint");
        let endpoint = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        let etcd = proxy::socket_addr(endpoint.trim());
        tokio::task::spawn_blocking(move || {
            let answer = match at {
                Some(revision) => serde_json::json!({"header": {"revision": revision}}),
                // base64 of "/mooring-tests/compaction" and "1"
                None => etcd_post(
                    etcd,
                    "/v3/kv/put",
                    &serde_json::json!({"key": "L21vb3JpbmctdGVzdHMvY29tcGFjdGlvbg==", "value": "MQ=="}),
                ),
            };
            let revision = answer["header"]["revision"].clone();
            assert!(!revision.is_null(), "etcd gave no revision: {answer}");
            let done = etcd_post(
                etcd,
                "/v3/kv/compaction",
                &serde_json::json!({"revision": revision, "physical": true}),
            );
            assert!(done.get("header").is_some(), "etcd did not compact: {done}");
        })
        .await
        .expect("the compaction request ran");
    }

    async fn api(&self, group: &str, kind: &str, namespace: Option<&str>) -> Api<DynamicObject> {
        let resource = resource(&self.client, group, kind).await;
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
            None => Api::all_with(self.client.clone(), &resource),
        }
    }

    /// One live object by group (`""` for core), kind, namespace and name.
    pub async fn get(
        &self,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        if let Some(emu) = &self.emu {
            return emu.get(group, kind, namespace, name);
        }
        let api = self.api(group, kind, namespace).await;
        let object = api
            .get_opt(name)
            .await
            .unwrap_or_else(|e| panic!("GET {kind} {name}: {e}"))?;
        Some(serde_json::to_value(object).expect("an object is JSON"))
    }

    /// Changes an object behind mooring's back as `kubectl edit` would: a
    /// JSON merge patch, recorded as an `Update` by `manager`.
    pub async fn edit_as(
        &self,
        manager: &str,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Value {
        if let Some(emu) = &self.emu {
            return emu
                .edit_as(manager, group, kind, namespace, name, patch)
                .unwrap_or_else(|e| panic!("edit {kind} {name}: {e}"));
        }
        let api = self.api(group, kind, namespace).await;
        let params = PatchParams {
            field_manager: Some(manager.to_string()),
            ..PatchParams::default()
        };
        let object = api
            .patch(name, &params, &Patch::Merge(patch))
            .await
            .unwrap_or_else(|e| panic!("edit {kind} {name}: {e}"));
        serde_json::to_value(object).expect("an object is JSON")
    }

    /// Server-side applies `object` as `manager`.
    pub async fn apply_as(&self, manager: &str, object: &Value, force: bool) -> Value {
        if let Some(emu) = &self.emu {
            return emu
                .apply_as(manager, object, force)
                .unwrap_or_else(|e| panic!("apply {object}: {e}"));
        }
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let kind = object["kind"].as_str().unwrap_or_default();
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let resource = resource(&self.client, group, kind).await;
        let api: Api<DynamicObject> = if resource_is_namespaced(&self.client, group, kind).await {
            let ns = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default");
            Api::namespaced_with(self.client.clone(), ns, &resource)
        } else {
            Api::all_with(self.client.clone(), &resource)
        };
        let mut params = PatchParams::apply(manager);
        params.force = force;
        let applied = api
            .patch(name, &params, &Patch::Apply(object))
            .await
            .unwrap_or_else(|e| panic!("apply {kind} {name}: {e}"));
        serde_json::to_value(applied).expect("an object is JSON")
    }

    /// Deletes an object behind mooring's back. Whether it existed.
    pub async fn delete(
        &self,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> bool {
        if let Some(emu) = &self.emu {
            return emu.delete_direct(group, kind, namespace, name);
        }
        let api = self.api(group, kind, namespace).await;
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => true,
            Err(kube::Error::Api(s)) if s.code == 404 => false,
            Err(e) => panic!("DELETE {kind} {name}: {e}"),
        }
    }

    /// `mooring ARGS` against this target (`--kubeconfig`, `--context`,
    /// `--no-policies` added), in the test's folder; with `--source-name`
    /// this test's source when `named`. `kubeconfig` replaces the target's
    /// own (e.g. one through a proxy).
    pub fn mooring_args(
        &self,
        args: &[&str],
        named: bool,
        kubeconfig: Option<&Path>,
    ) -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend([
            "--kubeconfig".to_string(),
            kubeconfig.unwrap_or(&self.kubeconfig).display().to_string(),
            "--context".to_string(),
            self.context.clone(),
            "--no-policies".to_string(),
        ]);
        if named {
            all.extend(["--source-name".to_string(), self.source.clone()]);
        }
        all
    }

    /// Runs `mooring ARGS` against this target, without naming the source
    /// (see [`KubeEnv::mooring_args`]).
    pub async fn mooring(&self, args: &[&str]) -> super::Output {
        let all = self.mooring_args(args, false, None);
        super::mooring_async(all, self.dir.path().to_path_buf()).await
    }

    /// Runs `mooring ARGS` against this target as this test's source.
    pub async fn mooring_named(&self, args: &[&str]) -> super::Output {
        let all = self.mooring_args(args, true, None);
        super::mooring_async(all, self.dir.path().to_path_buf()).await
    }

    /// A CustomResourceDefinition of a namespaced kind `Kind` (plural
    /// `plural`) in `group`, served as `v1`, whose schema keeps every field.
    pub fn open_crd(group: &str, plural: &str, kind: &str) -> Value {
        serde_json::json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.{group}")},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {"plural": plural, "singular": kind.to_lowercase(), "kind": kind, "listKind": format!("{kind}List")},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}],
            },
        })
    }

    /// Installs a CustomResourceDefinition as the tests' own manager, and
    /// waits until discovery serves its kind (at most 30 s).
    pub async fn install_crd(&self, crd: &Value) {
        self.apply_as(FIXTURE_MANAGER, crd, true).await;
        let group = crd["spec"]["group"].as_str().unwrap_or_default();
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap_or_default();
        for _ in 0..300 {
            if kube::discovery::group(&self.client, group)
                .await
                .ok()
                .and_then(|g| g.recommended_kind(kind))
                .is_some()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the CRD of {kind}.{group} is not served after 30 s");
    }

    /// Deletes a CustomResourceDefinition and waits until discovery no
    /// longer serves its kind (at most 30 s).
    pub async fn uninstall_crd(&self, name: &str, group: &str, kind: &str) {
        self.delete(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            None,
            name,
        )
        .await;
        for _ in 0..300 {
            let served = kube::discovery::group(&self.client, group)
                .await
                .ok()
                .and_then(|g| g.recommended_kind(kind))
                .is_some();
            if !served {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{kind}.{group} is still served 30 s after its CRD was deleted");
    }

    /// On the real server: the CustomResourceDefinition the emulator serves
    /// built in (LlamaStackDistribution), as `mooring crds` prints it (the
    /// same library function), applied idempotently, then waited for until
    /// discovery serves it.
    async fn install_test_crds(&self) {
        let info = mooring::kinds::find("llamastack.io/v1alpha1", "LlamaStackDistribution")
            .expect("mooring knows LlamaStackDistribution");
        let crd = mooring::kinds::crd::crd(info);
        assert_eq!(
            crd.pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/replicas/default"),
            Some(&serde_json::json!(1)),
            "the generated CRD defaults spec.replicas as upstream's does"
        );
        self.apply_as(FIXTURE_MANAGER, &crd, true).await;
        for _ in 0..300 {
            if kube::discovery::group(&self.client, "llamastack.io")
                .await
                .ok()
                .and_then(|g| g.recommended_kind("LlamaStackDistribution"))
                .is_some()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the CRD llamastackdistributions.llamastack.io is not served after 30 s");
    }
}

/// `POST path` with a JSON body to etcd's JSON gateway on loopback, and the
/// JSON it answers.
fn etcd_post(etcd: std::net::SocketAddr, path: &str, body: &Value) -> Value {
    use std::io::{Read, Write};
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(etcd)
        .unwrap_or_else(|e| panic!("connecting to etcd at {etcd}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {etcd}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("POST {path} to etcd: {e}"));
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .unwrap_or_else(|e| panic!("reading etcd's answer to {path}: {e}"));
    // The JSON object, whether or not the body is chunked.
    let json = match (response.find('{'), response.rfind('}')) {
        (Some(start), Some(end)) if start < end => &response[start..=end],
        _ => panic!("etcd's answer to {path} has no JSON: {response}"),
    };
    serde_json::from_str(json).unwrap_or_else(|e| panic!("etcd's answer to {path}: {e}: {json}"))
}

async fn client_for(kubeconfig: &Path, context: &str) -> (kube::Client, String) {
    let config = kube::config::Kubeconfig::read_from(kubeconfig)
        .unwrap_or_else(|e| panic!("reading {}: {e}", kubeconfig.display()));
    let options = kube::config::KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(config, &options)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", kubeconfig.display()));
    let url = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    (kube::Client::try_from(config).expect("a client"), url)
}

async fn discover(client: &kube::Client, group: &str, kind: &str) -> (ApiResource, bool) {
    for _ in 0..100 {
        if let Some((resource, caps)) = kube::discovery::group(client, group)
            .await
            .ok()
            .and_then(|g| g.recommended_kind(kind))
        {
            return (resource, caps.scope == kube::discovery::Scope::Namespaced);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{kind} ({group}) is not served by the real API server");
}

async fn resource(client: &kube::Client, group: &str, kind: &str) -> ApiResource {
    discover(client, group, kind).await.0
}

async fn resource_is_namespaced(client: &kube::Client, group: &str, kind: &str) -> bool {
    discover(client, group, kind).await.1
}

struct RealServer {
    kubeconfig: PathBuf,
}

static REAL: OnceLock<Result<RealServer, String>> = OnceLock::new();

fn real_server() -> Result<&'static RealServer, String> {
    REAL.get_or_init(start_real_server)
        .as_ref()
        .map_err(Clone::clone)
}

fn start_real_server() -> Result<RealServer, String> {
    if let Some(path) = std::env::var_os("MOORING_TEST_KUBECONFIG") {
        let kubeconfig = PathBuf::from(path);
        if !kubeconfig.is_file() {
            return Err(format!(
                "MOORING_TEST_KUBECONFIG={} is not a file: start a server with `scripts/kube-apiserver up DIR` and point it at DIR/kubeconfig, or unset it to have the tests start one",
                kubeconfig.display()
            ));
        }
        return Ok(RealServer { kubeconfig });
    }
    Ok(RealServer {
        kubeconfig: super::control_plane::start_owned("mooring-kube-")?,
    })
}
