//! The dashboard's page and assets (caching, content security policy, no token needed, bounded
//! metrics labels) and the API it needs: `GET /api/cron/explain` and a job's `stats.lastStatus`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use http_api::{NewToken, TokenVerifier};
use scheduler_core::testing::FakeReply;
use scheduler_core::{MemoryTokenStore, TokenScope, TokenStore};

use crate::support::{Harness, JSON, app, create, get, job_body, post, send, t0, within};

/// The versioned path of an asset, as the page links it.
fn asset_path(page: &str, file: &str) -> String {
    let end = page
        .find(&format!("/{file}\""))
        .expect("the page links the asset");
    let start = page[..end].rfind("\"/assets/").expect("a versioned path") + 1;
    format!("{}/{file}", &page[start..end])
}

#[actix_web::test]
async fn the_page_revalidates_and_its_assets_are_immutable() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let page = get(&app, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let html = page.body.as_str().expect("HTML").to_owned();
    assert!(!html.contains("{{assets}}"), "the template is filled in");
    assert!(!html.contains("<script>"), "no inline script");

    let etag = page.header("etag").expect("an ETag").to_owned();
    let again = send(
        &app,
        TestRequest::get()
            .uri("/")
            .insert_header(("if-none-match", etag.as_str())),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let stale = send(
        &app,
        TestRequest::get()
            .uri("/")
            .insert_header(("if-none-match", "\"0\"")),
    )
    .await;
    assert_eq!(stale.status, StatusCode::OK);

    for (file, content_type) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("uPlot.iife.min.js", "text/javascript; charset=utf-8"),
    ] {
        let path = asset_path(&html, file);
        let asset = get(&app, &path).await;
        assert_eq!(asset.status, StatusCode::OK, "{path}");
        assert_eq!(asset.header("content-type"), Some(content_type), "{path}");
        assert_eq!(
            asset.header("cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{path}"
        );
    }
    // A module the entry point imports is served under the same version.
    let app_js = get(&app, &asset_path(&html, "app.js")).await;
    assert!(app_js.body.as_str().unwrap().contains("from \"./api.js\""));
    let api_js = asset_path(&html, "app.js").replace("app.js", "api.js");
    assert_eq!(get(&app, &api_js).await.status, StatusCode::OK);

    // Another version's asset, or a file that is not an asset: a JSON 404.
    let old = get(&app, "/assets/0000000000000000/app.js").await;
    assert_eq!(old.status, StatusCode::NOT_FOUND);
    assert_eq!(old.body["error"]["code"], "not_found");
    let missing = asset_path(&html, "app.js").replace("app.js", "secrets.txt");
    assert_eq!(get(&app, &missing).await.status, StatusCode::NOT_FOUND);
    let other_method = send(&app, TestRequest::post().uri("/").insert_header(JSON)).await;
    assert_eq!(other_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(other_method.header("allow"), Some("GET"));
}

#[actix_web::test]
async fn the_page_needs_no_token_but_the_api_it_calls_does() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let mut harness = Harness::start().await;
    harness.config.auth.tokens = Some(TokenVerifier::new(tokens.clone(), Duration::ZERO));
    let token = NewToken::generate(TokenScope::Read, None, t0()).expect("a token");
    tokens.insert_token(token.stored).await.expect("stored");
    let app = app!(harness);

    let page = get(&app, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    let asset = asset_path(page.body.as_str().unwrap(), "app.js");
    assert_eq!(get(&app, &asset).await.status, StatusCode::OK);
    for uri in ["/api/jobs", "/api/cron/explain?schedule=0+0+*+*+*+*"] {
        let reply = get(&app, uri).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{uri}");
    }
    // A read token may explain an expression.
    let reply = send(
        &app,
        TestRequest::get()
            .uri("/api/cron/explain?schedule=0+0+*+*+*+*")
            .insert_header(("authorization", format!("Bearer {}", token.text))),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[actix_web::test]
async fn asset_requests_are_counted_under_one_route_pattern() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let html = get(&app, "/").await.body.as_str().unwrap().to_owned();
    for file in ["app.js", "app.css", "jobs.js", "nothing-here.js"] {
        get(&app, &asset_path(&html, "app.js").replace("app.js", file)).await;
    }
    get(&app, "/assets/junk").await;
    let metrics = get(&app, "/api/metrics").await.body;
    let routes: Vec<(String, String)> = metrics["api"]["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|route| {
            (
                route["route"].as_str().unwrap().to_owned(),
                route["requests"].to_string(),
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("/".to_owned(), "1".to_owned()),
            ("/assets/{version}/{file}".to_owned(), "4".to_owned()),
            ("unmatched".to_owned(), "1".to_owned()),
        ]
    );
}

#[actix_web::test]
async fn cron_explain_says_when_an_expression_fires_or_where_it_is_wrong() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let reply = get(
        &app,
        "/api/cron/explain?schedule=0+30+9+*+*+MON-FRI&timezone=Europe/Berlin&limit=3",
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["schedule"], "0 30 9 * * MON-FRI");
    assert_eq!(reply.body["timezone"], "Europe/Berlin");
    let explanation = reply.body["explanation"].as_str().unwrap();
    assert!(explanation.contains("09:30"), "{explanation}");
    let times = reply.body["nextFireTimes"].as_array().unwrap();
    assert_eq!(times.len(), 3);
    // 09:30 in Berlin is 07:30 or 08:30 UTC.
    for time in times {
        let time = time.as_str().unwrap();
        assert!(
            time.ends_with("T07:30:00.000Z") || time.ends_with("T08:30:00.000Z"),
            "{time}"
        );
    }

    for (uri, field, message) in [
        (
            "/api/cron/explain?schedule=0+0+*+*+FRX",
            "schedule",
            "column",
        ),
        ("/api/cron/explain?schedule=", "schedule", ""),
        ("/api/cron/explain", "schedule", "required"),
        (
            "/api/cron/explain?schedule=0+0+*+*+*+*&timezone=Mars/Olympus",
            "timezone",
            "unknown time zone",
        ),
        (
            "/api/cron/explain?schedule=0+0+*+*+*+*&limit=0",
            "limit",
            "1 to 50",
        ),
        (
            "/api/cron/explain?schedule=0+0+*+*+*+*&tz=UTC",
            "tz",
            "unknown query parameter",
        ),
    ] {
        let reply = get(&app, uri).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{uri}: {}",
            reply.body
        );
        assert_eq!(reply.error_field(), Some(field), "{uri}: {}", reply.body);
        assert!(
            reply.error_message().contains(message),
            "{uri}: {}",
            reply.body
        );
    }
    let long = format!("/api/cron/explain?schedule={}", "1".repeat(2_000));
    assert_eq!(get(&app, &long).await.status, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn a_job_shows_how_its_last_execution_ended() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let job = create(&app, job_body("0 0 * * * *")).await;
    let job_id = job["jobId"].as_str().unwrap().to_owned();
    assert!(job["stats"].is_null());
    post(&app, &format!("/api/jobs/{job_id}/trigger")).await;
    within("the trigger is sent", harness.transport.wait_for_sent(1)).await;
    harness.finished_executions(1).await;
    let job = get(&app, &format!("/api/jobs/{job_id}")).await.body;
    assert_eq!(job["stats"]["lastStatus"], "SUCCEEDED", "{job}");

    // An at-most-once job whose target answers 404 fails at once.
    harness
        .transport
        .script("https://example.com/missing", vec![FakeReply::Status(404)]);
    let failing = create(
        &app,
        serde_json::json!({"schedule": "0 0 * * * *", "api": "https://example.com/missing", "type": "ATMOST_ONCE"}),
    )
    .await;
    let failing_id = failing["jobId"].as_str().unwrap().to_owned();
    post(&app, &format!("/api/jobs/{failing_id}/trigger")).await;
    harness.finished_executions(2).await;
    let listed = get(&app, "/api/jobs").await.body;
    for job in listed["jobs"].as_array().unwrap() {
        let expected = if job["jobId"] == failing_id.as_str() {
            "FAILED"
        } else {
            "SUCCEEDED"
        };
        assert_eq!(job["stats"]["lastStatus"], expected, "{job}");
    }
}
