//! The checks of [`JobStore`](crate::JobStore): definitions, versions, deletion, queries.

use super::*;

/// Inserted jobs read back equal; ids are unique; listing pages in id order.
pub async fn jobs_round_trip(store: &dyn Store) {
    let mut jobs: Vec<Job> = (0..5)
        .map(|i| job("0 * * * * *", Some(at(60 * i))))
        .collect();
    jobs[1].spec.time_zone = Some(cron_expr::TimeZone::get("Europe/Paris").expect("a zone"));
    jobs[2].spec.headers = vec![
        ("X-A".to_owned(), "1".to_owned()),
        ("X-Token".to_owned(), "secret".to_owned()),
    ];
    jobs[2].spec.secret_headers = vec!["X-Token".to_owned()];
    jobs[2].spec.body = Some(Arc::from(&b"{}"[..]));
    jobs[3].spec.misfire = MisfirePolicy::CatchUp { max: 3 };
    jobs[1].spec.overlap = crate::OverlapPolicy::SkipWhileRunning;
    jobs[3].spec.overlap = crate::OverlapPolicy::BufferOne;
    jobs[4].spec.paused = true;
    jobs[4].spec.name = Some("nightly report \u{1f319}".to_owned());
    jobs[4].spec.signing_secrets = vec![crate::Secret::new("whsec_\u{e9}t\u{e9}")];
    jobs[1].spec.signing_secrets = vec![
        crate::Secret::new("whsec_current"),
        crate::Secret::new("whsec_previous"),
    ];
    jobs[2].spec.tick_jitter = Some(Duration::from_millis(30_001));
    jobs[3].spec.tick_jitter = Some(Duration::ZERO);
    jobs[3].spec.alert = Some(crate::JobAlertSettings {
        webhook_url: "https://hooks.example:8443/T0/B0?token=a:b".to_owned(),
        after_failures: 7,
        on_recovery: true,
    });
    jobs[4].spec.alert = Some(crate::JobAlertSettings::new("http://127.0.0.1/alert"));
    for job in &jobs {
        insert(store, job).await;
    }
    for job in &jobs {
        assert_eq!(
            store.get_job(job.id).await.expect("get_job").as_ref(),
            Some(job)
        );
    }
    assert!(
        matches!(store.insert_job(jobs[0].clone()).await, Err(Error::JobExists(id)) if id == jobs[0].id)
    );
    assert_eq!(
        store.get_job(JobId::new_random()).await.expect("get_job"),
        None
    );
    jobs.sort_by_key(|job| job.id);
    let first = store.list_jobs(None, 3).await.expect("list_jobs");
    let rest = store
        .list_jobs(Some(first[2].id), 10)
        .await
        .expect("list_jobs");
    let listed: Vec<JobId> = first.iter().chain(&rest).map(|job| job.id).collect();
    assert_eq!(listed, jobs.iter().map(|job| job.id).collect::<Vec<_>>());
}

/// Updates need the stored version, bump it, and keep or set the watermark as told.
pub async fn update_checks_the_version(store: &dyn Store) {
    let original = job("0 * * * * *", Some(at(60)));
    insert(store, &original).await;
    let mut changed = original.clone();
    changed.spec.target_url = "http://target.test/other".to_owned();
    changed.spec.signing_secrets = vec![
        crate::Secret::new("rotated"),
        crate::Secret::new("whsec_before"),
    ];
    changed.spec.tick_jitter = Some(Duration::from_secs(3_600));
    changed.spec.alert = Some(crate::JobAlertSettings::new("http://hooks.test/changed"));
    match store.update_job(changed.clone(), 7, NextFire::Keep).await {
        Err(Error::VersionConflict {
            expected: 7,
            actual: 1,
            ..
        }) => {}
        other => panic!("expected a version conflict, got {other:?}"),
    }
    let stored = store
        .update_job(changed.clone(), 1, NextFire::Keep)
        .await
        .expect("update_job");
    assert_eq!((stored.version, stored.next_fire_at), (2, Some(at(60))));
    assert_eq!(stored.spec.target_url, "http://target.test/other");
    assert_eq!(stored.spec.tick_jitter, Some(Duration::from_secs(3_600)));
    let stored = store
        .update_job(changed.clone(), 2, NextFire::Set(Some(at(120))))
        .await
        .expect("update_job");
    assert_eq!((stored.version, stored.next_fire_at), (3, Some(at(120))));
    assert_eq!(
        store.get_job(original.id).await.expect("get_job"),
        Some(stored.clone())
    );
    // The end of a rotation: the previous secret goes, the current one stays.
    let mut rotated = stored;
    rotated.spec.signing_secrets.truncate(1);
    let stored = store
        .update_job(rotated, 3, NextFire::Keep)
        .await
        .expect("update_job");
    assert_eq!(
        stored.spec.signing_secrets,
        vec![crate::Secret::new("rotated")]
    );
    assert_eq!(
        store.get_job(original.id).await.expect("get_job"),
        Some(stored)
    );
    let missing = job("0 * * * * *", None);
    assert!(matches!(
        store.update_job(missing, 1, NextFire::Keep).await,
        Err(Error::JobNotFound(_))
    ));
}

/// Deleting a job deletes its executions; deleting twice finds nothing.
pub async fn delete_removes_job_and_executions(store: &dyn Store) {
    let doomed = job("* * * * * *", Some(at(0)));
    let kept = job("* * * * * *", Some(at(0)));
    insert(store, &doomed).await;
    insert(store, &kept).await;
    let batch = store
        .claim_due(claim(at(0), 2, 100, "a"))
        .await
        .expect("claim_due");
    assert_eq!(batch.ticks.len(), 6);
    let doomed_execution = batch
        .ticks
        .iter()
        .find(|tick| tick.job.id == doomed.id)
        .expect("a tick")
        .execution
        .id;
    assert!(store.delete_job(doomed.id).await.expect("delete_job"));
    assert!(!store.delete_job(doomed.id).await.expect("delete_job"));
    assert_eq!(store.get_job(doomed.id).await.expect("get_job"), None);
    assert!(
        store
            .job_executions(doomed.id, 10)
            .await
            .expect("job_executions")
            .is_empty()
    );
    assert_eq!(
        store
            .get_execution(doomed_execution)
            .await
            .expect("get_execution"),
        None
    );
    assert_eq!(
        store
            .job_executions(kept.id, 10)
            .await
            .expect("job_executions")
            .len(),
        3
    );
    let later = store
        .claim_due(claim(at(5), 2, 100, "a"))
        .await
        .expect("claim_due");
    assert!(later.ticks.iter().all(|tick| tick.job.id == kept.id));
}

/// Job queries filter by paused state and delivery type and page by id; counts add up.
pub async fn find_jobs_filters_and_pages(store: &dyn Store) {
    let mut jobs: Vec<Job> = (0..6).map(|_| job("0 * * * * *", Some(at(0)))).collect();
    jobs[0].spec.paused = true;
    jobs[1].spec.paused = true;
    jobs[2].spec.delivery = DeliveryType::AtMostOnce;
    jobs[3].spec.delivery = DeliveryType::AtMostOnce;
    jobs[3].spec.paused = true;
    for job in &jobs {
        insert(store, job).await;
    }
    let ids = |found: Vec<Job>| {
        let mut ids: Vec<JobId> = found.iter().map(|job| job.id).collect();
        ids.sort();
        ids
    };
    let sorted = |mut wanted: Vec<JobId>| {
        wanted.sort();
        wanted
    };
    let query = |paused, delivery| JobQuery {
        after: None,
        limit: 100,
        paused,
        delivery,
    };
    assert_eq!(
        store.count_jobs().await.expect("count_jobs"),
        JobCounts {
            active: 3,
            paused: 3
        }
    );
    let paused = store
        .find_jobs(query(Some(true), None))
        .await
        .expect("find_jobs");
    assert_eq!(
        ids(paused),
        sorted(vec![jobs[0].id, jobs[1].id, jobs[3].id])
    );
    let active_at_most_once = store
        .find_jobs(query(Some(false), Some(DeliveryType::AtMostOnce)))
        .await
        .expect("find_jobs");
    assert_eq!(ids(active_at_most_once), vec![jobs[2].id]);
    let at_least_once = store
        .find_jobs(query(None, Some(DeliveryType::AtLeastOnce)))
        .await
        .expect("find_jobs");
    assert_eq!(
        ids(at_least_once),
        sorted(vec![jobs[0].id, jobs[1].id, jobs[4].id, jobs[5].id])
    );
    // Pages of two with a filter: every match once, in id order.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .find_jobs(JobQuery {
                after,
                limit: 2,
                paused: Some(false),
                delivery: None,
            })
            .await
            .expect("find_jobs");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        after = page.last().map(|job| job.id);
        seen.extend(page.iter().map(|job| job.id));
    }
    assert!(seen.windows(2).all(|pair| pair[0] < pair[1]));
    assert_eq!(seen, sorted(vec![jobs[2].id, jobs[4].id, jobs[5].id]));
}
