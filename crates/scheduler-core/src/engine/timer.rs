//! The dispatcher's timer: what waits for an instant, earliest first, and in the order it was
//! scheduled within one instant.
//!
//! Cron ticks bunch on few instants, so the timer keeps one queue per instant rather than a
//! heap of entries: an entry moves once when scheduled and once when fired
//! (docs/perf-log/round-10.md).

use std::collections::{BTreeMap, VecDeque};

use cron_expr::Timestamp;

/// Entries by instant.
pub(super) struct Timer<T> {
    slots: BTreeMap<Timestamp, VecDeque<T>>,
    len: usize,
    /// The largest emptied queue, kept for the next instant so that a burst's queue is
    /// allocated once rather than at every burst. It keeps the room of the largest burst so
    /// far, which the engine's backlog bounds (about 200 bytes per held execution).
    spare: Option<VecDeque<T>>,
}

impl<T> Default for Timer<T> {
    fn default() -> Self {
        Timer {
            slots: BTreeMap::new(),
            len: 0,
            spare: None,
        }
    }
}

impl<T> Timer<T> {
    /// Schedules `entry` at `at`, after every entry already scheduled at `at`.
    pub(super) fn push(&mut self, at: Timestamp, entry: T) {
        self.slots
            .entry(at)
            .or_insert_with(|| self.spare.take().unwrap_or_default())
            .push_back(entry);
        self.len += 1;
    }

    /// The earliest instant with an entry.
    pub(super) fn next_at(&self) -> Option<Timestamp> {
        self.slots.keys().next().copied()
    }

    /// The earliest entry, if it is due at `now`.
    pub(super) fn pop_due(&mut self, now: Timestamp) -> Option<T> {
        let mut first = self.slots.first_entry()?;
        if *first.key() > now {
            return None;
        }
        let entry = first.get_mut().pop_front();
        if first.get().is_empty() {
            let emptied = first.remove();
            if self
                .spare
                .as_ref()
                .is_none_or(|spare| spare.capacity() < emptied.capacity())
            {
                self.spare = Some(emptied);
            }
        }
        self.len -= usize::from(entry.is_some());
        entry
    }

    /// How many entries wait.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Every entry, earliest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.values().flatten()
    }

    /// Removes the entries for which `remove` is true and returns them, earliest first.
    pub(super) fn remove_if(&mut self, mut remove: impl FnMut(&T) -> bool) -> Vec<T> {
        let mut removed = Vec::new();
        self.slots.retain(|_, queue| {
            let mut kept = VecDeque::with_capacity(queue.len());
            for entry in queue.drain(..) {
                if remove(&entry) {
                    removed.push(entry);
                } else {
                    kept.push_back(entry);
                }
            }
            *queue = kept;
            !queue.is_empty()
        });
        self.len -= removed.len();
        removed
    }

    /// Drops every entry.
    pub(super) fn clear(&mut self) {
        self.slots.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).expect("a timestamp")
    }

    #[test]
    fn entries_come_out_earliest_first_and_in_their_order_within_an_instant() {
        let mut timer = Timer::default();
        timer.push(at(2), "b1");
        timer.push(at(1), "a1");
        timer.push(at(2), "b2");
        timer.push(at(1), "a2");
        timer.push(at(3), "c1");
        assert_eq!(timer.len(), 5);
        assert_eq!(timer.next_at(), Some(at(1)));

        let mut fired = Vec::new();
        while let Some(entry) = timer.pop_due(at(2)) {
            fired.push(entry);
        }
        assert_eq!(fired, ["a1", "a2", "b1", "b2"]);
        assert_eq!(timer.len(), 1);
        assert_eq!(timer.next_at(), Some(at(3)));
    }

    #[test]
    fn nothing_is_due_before_its_instant() {
        let mut timer = Timer::default();
        timer.push(at(5), 1);
        assert_eq!(timer.pop_due(at(4)), None);
        assert_eq!(timer.len(), 1);
        assert_eq!(timer.pop_due(at(5)), Some(1));
        assert_eq!(timer.pop_due(at(5)), None);
        assert_eq!((timer.len(), timer.next_at()), (0, None));
    }

    #[test]
    fn an_instant_scheduled_again_after_it_emptied_keeps_the_order() {
        let mut timer = Timer::default();
        timer.push(at(1), 1);
        assert_eq!(timer.pop_due(at(1)), Some(1));
        // A retry or a recovered execution due at once lands on an instant already fired.
        timer.push(at(1), 2);
        timer.push(at(0), 3);
        timer.push(at(1), 4);
        assert_eq!(timer.pop_due(at(1)), Some(3));
        assert_eq!(timer.pop_due(at(1)), Some(2));
        assert_eq!(timer.pop_due(at(1)), Some(4));
        assert_eq!(timer.len(), 0);
    }

    #[test]
    fn remove_if_takes_out_the_matching_entries_and_keeps_the_order_of_the_rest() {
        let mut timer = Timer::default();
        for (second, entry) in [(1, 1), (1, 2), (2, 3), (3, 4), (3, 5)] {
            timer.push(at(second), entry);
        }
        assert_eq!(timer.remove_if(|entry| entry % 2 == 1), [1, 3, 5]);
        assert_eq!(timer.iter().copied().collect::<Vec<_>>(), [2, 4]);
        assert_eq!((timer.len(), timer.next_at()), (2, Some(at(1))));
        assert_eq!(timer.remove_if(|entry| *entry == 2), [2]);
        assert_eq!(timer.next_at(), Some(at(3)), "an emptied instant is gone");
    }

    #[test]
    fn clear_drops_everything() {
        let mut timer = Timer::default();
        timer.push(at(1), 1);
        timer.push(at(2), 2);
        timer.clear();
        assert_eq!(
            (timer.len(), timer.next_at(), timer.pop_due(at(9))),
            (0, None, None)
        );
    }
}
