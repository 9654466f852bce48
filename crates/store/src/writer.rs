//! The single writer: one thread owns the write connection and commits whatever work has
//! queued up in one transaction (group commit).
//!
//! Every write is a task sent over a channel. The thread takes the first task, then every task
//! already waiting (up to `max_batch`), runs each in its own savepoint inside one `BEGIN
//! IMMEDIATE` transaction, commits once, and only then completes the tasks' futures. A task that
//! fails rolls back its own savepoint and reports its error; the others still commit. So under
//! load a thousand executions cost one fsync, and a caller that was told "done" is durable.
//!
//! **Two priorities.** A write is [`Priority::Interactive`] (someone waits for it: a job
//! created, changed or deleted through the API) or [`Priority::Background`] (the engine's claims,
//! result batches and pruning, which are large and which nobody waits for in person). Interactive
//! writes are committed in transactions of their own, ahead of the background work queued
//! before them; a background transaction ends early, after the task under way, when an
//! interactive write arrives. So an API call waits for at most one background task (one claim
//! or one result batch), not for everything queued ahead of it. After an interactive
//! transaction the next one is background (when any is waiting), so a steady stream of API
//! writes cannot starve the claims and results.
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;

use rusqlite::{Connection, TransactionBehavior};
use scheduler_core::{Error, Result, StoreErrorKind};
use tokio::sync::oneshot;

use crate::failure;
use crate::sqlite::files::{DatabaseFiles, IDLE_CHECK_INTERVAL};

/// Whether someone waits for a write in person; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Priority {
    /// An API call waits for it: committed ahead of queued background work.
    Interactive,
    /// The engine's bulk work (claims, results, pruning).
    Background,
}

/// A unit of work for the writer: runs against the open transaction, completes after commit.
trait WriteTask: Send {
    /// Runs the work inside a savepoint of the batch's transaction.
    fn run(&mut self, connection: &Connection);
    /// Completes the caller's future: with the work's result if the batch committed, with the
    /// commit's error if it did not.
    fn complete(self: Box<Self>, committed: Result<(), &rusqlite::Error>);
    /// Completes the caller's future with `error`, without running the work.
    fn refuse(self: Box<Self>, error: Error);
}

struct Task<T, F> {
    work: Option<F>,
    result: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> WriteTask for Task<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T> + Send,
{
    fn run(&mut self, connection: &Connection) {
        let Some(work) = self.work.take() else { return };
        let result = match connection.execute_batch("SAVEPOINT task") {
            Err(error) => Err(failure::sqlite("starting a savepoint", error)),
            Ok(()) => {
                // A panicking write must not end the thread, and with it every later write: it
                // fails alone, its savepoint rolled back, and says so.
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(connection)))
                        .unwrap_or_else(|panic| {
                            let message = panic_message(panic.as_ref());
                            log::error!(
                                "a database write panicked, and was rolled back: {message}"
                            );
                            Err(Error::Store {
                                kind: StoreErrorKind::Permanent,
                                message: format!("the write panicked: {message}"),
                                source: None,
                            })
                        });
                let end = if result.is_ok() {
                    "RELEASE task"
                } else {
                    "ROLLBACK TO task; RELEASE task"
                };
                match connection.execute_batch(end) {
                    Ok(()) => result,
                    Err(error) => Err(failure::sqlite("ending a savepoint", error)),
                }
            }
        };
        self.result = Some(result);
    }

    fn complete(self: Box<Self>, committed: Result<(), &rusqlite::Error>) {
        let result = match (committed, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(Error::Store {
                kind: StoreErrorKind::Permanent,
                message: "the write was not run".to_owned(),
                source: None,
            }),
            (Err(error), _) => Err(Error::Store {
                kind: failure::kind_of(error),
                message: format!("committing a batch of writes: {error}"),
                source: None,
            }),
        };
        // The caller may have stopped waiting; that is fine.
        let _ = self.reply.send(result);
    }

    fn refuse(self: Box<Self>, error: Error) {
        let _ = self.reply.send(Err(error));
    }
}

/// A task and its priority, as sent to the writer thread.
type Queued = (Priority, Box<dyn WriteTask>);

/// The handle through which the store submits writes.
#[derive(Debug)]
pub(crate) struct Writer {
    sender: Option<Sender<Queued>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread on `connection`. With `files`, the thread checks them before its
    /// transactions and when idle, and refuses every write once one is lost.
    pub(crate) fn start(
        connection: Connection,
        max_batch: usize,
        files: Option<Arc<DatabaseFiles>>,
    ) -> std::io::Result<Writer> {
        let (sender, receiver) = channel::<Queued>();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || run(connection, &receiver, max_batch.max(1), files.as_deref()))?;
        Ok(Writer {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Queues `work` with `priority` and waits for it to be committed.
    pub(crate) async fn write<T, F>(&self, priority: Priority, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let receiver = self.submit(priority, work)?;
        receiver.await.map_err(|_| stopped())?
    }

    /// Queues `work` with `priority` and blocks the calling thread until it is committed. Not
    /// for async code: for a thread of the store's own, or a blocking task.
    pub(crate) fn write_blocking<T, F>(&self, priority: Priority, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let receiver = self.submit(priority, work)?;
        receiver.blocking_recv().map_err(|_| stopped())?
    }

    /// Queues `work` with `priority` at once; the receiver hears its result after the commit.
    fn submit<T, F>(&self, priority: Priority, work: F) -> Result<oneshot::Receiver<Result<T>>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, receiver) = oneshot::channel();
        let task: Box<dyn WriteTask> = Box::new(Task {
            work: Some(work),
            result: None,
            reply,
        });
        self.sender
            .as_ref()
            .ok_or_else(stopped)?
            .send((priority, task))
            .map_err(|_| stopped())?;
        Ok(receiver)
    }
}

/// The message a panic carried, if it was a string.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

fn stopped() -> Error {
    Error::Store {
        kind: StoreErrorKind::Unavailable,
        message: "the database writer has stopped".to_owned(),
        source: None,
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel lets the thread finish the queued work and exit.
        drop(self.sender.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            log::error!("the database writer thread panicked");
        }
    }
}

impl std::fmt::Debug for dyn WriteTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteTask")
    }
}

/// The tasks taken off the channel and not yet run, by priority.
#[derive(Default)]
struct Queues {
    interactive: VecDeque<Box<dyn WriteTask>>,
    background: VecDeque<Box<dyn WriteTask>>,
    /// Whether the channel is still open.
    open: bool,
}

impl Queues {
    fn is_empty(&self) -> bool {
        self.interactive.is_empty() && self.background.is_empty()
    }

    fn push(&mut self, (priority, task): Queued) {
        match priority {
            Priority::Interactive => self.interactive.push_back(task),
            Priority::Background => self.background.push_back(task),
        }
    }

    /// The interactive queue, or the background one.
    fn of(&mut self, interactive: bool) -> &mut VecDeque<Box<dyn WriteTask>> {
        if interactive {
            &mut self.interactive
        } else {
            &mut self.background
        }
    }

    /// Moves every task waiting in the channel into the queues, without blocking.
    fn drain(&mut self, receiver: &Receiver<Queued>) {
        while self.open {
            match receiver.try_recv() {
                Ok(queued) => self.push(queued),
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => self.open = false,
            }
        }
    }
}

fn run(
    mut connection: Connection,
    receiver: &Receiver<Queued>,
    max_batch: usize,
    files: Option<&DatabaseFiles>,
) {
    let mut queues = Queues {
        open: true,
        ..Queues::default()
    };
    let mut batch: Vec<Box<dyn WriteTask>> = Vec::with_capacity(max_batch);
    // Whether the last transaction was interactive: then background work goes next.
    let mut background_owed = false;
    loop {
        if queues.is_empty() {
            if !queues.open {
                return;
            }
            match receiver.recv_timeout(IDLE_CHECK_INTERVAL) {
                Ok(queued) => queues.push(queued),
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(files) = files {
                        let _ = files.check_on_writer(&connection, true);
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        queues.drain(receiver);
        // Interactive work goes first, except right after an interactive transaction when
        // background work waits.
        let background_turn = background_owed && !queues.background.is_empty();
        let interactive = !queues.interactive.is_empty() && !background_turn;
        // A lost database file or log: the tasks this transaction would have taken are refused.
        if let Some(files) = files
            && let Err(loss) = files.check_on_writer(&connection, false)
        {
            let queue = queues.of(interactive);
            let refused: Vec<_> = queue.drain(..queue.len().min(max_batch)).collect();
            for task in refused {
                task.refuse(files.refusal(loss));
            }
            background_owed = interactive;
            continue;
        }
        let committed = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
            Err(error) => {
                // Nothing ran: the tasks this transaction would have taken fail with the error.
                let queue = queues.of(interactive);
                batch.extend(queue.drain(..queue.len().min(max_batch)));
                Err(error)
            }
            Ok(transaction) => {
                while batch.len() < max_batch {
                    let Some(mut task) = queues.of(interactive).pop_front() else {
                        break;
                    };
                    task.run(&transaction);
                    batch.push(task);
                    if !interactive {
                        // An API write that arrived meanwhile goes next, in its own transaction.
                        queues.drain(receiver);
                        if !queues.interactive.is_empty() {
                            break;
                        }
                    }
                }
                transaction.commit()
            }
        };
        background_owed = interactive;
        if let Err(error) = &committed {
            log::error!(
                "a batch of {} writes failed to commit: {error}",
                batch.len()
            );
        }
        for task in batch.drain(..) {
            task.complete(committed.as_ref().map(|_| ()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{self, Receiver, Sender};
    use std::sync::{Arc, Mutex};

    use super::*;

    /// The order in which the writer ran the tasks, by name.
    type Log = Arc<Mutex<Vec<&'static str>>>;

    fn writer() -> Writer {
        let connection = Connection::open_in_memory().expect("an in-memory database");
        Writer::start(connection, 64, None).expect("the writer thread starts")
    }

    /// Queues a task that logs `name`.
    fn queue(
        writer: &Writer,
        log: &Log,
        priority: Priority,
        name: &'static str,
    ) -> oneshot::Receiver<Result<()>> {
        let log = Arc::clone(log);
        writer
            .submit(priority, move |_| {
                log.lock().expect("the log").push(name);
                Ok(())
            })
            .expect("the writer takes the task")
    }

    /// Queues a task that says when it starts, then holds the writer until `release` is sent
    /// to, then logs `name`.
    fn queue_held(
        writer: &Writer,
        log: &Log,
        priority: Priority,
        name: &'static str,
    ) -> (oneshot::Receiver<Result<()>>, Receiver<()>, Sender<()>) {
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let log = Arc::clone(log);
        let done = writer
            .submit(priority, move |_| {
                let _ = started_tx.send(());
                let _ = release_rx.recv();
                log.lock().expect("the log").push(name);
                Ok(())
            })
            .expect("the writer takes the task");
        (done, started, release)
    }

    fn wait(done: oneshot::Receiver<Result<()>>) {
        done.blocking_recv()
            .expect("the writer answers")
            .expect("the task commits");
    }

    #[test]
    fn an_interactive_write_goes_ahead_of_background_work_queued_before_it() {
        let writer = writer();
        let log = Log::default();
        let (first, started, release) = queue_held(&writer, &log, Priority::Background, "claim");
        started.recv().expect("the first task starts");
        let second = queue(&writer, &log, Priority::Background, "results");
        let api = queue(&writer, &log, Priority::Interactive, "create job");
        release.send(()).expect("the first task waits");
        for done in [first, second, api] {
            wait(done);
        }
        assert_eq!(
            *log.lock().expect("the log"),
            ["claim", "create job", "results"]
        );
    }

    #[test]
    fn background_work_goes_next_after_an_interactive_transaction() {
        let writer = writer();
        let log = Log::default();
        let (claim, claim_started, release_claim) =
            queue_held(&writer, &log, Priority::Background, "claim");
        claim_started.recv().expect("the claim starts");
        let (create, create_started, release_create) =
            queue_held(&writer, &log, Priority::Interactive, "create 1");
        let results = queue(&writer, &log, Priority::Background, "results");
        release_claim.send(()).expect("the claim waits");
        create_started.recv().expect("the first creation starts");
        // Another API write while the first one is being written: the results go first.
        let create_again = queue(&writer, &log, Priority::Interactive, "create 2");
        release_create.send(()).expect("the creation waits");
        for done in [claim, create, results, create_again] {
            wait(done);
        }
        assert_eq!(
            *log.lock().expect("the log"),
            ["claim", "create 1", "results", "create 2"]
        );
    }

    #[test]
    fn writes_of_one_priority_run_in_their_order_inside_a_transaction() {
        let writer = writer();
        let log = Log::default();
        let (held, started, release) = queue_held(&writer, &log, Priority::Interactive, "held");
        started.recv().expect("the held task starts");
        let transactions = Arc::new(Mutex::new(Vec::new()));
        let mut done = Vec::new();
        for name in ["a", "b", "c"] {
            let log = Arc::clone(&log);
            let transactions = Arc::clone(&transactions);
            done.push(
                writer
                    .submit(Priority::Background, move |connection: &Connection| {
                        log.lock().expect("the log").push(name);
                        // Not in autocommit mode: inside the batch's transaction.
                        transactions
                            .lock()
                            .expect("the transactions")
                            .push(connection.is_autocommit());
                        Ok(())
                    })
                    .expect("the writer takes the task"),
            );
        }
        release.send(()).expect("the held task waits");
        wait(held);
        for done in done {
            wait(done);
        }
        assert_eq!(*log.lock().expect("the log"), ["held", "a", "b", "c"]);
        assert_eq!(*transactions.lock().expect("the transactions"), [false; 3]);
    }

    #[test]
    fn a_write_that_panics_fails_alone_and_the_writer_goes_on() {
        let writer = writer();
        let setup = writer
            .submit(Priority::Background, |connection: &Connection| {
                connection
                    .execute_batch("CREATE TABLE t (x INTEGER)")
                    .map_err(|error| failure::sqlite("creating a table", error))
            })
            .expect("the writer takes the task");
        wait(setup);
        let panicking = writer
            .submit(
                Priority::Background,
                |connection: &Connection| -> Result<()> {
                    connection
                        .execute_batch("INSERT INTO t VALUES (1)")
                        .expect("an insert");
                    panic!("a bug in a write");
                },
            )
            .expect("the writer takes the task");
        let error = panicking
            .blocking_recv()
            .expect("the writer answers")
            .expect_err("the panicking write fails");
        assert!(
            error.to_string().contains("a bug in a write"),
            "the panic's message is reported: {error}"
        );
        // Later writes still commit, and the panicking one's insert was rolled back.
        let count = Arc::new(Mutex::new(None));
        let seen = Arc::clone(&count);
        let after = writer
            .submit(Priority::Interactive, move |connection: &Connection| {
                let rows: i64 = connection
                    .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
                    .map_err(|error| failure::sqlite("counting", error))?;
                *seen.lock().expect("the count") = Some(rows);
                Ok(())
            })
            .expect("the writer takes the task");
        wait(after);
        assert_eq!(*count.lock().expect("the count"), Some(0));
    }
}
