//! Ignite v0.10's interface annotations → the `MicroVM`'s interfaces.
//!
//! Ignite v0.10 reads annotations `ignite.weave.works/interface/<name>:
//! <mode>` on a VM (the prefix is `IGNITE_INTERFACE_ANNOTATION` in
//! weaveworks/ignite `pkg/constants/vm.go`; they are parsed by
//! `parseExtraIntfs` in `pkg/container/network.go`). `<name>` is an
//! interface another system puts in the VM's sandbox container, which
//! Ignite plugs into the VM; `eth0` is the VM's main interface, which Ignite
//! always sets up (as `dhcp-bridge` unless annotated). The guest sees `eth0`
//! first, then the others sorted by name. Ignite's code knows two modes:
//!
//! - `dhcp-bridge`: the sandbox interface's address is handed to the VM by
//!   Ignite's own DHCP server, over a bridge and a tap device. Flintlock's
//!   nearest is what the main interface already becomes: a `MACVTAP`
//!   interface, whose address comes from DHCP on the host's network.
//! - `tc-redirect`: a tap device whose traffic is redirected, with `tc`, to
//!   and from the sandbox interface. Flintlock's `TAP` is a tap device too,
//!   attached to a Linux bridge (flintlockd's `--bridge-name`, or the
//!   interface's `overrides.bridgeName`).
//!
//! `macvtap` appears in Ignite v0.10's release notes
//! (`docs/releases/v0.10.0.md`) but not in its code, which logs "unrecognized
//! mode" and ignores it. Flintlock has the device the annotation asks for,
//! so mooring translates it to `MACVTAP`. Any other mode, and an annotation
//! naming no interface, is a warning at the annotation: Ignite ignores them
//! and so does the translation, but never silently.
//!
//! Device ids: the main interface keeps [`super::INTERFACE_DEVICE_ID`]
//! (`eth1`), whatever its `eth0` annotation says. Every other interface is
//! named after its annotation when that name is a Flintlock device id and
//! is free. Otherwise it is renamed, with a warning: lowercased, every
//! character outside `a-z0-9_` made `_`, `if_` put in front when it does not
//! start with a letter, and `_1`, `_2`, … added until it is free. Names that
//! need no renaming are reserved first, so a rename never takes one. The
//! result is deterministic and unique (`eth0`, flintlockd's metadata
//! interface, is never used).

use std::collections::BTreeSet;

use super::{Findings, INTERFACE_DEVICE_ID};
use crate::kinds::flintlock::{IfaceType, NetworkInterface};
use crate::kinds::meta::StringMap;

/// Prefix of Ignite's interface annotations; the rest of the key is the
/// interface's name.
pub const INTERFACE_ANNOTATION_PREFIX: &str = "ignite.weave.works/interface/";

/// The interface name Ignite gives the VM's main interface.
const IGNITE_MAIN_INTERFACE: &str = "eth0";
/// flintlockd's metadata interface, never a translated device id.
const METADATA_DEVICE_ID: &str = "eth0";

/// An Ignite interface mode mooring reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    DhcpBridge,
    TcRedirect,
    Macvtap,
}

impl Mode {
    /// As Ignite compares them: exactly.
    fn parse(value: &str) -> Option<Mode> {
        match value {
            "dhcp-bridge" => Some(Mode::DhcpBridge),
            "tc-redirect" => Some(Mode::TcRedirect),
            "macvtap" => Some(Mode::Macvtap),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::DhcpBridge => "dhcp-bridge",
            Mode::TcRedirect => "tc-redirect",
            Mode::Macvtap => "macvtap",
        }
    }

    fn iface_type(self) -> IfaceType {
        match self {
            Mode::DhcpBridge | Mode::Macvtap => IfaceType::Macvtap,
            Mode::TcRedirect => IfaceType::Tap,
        }
    }
}

/// Whether `s` is a Flintlock device id (`^[a-z][a-z0-9_]*$`, as
/// [`crate::kinds::formats::DEVICE_ID`] writes it).
fn is_device_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `name` made a device id: see the module documentation.
fn device_id_for(name: &str) -> String {
    let mut id: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !id.starts_with(|c: char| c.is_ascii_lowercase()) {
        id.insert_str(0, "if_");
    }
    id
}

/// The first of `id`, `id_1`, `id_2`, … not in `taken`.
fn free(id: String, taken: &BTreeSet<String>) -> String {
    if !taken.contains(&id) {
        return id;
    }
    (1..)
        .map(|n| format!("{id}_{n}"))
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or(id)
}

/// The pointer to annotation `key`.
fn annotation_pointer(key: &str) -> String {
    format!(
        "/metadata/annotations/{}",
        key.replace('~', "~0").replace('/', "~1")
    )
}

/// The `MicroVM`'s interfaces, each with the Ignite field it came from
/// (`main_pointer` for the main interface), main interface first and the
/// others in annotation order, as Ignite orders them.
pub(super) fn interfaces(
    out: &mut Findings<'_>,
    annotations: Option<&StringMap>,
    main_pointer: &str,
) -> Vec<(NetworkInterface, String)> {
    let iface = |device_id: &str, mode: Mode| NetworkInterface {
        device_id: device_id.to_string(),
        iface_type: Some(mode.iface_type()),
        guest_mac: None,
        address: None,
        overrides: None,
    };
    let mut main = (
        iface(INTERFACE_DEVICE_ID, Mode::DhcpBridge),
        main_pointer.to_string(),
    );
    // (annotation key, interface name, mode), in key order.
    let mut extra: Vec<(&str, &str, Mode)> = Vec::new();
    for (key, value) in annotations.into_iter().flatten() {
        let Some(name) = key.strip_prefix(INTERFACE_ANNOTATION_PREFIX) else {
            continue;
        };
        let pointer = annotation_pointer(key);
        if name.is_empty() {
            out.warning(
                &pointer,
                format!(
                    "names no interface (the key must be {INTERFACE_ANNOTATION_PREFIX}<name>); \
                     Ignite ignores it, and no interface is translated"
                ),
            );
            continue;
        }
        let Some(mode) = Mode::parse(value) else {
            out.warning(
                &pointer,
                format!(
                    "\"{value}\" is not an Ignite interface mode (dhcp-bridge or tc-redirect; \
                     mooring also reads macvtap); Ignite ignores it, and no interface {name} \
                     is translated{}",
                    if name == IGNITE_MAIN_INTERFACE {
                        format!(" (the main interface stays {INTERFACE_DEVICE_ID}, MACVTAP)")
                    } else {
                        String::new()
                    }
                ),
            );
            continue;
        };
        if name == IGNITE_MAIN_INTERFACE {
            main = (iface(INTERFACE_DEVICE_ID, mode), pointer);
        } else {
            extra.push((key, name, mode));
        }
    }

    let mut taken: BTreeSet<String> = [METADATA_DEVICE_ID, INTERFACE_DEVICE_ID]
        .into_iter()
        .map(String::from)
        .collect();
    let keeps_name = |name: &str| {
        is_device_id(name) && name != METADATA_DEVICE_ID && name != INTERFACE_DEVICE_ID
    };
    taken.extend(
        extra
            .iter()
            .filter(|(_, name, _)| keeps_name(name))
            .map(|(_, name, _)| name.to_string()),
    );
    let mut list = vec![main];
    for (key, name, mode) in extra {
        let pointer = annotation_pointer(key);
        let id = if keeps_name(name) {
            name.to_string()
        } else {
            let id = free(device_id_for(name), &taken);
            let why = if is_device_id(name) {
                format!(
                    "{name} is the device id of the translated main interface (Ignite's \
                     {IGNITE_MAIN_INTERFACE})"
                )
            } else {
                format!(
                    "\"{name}\" is not a Flintlock device id (a lowercase letter, then \
                     lowercase letters, digits or '_')"
                )
            };
            out.warning(
                &pointer,
                format!(
                    "{why}; this {} interface is translated as deviceId {id}",
                    mode.name()
                ),
            );
            taken.insert(id.clone());
            id
        };
        list.push((iface(&id, mode), pointer));
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_free_device_ids() {
        assert!(is_device_id("eth2") && is_device_id("a_1"));
        assert!(!is_device_id("macvtap-uvnrt") && !is_device_id("2a") && !is_device_id(""));
        assert_eq!(device_id_for("macvtap-uvnrt"), "macvtap_uvnrt");
        assert_eq!(device_id_for("Net.0"), "net_0");
        assert_eq!(device_id_for("0"), "if_0");
        let taken: BTreeSet<String> = ["eth1", "eth1_1"].into_iter().map(String::from).collect();
        assert_eq!(free("eth1".into(), &taken), "eth1_2");
        assert_eq!(free("eth3".into(), &taken), "eth3");
        assert_eq!(
            annotation_pointer("ignite.weave.works/interface/a~b"),
            "/metadata/annotations/ignite.weave.works~1interface~1a~0b"
        );
    }
}
