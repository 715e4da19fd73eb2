//! The desired side, read once: the one pipeline every command and the
//! daemon use between a source and the engine.
//!
//! [`render`] = [`Renderer::render`] (Kustomize and Helm folders, each
//! object placed at the file and line it was written in) →
//! [`manifest::load_all`] (the plain files, then the rendered objects) →
//! [`Validator::input`] (the kinds the
//! input's CustomResourceDefinitions define) → [`manifest::place`]
//! (identities, now that every scope is known) → [`Validator::check`] →
//! [`translate::expand`] (once, over the validated values, leaving out the
//! Ignite VMs that have errors of their own) → one [`Desired`] value with
//! every finding sorted.
//!
//! Invariants:
//! - Validation and translation run once per render, in that order; neither
//!   calls the other.
//! - A VM is translated as the targets would receive it: without the
//!   unknown fields `--strict=false` let through.
//! - The only I/O is the renderers' ([`crate::render`]): the source was
//!   read before ([`crate::source`]), and a Git revision checked out.

use git2::Oid;

use crate::finding::{self, Finding};
use crate::manifest::{self, Apart, Limits, Manifest};
use crate::render::{self, Renderer};
use crate::source::Read;
use crate::translate::{self, MemoryFloor, is_ignite_vm};
use crate::validate::{Cluster, Validator};

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
    /// Kustomize and Helm folders rendered (from the cache or not), and
    /// the time spent running renderers.
    pub renders: usize,
    pub render_time: std::time::Duration,
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

/// What the target adds to a render, when there is one.
#[derive(Default, Clone, Copy)]
pub struct Live<'a> {
    /// Where a namespaced object without a namespace goes (the kubeconfig
    /// context's namespace); `default` when `None`.
    pub namespace: Option<&'a str>,
    /// The schemas the cluster serves, ahead of the built-in ones.
    pub cluster: Option<&'a Cluster>,
}

/// Loads, validates and translates what was read from a source, offline:
/// namespaced objects without a namespace go to `default`.
pub fn render(read: Read, validator: &Validator, limits: &Limits, renderer: &Renderer) -> Desired {
    render_live(read, validator, limits, renderer, Live::default())
}

/// [`render`], with what the target says: its namespace for objects
/// without one, and its schemas.
pub fn render_live(
    read: Read,
    validator: &Validator,
    limits: &Limits,
    renderer: &Renderer,
    live: Live<'_>,
) -> Desired {
    let namespace = live.namespace.unwrap_or(manifest::DEFAULT_NAMESPACE);
    let apart = if validator.options().renders_apart {
        Apart::Renders
    } else {
        Apart::No
    };
    let (label, revision) = (read.label.clone(), read.revision);
    let loaded = load(read, limits, renderer, namespace, live.cluster, apart);
    let mut findings = loaded.findings;
    let mut manifests = loaded.manifests;
    // The input's CRDs define kinds (and their scopes) for this run only.
    let input = validator.input(&manifests, live.cluster);
    findings.extend(manifest::place(
        &mut manifests,
        &|api_version, kind| validator.scope(&input, api_version, kind),
        namespace,
        apart,
    ));
    findings.extend(manifest::depends::cycles(&manifests));
    let checked = validator.check(&manifests, &input);
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
    findings.dedup_by(|a, b| a.to_string() == b.to_string() && a.severity == b.severity);
    Desired {
        label,
        revision,
        manifests,
        microvms: expanded.microvms,
        findings,
        files: loaded.files,
        documents: loaded.documents,
        renders: loaded.renders,
        render_time: loaded.render_time,
    }
}

/// What [`load`] read.
struct Loaded {
    manifests: Vec<Manifest>,
    findings: Vec<Finding>,
    files: usize,
    documents: usize,
    renders: usize,
    render_time: std::time::Duration,
}

/// Renders the Kustomize and Helm folders of `read`, and loads those
/// objects after the files read as written.
fn load(
    read: Read,
    limits: &Limits,
    renderer: &Renderer,
    namespace: &str,
    cluster: Option<&Cluster>,
    apart: Apart,
) -> Loaded {
    let rendered = renderer.render(
        &read,
        render::Context {
            namespace,
            kube_version: cluster.map(|c| c.version.as_str()),
        },
        limits,
    );
    let files = read.files.len();
    let plain: Vec<manifest::SourceFile> = read
        .files
        .into_iter()
        .zip(
            rendered
                .consumed
                .iter()
                .copied()
                .chain(std::iter::repeat(false)),
        )
        .filter(|(_, consumed)| !consumed)
        .map(|(f, _)| f)
        .collect();
    let loaded = manifest::load_all(&plain, rendered.docs, limits, apart);
    let mut findings = read.findings;
    findings.extend(rendered.findings);
    findings.extend(loaded.findings);
    Loaded {
        manifests: loaded.manifests,
        findings,
        files,
        documents: loaded.documents,
        renders: rendered.renders,
        render_time: rendered.elapsed,
    }
}

/// The objects of a revision as they are, for the old side of a Git-to-Git
/// plan: rendered, loaded and placed (namespaced objects without a
/// namespace in `default`), not validated. Returns them with every
/// finding of the way.
pub fn objects(
    read: Read,
    validator: &Validator,
    limits: &Limits,
    renderer: &Renderer,
) -> (Vec<Manifest>, Vec<Finding>) {
    let namespace = manifest::DEFAULT_NAMESPACE;
    let loaded = load(read, limits, renderer, namespace, None, Apart::No);
    let mut manifests = loaded.manifests;
    let mut findings = loaded.findings;
    // Placed as the desired side is: the revision's own CRDs define the
    // scope of their kinds there.
    let input = validator.input(&manifests, None);
    findings.extend(manifest::place(
        &mut manifests,
        &|api_version, kind| validator.scope(&input, api_version, kind),
        namespace,
        Apart::No,
    ));
    (manifests, findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::SourceFile;
    use crate::validate::Options;

    const CM: &str =
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: apps}\ndata: {a: b}\n";

    fn vm(spec: &str) -> String {
        format!(
            "apiVersion: ignite.weave.works/v1alpha1\nkind: VM\nmetadata: {{name: v}}\nspec:\n  image: {{ociClaim: {{ref: weaveworks/ignite-ubuntu:20.04}}}}\n{spec}"
        )
    }

    fn render_text(text: &str, options: Options) -> Desired {
        let read = Read {
            label: "test".into(),
            files: vec![SourceFile {
                path: "m.yaml".into(),
                rel: "m.yaml".into(),
                bytes: text.as_bytes().to_vec(),
            }],
            ..Read::default()
        };
        let validator = Validator::new(options).expect("built-in schemas compile");
        render(read, &validator, &Limits::default(), &Renderer::default())
    }

    fn messages(d: &Desired) -> Vec<String> {
        d.findings.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_vm_is_translated_once_as_the_targets_receive_it() {
        let text = format!("{}---\n{CM}", vm("  memory: 2GB\n  extra: 1\n"));
        let d = render_text(
            &text,
            Options {
                strict: false,
                ..Options::default()
            },
        );
        assert!(d.is_valid(), "{:#?}", messages(&d));
        assert_eq!(d.microvms.len(), 1, "{:#?}", messages(&d));
        let sent = serde_json::to_string(&d.microvms[0].value).unwrap_or_default();
        assert!(!sent.contains("extra"), "{sent}");
        // Each finding once: validation and translation each ran once.
        let all = messages(&d);
        let mut unique = all.clone();
        unique.dedup();
        assert_eq!(all, unique);
        assert!(
            all.iter().any(|m| m.contains("unknown field: dropped")),
            "{all:#?}"
        );
        assert_eq!((d.files, d.documents), (1, 2));
        let targets: Vec<String> = d.for_targets().iter().map(|m| m.id.to_string()).collect();
        assert_eq!(targets, ["ConfigMap/apps/c", "MicroVM/default/v"]);
    }

    #[test]
    fn a_vm_with_errors_of_its_own_is_not_translated() {
        let d = render_text(&vm("  cpus: many\n"), Options::default());
        assert!(!d.is_valid());
        assert!(d.microvms.is_empty());
        assert!(
            d.findings.iter().all(|f| f.source != translate::SOURCE),
            "{:#?}",
            messages(&d)
        );
        assert!(
            d.findings.iter().any(|f| f.source == "schema"),
            "{:#?}",
            messages(&d)
        );
    }

    #[test]
    fn the_memory_floor_follows_the_validator() {
        let small = vm("  memory: 512MB\n");
        let for_flintlock = render_text(&small, Options::default());
        assert_eq!(for_flintlock.errors(), 1, "{:#?}", messages(&for_flintlock));
        assert!(for_flintlock.microvms.is_empty());
        let plain = render_text(
            &small,
            Options {
                for_flintlock: false,
                ..Options::default()
            },
        );
        assert!(plain.is_valid(), "{:#?}", messages(&plain));
        assert!(plain.warnings() > 0);
        assert_eq!(plain.microvms.len(), 1);
        assert!(
            plain
                .summary()
                .starts_with("1 document in 1 file: 0 errors, "),
            "{}",
            plain.summary()
        );
    }
}
