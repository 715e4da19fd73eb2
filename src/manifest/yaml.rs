//! YAML text → JSON values, with the line of every node.
//!
//! Built on the event layer of the saphyr family (`saphyr-parser`) rather than
//! a serde deserializer, because mooring needs more than the value: the line
//! of every field (so a schema error deep in `spec` points at its own line),
//! duplicate keys reported with both lines, and alias expansion counted
//! *before* it allocates (so a billion-laughs file fails fast in bounded
//! memory).
//!
//! It stands on two private files of `manifest`: `text` decodes the bytes,
//! refuses the characters YAML forbids and owns [`YamlError`] (re-exported
//! here with [`decode`], where callers use them); `scalar` resolves scalars
//! by the YAML 1.2 core schema and spots the YAML 1.1 surprises. Neither
//! imports this file.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Value};

use super::scalar::{core_tag, key_text, resolve_scalar, tag_text, yaml11_surprise};
pub use super::text::{YamlError, decode};
use super::text::{forbidden_characters, position_of_char};
use crate::source::Limits;

/// Maps JSON pointers (`/spec/interfaces/0`) to the 1-based line the node
/// starts on (for a mapping entry, the line of its key).
///
/// Kept compact, since every node of every manifest has an entry and the
/// index lives as long as the manifest: a sorted slice of (pointer hash,
/// line), 16 bytes a node, rather than a map of pointer strings (about
/// 80). A pointer's hash is built a segment at a time from its parent's
/// ([`child_hash`]), so the reader never writes a pointer out: it hashes
/// each key or index once, under the hash of the collection it is in.
/// Hashes are foldhash's quality variant with a fixed seed, so the index is
/// deterministic; a collision (odds about n²/2⁶⁵ for n nodes in one
/// document) could only give a finding a wrong line, never change a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineIndex {
    lines: Box<[(u64, u32)]>,
}

/// The hash of the root pointer, `""`: the document itself.
const ROOT: u64 = 0;

/// The hash of the pointer to the child `segment` (a key as written,
/// unescaped, or an index in decimal) of the node whose pointer hashes to
/// `parent`.
fn child_hash(parent: u64, segment: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::quality::FixedState::default().hash_one((parent, segment))
}

/// The hash of the pointer to item `index` of the sequence at `parent`.
fn item_hash(parent: u64, index: usize) -> u64 {
    child_hash(parent, itoa::Buffer::new().format(index))
}

impl LineIndex {
    /// The line of `pointer` (an RFC 6901 JSON pointer: `""`, or `/`
    /// then segments, with `~1` for `/` and `~0` for `~`), or of its
    /// nearest ancestor that has one.
    pub fn line_of(&self, pointer: &str) -> Option<usize> {
        let mut hashes = vec![ROOT];
        if !pointer.is_empty() {
            let mut hash = ROOT;
            for segment in pointer.strip_prefix('/')?.split('/') {
                hash = child_hash(hash, &crate::kinds::token_text(segment));
                hashes.push(hash);
            }
        }
        hashes.iter().rev().find_map(|h| {
            let i = self.lines.binary_search_by_key(h, |(k, _)| *k).ok()?;
            Some(self.lines[i].1 as usize)
        })
    }
}

/// A [`LineIndex`] being built, keyed by pointer hash: the first line
/// recorded for a pointer wins, unless it is
/// [`overwrite`](LineBuilder::overwrite)n.
#[derive(Default)]
struct LineBuilder {
    /// Keyed by hashes already: hashed again with foldhash's fast variant.
    lines: HashMap<u64, u32, foldhash::fast::FixedState>,
}

fn line_u32(line: usize) -> u32 {
    u32::try_from(line).unwrap_or(u32::MAX)
}

impl LineBuilder {
    fn insert(&mut self, hash: u64, line: usize) {
        self.lines.entry(hash).or_insert(line_u32(line));
    }

    fn overwrite(&mut self, hash: u64, line: usize) {
        self.lines.insert(hash, line_u32(line));
    }

    fn get(&self, hash: u64) -> Option<usize> {
        self.lines.get(&hash).map(|l| *l as usize)
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

enum Frame {
    Seq {
        items: Vec<Value>,
        /// The hash of the sequence's pointer.
        pointer: u64,
        anchor: usize,
    },
    Map {
        map: Map<String, Value>,
        /// The hash of the mapping's pointer.
        pointer: u64,
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
                    return self.on_key(text, style, line);
                }
                let len = text.len();
                let surprise = (style == ScalarStyle::Plain && tag.is_none())
                    .then(|| yaml11_surprise(&text))
                    .flatten();
                // The scanner's own string becomes the value: not copied.
                let value = match resolve_scalar(text, style, tag.as_deref()) {
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
                if let Some(message) = surprise {
                    self.errors.push(YamlError {
                        line,
                        message,
                        warning: true,
                    });
                }
                self.add_nodes(1, len, line)?;
                if anchor > 0 {
                    self.anchors.insert(anchor, (value.clone(), 1, len));
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
                        Value::String(s) => self.on_key(s.into(), ScalarStyle::SingleQuoted, line),
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
        self.lines.insert(pointer, line);
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

    fn on_key(
        &mut self,
        text: Cow<'_, str>,
        style: ScalarStyle,
        line: usize,
    ) -> Result<(), YamlError> {
        let merge = text == "<<" && style == ScalarStyle::Plain;
        // A plain key resolves like any plain scalar (`~` and `null` are the
        // same key, so are `1` and `0x1`); JSON keys are its text form.
        let resolved = if style == ScalarStyle::Plain && !merge {
            key_text(&text)
        } else {
            None
        };
        let text = resolved.unwrap_or_else(|| text.into_owned());
        self.add_nodes(0, text.len(), line)?;
        if let Some(Frame::Map {
            map,
            key,
            merged,
            pointer,
            ..
        }) = self.stack.last_mut()
        {
            if !merge && map.contains_key(&text) && !merged.contains(&text) {
                let first = self.lines.get(child_hash(*pointer, &text)).unwrap_or(line);
                self.errors.push(YamlError {
                    line,
                    message: format!("duplicate key \"{text}\" (first defined on line {first})"),
                    warning: false,
                });
            }
            *key = Some((text, line, merge));
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

    /// The hash of the pointer of the node about to be added to the top
    /// frame.
    fn child_pointer(&self) -> u64 {
        match self.stack.last() {
            None => ROOT,
            Some(Frame::Seq { items, pointer, .. }) => item_hash(*pointer, items.len()),
            Some(Frame::Map { key, pointer, .. }) => match key {
                Some((k, _, false)) => child_hash(*pointer, k),
                _ => *pointer,
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
                    self.lines.overwrite(pointer, key_line);
                    if !merged.is_empty() {
                        merged.remove(&k);
                    }
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

#[cfg(test)]
mod tests;
