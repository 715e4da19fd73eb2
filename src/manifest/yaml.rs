//! YAML text → JSON values, with the line of every node.
//!
//! Built on the event layer of the saphyr family (`saphyr-parser`) rather than
//! a serde deserializer, because mooring needs more than the value: the line
//! of every field (so a schema error deep in `spec` points at its own line),
//! duplicate keys reported with both lines, and alias expansion counted
//! *before* it allocates (so a billion-laughs file fails fast in bounded
//! memory). Scalars resolve by the YAML 1.2 core schema.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Number, Value};

use crate::source::Limits;

/// Maps JSON pointers (`/spec/interfaces/0`) to the 1-based line the node
/// starts on (for a mapping entry, the line of its key).
///
/// Kept compact, since every node of every manifest has an entry and the
/// index lives as long as the manifest: a sorted slice of (pointer hash,
/// line), 16 bytes a node, rather than a map of pointer strings (about
/// 80). Hashes are SipHash with fixed keys, so the index is deterministic;
/// a collision (odds about n²/2⁶⁵ for n nodes in one document) could only
/// give a finding a wrong line, never change a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineIndex {
    lines: Box<[(u64, u32)]>,
}

fn pointer_hash(pointer: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(pointer)
}

impl LineIndex {
    /// The line of `pointer`, or of its nearest ancestor that has one.
    pub fn line_of(&self, pointer: &str) -> Option<usize> {
        let mut p = pointer;
        loop {
            let h = pointer_hash(p);
            if let Ok(i) = self.lines.binary_search_by_key(&h, |(k, _)| *k) {
                return Some(self.lines[i].1 as usize);
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return None,
            }
        }
    }
}

/// A [`LineIndex`] being built: the first line recorded for a pointer wins,
/// unless it is [`overwrite`](LineBuilder::overwrite)n.
#[derive(Default)]
struct LineBuilder {
    lines: HashMap<u64, u32>,
}

impl LineBuilder {
    fn insert(&mut self, pointer: &str, line: usize) {
        self.lines
            .entry(pointer_hash(pointer))
            .or_insert(u32::try_from(line).unwrap_or(u32::MAX));
    }

    fn overwrite(&mut self, pointer: &str, line: usize) {
        self.lines.insert(
            pointer_hash(pointer),
            u32::try_from(line).unwrap_or(u32::MAX),
        );
    }

    fn finish(&mut self) -> LineIndex {
        let mut lines: Vec<(u64, u32)> = std::mem::take(&mut self.lines).into_iter().collect();
        lines.sort_unstable_by_key(|(k, _)| *k);
        LineIndex {
            lines: lines.into_boxed_slice(),
        }
    }
}

/// One YAML document of a stream.
#[derive(Debug, Clone)]
pub struct Document {
    pub value: Value,
    /// Line where the document's content starts.
    pub line: usize,
    pub lines: LineIndex,
}

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

/// Parses a multi-document stream. Documents that are empty (only comments,
/// or `---` with nothing after it) are skipped. Every problem found is
/// returned; a syntax error ends the file, since nothing after it can be
/// trusted.
///
/// The whole text is accounted for: characters YAML forbids (NUL and the
/// other control characters) are errors with their line and column, found
/// before parsing, and a reader that stops before the last character without
/// an error is an error too. The event parser treats NUL as the end of the
/// input, so without these checks whatever followed a stray NUL would be
/// silently dropped, and then pruned from a cluster.
pub fn parse_stream(text: &str, limits: &Limits) -> (Vec<Document>, Vec<YamlError>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let forbidden = forbidden_characters(text);
    if !forbidden.is_empty() {
        return (Vec::new(), forbidden);
    }
    let mut builder = Builder::new(limits);
    let mut parser = Parser::new_from_str(text);
    let mut end: Option<usize> = None;
    let mut stopped = false;
    while let Some(next) = parser.next_event() {
        match next {
            Ok((Event::StreamEnd, span)) => {
                end = Some(span.start.index());
                break;
            }
            Ok((event, span)) => {
                if let Err(fatal) = builder.on_event(event, span) {
                    builder.errors.push(fatal);
                    stopped = true;
                    break;
                }
            }
            Err(e) => {
                let line = e.marker().line().max(1);
                let mut message = format!("invalid YAML: {}", e.info());
                if text.lines().nth(line - 1).is_some_and(|l| l.contains('\t'))
                    || e.info().contains("tab")
                {
                    message.push_str(" (tabs are not allowed in YAML indentation; use spaces)");
                }
                builder.errors.push(YamlError {
                    line,
                    message,
                    warning: false,
                });
                stopped = true;
                break;
            }
        }
    }
    if !stopped {
        let total = text.chars().count();
        let read = end.unwrap_or(0);
        if read < total {
            let (line, column) = position_of_char(text, read);
            builder.errors.push(YamlError {
                line,
                message: format!(
                    "the YAML reader stopped at column {column}, before the end of the file \
                     ({} characters not read); nothing in this file is used",
                    total - read
                ),
                warning: false,
            });
        }
    }
    (builder.documents, builder.errors)
}

/// The 1-based line and column of the character at `index` (in chars).
fn position_of_char(text: &str, index: usize) -> (usize, usize) {
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
fn forbidden_characters(text: &str) -> Vec<YamlError> {
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

const MAX_CHARACTER_ERRORS: usize = 20;

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

enum Frame {
    Seq {
        items: Vec<Value>,
        pointer: String,
        anchor: usize,
    },
    Map {
        map: Map<String, Value>,
        pointer: String,
        anchor: usize,
        /// The key read, waiting for its value: (key, line, is a `<<` merge).
        key: Option<(String, usize, bool)>,
        /// Keys that came from a `<<` merge: an explicit key may override them.
        merged: HashSet<String>,
    },
}

struct Builder<'l> {
    limits: &'l Limits,
    documents: Vec<Document>,
    errors: Vec<YamlError>,
    stack: Vec<Frame>,
    /// Anchored values of the current document, with their node and byte counts.
    anchors: HashMap<usize, (Value, usize, usize)>,
    nodes: usize,
    bytes: usize,
    lines: LineBuilder,
    root: Option<Value>,
    doc_line: usize,
    /// Whether the document used an alias: only then can a size limit be
    /// an alias bomb.
    aliases: bool,
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// (nodes, bytes of scalar text) of a value.
fn measure(v: &Value) -> (usize, usize) {
    match v {
        Value::Array(a) => a
            .iter()
            .map(measure)
            .fold((1, 0), |x, y| (x.0 + y.0, x.1 + y.1)),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                let (n, b) = measure(v);
                (n, b + k.len())
            })
            .fold((1, 0), |x, y| (x.0 + y.0, x.1 + y.1)),
        Value::String(s) => (1, s.len()),
        _ => (1, 8),
    }
}

/// Plain scalars that YAML 1.1 readers (kubectl, go-yaml) read differently
/// from the YAML 1.2 core schema mooring uses.
fn yaml11_surprise(text: &str) -> Option<String> {
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

impl<'l> Builder<'l> {
    fn new(limits: &'l Limits) -> Self {
        Builder {
            limits,
            documents: Vec::new(),
            errors: Vec::new(),
            stack: Vec::new(),
            anchors: HashMap::new(),
            nodes: 0,
            bytes: 0,
            lines: LineBuilder::default(),
            root: None,
            doc_line: 1,
            aliases: false,
        }
    }

    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<(), YamlError> {
        let line = span.start.line().max(1);
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
            Event::DocumentStart(_) => {
                self.anchors.clear();
                self.nodes = 0;
                self.bytes = 0;
                self.lines = LineBuilder::default();
                self.root = None;
                self.doc_line = line;
                self.aliases = false;
            }
            Event::DocumentEnd => {
                if let Some(value) = self.root.take()
                    && !value.is_null()
                {
                    self.documents.push(Document {
                        value,
                        line: self.doc_line,
                        lines: self.lines.finish(),
                    });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                if self.expecting_key() {
                    return self.on_key(text.as_ref(), style, line);
                }
                let value = match resolve_scalar(&text, style, tag.as_deref()) {
                    Ok(v) => v,
                    // Reported, and read as null so the rest of the file is checked.
                    Err(message) => {
                        self.errors.push(YamlError {
                            line,
                            message,
                            warning: false,
                        });
                        Value::Null
                    }
                };
                if style == ScalarStyle::Plain && tag.is_none() {
                    if let Some(message) = yaml11_surprise(&text) {
                        self.errors.push(YamlError {
                            line,
                            message,
                            warning: true,
                        });
                    }
                }
                self.add_nodes(1, text.len(), line)?;
                if anchor > 0 {
                    self.anchors.insert(anchor, (value.clone(), 1, text.len()));
                }
                self.push_value(value, line);
            }
            Event::Alias(id) => {
                self.aliases = true;
                let (value, size, bytes) =
                    self.anchors.get(&id).cloned().ok_or_else(|| YamlError {
                        line,
                        message: "alias refers to an anchor that is not defined".to_string(),
                        warning: false,
                    })?;
                if self.expecting_key() {
                    return match value {
                        Value::String(s) => self.on_key(&s, ScalarStyle::SingleQuoted, line),
                        _ => Err(YamlError {
                            line,
                            message: "an alias used as a mapping key must name a string".into(),
                            warning: false,
                        }),
                    };
                }
                self.add_nodes(size, bytes, line)?;
                self.push_value(value, line);
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_collection_tag(tag.as_deref(), "seq", line);
                self.start_collection(false, anchor, line)?
            }
            Event::MappingStart(anchor, tag) => {
                self.check_collection_tag(tag.as_deref(), "map", line);
                self.start_collection(true, anchor, line)?
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, anchor, .. }) => (Value::Array(items), anchor),
                    Some(Frame::Map { map, anchor, .. }) => (Value::Object(map), anchor),
                    None => return Ok(()),
                };
                if anchor > 0 {
                    let (size, bytes) = measure(&value);
                    self.anchors.insert(anchor, (value.clone(), size, bytes));
                }
                self.push_value(value, line);
            }
        }
        Ok(())
    }

    /// A tag on a mapping or sequence (`!vault`, `!!python/object`,
    /// `--- !custom`) asks the reader for a type mooring does not build: an
    /// error, as on scalars, never silently read as plain YAML. Only the
    /// core schema's own `!!map` / `!!seq` are accepted.
    fn check_collection_tag(&mut self, tag: Option<&Tag>, core: &str, line: usize) {
        let Some(tag) = tag else { return };
        if core_tag(tag) == Some(core) {
            return;
        }
        let what = if core == "map" { "mapping" } else { "sequence" };
        self.errors.push(YamlError {
            line,
            message: format!(
                "unsupported YAML tag {} on a {what} (mooring reads plain YAML only)",
                tag_text(tag)
            ),
            warning: false,
        });
    }

    fn start_collection(
        &mut self,
        is_map: bool,
        anchor: usize,
        line: usize,
    ) -> Result<(), YamlError> {
        if self.expecting_key() {
            return Err(YamlError {
                line,
                message: "a mapping or sequence cannot be used as a mapping key".into(),
                warning: false,
            });
        }
        if self.stack.len() >= self.limits.max_depth {
            return Err(YamlError {
                line,
                message: format!(
                    "nesting deeper than {} levels is not accepted",
                    self.limits.max_depth
                ),
                warning: false,
            });
        }
        self.add_nodes(1, 0, line)?;
        if self.stack.is_empty() {
            self.doc_line = line;
        }
        let pointer = self.child_pointer();
        self.lines.insert(&pointer, line);
        self.stack.push(if is_map {
            Frame::Map {
                map: Map::new(),
                pointer,
                anchor,
                key: None,
                merged: HashSet::new(),
            }
        } else {
            Frame::Seq {
                items: Vec::new(),
                pointer,
                anchor,
            }
        });
        Ok(())
    }

    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    fn on_key(&mut self, text: &str, style: ScalarStyle, line: usize) -> Result<(), YamlError> {
        let merge = text == "<<" && style == ScalarStyle::Plain;
        // A plain key resolves like any plain scalar (`~` and `null` are the
        // same key, so are `1` and `0x1`); JSON keys are its text form.
        let resolved = if style == ScalarStyle::Plain && !merge {
            key_text(text)
        } else {
            None
        };
        let text = resolved.as_deref().unwrap_or(text);
        self.add_nodes(0, text.len(), line)?;
        if let Some(Frame::Map {
            map,
            key,
            merged,
            pointer,
            ..
        }) = self.stack.last_mut()
        {
            if !merge && map.contains_key(text) && !merged.contains(text) {
                let first = self
                    .lines
                    .lines
                    .get(&pointer_hash(&format!(
                        "{pointer}/{}",
                        escape_pointer(text)
                    )))
                    .map_or(line, |l| *l as usize);
                self.errors.push(YamlError {
                    line,
                    message: format!("duplicate key \"{text}\" (first defined on line {first})"),
                    warning: false,
                });
            }
            *key = Some((text.to_string(), line, merge));
        }
        Ok(())
    }

    fn add_nodes(&mut self, n: usize, bytes: usize, line: usize) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        self.bytes = self.bytes.saturating_add(bytes);
        let over = if self.nodes > self.limits.max_nodes {
            format!("more than {} nodes", self.limits.max_nodes)
        } else if self.bytes > self.limits.max_bytes {
            format!("more than {} bytes of text", self.limits.max_bytes)
        } else {
            return Ok(());
        };
        let message = if self.aliases {
            format!(
                "document expands to {over} (aliases included); \
                 refusing to load it (is it an alias bomb?)"
            )
        } else {
            format!("document has {over}; refusing to load it: split it into smaller documents")
        };
        Err(YamlError {
            line,
            message,
            warning: false,
        })
    }

    /// The pointer of the node about to be added to the top frame.
    fn child_pointer(&self) -> String {
        match self.stack.last() {
            None => String::new(),
            Some(Frame::Seq { items, pointer, .. }) => format!("{pointer}/{}", items.len()),
            Some(Frame::Map { key, pointer, .. }) => match key {
                Some((k, _, false)) => format!("{pointer}/{}", escape_pointer(k)),
                _ => pointer.clone(),
            },
        }
    }

    fn push_value(&mut self, value: Value, line: usize) {
        let pointer = self.child_pointer();
        match self.stack.last_mut() {
            None => {
                if !value.is_array() && !value.is_object() {
                    self.doc_line = line;
                }
                self.root = Some(value);
            }
            Some(Frame::Seq { items, .. }) => {
                self.lines.insert(&pointer, line);
                items.push(value);
            }
            Some(Frame::Map {
                map, key, merged, ..
            }) => {
                let Some((k, key_line, merge)) = key.take() else {
                    return;
                };
                if merge {
                    merge_into(map, merged, value);
                } else {
                    // A key's own line beats the value's (`spec:` then a block).
                    self.lines.overwrite(&pointer, key_line);
                    merged.remove(&k);
                    map.insert(k, value);
                }
            }
        }
    }
}

/// The JSON key a plain YAML key stands for, when it differs from its text:
/// `~` → `null`, `0x1F` → `31`, `True` → `true` (as the Kubernetes YAML
/// reader turns non-string keys into strings).
fn key_text(text: &str) -> Option<String> {
    let resolved = match resolve_scalar(text, ScalarStyle::Plain, None) {
        Ok(Value::String(_)) | Err(_) => return None,
        Ok(Value::Null) => "null".to_string(),
        Ok(other) => other.to_string(),
    };
    (resolved != text).then_some(resolved)
}

/// `<<: *base` (or a list of them): copy in the keys not already present.
fn merge_into(map: &mut Map<String, Value>, merged: &mut HashSet<String>, value: Value) {
    let sources = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    for source in sources {
        if let Value::Object(entries) = source {
            for (k, v) in entries {
                if !map.contains_key(&k) {
                    merged.insert(k.clone());
                    map.insert(k, v);
                }
            }
        }
    }
}

/// A tag as its author most likely wrote it (`!!set`, not the expanded
/// `tag:yaml.org,2002:set`).
fn tag_text(tag: &Tag) -> String {
    match core_tag(tag) {
        Some(suffix) => format!("!!{suffix}"),
        None => format!("{}{}", tag.handle, tag.suffix),
    }
}

fn core_tag(tag: &Tag) -> Option<&str> {
    if tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:" {
        Some(tag.suffix.as_str())
    } else {
        None
    }
}

/// Resolves a scalar by the YAML 1.2 core schema; quoted and block scalars
/// are always strings.
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag {
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
        return Ok(Value::String(text.into()));
    }
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Ok(Value::Null);
    }
    if let Some(b) = parse_bool(text) {
        return Ok(b);
    }
    if let Some(i) = parse_int(text) {
        return Ok(i);
    }
    if let Some(f) = parse_float(text)? {
        return Ok(f);
    }
    Ok(Value::String(text.into()))
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
    let lower = text.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        ".inf" | "+.inf" | "-.inf" | ".nan" | "+.nan" | "-.nan"
    ) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Document {
        let (mut docs, errors) = parse_stream(text, &Limits::default());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    #[test]
    fn scalars_resolve_by_the_core_schema() {
        let (docs, notes) = parse_stream(
            "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: '1'\ng: yes\nh: 0x1F\ni: 1e3\nj: 08\n",
            &Limits::default(),
        );
        assert!(notes.iter().all(|n| n.warning), "{notes:?}");
        assert_eq!(notes.len(), 2, "yes and 08 surprise YAML 1.1 readers");
        let d = &docs[0];
        assert_eq!(
            d.value,
            serde_json::json!({"a": 1, "b": -2, "c": 1.5, "d": true, "e": null, "f": "1",
                               "g": "yes", "h": 31, "i": 1000.0, "j": 8})
        );
    }

    #[test]
    fn lines_point_at_keys_and_items() {
        let d = one("apiVersion: v1\nspec:\n  list:\n    - a\n    - name: b\n      x: 1\n");
        assert_eq!(d.lines.line_of("/spec"), Some(2));
        assert_eq!(d.lines.line_of("/spec/list/1"), Some(5));
        assert_eq!(d.lines.line_of("/spec/list/1/x"), Some(6));
        assert_eq!(d.lines.line_of("/spec/list/1/missing"), Some(5));
        assert_eq!(d.line, 1);
    }

    #[test]
    fn duplicate_keys_name_both_lines() {
        let (_, errors) = parse_stream("a: 1\nb: 2\na: 3\n", &Limits::default());
        assert_eq!(
            errors,
            vec![YamlError {
                line: 3,
                message: "duplicate key \"a\" (first defined on line 1)".into(),
                warning: false,
            }]
        );
    }

    #[test]
    fn merge_keys_do_not_count_as_duplicates() {
        let d = one("base: &b {x: 1, y: 2}\nobj:\n  <<: *b\n  y: 3\n");
        assert_eq!(d.value["obj"], serde_json::json!({"x": 1, "y": 3}));
    }

    #[test]
    fn alias_bombs_fail_fast() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let (docs, errors) = parse_stream(&text, &Limits::default());
        assert!(docs.is_empty());
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].message.contains("more than 200000 nodes"),
            "{errors:?}"
        );
    }

    #[test]
    fn empty_documents_are_skipped_and_lines_kept() {
        let (docs, errors) = parse_stream("---\n# nothing\n---\na: 1\n---\n", &Limits::default());
        assert!(errors.is_empty());
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].line, 4);
    }

    #[test]
    fn tabs_are_explained() {
        let (_, errors) = parse_stream("a:\n\tb: 1\n", &Limits::default());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 2);
        assert!(errors[0].message.contains("tabs"), "{errors:?}");
    }

    #[test]
    fn alias_bombs_of_long_strings_are_bounded_in_bytes() {
        let big = "x".repeat(100_000);
        let aliases = vec!["*a"; 400].join(", ");
        let text = format!("a: &a \"{big}\"\nlist: [{aliases}]\n");
        let (docs, errors) = parse_stream(&text, &Limits::default());
        assert!(docs.is_empty());
        assert_eq!(
            errors[0].message,
            "document expands to more than 33554432 bytes of text (aliases included); \
             refusing to load it (is it an alias bomb?)"
        );
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let d = one("\u{feff}apiVersion: v1\n");
        assert_eq!(d.value, serde_json::json!({"apiVersion": "v1"}));
    }

    #[test]
    fn bad_scalars_are_reported_and_the_file_goes_on() {
        let (docs, errors) =
            parse_stream("a: !!int hunter2\nb: .inf\n---\nc: 1\n", &Limits::default());
        assert_eq!(docs.len(), 2);
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            vec![
                "value tagged !!int is not an integer",
                ".inf is not representable in JSON; quote it if you meant a string"
            ]
        );
        assert!(!messages.concat().contains("hunter2"));
    }

    #[test]
    fn infinities_are_refused() {
        let (_, errors) = parse_stream("a: .inf\n", &Limits::default());
        assert!(errors[0].message.contains("not representable in JSON"));
    }

    fn errors_of(text: &str) -> Vec<String> {
        parse_stream(text, &Limits::default())
            .1
            .into_iter()
            .filter(|e| !e.warning)
            .map(|e| format!("{}: {}", e.line, e.message))
            .collect()
    }

    #[test]
    fn a_nul_byte_is_an_error_wherever_it_is() {
        let two = "a: 1\n# \0 NUL\n---\nb: 2\n";
        let (docs, _) = parse_stream(two, &Limits::default());
        assert!(
            docs.is_empty(),
            "nothing of a file with a NUL is used: {docs:?}"
        );
        assert_eq!(
            errors_of(two),
            vec![
                "2: column 3: NUL (U+0000) is not allowed in YAML; a NUL byte usually means \
                 a binary or UTF-16/32 file, or a corrupted one"
            ]
        );
        assert_eq!(errors_of("a: \"x\0y\"\n")[0].split(':').next(), Some("1"));
        assert_eq!(errors_of("a: 1\n\0---\nb: 2\n").len(), 1);
        assert!(errors_of("a: 1\n---\n\0\n")[0].starts_with("3: column 1: NUL"));
    }

    #[test]
    fn control_characters_are_errors_with_line_and_column() {
        for (c, name) in [
            ('\u{1}', "a control character (U+0001)"),
            ('\u{1b}', "a control character (U+001B)"),
            ('\u{7f}', "DEL (U+007F)"),
            ('\u{80}', "a C1 control character (U+0080)"),
            ('\u{9f}', "a C1 control character (U+009F)"),
            ('\u{fffe}', "a non-character (U+FFFE)"),
        ] {
            let errors = errors_of(&format!("a: 1\nb: x{c}y\n"));
            assert_eq!(
                errors,
                vec![format!(
                    "2: column 5: {name} is not allowed in YAML; remove it, or write it as an \
                     escape in a double-quoted string"
                )]
            );
        }
        // Tab, CR, NEL and the rest of Unicode are fine.
        assert!(errors_of("a: \"x\ty\"\r\nb: \u{85}é\u{1F600}\n").is_empty());
    }

    #[test]
    fn character_errors_are_capped_per_file() {
        let text = "a: \u{1}\n".repeat(50);
        let errors = errors_of(&text);
        assert_eq!(errors.len(), MAX_CHARACTER_ERRORS + 1);
        assert!(
            errors[MAX_CHARACTER_ERRORS]
                .ends_with("30 more lines with characters not allowed in YAML")
        );
    }

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

    #[test]
    fn tags_on_mappings_and_sequences_are_errors() {
        assert_eq!(
            errors_of("a: !vault {x: 1}\n"),
            vec!["1: unsupported YAML tag !vault on a mapping (mooring reads plain YAML only)"]
        );
        assert_eq!(
            errors_of("--- !custom\na: 1\n"),
            vec!["2: unsupported YAML tag !custom on a mapping (mooring reads plain YAML only)"]
        );
        assert_eq!(
            errors_of("a: !!python/object\n  x: 1\nb: !!set [1]\n"),
            vec![
                "2: unsupported YAML tag !!python/object on a mapping (mooring reads plain YAML only)",
                "3: unsupported YAML tag !!set on a sequence (mooring reads plain YAML only)"
            ]
        );
        assert!(errors_of("a: !!map {x: 1}\nb: !!seq [1]\n").is_empty());
    }

    #[test]
    fn keys_resolve_before_the_duplicate_check() {
        assert_eq!(
            errors_of("~: 1\nnull: 2\n"),
            vec!["2: duplicate key \"null\" (first defined on line 1)"]
        );
        assert_eq!(
            errors_of("1: a\n0x1: b\n"),
            vec!["2: duplicate key \"1\" (first defined on line 1)"]
        );
        // Quoted keys are strings as written.
        assert!(errors_of("\"~\": 1\n~: 2\n").is_empty());
        let d = one("~: 1\nTrue: 2\n");
        assert_eq!(d.value, serde_json::json!({"null": 1, "true": 2}));
    }

    #[test]
    fn the_alias_bomb_hint_needs_aliases() {
        let limits = Limits {
            max_nodes: 10,
            ..Limits::default()
        };
        let (_, errors) = parse_stream("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]\n", &limits);
        assert_eq!(
            errors[0].message,
            "document has more than 10 nodes; refusing to load it: split it into smaller documents"
        );
        let (_, errors) = parse_stream("a: &a [1, 2, 3]\nb: [*a, *a, *a]\n", &limits);
        assert!(
            errors[0].message.contains("is it an alias bomb?"),
            "{errors:?}"
        );
    }
}
