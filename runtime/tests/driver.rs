//! The driver with a manual clock: timers are fed when due and never early; a failed
//! connection attempt is reported to the core; the trace replays without divergence.

use failover_model::{Config, Role, Time};
use failover_runtime::clock::{Clock, ManualClock};
use failover_runtime::driver::{Driver, DriverMsg, DriverParts};
use failover_runtime::metrics::Metrics;
use failover_runtime::store::{Store, StoreIdentity};
use failover_runtime::trace::{replay, ReplayOutcome, TraceWriter};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const T0: Time = Time(800_000_000);

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn inputs(path: &Path) -> Vec<(u32, Value)> {
    lines(path)
        .into_iter()
        .filter_map(|v| {
            Some((u32::try_from(v.get("now")?.as_u64()?).ok()?, v.get("input")?.clone()))
        })
        .collect()
}

async fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

struct Running {
    tx: mpsc::Sender<DriverMsg>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

fn start(dir: &Path, config: &Config, clock: Arc<ManualClock>) -> Running {
    let identity = StoreIdentity::new(&config.relationship, config.role);
    let (store, image) = Store::open(&dir.join("leases.redb"), &identity).expect("store");
    let trace = TraceWriter::create(&dir.join("trace.jsonl")).expect("trace");
    let (tx, rx) = mpsc::channel(64);
    let clock: Arc<dyn Clock> = clock;
    let driver = Driver::new(
        config.clone(),
        DriverParts {
            clock,
            store: Arc::new(store),
            image,
            metrics: Arc::new(Metrics::new()),
            trace: Some(trace),
            // Nothing listens on port 1 of ::1: connection attempts fail at once.
            partner: "[::1]:1".parse().expect("addr"),
            tls: None,
            tx: tx.clone(),
        },
    );
    Running { tx, task: tokio::spawn(driver.run(rx)) }
}

async fn stop(r: Running) {
    let _ = r.tx.send(DriverMsg::Shutdown).await;
    let done = tokio::time::timeout(Duration::from_secs(5), r.task).await;
    assert!(matches!(done, Ok(Ok(Ok(())))), "driver did not stop cleanly: {done:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_are_fed_when_due_and_never_early() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("trace.jsonl");
    let clock = Arc::new(ManualClock::new(T0));
    let config = Config::example(Role::Secondary);
    let running = start(dir.path(), &config, clock.clone());

    // The restore armed timers: the trace records the endpoint's next deadline.
    let restore = lines(&trace);
    let first = restore
        .get(1)
        .and_then(|v| v.get("next_deadline"))
        .and_then(Value::as_u64)
        .and_then(|t| u32::try_from(t).ok())
        .expect("the restore's outputs line records the next deadline");
    assert!(first > T0.0);
    assert!(!restore.iter().any(|l| l.to_string().contains("SetTimer")), "timers are not outputs");
    let timeout = |i: &Value| i == "Timeout";

    clock.set(Time(first - 1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !inputs(&trace).iter().any(|(_, i)| timeout(i)),
        "a timeout was fed before the deadline"
    );

    clock.set(Time(first));
    assert!(
        wait_for(Duration::from_secs(5), || inputs(&trace).iter().any(|(_, i)| timeout(i))).await,
        "the due timeout was never fed"
    );
    for (now, i) in inputs(&trace) {
        assert!(i.get("Timer").is_none(), "the driver feeds only Input::Timeout: {i}");
        if timeout(&i) {
            assert!(now >= first, "timeout fed at {now}, before {first}");
        }
    }
    stop(running).await;
    assert_eq!(
        replay(&trace, &config).expect("replay"),
        ReplayOutcome::NoDivergence { steps: inputs(&trace).len() }
    );
    // Replayed with another configuration, the first divergence is found.
    let mut other = config.clone();
    other.startup_time += 7;
    assert!(matches!(
        replay(&trace, &other).expect("replay"),
        ReplayOutcome::Divergence { step: 0, line: 2, .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_connection_attempt_is_reported_to_the_core() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("trace.jsonl");
    let clock = Arc::new(ManualClock::new(T0));
    let config = Config::example(Role::Primary);
    let running = start(dir.path(), &config, clock);
    let restore = lines(&trace);
    let connects = restore
        .get(1)
        .and_then(|v| v.get("outputs"))
        .and_then(Value::as_array)
        .is_some_and(|o| o.iter().any(|o| o == "Connect"));
    assert!(connects, "the primary's restore asks to connect");
    assert!(
        wait_for(Duration::from_secs(10), || inputs(&trace)
            .iter()
            .any(|(_, i)| i == "ConnectionDown"))
        .await,
        "ConnectionDown was never fed"
    );
    stop(running).await;
}
