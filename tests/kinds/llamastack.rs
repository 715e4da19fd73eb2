//! LlamaStackDistribution: the fields and rules of llama-stack-k8s-operator
//! v0.9's CRD, on top of the reference document's shape.

use serde_json::{Value, json};

use super::{assert_one, assert_valid, llsd, validate, with, without};

/// Every field v0.9 added, in one manifest written for this test.
fn llsd_v09() -> Value {
    let mut doc = llsd();
    doc["spec"]["network"] = json!({
        "exposeRoute": true,
        "allowedFrom": {"namespaces": ["ai-clients", "*"], "labels": ["llama.io/client"]},
    });
    let server = &mut doc["spec"]["server"];
    server["workers"] = json!(4);
    server["tlsConfig"] = json!({
        "caBundle": {
            "configMapName": "corp-ca",
            "configMapNamespace": "pki",
            "configMapKeys": ["ca.crt", "intermediate.crt"],
        },
    });
    server["autoscaling"] = json!({
        "minReplicas": 2,
        "maxReplicas": 6,
        "targetCPUUtilizationPercentage": 70,
        "targetMemoryUtilizationPercentage": 80,
    });
    server["podDisruptionBudget"] = json!({"minAvailable": 1, "maxUnavailable": "25%"});
    server["topologySpreadConstraints"] = json!([{
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"app": "llama"}},
    }]);
    server["podOverrides"]["serviceAccountName"] = json!("llama-runner");
    server["podOverrides"]["terminationGracePeriodSeconds"] = json!(45);
    doc
}

#[test]
fn every_v09_field_is_accepted() {
    assert_valid(&llsd_v09());
    // The reference document's shape stays valid on its own.
    assert_valid(&llsd());
    assert_valid(&with(&llsd(), "/spec/network", json!({})));
    assert_valid(&with(&llsd(), "/spec/server/tlsConfig", json!({})));
}

#[test]
fn workers_has_a_minimum_of_one() {
    assert_valid(&with(&llsd_v09(), "/spec/server/workers", json!(1)));
    let message = assert_one(
        &with(&llsd_v09(), "/spec/server/workers", json!(0)),
        "schema:Minimum",
        "/spec/server/workers",
    );
    assert!(message.contains('1'), "{message}");
}

#[test]
fn autoscaling_requires_max_replicas_and_int32s() {
    assert_one(
        &without(&llsd_v09(), "/spec/server/autoscaling/maxReplicas"),
        "schema:Required",
        "/spec/server/autoscaling",
    );
    assert_valid(&with(
        &llsd_v09(),
        "/spec/server/autoscaling",
        json!({"maxReplicas": 3}),
    ));
    assert_one(
        &with(
            &llsd_v09(),
            "/spec/server/autoscaling/targetCPUUtilizationPercentage",
            json!(2147483648u64),
        ),
        "schema:Maximum",
        "/spec/server/autoscaling/targetCPUUtilizationPercentage",
    );
    // The spelling is upstream's: CPU in capitals.
    assert_one(
        &with(
            &llsd_v09(),
            "/spec/server/autoscaling/targetCpuUtilizationPercentage",
            json!(50),
        ),
        "schema:AdditionalProperties",
        "/spec/server/autoscaling",
    );
}

#[test]
fn pod_disruption_budget_is_int_or_string() {
    assert_valid(&with(
        &llsd_v09(),
        "/spec/server/podDisruptionBudget",
        json!({"minAvailable": "50%"}),
    ));
    assert_valid(&with(
        &llsd_v09(),
        "/spec/server/podDisruptionBudget",
        json!({"maxUnavailable": 1}),
    ));
    assert_one(
        &with(
            &llsd_v09(),
            "/spec/server/podDisruptionBudget/minAvailable",
            json!(true),
        ),
        "schema:Type",
        "/spec/server/podDisruptionBudget/minAvailable",
    );
}

#[test]
fn tls_ca_bundle_requires_a_config_map_and_at_most_fifty_keys() {
    assert_one(
        &without(&llsd_v09(), "/spec/server/tlsConfig/caBundle/configMapName"),
        "schema:Required",
        "/spec/server/tlsConfig/caBundle",
    );
    let keys: Vec<String> = (0..51).map(|i| format!("k{i}.crt")).collect();
    assert_one(
        &with(
            &llsd_v09(),
            "/spec/server/tlsConfig/caBundle/configMapKeys",
            json!(keys),
        ),
        "schema:MaxItems",
        "/spec/server/tlsConfig/caBundle/configMapKeys",
    );
    assert_valid(&with(
        &llsd_v09(),
        "/spec/server/tlsConfig/caBundle/configMapKeys",
        json!(keys[..50]),
    ));
}

#[test]
fn network_topology_and_pod_overrides_are_typed() {
    assert_one(
        &with(&llsd_v09(), "/spec/network/exposeRoute", json!("yes")),
        "schema:Type",
        "/spec/network/exposeRoute",
    );
    assert_one(
        &with(
            &llsd_v09(),
            "/spec/network/allowedFrom/namespaces",
            json!("ai"),
        ),
        "schema:Type",
        "/spec/network/allowedFrom/namespaces",
    );
    assert_one(
        &without(
            &llsd_v09(),
            "/spec/server/topologySpreadConstraints/0/topologyKey",
        ),
        "schema:Required",
        "/spec/server/topologySpreadConstraints/0",
    );
    assert_one(
        &with(
            &llsd_v09(),
            "/spec/server/podOverrides/terminationGracePeriodSeconds",
            json!("45s"),
        ),
        "schema:Type",
        "/spec/server/podOverrides/terminationGracePeriodSeconds",
    );
}

/// Upstream writes `name: {default: ""}` on references and does not
/// require it; neither does mooring.
#[test]
fn reference_names_default_to_empty_as_upstream() {
    let env = json!([{
        "name": "TOKEN",
        "valueFrom": {"secretKeyRef": {"key": "token"}},
    }]);
    assert_valid(&with(&llsd(), "/spec/server/containerSpec/env", env));
    let volumes = json!([{"name": "cfg", "configMap": {"items": [{"key": "a", "path": "a"}]}}]);
    assert_valid(&with(&llsd(), "/spec/server/podOverrides/volumes", volumes));
    // `key` is still required, as upstream has it.
    let problems = validate(&with(
        &llsd(),
        "/spec/server/containerSpec/env",
        json!([{"name": "T", "valueFrom": {"configMapKeyRef": {"name": "cm"}}}]),
    ));
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].source, "schema:Required");
}
