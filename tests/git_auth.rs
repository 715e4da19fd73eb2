//! A Git token goes only where it was configured for: the scheme, host and
//! port of the source's URL. Small HTTP servers on loopback (axum) stand in
//! for a Git server that redirects (302, 307) to another port or host, and
//! record every Authorization header they receive; the one redirected to
//! must receive none. A token over plain http:// is refused unless the
//! source says `insecure: true`.

mod support;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

const TOKEN: &str = "t0ken-for-the-configured-server";

/// What a server does with each request.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Redirects every request (with this status) to the other server.
    Redirect(StatusCode),
    /// Asks for Basic credentials (401) until it receives the configured
    /// token, then redirects (with this status) to the other server; with
    /// `challenge`, the redirect also carries a WWW-Authenticate header.
    AuthThenRedirect { status: StatusCode, challenge: bool },
    /// Asks for credentials, always: a server wanting the token.
    Challenge,
}

struct Server {
    behaviour: Behaviour,
    /// Where redirects go: `http://host:port`.
    next: String,
    /// The Authorization header of every request (`None` without one).
    seen: Mutex<Vec<Option<String>>>,
}

fn expected_auth() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("mooring:{TOKEN}"))
    )
}

async fn answer(State(server): State<Arc<Server>>, uri: Uri, headers: HeaderMap) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    server
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(auth.clone());
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = format!("{}{path}", server.next);
    let challenge = [(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")];
    match server.behaviour {
        Behaviour::Redirect(status) => (status, [(header::LOCATION, location)]).into_response(),
        Behaviour::AuthThenRedirect {
            status,
            challenge: with,
        } => {
            if auth.as_deref() != Some(expected_auth().as_str()) {
                return (StatusCode::UNAUTHORIZED, challenge).into_response();
            }
            if with {
                (status, [(header::LOCATION, location)], challenge).into_response()
            } else {
                (status, [(header::LOCATION, location)]).into_response()
            }
        }
        Behaviour::Challenge => (StatusCode::UNAUTHORIZED, challenge).into_response(),
    }
}

/// A server on `host` (port chosen by the system) doing `behaviour`,
/// redirecting to `next`; returns it and its `http://host:port`.
async fn start(host: &str, behaviour: Behaviour, next: String) -> (Arc<Server>, String) {
    let server = Arc::new(Server {
        behaviour,
        next,
        seen: Mutex::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind((host, 0)).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .fallback(answer)
        .with_state(Arc::clone(&server));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (server, base)
}

fn seen(server: &Server) -> Vec<Option<String>> {
    server
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// `mooring plan --repo URL` with a mooring.yaml whose source `edge` is
/// `URL` (when `source_url_in_config`) with the token in a file, then
/// `extra` source settings; the exit code
/// and stdout+stderr.
async fn plan(url: &str, source_url_in_config: bool, extra: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let source_url = if source_url_in_config {
        format!("url: '{url}', ")
    } else {
        String::new()
    };
    support::write(
        dir.path(),
        "mooring.yaml",
        &format!(
            "source: {{name: edge, {source_url}auth: {{tokenFile: '{}'}}{extra}}}\ntimeout: 5s\n",
            token.display()
        ),
    );
    let config = dir.path().join("mooring.yaml").display().to_string();
    let cache = dir.path().join("cache").display().to_string();
    let url = url.to_string();
    let out = tokio::task::spawn_blocking(move || {
        support::mooring_bounded(
            &[
                "plan",
                "--no-policies",
                "--config",
                &config,
                "--repo",
                &url,
                "--against-ref",
                "main",
                "--cache-dir",
                &cache,
            ],
            None,
        )
    })
    .await
    .unwrap();
    (out.code, format!("{}{}", out.stdout, out.stderr))
}

/// A redirect straight away to another port: the second server asks for
/// credentials and gets none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_port_gets_no_token() {
    for status in [StatusCode::FOUND, StatusCode::TEMPORARY_REDIRECT] {
        let (other, other_base) = start("127.0.0.1", Behaviour::Challenge, String::new()).await;
        let (first, base) = start("127.0.0.1", Behaviour::Redirect(status), other_base).await;
        let (code, out) = plan(&format!("{base}/org/repo.git"), true, ", insecure: true").await;
        assert_eq!(code, 1, "{status}: {out}");
        assert!(!seen(&first).is_empty(), "{status}: never asked: {out}");
        let asked = seen(&other);
        assert!(
            !asked.is_empty(),
            "{status}: the redirect was not followed: {out}"
        );
        assert!(
            asked.iter().all(Option::is_none),
            "{status}: the other port received credentials: {asked:?}"
        );
        assert!(
            out.contains("asks for credentials, but the token of source.auth is sent only to"),
            "{out}"
        );
        assert!(!out.contains(TOKEN), "{out}");
    }
}

/// The configured server takes the token (so it is sent where it belongs),
/// then redirects to another port: the other port asks for credentials and
/// receives none. (Not covered: a redirect that itself carries a challenge
/// to another port of the same host, where libgit2 replays the credentials
/// it holds without asking; see `source::auth`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_authenticating_a_redirect_elsewhere_still_gets_no_token() {
    for status in [StatusCode::FOUND, StatusCode::TEMPORARY_REDIRECT] {
        let challenge = false;
        let (other, other_base) = start("127.0.0.1", Behaviour::Challenge, String::new()).await;
        let (first, base) = start(
            "127.0.0.1",
            Behaviour::AuthThenRedirect { status, challenge },
            other_base,
        )
        .await;
        let (code, out) = plan(&format!("{base}/org/repo.git"), true, ", insecure: true").await;
        assert_eq!(code, 1, "{status} {challenge}: {out}");
        assert!(
            seen(&first).contains(&Some(expected_auth())),
            "{status} {challenge}: the configured server never got the token: {out}"
        );
        let asked = seen(&other);
        assert!(
            !asked.is_empty(),
            "{status} {challenge}: the redirect was not followed: {out}"
        );
        assert!(
            asked.iter().all(Option::is_none),
            "{status} {challenge}: the other port received credentials: {asked:?}"
        );
    }
}

/// A redirect to another host is not followed at all with a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_host_is_not_followed() {
    let (other, other_base) = start("127.0.0.2", Behaviour::Challenge, String::new()).await;
    let (first, base) = start(
        "127.0.0.1",
        Behaviour::AuthThenRedirect {
            status: StatusCode::FOUND,
            challenge: true,
        },
        other_base,
    )
    .await;
    let (code, out) = plan(&format!("{base}/org/repo.git"), true, ", insecure: true").await;
    assert_eq!(code, 1, "{out}");
    assert!(seen(&first).contains(&Some(expected_auth())), "{out}");
    assert_eq!(seen(&other), Vec::<Option<String>>::new(), "{out}");
    assert!(out.contains("cannot redirect"), "{out}");
}

/// A token over plain http:// is refused before any request, whether the
/// URL comes from mooring.yaml (a config error naming the source and the
/// way out) or from --repo; `insecure: true` allows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_plain_http_needs_insecure() {
    let (server, base) = start("127.0.0.1", Behaviour::Challenge, String::new()).await;
    let url = format!("{base}/org/repo.git");

    let (code, out) = plan(&url, true, "").await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "source.url: source `edge` is plain http://, which would send the token of auth unencrypted: use https://, or set `insecure: true` on this source to allow it"
        ),
        "{out}"
    );
    let (code, out) = plan(&url, false, "").await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "{url}: plain http:// would send the token of source.auth (or the URL's password) unencrypted; use https://, or set `insecure: true` on the source to allow it"
        )),
        "{out}"
    );
    assert_eq!(
        seen(&server),
        Vec::<Option<String>>::new(),
        "nothing is sent"
    );

    let (code, out) = plan(&url, true, ", insecure: true").await;
    assert_eq!(code, 1, "the server refuses every token: {out}");
    assert!(
        seen(&server).contains(&Some(expected_auth())),
        "with insecure: true the token goes over http: {out}"
    );
}
