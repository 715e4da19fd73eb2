//! Writes on the state directly, and one through the router.

use std::net::SocketAddr;

use axum::http::{HeaderMap, Method, StatusCode, Uri};

use super::*;
use crate::kubernetes::KubeOptions;

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
    let body =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data});
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
