//! Any bytes, as a manifest file: the loader never panics, and a file it
//! accepts without an error is one it read whole (every document it holds
//! is accounted for, none silently dropped).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mooring::manifest::{Limits, SourceFile, load};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_nodes: 20_000,
        max_bytes: 1 << 20,
        ..Limits::default()
    };
    let file = SourceFile {
        path: "fuzz.yaml".into(),
        rel: "fuzz.yaml".into(),
        bytes: data.to_vec(),
    };
    let loaded = load(std::slice::from_ref(&file), &limits);
    let errors = loaded.findings.iter().any(|f| f.is_error());
    if !errors {
        // A NUL, or any other character YAML forbids, is always an error:
        // accepted text never holds one.
        // (A file whose first bytes hold a NUL or a UTF-16 byte-order mark is
        // UTF-16 or UTF-32, where NUL bytes are part of the encoding.)
        let head = &data[..data.len().min(4)];
        let wide =
            head.contains(&0) || head.starts_with(&[0xFE, 0xFF]) || head.starts_with(&[0xFF, 0xFE]);
        if !wide {
            assert!(
                !data.contains(&0),
                "a file with a NUL was accepted: {:?}",
                loaded.manifests
            );
        }
        assert!(loaded.manifests.len() <= loaded.documents);
    }
    for f in &loaded.findings {
        let line = f.location.as_ref().map_or(1, |l| l.line);
        assert!(line >= 1, "a finding without a real line: {f}");
    }
});
