package main

import rego.v1

_lbl_data := {"required_labels": ["app.kubernetes.io/name", "app.kubernetes.io/part-of", "team"]}

_lbl_full := {"app.kubernetes.io/name": "assistant", "app.kubernetes.io/part-of": "support", "team": "ml-platform"}

_lbl_doc(api, kind, labels) := {"apiVersion": api, "kind": kind, "metadata": {"name": "x", "labels": labels}, "spec": {}}

test_llsd_with_all_labels_allowed if {
	count(deny) == 0 with input as _lbl_doc("llamastack.io/v1alpha1", "LlamaStackDistribution", _lbl_full)
		with data.mooring as _lbl_data
}

test_missing_team_label_denied if {
	labels := object.remove(_lbl_full, ["team"])
	some v in deny with input as _lbl_doc("runtime.wasmcloud.dev/v1alpha1", "WorkloadDeployment", labels) with data.mooring as _lbl_data
	v.policy == "required-labels"
	v.field == "metadata.labels"
	contains(v.msg, "\"team\"")
}

test_empty_label_value_denied if {
	labels := object.union(_lbl_full, {"team": ""})
	some v in deny with input as _lbl_doc("flintlock.liquidmetal.dev/v1alpha1", "MicroVM", labels) with data.mooring as _lbl_data
	v.policy == "required-labels"
}

test_no_labels_at_all_points_at_metadata if {
	doc := {"apiVersion": "ignite.weave.works/v1alpha1", "kind": "VM", "metadata": {"name": "x"}, "spec": {}}
	denials := {v | some v in deny; v.policy == "required-labels"} with input as doc with data.mooring as _lbl_data
	count(denials) == 3
	every v in denials { v.field == "metadata" }
}

test_every_workload_kind_checked if {
	kinds := [
		["llamastack.io/v1alpha1", "LlamaStackDistribution"],
		["runtime.wasmcloud.dev/v1alpha1", "Workload"],
		["runtime.wasmcloud.dev/v1alpha1", "WorkloadDeployment"],
		["runtime.wasmcloud.dev/v1alpha1", "WorkloadReplicaSet"],
		["flintlock.liquidmetal.dev/v1alpha1", "MicroVM"],
		["ignite.weave.works/v1alpha1", "VM"],
	]
	every k in kinds {
		count(deny) == 3 with input as _lbl_doc(k[0], k[1], {}) with data.mooring as _lbl_data
	}
}

test_supporting_kinds_not_checked if {
	kinds := [
		["v1", "ConfigMap"],
		["v1", "Namespace"],
		["runtime.wasmcloud.dev/v1alpha1", "Artifact"],
		["runtime.wasmcloud.dev/v1alpha1", "Host"],
		["ignite.weave.works/v1alpha1", "Kernel"],
		["ignite.weave.works/v1alpha1", "Image"],
	]
	every k in kinds {
		count(deny) == 0 with input as _lbl_doc(k[0], k[1], {}) with data.mooring as _lbl_data
	}
}

test_label_list_comes_from_data if {
	count(deny) == 0 with input as _lbl_doc("ignite.weave.works/v1alpha1", "VM", {"owner": "sre"})
		with data.mooring as {"required_labels": ["owner"]}
}
