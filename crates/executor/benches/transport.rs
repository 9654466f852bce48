//! Requests per second through [`HttpTransport`] to a loopback hyper server, over kept-alive
//! HTTP/1.1 connections: one request at a time, and 64 in flight; and the CPU cost of turning
//! an engine attempt into its request (`prepare_attempt`), which every execution pays.
//!
//! Run with `cargo bench -p executor --bench transport`; criterion reports elements (requests)
//! per second as `thrpt`.

use std::convert::Infallible;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use executor::{HttpRequest, HttpTransport, HttpTransportConfig, Method};
use http_body_util::Full;
use hyper::Response;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use scheduler_core::{AttemptRequest, DeliveryType, ExecutionId, Job, JobId, JobSpec, Timestamp};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

fn loopback(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let addr = runtime.block_on(start_server());
    let transport = HttpTransport::new(HttpTransportConfig::default()).expect("a transport");
    let request = HttpRequest {
        method: Method::POST,
        url: format!("http://{addr}/hook"),
        headers: vec![("X-Scheduler-Job-Id".to_owned(), "bench".to_owned())],
        body: Bytes::from_static(b"{\"bench\":true}"),
        timeout: Duration::from_secs(10),
    };

    let mut group = c.benchmark_group("loopback_keep_alive");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sequential", |b| {
        b.iter(|| send(&runtime, &transport, request.clone()));
    });
    const IN_FLIGHT: u64 = 64;
    group.throughput(Throughput::Elements(IN_FLIGHT));
    group.bench_function("64_in_flight", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut tasks = JoinSet::new();
                for _ in 0..IN_FLIGHT {
                    let transport = transport.clone();
                    let request = request.clone();
                    tasks.spawn(async move { transport.send_request(request).await });
                }
                while let Some(result) = tasks.join_next().await {
                    let response = result.expect("the task ran").expect("a response");
                    black_box(response.status);
                }
            });
        });
    });
    group.finish();
}

fn send(runtime: &Runtime, transport: &HttpTransport, request: HttpRequest) -> u16 {
    let response = runtime
        .block_on(transport.send_request(request))
        .expect("a response");
    black_box(response.status)
}

/// A minimal hyper server on 127.0.0.1 that answers every request with 200 and a short body.
async fn start_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("a local address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_request| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                        b"{\"ok\":true}",
                    ))))
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// An attempt of a job with a body and one header of its own, as the engine hands it over.
fn prepare_attempt(c: &mut Criterion) {
    let transport = HttpTransport::new(HttpTransportConfig::default()).expect("a transport");
    let mut spec = JobSpec::new(
        "* * * * * *".parse().expect("a schedule"),
        "http://127.0.0.1:18080/hook",
        DeliveryType::AtLeastOnce,
    );
    spec.body = Some(Arc::from(&b"{\"bench\":true}"[..]));
    spec.headers = vec![("Authorization".to_owned(), "Bearer t0ken".to_owned())];
    let now = Timestamp::now();
    let job = Job {
        id: JobId::new_random(),
        spec,
        created_at: now,
        updated_at: now,
        next_fire_at: None,
        version: 1,
        done_at: None,
    };
    let attempt = AttemptRequest {
        job: Arc::new(job),
        execution_id: ExecutionId::new_time_ordered(),
        scheduled_at: now,
        attempt: 1,
        redelivery: false,
    };
    c.bench_function("prepare_attempt", |b| {
        b.iter(|| {
            transport
                .attempt_request(black_box(&attempt))
                .expect("a valid request")
        });
    });
}

criterion_group!(benches, loopback, prepare_attempt);
criterion_main!(benches);
