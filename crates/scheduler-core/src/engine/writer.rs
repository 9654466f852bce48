//! The writer task: result updates in batches (group commit).
//!
//! An update marked `last` is the engine's last word on its execution: once the batch that
//! contained it has been stored (or given up), the execution leaves the backlog.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::domain::{ExecutionId, ExecutionUpdate};
use crate::metrics::Metrics;
use crate::store::Store;

/// One update to write; `stored` (if any) hears whether it reached the store.
pub(crate) struct WriteOp {
    pub(crate) update: ExecutionUpdate,
    pub(crate) stored: Option<oneshot::Sender<bool>>,
    /// Whether this is the engine's last update of the execution: when the write that
    /// contains it returns, the execution leaves the backlog.
    pub(crate) last: bool,
}

/// Store calls per batch before the batch is given up (the executions then stay unfinished in
/// the store, and the next start recovers them).
const WRITE_TRIES: usize = 3;

/// Takes every update waiting, up to `max_batch`, keeps the last state of each execution, and
/// writes them in one store call; updates that arrive meanwhile form the next batch.
pub(crate) async fn run(
    store: Arc<dyn Store>,
    mut ops: mpsc::UnboundedReceiver<WriteOp>,
    max_batch: usize,
    metrics: Arc<Metrics>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while let Some(op) = ops.recv().await {
        batch.push(op);
        while batch.len() < max_batch {
            match ops.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut updates: Vec<ExecutionUpdate> = Vec::with_capacity(batch.len());
        let mut position: HashMap<ExecutionId, usize> = HashMap::with_capacity(batch.len());
        let mut acks = Vec::new();
        let mut releases = 0;
        for op in batch.drain(..) {
            releases += usize::from(op.last);
            match position.get(&op.update.id) {
                Some(&index) => updates[index] = op.update,
                None => {
                    position.insert(op.update.id, updates.len());
                    updates.push(op.update);
                }
            }
            acks.extend(op.stored);
        }
        let mut stored = false;
        for attempt in 1..=WRITE_TRIES {
            match store.record_results(updates.clone()).await {
                Ok(()) => {
                    stored = true;
                    break;
                }
                Err(error) => {
                    Metrics::add(&metrics.store_errors, 1);
                    log::error!(
                        "writing {} execution results failed (try {attempt} of {WRITE_TRIES}): {error}",
                        updates.len()
                    );
                }
            }
        }
        for ack in acks {
            let _ = ack.send(stored);
        }
        if releases > 0 {
            metrics.release(releases);
        }
    }
}
