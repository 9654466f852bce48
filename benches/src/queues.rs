//! `harness queues`: every-second jobs published to NATS (JetStream) and RabbitMQ beside
//! every-second jobs to the HTTP sink, in one run of the scheduler binary. Each family gets
//! its own jobs; the harness subscribes to the subject and consumes the queue, and records each
//! message's arrival against its `X-Scheduler-Scheduled-Time` as the sink does for requests.

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amqprs::channel::{
    BasicConsumeArguments, Channel, ExchangeDeclareArguments, ExchangeDeleteArguments,
    QueueBindArguments, QueueDeclareArguments, QueueDeleteArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{FieldValue, ShortStr};
use anyhow::Context;
use clap::Args;
use futures_core::Stream;
use hdrhistogram::Histogram;

use crate::clock::{parse_duration, sleep_until_unix_millis, unix_millis, unix_nanos};
use crate::register::through_api;
use crate::sink::{Arrival, Sink};
use crate::target::BinaryScheduler;
use crate::ticks::{Delivery, DriftSummary, ScheduleKind, drift_summary};

#[derive(Debug, Args)]
pub(crate) struct QueuesArgs {
    /// The scheduler binary.
    #[arg(long, default_value = "target/release/scheduler")]
    pub(crate) scheduler_bin: PathBuf,
    /// Every-second jobs per family (HTTP, NATS, RabbitMQ).
    #[arg(long, default_value_t = 300)]
    pub(crate) jobs: usize,
    /// Their delivery type.
    #[arg(long, value_enum, default_value_t = Delivery::AtLeastOnce)]
    pub(crate) delivery: Delivery,
    /// The measured window (at most 5m).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub(crate) duration: Duration,
    /// From the end of registration to the window's start.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub(crate) warmup: Duration,
    /// NATS with JetStream.
    #[arg(long, default_value = "127.0.0.1:4222")]
    pub(crate) nats: String,
    /// RabbitMQ: host:port, user guest, vhost `/`.
    #[arg(long, default_value = "127.0.0.1:5672")]
    pub(crate) amqp: String,
}

type Arrivals = Arc<Mutex<Vec<Arrival>>>;

pub(crate) async fn run(args: QueuesArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.duration <= Duration::from_secs(300),
        "--duration is at most 5m"
    );
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let subject = format!("bench.queues.{tag}");
    let stream_name = format!("BENCH_{tag}");
    let (exchange, queue) = (format!("bench-x-{tag}"), format!("bench-q-{tag}"));

    let sink = Sink::start(Duration::ZERO, 0).await?;

    let nats = async_nats::connect(args.nats.as_str())
        .await
        .context("connecting to NATS")?;
    let jetstream = async_nats::jetstream::new(nats.clone());
    jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: stream_name.clone(),
            subjects: vec![subject.clone()],
            storage: async_nats::jetstream::stream::StorageType::Memory,
            max_messages: 100_000,
            ..Default::default()
        })
        .await
        .context("creating the JetStream stream")?;
    let nats_arrivals: Arrivals = Arc::default();
    let subscription = nats.subscribe(subject.clone()).await?;
    nats.flush().await?;
    let nats_reader = tokio::spawn(read_nats(subscription, Arc::clone(&nats_arrivals)));

    let (amqp_host, amqp_port) = args.amqp.rsplit_once(':').context("--amqp is host:port")?;
    let connection = Connection::open(&OpenConnectionArguments::new(
        amqp_host,
        amqp_port.parse()?,
        "guest",
        "guest",
    ))
    .await
    .context("connecting to RabbitMQ")?;
    let channel = connection.open_channel(None).await?;
    channel
        .exchange_declare(ExchangeDeclareArguments::new(&exchange, "direct"))
        .await?;
    channel
        .queue_declare(QueueDeclareArguments::new(&queue))
        .await?;
    channel
        .queue_bind(QueueBindArguments::new(&queue, &exchange, "tick"))
        .await?;
    let (_tag, mut deliveries) = channel
        .basic_consume_rx(
            BasicConsumeArguments::new(&queue, "bench")
                .manual_ack(false)
                .finish(),
        )
        .await?;
    let amqp_arrivals: Arrivals = Arc::default();
    let amqp_reader = tokio::spawn({
        let arrivals = Arc::clone(&amqp_arrivals);
        async move {
            while let Some(message) = deliveries.recv().await {
                let arrived_ns = unix_nanos();
                let headers = message.basic_properties.as_ref().and_then(|p| p.headers());
                let header = |name: &str| match headers?.get(&ShortStr::try_from(name).ok()?) {
                    Some(FieldValue::S(value)) => Some(value.to_string()),
                    _ => None,
                };
                if let Some(arrival) = arrival(
                    header("X-Scheduler-Job-Id"),
                    header("X-Scheduler-Scheduled-Time"),
                    arrived_ns,
                ) {
                    lock(&arrivals).push(arrival);
                }
            }
        }
    });

    let directory = tempfile::tempdir()?;
    let database = directory.path().join("queues.db");
    let log = directory.path().join("scheduler.log");
    let scheduler = BinaryScheduler::start(
        &args.scheduler_bin,
        database.as_os_str(),
        &[],
        &log,
        Duration::from_secs(60),
    )?;
    let targets = [
        ("http", sink.url()),
        ("nats", format!("nats://{}/{subject}", args.nats)),
        (
            "amqp",
            format!(
                "amqp://guest:guest@{}/%2f?exchange={exchange}&routingKey=tick",
                args.amqp
            ),
        ),
    ];
    let mut families: HashMap<u128, &'static str> = HashMap::new();
    for (family, url) in &targets {
        let (jobs, stats) = through_api(
            &[scheduler.api],
            url,
            (ScheduleKind::EverySecond, args.delivery),
            args.jobs,
            64,
            Duration::from_secs(120),
        )
        .await?;
        if let Some(error) = stats.first_error {
            anyhow::bail!("registering the {family} jobs: {error}");
        }
        families.extend(jobs.into_iter().map(|(id, _)| (id, *family)));
    }

    let start_ms = (unix_millis() + args.warmup.as_millis() as i64 + 999) / 1_000 * 1_000;
    let end_ms = start_ms + args.duration.as_millis() as i64;
    eprintln!(
        "{} jobs per family, every second, {}; measuring {:?} from {start_ms}",
        args.jobs,
        args.delivery.api_name(),
        args.duration
    );
    sleep_until_unix_millis(end_ms + 3_000).await;
    let (usage, _) = scheduler.stop(Duration::from_secs(10)).await?;

    let http = sink.take_arrivals();
    let nats_got = std::mem::take(&mut *lock(&nats_arrivals));
    let amqp_got = std::mem::take(&mut *lock(&amqp_arrivals));
    let expected = args.jobs as u64 * (end_ms - start_ms) as u64 / 1_000;
    let mut lines = Vec::new();
    for (family, arrivals) in [("http", &http), ("nats", &nats_got), ("amqp", &amqp_got)] {
        let summary = summarise(arrivals, &families, family, start_ms, end_ms)?;
        let per_second = summary.count as f64 / args.duration.as_secs_f64();
        println!(
            "{family:>5}: {} of {expected} ticks ({per_second:.0}/s), drift p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms",
            summary.count, summary.p50_ms, summary.p99_ms, summary.p999_ms, summary.max_ms
        );
        lines.push(serde_json::json!({
            "family": family, "expected": expected, "delivered": summary.count,
            "perSecond": per_second, "p50Ms": summary.p50_ms, "p99Ms": summary.p99_ms,
            "p999Ms": summary.p999_ms, "maxMs": summary.max_ms,
        }));
    }
    println!(
        "{}",
        serde_json::json!({
            "scenario": "queues", "jobsPerFamily": args.jobs,
            "delivery": args.delivery.api_name(), "durationS": args.duration.as_secs(),
            "schedulerCpuS": usage.cpu_seconds, "families": lines,
        })
    );

    nats_reader.abort();
    amqp_reader.abort();
    clean_up(&jetstream, &stream_name, &channel, &exchange, &queue).await;
    let _ = connection.close().await;
    Ok(())
}

async fn read_nats(mut subscription: async_nats::Subscriber, arrivals: Arrivals) {
    loop {
        let next = std::future::poll_fn(|cx| Pin::new(&mut subscription).poll_next(cx)).await;
        let Some(message) = next else { break };
        let arrived_ns = unix_nanos();
        let header = |name: &str| {
            message
                .headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_owned())
        };
        if let Some(arrival) = arrival(
            header("X-Scheduler-Job-Id"),
            header("X-Scheduler-Scheduled-Time"),
            arrived_ns,
        ) {
            lock(&arrivals).push(arrival);
        }
    }
}

fn arrival(job: Option<String>, scheduled: Option<String>, arrived_ns: i64) -> Option<Arrival> {
    let job = uuid::Uuid::parse_str(&job?).ok()?.as_u128();
    let scheduled: jiff::Timestamp = scheduled?.parse().ok()?;
    Some(Arrival {
        job,
        scheduled_ms: scheduled.as_millisecond(),
        arrived_ns,
    })
}

/// The drift of `family`'s arrivals whose tick is in the window, in microseconds.
fn summarise(
    arrivals: &[Arrival],
    families: &HashMap<u128, &'static str>,
    family: &str,
    start_ms: i64,
    end_ms: i64,
) -> anyhow::Result<DriftSummary> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    for arrival in arrivals {
        if families.get(&arrival.job) != Some(&family)
            || arrival.scheduled_ms < start_ms
            || arrival.scheduled_ms >= end_ms
        {
            continue;
        }
        let drift_us = (arrival.arrived_ns / 1_000 - arrival.scheduled_ms * 1_000).max(1);
        histogram.record(drift_us as u64)?;
    }
    Ok(drift_summary(&histogram))
}

async fn clean_up(
    jetstream: &async_nats::jetstream::Context,
    stream: &str,
    channel: &Channel,
    exchange: &str,
    queue: &str,
) {
    let _ = jetstream.delete_stream(stream).await;
    let _ = channel.queue_delete(QueueDeleteArguments::new(queue)).await;
    let _ = channel
        .exchange_delete(ExchangeDeleteArguments::new(exchange))
        .await;
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
