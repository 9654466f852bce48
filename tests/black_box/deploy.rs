//! The systemd units in `deploy/`: `systemd-analyze verify` accepts them as they are, with the
//! binary's path pointed at the one under test.

use std::path::Path;
use std::process::Command;

use crate::support::temp_dir;

const UNITS: [&str; 4] = [
    "scheduler.service",
    "scheduler-health.service",
    "scheduler-restart.service",
    "scheduler-health.timer",
];

#[test]
fn systemd_accepts_the_units_without_a_warning() {
    let analyze = Path::new("/usr/bin/systemd-analyze");
    if !analyze.exists() {
        eprintln!("skipped: /usr/bin/systemd-analyze is not installed (Debian package systemd)");
        return;
    }
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let service = std::fs::read_to_string(deploy.join("scheduler.service")).expect("the service");
    assert!(
        service.contains("ExecStartPost=/usr/local/bin/scheduler health --wait"),
        "the service is ready only once healthy: {service}"
    );
    // The timer restarts a server that is not live, never one that is only not ready: a server
    // in a store outage keeps firing, and a restart would stop it.
    let check =
        std::fs::read_to_string(deploy.join("scheduler-health.service")).expect("the health check");
    assert!(
        check.contains("ExecStart=/usr/local/bin/scheduler health --live --wait"),
        "the health check asks for liveness: {check}"
    );
    let dir = temp_dir();
    for unit in UNITS {
        let text = std::fs::read_to_string(deploy.join(unit)).expect("the unit file is readable");
        let text = text.replace("/usr/local/bin/scheduler", env!("CARGO_BIN_EXE_scheduler"));
        std::fs::write(dir.path().join(unit), text).expect("the unit file is written");
    }
    let output = Command::new(analyze)
        .args(["verify", "--man=no"])
        .args(UNITS)
        .current_dir(dir.path())
        .output()
        .expect("systemd-analyze runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "systemd-analyze verify: {said}");
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify warns: {said}"
    );
}
