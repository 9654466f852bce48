//! Panics caught where they would otherwise end one of the engine's tasks in silence.
//!
//! [`StoreCall`] runs one store call of the writer or of the heartbeat: a panic in the store
//! (while the call is made, or while its future is polled) becomes a failed call, logged at
//! ERROR with what was being written, so the writer keeps its updates and tries them again like
//! after any store error, and the heartbeat fails (showing in the store status) until the next
//! one succeeds. [`Reported`] wraps a whole task: a panic that escapes it is logged at ERROR before
//! the task ends, and the health check's engine ping reports the task gone.
//!
//! Both cost nothing while nothing panics: [`std::panic::catch_unwind`] around a poll is a plain
//! call on that path, with no allocation and no lock.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{Error, Result, StoreErrorKind};
use crate::store::BoxFuture;

/// One store call whose panic is a failed call; see the module documentation. Like any future,
/// it must not be polled again once it has completed (it panics if it is).
pub(crate) struct StoreCall<'a, T, D> {
    /// The call, or the error it panicked with before it returned a future.
    call: Option<std::result::Result<BoxFuture<'a, Result<T>>, Error>>,
    /// What is being written, said only when the call panics.
    describe: Option<D>,
}

impl<'a, T, D> StoreCall<'a, T, D>
where
    D: FnOnce() -> String,
{
    /// Makes the call with `make`; `describe` says what it writes, for the log, if it panics.
    pub(crate) fn new(describe: D, make: impl FnOnce() -> BoxFuture<'a, Result<T>>) -> Self {
        let mut describe = Some(describe);
        let call = match catch_unwind(AssertUnwindSafe(make)) {
            Ok(call) => Ok(call),
            Err(panic) => Err(panicked(describe.take(), panic.as_ref())),
        };
        StoreCall {
            call: Some(call),
            describe,
        }
    }
}

impl<T, D> Future for StoreCall<'_, T, D>
where
    D: FnOnce() -> String + Unpin,
{
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = &mut *self;
        let outcome = match this.call.as_mut() {
            None => panic!("a store call polled after it completed"),
            Some(Err(_)) => None,
            Some(Ok(call)) => match catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(result)) => Some(result),
                Err(panic) => Some(Err(panicked(this.describe.take(), panic.as_ref()))),
            },
        };
        // The call is dropped here, a panicked one included: it is never polled again.
        let call = this.call.take();
        Poll::Ready(match (outcome, call) {
            (Some(result), _) => result,
            (None, Some(Err(error))) => Err(error),
            (None, _) => unreachable!("a call that did not panic has an outcome"),
        })
    }
}

/// A task whose panic is logged before it ends; see the module documentation.
pub(crate) struct Reported<F> {
    /// The task's name in the log, e.g. `writer`.
    name: &'static str,
    task: Pin<Box<F>>,
}

impl<F: Future<Output = ()>> Reported<F> {
    /// `task`, reported as the engine's `name` task if it panics.
    pub(crate) fn new(name: &'static str, task: F) -> Reported<F> {
        Reported {
            name,
            task: Box::pin(task),
        }
    }
}

impl<F: Future<Output = ()>> Future for Reported<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let task = &mut self.task;
        match catch_unwind(AssertUnwindSafe(|| task.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(panic) => {
                log::error!(
                    "the engine's {} task panicked and has stopped: {}; the health check reports \
                     the engine down (restart the server)",
                    self.name,
                    panic_message(panic.as_ref())
                );
                Poll::Ready(())
            }
        }
    }
}

/// The error a store call that panicked fails with, logged with what it was writing.
fn panicked<D: FnOnce() -> String>(describe: Option<D>, panic: &(dyn Any + Send)) -> Error {
    let message = panic_message(panic);
    let what = describe.map_or_else(|| "a store call".to_owned(), |describe| describe());
    log::error!(
        "the store panicked while {what}: {message}; the call counts as failed, and what it \
         was writing is kept and tried again"
    );
    Error::Store {
        kind: StoreErrorKind::Permanent,
        message: format!("the store panicked: {message}"),
        source: None,
    }
}

/// The message a panic carried, if it was a string.
fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        "(no message)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe() -> String {
        "writing a test batch".to_owned()
    }

    #[tokio::test]
    async fn a_call_that_panics_before_it_returns_fails_with_the_message() {
        let call: StoreCall<'_, (), _> = StoreCall::new(describe, || panic!("made to panic"));
        let error = call.await.expect_err("a panic is a failed call");
        assert!(
            error
                .to_string()
                .contains("the store panicked: made to panic"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_call_whose_future_panics_fails_with_the_message() {
        let call = StoreCall::new(describe, || -> BoxFuture<'static, Result<u8>> {
            Box::pin(async {
                tokio::task::yield_now().await;
                panic!("polled into a panic")
            })
        });
        let error = call.await.expect_err("a panic is a failed call");
        assert!(error.to_string().contains("polled into a panic"), "{error}");
    }

    #[tokio::test]
    async fn a_call_that_does_not_panic_returns_its_result() {
        let call = StoreCall::new(describe, || -> BoxFuture<'static, Result<u8>> {
            Box::pin(async { Ok(7) })
        });
        assert_eq!(call.await.expect("no panic"), 7);
    }

    #[tokio::test]
    async fn a_task_that_panics_ends_without_taking_its_runtime_down() {
        let task = tokio::spawn(Reported::new("test", async {
            tokio::task::yield_now().await;
            panic!("a task panic");
        }));
        // The panic was caught inside the task: it ends normally, not with a JoinError.
        task.await.expect("the task ends without a panic escaping");
    }
}
