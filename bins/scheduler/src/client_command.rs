//! `scheduler jobs ...`, `scheduler executions ...` and `scheduler health`: a small client for
//! the REST API.
//!
//! Each command sends one request with the `executor` crate's HTTP client and prints the
//! server's JSON answer, pretty-printed. An error answer is printed to standard error and the
//! command exits non-zero. `jobs export` and `jobs import` ([`transfer`]) send several.

mod transfer;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use executor::{HttpRequest, HttpTransport, HttpTransportConfig, Method};
use serde_json::{Map, Value, json};

/// Where the server is; shared by the client commands.
#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// The scheduler's base URL.
    #[arg(
        long,
        env = "SCHEDULER_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    server: String,
    /// The API token to send (`Authorization: Bearer <token>`), from `scheduler tokens
    /// create`; needed once the server's database holds a token.
    #[arg(long, env = "SCHEDULER_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
}

/// `scheduler jobs ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum JobsCommand {
    /// Register a job.
    Create(CreateArgs),
    /// List jobs, a page at a time.
    List(ListArgs),
    /// Show a job and its next fire times.
    Get(JobIdArg),
    /// Delete a job and its history.
    Delete(JobIdArg),
    /// Stop firing a job (its definition stays).
    Pause(JobIdArg),
    /// Fire a paused job again.
    Resume(JobIdArg),
    /// Fire a job once, now.
    Trigger(JobIdArg),
    /// Write every job to standard output as NDJSON, one definition per line, ready for
    /// `jobs import` (secrets show as "***" and must be filled in before importing).
    Export,
    /// Create the jobs of an NDJSON file (`-`: standard input), 10,000 per request, each
    /// request all or nothing.
    Import(transfer::ImportArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The cron schedule, e.g. "*/10 * * * * *" (or --run-at, for a one-off job).
    #[arg(long, required_unless_present = "run_at", conflicts_with = "run_at")]
    schedule: Option<String>,
    /// A one-off job: the RFC 3339 instant it fires at, once (e.g. 2030-01-01T09:00:00Z).
    #[arg(long, value_name = "RFC3339")]
    run_at: Option<String>,
    /// No tick before this RFC 3339 instant (recurring jobs).
    #[arg(long, value_name = "RFC3339")]
    start_at: Option<String>,
    /// No tick after this RFC 3339 instant (recurring jobs); the job is then done.
    #[arg(long, value_name = "RFC3339")]
    end_at: Option<String>,
    /// Delete the job, history included, once it is done.
    #[arg(long)]
    delete_after_run: bool,
    /// The URL each tick is sent to.
    #[arg(long)]
    api: String,
    /// ATLEAST_ONCE or ATMOST_ONCE.
    #[arg(long = "type", default_value = "ATLEAST_ONCE")]
    delivery: String,
    /// Evaluate the schedule in this IANA time zone.
    #[arg(long)]
    timezone: Option<String>,
    /// Create the job paused.
    #[arg(long)]
    paused: bool,
    /// Spread the job's ticks: each fires at a deterministic offset below this many
    /// milliseconds (`jitterMs`; 0 turns off the server's default).
    #[arg(long)]
    jitter_ms: Option<u64>,
    /// More job settings as a JSON object, merged into the request (e.g. '{"timeoutMs":5000}').
    #[arg(long, value_name = "JSON")]
    settings: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// The most jobs to show.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// The cursor from the previous page (`nextCursor`).
    #[arg(long)]
    after: Option<String>,
    /// Only paused (true) or only active (false) jobs.
    #[arg(long)]
    paused: Option<bool>,
    /// Only jobs of this delivery type.
    #[arg(long = "type")]
    delivery: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct JobIdArg {
    /// The job's id.
    job_id: String,
}

/// `scheduler executions JOB_ID`.
#[derive(Debug, Args)]
pub(crate) struct ExecutionsArgs {
    /// The job's id.
    job_id: String,
    /// The most executions to show, newest first.
    #[arg(long, default_value_t = 5)]
    limit: usize,
    /// Only executions in this state (PENDING, RUNNING, SUCCEEDED, FAILED, ABANDONED, SKIPPED).
    #[arg(long)]
    status: Option<String>,
}

/// `scheduler health`.
#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// Keep asking, twice a second, until the server is healthy or this much time has passed
    /// (e.g. `30s`); without it, ask once.
    #[arg(long, value_parser = crate::serve_command::parse_duration)]
    wait: Option<Duration>,
    /// Ask only whether the server is live (`"live": true`): its engine runs, whatever the
    /// store says. A server in a store outage or with a lost database file answers 503 but is
    /// live, and restarting it would stop what still fires; use this for a supervisor that
    /// restarts the server. Without it, healthy means ready (a 200).
    #[arg(long)]
    live: bool,
}

/// The longest answer the client reads.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// How long `scheduler health --wait` pauses between two questions.
const HEALTH_POLL: Duration = Duration::from_millis(500);

/// Runs `health`: `GET /api/health`, once or until healthy (ready, or with `--live` live),
/// printing the last answer.
pub(crate) async fn run_health(server: &ServerArgs, args: HealthArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(server)?;
    let deadline = args.wait.map(|wait| tokio::time::Instant::now() + wait);
    loop {
        let answer = client.fetch(Method::GET, "/api/health", None).await;
        let healthy = match &answer {
            Ok(answer) if args.live => answer.is_live(),
            Ok(answer) => answer.is_success(),
            Err(_) => false,
        };
        let give_up = deadline.is_none_or(|deadline| tokio::time::Instant::now() >= deadline);
        if healthy || give_up {
            return match answer {
                Ok(answer) if args.live => Ok(answer.print_live()),
                Ok(answer) => Ok(answer.print()),
                Err(error) => Err(error),
            };
        }
        tokio::time::sleep(HEALTH_POLL).await;
    }
}

/// Runs one `jobs` command.
pub(crate) async fn run_jobs(
    server: &ServerArgs,
    command: JobsCommand,
) -> anyhow::Result<ExitCode> {
    let client = Client::new(server)?;
    match command {
        JobsCommand::Create(args) => {
            let mut body = Map::new();
            if let Some(settings) = &args.settings {
                match serde_json::from_str::<Value>(settings)
                    .context("--settings is not valid JSON")?
                {
                    Value::Object(settings) => body.extend(settings),
                    _ => bail!("--settings must be a JSON object"),
                }
            }
            let optional = [
                ("schedule", args.schedule),
                ("runAt", args.run_at),
                ("startAt", args.start_at),
                ("endAt", args.end_at),
            ];
            for (field, value) in optional {
                if let Some(value) = value {
                    body.insert(field.to_owned(), json!(value));
                }
            }
            if args.delete_after_run {
                body.insert("deleteAfterRun".to_owned(), json!(true));
            }
            body.insert("api".to_owned(), json!(args.api));
            body.insert("type".to_owned(), json!(args.delivery));
            if let Some(zone) = args.timezone {
                body.insert("timezone".to_owned(), json!(zone));
            }
            if args.paused {
                body.insert("paused".to_owned(), json!(true));
            }
            if let Some(jitter) = args.jitter_ms {
                body.insert("jitterMs".to_owned(), json!(jitter));
            }
            client
                .send(Method::POST, "/api/jobs", Some(Value::Object(body)))
                .await
        }
        JobsCommand::List(args) => {
            let mut query = vec![format!("limit={}", args.limit)];
            query.extend(args.after.map(|after| format!("after={}", encode(&after))));
            query.extend(args.paused.map(|paused| format!("paused={paused}")));
            query.extend(
                args.delivery
                    .map(|delivery| format!("type={}", encode(&delivery))),
            );
            client
                .send(Method::GET, &format!("/api/jobs?{}", query.join("&")), None)
                .await
        }
        JobsCommand::Get(JobIdArg { job_id }) => {
            client.send(Method::GET, &job_path(&job_id, ""), None).await
        }
        JobsCommand::Delete(JobIdArg { job_id }) => {
            client
                .send(Method::DELETE, &job_path(&job_id, ""), None)
                .await
        }
        JobsCommand::Pause(JobIdArg { job_id }) => {
            client
                .send(Method::POST, &job_path(&job_id, "/pause"), None)
                .await
        }
        JobsCommand::Resume(JobIdArg { job_id }) => {
            client
                .send(Method::POST, &job_path(&job_id, "/resume"), None)
                .await
        }
        JobsCommand::Trigger(JobIdArg { job_id }) => {
            client
                .send(Method::POST, &job_path(&job_id, "/trigger"), None)
                .await
        }
        JobsCommand::Export => transfer::export(&client).await,
        JobsCommand::Import(args) => transfer::import(&client, args).await,
    }
}

/// Runs `executions JOB_ID`.
pub(crate) async fn run_executions(
    server: &ServerArgs,
    args: ExecutionsArgs,
) -> anyhow::Result<ExitCode> {
    let client = Client::new(server)?;
    let mut path = format!(
        "{}?limit={}",
        job_path(&args.job_id, "/executions"),
        args.limit
    );
    if let Some(status) = &args.status {
        path.push_str(&format!("&status={}", encode(status)));
    }
    client.send(Method::GET, &path, None).await
}

fn job_path(job_id: &str, suffix: &str) -> String {
    format!("/api/jobs/{}{suffix}", encode(job_id))
}

/// Percent-encodes everything but unreserved characters, for path segments and query values.
fn encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

struct Client {
    base: String,
    token: Option<String>,
    transport: HttpTransport,
}

impl Client {
    fn new(server: &ServerArgs) -> anyhow::Result<Client> {
        let base = &server.server;
        let transport = HttpTransport::new(HttpTransportConfig {
            // A page of a thousand jobs is far larger than the default cap.
            max_response_body_bytes: MAX_ANSWER_BYTES,
            ..HttpTransportConfig::default()
        })
        .context("building the HTTP client")?;
        Ok(Client {
            base: base.trim_end_matches('/').to_owned(),
            token: server.token.clone(),
            transport,
        })
    }

    /// Sends a request, prints the answer, and says whether it was a success.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<ExitCode> {
        Ok(self.fetch(method, path, body).await?.print())
    }

    /// `Accept`, `Content-Type` (every request that changes state must be JSON or carry a
    /// token) and the token's `Authorization`, if one is given.
    fn headers(&self, content_type: &str) -> Vec<(String, String)> {
        let mut headers = vec![
            ("Accept".to_owned(), "application/json".to_owned()),
            ("Content-Type".to_owned(), content_type.to_owned()),
        ];
        if let Some(token) = &self.token {
            headers.push((
                "Authorization".to_owned(),
                format!("Bearer {}", token.trim()),
            ));
        }
        headers
    }

    /// Sends a request and returns the answer.
    async fn fetch(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Answer> {
        let body = body.map(|body| body.to_string()).unwrap_or_default();
        self.fetch_with(method, path, "application/json", body)
            .await
    }

    /// Sends a request with a body of `content_type` and returns the answer.
    async fn fetch_with(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: String,
    ) -> anyhow::Result<Answer> {
        let url = format!("{}{path}", self.base);
        let request = HttpRequest {
            method: method.clone(),
            url: url.clone(),
            headers: self.headers(content_type),
            body: body.into(),
            timeout: Duration::from_secs(120),
        };
        let response = self
            .transport
            .send_request(request)
            .await
            .with_context(|| format!("{method} {url}"))?;
        if response.body_truncated {
            bail!("{method} {url}: the answer is longer than {MAX_ANSWER_BYTES} bytes");
        }
        let text = String::from_utf8_lossy(&response.body);
        let (pretty, live) = match serde_json::from_str::<Value>(&text) {
            Ok(value) => (
                serde_json::to_string_pretty(&value).unwrap_or_else(|_| text.clone().into_owned()),
                value.get("live") == Some(&Value::Bool(true)),
            ),
            Err(_) => (text.clone().into_owned(), false),
        };
        Ok(Answer {
            what: format!("{method} {url}"),
            status: response.status,
            live,
            pretty,
        })
    }
}

/// A server's answer to one request, its JSON body pretty-printed.
struct Answer {
    /// The method and URL asked.
    what: String,
    status: u16,
    /// Whether the body is a JSON object with `"live": true` (a health answer).
    live: bool,
    pretty: String,
}

impl Answer {
    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Whether a health answer says the server is live, ready or not.
    fn is_live(&self) -> bool {
        self.live
    }

    /// Prints a health answer as [`Answer::print`] does, but says success when the server is
    /// live: to standard output, with the status on standard error when it is not a 200.
    fn print_live(self) -> ExitCode {
        if !self.is_live() {
            return self.print();
        }
        if !self.is_success() {
            eprintln!("{}: HTTP {} (live, not ready)", self.what, self.status);
        }
        println!("{}", self.pretty);
        ExitCode::SUCCESS
    }

    /// Prints the answer (to standard error when it is an error) and says whether it was a
    /// success.
    fn print(self) -> ExitCode {
        if self.is_success() {
            if !self.pretty.is_empty() {
                println!("{}", self.pretty);
            }
            ExitCode::SUCCESS
        } else {
            eprintln!("{}: HTTP {}", self.what, self.status);
            if !self.pretty.is_empty() {
                eprintln!("{}", self.pretty);
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn encodes_reserved_characters() {
        assert_eq!(encode("abc-1._~"), "abc-1._~");
        assert_eq!(encode("a b/c?d&e"), "a%20b%2Fc%3Fd%26e");
    }
}
