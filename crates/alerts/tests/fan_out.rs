//! A fan-out sink delivers each alert to every sink.

use std::sync::{Arc, Mutex};

use alerts::{FanOutAlertSink, LogAlertSink};
use scheduler_core::{Alert, AlertSink, BoxFuture};

use crate::support::failure;

#[derive(Clone, Default)]
struct Recording(Arc<Mutex<Vec<Alert>>>);

impl AlertSink for Recording {
    fn deliver(&self, alert: Alert) -> BoxFuture<'static, ()> {
        self.0.lock().unwrap().push(alert);
        Box::pin(std::future::ready(()))
    }
}

#[tokio::test]
async fn every_sink_gets_every_alert() {
    let (first, second) = (Recording::default(), Recording::default());
    let fan_out = FanOutAlertSink::new(vec![
        Arc::new(first.clone()),
        Arc::new(LogAlertSink),
        Arc::new(second.clone()),
    ]);
    let alerts = [failure("one"), failure("two")];
    for alert in &alerts {
        fan_out.deliver(alert.clone()).await;
    }
    assert_eq!(*first.0.lock().unwrap(), alerts);
    assert_eq!(*second.0.lock().unwrap(), alerts);
}
