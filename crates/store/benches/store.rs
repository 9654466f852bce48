//! Store throughput: claims, group-committed results, job inserts, on a temporary SQLite file.
//!
//! Run with `cargo bench -p store --bench store`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scheduler_core::{
    ClaimRequest, ClaimStore, DeliveryType, ExecutionQuery, ExecutionStatus, HistoryStore, Job,
    JobId, JobSpec, JobStore, RecoveryStore, RetentionPolicy, RetentionStore, Schedule, Timestamp,
};
use store::{SqliteConfig, SqliteStore};

const JOBS: usize = 1_000;

fn job(now: Timestamp) -> Job {
    let schedule: Schedule = "* * * * * *".parse().expect("a valid schedule");
    Job {
        id: JobId::new_random(),
        spec: JobSpec::new(
            schedule,
            "http://127.0.0.1:9/hook",
            DeliveryType::AtLeastOnce,
        ),
        created_at: now,
        updated_at: now,
        next_fire_at: Some(now),
        version: 1,
        done_at: None,
    }
}

/// Inserts `count` every-second jobs due at `start`, concurrently (their inserts share group
/// commits).
async fn insert_jobs(store: &Arc<SqliteStore>, count: usize, start: Timestamp) {
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let store = Arc::clone(store);
            tokio::spawn(async move { store.insert_job(job(start)).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("join").expect("insert");
    }
}

/// A claim of up to `limit` ticks due at `now`, none of them ever misfired.
fn claim_due_at(now: Timestamp, limit: usize) -> ClaimRequest {
    ClaimRequest {
        now,
        due_before: now,
        limit,
        owner: "bench".to_owned(),
        lease_until: now,
        missed_before: Timestamp::MIN,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Claims one tick of each of 1,000 every-second jobs per iteration (one transaction).
fn claims(c: &mut Criterion) {
    let runtime = runtime();
    let store = SqliteStore::open_temporary().expect("a store");
    let start = Timestamp::from_second(1_767_225_600).expect("a timestamp");
    runtime.block_on(async {
        for _ in 0..JOBS {
            store.insert_job(job(start)).await.expect("insert");
        }
    });
    let mut group = c.benchmark_group("sqlite");
    group.throughput(Throughput::Elements(JOBS as u64));
    let mut second = 0;
    group.bench_function("claim 1,000 due ticks", |b| {
        b.iter_custom(|iterations| {
            let begin = Instant::now();
            for _ in 0..iterations {
                let now = Timestamp::from_second(start.as_second() + second).expect("a timestamp");
                second += 1;
                let request = claim_due_at(now, 10_000);
                let claimed = runtime.block_on(store.claim_due(request)).expect("claim");
                assert_eq!(claimed.ticks.len(), JOBS);
            }
            begin.elapsed()
        });
    });

    // Results recorded one execution per call by 1,000 concurrent tasks: group commit.
    let pending = runtime
        .block_on(store.unfinished_executions("bench"))
        .expect("unfinished executions");
    let pending = Arc::new(pending);
    let store = Arc::new(store);
    group.bench_function("record 1,000 results, one call each, concurrently", |b| {
        b.iter_custom(|iterations| {
            let begin = Instant::now();
            for _ in 0..iterations {
                runtime.block_on(async {
                    let mut tasks = Vec::with_capacity(JOBS);
                    for tick in pending.iter().take(JOBS) {
                        let store = Arc::clone(&store);
                        let mut execution = tick.execution.clone();
                        execution.status = ExecutionStatus::Succeeded;
                        tasks.push(tokio::spawn(async move {
                            store.record_results(vec![execution.to_update()]).await
                        }));
                    }
                    for task in tasks {
                        task.await.expect("join").expect("record");
                    }
                });
            }
            begin.elapsed()
        });
    });

    group.bench_function("insert 1,000 jobs concurrently", |b| {
        b.iter_custom(|iterations| {
            let begin = Instant::now();
            for _ in 0..iterations {
                runtime.block_on(insert_jobs(&store, JOBS, start));
            }
            begin.elapsed()
        });
    });
    group.finish();
}

/// Jobs in the steady-state cycle: as many every-second jobs as scenario 1 of the load harness.
const CYCLE_JOBS: usize = 10_000;

/// Cycles run, untimed, before the measured ones in the variant with a history: 1,000,000
/// finished executions, 100 seconds of `CYCLE_JOBS`.
const HISTORY_CYCLES: i64 = 100;

/// Cycles per round of the per-job history index: the store's default interval (10 s) at one
/// cycle a second.
const CYCLES_PER_HISTORY_ROUND: i64 = 10;

/// One second of the writer's work for `CYCLE_JOBS` every-second jobs at `now`: the claim of
/// every due tick, then each execution's `RUNNING` and `SUCCEEDED` updates in batches of 1,024,
/// and, every `CYCLES_PER_HISTORY_ROUND` seconds, the round that indexes those seconds' history
/// (run here, in line, instead of on the store's thread at wall-clock times, so that every
/// sample carries its share).
async fn run_cycle(store: &SqliteStore, now: Timestamp) {
    let request = claim_due_at(now, CYCLE_JOBS);
    let claimed = store.claim_due(request).await.expect("claim");
    assert_eq!(claimed.ticks.len(), CYCLE_JOBS);
    common::record_running_then_succeeded(store, &claimed.ticks, now).await;
    if now.as_second() % CYCLES_PER_HISTORY_ROUND == CYCLES_PER_HISTORY_ROUND - 1 {
        let next = Timestamp::from_second(now.as_second() + 1).expect("a timestamp");
        store.index_history(next).await.expect("a history round");
    }
}

/// The writer's whole work for one second of `CYCLE_JOBS` every-second jobs, as the engine
/// drives it ([`run_cycle`]). The executions finish, so the unfinished-executions index stays
/// small, as in a running scheduler. Three variants: on a fresh database with SQLite's default
/// page size (4 KiB), on a fresh one with the store's (16 KiB), and with the store's after
/// `HISTORY_CYCLES` untimed cycles (a million executions of history), which shows what the
/// history costs each claim (docs/PERFORMANCE.md). A fourth variant runs, untimed before each
/// cycle, an operator's query that reads the whole history on a read connection (failed
/// executions, of which there are none), which shows whether the readers take the writer's
/// page cache. Every measured cycle adds 10,000 rows, so the history grows by up to a few
/// hundred thousand rows while a variant is measured.
fn cycle(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("sqlite");
    group.throughput(Throughput::Elements(CYCLE_JOBS as u64));
    let variants = [
        (4_096, 0, false),
        (SqliteConfig::DEFAULT_PAGE_SIZE, 0, false),
        (SqliteConfig::DEFAULT_PAGE_SIZE, HISTORY_CYCLES, false),
        (SqliteConfig::DEFAULT_PAGE_SIZE, HISTORY_CYCLES, true),
    ];
    for (page_size, history, long_reads) in variants {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let config = SqliteConfig {
            page_size,
            // Rounds run in `run_cycle`, not on the store's thread.
            history_interval: Duration::from_secs(24 * 3600),
            ..SqliteConfig::new(directory.path().join("cycle.db"))
        };
        let store = Arc::new(SqliteStore::open(&config).expect("a store"));
        let start = Timestamp::from_second(1_767_225_600).expect("a timestamp");
        runtime.block_on(insert_jobs(&store, CYCLE_JOBS, start));
        let at =
            |second: i64| Timestamp::from_second(start.as_second() + second).expect("a timestamp");
        runtime.block_on(async {
            for second in 0..history {
                run_cycle(&store, at(second)).await;
            }
        });
        let mut second = history;
        let name = format!(
            "cycle: claim 10,000 ticks, record RUNNING and SUCCEEDED, {} KiB pages, {} executions of history{}",
            page_size / 1024,
            history * CYCLE_JOBS as i64,
            if long_reads {
                ", after a long read on a read connection"
            } else {
                ""
            }
        );
        let failed = ExecutionQuery {
            job_id: None,
            status: Some(ExecutionStatus::Failed),
            limit: 100,
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iterations {
                    if long_reads {
                        let found = runtime
                            .block_on(store.find_executions(failed.clone()))
                            .expect("the query");
                        assert!(found.is_empty());
                    }
                    let begin = Instant::now();
                    runtime.block_on(run_cycle(&store, at(second)));
                    elapsed += begin.elapsed();
                    second += 1;
                }
                elapsed
            });
        });
    }
    group.finish();
}

/// Jobs and finished executions per job before [`prune_per_job`] runs, and how many it keeps.
const PRUNE_JOBS: usize = 1_000;
const PRUNE_HISTORY: usize = 150;
const PRUNE_KEEP: usize = 100;

/// Retention by count: `PRUNE_JOBS` every-second jobs with `PRUNE_HISTORY` finished executions
/// each, pruned to the newest `PRUNE_KEEP` per job (50,000 deletions). Only the prune is timed;
/// each iteration builds its history on a fresh store first.
fn prune_per_job(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("sqlite");
    group.throughput(Throughput::Elements(
        (PRUNE_JOBS * (PRUNE_HISTORY - PRUNE_KEEP)) as u64,
    ));
    let start = Timestamp::from_second(1_767_225_600).expect("a timestamp");
    let name = format!(
        "prune {PRUNE_JOBS} jobs x {PRUNE_HISTORY} finished executions to {PRUNE_KEEP} each"
    );
    group.bench_function(name, |b| {
        b.iter_custom(|iterations| {
            let mut spent = Duration::ZERO;
            for _ in 0..iterations {
                let store = Arc::new(SqliteStore::open_temporary().expect("a store"));
                runtime.block_on(async {
                    insert_jobs(&store, PRUNE_JOBS, start).await;
                    for second in 0..PRUNE_HISTORY {
                        let now = Timestamp::from_second(start.as_second() + second as i64)
                            .expect("a timestamp");
                        let request = claim_due_at(now, PRUNE_JOBS);
                        let claimed = store.claim_due(request).await.expect("claim");
                        let updates = claimed
                            .ticks
                            .iter()
                            .map(|tick| {
                                let mut execution = tick.execution.clone();
                                execution.status = ExecutionStatus::Succeeded;
                                execution.attempts = 1;
                                execution.executed_at = Some(now);
                                execution.finished_at = Some(now);
                                execution.to_update()
                            })
                            .collect();
                        store.record_results(updates).await.expect("record");
                    }
                });
                let policy = RetentionPolicy {
                    max_per_job: Some(PRUNE_KEEP),
                    max_age: None,
                };
                let now = Timestamp::from_second(start.as_second() + PRUNE_HISTORY as i64)
                    .expect("a timestamp");
                let begin = Instant::now();
                let pruned = runtime.block_on(store.prune(policy, now)).expect("prune");
                spent += begin.elapsed();
                assert_eq!(pruned as usize, PRUNE_JOBS * (PRUNE_HISTORY - PRUNE_KEEP));
            }
            spent
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5));
    targets = claims, cycle, prune_per_job
}
criterion_main!(benches);
