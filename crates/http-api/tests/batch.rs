//! `POST /api/jobs:batch`: all or nothing, every bad item listed, NDJSON, and the limits.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use http_api::{MAX_BATCH_JOBS, TokenVerifier};
use scheduler_core::{MemoryTokenStore, TokenScope, TokenStore};
use serde_json::{Value, json};

use crate::support::{Harness, JSON, Reply, app, get, job_body, send, t0, within};

const NDJSON: (&str, &str) = ("content-type", "application/x-ndjson");

fn batch(items: &Value) -> TestRequest {
    TestRequest::post()
        .uri("/api/jobs:batch")
        .insert_header(JSON)
        .set_payload(items.to_string())
}

fn ndjson(text: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/jobs:batch")
        .insert_header(NDJSON)
        .set_payload(text.to_owned())
}

/// The `(index, field)` of every bad item an answer lists.
fn bad_items(reply: &Reply) -> Vec<(u64, String)> {
    reply.body["error"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {}", reply.body))
        .iter()
        .map(|item| {
            (
                item["index"].as_u64().expect("an index"),
                item["field"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[actix_web::test]
async fn a_batch_is_created_in_order_and_the_engine_fires_it() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let mut named = job_body("0 0 * * * *");
    named["name"] = json!("hourly");
    let items = json!([job_body("* * * * * *"), named, job_body("0 0 0 * * *")]);
    let reply = send(&app, batch(&items)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["created"], 3);
    let ids: Vec<&str> = reply.body["jobIds"]
        .as_array()
        .expect("jobIds")
        .iter()
        .map(|id| id.as_str().expect("an id"))
        .collect();
    assert_eq!(ids.len(), 3);
    for (id, item) in ids.iter().zip(items.as_array().unwrap()) {
        let job = get(&app, &format!("/api/jobs/{id}")).await;
        assert_eq!(job.status, StatusCode::OK);
        assert_eq!(job.body["schedule"], item["schedule"]);
        assert_eq!(
            job.body["name"],
            item.get("name").cloned().unwrap_or(Value::Null)
        );
    }

    // The every-second job's first tick fires as a single creation's would.
    harness.clock.advance_to(t0() + Duration::from_secs(1));
    within("the first tick", harness.transport.wait_for_sent(1)).await;
    let sent = harness.transport.sent();
    assert_eq!(sent[0].job_id.to_string(), ids[0]);
}

#[actix_web::test]
async fn every_bad_item_is_listed_and_nothing_is_created() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let mut bad_schedule = job_body("0 0 * * * *");
    bad_schedule["schedule"] = json!("61 * * * * *");
    let mut no_api = job_body("0 0 * * * *");
    no_api.as_object_mut().unwrap().remove("api");
    let mut unknown = job_body("0 0 * * * *");
    unknown["schedulee"] = json!("x");
    let mut redacted_header = job_body("0 0 * * * *");
    redacted_header["headers"] = json!({"Authorization": "***"});
    let mut redacted_secret = job_body("0 0 * * * *");
    redacted_secret["signingSecret"] = json!("***");
    let mut read_only = job_body("0 0 * * * *");
    read_only["jobId"] = json!("00000000-0000-4000-8000-000000000000");
    let mut bad_retry = job_body("0 0 * * * *");
    bad_retry["retry"] = json!({"maxAttempts": 0});
    let items = json!([
        job_body("0 0 * * * *"),
        bad_schedule,
        job_body("0 0 * * * *"),
        no_api,
        unknown,
        redacted_header,
        redacted_secret,
        "not a job",
        read_only,
        bad_retry,
    ]);
    let before = harness.stored().await;
    let reply = send(&app, batch(&items)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.body["error"]["code"], "invalid");
    assert_eq!(reply.error_field(), Some("body"));
    assert!(
        reply.error_message().contains("8 of the batch's 10 jobs"),
        "{}",
        reply.error_message()
    );
    assert_eq!(
        bad_items(&reply),
        [
            (1, "schedule".to_owned()),
            (3, "api".to_owned()),
            (4, "schedulee".to_owned()),
            (5, "headers.Authorization".to_owned()),
            (6, "signingSecret".to_owned()),
            (7, "body".to_owned()),
            (8, "jobId".to_owned()),
            (9, "retry.maxAttempts".to_owned()),
        ]
    );
    let messages: Vec<&str> = reply.body["error"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["message"].as_str().unwrap())
        .collect();
    assert!(messages.iter().all(|message| !message.is_empty()));
    assert_eq!(harness.stored().await, before);
}

/// A schedule that parses but never fires again is refused by the engine, which reports it
/// by its index too; the valid items around it are not created.
#[actix_web::test]
async fn the_engines_refusals_name_their_items() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let items = json!([job_body("0 0 * * * *"), job_body("0 0 0 1 1 * 2020")]);
    let reply = send(&app, batch(&items)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(bad_items(&reply), [(1, "schedule".to_owned())]);
    assert_eq!(harness.stored().await.0, []);
}

#[actix_web::test]
async fn ndjson_batches_skip_blank_lines_and_list_bad_lines() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let line = job_body("0 0 * * * *").to_string();
    let reply = send(&app, ndjson(&format!("{line}\n\n{line}\r\n  \n{line}"))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["created"], 3);
    assert_eq!(harness.stored().await.0.len(), 3);

    let reply = send(&app, ndjson(&format!("{line}\n{{\"schedule\": \n\n[1]\n"))).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(
        bad_items(&reply),
        [(1, "body".to_owned()), (2, "body".to_owned())]
    );
    let items = reply.body["error"]["items"].as_array().unwrap();
    assert_eq!(items[0]["code"], "malformed_json");
    assert!(
        items[0]["message"].as_str().unwrap().contains("line 2"),
        "{}",
        items[0]
    );
    assert_eq!(harness.stored().await.0.len(), 3);
}

#[actix_web::test]
async fn batches_over_the_limits_are_refused() {
    let mut harness = Harness::start().await;
    harness.config.max_batch_body_bytes = 2 * 1024 * 1024;
    let app = app!(harness);

    // More jobs than a batch may hold.
    let line = job_body("0 0 * * * *").to_string();
    let reply = send(
        &app,
        ndjson(&format!("{line}\n").repeat(MAX_BATCH_JOBS + 1)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.error_field(), Some("body"));
    assert!(
        reply.error_message().contains("at most 10000 jobs"),
        "{}",
        reply.error_message()
    );

    // More bytes than the batch limit (the single-request limit is far smaller).
    let big = json!([{"schedule": "0 0 * * * *", "api": "https://example.com/", "type": "ATLEAST_ONCE", "body": "x".repeat(3 * 1024 * 1024)}]);
    let reply = send(&app, batch(&big)).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
    assert_eq!(reply.body["error"]["code"], "payload_too_large");

    // Bigger than a single request may be, within the batch limit: accepted.
    let items: Vec<Value> = (0..200).map(|_| job_body("0 0 * * * *")).collect();
    let items = Value::Array(items);
    assert!(items.to_string().len() > harness.config.max_body_bytes);
    let reply = send(&app, batch(&items)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["created"], 200);

    // Not an array, and not JSON at all.
    let reply = send(&app, batch(&job_body("0 0 * * * *"))).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_field(), Some("body"));
    let reply = send(
        &app,
        TestRequest::post()
            .uri("/api/jobs:batch")
            .insert_header(JSON)
            .set_payload("[{"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["error"]["code"], "malformed_json");

    // Neither JSON nor NDJSON.
    let reply = send(
        &app,
        TestRequest::post()
            .uri("/api/jobs:batch")
            .insert_header(("content-type", "text/plain"))
            .set_payload(format!("[{line}]")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(harness.stored().await.0.len(), 200);
}

#[actix_web::test]
async fn a_batch_needs_an_admin_token() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let mut harness = Harness::start().await;
    harness.config.auth.tokens = Some(TokenVerifier::new(tokens.clone(), Duration::ZERO));
    let app = app!(harness);
    let mut texts = Vec::new();
    for scope in [TokenScope::Read, TokenScope::Admin] {
        let token = http_api::NewToken::generate(scope, None, t0()).expect("a token");
        tokens.insert_token(token.stored).await.expect("stored");
        texts.push(token.text);
    }
    let items = json!([job_body("0 0 * * * *")]);
    let with =
        |token: &str| batch(&items).insert_header(("authorization", format!("Bearer {token}")));
    assert_eq!(
        send(&app, batch(&items)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, with(&texts[0])).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&app, with(&texts[1])).await.status,
        StatusCode::CREATED
    );
}

/// Refuses every target on `blocked.test`.
#[derive(Debug)]
struct RefuseBlocked;

impl http_api::TargetCheck for RefuseBlocked {
    fn check(&self, host: &str, _port: u16) -> Result<(), String> {
        match host {
            "blocked.test" => Err(format!("target {host} refused by the target policy")),
            _ => Ok(()),
        }
    }
}

#[actix_web::test]
async fn a_refused_target_is_listed_by_its_index_and_field() {
    let mut harness = Harness::start().await;
    harness.config.target_check = Some(Arc::new(RefuseBlocked));
    let app = app!(harness);
    let mut refused_api = job_body("0 0 * * * *");
    refused_api["api"] = json!("https://blocked.test/hook");
    let mut refused_webhook = job_body("0 0 * * * *");
    refused_webhook["alert"] = json!({"webhookUrl": "http://blocked.test:8080/alert"});
    let items = json!([job_body("0 0 * * * *"), refused_api, refused_webhook]);
    for request in [
        batch(&items),
        ndjson(
            &items
                .as_array()
                .unwrap()
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ] {
        let reply = send(&app, request).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(
            bad_items(&reply),
            [(1, "api".to_owned()), (2, "alert.webhookUrl".to_owned())]
        );
        for item in reply.body["error"]["items"].as_array().unwrap() {
            assert!(
                item["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("target blocked.test refused by the target policy")),
                "{item}"
            );
        }
    }
    assert_eq!(harness.stored().await.0, []);
}

#[actix_web::test]
async fn an_item_with_a_duplicate_key_is_listed_by_its_index_and_key() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let good = r#"{"schedule":"0 0 * * * *","api":"https://example.com/","type":"ATLEAST_ONCE"}"#;
    let items = [
        good,
        r#"{"schedule":"0 0 * * * *","schedule":"0 5 * * * *","api":"https://example.com/","type":"ATLEAST_ONCE"}"#,
        good,
        r#"{"schedule":"0 0 * * * *","api":"https://example.com/","type":"ATLEAST_ONCE","headers":{"X-A":"1","X-A":"2"}}"#,
        r#"{"schedule":"0 0 * * * *","api":"https://example.com/","type":"ATLEAST_ONCE","retry":{"maxAttempts":2,"maxAttempts":3}}"#,
    ];
    let expected = [
        (1, "schedule".to_owned()),
        (3, "headers.X-A".to_owned()),
        (4, "retry.maxAttempts".to_owned()),
    ];
    for request in [
        TestRequest::post()
            .uri("/api/jobs:batch")
            .insert_header(JSON)
            .set_payload(format!("[{}]", items.join(","))),
        ndjson(&items.join("\n")),
    ] {
        let reply = send(&app, request).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(bad_items(&reply), expected);
        for item in reply.body["error"]["items"].as_array().unwrap() {
            assert!(
                item["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("duplicate key")),
                "{item}"
            );
        }
    }
    assert_eq!(harness.stored().await.0, []);
}
