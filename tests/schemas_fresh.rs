//! The committed `schemas/` must be what the types generate today.

mod support;

use support::mooring;

#[test]
fn committed_schemas_match_the_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let mut stale = Vec::new();
    for (rel, text) in mooring::kinds::schema::render_all() {
        match std::fs::read_to_string(dir.join(&rel)) {
            Ok(on_disk) if on_disk == text => {}
            _ => stale.push(rel),
        }
    }
    assert!(
        stale.is_empty(),
        "stale schemas (run `cargo run -- schemas` and commit): {stale:?}"
    );
    let check = mooring(&["schemas", "--check"], None);
    assert_eq!(check.code, 0, "{}", check.stdout);
}

#[test]
fn check_fails_on_a_stale_copy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    assert_eq!(mooring(&["schemas", "--out", out], None).code, 0);
    assert_eq!(mooring(&["schemas", "--check", "--out", out], None).code, 0);
    let vm = dir.path().join("ignite.weave.works/v1alpha1/VM.json");
    std::fs::write(&vm, "{}\n").unwrap();
    let check = mooring(&["schemas", "--check", "--out", out], None);
    assert_eq!(check.code, 1);
    assert!(check.stdout.contains("VM.json differs"), "{}", check.stdout);
    assert!(
        check
            .stdout
            .contains("schemas are stale: run `mooring schemas --out")
    );
}

#[test]
fn check_fails_on_a_stray_file_and_a_hand_edited_builtin_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    // `schemas` writes mooring's own kinds and the built-in table it embeds.
    assert_eq!(mooring(&["schemas", "--out", out], None).code, 0);
    let copy = dir.path().join("kubernetes/builtin.json");
    let check = mooring(&["schemas", "--check", "--out", out], None);
    assert_eq!(check.code, 0, "{}", check.stdout);

    std::fs::write(dir.path().join("core-v1-Pod.json"), "{}\n").unwrap();
    let check = mooring(&["schemas", "--check", "--out", out], None);
    assert_eq!(check.code, 1, "{}", check.stdout);
    assert!(
        check
            .stdout
            .contains("core-v1-Pod.json is not a schema mooring generates: remove it"),
        "{}",
        check.stdout
    );
    std::fs::remove_file(dir.path().join("core-v1-Pod.json")).unwrap();

    let text = std::fs::read_to_string(&copy).unwrap();
    std::fs::write(&copy, text.replacen("\"Namespaced\"", "\"Cluster\"", 1)).unwrap();
    let check = mooring(&["schemas", "--check", "--out", out], None);
    assert_eq!(check.code, 1, "{}", check.stdout);
    assert!(
        check
            .stdout
            .contains("does not match its sha256 (edited by hand?)"),
        "{}",
        check.stdout
    );
}

#[test]
fn the_index_lists_every_kind() {
    let index = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/index.json"),
    )
    .unwrap();
    for k in mooring::kinds::all() {
        assert!(
            index.contains(&k.schema_file()),
            "{} missing from index",
            k.kind
        );
    }
}

/// Editors follow `# yaml-language-server: $schema=...` relative to the file.
#[test]
fn example_modelines_point_at_committed_schemas() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stack = vec![root.join("examples/manifests")];
    let mut checked = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for line in text.lines() {
                if let Some(rel) = line.strip_prefix("# yaml-language-server: $schema=") {
                    let target = path.parent().unwrap().join(rel.trim());
                    assert!(
                        target.is_file(),
                        "{}: {rel} does not resolve",
                        path.display()
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 20, "only {checked} modelines found");
}
