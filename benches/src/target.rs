//! The scheduler under test: the real binary in its own process, or the engine with the real
//! SQLite store and HTTP transport inside this process. Also seeding a database directly.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use executor::{HttpTransport, HttpTransportConfig};
use scheduler_core::{DeliveryType, Engine, EngineConfig, Job, JobId, JobSpec, JobStore, Schedule};
use store::{SqliteConfig, SqliteStore};

use crate::procstat::{self, Usage};
use crate::register::{Registered, run_creators};
use crate::ticks::{Delivery, ScheduleKind};

/// Names of the in-process engine's threads (runtime workers and blocking threads, the SQLite
/// writer, r2d2's pool maintenance), for its CPU time.
pub(crate) const ENGINE_THREADS: &[&str] = &["engine", "sqlite-writer", "r2d2"];

/// `scheduler serve` in a child process.
pub(crate) struct BinaryScheduler {
    child: Child,
    /// The REST API's address.
    pub(crate) api: SocketAddr,
    /// From spawning the process to its "listening on" line: opening the database, recovery
    /// and starting the engine and the API.
    pub(crate) start_up: Duration,
}

impl BinaryScheduler {
    /// Spawns `binary serve --listen 127.0.0.1:0 --db DB EXTRA...` (`DB` a SQLite file or a
    /// PostgreSQL URL), copies its log to `log_path`, and waits up to `time_limit` for it to
    /// listen.
    pub(crate) fn start(
        binary: &Path,
        db: &std::ffi::OsStr,
        extra_args: &[String],
        log_path: &Path,
        time_limit: Duration,
    ) -> anyhow::Result<BinaryScheduler> {
        let started = Instant::now();
        let mut child = Command::new(binary)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stderr = child.stderr.take().context("the child's stderr")?;
        let mut log = std::fs::File::create(log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        // Reads the log for as long as the process lives, so that it never blocks on a full pipe.
        std::thread::Builder::new()
            .name("harness-log".to_owned())
            .spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(address) = line
                        .split("listening on http://")
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().next())
                        .and_then(|address| address.parse::<SocketAddr>().ok())
                    {
                        let _ = address_tx.send(address);
                    }
                    let _ = writeln!(log, "{line}");
                }
            })?;
        match address_rx.recv_timeout(time_limit) {
            Ok(api) => Ok(BinaryScheduler {
                child,
                api,
                start_up: started.elapsed(),
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!(
                    "the scheduler did not listen within {time_limit:?}; see {}",
                    log_path.display()
                )
            }
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn usage(&self) -> Option<Usage> {
        procstat::process(self.child.id())
    }

    /// SIGTERM, then waits up to `grace` plus 5 s before killing it. Returns the usage read just
    /// before the signal and the exit status (`None` when it had to be killed).
    pub(crate) async fn stop(mut self, grace: Duration) -> anyhow::Result<(Usage, Option<i32>)> {
        let usage = self.usage().unwrap_or_default();
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("sending SIGTERM")?;
        let deadline = Instant::now() + grace + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok((usage, status.code()));
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Ok((usage, None));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for BinaryScheduler {
    fn drop(&mut self) {
        // Only when `stop` was not reached (an error on the way): never leave it running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The engine with the SQLite store and the HTTP transport, on its own runtime (threads named
/// `engine`) inside this process.
pub(crate) struct InProcessScheduler {
    runtime: tokio::runtime::Runtime,
    engine: Engine,
    pub(crate) start_up: Duration,
}

impl InProcessScheduler {
    pub(crate) async fn start(
        db: &Path,
        config: EngineConfig,
    ) -> anyhow::Result<InProcessScheduler> {
        let started = Instant::now();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("engine")
            .build()?;
        let db = db.to_path_buf();
        let engine = runtime
            .spawn(async move {
                let store = Arc::new(SqliteStore::open(&SqliteConfig::new(db))?);
                // As the binary wires it: idle connections kept up to the in-flight limit.
                let transport = Arc::new(HttpTransport::new(HttpTransportConfig {
                    pool_max_idle_per_host: config.max_in_flight,
                    ..HttpTransportConfig::default()
                })?);
                anyhow::Ok(
                    Engine::builder(store, transport)
                        .config(config)
                        .start()
                        .await?,
                )
            })
            .await??;
        Ok(InProcessScheduler {
            runtime,
            engine,
            start_up: started.elapsed(),
        })
    }

    /// Registers jobs through the engine's handle (no HTTP), as an embedding program would.
    pub(crate) async fn register(
        &self,
        sink_url: &str,
        (kind, delivery): (ScheduleKind, Delivery),
        jobs: usize,
        concurrency: usize,
        time_limit: Duration,
    ) -> anyhow::Result<Registered> {
        let engine = self.engine.clone();
        let sink_url: Arc<str> = Arc::from(sink_url);
        run_creators(jobs, concurrency, time_limit, kind, move |_, expression| {
            let engine = engine.clone();
            let sink_url = Arc::clone(&sink_url);
            async move {
                let schedule: Schedule = expression.parse()?;
                let spec = JobSpec::new(schedule, &*sink_url, delivery.domain());
                Ok(engine.create_job(spec).await?.id.0.as_u128())
            }
        })
        .await
    }

    /// Shuts the engine down gracefully, then its runtime (the store closes with the engine).
    pub(crate) async fn stop(self, grace: Duration) -> anyhow::Result<()> {
        let InProcessScheduler {
            runtime, engine, ..
        } = self;
        let handle = engine.clone();
        runtime
            .spawn(async move { handle.shutdown(grace).await })
            .await?;
        // The last handle: dropping it closes the store, whose writer thread commits what is
        // queued and exits before this returns.
        drop(engine);
        runtime.shutdown_background();
        Ok(())
    }
}

/// Writes `jobs` jobs straight into a new database at `db` through the store (group commit,
/// `concurrency` writes queued at once), skipping the API: for the million-job start-up scenario.
pub(crate) async fn seed(
    db: &Path,
    sink_url: &str,
    kind: ScheduleKind,
    jobs: usize,
    concurrency: usize,
) -> anyhow::Result<Registered> {
    let store = Arc::new(SqliteStore::open(&SqliteConfig::new(db.to_path_buf()))?);
    let sink_url: Arc<str> = Arc::from(sink_url);
    let writer = Arc::clone(&store);
    let registered = run_creators(
        jobs,
        concurrency,
        Duration::from_secs(3_600),
        kind,
        move |_, expression| {
            let store = Arc::clone(&writer);
            let sink_url = Arc::clone(&sink_url);
            async move {
                let schedule: Schedule = expression.parse()?;
                let spec = JobSpec::new(schedule, &*sink_url, DeliveryType::AtLeastOnce);
                let now = scheduler_core::Timestamp::now();
                let job = Job {
                    id: JobId::new_random(),
                    next_fire_at: spec.next_fire_after(now),
                    spec,
                    created_at: now,
                    updated_at: now,
                    version: 1,
                    done_at: None,
                };
                let id = job.id.0.as_u128();
                store.insert_job(job).await?;
                Ok(id)
            }
        },
    )
    .await?;
    drop(store);
    Ok(registered)
}

/// A fresh database path in `directory`.
pub(crate) fn database_in(directory: &Path) -> PathBuf {
    directory.join("scheduler.db")
}
