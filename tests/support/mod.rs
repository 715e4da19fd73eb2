//! Helpers shared by the integration tests: run the real binary, write files.

#![allow(dead_code)] // each test binary uses its own subset

pub mod control_plane;
pub mod daemon;
pub mod kube_target;
pub mod proxy;
pub mod tools;

use std::path::Path;
use std::process::Command;

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `mooring` binary with `args`, in `cwd` (default: the crate root).
/// The mooring binary as a command, with none of the user's environment
/// that changes what it prints (`RUST_LOG`, colour settings) or where it
/// goes (`KUBECONFIG`).
pub fn mooring_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mooring"));
    for name in [
        "RUST_LOG",
        "KUBECONFIG",
        "NO_COLOR",
        "CLICOLOR",
        "CLICOLOR_FORCE",
    ] {
        command.env_remove(name);
    }
    command
}

pub fn mooring(args: &[&str], cwd: Option<&Path>) -> Output {
    mooring_env(args, cwd, &[])
}

/// [`mooring`] with extra environment variables (e.g. `KUBECONFIG`, which
/// [`mooring`] clears so that the user's own never leaks in).
pub fn mooring_env(args: &[&str], cwd: Option<&Path>, envs: &[(&str, &str)]) -> Output {
    let out = mooring_command()
        .args(args)
        .current_dir(cwd.unwrap_or(Path::new(env!("CARGO_MANIFEST_DIR"))))
        .envs(envs.iter().copied())
        .output()
        .expect("the mooring binary runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// [`mooring`] on a blocking thread, for async tests.
pub async fn mooring_async(args: Vec<String>, cwd: std::path::PathBuf) -> Output {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        mooring(&refs, Some(&cwd))
    })
    .await
    .expect("the mooring thread ends")
}

/// The added and removed lines of unified diffs in `text`, without their
/// `---`/`+++` headers.
pub fn changed_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            (l.starts_with('-') || l.starts_with('+'))
                && !l.starts_with("---")
                && !l.starts_with("+++")
        })
        .collect()
}

/// An output for an assertion message: the exit code, stdout and stderr.
pub fn show(out: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        out.code, out.stdout, out.stderr
    )
}

/// [`mooring`] with a hang guard, for tests of things that used to block
/// forever (a FIFO, a Git server that never answers): the command is killed
/// and the test fails if it has not ended within 60 s (a bound, not a timing
/// assertion). Standard input is closed.
pub fn mooring_bounded(args: &[&str], cwd: Option<&Path>) -> Output {
    use std::process::Stdio;
    let mut child = mooring_command()
        .args(args)
        .current_dir(cwd.unwrap_or(Path::new(env!("CARGO_MANIFEST_DIR"))))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the mooring binary runs");
    let start = std::time::Instant::now();
    while child
        .try_wait()
        .expect("the child can be waited for")
        .is_none()
    {
        if start.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("mooring {args:?} did not end within 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("the output is read");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A new repository in `dir` (made if absent) whose first branch is
/// `main`, whatever the user's `init.defaultBranch`, and without templates
/// (`init.templateDir`): no test depends on the git configuration of the
/// machine it runs on. Commits are made with [`commit_all`], which names its
/// own author and runs no hook.
pub fn git_init(dir: &Path) -> git2::Repository {
    let mut options = git2::RepositoryInitOptions::new();
    options
        .mkpath(true)
        .external_template(false)
        .initial_head("main");
    git2::Repository::init_opts(dir, &options).unwrap()
}

/// The `git` program with no global or system configuration (so no
/// `core.hooksPath`, `init.templateDir`, `init.defaultBranch` or identity of
/// the user's), and its own author and committer.
pub fn git_command() -> Command {
    let mut cmd = Command::new("git");
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com");
    cmd
}

/// Stages everything in the work tree of `repo` (additions, changes,
/// removals) and commits it on HEAD.
pub fn commit_all(repo: &git2::Repository, message: &str) -> git2::Oid {
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.update_all(["*"].iter(), None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("test", "test@example.com").unwrap();
    let parents: Vec<git2::Commit> = repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .into_iter()
        .collect();
    let parents: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .unwrap()
}

/// A port that was free a moment ago, on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on 127.0.0.1:`port`: the status code and the body, or 0 when
/// nothing answers.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    )
}

/// `POST path` with a JSON body on 127.0.0.1:`port`: as [`http_get`].
pub fn http_post(port: u16, path: &str, body: &str) -> (u16, String) {
    http(
        port,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// Sends `request` whole and reads the answer: its status code and body.
fn http(port: u16, request: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let code = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// Polls `check` every 50 ms for at most 30 s (a bound, not a timing
/// assertion).
pub async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..600 {
        if check() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// [`eventually`] with an async check (e.g. a read from a live server).
pub async fn eventually_async<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// Commits everything in `dir`, making it a repository first if needed.
pub fn commit_dir(dir: &Path, message: &str) {
    let repo = git2::Repository::open(dir).unwrap_or_else(|_| git_init(dir));
    commit_all(&repo, message);
}

/// The names of the emulator's microVMs, sorted.
pub fn vm_names(flintlock: &mooring_emulators::flintlock::FlintlockEmulator) -> Vec<String> {
    let mut names: Vec<String> = flintlock
        .vms()
        .iter()
        .filter_map(|v| v.spec.as_ref().map(|s| s.id.clone()))
        .collect();
    names.sort();
    names
}

/// Asserts that `doc` (a command's `-o json` output) conforms to its JSON
/// Schema, `schemas/output/<kind>.json`, naming every violation.
pub fn conforms(doc: &serde_json::Value, kind: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas/output")
        .join(format!("{kind}.json"));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "not a {kind} as schemas/output/{kind}.json says: {errors:#?}\n{doc:#}"
    );
    assert_eq!(doc["kind"], kind);
}
