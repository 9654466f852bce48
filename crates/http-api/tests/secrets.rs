//! Secret header values: stored and sent, shown redacted, kept when sent back redacted.

use actix_web::http::StatusCode;
use scheduler_core::JobId;
use serde_json::{Value, json};

use crate::support::{Harness, app, create, get, job_body, post_json, put_json};

fn with_headers(headers: Value, secret: Option<Value>) -> Value {
    let mut body = job_body("0 0 * * * *");
    body["headers"] = headers;
    if let Some(secret) = secret {
        body["secretHeaders"] = secret;
    }
    body
}

async fn stored_headers(harness: &Harness, id: &str) -> Vec<(String, String)> {
    let id = JobId(id.parse().expect("a job id"));
    let job = harness
        .engine
        .get_job(id)
        .await
        .expect("read")
        .expect("the job");
    job.spec.headers
}

#[actix_web::test]
async fn secret_header_values_are_stored_but_every_answer_redacts_them() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let created = create(
        &app,
        with_headers(
            json!({
                "authorization": "Bearer s3cret-a",
                "Cookie": "session=s3cret-b",
                "Proxy-Authorization": "Basic s3cret-c",
                "X-API-KEY": "s3cret-d",
                "X-Token": "s3cret-e",
                "X-Plain": "visible",
            }),
            Some(json!(["x-token"])),
        ),
    )
    .await;
    let id = created["jobId"].as_str().unwrap().to_owned();

    let single = get(&app, &format!("/api/jobs/{id}")).await;
    let list = get(&app, "/api/jobs").await;
    for (answer, headers) in [
        ("create", &created["headers"]),
        ("get", &single.body["headers"]),
        ("list", &list.body["jobs"][0]["headers"]),
    ] {
        for name in [
            "authorization",
            "Cookie",
            "Proxy-Authorization",
            "X-API-KEY",
            "X-Token",
        ] {
            assert_eq!(headers[name], "***", "{answer}: {name} in {headers}");
        }
        assert_eq!(headers["X-Plain"], "visible", "{answer}");
    }
    for answer in [&created, &single.body, &list.body] {
        assert!(
            !answer.to_string().contains("s3cret"),
            "a secret value is shown: {answer}"
        );
    }
    // The list names the header as the job spells it.
    assert_eq!(created["secretHeaders"], json!(["X-Token"]));

    let stored = stored_headers(&harness, &id).await;
    assert!(stored.contains(&("authorization".to_owned(), "Bearer s3cret-a".to_owned())));
    assert!(stored.contains(&("X-Token".to_owned(), "s3cret-e".to_owned())));
    let job = harness
        .engine
        .get_job(JobId(id.parse().unwrap()))
        .await
        .unwrap()
        .unwrap();
    let debug = format!("{job:?}");
    assert!(!debug.contains("s3cret"), "Debug shows a secret: {debug}");
    assert!(debug.contains("visible"), "{debug}");
}

#[actix_web::test]
async fn a_put_that_sends_the_redacted_placeholder_back_keeps_the_stored_value() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let created = create(
        &app,
        with_headers(
            json!({"Authorization": "Bearer old", "X-Token": "t-old", "X-Plain": "p"}),
            Some(json!(["X-Token"])),
        ),
    )
    .await;
    let id = created["jobId"].as_str().unwrap().to_owned();
    let uri = format!("/api/jobs/{id}");

    // GET-modify-PUT: the read job, with another schedule, keeps both secrets.
    let mut read = get(&app, &uri).await.body;
    read["schedule"] = json!("0 30 * * * *");
    let reply = put_json(&app, &uri, &read).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["headers"]["Authorization"], "***");
    let stored = stored_headers(&harness, &id).await;
    assert!(stored.contains(&("Authorization".to_owned(), "Bearer old".to_owned())));
    assert!(stored.contains(&("X-Token".to_owned(), "t-old".to_owned())));

    // A new value replaces the stored one.
    let mut changed = read.clone();
    changed.as_object_mut().unwrap().remove("version");
    changed["headers"]["Authorization"] = json!("Bearer new");
    let reply = put_json(&app, &uri, &changed).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let stored = stored_headers(&harness, &id).await;
    assert!(stored.contains(&("Authorization".to_owned(), "Bearer new".to_owned())));

    // The placeholder for a header the job had not as a secret is refused, and changes
    // nothing.
    let before = harness.stored().await;
    let mut unknown = changed.clone();
    unknown["headers"]["X-Plain"] = json!("***");
    unknown["secretHeaders"] = json!(["X-Token", "X-Plain"]);
    let reply = put_json(&app, &uri, &unknown).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.error_field(), Some("headers.X-Plain"));
    assert_eq!(harness.stored().await.0, before.0);

    // With a stale version the placeholder is not resolved against a newer secret.
    let mut stale = read.clone();
    stale["version"] = json!(1);
    let reply = put_json(&app, &uri, &stale).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
}

#[actix_web::test]
async fn secret_header_requests_that_cannot_be_meant_are_refused() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let cases = [
        (
            with_headers(json!({"Authorization": "***"}), None),
            "headers.Authorization",
        ),
        (
            with_headers(json!({"X-Token": "t"}), Some(json!(["X-Other"]))),
            "secretHeaders[0]",
        ),
        (
            with_headers(json!({"X-Token": "t"}), Some(json!("X-Token"))),
            "secretHeaders",
        ),
        (
            with_headers(json!({"X-Token": "t"}), Some(json!([1]))),
            "secretHeaders[0]",
        ),
    ];
    for (body, field) in cases {
        let reply = post_json(&app, "/api/jobs", &body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.body
        );
        assert_eq!(reply.error_field(), Some(field), "{body}: {}", reply.body);
    }
    assert!(harness.stored().await.0.is_empty());
}
