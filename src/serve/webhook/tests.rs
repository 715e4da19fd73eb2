use std::sync::atomic::AtomicBool;

use axum::http::Request;
use tower::ServiceExt;

use super::*;
use crate::serve::{AppState, StatusBoard, router};

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn the_signature_matches_githubs_documented_example() {
    // From GitHub's "Validating webhook deliveries".
    let secret = Secret("It's a Secret to Everybody".into());
    let good = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert!(hmac_matches(&secret, b"Hello, World!", good));
    assert!(!hmac_matches(&secret, b"Hello, World?", good));
    assert!(!hmac_matches(&secret, b"Hello, World!", &good[..62]));
    assert!(!hmac_matches(&secret, b"Hello, World!", "zz"));
    assert_eq!(sign("It's a Secret to Everybody", b"Hello, World!"), good);
}

#[test]
fn one_repository_has_one_key_whatever_the_url_form() {
    let key = "github.com/acme/deploy";
    for url in [
        "https://github.com/acme/deploy.git",
        "https://GitHub.com/Acme/deploy",
        "https://token@github.com/acme/deploy/",
        "git@github.com:acme/deploy.git",
        "ssh://git@github.com:22/acme/deploy",
        "git://github.com/acme/deploy.git",
    ] {
        assert_eq!(repository_key(url), key, "{url}");
    }
    assert_ne!(repository_key("https://github.com/acme/deploy-prod"), key);
    assert_eq!(repository_key("file:///srv/repo/"), "/srv/repo");
    assert_eq!(repository_key("/srv/Repo"), "/srv/Repo");
    assert_eq!(
        repository_key("https://gitlab.example.com/group/sub/app.git"),
        "gitlab.example.com/group/sub/app"
    );
}

#[test]
fn a_push_triggers_the_sources_following_its_ref() {
    assert!(ref_matches("main", Some("refs/heads/main"), None));
    assert!(!ref_matches("main", Some("refs/heads/dev"), None));
    assert!(ref_matches("v1", Some("refs/tags/v1"), None));
    assert!(ref_matches("refs/heads/dev", Some("refs/heads/dev"), None));
    assert!(!ref_matches(
        "refs/heads/dev",
        Some("refs/heads/main"),
        None
    ));
    assert!(ref_matches("HEAD", Some("refs/heads/main"), Some("main")));
    assert!(!ref_matches("HEAD", Some("refs/heads/dev"), Some("main")));
    assert!(ref_matches("HEAD", Some("refs/heads/dev"), None));
    assert!(ref_matches("0123abcd", Some("refs/heads/x"), None));
    assert!(ref_matches("main", None, None));
}

struct Harness {
    app: axum::Router,
    rx: mpsc::Receiver<Trigger>,
    metrics: Arc<Metrics>,
}

fn harness(sources: Vec<HookSource>) -> Harness {
    harness_as(sources, None)
}

fn harness_as(sources: Vec<HookSource>, leader: Option<crate::serve::Leadership>) -> Harness {
    let (tx, rx) = mpsc::channel(8);
    let metrics = Arc::new(Metrics::new().unwrap());
    let app = router(AppState {
        metrics: metrics.clone(),
        status: StatusBoard::default(),
        ready: Arc::new(AtomicBool::new(true)),
        hooks: Hooks {
            sources: Arc::new(sources),
            triggers: tx,
        },
        leader,
    });
    Harness { app, rx, metrics }
}

fn source(name: &str, url: &str, git_ref: &str, secret: Option<&str>) -> HookSource {
    HookSource {
        name: name.into(),
        key: repository_key(url),
        git_ref: git_ref.into(),
        secret: secret.map(|s| Secret(s.into())),
    }
}

fn github_push(git_ref: &str) -> String {
    json!({
        "ref": git_ref,
        "after": "0000000000000000000000000000000000000001",
        "repository": {
            "clone_url": "https://github.com/acme/deploy.git",
            "ssh_url": "git@github.com:acme/deploy.git",
            "html_url": "https://github.com/acme/deploy",
            "default_branch": "main"
        }
    })
    .to_string()
}

async fn post(h: &Harness, headers: &[(&str, &str)], body: String) -> (StatusCode, Value) {
    let mut req = Request::post("/hooks/git").header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = h
        .app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn github_pushes_need_the_right_signature() {
    let mut h = harness(vec![
        source(
            "web",
            "https://github.com/acme/deploy",
            "main",
            Some("s3cret"),
        ),
        source(
            "other",
            "https://github.com/acme/other",
            "main",
            Some("s3cret"),
        ),
    ]);
    let body = github_push("refs/heads/main");
    let good = format!("sha256={}", sign("s3cret", body.as_bytes()));
    let wrong = format!("sha256={}", sign("guess", body.as_bytes()));

    let (status, _) = post(&h, &[("x-github-event", "push")], body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "missing signature");
    let (status, reply) = post(
        &h,
        &[("x-github-event", "push"), ("x-hub-signature-256", &wrong)],
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong signature");
    assert!(reply["error"].as_str().unwrap().contains("signature"));
    assert!(
        h.rx.try_recv().is_err(),
        "a refused request triggers nothing"
    );

    let (status, reply) = post(
        &h,
        &[("x-github-event", "push"), ("x-hub-signature-256", &good)],
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(reply["triggered"], json!(["web"]));
    assert_eq!(h.rx.try_recv().unwrap(), Trigger::Sync("web".into()));
    assert!(h.rx.try_recv().is_err(), "only the matching source");

    // A body signed for another payload does not pass.
    let other = github_push("refs/heads/dev");
    let (status, _) = post(
        &h,
        &[("x-github-event", "push"), ("x-hub-signature-256", &good)],
        other,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let text = h.metrics.encode();
    assert!(
        text.contains("mooring_webhook_requests_total{result=\"unauthorized\"} 3"),
        "{text}"
    );
    assert!(text.contains("mooring_webhook_requests_total{result=\"accepted\"} 1"));
}

#[tokio::test]
async fn gitlab_sends_its_token_and_gitea_its_own_signature_header() {
    let mut h = harness(vec![source(
        "web",
        "git@gitlab.example.com:acme/deploy.git",
        "main",
        Some("tok"),
    )]);
    let body = json!({
        "object_kind": "push",
        "ref": "refs/heads/main",
        "project": {
            "git_http_url": "https://gitlab.example.com/acme/deploy.git",
            "git_ssh_url": "git@gitlab.example.com:acme/deploy.git",
            "default_branch": "main"
        }
    })
    .to_string();
    let (status, _) = post(
        &h,
        &[("x-gitlab-event", "Push Hook"), ("x-gitlab-token", "nope")],
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = post(
        &h,
        &[("x-gitlab-event", "Push Hook"), ("x-gitlab-token", "tok")],
        body,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(h.rx.try_recv().unwrap(), Trigger::Sync("web".into()));

    let mut h = harness(vec![source(
        "web",
        "https://gitea.example.com/acme/deploy.git",
        "main",
        Some("s"),
    )]);
    let body = json!({
        "ref": "refs/heads/main",
        "repository": {"clone_url": "https://gitea.example.com/acme/deploy.git"}
    })
    .to_string();
    let sig = sign("s", body.as_bytes());
    // Gitea also sends GitHub's event header; its own header wins.
    let (status, _) = post(
        &h,
        &[
            ("x-gitea-event", "push"),
            ("x-github-event", "push"),
            ("x-gitea-signature", &sig),
        ],
        body,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(h.rx.try_recv().unwrap(), Trigger::Sync("web".into()));
}

#[tokio::test]
async fn what_is_not_a_push_for_a_followed_ref_triggers_nothing() {
    let mut h = harness(vec![source(
        "web",
        "https://github.com/acme/deploy",
        "HEAD",
        None,
    )]);
    // Unsigned is fine for a source without a secret.
    let (status, _) = post(
        &h,
        &[("x-github-event", "push")],
        github_push("refs/heads/main"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(h.rx.try_recv().unwrap(), Trigger::Sync("web".into()));
    // Another branch than the default one HEAD follows.
    let (status, reply) = post(
        &h,
        &[("x-github-event", "push")],
        github_push("refs/heads/feature"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(reply["ignored"].is_string());
    // Another event.
    let (status, _) = post(
        &h,
        &[("x-github-event", "issues")],
        github_push("refs/heads/main"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Another repository.
    let body = github_push("refs/heads/main").replace("acme/deploy", "acme/else");
    let (status, reply) = post(&h, &[("x-github-event", "push")], body).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(reply["error"].as_str().unwrap().contains("acme/else"));
    // No forge header, or not JSON.
    let (status, _) = post(&h, &[], github_push("refs/heads/main")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post(&h, &[("x-github-event", "push")], "{".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(h.rx.try_recv().is_err());
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_before_it_is_read() {
    let mut h = harness(vec![source(
        "web",
        "https://github.com/acme/deploy",
        "main",
        None,
    )]);
    let padding = "x".repeat(MAX_BODY);
    let body = json!({"ref": "refs/heads/main", "pad": padding}).to_string();
    assert!(body.len() > MAX_BODY);
    let (status, _) = post(&h, &[("x-github-event", "push")], body.clone()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Also when no Content-Length says so up front (chunked).
    let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(body)]);
    let resp = h
        .app
        .clone()
        .oneshot(
            Request::post("/hooks/git")
                .header("x-github-event", "push")
                .body(Body::from_stream(stream))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(h.rx.try_recv().is_err());
}

#[test]
fn secrets_come_from_a_file_or_the_environment_and_never_show() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, "  abc\n").unwrap();
    let s = Secret::resolve(
        "web",
        &Webhook {
            secret_file: Some(file.clone()),
            secret_env: None,
        },
    )
    .unwrap();
    assert_eq!(s.bytes(), b"abc");
    assert_eq!(format!("{s:?}"), "Secret(***)");
    std::fs::write(&file, "\n").unwrap();
    let err = Secret::resolve(
        "web",
        &Webhook {
            secret_file: Some(file),
            secret_env: None,
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    let err = Secret::resolve(
        "web",
        &Webhook {
            secret_file: None,
            secret_env: Some("MOORING_TEST_UNSET_WEBHOOK_SECRET".into()),
        },
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("MOORING_TEST_UNSET_WEBHOOK_SECRET")
    );
}

#[tokio::test]
async fn a_follower_refuses_pushes_so_that_the_forge_shows_it() {
    let (lead_tx, leading) = tokio::sync::watch::channel(false);
    let mut h = harness_as(
        vec![source(
            "web",
            "https://github.com/acme/deploy",
            "main",
            None,
        )],
        Some(crate::serve::Leadership {
            identity: "replica-b".into(),
            leading,
        }),
    );
    let push = || github_push("refs/heads/main");
    let (status, reply) = post(&h, &[("x-github-event", "push")], push()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        reply["error"].as_str().unwrap().contains("leader"),
        "{reply}"
    );
    assert!(h.rx.try_recv().is_err());
    lead_tx.send(true).unwrap();
    let (status, _) = post(&h, &[("x-github-event", "push")], push()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(h.rx.try_recv().unwrap(), Trigger::Sync("web".into()));
}

#[tokio::test]
async fn with_a_secret_anywhere_an_unproven_request_learns_nothing() {
    // Only `other-repo` is followed, and it has a secret.
    let mut h = harness(vec![source(
        "other",
        "https://github.com/acme/other-repo.git",
        "main",
        Some("s3cret"),
    )]);
    let body = github_push("refs/heads/main"); // names acme/deploy: not followed
    let unsigned = post(&h, &[("x-github-event", "push")], body.clone()).await;
    let wrong = post(
        &h,
        &[
            ("x-github-event", "push"),
            (
                "x-hub-signature-256",
                &format!("sha256={}", sign("guess", body.as_bytes())),
            ),
        ],
        body.clone(),
    )
    .await;
    let followed_body = body.replace("acme/deploy", "acme/other-repo");
    let unsigned_followed = post(&h, &[("x-github-event", "push")], followed_body).await;
    // Whether the repository is followed or not: the same 401, the same words.
    assert_eq!(unsigned.0, StatusCode::UNAUTHORIZED, "{:?}", unsigned.1);
    assert_eq!(unsigned, wrong);
    assert_eq!(unsigned, unsigned_followed);
    assert!(!unsigned.1.to_string().contains("acme"), "{}", unsigned.1);
    // Signed with the configured secret, an unfollowed repository is a 404.
    let signed = post(
        &h,
        &[
            ("x-github-event", "push"),
            (
                "x-hub-signature-256",
                &format!("sha256={}", sign("s3cret", body.as_bytes())),
            ),
        ],
        body,
    )
    .await;
    assert_eq!(signed.0, StatusCode::NOT_FOUND, "{:?}", signed.1);
    assert!(h.rx.try_recv().is_err(), "nothing was triggered");
}
