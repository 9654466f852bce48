//! The clock boundary: what time it is, and waiting for a time.

use cron_expr::Timestamp;

use crate::store::BoxFuture;
use crate::time;

/// The engine's only source of time. Tests use the manual clock (feature `testing`), which
/// moves only when told, so no test waits in real time.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;

    /// Completes at or after `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: Timestamp) -> BoxFuture<'static, ()>;
}

/// The system's wall clock, with tokio timers. A wall-clock jump is noticed at the next wake-up:
/// the engine always re-reads `now` after sleeping.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep_until(&self, deadline: Timestamp) -> BoxFuture<'static, ()> {
        let wait = time::since(deadline, Timestamp::now());
        Box::pin(tokio::time::sleep(wait))
    }
}
