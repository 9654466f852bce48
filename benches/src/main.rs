//! `harness`: the end-to-end load harness of the scheduler.
//!
//! It starts a sink HTTP server on 127.0.0.1 that records each request's arrival and its
//! `X-Scheduler-Scheduled-Time`, runs the scheduler (the real `scheduler serve` binary, or the
//! engine with the real SQLite store and HTTP transport in this process), registers jobs,
//! lets them fire for a bounded window, and reports throughput, drift, the exact count of
//! ticks expected / delivered / recorded (missed and duplicated), CPU seconds, peak RSS and
//! job creations per second. Beside it: a plain hyper client against the same sink (the
//! baseline), and `tokio-cron-scheduler` on the same jobs (`harness tcs`).
//!
//! It is not a test: nothing here asserts a timing. CI only compiles it; the commands and the
//! numbers are in `docs/PERFORMANCE.md`. Every loop is bounded in count and time, and every
//! address is loopback.

mod baseline;
mod cli;
mod clock;
mod database;
mod nodes;
mod postgres;
mod procstat;
mod queues;
mod register;
mod report;
mod sink;
mod target;
mod tcs;
mod ticks;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use scheduler_core::EngineConfig;

use crate::cli::{BaselineArgs, Cli, Command, CreateArgs, Mode, RunArgs, SeedArgs, TcsArgs};
use crate::clock::{sleep_until_unix_millis, unix_millis};
use crate::database::{read_database, read_jobs, rewind_watermarks, work_directory};
use crate::nodes::{BinaryNodes, NodesConfig};
use crate::report::Report;
use crate::sink::Sink;
use crate::target::{BinaryScheduler, ENGINE_THREADS, InProcessScheduler};
use crate::ticks::{Delivery, Tally};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("harness")
        .build()?;
    match cli.command {
        Command::Run(args) => runtime.block_on(run(*args)),
        Command::Baseline(args) => runtime.block_on(baseline_only(args)),
        Command::Create(args) => runtime.block_on(create_only(args)),
        Command::Seed(args) => runtime.block_on(seed_only(args)),
        Command::Queues(args) => runtime.block_on(queues::run(args)),
        // tokio-cron-scheduler gets its own runtime, so its threads' CPU can be told apart.
        Command::Tcs(args) => tcs_only(&args),
    }
}

/// The sink on its own runtime (threads named `sink`), so its CPU can be told apart.
///
/// Dropping it (also on an early error return inside the harness's own runtime, where a
/// runtime may not be dropped in the ordinary, blocking way) stops the sink and shuts its
/// runtime down in the background.
struct SinkRuntime {
    runtime: Option<tokio::runtime::Runtime>,
    sink: Sink,
}

impl SinkRuntime {
    /// Runs the plain-client baseline against this sink for `duration` (none if zero), and
    /// forgets its requests so that they are not counted as ticks.
    async fn baseline(
        &self,
        when: &str,
        concurrency: usize,
        duration: Duration,
    ) -> anyhow::Result<Option<baseline::BaselineStats>> {
        if duration.is_zero() {
            return Ok(None);
        }
        eprintln!("baseline{when}: {concurrency} plain clients for {duration:?}");
        let stats = baseline::run(self.sink.address(), concurrency, duration).await?;
        let _ = self.sink.take_untracked();
        Ok(Some(stats))
    }

    async fn start(delay: Duration, port: u16) -> anyhow::Result<SinkRuntime> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("sink")
            .build()?;
        let sink = runtime.spawn(Sink::start(delay, port)).await??;
        Ok(SinkRuntime {
            runtime: Some(runtime),
            sink,
        })
    }

    fn stop(self) {
        drop(self);
    }
}

impl Drop for SinkRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.duration <= Duration::from_secs(600),
        "--duration is at most 10m"
    );
    if let Some(source) = &args.from_db {
        anyhow::ensure!(
            source.is_file(),
            "--from-db {}: no such database (make one with `harness seed`)",
            source.display()
        );
    }
    anyhow::ensure!(
        args.postgres.is_none() || args.scheduler.mode == Mode::Binary,
        "--postgres runs the scheduler binary (--mode binary)"
    );
    anyhow::ensure!((1..=16).contains(&args.nodes), "--nodes is 1 to 16");
    anyhow::ensure!(
        args.nodes == 1 || args.postgres.is_some(),
        "--nodes above 1 needs --postgres: the nodes share its database"
    );
    anyhow::ensure!(
        args.slow_jobs == 0
            || (args.scheduler.mode == Mode::Binary && !args.seed && args.from_db.is_none()),
        "--slow-jobs registers through the API: binary mode, without --seed or --from-db"
    );
    let directory = work_directory(args.scheduler.keep.as_deref())?;
    let db = target::database_in(directory.path());
    let postgres = match &args.postgres {
        Some(url) => Some(postgres::PostgresRun::start(url).await?),
        None => None,
    };
    let db_arg = match &postgres {
        Some(run) => std::ffi::OsString::from(run.scheduler_url()),
        None => db.clone().into_os_string(),
    };
    let sink = SinkRuntime::start(args.delay, args.sink_port).await?;
    let slow_sink = match args.slow_jobs {
        0 => None,
        _ => Some(SinkRuntime::start(args.slow_delay, 0).await?),
    };
    let mut report = Report::new(&args.label);
    report.set_config(&args);
    report.nodes = args.nodes;

    let baseline_concurrency = args
        .baseline_concurrency
        .unwrap_or(if args.delay.is_zero() {
            64
        } else {
            args.scheduler.max_in_flight.unwrap_or(1_024)
        });
    report.baseline = sink
        .baseline("", baseline_concurrency, args.baseline_duration)
        .await?;

    let mut jobs = Vec::new();
    if args.seed {
        eprintln!("seeding {} jobs into {}", args.jobs, db.display());
        let (seeded, stats) =
            target::seed(&db, &sink.sink.url(), args.schedules, args.jobs, 512).await?;
        report.seeding = Some(stats);
        jobs = seeded;
    }
    if let Some(source) = &args.from_db {
        for suffix in ["", "-wal"] {
            let from = PathBuf::from(format!("{}{suffix}", source.display()));
            let to = PathBuf::from(format!("{}{suffix}", db.display()));
            if from.exists() {
                std::fs::copy(&from, &to)
                    .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
            }
        }
        jobs = read_jobs(&db).with_context(|| format!("reading the jobs of {}", db.display()))?;
        eprintln!("starting from {} jobs of {}", jobs.len(), source.display());
    }
    if args.seed || args.from_db.is_some() {
        let started = Instant::now();
        rewind_watermarks(&db, &jobs)?;
        eprintln!(
            "watermarks set to now in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }

    let config = EngineConfig {
        max_in_flight: args
            .scheduler
            .max_in_flight
            .unwrap_or(EngineConfig::default().max_in_flight),
        ..EngineConfig::default()
    };
    let scheduler = match args.scheduler.mode {
        Mode::Binary => {
            let mut extra = args.scheduler.scheduler_args.clone();
            if let Some(limit) = args.scheduler.max_in_flight {
                extra.extend(["--max-in-flight".to_owned(), limit.to_string()]);
            }
            let nodes = BinaryNodes::start(&NodesConfig {
                binary: &args.scheduler.scheduler_bin,
                db: &db_arg,
                extra_args: &extra,
                log_directory: directory.path(),
                count: args.nodes,
                time_limit: Duration::from_secs(120),
            })?;
            report.idle_rss_bytes = Some(nodes.usage().rss_bytes);
            Scheduler::Binary(nodes)
        }
        Mode::InProcess => Scheduler::InProcess(InProcessScheduler::start(&db, config).await?),
    };
    report.start_up_seconds = Some(scheduler.start_up().as_secs_f64());
    eprintln!("scheduler up in {:?}", scheduler.start_up());

    if !args.seed && args.from_db.is_none() {
        eprintln!(
            "registering {} jobs with {} clients",
            args.jobs, args.create_concurrency
        );
        let (registered, stats) = match &scheduler {
            Scheduler::Binary(nodes) => {
                register::through_api(
                    &nodes.apis(),
                    &sink.sink.url(),
                    (args.schedules, args.delivery),
                    args.jobs,
                    args.create_concurrency,
                    args.register_limit,
                )
                .await?
            }
            Scheduler::InProcess(engine) => {
                engine
                    .register(
                        &sink.sink.url(),
                        (args.schedules, args.delivery),
                        args.jobs,
                        args.create_concurrency,
                        args.register_limit,
                    )
                    .await?
            }
        };
        eprintln!(
            "registered {} jobs in {:.1}s ({:.0}/s, p99 {:.1} ms)",
            stats.created, stats.seconds, stats.per_second, stats.latency.p99_ms
        );
        report.creation = Some(stats);
        jobs = registered;
    }
    if let (Some(slow), Scheduler::Binary(nodes)) = (&slow_sink, &scheduler) {
        eprintln!(
            "registering {} jobs at the slow sink ({:?})",
            args.slow_jobs, args.slow_delay
        );
        let (slow_jobs, _) = register::through_api(
            &nodes.apis(),
            &slow.sink.url(),
            (args.schedules, args.delivery),
            args.slow_jobs,
            args.create_concurrency,
            args.register_limit,
        )
        .await?;
        report.slow_target = Some((slow_jobs.len(), 0));
    }
    report.jobs = jobs.len();

    let start_ms = tcs::window_start(unix_millis(), args.warmup);
    let end_ms = start_ms + args.duration.as_millis() as i64;
    let mut tally = Tally::new(&jobs, start_ms, end_ms)?;
    drop(jobs);
    report.window = Some((start_ms, end_ms));

    sleep_until_unix_millis(start_ms).await;
    let probe = match &scheduler {
        Scheduler::Binary(nodes) if args.api_probe_rate > 0 => {
            Some(tokio::spawn(register::probe_api(
                nodes.first_api(),
                sink.sink.url(),
                Duration::from_secs(1) / args.api_probe_rate,
                Instant::now() + args.duration,
            )))
        }
        _ => None,
    };
    let postgres_start = match &postgres {
        Some(run) => Some(run.usage().await?),
        None => None,
    };
    let cpu_start = scheduler.cpu_seconds();
    let sink_cpu_start = procstat::own_threads(&["sink"]);
    let threads_start = scheduler.threads();
    let window_started = Instant::now();
    while unix_millis() < end_ms {
        let left = end_ms - unix_millis();
        tokio::time::sleep(Duration::from_millis(left.clamp(0, 10_000) as u64)).await;
        eprintln!(
            "  {:>4.0}s into the window, cpu {:.1}s",
            window_started.elapsed().as_secs_f64(),
            scheduler.cpu_seconds() - cpu_start
        );
    }
    report.window_cpu_seconds = Some(scheduler.cpu_seconds() - cpu_start);
    report.thread_cpu_seconds = procstat::difference(&threads_start, &scheduler.threads());
    report.sink_cpu_seconds = Some(procstat::own_threads(&["sink"]) - sink_cpu_start);
    if let (Some(run), Some(start)) = (&postgres, postgres_start) {
        let end = run.usage().await?;
        report.postgres = Some((
            end.cpu_seconds - start.cpu_seconds,
            end.wal_bytes - start.wal_bytes,
        ));
    }
    if let Some(probe) = probe {
        report.api_probe = Some(probe.await??);
    }
    tokio::time::sleep(args.delay + args.settle).await;

    let grace = args.delay + Duration::from_secs(10);
    match scheduler {
        Scheduler::Binary(nodes) => {
            report.engine_metrics = nodes.metrics(Duration::from_secs(10)).await;
            let (usage, exit) = nodes.stop(grace).await?;
            report.peak_rss_bytes = Some(usage.peak_rss_bytes);
            report.final_rss_split = Some((usage.rss_anon_bytes, usage.rss_file_bytes));
            report.total_cpu_seconds = Some(usage.cpu_seconds);
            report.exit_code = exit;
        }
        Scheduler::InProcess(engine) => {
            report.total_cpu_seconds = Some(procstat::own_threads(ENGINE_THREADS));
            engine.stop(grace).await?;
            // Of the whole harness process: the sink's records are included.
            let usage = procstat::process(std::process::id()).unwrap_or_default();
            report.peak_rss_bytes = Some(usage.peak_rss_bytes);
        }
    }
    tally.add_arrivals(&sink.sink.take_arrivals());
    if let (Some(slow), Some((_, requests))) = (slow_sink, report.slow_target.as_mut()) {
        *requests = slow.sink.take_arrivals().len();
        slow.stop();
    }
    report.unparsable_requests = sink.sink.unparsable();
    // Again after the run: the machine's speed moves within minutes, and the fraction of the
    // baseline is read against both.
    report.baseline_after = sink
        .baseline(
            " after the run",
            baseline_concurrency,
            args.baseline_duration,
        )
        .await?;
    sink.stop();
    match postgres {
        Some(run) => {
            run.read_executions(start_ms, end_ms, &mut tally).await?;
            run.finish().await?;
        }
        None => read_database(&db, start_ms, end_ms, &mut tally)
            .with_context(|| format!("reading {}", db.display()))?,
    }
    report.ticks = Some(tally.ticks());
    report.drift = Some(tally.drift());
    report.drift_by_second = Some(tally.seconds());
    report.finish(args.json.as_deref())?;
    if args.scheduler.keep.is_none() {
        drop(directory);
    }
    Ok(())
}

/// The scheduler under test: `scheduler serve` processes (one, or several on PostgreSQL), or
/// the engine in this process.
enum Scheduler {
    Binary(BinaryNodes),
    InProcess(InProcessScheduler),
}

impl Scheduler {
    fn start_up(&self) -> Duration {
        match self {
            Scheduler::Binary(nodes) => nodes.start_up(),
            Scheduler::InProcess(engine) => engine.start_up,
        }
    }

    /// CPU seconds by thread name: of the scheduler's processes (added up), or of this whole
    /// process.
    fn threads(&self) -> std::collections::BTreeMap<String, f64> {
        match self {
            Scheduler::Binary(nodes) => nodes.threads(),
            Scheduler::InProcess(_) => procstat::threads_by_name(None),
        }
    }

    fn cpu_seconds(&self) -> f64 {
        match self {
            Scheduler::Binary(nodes) => nodes.usage().cpu_seconds,
            Scheduler::InProcess(_) => procstat::own_threads(ENGINE_THREADS),
        }
    }
}

async fn seed_only(args: SeedArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!args.db.exists(), "{} exists", args.db.display());
    let url = format!("http://127.0.0.1:{}/hook", args.sink_port);
    let (_, stats) = target::seed(&args.db, &url, args.schedules, args.jobs, 512).await?;
    let mut report = Report::new("seed");
    report.jobs = stats.created as usize;
    report.seeding = Some(stats);
    report.finish(None)
}

async fn baseline_only(args: BaselineArgs) -> anyhow::Result<()> {
    let sink = SinkRuntime::start(args.delay, 0).await?;
    let stats = baseline::run(sink.sink.address(), args.concurrency, args.duration).await?;
    let mut report = Report::new("baseline");
    report.baseline = Some(stats);
    sink.stop();
    report.finish(None)
}

async fn create_only(args: CreateArgs) -> anyhow::Result<()> {
    let directory = work_directory(None)?;
    let db = target::database_in(directory.path());
    let sink = SinkRuntime::start(Duration::ZERO, 0).await?;
    let log = directory.path().join("scheduler.log");
    let binary = BinaryScheduler::start(
        &args.scheduler_bin,
        db.as_os_str(),
        &[],
        &log,
        Duration::from_secs(60),
    )?;
    let cpu_start = binary.usage().unwrap_or_default().cpu_seconds;
    let (registered, stats) = register::through_api(
        &[binary.api],
        &sink.sink.url(),
        (args.schedules, Delivery::AtLeastOnce),
        args.jobs,
        args.concurrency,
        args.limit,
    )
    .await?;
    let mut report = Report::new(&args.label);
    report.jobs = registered.len();
    report.window_cpu_seconds = Some(binary.usage().unwrap_or_default().cpu_seconds - cpu_start);
    report.creation = Some(stats);
    let (usage, exit) = binary.stop(Duration::from_secs(10)).await?;
    report.peak_rss_bytes = Some(usage.peak_rss_bytes);
    report.total_cpu_seconds = Some(usage.cpu_seconds);
    report.exit_code = exit;
    sink.stop();
    report.finish(args.json.as_deref())
}

fn tcs_only(args: &TcsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.duration <= Duration::from_secs(600),
        "--duration is at most 10m"
    );
    eprintln!("tokio-cron-scheduler: {} jobs", args.jobs);
    let run = tcs::run(args.schedules, args.jobs, args.warmup, args.duration)?;
    let mut report = Report::new(&args.label);
    report.jobs = run.registered;
    report.tcs_register_seconds = Some(run.register_seconds);
    report.window = Some((0, (run.window_seconds * 1_000.0) as i64));
    report.window_cpu_seconds = Some(run.cpu_seconds);
    report.rss_growth_bytes = Some(run.rss_growth_bytes);
    report.ticks = Some(run.tally.ticks());
    report.drift = Some(run.tally.drift());
    report.drift_by_second = Some(run.tally.seconds());
    report.finish(args.json.as_deref())
}
