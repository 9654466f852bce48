//! The dashboard in a real headless browser: `tests/browser/dashboard.mjs` drives Debian's
//! Chromium with playwright-core against a real `scheduler serve` and a loopback target, and
//! saves screenshots under `target/screenshots/`.
//!
//! It needs `node`, `chromium` (or `SCHEDULER_TEST_CHROMIUM`) and `tests/browser/node_modules`
//! (`npm ci` there); `.ci/run` installs all three. Without them the test says so and skips.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Server, Sink, db_path, temp_dir};
use crate::{scheduler, stderr, stdout};

/// The workspace root (the black-box tests belong to `bins/scheduler`).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

/// Why the browser test cannot run here, if it cannot.
fn missing_tools(browser_dir: &Path, chromium: &Path) -> Option<String> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|output| output.status.success()) {
        return Some("node is not installed".to_owned());
    }
    if !chromium.exists() {
        return Some(format!(
            "{} does not exist (apt-get install chromium)",
            chromium.display()
        ));
    }
    if !browser_dir.join("node_modules/playwright-core").exists() {
        return Some(format!(
            "{}/node_modules is missing (npm ci there)",
            browser_dir.display()
        ));
    }
    None
}

#[test]
fn the_dashboard_manages_a_job_in_a_real_browser() {
    let root = workspace();
    let browser_dir = root.join("tests/browser");
    let chromium = std::env::var_os("SCHEDULER_TEST_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if let Some(reason) = missing_tools(&browser_dir, &chromium) {
        eprintln!("skipped: the browser test cannot run: {reason}");
        return;
    }

    let sink = Sink::start();
    let open_dir = temp_dir();
    let open_server = Server::start(&db_path(&open_dir), &[]);
    // A second server whose database holds a token: the dashboard must ask for it.
    let token_dir = temp_dir();
    let token_db = db_path(&token_dir);
    let output = scheduler(&[
        "tokens",
        "create",
        "--scope",
        "admin",
        "--name",
        "dashboard-test",
        "--db",
        token_db.to_str().expect("a UTF-8 path"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let token = stdout(&output).trim().to_owned();
    let token_server = Server::start(&token_db, &[]);

    let screenshots = root.join("target/screenshots");
    std::fs::create_dir_all(&screenshots).expect("the screenshot directory");
    let profile = tempfile::Builder::new()
        .prefix("scheduler-chromium-")
        .tempdir()
        .expect("a browser profile directory");
    let output = Command::new("node")
        .arg(browser_dir.join("dashboard.mjs"))
        .current_dir(&browser_dir)
        .env("DASHBOARD_URL", format!("http://{}/", open_server.address))
        .env(
            "DASHBOARD_TOKEN_URL",
            format!("http://{}/", token_server.address),
        )
        .env("DASHBOARD_TOKEN", &token)
        .env("DASHBOARD_TARGET", sink.url("/dashboard-hook"))
        .env("DASHBOARD_BACKGROUND_TARGET", sink.url("/background"))
        .env("DASHBOARD_CHROMIUM", &chromium)
        .env("DASHBOARD_PROFILE", profile.path())
        .env("DASHBOARD_SCREENSHOTS", &screenshots)
        .output()
        .expect("node runs");
    let report = format!("{}\n{}", stdout(&output), stderr(&output));
    assert!(
        output.status.success(),
        "the browser test failed:\n{report}"
    );
    assert!(report.contains("all dashboard checks passed"), "{report}");

    // What the browser did, seen from outside: the target got the triggered call, and the job
    // the browser deleted is gone.
    assert!(
        !sink.received_at("/dashboard-hook").is_empty(),
        "the triggered execution reached the target"
    );
    let (status, jobs) = open_server.request("GET", "/api/jobs", None);
    assert_eq!(status, 200);
    // The heartbeat and the one-off job remain; the job the browser deleted is gone.
    let mut names: Vec<&str> = jobs["jobs"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|job| job["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["heartbeat", "one-off"], "{jobs}");
    for name in [
        "jobs",
        "job",
        "edit-error",
        "overview",
        "phone",
        "dark",
        "token",
    ] {
        let file = screenshots.join(format!("{name}.png"));
        assert!(file.exists(), "screenshot {} saved", file.display());
    }
}
