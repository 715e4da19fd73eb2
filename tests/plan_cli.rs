//! `mooring plan` between two Git revisions, on repositories built here with
//! git2 in a temporary directory (no network).

mod support;

use std::path::Path;

use support::{commit_all, git_init, mooring, write};

const NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n";
const CM_V1: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: apps\ndata:\n  level: info\n";
const CM_V2: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: apps\ndata:\n  level: debug\n";
const SECRET_V1: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n  namespace: apps\ndata:\n  token: c2VjcmV0LW9uZQ==\n  user: YWRtaW4=\n";
const SECRET_V2: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n  namespace: apps\ndata:\n  token: c2VjcmV0LXR3bw==\n  user: YWRtaW4=\n";
const OLD_SA: &str =
    "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: old\n  namespace: apps\n";

/// Writes one file into the repository at `dir` and commits everything.
fn commit_file(dir: &Path, rel: &str, text: &str, message: &str) -> git2::Oid {
    write(dir, rel, text);
    commit_all(&git2::Repository::open(dir).unwrap(), message)
}

/// A broken ConfigMap: `data` values must be strings.
const CM_BROKEN: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: apps\ndata:\n  level: 3\n";

/// A repository whose `deploy/` folder changes between two commits: one
/// object created, two updated (one a Secret), one deleted, one unchanged.
fn two_commits() -> (tempfile::TempDir, git2::Oid, git2::Oid) {
    let dir = tempfile::tempdir().unwrap();
    let repo = support::git_init(dir.path());
    let d = dir.path();
    write(d, "deploy/ns.yaml", NS);
    write(d, "deploy/cfg.yaml", CM_V1);
    write(d, "deploy/secret.yaml", SECRET_V1);
    write(d, "deploy/old.yaml", OLD_SA);
    write(d, "README.md", "not a manifest\n");
    let first = commit_all(&repo, "first");
    write(d, "deploy/cfg.yaml", CM_V2);
    write(d, "deploy/secret.yaml", SECRET_V2);
    std::fs::remove_file(d.join("deploy/old.yaml")).unwrap();
    write(
        d,
        "deploy/new.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: new\n  namespace: apps\n",
    );
    let second = commit_all(&repo, "second");
    (dir, first, second)
}

fn plan(repo: &Path, extra: &[&str]) -> support::Output {
    let mut args = vec![
        "plan",
        "--no-policies",
        "--repo",
        repo.to_str().unwrap(),
        "--path",
        "deploy",
    ];
    args.extend_from_slice(extra);
    mooring(&args, None)
}

#[test]
fn text_plan_counts_diffs_and_masks() {
    let (dir, first, _) = two_commits();
    let first = first.to_string();
    let out = plan(dir.path(), &["--ref", "HEAD", "--against-ref", &first]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    let short = &first[..10];
    assert!(
        out.stdout.starts_with(&format!("Plan {short} → HEAD (")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("1 to create, 2 to update, 1 to delete, 1 unchanged")
    );
    assert!(
        out.stdout
            .contains("+ create ServiceAccount/apps/new  (deploy/new.yaml:1)")
    );
    assert!(
        out.stdout
            .contains("- delete ServiceAccount/apps/old  (deploy/old.yaml:1)")
    );
    assert!(out.stdout.contains(
        "~ update ConfigMap/apps/cfg  (deploy/cfg.yaml:1)\n--- a/ConfigMap/apps/cfg\n+++ b/ConfigMap/apps/cfg\n@@ -1,6 +1,6 @@\n apiVersion: v1\n data:\n-  level: info\n+  level: debug\n kind: ConfigMap\n"
    ), "{}", out.stdout);
    // Secrets: that it changed is shown, never what it is.
    assert!(
        out.stdout
            .contains("-  token: \"*** (before)\"\n+  token: \"*** (after)\"\n   user: \"***\"\n"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("c2VjcmV0"));
    assert!(!out.stdout.contains("YWRtaW4"));
}

/// Colour: never into a pipe by default; `--color always` and
/// `CLICOLOR_FORCE` paint (additions green, deletions red); `NO_COLOR` and
/// `--color never` win over `CLICOLOR_FORCE`; painted text is the plain
/// text with styles and nothing else; JSON and Markdown are never painted.
#[test]
fn colour_follows_the_flag_and_the_environment() {
    let (dir, first, _) = two_commits();
    let first = first.to_string();
    let args = |extra: &[&str]| {
        let mut a = vec![
            "plan",
            "--no-policies",
            "--repo",
            dir.path().to_str().unwrap(),
            "--path",
            "deploy",
            "--ref",
            "HEAD",
            "--against-ref",
            &first,
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let a = args(extra);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        support::mooring_env(&refs, None, env)
    };
    let esc = '\u{1b}';
    let plain = run(&[], &[]);
    assert_eq!(plain.code, 2, "{}", plain.stderr);
    assert!(!plain.stdout.contains(esc), "a pipe gets no colour");

    for painted in [
        run(&["--color", "always"], &[]),
        run(&[], &[("CLICOLOR_FORCE", "1")]),
    ] {
        assert!(
            painted.stdout.contains("\u{1b}[32m+ create\u{1b}[0m"),
            "{:?}",
            painted.stdout
        );
        assert!(painted.stdout.contains("\u{1b}[31m-  level: info"));
        assert!(painted.stdout.contains("\u{1b}[32m+  level: debug"));
        let stripped = strip_ansi(&painted.stdout);
        assert_eq!(stripped, plain.stdout);
    }
    for refused in [
        run(&[], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]),
        run(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]),
        run(&["--color", "always", "-o", "json"], &[]),
        run(&["--color", "always", "-o", "markdown"], &[]),
    ] {
        assert!(!refused.stdout.contains(esc), "{:?}", refused.stdout);
    }
}

/// `text` without its SGR escapes (`ESC [ ... m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn no_changes_exits_0() {
    let (dir, _, second) = two_commits();
    let out = plan(dir.path(), &["--against-ref", &second.to_string()]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(": no changes (4 unchanged)"),
        "{}",
        out.stdout
    );
}

#[test]
fn json_and_markdown_outputs() {
    let (dir, first, _) = two_commits();
    let out = plan(
        dir.path(),
        &["--against-ref", &first.to_string(), "-o", "json"],
    );
    assert_eq!(out.code, 2);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    support::conforms(&v, "Plan");
    assert_eq!(v["apiVersion"], "mooring.dev/v1");
    assert_eq!(
        v["summary"],
        serde_json::json!({"create": 1, "update": 2, "delete": 1, "unchanged": 1})
    );
    // Revisions are {label, ref, commit}.
    assert_eq!(v["from"]["ref"], first.to_string());
    assert_eq!(v["from"]["commit"], first.to_string());
    assert_eq!(v["to"]["ref"], "HEAD");
    assert_eq!(v["to"]["commit"].as_str().unwrap().len(), 40);
    assert!(v["to"]["label"].as_str().unwrap().starts_with("HEAD ("));
    // The unchanged Namespace is counted, not listed, unless asked for.
    let changes = v["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 4);
    assert!(changes.iter().all(|c| c["action"] != "unchanged"));
    let all = plan(
        dir.path(),
        &[
            "--against-ref",
            &first.to_string(),
            "-o",
            "json",
            "--show-unchanged",
        ],
    );
    let all: serde_json::Value = serde_json::from_str(&all.stdout).unwrap();
    support::conforms(&all, "Plan");
    assert_eq!(all["changes"].as_array().unwrap().len(), 5);
    let cfg = changes.iter().find(|c| c["id"]["name"] == "cfg").unwrap();
    assert_eq!(cfg["action"], "update");
    assert_eq!(cfg["id"]["kind"], "ConfigMap");
    assert_eq!(cfg["file"], "deploy/cfg.yaml");
    assert!(cfg["diff"].as_str().unwrap().contains("+  level: debug"));

    let md = plan(
        dir.path(),
        &["--against-ref", &first.to_string(), "-o", "markdown"],
    );
    assert_eq!(md.code, 2);
    assert!(
        md.stdout
            .starts_with("### mooring plan: 1 to create, 2 to update, 1 to delete, 1 unchanged\n")
    );
    assert!(
        md.stdout
            .contains("| ~ update | `ConfigMap/apps/cfg` | `deploy/cfg.yaml:1` |")
    );
    assert!(md.stdout.contains(
        "<details><summary>~ update <code>ConfigMap/apps/cfg</code></summary>\n\n```diff\n--- a/ConfigMap/apps/cfg\n"
    ), "{}", md.stdout);
    assert_eq!(md.stdout.matches("<details>").count(), 4);
    assert!(!md.stdout.contains("c2VjcmV0"));
}

#[test]
fn an_invalid_desired_side_is_not_planned() {
    let (dir, first, _) = two_commits();
    commit_file(dir.path(), "deploy/cfg.yaml", CM_BROKEN, "broken");
    let out = plan(dir.path(), &["--against-ref", &first.to_string()]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        out.stderr.contains(
            "deploy/cfg.yaml:7: ConfigMap/apps/cfg: data.level: expected a string, found a number 3"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("no plan is made from invalid manifests")
    );

    // As a pull-request comment: the findings, not an empty body.
    let md = plan(
        dir.path(),
        &["--against-ref", &first.to_string(), "-o", "markdown"],
    );
    assert_eq!(md.code, 1, "{}", md.stdout);
    assert!(
        md.stdout
            .starts_with("### mooring plan: not made, the manifests are invalid"),
        "{}",
        md.stdout
    );
    assert!(md.stdout.contains("**1 error(s):**"), "{}", md.stdout);
    assert!(
        md.stdout.contains(
            "- deploy/cfg.yaml:7: ConfigMap/apps/cfg: data.level: expected a string, found a number 3"
        ),
        "{}",
        md.stdout
    );
}

#[test]
fn work_tree_path_against_a_ref() {
    let (dir, _, second) = two_commits();
    write(dir.path(), "deploy/cfg.yaml", CM_V1);
    let deploy = dir.path().join("deploy");
    let out = mooring(
        &[
            "plan",
            "--no-policies",
            deploy.to_str().unwrap(),
            "--against-ref",
            &second.to_string(),
        ],
        None,
    );
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("→ work tree: 0 to create, 1 to update, 0 to delete, 3 unchanged"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("~ update ConfigMap/apps/cfg  (deploy/cfg.yaml:1)")
    );
}

#[test]
fn a_url_is_cloned_into_the_cache_and_fetched_again() {
    let (dir, first, _) = two_commits();
    let cache = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let run = || {
        mooring(
            &[
                "plan",
                "--no-policies",
                "--repo",
                &url,
                "--ref",
                "main",
                "--path",
                "deploy",
                "--against-ref",
                &first.to_string(),
                "--cache-dir",
                cache.path().to_str().unwrap(),
            ],
            None,
        )
    };
    let out = run();
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 1);
    assert!(
        out.stdout.contains("1 to create, 2 to update, 1 to delete"),
        "{}",
        out.stdout
    );
    // A new commit upstream: the second run fetches into the same clone and
    // sees it (a cache must never serve a stale branch).
    commit_file(
        dir.path(),
        "deploy/later.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: later\n  namespace: apps\n",
        "third",
    );
    let again = run();
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(
        again
            .stdout
            .contains("2 to create, 2 to update, 1 to delete"),
        "{}",
        again.stdout
    );
    assert!(again.stdout.contains("+ create ServiceAccount/apps/later"));
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 1);
}

#[test]
fn a_folder_added_by_the_change_is_all_creates() {
    let (dir, first, _) = two_commits();
    commit_file(
        dir.path(),
        "newdir/ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: fresh\n",
        "add a folder",
    );
    let out = mooring(
        &[
            "plan",
            "--no-policies",
            "--repo",
            dir.path().to_str().unwrap(),
            "--path",
            "newdir",
            "--against-ref",
            &first.to_string(),
        ],
        None,
    );
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "warning: newdir does not exist at {}: read as empty",
            &first.to_string()[..10]
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("1 to create, 0 to update, 0 to delete, 0 unchanged")
    );
}

#[test]
fn secrets_never_show_in_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let repo = support::git_init(dir.path());
    write(
        dir.path(),
        "d/old.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: old}\nstringData: {password: hunter2-old}\n",
    );
    let vm = |data: &str| {
        format!(
            "apiVersion: flintlock.liquidmetal.dev/v1alpha1\nkind: MicroVM\nmetadata: {{name: vm}}\nspec:\n  vcpu: 2\n  memoryInMb: 2048\n  kernel: {{image: ghcr.io/acme/k:1, filename: boot/vmlinux}}\n  rootVolume: {{id: root, source: {{containerSource: ghcr.io/acme/root:1}}}}\n  interfaces: [{{deviceId: eth0}}]\n  metadata: {{user-data: {data}}}\n"
        )
    };
    write(dir.path(), "d/vm.yaml", &vm("b2xkLXVzZXJkYXRh"));
    let first = commit_all(&repo, "one");
    std::fs::remove_file(dir.path().join("d/old.yaml")).unwrap();
    write(dir.path(), "d/vm.yaml", &vm("bmV3LXVzZXJkYXRh"));
    // A typo'd field, let through by --strict=false: pruned, never shown.
    write(
        dir.path(),
        "d/new.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: new}\nstringdata: {password: hunter2-new}\ndata: {token: c2VjcmV0LXRva2Vu}\n",
    );
    commit_all(&repo, "two");
    let mut text = None;
    for format in ["text", "json", "markdown"] {
        let out = mooring(
            &[
                "plan",
                "--no-policies",
                "--strict=false",
                "--repo",
                dir.path().to_str().unwrap(),
                "--path",
                "d",
                "--against-ref",
                &first.to_string(),
                "-o",
                format,
            ],
            None,
        );
        assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
        for secret in [
            "hunter2",
            "b2xkLXVzZXJkYXRh",
            "bmV3LXVzZXJkYXRh",
            "c2VjcmV0LXRva2Vu",
        ] {
            assert!(
                !out.stdout.contains(secret),
                "{format} shows {secret}:\n{}",
                out.stdout
            );
            assert!(
                !out.stderr.contains(secret),
                "{format} shows {secret}:\n{}",
                out.stderr
            );
        }
        if format == "text" {
            text = Some(out);
        }
    }
    let text = text.expect("the text format ran");
    assert!(
        text.stdout
            .contains("-    user-data: \"*** (before)\"\n+    user-data: \"*** (after)\""),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("+  token: \"***\""), "{}", text.stdout);
    assert!(
        text.stdout.contains("-  password: \"***\""),
        "{}",
        text.stdout
    );
    // An unknown field let through by --strict=false is planned as written
    // (the API server decides what to keep), and masked like any value.
    assert!(
        text.stdout.contains("+stringdata:\n+  password: \"***\""),
        "unknown field not passed through:\n{}",
        text.stdout
    );
}

#[test]
fn json_output_reports_invalid_input_as_json() {
    let (dir, first, _) = two_commits();
    commit_file(dir.path(), "deploy/cfg.yaml", CM_BROKEN, "broken");
    let out = plan(
        dir.path(),
        &["--against-ref", &first.to_string(), "-o", "json"],
    );
    assert_eq!(out.code, 1);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    support::conforms(&v, "Plan");
    assert_eq!(v["valid"], false);
    assert_eq!(v["findings"][0]["field"], "data.level");
}

#[test]
fn an_unknown_revision_is_a_clear_error() {
    let (dir, _, _) = two_commits();
    let out = plan(dir.path(), &["--against-ref", "no-such-branch"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("unknown revision no-such-branch"),
        "{}",
        out.stderr
    );
}

/// A password in `--repo` is masked in the error (libgit2's message
/// included) and in the log, even at trace level, and warned about once.
#[test]
fn a_password_in_the_repo_url_is_never_printed() {
    const PASSWORD: &str = "S3cretPassw0rd";
    // A port that nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("https://alice:{PASSWORD}@127.0.0.1:{port}/org/repo.git");
    let cache = tempfile::tempdir().unwrap();
    for level in ["debug", "trace"] {
        let out = support::mooring_command()
            .args([
                "plan",
                "--no-policies",
                "--repo",
                &url,
                "--against-ref",
                "main",
            ])
            .arg("--cache-dir")
            .arg(cache.path())
            .env("RUST_LOG", level)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
        assert!(
            stderr.contains(&format!(
                "cannot clone https://alice:***@127.0.0.1:{port}/org/repo.git"
            )),
            "{stderr}"
        );
        assert!(!stdout.contains(PASSWORD), "{stdout}");
        assert!(!stderr.contains(PASSWORD), "{stderr}");
        assert_eq!(stderr.matches("carries a password").count(), 1, "{stderr}");
        assert!(stderr.contains("tokenFile"), "{stderr}");
    }
}

/// A `--path` that exists at neither revision (a typo, `../..`) compares
/// nothing with nothing: an error naming the path and both revisions, in
/// every format, never "no changes".
#[test]
fn a_path_missing_at_both_revisions_is_an_error() {
    let (dir, first, _) = two_commits();
    let short = &first.to_string()[..10];
    for path in ["deplyo", "../.."] {
        for format in ["text", "json", "markdown"] {
            let out = mooring(
                &[
                    "plan",
                    "--no-policies",
                    "--repo",
                    dir.path().to_str().unwrap(),
                    "--path",
                    path,
                    "--against-ref",
                    &first.to_string(),
                    "-o",
                    format,
                ],
                None,
            );
            assert_eq!(out.code, 1, "{path} {format}: {}{}", out.stdout, out.stderr);
            assert!(
                out.stderr
                    .contains(&format!("--path {path:?} exists at neither HEAD (")),
                "{}",
                out.stderr
            );
            assert!(
                out.stderr.contains(&format!("nor {short}")),
                "{}",
                out.stderr
            );
            assert!(
                !out.stdout.to_lowercase().contains("no changes"),
                "{}",
                out.stdout
            );
        }
    }
}

/// `--against-ref main...feature` compares the branch with where it forked
/// from main (the merge base, as `git diff main...feature`): an object main
/// added since is not shown as deleted by the branch.
#[test]
fn a_merge_base_range_compares_with_where_the_branch_forked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = git_init(d);
    let cm = |name: &str, level: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: apps}}\ndata: {{level: {level}}}\n"
        )
    };
    write(d, "deploy/app.yaml", &cm("app", "info"));
    let fork = commit_all(&repo, "fork point");
    // The branch changes the level.
    let fork_commit = repo.find_commit(fork).unwrap();
    repo.branch("feature", &fork_commit, false).unwrap();
    // main moves on: another object.
    write(d, "deploy/newer.yaml", &cm("newer", "info"));
    commit_all(&repo, "main moves on");
    repo.set_head("refs/heads/feature").unwrap();
    repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
        .unwrap();
    write(d, "deploy/app.yaml", &cm("app", "debug"));
    commit_all(&repo, "feature: debug");
    // The desired side is the range's `feature`, wherever HEAD is.
    repo.set_head("refs/heads/main").unwrap();

    let out = plan(d, &["--against-ref", "main...feature"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("0 to create, 1 to update, 0 to delete"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("newer"), "{}", out.stdout);
    // Against main itself, main's newer object looks deleted by the branch.
    let plain = plan(d, &["--ref", "feature", "--against-ref", "main"]);
    assert!(plain.stdout.contains("1 to delete"), "{}", plain.stdout);
}

/// In a shallow clone (CI's default `fetch-depth: 1`), a revision that was
/// not fetched is an error that says so and how to fetch it.
#[test]
fn a_missing_revision_in_a_shallow_clone_says_how_to_fetch_it() {
    let dir = tempfile::tempdir().unwrap();
    let origin = dir.path().join("origin");
    let repo = git_init(&origin);
    write(
        &origin,
        "deploy/a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: apps}\n",
    );
    let first = commit_all(&repo, "first").to_string();
    write(
        &origin,
        "deploy/b.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: apps}\n",
    );
    commit_all(&repo, "second");
    let shallow = dir.path().join("shallow");
    let cloned = support::git_command()
        .args(["clone", "-q", "--depth", "1"])
        .arg(format!("file://{}", origin.display()))
        .arg(&shallow)
        .status()
        .unwrap();
    assert!(cloned.success());
    let out = plan(&shallow, &["--against-ref", &first]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("this is a shallow clone")
            && out.stderr.contains("git fetch --unshallow"),
        "{}",
        out.stderr
    );
}

/// A repository whose pull request changes 300 ConfigMaps of 40 keys each:
/// the Markdown comment is cut to GitHub's limit by default, keeps the
/// whole table, and points at `--output-file`, which holds the whole plan;
/// `--max-bytes 0` never cuts.
#[test]
fn a_pull_request_of_300_changes_fits_one_comment() {
    let dir = tempfile::tempdir().unwrap();
    let repo = git_init(dir.path());
    let d = dir.path();
    let cm = |i: usize, value: &str| {
        let data: String = (0..40)
            .map(|k| format!("  key-{k:02}: {value}-{i}-{k}\n"))
            .collect();
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings-{i:03}\n  namespace: shop\ndata:\n{data}"
        )
    };
    for i in 0..300 {
        write(d, &format!("deploy/cm-{i:03}.yaml"), &cm(i, "old"));
    }
    let first = commit_all(&repo, "first").to_string();
    for i in 0..300 {
        write(d, &format!("deploy/cm-{i:03}.yaml"), &cm(i, "new"));
    }
    commit_all(&repo, "second");

    let whole = plan(
        d,
        &[
            "--against-ref",
            &first,
            "-o",
            "markdown",
            "--max-bytes",
            "0",
        ],
    );
    assert_eq!(whole.code, 2, "{}", whole.stderr);
    assert!(whole.stdout.len() > 200_000, "{}", whole.stdout.len());
    assert_eq!(whole.stdout.matches("<details>").count(), 300);

    let artifact = d.join("plan-full.md");
    let cut = plan(
        d,
        &[
            "--against-ref",
            &first,
            "-o",
            "markdown",
            "--output-file",
            artifact.to_str().unwrap(),
        ],
    );
    assert_eq!(cut.code, 2, "{}", cut.stderr);
    println!(
        "300 changed ConfigMaps: the comment is {} bytes whole, {} cut",
        whole.stdout.len(),
        cut.stdout.len()
    );
    assert!(cut.stdout.len() <= 65_000, "{}", cut.stdout.len());
    assert_eq!(
        cut.stdout
            .matches("| ~ update | `ConfigMap/shop/settings-")
            .count(),
        300,
        "every row of the table"
    );
    let kept = cut.stdout.matches("<details>").count();
    assert!((1..300).contains(&kept), "{kept}");
    assert!(
        cut.stdout.contains(&format!(
            "{} of 300 diff(s) left out** to keep this under 65000 bytes; the whole plan is in `{}`.",
            300 - kept,
            artifact.display()
        )),
        "{}",
        cut.stdout.lines().last().unwrap_or_default()
    );
    assert_eq!(std::fs::read_to_string(&artifact).unwrap(), whole.stdout);
}

/// `plan -o junit`: a test case per changed object with its action and
/// diff (unchanged ones with `--show-unchanged`); `-o sarif` the findings;
/// `-o github` annotations, the headline as a notice, then the text plan.
#[test]
fn junit_sarif_and_github_plans() {
    let (dir, first, _) = two_commits();
    let first = first.to_string();
    let junit = plan(dir.path(), &["--against-ref", &first, "-o", "junit"]);
    assert_eq!(junit.code, 2, "{}", junit.stderr);
    assert!(
        junit
            .stdout
            .contains("<testsuite name=\"mooring plan\" tests=\"4\" skipped=\"0\" errors=\"0\" failures=\"0\">"),
        "{}",
        junit.stdout
    );
    assert!(
        junit
            .stdout
            .contains("<testcase name=\"ConfigMap/apps/cfg\" classname=\"deploy/cfg.yaml\">")
    );
    assert!(
        junit.stdout.contains("~ update\n--- a/ConfigMap/apps/cfg"),
        "{}",
        junit.stdout
    );
    assert!(!junit.stdout.contains("c2VjcmV0"), "secrets stay masked");
    let all = plan(
        dir.path(),
        &["--against-ref", &first, "-o", "junit", "--show-unchanged"],
    );
    assert!(all.stdout.contains("tests=\"5\""), "{}", all.stdout);

    let sarif = plan(dir.path(), &["--against-ref", &first, "-o", "sarif"]);
    assert_eq!(sarif.code, 2);
    let log: serde_json::Value = serde_json::from_str(&sarif.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(log["runs"][0]["results"], serde_json::json!([]));

    let github = plan(dir.path(), &["--against-ref", &first, "-o", "github"]);
    assert_eq!(github.code, 2);
    assert!(
        github.stdout.starts_with(
            "::notice title=mooring plan::1 to create, 2 to update, 1 to delete, 1 unchanged\nPlan "
        ),
        "{}",
        github.stdout
    );

    // An invalid desired side: its findings as annotations.
    commit_file(dir.path(), "deploy/cfg.yaml", CM_BROKEN, "broken");
    let github = plan(dir.path(), &["--against-ref", &first, "-o", "github"]);
    assert_eq!(github.code, 1);
    assert!(
        github.stdout.starts_with(
            "::error file=deploy/cfg.yaml,line=7,title=schema::ConfigMap/apps/cfg: data.level: "
        ),
        "{}",
        github.stdout
    );
}
