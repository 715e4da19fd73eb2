//! What a set of manifests declares through Ignite `Kernel` and `Image`
//! objects, and image references written in full so that two spellings of
//! one image compare equal. [`super::ignite_vm`] warns about a VM whose
//! kernel or image nothing declares, and writes the references it puts in
//! the `MicroVM` in full.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::kinds::ignite as ig;
use crate::manifest::Manifest;

/// The kernels and images a set of manifests declares through Ignite
/// `Kernel` and `Image` objects. Both their names and their
/// `spec.ociClaim.ref` count (Ignite names these objects after the
/// reference), compared in fully qualified form, so `weaveworks/x:1` and
/// `docker.io/weaveworks/x:1` are the same image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    kernels: BTreeSet<String>,
    images: BTreeSet<String>,
}

impl Declared {
    pub fn from_manifests(manifests: &[Manifest]) -> Declared {
        Declared::collect(manifests)
    }

    pub fn collect<'a>(manifests: impl IntoIterator<Item = &'a Manifest>) -> Declared {
        let mut out = Declared::default();
        for m in manifests {
            let set = match m.kind.filter(|k| k.group == ig::GROUP).map(|k| k.kind) {
                Some("Kernel") => &mut out.kernels,
                Some("Image") => &mut out.images,
                _ => continue,
            };
            set.insert(normalize_reference(&m.id.name));
            for pointer in ["/spec/ociClaim/ref", "/spec/oci"] {
                if let Some(r) = m.value.pointer(pointer).and_then(Value::as_str) {
                    set.insert(normalize_reference(r));
                }
            }
        }
        out
    }

    /// Whether an Ignite `Kernel` object declares this image reference.
    pub fn declares_kernel(&self, reference: &str) -> bool {
        self.kernels.contains(&normalize_reference(reference))
    }

    /// Whether an Ignite `Image` object declares this image reference.
    pub fn declares_image(&self, reference: &str) -> bool {
        self.images.contains(&normalize_reference(reference))
    }
}

/// An image reference as Docker reads it, written out in full: registry
/// `docker.io` when the first path component is not a host (no `.` or `:`,
/// not `localhost`), `library/` for official images, `:latest` when neither
/// a tag nor a digest is given. `weaveworks/ignite-ubuntu:20.04` becomes
/// `docker.io/weaveworks/ignite-ubuntu:20.04`.
pub fn normalize_reference(reference: &str) -> String {
    let r = reference.trim();
    let (name, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    let (name, tag) = match name.rfind(':') {
        Some(i) if !name[i + 1..].contains('/') => (&name[..i], Some(&name[i + 1..])),
        _ => (name, None),
    };
    let (domain, path) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => ("docker.io", name),
    };
    let domain = if domain == "index.docker.io" {
        "docker.io"
    } else {
        domain
    };
    let mut out = if domain == "docker.io" && !path.contains('/') {
        format!("{domain}/library/{path}")
    } else {
        format!("{domain}/{path}")
    };
    if let Some(tag) = tag {
        out.push(':');
        out.push_str(tag);
    }
    if let Some(digest) = digest {
        out.push('@');
        out.push_str(digest);
    } else if tag.is_none() {
        out.push_str(":latest");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_written_in_full() {
        for (given, full) in [
            (
                "weaveworks/ignite-ubuntu:20.04",
                "docker.io/weaveworks/ignite-ubuntu:20.04",
            ),
            ("ubuntu", "docker.io/library/ubuntu:latest"),
            ("ubuntu:22.04", "docker.io/library/ubuntu:22.04"),
            ("ghcr.io/tidewater/k6:0.49.0", "ghcr.io/tidewater/k6:0.49.0"),
            ("localhost:5000/kernel", "localhost:5000/kernel:latest"),
            ("localhost/kernel:1", "localhost/kernel:1"),
            (
                "index.docker.io/weaveworks/ignite-kernel:5.4.108",
                "docker.io/weaveworks/ignite-kernel:5.4.108",
            ),
            (
                "weaveworks/k@sha256:0123abcd",
                "docker.io/weaveworks/k@sha256:0123abcd",
            ),
            (
                "reg.example.com:443/a/b:1@sha256:00",
                "reg.example.com:443/a/b:1@sha256:00",
            ),
        ] {
            assert_eq!(normalize_reference(given), full, "{given}");
        }
    }
}
