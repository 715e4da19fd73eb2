//! Kubernetes' own kinds (the generated built-in table) and
//! CustomResourceDefinitions in the input, through the whole desired-side
//! pipeline: the findings a user reads, with their lines.

use mooring::desired::{self, Desired};
use mooring::manifest::{Limits, SourceFile};
use mooring::source::Read;
use mooring::validate::{Options, Validator};

fn render(files: &[(&str, &str)], options: Options) -> Desired {
    let read = Read {
        files: files
            .iter()
            .map(|(path, text)| SourceFile {
                path: (*path).to_string(),
                rel: (*path).to_string(),
                bytes: text.as_bytes().to_vec(),
            })
            .collect(),
        ..Read::default()
    };
    desired::render(
        read,
        &Validator::new(options).unwrap(),
        &Limits::default(),
        &mooring::render::Renderer::default(),
    )
}

fn lines(d: &Desired) -> Vec<String> {
    d.findings.iter().map(ToString::to_string).collect()
}

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: \"3\"
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.27
          ports:
            - containerPort: 80
              protocl: TCP
          resources:
            limits: {cpu: 500m, memory: 1Gi}
";

#[test]
fn a_deployment_with_a_string_replica_count_and_a_typo_gets_both_findings() {
    let d = render(&[("deploy.yaml", DEPLOYMENT)], Options::default());
    assert_eq!(
        lines(&d),
        [
            "deploy.yaml:7: Deployment/shop/web: spec.replicas: expected an integer, found a string \"3\"",
            "deploy.yaml:19: Deployment/shop/web: spec.template.spec.containers[0].ports[0].protocl: unknown field (use --strict=false to only warn); did you mean `protocol`?",
        ]
    );
    let fixed = DEPLOYMENT
        .replace("replicas: \"3\"", "replicas: 3")
        .replace("protocl", "protocol");
    let d = render(&[("deploy.yaml", &fixed)], Options::default());
    assert_eq!(lines(&d), Vec::<String>::new());
}

#[test]
fn everyday_kinds_validate_and_their_quantities_ports_and_lists_are_checked() {
    let good = "\
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
    - {name: http, port: 80, targetPort: http}
    - {name: https, port: 443, targetPort: 8443}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
    - host: shop.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {service: {name: web, port: {number: 80}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: \"system:shop-viewer\"}
rules:
  - {apiGroups: [\"\"], resources: [pods], verbs: [get, list]}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 5
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Gi}}
---
apiVersion: v1
kind: Secret
metadata: {name: s}
data: {token: aGVsbG8=}
stringData: {plain: not base64}
";
    let d = render(&[("app.yaml", good)], Options::default());
    assert_eq!(lines(&d), Vec::<String>::new());
    let bad = good
        .replace("storage: 10Gi", "storage: ten gigs")
        .replace("targetPort: 8443", "targetPort: [8443]")
        .replace("{name: https, port: 443", "{name: https, port: 80")
        .replace("token: aGVsbG8=", "token: hunter2!");
    let d = render(&[("app.yaml", &bad)], Options::default());
    let found = lines(&d);
    assert_eq!(found.len(), 4, "{found:#?}");
    assert!(found[0].starts_with("app.yaml:6: Service/default/web: spec.ports: entries 0 and 1 have the same key (port=80, protocol=\"TCP\")"), "{found:#?}");
    assert!(found[1].contains("app.yaml:8: Service/default/web: spec.ports[1].targetPort: expected an integer or a string, found a list"), "{found:#?}");
    assert!(found[2].contains("app.yaml:41: PersistentVolumeClaim/default/data: spec.resources.requests.storage: \"ten gigs\" is not a Kubernetes quantity"), "{found:#?}");
    // A Secret's value is never quoted.
    assert!(
        found[3].starts_with("app.yaml:46: Secret/default/s: data.token: the value is not base64"),
        "{found:#?}"
    );
    assert!(!found[3].contains("hunter2"), "{found:#?}");
}

#[test]
fn a_cluster_scoped_object_never_carries_a_namespace() {
    let role = "\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: viewer, namespace: apps}
rules: []
";
    let d = render(&[("role.yaml", role)], Options::default());
    assert_eq!(
        lines(&d),
        [
            "role.yaml:3: warning: ClusterRole/viewer: metadata.namespace: ClusterRole is cluster-scoped: metadata.namespace is dropped, as the API server drops it; remove it"
        ]
    );
    let m = &d.manifests[0];
    assert_eq!(m.id.to_string(), "ClusterRole/viewer");
    assert_eq!(m.id.namespace, None);
    assert!(
        m.value.pointer("/metadata/namespace").is_none(),
        "{}",
        m.value
    );
}

#[test]
fn the_api_servers_metadata_checks_are_made_offline() {
    let text = "\
apiVersion: v1
kind: Namespace
metadata:
  name: my.team
  labels: {\"bad label!\": x}
---
apiVersion: v1
kind: ConfigMap
metadata:
  generateName: settings-
data: {a: b}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data: {\"bad/key\": x}
";
    let d = render(&[("m.yaml", text)], Options::default());
    let found = lines(&d);
    assert_eq!(found.len(), 4, "{found:#?}");
    assert!(
        found[0].starts_with(
            "m.yaml:4: Namespace/my.team: metadata.name: name \"my.team\" is not a DNS-1123 label"
        ),
        "{found:#?}"
    );
    assert!(found[1].starts_with("m.yaml:5: Namespace/my.team: metadata.labels.bad label!: label key \"bad label!\" is not a qualified name"), "{found:#?}");
    assert!(
        found[2].contains("m.yaml:10: ConfigMap uses metadata.generateName"),
        "{found:#?}"
    );
    assert!(found[2].contains("fixed metadata.name"), "{found:#?}");
    assert!(
        found[3].starts_with(
            "m.yaml:16: ConfigMap/default/c: data[\"bad/key\"]: key \"bad/key\" may only hold"
        ),
        "{found:#?}"
    );
}

const CRD: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              x-kubernetes-validations:
                - rule: self.size % 2 == 0
                  message: size must be even
              properties:
                size: {type: integer, minimum: 1, maximum: 10}
                colour: {type: string, enum: [red, blue]}
                port:
                  x-kubernetes-int-or-string: true
                  anyOf: [{type: integer}, {type: string}]
";

const WIDGET: &str = "\
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec:
  size: 4
  colour: red
  port: http
";

#[test]
fn a_crd_and_its_custom_resource_validate_offline_in_one_folder() {
    let d = render(
        &[("crd.yaml", CRD), ("widget.yaml", WIDGET)],
        Options::default(),
    );
    assert_eq!(
        lines(&d),
        [
            "crd.yaml:19: warning: CustomResourceDefinition/widgets.example.com: spec.versions[0].schema.openAPIV3Schema.properties.spec.x-kubernetes-validations: CEL rule `self.size % 2 == 0` is not checked by mooring (no CEL evaluator offline): Widget objects are checked against it by the API server at plan and apply"
        ]
    );
    // A constraint the CRD states fails, at its line.
    let bad = WIDGET
        .replace("size: 4", "size: 40")
        .replace("colour: red", "color: red");
    let d = render(
        &[("crd.yaml", CRD), ("widget.yaml", &bad)],
        Options::default(),
    );
    let errors: Vec<String> = d
        .findings
        .iter()
        .filter(|f| f.is_error())
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        [
            "widget.yaml:5: Widget/default/w: spec.size: 40 is above the maximum of 10",
            "widget.yaml:6: Widget/default/w: spec.color: unknown field (use --strict=false to only warn); did you mean `colour`?",
        ]
    );
}

#[test]
fn without_its_crd_a_custom_resource_names_the_four_ways_out() {
    let d = render(&[("widget.yaml", WIDGET)], Options::default());
    let found = lines(&d);
    assert_eq!(found.len(), 1, "{found:#?}");
    for way in [
        "not a built-in Kubernetes kind",
        "put its CustomResourceDefinition in the input",
        "--schemas DIR",
        "a cluster that serves it",
        "--allow-unknown-kinds",
    ] {
        assert!(found[0].contains(way), "{way}: {found:#?}");
    }
}

#[test]
fn a_cluster_scoped_crd_makes_its_objects_cluster_scoped() {
    let crd = CRD.replace("scope: Namespaced", "scope: Cluster");
    let d = render(
        &[("crd.yaml", &crd), ("widget.yaml", WIDGET)],
        Options::default(),
    );
    let widget = d.manifests.iter().find(|m| m.id.kind == "Widget").unwrap();
    assert_eq!(widget.id.to_string(), "Widget/w");
}

#[test]
fn an_old_api_version_is_named_as_such() {
    let old = DEPLOYMENT.replace("apps/v1", "extensions/v1beta1");
    let d = render(&[("deploy.yaml", &old)], Options::default());
    let found = lines(&d);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains("no schema for kind Deployment in apiVersion extensions/v1beta1: it is known as apiVersion apps/v1"),
        "{found:#?}"
    );
}

/// An optional field left empty (`env:`) is null, which the API server reads
/// as absent: accepted, as kubectl accepts it. A required one is not.
#[test]
fn an_empty_optional_field_is_absent_but_a_required_one_is_missing() {
    let empty = DEPLOYMENT
        .replace("replicas: \"3\"", "replicas: 3")
        .replace("protocl", "protocol")
        .replace(
            "          resources:\n            limits: {cpu: 500m, memory: 1Gi}\n",
            "          resources:\n          env:\n",
        );
    let d = render(&[("deploy.yaml", &empty)], Options::default());
    assert_eq!(lines(&d), Vec::<String>::new());
    let nameless = empty.replace("        - name: web\n", "        - name:\n");
    let d = render(&[("deploy.yaml", &nameless)], Options::default());
    let found = lines(&d);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains("spec.template.spec.containers[0].name: expected a string, found null"),
        "{found:#?}"
    );
}
