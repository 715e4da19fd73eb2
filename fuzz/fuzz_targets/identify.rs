//! Any text, as a YAML stream of manifests: identity is total (every
//! document is an object or a finding), stable (loading the same text twice
//! gives the same objects), and two objects never share an identity.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use mooring::manifest::{Limits, SourceFile, load};

fuzz_target!(|text: &str| {
    let file = SourceFile {
        path: "fuzz.yaml".into(),
        rel: "fuzz.yaml".into(),
        bytes: format!("apiVersion: v1\nkind: ConfigMap\n{text}").into_bytes(),
    };
    let limits = Limits {
        max_nodes: 20_000,
        max_bytes: 1 << 20,
        ..Limits::default()
    };
    let a = load(std::slice::from_ref(&file), &limits);
    let b = load(std::slice::from_ref(&file), &limits);
    let ids = |l: &mooring::manifest::Loaded| -> Vec<String> {
        l.manifests.iter().map(|m| m.id.to_string()).collect()
    };
    assert_eq!(ids(&a), ids(&b), "loading is deterministic");
    let unique: BTreeSet<_> = a.manifests.iter().map(|m| &m.id).collect();
    assert_eq!(unique.len(), a.manifests.len(), "identities are unique");
    for m in &a.manifests {
        assert!(!m.id.name.is_empty(), "an object without a name");
        assert!(m.line >= 1);
    }
});
