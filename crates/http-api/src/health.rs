//! Readiness checks: is the store reachable, is the engine's control loop alive.

use scheduler_core::{BoxFuture, Engine};

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
