//! The REST API of the scheduler: actix-web routes, the JSON of jobs and executions, input
//! validation, the OpenAPI document, and the metrics and health endpoints.
//!
//! **What it is:** a library that turns HTTP requests into calls on a running
//! [`scheduler_core::Engine`] and their results into JSON. It is the only crate that knows JSON
//! over HTTP; it has its own DTOs (core's domain types do not serialize).
//!
//! **What it is not:** it does not build the server binary, choose a store or a transport, or
//! handle signals: `bins/scheduler` wires an engine and calls [`serve`]. It knows nothing about
//! SQL or hyper.
//!
//! # Entry points
//!
//! - [`ApiState`]: what every handler shares: the engine handle, the start time, the API's own
//!   metrics ([`ApiMetrics`]) and a [`HealthProbe`] ([`EngineHealthProbe`] works with any store).
//! - [`ApiConfig`]: body size limit, worker threads, shutdown grace, health-check timeout.
//! - [`serve`]: binds an actix-web server to a listener you opened; returns the running
//!   [`Server`] (await it; stop it through [`Server::handle`]).
//! - [`configure`]: the routes alone, for an `App` of your own (tests use it with
//!   `actix_web::test`).
//!
//! ```no_run
//! use std::net::TcpListener;
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use http_api::{ApiConfig, ApiState, EngineHealthProbe};
//! use scheduler_core::{Engine, MemoryStore, Transport};
//!
//! # async fn run(transport: Arc<dyn Transport>) -> std::io::Result<()> {
//! let engine = Engine::builder(Arc::new(MemoryStore::new()), transport)
//!     .start()
//!     .await
//!     .expect("the engine starts");
//! let state = ApiState::new(engine.clone(), Arc::new(EngineHealthProbe::new(engine.clone())));
//! let listener = TcpListener::bind("127.0.0.1:8080")?;
//! let server = http_api::serve(listener, state, ApiConfig::default())?;
//! let handle = server.handle();
//! let running = tokio::spawn(server);
//! // ... on SIGINT/SIGTERM: stop taking requests, then stop the engine.
//! handle.stop(true).await;
//! let _ = running.await;
//! engine.shutdown(Duration::from_secs(10)).await;
//! # Ok(())
//! # }
//! ```
//!
//! With your own `App`:
//!
//! ```
//! # use std::sync::Arc;
//! # use http_api::{ApiConfig, ApiState, EngineHealthProbe};
//! # fn app(state: ApiState) {
//! let app = actix_web::App::new().configure(http_api::configure(state, ApiConfig::default()));
//! # let _ = app;
//! # }
//! ```
//!
//! # The API
//!
//! `GET /api/openapi.json` serves the full OpenAPI 3.1 document; in short:
//!
//! | method and path | what |
//! |---|---|
//! | `POST /api/jobs` | create a job: `201` and the job, with `jobId`, `Location` and `ETag` |
//! | `POST /api/jobs:batch` | create up to 10,000 jobs (a JSON array or NDJSON), all or none: `201 {"created", "jobIds"}` |
//! | `GET /api/jobs?limit=&after=&paused=&type=` | jobs in id order, `{"jobs": [...], "nextCursor"}` |
//! | `GET /api/jobs/{jobId}` | the job, with its next five fire times and statistics |
//! | `PUT /api/jobs/{jobId}` | replace the job (optional `If-Match: "<version>"` or `version`) |
//! | `DELETE /api/jobs/{jobId}` | delete the job and its history: `204` |
//! | `POST /api/jobs/{jobId}/pause`, `/resume` | pause or resume: the job |
//! | `POST /api/jobs/{jobId}/trigger` | fire once now: `202` and the execution |
//! | `GET /api/jobs/{jobId}/executions?limit=&status=` | newest first, default 5, at most 1000 |
//! | `GET /api/executions?limit=&status=&jobId=` | recent executions across jobs |
//! | `GET /api/executions/{executionId}` | one execution |
//! | `GET /api/metrics`, `GET /metrics` | metrics as JSON, and as Prometheus text |
//! | `GET /api/health` | liveness (`live`) and readiness: `200`, or `503` when not ready |
//!
//! Fields are camelCase; instants are RFC 3339 UTC with milliseconds
//! (`2026-11-30T01:10:31.000Z`); durations are integer milliseconds (`durationMs`, `timeoutMs`).
//! The delivery `type` is `ATLEAST_ONCE` or `ATMOST_ONCE` (`AT_LEAST_ONCE` and `AT_MOST_ONCE`
//! are accepted too; responses use the first spelling). An execution's `retryCount` is its
//! attempts minus one; its `redeliveries` counts the times it was sent again after its node
//! stopped.
//!
//! # Authentication
//!
//! [`ApiConfig::auth`] decides who may call the API: with a [`TokenVerifier`], requests carry
//! `Authorization: Bearer <token>` once its store holds a token (`read` tokens may only `GET`);
//! the `Host` must be an allowed name ([`AllowedHosts`]); and a request that changes state must
//! be JSON unless it carries a token. [`NewToken::generate`] makes tokens. [`ApiConfig::tls`]
//! serves HTTPS. The threat model is in `docs/SECURITY.md`.
//!
//! # Errors
//!
//! Every error, including 404 for unknown paths, 405, 413, 415 and malformed JSON, has one body:
//!
//! ```json
//! {"error": {"code": "invalid", "field": "schedule", "message": "day-of-week: invalid value \"FRX\" at column 20 (expected 0-7 or SUN-SAT)"}}
//! ```
//!
//! `field` names the body field (`retry.maxAttempts`), query parameter, header
//! (`Content-Type`, `If-Match`) or path parameter (`jobId`) at fault. Bad input is always a 4xx
//! and changes nothing stored; a 5xx means the engine or the store failed ([`ApiError`]).
#![warn(missing_docs)]
#![recursion_limit = "256"]

mod auth;
mod batch;
mod cron;
mod dashboard;
mod dto;
mod error;
mod health;
mod limits;
mod metrics;
mod openapi;
mod routes;
mod target_check;
mod tls;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, Service as _};
use actix_web::{App, HttpServer, web};
use scheduler_core::{Engine, JobSpec, RetryPolicy, Timestamp};

pub use auth::{
    AllowedHosts, AuthConfig, LOOPBACK_HOSTS, MetricsAccess, NewToken, TOKEN_PREFIX, TokenVerifier,
    hash_token, token_id,
};
pub use batch::MAX_BATCH_JOBS;
pub use dto::JOB_READ_ONLY_FIELDS;
pub use error::{ApiError, BatchItemError, ErrorBody, ErrorDetail};
pub use health::{BrokerConnection, BrokerConnections, EngineHealthProbe, HealthProbe};
pub use metrics::ApiMetrics;
pub use target_check::TargetCheck;
pub use tls::TlsConfig;

/// The state every handler shares. Cheap to clone; every clone is the same state.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<StateInner>,
}

struct StateInner {
    engine: Engine,
    started_at: Timestamp,
    started: Instant,
    metrics: ApiMetrics,
    probe: Arc<dyn HealthProbe>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("started_at", &self.inner.started_at)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// The state of an API over `engine`, whose readiness `probe` checks. The start time (for
    /// uptime) is now.
    pub fn new(engine: Engine, probe: Arc<dyn HealthProbe>) -> ApiState {
        ApiState {
            inner: Arc::new(StateInner {
                engine,
                started_at: Timestamp::now(),
                started: Instant::now(),
                metrics: ApiMetrics::default(),
                probe,
            }),
        }
    }

    /// The engine the API drives.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The API's own request and store-read metrics.
    pub fn metrics(&self) -> &ApiMetrics {
        &self.inner.metrics
    }

    /// When the state was created (wall clock).
    pub fn started_at(&self) -> Timestamp {
        self.inner.started_at
    }

    /// How long ago the state was created.
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    fn probe(&self) -> &dyn HealthProbe {
        &*self.inner.probe
    }
}

/// The HTTP server's settings. Start from `ApiConfig::default()` and change fields.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The largest request body accepted, in bytes; larger ones get `413`. Default 64 KiB.
    /// `POST /api/jobs:batch` has a limit of its own, [`ApiConfig::max_batch_body_bytes`].
    pub max_body_bytes: usize,
    /// The largest body of `POST /api/jobs:batch` (up to [`MAX_BATCH_JOBS`] jobs), in bytes;
    /// larger ones get `413`. Default 32 MiB: 10,000 jobs of about 3 KiB each.
    pub max_batch_body_bytes: usize,
    /// Worker threads of the HTTP server (each runs its own event loop). Default: the number
    /// of CPUs.
    pub workers: usize,
    /// How long a graceful stop waits for requests in progress. Default 30 s.
    pub shutdown_timeout: Duration,
    /// How long each readiness check of `GET /api/health` may take before it counts as
    /// failed. Default 5 s.
    pub health_check_timeout: Duration,
    /// The settings a job gets when its request leaves them out.
    pub job_defaults: JobDefaults,
    /// How long a request body may take to arrive in full, from the end of the request's
    /// head; a slower one is answered `408` and its connection closed. Default 10 s.
    pub request_body_timeout: Duration,
    /// The most connections one client IP address may have open at once (with [`serve`]); a
    /// connection over the limit is answered `429` and closed. Default 256.
    pub max_connections_per_client: usize,
    /// Tokens, allowed hosts and the metrics' access. Default: no token required, loopback
    /// hosts only.
    pub auth: AuthConfig,
    /// HTTPS: the certificate and key; `None` (the default) serves plain HTTP.
    pub tls: Option<TlsConfig>,
    /// Checks the target of every job created or replaced; `None` (the default) accepts every
    /// valid URL.
    pub target_check: Option<Arc<dyn TargetCheck>>,
    /// The message-broker connections that `/api/health` and the metrics report; `None` (the
    /// default) reports none. A broker that is down does not make the server unready: only
    /// the jobs that publish to it fail.
    pub brokers: Option<Arc<dyn BrokerConnections>>,
}

/// The per-attempt timeout and retry policy of jobs whose request does not set them (the
/// server's `--default-timeout` and `--default-*` retry flags). A request's `retry` object
/// starts from these and overrides the fields it names.
#[derive(Clone, Debug, PartialEq)]
pub struct JobDefaults {
    /// How long one attempt may take. Default: core's [`JobSpec::DEFAULT_ATTEMPT_TIMEOUT`].
    pub attempt_timeout: Duration,
    /// How failed attempts are retried. Default: core's [`RetryPolicy::default`].
    pub retry: RetryPolicy,
}

impl Default for JobDefaults {
    fn default() -> Self {
        JobDefaults {
            attempt_timeout: JobSpec::DEFAULT_ATTEMPT_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body_bytes: 64 * 1024,
            max_batch_body_bytes: 32 * 1024 * 1024,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            shutdown_timeout: Duration::from_secs(30),
            health_check_timeout: Duration::from_secs(5),
            job_defaults: JobDefaults::default(),
            request_body_timeout: Duration::from_secs(10),
            max_connections_per_client: 256,
            auth: AuthConfig::default(),
            tls: None,
            target_check: None,
            brokers: None,
        }
    }
}

/// The routes, error handlers and request metrics, for `App::configure`.
///
/// Everything is installed in one scope: the JSON, path and query extractors' errors become
/// [`ErrorBody`] JSON, unknown paths get a JSON 404, other methods a JSON 405 with `Allow`, and
/// every request is counted in [`ApiState::metrics`] by route pattern.
pub fn configure(state: ApiState, config: ApiConfig) -> impl FnOnce(&mut web::ServiceConfig) {
    move |service_config: &mut web::ServiceConfig| {
        let limit = config.max_body_bytes;
        let json = web::JsonConfig::default()
            .limit(limit)
            .error_handler(move |error, request| error::json_error(error, request, limit));
        let query = web::QueryConfig::default().error_handler(error::query_error);
        let path = web::PathConfig::default().error_handler(error::path_error);
        let recorder = state.clone();
        let body_timeout = config.request_body_timeout;
        let connection_limit = config.max_connections_per_client;
        let auth = config.auth.clone();
        let scope = web::scope("")
            .app_data(web::Data::new(state))
            .app_data(web::Data::new(config))
            .app_data(json)
            .app_data(query)
            .app_data(path)
            .default_service(web::to(routes::route_not_found));
        let scope = dashboard::register(routes::register(scope))
            .wrap(actix_web::middleware::from_fn(
                move |request: actix_web::dev::ServiceRequest,
                      next: actix_web::middleware::Next<_>| {
                    let auth = auth.clone();
                    async move {
                        match auth::check(&request, &auth).await {
                            Ok(()) => next
                                .call(request)
                                .await
                                .map(actix_web::dev::ServiceResponse::map_into_left_body),
                            Err(error) => Ok(request.error_response(error).map_into_right_body()),
                        }
                    }
                },
            ))
            .wrap_fn(move |request, service| {
                let started = Instant::now();
                let method = request.method().clone();
                let recorder = recorder.clone();
                let over_limit = request
                    .conn_data::<limits::ClientConnection>()
                    .filter(|connection| connection.over_limit())
                    .map(|connection| connection.ip());
                let outcome = match over_limit {
                    None => {
                        let (http_request, payload) = request.into_parts();
                        let request = actix_web::dev::ServiceRequest::from_parts(
                            http_request,
                            limits::with_deadline(payload, body_timeout),
                        );
                        Ok(service.call(request))
                    }
                    Some(client) => Err(request.error_response(ApiError::TooManyConnections {
                        client: client.to_string(),
                        limit: connection_limit,
                    })),
                };
                async move {
                    let mut response = match outcome {
                        Ok(call) => call.await?.map_into_boxed_body(),
                        Err(refused) => refused.map_into_boxed_body(),
                    };
                    // The graceful stop waits for every open connection: a keep-alive client
                    // that keeps asking (a load balancer's health check) would hold it until the
                    // grace period ends, so once shutting down each answer closes its connection.
                    if recorder.engine().is_stopping() {
                        response
                            .response_mut()
                            .head_mut()
                            .set_connection_type(actix_web::http::ConnectionType::Close);
                    }
                    routes::record_request(
                        &recorder,
                        &method,
                        response.request().match_pattern(),
                        response.status(),
                        started.elapsed(),
                    );
                    Ok(response)
                }
            });
        service_config.service(scope);
    }
}

/// Starts an HTTP server with the API on `listener`, which must be bound already (bind to
/// port 0 to let the system choose).
///
/// Returns the running server: await it (or spawn it) on a tokio or actix runtime. It installs
/// no signal handlers: the binary decides when to stop, with
/// `server.handle().stop(true)` (graceful, bounded by [`ApiConfig::shutdown_timeout`]), and then
/// shuts the engine down.
///
/// # Errors
///
/// Fails when the listener cannot be used (for example it is not listening), or when called
/// outside a tokio (or actix) runtime, which the server's workers need.
pub fn serve(listener: TcpListener, state: ApiState, config: ApiConfig) -> std::io::Result<Server> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(std::io::Error::other(
            "http_api::serve must be called within a tokio or actix runtime",
        ));
    }
    let workers = config.workers.max(1);
    let shutdown_timeout = config.shutdown_timeout.as_secs().max(1);
    let connections = Arc::new(limits::ClientConnections::default());
    let limit = config.max_connections_per_client.max(1);
    let tls = config.tls.clone();
    let server =
        HttpServer::new(move || App::new().configure(configure(state.clone(), config.clone())))
            .on_connect(move |connection, data| {
                let peer = client_address(connection);
                if let Some(peer) = peer {
                    data.insert(connections.open(peer.ip(), limit));
                }
            })
            .workers(workers)
            .shutdown_timeout(shutdown_timeout)
            .disable_signals();
    let server = match tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls.server_config())?,
        None => server.listen(listener)?,
    };
    Ok(server.run())
}

/// The client's address of a connection, plain or TLS.
fn client_address(connection: &dyn std::any::Any) -> Option<std::net::SocketAddr> {
    use actix_web::rt::net::TcpStream;
    if let Some(stream) = connection.downcast_ref::<TcpStream>() {
        return stream.peer_addr().ok();
    }
    connection
        .downcast_ref::<actix_tls::accept::rustls_0_23::TlsStream<TcpStream>>()
        .and_then(|stream| stream.get_ref().0.peer_addr().ok())
}
