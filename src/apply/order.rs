//! The order in which changes are applied: what other objects depend on
//! goes first, and deletions go in reverse.

use crate::manifest::ObjectId;

/// The apply tier of an object: lower tiers are applied first (and deleted
/// last).
///
/// 0. Namespaces and CustomResourceDefinitions: everything else may live in
///    or be an instance of them.
/// 1. ConfigMaps, Secrets and ServiceAccounts: workloads refer to them.
/// 2. Everything else (custom resources, microVMs).
pub fn tier(id: &ObjectId) -> u8 {
    match (id.group.as_str(), id.kind.as_str()) {
        ("", "Namespace") | ("apiextensions.k8s.io", "CustomResourceDefinition") => 0,
        ("", "ConfigMap" | "Secret" | "ServiceAccount") => 1,
        _ => 2,
    }
}

/// Number of tiers.
pub const TIERS: u8 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    fn id(group: &str, kind: &str) -> ObjectId {
        ObjectId {
            group: group.into(),
            kind: kind.into(),
            namespace: None,
            name: "x".into(),
        }
    }

    #[test]
    fn namespaces_and_crds_come_first_then_config_then_the_rest() {
        assert_eq!(tier(&id("", "Namespace")), 0);
        assert_eq!(
            tier(&id("apiextensions.k8s.io", "CustomResourceDefinition")),
            0
        );
        assert_eq!(tier(&id("", "Secret")), 1);
        assert_eq!(tier(&id("llamastack.io", "LlamaStackDistribution")), 2);
        assert_eq!(tier(&id("flintlock.liquidmetal.dev", "MicroVM")), 2);
        // A kind named Namespace in another group is just a custom resource.
        assert_eq!(tier(&id("example.com", "Namespace")), 2);
    }
}
