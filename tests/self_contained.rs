//! The repository builds and tests from a clone alone: no code, test,
//! script or build step names a path outside it. Files under `src/`,
//! `tests/`, `benches/`, `examples/`, `scripts/`, `emulators/`, `proto/`,
//! `testenv/`, `.ci/` and every `build.rs` are read as text and refused
//! when they name
//! - the reference folder kept beside the repository while it was written,
//!   or the absolute folder it was written in (the words are in
//!   [`problems`]);
//! - the crate's manifest folder and then leave it (`/..`, `.parent()`,
//!   `.ancestors()`, `join("..")` in the same statement);
//! - an `include_str!`, `include_bytes!`, `include!` or `#[path]` file, or a
//!   script's `$(dirname "$0")/…` path, that resolves outside the
//!   repository.
//!
//! The forbidden words are built from pieces below, so this file does not
//! name them itself.

use std::path::{Component, Path, PathBuf};

/// The folders whose files are checked, relative to the repository root.
const CHECKED: &[&str] = &[
    "src",
    "tests",
    "benches",
    "examples",
    "scripts",
    "emulators",
    "proto",
    "testenv",
    ".ci",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir`, skipping build output and hidden folders.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if name == "target" || name.starts_with('.') {
                continue;
            }
            files(&path, out);
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

/// The files the guard reads: the folders above, and every `build.rs`
/// anywhere in the repository (outside build output).
fn checked_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in CHECKED {
        files(&root().join(dir), &mut out);
    }
    let mut everything = Vec::new();
    files(root(), &mut everything);
    out.extend(
        everything
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n == "build.rs")),
    );
    out.sort();
    out.dedup();
    out
}

/// Whether `path`, resolved lexically against the folder `base`, stays in
/// the repository.
fn inside_root(base: &Path, path: &str) -> bool {
    let root = root();
    let Ok(rel) = base.strip_prefix(root) else {
        return false;
    };
    if path.starts_with('/') {
        return false;
    }
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return false;
                }
            }
            Component::CurDir => {}
            _ => return false,
        }
    }
    true
}

/// The string literal that starts at the first `"` of `text`.
fn first_literal(text: &str) -> Option<&str> {
    let start = text.find('"')? + 1;
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

/// The statement that follows `at` in `text`: up to its `;`, or a brace,
/// or 300 characters, without white space.
fn statement_after(text: &str) -> String {
    text.chars()
        .take_while(|c| !matches!(c, ';' | '{' | '}'))
        .take(300)
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// What is wrong with `text`, the content of the file `path`: one line per
/// problem, `line: what`.
fn problems(path: &Path, text: &str) -> Vec<String> {
    let sibling = ["..", "/shared"].concat();
    let reference = ["shared", "/reference"].concat();
    let work = ["/work", "/"].concat();
    let manifest_dir = ["CARGO", "_MANIFEST_DIR"].concat();
    let script_dir = ["dirname \"$0", "\")/"].concat();
    let folder = path.parent().unwrap_or(root());
    let mut out = Vec::new();
    let mut line_start = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let n = i + 1;
        for word in [&sibling, &reference, &work] {
            if line.contains(word.as_str()) {
                out.push(format!("{n}: names `{word}`, outside the repository"));
            }
        }
        for (at, _) in line.match_indices(manifest_dir.as_str()) {
            let after = line_start + at + manifest_dir.len();
            let statement = statement_after(&text[after..]);
            if ["\"/..", ".parent()", ".ancestors()", "join(\".."]
                .iter()
                .any(|escape| statement.contains(escape))
            {
                out.push(format!("{n}: leaves {manifest_dir}: {statement}"));
            }
        }
        for include in ["include_str!(", "include_bytes!(", "include!(", "#[path"] {
            for (at, _) in line.match_indices(include) {
                if let Some(file) = first_literal(&line[at..])
                    && !inside_root(folder, file)
                {
                    out.push(format!(
                        "{n}: {include} names {file}, outside the repository"
                    ));
                }
            }
        }
        // Shell: a path relative to the script's own folder.
        for (at, _) in line.match_indices(script_dir.as_str()) {
            let rel: String = line[at + script_dir.len()..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | ')' | ';'))
                .collect();
            if !inside_root(folder, &rel) {
                out.push(format!(
                    "{n}: $(dirname \"$0\")/{rel} is outside the repository"
                ));
            }
        }
        line_start += line.len();
    }
    out
}

#[test]
fn nothing_names_a_path_outside_the_repository() {
    let files = checked_files();
    assert!(
        files.len() > 50,
        "expected the repository's files under {}, found {}",
        root().display(),
        files.len()
    );
    let mut found = Vec::new();
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // not text
        };
        let shown = path
            .strip_prefix(root())
            .unwrap_or(&path)
            .display()
            .to_string();
        found.extend(
            problems(&path, &text)
                .into_iter()
                .map(|p| format!("{shown}:{p}")),
        );
    }
    assert!(
        found.is_empty(),
        "the repository must build and test from a clone alone:\n{}",
        found.join("\n")
    );
}

/// The guard itself: each kind of escape is caught, and what stays inside
/// is not. The examples are assembled here so that this file does not hold
/// them verbatim.
#[test]
fn the_guard_catches_each_way_out() {
    let test = root().join("tests/kinds/upstream.rs");
    let script = root().join("scripts/test");
    let src = root().join("src/config/parse.rs");
    let md = ["CARGO", "_MANIFEST_DIR"].concat();
    let here = ["dirname \"$0", "\")"].concat();
    let include = ["include", "_str!"].concat();
    let caught = |path: &Path, text: &str| !problems(path, text).is_empty();
    let outside = [
        (
            &test,
            format!("concat!(env!(\"{md}\"), \"/..{}/reference/x\")", "/shared"),
        ),
        (
            &test,
            format!("concat!(\n    env!(\"{md}\"),\n    \"/../elsewhere\"\n)"),
        ),
        (
            &test,
            format!("Path::new(env!(\"{md}\")).parent().unwrap().join(\"x\");"),
        ),
        (&test, ["let p = \"", "/work", "/other/file\";"].concat()),
        (&src, format!("{include}(\"../../../outside.yaml\")")),
        (&script, format!("cd \"$({here}/../..\"")),
    ];
    for (path, text) in &outside {
        assert!(caught(path, text), "not caught: {text}");
    }
    let inside = [
        (
            &test,
            format!("Path::new(env!(\"{md}\")).join(\"tests/fixtures\");"),
        ),
        (&src, format!("{include}(\"../../examples/mooring.yaml\")")),
        (&script, format!("cd \"$({here}/..\"")),
        (
            &test,
            "symlink(\"../c.yaml\", dir.join(\"a/b.yaml\"))".to_string(),
        ),
    ];
    for (path, text) in &inside {
        assert!(!caught(path, text), "caught, but stays inside: {text}");
    }
}
