//! mooring holds live infrastructure to what a Git repository declares.
//!
//! Start at [`desired::render`]: it takes what a [`source`] read and runs
//! the whole offline pipeline (load, schema, typed rules, policies, then
//! translation). [`plan::plan`] compares two sets of manifests. Each stage
//! is usable on its own, and the CLI commands are exactly these pieces:
//!
//! ```text
//! source (resolve, read) → desired [manifest (load) → validate (schema,
//! rules, policy) → translate] → plan (normalize, mask, diff) → backend
//! (observe, apply), driven by the engine (route, guard, order)
//! ```
//!
//! [`kinds`] holds the Rust types every schema is generated from, and
//! [`finding`] the one shape every reported problem takes. [`translate`]
//! turns Ignite VMs into the Flintlock microVMs they run as.

pub mod backend;
pub mod config;
pub mod desired;
pub mod duration;
pub mod engine;
pub mod error;
pub mod file;
pub mod finding;
pub mod kinds;
pub mod leader;
pub mod manifest;
pub mod metrics;
pub mod plan;
pub mod render;
pub mod run;
pub mod serve;
pub mod source;
pub mod translate;
pub mod validate;
