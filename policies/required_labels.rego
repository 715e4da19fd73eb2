# required_labels: every workload says what it is, what it belongs to and who owns it.
#
# What it enforces
#   deny (policy "required-labels"): a workload object whose metadata.labels
#   lacks one of the labels in data.mooring.required_labels, or has it empty.
#   Workloads are: LlamaStackDistribution, wasmCloud Workload,
#   WorkloadDeployment and WorkloadReplicaSet, Flintlock MicroVM and Ignite VM.
#   Supporting objects (Namespaces, ConfigMaps, Artifacts, Hosts, Kernels,
#   Images, Pools) are not checked.
#
# Why
#   On-call needs to find the owning team of anything that misbehaves, and
#   dashboards and cost reports group by app.kubernetes.io/part-of. Labels
#   that are only added "later" never are.
#
# Changing the list
#   Edit policies/data/mooring.json, key mooring.required_labels: a list of
#   label keys. Only metadata.labels counts (not spec.labels of a MicroVM, nor
#   spec.template.labels of a WorkloadDeployment).

package main

import rego.v1

_labels_workload_kinds := {
	"llamastack.io": {"LlamaStackDistribution"},
	"runtime.wasmcloud.dev": {"Workload", "WorkloadDeployment", "WorkloadReplicaSet"},
	"flintlock.liquidmetal.dev": {"MicroVM"},
	"ignite.weave.works": {"VM"},
}

_labels_is_workload if {
	is_string(input.apiVersion)
	group := split(input.apiVersion, "/")[0]
	input.kind in _labels_workload_kinds[group]
}

_labels_present := input.metadata.labels if {
	is_object(input.metadata.labels)
} else := {}

# Point at metadata.labels when it exists, else at metadata.
_labels_field := "metadata.labels" if {
	is_object(input.metadata.labels)
} else := "metadata"

deny contains {
	"msg": sprintf("missing the required label \"%s\" (every workload needs: %s)", [label, concat(", ", data.mooring.required_labels)]),
	"policy": "required-labels",
	"field": _labels_field,
} if {
	_labels_is_workload
	some label in data.mooring.required_labels
	not _labels_has(label)
}

_labels_has(label) if {
	value := _labels_present[label]
	is_string(value)
	trim_space(value) != ""
}
