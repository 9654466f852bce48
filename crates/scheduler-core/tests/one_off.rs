//! One-off jobs (`Timing::Once`) and windows (`start_at`, `end_at`): they fire as their
//! timing says, retry like any job, and end marked done (or deleted) once their last
//! execution finishes.

use scheduler_core::testing::FakeReply;
use scheduler_core::{
    DeliveryType, Error, ExecutionStatus, Job, JobField, JobStore, Timestamp, Timing, VersionCheck,
};

use crate::support::{Harness, at, spec, within};

/// A one-off spec: fires once at `run_at`.
fn once(run_at: Timestamp, url: &str) -> scheduler_core::JobSpec {
    let mut spec = spec("* * * * * *", url, DeliveryType::AtLeastOnce);
    spec.schedule = Timing::Once(run_at);
    spec
}

/// Waits until the stored job satisfies `condition` (`None`: the job is gone).
async fn job_until(
    harness: &Harness,
    job: &Job,
    what: &str,
    condition: impl Fn(Option<&Job>) -> bool,
) {
    within(what, async {
        loop {
            let stored = harness.store.get_job(job.id).await.expect("get_job");
            if condition(stored.as_ref()) {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_one_off_job_fires_once_then_is_done() {
    let harness = Harness::start().await;
    let job = harness.create(once(at(30), "http://target.test/ok")).await;
    assert_eq!(job.next_fire_at, Some(at(30)));
    assert_eq!(job.done_at, None);
    harness.advance_to_and_expect_sent(at(30), 1).await;
    job_until(&harness, &job, "the job is done", |job| {
        job.is_some_and(|job| job.done_at == Some(at(30)))
    })
    .await;
    let stored = harness
        .store
        .get_job(job.id)
        .await
        .expect("get_job")
        .expect("kept");
    assert_eq!(stored.next_fire_at, None);
    // No further tick, however long the clock runs.
    harness.clock.advance_to(at(86_400));
    harness
        .metrics_until("fired once", |m| m.fired == 1 && m.succeeded == 1)
        .await;
    let executions = harness.executions_of(&job);
    assert_eq!(executions.len(), 1);
    assert_eq!(executions[0].scheduled_at, at(30));
    assert_eq!(executions[0].status, ExecutionStatus::Succeeded);
    assert_eq!(harness.sent_for(&job).len(), 1);
}

#[tokio::test]
async fn a_one_off_job_is_done_only_after_its_retries() {
    let harness = Harness::start().await;
    let url = "http://target.test/failing";
    harness.transport.script(
        url,
        vec![
            FakeReply::Status(503),
            FakeReply::Status(503),
            FakeReply::Status(503),
        ],
    );
    let job = harness.create(once(at(10), url)).await;
    harness.advance_to_and_expect_sent(at(10), 1).await;
    harness
        .metrics_until("first retry", |m| m.retried == 1)
        .await;
    // Backoff 1 s, then 2 s: attempts at 10, 11 and 13 s.
    harness.advance_to_and_expect_sent(at(11), 2).await;
    harness
        .metrics_until("second retry", |m| m.retried == 2)
        .await;
    let stored = harness
        .store
        .get_job(job.id)
        .await
        .expect("get_job")
        .expect("kept");
    assert_eq!(stored.done_at, None, "not done while a retry waits");
    harness.advance_to_and_expect_sent(at(13), 3).await;
    job_until(&harness, &job, "done after the last attempt", |job| {
        job.is_some_and(|job| job.done_at == Some(at(13)))
    })
    .await;
    let executions = harness.executions_of(&job);
    assert_eq!(executions.len(), 1);
    assert_eq!(executions[0].status, ExecutionStatus::Failed);
    assert_eq!(executions[0].attempts, 3);
}

#[tokio::test]
async fn delete_after_run_deletes_the_job_once_done() {
    let harness = Harness::start().await;
    let mut spec = once(at(5), "http://target.test/ok");
    spec.delete_after_run = true;
    let job = harness.create(spec).await;
    harness.advance_to_and_expect_sent(at(5), 1).await;
    job_until(&harness, &job, "the job is deleted", |job| job.is_none()).await;
    assert!(harness.executions_of(&job).is_empty());
}

#[tokio::test]
async fn a_window_bounds_the_ticks_and_the_job_is_done_after_its_end() {
    let harness = Harness::start().await;
    let mut every_ten = spec(
        "*/10 * * * * *",
        "http://target.test/ok",
        DeliveryType::AtLeastOnce,
    );
    every_ten.start_at = Some(at(25));
    every_ten.end_at = Some(at(55));
    let job = harness.create(every_ten).await;
    assert_eq!(job.next_fire_at, Some(at(30)), "no tick before startAt");
    harness.advance_to_and_expect_sent(at(50), 3).await;
    job_until(
        &harness,
        &job,
        "done after the last tick in the window",
        |job| job.is_some_and(|job| job.done_at == Some(at(50))),
    )
    .await;
    harness.clock.advance_to(at(600));
    harness
        .metrics_until("three fired", |m| m.fired == 3 && m.succeeded == 3)
        .await;
    let ticks: Vec<Timestamp> = harness
        .sent_for(&job)
        .iter()
        .map(|s| s.scheduled_at)
        .collect();
    assert_eq!(ticks, [at(30), at(40), at(50)]);
}

#[tokio::test]
async fn a_done_job_may_be_triggered_and_stays_done() {
    let harness = Harness::start().await;
    let job = harness.create(once(at(1), "http://target.test/ok")).await;
    harness.advance_to_and_expect_sent(at(1), 1).await;
    job_until(&harness, &job, "done", |job| {
        job.is_some_and(|job| job.done_at.is_some())
    })
    .await;
    harness.clock.advance_to(at(20));
    harness
        .engine
        .trigger_now(job.id)
        .await
        .expect("trigger a done job");
    harness
        .metrics_until("the trigger ran", |m| m.succeeded == 2)
        .await;
    let stored = harness
        .store
        .get_job(job.id)
        .await
        .expect("get_job")
        .expect("kept");
    assert_eq!(
        stored.done_at,
        Some(at(1)),
        "still done, from its last tick"
    );
    assert_eq!(harness.executions_of(&job).len(), 2);
}

#[tokio::test]
async fn a_new_run_at_makes_a_done_job_fire_again() {
    let harness = Harness::start().await;
    let job = harness.create(once(at(1), "http://target.test/ok")).await;
    harness.advance_to_and_expect_sent(at(1), 1).await;
    job_until(&harness, &job, "done", |job| {
        job.is_some_and(|job| job.done_at.is_some())
    })
    .await;
    let updated = harness
        .engine
        .update_job(
            job.id,
            once(at(60), "http://target.test/ok"),
            VersionCheck::Any,
        )
        .await
        .expect("update");
    assert_eq!(
        (updated.next_fire_at, updated.done_at),
        (Some(at(60)), None)
    );
    harness.advance_to_and_expect_sent(at(60), 2).await;
    job_until(&harness, &job, "done again", |job| {
        job.is_some_and(|job| job.done_at == Some(at(60)))
    })
    .await;
}

#[tokio::test]
async fn a_run_at_within_the_misfire_threshold_fires_late_and_older_is_refused() {
    let harness = Harness::start().await;
    harness.clock.advance_to(at(100));
    let late = harness.create(once(at(95), "http://target.test/ok")).await;
    harness.advance_to_and_expect_sent(at(100), 1).await;
    let sent = harness.sent_for(&late);
    assert_eq!((sent[0].scheduled_at, sent[0].sent_at), (at(95), at(100)));

    let refused = |result: Result<Job, Error>, expected: JobField| match result {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, expected),
        other => panic!("expected a refusal of {expected:?}, got {other:?}"),
    };
    refused(
        harness
            .engine
            .create_job(once(at(89), "http://target.test/ok"))
            .await,
        JobField::RunAt,
    );
    let mut ended = spec(
        "* * * * * *",
        "http://target.test/ok",
        DeliveryType::AtLeastOnce,
    );
    ended.end_at = Some(at(50));
    refused(
        harness.engine.create_job(ended.clone()).await,
        JobField::EndAt,
    );
    ended.start_at = Some(at(500));
    ended.end_at = Some(at(400));
    refused(harness.engine.create_job(ended).await, JobField::EndAt);
    let mut bounded_once = once(at(200), "http://target.test/ok");
    bounded_once.start_at = Some(at(150));
    refused(
        harness.engine.create_job(bounded_once).await,
        JobField::StartAt,
    );
    assert_eq!(harness.sent_for(&late).len(), 1);
}
