//! Bytes → text, as YAML 1.2 reads a stream: the encoding (UTF-8, or
//! UTF-16/32 in either byte order, with or without a byte-order mark), the
//! characters YAML forbids, and [`YamlError`], the line-numbered problem
//! every stage of reading YAML reports. Knows nothing of YAML's structure:
//! [`super::yaml`] builds values on top of it.

use std::borrow::Cow;

/// A problem in the YAML text itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub message: String,
    /// A warning reads fine but may not mean what the author thinks.
    pub warning: bool,
}

/// A file's text, decoded as YAML 1.2 says a stream is: UTF-8, or UTF-16 or
/// UTF-32 in either byte order, told by a byte-order mark or, without one,
/// by the NUL bytes around the first character (which YAML requires to be
/// ASCII). Returns the text and, for UTF-16/32 without a byte-order mark, a
/// warning: kubectl and most YAML tools read only UTF-8 or a marked file.
///
/// # Errors
/// Bytes that are not valid in the encoding, with the line they are on.
pub fn decode(bytes: &[u8]) -> Result<(Cow<'_, str>, Option<YamlError>), YamlError> {
    let (encoding, bom) = detect_encoding(bytes);
    let body = &bytes[bom..];
    let text: Cow<'_, str> = match encoding {
        Encoding::Utf8 => match std::str::from_utf8(body) {
            Ok(t) => Cow::Borrowed(t),
            Err(e) => {
                let line = 1 + body[..e.valid_up_to()]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count();
                return Err(YamlError {
                    line,
                    message: "file is not valid UTF-8 (mooring reads UTF-8, or UTF-16/32 \
                              with a byte-order mark)"
                        .into(),
                    warning: false,
                });
            }
        },
        Encoding::Utf16 { big_endian } => {
            let units = body.chunks(2).map(|c| match (c, big_endian) {
                ([a, b], true) => u16::from_be_bytes([*a, *b]),
                ([a, b], false) => u16::from_le_bytes([*a, *b]),
                _ => 0xDC00, // an odd trailing byte: decodes as an unpaired surrogate
            });
            let mut out = String::with_capacity(body.len() / 2);
            for c in char::decode_utf16(units) {
                match c {
                    Ok(c) => out.push(c),
                    Err(_) => {
                        return Err(YamlError {
                            line: 1 + out.matches('\n').count(),
                            message: format!(
                                "file is not valid {}: an unpaired surrogate or a truncated \
                                 character",
                                encoding.name()
                            ),
                            warning: false,
                        });
                    }
                }
            }
            Cow::Owned(out)
        }
        Encoding::Utf32 { big_endian } => {
            let mut out = String::with_capacity(body.len() / 4);
            for c in body.chunks(4) {
                let code = match (c, big_endian) {
                    ([a, b, c, d], true) => Some(u32::from_be_bytes([*a, *b, *c, *d])),
                    ([a, b, c, d], false) => Some(u32::from_le_bytes([*a, *b, *c, *d])),
                    _ => None,
                };
                match code.and_then(char::from_u32) {
                    Some(c) => out.push(c),
                    None => {
                        return Err(YamlError {
                            line: 1 + out.matches('\n').count(),
                            message: format!(
                                "file is not valid {}: a code point out of range or a \
                                 truncated character",
                                encoding.name()
                            ),
                            warning: false,
                        });
                    }
                }
            }
            Cow::Owned(out)
        }
    };
    let warning = (bom == 0 && !matches!(encoding, Encoding::Utf8)).then(|| YamlError {
        line: 1,
        message: format!(
            "file is {} without a byte-order mark: read as YAML allows, but kubectl and \
             most tools read only UTF-8; convert it (iconv -f {} -t UTF-8)",
            encoding.name(),
            encoding.name()
        ),
        warning: true,
    });
    Ok((text, warning))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Utf8,
    Utf16 { big_endian: bool },
    Utf32 { big_endian: bool },
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Utf16 { big_endian: true } => "UTF-16BE",
            Encoding::Utf16 { big_endian: false } => "UTF-16LE",
            Encoding::Utf32 { big_endian: true } => "UTF-32BE",
            Encoding::Utf32 { big_endian: false } => "UTF-32LE",
        }
    }
}

/// YAML 1.2 §5.2: the encoding and the length of the byte-order mark.
fn detect_encoding(b: &[u8]) -> (Encoding, usize) {
    match b {
        [0, 0, 0xFE, 0xFF, ..] => (Encoding::Utf32 { big_endian: true }, 4),
        [0, 0, 0, _, ..] => (Encoding::Utf32 { big_endian: true }, 0),
        [0xFF, 0xFE, 0, 0, ..] => (Encoding::Utf32 { big_endian: false }, 4),
        [_, 0, 0, 0, ..] => (Encoding::Utf32 { big_endian: false }, 0),
        [0xFE, 0xFF, ..] => (Encoding::Utf16 { big_endian: true }, 2),
        [0, _, ..] => (Encoding::Utf16 { big_endian: true }, 0),
        [0xFF, 0xFE, ..] => (Encoding::Utf16 { big_endian: false }, 2),
        [_, 0, ..] => (Encoding::Utf16 { big_endian: false }, 0),
        [0xEF, 0xBB, 0xBF, ..] => (Encoding::Utf8, 3),
        _ => (Encoding::Utf8, 0),
    }
}

/// The 1-based line and column of the character at `index` (in chars).
pub(super) fn position_of_char(text: &str, index: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for c in text.chars().take(index) {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// Every character YAML 1.2 does not allow in a stream (outside its
/// printable set: C0 controls other than tab, LF and CR; DEL; C1 controls
/// other than NEL; U+FFFE and U+FFFF), one error per line, at most
/// [`MAX_CHARACTER_ERRORS`] lines, then one line saying how many more.
/// Unpaired surrogates cannot reach here: they are not valid UTF-8, and
/// the loader reports them when it decodes the file.
pub(super) fn forbidden_characters(text: &str) -> Vec<YamlError> {
    if plain_ascii(text) {
        return Vec::new();
    }
    let mut errors = Vec::new();
    let mut more = 0usize;
    let mut last_line = 0;
    for (number, line) in text.split('\n').enumerate() {
        let number = number + 1;
        for (column, c) in line.chars().enumerate() {
            if is_allowed(c) {
                continue;
            }
            if number == last_line {
                continue;
            }
            last_line = number;
            if errors.len() == MAX_CHARACTER_ERRORS {
                more += 1;
                continue;
            }
            errors.push(YamlError {
                line: number,
                message: format!(
                    "column {}: {} is not allowed in YAML; {}",
                    column + 1,
                    describe_char(c),
                    if c == '\0' {
                        "a NUL byte usually means a binary or UTF-16/32 file, or a corrupted one"
                    } else {
                        "remove it, or write it as an escape in a double-quoted string"
                    }
                ),
                warning: false,
            });
        }
    }
    if more > 0 {
        let line = errors.last().map_or(1, |e| e.line);
        errors.push(YamlError {
            line,
            message: format!("{more} more lines with characters not allowed in YAML"),
            warning: false,
        });
    }
    errors
}

/// Whether `text` is printable ASCII, tabs and line breaks only, as most
/// manifests are: then no character need be looked at on its own. Read in
/// blocks without stopping early inside one, which the compiler turns into
/// wide comparisons.
fn plain_ascii(text: &str) -> bool {
    text.as_bytes().chunks(64).all(|block| {
        block.iter().fold(true, |ok, &b| {
            ok & ((0x20..=0x7e).contains(&b) | (b == b'\t') | (b == b'\n') | (b == b'\r'))
        })
    })
}

pub(super) const MAX_CHARACTER_ERRORS: usize = 20;

/// YAML 1.2's `c-printable`, with CR (a line break) allowed.
fn is_allowed(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{85}'
        | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

fn describe_char(c: char) -> String {
    let code = c as u32;
    let name = match c {
        '\0' => "NUL",
        '\u{7f}' => "DEL",
        '\u{1}'..='\u{1f}' => "a control character",
        '\u{80}'..='\u{9f}' => "a C1 control character",
        _ => "a non-character",
    };
    format!("{name} (U+{code:04X})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_and_utf32_decode_in_either_byte_order() {
        let text = "apiVersion: v1\nkind: ConfigMap # é\n";
        let utf16: Vec<u16> = text.encode_utf16().collect();
        let be16: Vec<u8> = utf16.iter().flat_map(|u| u.to_be_bytes()).collect();
        let le16: Vec<u8> = utf16.iter().flat_map(|u| u.to_le_bytes()).collect();
        let be32: Vec<u8> = text
            .chars()
            .flat_map(|c| (c as u32).to_be_bytes())
            .collect();
        let le32: Vec<u8> = text
            .chars()
            .flat_map(|c| (c as u32).to_le_bytes())
            .collect();
        for (name, body, bom) in [
            ("UTF-16BE", be16, vec![0xFE, 0xFF]),
            ("UTF-16LE", le16, vec![0xFF, 0xFE]),
            ("UTF-32BE", be32, vec![0, 0, 0xFE, 0xFF]),
            ("UTF-32LE", le32, vec![0xFF, 0xFE, 0, 0]),
        ] {
            let with_bom = [bom.clone(), body.clone()].concat();
            let (decoded, warning) = decode(&with_bom).expect(name);
            assert_eq!(decoded, text, "{name} with a byte-order mark");
            assert!(warning.is_none(), "{name}");
            let (decoded, warning) = decode(&body).expect(name);
            assert_eq!(decoded, text, "{name} without a byte-order mark");
            let warning = warning.expect("a warning without a byte-order mark");
            assert!(warning.message.contains(name), "{warning:?}");
            assert!(warning.warning);
        }
        let utf8_bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
        assert_eq!(
            decode(&utf8_bom).map(|d| d.0.into_owned()),
            Ok(text.to_string())
        );
    }

    #[test]
    fn broken_utf16_and_utf8_are_errors_with_a_line() {
        // A lone high surrogate on line 2.
        let mut units: Vec<u16> = "a: 1\nb: ".encode_utf16().collect();
        units.push(0xD800);
        let mut bytes = vec![0xFE, 0xFF];
        bytes.extend(units.iter().flat_map(|u| u.to_be_bytes()));
        let e = decode(&bytes).expect_err("unpaired surrogate");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("UTF-16BE"), "{e:?}");
        let e = decode(b"a: 1\nb: \xFF\n").expect_err("bad UTF-8");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("not valid UTF-8"), "{e:?}");
    }
}
