//! Watching the managed kinds: one cluster-wide kube-runtime watcher per
//! resource, filtered by the source's ownership labels (the same selector
//! as the ownership LIST), turned into [`WatchEvent`]s.
//!
//! Invariants: the objects of a (re)list are never reported one by one
//! (only changes after the watch is established count); the end of each
//! list is reported once as [`WatchChange::Listed`], because a change made
//! before it (between the sync that started the watch and the list, or
//! while a broken watch was down) would otherwise go unseen. Errors are
//! retried by the watcher with kube-runtime's default backoff (0.8 s
//! doubling to 30 s, jittered)
//! and logged once per failure streak: a warning when it starts, info when
//! it ends. The streams never end by themselves.
//!
//! kube-runtime answers a 410 with a new list, but retries any other error
//! the server sends in the watch from the same resourceVersion, for ever.
//! A real API server can send one every time: a watch resumed exactly at
//! the revision etcd compacted to gets a 500 (`etcd event received with
//! PrevKv=nil`) on each try. So after [`RESTART_AFTER`] such errors in a row
//! the watcher is started again, from a fresh list.

use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};

use super::BACKEND;
use super::discovery::Resource;
use crate::backend::{WatchChange, WatchEvent, WatchStream};
use crate::manifest::ObjectId;

/// How long one watch request lasts before the watcher renews it (from
/// the resourceVersion it reached, without a new LIST).
const WATCH_TIMEOUT_SECS: u32 = 290;

/// Server-sent watch errors in a row (a 410 aside) after which the watcher
/// starts again from a fresh list.
const RESTART_AFTER: u32 = 2;

type Item = Result<watcher::Event<DynamicObject>, watcher::Error>;

/// The events of one resource's watcher: objects carrying `selector`'s
/// labels, across all namespaces.
pub(super) fn resource_stream(
    client: kube::Client,
    resource: &Resource,
    selector: &str,
) -> WatchStream {
    let api_resource = ApiResource {
        group: resource.group.clone(),
        version: resource.version.clone(),
        api_version: resource.api_version(),
        kind: resource.kind.clone(),
        plural: resource.plural.clone(),
    };
    let api: Api<DynamicObject> = Api::all_with(client, &api_resource);
    let config = watcher::Config::default()
        .labels(selector)
        .timeout(WATCH_TIMEOUT_SECS);
    let mut state = Streak::new(resource.clone());
    let start = move || {
        watcher(api.clone(), config.clone())
            .default_backoff()
            .boxed()
    };
    restarting(start, RESTART_PAUSE)
        .filter_map(move |item| futures::future::ready(state.next(item)))
        .boxed()
}

/// The first pause before a watcher is started again; it doubles with each
/// restart that brings no change, up to [`RESTART_PAUSE_MAX`].
const RESTART_PAUSE: Duration = Duration::from_secs(1);
const RESTART_PAUSE_MAX: Duration = Duration::from_secs(30);

/// How long to wait before the `restarts`-th restart in a row: none for the
/// first start, then `first`, doubling, at most [`RESTART_PAUSE_MAX`].
fn restart_pause(restarts: u32, first: Duration) -> Duration {
    match restarts {
        0 => Duration::ZERO,
        n => first
            .saturating_mul(1 << (n - 1).min(16))
            .min(RESTART_PAUSE_MAX),
    }
}

/// The items of the watcher `start` makes, started again whenever
/// [`RESTART_AFTER`] server-sent errors other than 410 come in a row. A
/// restart waits first, longer each time until a change comes through, so a
/// server that refuses every watch is listed again at most every
/// [`RESTART_PAUSE_MAX`], not in a loop.
fn restarting<S>(
    start: impl Fn() -> S + Send + 'static,
    first_pause: Duration,
) -> impl futures::Stream<Item = Item> + Send
where
    S: futures::Stream<Item = Item> + Send + Unpin + 'static,
{
    struct State<S> {
        inner: Option<S>,
        errors: u32,
        /// Restarts since the last change came through.
        restarts: u32,
    }
    let first = State {
        inner: None,
        errors: 0,
        restarts: 0,
    };
    futures::stream::unfold(first, move |mut state| {
        let inner = state.inner.take();
        let restarts = state.restarts;
        let inner = match inner {
            Some(inner) => futures::future::Either::Left(futures::future::ready(inner)),
            None => {
                let pause = restart_pause(restarts, first_pause);
                let made = start();
                futures::future::Either::Right(async move {
                    tokio::time::sleep(pause).await;
                    made
                })
            }
        };
        async move {
            let mut inner = inner.await;
            let item = inner.next().await?;
            match &item {
                Err(watcher::Error::WatchError(status)) if status.code != 410 => state.errors += 1,
                Err(_) => {}
                Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => {
                    state.errors = 0;
                    state.restarts = 0;
                }
                Ok(_) => state.errors = 0,
            }
            if state.errors >= RESTART_AFTER {
                tracing::debug!(
                    "the server refused the watch {} times from the same resourceVersion: listing again",
                    state.errors
                );
                state.errors = 0;
                state.restarts += 1;
            } else {
                state.inner = Some(inner);
            }
            Some((item, state))
        }
    })
}

/// What one resource's watcher has been through.
struct Streak {
    resource: Resource,
    /// In a failure streak (already warned).
    failing: bool,
}

impl Streak {
    fn new(resource: Resource) -> Streak {
        Streak {
            resource,
            failing: false,
        }
    }

    fn what(&self) -> String {
        format!("{} ({})", self.resource.kind, self.resource.api_version())
    }

    fn next(
        &mut self,
        item: Result<watcher::Event<DynamicObject>, watcher::Error>,
    ) -> Option<WatchEvent> {
        let event = match item {
            Ok(event) => event,
            Err(e) => {
                if self.failing {
                    tracing::debug!(kind = %self.what(), "watch still failing: {e}");
                } else {
                    self.failing = true;
                    tracing::warn!(
                        kind = %self.what(),
                        "watch failed, retrying with backoff (drift checks go on on their interval): {e}"
                    );
                }
                return None;
            }
        };
        if self.failing && !matches!(event, watcher::Event::Init) {
            self.failing = false;
            tracing::info!(kind = %self.what(), "watch working again");
        }
        let (change, object) = match event {
            watcher::Event::Apply(o) => (WatchChange::Applied, Some(o)),
            watcher::Event::Delete(o) => (WatchChange::Deleted, Some(o)),
            watcher::Event::InitDone => (WatchChange::Listed, None),
            watcher::Event::Init | watcher::Event::InitApply(_) => return None,
        };
        let id = match object {
            Some(o) => ObjectId {
                group: self.resource.group.clone(),
                kind: self.resource.kind.clone(),
                namespace: o.metadata.namespace.clone(),
                name: o.metadata.name.clone().unwrap_or_default(),
            },
            None => ObjectId {
                group: self.resource.group.clone(),
                kind: self.resource.kind.clone(),
                namespace: None,
                name: String::new(),
            },
        };
        Some(WatchEvent {
            backend: BACKEND,
            change,
            id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(code: u16) -> Item {
        Err(watcher::Error::WatchError(
            kube::core::Status::failure("refused", "InternalError")
                .with_code(code)
                .boxed(),
        ))
    }

    /// A watcher that sends `items`, then nothing more.
    fn scripted(items: Vec<Item>) -> futures::stream::BoxStream<'static, Item> {
        futures::stream::iter(items)
            .chain(futures::stream::pending())
            .boxed()
    }

    #[tokio::test]
    async fn the_same_server_error_twice_starts_the_watcher_again() {
        let starts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = starts.clone();
        let stream = restarting(
            move || {
                let n = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n == 0 {
                    scripted(vec![server_error(500), server_error(500)])
                } else {
                    scripted(vec![Ok(watcher::Event::InitDone)])
                }
            },
            Duration::from_millis(1),
        );
        let items: Vec<Item> = stream.take(3).collect().await;
        assert!(
            matches!(items[2], Ok(watcher::Event::InitDone)),
            "{items:?}"
        );
        assert_eq!(starts.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn restarts_in_a_row_wait_ever_longer_up_to_the_cap() {
        let first = Duration::from_secs(1);
        let pauses: Vec<u64> = (0..9).map(|n| restart_pause(n, first).as_secs()).collect();
        assert_eq!(pauses, vec![0, 1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(restart_pause(u32::MAX, first), RESTART_PAUSE_MAX);
    }

    #[tokio::test]
    async fn a_server_refusing_every_watch_is_started_again_each_time() {
        let starts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = starts.clone();
        let stream = restarting(
            move || {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                scripted(vec![server_error(500), server_error(500)])
            },
            Duration::from_millis(1),
        );
        let items: Vec<Item> = stream.take(8).collect().await;
        assert_eq!(items.len(), 8);
        assert_eq!(starts.load(std::sync::atomic::Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_410_and_a_success_between_errors_keep_the_watcher() {
        let starts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = starts.clone();
        let stream = restarting(
            move || {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                scripted(vec![
                    server_error(500),
                    Ok(watcher::Event::InitDone),
                    server_error(500),
                    server_error(410),
                    server_error(410),
                    server_error(410),
                ])
            },
            Duration::from_millis(1),
        );
        let items: Vec<Item> = stream.take(6).collect().await;
        assert_eq!(items.len(), 6);
        assert_eq!(starts.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    fn configmap(name: &str) -> DynamicObject {
        let ar = ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            plural: "configmaps".into(),
        };
        DynamicObject::new(name, &ar).within("default")
    }

    #[test]
    fn a_list_is_reported_once_at_its_end_and_errors_once_per_streak() {
        let mut s = Streak::new(Resource {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            plural: "configmaps".into(),
            namespaced: true,
        });
        assert_eq!(s.next(Ok(watcher::Event::Init)), None);
        assert_eq!(s.next(Ok(watcher::Event::InitApply(configmap("a")))), None);
        assert_eq!(
            s.next(Ok(watcher::Event::InitDone)).map(|e| e.change),
            Some(WatchChange::Listed)
        );
        let e = s.next(Ok(watcher::Event::Apply(configmap("a")))).unwrap();
        assert_eq!(e.change, WatchChange::Applied);
        assert_eq!(e.id.to_string(), "ConfigMap/default/a");
        let e = s.next(Ok(watcher::Event::Delete(configmap("a")))).unwrap();
        assert_eq!(e.change, WatchChange::Deleted);
        assert!(
            s.next(Err(watcher::Error::NoResourceVersion)).is_none() && s.failing,
            "an error is no event"
        );
        assert_eq!(s.next(Ok(watcher::Event::Init)), None);
        assert!(s.failing, "a restart alone does not end the streak");
        assert_eq!(
            s.next(Ok(watcher::Event::InitDone)).map(|e| e.change),
            Some(WatchChange::Listed)
        );
        assert!(!s.failing);
    }
}
