//! The OpenAPI document matches the API: a test walks it, calls every operation it lists,
//! checks the status against the documented responses and the body against the documented
//! schema (exact field sets where `additionalProperties` is false), and checks the methods of
//! every path against the router's `Allow` header.

use std::collections::BTreeSet;

use actix_web::http::{Method, StatusCode};
use actix_web::test::TestRequest;
use serde_json::{Value, json};

use crate::support::{Harness, JSON, app, create, get, job_body, post, send, within};

/// Resolves a `$ref` (only local `#/components/...` references are used).
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("a local reference");
            let target = document
                .pointer(pointer)
                .unwrap_or_else(|| panic!("unresolved reference {reference}"));
            resolve(document, target)
        }
        None => schema,
    }
}

fn type_matches(kind: &str, value: &Value) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_u64() || value.is_i64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        other => panic!("unknown schema type {other}"),
    }
}

/// Checks `value` against `schema`; `at` names the place for messages.
fn validate(document: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(document, schema);
    match schema.get("type") {
        Some(Value::String(kind)) => {
            assert!(type_matches(kind, value), "{at}: {value} is not {kind}")
        }
        Some(Value::Array(kinds)) => assert!(
            kinds
                .iter()
                .any(|kind| type_matches(kind.as_str().unwrap(), value)),
            "{at}: {value} is none of {kinds:?}"
        ),
        _ => {}
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        assert!(allowed.contains(value), "{at}: {value} not in {allowed:?}");
    }
    // A `oneOf` of typed branches (a value of one type or another): exactly one has the
    // value's type. (The other `oneOf`s here only require one field or another.)
    let typed_branches = schema
        .get("oneOf")
        .and_then(Value::as_array)
        .filter(|branches| branches.iter().all(|branch| branch["type"].is_string()));
    if let Some(branches) = typed_branches {
        let matching: Vec<&Value> = branches
            .iter()
            .filter(|branch| type_matches(branch["type"].as_str().unwrap(), value))
            .collect();
        assert_eq!(matching.len(), 1, "{at}: {value} matches {matching:?}");
        validate(document, matching[0], value, at);
    }
    if let (Some(object), true) = (value.as_object(), schema.get("type").is_some()) {
        let properties = schema.get("properties").and_then(Value::as_object);
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = required.as_str().unwrap();
            assert!(
                object.contains_key(name),
                "{at}: missing required field {name}"
            );
        }
        for (key, field_value) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(field_schema) => {
                    validate(document, field_schema, field_value, &format!("{at}.{key}"))
                }
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => panic!("{at}: field {key} is not documented"),
                    Some(extra) if extra.is_object() => {
                        validate(document, extra, field_value, &format!("{at}.{key}"))
                    }
                    _ => {}
                },
            }
        }
        // Documented response fields must all be present: the documentation names no field
        // that the API does not send. (A schema that lists some fields as not required, such
        // as the error's batch items, says which may be absent.)
        if schema.get("additionalProperties") == Some(&Value::Bool(false))
            && !at.starts_with("request")
        {
            let required: Vec<&Value> = schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .collect();
            let optional = |key: &str| {
                schema.get("required").is_some() && !required.iter().any(|name| *name == key)
            };
            for key in properties
                .into_iter()
                .flat_map(|p| p.keys())
                .filter(|key| !optional(key))
            {
                assert!(
                    object.contains_key(key),
                    "{at}: documented field {key} is missing"
                );
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            validate(document, items, item, &format!("{at}[{i}]"));
        }
    }
}

/// Every `$ref` in the document resolves.
fn check_references(document: &Value, value: &Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("$ref") {
                resolve(document, value);
            }
            map.values().for_each(|v| check_references(document, v));
        }
        Value::Array(items) => items.iter().for_each(|v| check_references(document, v)),
        _ => {}
    }
}

#[actix_web::test]
async fn every_documented_operation_answers_as_documented() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let reply = get(&app, "/api/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    let document = reply.body;
    assert_eq!(document["openapi"], "3.1.0");
    check_references(&document, &document);

    // A job with one finished execution, for the paths that need ids.
    let job = create(&app, job_body("0 0 * * * *")).await;
    let job_id = job["jobId"].as_str().unwrap().to_owned();
    let execution = post(&app, &format!("/api/jobs/{job_id}/trigger"))
        .await
        .body;
    let execution_id = execution["executionId"].as_str().unwrap().to_owned();
    within("the trigger is sent", harness.transport.wait_for_sent(1)).await;
    harness.finished_executions(1).await;

    let paths = document["paths"].as_object().expect("paths");
    let documented: BTreeSet<&str> = paths.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = [
        "/api/jobs",
        "/api/jobs:batch",
        "/api/jobs/{jobId}",
        "/api/jobs/{jobId}/pause",
        "/api/jobs/{jobId}/resume",
        "/api/jobs/{jobId}/trigger",
        "/api/jobs/{jobId}/executions",
        "/api/executions",
        "/api/executions/{executionId}",
        "/api/metrics",
        "/metrics",
        "/api/health",
        "/api/openapi.json",
        "/api/cron/explain",
    ]
    .into();
    assert_eq!(documented, expected);

    let mut operations = 0;
    for (path, item) in paths {
        let methods: BTreeSet<String> = item
            .as_object()
            .unwrap()
            .keys()
            .filter(|key| *key != "parameters")
            .map(|key| key.to_ascii_uppercase())
            .collect();
        for method in &methods {
            // DELETE gets a job of its own, so that the other operations keep theirs.
            let target_job = if method == "DELETE" {
                create(&app, job_body("0 0 * * * *")).await["jobId"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            } else {
                job_id.clone()
            };
            let mut uri = path
                .replace("{jobId}", &target_job)
                .replace("{executionId}", &execution_id);
            // Its one required parameter.
            if path == "/api/cron/explain" {
                uri.push_str("?schedule=0+30+9+*+*+MON-FRI&timezone=Europe/Berlin");
            }
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            // As a client should: a request that changes state says it is JSON.
            let mut request = TestRequest::default()
                .method(method.clone())
                .uri(&uri)
                .insert_header(JSON);
            if item[method.as_str().to_ascii_lowercase()]
                .get("requestBody")
                .is_some()
            {
                request = if path == "/api/jobs:batch" {
                    request.set_json(json!([job_body("*/30 * * * * *")]))
                } else {
                    request.set_json(job_body("*/30 * * * * *"))
                };
            }
            let reply = send(&app, request).await;
            let operation = &item[method.as_str().to_ascii_lowercase()];
            let documented = &operation["responses"][reply.status.as_str()];
            assert!(
                documented.is_object(),
                "{method} {path}: status {} is not documented: {}",
                reply.status,
                reply.body
            );
            assert!(
                reply.status.is_success(),
                "{method} {path}: {} {}",
                reply.status,
                reply.body
            );
            if let Some(schema) = documented.pointer("/content/application~1json/schema") {
                validate(&document, schema, &reply.body, &format!("{method} {path}"));
            }
            operations += 1;
        }
        // The router allows exactly the documented methods.
        let uri = path
            .replace("{jobId}", &job_id)
            .replace("{executionId}", &execution_id);
        let reply = send(
            &app,
            TestRequest::default()
                .method(Method::from_bytes(b"OPTIONS").unwrap())
                .uri(&uri),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "OPTIONS {path}"
        );
        let allowed: BTreeSet<String> = reply
            .header("allow")
            .unwrap()
            .split(", ")
            .map(str::to_owned)
            .collect();
        assert_eq!(allowed, methods, "methods of {path}");
    }
    assert_eq!(operations, 17);
}

#[actix_web::test]
async fn documented_request_and_error_schemas_match() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let document = get(&app, "/api/openapi.json").await.body;
    let schemas = &document["components"]["schemas"];

    // A request with every documented create field is accepted ...
    let full = json!({
        "schedule": "0 0 * * * *", "api": "https://example.com/", "type": "AT_LEAST_ONCE",
        "timezone": "UTC", "method": "GET", "headers": {"A": "b"}, "secretHeaders": ["a"], "body": "x", "timeoutMs": 10,
        "retry": {"maxAttempts": 1, "initialBackoffMs": 1, "maxBackoffMs": 2, "multiplier": 1.5, "jitter": 0},
        "misfire": {"policy": "SKIP_TO_NEXT"}, "overlap": "ALLOW", "paused": true, "name": "hourly",
        "signingSecret": ["whsec_x", "whsec_old"], "startAt": "2030-01-01T00:00:00Z", "endAt": "2031-01-01T00:00:00Z",
        "deleteAfterRun": false, "jitterMs": 1500,
        "alert": {"webhookUrl": "https://hooks.example.com/a", "afterFailures": 2, "onRecovery": true}
    });
    validate(&document, &schemas["JobCreate"], &full, "request JobCreate");
    let create_fields: BTreeSet<&String> = schemas["JobCreate"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    let run_at = "runAt".to_owned();
    let full_fields: BTreeSet<&String> =
        full.as_object().unwrap().keys().chain([&run_at]).collect();
    assert_eq!(
        create_fields, full_fields,
        "the test sends every documented field (runAt in a one-off job, below)"
    );
    let one_off = json!({"runAt": "2030-01-01T09:00:00Z", "api": "https://example.com/", "type": "ATLEAST_ONCE"});
    validate(
        &document,
        &schemas["JobCreate"],
        &one_off,
        "request JobCreate",
    );
    let one_off = create(&app, one_off).await;
    validate(&document, &schemas["Job"], &one_off, "one-off Job");
    let uri = format!("/api/jobs/{}", one_off["jobId"].as_str().unwrap());
    let reply = crate::support::put_json(&app, &uri, &one_off).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let job = create(&app, full).await;

    // ... the job read back is a valid replacement body ...
    validate(
        &document,
        &schemas["JobReplace"],
        &job,
        "request JobReplace",
    );
    let uri = format!("/api/jobs/{}", job["jobId"].as_str().unwrap());
    let reply = crate::support::put_json(&app, &uri, &job).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    // ... and errors have the documented shape.
    for request in [
        TestRequest::post()
            .uri("/api/jobs")
            .set_json(json!({"schedule": "x"})),
        TestRequest::get().uri("/api/jobs/nope"),
        TestRequest::delete().uri("/api/metrics"),
        TestRequest::post()
            .uri("/api/jobs:batch")
            .set_json(json!([{"schedule": "x"}, job_body("0 0 * * * *")])),
    ] {
        let reply = send(&app, request).await;
        assert!(reply.status.is_client_error());
        validate(&document, &schemas["Error"], &reply.body, "Error");
    }
}

/// The constraints the server enforces are in the document, so a client generated from it
/// does not send requests that are refused.
#[actix_web::test]
async fn the_document_states_the_constraints_the_server_enforces() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let document = get(&app, "/api/openapi.json").await.body;
    let schemas = &document["components"]["schemas"];
    let parameter = |path: &str, method: &str, name: &str| -> Value {
        let operation = &document["paths"][path][method]["parameters"];
        let shared = &document["paths"][path]["parameters"];
        operation
            .as_array()
            .into_iter()
            .chain(shared.as_array())
            .flatten()
            .find(|parameter| parameter["name"] == name)
            .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"))
            .clone()
    };
    for (path, method, max) in [
        ("/api/jobs", "get", 1_000),
        ("/api/executions", "get", 1_000),
        ("/api/jobs/{jobId}/executions", "get", 1_000),
    ] {
        let limit = parameter(path, method, "limit");
        assert_eq!(limit["schema"]["minimum"], 1, "{path}");
        assert_eq!(limit["schema"]["maximum"], max, "{path}");
    }
    for (path, method, name) in [
        ("/api/jobs", "get", "after"),
        ("/api/executions", "get", "jobId"),
        ("/api/jobs/{jobId}", "get", "jobId"),
        ("/api/executions/{executionId}", "get", "executionId"),
    ] {
        assert_eq!(
            parameter(path, method, name)["schema"]["format"],
            "uuid",
            "{path} {name}"
        );
    }
    for (path, method) in [
        ("/api/jobs/{jobId}", "put"),
        ("/api/jobs/{jobId}", "delete"),
        ("/api/jobs/{jobId}/pause", "post"),
        ("/api/jobs/{jobId}/resume", "post"),
        ("/api/jobs/{jobId}/trigger", "post"),
    ] {
        parameter(path, method, "If-Match");
        assert!(
            document["paths"][path][method]["responses"]["409"].is_object(),
            "{method} {path} documents no 409"
        );
    }
    for schema in ["JobCreate", "JobReplace"] {
        let properties = &schemas[schema]["properties"];
        assert_eq!(properties["schedule"]["minLength"], 1, "{schema}");
        assert_eq!(properties["api"]["minLength"], 1, "{schema}");
        // One secret, or the current and the previous one.
        let secret = &properties["signingSecret"]["oneOf"];
        assert_eq!(secret[0]["maxLength"], 256, "{schema}");
        assert_eq!(
            (&secret[1]["minItems"], &secret[1]["maxItems"]),
            (&json!(1), &json!(2)),
            "{schema}"
        );
        assert_eq!(secret[1]["items"]["minLength"], 1, "{schema}");
    }
    // CATCH_UP needs max, and the server says so.
    let misfire = &schemas["Misfire"];
    assert_eq!(misfire["if"]["properties"]["policy"]["const"], "CATCH_UP");
    assert_eq!(misfire["then"]["required"], json!(["max"]));
    let mut body = job_body("0 0 * * * *");
    body["misfire"] = json!({"policy": "CATCH_UP"});
    let reply = send(&app, TestRequest::post().uri("/api/jobs").set_json(&body)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.body["error"]["field"], "misfire.max");
}
