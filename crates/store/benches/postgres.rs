//! The PostgreSQL store's steady state: one second of the writer's work for 10,000 every-second
//! jobs (the claim of their ticks, then each execution's `RUNNING` and `SUCCEEDED` updates),
//! first on an empty history, then after 10 million finished executions have been added to it:
//! whether a long history slows claims.
//!
//! Needs a server: `SCHEDULER_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo
//! bench -p store --bench postgres`. Without the variable it says so and measures nothing. It
//! works in a schema of its own, dropped at the end.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use scheduler_core::{
    ClaimRequest, ClaimStore, DeliveryType, Job, JobId, JobSpec, JobStore, Schedule, Timestamp,
};
use store::{PostgresConfig, PostgresStore};

/// Every-second jobs, as many as scenario 1 of the load harness.
const JOBS: usize = 10_000;

/// Seconds of history added before the second variant: `JOBS` executions each.
const HISTORY_SECONDS: i64 = 1_000;

fn main() {
    let Ok(url) = std::env::var("SCHEDULER_TEST_POSTGRES_URL") else {
        eprintln!("skipped: SCHEDULER_TEST_POSTGRES_URL is not set");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let mut config = PostgresConfig::new(&url);
    config.schema = Some(schema.clone());
    let store = Arc::new(
        runtime
            .block_on(PostgresStore::connect(&config))
            .expect("the PostgreSQL store"),
    );
    // The history lies before the first cycle's tick, which is where the jobs start.
    let start = Timestamp::from_second(2_000_000_000).expect("a timestamp");
    runtime.block_on(insert_jobs(&store, start));

    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(20))
        .configure_from_args();
    let mut second = start.as_second();
    for history in [false, true] {
        if history {
            let begin = Instant::now();
            runtime.block_on(add_history(&url, &schema, start));
            eprintln!(
                "added {} executions of history in {:.0}s",
                JOBS as i64 * HISTORY_SECONDS,
                begin.elapsed().as_secs_f64()
            );
        }
        let mut group = criterion.benchmark_group("postgres");
        group.throughput(Throughput::Elements(JOBS as u64));
        let name = if history {
            "claim_and_results_10k_jobs_10m_history"
        } else {
            "claim_and_results_10k_jobs"
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let begin = Instant::now();
                for _ in 0..iterations {
                    let now = Timestamp::from_second(second).expect("a timestamp");
                    runtime.block_on(run_cycle(&store, now));
                    second += 1;
                }
                begin.elapsed()
            });
        });
        group.finish();
    }
    criterion.final_summary();
    drop(store);
    runtime.block_on(execute(&url, &format!("DROP SCHEMA {schema} CASCADE")));
}

/// Inserts `JOBS` every-second jobs due at `start`.
async fn insert_jobs(store: &Arc<PostgresStore>, start: Timestamp) {
    let schedule: Schedule = "* * * * * *".parse().expect("a valid schedule");
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..16 {
        let store = Arc::clone(store);
        let schedule = schedule.clone();
        tasks.spawn(async move {
            for _ in (chunk..JOBS).step_by(16) {
                let job = Job {
                    id: JobId::new_random(),
                    spec: JobSpec::new(
                        schedule.clone(),
                        "http://127.0.0.1:9/hook",
                        DeliveryType::AtLeastOnce,
                    ),
                    created_at: start,
                    updated_at: start,
                    next_fire_at: Some(start),
                    version: 1,
                    done_at: None,
                };
                store.insert_job(job).await.expect("insert a job");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("an insert task");
    }
}

/// One second of the writer's work at `now`: the claim of every due tick, then each
/// execution's `RUNNING` and `SUCCEEDED` updates in batches of 1,024, as the engine's writer
/// makes them.
async fn run_cycle(store: &PostgresStore, now: Timestamp) {
    let request = ClaimRequest {
        now,
        due_before: now,
        limit: JOBS,
        owner: "bench".to_owned(),
        lease_until: now,
        missed_before: Timestamp::MIN,
    };
    let claimed = store.claim_due(request).await.expect("claim");
    assert_eq!(claimed.ticks.len(), JOBS);
    common::record_running_then_succeeded(store, &claimed.ticks, now).await;
}

/// Adds `HISTORY_SECONDS` seconds of finished executions of every job before `start`, in
/// time order (as a running scheduler writes them), with time-ordered ids, then analyzes.
async fn add_history(url: &str, schema: &str, start: Timestamp) {
    let first = (start.as_second() - HISTORY_SECONDS) * 1_000;
    let last = (start.as_second() - 1) * 1_000;
    execute(
        url,
        &format!(
            "INSERT INTO {schema}.job_executions (id, job_id, scheduled_time, executed_time, status, \
             http_status, duration, finished_time, trigger, claimed_by, attempts) \
             SELECT (lpad(to_hex(t), 12, '0') || substr(replace(j.id::text, '-', ''), 13, 20))::uuid, \
             j.id, t, t, 'SUCCEEDED', 200, 1, t, 'SCHEDULE', 'bench', 1 \
             FROM generate_series({first}::bigint, {last}::bigint, 1000) AS t \
             CROSS JOIN {schema}.jobs j ORDER BY t, j.id"
        ),
    )
    .await;
    // Apart: VACUUM cannot run inside the implicit transaction of a multi-statement query.
    execute(url, &format!("VACUUM ANALYZE {schema}.job_executions")).await;
}

async fn execute(url: &str, statements: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the server answers");
    let connection = tokio::spawn(connection);
    client
        .batch_execute(statements)
        .await
        .unwrap_or_else(|error| panic!("{statements}: {error}"));
    drop(client);
    let _ = connection.await;
}
