//! The `scheduler` binary: the server and its command-line tools.
//!
//! `main` only parses arguments, starts a runtime and reports errors; each subcommand lives in
//! its own module.

mod client_command;
mod cron_command;
mod db_command;
mod log_file;
mod logging;
mod serve_command;
mod tokens_command;

use std::process::ExitCode;

/// mimalloc: every HTTP attempt allocates on the dispatch threads, where glibc's malloc
/// contended on its arena locks (docs/perf-log/round-02.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

/// A high-throughput HTTP job scheduler.
#[derive(Debug, Parser)]
#[command(name = "scheduler", version, about, long_about = None)]
struct Cli {
    /// With no command, `serve` runs with its defaults (and environment variables).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the scheduler: the engine, the REST API and the SQLite store (the default).
    Serve(Box<serve_command::ServeArgs>),
    /// Work with cron expressions: list fire times, explain them.
    #[command(subcommand)]
    Cron(cron_command::CronCommand),
    /// Check the SQLite database file, or create a new one where a database was lost.
    #[command(subcommand)]
    Db(db_command::DbCommand),
    /// Create, list and revoke API tokens, on the database (`--db`).
    #[command(subcommand)]
    Tokens(tokens_command::TokensCommand),
    /// Manage jobs on a running server.
    Jobs {
        #[command(flatten)]
        server: client_command::ServerArgs,
        #[command(subcommand)]
        command: client_command::JobsCommand,
    },
    /// Show a job's executions on a running server, newest first.
    Executions {
        #[command(flatten)]
        server: client_command::ServerArgs,
        #[command(flatten)]
        args: client_command::ExecutionsArgs,
    },
    /// Ask a running server whether it is healthy; exits 0 when it is (for service managers
    /// and container health checks).
    Health {
        #[command(flatten)]
        server: client_command::ServerArgs,
        #[command(flatten)]
        args: client_command::HealthArgs,
    },
}

/// Parses `serve`'s flags alone, to run it when no command is given.
#[derive(Debug, Parser)]
struct ServeOnly {
    #[command(flatten)]
    args: serve_command::ServeArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match cli.command {
        Some(command) => command,
        // No command: serve, with flags' defaults and environment variables.
        None => Command::Serve(Box::new(ServeOnly::parse_from(["scheduler"]).args)),
    };
    let result = match command {
        Command::Serve(args) => serve_command::run(*args).map(|()| ExitCode::SUCCESS),
        Command::Cron(command) => cron_command::run(command),
        Command::Db(command) => db_command::run(command),
        Command::Tokens(command) => {
            runtime().and_then(|runtime| runtime.block_on(tokens_command::run(command)))
        }
        Command::Jobs { server, command } => runtime()
            .and_then(|runtime| runtime.block_on(client_command::run_jobs(&server, command))),
        Command::Executions { server, args } => runtime()
            .and_then(|runtime| runtime.block_on(client_command::run_executions(&server, args))),
        Command::Health { server, args } => runtime()
            .and_then(|runtime| runtime.block_on(client_command::run_health(&server, args))),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A small runtime for the client commands.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
