//! Git mode (`--repo`, the daemon) reads what the work tree reads: the same
//! repository, read from disk and from a commit through the real binary,
//! gives the same objects; symlinks are followed inside the folder and are
//! errors outside it, in both modes; what Git mode cannot read (submodules,
//! folders too deep) is reported, never passed over. Both modes read
//! `.json` files and leave out what `--exclude`, a source's `exclude:` and
//! the source's own `.mooringignore` files say, each mode from itself.

mod support;

use std::os::unix::fs::symlink;
use std::path::Path;

use support::{commit_all, git_init, mooring, write};

const NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n";

fn cm(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: apps\ndata:\n  k: v\n"
    )
}

fn link(dir: &Path, rel: &str, target: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    symlink(target, path).unwrap();
}

/// `deploy/` with a Namespace, a ConfigMap reached only through a symlink
/// to a (hidden) folder, and one through a symlink to a file.
fn linked_repo(dir: &Path) -> (git2::Oid, git2::Oid) {
    let repo = git_init(dir);
    write(dir, "README.md", "manifests live in deploy/\n");
    let first = commit_all(&repo, "empty");
    write(dir, "deploy/ns.yaml", NS);
    write(dir, "deploy/.shared/apps/cm.yaml", &cm("a"));
    write(dir, "deploy/.shared/b.yaml", &cm("b"));
    link(dir, "deploy/apps", ".shared/apps");
    link(dir, "deploy/b.yaml", ".shared/b.yaml");
    let second = commit_all(&repo, "linked");
    (first, second)
}

/// The work tree (`PATH`) against the commit of the same files (Git mode):
/// nothing to change, so both read the same objects. Before, Git mode passed
/// over the folder symlink and planned its ConfigMap as new.
#[test]
fn the_work_tree_and_git_mode_read_the_same_objects() {
    let dir = tempfile::tempdir().unwrap();
    let (_, second) = linked_repo(dir.path());
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
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("→ work tree: no changes (3 unchanged)"),
        "{}",
        out.stdout
    );
}

/// Git mode alone: every object behind a symlink is planned, under the
/// link's path.
#[test]
fn git_mode_follows_a_symlink_to_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = linked_repo(dir.path());
    let repo = dir.path().to_str().unwrap();
    let out = mooring(
        &[
            "plan",
            "--no-policies",
            "--repo",
            repo,
            "--ref",
            &second.to_string(),
            "--path",
            "deploy",
            "--against-ref",
            &first.to_string(),
        ],
        None,
    );
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("3 to create, 0 to update, 0 to delete"),
        "{}",
        out.stdout
    );
    for line in [
        "+ create ConfigMap/apps/a  (deploy/apps/cm.yaml:1)",
        "+ create ConfigMap/apps/b  (deploy/b.yaml:1)",
        "+ create Namespace/apps  (deploy/ns.yaml:1)",
    ] {
        assert!(out.stdout.contains(line), "{line}: {}", out.stdout);
    }
}

/// A folder moved out of `deploy/` and linked back from there: the link
/// leaves the folder mooring reads, which is an error in both modes, with
/// the same words. Before, Git mode passed over it in silence and planned
/// the folder's objects for deletion.
#[test]
fn a_symlink_leaving_the_folder_is_an_error_in_both_modes_not_a_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = git_init(d);
    write(d, "deploy/ns.yaml", NS);
    write(d, "deploy/apps/cm.yaml", &cm("a"));
    let first = commit_all(&repo, "in place");
    std::fs::create_dir_all(d.join("base")).unwrap();
    std::fs::rename(d.join("deploy/apps"), d.join("base/apps")).unwrap();
    link(d, "deploy/apps", "../base/apps");
    commit_all(&repo, "moved, linked back");
    let expected =
        "deploy/apps:1: symlink to ../base/apps points outside the folder mooring reads: not read";

    let out = mooring(
        &[
            "plan",
            "--no-policies",
            "--repo",
            ".",
            "--path",
            "deploy",
            "--against-ref",
            &first.to_string(),
        ],
        Some(d),
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains(expected), "{all}");
    assert!(!all.contains("to delete"), "{all}");

    let out = mooring(&["validate", "--no-policies", "deploy"], Some(d));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains(expected), "{}", out.stdout);
}

/// A submodule, a folder and a submodule named like manifests, and a folder
/// below the depth limit: each is a finding in Git mode.
#[test]
fn submodules_odd_manifest_names_and_deep_folders_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = git_init(d);
    write(d, "README.md", "x\n");
    let first = commit_all(&repo, "empty");
    write(d, "deploy/ns.yaml", NS);
    write(d, "deploy/x.yaml/cm.yaml", &cm("a"));
    let deep = format!("deploy/{}cm.yaml", "n/".repeat(65));
    write(d, &deep, &cm("deep"));
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    // Submodules as Git stores them: a gitlink entry naming a commit.
    for path in ["deploy/vendor", "deploy/sub.yml"] {
        let entry = git2::IndexEntry {
            ctime: git2::IndexTime::new(0, 0),
            mtime: git2::IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: 0o160_000,
            uid: 0,
            gid: 0,
            file_size: 0,
            id: first,
            flags: 0,
            flags_extended: 0,
            path: path.as_bytes().to_vec(),
        };
        index.add(&entry).unwrap();
    }
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("test", "test@example.com").unwrap();
    let parent = repo.find_commit(first).unwrap();
    let second = repo
        .commit(None, &sig, &sig, "odd", &tree, &[&parent])
        .unwrap();

    let out = mooring(
        &[
            "plan",
            "--no-policies",
            "--repo",
            ".",
            "--ref",
            &second.to_string(),
            "--path",
            "deploy",
            "--against-ref",
            &first.to_string(),
        ],
        Some(d),
    );
    let all = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(out.code, 1, "the deep folder is an error: {all}");
    for line in [
        format!(
            "deploy/{}n:1: folder is nested deeper than the 64 folders mooring reads: its files are not read",
            "n/".repeat(64)
        ),
        "deploy/sub.yml:1: warning: a submodule: its files are another repository's, not in this commit, and are not read".to_string(),
        "deploy/vendor:1: warning: a submodule: its files are another repository's".to_string(),
        "deploy/x.yaml:1: warning: a folder named like a manifest file: read as a folder".to_string(),
    ] {
        assert!(all.contains(&line), "{line}\n{all}");
    }
}

/// `deploy/` with a Namespace, a JSON ConfigMap, a Helm chart its
/// `.mooringignore` leaves out and a values file only `--exclude` leaves
/// out; the commit before it has no `deploy/`.
fn ignoring_repo(dir: &Path) -> (git2::Oid, git2::Oid) {
    let repo = git_init(dir);
    write(dir, "README.md", "manifests live in deploy/\n");
    let first = commit_all(&repo, "empty");
    write(dir, "deploy/ns.yaml", NS);
    write(
        dir,
        "deploy/cm.json",
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "apps"}}"#,
    );
    write(dir, "deploy/values.yaml", "replicas: 2\n");
    write(dir, "deploy/chart/values.yaml", "replicas: 2\n");
    write(
        dir,
        "deploy/chart/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name }}\n",
    );
    write(
        dir,
        "deploy/.mooringignore",
        "# the chart is rendered elsewhere\nchart/\n",
    );
    let second = commit_all(&repo, "deploy");
    (first, second)
}

/// Git mode reads `.json` files and leaves out what the commit's
/// `.mooringignore`, `--exclude` and `--config`'s `exclude:` say.
#[test]
fn git_mode_reads_json_and_leaves_out_what_ignore_files_and_excludes_say() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (first, second) = ignoring_repo(d);
    let plan = |extra: &[&str]| {
        let (second, first) = (second.to_string(), first.to_string());
        let mut args = vec![
            "plan",
            "--no-policies",
            "--repo",
            ".",
            "--ref",
            &second,
            "--path",
            "deploy",
            "--against-ref",
            &first,
        ];
        args.extend(extra);
        mooring(&args, Some(d))
    };
    let out = plan(&[]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains(
            "deploy/values.yaml:1: not a Kubernetes manifest: no document in it has apiVersion \
             or kind."
        ),
        "{all}"
    );
    assert!(!all.contains("chart"), "the chart is left out: {all}");

    let created = |out: &support::Output| {
        assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
        for line in [
            "2 to create, 0 to update, 0 to delete",
            "+ create ConfigMap/apps/c  (deploy/cm.json:1)",
            "+ create Namespace/apps  (deploy/ns.yaml:1)",
        ] {
            assert!(out.stdout.contains(line), "{line}: {}", out.stdout);
        }
    };
    created(&plan(&["--exclude", "/values.yaml"]));
    let config = d.join("mooring.yaml");
    std::fs::write(&config, "source:\n  exclude: [values.yaml]\n").unwrap();
    created(&plan(&["--config", config.to_str().unwrap()]));
}

/// The work tree reads its own `.mooringignore` and Git mode the commit's:
/// the same files give no change; a line added only in the work tree
/// leaves its object out of the work tree alone (planned as a deletion).
#[test]
fn each_mode_reads_its_own_ignore_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_, second) = ignoring_repo(d);
    let plan = || {
        mooring(
            &[
                "plan",
                "--no-policies",
                "deploy",
                "--exclude",
                "values.yaml",
                "--against-ref",
                &second.to_string(),
            ],
            Some(d),
        )
    };
    let out = plan();
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("→ work tree: no changes (2 unchanged)"),
        "{}",
        out.stdout
    );
    write(d, "deploy/.mooringignore", "chart/\ncm.json\n");
    let out = plan();
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("0 to create, 0 to update, 1 to delete"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("ConfigMap/apps/c"), "{}", out.stdout);
}

/// A clone over a URL reports its progress to whoever asked
/// (`source::git::on_transfer_progress`; the CLI draws it on a terminal):
/// objects received, of how many, up to all of them.
#[test]
fn a_clone_reports_its_transfer_progress() {
    use std::sync::{Arc, Mutex};
    let upstream = tempfile::tempdir().unwrap();
    let repo = git_init(upstream.path());
    for i in 0..20 {
        write(
            upstream.path(),
            &format!("deploy/cm-{i}.yaml"),
            &format!("a: {i}\n"),
        );
    }
    commit_all(&repo, "first");
    let seen: Arc<Mutex<Vec<mooring::source::git::Transfer>>> = Arc::default();
    let sink = seen.clone();
    mooring::source::git::on_transfer_progress(Box::new(move |t| {
        sink.lock().unwrap().push(*t);
    }));
    let cache = tempfile::tempdir().unwrap();
    let url = format!("file://{}", upstream.path().display());
    mooring::source::git::GitRepo::open(&mooring::source::url::SourceUrl::new(url), cache.path())
        .unwrap();
    let seen = seen.lock().unwrap();
    let last = seen.last().expect("progress was reported");
    assert!(last.total_objects > 20, "{last:?}");
    assert_eq!(last.received_objects, last.total_objects, "{last:?}");
}
