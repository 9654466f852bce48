//! Create, update, pause, resume, delete and trigger while the engine runs, including for ticks
//! already claimed inside the look-ahead window.

use std::time::Duration;

use scheduler_core::{DeliveryType, ExecutionStatus, ExecutionTrigger, VersionCheck};

use crate::support::{Harness, at, at_millis, spec};

#[tokio::test]
async fn a_job_created_inside_the_window_fires_on_time() {
    let harness = Harness::start().await;
    harness.clock.advance_to(at_millis(59_500));
    let job = harness
        .create(spec(
            "0 * * * * *",
            "http://target.test/ok",
            DeliveryType::AtLeastOnce,
        ))
        .await;
    assert_eq!(job.next_fire_at, Some(at(60)));
    harness.advance_to_and_expect_sent(at(60), 1).await;
    assert_eq!(harness.sent_for(&job)[0].sent_at, at(60));
}

#[tokio::test]
async fn an_update_inside_the_window_applies_to_the_claimed_tick() {
    let harness = Harness::start().await;
    let moved = harness
        .create(spec(
            "0 * * * * *",
            "http://target.test/ok",
            DeliveryType::AtLeastOnce,
        ))
        .await;
    let retargeted = harness
        .create(spec(
            "0 * * * * *",
            "http://target.test/old",
            DeliveryType::AtLeastOnce,
        ))
        .await;
    // At 58.5 s both 60 s ticks are claimed.
    harness.clock.advance_to(at_millis(58_500));
    harness
        .metrics_until("ticks claimed", |m| m.claimed == 2)
        .await;

    let mut new_schedule = moved.spec.clone();
    new_schedule.schedule = "30 * * * * *".parse().expect("a schedule");
    let updated = harness
        .engine
        .update_job(moved.id, new_schedule, VersionCheck::Exactly(1))
        .await
        .expect("update");
    assert_eq!((updated.version, updated.next_fire_at), (2, Some(at(90))));
    let mut new_target = retargeted.spec.clone();
    new_target.target_url = "http://target.test/new".to_owned();
    harness
        .engine
        .update_job(retargeted.id, new_target, VersionCheck::Any)
        .await
        .expect("update");
    let stale = harness
        .engine
        .update_job(moved.id, moved.spec.clone(), VersionCheck::Exactly(1))
        .await;
    assert!(
        matches!(
            stale,
            Err(scheduler_core::Error::VersionConflict { actual: 2, .. })
        ),
        "{stale:?}"
    );

    harness.advance_to_and_expect_sent(at(60), 1).await;
    harness
        .metrics_until("the old tick skipped", |m| m.skipped == 1)
        .await;
    assert_eq!(
        harness.sent_for(&retargeted)[0].url,
        "http://target.test/new"
    );
    assert!(harness.sent_for(&moved).is_empty());
    harness.advance_to_and_expect_sent(at(90), 2).await;
    assert_eq!(harness.sent_for(&moved)[0].scheduled_at, at(90));
    harness.engine.shutdown(Duration::ZERO).await;
    let first = &harness.executions_of(&moved)[0];
    assert_eq!(
        (first.scheduled_at, first.status),
        (at(60), ExecutionStatus::Skipped)
    );
}

#[tokio::test]
async fn pause_resume_trigger_and_delete_take_effect_at_once() {
    let harness = Harness::start().await;
    let job = harness
        .create(spec(
            "0 * * * * *",
            "http://target.test/ok",
            DeliveryType::AtLeastOnce,
        ))
        .await;
    let doomed = harness
        .create(spec(
            "0 * * * * *",
            "http://target.test/doomed",
            DeliveryType::AtLeastOnce,
        ))
        .await;
    harness.clock.advance_to(at_millis(58_500));
    harness
        .metrics_until("ticks claimed", |m| m.claimed == 2)
        .await;

    let paused = harness.engine.pause_job(job.id).await.expect("pause");
    assert!(paused.spec.paused);
    assert!(harness.engine.delete_job(doomed.id).await.expect("delete"));
    assert!(!harness.engine.delete_job(doomed.id).await.expect("delete"));
    harness.clock.advance_to(at(60));
    harness
        .metrics_until("paused tick skipped", |m| m.skipped == 1)
        .await;

    // Triggering works while paused, at once.
    harness.clock.advance_to(at(75));
    let triggered = harness.engine.trigger_now(job.id).await.expect("trigger");
    harness.advance_to_and_expect_sent(at(75), 1).await;
    // Paused: nothing at 120 s. Resumed at 150 s: the 180 s tick fires.
    harness.clock.advance_to(at(120));
    harness.engine.resume_job(job.id).await.expect("resume");
    harness.clock.advance_to(at(150));
    let resumed = harness.engine.resume_job(job.id).await.expect("resume");
    assert!(!resumed.spec.paused);
    harness.advance_to_and_expect_sent(at(180), 2).await;
    harness.engine.shutdown(Duration::ZERO).await;

    let sent: Vec<_> = harness
        .transport
        .sent()
        .iter()
        .map(|s| (s.job_id, s.scheduled_at, s.sent_at))
        .collect();
    assert_eq!(sent, [(job.id, at(75), at(75)), (job.id, at(180), at(180))]);
    let executions = harness.executions_of(&job);
    let summary: Vec<_> = executions
        .iter()
        .map(|e| (e.scheduled_at, e.trigger, e.status))
        .collect();
    assert_eq!(
        summary[..3],
        [
            (at(60), ExecutionTrigger::Schedule, ExecutionStatus::Skipped),
            (at(75), ExecutionTrigger::Manual, ExecutionStatus::Succeeded),
            (
                at(180),
                ExecutionTrigger::Schedule,
                ExecutionStatus::Succeeded
            ),
        ]
    );
    assert_eq!(executions[1].id, triggered);
    assert!(harness.executions_of(&doomed).is_empty());
    assert_eq!(
        harness.engine.get_job(doomed.id).await.expect("get_job"),
        None
    );
}

#[tokio::test]
async fn creations_queued_together_each_get_their_own_answer_and_first_tick() {
    let harness = Harness::start().await;
    // More than one batch of creations, every tenth one invalid, all queued at once.
    let mut creations = tokio::task::JoinSet::new();
    for index in 0..600 {
        let engine = harness.engine.clone();
        let url = if index % 10 == 0 {
            "ftp://target.test/nope"
        } else {
            "http://target.test/ok"
        };
        let spec = spec("* * * * * *", url, DeliveryType::AtLeastOnce);
        creations.spawn(async move { (index, engine.create_job(spec).await) });
    }
    let mut ids = std::collections::HashSet::new();
    while let Some(done) = creations.join_next().await {
        let (index, result) = done.expect("a creation task");
        match result {
            Ok(job) => {
                assert_ne!(index % 10, 0, "creation {index} should have failed");
                assert_eq!(job.next_fire_at, Some(at(1)));
                assert!(ids.insert(job.id), "job id {} given twice", job.id);
            }
            Err(error) => {
                assert_eq!(index % 10, 0, "creation {index} failed: {error}");
                assert!(error.to_string().contains("http://"), "{error}");
            }
        }
    }
    assert_eq!(ids.len(), 540);
    // Every created job's first tick was claimed before its creation answered.
    assert_eq!(harness.engine.metrics().claimed, 540 * 2);
    harness.advance_to_and_expect_sent(at(1), 540).await;
}

#[tokio::test]
async fn the_control_task_can_run_on_a_runtime_of_its_own() {
    // The server runs the control task on a runtime of its own, away from the attempts.
    let control = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("test-control")
        .build()
        .expect("a runtime for the control task");
    let harness = Harness::start_with_control_on(control.handle().clone()).await;
    let job = harness
        .create(spec(
            "* * * * * *",
            "http://target.test/ok",
            DeliveryType::AtLeastOnce,
        ))
        .await;
    let gone = harness
        .create(spec(
            "* * * * * *",
            "http://target.test/ok",
            DeliveryType::AtLeastOnce,
        ))
        .await;
    harness.advance_to_and_expect_sent(at(1), 2).await;
    let paused = harness.engine.pause_job(job.id).await.expect("pause");
    assert!(paused.spec.paused);
    assert!(harness.engine.delete_job(gone.id).await.expect("delete"));
    let manual = harness.engine.trigger_now(job.id).await.expect("trigger");
    harness.advance_to_and_expect_sent(at(5), 3).await;
    let sent = harness.sent_for(&job);
    assert_eq!(sent.len(), 2, "the tick at 1 s and the manual run");
    assert_eq!(sent[1].execution_id, manual);
    assert_eq!(harness.sent_for(&gone).len(), 1, "only the tick at 1 s");
    let report = harness.engine.shutdown(Duration::ZERO).await;
    assert_eq!(report.interrupted, 0);
    control.shutdown_background();
}
