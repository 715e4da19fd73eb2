//! Watch: `GET <collection>?watch=true` as a chunked stream of
//! newline-delimited JSON events (`ADDED`, `MODIFIED`, `DELETED`,
//! `BOOKMARK`, `ERROR`), as an API server sends them.
//!
//! Every write that changes something (apply, patch, PUT, POST, DELETE, a
//! Namespace's or CRD's cascade, and the test helpers that go through the
//! same paths) is recorded in a bounded [`Log`] with the resourceVersion it
//! produced. A watch sends every matching event after its
//! `resourceVersion`; without one (or with `0`) it first sends the matching
//! objects as `ADDED`. A `resourceVersion` older than the log keeps is
//! answered with an `ERROR` event carrying a 410 `Expired` `Status` (as a
//! real API server does once the watch cache has moved on), and so is a
//! watcher that falls behind the log. `labelSelector` and `fieldSelector`
//! (`metadata.name`, `metadata.namespace`) filter events as they filter
//! LIST; `allowWatchBookmarks=true` adds a `BOOKMARK` with the current
//! resourceVersion every [`BOOKMARK_EVERY`] and when the watch ends;
//! `timeoutSeconds` ends the stream (30 minutes without it).
//!
//! Invariants: every resourceVersion the server hands out belongs to
//! exactly one event in the log (or evicted from it), so "every event after
//! N" is well defined; a watch never holds the state lock while it waits.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::selector::{Selector, field_selector};
use super::{Key, ResourceDef, Shared, State};

/// How often a watch that asked for bookmarks gets one.
pub const BOOKMARK_EVERY: Duration = Duration::from_secs(5);
/// How long a watch lasts without `timeoutSeconds`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// One recorded change.
#[derive(Debug, Clone)]
struct Event {
    rv: u64,
    kind: &'static str,
    key: Key,
    /// The object as a GET would return it (for `DELETED`, as it was, with
    /// the deletion's resourceVersion).
    object: Value,
}

/// The last `capacity` changes, and a signal for waiting watches.
pub(super) struct Log {
    events: VecDeque<Event>,
    capacity: usize,
    /// The resourceVersion of the newest event dropped from the log: a
    /// watch from before it cannot be served.
    evicted: u64,
    notify: tokio::sync::watch::Sender<u64>,
    /// The emulator is gone: open watches end.
    stopped: bool,
}

impl Log {
    pub(super) fn new(capacity: usize) -> Log {
        Log {
            events: VecDeque::new(),
            capacity,
            evicted: 0,
            notify: tokio::sync::watch::Sender::new(0),
            stopped: false,
        }
    }

    /// Records a change; `kind` is `ADDED`, `MODIFIED` or `DELETED`.
    pub(super) fn push(&mut self, rv: u64, kind: &'static str, key: Key, object: Value) {
        self.events.push_back(Event {
            rv,
            kind,
            key,
            object,
        });
        while self.events.len() > self.capacity {
            match self.events.pop_front() {
                Some(e) => self.evicted = e.rv,
                None => break,
            }
        }
        self.notify.send_replace(rv);
    }

    /// Forgets every recorded change, as an etcd compaction at the current
    /// revision does: a watch resumed from before now gets a 410.
    pub(super) fn compact(&mut self) {
        if let Some(newest) = self.events.back() {
            self.evicted = newest.rv;
        }
        self.events.clear();
    }

    /// Ends every open watch.
    pub(super) fn stop(&mut self) {
        self.stopped = true;
        self.notify.send_replace(u64::MAX);
    }
}

/// What a watch asked for.
#[derive(Debug, Clone)]
pub(super) struct Request {
    def: ResourceDef,
    namespace: Option<String>,
    selector: Selector,
    name_is: Option<String>,
    ns_is: Option<String>,
    bookmarks: bool,
    timeout: Duration,
}

/// A watch to stream: what to send first, then events after `since`.
pub(super) struct Start {
    request: Request,
    first: Vec<String>,
    since: u64,
    /// The first lines end the watch (a 410).
    close: bool,
    changes: tokio::sync::watch::Receiver<u64>,
}

impl Request {
    fn matches(&self, key: &Key, object: &Value) -> bool {
        key.group == self.def.group
            && key.plural == self.def.plural
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| key.namespace == *ns)
            && self.name_is.as_ref().is_none_or(|n| key.name == *n)
            && self.ns_is.as_ref().is_none_or(|n| key.namespace == *n)
            && self.selector.matches(
                object
                    .get("metadata")
                    .and_then(|m| m.get("labels"))
                    .and_then(Value::as_object),
            )
    }

    fn bookmark(&self, rv: u64) -> String {
        line(
            "BOOKMARK",
            &json!({
                "apiVersion": self.def.api_version(),
                "kind": self.def.kind,
                "metadata": {"resourceVersion": rv.to_string()},
            }),
        )
    }
}

fn line(kind: &str, object: &Value) -> String {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    text
}

fn gone(since: u64, oldest: u64) -> String {
    line(
        "ERROR",
        &json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": format!("too old resource version: {since} ({oldest})"),
            "reason": "Expired",
            "code": 410,
        }),
    )
}

impl State {
    /// Starts a watch of `def`'s objects (in `namespace`, or everywhere):
    /// checks the query and decides what to send first.
    pub(super) fn watch_start(
        &self,
        def: &ResourceDef,
        namespace: Option<&str>,
        query: &std::collections::BTreeMap<String, String>,
    ) -> Result<Start, super::ApiError> {
        let selector = Selector::parse(query.get("labelSelector").map_or("", String::as_str))
            .map_err(super::ApiError::bad_request)?;
        let (name_is, ns_is) = field_selector(query)?;
        let timeout = match query.get("timeoutSeconds") {
            Some(t) => Duration::from_secs(t.parse().map_err(|_| {
                super::ApiError::bad_request(format!("invalid timeoutSeconds `{t}`"))
            })?),
            None => DEFAULT_TIMEOUT,
        };
        let request = Request {
            def: def.clone(),
            namespace: namespace.map(str::to_string),
            selector,
            name_is,
            ns_is,
            bookmarks: query
                .get("allowWatchBookmarks")
                .is_some_and(|v| v == "true" || v == "1"),
            timeout,
        };
        let changes = self.watch_log.notify.subscribe();
        let since = match query.get("resourceVersion").map(String::as_str) {
            None | Some("") | Some("0") => None,
            Some(rv) => Some(rv.parse::<u64>().map_err(|_| {
                super::ApiError::bad_request(format!("invalid resourceVersion `{rv}`"))
            })?),
        };
        let Some(since) = since else {
            // "From now": the current objects, then what follows.
            let first = self
                .objects
                .iter()
                .filter_map(|(key, stored)| {
                    let def = self.def_for_key(key)?;
                    let object = super::objects::render(stored, def, true);
                    request
                        .matches(key, &object)
                        .then(|| line("ADDED", &object))
                })
                .collect();
            return Ok(Start {
                request,
                first,
                since: self.rv,
                close: false,
                changes,
            });
        };
        if since < self.watch_log.evicted {
            return Ok(Start {
                first: vec![gone(since, self.watch_log.evicted + 1)],
                request,
                since,
                close: true,
                changes,
            });
        }
        Ok(Start {
            request,
            first: Vec::new(),
            since,
            close: false,
            changes,
        })
    }

    /// The matching events after `since`, and the resourceVersion they
    /// bring the watch to; `Err` when the log no longer reaches back to
    /// `since`.
    fn watch_next(&self, request: &Request, since: u64) -> Result<(Vec<String>, u64), String> {
        if since < self.watch_log.evicted {
            return Err(gone(since, self.watch_log.evicted + 1));
        }
        let lines = self
            .watch_log
            .events
            .iter()
            .filter(|e| e.rv > since && request.matches(&e.key, &e.object))
            .map(|e| line(e.kind, &e.object))
            .collect();
        Ok((lines, self.rv.max(since)))
    }
}

/// Streams a started watch until its timeout, the client leaving, a 410,
/// or the emulator stopping.
pub(super) fn respond(state: Shared, start: Start) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(64);
    tokio::spawn(async move {
        let Start {
            request,
            first,
            mut since,
            close,
            mut changes,
        } = start;
        for text in first {
            if tx.send(Ok(Bytes::from(text))).await.is_err() {
                return;
            }
        }
        if close {
            return;
        }
        let deadline = tokio::time::Instant::now() + request.timeout;
        let mut next_bookmark = tokio::time::Instant::now() + BOOKMARK_EVERY;
        loop {
            let next = {
                let st = state.lock().unwrap_or_else(|e| e.into_inner());
                if st.watch_log.stopped {
                    return;
                }
                st.watch_next(&request, since)
            };
            let (lines, end) = match next {
                Ok(v) => v,
                Err(error) => {
                    let _ = tx.send(Ok(Bytes::from(error))).await;
                    return;
                }
            };
            since = end;
            for text in lines {
                if tx.send(Ok(Bytes::from(text))).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(next_bookmark), if request.bookmarks => {
                    next_bookmark += BOOKMARK_EVERY;
                    if tx.send(Ok(Bytes::from(request.bookmark(since)))).await.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if request.bookmarks {
                        let _ = tx.send(Ok(Bytes::from(request.bookmark(since)))).await;
                    }
                    return;
                }
                _ = tx.closed() => return,
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut res = (StatusCode::OK, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::SocketAddr;

    use super::*;
    use crate::kubernetes::KubeOptions;

    fn state(history: usize) -> (State, ResourceDef) {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let st = State::new(
            &KubeOptions {
                watch_history: history,
                ..KubeOptions::default()
            },
            addr,
        );
        let def = st.find_def("", "configmaps").unwrap().clone();
        (st, def)
    }

    fn apply(st: &mut State, def: &ResourceDef, name: &str, team: &str, value: &str) -> u64 {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"team": team}}, "data": {"k": value}});
        let (_, v) = st
            .apply(
                def,
                Some("default"),
                name,
                body.to_string().as_bytes(),
                "m",
                false,
                false,
            )
            .unwrap();
        v["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn events(lines: &[String]) -> Vec<(String, String)> {
        lines
            .iter()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (
                    v["type"].as_str().unwrap().to_string(),
                    v["object"]["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn a_watch_gets_every_matching_event_after_its_resource_version() {
        let (mut st, def) = state(100);
        let rv = apply(&mut st, &def, "a", "blue", "1");
        apply(&mut st, &def, "a", "blue", "2");
        apply(&mut st, &def, "b", "green", "1");
        apply(&mut st, &def, "a", "blue", "2"); // no change, no event
        st.delete(&def, Some("default"), "a", b"", false).unwrap();
        let start = st
            .watch_start(&def, None, &query(&[("resourceVersion", &rv.to_string())]))
            .unwrap();
        assert!(start.first.is_empty() && !start.close);
        let (lines, end) = st.watch_next(&start.request, start.since).unwrap();
        assert_eq!(
            events(&lines),
            vec![
                ("MODIFIED".into(), "a".into()),
                ("ADDED".into(), "b".into()),
                ("DELETED".into(), "a".into()),
            ]
        );
        assert_eq!(end, st.rv);
        let deleted: Value = serde_json::from_str(&lines[2]).unwrap();
        assert_eq!(
            deleted["object"]["metadata"]["resourceVersion"],
            st.rv.to_string(),
            "a deletion carries its own resourceVersion"
        );
        assert!(st.watch_next(&start.request, end).unwrap().0.is_empty());
    }

    #[test]
    fn selectors_filter_events_and_no_version_starts_with_the_current_objects() {
        let (mut st, def) = state(100);
        apply(&mut st, &def, "a", "blue", "1");
        apply(&mut st, &def, "b", "green", "1");
        let start = st
            .watch_start(&def, None, &query(&[("labelSelector", "team=blue")]))
            .unwrap();
        assert_eq!(events(&start.first), vec![("ADDED".into(), "a".into())]);
        apply(&mut st, &def, "a", "blue", "2");
        apply(&mut st, &def, "b", "green", "2");
        let (lines, _) = st.watch_next(&start.request, start.since).unwrap();
        assert_eq!(events(&lines), vec![("MODIFIED".into(), "a".into())]);

        let by_name = st
            .watch_start(
                &def,
                Some("default"),
                &query(&[
                    ("fieldSelector", "metadata.name=b"),
                    ("resourceVersion", "1"),
                ]),
            )
            .unwrap();
        let (lines, _) = st.watch_next(&by_name.request, by_name.since).unwrap();
        assert_eq!(
            events(&lines),
            vec![
                ("ADDED".into(), "b".into()),
                ("MODIFIED".into(), "b".into())
            ]
        );
    }

    #[test]
    fn a_version_older_than_the_history_is_gone() {
        let (mut st, def) = state(3);
        let first = apply(&mut st, &def, "a", "blue", "1");
        for i in 2..6 {
            apply(&mut st, &def, "a", "blue", &i.to_string());
        }
        let start = st
            .watch_start(
                &def,
                None,
                &query(&[("resourceVersion", &first.to_string())]),
            )
            .unwrap();
        assert!(start.close);
        let error: Value = serde_json::from_str(&start.first[0]).unwrap();
        assert_eq!(error["type"], "ERROR");
        assert_eq!(error["object"]["code"], 410);
        assert_eq!(error["object"]["reason"], "Expired");
        // The newest three events are still served.
        let recent = st.rv - 3;
        let start = st
            .watch_start(
                &def,
                None,
                &query(&[("resourceVersion", &recent.to_string())]),
            )
            .unwrap();
        assert!(!start.close);
        assert_eq!(
            st.watch_next(&start.request, start.since).unwrap().0.len(),
            3
        );
    }

    #[test]
    fn after_a_compaction_only_the_current_version_resumes() {
        let (mut st, def) = state(100);
        let first = apply(&mut st, &def, "a", "blue", "1");
        let newest = apply(&mut st, &def, "a", "blue", "2");
        st.watch_log.compact();
        let gone = st
            .watch_start(
                &def,
                None,
                &query(&[("resourceVersion", &first.to_string())]),
            )
            .unwrap();
        assert!(gone.close, "a version from before the compaction is gone");
        let current = st
            .watch_start(
                &def,
                None,
                &query(&[("resourceVersion", &newest.to_string())]),
            )
            .unwrap();
        assert!(!current.close, "the newest version still resumes");
    }
}

#[cfg(test)]
mod http_tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::kubernetes::{KubeEmulator, KubeOptions};

    /// The whole response to a GET, read until the server closes it.
    async fn get(emulator: &KubeEmulator, path: &str) -> String {
        let addr = emulator.url().trim_start_matches("http://").to_string();
        let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        conn.write_all(request.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            conn.read_to_end(&mut out),
        )
        .await
        .unwrap()
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn rv_of(emulator: &KubeEmulator) -> u64 {
        emulator
            .objects()
            .iter()
            .filter_map(|o| o["metadata"]["resourceVersion"].as_str()?.parse().ok())
            .max()
            .unwrap()
    }

    #[tokio::test]
    async fn a_watch_streams_changes_made_while_it_is_open_then_ends_on_its_timeout() {
        let kube = KubeEmulator::start(KubeOptions::default()).await.unwrap();
        let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "app", "namespace": "default", "labels": {"team": "blue"}},
            "data": {"k": "1"}});
        kube.apply_as("mooring", &cm, false).unwrap();
        let rv = rv_of(&kube);
        let path = format!(
            "/api/v1/configmaps?watch=true&resourceVersion={rv}&labelSelector=team%3Dblue&allowWatchBookmarks=true&timeoutSeconds=1"
        );
        let watch = {
            let path = path.clone();
            let kube = &kube;
            async move { get(kube, &path).await }
        };
        let edit = async {
            kube.edit_as(
                "kubectl-edit",
                "",
                "configmaps",
                Some("default"),
                "app",
                &serde_json::json!({"data": {"k": "2"}}),
            )
            .unwrap();
            assert!(kube.delete_direct("", "configmaps", Some("default"), "app"));
        };
        let (body, ()) = tokio::join!(watch, edit);
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        let modified = body.find(r#""type":"MODIFIED""#).expect(&body);
        let deleted = body.find(r#""type":"DELETED""#).expect(&body);
        assert!(modified < deleted);
        assert!(body.contains(r#""k":"2""#));
        assert!(
            body.contains(r#""type":"BOOKMARK""#),
            "a bookmark at the end: {body}"
        );
        assert!(
            !body.contains(r#""type":"ADDED""#),
            "nothing before {rv}: {body}"
        );
        assert_eq!(kube.calls().get("WATCH configmaps"), Some(&1));
    }

    #[tokio::test]
    async fn a_server_without_watch_refuses_it_and_says_so_in_discovery() {
        let kube = KubeEmulator::start(KubeOptions {
            watch: false,
            ..KubeOptions::default()
        })
        .await
        .unwrap();
        let body = get(&kube, "/api/v1/configmaps?watch=1").await;
        assert!(body.starts_with("HTTP/1.1 405"), "{body}");
        let discovery = get(&kube, "/api/v1").await;
        assert!(!discovery.contains("\"watch\""), "{discovery}");
        let list = get(&kube, "/api/v1/configmaps").await;
        assert!(
            list.contains("\"resourceVersion\""),
            "LIST carries one: {list}"
        );
    }
}
