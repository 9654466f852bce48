//! Fault test 5: the database file deleted under a running server is detected, and a restart
//! never makes an empty database in its place unless told to.

use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::json;

use crate::support::{DEADLINE, Server, db_path, temp_dir, wait_until};
use crate::{scheduler, stderr, stdout};

#[test]
fn a_database_file_deleted_under_a_running_server_is_detected_and_never_re_created_empty() {
    let dir = temp_dir();
    let db = db_path(&dir);
    let server = Server::start(&db, &[]);
    let job = json!({
        "schedule": "0 0 0 1 1 *",
        "api": "http://127.0.0.1:9/hook",
        "type": "ATLEAST_ONCE",
    });
    let (status, created) = server.request("POST", "/api/jobs", Some(&job));
    assert_eq!(status, 201, "{created}");
    assert_eq!(server.request("GET", "/api/health", None).0, 200);

    std::fs::remove_file(&db).expect("the database file is deleted");

    // Health answers 503 and names the cause.
    let (status, health) = server.request("GET", "/api/health", None);
    assert_eq!(status, 503, "{health}");
    let cause = health["checks"]["store"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        cause.contains(&format!("the database file {} was deleted", db.display())),
        "{health}"
    );
    // The log says so, once, at ERROR, with how to copy the data out.
    wait_until("the ERROR line about the deletion", || {
        server
            .log()
            .lines()
            .any(|line| line.contains("ERROR") && line.contains("was deleted"))
    });
    let log = server.log();
    let reports: Vec<&str> = log
        .lines()
        .filter(|line| {
            line.contains("ERROR") && line.contains("The store refuses reads and writes")
        })
        .collect();
    assert_eq!(reports.len(), 1, "{log}");
    assert!(
        reports[0].contains(&format!("/proc/{}/fd/", server.pid()))
            && reports[0].contains(".rescued"),
        "{}",
        reports[0]
    );
    // Writes through the API are refused, not acknowledged into the deleted file.
    let (status, body) = server.request("POST", "/api/jobs", Some(&job));
    assert_eq!(status, 503, "{body}");
    assert!(!db.exists(), "nothing re-created the file while running");
    // Not ready, but live: the shipped health timer (`--live`) leaves the process running, and
    // with it the copy of the deleted file under /proc.
    let url = format!("http://{}", server.address);
    let ready = scheduler(&["health", "--server", &url]);
    assert!(!ready.status.success(), "{}", stdout(&ready));
    assert!(stderr(&ready).contains("HTTP 503"), "{}", stderr(&ready));
    let live = scheduler(&["health", "--live", "--server", &url]);
    assert!(live.status.success(), "{}", stderr(&live));
    let answer: serde_json::Value =
        serde_json::from_str(&stdout(&live)).expect("the health answer as JSON");
    assert_eq!(
        (answer["live"].clone(), answer["ready"].clone()),
        (json!(true), json!(false)),
        "{answer}"
    );
    assert!(
        stderr(&live).contains("live, not ready"),
        "{}",
        stderr(&live)
    );
    server.terminate();

    // A restart refuses rather than making an empty database.
    let (succeeded, message) = run_to_exit(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--db",
        db.to_str().expect("a UTF-8 path"),
    ]);
    assert!(!succeeded, "the restart is refused: {message}");
    assert!(
        message.contains(&format!("the database file {} is missing", db.display()))
            && message.contains("scheduler db init --db"),
        "{message}"
    );
    assert!(!db.exists(), "the refused restart made no file");

    // Initialising is the operator's explicit act; then the server starts, empty.
    let output = scheduler(&["db", "init", "--db", db.to_str().expect("a UTF-8 path")]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("created a new, empty database"),
        "{}",
        stdout(&output)
    );
    let server = Server::start(&db, &[]);
    assert_eq!(server.request("GET", "/api/health", None).0, 200);
    let (status, jobs) = server.request("GET", "/api/jobs", None);
    assert_eq!(status, 200);
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(0), "{jobs}");
    server.terminate();
}

#[test]
fn db_check_reports_a_sound_database_and_a_damaged_one() {
    let dir = temp_dir();
    let db = db_path(&dir);
    let path = db.to_str().expect("a UTF-8 path");
    assert!(scheduler(&["db", "init", "--db", path]).status.success());
    let output = scheduler(&["db", "check", "--db", path]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("integrity check: ok"),
        "{}",
        stdout(&output)
    );

    // Damage a page past the schema's: the check reports it and exits non-zero, and the server
    // refuses to start on it.
    let mut bytes = std::fs::read(&db).expect("the file");
    let page_size = 16_384;
    let last = bytes.len() - page_size;
    bytes[last..last + 64].fill(0xa5);
    std::fs::write(&db, bytes).expect("the damage is written");
    let output = scheduler(&["db", "check", "--db", path]);
    assert!(!output.status.success());
    let report = stdout(&output);
    assert!(
        report.contains("integrity check: ") && report.contains("the database is damaged"),
        "{report}"
    );
    let (started, message) = run_to_exit(&["serve", "--listen", "127.0.0.1:0", "--db", path]);
    assert!(!started, "{message}");
    assert!(
        message.contains(&format!("the database at {path} is damaged"))
            && message.contains("scheduler db check --db"),
        "{message}"
    );

    let missing = dir.path().join("none.db");
    let output = scheduler(&[
        "db",
        "check",
        "--db",
        missing.to_str().expect("a UTF-8 path"),
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("there is no such file"),
        "{}",
        stderr(&output)
    );
}

/// Runs the binary until it exits (a server that starts is killed after [`DEADLINE`]): whether
/// it exited successfully, and what it wrote to stderr.
fn run_to_exit(args: &[&str]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scheduler"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the scheduler binary starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the process is polled") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("scheduler {args:?} kept running instead of refusing to start");
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    };
    let mut message = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        pipe.read_to_string(&mut message).expect("stderr is read");
    }
    (status.success(), message)
}
