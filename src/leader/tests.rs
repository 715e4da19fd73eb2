use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::*;

fn spec(holder: Option<&str>, seconds: Option<i32>) -> LeaseSpec {
    LeaseSpec {
        holder_identity: holder.map(str::to_string),
        lease_duration_seconds: seconds,
        ..LeaseSpec::default()
    }
}

#[test]
fn ours_is_renewed_free_is_taken_anothers_waits_until_unchanged_for_its_duration() {
    let t0 = Instant::now();
    let d = Duration::from_secs(15);
    assert_eq!(
        decide("a", &spec(Some("a"), Some(15)), t0, t0, d),
        Action::Renew
    );
    assert_eq!(
        decide("a", &spec(None, Some(15)), t0, t0, d),
        Action::Acquire
    );
    assert_eq!(
        decide("a", &spec(Some(""), Some(1)), t0, t0, d),
        Action::Acquire
    );
    let b = spec(Some("b"), Some(10));
    assert_eq!(
        decide("a", &b, t0, t0 + Duration::from_secs(9), d),
        Action::Wait
    );
    assert_eq!(
        decide("a", &b, t0, t0 + Duration::from_secs(10), d),
        Action::Acquire
    );
    // No duration in the record: ours.
    let b = spec(Some("b"), None);
    assert_eq!(
        decide("a", &b, t0, t0 + Duration::from_secs(14), d),
        Action::Wait
    );
    assert_eq!(
        decide("a", &b, t0, t0 + Duration::from_secs(15), d),
        Action::Acquire
    );
}

#[test]
fn expiry_ignores_the_other_machines_clock() {
    // A renewTime from long ago (a skewed clock) does not make a Lease we
    // just saw change expired; only our observation time counts.
    let t0 = Instant::now();
    let mut b = spec(Some("b"), Some(15));
    b.renew_time = Some(micro_time(UNIX_EPOCH));
    assert_eq!(
        decide(
            "a",
            &b,
            t0,
            t0 + Duration::from_secs(1),
            Duration::from_secs(15)
        ),
        Action::Wait
    );
}

#[test]
fn taking_over_counts_a_transition_and_renewing_keeps_the_acquire_time() {
    let cfg = LeaderConfig::new("default", "mooring", "a");
    let t1 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let created = next_spec(&cfg, None, Action::Acquire, t1);
    assert_eq!(created.holder_identity.as_deref(), Some("a"));
    assert_eq!(created.lease_transitions, Some(0));
    assert_eq!(created.lease_duration_seconds, Some(15));
    assert_eq!(created.acquire_time, created.renew_time);

    let t2 = t1 + Duration::from_millis(2500);
    let renewed = next_spec(&cfg, Some(&created), Action::Renew, t2);
    assert_eq!(renewed.acquire_time, created.acquire_time);
    assert_eq!(renewed.renew_time, Some(micro_time(t2)));
    assert_eq!(renewed.lease_transitions, Some(0));

    let mut theirs = created.clone();
    theirs.holder_identity = Some("b".into());
    theirs.lease_transitions = Some(4);
    let taken = next_spec(&cfg, Some(&theirs), Action::Acquire, t2);
    assert_eq!(taken.holder_identity.as_deref(), Some("a"));
    assert_eq!(taken.lease_transitions, Some(5));
    assert_eq!(taken.acquire_time, Some(micro_time(t2)));

    let released = released_spec(&taken, t2);
    assert_eq!(released.holder_identity, None);
    assert_eq!(released.lease_duration_seconds, Some(1));
    assert_eq!(released.lease_transitions, Some(5));
}

#[test]
fn renew_times_are_written_as_micro_time() {
    let at = UNIX_EPOCH + Duration::from_micros(1_136_214_245_000_123);
    let json = serde_json::to_value(micro_time(at)).unwrap();
    assert_eq!(json, "2006-01-02T15:04:05.000123Z");
}

#[test]
fn timings_must_nest() {
    let ok = LeaderConfig::new("ns", "l", "a");
    assert!(ok.validate().is_ok());
    let scaled = ok.clone().with_lease_duration(Duration::from_secs(2));
    assert!(scaled.validate().is_ok(), "{scaled:?}");
    assert_eq!(scaled.lease_seconds(), 2);
    let mut bad = ok.clone();
    bad.renew_deadline = Duration::from_secs(15);
    let err = bad.validate().unwrap_err().to_string();
    assert!(err.contains("renew deadline"), "{err}");
    let mut bad = ok.clone();
    bad.retry_period = Duration::from_secs(10);
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("retry period")
    );
    let sub = ok.clone().with_lease_duration(Duration::from_millis(500));
    assert!(
        sub.validate()
            .unwrap_err()
            .to_string()
            .contains("at least 1s")
    );
    let mut anon = ok;
    anon.identity.clear();
    assert!(anon.validate().is_err());
}

/// A Lease in memory with resourceVersion checks, outages and injected
/// conflicts.
#[derive(Default)]
struct Memory {
    lease: Mutex<Option<Lease>>,
    rv: AtomicUsize,
    down: AtomicBool,
    conflicts: AtomicUsize,
    writes: AtomicUsize,
}

impl Memory {
    fn holder(&self) -> Option<String> {
        self.lease
            .lock()
            .unwrap()
            .as_ref()
            .and_then(|l| l.spec.as_ref()?.holder_identity.clone())
    }

    fn check(&self) -> Result<(), LeaderError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(LeaderError::Request("connection refused".into()));
        }
        Ok(())
    }

    fn store(&self, mut lease: Lease) -> Lease {
        let rv = self.rv.fetch_add(1, Ordering::SeqCst) + 1;
        lease.metadata.resource_version = Some(rv.to_string());
        *self.lease.lock().unwrap() = Some(lease.clone());
        self.writes.fetch_add(1, Ordering::SeqCst);
        lease
    }
}

impl LeaseStore for Arc<Memory> {
    async fn get(&self) -> Result<Option<Lease>, LeaderError> {
        self.check()?;
        Ok(self.lease.lock().unwrap().clone())
    }

    async fn create(&self, lease: &Lease) -> Result<Lease, LeaderError> {
        self.check()?;
        if self.lease.lock().unwrap().is_some() {
            return Err(LeaderError::Conflict);
        }
        Ok(self.store(lease.clone()))
    }

    async fn replace(&self, lease: &Lease) -> Result<Lease, LeaderError> {
        self.check()?;
        if self
            .conflicts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(LeaderError::Conflict);
        }
        let stored = self.lease.lock().unwrap().clone();
        let stored_rv = stored.and_then(|l| l.metadata.resource_version);
        if stored_rv != lease.metadata.resource_version {
            return Err(LeaderError::Conflict);
        }
        Ok(self.store(lease.clone()))
    }
}

fn fast(identity: &str) -> LeaderConfig {
    LeaderConfig::new("default", "mooring", identity).with_lease_duration(Duration::from_secs(1))
}

#[tokio::test]
async fn create_then_renew_and_a_conflict_means_read_again() {
    let mem = Arc::new(Memory::default());
    let mut a = Elector::new(fast("a"), mem.clone()).unwrap();
    let mut b = Elector::new(fast("b"), mem.clone()).unwrap();
    assert_eq!(a.try_acquire_or_renew().await.unwrap(), Attempt::Leading);
    assert_eq!(
        b.try_acquire_or_renew().await.unwrap(),
        Attempt::HeldBy("a".into())
    );
    mem.conflicts.store(1, Ordering::SeqCst);
    assert!(matches!(
        a.try_acquire_or_renew().await,
        Err(LeaderError::Conflict)
    ));
    assert_eq!(a.try_acquire_or_renew().await.unwrap(), Attempt::Leading);
    assert_eq!(mem.holder().as_deref(), Some("a"));
    assert_eq!(
        mem.writes.load(Ordering::SeqCst),
        2,
        "create, then one renew"
    );
    // A stale version (b read before a's renew) is refused by the store.
    let mut stale = mem.lease.lock().unwrap().clone().unwrap();
    stale.metadata.resource_version = Some("1".into());
    assert!(matches!(
        mem.replace(&stale).await,
        Err(LeaderError::Conflict)
    ));
}

/// Polls every 20 ms, for at most 20 s (a bound, not a timing assertion).
async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn start(
    identity: &str,
    mem: &Arc<Memory>,
) -> (
    watch::Receiver<bool>,
    watch::Sender<bool>,
    tokio::task::JoinHandle<Ended>,
) {
    let elector = Elector::new(fast(identity), mem.clone()).unwrap();
    let (lead_tx, lead_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(elector.run(lead_tx, stop_rx));
    (lead_rx, stop_tx, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leads_a_crash_hands_over_after_expiry_and_a_release_at_once() {
    let mem = Arc::new(Memory::default());
    let (a_lead, _a_stop, a_task) = start("a", &mem);
    assert!(eventually(|| *a_lead.borrow()).await, "a never led");
    let (b_lead, b_stop, b_task) = start("b", &mem);
    // b follows while a renews (several lease durations).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!*b_lead.borrow());
    assert_eq!(mem.holder().as_deref(), Some("a"));

    // a crashes (no release): b takes over once the record stops changing.
    a_task.abort();
    assert!(eventually(|| *b_lead.borrow()).await, "b never took over");
    assert_eq!(mem.holder().as_deref(), Some("b"));
    let transitions = mem
        .lease
        .lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .spec
        .as_ref()
        .unwrap()
        .lease_transitions;
    assert_eq!(transitions, Some(1));

    // c waits; b shuts down and releases; c takes over without waiting for expiry.
    let (c_lead, _c_stop, _c_task) = start("c", &mem);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!*c_lead.borrow());
    b_stop.send(true).unwrap();
    assert_eq!(b_task.await.unwrap(), Ended::Shutdown { released: true });
    assert!(!*b_lead.borrow());
    assert!(eventually(|| *c_lead.borrow()).await, "c never took over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_stops_leading_before_the_lease_expires() {
    let mem = Arc::new(Memory::default());
    let (a_lead, _a_stop, a_task) = start("a", &mem);
    assert!(eventually(|| *a_lead.borrow()).await);
    mem.down.store(true, Ordering::SeqCst);
    let lost_at = Instant::now();
    let ended = a_task.await.unwrap();
    assert!(
        matches!(&ended, Ended::Lost { reason } if reason.contains("renew deadline")),
        "{ended:?}"
    );
    assert!(!*a_lead.borrow());
    // Lost after the renew deadline, not later than the lease (the point
    // of renew deadline < lease duration), with slack for a slow machine.
    assert!(lost_at.elapsed() < Duration::from_secs(10));
}
