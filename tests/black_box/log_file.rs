//! `--log-file`: the server's log lines in a file as well as on standard error.

use serde_json::Value;

use crate::support::{Server, db_path, temp_dir, wait_until};
use crate::{scheduler, stderr};

#[test]
fn the_log_file_gets_the_start_line_in_the_chosen_format() {
    let dir = temp_dir();
    let log = dir.path().join("scheduler.log");
    let server = Server::start(
        &db_path(&dir),
        &["--log-file", log.to_str().unwrap(), "--log-format", "json"],
    );
    let start_line = format!("listening on http://{}", server.address);
    let mut found = None;
    wait_until("the start line in the log file", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        found = text
            .lines()
            .find(|line| {
                serde_json::from_str::<Value>(line).is_ok_and(|line| {
                    line["message"]
                        .as_str()
                        .is_some_and(|message| message.starts_with(&start_line))
                })
            })
            .map(str::to_owned);
        found.is_some()
    });
    let line = found.unwrap();
    // The same line, byte for byte, is on standard error too.
    wait_until("the start line on standard error", || {
        server.log().lines().any(|logged| logged == line)
    });
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the log file is the owner's only");
    }
}

#[test]
fn a_log_file_that_cannot_be_opened_is_refused_at_start_naming_it() {
    let dir = temp_dir();
    let db = db_path(&dir);
    let log = dir.path().join("missing").join("scheduler.log");
    let output = scheduler(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--db",
        db.to_str().unwrap(),
        "--log-file",
        log.to_str().unwrap(),
    ]);
    assert!(!output.status.success(), "the server refused to start");
    let error = stderr(&output);
    assert!(
        error.contains("--log-file") && error.contains(log.to_str().unwrap()),
        "{error}"
    );
    assert!(!db.exists(), "the log file is opened before the database");
}
