//! Unit tests of observe's pure steps.

use super::*;

fn host_manifest(namespace: &str) -> Manifest {
    let text = format!(
        "apiVersion: runtime.wasmcloud.dev/v1alpha1\nkind: Host\nmetadata:\n  name: h1\n{namespace}hostId: N1\n"
    );
    let files = [crate::manifest::SourceFile {
        path: "hosts.yaml".into(),
        rel: "hosts.yaml".into(),
        bytes: text.into_bytes(),
    }];
    let mut loaded = crate::manifest::load(&files, &crate::manifest::Limits::default());
    loaded.manifests.remove(0)
}

#[test]
fn a_host_must_match_the_installed_crd_scope() {
    let resource = |namespaced| Resource {
        group: "runtime.wasmcloud.dev".into(),
        version: "v1alpha1".into(),
        kind: "Host".into(),
        plural: "hosts".into(),
        namespaced,
    };
    let with_ns = host_manifest("  namespace: wasm\n");
    let without = host_manifest("");
    assert_eq!(with_ns.id.namespace.as_deref(), Some("wasm"));
    assert_eq!(without.id.namespace, None);
    assert!(check_scope(&with_ns, &resource(true)).is_ok());
    assert!(check_scope(&without, &resource(false)).is_ok());
    let e = check_scope(&with_ns, &resource(false))
        .unwrap_err()
        .to_string();
    assert!(e.contains("hosts.yaml:1: Host/wasm/h1"), "{e}");
    assert!(e.contains("is cluster-scoped"), "{e}");
    assert!(e.contains("remove it"), "{e}");
    let e = check_scope(&without, &resource(true))
        .unwrap_err()
        .to_string();
    assert!(e.contains("is namespaced"), "{e}");
    assert!(e.contains("set metadata.namespace"), "{e}");
}

/// A backend for `target` whose server is never reached: for the steps
/// that read no network.
fn offline(target: &crate::backend::kubernetes::KubernetesTarget) -> Kubernetes {
    let client = kube::Client::try_from(kube::Config::new(
        "http://127.0.0.1:9".parse().expect("a URL"),
    ))
    .expect("a client");
    Kubernetes::from_client(
        client,
        "http://127.0.0.1:9",
        target,
        "web",
        1,
        std::time::Duration::from_secs(1),
    )
}

/// Each of `desired` as a target `resource` serves.
fn served_as<'a>(desired: &'a [Manifest], resource: &Resource) -> Vec<Target<'a>> {
    desired
        .iter()
        .map(|manifest| Target {
            manifest,
            resource: resource.clone(),
            served: true,
        })
        .collect()
}

/// The resource serving ConfigMaps.
fn configmaps() -> Resource {
    Resource {
        group: String::new(),
        version: "v1".into(),
        kind: "ConfigMap".into(),
        plural: "configmaps".into(),
        namespaced: true,
    }
}

#[test]
fn a_live_object_is_handled_by_its_uid_collection_and_name() {
    let configmaps = configmaps();
    let live = serde_json::json!({"metadata": {"name": "a", "namespace": "apps", "uid": "u1"}});
    assert_eq!(
        handle(&configmaps, &live),
        Some(Handle::Kubernetes {
            uid: "u1".into(),
            collection: "/api/v1/namespaces/apps/configmaps".into(),
            name: "a".into(),
        })
    );
    // Without a uid a delete could not be made conditional.
    let no_uid = serde_json::json!({"metadata": {"name": "a", "namespace": "apps"}});
    assert_eq!(handle(&configmaps, &no_uid), None);
}

#[test]
fn crds_in_git_announce_their_kinds() {
    let loaded = crate::manifest::load(
        &[crate::manifest::SourceFile {
            path: "crd.yaml".into(),
            rel: "crd.yaml".into(),
            bytes: b"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  scope: Cluster\n  names: {kind: Widget, plural: widgets}\n  versions: [{name: v1, served: true, storage: true}]\n".to_vec(),
        }],
        &crate::manifest::Limits::default(),
    );
    let kinds = pending_kinds(&loaded.manifests);
    let r = &kinds[&(
        "example.com".to_string(),
        "v1".to_string(),
        "Widget".to_string(),
    )];
    assert_eq!(r.plural, "widgets");
    assert!(!r.namespaced);
}

#[test]
fn a_cluster_scoped_kind_listed_whole_gets_no_second_owned_list() {
    let resource = |kind: &str, namespaced| Resource {
        group: String::new(),
        version: "v1".into(),
        kind: kind.into(),
        plural: format!("{}s", kind.to_lowercase()),
        namespaced,
    };
    let files = [crate::manifest::SourceFile {
        path: "a.yaml".into(),
        rel: "a.yaml".into(),
        bytes: b"apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: apps}\n".to_vec(),
    }];
    let loaded = crate::manifest::load(&files, &crate::manifest::Limits::default());
    let targets: Vec<Target<'_>> = loaded
        .manifests
        .iter()
        .map(|m| Target {
            manifest: m,
            resource: resource(&m.id.kind, m.id.kind == "ConfigMap"),
            served: true,
        })
        .collect();
    let jobs: Vec<(bool, String, Option<String>)> = list_jobs(&targets, &[], &BTreeMap::new(), &[])
        .into_iter()
        .map(|j| (j.owned_only, j.resource.kind, j.namespace))
        .collect();
    assert_eq!(
        jobs,
        [
            (false, "ConfigMap".to_string(), Some("apps".to_string())),
            (false, "Namespace".to_string(), None),
            (true, "ConfigMap".to_string(), None),
        ]
    );
}

#[test]
fn deleting_a_namespace_or_crd_names_what_it_takes_along() {
    let row = |group: &str, kind: &str, ns: Option<&str>, name: &str, desired: bool| Observed {
        id: ObjectId {
            group: group.into(),
            kind: kind.into(),
            namespace: ns.map(str::to_string),
            name: name.into(),
        },
        desired: desired.then(|| serde_json::json!({})),
        live: Some(
            serde_json::json!({"spec": {"group": "x.example", "names": {"kind": "Widget"}}}),
        ),
        ..Observed::default()
    };
    let mut rows = vec![
        row("", "Namespace", None, "shop", false),
        row("", "ConfigMap", Some("shop"), "app", true),
        row("", "Secret", Some("shop"), "old", false),
        row("", "ConfigMap", Some("other"), "app", true),
        row(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            None,
            "widgets.x.example",
            false,
        ),
        row("x.example", "Widget", Some("other"), "w", true),
        // A Namespace still in Git takes nothing: it is not deleted.
        row("", "Namespace", None, "other", true),
    ];
    cascade_notes(&mut rows);
    let ns = rows[0].notes.join("\n");
    assert!(ns.contains("2 object(s)"), "{ns}");
    assert!(ns.contains("ConfigMap/shop/app (still in Git)"), "{ns}");
    assert!(
        ns.contains("Secret/shop/old") && !ns.contains("other"),
        "{ns}"
    );
    assert!(ns.contains("1 of them Git still declares"), "{ns}");
    let crd = rows[4].notes.join("\n");
    assert!(crd.contains("Widget/other/w (still in Git)"), "{crd}");
    assert!(rows[6].notes.is_empty() && rows[1].notes.is_empty());
}

/// A LIST page is sifted as it arrives: of a desired object whose apply
/// changes nothing only what pairing reads is kept, its health judged
/// first; a changed one is kept whole for its dry run; an
/// object Git does not declare is kept whole only when it is ours; another
/// application's is dropped.
#[tokio::test]
async fn a_listed_page_keeps_only_what_later_steps_read() {
    let target = crate::backend::kubernetes::KubernetesTarget::default();
    let k = offline(&target);
    let configmaps = configmaps();
    let desired = crate::manifest::from_test_yaml(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same, namespace: apps}\ndata: {x: '1'}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: edited, namespace: apps}\ndata: {x: '1'}\n",
    );
    let targets = served_as(&desired, &configmaps);
    let wanted: HashMap<LiveKey, &Target<'_>> =
        targets.iter().map(|t| (target_key(t), t)).collect();
    // What the server holds after mooring applied `body`.
    let live = |body: Value, x: &str| {
        let mut v = body;
        v["data"]["x"] = Value::String(x.into());
        v["metadata"]["uid"] = Value::String("u".into());
        v["metadata"]["managedFields"] = serde_json::json!([{
            "manager": target.field_manager, "operation": "Apply", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:x": {}}}
        }]);
        v["status"] = serde_json::json!({"note": "set by the server"});
        v
    };
    let id = &k.applyset.id;
    // What the server holds of `desired[i]`, with `x` as its data.
    let listed = |i: usize, x: &str| live(apply_body(&desired[i], &configmaps, id), x);
    let sift = |object: Value| k.sift(&configmaps, object, &wanted);
    let same = sift(listed(0, "1")).expect("kept");
    assert!(same.1.unchanged);
    assert_eq!(same.1.health, Some(Health::Current));
    // Only what pairing and the plan read again, judged as the page
    // arrives: its handle, owner and deletion state, and no body at all
    // (no data, status, labels or managedFields) without a policy.
    assert_eq!(same.1.object, serde_json::json!({}));
    assert_eq!(
        same.1.handle,
        Some(Handle::Kubernetes {
            uid: "u".into(),
            collection: "/api/v1/namespaces/apps/configmaps".into(),
            name: "same".into()
        })
    );
    assert_eq!(same.1.membership, Membership::Ours { legacy: false });
    assert!(!same.1.terminating);

    let edited = sift(listed(1, "2")).expect("kept");
    assert!(!edited.1.unchanged);
    assert!(edited.1.object.pointer("/metadata/managedFields").is_some());

    let ours = listed(0, "1");
    let mut gone = ours.clone();
    gone["metadata"]["name"] = Value::from("gone");
    let kept = sift(gone).expect("ours is kept");
    assert!(kept.1.object.pointer("/metadata/managedFields").is_some());

    let mut other = ours;
    other["metadata"]["name"] = Value::from("theirs");
    other["metadata"]["labels"] = serde_json::json!({"app": "theirs"});
    assert!(sift(other).is_none());
}

/// Of an unchanged object, the plan reads only its policy: mooring's
/// annotations and Flux's and Argo CD's spellings of them, not another
/// tool's (kubectl's last-applied copy can be as big as the object), nor
/// its spec, data, labels or status.
#[test]
fn an_unchanged_objects_policy_is_all_its_annotations_the_plan_reads() {
    let object = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": "9",
            "labels": {"app": "web"}, "finalizers": ["x/y"],
            "annotations": {
                "mooring.dev/apply": "create-only",
                "kustomize.toolkit.fluxcd.io/prune": "disabled",
                "argocd.argoproj.io/sync-options": "Prune=false",
                "kubectl.kubernetes.io/last-applied-configuration": "{...}"
            }
        },
        "spec": {"replicas": 3}, "status": {"readyReplicas": 3}
    });
    assert_eq!(
        policy_of(&object),
        serde_json::json!({"metadata": {"annotations": {
            "mooring.dev/apply": "create-only",
            "kustomize.toolkit.fluxcd.io/prune": "disabled",
            "argocd.argoproj.io/sync-options": "Prune=false"
        }}})
    );
    let mut plain = object;
    plain["metadata"]["annotations"] = serde_json::json!({"team": "shop"});
    assert_eq!(policy_of(&plain), serde_json::json!({}));
}

/// The row of a create holds what the create sends when the plan shows
/// diffs, and only the policy the plan reads when it does not (the
/// daemon's plans): a first sync of many objects holds no copy of each.
#[tokio::test]
async fn a_create_row_without_diffs_holds_only_its_policy() {
    let target = crate::backend::kubernetes::KubernetesTarget::default();
    let mut k = offline(&target);
    let configmaps = configmaps();
    let desired = crate::manifest::from_test_yaml(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: new\n  namespace: apps\n  annotations: {mooring.dev/apply: create-only, team: x}\ndata: {x: '1'}\n",
    );
    let targets = served_as(&desired, &configmaps);
    let (rows, _) = k.pair(&targets, &mut BTreeMap::new());
    assert_eq!(
        rows[0].desired,
        Some(apply_body(&desired[0], &configmaps, &k.applyset.id))
    );
    crate::backend::Backend::skip_diffs(&mut k);
    let (rows, _) = k.pair(&targets, &mut BTreeMap::new());
    assert_eq!(
        rows[0].desired,
        Some(
            serde_json::json!({"metadata": {"annotations": {"mooring.dev/apply": "create-only"}}})
        )
    );
    assert_eq!(rows[0].live, None);
}
