//! The desired side, read once: the one pipeline every command and the
//! daemon use between a source and the engine.
//!
//! [`render`] = [`Renderer::render`] (Kustomize and Helm folders, each
//! object placed at the file and line it was written in) →
//! [`Validator::crds_input`] and [`translate::Declared`] (the kinds the
//! input's CustomResourceDefinitions define, the Ignite Kernels and Images
//! it declares: the files that may hold one are parsed first) → then a
//! part of the files at a time, in order, and the rendered objects last:
//! [`manifest::Loader`] → [`manifest::Placer`] (identities, now that every
//! scope is known) → [`Validator::check_part`] →
//! [`translate::Translator::part`] (once per VM, over the validated values,
//! leaving out the Ignite VMs that have errors of their own) → what is kept
//! of each ([`render_live`]: all; [`check_live`], for `validate`: what the
//! end reads) → [`manifest::depends::cycles`] and
//! [`translate::Translator::finish`] → one [`Desired`] value with every
//! finding sorted. Whatever the
//! parts, what is kept and said is as if the input were read at once.
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
use crate::validate::{self, Cluster, Validator};

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
    /// the targets receive). From [`check_live`], only what later stages
    /// read.
    pub manifests: Vec<Manifest>,
    /// Every object, by name and place, when the objects were dropped
    /// once checked ([`check_live`]); `None` when `manifests` holds them
    /// all.
    pub identities: Option<Vec<Identity>>,
    /// The Flintlock `MicroVM`s the Ignite VMs became (from
    /// [`check_live`], by name and place only: their values are `null`).
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

    /// Every object, by name and place, in the order read.
    pub fn objects(&self) -> Vec<(&manifest::ObjectId, &str, usize)> {
        match &self.identities {
            Some(all) => all
                .iter()
                .map(|i| (&i.id, i.file.as_str(), i.line))
                .collect(),
            None => self
                .manifests
                .iter()
                .map(|m| (&m.id, m.file.as_str(), m.line))
                .collect(),
        }
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
        // Kept as long as the revision stays applied: without the slack
        // of growing (up to half its length).
        out.shrink_to_fit();
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
    run(read, validator, limits, renderer, live, Keep::Everything)
}

/// [`render_live`] for a caller that only reports (`mooring validate`):
/// each object is dropped once checked, but for what the last stages read
/// of it ([`read_after`]: objects with `mooring.dev/depends-on` whole,
/// MicroVMs by name and place, with their value `null`);
/// [`Desired::identities`] names every object. Memory is bounded by a part
/// of the input, not by all of it.
pub fn check_live(
    read: Read,
    validator: &Validator,
    limits: &Limits,
    renderer: &Renderer,
    live: Live<'_>,
) -> Desired {
    run(read, validator, limits, renderer, live, Keep::Identities)
}

/// What the pipeline keeps of each object once it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// Everything: the targets receive it.
    Everything,
    /// What later stages read of each object ([`read_after`]): all of
    /// some, the identity and place of the others.
    Identities,
}

/// How many files are loaded, placed and checked together: enough to
/// keep both cores busy, few enough that a part's objects are a small
/// share of the memory (64 and 256 took the same time on 10,000
/// documents; 64 took 4 MiB less at its peak).
const PART_FILES: usize = 64;

/// What a stage after the checks reads of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// All of it: the dependency cycle check reads the objects with
    /// `mooring.dev/depends-on`.
    Whole,
    /// Its name and place: a MicroVM, for translation's last check.
    Identity,
    Nothing,
}

fn read_after(m: &Manifest) -> After {
    if !manifest::depends::depends_on(&m.value).is_empty() {
        After::Whole
    } else if translate::reads(m) == translate::Reads::Identity {
        After::Identity
    } else {
        After::Nothing
    }
}

/// The stages of [`run`] after loading, fed one part of the input after
/// another, in order.
struct Stages<'a, 'c> {
    validator: &'a Validator,
    input: validate::Input<'c>,
    namespace: &'a str,
    apart: Apart,
    keep: Keep,
    placer: manifest::Placer,
    said: validate::Said,
    translator: translate::Translator,
    findings: Vec<Finding>,
    kept: Vec<Manifest>,
    identities: Vec<Identity>,
}

impl Stages<'_, '_> {
    /// Places and checks the next part's objects, then keeps what
    /// `self.keep` says.
    fn part(&mut self, mut manifests: Vec<Manifest>) {
        if manifests.is_empty() {
            return;
        }
        self.validator.locate(&mut self.input, &manifests);
        let (validator, input) = (self.validator, &self.input);
        self.findings.extend(self.placer.place(
            &mut manifests,
            &|api_version, kind| validator.scope(input, api_version, kind),
            self.namespace,
            self.apart,
        ));
        let checked = validator.check_part(&manifests, input, &mut self.said);
        let mut usable = Vec::with_capacity(manifests.len());
        for (m, c) in manifests.iter_mut().zip(checked) {
            // An Ignite VM with errors of its own is not translated.
            usable.push(!(is_ignite_vm(m) && c.own_errors()));
            self.findings.extend(c.findings);
            if let Some(v) = c.pruned {
                m.value = v;
            }
        }
        let vms: Vec<&Manifest> = manifests
            .iter()
            .zip(&usable)
            .filter(|(m, usable)| **usable && is_ignite_vm(m))
            .map(|(m, _)| m)
            .collect();
        self.translator.part(&vms);
        // What is not kept is freed by the thread pool, not here: the
        // next part waits for this thread, not for the pool.
        let mut done: Vec<serde_json::Value> = Vec::new();
        for mut m in manifests {
            if self.keep == Keep::Identities {
                self.identities.push(Identity {
                    id: m.id.clone(),
                    file: m.file.clone(),
                    line: m.line,
                });
                match read_after(&m) {
                    After::Nothing => {
                        done.push(std::mem::take(&mut m.value));
                        continue;
                    }
                    // Kept by name and place only.
                    After::Identity => {
                        done.push(std::mem::take(&mut m.value));
                        m.lines = Default::default();
                    }
                    After::Whole => {}
                }
            }
            self.kept.push(m);
        }
        if !done.is_empty() {
            rayon::spawn(move || drop(done));
        }
    }
}

/// One object of the desired side, by name and place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub id: manifest::ObjectId,
    pub file: String,
    pub line: usize,
}

/// Render, load, validate and translate, a part of the files at a time;
/// `keep` says what is kept of each object once checked.
fn run(
    read: Read,
    validator: &Validator,
    limits: &Limits,
    renderer: &Renderer,
    live: Live<'_>,
    keep: Keep,
) -> Desired {
    let namespace = live.namespace.unwrap_or(manifest::DEFAULT_NAMESPACE);
    let apart = if validator.options().renders_apart {
        Apart::Renders
    } else {
        Apart::No
    };
    let (label, revision) = (read.label.clone(), read.revision);
    let rendered = render_folders(&read, limits, renderer, namespace, live.cluster);
    let files = read.files.len();
    let mut findings = read.findings;
    findings.extend(rendered.findings);
    let mut plain = plain_files(read.files, &rendered.consumed);
    let mut loader = manifest::Loader::new(&plain, limits, apart);
    // The input's CRDs define kinds (and their scopes) for this run only,
    // so they are read first: the files that may hold one are parsed
    // ahead (and loaded in their turn), the rendered objects looked at.
    let stopped = loader.stopped();
    let mut early: Vec<Option<manifest::Parsed>> = {
        use rayon::prelude::*;
        plain
            .par_iter()
            .map(|f| {
                (!stopped && (validate::may_hold_crd(&f.bytes) || translate::may_declare(&f.bytes)))
                    .then(|| manifest::Parsed::of(f, limits))
            })
            .collect()
    };
    let ahead: Vec<&manifest::Parsed> = early.iter().flatten().collect();
    let crds = manifest::first_declared(&ahead, &rendered.docs, apart, &validate::declares_crd);
    let mut input = validator.crds_input(&crds, live.cluster);
    drop(crds);
    findings.extend(input.take_notes());
    // Every VM is checked against the Ignite Kernels and Images of the
    // whole input, read ahead in the same way.
    let declared = translate::Declared::collect(&manifest::first_declared(
        &ahead,
        &rendered.docs,
        apart,
        &translate::declares,
    ));
    drop(ahead);
    let mut stages = Stages {
        validator,
        input,
        namespace,
        apart,
        keep,
        placer: manifest::Placer::default(),
        said: Default::default(),
        translator: translate::Translator::new(
            declared,
            memory_floor(validator),
            keep == Keep::Everything,
        ),
        findings,
        kept: Vec::new(),
        identities: Vec::new(),
    };
    let mut start = 0;
    // Over the document budget, nothing more is parsed.
    while start < plain.len() && !loader.stopped() {
        let end = (start + PART_FILES).min(plain.len());
        let parsed: Vec<manifest::Parsed> = {
            use rayon::prelude::*;
            let ahead: Vec<Option<manifest::Parsed>> =
                early[start..end].iter_mut().map(Option::take).collect();
            ahead
                .into_par_iter()
                .zip(&plain[start..end])
                .map(|(p, f)| p.unwrap_or_else(|| manifest::Parsed::of(f, limits)))
                .collect()
        };
        // The bytes are not read again.
        for f in &mut plain[start..end] {
            f.bytes = Vec::new();
        }
        stages.part(loader.files(parsed));
        start = end;
    }
    stages.part(loader.rendered(rendered.docs));
    let mut findings = stages.findings;
    findings.extend(loader.findings);
    let manifests = stages.kept;
    findings.extend(manifest::depends::cycles(&manifests));
    let natives: Vec<(&manifest::ObjectId, &str, usize)> = manifests
        .iter()
        .filter(|m| translate::reads(m) == translate::Reads::Identity)
        .map(|m| (&m.id, m.file.as_str(), m.line))
        .collect();
    let expanded = stages.translator.finish(&natives);
    findings.extend(expanded.findings);
    finding::sort(&mut findings);
    findings.dedup_by(|a, b| a.to_string() == b.to_string() && a.severity == b.severity);
    Desired {
        label,
        revision,
        manifests,
        identities: (keep == Keep::Identities).then_some(stages.identities),
        microvms: expanded.microvms,
        findings,
        files,
        documents: loader.documents,
        renders: rendered.renders,
        render_time: rendered.elapsed,
    }
}

/// The files of a read that no render consumed, in order.
fn plain_files(files: Vec<manifest::SourceFile>, consumed: &[bool]) -> Vec<manifest::SourceFile> {
    files
        .into_iter()
        .zip(consumed.iter().copied().chain(std::iter::repeat(false)))
        .filter(|(_, consumed)| !consumed)
        .map(|(f, _)| f)
        .collect()
}

/// Renders the Kustomize and Helm folders of `read`.
fn render_folders(
    read: &Read,
    limits: &Limits,
    renderer: &Renderer,
    namespace: &str,
    cluster: Option<&Cluster>,
) -> render::Rendered {
    renderer.render(
        read,
        render::Context {
            namespace,
            kube_version: cluster.map(|c| c.version.as_str()),
        },
        limits,
    )
}

/// What [`load`] read.
struct Loaded {
    manifests: Vec<Manifest>,
    findings: Vec<Finding>,
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
    let rendered = render_folders(&read, limits, renderer, namespace, cluster);
    let plain = plain_files(read.files, &rendered.consumed);
    let loaded = manifest::load_all(&plain, rendered.docs, limits, apart);
    let mut findings = read.findings;
    findings.extend(rendered.findings);
    findings.extend(loaded.findings);
    Loaded {
        manifests: loaded.manifests,
        findings,
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

    /// `check_live` reads the input a part at a time ([`PART_FILES`]) and
    /// drops what it checked: it says exactly what `render_live` says of
    /// the same input read at once, across parts. A CRD in the last file
    /// defines the kind (and scope) of an object in the first; objects
    /// declared twice in two parts, as written or once placed; a
    /// `depends-on` cycle across parts; an Ignite VM whose MicroVM collides
    /// with one declared parts away, and whose kernel an Ignite Kernel
    /// declares parts later.
    #[test]
    fn reading_by_parts_says_what_reading_at_once_says() {
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  scope: Cluster\n  names: {kind: Widget, plural: widgets}\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          type: object\n          properties:\n            spec:\n              type: object\n              properties: {size: {type: integer}}\n              x-kubernetes-validations: [{rule: 'self.size > 0'}]\n";
        let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: dropped}\nspec: {size: big}\n";
        let dep = |name: &str, on: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: apps\n  annotations: {{mooring.dev/depends-on: ConfigMap/apps/{on}}}\n"
            )
        };
        let microvm = "apiVersion: flintlock.liquidmetal.dev/v1alpha1\nkind: MicroVM\nmetadata: {name: v, namespace: default}\nspec:\n  vcpu: 2\n  memoryInMb: 2048\n  kernel: {image: 'ghcr.io/liquidmetal-dev/flintlock-kernel:5.10.77', filename: boot/vmlinux}\n  rootVolume: {id: root, source: {containerSource: 'ghcr.io/t/rootfs:1.0'}}\n  interfaces: [{deviceId: eth1, type: TAP}]\n";
        let mut files = vec![("000-widget.yaml".to_string(), widget.to_string())];
        files.push(("001-a.yaml".into(), dep("a", "b")));
        files.push(("002-vm.yaml".into(), vm("  memory: 2GB\n")));
        for i in 3..700 {
            files.push((
                format!("{i:03}-cm.yaml"),
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}, namespace: apps}}\ndata: {{a: '{i}'}}\n"),
            ));
        }
        files.push(("400-again.yaml".into(), CM.to_string()));
        files.push(("401-b.yaml".into(), dep("b", "a")));
        files.push(("600-again.yaml".into(), CM.replace("a: b", "a: c")));
        // Told apart by the loader (the kind's scope is not known yet),
        // one object once placed: a Widget is cluster-scoped.
        files.push((
            "003-unplaced.yaml".into(),
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: u}\nspec: {size: 1}\n"
                .into(),
        ));
        files.push((
            "650-placed.yaml".into(),
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: u, namespace: other}\nspec: {size: 1}\n"
                .into(),
        ));
        files.push(("600-microvm.yaml".into(), microvm.to_string()));
        // Declares the VM's kernel, parts after the VM.
        files.push((
            "950-kernel.yaml".into(),
            "apiVersion: ignite.weave.works/v1alpha1\nkind: Kernel\nmetadata: {name: 'weaveworks/ignite-kernel:4.19.47'}\nspec:\n  ociClaim: {type: Docker, ref: 'weaveworks/ignite-kernel:4.19.47'}\n".into(),
        ));
        files.push(("900-crd.yaml".into(), crd.to_string()));
        files.sort();
        let read = || Read {
            label: "test".into(),
            files: files
                .iter()
                .map(|(path, text)| SourceFile {
                    path: path.clone(),
                    rel: path.clone(),
                    bytes: text.as_bytes().to_vec(),
                })
                .collect(),
            ..Read::default()
        };
        let validator = Validator::new(Options::default()).expect("built-in schemas compile");
        let (limits, renderer) = (Limits::default(), Renderer::default());
        let whole = render(read(), &validator, &limits, &renderer);
        let parts = check_live(read(), &validator, &limits, &renderer, Live::default());
        let said = messages(&whole);
        assert_eq!(messages(&parts), said);
        for expected in [
            "000-widget.yaml:4: Widget/w: spec.size:",
            "000-widget.yaml:3: warning: Widget/w: metadata.namespace: Widget is cluster-scoped",
            "900-crd.yaml:19: warning: CustomResourceDefinition/widgets.example.com: spec.versions[0]",
            "600-again.yaml:1: ConfigMap/apps/c: declared twice: also at 400-again.yaml:1",
            "650-placed.yaml:1: Widget/u: declared twice: also at 003-unplaced.yaml:1",
            "001-a.yaml:6: ConfigMap/apps/a: metadata.annotations: mooring.dev/depends-on makes a cycle",
            "002-vm.yaml:3: VM/v: metadata.name: becomes MicroVM/default/v, which is also declared at 600-microvm.yaml:1",
        ] {
            assert!(
                said.iter().any(|f| f.starts_with(expected)),
                "{expected}\n{said:#?}"
            );
        }
        assert!(
            !said
                .iter()
                .any(|f| f.contains("is not declared by any Ignite Kernel")),
            "{said:#?}"
        );
        assert!(
            said.iter()
                .any(|f| f.contains("is not declared by any Ignite Image")),
            "{said:#?}"
        );
        assert_eq!(parts.objects(), whole.objects());
        assert_eq!(
            (parts.files, parts.documents),
            (whole.files, whole.documents)
        );
        // Kept: the two ConfigMaps with depends-on whole, the MicroVM by
        // name and place; the VM was translated in its part.
        let kept: Vec<String> = parts.manifests.iter().map(|m| m.id.to_string()).collect();
        assert_eq!(
            kept,
            ["ConfigMap/apps/a", "ConfigMap/apps/b", "MicroVM/default/v"]
        );
        assert!(parts.manifests[2].value.is_null());
        assert_eq!(whole.manifests.len(), whole.objects().len());
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
