//! Statuses are responses, not errors; `Retry-After` is read on 429 and 503.

use std::time::Duration;

use crate::support::{fixed_server, post, transport};

async fn check_status(status: u16) {
    let server = fixed_server(status, &[], b"answer").await;
    let response = transport()
        .send_request(post(server.url("/")))
        .await
        .unwrap();
    assert_eq!(response.status, status);
    assert_eq!(&response.body[..], b"answer");
    assert!(!response.body_truncated);
    assert_eq!(response.retry_after, None);
}

#[tokio::test]
async fn statuses_are_reported_as_responses() {
    for status in [200, 201, 204, 400, 404, 410, 500, 502] {
        if status == 204 {
            // A 204 has no body.
            let server = fixed_server(204, &[], b"").await;
            let response = transport()
                .send_request(post(server.url("/")))
                .await
                .unwrap();
            assert_eq!(response.status, 204);
            continue;
        }
        check_status(status).await;
    }
}

#[tokio::test]
async fn retry_after_in_seconds_is_read_on_429_and_503() {
    for status in [429, 503] {
        let server = fixed_server(status, &[("Retry-After", "120")], b"slow down").await;
        let response = transport()
            .send_request(post(server.url("/")))
            .await
            .unwrap();
        assert_eq!(response.status, status);
        assert_eq!(response.retry_after, Some(Duration::from_secs(120)));
    }
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_read() {
    let at = std::time::SystemTime::now() + Duration::from_secs(3600);
    let date = httpdate::fmt_http_date(at);
    let server = fixed_server(
        429,
        &[("Retry-After", Box::leak(date.into_boxed_str()))],
        b"",
    )
    .await;
    let response = transport()
        .send_request(post(server.url("/")))
        .await
        .unwrap();
    let retry_after = response.retry_after.expect("a retry-after delay");
    // The date has whole seconds and a little time passes between formatting and parsing.
    assert!(
        retry_after > Duration::from_secs(3500) && retry_after <= Duration::from_secs(3600),
        "{retry_after:?}"
    );
}

#[tokio::test]
async fn retry_after_is_ignored_on_other_statuses_and_when_malformed() {
    let server = fixed_server(500, &[("Retry-After", "30")], b"").await;
    assert_eq!(
        transport()
            .send_request(post(server.url("/")))
            .await
            .unwrap()
            .retry_after,
        None
    );
    let server = fixed_server(429, &[("Retry-After", "soon")], b"").await;
    let response = transport()
        .send_request(post(server.url("/")))
        .await
        .unwrap();
    assert_eq!((response.status, response.retry_after), (429, None));
}
