//! The desired side, read once: the one pipeline every command and the
//! daemon use between a source and the engine.
//!
//! [`render`] = [`manifest::load`] → [`Validator::check`] →
//! [`translate::expand`] (once, over the validated values, leaving out the
//! Ignite VMs that have errors of their own) → one [`Desired`] value with
//! every finding sorted.
//!
//! Invariants:
//! - Validation and translation run once per render, in that order; neither
//!   calls the other.
//! - A VM is translated as the targets would receive it: without the
//!   unknown fields `--strict=false` let through.
//! - Nothing here does I/O: the source was read before ([`crate::source`]).

use git2::Oid;

use crate::finding::{self, Finding};
use crate::manifest::{self, Limits, Manifest};
use crate::source::Read;
use crate::translate::{self, MemoryFloor, is_ignite_vm};
use crate::validate::Validator;

/// A source's manifests, validated and translated.
#[derive(Debug, Default)]
pub struct Desired {
    /// e.g. `main (1a2b3c4d5e)` or `examples/manifests`.
    pub label: String,
    /// The commit, for a Git source.
    pub revision: Option<Oid>,
    /// Every object as written, validated, with the unknown fields
    /// `--strict=false` let through pruned from the kinds mooring converts
    /// (Ignite VMs included, untranslated: [`Desired::for_targets`] is what
    /// the targets receive).
    pub manifests: Vec<Manifest>,
    /// The Flintlock `MicroVM`s the Ignite VMs became.
    pub microvms: Vec<Manifest>,
    /// Read, load, validation and translation findings, sorted by file and
    /// line.
    pub findings: Vec<Finding>,
    pub files: usize,
    pub documents: usize,
}

impl Desired {
    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.findings.len() - self.errors()
    }

    pub fn is_valid(&self) -> bool {
        self.errors() == 0
    }

    /// `12 documents in 5 files: 0 errors, 1 warning`.
    pub fn summary(&self) -> String {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        format!(
            "{} in {}: {}, {}",
            plural(self.documents, "document"),
            plural(self.files, "file"),
            plural(self.errors(), "error"),
            plural(self.warnings(), "warning")
        )
    }

    /// The set the targets receive: every manifest, with each Ignite VM
    /// replaced by the `MicroVM` it became.
    pub fn for_targets(self) -> Vec<Manifest> {
        let mut out: Vec<Manifest> = self
            .manifests
            .into_iter()
            .filter(|m| !is_ignite_vm(m))
            .collect();
        out.extend(self.microvms);
        out
    }
}

/// How the validator wants an Ignite VM under Flintlock's minimum reported.
fn memory_floor(validator: &Validator) -> MemoryFloor {
    if validator.options().for_flintlock {
        MemoryFloor::Error
    } else {
        MemoryFloor::Warning
    }
}

/// Loads, validates and translates what was read from a source.
pub fn render(read: Read, validator: &Validator, limits: &Limits) -> Desired {
    let loaded = manifest::load(&read.files, limits);
    let mut findings = read.findings;
    findings.extend(loaded.findings);
    let mut manifests = loaded.manifests;
    let checked = validator.check(&manifests);
    let mut skip = vec![false; manifests.len()];
    for ((m, c), skip) in manifests.iter_mut().zip(checked).zip(&mut skip) {
        *skip = is_ignite_vm(m) && c.own_errors();
        findings.extend(c.findings);
        if let Some(v) = c.pruned {
            m.value = v;
        }
    }
    let usable: Vec<&Manifest> = manifests
        .iter()
        .zip(&skip)
        .filter(|(_, skip)| !**skip)
        .map(|(m, _)| m)
        .collect();
    let expanded = translate::expand(&usable, memory_floor(validator));
    findings.extend(expanded.findings);
    finding::sort(&mut findings);
    Desired {
        label: read.label,
        revision: read.revision,
        manifests,
        microvms: expanded.microvms,
        findings,
        files: loaded.files,
        documents: loaded.documents,
    }
}
