//! Scalars resolved by the YAML 1.2 core schema: `null`, booleans, integers
//! (decimal, `0x`, `0o`) and floats from plain scalars, strings from quoted
//! and block ones, the core tags (`!!str`, `!!int`…) and no others. Also
//! the plain scalars YAML 1.1 readers such as kubectl read otherwise (`yes`,
//! `on`, `0644`), which [`super::yaml`] reports as warnings. Messages never
//! echo a value: it may be a secret.

use std::borrow::Cow;

use saphyr_parser::{ScalarStyle, Tag};
use serde_json::{Number, Value};

/// Plain scalars that YAML 1.1 readers (kubectl, go-yaml) read differently
/// from the YAML 1.2 core schema mooring uses.
pub(super) fn yaml11_surprise(text: &str) -> Option<String> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!(
            "{text} is read as the decimal number {}; YAML 1.1 tools (kubectl) read a leading 0 as octal: \
             write 0o{} for octal, or quote it for a string",
            digits.trim_start_matches('0').parse::<u64>().unwrap_or(0),
            digits.trim_start_matches('0')
        ));
    }
    if matches!(
        text,
        "yes"
            | "Yes"
            | "YES"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
            | "y"
            | "Y"
            | "n"
            | "N"
    ) {
        return Some(format!(
            "{text} is read as the string \"{text}\"; YAML 1.1 tools (kubectl) read it as a boolean: \
             write true/false, or quote it to keep the string"
        ));
    }
    None
}

/// The JSON key a plain YAML key stands for, when it differs from its text:
/// `~` → `null`, `0x1F` → `31`, `True` → `true` (as the Kubernetes YAML
/// reader turns non-string keys into strings).
pub(super) fn key_text(text: &str) -> Option<String> {
    let resolved = match plain_non_string(text) {
        Ok(None) | Err(_) => return None,
        Ok(Some(Value::Null)) => "null".to_string(),
        Ok(Some(other)) => other.to_string(),
    };
    (resolved != text).then_some(resolved)
}

/// A tag as its author most likely wrote it (`!!set`, not the expanded
/// `tag:yaml.org,2002:set`).
pub(super) fn tag_text(tag: &Tag) -> String {
    match core_tag(tag) {
        Some(suffix) => format!("!!{suffix}"),
        None => format!("{}{}", tag.handle, tag.suffix),
    }
}

pub(super) fn core_tag(tag: &Tag) -> Option<&str> {
    if tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:" {
        Some(tag.suffix.as_str())
    } else {
        None
    }
}

/// Resolves a scalar by the YAML 1.2 core schema; quoted and block scalars
/// are always strings.
pub(super) fn resolve_scalar(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Tag>,
) -> Result<Value, String> {
    if let Some(tag) = tag {
        let text = text.as_ref();
        return match core_tag(tag) {
            Some("str") | Some("binary") | Some("timestamp") => Ok(Value::String(text.into())),
            Some("null") => Ok(Value::Null),
            // Messages never echo the value: it may be a secret.
            Some("bool") => {
                parse_bool(text).ok_or_else(|| "value tagged !!bool is not a boolean".into())
            }
            Some("int") => {
                parse_int(text).ok_or_else(|| "value tagged !!int is not an integer".into())
            }
            Some("float") => parse_float(text)?
                .or_else(|| parse_int(text))
                .ok_or_else(|| "value tagged !!float is not a number".into()),
            _ => Err(format!(
                "unsupported YAML tag {} (mooring reads plain YAML only)",
                tag_text(tag)
            )),
        };
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.into_owned()));
    }
    Ok(plain_non_string(&text)?.unwrap_or_else(|| Value::String(text.into_owned())))
}

/// A plain scalar's value when the core schema reads it as something other
/// than a string (null, a boolean, a number); `None` for a string. Most
/// plain scalars are strings, and this allocates nothing for them.
fn plain_non_string(text: &str) -> Result<Option<Value>, String> {
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Ok(Some(Value::Null));
    }
    if let Some(b) = parse_bool(text) {
        return Ok(Some(b));
    }
    if let Some(i) = parse_int(text) {
        return Ok(Some(i));
    }
    parse_float(text)
}

fn parse_bool(text: &str) -> Option<Value> {
    match text {
        "true" | "True" | "TRUE" => Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => Some(Value::Bool(false)),
        _ => None,
    }
}

fn parse_int(text: &str) -> Option<Value> {
    let (digits, radix) = if let Some(h) = text.strip_prefix("0x") {
        (h, 16)
    } else if let Some(o) = text.strip_prefix("0o") {
        (o, 8)
    } else {
        (text, 10)
    };
    let body = digits.strip_prefix(['-', '+']).unwrap_or(digits);
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    if radix != 10 && body.len() != digits.len() {
        return None;
    }
    let digits = digits.strip_prefix('+').unwrap_or(digits);
    if let Ok(i) = i64::from_str_radix(digits, radix) {
        return Some(Value::Number(i.into()));
    }
    if let Ok(u) = u64::from_str_radix(digits, radix) {
        return Some(Value::Number(u.into()));
    }
    // Too large for 64 bits: keep the digits as a float, as YAML loaders do.
    digits
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

fn parse_float(text: &str) -> Result<Option<Value>, String> {
    if [".inf", "+.inf", "-.inf", ".nan", "+.nan", "-.nan"]
        .iter()
        .any(|special| text.eq_ignore_ascii_case(special))
    {
        return Err(format!(
            "{} is not representable in JSON; quote it if you meant a string",
            text.trim_start_matches(['-', '+'])
        ));
    }
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let mut chars = body.chars().peekable();
    let mut mantissa_digits = 0;
    while chars.peek().is_some_and(char::is_ascii_digit) {
        chars.next();
        mantissa_digits += 1;
    }
    if chars.peek() == Some(&'.') {
        chars.next();
        while chars.peek().is_some_and(char::is_ascii_digit) {
            chars.next();
            mantissa_digits += 1;
        }
    }
    if mantissa_digits == 0 {
        return Ok(None);
    }
    if matches!(chars.peek(), Some('e') | Some('E')) {
        chars.next();
        if matches!(chars.peek(), Some('+') | Some('-')) {
            chars.next();
        }
        let mut exp = 0;
        while chars.peek().is_some_and(char::is_ascii_digit) {
            chars.next();
            exp += 1;
        }
        if exp == 0 {
            return Ok(None);
        }
    }
    if chars.next().is_some() {
        return Ok(None);
    }
    Ok(text
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number))
}
