//! Several sinks as one.

use std::sync::Arc;

use scheduler_core::{Alert, AlertSink, BoxFuture};

/// Delivers every alert to each of its sinks, in order: for example the log and a webhook.
#[derive(Clone, Default)]
pub struct FanOutAlertSink {
    sinks: Vec<Arc<dyn AlertSink>>,
}

impl FanOutAlertSink {
    /// A sink that delivers to each of `sinks`.
    pub fn new(sinks: Vec<Arc<dyn AlertSink>>) -> FanOutAlertSink {
        FanOutAlertSink { sinks }
    }
}

impl std::fmt::Debug for FanOutAlertSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanOutAlertSink")
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

impl AlertSink for FanOutAlertSink {
    fn deliver(&self, alert: Alert) -> BoxFuture<'static, ()> {
        let deliveries: Vec<_> = self
            .sinks
            .iter()
            .map(|sink| sink.deliver(alert.clone()))
            .collect();
        Box::pin(async move {
            for delivery in deliveries {
                delivery.await;
            }
        })
    }
}
