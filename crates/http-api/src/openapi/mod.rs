//! The OpenAPI 3.1 document of the API, served at `GET /api/openapi.json`.
//!
//! Written by hand next to the routes; the integration tests walk it and check every path
//! against the router and every response schema against real responses (exact field sets,
//! types and enums), so it cannot drift from the code unnoticed.

use serde_json::{Value, json};

use crate::batch::MAX_BATCH_JOBS;
use crate::cron::{DEFAULT_FIRE_TIMES, MAX_FIRE_TIMES, MAX_SCHEDULE_CHARS};
use crate::routes::{DEFAULT_EXECUTIONS, DEFAULT_JOBS, MAX_EXECUTIONS, MAX_JOBS};

mod schemas;

use schemas::schemas;

/// What `If-Match` accepts: `*`, or a version (1 to 19 digits, so that it fits 64 bits), bare,
/// quoted or weak, with optional spaces or tabs around it.
const IF_MATCH_PATTERN: &str = "^[ \\t]*(\\*|(W/)?(\"[0-9]{1,19}\"|[0-9]{1,19}))[ \\t]*$";

/// The document.
pub(crate) fn document() -> Value {
    let mut document = paths_and_schemas();
    add_security(&mut document);
    add_common_responses(&mut document);
    document
}

/// The answers any operation may give besides its own: 408 (the body did not arrive in time)
/// and 429 (too many connections from the client) on every operation, 503 (the job or token
/// store does not answer) on every operation that reads a store, and 413 on the operations
/// that read a body (see `limits.rs` and `error.rs`).
fn add_common_responses(document: &mut Value) {
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(operations) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in operations.iter_mut() {
            if !matches!(method.as_str(), "get" | "post" | "put" | "delete" | "patch") {
                continue;
            }
            let reads_body = operation.get("requestBody").is_some();
            let responses = &mut operation["responses"];
            responses["408"] = ok(
                "The request body did not arrive in full within the server's --request-body-timeout; the connection is closed.",
                "Error",
            );
            responses["429"] = ok(
                "The client has more connections open than the server's per-client limit; the connection is closed.",
                "Error",
            );
            if path != "/api/openapi.json" && responses.get("503").is_none() {
                responses["503"] = ok(
                    "The store (jobs, executions or API tokens) does not answer; try again later.",
                    "Error",
                );
            }
            if reads_body && responses.get("413").is_none() {
                responses["413"] = ok("The body is larger than the server's limit.", "Error");
            }
        }
    }
}

/// The security scheme (bearer tokens), each operation's requirement, and the responses that
/// authentication adds: 401 and 421 wherever a token or the `Host` is checked, 403 and 415 on
/// the operations that change state (see `auth.rs`).
fn add_security(document: &mut Value) {
    document["components"]["securitySchemes"] = json!({
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `scheduler tokens create --scope admin|read`, sent as `Authorization: Bearer sched_...`. A `read` token may only GET; an `admin` token may do everything. A server on a loopback address whose database holds no token needs none."
        }
    });
    document["security"] = json!([{"bearerAuth": []}]);
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(operations) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in operations.iter_mut() {
            if !matches!(method.as_str(), "get" | "post" | "put" | "delete" | "patch") {
                continue;
            }
            if path == "/api/health" || path == "/api/openapi.json" {
                operation["security"] = json!([]);
                continue;
            }
            if path == "/metrics" || path == "/api/metrics" {
                // Open unless the server runs with --metrics-auth.
                operation["security"] = json!([{"bearerAuth": []}, {}]);
            }
            let responses = &mut operation["responses"];
            responses["401"] = ok(
                "No token, or a malformed, unknown or revoked one, where one is needed. `WWW-Authenticate: Bearer`.",
                "Error",
            );
            responses["421"] = ok(
                "The `Host` header names a host this server does not answer for (`--allowed-hosts`).",
                "Error",
            );
            if method != "get" {
                responses["403"] = ok(
                    "The token's scope (`read`) does not allow this operation.",
                    "Error",
                );
                responses["415"] = ok(
                    "Without a bearer token, a request that changes state must be `Content-Type: application/json`.",
                    "Error",
                );
            }
        }
    }
}

/// The paths and schemas, before [`add_security`].
fn paths_and_schemas() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Job scheduler API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Register cron jobs that fire HTTP requests, inspect their executions, and observe the scheduler. Fields are camelCase; instants are RFC 3339 UTC with milliseconds; durations are integer milliseconds. Every error has the body {\"error\": {\"code\", \"field\", \"message\"}}. Any request may also be answered 408 (its body did not arrive in full in time) or 429 (its client has too many connections open); both close the connection."
        },
        "paths": {
            "/api/jobs": {
                "get": {
                    "operationId": "listJobs",
                    "summary": "Jobs in id order, one page at a time",
                    "parameters": [
                        limit_jobs(),
                        uuid_query("after", "The cursor: list jobs after this job id (the previous page's nextCursor)."),
                        query("paused", "boolean", "Only paused (true) or only active (false) jobs."),
                        {"name": "type", "in": "query", "required": false, "description": "Only jobs of this delivery type.", "schema": {"$ref": "#/components/schemas/DeliveryType"}}
                    ],
                    "responses": {
                        "200": ok("A page of jobs.", "JobPage"),
                        "400": error_response()
                    }
                },
                "post": {
                    "operationId": "createJob",
                    "summary": "Create a job",
                    "requestBody": job_body("JobCreate"),
                    "responses": {
                        "201": with_links(ok("The job as stored, with its jobId. Location and ETag headers are set.", "Job"), job_links()),
                        "400": error_response(), "413": error_response(), "415": error_response()
                    }
                }
            },
            "/api/jobs:batch": {
                "post": {
                    "operationId": "createJobs",
                    "summary": "Create many jobs at once, all or none",
                    "description": format!("Up to {MAX_BATCH_JOBS} job definitions, each as POST /api/jobs takes it: a JSON array (application/json) or one definition per line (application/x-ndjson; blank lines are skipped). Every item is checked first: either all are created, in one store transaction, or none is and the 400 lists every bad item by its index (from 0) and field in error.items. A body may be up to 32 MiB by default (the server's batch body limit); more jobs or bytes are refused (400 and 413)."),
                    "requestBody": {"required": true, "content": {
                        "application/json": {"schema": {"type": "array", "maxItems": MAX_BATCH_JOBS, "items": {"$ref": "#/components/schemas/JobCreate"}}},
                        "application/x-ndjson": {"schema": {"type": "string", "description": "One JobCreate object per line."}}
                    }},
                    "responses": {
                        "201": ok("Every job was created: their ids, in the order of the batch.", "JobBatchCreated"),
                        "400": error_response(), "413": error_response(), "415": error_response()
                    }
                }
            },
            "/api/jobs/{jobId}": {
                "parameters": [job_id()],
                "get": {
                    "operationId": "getJob",
                    "summary": "A job, with its next fire times and statistics",
                    "responses": {"200": ok("The job. ETag is its version.", "Job"), "404": error_response()}
                },
                "put": {
                    "operationId": "replaceJob",
                    "summary": "Replace a job; a new schedule takes effect at once",
                    "description": "Replaces every setting (absent optional fields take their defaults, so an absent paused resumes the job). Optimistic concurrency: send If-Match with the version (the ETag), or a version field; a different stored version answers 409. A secret header sent with the value \"***\" (as read) keeps its stored value.",
                    "parameters": [if_match()],
                    "requestBody": job_body("JobReplace"),
                    "responses": {
                        "200": ok("The job as stored.", "Job"),
                        "400": error_response(), "404": error_response(), "409": error_response(),
                        "413": error_response(), "415": error_response()
                    }
                },
                "delete": {
                    "operationId": "deleteJob",
                    "summary": "Delete a job and its history",
                    "parameters": [if_match()],
                    "responses": {"204": {"description": "Deleted."}, "400": error_response(), "404": error_response(), "409": error_response()}
                }
            },
            "/api/jobs/{jobId}/pause": {
                "parameters": [job_id()],
                "post": {
                    "operationId": "pauseJob",
                    "summary": "Pause a job: it keeps its definition and fires no ticks",
                    "parameters": [if_match()],
                    "responses": {"200": ok("The job.", "Job"), "400": error_response(), "404": error_response(), "409": error_response()}
                }
            },
            "/api/jobs/{jobId}/resume": {
                "parameters": [job_id()],
                "post": {
                    "operationId": "resumeJob",
                    "summary": "Resume a paused job from its next tick after now",
                    "parameters": [if_match()],
                    "responses": {"200": ok("The job.", "Job"), "400": error_response(), "404": error_response(), "409": error_response()}
                }
            },
            "/api/jobs/{jobId}/trigger": {
                "parameters": [job_id()],
                "post": {
                    "operationId": "triggerJob",
                    "summary": "Fire the job once, now, outside its schedule (also when paused)",
                    "parameters": [if_match()],
                    "responses": {"202": with_links(ok("The new execution. Location points to it.", "Execution"), json!({"GetExecution": {"operationId": "getExecution", "parameters": {"executionId": "$response.body#/executionId"}}})), "400": error_response(), "404": error_response(), "409": error_response()}
                }
            },
            "/api/jobs/{jobId}/executions": {
                "parameters": [job_id()],
                "get": {
                    "operationId": "jobExecutions",
                    "summary": "A job's executions, newest tick first",
                    "parameters": [limit_executions(), status()],
                    "responses": {"200": ok("The executions.", "JobExecutionList"), "400": error_response(), "404": error_response()}
                }
            },
            "/api/executions": {
                "get": {
                    "operationId": "recentExecutions",
                    "summary": "Recent executions across jobs, newest tick first",
                    "parameters": [limit_executions(), status(), uuid_query("jobId", "Only executions of this job.")],
                    "responses": {"200": ok("The executions.", "ExecutionList"), "400": error_response()}
                }
            },
            "/api/executions/{executionId}": {
                "parameters": [{"name": "executionId", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "get": {
                    "operationId": "getExecution",
                    "summary": "One execution",
                    "responses": {"200": ok("The execution.", "Execution"), "404": error_response()}
                }
            },
            "/api/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Engine counters, in-flight gauge, drift, job counts, API and store timings",
                    "responses": {"200": ok("The metrics.", "Metrics")}
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "prometheusMetrics",
                    "summary": "The same metrics in the Prometheus text exposition format 0.0.4",
                    "responses": {"200": {"description": "Prometheus text.", "content": {"text/plain": {"schema": {"type": "string"}}}}}
                }
            },
            "/api/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness and readiness: the engine's tasks run (live), and the store answers and takes writes (ready)",
                    "responses": {
                        "200": ok("Ready.", "Health"),
                        "503": ok("Not ready (live says whether the engine still runs); checks say why.", "Health")
                    }
                }
            },
            "/api/cron/explain": {
                "get": {
                    "operationId": "explainCron",
                    "summary": "A cron expression in plain English and its next fire times, or where it is wrong",
                    "parameters": [
                        {"name": "schedule", "in": "query", "required": true, "description": "The cron expression (six fields, seconds first).", "schema": {"type": "string", "maxLength": MAX_SCHEDULE_CHARS}},
                        query("timezone", "string", "The IANA time zone the fire times are computed in (default UTC)."),
                        limit(format!("Fire times listed, 1-{MAX_FIRE_TIMES} (default {DEFAULT_FIRE_TIMES})."), MAX_FIRE_TIMES, DEFAULT_FIRE_TIMES)
                    ],
                    "responses": {"200": ok("The explanation.", "CronExplanation"), "400": ok("The expression (field `schedule`: the cron field, token and column at fault), the time zone or the limit is wrong.", "Error")}
                }
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {"200": {"description": "The OpenAPI document.", "content": {"application/json": {"schema": {"type": "object"}}}}}
                }
            }
        },
        "components": {
            "schemas": schemas()
        }
    })
}

fn query(name: &str, kind: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": kind}})
}

/// A query parameter that takes a job id.
fn uuid_query(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": "string", "format": "uuid"}})
}

/// The `If-Match` header of the routes that change a job.
fn if_match() -> Value {
    json!({"name": "If-Match", "in": "header", "required": false, "description": "The expected version: \"3\", 3, W/\"3\" or *. Another stored version answers 409 and changes nothing.", "schema": {"type": "string", "pattern": IF_MATCH_PATTERN}})
}

fn limit_executions() -> Value {
    limit(
        format!("At most this many, 1-{MAX_EXECUTIONS} (default {DEFAULT_EXECUTIONS})."),
        MAX_EXECUTIONS,
        DEFAULT_EXECUTIONS,
    )
}

fn limit_jobs() -> Value {
    limit(
        format!("Jobs per page, 1-{MAX_JOBS} (default {DEFAULT_JOBS})."),
        MAX_JOBS,
        DEFAULT_JOBS,
    )
}

/// The `limit` query parameter of a listing: its bounds and default as the routes apply them.
fn limit(description: String, max: usize, default: usize) -> Value {
    json!({"name": "limit", "in": "query", "required": false, "description": description, "schema": {"type": "integer", "minimum": 1, "maximum": max, "default": default}})
}

fn status() -> Value {
    let any_case = schemas::any_case_choice(&[
        "PENDING",
        "RUNNING",
        "SUCCEEDED",
        "FAILED",
        "ABANDONED",
        "SKIPPED",
    ]);
    json!({"name": "status", "in": "query", "required": false, "description": "Only executions in this state (in any case).", "schema": {"anyOf": [{"$ref": "#/components/schemas/ExecutionStatus"}, {"type": "string", "pattern": any_case}]}})
}

fn job_id() -> Value {
    json!({"name": "jobId", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}})
}

fn ok(description: &str, schema: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

/// `response` with OpenAPI `links`: the operations its body's ids lead to.
fn with_links(mut response: Value, links: Value) -> Value {
    response["links"] = links;
    response
}

/// The operations on a job created or read: each takes the `jobId` of the body.
fn job_links() -> Value {
    let mut links = serde_json::Map::new();
    for (name, operation) in [
        ("GetJob", "getJob"),
        ("ReplaceJob", "replaceJob"),
        ("DeleteJob", "deleteJob"),
        ("PauseJob", "pauseJob"),
        ("ResumeJob", "resumeJob"),
        ("TriggerJob", "triggerJob"),
        ("JobExecutions", "jobExecutions"),
    ] {
        links.insert(
            name.to_owned(),
            json!({"operationId": operation, "parameters": {"jobId": "$response.body#/jobId"}}),
        );
    }
    Value::Object(links)
}

fn error_response() -> Value {
    ok("The error, naming the field at fault.", "Error")
}

fn job_body(schema: &str) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}
