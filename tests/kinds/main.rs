//! Schemas and typed rules of every kind mooring knows, tested against the
//! rules upstream enforces.

use mooring::finding::Severity;
use mooring::kinds::{self, formats, ignite};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// Harness

/// One problem, from the schema or from the typed rules.
#[derive(Debug, Clone, PartialEq)]
struct Problem {
    /// `schema:<ErrorKind>` or `rule`.
    source: String,
    pointer: String,
    message: String,
}

fn error_kind_name(kind: &jsonschema::error::ValidationErrorKind) -> String {
    let debug = format!("{kind:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Validates `doc` the way the validator does: schema first (with our
/// formats), typed rules only when the schema passed.
fn validate(doc: &Value) -> Vec<Problem> {
    let api_version = doc["apiVersion"].as_str().expect("apiVersion");
    let kind_name = doc["kind"].as_str().expect("kind");
    let kind = kinds::find(api_version, kind_name).expect("kind is registered");
    validate_as(kind, doc)
}

/// Validates `doc` against a given kind, whatever its own apiVersion/kind say.
fn validate_as(kind: &kinds::KindInfo, doc: &Value) -> Vec<Problem> {
    let schema = (kind.schema)();
    let mut opts = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true);
    for f in formats::formats() {
        opts = opts.with_format(f.name, f.check);
    }
    let validator = opts.build(&schema).expect("schema compiles");
    let problems: Vec<Problem> = validator
        .iter_errors(doc)
        .map(|e| Problem {
            source: format!("schema:{}", error_kind_name(e.kind())),
            pointer: e.instance_path().to_string(),
            message: e.to_string(),
        })
        .collect();
    if !problems.is_empty() {
        return problems;
    }
    (kind.check)(doc)
        .into_iter()
        .filter(|v| v.severity == Severity::Error)
        .map(|v| Problem {
            source: "rule".into(),
            pointer: v.pointer,
            message: v.message,
        })
        .collect()
}

/// The typed rules' warnings about a document whose schema passed.
fn warnings(doc: &Value) -> Vec<(String, String)> {
    let kind = kinds::find(
        doc["apiVersion"].as_str().expect("apiVersion"),
        doc["kind"].as_str().expect("kind"),
    )
    .expect("kind is registered");
    (kind.check)(doc)
        .into_iter()
        .filter(|v| v.severity == Severity::Warning)
        .map(|v| (v.pointer, v.message))
        .collect()
}

fn assert_valid(doc: &Value) {
    let problems = validate(doc);
    assert!(problems.is_empty(), "expected valid, got {problems:#?}");
}

/// Asserts exactly one problem, of this source at this pointer, and returns
/// its message.
fn assert_one(doc: &Value, source: &str, pointer: &str) -> String {
    let problems = validate(doc);
    assert_eq!(problems.len(), 1, "expected one problem, got {problems:#?}");
    assert_eq!(problems[0].source, source, "{problems:#?}");
    assert_eq!(problems[0].pointer, pointer, "{problems:#?}");
    problems[0].message.clone()
}

/// `doc` with the value at `pointer` replaced (or added).
fn with(doc: &Value, pointer: &str, value: Value) -> Value {
    let mut doc = doc.clone();
    let (parent, last) = pointer.rsplit_once('/').expect("pointer");
    let target = doc.pointer_mut(parent).expect("parent exists");
    match target {
        Value::Object(map) => {
            map.insert(last.to_string(), value);
        }
        Value::Array(items) => {
            let i: usize = last.parse().expect("index");
            if i == items.len() {
                items.push(value);
            } else {
                items[i] = value;
            }
        }
        _ => panic!("parent of {pointer} is not a container"),
    }
    doc
}

/// `doc` without the value at `pointer`.
fn without(doc: &Value, pointer: &str) -> Value {
    let mut doc = doc.clone();
    let (parent, last) = pointer.rsplit_once('/').expect("pointer");
    match doc.pointer_mut(parent).expect("parent exists") {
        Value::Object(map) => {
            map.remove(last).expect("field exists");
        }
        _ => panic!("parent of {pointer} is not an object"),
    }
    doc
}

// ---------------------------------------------------------------------------
// Registry and rendering

#[test]
fn registry_has_every_kind_with_its_scope() {
    use kinds::Scope::*;
    let expected = [
        (
            "llamastack.io/v1alpha1",
            "LlamaStackDistribution",
            Namespaced,
        ),
        ("runtime.wasmcloud.dev/v1alpha1", "Artifact", Namespaced),
        (
            "runtime.wasmcloud.dev/v1alpha1",
            "Host",
            NamespacedOrCluster,
        ),
        ("runtime.wasmcloud.dev/v1alpha1", "Workload", Namespaced),
        (
            "runtime.wasmcloud.dev/v1alpha1",
            "WorkloadDeployment",
            Namespaced,
        ),
        (
            "runtime.wasmcloud.dev/v1alpha1",
            "WorkloadReplicaSet",
            Namespaced,
        ),
        ("ignite.weave.works/v1alpha1", "VM", Cluster),
        ("ignite.weave.works/v1alpha1", "Kernel", Cluster),
        ("ignite.weave.works/v1alpha1", "Image", Cluster),
        ("ignite.weave.works/v1alpha1", "Pool", Singleton),
        ("ignite.weave.works/v1alpha2", "VM", Cluster),
        ("ignite.weave.works/v1alpha2", "Kernel", Cluster),
        ("ignite.weave.works/v1alpha2", "Image", Cluster),
        ("ignite.weave.works/v1alpha2", "Pool", Singleton),
        ("ignite.weave.works/v1alpha3", "VM", Cluster),
        ("ignite.weave.works/v1alpha3", "Kernel", Cluster),
        ("ignite.weave.works/v1alpha3", "Image", Cluster),
        ("ignite.weave.works/v1alpha3", "Pool", Singleton),
        ("ignite.weave.works/v1alpha4", "VM", Cluster),
        ("ignite.weave.works/v1alpha4", "Kernel", Cluster),
        ("ignite.weave.works/v1alpha4", "Image", Cluster),
        ("ignite.weave.works/v1alpha4", "Pool", Singleton),
        ("flintlock.liquidmetal.dev/v1alpha1", "MicroVM", Namespaced),
    ];
    assert_eq!(kinds::all().len(), expected.len());
    for (api_version, kind, scope) in expected {
        let info = kinds::find(api_version, kind).unwrap_or_else(|| panic!("{kind}"));
        assert_eq!(info.scope, scope, "{kind}");
    }
    assert!(kinds::find("v1", "MicroVM").is_none());
    assert_eq!(
        kinds::find("flintlock.liquidmetal.dev/v1alpha1", "MicroVM")
            .unwrap()
            .schema_file(),
        "flintlock.liquidmetal.dev/v1alpha1/MicroVM.json"
    );
    // Kubernetes' own kinds are the generated built-in table's, with the
    // scope discovery gives them.
    assert!(kinds::find("v1", "Secret").is_none());
    assert_eq!(kinds::scope("v1", "Secret"), Some(Namespaced));
    assert_eq!(kinds::scope("v1", "Namespace"), Some(Cluster));
    assert_eq!(
        kinds::scope("rbac.authorization.k8s.io/v1", "ClusterRole"),
        Some(Cluster)
    );
    assert_eq!(kinds::scope("example.com/v1", "Widget"), None);
}

fn visit_schemas(v: &Value, f: &mut dyn FnMut(&serde_json::Map<String, Value>)) {
    match v {
        Value::Object(map) => {
            f(map);
            map.values().for_each(|c| visit_schemas(c, f));
        }
        Value::Array(items) => items.iter().for_each(|c| visit_schemas(c, f)),
        _ => {}
    }
}

#[test]
fn schemas_are_strict_local_and_titled() {
    for kind in kinds::all() {
        let schema = (kind.schema)();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["properties"]["kind"]["const"], kind.kind);
        assert_eq!(
            schema["properties"]["apiVersion"]["const"],
            kind.api_version()
        );
        assert!(schema["title"].as_str().unwrap().starts_with(kind.kind));
        let mut refs = 0;
        visit_schemas(&schema, &mut |map| {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                refs += 1;
                assert!(r.starts_with("#/$defs/"), "remote ref {r}");
                let name = &r["#/$defs/".len()..];
                assert!(schema["$defs"].get(name).is_some(), "dangling {r}");
            }
            if let (Some(Value::Object(_)), Some(t)) = (map.get("properties"), map.get("type")) {
                if t == "object" {
                    assert!(
                        map.contains_key("additionalProperties"),
                        "{}: object without additionalProperties",
                        kind.kind
                    );
                }
            }
            if map.get("format").and_then(Value::as_str) == Some("int32") {
                let min = map["minimum"].as_i64().expect("int32 minimum");
                let max = map["maximum"].as_i64().expect("int32 maximum");
                assert!(
                    min >= i32::MIN.into() && max <= i32::MAX.into(),
                    "{}",
                    kind.kind
                );
            }
            if map.get("format").and_then(Value::as_str) == Some("uint32") {
                assert_eq!(map["minimum"], json!(0));
                assert_eq!(map["maximum"], json!(u32::MAX));
            }
        });
        let _ = refs;
    }
}

#[test]
fn quantity_definition_is_replaced() {
    let schema = (kinds::find("llamastack.io/v1alpha1", "LlamaStackDistribution")
        .unwrap()
        .schema)();
    let q = &schema["$defs"]["io.k8s.apimachinery.pkg.api.resource.Quantity"];
    assert_eq!(q["type"], json!(["integer", "string"]));
    assert_eq!(q["pattern"], formats::QUANTITY);
}

#[test]
fn render_all_is_deterministic_and_indexed() {
    let a = kinds::schema::render_all();
    let b = kinds::schema::render_all();
    assert_eq!(a, b);
    assert_eq!(a.len(), 24);
    let (last_path, index) = a.last().unwrap();
    assert_eq!(last_path, "index.json");
    let index: Value = serde_json::from_str(index).unwrap();
    let entries = index.as_array().unwrap();
    assert_eq!(entries.len(), 23);
    assert!(entries.contains(&json!({
        "apiVersion": "flintlock.liquidmetal.dev/v1alpha1",
        "kind": "MicroVM",
        "scope": "Namespaced",
        "file": "flintlock.liquidmetal.dev/v1alpha1/MicroVM.json",
        "upstream": "Flintlock v0.11.0 (api/types/microvm.proto), in mooring's wrapper",
    })));
    assert!(entries.contains(&json!({
        "apiVersion": "runtime.wasmcloud.dev/v1alpha1",
        "kind": "Host",
        "scope": "NamespacedOrCluster",
        "file": "runtime.wasmcloud.dev/v1alpha1/Host.json",
        "upstream": "wasmCloud runtime-operator v2.7.0 (wasmCloud/wasmCloud) and the reference document",
    })));
    let pool = entries
        .iter()
        .find(|e| e["apiVersion"] == "ignite.weave.works/v1alpha1" && e["kind"] == "Pool")
        .expect("Pool is indexed");
    assert_eq!(pool["scope"], "Singleton");
    assert_eq!(pool["file"], "ignite.weave.works/v1alpha1/Pool.json");
    assert!(pool["upstream"].as_str().unwrap().contains("v1alpha1"));
    for (path, text) in &a {
        assert!(text.ends_with("}\n") || text.ends_with("]\n"), "{path}");
        let parsed: Value = serde_json::from_str(text).unwrap();
        // Keys come out sorted.
        if let Value::Object(map) = &parsed {
            let keys: Vec<&String> = map.keys().collect();
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(keys, sorted, "{path}");
        }
    }
    assert!(
        a.iter()
            .any(|(p, _)| p == "flintlock.liquidmetal.dev/v1alpha1/MicroVM.json")
    );
}

#[test]
fn check_reports_deserialization_failure_at_the_field() {
    let kind = kinds::find("flintlock.liquidmetal.dev/v1alpha1", "MicroVM").unwrap();
    let violations = (kind.check)(&json!({"apiVersion": 1}));
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].pointer, "/apiVersion");
    assert_eq!(violations[0].severity, Severity::Error);
    assert!(violations[0].shape);
    assert!(
        violations[0].message.contains("invalid type"),
        "{violations:?}"
    );
}

#[test]
fn whole_number_floats_read_as_integers() {
    let kind = kinds::find("llamastack.io/v1alpha1", "LlamaStackDistribution").unwrap();
    let doc = json!({
        "apiVersion": "llamastack.io/v1alpha1", "kind": "LlamaStackDistribution",
        "metadata": {"name": "a"},
        "spec": {"replicas": 2.0, "server": {"distribution": {"name": "starter"}}}
    });
    assert!((kind.check)(&doc).is_empty());
}

// ---------------------------------------------------------------------------
// LlamaStackDistribution

fn llsd() -> Value {
    json!({
        "apiVersion": "llamastack.io/v1alpha1",
        "kind": "LlamaStackDistribution",
        "metadata": {"name": "llama", "namespace": "ai", "labels": {"app": "llama"}},
        "spec": {
            "replicas": 1,
            "server": {
                "distribution": {"name": "ollama"},
                "containerSpec": {
                    "name": "llama-stack",
                    "port": 8321,
                    "resources": {
                        "requests": {"cpu": "500m", "memory": "1Gi"},
                        "limits": {"memory": 2147483648u64},
                    },
                    "env": [{"name": "OLLAMA_URL", "value": "http://ollama:11434"}],
                    "command": ["llama"],
                    "args": ["stack", "run"],
                },
                "podOverrides": {
                    "volumes": [{"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}}],
                    "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
                },
                "storage": {"size": "10Gi", "mountPath": "/.llama"},
                "userConfig": {"configMapName": "llama-config"},
            },
        },
        "status": {"phase": "Ready", "anything": [1, 2]},
    })
}

#[test]
fn llsd_valid() {
    assert_valid(&llsd());
    assert_valid(&with(
        &llsd(),
        "/spec/server/distribution",
        json!({"image": "quay.io/llama/stack:1"}),
    ));
    assert_valid(&with(
        &llsd(),
        "/spec/server/storage/size",
        json!(10737418240u64),
    ));
    assert_valid(&with(&llsd(), "/spec/server/storage/size", json!(null)));
    assert_valid(&with(&llsd(), "/spec/server/distribution", json!({})));
}

#[test]
fn llsd_name_and_image_is_the_cel_rule() {
    let doc = with(
        &llsd(),
        "/spec/server/distribution/image",
        json!("quay.io/llama/stack:1"),
    );
    let msg = assert_one(&doc, "rule", "/spec/server/distribution");
    assert_eq!(msg, "Only one of name or image can be specified");
}

#[test]
fn llsd_required_fields() {
    assert_one(
        &without(&llsd(), "/spec/server/distribution"),
        "schema:Required",
        "/spec/server",
    );
    assert_one(
        &without(&llsd(), "/spec/server"),
        "schema:Required",
        "/spec",
    );
    assert_one(&without(&llsd(), "/spec"), "schema:Required", "");
    assert_one(
        &without(&llsd(), "/spec/server/userConfig/configMapName"),
        "schema:Required",
        "/spec/server/userConfig",
    );
    assert_one(
        &with(
            &llsd(),
            "/spec/server/containerSpec/env/0",
            json!({"value": "x"}),
        ),
        "schema:Required",
        "/spec/server/containerSpec/env/0",
    );
}

#[test]
fn llsd_quantities() {
    let msg = assert_one(
        &with(&llsd(), "/spec/server/storage/size", json!("10 Gi")),
        "schema:Pattern",
        "/spec/server/storage/size",
    );
    assert!(msg.contains(formats::QUANTITY), "{msg}");
    assert!(formats::pattern_expected(formats::QUANTITY).is_some());
    assert_one(
        &with(
            &llsd(),
            "/spec/server/containerSpec/resources/limits/cpu",
            json!("2 cores"),
        ),
        "schema:Pattern",
        "/spec/server/containerSpec/resources/limits/cpu",
    );
    assert_one(
        &with(&llsd(), "/spec/server/storage/size", json!(1.5)),
        "schema:Type",
        "/spec/server/storage/size",
    );
    assert_valid(&with(&llsd(), "/spec/server/storage/size", json!("1.5e3")));
}

#[test]
fn llsd_types_ranges_and_unknown_fields() {
    assert_one(
        &with(&llsd(), "/spec/replicas", json!(2147483648u64)),
        "schema:Maximum",
        "/spec/replicas",
    );
    assert_one(
        &with(&llsd(), "/spec/server/containerSpec/port", json!("8321")),
        "schema:Type",
        "/spec/server/containerSpec/port",
    );
    assert_one(
        &with(&llsd(), "/spec/server/worker", json!(2)),
        "schema:AdditionalProperties",
        "/spec/server",
    );
    // k8s-openapi types are made strict too.
    assert_one(
        &with(
            &llsd(),
            "/spec/server/podOverrides/volumes/0/emptyDir/size",
            json!("1Gi"),
        ),
        "schema:AdditionalProperties",
        "/spec/server/podOverrides/volumes/0/emptyDir",
    );
    assert_one(
        &with(&llsd(), "/metadata/labels/app", json!(1)),
        "schema:Type",
        "/metadata/labels/app",
    );
    assert_one(
        &with(&llsd(), "/metadata/name", json!("Llama")),
        "schema:Pattern",
        "/metadata/name",
    );
    assert_one(
        &with(&llsd(), "/metadata/uid", json!("abc")),
        "schema:AdditionalProperties",
        "/metadata",
    );
    let info = kinds::find("llamastack.io/v1alpha1", "LlamaStackDistribution").unwrap();
    let problems = validate_as(info, &with(&llsd(), "/kind", json!("LlamaStack")));
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].source, "schema:Constant");
    assert_eq!(problems[0].pointer, "/kind");
}

// ---------------------------------------------------------------------------
// wasmCloud

fn artifact() -> Value {
    json!({
        "apiVersion": "runtime.wasmcloud.dev/v1alpha1",
        "kind": "Artifact",
        "metadata": {"name": "hello", "namespace": "default"},
        "spec": {"image": "ghcr.io/wasmcloud/hello:0.1.0", "imagePullSecret": {"name": "ghcr"}},
    })
}

#[test]
fn wasmcloud_artifact() {
    assert_valid(&artifact());
    assert_valid(&with(&artifact(), "/spec", json!(null)));
    assert_valid(&without(&artifact(), "/spec"));
    assert_one(
        &with(&artifact(), "/spec", json!({})),
        "schema:Required",
        "/spec",
    );
    assert_one(
        &with(
            &artifact(),
            "/spec/imagePullSecret",
            json!({"name": "x", "namespace": "y"}),
        ),
        "schema:AdditionalProperties",
        "/spec/imagePullSecret",
    );
}

fn host() -> Value {
    json!({
        "apiVersion": "runtime.wasmcloud.dev/v1alpha1",
        "kind": "Host",
        "metadata": {"name": "host-a"},
        "hostId": "NABCDEF",
        "hostname": "node-1",
        "httpPort": 8080,
    })
}

#[test]
fn wasmcloud_host() {
    assert_valid(&host());
    assert_one(
        &with(&host(), "/spec", json!({"hostId": "x"})),
        "schema:AdditionalProperties",
        "",
    );
    assert_one(&without(&host(), "/hostId"), "schema:Required", "");
    assert_one(
        &with(&host(), "/httpPort", json!(-1)),
        "schema:Minimum",
        "/httpPort",
    );
    // int32 upstream (v2.7); the reference document's uint32 never
    // allowed negatives either.
    assert_one(
        &with(&host(), "/httpPort", json!(2147483648u64)),
        "schema:Maximum",
        "/httpPort",
    );
    assert_valid(&with(&host(), "/httpPort", json!(2147483647u64)));
    assert_valid(&with(&host(), "/environment", json!("prod")));
    // Namespaced since runtime-operator v2.1.0: no warning with a namespace,
    // a warning naming the older, cluster-scoped CRD without one.
    let namespaced = with(&host(), "/metadata/namespace", json!("wasm-apps"));
    assert_valid(&namespaced);
    assert_eq!(warnings(&namespaced), vec![]);
    let w = warnings(&host());
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, "/metadata");
    assert!(
        w[0].1
            .contains("cluster-scoped Host of runtime-operator before v2.1.0"),
        "{w:?}"
    );
}

fn workload_spec() -> Value {
    json!({
        "hostSelector": {"region": "eu"},
        "components": [{
            "name": "http",
            "image": "ghcr.io/wasmcloud/http:0.1.0",
            "poolSize": 4,
            "maxInvocations": 1000,
            "localResources": {
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                "environment": {"configFrom": [{"name": "cm"}], "secretFrom": [{"name": "s"}], "config": {"A": "1"}},
                "config": {"LOG": "debug"},
                "allowedHosts": ["example.com"],
            },
        }],
        "hostInterfaces": [{
            "namespace": "wasi",
            "package": "http",
            "interfaces": ["incoming-handler"],
            "version": "0.2.0",
            "config": {"address": "0.0.0.0:8080"},
        }],
        "service": {"image": "ghcr.io/wasmcloud/svc:0.1.0", "maxRestarts": 3},
        "volumes": [
            {"name": "data", "hostPath": {"path": "/var/data"}},
            {"name": "scratch", "ephemeral": {}},
        ],
    })
}

fn workload() -> Value {
    json!({
        "apiVersion": "runtime.wasmcloud.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": "hello"},
        "spec": workload_spec(),
    })
}

#[test]
fn wasmcloud_workload() {
    assert_valid(&workload());
    assert_valid(&with(&workload(), "/spec", json!({})));
    assert_one(
        &with(&workload(), "/spec/hostInterfaces/0/interfaces", json!([])),
        "schema:MinItems",
        "/spec/hostInterfaces/0/interfaces",
    );
    assert_one(
        &without(&workload(), "/spec/hostInterfaces/0/package"),
        "schema:Required",
        "/spec/hostInterfaces/0",
    );
    assert_one(
        &without(&workload(), "/spec/components/0/image"),
        "schema:Required",
        "/spec/components/0",
    );
    assert_one(
        &with(&workload(), "/spec/service", json!({"maxRestarts": 1})),
        "schema:Required",
        "/spec/service",
    );
    assert_one(
        &with(&workload(), "/spec/volumes/0/hostPath", json!({})),
        "schema:Required",
        "/spec/volumes/0/hostPath",
    );
    assert_one(
        &with(
            &workload(),
            "/spec/volumes/1/ephemeral",
            json!({"sizeLimit": "1Gi"}),
        ),
        "schema:AdditionalProperties",
        "/spec/volumes/1/ephemeral",
    );
    assert_one(
        &with(
            &workload(),
            "/spec/components/0/localResources/volumeMounts/0",
            json!({"name": "data"}),
        ),
        "schema:Required",
        "/spec/components/0/localResources/volumeMounts/0",
    );
    assert_one(
        &with(
            &workload(),
            "/spec/hostInterfaces/0/config/port",
            json!(8080),
        ),
        "schema:Type",
        "/spec/hostInterfaces/0/config/port",
    );
    assert_one(
        &with(&workload(), "/spec/hostSelector/zone", json!(true)),
        "schema:Type",
        "/spec/hostSelector/zone",
    );
    assert_one(&without(&workload(), "/spec"), "schema:Required", "");
}

fn deployment() -> Value {
    json!({
        "apiVersion": "runtime.wasmcloud.dev/v1alpha1",
        "kind": "WorkloadDeployment",
        "metadata": {"name": "hello", "namespace": "apps"},
        "spec": {
            "replicas": 3,
            "deployPolicy": "Recreate",
            "artifacts": [{"name": "hello", "artifactFrom": {"name": "hello-artifact"}}],
            "template": {"labels": {"app": "hello"}, "annotations": {"a": "b"}, "spec": workload_spec()},
        },
    })
}

#[test]
fn wasmcloud_workload_deployment() {
    assert_valid(&deployment());
    // deployPolicy has no enum upstream; replicas has no minimum.
    assert_valid(&with(&deployment(), "/spec/deployPolicy", json!("Canary")));
    assert_valid(&with(&deployment(), "/spec/replicas", json!(-1)));
    assert_one(
        &without(&deployment(), "/spec/template"),
        "schema:Required",
        "/spec",
    );
    assert_one(
        &without(&deployment(), "/spec/template/spec"),
        "schema:Required",
        "/spec/template",
    );
    assert_one(
        &without(&deployment(), "/spec/artifacts/0/artifactFrom"),
        "schema:Required",
        "/spec/artifacts/0",
    );
    assert_one(
        &with(&deployment(), "/spec/template/labels/tier", json!(1)),
        "schema:Type",
        "/spec/template/labels/tier",
    );
}

#[test]
fn wasmcloud_workload_replica_set() {
    let rs = json!({
        "apiVersion": "runtime.wasmcloud.dev/v1alpha1",
        "kind": "WorkloadReplicaSet",
        "metadata": {"name": "hello-abc"},
        "spec": {"replicas": 2, "template": {"spec": workload_spec()}},
    });
    assert_valid(&rs);
    assert_one(
        &without(&rs, "/spec/template/spec"),
        "schema:Required",
        "/spec/template",
    );
    assert_one(
        &with(&rs, "/spec/deployPolicy", json!("Recreate")),
        "schema:AdditionalProperties",
        "/spec",
    );
    assert_one(
        &with(&rs, "/spec/replicas", json!(-2147483649i64)),
        "schema:Minimum",
        "/spec/replicas",
    );
}

// ---------------------------------------------------------------------------
// Ignite

fn vm() -> Value {
    json!({
        "apiVersion": "ignite.weave.works/v1alpha1",
        "kind": "VM",
        "metadata": {"name": "my-vm", "labels": {"env": "dev"}},
        "spec": {
            "image": {"ociClaim": {"type": "Docker", "ref": "weaveworks/ignite-ubuntu:latest"}},
            "kernel": {
                "ociClaim": {"ref": "weaveworks/ignite-kernel:4.19.47"},
                "cmdLine": "console=ttyS0 reboot=k panic=1 pci=off ip=dhcp",
            },
            "cpus": 2,
            "memory": "1GB",
            "diskSize": "4GB",
            "networkMode": "docker-bridge",
            "ports": [{"hostPort": 8080, "vmPort": 80}, {"hostPort": 2222, "vmPort": 22}],
            "copyFiles": [{"hostPath": "/etc/resolv.conf", "vmPath": "/etc/resolv.conf"}],
            "ssh": {"publicKey": "/home/me/.ssh/id_ed25519.pub"},
        },
    })
}

#[test]
fn ignite_vm_valid() {
    assert_valid(&vm());
    assert_valid(&without(&vm(), "/spec/kernel"));
    assert_valid(&with(&vm(), "/spec/ssh", json!({})));
    assert_valid(&with(&vm(), "/spec/networkMode", json!("cni")));
    assert_valid(&with(
        &vm(),
        "/metadata/name",
        json!("weaveworks/ignite-kernel:4.19.47"),
    ));
}

#[test]
fn ignite_vm_sizes_in_schema() {
    for bad in [
        "1.5GB", "512Mi", "1Gb", "1Mb", "GB", "-1GB", "1 G B", "512 MiBs", "4GiB", "512MiB",
        " 512MB",
    ] {
        let msg = assert_one(
            &with(&vm(), "/spec/memory", json!(bad)),
            "schema:Pattern",
            "/spec/memory",
        );
        assert!(msg.contains(ignite::ignite_size_pattern()), "{bad}: {msg}");
    }
    assert!(formats::pattern_expected(ignite::ignite_size_pattern()).is_some());
    assert_one(
        &with(&vm(), "/spec/memory", json!(512)),
        "schema:Type",
        "/spec/memory",
    );
    for good in [
        "512mb",
        "512MB",
        "512",
        "4 GB ",
        "",
        "1kB",
        "2KB",
        "3 kilobytes",
        "1E",
        "1b",
        "7Byte",
    ] {
        assert_valid(&with(&vm(), "/spec/diskSize", json!(good)));
    }
}

#[test]
fn ignite_vm_size_overflow_is_a_rule() {
    let msg = assert_one(
        &with(&vm(), "/spec/diskSize", json!("20EB")),
        "rule",
        "/spec/diskSize",
    );
    assert_eq!(
        msg,
        "\"20EB\" is not a valid Ignite size: the size does not fit in 64 bits (at most 16 EiB)"
    );
    assert_one(
        &with(&vm(), "/spec/memory", json!("18446744073709551616")),
        "rule",
        "/spec/memory",
    );
}

#[test]
fn ignite_vm_ports() {
    let doc = with(
        &vm(),
        "/spec/ports/2",
        json!({"hostPort": 8080, "vmPort": 8081}),
    );
    let msg = assert_one(&doc, "rule", "/spec/ports/2/hostPort");
    assert_eq!(
        msg,
        "host port 8080 is mapped more than once (first in ports[0])"
    );
    assert_one(
        &with(&vm(), "/spec/ports/0/hostPort", json!(65536)),
        "schema:Maximum",
        "/spec/ports/0/hostPort",
    );
    assert_one(
        &with(&vm(), "/spec/ports/0", json!("8080:80")),
        "schema:Type",
        "/spec/ports/0",
    );
    assert_one(
        &with(&vm(), "/spec/ports/0", json!({"hostPort": 8080})),
        "schema:Required",
        "/spec/ports/0",
    );
}

#[test]
fn ignite_vm_copy_files_absolute() {
    let doc = with(
        &vm(),
        "/spec/copyFiles/0",
        json!({"hostPath": "resolv.conf", "vmPath": "/etc/resolv.conf"}),
    );
    let msg = assert_one(&doc, "rule", "/spec/copyFiles/0/hostPath");
    assert_eq!(
        msg,
        "hostPath must be an absolute path, got \"resolv.conf\""
    );
    let doc = with(
        &vm(),
        "/spec/copyFiles/1",
        json!({"hostPath": "/a", "vmPath": "etc/a"}),
    );
    assert_one(&doc, "rule", "/spec/copyFiles/1/vmPath");
}

#[test]
fn ignite_vm_schema_errors() {
    assert_one(
        &without(&vm(), "/spec/image/ociClaim/ref"),
        "schema:Required",
        "/spec/image/ociClaim",
    );
    assert_one(&without(&vm(), "/spec/image"), "schema:Required", "/spec");
    assert_one(
        &with(&vm(), "/spec/image/ociClaim/type", json!("OCI")),
        "schema:Enum",
        "/spec/image/ociClaim/type",
    );
    assert_one(
        &with(&vm(), "/spec/networkMode", json!("bridge")),
        "schema:Enum",
        "/spec/networkMode",
    );
    assert_one(
        &with(
            &vm(),
            "/spec/image/ociClaim/ref",
            json!("Weaveworks/Ubuntu"),
        ),
        "schema:Format",
        "/spec/image/ociClaim/ref",
    );
    assert_one(
        &with(&vm(), "/metadata/namespace", json!("default")),
        "schema:AdditionalProperties",
        "/metadata",
    );
    // The v1alpha1 Ignite released (`network`) is accepted too, but the
    // mode and the ports are written once.
    assert_valid(&with(
        &without(&vm(), "/spec/networkMode"),
        "/spec/network",
        json!({"mode": "cni"}),
    ));
    let message = assert_one(
        &with(&vm(), "/spec/network", json!({"mode": "cni"})),
        "rule",
        "/spec/network/mode",
    );
    assert!(message.contains("write the mode once"), "{message}");
    assert_one(
        &with(&vm(), "/spec/cpus", json!(-1)),
        "schema:Minimum",
        "/spec/cpus",
    );
}

#[test]
fn ignite_kernel_and_image() {
    let kernel = json!({
        "apiVersion": "ignite.weave.works/v1alpha1",
        "kind": "Kernel",
        "metadata": {"name": "weaveworks/ignite-kernel:4.19.47"},
        "spec": {"version": "4.19.47", "ociClaim": {"type": "Docker", "ref": "weaveworks/ignite-kernel:4.19.47"}},
        "status": {"ociSource": {"id": "sha256:abc", "size": "12MB"}},
    });
    assert_valid(&kernel);
    assert_one(
        &without(&kernel, "/spec/ociClaim"),
        "schema:Required",
        "/spec",
    );
    let image = json!({
        "apiVersion": "ignite.weave.works/v1alpha1",
        "kind": "Image",
        "metadata": {"name": "weaveworks/ignite-ubuntu:latest"},
        "spec": {"ociClaim": {"ref": "weaveworks/ignite-ubuntu@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}},
    });
    assert_valid(&image);
    assert_one(
        &with(&image, "/spec/ociClaim/ref", json!("")),
        "schema:Format",
        "/spec/ociClaim/ref",
    );
    assert_one(
        &without(&image, "/metadata/name"),
        "schema:Required",
        "/metadata",
    );
}

fn pool() -> Value {
    json!({
        "apiVersion": "ignite.weave.works/v1alpha1",
        "kind": "Pool",
        "spec": {
            "metadataSize": "100MB",
            "dataSize": "100GB",
            "allocationSize": "4MB",
            "metadataPath": "/var/lib/firecracker/snapshotter/metadata.img",
            "dataPath": "/var/lib/firecracker/snapshotter/data.img",
        },
    })
}

#[test]
fn ignite_pool() {
    assert_valid(&pool());
    assert_valid(&with(&pool(), "/spec", json!({})));
    assert_one(
        &with(&pool(), "/metadata", json!({"name": "pool"})),
        "schema:AdditionalProperties",
        "",
    );
    assert_one(
        &with(&pool(), "/spec/dataSize", json!("100Gb")),
        "schema:Pattern",
        "/spec/dataSize",
    );
    assert_one(
        &with(&pool(), "/spec/allocationSize", json!("17EB")),
        "rule",
        "/spec/allocationSize",
    );
}

// ---------------------------------------------------------------------------
// Flintlock MicroVM

fn microvm() -> Value {
    json!({
        "apiVersion": "flintlock.liquidmetal.dev/v1alpha1",
        "kind": "MicroVM",
        "metadata": {"name": "mvm1", "namespace": "ns1", "labels": {"role": "worker"}},
        "spec": {
            "vcpu": 2,
            "memoryInMb": 2048,
            "kernel": {
                "image": "ghcr.io/liquidmetal-dev/flintlock-kernel:5.10.77",
                "filename": "boot/vmlinux",
                "cmdline": {"console": "ttyS0"},
                "addNetworkConfig": true,
            },
            "rootVolume": {
                "id": "root",
                "isReadOnly": false,
                "source": {"containerSource": "ghcr.io/liquidmetal-dev/ubuntu:22.04"},
            },
            "additionalVolumes": [
                {"id": "data", "mountPoint": "/data", "source": {"containerSource": "ghcr.io/org/data:1"}, "sizeInMb": 1024},
                {"id": "share", "source": {"virtiofsSource": "/srv/share"}},
            ],
            "interfaces": [
                {"deviceId": "eth0", "type": "TAP", "guestMac": "02:00:5e:10:00:01",
                 "address": {"address": "10.0.0.5/24", "gateway": "10.0.0.1/24", "nameservers": ["1.1.1.1", "2606:4700::1111"]},
                 "overrides": {"bridgeName": "br0"}},
                {"deviceId": "mgmt_1", "type": "MACVTAP"},
            ],
            "metadata": {"user-data": "I2Nsb3VkLWNvbmZpZwo="},
            "labels": {"pool": "a"},
            "provider": "firecracker",
        },
    })
}

#[test]
fn microvm_valid() {
    assert_valid(&microvm());
    assert_valid(&with(&microvm(), "/spec/vcpu", json!(64)));
    assert_valid(&with(&microvm(), "/spec/memoryInMb", json!(32768)));
    // An initrd replaces the root volume.
    let doc = with(
        &without(&microvm(), "/spec/rootVolume"),
        "/spec/initrd",
        json!({"image": "ghcr.io/org/initrd:1", "filename": "initrd.img"}),
    );
    assert_valid(&doc);
}

#[test]
fn microvm_ranges() {
    assert_one(
        &with(&microvm(), "/spec/vcpu", json!(0)),
        "schema:Minimum",
        "/spec/vcpu",
    );
    assert_one(
        &with(&microvm(), "/spec/vcpu", json!(65)),
        "schema:Maximum",
        "/spec/vcpu",
    );
    assert_one(
        &with(&microvm(), "/spec/memoryInMb", json!(512)),
        "schema:Minimum",
        "/spec/memoryInMb",
    );
    assert_one(
        &with(&microvm(), "/spec/memoryInMb", json!(32769)),
        "schema:Maximum",
        "/spec/memoryInMb",
    );
    assert_one(
        &with(&microvm(), "/spec/additionalVolumes/0/sizeInMb", json!(-1)),
        "schema:Minimum",
        "/spec/additionalVolumes/0/sizeInMb",
    );
    assert_one(
        &without(&microvm(), "/spec/vcpu"),
        "schema:Required",
        "/spec",
    );
}

#[test]
fn microvm_network_formats() {
    assert_one(
        &with(
            &microvm(),
            "/spec/interfaces/0/guestMac",
            json!("02:00:5e:10:00"),
        ),
        "schema:Format",
        "/spec/interfaces/0/guestMac",
    );
    assert_one(
        &with(
            &microvm(),
            "/spec/interfaces/0/address/address",
            json!("10.0.0.5"),
        ),
        "schema:Format",
        "/spec/interfaces/0/address/address",
    );
    assert_one(
        &with(
            &microvm(),
            "/spec/interfaces/0/address/address",
            json!("10.0.0.5/33"),
        ),
        "schema:Format",
        "/spec/interfaces/0/address/address",
    );
    assert_one(
        &with(
            &microvm(),
            "/spec/interfaces/0/address/gateway",
            json!("10.0.0.1"),
        ),
        "schema:Format",
        "/spec/interfaces/0/address/gateway",
    );
    assert_one(
        &with(
            &microvm(),
            "/spec/interfaces/0/address/nameservers/1",
            json!("dns.google"),
        ),
        "schema:Format",
        "/spec/interfaces/0/address/nameservers/1",
    );
    assert_one(
        &without(&microvm(), "/spec/interfaces/0/address/address"),
        "schema:Required",
        "/spec/interfaces/0/address",
    );
    let msg = assert_one(
        &with(&microvm(), "/spec/interfaces/1/deviceId", json!("eth/0")),
        "schema:Pattern",
        "/spec/interfaces/1/deviceId",
    );
    assert!(msg.contains(formats::DEVICE_ID));
    assert!(formats::pattern_expected(formats::DEVICE_ID).is_some());
    assert_one(
        &with(&microvm(), "/spec/interfaces/1/deviceId", json!("Eth0")),
        "schema:Pattern",
        "/spec/interfaces/1/deviceId",
    );
    assert_one(
        &with(&microvm(), "/spec/interfaces/1/type", json!("BRIDGE")),
        "schema:Enum",
        "/spec/interfaces/1/type",
    );
    assert_one(
        &with(&microvm(), "/spec/interfaces", json!([])),
        "schema:MinItems",
        "/spec/interfaces",
    );
    assert_one(
        &without(&microvm(), "/spec/interfaces"),
        "schema:Required",
        "/spec",
    );
}

#[test]
fn microvm_kernel() {
    assert_one(
        &without(&microvm(), "/spec/kernel/filename"),
        "schema:Required",
        "/spec/kernel",
    );
    assert_one(
        &without(&microvm(), "/spec/kernel/image"),
        "schema:Required",
        "/spec/kernel",
    );
    assert_one(
        &with(
            &microvm(),
            "/spec/kernel/image",
            json!("ghcr.io/Org/Kernel:5.10"),
        ),
        "schema:Format",
        "/spec/kernel/image",
    );
    assert_one(
        &with(&microvm(), "/spec/kernel/cmdline", json!("console=ttyS0")),
        "schema:Type",
        "/spec/kernel/cmdline",
    );
    assert_one(
        &without(&microvm(), "/spec/kernel"),
        "schema:Required",
        "/spec",
    );
}

#[test]
fn microvm_unknown_and_server_fields() {
    assert_one(
        &with(&microvm(), "/spec/vcpus", json!(2)),
        "schema:AdditionalProperties",
        "/spec",
    );
    for server_field in ["id", "namespace", "uid", "createdAt"] {
        assert_one(
            &with(&microvm(), &format!("/spec/{server_field}"), json!("x")),
            "schema:AdditionalProperties",
            "/spec",
        );
    }
    assert_one(
        &without(&microvm(), "/metadata/name"),
        "schema:Required",
        "/metadata",
    );
    assert_one(
        &with(&microvm(), "/spec/metadata/count", json!(3)),
        "schema:Type",
        "/spec/metadata/count",
    );
}

#[test]
fn microvm_volume_rules() {
    let msg = assert_one(&without(&microvm(), "/spec/rootVolume"), "rule", "/spec");
    assert_eq!(
        msg,
        "a rootVolume is required unless an initrd is given \
         (flintlock rejects this with volumeOrInitrdRequired)"
    );

    let doc = with(
        &microvm(),
        "/spec/additionalVolumes/2",
        json!({"id": "share2", "source": {"virtiofsSource": "/srv/other"}}),
    );
    let msg = assert_one(
        &doc,
        "rule",
        "/spec/additionalVolumes/2/source/virtiofsSource",
    );
    assert_eq!(
        msg,
        "at most one additional volume may be a virtiofs volume (additionalVolumes[1] already is)"
    );

    let doc = with(
        &microvm(),
        "/spec/rootVolume/source",
        json!({"virtiofsSource": "/srv/root"}),
    );
    let msg = assert_one(&doc, "rule", "/spec/rootVolume/source/virtiofsSource");
    assert_eq!(msg, "the root volume cannot be a virtiofs volume");

    let doc = with(
        &microvm(),
        "/spec/additionalVolumes/0/source/virtiofsSource",
        json!("/srv/x"),
    );
    let problems = validate(&doc);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert_eq!(problems[0].pointer, "/spec/additionalVolumes/0/source");
    assert_eq!(
        problems[0].message,
        "a volume source needs exactly one of containerSource or virtiofsSource, found both"
    );
    // ...and it counts as the first virtiofs volume, so the second one is flagged.
    assert_eq!(
        problems[1].pointer,
        "/spec/additionalVolumes/1/source/virtiofsSource"
    );

    let doc = with(&microvm(), "/spec/rootVolume/source", json!({}));
    let msg = assert_one(&doc, "rule", "/spec/rootVolume/source");
    assert!(msg.ends_with("found neither"), "{msg}");

    assert_one(
        &without(&microvm(), "/spec/rootVolume/id"),
        "schema:Required",
        "/spec/rootVolume",
    );
}

// ---------------------------------------------------------------------------
// parse_ignite_size and the size pattern

#[test]
fn parse_ignite_size_values() {
    use ignite::{SizeError, parse_ignite_size as p};
    assert_eq!(p("512mb"), Ok(512 * 1024 * 1024));
    assert_eq!(p("4GB"), Ok(4 * 1024 * 1024 * 1024));
    assert_eq!(p("1KB"), Ok(1024));
    // Ignite pins a version of its size parser without KiB, MiB, ...
    assert_eq!(
        p("1kib"),
        Err(SizeError::BinaryUnit("kib".into(), "1KB".into()))
    );
    assert_eq!(
        p("4GiB"),
        Err(SizeError::BinaryUnit("GiB".into(), "4GB".into()))
    );
    assert_eq!(
        SizeError::BinaryUnit("GiB".into(), "4GB".into()).to_string(),
        "\"GiB\" is not one of Ignite's units; Ignite's units are already binary (1GB = 1 GiB), so write 4GB"
    );
    assert_eq!(p("3 Megabytes "), Ok(3 << 20));
    // Digits come first: no leading space.
    assert_eq!(p(" 3MB"), Err(SizeError::Syntax));
    assert_eq!(p("2tera"), Ok(2 << 40));
    assert_eq!(p("1P"), Ok(1 << 50));
    assert_eq!(p("15EB"), Ok(15 << 60));
    assert_eq!(p("100"), Ok(100));
    assert_eq!(p("100 bytE"), Ok(100));
    assert_eq!(p("0"), Ok(0));
    assert_eq!(p("18446744073709551615"), Ok(u64::MAX));
    assert_eq!(p("18446744073709551616"), Err(SizeError::Overflow));
    assert_eq!(p("16EB"), Err(SizeError::Overflow));
    assert_eq!(p("1.5GB"), Err(SizeError::Syntax));
    assert_eq!(p("-1"), Err(SizeError::Syntax));
    assert_eq!(p("+1"), Err(SizeError::Syntax));
    // Empty is 0, which Ignite's defaulting replaces.
    assert_eq!(p(""), Ok(0));
    assert_eq!(p("GB"), Err(SizeError::Syntax));
    assert_eq!(p("1Gb"), Err(SizeError::Bits("Gb".into(), "GB".into())));
    assert_eq!(p("1Kb"), Err(SizeError::Bits("Kb".into(), "KB".into())));
    assert_eq!(p("1kb"), Ok(1024));
    assert_eq!(p("1gB"), Ok(1 << 30));
    assert_eq!(
        p("512Mi"),
        Err(SizeError::BinaryUnit("Mi".into(), "512MB".into()))
    );
    assert_eq!(p("512Qb"), Err(SizeError::UnknownUnit("Qb".into())));
    assert_eq!(
        SizeError::Bits("Gb".into(), "GB".into()).to_string(),
        "\"Gb\" is a unit of bits; write a byte unit such as GB"
    );
}

#[test]
fn size_pattern_agrees_with_parser() {
    let schema = json!({"type": "string", "pattern": ignite::ignite_size_pattern()});
    let v = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .unwrap();
    let units = [
        "",
        "b",
        "B",
        "byte",
        "BYTE",
        "bytes",
        "k",
        "K",
        "kb",
        "kB",
        "Kb",
        "KB",
        "kib",
        "KiB",
        "Ki",
        "kilo",
        "Kilobyte",
        "kilobytes",
        "m",
        "mb",
        "Mb",
        "MB",
        "mib",
        "Mi",
        "mega",
        "megabyte",
        "MEGABYTES",
        "g",
        "gb",
        "Gb",
        "GB",
        "GiB",
        "Gi",
        "giga",
        "gigabytes",
        "t",
        "Tb",
        "TB",
        "terabyte",
        "p",
        "Pb",
        "PB",
        "petabytes",
        "e",
        "Eb",
        "EB",
        "exa",
        "exabyte",
        "x",
        "kbit",
        "mbyte",
    ];
    for unit in units {
        for number in ["1", "0", "12 ", " 7", "1.5", "-1"] {
            let s = format!("{number}{unit}");
            let parsed = ignite::parse_ignite_size(&s);
            let syntax_ok = matches!(parsed, Ok(_) | Err(ignite::SizeError::Overflow));
            assert_eq!(
                v.is_valid(&json!(s)),
                syntax_ok,
                "{s:?}: parser says {parsed:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Formats

#[test]
fn format_table() {
    let names: Vec<&str> = formats::formats().iter().map(|f| f.name).collect();
    assert_eq!(names, ["image-reference", "mac", "cidr", "ip", "byte"]);
    for f in formats::formats() {
        assert!(!f.expected.is_empty());
    }
    assert_eq!(
        formats::patterns().len(),
        9,
        "4 wasmCloud, ignite size, quantity, subdomain, label, device id"
    );
}

#[test]
fn image_reference_format() {
    let ok = [
        "ubuntu",
        "ubuntu:22.04",
        "library/ubuntu",
        "ghcr.io/org/kernel:6.1",
        "localhost:5000/foo/bar:latest",
        "Registry.Example.COM/team/app",
        "a.b-c__d/e---f:Tag_1.0-x",
        "docker.io/library/ubuntu@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "ghcr.io/org/img:1@sha256:0123456789abcdef0123456789abcdef",
        "[::1]:5000/foo",
        "192.168.1.1:5000/foo",
    ];
    for s in ok {
        assert!(formats::is_image_reference(s), "{s}");
    }
    let long_tag = format!("a:{}", "t".repeat(129));
    let long_name = format!("{}/x", "a".repeat(255));
    let bad = [
        "",
        "Ubuntu",
        "ghcr.io/Org/kernel",
        "ghcr.io/org/kernel:",
        "ghcr.io/org/kernel:-bad",
        "ghcr.io/org//kernel",
        "org/kernel_",
        "a..b",
        "a___b",
        "foo@sha256:abc",
        "foo@sha256",
        "https://ghcr.io/org/kernel",
        "ghcr.io:port/foo",
        "-host/foo",
        long_tag.as_str(),
        long_name.as_str(),
    ];
    for s in bad {
        assert!(!formats::is_image_reference(s), "{s}");
    }
}

#[test]
fn mac_format() {
    for s in [
        "02:00:5e:10:00:01",
        "02-00-5E-10-00-01",
        "02:00:5e:10:00:00:00:01",
        "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01",
        "0000.5e00.5301",
        "0200.5e10.0000.0001",
    ] {
        assert!(formats::is_mac(s), "{s}");
    }
    for s in [
        "",
        "02:00:5e:10:00",
        "02:00:5e:10:00:0g",
        "2:00:5e:10:00:01",
        "02:00-5e:10:00:01",
        "02005e100001",
        "0000.5e00",
        "000.5e00.5301",
        "02:00:5e:10:00:01:02",
    ] {
        assert!(!formats::is_mac(s), "{s}");
    }
}

#[test]
fn ip_and_cidr_formats() {
    for s in ["10.0.0.1", "::1", "fd00::10", "::ffff:10.0.0.1"] {
        assert!(formats::is_ip(s), "{s}");
    }
    for s in [
        "",
        "10.0.0",
        "10.0.0.256",
        "010.0.0.1",
        "10.0.0.1/24",
        "fe80::1%eth0",
        "dns.google",
    ] {
        assert!(!formats::is_ip(s), "{s}");
    }
    for s in [
        "10.0.0.5/24",
        "0.0.0.0/0",
        "10.0.0.5/32",
        "fd00::10/64",
        "::/0",
        "::1/128",
    ] {
        assert!(formats::is_cidr(s), "{s}");
    }
    for s in [
        "10.0.0.5",
        "10.0.0.5/33",
        "fd00::/129",
        "10.0.0.5/",
        "10.0.0.5/+8",
        "10.0.0.5/-1",
        "/24",
        "x/24",
    ] {
        assert!(!formats::is_cidr(s), "{s}");
    }
}

mod llamastack;
mod upstream;
mod wasmcloud;

/// Flintlock v0.11.0 added `allow_guest_agent` (proto field 17).
#[test]
fn microvm_allow_guest_agent() {
    assert_valid(&with(&microvm(), "/spec/allowGuestAgent", json!(true)));
    assert_valid(&with(&microvm(), "/spec/allowGuestAgent", json!(false)));
    assert_one(
        &with(&microvm(), "/spec/allowGuestAgent", json!("yes")),
        "schema:Type",
        "/spec/allowGuestAgent",
    );
}
mod builtin;
#[path = "ignite.rs"]
mod ignite_versions;
mod pipeline;

/// A GitOps repository may create an object with finalizers, as the API
/// server allows on any kind.
#[test]
fn metadata_finalizers_are_accepted() {
    for doc in [llsd(), artifact(), workload(), deployment()] {
        assert_valid(&with(
            &doc,
            "/metadata/finalizers",
            json!(["keep.example.com/hold"]),
        ));
    }
    assert_one(
        &with(&llsd(), "/metadata/finalizers", json!("keep")),
        "schema:Type",
        "/metadata/finalizers",
    );
}
