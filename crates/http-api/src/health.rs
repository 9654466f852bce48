//! Readiness checks: is the store reachable, is the engine's control loop alive; and the
//! state of the connections to message brokers.

use std::fmt;

use scheduler_core::{BoxFuture, Engine};

/// The connections to message brokers (queue targets) that `GET /api/health` and the metrics
/// report. A trait so that the API needs no transport: the binary plugs in its own.
pub trait BrokerConnections: Send + Sync + fmt::Debug {
    /// Every connection made so far, in a stable order.
    fn connections(&self) -> Vec<BrokerConnection>;
}

/// One broker connection's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConnection {
    /// The kind of broker: `nats` or `amqp`.
    pub kind: String,
    /// The server, without credentials (`host:port`, `host:port/vhost`).
    pub server: String,
    /// `connected`, `connecting` or `disconnected`.
    pub state: String,
    /// Whether the connection is up.
    pub connected: bool,
    /// The last connection error, when it is not up.
    pub last_error: Option<String>,
}

/// What `GET /api/health` asks to decide readiness.
///
/// A trait so that the binary can check what it knows best (a store's own ping, a connection
/// pool's state) and tests can make a check fail; [`EngineHealthProbe`] needs nothing but the
/// engine handle and works with every store. Each check returns the reason when it fails; the
/// API bounds each call by a timeout, so a hanging check reads as a failed one.
pub trait HealthProbe: Send + Sync + 'static {
    /// Completes with `Ok(())` when the store answers a read.
    fn check_store(&self) -> BoxFuture<'static, Result<(), String>>;

    /// Completes with `Ok(())` when the engine's control loop answers a command.
    fn check_engine(&self) -> BoxFuture<'static, Result<(), String>>;
}

/// The probe that uses only the engine handle: the store check lists one job; the engine check
/// is [`Engine::ping`], which fails unless every engine task is running and the control loop
/// answers a command. Neither changes anything.
#[derive(Clone, Debug)]
pub struct EngineHealthProbe {
    engine: Engine,
}

impl EngineHealthProbe {
    /// A probe of `engine` and its store.
    pub fn new(engine: Engine) -> EngineHealthProbe {
        EngineHealthProbe { engine }
    }
}

impl HealthProbe for EngineHealthProbe {
    fn check_store(&self) -> BoxFuture<'static, Result<(), String>> {
        let engine = self.engine.clone();
        Box::pin(async move {
            engine
                .list_jobs(None, 1)
                .await
                .map(|_| ())
                .map_err(|error| error.to_string())
        })
    }

    fn check_engine(&self) -> BoxFuture<'static, Result<(), String>> {
        let engine = self.engine.clone();
        Box::pin(async move { engine.ping().await.map_err(|error| error.to_string()) })
    }
}
