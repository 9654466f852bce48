//! The checks of [`RecoveryStore`](crate::RecoveryStore) and leases (what a node holds and
//! takes back), and of [`MembershipStore`](crate::MembershipStore) (which nodes there are).

use super::*;

/// Recovery sees the pending and running executions of one owner, with their jobs, their
/// attempts and their re-sends as last recorded.
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
    running.redeliveries = 1;
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
    assert_eq!(unfinished[0].execution.redeliveries, 1);
    assert_eq!(unfinished[1].execution.redeliveries, 0);
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

/// The request of a takeover by `owner` at `now` of the nodes silent since before `stale`.
fn take_over_request(owner: &str, now: i64, stale: i64, limit: usize) -> crate::TakeOverRequest {
    crate::TakeOverRequest {
        owner: owner.to_owned(),
        now: at(now),
        stale_before: at(stale),
        lease_until: at(now + 30),
        limit,
    }
}

/// A takeover moves the unfinished executions of silent nodes whose leases expired to the
/// taking node, oldest first and up to its limit, and leaves everything else alone: live
/// nodes' executions, finished ones, and those whose lease has not expired.
pub async fn take_over_moves_what_silent_nodes_left(store: &dyn Store) {
    let job = job("* * * * * *", Some(at(0)));
    insert(store, &job).await;
    // "gone" holds ticks 0-2 (leases until 30), "live" ticks 3-4 (leases until 33).
    let gone = store
        .claim_due(claim(at(0), 2, 100, "gone"))
        .await
        .expect("claim_due");
    let live = store
        .claim_due(claim(at(3), 1, 100, "live"))
        .await
        .expect("claim_due");
    assert_eq!((gone.ticks.len(), live.ticks.len()), (3, 2));
    let mut done = gone.ticks[1].execution.clone();
    done.status = ExecutionStatus::Succeeded;
    let mut running = gone.ticks[2].execution.clone();
    running.status = ExecutionStatus::Running;
    running.attempts = 1;
    store
        .record_results(vec![done.to_update(), running.to_update()])
        .await
        .expect("record_results");
    for (node, seconds) in [("gone", 1), ("live", 40), ("taker", 40)] {
        store.heartbeat(node, at(seconds)).await.expect("heartbeat");
    }

    // The leases run until 30: nothing is taken before they expire, however silent the node.
    let early = store
        .take_over(take_over_request("taker", 29, 30, 100))
        .await
        .expect("take_over");
    assert!(early.is_empty(), "leases not yet expired: {early:?}");

    let first = store
        .take_over(take_over_request("taker", 45, 35, 1))
        .await
        .expect("take_over");
    let rest = store
        .take_over(take_over_request("taker", 45, 35, 100))
        .await
        .expect("take_over");
    let summary =
        |ticks: &[ClaimedTick]| -> Vec<(Timestamp, ExecutionStatus, String, Option<Timestamp>)> {
            ticks
                .iter()
                .map(|tick| {
                    (
                        tick.execution.scheduled_at,
                        tick.execution.status,
                        tick.execution.claimed_by.clone(),
                        tick.execution.lease_expires_at,
                    )
                })
                .collect()
        };
    let taken = |tick, status| (at(tick), status, "taker".to_owned(), Some(at(75)));
    assert_eq!(summary(&first), [taken(0, ExecutionStatus::Pending)]);
    assert_eq!(summary(&rest), [taken(2, ExecutionStatus::Running)]);
    assert!(first.iter().chain(&rest).all(|tick| tick.job.id == job.id));
    assert_eq!(rest[0].execution.attempts, 1, "taken over as it was");
    assert_eq!(
        store
            .get_execution(rest[0].execution.id)
            .await
            .expect("get_execution")
            .as_ref(),
        Some(&rest[0].execution),
        "the new owner and lease are stored"
    );
    assert!(
        store
            .unfinished_executions("gone")
            .await
            .expect("unfinished_executions")
            .is_empty()
    );
    assert_eq!(
        summary(
            &store
                .unfinished_executions("live")
                .await
                .expect("unfinished_executions")
        ),
        [
            (
                at(3),
                ExecutionStatus::Pending,
                "live".to_owned(),
                Some(at(33))
            ),
            (
                at(4),
                ExecutionStatus::Pending,
                "live".to_owned(),
                Some(at(33))
            ),
        ],
        "a live node keeps its executions, expired leases and all"
    );
    assert!(
        store
            .take_over(take_over_request("other", 70, 35, 100))
            .await
            .expect("take_over")
            .is_empty(),
        "what was taken is the taker's now, and the taker is live"
    );
}

/// Renewing leases keeps only what the node still holds unfinished, and a renewed lease
/// keeps a takeover away until it expires.
pub async fn renew_leases_keeps_only_what_the_node_still_holds(store: &dyn Store) {
    let job = job("* * * * * *", Some(at(0)));
    insert(store, &job).await;
    let claimed = store
        .claim_due(claim(at(0), 3, 100, "node-a"))
        .await
        .expect("claim_due");
    let ids: Vec<_> = claimed.ticks.iter().map(|tick| tick.execution.id).collect();
    assert_eq!(ids.len(), 4);
    let mut done = claimed.ticks[0].execution.clone();
    done.status = ExecutionStatus::Failed;
    store
        .record_results(vec![done.to_update()])
        .await
        .expect("record_results");
    store.heartbeat("node-a", at(0)).await.expect("heartbeat");
    store.heartbeat("node-b", at(40)).await.expect("heartbeat");
    let taken = store
        .take_over(take_over_request("node-b", 40, 20, 1))
        .await
        .expect("take_over");
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].execution.id, ids[1]);

    let mut asked = ids.clone();
    asked.push(crate::ExecutionId::new_time_ordered());
    let mut renewed = store
        .renew_leases("node-a", asked, at(100))
        .await
        .expect("renew_leases");
    renewed.sort_by_key(|id| ids.iter().position(|known| known == id));
    assert_eq!(
        renewed,
        [ids[2], ids[3]],
        "not the finished one, the one taken over, or the unknown one"
    );
    let stored = store
        .get_execution(ids[2])
        .await
        .expect("get_execution")
        .expect("stored");
    assert_eq!(
        (stored.claimed_by.as_str(), stored.lease_expires_at),
        ("node-a", Some(at(100)))
    );
    assert_eq!(
        store
            .get_execution(ids[1])
            .await
            .expect("get_execution")
            .map(|execution| execution.claimed_by),
        Some("node-b".to_owned()),
        "renewing leaves another node's execution alone"
    );
    assert!(
        store
            .take_over(take_over_request("node-b", 99, 20, 100))
            .await
            .expect("take_over")
            .is_empty(),
        "renewed leases hold until they expire"
    );
    assert_eq!(
        store
            .take_over(take_over_request("node-b", 101, 20, 100))
            .await
            .expect("take_over")
            .len(),
        2
    );
}
