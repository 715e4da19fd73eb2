//! `mooring.dev/depends-on`: an object applied only once others are
//! healthy. The annotation names them as `Kind/namespace/name` (or
//! `Kind/name` for a cluster-scoped one), separated by commas. The engine
//! orders and waits by it; here the whole set is checked for cycles, which
//! could never be applied.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::Manifest;
use crate::finding::Finding;

/// The annotation.
pub const DEPENDS_ON_ANNOTATION: &str = "mooring.dev/depends-on";

/// The objects `value` says it depends on, as `ObjectId`'s display form.
pub fn depends_on(value: &Value) -> Vec<String> {
    super::annotation_list(value, DEPENDS_ON_ANNOTATION)
}

/// One error per cycle of `mooring.dev/depends-on` among `manifests`,
/// naming the cycle, at the annotation of its first object.
pub fn cycles(manifests: &[Manifest]) -> Vec<Finding> {
    let edges: BTreeMap<String, Vec<String>> = manifests
        .iter()
        .map(|m| (m.id.to_string(), depends_on(&m.value)))
        .filter(|(_, deps)| !deps.is_empty())
        .collect();
    let mut findings = Vec::new();
    let mut reported: BTreeSet<BTreeSet<String>> = BTreeSet::new();
    for start in edges.keys() {
        // Depth-first from `start`, looking for a way back to it.
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in edges.get(&at).map(Vec::as_slice).unwrap_or_default() {
                if next == start {
                    let members: BTreeSet<String> = path.iter().cloned().collect();
                    if reported.insert(members) {
                        let mut shown = path.clone();
                        shown.push(start.clone());
                        if let Some(m) = manifests.iter().find(|m| &m.id.to_string() == start) {
                            findings.push(m.finding(
                                Finding::error(
                                    "load",
                                    format!(
                                        "{DEPENDS_ON_ANNOTATION} makes a cycle, which can never be applied: {}",
                                        shown.join(" → ")
                                    ),
                                ),
                                "/metadata/annotations",
                            ));
                        }
                    }
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::from_test_yaml;

    #[test]
    fn a_cycle_is_one_error_naming_it() {
        let cm = |name: &str, deps: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: shop\n  annotations: {{mooring.dev/depends-on: '{deps}'}}\n"
            )
        };
        let set = from_test_yaml(&format!(
            "{}---\n{}---\n{}",
            cm("a", "ConfigMap/shop/b"),
            cm("b", "ConfigMap/shop/a, Secret/shop/s"),
            cm("c", "ConfigMap/shop/a"),
        ));
        let found: Vec<String> = cycles(&set).iter().map(|f| f.message.clone()).collect();
        assert_eq!(
            found,
            [
                "mooring.dev/depends-on makes a cycle, which can never be applied: ConfigMap/shop/a → ConfigMap/shop/b → ConfigMap/shop/a"
            ]
        );
        assert_eq!(
            depends_on(&set[1].value),
            ["ConfigMap/shop/a", "Secret/shop/s"]
        );
    }
}
