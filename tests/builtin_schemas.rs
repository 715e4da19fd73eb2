//! The committed built-in kinds (`schemas/kubernetes/builtin.json`) are
//! what the real API server the tests run serves: `mooring schemas
//! --from-cluster` against it writes the same file, byte for byte. A
//! Kubernetes upgrade in `testenv/` without `scripts/builtin-schemas`
//! fails here.

mod support;

use support::kube_target::{KubeEnv, Target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_committed_builtin_kinds_are_what_the_test_server_serves() {
    let env = KubeEnv::start(Target::Real).await;
    let out = env.dir.path().join("schemas");
    let kubeconfig = env.kubeconfig.display().to_string();
    let generated = support::mooring(
        &[
            "schemas",
            "--out",
            out.to_str().unwrap(),
            "--from-cluster",
            &kubeconfig,
        ],
        None,
    );
    assert_eq!(
        generated.code, 0,
        "{}{}",
        generated.stdout, generated.stderr
    );
    assert!(
        generated
            .stdout
            .contains("built-in kinds of Kubernetes v1.37.2"),
        "{}",
        generated.stdout
    );
    let served = std::fs::read_to_string(out.join("kubernetes/builtin.json")).unwrap();
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/kubernetes/builtin.json"),
    )
    .unwrap();
    assert!(
        served == committed,
        "schemas/kubernetes/builtin.json differs from what the test server serves: run \
         scripts/builtin-schemas and commit the result"
    );
    let table = mooring::kinds::builtin::parse(&committed).unwrap();
    assert_eq!(table.kinds.len(), 64);
}

/// What the cluster serves is read once per document hash: a second
/// reading comes from the backend's cache (kept as JSON text for a
/// daemon's whole life) and says exactly what the first, fetched, said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_reading_of_the_served_documents_equals_the_fetched_one() {
    let env = KubeEnv::start(Target::Real).await;
    let k = mooring::backend::kubernetes::Kubernetes::from_client(
        env.client(),
        env.url(),
        &mooring::backend::kubernetes::KubernetesTarget::default(),
        "served-cache",
        2,
        std::time::Duration::from_secs(30),
    );
    let fetched = k.served(true).await.unwrap();
    let cached = k.served(true).await.unwrap();
    assert_eq!(fetched.server, "v1.37.2");
    assert!(
        fetched.group_versions.len() > 10,
        "{}",
        fetched.group_versions.len()
    );
    assert!(fetched.group_versions == cached.group_versions);
    for (discovery, document) in cached.each() {
        let document = document.unwrap();
        assert!(
            document.pointer("/components/schemas").is_some(),
            "{discovery}"
        );
    }
}
