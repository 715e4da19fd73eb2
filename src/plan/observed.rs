//! What a backend hands the planner: one [`Observed`] row per object, the
//! desired and the live side in comparable form, and how a difference
//! would be carried out ([`UpdateStrategy`]). Backends build these; the
//! planner only reads them, so the arrow runs from `backend` to `plan`.

use serde_json::Value;

use crate::manifest::ObjectId;

/// How a backend carries out a difference between desired and live.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum UpdateStrategy {
    /// Changed in place (Kubernetes server-side apply).
    #[default]
    InPlace,
    /// Deleted and created again (Flintlock has no update RPC).
    Replace,
    /// A replace that the object refuses (`mooring.dev/replace: never`):
    /// the difference is reported as drift and left alone. The string says
    /// why.
    Refused(String),
    /// An in-place update that must not be made (e.g. the live object
    /// belongs to another mooring source): reported, left alone.
    Held(String),
}

/// Where a live object is, in the terms of the backend that observed it:
/// made by that backend's `observe`, read by its `apply`, carried in
/// between by [`Observed`] and [`Change`](super::Change). Never shown: not
/// in a plan's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handle {
    /// A Kubernetes object: its uid (a delete is conditional on it), the
    /// URL of its collection and its name.
    Kubernetes {
        uid: String,
        collection: String,
        name: String,
    },
    /// A Flintlock microVM: the configured host holding it, and its uid.
    Flintlock { host: String, uid: String },
}

/// One object as a backend sees it, ready for [`plan_observed`](super::plan_observed).
///
/// `desired` and `live` are in the form the plan compares: what the target
/// would hold after applying (for Kubernetes, a server-side dry run) and
/// what it holds now, both without server-owned fields (uid, timestamps,
/// managedFields, status).
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub id: ObjectId,
    pub api_version: String,
    /// Where the object is declared, or for a live-only object, where it
    /// lives (e.g. `flintlock host edge-1`).
    pub file: String,
    pub line: usize,
    /// `None`: not in Git (a prune candidate).
    pub desired: Option<Value>,
    /// `None`: absent from the target.
    pub live: Option<Value>,
    /// The live object carries mooring's ownership labels for this source.
    pub owned: bool,
    pub update: UpdateStrategy,
    /// Where the live object is, for `apply` (`None`: nothing live).
    pub handle: Option<Handle>,
    /// Health or other facts worth showing next to the object, e.g.
    /// `FAILED (retried 3 times)`.
    pub notes: Vec<String>,
    /// The live object's health as observe read it, when the backend
    /// judges it from what it listed (`None`: asked later, on its own).
    pub health: Option<crate::plan::health::Health>,
}
