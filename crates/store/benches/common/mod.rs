//! What the store benchmarks share: the result updates the engine's writer makes.

use std::time::Duration;

use scheduler_core::{ClaimStore, ClaimedTick, ExecutionStatus, Timestamp};

/// Records each claimed execution's `RUNNING`, then `SUCCEEDED`, state at `now`, in batches of
/// 1,024, as the engine's writer does under load.
pub(crate) async fn record_running_then_succeeded(
    store: &dyn ClaimStore,
    claimed: &[ClaimedTick],
    now: Timestamp,
) {
    for status in [ExecutionStatus::Running, ExecutionStatus::Succeeded] {
        for chunk in claimed.chunks(1_024) {
            let updates = chunk
                .iter()
                .map(|tick| {
                    let mut execution = tick.execution.clone();
                    execution.status = status;
                    execution.attempts = 1;
                    execution.executed_at = Some(now);
                    if status == ExecutionStatus::Succeeded {
                        execution.finished_at = Some(now);
                        execution.http_status = Some(200);
                        execution.duration = Some(Duration::from_millis(1));
                    }
                    execution.to_update()
                })
                .collect();
            store.record_results(updates).await.expect("record");
        }
    }
}
