//! The checks of [`RecoveryStore`](crate::RecoveryStore) and leases (what a node holds and
//! takes back), and of [`MembershipStore`](crate::MembershipStore) (which nodes there are).

use super::*;

/// Recovery sees the pending and running executions of one owner, with their jobs.
pub async fn unfinished_executions_belong_to_their_owner(store: &dyn Store) {
    let job = job("* * * * * *", Some(at(0)));
    insert(store, &job).await;
    let mine = store
        .claim_due(claim(at(0), 2, 100, "mine"))
        .await
        .expect("claim_due");
    let theirs = store
        .claim_due(claim(at(3), 1, 100, "theirs"))
        .await
        .expect("claim_due");
    assert_eq!((mine.ticks.len(), theirs.ticks.len()), (3, 2));
    let mut running = mine.ticks[1].execution.clone();
    running.status = ExecutionStatus::Running;
    running.attempts = 2;
    let mut done = mine.ticks[0].execution.clone();
    done.status = ExecutionStatus::Succeeded;
    store
        .record_results(vec![running.to_update(), done.to_update()])
        .await
        .expect("record_results");
    let unfinished = store
        .unfinished_executions("mine")
        .await
        .expect("unfinished_executions");
    let found: Vec<(Timestamp, ExecutionStatus)> = unfinished
        .iter()
        .map(|t| (t.execution.scheduled_at, t.execution.status))
        .collect();
    assert_eq!(
        found,
        [
            (at(1), ExecutionStatus::Running),
            (at(2), ExecutionStatus::Pending)
        ]
    );
    assert!(unfinished.iter().all(|tick| tick.job.id == job.id));
    assert_eq!(unfinished[0].execution.attempts, 2);
    assert_eq!(
        store
            .unfinished_executions("nobody")
            .await
            .expect("unfinished_executions")
            .len(),
        0
    );
}

/// Every execution carries its lease (owner and expiry) as it was asked for: from a claim,
/// from a new job's claim and from a trigger, as stored and as recovered.
pub async fn executions_carry_their_lease(store: &dyn Store) {
    let a = job("* * * * * *", Some(at(0)));
    insert(store, &a).await;
    let claimed = store
        .claim_due(claim(at(0), 1, 100, "node-a"))
        .await
        .expect("claim_due");
    let b = job("* * * * * *", Some(at(0)));
    let created = store
        .insert_job_and_claim(b, claim(at(1), 1, 100, "node-b"))
        .await
        .expect("insert_job_and_claim");
    let manual = Execution::pending(a.id, at(7), ExecutionTrigger::Manual, "node-c", at(45));
    store
        .insert_execution(manual.clone())
        .await
        .expect("insert_execution");
    assert_eq!(claimed.ticks.len(), 2);
    assert_eq!(
        created.ticks.len(),
        3,
        "a late tick and two within the window"
    );
    let leases = |ticks: &[ClaimedTick]| -> Vec<(String, Option<Timestamp>)> {
        ticks
            .iter()
            .map(|tick| {
                (
                    tick.execution.claimed_by.clone(),
                    tick.execution.lease_expires_at,
                )
            })
            .collect()
    };
    let lease_a = ("node-a".to_owned(), Some(lease_of(at(0))));
    let lease_b = ("node-b".to_owned(), Some(lease_of(at(1))));
    assert_eq!(leases(&claimed.ticks), [lease_a.clone(), lease_a.clone()]);
    assert_eq!(
        leases(&created.ticks),
        [lease_b.clone(), lease_b.clone(), lease_b]
    );
    for tick in claimed.ticks.iter().chain(&created.ticks) {
        assert_eq!(
            store
                .get_execution(tick.execution.id)
                .await
                .expect("get_execution")
                .as_ref(),
            Some(&tick.execution),
            "a claimed execution reads back with its lease"
        );
    }
    assert_eq!(
        store.get_execution(manual.id).await.expect("get_execution"),
        Some(manual.clone())
    );
    let recovered = store
        .unfinished_executions("node-a")
        .await
        .expect("unfinished_executions");
    assert_eq!(leases(&recovered), [lease_a.clone(), lease_a]);
    let recovered = store
        .unfinished_executions("node-c")
        .await
        .expect("unfinished_executions");
    assert_eq!(leases(&recovered), [("node-c".to_owned(), Some(at(45)))]);
}

/// Heartbeats keep each node's latest; nodes are listed in name order.
pub async fn nodes_keep_their_latest_heartbeat(store: &dyn Store) {
    assert_eq!(store.nodes().await.expect("nodes"), []);
    store.heartbeat("node-b", at(1)).await.expect("heartbeat");
    store.heartbeat("node-a", at(2)).await.expect("heartbeat");
    store.heartbeat("node-b", at(4)).await.expect("heartbeat");
    let node = |node_id: &str, seconds| crate::NodeHeartbeat {
        node_id: node_id.to_owned(),
        last_heartbeat: at(seconds),
    };
    assert_eq!(
        store.nodes().await.expect("nodes"),
        [node("node-a", 2), node("node-b", 4)]
    );
}
