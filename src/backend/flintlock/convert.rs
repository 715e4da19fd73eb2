//! Conversions between mooring's `MicroVM` wrapper (JSON) and flintlock's
//! `MicroVMSpec` (proto), and the one comparable form the plan sees.
//!
//! Both sides of a comparison go through [`comparable`]: the desired
//! manifest as wrapper JSON → proto ([`to_spec`], the same spec that is
//! sent on create) → JSON, and the live microVM proto → JSON. Whatever
//! the proto cannot say (an explicit `isReadOnly: false`, an empty
//! namespace, `type: MACVTAP`) reads the same on both sides, so server
//! defaulting makes no false drift.
//!
//! # What flintlockd does not give back, and the applied record
//!
//! Upstream flintlockd stores neither `labels` nor returns volume
//! `mountPoint`, interface `overrides` or `provider` on reads, and it adds
//! things of its own: cloud-init `meta-data` with `instance_id: <uid>` and,
//! with a metadata-service provider, a first interface `eth0`. Without
//! help, every microVM would look changed on every plan and none would
//! carry mooring's ownership labels.
//!
//! So on create mooring adds one entry to the spec's metadata map,
//! [`RECORD_KEY`], holding (base64 JSON) what it sent for exactly those
//! fields. A microVM can never change after create (flintlock has no
//! update), so the record stays true for its life. Reading a live microVM,
//! a field the server returned wins; a field it dropped is taken from the
//! record; the server's `meta-data` and `eth0` are replaced by what mooring
//! sent. A microVM without a record (made by someone else) has only what
//! the server returns and, unless the server kept its labels, no
//! ownership labels: mooring never deletes it.
//!
//! The comparable form is the wrapper shape: `apiVersion`, `kind`,
//! `metadata` (name, namespace, labels, and `mooring.dev/host` as the only
//! annotation), `spec` with the managed fields. `metadata.labels` and
//! `spec.labels` both become the microVM's one label map on the host, so
//! they are shown merged under `metadata.labels`. Uid, timestamps, status
//! and version are never part of it.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::proto::{
    IfaceType, Initrd, Kernel, MicroVmSpec, NetworkInterface, NetworkOverrides, StaticAddress,
    Volume, VolumeSource,
};
use crate::backend::{HOST_ANNOTATION, REPLACE_ANNOTATION, with_ownership};
use crate::kinds::flintlock as wrapper;
use crate::manifest::Manifest;

/// Metadata-map key of mooring's applied record.
pub const RECORD_KEY: &str = "mooring.dev/applied";
/// flintlockd's cloud-init instance-data key.
const INSTANCE_DATA_KEY: &str = "meta-data";
/// The interface a metadata-service provider adds, and its fixed settings.
const METADATA_INTERFACE: &str = "eth0";
const METADATA_MAC: &str = "AA:FF:00:00:00:01";
const METADATA_ADDRESS: &str = "169.254.0.1/16";

pub const API_VERSION: &str = "flintlock.liquidmetal.dev/v1alpha1";
pub const KIND: &str = "MicroVM";

/// A desired microVM, read from its manifest.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// The spec to create (without the applied record).
    pub spec: MicroVmSpec,
    /// `mooring.dev/host`, when given.
    pub host: Option<String>,
    /// `mooring.dev/replace: never`.
    pub replace_never: bool,
}

/// Reads a desired `MicroVM` manifest, with `source`'s ownership labels.
/// Errors name the field (`spec.kernel.image: …`).
pub fn to_spec(manifest: &Manifest, source: &str) -> Result<Wanted, String> {
    let owned = with_ownership(manifest, source);
    let vm: wrapper::MicroVm = serde_path_to_error::deserialize(&owned.value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })?;
    let annotations = vm.metadata.annotations.clone().unwrap_or_default();
    let mut labels: BTreeMap<String, String> = vm.metadata.labels.clone().unwrap_or_default();
    for (k, v) in vm.spec.labels.iter().flatten() {
        match labels.get(k) {
            Some(other) if other != v => {
                return Err(format!(
                    "spec.labels.{k}: `{v}` differs from metadata.labels.{k} `{other}`; \
                     both become the microVM's labels on the host"
                ));
            }
            _ => {
                labels.insert(k.clone(), v.clone());
            }
        }
    }
    let metadata = vm.spec.metadata.clone().unwrap_or_default();
    if metadata.contains_key(RECORD_KEY) {
        return Err(format!(
            "spec.metadata.{RECORD_KEY}: this key holds mooring's own record; use another key"
        ));
    }
    let s = vm.spec;
    let spec = MicroVmSpec {
        id: vm.metadata.name.clone(),
        namespace: vm
            .metadata
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_string()),
        labels: labels.into_iter().collect(),
        vcpu: s.vcpu,
        memory_in_mb: s.memory_in_mb,
        kernel: Some(Kernel {
            image: s.kernel.image,
            cmdline: s.kernel.cmdline.unwrap_or_default().into_iter().collect(),
            filename: Some(s.kernel.filename),
            add_network_config: s.kernel.add_network_config.unwrap_or(false),
        }),
        initrd: s.initrd.map(|i| Initrd {
            image: i.image,
            filename: i.filename,
        }),
        root_volume: s.root_volume.map(volume_to_proto),
        additional_volumes: s
            .additional_volumes
            .unwrap_or_default()
            .into_iter()
            .map(volume_to_proto)
            .collect(),
        interfaces: s.interfaces.into_iter().map(interface_to_proto).collect(),
        metadata: metadata.into_iter().collect(),
        provider: s.provider,
        allow_guest_agent: s.allow_guest_agent.unwrap_or(false),
        ..MicroVmSpec::default()
    };
    Ok(Wanted {
        spec,
        host: annotations.get(HOST_ANNOTATION).cloned(),
        replace_never: annotations.get(REPLACE_ANNOTATION).map(String::as_str) == Some("never"),
    })
}

fn volume_to_proto(v: wrapper::Volume) -> Volume {
    Volume {
        id: v.id,
        is_read_only: v.is_read_only.unwrap_or(false),
        mount_point: v.mount_point,
        source: Some(VolumeSource {
            container_source: v.source.container_source,
            virtiofs_source: v.source.virtiofs_source,
        }),
        partition_id: v.partition_id,
        size_in_mb: v.size_in_mb,
    }
}

fn interface_to_proto(i: wrapper::NetworkInterface) -> NetworkInterface {
    let kind = match i.iface_type {
        Some(wrapper::IfaceType::Tap) => IfaceType::Tap,
        Some(wrapper::IfaceType::Macvtap) | None => IfaceType::Macvtap,
    };
    NetworkInterface {
        device_id: i.device_id,
        r#type: kind as i32,
        guest_mac: i.guest_mac,
        address: i.address.map(|a| StaticAddress {
            address: a.address,
            gateway: a.gateway,
            nameservers: a.nameservers.unwrap_or_default(),
        }),
        overrides: i.overrides.map(|o| NetworkOverrides {
            bridge_name: o.bridge_name,
        }),
    }
}

/// What mooring sent for the fields flintlockd does not give back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    provider: Option<String>,
    /// Volume id → mount point.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    mount_points: BTreeMap<String, String>,
    /// Interface device id → bridge name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    bridges: BTreeMap<String, String>,
    /// Device ids of the interfaces sent, in order.
    #[serde(default)]
    devices: Vec<String>,
    /// The cloud-init instance data sent, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    meta_data: Option<String>,
}

/// `spec` as sent on create: with the applied record in its metadata.
pub fn with_record(spec: &MicroVmSpec) -> MicroVmSpec {
    let volumes = spec.root_volume.iter().chain(&spec.additional_volumes);
    let record = Record {
        labels: spec.labels.clone().into_iter().collect(),
        provider: spec.provider.clone().filter(|p| !p.is_empty()),
        mount_points: volumes
            .filter_map(|v| {
                let mp = v.mount_point.as_ref().filter(|m| !m.is_empty())?;
                Some((v.id.clone(), mp.clone()))
            })
            .collect(),
        bridges: spec
            .interfaces
            .iter()
            .filter_map(|i| {
                let b = i.overrides.as_ref()?.bridge_name.as_ref()?;
                Some((i.device_id.clone(), b.clone()))
            })
            .collect(),
        devices: spec
            .interfaces
            .iter()
            .map(|i| i.device_id.clone())
            .collect(),
        meta_data: spec.metadata.get(INSTANCE_DATA_KEY).cloned(),
    };
    let mut out = spec.clone();
    // Serializing a struct of strings and maps cannot fail.
    let json = serde_json::to_vec(&record).unwrap_or_default();
    out.metadata
        .insert(RECORD_KEY.to_string(), BASE64.encode(json));
    out
}

fn read_record(spec: &MicroVmSpec) -> Option<Record> {
    let raw = spec.metadata.get(RECORD_KEY)?;
    let bytes = BASE64.decode(raw).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The spec as mooring means it: the server's answer, with what it dropped
/// filled in from the applied record and what it added taken out.
pub fn effective(spec: &MicroVmSpec) -> MicroVmSpec {
    let record = read_record(spec);
    let mut out = spec.clone();
    out.metadata.remove(RECORD_KEY);
    if out.namespace.is_empty() {
        out.namespace = "default".to_string();
    }
    let sent_metadata_interface = record
        .as_ref()
        .is_some_and(|r| r.devices.iter().any(|d| d == METADATA_INTERFACE));
    if !sent_metadata_interface
        && out
            .interfaces
            .first()
            .is_some_and(is_injected_metadata_interface)
    {
        out.interfaces.remove(0);
    }
    match &record {
        Some(r) => {
            match &r.meta_data {
                Some(sent) => {
                    out.metadata
                        .insert(INSTANCE_DATA_KEY.to_string(), sent.clone());
                }
                None => {
                    out.metadata.remove(INSTANCE_DATA_KEY);
                }
            }
            if out.labels.is_empty() {
                out.labels = r.labels.clone().into_iter().collect();
            }
            if out.provider.as_deref().unwrap_or("").is_empty() {
                out.provider = r.provider.clone();
            }
            for v in out
                .root_volume
                .iter_mut()
                .chain(&mut out.additional_volumes)
            {
                if v.mount_point.as_deref().unwrap_or("").is_empty() {
                    v.mount_point = r.mount_points.get(&v.id).cloned();
                }
            }
            for i in &mut out.interfaces {
                let has_bridge = i
                    .overrides
                    .as_ref()
                    .and_then(|o| o.bridge_name.as_deref())
                    .is_some_and(|b| !b.is_empty());
                if !has_bridge && let Some(b) = r.bridges.get(&i.device_id) {
                    i.overrides = Some(NetworkOverrides {
                        bridge_name: Some(b.clone()),
                    });
                }
            }
        }
        None => {
            // Without a record, only the server's own instance data (just
            // the instance id) is known to be the server's.
            let uid = out.uid.clone().unwrap_or_default();
            let only_instance_id = out
                .metadata
                .get(INSTANCE_DATA_KEY)
                .and_then(|v| BASE64.decode(v).ok())
                .is_some_and(|b| {
                    String::from_utf8_lossy(&b).trim() == format!("instance_id: {uid}")
                });
            if !uid.is_empty() && only_instance_id {
                out.metadata.remove(INSTANCE_DATA_KEY);
            }
        }
    }
    out
}

fn is_injected_metadata_interface(i: &NetworkInterface) -> bool {
    i.device_id == METADATA_INTERFACE
        && i.r#type == IfaceType::Tap as i32
        && i.guest_mac
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case(METADATA_MAC))
        && i.address.as_ref().is_some_and(|a| {
            a.address == METADATA_ADDRESS
                && a.gateway.as_deref().unwrap_or("").is_empty()
                && a.nameservers.is_empty()
        })
        && i.overrides
            .as_ref()
            .and_then(|o| o.bridge_name.as_deref())
            .unwrap_or("")
            .is_empty()
}

/// The labels a live microVM carries, for the ownership check.
pub fn labels(spec: &MicroVmSpec) -> Map<String, Value> {
    let eff = effective(spec);
    sorted(&eff.labels)
}

fn sorted(map: &HashMap<String, String>) -> Map<String, Value> {
    let ordered: BTreeMap<&String, &String> = map.iter().collect();
    ordered
        .into_iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// The comparable wrapper form of a spec on `host` (see the module doc).
pub fn comparable(spec: &MicroVmSpec, host: &str) -> Value {
    let s = effective(spec);
    let mut metadata = Map::new();
    metadata.insert("name".into(), s.id.clone().into());
    metadata.insert("namespace".into(), s.namespace.clone().into());
    if !s.labels.is_empty() {
        metadata.insert("labels".into(), Value::Object(sorted(&s.labels)));
    }
    metadata.insert("annotations".into(), json!({ HOST_ANNOTATION: host }));

    let mut out = Map::new();
    out.insert("vcpu".into(), s.vcpu.into());
    out.insert("memoryInMb".into(), s.memory_in_mb.into());
    if let Some(k) = &s.kernel {
        let mut kernel = Map::new();
        kernel.insert("image".into(), k.image.clone().into());
        put_str(&mut kernel, "filename", k.filename.as_deref());
        if !k.cmdline.is_empty() {
            kernel.insert("cmdline".into(), Value::Object(sorted(&k.cmdline)));
        }
        if k.add_network_config {
            kernel.insert("addNetworkConfig".into(), true.into());
        }
        out.insert("kernel".into(), Value::Object(kernel));
    }
    if let Some(i) = &s.initrd {
        let mut initrd = Map::new();
        initrd.insert("image".into(), i.image.clone().into());
        put_str(&mut initrd, "filename", i.filename.as_deref());
        out.insert("initrd".into(), Value::Object(initrd));
    }
    if let Some(v) = &s.root_volume {
        out.insert("rootVolume".into(), volume_json(v));
    }
    if !s.additional_volumes.is_empty() {
        out.insert(
            "additionalVolumes".into(),
            s.additional_volumes.iter().map(volume_json).collect(),
        );
    }
    out.insert(
        "interfaces".into(),
        s.interfaces.iter().map(interface_json).collect(),
    );
    if !s.metadata.is_empty() {
        out.insert("metadata".into(), Value::Object(sorted(&s.metadata)));
    }
    put_str(&mut out, "provider", s.provider.as_deref());
    if s.allow_guest_agent {
        out.insert("allowGuestAgent".into(), true.into());
    }

    json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": Value::Object(metadata),
        "spec": Value::Object(out),
    })
}

fn put_str(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        map.insert(key.into(), v.into());
    }
}

fn volume_json(v: &Volume) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), v.id.clone().into());
    if v.is_read_only {
        out.insert("isReadOnly".into(), true.into());
    }
    put_str(&mut out, "mountPoint", v.mount_point.as_deref());
    let mut source = Map::new();
    if let Some(s) = &v.source {
        put_str(
            &mut source,
            "containerSource",
            s.container_source.as_deref(),
        );
        put_str(&mut source, "virtiofsSource", s.virtiofs_source.as_deref());
    }
    out.insert("source".into(), Value::Object(source));
    put_str(&mut out, "partitionId", v.partition_id.as_deref());
    if let Some(size) = v.size_in_mb.filter(|s| *s != 0) {
        out.insert("sizeInMb".into(), size.into());
    }
    Value::Object(out)
}

fn interface_json(i: &NetworkInterface) -> Value {
    let mut out = Map::new();
    out.insert("deviceId".into(), i.device_id.clone().into());
    match IfaceType::try_from(i.r#type) {
        Ok(IfaceType::Macvtap) => {}
        Ok(IfaceType::Tap) => {
            out.insert("type".into(), "TAP".into());
        }
        Err(_) => {
            out.insert("type".into(), i.r#type.into());
        }
    }
    put_str(&mut out, "guestMac", i.guest_mac.as_deref());
    if let Some(a) = &i.address {
        let mut addr = Map::new();
        addr.insert("address".into(), a.address.clone().into());
        put_str(&mut addr, "gateway", a.gateway.as_deref());
        if !a.nameservers.is_empty() {
            addr.insert("nameservers".into(), a.nameservers.clone().into());
        }
        out.insert("address".into(), Value::Object(addr));
    }
    if let Some(b) = i
        .overrides
        .as_ref()
        .and_then(|o| o.bridge_name.as_deref())
        .filter(|b| !b.is_empty())
    {
        out.insert("overrides".into(), json!({ "bridgeName": b }));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Limits, SourceFile, load};

    fn manifest(text: &str) -> Manifest {
        let loaded = load(
            &[SourceFile {
                path: "vm.yaml".into(),
                rel: "vm.yaml".into(),
                bytes: text.as_bytes().to_vec(),
            }],
            &Limits::default(),
        );
        assert!(loaded.findings.is_empty(), "{:?}", loaded.findings);
        loaded.manifests.into_iter().next().unwrap()
    }

    const VM: &str = "apiVersion: flintlock.liquidmetal.dev/v1alpha1
kind: MicroVM
metadata:
  name: web
  labels: {tier: edge}
  annotations: {mooring.dev/host: edge-1, note: dropped}
spec:
  labels: {role: web}
  vcpu: 2
  memoryInMb: 2048
  kernel: {image: 'ghcr.io/k/kernel:6.1', filename: boot/vmlinux}
  rootVolume:
    id: root
    isReadOnly: false
    source: {containerSource: 'ghcr.io/k/root:1'}
  additionalVolumes:
    - id: data
      mountPoint: /data
      source: {containerSource: 'ghcr.io/k/data:1'}
  interfaces:
    - deviceId: eth1
      type: MACVTAP
      overrides: {bridgeName: br0}
  provider: firecracker
";

    /// What upstream flintlockd returns for a spec it was sent.
    fn as_server_returns(sent: &MicroVmSpec) -> MicroVmSpec {
        let mut s = sent.clone();
        s.labels.clear();
        s.provider = None;
        s.uid = Some("01UID".into());
        for v in s.root_volume.iter_mut().chain(&mut s.additional_volumes) {
            v.mount_point = None;
            v.partition_id.get_or_insert_default();
            v.size_in_mb.get_or_insert(0);
        }
        for i in &mut s.interfaces {
            i.overrides = None;
            i.guest_mac.get_or_insert_default();
        }
        s.interfaces.insert(
            0,
            NetworkInterface {
                device_id: "eth0".into(),
                r#type: IfaceType::Tap as i32,
                guest_mac: Some("AA:FF:00:00:00:01".into()),
                address: Some(StaticAddress {
                    address: "169.254.0.1/16".into(),
                    ..Default::default()
                }),
                overrides: None,
            },
        );
        s.metadata
            .insert("meta-data".into(), BASE64.encode("instance_id: 01UID\n"));
        s
    }

    #[test]
    fn the_server_round_trip_compares_equal() {
        let wanted = to_spec(&manifest(VM), "src").unwrap();
        assert_eq!(wanted.host.as_deref(), Some("edge-1"));
        assert!(!wanted.replace_never);
        let live = as_server_returns(&with_record(&wanted.spec));
        let want = comparable(&wanted.spec, "edge-1");
        assert_eq!(want, comparable(&live, "edge-1"));
        assert_eq!(want["metadata"]["namespace"], "default");
        assert_eq!(want["metadata"]["labels"]["role"], "web");
        assert_eq!(want["metadata"]["labels"]["mooring.dev/source"], "src");
        assert_eq!(
            want["metadata"]["annotations"],
            json!({"mooring.dev/host": "edge-1"})
        );
        assert!(want["spec"]["rootVolume"].get("isReadOnly").is_none());
        assert_eq!(want["spec"]["additionalVolumes"][0]["mountPoint"], "/data");
        assert_eq!(
            labels(&live).get("app.kubernetes.io/managed-by"),
            Some(&Value::from("mooring"))
        );
    }

    #[test]
    fn allow_guest_agent_goes_on_the_wire_as_field_17() {
        let plain = to_spec(&manifest(VM), "src").unwrap();
        assert!(!plain.spec.allow_guest_agent);
        assert!(
            comparable(&plain.spec, "edge-1")["spec"]
                .get("allowGuestAgent")
                .is_none()
        );
        let vm = VM.replace(
            "  provider: firecracker",
            "  provider: firecracker\n  allowGuestAgent: true",
        );
        let wanted = to_spec(&manifest(&vm), "src").unwrap();
        assert!(wanted.spec.allow_guest_agent);
        let bytes = prost::Message::encode_to_vec(&wanted.spec);
        // Field 17, wire type 0 (varint): tag bytes 0x88 0x01, value 1.
        assert!(
            bytes.windows(3).any(|w| w == [0x88, 0x01, 0x01]),
            "{bytes:?}"
        );
        let live = as_server_returns(&with_record(&wanted.spec));
        let want = comparable(&wanted.spec, "edge-1");
        assert_eq!(want["spec"]["allowGuestAgent"], true);
        assert_eq!(want, comparable(&live, "edge-1"));
        assert_ne!(want, comparable(&plain.spec, "edge-1"));
    }

    #[test]
    fn a_changed_field_shows_and_a_foreign_vm_has_no_labels() {
        let wanted = to_spec(&manifest(VM), "src").unwrap();
        let mut live = as_server_returns(&with_record(&wanted.spec));
        live.memory_in_mb = 4096;
        let diff = comparable(&live, "edge-1");
        assert_eq!(diff["spec"]["memoryInMb"], 4096);
        assert_ne!(diff, comparable(&wanted.spec, "edge-1"));

        let foreign = as_server_returns(&wanted.spec);
        assert!(labels(&foreign).is_empty());
        let c = comparable(&foreign, "edge-1");
        assert!(c["spec"].get("metadata").is_none(), "{c}");
        assert_eq!(c["spec"]["interfaces"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn conversion_errors_name_the_field() {
        let bad = VM.replace("vcpu: 2", "vcpu: two");
        let err = to_spec(&manifest(&bad), "src").unwrap_err();
        assert!(err.starts_with("spec.vcpu: invalid type"), "{err}");
        let clash = VM.replace("role: web", "tier: core");
        let err = to_spec(&manifest(&clash), "src").unwrap_err();
        assert!(err.contains("spec.labels.tier: `core` differs"), "{err}");
        let reserved = VM.replace(
            "provider: firecracker",
            "metadata: {mooring.dev/applied: eA==}",
        );
        let err = to_spec(&manifest(&reserved), "src").unwrap_err();
        assert!(err.contains("mooring's own record"), "{err}");
    }

    #[test]
    fn replace_never_is_read() {
        let text = VM.replace("note: dropped", "mooring.dev/replace: never");
        assert!(to_spec(&manifest(&text), "src").unwrap().replace_never);
    }
}
