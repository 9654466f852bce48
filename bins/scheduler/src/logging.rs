//! Log output: human-readable text or one JSON object per line, at a chosen level, on standard
//! error and, with `--log-file`, in a file too.

use std::io::Write;

use clap::ValueEnum;

use crate::log_file::{RotatingFile, StderrAndFile};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// `2026-11-29T12:00:00.000Z INFO  scheduler: message`.
    #[default]
    Text,
    /// `{"time":"...","level":"INFO","target":"scheduler","message":"..."}`, one per line.
    Json,
}

/// Installs the global logger. `level` is an env_logger filter (`info`, `debug`,
/// `scheduler_core=debug,info`, ...); `RUST_LOG`, when set, overrides it. Lines go to standard
/// error, and to `file` as well when there is one.
pub(crate) fn init(level: &str, format: LogFormat, file: Option<RotatingFile>) {
    let mut builder = env_logger::Builder::new();
    if let Some(file) = file {
        builder.target(env_logger::Target::Pipe(Box::new(StderrAndFile::new(file))));
    }
    builder.parse_filters(level);
    if let Ok(filters) = std::env::var("RUST_LOG") {
        builder.parse_filters(&filters);
    }
    match format {
        LogFormat::Text => builder.format(|out, record| {
            writeln!(
                out,
                "{} {:<5} {}: {}",
                timestamp(),
                record.level(),
                record.target(),
                record.args()
            )
        }),
        LogFormat::Json => builder.format(|out, record| {
            let line = serde_json::json!({
                "time": timestamp(),
                "level": record.level().as_str(),
                "target": record.target(),
                "message": record.args().to_string(),
            });
            writeln!(out, "{line}")
        }),
    };
    // A second call (tests) keeps the first logger.
    let _ = builder.try_init();
}

fn timestamp() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}
