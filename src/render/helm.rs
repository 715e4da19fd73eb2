//! `helm template` of a chart folder, as Argo CD renders one: the release
//! name, namespace, values files and inline values from the source's
//! settings, CRDs in `crds/` included, the Kubernetes version of the target
//! (else of the built-in schemas). Helm's homes point into a private
//! temporary folder, so no repository, registry login or plugin of the
//! user's is read; dependencies must be vendored in `charts/`.

use std::ffi::OsString;
use std::path::Path;

use serde_json::Value;

use crate::manifest::{Limits, yaml};

use super::HelmSettings;

/// The dependencies `Chart.yaml` in `chart` declares that `charts/` does
/// not hold (as a folder or an archive): `(name, repository)`.
pub fn missing_dependencies(chart: &Path, limits: &Limits) -> Vec<(String, String)> {
    let Ok(bytes) = crate::file::read(&chart.join("Chart.yaml")) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let (docs, _) = yaml::parse_stream(&text, limits);
    let Some(Value::Array(deps)) = docs.first().and_then(|d| d.value.get("dependencies")) else {
        return Vec::new();
    };
    let vendored: Vec<String> = std::fs::read_dir(chart.join("charts"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    deps.iter()
        .filter_map(|d| {
            let name = d.get("name").and_then(Value::as_str)?;
            let repo = d
                .get("repository")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let present = vendored.iter().any(|v| {
                v == name
                    || v.strip_prefix(name)
                        .and_then(|rest| rest.strip_prefix('-'))
                        .is_some_and(|rest| rest.ends_with(".tgz"))
            });
            (!present).then(|| (name.to_string(), repo.to_string()))
        })
        .collect()
}

/// The chart's name, from `Chart.yaml`: the first part of every `# Source:`
/// path Helm prints.
pub fn chart_name(chart: &Path, limits: &Limits) -> Option<String> {
    let bytes = crate::file::read(&chart.join("Chart.yaml")).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let (docs, _) = yaml::parse_stream(&text, limits);
    docs.first()?
        .value
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The arguments of `helm template` for `chart`, with inline values
/// written to `scratch`.
pub fn args(
    chart: &Path,
    settings: &HelmSettings,
    release: &str,
    namespace: &str,
    kube_version: &str,
    scratch: &Path,
) -> std::io::Result<Vec<OsString>> {
    let mut args: Vec<OsString> = vec![
        "template".into(),
        release.into(),
        chart.as_os_str().to_owned(),
        "--namespace".into(),
        namespace.into(),
        "--include-crds".into(),
        "--kube-version".into(),
        kube_version.into(),
    ];
    for file in &settings.value_files {
        args.push("--values".into());
        args.push(chart.join(file).into_os_string());
    }
    if let Some(values) = &settings.values {
        let path = scratch.join("values.json");
        std::fs::write(&path, serde_json::to_vec(values).unwrap_or_default())?;
        args.push("--values".into());
        args.push(path.into_os_string());
    }
    Ok(args)
}

/// Whether a rendered object is a `helm test` hook (`helm.sh/hook: test`),
/// which a GitOps sync leaves out, as Argo CD does: it is run by `helm
/// test`, not kept running.
pub fn is_test_hook(value: &Value) -> bool {
    value
        .pointer("/metadata/annotations/helm.sh~1hook")
        .and_then(Value::as_str)
        .is_some_and(|hooks| {
            hooks
                .split(',')
                .any(|h| matches!(h.trim(), "test" | "test-success"))
        })
}

/// Splits Helm's output into documents, each with the template path
/// (`chart/templates/x.yaml`) of the `# Source:` comment before it.
pub fn sources(text: &str, docs: &[yaml::Document]) -> Vec<Option<String>> {
    let mut marks: Vec<(usize, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(path) = line.strip_prefix("# Source: ") {
            marks.push((i + 1, path.trim().to_string()));
        }
    }
    docs.iter()
        .map(|d| {
            marks
                .iter()
                .rev()
                .find(|(line, _)| *line <= d.line)
                .map(|(_, p)| p.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_document_gets_the_source_comment_before_it() {
        let text = "---\n# Source: web/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n# Source: web/templates/dep.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n";
        let (docs, errors) = yaml::parse_stream(text, &Limits::default());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            sources(text, &docs),
            [
                Some("web/templates/svc.yaml".to_string()),
                Some("web/templates/dep.yaml".to_string())
            ]
        );
    }

    #[test]
    fn test_hooks_are_told_apart() {
        let hook = |h: &str| serde_json::json!({"metadata": {"annotations": {"helm.sh/hook": h}}});
        assert!(is_test_hook(&hook("test")));
        assert!(is_test_hook(&hook("pre-install, test-success")));
        assert!(!is_test_hook(&hook("pre-install")));
        assert!(!is_test_hook(&serde_json::json!({"kind": "Pod"})));
    }

    #[test]
    fn dependencies_not_in_charts_are_missing() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let chart = dir.path();
        std::fs::write(
            chart.join("Chart.yaml"),
            "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n- name: redis\n  repository: oci://registry.example/charts\n  version: 1.x\n- name: common\n  repository: https://charts.example\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir(chart.join("charts")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(chart.join("charts/common-2.1.0.tgz"), "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            missing_dependencies(chart, &Limits::default()),
            [(
                "redis".to_string(),
                "oci://registry.example/charts".to_string()
            )]
        );
        assert_eq!(
            chart_name(chart, &Limits::default()).as_deref(),
            Some("web")
        );
    }
}
