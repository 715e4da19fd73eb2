//! wasmCloud: the fields and rules of runtime-operator v2.7's CRDs, on top
//! of the reference document's shape, in all five kinds.

use serde_json::{Value, json};

use super::{assert_one, assert_valid, deployment, validate, with, workload, workload_spec};
use mooring::kinds::wasmcloud::{DUPLICATE_HOST_INTERFACE, UNNAMED_HOST_INTERFACE};

/// A workload spec using every field v2.7 added.
fn spec_v27() -> Value {
    let mut spec = workload_spec();
    spec["environment"] = json!("production");
    spec["kubernetes"] = json!({"service": {"name": "hello-http"}});
    let c = &mut spec["components"][0];
    c["imagePullPolicy"] = json!("IfNotPresent");
    c["maxConcurrency"] = json!(50);
    let lr = &mut c["localResources"];
    lr["allowedHosts"] = json!([
        "*",
        "api.example.com",
        "*.example.com:443",
        "https://api.example.com",
        "https://api.example.com/",
        "postgres://db-1.internal:5432",
    ]);
    lr["allowedIpNameLookups"] = json!(["*", "*.svc.cluster.local", "10.0.0.1", "fd00::1"]);
    lr["allowedHostLoopbackPorts"] = json!(["8080", "53/udp", "9000/TCP"]);
    lr["volumeMounts"][0]["readOnly"] = json!(true);
    spec["service"]["imagePullPolicy"] = json!("Always");
    spec["hostInterfaces"] = json!([
        {"namespace": "wasi", "package": "http", "interfaces": ["incoming-handler"]},
        {"name": "primary", "namespace": "wasi", "package": "keyvalue", "interfaces": ["store"]},
        {"name": "cache", "namespace": "wasi", "package": "keyvalue", "interfaces": ["store"],
         "version": "0.2.0-draft"},
    ]);
    spec
}

fn workload_v27() -> Value {
    with(&workload(), "/spec", spec_v27())
}

fn replica_set_v27() -> Value {
    json!({
        "apiVersion": "runtime.wasmcloud.dev/v1alpha1",
        "kind": "WorkloadReplicaSet",
        "metadata": {"name": "hello", "namespace": "apps"},
        "spec": {"replicas": 2, "template": {"spec": spec_v27()}},
    })
}

fn deployment_v27() -> Value {
    let mut d = with(&deployment(), "/spec/template/spec", spec_v27());
    d["spec"]["kubernetes"] = json!({"service": {"name": "hello"}});
    d
}

#[test]
fn every_v27_field_is_accepted_in_every_template() {
    assert_valid(&workload_v27());
    assert_valid(&replica_set_v27());
    assert_valid(&deployment_v27());
    // The reference document's shapes are still valid.
    assert_valid(&workload());
    assert_valid(&deployment());
}

#[test]
fn kubernetes_service_requires_a_name() {
    for (doc, pointer) in [
        (workload_v27(), "/spec/kubernetes/service"),
        (deployment_v27(), "/spec/kubernetes/service"),
        (deployment_v27(), "/spec/template/spec/kubernetes/service"),
        (replica_set_v27(), "/spec/template/spec/kubernetes/service"),
    ] {
        assert_one(&with(&doc, pointer, json!({})), "schema:Required", pointer);
    }
}

#[test]
fn counts_have_a_minimum_of_zero() {
    for field in ["poolSize", "maxInvocations", "maxConcurrency"] {
        let pointer = format!("/spec/components/0/{field}");
        assert_one(
            &with(&workload_v27(), &pointer, json!(-1)),
            "schema:Minimum",
            &pointer,
        );
        assert_valid(&with(&workload_v27(), &pointer, json!(0)));
    }
}

#[test]
fn allowed_hosts_have_no_path() {
    let pointer = "/spec/components/0/localResources/allowedHosts/0";
    for bad in [
        "https://api.example.com/v1",
        "api.example.com/path",
        "-bad.example.com",
        "http://",
        "*.*.example.com",
    ] {
        let message = assert_one(
            &with(&workload_v27(), pointer, json!(bad)),
            "schema:Pattern",
            pointer,
        );
        assert!(message.contains(bad), "{message}");
    }
    let pointer = "/spec/components/0/localResources/allowedIpNameLookups/0";
    assert_one(
        &with(&workload_v27(), pointer, json!("exa mple.com")),
        "schema:Pattern",
        pointer,
    );
    let pointer = "/spec/components/0/localResources/allowedHostLoopbackPorts/0";
    for bad in ["123456", "80/sctp", "http"] {
        assert_one(
            &with(&workload_v27(), pointer, json!(bad)),
            "schema:Pattern",
            pointer,
        );
    }
}

#[test]
fn host_interface_lengths_names_and_count() {
    let base = "/spec/hostInterfaces/1";
    assert_one(
        &with(&workload_v27(), &format!("{base}/name"), json!("Primary")),
        "schema:Pattern",
        &format!("{base}/name"),
    );
    assert_one(
        &with(
            &workload_v27(),
            &format!("{base}/name"),
            json!("a".repeat(65)),
        ),
        "schema:MaxLength",
        &format!("{base}/name"),
    );
    assert_one(
        &with(
            &workload_v27(),
            &format!("{base}/namespace"),
            json!("n".repeat(129)),
        ),
        "schema:MaxLength",
        &format!("{base}/namespace"),
    );
    assert_one(
        &with(
            &workload_v27(),
            &format!("{base}/package"),
            json!("p".repeat(129)),
        ),
        "schema:MaxLength",
        &format!("{base}/package"),
    );
    assert_one(
        &with(
            &workload_v27(),
            &format!("{base}/version"),
            json!("1".repeat(65)),
        ),
        "schema:MaxLength",
        &format!("{base}/version"),
    );
    let many: Vec<Value> = (0..65)
        .map(|i| json!({"name": format!("i{i}"), "namespace": "wasi", "package": "http", "interfaces": ["x"]}))
        .collect();
    assert_one(
        &with(&workload_v27(), "/spec/hostInterfaces", json!(many[..65])),
        "schema:MaxItems",
        "/spec/hostInterfaces",
    );
    assert_valid(&with(
        &workload_v27(),
        "/spec/hostInterfaces",
        json!(many[..64]),
    ));
}

#[test]
fn duplicate_host_interfaces_are_rejected_in_every_kind() {
    let dup = json!({"name": "primary", "namespace": "wasi", "package": "keyvalue",
                     "interfaces": ["atomics"]});
    for (doc, base) in [
        (workload_v27(), "/spec"),
        (replica_set_v27(), "/spec/template/spec"),
        (deployment_v27(), "/spec/template/spec"),
    ] {
        let doc = with(&doc, &format!("{base}/hostInterfaces/3"), dup.clone());
        let message = assert_one(&doc, "rule", &format!("{base}/hostInterfaces/3"));
        assert!(message.starts_with(DUPLICATE_HOST_INTERFACE), "{message}");
        assert!(message.contains("hostInterfaces[1]"), "{message}");
    }
    // Another version of the same named import is not a duplicate.
    let other_version = with(&dup, "/version", json!("0.3.0"));
    assert_valid(&with(
        &workload_v27(),
        "/spec/hostInterfaces/3",
        other_version,
    ));
}

#[test]
fn at_most_one_unnamed_host_interface_per_package() {
    // A second unnamed wasi:http, even at another version.
    let second = json!({"namespace": "wasi", "package": "http", "interfaces": ["outgoing-handler"],
                        "version": "0.2.1"});
    let doc = with(&workload_v27(), "/spec/hostInterfaces/3", second.clone());
    let message = assert_one(&doc, "rule", "/spec/hostInterfaces/3");
    assert!(message.starts_with(UNNAMED_HOST_INTERFACE), "{message}");
    assert!(
        message.contains("wasi:http is also unnamed at hostInterfaces[0]"),
        "{message}"
    );
    // An empty name counts as unnamed, as upstream's rule has it.
    let doc = with(
        &workload_v27(),
        "/spec/hostInterfaces/3",
        with(&second, "/name", json!("")),
    );
    // (the empty name also fails the name pattern, which the schema reports)
    assert!(!validate(&doc).is_empty());
    // Naming it makes it fine.
    assert_valid(&with(
        &workload_v27(),
        "/spec/hostInterfaces/3",
        with(&second, "/name", json!("egress")),
    ));
    // Exactly the same unnamed entry twice breaks both rules.
    let first = workload_v27()["spec"]["hostInterfaces"][0].clone();
    let problems = validate(&with(&workload_v27(), "/spec/hostInterfaces/3", first));
    let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(messages[0].starts_with(DUPLICATE_HOST_INTERFACE));
    assert!(messages[1].starts_with(UNNAMED_HOST_INTERFACE));
}

#[test]
fn volume_mounts_may_be_read_only() {
    let pointer = "/spec/service/localResources";
    let doc = with(
        &workload_v27(),
        pointer,
        json!({"volumeMounts": [{"name": "data", "mountPath": "/d", "readOnly": false}]}),
    );
    assert_valid(&doc);
    assert_one(
        &with(
            &doc,
            &format!("{pointer}/volumeMounts/0/readOnly"),
            json!("true"),
        ),
        "schema:Type",
        &format!("{pointer}/volumeMounts/0/readOnly"),
    );
}
