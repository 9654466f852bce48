//! The `scheduler` binary: the server (later) and command-line tools.
//!
//! `main` only parses arguments and reports errors; each subcommand lives in its own module.

mod cron_command;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A high-throughput HTTP job scheduler.
#[derive(Debug, Parser)]
#[command(name = "scheduler", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with cron expressions: list fire times, explain them.
    #[command(subcommand)]
    Cron(cron_command::CronCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Cron(command) => cron_command::run(command),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
