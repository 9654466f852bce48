//! Shared helpers.

use std::time::Duration;

use scheduler_core::{DeliveryType, Job, JobId, JobSpec, Schedule, Timestamp};

/// A current-thread runtime for a test body.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

/// 2026-01-01T00:00:00Z.
pub(crate) fn base_time() -> Timestamp {
    Timestamp::from_second(1_767_225_600).expect("a valid timestamp")
}

/// A job with an every-second schedule whose watermark is `next_fire_at`.
pub(crate) fn job(next_fire_at: Option<Timestamp>) -> Job {
    let schedule: Schedule = "* * * * * *".parse().expect("a valid schedule");
    let mut spec = JobSpec::new(
        schedule,
        "http://127.0.0.1:9/hook",
        DeliveryType::AtLeastOnce,
    );
    spec.headers = vec![("X-Token".to_owned(), "a:b".to_owned())];
    spec.body = Some(b"{\"hello\":1}".to_vec().into());
    spec.attempt_timeout = Duration::from_millis(2500);
    Job {
        id: JobId::new_random(),
        spec,
        created_at: base_time(),
        updated_at: base_time(),
        next_fire_at,
        version: 1,
        done_at: None,
    }
}
