//! Membership: the engine heartbeats into the store at start and every `heartbeat_interval`,
//! and lists the nodes with whether each was heard from within the lease.

use std::sync::Arc;
use std::time::Duration;

use scheduler_core::{EngineConfig, MembershipStore, MemoryStore, NodeStatus, Timestamp};

use crate::support::{Harness, at, config, eventually, t0};

/// Waits until the store holds `node`'s heartbeat at `t`.
async fn heartbeat_at(store: &MemoryStore, node: &str, t: Timestamp) {
    eventually(&format!("a heartbeat of {node} at {t}"), || {
        ready_now(store.nodes())
            .and_then(|nodes| nodes.into_iter().find(|n| n.node_id == node))
            .is_some_and(|n| n.last_heartbeat == t)
    })
    .await;
}

/// The memory store answers at once: its futures are ready when made.
fn ready_now<T>(future: scheduler_core::BoxFuture<'_, scheduler_core::Result<T>>) -> Option<T> {
    let waker = std::task::Waker::noop();
    let mut context = std::task::Context::from_waker(waker);
    let mut future = future;
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(result) => result.ok(),
        std::task::Poll::Pending => None,
    }
}

#[tokio::test]
async fn the_engine_heartbeats_and_tells_live_nodes_from_silent_ones() {
    let store = Arc::new(MemoryStore::new());
    // A node that last spoke a second before this one started.
    store
        .heartbeat("node-gone", at(-1))
        .await
        .expect("heartbeat");
    let config = EngineConfig {
        node_id: "node-a".to_owned(),
        heartbeat_interval: Duration::from_secs(3),
        lease: Duration::from_secs(10),
        ..config()
    };
    let harness = Harness::start_with(config, Arc::clone(&store)).await;
    assert_eq!(harness.engine.node_id(), "node-a");
    heartbeat_at(&store, "node-a", t0()).await;
    let status = |node_id: &str, last: Timestamp, live: bool| NodeStatus {
        node_id: node_id.to_owned(),
        last_heartbeat: last,
        live,
    };
    assert_eq!(
        harness.engine.nodes().await.expect("nodes"),
        [
            status("node-a", t0(), true),
            status("node-gone", at(-1), true)
        ]
    );

    // Every interval, this node speaks again; the other stays silent and, once its last
    // heartbeat is older than the lease, is no longer live.
    for second in [3, 6, 9] {
        harness.clock.advance_to(at(second));
        heartbeat_at(&store, "node-a", at(second)).await;
    }
    harness.clock.advance_to(at(10));
    assert_eq!(
        harness.engine.nodes().await.expect("nodes"),
        [
            status("node-a", at(9), true),
            status("node-gone", at(-1), false)
        ]
    );
    harness.engine.shutdown(Duration::ZERO).await;
}
