//! The membership task: this node's heartbeat, its lease on what it holds, and on a shared
//! store the takeover of what stopped nodes left.
//!
//! Every `heartbeat_interval` the task records that the node is alive. On a shared store a
//! successful heartbeat renews the node's [`Lease`]; when the lease had lapsed meanwhile (the
//! dispatcher stopped sending), the task first asks the store which of the executions the node
//! holds are still its own, renewing their leases, and has the dispatcher drop the others:
//! another node took them over. Then it takes over what stopped nodes left, handing it to the
//! dispatcher as recovered executions.

use std::sync::Arc;

use foldhash::HashSet;
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::domain::ExecutionId;
use crate::engine::EngineConfig;
use crate::engine::dispatch::DispatchMsg;
use crate::engine::lease::Lease;
use crate::engine::outage::Outage;
use crate::engine::panics::StoreCall;
use crate::error::{Error, Result, error_chain};
use crate::metrics::Metrics;
use crate::store::{JobNotice, Store, TakeOverRequest};
use crate::time;

/// The membership task's state.
pub(super) struct Membership {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) config: EngineConfig,
    pub(super) lease: Arc<Lease>,
    /// Where the heartbeat's failures show in the engine's store status.
    pub(super) outage: Arc<Outage>,
    pub(super) dispatch: mpsc::UnboundedSender<DispatchMsg>,
    /// Where to ask for a resync of job changes after a lapse (notices may have been missed
    /// meanwhile); `None` when the store has no feed of changes.
    pub(super) resync: Option<mpsc::UnboundedSender<JobNotice>>,
    /// Whether the last heartbeat failed (failures are logged when they start and end).
    pub(super) failing: bool,
}

impl Membership {
    /// Heartbeats every `heartbeat_interval`, starting one interval after `first` (the
    /// heartbeat the start made).
    pub(super) async fn run(mut self, first: cron_expr::Timestamp) {
        let mut next = time::add(first, self.config.heartbeat_interval);
        loop {
            self.clock.sleep_until(next).await;
            let started = self.clock.now();
            next = time::add(started, self.config.heartbeat_interval);
            self.beat(started).await;
        }
    }

    /// One heartbeat, begun at `started`, and what follows from it.
    async fn beat(&mut self, started: cron_expr::Timestamp) {
        let node_id = &self.config.node_id;
        if let Err(error) = self.heartbeat(started).await {
            Metrics::add(&self.metrics.store_errors, 1);
            self.outage
                .heartbeat_failed(self.clock.now(), &error_chain(&error));
            if !self.failing && self.lease.is_shared() {
                log::warn!(
                    "node {node_id}: heartbeat failed; unless one succeeds, this node stops \
                     sending {:?} after its last and other nodes take over what it holds: {}",
                    self.config.fence_after(),
                    error_chain(&error)
                );
            } else if !self.failing {
                log::warn!("node {node_id}: heartbeat failed: {}", error_chain(&error));
            }
            self.failing = true;
            return;
        }
        self.outage.heartbeat_succeeded();
        if std::mem::take(&mut self.failing) {
            log::info!("node {node_id}: heartbeats succeed again");
        }
        if !self.lease.is_shared() {
            return;
        }
        let now = self.clock.now();
        let lapsed = self.lease.lapsed(now) || self.lease.is_fenced();
        if lapsed {
            // Nothing may be sent between the renewal and the check of what is still ours.
            self.lease.fence();
        }
        self.lease
            .renew(time::add(started, self.config.fence_after()));
        if lapsed && let Err(error) = self.rejoin(now).await {
            Metrics::add(&self.metrics.store_errors, 1);
            log::warn!(
                "node {node_id}: checking what it holds after its lease lapsed failed; it \
                     keeps sending nothing and tries again at the next heartbeat: {}",
                error_chain(&error)
            );
            return;
        }
        self.take_over(now).await;
    }

    /// Writes the heartbeat begun at `started`. One still under way after two heartbeat
    /// intervals shows as failing in the store status (a write stuck in the store) until it
    /// completes; it is not given up, so a slow store still renews the lease.
    async fn heartbeat(&self, started: cron_expr::Timestamp) -> Result<()> {
        let stuck_after = self.config.heartbeat_interval.saturating_mul(2);
        // A panic in the store fails this heartbeat alone, not the membership task.
        let call = StoreCall::new(
            || "recording the node's heartbeat".to_owned(),
            || self.store.heartbeat(&self.config.node_id, started),
        );
        tokio::pin!(call);
        tokio::select! {
            biased;
            result = &mut call => return result,
            () = self.clock.sleep_until(time::add(started, stuck_after)) => {}
        }
        self.outage.heartbeat_failed(
            self.clock.now(),
            &format!("a heartbeat write has not completed after {stuck_after:?}"),
        );
        call.await
    }

    /// After a lapse: renews the leases of what the dispatcher holds, and has it drop what
    /// was taken over and resume.
    async fn rejoin(&self, now: cron_expr::Timestamp) -> Result<()> {
        let (reply, held) = oneshot::channel();
        self.dispatch
            .send(DispatchMsg::Held { reply })
            .map_err(|_| Error::ShutDown)?;
        let held = held.await.map_err(|_| Error::ShutDown)?;
        let count = held.len();
        let kept: HashSet<ExecutionId> = self
            .store
            .renew_leases(
                &self.config.node_id,
                held.clone(),
                self.config.lease_until(now),
            )
            .await?
            .into_iter()
            .collect();
        let lost: HashSet<ExecutionId> = held.into_iter().filter(|id| !kept.contains(id)).collect();
        Metrics::add(&self.metrics.leases_lost, lost.len() as u64);
        log::warn!(
            "node {}: its lease had lapsed; of the {count} executions it holds, {} were taken \
             over by other nodes (dropped here) and {} resume",
            self.config.node_id,
            lost.len(),
            kept.len()
        );
        if let Some(resync) = &self.resync {
            let _ = resync.send(JobNotice::Resync);
        }
        let (done, resumed) = oneshot::channel();
        self.dispatch
            .send(DispatchMsg::Rejoin { lost, done })
            .map_err(|_| Error::ShutDown)?;
        resumed.await.map_err(|_| Error::ShutDown)
    }

    /// Takes over what stopped nodes left, a claim batch at a time, and hands it to the
    /// dispatcher as recovered executions.
    async fn take_over(&self, now: cron_expr::Timestamp) {
        let request = TakeOverRequest {
            owner: self.config.node_id.clone(),
            now,
            stale_before: time::sub(now, self.config.lease),
            lease_until: self.config.lease_until(now),
            limit: self.config.claim_batch_size,
        };
        loop {
            let ticks = match self.store.take_over(request.clone()).await {
                Ok(ticks) => ticks,
                Err(error) => {
                    Metrics::add(&self.metrics.store_errors, 1);
                    log::warn!(
                        "node {}: taking over from stopped nodes failed, tried again at the \
                         next heartbeat: {}",
                        self.config.node_id,
                        error_chain(&error)
                    );
                    return;
                }
            };
            let count = ticks.len();
            if count == 0 {
                return;
            }
            log::warn!(
                "node {}: took over {count} unfinished executions of stopped nodes",
                self.config.node_id
            );
            Metrics::add(&self.metrics.taken_over, count as u64);
            // Like recovered executions at start: counted, never refused.
            self.metrics.hold(count);
            if self.dispatch.send(DispatchMsg::Recovered(ticks)).is_err() {
                self.metrics.release(count);
                return;
            }
            if count < request.limit {
                return;
            }
        }
    }
}
