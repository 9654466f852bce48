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
mod clock;
mod procstat;
mod register;
mod report;
mod sink;
mod target;
mod tcs;
mod ticks;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use scheduler_core::EngineConfig;

use crate::clock::{parse_duration, sleep_until_unix_millis, unix_millis};
use crate::report::Report;
use crate::sink::Sink;
use crate::target::{BinaryScheduler, ENGINE_THREADS, InProcessScheduler};
use crate::ticks::{Delivery, ScheduleKind, Tally};

/// The end-to-end load harness (loopback only; every run is bounded in time).
#[derive(Debug, Parser)]
#[command(name = "harness", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the scheduler under load and reports throughput, drift, ticks, CPU and memory.
    Run(RunArgs),
    /// Only the plain-client baseline against the sink.
    Baseline(BaselineArgs),
    /// tokio-cron-scheduler on the same jobs, in memory.
    Tcs(TcsArgs),
    /// Only job creation through the API (scenario 5): creations per second and latency.
    Create(CreateArgs),
    /// Writes jobs straight into a new database through the store, for `run --from-db`
    /// (a million jobs take too long through the API for a bounded run).
    Seed(SeedArgs),
}

/// Which scheduler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// `scheduler serve` in its own process; jobs registered through the REST API.
    Binary,
    /// The engine, SQLite store and HTTP transport in this process; jobs registered through
    /// the engine's handle.
    InProcess,
}

#[derive(Debug, Args)]
struct SchedulerArgs {
    /// Which scheduler runs.
    #[arg(long, value_enum, default_value_t = Mode::Binary)]
    mode: Mode,
    /// The scheduler binary (binary mode).
    #[arg(long, default_value = "target/release/scheduler")]
    scheduler_bin: PathBuf,
    /// The engine's in-flight limit (passed as `--max-in-flight` in binary mode); default:
    /// the scheduler's own default.
    #[arg(long)]
    max_in_flight: Option<usize>,
    /// Extra arguments for `scheduler serve` (repeatable), e.g. `--scheduler-arg=--durability=full`.
    #[arg(long = "scheduler-arg", allow_hyphen_values = true)]
    scheduler_args: Vec<String>,
    /// Keep the database and the scheduler's log in this directory (default: a temporary one).
    #[arg(long)]
    keep: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    scheduler: SchedulerArgs,
    /// Jobs to register (not with `--from-db`, whose database sets the jobs).
    #[arg(long, default_value_t = 10_000, conflicts_with = "from_db")]
    jobs: usize,
    /// Their schedules.
    #[arg(long, value_enum, default_value_t = ScheduleKind::EverySecond)]
    schedules: ScheduleKind,
    /// Their delivery type (jobs written by `--seed` or `harness seed` are at-least-once).
    #[arg(long, value_enum, default_value_t = Delivery::AtLeastOnce)]
    delivery: Delivery,
    /// The measured window.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// How long the sink waits before answering.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    delay: Duration,
    /// Time between the end of registration and the window (rounded up to a whole second).
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    warmup: Duration,
    /// Time after the window for its last ticks to arrive (added to the delay).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    settle: Duration,
    /// Concurrent clients registering the jobs.
    #[arg(long, default_value_t = 64)]
    create_concurrency: usize,
    /// Registration stops after this long, whatever is left.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    register_limit: Duration,
    /// Write the jobs into the database through the store before the scheduler starts,
    /// instead of through the API (for a million jobs; also measures start-up on them).
    #[arg(long, conflicts_with = "from_db")]
    seed: bool,
    /// Start from a copy of a database made by `harness seed` (its jobs, instead of
    /// registering); give the same `--sink-port` as the seed did.
    #[arg(long)]
    from_db: Option<PathBuf>,
    /// The sink's port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    sink_port: u16,
    /// How long the plain-client baseline runs first; 0s skips it.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    baseline_duration: Duration,
    /// Concurrent baseline clients (default: 64 at 0 ms delay, else the in-flight limit).
    #[arg(long)]
    baseline_concurrency: Option<usize>,
    /// API writes per second during the window (binary mode): one client creates a job that
    /// never fires in the window and deletes it again, timing each write; 0 turns it off.
    #[arg(long, default_value_t = 10)]
    api_probe_rate: u32,
    /// Append the report as one JSON line to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// A name for the report (e.g. `scenario-1`).
    #[arg(long, default_value = "run")]
    label: String,
}

#[derive(Debug, Args)]
struct SeedArgs {
    /// Jobs to write.
    #[arg(long, default_value_t = 1_000_000)]
    jobs: usize,
    #[arg(long, value_enum, default_value_t = ScheduleKind::Spread)]
    schedules: ScheduleKind,
    /// The new database file.
    #[arg(long)]
    db: PathBuf,
    /// The sink port the jobs target (`http://127.0.0.1:PORT/hook`); runs must use the same.
    #[arg(long, default_value_t = 18_999)]
    sink_port: u16,
}

#[derive(Debug, Args)]
struct BaselineArgs {
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    delay: Duration,
}

#[derive(Debug, Args)]
struct TcsArgs {
    #[arg(long, default_value_t = 10_000)]
    jobs: usize,
    #[arg(long, value_enum, default_value_t = ScheduleKind::EverySecond)]
    schedules: ScheduleKind,
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    warmup: Duration,
    #[arg(long)]
    json: Option<PathBuf>,
    #[arg(long, default_value = "tcs")]
    label: String,
}

#[derive(Debug, Args)]
struct CreateArgs {
    #[arg(long, default_value = "target/release/scheduler")]
    scheduler_bin: PathBuf,
    #[arg(long, default_value_t = 20_000)]
    jobs: usize,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// `spread` jobs are rarely due within the claim look-ahead; `every-second` ones always are.
    #[arg(long, value_enum, default_value_t = ScheduleKind::Spread)]
    schedules: ScheduleKind,
    #[arg(long, default_value = "110s", value_parser = parse_duration)]
    limit: Duration,
    #[arg(long)]
    json: Option<PathBuf>,
    #[arg(long, default_value = "create")]
    label: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("harness")
        .build()?;
    match cli.command {
        Command::Run(args) => runtime.block_on(run(args)),
        Command::Baseline(args) => runtime.block_on(baseline_only(args)),
        Command::Create(args) => runtime.block_on(create_only(args)),
        Command::Seed(args) => runtime.block_on(seed_only(args)),
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
    let directory = work_directory(args.scheduler.keep.as_deref())?;
    let db = target::database_in(directory.path());
    let sink = SinkRuntime::start(args.delay, args.sink_port).await?;
    let mut report = Report::new(&args.label);
    report.set_config(&args);

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
            let log = directory.path().join("scheduler.log");
            let binary = BinaryScheduler::start(
                &args.scheduler.scheduler_bin,
                &db,
                &extra,
                &log,
                Duration::from_secs(120),
            )?;
            report.idle_rss_bytes = binary.usage().map(|usage| usage.rss_bytes);
            Scheduler::Binary(binary)
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
            Scheduler::Binary(binary) => {
                register::through_api(
                    binary.api,
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
    report.jobs = jobs.len();

    let start_ms = tcs::window_start(unix_millis(), args.warmup);
    let end_ms = start_ms + args.duration.as_millis() as i64;
    let mut tally = Tally::new(&jobs, start_ms, end_ms)?;
    drop(jobs);
    report.window = Some((start_ms, end_ms));

    sleep_until_unix_millis(start_ms).await;
    let probe = match &scheduler {
        Scheduler::Binary(binary) if args.api_probe_rate > 0 => {
            Some(tokio::spawn(register::probe_api(
                binary.api,
                sink.sink.url(),
                Duration::from_secs(1) / args.api_probe_rate,
                Instant::now() + args.duration,
            )))
        }
        _ => None,
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
    if let Some(probe) = probe {
        report.api_probe = Some(probe.await??);
    }
    tokio::time::sleep(args.delay + args.settle).await;

    let grace = args.delay + Duration::from_secs(10);
    match scheduler {
        Scheduler::Binary(binary) => {
            report.engine_metrics =
                tokio::time::timeout(Duration::from_secs(10), fetch_metrics(binary.api))
                    .await
                    .ok()
                    .and_then(Result::ok);
            let (usage, exit) = binary.stop(grace).await?;
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
    read_database(&db, start_ms, end_ms, &mut tally)
        .with_context(|| format!("reading {}", db.display()))?;
    report.ticks = Some(tally.ticks());
    report.drift = Some(tally.drift());
    report.drift_by_second = Some(tally.seconds());
    report.finish(args.json.as_deref())?;
    if args.scheduler.keep.is_none() {
        drop(directory);
    }
    Ok(())
}

enum Scheduler {
    Binary(BinaryScheduler),
    InProcess(InProcessScheduler),
}

impl Scheduler {
    fn start_up(&self) -> Duration {
        match self {
            Scheduler::Binary(binary) => binary.start_up,
            Scheduler::InProcess(engine) => engine.start_up,
        }
    }

    /// CPU seconds by thread name: of the scheduler's process, or of this whole process.
    fn threads(&self) -> std::collections::BTreeMap<String, f64> {
        match self {
            Scheduler::Binary(binary) => procstat::threads_by_name(Some(binary.pid())),
            Scheduler::InProcess(_) => procstat::threads_by_name(None),
        }
    }

    fn cpu_seconds(&self) -> f64 {
        match self {
            Scheduler::Binary(binary) => binary.usage().unwrap_or_default().cpu_seconds,
            Scheduler::InProcess(_) => procstat::own_threads(ENGINE_THREADS),
        }
    }
}

/// A temporary directory, or a kept one.
enum WorkDirectory {
    Temporary(tempfile::TempDir),
    Kept(PathBuf),
}

impl WorkDirectory {
    fn path(&self) -> &std::path::Path {
        match self {
            WorkDirectory::Temporary(directory) => directory.path(),
            WorkDirectory::Kept(path) => path,
        }
    }
}

fn work_directory(keep: Option<&std::path::Path>) -> anyhow::Result<WorkDirectory> {
    match keep {
        Some(path) => {
            std::fs::create_dir_all(path)?;
            let db = target::database_in(path);
            anyhow::ensure!(
                !db.exists(),
                "{} exists: give --keep a new directory",
                db.display()
            );
            Ok(WorkDirectory::Kept(path.to_path_buf()))
        }
        None => Ok(WorkDirectory::Temporary(
            tempfile::Builder::new().prefix("load-harness-").tempdir()?,
        )),
    }
}

/// The jobs (id, cron expression) of a database.
fn read_jobs(db: &std::path::Path) -> anyhow::Result<Vec<(u128, String)>> {
    let connection = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut statement = connection.prepare("SELECT id, schedule FROM jobs")?;
    let mut rows = statement.query([])?;
    let mut jobs = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        jobs.push((uuid::Uuid::parse_str(&id)?.as_u128(), row.get(1)?));
    }
    Ok(jobs)
}

/// Sets every job's next fire time to its first tick after now, as if the scheduler had
/// stopped a moment ago: a seeded database is minutes old when a run starts, and its overdue
/// ticks would otherwise all fire at once as misfires. (The harness's only write to the
/// database; it needs the store's column for the watermark, in Unix milliseconds.)
fn rewind_watermarks(db: &std::path::Path, jobs: &[(u128, String)]) -> anyhow::Result<()> {
    let mut connection = rusqlite::Connection::open(db)?;
    let now = jiff::Timestamp::now();
    let transaction = connection.transaction()?;
    {
        let mut next_by_expression: std::collections::HashMap<&str, Option<i64>> =
            std::collections::HashMap::new();
        let mut statement =
            transaction.prepare("UPDATE jobs SET next_fire_at = ?1 WHERE id = ?2")?;
        for (id, expression) in jobs {
            let next = match next_by_expression.get(expression.as_str()) {
                Some(next) => *next,
                None => {
                    let schedule = cron_expr::Schedule::parse(expression)?;
                    let next = schedule.next_after(now).map(|at| at.as_millisecond());
                    next_by_expression.insert(expression, next);
                    next
                }
            };
            statement.execute(rusqlite::params![
                next,
                uuid::Uuid::from_u128(*id).to_string()
            ])?;
        }
    }
    transaction.commit()?;
    Ok(())
}

/// Counts the executions stored for the window's ticks (read-only, after the scheduler stopped).
fn read_database(
    db: &std::path::Path,
    start_ms: i64,
    end_ms: i64,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let connection = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut statement = connection.prepare(
        "SELECT job_id, scheduled_time, status FROM job_executions \
         WHERE scheduled_time >= ?1 AND scheduled_time < ?2",
    )?;
    let mut rows = statement.query([start_ms, end_ms])?;
    while let Some(row) = rows.next()? {
        let job: String = row.get(0)?;
        let scheduled_ms: i64 = row.get(1)?;
        let status: String = row.get(2)?;
        let job = uuid::Uuid::parse_str(&job)?.as_u128();
        tally.add_row(job, scheduled_ms, &status);
    }
    Ok(())
}

/// The engine's own view (`GET /api/metrics`), for the report.
async fn fetch_metrics(api: std::net::SocketAddr) -> anyhow::Result<serde_json::Value> {
    use http_body_util::{BodyExt, Empty};
    let client: hyper_util::client::legacy::Client<_, Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let response = client
        .get(format!("http://{api}/api/metrics").parse()?)
        .await?;
    let body = response.into_body().collect().await?.to_bytes();
    Ok(serde_json::from_slice(&body)?)
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
    let binary =
        BinaryScheduler::start(&args.scheduler_bin, &db, &[], &log, Duration::from_secs(60))?;
    let cpu_start = binary.usage().unwrap_or_default().cpu_seconds;
    let (registered, stats) = register::through_api(
        binary.api,
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

#[cfg(test)]
mod tests {
    use scheduler_core::{JobId, JobStore};
    use store::{SqliteConfig, SqliteStore};

    use super::*;

    #[tokio::test]
    async fn rewinding_a_seeded_database_moves_every_watermark_past_now() {
        let directory = tempfile::tempdir().unwrap();
        let db = target::database_in(directory.path());
        target::seed(
            &db,
            "http://127.0.0.1:9/hook",
            ScheduleKind::EverySecond,
            3,
            3,
        )
        .await
        .unwrap();
        // As if the seed were years old.
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute("UPDATE jobs SET next_fire_at = 0", [])
            .unwrap();
        let before = scheduler_core::Timestamp::now();
        let jobs = read_jobs(&db).unwrap();
        assert_eq!(jobs.len(), 3);
        rewind_watermarks(&db, &jobs).unwrap();

        let store = SqliteStore::open(&SqliteConfig::new(&db)).unwrap();
        for (id, _) in &jobs {
            let job = store
                .get_job(JobId(uuid::Uuid::from_u128(*id)))
                .await
                .unwrap()
                .unwrap();
            assert!(job.next_fire_at.unwrap() > before, "{job:?}");
        }
    }
}
