//! The built-in Kubernetes kinds: every kind the pinned Kubernetes release
//! serves that a repository can hold (Deployment, Service, ClusterRole,
//! CustomResourceDefinition, ...), with its scope and JSON Schema.
//!
//! The table is generated, never written by hand: [`generate`] turns the
//! real API server's discovery and `/openapi/v3` documents into
//! `schemas/kubernetes/builtin.json` (`mooring schemas --from-cluster`,
//! run on the project's test server by `scripts/builtin-schemas`). The
//! binary embeds that file; it is parsed on first use, and a kind's schema
//! is cut from it (the definitions it reaches, [`openapi::self_contained`])
//! only when an object of that kind is validated.
//!
//! The file carries the SHA-256 of its content, so `mooring schemas
//! --check` notices a hand edit, and `tests/builtin_schemas.rs` compares it
//! with what the running test server serves.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{Scope, openapi};

/// Where the table lives, relative to the schema folder.
pub const FILE: &str = "kubernetes/builtin.json";

/// The table this binary was built with.
pub const EMBEDDED: &str = include_str!("../../schemas/kubernetes/builtin.json");

/// One built-in kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builtin {
    /// API group; empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// `Namespaced` or `Cluster`, as discovery says.
    pub scope: Scope,
    /// The OpenAPI definition of the kind, e.g. `io.k8s.api.apps.v1.Deployment`.
    pub definition: String,
}

impl Builtin {
    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        super::api_version(&self.group, &self.version)
    }
}

/// The parsed table.
#[derive(Debug)]
pub struct Table {
    /// The release the schemas come from, e.g. `v1.37.2`.
    pub server: String,
    pub kinds: Vec<Builtin>,
    defs: Map<String, Value>,
}

impl Table {
    /// Looks a kind up by `apiVersion` and `kind`, as written in a manifest.
    pub fn find(&self, api_version: &str, kind: &str) -> Option<&Builtin> {
        let (group, version) = super::split_api_version(api_version);
        self.kinds
            .iter()
            .find(|k| k.kind == kind && k.version == version && k.group == group)
    }

    /// The kind's self-contained JSON Schema.
    pub fn schema(&self, kind: &Builtin) -> Value {
        openapi::self_contained(&kind.definition, &self.defs)
    }
}

/// Why a table cannot be made or read.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Shape(String),
    #[error(
        "its content does not match its sha256 (edited by hand?): regenerate it with \
         scripts/builtin-schemas"
    )]
    Digest,
}

/// The embedded table is compiled in, and its digest checked by the tests
/// (`the_embedded_table_matches_its_digest`) and `mooring schemas --check`:
/// it is not hashed again at each start, where that took more time than
/// reading it.
static TABLE: LazyLock<Result<Table, String>> = LazyLock::new(|| {
    read(EMBEDDED, TableDigest::Trusted).map_err(|e| format!("{FILE} (embedded): {e}"))
});

/// The embedded table, parsed on first use.
pub fn table() -> Result<&'static Table, &'static str> {
    TABLE.as_ref().map_err(String::as_str)
}

/// Looks a built-in kind up; `None` for an unknown kind (or, which tests
/// rule out, an unreadable embedded table).
pub fn find(api_version: &str, kind: &str) -> Option<&'static Builtin> {
    table().ok()?.find(api_version, kind)
}

/// Reads a table file, checking its digest.
pub fn parse(text: &str) -> Result<Table, TableError> {
    read(text, TableDigest::Checked)
}

/// Whether [`read`] checks a table's digest.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TableDigest {
    Checked,
    /// The embedded table, checked by the tests.
    Trusted,
}

fn read(text: &str, digest_is: TableDigest) -> Result<Table, TableError> {
    let value: Value = serde_json::from_str(text)?;
    let shape = |what: &str| TableError::Shape(format!("{what} is missing or malformed"));
    let server = value
        .get("server")
        .and_then(Value::as_str)
        .ok_or_else(|| shape("server"))?
        .to_string();
    let digest = value
        .get("sha256")
        .and_then(Value::as_str)
        .ok_or_else(|| shape("sha256"))?;
    let kinds_value = value.get("kinds").ok_or_else(|| shape("kinds"))?;
    let defs = value
        .get("$defs")
        .and_then(Value::as_object)
        .ok_or_else(|| shape("$defs"))?;
    if digest_is == TableDigest::Checked && digest != content_digest(&server, kinds_value, defs) {
        return Err(TableError::Digest);
    }
    let mut kinds = Vec::new();
    for k in kinds_value.as_array().ok_or_else(|| shape("kinds"))? {
        let field = |name: &str| {
            k.get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| shape(&format!("kinds[].{name}")))
        };
        let api_version = field("apiVersion")?;
        let (group, version) = super::split_api_version(&api_version);
        let (group, version) = (group.to_string(), version.to_string());
        let scope = match field("scope")?.as_str() {
            "Namespaced" => Scope::Namespaced,
            "Cluster" => Scope::Cluster,
            other => return Err(TableError::Shape(format!("unknown scope {other}"))),
        };
        let definition = field("definition")?;
        if !defs.contains_key(&definition) {
            return Err(TableError::Shape(format!(
                "definition {definition} is not in $defs"
            )));
        }
        kinds.push(Builtin {
            group,
            version,
            kind: field("kind")?,
            scope,
            definition,
        });
    }
    Ok(Table {
        server,
        kinds,
        defs: defs.clone(),
    })
}

fn content_digest(server: &str, kinds: &Value, defs: &Map<String, Value>) -> String {
    let content = json!({"server": server, "kinds": kinds, "$defs": defs});
    let canonical = serde_json::to_string(&super::schema::sort_keys(content)).unwrap_or_default();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// One resource a discovery document lists (subresources left out).
pub struct Resource<'a> {
    pub kind: &'a str,
    pub scope: Scope,
    pub verbs: BTreeSet<&'a str>,
}

/// The resources of a discovery document (`APIResourceList`), without
/// subresources such as `deployments/scale`.
pub fn resources(discovery: &Value) -> impl Iterator<Item = Resource<'_>> {
    discovery
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let name = r.get("name").and_then(Value::as_str)?;
            if name.contains('/') {
                return None;
            }
            Some(Resource {
                kind: r.get("kind").and_then(Value::as_str)?,
                scope: if r.get("namespaced") == Some(&Value::Bool(true)) {
                    Scope::Namespaced
                } else {
                    Scope::Cluster
                },
                verbs: openapi::str_items(r.get("verbs")).into_iter().collect(),
            })
        })
}

/// The OpenAPI component whose `x-kubernetes-group-version-kind` names the
/// kind.
pub fn definition_of(
    components: &Map<String, Value>,
    group: &str,
    version: &str,
    kind: &str,
) -> Option<String> {
    let gvk = json!({"group": group, "version": version, "kind": kind});
    components.iter().find_map(|(name, schema)| {
        schema
            .get("x-kubernetes-group-version-kind")
            .and_then(Value::as_array)
            .is_some_and(|list| list.contains(&gvk))
            .then(|| name.clone())
    })
}

/// What the generator reads from a server: its version, and per group
/// version its discovery document (`/api/v1`, `/apis/<group>/<version>`)
/// and its `/openapi/v3/...` document.
#[derive(Debug, Default)]
pub struct Served {
    /// `gitVersion` from `/version`.
    pub server: String,
    /// (APIResourceList, OpenAPI v3 document as JSON text) per group
    /// version. A document is parsed only while it is read
    /// ([`Served::each`]): parsed, all of a server's take several times
    /// their text's 7 MB.
    pub group_versions: Vec<(Value, Vec<u8>)>,
}

impl Served {
    /// Each group version's discovery document and its parsed OpenAPI
    /// document, one at a time.
    pub fn each(&self) -> impl Iterator<Item = (&Value, Result<Value, serde_json::Error>)> {
        self.group_versions
            .iter()
            .map(|(discovery, text)| (discovery, serde_json::from_slice(text)))
    }
}

/// Makes the table file's text from what a server serves: every resource
/// that can be created and read (not a subresource, not a review such as
/// TokenReview that is never stored), with its scope and schema.
pub fn generate(served: &Served) -> Result<String, TableError> {
    let mut components = Map::new();
    let mut kinds: Vec<(String, String, &'static str, String)> = Vec::new();
    for (discovery, document) in served.each() {
        let document = document
            .map_err(|e| TableError::Shape(format!("an OpenAPI document does not parse: {e}")))?;
        let group_version = discovery
            .get("groupVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| TableError::Shape("a discovery document has no groupVersion".into()))?;
        let (group, version) = super::split_api_version(group_version);
        let schemas = document
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .ok_or_else(|| {
                TableError::Shape(format!(
                    "the OpenAPI document of {group_version} has no components"
                ))
            })?;
        for resource in resources(discovery) {
            if !resource.verbs.contains("create") || !resource.verbs.contains("get") {
                continue;
            }
            let kind = resource.kind;
            let scope = match resource.scope {
                Scope::Namespaced => "Namespaced",
                _ => "Cluster",
            };
            let Some(definition) = definition_of(schemas, group, version, kind) else {
                return Err(TableError::Shape(format!(
                    "no OpenAPI definition for {group_version} {kind}"
                )));
            };
            kinds.push((
                group_version.to_string(),
                kind.to_string(),
                scope,
                definition,
            ));
        }
        for (name, schema) in schemas {
            components
                .entry(name.clone())
                .or_insert_with(|| schema.clone());
        }
    }
    kinds.sort();
    kinds.dedup();
    let converted = openapi::convert_components(&components);
    let mut needed = BTreeSet::new();
    for (_, _, _, definition) in &kinds {
        needed.extend(openapi::closure(definition, &converted));
    }
    let defs: Map<String, Value> = converted
        .into_iter()
        .filter(|(name, _)| needed.contains(name))
        .collect();
    let kinds = Value::Array(
        kinds
            .into_iter()
            .map(|(api_version, kind, scope, definition)| {
                json!({"apiVersion": api_version, "kind": kind, "scope": scope, "definition": definition})
            })
            .collect(),
    );
    let digest = content_digest(&served.server, &kinds, &defs);
    let file = json!({
        "comment": format!(
            "Generated from kube-apiserver {}'s discovery and /openapi/v3 by `mooring schemas \
             --from-cluster` (scripts/builtin-schemas). Do not edit: `mooring schemas --check` \
             compares the content with sha256.",
            served.server
        ),
        "server": served.server,
        "sha256": digest,
        "kinds": kinds,
        "$defs": defs,
    });
    let mut text = serde_json::to_string_pretty(&super::schema::sort_keys(file))?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_table_reads_and_knows_the_everyday_kinds() {
        let table = table().expect("embedded table");
        for (api_version, kind, scope) in [
            ("apps/v1", "Deployment", Scope::Namespaced),
            ("v1", "Service", Scope::Namespaced),
            ("v1", "Namespace", Scope::Cluster),
            (
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
                Scope::Cluster,
            ),
            (
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                Scope::Cluster,
            ),
            ("networking.k8s.io/v1", "Ingress", Scope::Namespaced),
        ] {
            let k = table
                .find(api_version, kind)
                .unwrap_or_else(|| panic!("{api_version} {kind}"));
            assert_eq!(k.scope, scope, "{kind}");
        }
        // Reviews are never stored, subresources are not kinds.
        assert!(
            table
                .find("authentication.k8s.io/v1", "TokenReview")
                .is_none()
        );
        assert!(table.find("v1", "Binding").is_none());
        let schema = table.schema(table.find("apps/v1", "Deployment").expect("Deployment"));
        let defs = schema["$defs"].as_object().expect("defs");
        assert!(defs.contains_key("io.k8s.api.core.v1.PodSpec"));
        assert!(!defs.contains_key("io.k8s.api.rbac.v1.ClusterRole"));
    }

    #[test]
    fn the_embedded_table_matches_its_digest() {
        assert!(parse(EMBEDDED).is_ok());
    }

    #[test]
    fn a_hand_edit_is_noticed() {
        let edited = EMBEDDED.replacen("\"Deployment\"", "\"Deploymnet\"", 1);
        assert!(matches!(parse(&edited), Err(TableError::Digest)));
    }
}
