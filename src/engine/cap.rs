//! The deletion cap: the most deletions one run may make without
//! `--force-prune` (`maxDeletions` in `mooring.yaml`, `--max-deletions`).

use serde::Deserialize;
use serde_json::Value;

/// The deletion cap: an absolute number or a share of managed objects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DeletionCap {
    Count(usize),
    Percent(f64),
}

impl Default for DeletionCap {
    fn default() -> Self {
        DeletionCap::Percent(30.0)
    }
}

impl DeletionCap {
    /// The most deletions allowed when `managed` objects are managed. A
    /// percentage above zero always allows at least one deletion.
    pub fn limit(&self, managed: usize) -> usize {
        match *self {
            DeletionCap::Count(n) => n,
            DeletionCap::Percent(p) if p <= 0.0 => 0,
            DeletionCap::Percent(p) => (((managed as f64) * p / 100.0).floor() as usize).max(1),
        }
    }
}

impl std::fmt::Display for DeletionCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeletionCap::Count(n) => write!(f, "{n}"),
            DeletionCap::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl std::str::FromStr for DeletionCap {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let p: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("`{s}` is not a percentage like `30%`"))?;
            if !(0.0..=100.0).contains(&p) {
                return Err(format!("`{s}` is not between 0% and 100%"));
            }
            Ok(DeletionCap::Percent(p))
        } else {
            s.parse().map(DeletionCap::Count).map_err(|_| {
                format!("`{s}` is neither a count like `5` nor a percentage like `30%`")
            })
        }
    }
}

impl<'de> Deserialize<'de> for DeletionCap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match &v {
            Value::Number(n) => n
                .as_u64()
                .map(|n| DeletionCap::Count(n as usize))
                .ok_or_else(|| {
                    serde::de::Error::custom("a deletion cap is a whole number or `N%`")
                }),
            Value::String(s) => s.parse().map_err(serde::de::Error::custom),
            _ => Err(serde::de::Error::custom(
                "a deletion cap is a whole number or `N%`",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_parse() {
        assert_eq!("0%".parse::<DeletionCap>().unwrap().limit(100), 0);
        assert_eq!("30%".parse::<DeletionCap>().unwrap().limit(10), 3);
        assert_eq!("30%".parse::<DeletionCap>().unwrap().limit(2), 1);
        assert_eq!("4".parse::<DeletionCap>().unwrap().limit(100), 4);
        assert!("130%".parse::<DeletionCap>().is_err());
    }
}
