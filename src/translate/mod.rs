//! Translation of Ignite VMs into Flintlock microVMs. (Placeholder until
//! the translation lands.)

use crate::finding::Finding;
use crate::manifest::Manifest;

pub fn translate_set(manifests: &[Manifest]) -> (Vec<Manifest>, Vec<Finding>) {
    (manifests.to_vec(), Vec::new())
}
