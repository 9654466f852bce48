//! `scheduler jobs export` and `scheduler jobs import`: a server's jobs moved to another.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::{Server, db_path, temp_dir};
use crate::{scheduler, stderr, stdout};

/// More jobs than one page of the listing (1,000), so that the export pages.
const JOBS: usize = 1_200;

fn url(server: &Server) -> String {
    format!("http://{}", server.address)
}

fn export(server: &Server) -> String {
    let output = scheduler(&["jobs", "export", "--server", &url(server)]);
    assert!(output.status.success(), "export: {}", stderr(&output));
    stdout(&output)
}

/// The exported definitions, sorted: what two servers with the same jobs both write.
fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

#[test]
fn an_export_imported_into_an_empty_server_recreates_the_same_jobs() {
    let dir = temp_dir();
    let source = Server::start(&dir.path().join("source.db"), &[]);
    let mut jobs: Vec<Value> = (0..JOBS)
        .map(|i| {
            json!({
                "schedule": format!("{} {} * * * *", i % 60, (i / 60) % 60),
                "api": format!("http://127.0.0.1:9/hook/{i}"),
                "type": "ATLEAST_ONCE",
                "paused": true,
            })
        })
        .collect();
    jobs[0] = json!({
        "schedule": "0 30 9 * * MON-FRI", "api": "https://example.com/report", "type": "ATMOST_ONCE",
        "timezone": "Europe/Berlin", "method": "PUT", "headers": {"X-Team": "ops"}, "body": "{}",
        "timeoutMs": 2500, "retry": {"maxAttempts": 4, "initialBackoffMs": 100},
        "misfire": {"policy": "CATCH_UP", "max": 3}, "overlap": "SKIP_WHILE_RUNNING",
        "paused": true, "name": "weekday report"
    });
    let (status, created) = source.request("POST", "/api/jobs:batch", Some(&Value::from(jobs)));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["created"], JOBS);

    let exported = export(&source);
    assert_eq!(exported.lines().count(), JOBS);
    for line in exported.lines() {
        let job: Value = serde_json::from_str(line).expect("one JSON object per line");
        for read_only in http_api_read_only() {
            assert!(job.get(read_only).is_none(), "{read_only} in {line}");
        }
    }
    let report = exported
        .lines()
        .find(|line| line.contains("weekday report"))
        .expect("the named job");
    let report: Value = serde_json::from_str(report).unwrap();
    assert_eq!(report["timezone"], "Europe/Berlin");
    assert_eq!(report["retry"]["maxAttempts"], 4);
    assert_eq!(report["misfire"], json!({"policy": "CATCH_UP", "max": 3}));

    // Into an empty server, from standard input.
    let target = Server::start(&dir.path().join("target.db"), &[]);
    let mut import = Command::new(env!("CARGO_BIN_EXE_scheduler"))
        .args(["jobs", "import", "-", "--server", &url(&target)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the import starts");
    import
        .stdin
        .take()
        .expect("stdin")
        .write_all(exported.as_bytes())
        .expect("the export is written");
    let output = import.wait_with_output().expect("the import ends");
    assert!(output.status.success(), "import: {}", stderr(&output));
    let summary: Value = serde_json::from_str(&stdout(&output)).expect("a JSON summary");
    assert_eq!(summary["created"], JOBS);

    assert_eq!(sorted_lines(&export(&target)), sorted_lines(&exported));
}

#[test]
fn an_import_with_secret_placeholders_creates_nothing_and_names_the_lines() {
    let dir = temp_dir();
    let source = Server::start(&dir.path().join("source.db"), &[]);
    let plain = json!({"schedule": "0 0 * * * *", "api": "http://127.0.0.1:9/a", "type": "ATLEAST_ONCE", "paused": true});
    let secret = json!({
        "schedule": "0 0 * * * *", "api": "http://127.0.0.1:9/b", "type": "ATLEAST_ONCE",
        "paused": true, "headers": {"Authorization": "Bearer real"}, "signingSecret": "whsec_real"
    });
    let (status, created) = source.request(
        "POST",
        "/api/jobs:batch",
        Some(&json!([plain.clone(), secret, plain])),
    );
    assert_eq!(status, 201, "{created}");
    let exported = export(&source);
    assert!(
        !exported.contains("real"),
        "no secret is exported: {exported}"
    );
    let file = dir.path().join("jobs.ndjson");
    std::fs::write(&file, &exported).expect("the export is saved");
    let secret_line = exported
        .lines()
        .position(|line| line.contains("Authorization"))
        .expect("the job with secrets")
        + 1;

    let target = Server::start(&db_path(&dir), &[]);
    let output = scheduler(&[
        "jobs",
        "import",
        file.to_str().expect("a UTF-8 path"),
        "--server",
        &url(&target),
    ]);
    assert!(!output.status.success());
    let errors = stderr(&output);
    assert!(
        errors.contains(&format!("line {secret_line}: headers.Authorization:")),
        "{errors}"
    );
    let (_, listed) = target.request("GET", "/api/jobs", None);
    assert_eq!(listed["jobs"], json!([]), "nothing was created");
}

/// The read-only fields of a job, which an export leaves out.
fn http_api_read_only() -> [&'static str; 8] {
    [
        "jobId",
        "version",
        "createdAt",
        "updatedAt",
        "nextFireTimes",
        "stats",
        "hasSigningSecret",
        "signingSecretCount",
    ]
}
