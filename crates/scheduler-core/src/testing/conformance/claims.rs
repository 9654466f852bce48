//! The checks of [`ClaimStore`](crate::ClaimStore): claims, a new job's claim, triggers and results.

use super::*;

/// A claim takes every tick up to the horizon, advances the watermark, and a second claim
/// finds nothing new.
pub async fn claim_takes_each_due_tick_once(store: &dyn Store) {
    let every_second = job("* * * * * *", Some(at(0)));
    let later = job("0 0 * * * *", Some(at(3_600)));
    insert(store, &every_second).await;
    insert(store, &later).await;
    let batch = store
        .claim_due(claim(at(0), 2, 100, "node-a"))
        .await
        .expect("claim_due");
    let claimed: Vec<Execution> = batch
        .ticks
        .iter()
        .map(|tick| tick.execution.clone())
        .collect();
    assert_eq!(ticks(&claimed), [at(0), at(1), at(2)]);
    for tick in &batch.ticks {
        assert_eq!(tick.job.id, every_second.id);
        assert_eq!(tick.execution.status, ExecutionStatus::Pending);
        assert_eq!(tick.execution.trigger, ExecutionTrigger::Schedule);
        assert_eq!(tick.execution.claimed_by, "node-a");
        assert_eq!(tick.execution.attempts, 0);
    }
    let stored = store
        .get_job(every_second.id)
        .await
        .expect("get_job")
        .expect("the job");
    assert_eq!((stored.next_fire_at, stored.version), (Some(at(3)), 1));
    assert!(
        store
            .claim_due(claim(at(0), 2, 100, "node-a"))
            .await
            .expect("claim_due")
            .ticks
            .is_empty()
    );
    let next = store
        .claim_due(claim(at(1), 2, 100, "node-a"))
        .await
        .expect("claim_due");
    assert_eq!(
        next.ticks
            .iter()
            .map(|t| t.execution.scheduled_at)
            .collect::<Vec<_>>(),
        [at(3)]
    );
}

/// Claims come earliest first, at most `limit` per call, fewer only when nothing is left.
pub async fn claim_respects_limit_and_order(store: &dyn Store) {
    let mut expected = Vec::new();
    for i in (0..5).rev() {
        let job = job("0 0 0 * * *", Some(at(i)));
        insert(store, &job).await;
        expected.push((at(i), job.id));
    }
    expected.sort();
    let mut seen = Vec::new();
    loop {
        let batch = store
            .claim_due(claim(at(0), 10, 2, "a"))
            .await
            .expect("claim_due");
        assert!(batch.ticks.len() <= 2);
        seen.extend(
            batch
                .ticks
                .iter()
                .map(|tick| (tick.execution.scheduled_at, tick.job.id)),
        );
        if batch.ticks.len() < 2 {
            break;
        }
    }
    assert_eq!(seen, expected);
}

/// Paused jobs are not claimed.
pub async fn claim_ignores_paused_jobs(store: &dyn Store) {
    let mut paused = job("* * * * * *", Some(at(0)));
    paused.spec.paused = true;
    insert(store, &paused).await;
    assert!(
        store
            .claim_due(claim(at(0), 2, 100, "a"))
            .await
            .expect("claim_due")
            .ticks
            .is_empty()
    );
    let mut resumed = paused.clone();
    resumed.spec.paused = false;
    store
        .update_job(resumed, 1, NextFire::Set(Some(at(1))))
        .await
        .expect("update_job");
    assert_eq!(
        store
            .claim_due(claim(at(0), 2, 100, "a"))
            .await
            .expect("claim_due")
            .ticks
            .len(),
        2
    );
}

/// A batch of jobs inserted with their claims: each gets its own due ticks (up to the limit
/// per job) and its watermark past them, a paused one none; a batch with a taken id, or one id
/// twice, stores nothing at all.
pub async fn insert_jobs_and_claim_is_all_or_nothing(store: &dyn Store) {
    let other = job("* * * * * *", Some(at(0)));
    insert(store, &other).await;

    let first = job("* * * * * *", Some(at(1)));
    let hourly = job("0 0 * * * *", Some(at(3_600)));
    let mut paused = job("* * * * * *", Some(at(1)));
    paused.spec.paused = true;
    let batch = store
        .insert_jobs_and_claim(
            vec![first.clone(), hourly.clone(), paused.clone()],
            claim(at(0), 2, 2, "node-a"),
        )
        .await
        .expect("insert_jobs_and_claim");
    assert_eq!(batch.misfired, 0);
    let mut claimed: Vec<(JobId, Timestamp)> = batch
        .ticks
        .iter()
        .map(|tick| (tick.job.id, tick.execution.scheduled_at))
        .collect();
    claimed.sort();
    assert_eq!(claimed, [(first.id, at(1)), (first.id, at(2))]);
    for tick in &batch.ticks {
        assert_eq!(tick.job.next_fire_at, Some(at(3)));
        assert_eq!(tick.execution.status, ExecutionStatus::Pending);
        assert_eq!(tick.execution.claimed_by, "node-a");
        let stored = store
            .get_execution(tick.execution.id)
            .await
            .expect("get_execution");
        assert_eq!(stored.as_ref(), Some(&tick.execution));
    }
    let expected = [
        Job {
            next_fire_at: Some(at(3)),
            ..first.clone()
        },
        hourly.clone(),
        paused.clone(),
    ];
    for job in &expected {
        let stored = store.get_job(job.id).await.expect("get_job");
        assert_eq!(stored.as_ref(), Some(job));
    }

    // A taken id in the middle: neither the jobs before it nor those after it are stored.
    let before = job("* * * * * *", Some(at(1)));
    let after = job("* * * * * *", Some(at(1)));
    let taken = Job {
        next_fire_at: Some(at(1)),
        ..other.clone()
    };
    assert!(matches!(
        store
            .insert_jobs_and_claim(
                vec![before.clone(), taken, after.clone()],
                claim(at(0), 2, 100, "node-a"),
            )
            .await,
        Err(Error::JobExists(id)) if id == other.id
    ));
    // One id twice in the same batch.
    let twice = job("* * * * * *", Some(at(1)));
    assert!(matches!(
        store
            .insert_jobs_and_claim(
                vec![twice.clone(), twice.clone()],
                claim(at(0), 2, 100, "node-a"),
            )
            .await,
        Err(Error::JobExists(id)) if id == twice.id
    ));
    for id in [before.id, after.id, twice.id] {
        assert_eq!(store.get_job(id).await.expect("get_job"), None);
        assert!(
            store
                .job_executions(id, 10)
                .await
                .expect("history")
                .is_empty()
        );
    }
    assert_eq!(
        store
            .job_executions(other.id, 10)
            .await
            .expect("history")
            .len(),
        0
    );
    let counts = store.count_jobs().await.expect("count_jobs");
    assert_eq!(counts.active + counts.paused, 4);

    let empty = store
        .insert_jobs_and_claim(Vec::new(), claim(at(0), 2, 100, "node-a"))
        .await
        .expect("an empty batch");
    assert!(empty.ticks.is_empty());
}

/// A job inserted with its claim gets its own due ticks (up to the limit), with the
/// watermark past them; no other job is claimed, a paused job gets none, and a taken id
/// stores nothing.
pub async fn insert_job_and_claim_claims_only_the_new_job(store: &dyn Store) {
    let other = job("* * * * * *", Some(at(0)));
    insert(store, &other).await;

    let new = job("* * * * * *", Some(at(1)));
    let batch = store
        .insert_job_and_claim(new.clone(), claim(at(0), 2, 100, "node-a"))
        .await
        .expect("insert_job_and_claim");
    assert_eq!(batch.misfired, 0);
    let claimed: Vec<Execution> = batch.ticks.iter().map(|t| t.execution.clone()).collect();
    assert_eq!(ticks(&claimed), [at(1), at(2)]);
    for tick in &batch.ticks {
        assert_eq!(tick.job.id, new.id);
        assert_eq!(tick.job.next_fire_at, Some(at(3)));
        assert_eq!(tick.execution.status, ExecutionStatus::Pending);
        assert_eq!(tick.execution.trigger, ExecutionTrigger::Schedule);
        assert_eq!(tick.execution.claimed_by, "node-a");
        let stored = store
            .get_execution(tick.execution.id)
            .await
            .expect("get_execution");
        assert_eq!(stored.as_ref(), Some(&tick.execution));
    }
    let stored = store
        .get_job(new.id)
        .await
        .expect("get_job")
        .expect("the job");
    assert_eq!(
        stored,
        Job {
            next_fire_at: Some(at(3)),
            ..new.clone()
        }
    );

    let limited = job("* * * * * *", Some(at(1)));
    let batch = store
        .insert_job_and_claim(limited.clone(), claim(at(0), 2, 1, "node-a"))
        .await
        .expect("insert_job_and_claim");
    assert_eq!(batch.ticks.len(), 1);
    assert_eq!(batch.ticks[0].execution.scheduled_at, at(1));

    let mut paused = job("* * * * * *", Some(at(1)));
    paused.spec.paused = true;
    let batch = store
        .insert_job_and_claim(paused.clone(), claim(at(0), 2, 100, "node-a"))
        .await
        .expect("insert_job_and_claim");
    assert!(batch.ticks.is_empty());
    let stored = store.get_job(paused.id).await.expect("get_job");
    assert_eq!(stored, Some(paused.clone()));

    let taken = Job {
        next_fire_at: Some(at(0)),
        ..new.clone()
    };
    assert!(matches!(
        store.insert_job_and_claim(taken, claim(at(0), 2, 100, "node-a")).await,
        Err(Error::JobExists(id)) if id == new.id
    ));
    assert_eq!(
        store
            .job_executions(new.id, 10)
            .await
            .expect("history")
            .len(),
        2
    );

    // The claim that follows takes the other job's ticks and the limited job's rest only.
    let batch = store
        .claim_due(claim(at(0), 2, 100, "node-a"))
        .await
        .expect("claim_due");
    let mut claimed: Vec<(bool, Timestamp)> = batch
        .ticks
        .iter()
        .map(|t| (t.job.id == other.id, t.execution.scheduled_at))
        .collect();
    claimed.sort();
    assert_eq!(
        claimed,
        [(false, at(2)), (true, at(0)), (true, at(1)), (true, at(2))]
    );
    assert!(
        batch
            .ticks
            .iter()
            .all(|t| t.job.id == other.id || t.job.id == limited.id)
    );
}

/// Moving a watermark back over claimed ticks does not claim them again.
pub async fn claim_skips_ticks_that_have_an_execution(store: &dyn Store) {
    let job = job("* * * * * *", Some(at(0)));
    insert(store, &job).await;
    assert_eq!(
        store
            .claim_due(claim(at(0), 2, 100, "a"))
            .await
            .expect("claim_due")
            .ticks
            .len(),
        3
    );
    store
        .update_job(job.clone(), 1, NextFire::Set(Some(at(1))))
        .await
        .expect("update_job");
    let again = store
        .claim_due(claim(at(0), 4, 100, "a"))
        .await
        .expect("claim_due");
    assert_eq!(
        again
            .ticks
            .iter()
            .map(|t| t.execution.scheduled_at)
            .collect::<Vec<_>>(),
        [at(3), at(4)]
    );
    assert_eq!(
        store
            .job_executions(job.id, 100)
            .await
            .expect("job_executions")
            .len(),
        5
    );
}

/// Claims running at the same time never return the same tick.
pub async fn concurrent_claims_never_share_a_tick(store: &dyn Store) {
    for i in 0..50 {
        insert(store, &job("* * * * * *", Some(at(i % 3)))).await;
    }
    let request = claim(at(0), 5, 40, "a");
    let (a, b, c, d) = tokio::join!(
        store.claim_due(request.clone()),
        store.claim_due(request.clone()),
        store.claim_due(request.clone()),
        store.claim_due(request.clone()),
    );
    let mut keys = Vec::new();
    for batch in [a, b, c, d] {
        keys.extend(
            batch
                .expect("claim_due")
                .ticks
                .into_iter()
                .map(|t| (t.job.id, t.execution.scheduled_at)),
        );
    }
    let total = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), total, "a tick was claimed twice");
    let executions = store
        .recent_executions(10_000)
        .await
        .expect("recent_executions");
    assert_eq!(executions.len(), total);
}

/// Ticks missed by more than the threshold follow each job's misfire policy.
pub async fn claim_applies_misfire_policies(store: &dyn Store) {
    // Every minute, last watermark an hour before `now`.
    let now = at(3_600 + 30);
    let mut once = job("0 * * * * *", Some(at(0)));
    once.spec.misfire = MisfirePolicy::FireOnceNow;
    let mut skip = job("0 * * * * *", Some(at(0)));
    skip.spec.misfire = MisfirePolicy::SkipToNext;
    let mut catch_up = job("0 * * * * *", Some(at(0)));
    catch_up.spec.misfire = MisfirePolicy::CatchUp { max: 3 };
    for job in [&once, &skip, &catch_up] {
        insert(store, job).await;
    }
    let batch = store
        .claim_due(claim(now, 60, 100, "a"))
        .await
        .expect("claim_due");
    let of = |id: JobId| -> Vec<Timestamp> {
        batch
            .ticks
            .iter()
            .filter(|t| t.job.id == id)
            .map(|t| t.execution.scheduled_at)
            .collect()
    };
    // The latest missed tick is at(3_600); the next on schedule at(3_660) is within the window.
    assert_eq!(of(once.id), [at(3_600), at(3_660)]);
    assert_eq!(of(skip.id), [at(3_660)]);
    assert_eq!(
        of(catch_up.id),
        [at(3_480), at(3_540), at(3_600), at(3_660)]
    );
    // 61 missed ticks (0..=3600 by 60): 60 dropped, 61 dropped, 58 dropped.
    assert_eq!(batch.misfired, 60 + 61 + 58);
    for job in [&once, &skip, &catch_up] {
        let stored = store
            .get_job(job.id)
            .await
            .expect("get_job")
            .expect("the job");
        assert_eq!(stored.next_fire_at, Some(at(3_720)));
    }
}

/// Missed ticks end where the request says (`missed_before`), however recently they fell
/// due: an engine on a store of one node misses the ticks due before it started.
pub async fn claim_misses_the_ticks_before_missed_before(store: &dyn Store) {
    // Every second, watermark 5 s before `now`; every tick before `now` is missed.
    let now = at(100);
    let mut once = job("* * * * * *", Some(at(95)));
    once.spec.misfire = MisfirePolicy::FireOnceNow;
    let mut skip = job("* * * * * *", Some(at(95)));
    skip.spec.misfire = MisfirePolicy::SkipToNext;
    let mut catch_up = job("* * * * * *", Some(at(95)));
    catch_up.spec.misfire = MisfirePolicy::CatchUp { max: 2 };
    for job in [&once, &skip, &catch_up] {
        insert(store, job).await;
    }
    let request = ClaimRequest {
        missed_before: now,
        ..claim(now, 1, 100, "a")
    };
    let batch = store.claim_due(request).await.expect("claim_due");
    let of = |id: JobId| -> Vec<Timestamp> {
        batch
            .ticks
            .iter()
            .filter(|t| t.job.id == id)
            .map(|t| t.execution.scheduled_at)
            .collect()
    };
    assert_eq!(of(once.id), [at(99), at(100), at(101)]);
    assert_eq!(of(skip.id), [at(100), at(101)]);
    assert_eq!(of(catch_up.id), [at(98), at(99), at(100), at(101)]);
    // Missed: 95..=99, five per job; dropped 4, 5 and 3.
    assert_eq!(batch.misfired, 4 + 5 + 3);
    for job in [&once, &skip, &catch_up] {
        let stored = store
            .get_job(job.id)
            .await
            .expect("get_job")
            .expect("the job");
        assert_eq!(stored.next_fire_at, Some(at(102)));
    }
}

/// One execution per (job, instant); executions need their job.
pub async fn insert_execution_is_unique_per_tick(store: &dyn Store) {
    let job = job("0 0 0 * * *", Some(at(86_400)));
    insert(store, &job).await;
    let first = Execution::pending(job.id, at(5), ExecutionTrigger::Manual, "a", at(60));
    store
        .insert_execution(first.clone())
        .await
        .expect("insert_execution");
    assert_eq!(
        store.get_execution(first.id).await.expect("get_execution"),
        Some(first)
    );
    let twin = Execution::pending(job.id, at(5), ExecutionTrigger::Manual, "a", at(60));
    assert!(matches!(
        store.insert_execution(twin).await,
        Err(Error::DuplicateExecution { scheduled_at, .. }) if scheduled_at == at(5)
    ));
    let orphan = Execution::pending(
        JobId::new_random(),
        at(5),
        ExecutionTrigger::Manual,
        "a",
        at(60),
    );
    assert!(matches!(
        store.insert_execution(orphan).await,
        Err(Error::JobNotFound(_))
    ));
}

/// Updates in one batch apply in order; unknown executions are ignored.
pub async fn record_results_applies_in_order(store: &dyn Store) {
    let job = job("0 0 0 * * *", Some(at(86_400)));
    insert(store, &job).await;
    let mut execution = Execution::pending(job.id, at(1), ExecutionTrigger::Schedule, "a", at(60));
    store
        .insert_execution(execution.clone())
        .await
        .expect("insert_execution");
    execution.status = ExecutionStatus::Running;
    execution.attempts = 1;
    execution.executed_at = Some(at(1));
    let running = execution.to_update();
    execution.status = ExecutionStatus::Succeeded;
    execution.finished_at = Some(at(2));
    execution.http_status = Some(204);
    execution.duration = Some(Duration::from_millis(1_250));
    let succeeded = execution.to_update();
    let unknown =
        Execution::pending(job.id, at(9), ExecutionTrigger::Schedule, "a", at(60)).to_update();
    store
        .record_results(vec![running, unknown, succeeded])
        .await
        .expect("record_results");
    assert_eq!(
        store
            .get_execution(execution.id)
            .await
            .expect("get_execution"),
        Some(execution)
    );
    assert!(
        store
            .unfinished_executions("a")
            .await
            .expect("unfinished_executions")
            .is_empty()
    );
}

/// Due jobs are read in (watermark, id) order, page after page, without claiming anything;
/// paused jobs, jobs without a next tick and jobs due later are left out.
pub async fn due_jobs_pages_in_watermark_order(store: &dyn Store) {
    let mut expected = Vec::new();
    for i in [3, 0, 2, 0, 1] {
        let job = job("0 0 0 * * *", Some(at(i)));
        insert(store, &job).await;
        expected.push((at(i), job.id));
    }
    expected.sort();
    let mut paused = job("* * * * * *", Some(at(0)));
    paused.spec.paused = true;
    insert(store, &paused).await;
    insert(store, &job("* * * * * *", None)).await;
    insert(store, &job("* * * * * *", Some(at(60)))).await;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .due_jobs(crate::store::DueJobsQuery {
                due_before: at(10),
                after,
                limit: 2,
            })
            .await
            .expect("due_jobs");
        assert!(page.len() <= 2);
        let keys: Vec<_> = page
            .iter()
            .map(|job| (job.next_fire_at.expect("a due job has a tick"), job.id))
            .collect();
        seen.extend(keys.iter().copied());
        after = keys.last().copied();
        if page.len() < 2 {
            break;
        }
    }
    assert_eq!(seen, expected);
    let claimed = store
        .claim_due(claim(at(0), 10, 100, "a"))
        .await
        .expect("claim_due");
    assert_eq!(claimed.ticks.len(), 5, "reading due jobs claimed nothing");
}

/// Claims buffered in memory during an outage are recorded as given (final states included),
/// once: an execution whose tick is taken already, or whose job is gone, is left out. A
/// watermark moves forward only for a job still at the version the claims were planned at.
pub async fn buffered_claims_are_recorded_once_and_move_watermarks_forward(store: &dyn Store) {
    use crate::store::{BufferedClaims, BufferedWatermark};

    let kept = job("* * * * * *", Some(at(0)));
    let changed = job("* * * * * *", Some(at(5)));
    let deleted = job("* * * * * *", Some(at(5)));
    for job in [&kept, &changed, &deleted] {
        insert(store, job).await;
    }
    // `kept`'s first tick, claimed the usual way before the outage.
    let before = store
        .claim_due(claim(at(0), 0, 10, "a"))
        .await
        .expect("claim_due");
    assert_eq!(ticks(&[before.ticks[0].execution.clone()]), [at(0)]);
    store.delete_job(deleted.id).await.expect("delete_job");
    let executed = |job_id, tick| {
        let mut execution = Execution::pending(
            job_id,
            tick,
            ExecutionTrigger::Schedule,
            "a",
            lease_of(tick),
        );
        execution.status = ExecutionStatus::Succeeded;
        execution.executed_at = Some(tick);
        execution.finished_at = Some(tick);
        execution.http_status = Some(200);
        execution.attempts = 1;
        execution
    };
    let succeeded = executed(kept.id, at(1));
    let duplicate = executed(kept.id, at(0));
    let of_deleted_job = executed(deleted.id, at(5));
    // `changed` is updated after the claims were planned at its version 1.
    store
        .update_job(changed.clone(), 1, NextFire::Keep)
        .await
        .expect("update_job");
    let watermark_of = |job: &Job| BufferedWatermark {
        job_id: job.id,
        version: 1,
        next_fire_at: Some(at(7)),
    };
    let claims = BufferedClaims {
        executions: vec![succeeded.clone(), duplicate.clone(), of_deleted_job.clone()],
        watermarks: vec![
            watermark_of(&kept),
            watermark_of(&changed),
            watermark_of(&deleted),
        ],
    };
    let inserted = store
        .record_buffered_claims(claims.clone())
        .await
        .expect("record_buffered_claims");
    assert_eq!(inserted, 1, "only the new tick of a job that exists");
    let stored = store
        .get_execution(succeeded.id)
        .await
        .expect("get_execution")
        .expect("the buffered execution");
    assert_eq!(
        (stored.status, stored.http_status, stored.attempts),
        (ExecutionStatus::Succeeded, Some(200), 1)
    );
    for left_out in [&duplicate, &of_deleted_job] {
        assert_eq!(store.get_execution(left_out.id).await.expect("read"), None);
    }
    let watermark = |id| async move {
        store
            .get_job(id)
            .await
            .expect("get_job")
            .expect("the job")
            .next_fire_at
    };
    assert_eq!(watermark(kept.id).await, Some(at(7)));
    assert_eq!(
        watermark(changed.id).await,
        Some(at(5)),
        "a job changed since keeps its own watermark"
    );
    // Recorded again (a retry after a write whose answer was lost): nothing is added, and a
    // watermark never moves back.
    let mut again = claims;
    again.watermarks[0].next_fire_at = Some(at(2));
    let inserted = store
        .record_buffered_claims(again)
        .await
        .expect("record_buffered_claims");
    assert_eq!(inserted, 0);
    assert_eq!(watermark(kept.id).await, Some(at(7)));
    // A watermark of `None` ends the schedule.
    store
        .record_buffered_claims(BufferedClaims {
            executions: Vec::new(),
            watermarks: vec![BufferedWatermark {
                next_fire_at: None,
                ..watermark_of(&kept)
            }],
        })
        .await
        .expect("record_buffered_claims");
    assert_eq!(watermark(kept.id).await, None);
}
