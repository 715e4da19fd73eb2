//! What a backend is waiting for after a write, for a program that shows
//! it as it happens (the CLI's progress line on a terminal): a microVM
//! being created or deleted, a Namespace terminating, a CRD becoming
//! Established. Nobody is told by default; a program sets one hook with
//! [`on_waiting`], as it does for Git transfers
//! ([`crate::source::git::on_transfer_progress`]).
//!
//! A backend opens a [`Notice`] when a wait starts, calls
//! [`Notice::still`] after each look that finds the object not there yet,
//! and the notice says the wait is over when it is dropped, on every way
//! out of the wait (done, timed out or failed).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One wait, as the hook is told of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting<'a> {
    /// The object waited for, with its backend:
    /// `Namespace/shop [kubernetes]`.
    pub object: &'a str,
    /// What it is waited for, and where it stands: `to be gone:
    /// Terminating, finalizers [kubernetes]`. Empty once `done`.
    pub what: &'a str,
    /// Since the wait started.
    pub elapsed: Duration,
    /// The wait is over (whatever its outcome, which the result says).
    pub done: bool,
}

/// What [`on_waiting`] is given.
pub type WaitHook = Box<dyn Fn(&Waiting<'_>) + Send + Sync>;

static HOOK: OnceLock<WaitHook> = OnceLock::new();

/// Has `tell` called on every round of every backend's wait from now on.
/// Only the first call takes effect.
pub fn on_waiting(tell: WaitHook) {
    let _ = HOOK.set(tell);
}

/// One wait of a backend, told to the hook (if any) while it lasts.
pub(crate) struct Notice {
    object: String,
    started: Instant,
    told: bool,
}

impl Notice {
    /// A wait for `object` (`Kind/namespace/name`) of `backend` starts.
    pub(crate) fn start(backend: &str, object: &str) -> Notice {
        Notice {
            object: format!("{object} [{backend}]"),
            started: Instant::now(),
            told: false,
        }
    }

    /// The object is not there yet: `what` it is waited for, and where it
    /// stands.
    pub(crate) fn still(&mut self, what: &str) {
        if let Some(tell) = HOOK.get() {
            self.told = true;
            tell(&Waiting {
                object: &self.object,
                what,
                elapsed: self.started.elapsed(),
                done: false,
            });
        }
    }
}

impl Drop for Notice {
    fn drop(&mut self) {
        if self.told
            && let Some(tell) = HOOK.get()
        {
            tell(&Waiting {
                object: &self.object,
                what: "",
                elapsed: self.started.elapsed(),
                done: true,
            });
        }
    }
}
