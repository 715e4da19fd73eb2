//! The whole desired-side pipeline (`desired::render`) on every kind: what
//! generated files carry (`creationTimestamp: null`), and what
//! `--strict=false` hands on to the targets.

use mooring::desired::{self, Desired as Report};
use mooring::finding::Severity;
use mooring::kinds;
use mooring::manifest::{Limits, SourceFile};
use mooring::source::Read;
use mooring::validate::{Options, Validator};
use serde_json::{Value, json};

use super::ignite_versions::{v1alpha2, v1alpha3, v1alpha4};
use super::{artifact, deployment, host, llsd, microvm, pool, vm, with, workload};

/// One valid document of every kind mooring knows.
fn one_of_each() -> Vec<Value> {
    let replica_set = json!({
        "apiVersion": "runtime.wasmcloud.dev/v1alpha1", "kind": "WorkloadReplicaSet",
        "metadata": {"name": "rs", "namespace": "apps"},
        "spec": {"template": {"spec": {}}},
    });
    let mut docs = vec![
        llsd(),
        artifact(),
        with(&host(), "/metadata/namespace", json!("apps")),
        workload(),
        deployment(),
        replica_set,
        vm(),
        pool(),
        v1alpha2(),
        with(&v1alpha3(), "/metadata/name", json!("cache-3")),
        v1alpha4(),
        microvm(),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "b"}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"}}),
    ];
    for version in ["v1alpha2", "v1alpha3", "v1alpha4"] {
        docs.push(with(
            &pool(),
            "/apiVersion",
            json!(format!("ignite.weave.works/{version}")),
        ));
    }
    for (version, spec) in [
        (
            "v1alpha1",
            json!({"ociClaim": {"ref": "weaveworks/ignite-kernel:5.10.51"}}),
        ),
        (
            "v1alpha2",
            json!({"ociClaim": {"ref": "weaveworks/ignite-kernel:5.10.51"}}),
        ),
        (
            "v1alpha3",
            json!({"oci": "weaveworks/ignite-kernel:5.10.51"}),
        ),
        (
            "v1alpha4",
            json!({"oci": "weaveworks/ignite-kernel:5.10.51"}),
        ),
    ] {
        for kind in ["Kernel", "Image"] {
            docs.push(json!({
                "apiVersion": format!("ignite.weave.works/{version}"), "kind": kind,
                "metadata": {"name": format!("weaveworks/ignite-kernel:5.10.51-{version}")},
                "spec": spec,
            }));
        }
    }
    docs
}

fn check(docs: &[Value], options: Options) -> Report {
    let files: Vec<SourceFile> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| SourceFile {
            path: format!("{i:02}.yaml"),
            rel: format!("{i:02}.yaml"),
            // JSON is YAML.
            bytes: serde_json::to_vec_pretty(d).unwrap(),
        })
        .collect();
    let read = Read {
        files,
        ..Read::default()
    };
    desired::render(
        read,
        &Validator::new(options).unwrap(),
        &Limits::default(),
        &mooring::render::Renderer::default(),
    )
}

fn errors(report: &Report) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.is_error())
        .map(ToString::to_string)
        .collect()
}

#[test]
fn every_kind_has_a_valid_document_here() {
    let docs = one_of_each();
    let mut kinds_seen: Vec<(String, String)> = docs
        .iter()
        .map(|d| {
            (
                d["apiVersion"].as_str().unwrap().to_string(),
                d["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    kinds_seen.sort();
    kinds_seen.dedup();
    for k in kinds::all() {
        assert!(
            kinds_seen.contains(&(k.api_version(), k.kind.to_string())),
            "{} {}",
            k.api_version(),
            k.kind
        );
    }
    let report = check(&docs, Options::default());
    assert_eq!(errors(&report), Vec::<String>::new());
}

#[test]
fn creation_timestamp_null_is_accepted_with_a_warning_on_every_kind() {
    let docs: Vec<Value> = one_of_each()
        .into_iter()
        .filter(|d| d.get("metadata").is_some())
        .map(|d| with(&d, "/metadata/creationTimestamp", Value::Null))
        .collect();
    let report = check(&docs, Options::default());
    assert_eq!(errors(&report), Vec::<String>::new());
    let warned: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| {
            f.severity == Severity::Warning
                && f.field.as_deref() == Some("metadata.creationTimestamp")
        })
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(warned.len(), docs.len(), "{:#?}", report.findings);
    // A timestamp with a value is still not something to commit.
    let set = with(
        &llsd(),
        "/metadata/creationTimestamp",
        json!("2024-01-01T00:00:00Z"),
    );
    assert_eq!(errors(&check(&[set], Options::default())).len(), 1);
    // Kinds mooring converts do not carry it on; Kubernetes kinds go as written.
    let report = check(
        &[
            with(&microvm(), "/metadata/creationTimestamp", Value::Null),
            with(&llsd(), "/metadata/creationTimestamp", Value::Null),
        ],
        Options::default(),
    );
    assert!(
        report.manifests[0].value["metadata"]
            .get("creationTimestamp")
            .is_none()
    );
    assert!(
        report.manifests[1].value["metadata"]
            .get("creationTimestamp")
            .is_some()
    );
}

#[test]
fn strict_false_hands_unknown_fields_on_to_the_api_server() {
    let lax = Options {
        strict: false,
        ..Options::default()
    };
    let report = check(
        &[
            with(&llsd(), "/spec/server/futureField", json!({"x": 1})),
            with(&microvm(), "/spec/futureField", json!(1)),
        ],
        lax,
    );
    assert_eq!(errors(&report), Vec::<String>::new());
    let messages: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    assert!(messages.iter().any(|m| m.ends_with(
        "spec.server.futureField: unknown field: passed to the API server unchanged, which keeps or prunes it by its own schema (--strict refuses it)"
    )), "{messages:#?}");
    assert!(messages.iter().any(|m| m.ends_with(
        "spec.futureField: unknown field: not sent, Flintlock's API has no such field (--strict refuses it)"
    )), "{messages:#?}");
    // The LLSD reaches the plan with the field; the MicroVM without it.
    assert_eq!(
        report.manifests[0].value["spec"]["server"]["futureField"],
        json!({"x": 1})
    );
    assert!(
        report.manifests[1].value["spec"]
            .get("futureField")
            .is_none()
    );
}

#[test]
fn ignite_objects_never_get_a_kubernetes_namespace() {
    let report = check(
        &[with(&v1alpha4(), "/metadata/namespace", json!("default"))],
        Options::default(),
    );
    let found: Vec<String> = errors(&report);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].ends_with("VM/cache-1: metadata.namespace: Ignite has no namespaces: remove metadata.namespace from this VM"),
        "{found:#?}"
    );
    let report = check(&[v1alpha4()], Options::default());
    assert_eq!(report.manifests[0].id.namespace, None);
    assert_eq!(report.manifests[0].id.to_string(), "VM/cache-1");
}
