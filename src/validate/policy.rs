//! Rego policies, evaluated with regorus in the conftest convention.
//!
//! Every `*.rego` file under the policy directory is loaded (`*_test.rego`
//! files only for [`run_tests`]); every `*.json` file under its `data/`
//! folder is merged into `data`. For each manifest, with `input` set to the
//! manifest, mooring reads the sets `deny`, `violation` (errors) and `warn`
//! (warnings) of `package main` and `package mooring`, all in one
//! evaluation (a generated rule reads each), so helper rules they share are
//! computed once per manifest. A set element is a message string or an
//! object `{"msg", "policy", "field"}`.

use std::path::{Path, PathBuf};

use regorus::{Engine, Value as RegoValue};
use serde_json::Value;

use crate::finding::Severity;

/// Problems with the policies themselves (not with manifests).
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: invalid policy data: {message}")]
    Data { path: PathBuf, message: String },
    #[error("evaluating {rule}: {message}")]
    Eval { rule: String, message: String },
}

/// What a policy said about one manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyResult {
    pub severity: Severity,
    pub message: String,
    /// The policy's id (`policy` in an object result), else the rule path,
    /// e.g. `main.deny`.
    pub policy: String,
    /// Dotted field path (`spec.vcpu`), when the policy named one.
    pub field: Option<String>,
}

/// Loaded policies, ready to evaluate. Cloning is cheap enough to give each
/// worker thread its own engine.
#[derive(Clone)]
pub struct PolicySet {
    engine: Engine,
    /// Rule paths that exist, with the severity they produce.
    rules: Vec<(String, Severity)>,
    files: Vec<PathBuf>,
}

const PACKAGES: &[&str] = &["main", "mooring"];

/// The package of the rule that reads every conventional rule at once,
/// and that rule's path.
const BATCH_PACKAGE: &str = "mooring_internal_batch";
const BATCH_RULE: &str = "data.mooring_internal_batch.results";
const RULES: &[(&str, Severity)] = &[
    ("deny", Severity::Error),
    ("violation", Severity::Error),
    ("warn", Severity::Warning),
];

fn rego_files(dir: &Path, tests: bool) -> Result<Vec<PathBuf>, PolicyError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| PolicyError::Dir {
            path: d.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| PolicyError::Dir {
                path: d.clone(),
                source,
            })?;
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Some(name) = path.file_name().and_then(|n| n.to_str())
                && name.ends_with(".rego")
                && (tests || !name.ends_with("_test.rego"))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Adds one policy file; returns its package (`data.main`).
fn add_policy(engine: &mut Engine, path: &Path) -> Result<String, PolicyError> {
    let text = crate::file::read_to_string(path).map_err(|source| PolicyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path.display().to_string();
    engine.set_rego_v0(false);
    match engine.add_policy(name.clone(), text.clone()) {
        Ok(package) => Ok(package),
        Err(v1_error) => {
            // Not v1: accept it if it is valid v0 syntax (`deny[msg] { ... }`).
            engine.set_rego_v0(true);
            let v0 = engine.add_policy(name, text);
            engine.set_rego_v0(false);
            v0.map_err(|_| PolicyError::Parse {
                path: path.to_path_buf(),
                message: v1_error.to_string(),
            })
        }
    }
}

fn add_data(engine: &mut Engine, dir: &Path) -> Result<(), PolicyError> {
    let data_dir = dir.join("data");
    if !data_dir.is_dir() {
        return Ok(());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&data_dir)
        .map_err(|source| PolicyError::Dir {
            path: data_dir.clone(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for path in files {
        let text = crate::file::read_to_string(&path).map_err(|source| PolicyError::Read {
            path: path.clone(),
            source,
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|e| PolicyError::Data {
            path: path.clone(),
            message: e.to_string(),
        })?;
        engine
            .add_data(RegoValue::from(value))
            .map_err(|e| PolicyError::Data {
                path: path.clone(),
                message: e.to_string(),
            })?;
    }
    Ok(())
}

impl PolicySet {
    /// Loads every policy (tests excluded) and data file under `dir`.
    pub fn load(dir: &Path) -> Result<PolicySet, PolicyError> {
        let files = rego_files(dir, false)?;
        let mut engine = Engine::new();
        let mut rules: Vec<(String, Severity)> = Vec::new();
        for f in &files {
            let package = add_policy(&mut engine, f)?;
            if !PACKAGES.iter().any(|p| package == format!("data.{p}")) {
                continue;
            }
            // Which conventional rules this file declares, read from its rule
            // heads (evaluating them could fail, or be undefined, on `{}`).
            for (rule, severity) in RULES {
                let declared = engine
                    .has_declared_rule_rooted_at(&f.display().to_string(), rule)
                    .unwrap_or(false);
                let path = format!("{package}.{rule}");
                if declared && !rules.iter().any(|(r, _)| *r == path) {
                    rules.push((path, *severity));
                }
            }
        }
        add_data(&mut engine, dir)?;
        rules.sort_by(|a, b| a.0.cmp(&b.0));
        // One rule that reads every conventional rule, each as `[]` when
        // undefined or `[value]`: one evaluation per document, so helper
        // rules that several of them use are computed once.
        let batch = format!(
            "package {BATCH_PACKAGE}\n\nimport rego.v1\n\nresults := [\n{}]\n",
            rules
                .iter()
                .map(|(rule, _)| format!("\t[x | x := {rule}],\n"))
                .collect::<String>()
        );
        engine
            .add_policy(format!("{BATCH_PACKAGE}.rego"), batch)
            .map_err(|e| PolicyError::Parse {
                path: PathBuf::from(format!("{BATCH_PACKAGE}.rego")),
                message: e.to_string(),
            })?;
        Ok(PolicySet {
            engine,
            rules,
            files,
        })
    }

    /// The policy files loaded.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Evaluates every rule against one manifest.
    pub fn evaluate(&mut self, input: &Value) -> Result<Vec<PolicyResult>, PolicyError> {
        if self.rules.is_empty() {
            return Ok(Vec::new());
        }
        self.engine.set_input(RegoValue::from(input.clone()));
        let value =
            self.engine
                .eval_rule(BATCH_RULE.to_string())
                .map_err(|e| PolicyError::Eval {
                    rule: self
                        .rules
                        .iter()
                        .map(|(r, _)| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    message: e.to_string(),
                })?;
        // One entry per rule, always: anything else is never read as
        // "no findings".
        let values = match serde_json::to_value(&value).unwrap_or(Value::Null) {
            Value::Array(values) if values.len() == self.rules.len() => values,
            other => {
                return Err(PolicyError::Eval {
                    rule: BATCH_RULE.to_string(),
                    message: format!(
                        "expected one result for each of {} rules, got {other}",
                        self.rules.len()
                    ),
                });
            }
        };
        let mut out = Vec::new();
        for ((rule, severity), value) in self.rules.iter().zip(values) {
            let json = match value {
                Value::Array(mut defined) if !defined.is_empty() => defined.swap_remove(0),
                _ => Value::Null,
            };
            let items = match json {
                Value::Array(items) => items,
                Value::Null => Vec::new(),
                other => vec![other],
            };
            let default_policy = rule.trim_start_matches("data.").to_string();
            for item in items {
                out.push(result_from(item, *severity, &default_policy));
            }
        }
        Ok(out)
    }
}

fn result_from(item: Value, severity: Severity, default_policy: &str) -> PolicyResult {
    match item {
        Value::String(message) => PolicyResult {
            severity,
            message,
            policy: default_policy.to_string(),
            field: None,
        },
        Value::Object(map) => {
            let text = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_string);
            PolicyResult {
                severity,
                message: text("msg")
                    .or_else(|| text("message"))
                    .unwrap_or_else(|| Value::Object(map.clone()).to_string()),
                policy: text("policy").unwrap_or_else(|| default_policy.to_string()),
                field: text("field").filter(|f| !f.is_empty()),
            }
        }
        other => PolicyResult {
            severity,
            message: other.to_string(),
            policy: default_policy.to_string(),
            field: None,
        },
    }
}

/// One `test_*` rule's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    pub file: PathBuf,
    /// `data.<package>.<rule>`.
    pub rule: String,
    /// `None` when the rule evaluated to true; else why it failed.
    pub failure: Option<String>,
}

/// Runs the `test_*` rules of every `*_test.rego` under `dir`, with all
/// policies and data loaded, as `opa test` would.
pub fn run_tests(dir: &Path) -> Result<Vec<TestOutcome>, PolicyError> {
    let files = rego_files(dir, true)?;
    let mut engine = Engine::new();
    for f in &files {
        add_policy(&mut engine, f)?;
    }
    add_data(&mut engine, dir)?;
    let mut outcomes = Vec::new();
    for file in files
        .iter()
        .filter(|f| f.to_string_lossy().ends_with("_test.rego"))
    {
        let text = crate::file::read_to_string(file).map_err(|source| PolicyError::Read {
            path: file.clone(),
            source,
        })?;
        let package = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("package "))
            .map(|p| p.trim().to_string())
            .unwrap_or_default();
        let mut names: Vec<String> = text
            .lines()
            .filter_map(|l| {
                let name: String = l
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                name.starts_with("test_").then_some(name)
            })
            .collect();
        names.dedup();
        for name in names {
            let rule = format!("data.{package}.{name}");
            engine.set_input(RegoValue::new_object());
            let failure = match engine.eval_rule(rule.clone()) {
                Ok(RegoValue::Bool(true)) => None,
                Ok(RegoValue::Undefined) => Some("undefined (a condition did not hold)".into()),
                Ok(other) => Some(format!("evaluated to {other}, not true")),
                Err(e) => Some(e.to_string()),
            };
            outcomes.push(TestOutcome {
                file: file.clone(),
                rule,
                failure,
            });
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn v1_and_v0_policies_and_data_are_evaluated() {
        let dir = dir_with(&[
            (
                "v1.rego",
                "package main\ndeny contains {\"msg\": \"too many\", \"policy\": \"cap\", \"field\": \"spec.n\"} if input.spec.n > data.limits.n\nwarn contains \"careful\" if input.spec.n > 1\n",
            ),
            (
                "v0.rego",
                "package mooring\nviolation[msg] { input.kind == \"Bad\"; msg := \"bad kind\" }\n",
            ),
            ("data/limits.json", "{\"limits\": {\"n\": 2}}"),
        ]);
        let mut set = PolicySet::load(dir.path()).unwrap();
        let results = set
            .evaluate(&serde_json::json!({"kind": "Bad", "spec": {"n": 3}}))
            .unwrap();
        assert_eq!(
            results,
            vec![
                PolicyResult {
                    severity: Severity::Error,
                    message: "too many".into(),
                    policy: "cap".into(),
                    field: Some("spec.n".into())
                },
                PolicyResult {
                    severity: Severity::Warning,
                    message: "careful".into(),
                    policy: "main.warn".into(),
                    field: None
                },
                PolicyResult {
                    severity: Severity::Error,
                    message: "bad kind".into(),
                    policy: "mooring.violation".into(),
                    field: None
                },
            ]
        );
        assert!(
            set.evaluate(&serde_json::json!({"spec": {"n": 1}}))
                .unwrap()
                .is_empty()
        );
    }

    /// All rules are read in one evaluation per document: a complete rule
    /// undefined for one document says nothing, and a rule that fails as
    /// it is evaluated (two values for one complete rule) is an error,
    /// never a silent pass.
    #[test]
    fn undefined_rules_say_nothing_and_failing_ones_are_errors() {
        let dir = dir_with(&[
            (
                "one.rego",
                "package main\ndeny := \"no name\" if not input.metadata.name\n",
            ),
            (
                "two.rego",
                "package mooring\nwarn contains \"w\" if input.kind == \"W\"\nviolation := 1 if input.kind == \"Both\"\nviolation := 2 if input.kind == \"Both\"\n",
            ),
        ]);
        let mut set = PolicySet::load(dir.path()).unwrap();
        let named = serde_json::json!({"kind": "W", "metadata": {"name": "a"}});
        let results = set.evaluate(&named).unwrap();
        assert_eq!(
            results
                .iter()
                .map(|r| (r.policy.as_str(), r.message.as_str()))
                .collect::<Vec<_>>(),
            vec![("mooring.warn", "w")]
        );
        let results = set.evaluate(&serde_json::json!({"kind": "X"})).unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].message, "no name");
        assert_eq!(results[0].severity, Severity::Error);
        let err = set
            .evaluate(&serde_json::json!({"kind": "Both", "metadata": {"name": "a"}}))
            .expect_err("a conflict is an error");
        assert!(err.to_string().contains("data.mooring.violation"), "{err}");
    }

    #[test]
    fn a_broken_policy_names_its_file() {
        let dir = dir_with(&[("bad.rego", "package main\ndeny contains if {\n")]);
        let err = PolicySet::load(dir.path()).err().unwrap().to_string();
        assert!(err.contains("bad.rego"), "{err}");
    }

    #[test]
    fn tests_pass_and_fail() {
        let dir = dir_with(&[
            ("p.rego", "package main\ndeny contains \"x\" if input.x\n"),
            (
                "p_test.rego",
                "package main\ntest_denies if { count(deny) == 1 with input as {\"x\": true} }\ntest_wrong if { count(deny) == 5 with input as {\"x\": true} }\n",
            ),
        ]);
        let outcomes = run_tests(dir.path()).unwrap();
        assert_eq!(outcomes.len(), 2);
        assert_eq!(outcomes[0].rule, "data.main.test_denies");
        assert_eq!(outcomes[0].failure, None);
        assert!(outcomes[1].failure.is_some());
    }
}
