//! `deploy/kubernetes/`: every file parses, `mooring validate` handles it
//! (kinds it has no schema for are errors, or warnings with
//! `--allow-unknown-kinds`), the ConfigMap holds a valid mooring.yaml, and
//! the manifests agree with each other, with the Dockerfile, with
//! `mooring run --help` and with the kinds mooring manages. No cluster is
//! involved: these are static checks plus the real binary on the files.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use mooring::manifest::Limits;
use mooring::manifest::yaml::parse_stream;
use serde_json::Value;

const DIR: &str = "deploy/kubernetes";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every document of every YAML file, by file name.
fn documents() -> BTreeMap<String, Vec<Value>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(root().join(DIR)).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let (docs, errors) = parse_stream(&text, &Limits::default());
        // Warnings too: a value kubectl (YAML 1.1) reads differently.
        assert!(errors.is_empty(), "{name}: {errors:?}");
        assert!(!docs.is_empty(), "{name}: no document");
        out.insert(name, docs.into_iter().map(|d| d.value).collect());
    }
    out
}

/// The one object of `kind` (named `name` when given).
fn object<'a>(docs: &'a BTreeMap<String, Vec<Value>>, kind: &str, name: Option<&str>) -> &'a Value {
    let found: Vec<&Value> = docs
        .values()
        .flatten()
        .filter(|d| d["kind"] == kind && name.is_none_or(|n| d["metadata"]["name"] == n))
        .collect();
    assert_eq!(found.len(), 1, "{kind} {name:?}: {found:?}");
    found[0]
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[test]
fn every_file_parses_and_is_listed_by_the_kustomization() {
    let docs = documents();
    let cluster_scoped = [
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "Kustomization",
    ];
    for (file, objects) in &docs {
        for o in objects {
            assert!(o["apiVersion"].is_string(), "{file}: {o}");
            assert!(o["metadata"]["name"].is_string(), "{file}: {o}");
            let kind = o["kind"].as_str().unwrap();
            if !cluster_scoped.contains(&kind) {
                assert_eq!(o["metadata"]["namespace"], "mooring", "{file}: {kind}");
            }
        }
    }
    let kustomization = object(&docs, "Kustomization", None);
    let listed: BTreeSet<&str> = strings(&kustomization["resources"]).into_iter().collect();
    let files: BTreeSet<&str> = docs
        .keys()
        .map(String::as_str)
        .filter(|f| *f != "kustomization.yaml")
        .collect();
    assert_eq!(listed, files);
    assert!(root().join(DIR).join("README.md").exists());
}

/// Every file here is a built-in kind: `validate` passes with no flag but
/// the kustomize that renders the folder (it holds a kustomization). The
/// ServiceMonitor (the Prometheus Operator's kind) lives apart, and alone it
/// is an error that names the ways to give it a schema.
#[test]
fn mooring_validate_passes_on_the_deploy_folder_with_no_flag() {
    let kustomize = support::tools::kustomize();
    let out = support::mooring(&["validate", "--kustomize", &kustomize, DIR], None);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains(": 0 errors"), "{}", out.stdout);

    let out = support::mooring(&["validate", "deploy/prometheus-operator"], None);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("no schema for kind ServiceMonitor")
            && out
                .stdout
                .contains("put its CustomResourceDefinition in the input"),
        "{}",
        out.stdout
    );
}

#[test]
fn the_configmap_holds_a_valid_mooring_yaml() {
    let docs = documents();
    let cm = object(&docs, "ConfigMap", Some("mooring-config"));
    let text = cm["data"]["mooring.yaml"].as_str().unwrap();
    let config = mooring::config::Config::parse(text, "configmap.yaml:mooring.yaml");
    assert!(config.is_ok(), "{:?}", config.err());
    assert!(text.contains("inCluster: true"), "{text}");
}

/// The image's user and entrypoint, from the Dockerfile.
fn dockerfile() -> (String, String) {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let last = |prefix: &str| {
        text.lines()
            .rev()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in the Dockerfile"))
            .trim()
            .to_string()
    };
    (last("USER "), last("ENTRYPOINT "))
}

#[test]
fn the_deployment_matches_the_image_the_config_and_the_service() {
    let docs = documents();
    let deployment = object(&docs, "Deployment", Some("mooring"));
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 2);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "mooring");
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];

    // The image: `ENTRYPOINT ["mooring"]`, so the args start with the
    // subcommand; the user the pod runs as is the image's.
    let (user, entrypoint) = dockerfile();
    assert_eq!(entrypoint, r#"["mooring"]"#);
    assert!(c.get("command").is_none(), "the entrypoint is the image's");
    let uid: u64 = user.split(':').next().unwrap().parse().unwrap();
    let security = &pod["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["runAsUser"], uid);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);

    let args = strings(&c["args"]);
    assert_eq!(args[0], "run");
    let flag = |name: &str| {
        args.iter()
            .position(|a| *a == name)
            .map(|i| args.get(i + 1).copied())
    };
    assert_eq!(flag("--config"), Some(Some("/etc/mooring/mooring.yaml")));
    assert_eq!(flag("--cache-dir"), Some(Some("/var/cache/mooring")));
    assert!(args.contains(&"--leader-elect"), "{args:?}");
    let help = support::mooring(&["run", "--help"], None);
    for a in args.iter().filter(|a| a.starts_with("--")) {
        assert!(help.stdout.contains(a), "`mooring run` has no {a}");
    }

    // Mounts: the ConfigMap at /etc/mooring (with the key the config flag
    // names), and writable emptyDirs for the cache and /tmp.
    let volumes: BTreeMap<&str, &Value> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v))
        .collect();
    let mounts: BTreeMap<&str, &str> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["mountPath"].as_str().unwrap(),
                m["name"].as_str().unwrap(),
            )
        })
        .collect();
    let config = volumes[mounts["/etc/mooring"]];
    let cm_name = config["configMap"]["name"].as_str().unwrap();
    let cm = object(&docs, "ConfigMap", Some(cm_name));
    assert!(cm["data"]["mooring.yaml"].is_string());
    for writable in ["/var/cache/mooring", "/tmp"] {
        assert!(
            volumes[mounts[writable]].get("emptyDir").is_some(),
            "{writable}"
        );
    }

    // POD_NAME from the downward API (the leader election identity).
    let pod_name = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "POD_NAME")
        .unwrap();
    assert_eq!(
        pod_name["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    assert_eq!(c["resources"]["limits"]["memory"], "640Mi");

    // One port, named metrics, on 9464 (`--listen`), probed and scraped.
    assert_eq!(flag("--listen"), Some(Some("0.0.0.0:9464")));
    assert_eq!(c["ports"][0]["name"], "metrics");
    assert_eq!(c["ports"][0]["containerPort"], 9464);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "metrics");
    let labels = &spec["template"]["metadata"]["labels"];
    assert_eq!(&spec["selector"]["matchLabels"], labels);

    let service = object(&docs, "Service", Some("mooring"));
    assert_eq!(&service["spec"]["selector"], labels);
    assert_eq!(service["spec"]["ports"][0]["name"], "metrics");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
    let text =
        std::fs::read_to_string(root().join("deploy/prometheus-operator/servicemonitor.yaml"))
            .unwrap();
    let (monitors, errors) = parse_stream(&text, &Limits::default());
    assert!(errors.is_empty(), "{errors:?}");
    let monitor = &monitors[0].value;
    assert_eq!(monitor["kind"], "ServiceMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(
        &monitor["spec"]["selector"]["matchLabels"],
        &service["metadata"]["labels"]
    );
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
}

#[test]
fn rbac_covers_every_kubernetes_kind_mooring_manages_and_no_more() {
    let docs = documents();
    let role = object(&docs, "ClusterRole", Some("mooring"));
    let mut granted: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for rule in role["rules"].as_array().unwrap() {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                let verbs = strings(&rule["verbs"]);
                assert!(!verbs.contains(&"*") && resource != "*" && group != "*");
                granted
                    .entry((group.to_string(), resource.to_string()))
                    .or_default()
                    .extend(verbs.into_iter().map(String::from));
            }
        }
    }

    // The kinds mooring has schemas for, except those that are not
    // Kubernetes objects (Flintlock and Ignite go to flintlockd).
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("schemas/index.json")).unwrap())
            .unwrap();
    // And the core kinds mooring orders and masks.
    let mut managed: BTreeSet<(String, String)> =
        ["namespaces", "configmaps", "secrets", "serviceaccounts"]
            .into_iter()
            .map(|r| (String::new(), r.to_string()))
            .collect();
    for entry in index.as_array().unwrap() {
        let api_version = entry["apiVersion"].as_str().unwrap();
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        if group == "flintlock.liquidmetal.dev" || group == "ignite.weave.works" {
            continue;
        }
        let plural = format!("{}s", entry["kind"].as_str().unwrap().to_lowercase());
        managed.insert((group.to_string(), plural));
    }
    assert!(managed.contains(&("llamastack.io".into(), "llamastackdistributions".into())));
    assert_eq!(granted.keys().cloned().collect::<BTreeSet<_>>(), managed);
    for (resource, verbs) in &granted {
        for needed in ["get", "list", "watch", "create", "patch", "delete"] {
            assert!(verbs.contains(needed), "{resource:?} lacks {needed}");
        }
        assert!(!verbs.contains("update"), "{resource:?}: no PUT is made");
    }

    let binding = object(&docs, "ClusterRoleBinding", Some("mooring"));
    assert_eq!(binding["roleRef"]["name"], "mooring");
    assert_eq!(binding["subjects"][0]["name"], "mooring");
    assert_eq!(binding["subjects"][0]["namespace"], "mooring");

    let lease_role = object(&docs, "Role", None);
    assert_eq!(lease_role["metadata"]["namespace"], "mooring");
    let rules = lease_role["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(strings(&rules[0]["apiGroups"]), ["coordination.k8s.io"]);
    assert_eq!(strings(&rules[0]["resources"]), ["leases"]);
    assert_eq!(strings(&rules[0]["verbs"]), ["get", "create", "update"]);
    let lease_binding = object(&docs, "RoleBinding", None);
    assert_eq!(
        lease_binding["roleRef"]["name"],
        lease_role["metadata"]["name"]
    );
    assert_eq!(lease_binding["subjects"][0]["name"], "mooring");
}
