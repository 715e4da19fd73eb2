//! What an object's own annotations say about how it is applied and
//! pruned, whatever the backend:
//!
//! | annotation | on | effect | Flux, Argo CD |
//! | --- | --- | --- | --- |
//! | `mooring.dev/apply: ignore` | the object in Git, or live | never planned, applied or pruned | Flux `kustomize.toolkit.fluxcd.io/ssa: Ignore` |
//! | `mooring.dev/apply: create-only` | the object in Git | created when absent, never updated | Flux `ssa: IfNotPresent`, Argo CD `sync-options: Create=…` has no twin |
//! | `mooring.dev/prune: disabled` | the live object | never deleted when it leaves Git | Flux `kustomize.toolkit.fluxcd.io/prune: disabled`, Argo CD `sync-options: Prune=false` |
//! | `mooring.dev/replace: never` | the object in Git | an immutable change is reported, not replaced | Argo CD `Replace=false` |
//!
//! Flux's and Argo CD's own spellings are honoured too, so a repository
//! moving from them keeps its objects' policy.

use serde_json::Value;

/// `mooring.dev/apply`: `ignore` or `create-only`.
pub const APPLY_ANNOTATION: &str = "mooring.dev/apply";
/// `mooring.dev/prune: disabled`.
pub const PRUNE_ANNOTATION: &str = "mooring.dev/prune";
/// `mooring.dev/replace: never`.
pub const REPLACE_ANNOTATION: &str = "mooring.dev/replace";

const FLUX_SSA: &str = "kustomize.toolkit.fluxcd.io/ssa";
const FLUX_PRUNE: &str = "kustomize.toolkit.fluxcd.io/prune";
const ARGO_SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";

/// Every annotation this module reads: all a backend needs to keep of an
/// object's annotations for its policy to be judged.
pub const ANNOTATIONS: [&str; 6] = [
    APPLY_ANNOTATION,
    PRUNE_ANNOTATION,
    REPLACE_ANNOTATION,
    FLUX_SSA,
    FLUX_PRUNE,
    ARGO_SYNC_OPTIONS,
];

fn annotation<'a>(object: Option<&'a Value>, key: &str) -> Option<&'a str> {
    object?
        .get("metadata")?
        .get("annotations")?
        .get(key)?
        .as_str()
        .map(str::trim)
}

/// Whether an object is never planned, applied or pruned.
pub fn ignored(object: Option<&Value>) -> bool {
    annotation(object, APPLY_ANNOTATION) == Some("ignore")
        || annotation(object, FLUX_SSA).is_some_and(|v| v.eq_ignore_ascii_case("ignore"))
}

/// Whether an object is created when absent and never updated.
pub fn create_only(object: Option<&Value>) -> bool {
    annotation(object, APPLY_ANNOTATION) == Some("create-only")
        || annotation(object, FLUX_SSA).is_some_and(|v| v.eq_ignore_ascii_case("ifnotpresent"))
}

/// Whether an object refuses to be replaced (`mooring.dev/replace: never`).
pub fn replace_never(object: Option<&Value>) -> bool {
    annotation(object, REPLACE_ANNOTATION) == Some("never")
}

/// Whether a live object is never deleted when it leaves Git.
pub fn prune_disabled(live: Option<&Value>) -> bool {
    annotation(live, PRUNE_ANNOTATION) == Some("disabled")
        || annotation(live, FLUX_PRUNE) == Some("disabled")
        || annotation(live, ARGO_SYNC_OPTIONS).is_some_and(|options| {
            options
                .split(',')
                .any(|o| o.trim().eq_ignore_ascii_case("prune=false"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with(key: &str, value: &str) -> Value {
        json!({"metadata": {"annotations": {key: value}}})
    }

    #[test]
    fn each_spelling_is_read() {
        assert!(ignored(Some(&with(APPLY_ANNOTATION, "ignore"))));
        assert!(ignored(Some(&with(FLUX_SSA, "Ignore"))));
        assert!(create_only(Some(&with(APPLY_ANNOTATION, "create-only"))));
        assert!(create_only(Some(&with(FLUX_SSA, "IfNotPresent"))));
        assert!(prune_disabled(Some(&with(PRUNE_ANNOTATION, "disabled"))));
        assert!(prune_disabled(Some(&with(FLUX_PRUNE, "disabled"))));
        assert!(prune_disabled(Some(&with(
            ARGO_SYNC_OPTIONS,
            "ServerSideApply=true, Prune=false"
        ))));
        assert!(!prune_disabled(Some(&with(
            ARGO_SYNC_OPTIONS,
            "Prune=true"
        ))));
        assert!(!ignored(Some(&with(APPLY_ANNOTATION, "create-only"))));
        assert!(!create_only(None));
    }
}
