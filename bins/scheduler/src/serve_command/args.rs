//! `serve`'s flags, their defaults (taken from the config types they set) and the configs
//! they become.
//!
//! `--help` shows what an operator decides; the tuning flags are hidden from it (they work the
//! same, environment variables included) and documented in docs/TUNING.md.

use std::fmt;
use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use executor::{SigningSecret, TargetPolicy, TargetRule};
use http_api::{AllowedHosts, ApiConfig, JobDefaults, MetricsAccess};
use scheduler_core::{EngineConfig, RetentionPolicy, RetryPolicy};
use store::{Durability, SqliteConfig};

use crate::log_file::LogFileConfig;
use crate::logging::LogFormat;

/// Every setting of the server; each flag has an environment variable.
#[derive(Clone, Debug, Args)]
#[command(after_help = "Tuning flags, hidden here, are described in docs/TUNING.md.")]
pub(crate) struct ServeArgs {
    /// The address the REST API listens on.
    #[arg(long, env = "SCHEDULER_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    /// Serve HTTPS with this PEM certificate chain (the server's certificate first); needs
    /// `--tls-key`.
    #[arg(
        long,
        env = "SCHEDULER_TLS_CERT",
        requires = "tls_key",
        value_name = "PATH"
    )]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1).
    #[arg(
        long,
        env = "SCHEDULER_TLS_KEY",
        requires = "tls_cert",
        value_name = "PATH"
    )]
    pub(crate) tls_key: Option<PathBuf>,
    /// The `Host` names the API answers, separated by commas (`*`: any). Default: `localhost`,
    /// `127.0.0.1` and `[::1]` while no API token exists, any once tokens are required.
    #[arg(long, env = "SCHEDULER_ALLOWED_HOSTS", value_name = "HOSTS",
          value_parser = AllowedHosts::parse_list)]
    pub(crate) allowed_hosts: Option<AllowedHosts>,
    /// Serve the API without tokens, even on a non-loopback `--listen` (which is refused
    /// without tokens otherwise): anyone who can reach the address can change every job.
    #[arg(long, env = "SCHEDULER_INSECURE_NO_AUTH")]
    pub(crate) insecure_no_auth: bool,
    /// `GET /metrics` and `/api/metrics` need a token when tokens are required (by default
    /// they stay open, for scrapers).
    #[arg(long, env = "SCHEDULER_METRICS_AUTH")]
    pub(crate) metrics_auth: bool,
    /// The store: a SQLite database file (created if missing; its directory must exist), or a
    /// PostgreSQL database URL, `postgres://user@host:port/db`, which several nodes can share.
    #[arg(long, env = "SCHEDULER_DB", default_value = DEFAULT_DB, value_parser = Database::parse)]
    pub(crate) db: Database,
    /// What a committed write survives: `normal` (a process crash) or `full` (a power loss).
    #[arg(long, env = "SCHEDULER_DURABILITY", value_enum,
          default_value_t = store_defaults().durability.into())]
    pub(crate) durability: DurabilityArg,
    /// Threads that run the HTTP attempts and the REST API (the engine's claims and the SQLite
    /// writer have threads of their own). Default: one per core the process may use; fewer
    /// leave cores to other work on the machine (docs/perf-log/round-10.md).
    #[arg(long, env = "SCHEDULER_WORKER_THREADS")]
    pub(crate) worker_threads: Option<NonZeroUsize>,
    /// The most HTTP attempts in flight at once, across all jobs.
    #[arg(long, env = "SCHEDULER_MAX_IN_FLIGHT",
          default_value_t = EngineConfig::default().max_in_flight)]
    pub(crate) max_in_flight: usize,
    /// The most HTTP attempts in flight at once to one target host (host and port): a slow or
    /// hanging target holds at most this many slots, and its other ticks wait in its own queue.
    #[arg(long, env = "SCHEDULER_MAX_IN_FLIGHT_PER_HOST",
          default_value_t = EngineConfig::default().max_in_flight_per_host)]
    pub(crate) max_in_flight_per_host: usize,
    /// The most executions the engine holds at once: claimed and not yet recorded (waiting
    /// for their instant, in flight, waiting for a retry or for the database). When it is
    /// full, due ticks wait in the database and fire late instead of piling up in memory;
    /// each held execution costs up to about a kilobyte.
    #[arg(long, env = "SCHEDULER_MAX_BACKLOG",
          default_value_t = EngineConfig::default().max_backlog)]
    pub(crate) max_backlog: usize,
    /// Per-attempt timeout of jobs that do not set `timeoutMs` (e.g. `30s`, `1m`).
    #[arg(long, env = "SCHEDULER_DEFAULT_TIMEOUT", value_parser = parse_duration,
          default_value = duration_text(JobDefaults::default().attempt_timeout))]
    pub(crate) default_timeout: Duration,
    /// Attempts in total (first one included) of jobs that do not set `retry.maxAttempts`.
    #[arg(long, env = "SCHEDULER_DEFAULT_MAX_ATTEMPTS",
          default_value_t = JobDefaults::default().retry.max_attempts)]
    pub(crate) default_max_attempts: u32,
    /// First retry delay of jobs that do not set `retry.initialBackoffMs`.
    #[arg(long, env = "SCHEDULER_DEFAULT_INITIAL_BACKOFF", value_parser = parse_duration,
          default_value = duration_text(JobDefaults::default().retry.initial_backoff))]
    pub(crate) default_initial_backoff: Duration,
    /// Largest retry delay of jobs that do not set `retry.maxBackoffMs`.
    #[arg(long, env = "SCHEDULER_DEFAULT_MAX_BACKOFF", value_parser = parse_duration,
          default_value = duration_text(JobDefaults::default().retry.max_backoff))]
    pub(crate) default_max_backoff: Duration,
    /// Tick jitter, in milliseconds, of jobs that do not set `jitterMs` (at most 3600000):
    /// each tick fires at a deterministic offset below it. Not stored with the jobs, so a
    /// change reaches them all at the next start; nodes sharing a database should agree.
    #[arg(long, env = "SCHEDULER_DEFAULT_JITTER_MS",
          value_parser = clap::value_parser!(u64).range(0..=MAX_TICK_JITTER_MS),
          default_value_t = millis(EngineConfig::default().default_tick_jitter))]
    pub(crate) default_jitter_ms: u64,
    /// Delete finished executions older than this (e.g. `7d`); default: keep them.
    #[arg(long, env = "SCHEDULER_RETENTION_MAX_AGE", value_parser = parse_duration)]
    pub(crate) retention_max_age: Option<Duration>,
    /// Keep at most this many finished executions per job; default: all.
    #[arg(long, env = "SCHEDULER_RETENTION_PER_JOB")]
    pub(crate) retention_per_job: Option<usize>,
    /// POST alerts about final failures (and recoveries) to this URL, as JSON.
    #[arg(long, env = "SCHEDULER_ALERT_WEBHOOK_URL")]
    pub(crate) alert_webhook_url: Option<String>,
    /// Sign every request to a target with this secret (`X-Scheduler-Signature`). Give it
    /// twice to rotate: the first is the new secret, the second the old one, and both
    /// signatures are sent. The environment variable takes them comma-separated.
    #[arg(long, env = "SCHEDULER_SIGNING_SECRET", value_delimiter = ',',
          value_parser = parse_signing_secret, hide_env_values = true)]
    pub(crate) signing_secret: Vec<SigningSecret>,
    /// Also refuse targets at loopback and private addresses (127.0.0.0/8, 10.0.0.0/8,
    /// 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, 198.18.0.0/15, ::1, fc00::/7, ...);
    /// link-local, cloud metadata and reserved (multicast, 0.0.0.0/8, 240.0.0.0/4, ...)
    /// addresses are always refused unless allowed.
    #[arg(long, env = "SCHEDULER_DENY_PRIVATE_TARGETS")]
    pub(crate) deny_private_targets: bool,
    /// Allow targets in this network (CIDR) or with this host name (`*.example.com` for a
    /// domain), even when a default refuses them. Repeatable; the environment variable takes
    /// a comma-separated list.
    #[arg(long, env = "SCHEDULER_ALLOW_TARGET", value_delimiter = ',')]
    pub(crate) allow_target: Vec<TargetRule>,
    /// Refuse targets in this network (CIDR) or with this host name; wins over
    /// `--allow-target`. Repeatable; the environment variable takes a comma-separated list.
    #[arg(long, env = "SCHEDULER_DENY_TARGET", value_delimiter = ',')]
    pub(crate) deny_target: Vec<TargetRule>,
    /// This node's name; executions it claims carry it, and a restart under the same name
    /// recovers them. Keep it stable.
    #[arg(long, env = "SCHEDULER_NODE_ID", default_value = EngineConfig::default().node_id)]
    pub(crate) node_id: String,
    /// How late a tick may be claimed and still fire; ticks missed by more (the server was
    /// down or behind) follow their job's misfire policy. On SQLite every tick due before the
    /// server started is missed too, however recently.
    #[arg(long, env = "SCHEDULER_MISFIRE_THRESHOLD", value_parser = parse_duration,
          default_value = duration_text(EngineConfig::default().misfire_threshold))]
    pub(crate) misfire_threshold: Duration,
    /// SQLite: the memory, in MiB, that executions fired from memory may take while the
    /// database cannot be written (outage mode); due ticks that do not fit wait for the
    /// database and follow their job's misfire policy.
    #[arg(long, env = "SCHEDULER_OUTAGE_BUFFER_MIB",
          default_value_t = EngineConfig::default().outage_buffer_bytes / MIB)]
    pub(crate) outage_buffer_mib: usize,
    /// On PostgreSQL with several nodes: how long a silent node's executions stay its own
    /// before live nodes take them over. A node that cannot renew its heartbeat stops sending
    /// one `--heartbeat-interval` earlier.
    #[arg(long, env = "SCHEDULER_LEASE", value_parser = parse_duration,
          default_value = duration_text(EngineConfig::default().lease))]
    pub(crate) lease: Duration,
    /// How often this node records that it is alive (and takes over from silent nodes); at
    /// most half the `--lease`.
    #[arg(long, env = "SCHEDULER_HEARTBEAT_INTERVAL", value_parser = parse_duration,
          default_value = duration_text(EngineConfig::default().heartbeat_interval))]
    pub(crate) heartbeat_interval: Duration,
    /// How long a shutdown lets requests and attempts in flight finish.
    #[arg(long, env = "SCHEDULER_SHUTDOWN_GRACE", value_parser = parse_duration,
          default_value = duration_text(DEFAULT_SHUTDOWN_GRACE))]
    pub(crate) shutdown_grace: Duration,
    /// How long a request body may take to arrive in full; a slower one is answered 408 and
    /// its connection closed.
    #[arg(long, env = "SCHEDULER_REQUEST_BODY_TIMEOUT", value_parser = parse_positive_duration,
          default_value = duration_text(ApiConfig::default().request_body_timeout))]
    pub(crate) request_body_timeout: Duration,
    /// The most connections one client IP address may have open to the API at once; a
    /// connection over it is answered 429 and closed.
    #[arg(long, env = "SCHEDULER_MAX_CONNECTIONS_PER_CLIENT",
          default_value_t = NonZeroUsize::new(ApiConfig::default().max_connections_per_client)
              .unwrap_or(NonZeroUsize::MIN))]
    pub(crate) max_connections_per_client: NonZeroUsize,
    /// Log filter: `error`, `warn`, `info`, `debug`, `trace`, or per module
    /// (`scheduler_core=debug,info`). `RUST_LOG` overrides it.
    #[arg(long, env = "SCHEDULER_LOG_LEVEL", default_value = "info")]
    pub(crate) log_level: String,
    /// Log lines as `text` or as `json` (one object per line).
    #[arg(long, env = "SCHEDULER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    /// Also write the log lines to this file (created 0600), rotated by size to `PATH.1` …
    /// `PATH.N`.
    #[arg(long, env = "SCHEDULER_LOG_FILE")]
    pub(crate) log_file: Option<PathBuf>,
    /// The size in MiB past which `--log-file` is rotated.
    #[arg(long, env = "SCHEDULER_LOG_FILE_MAX_MIB",
          default_value_t = NonZeroU64::new(LogFileConfig::DEFAULT_MAX_MIB).unwrap_or(NonZeroU64::MIN))]
    pub(crate) log_file_max_mib: NonZeroU64,
    /// How many rotated log files are kept (`PATH.1` … `PATH.N`); `0` keeps none.
    #[arg(long, env = "SCHEDULER_LOG_FILE_KEEP", default_value_t = LogFileConfig::DEFAULT_KEEP)]
    pub(crate) log_file_keep: usize,

    // Tuning: hidden from `--help`, documented in docs/TUNING.md.
    /// How far ahead due ticks are claimed from the database.
    #[arg(long, env = "SCHEDULER_LOOK_AHEAD", hide = true, value_parser = parse_duration,
          default_value = duration_text(EngineConfig::default().look_ahead))]
    pub(crate) look_ahead: Duration,
    /// How often due ticks are claimed; shorter than `--look-ahead`.
    #[arg(long, env = "SCHEDULER_CLAIM_INTERVAL", hide = true, value_parser = parse_duration,
          default_value = duration_text(EngineConfig::default().claim_interval))]
    pub(crate) claim_interval: Duration,
    /// The most attempts in flight that started less than `--fresh-window` ago.
    #[arg(long, env = "SCHEDULER_MAX_FRESH_ATTEMPTS", hide = true,
          default_value_t = EngineConfig::default().max_fresh_attempts)]
    pub(crate) max_fresh_attempts: usize,
    /// How long an attempt counts against `--max-fresh-attempts`; `0s` turns that limit off.
    #[arg(long, env = "SCHEDULER_FRESH_WINDOW", hide = true, value_parser = parse_duration,
          default_value = duration_text(EngineConfig::default().fresh_window))]
    pub(crate) fresh_window: Duration,
    /// How long an execution's result may wait for others before it is written.
    #[arg(long, env = "SCHEDULER_RESULT_LINGER", hide = true, value_parser = parse_duration,
          default_value = duration_text(EngineConfig::default().result_linger))]
    pub(crate) result_linger: Duration,
    /// MiB of the database file read through memory-mapped I/O; `0` turns it off.
    #[arg(long, env = "SCHEDULER_SQLITE_MMAP_MIB", hide = true,
          default_value_t = store_defaults().mmap_size >> 20)]
    pub(crate) sqlite_mmap_mib: u64,
    /// How often executions enter the per-job history index; `0s` indexes each at insert.
    #[arg(long, env = "SCHEDULER_SQLITE_HISTORY_INTERVAL", hide = true,
          value_parser = parse_duration,
          default_value = duration_text(store_defaults().history_interval))]
    pub(crate) sqlite_history_interval: Duration,
    /// Decoded jobs the claims keep between claims.
    #[arg(long, env = "SCHEDULER_SQLITE_JOB_CACHE", hide = true,
          default_value_t = store_defaults().job_cache_capacity)]
    pub(crate) sqlite_job_cache: usize,
}

/// `--durability`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum DurabilityArg {
    /// Survives a process crash; the last batches may be lost in a power loss.
    Normal,
    /// Every commit is synced to disk before it is acknowledged.
    Full,
}

impl From<Durability> for DurabilityArg {
    fn from(durability: Durability) -> Self {
        match durability {
            Durability::Normal => DurabilityArg::Normal,
            Durability::Full => DurabilityArg::Full,
        }
    }
}

impl From<DurabilityArg> for Durability {
    fn from(durability: DurabilityArg) -> Self {
        match durability {
            DurabilityArg::Normal => Durability::Normal,
            DurabilityArg::Full => Durability::Full,
        }
    }
}

impl ServeArgs {
    /// The log file the flags ask for, if any.
    pub(crate) fn log_file_config(&self) -> Option<LogFileConfig> {
        let path = self.log_file.clone()?;
        Some(LogFileConfig {
            path,
            max_bytes: self.log_file_max_mib.get().saturating_mul(1024 * 1024),
            keep: self.log_file_keep,
        })
    }

    /// The SQLite store's settings the flags ask for, for the database at `path`; the rest are
    /// the store's defaults.
    pub(crate) fn sqlite_config(&self, path: &Path) -> SqliteConfig {
        SqliteConfig {
            durability: self.durability.into(),
            mmap_size: self.sqlite_mmap_mib.saturating_mul(1 << 20),
            history_interval: self.sqlite_history_interval,
            job_cache_capacity: self.sqlite_job_cache,
            ..SqliteConfig::new(path)
        }
    }

    /// The engine's settings from the flags; the rest are the engine's defaults.
    pub(crate) fn engine_config(&self) -> EngineConfig {
        let retention = (self.retention_max_age.is_some() || self.retention_per_job.is_some())
            .then_some(RetentionPolicy {
                max_age: self.retention_max_age,
                max_per_job: self.retention_per_job,
            });
        EngineConfig {
            node_id: self.node_id.clone(),
            lease: self.lease,
            heartbeat_interval: self.heartbeat_interval,
            look_ahead: self.look_ahead,
            claim_interval: self.claim_interval,
            max_in_flight: self.max_in_flight,
            max_in_flight_per_host: self.max_in_flight_per_host,
            max_fresh_attempts: self.max_fresh_attempts,
            fresh_window: self.fresh_window,
            result_linger: self.result_linger,
            max_backlog: self.max_backlog,
            misfire_threshold: self.misfire_threshold,
            outage_buffer_bytes: self.outage_buffer_mib.saturating_mul(MIB),
            default_tick_jitter: Duration::from_millis(self.default_jitter_ms),
            retention,
            ..EngineConfig::default()
        }
    }

    /// The target policy the flags ask for (the API's own address is added once it is bound).
    pub(crate) fn target_policy(&self) -> TargetPolicy {
        TargetPolicy {
            deny_private: self.deny_private_targets,
            allow: self.allow_target.clone(),
            deny: self.deny_target.clone(),
            own_api: Vec::new(),
        }
    }

    /// The REST API's settings from the flags; the rest are the API's defaults.
    pub(crate) fn api_config(&self) -> ApiConfig {
        ApiConfig {
            job_defaults: JobDefaults {
                attempt_timeout: self.default_timeout,
                retry: RetryPolicy {
                    max_attempts: self.default_max_attempts,
                    initial_backoff: self.default_initial_backoff,
                    max_backoff: self.default_max_backoff,
                    ..JobDefaults::default().retry
                },
            },
            shutdown_timeout: self.shutdown_grace,
            request_body_timeout: self.request_body_timeout,
            max_connections_per_client: self.max_connections_per_client.get(),
            auth: http_api::AuthConfig {
                // The binary sets the verifier once the store is open.
                tokens: None,
                allowed_hosts: self.allowed_hosts.clone().unwrap_or_default(),
                metrics: if self.metrics_auth {
                    MetricsAccess::Token
                } else {
                    MetricsAccess::Open
                },
            },
            ..ApiConfig::default()
        }
    }
}

/// A signing secret: not empty.
fn parse_signing_secret(text: &str) -> Result<SigningSecret, String> {
    if text.is_empty() {
        return Err("a signing secret must not be empty".to_owned());
    }
    Ok(SigningSecret::new(text))
}

/// The engine's error about its configuration, its fields named as the flags that set them.
pub(crate) fn name_engine_flags(error: scheduler_core::Error) -> anyhow::Error {
    let scheduler_core::Error::InvalidConfig { setting, reason } = &error else {
        return anyhow::Error::new(error);
    };
    let Some(flag) = engine_flag(setting) else {
        return anyhow::Error::new(error);
    };
    let reason = ENGINE_FLAGS
        .iter()
        .fold(reason.clone(), |reason, (field, flag)| {
            reason.replace(field, flag)
        });
    anyhow::anyhow!("invalid {flag}: {reason}")
}

/// The flag that sets the engine's configuration field `field`, if one does.
fn engine_flag(field: &str) -> Option<&'static str> {
    ENGINE_FLAGS
        .iter()
        .find(|(name, _)| *name == field)
        .map(|(_, flag)| *flag)
}

/// The engine's configuration fields that flags set, and those flags.
const ENGINE_FLAGS: [(&str, &str); 14] = [
    ("node_id", "--node-id"),
    ("heartbeat_interval", "--heartbeat-interval"),
    ("lease", "--lease"),
    ("look_ahead", "--look-ahead"),
    ("claim_interval", "--claim-interval"),
    // Before `max_in_flight`, whose name is a prefix of it.
    ("max_in_flight_per_host", "--max-in-flight-per-host"),
    ("max_in_flight", "--max-in-flight"),
    ("max_fresh_attempts", "--max-fresh-attempts"),
    ("fresh_window", "--fresh-window"),
    ("result_linger", "--result-linger"),
    ("max_backlog", "--max-backlog"),
    ("misfire_threshold", "--misfire-threshold"),
    ("outage_buffer_bytes", "--outage-buffer-mib"),
    ("default_tick_jitter", "--default-jitter-ms"),
];

/// The largest `--default-jitter-ms`.
const MAX_TICK_JITTER_MS: u64 = scheduler_core::MAX_TICK_JITTER.as_secs() * 1_000;

/// A duration in whole milliseconds, for the flags that take milliseconds.
const fn millis(duration: Duration) -> u64 {
    duration.as_secs() * 1_000 + duration.subsec_millis() as u64
}

/// Bytes in a MiB, for the flags that take MiB.
const MIB: usize = 1024 * 1024;

/// Where the store is: `--db`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Database {
    /// A SQLite database file: the embedded default.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by its URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl Database {
    /// A PostgreSQL URL by its scheme; anything else is a SQLite path.
    fn parse(text: &str) -> Result<Database, String> {
        if text.trim().is_empty() {
            return Err("expected a SQLite file or a postgres:// URL, found nothing".to_owned());
        }
        let is_postgres = ["postgres://", "postgresql://"]
            .iter()
            .any(|scheme| text.starts_with(scheme));
        Ok(if is_postgres {
            Database::Postgres(text.to_owned())
        } else {
            Database::Sqlite(PathBuf::from(text))
        })
    }
}

/// For logs: the file, or the URL without its password and parameters.
impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "SQLite database {}", path.display()),
            Database::Postgres(url) => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
                let rest = rest.split('?').next().unwrap_or_default();
                let rest = match rest.rsplit_once('@') {
                    Some((credentials, place)) => {
                        let user = credentials.split(':').next().unwrap_or_default();
                        format!("{user}@{place}")
                    }
                    None => rest.to_owned(),
                };
                write!(f, "PostgreSQL database {scheme}://{rest}")
            }
        }
    }
}

/// `--db` when neither it nor `SCHEDULER_DB` is given.
pub(crate) const DEFAULT_DB: &str = "./scheduler.db";

/// `--shutdown-grace` when not given: the whole server's, for the API, the engine and the
/// alerts in turn, so the binary owns it rather than any one of their configs.
const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The store's defaults, for the flags that set its fields.
fn store_defaults() -> SqliteConfig {
    SqliteConfig::new(DEFAULT_DB)
}

/// Durations like `30s`, `1m 30s`, `7d`, `250ms` or ISO 8601 `PT30S`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
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

/// A [`parse_duration`] that is more than zero.
fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        duration if duration.is_zero() => Err(format!("{text:?} must be more than zero")),
        duration => Ok(duration),
    }
}

/// `duration` in the largest unit that holds it whole (`2s`, `100ms`, `1m`), as
/// [`parse_duration`] reads it: how a config type's default appears in `--help`.
fn duration_text(duration: Duration) -> String {
    const UNITS: [(&str, u128); 5] = [
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ];
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    UNITS
        .iter()
        .find(|(_, size)| nanos.is_multiple_of(*size))
        .map_or_else(
            || format!("{nanos}ns"),
            |(unit, size)| format!("{}{unit}", nanos / size),
        )
}

#[cfg(test)]
mod tests;
