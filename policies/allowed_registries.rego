# allowed_registries: every image the repo deploys comes from a registry we trust.
#
# What it enforces
#   deny (policy "allowed-registries"): an image reference that does not start
#   with one of the prefixes in data.mooring.allowed_registries. Checked fields:
#     LlamaStackDistribution  spec.server.distribution.image
#     wasmCloud Artifact      spec.image
#     wasmCloud Workload      spec.components[i].image, spec.service.image
#     WorkloadDeployment /
#     WorkloadReplicaSet      spec.template.spec.components[i].image,
#                             spec.template.spec.service.image
#     Flintlock MicroVM       spec.kernel.image, spec.initrd.image,
#                             spec.rootVolume.source.containerSource,
#                             spec.additionalVolumes[i].source.containerSource
#     Ignite VM               spec.image.ociClaim.ref, spec.kernel.ociClaim.ref
#                             (v1alpha1, v1alpha2); spec.image.oci,
#                             spec.kernel.oci, spec.sandbox.oci (v1alpha3, v1alpha4)
#     Ignite Kernel / Image   spec.ociClaim.ref (v1alpha1, v1alpha2); spec.oci
#   warn (policy "image-tag"): the same references when they have no tag and no
#   digest, or use the tag "latest": such a reference can change under us
#   between two reconciles, so a rollout happens without a commit.
#
# Why
#   An image is code we run on our hosts. Pulling only from our own org and a
#   few vetted upstream orgs keeps typo-squatted or unreviewed images out.
#
# How references are compared
#   Before comparing, a reference is written out in full the way container
#   runtimes read it: "weaveworks/ignite-kernel:5.10.51" becomes
#   "docker.io/weaveworks/ignite-kernel:5.10.51", "alpine:3.20" becomes
#   "docker.io/library/alpine:3.20", and index.docker.io means docker.io.
#   The first path segment is a registry only if it contains "." or ":" or is
#   "localhost". The prefixes from the data file are normalised the same way.
#
# Changing the list
#   Edit policies/data/mooring.json, key mooring.allowed_registries: a list of
#   prefixes. End each with "/" so that "ghcr.io/acme/" does not also admit
#   "ghcr.io/acme-evil/". Prefer whole organisations ("ghcr.io/acme/") or single
#   repositories ("docker.io/library/alpine:") over whole registries.

package main

import rego.v1

_registry_prefixes := {_registry_normalize(p) | some p in data.mooring.allowed_registries}

deny contains {
	"msg": sprintf("\"%s\" (read as %s) is not from an allowed registry; allowed prefixes: %s", [img.ref, full, concat(", ", sort(_registry_prefixes))]),
	"policy": "allowed-registries",
	"field": img.field,
} if {
	some img in _registry_images
	full := _registry_normalize(img.ref)
	not _registry_allowed(full)
}

warn contains {
	"msg": sprintf("\"%s\" has no tag or digest and so means :latest; pin a version so that changes go through Git", [img.ref]),
	"policy": "image-tag",
	"field": img.field,
} if {
	some img in _registry_images
	not _registry_has_tag(img.ref)
	not contains(img.ref, "@")
}

warn contains {
	"msg": sprintf("\"%s\": the tag \"latest\" moves without a commit; pin a version", [img.ref]),
	"policy": "image-tag",
	"field": img.field,
} if {
	some img in _registry_images
	not contains(img.ref, "@")
	endswith(_registry_last_segment(img.ref), ":latest")
}

_registry_allowed(full) if {
	some prefix in _registry_prefixes
	startswith(full, prefix)
}

# ---- reference helpers -------------------------------------------------------

_registry_last_segment(ref) := segs[count(segs) - 1] if {
	segs := split(trim_space(ref), "/")
}

_registry_has_tag(ref) if contains(_registry_last_segment(ref), ":")

_registry_is_host(seg) if contains(seg, ".")

_registry_is_host(seg) if contains(seg, ":")

_registry_is_host(seg) if seg == "localhost"

_registry_docker_hub_aliases := {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}

# Fully qualified form of an image reference (or of a prefix of one).
_registry_normalize(ref) := out if {
	parts := split(trim_space(ref), "/")
	count(parts) > 1
	_registry_is_host(parts[0])
	host := lower(parts[0])
	rest := array.slice(parts, 1, count(parts))
	out := _registry_join(host, rest)
} else := out if {
	parts := split(trim_space(ref), "/")
	count(parts) > 1
	out := concat("/", array.concat(["docker.io"], parts))
} else := concat("", ["docker.io/library/", trim_space(ref)])

_registry_join(host, rest) := concat("/", array.concat(["docker.io", "library"], rest)) if {
	host in _registry_docker_hub_aliases
	count(rest) == 1
} else := concat("/", array.concat(["docker.io"], rest)) if {
	host in _registry_docker_hub_aliases
} else := concat("/", array.concat([host], rest))

# ---- where images live, per kind ----------------------------------------------

_registry_group := split(input.apiVersion, "/")[0] if is_string(input.apiVersion)

_registry_images contains {"field": "spec.server.distribution.image", "ref": ref} if {
	_registry_group == "llamastack.io"
	input.kind == "LlamaStackDistribution"
	ref := input.spec.server.distribution.image
	_registry_nonempty(ref)
}

_registry_images contains {"field": "spec.image", "ref": ref} if {
	_registry_group == "runtime.wasmcloud.dev"
	input.kind == "Artifact"
	ref := input.spec.image
	_registry_nonempty(ref)
}

# [dotted path of the WorkloadSpec, the WorkloadSpec]
_registry_workload_specs contains ["spec", input.spec] if {
	_registry_group == "runtime.wasmcloud.dev"
	input.kind == "Workload"
}

_registry_workload_specs contains ["spec.template.spec", input.spec.template.spec] if {
	_registry_group == "runtime.wasmcloud.dev"
	input.kind in {"WorkloadDeployment", "WorkloadReplicaSet"}
}

_registry_images contains {"field": sprintf("%s.components[%d].image", [ws[0], i]), "ref": c.image} if {
	some ws in _registry_workload_specs
	is_array(ws[1].components)
	some i, c in ws[1].components
	_registry_nonempty(c.image)
}

_registry_images contains {"field": sprintf("%s.service.image", [ws[0]]), "ref": ref} if {
	some ws in _registry_workload_specs
	ref := ws[1].service.image
	_registry_nonempty(ref)
}

_registry_is_microvm if {
	_registry_group == "flintlock.liquidmetal.dev"
	input.kind == "MicroVM"
}

_registry_images contains {"field": "spec.kernel.image", "ref": ref} if {
	_registry_is_microvm
	ref := input.spec.kernel.image
	_registry_nonempty(ref)
}

_registry_images contains {"field": "spec.initrd.image", "ref": ref} if {
	_registry_is_microvm
	ref := input.spec.initrd.image
	_registry_nonempty(ref)
}

_registry_images contains {"field": "spec.rootVolume.source.containerSource", "ref": ref} if {
	_registry_is_microvm
	ref := input.spec.rootVolume.source.containerSource
	_registry_nonempty(ref)
}

_registry_images contains {"field": sprintf("spec.additionalVolumes[%d].source.containerSource", [i]), "ref": ref} if {
	_registry_is_microvm
	is_array(input.spec.additionalVolumes)
	some i, v in input.spec.additionalVolumes
	ref := v.source.containerSource
	_registry_nonempty(ref)
}

_registry_images contains {"field": sprintf("spec.%s.ociClaim.ref", [part]), "ref": ref} if {
	_registry_group == "ignite.weave.works"
	input.kind == "VM"
	some part in ["image", "kernel"]
	ref := input.spec[part].ociClaim.ref
	_registry_nonempty(ref)
}

_registry_images contains {"field": "spec.ociClaim.ref", "ref": ref} if {
	_registry_group == "ignite.weave.works"
	input.kind in {"Kernel", "Image"}
	ref := input.spec.ociClaim.ref
	_registry_nonempty(ref)
}

_registry_images contains {"field": sprintf("spec.%s.oci", [part]), "ref": ref} if {
	_registry_group == "ignite.weave.works"
	input.kind == "VM"
	some part in ["image", "kernel", "sandbox"]
	ref := input.spec[part].oci
	_registry_nonempty(ref)
}

_registry_images contains {"field": "spec.oci", "ref": ref} if {
	_registry_group == "ignite.weave.works"
	input.kind in {"Kernel", "Image"}
	ref := input.spec.oci
	_registry_nonempty(ref)
}

_registry_nonempty(s) if {
	is_string(s)
	trim_space(s) != ""
}
