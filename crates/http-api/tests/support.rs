//! The shared harness: an engine on a manual clock, the API state over it, and helpers that
//! send one request and read the answer as JSON. Waits are on conditions, never on time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use http_api::{ApiConfig, ApiState, EngineHealthProbe};
use scheduler_core::testing::{FakeTransport, ManualClock};
use scheduler_core::{
    Engine, EngineConfig, Execution, ExecutionStatus, Job, JobStore, MemoryStore, Timestamp,
};
use serde_json::Value;

/// How long (real time) a test waits for a condition before failing: a safety net, not a
/// synchronisation; every wait ends as soon as its condition holds.
const PATIENCE: Duration = Duration::from_secs(20);

/// The header of a JSON request, which every request that changes state needs without a token.
pub(crate) const JSON: (&str, &str) = ("content-type", "application/json");

/// The body limit of the tests' API, small so that 413 is cheap to provoke.
pub(crate) const BODY_LIMIT: usize = 4 * 1024;

/// 2026-03-01T00:00:00Z, a Sunday.
pub(crate) fn t0() -> Timestamp {
    "2026-03-01T00:00:00Z".parse().expect("a timestamp")
}

pub(crate) struct Harness {
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) store: Arc<MemoryStore>,
    pub(crate) transport: Arc<FakeTransport>,
    pub(crate) engine: Engine,
    pub(crate) state: ApiState,
    pub(crate) config: ApiConfig,
}

impl Harness {
    pub(crate) async fn start() -> Harness {
        let clock = Arc::new(ManualClock::new(t0()));
        let store = Arc::new(MemoryStore::new());
        let transport = Arc::new(FakeTransport::new(clock.clone()));
        let engine = Engine::builder(store.clone(), transport.clone())
            .clock(clock.clone())
            .config(EngineConfig {
                jitter_seed: Some(1),
                // The clock moves only when a test moves it.
                result_linger: Duration::ZERO,
                ..EngineConfig::default()
            })
            .start()
            .await
            .expect("the engine starts");
        let state = ApiState::new(
            engine.clone(),
            Arc::new(EngineHealthProbe::new(engine.clone())),
        );
        let config = ApiConfig {
            max_body_bytes: BODY_LIMIT,
            workers: 1,
            ..ApiConfig::default()
        };
        Harness {
            clock,
            store,
            transport,
            engine,
            state,
            config,
        }
    }

    /// Every job and execution in the store, to compare before and after a rejected request.
    pub(crate) async fn stored(&self) -> (Vec<Job>, Vec<Execution>) {
        let jobs = self
            .store
            .list_jobs(None, 100_000)
            .await
            .expect("list jobs");
        (jobs, self.store.all_executions())
    }

    /// Waits until the store holds `n` executions of which all are finished.
    pub(crate) async fn finished_executions(&self, n: usize) {
        let store = self.store.clone();
        eventually(&format!("{n} finished executions"), move || {
            let all = store.all_executions();
            all.len() == n && all.iter().all(|e| e.status.is_finished())
        })
        .await;
    }

    /// Waits until the execution has `status` in the store.
    pub(crate) async fn execution_status(&self, id: &str, status: ExecutionStatus) {
        let store = self.store.clone();
        let id = id.to_owned();
        eventually(&format!("execution {id} {}", status.as_str()), move || {
            store
                .all_executions()
                .iter()
                .any(|e| e.id.to_string() == id && e.status == status)
        })
        .await;
    }
}

/// The API under test as an actix service.
macro_rules! app {
    ($harness:expr) => {
        actix_web::test::init_service(actix_web::App::new().configure(http_api::configure(
            $harness.state.clone(),
            $harness.config.clone(),
        )))
        .await
    };
}
pub(crate) use app;

/// One answer: status, headers, and the body as JSON (`Value::String` if it is not JSON,
/// `Value::Null` if empty).
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The `error.field` of an error body.
    pub(crate) fn error_field(&self) -> Option<&str> {
        self.body["error"]["field"].as_str()
    }

    pub(crate) fn error_message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
}

pub(crate) async fn send<S, B>(app: &S, request: TestRequest) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = test::call_service(app, request.to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = test::read_body(response).await;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply {
        status,
        headers,
        body,
    }
}

pub(crate) async fn get<S, B>(app: &S, uri: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, TestRequest::get().uri(uri)).await
}

pub(crate) async fn post_json<S, B>(app: &S, uri: &str, body: &Value) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, TestRequest::post().uri(uri).set_json(body)).await
}

pub(crate) async fn put_json<S, B>(app: &S, uri: &str, body: &Value) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, TestRequest::put().uri(uri).set_json(body)).await
}

pub(crate) async fn post<S, B>(app: &S, uri: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(
        app,
        TestRequest::post()
            .uri(uri)
            .insert_header(("content-type", "application/json")),
    )
    .await
}

/// Creates a job and returns its JSON, failing the test unless the answer is 201.
pub(crate) async fn create<S, B>(app: &S, body: Value) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let reply = post_json(app, "/api/jobs", &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

/// A minimal valid job body.
pub(crate) fn job_body(schedule: &str) -> Value {
    serde_json::json!({
        "schedule": schedule,
        "api": "https://example.com/hook",
        "type": "ATLEAST_ONCE",
    })
}

/// Whether `text` is RFC 3339 UTC with exactly three fractional digits.
pub(crate) fn is_millisecond_timestamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.len() == 24
        && text.ends_with('Z')
        && bytes[10] == b'T'
        && bytes[19] == b'.'
        && text.parse::<Timestamp>().is_ok()
}

/// Awaits `future`, failing the test if it takes longer than the patience limit.
pub(crate) async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(output) => output,
        Err(_) => panic!("gave up waiting for: {what}"),
    }
}

/// Lets the other tasks run until `condition` holds.
pub(crate) async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    within(what, async {
        while !condition() {
            tokio::task::yield_now().await;
        }
    })
    .await;
}
