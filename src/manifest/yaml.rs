//! YAML text → JSON values, with the line of every node.
//!
//! Built on the event layer of the saphyr family (`saphyr-parser`) rather than
//! a serde deserializer, because mooring needs more than the value: the line
//! of every field (so a schema error deep in `spec` points at its own line),
//! duplicate keys reported with both lines, and alias expansion counted
//! *before* it allocates (so a billion-laughs file fails fast in bounded
//! memory). Scalars resolve by the YAML 1.2 core schema.

use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Number, Value};

/// Bounds on what one file may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest manifest file read, in bytes.
    pub max_file_bytes: u64,
    /// Most nodes one document may hold, counting every node an alias
    /// expands to.
    pub max_nodes: usize,
    /// Most scalar text (keys and values) one document may hold, counting
    /// every copy an alias expands to: the bound on memory.
    pub max_bytes: usize,
    /// Deepest nesting of mappings and sequences.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 4 * 1024 * 1024,
            max_nodes: 200_000,
            max_bytes: 32 * 1024 * 1024,
            max_depth: 64,
        }
    }
}

/// Maps JSON pointers (`/spec/interfaces/0`) to the 1-based line the node
/// starts on (for a mapping entry, the line of its key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineIndex {
    lines: HashMap<String, usize>,
}

impl LineIndex {
    /// The line of `pointer`, or of its nearest ancestor that has one.
    pub fn line_of(&self, pointer: &str) -> Option<usize> {
        let mut p = pointer;
        loop {
            if let Some(line) = self.lines.get(p) {
                return Some(*line);
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return None,
            }
        }
    }

    fn insert(&mut self, pointer: String, line: usize) {
        self.lines.entry(pointer).or_insert(line);
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

/// Parses a multi-document stream. Documents that are empty (only comments,
/// or `---` with nothing after it) are skipped. Every problem found is
/// returned; a syntax error ends the file, since nothing after it can be
/// trusted.
pub fn parse_stream(text: &str, limits: &Limits) -> (Vec<Document>, Vec<YamlError>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut builder = Builder::new(limits);
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        match next {
            Ok((event, span)) => {
                if let Err(fatal) = builder.on_event(event, span) {
                    builder.errors.push(fatal);
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
                break;
            }
        }
    }
    (builder.documents, builder.errors)
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
    lines: LineIndex,
    root: Option<Value>,
    doc_line: usize,
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
            lines: LineIndex::default(),
            root: None,
            doc_line: 1,
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
                self.lines = LineIndex::default();
                self.root = None;
                self.doc_line = line;
            }
            Event::DocumentEnd => {
                if let Some(value) = self.root.take()
                    && !value.is_null()
                {
                    self.documents.push(Document {
                        value,
                        line: self.doc_line,
                        lines: std::mem::take(&mut self.lines),
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
            Event::SequenceStart(anchor, _) => self.start_collection(false, anchor, line)?,
            Event::MappingStart(anchor, _) => self.start_collection(true, anchor, line)?,
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
        self.lines.insert(pointer.clone(), line);
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
                    .line_of(&format!("{pointer}/{}", escape_pointer(text)))
                    .unwrap_or(line);
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
        Err(YamlError {
            line,
            message: format!(
                "document expands to {over} (aliases included); \
                 refusing to load it (is it an alias bomb?)"
            ),
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
                self.lines.insert(pointer, line);
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
                    self.lines.lines.insert(pointer, key_line);
                    merged.remove(&k);
                    map.insert(k, value);
                }
            }
        }
    }
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
                "unsupported YAML tag {}{} (mooring reads plain YAML only)",
                tag.handle, tag.suffix
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
}
