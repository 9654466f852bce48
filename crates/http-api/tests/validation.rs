//! Bad input: every case gets its 4xx with a JSON error body naming the field, and nothing
//! stored changes.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::{Value, json};

use crate::support::{BODY_LIMIT, Harness, JSON, Reply, app, create, job_body, send};

/// A job body with `field` set to `value` (`Value::Null` removes it).
fn with(field: &str, value: Value) -> Value {
    let mut body = job_body("0 0 * * * *");
    match field.split_once('.') {
        Some((outer, inner)) => {
            body[outer] = json!({});
            body[outer][inner] = value;
        }
        None if value.is_null() => {
            body.as_object_mut().unwrap().remove(field);
        }
        None => body[field] = value,
    }
    body
}

/// Sends `request`, checks the status, the error body's shape and field, and that the store
/// is exactly as before. Returns the reply for further checks.
async fn rejected<S, B>(
    harness: &Harness,
    app: &S,
    request: TestRequest,
    status: StatusCode,
    field: &str,
) -> Reply
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let before = harness.stored().await;
    let reply = send(app, request).await;
    assert_eq!(reply.status, status, "field {field}: {}", reply.body);
    assert_eq!(reply.error_field(), Some(field), "{}", reply.body);
    let error = reply.body["error"].as_object().expect("an error object");
    assert_eq!(error.len(), 3, "code, field, message: {}", reply.body);
    assert!(error["code"].is_string());
    let message = reply.error_message();
    assert!(!message.is_empty() && !message.ends_with('.'), "{message}");
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{field}"
    );
    assert_eq!(
        harness.stored().await,
        before,
        "the store changed for {field}"
    );
    reply
}

fn post_job(body: Value) -> TestRequest {
    TestRequest::post().uri("/api/jobs").set_json(body)
}

#[actix_web::test]
async fn bad_job_fields_are_400_naming_the_field() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("schedule", Value::Null, "schedule"),
        ("schedule", json!(5), "schedule"),
        ("schedule", json!(""), "schedule"),
        ("schedule", json!("61 * * * * *"), "schedule"),
        ("schedule", json!("0 0 0 30 2 *"), "schedule"),
        ("api", Value::Null, "api"),
        ("api", json!("ftp://example.com/x"), "api"),
        ("api", json!("http://"), "api"),
        ("api", json!("https:///path"), "api"),
        ("api", json!("example.com/hook"), "api"),
        ("api", json!("/relative"), "api"),
        ("api", json!("not a url"), "api"),
        (
            "api",
            json!(format!("https://example.com/{}", "a".repeat(2_100))),
            "api",
        ),
        ("type", Value::Null, "type"),
        ("type", json!("EXACTLY_ONCE"), "type"),
        ("type", json!("atleast_once"), "type"),
        ("timezone", json!("Mars/Olympus_Mons"), "timezone"),
        ("timezone", json!(""), "timezone"),
        ("timezone", json!(1), "timezone"),
        ("method", json!("TRACE"), "method"),
        ("headers", json!(["X-A", "b"]), "headers"),
        ("headers", json!({"bad name": "x"}), "headers.bad name"),
        ("headers", json!({"X-A": 1}), "headers.X-A"),
        (
            "headers",
            json!({"X-A": "a\r\nInjected: yes"}),
            "headers.X-A",
        ),
        ("body", json!({"an": "object"}), "body"),
        ("timeoutMs", json!(0), "timeoutMs"),
        ("timeoutMs", json!(-5), "timeoutMs"),
        ("timeoutMs", json!("1000"), "timeoutMs"),
        ("timeoutMs", json!(1.5), "timeoutMs"),
        ("timeoutMs", json!(100_000_000_000u64), "timeoutMs"),
        ("jitterMs", json!(3_600_001), "jitterMs"),
        ("jitterMs", json!(-1), "jitterMs"),
        ("jitterMs", json!(1.5), "jitterMs"),
        ("jitterMs", json!("1000"), "jitterMs"),
        ("retry", json!(3), "retry"),
        ("retry.maxAttempts", json!(0), "retry.maxAttempts"),
        ("retry.maxAttempts", json!(1_000), "retry.maxAttempts"),
        ("retry.multiplier", json!(0.5), "retry.multiplier"),
        ("retry.jitter", json!(2), "retry.jitter"),
        (
            "retry.initialBackoffMs",
            json!(120_000),
            "retry.initialBackoffMs",
        ),
        ("retry.backoff", json!(1), "retry.backoff"),
        ("misfire", json!("FIRE_ONCE_NOW"), "misfire"),
        ("misfire.policy", json!("SOMETIMES"), "misfire.policy"),
        ("misfire.policy", json!("CATCH_UP"), "misfire.max"),
        ("misfire.max", json!(3), "misfire.policy"),
        ("overlap", json!("NEVER"), "overlap"),
        ("paused", json!("yes"), "paused"),
        ("name", json!(42), "name"),
        ("name", json!("x".repeat(201)), "name"),
        ("name", json!("line\nbreak"), "name"),
        ("timeZone", json!("UTC"), "timeZone"),
        (
            "jobId",
            json!("7d8c2c43-0000-4000-8000-000000000000"),
            "jobId",
        ),
        ("version", json!(1), "version"),
        ("alert", json!("http://hooks.test/x"), "alert"),
        ("alert", json!({}), "alert.webhookUrl"),
        ("alert.webhookUrl", json!(7), "alert.webhookUrl"),
        (
            "alert.webhookUrl",
            json!("ftp://hooks.test/x"),
            "alert.webhookUrl",
        ),
        (
            "alert.webhookUrl",
            json!("hooks.test/x"),
            "alert.webhookUrl",
        ),
        (
            "alert.webhookUrl",
            json!("http://user:pw@hooks.test/x"),
            "alert.webhookUrl",
        ),
        (
            "alert",
            json!({"webhookUrl": "http://hooks.test/x", "afterFailures": 0}),
            "alert.afterFailures",
        ),
        (
            "alert",
            json!({"webhookUrl": "http://hooks.test/x", "afterFailures": 101}),
            "alert.afterFailures",
        ),
        (
            "alert",
            json!({"webhookUrl": "http://hooks.test/x", "afterFailures": "3"}),
            "alert.afterFailures",
        ),
        (
            "alert",
            json!({"webhookUrl": "http://hooks.test/x", "onRecovery": "yes"}),
            "alert.onRecovery",
        ),
        ("alert.headers", json!({}), "alert.headers"),
    ];
    for (field, value, expected_field) in cases {
        let body = with(field, value.clone());
        let reply = rejected(
            &harness,
            &app,
            post_job(body),
            StatusCode::BAD_REQUEST,
            expected_field,
        )
        .await;
        assert_eq!(reply.body["error"]["code"], "invalid", "{field} = {value}");
    }
    assert!(harness.stored().await.0.is_empty());
}

#[actix_web::test]
async fn an_unparseable_schedule_gets_the_parsers_message() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let expression = "31 10-15 1 * * MON-FRX";
    let expected = scheduler_core::Schedule::parse(expression)
        .expect_err("a bad expression")
        .to_string();
    let reply = rejected(
        &harness,
        &app,
        post_job(with("schedule", json!(expression))),
        StatusCode::BAD_REQUEST,
        "schedule",
    )
    .await;
    assert_eq!(reply.error_message(), expected);
    assert!(expected.starts_with("day-of-week: "), "{expected}");
}

#[actix_web::test]
async fn malformed_bodies_content_types_and_sizes() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let json_request = |body: &str| {
        TestRequest::post()
            .uri("/api/jobs")
            .insert_header(("content-type", "application/json"))
            .set_payload(body.to_owned())
    };
    for body in ["{\"schedule\":", "", "not json", "{\"a\":1}}"] {
        let reply = rejected(
            &harness,
            &app,
            json_request(body),
            StatusCode::BAD_REQUEST,
            "body",
        )
        .await;
        assert_eq!(reply.body["error"]["code"], "malformed_json", "{body:?}");
    }
    for body in ["[]", "42", "\"text\"", "null"] {
        rejected(
            &harness,
            &app,
            json_request(body),
            StatusCode::BAD_REQUEST,
            "body",
        )
        .await;
    }

    let text = TestRequest::post()
        .uri("/api/jobs")
        .insert_header(("content-type", "text/plain"))
        .set_payload(job_body("0 0 * * * *").to_string());
    let reply = rejected(
        &harness,
        &app,
        text,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Content-Type",
    )
    .await;
    assert_eq!(reply.body["error"]["code"], "unsupported_media_type");
    let none = TestRequest::post()
        .uri("/api/jobs")
        .set_payload(job_body("0 0 * * * *").to_string());
    rejected(
        &harness,
        &app,
        none,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Content-Type",
    )
    .await;

    let mut big = job_body("0 0 * * * *");
    big["body"] = json!("x".repeat(BODY_LIMIT + 1));
    let reply = rejected(
        &harness,
        &app,
        post_job(big),
        StatusCode::PAYLOAD_TOO_LARGE,
        "body",
    )
    .await;
    assert_eq!(reply.body["error"]["code"], "payload_too_large");
}

#[actix_web::test]
async fn bad_replacements_change_nothing() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let job = create(&app, job_body("0 0 * * * *")).await;
    let id = job["jobId"].as_str().unwrap().to_owned();
    let uri = format!("/api/jobs/{id}");
    let put = |body: Value| TestRequest::put().uri(&uri).set_json(body);

    rejected(
        &harness,
        &app,
        put(with("schedule", json!("* * *"))),
        StatusCode::BAD_REQUEST,
        "schedule",
    )
    .await;
    rejected(
        &harness,
        &app,
        put(with("api", json!("mailto:x@example.com"))),
        StatusCode::BAD_REQUEST,
        "api",
    )
    .await;
    rejected(
        &harness,
        &app,
        put(with("type", json!("ONCE"))),
        StatusCode::BAD_REQUEST,
        "type",
    )
    .await;
    rejected(
        &harness,
        &app,
        put(with("timezone", json!("Europe/Atlantis"))),
        StatusCode::BAD_REQUEST,
        "timezone",
    )
    .await;
    rejected(
        &harness,
        &app,
        put(with("jobId", json!("00000000-0000-4000-8000-000000000000"))),
        StatusCode::BAD_REQUEST,
        "jobId",
    )
    .await;
    rejected(
        &harness,
        &app,
        put(with("version", json!(7))),
        StatusCode::CONFLICT,
        "version",
    )
    .await;
    rejected(
        &harness,
        &app,
        put(with("version", json!("1"))),
        StatusCode::BAD_REQUEST,
        "version",
    )
    .await;
    rejected(
        &harness,
        &app,
        put(job_body("0 5 * * * *")).insert_header(("If-Match", "\"abc\"")),
        StatusCode::BAD_REQUEST,
        "If-Match",
    )
    .await;
    rejected(
        &harness,
        &app,
        put(with("version", json!(1))).insert_header(("If-Match", "\"2\"")),
        StatusCode::BAD_REQUEST,
        "version",
    )
    .await;
    rejected(
        &harness,
        &app,
        TestRequest::put()
            .uri(&uri)
            .insert_header(("content-type", "application/xml"))
            .set_payload("<job/>"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Content-Type",
    )
    .await;
    let stored = harness.stored().await.0;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].version, 1);
}

#[actix_web::test]
async fn unknown_jobs_executions_and_routes_are_404() {
    let harness = Harness::start().await;
    let app = app!(harness);
    create(&app, job_body("0 0 * * * *")).await;
    let unknown = "3f1c0d2e-8d55-4d6a-9a43-2c7d1c1e0b11";
    for id in [unknown, "not-a-uuid"] {
        let job = format!("/api/jobs/{id}");
        for request in [
            TestRequest::get().uri(&job),
            TestRequest::put()
                .uri(&job)
                .set_json(job_body("0 0 * * * *")),
            TestRequest::delete().uri(&job).insert_header(JSON),
            TestRequest::post()
                .uri(&format!("{job}/pause"))
                .insert_header(JSON),
            TestRequest::post()
                .uri(&format!("{job}/resume"))
                .insert_header(JSON),
            TestRequest::post()
                .uri(&format!("{job}/trigger"))
                .insert_header(JSON),
            TestRequest::get().uri(&format!("{job}/executions")),
        ] {
            let reply = rejected(&harness, &app, request, StatusCode::NOT_FOUND, "jobId").await;
            assert_eq!(reply.body["error"]["code"], "not_found");
        }
        rejected(
            &harness,
            &app,
            TestRequest::get().uri(&format!("/api/executions/{id}")),
            StatusCode::NOT_FOUND,
            "executionId",
        )
        .await;
    }
    for path in [
        "/api/nothing",
        "/api/jobs/x/y/z",
        "/index.html",
        "/api/jobs/",
    ] {
        rejected(
            &harness,
            &app,
            TestRequest::get().uri(path),
            StatusCode::NOT_FOUND,
            "path",
        )
        .await;
    }
}

#[actix_web::test]
async fn other_methods_are_405_with_allow() {
    let harness = Harness::start().await;
    let app = app!(harness);
    // As JSON: without it (or a token), a method that may change state is 415 on any path.
    let cases = [
        (TestRequest::delete().uri("/api/jobs"), "GET, POST"),
        (
            TestRequest::patch().uri("/api/jobs/3f1c0d2e-8d55-4d6a-9a43-2c7d1c1e0b11"),
            "GET, PUT, DELETE",
        ),
        (
            TestRequest::get().uri("/api/jobs/3f1c0d2e-8d55-4d6a-9a43-2c7d1c1e0b11/trigger"),
            "POST",
        ),
        (TestRequest::post().uri("/api/metrics"), "GET"),
        (TestRequest::put().uri("/api/health"), "GET"),
    ];
    for (request, allow) in cases {
        let request = request.insert_header(JSON);
        let reply = rejected(
            &harness,
            &app,
            request,
            StatusCode::METHOD_NOT_ALLOWED,
            "method",
        )
        .await;
        assert_eq!(reply.header("allow"), Some(allow));
        assert_eq!(reply.body["error"]["code"], "method_not_allowed");
    }
}

#[actix_web::test]
async fn bad_query_parameters_are_400_naming_the_parameter() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let job = create(&app, job_body("0 0 * * * *")).await;
    let executions = format!("/api/jobs/{}/executions", job["jobId"].as_str().unwrap());
    let cases = [
        (format!("{executions}?limit=0"), "limit"),
        (format!("{executions}?limit=1001"), "limit"),
        (format!("{executions}?limit=-1"), "limit"),
        (format!("{executions}?limit=ten"), "limit"),
        (format!("{executions}?limit=5&limit=6"), "limit"),
        (format!("{executions}?status=DONE"), "status"),
        (format!("{executions}?jobId=x"), "jobId"),
        ("/api/executions?limit=5000".to_owned(), "limit"),
        ("/api/executions?status=".to_owned(), "status"),
        ("/api/executions?jobId=nope".to_owned(), "jobId"),
        ("/api/executions?page=2".to_owned(), "page"),
        ("/api/jobs?limit=0".to_owned(), "limit"),
        ("/api/jobs?after=zzz".to_owned(), "after"),
        ("/api/jobs?paused=maybe".to_owned(), "paused"),
        ("/api/jobs?type=SOMETIMES".to_owned(), "type"),
        ("/api/jobs?sort=name".to_owned(), "sort"),
    ];
    for (uri, field) in cases {
        rejected(
            &harness,
            &app,
            TestRequest::get().uri(&uri),
            StatusCode::BAD_REQUEST,
            field,
        )
        .await;
    }
}

#[actix_web::test]
async fn framing_headers_user_info_and_bad_ports_are_400_naming_what() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "headers",
            json!({"Host": "evil.test"}),
            "headers.Host",
            "\"Host\"",
        ),
        (
            "headers",
            json!({"content-length": "5"}),
            "headers.content-length",
            "\"content-length\"",
        ),
        (
            "headers",
            json!({"Transfer-Encoding": "chunked"}),
            "headers.Transfer-Encoding",
            "\"Transfer-Encoding\"",
        ),
        (
            "headers",
            json!({"Connection": "close"}),
            "headers.Connection",
            "\"Connection\"",
        ),
        ("headers", json!({"TE": "trailers"}), "headers.TE", "\"TE\""),
        (
            "headers",
            json!({"X-Scheduler-Signature": "t=1,v1=00"}),
            "headers.X-Scheduler-Signature",
            "\"X-Scheduler-Signature\"",
        ),
        (
            "api",
            json!("http://user:secret@example.com/hook"),
            "api",
            "user info",
        ),
        (
            "api",
            json!("http://user@example.com/hook"),
            "api",
            "user info",
        ),
        ("api", json!("http://example.com:0/hook"), "api", "port"),
        ("api", json!("http://example.com:65536/hook"), "api", "port"),
        (
            "api",
            json!("http://example.com:123456/hook"),
            "api",
            "port",
        ),
    ];
    for (field, value, expected_field, in_message) in cases {
        let reply = rejected(
            &harness,
            &app,
            post_job(with(field, value.clone())),
            StatusCode::BAD_REQUEST,
            expected_field,
        )
        .await;
        let message = reply.error_message();
        assert!(message.contains(in_message), "{field} = {value}: {message}");
        assert!(!message.contains("secret"), "{message}");
    }
    assert!(harness.stored().await.0.is_empty());
}

/// Refuses `blocked.test`, and port 8080 of 127.0.0.1 (as a server refuses its own address).
#[derive(Debug)]
struct RefuseSome;

impl http_api::TargetCheck for RefuseSome {
    fn check(&self, host: &str, port: u16) -> Result<(), String> {
        match (host, port) {
            ("blocked.test", _) => Err(format!("target {host} refused by the target policy")),
            ("127.0.0.1" | "::1", 8080) => Err(format!("{host}:{port} is this scheduler's API")),
            _ => Ok(()),
        }
    }
}

#[actix_web::test]
async fn a_target_the_check_refuses_is_400_on_create_and_replace() {
    let mut harness = Harness::start().await;
    harness.config.target_check = Some(std::sync::Arc::new(RefuseSome));
    let app = app!(harness);
    for (url, in_message) in [
        ("http://blocked.test/hook", "refused by the target policy"),
        (
            "https://blocked.test:8443/hook",
            "refused by the target policy",
        ),
        ("http://127.0.0.1:8080/api/jobs", "this scheduler's API"),
        ("http://[::1]:8080/api/jobs", "::1:8080"),
    ] {
        let reply = rejected(
            &harness,
            &app,
            post_job(with("api", json!(url))),
            StatusCode::BAD_REQUEST,
            "api",
        )
        .await;
        assert!(
            reply.error_message().contains(in_message),
            "{url}: {}",
            reply.body
        );
    }
    let created = create(&app, with("api", json!("http://127.0.0.1:8081/hook"))).await;
    let job_id = created["jobId"].as_str().expect("a job id");
    let reply = rejected(
        &harness,
        &app,
        TestRequest::put()
            .uri(&format!("/api/jobs/{job_id}"))
            .set_json(with("api", json!("http://blocked.test/hook"))),
        StatusCode::BAD_REQUEST,
        "api",
    )
    .await;
    assert!(reply.error_message().contains("refused"), "{}", reply.body);
}

#[actix_web::test]
async fn an_alert_webhook_the_check_refuses_is_400_naming_it() {
    let mut harness = Harness::start().await;
    harness.config.target_check = Some(std::sync::Arc::new(RefuseSome));
    let app = app!(harness);
    let mut body = job_body("0 0 * * * *");
    body["alert"] = json!({"webhookUrl": "https://blocked.test/hook"});
    let reply = rejected(
        &harness,
        &app,
        post_job(body),
        StatusCode::BAD_REQUEST,
        "alert.webhookUrl",
    )
    .await;
    assert!(reply.error_message().contains("refused"), "{}", reply.body);
}
