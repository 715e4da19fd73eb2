//! Ignite: every API version Ignite released (v1alpha1 as released beside
//! the reference document's shape, v1alpha2, v1alpha3, v1alpha4), with
//! Ignite's own validation rules. Manifests written for these tests.

use serde_json::{Value, json};

use super::{assert_one, assert_valid, pool, validate, vm, with, without};
use mooring::kinds::formats;

/// A v1alpha1 VM as the Ignite releases up to v0.7 save it.
pub(super) fn released_v1alpha1() -> Value {
    json!({
        "apiVersion": "ignite.weave.works/v1alpha1",
        "kind": "VM",
        "metadata": {
            "name": "web-1",
            "uid": "6a2b4c8d0e1f3a5b",
            "created": "2019-08-14T09:21:03Z",
        },
        "spec": {
            "image": {"ociClaim": {"type": "Docker", "ref": "weaveworks/ignite-ubuntu:latest"}},
            "kernel": {"ociClaim": {"type": "Docker", "ref": "weaveworks/ignite-kernel:4.19.47"},
                       "cmdLine": "console=ttyS0 reboot=k panic=1 pci=off ip=dhcp"},
            "cpus": 1,
            "memory": "1GB",
            "diskSize": "4GB",
            "network": {"mode": "docker-bridge", "ports": [{"hostPort": 80, "vmPort": 8080}]},
            "ssh": true,
        },
        "status": {"state": "Created", "ipAddresses": null},
    })
}

pub(super) fn v1alpha2() -> Value {
    json!({
        "apiVersion": "ignite.weave.works/v1alpha2",
        "kind": "VM",
        "metadata": {"name": "db-1", "uid": "0f1e2d3c4b5a6978", "created": null},
        "spec": {
            "image": {"ociClaim": {"type": "Docker", "ref": "weaveworks/ignite-ubuntu:20.04"}},
            "kernel": {"ociClaim": {"ref": "weaveworks/ignite-kernel:5.4.108"}},
            "cpus": 2,
            "memory": "2GB",
            "diskSize": "10GB",
            "network": {"mode": "cni", "ports": [
                {"hostPort": 5432, "vmPort": 5432, "protocol": "tcp", "bindAddress": "10.0.0.1"},
            ]},
            "storage": {
                "volumes": [{"name": "pgdata", "blockDevice": {"path": "/dev/vdb"}}],
                "volumeMounts": [{"name": "pgdata", "mountPath": "/var/lib/postgresql"}],
            },
            "copyFiles": [{"hostPath": "/etc/db.conf", "vmPath": "/etc/db.conf"}],
            "ssh": "/root/.ssh/id_ed25519.pub",
        },
    })
}

/// A VM in the declarative format every current Ignite document uses.
pub(super) fn v1alpha4() -> Value {
    json!({
        "apiVersion": "ignite.weave.works/v1alpha4",
        "kind": "VM",
        "metadata": {"name": "cache-1", "uid": "a1b2c3d4e5f60718", "created": "2021-07-01T12:00:00Z",
                     "labels": {"tier": "cache"}},
        "spec": {
            "image": {"oci": "weaveworks/ignite-ubuntu:20.04"},
            "sandbox": {"oci": "weaveworks/ignite:v0.10.0"},
            "kernel": {"oci": "weaveworks/ignite-kernel:5.10.51", "cmdLine": "console=ttyS0 ip=dhcp"},
            "cpus": 2,
            "memory": "1GB",
            "diskSize": "3GB",
            "network": {"ports": [
                {"hostPort": 6379, "vmPort": 6379},
                {"hostPort": 6379, "vmPort": 6379, "protocol": "udp", "bindAddress": "::1"},
            ]},
            "storage": {
                "volumes": [{"name": "data", "blockDevice": {"path": "/dev/loop7"}}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            },
            "copyFiles": [{"hostPath": "/etc/redis.conf", "vmPath": "/etc/redis/redis.conf"}],
            "ssh": true,
        },
        "status": {"running": true, "idPrefix": "ignite"},
    })
}

pub(super) fn v1alpha3() -> Value {
    with(
        &v1alpha4(),
        "/apiVersion",
        json!("ignite.weave.works/v1alpha3"),
    )
}

#[test]
fn every_version_of_the_vm_is_accepted() {
    assert_valid(&released_v1alpha1());
    assert_valid(&vm());
    assert_valid(&v1alpha2());
    assert_valid(&v1alpha3());
    assert_valid(&v1alpha4());
    // Only the image is required.
    assert_valid(&json!({
        "apiVersion": "ignite.weave.works/v1alpha4", "kind": "VM",
        "metadata": {"name": "min"}, "spec": {"image": {"oci": "weaveworks/ignite-ubuntu"}},
    }));
    assert_one(
        &without(&v1alpha4(), "/spec/image/oci"),
        "schema:Required",
        "/spec/image",
    );
    assert_one(
        &with(&v1alpha4(), "/spec/kernel/oci", json!("Not/A Reference")),
        "schema:Format",
        "/spec/kernel/oci",
    );
    // Each version has its own shape: no ociClaim in v1alpha4, no oci in v1alpha2.
    let problems = validate(&with(
        &v1alpha4(),
        "/spec/image",
        json!({"ociClaim": {"ref": "a:1"}}),
    ));
    assert_eq!(
        problems[0].source, "schema:AdditionalProperties",
        "{problems:#?}"
    );
    assert_eq!(problems[0].pointer, "/spec/image", "{problems:#?}");
    let problems = validate(&with(&v1alpha2(), "/spec/image", json!({"oci": "a:1"})));
    assert_eq!(
        problems[0].source, "schema:AdditionalProperties",
        "{problems:#?}"
    );
    assert_eq!(problems[0].pointer, "/spec/image", "{problems:#?}");
    // The network mode left the VM in v1alpha3.
    assert_one(
        &with(&v1alpha4(), "/spec/network/mode", json!("cni")),
        "schema:AdditionalProperties",
        "/spec/network",
    );
}

#[test]
fn ssh_is_true_a_path_or_a_mapping() {
    for ssh in [
        json!(true),
        json!(false),
        json!("true"),
        json!("/home/me/.ssh/id.pub"),
        json!({}),
        json!({"publicKey": "/k.pub"}),
    ] {
        assert_valid(&with(&v1alpha4(), "/spec/ssh", ssh.clone()));
        assert_valid(&with(&released_v1alpha1(), "/spec/ssh", ssh));
    }
    let problems = validate(&with(&v1alpha4(), "/spec/ssh", json!(22)));
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].pointer, "/spec/ssh");
}

#[test]
fn ignite_metadata_uid_and_created_are_accepted() {
    assert_valid(&with(&v1alpha4(), "/metadata/created", json!(null)));
    assert_one(
        &with(&v1alpha4(), "/metadata/uid", json!(7)),
        "schema:Type",
        "/metadata/uid",
    );
    // Ignite has no namespaces.
    assert_one(
        &with(&v1alpha4(), "/metadata/namespace", json!("default")),
        "schema:AdditionalProperties",
        "/metadata",
    );
}

#[test]
fn port_mappings_have_bind_address_and_protocol() {
    let ports = "/spec/network/ports";
    assert_one(
        &with(&v1alpha4(), &format!("{ports}/1/protocol"), json!("sctp")),
        "schema:Enum",
        &format!("{ports}/1/protocol"),
    );
    assert_one(
        &with(
            &v1alpha4(),
            &format!("{ports}/1/bindAddress"),
            json!("localhost"),
        ),
        "schema:Format",
        &format!("{ports}/1/bindAddress"),
    );
    // The same host port and protocol twice is what Ignite refuses.
    let message = assert_one(
        &with(&v1alpha4(), &format!("{ports}/1/protocol"), json!("tcp")),
        "rule",
        &format!("{ports}/1/hostPort"),
    );
    assert!(
        message.contains("host port 6379 is mapped more than once (first in ports[0])"),
        "{message}"
    );
    // Released v1alpha1 and v1alpha2 check their network.ports too.
    let dup = json!([{"hostPort": 80, "vmPort": 1}, {"hostPort": 80, "vmPort": 2}]);
    assert_one(
        &with(&released_v1alpha1(), ports, dup.clone()),
        "rule",
        &format!("{ports}/1/hostPort"),
    );
    assert_one(
        &with(&v1alpha2(), ports, dup),
        "rule",
        &format!("{ports}/1/hostPort"),
    );
    // v1alpha1: ports are written once, in one of the two places.
    let message = assert_one(
        &with(
            &released_v1alpha1(),
            "/spec/ports",
            json!([{"hostPort": 81, "vmPort": 81}]),
        ),
        "rule",
        ports,
    );
    assert!(message.contains("write the ports once"), "{message}");
}

#[test]
fn storage_follows_ignites_rules() {
    let base = "/spec/storage";
    for doc in [v1alpha2(), v1alpha3(), v1alpha4()] {
        // A volume must be a block device, at an absolute, unique path.
        assert_one(
            &without(&doc, &format!("{base}/volumes/0/blockDevice")),
            "rule",
            &format!("{base}/volumes/0"),
        );
        let message = assert_one(
            &with(
                &doc,
                &format!("{base}/volumes/0/blockDevice/path"),
                json!("dev/vdb"),
            ),
            "rule",
            &format!("{base}/volumes/0/blockDevice/path"),
        );
        assert!(message.contains("must be an absolute path"), "{message}");
        let name = doc
            .pointer(&format!("{base}/volumes/0/name"))
            .unwrap()
            .clone();
        let path = doc
            .pointer(&format!("{base}/volumes/0/blockDevice/path"))
            .unwrap()
            .clone();
        let twice = with(
            &doc,
            &format!("{base}/volumes/1"),
            json!({"name": name, "blockDevice": {"path": path}}),
        );
        let problems = validate(&twice);
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(
            messages[0].contains("blockDevice path must be unique"),
            "{messages:?}"
        );
        assert!(
            messages[1].contains("volume name must be unique"),
            "{messages:?}"
        );
        // A mount names an existing volume, once, at an absolute, unique path.
        let message = assert_one(
            &with(&doc, &format!("{base}/volumeMounts/0/name"), json!("nope")),
            "rule",
            &format!("{base}/volumeMounts/0/name"),
        );
        assert!(message.contains("must match a volume name"), "{message}");
        let mount = doc
            .pointer(&format!("{base}/volumeMounts/0"))
            .unwrap()
            .clone();
        let problems = validate(&with(&doc, &format!("{base}/volumeMounts/1"), mount));
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(messages[0].contains("volumeMount name"), "{messages:?}");
        assert!(
            messages[1].contains("volumeMount path must be unique"),
            "{messages:?}"
        );
        assert_one(
            &with(
                &doc,
                &format!("{base}/volumeMounts/0/mountPath"),
                json!("data"),
            ),
            "rule",
            &format!("{base}/volumeMounts/0/mountPath"),
        );
    }
}

#[test]
fn sizes_refuse_binary_units_with_a_hint() {
    for doc in [released_v1alpha1(), v1alpha2(), v1alpha4()] {
        let message = assert_one(
            &with(&doc, "/spec/memory", json!("2GiB")),
            "schema:Pattern",
            "/spec/memory",
        );
        assert!(message.contains("2GiB"), "{message}");
    }
    let expected = formats::pattern_expected(mooring::kinds::ignite::ignite_size_pattern())
        .expect("the size pattern is explained");
    assert!(expected.contains("write 1GB for 1 GiB"), "{expected}");
    // Empty means Ignite's default.
    assert_valid(&with(&v1alpha4(), "/spec/memory", json!("")));
}

#[test]
fn kernels_images_and_pools_of_every_version() {
    let kernel_v1 = json!({
        "apiVersion": "ignite.weave.works/v1alpha1", "kind": "Kernel",
        "metadata": {"name": "weaveworks/ignite-kernel:4.19.47", "uid": "1a2b", "created": "2019-08-14T09:00:00Z"},
        "spec": {"ociClaim": {"type": "Docker", "ref": "weaveworks/ignite-kernel:4.19.47"}},
        "status": {"version": "4.19.47", "ociSource": {"id": "sha256:aa", "size": "50MB"}},
    });
    assert_valid(&kernel_v1);
    for version in ["v1alpha2"] {
        for kind in ["Kernel", "Image"] {
            let doc = json!({
                "apiVersion": format!("ignite.weave.works/{version}"), "kind": kind,
                "metadata": {"name": "weaveworks/ignite-kernel:5.4.108"},
                "spec": {"ociClaim": {"ref": "weaveworks/ignite-kernel:5.4.108"}},
            });
            assert_valid(&doc);
            assert_one(&without(&doc, "/spec/ociClaim"), "schema:Required", "/spec");
        }
    }
    for version in ["v1alpha3", "v1alpha4"] {
        for kind in ["Kernel", "Image"] {
            let doc = json!({
                "apiVersion": format!("ignite.weave.works/{version}"), "kind": kind,
                "metadata": {"name": "weaveworks/ignite-kernel:5.10.51", "uid": "3c4d"},
                "spec": {"oci": "weaveworks/ignite-kernel:5.10.51"},
                "status": {"version": "5.10.51"},
            });
            assert_valid(&doc);
            assert_one(&without(&doc, "/spec/oci"), "schema:Required", "/spec");
        }
    }
    for version in ["v1alpha2", "v1alpha3", "v1alpha4"] {
        let p = with(
            &pool(),
            "/apiVersion",
            json!(format!("ignite.weave.works/{version}")),
        );
        assert_valid(&p);
        assert_one(
            &with(&p, "/spec/dataSize", json!("100GiB")),
            "schema:Pattern",
            "/spec/dataSize",
        );
        assert_one(
            &with(&p, "/spec/allocationSize", json!("17EB")),
            "rule",
            "/spec/allocationSize",
        );
    }
}
