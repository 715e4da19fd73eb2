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
    let p = |ptr: &str| ignite_pointer(&v1, ptr);
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
    assert_eq!(ignite_pointer(&v4, "/spec/rootVolume"), "/spec/image/oci");
    assert_eq!(
        ignite_pointer(&v4, "/spec/kernel/image"),
        "/spec/kernel/oci"
    );
    assert_eq!(ignite_pointer(&v4, "/spec/interfaces"), "/spec");
    assert_eq!(v4.default_kernel, ig::DEFAULT_KERNEL_V3);
}
