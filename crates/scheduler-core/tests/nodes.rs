//! Several nodes on one shared store: a live node takes over what a stopped one left; a node
//! that cannot renew its heartbeat stops sending before anyone can take its executions over,
//! then drops what was taken and resumes; and a change made through one node reaches the
//! ticks another node holds. Two engines share a [`MemoryStore::shared`]
//! and one manual clock; each has a transport of its own, so the test sees who sent what.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use scheduler_core::testing::{FakeReply, FakeTransport, ManualClock, SentAttempt};
use scheduler_core::{
    DeliveryType, Engine, EngineConfig, Execution, ExecutionId, ExecutionStatus, Job, MemoryStore,
    Store, Timestamp,
};

use crate::faulty_store::FaultyStore;
use crate::support::{at, config, eventually, spec, t0};

/// One node: an engine with a transport of its own.
struct Node {
    engine: Engine,
    transport: Arc<FakeTransport>,
}

impl Node {
    async fn start(name: &str, store: Arc<dyn Store>, clock: &Arc<ManualClock>) -> Node {
        let transport = Arc::new(FakeTransport::new(clock.clone()));
        let engine = Engine::builder(store, transport.clone())
            .clock(clock.clone())
            .config(node_config(name))
            .start()
            .await
            .expect("the engine starts");
        Node { engine, transport }
    }

    fn sent(&self) -> Vec<SentAttempt> {
        self.transport.sent()
    }
}

/// The defaults for leases and heartbeats (10 s and 3 s), on the test configuration.
fn node_config(name: &str) -> EngineConfig {
    let defaults = EngineConfig::default();
    EngineConfig {
        node_id: name.to_owned(),
        lease: defaults.lease,
        heartbeat_interval: defaults.heartbeat_interval,
        ..config()
    }
}

/// The job's executions by tick.
fn executions_by_tick(store: &MemoryStore, job: &Job) -> BTreeMap<Timestamp, Execution> {
    store
        .all_executions()
        .into_iter()
        .filter(|execution| execution.job_id == job.id)
        .map(|execution| (execution.scheduled_at, execution))
        .collect()
}

/// Moves the clock a second at a time from `at(first)` to `at(last)`; after each step, waits
/// until every tick of `job` from `at(first_tick)` on has an execution, finished or held by a
/// node that `stuck` says cannot send.
async fn step_to(
    clock: &ManualClock,
    store: &MemoryStore,
    (job, first_tick): (&Job, i64),
    (first, last): (i64, i64),
    stuck: impl Fn(&Execution) -> bool,
) {
    for second in first..=last {
        clock.advance_to(at(second));
        eventually(&format!("every tick up to {second}s settled"), || {
            let executions = executions_by_tick(store, job);
            (first_tick..=second).all(|tick| {
                executions
                    .get(&at(tick))
                    .is_some_and(|execution| execution.status.is_finished() || stuck(execution))
            })
        })
        .await;
    }
}

#[tokio::test]
async fn a_live_node_takes_over_what_a_stopped_node_left() {
    let clock = Arc::new(ManualClock::new(t0()));
    let store = Arc::new(MemoryStore::shared());
    let a = Node::start("node-a", store.clone(), &clock).await;
    let b = Node::start("node-b", store.clone(), &clock).await;
    let target = "http://target.test/every-second";
    let hanging = "http://target.test/hangs-on-a";
    // On node A the at-most-once job's first attempt never answers: it is in flight when A
    // stops.
    a.transport.script(hanging, vec![FakeReply::Hang]);
    let every = a
        .engine
        .create_job(spec("* * * * * *", target, DeliveryType::AtLeastOnce))
        .await
        .expect("create_job");
    let at_most_once = a
        .engine
        .create_job(spec("* * * * * *", hanging, DeliveryType::AtMostOnce))
        .await
        .expect("create_job");

    // Both jobs' first ticks were claimed by A as it created them.
    clock.advance_to(at(1));
    eventually("node A sent both first ticks", || {
        a.transport.sent_count() == 2
    })
    .await;
    let in_flight = store
        .all_executions()
        .into_iter()
        .find(|e| e.job_id == at_most_once.id && e.scheduled_at == at(1))
        .expect("the at-most-once tick");
    eventually("the at-most-once start is stored", || {
        store
            .all_executions()
            .iter()
            .any(|e| e.id == in_flight.id && e.status == ExecutionStatus::Running)
    })
    .await;
    a.engine.abort();
    let left: Vec<Execution> = store
        .all_executions()
        .into_iter()
        .filter(|e| e.claimed_by == "node-a" && !e.status.is_finished())
        .collect();
    assert!(
        left.iter()
            .any(|e| e.job_id == every.id && e.status == ExecutionStatus::Pending),
        "node A held claimed ticks when it stopped: {left:?}"
    );

    // A's heartbeat (at 0) is older than the lease from 10 s on, and its leases (claimed at
    // 0) expire at 10 s: B's heartbeat at 12 s takes everything over.
    step_to(&clock, &store, (&every, 1), (2, 14), |e| {
        e.claimed_by == "node-a"
    })
    .await;

    let after = store.all_executions();
    for held in &left {
        let now = after
            .iter()
            .find(|e| e.id == held.id)
            .expect("still stored");
        assert_eq!(now.claimed_by, "node-b", "taken over: {now:?}");
        let sent_by_b = b
            .sent()
            .iter()
            .filter(|s| s.execution_id == held.id)
            .count();
        if held.id == in_flight.id {
            assert_eq!(now.status, ExecutionStatus::Abandoned);
            assert_eq!(
                sent_by_b, 0,
                "an at-most-once execution is never sent twice"
            );
        } else {
            assert_eq!(now.status, ExecutionStatus::Succeeded, "{now:?}");
            assert_eq!(sent_by_b, 1, "sent by B under its own id: {now:?}");
            // Its tick had come when B took it over, so A may have sent it: B's send of an
            // at-least-once one is marked as a re-send, and counted. A pending at-most-once
            // one was surely never sent (its start is stored first).
            let resend = held.job_id == every.id;
            assert!(
                b.sent()
                    .iter()
                    .all(|s| s.execution_id != held.id || s.redelivery == resend),
                "{now:?}"
            );
            assert_eq!(now.redeliveries, u32::from(resend), "{now:?}");
        }
    }
    let ticks = executions_by_tick(&store, &every);
    assert_eq!(
        ticks.len(),
        16,
        "ticks 1 to 14, and 15 and 16 claimed ahead"
    );
    let sent: Vec<ExecutionId> = a
        .sent()
        .into_iter()
        .chain(b.sent())
        .filter(|s| s.job_id == every.id)
        .map(|s| s.execution_id)
        .collect();
    for tick in 1..=14 {
        let execution = &ticks[&at(tick)];
        assert_eq!(execution.status, ExecutionStatus::Succeeded, "tick {tick}");
        assert_eq!(
            sent.iter().filter(|id| **id == execution.id).count(),
            1,
            "tick {tick} sent once"
        );
    }
    let metrics = b.engine.metrics();
    assert_eq!(metrics.taken_over, left.len() as u64);
    assert_eq!(metrics.abandoned, 1);
    b.engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_node_that_cannot_renew_its_heartbeat_stops_sending_then_drops_what_was_taken() {
    let clock = Arc::new(ManualClock::new(t0()));
    let store = Arc::new(MemoryStore::shared());
    let cut_off = Arc::new(FaultyStore::new(store.clone()));
    let a = Node::start("node-a", cut_off.clone(), &clock).await;
    let b = Node::start("node-b", store.clone(), &clock).await;
    // A's heartbeats fail from its second on (at 3 s): its lease, renewed at 0, lapses at 7 s.
    cut_off.fail_heartbeats(true);
    clock.advance_to(at(6));
    eventually("node A's heartbeat failed", || {
        a.engine.metrics().store_errors > 0
    })
    .await;
    // Created on A at 6 s, the job's first ticks (7 s and 8 s) are A's, claimed with it.
    let job = a
        .engine
        .create_job(spec(
            "* * * * * *",
            "http://target.test/every-second",
            DeliveryType::AtLeastOnce,
        ))
        .await
        .expect("create_job");
    assert!(!a.engine.is_fenced());
    let held: Vec<ExecutionId> = store
        .all_executions()
        .into_iter()
        .filter(|e| e.claimed_by == "node-a")
        .map(|e| e.id)
        .collect();
    assert_eq!(held.len(), 2);

    // A's heartbeat (0 s) is older than the lease from 10 s on, and the leases of its ticks
    // (claimed at 6 s) expire at 16 s: B's heartbeat at 18 s takes them over.
    step_to(&clock, &store, (&job, 7), (7, 20), |e| {
        e.claimed_by == "node-a"
    })
    .await;
    assert!(
        a.engine.is_fenced(),
        "A sends nothing while it cannot renew"
    );
    assert_eq!(a.transport.sent_count(), 0, "{:?}", a.sent());
    assert_eq!(b.engine.metrics().taken_over, 2);

    // Heartbeats succeed again at 21 s: A drops what B took over and claims and sends again.
    cut_off.fail_heartbeats(false);
    step_to(&clock, &store, (&job, 7), (21, 25), |_| false).await;
    assert!(!a.engine.is_fenced());
    assert_eq!(a.engine.metrics().leases_lost, 2);
    let metrics = a.engine.metrics();
    assert_eq!(metrics.backlog, 0, "nothing left held: {metrics:?}");

    // Every tick was sent exactly once, by one node or the other.
    let sent: Vec<SentAttempt> = a.sent().into_iter().chain(b.sent()).collect();
    let ticks = executions_by_tick(&store, &job);
    for tick in 7..=25 {
        let execution = &ticks[&at(tick)];
        assert_eq!(execution.status, ExecutionStatus::Succeeded, "tick {tick}");
        let sends: Vec<&SentAttempt> = sent
            .iter()
            .filter(|s| s.execution_id == execution.id)
            .collect();
        assert_eq!(sends.len(), 1, "tick {tick}: {sends:?}");
    }
    for id in &held {
        assert!(
            b.sent().iter().any(|s| s.execution_id == *id),
            "B sent what it took"
        );
    }
    a.engine.shutdown(Duration::ZERO).await;
    b.engine.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_change_through_one_node_reaches_the_ticks_another_node_holds() {
    let clock = Arc::new(ManualClock::new(t0()));
    let store = Arc::new(MemoryStore::shared());
    let a = Node::start("node-a", store.clone(), &clock).await;
    let b = Node::start("node-b", store.clone(), &clock).await;
    let create = |url: &str| {
        a.engine
            .create_job(spec("* * * * * *", url, DeliveryType::AtLeastOnce))
    };
    // Each created on A, which claims its first ticks (1 s and 2 s) as it stores it.
    let paused = create("http://target.test/paused")
        .await
        .expect("create_job");
    let deleted = create("http://target.test/deleted")
        .await
        .expect("create_job");
    let moved = create("http://target.test/moved")
        .await
        .expect("create_job");
    let held_by_a = |job: &Job| {
        store
            .all_executions()
            .iter()
            .filter(|e| e.job_id == job.id && e.claimed_by == "node-a")
            .count()
    };
    assert_eq!(
        (held_by_a(&paused), held_by_a(&deleted), held_by_a(&moved)),
        (2, 2, 2)
    );

    // Through B: pause one, delete one, and move one to even seconds.
    b.engine.pause_job(paused.id).await.expect("pause_job");
    assert!(b.engine.delete_job(deleted.id).await.expect("delete_job"));
    let mut even = moved.spec.clone();
    even.schedule = "*/2 * * * * *".parse().expect("a schedule");
    b.engine
        .update_job(moved.id, even, scheduler_core::VersionCheck::Any)
        .await
        .expect("update_job");
    // The store's notices reach A, which reads the three jobs again before their ticks fall
    // due (B hears of its own changes too).
    eventually("node A applied the changes", || {
        a.engine.metrics().job_changes_received == 3
    })
    .await;

    for second in 1..=4 {
        clock.advance_to(at(second));
        eventually(
            &format!("the moved job's ticks up to {second}s settled"),
            || {
                executions_by_tick(&store, &moved)
                    .range(..=at(second))
                    .all(|(_, e)| e.status.is_finished())
            },
        )
        .await;
    }
    let sent: Vec<SentAttempt> = a.sent().into_iter().chain(b.sent()).collect();
    let sent_for = |job: &Job| -> Vec<Timestamp> {
        sent.iter()
            .filter(|s| s.job_id == job.id)
            .map(|s| s.scheduled_at)
            .collect()
    };
    assert_eq!(
        sent_for(&paused),
        [],
        "a paused job's held ticks are skipped"
    );
    assert_eq!(
        sent_for(&deleted),
        [],
        "a deleted job's held ticks are dropped"
    );
    assert_eq!(
        sent_for(&moved),
        [at(2), at(4)],
        "a held tick the new schedule lacks is skipped"
    );
    let statuses: Vec<(Timestamp, ExecutionStatus)> = executions_by_tick(&store, &paused)
        .into_values()
        .map(|e| (e.scheduled_at, e.status))
        .collect();
    assert_eq!(
        statuses,
        [
            (at(1), ExecutionStatus::Skipped),
            (at(2), ExecutionStatus::Skipped)
        ]
    );
    a.engine.shutdown(Duration::ZERO).await;
    b.engine.shutdown(Duration::ZERO).await;
}
