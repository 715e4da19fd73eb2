//! Where a rendered object came from: the file a renderer names (Kustomize's
//! `config.kubernetes.io/origin` annotation, Helm's `# Source:` comment)
//! and the object's line in it, so that findings point at what a person
//! edits, never at the rendered stream.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::manifest::{Limits, LineIndex, yaml};

/// The documents of origin files, each parsed once per render.
#[derive(Default)]
pub struct Files {
    parsed: HashMap<String, Option<(String, Vec<yaml::Document>)>>,
}

/// An object's place in its origin file.
pub struct Place {
    pub line: usize,
    pub lines: LineIndex,
}

impl Files {
    /// The text and documents of `shown`, read from `on_disk`; `None` when
    /// it cannot be read.
    fn get(
        &mut self,
        shown: &str,
        on_disk: &Path,
        limits: &Limits,
    ) -> Option<&(String, Vec<yaml::Document>)> {
        self.parsed
            .entry(shown.to_string())
            .or_insert_with(|| {
                let len = std::fs::metadata(on_disk).ok()?.len();
                if len > limits.max_file_bytes {
                    return None;
                }
                let bytes = crate::file::read(on_disk).ok()?;
                let text = String::from_utf8(bytes).ok()?;
                let (docs, _) = yaml::parse_stream(&text, limits);
                Some((text, docs))
            })
            .as_ref()
    }

    /// Where the object `rendered` (kind and name after the render) was
    /// written in the resource file `shown`: the document of its kind and
    /// name (a prefix or suffix the render added allowed), else the only
    /// one of its kind, else the first line.
    pub fn resource(
        &mut self,
        shown: &str,
        on_disk: &Path,
        rendered: &Value,
        limits: &Limits,
    ) -> Place {
        let kind = kind_of(rendered);
        let name = name_of(rendered);
        let Some((_, docs)) = self.get(shown, on_disk, limits) else {
            return first_line();
        };
        let same_kind: Vec<&yaml::Document> =
            docs.iter().filter(|d| kind_of(&d.value) == kind).collect();
        let best = same_kind
            .iter()
            .find(|d| name_of(&d.value) == name)
            .or_else(|| {
                same_kind
                    .iter()
                    .find(|d| !name_of(&d.value).is_empty() && name.contains(name_of(&d.value)))
            })
            .or(same_kind.first());
        match best {
            Some(d) => Place {
                line: d.line,
                lines: d.lines.clone(),
            },
            None => first_line(),
        }
    }

    /// Where a generator in the kustomization `shown` declared the object
    /// `rendered` (a ConfigMap or Secret whose name has the generator's
    /// name in it): the generator entry's line.
    pub fn generator(
        &mut self,
        shown: &str,
        on_disk: &Path,
        rendered: &Value,
        limits: &Limits,
    ) -> Place {
        let name = name_of(rendered);
        let Some((_, docs)) = self.get(shown, on_disk, limits) else {
            return first_line();
        };
        for doc in docs {
            for key in ["configMapGenerator", "secretGenerator"] {
                let Some(Value::Array(entries)) = doc.value.get(key) else {
                    continue;
                };
                for (i, e) in entries.iter().enumerate() {
                    let n = name_of(e);
                    if !n.is_empty() && name.contains(n) {
                        let line = doc
                            .lines
                            .line_of(&format!("/{key}/{i}"))
                            .unwrap_or(doc.line);
                        return Place {
                            line,
                            lines: LineIndex::default(),
                        };
                    }
                }
            }
        }
        first_line()
    }

    /// Where a Helm template made the object `rendered`: the first line
    /// of the template saying its kind, else the first line.
    pub fn template(
        &mut self,
        shown: &str,
        on_disk: &Path,
        rendered: &Value,
        limits: &Limits,
    ) -> Place {
        let kind = kind_of(rendered);
        // A template is not YAML until rendered: only its text is used.
        let text = self
            .get(shown, on_disk, limits)
            .map(|(text, _)| text.clone());
        let line = text.and_then(|t| {
            t.lines()
                .position(|l| {
                    l.trim_start()
                        .strip_prefix("kind:")
                        .is_some_and(|k| k.trim().trim_matches(['"', '\'']) == kind)
                })
                .map(|i| i + 1)
        });
        Place {
            line: line.unwrap_or(1),
            lines: LineIndex::default(),
        }
    }
}

fn first_line() -> Place {
    Place {
        line: 1,
        lines: LineIndex::default(),
    }
}

fn kind_of(v: &Value) -> &str {
    v.get("kind").and_then(Value::as_str).unwrap_or_default()
}

fn name_of(v: &Value) -> &str {
    v.get("metadata")
        .and_then(|m| m.get("name"))
        .or_else(|| v.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}
