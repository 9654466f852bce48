//! The OpenAPI document states the rules the server checks on a job, and the answers every
//! operation may give: for each rule, a table of values that the document's patterns accept
//! or refuse, each sent to the server, which must agree (201, or 400 naming the field).

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use regex_lite::Regex;
use serde_json::{Value, json};

use crate::support::{Harness, JSON, app, create, get, job_body, post_json, send};

/// Whether `text` matches the JSON Schema `pattern` at `schema`.
fn matches(schema: &Value, text: &str) -> bool {
    let pattern = schema["pattern"]
        .as_str()
        .unwrap_or_else(|| panic!("no pattern in {schema}"));
    Regex::new(pattern)
        .unwrap_or_else(|error| panic!("pattern {pattern}: {error}"))
        .is_match(text)
}

/// Whether the `headers` schema accepts a header `name` with `value`: the name's pattern, not
/// the forbidden names' pattern, and the value schema that applies to that name.
fn headers_accept(headers: &Value, name: &str, value: &str) -> bool {
    let names = &headers["propertyNames"];
    if !matches(names, name) || matches(&names["not"], name) {
        return false;
    }
    let by_name = headers["patternProperties"]
        .as_object()
        .into_iter()
        .flatten()
        .find(|(pattern, _)| Regex::new(pattern).unwrap().is_match(name))
        .map(|(_, schema)| schema);
    let schema = by_name.unwrap_or(&headers["additionalProperties"]);
    matches(schema, value) && schema["not"]["const"].as_str() != Some(value)
}

#[actix_web::test]
async fn the_document_and_the_server_agree_on_job_rules() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let document = get(&app, "/api/openapi.json").await.body;
    let job_create = &document["components"]["schemas"]["JobCreate"]["properties"];
    let alert = &document["components"]["schemas"]["AlertInput"]["properties"];

    // (header name, value, accepted): the names that frame a request or that the scheduler
    // sets are refused in any case; secret values may not be "***" on create.
    for (name, value, accepted) in [
        ("X-Custom", "1", true),
        ("Accept", "application/json", true),
        ("Hostname", "a", true),
        ("TEA", "a", true),
        ("X-Schedulerx", "a", true),
        ("Authorization", "Bearer abc", true),
        ("Host", "a", false),
        ("host", "a", false),
        ("HOST", "a", false),
        ("Content-Length", "1", false),
        ("transfer-encoding", "chunked", false),
        ("Connection", "close", false),
        ("te", "trailers", false),
        ("Keep-Alive", "1", false),
        ("X-Scheduler-Job-Id", "a", false),
        ("x-scheduler-anything", "a", false),
        ("Bad Name", "a", false),
        ("X-Custom", "line\nbreak", false),
        ("Authorization", "***", false),
        ("cookie", "***", false),
        ("X-Custom", "***", true),
    ] {
        let documented = headers_accept(&job_create["headers"], name, value);
        assert_eq!(
            documented, accepted,
            "the document on header {name}: {value:?}"
        );
        let mut body = job_body("0 0 * * * *");
        body["headers"] = json!({ name: value });
        let reply = post_json(&app, "/api/jobs", &body).await;
        if accepted {
            assert_eq!(reply.status, StatusCode::CREATED, "{name}: {}", reply.body);
        } else {
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{name}: {}",
                reply.body
            );
            assert_eq!(
                reply.error_field(),
                Some(format!("headers.{name}").as_str())
            );
        }
    }

    // (field, URL, accepted): no user info in http(s) URLs, ports from 1 to 65535.
    for (field, url, accepted) in [
        ("api", "https://example.com/hook", true),
        ("api", "http://example.com:8080/a/b?c=d&e=f", true),
        ("api", "http://example.com:65535", true),
        ("api", "http://[2001:db8::1]:443/x", true),
        ("api", "http://user:pw@example.com/", false),
        ("api", "http://user@example.com/", false),
        ("api", "http://example.com:0/", false),
        ("api", "http://example.com:65536/", false),
        ("api", "http://example.com:99999/", false),
        ("api", "http:///path", false),
        ("api", "ftp://example.com/", false),
        ("api", "http://[2001:db8::1]*", false),
        ("api", "nats://example.com:4222/jobs.tick", true),
        ("api", "nats://example.com/jobs.tick*", true),
        ("api", "nats://example.com/jobs.*", false),
        ("api", "nats://example.com/jobs.>", false),
        ("api", "nats://example.com:0/jobs", false),
        ("api", "nats://example.com/", false),
        (
            "api",
            "amqp://user:pw@example.com:5672/vhost?exchange=x&routingKey=y",
            true,
        ),
        ("api", "amqp://example.com?routingKey=y", true),
        ("api", "amqp://example.com?routingKey=a.b*", true),
        ("api", "amqp://example.com/vhost", false),
        ("api", "amqp://user:***@example.com/v?exchange=x", false),
        ("alert.webhookUrl", "https://example.com:443/alert", true),
        ("alert.webhookUrl", "https://user@example.com/alert", false),
        ("alert.webhookUrl", "https://example.com:70000/alert", false),
        ("alert.webhookUrl", "nats://example.com/jobs", false),
    ] {
        let mut body = job_body("0 0 * * * *");
        let documented = if field == "api" {
            body["api"] = json!(url);
            matches(&job_create["api"], url)
        } else {
            body["alert"] = json!({"webhookUrl": url});
            matches(&alert["webhookUrl"], url)
        };
        assert_eq!(documented, accepted, "the document on {field} {url}");
        let reply = post_json(&app, "/api/jobs", &body).await;
        if accepted {
            assert_eq!(reply.status, StatusCode::CREATED, "{url}: {}", reply.body);
        } else {
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{url}: {}",
                reply.body
            );
            assert_eq!(reply.error_field(), Some(field), "{url}: {}", reply.body);
        }
    }

    // A replace may send a queue password back as "***" to keep the stored one.
    let replace = &document["components"]["schemas"]["JobReplace"]["properties"];
    let url = "amqp://user:***@example.com/v?exchange=x";
    assert!(matches(&replace["api"], url), "{url}");
    let mut body = job_body("0 0 * * * *");
    body["api"] = json!("amqp://user:secret@example.com/v?exchange=x");
    let job = create(&app, body.clone()).await;
    body["api"] = json!(url);
    let uri = format!("/api/jobs/{}", job["jobId"].as_str().unwrap());
    let reply = send(&app, TestRequest::put().uri(&uri).set_json(&body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    // The method is taken in any case.
    for (method, accepted) in [
        ("put", true),
        ("Delete", true),
        ("HEAD", false),
        ("gets", false),
    ] {
        assert_eq!(
            matches(&job_create["method"]["anyOf"][1], method),
            accepted,
            "{method}"
        );
        let mut body = job_body("0 0 * * * *");
        body["method"] = json!(method);
        let reply = post_json(&app, "/api/jobs", &body).await;
        let expected = if accepted {
            StatusCode::CREATED
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(reply.status, expected, "{method}: {}", reply.body);
    }

    // (name, accepted): no control characters.
    for (name, accepted) in [
        ("nightly report", true),
        ("tab\there", false),
        ("nul\0", false),
    ] {
        assert_eq!(matches(&job_create["name"], name), accepted, "{name:?}");
        let mut body = job_body("0 0 * * * *");
        body["name"] = json!(name);
        let reply = post_json(&app, "/api/jobs", &body).await;
        let expected = if accepted {
            StatusCode::CREATED
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(reply.status, expected, "{name:?}: {}", reply.body);
    }

    // "***" stands for a stored secret: refused as a new job's signing secret, alone or as one
    // of the two of a rotation.
    let refused = &job_create["signingSecret"]["not"]["anyOf"];
    assert_eq!(refused[0]["const"], "***");
    assert_eq!(refused[1]["contains"]["const"], "***");
    for secret in [json!("***"), json!(["new-secret", "***"])] {
        let mut body = job_body("0 0 * * * *");
        body["signingSecret"] = secret.clone();
        let reply = post_json(&app, "/api/jobs", &body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{secret}: {}",
            reply.body
        );
        assert_eq!(reply.error_field(), Some("signingSecret"));
    }

    // The rules JSON Schema cannot state are in the descriptions, and the server keeps them.
    let retry = &document["components"]["schemas"]["RetryInput"]["properties"];
    let text = |schema: &Value| schema["description"].as_str().unwrap_or("").to_owned();
    assert!(text(&retry["initialBackoffMs"]).contains("At most maxBackoffMs"));
    assert!(text(&job_create["secretHeaders"]).contains("must name a header of headers"));
    assert!(text(&job_create["headers"]).contains("a create that sends \"***\""));
    let mut body = job_body("0 0 * * * *");
    body["retry"] = json!({"initialBackoffMs": 2_000, "maxBackoffMs": 1_000});
    let reply = post_json(&app, "/api/jobs", &body).await;
    assert_eq!(
        reply.error_field(),
        Some("retry.initialBackoffMs"),
        "{}",
        reply.body
    );
    let mut body = job_body("0 0 * * * *");
    body["headers"] = json!({"X-Token": "a"});
    body["secretHeaders"] = json!(["X-Other"]);
    let reply = post_json(&app, "/api/jobs", &body).await;
    assert_eq!(
        reply.error_field(),
        Some("secretHeaders[0]"),
        "{}",
        reply.body
    );

    // A one-off job takes no window, and the document says so.
    let schema = &document["components"]["schemas"]["JobCreate"];
    assert_eq!(schema["if"]["properties"]["runAt"]["type"], "string");
    assert_eq!(schema["then"]["properties"]["startAt"]["type"], "null");
    let body = json!({"runAt": "2030-01-01T00:00:00Z", "endAt": "2031-01-01T00:00:00Z", "api": "https://example.com/", "type": "ATLEAST_ONCE"});
    let reply = post_json(&app, "/api/jobs", &body).await;
    assert_eq!(reply.error_field(), Some("endAt"), "{}", reply.body);

    // A whole number may be written 5.0, as JSON Schema's integer allows.
    let mut body = job_body("0 0 * * * *");
    body["timeoutMs"] = json!(5_000.0);
    body["retry"] = json!({"maxAttempts": 2.0, "multiplier": null});
    let reply = post_json(&app, "/api/jobs", &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["timeoutMs"], 5_000);
    assert_eq!(reply.body["retry"]["maxAttempts"], 2);
}

/// Every operation documents the answers the server may give it besides its own: 408 and 429
/// everywhere, 503 wherever a store is read, 413 where a body is read, 401 and 421 wherever a
/// token is checked, and 403 and 415 on the operations that change state.
#[actix_web::test]
async fn every_operation_documents_the_common_answers() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let document = get(&app, "/api/openapi.json").await.body;
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            if method == "parameters" {
                continue;
            }
            let responses = &operation["responses"];
            let has = |status: &str| responses[status].is_object();
            let at = format!("{method} {path}");
            assert!(has("408") && has("429"), "{at}: 408 or 429 missing");
            if path != "/api/openapi.json" {
                assert!(has("503"), "{at}: 503 missing");
            }
            if operation.get("requestBody").is_some() {
                assert!(has("413"), "{at}: 413 missing");
            }
            let secured = operation["security"] != json!([]);
            if secured {
                assert!(has("401") && has("421"), "{at}: 401 or 421 missing");
                if method != "get" {
                    assert!(has("403") && has("415"), "{at}: 403 or 415 missing");
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 16, "only {checked} operations");
    // If-Match: a version has at most 19 digits (it fits 64 bits), and the server agrees.
    let if_match = &document["paths"]["/api/jobs/{jobId}/pause"]["post"]["parameters"][0];
    assert_eq!(if_match["name"], "If-Match");
    for (value, accepted) in [
        ("3", true),
        ("\"3\" ", true),
        ("W/\"3\"", true),
        ("*", true),
        ("3\"", false),
        ("+3", false),
        ("12345678901234567890", false),
    ] {
        assert_eq!(matches(&if_match["schema"], value), accepted, "{value}");
        let job = create(&app, job_body("0 0 * * * *")).await;
        let uri = format!("/api/jobs/{}/pause", job["jobId"].as_str().unwrap());
        let request = TestRequest::post()
            .uri(&uri)
            .insert_header(JSON)
            .insert_header(("If-Match", value));
        let reply = send(&app, request).await;
        if accepted {
            assert!(
                matches!(reply.status, StatusCode::OK | StatusCode::CONFLICT),
                "{value}: {}",
                reply.body
            );
        } else {
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{value}: {}",
                reply.body
            );
            assert_eq!(reply.error_field(), Some("If-Match"));
        }
    }
}
