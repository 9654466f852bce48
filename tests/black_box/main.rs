//! Black-box tests: they run the real `scheduler` binary and look only at what it prints.

mod auth;
mod chaos;
mod client_cli;
mod crash_loop;
mod cron_cli;
mod dashboard;
mod database_file;
mod deploy;
mod disk_full;
mod downtime;
mod import_export;
mod isolation;
mod log_file;
mod outbound;
mod partition;
mod postgres;
mod secrets;
mod serve_cli;
mod server;
mod shutdown;
mod support;

use std::process::{Command, Output};

/// Runs the binary with arguments and returns its output.
pub(crate) fn scheduler(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scheduler"))
        .args(args)
        .output()
        .expect("the scheduler binary runs")
}

/// Standard output as text.
pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
