//! Isolation between target hosts: a per-host limit on attempts in flight, and free slots
//! shared in round robin between the hosts with executions waiting.

use std::sync::Arc;
use std::time::Duration;

use scheduler_core::testing::FakeReply;
use scheduler_core::{DeliveryType, EngineConfig, ExecutionStatus, MemoryStore};

use crate::support::{Harness, at, config, spec};

async fn harness_with(max_in_flight: usize, max_in_flight_per_host: usize) -> Harness {
    let config = EngineConfig {
        max_in_flight,
        max_in_flight_per_host,
        ..config()
    };
    Harness::start_with(config, Arc::new(MemoryStore::new())).await
}

#[tokio::test]
async fn a_hanging_host_holds_only_its_own_slots_and_delays_no_other_hosts_ticks() {
    // Six slots in all: without the per-host limit the hanging host's ticks would hold all
    // of them within two seconds, and the healthy host's ticks would wait for ever.
    let harness = harness_with(6, 2).await;
    let hanging = "http://hanging.test/hook";
    harness.transport.script(hanging, vec![FakeReply::Hang]);
    let mut hanging_jobs = Vec::new();
    for _ in 0..3 {
        let job = spec("* * * * * *", hanging, DeliveryType::AtLeastOnce);
        hanging_jobs.push(harness.create(job).await);
    }
    let mut healthy_jobs = Vec::new();
    for _ in 0..2 {
        let job = spec(
            "* * * * * *",
            "http://healthy.test:8080/hook",
            DeliveryType::AtLeastOnce,
        );
        healthy_jobs.push(harness.create(job).await);
    }
    let seconds = 20;
    for second in 1..=seconds {
        // Two hanging attempts in all (the limit), and both healthy ticks of every second.
        harness
            .advance_to_and_expect_sent(at(second), 2 + 2 * second as usize)
            .await;
    }
    let expected_waiting = 3 * seconds as u64 - 2;
    harness
        .metrics_until(
            "the hanging host at its limit, its other ticks queued",
            |m| {
                m.in_flight == 2
                    && m.waiting == expected_waiting
                    && m.waiting_on_host == expected_waiting
                    && m.succeeded == 2 * seconds as u64
            },
        )
        .await;
    let sent = harness.transport.sent();
    assert_eq!(sent.iter().filter(|s| s.url == hanging).count(), 2);
    for job in &healthy_jobs {
        let sends = harness.sent_for(job);
        assert_eq!(sends.len(), seconds as usize);
        assert!(
            sends.iter().all(|s| s.sent_at == s.scheduled_at),
            "every healthy tick goes out at its instant: {sends:?}"
        );
    }
    harness.engine.shutdown(Duration::ZERO).await;
    for job in &healthy_jobs {
        // Ticks claimed beyond the last second stay pending for the next start.
        let executions: Vec<_> = harness
            .executions_of(job)
            .into_iter()
            .filter(|e| e.scheduled_at <= at(seconds))
            .collect();
        assert_eq!(executions.len(), seconds as usize);
        assert!(
            executions
                .iter()
                .all(|e| e.status == ExecutionStatus::Succeeded),
            "{executions:?}"
        );
    }
}

#[tokio::test]
async fn the_per_host_limit_holds_and_queued_ticks_go_as_the_hosts_slots_free() {
    let harness = harness_with(100, 3).await;
    let slow = "http://slow.test/hook";
    harness
        .transport
        .script(slow, vec![FakeReply::Delayed(200, Duration::from_secs(5))]);
    for _ in 0..5 {
        harness
            .create(spec("0 0 * * * *", slow, DeliveryType::AtLeastOnce))
            .await;
    }
    let other = harness
        .create(spec(
            "0 0 * * * *",
            "http://other.test/hook",
            DeliveryType::AtLeastOnce,
        ))
        .await;
    harness.advance_to_and_expect_sent(at(3_600), 4).await;
    harness
        .metrics_until(
            "three slow attempts in flight, two waiting on their host",
            |m| m.in_flight == 3 && m.waiting == 2 && m.waiting_on_host == 2 && m.succeeded == 1,
        )
        .await;
    assert_eq!(harness.sent_for(&other)[0].sent_at, at(3_600));
    // Nothing more goes to the slow host until its first attempts answer.
    harness.clock.advance_to(at(3_604));
    assert_eq!(harness.transport.sent_count(), 4);
    harness.advance_to_and_expect_sent(at(3_605), 6).await;
    harness
        .metrics_until("the last two in flight", |m| {
            m.in_flight == 2 && m.waiting == 0 && m.waiting_on_host == 0
        })
        .await;
    let mut slow_sent_at: Vec<_> = harness
        .transport
        .sent()
        .iter()
        .filter(|s| s.url == slow)
        .map(|s| s.sent_at)
        .collect();
    slow_sent_at.sort();
    assert_eq!(
        slow_sent_at,
        [at(3_600), at(3_600), at(3_600), at(3_605), at(3_605)]
    );
}

#[tokio::test]
async fn free_slots_go_round_robin_between_the_hosts_with_work_waiting() {
    // One slot, three hosts with three ticks each at the same instant, each attempt answered
    // after a second: the slot passes from host to host, not through one host's ticks first.
    let harness = harness_with(1, 10).await;
    let hosts = ["http://a.test/", "http://b.test/", "http://c.test/"];
    for url in hosts {
        harness
            .transport
            .script(url, vec![FakeReply::Delayed(200, Duration::from_secs(1))]);
        for _ in 0..3 {
            harness
                .create(spec("0 0 * * * *", url, DeliveryType::AtLeastOnce))
                .await;
        }
    }
    for n in 0..9 {
        harness
            .advance_to_and_expect_sent(at(3_600 + n), n as usize + 1)
            .await;
    }
    let order: Vec<String> = harness
        .transport
        .sent()
        .into_iter()
        .map(|s| s.url)
        .collect();
    for round in order.chunks(3) {
        let mut round = round.to_vec();
        round.sort();
        assert_eq!(round, hosts, "each round serves every host once: {order:?}");
    }
}
