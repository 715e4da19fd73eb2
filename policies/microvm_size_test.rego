package main

import rego.v1

_size_data := {"limits": {
	"microvm": {"max_vcpu": 8, "max_memory_mib": 16384},
	"ignite_vm": {"max_cpus": 4, "min_memory_mib": 1024, "max_memory_mib": 8192},
}}

_size_microvm(vcpu, mem) := {
	"apiVersion": "flintlock.liquidmetal.dev/v1alpha1",
	"kind": "MicroVM",
	"metadata": {"name": "runner", "namespace": "ci"},
	"spec": {"vcpu": vcpu, "memoryInMb": mem},
}

_size_ignite(cpus, mem) := {
	"apiVersion": "ignite.weave.works/v1alpha1",
	"kind": "VM",
	"metadata": {"name": "sandbox"},
	"spec": {"cpus": cpus, "memory": mem},
}

test_microvm_within_limits_allowed if {
	count(deny) == 0 with input as _size_microvm(8, 16384) with data.mooring as _size_data
}

test_microvm_vcpu_over_limit_denied if {
	some v in deny with input as _size_microvm(9, 4096) with data.mooring as _size_data
	v.policy == "microvm-size"
	v.field == "spec.vcpu"
	contains(v.msg, "8")
}

test_microvm_memory_over_limit_denied if {
	some v in deny with input as _size_microvm(2, 16385) with data.mooring as _size_data
	v.policy == "microvm-size"
	v.field == "spec.memoryInMb"
	contains(v.msg, "16384 MiB")
}

test_microvm_both_over_limit_denied_twice if {
	fields := {v.field | some v in deny; v.policy == "microvm-size"} with input as _size_microvm(16, 32768)
		with data.mooring as _size_data
	fields == {"spec.vcpu", "spec.memoryInMb"}
}

test_ignite_within_limits_allowed if {
	count(deny) == 0 with input as _size_ignite(4, "8GB") with data.mooring as _size_data
}

test_ignite_cpus_over_limit_denied if {
	some v in deny with input as _size_ignite(5, "2GB") with data.mooring as _size_data
	v.policy == "microvm-size"
	v.field == "spec.cpus"
}

test_ignite_memory_over_limit_denied if {
	some v in deny with input as _size_ignite(2, "9GB") with data.mooring as _size_data
	v.policy == "microvm-size"
	v.field == "spec.memory"
	contains(v.msg, "9216 MiB")
}

# "MB" is binary for Ignite: 8192MB is exactly 8 GiB, so at the limit, not over.
test_ignite_megabytes_are_binary if {
	count(deny) == 0 with input as _size_ignite(2, "8192MB") with data.mooring as _size_data
}

test_ignite_units_case_insensitive if {
	_ignite_size_mib("2gb") == 2048
	_ignite_size_mib("2GiB") == 2048
	_ignite_size_mib("2G") == 2048
	_ignite_size_mib(" 1536mib ") == 1536
	_ignite_size_mib("1048576KB") == 1024
	_ignite_size_mib("1T") == 1048576
	_ignite_size_mib("1073741824") == 1024
}

test_ignite_invalid_sizes_not_parsed if {
	not _ignite_size_mib("2Gb")
	not _ignite_size_mib("1.5GB")
	not _ignite_size_mib("2Gi")
	not _ignite_size_mib("GB")
	not _ignite_size_mib("")
	not _ignite_size_mib(2048)
}

test_ignite_memory_below_minimum_denied if {
	some v in deny with input as _size_ignite(1, "512MB") with data.mooring as _size_data
	v.policy == "microvm-size"
	v.field == "spec.memory"
	contains(v.msg, "1024 MiB")
}

test_ignite_memory_missing_denied if {
	doc := {"apiVersion": "ignite.weave.works/v1alpha1", "kind": "VM", "metadata": {"name": "x"}, "spec": {"cpus": 1}}
	some v in deny with input as doc with data.mooring as _size_data
	v.policy == "microvm-size"
	v.field == "spec"
}

test_limits_come_from_data if {
	count(deny) == 0 with input as _size_microvm(32, 4096)
		with data.mooring as {"limits": {"microvm": {"max_vcpu": 32}}}
}

test_other_kinds_ignored if {
	doc := {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "spec": {"vcpu": 99}}
	count(deny) == 0 with input as doc with data.mooring as _size_data
}
