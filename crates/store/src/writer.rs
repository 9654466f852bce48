//! The single writer: one thread owns the write connection and commits whatever work has
//! queued up in one transaction (group commit).
//!
//! Every write is a task sent over a channel. The thread takes the first task, then every task
//! already waiting (up to `max_batch`), runs each in its own savepoint inside one `BEGIN
//! IMMEDIATE` transaction, commits once, and only then completes the tasks' futures. A task that
//! fails rolls back its own savepoint and reports its error; the others still commit. So under
//! load a thousand executions cost one fsync, and a caller that was told "done" is durable.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use rusqlite::{Connection, TransactionBehavior};
use scheduler_core::{Error, Result};
use tokio::sync::oneshot;

/// A unit of work for the writer: runs against the open transaction, completes after commit.
trait WriteTask: Send {
    /// Runs the work inside a savepoint of the batch's transaction.
    fn run(&mut self, connection: &Connection);
    /// Completes the caller's future: with the work's result if the batch committed, with the
    /// commit's error if it did not.
    fn complete(self: Box<Self>, committed: Result<(), &rusqlite::Error>);
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
            Err(error) => Err(Error::store("starting a savepoint", error)),
            Ok(()) => {
                let result = work(connection);
                let end = if result.is_ok() {
                    "RELEASE task"
                } else {
                    "ROLLBACK TO task; RELEASE task"
                };
                match connection.execute_batch(end) {
                    Ok(()) => result,
                    Err(error) => Err(Error::store("ending a savepoint", error)),
                }
            }
        };
        self.result = Some(result);
    }

    fn complete(self: Box<Self>, committed: Result<(), &rusqlite::Error>) {
        let result = match (committed, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(Error::Store {
                message: "the write was not run".to_owned(),
                source: None,
            }),
            (Err(error), _) => Err(Error::Store {
                message: format!("committing a batch of writes: {error}"),
                source: None,
            }),
        };
        // The caller may have stopped waiting; that is fine.
        let _ = self.reply.send(result);
    }
}

/// The handle through which the store submits writes.
#[derive(Debug)]
pub(crate) struct Writer {
    sender: Option<Sender<Box<dyn WriteTask>>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread on `connection`.
    pub(crate) fn start(connection: Connection, max_batch: usize) -> std::io::Result<Writer> {
        let (sender, receiver) = channel::<Box<dyn WriteTask>>();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || run(connection, &receiver, max_batch.max(1)))?;
        Ok(Writer {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Queues `work` and waits for it to be committed.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T>
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
        let stopped = || Error::Store {
            message: "the database writer has stopped".to_owned(),
            source: None,
        };
        self.sender
            .as_ref()
            .ok_or_else(stopped)?
            .send(task)
            .map_err(|_| stopped())?;
        receiver.await.map_err(|_| stopped())?
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

fn run(mut connection: Connection, receiver: &Receiver<Box<dyn WriteTask>>, max_batch: usize) {
    let mut batch: Vec<Box<dyn WriteTask>> = Vec::with_capacity(max_batch);
    while let Ok(first) = receiver.recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match receiver.try_recv() {
                Ok(task) => batch.push(task),
                Err(_) => break,
            }
        }
        let committed = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
            Err(error) => Err(error),
            Ok(transaction) => {
                for task in &mut batch {
                    task.run(&transaction);
                }
                transaction.commit()
            }
        };
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
