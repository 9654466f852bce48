//! The fresh-attempt limit: at most `max_fresh_attempts` attempts in flight that started less
//! than `fresh_window` ago.
//!
//! Against fast targets an attempt is CPU work until it is answered; one still unanswered after
//! the window is waiting on its target, costs no CPU, and stops counting here (it still counts
//! against `max_in_flight`).

use std::collections::VecDeque;
use std::time::Duration;

use cron_expr::Timestamp;
use foldhash::HashSet;
use tokio::task::Id as TaskId;

use crate::time;

/// Which attempts in flight are fresh, and when each stops being so.
pub(super) struct FreshLimiter {
    /// How long an attempt counts as fresh; zero turns the limit off.
    window: Duration,
    /// The most fresh attempts at once.
    max: usize,
    /// The attempts in flight that are still fresh.
    fresh: HashSet<TaskId>,
    /// The start of every attempt not yet aged, oldest first (finished ones included: aging
    /// skips them).
    starts: VecDeque<(Timestamp, TaskId)>,
}

impl FreshLimiter {
    pub(super) fn new(window: Duration, max: usize) -> FreshLimiter {
        FreshLimiter {
            window,
            max,
            fresh: HashSet::default(),
            starts: VecDeque::new(),
        }
    }

    /// Whether another attempt may start now.
    pub(super) fn has_room(&self) -> bool {
        self.fresh.len() < self.max
    }

    /// Counts an attempt that started at `now` (with no window, no attempt is ever fresh).
    pub(super) fn started(&mut self, now: Timestamp, task: TaskId) {
        if !self.window.is_zero() {
            self.fresh.insert(task);
            self.starts.push_back((now, task));
        }
    }

    /// Stops counting a finished attempt.
    pub(super) fn finished(&mut self, task: TaskId) {
        self.fresh.remove(&task);
        if self.fresh.is_empty() {
            // Every start left is of a finished attempt.
            self.starts.clear();
        }
    }

    /// Attempts started `window` or longer before `now` stop counting as fresh: they wait on
    /// their targets, which costs memory (bounded by `max_in_flight`) but no CPU.
    pub(super) fn age(&mut self, now: Timestamp) {
        while let Some(&(started, task)) = self.starts.front() {
            if time::add(started, self.window) > now {
                break;
            }
            self.starts.pop_front();
            self.fresh.remove(&task);
        }
    }

    /// When the oldest fresh attempt ages, if the limit is reached (else nothing waits for it).
    pub(super) fn next_aging(&self) -> Option<Timestamp> {
        if self.has_room() {
            return None;
        }
        self.starts
            .front()
            .map(|&(started, _)| time::add(started, self.window))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: i64) -> Timestamp {
        Timestamp::from_millisecond(millis).expect("a valid timestamp")
    }

    /// Task ids come only from tokio tasks.
    async fn task_ids(n: usize) -> Vec<TaskId> {
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let handle = tokio::spawn(async {});
            ids.push(handle.id());
            let _ = handle.await;
        }
        ids
    }

    #[tokio::test]
    async fn attempts_stop_counting_once_aged_or_finished() {
        let ids = task_ids(3).await;
        let mut limiter = FreshLimiter::new(Duration::from_millis(5), 2);
        limiter.started(at(0), ids[0]);
        limiter.started(at(1), ids[1]);
        assert!(!limiter.has_room());
        assert_eq!(limiter.next_aging(), Some(at(5)));
        limiter.age(at(4));
        assert!(!limiter.has_room());
        limiter.age(at(5));
        assert!(limiter.has_room());
        assert_eq!(limiter.next_aging(), None);
        limiter.started(at(5), ids[2]);
        assert!(!limiter.has_room());
        limiter.finished(ids[2]);
        assert!(limiter.has_room());
    }

    #[tokio::test]
    async fn a_zero_window_turns_the_limit_off() {
        let ids = task_ids(2).await;
        let mut limiter = FreshLimiter::new(Duration::ZERO, 1);
        limiter.started(at(0), ids[0]);
        limiter.started(at(0), ids[1]);
        assert!(limiter.has_room());
        assert_eq!(limiter.next_aging(), None);
    }
}
