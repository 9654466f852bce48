//! The writer task: execution updates stored in batches (group commit), one queued entry per
//! execution in first-arrival order, a newer state replacing the queued one in place.
//!
//! A store call is made once the oldest update has waited `result_linger`, a full batch of
//! `result_batch_size` is queued, or an update waits for its acknowledgement; updates keep
//! coming into the queue while a call runs, so they coalesce. An acknowledged update hears
//! whether a call with its state (or a later one) was stored; a `last` update releases its
//! execution from the backlog once its call returns.
//!
//! A failed call is tried again, with a backoff from [`FIRST_BACKOFF`] doubling up to
//! [`MAX_BACKOFF`], until the store takes it or the engine's shutdown deadline passes: its
//! updates go back to the front of the queue, merged with any newer state. While writes fail,
//! an update that waits for its acknowledgement hears `false` at once (an at-most-once attempt
//! is then not sent), and the store's failure shows in the engine's store status.
//!
//! A store call that panics counts as a failed call (`engine/panics.rs`): it is logged at
//! ERROR with what it was writing, and its updates are tried again like after any failure, so
//! a panic in the store does not end the writer.
//!
//! During a store outage (`engine/outage.rs`) the writer also records the executions claimed
//! in memory: before any other call, oldest first; and an update of an execution still in that
//! journal is folded into it rather than queued.

use std::collections::VecDeque;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cron_expr::Timestamp;
use foldhash::HashMap;
use tokio::sync::{mpsc, oneshot, watch};

use crate::clock::Clock;
use crate::domain::{ExecutionId, ExecutionUpdate};
use crate::engine::outage::Outage;
use crate::engine::panics::StoreCall;
use crate::error::{Error, error_chain};
use crate::metrics::Metrics;
use crate::store::{BufferedClaims, Store};
use crate::time;

/// One update to write; `stored` (if any) hears whether it reached the store.
pub(crate) struct WriteOp {
    pub(crate) update: ExecutionUpdate,
    pub(crate) stored: Option<oneshot::Sender<bool>>,
    /// Whether this is the engine's last update of the execution: when the write that
    /// contains it returns, the execution leaves the backlog.
    pub(crate) last: bool,
}

/// The wait after the first failed call.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How often a store that keeps failing writes is logged again.
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// How much one store call takes, and how long the writer waits to fill it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// `EngineConfig::result_batch_size`.
    pub(crate) max_batch: usize,
    /// `EngineConfig::result_linger`.
    pub(crate) linger: Duration,
}

/// What the writer task works with.
pub(crate) struct Parts {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) limits: Limits,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) outage: Arc<Outage>,
    /// The shutdown's deadline, once there is one: failed calls are not tried after it.
    pub(crate) stop_by: watch::Receiver<Option<Timestamp>>,
}

/// Writes the updates from `ops` until the channel is closed and every queued update has been
/// written, or given up at the shutdown's deadline.
pub(crate) async fn run(parts: Parts, ops: mpsc::UnboundedReceiver<WriteOp>) {
    Writer {
        queue: Queue::default(),
        ops,
        open: true,
        failing: None,
        parts,
    }
    .run()
    .await;
}

struct Writer {
    parts: Parts,
    ops: mpsc::UnboundedReceiver<WriteOp>,
    queue: Queue,
    /// Whether the channel is still open.
    open: bool,
    /// While calls fail: how many in a row, and when the failure was last logged.
    failing: Option<(u32, Timestamp)>,
}

impl Writer {
    async fn run(mut self) {
        // When the oldest update in the queue arrived (for updates left from the previous call:
        // when that call started, which none of them predates by more than the call took).
        let mut since = self.parts.clock.now();
        loop {
            if let Some(claims) = self.parts.outage.take(self.parts.limits.max_batch) {
                let store = Arc::clone(&self.parts.store);
                let call = StoreCall::new(
                    || describe_claims(&claims),
                    || store.record_buffered_claims(claims.clone()),
                );
                let outcome = self.while_receiving(call).await;
                match outcome {
                    Ok(_) => {
                        self.parts.outage.recorded(&claims);
                        self.succeeded();
                    }
                    Err(error) => {
                        self.parts.outage.not_recorded(claims);
                        // Updates queued meanwhile for what went back to the journal belong
                        // there: written now, they would find no execution to update.
                        self.queue.hand_to(&self.parts.outage, &self.parts.metrics);
                        if !self
                            .failed(&error, "recording executions claimed in memory")
                            .await
                        {
                            return self.give_up();
                        }
                    }
                }
                continue;
            }
            if self.queue.is_empty() {
                if !self.open {
                    return;
                }
                match self.ops.recv().await {
                    Some(op) => self.receive(op),
                    None => return,
                }
                since = self.parts.clock.now();
                continue;
            }
            let limits = self.parts.limits;
            if !limits.linger.is_zero() && self.failing.is_none() {
                let deadline = self
                    .parts
                    .clock
                    .sleep_until(time::add(since, limits.linger));
                self.linger(deadline, limits.max_batch).await;
            }
            while self.open {
                match self.ops.try_recv() {
                    Ok(op) => self.receive(op),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => self.open = false,
                }
            }
            since = self.parts.clock.now();
            let batch = self.queue.take(limits.max_batch);
            self.publish(batch.updates.len());
            let store = Arc::clone(&self.parts.store);
            // Keep taking updates while the store works, so that they coalesce in the queue
            // rather than pile up in the channel.
            let call = StoreCall::new(
                || describe_updates(&batch.updates),
                || store.record_results(batch.updates.clone()),
            );
            match self.while_receiving(call).await {
                Ok(()) => {
                    for ack in batch.acks {
                        let _ = ack.send(true);
                    }
                    if batch.releases > 0 {
                        self.parts.metrics.release(batch.releases);
                    }
                    self.succeeded();
                    self.publish(0);
                }
                Err(error) => {
                    for ack in batch.acks {
                        let _ = ack.send(false);
                    }
                    self.queue.put_back(batch.updates, batch.releases);
                    self.publish(0);
                    if !self.failed(&error, "writing execution results").await {
                        return self.give_up();
                    }
                }
            }
        }
    }

    /// Takes `op`: into the outage journal if its execution is there, else into the queue.
    fn receive(&mut self, mut op: WriteOp) {
        if self.parts.outage.absorb(&op.update) {
            if let Some(ack) = op.stored {
                let _ = ack.send(false);
            }
            if op.last {
                self.parts.metrics.release(1);
            }
            return;
        }
        if self.failing.is_some()
            && let Some(ack) = op.stored.take()
        {
            // Nothing is being stored: an attempt that waits for its start to be is not sent.
            let _ = ack.send(false);
        }
        self.queue.push(op);
    }

    /// Awaits `call` while taking updates from the channel.
    async fn while_receiving<T>(
        &mut self,
        call: impl Future<Output = crate::error::Result<T>>,
    ) -> crate::error::Result<T> {
        tokio::pin!(call);
        loop {
            tokio::select! {
                biased;
                result = &mut call => return result,
                op = self.ops.recv(), if self.open => match op {
                    Some(op) => self.receive(op),
                    None => self.open = false,
                },
            }
        }
    }

    /// Takes updates into the queue until `deadline`, a full batch, or an update that waits for
    /// its acknowledgement.
    async fn linger(&mut self, deadline: crate::store::BoxFuture<'static, ()>, max_batch: usize) {
        tokio::pin!(deadline);
        while self.open && self.queue.order.len() < max_batch && self.queue.acks == 0 {
            tokio::select! {
                biased;
                op = self.ops.recv() => match op {
                    Some(op) => self.receive(op),
                    None => self.open = false,
                },
                () = &mut deadline => break,
            }
        }
    }

    /// A call succeeded: the store takes writes.
    fn succeeded(&mut self) {
        if self.failing.take().is_some()
            && let Some(lasted) = self.parts.outage.results_succeeded(self.parts.clock.now())
        {
            log::info!(
                "writes reach the store again after {lasted:?}; {} results and {} executions \
                 claimed in memory are left to write",
                self.queue.order.len(),
                self.parts.outage.buffered()
            );
        }
    }

    /// A call failed with `error` while `doing` something: reports it and waits out the
    /// backoff, taking updates meanwhile. `false` when the shutdown's deadline has passed, so
    /// that nothing is tried again.
    async fn failed(&mut self, error: &Error, doing: &str) -> bool {
        let now = self.parts.clock.now();
        Metrics::add(&self.parts.metrics.store_errors, 1);
        // Nothing is being stored: an attempt that waits for its start to be is not sent.
        self.queue.refuse_acks();
        let cause = error_chain(error);
        self.parts.outage.results_failed(now, &cause);
        let failures = match &mut self.failing {
            None => {
                log::error!(
                    "{doing} failed ({cause}); the results are kept and tried again until the \
                     store takes them"
                );
                self.failing = Some((1, now));
                1
            }
            Some((failures, logged)) => {
                *failures += 1;
                if time::since(now, *logged) >= FAILURE_LOG_INTERVAL {
                    log::error!(
                        "{doing} still fails after {failures} tries ({cause}); {} results and {} \
                         executions claimed in memory wait",
                        self.queue.order.len(),
                        self.parts.outage.buffered()
                    );
                    *logged = now;
                }
                *failures
            }
        };
        let backoff = FIRST_BACKOFF
            .saturating_mul(1 << failures.saturating_sub(1).min(16))
            .min(MAX_BACKOFF);
        let mut retry_at = time::add(now, backoff);
        let mut stop_by_changes = self.parts.stop_by.clone();
        let stop_by = *stop_by_changes.borrow_and_update();
        if let Some(stop_by) = stop_by {
            if now >= stop_by {
                return false;
            }
            retry_at = retry_at.min(stop_by);
        }
        let wait = self.parts.clock.sleep_until(retry_at);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                biased;
                () = &mut wait => return true,
                // A shutdown began: its deadline may come before the retry.
                Ok(()) = stop_by_changes.changed() => return true,
                op = self.ops.recv(), if self.open => match op {
                    Some(op) => self.receive(op),
                    None => self.open = false,
                },
            }
        }
    }

    /// Ends at the shutdown's deadline with writes still failing: says what was not written.
    fn give_up(self) {
        let results = self.queue.order.len();
        let claimed = self.parts.outage.buffered();
        log::error!(
            "the store still fails writes at the shutdown's deadline: {results} results are not \
             written (their executions stay unfinished in the store, and the next start sends \
             them again or marks them abandoned) and {claimed} executions claimed in memory are \
             not recorded (their ticks are claimed again at the next start, as missed ticks)"
        );
        self.parts.metrics.release(self.queue.releases);
    }

    /// Publishes how many results wait, `writing` of them in the call under way.
    fn publish(&self, writing: usize) {
        self.parts
            .metrics
            .results_unwritten
            .store((self.queue.order.len() + writing) as u64, Ordering::Relaxed);
    }
}

/// What a call of `record_results` writes, for the log when it panics.
fn describe_updates(updates: &[ExecutionUpdate]) -> String {
    match (updates.first(), updates.last()) {
        (Some(first), Some(last)) => format!(
            "writing the results of {} executions (execution {} to {})",
            updates.len(),
            first.id,
            last.id
        ),
        _ => "writing no results".to_owned(),
    }
}

/// What a call of `record_buffered_claims` writes, for the log when it panics.
fn describe_claims(claims: &BufferedClaims) -> String {
    match (claims.executions.first(), claims.executions.last()) {
        (Some(first), Some(last)) => format!(
            "recording {} executions claimed in memory (execution {} to {}) and the watermarks \
             of {} jobs",
            claims.executions.len(),
            first.id,
            last.id,
            claims.watermarks.len()
        ),
        _ => format!(
            "recording the watermarks of {} jobs claimed in memory",
            claims.watermarks.len()
        ),
    }
}

/// The newest unwritten state of one execution.
struct Queued {
    update: ExecutionUpdate,
    /// Who waits for this state (or an earlier one it replaced) to be stored.
    acks: Vec<oneshot::Sender<bool>>,
    /// Last updates merged into this entry: executions to release once it is written.
    releases: usize,
}

/// The updates waiting for a store call: one entry per execution, in first-arrival order.
#[derive(Default)]
struct Queue {
    order: VecDeque<ExecutionId>,
    entries: HashMap<ExecutionId, Queued>,
    /// Acknowledgements waiting in `entries`.
    acks: usize,
    /// Last updates waiting in `entries`: executions to release once written.
    releases: usize,
}

/// What one store call writes, and what to do once it returns.
struct Batch {
    updates: Vec<ExecutionUpdate>,
    acks: Vec<oneshot::Sender<bool>>,
    releases: usize,
}

impl Queue {
    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Queues `op`, replacing the queued state of its execution if there is one.
    fn push(&mut self, op: WriteOp) {
        let release = usize::from(op.last);
        self.acks += usize::from(op.stored.is_some());
        self.releases += release;
        match self.entries.entry(op.update.id) {
            Entry::Occupied(mut entry) => {
                let queued = entry.get_mut();
                queued.update = op.update;
                queued.acks.extend(op.stored);
                queued.releases += release;
            }
            Entry::Vacant(entry) => {
                self.order.push_back(op.update.id);
                entry.insert(Queued {
                    update: op.update,
                    acks: op.stored.into_iter().collect(),
                    releases: release,
                });
            }
        }
    }

    /// Takes up to `max` entries, oldest first.
    fn take(&mut self, max: usize) -> Batch {
        let count = max.min(self.order.len());
        let mut batch = Batch {
            updates: Vec::with_capacity(count),
            acks: Vec::new(),
            releases: 0,
        };
        for id in self.order.drain(..count) {
            if let Some(queued) = self.entries.remove(&id) {
                self.acks -= queued.acks.len();
                self.releases -= queued.releases;
                batch.updates.push(queued.update);
                batch.acks.extend(queued.acks);
                batch.releases += queued.releases;
            }
        }
        batch
    }

    /// Puts the updates of a failed call back at the front, in their order, each behind any
    /// newer state of its execution queued meanwhile (which it then merges into). Their
    /// acknowledgements were answered; `releases` of them were last updates.
    fn put_back(&mut self, updates: Vec<ExecutionUpdate>, releases: usize) {
        // The releases ride with the batch as a whole: booked on its first entry that goes
        // back, so that they are released when that entry is written.
        let mut releases = releases;
        self.releases += releases;
        for update in updates.into_iter().rev() {
            match self.entries.entry(update.id) {
                Entry::Occupied(mut newer) => {
                    newer.get_mut().releases += std::mem::take(&mut releases);
                }
                Entry::Vacant(entry) => {
                    self.order.push_front(update.id);
                    entry.insert(Queued {
                        update,
                        acks: Vec::new(),
                        releases: std::mem::take(&mut releases),
                    });
                }
            }
        }
        debug_assert_eq!(releases, 0, "a failed call wrote at least one update");
    }

    /// Answers every acknowledgement waiting in the queue with `false`.
    fn refuse_acks(&mut self) {
        if self.acks == 0 {
            return;
        }
        for queued in self.entries.values_mut() {
            for ack in queued.acks.drain(..) {
                let _ = ack.send(false);
            }
        }
        self.acks = 0;
    }

    /// Moves the updates of executions that are in the outage journal into it, releasing
    /// their last updates and answering their acknowledgements with `false`.
    fn hand_to(&mut self, outage: &Outage, metrics: &Metrics) {
        let entries = &mut self.entries;
        let (mut acks, mut releases) = (0, 0);
        self.order.retain(|id| {
            let absorbed = entries
                .get(id)
                .is_some_and(|queued| outage.absorb(&queued.update));
            if absorbed && let Some(queued) = entries.remove(id) {
                acks += queued.acks.len();
                releases += queued.releases;
                for ack in queued.acks {
                    let _ = ack.send(false);
                }
            }
            !absorbed
        });
        self.acks -= acks;
        self.releases -= releases;
        if releases > 0 {
            metrics.release(releases);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ExecutionStatus;

    fn op(id: ExecutionId, status: ExecutionStatus, last: bool) -> WriteOp {
        WriteOp {
            update: ExecutionUpdate {
                id,
                status,
                executed_at: None,
                finished_at: None,
                http_status: None,
                duration: None,
                error: None,
                attempts: 1,
                redeliveries: 0,
                last_tick_of: None,
            },
            stored: None,
            last,
        }
    }

    #[test]
    fn the_queue_keeps_the_newest_state_in_first_arrival_order() {
        let (a, b, c) = (
            ExecutionId::new_time_ordered(),
            ExecutionId::new_time_ordered(),
            ExecutionId::new_time_ordered(),
        );
        let mut queue = Queue::default();
        queue.push(op(a, ExecutionStatus::Running, false));
        queue.push(op(b, ExecutionStatus::Running, false));
        queue.push(op(a, ExecutionStatus::Succeeded, true));
        queue.push(op(c, ExecutionStatus::Skipped, true));
        let first = queue.take(2);
        let states: Vec<_> = first.updates.iter().map(|u| (u.id, u.status)).collect();
        assert_eq!(
            states,
            [
                (a, ExecutionStatus::Succeeded),
                (b, ExecutionStatus::Running)
            ]
        );
        assert_eq!(first.releases, 1);
        // `b` is being written: its next state is a new entry, behind `c`.
        queue.push(op(b, ExecutionStatus::Failed, true));
        let second = queue.take(10);
        let states: Vec<_> = second.updates.iter().map(|u| (u.id, u.status)).collect();
        assert_eq!(
            states,
            [(c, ExecutionStatus::Skipped), (b, ExecutionStatus::Failed)]
        );
        assert_eq!(second.releases, 2);
        assert!(queue.is_empty());
    }

    #[test]
    fn acknowledgements_move_with_the_newer_state() {
        let (first, second) = (
            ExecutionId::new_time_ordered(),
            ExecutionId::new_time_ordered(),
        );
        let mut queue = Queue::default();
        let (first_tx, mut first_rx) = oneshot::channel();
        let mut running = op(first, ExecutionStatus::Running, false);
        running.stored = Some(first_tx);
        queue.push(running);
        queue.push(op(first, ExecutionStatus::Succeeded, true));
        // An acknowledged state merged into an entry that was already queued.
        let (second_tx, mut second_rx) = oneshot::channel();
        queue.push(op(second, ExecutionStatus::Running, false));
        let mut running = op(second, ExecutionStatus::Running, false);
        running.stored = Some(second_tx);
        queue.push(running);
        let batch = queue.take(2);
        let states: Vec<_> = batch.updates.iter().map(|u| (u.id, u.status)).collect();
        assert_eq!(
            states,
            [
                (first, ExecutionStatus::Succeeded),
                (second, ExecutionStatus::Running)
            ]
        );
        assert_eq!((batch.acks.len(), batch.releases), (2, 1));
        // Nobody heard anything before the batch was written.
        assert!(first_rx.try_recv().is_err());
        assert!(second_rx.try_recv().is_err());
    }

    mod properties {
        use std::collections::HashMap as StdHashMap;

        use proptest::prelude::*;

        use super::*;

        /// A step of a run against the queue.
        #[derive(Clone, Debug)]
        enum Step {
            /// An update of execution number `execution`, marked last and acknowledged as said.
            Push {
                execution: usize,
                last: bool,
                ack: bool,
            },
            /// A store call takes a batch.
            Take,
        }

        fn step() -> impl Strategy<Value = Step> {
            prop_oneof![
                3 => (0..6usize, any::<bool>(), any::<bool>())
                    .prop_map(|(execution, last, ack)| Step::Push { execution, last, ack }),
                1 => Just(Step::Take),
            ]
        }

        /// The newest state of an execution in the model, and what waits on it.
        #[derive(Default)]
        struct Newest {
            sequence: u32,
            acks: usize,
            releases: usize,
        }

        /// The queue by definition: the ids in first-arrival order, and the newest state of
        /// each.
        #[derive(Default)]
        struct Model {
            order: Vec<ExecutionId>,
            newest: StdHashMap<ExecutionId, Newest>,
        }

        impl Model {
            fn push(&mut self, id: ExecutionId, sequence: u32, last: bool, ack: bool) {
                if !self.newest.contains_key(&id) {
                    self.order.push(id);
                }
                let newest = self.newest.entry(id).or_default();
                newest.sequence = sequence;
                newest.acks += usize::from(ack);
                newest.releases += usize::from(last);
            }

            /// The first `max` entries: (id, sequence) each, acknowledgements, releases.
            fn take(&mut self, max: usize) -> (Vec<(ExecutionId, u32)>, usize, usize) {
                let taken: Vec<_> = self.order.drain(..max.min(self.order.len())).collect();
                let (mut states, mut acks, mut releases) = (Vec::new(), 0, 0);
                for id in taken {
                    let newest = self.newest.remove(&id).expect("an entry per queued id");
                    states.push((id, newest.sequence));
                    acks += newest.acks;
                    releases += newest.releases;
                }
                (states, acks, releases)
            }
        }

        /// What a batch holds, as the model says it.
        fn observed(batch: &Batch) -> (Vec<(ExecutionId, u32)>, usize, usize) {
            let states = batch.updates.iter().map(|u| (u.id, u.attempts)).collect();
            (states, batch.acks.len(), batch.releases)
        }

        proptest! {
            #[test]
            fn the_queue_matches_its_model(
                steps in proptest::collection::vec(step(), 0..80),
                max_batch in 1..5usize,
            ) {
                let ids: Vec<ExecutionId> =
                    (0..6).map(|_| ExecutionId::new_time_ordered()).collect();
                let mut queue = Queue::default();
                let mut model = Model::default();
                // Receivers kept alive, so that nothing is acknowledged behind the test's back.
                let mut receivers = Vec::new();
                for (sequence, step) in (1..).zip(steps) {
                    match step {
                        Step::Push { execution, last, ack } => {
                            let mut write = op(ids[execution], ExecutionStatus::Running, last);
                            write.update.attempts = sequence;
                            if ack {
                                let (tx, rx) = oneshot::channel();
                                write.stored = Some(tx);
                                receivers.push(rx);
                            }
                            queue.push(write);
                            model.push(ids[execution], sequence, last, ack);
                        }
                        Step::Take => {
                            let batch = queue.take(max_batch);
                            prop_assert_eq!(observed(&batch), model.take(max_batch));
                        }
                    }
                    let waiting: usize = model.newest.values().map(|newest| newest.acks).sum();
                    prop_assert_eq!(queue.acks, waiting);
                    prop_assert_eq!(queue.is_empty(), model.order.is_empty());
                }
                // Drained in chunks of the batch size, oldest first.
                while !queue.is_empty() {
                    let batch = queue.take(max_batch);
                    prop_assert!(!batch.updates.is_empty() && batch.updates.len() <= max_batch);
                    prop_assert_eq!(observed(&batch), model.take(max_batch));
                }
                prop_assert!(model.order.is_empty());
            }
        }
    }
}
