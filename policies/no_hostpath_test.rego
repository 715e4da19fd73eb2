package main

import rego.v1

_hp_volumes := [
	{"name": "scratch", "ephemeral": {}},
	{"name": "host-certs", "hostPath": {"path": "/etc/ssl/private"}},
]

test_workload_hostpath_denied if {
	doc := {"apiVersion": "runtime.wasmcloud.dev/v1alpha1", "kind": "Workload", "metadata": {"name": "w"}, "spec": {"volumes": _hp_volumes}}
	some v in deny with input as doc
	v.policy == "no-hostpath"
	v.field == "spec.volumes[1].hostPath"
	contains(v.msg, "/etc/ssl/private")
}

test_deployment_hostpath_denied if {
	doc := {"apiVersion": "runtime.wasmcloud.dev/v1alpha1", "kind": "WorkloadDeployment", "metadata": {"name": "w"}, "spec": {"template": {"spec": {"volumes": _hp_volumes}}}}
	some v in deny with input as doc
	v.policy == "no-hostpath"
	v.field == "spec.template.spec.volumes[1].hostPath"
}

test_replicaset_hostpath_denied if {
	doc := {"apiVersion": "runtime.wasmcloud.dev/v1alpha1", "kind": "WorkloadReplicaSet", "metadata": {"name": "w"}, "spec": {"template": {"spec": {"volumes": [{"name": "h", "hostPath": {"path": "/var/run"}}]}}}}
	fields := {v.field | some v in deny; v.policy == "no-hostpath"} with input as doc
	fields == {"spec.template.spec.volumes[0].hostPath"}
}

test_ephemeral_volumes_allowed if {
	doc := {"apiVersion": "runtime.wasmcloud.dev/v1alpha1", "kind": "Workload", "metadata": {"name": "w"}, "spec": {"volumes": [{"name": "scratch", "ephemeral": {}}]}}
	count({v | some v in deny; v.policy == "no-hostpath"}) == 0 with input as doc
}

test_workload_without_volumes_allowed if {
	doc := {"apiVersion": "runtime.wasmcloud.dev/v1alpha1", "kind": "WorkloadDeployment", "metadata": {"name": "w"}, "spec": {"template": {"spec": {}}}}
	count({v | some v in deny; v.policy == "no-hostpath"}) == 0 with input as doc
}

test_other_kinds_with_hostpath_ignored if {
	doc := {"apiVersion": "llamastack.io/v1alpha1", "kind": "LlamaStackDistribution", "metadata": {"name": "x"}, "spec": {"volumes": _hp_volumes}}
	count({v | some v in deny; v.policy == "no-hostpath"}) == 0 with input as doc
}

# Malformed documents are the schema's business: the policy must not fail to evaluate.
test_malformed_volumes_do_not_break_evaluation if {
	doc := {"apiVersion": "runtime.wasmcloud.dev/v1alpha1", "kind": "WorkloadReplicaSet", "spec": {"template": {"spec": {"volumes": "not-a-list"}}}}
	count({v | some v in deny; v.policy == "no-hostpath"}) == 0 with input as doc
}
