//! The writer task: execution updates stored in batches (group commit), one queued entry per
//! execution in first-arrival order, a newer state replacing the queued one in place.
//!
//! A store call is made once the oldest update has waited `result_linger`, a full batch of
//! `result_batch_size` is queued, or an update waits for its acknowledgement; updates keep
//! coming into the queue while a call runs, so they coalesce. An acknowledged update hears
//! whether a call with its state (or a later one) was stored; a `last` update releases its
//! execution from the backlog once its call returns, stored or given up after [`WRITE_TRIES`].

use std::collections::VecDeque;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::Duration;

use foldhash::HashMap;
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::domain::{ExecutionId, ExecutionUpdate};
use crate::error::error_chain;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::time;

/// One update to write; `stored` (if any) hears whether it reached the store.
pub(crate) struct WriteOp {
    pub(crate) update: ExecutionUpdate,
    pub(crate) stored: Option<oneshot::Sender<bool>>,
    /// Whether this is the engine's last update of the execution: when the write that
    /// contains it returns, the execution leaves the backlog.
    pub(crate) last: bool,
}

/// Store calls per batch that fails transiently before the batch is given up (the executions
/// then stay unfinished in the store, and the next start recovers them). A failure that is not
/// transient gives the batch up at once.
const WRITE_TRIES: usize = 3;

/// How much one store call takes, and how long the writer waits to fill it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// `EngineConfig::result_batch_size`.
    pub(crate) max_batch: usize,
    /// `EngineConfig::result_linger`.
    pub(crate) linger: Duration,
}

/// Writes the updates from `ops` until the channel is closed and every queued update has been
/// written (or given up).
pub(crate) async fn run(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    mut ops: mpsc::UnboundedReceiver<WriteOp>,
    limits: Limits,
    metrics: Arc<Metrics>,
) {
    let mut queue = Queue::default();
    let mut open = true;
    // When the oldest update in the queue arrived (for updates left from the previous call: when
    // that call started, which none of them predates by more than the call took).
    let mut since = clock.now();
    loop {
        if queue.is_empty() {
            if !open {
                return;
            }
            match ops.recv().await {
                Some(op) => queue.push(op),
                None => return,
            }
            since = clock.now();
        }
        if !limits.linger.is_zero() {
            open = linger(
                &mut queue,
                &mut ops,
                clock.sleep_until(time::add(since, limits.linger)),
                limits.max_batch,
            )
            .await;
        }
        while open {
            match ops.try_recv() {
                Ok(op) => queue.push(op),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => open = false,
            }
        }
        since = clock.now();
        let batch = queue.take(limits.max_batch);
        let write = write(store.as_ref(), &batch.updates, &metrics);
        tokio::pin!(write);
        // Keep taking updates while the store works, so that they coalesce in the queue rather
        // than pile up in the channel.
        let stored = loop {
            tokio::select! {
                biased;
                stored = &mut write => break stored,
                op = ops.recv(), if open => match op {
                    Some(op) => queue.push(op),
                    None => open = false,
                },
            }
        };
        for ack in batch.acks {
            let _ = ack.send(stored);
        }
        if batch.releases > 0 {
            metrics.release(batch.releases);
        }
    }
}

/// Takes updates into `queue` until `deadline`, a full batch, or an update that waits for its
/// acknowledgement; whether the channel is still open.
async fn linger(
    queue: &mut Queue,
    ops: &mut mpsc::UnboundedReceiver<WriteOp>,
    deadline: crate::store::BoxFuture<'static, ()>,
    max_batch: usize,
) -> bool {
    tokio::pin!(deadline);
    while queue.order.len() < max_batch && queue.acks == 0 {
        tokio::select! {
            biased;
            op = ops.recv() => match op {
                Some(op) => queue.push(op),
                None => return false,
            },
            () = &mut deadline => break,
        }
    }
    true
}

/// Writes `updates` in one store call, trying a transient failure up to [`WRITE_TRIES`] times
/// and any other failure once; whether it was stored.
async fn write(store: &dyn Store, updates: &[ExecutionUpdate], metrics: &Metrics) -> bool {
    for attempt in 1..=WRITE_TRIES {
        match store.record_results(updates.to_vec()).await {
            Ok(()) => return true,
            Err(error) => {
                Metrics::add(&metrics.store_errors, 1);
                let error_text = error_chain(&error);
                if !error.is_transient() {
                    log::error!(
                        "writing {} execution results failed, not worth another try: {error_text}",
                        updates.len()
                    );
                    return false;
                }
                log::error!(
                    "writing {} execution results failed (try {attempt} of {WRITE_TRIES}): {error_text}",
                    updates.len()
                );
            }
        }
    }
    false
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
                batch.updates.push(queued.update);
                batch.acks.extend(queued.acks);
                batch.releases += queued.releases;
            }
        }
        batch
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
