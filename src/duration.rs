//! Durations as `mooring.yaml` and the command line write them: `90s`,
//! `5m`, `1h`, `1h30m`, `250ms`.

use std::time::Duration;

/// Parses `90s`, `5m`, `1h`, `1h30m`, `250ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("a duration is empty".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(format!(
                "`{text}` is not a duration like `30s`, `5m` or `1h30m`"
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}` is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.chars().take_while(|c| c.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let too_large = || format!("`{text}` is too large");
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(too_large)?),
            "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(too_large)?),
            _ => {
                return Err(format!(
                    "`{text}`: unknown unit `{unit}` (use ms, s, m or h)"
                ));
            }
        };
        total = total.checked_add(d).ok_or_else(too_large)?;
    }
    Ok(total)
}

/// serde `with` for a required duration field.
pub(crate) mod required {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        crate::duration::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

/// serde `with` for an optional duration field.
pub(crate) mod optional {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| crate::duration::parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("18446744073709551615h").is_err());
        assert!(parse_duration("18446744073709551615s1s").is_err());
    }
}
