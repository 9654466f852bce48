//! The harness's databases: the run's work directory, and its direct reads and one write of
//! the store's tables (jobs of a seeded database, their watermarks, a window's executions).

use std::path::{Path, PathBuf};

use crate::target;
use crate::ticks::Tally;

/// A temporary directory, or a kept one.
pub(crate) enum WorkDirectory {
    Temporary(tempfile::TempDir),
    Kept(PathBuf),
}

impl WorkDirectory {
    pub(crate) fn path(&self) -> &Path {
        match self {
            WorkDirectory::Temporary(directory) => directory.path(),
            WorkDirectory::Kept(path) => path,
        }
    }
}

pub(crate) fn work_directory(keep: Option<&Path>) -> anyhow::Result<WorkDirectory> {
    match keep {
        Some(path) => {
            std::fs::create_dir_all(path)?;
            let db = target::database_in(path);
            anyhow::ensure!(
                !db.exists(),
                "{} exists: give --keep a new directory",
                db.display()
            );
            Ok(WorkDirectory::Kept(path.to_path_buf()))
        }
        None => Ok(WorkDirectory::Temporary(
            tempfile::Builder::new().prefix("load-harness-").tempdir()?,
        )),
    }
}

/// The jobs (id, cron expression) of a database.
pub(crate) fn read_jobs(db: &Path) -> anyhow::Result<Vec<(u128, String)>> {
    let connection = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut statement = connection.prepare("SELECT id, schedule FROM jobs")?;
    let mut rows = statement.query([])?;
    let mut jobs = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        jobs.push((uuid::Uuid::parse_str(&id)?.as_u128(), row.get(1)?));
    }
    Ok(jobs)
}

/// Sets every job's next fire time to its first tick after now, as if the scheduler had
/// stopped a moment ago: a seeded database is minutes old when a run starts, and its overdue
/// ticks would otherwise all fire at once as misfires. (The harness's only write to the
/// database; it needs the store's column for the watermark, in Unix milliseconds.)
pub(crate) fn rewind_watermarks(db: &Path, jobs: &[(u128, String)]) -> anyhow::Result<()> {
    let mut connection = rusqlite::Connection::open(db)?;
    let now = jiff::Timestamp::now();
    let transaction = connection.transaction()?;
    {
        let mut next_by_expression: std::collections::HashMap<&str, Option<i64>> =
            std::collections::HashMap::new();
        let mut statement =
            transaction.prepare("UPDATE jobs SET next_fire_at = ?1 WHERE id = ?2")?;
        for (id, expression) in jobs {
            let next = match next_by_expression.get(expression.as_str()) {
                Some(next) => *next,
                None => {
                    let schedule = cron_expr::Schedule::parse(expression)?;
                    let next = schedule.next_after(now).map(|at| at.as_millisecond());
                    next_by_expression.insert(expression, next);
                    next
                }
            };
            statement.execute(rusqlite::params![
                next,
                uuid::Uuid::from_u128(*id).to_string()
            ])?;
        }
    }
    transaction.commit()?;
    Ok(())
}

/// Counts the executions stored for the window's ticks (read-only, after the scheduler stopped).
pub(crate) fn read_database(
    db: &Path,
    start_ms: i64,
    end_ms: i64,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let connection = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut statement = connection.prepare(
        "SELECT job_id, scheduled_time, status FROM job_executions \
         WHERE scheduled_time >= ?1 AND scheduled_time < ?2",
    )?;
    let mut rows = statement.query([start_ms, end_ms])?;
    while let Some(row) = rows.next()? {
        let job: String = row.get(0)?;
        let scheduled_ms: i64 = row.get(1)?;
        let status: String = row.get(2)?;
        let job = uuid::Uuid::parse_str(&job)?.as_u128();
        tally.add_row(job, scheduled_ms, &status);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use scheduler_core::{JobId, JobStore};
    use store::{SqliteConfig, SqliteStore};

    use super::*;
    use crate::ticks::ScheduleKind;

    #[tokio::test]
    async fn rewinding_a_seeded_database_moves_every_watermark_past_now() {
        let directory = tempfile::tempdir().unwrap();
        let db = target::database_in(directory.path());
        target::seed(
            &db,
            "http://127.0.0.1:9/hook",
            ScheduleKind::EverySecond,
            3,
            3,
        )
        .await
        .unwrap();
        // As if the seed were years old.
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute("UPDATE jobs SET next_fire_at = 0", [])
            .unwrap();
        let before = scheduler_core::Timestamp::now();
        let jobs = read_jobs(&db).unwrap();
        assert_eq!(jobs.len(), 3);
        rewind_watermarks(&db, &jobs).unwrap();

        let store = SqliteStore::open(&SqliteConfig::new(&db)).unwrap();
        for (id, _) in &jobs {
            let job = store
                .get_job(JobId(uuid::Uuid::from_u128(*id)))
                .await
                .unwrap()
                .unwrap();
            assert!(job.next_fire_at.unwrap() > before, "{job:?}");
        }
    }
}
