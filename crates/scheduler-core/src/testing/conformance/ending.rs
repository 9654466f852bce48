//! The checks of jobs that end: one-off jobs, windows, and marking a job done (or deleting
//! it) when the result of its last tick is recorded.

use super::*;
use crate::domain::{ExecutionUpdate, Timing};

/// A one-off job at `run_at`, its watermark there.
fn one_off(run_at: Timestamp) -> Job {
    let mut job = job("* * * * * *", Some(run_at));
    job.spec.schedule = Timing::Once(run_at);
    job
}

/// The final, successful update of `execution` at `finished_at`, naming its job's last tick.
fn finished_last_tick(execution: &Execution, finished_at: Timestamp) -> ExecutionUpdate {
    let mut done = execution.clone();
    done.status = ExecutionStatus::Succeeded;
    done.executed_at = Some(execution.scheduled_at);
    done.finished_at = Some(finished_at);
    done.attempts = 1;
    let mut update = done.to_update();
    update.last_tick_of = Some(execution.job_id);
    update
}

/// Claims everything due up to `at(seconds)` for node "a".
async fn claim_through(store: &dyn Store, seconds: i64) -> Vec<ClaimedTick> {
    store
        .claim_due(claim(at(seconds), 0, 100, "a"))
        .await
        .expect("claim_due")
        .ticks
}

/// One-off jobs, windows, `delete_after_run` and `done_at` read back as stored.
pub async fn ending_jobs_round_trip(store: &dyn Store) {
    let pending = one_off(at(90));
    let mut windowed = job("*/10 * * * * *", Some(at(30)));
    windowed.spec.start_at = Some(at(25));
    windowed.spec.end_at = Some(at(55));
    windowed.spec.delete_after_run = true;
    let mut done = one_off(at(5));
    done.next_fire_at = None;
    done.done_at = Some(at(7));
    for job in [&pending, &windowed, &done] {
        insert(store, job).await;
        assert_eq!(
            store.get_job(job.id).await.expect("get_job").as_ref(),
            Some(job)
        );
    }
}

/// A one-off job is claimed once, at its instant, and leaves the due jobs; a window's ticks
/// stop at its end.
pub async fn one_off_and_windowed_jobs_are_claimed_within_their_bounds(store: &dyn Store) {
    let once = one_off(at(5));
    let mut windowed = job("*/10 * * * * *", Some(at(30)));
    windowed.spec.start_at = Some(at(25));
    windowed.spec.end_at = Some(at(45));
    insert(store, &once).await;
    insert(store, &windowed).await;
    // At 45 s the one-off tick (5 s) is older than the misfire threshold: it fires, late,
    // whatever the policy.
    let claimed = claim_through(store, 45).await;
    let mut seen: Vec<(JobId, Timestamp)> = claimed
        .iter()
        .map(|tick| (tick.execution.job_id, tick.execution.scheduled_at))
        .collect();
    seen.sort_by_key(|&(_, at)| at);
    assert_eq!(
        seen,
        [
            (once.id, at(5)),
            (windowed.id, at(30)),
            (windowed.id, at(40))
        ]
    );
    for job in [&once, &windowed] {
        let stored = store.get_job(job.id).await.expect("get_job").expect("kept");
        assert_eq!(stored.next_fire_at, None, "no tick left");
        assert_eq!(
            stored.done_at, None,
            "not done before its executions finish"
        );
    }
    assert!(claim_through(store, 10_000).await.is_empty());
    let due = store
        .due_jobs(crate::DueJobsQuery {
            due_before: at(10_000),
            after: None,
            limit: 10,
        })
        .await
        .expect("due_jobs");
    assert!(due.is_empty(), "{due:?}");
}

/// The final result of a job's last tick marks it done once no execution of it is unfinished,
/// at the result's finish; a job that has a tick again, or one already done, is left alone.
pub async fn the_last_ticks_result_marks_the_job_done(store: &dyn Store) {
    let mut windowed = job("*/10 * * * * *", Some(at(30)));
    windowed.spec.end_at = Some(at(40));
    insert(store, &windowed).await;
    let claimed = claim_through(store, 40).await;
    assert_eq!(
        ticks(
            &claimed
                .iter()
                .map(|t| t.execution.clone())
                .collect::<Vec<_>>()
        ),
        [at(30), at(40)]
    );
    // The last tick finishes first: the other is unfinished, so the job is not done yet.
    store
        .record_results(vec![finished_last_tick(&claimed[1].execution, at(41))])
        .await
        .expect("record_results");
    let stored = store
        .get_job(windowed.id)
        .await
        .expect("get_job")
        .expect("kept");
    assert_eq!(stored.done_at, None);
    let mut other = finished_last_tick(&claimed[0].execution, at(42));
    other.last_tick_of = None;
    store
        .record_results(vec![other])
        .await
        .expect("record_results");
    assert_eq!(
        store
            .get_job(windowed.id)
            .await
            .expect("get_job")
            .expect("kept")
            .done_at,
        None,
        "only a last tick's result ends a job"
    );
    // Recorded again (a redelivery, say) with the flag: now nothing is unfinished.
    store
        .record_results(vec![finished_last_tick(&claimed[1].execution, at(43))])
        .await
        .expect("record_results");
    let done = store
        .get_job(windowed.id)
        .await
        .expect("get_job")
        .expect("kept");
    assert_eq!(done.done_at, Some(at(43)));
    // Done once: a later result does not move it.
    store
        .record_results(vec![finished_last_tick(&claimed[1].execution, at(50))])
        .await
        .expect("record_results");
    assert_eq!(
        store
            .get_job(windowed.id)
            .await
            .expect("get_job")
            .expect("kept")
            .done_at,
        Some(at(43))
    );
    assert_eq!(
        store
            .job_executions(windowed.id, 10)
            .await
            .expect("history")
            .len(),
        2
    );

    // A job given a tick again (its watermark set) is not done, whatever its results say.
    let stored = store
        .update_job(done.clone(), done.version, NextFire::Set(Some(at(100))))
        .await
        .expect("update_job");
    assert_eq!(stored.done_at, None);
    store
        .record_results(vec![finished_last_tick(&claimed[1].execution, at(60))])
        .await
        .expect("record_results");
    let stored = store
        .get_job(windowed.id)
        .await
        .expect("get_job")
        .expect("kept");
    assert_eq!((stored.next_fire_at, stored.done_at), (Some(at(100)), None));
    // An update that leaves a done job without a tick keeps it done.
    let once = one_off(at(1));
    insert(store, &once).await;
    let claimed = claim_through(store, 1).await;
    store
        .record_results(vec![finished_last_tick(&claimed[0].execution, at(2))])
        .await
        .expect("record_results");
    let mut renamed = store
        .get_job(once.id)
        .await
        .expect("get_job")
        .expect("kept");
    assert_eq!(renamed.done_at, Some(at(2)));
    renamed.spec.name = Some("renamed".to_owned());
    renamed.done_at = None;
    let stored = store
        .update_job(renamed, 1, NextFire::Keep)
        .await
        .expect("update_job");
    assert_eq!(stored.done_at, Some(at(2)));
    assert_eq!(
        store
            .get_job(once.id)
            .await
            .expect("get_job")
            .expect("kept")
            .done_at,
        Some(at(2))
    );
}

/// The final result of the last tick of a job with `delete_after_run` deletes it and its
/// executions instead of marking it done.
pub async fn the_last_ticks_result_deletes_a_delete_after_run_job(store: &dyn Store) {
    let mut once = one_off(at(3));
    once.spec.delete_after_run = true;
    let kept = one_off(at(3));
    insert(store, &once).await;
    insert(store, &kept).await;
    let claimed = claim_through(store, 3).await;
    assert_eq!(claimed.len(), 2);
    let updates = claimed
        .iter()
        .map(|tick| finished_last_tick(&tick.execution, at(4)))
        .collect();
    store.record_results(updates).await.expect("record_results");
    assert_eq!(store.get_job(once.id).await.expect("get_job"), None);
    assert!(
        store
            .job_executions(once.id, 10)
            .await
            .expect("history")
            .is_empty()
    );
    let kept = store
        .get_job(kept.id)
        .await
        .expect("get_job")
        .expect("kept");
    assert_eq!(kept.done_at, Some(at(4)));
    assert_eq!(
        store
            .job_executions(kept.id, 10)
            .await
            .expect("history")
            .len(),
        1
    );
}

/// A claim whose misfire policy drops a windowed job's last ticks leaves no execution to end
/// the job: the claim ends it, at its `now`.
pub async fn a_claim_that_drops_the_last_ticks_ends_the_job(store: &dyn Store) {
    let mut windowed = job("*/10 * * * * *", Some(at(30)));
    windowed.spec.end_at = Some(at(45));
    windowed.spec.misfire = MisfirePolicy::SkipToNext;
    insert(store, &windowed).await;
    assert!(claim_through(store, 200).await.is_empty());
    let stored = store
        .get_job(windowed.id)
        .await
        .expect("get_job")
        .expect("kept");
    assert_eq!((stored.next_fire_at, stored.done_at), (None, Some(at(200))));
}
