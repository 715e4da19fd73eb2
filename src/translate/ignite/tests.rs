use super::*;

#[test]
fn cmdline_tokens_split_like_the_kernel() {
    let (params, init) =
        parse_cmdline("  console=ttyS0 ro  foo=\"a b\" x=1=2 quiet -- single extra ");
    let strs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        strs,
        vec![
            ("console", "ttyS0"),
            ("ro", ""),
            ("foo", "a b"),
            ("x", "1=2"),
            ("quiet", ""),
        ]
    );
    assert_eq!(init, vec!["single", "extra"]);
    assert_eq!(parse_cmdline("   "), (vec![], vec![]));
}

#[test]
fn microvm_fields_point_back_at_ignite_fields() {
    let v1 = read_vm(
        serde_json::json!({"apiVersion": "ignite.weave.works/v1alpha1", "kind": "VM",
            "metadata": {"name": "a"}, "spec": {"image": {"ociClaim": {"ref": "x:1"}},
            "network": {"mode": "cni"}}}),
        "v1alpha1",
    )
    .unwrap();
    let p = |ptr: &str| ignite_pointer(&v1, &[], ptr);
    assert_eq!(p("/spec/vcpu"), "/spec/cpus");
    assert_eq!(p("/spec/rootVolume/sizeInMb"), "/spec/diskSize");
    assert_eq!(
        p("/spec/rootVolume/source/containerSource"),
        "/spec/image/ociClaim/ref"
    );
    assert_eq!(p("/spec/kernel/cmdline/console"), "/spec/kernel/cmdLine");
    assert_eq!(p("/spec/kernel/image"), "/spec/kernel/ociClaim/ref");
    assert_eq!(p("/spec/interfaces/0"), "/spec/network/mode");
    assert_eq!(p("/metadata/labels/a"), "/metadata/labels/a");
    assert_eq!(p("/spec/provider"), "");
    let v4 = read_vm(
        serde_json::json!({"apiVersion": "ignite.weave.works/v1alpha4", "kind": "VM",
            "metadata": {"name": "a"}, "spec": {"image": {"oci": "x:1"}}}),
        "v1alpha4",
    )
    .unwrap();
    assert_eq!(
        ignite_pointer(&v4, &[], "/spec/rootVolume"),
        "/spec/image/oci"
    );
    assert_eq!(
        ignite_pointer(&v4, &[], "/spec/kernel/image"),
        "/spec/kernel/oci"
    );
    assert_eq!(ignite_pointer(&v4, &[], "/spec/interfaces"), "/spec");
    // An interface points at where it came from (an annotation, say).
    let sources = ["/spec".to_string(), "/metadata/annotations/x".to_string()];
    assert_eq!(
        ignite_pointer(&v4, &sources, "/spec/interfaces/1/deviceId"),
        "/metadata/annotations/x"
    );
    assert_eq!(ignite_pointer(&v4, &sources, "/spec/interfaces/0"), "/spec");
    assert_eq!(ignite_pointer(&v4, &sources, "/spec/interfaces/7"), "/spec");
    assert_eq!(v4.default_kernel, ig::DEFAULT_KERNEL_V3);
}

/// The first document of `text` (in `vms.yaml`), translated alone.
fn translate_text(text: &str) -> Translation {
    use crate::manifest::{Limits, SourceFile, load};
    let loaded = load(
        &[SourceFile {
            path: "vms.yaml".into(),
            rel: "vms.yaml".into(),
            bytes: text.as_bytes().to_vec(),
        }],
        &Limits::default(),
    );
    assert!(loaded.findings.is_empty(), "{:?}", loaded.findings);
    let declared = Declared::collect(&loaded.manifests);
    ignite_vm(&loaded.manifests[0], &declared, MemoryFloor::Error)
}

/// A v1alpha4 VM with `annotations` (YAML lines, indented four spaces).
fn vm_with_annotations(annotations: &str) -> String {
    format!(
        "apiVersion: ignite.weave.works/v1alpha4
kind: VM
metadata:
  name: lab-1
  annotations:
{annotations}spec:
  image: {{oci: weaveworks/ignite-ubuntu:20.04}}
  memory: 1GB
"
    )
}

/// `(deviceId, type)` of every interface, in order.
fn interfaces_of(t: &Translation) -> Vec<(String, String)> {
    let mvm = t.microvm.as_ref().expect("translated");
    mvm.value["spec"]["interfaces"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| {
            (
                i["deviceId"].as_str().unwrap_or_default().to_string(),
                i["type"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The findings of `t` that are about an annotation, as `line: message`.
fn annotation_findings(t: &Translation) -> Vec<String> {
    t.findings
        .iter()
        .filter(|f| {
            f.field
                .as_deref()
                .is_some_and(|p| p.starts_with("metadata"))
        })
        .map(|f| {
            assert_eq!(f.severity, crate::finding::Severity::Warning, "{f}");
            f.to_string()
        })
        .collect()
}

#[test]
fn three_interface_annotations_become_three_interfaces() {
    let t = translate_text(&vm_with_annotations(
        "    ignite.weave.works/interface/eth2: tc-redirect
    ignite.weave.works/interface/macvtap-uvnrt: macvtap
    ignite.weave.works/interface/net_b: dhcp-bridge
",
    ));
    let pair = |id: &str, ty: &str| (id.to_string(), ty.to_string());
    assert_eq!(
        interfaces_of(&t),
        vec![
            pair("eth1", "MACVTAP"),
            pair("eth2", "TAP"),
            pair("macvtap_uvnrt", "MACVTAP"),
            pair("net_b", "MACVTAP"),
        ]
    );
    // Only the rename is worth a word, at the annotation's line.
    assert_eq!(
        annotation_findings(&t),
        vec![
            "vms.yaml:7: warning: VM/lab-1: metadata.annotations[\"ignite.weave.works/interface/macvtap-uvnrt\"]: \"macvtap-uvnrt\" is not a Flintlock device id (a lowercase letter, then lowercase letters, digits or '_'); this macvtap interface is translated as deviceId macvtap_uvnrt"
        ]
    );
}

#[test]
fn interface_annotations_flintlock_cannot_take_are_warnings() {
    let t = translate_text(&vm_with_annotations(
        "    ignite.weave.works/interface/eth2: bridge
    ignite.weave.works/interface/: tc-redirect
    ignite.weave.works/interface/eth0: Macvtap
",
    ));
    assert_eq!(interfaces_of(&t), vec![("eth1".into(), "MACVTAP".into())]);
    let mut found = annotation_findings(&t);
    found.sort();
    assert_eq!(
        found,
        vec![
            "vms.yaml:6: warning: VM/lab-1: metadata.annotations[\"ignite.weave.works/interface/eth2\"]: \"bridge\" is not an Ignite interface mode (dhcp-bridge or tc-redirect; mooring also reads macvtap); Ignite ignores it, and no interface eth2 is translated",
            "vms.yaml:7: warning: VM/lab-1: metadata.annotations[\"ignite.weave.works/interface/\"]: names no interface (the key must be ignite.weave.works/interface/<name>); Ignite ignores it, and no interface is translated",
            "vms.yaml:8: warning: VM/lab-1: metadata.annotations[\"ignite.weave.works/interface/eth0\"]: \"Macvtap\" is not an Ignite interface mode (dhcp-bridge or tc-redirect; mooring also reads macvtap); Ignite ignores it, and no interface eth0 is translated (the main interface stays eth1, MACVTAP)",
        ]
    );
}

#[test]
fn eth0_sets_the_main_interface_and_taken_names_are_renamed() {
    let t = translate_text(&vm_with_annotations(
        "    ignite.weave.works/interface/eth0: tc-redirect
    ignite.weave.works/interface/eth1: tc-redirect
    ignite.weave.works/interface/eth1_1: macvtap
    ignite.weave.works/interface/ETH-1: dhcp-bridge
",
    ));
    let pair = |id: &str, ty: &str| (id.to_string(), ty.to_string());
    // Ignite's order: eth0 first, then by name; a rename never takes a
    // name another annotation keeps (eth1_1).
    assert_eq!(
        interfaces_of(&t),
        vec![
            pair("eth1", "TAP"),
            pair("eth_1", "MACVTAP"),
            pair("eth1_2", "TAP"),
            pair("eth1_1", "MACVTAP"),
        ]
    );
    let mut found = annotation_findings(&t);
    found.sort();
    assert_eq!(
        found,
        vec![
            "vms.yaml:7: warning: VM/lab-1: metadata.annotations[\"ignite.weave.works/interface/eth1\"]: eth1 is the device id of the translated main interface (Ignite's eth0); this tc-redirect interface is translated as deviceId eth1_2",
            "vms.yaml:9: warning: VM/lab-1: metadata.annotations[\"ignite.weave.works/interface/ETH-1\"]: \"ETH-1\" is not a Flintlock device id (a lowercase letter, then lowercase letters, digits or '_'); this dhcp-bridge interface is translated as deviceId eth_1",
        ]
    );
}
