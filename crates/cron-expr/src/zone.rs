//! Fire times in a time zone with daylight-saving transitions.
//!
//! The schedule matches local wall-clock time. Walking local time forward and mapping each
//! matching local time to an instant gives the fire times, with two wrinkles at transitions:
//!
//! - A local time in a spring-forward gap does not exist. It fires once, at the transition
//!   instant (the first instant after the gap); several gap times collapse into that instant.
//! - A local time in a fall-back fold exists twice. It fires at its first occurrence only.
//!
//! A schedule whose hour field is exactly `*` instead fires at every real instant whose
//! wall-clock time matches: both occurrences in a fold and nothing for gap times, as ISC cron
//! treats wildcard jobs. Without the exception an hourly job would skip an hour in the fold.
//!
//! Under the first two rules the instant of a local time, `earliest(L)`, never decreases as `L`
//! grows, so the next fire time is `earliest(L)` for the first matching `L` past the start with
//! `earliest(L) > t`. The loops below skip over a whole gap or fold at once, so they run a
//! handful of passes even for an every-second schedule.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};

use crate::calendar::Civil;
use crate::schedule::Fields;

/// Passes allowed before giving up; each pass consumes one transition, and no real zone has
/// more than a few transitions between two fire times of a schedule that fires at all.
const MAX_PASSES: usize = 1_000;

/// The smallest fire time after the whole second `after` (seconds since the epoch).
pub(crate) fn next_after(fields: &Fields, after: i64, tz: &TimeZone) -> Option<i64> {
    let hour_is_wildcard = fields.hour_is_wildcard();
    // Local times are searched strictly after this one.
    let mut after_local = local_seconds(after, tz);
    if hour_is_wildcard
        && let Some(fold) = Fold::around(after, tz).filter(|fold| !fold.in_second_occurrence)
    {
        // `after` is in the first occurrence of a fold: the fold's later first occurrences
        // come next, then the second occurrences of all its local times, from its start.
        let first = fields.next_at_or_after(after_local + 1);
        if let Some(local) = first.filter(|&local| local < fold.local_end) {
            return Some(local - fold.before);
        }
        let second = fields.next_at_or_after(fold.local_start);
        if let Some(local) = second.filter(|&local| local < fold.local_end) {
            return Some(local - fold.after);
        }
        after_local = fold.local_end - 1;
    }
    for _ in 0..MAX_PASSES {
        let local_seconds = fields.next_at_or_after(after_local.checked_add(1)?)?;
        match resolve(local_seconds, tz)? {
            AmbiguousOffset::Unambiguous { offset } => {
                let instant = local_seconds - i64::from(offset.seconds());
                if instant > after {
                    return Some(instant);
                }
                after_local = local_seconds;
            }
            AmbiguousOffset::Gap {
                before,
                after: offset_after,
            } => {
                // The transition lies in (local - after, local - before].
                let transition =
                    transition_before(local_seconds - i64::from(before.seconds()) + 1, tz)?;
                if !hour_is_wildcard && transition > after {
                    return Some(transition);
                }
                // Skip the rest of the gap: continue from the last local time before it ends.
                after_local = transition + i64::from(offset_after.seconds()) - 1;
            }
            AmbiguousOffset::Fold {
                before,
                after: offset_after,
            } => {
                let first = local_seconds - i64::from(before.seconds());
                let second = local_seconds - i64::from(offset_after.seconds());
                if first > after {
                    return Some(first);
                }
                if hour_is_wildcard {
                    if second > after {
                        return Some(second);
                    }
                    after_local = local_seconds;
                } else {
                    // Every first occurrence in this fold is at or before `after`: skip to the
                    // last local time of the fold.
                    let transition = transition_before(second + 1, tz)?;
                    after_local = (transition + i64::from(before.seconds()) - 1).max(local_seconds);
                }
            }
        }
    }
    None
}

/// The largest fire time at or before the whole second `at_most`.
pub(crate) fn prev_at_or_before(fields: &Fields, at_most: i64, tz: &TimeZone) -> Option<i64> {
    let hour_is_wildcard = fields.hour_is_wildcard();
    let mut at_most_local = local_seconds(at_most, tz);
    if let Some(fold) = Fold::around(at_most, tz).filter(|fold| fold.in_second_occurrence) {
        // `at_most` is in the second occurrence of a fold. Every first occurrence in the fold
        // came before it, also those later in local time than `at_most`.
        if hour_is_wildcard {
            // Second occurrences up to `at_most` come first, then the fold's first occurrences.
            if let Some(local) = fields.prev_at_or_before(at_most_local)
                && local >= fold.local_start
            {
                return Some(local - fold.after);
            }
        }
        at_most_local = fold.local_end - 1;
    }
    for _ in 0..MAX_PASSES {
        let local_seconds = fields.prev_at_or_before(at_most_local)?;
        match resolve(local_seconds, tz)? {
            AmbiguousOffset::Unambiguous { offset } => {
                let instant = local_seconds - i64::from(offset.seconds());
                if instant <= at_most {
                    return Some(instant);
                }
                at_most_local = local_seconds - 1;
            }
            AmbiguousOffset::Gap { before, .. } => {
                let transition =
                    transition_before(local_seconds - i64::from(before.seconds()) + 1, tz)?;
                if !hour_is_wildcard && transition <= at_most {
                    return Some(transition);
                }
                // Skip the rest of the gap: continue from the last local time before it starts.
                at_most_local = transition + i64::from(before.seconds()) - 1;
            }
            AmbiguousOffset::Fold { before, after } => {
                let first = local_seconds - i64::from(before.seconds());
                let second = local_seconds - i64::from(after.seconds());
                if hour_is_wildcard && second <= at_most {
                    return Some(second);
                }
                if first <= at_most {
                    return Some(first);
                }
                at_most_local = local_seconds - 1;
            }
        }
    }
    None
}

/// A fall-back fold around an instant: the local times `local_start..local_end` occur twice,
/// first with offset `before`, then (from the transition on) with offset `after`.
struct Fold {
    local_start: i64,
    local_end: i64,
    before: i64,
    after: i64,
    in_second_occurrence: bool,
}

impl Fold {
    /// The fold whose local times include the wall-clock time of `instant`, if any.
    fn around(instant: i64, tz: &TimeZone) -> Option<Fold> {
        let timestamp = Timestamp::from_second(instant).ok()?;
        let offset = tz.to_offset(timestamp);
        let local = instant + i64::from(offset.seconds());
        let AmbiguousOffset::Fold { before, after } = resolve(local, tz)? else {
            return None;
        };
        let in_second_occurrence = offset == after;
        let transition = if in_second_occurrence {
            transition_before(instant + 1, tz)?
        } else {
            tz.following(timestamp).next()?.timestamp().as_second()
        };
        let (before, after) = (i64::from(before.seconds()), i64::from(after.seconds()));
        Some(Fold {
            local_start: transition + after,
            local_end: transition + before,
            before,
            after,
            in_second_occurrence,
        })
    }
}

/// Wall-clock seconds (as if UTC) of an instant in a zone.
fn local_seconds(instant: i64, tz: &TimeZone) -> i64 {
    let offset = match Timestamp::from_second(instant) {
        Ok(timestamp) => tz.to_offset(timestamp),
        Err(_) => Offset::UTC,
    };
    instant + i64::from(offset.seconds())
}

/// How a local time maps to instants in a zone; `None` outside jiff's supported range.
fn resolve(local_seconds: i64, tz: &TimeZone) -> Option<AmbiguousOffset> {
    let local = Civil::from_epoch_seconds(local_seconds);
    let datetime = DateTime::new(
        i16::try_from(local.year).ok()?,
        local.month as i8,
        local.day as i8,
        local.hour as i8,
        local.minute as i8,
        local.second as i8,
        0,
    )
    .ok()?;
    Some(tz.to_ambiguous_timestamp(datetime).offset())
}

/// The instant of the last transition strictly before `instant`.
fn transition_before(instant: i64, tz: &TimeZone) -> Option<i64> {
    let timestamp = Timestamp::from_second(instant).ok()?;
    tz.preceding(timestamp)
        .next()
        .map(|transition| transition.timestamp().as_second())
}
