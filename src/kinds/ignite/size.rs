//! Ignite sizes (`512MB`, `4GB`): [`IgniteSize`] as a manifest writes it,
//! [`parse_ignite_size`] reading it as Ignite's parser does (binary units,
//! no `GiB`, no bits) with a [`SizeError`] saying why not, and the typed
//! rule every size field of every version runs. The pattern the schema
//! uses lives in `kinds::formats`, which owns every named pattern.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::kinds::Violation;
use crate::kinds::formats::{IGNITE_SIZE_PREFIXES as PREFIXES, ignite_size_pattern};

/// Why a string is not an Ignite size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Not digits followed by an optional unit.
    #[error("expected a whole number followed by an optional unit (no leading spaces)")]
    Syntax,
    /// A unit Ignite reads as bits (`Kb`, `Mb`, ...), which it refuses.
    #[error("\"{0}\" is a unit of bits; write a byte unit such as {1}")]
    Bits(String, String),
    /// A Kubernetes- or IEC-style binary unit (`GiB`, `Mi`), which Ignite's
    /// parser does not know: its own units are already binary.
    #[error(
        "\"{0}\" is not one of Ignite's units; Ignite's units are already binary \
         (1GB = 1 GiB), so write {1}"
    )]
    BinaryUnit(String, String),
    /// A unit Ignite does not know.
    #[error("unknown unit \"{0}\"")]
    UnknownUnit(String),
    /// More bytes than fit in 64 bits.
    #[error("the size does not fit in 64 bits (at most 16 EiB)")]
    Overflow,
}

/// Units Ignite rejects as bits: exactly these spellings.
const BIT_UNITS: [&str; 6] = ["Kb", "Mb", "Gb", "Tb", "Pb", "Eb"];

/// The power of 1024 a lowercase unit stands for, in the version of its
/// size parser Ignite pins (c2h5oh/datasize 28bbd47): no `kib`, `mib`...
fn unit_power(unit: &str) -> Option<u32> {
    if matches!(unit, "" | "b" | "byte") {
        return Some(0);
    }
    PREFIXES.iter().zip(1u32..).find_map(|(&(p, word), power)| {
        let short = [p.to_string(), format!("{p}b")];
        let long = [
            word.to_string(),
            format!("{word}byte"),
            format!("{word}bytes"),
        ];
        short
            .iter()
            .chain(long.iter())
            .any(|u| u == unit)
            .then_some(power)
    })
}

/// For a binary unit Ignite does not know (`GiB`, `Mi`), the Ignite unit
/// meaning the same (`GB`, `MB`).
fn ignite_unit_for(unit: &str) -> Option<String> {
    let lower = unit.to_ascii_lowercase();
    let prefix = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('i'))?;
    let mut chars = prefix.chars();
    let p = chars.next()?;
    (chars.next().is_none() && PREFIXES.iter().any(|(q, _)| *q == p))
        .then(|| format!("{}B", p.to_ascii_uppercase()))
}

/// Parses an Ignite size string into bytes, as Ignite's parser does: ASCII
/// digits first (no sign, no fraction, no leading space), then an optional
/// unit with spaces around it ignored; units are case-insensitive and binary
/// (`1KB` = 1024 bytes). An empty string is 0, which Ignite replaces with
/// its default.
pub fn parse_ignite_size(s: &str) -> Result<u64, SizeError> {
    if s.is_empty() {
        return Ok(0);
    }
    let digits_end = s
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit())
        .map_or(s.len(), |(i, _)| i);
    if digits_end == 0 {
        return Err(SizeError::Syntax);
    }
    let mut value: u64 = 0;
    for b in s[..digits_end].bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(SizeError::Overflow)?;
    }
    let unit = s[digits_end..].trim();
    if BIT_UNITS.contains(&unit) {
        return Err(SizeError::Bits(unit.to_string(), unit.to_uppercase()));
    }
    let lower = unit.to_ascii_lowercase();
    let power = match unit_power(&lower) {
        Some(p) => p,
        None if unit.chars().any(|c| c.is_ascii_digit() || c == '.') => {
            return Err(SizeError::Syntax);
        }
        None => {
            return Err(match ignite_unit_for(unit) {
                Some(ignite) => SizeError::BinaryUnit(unit.to_string(), format!("{value}{ignite}")),
                None => SizeError::UnknownUnit(unit.to_string()),
            });
        }
    };
    value
        .checked_mul(1u64 << (10 * power))
        .ok_or(SizeError::Overflow)
}

/// A byte size as Ignite writes it: a string such as `512MB` or `4GB`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IgniteSize(pub String);

impl IgniteSize {
    /// The size in bytes.
    pub fn bytes(&self) -> Result<u64, SizeError> {
        parse_ignite_size(&self.0)
    }
}

impl JsonSchema for IgniteSize {
    fn schema_name() -> Cow<'static, str> {
        "IgniteSize".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A byte size written as a string: whole number plus optional unit (B, KB, MB, GB, TB, PB, EB, any case), all powers of 1024, e.g. \"512MB\". KiB, MiB, GiB are not Ignite units. Empty means Ignite's default.",
            "type": "string",
            "pattern": ignite_size_pattern(),
        })
    }
}

pub(crate) fn check_size(size: Option<&IgniteSize>, pointer: &str, out: &mut Vec<Violation>) {
    if let Some(size) = size
        && let Err(e) = size.bytes()
    {
        out.push(Violation::error(
            pointer,
            format!("\"{}\" is not a valid Ignite size: {e}", size.0),
        ));
    }
}
