//! `scheduler serve`'s flags: what `--help` shows, and hidden flags that still work.

use crate::{scheduler, stderr, stdout};

#[test]
fn help_shows_the_operator_flags_and_hides_the_tuning_ones() {
    let output = scheduler(&["serve", "--help"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let help = stdout(&output);
    for shown in ["--listen", "--db", "--max-in-flight", "--shutdown-grace"] {
        assert!(help.contains(shown), "{shown} is in --help:\n{help}");
    }
    for hidden in ["--look-ahead", "--claim-interval", "--sqlite-job-cache"] {
        assert!(!help.contains(hidden), "{hidden} is not in --help:\n{help}");
    }
    assert!(help.contains("docs/TUNING.md"), "{help}");
}

#[test]
fn a_hidden_flag_still_works_and_its_refusal_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("scheduler.db");
    let output = scheduler(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--db",
        db.to_str().unwrap(),
        "--look-ahead",
        "2s",
        "--claim-interval",
        "2s",
    ]);
    assert!(!output.status.success(), "the server refused to start");
    let error = stderr(&output);
    assert!(
        error.contains("invalid --claim-interval") && error.contains("--look-ahead"),
        "{error}"
    );
    assert!(
        !db.exists(),
        "the flags are refused before the database is made"
    );
}
