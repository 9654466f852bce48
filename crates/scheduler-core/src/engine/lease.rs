//! This node's lease on a shared store: whether it may still send and claim.
//!
//! On a store shared by several nodes, each node's heartbeat keeps what it holds its own: once
//! its latest heartbeat is older than [`EngineConfig::lease`](crate::EngineConfig::lease),
//! other nodes take its unfinished executions over. So a node that cannot renew its heartbeat
//! stops sending and claiming before that can happen: at
//! [`EngineConfig::fence_after`](crate::EngineConfig::fence_after) after the start of its last
//! successful heartbeat, by its own clock. The margin left to the lease absorbs clock skew
//! between nodes and the time a send takes to leave.
//!
//! A node whose lease lapsed is *fenced*: it holds on to what it has but sends nothing, until a
//! heartbeat succeeds again and the membership task has renewed the leases of what it still
//! holds (dropping what was taken over meanwhile). On a store of one node the lease always
//! holds: nobody else could take anything over.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use cron_expr::Timestamp;

/// The lease state, shared by the membership task (which renews it), the dispatcher (which
/// checks it before every send) and the control task (before every claim pass).
#[derive(Debug)]
pub(crate) struct Lease {
    /// Whether the store is shared; if not, the lease always holds.
    shared: bool,
    /// Milliseconds since the epoch until which the node may send, from its last successful
    /// heartbeat.
    valid_until: AtomicI64,
    /// Set once a lapse was noticed, until what the node holds has been checked again.
    fenced: AtomicBool,
}

impl Lease {
    /// A lease valid until `valid_until` (ignored on a store that is not shared).
    pub(crate) fn new(shared: bool, valid_until: Timestamp) -> Lease {
        Lease {
            shared,
            valid_until: AtomicI64::new(valid_until.as_millisecond()),
            fenced: AtomicBool::new(false),
        }
    }

    /// Whether the store is shared by several nodes.
    pub(crate) fn is_shared(&self) -> bool {
        self.shared
    }

    /// Whether this node may send and claim at `now`.
    pub(crate) fn holds(&self, now: Timestamp) -> bool {
        !self.shared || (!self.fenced.load(Ordering::Acquire) && !self.lapsed(now))
    }

    /// Whether the lease ran out before `now` (whatever the fence says).
    pub(crate) fn lapsed(&self, now: Timestamp) -> bool {
        self.shared && now.as_millisecond() >= self.valid_until.load(Ordering::Acquire)
    }

    /// Whether the node is fenced: its lease lapsed and what it holds is not yet checked.
    pub(crate) fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::Acquire)
    }

    /// Extends the lease to `until` (a heartbeat succeeded).
    pub(crate) fn renew(&self, until: Timestamp) {
        self.valid_until
            .fetch_max(until.as_millisecond(), Ordering::AcqRel);
    }

    /// Fences the node: nothing is sent until [`Lease::unfence`].
    pub(crate) fn fence(&self) {
        self.fenced.store(true, Ordering::Release);
    }

    /// Lifts the fence (what the node holds was checked again).
    pub(crate) fn unfence(&self) {
        self.fenced.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).expect("a timestamp")
    }

    #[test]
    fn a_shared_lease_holds_until_it_lapses_or_is_fenced() {
        let lease = Lease::new(true, at(10));
        assert!(lease.holds(at(9)));
        assert!(!lease.holds(at(10)), "lapsed at its end");
        lease.renew(at(20));
        assert!(lease.holds(at(10)));
        lease.renew(at(15));
        assert!(lease.holds(at(19)), "a renewal never shortens the lease");
        lease.fence();
        assert!(!lease.holds(at(11)));
        lease.unfence();
        assert!(lease.holds(at(11)));
    }

    #[test]
    fn the_lease_of_a_store_of_one_node_always_holds() {
        let lease = Lease::new(false, at(10));
        lease.fence();
        assert!(lease.holds(at(1_000)));
        assert!(!lease.lapsed(at(1_000)));
    }
}
