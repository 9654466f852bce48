//! Claims keep the jobs they decode between claims (schema version 6): a job changed since,
//! by this store or by another on the same file, is claimed as it is now.

use scheduler_core::{ClaimRequest, ClaimStore, ClaimedTick, Job, JobStore, NextFire, Timestamp};
use store::{SqliteConfig, SqliteStore};

use crate::support::{base_time, block_on, job};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(base_time().as_second() + seconds).expect("a valid timestamp")
}

/// Claims the ticks due up to `at(seconds)`, at that time.
async fn claim_through(store: &SqliteStore, seconds: i64) -> Vec<ClaimedTick> {
    let request = ClaimRequest {
        now: at(seconds),
        due_before: at(seconds),
        limit: 100,
        owner: "node-a".to_owned(),
        lease_until: at(seconds),
        missed_before: at(seconds - 60),
    };
    store.claim_due(request).await.expect("a claim").ticks
}

fn with_url(job: &Job, url: &str) -> Job {
    let mut changed = job.clone();
    changed.spec.target_url = url.to_owned();
    changed
}

/// Inserts an every-second job due at `at(0)` and claims its first tick, which must be the one
/// claimed; returns the job and that tick's claim.
async fn insert_and_claim_the_first_tick(store: &SqliteStore) -> (Job, Vec<ClaimedTick>) {
    let job = job(Some(at(0)));
    store.insert_job(job.clone()).await.unwrap();
    let first = claim_through(store, 0).await;
    assert_eq!(first.len(), 1);
    (job, first)
}

#[test]
fn a_claim_after_a_change_carries_the_changed_job() {
    let store = SqliteStore::open_temporary().unwrap();
    block_on(async {
        let (job, first) = insert_and_claim_the_first_tick(&store).await;
        assert_eq!(first[0].job.spec.target_url, job.spec.target_url);

        let changed = with_url(&job, "http://127.0.0.1:9/changed");
        store.update_job(changed, 1, NextFire::Keep).await.unwrap();
        let second = claim_through(&store, 1).await;
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].execution.scheduled_at, at(1));
        assert_eq!(second[0].job.spec.target_url, "http://127.0.0.1:9/changed");
        assert_eq!(second[0].job.version, 2);
        assert_eq!(second[0].job.next_fire_at, Some(at(2)));

        // Unchanged since, it is claimed the same way again.
        let third = claim_through(&store, 2).await;
        assert_eq!(third[0].job.spec.target_url, "http://127.0.0.1:9/changed");
        assert_eq!(third[0].job.next_fire_at, Some(at(3)));
    });
}

#[test]
fn a_job_deleted_and_created_again_under_its_id_is_claimed_as_created() {
    let store = SqliteStore::open_temporary().unwrap();
    block_on(async {
        let (job, _) = insert_and_claim_the_first_tick(&store).await;

        // The same id and the same version, another target.
        assert!(store.delete_job(job.id).await.unwrap());
        let again = Job {
            next_fire_at: Some(at(1)),
            ..with_url(&job, "http://127.0.0.1:9/again")
        };
        store.insert_job(again).await.unwrap();
        let claimed = claim_through(&store, 1).await;
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].job.version, 1);
        assert_eq!(claimed[0].job.spec.target_url, "http://127.0.0.1:9/again");
    });
}

#[test]
fn a_change_made_by_another_store_on_the_file_reaches_the_claims() {
    let directory = tempfile::tempdir().unwrap();
    let config = SqliteConfig::new(directory.path().join("scheduler.db"));
    let claimer = SqliteStore::open(&config).unwrap();
    let (job, _) = block_on(insert_and_claim_the_first_tick(&claimer));

    // Another process, as far as the claimer can tell.
    let other = SqliteStore::open(&config).unwrap();
    block_on(async {
        let paused = {
            let mut paused = with_url(&job, "http://127.0.0.1:9/other");
            paused.spec.paused = true;
            paused
        };
        other.update_job(paused, 1, NextFire::Keep).await.unwrap();
    });
    drop(other);

    block_on(async {
        assert!(
            claim_through(&claimer, 1).await.is_empty(),
            "a job paused elsewhere is not claimed"
        );
    });

    let other = SqliteStore::open(&config).unwrap();
    block_on(async {
        let resumed = with_url(&job, "http://127.0.0.1:9/resumed");
        other
            .update_job(resumed, 2, NextFire::Set(Some(at(1))))
            .await
            .unwrap();
    });
    drop(other);

    block_on(async {
        let claimed = claim_through(&claimer, 1).await;
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].job.spec.target_url, "http://127.0.0.1:9/resumed");
        assert_eq!(claimed[0].job.version, 3);
    });
}

/// A pending one-off job waits in the due index as a cron job does, so the claim's indexed
/// read (`idx_jobs_due`, whose plan a unit test pins) finds it at the same cost; once claimed,
/// and once done, it is out of the index.
#[test]
fn pending_one_off_jobs_sit_in_the_due_index_and_done_ones_do_not() {
    let store = SqliteStore::open_temporary().unwrap();
    let path = store.path().expect("a file");
    let in_due_index = || -> i64 {
        rusqlite::Connection::open(&path)
            .unwrap()
            .query_row(
                "SELECT count(*) FROM jobs INDEXED BY idx_jobs_due \
                 WHERE active = 1 AND next_fire_at IS NOT NULL",
                [],
                |row| row.get(0),
            )
            .unwrap()
    };
    block_on(async {
        let mut one_offs = Vec::new();
        for i in 0..3 {
            store.insert_job(job(Some(at(10_000 + i)))).await.unwrap();
            let mut once = job(Some(at(100 + i)));
            once.spec.schedule = scheduler_core::Timing::Once(at(100 + i));
            store.insert_job(once.clone()).await.unwrap();
            one_offs.push(once);
        }
        let mut done = job(None);
        done.spec.schedule = scheduler_core::Timing::Once(at(1));
        done.done_at = Some(at(2));
        store.insert_job(done).await.unwrap();
        assert_eq!(
            in_due_index(),
            6,
            "three cron jobs and three pending one-off jobs"
        );

        let claimed = claim_through(&store, 101).await;
        let one_off_ticks = claimed
            .iter()
            .filter(|tick| one_offs.iter().any(|once| once.id == tick.execution.job_id))
            .count();
        assert_eq!(one_off_ticks, 2);
        assert_eq!(in_due_index(), 4, "the claimed one-off jobs left the index");
    });
}
