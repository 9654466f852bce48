//! Signed requests, the target policy and the headers a job cannot set, on the wire.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use executor::{HttpTransport, HttpTransportConfig, SigningSecret, TargetPolicy, sign};
use scheduler_core::{AttemptError, ExecutionId, Transport};

use crate::attempts::{attempt, header_values, job};
use crate::support::{fixed_server, post};

fn transport_with(configure: impl FnOnce(&mut HttpTransportConfig)) -> HttpTransport {
    let mut config = HttpTransportConfig::default();
    configure(&mut config);
    HttpTransport::new(config).expect("a transport")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

#[tokio::test]
async fn with_two_secrets_every_attempt_carries_both_signatures_of_its_send_time_and_body() {
    let mut server = fixed_server(200, &[], b"").await;
    let new = SigningSecret::new("new-secret");
    let old = SigningSecret::new("old-secret");
    let transport = transport_with(|config| {
        config.signing_secrets = vec![new.clone(), old.clone()];
    });
    let job = job(server.url("/tick"), |_| {});
    let before = unix_now();
    transport
        .send(attempt(&job, ExecutionId::new_time_ordered(), 1))
        .await
        .expect("an answer");
    let after = unix_now();
    let received = server.next_request().await;
    let values = header_values(&received.headers, "X-Scheduler-Signature");
    assert_eq!(values.len(), 1, "{values:?}");
    let parts: Vec<&str> = values[0].split(',').collect();
    assert_eq!(parts.len(), 3, "{values:?}");
    let t: u64 = parts[0]
        .strip_prefix("t=")
        .expect("t= first")
        .parse()
        .expect("unix seconds");
    assert!(
        (before..=after).contains(&t),
        "{t} not in {before}..={after}"
    );
    // The receiver's side: HMAC-SHA256 of "<t>.<body as received>", with each secret.
    let body = &received.body[..];
    assert_eq!(body, b"{\"report\":\"daily\"}");
    assert_eq!(parts[1], format!("v1={}", sign(&new, t, body)));
    assert_eq!(parts[2], format!("v1={}", sign(&old, t, body)));
}

#[tokio::test]
async fn without_a_secret_nothing_is_signed_and_requests_of_send_request_never_are() {
    let mut server = fixed_server(200, &[], b"").await;
    let unsigned = transport_with(|_| {});
    let job = job(server.url("/tick"), |_| {});
    unsigned
        .send(attempt(&job, ExecutionId::new_time_ordered(), 1))
        .await
        .expect("an answer");
    let signing = transport_with(|config| {
        config.signing_secrets = vec![SigningSecret::new("s")];
    });
    signing
        .send_request(post(server.url("/plain")))
        .await
        .expect("an answer");
    for _ in 0..2 {
        let received = server.next_request().await;
        assert!(
            !received.headers.contains_key("x-scheduler-signature"),
            "{:?}",
            received.headers
        );
    }
}

#[tokio::test]
async fn a_job_cannot_set_the_headers_that_frame_the_request() {
    let mut server = fixed_server(200, &[], b"").await;
    let transport = transport_with(|_| {});
    // As a job stored before validation refused them would.
    let job = job(server.url("/tick"), |spec| {
        for (name, value) in [
            ("Host", "evil.test"),
            ("Content-Length", "1"),
            ("Transfer-Encoding", "chunked"),
            ("Connection", "close"),
            ("TE", "trailers"),
            ("X-Scheduler-Signature", "t=1,v1=00"),
        ] {
            spec.headers.push((name.to_owned(), value.to_owned()));
        }
    });
    transport
        .send(attempt(&job, ExecutionId::new_time_ordered(), 1))
        .await
        .expect("an answer");
    let received = server.next_request().await;
    let headers = &received.headers;
    assert_eq!(header_values(headers, "host"), [server.addr.to_string()]);
    assert_eq!(header_values(headers, "content-length"), ["18"]);
    for absent in ["transfer-encoding", "te", "x-scheduler-signature"] {
        assert!(!headers.contains_key(absent), "{absent}: {headers:?}");
    }
    assert_eq!(received.body.len(), 18);
}

/// Sends one attempt to `url` and expects the policy to refuse it, with no connection made.
async fn expect_refused(transport: &HttpTransport, url: String, in_message: &str) {
    let job = job(url.clone(), |_| {});
    let error = transport
        .send(attempt(&job, ExecutionId::new_time_ordered(), 1))
        .await
        .expect_err("refused");
    let AttemptError::InvalidRequest(message) = &error else {
        panic!("{url}: expected a final invalid-request error, got {error:?}");
    };
    assert!(!error.is_retryable());
    assert!(
        message.contains("refused by the target policy") && message.contains(in_message),
        "{url}: {message}"
    );
}

#[tokio::test]
async fn a_name_resolving_to_a_denied_address_is_refused_after_resolution() {
    let server = fixed_server(200, &[], b"").await;
    let port = server.addr.port();
    let deny_private = transport_with(|config| {
        config.target_policy = TargetPolicy {
            deny_private: true,
            ..TargetPolicy::default()
        };
    });
    // `localhost` reaches the resolver, which finds only loopback addresses.
    expect_refused(
        &deny_private,
        format!("http://localhost:{port}/tick"),
        "loopback address and private targets are denied",
    )
    .await;
    expect_refused(
        &deny_private,
        format!("http://127.0.0.1:{port}/tick"),
        "127.0.0.1 is a loopback address",
    )
    .await;
    let deny_by_rule = transport_with(|config| {
        config.target_policy.deny = vec!["127.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()];
    });
    expect_refused(
        &deny_by_rule,
        format!("http://localhost:{port}/tick"),
        "denied target",
    )
    .await;
    let deny_by_name = transport_with(|config| {
        config.target_policy.deny = vec!["LOCALHOST".parse().unwrap()];
    });
    expect_refused(
        &deny_by_name,
        format!("http://localhost:{port}/tick"),
        "denied target localhost",
    )
    .await;
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);

    // An allow rule punches a hole in --deny-private-targets.
    let allowed = transport_with(|config| {
        config.target_policy = TargetPolicy {
            deny_private: true,
            allow: vec!["localhost".parse().unwrap()],
            ..TargetPolicy::default()
        };
    });
    let job = job(format!("http://localhost:{port}/tick"), |_| {});
    let outcome = allowed
        .send(attempt(&job, ExecutionId::new_time_ordered(), 1))
        .await
        .expect("allowed");
    assert_eq!(outcome.status, 200);
}

#[tokio::test]
async fn a_connection_to_the_own_api_is_refused_however_the_host_is_spelt() {
    let mut server = fixed_server(200, &[], b"").await;
    let port = server.addr.port();
    // The API on this loopback address, or on every address (as with `--listen 0.0.0.0`).
    for listen in [server.addr, format!("0.0.0.0:{port}").parse().unwrap()] {
        let transport = transport_with(|config| config.target_policy.own_api = vec![listen]);
        // `127.1` and `localhost` are names to the URL and reach 127.0.0.1 once resolved.
        for host in ["127.1", "localhost", "127.0.0.1", "[::ffff:127.0.0.1]"] {
            expect_refused(
                &transport,
                format!("http://{host}:{port}/api/jobs"),
                "is this scheduler's own API (listening on",
            )
            .await;
        }
        // The same transport reaches another port on the same address.
        let mut other = fixed_server(200, &[], b"").await;
        let job = job(format!("http://127.1:{}/tick", other.addr.port()), |_| {});
        let outcome = transport
            .send(attempt(&job, ExecutionId::new_time_ordered(), 1))
            .await
            .expect("another port is not the API");
        assert_eq!(outcome.status, 200);
        other.next_request().await;
    }
    assert!(
        server.received.try_recv().is_err(),
        "no request reached the API"
    );
}

#[tokio::test]
async fn metadata_and_link_local_addresses_are_refused_by_default() {
    let transport = transport_with(|_| {});
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]:8080/",
        "http://[::ffff:169.254.169.254]/",
    ] {
        expect_refused(&transport, url.to_owned(), "link-local or cloud metadata").await;
    }
    // The request API checks too.
    let error = transport
        .send_request(executor::HttpRequest {
            timeout: Duration::from_secs(5),
            ..post("http://169.254.169.254/".to_owned())
        })
        .await
        .expect_err("refused");
    assert!(
        matches!(error, executor::Error::TargetRefused(_)),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_jobs_own_secrets_sign_in_place_of_the_transports() {
    let transport = transport_with(|config| {
        config.signing_secrets = vec![SigningSecret::new("server-secret")];
    });
    // One secret, then two while it is rotated: the current one signs first.
    for job_secrets in [&["job-secret"][..], &["job-new", "job-old"][..]] {
        let mut server = fixed_server(200, &[], b"").await;
        let job = job(server.url("/tick"), |spec| {
            spec.signing_secrets = job_secrets
                .iter()
                .map(|secret| scheduler_core::Secret::new(*secret))
                .collect();
        });
        transport
            .send(attempt(&job, ExecutionId::new_time_ordered(), 1))
            .await
            .expect("an answer");
        let received = server.next_request().await;
        let values = header_values(&received.headers, "X-Scheduler-Signature");
        assert_eq!(values.len(), 1, "{values:?}");
        let (t, signatures) = values[0]
            .strip_prefix("t=")
            .and_then(|rest| rest.split_once(','))
            .expect("t=...,v1=...");
        let t: u64 = t.parse().expect("unix seconds");
        let expected: Vec<String> = job_secrets
            .iter()
            .map(|secret| {
                format!(
                    "v1={}",
                    sign(&SigningSecret::new(secret), t, &received.body)
                )
            })
            .collect();
        assert_eq!(signatures, expected.join(","), "{job_secrets:?}");
    }
}
