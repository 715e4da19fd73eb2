//! The local sandbox: the whole mooring loop on this machine, against
//! emulators, printing every step.
//!
//! Run it with `scripts/sandbox` (it builds the `mooring` binary and
//! this example, then runs it). The targets are the emulators from
//! `emulators/` on 127.0.0.1: a Kubernetes API server over HTTP and a
//! flintlockd over gRPC. Nothing leaves this machine.
//!
//! Steps: make a Git repository from `examples/manifests`; plan; apply;
//! plan again (no changes); change live state behind mooring's back; show
//! the drift; apply to heal it; commit a removal; show and apply the prune;
//! then run the daemon (`mooring run`) for a few seconds: its drift metric
//! series appears (1) and goes as live state is changed and healed, and a push webhook
//! brings a new commit in at once.
//!
//! `scripts/sandbox --kube real` runs the same walkthrough against a real
//! kube-apiserver with etcd (`scripts/kube-apiserver`), passed to this
//! example as `--kube-real KUBECONFIG CONTEXT`; the CustomResourceDefinitions
//! are installed first with `mooring crds` and `mooring apply`, since no
//! operator is there to install them.

use std::path::{Path, PathBuf};
use std::process::Command;

use mooring_emulators::flintlock::{FlintlockEmulator, FlintlockOptions};
use mooring_emulators::kubernetes::{KubeEmulator, KubeOptions};
use serde_json::{Value, json};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A step's title, bold on a terminal (anstream leaves the style out
/// into a pipe, and when NO_COLOR is set).
fn step(title: &str) {
    let bold = anstyle::Style::new().bold();
    anstream::println!("\n{bold}== {title}{bold:#}");
}

/// The Kubernetes target: the emulator, or a real API server.
enum Kube {
    Emulator(KubeEmulator),
    Real {
        client: kube::Client,
        kubeconfig: PathBuf,
        context: String,
    },
}

impl Kube {
    async fn start(real: Option<(PathBuf, String)>) -> Result<Kube> {
        let Some((kubeconfig, context)) = real else {
            return Ok(Kube::Emulator(
                KubeEmulator::start(KubeOptions::default()).await?,
            ));
        };
        let config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&kubeconfig)?,
            &kube::config::KubeConfigOptions {
                context: Some(context.clone()),
                ..Default::default()
            },
        )
        .await?;
        Ok(Kube::Real {
            client: kube::Client::try_from(config)?,
            kubeconfig,
            context,
        })
    }

    fn describe(&self) -> String {
        match self {
            Kube::Emulator(e) => format!("Kubernetes API emulator: {}", e.url()),
            Kube::Real { kubeconfig, .. } => format!(
                "a real kube-apiserver with etcd (scripts/kube-apiserver), kubeconfig {}",
                kubeconfig.display()
            ),
        }
    }

    /// The kubeconfig and context mooring is given.
    fn kubeconfig(&self, work: &Path) -> Result<(PathBuf, String)> {
        match self {
            Kube::Emulator(e) => {
                let path = work.join("kubeconfig");
                e.write_kubeconfig(&path, "sandbox")?;
                Ok((path, "sandbox".into()))
            }
            Kube::Real {
                kubeconfig,
                context,
                ..
            } => Ok((kubeconfig.clone(), context.clone())),
        }
    }

    async fn api(
        &self,
        group: &str,
        version: &str,
        kind: &str,
        ns: &str,
    ) -> Result<kube::Api<kube::api::DynamicObject>> {
        let Kube::Real { client, .. } = self else {
            return Err("not a real server".into());
        };
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let (resource, _) = kube::discovery::pinned_kind(client, &gvk).await?;
        Ok(kube::Api::namespaced_with(client.clone(), ns, &resource))
    }

    /// Changes a LlamaStackDistribution behind mooring's back, as
    /// `kubectl scale` would (an update by another field manager).
    async fn scale_llsd(&self, ns: &str, name: &str, replicas: i64) -> Result<()> {
        let patch = json!({"spec": {"replicas": replicas}});
        match self {
            Kube::Emulator(e) => {
                e.edit_as(
                    "kubectl-scale",
                    "llamastack.io",
                    "LlamaStackDistribution",
                    Some(ns),
                    name,
                    &patch,
                )?;
            }
            Kube::Real { .. } => {
                let api = self
                    .api("llamastack.io", "v1alpha1", "LlamaStackDistribution", ns)
                    .await?;
                let params = kube::api::PatchParams {
                    field_manager: Some("kubectl-scale".into()),
                    ..Default::default()
                };
                api.patch(name, &params, &kube::api::Patch::Merge(&patch))
                    .await?;
            }
        }
        Ok(())
    }

    async fn llsd_replicas(&self, ns: &str, name: &str) -> Option<i64> {
        let object: Value = match self {
            Kube::Emulator(e) => {
                e.get("llamastack.io", "LlamaStackDistribution", Some(ns), name)?
            }
            Kube::Real { .. } => {
                let api = self
                    .api("llamastack.io", "v1alpha1", "LlamaStackDistribution", ns)
                    .await
                    .ok()?;
                serde_json::to_value(api.get(name).await.ok()?).ok()?
            }
        };
        object["spec"]["replicas"].as_i64()
    }

    /// How many objects carry mooring's ownership labels.
    async fn managed_objects(&self) -> Result<usize> {
        let client = match self {
            Kube::Emulator(e) => {
                return Ok(e
                    .objects()
                    .iter()
                    .filter(|o| {
                        o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mooring"
                    })
                    .count());
            }
            Kube::Real { client, .. } => client,
        };
        let discovery = kube::Discovery::new(client.clone()).run().await?;
        let mut n = 0;
        let selector =
            kube::api::ListParams::default().labels("app.kubernetes.io/managed-by=mooring");
        for group in discovery.groups() {
            for (resource, caps) in group.recommended_resources() {
                if !caps.supports_operation(kube::discovery::verbs::LIST) {
                    continue;
                }
                let api: kube::Api<kube::api::DynamicObject> =
                    kube::Api::all_with(client.clone(), &resource);
                if let Ok(list) = api.list_metadata(&selector).await {
                    n += list.items.len();
                }
            }
        }
        Ok(n)
    }
}

/// `--kube-real KUBECONFIG CONTEXT`, when given.
fn real_kube_args() -> Result<Option<(PathBuf, String)>> {
    let args: Vec<String> = std::env::args().collect();
    let Some(i) = args.iter().position(|a| a == "--kube-real") else {
        return Ok(None);
    };
    match (args.get(i + 1), args.get(i + 2)) {
        (Some(k), Some(c)) => Ok(Some((std::fs::canonicalize(k)?, c.clone()))),
        _ => Err("--kube-real takes a kubeconfig and a context".into()),
    }
}

/// The `mooring` binary next to this example's build output.
fn mooring_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::args().nth(1).filter(|a| a != "--kube-real") {
        // Commands run in a temporary directory: make the path absolute.
        return Ok(std::fs::canonicalize(&p)
            .map_err(|e| format!("cannot find the mooring binary {p}: {e}"))?);
    }
    let exe = std::env::current_exe()?;
    // target/<profile>/examples/sandbox → target/<profile>/mooring
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("mooring"))
        .ok_or("cannot find the target directory")?;
    if !bin.is_file() {
        return Err(format!(
            "{} is missing: run scripts/sandbox, or cargo build --bin mooring first",
            bin.display()
        )
        .into());
    }
    Ok(bin)
}

/// Lines of a command's output shown; the first plan diffs every object.
const MAX_LINES: usize = 60;

/// Runs `mooring` with `args`, printing the command line and its output
/// (at most [`MAX_LINES`] lines of it). Returns the exit code.
async fn mooring(bin: &Path, cwd: &Path, args: &[&str]) -> Result<i32> {
    println!("$ mooring {}", args.join(" "));
    let bin = bin.to_path_buf();
    let cwd = cwd.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    // The emulators run on this process's runtime: wait for the child on a
    // blocking thread so that they keep answering.
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args(&args)
            .current_dir(cwd)
            .env_remove("KUBECONFIG")
            .output()
    })
    .await??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    if lines.len() <= MAX_LINES {
        lines.iter().for_each(|l| println!("{l}"));
    } else {
        // The head (the plan's summary) and the tail (what apply did).
        let (head, tail) = (MAX_LINES * 2 / 3, MAX_LINES / 3);
        lines[..head].iter().for_each(|l| println!("{l}"));
        println!("[... {} lines not shown ...]", lines.len() - head - tail);
        lines[lines.len() - tail..]
            .iter()
            .for_each(|l| println!("{l}"));
    }
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    let code = out.status.code().unwrap_or(-1);
    println!("(exit code {code})");
    Ok(code)
}

/// `git` without the user's global or system configuration (no hooks,
/// templates or default branch of theirs), as the sandbox's own author.
fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "sandbox")
        .env("GIT_AUTHOR_EMAIL", "sandbox@example.com")
        .env("GIT_COMMITTER_NAME", "sandbox")
        .env("GIT_COMMITTER_EMAIL", "sandbox@example.com");
    cmd
}

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let status = git_command(dir).args(args).status()?;
    if !status.success() {
        return Err(format!("git {} failed", args.join(" ")).into());
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// A port that was free a moment ago, on loopback.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// One HTTP/1.1 request on loopback: the status code and the body.
fn http(port: u16, request: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split(' ').nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())?;
    Some((code, body))
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    )
}

fn http_post(port: u16, path: &str, headers: &[(&str, &str)], body: &str) -> Result<u16> {
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    Ok(http(port, &request).ok_or("no answer")?.0)
}

/// Polls `check` every 100 ms, for at most 30 s.
async fn wait_for(what: &str, mut check: impl FnMut() -> bool) -> Result<()> {
    for _ in 0..300 {
        if check() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(format!("timed out waiting for {what}").into())
}

fn expect(what: &str, code: i32, want: i32) -> Result<()> {
    if code != want {
        return Err(format!("{what}: exit code {code}, expected {want}").into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let bin = mooring_binary()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));

    let real = real_kube_args()?;
    step(if real.is_some() {
        "Starting the flintlockd emulator; Kubernetes is a real API server on loopback"
    } else {
        "Starting the emulators (local stand-ins, not real targets)"
    });
    let kube = Kube::start(real).await?;
    let flintlock = FlintlockEmulator::start(FlintlockOptions::default()).await?;
    println!(
        "{}   flintlockd emulator (edge-1): {}",
        kube.describe(),
        flintlock.endpoint()
    );
    println!("Every target below is on loopback.");

    let work = tempfile::tempdir()?;
    let repo = work.path().join("platform");
    copy_dir(&root.join("examples/manifests"), &repo.join("manifests"))?;
    git(&repo, &["init", "-q", "-b", "main"])?;
    git(&repo, &["add", "-A"])?;
    git(&repo, &["commit", "-qm", "platform: initial"])?;
    let (kubeconfig, context) = kube.kubeconfig(work.path())?;
    let config = work.path().join("mooring.yaml");
    let config_text = |source_extra: &str, extra: &str| {
        format!(
            "# The sandbox's configuration: a Git repository made from examples/manifests,\n\
             # and the two emulators as targets.\n\
             source:\n  name: sandbox\n  url: {repo}\n  ref: main\n  path: manifests\n{source_extra}\
             targets:\n  kubernetes:\n    kubeconfig: {kubeconfig}\n    context: {context}\n\
             \x20   # Take fields back from kubectl edits and scales (drift healing).\n\
             \x20   forceConflicts: true\n\
             \x20 flintlock:\n    - name: edge-1\n      endpoint: {endpoint}\n\
             prune: true\ntimeout: 10s\n{extra}",
            repo = repo.display(),
            kubeconfig = kubeconfig.display(),
            endpoint = flintlock.endpoint(),
        )
    };
    std::fs::write(&config, config_text("", ""))?;
    println!("Git repository: {}", repo.display());
    println!(
        "--- {} ---\n{}",
        config.display(),
        std::fs::read_to_string(&config)?
    );
    let cfg = config.display().to_string();
    let policies = root.join("policies").display().to_string();
    let base = ["--config", cfg.as_str(), "--policies", policies.as_str()];
    let with = |cmd: &str, extra: &[&'static str]| -> Vec<String> {
        let mut v = vec![cmd.to_string()];
        v.extend(base.iter().map(|s| s.to_string()));
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |args: Vec<String>| {
        let bin = bin.clone();
        let cwd = work.path().to_path_buf();
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            mooring(&bin, &cwd, &refs).await
        }
    };

    if let Kube::Real { .. } = kube {
        step("0. No operator is installed: mooring installs the CRDs it generates");
        let crds = work.path().join("crds.yaml");
        let out = Command::new(&bin).arg("crds").output()?;
        std::fs::write(&crds, &out.stdout)?;
        println!("$ mooring crds > crds.yaml");
        let kc = kubeconfig.display().to_string();
        let crds_path = crds.display().to_string();
        let code = mooring(
            &bin,
            work.path(),
            &[
                "apply",
                &crds_path,
                "--kubeconfig",
                &kc,
                "--context",
                &context,
                "--source-name",
                "crds",
                "--allow-unknown-kinds",
                "--no-policies",
                "--yes",
            ],
        )
        .await?;
        expect("CRD install", code, 0)?;
    }

    step("1. Plan: everything is new");
    expect("plan", run(with("plan", &[])).await?, 2)?;

    step("2. Apply");
    expect("apply", run(with("apply", &["--yes"])).await?, 0)?;
    println!(
        "Kubernetes now holds {} objects applied by mooring; flintlockd holds {} microVMs.",
        kube.managed_objects().await?,
        flintlock.vms().len()
    );

    step("3. Plan again: nothing to do (apply is idempotent)");
    expect("plan after apply", run(with("plan", &[])).await?, 0)?;

    step("4. Someone changes live state behind mooring's back");
    println!(
        "kubectl scale: LlamaStackDistribution ml-platform/support-assistant goes from 2 to 5 replicas"
    );
    kube.scale_llsd("ml-platform", "support-assistant", 5)
        .await?;
    println!("on edge-1: microVM ci/build-cache is given 8 vCPUs");
    flintlock.edit("ci", "build-cache", |spec| spec.vcpu = 8);

    step("5. Plan shows the drift");
    expect("drift plan", run(with("plan", &[])).await?, 2)?;

    step(
        "6. Apply heals it (server-side apply takes replicas back; the microVM is replaced: Flintlock has no update)",
    );
    expect("heal", run(with("apply", &["--yes"])).await?, 0)?;
    expect("plan after heal", run(with("plan", &[])).await?, 0)?;

    step("7. A commit removes the metrics-relay Workload and ci-runner-02");
    git(
        &repo,
        &[
            "rm",
            "-q",
            "manifests/wasmcloud/workloads/workload-metrics-relay.yaml",
            "manifests/microvms/ci-runner-02.yaml",
        ],
    )?;
    git(
        &repo,
        &["commit", "-qm", "retire metrics-relay and a CI runner"],
    )?;
    expect("prune plan", run(with("plan", &[])).await?, 2)?;

    step("8. Apply prunes them (they carry mooring's labels for this source)");
    expect("prune", run(with("apply", &["--yes"])).await?, 0)?;
    expect("final plan", run(with("plan", &[])).await?, 0)?;

    step("9. The daemon: mooring run, with drift checks every 2 s and self-heal");
    let run_config = work.path().join("mooring-run.yaml");
    std::fs::write(
        &run_config,
        config_text(
            "  # Poll rarely: the webhook below brings commits in.\n  interval: 1h\n  driftInterval: 2s\n",
            "selfHeal: true\n",
        ),
    )?;
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let run_args = [
        "run",
        "--config",
        &run_config.display().to_string(),
        "--policies",
        &policies,
        "--listen",
        &listen,
        "--cache-dir",
        &work.path().join("cache").display().to_string(),
    ]
    .map(str::to_string);
    println!("$ mooring {} &", run_args.join(" "));
    let mut daemon = Command::new(&bin)
        .args(&run_args)
        .current_dir(work.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    // Present (at 1) only while the object differs from Git.
    let drift_series = "mooring_resource_drift{backend=\"kubernetes\",kind=\"LlamaStackDistribution\",name=\"support-assistant\",namespace=\"ml-platform\",source=\"sandbox\"}";
    let drifted_kind = "mooring_drifted_resources{backend=\"kubernetes\",kind=\"LlamaStackDistribution\",source=\"sandbox\"}";
    let result = async {
        let value = |port, series: &str| -> Option<String> {
            let (_, text) = http_get(port, "/metrics")?;
            text.lines()
                .find(|l| l.starts_with(series))
                .and_then(|l| l.rsplit(' ').next())
                .map(str::to_string)
        };
        let drift = |port| value(port, drift_series);
        let in_sync =
            |port| value(port, drifted_kind).as_deref() == Some("0") && drift(port).is_none();
        wait_for("the first sync", || {
            http_get(port, "/readyz").is_some_and(|(c, _)| c == 200)
        })
        .await?;
        println!("ready: GET /readyz → 200");
        wait_for("the drift check to find everything in sync", || in_sync(port)).await?;
        println!("{drifted_kind} 0   (no mooring_resource_drift series: in sync)");
        println!("kubectl scale: support-assistant goes to 7 replicas while the daemon runs");
        kube.scale_llsd("ml-platform", "support-assistant", 7).await?;
        wait_for("drift to be seen", || drift(port).as_deref() == Some("1")).await?;
        println!("{drift_series} 1   (seen by the drift check, healed in the same pass)");
        wait_for("drift to be healed", || in_sync(port)).await?;
        let replicas = kube.llsd_replicas("ml-platform", "support-assistant").await;
        println!(
            "{drifted_kind} 0   (healed: the series is gone; replicas back to {})",
            replicas.unwrap_or(-1)
        );

        println!("\nA commit, then a push webhook (POST /hooks/git, as GitHub sends it):");
        git(&repo, &["commit", "-q", "--allow-empty", "-m", "an empty commit, to show the trigger"])?;
        let body = json!({
            "ref": "refs/heads/main",
            "repository": {"clone_url": repo.display().to_string()}
        })
        .to_string();
        let code = http_post(port, "/hooks/git", &[("X-GitHub-Event", "push")], &body)?;
        println!("POST /hooks/git → {code} (no secret is configured in the sandbox; set source.webhook to require a signature)");
        let head = String::from_utf8(
            git_command(&repo).args(["rev-parse", "HEAD"]).output()?.stdout,
        )?;
        let head = head.trim().to_string();
        wait_for("the pushed revision", || {
            http_get(port, "/api/v1/status").is_some_and(|(_, body)| body.contains(&head))
        })
        .await?;
        println!("/api/v1/status: revision {} applied", &head[..10.min(head.len())]);
        let (_, metrics) = http_get(port, "/metrics").ok_or("no /metrics")?;
        for line in metrics.lines().filter(|l| {
            l.starts_with("mooring_sync_total")
                || l.starts_with("mooring_managed_resources")
                || l.starts_with("mooring_drifted_resources")
                || l.starts_with("mooring_webhook_requests_total")
        }) {
            println!("{line}");
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    }
    .await;
    println!("$ kill -TERM <mooring run>");
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let status = daemon.wait()?;
    result?;
    println!("mooring run exited with {status}");

    println!(
        "\nDone. {}; point mooring.yaml at your cluster and flintlockd hosts to do this for real (see README).",
        match kube {
            Kube::Emulator(_) => "The targets were local emulators",
            Kube::Real { .. } =>
                "Kubernetes was a real API server on loopback, flintlockd an emulator",
        }
    );
    Ok(())
}
