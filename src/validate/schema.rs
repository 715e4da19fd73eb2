//! The schema helpers validation and translation share: compiling a kind
//! schema with mooring's formats, and turning a schema error into messages a
//! person can act on. `translate` checks the `MicroVM`s it makes with these,
//! exactly as [`Validator`](super::Validator) checks a hand-written one;
//! neither module calls the other.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::Location;
use jsonschema::{Keyword, ValidationError, Validator as Compiled};
use serde_json::{Map, Value};

use crate::finding::Severity;
use crate::kinds::{formats, openapi};
use crate::manifest::type_name;

/// Compiles a kind schema with mooring's formats and keywords (draft
/// 2020-12).
pub fn compile(schema: &Value) -> Result<Compiled, String> {
    let mut opts = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .with_keyword(openapi::LIST_MAP, list_map);
    for f in formats::formats() {
        opts = opts.with_format(f.name, f.check);
    }
    opts.build(schema).map_err(|e| e.to_string())
}

/// `x-kubernetes-list-type: map`: no two entries may have the same values
/// for the list's keys (a missing key counts as its default), which is
/// what server-side apply refuses as "duplicate entries for key".
struct ListMap {
    keys: Vec<String>,
    defaults: Map<String, Value>,
}

fn list_map<'a>(
    _parent: &'a Map<String, Value>,
    value: &'a Value,
    _path: Location,
) -> Result<Box<dyn for<'i> Keyword<'i>>, ValidationError<'a>> {
    let keys = openapi::str_items(value.get("keys"))
        .into_iter()
        .map(str::to_string)
        .collect();
    let defaults = value
        .get("defaults")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    Ok(Box::new(ListMap { keys, defaults }))
}

impl ListMap {
    fn key_of(&self, item: &Value) -> Vec<Value> {
        self.keys
            .iter()
            .map(|k| {
                item.get(k)
                    .or_else(|| self.defaults.get(k))
                    .cloned()
                    .unwrap_or(Value::Null)
            })
            .collect()
    }

    /// The first entry that repeats an earlier one's keys: (earlier, later).
    fn duplicate(&self, items: &[Value]) -> Option<(usize, usize)> {
        let mut seen: Vec<Vec<Value>> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let key = self.key_of(item);
            if let Some(first) = seen.iter().position(|k| *k == key) {
                return Some((first, i));
            }
            seen.push(key);
        }
        None
    }
}

impl<'i> Keyword<'i> for ListMap {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        let Some(items) = instance.as_array() else {
            return Ok(());
        };
        match self.duplicate(items) {
            None => Ok(()),
            Some((first, later)) => {
                let key: Vec<String> = self
                    .keys
                    .iter()
                    .zip(self.key_of(&items[later]))
                    .map(|(k, v)| format!("{k}={}", short(&v)))
                    .collect();
                Err(ValidationError::custom(format!(
                    "entries {first} and {later} have the same key ({}): server-side apply \
                     refuses duplicate entries; merge them or remove one",
                    key.join(", ")
                )))
            }
        }
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        instance
            .as_array()
            .is_none_or(|items| self.duplicate(items).is_none())
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// Turns one schema error into (pointer, severity, message) items a person
/// can act on: one per unknown field, the missing field's own path for
/// `required`, the format's explanation instead of its name, and the one
/// meaningful branch of an `anyOf` that only adds `null`.
pub fn describe(
    e: &ValidationError<'_>,
    strict: bool,
    secret: &dyn Fn(&str) -> bool,
) -> Vec<(String, Severity, String)> {
    let pointer = e.instance_path().as_str().to_string();
    let instance = e.instance();
    // A secret's value never appears in a message.
    let hidden = secret(&pointer);
    let shown = |v: &Value| {
        if hidden {
            "the value".to_string()
        } else {
            short(v)
        }
    };
    let error = |message: String| vec![(pointer.clone(), Severity::Error, message)];
    match e.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => unexpected
            .iter()
            .map(|key| {
                let severity = if strict {
                    Severity::Error
                } else {
                    Severity::Warning
                };
                (
                    format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1")),
                    severity,
                    if strict {
                        "unknown field (use --strict=false to only warn)".to_string()
                    } else {
                        "unknown field".to_string()
                    },
                )
            })
            .collect(),
        ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| property.to_string());
            vec![(
                format!("{pointer}/{}", name.replace('~', "~0").replace('/', "~1")),
                Severity::Error,
                "required field is missing".to_string(),
            )]
        }
        ValidationErrorKind::Type { kind } => {
            let types: Vec<String> = match kind {
                TypeKind::Single(t) => vec![t.to_string()],
                TypeKind::Multiple(set) => set.into_iter().map(|t| t.to_string()).collect(),
            };
            // `null` is "absent" for optional fields: not worth suggesting.
            let expected: Vec<&str> = types
                .iter()
                .filter(|t| t.as_str() != "null")
                .map(|t| match t.as_str() {
                    "object" => "a mapping",
                    "array" => "a list",
                    "string" => "a string",
                    "integer" => "an integer",
                    "number" => "a number",
                    "boolean" => "a boolean",
                    other => other,
                })
                .collect();
            let found = if hidden {
                type_name(instance).to_string()
            } else {
                format!("{} {}", type_name(instance), shown(instance))
            };
            error(format!("expected {}, found {found}", expected.join(" or ")))
        }
        ValidationErrorKind::Format { format } => {
            let expected = formats::format_expected(format)
                .map(str::to_string)
                .unwrap_or_else(|| format!("a valid {format}"));
            error(format!("{} is not {expected}", shown(instance)))
        }
        ValidationErrorKind::Pattern { pattern } => match formats::pattern_expected(pattern) {
            Some(expected) => error(format!("{} is not {expected}", shown(instance))),
            None => error(format!("{} does not match {pattern}", shown(instance))),
        },
        ValidationErrorKind::Enum { options } => {
            let list = match options.as_ref() {
                Value::Array(items) => items.iter().map(short).collect::<Vec<_>>().join(", "),
                other => shown(other),
            };
            error(format!("{} is not one of {list}", shown(instance)))
        }
        ValidationErrorKind::Constant { expected_value } => error(format!(
            "must be {}, found {}",
            shown(expected_value),
            shown(instance)
        )),
        ValidationErrorKind::Minimum { limit } => error(format!(
            "{} is below the minimum of {limit}",
            shown(instance)
        )),
        ValidationErrorKind::Maximum { limit } => error(format!(
            "{} is above the maximum of {limit}",
            shown(instance)
        )),
        ValidationErrorKind::MinItems { limit } => {
            error(format!("must have at least {limit} item(s)"))
        }
        ValidationErrorKind::MaxItems { limit } => {
            error(format!("must have at most {limit} item(s)"))
        }
        ValidationErrorKind::MinLength { limit } => {
            error(format!("must be at least {limit} character(s) long"))
        }
        ValidationErrorKind::MaxLength { limit } => {
            error(format!("must be at most {limit} character(s) long"))
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // Drop branches that failed only on the value's type (the `null`
            // of an Option, the integer side of int-or-string): what is left
            // is the branch the author meant.
            let meant: Vec<&Vec<ValidationError<'static>>> = context
                .iter()
                .filter(|branch| {
                    !branch.iter().all(|b| {
                        matches!(b.kind(), ValidationErrorKind::Type { .. })
                            && b.instance_path().as_str() == pointer
                    })
                })
                .collect();
            if meant.len() == 1 {
                meant[0]
                    .iter()
                    .flat_map(|b| describe(b, strict, secret))
                    .collect()
            } else {
                error(format!(
                    "{} does not match any allowed form",
                    shown(instance)
                ))
            }
        }
        _ if hidden => error("the value is not valid here".to_string()),
        _ => error(e.to_string()),
    }
}

/// For an unknown field at `pointer` (into the instance), the field of the
/// same object the author probably meant: the closest name the schema
/// declares there, if one is close (`protocl` → `protocol`).
pub fn suggest(schema: &Value, pointer: &str) -> Option<String> {
    let (parent, key) = pointer.rsplit_once('/')?;
    let key = crate::kinds::token_text(key);
    let mut node = resolve(schema, schema);
    for token in parent.split('/').skip(1) {
        let token = crate::kinds::token_text(token);
        node = step(schema, node, &token)?;
    }
    let names = property_names(schema, node);
    names
        .into_iter()
        .map(|n| (strsim::jaro_winkler(&key, &n), n))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}

/// Follows `$ref` (`#/$defs/...`) and the one-branch wrappers schemars and
/// OpenAPI write around a reference.
fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    let mut node = node;
    for _ in 0..16 {
        if let Some(r) = node.get("$ref").and_then(Value::as_str)
            && node.get("properties").is_none()
            && let Some(name) = r.strip_prefix("#/$defs/")
            && let Some(target) = root.pointer(&format!(
                "/$defs/{}",
                name.replace('~', "~0").replace('/', "~1")
            ))
        {
            node = target;
        } else if let Some(inner) = node
            .get("else")
            .filter(|_| node.get("properties").is_none())
        {
            node = inner;
        } else {
            break;
        }
    }
    node
}

fn step<'a>(root: &'a Value, node: &'a Value, token: &str) -> Option<&'a Value> {
    let node = resolve(root, node);
    if let Some(p) = node.get("properties").and_then(|p| p.get(token)) {
        return Some(resolve(root, p));
    }
    if token.parse::<usize>().is_ok()
        && let Some(items) = node.get("items")
    {
        return Some(resolve(root, items));
    }
    if let Some(extra) = node.get("additionalProperties").filter(|a| a.is_object()) {
        return Some(resolve(root, extra));
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(branches) = node.get(key).and_then(Value::as_array) {
            for b in branches {
                if let Some(found) = step(root, b, token) {
                    return Some(found);
                }
            }
        }
    }
    None
}

fn property_names(root: &Value, node: &Value) -> Vec<String> {
    let node = resolve(root, node);
    let mut names: Vec<String> = node
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(branches) = node.get(key).and_then(Value::as_array) {
            for b in branches {
                names.extend(property_names(root, b));
            }
        }
    }
    names
}
