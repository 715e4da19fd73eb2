# microvm_size: caps the size of every virtual machine declared in the repo.
#
# What it enforces
#   - Flintlock MicroVM (flintlock.liquidmetal.dev):  spec.vcpu <= limits.microvm.max_vcpu
#                                                     spec.memoryInMb <= limits.microvm.max_memory_mib
#   - Ignite VM (ignite.weave.works):                 spec.cpus <= limits.ignite_vm.max_cpus
#                                                     spec.memory <= limits.ignite_vm.max_memory_mib
#                                                     spec.memory >= limits.ignite_vm.min_memory_mib
#
# Why
#   Flintlock itself accepts 1-64 vCPUs and 1024-32768 MiB, and Ignite checks
#   nothing at all. Our hosts are small, so one oversized VM can starve the
#   rest of a host. An Ignite minimum can be set too, but the shipped data
#   leaves it out: mooring's translation to Flintlock already refuses less
#   than Flintlock's 1024 MiB (Ignite's default is 512MB), so a policy would
#   only repeat that error.
#
# Ignite sizes are strings such as "2GB" or "512MB" (mooring's rules refuse
# "512MiB" and other units Ignite's parser does not know). Every unit is a binary
# multiple (1GB = 1024^3 bytes) and units are case-insensitive, except that
# "Kb", "Mb", "Gb", ... (capital prefix, lower-case b) mean bits and are
# rejected by Ignite. OPA's units.parse_bytes reads "MB" as 10^6, so this file
# parses sizes itself and compares everything in MiB. A size Ignite cannot
# parse is left to mooring's schema rules, which reject it.
#
# Changing the limits
#   Edit policies/data/mooring.json, key mooring.limits:
#     "microvm":   {"max_vcpu": <int>, "max_memory_mib": <int>}
#     "ignite_vm": {"max_cpus": <int>, "min_memory_mib": <int>, "max_memory_mib": <int>}
#   Leave a key out to switch that one check off.

package main

import rego.v1

_microvm_limits := object.get(data.mooring, ["limits", "microvm"], {})

_ignite_limits := object.get(data.mooring, ["limits", "ignite_vm"], {})

_is_flintlock_microvm if {
	is_string(input.apiVersion)
	startswith(input.apiVersion, "flintlock.liquidmetal.dev/")
	input.kind == "MicroVM"
}

_is_ignite_vm if {
	is_string(input.apiVersion)
	startswith(input.apiVersion, "ignite.weave.works/")
	input.kind == "VM"
}

# ---- Flintlock MicroVM ------------------------------------------------------

deny contains {
	"msg": sprintf("%v vCPUs is above the limit of %v vCPUs for a MicroVM", [input.spec.vcpu, limit]),
	"policy": "microvm-size",
	"field": "spec.vcpu",
} if {
	_is_flintlock_microvm
	limit := _microvm_limits.max_vcpu
	is_number(input.spec.vcpu)
	input.spec.vcpu > limit
}

deny contains {
	"msg": sprintf("%v MiB is above the limit of %v MiB for a MicroVM", [input.spec.memoryInMb, limit]),
	"policy": "microvm-size",
	"field": "spec.memoryInMb",
} if {
	_is_flintlock_microvm
	limit := _microvm_limits.max_memory_mib
	is_number(input.spec.memoryInMb)
	input.spec.memoryInMb > limit
}

# ---- Ignite VM --------------------------------------------------------------

deny contains {
	"msg": sprintf("%v CPUs is above the limit of %v CPUs for an Ignite VM", [input.spec.cpus, limit]),
	"policy": "microvm-size",
	"field": "spec.cpus",
} if {
	_is_ignite_vm
	limit := _ignite_limits.max_cpus
	is_number(input.spec.cpus)
	input.spec.cpus > limit
}

deny contains {
	"msg": sprintf("\"%s\" (%v MiB) is above the limit of %v MiB for an Ignite VM", [input.spec.memory, mib, limit]),
	"policy": "microvm-size",
	"field": "spec.memory",
} if {
	_is_ignite_vm
	limit := _ignite_limits.max_memory_mib
	mib := _ignite_size_mib(input.spec.memory)
	mib > limit
}

deny contains {
	"msg": sprintf("\"%s\" (%v MiB) is below the minimum of %v MiB (Flintlock refuses smaller VMs)", [input.spec.memory, mib, minimum]),
	"policy": "microvm-size",
	"field": "spec.memory",
} if {
	_is_ignite_vm
	minimum := _ignite_limits.min_memory_mib
	mib := _ignite_size_mib(input.spec.memory)
	mib < minimum
}

deny contains {
	"msg": sprintf("not set, so Ignite uses its default of 512MB, below the minimum of %v MiB; set spec.memory, e.g. \"1GB\"", [minimum]),
	"policy": "microvm-size",
	"field": "spec",
} if {
	_is_ignite_vm
	minimum := _ignite_limits.min_memory_mib
	not _has_ignite_memory
	512 < minimum
}

_has_ignite_memory if input.spec.memory

# ---- Ignite size parsing ----------------------------------------------------

_ignite_digits := {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

# Bytes per unit, keyed by the lower-cased unit. All multiples are binary.
_ignite_units := {
	"": 1, "b": 1, "byte": 1, "bytes": 1,
	"k": 1024, "kb": 1024, "kib": 1024, "kilo": 1024, "kilobyte": 1024, "kilobytes": 1024,
	"m": 1048576, "mb": 1048576, "mib": 1048576, "mega": 1048576, "megabyte": 1048576, "megabytes": 1048576,
	"g": 1073741824, "gb": 1073741824, "gib": 1073741824, "giga": 1073741824, "gigabyte": 1073741824, "gigabytes": 1073741824,
	"t": 1099511627776, "tb": 1099511627776, "tib": 1099511627776, "tera": 1099511627776, "terabyte": 1099511627776, "terabytes": 1099511627776,
	"p": 1125899906842624, "pb": 1125899906842624, "pib": 1125899906842624, "peta": 1125899906842624, "petabyte": 1125899906842624, "petabytes": 1125899906842624,
	"e": 1152921504606846976, "eb": 1152921504606846976, "eib": 1152921504606846976, "exa": 1152921504606846976, "exabyte": 1152921504606846976, "exabytes": 1152921504606846976,
}

# Capital prefix followed by a lower-case "b": bits, which Ignite refuses.
_ignite_bit_units := {"Kb", "Mb", "Gb", "Tb", "Pb", "Eb"}

# Index of the first character of s that is not an ASCII digit (count(s) when
# every character is a digit). s must not be empty.
_ignite_digit_run(s) := min(rest) if {
	rest := {i |
		some i in numbers.range(0, count(s) - 1)
		not substring(s, i, 1) in _ignite_digits
	}
	count(rest) > 0
} else := count(s)

# The size in MiB (possibly fractional), undefined when s is not a size Ignite
# would accept.
_ignite_size_mib(s) := mib if {
	is_string(s)
	t := trim_space(s)
	count(t) > 0
	n := _ignite_digit_run(t)
	n > 0
	unit := trim_space(substring(t, n, -1))
	not unit in _ignite_bit_units
	bytes_per_unit := _ignite_units[lower(unit)]
	mib := (to_number(substring(t, 0, n)) * bytes_per_unit) / 1048576
}
