//! `scheduler cron next|explain`: the cron engine from the command line.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use cron_expr::{ParseError, Schedule, TimeZone, Timestamp};

/// The `cron` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum CronCommand {
    /// Print the next fire times of an expression, one RFC 3339 UTC timestamp per line.
    Next(NextArgs),
    /// Say in plain English when an expression fires.
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
pub(crate) struct NextArgs {
    /// The cron expression, e.g. "31 10-15 1 * * MON-FRI" (quote it).
    expr: String,
    /// Start after this instant (RFC 3339, e.g. 2026-11-29T00:00:00Z); default: now.
    #[arg(long, value_name = "RFC3339")]
    from: Option<String>,
    /// How many fire times to print.
    #[arg(long, short = 'n', default_value_t = 5, value_name = "N")]
    count: usize,
    /// Evaluate the schedule in this IANA time zone (e.g. America/New_York); default: UTC.
    #[arg(long, value_name = "IANA_ZONE")]
    tz: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// The cron expression (quote it).
    expr: String,
}

/// Runs one `cron` subcommand.
pub(crate) fn run(command: CronCommand) -> anyhow::Result<ExitCode> {
    match command {
        CronCommand::Next(args) => next(&args),
        CronCommand::Explain(args) => {
            let schedule = parse(&args.expr)?;
            println!("{}", schedule.explain());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn next(args: &NextArgs) -> anyhow::Result<ExitCode> {
    let schedule = parse(&args.expr)?;
    let from = match &args.from {
        Some(text) => text.parse::<Timestamp>().with_context(|| {
            format!("--from {text:?} is not an RFC 3339 timestamp (e.g. 2026-11-29T00:00:00Z)")
        })?,
        None => Timestamp::now(),
    };
    let zone = match &args.tz {
        Some(name) => TimeZone::get(name)
            .with_context(|| format!("--tz {name:?} is not a known IANA time zone"))?,
        None => TimeZone::UTC,
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let mut printed = 0;
    for time in schedule.iter_after_in(from, &zone).take(args.count) {
        writeln!(out, "{time}")?;
        printed += 1;
    }
    out.flush()?;
    if printed < args.count {
        let last = if printed == 0 {
            format!("after {from}")
        } else {
            "after these".to_owned()
        };
        eprintln!("{:?} has no more fire times {last}", args.expr);
        if printed == 0 {
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses an expression; on failure the error shows the expression with the bad token marked.
fn parse(expr: &str) -> anyhow::Result<Schedule> {
    Schedule::parse(expr).map_err(|error| anyhow::anyhow!("{error}\n{}", mark(expr, &error)))
}

/// The expression with a caret line under the offending token.
fn mark(expr: &str, error: &ParseError) -> String {
    let width = error.token().chars().count().max(1);
    let indent = " ".repeat(error.column().saturating_sub(1));
    format!("  {expr}\n  {indent}{}", "^".repeat(width))
}
