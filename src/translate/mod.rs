//! Translation: manifests of a kind mooring does not apply as written,
//! turned into a kind it does. Today that is Weave Ignite's `VM`, which
//! becomes a Flintlock `MicroVM` ([`ignite`]); Ignite `Kernel` and `Image`
//! objects only declare what VMs may use, and `Pool` is host-local.
//!
//! Start at [`expand`] for a whole set of manifests (what
//! [`crate::desired::render`] calls, once, after validation) or
//! [`ignite_vm`] for one VM. Translation never calls validation: it checks
//! the `MicroVM`s it makes with the shared helpers of
//! [`crate::validate::schema`].
//!
//! Invariants:
//! - Translation is pure: no I/O, and the same input always gives the same
//!   output (maps are sorted, nothing depends on time or on the machine).
//! - Every finding points at the *Ignite* field it is about, in Ignite
//!   terms, with the Ignite file and line; the Flintlock field it became is
//!   named in the message only when that helps.
//! - A translation with an error yields no `MicroVM`: nothing half-translated
//!   is ever applied. Warnings (fields Flintlock has no equivalent for) do
//!   not stop it.
//! - The `MicroVM` produced passes the same schema and typed rules as a
//!   hand-written one, so Flintlock's own limits (1024 MB minimum memory,
//!   at most 64 vCPUs, ...) fail here, before any call to a host.

pub mod ignite;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use rayon::prelude::*;
use serde_json::Value;

use crate::finding::{self, Finding};
use crate::kinds::{self, KindInfo, KindType};
use crate::manifest::{Manifest, ObjectId};

pub use ignite::{Declared, ignite_vm};

/// Annotation naming what a translated object was made from, e.g.
/// `ignite.weave.works/v1alpha1 VM/dev-sandbox`.
pub const TRANSLATED_FROM_ANNOTATION: &str = "mooring.dev/translated-from";

/// What one source object became.
#[derive(Debug, Clone, Default)]
pub struct Translation {
    /// The Flintlock `MicroVM`; `None` when any finding is an error.
    pub microvm: Option<Manifest>,
    /// Errors and warnings, located in the source manifest.
    pub findings: Vec<Finding>,
}

impl Translation {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(Finding::is_error)
    }
}

/// Whether `m` is an Ignite `VM`, of any version mooring knows.
pub fn is_ignite_vm(m: &Manifest) -> bool {
    m.kind
        .is_some_and(|k| k.group == kinds::ignite::GROUP && k.kind == "VM")
}

/// How an Ignite VM under Flintlock's 1024 MiB minimum is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryFloor {
    /// The VM is meant for Flintlock (apply, translate, `validate --for
    /// flintlock`, a Flintlock target configured): an error, nothing
    /// translated.
    Error,
    /// `validate` with no Flintlock in sight: a warning saying why it
    /// matters. The VM is still translated, for the other findings.
    Warning,
}

/// What translation reads of an object after it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// Only its identity, file and line: a MicroVM, which an Ignite VM's
    /// translation may collide with ([`Translator::finish`]).
    Identity,
    /// Nothing: an Ignite VM is translated in its part
    /// ([`Translator::part`]), and the Kernels and Images it names are
    /// read ahead ([`declares`]).
    Nothing,
}

/// What translation reads of `m` after it is checked.
pub fn reads(m: &Manifest) -> Reads {
    if is_kind::<kinds::flintlock::MicroVm>(m) {
        Reads::Identity
    } else {
        Reads::Nothing
    }
}

/// Whether a document may be an Ignite `Kernel` or `Image`, which every
/// VM is checked against: read ahead of the VMs.
pub fn declares(value: &Value) -> bool {
    value
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with(kinds::ignite::GROUP))
        && matches!(
            value.get("kind").and_then(Value::as_str),
            Some("Kernel" | "Image")
        )
}

/// Whether a file may hold an Ignite `Kernel` or `Image`: the group and
/// one of the kinds are written out in it.
pub fn may_declare(bytes: &[u8]) -> bool {
    let has = |word: &str| memchr::memmem::find(bytes, word.as_bytes()).is_some();
    has(kinds::ignite::GROUP) && (has("Kernel") || has("Image"))
}

pub(crate) fn is_kind<T: KindType>(m: &Manifest) -> bool {
    m.kind
        .is_some_and(|k| k.group == T::GROUP && k.kind == T::KIND && k.version == T::VERSION)
}

/// What a set of manifests translates to.
#[derive(Debug, Clone, Default)]
pub struct Expanded {
    /// The `MicroVM`s that translated without error, in input order.
    pub microvms: Vec<Manifest>,
    /// Every finding, sorted.
    pub findings: Vec<Finding>,
}

/// Translates every Ignite `VM` in `manifests` into a Flintlock `MicroVM`,
/// cross-checking their kernels and images against the Ignite `Kernel` and
/// `Image` objects of the same set. Borrowed, so that a caller can leave
/// some out (VMs with errors of their own, whose findings already say what
/// to fix).
pub fn expand(manifests: &[&Manifest], floor: MemoryFloor) -> Expanded {
    let mut translator = Translator::new(Declared::collect(manifests.iter().copied()), floor, true);
    translator.part(manifests);
    let natives: Vec<(&ObjectId, &str, usize)> = manifests
        .iter()
        .filter(|m| is_kind::<kinds::flintlock::MicroVm>(m))
        .map(|m| (&m.id, m.file.as_str(), m.line))
        .collect();
    translator.finish(&natives)
}

/// How many VMs are translated together: both cores busy, and the
/// MicroVMs a report does not keep freed as it goes.
const BATCH: usize = 256;

/// [`expand`] of an input given a part at a time, each part's VMs
/// translated as it comes: every Kernel and Image of the input is known
/// up front, and what the VMs became is checked against the MicroVMs
/// declared anywhere in the input at the end.
pub struct Translator {
    declared: Declared,
    floor: MemoryFloor,
    /// MicroVMs are kept whole (for the targets), or by name and place
    /// only, their value `null` (for a report).
    whole: bool,
    made: Vec<Made>,
    findings: Vec<Finding>,
}

/// A MicroVM made, and where its VM's name is.
struct Made {
    microvm: Manifest,
    vm: String,
    file: String,
    name_line: usize,
}

impl Translator {
    pub fn new(declared: Declared, floor: MemoryFloor, whole: bool) -> Translator {
        Translator {
            declared,
            floor,
            whole,
            made: Vec::new(),
            findings: Vec::new(),
        }
    }

    /// Translates the Ignite VMs among the next part's `manifests`.
    pub fn part(&mut self, manifests: &[&Manifest]) {
        let vms: Vec<&Manifest> = manifests
            .iter()
            .copied()
            .filter(|m| is_ignite_vm(m))
            .collect();
        for batch in vms.chunks(BATCH) {
            let translations: Vec<Translation> = batch
                .par_iter()
                .map(|vm| ignite_vm(vm, &self.declared, self.floor))
                .collect();
            for (vm, mut t) in batch.iter().zip(translations) {
                self.findings.append(&mut t.findings);
                if let Some(mut microvm) = t.microvm {
                    if !self.whole {
                        microvm.value = Value::Null;
                        microvm.lines = Default::default();
                    }
                    self.made.push(Made {
                        microvm,
                        vm: vm.id.to_string(),
                        file: vm.file.clone(),
                        name_line: vm.line_of("/metadata/name"),
                    });
                }
            }
        }
    }

    /// What the whole input translated to: a MicroVM that one of the
    /// `natives` (MicroVMs declared in the input: identity, file, line)
    /// already is, is an error at its VM's name, and is not made.
    pub fn finish(mut self, natives: &[(&ObjectId, &str, usize)]) -> Expanded {
        let native: BTreeMap<&ObjectId, (&str, usize)> = natives
            .iter()
            .map(|(id, file, line)| (*id, (*file, *line)))
            .collect();
        let mut microvms = Vec::with_capacity(self.made.len());
        for made in self.made {
            match native.get(&made.microvm.id) {
                Some((file, line)) => self.findings.push(
                    Finding::error(
                        SOURCE,
                        format!(
                            "becomes {}, which is also declared at {file}:{line}; rename one of them",
                            made.microvm.id
                        ),
                    )
                    .at(made.file, made.name_line)
                    .object(made.vm)
                    .field("metadata.name"),
                ),
                None => microvms.push(made.microvm),
            }
        }
        finding::sort(&mut self.findings);
        Expanded {
            microvms,
            findings: self.findings,
        }
    }
}

/// The `source` of every finding this module makes.
pub(crate) const SOURCE: &str = "translate";

/// The registered `MicroVM` kind.
pub(crate) fn microvm_kind() -> Option<&'static KindInfo> {
    use kinds::flintlock::MicroVm;
    kinds::all().iter().find(|k| {
        k.group == MicroVm::GROUP && k.kind == MicroVm::KIND && k.version == MicroVm::VERSION
    })
}

/// The `MicroVM` schema, compiled once.
static MICROVM_SCHEMA: LazyLock<Option<jsonschema::Validator>> = LazyLock::new(|| {
    microvm_kind().and_then(|k| crate::validate::schema::compile(&(k.schema)()).ok())
});

/// A problem with a translated `MicroVM`, as Flintlock's rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FlintlockProblem {
    /// Pointer into the `MicroVM` document.
    pub pointer: String,
    pub message: String,
}

/// Checks a `MicroVM` document against its schema and typed rules, exactly
/// as `validate` checks a hand-written one.
pub(crate) fn check_microvm(value: &Value) -> Vec<FlintlockProblem> {
    let mut out = Vec::new();
    let secret = |p: &str| {
        kinds::is_secret(
            kinds::flintlock::MicroVm::GROUP,
            kinds::flintlock::MicroVm::KIND,
            p,
        )
    };
    if let Some(schema) = MICROVM_SCHEMA.as_ref() {
        for e in schema.iter_errors(value) {
            for (pointer, severity, message) in crate::validate::schema::describe(&e, true, &secret)
            {
                if severity == finding::Severity::Error {
                    out.push(FlintlockProblem { pointer, message });
                }
            }
        }
    }
    if out.is_empty()
        && let Some(kind) = microvm_kind()
    {
        for v in (kind.check)(value) {
            if v.severity == finding::Severity::Error {
                out.push(FlintlockProblem {
                    pointer: v.pointer,
                    message: v.message,
                });
            }
        }
    }
    out
}
