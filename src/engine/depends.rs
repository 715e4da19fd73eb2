//! The order `mooring.dev/depends-on` adds: each change's level is above
//! its tier's and above every level of what it depends on, so a stage
//! holds only changes whose dependencies were applied in earlier stages.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::order;
use crate::manifest::{Manifest, ObjectId, depends::depends_on};
use crate::plan::Change;

/// Levels per tier: more than any chain of dependencies.
const PER_TIER: usize = 10_000;

/// The level of each change among `changes` (creates, updates and
/// replaces): `tier × PER_TIER`, raised above its dependencies' levels. A
/// cycle (an error of the desired side already) is cut where it closes.
pub fn levels(
    changes: &[&Change],
    desired: &BTreeMap<(String, ObjectId), Cow<'_, Manifest>>,
) -> BTreeMap<ObjectId, usize> {
    let by_name: BTreeMap<String, &Change> =
        changes.iter().map(|c| (c.id.to_string(), *c)).collect();
    let deps = |c: &Change| -> Vec<&Change> {
        desired
            .get(&(c.backend.clone(), c.id.clone()))
            .map(|m| depends_on(&m.value))
            .unwrap_or_default()
            .iter()
            .filter_map(|name| by_name.get(name).copied())
            .collect()
    };
    let mut out: BTreeMap<ObjectId, usize> = BTreeMap::new();
    fn visit<'a>(
        c: &'a Change,
        deps: &dyn Fn(&Change) -> Vec<&'a Change>,
        out: &mut BTreeMap<ObjectId, usize>,
        visiting: &mut Vec<ObjectId>,
    ) -> usize {
        if let Some(l) = out.get(&c.id) {
            return *l;
        }
        let mut level = usize::from(order::tier(&c.id)) * PER_TIER;
        if visiting.contains(&c.id) {
            return level;
        }
        visiting.push(c.id.clone());
        for d in deps(c) {
            level = level.max(visit(d, deps, out, visiting) + 1);
        }
        visiting.pop();
        out.insert(c.id.clone(), level);
        level
    }
    for c in changes {
        visit(c, &deps, &mut out, &mut Vec::new());
    }
    out
}
