//! The flags reach the config types, their defaults are the config types' own, and the tuning
//! flags are hidden and documented. Every parse here ignores `SCHEDULER_*` variables, so that
//! a variable set in the environment cannot stand in for a default.

use std::sync::Arc;

use clap::{CommandFactory, FromArgMatches, Parser};
use executor::{HttpTransport, HttpTransportConfig};
use scheduler_core::{Engine, MemoryStore};

use super::*;

#[derive(Debug, Parser)]
struct Serve {
    #[command(flatten)]
    args: ServeArgs,
}

/// `serve`'s command with no environment variables attached: flags and defaults only.
fn command_without_env() -> clap::Command {
    Serve::command().mut_args(|arg| arg.env(None::<&'static str>))
}

/// The arguments `flags` parse to, whatever the environment says.
fn try_parse(flags: &[&str]) -> Result<ServeArgs, clap::Error> {
    let matches = command_without_env()
        .try_get_matches_from(std::iter::once("serve").chain(flags.iter().copied()))?;
    Serve::from_arg_matches(&matches).map(|serve| serve.args)
}

fn parse(flags: &[&str]) -> ServeArgs {
    try_parse(flags).unwrap_or_else(|error| panic!("{flags:?}: {error}"))
}

/// Flags hidden from `--help`, documented in docs/TUNING.md.
const TUNING_FLAGS: [&str; 8] = [
    "look-ahead",
    "claim-interval",
    "max-fresh-attempts",
    "fresh-window",
    "result-linger",
    "sqlite-mmap-mib",
    "sqlite-history-interval",
    "sqlite-job-cache",
];

#[test]
fn without_flags_the_engine_gets_its_own_defaults() {
    let config = parse(&[]).engine_config();
    let defaults = EngineConfig::default();
    assert_eq!(config.node_id, defaults.node_id);
    assert_eq!(
        (config.look_ahead, config.claim_interval),
        (defaults.look_ahead, defaults.claim_interval)
    );
    assert_eq!(
        (config.max_in_flight, config.max_backlog),
        (defaults.max_in_flight, defaults.max_backlog)
    );
    assert_eq!(
        config.max_in_flight_per_host,
        defaults.max_in_flight_per_host
    );
    assert_eq!(
        (config.max_fresh_attempts, config.fresh_window),
        (defaults.max_fresh_attempts, defaults.fresh_window)
    );
    assert_eq!(config.result_linger, defaults.result_linger);
    assert_eq!(config.retention, None);
}

#[test]
fn without_flags_the_store_and_the_api_get_their_own_defaults() {
    let args = parse(&[]);
    let Database::Sqlite(path) = &args.db else {
        panic!("the default store is SQLite, not {}", args.db);
    };
    let (config, defaults) = (args.sqlite_config(path), SqliteConfig::new(path));
    assert_eq!(config.durability, defaults.durability);
    assert_eq!(config.mmap_size, defaults.mmap_size);
    assert_eq!(config.history_interval, defaults.history_interval);
    assert_eq!(config.job_cache_capacity, defaults.job_cache_capacity);
    assert_eq!(args.api_config().job_defaults, JobDefaults::default());
    assert_eq!(args.shutdown_grace, DEFAULT_SHUTDOWN_GRACE);
    let (api, api_defaults) = (args.api_config(), http_api::ApiConfig::default());
    assert_eq!(api.request_body_timeout, api_defaults.request_body_timeout);
    assert_eq!(
        api.max_connections_per_client,
        api_defaults.max_connections_per_client
    );
}

#[test]
fn the_client_limits_come_from_the_flags_and_zero_is_refused() {
    let api = parse(&[
        "--request-body-timeout",
        "2s",
        "--max-connections-per-client",
        "7",
    ])
    .api_config();
    assert_eq!(api.request_body_timeout, Duration::from_secs(2));
    assert_eq!(api.max_connections_per_client, 7);
    for (flag, value) in [
        ("--request-body-timeout", "0s"),
        ("--max-connections-per-client", "0"),
    ] {
        let error = try_parse(&[flag, value]).expect_err("zero is refused");
        assert!(error.to_string().contains(flag), "{error}");
    }
}

#[test]
fn every_flag_has_its_environment_variable() {
    for arg in Serve::command().get_arguments() {
        let long = arg.get_long().expect("a long flag");
        let expected = format!("SCHEDULER_{}", long.to_uppercase().replace('-', "_"));
        assert_eq!(
            arg.get_env().and_then(|name| name.to_str()),
            Some(expected.as_str()),
            "--{long}"
        );
    }
}

#[test]
fn tuning_flags_are_hidden_documented_and_still_work() {
    let tuning_doc = include_str!("../../../../../docs/TUNING.md");
    let readme = include_str!("../../../../../README.md");
    for arg in Serve::command().get_arguments() {
        let long = arg.get_long().expect("a long flag");
        let tuning = TUNING_FLAGS.contains(&long);
        assert_eq!(arg.is_hide_set(), tuning, "--{long}");
        let (documented_in, other) = if tuning {
            (("docs/TUNING.md", tuning_doc), ("README.md", readme))
        } else {
            (("README.md", readme), ("docs/TUNING.md", tuning_doc))
        };
        let row = format!("`--{long}`");
        assert!(
            documented_in.1.contains(&row),
            "{} has --{long}",
            documented_in.0
        );
        assert!(
            !other.1.contains(&format!("| {row} |")),
            "{} lists --{long}",
            other.0
        );
    }
    let config = parse(&["--look-ahead", "6s", "--claim-interval", "3s"]).engine_config();
    assert_eq!(
        (config.look_ahead, config.claim_interval),
        (Duration::from_secs(6), Duration::from_secs(3))
    );
}

#[test]
fn engine_settings_come_from_the_flags() {
    let config = parse(&[
        "--max-in-flight",
        "64",
        "--max-in-flight-per-host",
        "16",
        "--max-backlog",
        "5000",
        "--max-fresh-attempts",
        "32",
        "--fresh-window",
        "0s",
        "--result-linger",
        "250ms",
        "--node-id",
        "node-2",
        "--misfire-threshold",
        "90s",
        "--lease",
        "30s",
        "--heartbeat-interval",
        "5s",
        "--retention-per-job",
        "10",
    ])
    .engine_config();
    assert_eq!((config.max_in_flight, config.max_backlog), (64, 5_000));
    assert_eq!(config.max_in_flight_per_host, 16);
    assert_eq!(
        (config.max_fresh_attempts, config.fresh_window),
        (32, Duration::ZERO)
    );
    assert_eq!(config.result_linger, Duration::from_millis(250));
    assert_eq!(config.node_id, "node-2");
    assert_eq!(config.misfire_threshold, Duration::from_secs(90));
    assert_eq!(
        (config.lease, config.heartbeat_interval),
        (Duration::from_secs(30), Duration::from_secs(5))
    );
    assert_eq!(
        config.retention,
        Some(RetentionPolicy {
            max_age: None,
            max_per_job: Some(10),
        })
    );
}

#[test]
fn store_settings_come_from_the_flags() {
    let config = parse(&[
        "--durability",
        "full",
        "--sqlite-mmap-mib",
        "64",
        "--sqlite-history-interval",
        "0s",
        "--sqlite-job-cache",
        "0",
    ])
    .sqlite_config(Path::new("x.db"));
    assert_eq!(config.durability, Durability::Full);
    assert_eq!(config.mmap_size, 64 << 20);
    assert_eq!(config.history_interval, Duration::ZERO);
    assert_eq!(config.job_cache_capacity, 0);
}

#[test]
fn job_defaults_and_the_grace_come_from_the_flags() {
    let config = parse(&[
        "--default-timeout",
        "5s",
        "--default-max-attempts",
        "7",
        "--default-initial-backoff",
        "250ms",
        "--default-max-backoff",
        "2m",
        "--shutdown-grace",
        "3s",
    ])
    .api_config();
    let retry = &config.job_defaults.retry;
    assert_eq!(config.job_defaults.attempt_timeout, Duration::from_secs(5));
    assert_eq!(
        (retry.max_attempts, retry.initial_backoff, retry.max_backoff),
        (7, Duration::from_millis(250), Duration::from_secs(120))
    );
    assert_eq!(config.shutdown_timeout, Duration::from_secs(3));
}

#[test]
fn zero_worker_threads_are_refused_by_flag_name() {
    let error = try_parse(&["--worker-threads", "0"]).expect_err("zero threads is refused");
    assert!(error.to_string().contains("--worker-threads"), "{error}");
}

#[test]
fn the_engines_refusal_of_its_settings_names_the_flags() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let refusal = |flags: &[&str]| {
        let transport = HttpTransport::new(HttpTransportConfig::default()).expect("a transport");
        let start = Engine::builder(Arc::new(MemoryStore::new()), Arc::new(transport))
            .config(parse(flags).engine_config())
            .start();
        match runtime.block_on(start) {
            Ok(_) => panic!("{flags:?}: the engine started"),
            Err(error) => name_engine_flags(error).to_string(),
        }
    };
    for interval in ["2s", "5s", "0s"] {
        let message = refusal(&["--look-ahead", "2s", "--claim-interval", interval]);
        assert_eq!(
            message,
            "invalid --claim-interval: must be greater than zero and shorter than --look-ahead",
            "{interval}"
        );
    }
    assert_eq!(
        refusal(&["--max-backlog", "0"]),
        "invalid --max-backlog: must be at least 1"
    );
    assert_eq!(
        refusal(&["--max-in-flight-per-host", "0"]),
        "invalid --max-in-flight-per-host: must be at least 1"
    );
    assert_eq!(
        refusal(&["--lease", "10s", "--heartbeat-interval", "6s"]),
        "invalid --heartbeat-interval: must be greater than zero and at most half the --lease (10s)"
    );
    assert_eq!(
        refusal(&["--lease", "2s"]),
        "invalid --look-ahead: must be shorter than the --lease (2s)"
    );
}

#[test]
fn durations_parse_in_friendly_forms() {
    assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
    assert_eq!(parse_duration("PT1H"), Ok(Duration::from_secs(3600)));
    assert!(
        parse_duration("soon")
            .unwrap_err()
            .contains("is not a duration")
    );
    assert!(
        parse_duration("-5s")
            .unwrap_err()
            .contains("must not be negative")
    );
}

#[test]
fn durations_print_in_their_largest_whole_unit_and_parse_back() {
    let check = |duration: Duration, text: &str| {
        assert_eq!(duration_text(duration), text);
        assert_eq!(parse_duration(text), Ok(duration), "{text}");
    };
    check(Duration::ZERO, "0s");
    check(Duration::from_millis(5), "5ms");
    check(Duration::from_millis(1_500), "1500ms");
    check(Duration::from_secs(2), "2s");
    check(Duration::from_secs(60), "1m");
    check(Duration::from_secs(90), "90s");
    check(Duration::from_secs(7_200), "2h");
    check(Duration::from_micros(3), "3us");
    check(Duration::from_nanos(7), "7ns");
}

#[test]
fn db_takes_a_sqlite_file_or_a_postgres_url_and_logs_no_password() {
    let check = |text: &str, expected: Database, shown: &str| {
        let db = Database::parse(text).expect("a database");
        assert_eq!(db, expected, "{text}");
        assert_eq!(db.to_string(), shown, "{text}");
    };
    check(
        "./scheduler.db",
        Database::Sqlite(PathBuf::from("./scheduler.db")),
        "SQLite database ./scheduler.db",
    );
    check(
        "postgres://app:secret@db.internal:5432/scheduler?sslmode=disable",
        Database::Postgres(
            "postgres://app:secret@db.internal:5432/scheduler?sslmode=disable".to_owned(),
        ),
        "PostgreSQL database postgres://app@db.internal:5432/scheduler",
    );
    check(
        "postgresql://db.internal/scheduler",
        Database::Postgres("postgresql://db.internal/scheduler".to_owned()),
        "PostgreSQL database postgresql://db.internal/scheduler",
    );
    assert!(Database::parse("").is_err());
}

#[test]
fn outgoing_request_settings_come_from_the_flags() {
    let args = parse(&[
        "--signing-secret",
        "new",
        "--signing-secret",
        "old",
        "--deny-private-targets",
        "--allow-target",
        "10.1.0.0/16",
        "--allow-target",
        "*.svc.local,hooks.internal",
        "--deny-target",
        "10.1.2.0/24",
    ]);
    assert_eq!(
        args.signing_secret,
        [
            executor::SigningSecret::new("new"),
            executor::SigningSecret::new("old")
        ]
    );
    let policy = args.target_policy();
    assert!(policy.deny_private);
    let names =
        |rules: &[executor::TargetRule]| rules.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(
        names(&policy.allow),
        ["10.1.0.0/16", "*.svc.local", "hooks.internal"]
    );
    assert_eq!(names(&policy.deny), ["10.1.2.0/24"]);
    // The secrets stay out of a debug print of the flags.
    assert!(!format!("{args:?}").contains("\"new\""));

    let defaults = parse(&[]);
    assert!(defaults.signing_secret.is_empty());
    assert_eq!(defaults.target_policy(), executor::TargetPolicy::default());

    for (flags, in_message) in [
        (&["--allow-target", "10.0.0.0/33"][..], "prefix length"),
        (&["--deny-target", "not a host"][..], "not a CIDR"),
        (&["--signing-secret", ""][..], "must not be empty"),
    ] {
        let error = try_parse(flags).expect_err("refused").to_string();
        assert!(error.contains(in_message), "{flags:?}: {error}");
    }
}

#[test]
fn the_log_file_settings_come_from_the_flags() {
    assert_eq!(parse(&[]).log_file_config(), None);
    assert_eq!(
        parse(&["--log-file", "/var/log/scheduler.log"]).log_file_config(),
        Some(LogFileConfig {
            path: PathBuf::from("/var/log/scheduler.log"),
            max_bytes: LogFileConfig::DEFAULT_MAX_MIB * 1024 * 1024,
            keep: LogFileConfig::DEFAULT_KEEP,
        })
    );
    let flags = [
        "--log-file",
        "x.log",
        "--log-file-max-mib",
        "2",
        "--log-file-keep",
        "0",
    ];
    assert_eq!(
        parse(&flags).log_file_config(),
        Some(LogFileConfig {
            path: PathBuf::from("x.log"),
            max_bytes: 2 * 1024 * 1024,
            keep: 0,
        })
    );
    let error = try_parse(&["--log-file-max-mib", "0"]).unwrap_err();
    assert!(error.to_string().contains("--log-file-max-mib"), "{error}");
}

#[test]
fn the_default_jitter_is_off_unless_set_and_bounded() {
    assert_eq!(
        parse(&[]).engine_config().default_tick_jitter,
        Duration::ZERO
    );
    let config = parse(&["--default-jitter-ms", "1500"]).engine_config();
    assert_eq!(config.default_tick_jitter, Duration::from_millis(1_500));
    let hour = parse(&["--default-jitter-ms", "3600000"]).engine_config();
    assert_eq!(hour.default_tick_jitter, scheduler_core::MAX_TICK_JITTER);
    for refused in ["3600001", "1s", "soon"] {
        let error = try_parse(&["--default-jitter-ms", refused])
            .expect_err("refused")
            .to_string();
        assert!(error.contains("--default-jitter-ms"), "{refused}: {error}");
    }
}
