//! The store contract as executable checks. Every [`Store`] implementation runs them:
//!
//! ```text
//! async fn make_store() -> Arc<SqliteStore> { Arc::new(SqliteStore::open_temporary().unwrap()) }
//! scheduler_core::store_conformance_tests!(make_store);
//! ```
//!
//! The macro expands to one `#[test]` per check, each on a fresh store from the given async
//! function, on a current-thread tokio runtime. The checks can also be called one by one.

use std::sync::Arc;
use std::time::Duration;

use cron_expr::{Schedule, Timestamp};

use crate::domain::{
    DeliveryType, Execution, ExecutionStatus, ExecutionTrigger, Job, JobId, JobSpec, MisfirePolicy,
};
use crate::error::Error;
use crate::store::{
    ClaimRequest, ExecutionQuery, JobCounts, JobQuery, NextFire, RetentionPolicy, Store,
};
use crate::time;

/// Expands to one test per conformance check, each on a fresh store from `$make_store`, an
/// async function (or closure returning a future) that returns a pointer to a [`Store`].
#[macro_export]
macro_rules! store_conformance_tests {
    ($make_store:expr) => {
        $crate::store_conformance_tests!(@each $make_store;
            jobs_round_trip,
            update_checks_the_version,
            delete_removes_job_and_executions,
            claim_takes_each_due_tick_once,
            claim_respects_limit_and_order,
            claim_ignores_paused_jobs,
            insert_job_and_claim_claims_only_the_new_job,
            claim_skips_ticks_that_have_an_execution,
            concurrent_claims_never_share_a_tick,
            claim_applies_misfire_policies,
            insert_execution_is_unique_per_tick,
            record_results_applies_in_order,
            histories_are_newest_first,
            find_jobs_filters_and_pages,
            find_executions_filters_by_job_and_status,
            unfinished_executions_belong_to_their_owner,
            prune_keeps_unfinished_executions,
        );
    };
    (@each $make_store:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let runtime = $crate::__private::tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .expect("a tokio runtime");
                runtime.block_on(async {
                    let store = ($make_store)().await;
                    $crate::testing::conformance::$check(&*store).await;
                });
            }
        )*
    };
}

/// 2026-01-01T00:00:00Z, the instant the checks start from.
pub fn base_time() -> Timestamp {
    Timestamp::from_second(1_767_225_600).expect("a valid timestamp")
}

/// `base_time()` plus `seconds`.
fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(base_time().as_second() + seconds).expect("a valid timestamp")
}

fn job(schedule: &str, next_fire_at: Option<Timestamp>) -> Job {
    let schedule: Schedule = schedule.parse().expect("a valid schedule");
    Job {
        id: JobId::new_random(),
        spec: JobSpec::new(
            schedule,
            "http://target.test/hook",
            DeliveryType::AtLeastOnce,
        ),
        created_at: base_time(),
        updated_at: base_time(),
        next_fire_at,
        version: 1,
    }
}

fn claim(now: Timestamp, window_seconds: u64, limit: usize, owner: &str) -> ClaimRequest {
    ClaimRequest {
        now,
        due_before: time::add(now, Duration::from_secs(window_seconds)),
        limit,
        owner: owner.to_owned(),
        misfire_threshold: Duration::from_secs(10),
    }
}

fn ticks(executions: &[Execution]) -> Vec<Timestamp> {
    executions
        .iter()
        .map(|execution| execution.scheduled_at)
        .collect()
}

async fn insert(store: &dyn Store, job: &Job) {
    store.insert_job(job.clone()).await.expect("insert_job");
}

/// Inserted jobs read back equal; ids are unique; listing pages in id order.
pub async fn jobs_round_trip(store: &dyn Store) {
    let mut jobs: Vec<Job> = (0..5)
        .map(|i| job("0 * * * * *", Some(at(60 * i))))
        .collect();
    jobs[1].spec.time_zone = Some(cron_expr::TimeZone::get("Europe/Paris").expect("a zone"));
    jobs[2].spec.headers = vec![("X-A".to_owned(), "1".to_owned())];
    jobs[2].spec.body = Some(Arc::from(&b"{}"[..]));
    jobs[3].spec.misfire = MisfirePolicy::CatchUp { max: 3 };
    jobs[4].spec.paused = true;
    jobs[4].spec.name = Some("nightly report \u{1f319}".to_owned());
    for job in &jobs {
        insert(store, job).await;
    }
    for job in &jobs {
        assert_eq!(
            store.get_job(job.id).await.expect("get_job").as_ref(),
            Some(job)
        );
    }
    assert!(
        matches!(store.insert_job(jobs[0].clone()).await, Err(Error::JobExists(id)) if id == jobs[0].id)
    );
    assert_eq!(
        store.get_job(JobId::new_random()).await.expect("get_job"),
        None
    );
    jobs.sort_by_key(|job| job.id);
    let first = store.list_jobs(None, 3).await.expect("list_jobs");
    let rest = store
        .list_jobs(Some(first[2].id), 10)
        .await
        .expect("list_jobs");
    let listed: Vec<JobId> = first.iter().chain(&rest).map(|job| job.id).collect();
    assert_eq!(listed, jobs.iter().map(|job| job.id).collect::<Vec<_>>());
}

/// Updates need the stored version, bump it, and keep or set the watermark as told.
pub async fn update_checks_the_version(store: &dyn Store) {
    let original = job("0 * * * * *", Some(at(60)));
    insert(store, &original).await;
    let mut changed = original.clone();
    changed.spec.target_url = "http://target.test/other".to_owned();
    match store.update_job(changed.clone(), 7, NextFire::Keep).await {
        Err(Error::VersionConflict {
            expected: 7,
            actual: 1,
            ..
        }) => {}
        other => panic!("expected a version conflict, got {other:?}"),
    }
    let stored = store
        .update_job(changed.clone(), 1, NextFire::Keep)
        .await
        .expect("update_job");
    assert_eq!((stored.version, stored.next_fire_at), (2, Some(at(60))));
    assert_eq!(stored.spec.target_url, "http://target.test/other");
    let stored = store
        .update_job(changed.clone(), 2, NextFire::Set(Some(at(120))))
        .await
        .expect("update_job");
    assert_eq!((stored.version, stored.next_fire_at), (3, Some(at(120))));
    assert_eq!(
        store.get_job(original.id).await.expect("get_job"),
        Some(stored)
    );
    let missing = job("0 * * * * *", None);
    assert!(matches!(
        store.update_job(missing, 1, NextFire::Keep).await,
        Err(Error::JobNotFound(_))
    ));
}

/// Deleting a job deletes its executions; deleting twice finds nothing.
pub async fn delete_removes_job_and_executions(store: &dyn Store) {
    let doomed = job("* * * * * *", Some(at(0)));
    let kept = job("* * * * * *", Some(at(0)));
    insert(store, &doomed).await;
    insert(store, &kept).await;
    let batch = store
        .claim_due(claim(at(0), 2, 100, "a"))
        .await
        .expect("claim_due");
    assert_eq!(batch.ticks.len(), 6);
    let doomed_execution = batch
        .ticks
        .iter()
        .find(|tick| tick.job.id == doomed.id)
        .expect("a tick")
        .execution
        .id;
    assert!(store.delete_job(doomed.id).await.expect("delete_job"));
    assert!(!store.delete_job(doomed.id).await.expect("delete_job"));
    assert_eq!(store.get_job(doomed.id).await.expect("get_job"), None);
    assert!(
        store
            .job_executions(doomed.id, 10)
            .await
            .expect("job_executions")
            .is_empty()
    );
    assert_eq!(
        store
            .get_execution(doomed_execution)
            .await
            .expect("get_execution"),
        None
    );
    assert_eq!(
        store
            .job_executions(kept.id, 10)
            .await
            .expect("job_executions")
            .len(),
        3
    );
    let later = store
        .claim_due(claim(at(5), 2, 100, "a"))
        .await
        .expect("claim_due");
    assert!(later.ticks.iter().all(|tick| tick.job.id == kept.id));
}

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

/// One execution per (job, instant); executions need their job.
pub async fn insert_execution_is_unique_per_tick(store: &dyn Store) {
    let job = job("0 0 0 * * *", Some(at(86_400)));
    insert(store, &job).await;
    let first = Execution::pending(job.id, at(5), ExecutionTrigger::Manual, "a");
    store
        .insert_execution(first.clone())
        .await
        .expect("insert_execution");
    assert_eq!(
        store.get_execution(first.id).await.expect("get_execution"),
        Some(first)
    );
    let twin = Execution::pending(job.id, at(5), ExecutionTrigger::Manual, "a");
    assert!(matches!(
        store.insert_execution(twin).await,
        Err(Error::DuplicateExecution { scheduled_at, .. }) if scheduled_at == at(5)
    ));
    let orphan = Execution::pending(JobId::new_random(), at(5), ExecutionTrigger::Manual, "a");
    assert!(matches!(
        store.insert_execution(orphan).await,
        Err(Error::JobNotFound(_))
    ));
}

/// Updates in one batch apply in order; unknown executions are ignored.
pub async fn record_results_applies_in_order(store: &dyn Store) {
    let job = job("0 0 0 * * *", Some(at(86_400)));
    insert(store, &job).await;
    let mut execution = Execution::pending(job.id, at(1), ExecutionTrigger::Schedule, "a");
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
    let unknown = Execution::pending(job.id, at(9), ExecutionTrigger::Schedule, "a").to_update();
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

/// Per-job and recent histories are newest first and limited.
pub async fn histories_are_newest_first(store: &dyn Store) {
    let a = job("* * * * * *", Some(at(0)));
    let b = job("*/2 * * * * *", Some(at(0)));
    insert(store, &a).await;
    insert(store, &b).await;
    store
        .claim_due(claim(at(0), 5, 100, "a"))
        .await
        .expect("claim_due");
    let of_a = store.job_executions(a.id, 4).await.expect("job_executions");
    assert_eq!(ticks(&of_a), [at(5), at(4), at(3), at(2)]);
    assert!(of_a.iter().all(|execution| execution.job_id == a.id));
    let recent = store.recent_executions(3).await.expect("recent_executions");
    assert_eq!(recent.len(), 3);
    assert!(
        recent
            .windows(2)
            .all(|pair| pair[0].scheduled_at >= pair[1].scheduled_at)
    );
    assert_eq!(recent[0].scheduled_at, at(5));
    assert_eq!(
        store
            .recent_executions(100)
            .await
            .expect("recent_executions")
            .len(),
        6 + 3
    );
}

/// Job queries filter by paused state and delivery type and page by id; counts add up.
pub async fn find_jobs_filters_and_pages(store: &dyn Store) {
    let mut jobs: Vec<Job> = (0..6).map(|_| job("0 * * * * *", Some(at(0)))).collect();
    jobs[0].spec.paused = true;
    jobs[1].spec.paused = true;
    jobs[2].spec.delivery = DeliveryType::AtMostOnce;
    jobs[3].spec.delivery = DeliveryType::AtMostOnce;
    jobs[3].spec.paused = true;
    for job in &jobs {
        insert(store, job).await;
    }
    let ids = |found: Vec<Job>| {
        let mut ids: Vec<JobId> = found.iter().map(|job| job.id).collect();
        ids.sort();
        ids
    };
    let sorted = |mut wanted: Vec<JobId>| {
        wanted.sort();
        wanted
    };
    let query = |paused, delivery| JobQuery {
        after: None,
        limit: 100,
        paused,
        delivery,
    };
    assert_eq!(
        store.count_jobs().await.expect("count_jobs"),
        JobCounts {
            active: 3,
            paused: 3
        }
    );
    let paused = store
        .find_jobs(query(Some(true), None))
        .await
        .expect("find_jobs");
    assert_eq!(
        ids(paused),
        sorted(vec![jobs[0].id, jobs[1].id, jobs[3].id])
    );
    let active_at_most_once = store
        .find_jobs(query(Some(false), Some(DeliveryType::AtMostOnce)))
        .await
        .expect("find_jobs");
    assert_eq!(ids(active_at_most_once), vec![jobs[2].id]);
    let at_least_once = store
        .find_jobs(query(None, Some(DeliveryType::AtLeastOnce)))
        .await
        .expect("find_jobs");
    assert_eq!(
        ids(at_least_once),
        sorted(vec![jobs[0].id, jobs[1].id, jobs[4].id, jobs[5].id])
    );
    // Pages of two with a filter: every match once, in id order.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .find_jobs(JobQuery {
                after,
                limit: 2,
                paused: Some(false),
                delivery: None,
            })
            .await
            .expect("find_jobs");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        after = page.last().map(|job| job.id);
        seen.extend(page.iter().map(|job| job.id));
    }
    assert!(seen.windows(2).all(|pair| pair[0] < pair[1]));
    assert_eq!(seen, sorted(vec![jobs[2].id, jobs[4].id, jobs[5].id]));
}

/// Execution queries filter by job and by status, newest first.
pub async fn find_executions_filters_by_job_and_status(store: &dyn Store) {
    let a = job("* * * * * *", Some(at(0)));
    let b = job("* * * * * *", Some(at(0)));
    insert(store, &a).await;
    insert(store, &b).await;
    let claimed = store
        .claim_due(claim(at(0), 3, 100, "node"))
        .await
        .expect("claim_due");
    // Every other execution of each job fails; the rest stay pending.
    let updates: Vec<_> = claimed
        .ticks
        .iter()
        .filter(|tick| tick.execution.scheduled_at.as_second() % 2 == 0)
        .map(|tick| {
            let mut execution = tick.execution.clone();
            execution.status = ExecutionStatus::Failed;
            execution.to_update()
        })
        .collect();
    store.record_results(updates).await.expect("record_results");
    let query = |job_id, status, limit| ExecutionQuery {
        job_id,
        status,
        limit,
    };
    let failed_of_a = store
        .find_executions(query(Some(a.id), Some(ExecutionStatus::Failed), 100))
        .await
        .expect("find_executions");
    assert_eq!(ticks(&failed_of_a), [at(2), at(0)]);
    assert!(failed_of_a.iter().all(|execution| execution.job_id == a.id));
    let pending = store
        .find_executions(query(None, Some(ExecutionStatus::Pending), 100))
        .await
        .expect("find_executions");
    assert_eq!(pending.len(), 4);
    assert!(
        pending
            .iter()
            .all(|execution| execution.status == ExecutionStatus::Pending)
    );
    assert_eq!(ticks(&pending)[..2], [at(3), at(3)]);
    let newest_failed = store
        .find_executions(query(None, Some(ExecutionStatus::Failed), 1))
        .await
        .expect("find_executions");
    assert_eq!(ticks(&newest_failed), [at(2)]);
    let failed = store
        .find_executions(query(None, Some(ExecutionStatus::Failed), 100))
        .await
        .expect("find_executions");
    assert_eq!(ticks(&failed), [at(2), at(2), at(0), at(0)]);
    assert!(
        failed
            .windows(2)
            .all(|pair| (pair[0].scheduled_at, pair[0].id) > (pair[1].scheduled_at, pair[1].id)),
        "newest tick first, then the greater id"
    );
    assert_eq!(newest_failed[0].id, failed[0].id);
    assert!(
        store
            .find_executions(query(Some(b.id), Some(ExecutionStatus::Succeeded), 100))
            .await
            .expect("find_executions")
            .is_empty()
    );
}

/// Recovery sees the pending and running executions of one owner, with their jobs.
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
    assert_eq!(
        store
            .unfinished_executions("nobody")
            .await
            .expect("unfinished_executions")
            .len(),
        0
    );
}

/// Retention deletes old and surplus finished executions, never unfinished ones.
pub async fn prune_keeps_unfinished_executions(store: &dyn Store) {
    let job = job("* * * * * *", Some(at(0)));
    insert(store, &job).await;
    let batch = store
        .claim_due(claim(at(0), 9, 100, "a"))
        .await
        .expect("claim_due");
    assert_eq!(batch.ticks.len(), 10);
    // Ticks 0..=7 finish; 8 and 9 stay pending.
    let finished: Vec<_> = batch.ticks[..8]
        .iter()
        .map(|tick| {
            let mut execution = tick.execution.clone();
            execution.status = ExecutionStatus::Succeeded;
            execution.to_update()
        })
        .collect();
    store
        .record_results(finished)
        .await
        .expect("record_results");
    let by_age = RetentionPolicy {
        max_per_job: None,
        max_age: Some(Duration::from_secs(10)),
    };
    // At 12 s, ticks before 2 s are older than 10 s: 0 and 1.
    assert_eq!(store.prune(by_age, at(12)).await.expect("prune"), 2);
    let by_count = RetentionPolicy {
        max_per_job: Some(3),
        max_age: None,
    };
    // Finished left: 2..=7; keep the newest 3 (5, 6, 7).
    assert_eq!(store.prune(by_count, at(12)).await.expect("prune"), 3);
    let left = store
        .job_executions(job.id, 100)
        .await
        .expect("job_executions");
    assert_eq!(ticks(&left), [at(9), at(8), at(7), at(6), at(5)]);
    let old = RetentionPolicy {
        max_per_job: Some(0),
        max_age: Some(Duration::ZERO),
    };
    assert_eq!(store.prune(old, at(100)).await.expect("prune"), 3);
    assert_eq!(
        store
            .job_executions(job.id, 100)
            .await
            .expect("job_executions")
            .len(),
        2
    );
}
