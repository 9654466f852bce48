//! `scheduler serve`: the server. Opens the store, starts the engine and the REST API, and
//! shuts both down gracefully on SIGINT or SIGTERM.

mod args;
mod targets;

use std::net::TcpListener;
use std::num::NonZeroUsize;
use std::sync::Arc;

use alerts::{
    FanOutAlertSink, JobWebhookAlertSink, JobWebhookConfig, WebhookAlertSink, WebhookConfig,
    WebhookWorker,
};
use anyhow::Context;
use executor::{
    HttpTransport, HttpTransportConfig, QueueTransport, QueueTransportConfig, RoutingTransport,
    SigningSecret, TargetPolicy,
};
use http_api::{ApiState, EngineHealthProbe, HealthProbe, TlsConfig, TokenVerifier};
use scheduler_core::{
    AlertSink, BoxFuture, Engine, JobAlert, JobAlertSink, LogAlertSink, Store, TokenStore,
};
use store::{PostgresConfig, PostgresStore, SqliteStore};

use self::args::Database;
pub(crate) use self::args::{DEFAULT_DB, ServeArgs, parse_duration};
use crate::log_file::RotatingFile;
use crate::{db_command, logging};

/// Runs the server until SIGINT or SIGTERM.
pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let log_file_config = args.log_file_config();
    let log_file = log_file_config
        .clone()
        .map(RotatingFile::open)
        .transpose()
        .context("opening the log file (--log-file)")?;
    logging::init(&args.log_level, args.log_format, log_file);
    if let Some(config) = log_file_config {
        log::info!(
            "log file: {} (rotated past {} MiB, {} kept)",
            config.path.display(),
            args.log_file_max_mib,
            config.keep
        );
    }
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

async fn serve(args: ServeArgs, control_runtime: tokio::runtime::Handle) -> anyhow::Result<()> {
    // The engine checks its configuration again when it starts; checking it here refuses bad
    // flags before the database file is made.
    let engine_config = args.engine_config();
    engine_config
        .validate()
        .map_err(args::name_engine_flags)
        .context("checking the engine's configuration")?;
    // A bad certificate or key is refused before the database is opened.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(certificate), Some(key)) => Some(
            TlsConfig::from_pem_files(certificate, key)
                .context("loading --tls-cert and --tls-key")?,
        ),
        _ => None,
    };
    let mut sqlite = None;
    let (store, tokens): (Arc<dyn Store>, Arc<dyn TokenStore>) = match &args.db {
        Database::Sqlite(path) => {
            let store = SqliteStore::open(&args.sqlite_config(path))
                .map_err(|error| db_command::with_remedy(error, path))?;
            let store = Arc::new(store);
            sqlite = Some(Arc::clone(&store));
            (store.clone(), store)
        }
        Database::Postgres(url) => {
            let store = Arc::new(PostgresStore::connect(&PostgresConfig::new(url.as_str())).await?);
            (store.clone(), store)
        }
    };
    log::info!("store: {}", args.db);
    let mut api_config = args.api_config();
    api_config.auth.tokens = token_verifier(&args, tokens).await?;
    api_config.tls = tls;
    // Bound before the transports are built: their target policy refuses connections to it.
    let listener =
        TcpListener::bind(args.listen).with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    let target_policy = TargetPolicy {
        own_api: vec![address],
        ..args.target_policy()
    };

    // Keep as many idle connections per target as attempts can be in flight to it: with
    // fewer, a burst of ticks to one target (every job on the second) closes the surplus
    // connections after each burst and opens them again on the next one.
    let transport_config = HttpTransportConfig {
        pool_max_idle_per_host: args.max_in_flight.min(args.max_in_flight_per_host),
        signing_secrets: args.signing_secret.clone(),
        target_policy: target_policy.clone(),
        ..HttpTransportConfig::default()
    };
    // How many secrets, never which.
    log::info!(
        "outgoing requests: {} signing secret(s), private targets {}, {} allow and {} deny rule(s)",
        args.signing_secret.len(),
        if args.deny_private_targets {
            "denied"
        } else {
            "allowed"
        },
        args.allow_target.len(),
        args.deny_target.len(),
    );
    // `nats://` and `amqp://` targets publish to their brokers, with the same secrets and
    // target policy as HTTP requests.
    let queue = QueueTransport::new(QueueTransportConfig {
        signing_secrets: args.signing_secret.clone(),
        target_policy: target_policy.clone(),
    });
    api_config.brokers = Some(Arc::new(targets::QueueBrokers(queue.clone())));
    let http = HttpTransport::new(transport_config).context("building the HTTP client")?;
    let transport = Arc::new(RoutingTransport::new(http, queue));
    let (alert_sink, webhook) =
        alert_sinks(args.alert_webhook_url.as_deref(), &args.signing_secret)?;
    // Jobs' own webhooks are chosen by API clients: they go through the target policy. A job
    // without secrets of its own signs its alerts with the server's.
    let mut job_webhooks = JobWebhookConfig::default();
    job_webhooks.webhook.target_policy = Some(target_policy.clone());
    job_webhooks.webhook.signing_secrets = args.signing_secret.clone();
    let job_webhooks = JobWebhookAlertSink::new(job_webhooks);

    let engine = Engine::builder(store, transport)
        .alert_sink(alert_sink)
        .job_alert_sink(Arc::new(LoggedJobAlerts(job_webhooks.clone())))
        .config(engine_config)
        .control_runtime(control_runtime)
        .start()
        .await
        // The engine checks its configuration; say which flags are at fault.
        .map_err(args::name_engine_flags)
        .context("starting the engine")?;

    let probe: Arc<dyn HealthProbe> = match sqlite {
        Some(store) => Arc::new(SqliteHealthProbe {
            engine: EngineHealthProbe::new(engine.clone()),
            store,
        }),
        None => Arc::new(EngineHealthProbe::new(engine.clone())),
    };
    let state = ApiState::new(engine.clone(), probe);
    let scheme = if api_config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    api_config.target_check = Some(Arc::new(targets::ServerTargetCheck {
        policy: target_policy,
        listen: address,
    }));
    let server =
        http_api::serve(listener, state, api_config).context("starting the HTTP server")?;
    let server_handle = server.handle();
    let mut running = tokio::spawn(server);
    log::info!("listening on {scheme}://{address} (node {})", args.node_id);

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
    // One grace period for everything: the engine stops firing at once and drains its
    // attempts while the HTTP server drains its requests; the alerts raised get what is left.
    let deadline = std::time::Instant::now() + args.shutdown_grace;
    let ((), report) = tokio::join!(
        async {
            server_handle.stop(true).await;
            let _ = running.await;
        },
        engine.shutdown(args.shutdown_grace)
    );
    log::info!(
        "engine stopped: {} attempts drained, {} interrupted, {} ticks left for the next start",
        report.drained,
        report.interrupted,
        report.left_for_recovery
    );
    if let Some(webhook) = webhook {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let stats = webhook.shutdown(left).await;
        log::info!("alert webhook stopped: {stats:?}");
    }
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    let stats = job_webhooks.shutdown(left).await;
    if stats.retired_destinations > 0 || stats.webhooks.delivered_batches > 0 {
        log::info!("job alert webhooks stopped: {stats:?}");
    }
    Ok(())
}

/// The API's token checks, or `None` with `--insecure-no-auth`. Refuses a non-loopback
/// `--listen` while the database holds no token (docs/SECURITY.md).
async fn token_verifier(
    args: &ServeArgs,
    tokens: Arc<dyn TokenStore>,
) -> anyhow::Result<Option<TokenVerifier>> {
    if args.insecure_no_auth {
        log::warn!(
            "API authentication is off (--insecure-no-auth): anyone who can reach {} can read and change every job",
            args.listen
        );
        if !args.listen.ip().is_loopback() && args.allowed_hosts.is_none() {
            log::warn!(
                "without --allowed-hosts, only requests addressed to localhost, 127.0.0.1 or [::1] are answered \
                 (others get 421): pass --allowed-hosts with the names clients use"
            );
        }
        return Ok(None);
    }
    if !args.listen.ip().is_loopback() {
        let has_tokens = tokens
            .has_tokens()
            .await
            .context("reading the API tokens")?;
        if !has_tokens {
            anyhow::bail!(
                "refusing to serve the API on {} (not a loopback address) without API tokens: create one \
                 with `scheduler tokens create --scope admin --db <the same --db>`, or pass \
                 --insecure-no-auth to serve it to anyone who can reach it",
                args.listen
            );
        }
    }
    Ok(Some(TokenVerifier::new(tokens, TokenVerifier::DEFAULT_TTL)))
}

/// The engine's probe, whose store check first asks the SQLite store whether its database
/// file and log are still the files it opened: a deleted database still answers reads through
/// the open file until the store notices, so a read alone would call it healthy.
struct SqliteHealthProbe {
    engine: EngineHealthProbe,
    store: Arc<SqliteStore>,
}

impl HealthProbe for SqliteHealthProbe {
    fn check_store(&self) -> BoxFuture<'static, Result<(), String>> {
        match self.store.check_files() {
            Ok(()) => self.engine.check_store(),
            Err(error) => Box::pin(std::future::ready(Err(error.to_string()))),
        }
    }

    fn check_engine(&self) -> BoxFuture<'static, Result<(), String>> {
        self.engine.check_engine()
    }
}

/// The log sink, plus the webhook when configured, its POSTs signed with `signing_secrets`.
fn alert_sinks(
    webhook_url: Option<&str>,
    signing_secrets: &[SigningSecret],
) -> anyhow::Result<(Arc<dyn AlertSink>, Option<WebhookWorker>)> {
    let log_sink: Arc<dyn AlertSink> = Arc::new(LogAlertSink);
    let Some(url) = webhook_url else {
        return Ok((log_sink, None));
    };
    let mut config = WebhookConfig::new(url);
    config.signing_secrets = signing_secrets.to_vec();
    let (webhook, worker) =
        WebhookAlertSink::start(config).context("starting the alert webhook")?;
    let sinks: Vec<Arc<dyn AlertSink>> = vec![log_sink, Arc::new(webhook)];
    Ok((Arc::new(FanOutAlertSink::new(sinks)), Some(worker)))
}

/// Jobs' own alerts: logged, and POSTed to their jobs' webhooks.
struct LoggedJobAlerts(JobWebhookAlertSink);

impl JobAlertSink for LoggedJobAlerts {
    fn deliver_job_alert(&self, alert: JobAlert) -> BoxFuture<'static, ()> {
        let logged = LogAlertSink.deliver_job_alert(alert.clone());
        let posted = self.0.deliver_job_alert(alert);
        Box::pin(async move {
            logged.await;
            posted.await;
        })
    }
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
    use super::*;

    /// `serve`'s flags from `args`, the rest at their defaults.
    fn serve_args(args: &[&str]) -> ServeArgs {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Serve {
            #[command(flatten)]
            args: ServeArgs,
        }
        Serve::parse_from(std::iter::once("serve").chain(args.iter().copied())).args
    }

    #[tokio::test]
    async fn a_non_loopback_listen_needs_a_token_or_insecure_no_auth() {
        use scheduler_core::{MemoryTokenStore, TokenScope};

        let empty: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
        let exposed = serve_args(&["--listen", "0.0.0.0:8080"]);
        let error = token_verifier(&exposed, empty.clone()).await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("refusing to serve the API on 0.0.0.0:8080"),
            "{error}"
        );
        let loopback = serve_args(&["--listen", "[::1]:8080"]);
        assert!(
            token_verifier(&loopback, empty.clone())
                .await
                .unwrap()
                .is_some()
        );
        let insecure = serve_args(&["--listen", "0.0.0.0:8080", "--insecure-no-auth"]);
        assert!(token_verifier(&insecure, empty).await.unwrap().is_none());

        let with_token: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
        let token =
            http_api::NewToken::generate(TokenScope::Read, None, scheduler_core::Timestamp::now())
                .unwrap();
        with_token.insert_token(token.stored).await.unwrap();
        assert!(
            token_verifier(&exposed, with_token)
                .await
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn the_main_runtime_has_the_workers_asked_for() {
        let runtime = main_runtime(NonZeroUsize::new(1)).expect("a runtime");
        assert_eq!(runtime.metrics().num_workers(), 1);
    }
}
