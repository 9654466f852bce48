//! The harness's command line: its subcommands and their arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::clock::parse_duration;
use crate::ticks::{Delivery, ScheduleKind};

/// The end-to-end load harness (loopback only; every run is bounded in time).
#[derive(Debug, Parser)]
#[command(name = "harness", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Runs the scheduler under load and reports throughput, drift, ticks, CPU and memory.
    Run(Box<RunArgs>),
    /// Only the plain-client baseline against the sink.
    Baseline(BaselineArgs),
    /// tokio-cron-scheduler on the same jobs, in memory.
    Tcs(TcsArgs),
    /// Only job creation through the API (scenario 5): creations per second and latency.
    Create(CreateArgs),
    /// Writes jobs straight into a new database through the store, for `run --from-db`
    /// (a million jobs take too long through the API for a bounded run).
    Seed(SeedArgs),
    /// Every-second jobs published to NATS (JetStream) and RabbitMQ beside HTTP jobs, in one
    /// run of the binary: executions per second and drift per family.
    Queues(crate::queues::QueuesArgs),
}

/// Which scheduler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    /// `scheduler serve` in its own process; jobs registered through the REST API.
    Binary,
    /// The engine, SQLite store and HTTP transport in this process; jobs registered through
    /// the engine's handle.
    InProcess,
}

#[derive(Debug, Args)]
pub(crate) struct SchedulerArgs {
    /// Which scheduler runs.
    #[arg(long, value_enum, default_value_t = Mode::Binary)]
    pub(crate) mode: Mode,
    /// The scheduler binary (binary mode).
    #[arg(long, default_value = "target/release/scheduler")]
    pub(crate) scheduler_bin: PathBuf,
    /// The engine's in-flight limit (passed as `--max-in-flight` in binary mode); default:
    /// the scheduler's own default.
    #[arg(long)]
    pub(crate) max_in_flight: Option<usize>,
    /// Extra arguments for `scheduler serve` (repeatable), e.g. `--scheduler-arg=--durability=full`.
    #[arg(long = "scheduler-arg", allow_hyphen_values = true)]
    pub(crate) scheduler_args: Vec<String>,
    /// Keep the database and the scheduler's log in this directory (default: a temporary one).
    #[arg(long)]
    pub(crate) keep: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) scheduler: SchedulerArgs,
    /// Jobs to register (not with `--from-db`, whose database sets the jobs).
    #[arg(long, default_value_t = 10_000, conflicts_with = "from_db")]
    pub(crate) jobs: usize,
    /// Their schedules.
    #[arg(long, value_enum, default_value_t = ScheduleKind::EverySecond)]
    pub(crate) schedules: ScheduleKind,
    /// Their delivery type (jobs written by `--seed` or `harness seed` are at-least-once).
    #[arg(long, value_enum, default_value_t = Delivery::AtLeastOnce)]
    pub(crate) delivery: Delivery,
    /// The measured window.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub(crate) duration: Duration,
    /// How long the sink waits before answering.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    pub(crate) delay: Duration,
    /// Jobs at a second, slow sink beside the `--jobs` at the main one (binary mode, registered
    /// after them, same schedules and delivery): the ticks and drift reported are the main
    /// sink's jobs' only, so a run with them and one without show what a slow target does to
    /// the others. Their requests are counted apart.
    #[arg(long, default_value_t = 0)]
    pub(crate) slow_jobs: usize,
    /// How long the slow sink waits before answering.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub(crate) slow_delay: Duration,
    /// Time between the end of registration and the window (rounded up to a whole second).
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub(crate) warmup: Duration,
    /// Time after the window for its last ticks to arrive (added to the delay).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub(crate) settle: Duration,
    /// Concurrent clients registering the jobs.
    #[arg(long, default_value_t = 64)]
    pub(crate) create_concurrency: usize,
    /// Registration stops after this long, whatever is left.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub(crate) register_limit: Duration,
    /// Write the jobs into the database through the store before the scheduler starts,
    /// instead of through the API (for a million jobs; also measures start-up on them).
    #[arg(long, conflicts_with = "from_db")]
    pub(crate) seed: bool,
    /// Start from a copy of a database made by `harness seed` (its jobs, instead of
    /// registering); give the same `--sink-port` as the seed did.
    #[arg(long)]
    pub(crate) from_db: Option<PathBuf>,
    /// Run the scheduler binary on this PostgreSQL database instead of SQLite, in a schema of
    /// the run's own (dropped at the end), and report the server's CPU and WAL bytes over the
    /// window (e.g. `postgres://postgres@127.0.0.1:5432/test`).
    #[arg(long, conflicts_with_all = ["from_db", "seed"])]
    pub(crate) postgres: Option<String>,
    /// Scheduler processes on the `--postgres` schema, each with its own `--node-id` and
    /// listen port; jobs are registered round robin through their APIs.
    #[arg(long, default_value_t = 1)]
    pub(crate) nodes: usize,
    /// The sink's port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub(crate) sink_port: u16,
    /// How long the plain-client baseline runs first; 0s skips it.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(crate) baseline_duration: Duration,
    /// Concurrent baseline clients (default: 64 at 0 ms delay, else the in-flight limit).
    #[arg(long)]
    pub(crate) baseline_concurrency: Option<usize>,
    /// API writes per second during the window (binary mode): one client creates a job that
    /// never fires in the window and deletes it again, timing each write; 0 turns it off.
    #[arg(long, default_value_t = 10)]
    pub(crate) api_probe_rate: u32,
    /// Append the report as one JSON line to this file.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// A name for the report (e.g. `scenario-1`).
    #[arg(long, default_value = "run")]
    pub(crate) label: String,
}

#[derive(Debug, Args)]
pub(crate) struct SeedArgs {
    /// Jobs to write.
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) jobs: usize,
    #[arg(long, value_enum, default_value_t = ScheduleKind::Spread)]
    pub(crate) schedules: ScheduleKind,
    /// The new database file.
    #[arg(long)]
    pub(crate) db: PathBuf,
    /// The sink port the jobs target (`http://127.0.0.1:PORT/hook`); runs must use the same.
    #[arg(long, default_value_t = 18_999)]
    pub(crate) sink_port: u16,
}

#[derive(Debug, Args)]
pub(crate) struct BaselineArgs {
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(crate) duration: Duration,
    #[arg(long, default_value_t = 64)]
    pub(crate) concurrency: usize,
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    pub(crate) delay: Duration,
}

#[derive(Debug, Args)]
pub(crate) struct TcsArgs {
    #[arg(long, default_value_t = 10_000)]
    pub(crate) jobs: usize,
    #[arg(long, value_enum, default_value_t = ScheduleKind::EverySecond)]
    pub(crate) schedules: ScheduleKind,
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub(crate) duration: Duration,
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub(crate) warmup: Duration,
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    #[arg(long, default_value = "tcs")]
    pub(crate) label: String,
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    #[arg(long, default_value = "target/release/scheduler")]
    pub(crate) scheduler_bin: PathBuf,
    #[arg(long, default_value_t = 20_000)]
    pub(crate) jobs: usize,
    #[arg(long, default_value_t = 64)]
    pub(crate) concurrency: usize,
    /// `spread` jobs are rarely due within the claim look-ahead; `every-second` ones always are.
    #[arg(long, value_enum, default_value_t = ScheduleKind::Spread)]
    pub(crate) schedules: ScheduleKind,
    #[arg(long, default_value = "110s", value_parser = parse_duration)]
    pub(crate) limit: Duration,
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    #[arg(long, default_value = "create")]
    pub(crate) label: String,
}
