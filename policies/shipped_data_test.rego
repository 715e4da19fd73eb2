package main

import rego.v1

# The shipped data (policies/data/mooring.json) sets every key the rules read:
# a missing key does not fail a rule, it silently turns it off (the Ignite
# memory minimum never fired while `ignite_vm.min_memory_mib` was missing).

test_shipped_data_sets_every_key_the_rules_read if {
	count(data.mooring.allowed_registries) > 0
	count(data.mooring.required_labels) > 0
	data.mooring.limits.microvm.max_vcpu > 0
	data.mooring.limits.microvm.max_memory_mib > 0
	data.mooring.limits.ignite_vm.max_cpus > 0
	data.mooring.limits.ignite_vm.max_memory_mib > 0
	data.mooring.limits.ignite_vm.min_memory_mib > 0
}

test_shipped_data_denies_an_ignite_vm_below_flintlocks_minimum if {
	some v in deny with input as {
		"apiVersion": "ignite.weave.works/v1alpha1",
		"kind": "VM",
		"metadata": {"name": "small"},
		"spec": {"cpus": 1, "memory": "512MB"},
	}
	v.field == "spec.memory"
}
