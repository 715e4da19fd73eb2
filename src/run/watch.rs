//! A source's watch on its live objects: what makes the daemon look for
//! drift within seconds instead of every `driftInterval`.
//!
//! [`DriftWatch::follow`] (re)starts the backends' watches
//! ([`crate::engine::Engine::watch`]) over the kinds of the applied
//! revision whenever that revision changes, and retries after a failed
//! start on the next call. [`DriftWatch::changed`] waits for an event, then
//! coalesces everything that arrives within the debounce window into one
//! wake-up: the caller runs one drift check for a burst of changes.
//!
//! Invariants: a drift check that applies nothing writes nothing, so it
//! produces no event and cannot trigger another one (mooring's own heals
//! produce one more check, which finds nothing); `changed` is cancel-safe
//! (its state lives in the struct), so it can sit in a `select!`; without a
//! watch it never returns, and the periodic drift check is unaffected.

use std::time::Duration;

use futures::StreamExt;

use super::SourceRunner;
use crate::backend::WatchStream;

/// How long events are gathered into one drift check.
pub const DEBOUNCE: Duration = Duration::from_millis(750);

/// One source's watch and its debounce state.
pub struct DriftWatch {
    stream: Option<WatchStream>,
    /// The applied revision the watch covers; `None` when no watch was
    /// started for the current one (not yet, failed, or ended).
    revision: Option<git2::Oid>,
    /// When the gathered events are handed over.
    due: Option<tokio::time::Instant>,
    gathered: usize,
    debounce: Duration,
}

impl DriftWatch {
    pub fn new(debounce: Duration) -> DriftWatch {
        DriftWatch {
            stream: None,
            revision: None,
            due: None,
            gathered: 0,
            debounce,
        }
    }

    /// Whether a watch is running.
    pub fn watching(&self) -> bool {
        self.stream.is_some()
    }

    /// (Re)starts the watch when `runner`'s applied revision is not the one
    /// watched. A failed start is logged and retried on the next call.
    pub async fn follow(&mut self, runner: &SourceRunner) {
        let Some(revision) = runner.applied_revision() else {
            return;
        };
        if self.revision == Some(revision) {
            return;
        }
        // The old revision's watchers close their connections here.
        self.stream = None;
        match runner.watch().await {
            Ok(stream) => {
                tracing::debug!(
                    source = runner.name(),
                    revision = %revision,
                    watching = stream.is_some(),
                    "watch (re)started for the applied revision"
                );
                self.stream = stream;
                self.revision = Some(revision);
            }
            Err(e) => {
                tracing::warn!(
                    source = runner.name(),
                    "cannot watch live objects (retried after the next sync or drift check; drift is still checked every driftInterval): {e}"
                );
                self.revision = None;
            }
        }
    }

    /// Waits until something changed and the debounce window after the
    /// first change has passed; returns how many events were gathered.
    pub async fn changed(&mut self) -> usize {
        loop {
            match (self.due, self.stream.as_mut()) {
                (None, None) => std::future::pending::<()>().await,
                (None, Some(stream)) => match stream.next().await {
                    Some(event) => {
                        tracing::debug!(backend = event.backend, change = ?event.change, object = %event.id, "watched object changed");
                        self.gathered = 1;
                        self.due = Some(tokio::time::Instant::now() + self.debounce);
                    }
                    None => self.ended(),
                },
                (Some(due), stream) => {
                    let next = async {
                        match stream {
                            Some(s) => s.next().await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        biased;
                        _ = tokio::time::sleep_until(due) => {
                            self.due = None;
                            return std::mem::take(&mut self.gathered);
                        }
                        event = next => match event {
                            Some(event) => {
                                tracing::debug!(backend = event.backend, change = ?event.change, object = %event.id, "watched object changed");
                                self.gathered += 1;
                            }
                            None => self.ended(),
                        },
                    }
                }
            }
        }
    }

    /// The backends gave up: start again on the next `follow`.
    fn ended(&mut self) {
        tracing::debug!("watch ended");
        self.stream = None;
        self.revision = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{WatchChange, WatchEvent};
    use crate::manifest::ObjectId;

    fn event() -> WatchEvent {
        WatchEvent {
            backend: "test",
            change: WatchChange::Applied,
            id: ObjectId::default(),
        }
    }

    #[tokio::test]
    async fn a_burst_of_events_is_one_wake_up_after_the_debounce() {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let mut w = DriftWatch::new(Duration::from_millis(300));
        w.stream = Some(rx.boxed());
        for _ in 0..5 {
            tx.unbounded_send(event()).unwrap();
        }
        let start = tokio::time::Instant::now();
        assert_eq!(w.changed().await, 5);
        assert!(start.elapsed() >= Duration::from_millis(300));
        // Nothing more: no wake-up.
        assert!(
            tokio::time::timeout(Duration::from_millis(500), w.changed())
                .await
                .is_err()
        );
        tx.unbounded_send(event()).unwrap();
        assert_eq!(w.changed().await, 1);
        // The stream ending after an event still hands the event over.
        tx.unbounded_send(event()).unwrap();
        drop(tx);
        assert_eq!(w.changed().await, 1);
        assert!(!w.watching());
    }
}
