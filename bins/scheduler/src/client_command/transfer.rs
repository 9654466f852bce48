//! `scheduler jobs export` and `scheduler jobs import`: every job of a server as NDJSON, one
//! creatable definition per line, and such a file created on a server through
//! `POST /api/jobs:batch`.
//!
//! Export writes what a client may send to create the job: the read-only fields
//! ([`http_api::JOB_READ_ONLY_FIELDS`]) are left out, secret header values are the `"***"` the
//! API shows, and a job with a signing secret of its own gets `"signingSecret": "***"` (with two,
//! while one is rotated, `["***", "***"]`). The
//! server refuses to create a job with such a placeholder (it would sign or authenticate with
//! the text `***`), naming the field: put the real secrets into the file before importing it.
//!
//! Import sends the file's lines in batches of [`http_api::MAX_BATCH_JOBS`]. Each batch is
//! created whole or not at all; the import stops at the first batch refused, and the batches
//! before it stay created.

use std::io::{BufRead, BufReader, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use executor::Method;
use serde_json::{Value, json};

use super::{Client, encode};

/// The most bytes of NDJSON sent in one batch, below the server's default batch body limit
/// (32 MiB).
const MAX_BATCH_BYTES: usize = 24 * 1024 * 1024;
/// Jobs read per page of `GET /api/jobs` (the most it gives).
const EXPORT_PAGE: usize = 1_000;
/// What the API shows for a secret.
const REDACTED: &str = "***";

/// `scheduler jobs import FILE`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// NDJSON, one job definition per line (as `scheduler jobs export` writes it); `-` reads
    /// standard input.
    file: String,
}

/// Runs `jobs export`: every job, in id order, one line each, to standard output.
pub(crate) async fn export(client: &Client) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut after: Option<String> = None;
    let mut exported = 0usize;
    loop {
        let mut path = format!("/api/jobs?limit={EXPORT_PAGE}");
        if let Some(cursor) = &after {
            path.push_str(&format!("&after={}", encode(cursor)));
        }
        let answer = client.fetch(Method::GET, &path, None).await?;
        if !answer.is_success() {
            out.flush()?;
            return Ok(answer.print());
        }
        let page: Value = serde_json::from_str(&answer.pretty)
            .with_context(|| format!("the answer to GET {path} is not JSON"))?;
        let Some(jobs) = page["jobs"].as_array() else {
            bail!("the answer to GET {path} has no jobs list");
        };
        for job in jobs {
            let definition = creatable(job.clone())?;
            serde_json::to_writer(&mut out, &definition)?;
            out.write_all(b"\n")?;
            exported += 1;
        }
        match page["nextCursor"].as_str() {
            Some(cursor) if !jobs.is_empty() => after = Some(cursor.to_owned()),
            _ => break,
        }
    }
    out.flush()?;
    eprintln!("exported {exported} jobs");
    Ok(ExitCode::SUCCESS)
}

/// A job as read, made a definition to create: without the read-only fields, and with a
/// placeholder for a signing secret the API does not show.
fn creatable(job: Value) -> anyhow::Result<Value> {
    let Value::Object(mut fields) = job else {
        bail!("a job in the listing is not a JSON object");
    };
    let has_signing_secret = fields.get("hasSigningSecret") == Some(&Value::Bool(true));
    let signing_secret_count = fields
        .get("signingSecretCount")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    for field in http_api::JOB_READ_ONLY_FIELDS {
        fields.remove(*field);
    }
    if has_signing_secret {
        let placeholder = if signing_secret_count > 1 {
            json!([REDACTED, REDACTED])
        } else {
            json!(REDACTED)
        };
        fields.insert("signingSecret".to_owned(), placeholder);
    }
    Ok(Value::Object(fields))
}

/// Runs `jobs import FILE`.
pub(crate) async fn import(client: &Client, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let reader: Box<dyn BufRead> = if args.file == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        let file =
            std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file))?;
        Box::new(BufReader::new(file))
    };
    let mut batch = Batch::default();
    let mut created = 0usize;
    for (number, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {} of {}", number + 1, args.file))?;
        if line.trim().is_empty() {
            continue;
        }
        if batch.is_full(line.len()) {
            match batch.send(client).await? {
                Some(count) => created += count,
                None => return Ok(failed(created)),
            }
        }
        batch.push(number + 1, &line);
    }
    if !batch.lines.is_empty() {
        match batch.send(client).await? {
            Some(count) => created += count,
            None => return Ok(failed(created)),
        }
    }
    println!("{}", json!({"created": created}));
    Ok(ExitCode::SUCCESS)
}

fn failed(created: usize) -> ExitCode {
    eprintln!(
        "import stopped: nothing of the refused batch was created; {created} jobs of the batches before it were"
    );
    ExitCode::FAILURE
}

/// The lines of one batch, and the file's line number of each.
#[derive(Default)]
struct Batch {
    body: String,
    lines: Vec<usize>,
}

impl Batch {
    /// Whether a line of `length` bytes must go into the next batch.
    fn is_full(&self, length: usize) -> bool {
        !self.lines.is_empty()
            && (self.lines.len() >= http_api::MAX_BATCH_JOBS
                || self.body.len() + length + 1 > MAX_BATCH_BYTES)
    }

    fn push(&mut self, number: usize, line: &str) {
        self.body.push_str(line);
        self.body.push('\n');
        self.lines.push(number);
    }

    /// Sends the batch and empties it: the number of jobs created, or `None` (the refusal
    /// printed, each bad item by its line in the file) when the server refused it.
    async fn send(&mut self, client: &Client) -> anyhow::Result<Option<usize>> {
        let body = std::mem::take(&mut self.body);
        let lines = std::mem::take(&mut self.lines);
        let answer = client
            .fetch_with(
                Method::POST,
                "/api/jobs:batch",
                "application/x-ndjson",
                body,
            )
            .await?;
        if answer.is_success() {
            return Ok(Some(lines.len()));
        }
        let error: Value = serde_json::from_str(&answer.pretty).unwrap_or(Value::Null);
        if let Some(items) = error["error"]["items"].as_array() {
            eprintln!("{}: HTTP {}", answer.what, answer.status);
            for item in items {
                let line = item["index"]
                    .as_u64()
                    .and_then(|index| lines.get(usize::try_from(index).ok()?))
                    .map_or_else(|| "?".to_owned(), ToString::to_string);
                eprintln!(
                    "line {line}: {}: {}",
                    item["field"].as_str().unwrap_or("body"),
                    item["message"].as_str().unwrap_or("")
                );
            }
        } else {
            answer.print();
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_jobs_lose_read_only_fields_and_keep_secret_placeholders() {
        let job = json!({
            "jobId": "x", "version": 3, "createdAt": "t", "updatedAt": "t", "nextFireTimes": [],
            "stats": null, "hasSigningSecret": true,
            "schedule": "0 0 * * * *", "api": "https://example.com/", "type": "ATLEAST_ONCE",
            "headers": {"Authorization": "***"}
        });
        assert_eq!(
            creatable(job).unwrap(),
            json!({
                "schedule": "0 0 * * * *", "api": "https://example.com/", "type": "ATLEAST_ONCE",
                "headers": {"Authorization": "***"}, "signingSecret": "***"
            })
        );
        let rotating = json!({"hasSigningSecret": true, "signingSecretCount": 2, "schedule": "x"});
        assert_eq!(
            creatable(rotating).unwrap(),
            json!({"schedule": "x", "signingSecret": ["***", "***"]})
        );
        let plain = json!({"hasSigningSecret": false, "schedule": "x"});
        assert_eq!(creatable(plain).unwrap(), json!({"schedule": "x"}));
    }

    #[test]
    fn batches_end_at_the_job_and_byte_limits() {
        let mut batch = Batch::default();
        assert!(
            !batch.is_full(MAX_BATCH_BYTES * 2),
            "an empty batch takes any line"
        );
        batch.push(1, "{}");
        assert!(!batch.is_full(10));
        assert!(batch.is_full(MAX_BATCH_BYTES));
        for number in 2..=http_api::MAX_BATCH_JOBS {
            batch.push(number, "{}");
        }
        assert!(batch.is_full(2));
    }
}
