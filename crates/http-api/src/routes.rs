//! The handlers, and the routing table that [`configure`](crate::configure) installs.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use scheduler_core::{ExecutionId, ExecutionQuery, JobId, JobQuery, VersionCheck};
use serde_json::Value;

use crate::dto::{
    self, ExecutionDto, ExecutionListDto, JobDto, JobPageDto, JobRequestKind, StrictJson,
    parse_delivery, parse_status,
};
use crate::error::ApiError;
use crate::metrics::{self, MetricsReport, NodeDto};
use crate::target_check::check_targets;
use crate::{ApiConfig, ApiState};

/// Default and largest page sizes (the OpenAPI document states them from here).
pub(crate) const DEFAULT_EXECUTIONS: usize = 5;
pub(crate) const MAX_EXECUTIONS: usize = 1_000;
pub(crate) const DEFAULT_JOBS: usize = 100;
pub(crate) const MAX_JOBS: usize = 1_000;

/// Every route: method(s), path, and the handler registration. The OpenAPI document and its
/// test are checked against the same paths.
pub(crate) fn register(scope: actix_web::Scope) -> actix_web::Scope {
    scope
        .service(
            resource("/api/jobs", "GET, POST")
                .route(web::get().to(list_jobs))
                .route(web::post().to(create_job)),
        )
        .service(
            resource("/api/jobs:batch", "POST").route(web::post().to(crate::batch::create_jobs)),
        )
        .service(
            resource("/api/jobs/{jobId}", "GET, PUT, DELETE")
                .route(web::get().to(get_job))
                .route(web::put().to(replace_job))
                .route(web::delete().to(delete_job)),
        )
        .service(resource("/api/jobs/{jobId}/pause", "POST").route(web::post().to(pause_job)))
        .service(resource("/api/jobs/{jobId}/resume", "POST").route(web::post().to(resume_job)))
        .service(resource("/api/jobs/{jobId}/trigger", "POST").route(web::post().to(trigger_job)))
        .service(
            resource("/api/jobs/{jobId}/executions", "GET").route(web::get().to(job_executions)),
        )
        .service(resource("/api/executions", "GET").route(web::get().to(recent_executions)))
        .service(
            resource("/api/executions/{executionId}", "GET").route(web::get().to(get_execution)),
        )
        .service(resource("/api/metrics", "GET").route(web::get().to(metrics_json)))
        .service(resource("/metrics", "GET").route(web::get().to(metrics_prometheus)))
        .service(resource("/api/health", "GET").route(web::get().to(health)))
        .service(resource("/api/openapi.json", "GET").route(web::get().to(openapi)))
        .service(resource("/api/cron/explain", "GET").route(web::get().to(crate::cron::explain)))
}

/// The longest method a 405's message repeats; methods are ASCII tokens, so bytes are chars.
const MAX_ECHOED_METHOD: usize = 16;

/// A resource whose other methods answer 405 with the JSON error body and an `Allow` header.
pub(crate) fn resource(path: &'static str, allowed: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move |request: HttpRequest| async move {
        // A method is any token a client makes up: its echo is cut short, as its metrics label is.
        let mut method = request.method().to_string();
        if method.len() > MAX_ECHOED_METHOD {
            method.truncate(MAX_ECHOED_METHOD);
            method.push('…');
        }
        let mut response = ApiError::MethodNotAllowed { method }.error_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allowed));
        response
    }))
}

/// The answer to a path no route has.
pub(crate) async fn route_not_found(request: HttpRequest) -> Result<HttpResponse> {
    Err(ApiError::RouteNotFound {
        path: request.path().to_owned(),
    })
}

type Result<T, E = ApiError> = std::result::Result<T, E>;

fn parse_job_id(text: &str) -> Result<JobId> {
    uuid::Uuid::parse_str(text)
        .map(JobId)
        .map_err(|_| ApiError::JobNotFound {
            job_id: text.to_owned(),
        })
}

impl ApiState {
    /// Awaits a store read, recording how long it took under `operation`.
    async fn timed<T>(&self, operation: &'static str, read: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let result = read.await;
        self.metrics().record_store(operation, started.elapsed());
        result
    }

    fn job_dto(&self, job: &scheduler_core::Job) -> JobDto {
        let engine = self.engine();
        JobDto::new(job, engine.job_stats(job.id), |tick| {
            engine.tick_fire_instant(job, tick)
        })
    }
}

fn job_response(status: StatusCode, state: &ApiState, job: &scheduler_core::Job) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response.insert_header((header::ETAG, format!("\"{}\"", job.version)));
    if status == StatusCode::CREATED {
        response.insert_header((header::LOCATION, format!("/api/jobs/{}", job.id)));
    }
    response.json(state.job_dto(job))
}

async fn create_job(
    state: web::Data<ApiState>,
    config: web::Data<ApiConfig>,
    body: web::Json<StrictJson>,
) -> Result<HttpResponse> {
    let spec = creatable_spec(&body.0.0, &config)?;
    let job = state.engine().create_job(spec).await?;
    Ok(job_response(StatusCode::CREATED, &state, &job))
}

/// The spec of a job to create, from its JSON: every check a creation makes before the engine
/// (the batch's items get the same).
pub(crate) fn creatable_spec(body: &Value, config: &ApiConfig) -> Result<scheduler_core::JobSpec> {
    let request = dto::parse_job_request(body, JobRequestKind::Create, &config.job_defaults)?;
    dto::refuse_placeholders(&request.spec)?;
    if let Some(check) = &config.target_check {
        check_targets(check.as_ref(), &request.spec)?;
    }
    Ok(request.spec)
}

async fn get_job(state: web::Data<ApiState>, path: web::Path<String>) -> Result<HttpResponse> {
    let id = parse_job_id(&path)?;
    let job = state
        .timed("get_job", state.engine().get_job(id))
        .await?
        .ok_or_else(|| ApiError::JobNotFound {
            job_id: path.into_inner(),
        })?;
    Ok(job_response(StatusCode::OK, &state, &job))
}

async fn replace_job(
    state: web::Data<ApiState>,
    path: web::Path<String>,
    request: HttpRequest,
    config: web::Data<ApiConfig>,
    body: web::Json<StrictJson>,
) -> Result<HttpResponse> {
    let id = parse_job_id(&path)?;
    let job_request =
        dto::parse_job_request(&body.0.0, JobRequestKind::Replace, &config.job_defaults)?;
    if let Some(check) = &config.target_check {
        check_targets(check.as_ref(), &job_request.spec)?;
    }
    if let Some(body_id) = &job_request.job_id
        && body_id.parse::<uuid::Uuid>().ok() != Some(id.0)
    {
        return Err(ApiError::invalid(
            "jobId",
            format!("{body_id:?} does not match the job in the path ({id})"),
        ));
    }
    // The body's version and If-Match must agree when both name one; `If-Match: *` defers
    // to the body.
    let mut check = match (if_match_version(request.headers())?, job_request.version) {
        (Some(VersionCheck::Exactly(header)), Some(body)) if header != body => {
            return Err(ApiError::invalid(
                "version",
                format!("{body} differs from the If-Match version {header}"),
            ));
        }
        (Some(VersionCheck::Exactly(version)), _) | (_, Some(version)) => {
            VersionCheck::Exactly(version)
        }
        (Some(VersionCheck::Any) | None, None) => VersionCheck::Any,
    };
    let mut spec = job_request.spec;
    let keeps_placeholders = dto::has_placeholders(&spec);
    if keeps_placeholders || !job_request.signing_secret_given {
        // Secrets a client cannot read (header values sent back as read, a signing secret
        // left out; `null` removes it) are kept from the version they were read from: the
        // update applies to that version only, so a secret changed meanwhile is neither lost
        // nor brought back (a 409 instead).
        let current = state.timed("get_job", state.engine().get_job(id)).await?;
        match current {
            None if keeps_placeholders => {
                return Err(ApiError::JobNotFound {
                    job_id: path.to_string(),
                });
            }
            // The update answers 404.
            None => {}
            Some(current) => {
                if keeps_placeholders {
                    if let VersionCheck::Exactly(expected) = check
                        && expected != current.version
                    {
                        return Err(ApiError::VersionConflict {
                            job_id: id.to_string(),
                            expected,
                            actual: current.version,
                        });
                    }
                    dto::restore_placeholders(&mut spec, &current)?;
                    check = VersionCheck::Exactly(current.version);
                }
                if !job_request.signing_secret_given && !current.spec.signing_secrets.is_empty() {
                    spec.signing_secrets = current.spec.signing_secrets.clone();
                    if matches!(check, VersionCheck::Any) {
                        check = VersionCheck::Exactly(current.version);
                    }
                }
            }
        }
    }
    let job = state.engine().update_job(id, spec, check).await?;
    Ok(job_response(StatusCode::OK, &state, &job))
}

/// `If-Match: "3"`, `If-Match: 3`, `If-Match: W/"3"` or `If-Match: *`, with optional spaces or
/// tabs around it.
fn if_match_version(headers: &HeaderMap) -> Result<Option<VersionCheck>> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::invalid(
            "If-Match",
            "expected a job version such as \"3\" (the ETag of the job) or *",
        )
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    if text == "*" {
        return Ok(Some(VersionCheck::Any));
    }
    let text = text.strip_prefix("W/").unwrap_or(text);
    let text = text
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(text);
    // Digits only (`parse` alone would take a sign), and at most 19 of them: the document's
    // pattern, and every such number fits a `u64`.
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid());
    }
    text.parse::<u64>()
        .map(|version| Some(VersionCheck::Exactly(version)))
        .map_err(|_| invalid())
}

async fn delete_job(
    state: web::Data<ApiState>,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse> {
    let id = parse_job_id(&path)?;
    let check = if_match_check(&request)?;
    if state.engine().delete_job_if(id, check).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::JobNotFound {
            job_id: path.into_inner(),
        })
    }
}

async fn pause_job(
    state: web::Data<ApiState>,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse> {
    let id = parse_job_id(&path)?;
    let job = state
        .engine()
        .pause_job_if(id, if_match_check(&request)?)
        .await?;
    Ok(job_response(StatusCode::OK, &state, &job))
}

async fn resume_job(
    state: web::Data<ApiState>,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse> {
    let id = parse_job_id(&path)?;
    let job = state
        .engine()
        .resume_job_if(id, if_match_check(&request)?)
        .await?;
    Ok(job_response(StatusCode::OK, &state, &job))
}

async fn trigger_job(
    state: web::Data<ApiState>,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse> {
    let id = parse_job_id(&path)?;
    // The engine answers with the execution it stored: a delete of the job right after the
    // trigger cannot turn this answer into a failed read.
    let execution = state
        .engine()
        .trigger_now_if(id, if_match_check(&request)?)
        .await?;
    Ok(HttpResponse::Accepted()
        .insert_header((
            header::LOCATION,
            format!("/api/executions/{}", execution.id),
        ))
        .json(ExecutionDto::new(&execution)))
}

/// The version an `If-Match` header asks for; any version without one.
fn if_match_check(request: &HttpRequest) -> Result<VersionCheck> {
    Ok(if_match_version(request.headers())?.unwrap_or(VersionCheck::Any))
}

/// The query parameters of one request, each at most once, none unknown.
pub(crate) struct Query {
    params: HashMap<String, String>,
}

impl Query {
    pub(crate) fn new(pairs: Vec<(String, String)>, known: &[&str]) -> Result<Query> {
        let mut params = HashMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            if !known.contains(&name.as_str()) {
                return Err(ApiError::invalid(
                    name,
                    format!(
                        "unknown query parameter (expected one of {})",
                        known.join(", ")
                    ),
                ));
            }
            if params.insert(name.clone(), value).is_some() {
                return Err(ApiError::invalid(name, "given more than once"));
            }
        }
        Ok(Query { params })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    pub(crate) fn limit(&self, default: usize, max: usize) -> Result<usize> {
        match self.get("limit") {
            None => Ok(default),
            Some(text) => match text.parse::<usize>() {
                Ok(limit) if (1..=max).contains(&limit) => Ok(limit),
                _ => Err(ApiError::invalid(
                    "limit",
                    format!("expected a whole number from 1 to {max}, found {text:?}"),
                )),
            },
        }
    }

    fn bool(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(ApiError::invalid(
                name,
                format!("expected true or false, found {other:?}"),
            )),
        }
    }

    fn job_id(&self, name: &str) -> Result<Option<JobId>> {
        self.get(name)
            .map(|text| {
                uuid::Uuid::parse_str(text).map(JobId).map_err(|_| {
                    ApiError::invalid(name, format!("expected a job id (a UUID), found {text:?}"))
                })
            })
            .transpose()
    }
}

async fn list_jobs(
    state: web::Data<ApiState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse> {
    let query = Query::new(query.into_inner(), &["limit", "after", "paused", "type"])?;
    let limit = query.limit(DEFAULT_JOBS, MAX_JOBS)?;
    let filter = JobQuery {
        after: query.job_id("after")?,
        // One more than asked tells whether another page follows.
        limit: limit + 1,
        paused: query.bool("paused")?,
        delivery: query
            .get("type")
            .map(|text| parse_delivery(text, "type"))
            .transpose()?,
    };
    let mut jobs = state
        .timed("find_jobs", state.engine().find_jobs(filter))
        .await?;
    let next_cursor = if jobs.len() > limit {
        jobs.truncate(limit);
        jobs.last().map(|job| job.id.to_string())
    } else {
        None
    };
    let mut page = JobPageDto {
        jobs: Vec::with_capacity(jobs.len()),
        next_cursor,
    };
    for job in &jobs {
        page.jobs.push(state.job_dto(job));
    }
    Ok(HttpResponse::Ok().json(page))
}

async fn job_executions(
    state: web::Data<ApiState>,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse> {
    let id = parse_job_id(&path)?;
    let query = Query::new(query.into_inner(), &["limit", "status"])?;
    let filter = ExecutionQuery {
        job_id: Some(id),
        status: query
            .get("status")
            .map(|text| parse_status(text, "status"))
            .transpose()?,
        limit: query.limit(DEFAULT_EXECUTIONS, MAX_EXECUTIONS)?,
    };
    if state
        .timed("get_job", state.engine().get_job(id))
        .await?
        .is_none()
    {
        return Err(ApiError::JobNotFound {
            job_id: path.into_inner(),
        });
    }
    let executions = state
        .timed("find_executions", state.engine().find_executions(filter))
        .await?;
    Ok(HttpResponse::Ok().json(ExecutionListDto {
        job_id: Some(id.to_string()),
        executions: executions.iter().map(ExecutionDto::new).collect(),
    }))
}

async fn recent_executions(
    state: web::Data<ApiState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse> {
    let query = Query::new(query.into_inner(), &["limit", "status", "jobId"])?;
    let filter = ExecutionQuery {
        job_id: query.job_id("jobId")?,
        status: query
            .get("status")
            .map(|text| parse_status(text, "status"))
            .transpose()?,
        limit: query.limit(DEFAULT_EXECUTIONS, MAX_EXECUTIONS)?,
    };
    let executions = state
        .timed("find_executions", state.engine().find_executions(filter))
        .await?;
    Ok(HttpResponse::Ok().json(ExecutionListDto {
        job_id: None,
        executions: executions.iter().map(ExecutionDto::new).collect(),
    }))
}

async fn get_execution(
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let not_found = || ApiError::ExecutionNotFound {
        execution_id: path.to_string(),
    };
    let id = uuid::Uuid::parse_str(&path)
        .map(ExecutionId)
        .map_err(|_| not_found())?;
    let execution = state
        .timed("get_execution", state.engine().get_execution(id))
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(ExecutionDto::new(&execution)))
}

/// The broker connections of `config`, none without a source.
fn broker_connections(config: &ApiConfig) -> Vec<crate::BrokerConnection> {
    config
        .brokers
        .as_ref()
        .map(|brokers| brokers.connections())
        .unwrap_or_default()
}

async fn metrics_report(state: &ApiState, config: &ApiConfig) -> Result<MetricsReport> {
    let counts = state
        .timed("count_jobs", state.engine().count_jobs())
        .await?;
    // The nodes are a store read of their own: without them the report is still worth having.
    let nodes = state
        .timed("nodes", state.engine().nodes())
        .await
        .unwrap_or_default();
    Ok(MetricsReport {
        engine: state.engine().metrics(),
        active_jobs: counts.active,
        paused_jobs: counts.paused,
        uptime: state.uptime(),
        started_at: dto::format_timestamp(state.started_at()),
        node_id: state.engine().node_id().to_owned(),
        fenced: state.engine().is_fenced(),
        degraded: state.engine().store_status().failure().is_some(),
        nodes,
        brokers: broker_connections(config),
    })
}

async fn metrics_json(
    state: web::Data<ApiState>,
    config: web::Data<ApiConfig>,
) -> Result<HttpResponse> {
    let report = metrics_report(&state, &config).await?;
    Ok(HttpResponse::Ok().json(metrics::render_json(&report, state.metrics())))
}

async fn metrics_prometheus(
    state: web::Data<ApiState>,
    config: web::Data<ApiConfig>,
) -> Result<HttpResponse> {
    let report = metrics_report(&state, &config).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics::render_prometheus(&report, state.metrics())))
}

async fn health(state: web::Data<ApiState>, config: web::Data<ApiConfig>) -> HttpResponse {
    let timeout = config.health_check_timeout;
    let store = check(&state, "health_store", timeout, state.probe().check_store()).await;
    let engine = check(
        &state,
        "health_engine",
        timeout,
        state.probe().check_engine(),
    )
    .await;
    // A fenced node (on a shared store, its heartbeat could not be renewed) sends nothing.
    let fenced = state.engine().is_fenced();
    let lease = serde_json::json!({
        "ok": !fenced,
        "error": fenced.then_some(
            "this node could not renew its heartbeat in the shared store: it sends and claims \
             nothing until it can, and other nodes may take over what it holds"
        ),
    });
    // A store that fails the engine's writes: ticks fire from memory (one node) or not at all
    // (several), and results wait. The heartbeat, written even when nothing is due, shows it
    // on an idle node too.
    let store_status = state.engine().store_status();
    let failure = store_status.failure();
    let degraded = failure.is_some();
    let writes = serde_json::json!({
        "ok": !degraded,
        "error": failure.map(|failure| format!(
            "the store fails the engine's writes: {}; {}",
            failure.cause,
            if store_status.claims.is_some() && !state.engine().store_is_shared() {
                "due ticks are claimed in memory and recorded once the store takes writes again"
            } else if store_status.claims.is_some() || store_status.results.is_some() {
                "results are kept and written once the store takes writes again"
            } else {
                "seen in the node's heartbeat, a write made every few seconds even when nothing \
                 is due"
            }
        )),
        "since": failure.map(|failure| dto::format_timestamp(failure.since)),
    });
    // Live while the engine's tasks run and its control loop answers, whatever the store says:
    // restarting a live process helps nothing (see docs/OPERATIONS.md, "Health").
    let live = engine.get("ok") == Some(&Value::Bool(true));
    let ready = store.get("ok") == Some(&Value::Bool(true)) && live && !fenced && !degraded;
    // The nodes only when the store answers: a failing store is reported by its check.
    let nodes = match tokio::time::timeout(timeout, state.engine().nodes()).await {
        Ok(Ok(nodes)) => Value::from(
            nodes
                .iter()
                .map(|node| serde_json::to_value(NodeDto::new(node)).unwrap_or_default())
                .collect::<Vec<_>>(),
        ),
        _ => Value::Null,
    };
    let status = if ready {
        "ok"
    } else if degraded && live && !fenced {
        "degraded"
    } else {
        "unavailable"
    };
    let body = serde_json::json!({
        "status": status,
        "live": live,
        "ready": ready,
        "uptimeSeconds": state.uptime().as_secs(),
        "nodeId": state.engine().node_id(),
        "fenced": fenced,
        "degraded": degraded,
        "nodes": nodes,
        "checks": {
            "store": store,
            "engine": engine,
            "lease": lease,
            "writes": writes,
            "brokers": broker_checks(&config),
        },
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    HttpResponse::build(status).json(body)
}

/// One check per message-broker connection: informational, they do not decide readiness.
fn broker_checks(config: &ApiConfig) -> Value {
    Value::from(
        broker_connections(config)
            .into_iter()
            .map(|broker| {
                serde_json::json!({
                    "kind": broker.kind,
                    "server": broker.server,
                    "ok": broker.connected,
                    "state": broker.state,
                    "error": broker.last_error,
                })
            })
            .collect::<Vec<_>>(),
    )
}

async fn check(
    state: &ApiState,
    operation: &'static str,
    timeout: Duration,
    probe: impl Future<Output = Result<(), String>>,
) -> Value {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(timeout, probe).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    };
    let elapsed = started.elapsed();
    state.metrics().record_store(operation, elapsed);
    if let Err(error) = &outcome {
        log::warn!("health check {operation} failed: {error}");
    }
    serde_json::json!({
        "ok": outcome.is_ok(),
        "latencyMs": elapsed.as_micros() as f64 / 1_000.0,
        "error": outcome.err(),
    })
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document())
}

/// Records every request in the API metrics: method, route pattern, status and latency.
pub(crate) fn record_request(
    state: &ApiState,
    method: &Method,
    route: Option<String>,
    status: StatusCode,
    latency: Duration,
) {
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    state
        .metrics()
        .record_request(method_label(method), &route, status.as_u16(), latency);
}

/// The metrics label of a request method: the standard methods by name, any other token as
/// `OTHER`, so that junk methods cannot grow the metrics.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "CONNECT" => "CONNECT",
        _ => "OTHER",
    }
}
