//! `scheduler db`: the SQLite database file, for operators: `check` reads every page,
//! `init` creates a new, empty database where a lost one was (the server refuses to).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use store::{SqliteConfig, SqliteStore, StoreError, check_database};

use crate::logging::{self, LogFormat};
use crate::serve_command::DEFAULT_DB;

/// `scheduler db ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum DbCommand {
    /// Check every page of the database (SQLite's `integrity_check`) and print a report; exits
    /// 1 when it is damaged. Read-only: safe while the server runs.
    Check(DbArgs),
    /// Create a new, empty database where there is none: after a database was lost, where
    /// `serve` refuses to make an empty one (an empty file, or only its -wal and -shm files,
    /// which are moved aside). Never replaces a database.
    Init(DbArgs),
}

/// Which database.
#[derive(Debug, Args)]
pub(crate) struct DbArgs {
    /// The SQLite database file, as `serve --db` takes it.
    #[arg(long, env = "SCHEDULER_DB", default_value = DEFAULT_DB)]
    db: PathBuf,
}

/// Runs a `db` command.
pub(crate) fn run(command: DbCommand) -> anyhow::Result<ExitCode> {
    logging::init("warn", LogFormat::Text, None);
    match command {
        DbCommand::Check(args) => check(sqlite_path(&args)?),
        DbCommand::Init(args) => init(sqlite_path(&args)?),
    }
}

/// The SQLite file `--db` names; a PostgreSQL URL is refused.
fn sqlite_path(args: &DbArgs) -> anyhow::Result<&Path> {
    let text = args.db.to_string_lossy();
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        anyhow::bail!(
            "--db names a PostgreSQL database; `scheduler db` works on SQLite database files"
        );
    }
    Ok(&args.db)
}

fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let report = check_database(path)?;
    println!("database: {}", path.display());
    println!(
        "schema version {}, {} pages of {} bytes ({} bytes)",
        report.schema_version,
        report.page_count,
        report.page_size,
        report.page_count.saturating_mul(report.page_size)
    );
    if report.is_ok() {
        println!("integrity check: ok");
        return Ok(ExitCode::SUCCESS);
    }
    println!("integrity check: {} problems", report.problems.len());
    for problem in &report.problems {
        println!("  {problem}");
    }
    println!(
        "the database is damaged: stop the server and restore a backup, or recover what can be \
         read with `sqlite3 {path} .recover | sqlite3 {path}.recovered`, check the result with \
         `scheduler db check --db {path}.recovered`, and move it into place",
        path = path.display()
    );
    Ok(ExitCode::FAILURE)
}

fn init(path: &Path) -> anyhow::Result<ExitCode> {
    let store = SqliteStore::initialize(&SqliteConfig::new(path))?;
    drop(store);
    println!("created a new, empty database at {}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// A store's error at open, with the command that deals with it when there is one.
pub(crate) fn with_remedy(error: StoreError, path: &Path) -> anyhow::Error {
    let remedy = match &error {
        StoreError::MissingDatabase { .. } | StoreError::EmptyDatabaseFile { .. } => format!(
            "to start over with a new, empty database, run `scheduler db init --db {}`",
            path.display()
        ),
        StoreError::Damaged { .. } => format!(
            "for the full report, run `scheduler db check --db {}`",
            path.display()
        ),
        _ => return anyhow::Error::new(error),
    };
    anyhow::anyhow!("{error}\n{remedy}")
}
