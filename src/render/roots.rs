//! Which folders of a source are rendered, and by what.
//!
//! A folder holding a kustomization (`kustomization.yaml`,
//! `kustomization.yml`, `Kustomization`) is rendered by Kustomize; one
//! holding `Chart.yaml` by Helm (a folder with both is a chart). Every
//! file under a rendered folder belongs to its render and is not also read
//! as a plain manifest: nested kustomizations, a chart's templates and its
//! `charts/`. A kustomization that another one names (as a resource, base
//! or component) is rendered as part of it, not on its own: `validate
//! apps/` renders the overlays, each with its base, not the base alone.
//! The source's `render.paths` rules say `none` (read as written),
//! `kustomize` or `helm` for a folder and what is under it.

use serde_json::Value;

use crate::manifest::{Limits, SourceFile, yaml};
use crate::source::checkout::{CHART_NAME, KUSTOMIZATION_NAMES, parent};

use super::{Mode, PathRule};

/// The tool a folder is rendered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tool {
    Kustomize,
    Helm,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Kustomize => "kustomize",
            Tool::Helm => "helm",
        }
    }
}

/// A folder to render.
#[derive(Debug, Clone)]
pub struct Root {
    pub tool: Tool,
    /// The folder as findings show it (a source's `path` form).
    pub dir: String,
    /// The folder relative to the source's root, as rules name it.
    pub rel: String,
    /// The file that made it one (kustomization or `Chart.yaml`), as shown.
    pub marker: String,
    /// Index of the source's rule that applies, if any.
    pub rule: Option<usize>,
}

/// The folders to render, which files they consume, and problems with the
/// rules.
#[derive(Debug, Default)]
pub struct Found {
    /// Rendered on their own, sorted by folder.
    pub roots: Vec<Root>,
    /// For each of the source's files: whether a render reads it, so it is
    /// not also read as written.
    pub consumed: Vec<bool>,
    /// Rules that name a folder with nothing of their kind.
    pub unmatched: Vec<(usize, String)>,
}

fn under(path: &str, dir: &str) -> bool {
    dir.is_empty() || path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// The rule for a folder: the one naming it or its nearest ancestor.
fn rule_for(rules: &[PathRule], rel_dir: &str) -> Option<usize> {
    rules
        .iter()
        .enumerate()
        .filter(|(_, r)| under(rel_dir, r.path.trim_matches('/')))
        .max_by_key(|(_, r)| r.path.trim_matches('/').len())
        .map(|(i, _)| i)
}

/// Finds what to render among `files`.
pub fn find(files: &[SourceFile], rules: &[PathRule], limits: &Limits) -> Found {
    let mut candidates: Vec<Root> = Vec::new();
    for file in files {
        let name = file.path.rsplit('/').next().unwrap_or_default();
        let tool = if name == CHART_NAME {
            Tool::Helm
        } else if KUSTOMIZATION_NAMES.contains(&name) {
            Tool::Kustomize
        } else {
            continue;
        };
        let dir = parent(&file.path).to_string();
        let rel = parent(&file.rel).to_string();
        let rule = rule_for(rules, &rel);
        let mode = rule.map_or(Mode::Auto, |i| rules[i].render);
        let wanted = match mode {
            Mode::None => false,
            Mode::Auto => true,
            Mode::Kustomize => tool == Tool::Kustomize,
            Mode::Helm => tool == Tool::Helm,
        };
        if !wanted {
            continue;
        }
        match candidates.iter_mut().find(|c| c.dir == dir) {
            // A chart wins over a kustomization in the same folder; two
            // kustomization names are Kustomize's own error to report.
            Some(c) if tool == Tool::Helm => {
                c.tool = Tool::Helm;
                c.marker = file.path.clone();
            }
            Some(_) => {}
            None => candidates.push(Root {
                tool,
                dir,
                rel,
                marker: file.path.clone(),
                rule,
            }),
        }
    }
    candidates.sort_by(|a, b| a.dir.cmp(&b.dir));
    // Outermost only: a folder under a rendered one is part of it.
    let mut outer: Vec<Root> = Vec::new();
    for c in candidates {
        if !outer
            .iter()
            .any(|o| o.dir != c.dir && under(&c.dir, &o.dir))
        {
            outer.push(c);
        }
    }
    // Kustomizations another one names are rendered through it, and a
    // Component only through one that names it.
    let named: Vec<String> = outer
        .iter()
        .filter(|r| r.tool == Tool::Kustomize)
        .flat_map(|r| {
            files
                .iter()
                .find(|f| f.path == r.marker)
                .map(|f| references(f, limits))
                .unwrap_or_default()
                .into_iter()
                .map(|entry| super::join_shown("", &super::join_shown(&r.dir, &entry)))
        })
        .collect();
    let consumed = files
        .iter()
        .map(|f| outer.iter().any(|r| under(parent(&f.path), &r.dir)))
        .collect();
    let unmatched = rules
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.render, Mode::Kustomize | Mode::Helm))
        .filter(|(i, _)| !outer.iter().any(|o| o.rule == Some(*i)))
        .map(|(i, r)| (i, r.path.clone()))
        .collect();
    let roots = outer
        .into_iter()
        .filter(|r| !named.contains(&super::join_shown("", &r.dir)))
        .filter(|r| {
            r.tool != Tool::Kustomize
                || !files
                    .iter()
                    .find(|f| f.path == r.marker)
                    .is_some_and(|f| is_component(f, limits))
        })
        .collect();
    Found {
        roots,
        consumed,
        unmatched,
    }
}

/// Whether a kustomization file is a Kustomize `Component`, which is
/// built only as part of a kustomization naming it.
fn is_component(file: &SourceFile, limits: &Limits) -> bool {
    let text = String::from_utf8_lossy(&file.bytes);
    let (docs, _) = yaml::parse_stream(&text, limits);
    docs.first()
        .and_then(|d| d.value.get("kind"))
        .and_then(Value::as_str)
        == Some("Component")
}

/// The local entries a kustomization names under `resources`, `bases` and
/// `components`.
pub fn references(file: &SourceFile, limits: &Limits) -> Vec<String> {
    let text = String::from_utf8_lossy(&file.bytes);
    let (docs, _) = yaml::parse_stream(&text, limits);
    let mut out = Vec::new();
    for doc in docs {
        for key in ["resources", "bases", "components"] {
            if let Some(Value::Array(items)) = doc.value.get(key) {
                out.extend(items.iter().filter_map(Value::as_str).map(str::to_string));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile {
            path: format!("repo/{path}"),
            rel: path.to_string(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn overlays_are_rendered_with_their_base_and_charts_own_their_files() {
        let files = [
            file("apps/base/kustomization.yaml", "resources: [dep.yaml]\n"),
            file("apps/base/dep.yaml", "kind: Deployment\n"),
            file("apps/prod/kustomization.yaml", "resources: [../base]\n"),
            file("apps/prod/nested/kustomization.yaml", "resources: []\n"),
            file("charts/web/Chart.yaml", "name: web\n"),
            file("charts/web/templates/a.yaml", "kind: {{ .x }}\n"),
            file("plain/cm.yaml", "kind: ConfigMap\n"),
            file("legacy/kustomization.yaml", "resources: [a.yaml]\n"),
            file("legacy/a.yaml", "kind: ConfigMap\n"),
            file("parts/kustomization.yaml", "kind: Component\n"),
        ];
        let rules = [
            PathRule {
                path: "legacy".into(),
                render: Mode::None,
                helm: Default::default(),
            },
            PathRule {
                path: "nothing/here".into(),
                render: Mode::Helm,
                helm: Default::default(),
            },
        ];
        let found = find(&files, &rules, &Limits::default());
        let roots: Vec<(&str, Tool)> = found
            .roots
            .iter()
            .map(|r| (r.dir.as_str(), r.tool))
            .collect();
        assert_eq!(
            roots,
            [
                ("repo/apps/prod", Tool::Kustomize),
                ("repo/charts/web", Tool::Helm)
            ]
        );
        assert_eq!(
            found.consumed,
            [
                true, true, true, true, true, true, false, false, false, true
            ]
        );
        assert_eq!(found.unmatched, [(1, "nothing/here".to_string())]);
    }

    #[test]
    fn a_base_named_from_a_folder_shown_as_dot_is_still_named() {
        let file = |path: &str, text: &str| SourceFile {
            path: format!("./{path}"),
            rel: path.to_string(),
            bytes: text.as_bytes().to_vec(),
        };
        let files = [
            file("base/kustomization.yaml", "resources: [a.yaml]\n"),
            file("prod/kustomization.yaml", "resources: [../base]\n"),
        ];
        let found = find(&files, &[], &Limits::default());
        let roots: Vec<&str> = found.roots.iter().map(|r| r.dir.as_str()).collect();
        assert_eq!(roots, ["./prod"]);
    }
}
