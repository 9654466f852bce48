//! The per-job order of the executions, kept apart from the claim's inserts.
//!
//! `job_executions` is unique on `(tick, job)`, an index the claims write at its end. The per-job
//! order, which history reads, job deletion and retention by count need, lives in
//! `job_execution_history` (`job_id`, `scheduled_time`), and a claim does not write it: an
//! indexer fills it a window at a time, sorted by job, so that each job's entries of the window
//! land together (one page written for many executions instead of one page for each, once the
//! history is long). Two values in `store_state` describe the state:
//!
//! - `history_indexed_before` (the watermark): every execution with an earlier tick has its
//!   entry. Reads take older executions through the history table and newer ones from the tick
//!   index, seeking each distinct tick above the watermark (a dozen seeks for a window of cron
//!   ticks, whatever the number of jobs or the length of the history).
//! - `history_announced` (at least the watermark): an execution inserted with an earlier tick
//!   gets its entry as it is inserted. The indexer raises it before it reads a window, so an
//!   execution that arrives in the window after the read (a misfire catch-up, a recovery) is
//!   not missed.
//!
//! A trigger deletes an execution's entry with it. An indexing round reads and writes on the
//! writer connection, in tasks of `CHUNK`. One that stops half-way (a crash) leaves the
//! watermark where it was, and the next round inserts again what is missing.
//! With an interval of zero the store indexes each execution as it is inserted (both values at
//! their maximum), as the schema before version 4 did.

use std::sync::Weak;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use rusqlite::{Connection, params};
use scheduler_core::{Execution, Result, Timestamp};

use crate::codec::{millis, prefixed_execution_columns};
use crate::failure;
use crate::sqlite::Shared;
use crate::sqlite::rows::execution_from_row;
use crate::writer::Priority;

/// The name of the watermark in `store_state`.
const INDEXED_BEFORE: &str = "history_indexed_before";
/// The name of the announced tick in `store_state`.
const ANNOUNCED: &str = "history_announced";

/// Executions read, and entries written, per write task of an indexing round: small, because an
/// API write waits behind one task at most (docs/perf-log/round-05.md).
const CHUNK: usize = 2_000;

/// How far behind the clock an indexing round stops: executions claimed ahead, and those of the
/// last second, stay in the window that the tick index serves.
const LAG: Duration = Duration::from_secs(1);

/// An execution's entry, if the execution still exists (an indexing round writes after reading,
/// and a deletion may come between).
const ENTER_IF_PRESENT: &str = "INSERT OR IGNORE INTO job_execution_history (job_id, scheduled_time) \
     SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM job_executions WHERE scheduled_time = ?2 AND job_id = ?1)";

/// The distinct ticks from the watermark `?1` on, newest first, one index seek each (a loose
/// index scan): above the watermark are the executions of about one window, and every job's
/// executions at a tick sit together in the tick index, so a job's executions there cost a
/// seek per distinct tick (a dozen for cron ticks, which fall on whole seconds), not a read of
/// every execution of the window.
const RECENT_TICKS: &str = "WITH RECURSIVE ticks(t) AS ( \
     SELECT (SELECT MAX(scheduled_time) FROM job_executions WHERE scheduled_time >= ?1) \
     UNION ALL \
     SELECT (SELECT MAX(scheduled_time) FROM job_executions WHERE scheduled_time < ticks.t AND scheduled_time >= ?1) \
     FROM ticks WHERE ticks.t IS NOT NULL)";

/// Executions of one job from the watermark on, newest first: `?1` watermark, `?2` job, `?3`
/// status or null, `?4` limit.
pub(crate) fn recent_sql() -> String {
    format!(
        "{RECENT_TICKS} SELECT {} FROM ticks CROSS JOIN job_executions e \
         ON e.scheduled_time = ticks.t AND e.job_id = ?2 \
         WHERE (?3 IS NULL OR e.status = ?3) ORDER BY e.scheduled_time DESC LIMIT ?4",
        prefixed_execution_columns()
    )
}

/// Deletes one job's executions from the watermark on: `?1` watermark, `?2` job.
pub(crate) fn delete_recent_sql() -> String {
    format!(
        "{RECENT_TICKS} DELETE FROM job_executions WHERE rowid IN (SELECT e.rowid FROM ticks \
         CROSS JOIN job_executions e ON e.scheduled_time = ticks.t AND e.job_id = ?2)"
    )
}

/// Executions of one job before the watermark, through the history table, newest first; the
/// parameters as [`recent_sql`].
pub(crate) fn older_sql() -> String {
    format!(
        "SELECT {} FROM job_execution_history h CROSS JOIN job_executions e \
         ON e.scheduled_time = h.scheduled_time AND e.job_id = h.job_id \
         WHERE h.job_id = ?2 AND h.scheduled_time < ?1 AND (?3 IS NULL OR e.status = ?3) \
         ORDER BY h.scheduled_time DESC LIMIT ?4",
        prefixed_execution_columns()
    )
}

fn state(connection: &Connection, name: &str) -> rusqlite::Result<i64> {
    connection
        .prepare_cached("SELECT value FROM store_state WHERE name = ?1")?
        .query_row([name], |row| row.get(0))
}

fn raise(connection: &Connection, name: &str, value: i64) -> rusqlite::Result<()> {
    connection
        .prepare_cached("UPDATE store_state SET value = ?2 WHERE name = ?1 AND value < ?2")?
        .execute(params![name, value])?;
    Ok(())
}

/// The watermark: every execution with an earlier tick has its history entry.
pub(crate) fn indexed_before(connection: &Connection) -> rusqlite::Result<i64> {
    state(connection, INDEXED_BEFORE)
}

/// Executions inserted with a tick below this get their entry as they are inserted; read once
/// per write task, inside its transaction.
pub(crate) fn announced(connection: &Connection) -> Result<i64> {
    state(connection, ANNOUNCED).map_err(failure::sqlite_while("reading the history state"))
}

/// Gives a just-inserted execution its entry if its tick is below `announced`.
pub(crate) fn enter_if_announced(
    connection: &Connection,
    job_id: &str,
    tick: i64,
    announced: i64,
) -> rusqlite::Result<()> {
    if tick < announced {
        connection
            .prepare_cached(
                "INSERT OR IGNORE INTO job_execution_history (job_id, scheduled_time) VALUES (?1, ?2)",
            )?
            .execute(params![job_id, tick])?;
    }
    Ok(())
}

/// Brings the state in line with the configured interval when the store opens, on the write
/// connection: zero indexes every execution as it is inserted (what is not indexed yet is, now);
/// otherwise indexing is batched from the newest execution on.
pub(crate) fn open(connection: &Connection, interval: Duration) -> rusqlite::Result<()> {
    let transaction = connection.unchecked_transaction()?;
    let watermark = indexed_before(&transaction)?;
    if interval.is_zero() {
        if watermark < i64::MAX {
            transaction.execute(
                "INSERT OR IGNORE INTO job_execution_history (job_id, scheduled_time) \
                 SELECT job_id, scheduled_time FROM job_executions WHERE scheduled_time >= ?1 \
                 ORDER BY job_id, scheduled_time",
                [watermark],
            )?;
            transaction.execute(
                "UPDATE store_state SET value = ?1 WHERE name IN (?2, ?3)",
                params![i64::MAX, INDEXED_BEFORE, ANNOUNCED],
            )?;
        }
    } else if watermark == i64::MAX {
        // Everything is indexed: batch from the newest execution on.
        transaction.execute(
            "UPDATE store_state SET value = (SELECT COALESCE(MAX(scheduled_time) + 1, ?1) FROM job_executions) \
             WHERE name IN (?2, ?3)",
            params![i64::MIN, INDEXED_BEFORE, ANNOUNCED],
        )?;
    }
    transaction.commit()
}

/// Executions of one job, newest first: those from the watermark on through the tick index,
/// then older ones through the history table.
pub(crate) fn job_executions(
    connection: &Connection,
    job_id: &str,
    status: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<Execution>> {
    let watermark = indexed_before(connection)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut executions: Vec<Execution> = connection
        .prepare_cached(&recent_sql())?
        .query_map(
            params![watermark, job_id, status, limit],
            execution_from_row,
        )?
        .collect::<rusqlite::Result<_>>()?;
    let left = limit - executions.len() as i64;
    if left > 0 {
        let older = connection
            .prepare_cached(&older_sql())?
            .query_map(params![watermark, job_id, status, left], execution_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        executions.extend(older);
    }
    Ok(executions)
}

/// Deletes every execution of one job (their entries go with them), on the writer.
pub(crate) fn delete_job_executions(connection: &Connection, job_id: &str) -> rusqlite::Result<()> {
    let watermark = indexed_before(connection)?;
    connection
        .prepare_cached(&delete_recent_sql())?
        .execute(params![watermark, job_id])?;
    connection
        .prepare_cached(
            "DELETE FROM job_executions WHERE rowid IN (SELECT e.rowid FROM job_execution_history h \
             CROSS JOIN job_executions e ON e.scheduled_time = h.scheduled_time AND e.job_id = h.job_id \
             WHERE h.job_id = ?1)",
        )?
        .execute([job_id])?;
    Ok(())
}

/// Which tick a round that takes in every execution stored now must index up to: past the
/// newest execution's tick, and at least `now`.
pub(crate) fn everything_before(shared: &Shared, now: i64) -> Result<i64> {
    shared
        .writer
        .write_blocking(Priority::Background, move |connection| {
            let newest: Option<i64> = connection
                .prepare_cached("SELECT MAX(scheduled_time) FROM job_executions")
                .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
                .map_err(failure::sqlite_while("reading the newest tick"))?;
            Ok(newest.map_or(now, |newest| now.max(newest.saturating_add(1))))
        })
}

/// One indexing round: gives every execution with a tick below `before` its history entry and
/// moves the watermark to `before`. Blocking: runs on the indexer thread or a blocking thread.
/// Every step is a write task, reads included. Returns the executions the round read.
pub(crate) fn index_before(shared: &Shared, before: i64) -> Result<u64> {
    let failed = failure::sqlite_while;
    // From here on, an execution inserted below `before` enters by itself; the reads below come
    // after this task, so they see every one inserted before.
    let watermark = shared
        .writer
        .write_blocking(Priority::Background, move |connection| {
            let announce = || {
                let watermark = indexed_before(connection)?;
                if before > watermark {
                    raise(connection, ANNOUNCED, before)?;
                }
                Ok(watermark)
            };
            announce().map_err(failed("announcing a history window"))
        })?;
    if before <= watermark {
        return Ok(0);
    }
    // The window is read on the writer, a chunk per task in tick order, so that API writes
    // wait behind a chunk at most and the writer's page cache stays warm
    // (docs/perf-log/round-05.md).
    let mut window: Vec<(String, i64)> = Vec::new();
    let mut after: Option<(i64, String)> = None;
    loop {
        let from = after.take();
        let chunk: Vec<(String, i64)> =
            shared
                .writer
                .write_blocking(Priority::Background, move |connection| {
                    read_window_chunk(connection, watermark, before, from.as_ref())
                        .map_err(failed("reading a history window"))
                })?;
        let full = chunk.len() == CHUNK;
        after = chunk.last().map(|(job_id, tick)| (*tick, job_id.clone()));
        window.extend(chunk);
        if !full {
            break;
        }
    }
    window.sort_unstable();
    let read = window.len() as u64;
    let mut chunks = window.chunks(CHUNK).map(<[_]>::to_vec).collect::<Vec<_>>();
    // The last write also moves the watermark, so the entries and the watermark commit together.
    let last = chunks.pop().unwrap_or_default();
    for chunk in chunks {
        shared
            .writer
            .write_blocking(Priority::Background, move |connection| {
                enter_all(connection, &chunk).map_err(failed("writing history entries"))
            })?;
    }
    shared
        .writer
        .write_blocking(Priority::Background, move |connection| {
            enter_all(connection, &last)
                .and_then(|()| raise(connection, INDEXED_BEFORE, before))
                .map_err(failed("writing history entries"))
        })?;
    Ok(read)
}

/// Up to `CHUNK` executions with ticks in `[from, before)`, in `(tick, job)` order, after
/// `after` if given.
fn read_window_chunk(
    connection: &Connection,
    from: i64,
    before: i64,
    after: Option<&(i64, String)>,
) -> rusqlite::Result<Vec<(String, i64)>> {
    let row = |row: &rusqlite::Row<'_>| Ok((row.get(0)?, row.get(1)?));
    match after {
        None => connection
            .prepare_cached(
                "SELECT job_id, scheduled_time FROM job_executions \
                 WHERE scheduled_time >= ?1 AND scheduled_time < ?2 \
                 ORDER BY scheduled_time, job_id LIMIT ?3",
            )?
            .query_map(params![from, before, CHUNK as i64], row)?
            .collect(),
        Some((tick, job_id)) => connection
            .prepare_cached(
                "SELECT job_id, scheduled_time FROM job_executions \
                 WHERE (scheduled_time, job_id) > (?1, ?2) AND scheduled_time < ?3 \
                 ORDER BY scheduled_time, job_id LIMIT ?4",
            )?
            .query_map(params![tick, job_id, before, CHUNK as i64], row)?
            .collect(),
    }
}

fn enter_all(connection: &Connection, entries: &[(String, i64)]) -> rusqlite::Result<()> {
    let mut statement = connection.prepare_cached(ENTER_IF_PRESENT)?;
    for (job_id, tick) in entries {
        statement.execute(params![job_id, tick])?;
    }
    Ok(())
}

/// The indexer thread: a round every `interval`, up to a second before the clock, until the
/// store is dropped (its end of `stop` goes with it).
pub(crate) fn spawn_indexer(
    shared: Weak<Shared>,
    interval: Duration,
    stop: Receiver<()>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("sqlite-history".to_owned())
        .spawn(move || {
            loop {
                match stop.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let before = millis(Timestamp::now()) - LAG.as_millis() as i64;
                if let Err(error) = index_before(&shared, before) {
                    log::warn!(
                        "indexing the execution history failed (the next round retries): {error}"
                    );
                }
            }
        })
        .map(drop)
}
