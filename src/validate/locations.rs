//! `--schemas`: local folders of JSON Schemas in the layouts people already
//! have, and kubeconform's `-schema-location` templates. Nothing is
//! fetched: a URL is refused.
//!
//! A folder is searched, for `apps/v1` `Deployment`, as:
//! - mooring's layout: `apps/v1/Deployment.json` (`core/v1/...` for the
//!   core group);
//! - kubeconform's: `deployment-apps-v1.json` (`configmap-v1.json` for the
//!   core group; the group's first label, as kubeconform writes it);
//! - the CRDs-catalog's: `apps/deployment_v1.json`.
//!
//! A template holds kubeconform's variables, `{{ .ResourceKind }}`,
//! `{{ .ResourceAPIVersion }}`, `{{ .Group }}`, `{{ .KindSuffix }}`,
//! `{{ .NormalizedKubernetesVersion }}` and `{{ .StrictSuffix }}`.

use std::path::{Path, PathBuf};

use super::ValidateError;

/// One `--schemas` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Folder(PathBuf),
    Template(String),
}

impl Location {
    /// Reads a `--schemas` value: a template when it holds `{{`, else a
    /// folder, which must exist.
    pub fn parse(text: &str) -> Result<Location, ValidateError> {
        let refuse = |message: String| ValidateError::ExtraSchema {
            path: PathBuf::from(text),
            message,
        };
        if text.contains("://") {
            return Err(refuse(
                "a URL: --schemas reads local folders only, nothing is fetched (download the \
                 schemas into a folder first)"
                    .to_string(),
            ));
        }
        if text.contains("{{") {
            return Ok(Location::Template(text.to_string()));
        }
        let path = PathBuf::from(text);
        if !path.is_dir() {
            return Err(refuse(
                "not a folder: give a folder of schemas, or a template such as \
                 'schemas/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'"
                    .to_string(),
            ));
        }
        Ok(Location::Folder(path))
    }

    /// The files this location would hold the schema of a kind in, in the
    /// order they are tried.
    pub fn candidates(&self, api_version: &str, kind: &str, vars: &Vars) -> Vec<PathBuf> {
        let (group, version) = crate::kinds::split_api_version(api_version);
        let lower = kind.to_lowercase();
        match self {
            Location::Folder(dir) => {
                let mooring_group = if group.is_empty() { "core" } else { group };
                let mut out = vec![
                    dir.join(mooring_group)
                        .join(version)
                        .join(format!("{kind}.json")),
                    dir.join(format!("{lower}{}.json", kind_suffix(api_version))),
                ];
                if !group.is_empty() {
                    out.push(dir.join(group).join(format!("{lower}_{version}.json")));
                }
                out
            }
            Location::Template(t) => {
                let mut path = t.clone();
                for (name, value) in [
                    ("ResourceKind", lower.as_str()),
                    ("ResourceAPIVersion", version),
                    ("Group", group),
                    ("KindSuffix", kind_suffix(api_version).as_str()),
                    (
                        "NormalizedKubernetesVersion",
                        vars.kubernetes_version.as_str(),
                    ),
                    ("StrictSuffix", if vars.strict { "-strict" } else { "" }),
                ] {
                    path = path
                        .replace(&format!("{{{{ .{name} }}}}"), value)
                        .replace(&format!("{{{{.{name}}}}}"), value);
                }
                vec![PathBuf::from(path)]
            }
        }
    }

    /// The first candidate file that exists.
    pub fn find(&self, api_version: &str, kind: &str, vars: &Vars) -> Option<PathBuf> {
        self.candidates(api_version, kind, vars)
            .into_iter()
            .find(|p| Path::is_file(p))
    }
}

/// What a template's other variables stand for.
#[derive(Debug, Clone)]
pub struct Vars {
    /// `v1.37.2`, as kubeconform normalises `-kubernetes-version`.
    pub kubernetes_version: String,
    /// Whether the `-strict` schema variants are wanted.
    pub strict: bool,
}

/// kubeconform's `KindSuffix`: `-<first label of the group>-<version>`, or
/// `-<version>` for the core group.
fn kind_suffix(api_version: &str) -> String {
    match api_version.split_once('/') {
        Some((group, version)) => {
            let first = group.split('.').next().unwrap_or(group);
            format!("-{}-{}", first.to_lowercase(), version.to_lowercase())
        }
        None => format!("-{}", api_version.to_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars {
            kubernetes_version: "v1.37.2".into(),
            strict: true,
        }
    }

    #[test]
    fn a_folder_is_searched_in_the_three_layouts() {
        let folder = Location::Folder(PathBuf::from("s"));
        let found: Vec<String> = folder
            .candidates("cert-manager.io/v1", "Certificate", &vars())
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            found,
            [
                "s/cert-manager.io/v1/Certificate.json",
                "s/certificate-cert-manager-v1.json",
                "s/cert-manager.io/certificate_v1.json",
            ]
        );
        let core: Vec<String> = folder
            .candidates("v1", "ConfigMap", &vars())
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(core, ["s/core/v1/ConfigMap.json", "s/configmap-v1.json"]);
    }

    #[test]
    fn templates_take_kubeconforms_variables() {
        let t = Location::parse(
            "k/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json",
        )
        .expect("template");
        assert_eq!(
            t.candidates("apps/v1", "Deployment", &vars()),
            [PathBuf::from(
                "k/v1.37.2-standalone-strict/deployment-apps-v1.json"
            )]
        );
        let catalog =
            Location::parse("c/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json")
                .expect("template");
        assert_eq!(
            catalog.candidates("monitoring.coreos.com/v1", "ServiceMonitor", &vars()),
            [PathBuf::from(
                "c/monitoring.coreos.com/servicemonitor_v1.json"
            )]
        );
    }

    #[test]
    fn urls_and_missing_folders_are_refused() {
        let url = Location::parse("https://raw.githubusercontent.com/x/{{.Group}}.json");
        assert!(url.unwrap_err().to_string().contains("nothing is fetched"));
        let missing = Location::parse("/no/such/folder/here");
        assert!(missing.unwrap_err().to_string().contains("not a folder"));
    }
}
