//! mooring's schemas side by side with the CRDs the upstream projects ship
//! today (copied unchanged into `tests/fixtures/upstream-crds/`, whose
//! README names each file's repository, path, commit and licence): every
//! property upstream has, mooring has; every constraint upstream enforces (required fields,
//! bounds, lengths, item counts, patterns, enums, int32 ranges,
//! int-or-string, CEL rules) and every default upstream declares on its
//! own types, mooring enforces (or declares), in its schema or, where the
//! allow-list below says so, in a typed rule or on purpose not at all.
//!
//! Being stricter than upstream (unknown fields rejected, a minimum of 0 on
//! a port) is not reported: the check is one-way.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mooring::kinds;
use mooring::manifest::Limits;
use mooring::manifest::yaml::parse_stream;
use serde_json::{Value, json};

fn crd_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/upstream-crds"
    ))
}

/// A difference mooring keeps on purpose: (CRD file, path, start of the
/// problem text, why).
const ALLOWED: &[(&str, &str, &str, &str)] = &[
    (
        "llamastack.io_llamastackdistributions.yaml",
        "spec.server.distribution",
        "CEL rule",
        "typed rule in src/kinds/llamastack.rs (NAME_OR_IMAGE), tested in \
         tests/kinds/main.rs llsd_name_and_image_is_the_cel_rule",
    ),
    (
        "runtime.wasmcloud.dev_workloads.yaml",
        "spec.hostInterfaces",
        "CEL rule",
        "typed rules in src/kinds/wasmcloud.rs (WorkloadSpec::rules), tested in \
         tests/kinds/wasmcloud.rs",
    ),
    (
        "runtime.wasmcloud.dev_workloaddeployments.yaml",
        "spec.template.spec.hostInterfaces",
        "CEL rule",
        "typed rules in src/kinds/wasmcloud.rs (WorkloadSpec::rules), tested in \
         tests/kinds/wasmcloud.rs",
    ),
    (
        "runtime.wasmcloud.dev_workloadreplicasets.yaml",
        "spec.template.spec.hostInterfaces",
        "CEL rule",
        "typed rules in src/kinds/wasmcloud.rs (WorkloadSpec::rules), tested in \
         tests/kinds/wasmcloud.rs",
    ),
];

/// Follows `$ref`s into the root's `$defs`, and the non-null side of
/// mooring's nullable encodings (`if: {type: null}, else: S`, and
/// `anyOf: [S, {type: null}]`), to the schema that constrains a value.
fn resolve<'a>(root: &'a Value, mut m: &'a Value) -> &'a Value {
    let null = json!({"type": "null"});
    for _ in 0..32 {
        if let Some(r) = m.get("$ref").and_then(Value::as_str) {
            match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
                Some(target) => {
                    m = target;
                    continue;
                }
                None => panic!("unresolvable $ref {r}"),
            }
        }
        if m.get("if") == Some(&null)
            && let Some(e) = m.get("else")
        {
            m = e;
            continue;
        }
        if let Some(any) = m.get("anyOf").and_then(Value::as_array)
            && any.len() == 2
            && any.contains(&null)
            && let Some(other) = any.iter().find(|b| **b != null)
        {
            m = other;
            continue;
        }
        if let Some(all) = m.get("allOf").and_then(Value::as_array)
            && all.len() == 1
        {
            m = &all[0];
            continue;
        }
        break;
    }
    m
}

fn types(s: &Value) -> Vec<&str> {
    match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether `m` accepts any mapping (a free-form `status`, say).
fn free_form(m: &Value) -> bool {
    m.get("properties").is_none()
        && m.get("patternProperties").is_none()
        && m.get("$ref").is_none()
        && matches!(
            m.get("additionalProperties"),
            None | Some(Value::Bool(true))
        )
        && types(m).iter().all(|t| *t == "object" || *t == "null")
}

/// Walks upstream schema `u` and mooring schema `m` together, collecting
/// `path: problem` lines for what mooring lacks.
fn compare(root: &Value, u: &Value, m: &Value, path: &str, out: &mut Vec<(String, String)>) {
    let m = resolve(root, m);
    let mut problem = |what: String| out.push((path.to_string(), what));
    if free_form(m) && !types(u).iter().any(|t| *t != "object") {
        return;
    }
    let (ut, mt) = (types(u), types(m));
    if let Some(t) = ut.first()
        && !mt.is_empty()
        && !mt.contains(t)
        && !(*t == "integer" && mt.contains(&"number"))
    {
        problem(format!("type {t} upstream, {mt:?} here"));
    }
    let num = |s: &Value, k: &str| s.get(k).and_then(Value::as_f64);
    for (key, stricter_is_greater) in [
        ("minimum", true),
        ("maximum", false),
        ("minItems", true),
        ("maxItems", false),
        ("minLength", true),
        ("maxLength", false),
    ] {
        if let Some(limit) = num(u, key) {
            match num(m, key) {
                Some(mine) if (mine >= limit) == stricter_is_greater || mine == limit => {}
                Some(mine) => problem(format!("{key} {limit} upstream, {mine} here")),
                None => problem(format!("{key} {limit} not enforced")),
            }
        }
    }
    if u.get("format").and_then(Value::as_str) == Some("int32") {
        let lo = num(m, "minimum").is_some_and(|v| v >= f64::from(i32::MIN));
        let hi = num(m, "maximum").is_some_and(|v| v <= f64::from(i32::MAX));
        if !(lo && hi) {
            problem("int32 range not enforced".to_string());
        }
    }
    if let Some(p) = u.get("pattern").and_then(Value::as_str)
        && m.get("pattern").and_then(Value::as_str) != Some(p)
    {
        problem(format!("pattern {p} not enforced"));
    }
    if let Some(allowed) = u.get("enum").and_then(Value::as_array) {
        match m.get("enum").and_then(Value::as_array) {
            Some(mine) if mine.iter().all(|v| allowed.contains(v)) => {}
            _ => problem(format!("enum {allowed:?} not enforced")),
        }
    }
    if let Some(default) = u.get("default")
        && default_compared(path, default)
        && m.get("default") != Some(default)
    {
        problem(format!("default {default} not declared"));
    }
    if u.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
        && !(mt.contains(&"integer") && mt.contains(&"string"))
    {
        problem("int-or-string not accepted".to_string());
    }
    for rule in u
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let message = rule.get("message").and_then(Value::as_str).unwrap_or("");
        problem(format!("CEL rule \"{message}\" has no schema equivalent"));
    }
    let required: BTreeSet<&str> = m
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for r in u
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !required.contains(r) {
            problem(format!("{r} is required upstream, optional here"));
        }
    }
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    if let Some(props) = u.get("properties").and_then(Value::as_object) {
        for (k, us) in props {
            match m.pointer(&format!("/properties/{k}")) {
                Some(ms) => compare(root, us, ms, &join(k), out),
                None => match m.get("additionalProperties") {
                    Some(ap) if ap.is_object() => compare(root, us, ap, &join(k), out),
                    _ => out.push((path.to_string(), format!("property {k} is missing"))),
                },
            }
        }
    }
    if let Some(ua) = u.get("additionalProperties").filter(|v| v.is_object()) {
        match m.get("additionalProperties").filter(|v| v.is_object()) {
            Some(ma) => compare(root, ua, ma, &join("*"), out),
            None => out.push((path.to_string(), "map values are not accepted".to_string())),
        }
    }
    if let Some(ui) = u.get("items") {
        match m.get("items") {
            Some(mi) => compare(root, ui, mi, &format!("{path}[]"), out),
            None => out.push((path.to_string(), "list items are not described".to_string())),
        }
    }
}

/// Whether an upstream `default` must be declared by mooring's schema too
/// (so that `mooring crds` defaults what upstream's CRD defaults). Not
/// compared: the empty-string `name` of Kubernetes object references (the
/// Go zero value controller-gen copies, which defaults nothing useful), and
/// fields of Kubernetes' own types (volume sources, env var sources), whose
/// schemas come from k8s-openapi without defaults.
fn default_compared(path: &str, default: &Value) -> bool {
    let go_zero_name = path.ends_with(".name") && default == &json!("");
    let core_type = path.contains(".volumes[].") || path.contains(".valueFrom.");
    !go_zero_name && !core_type
}

/// (CRD file name, apiVersion, kind, the CRD's schema), for every served
/// version of every CRD in the directory.
fn upstream_crds(dir: &Path) -> Vec<(String, String, String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let (docs, errors) = parse_stream(&text, &Limits::default());
        assert!(
            errors.iter().all(|e| e.warning),
            "{}: {errors:?}",
            path.display()
        );
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        for doc in docs {
            let crd = doc.value;
            let group = crd.pointer("/spec/group").and_then(Value::as_str).unwrap();
            let kind = crd
                .pointer("/spec/names/kind")
                .and_then(Value::as_str)
                .unwrap();
            for v in crd
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .unwrap()
            {
                let name = v["name"].as_str().unwrap();
                let schema = v.pointer("/schema/openAPIV3Schema").unwrap().clone();
                out.push((
                    file.clone(),
                    format!("{group}/{name}"),
                    kind.to_string(),
                    schema,
                ));
            }
        }
    }
    out
}

fn allowed(file: &str, path: &str, what: &str) -> Option<usize> {
    ALLOWED
        .iter()
        .position(|(f, p, start, _)| *f == file && *p == path && what.starts_with(start))
}

#[test]
fn every_upstream_property_and_constraint_is_in_mooring() {
    let dir = crd_dir();
    let crds = upstream_crds(&dir);
    assert!(
        crds.len() >= 6,
        "expected the six upstream CRDs in {}",
        dir.display()
    );
    let mut missing = Vec::new();
    let mut used = BTreeSet::new();
    let mut covered = BTreeSet::new();
    for (file, api_version, kind, upstream) in &crds {
        let info = kinds::find(api_version, kind)
            .unwrap_or_else(|| panic!("{file}: mooring has no kind {api_version} {kind}"));
        covered.insert((info.api_version(), info.kind));
        let mine = (info.schema)();
        let mut problems = Vec::new();
        compare(&mine, upstream, &mine, "", &mut problems);
        for (path, what) in problems {
            match allowed(file, &path, &what) {
                Some(i) => {
                    used.insert(i);
                }
                None => missing.push(format!("{file}: {path}: {what}")),
            }
        }
    }
    assert!(
        missing.is_empty(),
        "mooring lacks what upstream has (add it, or allow-list it with a reason):\n{}",
        missing.join("\n")
    );
    let stale: Vec<String> = ALLOWED
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i))
        .map(|(_, (f, p, w, _))| format!("{f}: {p}: {w}"))
        .collect();
    assert!(
        stale.is_empty(),
        "allow-list entries no longer needed:\n{}",
        stale.join("\n")
    );
    // Every kind of a group with upstream CRDs is compared.
    for k in kinds::all() {
        if ["llamastack.io", "runtime.wasmcloud.dev"].contains(&k.group) {
            assert!(
                covered.contains(&(k.api_version(), k.kind)),
                "{} {} has no upstream CRD to compare with",
                k.api_version(),
                k.kind
            );
        }
    }
}

/// The comparison itself finds what it is meant to find.
#[test]
fn the_comparison_reports_missing_properties_and_constraints() {
    let upstream = json!({
        "type": "object",
        "required": ["a"],
        "properties": {
            "a": {"type": "integer", "format": "int32", "minimum": 1},
            "b": {"type": "string", "pattern": "^x$", "default": "x"},
            "c": {"type": "array", "maxItems": 3, "items": {"type": "string"},
                  "x-kubernetes-validations": [{"rule": "true", "message": "m"}]},
            "d": {"type": "object", "additionalProperties": {"type": "string"}},
            "e": {"anyOf": [{"type": "integer"}, {"type": "string"}],
                  "x-kubernetes-int-or-string": true},
            "status": {"type": "object", "properties": {"x": {"type": "string"}}}
        }
    });
    let mine = json!({
        "type": "object",
        "properties": {
            "a": {"$ref": "#/$defs/A"},
            "b": {"if": {"type": "null"}, "else": {"type": "string"}},
            "c": {"type": "array", "maxItems": 5, "items": {"type": "string"}},
            "e": {"type": "string"},
            "status": {"type": "object", "additionalProperties": true}
        },
        "$defs": {"A": {"type": "integer", "minimum": 0}}
    });
    let mut problems = Vec::new();
    compare(&mine, &upstream, &mine, "", &mut problems);
    let lines: Vec<String> = problems.iter().map(|(p, w)| format!("{p}: {w}")).collect();
    assert_eq!(
        lines,
        vec![
            ": a is required upstream, optional here",
            "a: minimum 1 upstream, 0 here",
            "a: int32 range not enforced",
            "b: pattern ^x$ not enforced",
            "b: default \"x\" not declared",
            "c: maxItems 3 upstream, 5 here",
            "c: CEL rule \"m\" has no schema equivalent",
            ": property d is missing",
            "e: int-or-string not accepted",
        ]
    );
}
