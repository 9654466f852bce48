//! `plan_claim` against a model that enumerates the schedule's ticks from the watermark and
//! applies the misfire policy by its definition.

use proptest::prelude::*;
use scheduler_core::{
    ClaimRequest, DeliveryType, Job, JobId, JobSpec, MisfirePolicy, Schedule, Timestamp, plan_claim,
};

/// The schedules drawn from: sparse and dense, regular and irregular.
const SCHEDULES: &[&str] = &[
    "* * * * * *",
    "*/5 * * * * *",
    "*/7 * * * * *",
    "0 * * * * *",
    "15,45 * * * * *",
    "30 */2 * * * *",
    "0 0 * * * *",
];

/// The instant the cases are drawn around.
fn origin() -> Timestamp {
    Timestamp::from_second(1_767_225_600).expect("a valid timestamp")
}

fn seconds_after_origin(seconds: i64) -> Timestamp {
    Timestamp::from_second(origin().as_second() + seconds).expect("a valid timestamp")
}

/// What the model expects: the planned ticks, the new watermark, the misfired count.
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    ticks: Vec<Timestamp>,
    next_fire_at: Option<Timestamp>,
    misfired: u64,
}

/// The plan by definition: list the ticks from the watermark; those before `missed_before`
/// are missed, and the policy keeps the most recent of them (as many as
/// the budget allows); the rest of the missed are dropped and counted. Then the ticks up to
/// `due_before` are taken while the budget lasts; the watermark is the first tick not planned
/// or dropped.
fn model(spec: &JobSpec, watermark: Timestamp, request: &ClaimRequest, budget: usize) -> Expected {
    let cutoff = request.missed_before;
    let mut missed = Vec::new();
    let mut next = Some(watermark);
    while let Some(tick) = next.filter(|tick| *tick < cutoff) {
        missed.push(tick);
        next = spec.next_fire_after(tick);
    }
    let keep = match spec.misfire {
        MisfirePolicy::FireOnceNow => 1,
        MisfirePolicy::SkipToNext => 0,
        MisfirePolicy::CatchUp { max } => max as usize,
    }
    .min(budget)
    .min(missed.len());
    let mut ticks = missed.split_off(missed.len() - keep);
    let misfired = missed.len() as u64;
    while let Some(tick) = next.filter(|tick| *tick <= request.due_before) {
        if ticks.len() >= budget {
            break;
        }
        ticks.push(tick);
        next = spec.next_fire_after(tick);
    }
    Expected {
        ticks,
        next_fire_at: next,
        misfired,
    }
}

fn policy() -> impl Strategy<Value = MisfirePolicy> {
    prop_oneof![
        Just(MisfirePolicy::FireOnceNow),
        Just(MisfirePolicy::SkipToNext),
        (0..5u32).prop_map(|max| MisfirePolicy::CatchUp { max }),
    ]
}

/// Milliseconds below `max`, whole seconds half the time: ticks fall on whole seconds, and
/// the boundaries (a tick exactly at the cutoff or at `due_before`) must come up.
fn millis(max: i64) -> impl Strategy<Value = i64> {
    prop_oneof![0..max, (0..max / 1_000).prop_map(|seconds| seconds * 1_000)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn plan_claim_matches_the_model(
        schedule in proptest::sample::select(SCHEDULES),
        policy in policy(),
        // Up to an hour behind (fewer missed ticks than the count's bound) or a minute ahead.
        watermark_from in -3_600i64..60,
        now_millis in millis(2_000),
        // How far before `now` missed ticks end: a threshold, or the engine's start.
        missed_before_millis in millis(120_000),
        look_ahead_millis in millis(10_000),
        budget in 0usize..12,
    ) {
        let schedule: Schedule = schedule.parse().expect("a valid schedule");
        let mut spec = JobSpec::new(schedule, "http://target.test/hook", DeliveryType::AtLeastOnce);
        spec.misfire = policy;
        // A watermark is always a tick of its schedule.
        let watermark = spec
            .next_fire_at_or_after(seconds_after_origin(watermark_from))
            .expect("the schedule has a next tick");
        let now = Timestamp::from_millisecond(origin().as_millisecond() + now_millis)
            .expect("a valid timestamp");
        let request = ClaimRequest {
            now,
            due_before: Timestamp::from_millisecond(
                now.as_millisecond() + look_ahead_millis,
            )
            .expect("a valid timestamp"),
            limit: budget,
            owner: "node".to_owned(),
            lease_until: now,
            missed_before: Timestamp::from_millisecond(now.as_millisecond() - missed_before_millis)
                .expect("a valid timestamp"),
        };
        let job = Job {
            id: JobId::new_random(),
            spec,
            created_at: origin(),
            updated_at: origin(),
            next_fire_at: Some(watermark),
            version: 1,
            done_at: None,
        };
        let plan = plan_claim(&job, &request, budget);
        let expected = model(&job.spec, watermark, &request, budget);
        prop_assert_eq!(
            Expected {
                ticks: plan.ticks,
                next_fire_at: plan.next_fire_at,
                misfired: plan.misfired,
            },
            expected
        );
    }
}

#[test]
fn a_job_without_a_watermark_plans_nothing() {
    let schedule: Schedule = "* * * * * *".parse().expect("a valid schedule");
    let job = Job {
        id: JobId::new_random(),
        spec: JobSpec::new(
            schedule,
            "http://target.test/hook",
            DeliveryType::AtLeastOnce,
        ),
        created_at: origin(),
        updated_at: origin(),
        next_fire_at: None,
        version: 1,
        done_at: None,
    };
    let request = ClaimRequest {
        now: origin(),
        due_before: seconds_after_origin(10),
        limit: 10,
        owner: "node".to_owned(),
        lease_until: origin(),
        missed_before: seconds_after_origin(-10),
    };
    let plan = plan_claim(&job, &request, 10);
    assert_eq!(
        (plan.ticks, plan.next_fire_at, plan.misfired),
        (Vec::new(), None, 0)
    );
}
