//! `scheduler cron next|explain`.

use crate::{scheduler, stderr, stdout};

fn check_next(args: &[&str], expected: &[&str]) {
    let output = scheduler(args);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        stderr(&output)
    );
    let lines: Vec<String> = stdout(&output).lines().map(str::to_owned).collect();
    assert_eq!(lines, expected, "{args:?}");
}

#[test]
fn next_prints_rfc3339_utc_times_one_per_line() {
    check_next(
        &[
            "cron",
            "next",
            "31 10-15 1 * * MON-FRI",
            "--from",
            "2026-11-29T00:00:00Z",
            "--count",
            "3",
        ],
        &[
            "2026-11-30T01:10:31Z",
            "2026-11-30T01:11:31Z",
            "2026-11-30T01:12:31Z",
        ],
    );
    check_next(
        &[
            "cron",
            "next",
            "0 0 0 29 2 *",
            "--from",
            "2097-01-01T00:00:00Z",
            "-n",
            "2",
        ],
        &["2104-02-29T00:00:00Z", "2108-02-29T00:00:00Z"],
    );
}

#[test]
fn next_evaluates_in_a_time_zone() {
    // 02:30 does not exist in New York on 2026-03-08: it fires once, at 03:00 EDT.
    check_next(
        &[
            "cron",
            "next",
            "0 30 2 * * *",
            "--tz",
            "America/New_York",
            "--from",
            "2026-03-07T00:00:00Z",
            "-n",
            "3",
        ],
        &[
            "2026-03-07T07:30:00Z",
            "2026-03-08T07:00:00Z",
            "2026-03-09T06:30:00Z",
        ],
    );
}

#[test]
fn next_defaults_to_five_times_from_now() {
    let output = scheduler(&["cron", "next", "@hourly"]);
    assert!(output.status.success());
    assert_eq!(stdout(&output).lines().count(), 5);
}

#[test]
fn a_bad_expression_says_where_and_why_and_fails() {
    let output = scheduler(&["cron", "next", "31 10-15 1 * * MON-FRX"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message
            .contains(r#"day-of-week: invalid value "FRX" at column 20 (expected 0-7 or SUN-SAT)"#),
        "{message}"
    );
    assert!(
        message.contains("  31 10-15 1 * * MON-FRX\n                     ^^^"),
        "{message}"
    );
    assert!(stdout(&output).is_empty());
}

#[test]
fn a_schedule_that_can_never_fire_is_rejected() {
    let output = scheduler(&["cron", "next", "0 0 0 30 2 *"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("can never fire"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_schedule_with_only_past_fires_says_so_and_fails() {
    let output = scheduler(&[
        "cron",
        "next",
        "0 0 0 1 1 * 2020",
        "--from",
        "2026-01-01T00:00:00Z",
    ]);
    assert!(!output.status.success());
    assert!(stdout(&output).is_empty());
    assert!(
        stderr(&output).contains("has no more fire times after 2026-01-01T00:00:00Z"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bad_options_are_explained() {
    let output = scheduler(&["cron", "next", "* * * * * *", "--tz", "Mars/Olympus_Mons"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains(r#"--tz "Mars/Olympus_Mons" is not a known IANA time zone"#));
    let output = scheduler(&["cron", "next", "* * * * * *", "--from", "yesterday"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains(r#"--from "yesterday" is not an RFC 3339 timestamp"#));
}

#[test]
fn explain_describes_the_schedule() {
    let output = scheduler(&["cron", "explain", "31 10-15 1 * * MON-FRI"]);
    assert!(output.status.success());
    assert_eq!(
        stdout(&output).trim(),
        "at second 31 of minutes 10 through 15 past hour 1, on Monday through Friday"
    );
    let output = scheduler(&["cron", "explain", "0 0 12 ? * 5#3"]);
    assert_eq!(
        stdout(&output).trim(),
        "at 12:00:00, on the third Friday of the month"
    );
}
