//! The store contract as executable checks. Every [`Store`] implementation runs them:
//!
//! ```text
//! async fn make_store() -> Arc<SqliteStore> { Arc::new(SqliteStore::open_temporary().unwrap()) }
//! scheduler_core::store_conformance_tests!(make_store);
//! ```
//!
//! The macro expands to one `#[test]` per check, each on a fresh store from the given async
//! function, on a current-thread tokio runtime. The checks can also be called one by one. They
//! are grouped by the capability trait they hold a store to: `jobs`, `claims`, `history`,
//! `recovery` (with leases and membership) and `retention`; `ending` holds jobs that end
//! (one-off jobs, windows, done marking).

use std::sync::Arc;
use std::time::Duration;

use cron_expr::{Schedule, Timestamp};

use crate::domain::{
    DeliveryType, Execution, ExecutionStatus, ExecutionTrigger, Job, JobId, JobSpec, MisfirePolicy,
};
use crate::error::Error;
use crate::store::{
    ClaimRequest, ClaimedTick, ExecutionQuery, JobCounts, JobQuery, NextFire, RetentionPolicy,
    Store,
};
use crate::time;

mod claims;
mod ending;
mod history;
mod jobs;
mod recovery;
mod retention;

pub use claims::*;
pub use ending::*;
pub use history::*;
pub use jobs::*;
pub use recovery::*;
pub use retention::*;

/// One conformance check: runs against the store it is given, and panics on a broken promise.
pub type Check = for<'a> fn(&'a dyn Store) -> crate::BoxFuture<'a, ()>;

/// Expands to one `#[test]` per conformance check. Two forms:
///
/// - `store_conformance_tests!(make_store)`: each check on a fresh store from `make_store`, an
///   async function (or closure returning a future) that returns a pointer to a [`Store`], on a
///   current-thread tokio runtime with every driver enabled.
/// - `store_conformance_tests!(run_with: run)`: each check through `run(name, check)`, a
///   function of the caller's, `fn(&'static str, Check)`, that makes a store, runs the check on
///   it and cleans up: for a store that needs a server (and skips, saying so, without one), a
///   runtime of its own, or clean-up after the check.
#[macro_export]
macro_rules! store_conformance_tests {
    (run_with: $run:path) => {
        $crate::store_conformance_tests!(@list [@run $run]);
    };
    ($make_store:expr) => {
        $crate::store_conformance_tests!(@list [@make $make_store]);
    };
    (@list $mode:tt) => {
        $crate::store_conformance_tests!(@each $mode;
            jobs_round_trip,
            update_checks_the_version,
            delete_removes_job_and_executions,
            claim_takes_each_due_tick_once,
            claim_respects_limit_and_order,
            claim_ignores_paused_jobs,
            insert_job_and_claim_claims_only_the_new_job,
            insert_jobs_and_claim_is_all_or_nothing,
            claim_skips_ticks_that_have_an_execution,
            concurrent_claims_never_share_a_tick,
            claim_applies_misfire_policies,
            claim_misses_the_ticks_before_missed_before,
            insert_execution_is_unique_per_tick,
            record_results_applies_in_order,
            due_jobs_pages_in_watermark_order,
            buffered_claims_are_recorded_once_and_move_watermarks_forward,
            histories_are_newest_first,
            find_jobs_filters_and_pages,
            find_executions_filters_by_job_and_status,
            finished_executions_before_skips_other_states,
            unfinished_executions_belong_to_their_owner,
            executions_carry_their_lease,
            nodes_keep_their_latest_heartbeat,
            take_over_moves_what_silent_nodes_left,
            renew_leases_keeps_only_what_the_node_still_holds,
            prune_keeps_unfinished_executions,
            ending_jobs_round_trip,
            one_off_and_windowed_jobs_are_claimed_within_their_bounds,
            the_last_ticks_result_marks_the_job_done,
            the_last_ticks_result_deletes_a_delete_after_run_job,
            a_claim_that_drops_the_last_ticks_ends_the_job,
        );
    };
    (@each [@run $run:path]; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let check: $crate::testing::conformance::Check =
                    |store| ::std::boxed::Box::pin($crate::testing::conformance::$check(store));
                $run(stringify!($check), check);
            }
        )*
    };
    (@each [@make $make_store:expr]; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let runtime = $crate::__private::tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime");
                runtime.block_on(async {
                    let store = ($make_store)().await;
                    $crate::testing::conformance::$check(&*store).await;
                });
            }
        )*
    };
}

/// 2026-01-01T00:00:00Z, the instant the checks start from.
pub fn base_time() -> Timestamp {
    Timestamp::from_second(1_767_225_600).expect("a valid timestamp")
}

/// `base_time()` plus `seconds`.
fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(base_time().as_second() + seconds).expect("a valid timestamp")
}

fn job(schedule: &str, next_fire_at: Option<Timestamp>) -> Job {
    let schedule: Schedule = schedule.parse().expect("a valid schedule");
    Job {
        id: JobId::new_random(),
        spec: JobSpec::new(
            schedule,
            "http://target.test/hook",
            DeliveryType::AtLeastOnce,
        ),
        created_at: base_time(),
        updated_at: base_time(),
        next_fire_at,
        version: 1,
        done_at: None,
    }
}

/// The lease expiry the checks' claims at `now` ask for.
fn lease_of(now: Timestamp) -> Timestamp {
    time::add(now, Duration::from_secs(30))
}

fn claim(now: Timestamp, window_seconds: u64, limit: usize, owner: &str) -> ClaimRequest {
    ClaimRequest {
        now,
        due_before: time::add(now, Duration::from_secs(window_seconds)),
        limit,
        owner: owner.to_owned(),
        lease_until: lease_of(now),
        missed_before: time::sub(now, Duration::from_secs(10)),
    }
}

fn ticks(executions: &[Execution]) -> Vec<Timestamp> {
    executions
        .iter()
        .map(|execution| execution.scheduled_at)
        .collect()
}

async fn insert(store: &dyn Store, job: &Job) {
    store.insert_job(job.clone()).await.expect("insert_job");
}
