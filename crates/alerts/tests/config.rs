//! Unusable configurations are refused when the sink starts.

use alerts::{Error, WebhookAlertSink, WebhookConfig};

#[tokio::test]
async fn unusable_configurations_are_refused() {
    let check = |configure: fn(&mut WebhookConfig), field: &str| {
        let mut config = WebhookConfig::new("http://127.0.0.1:9/alerts");
        configure(&mut config);
        let error = WebhookAlertSink::start(config).unwrap_err();
        assert!(
            matches!(&error, Error::Config(m) if m.starts_with(field)),
            "{field}: {error:?}"
        );
    };
    check(|c| c.url = "ftp://127.0.0.1/".to_owned(), "url");
    check(|c| c.url = "not a url".to_owned(), "url");
    check(|c| c.queue_capacity = 0, "queue_capacity");
    check(|c| c.max_batch_size = 0, "max_batch_size");
    check(|c| c.max_attempts = 0, "max_attempts");
    check(
        |c| c.request_timeout = std::time::Duration::ZERO,
        "request_timeout",
    );
    check(
        |c| c.initial_backoff = std::time::Duration::from_secs(3600),
        "initial_backoff",
    );
    check(
        |c| c.headers = vec![("bad name".to_owned(), "x".to_owned())],
        "headers",
    );
    check(
        |c| c.extra_root_certificates_pem = vec!["nothing".to_owned()],
        "extra_root",
    );
}

#[test]
fn the_sink_needs_a_runtime() {
    let error = WebhookAlertSink::start(WebhookConfig::new("http://127.0.0.1:9/")).unwrap_err();
    assert_eq!(error, Error::NoRuntime);
}
