# no_hostpath: wasmCloud workloads may not mount directories of the host.
#
# What it enforces
#   deny (policy "no-hostpath"): a volume with a hostPath source in a wasmCloud
#   Workload (spec.volumes[i].hostPath) or in the template of a
#   WorkloadDeployment or WorkloadReplicaSet
#   (spec.template.spec.volumes[i].hostPath).
#
# Why
#   wasmCloud hosts are shared by many teams' workloads. A hostPath volume
#   hands a component the host's own files (keys, other workloads' data) and
#   ties the workload to whatever happens to be on one machine. Use an
#   ephemeral volume for scratch space, or a service for durable state.
#
# Changing it
#   This policy reads no data. If a platform component truly needs the host's
#   files, deploy it outside this repo or delete this file in a reviewed change.

package main

import rego.v1

_hostpath_kinds := {"Workload": "spec", "WorkloadDeployment": "spec.template.spec", "WorkloadReplicaSet": "spec.template.spec"}

_hostpath_volumes contains [sprintf("%s.volumes[%d]", [prefix, i]), v] if {
	is_string(input.apiVersion)
	startswith(input.apiVersion, "runtime.wasmcloud.dev/")
	prefix := _hostpath_kinds[input.kind]
	workload_spec := object.get(input, split(prefix, "."), {})
	is_array(workload_spec.volumes)
	some i, v in workload_spec.volumes
	is_object(v)
}

deny contains {
	"msg": sprintf("mounts \"%s\" from the host into volume \"%v\"; hostPath volumes are not allowed on shared wasmCloud hosts, use ephemeral: {} instead", [_hostpath_path(vol.hostPath), object.get(vol, "name", "")]),
	"policy": "no-hostpath",
	"field": sprintf("%s.hostPath", [path]),
} if {
	some [path, vol] in _hostpath_volumes
	vol.hostPath != null
}

_hostpath_path(hp) := hp.path if {
	is_object(hp)
	is_string(hp.path)
} else := "?"
