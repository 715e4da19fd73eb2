//! The CI examples of `examples/ci/`, run as CI runs them: each shell step
//! under `bash -eo pipefail`, in a clone of a local repository whose branch
//! changes a ConfigMap, with the real `mooring` and `jq` and stand-ins for
//! GitHub's `gh` and GitLab's API (`tests/fixtures/ci-fakes/`). Each
//! example must post one comment (found again by its hidden marker and
//! updated on the next push), keep exit code 2 from ending the step before
//! the comment is posted, and fail the job on invalid manifests after
//! posting their findings.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{commit_all, git_command, git_init, write};

const MARKER: &str = "<!-- mooring-plan -->";

fn cm(name: &str, level: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: shop\ndata:\n  level: {level}\n"
    )
}

/// The example's YAML, parsed with mooring's own reader.
fn example(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/ci")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let (docs, errors) =
        mooring::manifest::yaml::parse_stream(&text, &mooring::manifest::Limits::default());
    assert!(errors.is_empty(), "{name}: {errors:?}");
    docs.into_iter().next().unwrap().value
}

fn ok(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An upstream repository with `main` and a branch `feature` that changes
/// a ConfigMap; `main` moved on after the branch forked (a ConfigMap the
/// branch must not show as deleted). Returns the upstream and a clone of it
/// with the branch checked out, as CI's checkout leaves it.
struct Repos {
    _dir: tempfile::TempDir,
    upstream: PathBuf,
    work: PathBuf,
}

fn repos() -> Repos {
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("upstream");
    let repo = git_init(&upstream);
    write(&upstream, "deploy/app.yaml", &cm("app", "info"));
    commit_all(&repo, "base");
    git(&upstream, &["branch", "feature"]);
    write(&upstream, "deploy/later.yaml", &cm("later", "info"));
    commit_all(&repo, "main moves on");
    git(&upstream, &["checkout", "-q", "feature"]);
    write(&upstream, "deploy/app.yaml", &cm("app", "debug"));
    commit_all(&repo, "feature: debug logs");
    let work = dir.path().join("work");
    git(
        dir.path(),
        &["clone", "-q", upstream.to_str().unwrap(), "work"],
    );
    git(&work, &["checkout", "-q", "--detach", "origin/feature"]);
    Repos {
        _dir: dir,
        upstream,
        work,
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = git_command().args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", ok(&out));
}

impl Repos {
    /// A new push to the branch, fetched into the clone.
    fn push(&self, file: &str, text: &str) {
        write(&self.upstream, file, text);
        commit_all(&git2::Repository::open(&self.upstream).unwrap(), "push");
        git(&self.work, &["fetch", "-q", "origin"]);
        git(
            &self.work,
            &["checkout", "-q", "--detach", "origin/feature"],
        );
    }
}

/// Runs `script` as CI runs a step: `bash --noprofile --norc -eo pipefail`,
/// in the clone, with the stand-ins, mooring and the system's tools on
/// PATH, no user configuration, and `env`.
fn step(work: &Path, state: &Path, script: &str, env: &[(&str, String)]) -> std::process::Output {
    let fakes = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ci-fakes");
    let mooring = Path::new(env!("CARGO_BIN_EXE_mooring")).parent().unwrap();
    let path = format!(
        "{}:{}:/usr/local/bin:/usr/bin:/bin",
        fakes.display(),
        mooring.display()
    );
    std::process::Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
        .current_dir(work)
        .env_clear()
        .env("PATH", path)
        .env("HOME", state)
        .env("LC_ALL", "C")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("FAKE_STATE", state)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap()
}

fn comments(state: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(state.join("comments.json")).unwrap();
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The one comment carrying the marker.
fn ours(state: &Path) -> (i64, String) {
    let mine: Vec<(i64, String)> = comments(state)
        .iter()
        .filter(|c| c["body"].as_str().unwrap().starts_with(MARKER))
        .map(|c| {
            (
                c["id"].as_i64().unwrap(),
                c["body"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(mine.len(), 1, "exactly one sticky comment: {mine:?}");
    mine.into_iter().next().unwrap()
}

#[test]
fn the_github_actions_example_posts_then_updates_one_comment() {
    let doc = example("github-actions.yaml");
    let steps = doc["jobs"]["plan"]["steps"].as_array().unwrap();
    let run_of = |name: &str| {
        steps
            .iter()
            .find(|s| s["name"] == name)
            .and_then(|s| s["run"].as_str())
            .unwrap_or_else(|| panic!("no step {name}"))
            .to_string()
    };
    let (plan_step, comment_step) = (run_of("Plan"), run_of("Post or update the plan comment"));
    assert_eq!(doc["defaults"]["run"]["shell"], "bash");
    assert_eq!(steps[0]["with"]["fetch-depth"], 0);

    let r = repos();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(
        state.path().join("comments.json"),
        r#"[{"id": 1, "body": "LGTM, but see <!-- mooring-plan --> below"}]"#,
    )
    .unwrap();
    let output = state.path().join("github_output");
    let env = vec![
        ("BASE", "main".to_string()),
        ("GITHUB_OUTPUT", output.display().to_string()),
        ("GITHUB_REPOSITORY", "shop/deploy".to_string()),
        ("PR", "7".to_string()),
        ("GH_TOKEN", "t0ken".to_string()),
        ("FAKE_REPO", "shop/deploy".to_string()),
        ("FAKE_PR", "7".to_string()),
    ];
    let run = |script: &str| step(&r.work, state.path(), script, &env);

    // Changes pending: the plan step passes, keeping code 2 for later.
    let out = run(&plan_step);
    assert!(out.status.success(), "{}", ok(&out));
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "code=2\n");
    let out = run(&comment_step);
    assert!(out.status.success(), "{}", ok(&out));
    let (id, body) = ours(state.path());
    assert!(
        body.starts_with(&format!(
            "{MARKER}\n### mooring plan: 0 to create, 1 to update, 0 to delete, 0 unchanged"
        )),
        "main's newer ConfigMap is not a reversed change: {body}"
    );
    assert!(body.contains("+  level: debug"), "{body}");
    assert!(r.work.join("plan-full.md").exists(), "the artifact");

    // The next push updates the same comment.
    r.push("deploy/app.yaml", &cm("app", "trace"));
    std::fs::write(&output, "").unwrap();
    assert!(run(&plan_step).status.success());
    let out = run(&comment_step);
    assert!(out.status.success(), "{}", ok(&out));
    let (again, body) = ours(state.path());
    assert_eq!(again, id);
    assert!(body.contains("+  level: trace"), "{body}");
    assert_eq!(
        comments(state.path()).len(),
        2,
        "the other comment is left alone"
    );
    let calls = std::fs::read_to_string(state.path().join("calls")).unwrap();
    assert_eq!(
        calls.lines().filter(|l| l.starts_with("POST ")).count(),
        1,
        "{calls}"
    );
    assert!(calls.contains(&format!("PATCH repos/shop/deploy/issues/comments/{id}")));

    // Invalid manifests: the comment carries the findings, and the code
    // kept for the last step fails the job.
    r.push("deploy/app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: shop\ndata:\n  level: 3\n");
    std::fs::write(&output, "").unwrap();
    assert!(run(&plan_step).status.success());
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "code=1\n");
    assert!(run(&comment_step).status.success());
    let (_, body) = ours(state.path());
    assert!(
        body.contains("not made, the manifests are invalid"),
        "{body}"
    );
    assert!(body.contains("deploy/app.yaml:7"), "{body}");
    let last = steps.last().unwrap();
    assert_eq!(
        last["if"],
        "steps.plan.outputs.code != '0' && steps.plan.outputs.code != '2'"
    );
    assert_eq!(last["run"], "exit 1");
}

#[test]
fn the_gitlab_example_posts_then_updates_one_note() {
    let doc = example("gitlab-ci.yml");
    let job = &doc["mooring-plan"];
    let script: String = job["script"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| format!("{}\n", l.as_str().unwrap()))
        .collect();
    assert_eq!(job["variables"]["GIT_DEPTH"], "0");

    let r = repos();
    let state = tempfile::tempdir().unwrap();
    let api = "https://gitlab.example.com/api/v4";
    let env = vec![
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main".to_string()),
        ("CI_API_V4_URL", api.to_string()),
        ("CI_PROJECT_ID", "42".to_string()),
        ("CI_MERGE_REQUEST_IID", "7".to_string()),
        ("MOORING_GITLAB_TOKEN", "glpat-s3cret".to_string()),
        ("FAKE_API", api.to_string()),
        ("FAKE_PROJECT", "42".to_string()),
        ("FAKE_MR", "7".to_string()),
        ("FAKE_TOKEN", "glpat-s3cret".to_string()),
    ];
    let run = || step(&r.work, state.path(), &script, &env);

    let out = run();
    assert!(
        out.status.success(),
        "changes pending pass the job: {}",
        ok(&out)
    );
    let (id, body) = ours(state.path());
    assert!(
        body.starts_with(&format!(
            "{MARKER}\n### mooring plan: 0 to create, 1 to update"
        )),
        "{body}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cret"));

    r.push("deploy/app.yaml", &cm("app", "trace"));
    assert!(run().status.success());
    let (again, body) = ours(state.path());
    assert_eq!(again, id);
    assert!(body.contains("+  level: trace"), "{body}");

    r.push("deploy/app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: shop\ndata:\n  level: 3\n");
    let out = run();
    assert!(
        !out.status.success(),
        "invalid manifests fail the job: {}",
        ok(&out)
    );
    let (_, body) = ours(state.path());
    assert!(
        body.contains("not made, the manifests are invalid"),
        "the note was posted first: {body}"
    );
}
