//! The engine's view: `scheduler_core::Transport`, the idempotency headers and the mapping of
//! outcomes and errors.

use std::sync::Arc;
use std::time::Duration;

use scheduler_core::{
    AttemptError, AttemptRequest, DeliveryType, ExecutionId, HEADER_ATTEMPT, HEADER_EXECUTION_ID,
    HEADER_JOB_ID, HEADER_REDELIVERY, HEADER_SCHEDULED_TIME, HttpMethod, Job, JobId, JobSpec,
    Timestamp, Transport,
};

use crate::support::{bind, fixed_server, transport};

pub(crate) fn job(url: String, configure: impl FnOnce(&mut JobSpec)) -> Arc<Job> {
    let mut spec = JobSpec::new(
        "*/5 * * * * *".parse().unwrap(),
        url,
        DeliveryType::AtLeastOnce,
    );
    spec.body = Some(Arc::from(&b"{\"report\":\"daily\"}"[..]));
    spec.headers = vec![("Authorization".to_owned(), "Bearer t0ken".to_owned())];
    spec.attempt_timeout = Duration::from_secs(10);
    configure(&mut spec);
    let now = Timestamp::now();
    Arc::new(Job {
        id: JobId::new_random(),
        spec,
        created_at: now,
        updated_at: now,
        next_fire_at: None,
        version: 1,
        done_at: None,
    })
}

pub(crate) fn attempt(job: &Arc<Job>, execution_id: ExecutionId, number: u32) -> AttemptRequest {
    AttemptRequest {
        job: job.clone(),
        execution_id,
        scheduled_at: "2026-11-30T01:10:31Z".parse().unwrap(),
        attempt: number,
        redelivery: false,
    }
}

fn transport_object() -> Arc<dyn Transport> {
    Arc::new(transport())
}

#[tokio::test]
async fn idempotency_headers_and_body_are_the_same_across_attempts_but_the_number() {
    let mut server = fixed_server(503, &[("Retry-After", "7")], b"").await;
    let job = job(server.url("/tick"), |spec| {
        // A job header may not pass for an idempotency header.
        spec.headers
            .push(("x-scheduler-attempt".to_owned(), "99".to_owned()));
    });
    let execution_id = ExecutionId::new_time_ordered();
    let transport = transport_object();

    let mut seen = Vec::new();
    for number in [1, 2] {
        let outcome = transport
            .send(attempt(&job, execution_id, number))
            .await
            .unwrap();
        assert_eq!(
            (outcome.status, outcome.retry_after),
            (503, Some(Duration::from_secs(7)))
        );
        seen.push(server.next_request().await);
    }

    let header = |index: usize, name: &str| -> Vec<String> {
        seen[index]
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    for (index, received) in seen.iter().enumerate() {
        assert_eq!(received.method, http::Method::POST);
        assert_eq!(&received.body[..], b"{\"report\":\"daily\"}");
        assert_eq!(header(index, HEADER_JOB_ID), [job.id.to_string()]);
        assert_eq!(
            header(index, HEADER_EXECUTION_ID),
            [execution_id.to_string()]
        );
        assert_eq!(
            header(index, HEADER_SCHEDULED_TIME),
            ["2026-11-30T01:10:31Z"]
        );
        assert_eq!(header(index, "authorization"), ["Bearer t0ken"]);
        assert_eq!(header(index, "content-type"), ["application/json"]);
        assert!(header(index, "user-agent")[0].starts_with("scheduler/"));
    }
    assert_eq!(header(0, HEADER_ATTEMPT), ["1"]);
    assert_eq!(header(1, HEADER_ATTEMPT), ["2"]);

    // Every other header is identical between the two attempts.
    let without_attempt = |index: usize| {
        let mut headers = seen[index].headers.clone();
        headers.remove(HEADER_ATTEMPT);
        headers
    };
    assert_eq!(without_attempt(0), without_attempt(1));
}

#[tokio::test]
async fn only_a_resend_after_a_crash_carries_the_redelivery_header() {
    let mut server = fixed_server(200, &[], b"").await;
    let job = job(server.url("/tick"), |spec| {
        // A job header may not pass for the redelivery header either.
        spec.headers
            .push(("X-Scheduler-Redelivery".to_owned(), "true".to_owned()));
    });
    let execution_id = ExecutionId::new_time_ordered();
    let transport = transport_object();
    let mut resend = attempt(&job, execution_id, 1);
    resend.redelivery = true;
    for request in [attempt(&job, execution_id, 1), resend] {
        transport.send(request).await.unwrap();
    }
    let first = server.next_request().await;
    let second = server.next_request().await;
    assert_eq!(
        header_values(&first.headers, HEADER_REDELIVERY),
        Vec::<String>::new()
    );
    assert_eq!(header_values(&second.headers, HEADER_REDELIVERY), ["true"]);
    assert_eq!(header_values(&second.headers, HEADER_ATTEMPT), ["1"]);
}

pub(crate) fn header_values(headers: &http::HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_job_method_and_a_missing_body_are_sent_as_is() {
    let mut server = fixed_server(204, &[], b"").await;
    let job = job(server.url("/"), |spec| {
        spec.method = HttpMethod::Delete;
        spec.body = None;
        spec.headers = vec![("Content-Type".to_owned(), "text/plain".to_owned())];
    });
    let outcome = transport_object()
        .send(attempt(&job, ExecutionId::new_time_ordered(), 1))
        .await
        .unwrap();
    assert_eq!(outcome.status, 204);
    let received = server.next_request().await;
    assert_eq!(received.method, http::Method::DELETE);
    assert!(received.body.is_empty());
    assert_eq!(received.headers["content-type"], "text/plain");
}

#[tokio::test]
async fn errors_map_onto_the_engine_classification() {
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let refused = job(format!("http://{addr}/"), |_| {});
    let error = transport_object()
        .send(attempt(&refused, ExecutionId::new_time_ordered(), 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, AttemptError::Connect(m) if m.starts_with("connection refused")),
        "{error:?}"
    );
    assert!(error.is_retryable());

    let invalid = job(format!("http://{addr}/"), |spec| {
        spec.headers = vec![("X-Bad".to_owned(), "line\nbreak".to_owned())];
    });
    let error = transport_object()
        .send(attempt(&invalid, ExecutionId::new_time_ordered(), 1))
        .await
        .unwrap_err();
    assert!(
        matches!(error, AttemptError::InvalidRequest(_)),
        "{error:?}"
    );
    assert!(!error.is_retryable());
}

#[test]
fn executor_errors_convert_to_attempt_errors() {
    use executor::Error;
    let check =
        |error: Error, expected: AttemptError| assert_eq!(AttemptError::from(error), expected);
    check(
        Error::Timeout {
            timeout: Duration::from_secs(1),
        },
        AttemptError::Timeout,
    );
    check(
        Error::Dns("x".into()),
        AttemptError::Connect("dns: x".into()),
    );
    check(
        Error::ConnectionRefused("x".into()),
        AttemptError::Connect("connection refused: x".into()),
    );
    check(
        Error::Connect("x".into()),
        AttemptError::Connect("x".into()),
    );
    check(
        Error::ConnectionReset("x".into()),
        AttemptError::Protocol("connection reset: x".into()),
    );
    check(
        Error::ConnectionClosed("x".into()),
        AttemptError::Protocol("connection closed early: x".into()),
    );
    check(
        Error::Protocol("x".into()),
        AttemptError::Protocol("x".into()),
    );
    check(Error::Tls("x".into()), AttemptError::Tls("x".into()));
    check(
        Error::InvalidRequest("x".into()),
        AttemptError::InvalidRequest("x".into()),
    );
}
