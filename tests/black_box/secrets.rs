//! Secret header values through the real binary: sent to the target, shown redacted, absent
//! from the log even at trace level, and the database file private to its owner.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::support::{Server, Sink, db_path, temp_dir, wait_until};

#[test]
fn secret_header_values_reach_the_target_but_never_the_log_or_the_api() {
    let dir = temp_dir();
    let db = db_path(&dir);
    let sink = Sink::start();
    let server = Server::start_with_env(&db, &[], &[("RUST_LOG", "trace")]);
    let job = json!({
        "schedule": "0 0 0 1 1 *",
        "api": sink.url("/hook"),
        "type": "ATLEAST_ONCE",
        "headers": {"Authorization": "Bearer s3cret-authz", "X-Token": "s3cret-token", "X-Plain": "visible"},
        "secretHeaders": ["x-token"],
    });
    let (status, created) = server.request("POST", "/api/jobs", Some(&job));
    assert_eq!(status, 201, "{created}");
    let id = created["jobId"].as_str().expect("a job id").to_owned();
    let (status, execution) = server.request("POST", &format!("/api/jobs/{id}/trigger"), None);
    assert_eq!(status, 202, "{execution}");
    wait_until("the target receives the trigger", || {
        !sink.received_at("/hook").is_empty()
    });
    let sent = &sink.received_at("/hook")[0];
    assert_eq!(sent.headers["authorization"], "Bearer s3cret-authz");
    assert_eq!(sent.headers["x-token"], "s3cret-token");

    let (status, read) = server.request("GET", &format!("/api/jobs/{id}"), None);
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["headers"]["Authorization"], "***");
    assert_eq!(read["headers"]["X-Token"], "***");
    assert_eq!(read["headers"]["X-Plain"], "visible");
    let execution_id = execution["executionId"].as_str().unwrap().to_owned();
    wait_until("the execution is recorded", || {
        let (_, execution) =
            server.request("GET", &format!("/api/executions/{execution_id}"), None);
        execution["status"] == "SUCCEEDED"
    });
    let log = server.log();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log is not at trace level"
    );
    assert!(
        !log.contains("s3cret"),
        "a secret value is in the log:\n{log}"
    );

    for file in [
        db.clone(),
        db.with_extension("db-wal"),
        db.with_extension("db-shm"),
    ] {
        let mode = std::fs::metadata(&file)
            .unwrap_or_else(|error| panic!("{}: {error}", file.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }
}
