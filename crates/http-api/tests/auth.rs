//! Authentication and browser attacks: tokens and their scopes (401, 403), the `Host` check
//! (421), and the rule that a request changing state is JSON or carries a token (415).

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use http_api::{AllowedHosts, AuthConfig, MetricsAccess, NewToken, TokenVerifier};
use scheduler_core::{BoxFuture, MemoryTokenStore, StoredToken, Timestamp, TokenScope, TokenStore};

use crate::support::{Harness, Reply, app, job_body, send, t0};

/// A harness whose API checks tokens in `tokens`, remembering nothing (every request reads the
/// store, so revocations show at once).
async fn harness_with(
    tokens: Arc<MemoryTokenStore>,
    adjust: impl FnOnce(&mut AuthConfig),
) -> Harness {
    let mut harness = Harness::start().await;
    harness.config.auth.tokens = Some(TokenVerifier::new(tokens, Duration::ZERO));
    adjust(&mut harness.config.auth);
    harness
}

async fn new_token(tokens: &MemoryTokenStore, scope: TokenScope) -> String {
    let token = NewToken::generate(scope, None, t0()).expect("a token");
    tokens.insert_token(token.stored).await.expect("stored");
    token.text
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

fn assert_error(reply: &Reply, status: StatusCode, code: &str, field: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["error"]["code"], code, "{}", reply.body);
    assert_eq!(reply.error_field(), Some(field), "{}", reply.body);
}

#[actix_web::test]
async fn without_tokens_in_the_store_no_token_is_needed() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let harness = harness_with(tokens, |_| {}).await;
    let app = app!(harness);
    let reply = send(&app, TestRequest::get().uri("/api/jobs")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = send(
        &app,
        TestRequest::post()
            .uri("/api/jobs")
            .set_json(job_body("0 0 * * * *")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

#[actix_web::test]
async fn once_a_token_exists_every_request_needs_one() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let harness = harness_with(tokens.clone(), |_| {}).await;
    let app = app!(harness);
    let admin = new_token(&tokens, TokenScope::Admin).await;

    for request in [
        TestRequest::get().uri("/api/jobs"),
        TestRequest::get().uri("/api/executions"),
        TestRequest::post()
            .uri("/api/jobs")
            .set_json(job_body("0 0 * * * *")),
    ] {
        let reply = send(&app, request).await;
        assert_error(
            &reply,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authorization",
        );
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Bearer realm=\"scheduler\"")
        );
    }
    assert!(harness.stored().await.0.is_empty(), "nothing was created");

    let reply = send(
        &app,
        TestRequest::post()
            .uri("/api/jobs")
            .insert_header(bearer(&admin))
            .set_json(job_body("0 0 * * * *")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let reply = send(
        &app,
        TestRequest::get()
            .uri("/api/jobs")
            .insert_header(bearer(&admin)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);

    // Health and the OpenAPI document stay open; so do the metrics by default.
    for uri in [
        "/api/health",
        "/api/openapi.json",
        "/metrics",
        "/api/metrics",
    ] {
        let reply = send(&app, TestRequest::get().uri(uri)).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.body);
    }
}

#[actix_web::test]
async fn bad_tokens_are_401_and_name_the_problem() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let harness = harness_with(tokens.clone(), |_| {}).await;
    let app = app!(harness);
    let admin = new_token(&tokens, TokenScope::Admin).await;
    let id = http_api::token_id(&admin).unwrap().to_owned();
    let wrong_secret = format!("sched_{id}_{}", "0".repeat(64));
    let unknown = format!("sched_{}_{}", "f".repeat(16), "0".repeat(64));
    let check = async |header: String, message: &str| {
        let reply = send(
            &app,
            TestRequest::get()
                .uri("/api/jobs")
                .insert_header(("authorization", header.clone())),
        )
        .await;
        assert_error(
            &reply,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authorization",
        );
        assert!(
            reply.error_message().contains(message),
            "{header}: {}",
            reply.body
        );
    };
    check(
        format!("Bearer {wrong_secret}"),
        &format!("invalid token {id}"),
    )
    .await;
    check(format!("Bearer {unknown}"), "unknown token").await;
    check("Bearer nonsense".to_owned(), "malformed token").await;
    check(format!("Basic {admin}"), "expected Bearer").await;
    check("Bearer".to_owned(), "expected Bearer").await;

    // The scheme is case-insensitive.
    let reply = send(
        &app,
        TestRequest::get()
            .uri("/api/jobs")
            .insert_header(("authorization", format!("bearer {admin}"))),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);

    // A revoked token is refused at once (this verifier remembers nothing).
    tokens.revoke_token(&id, t0()).await.unwrap();
    check(format!("Bearer {admin}"), "revoked").await;
}

#[actix_web::test]
async fn a_read_token_reads_and_cannot_write() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let harness = harness_with(tokens.clone(), |_| {}).await;
    let app = app!(harness);
    let admin = new_token(&tokens, TokenScope::Admin).await;
    let read = new_token(&tokens, TokenScope::Read).await;
    let created = send(
        &app,
        TestRequest::post()
            .uri("/api/jobs")
            .insert_header(bearer(&admin))
            .set_json(job_body("0 0 * * * *")),
    )
    .await;
    let job = format!("/api/jobs/{}", created.body["jobId"].as_str().unwrap());

    for uri in [
        job.clone(),
        format!("{job}/executions"),
        "/api/jobs".to_owned(),
    ] {
        let reply = send(
            &app,
            TestRequest::get().uri(&uri).insert_header(bearer(&read)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}");
    }
    let before = harness.stored().await;
    for request in [
        TestRequest::post()
            .uri("/api/jobs")
            .set_json(job_body("0 0 * * * *")),
        TestRequest::put()
            .uri(&job)
            .set_json(job_body("0 1 * * * *")),
        TestRequest::delete().uri(&job),
        TestRequest::post().uri(&format!("{job}/pause")),
        TestRequest::post().uri(&format!("{job}/trigger")),
    ] {
        let reply = send(&app, request.insert_header(bearer(&read))).await;
        assert_error(&reply, StatusCode::FORBIDDEN, "forbidden", "Authorization");
    }
    assert_eq!(
        harness.stored().await,
        before,
        "a read token changed nothing"
    );
}

#[actix_web::test]
async fn metrics_can_need_a_token() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let harness = harness_with(tokens.clone(), |auth| auth.metrics = MetricsAccess::Token).await;
    let app = app!(harness);
    let read = new_token(&tokens, TokenScope::Read).await;
    for uri in ["/metrics", "/api/metrics"] {
        let reply = send(&app, TestRequest::get().uri(uri)).await;
        assert_error(
            &reply,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authorization",
        );
        let reply = send(
            &app,
            TestRequest::get().uri(uri).insert_header(bearer(&read)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}");
    }
    let reply = send(&app, TestRequest::get().uri("/api/health")).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[actix_web::test]
async fn only_loopback_hosts_are_answered_until_tokens_are_required() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let harness = harness_with(tokens.clone(), |_| {}).await;
    let app = app!(harness);
    let get = |host: &str| {
        TestRequest::get()
            .uri("/api/jobs")
            .insert_header(("host", host.to_owned()))
    };
    for host in [
        "localhost:8080",
        "127.0.0.1:8080",
        "[::1]:8080",
        "LOCALHOST",
    ] {
        assert_eq!(send(&app, get(host)).await.status, StatusCode::OK, "{host}");
    }
    // A page on another name, rebound to this address, cannot read or write.
    let reply = send(&app, get("attacker.example:8080")).await;
    assert_error(
        &reply,
        StatusCode::MISDIRECTED_REQUEST,
        "host_not_allowed",
        "Host",
    );
    assert!(
        reply.error_message().contains("attacker.example"),
        "{}",
        reply.body
    );
    let reply = send(
        &app,
        TestRequest::post()
            .uri("/api/jobs")
            .insert_header(("host", "attacker.example"))
            .set_json(job_body("0 0 * * * *")),
    )
    .await;
    assert_error(
        &reply,
        StatusCode::MISDIRECTED_REQUEST,
        "host_not_allowed",
        "Host",
    );
    assert!(harness.stored().await.0.is_empty());
    // Health stays reachable by any name.
    let reply = send(
        &app,
        TestRequest::get()
            .uri("/api/health")
            .insert_header(("host", "10.1.2.3")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);

    // Once tokens are required, the token protects the API and any name is answered.
    let admin = new_token(&tokens, TokenScope::Admin).await;
    let reply = send(&app, get("scheduler.example").insert_header(bearer(&admin))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[actix_web::test]
async fn an_allowed_hosts_list_is_always_enforced() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let harness = harness_with(tokens.clone(), |auth| {
        auth.allowed_hosts = AllowedHosts::parse_list("scheduler.example").unwrap();
    })
    .await;
    let app = app!(harness);
    let admin = new_token(&tokens, TokenScope::Admin).await;
    let get = |host: &str| {
        TestRequest::get()
            .uri("/api/jobs")
            .insert_header(("host", host.to_owned()))
            .insert_header(bearer(&admin))
    };
    assert_eq!(
        send(&app, get("scheduler.example:443")).await.status,
        StatusCode::OK
    );
    let reply = send(&app, get("localhost")).await;
    assert_error(
        &reply,
        StatusCode::MISDIRECTED_REQUEST,
        "host_not_allowed",
        "Host",
    );
}

#[actix_web::test]
async fn a_request_that_changes_state_is_json_or_carries_a_token() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let harness = harness_with(tokens.clone(), |_| {}).await;
    let app = app!(harness);
    let created = send(
        &app,
        TestRequest::post()
            .uri("/api/jobs")
            .set_json(job_body("0 0 * * * *")),
    )
    .await;
    let job = format!("/api/jobs/{}", created.body["jobId"].as_str().unwrap());
    let before = harness.stored().await;

    // What a cross-site form can send: text/plain, url-encoded, multipart, or nothing.
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        for request in [
            TestRequest::post().uri(&format!("{job}/pause")),
            TestRequest::post().uri(&format!("{job}/resume")),
            TestRequest::post().uri(&format!("{job}/trigger")),
            TestRequest::delete().uri(&job),
        ] {
            let request = match content_type {
                Some(value) => request.insert_header(("content-type", value)),
                None => request,
            };
            let reply = send(&app, request).await;
            assert_error(
                &reply,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Content-Type",
            );
        }
    }
    assert_eq!(harness.stored().await, before, "nothing changed");

    // JSON passes without a token ...
    let reply = send(
        &app,
        TestRequest::post()
            .uri(&format!("{job}/pause"))
            .insert_header(("content-type", "application/json; charset=utf-8")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // ... and a bearer token passes without JSON.
    let admin = new_token(&tokens, TokenScope::Admin).await;
    let reply = send(
        &app,
        TestRequest::post()
            .uri(&format!("{job}/resume"))
            .insert_header(("content-type", "text/plain"))
            .insert_header(bearer(&admin)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = send(
        &app,
        TestRequest::delete()
            .uri(&job)
            .insert_header(bearer(&admin)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
}

#[actix_web::test]
async fn without_a_verifier_the_json_rule_still_holds() {
    let harness = Harness::start().await;
    let app = app!(harness);
    // The `Authorization` header is not read (a proxy in front may use it), and counts as
    // something no cross-site form can send.
    let reply = send(
        &app,
        TestRequest::post()
            .uri("/api/jobs")
            .insert_header(("authorization", "Basic dXNlcjpwYXNz"))
            .set_json(job_body("0 0 * * * *")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let reply = send(
        &app,
        TestRequest::post()
            .uri("/api/jobs/3f1c0d2e-8d55-4d6a-9a43-2c7d1c1e0b11/trigger")
            .insert_header(("authorization", "Basic dXNlcjpwYXNz"))
            .insert_header(("content-type", "text/plain")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = send(
        &app,
        TestRequest::post()
            .uri("/api/jobs/3f1c0d2e-8d55-4d6a-9a43-2c7d1c1e0b11/trigger")
            .insert_header(("content-type", "text/plain")),
    )
    .await;
    assert_error(
        &reply,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "Content-Type",
    );
}

#[actix_web::test]
async fn a_verifier_remembers_tokens_for_its_ttl() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let mut harness = Harness::start().await;
    harness.config.auth.tokens = Some(TokenVerifier::new(
        tokens.clone(),
        Duration::from_secs(3600),
    ));
    let app = app!(harness);
    let admin = new_token(&tokens, TokenScope::Admin).await;
    let get = || {
        TestRequest::get()
            .uri("/api/jobs")
            .insert_header(bearer(&admin))
    };
    assert_eq!(send(&app, get()).await.status, StatusCode::OK);
    // Revoked in the store, but remembered: the store is not read again within the TTL (the
    // server binary's TTL is 2 s).
    let id = http_api::token_id(&admin).unwrap().to_owned();
    tokens.revoke_token(&id, t0()).await.unwrap();
    assert_eq!(send(&app, get()).await.status, StatusCode::OK);
    // A wrong secret under a remembered id is still refused.
    let forged = format!("sched_{id}_{}", "0".repeat(64));
    let reply = send(
        &app,
        TestRequest::get()
            .uri("/api/jobs")
            .insert_header(bearer(&forged)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn the_openapi_document_states_the_security_scheme() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let document = send(&app, TestRequest::get().uri("/api/openapi.json"))
        .await
        .body;
    let scheme = &document["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!(
        (scheme["type"].as_str(), scheme["scheme"].as_str()),
        (Some("http"), Some("bearer"))
    );
    assert_eq!(
        document["security"],
        serde_json::json!([{"bearerAuth": []}])
    );
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let open = path == "/api/health" || path == "/api/openapi.json";
            assert_eq!(
                operation["security"] == serde_json::json!([]),
                open,
                "{method} {path}"
            );
            assert_eq!(
                operation["responses"]["401"].is_object(),
                !open,
                "{method} {path}"
            );
            let writes = method != "get";
            assert_eq!(
                operation["responses"]["403"].is_object(),
                writes,
                "{method} {path}"
            );
            if writes {
                assert!(operation["responses"]["415"].is_object(), "{method} {path}");
            }
        }
    }
}

/// Tokens in memory whose reads fail while `failing` is set, as a store in an outage.
#[derive(Default)]
struct FailingTokens {
    tokens: MemoryTokenStore,
    failing: std::sync::atomic::AtomicBool,
}

impl FailingTokens {
    fn check(&self) -> scheduler_core::Result<()> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            Err(scheduler_core::Error::store(
                scheduler_core::StoreErrorKind::Unavailable,
                "reading tokens",
                "the database is down",
            ))
        } else {
            Ok(())
        }
    }
}

impl TokenStore for FailingTokens {
    fn insert_token(&self, token: StoredToken) -> BoxFuture<'_, scheduler_core::Result<()>> {
        self.tokens.insert_token(token)
    }
    fn find_token(&self, id: &str) -> BoxFuture<'_, scheduler_core::Result<Option<StoredToken>>> {
        match self.check() {
            Ok(()) => self.tokens.find_token(id),
            Err(error) => Box::pin(std::future::ready(Err(error))),
        }
    }
    fn list_tokens(&self) -> BoxFuture<'_, scheduler_core::Result<Vec<StoredToken>>> {
        self.tokens.list_tokens()
    }
    fn revoke_token(&self, id: &str, at: Timestamp) -> BoxFuture<'_, scheduler_core::Result<bool>> {
        self.tokens.revoke_token(id, at)
    }
    fn has_tokens(&self) -> BoxFuture<'_, scheduler_core::Result<bool>> {
        match self.check() {
            Ok(()) => self.tokens.has_tokens(),
            Err(error) => Box::pin(std::future::ready(Err(error))),
        }
    }
}

#[actix_web::test]
async fn while_the_token_store_fails_what_it_last_said_stands() {
    let tokens = Arc::new(FailingTokens::default());
    let mut harness = Harness::start().await;
    harness.config.auth.tokens = Some(TokenVerifier::new(tokens.clone(), Duration::ZERO));
    let app = app!(harness);
    let known = new_token(&tokens.tokens, TokenScope::Admin).await;
    let never_seen = new_token(&tokens.tokens, TokenScope::Admin).await;
    let get = |token: &str| {
        TestRequest::get()
            .uri("/api/jobs")
            .insert_header(bearer(token))
    };
    assert_eq!(send(&app, get(&known)).await.status, StatusCode::OK);

    tokens
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(send(&app, get(&known)).await.status, StatusCode::OK);
    let reply = send(&app, TestRequest::get().uri("/api/jobs")).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "tokens stay required"
    );
    let reply = send(&app, get(&never_seen)).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(reply.header("retry-after"), Some("1"));
}
