//! Attempts to slip a request past the authentication middleware by spelling its path another
//! way: percent-encoded characters (which actix decodes before routing), doubled slashes, a
//! trailing slash, dot segments, another case, or a method no route has. Whatever the path, a
//! request that may change state is JSON or carries a token, a read token only reads, and the
//! `Host` check holds.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use actix_web::test::TestRequest;
use http_api::{NewToken, TokenVerifier};
use scheduler_core::{MemoryTokenStore, TokenScope, TokenStore};

use crate::support::{Harness, JSON, Reply, app, create, job_body, send, t0};

/// The same route as `/api/jobs/{id}/{action}`, spelt as actix matches it after decoding.
fn encoded_paths(id: &str, action: &str) -> Vec<String> {
    let first = action.chars().next().expect("an action");
    let rest = &action[first.len_utf8()..];
    vec![
        format!("/api/%6Aobs/{id}/{action}"),
        format!("/api/jobs/{id}/%{:02X}{rest}", u32::from(first)),
        format!("/api/j%6Fbs/{id}/{action}"),
        format!("/%61pi/jobs/{id}/{action}"),
        format!("/api/%6a%6F%62%73/{id}/{action}"),
    ]
}

/// Other spellings of `/api/jobs/{id}/{action}`, which actix does not route to it.
fn odd_paths(id: &str, action: &str) -> Vec<String> {
    vec![
        format!("//api/jobs/{id}/{action}"),
        format!("/api//jobs/{id}/{action}"),
        format!("/api/jobs/{id}/{action}/"),
        format!("/api/jobs/./{id}/{action}"),
        format!("/api/jobs/x/../{id}/{action}"),
        format!("/API/JOBS/{id}/{}", action.to_ascii_uppercase()),
        format!("/api/jobs/{id}/{action}%2F"),
    ]
}

fn assert_415(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{what}: {}",
        reply.body
    );
    assert_eq!(
        reply.body["error"]["code"], "unsupported_media_type",
        "{what}"
    );
    assert_eq!(reply.body["error"]["field"], "Content-Type", "{what}");
}

#[actix_web::test]
async fn an_encoded_path_is_held_to_the_json_rule() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let created = create(&app, job_body("0 0 * * * *")).await;
    let id = created["jobId"].as_str().expect("an id").to_owned();
    let before = harness.stored().await;

    for action in ["pause", "resume", "trigger"] {
        for path in encoded_paths(&id, action) {
            for content_type in [Some("text/plain"), None] {
                let mut request = TestRequest::post().uri(&path);
                if let Some(value) = content_type {
                    request = request.insert_header(("content-type", value));
                }
                let reply = send(&app, request).await;
                assert_415(&reply, &format!("POST {path} as {content_type:?}"));
            }
        }
    }
    for path in [
        format!("/api/%6Aobs/{id}"),
        format!("/api/jobs/%{:02X}{}", id.as_bytes()[0], &id[1..]),
    ] {
        let reply = send(
            &app,
            TestRequest::delete()
                .uri(&path)
                .insert_header(("content-type", "text/plain")),
        )
        .await;
        assert_415(&reply, &format!("DELETE {path}"));
    }
    assert_eq!(harness.stored().await, before, "nothing changed");

    // The encoded paths do reach the routes: as JSON, they act.
    let reply = send(
        &app,
        TestRequest::post()
            .uri(&format!("/api/%6Aobs/{id}/%70ause"))
            .insert_header(JSON),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["paused"], true, "{}", reply.body);
}

#[actix_web::test]
async fn every_method_but_get_head_and_options_is_json_or_carries_a_token_whatever_its_path() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let created = create(&app, job_body("0 0 * * * *")).await;
    let id = created["jobId"].as_str().expect("an id").to_owned();
    let before = harness.stored().await;

    let mut paths = odd_paths(&id, "trigger");
    paths.extend([
        "/api/nothing-here".to_owned(),
        "/metrics".to_owned(),
        "/".to_owned(),
    ]);
    for path in &paths {
        for method in ["POST", "PUT", "DELETE", "PATCH", "TRACE", "JUNK"] {
            let request = TestRequest::default()
                .method(Method::from_bytes(method.as_bytes()).expect("a method"))
                .uri(path)
                .insert_header(("content-type", "text/plain"));
            assert_415(&send(&app, request).await, &format!("{method} {path}"));
        }
    }
    assert_eq!(harness.stored().await, before, "nothing changed");

    // Reads need neither; with JSON the same requests get the router's answer.
    let reply = send(&app, TestRequest::get().uri(&format!("/api/jobs/{id}"))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = send(
        &app,
        TestRequest::default()
            .method(Method::OPTIONS)
            .uri(&format!("/api/jobs/{id}")),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        reply.body
    );
    for path in &paths[..paths.len() - 3] {
        let reply = send(&app, TestRequest::post().uri(path).insert_header(JSON)).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "POST {path}: {}",
            reply.body
        );
    }
}

#[actix_web::test]
async fn no_spelling_of_a_path_lets_a_read_token_write() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let mut harness = Harness::start().await;
    harness.config.auth.tokens = Some(TokenVerifier::new(tokens.clone(), Duration::ZERO));
    let app = app!(harness);
    let admin = NewToken::generate(TokenScope::Admin, None, t0()).expect("a token");
    let read = NewToken::generate(TokenScope::Read, None, t0()).expect("a token");
    tokens.insert_token(admin.stored).await.expect("stored");
    tokens.insert_token(read.stored).await.expect("stored");
    let reply = send(
        &app,
        TestRequest::post()
            .uri("/api/jobs")
            .insert_header(("authorization", format!("Bearer {}", admin.text)))
            .set_json(job_body("0 0 * * * *")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["jobId"].as_str().expect("an id").to_owned();
    let before = harness.stored().await;

    let mut paths = encoded_paths(&id, "trigger");
    paths.extend(odd_paths(&id, "trigger"));
    for path in &paths {
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            let reply = send(
                &app,
                TestRequest::default()
                    .method(method.clone())
                    .uri(path)
                    .insert_header(JSON)
                    .insert_header(("authorization", format!("Bearer {}", read.text))),
            )
            .await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{method} {path}: {}",
                reply.body
            );
            assert_eq!(reply.body["error"]["code"], "forbidden", "{method} {path}");
        }
        // Without a token, nothing but the open paths answers.
        let reply = send(&app, TestRequest::get().uri(path)).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "GET {path}: {}",
            reply.body
        );
    }
    assert_eq!(harness.stored().await, before, "nothing changed");
}

#[actix_web::test]
async fn no_spelling_of_a_path_skips_the_host_check() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let created = create(&app, job_body("0 0 * * * *")).await;
    let id = created["jobId"].as_str().expect("an id").to_owned();
    let before = harness.stored().await;

    let mut paths = encoded_paths(&id, "trigger");
    paths.extend(odd_paths(&id, "trigger"));
    paths.extend(
        [
            "/api/%6Aobs",
            "/api/jobs/",
            "//api/jobs",
            "/api/./jobs",
            "/api/health/",
            "/api/health/../jobs",
            "/api/openapi.json/../jobs",
            "/API/HEALTH",
        ]
        .map(str::to_owned),
    );
    for path in &paths {
        for request in [
            TestRequest::get().uri(path),
            TestRequest::post().uri(path).insert_header(JSON),
        ] {
            let reply = send(&app, request.insert_header(("host", "attacker.example"))).await;
            assert_eq!(
                reply.status,
                StatusCode::MISDIRECTED_REQUEST,
                "{path}: {}",
                reply.body
            );
            assert_eq!(reply.body["error"]["code"], "host_not_allowed", "{path}");
        }
    }
    assert_eq!(harness.stored().await, before, "nothing changed");
}
