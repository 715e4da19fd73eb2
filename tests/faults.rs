//! The faults the README promises to survive, one test each, through the
//! real binary and (where Kubernetes is involved) on both targets: the
//! emulator and a real kube-apiserver. Each asserts what was kept, what was
//! deleted and what was reported. `docs/faults.md` lists every fault with
//! what the user sees and the test that proves it, these and those that
//! live with their feature (the watch after an etcd compaction, Git down
//! then back, ownership and prune).

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use support::kube_target::{KubeEnv, Target};
use support::proxy::{self, Proxy};
use support::{show, write};

crate::on_both_targets!(
    kill_9_mid_apply_then_apply_again_makes_each_object_once,
    the_api_server_cut_mid_apply_deletes_nothing_and_apply_finishes_later,
    a_forced_push_to_an_empty_tree_deletes_nothing,
);

/// `n` ConfigMaps in the test's Namespace, one file each.
fn many(env: &KubeEnv, dir: &Path, ns: &str, n: usize) {
    write(
        dir,
        "ns.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"),
    );
    for i in 0..n {
        write(
            dir,
            &format!("cm-{i:03}.yaml"),
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i:03}, namespace: {ns}}}\ndata: {{i: '{i}', source: {}}}\n",
                env.source
            ),
        );
    }
}

/// How many of the `n` ConfigMaps exist.
async fn existing(env: &KubeEnv, ns: &str, n: usize) -> usize {
    let mut count = 0;
    for i in 0..n {
        if env
            .get("", "ConfigMap", Some(ns), &format!("cm-{i:03}"))
            .await
            .is_some()
        {
            count += 1;
        }
    }
    count
}

fn repo_dir(env: &KubeEnv) -> PathBuf {
    let dir = env.dir.path().join("repo");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `kill -9` of `mooring apply` once its first objects exist, then `apply`
/// again: every object exists once, the inventory names its kinds, and
/// the next plan is clean. (Server-side apply is idempotent, and the
/// inventory is widened before the first object is written.)
async fn kill_9_mid_apply_then_apply_again_makes_each_object_once(t: Target) {
    let env = KubeEnv::start(t).await;
    let ns = env.name("killed");
    let dir = repo_dir(&env);
    const N: usize = 150;
    many(&env, &dir, &ns, N);
    let all = env.mooring_args(&["apply", &dir.display().to_string(), "--yes"], true, None);
    let mut child = support::mooring_command()
        .args(&all)
        .current_dir(env.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed as soon as the Namespace is there (the first tier); polled,
    // not slept.
    let mut killed_early = false;
    for _ in 0..600 {
        if env.get("", "Namespace", None, &ns).await.is_some() {
            killed_early = child.try_wait().unwrap().is_none();
            let _ = child.kill();
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = child.wait().unwrap();
    let made = existing(&env, &ns, N).await;
    eprintln!("killed early: {killed_early}; {made} of {N} made before the kill");
    if killed_early {
        assert!(!status.success(), "SIGKILL ends it without success");
    }
    assert!(made <= N);

    let again = env
        .mooring_named(&["apply", &dir.display().to_string(), "--yes"])
        .await;
    assert_eq!(again.code, 0, "{}", show(&again));
    assert_eq!(existing(&env, &ns, N).await, N, "every object exists, once");
    let parent = env
        .get(
            "",
            "Secret",
            Some("default"),
            &format!("mooring-{}", env.source),
        )
        .await
        .expect("the inventory was written before the first object");
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        "ConfigMap,Namespace"
    );
    let clean = env
        .mooring_named(&["plan", &dir.display().to_string()])
        .await;
    assert_eq!(clean.code, 0, "{}", show(&clean));
}

/// The link to the API server cut while `apply` runs: the apply reports the
/// target unreachable and exits 1; nothing is deleted (an object that left
/// Git stays, since deletions wait for every other change); once the link
/// is back, apply finishes and prunes.
async fn the_api_server_cut_mid_apply_deletes_nothing_and_apply_finishes_later(t: Target) {
    let env = KubeEnv::start(t).await;
    let ns = env.name("cut");
    let dir = repo_dir(&env);
    const N: usize = 150;
    many(&env, &dir, &ns, N);
    // A first run leaves an object this run will prune.
    write(
        &dir,
        "old.yaml",
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: old, namespace: {ns}}}\n"),
    );
    let first = env
        .mooring_named(&["apply", &dir.display().to_string(), "--yes"])
        .await;
    assert_eq!(first.code, 0, "{}", show(&first));
    std::fs::remove_file(dir.join("old.yaml")).unwrap();
    for i in 0..N {
        write(
            &dir,
            &format!("cm-{i:03}.yaml"),
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i:03}, namespace: {ns}}}\ndata: {{i: '{i}', changed: 'yes'}}\n"
            ),
        );
    }

    let proxy = Proxy::start(proxy::socket_addr(env.url())).await;
    let via = env.kubeconfig_via(&proxy);
    let dir_arg = dir.display().to_string();
    let prune_all = [
        "apply",
        dir_arg.as_str(),
        "--yes",
        "--prune",
        "--max-deletions",
        "100%",
    ];
    let all = env.mooring_args(&prune_all, true, Some(&via));
    let child = support::mooring_command()
        .args(&all)
        .current_dir(env.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Cut once the first updates are in.
    for _ in 0..600 {
        let first = env
            .get("", "ConfigMap", Some(&ns), "cm-000")
            .await
            .is_some_and(|cm| cm["data"]["changed"] == "yes");
        if first {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    proxy.cut();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = format!("{stdout}{stderr}");
    eprintln!(
        "the cut {} the apply",
        if out.status.success() {
            "came after"
        } else {
            "reached"
        }
    );
    if out.status.success() {
        // The apply finished before the cut reached it: nothing to prove
        // about the cut, but the prune must then be done.
        assert!(
            env.get("", "ConfigMap", Some(&ns), "old").await.is_none(),
            "{text}"
        );
    } else {
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(
            text.contains("unreachable") || text.contains("failed"),
            "{text}"
        );
        assert!(
            env.get("", "ConfigMap", Some(&ns), "old").await.is_some(),
            "deleted although the apply failed: {text}"
        );
    }

    proxy.resume();
    let again = env.mooring_named(&prune_all).await;
    assert_eq!(again.code, 0, "{}", show(&again));
    assert!(env.get("", "ConfigMap", Some(&ns), "old").await.is_none());
    let clean = env
        .mooring_named(&["plan", &dir.display().to_string(), "--prune"])
        .await;
    assert_eq!(clean.code, 0, "{}", show(&clean));
}

/// The branch force-pushed to a commit whose folder is empty: the render
/// is empty, so nothing is deleted (held: exit 1, with why) unless
/// `--allow-empty`.
async fn a_forced_push_to_an_empty_tree_deletes_nothing(t: Target) {
    let env = KubeEnv::start(t).await;
    let name = env.name("kept");
    let repo = env.dir.path().join("git");
    let git = support::git_init(&repo);
    write(
        &repo,
        "deploy/cm.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: default}}\n"
        ),
    );
    support::commit_all(&git, "first");
    let repo_arg = repo.display().to_string();
    let base = ["--repo", repo_arg.as_str(), "--path", "deploy", "--prune"];
    let out = env
        .mooring_named(&[&["apply"][..], &base, &["--yes"]].concat())
        .await;
    assert_eq!(out.code, 0, "{}", show(&out));

    // A new root commit with an empty folder, and the branch moved to it.
    std::fs::remove_file(repo.join("deploy/cm.yaml")).unwrap();
    write(&repo, "deploy/.keep", "");
    let mut index = git.index().unwrap();
    index.clear().unwrap();
    index.add_path(Path::new("deploy/.keep")).unwrap();
    let tree = git.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("test", "test@example.com").unwrap();
    let orphan = git
        .commit(None, &sig, &sig, "force-pushed", &tree, &[])
        .unwrap();
    let head = git.head().unwrap();
    let branch = head.name().unwrap().to_string();
    git.reference(&branch, orphan, true, "force push").unwrap();

    let out = env
        .mooring_named(&[&["apply"][..], &base, &["--yes"]].concat())
        .await;
    assert_eq!(out.code, 1, "held is not success: {}", show(&out));
    assert!(
        out.stderr.contains("rendered set is empty"),
        "{}",
        show(&out)
    );
    assert!(
        env.get("", "ConfigMap", Some("default"), &name)
            .await
            .is_some()
    );

    let out = env
        .mooring_named(&[&["apply"][..], &base, &["--yes", "--allow-empty"]].concat())
        .await;
    assert_eq!(out.code, 0, "{}", show(&out));
    assert!(
        env.get("", "ConfigMap", Some("default"), &name)
            .await
            .is_none()
    );
}

/// A Git cache folder mooring cannot write (a file stands where the folder
/// should be: read-only for root too): the command fails at once, names
/// the folder, and changes nothing. Emulator only: the fault is on the Git
/// side, before any target is asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_folder_that_cannot_be_written_fails_clearly_and_changes_nothing() {
    let env = KubeEnv::start(Target::Emulator).await;
    let repo = env.dir.path().join("origin");
    let git = support::git_init(&repo);
    write(
        &repo,
        "deploy/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-git, namespace: default}\n",
    );
    support::commit_all(&git, "first");
    let cache = env.dir.path().join("cache");
    std::fs::write(&cache, "not a folder").unwrap();
    let url = format!("file://{}", repo.display());
    let out = env
        .mooring_named(&[
            "apply",
            "--repo",
            &url,
            "--path",
            "deploy",
            "--cache-dir",
            &cache.display().to_string(),
            "--yes",
        ])
        .await;
    assert_eq!(out.code, 1, "{}", show(&out));
    assert!(
        out.stderr.contains(&*cache.display().to_string()),
        "{}",
        show(&out)
    );
    assert!(
        env.get("", "ConfigMap", Some("default"), "from-git")
            .await
            .is_none()
    );
}
