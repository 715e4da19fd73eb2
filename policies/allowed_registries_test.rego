package main

import rego.v1

_reg_data := {"allowed_registries": ["ghcr.io/tidewater/", "docker.io/weaveworks/", "docker.io/llamastack/"]}

_reg_llsd(image) := {
	"apiVersion": "llamastack.io/v1alpha1",
	"kind": "LlamaStackDistribution",
	"metadata": {"name": "assistant", "namespace": "ml"},
	"spec": {"server": {"distribution": {"image": image}}},
}

_reg_ignite_vm(image, kernel) := {
	"apiVersion": "ignite.weave.works/v1alpha1",
	"kind": "VM",
	"metadata": {"name": "sandbox"},
	"spec": {
		"image": {"ociClaim": {"type": "Docker", "ref": image}},
		"kernel": {"ociClaim": {"type": "Docker", "ref": kernel}},
	},
}

_reg_denied_fields(doc) := fields if {
	fields := {v.field | some v in deny; v.policy == "allowed-registries"} with input as doc
		with data.mooring as _reg_data
}

test_llsd_allowed_registry if {
	count(deny) == 0 with input as _reg_llsd("docker.io/llamastack/distribution-ollama:0.2.15") with data.mooring as _reg_data
}

test_llsd_disallowed_registry_denied if {
	some v in deny with input as _reg_llsd("quay.io/someone/llama:1.0") with data.mooring as _reg_data
	v.policy == "allowed-registries"
	v.field == "spec.server.distribution.image"
	contains(v.msg, "ghcr.io/tidewater/")
}

test_llsd_by_name_has_no_image_to_check if {
	doc := {"apiVersion": "llamastack.io/v1alpha1", "kind": "LlamaStackDistribution", "metadata": {"name": "x"}, "spec": {"server": {"distribution": {"name": "starter"}}}}
	count(deny) == 0 with input as doc with data.mooring as _reg_data
}

# Docker Hub short names are normalised before comparing.
test_docker_hub_short_name_allowed if {
	count(deny) == 0 with input as _reg_ignite_vm("weaveworks/ignite-ubuntu:20.04", "weaveworks/ignite-kernel:5.10.51")
		with data.mooring as _reg_data
}

test_docker_hub_official_image_denied if {
	some v in deny with input as _reg_ignite_vm("ubuntu:22.04", "weaveworks/ignite-kernel:5.10.51") with data.mooring as _reg_data
	v.policy == "allowed-registries"
	v.field == "spec.image.ociClaim.ref"
	contains(v.msg, "docker.io/library/ubuntu:22.04")
}

test_normalize_references if {
	_registry_normalize("weaveworks/ignite-kernel:5.10.51") == "docker.io/weaveworks/ignite-kernel:5.10.51"
	_registry_normalize("alpine") == "docker.io/library/alpine"
	_registry_normalize("docker.io/alpine:3.20") == "docker.io/library/alpine:3.20"
	_registry_normalize("index.docker.io/weaveworks/ignite") == "docker.io/weaveworks/ignite"
	_registry_normalize("GHCR.io/tidewater/x:1") == "ghcr.io/tidewater/x:1"
	_registry_normalize("localhost/dev/x") == "localhost/dev/x"
	_registry_normalize("registry.local:5000/x") == "registry.local:5000/x"
}

# A prefix must match whole path segments when it ends with "/".
test_lookalike_org_denied if {
	some v in deny with input as _reg_llsd("ghcr.io/tidewater-labs/assistant:1.0") with data.mooring as _reg_data
	v.policy == "allowed-registries"
}

test_prefixes_in_data_are_normalised if {
	count(deny) == 0 with input as _reg_llsd("docker.io/llamastack/distribution-ollama:0.2.15")
		with data.mooring as {"allowed_registries": ["llamastack/"]}
}

test_workload_component_and_service_checked if {
	doc := {
		"apiVersion": "runtime.wasmcloud.dev/v1alpha1",
		"kind": "Workload",
		"metadata": {"name": "w"},
		"spec": {
			"components": [
				{"name": "ok", "image": "ghcr.io/tidewater/wasm/ok:1.0.0"},
				{"name": "bad", "image": "ghcr.io/elsewhere/bad:1.0.0"},
			],
			"service": {"image": "registry.example.com/svc:2"},
		},
	}
	_reg_denied_fields(doc) == {"spec.components[1].image", "spec.service.image"}
}

test_workload_deployment_template_checked if {
	doc := {
		"apiVersion": "runtime.wasmcloud.dev/v1alpha1",
		"kind": "WorkloadDeployment",
		"metadata": {"name": "w"},
		"spec": {"template": {"spec": {"components": [{"name": "bad", "image": "ghcr.io/elsewhere/bad:1.0.0"}]}}},
	}
	_reg_denied_fields(doc) == {"spec.template.spec.components[0].image"}
}

test_replicaset_service_checked if {
	doc := {
		"apiVersion": "runtime.wasmcloud.dev/v1alpha1",
		"kind": "WorkloadReplicaSet",
		"metadata": {"name": "w"},
		"spec": {"template": {"spec": {"service": {"image": "ghcr.io/elsewhere/svc:1"}}}},
	}
	_reg_denied_fields(doc) == {"spec.template.spec.service.image"}
}

test_artifact_checked if {
	doc := {"apiVersion": "runtime.wasmcloud.dev/v1alpha1", "kind": "Artifact", "metadata": {"name": "a"}, "spec": {"image": "ttl.sh/scratch:1h"}}
	_reg_denied_fields(doc) == {"spec.image"}
}

test_microvm_all_image_fields_checked if {
	doc := {
		"apiVersion": "flintlock.liquidmetal.dev/v1alpha1",
		"kind": "MicroVM",
		"metadata": {"name": "m"},
		"spec": {
			"kernel": {"image": "example.org/kernel:5.10", "filename": "boot/vmlinux"},
			"initrd": {"image": "example.org/initrd:1"},
			"rootVolume": {"id": "root", "source": {"containerSource": "example.org/root:1"}},
			"additionalVolumes": [
				{"id": "ok", "source": {"containerSource": "ghcr.io/tidewater/data:1"}},
				{"id": "bad", "source": {"containerSource": "example.org/data:1"}},
			],
		},
	}
	_reg_denied_fields(doc) == {
		"spec.kernel.image",
		"spec.initrd.image",
		"spec.rootVolume.source.containerSource",
		"spec.additionalVolumes[1].source.containerSource",
	}
}

test_ignite_kernel_object_checked if {
	doc := {"apiVersion": "ignite.weave.works/v1alpha1", "kind": "Kernel", "metadata": {"name": "k"}, "spec": {"version": "5.10", "ociClaim": {"type": "Docker", "ref": "example/kernel:5.10"}}}
	_reg_denied_fields(doc) == {"spec.ociClaim.ref"}
}

test_ignite_image_object_allowed if {
	doc := {"apiVersion": "ignite.weave.works/v1alpha1", "kind": "Image", "metadata": {"name": "weaveworks/ignite-ubuntu:20.04"}, "spec": {"ociClaim": {"type": "Docker", "ref": "weaveworks/ignite-ubuntu:20.04"}}}
	count(deny) == 0 with input as doc with data.mooring as _reg_data
}

test_ignite_v1alpha4_references_checked if {
	doc := {"apiVersion": "ignite.weave.works/v1alpha4", "kind": "VM", "metadata": {"name": "v"}, "spec": {"image": {"oci": "example/os:1"}, "kernel": {"oci": "example/kernel:5.10"}, "sandbox": {"oci": "example/ignite:v0.10.0"}}}
	_reg_denied_fields(doc) == {"spec.image.oci", "spec.kernel.oci", "spec.sandbox.oci"}
}

test_ignite_v1alpha4_kernel_object_checked if {
	doc := {"apiVersion": "ignite.weave.works/v1alpha4", "kind": "Kernel", "metadata": {"name": "k"}, "spec": {"oci": "example/kernel:5.10"}}
	_reg_denied_fields(doc) == {"spec.oci"}
}

test_latest_tag_warned if {
	some v in warn with input as _reg_llsd("docker.io/llamastack/distribution-ollama:latest") with data.mooring as _reg_data
	v.policy == "image-tag"
	v.field == "spec.server.distribution.image"
}

test_missing_tag_warned if {
	some v in warn with input as _reg_ignite_vm("weaveworks/ignite-ubuntu", "weaveworks/ignite-kernel:5.10.51") with data.mooring as _reg_data
	v.policy == "image-tag"
	v.field == "spec.image.ociClaim.ref"
}

test_registry_port_is_not_a_tag if {
	some v in warn with input as _reg_llsd("registry.local:5000/llama") with data.mooring as _reg_data
	v.policy == "image-tag"
}

test_pinned_tag_and_digest_not_warned if {
	count(warn) == 0 with input as _reg_llsd("docker.io/llamastack/distribution-ollama:0.2.15") with data.mooring as _reg_data
	count(warn) == 0 with input as _reg_llsd("docker.io/llamastack/distribution-ollama@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
		with data.mooring as _reg_data
}

# Malformed documents are the schema's business: the policy must not fail to evaluate.
test_malformed_documents_do_not_break_evaluation if {
	count({v | some v in deny; v.policy == "allowed-registries"}) == 0 with input as {"apiVersion": 5, "kind": "MicroVM"}
		with data.mooring as _reg_data
	doc := {"apiVersion": "runtime.wasmcloud.dev/v1alpha1", "kind": "Workload", "spec": {"components": {"a": {"image": "x"}}}}
	count({v | some v in deny; v.policy == "allowed-registries"}) == 0 with input as doc with data.mooring as _reg_data
}
