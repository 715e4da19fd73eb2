//! The total input budget of one run: how many bytes of manifests the
//! sources may hand over, checked as each file is found, before anything
//! is read into memory or parsed.
//!
//! A file over the per-file limit is a finding about that file; a run over
//! the total budget is one error that names what was read, and the sources
//! stop reading. Either way the desired side is invalid, so nothing is
//! planned, applied or pruned, and the daemon keeps its last good revision.

use crate::finding::Finding;

use super::input::Limits;

/// Counts the bytes a source admits against [`Limits::max_total_bytes`].
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    used: u64,
    /// Every file admitted, with its size: named in the error.
    admitted: Vec<(String, u64)>,
    /// The file that did not fit, once one did not.
    refused: Option<(String, u64)>,
}

impl Budget {
    pub fn new(limits: &Limits) -> Self {
        Budget {
            limit: limits.max_total_bytes,
            used: 0,
            admitted: Vec::new(),
            refused: None,
        }
    }

    /// Whether a file of `size` bytes still fits. Once one does not, no
    /// further file is admitted either.
    pub fn admit(&mut self, path: &str, size: u64) -> bool {
        if self.refused.is_some() {
            return false;
        }
        if self.used.saturating_add(size) > self.limit {
            self.refused = Some((path.to_string(), size));
            return false;
        }
        self.used += size;
        self.admitted.push((path.to_string(), size));
        true
    }

    pub fn exceeded(&self) -> bool {
        self.refused.is_some()
    }

    /// The error for a run over budget, naming what was read (the largest
    /// files first), or `None` within budget.
    pub fn finding(&self) -> Option<Finding> {
        let (path, size) = self.refused.as_ref()?;
        let mut largest: Vec<&(String, u64)> = self.admitted.iter().collect();
        largest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let shown: Vec<String> = largest
            .iter()
            .take(MAX_NAMED)
            .map(|(p, s)| format!("{p} ({s} bytes)"))
            .collect();
        let more = self.admitted.len().saturating_sub(MAX_NAMED);
        let read = if self.admitted.is_empty() {
            "nothing was read before it".to_string()
        } else {
            format!(
                "{} file{} ({} bytes) {} read before it: {}{}",
                self.admitted.len(),
                if self.admitted.len() == 1 { "" } else { "s" },
                self.used,
                if self.admitted.len() == 1 {
                    "was"
                } else {
                    "were"
                },
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )
        };
        Some(
            Finding::error(
                "load",
                format!(
                    "the manifests are over the total size budget of {} bytes \
                     (--max-total-size): this file ({size} bytes) does not fit, and {read}. \
                     Nothing is planned or applied; point mooring at a smaller folder or \
                     raise --max-total-size",
                    self.limit
                ),
            )
            .at(path.clone(), 1),
        )
    }
}

/// Files named in the over-budget error; the rest are counted.
const MAX_NAMED: usize = 10;

/// An upper bound on the documents in `bytes`, without parsing: one per
/// line that starts with `---`, plus one. A document after a second `---`
/// always starts a line, so this never counts too few for UTF-8 text.
pub fn estimate_documents(bytes: &[u8]) -> usize {
    1 + bytes
        .split(|b| *b == b'\n')
        .filter(|line| line.starts_with(b"---"))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_names_what_was_read() {
        let limits = Limits {
            max_total_bytes: 100,
            ..Limits::default()
        };
        let mut b = Budget::new(&limits);
        assert!(b.admit("a.yaml", 40));
        assert!(b.admit("b.yaml", 50));
        assert!(b.finding().is_none());
        assert!(!b.admit("c.yaml", 20));
        assert!(!b.admit("d.yaml", 1), "nothing is admitted after a refusal");
        assert!(b.exceeded());
        let f = b.finding().expect("over budget");
        assert_eq!(
            f.to_string(),
            "c.yaml:1: the manifests are over the total size budget of 100 bytes \
             (--max-total-size): this file (20 bytes) does not fit, and 2 files (90 bytes) \
             were read before it: b.yaml (50 bytes), a.yaml (40 bytes). Nothing is planned \
             or applied; point mooring at a smaller folder or raise --max-total-size"
        );
    }

    #[test]
    fn documents_are_estimated_from_separators() {
        assert_eq!(estimate_documents(b"a: 1\n"), 1);
        assert_eq!(estimate_documents(b"---\na: 1\n---\nb: 2\n"), 3);
        assert_eq!(estimate_documents(b"a: |\n  ---\n"), 1);
    }
}
