//! The schema helpers validation and translation share: compiling a kind
//! schema with mooring's formats, and turning a schema error into messages a
//! person can act on. `translate` checks the `MicroVM`s it makes with these,
//! exactly as [`Validator`](super::Validator) checks a hand-written one;
//! neither module calls the other.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator as Compiled};
use serde_json::Value;

use crate::finding::Severity;
use crate::kinds::formats;
use crate::manifest::type_name;

/// Compiles a kind schema with mooring's formats (draft 2020-12).
pub fn compile(schema: &Value) -> Result<Compiled, String> {
    let mut opts = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true);
    for f in formats::formats() {
        opts = opts.with_format(f.name, f.check);
    }
    opts.build(schema).map_err(|e| e.to_string())
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
