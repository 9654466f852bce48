//! `scheduler serve`: the server. Opens the store, starts the engine and the REST API, and
//! shuts both down gracefully on SIGINT or SIGTERM.

use std::net::{SocketAddr, TcpListener};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alerts::{FanOutAlertSink, WebhookAlertSink, WebhookConfig, WebhookWorker};
use anyhow::Context;
use clap::{Args, ValueEnum};
use executor::{HttpTransport, HttpTransportConfig};
use http_api::{ApiConfig, ApiState, EngineHealthProbe, JobDefaults};
use scheduler_core::{AlertSink, Engine, EngineConfig, LogAlertSink, RetentionPolicy, RetryPolicy};
use store::{Durability, SqliteConfig, SqliteStore};

use crate::logging::{self, LogFormat};

/// Every setting of the server; each flag has an environment variable.
#[derive(Clone, Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address the REST API listens on.
    #[arg(long, env = "SCHEDULER_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    /// The SQLite database file (created if missing; its directory must exist).
    #[arg(long, env = "SCHEDULER_DB", default_value = "./scheduler.db")]
    pub(crate) db: PathBuf,
    /// What a committed write survives: `normal` (a process crash) or `full` (a power loss).
    #[arg(long, env = "SCHEDULER_DURABILITY", value_enum, default_value_t = DurabilityArg::Normal)]
    pub(crate) durability: DurabilityArg,
    /// MiB of the database file read through memory-mapped I/O (SQLite's `mmap_size`); 0
    /// turns it off. Mapped pages count in the process's resident memory.
    #[arg(long, env = "SCHEDULER_SQLITE_MMAP_MIB", default_value_t = SqliteConfig::DEFAULT_MMAP_SIZE >> 20)]
    pub(crate) sqlite_mmap_mib: u64,
    /// How often executions enter the per-job history index, a window at a time sorted by job
    /// (e.g. `10s`); claims then never write an index ordered by job, whose cost grows with the
    /// history. `0s` indexes each execution as it is inserted.
    #[arg(long, env = "SCHEDULER_SQLITE_HISTORY_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub(crate) sqlite_history_interval: Duration,
    /// Decoded jobs the claims keep between claims, so that a job that fires again within a
    /// minute and a half (every-minute jobs included) is decoded once per change, not at every
    /// claim. When more jobs fire than this before the claims come back to the same job, the
    /// rest are decoded at every claim, as with `0`. Each kept job costs about 400 bytes plus
    /// its target, headers and body.
    #[arg(long, env = "SCHEDULER_SQLITE_JOB_CACHE", default_value_t = SqliteConfig::DEFAULT_JOB_CACHE_CAPACITY)]
    pub(crate) sqlite_job_cache: usize,
    /// Threads that run the HTTP attempts and the REST API (the engine's claims and the SQLite
    /// writer have threads of their own). Default: one per core the process may use. Fewer
    /// threads than cores leave the rest to other work on the machine: with the targets on the
    /// same two cores, one thread sent the same load for about 15% less CPU than two
    /// (docs/PERFORMANCE.md, tenth round), at the price of a ceiling of one core's worth of
    /// attempts.
    #[arg(long, env = "SCHEDULER_WORKER_THREADS")]
    pub(crate) worker_threads: Option<NonZeroUsize>,
    /// The most HTTP attempts in flight at once, across all jobs.
    #[arg(long, env = "SCHEDULER_MAX_IN_FLIGHT", default_value_t = 1024)]
    pub(crate) max_in_flight: usize,
    /// The most attempts in flight that started less than `--fresh-window` ago. Fast targets
    /// make each attempt CPU work until it is answered, and more of them at once than the
    /// cores can run only adds cost and delay; an attempt still unanswered after the window is
    /// waiting on its target and counts only against `--max-in-flight`.
    #[arg(long, env = "SCHEDULER_MAX_FRESH_ATTEMPTS", default_value_t = EngineConfig::default().max_fresh_attempts)]
    pub(crate) max_fresh_attempts: usize,
    /// How long an attempt counts as fresh (see `--max-fresh-attempts`); `0s` turns that
    /// limit off.
    #[arg(long, env = "SCHEDULER_FRESH_WINDOW", default_value = "5ms", value_parser = parse_duration)]
    pub(crate) fresh_window: Duration,
    /// How long an execution's result may wait for others before it is written: a write goes
    /// once its oldest result has waited this long, or a full batch is queued. Results of
    /// targets that answer within it cost one row instead of two, and bursts are written in
    /// fewer transactions; results reach the database and the API up to this much later.
    /// `0s` writes as soon as the previous write is done.
    #[arg(long, env = "SCHEDULER_RESULT_LINGER", default_value = "100ms", value_parser = parse_duration)]
    pub(crate) result_linger: Duration,
    /// How far ahead due ticks are claimed from the database (e.g. `2s`). Ticks are claimed
    /// this long before their instant at the most and `--look-ahead` minus
    /// `--claim-interval` at the least. A longer look-ahead rides out longer database stalls
    /// and holds more executions in memory (see `--max-backlog`).
    #[arg(long, env = "SCHEDULER_LOOK_AHEAD", default_value = "2s", value_parser = parse_duration)]
    pub(crate) look_ahead: Duration,
    /// How often due ticks are claimed; must be shorter than `--look-ahead`.
    #[arg(long, env = "SCHEDULER_CLAIM_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub(crate) claim_interval: Duration,
    /// The most executions the engine holds at once: claimed and not yet recorded (waiting
    /// for their instant, in flight, waiting for a retry or for the database). When it is
    /// full, due ticks wait in the database and fire late instead of piling up in memory. The
    /// default sustains about 30,000 executions per second (2 s claimed ahead) and bounds that
    /// memory to roughly 100 MB.
    #[arg(long, env = "SCHEDULER_MAX_BACKLOG", default_value_t = EngineConfig::default().max_backlog)]
    pub(crate) max_backlog: usize,
    /// Per-attempt timeout of jobs that do not set `timeoutMs` (e.g. `30s`, `1m`).
    #[arg(long, env = "SCHEDULER_DEFAULT_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub(crate) default_timeout: Duration,
    /// Attempts in total (first one included) of jobs that do not set `retry.maxAttempts`.
    #[arg(long, env = "SCHEDULER_DEFAULT_MAX_ATTEMPTS", default_value_t = 3)]
    pub(crate) default_max_attempts: u32,
    /// First retry delay of jobs that do not set `retry.initialBackoffMs`.
    #[arg(long, env = "SCHEDULER_DEFAULT_INITIAL_BACKOFF", default_value = "1s", value_parser = parse_duration)]
    pub(crate) default_initial_backoff: Duration,
    /// Largest retry delay of jobs that do not set `retry.maxBackoffMs`.
    #[arg(long, env = "SCHEDULER_DEFAULT_MAX_BACKOFF", default_value = "60s", value_parser = parse_duration)]
    pub(crate) default_max_backoff: Duration,
    /// Delete finished executions older than this (e.g. `7d`); default: keep them.
    #[arg(long, env = "SCHEDULER_RETENTION_MAX_AGE", value_parser = parse_duration)]
    pub(crate) retention_max_age: Option<Duration>,
    /// Keep at most this many finished executions per job; default: all.
    #[arg(long, env = "SCHEDULER_RETENTION_PER_JOB")]
    pub(crate) retention_per_job: Option<usize>,
    /// POST alerts about final failures (and recoveries) to this URL, as JSON.
    #[arg(long, env = "SCHEDULER_ALERT_WEBHOOK_URL")]
    pub(crate) alert_webhook_url: Option<String>,
    /// This node's name; executions it claims carry it, and a restart under the same name
    /// recovers them. Keep it stable.
    #[arg(long, env = "SCHEDULER_NODE_ID", default_value = "local")]
    pub(crate) node_id: String,
    /// How long a shutdown lets requests and attempts in flight finish.
    #[arg(long, env = "SCHEDULER_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub(crate) shutdown_grace: Duration,
    /// Log filter: `error`, `warn`, `info`, `debug`, `trace`, or per module
    /// (`scheduler_core=debug,info`). `RUST_LOG` overrides it.
    #[arg(long, env = "SCHEDULER_LOG_LEVEL", default_value = "info")]
    pub(crate) log_level: String,
    /// Log lines as `text` or as `json` (one object per line).
    #[arg(long, env = "SCHEDULER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
}

/// `--durability`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum DurabilityArg {
    /// Survives a process crash; the last batches may be lost in a power loss.
    Normal,
    /// Every commit is synced to disk before it is acknowledged.
    Full,
}

/// Durations like `30s`, `1m 30s`, `7d`, `250ms` or ISO 8601 `PT30S`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let signed: jiff::SignedDuration = match text.parse() {
        Ok(duration) => duration,
        // `SignedDuration` has no days; accept them as 24 hours.
        Err(_) => match text
            .strip_suffix('d')
            .and_then(|days| days.trim().parse::<u64>().ok())
        {
            Some(days) => return Ok(Duration::from_secs(days * 86_400)),
            None => {
                return Err(format!(
                    "{text:?} is not a duration (e.g. 30s, 5m, 1h 30m, 7d)"
                ));
            }
        },
    };
    Duration::try_from(signed).map_err(|_| format!("{text:?} must not be negative"))
}

/// Runs the server until SIGINT or SIGTERM.
pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    logging::init(&args.log_level, args.log_format);
    let runtime = main_runtime(args.worker_threads)?;
    // The engine's control task (claims, and every change an API call waits for) gets a thread
    // of its own, so that an API call is not queued behind a burst of attempts on the main
    // runtime. It is dropped after the main runtime has finished with it.
    let control = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("scheduler-control")
        .build()?;
    runtime.block_on(serve(args, control.handle().clone()))
}

/// The runtime of the attempts and the REST API: `threads` workers, or one per core.
fn main_runtime(threads: Option<NonZeroUsize>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = threads {
        builder.worker_threads(threads.get());
    }
    builder.enable_all().thread_name("scheduler").build()
}

/// The store settings the flags ask for.
fn store_config(args: &ServeArgs) -> SqliteConfig {
    SqliteConfig {
        durability: match args.durability {
            DurabilityArg::Normal => Durability::Normal,
            DurabilityArg::Full => Durability::Full,
        },
        mmap_size: args.sqlite_mmap_mib.saturating_mul(1 << 20),
        history_interval: args.sqlite_history_interval,
        job_cache_capacity: args.sqlite_job_cache,
        ..SqliteConfig::new(&args.db)
    }
}

/// Refuses flag combinations the engine cannot run with, before anything is opened.
fn check_args(args: &ServeArgs) -> anyhow::Result<()> {
    if args.claim_interval.is_zero() || args.claim_interval >= args.look_ahead {
        anyhow::bail!(
            "--claim-interval ({:?}) must be greater than zero and shorter than --look-ahead ({:?}), \
             so that every tick is claimed before its instant",
            args.claim_interval,
            args.look_ahead
        );
    }
    Ok(())
}

async fn serve(args: ServeArgs, control_runtime: tokio::runtime::Handle) -> anyhow::Result<()> {
    check_args(&args)?;
    let store_config = store_config(&args);
    let store = Arc::new(SqliteStore::open(&store_config)?);
    log::info!("store: SQLite database {}", args.db.display());

    // Keep as many idle connections per target as attempts can be in flight: with fewer, a
    // burst of ticks to one target (every job on the second) closes the surplus connections
    // after each burst and opens them again on the next one.
    let transport_config = HttpTransportConfig {
        pool_max_idle_per_host: args.max_in_flight,
        ..HttpTransportConfig::default()
    };
    let transport =
        Arc::new(HttpTransport::new(transport_config).context("building the HTTP client")?);
    let (alert_sink, webhook) = alert_sinks(args.alert_webhook_url.as_deref())?;

    let engine = Engine::builder(store, transport)
        .alert_sink(alert_sink)
        .config(engine_config(&args))
        .control_runtime(control_runtime)
        .start()
        .await
        .context("starting the engine")?;

    let api_config = ApiConfig {
        job_defaults: JobDefaults {
            attempt_timeout: args.default_timeout,
            retry: RetryPolicy {
                max_attempts: args.default_max_attempts,
                initial_backoff: args.default_initial_backoff,
                max_backoff: args.default_max_backoff,
                ..RetryPolicy::default()
            },
        },
        shutdown_timeout: args.shutdown_grace,
        ..ApiConfig::default()
    };
    let listener =
        TcpListener::bind(args.listen).with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    let state = ApiState::new(
        engine.clone(),
        Arc::new(EngineHealthProbe::new(engine.clone())),
    );
    let server =
        http_api::serve(listener, state, api_config).context("starting the HTTP server")?;
    let server_handle = server.handle();
    let mut running = tokio::spawn(server);
    log::info!("listening on http://{address} (node {})", args.node_id);

    tokio::select! {
        signal = shutdown_signal() => log::info!("{} received: shutting down (grace {:?})", signal?, args.shutdown_grace),
        result = &mut running => {
            // The server stopped on its own: report why, and still stop the engine cleanly.
            let error = match result {
                Ok(Ok(())) => anyhow::anyhow!("the HTTP server stopped"),
                Ok(Err(error)) => anyhow::Error::new(error).context("the HTTP server failed"),
                Err(error) => anyhow::Error::new(error).context("the HTTP server task failed"),
            };
            engine.shutdown(args.shutdown_grace).await;
            return Err(error);
        }
    }
    // Stop taking requests first, then drain the engine, then the alerts it raised.
    server_handle.stop(true).await;
    let _ = running.await;
    let report = engine.shutdown(args.shutdown_grace).await;
    log::info!(
        "engine stopped: {} attempts drained, {} interrupted, {} ticks left for the next start",
        report.drained,
        report.interrupted,
        report.left_for_recovery
    );
    if let Some(webhook) = webhook {
        let stats = webhook.shutdown(args.shutdown_grace).await;
        log::info!("alert webhook stopped: {stats:?}");
    }
    Ok(())
}

/// The engine's settings from the flags; the rest are the engine's defaults.
fn engine_config(args: &ServeArgs) -> EngineConfig {
    let retention = (args.retention_max_age.is_some() || args.retention_per_job.is_some())
        .then_some(RetentionPolicy {
            max_age: args.retention_max_age,
            max_per_job: args.retention_per_job,
        });
    EngineConfig {
        node_id: args.node_id.clone(),
        look_ahead: args.look_ahead,
        claim_interval: args.claim_interval,
        max_in_flight: args.max_in_flight,
        max_fresh_attempts: args.max_fresh_attempts,
        fresh_window: args.fresh_window,
        result_linger: args.result_linger,
        max_backlog: args.max_backlog,
        retention,
        ..EngineConfig::default()
    }
}

/// The log sink, plus the webhook when configured.
fn alert_sinks(
    webhook_url: Option<&str>,
) -> anyhow::Result<(Arc<dyn AlertSink>, Option<WebhookWorker>)> {
    let log_sink: Arc<dyn AlertSink> = Arc::new(LogAlertSink);
    let Some(url) = webhook_url else {
        return Ok((log_sink, None));
    };
    let (webhook, worker) =
        WebhookAlertSink::start(WebhookConfig::new(url)).context("starting the alert webhook")?;
    let sinks: Vec<Arc<dyn AlertSink>> = vec![log_sink, Arc::new(webhook)];
    Ok((Arc::new(FanOutAlertSink::new(sinks)), Some(worker)))
}

/// Completes with the name of the first SIGINT or SIGTERM.
async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.map(|()| "SIGINT").context("waiting for SIGINT"),
        _ = terminate.recv() => Ok("SIGTERM"),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    #[test]
    fn engine_limits_come_from_the_flags() {
        let args = Serve::parse_from([
            "serve",
            "--max-in-flight",
            "64",
            "--max-backlog",
            "5000",
            "--max-fresh-attempts",
            "32",
            "--fresh-window",
            "0s",
            "--result-linger",
            "250ms",
            "--look-ahead",
            "6s",
            "--claim-interval",
            "3s",
        ])
        .args;
        let config = engine_config(&args);
        assert_eq!(
            (config.look_ahead, config.claim_interval),
            (Duration::from_secs(6), Duration::from_secs(3))
        );
        assert_eq!((config.max_in_flight, config.max_backlog), (64, 5_000));
        assert_eq!(
            (config.max_fresh_attempts, config.fresh_window),
            (32, Duration::ZERO)
        );
        assert_eq!(config.result_linger, Duration::from_millis(250));
        // Without flags (and without their environment variables), the engine's defaults.
        let unset = |name: &str| std::env::var_os(name).is_none();
        let config = engine_config(&Serve::parse_from(["serve"]).args);
        let defaults = EngineConfig::default();
        if unset("SCHEDULER_MAX_BACKLOG") {
            assert_eq!(config.max_backlog, defaults.max_backlog);
        }
        if unset("SCHEDULER_FRESH_WINDOW") {
            assert_eq!(config.fresh_window, defaults.fresh_window);
        }
        if unset("SCHEDULER_RESULT_LINGER") {
            assert_eq!(config.result_linger, defaults.result_linger);
        }
        if unset("SCHEDULER_LOOK_AHEAD") {
            assert_eq!(config.look_ahead, defaults.look_ahead);
        }
        if unset("SCHEDULER_CLAIM_INTERVAL") {
            assert_eq!(config.claim_interval, defaults.claim_interval);
        }
    }

    #[test]
    fn a_claim_interval_not_shorter_than_the_look_ahead_is_refused_by_flag_name() {
        let args = |interval: &str| {
            Serve::parse_from(["serve", "--look-ahead", "2s", "--claim-interval", interval]).args
        };
        assert!(check_args(&args("1s")).is_ok());
        for interval in ["2s", "5s", "0s"] {
            let message = check_args(&args(interval))
                .expect_err("refused")
                .to_string();
            assert!(
                message.contains("--claim-interval") && message.contains("--look-ahead"),
                "{interval}: {message}"
            );
        }
    }

    #[test]
    fn the_history_interval_flag_reaches_the_store_and_defaults_to_its_default() {
        let args = Serve::parse_from(["serve", "--sqlite-history-interval", "0s"]).args;
        assert_eq!(store_config(&args).history_interval, Duration::ZERO);
        if std::env::var_os("SCHEDULER_SQLITE_HISTORY_INTERVAL").is_none() {
            assert_eq!(
                store_config(&Serve::parse_from(["serve"]).args).history_interval,
                SqliteConfig::DEFAULT_HISTORY_INTERVAL
            );
        }
    }

    #[test]
    fn the_worker_threads_flag_sets_the_main_runtimes_workers() {
        let args = Serve::parse_from(["serve", "--worker-threads", "1"]).args;
        let runtime = main_runtime(args.worker_threads).expect("a runtime");
        assert_eq!(runtime.metrics().num_workers(), 1);
        let error = Serve::try_parse_from(["serve", "--worker-threads", "0"])
            .expect_err("zero threads is refused");
        assert!(error.to_string().contains("--worker-threads"), "{error}");
    }

    #[test]
    fn the_job_cache_flag_reaches_the_store_and_defaults_to_its_default() {
        let args = Serve::parse_from(["serve", "--sqlite-job-cache", "0"]).args;
        assert_eq!(store_config(&args).job_cache_capacity, 0);
        if std::env::var_os("SCHEDULER_SQLITE_JOB_CACHE").is_none() {
            assert_eq!(
                store_config(&Serve::parse_from(["serve"]).args).job_cache_capacity,
                SqliteConfig::DEFAULT_JOB_CACHE_CAPACITY
            );
        }
    }

    #[test]
    fn the_mmap_flag_sets_the_stores_mapping_in_mib_and_defaults_to_off() {
        let args =
            Serve::parse_from(["serve", "--sqlite-mmap-mib", "64", "--durability", "full"]).args;
        let config = store_config(&args);
        assert_eq!(config.mmap_size, 64 << 20);
        assert_eq!(config.durability, Durability::Full);
        if std::env::var_os("SCHEDULER_SQLITE_MMAP_MIB").is_none() {
            assert_eq!(
                store_config(&Serve::parse_from(["serve"]).args).mmap_size,
                0
            );
        }
    }

    #[test]
    fn durations_parse_in_friendly_forms() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("PT1H"), Ok(Duration::from_secs(3600)));
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .contains("is not a duration")
        );
        assert!(
            parse_duration("-5s")
                .unwrap_err()
                .contains("must not be negative")
        );
    }
}
