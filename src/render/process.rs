//! Running a renderer: a child process with a clean environment, a
//! deadline and a cap on what it prints. Killed (its whole process group)
//! at the deadline or when its output passes the cap.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The most of a renderer's standard error kept for its message.
const MAX_STDERR: u64 = 16 * 1024;

/// One run of a renderer.
#[derive(Debug)]
pub struct Run {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    /// The whole environment: nothing of mooring's own is inherited.
    pub env: Vec<(String, OsString)>,
    pub timeout: Duration,
    /// The most bytes it may print on standard output.
    pub max_output: u64,
}

/// Why a run gave no output.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("did not finish within {0:?} and was stopped (render.timeout in mooring.yaml)")]
    Timeout(Duration),
    #[error("printed more than {0} bytes (--max-total-bytes) and was stopped")]
    TooLarge(u64),
    #[error("{}: {stderr}", exit(*code))]
    Failed { code: Option<i32>, stderr: String },
    #[error("cannot wait for it: {0}")]
    Wait(#[source] std::io::Error),
}

fn exit(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exit code {c}"),
        None => "killed by a signal".into(),
    }
}

impl RunError {
    /// Whether the program is missing, rather than failing.
    pub fn not_found(&self) -> bool {
        matches!(self, RunError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Runs `run` to its end and returns what it printed.
pub fn run(run: &Run) -> Result<Vec<u8>, RunError> {
    let mut child = Command::new(&run.program)
        .args(&run.args)
        .current_dir(&run.cwd)
        .env_clear()
        .envs(run.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|source| RunError::Spawn {
            program: run.program.display().to_string(),
            source,
        })?;
    let group = child.id() as libc::pid_t;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let cap = run.max_output;
    let over = Arc::new(AtomicBool::new(false));
    let over_cap = Arc::clone(&over);
    let out_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(s) = stdout {
            // One byte over the cap tells "too large" from "exactly the cap".
            let _ = s.take(cap.saturating_add(1)).read_to_end(&mut bytes);
        }
        if bytes.len() as u64 > cap {
            over_cap.store(true, Ordering::Relaxed);
        }
        bytes
    });
    let err_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut s) = stderr {
            let _ = (&mut s).take(MAX_STDERR).read_to_end(&mut bytes);
            // Drain the rest, so the child never blocks on a full pipe.
            let _ = std::io::copy(&mut s, &mut std::io::sink());
        }
        bytes
    });
    let deadline = Instant::now() + run.timeout;
    let mut exited = None;
    let status = loop {
        if exited.is_none() {
            match child.try_wait() {
                Ok(status) => exited = status,
                Err(e) => {
                    kill(group, &mut child);
                    break Err(RunError::Wait(e));
                }
            }
        }
        // Done when it exited and its output is closed: a process it left
        // behind holding the pipes open keeps the group alive, and is
        // killed with it at the deadline.
        if let Some(status) = exited
            && out_reader.is_finished()
            && err_reader.is_finished()
        {
            break Ok(status);
        }
        if over.load(Ordering::Relaxed) {
            kill(group, &mut child);
            break Err(RunError::TooLarge(cap));
        }
        if Instant::now() >= deadline {
            kill(group, &mut child);
            break Err(RunError::Timeout(run.timeout));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = out_reader.join().unwrap_or_default();
    if out.len() as u64 > cap {
        return Err(RunError::TooLarge(cap));
    }
    let status = status?;
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(RunError::Failed {
            code: status.code(),
            stderr: String::from_utf8_lossy(&err).trim().to_string(),
        });
    }
    Ok(out)
}

/// Kills the child's whole process group and reaps the child.
fn kill(group: libc::pid_t, child: &mut std::process::Child) {
    // SAFETY: kill(2) with a negative pid signals the process group the
    // child leads (it was spawned with `process_group(0)`); it touches no
    // memory of ours.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Duration, max_output: u64) -> Result<Vec<u8>, RunError> {
        run(&Run {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            cwd: std::env::temp_dir(),
            env: vec![("SECRET_SEEN".into(), "no".into())],
            timeout,
            max_output,
        })
    }

    #[test]
    fn output_exit_codes_and_environment() {
        let out = sh(
            "echo $SECRET_SEEN; echo ${HOME:-unset}",
            Duration::from_secs(20),
            100,
        );
        assert_eq!(out.ok().as_deref(), Some(&b"no\nunset\n"[..]));
        let failed = sh("echo bad >&2; exit 3", Duration::from_secs(20), 100);
        assert!(
            matches!(&failed, Err(RunError::Failed { code: Some(3), stderr }) if stderr == "bad"),
            "{failed:?}"
        );
    }

    #[test]
    fn a_hanging_child_and_its_children_are_killed_at_the_deadline() {
        // The grandchild holds standard output open: only killing the
        // group ends the run.
        let r = sh("sleep 600 & sleep 600", Duration::from_millis(300), 100);
        assert!(matches!(r, Err(RunError::Timeout(_))), "{r:?}");
    }

    #[test]
    fn output_over_the_cap_is_refused() {
        let r = sh(
            "yes | head -c 100000; sleep 600",
            Duration::from_secs(60),
            1000,
        );
        assert!(matches!(r, Err(RunError::TooLarge(1000))), "{r:?}");
    }
}
