//! Embedding the engine: a job every two seconds, sent by a transport that prints, for six
//! seconds of real time, then a graceful shutdown.
//!
//! Run with `cargo run -p scheduler-core --example embed`.

use std::sync::Arc;
use std::time::Duration;

use scheduler_core::{
    AttemptError, AttemptOutcome, AttemptRequest, BoxFuture, DeliveryType, Engine, JobSpec,
    MemoryStore, Transport,
};

/// Stands in for the HTTP transport of the `executor` crate.
struct PrintTransport;

impl Transport for PrintTransport {
    fn send(
        &self,
        request: AttemptRequest,
    ) -> BoxFuture<'static, Result<AttemptOutcome, AttemptError>> {
        println!(
            "{} {} (attempt {}, tick {})",
            request.job.spec.method.as_str(),
            request.job.spec.target_url,
            request.attempt,
            request.scheduled_at
        );
        Box::pin(async {
            Ok(AttemptOutcome {
                status: 200,
                duration: Duration::ZERO,
                retry_after: None,
            })
        })
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), scheduler_core::Error> {
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::builder(store, Arc::new(PrintTransport))
        .start()
        .await?;

    let schedule = "*/2 * * * * *".parse().expect("a valid schedule");
    let job = engine
        .create_job(JobSpec::new(
            schedule,
            "https://example.com/hook",
            DeliveryType::AtLeastOnce,
        ))
        .await?;
    if let Some(schedule) = job.spec.schedule.cron() {
        println!("created job {} ({})", job.id, schedule.explain());
    }

    tokio::time::sleep(Duration::from_secs(6)).await;
    let report = engine.shutdown(Duration::from_secs(5)).await;
    let metrics = engine.metrics();
    println!(
        "fired {}, succeeded {}, drift p99 {:?}; shutdown: {report:?}",
        metrics.fired, metrics.succeeded, metrics.drift.p99
    );
    Ok(())
}
