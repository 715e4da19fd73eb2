//! The layout ARCHITECTURE.md describes, checked on the source: data flows
//! one way (source → desired (load, validate, translate) → plan → backends
//! → engine → the daemon), so a module never imports one above it, and no
//! two files import each other, directly or round a loop.
//!
//! Imports are read from the text of `src/` (outside `#[cfg(test)]` code
//! and comments): every `crate::…` path, and every `super::…` path that
//! names a sibling file. A parent module and its own files are one unit
//! (a child uses its parent's types, the parent declares its children), so
//! edges between a module and its descendants are not counted as loops.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules of the library, lowest first. A module may import
/// only modules of its own layer or of a lower one, and the top-level graph
/// has no cycle. A new module must be added here (and to ARCHITECTURE.md).
const LAYERS: &[&[&str]] = &[
    // Shared vocabulary: errors, files, findings, the kinds and their facts.
    &["duration", "error", "file", "finding", "kinds"],
    // Reading Git or a folder.
    &["source"],
    // The desired side: load, render, validate, translate, then the pipeline.
    &["manifest"],
    &["render"],
    &["validate"],
    &["translate"],
    &["desired"],
    // Planning, the backends that observe and write, the engine.
    &["plan"],
    &["backend"],
    &["engine"],
    // What ties the engine to a configuration, then the daemon.
    &["config"],
    &["leader", "run"],
    &["metrics"],
    &["serve"],
];

/// A module's path inside the crate: `src/backend/kubernetes/mod.rs` →
/// `["backend", "kubernetes"]`.
type ModPath = Vec<String>;

fn module_path(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: ModPath = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file that counts: without line comments, and without
/// each item marked `#[cfg(test)]` (up to its `;`, or its `{` block).
fn code(text: &str) -> String {
    let text: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let end = match (item.find(';'), item.find('{')) {
            (Some(semi), Some(open)) if semi < open => semi + 1,
            (_, Some(open)) => {
                let mut depth = 0usize;
                let mut close = item.len();
                for (i, c) in item[open..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                close = open + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                close
            }
            (Some(semi), None) => semi + 1,
            (None, None) => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths a `use`-like expression starting at `text` names:
/// `a::b::{c, d::e}` → `a::b::c`, `a::b::d::e` (and `a::b` itself).
fn paths(text: &str) -> Vec<Vec<String>> {
    let mut base = Vec::new();
    let mut rest = text;
    loop {
        let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        base.push(rest[..end].to_string());
        rest = &rest[end..];
        match rest.strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    let mut out = vec![base.clone()];
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 0;
        let mut item = String::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.extend(sub_paths(&base, &item));
                    item.clear();
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
        out.extend(sub_paths(&base, &item));
    }
    out
}

fn sub_paths(base: &[String], item: &str) -> Vec<Vec<String>> {
    let item = item.trim();
    if item.is_empty() || item == "self" {
        return Vec::new();
    }
    paths(item)
        .into_iter()
        .map(|p| base.iter().cloned().chain(p).collect())
        .collect()
}

/// Every path after `prefix` (`crate::` or `super::`) in `code`.
fn mentions(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = code[from..].find(prefix) {
        let at = from + i;
        let before = code[..at].chars().next_back();
        if before.is_none_or(|c| !is_ident(c) && c != ':') {
            out.extend(paths(&code[at + prefix.len()..]));
        }
        from = at + prefix.len();
    }
    out
}

/// The longest prefix of `path` that is a module with a file of its own.
fn file_module(files: &BTreeSet<ModPath>, path: &[String]) -> Option<ModPath> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| files.contains(p))
}

struct Crate {
    /// Top-level module → the top-level modules it imports.
    top: BTreeMap<String, BTreeSet<String>>,
    /// File module → the file modules it imports, ancestors and
    /// descendants left out.
    files: BTreeMap<ModPath, BTreeSet<ModPath>>,
}

fn read_crate() -> Crate {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut list = Vec::new();
    rust_files(&src, &mut list);
    let modules: BTreeSet<ModPath> = list.iter().map(|f| module_path(&src, f)).collect();
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for file in &list {
        let me = module_path(&src, file);
        // The binary's command line sits above everything.
        if me.is_empty() || me[0] == "cli" {
            continue;
        }
        let text = code(&std::fs::read_to_string(file).unwrap());
        // `super::` of `a/b.rs` and of `a/b/mod.rs` alike is `a`.
        let parent: ModPath = me[..me.len() - 1].to_vec();
        let mut named: Vec<Vec<String>> = mentions(&text, "crate::");
        named.extend(mentions(&text, "super::").into_iter().filter_map(|p| {
            // `super::super::x` is `x` one more level up, and so on.
            let ups = p.iter().take_while(|s| *s == "super").count();
            let base = parent.len().checked_sub(ups)?;
            Some(
                parent[..base]
                    .iter()
                    .cloned()
                    .chain(p[ups..].iter().cloned())
                    .collect(),
            )
        }));
        for path in named {
            let Some(first) = path.first() else { continue };
            if *first != me[0] {
                top.entry(me[0].clone()).or_default().insert(first.clone());
            }
            if let Some(target) = file_module(&modules, &path) {
                let related = target.starts_with(&me) || me.starts_with(&target);
                if !related {
                    files.entry(me.clone()).or_default().insert(target);
                }
            }
        }
    }
    Crate { top, files }
}

/// The strongly connected components of more than one node (Tarjan).
fn cycles<N: Ord + Clone>(graph: &BTreeMap<N, BTreeSet<N>>) -> Vec<Vec<N>> {
    struct State<N> {
        index: BTreeMap<N, usize>,
        low: BTreeMap<N, usize>,
        stack: Vec<N>,
        on: BTreeSet<N>,
        out: Vec<Vec<N>>,
    }
    fn visit<N: Ord + Clone>(g: &BTreeMap<N, BTreeSet<N>>, v: &N, s: &mut State<N>) {
        let i = s.index.len();
        s.index.insert(v.clone(), i);
        s.low.insert(v.clone(), i);
        s.stack.push(v.clone());
        s.on.insert(v.clone());
        for w in g.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(g, w, s);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(&w);
                let done = w == *v;
                component.push(w);
                if done {
                    break;
                }
            }
            if component.len() > 1 {
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v) {
            visit(graph, v, &mut s);
        }
    }
    s.out
}

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

#[test]
fn no_module_imports_one_above_it() {
    let krate = read_crate();
    let mut wrong = Vec::new();
    for (from, to) in &krate.top {
        let Some(lf) = layer(from) else {
            wrong.push(format!("{from} is not in LAYERS (tests/architecture.rs)"));
            continue;
        };
        for t in to {
            match layer(t) {
                None => wrong.push(format!("{t} (imported by {from}) is not in LAYERS")),
                Some(lt) if lt > lf => wrong.push(format!("{from} imports {t}, a later stage")),
                Some(_) => {}
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        krate.top.contains_key("engine") && krate.top["engine"].contains("backend"),
        "the import reader found nothing: {:?}",
        krate.top
    );
}

#[test]
fn no_cycle_between_modules_or_files() {
    let krate = read_crate();
    let top = cycles(&krate.top);
    assert!(top.is_empty(), "top-level modules in a cycle: {top:?}");
    let files: Vec<String> = cycles(&krate.files)
        .into_iter()
        .map(|c| {
            c.iter()
                .map(|m| m.join("::"))
                .collect::<Vec<_>>()
                .join(" ⇄ ")
        })
        .collect();
    assert!(files.is_empty(), "files in a cycle:\n{}", files.join("\n"));
}

/// The reader and the cycle finder find what they are meant to find.
#[test]
fn the_reader_sees_grouped_imports_and_the_finder_sees_loops() {
    let named = mentions(
        "use crate::a::{b, c::{d, e}};\nlet x = crate::f::g();\nuse super::h;",
        "crate::",
    );
    assert!(named.contains(&vec!["a".to_string(), "b".to_string()]));
    assert!(named.contains(&vec!["a".into(), "c".into(), "e".into()]));
    assert!(named.contains(&vec!["f".into(), "g".into()]));
    assert_eq!(mentions("mycrate::x", "crate::"), Vec::<Vec<String>>::new());
    let kept = code(
        "use crate::a;\n#[cfg(test)]\nmod tests { fn f() { let _ = crate::t; } }\nuse crate::b; // crate::c\n#[cfg(test)]\nuse crate::d;\nfn g() {}",
    );
    assert!(
        kept.contains("crate::a") && kept.contains("crate::b"),
        "{kept}"
    );
    assert!(
        !kept.contains("crate::t") && !kept.contains("crate::c") && !kept.contains("crate::d"),
        "{kept}"
    );
    assert!(kept.contains("fn g"), "{kept}");
    let mut g: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    g.entry("a").or_default().insert("b");
    g.entry("b").or_default().insert("c");
    assert!(cycles(&g).is_empty());
    g.entry("c").or_default().insert("a");
    assert_eq!(cycles(&g).len(), 1);
}
