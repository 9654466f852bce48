//! Message-queue targets against the real brokers: NATS (with JetStream) at
//! `SCHEDULER_TEST_NATS_URL` and RabbitMQ at `SCHEDULER_TEST_AMQP_URL` (`.ci/run` sets both).
//! Without a variable, its tests say so and pass without running. Every test uses its own
//! subjects, streams, exchanges and queues, and removes them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use executor::{
    BrokerConnectionState, QueueTransport, QueueTransportConfig, SIGNATURE_HEADER, SigningSecret,
    TargetPolicy, TargetRule, signature_header_value,
};
use scheduler_core::{
    AttemptError, AttemptOutcome, DeliveryType, ExecutionId, HEADER_ATTEMPT, HEADER_EXECUTION_ID,
    HEADER_JOB_ID, HEADER_SCHEDULED_TIME, Job, JobSpec, Transport,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::attempts::{attempt, job};

/// The broker address in `variable`, or `None` after saying the test is skipped.
fn broker(variable: &str, test: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!("skipped {test}: set {variable} to run it against a real broker");
            None
        }
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ExecutionId::new_time_ordered().0.simple())
}

fn queue_transport(secrets: Vec<SigningSecret>) -> QueueTransport {
    QueueTransport::new(QueueTransportConfig {
        signing_secrets: secrets,
        target_policy: TargetPolicy::default(),
    })
}

fn queue_job(url: String, delivery: DeliveryType) -> Arc<Job> {
    job(url, |spec: &mut JobSpec| {
        spec.delivery = delivery;
        spec.attempt_timeout = Duration::from_secs(5);
    })
}

/// `host:port` of a `scheme://[user[:password]@]host:port/...` URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_owned()
}

/// Sends attempts of `job` until one succeeds, within `deadline`.
async fn send_until_delivered(
    transport: &QueueTransport,
    job: &Arc<Job>,
    deadline: Duration,
) -> AttemptOutcome {
    let started = Instant::now();
    let mut number = 1;
    loop {
        match transport
            .send(attempt(job, ExecutionId::new_time_ordered(), number))
            .await
        {
            Ok(outcome) => return outcome,
            Err(error) => {
                assert!(
                    started.elapsed() < deadline,
                    "not delivered within {deadline:?}: {error}"
                );
                assert!(error.is_retryable(), "{error}");
            }
        }
        number += 1;
        // The client reconnects in the background: poll again shortly.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A loopback TCP proxy to a broker that a test can cut (close every connection and refuse
/// new ones) and restore.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let up = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let accept = tokio::spawn({
            let up = Arc::clone(&up);
            let connections = Arc::clone(&connections);
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let upstream = upstream.clone();
                    let task = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(&upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    connections.lock().await.push(task);
                }
            }
        });
        Proxy {
            port,
            up,
            connections,
            accept,
        }
    }

    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.connections.lock().await.drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

mod nats {
    use std::pin::Pin;

    use async_nats::jetstream;
    use futures_core::Stream;

    use super::*;

    /// The subscription's next message, within 10 seconds.
    async fn next(subscription: &mut async_nats::Subscriber) -> Option<async_nats::Message> {
        let message =
            std::future::poll_fn(|context| Pin::new(&mut *subscription).poll_next(context));
        tokio::time::timeout(Duration::from_secs(10), message)
            .await
            .ok()
            .flatten()
    }

    async fn client(url: &str) -> async_nats::Client {
        async_nats::connect(url).await.expect("connect to NATS")
    }

    /// A stream on `subject`, deleted by the caller.
    async fn stream(client: &async_nats::Client, name: &str, subject: &str) -> jetstream::Context {
        let context = jetstream::new(client.clone());
        context
            .create_stream(jetstream::stream::Config {
                name: name.to_owned(),
                subjects: vec![subject.to_owned()],
                max_messages: 100,
                ..Default::default()
            })
            .await
            .expect("create stream");
        context
    }

    #[tokio::test]
    async fn at_least_once_succeeds_when_the_stream_acknowledges_with_headers_and_signature() {
        let Some(url) = broker("SCHEDULER_TEST_NATS_URL", "nats at least once") else {
            return;
        };
        let client = client(&url).await;
        let subject = unique("sched.test").replace('-', ".");
        let name = unique("SCHED");
        let context = stream(&client, &name, &subject).await;
        let mut subscription = client.subscribe(subject.clone()).await.expect("subscribe");
        client.flush().await.expect("flush");

        let secret = SigningSecret::new("s3cret");
        let transport = queue_transport(vec![secret.clone()]);
        let job = queue_job(
            format!("nats://{}/{subject}", host_port(&url)),
            DeliveryType::AtLeastOnce,
        );
        let execution = ExecutionId::new_time_ordered();
        let outcome = transport
            .send(attempt(&job, execution, 2))
            .await
            .expect("acknowledged");
        assert_eq!(outcome.http_status(), None);

        let message = next(&mut subscription).await.expect("a message");
        assert_eq!(&message.payload[..], b"{\"report\":\"daily\"}");
        let headers = message.headers.expect("headers");
        let header = |name: &str| headers.get(name).map(|v| v.as_str().to_owned());
        assert_eq!(header(HEADER_JOB_ID), Some(job.id.to_string()));
        assert_eq!(header(HEADER_EXECUTION_ID), Some(execution.to_string()));
        assert_eq!(
            header(HEADER_SCHEDULED_TIME).as_deref(),
            Some("2026-11-30T01:10:31Z")
        );
        assert_eq!(header(HEADER_ATTEMPT).as_deref(), Some("2"));
        assert_eq!(header("Authorization").as_deref(), Some("Bearer t0ken"));
        let signature = header(SIGNATURE_HEADER).expect("signed");
        let t: u64 = signature
            .strip_prefix("t=")
            .and_then(|rest| rest.split(',').next())
            .and_then(|t| t.parse().ok())
            .expect("t=");
        assert_eq!(
            Some(signature.clone()),
            signature_header_value(&[secret], t, &message.payload)
        );

        let info = context
            .get_stream(&name)
            .await
            .expect("stream")
            .info()
            .await
            .expect("info")
            .state
            .messages;
        assert_eq!(info, 1, "the stream stored the message it acknowledged");
        let statuses = transport.connections();
        assert_eq!(statuses.len(), 1);
        assert_eq!(statuses[0].kind, "nats");
        assert_eq!(statuses[0].state, BrokerConnectionState::Connected);
        context.delete_stream(&name).await.expect("delete stream");
    }

    #[tokio::test]
    async fn at_least_once_without_a_stream_fails_and_is_retryable() {
        let Some(url) = broker("SCHEDULER_TEST_NATS_URL", "nats without a stream") else {
            return;
        };
        let subject = unique("sched.nostream").replace('-', ".");
        let transport = queue_transport(Vec::new());
        let job = queue_job(
            format!("nats://{}/{subject}", host_port(&url)),
            DeliveryType::AtLeastOnce,
        );
        let error = transport
            .send(attempt(&job, ExecutionId::new_time_ordered(), 1))
            .await
            .expect_err("no stream acknowledges");
        assert!(error.is_retryable(), "{error}");
        assert!(error.to_string().contains("nats:"), "{error}");
    }

    #[tokio::test]
    async fn at_most_once_publishes_without_a_stream() {
        let Some(url) = broker("SCHEDULER_TEST_NATS_URL", "nats at most once") else {
            return;
        };
        let client = client(&url).await;
        let subject = unique("sched.amo").replace('-', ".");
        let mut subscription = client.subscribe(subject.clone()).await.expect("subscribe");
        client.flush().await.expect("flush");
        let transport = queue_transport(Vec::new());
        let job = queue_job(
            format!("nats://{}/{subject}", host_port(&url)),
            DeliveryType::AtMostOnce,
        );
        let execution = ExecutionId::new_time_ordered();
        transport
            .send(attempt(&job, execution, 1))
            .await
            .expect("published");
        let message = next(&mut subscription).await.expect("a message");
        let headers = message.headers.expect("headers");
        assert_eq!(
            headers
                .get(HEADER_EXECUTION_ID)
                .map(|v| v.as_str().to_owned()),
            Some(execution.to_string())
        );
        assert!(headers.get(SIGNATURE_HEADER).is_none(), "signing is off");
    }

    #[tokio::test]
    async fn a_cut_connection_fails_attempts_until_the_client_reconnects() {
        let Some(url) = broker("SCHEDULER_TEST_NATS_URL", "nats connection cut") else {
            return;
        };
        let client = client(&url).await;
        let subject = unique("sched.cut").replace('-', ".");
        let name = unique("SCHEDCUT");
        let context = stream(&client, &name, &subject).await;
        let proxy = Proxy::start(host_port(&url)).await;
        let transport = queue_transport(Vec::new());
        let job = queue_job(
            format!("nats://127.0.0.1:{}/{subject}", proxy.port),
            DeliveryType::AtLeastOnce,
        );
        send_until_delivered(&transport, &job, Duration::from_secs(10)).await;

        proxy.cut().await;
        let error = transport
            .send(attempt(&job, ExecutionId::new_time_ordered(), 1))
            .await
            .expect_err("the broker is cut off");
        assert!(error.is_retryable(), "{error}");

        proxy.restore();
        send_until_delivered(&transport, &job, Duration::from_secs(30)).await;
        assert_eq!(
            transport.connections()[0].state,
            BrokerConnectionState::Connected
        );
        context.delete_stream(&name).await.expect("delete stream");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_connect_failure() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        let transport = queue_transport(Vec::new());
        let job = queue_job(
            format!("nats://127.0.0.1:{port}/sched.nowhere"),
            DeliveryType::AtLeastOnce,
        );
        let error = transport
            .send(attempt(&job, ExecutionId::new_time_ordered(), 1))
            .await
            .expect_err("nothing listens");
        assert!(matches!(error, AttemptError::Connect(_)), "{error}");
        assert_eq!(
            transport.connections()[0].state,
            BrokerConnectionState::Connecting
        );
    }

    #[tokio::test]
    async fn the_target_policy_applies_to_brokers() {
        let transport = QueueTransport::new(QueueTransportConfig {
            signing_secrets: Vec::new(),
            target_policy: TargetPolicy {
                deny: vec!["127.0.0.0/8".parse::<TargetRule>().expect("rule")],
                ..TargetPolicy::default()
            },
        });
        let job = queue_job(
            "nats://127.0.0.1:4222/sched.denied".to_owned(),
            DeliveryType::AtLeastOnce,
        );
        let error = transport
            .send(attempt(&job, ExecutionId::new_time_ordered(), 1))
            .await
            .expect_err("refused");
        assert!(matches!(error, AttemptError::InvalidRequest(_)), "{error}");
        assert!(error.to_string().contains("target policy"), "{error}");
    }
}

mod amqp {
    use amqprs::channel::{
        BasicGetArguments, Channel, ExchangeDeclareArguments, ExchangeDeleteArguments,
        QueueBindArguments, QueueDeclareArguments, QueueDeleteArguments,
    };
    use amqprs::connection::{Connection, OpenConnectionArguments};
    use amqprs::{FieldValue, ShortStr};

    use super::*;

    /// The test's own connection, and the broker's `user:password@host:port/vhost` part.
    async fn connect(url: &str) -> (Connection, Channel, String) {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let (authority, vhost) = rest.split_once('/').unwrap_or((rest, "%2f"));
        let (credentials, address) = authority
            .rsplit_once('@')
            .unwrap_or(("guest:guest", authority));
        let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
        let (host, port) = address.rsplit_once(':').unwrap_or((address, "5672"));
        let vhost_name = if vhost.is_empty() || vhost.eq_ignore_ascii_case("%2f") {
            "/"
        } else {
            vhost
        };
        let arguments =
            OpenConnectionArguments::new(host, port.parse().expect("port"), user, password)
                .virtual_host(vhost_name)
                .finish();
        let connection = Connection::open(&arguments)
            .await
            .expect("connect to RabbitMQ");
        let channel = connection.open_channel(None).await.expect("channel");
        (
            connection,
            channel,
            format!("{credentials}@{address}/{vhost}"),
        )
    }

    /// A direct exchange with a queue bound by `key`.
    async fn exchange_and_queue(channel: &Channel, exchange: &str, queue: &str, key: &str) {
        channel
            .exchange_declare(
                ExchangeDeclareArguments::new(exchange, "direct")
                    .auto_delete(true)
                    .finish(),
            )
            .await
            .expect("declare exchange");
        channel
            .queue_declare(QueueDeclareArguments::new(queue).finish())
            .await
            .expect("declare queue");
        channel
            .queue_bind(QueueBindArguments::new(queue, exchange, key))
            .await
            .expect("bind");
    }

    async fn clean_up(channel: &Channel, exchange: &str, queue: &str) {
        let _ = channel.queue_delete(QueueDeleteArguments::new(queue)).await;
        let _ = channel
            .exchange_delete(ExchangeDeleteArguments::new(exchange))
            .await;
    }

    #[tokio::test]
    async fn at_least_once_succeeds_on_the_confirm_with_headers_and_signature() {
        let Some(url) = broker("SCHEDULER_TEST_AMQP_URL", "amqp at least once") else {
            return;
        };
        let (_connection, channel, base) = connect(&url).await;
        let (exchange, queue) = (unique("sched-x"), unique("sched-q"));
        exchange_and_queue(&channel, &exchange, &queue, "run").await;

        let secret = SigningSecret::new("s3cret");
        let transport = queue_transport(vec![secret.clone()]);
        let job = queue_job(
            format!("amqp://{base}?exchange={exchange}&routingKey=run"),
            DeliveryType::AtLeastOnce,
        );
        let execution = ExecutionId::new_time_ordered();
        let outcome = transport
            .send(attempt(&job, execution, 3))
            .await
            .expect("confirmed");
        assert_eq!(outcome.http_status(), None);

        let message = channel
            .basic_get(BasicGetArguments::new(&queue).no_ack(true).finish())
            .await
            .expect("get")
            .expect("a message in the queue");
        let (_, properties, body) = message;
        assert_eq!(body, b"{\"report\":\"daily\"}");
        let headers = properties.headers().expect("headers").clone();
        let header = |name: &str| match headers.get(&ShortStr::try_from(name).expect("name")) {
            Some(FieldValue::S(value)) => Some(value.to_string()),
            _ => None,
        };
        assert_eq!(header(HEADER_JOB_ID), Some(job.id.to_string()));
        assert_eq!(header(HEADER_EXECUTION_ID), Some(execution.to_string()));
        assert_eq!(header(HEADER_ATTEMPT).as_deref(), Some("3"));
        assert_eq!(
            header(HEADER_SCHEDULED_TIME).as_deref(),
            Some("2026-11-30T01:10:31Z")
        );
        let signature = header(SIGNATURE_HEADER).expect("signed");
        let t: u64 = signature
            .strip_prefix("t=")
            .and_then(|rest| rest.split(',').next())
            .and_then(|t| t.parse().ok())
            .expect("t=");
        assert_eq!(
            Some(signature.clone()),
            signature_header_value(&[secret], t, &body)
        );
        assert_eq!(properties.message_id(), Some(&execution.to_string()));
        let statuses = transport.connections();
        assert_eq!(statuses[0].kind, "amqp");
        assert_eq!(statuses[0].state, BrokerConnectionState::Connected);
        assert!(!statuses[0].server.contains("guest:"), "{:?}", statuses[0]);
        clean_up(&channel, &exchange, &queue).await;
    }

    #[tokio::test]
    async fn an_unroutable_or_refused_message_fails_and_is_retryable() {
        let Some(url) = broker("SCHEDULER_TEST_AMQP_URL", "amqp returned") else {
            return;
        };
        let (_connection, channel, base) = connect(&url).await;
        let (exchange, queue) = (unique("sched-x"), unique("sched-q"));
        exchange_and_queue(&channel, &exchange, &queue, "run").await;
        let transport = queue_transport(Vec::new());

        // No queue is bound with this key: the broker returns the message.
        let unroutable = queue_job(
            format!("amqp://{base}?exchange={exchange}&routingKey=nobody"),
            DeliveryType::AtLeastOnce,
        );
        let error = transport
            .send(attempt(&unroutable, ExecutionId::new_time_ordered(), 1))
            .await
            .expect_err("returned");
        assert!(error.is_retryable(), "{error}");
        assert!(error.to_string().contains("returned"), "{error}");

        // No such exchange: the broker closes the channel; the next attempt opens another.
        let missing = queue_job(
            format!(
                "amqp://{base}?exchange={}&routingKey=run",
                unique("sched-none")
            ),
            DeliveryType::AtLeastOnce,
        );
        let error = transport
            .send(attempt(&missing, ExecutionId::new_time_ordered(), 1))
            .await
            .expect_err("no exchange");
        assert!(error.is_retryable(), "{error}");
        assert!(error.to_string().contains("amqp"), "{error}");

        let routable = queue_job(
            format!("amqp://{base}?exchange={exchange}&routingKey=run"),
            DeliveryType::AtLeastOnce,
        );
        send_until_delivered(&transport, &routable, Duration::from_secs(10)).await;
        clean_up(&channel, &exchange, &queue).await;
    }

    #[tokio::test]
    async fn at_most_once_does_not_wait_for_the_confirm() {
        let Some(url) = broker("SCHEDULER_TEST_AMQP_URL", "amqp at most once") else {
            return;
        };
        let (_connection, channel, base) = connect(&url).await;
        let (exchange, queue) = (unique("sched-x"), unique("sched-q"));
        exchange_and_queue(&channel, &exchange, &queue, "run").await;
        let transport = queue_transport(Vec::new());
        // Returned, but at most once nobody waits to hear it: the attempt succeeds.
        let unroutable = queue_job(
            format!("amqp://{base}?exchange={exchange}&routingKey=nobody"),
            DeliveryType::AtMostOnce,
        );
        transport
            .send(attempt(&unroutable, ExecutionId::new_time_ordered(), 1))
            .await
            .expect("handed over");
        let job = queue_job(
            format!("amqp://{base}?exchange={exchange}&routingKey=run"),
            DeliveryType::AtMostOnce,
        );
        transport
            .send(attempt(&job, ExecutionId::new_time_ordered(), 1))
            .await
            .expect("handed over");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = channel
                .basic_get(BasicGetArguments::new(&queue).no_ack(true).finish())
                .await
                .expect("get");
            if got.is_some() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the message never reached the queue"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        clean_up(&channel, &exchange, &queue).await;
    }

    #[tokio::test]
    async fn a_cut_connection_fails_attempts_until_the_next_one_reconnects() {
        let Some(url) = broker("SCHEDULER_TEST_AMQP_URL", "amqp connection cut") else {
            return;
        };
        let (_connection, channel, base) = connect(&url).await;
        let (exchange, queue) = (unique("sched-x"), unique("sched-q"));
        exchange_and_queue(&channel, &exchange, &queue, "run").await;
        let proxy = Proxy::start(host_port(&url)).await;
        let (credentials, rest) = base.split_once('@').expect("user info");
        let vhost = rest.split_once('/').map_or("%2f", |(_, vhost)| vhost);
        let transport = queue_transport(Vec::new());
        let job = queue_job(
            format!(
                "amqp://{credentials}@127.0.0.1:{}/{vhost}?exchange={exchange}&routingKey=run",
                proxy.port
            ),
            DeliveryType::AtLeastOnce,
        );
        send_until_delivered(&transport, &job, Duration::from_secs(10)).await;

        proxy.cut().await;
        let error = transport
            .send(attempt(&job, ExecutionId::new_time_ordered(), 1))
            .await
            .expect_err("the broker is cut off");
        assert!(error.is_retryable(), "{error}");
        let status = &transport.connections()[0];
        assert_eq!(status.state, BrokerConnectionState::Disconnected);
        assert!(status.last_error.is_some());

        proxy.restore();
        send_until_delivered(&transport, &job, Duration::from_secs(30)).await;
        assert_eq!(
            transport.connections()[0].state,
            BrokerConnectionState::Connected
        );
        clean_up(&channel, &exchange, &queue).await;
    }
}
