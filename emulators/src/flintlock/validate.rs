//! flintlockd's validation of a create request (upstream's `core/models`
//! and `pkg/validation` rules), as messages naming the proto field.

use std::net::IpAddr;

use super::{IfaceType, MicroVmSpec, Volume};

/// flintlockd's validation rules, as messages naming the proto field.
pub(super) fn validate(spec: &MicroVmSpec) -> Vec<String> {
    let mut out = Vec::new();
    if spec.id.is_empty() {
        out.push("id: name is required".to_string());
    }
    if !(1..=64).contains(&spec.vcpu) {
        out.push(format!("vcpu: {} is not between 1 and 64", spec.vcpu));
    }
    if spec.memory_in_mb < 1024 {
        out.push(format!(
            "memory_in_mb: {} is below the minimum of 1024",
            spec.memory_in_mb
        ));
    } else if spec.memory_in_mb > 32768 {
        out.push(format!(
            "memory_in_mb: {} is above the maximum of 32768",
            spec.memory_in_mb
        ));
    }
    match &spec.kernel {
        None => out.push("kernel: is required".to_string()),
        Some(k) => {
            if k.image.is_empty() {
                out.push("kernel.image: is required".to_string());
            } else if !is_image_reference(&k.image) {
                out.push(format!(
                    "kernel.image: `{}` is not a container image reference",
                    k.image
                ));
            }
            if k.filename.as_deref().unwrap_or("").is_empty() {
                out.push("kernel.filename: is required".to_string());
            }
        }
    }
    if let Some(initrd) = &spec.initrd
        && !is_image_reference(&initrd.image)
    {
        out.push(format!(
            "initrd.image: `{}` is not a container image reference",
            initrd.image
        ));
    }
    if spec.interfaces.is_empty() {
        out.push("interfaces: at least one network interface is required".to_string());
    }
    for (i, iface) in spec.interfaces.iter().enumerate() {
        if !is_device_id(&iface.device_id) {
            out.push(format!(
                "interfaces[{i}].device_id: `{}` does not match ^[a-z][a-z0-9_]*$",
                iface.device_id
            ));
        }
        if IfaceType::try_from(iface.r#type).is_err() {
            out.push(format!(
                "interfaces[{i}].type: {} is not MACVTAP or TAP",
                iface.r#type
            ));
        }
        if let Some(mac) = iface.guest_mac.as_deref()
            && !mac.is_empty()
            && !is_mac(mac)
        {
            out.push(format!(
                "interfaces[{i}].guest_mac: `{mac}` is not a MAC address"
            ));
        }
        if let Some(addr) = &iface.address {
            if !is_cidr(&addr.address) {
                out.push(format!(
                    "interfaces[{i}].address.address: `{}` is not a CIDR",
                    addr.address
                ));
            }
            if let Some(gw) = addr.gateway.as_deref()
                && !gw.is_empty()
                && !is_cidr(gw)
            {
                out.push(format!(
                    "interfaces[{i}].address.gateway: `{gw}` is not a CIDR"
                ));
            }
            for (j, ns) in addr.nameservers.iter().enumerate() {
                if ns.parse::<IpAddr>().is_err() {
                    out.push(format!(
                        "interfaces[{i}].address.nameservers[{j}]: `{ns}` is not an IP address"
                    ));
                }
            }
        }
    }
    match &spec.root_volume {
        None if spec.initrd.is_none() => {
            out.push("root_volume: a root volume is required unless an initrd is given (volumeOrInitrdRequired)".to_string());
        }
        None => {}
        Some(root) => {
            check_source(root, "root_volume", &mut out);
            if root
                .source
                .as_ref()
                .is_some_and(|s| s.virtiofs_source.is_some())
            {
                out.push("root_volume.source: the root volume cannot be virtiofs".to_string());
            }
        }
    }
    let mut virtiofs = 0;
    for (i, v) in spec.additional_volumes.iter().enumerate() {
        check_source(v, &format!("additional_volumes[{i}]"), &mut out);
        if v.source
            .as_ref()
            .is_some_and(|s| s.virtiofs_source.is_some())
        {
            virtiofs += 1;
            if virtiofs == 2 {
                out.push(format!(
                    "additional_volumes[{i}].source: at most one additional volume may be virtiofs"
                ));
            }
        }
    }
    out
}

fn check_source(v: &Volume, field: &str, out: &mut Vec<String>) {
    if v.id.is_empty() {
        out.push(format!("{field}.id: is required"));
    }
    let (container, virtiofs) = match &v.source {
        None => (false, false),
        Some(s) => (s.container_source.is_some(), s.virtiofs_source.is_some()),
    };
    if container == virtiofs {
        out.push(format!(
            "{field}.source: a volume needs exactly one of container_source or virtiofs_source"
        ));
    }
}

fn is_device_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Six hex pairs separated by `:` or `-` (the common forms Go's
/// `net.ParseMAC` accepts).
fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, prefix)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    prefix.parse::<u8>().is_ok_and(|p| p <= max)
}

/// A container image reference: `[host[:port]/]path[:tag][@digest]`, with
/// a lowercase path of `[a-z0-9]` components joined by `.`, `_`, `__` or
/// `-`.
fn is_image_reference(s: &str) -> bool {
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        let Some((algo, hex)) = d.split_once(':') else {
            return false;
        };
        if algo.is_empty() || hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return false;
        }
    }
    let (name, tag) = match rest.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (rest, None),
    };
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !ok {
            return false;
        }
    }
    let mut components: Vec<&str> = name.split('/').collect();
    if components.len() > 1 {
        let first = components[0];
        if first.contains(['.', ':']) || first == "localhost" {
            let host_ok = first
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c));
            if !host_ok {
                return false;
            }
            components.remove(0);
        }
    }
    !components.is_empty()
        && components.iter().all(|c| {
            !c.is_empty()
                && c.chars()
                    .next()
                    .is_some_and(|x| x.is_ascii_lowercase() || x.is_ascii_digit())
                && c.chars()
                    .last()
                    .is_some_and(|x| x.is_ascii_lowercase() || x.is_ascii_digit())
                && c.chars()
                    .all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || "._-".contains(x))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flintlock::NetworkInterface;

    #[test]
    fn image_references_parse_like_containerd() {
        for good in [
            "ghcr.io/liquidmetal-dev/flintlock-kernel:5.10.77",
            "docker.io/library/ubuntu:22.04",
            "ubuntu",
            "localhost:5000/kernel",
            "registry.example:5000/a/b_c/d-e:v1.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(is_image_reference(good), "{good}");
        }
        for bad in ["", "Ubuntu", "ghcr.io/x:", "a//b", "x:tag with space", "-x"] {
            assert!(!is_image_reference(bad), "{bad}");
        }
    }

    #[test]
    fn validation_names_each_field() {
        let spec = MicroVmSpec {
            id: "vm".into(),
            vcpu: 0,
            memory_in_mb: 512,
            interfaces: vec![NetworkInterface {
                device_id: "Eth/0".into(),
                guest_mac: Some("zz".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let problems = validate(&spec).join("\n");
        for needle in [
            "vcpu: 0 is not between 1 and 64",
            "memory_in_mb: 512 is below the minimum of 1024",
            "kernel: is required",
            "interfaces[0].device_id: `Eth/0`",
            "interfaces[0].guest_mac: `zz`",
            "volumeOrInitrdRequired",
        ] {
            assert!(problems.contains(needle), "{needle} in {problems}");
        }
    }
}
