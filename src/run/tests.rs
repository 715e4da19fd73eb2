//! The daemon's timing rules. Syncs against the emulators are tested
//! through the binary in `tests/run_cli.rs`.

use super::*;

#[test]
fn fetch_failures_back_off_exponentially_up_to_a_cap() {
    let config = Config::default();
    let source = Source {
        url: Some("/nowhere".into()),
        interval: Some(Duration::from_secs(30)),
        ..Source::default()
    };
    let engine = Engine::new(Vec::new(), "default", 1);
    let validator = Arc::new(Validator::new(crate::validate::Options::default()).unwrap());
    let mut r =
        SourceRunner::new(&config, &source, engine, validator, PathBuf::from("/tmp")).unwrap();
    assert_eq!(r.next_sync_in(), Duration::from_secs(30));
    let waits: Vec<u64> = (1..=9)
        .map(|n| {
            r.fetch_failures = n;
            r.next_sync_in().as_secs()
        })
        .collect();
    assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
}

#[test]
fn a_cron_schedule_sets_the_next_sync() {
    let source = Source {
        url: Some("/nowhere".into()),
        schedule: Some("0 0 0 1 1 *".into()),
        ..Source::default()
    };
    let engine = Engine::new(Vec::new(), "default", 1);
    let validator = Arc::new(Validator::new(crate::validate::Options::default()).unwrap());
    let r = SourceRunner::new(
        &Config::default(),
        &source,
        engine,
        validator,
        PathBuf::from("/tmp"),
    )
    .unwrap();
    // Next New Year, UTC: more than a minute away, at most a year.
    let wait = r.next_sync_in();
    assert!(
        wait > Duration::from_secs(60) && wait <= Duration::from_secs(366 * 86400),
        "{wait:?}"
    );
}
