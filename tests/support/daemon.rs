//! `mooring run` as the daemon tests start it: the Git repository and
//! `mooring.yaml` it syncs from, its arguments, and the process, killed if
//! the test ends before it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::{commit_dir, http_get, write};

/// The schedule most daemon tests use: poll Git every 200 ms, never check
/// drift on a timer during a test.
pub const POLL_FAST: &str = "interval: 200ms, driftInterval: 1h";

/// `DIR/repo` with `files` (path in the repository, text), committed as
/// "first"; returns the repository's path.
pub fn repo(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    let repo = dir.join("repo");
    for (path, text) in files {
        write(&repo, path, text);
    }
    commit_dir(&repo, "first");
    repo
}

/// Writes `DIR/mooring.yaml`: one source named `source` reading `path:
/// deploy` at `ref: HEAD` of `url`, on `schedule` (see [`POLL_FAST`]); the
/// Kubernetes target `kubernetes` (the inside of its flow mapping:
/// `kubeconfig: …, context: …`); a 5 s timeout; then `settings` (top-level
/// lines).
pub fn config(
    dir: &Path,
    source: &str,
    url: &str,
    schedule: &str,
    kubernetes: &str,
    settings: &str,
) {
    write(
        dir,
        "mooring.yaml",
        &format!(
            "source: {{name: {source}, url: {url}, ref: HEAD, path: deploy, {schedule}}}\ntargets:\n  kubernetes: {{{kubernetes}}}\ntimeout: 5s\n{settings}"
        ),
    );
}

/// `mooring run` with `DIR/mooring.yaml`, no policies, the cache in
/// `DIR/cache`, then `extra`.
pub fn run_args(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut v = vec![
        "run".to_string(),
        "--config".to_string(),
        dir.join("mooring.yaml").display().to_string(),
        "--no-policies".to_string(),
        "--cache-dir".to_string(),
        dir.join("cache").display().to_string(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// A running `mooring run` listening on `127.0.0.1:port`; killed (and
/// reaped) when dropped, so a test that fails leaves no process behind.
pub struct Daemon {
    pub port: u16,
    child: Option<Child>,
}

impl Daemon {
    pub fn new(child: Child, port: u16) -> Daemon {
        Daemon {
            port,
            child: Some(child),
        }
    }

    /// The body of `/metrics` (empty when it does not answer).
    pub fn metrics(&self) -> String {
        http_get(self.port, "/metrics").1
    }

    /// Sends `signal` (`-TERM`, `-KILL`, …) with kill(1).
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(sent.success());
    }

    /// SIGTERM, then the exit code (see [`Daemon::exit_code`]).
    pub async fn stop(mut self) -> Option<i32> {
        self.signal("-TERM");
        self.exit_code().await
    }

    /// Waits (at most 30 s, a bound rather than a timing assertion) for the
    /// process to exit; its exit code, `None` if it had to be killed.
    pub async fn exit_code(&mut self) -> Option<i32> {
        let mut child = self.child.take().unwrap();
        tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    return status.code();
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
        .await
        .unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
